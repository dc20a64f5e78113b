#!/usr/bin/env bash
# The forward door (absolute-form HTTP) of lens-proxy, side by side with
# another lens-proxy binary (the one before a change, to show it did not get
# slower) and squid, driven by ApacheBench with keep-alive:
#
#   bench/proxy/forward.sh [--rounds N] [--requests N] [--close] [--before BINARY] [--after BINARY]
#
# Each round runs every proxy once in a rotating order: `ab -k -c 8 -n N -X
# proxy http://10.200.0.1:9080/1k` (with --close: without -k, a connection
# per request) against nginx on a local address of a network namespace made
# here (the proxies' safety floor refuses loopback).
# The table has the medians over the rounds of requests per second, failed
# requests, and the proxy's CPU time (user + system, /proc/PID/stat) per
# request. --after defaults to build/cmd/lens-proxy; without --before that
# row is left out. Needs root, nginx (nginx-light), ab (apache2-utils), squid.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
rounds=5
requests=50000
before=""
after="$root/build/cmd/lens-proxy"
keepalive=-k
while (($#)); do
  case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --requests) requests=$2; shift 2 ;;
    --before) before=$2; shift 2 ;;
    --close) keepalive=""; shift ;;
    --after) after=$2; shift 2 ;;
    -h | --help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "forward.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ $(id -u) -eq 0 ]] || { echo "forward.sh: needs root (a network namespace)" >&2; exit 77; }
for tool in nginx ab squid; do
  command -v "$tool" >/dev/null || { echo "forward.sh: $tool is missing (apt-get install nginx-light apache2-utils squid)" >&2; exit 77; }
done
[[ -x $after ]] || { echo "forward.sh: $after is not built" >&2; exit 77; }

ns=lens-fwd-$$
work=$(mktemp -d)
chmod 755 "$work"
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
ip netns add "$ns"
ip -n "$ns" link set lo up
ip -n "$ns" addr add 10.200.0.1/32 dev lo
in_ns() { nsenter --net="/run/netns/$ns" "$@"; }
ulimit -n "$(ulimit -Hn)"

start() {  # start NAME COMMAND...: a background process in the namespace
  local name=$1
  shift
  nsenter --net="/run/netns/$ns" "$@" >"$work/$name.log" 2>&1 &
  pids+=($!)
  eval "pid_$name=$!"
}
wait_port() {
  local i
  for ((i = 0; i < 200; i++)); do
    in_ns bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "forward.sh: nothing listens on $1:$2; see $work/*.log" >&2
  exit 1
}

mkdir -p "$work/www"
head -c 1024 /dev/zero | tr '\0' x >"$work/www/1k"
cat >"$work/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  server { listen 10.200.0.1:9080; root $work/www; }
}
CONF
start nginx nginx -c "$work/nginx.conf"

printf '{"network": {"defaultVerdict": "deny", "defaultTransport": "direct", "egress": {"http": [{"match": "10.200.0.1", "verdict": "allow", "transport": "direct"}]}}}\n' >"$work/policy.json"
names=(after squid)
start after "$after" --listen 127.0.0.1:3128 --policy "$work/policy.json" --audit off --log-level warn --resolver 127.0.0.1
if [[ -n $before ]]; then
  start before "$before" --listen 127.0.0.1:3127 --policy "$work/policy.json" --audit off --log-level warn --resolver 127.0.0.1
  names=(before after squid)
fi
cat >"$work/squid.conf" <<CONF
http_port 127.0.0.1:3129
pid_filename $work/squid.pid
cache deny all
cache_mem 8 MB
access_log none
cache_log $work/squid-cache.log
coredump_dir $work
shutdown_lifetime 0 seconds
http_access allow all
CONF
touch "$work/squid-cache.log"
chmod 666 "$work/squid-cache.log"
start squid squid -N -f "$work/squid.conf"
declare -A port=([before]=3127 [after]=3128 [squid]=3129)
wait_port 10.200.0.1 9080
for n in "${names[@]}"; do wait_port 127.0.0.1 "${port[$n]}"; done
hz=$(getconf CLK_TCK)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

declare -A rps cpu failed
for ((r = 0; r < rounds; r++)); do
  for ((i = 0; i < ${#names[@]}; i++)); do
    n=${names[$(((i + r) % ${#names[@]}))]}
    pid_var=pid_$n
    t0=$(cpu_ticks "${!pid_var}")
    in_ns ab -q $keepalive -c 8 -n "$requests" -X "127.0.0.1:${port[$n]}" http://10.200.0.1:9080/1k >"$work/ab.out" 2>&1 || true
    t1=$(cpu_ticks "${!pid_var}")
    rps[$n]+="$(awk '/^Requests per second/ { print $4 }' "$work/ab.out") "
    failed[$n]+="$(awk '/^Failed requests/ { print $3 }' "$work/ab.out") "
    cpu[$n]+="$(awk -v t=$((t1 - t0)) -v hz="$hz" -v n="$requests" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }') "
    echo "round $((r + 1)) $n: $(awk '/^Requests per second/ { print $4 }' "$work/ab.out") requests/s" >&2
  done
done
median() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
echo "| proxy (ab ${keepalive:-without -k} -c 8) | requests/s (median of $rounds) | failed | proxy CPU µs/request |"
echo "|---|---:|---:|---:|"
for n in "${names[@]}"; do
  label=$n
  [[ $n == before ]] && label="lens-proxy before ($before)"
  [[ $n == after ]] && label="lens-proxy ($after)"
  echo "| $label | $(median "${rps[$n]}") | $(median "${failed[$n]}") | $(median "${cpu[$n]}") |"
done
