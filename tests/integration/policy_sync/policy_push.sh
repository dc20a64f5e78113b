#!/usr/bin/env bash
# Policy frames: a valid one replaces policy.json atomically (a reader never
# sees a partial file), a daemon following the file (the reload helper test
# double) applies that version, --notify-pidfile pids get SIGHUP, and the
# reply is policy_applied with the content hash. An invalid one is answered
# policy_rejected with located errors and leaves the file untouched. A
# minProtocolDate newer than the build: policy_rejected, exit 4.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/sync_lib.sh"
probe=$LENS_BUILD_DIR/tests/lens_reload_probe
[[ -x $probe ]] || skip "lens_reload_probe is not built"

cp=$work/cp
state=$work/state
mkdir -p "$state"
start_fixture "$cp" --token "t0k3n-$$"
printf 't0k3n-%s\n' $$ >"$work/token"
chmod 600 "$work/token"

# A daemon following the policy file, and a process that counts SIGHUPs.
"$probe" "$state/policy.json" >"$work/probe.out" 2>"$work/probe.err" &
started_pids+=($!)
bash -c 'trap "echo hup >>'"$work"'/hups" HUP; echo $$ >'"$work"'/hup.pid; while :; do sleep 0.05; done' &
started_pids+=($!)
wait_for 5 test -s "$work/hup.pid" || fail "the SIGHUP counter did not start"

start_sync sync --url "ws://127.0.0.1:$port/v1/sync" --token-file "$work/token" --state-dir "$state" \
  --notify-pidfile "$work/hup.pid" --ready-file "$state/ready"
[[ $(field "$cp" '{"cmd":"wait_clients","count":1,"timeout":10}' ok) == True ]] || fail "no connection"
if grep -q "t0k3n-$$" "$work/sync.err"; then fail "the token appears in the log"; else pass "the token is not logged"; fi

# A reader that must only ever see complete policies.
"$py" - "$state/policy.json" "$work/reader.out" <<'PY' &
import json, os, sys, time
path, out = sys.argv[1], sys.argv[2]
seen, partial, reads = set(), 0, 0
deadline = time.time() + 30
while time.time() < deadline and not os.path.exists(out + ".stop"):
    try:
        text = open(path).read()
    except FileNotFoundError:
        continue
    reads += 1
    try:
        seen.add(json.loads(text)["network"]["egress"]["http"][0]["match"])
    except (ValueError, KeyError, IndexError, TypeError):
        partial += 1
with open(out, "w") as f:
    json.dump({"reads": reads, "partial": partial, "distinct": len(seen)}, f)
PY
reader=$!
started_pids+=($reader)

policy() { # policy N: a valid policy frame whose first rule names host N (with padding, so writes take time)
  "$py" -c "
import json
rules = [{'match': 'h$1.example', 'verdict': 'allow', 'transport': 'direct'}]
rules += [{'match': 'pad%d.example' % i, 'verdict': 'deny', 'transport': 'upstream'} for i in range(200)]
print(json.dumps({'type': 'policy', 'proxyUpstream': 'http://upstream.example:3128',
                  'network': {'defaultVerdict': 'deny', 'defaultTransport': 'upstream', 'egress': {'http': rules}}}))"
}
for i in $(seq 1 20); do
  ctl "$cp" "{\"cmd\":\"push\",\"frame\":$(policy "$i")}" >/dev/null
done
[[ $(field "$cp" '{"cmd":"wait_received","type":"policy_applied","count":20,"timeout":20}' ok) == True ]] ||
  fail "not every policy was acknowledged"
touch "$work/reader.out.stop"
wait "$reader" || true
if "$py" -c "import json,sys; r=json.load(open('$work/reader.out')); sys.exit(0 if r['partial']==0 and r['reads']>0 else 1)"; then
  pass "a reader saw only complete files ($(cat "$work/reader.out"))"
else
  fail "a reader saw a partial policy file: $(cat "$work/reader.out")"
fi

version=$("$py" -c "import hashlib; print(hashlib.sha256(open('$state/policy.json','rb').read()).hexdigest())")
last=$(grep '"policy_applied"' "$cp/received.jsonl" | tail -1)
if [[ $last == "{\"type\":\"policy_applied\",\"version\":\"$version\"}" ]]; then
  pass "policy_applied carries the content hash of policy.json"
else
  fail "policy_applied $last does not match sha256 $version"
fi
if grep -q '"proxyUpstream": "http://upstream.example:3128"' "$state/policy.json"; then
  pass "transport fields are kept in policy.json"
else
  fail "proxyUpstream missing from policy.json"
fi
[[ $(stat -c %a "$state/policy.json") == 600 ]] && pass "policy.json is mode 0600" || fail "policy.json mode $(stat -c %a "$state/policy.json")"
if wait_for 10 grep -q "\"policy_version\":\"$version\"" "$work/probe.out"; then
  pass "the daemon following policy.json applied version ${version:0:12}"
else
  fail "the reload probe did not apply $version: $(tail -3 "$work/probe.out")"
fi
if wait_for 5 test -s "$work/hups"; then
  pass "--notify-pidfile: SIGHUP delivered ($(wc -l <"$work/hups") times for 20 policies)"
else
  fail "no SIGHUP reached the --notify-pidfile process"
fi
if wait_for 5 test -s "$state/ready" && grep -q "^lens-policy-sync: ready (policy " "$work/sync.err"; then
  pass "readiness: stderr line and --ready-file"
else
  fail "no readiness announcement"
fi

# An invalid policy: rejected with located errors, file untouched.
cp "$state/policy.json" "$work/before.json"
ctl "$cp" '{"cmd":"push","frame":{"type":"policy","network":{"defaultVerdict":"alow","defaultTransport":"upstream"}}}' >/dev/null
[[ $(field "$cp" '{"cmd":"wait_received","type":"policy_rejected","count":1,"timeout":10}' ok) == True ]] ||
  fail "no policy_rejected"
rejected=$(grep '"policy_rejected"' "$cp/received.jsonl" | tail -1)
if [[ $rejected == *'"errors":["policy frame:1:50: network.defaultVerdict: unknown value \"alow\" (expected allow, deny or ask); did you mean \"allow\"?"]'* ]]; then
  pass "policy_rejected names the error and its location"
else
  fail "unexpected policy_rejected: $rejected"
fi
cmp -s "$work/before.json" "$state/policy.json" && pass "the last good policy.json is untouched" || fail "policy.json changed"
if grep -q '"reason":"policy-rejected"' "$cp/received.jsonl"; then
  pass "the rejection is also reported as an audit_event"
else
  fail "no policy-rejected audit_event"
fi

# A policy for a newer protocol: refused, reported, exit 4 for a recycle.
ctl "$cp" '{"cmd":"push","frame":{"type":"policy","minProtocolDate":"2999-01-01"}}' >/dev/null
wait_exit "$sync_pid"
if [[ $rc == 4 ]] && grep -q "newer protocol" "$work/sync.err"; then
  pass "minProtocolDate 2999-01-01: exit 4 ($(tail -1 "$work/sync.err"))"
else
  fail "minProtocolDate: exit $rc, stderr: $(tail -3 "$work/sync.err")"
fi
if grep '"policy_rejected"' "$cp/received.jsonl" | tail -1 | grep -q 'must be recycled'; then
  pass "the newer-protocol policy was answered policy_rejected"
else
  fail "no policy_rejected for the newer protocol"
fi
cmp -s "$work/before.json" "$state/policy.json" && pass "policy.json untouched by the refused policy" || fail "policy.json changed"
finish
