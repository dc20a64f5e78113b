#!/usr/bin/env bash
# lens-proxy ca init|show|export: the interception CA and the trust it gives
# the workload. A server certificate signed with the CA's key (by openssl, as
# the interception stage will) is trusted by curl and Python through the
# exported bundle and not without it; the key is unreadable to other users;
# init keeps a usable CA and refuses an unusable one (exit 3) until --force;
# bad input gets its exit code.
#
# Exit status: 0 pass, 77 skip (with the reason), 1 fail.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
for tool in openssl curl python3; do
  command -v "$tool" >/dev/null || skip "$tool is not installed"
done
source "$(dirname "${BASH_SOURCE[0]}")/ca_common.sh"

state=$work/state
mkdir -p "$state"
chmod 0755 "$work" "$state"  # as /run/lens is: other users pass through

# --- init, show, files ---------------------------------------------------------

check "ca init creates the CA" "$proxy" ca init --state-dir "$state"
grep -q '^lens-proxy: ca init: created' "$work/out" || { echo "FAIL: init did not say created" >&2; failed=1; }
fingerprint=$(openssl x509 -in "$state/ca/ca.crt" -noout -fingerprint -sha256 | sed 's/.*=//')
check "ca show prints the fingerprint openssl computes" grep -q "sha256: *$fingerprint" <("$proxy" ca show --state-dir "$state")
check "the key is 0600 and the certificate 0644" \
  test "$(stat -c %a "$state/ca/ca.key") $(stat -c %a "$state/ca/ca.crt")" = "600 644"
check "the certificate is a CA for a strict verifier" \
  openssl verify -x509_strict -CAfile "$state/ca/ca.crt" "$state/ca/ca.crt"
check "the key belongs to the certificate" test \
  "$(openssl pkey -in "$state/ca/ca.key" -pubout)" = "$(openssl x509 -in "$state/ca/ca.crt" -noout -pubkey)"
"$proxy" ca init --state-dir "$state" >"$work/again"
check "a second init keeps the CA" grep -q "kept the existing CA" "$work/again"
check "and its fingerprint" test \
  "$(openssl x509 -in "$state/ca/ca.crt" -noout -fingerprint -sha256 | sed 's/.*=//')" = "$fingerprint"
if [[ $(id -u) == 0 ]] && command -v setpriv >/dev/null; then
  expect_status 1 "Permission denied" "another user cannot read the key" \
    setpriv --reuid 65534 --regid 65534 --clear-groups cat "$state/ca/ca.key"
  check "another user can read the certificate" \
    setpriv --reuid 65534 --regid 65534 --clear-groups cat "$state/ca/ca.crt"
else
  echo "skip: key readability by another user (needs root and setpriv)"
fi

# --- trust: a certificate signed by the CA ------------------------------------

openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=origin.test \
  -keyout "$work/leaf.key" -out "$work/leaf.csr" 2>/dev/null
printf 'subjectAltName=DNS:origin.test\nextendedKeyUsage=serverAuth\n' >"$work/leaf.ext"
openssl x509 -req -in "$work/leaf.csr" -CA "$state/ca/ca.crt" -CAkey "$state/ca/ca.key" \
  -CAcreateserial -days 1 -extfile "$work/leaf.ext" -out "$work/leaf.crt" 2>/dev/null
python3 - "$work" >"$work/port" 2>"$work/server.log" <<'PY' &
import http.server, ssl, sys
work = sys.argv[1]
class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"hello through the lens CA\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), Hello)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(f"{work}/leaf.crt", f"{work}/leaf.key")
server.socket = ctx.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
PY
pids+=($!)
for ((i = 0; i < 100; i++)); do
  [[ -s $work/port ]] && break
  sleep 0.05
done
port=$(cat "$work/port")
url=https://origin.test:$port/
resolve=(--resolve "origin.test:$port:127.0.0.1")

bundle=$state/ca/bundle.pem
check "ca export --bundle --out writes the bundle" \
  "$proxy" ca export --state-dir "$state" --bundle /etc/ssl/certs/ca-certificates.crt --out "$bundle"
check "the bundle is the system bundle plus the CA" test \
  "$(grep -c BEGIN "$bundle")" = "$(($(grep -c BEGIN /etc/ssl/certs/ca-certificates.crt) + 1))"
"$proxy" ca export --state-dir "$state" --bundle "$bundle" >"$work/rebundle"
check "exporting onto a bundle that has the CA adds nothing" cmp "$bundle" "$work/rebundle"
"$proxy" ca export --state-dir "$state" >"$work/ca.pem"
check "ca export prints the certificate" cmp "$work/ca.pem" "$state/ca/ca.crt"

check "curl trusts the server through the bundle" \
  grep -q "hello through the lens CA" <(curl -sS --cacert "$bundle" "${resolve[@]}" "$url")
expect_status 60 "certificate" "curl with the system bundle alone refuses it" \
  curl -sS --cacert /etc/ssl/certs/ca-certificates.crt "${resolve[@]}" "$url"
check "Python trusts it with SSL_CERT_FILE" env SSL_CERT_FILE="$bundle" python3 -c "
import http.client, socket, ssl, sys
ctx = ssl.create_default_context()
conn = http.client.HTTPSConnection('origin.test', $port, context=ctx)
conn.sock = ctx.wrap_socket(socket.create_connection(('127.0.0.1', $port)), server_hostname='origin.test')
conn.request('GET', '/')
sys.exit(0 if b'lens CA' in conn.getresponse().read() else 1)"

# --- an unusable CA, --force, bad input -----------------------------------------

chmod 0644 "$state/ca/ca.key"
expect_status 3 "mode 0644.*--force" "a key others can read is refused" "$proxy" ca init --state-dir "$state"
expect_status 3 "mode 0644" "and ca show refuses it too" "$proxy" ca show --state-dir "$state"
check "--force replaces it" "$proxy" ca init --state-dir "$state" --force
grep -q "replaced" "$work/out" || { echo "FAIL: --force did not say replaced" >&2; failed=1; }
check "with a new key" test \
  "$(openssl x509 -in "$state/ca/ca.crt" -noout -fingerprint -sha256 | sed 's/.*=//')" != "$fingerprint"
check "mode 0600 again" test "$(stat -c %a "$state/ca/ca.key")" = 600
expect_status 60 "certificate" "the old server certificate is no longer trusted" \
  curl -sS --cacert "$state/ca/ca.crt" "${resolve[@]}" "$url"

expect_status 1 "--bundle .*missing" "a missing --bundle" "$proxy" ca export --state-dir "$state" --bundle "$work/missing"

rm "$state/ca/ca.crt"
expect_status 3 "ca.crt does not exist.*--force" "half a CA is refused" "$proxy" ca init --state-dir "$state"
expect_status 1 "does not exist" "ca export without a CA" "$proxy" ca export --ca-dir "$work/none"
expect_status 1 "does not exist" "ca show without a CA" "$proxy" ca show --ca-dir "$work/none"
expect_status 2 "days" "--days 0 is a usage error" "$proxy" ca init --ca-dir "$work/x" --days 0
expect_status 2 "" "ca without a subcommand is a usage error" "$proxy" ca

exit "$failed"
