#!/usr/bin/env bash
# AWS SigV4 re-signing in flight (lens-proxy): the sandbox signs with the
# LENSFAKE placeholder key (botocore, curl --aws-sigv4, an aws-chunked upload
# signed by lens-sign), lens-proxy signs again with the real key inside
# interception, and an origin checks every signature with botocore and the
# real key (aws_origin.py): a GET with a query, a POST whose body hash the
# proxy signs, an S3 PUT with UNSIGNED-PAYLOAD, a presigned GET, an
# aws-chunked upload of several chunks. Refusals: unsigned 401, an unknown
# placeholder 401, a body over --max-signed-body 413. The real secret and
# session token are in no log or audit line.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../netns.sh"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
"$python" -c 'import requests, botocore' 2>/dev/null || skip "needs python3-requests and python3-botocore"
sign=$bin_dir/lens-sign
[[ -x $sign ]] || skip "lens-sign is not built"
here=$source_dir/tests/integration/proxy

make_certs
make_cert aws "DNS:sqs.eu-west-1.aws.test,DNS:s3.eu-west-1.aws.test"
start_dns_upstream
nsenter --net="/run/netns/$outside" "$python" "$here/aws_origin.py" --listen 10.199.0.2:8443 \
  --tls "$work/aws.crt" "$work/aws.key" --log "$work/origin.log" --ready "$work/ready.aws" 2>>"$work/aws.err" &
pids+=($!)
wait_ready "$work/ready.aws" "aws_origin.py (see $work/aws.err)"
mkdir -p "$work/state"
"$proxy" ca init --state-dir "$work/state" >/dev/null
lens_ca=$work/state/ca/ca.crt

write_policy '{"network": {"defaultVerdict": "deny", "defaultTransport": "direct", "egress": {"http": [
  {"match": "*.aws.test:8443", "verdict": "allow", "transport": "direct"}]}},
 "credentials": [{"id": "aws-prod", "envVar": "AWS_ACCESS_KEY_ID", "placeholder": "LENSFAKE00AABB0000CC",
   "injections": [{"injectionType": "awsSigv4", "domain": "*.aws.test", "accessKeyId": "ASIAREALEXAMPLEKEY",
     "secretAccessKey": "real/Secret+Access/Key", "sessionToken": "FwoGZXIvYXdzEBYaDREALTOKEN/=="}]}]}'
start_proxy --origin-ca "$work/ca.crt" --max-signed-body 65536
secrets=("real/Secret+Access/Key" "FwoGZXIvYXdzEBYaDREALTOKEN")

# An aws-chunked upload of 20,000 bytes in chunks of 8 KiB, signed with the
# placeholder key by lens-sign (what an SDK's streaming upload sends).
head -c 20000 /dev/urandom >"$work/payload"
printf 'PUT /bucket/big.bin HTTP/1.1\r\nHost: s3.eu-west-1.aws.test:8443\r\nContent-Type: application/octet-stream\r\n\r\n' |
  cat - "$work/payload" >"$work/plain-put"
LENS_AWS_SECRET_ACCESS_KEY=sandbox-secret "$sign" aws-sigv4 --access-key LENSFAKE00AABB0000CC --region eu-west-1 \
  --service s3 --payload streaming --chunk-size 8192 <"$work/plain-put" >"$work/chunked"
# The same signed with a placeholder no credential has.
LENS_AWS_SECRET_ACCESS_KEY=x "$sign" aws-sigv4 --access-key LENSFAKE99 --region eu-west-1 --service s3 \
  --payload unsigned <"$work/plain-put" >"$work/unknown"

out=$(in_sbx env HTTPS_PROXY=http://127.0.0.1:3128 REQUESTS_CA_BUNDLE="$lens_ca" "$python" "$here/aws_client.py" \
  aws.test 8443 chunked="$work/chunked" unknown="$work/unknown" 2>&1 || true)
echo "$out"
check "botocore GET with a query: re-signed, the origin's check passes" -- grep -q '^get-query 200 sig-ok$' <<<"$out"
check "botocore POST: the proxy read the body and signed its hash" -- grep -q '^post-hashed 200 sig-ok$' <<<"$out"
check "botocore S3 PUT with UNSIGNED-PAYLOAD streams untouched" -- grep -q '^s3-put-unsigned 200 sig-ok$' <<<"$out"
check "a presigned S3 GET is re-signed in its query" -- grep -q '^presigned-get 200 sig-ok$' <<<"$out"
check "an aws-chunked upload of three chunks: every chunk signature re-signed" -- grep -q '^chunked 200 sig-ok$' <<<"$out"
check "a placeholder no credential has: 401 aws-unknown-credentials" -- \
  grep -q '^unknown 401 aws-unknown-credentials$' <<<"$out"

mc() { in_sbx curl -sS --max-time 10 --proxy http://127.0.0.1:3128 --cacert "$lens_ca" "$@" 2>&1 || true; }
out=$(mc --aws-sigv4 "aws:amz:eu-west-1:sqs" --user "LENSFAKE00AABB0000CC:sandbox-secret" \
  'https://sqs.eu-west-1.aws.test:8443/?Action=ListQueues')
check "curl --aws-sigv4 with the placeholder key: re-signed" -- test "$out" = "sig-ok"
out=$(mc -o /dev/null -w '%{http_code}' 'https://sqs.eu-west-1.aws.test:8443/?Action=ListQueues')
check "an unsigned request to an AWS host: 401" -- test "$out" = 401
out=$(mc -o /dev/null -w '%{http_code}' --aws-sigv4 "aws:amz:eu-west-1:sqs" --user "LENSFAKE00AABB0000CC:s" \
  -X POST --data-binary @"$work/payload" --data-binary @"$work/payload" --data-binary @"$work/payload" \
  --data-binary @"$work/payload" 'https://sqs.eu-west-1.aws.test:8443/')
check "a body whose hash must be signed, over --max-signed-body: 413" -- test "$out" = 413
check "no refused request reached the origin" -- bash -c "! grep -q 'sig-bad' '$work/origin.log'"

check "the re-signed request's event: aws_resign, service, credential_id" -- "$python" -c '
import json, sys
events = [json.loads(l) for l in open(sys.argv[1])]
e = [e["metadata"] for e in events if e.get("path") == "/bucket/big.bin" and e.get("status_code") == 200]
assert e and e[0].get("aws_resign") is True and e[0].get("service") == "s3" and e[0].get("credential_id") == "aws-prod", e' \
  "$work/audit.log"
for secret in "${secrets[@]}"; do
  check "the real ${secret:0:4}... is in no log or audit line" -- bash -c "! grep -qF '$secret' '$work/proxy.err' '$work/audit.log'"
done

finish
