#!/usr/bin/env bash
# lens-proxy side by side with squid and tinyproxy, and the direct connection
# as the physical limit, driven by bench/proxy/proxy_load.cpp.
#
#   bench/proxy/run.sh [--rounds N] [--seconds S] [--bytes N] [--idle N] [--quick]
#
# Figures (each proxy with a policy or configuration that allows the target):
#   - bulk: MB/s of one download through one CONNECT tunnel (--bytes, 1 GiB);
#   - rate: tunnels per second with 64 concurrent clients, each opening a
#     tunnel, sending PING, reading PONG and closing, for --seconds;
#   - idle: resident memory (VmRSS) of the proxy with --idle (1,000) idle
#     tunnels open, and before them;
#   - CPU: user + system time of the proxy process per GiB (bulk) and per
#     1,000 tunnels (rate), from /proc/PID/stat.
# Targets alternate within each round in a rotating order; the table has
# medians over the rounds. Everything runs in a network namespace made here
# (the target server on 10.200.0.1, a local address: the proxies' safety
# floor refuses loopback), so it needs root. Builds lens-proxy and the load
# generator in Release (build-bench/, or $LENS_BENCH_BUILD_DIR). Needs squid
# and tinyproxy (apt-get install squid tinyproxy). The markdown table goes
# to stdout, progress to stderr.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
rounds=5
seconds=5
bytes=$((1 << 30))
idle=1000
while (($#)); do
  case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --bytes) bytes=$2; shift 2 ;;
    --idle) idle=$2; shift 2 ;;
    --quick) rounds=1; seconds=1; bytes=$((64 << 20)); idle=100; shift ;;
    -h | --help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ $(id -u) -eq 0 ]] || { echo "run.sh: needs root (a network namespace)" >&2; exit 77; }
squid=$(command -v squid || echo /usr/sbin/squid)
tinyproxy=$(command -v tinyproxy || echo /usr/bin/tinyproxy)
for tool in "$squid" "$tinyproxy"; do
  [[ -x $tool ]] || { echo "run.sh: $tool is missing (apt-get install squid tinyproxy)" >&2; exit 77; }
done

build="${LENS_BENCH_BUILD_DIR:-$root/build-bench}"
configure=(-S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DLENS_BENCH=ON -DLENS_TESTS=OFF -DLENS_FUZZ=OFF -DLENS_SANITIZE=OFF)
if [[ ! -f "$build/CMakeCache.txt" ]] && command -v ninja >/dev/null 2>&1; then configure+=(-G Ninja); fi
cmake "${configure[@]}" >&2
cmake --build "$build" --target lens-proxy lens_proxy_load -j "$(nproc)" >&2
lens=$build/cmd/lens-proxy
load=$build/bench/proxy/lens_proxy_load

ns=lens-bench-$$
work=$(mktemp -d)
chmod 755 "$work"
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  if [[ -n ${BENCH_KEEP:-} ]]; then echo "run.sh: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

ip netns add "$ns"
ip -n "$ns" link set lo up
ip -n "$ns" addr add 10.200.0.1/32 dev lo
# Many short connections from one client address: reuse TIME_WAIT ports.
ip netns exec "$ns" sysctl -qw net.ipv4.ip_local_port_range="1024 65000" net.ipv4.tcp_tw_reuse=1
in_ns() { nsenter --net="/run/netns/$ns" "$@"; }
ulimit -n "$(ulimit -Hn)"

target=10.200.0.1:9000
start() {  # start NAME COMMAND...: background process in the namespace
  local name=$1
  shift
  # nsenter execs the command: $! is the process measured below.
  nsenter --net="/run/netns/$ns" "$@" >"$work/$name.log" 2>&1 &
  pids+=($!)
  eval "pid_$name=$!"
}
wait_port() {  # wait_port PORT
  local i
  for ((i = 0; i < 200; i++)); do
    in_ns bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "run.sh: nothing listens on port $1; see $work/*.log" >&2
  exit 1
}

start server "$load" serve --listen "$target"

printf '{"network": {"defaultVerdict": "deny", "defaultTransport": "direct", "egress": {"http": [{"match": "10.200.0.1", "verdict": "allow", "transport": "direct"}]}}}\n' >"$work/policy.json"
start lens "$lens" --listen 127.0.0.1:3128 --policy "$work/policy.json" --audit off --log-level warn \
  --max-connections 100000 --idle-timeout 600 --resolver 127.0.0.1

cat >"$work/squid.conf" <<CONF
http_port 127.0.0.1:3129
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
start squid "$squid" -N -f "$work/squid.conf"

cat >"$work/tinyproxy.conf" <<CONF
User nobody
Group nogroup
Port 3130
Listen 127.0.0.1
Timeout 600
MaxClients 4096
LogLevel Critical
PidFile "$work/tinyproxy.pid"
CONF
start tinyproxy "$tinyproxy" -d -c "$work/tinyproxy.conf"
wait_port 3128
wait_port 3129
wait_port 3130
# squid -N is one process; tinyproxy is one process with a thread per client.
declare -A port=([direct]="" [lens]=3128 [squid]=3129 [tinyproxy]=3130)
declare -A pidof=([direct]="" [lens]=$pid_lens [squid]=$pid_squid [tinyproxy]=$pid_tinyproxy)
hz=$(getconf CLK_TCK)
cpu_ticks() { [[ -n $1 ]] && awk '{ print $14 + $15 }' "/proc/$1/stat" || echo 0; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
proxy_arg() { [[ -n ${port[$1]} ]] && echo "--proxy 127.0.0.1:${port[$1]}" || true; }

names=(direct lens squid tinyproxy)
for ((r = 0; r < rounds; r++)); do
  echo "round $((r + 1))/$rounds" >&2
  for ((i = 0; i < ${#names[@]}; i++)); do
    t=${names[$(((i + r) % ${#names[@]}))]}
    pid=${pidof[$t]}
    # bulk
    before=$(cpu_ticks "$pid")
    # shellcheck disable=SC2046
    line=$(in_ns "$load" bulk --target "$target" $(proxy_arg "$t") --bytes "$bytes")
    after=$(cpu_ticks "$pid")
    echo "bulk $t ${line#bulk } ticks=$((after - before))" >>"$work/results"
    echo "  $t bulk: $line, cpu ticks $((after - before))" >&2
    # rate
    before=$(cpu_ticks "$pid")
    # shellcheck disable=SC2046
    line=$(in_ns "$load" rate --target "$target" $(proxy_arg "$t") --concurrency 64 --seconds "$seconds")
    after=$(cpu_ticks "$pid")
    echo "rate $t ${line#rate } ticks=$((after - before))" >>"$work/results"
    echo "  $t rate: $line, cpu ticks $((after - before))" >&2
    sleep 1  # let the TIME_WAIT sockets of the last burst settle
    # idle
    if [[ $t != direct ]]; then
      base=$(rss_kb "$pid")
      coproc IDLE { in_ns "$load" idle --target "$target" --proxy "127.0.0.1:${port[$t]}" --count "$idle"; }
      read -r opened <&"${IDLE[0]}"
      sleep 0.5
      held=$(rss_kb "$pid")
      eval "exec ${IDLE[1]}>&-"
      wait "$IDLE_PID" || true
      echo "idle $t ${opened#idle } base_kb=$base held_kb=$held" >>"$work/results"
      echo "  $t idle: $opened, RSS $base kB -> $held kB" >&2
      sleep 0.5
    fi
  done
done

python3 - "$work/results" "$hz" "$bytes" "$idle" "$seconds" <<'PY'
import statistics, sys
path, hz, nbytes, idle, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
data = {}
for line in open(path):
    kind, target, *fields = line.split()
    kv = dict(f.split("=", 1) for f in fields)
    data.setdefault((kind, target), []).append(kv)
med = lambda v: statistics.median(v) if v else float("nan")
def col(kind, target, fn):
    rows = data.get((kind, target), [])
    return med([fn(r) for r in rows]) if rows else None
names = {"direct": "direct (no proxy)", "lens": "lens-proxy", "squid": "squid", "tinyproxy": "tinyproxy"}
mbps = {t: col("bulk", t, lambda r: int(r["bytes"]) / float(r["seconds"]) / 1e6) for t in names}
cpu_gib = {t: col("bulk", t, lambda r: int(r["ticks"]) / hz / (int(r["bytes"]) / 2**30)) for t in names}
tps = {t: col("rate", t, lambda r: int(r["done"]) / float(r["seconds"])) for t in names}
errs = {t: col("rate", t, lambda r: int(r["errors"])) for t in names}
cpu_k = {t: col("rate", t, lambda r: int(r["ticks"]) / hz / max(int(r["done"]), 1) * 1e6) for t in names}
base = {t: col("idle", t, lambda r: int(r["base_kb"]) / 1024) for t in names}
held = {t: col("idle", t, lambda r: int(r["held_kb"]) / 1024) for t in names}
fmt = lambda v, f: "-" if v is None else format(v, f)
print(f"Medians over the rounds; bulk = one CONNECT tunnel, {nbytes / 2**20:.0f} MiB; rate = 64 concurrent clients, "
      f"{seconds} s each; idle = {idle} idle tunnels.\n")
print("| target | bulk MB/s | vs direct | CPU s/GiB | tunnels/s | errors | CPU ms/1000 tunnels | RSS MiB before | RSS MiB with idle tunnels |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for t, name in names.items():
    rel = f"{mbps[t] / mbps['direct'] * 100:.0f}%" if mbps[t] and mbps["direct"] else "-"
    cpu = fmt(cpu_gib[t], ".2f") if t != "direct" else "-"
    cpuk = fmt(cpu_k[t], ".0f") if t != "direct" else "-"
    print(f"| {name} | {fmt(mbps[t], ',.0f')} | {rel} | {cpu} | {fmt(tps[t], ',.0f')} | {fmt(errs[t], '.0f')} | {cpuk} | "
          f"{fmt(base[t], '.1f')} | {fmt(held[t], '.1f')} |")
peers = ["squid", "tinyproxy"]
ok = lambda better: "met" if better else "NOT met"
print()
print(f"- bulk throughput ahead of every peer: {ok(all(mbps['lens'] > mbps[p] for p in peers))}; "
      f"at least 90% of direct: {ok(mbps['lens'] >= 0.9 * mbps['direct'])} ({mbps['lens'] / mbps['direct'] * 100:.0f}%)")
print(f"- tunnels per second ahead of every peer: {ok(all(tps['lens'] > tps[p] for p in peers))}")
print(f"- memory with idle tunnels below every peer: {ok(all(held['lens'] < held[p] for p in peers))}")
print(f"- CPU per GiB below every peer: {ok(all(cpu_gib['lens'] < cpu_gib[p] for p in peers))}; "
      f"CPU per 1000 tunnels below every peer: {ok(all(cpu_k['lens'] < cpu_k[p] for p in peers))}")
PY
