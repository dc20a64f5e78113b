#!/usr/bin/env bash
# scripts/demo, the README's main-job command, runs to the end with every
# step as shown, and leaves no namespace, nftables table or process behind.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
[[ $(id -u) -eq 0 ]] || skip "the demo needs root (network namespaces, nftables)"
for need in dnsmasq dig curl openssl setpriv nft ip; do
  command -v "$need" >/dev/null || skip "the demo needs $need"
done
/usr/bin/python3 -c 'import websockets' 2>/dev/null || skip "the demo needs python3-websockets"
for tool in lens-schema lens-lockdown lens-dns lens-proxy lens-policy-sync; do
  [[ -x $bin_dir/$tool ]] || skip "$tool is not built"
done

# The demo's own traces only (other runs may leave theirs): its work
# directory under a TMPDIR of this test, its namespaces named by its pid.
demo_tmp=$(mktemp -d)
chmod 755 "$demo_tmp"  # the workload runs as another user under it
trap 'rm -rf "$demo_tmp"' EXIT
rc=0
LENS_BIN_DIR=$bin_dir TMPDIR=$demo_tmp "$source_dir/scripts/demo" >"$demo_tmp/output" 2>&1 &
demo_pid=$!
wait "$demo_pid" || rc=$?
out=$(cat "$demo_tmp/output")
echo "$out"
failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
[[ $rc -eq 0 ]] || fail "scripts/demo exited with $rc"
grep -q "demo: every step behaved as shown" <<<"$out" || fail "the demo did not finish with every step as shown"
steps=$(grep -c $'\e\[32mok\e\[0m' <<<"$out" || true)
[[ $steps -eq 13 ]] || fail "expected 13 steps ok, saw $steps"
grep -q "audit: lens-proxy GET http://ask.demo/approve-me -> success (user-allowed-once" <<<"$out" ||
  fail "no approved request shown"
grep -q "audit: lens-proxy GET http://other-ask.demo/ -> failure (user-denied-once" <<<"$out" ||
  fail "no denied ask shown"
grep -q "audit: lens-dns DNS denied.demo -> failure (dns-denied)" <<<"$out" || fail "no dns-denied audit event shown"
grep -q "audit: lens-proxy GET http://denied.demo/ -> failure (policy-deny" <<<"$out" || fail "no proxy deny audit event shown"
grep -q "audit: lens-tproxy TRANSPARENT 10.88.0.2:443 host allowed.demo -> success" <<<"$out" ||
  fail "no transparent allow audit event shown"
grep -q "audit: lens-tproxy TRANSPARENT 10.88.0.2:80 host 10.88.0.2 -> failure (policy-deny" <<<"$out" ||
  fail "no transparent deny audit event shown"
grep -q "audit: lens-lockdown UDP 10.88.0.2:9999 -> failure (kernel-refused)" <<<"$out" ||
  fail "no audit event of the refused datagram shown"
! ip netns list | grep -Eq "^lens-demo-(sbx|out)-$demo_pid( |$)" ||
  fail "a network namespace was left behind: $(ip netns list | grep "^lens-demo-.*-$demo_pid")"
! pgrep -f "$demo_tmp/lens-demo" >/dev/null || fail "a demo process was left behind"
! compgen -G "$demo_tmp/lens-demo.*" >/dev/null || fail "the demo's work directory was left behind"
((failures == 0)) || exit 1
echo "demo: ok"
