#!/usr/bin/env bash
# lens-tproxy --mode tproxy behind the cage in TPROXY mode (lens-lockdown
# apply --mode tproxy): IP_TRANSPARENT listeners, the original destination
# is the accepted socket's local address. TLS by SNI, HTTP by Host, raw TCP,
# IPv6, the --resolve spoof, the redirect loop; and a daemon in the wrong
# mode relays nothing (the kernel hands TPROXY connections only to an
# IP_TRANSPARENT listener).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../netns.sh"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

start_tproxy_world
in_sbx "$lockdown" apply --mode tproxy
write_policy '{"network": {"defaultVerdict": "deny", "defaultTransport": "direct", "egress": {
  "http": [
    {"match": "origin.test:8443", "verdict": "allow", "transport": "direct"},
    {"match": "origin.test", "verdict": "allow", "transport": "direct", "scheme": "http",
     "rules": [{"method": "GET", "path": "/api/**"}]},
    {"match": "v6.test", "verdict": "allow", "transport": "direct"}],
  "tcp": [{"match": "10.199.0.2:5432", "verdict": "allow"}, {"match": "[fd99::2]:5432", "verdict": "allow"}]}}}'
start_tproxy --mode tproxy
check "the ready line names the tproxy mode" -- grep -q 'listening on 127.0.0.1:3129, \[::1\]:3129 (tproxy)' "$work/tproxy.err"

out=$(tc --cacert "$work/ca.crt" --resolve origin.test:8443:10.199.0.2 https://origin.test:8443/tp)
check "TLS to an allowed name" -- grep -q '^origin GET /tp$' <<<"$out"
out=$(tc --cacert "$work/ca.crt" --resolve deny.test:8443:10.199.0.2 https://deny.test:8443/)
check "TLS to a denied name: alert" -- grep -qi 'alert access denied' <<<"$out"
out=$(tc --cacert "$work/ca.crt" --resolve origin.test:8443:10.199.0.3 https://origin.test:8443/spoof)
check "the --resolve spoof lands on the name's address" -- grep -q '^origin GET /spoof$' <<<"$out"
check "... audited with the spoofed original destination (the socket's local address)" -- audit_has \
  '"action":"TRANSPARENT 10.199.0.3:8443","host":"origin.test","result":"success".*"address":"10.199.0.2"'
out=$(tc --resolve origin.test:8080:10.199.0.2 http://origin.test:8080/api/tp)
check "HTTP allowed by Host and path" -- grep -q '^origin GET /api/tp$' <<<"$out"
check "HTTP path not in the rules: 403" -- \
  test "$(tstatus --resolve origin.test:8080:10.199.0.2 http://origin.test:8080/admin)" = 403
out=$(tc --resolve 'v6.test:8080:[fd99::2]' http://v6.test:8080/v6)
check "HTTP over IPv6" -- grep -q '^origin GET /v6$' <<<"$out"
check "... original destination [fd99::2]:8080" -- audit_has '"action":"TRANSPARENT \[fd99::2\]:8080"'
expect "ok outside local=10.199.0.2:5432 *" "raw TCP by an egress.tcp rule" -- tcp 10.199.0.2 5432
expect "ok outside local=[[]fd99::2]:5432 *" "raw TCP over IPv6 by an egress.tcp rule" -- tcp fd99::2 5432
expect "error empty-reply" "raw TCP without a rule: default deny after the peek" -- tcp 10.199.0.3 5432
expect "error empty-reply" "a connection to the listener itself: redirect loop" -- tcp 127.0.0.1 3129
check "... audited redirect-loop" -- audit_has '"action":"TRANSPARENT 127.0.0.1:3129".*"reason":"redirect-loop"'

echo "== the daemon must run in the cage's mode"
kill -TERM "$tproxy_pid"
rc=0
wait "$tproxy_pid" || rc=$?
check "SIGTERM exits 0" -- test "$rc" = 0
start_tproxy --mode redirect
before=$(audit_count '"source":"lens-tproxy".*"phase":"decision"')
out=$(tc --resolve origin.test:8080:10.199.0.2 http://origin.test:8080/api/x)
check "a redirect-mode daemon behind a tproxy cage relays nothing" -- has_lines "$out" --not '^origin GET'
check "... and judges nothing" -- test "$(audit_count '"source":"lens-tproxy".*"phase":"decision"')" = "$before"
finish
