#!/usr/bin/env bash
# Failures are clear and leave nothing half-installed: no CAP_NET_ADMIN
# exits 5, a bad scope 2, an invalid policy 3, a missing cgroup 3; render
# needs no privilege.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
[[ $(id -u) -eq 0 ]] || skip "needs root (a network namespace of its own)"
command -v setpriv >/dev/null || skip "needs setpriv (util-linux)"
lockdown=$bin_dir/lens-lockdown
ns=lens-err-$$
work=$(mktemp -d)
trap 'ip netns del "$ns" 2>/dev/null || true; rm -rf "$work"' EXIT
ip netns add "$ns" || skip "cannot create a network namespace"

failures=0
# check CODE PATTERN DESCRIPTION -- COMMAND...: exit code and one stderr line matching PATTERN.
check() {
  local code=$1 pattern=$2 what=$3
  shift 4
  local rc=0
  "$@" >"$work/out" 2>"$work/err" || rc=$?
  if [[ $rc -eq $code ]] && grep -q -- "$pattern" "$work/err" && [[ $(wc -l <"$work/err") -le 2 ]]; then
    echo "ok   $what: exit $rc: $(head -1 "$work/err")"
  else
    echo "FAIL $what: exit $rc (expected $code), stderr: $(cat "$work/err")" >&2
    failures=$((failures + 1))
  fi
}
in_ns() { nsenter --net="/run/netns/$ns" "$@"; }
unprivileged() { in_ns setpriv --reuid 65534 --regid 65534 --clear-groups --inh-caps=-all --bounding-set=-all "$@"; }

for cmd in apply check show remove; do
  check 5 "$cmd: needs CAP_NET_ADMIN" "$cmd without CAP_NET_ADMIN" -- unprivileged "$lockdown" "$cmd"
done
if unprivileged "$lockdown" render >"$work/render" 2>"$work/err" && grep -q '^table inet lens_sandbox {' "$work/render"; then
  echo "ok   render works without privilege"
else
  echo "FAIL render without privilege: $(cat "$work/err")" >&2
  failures=$((failures + 1))
fi
check 2 'invalid scope "uid:x"' "a bad scope" -- in_ns "$lockdown" apply --scope uid:x
check 2 'invalid --mark "0"' "a zero mark" -- in_ns "$lockdown" apply --mark 0
check 2 "must differ" "equal marks" -- in_ns "$lockdown" apply --mark 7 --tproxy-mark 7
echo '{"network": {"defaultVerdict": "deny", "defaultTransport": "upstream", "egress": {"udp": [{"match": "10.0.0.1:53", "verdict": "allow"}]}}}' >"$work/bad.json"
rc=0
in_ns "$lockdown" apply --policy "$work/bad.json" 2>"$work/err" || rc=$?
if [[ $rc -eq 3 ]] && grep -q 'bad.json:1:.*port 53' "$work/err" && grep -q 'nothing changed' "$work/err"; then
  echo "ok   an invalid policy: exit 3 with the located error"
else
  echo "FAIL invalid policy: exit $rc: $(cat "$work/err")" >&2
  failures=$((failures + 1))
fi
check 3 "no such cgroup" "a cgroup that does not exist" -- in_ns "$lockdown" apply --scope cgroup:/lens-no-such-$$
rc=0
in_ns "$lockdown" show >"$work/out" 2>&1 || rc=$?
if [[ $rc -eq 1 ]] && grep -q '^no cage installed' "$work/out"; then
  echo "ok   show with nothing installed: exit 1: $(cat "$work/out")"
else
  echo "FAIL show with nothing installed: exit $rc: $(cat "$work/out")" >&2
  failures=$((failures + 1))
fi
if in_ns nft list tables | grep -q lens_sandbox; then
  echo "FAIL: a failed apply left a table behind" >&2
  failures=$((failures + 1))
else
  echo "ok   nothing was installed by the failed commands"
fi
((failures == 0)) || { echo "$failures check(s) failed" >&2; exit 1; }
echo "all checks passed"
