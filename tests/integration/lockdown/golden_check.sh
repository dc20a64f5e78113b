#!/usr/bin/env bash
# The kernel accepts every golden ruleset: `lens-lockdown check` (a dry run
# through libnftables) for each case of tests/data/lockdown/cases.txt, with
# the cases' cgroups created for the duration of the test.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
[[ $(id -u) -eq 0 ]] || skip "needs root (a network namespace of its own)"
lockdown=$bin_dir/lens-lockdown
ns=lens-gold-$$
ip netns add "$ns" || skip "cannot create a network namespace"
cg_root=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
made=()
cleanup() {
  local d
  for d in "${made[@]}"; do rmdir "$d" 2>/dev/null || true; done
  ip netns del "$ns" 2>/dev/null || true
}
trap cleanup EXIT

failures=0
cd "$source_dir/tests/data/lockdown"
while read -r name args; do
  [[ -z $name || $name == \#* ]] && continue
  if [[ $args == *cgroup:* ]]; then
    path=${args#*cgroup:}
    path=${path%% *}
    if [[ -z $cg_root || ! -w $cg_root ]]; then
      echo "skip $name: no writable cgroup v2 hierarchy"
      continue
    fi
    # Create the cgroup and its parents, remembering them deepest first.
    dir=$cg_root
    new=()
    IFS=/ read -ra parts <<<"${path#/}"
    for part in "${parts[@]}"; do
      dir=$dir/$part
      [[ -d $dir ]] || { mkdir "$dir"; new=("$dir" "${new[@]}"); }
    done
    made=("${new[@]}" "${made[@]}")
  fi
  # shellcheck disable=SC2086 # ARGS are words by design
  if out=$(nsenter --net="/run/netns/$ns" "$lockdown" check $args 2>&1); then
    echo "ok   $name: $out"
  else
    echo "FAIL $name: $out" >&2
    failures=$((failures + 1))
  fi
done <cases.txt
((failures == 0)) || { echo "$failures case(s) rejected" >&2; exit 1; }
echo "all golden rulesets pass the kernel's check"
