#!/usr/bin/env bash
# lens-tproxy against the direct connection (and squid in intercept mode for
# plain HTTP), behind the real cage, in one run.
#
#   bench/tproxy/run.sh [--rounds N] [--seconds S] [--bytes N] [--requests N] [--quick]
#                       [--baseline BUILD_DIR]
#
# Two network namespaces joined by a veth pair: the client one has the cage
# (lens-lockdown apply --scope uid:65534, REDIRECT mode) and lens-tproxy; the
# server one has the targets. The same client runs as root (not caged:
# direct) or as uid 65534 (caged: through lens-tproxy); squid intercept gets
# uid 65533's HTTP through an nft redirect of its own.
#
# Figures:
#   - raw bulk: MB/s of one download (--bytes, 1 GiB) with bench/proxy's
#     load generator (its protocol is not TLS or HTTP: an egress.tcp rule
#     lets it through lens-tproxy's raw door, spliced);
#   - raw rate: connections per second, 64 concurrent clients in a closed
#     loop (connect, PING, PONG, close), for --seconds;
#   - http bulk: MB/s of one curl download from a python HTTP server
#     (lens-tproxy's transparent-http door, squid intercept);
#   - http rate: --requests (2,000) curl requests, 32 in parallel, one
#     connection each;
#   - CPU: user + system time of the proxy process per GiB and per 1,000
#     connections (from /proc/PID/stat).
# --baseline adds the lens-tproxy of another build (say the commit before a
# change; build its lens-tproxy first) as one more target of the same run,
# on :3132 behind an nft redirect of uid 65532's traffic to the targets:
# on a shared machine only figures of the same run compare.
# Targets alternate within each round in a rotating order; the tables have
# medians over the rounds. The python HTTP server limits the http rate for
# every target alike: compare CPU per 1,000 there. Needs root, squid, curl;
# builds lens-tproxy, lens-lockdown and the load generator in Release
# (build-bench/, or $LENS_BENCH_BUILD_DIR). Markdown to stdout, progress to
# stderr.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
rounds=5
seconds=5
bytes=$((1 << 30))
requests=2000
baseline=""
while (($#)); do
  case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --bytes) bytes=$2; shift 2 ;;
    --requests) requests=$2; shift 2 ;;
    --quick) rounds=1; seconds=1; bytes=$((64 << 20)); requests=300; shift ;;
    --baseline) baseline=$2; shift 2 ;;
    -h | --help) sed -n '2,38p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ $(id -u) -eq 0 ]] || { echo "run.sh: needs root (network namespaces, the cage)" >&2; exit 77; }
if [[ -n $baseline && ! -x $baseline/cmd/lens-tproxy ]]; then
  echo "run.sh: $baseline/cmd/lens-tproxy is missing (build lens-tproxy there first)" >&2
  exit 2
fi
squid=$(command -v squid || echo /usr/sbin/squid)
[[ -x $squid ]] || { echo "run.sh: squid is missing (apt-get install squid)" >&2; exit 77; }
command -v curl >/dev/null || { echo "run.sh: curl is missing" >&2; exit 77; }

build="${LENS_BENCH_BUILD_DIR:-$root/build-bench}"
configure=(-S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DLENS_BENCH=ON -DLENS_TESTS=OFF -DLENS_FUZZ=OFF -DLENS_SANITIZE=OFF)
if [[ ! -f "$build/CMakeCache.txt" ]] && command -v ninja >/dev/null 2>&1; then configure+=(-G Ninja); fi
cmake "${configure[@]}" >&2
cmake --build "$build" --target lens-tproxy lens-lockdown lens_proxy_load -j "${LENS_BENCH_JOBS:-$(nproc)}" >&2
tproxy=$build/cmd/lens-tproxy
lockdown=$build/cmd/lens-lockdown
load=$build/bench/proxy/lens_proxy_load

cli=lens-bench-cli-$$
srv=lens-bench-srv-$$
work=$(mktemp -d)
chmod 755 "$work"
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  ip netns del "$cli" 2>/dev/null || true
  ip netns del "$srv" 2>/dev/null || true
  if [[ -n ${BENCH_KEEP:-} ]]; then echo "run.sh: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

ip netns add "$cli"
ip netns add "$srv"
ip link add bc0 netns "$cli" type veth peer name bs0 netns "$srv"
for ns in "$cli" "$srv"; do ip -n "$ns" link set lo up; done
ip -n "$cli" addr add 10.201.0.1/24 dev bc0
ip -n "$srv" addr add 10.201.0.2/24 dev bs0
ip -n "$cli" link set bc0 up
ip -n "$srv" link set bs0 up
for ns in "$cli" "$srv"; do
  ip netns exec "$ns" sysctl -qw net.ipv4.ip_local_port_range="1024 65000" net.ipv4.tcp_tw_reuse=1
done
in_cli() { nsenter --net="/run/netns/$cli" "$@"; }
ulimit -n "$(ulimit -Hn)"

start() {  # start NAME NS COMMAND...: background process; pid_NAME is the process measured
  local name=$1 ns=$2
  shift 2
  nsenter --net="/run/netns/$ns" "$@" >"$work/$name.log" 2>&1 &
  pids+=($!)
  eval "pid_$name=$!"
}
wait_port() {  # wait_port NS ADDR PORT
  local i
  for ((i = 0; i < 200; i++)); do
    nsenter --net="/run/netns/$1" bash -c "exec 3<>/dev/tcp/$2/$3" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "run.sh: nothing listens on $2:$3; see $work/*.log" >&2
  exit 1
}

start load_server "$srv" "$load" serve --listen 10.201.0.2:9000
start http_server "$srv" python3 "$root/bench/tproxy/http_server.py" 10.201.0.2 9001
wait_port "$srv" 10.201.0.2 9000
wait_port "$srv" 10.201.0.2 9001

printf '%s\n' '{"network": {"defaultVerdict": "deny", "defaultTransport": "direct", "egress": {
  "http": [{"match": "10.201.0.2:9001", "verdict": "allow", "transport": "direct"}],
  "tcp": [{"match": "10.201.0.2:9000", "verdict": "allow"}]}}}' >"$work/policy.json"
in_cli "$lockdown" apply --scope uid:65534 >&2
start lens "$cli" "$tproxy" --policy "$work/policy.json" --audit off --log-level warn \
  --max-connections 100000 --idle-timeout 600 --resolver 127.0.0.1 --listen 127.0.0.1:3129
wait_port "$cli" 127.0.0.1 3129

cat >"$work/squid.conf" <<CONF
http_port 127.0.0.1:3131
http_port 127.0.0.1:3130 intercept
pid_filename $work/squid.pid
cache deny all
cache_mem 8 MB
access_log none
cache_log $work/squid-cache.log
coredump_dir $work
max_filedescriptors 65536
shutdown_lifetime 0 seconds
http_access allow all
CONF
touch "$work/squid-cache.log"
chmod 666 "$work/squid-cache.log"
start squid "$cli" "$squid" -N -f "$work/squid.conf"
wait_port "$cli" 127.0.0.1 3131
# squid's interception: uid 65533's HTTP to the target, redirected to :3130.
in_cli nft -f - <<'NFT'
table ip lens_bench_squid {
  chain out {
    type nat hook output priority -110; policy accept;
    meta skuid 65533 ip daddr 10.201.0.2 tcp dport 9001 redirect to :3130
  }
}
NFT

declare -A uid=([direct]=0 [lens]=65534 [squid]=65533)
declare -A pidof=([direct]="" [lens]=$pid_lens [squid]=$pid_squid)
names=(direct lens squid)
if [[ -n $baseline ]]; then
  # The baseline: uid 65532's connections to the targets, redirected to :3132.
  start base "$cli" "$baseline/cmd/lens-tproxy" --policy "$work/policy.json" --audit off --log-level warn \
    --max-connections 100000 --idle-timeout 600 --resolver 127.0.0.1 --listen 127.0.0.1:3132
  wait_port "$cli" 127.0.0.1 3132
  in_cli nft -f - <<'NFT'
table ip lens_bench_base {
  chain out {
    type nat hook output priority -110; policy accept;
    meta skuid 65532 ip daddr 10.201.0.2 tcp dport { 9000, 9001 } redirect to :3132
  }
}
NFT
  uid+=([base]=65532)
  pidof+=([base]=$pid_base)
  names=(direct lens base squid)
fi
hz=$(getconf CLK_TCK)
cpu_ticks() { [[ -n $1 ]] && awk '{ print $14 + $15 }' "/proc/$1/stat" || echo 0; }
as() { local u=$1; shift; in_cli setpriv --reuid "$u" --regid "$u" --clear-groups "$@"; }
for ((i = 0; i < requests; i++)); do echo 'url = "http://10.201.0.2:9001/small"'; echo 'output = "/dev/null"'; done >"$work/urls"
chmod 644 "$work/urls"

for ((r = 0; r < rounds; r++)); do
  echo "round $((r + 1))/$rounds" >&2
  for ((i = 0; i < ${#names[@]}; i++)); do
    t=${names[$(((i + r) % ${#names[@]}))]}
    pid=${pidof[$t]}
    if [[ $t != squid ]]; then  # squid intercept speaks HTTP only
      before=$(cpu_ticks "$pid")
      line=$(as "${uid[$t]}" "$load" bulk --target 10.201.0.2:9000 --bytes "$bytes")
      after=$(cpu_ticks "$pid")
      echo "rawbulk $t ${line#bulk } ticks=$((after - before))" >>"$work/results"
      echo "  $t raw bulk: $line, cpu ticks $((after - before))" >&2
      before=$(cpu_ticks "$pid")
      line=$(as "${uid[$t]}" "$load" rate --target 10.201.0.2:9000 --concurrency 64 --seconds "$seconds")
      after=$(cpu_ticks "$pid")
      echo "rawrate $t ${line#rate } ticks=$((after - before))" >>"$work/results"
      echo "  $t raw rate: $line, cpu ticks $((after - before))" >&2
      sleep 1
    fi
    before=$(cpu_ticks "$pid")
    line=$(as "${uid[$t]}" curl -sS --noproxy '*' -o /dev/null -w '%{size_download} %{time_total}' \
      "http://10.201.0.2:9001/big/$bytes")
    after=$(cpu_ticks "$pid")
    echo "httpbulk $t bytes=${line% *} seconds=${line#* } ticks=$((after - before))" >>"$work/results"
    echo "  $t http bulk: $line, cpu ticks $((after - before))" >&2
    before=$(cpu_ticks "$pid")
    start_ns=$(date +%s%N)
    codes=$(as "${uid[$t]}" curl -s --no-progress-meter --noproxy '*' -Z --parallel-max 32 -K "$work/urls" -w '%{http_code}\n' | sort | uniq -c | tr '\n' ' ')
    end_ns=$(date +%s%N)
    after=$(cpu_ticks "$pid")
    ok=$(awk '{for (i = 1; i < NF; i += 2) if ($(i + 1) == "200") n += $i} END {print n + 0}' <<<"$codes")
    echo "httprate $t done=$ok requests=$requests seconds=$(((end_ns - start_ns) / 1000000))e-3 ticks=$((after - before))" >>"$work/results"
    echo "  $t http rate: $codes in $(((end_ns - start_ns) / 1000000)) ms, cpu ticks $((after - before))" >&2
    sleep 1
  done
done

python3 - "$work/results" "$hz" "$bytes" "$seconds" "$requests" "$baseline" <<'PY'
import statistics, sys
path, hz, nbytes, seconds, requests, baseline = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
data = {}
for line in open(path):
    kind, target, *fields = line.split()
    data.setdefault((kind, target), []).append(dict(f.split("=", 1) for f in fields))
def col(kind, target, fn):
    rows = data.get((kind, target), [])
    return statistics.median([fn(r) for r in rows]) if rows else None
fmt = lambda v, f: "-" if v is None else format(v, f)
names = {"direct": "direct (no proxy)", "lens": "lens-tproxy", "squid": "squid 5 (intercept)"}
if baseline:
    names = {"direct": names["direct"], "lens": "lens-tproxy", "base": f"lens-tproxy (baseline {baseline})",
             "squid": names["squid"]}
mbps = lambda k: {t: col(k, t, lambda r: int(r["bytes"]) / float(r["seconds"]) / 1e6) for t in names}
cpug = lambda k: {t: col(k, t, lambda r: int(r["ticks"]) / hz / (int(r["bytes"]) / 2**30)) for t in names}
rate = lambda k: {t: col(k, t, lambda r: int(r["done"]) / float(r["seconds"])) for t in names}
cpuk = lambda k: {t: col(k, t, lambda r: int(r["ticks"]) / hz / max(int(r["done"]), 1) * 1e6) for t in names}
errs = {t: col("rawrate", t, lambda r: int(r["errors"])) for t in names}
fails = {t: col("httprate", t, lambda r: int(r["requests"]) - int(r["done"])) for t in names}
print(f"Medians over the rounds; bulk = one connection, {nbytes / 2**20:.0f} MiB; raw rate = 64 concurrent "
      f"clients for {seconds} s; http rate = {requests} requests, 32 in parallel, one connection each.\n")
for label, b, r, e in (("raw (egress.tcp rule, spliced)", "rawbulk", "rawrate", errs),
                      ("plain HTTP (transparent-http door)", "httpbulk", "httprate", fails)):
    m, c, q, k = mbps(b), cpug(b), rate(r), cpuk(r)
    print(f"{label}:\n")
    print("| target | bulk MB/s | vs direct | proxy CPU s/GiB | connections/s | failed | proxy CPU ms/1000 conn |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for t, name in names.items():
        if m[t] is None:
            continue
        rel = f"{m[t] / m['direct'] * 100:.0f}%" if m["direct"] else "-"
        print(f"| {name} | {fmt(m[t], ',.0f')} | {rel} | {fmt(c[t], '.2f') if t != 'direct' else '-'} | "
              f"{fmt(q[t], ',.0f')} | {fmt(e[t], '.0f')} | {fmt(k[t], '.0f') if t != 'direct' else '-'} |")
    print()
PY
