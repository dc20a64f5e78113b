#!/usr/bin/env bash
# Credentials at the boundary, inside interception (lens-proxy): header
# injection on keep-alive requests (an injection whose rules do not cover a
# request is not applied to it), uriPlaceholder in the request target and
# in Authorization Basic, a rewritten target judged again, and the
# placeholder guard: a placeholder bound for a host without its injection
# (in the query, a custom header, Basic) is refused 403 placeholder-leak and
# never reaches the origin, also over plain HTTP; an OAuth client-credentials
# token request answered by the proxy with the placeholder (python requests
# with the client id in the form, curl with Basic), the API call carrying
# the real token, other scopes refused, another client's request forwarded. The origin logs every
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
  {"match": "origin.test:8443", "verdict": "allow", "transport": "direct", "rules": [{"method": "GET", "path": "/api/**"}, {"method": "GET", "path": "/open/**"},
    {"method": "GET", "path": "/crm/**"}, {"method": "POST", "path": "/oauth/token"}]},
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
    {"injectionType": "uriPlaceholder", "domain": "origin.test", "value": "x/../../private"}]},
  {"id": "crm", "envVar": "CRM_TOKEN", "placeholder": "__lens_cred:crm__", "injections": [
    {"injectionType": "oauthClientCredentials", "domain": "origin.test:8443", "tokenPath": "/oauth/token",
     "clientId": "agent-client", "scope": "read write", "expiresIn": 900},
    {"injectionType": "header", "domain": "origin.test:8443", "header": "Authorization", "value": "Bearer REAL-CRM-SECRET-4",
     "rules": [{"method": "GET", "path": "/crm/**"}]}]}]}'
start_proxy --origin-ca "$work/ca.crt"
secrets=(REAL-GH-SECRET-1 REAL-URI-SECRET-2 REAL-BASIC-SECRET-3 REAL-CRM-SECRET-4)

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

echo "== OAuth client credentials: the proxy answers the token request with the placeholder"
out=$(client "
form = {'grant_type': 'client_credentials', 'client_id': 'agent-client', 'scope': 'write read'}
r = s.post('https://origin.test:8443/oauth/token', data=form, timeout=10)
answer = r.json()
print(r.status_code, answer['token_type'], answer['access_token'], answer['expires_in'], r.headers.get('Cache-Control'))
get('https://origin.test:8443/crm/accounts', headers={'Authorization': 'Bearer ' + answer['access_token']})
r = s.post('https://origin.test:8443/oauth/token', data=dict(form, scope='admin'), timeout=10)
print(r.status_code, r.json()['error'])
r = s.post('https://origin.test:8443/oauth/token', data=dict(form, client_id='someone-else'), timeout=10)
print(r.status_code, r.text.splitlines()[0])")
check "the token answer carries the placeholder, never the token" -- \
  test "$(sed -n 1p <<<"$out")" = "200 Bearer __lens_cred:crm__ 900 no-store"
check "the API call with it reaches the origin with the real token" -- test "$(sed -n 2p <<<"$out")" = "200 -"
check "... as the origin saw it" -- \
  bash -c "grep -A20 '^GET /crm/accounts ' '$work/origin.log' | grep -q '^  Authorization: Bearer REAL-CRM-SECRET-4$'"
check "other scopes: 400 invalid_scope from the proxy" -- test "$(sed -n 3p <<<"$out")" = "400 invalid_scope"
check "another client's request goes to the origin unchanged" -- test "$(sed -n 4p <<<"$out")" = "200 origin POST /oauth/token"
# curl: the client id as the Basic user name (client_secret_basic).
out=$(in_sbx curl -sS --max-time 10 --proxy http://127.0.0.1:3128 --cacert "$lens_ca" -u agent-client:anything \
  -d grant_type=client_credentials --data-urlencode 'scope=read write' https://origin.test:8443/oauth/token 2>&1 || true)
check "curl with Basic client authentication gets the placeholder" -- \
  "$python" -c 'import json,sys; assert json.loads(sys.argv[1])["access_token"] == "__lens_cred:crm__", sys.argv[1]' "$out"
check "the origin saw only the one token request the proxy did not answer" -- \
  test "$(grep -c '^POST /oauth/token ' "$work/origin.log")" = 1

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
check "a token answer's event says so and names the credential" -- "$python" -c '
import json, sys
events = [json.loads(l) for l in open(sys.argv[1])]
e = [e["metadata"] for e in events if e.get("path") == "/oauth/token" and e["metadata"].get("token_answer")]
assert len(e) == 3 and all(m["credential_id"] == "crm" and m["injection"] == "oauthClientCredentials" for m in e), e' "$work/audit.log"
for secret in "${secrets[@]}"; do
  check "$secret is in no log or audit line" -- bash -c "! grep -q '$secret' '$work/proxy.err' '$work/audit.log'"
done

finish
