#!/usr/bin/env bash
# lens-tproxy intercepting behind the real cage, for a workload with no
# proxy settings: the ClientHello it peeked is fed to the TLS server, the
# leaf names the SNI, each request inside is judged (door transparent-tls),
# Host must equal the SNI (421), names without rules are spliced as before;
# a WebSocket echo (python3-websockets) through interception on a route
# whose rules allow the handshake, refused on one whose rules do not; a
# forward bridge (mutual TLS to an origin that requires a client
# certificate) reached by a redirected connection; GraphQL body rules inside
# interception and on the transparent-http door (a chunked body de-chunked).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../netns.sh"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

start_tproxy_world
ws=0
if "$python" -c 'import websockets' 2>/dev/null; then
  ws=1
  nsenter --net="/run/netns/$outside" "$python" "$source_dir/tests/integration/proxy/ws_echo.py" server \
    --listen 10.199.0.2:8765 --tls "$work/origin.crt" "$work/origin.key" --ready "$work/ready.ws" 2>>"$work/ws.err" &
  pids+=($!)
  wait_ready "$work/ready.ws" "the WebSocket server (see $work/ws.err)"
fi
# GraphQL origins (body rules): over TLS, intercepted, and plain HTTP.
for origin in "graphql 10.199.0.2:8444 --tls $work/origin.crt $work/origin.key" "plain 10.199.0.2:8081"; do
  read -r tag listen tls cert key <<<"$origin"
  nsenter --net="/run/netns/$outside" "$python" "$source_dir/tests/integration/proxy/body_origins.py" graphql \
    --listen "$listen" ${tls:+"$tls" "$cert" "$key"} --log "$work/$tag.log" --ready "$work/ready.$tag" \
    2>>"$work/$tag.err" &
  pids+=($!)
  wait_ready "$work/ready.$tag" "the GraphQL origin $tag (see $work/$tag.err)"
done
mkdir -p "$work/state"
"$proxy" ca init --state-dir "$work/state" >/dev/null
lens_ca=$work/state/ca/ca.crt
in_sbx "$lockdown" apply

write_policy '{"network": {"defaultVerdict": "deny", "defaultTransport": "direct", "egress": {"http": [
  {"match": "origin.test:8443", "verdict": "allow", "transport": "direct",
   "rules": [{"method": "GET", "path": "/api/**"}]},
  {"match": "other.test:8443", "verdict": "allow", "transport": "direct"},
  {"match": "origin.test:8765", "verdict": "allow", "transport": "direct", "rules": [{"method": "GET", "path": "/ws"}]},
  {"match": "origin.test:8444", "verdict": "allow", "transport": "direct", "rules": [{"path": "/graphql", "graphql": {"operationType": "query"}}]},
  {"match": "origin.test:8081", "verdict": "allow", "transport": "direct", "rules": [{"path": "/graphql", "graphql": {"operationType": "query"}}]}]}}}'
start_tproxy --origin-ca "$work/ca.crt"

echo "== interception without proxy settings"
out=$(tc --cacert "$lens_ca" --resolve origin.test:8443:10.199.0.2 https://origin.test:8443/api/x)
check "an intercepted request reaches the origin (the client trusts only the lens CA)" -- grep -q '^origin GET /api/x$' <<<"$out"
out=$(tc --http2 -o /dev/null -w '%{http_code} %{http_version}' --cacert "$lens_ca" --resolve origin.test:8443:10.199.0.2 \
  https://origin.test:8443/api/h2)
check "origin first: curl --http2 is offered the HTTP/1.1 origin's choice (the SNI names it)" -- test "$out" = "200 1.1"
out=$(tc --http1.1 -i --cacert "$lens_ca" --resolve origin.test:8443:10.199.0.2 https://origin.test:8443/admin)
check "a request the rules do not cover is refused 403 inside TLS" -- \
  has_lines "$out" '^HTTP/1.1 403' '^X-Lens-Reason: http-rule-denied'
out=$(tc --http1.1 -i --cacert "$lens_ca" --resolve origin.test:8443:10.199.0.2 -H 'Host: other.test:8443' https://origin.test:8443/api/x)
check "Host other than the SNI: 421 host-mismatch" -- grep -q '^HTTP/1.1 421' <<<"$out"
out=$(tc --cacert "$work/ca.crt" --resolve other.test:8443:10.199.0.2 https://other.test:8443/ 2>&1)
check "a name without rules is spliced: the client sees the origin's own certificate" -- \
  grep -qi 'no alternative certificate subject name matches\|SSL: certificate subject name' <<<"$out"
check "the intercepted requests are audited with door transparent-tls and mitm" -- audit_has \
  '"source":"lens-tproxy","action":"GET https://origin.test:8443/api/x".*"status_code":200,"metadata":\{"phase":"decision","reason":"[a-z-]+","door":"transparent-tls".*"mitm":true'

if ((ws)); then
  echo "== WebSocket through interception"
  out=$(in_sbx "$python" "$source_dir/tests/integration/proxy/ws_echo.py" client --url wss://origin.test:8765/ws \
    --connect 10.199.0.2:8765 --cafile "$lens_ca" 2>&1 || true)
  check "the WebSocket handshake is judged, relayed, then echoes both ways" -- \
    test "$(tr '\n' ' ' <<<"$out")" = "ping 1 ping 2 "
  check "... audited as a 101" -- audit_has '"action":"GET https://origin.test:8765/ws".*"status_code":101'
  out=$(in_sbx "$python" "$source_dir/tests/integration/proxy/ws_echo.py" client --url wss://origin.test:8765/other \
    --connect 10.199.0.2:8765 --cafile "$lens_ca" 2>&1 || true)
  check "a WebSocket on a path the rules do not cover is refused 403" -- grep -q '^refused 403$' <<<"$out"
else
  echo "skip WebSocket: python3-websockets is not installed"
fi

echo "== body rules behind the cage (GraphQL)"
query='{"query": "query TproxyQuery { viewer { login } }"}'
mutation='{"query": "mutation TproxyMutation { deleteRepository(id: 1) { id } }"}'
gql() { tstatus -H 'Content-Type: application/json' --resolve origin.test:8444:10.199.0.2 "$@"; }
check "a query inside interception: 200" -- test "$(gql --cacert "$lens_ca" -d "$query" https://origin.test:8444/graphql)" = 200
check "... the origin got it" -- grep -q TproxyQuery "$work/graphql.log"
check "a mutation inside interception: 403" -- test "$(gql --cacert "$lens_ca" -d "$mutation" https://origin.test:8444/graphql)" = 403
check "... never at the origin" -- bash -c "! grep -q TproxyMutation '$work/graphql.log'"
check "a chunked query on the transparent-http door: 200" -- \
  test "$(tstatus -H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked' -d "$query" http://10.199.0.2:8081/graphql -H 'Host: origin.test:8081')" = 200
check "... the origin got it with a Content-Length" -- python3 -c '
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert any("TproxyQuery" in l.get("body", "") and l.get("content_length") and not l.get("transfer_encoding") for l in lines), lines' "$work/plain.log"
check "a mutation on the transparent-http door: 403" -- \
  test "$(tstatus -H 'Content-Type: application/json' -d "$mutation" http://10.199.0.2:8081/graphql -H 'Host: origin.test:8081')" = 403
check "the audit names the operation, door transparent-tls" -- audit_has \
  '"source":"lens-tproxy","action":"POST https://origin.test:8444/graphql".*"status_code":200.*"door":"transparent-tls".*"graphql_operation":"query TproxyQuery"'
check "... and door transparent-http" -- audit_has \
  '"source":"lens-tproxy".*"status_code":200.*"door":"transparent-http".*"graphql_operation":"query TproxyQuery"'

echo "== a forward bridge behind the cage"
make_cert apiserver "DNS:api.cluster.test"
make_cert agent "DNS:agent"
serve_py "$outside" apiserver origin --listen 10.199.0.2:7443 --tls "$work/apiserver.crt" "$work/apiserver.key" \
  --client-ca "$work/ca.crt" --log "$work/apiserver.log"
applied=$(applied_count)
"$python" - "$work" <<'PY'
import json, sys
work = sys.argv[1]
policy = json.load(open(f"{work}/policy.json"))
pem = lambda name: open(f"{work}/{name}").read()
policy["network"]["egress"]["http"].append(
    {"match": "kube.test:6443", "verdict": "allow", "transport": "direct",
     "forward": {"dialAddr": "10.199.0.2:7443", "tlsServerName": "api.cluster.test", "certPem": pem("agent.crt"),
                 "keyPem": pem("agent.key"), "caPem": pem("ca.crt"), "upstreamHostHeader": "api.cluster.test"}})
json.dump(policy, open(f"{work}/policy.json.tmp", "w"))
PY
mv "$work/policy.json.tmp" "$work/policy.json"
wait_applied "$applied"
out=$(tc --cacert "$lens_ca" --resolve kube.test:6443:10.199.0.2 -H 'Authorization: Bearer synthetic' \
  https://kube.test:6443/api/v1/pods)
check "a redirected request to the bridged name is answered over the bridge" -- grep -q '^host=api.cluster.test$' <<<"$out"
check "... with the client certificate and without the sandbox's Authorization" -- \
  bash -c "grep -q '^  client-cert: CN=agent$' '$work/apiserver.log' && ! grep -qi 'authorization' '$work/apiserver.log'"
check "... audited with tls_bridge on the transparent-tls door" -- \
  audit_has '"action":"GET https://kube.test:6443/api/v1/pods".*"door":"transparent-tls".*"tls_bridge":true'

kill -TERM "$tproxy_pid"
wait "$tproxy_pid" || true
finish
