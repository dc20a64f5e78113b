#!/usr/bin/env bash
# Reconnects: after the server restarts, after a dropped connection and
# after a close frame lens-policy-sync comes back within the backoff bound;
# a connection that answers no ping counts as dead after --pong-timeout.
# Offline, the installed policy stays.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/sync_lib.sh"

cp=$work/cp
state=$work/state
start_fixture "$cp"
LENS_TOKEN=x start_sync sync --url "ws://127.0.0.1:$port/" --state-dir "$state" \
  --ping-interval 0.3 --pong-timeout 1.5
[[ $(field "$cp" '{"cmd":"wait_clients","count":1,"timeout":10}' ok) == True ]] || fail "no first connection"
ctl "$cp" '{"cmd":"push","frame":{"type":"policy","network":{"defaultVerdict":"deny","defaultTransport":"direct"}}}' >/dev/null
wait_for 5 test -s "$state/policy.json" || fail "no policy installed"
cp "$state/policy.json" "$work/installed.json"

# connected N SECONDS: the fixture has seen N connections within SECONDS.
connected() { wait_for "$2" status_at_least "$cp" connections "$1"; }

# The server goes away for a second and comes back on the same port.
ctl "$cp" '{"cmd":"stop"}' >/dev/null
sleep 1
cmp -s "$work/installed.json" "$state/policy.json" && pass "offline: the installed policy stays" || fail "policy.json changed offline"
ctl "$cp" '{"cmd":"start"}' >/dev/null
SECONDS=0
# Failed attempts so far waited at most 1 + 2 s; the next waits at most 4 s.
if connected 2 8; then pass "reconnected ${SECONDS}s after the server came back"; else fail "no reconnect after restart"; fi

ctl "$cp" '{"cmd":"drop"}' >/dev/null
if connected 3 10; then pass "reconnected after a dropped connection"; else fail "no reconnect after drop"; fi

ctl "$cp" '{"cmd":"close","code":1011}' >/dev/null
if connected 4 20; then pass "reconnected after a close frame"; else fail "no reconnect after close"; fi
grep -q "the control plane closed the connection (code 1011)" "$work/sync.err" && pass "the close code is logged" ||
  fail "close code not logged"

# No pong: the fixture stops reading; the client gives up after
# --pong-timeout. A fresh client, so its backoff starts at 1 s.
kill -TERM "$sync_pid"
wait_exit "$sync_pid"
LENS_TOKEN=x start_sync sync --url "ws://127.0.0.1:$port/" --state-dir "$state" \
  --ping-interval 0.3 --pong-timeout 1.5
connected 5 10 || fail "the fresh client did not connect"
ctl "$cp" '{"cmd":"freeze"}' >/dev/null
if connected 6 10; then
  pass "a connection without pongs counted as dead and replaced"
else
  fail "frozen connection not detected: $(tail -3 "$work/sync.err")"
fi
grep -q "no pong for 1\.[5-9] s; the connection counts as dead" "$work/sync.err" && pass "the dead connection is logged" ||
  fail "no 'no pong' line: $(grep -i pong "$work/sync.err" | tail -2)"
finish
