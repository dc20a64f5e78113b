#!/usr/bin/env bash
# TLS interception in lens-proxy with real clients, each trusting only the
# CA lens-proxy minted its leaves from: curl (keep-alive over two URLs of
# which one is refused, on one connection), python3 requests, node
# (NODE_EXTRA_CA_CERTS), java (what `lens-proxy ca env` sets), git clone
# (a refused push), openssl s_client -verify_return_error and
# `openssl verify -x509_strict` of the minted chain. Method/path rules are
# enforced inside TLS and a refused request never reaches the origin (its
# log proves it); name agreement (421 host-mismatch); an origin whose
# certificate does not name it (502 origin-tls-failed); a client offering
# only h2 (answered in h2; proxy.h2 tests HTTP/2 itself); TLS to the origin through an https://
# upstream proxy (TLS inside TLS); --intercept all; audit events per request
# (mitm, status, bytes, no query string) and a close event with the count.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../netns.sh"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
"$python" -c 'import requests' 2>/dev/null || skip "needs python3-requests"

make_certs
start_dns_upstream
serve_py "$outside" origins origin --listen 10.199.0.2:8443 --tls "$work/origin.crt" "$work/origin.key" \
  --log "$work/origin.log"
git init -q --bare "$work/repos/repo.git"
git init -q "$work/src"
git -C "$work/src" -c user.name=t -c user.email=t@t commit -q --allow-empty -m "the first commit"
git -C "$work/src" push -q "$work/repos/repo.git" HEAD:refs/heads/main
git -C "$work/repos/repo.git" symbolic-ref HEAD refs/heads/main
git -C "$work/repos/repo.git" config http.receivepack true
serve_py "$outside" git git --listen 10.199.0.2:8444 --tls "$work/origin.crt" "$work/origin.key" --root "$work/repos"
serve_py "$outside" rec upstream --listen 10.199.0.3:9443 --tls "$work/upstream.crt" "$work/upstream.key" \
  --log "$work/rec.log" --map origin.test=10.199.0.2

mkdir -p "$work/state"
"$proxy" ca init --state-dir "$work/state" >/dev/null
lens_ca=$work/state/ca/ca.crt

# policy TRANSPORT: origin.test with rules (GET /api/**, POST /upload),
# other.test (its address serves origin.test's certificate) with a rule.
policy() {
  "$python" - "$work/policy.json" "$1" "$work/ca.crt" <<'PY'
import json, os, sys
path, transport, ca = sys.argv[1], sys.argv[2], sys.argv[3]
doc = {"type": "policy", "proxyUpstream": "https://proxy.test:9443", "proxyCaCert": open(ca).read(),
       "network": {"defaultVerdict": "deny", "defaultTransport": "direct", "egress": {"http": [
    {"match": "origin.test:8443", "verdict": "allow", "transport": transport,
     "rules": [{"method": "GET", "path": "/api/**"}, {"method": "POST", "path": "/upload"}]},
    {"match": "other.test:8443", "verdict": "allow", "transport": "direct", "rules": [{"method": "GET", "path": "/**"}]},
    {"match": "origin.test:8444", "verdict": "allow", "transport": "direct",
     "rules": [{"method": "GET", "path": "/cgi-bin/git.py/**"}, {"method": "POST", "path": "/cgi-bin/git.py/*/git-upload-pack"}]}]}}}
with open(path + ".tmp", "w") as f:
    json.dump(doc, f)
os.rename(path + ".tmp", path)
PY
}
policy direct
start_proxy

# mc ARGS...: curl through the proxy trusting only the lens CA.
mc() { in_sbx curl -sS --max-time 10 --proxy http://127.0.0.1:3128 --cacert "$lens_ca" "$@" 2>&1 || true; }

echo "== curl: keep-alive, every request judged inside TLS"
out=$(mc -o /dev/null -o /dev/null -o "$work/third" -w '%{http_code} %{num_connects}\n' \
  https://origin.test:8443/api/a https://origin.test:8443/private https://origin.test:8443/api/b)
check "GET /api/a allowed, GET /private refused 403, GET /api/b allowed" -- \
  test "$(tr '\n' ' ' <<<"$out")" = "200 1 403 0 200 0 "
check "... all on one client connection (curl connected once)" -- grep -q '^403 0$' <<<"$out"
check "the refused request never reached the origin (its log has the allowed ones only)" -- \
  bash -c "grep -q '^GET /api/b host=origin.test:8443$' '$work/origin.log' && ! grep -q ' /private ' '$work/origin.log'"
check "... and the origin connection carried both allowed requests" -- grep -q '^conn-requests=2$' "$work/third"
out=$(mc --http1.1 -i https://origin.test:8443/private)
check "the refusal is a 403 inside TLS with X-Lens-Reason" -- \
  has_lines "$out" '^HTTP/1.1 403' '^X-Lens-Reason: http-rule-denied'
out=$(mc -X POST --data-binary 'hello' https://origin.test:8443/upload)
check "POST /upload with a body is allowed and the body arrives" -- grep -q '^body-bytes=5$' <<<"$out"
out=$(mc -o /dev/null -w '%{http_code}' -X DELETE https://origin.test:8443/api/a)
check "DELETE /api/a is refused (no rule covers the method)" -- test "$out" = 403
out=$(mc -o /dev/null -w '%{http_code}' -X POST --data-binary 'x' https://origin.test:8443/api/a)
check "a refused request with a body is answered 403 too" -- test "$out" = 403
head -c 2097152 /dev/zero >"$work/2mb"
out=$(mc -H 'Expect: 100-continue' -X POST --data-binary @"$work/2mb" https://origin.test:8443/upload)
check "a 2 MiB POST with Expect: 100-continue arrives whole" -- grep -q '^body-bytes=2097152$' <<<"$out"
out=$(mc -H 'Transfer-Encoding: chunked' -X POST --data-binary 'chunked body' https://origin.test:8443/upload)
check "a chunked request body arrives whole" -- grep -q '^body-bytes=12$' <<<"$out"
out=$(in_sbx "$python" -c '
import socket, ssl, sys
s = socket.create_connection(("127.0.0.1", 3128), timeout=10)
s.sendall(b"CONNECT origin.test:8443 HTTP/1.1\r\nHost: origin.test:8443\r\n\r\n")
assert s.recv(4096).startswith(b"HTTP/1.1 200")
t = ssl.create_default_context(cafile=sys.argv[1]).wrap_socket(s, server_hostname="origin.test")
# Three requests in one write: the second is refused, the others answered, in order.
t.sendall(b"".join(b"GET %s HTTP/1.1\r\nHost: origin.test:8443\r\n\r\n" % p
                   for p in (b"/api/p1", b"/private", b"/api/p3")) + b"GET /api/p4 HTTP/1.1\r\nHost: origin.test:8443\r\nConnection: close\r\n\r\n")
data = b""
while True:
    d = t.recv(65536)
    if not d:
        break
    data += d
for line in data.decode().splitlines():
    if line.startswith(("HTTP/1.1", "origin ")):
        print(line)
' "$lens_ca" 2>&1 || true)
check "pipelined requests are judged one by one and answered in order" -- \
  test "$(tr '\n' '|' <<<"$out")" = "HTTP/1.1 200 OK|origin GET /api/p1|HTTP/1.1 403 Forbidden|HTTP/1.1 200 OK|origin GET /api/p3|HTTP/1.1 200 OK|origin GET /api/p4|"
out=$(in_sbx curl -sS --max-time 10 --proxy http://127.0.0.1:3128 https://origin.test:8443/api/a 2>&1 || true)
check "a client that does not trust the lens CA refuses the leaf" -- grep -qi 'certificate' <<<"$out"

echo "== the minted chain"
in_sbx openssl s_client -proxy 127.0.0.1:3128 -connect origin.test:8443 -servername origin.test \
  -CAfile "$lens_ca" -verify_return_error -showcerts </dev/null >"$work/sclient.out" 2>&1 || true
check "openssl s_client -verify_return_error accepts the leaf" -- grep -q 'Verify return code: 0 (ok)' "$work/sclient.out"
awk '/BEGIN CERTIFICATE/{n++} n==1{print} /END CERTIFICATE/{if(n==1) n++}' "$work/sclient.out" >"$work/leaf.pem"
check "openssl verify -x509_strict -purpose sslserver accepts the minted leaf" -- \
  openssl verify -x509_strict -purpose sslserver -verify_hostname origin.test -CAfile "$lens_ca" "$work/leaf.pem"
check "the leaf is ECDSA P-256 with a DNS SAN for the host" -- \
  bash -c "openssl x509 -in '$work/leaf.pem' -noout -text | grep -q 'DNS:origin.test' && openssl x509 -in '$work/leaf.pem' -noout -text | grep -q 'prime256v1'"
out=$(printf 'GET /api/s HTTP/1.1\r\nHost: origin.test:8443\r\nConnection: close\r\n\r\n' |
  in_sbx openssl s_client -proxy 127.0.0.1:3128 -connect origin.test:8443 -servername origin.test \
    -CAfile "$lens_ca" -verify_return_error -quiet 2>/dev/null || true)
check "a request typed into s_client is answered by the origin" -- grep -q '^origin GET /api/s$' <<<"$out"

echo "== python3 requests, node"
out=$(in_sbx env HTTPS_PROXY=http://127.0.0.1:3128 REQUESTS_CA_BUNDLE="$lens_ca" "$python" -c '
import requests
s = requests.Session()
a = s.get("https://origin.test:8443/api/py")
b = s.post("https://origin.test:8443/upload", data=b"abc")
c = s.put("https://origin.test:8443/api/py", data=b"abc")
print(a.status_code, b.status_code, c.status_code, c.headers.get("X-Lens-Reason"))
' 2>&1 || true)
check "python3 requests: GET and POST allowed, PUT refused inside TLS" -- grep -q '^200 200 403 http-rule-denied$' <<<"$out"
if command -v node >/dev/null; then
  out=$(in_sbx env NODE_EXTRA_CA_CERTS="$lens_ca" node -e '
const http = require("http"), tls = require("tls");
const req = http.request({host: "127.0.0.1", port: 3128, method: "CONNECT", path: "origin.test:8443"});
req.on("connect", (res, socket) => {
  const t = tls.connect({socket, servername: "origin.test"}, () => {
    t.write("GET /api/node HTTP/1.1\r\nHost: origin.test:8443\r\nConnection: close\r\n\r\n");
  });
  let data = "";
  t.on("data", d => data += d);
  t.on("end", () => { console.log(data.split("\r\n\r\n")[1].split("\n")[0]); });
  t.on("error", e => { console.log("error " + e.message); });
});
req.end();
' 2>&1 || true)
  check "node with NODE_EXTRA_CA_CERTS reaches the origin through interception" -- grep -q '^origin GET /api/node$' <<<"$out"
else
  echo "skip node: not installed"
fi

if command -v java >/dev/null && command -v javac >/dev/null; then
  cat >"$work/Fetch.java" <<'JAVA'
import java.io.InputStream;
import java.net.URL;
public class Fetch {
  public static void main(String[] args) throws Exception {
    try (InputStream in = new URL(args[0]).openConnection().getInputStream()) {
      System.out.print(new String(in.readAllBytes()));
    }
  }
}
JAVA
  "$proxy" ca env --state-dir "$work/state" --proxy 127.0.0.1:3128 >"$work/java-env.sh"
  # Nothing but what ca env set for the JVM: its trust store and proxy properties.
  out=$(in_sbx env -i PATH="$PATH" HOME="$work" bash -c 'eval "$(cat "$1")"
    unset HTTPS_PROXY https_proxy HTTP_PROXY http_proxy
    exec java "$2" https://origin.test:8443/api/java' sh "$work/java-env.sh" "$work/Fetch.java" 2>&1 || true)
  check "java (JAVA_TOOL_OPTIONS from lens-proxy ca env) through interception" -- grep -q '^origin GET /api/java$' <<<"$out"
else
  echo "skip java: java and javac are not both installed"
fi

echo "== git over HTTPS"
in_sbx env GIT_SSL_CAINFO="$lens_ca" git -c http.proxy=http://127.0.0.1:3128 clone -q \
  https://origin.test:8444/cgi-bin/git.py/repo.git "$work/clone" >"$work/git.out" 2>&1 || true
check "git clone through interception (GIT_SSL_CAINFO = the lens CA)" -- \
  bash -c "git -C '$work/clone' log --format=%s | grep -q '^the first commit$'"
git -C "$work/clone" -c user.name=t -c user.email=t@t commit -q --allow-empty -m "second" 2>/dev/null || true
out=$(in_sbx env GIT_SSL_CAINFO="$lens_ca" git -C "$work/clone" -c http.proxy=http://127.0.0.1:3128 \
  -c http.receivepack=true push origin HEAD:main 2>&1 || true)
check "git push is refused: no rule allows POST git-receive-pack" -- grep -q '403' <<<"$out"
check "... audited as a refused POST" -- \
  audit_has '"action":"POST https://origin.test:8444/cgi-bin/git.py/repo.git/git-receive-pack".*"status_code":403'

echo "== name agreement, origin certificates, ALPN"
out=$(mc --http1.1 -i -H 'Host: other.test:8443' https://origin.test:8443/api/a)
check "Host other.test inside a connection for origin.test: 421 host-mismatch" -- \
  has_lines "$out" '^HTTP/1.1 421' '^X-Lens-Reason: host-mismatch'
check "... and nothing reached the origin for other.test" -- \
  bash -c "grep -q 'host=origin.test' '$work/origin.log' && ! grep -q 'host=other.test' '$work/origin.log'"
out=$(mc --http1.1 -i https://other.test:8443/x)
check "an origin whose certificate does not name the host: 502 origin-tls-failed" -- \
  has_lines "$out" '^HTTP/1.1 502' '^X-Lens-Reason: origin-tls-failed'
check "... with OpenSSL's reason in the audit event" -- \
  audit_has '"host":"other.test".*"reason":"origin-tls-failed".*"detail":"certificate verification failed: '
in_sbx openssl s_client -proxy 127.0.0.1:3128 -connect origin.test:8443 -servername origin.test -alpn h2 \
  -CAfile "$lens_ca" </dev/null >"$work/alpn.out" 2>&1 || true
check "a client offering only h2 gets h2 (--http2 on; proxy.h2 checks the alert under --http2 off)" -- \
  grep -q '^ALPN protocol: h2' "$work/alpn.out"

echo "== audit"
mc -o /dev/null 'https://origin.test:8443/api/q?token=SECRET123' >/dev/null
check "one decision event per request: action, mitm, status, bytes, door connect" -- audit_has \
  '"action":"GET https://origin.test:8443/api/a","method":"GET","host":"origin.test","path":"/api/a","result":"success","status_code":200,"metadata":\{"phase":"decision","reason":"[a-z-]+","door":"connect","rule":"origin.test:8443".*"mitm":true.*"bytes_up":[0-9]+,"bytes_down":[0-9]+'
check "a refused request's event" -- audit_has \
  '"action":"GET https://origin.test:8443/private",.*"status_code":403,"metadata":\{"phase":"decision","reason":"http-rule-denied","door":"connect"'
check "query strings never reach the audit log" -- bash -c "! grep -q SECRET123 '$work/audit.log'"
check "the close event counts the requests inside" -- audit_has \
  '"action":"CONNECT origin.test:8443".*"phase":"close".*"requests":3,"mitm":true'

echo "== a policy change closes an intercepted connection it no longer allows"
# (One whose host stays allowed stays open: each later request is judged.)
in_sbx "$python" -c '
import socket, ssl, sys, time
s = socket.create_connection(("127.0.0.1", 3128), timeout=10)
s.sendall(b"CONNECT origin.test:8443 HTTP/1.1\r\nHost: origin.test:8443\r\n\r\n")
assert s.recv(4096).startswith(b"HTTP/1.1 200")
t = ssl.create_default_context(cafile=sys.argv[1]).wrap_socket(s, server_hostname="origin.test")
t.sendall(b"GET /api/hold HTTP/1.1\r\nHost: origin.test:8443\r\n\r\n")
got = b""
while not got.endswith(b"body-bytes=0\n"):
    got += t.recv(65536)
print(got.split(b"\r\n")[0].decode(), flush=True)
open(sys.argv[2], "w").write("ready")
try:
    print("closed" if t.recv(4096) == b"" else "data", flush=True)
except Exception as e:
    print("closed", flush=True)
' "$lens_ca" "$work/hold.ready" >"$work/hold.out" 2>&1 &
hold_pid=$!
for ((i = 0; i < 100; i++)); do [[ -e $work/hold.ready ]] && break; sleep 0.05; done
applied=$(grep -c '"reason":"policy-applied"' "$work/audit.log" || true)
"$python" - "$work/policy.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
del doc["network"]["egress"]["http"][0]  # origin.test:8443 is no longer allowed
json.dump(doc, open(sys.argv[1] + ".tmp", "w"))
PY
mv "$work/policy.json.tmp" "$work/policy.json"
wait "$hold_pid" || true
check "an idle intercepted connection to a host the new policy refuses is closed" -- \
  test "$(tr '\n' ' ' <<<"$(cat "$work/hold.out")")" = "HTTP/1.1 200 OK closed "
check "... with a close event policy-changed" -- \
  audit_has '"action":"CONNECT origin.test:8443".*"phase":"close","reason":"policy-changed".*"mitm":true'

echo "== through an https:// upstream proxy: TLS to the origin inside its tunnel"
applied=$(grep -c '"reason":"policy-applied"' "$work/audit.log" || true)
policy upstream
for ((i = 0; i < 100; i++)); do
  [[ $(grep -c '"reason":"policy-applied"' "$work/audit.log" || true) -gt $applied ]] && break
  sleep 0.05
done
out=$(mc https://origin.test:8443/api/up)
check "an intercepted request goes through the upstream proxy" -- grep -q '^origin GET /api/up$' <<<"$out"
check "... which saw one CONNECT to the origin" -- grep -q '^CONNECT origin.test:8443' "$work/rec.log"
out=$(mc -o /dev/null -w '%{http_code}' https://origin.test:8443/denied)
check "rules still apply through the upstream proxy" -- test "$out" = 403

echo "== --intercept all"
stop_proxy
policy direct
"$python" - "$work/policy.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
doc["network"]["egress"]["http"][0].pop("rules")
json.dump(doc, open(sys.argv[1], "w"))
PY
start_proxy --intercept all
out=$(mc https://origin.test:8443/anything)
check "a route without rules is intercepted (the client sees the lens leaf)" -- grep -q '^origin GET /anything$' <<<"$out"
out=$(mc -o /dev/null -w '%{http_code}' -H 'Host: other.test:8443' https://origin.test:8443/)
check "... so name agreement covers it: 421" -- test "$out" = 421
stop_proxy
start_proxy
out=$(in_sbx curl -sS --max-time 10 --proxy http://127.0.0.1:3128 --cacert "$work/ca.crt" https://origin.test:8443/tunnel 2>&1 || true)
check "with --intercept needed the same route is a tunnel (the origin's own certificate)" -- \
  grep -q '^origin GET /tunnel$' <<<"$out"

stop_proxy
finish
