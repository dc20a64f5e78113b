#!/usr/bin/env bash
# lens-tproxy behind the real cage in REDIRECT mode, with real clients that
# use no proxy settings: TLS by SNI (allowed, denied, the --resolve spoof
# lands on the name's address), plain HTTP by Host (allowed, 403, path
# rules, keep-alive), raw TCP by egress.tcp rules and by the peek timeout
# (a server that speaks first), IPv6, fail closed before a policy, the
# redirect loop, a policy change closing a tunnel, audit events, SIGTERM;
# approvals behind the cage (lens-policy-sync --approve-with answers for a
# raw stream and a TLS tunnel under ask).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../netns.sh"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

start_tproxy_world
in_sbx "$lockdown" apply

echo "== before any policy: every connection is refused"
rm -f "$work/policy.json"
nsenter --net="/run/netns/$sbx" "$tproxy" --resolver 10.199.0.2 --policy "$work/policy.json" \
  --audit "$work/audit.log" 2>>"$work/tproxy.err" &
tproxy_pid=$!
pids+=("$tproxy_pid")
for ((i = 0; i < 100; i++)); do
  grep -q 'no valid policy' "$work/tproxy.err" 2>/dev/null && break
  sleep 0.05
done
sleep 0.2
out=$(tc -i --resolve origin.test:8080:10.199.0.2 http://origin.test:8080/api/x)
check "plain HTTP before the first policy: 503 no-policy" -- \
  has_lines "$out" '^HTTP/1.1 503' '^X-Lens-Reason: no-policy'
out=$(tc --cacert "$work/ca.crt" --resolve origin.test:8443:10.199.0.2 https://origin.test:8443/)
check "TLS before the first policy: refused with a TLS alert" -- grep -q 'alert' <<<"$out"
expect "error empty-reply" "raw TCP before the first policy: closed" -- tcp 10.199.0.2 5432

applied=$(applied_count)
write_policy '{"network": {"defaultVerdict": "deny", "defaultTransport": "direct", "egress": {
  "http": [
    {"match": "origin.test:8443", "verdict": "allow", "transport": "direct"},
    {"match": "origin.test", "verdict": "allow", "transport": "direct", "scheme": "http",
     "rules": [{"method": "GET", "path": "/api/**"}, {"method": "POST", "path": "/upload"}]},
    {"match": "other.test", "verdict": "allow", "transport": "direct"},
    {"match": "v6.test", "verdict": "allow", "transport": "direct"},
    {"match": "inspect.test", "verdict": "allow", "transport": "direct", "rules": [{"method": "GET", "path": "/only"}]}],
  "tcp": [
    {"match": "10.199.0.2:5432", "verdict": "allow"},
    {"match": "10.199.0.2:7000", "verdict": "allow"},
    {"match": "[fd99::2]:5432", "verdict": "allow"},
    {"match": "10.199.0.3:5432", "verdict": "deny"}]}}}'
wait_applied "$applied"
check "the ready line names both listeners and the mode" -- \
  grep -q 'lens-tproxy: ready: listening on 127.0.0.1:3129, \[::1\]:3129 (redirect)' "$work/tproxy.err"

echo "== TLS: the door is the SNI"
out=$(tc --cacert "$work/ca.crt" --resolve origin.test:8443:10.199.0.2 https://origin.test:8443/hello)
check "curl reaches an allowed HTTPS name with no proxy settings" -- grep -q '^origin GET /hello$' <<<"$out"
out=$(in_sbx env HTTPS_PROXY= https_proxy= "$python" -c '
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
s = ctx.wrap_socket(socket.create_connection(("10.199.0.2", 8443), timeout=10), server_hostname="origin.test")
s.sendall(b"GET /py HTTP/1.1\r\nHost: origin.test:8443\r\nConnection: close\r\n\r\n")
data = b""
while True:
    d = s.recv(65536)
    if not d:
        break
    data += d
print(data.decode().split("\r\n\r\n", 1)[1].splitlines()[0])
' "$work/ca.crt" 2>&1 || true)
check "python ssl reaches it too" -- grep -q "^origin GET /py$" <<<"$out"
out=$(tc --cacert "$work/ca.crt" --resolve deny.test:8443:10.199.0.2 https://deny.test:8443/)
check "a denied SNI is refused with a TLS alert (access denied)" -- grep -qi 'alert access denied' <<<"$out"
check "... and audited: TRANSPARENT ip:port, host = SNI, policy-deny, door transparent-tls" -- audit_has \
  '"source":"lens-tproxy","action":"TRANSPARENT 10.199.0.2:8443","host":"deny.test","result":"failure","status_code":403,"metadata":\{"phase":"decision","reason":"policy-deny","door":"transparent-tls"'
out=$(tc --cacert "$work/ca.crt" --resolve origin.test:443:10.199.0.2 https://origin.test/)
check "the port is part of the decision (origin.test:443 has no rule)" -- grep -qi 'alert access denied' <<<"$out"
out=$(tc --cacert "$work/ca.crt" --resolve inspect.test:8443:10.199.0.2 https://inspect.test:8443/only)
check "a name whose rule needs interception is refused without a CA (ca-unavailable)" -- \
  bash -c 'grep -qi alert <<<"$1" && grep -q "\"host\":\"inspect.test\".*\"reason\":\"ca-unavailable\"" "$2"' _ "$out" "$work/audit.log"

echo "== the --resolve spoof: the name's address is dialled, not the client's"
# 10.199.0.3:8443 is a netprobe server: if it were dialled, TLS would fail.
out=$(tc --cacert "$work/ca.crt" --resolve origin.test:8443:10.199.0.3 https://origin.test:8443/spoof)
check "curl --resolve origin.test:8443:10.199.0.3 lands on origin.test's own address" -- grep -q '^origin GET /spoof$' <<<"$out"
check "... the event names the spoofed destination and the dialled address" -- audit_has \
  '"action":"TRANSPARENT 10.199.0.3:8443","host":"origin.test","result":"success".*"address":"10.199.0.2"'
out=$(tc -H 'Host: origin.test:8080' http://10.199.0.3:8080/api/spoof)
check "HTTP with Host: origin.test to another address reaches origin.test" -- grep -q '^origin GET /api/spoof$' <<<"$out"

echo "== plain HTTP: the door is the Host header"
out=$(tc --resolve origin.test:8080:10.199.0.2 http://origin.test:8080/api/v1/items?id=7)
check "GET /api/** is allowed" -- grep -q '^origin GET /api/v1/items?id=7$' <<<"$out"
check "the origin got Host: origin.test:8080" -- grep -q '^host=origin.test:8080$' <<<"$out"
out=$(tc -i --resolve origin.test:8080:10.199.0.2 http://origin.test:8080/admin)
check "GET /admin is not in the rules: 403 http-rule-denied with a short body" -- \
  has_lines "$out" '^HTTP/1.1 403' '^X-Lens-Reason: http-rule-denied' '^lens-tproxy: origin.test: refused by policy (http-rule-denied)'
check "a host without a rule: 403 policy-deny" -- \
  test "$(tstatus --resolve deny.test:8080:10.199.0.2 http://deny.test:8080/)" = 403
out=$(tc -d 'hello world' --resolve origin.test:8080:10.199.0.2 http://origin.test:8080/upload)
check "POST /upload with a body is allowed and the body arrives" -- grep -q '^body-bytes=11$' <<<"$out"
out=$(in_sbx curl -sS --noproxy '*' --max-time 10 -w '[%{http_code}]\n' --resolve origin.test:8080:10.199.0.2 \
  http://origin.test:8080/api/1 http://origin.test:8080/api/2 http://origin.test:8080/secret 2>&1 || true)
check "keep-alive: two requests share one origin connection" -- grep -q '^conn-requests=2$' <<<"$out"
check "keep-alive: the third request on the connection is judged and refused" -- grep -q '\[403\]' <<<"$out"
check "an HTTP decision event: action, method, host, path, door" -- audit_has \
  '"action":"TRANSPARENT 10.199.0.2:8080","method":"GET","host":"origin.test","path":"/api/v1/items","result":"success","status_code":200,"metadata":\{"phase":"decision","reason":"policy-allow","door":"transparent-http","rule":"origin.test"'
out=$(in_sbx "$python" -c '
import socket
s = socket.create_connection(("10.199.0.2", 8080), timeout=10)
s.sendall(b"GET /api/x HTTP/1.1\r\n\r\n")
print(s.recv(4096).decode(errors="replace"))' 2>&1 || true)
check "a request without Host: 400 http-no-host" -- grep -q 'X-Lens-Reason: http-no-host' <<<"$out"
out=$(in_sbx "$python" -c '
import socket
s = socket.create_connection(("10.199.0.2", 8080), timeout=10)
s.sendall(b"CONNECT origin.test:8443 HTTP/1.1\r\nHost: origin.test:8443\r\n\r\n")
print(s.recv(4096).decode(errors="replace"))' 2>&1 || true)
check "CONNECT on a redirected connection: 400 http-connect-on-transparent" -- \
  grep -q 'X-Lens-Reason: http-connect-on-transparent' <<<"$out"

echo "== raw TCP: egress.tcp rules, and the peek timeout"
expect "ok outside local=10.199.0.2:5432 *" "an egress.tcp allow rule relays raw (the server speaks first)" -- \
  tcp 10.199.0.2 5432
expect "error empty-reply" "an egress.tcp deny rule closes" -- tcp 10.199.0.3 5432
check "... audited with door raw-tcp and the rule" -- audit_has \
  '"action":"TRANSPARENT 10.199.0.3:5432","result":"failure","status_code":403,"metadata":\{"phase":"decision","reason":"policy-deny","door":"raw-tcp","rule":"10.199.0.3:5432"'
start=$(date +%s%N)
expect "error empty-reply" "a server that speaks first, no rule: raw-tcp after the peek timeout, default deny" -- \
  tcp 10.199.0.3 8080
took=$((($(date +%s%N) - start) / 1000000))
check "... after about the peek timeout (500 ms; took $took ms)" -- test "$took" -ge 400
out=$(in_sbx "$python" -c '
import socket
s = socket.create_connection(("10.199.0.2", 7000), timeout=5)
s.sendall(b"\x00\x01binary ping")
print(s.recv(100))' 2>&1 || true)
check "client-speaks-first binary protocol relayed raw with its first bytes" -- grep -q "binary ping" <<<"$out"

echo "== IPv6"
out=$(tc --resolve 'v6.test:8080:[fd99::2]' http://v6.test:8080/v6)
check "HTTP over IPv6 (redirected to [::1]:3129, IP6T_SO_ORIGINAL_DST)" -- grep -q '^origin GET /v6$' <<<"$out"
check "... the event has the IPv6 original destination" -- audit_has '"action":"TRANSPARENT \[fd99::2\]:8080","method":"GET","host":"v6.test"'
expect "ok outside local=[[]fd99::2]:5432 *" "raw TCP over IPv6 by an egress.tcp rule" -- tcp fd99::2 5432
expect "error empty-reply" "raw TCP over IPv6 without a rule: default deny" -- tcp fd99::3 5432

echo "== the redirect loop"
expect "error empty-reply" "a connection to the listener itself is refused" -- tcp 127.0.0.1 3129
check "... audited redirect-loop" -- audit_has '"action":"TRANSPARENT 127.0.0.1:3129".*"reason":"redirect-loop"'

echo "== a policy change closes a tunnel it no longer allows"
in_sbx "$python" -c '
import socket, sys, time
s = socket.create_connection(("10.199.0.2", 7000), timeout=2)
start = time.time()
open(sys.argv[1], "a").write("established\n")
while time.time() - start < 15:
    try:
        s.sendall(b"ping")
        if s.recv(16) != b"ping":
            raise OSError("eof")
    except OSError:
        open(sys.argv[1], "a").write("closed after %.1f s\n" % (time.time() - start))
        sys.exit(0)
    time.sleep(0.2)
open(sys.argv[1], "a").write("open\n")
' "$work/hold" &
holder=$!
pids+=("$holder")
for ((i = 0; i < 100; i++)); do grep -q established "$work/hold" 2>/dev/null && break; sleep 0.05; done
sleep 0.5
applied=$(applied_count)
write_policy '{"network": {"defaultVerdict": "deny", "defaultTransport": "direct", "egress": {
  "http": [{"match": "origin.test:8443", "verdict": "allow", "transport": "direct"}],
  "tcp": [{"match": "10.199.0.2:5432", "verdict": "allow"}]}}}'
wait_applied "$applied"
wait "$holder" || true
check "the raw tunnel to 10.199.0.2:7000 was closed by the new policy" -- grep -q '^closed after' "$work/hold"
check "... with a close event policy-changed" -- audit_has \
  '"action":"TRANSPARENT 10.199.0.2:7000".*"phase":"close","reason":"policy-changed"'

echo "== an unrecognised protocol under a default allow is asked for (no approver: refused)"
applied=$(applied_count)
write_policy '{"network": {"defaultVerdict": "allow", "defaultTransport": "direct"}}'
wait_applied "$applied"
expect "error empty-reply" "a server-speaks-first connection no tcp rule opens is refused" -- tcp 10.199.0.3 8080
check "... audited as an unknown protocol" -- audit_has '"action":"TRANSPARENT 10.199.0.3:8080".*"decision_reason":"unknown-protocol"'
applied=$(applied_count)
write_policy '{"network": {"defaultVerdict": "deny", "defaultTransport": "direct", "egress": {
  "http": [{"match": "origin.test:8443", "verdict": "allow", "transport": "direct"}],
  "tcp": [{"match": "10.199.0.2:5432", "verdict": "allow"}]}}}'
wait_applied "$applied"

echo "== audit: every decision has the source endpoint"
check "every event of lens-tproxy has src_endpoint" -- \
  bash -c "! grep '\"phase\"' '$work/audit.log' | grep -v '\"src_endpoint\":{\"ip\":\"' | grep -q ."

echo "== --check, usage"
check "--check prints the mode" -- bash -c "'$tproxy' --check --resolver 10.199.0.2 --policy '$work/policy.json' | grep -q '^mode:      redirect'"
rc=0
"$tproxy" --mode bridge --policy "$work/policy.json" 2>/dev/null || rc=$?
check "an unknown --mode exits 2" -- test "$rc" = 2

echo "== SIGTERM"
kill -TERM "$tproxy_pid"
rc=0
wait "$tproxy_pid" || rc=$?
check "SIGTERM exits 0" -- test "$rc" = 0
check "the statistics include the classification" -- grep -q '"classified_tls":[1-9]' "$work/tproxy.err"

echo "== a wildcard listener: only a connection to the listener itself is a loop"
serve "$outside" port3129 --tcp 10.199.0.2:3129
write_policy '{"network": {"defaultVerdict": "deny", "defaultTransport": "direct", "egress": {
  "tcp": [{"match": "10.199.0.2:5432", "verdict": "allow"}, {"match": "10.199.0.2:3129", "verdict": "allow"}]}}}'
start_tproxy --listen 0.0.0.0:3129
expect "ok port3129 local=10.199.0.2:3129 *" "another host's port 3129 is reached" -- tcp 10.199.0.2 3129
expect "error empty-reply" "the listener itself is refused" -- tcp 127.0.0.1 3129
kill -TERM "$tproxy_pid"
wait "$tproxy_pid" || true

echo "== its own dial redirected back (sockets not marked: --mark 0)"
start_tproxy --mark 0
expect "error empty-reply" "an allowed connection whose dial the cage sends back fails" -- tcp 10.199.0.2 5432
check "... audited redirect-loop for the dial that came back" -- \
  audit_has '"action":"TRANSPARENT 10.199.0.2:5432".*"reason":"redirect-loop"'
kill -TERM "$tproxy_pid"
wait "$tproxy_pid" || true
check "... and it did not recurse (2 connections accepted)" -- grep -q '"accepted":2,' <(tail -1 "$work/tproxy.err")
echo "== approvals behind the cage: lens-policy-sync --approve-with answers"
mkdir -p "$work/sync"
cat >"$work/approve.sh" <<'SH'
#!/bin/sh
frame=$(cat)
echo "$frame" >>"${0%/*}/prompts.jsonl"
case $frame in
  *'"action":"TRANSPARENT 10.199.0.3:8080"'* | *'"host":"origin.test"'*) echo allow_once ;;
  *) echo deny_once ;;
esac
SH
chmod +x "$work/approve.sh"
printf '{"network": {"defaultVerdict": "deny", "defaultTransport": "direct"}}\n' >"$work/sync-policy.json"
nsenter --net="/run/netns/$sbx" "$bin_dir/lens-policy-sync" --policy-file "$work/sync-policy.json" \
  --state-dir "$work/sync" --approve-with "$work/approve.sh" >/dev/null 2>>"$work/sync.err" &
pids+=($!)
wait_for 10 test -S "$work/sync/approval.sock" || { cat "$work/sync.err" >&2; exit 1; }
write_policy '{"network": {"defaultVerdict": "ask", "defaultTransport": "direct"}}'
start_tproxy --approval-socket "$work/sync/approval.sock"
expect "ok outside local=10.199.0.3:8080 *" "a raw stream the approver allows is relayed" -- tcp 10.199.0.3 8080
expect "error empty-reply" "a raw stream it refuses is closed" -- tcp 10.199.0.3 5432
check "... audited user-denied-once" -- \
  audit_has '"action":"TRANSPARENT 10.199.0.3:5432".*"reason":"user-denied-once".*"decision_reason":"unknown-protocol"'
out=$(tc --cacert "$work/ca.crt" --resolve origin.test:8443:10.199.0.2 https://origin.test:8443/asked)
check "a TLS connection under ask, allowed by its SNI, goes through" -- grep -q '^origin GET /asked' <<<"$out"
check "the prompts were raw, with the caller" -- "$python" -c '
import json, sys
prompts = [json.loads(l) for l in open(sys.argv[1])]
assert len(prompts) == 3, prompts
assert all(p["type"] == "request_pending" and p["treatment"] == "raw" for p in prompts), prompts
assert {p["actor"]["process"]["name"] for p in prompts} <= {"python3", "curl"}, prompts' "$work/prompts.jsonl"
kill -TERM "$tproxy_pid"
wait "$tproxy_pid" || true

finish
