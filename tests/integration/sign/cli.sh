#!/usr/bin/env bash
# lens-sign as a user runs it: streaming payloads (the S3 documentation's
# chunked PUT Object example), re-signing (a LENSFAKE-signed request,
# chunked upload included, re-signed equals the request signed with the real
# key), credential injection, and refusals: exit status and exactly one line
# on stderr naming the problem, never a secret.
#
# Environment as for every shell test (lib.sh).
# Exit status: 0 pass, 77 skip (with the reason), 1 fail.
set -euo pipefail

# shellcheck source=tests/integration/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
tool=$bin_dir/lens-sign
[[ -x $tool ]] || skip "lens-sign is not built in $bin_dir"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/lens-sign-cli.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
failed=0

pass() { echo "ok: $*"; }
fail() {
  echo "FAIL: $*" >&2
  failed=1
}

# expect_error [--streamed] NAME STATUS MESSAGE COMMAND... <input: lens-sign
# must exit with STATUS and print exactly "lens-sign: MESSAGE" on stderr, and
# nothing on stdout (--streamed: a streamed body failed after the head was
# written, which is then on stdout).
expect_error() {
  local streamed=0
  if [[ $1 == --streamed ]]; then
    streamed=1
    shift
  fi
  local name=$1 status=$2 message=$3 got=0
  shift 3
  "$@" >"$tmp/out" 2>"$tmp/err" || got=$?
  local want="lens-sign: $message"
  if ((got != status)); then
    fail "$name: exit status $got, expected $status (stderr: $(cat "$tmp/err"))"
  elif [[ $(cat "$tmp/err") != "$want" ]]; then
    fail "$name: stderr is [$(cat "$tmp/err")], expected [$want]"
  elif ((!streamed)) && [[ -s $tmp/out ]]; then
    fail "$name: printed on stdout although it failed"
  else
    pass "$name: status $status, one line: $message"
  fi
}

doc_secret=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
printf '%s\n' "$doc_secret" >"$tmp/doc-secret"

# --- the S3 documentation's chunked upload ------------------------------------

{
  printf 'PUT /examplebucket/chunkObject.txt HTTP/1.1\r\nHost: s3.amazonaws.com\r\n'
  printf 'x-amz-storage-class: REDUCED_REDUNDANCY\r\n\r\n'
  head -c 66560 /dev/zero | tr '\0' a
} >"$tmp/chunk-object"
"$tool" aws-sigv4 --access-key AKIAIOSFODNN7EXAMPLE --secret-key-file "$tmp/doc-secret" --region us-east-1 \
  --service s3 --time 20130524T000000Z --payload streaming <"$tmp/chunk-object" >"$tmp/chunked"
{
  printf 'PUT /examplebucket/chunkObject.txt HTTP/1.1\r\nHost: s3.amazonaws.com\r\n'
  printf 'x-amz-storage-class: REDUCED_REDUNDANCY\r\nContent-Encoding:aws-chunked\r\n'
  printf 'x-amz-decoded-content-length:66560\r\nContent-Length:66824\r\nX-Amz-Date:20130524T000000Z\r\n'
  printf 'x-amz-content-sha256:STREAMING-AWS4-HMAC-SHA256-PAYLOAD\r\n'
  printf 'Authorization:AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, '
  printf 'SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;'
  printf 'x-amz-decoded-content-length;x-amz-storage-class, '
  printf 'Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9\r\n\r\n'
  printf '10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n'
  head -c 65536 /dev/zero | tr '\0' a
  printf '\r\n400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n'
  head -c 1024 /dev/zero | tr '\0' a
  printf '\r\n0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n'
} >"$tmp/chunked-expected"
if cmp -s "$tmp/chunked" "$tmp/chunked-expected"; then
  pass "aws-sigv4 --payload streaming reproduces the S3 chunked PUT Object example"
else
  fail "aws-sigv4 --payload streaming differs from the S3 example: $(cmp "$tmp/chunked" "$tmp/chunked-expected" 2>&1 || true)"
fi

# --- re-signing -----------------------------------------------------------------

cat >"$tmp/policy.json" <<'JSON'
{ "credentials": [
  { "id": "aws-prod", "envVar": "AWS_ACCESS_KEY_ID", "placeholder": "LENSFAKE00AABB0000CC",
    "injections": [ { "injectionType": "awsSigv4", "domain": "*.amazonaws.com",
                      "accessKeyId": "ASIAREALKEYEXAMPLE", "secretAccessKey": "REAL+secret/KEY",
                      "sessionToken": "REAL-session-TOKEN" } ] },
  { "id": "github", "placeholder": "ghp_PLACEHOLDER", "injections": [
    { "injectionType": "header", "domain": "api.github.com", "header": "Authorization",
      "value": "Bearer ghp_REALTOKEN", "rules": [ { "method": "GET", "path": "/repos/**" } ] } ] },
  { "id": "registry", "placeholder": "__lens_cred:reg__", "injections": [
    { "injectionType": "uriPlaceholder", "domain": "registry.example.com", "value": "REGSECRET" } ] },
  { "id": "crm", "placeholder": "__lens_cred:crm__", "injections": [
    { "injectionType": "oauthClientCredentials", "domain": "auth.example.com", "tokenPath": "/oauth/token",
      "clientId": "agent" } ] }
] }
JSON
printf 'REAL+secret/KEY\n' >"$tmp/real-secret"
printf 'REAL-session-TOKEN\n' >"$tmp/real-token"

sign_as() { # KEYID SECRETFILE [TOKENFILE] -- ARGS < request
  local key=$1 secret=$2 token=$3
  shift 3
  "$tool" aws-sigv4 --access-key "$key" --secret-key-file "$secret" --session-token-file "$token" \
    --time 2024-05-06T07:08:09Z "$@"
}
printf 'sandbox-secret\n' >"$tmp/fake-secret"
printf 'sandbox-token\n' >"$tmp/fake-token"

resign_case() { # NAME SIGN-ARGS... < request
  local name=$1
  shift
  cat >"$tmp/request"
  sign_as LENSFAKE00AABB0000CC "$tmp/fake-secret" "$tmp/fake-token" "$@" <"$tmp/request" >"$tmp/client"
  sign_as ASIAREALKEYEXAMPLE "$tmp/real-secret" "$tmp/real-token" "$@" <"$tmp/request" >"$tmp/direct"
  if ! "$tool" resign --policy "$tmp/policy.json" --time 2024-05-06T07:08:09Z <"$tmp/client" >"$tmp/resigned" 2>"$tmp/err"; then
    fail "resign $name: $(cat "$tmp/err")"
  elif cmp -s "$tmp/resigned" "$tmp/direct"; then
    pass "resign $name equals signing with the real key"
  else
    fail "resign $name differs from signing with the real key:"
    diff -a <(head -c 2000 "$tmp/direct") <(head -c 2000 "$tmp/resigned") | sed 's/^/  /' >&2 || true
  fi
  if grep -q -a -e LENSFAKE -e sandbox-token "$tmp/resigned"; then fail "resign $name left the placeholder or the fake token"; fi
}

printf 'POST / HTTP/1.1\r\nHost: sqs.eu-west-1.amazonaws.com\r\nX-Amz-Target: AmazonSQS.ListQueues\r\nContent-Length: 2\r\n\r\n{}' |
  resign_case "header mode" --region eu-west-1 --service sqs
printf 'GET /bucket/key.txt?versionId=2 HTTP/1.1\r\nHost: s3.amazonaws.com\r\n\r\n' |
  resign_case "presigned S3" --region us-east-1 --service s3 --presign --payload unsigned --expires 600
printf 'PUT /bucket/big.bin HTTP/1.1\r\nHost: s3.us-west-2.amazonaws.com\r\nContent-Type: application/octet-stream\r\n\r\n%s' \
  "$(head -c 300000 /dev/urandom | base64 -w 0)" |
  resign_case "aws-chunked upload, chunk by chunk" --region us-west-2 --service s3 --payload streaming \
    --chunk-size 65536 --max-body 1000000
cp "$tmp/client" "$tmp/chunked-client"
printf 'PUT /bucket/k HTTP/1.1\r\nHost: s3.amazonaws.com\r\nContent-Length: 5\r\n\r\nhello' |
  resign_case "S3 UNSIGNED-PAYLOAD" --region us-east-1 --service s3 --payload unsigned --sign-body

# --- injection --------------------------------------------------------------------

printf 'GET /repos/o/r HTTP/1.1\r\nHost: api.github.com\r\nAuthorization: token ghp_PLACEHOLDER\r\n\r\n' |
  "$tool" inject --policy "$tmp/policy.json" --host api.github.com >"$tmp/injected"
printf 'GET /repos/o/r HTTP/1.1\r\nHost: api.github.com\r\nAuthorization: Bearer ghp_REALTOKEN\r\n\r\n' >"$tmp/expected"
if cmp -s "$tmp/injected" "$tmp/expected"; then
  pass "inject replaces the Authorization header"
else
  fail "inject header: $(cat -A "$tmp/injected")"
fi
basic=$(printf 'user:__lens_cred:reg__' | base64)
printf 'GET /v2/__lens_cred:reg__/tags HTTP/1.1\nHost: registry.example.com\nAuthorization: Basic %s\n\n' "$basic" |
  "$tool" inject --policy "$tmp/policy.json" --host registry.example.com:443 >"$tmp/injected"
if [[ $(head -n 1 "$tmp/injected") == "GET /v2/REGSECRET/tags HTTP/1.1" ]] &&
  [[ $(sed -n 3p "$tmp/injected") == "Authorization: Basic $(printf 'user:REGSECRET' | base64)" ]]; then
  pass "inject substitutes the placeholder in the target and inside Authorization: Basic"
else
  fail "inject placeholder: $(cat "$tmp/injected")"
fi

# --- refusals: status and one line ------------------------------------------------------

export LENS_AWS_SECRET_ACCESS_KEY="$doc_secret"
sigv4=("$tool" aws-sigv4 --access-key AKID --region us-east-1 --service s3 --time 20240101T000000Z)
expect_error "missing Host" 1 "request on standard input: request has no Host header" "${sigv4[@]}" \
  < <(printf 'GET / HTTP/1.1\nAccept: */*\n\n')
expect_error "malformed request line" 1 \
  "request on standard input: line 1: malformed request line, expected METHOD SP TARGET SP HTTP-VERSION" \
  "${sigv4[@]}" < <(printf 'GET\nHost: h\n\n')
expect_error "body over --max-body" 1 \
  "request on standard input: the body is larger than the limit of 4 bytes (--max-body)" "${sigv4[@]}" --max-body 4 \
  < <(printf 'PUT / HTTP/1.1\nHost: h\n\nhello')
expect_error "Content-Length over --max-body" 1 \
  "request on standard input: line 3: Content-Length 5 exceeds the body limit of 4 bytes" "${sigv4[@]}" --max-body 4 \
  < <(printf 'PUT / HTTP/1.1\nHost: h\nContent-Length: 5\n\n')
expect_error "body hash over a transfer coding" 1 \
  "request on standard input: the body's SHA-256 is not signed for a request with Transfer-Encoding (send it with a Content-Length, or sign UNSIGNED-PAYLOAD)" \
  "${sigv4[@]}" < <(printf 'PUT / HTTP/1.1\nHost: h\nTransfer-Encoding: chunked\n\n3\r\nabc\r\n0\r\n\r\n')
expect_error "bad --time" 2 \
  '--time: timestamp "yesterday" is not a UTC time such as 2015-08-30T12:36:00Z or 20150830T123600Z' \
  "$tool" aws-sigv4 --access-key AKID --region r --service s --time yesterday < <(printf 'GET / HTTP/1.1\nHost: h\n')
LENS_AWS_SECRET_ACCESS_KEY= expect_error "no secret" 2 \
  "no secret access key: give --secret-key-file, LENS_AWS_SECRET_ACCESS_KEY, --secret-key or the context file" \
  "$tool" aws-sigv4 --access-key AKID --region r --service s < <(printf 'GET / HTTP/1.1\nHost: h\n')
expect_error "unreadable secret file" 2 "--secret-key-file $tmp/nope: cannot open: No such file or directory" \
  "$tool" aws-sigv4 --access-key AKID --region r --service s --secret-key-file "$tmp/nope" < /dev/null
printf '{"credentials": {"access_key_id": "A", "secret_access_key": "%s", "tokn": "x"}}' "$doc_secret" >"$tmp/ctx.json"
expect_error "unknown key in the context file" 2 "--context $tmp/ctx.json: unknown key \"tokn\" in credentials" \
  "$tool" aws-sigv4 --context "$tmp/ctx.json" < <(printf 'GET / HTTP/1.1\nHost: h\n')
expect_error "streaming presigned" 2 "a streaming (aws-chunked) payload is signed in header mode only, not presigned" \
  "${sigv4[@]}" --presign --payload streaming < <(printf 'PUT / HTTP/1.1\nHost: h\n\nabc')

resign=("$tool" resign --policy "$tmp/policy.json" --time 20240101T000000Z)
signed_by() { # KEYID HOST: a header-signed request
  printf 'GET / HTTP/1.1\nHost: %s\nX-Amz-Date: 20240101T000000Z\nAuthorization: AWS4-HMAC-SHA256 ' "$2"
  printf 'Credential=%s/20240101/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, ' "$1"
  printf 'Signature=%064d\n\n' 0
}
expect_error "real access key id" 4 \
  "the request is signed with an access key id that is not a LENSFAKE placeholder; it is not re-signed" \
  "${resign[@]}" < <(signed_by AKIAREALKEYNOTSHOWN s3.amazonaws.com)
expect_error "unknown placeholder" 4 "access key id LENSFAKE99 is not the placeholder of any credential in the policy" \
  "${resign[@]}" < <(signed_by LENSFAKE99 s3.amazonaws.com)
expect_error "placeholder for another host" 4 \
  'the request carries the placeholder of credential "aws-prod", which has no injection for example.org that covers it' "${resign[@]}" \
  < <(signed_by LENSFAKE00AABB0000CC example.org)
expect_error "unsigned request" 1 \
  "request on standard input: the request is not signed with AWS SigV4: it has neither an Authorization header nor presigned X-Amz-* query parameters" \
  "${resign[@]}" < <(printf 'GET / HTTP/1.1\nHost: s3.amazonaws.com\n\n')
expect_error "a token request" 4 \
  "the request is an OAuth token request of credential crm, which the proxies answer themselves: nothing to re-sign" \
  "${resign[@]}" < <(printf 'POST /oauth/token HTTP/1.1\nHost: auth.example.com\nContent-Type: application/x-www-form-urlencoded\nContent-Length: 45\n\ngrant_type=client_credentials&client_id=agent')
expect_error --streamed "broken chunk" 1 \
  "request on standard input: aws-chunked body, chunk 1 (body byte 4): chunk size not followed by ;chunk-signature=" \
  "${resign[@]}" < <(sed -n '1,/^\r$/p' "$tmp/chunked-client"; printf '1a\r\n')
printf '{"credentials": [{"id": "x", "injections": [{"injectionType": "header"}]}], "bogus": 1}' >"$tmp/bad-policy.json"
expect_error "invalid policy" 3 \
  "$tmp/bad-policy.json:1:45: credentials[0].injections[0]: missing required key \"domain\" (and 3 more; see lens-schema check $tmp/bad-policy.json)" \
  "$tool" resign --policy "$tmp/bad-policy.json" < /dev/null
expect_error "inject --host" 2 "--host: the port is not a number from 1 to 65535" \
  "$tool" inject --policy "$tmp/policy.json" --host api.github.com:99999 < /dev/null

# No refusal or output above shows a secret.
if grep -r -a -l -e "$doc_secret" -e "REAL+secret" -e AKIAREALKEYNOTSHOWN "$tmp"/err; then
  fail "a secret or a real key id appears on stderr"
else
  pass "no secret on stderr"
fi

exit "$failed"
