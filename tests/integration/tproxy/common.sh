# lens-tproxy in the sandbox namespace behind the real cage (lens-lockdown
# apply), with origins, a DNS server and raw servers in the outside one
# (source after ../lib.sh and ../netns.sh).
#
# outside (from ../proxy/common.sh): dnsmasq on 10.199.0.2:53, HTTP origins
# on 10.199.0.2:8080 and [fd99::2]:8080, an HTTPS origin on 10.199.0.2:8443
# (origin.test, CA $work/ca.crt); netprobe servers (they speak first) on
# 8080/853/5432 of 10.199.0.3 and [fd99::3], and 5432 of 10.199.0.2 and
# [fd99::2]; an echo server on 10.199.0.2:7000.
# sandbox: the cage, lens-tproxy on 127.0.0.1:3129 and [::1]:3129.
#
# The workload never uses a proxy variable: curl runs with --noproxy '*'
# and names resolved by --resolve.

source "$(dirname "${BASH_SOURCE[0]}")/../proxy/common.sh"
tproxy=$bin_dir/lens-tproxy
[[ -x $tproxy ]] || skip "lens-tproxy is not built"
tproxy_pid=""

start_tproxy_world() {
  make_certs
  start_dns_upstream
  start_origins
  serve_py "$outside" echo echo --listen 10.199.0.2:7000
  serve "$outside" outside --tcp 10.199.0.3:8080 --tcp 10.199.0.3:5432 --tcp '[fd99::3]:5432' \
    --tcp 10.199.0.2:5432 --tcp '[fd99::2]:5432' --tcp 10.199.0.3:8443
}

# start_tproxy ARGS...: lens-tproxy in the sandbox (its default listeners),
# waiting for its ready file; stderr to $work/tproxy.err, audit to
# $work/audit.log.
start_tproxy() {
  rm -f "$work/tproxy.ready"
  mkdir -p "$work/state"
  nsenter --net="/run/netns/$sbx" "$tproxy" --state-dir "$work/state" --resolver 10.199.0.2 --policy "$work/policy.json" \
    --audit "$work/audit.log" --ready-file "$work/tproxy.ready" "$@" 2>>"$work/tproxy.err" &
  tproxy_pid=$!
  pids+=("$tproxy_pid")
  local i
  for ((i = 0; i < 100; i++)); do
    [[ -e $work/tproxy.ready ]] && return 0
    kill -0 "$tproxy_pid" 2>/dev/null || break
    sleep 0.05
  done
  echo "FAIL: lens-tproxy did not become ready: $(cat "$work/tproxy.err")" >&2
  exit 1
}

# applied_count: policy-applied events so far; wait_applied N: until there are more than N.
applied_count() { grep -c '"reason":"policy-applied"' "$work/audit.log" 2>/dev/null || true; }
wait_applied() {
  local i
  for ((i = 0; i < 100; i++)); do
    (($(applied_count) > $1)) && return 0
    sleep 0.05
  done
  echo "FAIL: lens-tproxy did not apply the new policy" >&2
  exit 1
}

# tc ARGS...: curl in the sandbox, no proxy; prints the body (or -w output),
# never fails.
tc() { in_sbx curl -sS --noproxy '*' --max-time 10 "$@" 2>&1 || true; }
# tstatus ARGS...: the HTTP status curl got (000 when the connection failed).
tstatus() { in_sbx curl -s -o /dev/null --noproxy '*' --max-time 10 -w '%{http_code}' "$@" 2>/dev/null || true; }

# audit_count REGEX: lines of the audit log matching the extended regex.
audit_count() { grep -Ec "$1" "$work/audit.log" || true; }
