#!/usr/bin/env bash
# --scope uid:N cages that user's sockets and leaves root alone;
# --scope cgroup:PATH cages the processes of that cgroup only.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../netns.sh"
command -v setpriv >/dev/null || skip "needs setpriv (util-linux)"

start_outside_servers
uid=4242

in_sbx "$lockdown" apply --scope uid:$uid
echo "== --scope uid:$uid"
expect "refused" "uid $uid: tcp is caged (redirected, nothing listens)" -- --as $uid tcp 10.199.0.2 8080
expect "$refused" "uid $uid: udp is caged" -- --as $uid udp 10.199.0.2 9000
expect "ok outside local=10.199.0.2:8080 *" "root: tcp is not caged" -- tcp 10.199.0.2 8080
expect "ok outside local=10.199.0.2:9000 *" "root: udp is not caged" -- udp 10.199.0.2 9000
expect "ok outside local=10.199.0.2:53 *" "root: dns is not redirected" -- udp 10.199.0.2 53
expect "ok outside local=10.199.0.2:8080 *" "uid 4243: not caged" -- --as 4243 tcp 10.199.0.2 8080

echo "== --scope cgroup:PATH"
cg_root=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
[[ -n $cg_root && -w $cg_root ]] || { finish; skip "no writable cgroup v2 hierarchy for the cgroup part"; }
cg=lens-test-$$
mkdir "$cg_root/$cg"
cleanup_cgroup() { rmdir "$cg_root/$cg" 2>/dev/null || true; cleanup; }
trap cleanup_cgroup EXIT
in_sbx "$lockdown" apply --scope "cgroup:/$cg"
# A shell that moves itself into the cgroup, then probes.
in_cgroup() {
  in_sbx sh -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' sh "$cg_root/$cg" "$python" "$probe_py" probe "$@"
}
got=$(in_cgroup udp 10.199.0.2 9000) || got="probe failed ($?)"
if [[ $got == $refused ]]; then echo "ok   in the cgroup: udp is caged: $got"; else
  echo "FAIL in the cgroup: udp: expected refusal, got '$got'" >&2
  failures=$((failures + 1))
fi
expect "ok outside local=10.199.0.2:9000 *" "outside the cgroup: udp is not caged" -- udp 10.199.0.2 9000
finish
