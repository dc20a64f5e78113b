#!/usr/bin/env bash
# Credentials at the boundary, inside interception (lens-proxy): header
# injection on keep-alive requests (an injection whose rules do not cover a
# request is not applied to it), uriPlaceholder in the request target and
# in Authorization Basic, a rewritten target judged again, and the
# placeholder guard: a placeholder bound for a host without its injection
# (in the query, a custom header, Basic) is refused 403 placeholder-leak and
# never reaches the origin, also over plain HTTP. The origin logs every
# head it gets; the audit events name credentials, never values; no secret
# appears in the proxy's log or the audit log.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../netns.sh"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
"$python" -c 'import requests' 2>/dev/null || skip "needs python3-requests"

make_certs
make_cert other "DNS:other.test"
start_dns_upstream
serve_py "$outside" origin origin --listen 10.199.0.2:8443 --tls "$work/origin.crt" "$work/origin.key" \
  --log "$work/origin.log"
serve_py "$outside" other origin --listen 10.199.0.2:9443 --tls "$work/other.crt" "$work/other.key" \
  --log "$work/other.log"
serve_py "$outside" plain origin --listen 10.199.0.2:8080 --log "$work/plain.log"
mkdir -p "$work/state"
"$proxy" ca init --state-dir "$work/state" >/dev/null
lens_ca=$work/state/ca/ca.crt

write_policy '{"network": {"defaultVerdict": "deny", "defaultTransport": "direct", "egress": {"http": [
  {"match": "origin.test:8443", "verdict": "allow", "transport": "direct", "rules": [{"method": "GET", "path": "/api/**"}, {"method": "GET", "path": "/open/**"}]},
  {"match": "other.test:9443", "verdict": "allow", "transport": "direct", "rules": [{"method": "GET", "path": "/**"}]},
  {"match": "other.test:8080", "verdict": "allow", "transport": "direct"}]}},
 "credentials": [
  {"id": "gh", "envVar": "GH_TOKEN", "placeholder": "__lens_cred:gh__", "injections": [
    {"injectionType": "header", "domain": "origin.test", "header": "Authorization", "value": "Bearer REAL-GH-SECRET-1",
     "rules": [{"method": "GET", "path": "/api/**"}]}]},
  {"id": "key", "envVar": "API_KEY", "placeholder": "__lens_cred:key__", "injections": [
    {"injectionType": "uriPlaceholder", "domain": "origin.test", "value": "REAL-URI-SECRET-2"}]},
  {"id": "pw", "envVar": "API_PW", "placeholder": "__lens_cred:pw__", "injections": [
    {"injectionType": "uriPlaceholder", "domain": "origin.test:8443", "value": "REAL-BASIC-SECRET-3"}]},
  {"id": "hop", "envVar": "HOP", "placeholder": "__lens_cred:hop__", "injections": [
    {"injectionType": "uriPlaceholder", "domain": "origin.test", "value": "x/../../private"}]}]}'
start_proxy --origin-ca "$work/ca.crt"
secrets=(REAL-GH-SECRET-1 REAL-URI-SECRET-2 REAL-BASIC-SECRET-3)

# client SCRIPT: python3 with requests through the proxy, trusting the lens CA;
# prints what the script prints.
client() {
  in_sbx env PROXY=http://127.0.0.1:3128 REQUESTS_CA_BUNDLE="$lens_ca" "$python" -c "
import base64, os, requests
s = requests.Session()
s.proxies = {'https': os.environ['PROXY'], 'http': os.environ['PROXY']}
def get(url, **kw):
    r = s.get(url, timeout=10, **kw)
    print(r.status_code, r.headers.get('X-Lens-Reason', '-'))
$1" 2>&1 || true
}

echo "== header injection on keep-alive requests"
out=$(client "
get('https://origin.test:8443/api/one', headers={'Authorization': 'Bearer __lens_cred:gh__'})
get('https://origin.test:8443/open/two')")
check "both requests on one connection answered 200" -- test "$(tr '\n' ' ' <<<"$out")" = "200 - 200 - "
check "the origin got the real token on the covered request" -- \
  bash -c "grep -A20 '^GET /api/one ' '$work/origin.log' | grep -q '^  Authorization: Bearer REAL-GH-SECRET-1$'"
check "... and no token on the request the injection's rules do not cover" -- \
  bash -c "! sed -n '/^GET \/open\/two /,/^[A-Z]/p' '$work/origin.log' | grep -q 'Authorization'"
check "... both on one origin connection" -- grep -q '^GET /open/two host=origin.test:8443$' "$work/origin.log"

echo "== uriPlaceholder: the request target and Authorization Basic"
basic=$(printf 'user:__lens_cred:pw__' | base64)
# (under /open/: the header injection of /api/** would replace Authorization)
out=$(client "
get('https://origin.test:8443/api/q?key=__lens_cred:key__')
get('https://origin.test:8443/open/basic', headers={'Authorization': 'Basic $basic'})")
check "the requests are answered 200" -- test "$(tr '\n' ' ' <<<"$out")" = "200 - 200 - "
check "the origin got the real value in the target" -- grep -q '^GET /api/q?key=REAL-URI-SECRET-2 ' "$work/origin.log"
check "... and in the decoded user:password of Basic" -- \
  grep -q "^  Authorization: Basic $(printf 'user:REAL-BASIC-SECRET-3' | base64)$" "$work/origin.log"

echo "== a target the substitution makes refused is judged again"
out=$(client "get('https://origin.test:8443/api/__lens_cred:hop__')")
check "403 rewritten-path-denied" -- test "$out" = "403 rewritten-path-denied"
check "... never at the origin" -- bash -c "! grep -q 'private' '$work/origin.log'"

echo "== the placeholder guard"
out=$(client "
get('https://other.test:9443/search?q=__lens_cred:key__')
get('https://origin.test:8443/api/x', headers={'Authorization': 'Bearer __lens_cred:gh__', 'X-Token': '__lens_cred:gh__'})
get('https://other.test:9443/basic', headers={'Authorization': 'Basic $basic'})
get('http://other.test:8080/plain', headers={'X-Key': '__lens_cred:key__'})
get('https://other.test:9443/fine')")
check "query, custom header, Basic to a host without the injection, plain HTTP: 403 placeholder-leak" -- \
  test "$(tr '\n' ' ' <<<"$out")" = "403 placeholder-leak 403 placeholder-leak 403 placeholder-leak 403 placeholder-leak 200 - "
check "no placeholder reached an origin" -- bash -c "! grep -q '__lens_cred' '$work/origin.log' '$work/other.log' '$work/plain.log'"
check "... and the request without one went through" -- grep -q '^GET /fine host=other.test:9443$' "$work/other.log"

echo "== audit events and logs"
check "the injected request's event names the credential and the injection type" -- "$python" -c '
import json, sys
events = [json.loads(l) for l in open(sys.argv[1])]
e = [e for e in events if e.get("path") == "/api/one" and e["metadata"].get("phase") == "decision"]
assert e and e[0]["metadata"].get("credential_id") == "gh" and e[0]["metadata"].get("injection") == "header", e' "$work/audit.log"
check "a guard refusal's event names the credential and the reason" -- "$python" -c '
import json, sys
events = [json.loads(l) for l in open(sys.argv[1])]
e = [e for e in events if e.get("path") == "/basic"]
assert e and e[0]["metadata"]["reason"] == "placeholder-leak" and e[0]["metadata"].get("credential_id") == "pw", e' "$work/audit.log"
for secret in "${secrets[@]}"; do
  check "$secret is in no log or audit line" -- bash -c "! grep -q '$secret' '$work/proxy.err' '$work/audit.log'"
done

finish
