#!/usr/bin/env bash
# Robust frame handling: garbage, oversized (over --max-frame) and binary
# frames are refused and counted without dropping the connection; unknown
# types are ignored; watch is answered with watch_result; decisions go to
# the decision socket or are logged when nobody listens.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/sync_lib.sh"

cp=$work/cp
state=$work/state
start_fixture "$cp"
LENS_TOKEN=x start_sync sync --url "ws://127.0.0.1:$port/" --state-dir "$state" --max-frame 64K
[[ $(field "$cp" '{"cmd":"wait_clients","count":1,"timeout":10}' ok) == True ]] || fail "no connection"

ctl "$cp" '{"cmd":"push_big","size":200000}' >/dev/null
ctl "$cp" '{"cmd":"push_text","text":"this is not json"}' >/dev/null
ctl "$cp" '{"cmd":"push_text","text":"{\"type\":\"watch\"}"}' >/dev/null
ctl "$cp" '{"cmd":"push_binary","size":1000}' >/dev/null
ctl "$cp" '{"cmd":"push","frame":{"type":"exec_attach","id":"e1"}}' >/dev/null
ctl "$cp" '{"cmd":"push","frame":{"type":"request_decision","id":"r1","decision":"allow_once"}}' >/dev/null
# A decision listener for the second decision.
"$py" - "$state/decision.sock" "$work/decision.out" <<'PY' &
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(15)
open(sys.argv[2] + ".ready", "w").close()
data = s.recv(65536)
open(sys.argv[2], "wb").write(data)
PY
started_pids+=($!)
wait_for 5 test -e "$work/decision.out.ready" || fail "the decision listener did not start"
ctl "$cp" '{"cmd":"push","frame":{"type":"credential_decision","id":"c9","decision":"deny"}}' >/dev/null
ctl "$cp" '{"cmd":"push","frame":{"type":"policy","network":{"defaultVerdict":"deny","defaultTransport":"direct"}}}' >/dev/null
[[ $(field "$cp" '{"cmd":"wait_received","type":"policy_applied","count":1,"timeout":10}' ok) == True ]] &&
  pass "a policy is still applied after the bad frames" || fail "no policy_applied after the bad frames"
ctl "$cp" '{"cmd":"push","frame":{"type":"watch","id":"w1","waitMs":100}}' >/dev/null
[[ $(field "$cp" '{"cmd":"wait_received","type":"watch_result","count":1,"timeout":10}' ok) == True ]] ||
  fail "no watch_result"
[[ $(field "$cp" '{"cmd":"status"}' connections) == 1 ]] && pass "one connection throughout" || fail "the connection was dropped"

"$py" - "$cp/received.jsonl" <<'PY' >"$work/watch.txt" || fail "watch_result: $(cat "$work/watch.txt")"
import json, sys
for line in open(sys.argv[1]):
    f = json.loads(line)
    if f.get("type") == "watch_result":
        c = f["counters"]
        want = {"frames_refused_oversized": 1, "frames_refused_malformed": 2, "frames_refused_binary": 1,
                "frames_unknown_type": 1, "decisions_logged": 1, "decisions_forwarded": 1, "connections": 1}
        bad = {k: c.get(k) for k in want if c.get(k) != want[k]}
        print("watch_result counters %s" % ({k: c[k] for k in want} if not bad else bad))
        assert f["id"] == "w1" and "refused a binary frame of 1000 bytes" in f["output"], f
        sys.exit(1 if bad else 0)
sys.exit(1)
PY
pass "$(cat "$work/watch.txt")"
grep -q "refused a frame of 200000 bytes over --max-frame 65536" "$work/sync.err" && pass "the oversized frame is logged" ||
  fail "oversized frame not logged"
grep -q 'request_decision r1 (allow_once) received; no decision listener' "$work/sync.err" &&
  pass "a decision with no listener is logged" || fail "the unheard decision was not logged"
if [[ $(cat "$work/decision.out" 2>/dev/null) == '{"type":"credential_decision","id":"c9","decision":"deny"}' ]]; then
  pass "credential_decision passed to the decision socket"
else
  fail "decision socket got: $(cat "$work/decision.out" 2>/dev/null)"
fi
finish
