#!/usr/bin/env bash
# lens-proxy's bounds: a request head over --max-header-size gets 431, a
# client that sends its head too slowly gets 408, clients beyond
# --max-connections get 503, idle tunnels are closed after --idle-timeout;
# and the errors on the way to a server: DNS failure 502, connection
# refused 502, connect timeout 504.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../netns.sh"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

make_certs
start_dns_upstream
start_origins
serve_py "$outside" echo echo --listen 10.199.0.2:7000
# 10.199.1.1 is routed into the outside namespace, which drops it: a connect there never completes.
ip -n "$sbx" route add 10.199.1.0/24 via 10.199.0.2
ip netns exec "$outside" sysctl -qw net.ipv4.ip_forward=0
in_out nft add table inet lenstest 2>/dev/null && in_out nft add chain inet lenstest in '{ type filter hook prerouting priority 0; }' &&
  in_out nft add rule inet lenstest in ip daddr 10.199.1.0/24 drop || skip "needs nftables to black-hole an address"

write_policy '{"network": {"defaultVerdict": "allow", "defaultTransport": "direct"}}'
start_proxy --max-header-size 2048 --header-timeout 0.5 --max-connections 3 --idle-timeout 1 --connect-timeout 0.5

echo "== request head size"
big=$(head -c 3000 /dev/zero | tr '\0' 'a')
out=$(raw 127.0.0.1 3128 "GET http://origin.test:8080/ HTTP/1.1\r\nX-Big: $big\r\n\r\n")
check "a head over --max-header-size gets 431 header-too-large" -- \
  has_lines "$out" '^HTTP/1.1 431 Request Header Fields Too Large' '^X-Lens-Reason: header-too-large'
out=$(raw 127.0.0.1 3128 "GET http://origin.test:8080/ HTTP/1.1\r\nX-Big: ${big:0:1500}\r\n\r\n")
check "a head under the limit goes through" -- grep -q '^origin GET /$' <<<"$out"

echo "== slow client"
start=$(date +%s%N)
out=$(in_sbx "$python" -c '
import socket
s = socket.create_connection(("127.0.0.1", 3128), timeout=5)
s.sendall(b"GET http://origin.test:8080/ HTTP/1.1\r\nHost: origin.test\r\n")
print(s.recv(4096).decode(errors="replace"))
' 2>&1 || true)
elapsed=$((($(date +%s%N) - start) / 1000000))
check "a head that does not finish gets 408 header-timeout" -- \
  has_lines "$out" '^HTTP/1.1 408 Request Timeout' '^X-Lens-Reason: header-timeout'
check "... after about --header-timeout (${elapsed} ms)" -- test "$elapsed" -ge 400 -a "$elapsed" -lt 3000

echo "== connection cap"
in_sbx "$python" - <<'PY' >"$work/cap.out" 2>&1 || true
import socket
held = [socket.create_connection(("127.0.0.1", 3128), timeout=5) for _ in range(3)]
for s in held:
    s.sendall(b"GET http://origin.test:8080/api HTTP/1.1\r\nHost: origin.test\r\n\r\n")
    s.recv(4096)
extra = socket.create_connection(("127.0.0.1", 3128), timeout=5)
print(extra.recv(4096).decode(errors="replace"))
PY
check "a client beyond --max-connections gets 503 connection-limit" -- \
  bash -c "grep -q '^HTTP/1.1 503' '$work/cap.out' && grep -q '^X-Lens-Reason: connection-limit' '$work/cap.out'"
sleep 0.3
check "once they are gone, clients are served again" -- grep -q '^origin GET /again$' <<<"$(pc http://origin.test:8080/again)"

echo "== idle tunnel"
in_sbx "$python" - <<'PY' >"$work/idle.out" 2>&1 || true
import socket, time
s = socket.create_connection(("127.0.0.1", 3128), timeout=10)
s.sendall(b"CONNECT origin.test:7000 HTTP/1.1\r\n\r\n")
print(s.recv(4096).split(b"\r\n")[0].decode())
s.sendall(b"ping")
print(s.recv(4096).decode())
start = time.monotonic()
data = s.recv(4096)
print(f"closed={not data} after={time.monotonic() - start:.1f}")
PY
check "the tunnel works" -- grep -q '^ping$' "$work/idle.out"
check "an idle tunnel is closed after --idle-timeout" -- grep -Eq '^closed=True after=(0\.[89]|1\.[0-9])' "$work/idle.out"
check "the close event says idle-timeout with the bytes" -- \
  audit_has '"action":"CONNECT origin.test:7000".*"phase":"close","reason":"idle-timeout","bytes_up":4,"bytes_down":4'

echo "== errors on the way to the server"
out=$(pc -i http://nosuch.test:8080/)
check "an unknown name: 502 dns-failure" -- \
  has_lines "$out" '^HTTP/1.1 502' '^X-Lens-Reason: dns-failure'
out=$(pc -i http://origin.test:9/)
check "a closed port: 502 connect-failed" -- \
  has_lines "$out" '^HTTP/1.1 502' '^X-Lens-Reason: connect-failed'
out=$(pc -i http://10.199.1.1:8080/)
check "no answer to the connect: 504 connect-timeout" -- \
  has_lines "$out" '^HTTP/1.1 504' '^X-Lens-Reason: connect-timeout'
check "the audit events say why" -- bash -c "grep -q '\"host\":\"nosuch.test\".*\"reason\":\"dns-failure\"' '$work/audit.log' &&
  grep -q '\"host\":\"10.199.1.1\".*\"reason\":\"connect-timeout\"' '$work/audit.log'"

stop_proxy
finish
