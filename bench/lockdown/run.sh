#!/usr/bin/env bash
# lens-lockdown apply (libnftables in-process) against the nft program
# applying the same script, alternately, in a network namespace of its own.
#
#   bench/lockdown/run.sh [--rounds N] [--rules N,N,...]
#
# For each size, a policy with that many egress.tcp CIDR rules (distinct
# /32s) gives as many static raw-allow elements. Reports the median wall time
# of one apply (and its user+system CPU) for each, and the ratio. Needs root.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
rounds=5
sizes=0,1000,10000
while (($#)); do
  case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --rules) sizes=$2; shift 2 ;;
    -h | --help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ $(id -u) -eq 0 ]] || { echo "run.sh: needs root" >&2; exit 77; }
tool=${LENS_LOCKDOWN:-$root/build/cmd/lens-lockdown}
[[ -x $tool ]] || { echo "run.sh: $tool is not built (or set LENS_LOCKDOWN)" >&2; exit 2; }
ns=lens-bench-$$
work=$(mktemp -d)
trap 'ip netns del "$ns" 2>/dev/null || true; rm -rf "$work"' EXIT
ip netns add "$ns"

# time_it COMMAND...: prints "wall_ms cpu_ms" of one run.
time_it() {
  local t
  t=$( { TIMEFORMAT='%R %U %S'; time "$@" >/dev/null 2>&1; } 2>&1)
  awk '{ printf "%.1f %.1f\n", $1 * 1000, ($2 + $3) * 1000 }' <<<"$t"
}

echo "| static elements | lens-lockdown apply ms (median) | nft -f ms (median) | ratio | lens CPU ms | nft CPU ms |"
echo "|---:|---:|---:|---:|---:|---:|"
IFS=, read -ra list <<<"$sizes"
for n in "${list[@]}"; do
  python3 - "$n" >"$work/policy.json" <<'PY'
import json, sys
n = int(sys.argv[1])
# Every other address, so no two rules merge into one element.
rules = [{"match": f"10.{2 * i // 65536 % 256}.{2 * i // 256 % 256}.{2 * i % 256}:5432", "verdict": "allow"} for i in range(n)]
print(json.dumps({"network": {"defaultVerdict": "deny", "defaultTransport": "upstream", "egress": {"tcp": rules}}}))
PY
  "$tool" render --policy "$work/policy.json" >"$work/script.nft"
  : >"$work/lens"
  : >"$work/nft"
  for ((r = 0; r < rounds; r++)); do
    time_it nsenter --net="/run/netns/$ns" "$tool" apply --policy "$work/policy.json" >>"$work/lens"
    time_it nsenter --net="/run/netns/$ns" nft -f "$work/script.nft" >>"$work/nft"
  done
  python3 - "$n" "$work/lens" "$work/nft" <<'PY'
import statistics, sys
n = int(sys.argv[1])
def load(p):
    rows = [tuple(map(float, l.split())) for l in open(p) if l.strip()]
    return statistics.median(r[0] for r in rows), statistics.median(r[1] for r in rows)
lw, lc = load(sys.argv[2]); nw, nc = load(sys.argv[3])
print(f"| {n:,} | {lw:.1f} | {nw:.1f} | {lw / nw:.2f}x | {lc:.1f} | {nc:.1f} |")
PY
done
