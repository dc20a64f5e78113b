# Sourced by bench/mitm/run.sh --body-rules, after its namespaces, nginx,
# dnsmasq and lens-proxy ("lens": interception, method/path rules) are up.
# Adds "lens-body": the same routes, but the GraphQL endpoint's entry carries
# a graphql matcher (query operations, two root-field globs), so every
# request's 2 KiB body is read whole, parsed (JSON, then the GraphQL
# document) and judged before it goes on. Both targets get the same request
# (keep-alive POSTs of a 2 KiB GraphQL query, 8 client threads), alternating
# within each round; the added CPU per request is the cost of body judgment.
# shellcheck shell=bash disable=SC2154  # the variables are run.sh's

printf '%s\n' '{"type": "policy", "network": {"defaultVerdict": "deny", "defaultTransport": "direct", "egress": {"http": [
  {"match": "gql.bench.test:8443", "verdict": "allow", "transport": "direct", "rules": [
    {"method": "POST", "path": "/aws/graphql", "graphql": {"operationType": "query", "fields": ["viewer", "repository*"]}}]},
  {"match": "*.bench.test:8443", "verdict": "allow", "transport": "direct", "rules": [{"method": "GET", "path": "/**"}, {"method": "POST", "path": "/aws/**"}]}]}}}' \
  >"$work/policy-body.json"
mkdir -p "$work/lens-body"
cp -r "$work/lens/ca" "$work/lens-body/"
port[lens-body]=3133
cafile[lens-body]=$work/lens/ca/ca.crt
start lens_body "$cli" "$lens" --state-dir "$work/lens-body" --listen 127.0.0.1:3133 --policy "$work/policy-body.json" \
  --origin-ca "$work/ca.crt" --audit off --log-level warn --max-connections 100000 --idle-timeout 600 \
  --resolver 10.202.0.2
wait_port "$cli" 127.0.0.1 3133
pidof[lens-body]=$pid_lens_body

# A 2 KiB GraphQL query as clients send it: a named operation with
# variables, nested selections, an alias and a fragment.
req=$work/requests
mkdir -p "$req"
python3 - "$req/graphql" <<'PY'
import json, sys
fields = " ".join(f"field{i} {{ id name createdAt }}" for i in range(40))
doc = ("query BenchQuery($owner: String!, $name: String!) { viewer { login name ...who } "
       "repo: repository(owner: $owner, name: $name) { issues(first: 20) { nodes { title number " + fields +
       " } } } } fragment who on User { id email }")
body = {"query": doc, "operationName": "BenchQuery", "variables": {"owner": "acme", "name": "web"}}
text = json.dumps(body)
pad = 2048 - len(text)
if pad > 0:  # to exactly 2 KiB: more variables (read and skipped by the judge)
    body["variables"]["pad"] = "x" * (pad - len(', "pad": ""'))
    text = json.dumps(body)
assert len(text) == 2048, len(text)
head = ("POST /aws/graphql HTTP/1.1\r\nHost: gql.bench.test:8443\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(text)}\r\n\r\n")
open(sys.argv[1], "wb").write(head.encode() + text.encode())
PY

body_targets=(lens lens-body)
for t in "${body_targets[@]}"; do
  run_load "$t" keepalive --request-file "$req/graphql" --host gql.bench.test --concurrency 1 --seconds 0.2 \
    >/dev/null 2>"$work/check-$t.err" ||
    { echo "run.sh: $t fails the GraphQL request: $(cat "$work/check-$t.err")" >&2; BENCH_KEEP=1; exit 1; }
done
for ((r = 0; r < rounds; r++)); do
  echo "round $((r + 1))/$rounds" >&2
  for ((i = 0; i < ${#body_targets[@]}; i++)); do
    t=${body_targets[$(((i + r) % ${#body_targets[@]}))]}
    pid=${pidof[$t]}
    before=$(cpu_ticks "$pid")
    line=$(run_load "$t" keepalive --request-file "$req/graphql" --host gql.bench.test --concurrency 8 \
      --seconds "$seconds" 2>>"$work/load-$t.err")
    after=$(cpu_ticks "$pid")
    echo "graphql $t ${line#keepalive } ticks=$((after - before))" >>"$work/results"
    echo "  $t graphql $line, cpu ticks $((after - before))" >&2
  done
done

python3 - "$work/results" "$hz" "$rounds" <<'PY'
import statistics, sys
path, hz, rounds = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rows = {}
for line in open(path):
    kind, target, *fields = line.split()
    rows.setdefault(target, []).append(dict(f.split("=", 1) for f in fields))
good = lambda t: [r for r in rows.get(t, []) if float(r.get("seconds", 0)) > 0 and int(r.get("done", 0)) > 0]
rps = lambda r: int(r["done"]) / float(r["seconds"])
cpu_req = lambda r: int(r["ticks"]) / hz / int(r["done"]) * 1e6
a, b = good("lens"), good("lens-body")
print(f"Medians over {rounds} round(s), targets alternating; 8 keep-alive client threads, POSTs of a 2 KiB")
print("GraphQL query through interception to nginx (TLS 1.3). Ratio and added CPU paired per round, median [min-max].\n")
print("| rule | req/s | proxy CPU µs/req |")
print("|---|---:|---:|")
for t, title in (("lens", "method/path (POST /aws/**)"), ("lens-body", "graphql matcher (body read and judged)")):
    r = good(t)
    print(f"| {title} | {statistics.median(map(rps, r)):,.0f} | {statistics.median(map(cpu_req, r)):.1f} |" if r else f"| {title} | - | - |")
if a and b:
    ratio = [rps(y) / rps(x) for x, y in zip(a, b)]
    added = [cpu_req(y) - cpu_req(x) for x, y in zip(a, b)]
    print(f"\nlens-body / lens requests/s: {statistics.median(ratio):.2f} [{min(ratio):.2f}-{max(ratio):.2f}]; "
          f"body judgment adds {statistics.median(added):+.1f} µs of proxy CPU per request "
          f"[{min(added):+.1f} to {max(added):+.1f}] (target: under 10).")
PY
