#!/usr/bin/env bash
# The committed JSON Schema and lens-schema agree on every example policy:
#   schemas/examples/*.json                  valid for both (check exits 0)
#   schemas/examples/invalid/*.json          refused by both (check exits 3 with
#                                            a FILE:LINE:COL: PATH: message line)
#   schemas/examples/invalid/semantic/*.json refused by lens-schema only: rules
#                                            JSON Schema cannot express (such a
#                                            file that the schema refuses belongs
#                                            in invalid/ instead)
# Needs /usr/bin/python3 with python3-jsonschema (Draft 2020-12); skips without.
# Exit 0 pass, 77 skip, 1 fail.
set -euo pipefail

: "${LENS_SCHEMA:?LENS_SCHEMA must name the lens-schema binary}"
: "${LENS_SOURCE_DIR:?LENS_SOURCE_DIR must name the source tree}"

python=/usr/bin/python3
schema="$LENS_SOURCE_DIR/schemas/policy.schema.json"
examples="$LENS_SOURCE_DIR/schemas/examples"

if [[ ! -x "$python" ]]; then
  echo "SKIP: $python is not installed" >&2
  exit 77
fi
if ! "$python" -c 'from jsonschema import Draft202012Validator' 2>/dev/null; then
  echo "SKIP: python3-jsonschema with Draft 2020-12 support is not installed (apt-get install python3-jsonschema)" >&2
  exit 77
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# What lens-schema must say about each refused example: the start of
# "PATH: message" on a located line. A new example without an entry here is
# still checked for a located line.
declare -A expect=(
  [aws-empty-session-token.json]='credentials[0].injections[0].sessionToken: must not be empty'
  [aws-missing-secret.json]='credentials[0].injections[0]: missing required key "secretAccessKey"'
  [aws-placeholder-not-lensfake.json]='credentials[0].injections[0]: an awsSigv4 injection needs a credential placeholder starting with "LENSFAKE"'
  [binaries-relative.json]='network.egress.http[0].binaries[1]: binary "gh" must be an absolute path'
  [file-dotdot.json]='files[0].path: file path "/tmp/../etc/cron.d/job" must not contain ".."'
  [file-mode-too-large.json]='files[0].mode: must be between 0 and 4095'
  [file-outside-tmp.json]='files[0].path: file path "/etc/profile.d/proxy.sh" must name a file under /tmp'
  [file-relative-dotdot.json]='files[0].path: file path "../home/agent/.bashrc" must not contain ".."'
  [http-rule-empty.json]='network.egress.http[0].rules[1]: a rule needs a method, a path, graphql or mcp'
  [http-rule-null-method.json]='network.egress.http[0].rules[0]: a rule needs a method, a path, graphql or mcp'
  [ipv6-unbracketed-port.json]='network.egress.tcp[0].match: tcp rule "2001:db8::10:5432" needs a port; an IPv6 address with a port must be written [address]:port'
  [oauth-missing-token-path.json]='credentials[0].injections[0]: missing required key "tokenPath"'
  [missing-default-transport.json]='network: missing required key "defaultTransport"'
  [port-too-large.json]='network.egress.tcp[0].match: invalid port "65536"'
  [port-zero.json]='network.egress.tcp[0].match: port 0 is not a valid port'
  [tcp-rule-with-transport.json]='network.egress.tcp[0].transport: unknown key "transport"'
  [tcp-without-port.json]='network.egress.tcp[0].match: tcp rule "db.internal" needs a port'
  [udp-port-53.json]='network.egress.udp[0].match: udp rules may not use port 53'
  [udp-without-port.json]='network.egress.udp[0].match: udp rule "10.40.0.0/16" needs a port'
  [unknown-injection-type.json]='credentials[0].injections[0].injectionType: unknown injection type "bearer"'
  [unknown-key.json]='network.egress.http[0].verdcit: unknown key "verdcit" (did you mean "verdict"?)'
  [unknown-top-level-key.json]='proxyUpstream: unknown key "proxyUpstream"'
  [unknown-verdict.json]='network.defaultVerdict: unknown value "alow" (expected allow, deny or ask); did you mean "allow"?'
  [semantic/duplicate-credential-id.json]='credentials[1].id: duplicate credential id "github" (first used at line 4)'
  [semantic/duplicate-key.json]='network.defaultVerdict: duplicate key "defaultVerdict"'
  [semantic/env-invalid-name.json]='env.HTTPS-PROXY: invalid environment variable name "HTTPS-PROXY"'
  [semantic/header-value-crlf.json]='credentials[0].injections[0].value: header value must not contain CR or LF'
  [semantic/http-ipv6-unbracketed-port.json]='network.egress.http[0].match: ambiguous match "2001:db8::/32:443"'
  [semantic/http-rule-relative-path.json]='network.egress.http[0].rules[0].path: path "repos/**" must start with '"'/'"
  [semantic/match-is-a-url.json]='network.egress.http[0].match: invalid match "api.github.com/repos": expected a host, address or prefix, not a URL'
  [semantic/oauth-without-placeholder.json]="credentials[0].injections[0]: an oauthClientCredentials injection needs the credential's placeholder"
  [semantic/trailing-data.json]='$: unexpected data after the JSON value'
  [semantic/uri-placeholder-without-placeholder.json]="credentials[0].injections[0]: a uriPlaceholder injection needs the credential's placeholder"
)

# The JSON Schema's verdict on each file, one "NAME<TAB>valid|invalid|not-json<TAB>why" line each.
cat >"$tmp/validate.py" <<'PY'
import json
import sys

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, best_match

schema_path, names = sys.argv[1], sys.argv[2:]
with open(schema_path, encoding="utf-8") as f:
    schema = json.load(f)
try:
    Draft202012Validator.check_schema(schema)
except SchemaError as e:
    print(f"schema is not a valid draft 2020-12 schema: {e.message}", file=sys.stderr)
    sys.exit(2)
if schema.get("$schema") != "https://json-schema.org/draft/2020-12/schema":
    print(f"unexpected $schema {schema.get('$schema')!r}", file=sys.stderr)
    sys.exit(2)
validator = Draft202012Validator(schema)
for name in names:
    try:
        with open(name, encoding="utf-8") as f:
            document = json.load(f)
    except ValueError as e:
        print(f"{name}\tnot-json\t{e}")
        continue
    error = best_match(validator.iter_errors(document))
    if error is None:
        print(f"{name}\tvalid\t")
    else:
        where = "/".join(str(p) for p in error.absolute_path) or "(document)"
        print(f"{name}\tinvalid\t{where}: {error.message[:200]}")
PY

cd "$examples"
shopt -s nullglob
valid=(*.json)
invalid=(invalid/*.json)
semantic=(invalid/semantic/*.json)
shopt -u nullglob

if ((${#valid[@]} < 2)); then fail "expected example policies in $examples, found ${#valid[@]}"; fi
if ((${#invalid[@]} == 0)); then fail "expected refused examples in $examples/invalid"; fi
if ((${#semantic[@]} == 0)); then fail "expected refused examples in $examples/invalid/semantic"; fi

# 1. The committed schema itself, then every example against it.
if ! "$python" "$tmp/validate.py" "$schema" "${valid[@]}" "${invalid[@]}" "${semantic[@]}" >"$tmp/verdicts" 2>"$tmp/py.err"; then
  cat "$tmp/py.err" >&2
  echo "FAIL: the committed schema $schema is not usable" >&2
  exit 1
fi
declare -A verdict why
while IFS=$'\t' read -r name result reason; do
  verdict[$name]=$result
  why[$name]=$reason
done <"$tmp/verdicts"

# Runs lens-schema check on one file; sets rc and leaves stderr in $tmp/err.
check() {
  rc=0
  "$LENS_SCHEMA" check "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
}

# Whether $tmp/err has "FILE:LINE:COL: " followed by `expected` (or by any "PATH: ").
has_located_line() {
  local file=$1 expected=$2 line rest
  while IFS= read -r line; do
    [[ $line == "$file:"* ]] || continue
    rest=${line#"$file:"}
    [[ $rest =~ ^[0-9]+:[0-9]+:\ (.*)$ ]] || continue
    rest=${BASH_REMATCH[1]}
    if [[ -n $expected ]]; then
      [[ $rest == "$expected"* ]] && return 0
    elif [[ $rest =~ ^[^[:space:]]+:\  ]]; then
      return 0
    fi
  done <"$tmp/err"
  return 1
}

# 2. Valid examples: both accept.
for file in "${valid[@]}"; do
  [[ ${verdict[$file]:-} == valid ]] || fail "$file: the JSON Schema refuses it: ${why[$file]:-no verdict}"
  check "$file"
  if ((rc != 0)); then
    fail "$file: lens-schema check exited $rc, expected 0:"
    cat "$tmp/err" >&2
  elif grep -v ': warning: ' "$tmp/err" | grep -q .; then
    fail "$file: lens-schema check printed errors:"
    cat "$tmp/err" >&2
  fi
done

# 3. Refused examples: both refuse, and lens-schema says where.
for file in "${invalid[@]}" "${semantic[@]}"; do
  key=${file#invalid/}
  case $file in
    invalid/semantic/*)
      case ${verdict[$file]:-} in
        valid | not-json) ;;
        *) fail "$file: the JSON Schema refuses it (${why[$file]:-no verdict}); move it to invalid/" ;;
      esac
      ;;
    *)
      [[ ${verdict[$file]:-} == invalid ]] || fail "$file: the JSON Schema accepts it (${verdict[$file]:-no verdict}); it should be refused"
      ;;
  esac
  check "$file"
  if ((rc != 3)); then
    fail "$file: lens-schema check exited $rc, expected 3"
    cat "$tmp/err" >&2
    continue
  fi
  if ! has_located_line "$file" ""; then
    fail "$file: no '$file:LINE:COL: PATH: message' line on stderr:"
    cat "$tmp/err" >&2
  elif [[ -n ${expect[$key]:-} ]] && ! has_located_line "$file" "${expect[$key]}"; then
    fail "$file: expected a located line with '${expect[$key]}', got:"
    cat "$tmp/err" >&2
  fi
  if [[ -z ${expect[$key]:-} ]]; then
    echo "note: $file has no expected message in $(basename "$0")" >&2
  fi
done

# 4. Several files at once: every file is reported, the worst result wins.
check "${valid[@]}"
((rc == 0)) || fail "lens-schema check on all valid examples exited $rc, expected 0"
check "${valid[0]}" "${invalid[@]}" "${semantic[@]}"
if ((rc != 3)); then
  fail "lens-schema check on valid and refused examples together exited $rc, expected 3"
else
  for file in "${invalid[@]}" "${semantic[@]}"; do
    has_located_line "$file" "" || fail "$file: not reported when checked together with other files"
  done
fi

total=$((${#valid[@]} + ${#invalid[@]} + ${#semantic[@]}))
if ((failures > 0)); then
  echo "$failures failure(s) in $total examples" >&2
  exit 1
fi
echo "ok: $total examples (${#valid[@]} valid, ${#invalid[@]} refused by schema and lens-schema, ${#semantic[@]} by lens-schema only)"
