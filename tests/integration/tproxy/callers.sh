#!/usr/bin/env bash
# lens-tproxy honours `binaries` for redirected local clients: the caller's
# socket is found by its original destination (sock_diag), its program by
# /proc. Plain HTTP (door transparent-http) and raw TCP (an egress.tcp rule)
# each allowed for the listed program and refused for another; the audit
# events carry actor.process.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../netns.sh"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

curl_exe=$(readlink -f "$(command -v curl)")
python_exe=$(readlink -f "$python")

start_tproxy_world
in_sbx "$lockdown" apply
write_policy '{"network": {"defaultVerdict": "deny", "defaultTransport": "direct", "egress": {
  "http": [{"match": "origin.test:8080", "verdict": "allow", "transport": "direct", "binaries": ["'"$curl_exe"'"]}],
  "tcp": [{"match": "10.199.0.2:7000", "verdict": "allow", "binaries": ["'"$python_exe"'"]}]}}}'
start_tproxy

echo "== plain HTTP, no proxy settings"
out=$(tc --resolve origin.test:8080:10.199.0.2 http://origin.test:8080/curl)
check "curl is the listed binary: allowed" -- grep -q '^origin GET /curl$' <<<"$out"
out=$(in_sbx env http_proxy= HTTP_PROXY= "$python" -c '
import socket
s = socket.create_connection(("10.199.0.2", 8080), timeout=10)
s.sendall(b"GET /python HTTP/1.1\r\nHost: origin.test:8080\r\nConnection: close\r\n\r\n")
data = b""
while True:
    d = s.recv(4096)
    if not d:
        break
    data += d
print(data.decode(errors="replace"))
' 2>&1 || true)
check "python3 on the same rule: 403 binary-not-allowed" -- \
  has_lines "$out" '^HTTP/1.1 403' 'X-Lens-Reason: binary-not-allowed'

echo "== raw TCP by an egress.tcp rule"
out=$(in_sbx "$python" -c '
import socket
s = socket.create_connection(("10.199.0.2", 7000), timeout=5)
s.sendall(b"raw ping")
print(s.recv(100))' 2>&1 || true)
check "python3 is the listed binary: relayed" -- grep -q "raw ping" <<<"$out"
out=$(in_sbx curl -sS --noproxy '*' --max-time 5 telnet://10.199.0.2:7000 </dev/null 2>&1 || true)
for ((i = 0; i < 50; i++)); do
  audit_has '"action":"TRANSPARENT 10.199.0.2:7000".*"reason":"binary-not-allowed"' && break
  sleep 0.05
done
check "curl to the same address: refused binary-not-allowed, curl as the actor" -- \
  audit_has '"action":"TRANSPARENT 10.199.0.2:7000".*"phase":"decision".*"reason":"binary-not-allowed".*"actor":\{"process":\{"name":"curl","pid":[0-9]+,"exe":"'"$curl_exe"'"\}\}'

echo "== audit"
check "the allowed HTTP decision names curl" -- \
  audit_has '"action":"TRANSPARENT 10.199.0.2:8080".*"path":"/curl".*"actor":\{"process":\{"name":"curl","pid":[0-9]+,"exe":"'"$curl_exe"'"\}\}'
check "the refused HTTP decision names python3" -- \
  audit_has '"action":"TRANSPARENT 10.199.0.2:8080".*"path":"/python".*"reason":"binary-not-allowed".*"exe":"'"$python_exe"'"'
check "the raw relay decision names python3" -- \
  audit_has '"action":"TRANSPARENT 10.199.0.2:7000".*"result":"success".*"phase":"decision".*"exe":"'"$python_exe"'"'

finish
