#!/usr/bin/env bash
# kill -9 of lens-policy-sync in the middle of forwarding, then a restart:
# every event it had taken in still arrives (duplicates allowed, with the
# same id; losses and invented events are not).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/sync_lib.sh"

cp=$work/cp
state=$work/state
count=10000
start_fixture "$cp"
LENS_TOKEN=x start_sync first --url "ws://127.0.0.1:$port/" --state-dir "$state"
[[ $(field "$cp" '{"cmd":"wait_clients","count":1,"timeout":10}' ok) == True ]] || fail "no connection"
# The server stops reading, so forwarding stalls once the socket buffers
# are full (events of 2 KB: 20 MB in all, more than the buffers hold),
# while lens-policy-sync takes in every event (they land in its spool).
ctl "$cp" '{"cmd":"freeze"}' >/dev/null
emit "$state/audit.sock" "$count" 1 2000
sleep 1  # the last datagrams the emitter queued are read within microseconds
kill -KILL "$sync_pid"
wait_exit "$sync_pid"
# What was written to the socket before the kill still reaches the server.
ctl "$cp" '{"cmd":"thaw"}' >/dev/null
no_clients() { test "$(field "$cp" '{"cmd":"status"}' clients)" -eq 0; }
wait_for 20 no_clients || fail "the killed connection did not end"
before=$(field "$cp" '{"cmd":"status"}' received)
if ((before < count)); then
  pass "killed mid-stream: $before of $count events had reached the server"
else
  fail "everything arrived before the kill ($before); the test proves nothing"
fi

LENS_TOKEN=x start_sync second --url "ws://127.0.0.1:$port/" --state-dir "$state"
if [[ $(field "$cp" "{\"cmd\":\"wait_received\",\"type\":\"audit_event\",\"count\":$count,\"timeout\":60}" ok) == True ]] &&
  wait_for 30 grep -q "\"action\": \"TEST $count\"" "$cp/received.jsonl"; then
  pass "the restarted lens-policy-sync sent the rest"
else
  fail "events missing after the restart: $(ctl "$cp" '{"cmd":"status"}')"
fi
sleep 0.5
if out=$("$py" "$here/check_events.py" "$cp/received.jsonl" "$count" --duplicates-ok); then pass "$out"; else fail "$out"; fi
finish
