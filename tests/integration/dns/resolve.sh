#!/usr/bin/env bash
# lens-dns with a real upstream (dnsmasq) and real clients (dig): allowed names
# answer with the upstream's records over UDP and TCP with EDNS, denied names
# get NXDOMAIN without reaching the upstream, HTTPS records are answered
# empty, large answers fall back to TCP upstream and are truncated for small
# clients, the policy changes live, a dead upstream gives SERVFAIL.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../netns.sh"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

write_policy '{"network": {"defaultVerdict": "allow", "defaultTransport": "upstream", "egress": {
  "http": [{"match": "asked.wild.test", "verdict": "ask", "transport": "upstream"},
           {"match": "allowed.test", "verdict": "allow", "transport": "upstream"},
           {"match": "*.wild.test", "verdict": "allow", "transport": "upstream"},
           {"match": "big.test", "verdict": "allow", "transport": "upstream"}],
  "tcp": [{"match": "db.test:5432", "verdict": "allow"}]}}}'
start_upstream

echo "== --check"
check "--check with a valid policy exits 0 and names the upstream" -- \
  bash -c "'$dns' --check --upstream 10.199.0.2 --policy '$work/policy.json' | grep -q '^upstream:  10.199.0.2:53'"
echo '{"network": {"defaultVerdict": "sometimes"}}' >"$work/bad.json"
rc=0
"$dns" --check --upstream 10.199.0.2 --policy "$work/bad.json" >/dev/null 2>"$work/check.err" || rc=$?
check "--check with an invalid policy exits 3 with located errors" -- \
  bash -c "[[ $rc -eq 3 ]] && grep -q 'bad.json:1:' '$work/check.err'"
rc=0
"$dns" --upstream 10.199.0.2:99999 --policy "$work/policy.json" 2>"$work/usage.err" || rc=$?
check "a malformed upstream exits 2 with one line" -- \
  bash -c "[[ $rc -eq 2 ]] && [[ \$(wc -l <'$work/usage.err') -eq 1 ]] && grep -q 'bad port' '$work/usage.err'"

start_dns --bootstrap-host Control.Test
main_pid=$dns_pid

echo "== allowed names"
check "A over UDP" -- test "$(q +short allowed.test)" = 192.0.2.10
check "AAAA over UDP" -- test "$(q +short allowed.test AAAA)" = 2001:db8::10
check "A over TCP" -- test "$(q +tcp +short allowed.test)" = 192.0.2.10
check "a subdomain of a *.wild.test rule" -- test "$(q +short a.b.wild.test)" = 192.0.2.30
check "a tcp hostname rule lets the name resolve" -- test "$(q +short db.test)" = 10.199.0.3
check "mixed case is the same name" -- test "$(q +short AlLoWeD.TeSt)" = 192.0.2.10
check "a name under ask resolves (the question is asked when the connection is made)" -- \
  test "$(q +short asked.wild.test)" = 192.0.2.30
out=$(q +edns=0 +bufsize=1232 allowed.test)
check "EDNS: the OPT record is echoed" -- grep -q "EDNS: version: 0" <<<"$out"
check "the default verdict is not consulted (allow here): unmatched name is NXDOMAIN" -- \
  grep -q "status: NXDOMAIN" <<<"$(q other.test)"

check "a --bootstrap-host resolves without a rule" -- test "$(q +short control.test)" = 10.199.0.9

echo "== denied names never reach the upstream"
out=$(q denied.test)
check "denied.test is NXDOMAIN" -- grep -q "status: NXDOMAIN" <<<"$out"
check "denied.test over TCP is NXDOMAIN" -- grep -q "status: NXDOMAIN" <<<"$(q +tcp denied.test)"
# The log records what the upstream got (an empty one would prove nothing).
check "the upstream's log has the allowed query" -- upstream_saw allowed.test A
check "the upstream never saw denied.test" -- bash -c "! grep -q 'denied.test' '$work/upstream.log'"
check "wild.test itself is not covered by *.wild.test? (apex is covered)" -- test "$(q +short wild.test)" = 192.0.2.30
check "an audit event says dns-denied" -- grep -q '"action":"DNS denied.test".*"result":"failure".*"reason":"dns-denied"' "$work/audit.log"
check "an audit event records the allowed name and rule" -- \
  grep -q '"action":"DNS allowed.test".*"result":"success".*"rule":"allowed.test"' "$work/audit.log"

echo "== HTTPS/SVCB, ANY"
out=$(q allowed.test HTTPS)
check "HTTPS is answered NOERROR with no records" -- grep -q "status: NOERROR.*" <<<"$out"
check "... and ANSWER: 0" -- grep -q "ANSWER: 0," <<<"$out"
check "the upstream's log has the allowed AAAA query" -- upstream_saw allowed.test AAAA
check "the upstream never saw the HTTPS query" -- bash -c "! grep -q 'query\[type=65\]' '$work/upstream.log'"
check "ANY is answered with RFC 8482 HINFO" -- grep -q 'HINFO.*"RFC8482"' <<<"$(q allowed.test ANY)"

echo "== --allow-https-rr, --no-aaaa and --upstream-window 1 (a second instance)"
start_dns --port 5356 --allow-https-rr --no-aaaa --upstream-window 1
q2() { in_sbx dig @127.0.0.1 -p 5356 +time=5 +tries=1 "$@"; }
check "--allow-https-rr forwards HTTPS (the upstream's record comes back)" -- \
  grep -q "ANSWER: 1," <<<"$(q2 allowed.test HTTPS)"
out=$(q2 allowed.test AAAA)
check "--no-aaaa answers AAAA with NOERROR and no records" -- \
  has_lines "$out" 'status: NOERROR' 'ANSWER: 0,'
# 30 queries for 30 names (nothing cached) while the upstream is stopped: the
# first goes upstream, the other 29 wait their turn in the queue, and once the
# upstream runs again all 30 are answered.
kill -STOP "$upstream_pid"
in_sbx "$python" -c '
import socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(8)
for i in range(30):
    name = (b"q%d" % i, b"wild", b"test")
    question = b"".join(bytes([len(l)]) + l for l in name) + b"\0\0\1\0\1"
    s.sendto(struct.pack(">HHHHHH", 1000 + i, 0x0100, 1, 0, 0, 0) + question, ("127.0.0.1", 5356))
ok = set()
try:
    while len(ok) < 30:
        data = s.recv(512)
        if data[3] & 0xF == 0 and struct.unpack(">H", data[6:8])[0] == 1:
            ok.add(struct.unpack(">H", data[:2])[0])
except socket.timeout:
    pass
print(len(ok))' >"$work/window.out" &
window_pid=$!
sleep 0.3
kill -USR1 "$dns_pid"
queued() { grep -Eq '"upstream_queued":29[,}]' "$work/dns.err"; }
check "... 29 of 30 queries at once wait for a window of 1" -- wait_for 5 queued
kill -CONT "$upstream_pid"
wait "$window_pid" || true
answers=$(cat "$work/window.out")
check "... and all 30 are answered once the upstream runs ($answers)" -- test "$answers" -eq 30
kill -TERM "$dns_pid"
wait "$dns_pid" || true
dns_pid=$main_pid

echo "== large answers"
n=$(q +bufsize=4096 +short big.test TXT | wc -l)
check "40 TXT records over UDP with EDNS 4096 (upstream fell back to TCP)" -- test "$n" -eq 40
check "the upstream was asked over TCP" -- grep -q "query\[TXT\] big.test from 10.199.0.1" "$work/upstream.log"
out=$(q +noedns +ignore big.test TXT)
check "a client without EDNS gets TC" -- grep -Eq "^;; flags: qr[a-z ]* tc[ ;]" <<<"$out"
n=$(q +noedns +short big.test TXT | wc -l)
check "dig retries over TCP after TC and gets all 40" -- test "$n" -eq 40

echo "== malformed input"
in_sbx "$python" -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(0.5)
for junk in (b"\x00", b"\x12\x34\x01\x00\x00\x02" + b"\x00" * 6, b"\xff" * 40):
    s.sendto(junk, ("127.0.0.1", 5355))
    try:
        s.recv(512); print("answered")
    except socket.timeout:
        pass
' >"$work/junk"
check "malformed datagrams get no answer" -- test ! -s "$work/junk"
check "the server still answers afterwards" -- test "$(q +short allowed.test)" = 192.0.2.10

echo "== the policy changes without a restart"
write_policy '{"network": {"defaultVerdict": "deny", "defaultTransport": "upstream", "egress": {
  "http": [{"match": "denied.test", "verdict": "allow", "transport": "upstream"}]}}}'
ok=0
for _ in $(seq 1 40); do
  [[ $(q +short denied.test) == 192.0.2.66 ]] && { ok=1; break; }
  sleep 0.1
done
check "denied.test resolves after the policy allowed it" -- test $ok -eq 1
check "allowed.test is now NXDOMAIN (served from cache before: decisions are per query)" -- \
  grep -q "status: NXDOMAIN" <<<"$(q allowed.test)"

echo "== a dead upstream gives SERVFAIL, the cache still answers"
write_policy '{"network": {"defaultVerdict": "deny", "defaultTransport": "upstream", "egress": {
  "http": [{"match": "*.test", "verdict": "allow", "transport": "upstream"}]}}}'
sleep 0.5
q +short allowed.test >/dev/null
stop_upstream
start=$SECONDS
out=$(q fresh.wild.test)
check "an uncached name is SERVFAIL" -- grep -q "status: SERVFAIL" <<<"$out"
check "... quickly (no client timeout)" -- test $((SECONDS - start)) -le 4
check "a cached name still answers" -- test "$(q +short allowed.test)" = 192.0.2.10

echo "== queries queued for the window of a dead upstream do not wait their turn to fail"
main_pid=$dns_pid
start_dns --port 5357 --upstream-window 1 --upstream-timeout 300 --upstream-tries 1
answers=$(in_sbx "$python" -c '
import socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
for i in range(8):
    question = b"".join(bytes([len(l)]) + l for l in (b"q%d" % i, b"wild", b"test")) + b"\0\0\1\0\1"
    s.sendto(struct.pack(">HHHHHH", 2000 + i, 0x0100, 1, 0, 0, 0) + question, ("127.0.0.1", 5357))
servfail = 0
try:
    while servfail < 8:
        if s.recv(512)[3] & 0xF == 2:
            servfail += 1
except socket.timeout:
    pass
print(servfail)')
check "8 queries at once to a dead upstream through a window of 1: all SERVFAIL ($answers)" -- test "$answers" -eq 8
kill -USR1 "$dns_pid"
sleep 0.3
check "... those that waited longer than a try were answered from the queue" -- \
  grep -Eq '"queued_expired":[1-9]' "$work/dns.err"
kill -TERM "$dns_pid"
wait "$dns_pid" || true
dns_pid=$main_pid

echo "== statistics"
kill -USR1 "$dns_pid"
sleep 0.3
check "SIGUSR1 prints the counters as JSON" -- grep -q '^{"queries":[0-9]*,"allowed":[0-9]*,"denied":[0-9]*,.*"dropped_malformed":3,' "$work/dns.err"
kill -TERM "$dns_pid"
wait "$dns_pid" && rc=0 || rc=$?
check "SIGTERM stops lens-dns with status 0" -- test "$rc" -eq 0
check "... printing the counters" -- grep -q '^{"queries":' <(tail -1 "$work/dns.err")
finish
