#!/usr/bin/env bash
# Robust frame handling: garbage, oversized (over --max-frame) and binary
# frames are refused and counted without dropping the connection; unknown
# types are ignored; watch is answered with watch_result; decisions that
# answer no open approval are logged and counted.
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
                "frames_unknown_type": 1, "decisions_logged": 2, "decisions_forwarded": 0, "connections": 1}
        bad = {k: c.get(k) for k in want if c.get(k) != want[k]}
        print("watch_result counters %s" % ({k: c[k] for k in want} if not bad else bad))
        assert f["id"] == "w1" and "refused a binary frame of 1000 bytes" in f["output"], f
        sys.exit(1 if bad else 0)
sys.exit(1)
PY
pass "$(cat "$work/watch.txt")"
grep -q "refused a frame of 200000 bytes over --max-frame 65536" "$work/sync.err" && pass "the oversized frame is logged" ||
  fail "oversized frame not logged"
grep -q 'request_decision r1 (allow_once) answers nothing: no open approval has this id' "$work/sync.err" &&
  pass "a decision for no open approval is logged" || fail "the unmatched decision was not logged"
grep -q 'credential_decision c9 (deny) answers nothing' "$work/sync.err" &&
  pass "so is a credential_decision" || fail "the unmatched credential_decision was not logged"
finish
