#!/usr/bin/env bash
# Approvals (DESIGN.md 5b) end to end: lens-proxy asks the broker in
# lens-policy-sync, which asks the control-plane fixture; real curl and
# python requests clients wait while the fixture answers.
#   allow, deny, timeout, coalescing (three concurrent clients, one prompt),
#   --max-pending, allow_always remembered, the control plane gone while
#   waiting, a policy change while waiting, lens-proxy restarted while the
#   broker holds a prompt, lens-policy-sync restarted while a client waits,
#   a CONNECT tunnel asked (raw), the credential gate (allow with and
#   without the arming policy, deny), the local approver program
#   (--approve-with), and no stall: other clients keep being served while
#   one waits (counted as completed requests).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../netns.sh"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
source "$source_dir/tests/integration/policy_sync/find_python.sh"
[[ -n $py ]] || skip "needs python3 with the websockets module (Debian: python3-websockets)"
sync_bin=$bin_dir/lens-policy-sync
[[ -x $sync_bin ]] || skip "lens-policy-sync is not built"
fixture=$source_dir/tests/integration/policy_sync/control_plane.py

make_certs
start_dns_upstream
serve_py "$outside" origin4 origin --listen 10.199.0.2:8080 --log "$work/plain.log"
serve_py "$outside" origins origin --listen 10.199.0.2:8443 --tls "$work/origin.crt" "$work/origin.key" \
  --log "$work/origin.log"
serve_py "$outside" inner origin --listen 10.199.0.2:9443 --tls "$work/origin.crt" "$work/origin.key" \
  --log "$work/inner.log"
mkdir -p "$work/state" "$work/sync"
"$proxy" ca init --state-dir "$work/state" >/dev/null
lens_ca=$work/state/ca/ca.crt

# policy [EXTRA_HTTP_RULE [INJECTION_DOMAIN]]: origin.test allowed,
# everything else asked; the credential gh injected for INJECTION_DOMAIN
# (default nowhere.test: its placeholder is refused by the guard elsewhere).
policy() {
  write_policy '{"network": {"defaultVerdict": "ask", "defaultTransport": "direct", "egress": {"http": [
  '"${1:+$1,}"'
  {"match": "origin.test:8080", "verdict": "allow", "transport": "direct"},
  {"match": "origin.test:9443", "verdict": "ask", "transport": "direct", "rules": [{"method": "GET", "path": "/**"}]},
  {"match": "origin.test:8443", "verdict": "allow", "transport": "direct", "rules": [{"method": "GET", "path": "/**"}]}]}},
 "credentials": [{"id": "gh", "envVar": "GH_TOKEN", "placeholder": "__lens_cred:gh__", "injections": [
    {"injectionType": "header", "domain": "'"${2:-nowhere.test}"'", "header": "Authorization", "value": "Bearer REAL-GH-SECRET"}]}]}'
}
policy

cp_dir=$work/cp
mkdir -p "$cp_dir"
nsenter --net="/run/netns/$sbx" "$py" "$fixture" serve --dir "$cp_dir" >"$cp_dir/log" 2>&1 &
pids+=($!)
wait_for 10 test -s "$cp_dir/port" || { cat "$cp_dir/log" >&2; exit 1; }
ctl() { "$py" "$fixture" ctl "$cp_dir" "$1"; }
field() { ctl "$1" | "$py" -c "import json,sys; d=json.load(sys.stdin); print(eval('d' + sys.argv[1]))" "$2"; }

# start_sync ARGS...: lens-policy-sync in the sandbox with its broker on
# $work/sync/approval.sock; sets sync_pid.
start_sync() {
  # (nsenter itself in the background, not a function: $! is the daemon)
  nsenter --net="/run/netns/$sbx" env LENS_TOKEN=t "$sync_bin" --state-dir "$work/sync" --policy "$work/sync/policy.json" "$@" \
    >>"$work/sync.out" 2>>"$work/sync.err" &
  sync_pid=$!
  pids+=("$sync_pid")
  wait_for 10 test -S "$work/sync/approval.sock" || { cat "$work/sync.err" >&2; exit 1; }
}
stop_sync() {
  kill -TERM "$sync_pid" 2>/dev/null || true
  wait "$sync_pid" 2>/dev/null || true
}
connected() { [[ $(field '{"cmd":"wait_clients","count":1,"timeout":10}' "['ok']") == True ]]; }
start_sync --url "ws://127.0.0.1:$(cat "$cp_dir/port")/" --approval-timeout 4 --max-pending 3
connected || { echo "FAIL: lens-policy-sync did not connect" >&2; exit 1; }
start_proxy --approval-socket "$work/sync/approval.sock" --drain-timeout 1 --origin-ca "$work/ca.crt"

# get TAG [CURL ARGS]: a forward request for http://other.test:8080/TAG in
# the background; its "CODE REASON" goes to $work/TAG.out.
get() {
  local tag=$1
  shift
  (in_sbx curl -s -o /dev/null -D "$work/$tag.head" --max-time 20 --proxy http://127.0.0.1:3128 \
    -w '%{http_code}' "$@" "http://other.test:8080/$tag" >"$work/$tag.code" 2>/dev/null || true
  printf '%s %s\n' "$(cat "$work/$tag.code")" \
    "$(grep -i '^X-Lens-Reason:' "$work/$tag.head" 2>/dev/null | tr -d '\r' | cut -d' ' -f2 || true)" \
    >"$work/$tag.out") &
}
# result TAG: what the request TAG got, once it ended (waits up to 20 s).
result() {
  wait_for 20 test -s "$work/$1.out" || true
  cat "$work/$1.out" 2>/dev/null | tr -d '\n'
}
# answer MATCH DECISION: the fixture answers the prompt whose action has MATCH.
answer() { ctl '{"cmd":"answer","match":"'"$1"'","decision":"'"$2"'","timeout":10}'; }
prompts() { field '{"cmd":"status"}' "['by_type'].get('request_pending', 0)"; }
# (for wait_for, which runs its command again each time)
# has_prompt MATCH: the fixture holds an unanswered prompt whose action has MATCH.
has_prompt() { ctl '{"cmd":"pending"}' | grep -q -- "$1"; }
# open_prompts_at_least N
open_prompts_at_least() {
  (($(ctl '{"cmd":"pending"}' | "$py" -c 'import json,sys; print(len(json.load(sys.stdin)["prompts"]))') >= $1))
}
# proxy_clients_at_least N: lens-proxy holds N client connections.
proxy_clients_at_least() { (($(in_sbx ss -Htn state established '( sport = :3128 )' | wc -l) >= $1)); }
# sync_connected: lens-policy-sync is connected to the fixture.
sync_connected() { (($(field '{"cmd":"status"}' "['clients']") >= 1)); }
event_reason() {
  "$python" - "$work/audit.log" "$1" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("action") == sys.argv[2] and e["metadata"].get("phase") == "decision":
        m = e["metadata"]
        print(m.get("reason"), "approval_id" in m, e.get("status_code", "-"))
PY
}

echo "== allow once"
get allow
frame=$(answer /allow allow_once)
check "the proxy's ask reached the control plane as request_pending with the caller" -- \
  "$py" -c 'import json,sys; f=json.loads(sys.argv[1])["frame"]
assert f["type"] == "request_pending" and len(f["id"]) == 32, f
assert f["host"] == "other.test" and f["action"] == "GET http://other.test:8080/allow", f
assert f["reason"] == "policy-ask" and f["treatment"] == "inspected", f
assert f["actor"]["process"]["name"] == "curl" and f["actor"]["process"]["pid"] > 0, f' "$frame"
check "the approved request went through (200)" -- test "$(result allow)" = "200 "
check "its event says user-allowed-once, with the prompt's id" -- \
  test "$(event_reason 'GET http://other.test:8080/allow')" = "user-allowed-once True 200"

echo "== deny once"
get deny
answer /deny deny_once >/dev/null
check "the refused request got 403 user-denied-once" -- test "$(result deny)" = "403 user-denied-once"
check "and never reached the origin" -- bash -c "! grep -q 'GET /deny' '$work/plain.log'"

echo "== three concurrent clients, one prompt"
before=$(prompts)
for i in 1 2 3; do
  (in_sbx curl -s -o /dev/null --max-time 20 --proxy http://127.0.0.1:3128 -w '%{http_code}' \
    http://other.test:8080/same >"$work/same.$i" 2>/dev/null || true) &
done
# The three are waiting once the proxy holds their connections.
wait_for 5 proxy_clients_at_least 3 || true
sleep 0.3
answer /same allow_once >/dev/null
wait_for 20 test -s "$work/same.3" -a -s "$work/same.2" -a -s "$work/same.1" || true
check "the three clients got 200 ($(cat "$work"/same.[123] | tr '\n' ' '))" -- \
  test "$(cat "$work"/same.[123])" = "200200200"
check "from one prompt ($(($(prompts) - before)) sent)" -- test $(($(prompts) - before)) -eq 1

echo "== nobody answers: decision-timeout (lens-policy-sync --approval-timeout 4)"
get late
check "the request got 403 decision-timeout" -- test "$(result late)" = "403 decision-timeout"
ctl '{"cmd":"clear_pending"}' >/dev/null

echo "== at most --max-pending prompts, and no stall while they wait"
get p1
get p2
get p3
wait_for 10 open_prompts_at_least 3 || true
get p4
check "a fourth prompt is refused at once: 403 no-approver" -- test "$(result p4)" = "403 no-approver"
done_count=$(in_sbx curl -s -o /dev/null --max-time 20 --proxy http://127.0.0.1:3128 -w '%{http_code}\n' \
  "http://origin.test:8080/flow/[1-200]" 2>/dev/null | grep -c '^200$' || true)
check "200 other requests completed while three clients waited ($done_count)" -- test "$done_count" -eq 200
for p in p1 p2 p3; do answer "/$p" deny_once >/dev/null; done
check "the waiting ones got their answers" -- \
  test "$(result p1)/$(result p2)/$(result p3)" = "403 user-denied-once/403 user-denied-once/403 user-denied-once"

echo "== allow always is remembered"
get always1 -H 'X-Try: 1'
answer /always1 allow_always >/dev/null
check "the first request went through" -- test "$(result always1)" = "200 "
before=$(prompts)
mv "$work/always1.out" "$work/always1.first"
get always1
check "the same action again: through without a prompt" -- test "$(result always1)" = "200 "
check "(no new prompt)" -- test "$(prompts)" -eq "$before"
check "its event says user-allowed-persisted" -- \
  bash -c "grep -c 'user-allowed-persisted' '$work/audit.log' | grep -qx 2"

echo "== a CONNECT tunnel is asked about as raw"
(in_sbx curl -sk -o /dev/null --max-time 20 --proxy http://127.0.0.1:3128 -w '%{http_connect} %{http_code}' \
  https://other.test:8443/tunnel >"$work/tunnel.out" 2>/dev/null || true) &
frame=$(answer 'CONNECT other.test:8443' allow_once)
check "request_pending for the CONNECT, treatment raw" -- \
  "$py" -c 'import json,sys; f=json.loads(sys.argv[1])["frame"]; assert f["treatment"] == "raw" and f["host"] == "other.test", f' "$frame"
wait_for 20 test -s "$work/tunnel.out" || true
check "the tunnel was opened (CONNECT 200, then the origin's 200)" -- test "$(cat "$work/tunnel.out")" = "200 200"

echo "== inside an intercepted connection each request is asked about"
(in_sbx env PROXY=http://127.0.0.1:3128 REQUESTS_CA_BUNDLE="$lens_ca" "$python" -c "
import requests
s = requests.Session()
s.proxies = {'https': 'http://127.0.0.1:3128'}
for path in ('/inner/one', '/inner/two'):
    r = s.get('https://origin.test:9443' + path, timeout=20)
    print(r.status_code, r.headers.get('X-Lens-Reason', ''))" >"$work/inner.out" 2>&1 || true) &
frame=$(answer 'GET https://origin.test:9443/inner/one' allow_once)
check "the first request inside is prompted, treatment inspected (the CONNECT is not)" -- \
  "$py" -c 'import json,sys; f=json.loads(sys.argv[1])["frame"]; assert f["treatment"] == "inspected", f' "$frame"
answer 'GET https://origin.test:9443/inner/two' deny_once >/dev/null
two_lines() { (($(wc -l <"$work/inner.out" 2>/dev/null || echo 0) >= 2)); }
wait_for 20 two_lines || true
check "allowed, then refused on the same connection ($(tr '\n' ' ' <"$work/inner.out"))" -- \
  test "$(tr '\n' '/' <"$work/inner.out")" = "200 /403 user-denied-once/"
check "no prompt for the CONNECT itself" -- bash -c "! grep -q 'CONNECT origin.test:9443' '$cp_dir/received.jsonl'"

echo "== the control plane goes away while a client waits"
get gone
wait_for 10 has_prompt /gone || true
ctl '{"cmd":"drop"}' >/dev/null
check "the waiting client got 403 no-approver at once" -- test "$(result gone)" = "403 no-approver"
ctl '{"cmd":"clear_pending"}' >/dev/null
wait_for 15 sync_connected || true

echo "== a policy change while a client waits: judged again first"
get change
wait_for 10 has_prompt /change || true
policy '{"match": "other.test:8080", "verdict": "allow", "transport": "direct"}'
kill -HUP "$proxy_pid"
check "the new policy allows it: 200 without an answer" -- test "$(result change)" = "200 "
check "its event says policy-allow" -- \
  test "$(event_reason 'GET http://other.test:8080/change')" = "policy-allow False 200"
policy
kill -HUP "$proxy_pid"
sleep 0.5

echo "== lens-proxy restarted while the broker holds a prompt"
get restart
wait_for 10 has_prompt /restart || true
stop_proxy
r=$(result restart)
check "the client waiting in the old lens-proxy was closed (${r:-nothing})" -- test "${r%% *}" != 200
start_proxy --approval-socket "$work/sync/approval.sock" --drain-timeout 1 --origin-ca "$work/ca.crt"
unmatched=$(grep -c 'answers nothing' "$work/sync.err" || true)
answer /restart allow_once >/dev/null || true
more_unmatched() { (($(grep -c 'answers nothing' "$work/sync.err") > unmatched)); }
wait_for 5 more_unmatched || true
check "the late answer to the withdrawn prompt answers nothing (logged)" -- \
  test "$(grep -c 'answers nothing' "$work/sync.err")" -gt "$unmatched"
rm -f "$work/restart.out"
get restart
answer /restart allow_once >/dev/null
check "the new lens-proxy asks again and is answered" -- test "$(result restart)" = "200 "

echo "== lens-policy-sync restarted while a client waits"
get broker
wait_for 10 has_prompt /broker || true
stop_sync
check "the waiting client got 403 no-approver when the broker went" -- test "$(result broker)" = "403 no-approver"
ctl '{"cmd":"clear_pending"}' >/dev/null
start_sync --url "ws://127.0.0.1:$(cat "$cp_dir/port")/" --approval-timeout 4 --max-pending 3
wait_for 15 sync_connected || true
rm -f "$work/broker.out"
get broker
answer /broker allow_once >/dev/null
check "lens-proxy reaches the new broker" -- test "$(result broker)" = "200 "

echo "== the credential gate"
# client ARGS: python requests through the proxy trusting the lens CA, a
# GET of https://origin.test:8443/gate/TAG with the placeholder; prints "CODE REASON".
gate() {
  (in_sbx env PROXY=http://127.0.0.1:3128 REQUESTS_CA_BUNDLE="$lens_ca" "$python" -c "
import requests, sys
r = requests.get('https://origin.test:8443/gate/$1', timeout=20, proxies={'https': 'http://127.0.0.1:3128'},
                 headers={'Authorization': 'Bearer __lens_cred:gh__'})
print(r.status_code, r.headers.get('X-Lens-Reason', ''))" >"$work/gate-$1.out" 2>&1 || true) &
}
gate_result() {
  wait_for 25 test -s "$work/gate-$1.out" || true
  tr -d '\n' <"$work/gate-$1.out"
}
gate denied
frame=$(ctl '{"cmd":"answer","match":"/gate/denied","decision":"deny","timeout":10}')
check "credential_pending names the credential" -- \
  "$py" -c 'import json,sys; f=json.loads(sys.argv[1])["frame"]
assert f["type"] == "credential_pending" and f["credentialId"] == "gh" and f["reason"] == "placeholder-unauthorized", f' "$frame"
check "deny: 403 user-denied" -- test "$(gate_result denied)" = "403 user-denied"
check "its event says credential_gate_denied" -- \
  bash -c "grep '/gate/denied' '$work/audit.log' | grep -q '\"credential_gate_denied\":true'"
gate unarmed
ctl '{"cmd":"answer","match":"/gate/unarmed","decision":"allow","timeout":10}' >/dev/null
check "allow without a policy arming it: 403 policy-frame-missing" -- \
  test "$(gate_result unarmed)" = "403 policy-frame-missing"
gate armed
wait_for 10 has_prompt /gate/armed || true
# The control plane arms the credential for the host (a policy frame
# before its answer): the waiting request is judged again with it first,
# and the placeholder now has its injection.
policy '' origin.test
kill -HUP "$proxy_pid"
check "once armed, the waiting request goes through: 200" -- test "$(gate_result armed)" = "200 "
ctl '{"cmd":"answer","match":"/gate/armed","decision":"allow","timeout":10}' >/dev/null
check "the origin got the injected secret, never the placeholder" -- \
  bash -c "grep -q 'GET /gate/armed' '$work/origin.log' && ! grep -q '__lens_cred' '$work/origin.log'"
check "no secret in the audit log" -- bash -c "! grep -q REAL-GH-SECRET '$work/audit.log'"
policy
kill -HUP "$proxy_pid"

echo "== a local approver program (--policy-file mode, --approve-with)"
stop_sync
cat >"$work/approve.sh" <<'SH'
#!/bin/sh
case $(cat) in
  *'"action":"GET http://other.test:8080/yes"'*) echo allow_once ;;
  *) echo deny_once ;;
esac
SH
chmod +x "$work/approve.sh"
printf '{"network": {"defaultVerdict": "deny", "defaultTransport": "direct"}}\n' >"$work/standalone.json"
start_sync --policy-file "$work/standalone.json" --approve-with "$work/approve.sh"
get yes
get no
check "the program allowed /yes (200) and refused /no (403 user-denied-once)" -- \
  test "$(result yes)/$(result no)" = "200 /403 user-denied-once"
stop_sync

echo "== no broker at all: no-approver"
rm -f "$work/no.out"
get no
check "without lens-policy-sync an ask is refused at once: 403 no-approver" -- \
  test "$(result no)" = "403 no-approver"
check "every approval outcome was audited (none rate-limited)" -- \
  test "$(grep -c '"reason":"no-approver"' "$work/audit.log")" -ge 4
stop_proxy
finish
