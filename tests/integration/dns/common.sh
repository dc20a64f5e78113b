# lens-dns in the sandbox namespace in front of dnsmasq in the outside one
# (source after ../lib.sh and ../netns.sh).
#
# dnsmasq serves a local zone on 10.199.0.2:53 with TTL 300 and logs every
# query it receives to $work/upstream.log.

command -v dnsmasq >/dev/null || skip "needs dnsmasq (Debian package dnsmasq-base)"
command -v dig >/dev/null || skip "needs dig (Debian package bind9-dnsutils)"
dns=$bin_dir/lens-dns
[[ -x $dns ]] || skip "lens-dns is not built"

# 40 TXT records of 40 bytes: about 2 KB, over dnsmasq's 512-byte UDP limit below.
big_txt=()
for i in $(seq -w 1 40); do big_txt+=(--txt-record="big.test,record-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"); done

start_upstream() {
  nsenter --net="/run/netns/$outside" dnsmasq --keep-in-foreground --port=53 --listen-address=10.199.0.2 --bind-interfaces \
    --no-resolv --no-hosts --local-ttl=300 --edns-packet-max=512 --log-queries=extra \
    --log-facility="$work/upstream.log" --pid-file="$work/dnsmasq.pid" \
    --address=/allowed.test/192.0.2.10 --address=/allowed.test/2001:db8::10 \
    --address=/denied.test/192.0.2.66 --address=/wild.test/192.0.2.30 \
    --host-record=db.test,10.199.0.3 --host-record=control.test,10.199.0.9 --host-record=db2.test,10.199.0.3 --host-record=lo.test,127.0.0.5 \
    --dns-rr=allowed.test,65,000100 "${big_txt[@]}" &
  upstream_pid=$!
  pids+=("$upstream_pid")
  local i
  for ((i = 0; i < 100; i++)); do
    in_sbx dig @10.199.0.2 +time=1 +tries=1 +short allowed.test >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "FAIL: dnsmasq did not start" >&2
  exit 1
}

stop_upstream() {
  kill "$upstream_pid" 2>/dev/null || true
  wait "$upstream_pid" 2>/dev/null || true
}

# start_dns [--port P] ARGS...: lens-dns in the sandbox on 127.0.0.1:P (5355);
# waits for its ready file.
start_dns() {
  local port=5355
  if [[ ${1:-} == --port ]]; then
    port=$2
    shift 2
  fi
  rm -f "$work/ready"
  nsenter --net="/run/netns/$sbx" "$dns" --listen "127.0.0.1:$port" --upstream 10.199.0.2 --state-dir "$work" --policy "$work/policy.json" \
    --audit "$work/audit.log" --ready-file "$work/ready" "$@" 2>>"$work/dns.err" &
  dns_pid=$!
  pids+=("$dns_pid")
  local i
  for ((i = 0; i < 100; i++)); do
    [[ -e $work/ready ]] && return 0
    kill -0 "$dns_pid" 2>/dev/null || break
    sleep 0.05
  done
  echo "FAIL: lens-dns did not become ready: $(cat "$work/dns.err")" >&2
  exit 1
}

# q ARGS...: dig against lens-dns from the sandbox.
q() { in_sbx dig @127.0.0.1 -p 5355 +time=5 +tries=1 "$@"; }

upstream_saw() { grep -q "query\[$2\] $1 from" "$work/upstream.log"; }
