#!/usr/bin/env bash
# lens-proxy honours `binaries`: the program on the other end of a client
# connection is found (sock_diag, then /proc) and a rule that lists
# executables applies only when the caller or an ancestor is one of them.
# curl allowed, python3 refused (binary-not-allowed) on the same rule; an
# ancestor shell allows; an unknown caller is refused; the audit events
# carry actor.process.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../netns.sh"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
command -v dash >/dev/null || skip "needs dash"

curl_exe=$(readlink -f "$(command -v curl)")
bash_exe=$(readlink -f /bin/bash)
dash_exe=$(readlink -f "$(command -v dash)")
python_exe=$(readlink -f "$python")

make_certs
start_dns_upstream
start_origins

write_policy '{"network": {"defaultVerdict": "deny", "defaultTransport": "direct", "egress": {"http": [
  {"match": "origin.test:8080", "verdict": "allow", "transport": "direct", "binaries": ["'"$curl_exe"'"]},
  {"match": "origin.test:8443", "verdict": "allow", "transport": "direct", "binaries": ["'"$curl_exe"'"]},
  {"match": "other.test:8080", "verdict": "allow", "transport": "direct", "binaries": ["'"$dash_exe"'"]},
  {"match": "v6.test:8080", "verdict": "allow", "transport": "direct", "binaries": ["'"$bash_exe"'"]}]}}}'
start_proxy

# py_get URL: python3 (no curl anywhere in its ancestry) through the proxy;
# prints "STATUS REASON".
py_get() {
  in_sbx "$python" -c '
import sys, urllib.request
proxy = urllib.request.ProxyHandler({"http": "http://127.0.0.1:3128"})
try:
    r = urllib.request.build_opener(proxy).open(sys.argv[1], timeout=10)
    print(r.status, "-")
except urllib.error.HTTPError as e:
    print(e.code, e.headers.get("X-Lens-Reason"))
' "$1" 2>&1 || true
}

echo "== the forward door"
out=$(pc http://origin.test:8080/curl)
check "curl is the listed binary: allowed" -- grep -q '^origin GET /curl$' <<<"$out"
out=$(py_get http://origin.test:8080/python)
check "python3 on the same rule: 403 binary-not-allowed" -- test "$out" = "403 binary-not-allowed"

echo "== CONNECT"
out=$(pc --cacert "$work/ca.crt" https://origin.test:8443/tunnel)
check "curl through CONNECT: allowed" -- grep -q '^origin GET /tunnel$' <<<"$out"
out=$(in_sbx "$python" -c '
import socket
s = socket.create_connection(("127.0.0.1", 3128), timeout=10)
s.sendall(b"CONNECT origin.test:8443 HTTP/1.1\r\nHost: origin.test:8443\r\n\r\n")
print(s.recv(4096).decode(errors="replace"))
' 2>&1 || true)
check "python3 CONNECT on the same rule: 403 binary-not-allowed" -- \
  has_lines "$out" '^HTTP/1.1 403' 'X-Lens-Reason: binary-not-allowed'

echo "== ancestors"
out=$(in_sbx dash -c 'curl -sS --max-time 10 --proxy http://127.0.0.1:3128 http://other.test:8080/dash; true' 2>&1 || true)
check "curl run by dash, the rule lists dash: allowed" -- grep -q '^origin GET /dash$' <<<"$out"
check "curl not run by dash: refused 403 on the same rule" -- test "$(status http://other.test:8080/nodash)" = 403
out=$(in_sbx /bin/bash -c 'curl -sS --max-time 10 --proxy http://127.0.0.1:3128 "http://v6.test:8080/bash"; true' 2>&1 || true)
check "curl run by bash, the rule lists $bash_exe: allowed" -- grep -q '^origin GET /bash$' <<<"$out"

echo "== audit"
check "the allowed decision names curl as actor.process" -- \
  audit_has '"action":"GET http://origin.test:8080/curl".*"actor":\{"process":\{"name":"curl","pid":[0-9]+,"exe":"'"$curl_exe"'"\}\}'
check "the refusal names python3 and the reason" -- \
  audit_has '"action":"GET http://origin.test:8080/python".*"reason":"binary-not-allowed".*"actor":\{"process":\{"name":"python3","pid":[0-9]+,"exe":"'"$python_exe"'"\}\}'
check "the close event carries the actor too" -- \
  audit_has '"phase":"close".*"exe":"'"$curl_exe"'"'

echo "== an unknown caller fails closed"
# A client in another network namespace: its socket is not in the proxy's
# namespace, so no program is found and a binaries rule refuses it.
stop_proxy
rm -f "$work/proxy.ready"
nsenter --net="/run/netns/$sbx" "$proxy" --listen 10.199.0.1:3128 --resolver 10.199.0.2 --policy "$work/policy.json" \
  --audit "$work/audit.log" --ready-file "$work/proxy.ready" 2>>"$work/proxy.err" &
proxy_pid=$!
pids+=("$proxy_pid")
wait_ready "$work/proxy.ready" "lens-proxy on 10.199.0.1:3128 (see $work/proxy.err)"
out=$(in_out curl -s -o /dev/null --max-time 10 --proxy http://10.199.0.1:3128 -w '%{http_code}' \
  http://origin.test:8080/unknown 2>/dev/null || true)
check "curl from another namespace (caller unknown): 403" -- test "$out" = 403
check "... with reason binary-not-allowed and no actor" -- \
  bash -c "grep -E '\"action\":\"GET http://origin.test:8080/unknown\".*\"phase\":\"decision\"' '$work/audit.log' | grep '\"reason\":\"binary-not-allowed\"' | grep -vq actor"

echo "== finding a caller does not stop the proxy"
# Processes with many descriptors make every /proc scan slow (each holds
# 19,000: about a second per scan in all). While new clients are looked up,
# a tunnel that is already open keeps carrying traffic: its round trips are
# counted while the lookups run (the lookups are off the event loop; on it,
# the tunnel would stand still for each of them).
stop_proxy
serve_py "$outside" echo echo --listen 10.199.0.2:7000
write_policy '{"network": {"defaultVerdict": "deny", "defaultTransport": "direct", "egress": {"http": [
  {"match": "origin.test:8080", "verdict": "allow", "transport": "direct", "binaries": ["'"$curl_exe"'"]},
  {"match": "10.199.0.2:7000", "verdict": "allow", "transport": "direct"}]}}}'
start_proxy
hogs=()
for _ in $(seq 20); do
  "$python" -c '
import os, resource, signal
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
fd = os.open("/dev/null", os.O_RDONLY)
for _ in range(min(hard, 20000) - 1000):
    os.dup(fd)
signal.pause()
' &
  hogs+=($!)
  pids+=($!)
done
# hogs_ready: every hog holds its descriptors.
hogs_ready() {
  local pid
  for pid in "${hogs[@]}"; do
    (($(ls "/proc/$pid/fd" | wc -l) >= 18000)) || return 1
  done
}
check "20 processes hold 19,000 descriptors each" -- wait_for 60 hogs_ready
nsenter --net="/run/netns/$sbx" "$python" -c '
import os, socket, sys
s = socket.create_connection(("127.0.0.1", 3128), timeout=10)
s.sendall(b"CONNECT 10.199.0.2:7000 HTTP/1.1\r\nHost: 10.199.0.2:7000\r\n\r\n")
if not s.recv(4096).startswith(b"HTTP/1.1 200"):
    sys.exit("the tunnel was refused")
n = 0
while True:
    s.sendall(b"ping")
    got = b""
    while len(got) < 4:
        more = s.recv(4 - len(got))
        if not more:
            sys.exit(0)  # the tunnel ended
        got += more
    n += 1
    if n % 10 == 0:
        with open(sys.argv[1] + ".tmp", "w") as f:
            f.write(str(n))
        os.rename(sys.argv[1] + ".tmp", sys.argv[1])
' "$work/pings" 2>>"$work/pinger.err" &
pinger=$!
pids+=("$pinger")
wait_for 10 test -s "$work/pings" || check "the tunnel carries round trips" -- false
before=$(cat "$work/pings")
started=$SECONDS
curls=()
for i in 1 2 3 4 5 6; do
  in_sbx curl -s -o /dev/null --max-time 60 --proxy http://127.0.0.1:3128 -w '%{http_code}\n' \
    "http://origin.test:8080/lookup$i" >"$work/lookup$i.out" 2>&1 &
  curls+=($!)
done
for pid in "${curls[@]}"; do wait "$pid" || true; done
after=$(cat "$work/pings")
echo "   6 new clients looked up in $((SECONDS - started)) s; the tunnel made $((after - before)) round trips meanwhile"
check "the 6 new curl clients were found and allowed" -- \
  test "$(cat "$work"/lookup[1-6].out | grep -c '^200$')" -eq 6
check "the open tunnel kept going while they were looked up (>= 200 round trips)" -- \
  test $((after - before)) -ge 200
kill "${hogs[@]}" "$pinger" 2>/dev/null || true

echo "== without a binaries rule nobody is looked up"
stop_proxy
write_policy '{"network": {"defaultVerdict": "deny", "defaultTransport": "direct", "egress": {
  "http": [{"match": "origin.test:8080", "verdict": "allow", "transport": "direct"}]}}}'
start_proxy
out=$(in_sbx curl -sS --max-time 10 --proxy http://127.0.0.1:3128 http://origin.test:8080/nobinaries 2>&1 || true)
check "curl is allowed" -- grep -q '^origin GET /nobinaries$' <<<"$out"
check "... and its event names no actor (no lookup)" -- \
  bash -c "grep -E '\"action\":\"GET http://origin.test:8080/nobinaries\".*\"phase\":\"decision\"' '$work/audit.log' | grep -vq actor"

stop_proxy
finish
