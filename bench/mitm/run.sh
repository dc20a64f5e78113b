#!/usr/bin/env bash
# TLS interception: lens-proxy side by side with mitmdump and squid ssl-bump,
# and the direct TLS connection as the physical limit, in one run.
#
#   bench/mitm/run.sh [--rounds N] [--seconds S] [--big-mib N] [--idle N] [--quick]
#                     [--peers mitmdump,squid|none] [--bulk-only]
#                     [--credentials [--upload-mib N]] [--body-rules] [--h2]
#
# Two network namespaces joined by a veth pair (the proxies' safety floor
# refuses loopback origins): the client one has the proxies on 127.0.0.1 and
# the load client; the server one has the origin, nginx with TLS on
# 10.202.0.2:8443 (a certificate for origin.test and *.bench.test from a CA
# made here, which every proxy is told to trust), keep-alive, serving a
# 1 KiB file and a --big-mib (1,024) MiB one from tmpfs, and dnsmasq
# answering origin.test and every name under bench.test with its address.
# Every proxy intercepts (lens-proxy: a route with rules; mitmdump: always;
# squid: ssl_bump bump all); the client trusts only that proxy's CA.
#
# Figures, from bench/mitm/mitm_load.cpp (8 client threads):
#   - keep-alive: GETs of 1 KiB back to back on 8 connections, --seconds;
#   - new connection: a new CONNECT + full TLS handshake per GET, same host
#     (an intercepting proxy's certificate cache hits);
#   - new host: the same, each connection to a name never used before (the
#     proxy mints a certificate for each);
#   - bulk: one download of the big file through interception (and direct),
#     with the proxy's peak RSS (VmHWM, reset before) during it;
#   - idle: resident memory (VmRSS) of the proxy before and with --idle
#     (1,000) intercepted connections open, each after one GET (first round
#     only: memory freed when they close stays with the process);
#   - origin connections: TCP connections the origin accepted per client
#     connection (a proxy that pools origin connections makes fewer);
#   - CPU: user + system time of the proxy per request, connection or GiB
#     (from /proc/PID/stat; for squid its certificate helpers are included).
# Targets alternate within each round in a rotating order; the tables have
# medians over the rounds. Needs root; installs nginx-light, dnsmasq-base and
# mitmproxy when missing, and unpacks Debian's squid-openssl (the OpenSSL
# build of squid, which ssl-bump needs) into a cache directory without
# installing it: installing it would remove the squid package the test suite
# uses. A peer that cannot be had is skipped with a message. Builds
# lens-proxy and the load client in Release (build-bench/, or
# $LENS_BENCH_BUILD_DIR). --peers limits the peers run beside lens-proxy
# (none: lens and direct only); --bulk-only measures the download alone.
# --credentials measures the credentials stage instead (bench/mitm/
# credentials.sh): lens-proxy with a header injection and SigV4 re-signing
# against plain interception, and an aws-chunked upload of --upload-mib MiB
# against an UNSIGNED-PAYLOAD one. --body-rules measures GraphQL body
# judgment instead (bench/mitm/body_rules.sh): a 2 KiB GraphQL POST under a
# graphql matcher against the same request under a method/path rule. --h2
# measures HTTP/2 to the client instead (bench/mitm/h2.sh): h2load with 100
# streams on each of 8 connections through lens-proxy and mitmdump (a
# CONNECT relay in front of each), lens-proxy's HTTP/1.1 keep-alive figure
# beside them, and one download of the big file over h2 and over HTTP/1.1.
# Markdown to stdout, progress to stderr.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
rounds=5
seconds=4
big_mib=1024
idle=1000
peers=mitmdump,squid
bulk_only=
credentials=
body_rules=
h2=
upload_mib=1024
while (($#)); do
  case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --big-mib) big_mib=$2; shift 2 ;;
    --idle) idle=$2; shift 2 ;;
    --quick) rounds=1; seconds=1; big_mib=64; idle=100; shift ;;
    --peers) peers=$2; shift 2 ;;
    --bulk-only) bulk_only=1; shift ;;
    --credentials) credentials=1; shift ;;
    --body-rules) body_rules=1; shift ;;
    --h2) h2=1; shift ;;
    --upload-mib) upload_mib=$2; shift 2 ;;
    -h | --help) sed -n '2,53p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ $(id -u) -eq 0 ]] || { echo "run.sh: needs root (network namespaces)" >&2; exit 77; }

# --- what runs -----------------------------------------------------------------

apt_install() {
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >&2 ||
    { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >&2; }
}
command -v nginx >/dev/null || apt_install nginx-light || true
command -v dnsmasq >/dev/null || apt_install dnsmasq-base || true
command -v mitmdump >/dev/null || apt_install mitmproxy || true
for tool in nginx dnsmasq openssl; do
  command -v $tool >/dev/null || { echo "run.sh: $tool is missing (apt-get install nginx-light dnsmasq-base openssl)" >&2; exit 77; }
done

# squid_openssl: sets squid and certgen to an OpenSSL build of squid, or fails.
squid_openssl() {
  squid=$(command -v squid || echo /usr/sbin/squid)
  certgen=/usr/lib/squid/security_file_certgen
  if [[ -x $squid && -x $certgen && $("$squid" -v) == *--with-openssl* ]]; then return 0; fi
  local cache=${LENS_BENCH_CACHE:-/var/cache/lens-bench} dir version
  version=$(apt-cache policy squid-openssl 2>/dev/null | awk '/Candidate:/ { print $2 }')
  [[ -n $version && $version != "(none)" ]] || return 1
  dir=$cache/squid-openssl-$version
  if [[ ! -x $dir/usr/sbin/squid ]]; then
    dpkg-query -W -f='${Status}' squid-common 2>/dev/null | grep -q 'install ok installed' || apt_install squid-common || return 1
    mkdir -p "$cache/download"
    chown _apt "$cache/download" 2>/dev/null || true  # apt fetches as _apt when it can
    (cd "$cache/download" && apt-get download "squid-openssl=$version" >&2) || return 1
    rm -rf "$dir.tmp"
    dpkg-deb -x "$cache/download/squid-openssl_${version//:/%3a}_$(dpkg --print-architecture).deb" "$dir.tmp" || return 1
    mv "$dir.tmp" "$dir"
  fi
  squid=$dir/usr/sbin/squid
  certgen=$dir/usr/lib/squid/security_file_certgen
  "$squid" -v >/dev/null
}

for peer in ${peers//,/ }; do
  case $peer in
    mitmdump | squid | none) ;;
    *) echo "run.sh: unknown peer $peer (mitmdump, squid or none)" >&2; exit 2 ;;
  esac
done
names=(lens)
if [[ ,$peers, == *,mitmdump,* ]]; then
  if command -v mitmdump >/dev/null; then names+=(mitmdump); else echo "run.sh: mitmdump is missing (apt-get install mitmproxy): skipped" >&2; fi
fi
if [[ ,$peers, == *,squid,* ]]; then
  if squid_openssl; then names+=(squid); else echo "run.sh: no OpenSSL build of squid (Debian squid-openssl): squid skipped" >&2; fi
fi

build="${LENS_BENCH_BUILD_DIR:-$root/build-bench}"
configure=(-S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DLENS_BENCH=ON -DLENS_TESTS=OFF -DLENS_FUZZ=OFF -DLENS_SANITIZE=OFF)
if [[ ! -f "$build/CMakeCache.txt" ]] && command -v ninja >/dev/null 2>&1; then configure+=(-G Ninja); fi
cmake "${configure[@]}" >&2
cmake --build "$build" --target lens-proxy lens-sign lens_mitm_load -j "${LENS_BENCH_JOBS:-$(nproc)}" >&2
lens=$build/cmd/lens-proxy
load=$build/bench/mitm/lens_mitm_load

# --- the two namespaces ----------------------------------------------------------

cli=lens-mitm-cli-$$
srv=lens-mitm-srv-$$
work=$(mktemp -d)
chmod 755 "$work"
www=/dev/shm/lens-mitm-$$
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  ip netns del "$cli" 2>/dev/null || true
  ip netns del "$srv" 2>/dev/null || true
  rm -rf "$www"
  if [[ -n ${BENCH_KEEP:-} ]]; then echo "run.sh: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

ip netns add "$cli"
ip netns add "$srv"
ip link add mc0 netns "$cli" type veth peer name ms0 netns "$srv"
for ns in "$cli" "$srv"; do
  ip -n "$ns" link set lo up
  ip netns exec "$ns" sysctl -qw net.ipv4.ip_local_port_range="1024 65000" net.ipv4.tcp_tw_reuse=1
done
ip -n "$cli" addr add 10.202.0.1/24 dev mc0
ip -n "$srv" addr add 10.202.0.2/24 dev ms0
ip -n "$cli" link set mc0 up
ip -n "$srv" link set ms0 up
in_cli() { nsenter --net="/run/netns/$cli" "$@"; }
ulimit -n "$(ulimit -Hn)"

start() {  # start NAME NS COMMAND...: background process; pid_NAME is the process measured
  local name=$1 ns=$2
  shift 2
  # nsenter execs the command: $! is that process.
  nsenter --net="/run/netns/$ns" "$@" >"$work/$name.log" 2>&1 &
  pids+=($!)
  eval "pid_$name=$!"
}
wait_port() {  # wait_port NS ADDR PORT
  local i
  for ((i = 0; i < 400; i++)); do
    nsenter --net="/run/netns/$1" bash -c "exec 3<>/dev/tcp/$2/$3" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "run.sh: nothing listens on $2:$3; see $work/*.log" >&2
  exit 1
}

# --- the origin ----------------------------------------------------------------------

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/ca.key" -subj "/CN=lens bench origin CA" -days 2 \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign -out "$work/ca.crt" 2>/dev/null
openssl req -new -newkey rsa:2048 -nodes -keyout "$work/origin.key" -subj "/CN=origin.test" -out "$work/origin.csr" 2>/dev/null
printf 'subjectAltName=DNS:origin.test,DNS:*.bench.test,IP:10.202.0.2\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$work/origin.ext"
openssl x509 -req -in "$work/origin.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" -CAcreateserial -days 2 \
  -extfile "$work/origin.ext" -out "$work/origin.crt" 2>/dev/null

mkdir -p "$www" "$work/nginx"
head -c 1024 /dev/urandom >"$www/small"
big_note=""
if ! fallocate -l "$((big_mib << 20))" "$www/big" 2>/dev/null; then
  rm -f "$www/big"
  big_mib=256
  big_note=" (tmpfs too small for the asked size: 256 MiB)"
  fallocate -l "$((big_mib << 20))" "$www/big" || truncate -s "$((big_mib << 20))" "$www/big"
fi
chmod 755 "$www"
chmod 644 "$www"/*
cat >"$work/nginx/nginx.conf" <<CONF
worker_processes 1;
daemon off;
master_process off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 16384; }
http {
  access_log off;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  default_type application/octet-stream;
  keepalive_requests 10000000;
  keepalive_timeout 600s;
  server {
    listen 10.202.0.2:8443 ssl;
    ssl_certificate $work/origin.crt;
    ssl_certificate_key $work/origin.key;
    root $www;
    location /aws/ { client_max_body_size 0; return 200 "ok\n"; }  # --credentials: any method, any body
  }
  server {  # --h2: the same files over HTTP/2 (ALPN h2), for the origin-first figures
    listen 10.202.0.2:8444 ssl http2;
    ssl_certificate $work/origin.crt;
    ssl_certificate_key $work/origin.key;
    http2_max_concurrent_streams 128;
    keepalive_requests 10000000;
    root $www;
  }
}
CONF
start nginx "$srv" nginx -e "$work/nginx/error.log" -p "$work/nginx" -c "$work/nginx/nginx.conf"
start dnsmasq "$srv" dnsmasq --keep-in-foreground --port=53 --listen-address=10.202.0.2 --bind-interfaces \
  --no-resolv --no-hosts --pid-file="$work/dnsmasq.pid" --address=/origin.test/10.202.0.2 --address=/bench.test/10.202.0.2
wait_port "$srv" 10.202.0.2 8443

# --- the proxies -------------------------------------------------------------------------

declare -A port=([direct]="" [lens]=3128 [squid]=3129 [mitmdump]=3131)
declare -A cafile=([direct]=$work/ca.crt)

mkdir -p "$work/lens"
"$lens" ca init --state-dir "$work/lens" >/dev/null
cafile[lens]=$work/lens/ca/ca.crt
printf '%s\n' '{"type": "policy", "network": {"defaultVerdict": "deny", "defaultTransport": "direct", "egress": {"http": [
  {"match": "origin.test:8443", "verdict": "allow", "transport": "direct", "rules": [{"method": "GET", "path": "/**"}, {"method": "POST", "path": "/aws/**"}, {"method": "PUT", "path": "/aws/**"}]},
  {"match": "origin.test:8444", "verdict": "allow", "transport": "direct", "rules": [{"method": "GET", "path": "/**"}]},
  {"match": "*.bench.test:8443", "verdict": "allow", "transport": "direct", "rules": [{"method": "GET", "path": "/**"}, {"method": "POST", "path": "/aws/**"}, {"method": "PUT", "path": "/aws/**"}]}]}}}' \
  >"$work/policy.json"
# --h2: HTTP/2 to the client whatever the origin speaks (nginx here offers
# no h2; --http2 on would offer h2load the origin's http/1.1, as mitmdump
# does unless told otherwise).
lens_h2=()
((h2)) && lens_h2=(--http2 always)
start lens "$cli" "$lens" --state-dir "$work/lens" --listen 127.0.0.1:3128 --policy "$work/policy.json" \
  --origin-ca "$work/ca.crt" --audit off --log-level warn --max-connections 100000 --idle-timeout 600 \
  --resolver 10.202.0.2 "${lens_h2[@]}"

if [[ " ${names[*]} " == *" mitmdump "* ]]; then
  # mitmdump resolves with the system resolver: a private mount namespace
  # gives it a resolv.conf naming the dnsmasq of the server namespace.
  # stream_large_bodies: without it mitmdump holds a whole body in memory
  # before sending it on.
  echo "nameserver 10.202.0.2" >"$work/resolv.conf"
  mkdir -p "$work/mitm"
  # shellcheck disable=SC2016  # expanded by the inner bash
  start mitmdump "$cli" unshare --mount --propagation private bash -c 'mount --bind "$1" /etc/resolv.conf && shift && exec "$@"' \
    _ "$work/resolv.conf" mitmdump --mode regular --listen-host 127.0.0.1 --listen-port 3131 -q \
    --set confdir="$work/mitm" --set ssl_verify_upstream_trusted_ca="$work/ca.crt" --set stream_large_bodies=1m
  cafile[mitmdump]=$work/mitm/mitmproxy-ca-cert.pem
fi

if [[ " ${names[*]} " == *" squid "* ]]; then
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/squid-ca.key" -subj "/CN=squid bench CA" -days 2 \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign -out "$work/squid-ca.crt" 2>/dev/null
  cafile[squid]=$work/squid-ca.crt
  "$certgen" -c -s "$work/squid-ssl-db" -M 16MB >/dev/null
  cat >"$work/squid.conf" <<CONF
http_port 127.0.0.1:3129 ssl-bump tls-cert=$work/squid-ca.crt tls-key=$work/squid-ca.key generate-host-certificates=on dynamic_cert_mem_cache_size=16MB
sslcrtd_program $certgen -s $work/squid-ssl-db -M 16MB
sslcrtd_children 8 startup=1 idle=1
ssl_bump bump all
tls_outgoing_options cafile=$work/ca.crt
dns_nameservers 10.202.0.2
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
  chmod 644 "$work/squid-ca.key"
  chown -R proxy:proxy "$work/squid-ssl-db" 2>/dev/null || chmod -R a+rwX "$work/squid-ssl-db"
  start squid "$cli" "$squid" -N -f "$work/squid.conf"
fi

for t in "${names[@]}"; do wait_port "$cli" 127.0.0.1 "${port[$t]}"; done
declare -A pidof=([direct]="" [lens]=$pid_lens [mitmdump]=${pid_mitmdump:-} [squid]=${pid_squid:-})
proxy_args() {  # proxy_args TARGET: how the load client reaches the origin
  if [[ $1 == direct ]]; then echo "--connect 10.202.0.2:8443"; else echo "--proxy 127.0.0.1:${port[$1]}"; fi
}
run_load() {  # run_load TARGET MODE ARGS...
  local t=$1 mode=$2
  shift 2
  # shellcheck disable=SC2046
  in_cli "$load" "$mode" --host origin.test --port 8443 $(proxy_args "$t") --cafile "${cafile[$t]}" "$@"
}

# Each target must serve one intercepted GET before the rounds; one that
# cannot is left out with its log.
working=()
for t in direct "${names[@]}"; do
  if line=$(run_load "$t" idle --count 1 --path /small </dev/null 2>"$work/check-$t.err"); then
    working+=("$t")
  else
    echo "run.sh: $t fails a first request, left out: $(cat "$work/check-$t.err"); logs in $work (BENCH_KEEP=1 keeps them)" >&2
  fi
done
[[ " ${working[*]} " == *" lens "* && " ${working[*]} " == *" direct "* ]] || { BENCH_KEEP=1; exit 1; }

hz=$(getconf CLK_TCK)
# cpu_ticks PID: user + system ticks of PID and its descendants (squid's helpers).
cpu_ticks() {
  [[ -n $1 ]] || { echo 0; return; }
  { cat /proc/[0-9]*/stat 2>/dev/null || true; } | sed 's/^\([0-9]*\) (.*) /\1 /' |
    awk -v root="$1" '{ parent[$1] = $3; ticks[$1] = $13 + $14 }
      END { for (p in ticks) { q = p; for (d = 0; d < 8 && q != "" && q != root; d++) q = parent[q]; if (q == root) s += ticks[p] } print s + 0 }'
}
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
# origin_opens: TCP connections accepted so far in the server namespace.
origin_opens() {
  nsenter --net="/run/netns/$srv" cat /proc/net/snmp |
    awk '/^Tcp:/ { if (!n++) { for (i = 2; i <= NF; i++) if ($i == "PassiveOpens") c = i } else print $c }'
}
if [[ -n $credentials ]]; then
  # shellcheck source=bench/mitm/credentials.sh
  source "$root/bench/mitm/credentials.sh"
  exit 0
fi
if [[ -n $body_rules ]]; then
  # shellcheck source=bench/mitm/body_rules.sh
  source "$root/bench/mitm/body_rules.sh"
  exit 0
fi
if [[ -n $h2 ]]; then
  # shellcheck source=bench/mitm/h2.sh
  source "$root/bench/mitm/h2.sh"
  exit 0
fi

for ((r = 0; r < rounds; r++)); do
  echo "round $((r + 1))/$rounds" >&2
  for ((i = 0; i < ${#working[@]}; i++)); do
    t=${working[$(((i + r) % ${#working[@]}))]}
    pid=${pidof[$t]}
    modes=()
    [[ -n $bulk_only ]] || modes=(keepalive newconn)
    [[ -n $bulk_only || $t == direct ]] || modes+=(newhost)
    for mode in "${modes[@]}"; do
      host=()  # newhost: names under bench.test, never the same twice in a run
      [[ $mode != newhost ]] || host=(--host bench.test --prefix "r$r-$t")
      opens=$(origin_opens)
      before=$(cpu_ticks "$pid")
      line=$(run_load "$t" "$mode" --path /small --concurrency 8 --seconds "$seconds" "${host[@]}" 2>>"$work/load-$t.err")
      after=$(cpu_ticks "$pid")
      opens=$(($(origin_opens) - opens))
      echo "$mode $t ${line#"$mode" } ticks=$((after - before)) origin=$opens" >>"$work/results"
      echo "  $t $line, cpu ticks $((after - before)), origin connections $opens" >&2
      [[ $mode == keepalive ]] || sleep 1  # let the TIME_WAIT sockets of the burst settle
    done
    # Peak RSS of the download: 5 in clear_refs resets VmHWM.
    [[ -z $pid ]] || echo 5 >"/proc/$pid/clear_refs"
    before=$(cpu_ticks "$pid")
    line=$(run_load "$t" bulk --path /big 2>>"$work/load-$t.err") || line="bulk bytes=0 seconds=0"
    after=$(cpu_ticks "$pid")
    peak=$([[ -z $pid ]] || awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status")
    echo "bulk $t ${line#bulk } ticks=$((after - before)) peak_kb=${peak:-0}" >>"$work/results"
    echo "  $t $line, cpu ticks $((after - before)), peak RSS ${peak:-0} kB" >&2
    # Idle connections in the first round only: the memory freed when they
    # close stays with the process, and a later round's would reuse it.
    if [[ $t != direct && $r == 0 && -z $bulk_only ]]; then
      base=$(rss_kb "$pid")
      coproc IDLE { run_load "$t" idle --path /small --count "$idle" 2>>"$work/load-$t.err"; }
      read -r opened <&"${IDLE[0]}" || opened="idle open=0"
      sleep 0.5
      held=$(rss_kb "$pid")
      eval "exec ${IDLE[1]}>&-"
      wait "$IDLE_PID" || true
      echo "idle $t ${opened#idle } base_kb=$base held_kb=$held" >>"$work/results"
      echo "  $t $opened, RSS $base kB -> $held kB" >&2
      sleep 1
    fi
  done
done
for t in "${working[@]}"; do
  [[ -z ${pidof[$t]} ]] || kill -0 "${pidof[$t]}" 2>/dev/null || echo "run.sh: $t exited during the run; see $work/$t.log" >&2
done
if [[ -s $work/load-lens.err ]]; then
  echo "run.sh: the load client's errors through lens-proxy (first lines):" >&2
  head -5 "$work/load-lens.err" >&2
fi
if [[ -s $work/lens.log ]]; then
  echo "run.sh: lens-proxy said (first lines):" >&2
  head -5 "$work/lens.log" >&2
fi

squid_version="?"
mitm_version="?"
if [[ " ${working[*]} " == *" squid "* ]]; then squid_version=$("$squid" -v | sed -n '1s/.*Version \([0-9.]*\).*/\1/p'); fi
if [[ " ${working[*]} " == *" mitmdump "* ]]; then mitm_version=$(mitmdump --version 2>/dev/null | sed -n 's/^Mitmproxy: //p'); fi
python3 - "$work/results" "$hz" "$seconds" "$idle" "$big_mib" "$big_note" "$rounds" "$squid_version" "$mitm_version" <<'PY'
import statistics, sys
path, hz, seconds, idle, big_mib, big_note, rounds, squid_v, mitm_v = sys.argv[1:]
hz, idle, big_mib = int(hz), int(idle), int(big_mib)
data = {}
for line in open(path):
    kind, target, *fields = line.split()
    data.setdefault((kind, target), []).append(dict(f.split("=", 1) for f in fields))
names = {"direct": "direct TLS (no proxy)", "lens": "lens-proxy", "mitmdump": f"mitmdump {mitm_v}",
         "squid": f"squid {squid_v} ssl-bump"}
present = [t for t in names if any(k[1] == t for k in data)]

def col(kind, target, fn):
    rows = data.get((kind, target), [])
    vals = [v for v in (fn(r) for r in rows) if v is not None]
    return statistics.median(vals) if vals else None

rate = lambda r: int(r["done"]) / float(r["seconds"])
cpu_us = lambda r: int(r["ticks"]) / hz / int(r["done"]) * 1e6 if int(r["done"]) else None
fmt = lambda v, f: "-" if v is None else format(v, f)

print(f"Medians over {rounds} round(s), targets alternating; 8 client threads, {seconds} s per figure; "
      f"origin nginx, TLS 1.3, 1 KiB body; proxy CPU = user + system time of the proxy process.\n")
for kind, title, unit in [("keepalive", "keep-alive: GET 1 KiB back to back on 8 connections", "req/s"),
                          ("newconn", "new connection per request (CONNECT + full TLS handshake, same host: cached leaf)", "conn/s"),
                          ("newhost", "new host name per connection (a leaf minted for each)", "conn/s")]:
    rows = [t for t in present if (kind, t) in data]
    if not rows:
        continue
    ref = col(kind, "mitmdump", rate)
    print(f"**{title}**\n")
    per = unit.split("/")[0]
    print(f"| target | {unit} | vs mitmdump | p50 ms | p99 ms | errors | proxy CPU µs per {per} | origin conns per {per} |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for t in rows:
        v = col(kind, t, rate)
        rel = f"{v / ref:.1f}x" if v and ref else "-"
        cpu = "-" if t == "direct" else fmt(col(kind, t, cpu_us), ",.0f")
        print(f"| {names[t]} | {fmt(v, ',.0f')} | {rel} | {fmt(col(kind, t, lambda r: int(r['p50_us']) / 1000), '.2f')} | "
              f"{fmt(col(kind, t, lambda r: int(r['p99_us']) / 1000), '.2f')} | {fmt(col(kind, t, lambda r: int(r['errors'])), '.0f')} | {cpu} | "
              f"{fmt(col(kind, t, lambda r: int(r['origin']) / int(r['done']) if int(r['done']) else None), '.3f')} |")
    print()

mbps = lambda r: int(r["bytes"]) / float(r["seconds"]) / 1e6 if int(r["bytes"]) else None
cpu_gib = lambda r: int(r["ticks"]) / hz / (int(r["bytes"]) / 2**30) if int(r["bytes"]) else None
print(f"**bulk: one {big_mib} MiB download{big_note}; idle: {idle} intercepted connections held open after one GET each "
      "(first round)**\n")
print("| target | bulk MB/s | vs direct | proxy CPU s/GiB | peak RSS MiB in bulk | RSS MiB before idle | RSS MiB with idle | KiB per idle connection |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
direct_mbps = col("bulk", "direct", mbps)
per_conn = {}
for t in present:
    v = col("bulk", t, mbps)
    rel = f"{v / direct_mbps * 100:.0f}%" if v and direct_mbps else "-"
    base = col("idle", t, lambda r: int(r["base_kb"]) / 1024)
    held = col("idle", t, lambda r: int(r["held_kb"]) / 1024)
    per_conn[t] = col("idle", t, lambda r: (int(r["held_kb"]) - int(r["base_kb"])) / int(r["open"]) if int(r["open"]) else None)
    cpu = "-" if t == "direct" else fmt(col("bulk", t, cpu_gib), ".2f")
    peak = "-" if t == "direct" else fmt(col("bulk", t, lambda r: int(r["peak_kb"]) / 1024), ",.0f")
    print(f"| {names[t]} | {fmt(v, ',.0f')} | {rel} | {cpu} | {peak} | {fmt(base, '.1f')} | {fmt(held, '.1f')} | {fmt(per_conn[t], '.1f')} |")
print()

ok = lambda c: "met" if c else "NOT met"
lens_ka, mitm_ka = col("keepalive", "lens", rate), col("keepalive", "mitmdump", rate)
lens_cpu = col("keepalive", "lens", cpu_us)
lens_bulk = col("bulk", "lens", mbps)
print("Targets (issue):\n")
if lens_ka and mitm_ka:
    print(f"- keep-alive req/s at least 5x mitmdump: {ok(lens_ka >= 5 * mitm_ka)} ({lens_ka / mitm_ka:.1f}x)")
else:
    print("- keep-alive req/s at least 5x mitmdump: not measured (no mitmdump)")
if lens_cpu is not None:
    print(f"- proxy CPU per keep-alive request at most 150 µs: {ok(lens_cpu <= 150)} ({lens_cpu:.0f} µs)")
if lens_bulk and direct_mbps:
    print(f"- bulk at least 0.5x direct TLS: {ok(lens_bulk >= 0.5 * direct_mbps)} ({lens_bulk / direct_mbps:.2f}x)")
if per_conn.get("lens") is not None:
    print(f"- at most 64 KiB per idle intercepted connection: {ok(per_conn['lens'] <= 64)} ({per_conn['lens']:.1f} KiB)")
PY
