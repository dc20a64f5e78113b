#!/usr/bin/env bash
# lens-proxy's two doors with real clients and servers: curl through CONNECT
# to an HTTPS origin and as a forward proxy to an HTTP one, python3 requests
# with HTTPS_PROXY/HTTP_PROXY, allow / deny / per-path rules on the forward
# door, keep-alive with every request judged, origin-form rewriting, ask,
# the 400 cases, 503 before a policy, audit events, --check.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../netns.sh"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
"$python" -c 'import requests' 2>/dev/null || skip "needs python3-requests"

make_certs
start_dns_upstream
start_origins

echo "== before any policy: 503"
rm -f "$work/policy.json"
mkdir -p "$work/state"
nsenter --net="/run/netns/$sbx" "$proxy" --state-dir "$work/state" --listen 127.0.0.1:3128 --resolver 10.199.0.2 --policy "$work/policy.json" \
  --audit "$work/audit.log" 2>>"$work/proxy.err" &
proxy_pid=$!
pids+=("$proxy_pid")
for ((i = 0; i < 100; i++)); do
  in_sbx "$python" -c 'import socket; socket.create_connection(("127.0.0.1", 3128), timeout=1)' 2>/dev/null && break
  sleep 0.05
done
out=$(pc -i http://origin.test:8080/)
check "a request before the first policy is answered 503 no-policy" -- \
  has_lines "$out" '^HTTP/1.1 503' '^X-Lens-Reason: no-policy'
check "CONNECT before the first policy is refused with 503" -- test "$(connect_status https://origin.test:8443/)" = 503

write_policy '{"network": {"defaultVerdict": "deny", "defaultTransport": "direct", "egress": {"http": [
  {"match": "origin.test:8443", "verdict": "allow", "transport": "direct"},
  {"match": "origin.test", "verdict": "allow", "transport": "direct", "scheme": "http",
   "rules": [{"method": "GET", "path": "/api/**"}, {"method": "POST", "path": "/upload"}, {"method": "HEAD", "path": "/api/*"}]},
  {"match": "other.test", "verdict": "allow", "transport": "direct"},
  {"match": "v6.test", "verdict": "allow", "transport": "direct"},
  {"match": "ask.test", "verdict": "ask", "transport": "direct"},
  {"match": "inspect.test", "verdict": "allow", "transport": "direct", "rules": [{"method": "GET", "path": "/only"}]},
  {"match": "10.199.0.2", "verdict": "deny", "transport": "direct"}]}}}'
for ((i = 0; i < 100; i++)); do
  grep -q 'ready: listening on 127.0.0.1:3128' "$work/proxy.err" && break
  sleep 0.05
done
check "the ready line follows the first policy" -- grep -q 'lens-proxy: ready: listening on 127.0.0.1:3128' "$work/proxy.err"

echo "== CONNECT"
out=$(pc --cacert "$work/ca.crt" https://origin.test:8443/hello)
check "curl reaches the HTTPS origin through a CONNECT tunnel" -- grep -q '^origin GET /hello$' <<<"$out"
out=$(in_sbx curl -sS --max-time 10 --proxy http://127.0.0.1:3128 --cacert "$work/ca.crt" -v https://origin.test:8443/ 2>&1 || true)
check "the proxy answers CONNECT with 200 Connection established" -- grep -q '< HTTP/1.1 200 Connection established' <<<"$out"
check "CONNECT to a host no rule allows is refused 403 (default deny)" -- test "$(connect_status https://deny.test/)" = 403
out=$(in_sbx curl -s --max-time 10 --proxy http://127.0.0.1:3128 -v https://deny.test/ 2>&1 || true)
check "... with X-Lens-Reason: policy-deny" -- grep -q '< X-Lens-Reason: policy-deny' <<<"$out"
check "... and Connection: close" -- grep -q '< Connection: close' <<<"$out"
check "CONNECT to origin.test:8443 is allowed but origin.test:443 is not (port in the rule)" -- \
  test "$(connect_status https://origin.test/)" = 403
check "CONNECT to an IP literal the policy denies" -- test "$(connect_status -k https://10.199.0.2:8443/)" = 403

echo "== python3 requests with HTTPS_PROXY and HTTP_PROXY"
out=$(in_sbx env HTTPS_PROXY=http://127.0.0.1:3128 HTTP_PROXY=http://127.0.0.1:3128 REQUESTS_CA_BUNDLE="$work/ca.crt" \
  "$python" -c '
import requests
print(requests.get("https://origin.test:8443/py").text.splitlines()[0])
print(requests.get("http://other.test:8080/py").text.splitlines()[0])
r = requests.get("http://deny.test:8080/")
print(r.status_code, r.headers.get("X-Lens-Reason"))
' 2>&1 || true)
check "requests: HTTPS through CONNECT" -- grep -q '^origin GET /py$' <<<"$(sed -n 1p <<<"$out")"
check "requests: HTTP through the forward door" -- grep -q '^origin GET /py$' <<<"$(sed -n 2p <<<"$out")"
check "requests: a refusal is 403 with the reason" -- test "$(sed -n 3p <<<"$out")" = "403 policy-deny"

echo "== forward door: rules by method and path"
out=$(pc http://origin.test:8080/api/v1/items?id=7)
check "GET /api/** is allowed" -- grep -q '^origin GET /api/v1/items?id=7$' <<<"$out"
check "the origin got Host: origin.test:8080" -- grep -q '^host=origin.test:8080$' <<<"$out"
out=$(pc -H 'Proxy-Authorization: Basic c2VjcmV0OnNlY3JldA==' -H 'Proxy-Foo: 1' http://origin.test:8080/api/x)
check "Proxy-* headers never reach the origin" -- grep -q '^proxy-headers=-$' <<<"$out"
out=$(pc -i http://origin.test:8080/admin)
check "GET /admin is not in the rules: 403 http-rule-denied" -- \
  has_lines "$out" '^HTTP/1.1 403' '^X-Lens-Reason: http-rule-denied'
check "the refusal body is one line naming the host and the reason" -- \
  grep -qx 'lens-proxy: origin.test: refused by policy (http-rule-denied)' <<<"$(tail -n 1 <<<"$out" | tr -d '\r')"
check "DELETE /api/x is not in the rules" -- test "$(status -X DELETE http://origin.test:8080/api/x)" = 403
out=$(pc -d 'hello world' http://origin.test:8080/upload)
check "POST /upload with a body is allowed and the body arrives" -- grep -q '^body-bytes=11$' <<<"$out"
out=$(pc -H 'Transfer-Encoding: chunked' --data-binary @- http://origin.test:8080/upload <<<"chunked body")
check "a chunked request body arrives whole" -- grep -q '^body-bytes=13$' <<<"$out"
check "HEAD /api/x is allowed" -- test "$(status -I http://origin.test:8080/api/x)" = 200
out=$(pc http://origin.test:8080/api/chunked)
check "a chunked response is relayed" -- grep -q '^conn-requests=1$' <<<"$out"
check "a 1 MiB response is relayed whole" -- \
  test "$(in_sbx curl -s --max-time 10 --proxy http://127.0.0.1:3128 http://other.test:8080/big/1048576 | wc -c)" = 1048576
out=$(pc -g 'http://[fd99::2]:8080/v6')
check "an IPv6 literal through the forward door (denied: no rule)" -- test "$(status -g 'http://[fd99::2]:8080/v6')" = 403
out=$(pc http://v6.test:8080/v6)
check "a name with only an AAAA address is reached over IPv6" -- grep -q '^origin GET /v6$' <<<"$out"

echo "== keep-alive: every request on one connection is judged"
out=$(in_sbx curl -sS --max-time 10 --proxy http://127.0.0.1:3128 -w '[%{http_code}]\n' \
  http://origin.test:8080/api/1 http://origin.test:8080/api/2 http://other.test:8080/x http://origin.test:8080/secret 2>&1 || true)
check "two requests share one origin connection" -- grep -q '^conn-requests=2$' <<<"$out"
check "a request to another host on the same client connection" -- grep -q '^origin GET /x$' <<<"$out"
check "the fourth request on the connection is judged and refused" -- grep -q 'http-rule-denied).*\[403\]\|^\[403\]' <<<"$(tr -d '\r' <<<"$out")"
check "the client connection was kept for all of them (one close event)" -- \
  bash -c "[[ \$(grep -c '\"phase\":\"close\".*\"requests\":4' '$work/audit.log') -eq 1 ]]"

echo "== ask: no approver yet"
out=$(pc -i http://ask.test:8080/)
check "an ask verdict is refused 403 no-approver" -- grep -q '^X-Lens-Reason: no-approver' <<<"$out"

echo "== a tunnel the policy needs to look into, without a CA"
out=$(in_sbx curl -s --max-time 10 --proxy http://127.0.0.1:3128 -v https://inspect.test/only 2>&1 || true)
check "CONNECT to a host with HTTP rules and no CA in the state dir is refused 503 ca-unavailable" -- \
  has_lines "$out" '< HTTP/1.1 503' '< X-Lens-Reason: ca-unavailable'

echo "== the 400 cases (the connection is closed after the answer)"
for case in \
  'relative URL|GET / HTTP/1.1\r\nHost: origin.test\r\n\r\n' \
  'https:// absolute URL|GET https://origin.test/ HTTP/1.1\r\n\r\n' \
  'malformed request line|GET http://origin.test/ a HTTP/1.1\r\n\r\n' \
  'CR inside the target|GET http://origin.test/a\rb HTTP/1.1\r\n\r\n' \
  'Content-Length with Transfer-Encoding|POST http://origin.test/upload HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc' \
  'duplicate Content-Length|POST http://origin.test/upload HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc' \
  'obsolete line folding|GET http://origin.test/api/x HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n' \
  'invalid header name|GET http://origin.test/api/x HTTP/1.1\r\nBad Name: x\r\n\r\n'; do
  what=${case%%|*}
  out=$(raw 127.0.0.1 3128 "${case#*|}")
  check "$what: 400 bad-request" -- \
    has_lines "$out" '^HTTP/1.1 400 Bad Request' '^X-Lens-Reason: bad-request' --not '<timeout>'
done

echo "== audit events"
check "a CONNECT decision event with rule, transport, address and policy version" -- audit_has \
  '"action":"CONNECT origin.test:8443","method":"CONNECT","host":"origin.test","result":"success","status_code":200,"metadata":\{"phase":"decision","reason":"policy-allow","door":"connect","rule":"origin.test:8443".*"transport":"direct","policy_version":"[0-9a-f]{64}","address":"10.199.0.2"'
check "a forward decision event with method, host and path (query left out)" -- audit_has \
  '"action":"GET http://origin.test:8080/api/v1/items","method":"GET","host":"origin.test","path":"/api/v1/items","result":"success"'
check "a refusal event with the reason" -- audit_has \
  '"action":"GET http://origin.test:8080/admin".*"result":"failure","status_code":403,"metadata":\{"phase":"decision","reason":"http-rule-denied"'
check "a close event with bytes each way and duration" -- audit_has \
  '"action":"CONNECT origin.test:8443".*"phase":"close","reason":"done","bytes_up":[1-9][0-9]*,"bytes_down":[1-9][0-9]*,"duration_ms":[0-9]+'
check "every event has the client's endpoint" -- bash -c "! grep '\"phase\"' '$work/audit.log' | grep -vq '\"src_endpoint\":{\"ip\":\"127.0.0.1\"'"
check "no secret in the audit log or stderr" -- bash -c "! grep -q 'c2VjcmV0OnNlY3JldA' '$work/audit.log' '$work/proxy.err'"

echo "== --check"
check "--check with a valid policy exits 0 and prints the listen address" -- \
  bash -c "'$proxy' --check --resolver 10.199.0.2 --policy '$work/policy.json' | grep -q '^listen:    127.0.0.1:3128'"
echo '{"network": {"defaultVerdict": "maybe"}}' >"$work/bad.json"
rc=0
"$proxy" --check --resolver 10.199.0.2 --policy "$work/bad.json" >/dev/null 2>"$work/check.err" || rc=$?
check "--check with an invalid policy exits 3 with located errors" -- \
  bash -c "[[ $rc -eq 3 ]] && grep -q 'bad.json:1:' '$work/check.err'"
rc=0
"$proxy" --listen nowhere --policy "$work/policy.json" 2>"$work/usage.err" || rc=$?
check "a malformed --listen exits 2 with one line" -- \
  bash -c "[[ $rc -eq 2 ]] && [[ \$(wc -l <'$work/usage.err') -eq 1 ]]"

stop_proxy
finish
