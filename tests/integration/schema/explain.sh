#!/usr/bin/env bash
# `lens-schema explain` names the verdict, the deciding rule, the reason and
# whether TLS must be intercepted, for requests against the example policies.
# Exit codes: 0 when allowed (or ask), 4 when denied, 3 for an invalid policy.
# Needs /usr/bin/python3 to read the --json output; skips without.
# Exit 0 pass, 77 skip, 1 fail.
set -euo pipefail

: "${LENS_SCHEMA:?LENS_SCHEMA must name the lens-schema binary}"
: "${LENS_SOURCE_DIR:?LENS_SOURCE_DIR must name the source tree}"

python=/usr/bin/python3
examples="$LENS_SOURCE_DIR/schemas/examples"
if [[ ! -x "$python" ]]; then
  echo "SKIP: $python is not installed (needed to read explain --json)" >&2
  exit 77
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Compares KEY=VALUE pairs (dotted keys into the JSON object; values as JSON
# scalars, strings bare) with the JSON document on stdin.
cat >"$tmp/fields.py" <<'PY'
import json
import sys

try:
    document = json.load(sys.stdin)
except ValueError as e:
    print(f"output is not JSON: {e}")
    sys.exit(1)
problems = []
for pair in sys.argv[1:]:
    key, expected = pair.split("=", 1)
    value = document
    for part in key.split("."):
        if isinstance(value, list):
            value = value[int(part)] if int(part) < len(value) else "<missing>"
        elif isinstance(value, dict):
            value = value.get(part, "<missing>")
        else:
            value = "<missing>"
    shown = value if isinstance(value, str) else json.dumps(value)
    if shown != expected:
        problems.append(f"{key}: expected {expected}, got {shown}")
for p in problems:
    print(p)
sys.exit(1 if problems else 0)
PY

failures=0
cases=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# explain_json NAME EXPECTED_EXIT POLICY "KEY=VALUE ..." -- EXPLAIN-ARGS...
explain_json() {
  local name=$1 want=$2 policy=$3 fields=$4
  shift 5
  cases=$((cases + 1))
  local rc=0
  "$LENS_SCHEMA" explain --policy "$examples/$policy" --json "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
  if ((rc != want)); then
    fail "$name: exit $rc, expected $want ($policy: explain $*)"
    cat "$tmp/out" "$tmp/err" >&2
    return
  fi
  local -a pairs
  read -r -a pairs <<<"$fields"
  if ! "$python" "$tmp/fields.py" "${pairs[@]}" <"$tmp/out" >"$tmp/why"; then
    fail "$name ($policy: explain $*):"
    sed 's/^/    /' "$tmp/why" >&2
    echo "    output: $(cat "$tmp/out")" >&2
  fi
}

# explain_text NAME EXPECTED_EXIT POLICY EXPECTED-LINES -- EXPLAIN-ARGS...
explain_text() {
  local name=$1 want=$2 policy=$3 lines=$4
  shift 5
  cases=$((cases + 1))
  local rc=0
  "$LENS_SCHEMA" explain --policy "$examples/$policy" "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
  if ((rc != want)); then
    fail "$name: exit $rc, expected $want ($policy: explain $*)"
    cat "$tmp/out" "$tmp/err" >&2
    return
  fi
  local line
  while IFS= read -r line; do
    [[ -z $line ]] && continue
    grep -qxF -- "$line" "$tmp/out" || fail "$name: no line '$line' in:"$'\n'"$(cat "$tmp/out")"
  done <<<"$lines"
}

# --- egress.http: first match wins, rules lists, schemes ---------------------
explain_json "deny rule before a wildcard" 4 egress-http.json \
  "verdict=deny rule.table=http rule.index=0 rule.match=uploads.example.com rule.path=network.egress.http[0] reason=policy-deny intercept=false" \
  -- --host uploads.example.com
explain_json "wildcard after the deny" 0 egress-http.json \
  "verdict=allow transport=upstream rule.index=5 rule.match=*.example.com reason=policy-allow intercept=true" \
  -- --host www.example.com
explain_json "apex of a *.domain rule" 0 egress-http.json \
  "verdict=allow rule.index=5 rule.match=*.example.com" \
  -- --host example.com
explain_json "rules list: CONNECT is allowed and intercepted" 0 egress-http.json \
  "verdict=allow transport=direct rule.index=1 rule.match=api.github.com reason=policy-allow intercept=true credentials=[]" \
  -- --host api.github.com
explain_json "rules list covers the request" 0 egress-http.json \
  "verdict=allow rule.index=1 reason=policy-allow intercept=true" \
  -- --host api.github.com --method GET --path /repos/lens/core/pulls
explain_json "rules list: one '*' segment" 0 egress-http.json \
  "verdict=allow rule.index=1 reason=policy-allow" \
  -- --host api.github.com --method post --path /repos/lens/core/issues
explain_json "rules list does not cover the method" 4 egress-http.json \
  "verdict=deny rule.index=1 rule.match=api.github.com reason=http-rule-denied" \
  -- --host api.github.com --method DELETE --path /repos/lens/core
explain_json "rules list does not cover the path" 4 egress-http.json \
  "verdict=deny rule.index=1 reason=http-rule-denied" \
  -- --host api.github.com --method POST --path /repos/lens/core/issues/1/comments
explain_json "dot segments are resolved before matching" 4 egress-http.json \
  "verdict=deny rule.index=1 reason=http-rule-denied" \
  -- --host api.github.com --method GET --path /repos/../admin
explain_json "empty rules list: no interception needed" 0 egress-http.json \
  "verdict=allow rule.index=2 rule.match=registry.npmjs.org intercept=false" \
  -- --host registry.npmjs.org
explain_json "scheme https only: a plain-HTTP request falls through" 4 egress-http.json \
  "verdict=deny rule=null reason=policy-deny" \
  -- --door forward --host registry.npmjs.org --method GET --path /
explain_json "scheme http rule on the forward door" 0 egress-http.json \
  "verdict=allow rule.index=4 rule.match=mirror.internal.example.com intercept=false" \
  -- --door forward --host mirror.internal.example.com --method HEAD --path /debian/dists/stable/Release
explain_json "ask is not a denial" 0 egress-http.json \
  "verdict=ask transport=upstream rule.index=3 rule.match=pypi.org reason=policy-ask" \
  -- --host pypi.org
explain_json "default verdict" 4 egress-http.json \
  "verdict=deny rule=null reason=policy-deny intercept=false" \
  -- --host unknown.example.net

# --- the safety floor comes before every rule ---------------------------------
explain_json "metadata address" 4 wildcards.json \
  "verdict=deny rule=null reason=blocked-destination" \
  -- --host 169.254.169.254
explain_json "localhost" 4 wildcards.json \
  "verdict=deny rule=null reason=blocked-destination" \
  -- --host localhost --port 8080
explain_json "no network section still has the floor" 4 no-network.json \
  "verdict=deny reason=blocked-destination" \
  -- --addr 127.0.0.1 --port 22

# --- match grammar -------------------------------------------------------------
explain_json "mid-label wildcard" 0 wildcards.json \
  "verdict=allow rule.index=0 rule.match=bedrock-runtime.*.amazonaws.com" \
  -- --host bedrock-runtime.us-east-1.amazonaws.com
explain_json "mid-label wildcard needs its dot" 0 wildcards.json \
  "verdict=ask rule.index=8 rule.match=*" \
  -- --host bedrock-runtime.us-east-1amazonaws.com
explain_json "case and trailing dot are ignored" 0 wildcards.json \
  "verdict=allow rule.index=2 rule.match=Downloads.Example.ORG." \
  -- --host DOWNLOADS.example.org.
explain_json "IP literal as the host" 0 wildcards.json \
  "verdict=allow rule.index=3 rule.match=203.0.113.10" \
  -- --host 203.0.113.10 --port 8443
explain_json "CIDR, https only" 0 wildcards.json \
  "verdict=allow rule.index=4 rule.match=10.0.0.0/8" \
  -- --addr 10.1.2.3
explain_json "host:port matches its port" 0 wildcards.json \
  "verdict=allow rule.index=5 rule.match=host.docker.internal:6443" \
  -- --host host.docker.internal --port 6443
explain_json "host:port does not match another port" 0 wildcards.json \
  "verdict=ask rule.index=8 rule.match=*" \
  -- --host host.docker.internal --port 443
explain_json "bracketed IPv6 with port" 0 wildcards.json \
  "verdict=allow rule.index=6 rule.match=[2001:db8::1]:8443" \
  -- --host '[2001:db8::1]' --port 8443
explain_json "IPv6 prefix" 0 wildcards.json \
  "verdict=allow rule.index=7 rule.match=2001:db8:ff::/48" \
  -- --addr 2001:db8:ff::25
explain_json "dns door: a *.domain rule lets the name resolve" 0 wildcards.json \
  "verdict=allow rule.index=1 rule.match=*.githubusercontent.com" \
  -- --door dns --host raw.githubusercontent.com

# --- raw tcp and udp --------------------------------------------------------------
explain_json "tcp deny by cidr:port comes first" 4 egress-raw.json \
  "verdict=deny transport=direct rule.table=tcp rule.index=0 rule.path=network.egress.tcp[0] reason=policy-deny intercept=false" \
  -- --door raw-tcp --addr 10.20.3.4 --port 6379
explain_json "tcp host:port" 0 egress-raw.json \
  "verdict=allow transport=direct rule.table=tcp rule.index=1 rule.match=db.internal:5432 intercept=false" \
  -- --door raw-tcp --host db.internal --port 5432
explain_json "tcp cidr:port" 0 egress-raw.json \
  "verdict=allow rule.table=tcp rule.index=2 rule.match=10.30.0.0/16:5432" \
  -- --door raw-tcp --addr 10.30.9.9 --port 5432
explain_json "tcp [v6]:port" 0 egress-raw.json \
  "verdict=allow rule.table=tcp rule.index=4 rule.match=[2001:db8:42::10]:22" \
  -- --door raw-tcp --addr 2001:db8:42::10 --port 22
explain_json "tcp [v6 prefix]:port" 0 egress-raw.json \
  "verdict=allow rule.table=tcp rule.index=5" \
  -- --door raw-tcp --addr 2001:db8:100:7::1 --port 9092
explain_json "tcp *.domain:port" 0 egress-raw.json \
  "verdict=allow rule.table=tcp rule.index=6 rule.match=*.git.example.com:22" \
  -- --door raw-tcp --host eu.git.example.com --port 22
explain_json "tcp rules decide on the CONNECT door too, never intercepted" 0 egress-raw.json \
  "verdict=allow rule.table=tcp rule.index=1 intercept=false" \
  -- --door connect --host db.internal --port 5432
explain_json "tcp: no rule, an unrecognised protocol under a default deny" 4 egress-raw.json \
  "verdict=deny rule=null reason=unknown-protocol" \
  -- --door raw-tcp --host db.internal --port 5433
explain_json "udp rule" 0 egress-raw.json \
  "verdict=allow rule.table=udp rule.index=0 rule.match=ntp.internal:123 rule.path=network.egress.udp[0]" \
  -- --door udp --host ntp.internal --port 123
explain_json "udp ip:port" 0 egress-raw.json \
  "verdict=allow rule.table=udp rule.index=1" \
  -- --door udp --addr 198.51.100.7 --port 51820
explain_json "udp is denied without a rule" 4 egress-raw.json \
  "verdict=deny rule=null reason=policy-deny" \
  -- --door udp --addr 198.51.100.7 --port 443

# --- binaries ------------------------------------------------------------------------
explain_json "listed caller" 0 binaries.json \
  "verdict=allow rule.index=1 rule.match=github.com" \
  -- --host github.com --caller /usr/bin/git
explain_json "listed ancestor" 0 binaries.json \
  "verdict=allow rule.index=0" \
  -- --host api.anthropic.com --caller /usr/bin/node --caller /usr/local/bin/claude
explain_json "caller not listed: refused by that rule" 4 binaries.json \
  "verdict=deny rule.index=1 rule.match=github.com reason=binary-not-allowed" \
  -- --host github.com --caller /usr/bin/curl
explain_json "tcp rule with binaries" 4 binaries.json \
  "verdict=deny rule.table=tcp rule.index=0 reason=binary-not-allowed" \
  -- --door raw-tcp --host db.internal --port 5432 --caller /usr/bin/nc
explain_json "rule without binaries: any caller" 0 binaries.json \
  "verdict=allow rule.index=2" \
  -- --host registry.npmjs.org --caller /usr/bin/curl

# --- credentials ---------------------------------------------------------------------
explain_json "header injection" 0 credentials.json \
  "verdict=allow rule.index=0 intercept=true credentials.0.id=github credentials.0.injection=header" \
  -- --host api.github.com --method GET --path /repos/lens/core
explain_json "header injection outside its rules" 0 credentials.json \
  "verdict=allow intercept=false credentials=[]" \
  -- --host api.github.com --method POST --path /graphql
explain_json "unarmed injection still intercepts" 0 credentials.json \
  "verdict=allow credentials.0.id=gitlab intercept=true" \
  -- --host gitlab.example.com
explain_json "uriPlaceholder injection" 0 credentials.json \
  "verdict=allow credentials.0.id=telegram credentials.0.injection=uriPlaceholder" \
  -- --host api.telegram.org --method POST --path /bot__lens_cred:telegram__/sendMessage
explain_json "awsSigv4 injection" 0 credentials.json \
  "verdict=allow rule.index=3 credentials.0.id=aws-prod credentials.0.injection=awsSigv4 intercept=true" \
  -- --host s3.eu-west-1.amazonaws.com

# --- no network section, legacy spelling ------------------------------------------
explain_json "no network section: allow all through upstream" 0 no-network.json \
  "verdict=allow transport=upstream rule=null reason=policy-allow" \
  -- --host example.org
explain_json "no network section: credentials still apply" 0 no-network.json \
  "verdict=allow credentials.0.id=github" \
  -- --host api.github.com
explain_json "legacy allowedRoutes are reported by their own path" 0 legacy-allowed-routes.json \
  "verdict=allow rule.index=4 rule.path=network.allowedRoutes[4] rule.match=host.docker.internal:6443" \
  -- --host host.docker.internal --port 6443
explain_json "embedded default policy denies" 4 default.json \
  "verdict=deny rule=null reason=policy-deny" \
  -- --host example.com

# --- the version is the policy file's sha256 ------------------------------------------
cases=$((cases + 1))
version=$("$LENS_SCHEMA" explain --policy "$examples/egress-http.json" --json --host example.com 2>/dev/null |
  "$python" -c 'import json,sys; print(json.load(sys.stdin)["policy_version"])' || true)
expected=$(sha256sum "$examples/egress-http.json" | cut -d' ' -f1)
[[ $version == "$expected" ]] || fail "policy_version is '$version', expected the file's sha256 $expected"

# --- text output ---------------------------------------------------------------------
explain_text "text: allowed" 0 egress-http.json "verdict:     allow
transport:   direct
rule:        network.egress.http[1] \"api.github.com\"
reason:      policy-allow
intercept:   yes" -- --host api.github.com
explain_text "text: denied by default" 4 egress-http.json "verdict:     deny
rule:        none (default)
reason:      policy-deny
intercept:   no" -- --host unknown.example.net
explain_text "text: credentials" 0 credentials.json "credentials: aws-prod (awsSigv4)" -- --host sts.amazonaws.com
explain_text "text: legacy rule path" 4 legacy-allowed-routes.json \
  "rule:        network.allowedRoutes[0] \"evil.example.com\"" -- --host evil.example.com

# --- body rules: GraphQL and MCP, read from --body ---------------------------------
printf '%s' '{"query": "query Me { viewer { login } }"}' >"$tmp/query.json"
printf '%s' '{"query": "mutation { deleteRepository(input: {}) { clientMutationId } }"}' >"$tmp/mutation.json"
printf '%s' '{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "search", "arguments": {"repository": "acme/web"}}}' >"$tmp/call.json"
printf '%s' '{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "search", "arguments": {"repository": "other/x"}}}' >"$tmp/call-other.json"
head -c 70000 /dev/zero | tr '\0' ' ' >"$tmp/large.json"
explain_json "graphql: the body is needed" 4 body-rules.json \
  "verdict=deny reason=body-required body.kind=graphql body.needed=true" \
  -- --host api.github.com --method POST --path /graphql
explain_json "graphql: a query the first entry covers" 0 body-rules.json \
  "verdict=allow reason=policy-allow body.kind=graphql" \
  -- --host api.github.com --method POST --path /graphql --body "$tmp/query.json" --content-type application/json
explain_text "graphql: the text names the operation and the entry that covered" 0 body-rules.json \
  "body:        graphql (query Me)
detail:      http rule 0 matches; rules[0] covers query Me" \
  -- --host api.github.com --method POST --path /graphql --body "$tmp/query.json"
explain_json "graphql: a mutation no entry covers" 4 body-rules.json \
  "verdict=deny reason=http-rule-denied body.graphql_operation=mutation" \
  -- --host api.github.com --method POST --path /graphql --body "$tmp/mutation.json"
explain_json "graphql: a plain entry still decides what no GraphQL entry covers" 0 body-rules.json \
  "verdict=allow reason=policy-allow" \
  -- --host api.github.com --method GET --path /repos/acme/web
explain_json "graphql: over the 64 KiB a rule reads" 4 body-rules.json \
  "verdict=deny reason=body-too-large" \
  -- --host api.github.com --method POST --path /graphql --body "$tmp/large.json"
explain_json "graphql: a gzip body cannot be judged" 4 body-rules.json \
  "verdict=deny reason=body-malformed" \
  -- --host api.github.com --method POST --path /graphql --body "$tmp/query.json" --header "Content-Encoding: gzip"
explain_json "mcp: a call the tool entry covers" 0 body-rules.json \
  "verdict=allow body.kind=mcp body.mcp_method=tools/call body.mcp_tool=search" \
  -- --host mcp.example.com --method POST --path /mcp --body "$tmp/call.json" --header "Mcp-Method: tools/call"
explain_text "mcp: the text names the entry that covered" 0 body-rules.json \
  "detail:      http rule 1 matches; rules[3] covers MCP tools/call search" \
  -- --host mcp.example.com --method POST --path /mcp --body "$tmp/call.json"
explain_json "mcp: an argument outside its glob" 4 body-rules.json \
  "verdict=deny reason=http-rule-denied" \
  -- --host mcp.example.com --method POST --path /mcp --body "$tmp/call-other.json"
explain_json "mcp: a mirrored header that disagrees" 4 body-rules.json \
  "verdict=deny reason=body-malformed" \
  -- --host mcp.example.com --method POST --path /mcp --body "$tmp/call.json" --header "Mcp-Name: delete"
explain_json "graphql-ws: a subscription rule grants the socket" 0 body-rules.json \
  "verdict=allow reason=policy-allow graphql_frames=true" \
  -- --host realtime.example.com --method GET --path /graphql --upgrade
explain_json "graphql-ws: no subscription rule, no socket" 4 body-rules.json \
  "verdict=deny reason=http-rule-denied" \
  -- --host api.github.com --method POST --path /graphql --upgrade
cases=$((cases + 1))
rc=0
"$LENS_SCHEMA" explain --policy "$examples/body-rules.json" --host api.github.com --method POST --path /graphql \
  --body "$tmp/nothing-here.json" >"$tmp/out" 2>"$tmp/err" || rc=$?
((rc == 2)) || fail "--body of a missing file: exit $rc, expected 2"
grep -qF -- "--body $tmp/nothing-here.json: cannot open" "$tmp/err" || fail "--body of a missing file: $(cat "$tmp/err")"

# --- errors ---------------------------------------------------------------------------
cases=$((cases + 1))
rc=0
"$LENS_SCHEMA" explain --policy "$examples/invalid/unknown-key.json" --host api.github.com >"$tmp/out" 2>"$tmp/err" || rc=$?
((rc == 3)) || fail "invalid policy: exit $rc, expected 3"
grep -qF "$examples/invalid/unknown-key.json:7:38: network.egress.http[0].verdcit: unknown key" "$tmp/err" ||
  fail "invalid policy: no located error on stderr: $(cat "$tmp/err")"
[[ ! -s $tmp/out ]] || fail "invalid policy: explained anyway: $(cat "$tmp/out")"

cases=$((cases + 1))
rc=0
"$LENS_SCHEMA" explain --policy "$examples/default.json" >"$tmp/out" 2>"$tmp/err" || rc=$?
((rc == 2)) || fail "explain without --host or --addr: exit $rc, expected 2 (usage)"

cases=$((cases + 1))
rc=0
"$LENS_SCHEMA" explain --policy "$tmp/missing.json" --host example.com >"$tmp/out" 2>"$tmp/err" || rc=$?
((rc == 3)) || fail "missing policy file: exit $rc, expected 3"

if ((failures > 0)); then
  echo "$failures of $cases explain cases failed" >&2
  exit 1
fi
echo "ok: $cases explain cases"
