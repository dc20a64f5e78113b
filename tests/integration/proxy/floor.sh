#!/usr/bin/env bash
# The safety floor on lens-proxy's doors: refused before any rule, even when
# the policy allows everything: loopback, link-local (cloud metadata),
# unspecified, localhost names, ambiguous numeric spellings, and names that
# resolve to such addresses (DNS rebinding). A service on the sandbox's own
# loopback must never be reached. An egress.tcp CIDR rule binds a name that
# resolves into it. The address checked is the address dialled.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../netns.sh"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

make_certs
start_dns_upstream
start_origins
# Something to reach on the sandbox's own loopback and link-local address:
# any answer from it is a failure of the floor.
ip -n "$sbx" addr add 169.254.169.254/32 dev lo
serve "$sbx" local --tcp 127.0.0.1:8080 --tcp 127.0.0.1:443 --tcp 169.254.169.254:80 --tcp '[::1]:8080'

write_policy '{"network": {"defaultVerdict": "allow", "defaultTransport": "direct", "egress": {
  "http": [{"match": "*", "verdict": "allow", "transport": "direct"}],
  "tcp": [{"match": "10.199.0.3/32:8080", "verdict": "deny"}]}}}'
start_proxy

echo "== allowed for contrast"
check "a public name goes through" -- grep -q '^origin GET /ok$' <<<"$(pc http://origin.test:8080/ok)"

echo "== forward door"
for url in http://127.0.0.1:8080/ http://127.1:8080/ http://2130706433:8080/ http://0x7f000001:8080/ \
  http://0177.0.0.1:8080/ http://0x7f.1:8080/ 'http://[::1]:8080/' 'http://[::ffff:127.0.0.1]:8080/' \
  'http://[::ffff:7f00:1]:8080/' 'http://[::127.0.0.1]:8080/' http://localhost:8080/ http://LocalHost.:8080/ \
  http://a.b.localhost:8080/ http://169.254.169.254/latest/meta-data/ 'http://[fe80::1]/' http://0.0.0.0:8080/ \
  'http://[::]:8080/' http://lo.test:8080/ http://meta.test/latest/meta-data/ http://mixed.test:8080/; do
  out=$(pc -g -i "$url")
  check "$url is refused 403 blocked-destination" -- \
    has_lines "$out" '^HTTP/1.1 403' '^X-Lens-Reason: blocked-destination'
done

echo "== CONNECT door"
for target in 127.0.0.1:443 localhost:443 '[::1]:8080' '[::ffff:127.0.0.1]:443' 2130706433:443 169.254.169.254:80 \
  lo.test:443 meta.test:80 mixed.test:8443; do
  out=$(raw 127.0.0.1 3128 "CONNECT $target HTTP/1.1\r\nHost: $target\r\n\r\n")
  check "CONNECT $target is refused 403 blocked-destination" -- \
    has_lines "$out" '^HTTP/1.1 403' '^X-Lens-Reason: blocked-destination'
done

echo "== nothing reached the sandbox's own services"
out=$(pc http://lo.test:8080/)
check "the body of a refusal is the proxy's, not the local service's" -- \
  has_lines "$out" 'lens-proxy: lo.test: refused by policy (blocked-destination)' --not '^local'

echo "== audit: the floor's detail names what was refused"
check "a name resolving to loopback" -- audit_has '"host":"lo.test".*"reason":"blocked-destination".*"detail":"the name resolves to 127.0.0.1'
check "a name resolving to the metadata address" -- audit_has '"host":"meta.test".*"detail":"the name resolves to 169.254.169.254'
check "one loopback address among public ones refuses the name" -- audit_has '"host":"mixed.test".*"detail":"the name resolves to 127.0.0.1'
check "the decimal spelling" -- audit_has '"host":"2130706433".*"reason":"blocked-destination"'

echo "== egress.tcp CIDR rule against the resolved address"
out=$(pc -i http://deny.test:8080/)
check "deny.test resolves into a denied CIDR: 403 policy-deny" -- \
  has_lines "$out" '^HTTP/1.1 403' '^X-Lens-Reason: policy-deny'
check "the audit event names the tcp rule" -- audit_has '"host":"deny.test".*"reason":"policy-deny".*"detail":"tcp rule 0 matches"'

stop_proxy
finish
