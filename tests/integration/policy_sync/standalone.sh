#!/usr/bin/env bash
# Standalone mode: --policy-file installs the policy once (atomically) and
# audit events go to stdout; an invalid file exits 3 and leaves the
# installed policy; --check reports without installing; SIGTERM exits 0.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/sync_lib.sh"

state=$work/state
mkdir -p "$state"
good=$source_dir/schemas/examples/default.json
printf '{"network": {"defaultVerdict": "allow", "defaultTransport": "sideways"}}\n' >"$work/bad.json"

rc=0
"$sync_bin" --policy-file "$good" --state-dir "$state" --check >"$work/check.out" 2>&1 || rc=$?
if [[ $rc == 0 ]] && grep -q "^policy: *$good: ok (version " "$work/check.out" && [[ ! -e $state/policy.json ]]; then
  pass "--check validates without installing"
else
  fail "--check: exit $rc: $(cat "$work/check.out")"
fi

start_sync alone --policy-file "$good" --state-dir "$state" --ready-file "$work/ready"
wait_for 10 test -e "$work/ready" || fail "not ready: $(cat "$work/alone.err")"
cmp -s "$good" "$state/policy.json" && pass "the policy file is installed as given" || fail "policy.json differs"
emit "$state/audit.sock" 3
printf 'garbage' | "$py" -c "import socket,sys; socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(sys.stdin.buffer.read(), '$state/audit.sock')"
wait_for 5 grep -q '"action": "TEST 3"' "$work/alone.out" || fail "events not on stdout"
kill -TERM "$sync_pid"
wait_exit "$sync_pid"
[[ $rc == 0 ]] && pass "SIGTERM: exit 0" || fail "SIGTERM: exit $rc"
if [[ $(grep -c '"source": "emitter"' "$work/alone.out") == 3 ]] && grep -q '"reason":"policy-applied"' "$work/alone.out" &&
  ! grep -q garbage "$work/alone.out"; then
  pass "audit events (and the policy-applied event) on stdout with ids; the malformed line dropped"
else
  fail "stdout: $(cat "$work/alone.out")"
fi
grep -q "1 malformed dropped" "$work/alone.err" && pass "the malformed line is counted" || fail "malformed not counted"

cp "$state/policy.json" "$work/before.json"
rc=0
"$sync_bin" --policy-file "$work/bad.json" --state-dir "$state" >"$work/bad.out" 2>"$work/bad.err" || rc=$?
if [[ $rc == 3 ]] && grep -q "bad.json:1:61: network.defaultTransport: unknown value \"sideways\"" "$work/bad.err"; then
  pass "an invalid policy file: exit 3 with the located error"
else
  fail "invalid policy file: exit $rc: $(cat "$work/bad.err")"
fi
cmp -s "$work/before.json" "$state/policy.json" && pass "the installed policy is left as it was" || fail "policy.json changed"

rc=0
"$sync_bin" --policy-file "$good" --url ws://127.0.0.1:1/ 2>"$work/both.err" || rc=$?
[[ $rc == 2 ]] && grep -q "give --url or --policy-file, not both" "$work/both.err" && pass "--url with --policy-file: exit 2" ||
  fail "both modes: exit $rc"
finish
