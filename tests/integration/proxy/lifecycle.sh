#!/usr/bin/env bash
# lens-proxy over time: a policy change (file rename, and SIGHUP) re-judges
# open tunnels and closes those no longer allowed, with an audit event,
# while allowed ones stay open; SIGTERM stops accepting and lets open
# tunnels finish, and --drain-timeout closes the ones that do not.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../netns.sh"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

start_dns_upstream
serve_py "$outside" echo7000 echo --listen 10.199.0.2:7000
serve_py "$outside" echo7001 echo --listen 10.199.0.2:7001

allow_both='{"network": {"defaultVerdict": "deny", "defaultTransport": "direct", "egress": {"http": [
  {"match": "origin.test:7000", "verdict": "allow", "transport": "direct"},
  {"match": "other.test:7001", "verdict": "allow", "transport": "direct"}]}}}'
allow_one='{"network": {"defaultVerdict": "deny", "defaultTransport": "direct", "egress": {"http": [
  {"match": "other.test:7001", "verdict": "allow", "transport": "direct"}]}}}'

# hold TARGET NAME [SECONDS]: a tunnel client in the background; its status lines go to $work/NAME.
hold() {
  in_sbx "$python" "$servers_py" hold --proxy 127.0.0.1:3128 --target "$1" --status "$work/$2" --seconds "${3:-20}" &
  pids+=($!)
  for ((i = 0; i < 100; i++)); do
    [[ -s $work/$2 ]] && return 0
    sleep 0.05
  done
}
# wait_status_line NAME PATTERN: until the status file has a matching line (5 s).
wait_status_line() {
  for ((i = 0; i < 100; i++)); do
    grep -Eq "$2" "$work/$1" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

write_policy "$allow_both"
start_proxy

echo "== reload by rename"
hold origin.test:7000 a
hold other.test:7001 b
check "both tunnels are established" -- bash -c "grep -q established '$work/a' && grep -q established '$work/b'"
write_policy "$allow_one"
check "the tunnel the new policy refuses is closed" -- wait_status_line a '^closed after'
sleep 0.5
check "the tunnel it still allows stays open" -- bash -c "! grep -q closed '$work/b'"
check "an audit event says policy-changed, with the new decision" -- \
  audit_has '"action":"CONNECT origin.test:7000","method":"CONNECT","host":"origin.test","result":"failure","metadata":\{"phase":"close","reason":"policy-changed".*"decision_reason":"policy-deny"'
check "a new tunnel there is refused" -- test "$(raw 127.0.0.1 3128 'CONNECT origin.test:7000 HTTP/1.1\r\n\r\n' | head -n 1 | tr -d '\r')" = "HTTP/1.1 403 Forbidden"

echo "== a file changed in place, then SIGHUP"
hold other.test:7001 c
# Change the file in place without a rename: inotify may see it too, SIGHUP must.
printf '%s\n' "$allow_both" >"$work/policy.json.new"
sed -i 's/"other.test:7001", "verdict": "allow"/"other.test:7001", "verdict": "ask"/' "$work/policy.json.new"
cat "$work/policy.json.new" >"$work/policy.json"
kill -HUP "$proxy_pid"
check "after the change and SIGHUP an ask verdict closes the open tunnels to it" -- wait_status_line c '^closed after'
check "... and the earlier one" -- wait_status_line b '^closed after'

echo "== SIGTERM: drain"
write_policy "$allow_both"
sleep 0.3
hold origin.test:7000 d 1.5
kill -TERM "$proxy_pid"
sleep 0.3
check "after SIGTERM new clients are not accepted" -- \
  bash -c "! in_sbx '$python' -c 'import socket; socket.create_connection((\"127.0.0.1\", 3128), timeout=1)' 2>/dev/null"
check "the open tunnel keeps working until its client is done" -- wait_status_line d '^open$'
rc=0
wait "$proxy_pid" || rc=$?
check "lens-proxy exits 0 once the tunnel is gone" -- test "$rc" -eq 0
check "... without waiting for the drain timeout (no drain-timeout close)" -- bash -c "! grep -q drain-timeout '$work/audit.log'"

echo "== SIGTERM: drain timeout"
start_proxy --drain-timeout 0.5
hold origin.test:7000 e
start=$(date +%s%N)
kill -TERM "$proxy_pid"
check "a tunnel still open at the drain timeout is closed" -- wait_status_line e '^closed after'
rc=0
wait "$proxy_pid" || rc=$?
elapsed=$((($(date +%s%N) - start) / 1000000))
check "lens-proxy exits 0 after about --drain-timeout (${elapsed} ms)" -- test "$rc" -eq 0 -a "$elapsed" -lt 3000
check "the close event says drain-timeout" -- audit_has '"action":"CONNECT origin.test:7000".*"phase":"close","reason":"drain-timeout"'
check "the statistics line is printed at exit" -- grep -q '"closed_by_drain":1' "$work/proxy.err"

echo "== audit events nobody receives are counted at exit"
rm -f "$work/proxy.ready"
nsenter --net="/run/netns/$sbx" "$proxy" --listen 127.0.0.1:3128 --resolver 10.199.0.2 --policy "$work/policy.json" \
  --audit "unix:$work/nobody.sock" --ready-file "$work/proxy.ready" 2>"$work/nobody.err" &
proxy_pid=$!
pids+=("$proxy_pid")
for ((i = 0; i < 100; i++)); do [[ -e $work/proxy.ready ]] && break; sleep 0.05; done
in_sbx curl -s -o /dev/null --proxy http://127.0.0.1:3128 http://denied.test/ || true
stop_proxy
check "lens-proxy says how many audit events were lost" -- \
  grep -Eq '^lens-proxy: [1-9][0-9]* audit events could not be delivered' "$work/nobody.err"

finish
