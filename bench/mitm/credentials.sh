# Sourced by bench/mitm/run.sh --credentials, after its namespaces, nginx,
# dnsmasq and lens-proxy ("lens": interception with rules, no credentials)
# are up. Adds "lens-cred": the same policy with a header injection and an
# awsSigv4 injection for origin.test, and measures, targets alternating:
#   - inject: keep-alive GETs of 1 KiB carrying the header's placeholder
#     (lens forwards it as it is; lens-cred replaces it);
#   - sigv4: keep-alive POSTs of a 1 KiB body signed by the placeholder key,
#     its hash signed (lens forwards them; lens-cred reads each body whole
#     and signs it again);
#   - upload: one PUT of --upload-mib MiB through lens-cred, aws-chunked in
#     64 KiB chunks (every chunk re-signed) and UNSIGNED-PAYLOAD (the head
#     alone).
# The request files are made by lens-sign aws-sigv4 with the placeholder key.
# shellcheck shell=bash disable=SC2154  # the variables are run.sh's

sign=$build/cmd/lens-sign
fake=LENSFAKE00AABB0000CC
printf '%s\n' '{"type": "policy", "network": {"defaultVerdict": "deny", "defaultTransport": "direct", "egress": {"http": [
  {"match": "origin.test:8443", "verdict": "allow", "transport": "direct", "rules": [{"method": "GET", "path": "/**"}]},
  {"match": "*.bench.test:8443", "verdict": "allow", "transport": "direct", "rules": [{"method": "GET", "path": "/**"}, {"method": "POST", "path": "/aws/**"}, {"method": "PUT", "path": "/aws/**"}]}]}},
 "credentials": [
  {"id": "bench-token", "placeholder": "__lens_cred:bench__", "injections": [
    {"injectionType": "header", "domain": "origin.test", "header": "Authorization", "value": "Bearer bench-real-token",
     "rules": [{"method": "GET", "path": "/**"}]}]},
  {"id": "bench-aws", "placeholder": "LENSFAKE00AABB0000CC", "injections": [
    {"injectionType": "awsSigv4", "domain": "sqs.bench.test", "accessKeyId": "ASIABENCHREALKEY",
     "secretAccessKey": "bench/real/secret", "sessionToken": "bench-real-session"}]}]}' >"$work/policy-cred.json"
mkdir -p "$work/lens-cred"
cp -r "$work/lens/ca" "$work/lens-cred/"
port[lens-cred]=3132
cafile[lens-cred]=$work/lens/ca/ca.crt
start lens_cred "$cli" "$lens" --state-dir "$work/lens-cred" --listen 127.0.0.1:3132 --policy "$work/policy-cred.json" \
  --origin-ca "$work/ca.crt" --audit off --log-level warn --max-connections 100000 --idle-timeout 600 \
  --resolver 10.202.0.2
wait_port "$cli" 127.0.0.1 3132
pidof[lens-cred]=$pid_lens_cred

# The requests (the AWS ones to sqs.bench.test, which the origin's
# certificate and dnsmasq cover).
req=$work/requests
mkdir -p "$req"
printf 'GET /small HTTP/1.1\r\nHost: origin.test:8443\r\nUser-Agent: mitm_load\r\nAuthorization: Bearer __lens_cred:bench__\r\n\r\n' \
  >"$req/inject"
sigv4() {  # sigv4 SERVICE PAYLOAD [FLAG]: a request on standard input signed with the placeholder key
  LENS_AWS_SECRET_ACCESS_KEY=sandbox-secret "$sign" aws-sigv4 --access-key "$fake" --region eu-west-1 \
    --service "$1" --payload "$2" --chunk-size 65536 --max-body $((upload_mib * 1048576 + 65536)) "${@:3}"
}
{ printf 'POST /aws/q HTTP/1.1\r\nHost: sqs.bench.test:8443\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: 1024\r\n\r\n'; head -c 1024 /dev/zero | tr '\0' x; } |
  sigv4 sqs sha256 >"$req/sigv4"
upload_body() {
  printf 'PUT /aws/upload HTTP/1.1\r\nHost: sqs.bench.test:8443\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n' \
    $((upload_mib * 1048576))
  head -c $((upload_mib * 1048576)) /dev/zero
}
echo "signing the ${upload_mib} MiB uploads with lens-sign" >&2
upload_body | sigv4 s3 streaming >"$www/upload-chunked"
upload_body | sigv4 s3 unsigned --sign-body >"$www/upload-unsigned"  # x-amz-content-sha256: UNSIGNED-PAYLOAD, as S3 SDKs send it

cred_targets=(lens lens-cred)
for t in "${cred_targets[@]}"; do
  run_load "$t" keepalive --request-file "$req/sigv4" --host sqs.bench.test --concurrency 1 --seconds 0.2 \
    >/dev/null 2>"$work/check-$t.err" ||
    { echo "run.sh: $t fails a signed request: $(cat "$work/check-$t.err")" >&2; BENCH_KEEP=1; exit 1; }
done
for ((r = 0; r < rounds; r++)); do
  echo "round $((r + 1))/$rounds" >&2
  for ((i = 0; i < ${#cred_targets[@]}; i++)); do
    t=${cred_targets[$(((i + r) % ${#cred_targets[@]}))]}
    pid=${pidof[$t]}
    for figure in inject sigv4; do
      host=origin.test
      [[ $figure == inject ]] || host=sqs.bench.test
      opens=$(origin_opens)
      before=$(cpu_ticks "$pid")
      line=$(run_load "$t" keepalive --request-file "$req/$figure" --host "$host" --concurrency 8 --seconds "$seconds" \
        2>>"$work/load-$t.err")
      after=$(cpu_ticks "$pid")
      opens=$(($(origin_opens) - opens))
      echo "$figure $t ${line#keepalive } ticks=$((after - before)) origin=$opens" >>"$work/results"
      echo "  $t $figure $line, cpu ticks $((after - before)), origin connections $opens" >&2
    done
  done
  pid=${pidof[lens-cred]}
  for kind in chunked unsigned; do
    before=$(cpu_ticks "$pid")
    line=$(run_load lens-cred upload --request-file "$www/upload-$kind" --host sqs.bench.test 2>>"$work/load-lens-cred.err") ||
      line="upload bytes=0 seconds=0"
    after=$(cpu_ticks "$pid")
    echo "upload-$kind lens-cred ${line#upload } ticks=$((after - before))" >>"$work/results"
    echo "  lens-cred upload $kind $line, cpu ticks $((after - before))" >&2
  done
done

python3 - "$work/results" "$hz" "$rounds" "$upload_mib" <<'PY'
import statistics, sys
path, hz, rounds, mib = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
rows = {}
for line in open(path):
    kind, target, *fields = line.split()
    rows.setdefault((kind, target), []).append(dict(f.split("=", 1) for f in fields))
def med(kind, target, f):
    values = [f(r) for r in rows.get((kind, target), []) if float(r.get("seconds", 0)) > 0]
    return statistics.median(values) if values else None
rps = lambda r: int(r["done"]) / float(r["seconds"])
cpu_req = lambda r: int(r["ticks"]) / hz / max(int(r["done"]), 1) * 1e6
# The cores change speed during a run: a round's two targets ran back to
# back, so the ratio and the added CPU are taken per round (paired) and
# their medians reported, beside each target's own median.
def paired(kind, f, combine):
    a = [r for r in rows.get((kind, "lens"), []) if float(r.get("seconds", 0)) > 0]
    b = [r for r in rows.get((kind, "lens-cred"), []) if float(r.get("seconds", 0)) > 0]
    values = [combine(f(y), f(x)) for x, y in zip(a, b)]
    return (statistics.median(values), min(values), max(values)) if values else None
print(f"Medians over {rounds} round(s), targets alternating; 8 keep-alive client threads; origin nginx, TLS 1.3.")
print("Ratio and added CPU are paired per round (both targets back to back), median [min-max].\n")
print("| figure | lens (plain interception) req/s | lens-cred req/s | ratio, paired | lens CPU µs/req | lens-cred CPU µs/req | added µs/req, paired |")
print("|---|---:|---:|---:|---:|---:|---:|")
for kind, title in (("inject", "GET 1 KiB, one header injection"), ("sigv4", "POST 1 KiB, SigV4 re-signed (body hashed)")):
    a, b = med(kind, "lens", rps), med(kind, "lens-cred", rps)
    ca, cb = med(kind, "lens", cpu_req), med(kind, "lens-cred", cpu_req)
    ratio, added = paired(kind, rps, lambda y, x: y / x), paired(kind, cpu_req, lambda y, x: y - x)
    if None in (a, b, ca, cb, ratio, added):
        print(f"| {title} | - | - | - | - | - | - |")
        continue
    print(f"| {title} | {a:,.0f} | {b:,.0f} | {ratio[0]:.2f} [{ratio[1]:.2f}-{ratio[2]:.2f}] | {ca:.0f} | {cb:.0f} "
          f"| {added[0]:+.0f} [{added[1]:+.0f} to {added[2]:+.0f}] |")
mbps = lambda r: int(r["bytes"]) / float(r["seconds"]) / 1e6
cpu_gib = lambda r: int(r["ticks"]) / hz / (int(r["bytes"]) / 2**30)
print(f"\n**one {mib} MiB PUT through lens-cred**\n")
print("| body | MB/s | proxy CPU s/GiB |")
print("|---|---:|---:|")
for kind, title in (("upload-unsigned", "UNSIGNED-PAYLOAD (head re-signed)"), ("upload-chunked", "aws-chunked, 64 KiB chunks (each re-signed)")):
    v, c = med(kind, "lens-cred", mbps), med(kind, "lens-cred", cpu_gib)
    print(f"| {title} | {v:,.0f} | {c:.2f} |" if v else f"| {title} | - | - |")
PY
