#!/usr/bin/env bash
# Offline: while the control plane is down, 10,000 audit events are taken
# in and spooled; once it is back all of them arrive, in order, none lost,
# none invented, each with its own id. A spool too small for them keeps the
# newest and reports the rest in spool_overflow events that add up exactly.
# SIGTERM flushes and closes with a normal close frame.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/sync_lib.sh"

cp=$work/cp
state=$work/state
start_fixture "$cp"
ctl "$cp" '{"cmd":"stop"}' >/dev/null
LENS_TOKEN=x start_sync sync --url "ws://127.0.0.1:$port/" --state-dir "$state"
wait_for 10 test -S "$state/audit.sock" || fail "no audit socket"
emit "$state/audit.sock" 10000
if wait_for 20 spooled_at_least "$state" 10000; then
  pass "10000 events spooled while offline"
else
  fail "only $(cat "$state"/spool/seg-*.jsonl | wc -l) events in the spool"
fi
ctl "$cp" '{"cmd":"start"}' >/dev/null
if [[ $(field "$cp" '{"cmd":"wait_received","type":"audit_event","count":10000,"timeout":60}' ok) == True ]]; then
  pass "the spool was replayed"
else
  fail "replay incomplete: $(ctl "$cp" '{"cmd":"status"}')"
fi
# Live events after the replay come after it.
emit "$state/audit.sock" 100 10001
[[ $(field "$cp" '{"cmd":"wait_received","type":"audit_event","count":10100,"timeout":20}' ok) == True ]] ||
  fail "live events missing"
if out=$("$py" "$here/check_events.py" "$cp/received.jsonl" 10100); then pass "$out"; else fail "$out"; fi

kill -TERM "$sync_pid"
wait_exit "$sync_pid"
[[ $rc == 0 ]] && pass "SIGTERM: exit 0" || fail "SIGTERM: exit $rc"
wait_for 5 test ! -S "$state/audit.sock" || true
codes=$(field "$cp" '{"cmd":"status"}' close_codes)
[[ $codes == "[1000]" ]] && pass "closed with a normal close frame" || fail "close codes $codes"

# A small spool: the oldest events give way, and spool_overflow says how many.
cp2=$work/cp2
state2=$work/state2
start_fixture "$cp2"
ctl "$cp2" '{"cmd":"stop"}' >/dev/null
LENS_TOKEN=x start_sync small --url "ws://127.0.0.1:$port/" --state-dir "$state2" --spool-max 128K
wait_for 10 test -S "$state2/audit.sock" || fail "no audit socket"
emit "$state2/audit.sock" 5000
wait_for 10 grep -q "spool full" "$work/small.err" || fail "no overflow logged"
sleep 0.5
ctl "$cp2" '{"cmd":"start"}' >/dev/null
wait_for 30 grep -q '"action": "TEST 5000"' "$cp2/received.jsonl" || fail "the newest event did not arrive"
if out=$("$py" "$here/check_events.py" "$cp2/received.jsonl" 5000 --overflow); then pass "$out"; else fail "$out"; fi
grep -q '"reason":"spool_overflow"' "$cp2/received.jsonl" && pass "spool_overflow events were sent" || fail "no spool_overflow"
finish
