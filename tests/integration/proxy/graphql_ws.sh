#!/usr/bin/env bash
# GraphQL subscriptions over WebSocket inside interception (lens-proxy): a
# graphql-transport-ws server (graphql_ws.py, python3-websockets) whose
# policy grants subscriptions and queries on /graphql but no mutation. The
# client offers permessage-deflate: the proxy strips the offer (the server
# never sees it, nothing is negotiated), and judges each client frame: an
# allowed subscription is answered; a mutation, an unnamed subscription the
# rules do not cover, a binary frame end the socket with a close frame 1008
# that names the reason, and the server never sees the refused frame. A
# server that negotiates an extension anyway is refused (502). A socket on
# a path where no rule grants subscriptions is refused at the handshake.
# Audit: each judged subscribe is a decision event naming the operation;
# refusals carry reason graphql_frame_denied.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../netns.sh"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
"$python" -c 'import websockets' 2>/dev/null || skip "needs python3-websockets"
ws_py=$source_dir/tests/integration/proxy/graphql_ws.py

make_certs
make_cert gql "DNS:gql.test"
make_cert deflate "DNS:deflate.test"
start_dns_for gql.test deflate.test
nsenter --net="/run/netns/$outside" "$python" "$ws_py" server --listen 10.199.0.2:8443 \
  --tls "$work/gql.crt" "$work/gql.key" --log "$work/server.log" --ready "$work/ready.server" \
  2>>"$work/server.err" &
pids+=($!)
wait_ready "$work/ready.server" "the GraphQL WebSocket server (see $work/server.err)"
nsenter --net="/run/netns/$outside" "$python" "$ws_py" extension-server --listen 10.199.0.2:9443 \
  --tls "$work/deflate.crt" "$work/deflate.key" --ready "$work/ready.deflate" 2>>"$work/deflate.err" &
pids+=($!)
wait_ready "$work/ready.deflate" "the extension server (see $work/deflate.err)"
mkdir -p "$work/state"
"$proxy" ca init --state-dir "$work/state" >/dev/null
lens_ca=$work/state/ca/ca.crt

write_policy '{"network": {"defaultVerdict": "deny", "defaultTransport": "direct", "egress": {"http": [
  {"match": "gql.test:8443", "verdict": "allow", "transport": "direct", "rules": [
    {"path": "/graphql", "graphql": {"operationType": "subscription", "operationName": "On*"}},
    {"path": "/graphql", "graphql": {"operationType": "query"}},
    {"path": "/plain", "graphql": {"operationType": "query"}}]},
  {"match": "deflate.test:9443", "verdict": "allow", "transport": "direct", "rules": [
    {"path": "/graphql", "graphql": {"operationType": "*"}}]}]}}}'
start_proxy --origin-ca "$work/ca.crt"

# ws URL STEP...: the client in the sandbox through the proxy; prints its lines.
ws() {
  local url=$1
  shift
  in_sbx timeout 30 "$python" "$ws_py" client --proxy 127.0.0.1:3128 --url "$url" --cafile "$lens_ca" "$@" 2>&1 || true
}

echo "== an allowed subscription, then a mutation"
out=$(ws wss://gql.test:8443/graphql 'sub:subscription OnStar { starAdded { id } }' \
  'sub:query GetViewer { viewer { login } }' 'sub:mutation AddStar { addStar { id } }' \
  'sub:subscription OnLate { late }')
echo "$out"
check "the handshake went through; no extension was negotiated" -- grep -qx 'extensions none' <<<"$out"
check "connection_init passes and is acknowledged" -- grep -qx 'connection_ack' <<<"$out"
check "the subscription OnStar is answered" -- grep -qx 'next subscription OnStar { starAdded { id } }' <<<"$out"
check "a query on the socket is answered (the rules cover it)" -- grep -qx 'next query GetViewer { viewer { login } }' <<<"$out"
check "the mutation closes the socket with 1008 naming it" -- \
  grep -Eq '^closed 1008 .*mutation AddStar' <<<"$out"
check "nothing after the refusal ran" -- bash -c "! grep -q OnLate <<<'$out'"
check "the server never saw the permessage-deflate offer" -- \
  "$python" -c 'import json, sys
hs = [json.loads(l) for l in open(sys.argv[1]) if json.loads(l)["event"] == "handshake"]
sys.exit(0 if hs and all(h["extensions"] is None and h["negotiated"] is None for h in hs) else 1)' "$work/server.log"
check "the server got the allowed subscribe" -- grep -q 'OnStar' "$work/server.log"
check "the server never got the mutation" -- bash -c "! grep -q 'AddStar' '$work/server.log'"

echo "== a subscription the rules do not name, a binary frame"
out=$(ws wss://gql.test:8443/graphql 'sub:subscription Other { starAdded { id } }')
echo "$out"
check "an unnamed subscription (not On*): closed 1008" -- grep -Eq '^closed 1008 .*subscription Other' <<<"$out"
check "... never at the server" -- bash -c "! grep -q 'subscription Other' '$work/server.log'"
out=$(ws wss://gql.test:8443/graphql binary)
echo "$out"
check "a binary frame: closed 1008" -- grep -Eq '^closed 1008 .*binary' <<<"$out"

echo "== refused handshakes"
out=$(ws wss://gql.test:8443/plain)
echo "$out"
check "a socket where no rule grants subscriptions: 403 at the handshake" -- grep -qx 'refused 403' <<<"$out"
out=$(ws wss://deflate.test:9443/graphql)
echo "$out"
check "a server that negotiates an extension anyway: 502" -- grep -qx 'refused 502' <<<"$out"

echo "== the same over HTTP/2 (RFC 8441 extended CONNECT)"
if "$python" -c 'import h2' 2>/dev/null; then
  out=$(in_sbx timeout 30 "$python" "$source_dir/tests/integration/proxy/h2_client.py" --proxy 127.0.0.1:3128 \
    --ca "$lens_ca" --connect gql.test:8443 --subprotocol graphql-transport-ws websocket /graphql \
    '{"type": "connection_init"}' \
    '{"id": "1", "type": "subscribe", "payload": {"query": "subscription OnH2 { starAdded { id } }"}}' \
    '{"id": "2", "type": "subscribe", "payload": {"query": "mutation AddH2 { addStar { id } }"}}' \
    '{"id": "3", "type": "subscribe", "payload": {"query": "subscription OnAfter { late }"}}' 2>&1 || true)
  echo "$out"
  check "an HTTP/2 client's socket: 200, connection_ack, the subscription answered" -- has_lines "$out" \
    '^status 200$' '^echo {"type": "connection_ack"}$' '^echo .*subscription OnH2'
  check "... the mutation closes it with 1008 naming it, and nothing after it is sent" -- \
    bash -c "grep -Eq '^close 1008 .*mutation AddH2' <<<'$out' && ! grep -q OnAfter <<<'$out'"
  check "... the server got the subscription, never the mutation" -- \
    bash -c "grep -q 'OnH2' '$work/server.log' && ! grep -q 'AddH2' '$work/server.log'"
else
  echo "skip HTTP/2: python3-h2 is not installed"
fi

echo "== audit events"
audit_event "the allowed subscribe is an event naming its operation" -- \
  'm.get("graphql_operation") == "subscription OnStar" and e.get("status_code") == 101'
audit_event "the refused mutation: graphql_frame_denied, naming it" -- \
  'm.get("reason") == "graphql_frame_denied" and m.get("graphql_operation") == "mutation AddStar"'
# (Failures of one action and reason are rate-limited: the later refusals on
# the same URL fold into the first one's event; the log names each.)
check "the proxy's log names the binary frame's refusal" -- \
  grep -q 'GraphQL socket closed: a binary frame' "$work/proxy.err"
audit_event "the extension server's 101: bad-response" -- \
  'e.get("host") == "deflate.test" and e.get("status_code") == 502'

if ((failures > 0)); then
  echo "--- proxy stderr" >&2
  cat "$work/proxy.err" >&2
fi
finish
