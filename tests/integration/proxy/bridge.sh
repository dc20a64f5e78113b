#!/usr/bin/env bash
# The mutual TLS bridge (a route's `forward`), through lens-proxy: requests
# to the bridged host:port go to the bridge's dial address over TLS with
# the configured client certificate, verified against the bridge's caPem
# under its tlsServerName, with Host rewritten and the sandbox's
# Authorization dropped; keep-alive requests share the origin connection;
# a path rule still judges each request; a client certificate the origin
# does not accept ends in 502; a bridge whose key is not its certificate's
# makes its rule deny. The origin requires a client certificate and logs
# whose it got; the audit event says tls_bridge; no key reaches a log.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../netns.sh"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

make_certs
make_cert apiserver "DNS:api.cluster.test"
make_cert agent "DNS:agent"
# A client certificate from another CA: the origin refuses it.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/stranger.key" -subj "/CN=stranger" -days 2 \
  -out "$work/stranger.crt" 2>/dev/null
start_dns_upstream
serve_py "$outside" apiserver origin --listen 10.199.0.2:7443 --tls "$work/apiserver.crt" "$work/apiserver.key" \
  --client-ca "$work/ca.crt" --log "$work/apiserver.log"
mkdir -p "$work/state"
"$proxy" ca init --state-dir "$work/state" >/dev/null
lens_ca=$work/state/ca/ca.crt

# The policy carries the PEM texts; python writes it.
"$python" - "$work" >"$work/policy.json" <<'PY'
import json, sys
work = sys.argv[1]
def pem(name):
    return open(f"{work}/{name}").read()
def bridge(cert, key, **extra):
    return dict({"dialAddr": "10.199.0.2:7443", "tlsServerName": "api.cluster.test",
                 "certPem": pem(cert), "keyPem": pem(key), "caPem": pem("ca.crt")}, **extra)
rules = [
    {"match": "kube.test:6443", "verdict": "allow", "transport": "direct",
     "rules": [{"method": "GET", "path": "/api/**"}],
     "forward": bridge("agent.crt", "agent.key", upstreamHostHeader="api.cluster.test:7443")},
    {"match": "plain.test:6443", "verdict": "allow", "transport": "direct",
     "forward": bridge("agent.crt", "agent.key")},
    {"match": "stranger.test:6443", "verdict": "allow", "transport": "direct",
     "forward": bridge("stranger.crt", "stranger.key")},
    {"match": "broken.test:6443", "verdict": "allow", "transport": "direct",
     "forward": bridge("agent.crt", "stranger.key")},
]
print(json.dumps({"network": {"defaultVerdict": "deny", "defaultTransport": "direct",
                              "egress": {"http": rules}}}))
PY
start_proxy
secret_lines=$(grep -v -- '-----' "$work/agent.key" | head -3)

# client SCRIPT: python3 requests through the proxy, trusting the lens CA.
client() {
  in_sbx env PROXY=http://127.0.0.1:3128 REQUESTS_CA_BUNDLE="$lens_ca" "$python" -c "
import os, requests
s = requests.Session()
s.proxies = {'https': os.environ['PROXY']}
def get(url, **kw):
    r = s.get(url, timeout=10, **kw)
    print(r.status_code, r.headers.get('X-Lens-Reason', '-'))
    return r
$1" 2>&1 || true
}

echo "== requests over the bridge"
out=$(client "
r = get('https://kube.test:6443/api/v1/pods', headers={'Authorization': 'Bearer synthetic-kubeconfig-token'})
print(r.text.splitlines()[3])
r = get('https://kube.test:6443/api/v1/nodes')
print(r.text.splitlines()[3])
get('https://kube.test:6443/metrics')")
check "two allowed requests answered 200 on one origin connection, a path the rules leave out 403" -- \
  test "$(tr '\n' ' ' <<<"$out")" = "200 - conn-requests=1 200 - conn-requests=2 403 http-rule-denied "
check "the origin saw the agent's client certificate" -- \
  bash -c "grep -A1 '^GET /api/v1/pods ' '$work/apiserver.log' | grep -q '^  client-cert: CN=agent$'"
check "... Host rewritten to upstreamHostHeader" -- grep -q '^GET /api/v1/pods host=api.cluster.test:7443$' "$work/apiserver.log"
check "... and no Authorization from the sandbox" -- bash -c "! grep -qi 'authorization\|synthetic' '$work/apiserver.log'"
check "... and never the refused path" -- bash -c "! grep -q '/metrics' '$work/apiserver.log'"

out=$(client "get('https://plain.test:6443/version')")
check "without upstreamHostHeader the client's Host goes on" -- \
  bash -c "test '$out' = '200 -' && grep -q '^GET /version host=plain.test:6443$' '$work/apiserver.log'"

echo "== what cannot work is refused"
out=$(client "get('https://stranger.test:6443/version')")
check "a client certificate the origin does not accept: 502" -- test "$out" = "502 origin-tls-failed"
check "a bridge whose key is not its certificate's: the rule denies" -- \
  test "$(connect_status https://broken.test:6443/version)" = "403"
check "... with a warning naming the route" -- \
  grep -q 'network.egress.http\[3\].forward: .*forward bridge refused, the rule denies' "$work/proxy.err"

echo "== audit and logs"
check "the bridged request's event says tls_bridge and the address dialled" -- "$python" -c '
import json, sys
events = [json.loads(l) for l in open(sys.argv[1])]
e = [e["metadata"] for e in events if e.get("path") == "/api/v1/pods" and e["metadata"].get("phase") == "decision"]
assert e and e[0].get("tls_bridge") is True and e[0].get("address") == "10.199.0.2" and e[0].get("mitm"), e' \
  "$work/audit.log"
# The detail is the origin's TLS alert when the proxy reads it first, or the
# failed connection when its write of the request met the closed socket first.
check "the refusal's event says the origin's TLS failed" -- "$python" -c '
import json, sys
events = [json.loads(l) for l in open(sys.argv[1])]
e = [e["metadata"] for e in events if e.get("host") == "stranger.test" and e["metadata"]["reason"] == "origin-tls-failed"]
assert e and e[0].get("tls_bridge") is True, e
assert "alert" in e[0]["detail"] or e[0]["detail"] == "the connection failed", e' "$work/audit.log"
check "no line of the client key is in the proxy's log or the audit log" -- \
  bash -c "! grep -qF '$secret_lines' '$work/proxy.err' '$work/audit.log'"

finish
