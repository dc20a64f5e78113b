#!/usr/bin/env bash
# lens-dns side by side with dnsmasq and dnsdist, each in front of the same
# upstream with an equivalent allowlist of 10,000 names, driven by dnsperf.
#
#   bench/dns/run.sh [--rounds N] [--seconds S] [--quick]
#
# Scenarios: "hit" (every name cached by the front: the upstream answers with
# TTL 3600 and a warm-up pass fills the caches) and "miss" (the upstream
# answers with TTL 0, so no front caches and every query goes upstream; the
# bare upstream is measured too). Fronts run alternately within each round,
# in a rotating order; the table reports medians over the rounds of
#   - queries per second at saturation (dnsperf, 1 thread, 8 clients),
#   - latency p50 / p99 at a moderate fixed rate (dnsperf -Q, per-query -v output),
#   - CPU time of the front per query (utime + stime from /proc).
# Builds lens-dns in Release (build-bench/, or $LENS_BENCH_BUILD_DIR) when
# $LENS_DNS is not given. Needs dnsperf, dnsmasq and dnsdist; no root.
# The markdown table goes to stdout, progress to stderr.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
rounds=5
seconds=4
names=10000
while (($#)); do
  case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --quick) rounds=1; seconds=1; names=1000; shift ;;
    -h | --help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
for tool in dnsperf dnsmasq dnsdist python3; do
  command -v "$tool" >/dev/null || { echo "run.sh: $tool is missing (apt-get install dnsperf dnsmasq-base dnsdist)" >&2; exit 77; }
done

if [[ -z ${LENS_DNS:-} ]]; then
  build="${LENS_BENCH_BUILD_DIR:-$root/build-bench}"
  configure=(-S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DLENS_BENCH=ON -DLENS_TESTS=OFF -DLENS_FUZZ=OFF -DLENS_SANITIZE=OFF)
  if [[ ! -f "$build/CMakeCache.txt" ]] && command -v ninja >/dev/null 2>&1; then configure+=(-G Ninja); fi
  cmake "${configure[@]}" >&2
  cmake --build "$build" --target lens-dns -j "$(nproc)" >&2
  LENS_DNS=$build/cmd/lens-dns
fi

declare -A pids_by_name=()  # background process by name
work=$(mktemp -d)
chmod 755 "$work"  # dnsmasq reads its hosts file after dropping to an unprivileged user
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [[ -n ${BENCH_KEEP:-} ]]; then echo "run.sh: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

# Ports: upstream (ttl 3600) 5400, upstream (ttl 0) 5401, fronts 5410-5412.
python3 - "$work" "$names" <<'PY'
import json, random, sys
work, n = sys.argv[1], int(sys.argv[2])
names = [f"name-{i:05d}.bench.test" for i in range(n)]
with open(f"{work}/hosts", "w") as f:
    for i, name in enumerate(names):
        f.write(f"198.18.{i // 250}.{i % 250 + 1} {name}\n")
with open(f"{work}/names.txt", "w") as f:
    f.write("\n".join(names) + "\n")
shuffled = names[:]
random.Random(7).shuffle(shuffled)
with open(f"{work}/queries.txt", "w") as f:
    f.write("".join(f"{name} A\n" for name in shuffled))
rules = [{"match": name, "verdict": "allow", "transport": "upstream"} for name in names]
json.dump({"network": {"defaultVerdict": "deny", "defaultTransport": "upstream", "egress": {"http": rules}}},
          open(f"{work}/policy.json", "w"))
with open(f"{work}/dnsmasq-allow.conf", "w") as f:
    for name in names:
        f.write(f"server=/{name}/127.0.0.1#UPSTREAM_PORT\n")
    f.write("local=/#/\n")
PY

start() {  # start NAME COMMAND...: background process, remembered for cleanup
  local name=$1
  shift
  "$@" >"$work/$name.log" 2>&1 &
  pids+=($!)
  pids_by_name[$name]=$!
}

wait_answer() {  # wait_answer PORT: until the server answers a query
  local i
  for ((i = 0; i < 200; i++)); do
    dig @127.0.0.1 -p "$1" +time=1 +tries=1 +short name-00000.bench.test >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "run.sh: nothing answers on port $1; see $work/*.log" >&2
  exit 1
}

for ttl in 3600 0; do
  port=$((ttl == 0 ? 5401 : 5400))
  start "upstream$ttl" dnsmasq --keep-in-foreground --port=$port --listen-address=127.0.0.1 --bind-interfaces \
    --no-resolv --no-hosts --addn-hosts="$work/hosts" --local-ttl=$ttl --cache-size=20000 --dns-forward-max=10000 --pid-file=
done

start_fronts() {  # start_fronts UPSTREAM_PORT
  local up=$1
  start lens "$LENS_DNS" --listen 127.0.0.1:5410 --upstream "127.0.0.1:$up" --policy "$work/policy.json" \
    --audit off --no-nft --log-level warn --cache-size $((64 << 20)) --max-inflight 100000
  sed "s/UPSTREAM_PORT/$up/" "$work/dnsmasq-allow.conf" >"$work/dnsmasq-front.conf"
  start dnsmasq dnsmasq --keep-in-foreground --port=5411 --listen-address=127.0.0.1 --bind-interfaces --no-resolv \
    --no-hosts --conf-file="$work/dnsmasq-front.conf" --cache-size=20000 --dns-forward-max=10000 --pid-file=
  cat >"$work/dnsdist.conf" <<LUA
setLocal("127.0.0.1:5412")
setSecurityPollSuffix("")
setUDPMultipleMessagesVectorSize(32)
newServer({address="127.0.0.1:$up", name="upstream"})
pc = newPacketCache(20000, {maxTTL=86400, minTTL=0})
getPool(""):setCache(pc)
local allowed = newDNSNameSet()
for line in io.lines("$work/names.txt") do allowed:add(newDNSName(line)) end
addAction(NotRule(QNameSetRule(allowed)), RCodeAction(DNSRCode.NXDOMAIN))
LUA
  start dnsdist dnsdist --supervised --disable-syslog -C "$work/dnsdist.conf"
  wait_answer 5410
  wait_answer 5411
  wait_answer 5412
}

stop_fronts() {
  local p
  for p in "${pids_by_name[lens]}" "${pids_by_name[dnsmasq]}" "${pids_by_name[dnsdist]}"; do
    kill "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
}

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

# measure SCENARIO FRONT PORT PID: one saturation run and one latency run.
measure() {
  local scenario=$1 front=$2 port=$3 pid=$4
  local before after qps lat
  before=$([[ -n $pid ]] && cpu_ticks "$pid" || echo 0)
  dnsperf -s 127.0.0.1 -p "$port" -d "$work/queries.txt" -l "$seconds" -c 8 -q 500 -T 1 >"$work/dnsperf.out" 2>&1
  cp "$work/dnsperf.out" "$work/dnsperf.$scenario.$front.out"
  qps=$(awk '/Queries completed:/ { done = $3 } /Queries per second:/ { print $4, done }' "$work/dnsperf.out")
  # Every answer must be NOERROR, or the numbers measure something else.
  if ! grep -Eq 'Response codes: +NOERROR [0-9]+ \(100\.00%\)' "$work/dnsperf.out"; then
    echo "run.sh: $front ($scenario) did not answer NOERROR to every query:" >&2
    grep -E 'Response codes|Queries lost' "$work/dnsperf.out" >&2
  fi
  after=$([[ -n $pid ]] && cpu_ticks "$pid" || echo 0)
  lat=$(dnsperf -s 127.0.0.1 -p "$port" -d "$work/queries.txt" -l 2 -Q 5000 -c 4 -T 1 -v 2>/dev/null |
    awk '$1 == ">" && $2 == "NOERROR" { print $NF }' | python3 -c '
import sys
v = sorted(float(x) * 1e6 for x in sys.stdin if x.strip())
print(f"{v[len(v)//2]:.0f} {v[min(len(v)-1, int(len(v)*0.99))]:.0f}" if v else "nan nan")')
  echo "$scenario $front $qps $((after - before)) $lat" >>"$work/results"
  echo "  $scenario $front: $qps qps, cpu ticks $((after - before)), latency p50/p99 us: $lat" >&2
}

for scenario in hit miss; do
  up=$([[ $scenario == hit ]] && echo 5400 || echo 5401)
  echo "== $scenario (upstream port $up)" >&2
  start_fronts "$up"
  for port in 5410 5411 5412; do  # warm-up: every name once (fills the caches in "hit")
    dnsperf -s 127.0.0.1 -p $port -d "$work/queries.txt" -n 1 -c 8 -q 500 >/dev/null 2>&1
  done
  fronts=("lens:5410:${pids_by_name[lens]}" "dnsmasq:5411:${pids_by_name[dnsmasq]}" "dnsdist:5412:${pids_by_name[dnsdist]}")
  [[ $scenario == miss ]] && fronts+=("upstream:5401:")
  for ((r = 0; r < rounds; r++)); do
    echo "round $((r + 1))/$rounds" >&2
    n=${#fronts[@]}
    for ((i = 0; i < n; i++)); do
      IFS=: read -r front port pid <<<"${fronts[$(((i + r) % n))]}"
      measure "$scenario" "$front" "$port" "$pid"
    done
  done
  stop_fronts
done

python3 - "$work/results" "$hz" <<'PY'
import statistics, sys
rows = {}
hz = int(sys.argv[2])
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) < 7 or f[2] == "":
        continue
    scenario, front, qps, done, ticks, p50, p99 = f[0], f[1], float(f[2]), int(f[3]), int(f[4]), f[5], f[6]
    r = rows.setdefault((scenario, front), {"qps": [], "cpu": [], "p50": [], "p99": []})
    r["qps"].append(qps)
    if done and front != "upstream":
        r["cpu"].append(ticks / hz / done * 1e6)
    if p50 != "nan":
        r["p50"].append(float(p50)); r["p99"].append(float(p99))
med = lambda v: statistics.median(v) if v else float("nan")
print("| scenario | server | queries/s (median) | vs lens-dns | latency p50 µs | latency p99 µs | CPU µs/query |")
print("|---|---|---:|---:|---:|---:|---:|")
for scenario in ("hit", "miss"):
    base = med(rows.get((scenario, "lens"), {"qps": []})["qps"])
    for front in ("lens", "dnsmasq", "dnsdist", "upstream"):
        r = rows.get((scenario, front))
        if not r:
            continue
        q = med(r["qps"])
        name = {"lens": "lens-dns", "upstream": "bare upstream (dnsmasq, no filter)"}.get(front, front)
        cpu = f"{med(r['cpu']):.1f}" if r["cpu"] else "-"
        print(f"| {scenario} | {name} | {q:,.0f} | {q / base:.2f}x | {med(r['p50']):.0f} | {med(r['p99']):.0f} | {cpu} |")
PY
