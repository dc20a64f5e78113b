#!/usr/bin/env bash
# transport: upstream chains through the policy frame's proxyUpstream: a real
# squid started here (without and with basic authentication), and an
# https:// upstream (a small recording proxy with a certificate from a test
# CA given as proxyCaCert). Refusals: no upstream 503, a dead or refusing
# one 502, an untrusted certificate 502. Credentials never appear in logs
# or audit events.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../netns.sh"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

squid=$(command -v squid || echo /usr/sbin/squid)
[[ -x $squid ]] || skip "needs squid"
[[ -x /usr/lib/squid/basic_ncsa_auth ]] || skip "needs squid's basic_ncsa_auth helper"

make_certs
start_dns_upstream
start_origins

# squid in the outside namespace: port 3128 open, port 3129 with basic auth
# (alice / s3cret). It drops to its own user: the files it reads or writes
# must be reachable.
chmod 755 "$work"
printf 'alice:%s\n' "$(openssl passwd -apr1 s3cret)" >"$work/htpasswd"
touch "$work/squid-access.log" "$work/squid-cache.log"
chmod 666 "$work/squid-access.log" "$work/squid-cache.log"
chmod 644 "$work/htpasswd"
cat >"$work/squid.conf" <<CONF
http_port 10.199.0.3:3128 name=open
http_port 10.199.0.3:3129 name=authed
pid_filename $work/squid.pid
cache deny all
cache_mem 8 MB
access_log stdio:$work/squid-access.log squid
cache_log $work/squid-cache.log
coredump_dir $work
dns_nameservers 10.199.0.2
shutdown_lifetime 0 seconds
auth_param basic program /usr/lib/squid/basic_ncsa_auth $work/htpasswd
auth_param basic realm lens-test
acl openport myportname open
acl authed proxy_auth REQUIRED
http_access allow openport
http_access allow authed
http_access deny all
CONF
nsenter --net="/run/netns/$outside" "$squid" -N -f "$work/squid.conf" 2>>"$work/squid.err" &
pids+=($!)
for ((i = 0; i < 200; i++)); do
  in_out "$python" -c 'import socket; socket.create_connection(("10.199.0.3", 3129), timeout=1)' 2>/dev/null && break
  sleep 0.05
done

# A recording CONNECT proxy with TLS on proxy.test:9443, and a plain one that requires a credential.
serve_py "$outside" rec upstream --listen 10.199.0.3:9443 --tls "$work/upstream.crt" "$work/upstream.key" --log "$work/rec.log" --map origin.test=10.199.0.2

# policy UPSTREAM_URL [CA_FILE]: everything through the upstream.
policy() {
  "$python" - "$work/policy.json" "$@" <<'PY'
import json, os, sys
path, url = sys.argv[1], sys.argv[2]
doc = {"type": "policy", "network": {"defaultVerdict": "deny", "defaultTransport": "upstream", "egress": {"http": [
    {"match": "origin.test", "verdict": "allow", "transport": "upstream"},
    {"match": "other.test", "verdict": "allow", "transport": "direct"}]}}}
if url:
    doc["proxyUpstream"] = url
if len(sys.argv) > 3:
    doc["proxyCaCert"] = open(sys.argv[3]).read()
with open(path + ".tmp", "w") as f:
    json.dump(doc, f)
os.rename(path + ".tmp", path)
PY
}
# wait_applied N: until the Nth policy-applied event.
wait_applied() {
  for ((i = 0; i < 100; i++)); do
    [[ $(grep -c '"reason":"policy-applied"' "$work/audit.log" 2>/dev/null) -ge $1 ]] && return 0
    sleep 0.05
  done
}

policy ""
start_proxy
echo "== no upstream configured"
out=$(in_sbx curl -s --max-time 10 --proxy http://127.0.0.1:3128 -v https://origin.test:8443/ 2>&1 || true)
check "transport upstream without proxyUpstream: 503 no-upstream-proxy" -- \
  has_lines "$out" '< HTTP/1.1 503' '< X-Lens-Reason: no-upstream-proxy'
check "a direct rule still works" -- grep -q '^origin GET /d$' <<<"$(pc http://other.test:8080/d)"

echo "== squid without authentication"
policy http://10.199.0.3:3128
wait_applied 2
out=$(pc --cacert "$work/ca.crt" https://origin.test:8443/via-squid)
check "CONNECT through squid reaches the HTTPS origin" -- grep -q '^origin GET /via-squid$' <<<"$out"
out=$(pc http://origin.test:8080/fwd-squid)
check "a forward request goes through a squid tunnel" -- grep -q '^origin GET /fwd-squid$' <<<"$out"
sleep 0.5  # squid writes its access log when the tunnel closes
check "squid logged both tunnels" -- bash -c "grep -q 'CONNECT origin.test:8443' '$work/squid-access.log' && grep -q 'CONNECT origin.test:8080' '$work/squid-access.log'"
check "the decision event names the upstream proxy" -- \
  audit_has '"action":"CONNECT origin.test:8443".*"transport":"upstream".*"upstream_proxy":"http://10.199.0.3:3128"'

echo "== squid with basic authentication"
policy http://alice:s3cret@10.199.0.3:3129
wait_applied 3
out=$(pc --cacert "$work/ca.crt" https://origin.test:8443/authed)
check "the credentials of the URL are sent as Proxy-Authorization: Basic (squid lets us in)" -- \
  grep -q '^origin GET /authed$' <<<"$out"
policy http://alice:wrong@10.199.0.3:3129
wait_applied 4
out=$(in_sbx curl -s --max-time 10 --proxy http://127.0.0.1:3128 -v https://origin.test:8443/ 2>&1 || true)
check "squid's 407 for a wrong password becomes 502 upstream-proxy-failed" -- \
  has_lines "$out" '< HTTP/1.1 502' '< X-Lens-Reason: upstream-proxy-failed'
check "... and the audit detail says what squid answered" -- audit_has '"reason":"upstream-proxy-failed".*"detail":"http://10.199.0.3:3129 answered 407"'

echo "== https:// upstream verified with proxyCaCert"
policy 'https://bob:pa%24%24@proxy.test:9443' "$work/ca.crt"
wait_applied 5
out=$(pc --cacert "$work/ca.crt" https://origin.test:8443/over-tls)
check "CONNECT inside TLS to the upstream reaches the origin" -- grep -q '^origin GET /over-tls$' <<<"$out"
out=$(pc http://origin.test:8080/fwd-tls)
check "a forward request inside a TLS upstream tunnel" -- grep -q '^origin GET /fwd-tls$' <<<"$out"
check "the upstream saw Proxy-Authorization: Basic base64(bob:pa\$\$)" -- \
  grep -q '^CONNECT origin.test:8443 auth=Basic Ym9iOnBhJCQ=$' "$work/rec.log"
big=$(in_sbx curl -s --max-time 20 --proxy http://127.0.0.1:3128 http://origin.test:8080/big/3000000 | wc -c)
check "3 MB through the TLS upstream arrive whole" -- test "$big" = 3000000

policy 'https://bob:pa%24%24@proxy.test:9443'
wait_applied 6
out=$(pc -i http://origin.test:8080/untrusted)
check "without proxyCaCert the test CA is not trusted: 502 upstream-proxy-failed" -- \
  has_lines "$out" '^HTTP/1.1 502' '^X-Lens-Reason: upstream-proxy-failed'
check "... the audit detail says the certificate failed verification" -- \
  audit_has '"reason":"upstream-proxy-failed".*"detail":"https://proxy.test:9443: certificate verification failed'

echo "== a dead upstream"
policy http://10.199.0.3:3999
wait_applied 7
out=$(in_sbx curl -s --max-time 10 --proxy http://127.0.0.1:3128 -v https://origin.test:8443/ 2>&1 || true)
check "connection refused by the upstream: 502 upstream-proxy-failed" -- \
  has_lines "$out" '< HTTP/1.1 502' '< X-Lens-Reason: upstream-proxy-failed'
policy ftp://proxy.test:21
wait_applied 8
out=$(in_sbx curl -s --max-time 10 --proxy http://127.0.0.1:3128 -v https://origin.test:8443/ 2>&1 || true)
check "an unusable proxyUpstream: 503 no-upstream-proxy" -- grep -q '< X-Lens-Reason: no-upstream-proxy' <<<"$out"
check "... and the error is logged" -- grep -q 'proxyUpstream: must start with http:// or https://' "$work/proxy.err"

echo "== secrets"
check "no password or Basic credential in stderr or the audit log" -- \
  bash -c "! grep -Eq 's3cret|wrong|Ym9iOnBhJCQ|YWxpY2U|pa%24' '$work/proxy.err' '$work/audit.log'"

stop_proxy
[[ -n ${LENS_DEBUG:-} ]] && { grep -h . "$work"/audit.log "$work"/proxy.err "$work"/squid*.log "$work"/rec.log | grep -v policy-applied | head -60; } >&2
finish
