#!/usr/bin/env bash
# Body rules inside interception (lens-proxy): a GraphQL origin whose policy
# permits queries and one mutation (AddStar, field addStar alone), and an MCP
# server whose policy permits initialize, tools/list and tools/call of
# "search" with a query argument matching lens* (body_origins.py; each logs
# every request's head and body hash). Through CONNECT with python requests
# and curl: allowed requests reach the origin with the very bytes sent
# (a chunked body de-chunked, with Content-Length); refused ones never do:
# other mutations (also behind an alias or a fragment, in a batch, by GET)
# 403 http-rule-denied; a persisted query by hash, malformed JSON, duplicate
# keys, a syntax error, a batch over 32, MCP headers that disagree with the
# body, an MCP batch 400 body-malformed; a body over --max-graphql-body or
# --max-mcp-body (defaults, then small ones) 413 body-too-large; a gzip or
# multipart body 415 body-malformed. Expect: 100-continue is answered by the
# proxy; a refusal leaves the keep-alive connection usable; plain HTTP
# through the forward door is judged alike. The audit events name the
# GraphQL operations and the MCP method and tool, never an argument value.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../netns.sh"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
"$python" -c 'import requests' 2>/dev/null || skip "needs python3-requests"
origins_py=$source_dir/tests/integration/proxy/body_origins.py

# serve_origin TAG KIND ARGS...: body_origins.py KIND in "outside", logging to
# $work/TAG.log, waiting until it listens.
serve_origin() {
  local tag=$1 kind=$2
  shift 2
  nsenter --net="/run/netns/$outside" "$python" "$origins_py" "$kind" "$@" --log "$work/$tag.log" \
    --ready "$work/ready.$tag" 2>>"$work/$tag.err" &
  pids+=($!)
  wait_ready "$work/ready.$tag" "$tag (see $work/$tag.err)"
}

make_certs
make_cert graphql "DNS:graphql.test"
make_cert mcp "DNS:mcp.test"
start_dns_for graphql.test mcp.test
serve_origin graphql graphql --listen 10.199.0.2:8443 --tls "$work/graphql.crt" "$work/graphql.key"
serve_origin plain graphql --listen 10.199.0.2:8080
serve_origin mcp mcp --listen 10.199.0.2:9443 --tls "$work/mcp.crt" "$work/mcp.key"
mkdir -p "$work/state"
"$proxy" ca init --state-dir "$work/state" >/dev/null
lens_ca=$work/state/ca/ca.crt

write_policy '{"network": {"defaultVerdict": "deny", "defaultTransport": "direct", "egress": {"http": [
  {"match": "graphql.test:8443", "verdict": "allow", "transport": "direct", "rules": [
    {"path": "/graphql", "graphql": {"operationType": "query"}},
    {"path": "/graphql", "graphql": {"operationType": "mutation", "operationName": "AddStar", "fields": ["addStar"]}},
    {"method": "GET", "path": "/health"}]},
  {"match": "graphql.test:8080", "scheme": "http", "verdict": "allow", "transport": "direct", "rules": [
    {"method": "POST", "path": "/graphql", "graphql": {"operationType": "query"}}]},
  {"match": "mcp.test:9443", "verdict": "allow", "transport": "direct", "rules": [
    {"method": "POST", "path": "/mcp", "mcp": {"method": "initialize"}},
    {"method": "POST", "path": "/mcp", "mcp": {"method": "tools/list"}},
    {"method": "POST", "path": "/mcp", "mcp": {"method": "tools/call", "tool": "search",
      "arguments": [{"pointer": "/query", "glob": "lens*"}]}}]}]}}}'
start_proxy --origin-ca "$work/ca.crt"

# What every client script starts with: a requests Session through the
# proxy trusting the lens CA, and post()/get() printing one line per request,
# "NAME STATUS REASON SHA256-OF-THE-BODY-SENT" (REASON "-" when the answer
# has no X-Lens-Reason; "NAME error EXCEPTION -" when the exchange failed).
cat >"$work/prelude.py" <<'PY'
import hashlib, json, os, requests
s = requests.Session()
s.proxies = {"https": os.environ["PROXY"], "http": os.environ["PROXY"]}
G = "https://graphql.test:8443/graphql"
M = "https://mcp.test:9443/mcp"
def show(name, send, body=b""):
    try:
        r = send()
    except requests.RequestException as e:
        print(name, "error", type(e).__name__, "-")
        return None
    print(name, r.status_code, r.headers.get("X-Lens-Reason", "-"), hashlib.sha256(body).hexdigest())
    return r
def post(name, url, body, headers=None):
    if not isinstance(body, (bytes, str)):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode()
    h = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    h.update(headers or {})
    return show(name, lambda: s.post(url, data=body, headers=h, timeout=10), body)
def get(name, url, params=None):
    return show(name, lambda: s.get(url, params=params, timeout=10))
def call(id, tool, arguments):
    return {"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}
PY

# client: runs the python script on stdin after prelude.py, in the sandbox;
# prints what it prints.
client() {
  cat "$work/prelude.py" - >"$work/client.py"
  in_sbx env PROXY=http://127.0.0.1:3128 REQUESTS_CA_BUNDLE="$lens_ca" "$python" "$work/client.py" 2>&1 || true
}

# answer NAME: "STATUS REASON" of the client's line for NAME (in $out).
answer() { awk -v n="$1" '$1 == n {print $2, $3}' <<<"$out"; }
# answered NAME "STATUS REASON" WHAT: the check that NAME was answered so.
answered() {
  local got
  got=$(answer "$1")
  check "$3: $2 (got ${got:-no answer})" -- test "$got" = "$2"
}
# origin_saw LOG SHA: the origin logged a request whose body has SHA-256 SHA
# (1 when not, 2 when SHA is no hash: never taken for "not seen").
origin_saw() {
  [[ $2 =~ ^[0-9a-f]{64}$ ]] || return 2
  grep -q "\"body_sha256\": \"$2\"" "$1"
}
# reached LOG NAME / missed LOG NAME: the origin logged (never logged) the
# body the client sent for NAME.
sent() { awk -v n="$1" '$1 == n {print $4}' <<<"$out"; }
reached() { origin_saw "$1" "$(sent "$2")"; }
missed() { missed_sha "$1" "$(sent "$2")"; }
# missed_sha LOG SHA: the origin never logged a body with SHA-256 SHA.
missed_sha() {
  local rc=0
  origin_saw "$1" "$2" || rc=$?
  ((rc == 1))
}
# file_sha FILE: its SHA-256.
file_sha() { sha256sum "$1" | cut -d' ' -f1; }

# cq ARGS...: curl in the sandbox through the proxy trusting the lens CA;
# prints "STATUS REASON" (REASON "-" when the answer has no X-Lens-Reason).
cq() {
  local got
  got=$(in_sbx curl -sS --max-time 10 --proxy http://127.0.0.1:3128 --cacert "$lens_ca" -o /dev/null \
    -w '%{http_code} %header{x-lens-reason}' "$@" 2>/dev/null || true)
  [[ $got == *' ' ]] && got+=-
  echo "$got"
}

echo "== GraphQL: what the policy permits reaches the origin byte for byte"
out=$(client <<'PY'
post("query", G, {"query": "query GetViewer { viewer { login } }", "operationName": "GetViewer"})
post("addstar", G, {"query": 'mutation AddStar { addStar(input: {starrableId: "R1"}) { clientMutationId } }'})
post("batch", G, [{"query": "query BatchOne { viewer { login } }"}, {"query": "query BatchTwo { viewer { id } }"}])
get("get_query", G, {"query": "query ViaGetQuery { viewer { login } }"})
get("health", "https://graphql.test:8443/health")
PY
)
echo "$out"
answered query "200 -" "a query"
check "... the origin got the exact body" -- reached "$work/graphql.log" query
answered addstar "200 -" "mutation AddStar with its one field addStar"
check "... the origin got it" -- reached "$work/graphql.log" addstar
answered batch "200 -" "a batch of two queries"
check "... the origin got it" -- reached "$work/graphql.log" batch
answered get_query "200 -" "a query by GET"
check "... the origin got it" -- grep -q '"target": "/graphql?query=query+ViaGetQuery' "$work/graphql.log"
answered health "200 -" "a path no graphql rule covers is judged by its head"

echo "== GraphQL: operations the policy does not permit never reach the origin"
out=$(client <<'PY'
post("mutation", G, {"query": 'mutation DeleteRepo { deleteRepository(input: {id: "R1"}) { clientMutationId } }'})
post("renamed", G, {"query": 'mutation Star { addStar(input: {starrableId: "R1"}) { clientMutationId } }'})
post("alias", G, {"query": 'mutation AddStar { addStar: deleteRepository(input: {id: "R1"}) { clientMutationId } }'})
post("fragment", G, {"query": 'mutation AddStar { addStar(input: {starrableId: "R1"}) { clientMutationId } ...Hidden }'
                              ' fragment Hidden on Mutation { deleteRepository(input: {id: "R1"}) { clientMutationId } }'})
post("inline", G, {"query": 'mutation AddStar { addStar(input: {starrableId: "R1"}) { clientMutationId }'
                            ' ... on Mutation { deleteRepository(input: {id: "R1"}) { clientMutationId } } }'})
post("subscription", G, {"query": "subscription OnStar { starAdded { id } }"})
post("batch_mutation", G, [{"query": "query BatchThree { viewer { login } }"},
                           {"query": 'mutation BatchEvil { deleteRepository(input: {id: "R1"}) { clientMutationId } }'}])
get("get_mutation", G, {"query": 'mutation ViaGetMutation { deleteRepository(input: {id: "R1"}) { clientMutationId } }'})
PY
)
echo "$out"
for item in "mutation|another mutation" "renamed|addStar in a mutation of another name" \
  "alias|deleteRepository behind the alias addStar" "fragment|deleteRepository in a fragment spread" \
  "inline|deleteRepository in an inline fragment" "subscription|a subscription" \
  "batch_mutation|a batch of a query and a mutation"; do
  answered "${item%%|*}" "403 http-rule-denied" "${item#*|}"
  check "... never at the origin" -- missed "$work/graphql.log" "${item%%|*}"
done
answered get_mutation "403 http-rule-denied" "a mutation by GET"
check "... never at the origin" -- bash -c "! grep -q 'ViaGetMutation' '$work/graphql.log'"

echo "== GraphQL: bodies that cannot be judged"
out=$(client <<'PY'
post("persisted", G, {"operationName": "Persisted", "extensions": {"persistedQuery": {"version": 1,
     "sha256Hash": "ecf4edb46db40b5132295c0291d62fb65d6759a9eedfa4d5d612dd5ec54a6b38"}}})
post("malformed", G, '{"query": "query Broken { viewer { login } }"')
post("duplicate_keys", G, '{"query": "query DupSafe { viewer { login } }",'
                          ' "query": "mutation DupEvil { deleteRepository(input: {id: \\"R1\\"}) { clientMutationId } }"}')
post("syntax", G, {"query": "query Unclosed { viewer { login }"})
post("two_operations", G, {"query": "query OpA { viewer { id } } query OpB { viewer { login } }"})
post("batch_33", G, [{"query": "query Q%d { viewer { id } }" % i} for i in range(33)])
PY
)
echo "$out"
for item in "persisted|a persisted query by its hash alone" "malformed|malformed JSON" \
  "duplicate_keys|duplicate keys" "syntax|a GraphQL syntax error" \
  "two_operations|two operations and no operationName" "batch_33|a batch of 33"; do
  answered "${item%%|*}" "400 body-malformed" "${item#*|}"
  check "... never at the origin" -- missed "$work/graphql.log" "${item%%|*}"
done

echo "== GraphQL with curl: framing, encodings, Expect, size"
printf '{"query": "query ChunkedBody { viewer { login } }"}' >"$work/chunked.json"
printf '{"query": "query GzipBody { viewer { login } }"}' | gzip -c >"$work/gzip.json.gz"
"$python" - "$work" <<'PY'
import json, os, sys
def padded(query, size):
    head = json.dumps({"query": query, "variables": {"pad": ""}})
    return head.replace('"pad": ""', '"pad": "' + "x" * (size - len(head)) + '"').encode()
open(os.path.join(sys.argv[1], "expect.json"), "wb").write(padded("query ExpectBody { viewer { login } }", 2000))
open(os.path.join(sys.argv[1], "big.json"), "wb").write(padded("query BigBody { viewer { login } }", 70000))
PY
json=(-H 'Content-Type: application/json')
got=$(cq "${json[@]}" -H 'Transfer-Encoding: chunked' --data-binary @"$work/chunked.json" https://graphql.test:8443/graphql)
check "a chunked body: 200 (got $got)" -- test "$got" = "200 -"
check "... the origin got it whole, with Content-Length and without Transfer-Encoding" -- "$python" -c '
import json, sys
entries = [json.loads(line) for line in open(sys.argv[1])]
e = [e for e in entries if e["body_sha256"] == sys.argv[2]]
assert len(e) == 1 and e[0]["content_length"] == sys.argv[3] and e[0]["transfer_encoding"] is None, e' \
  "$work/graphql.log" "$(file_sha "$work/chunked.json")" "$(stat -c %s "$work/chunked.json")"
# The origins never send 100 Continue: a 100 here is the proxy's own.
got=$(cq "${json[@]}" -H 'Expect: 100-continue' -D "$work/expect.head" --data-binary @"$work/expect.json" \
  https://graphql.test:8443/graphql)
check "Expect: 100-continue: 200 (got $got)" -- test "$got" = "200 -"
check "... the proxy answered 100 Continue" -- grep -Eq '^HTTP/(1.1|2) 100' "$work/expect.head"
check "... the origin got the body" -- origin_saw "$work/graphql.log" "$(file_sha "$work/expect.json")"
got=$(cq "${json[@]}" -H 'Expect:' --data-binary @"$work/big.json" https://graphql.test:8443/graphql)
check "a body of 70000 bytes (over the default --max-graphql-body): 413 body-too-large (got $got)" -- \
  test "$got" = "413 body-too-large"
check "... never at the origin" -- bash -c "! grep -q 'BigBody' '$work/graphql.log'"
got=$(cq "${json[@]}" -H 'Content-Encoding: gzip' --data-binary @"$work/gzip.json.gz" https://graphql.test:8443/graphql)
check "a gzip body: 415 body-malformed (got $got)" -- test "$got" = "415 body-malformed"
check "... never at the origin" -- missed_sha "$work/graphql.log" "$(file_sha "$work/gzip.json.gz")"
got=$(cq -F 'operations={"query": "query MultipartBody { viewer { login } }"}' -F 'map={}' \
  https://graphql.test:8443/graphql)
check "a multipart/form-data body: 415 body-malformed (got $got)" -- test "$got" = "415 body-malformed"
check "... never at the origin" -- bash -c "! grep -q 'MultipartBody' '$work/graphql.log'"

echo "== GraphQL: a refusal leaves the keep-alive connection usable"
# Two requests on one TLS connection through the proxy: the second is
# answered only if the refusal of the first left the connection open.
out=$(in_sbx env REQUESTS_CA_BUNDLE="$lens_ca" "$python" - <<'PY' 2>&1 || true
import json, os, socket, ssl
raw = socket.create_connection(("127.0.0.1", 3128), timeout=10)
raw.sendall(b"CONNECT graphql.test:8443 HTTP/1.1\r\nHost: graphql.test:8443\r\n\r\n")
answer = b""
while b"\r\n\r\n" not in answer:
    answer += raw.recv(4096)
tls = ssl.create_default_context(cafile=os.environ["REQUESTS_CA_BUNDLE"]).wrap_socket(
    raw, server_hostname="graphql.test")
replies = tls.makefile("rb")
def post(name, query):
    body = json.dumps({"query": query}).encode()
    try:
        tls.sendall(b"POST /graphql HTTP/1.1\r\nHost: graphql.test:8443\r\n"
                    b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        status = replies.readline().split()[1].decode()
        length, reason = 0, "-"
        while True:
            line = replies.readline()
            if line in (b"\r\n", b""):
                break
            key, _, value = line.decode().partition(":")
            if key.lower() == "content-length":
                length = int(value)
            if key.lower() == "x-lens-reason":
                reason = value.strip()
        replies.read(length)
        print(name, status, reason)
    except (OSError, IndexError) as e:
        print(name, "error", type(e).__name__)
post("keep_refused", 'mutation KeepRefused { deleteRepository(input: {id: "R1"}) { clientMutationId } }')
post("keep_allowed", "query KeepAllowed { viewer { login } }")
PY
)
echo "$out"
answered keep_refused "403 http-rule-denied" "a refused mutation on a keep-alive connection"
answered keep_allowed "200 -" "the next request on the same TLS connection"
check "... the origin got it" -- grep -q 'KeepAllowed' "$work/graphql.log"

echo "== GraphQL over plain HTTP (the forward door)"
got=$(cq "${json[@]}" -d '{"query": "query PlainQuery { viewer { login } }"}' http://graphql.test:8080/graphql)
check "a query: 200 (got $got)" -- test "$got" = "200 -"
check "... the origin got it" -- grep -q 'PlainQuery' "$work/plain.log"
got=$(cq "${json[@]}" -d '{"query": "mutation PlainMutation { deleteRepository(input: {id: \"R1\"}) { clientMutationId } }"}' \
  http://graphql.test:8080/graphql)
check "a mutation: 403 http-rule-denied (got $got)" -- test "$got" = "403 http-rule-denied"
check "... never at the origin" -- bash -c "! grep -q 'PlainMutation' '$work/plain.log'"
got=$(cq "${json[@]}" -H 'Content-Encoding: gzip' --data-binary @"$work/gzip.json.gz" http://graphql.test:8080/graphql)
check "a gzip body: 415 body-malformed (got $got)" -- test "$got" = "415 body-malformed"

echo "== MCP"
out=$(client <<'PY'
init = post("initialize", M, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "body_rules", "version": "1"}}})
H = {"Mcp-Session-Id": init.headers.get("Mcp-Session-Id", "-") if init is not None else "-",
     "MCP-Protocol-Version": "2025-06-18"}
r = post("tools_list", M, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, H)
print("tools", ",".join(t["name"] for t in r.json()["result"]["tools"]) if r is not None and r.ok else "-")
r = post("search", M, call(3, "search", {"query": "lens arg-value-4d1e"}), H)
print("search_result", json.dumps(r.json()["result"]["content"][0]["text"]) if r is not None and r.ok else "-")
post("delete_repo", M, call(4, "delete_repo", {"repo": "arg-value-77c0"}), H)
post("search_other", M, call(5, "search", {"query": "other arg-value-9b21"}), H)
post("search_number", M, call(6, "search", {"query": 42}), H)
post("search_no_arguments", M, {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "search"}}, H)
post("resources_read", M, {"jsonrpc": "2.0", "id": 8, "method": "resources/read", "params": {"uri": "file:///notes.txt"}}, H)
post("headers_agree", M, call(9, "search", {"query": "lens arg-value-a9e1"}),
     dict(H, **{"Mcp-Method": "tools/call", "Mcp-Name": "search"}))
post("header_method", M, call(10, "search", {"query": "lens arg-value-c3d7"}), dict(H, **{"Mcp-Method": "tools/list"}))
post("header_name", M, call(11, "search", {"query": "lens arg-value-e5f2"}), dict(H, **{"Mcp-Name": "delete_repo"}))
post("mcp_batch", M, [{"jsonrpc": "2.0", "id": 12, "method": "tools/list"},
                      call(13, "search", {"query": "lens arg-value-0b6a"})], H)
post("mcp_malformed", M, '{"jsonrpc": "2.0", "id": 14, "method": "tools/list"', H)
PY
)
echo "$out"
answered initialize "200 -" "initialize"
answered tools_list "200 -" "tools/list"
check "... the server's tools came back" -- grep -qx 'tools search,delete_repo' <<<"$out"
answered search "200 -" "tools/call search with query lens..."
check "... the server's answer came back" -- grep -q "^search_result \"3 results for 'lens arg-value-4d1e'\"$" <<<"$out"
answered headers_agree "200 -" "... with Mcp-Method and Mcp-Name that agree with the body"
for name in initialize tools_list search headers_agree; do
  check "$name: the server got the exact body" -- reached "$work/mcp.log" "$name"
done
for item in "delete_repo|tools/call delete_repo" "search_other|tools/call search with query other..." \
  "search_number|tools/call search with a number for query" \
  "search_no_arguments|tools/call search without arguments" "resources_read|resources/read"; do
  answered "${item%%|*}" "403 http-rule-denied" "${item#*|}"
  check "... never at the server" -- missed "$work/mcp.log" "${item%%|*}"
done
for item in "header_method|an Mcp-Method header that disagrees with the body" \
  "header_name|an Mcp-Name header that disagrees with the body" "mcp_batch|a JSON-RPC batch" \
  "mcp_malformed|malformed JSON"; do
  answered "${item%%|*}" "400 body-malformed" "${item#*|}"
  check "... never at the server" -- missed "$work/mcp.log" "${item%%|*}"
done
# Over the default --max-mcp-body (1 MiB); curl sends Expect: 100-continue
# with a body this size.
"$python" -c '
import json, sys
head = json.dumps({"jsonrpc": "2.0", "id": 15, "method": "tools/call",
                   "params": {"name": "search", "arguments": {"query": "lens BigCall", "pad": ""}}})
sys.stdout.write(head.replace("\"pad\": \"\"", "\"pad\": \"" + "x" * (1048576 + 1000 - len(head)) + "\""))' \
  >"$work/big-call.json"
got=$(cq "${json[@]}" --data-binary @"$work/big-call.json" https://mcp.test:9443/mcp)
check "a tools/call of 1 MiB + 1000 bytes: 413 body-too-large (got $got)" -- test "$got" = "413 body-too-large"
check "... never at the server" -- bash -c "! grep -q 'BigCall' '$work/mcp.log'"

echo "== audit events"
audit_event "the query's event names its operation" -- \
  'm.get("graphql_operation") == "query GetViewer" and e.get("status_code") == 200'
audit_event "the batch's event names both operations" -- \
  'm.get("graphql_operation") == "query BatchOne, query BatchTwo" and e.get("status_code") == 200'
audit_event "the GET query's event names its operation" -- \
  'm.get("graphql_operation") == "query ViaGetQuery" and e.get("status_code") == 200'
audit_event "a refused mutation's event: 403 http-rule-denied" -- \
  'e.get("path") == "/graphql" and e.get("status_code") == 403 and m.get("reason") == "http-rule-denied"'
audit_event "the large body's event: 413 body-too-large" -- \
  'e.get("path") == "/graphql" and e.get("status_code") == 413 and m.get("reason") == "body-too-large"'
# (Failures of one action and reason are rate-limited: the plain door's
# gzip body is that door's only body-malformed.)
audit_event "the gzip body's event: 415 body-malformed" -- \
  'e.get("action") == "POST http://graphql.test:8080/graphql" and e.get("status_code") == 415 and m.get("reason") == "body-malformed"'
audit_event "a malformed body's event: 400 body-malformed" -- \
  'e.get("path") == "/graphql" and e.get("status_code") == 400 and m.get("reason") == "body-malformed"'
audit_event "initialize's event names the MCP method" -- \
  'm.get("mcp_method") == "initialize" and e.get("status_code") == 200'
audit_event "the search call's event names the MCP method and tool" -- \
  'm.get("mcp_method") == "tools/call" and m.get("mcp_tool") == "search" and e.get("status_code") == 200'
audit_event "the delete_repo call's event: 403 http-rule-denied" -- \
  'e.get("path") == "/mcp" and e.get("status_code") == 403 and m.get("reason") == "http-rule-denied"'
audit_event "the disagreeing header's event: 400 body-malformed" -- \
  'e.get("path") == "/mcp" and e.get("status_code") == 400 and m.get("reason") == "body-malformed"'

echo "== smaller limits: --max-graphql-body and --max-mcp-body"
stop_proxy
start_proxy --origin-ca "$work/ca.crt" --max-graphql-body 4096 --max-mcp-body 4096
out=$(client <<'PY'
post("limit_query_ok", G, {"query": "query LimitSmall { viewer { login } }"})
post("limit_query", G, {"query": "query LimitBig { viewer { login } }", "variables": {"pad": "x" * 5000}})
post("limit_call_ok", M, call(1, "search", {"query": "lens arg-value-17aa"}))
post("limit_call", M, call(2, "search", {"query": "lens arg-value-28bb", "pad": "x" * 5000}))
PY
)
echo "$out"
answered limit_query_ok "200 -" "a query under --max-graphql-body 4096"
answered limit_query "413 body-too-large" "a query of 5000 bytes over it"
check "... never at the origin" -- missed "$work/graphql.log" limit_query
answered limit_call_ok "200 -" "a tools/call under --max-mcp-body 4096"
answered limit_call "413 body-too-large" "a tools/call of 5000 bytes over it"
check "... never at the server" -- missed "$work/mcp.log" limit_call
check "no MCP argument value (arg-value-...) is in the audit log" -- bash -c "! grep -q 'arg-value-' '$work/audit.log'"

if ((failures > 0)); then
  echo "--- proxy stderr" >&2
  cat "$work/proxy.err" >&2
fi
finish
