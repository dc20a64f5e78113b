#!/usr/bin/env bash
# Faults around the daemons, one at a time, each short (run it through
# scripts/soak). After each, the daemon must still be up, serve the next
# client, and have lost no audit event: the events in its --audit file (or,
# through lens-policy-sync, those the control plane received) are counted
# against the requests made, each request with a name or path of its own
# (so no two events are rate-limited into one; suppressed counts would be
# added anyway). A daemon is stopped with SIGTERM before its file is
# counted, and must exit 0.
#
#   1. reset: an origin resets the connection in the middle of the body
#      (forward requests and requests inside CONNECT tunnels).
#   2. dns-flap: the upstream DNS server (dnsmasq) is killed and restarted
#      every second while lens-dns is queried: every query is answered
#      (NOERROR or SERVFAIL), and once the upstream stays up, names resolve.
#   3. sync-kill: lens-policy-sync is killed with SIGKILL while it spools
#      the proxy's audit events (control plane offline), then restarted:
#      every event that was in its spool at the kill reaches the control
#      plane, and so does every event of the requests made before it.
#   4. spool-full: the file system of lens-policy-sync's spool (a 64 KiB
#      tmpfs) fills while the control plane is offline: it stays up, and
#      every event either reaches the control plane once it is back or is
#      counted as lost in a spool_overflow event (DESIGN.md section 8: the
#      spool is bounded and what it drops is counted); once the control
#      plane has taken the spool, events all arrive again, and none is
#      skipped as corrupt. Twice: with the default --spool-max (64M, so one
#      4 MiB segment, larger than the file system) and with --spool-max
#      256K (16 KiB segments: sent ones are deleted and room comes back).
#   5. truncated-policy: the policy file is replaced by a truncated one
#      (renamed over it, then cut in place): both daemons keep the last
#      good policy (what it allows still passes, what it denies is still
#      denied), log the error and emit a policy-rejected event; a valid
#      policy afterwards is applied.
#   6. sighup-storm: 100 SIGHUPs in a second to lens-proxy and lens-dns
#      while they serve requests.
#   7. slow-reader: a client reads a large response one byte a second; the
#      proxy keeps answering other clients at once and does not buffer the
#      response in memory.
#
#   tests/soak/faults.sh [--report FILE] [FAULT...]   (default: every fault)
set -euo pipefail
# shellcheck source=tests/soak/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

report=""
only=()
while (($#)); do
  case $1 in
    --report) report=$2; shift 2 ;;
    -*) echo "faults.sh: unknown argument $1" >&2; exit 2 ;;
    *) only+=("$1"); shift ;;
  esac
done
# Everything printed also goes to $work/faults.log, for the report.
exec > >(tee "$work/faults.log") 2>&1

start_dnsmasq
start_origins
start_py "$outside" reset "$load_py" reset-origin --listen 10.199.0.2:8081

# install_policy DIR N [EXTRA_RULE]: policy_frame N as DIR/policy.json,
# written beside it and renamed over it (as the daemons expect).
install_policy() {
  mkdir -p "$1"
  policy_frame "$2" "${3:-}" >"$1/policy.json.tmp"
  mv "$1/policy.json.tmp" "$1/policy.json"
}

# audit_count FILE REGEX [PHASE]: the events in FILE whose action matches REGEX.
audit_count() {
  "$python" "$load_py" audit-count "$1" --action "$2" ${3:+--phase "$3"}
}

# expect_count WHAT GOT WANT
expect_count() { check "$1: $2 (want $3)" -- test "$2" -eq "$3"; }

# through_proxy ARGS...: curl in the sandbox through lens-proxy, printing
# one line "CODE BYTES SECONDS" per transfer; never fails.
through_proxy() {
  in_sbx curl -s -o /dev/null --proxy http://127.0.0.1:3128 --max-time 10 \
    -w '%{http_code} %{size_download} %{time_total}\n' "$@" 2>/dev/null || true
}

# proxy_serves_next TAG: lens-proxy answers a new client (the origin's text comes back).
proxy_serves_next() {
  [[ $(in_sbx curl -s --max-time 5 --proxy http://127.0.0.1:3128 "http://origin.test:8080/next-$1" 2>/dev/null) == \
    "origin GET /next-$1"* ]]
}
# dns_serves_next NAME: lens-dns answers NAME with an address.
dns_serves_next() { [[ -n $(in_sbx dig @127.0.0.1 -p 5355 +time=2 +tries=1 +short "$1" A 2>/dev/null) ]]; }

# lines_at_least FILE PATTERN N: at least N lines of FILE match PATTERN (for wait_for).
lines_at_least() { (($(grep -c -- "$2" "$1" || true) >= $3)); }

# stopped_cleanly NAME PID: SIGTERM, exit 0.
stopped_cleanly() {
  stop "$2"
  check "$1 exits 0 on SIGTERM (exit $stop_rc)" -- test "$stop_rc" -eq 0
}

# ---------------------------------------------------------------------------
fault_reset() {
  local f=$work/reset out bad
  install_policy "$f" 1
  start_proxy reset-proxy "$f" --audit "$f/audit.log"
  local pid=$daemon_pid
  # 10 forward requests, then 10 requests inside CONNECT tunnels (--proxytunnel).
  out=$(through_proxy "http://origin.test:8081/reset/f[1-10]"; through_proxy -p "http://origin.test:8081/reset/c[1-10]")
  echo "   the 20 transfers: $(awk '{ n[$1 " with " $2 " of 1000000 bytes"]++; if ($3 > t) t = $3 }
    END { for (k in n) printf "%d answered %s, ", n[k], k; printf "slowest %.2f s", t }' <<<"$out")"
  bad=$(awk '!($2 > 0 && $2 < 1000000 && $3 < 5)' <<<"$out")
  check "20 transfers cut by the origin's reset end at once with a partial body" -- \
    test "$(wc -l <<<"$out")" -eq 20 -a -z "$bad"
  check "lens-proxy is up" -- alive "$pid"
  check "lens-proxy serves the next client" -- proxy_serves_next reset
  stopped_cleanly lens-proxy "$pid"
  expect_count "audit events of the forward requests reset mid-body" \
    "$(audit_count "$f/audit.log" '^GET http://origin\.test:8081/reset/f([1-9]|10)$' decision)" 10
  expect_count "audit events of the CONNECTs whose tunnel was reset" \
    "$(audit_count "$f/audit.log" '^CONNECT origin\.test:8081$' decision)" 10
  expect_count "... and their tunnels' close events" "$(audit_count "$f/audit.log" '^CONNECT origin\.test:8081$' close)" 10
}

# ---------------------------------------------------------------------------
fault_dns_flap() {
  local f=$work/flap n=400 i
  install_policy "$f" 1
  start_dns flap-dns "$f" --audit "$f/audit.log"
  local pid=$daemon_pid
  # 400 distinct names at 40/s (10 s), no retries; meanwhile dnsmasq is
  # killed and started again every second (down half of the time).
  start_load flap-queries dns-unique --server 127.0.0.1:5355 --suffix flap.test --count "$n" --rate 40
  local queries=$last_pid
  for i in $(seq 1 10); do
    kill "$dnsmasq_pid"
    wait "$dnsmasq_pid" 2>/dev/null || true
    sleep 0.5
    start_dnsmasq
    sleep 0.5
  done
  wait "$queries" || true
  local summary
  summary=$("$python" -c 'import json,sys; d=json.load(open(sys.argv[1])); print("sent %d, unanswered %d, by rcode %s" % (d["sent"], d["unanswered"], d["rcodes"]))' \
    "$work/flap-queries.json")
  echo "   queries while the upstream flapped: $summary"
  check "every query was answered while the upstream flapped ($summary)" -- \
    test "$(status_field flap-queries unanswered)" -eq 0 -a "$(status_field flap-queries sent)" -eq "$n"
  check "lens-dns is up" -- alive "$pid"
  check "lens-dns serves the next client once the upstream stays up" -- wait_for 10 dns_serves_next after.flap.test
  stopped_cleanly lens-dns "$pid"
  expect_count "audit events of the queries" "$(audit_count "$f/audit.log" '^DNS q[0-9]+\.flap\.test$')" "$n"
}

# ---------------------------------------------------------------------------
# spooled_proxy_events STATE: proxy decision events in the spool's segments.
spooled_proxy_events() { cat "$1"/spool/seg-*.jsonl 2>/dev/null | grep '"source":"lens-proxy"' | grep -c '"phase":"decision"' || true; }
spooled_at_least() { (($(spooled_proxy_events "$1") >= $2)); }
# received_ids CP: the ids of the audit events the control plane received.
received_ids() {
  "$python" -c 'import json,sys
for line in open(sys.argv[1]):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if e.get("type") == "audit_event" and "id" in e:
        print(e["id"])' "$1/received.jsonl" | sort -u
}
# all_received IDS CP: every id in the file IDS was received by the control plane.
all_received() { [[ -z $(comm -23 "$1" <(received_ids "$2")) ]]; }
# received_actions CP REGEX: distinct actions of proxy decision events received.
received_actions() {
  "$python" -c 'import json,re,sys
seen = set()
for line in open(sys.argv[1]):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if e.get("type") == "audit_event" and (e.get("metadata") or {}).get("phase") == "decision" \
            and re.search(sys.argv[2], e.get("action", "")):
        seen.add(e["action"])
print(len(seen))' "$1/received.jsonl" "$2"
}
# received_at_least CP REGEX N: received_actions CP REGEX is at least N.
received_at_least() { (($(received_actions "$1" "$2") >= $3)); }

fault_sync_kill() {
  local f=$work/kill
  local state=$f/state cp=$f/cp before=300 burst=10000
  mkdir -p "$state"
  start_control_plane "$cp"
  start_sync kill-sync "$state"
  push_policy "$cp" 1 1 || check "the first policy was applied" -- false
  start_proxy kill-proxy "$state" --audit "unix:$state/audit.sock"
  local proxy=$daemon_pid
  ctl "$cp" '{"cmd":"stop"}' >/dev/null  # offline: every event stays in the spool
  through_proxy "http://origin.test:8080/k/[1-$before]" >"$f/before.out"
  check "$before requests before the kill answered 200" -- test "$(grep -c '^200 ' "$f/before.out")" -eq "$before"
  check "lens-policy-sync spooled their events" -- wait_for 10 spooled_at_least "$state" "$before"
  # A burst of requests, and the kill in the middle of it.
  through_proxy "http://origin.test:8080/b/[1-$burst]" >"$f/burst.out" &
  local burster=$!
  # The kill once a part of the burst is in the spool (not after a fixed
  # time: the burst's pace depends on the machine).
  wait_for 30 spooled_at_least "$state" $((before + 500)) || true
  kill -KILL "$sync_pid"
  wait "$sync_pid" 2>/dev/null || true
  "$python" "$load_py" spool-ids "$state/spool" | sort -u >"$f/spooled.ids"
  local spooled in_burst
  spooled=$(wc -l <"$f/spooled.ids")
  in_burst=$(cat "$state"/spool/seg-*.jsonl | grep -c '"action":"GET http://origin.test:8080/b/' || true)
  check "the kill came in the middle of the burst ($in_burst of its $burst events spooled)" -- \
    test "$in_burst" -gt 0 -a "$in_burst" -lt "$burst"
  wait "$burster" || true
  echo "   killed lens-policy-sync with $spooled events in its spool; the burst: $(grep -c '^200 ' "$f/burst.out") of $burst answered 200"
  check "lens-proxy served the burst while lens-policy-sync was killed" -- \
    test "$(grep -c '^200 ' "$f/burst.out")" -eq "$burst"
  check "lens-proxy is up" -- alive "$proxy"
  check "lens-proxy serves the next client" -- proxy_serves_next kill
  # The restart, with the control plane back.
  ctl "$cp" '{"cmd":"start"}' >/dev/null
  start_sync kill-sync2 "$state"
  check "the restarted lens-policy-sync is ready" -- wait_for 10 test -e "$work/kill-sync2.ready"
  check "every one of the $spooled events spooled before the kill reached the control plane" -- \
    wait_for 60 all_received "$f/spooled.ids" "$cp"
  local missing
  missing=$(comm -23 "$f/spooled.ids" <(received_ids "$cp") | wc -l)
  ((missing == 0)) || echo "   $missing spooled events never arrived" >&2
  expect_count "events of the $before requests before the kill received" \
    "$(received_actions "$cp" '^GET http://origin\.test:8080/k/[0-9]+$')" "$before"
  stopped_cleanly lens-proxy "$proxy"
  stopped_cleanly lens-policy-sync "$sync_pid"
}

# ---------------------------------------------------------------------------
# spool_full NAME ARGS...: one run, lens-policy-sync started with ARGS.
spool_full() {
  local f=$work/$1
  shift
  local state=$f/state cp=$f/cp n=600 later=100
  mkdir -p "$state/spool"
  if ! mount -t tmpfs -o size=64k,mode=0700 lens-soak-spool "$state/spool" 2>/dev/null; then
    echo "SKIP spool-full: cannot mount a tmpfs (needs CAP_SYS_ADMIN)"
    return 0
  fi
  mounts+=("$state/spool")
  start_control_plane "$cp"
  start_sync "$(basename "$f")-sync" "$state" "$@"
  push_policy "$cp" 1 1 || check "the first policy was applied" -- false
  start_proxy "$(basename "$f")-proxy" "$state" --audit "unix:$state/audit.sock"
  local proxy=$daemon_pid
  ctl "$cp" '{"cmd":"stop"}' >/dev/null  # offline: the spool fills its file system
  through_proxy "http://origin.test:8080/full/[1-$n]" >"$f/full.out"
  check "$n requests answered 200 while the spool fills" -- test "$(grep -c '^200 ' "$f/full.out")" -eq "$n"
  sleep 1
  local log
  log=$work/$(basename "$f")-sync.err
  echo "   spool file system: $(df -h --output=used,size "$state/spool" | tail -1 | xargs) used;" \
    "lens-policy-sync logged: $(grep -m1 -o 'spool: .*' "$log" || echo nothing)"
  check "lens-policy-sync is up with its spool's file system full" -- alive "$sync_pid"
  check "lens-proxy serves the next client" -- proxy_serves_next full
  ctl "$cp" '{"cmd":"start"}' >/dev/null
  check "lens-policy-sync reconnects" -- \
    test "$(cp_field "$cp" '{"cmd":"wait_clients","count":1,"timeout":60}' ok)" == True
  sleep 5  # the spool drains
  through_proxy "http://origin.test:8080/later/[1-$later]" >/dev/null
  wait_for 30 received_at_least "$cp" '^GET http://origin\.test:8080/later/[0-9]+$' "$later" || true
  local lines
  lines=$(grep -c 'sync.*spool: ' "$log" || true)
  check "lens-policy-sync logged the full spool in a few lines, not one per event ($lines)" -- \
    test "$lines" -le 6
  expect_count "events of the $later requests made once the control plane had taken the spool" \
    "$(received_actions "$cp" '^GET http://origin\.test:8080/later/[0-9]+$')" "$later"
  local arrived lost
  arrived=$(received_actions "$cp" '^GET http://origin\.test:8080/full/[0-9]+$')
  lost=$("$python" -c 'import json,sys
n = 0
for line in open(sys.argv[1]):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    m = e.get("metadata") or {}
    if m.get("reason") == "spool_overflow":
        n += int(m.get("dropped", 0))
print(n)' "$cp/received.jsonl")
  echo "   of the $n events taken in while the file system was full: $arrived arrived, $lost reported lost (spool_overflow)"
  # The overflow counts also cover the other events spooled while the file
  # system was full (the probe request of proxy_serves_next, lens-policy-sync's
  # own connection events): at least n, at most a few more, never fewer.
  check "no event of the full spool vanished uncounted: $arrived arrived + $lost reported lost >= $n" -- \
    test $((arrived + lost)) -ge "$n"
  check "and none was counted twice: $arrived arrived + $lost reported lost <= $n + 5" -- \
    test $((arrived + lost)) -le $((n + 5))
  local malformed
  malformed=$("$python" -c 'import json,sys
bad = 0
for line in open(sys.argv[1]):
    try:
        e = json.loads(line)
        bad += e.get("type") == "audit_event" and not e.get("id")
    except ValueError:
        bad += 1
print(bad)' "$cp/received.jsonl")
  expect_count "frames received that are not whole audit events" "$malformed" 0
  expect_count "records lens-policy-sync skipped as corrupt in its spool" \
    "$(grep -c 'skipping a corrupt record' "$log" || true)" 0
  check "lens-policy-sync is up" -- alive "$sync_pid"
  stopped_cleanly lens-proxy "$proxy"
  stopped_cleanly lens-policy-sync "$sync_pid"
}

fault_spool_full() {
  echo "-- --spool-max 64M (the default): the file system is the only bound"
  spool_full full
  echo "-- --spool-max 256K: 16 KiB segments, sent ones deleted"
  spool_full full-small --spool-max 256K
}

# ---------------------------------------------------------------------------
# policy_holds TAG: the last good policy is in force in both daemons:
# origin.test passes the proxy, other.test does not; names under soak.test
# resolve, names under denied.example do not. TAG makes each request unique.
policy_holds() {
  local tag=$1
  [[ $(through_proxy "http://origin.test:8080/$tag") == "200 "* ]] &&
    [[ $(through_proxy "http://other.test:8080/$tag") == "403 "* ]] &&
    [[ -n $(in_sbx dig @127.0.0.1 -p 5355 +time=2 +tries=1 +short "$tag.soak.test") ]] &&
    in_sbx dig @127.0.0.1 -p 5355 +time=2 +tries=1 "$tag.denied.example" | grep -q 'status: NXDOMAIN'
}

# proxy_allows URL: lens-proxy answers a GET of URL with 200.
proxy_allows() { [[ $(through_proxy "$1") == "200 "* ]]; }

fault_truncated_policy() {
  local f=$work/trunc
  install_policy "$f" 1
  start_proxy trunc-proxy "$f" --audit "$f/proxy.log"
  local proxy=$daemon_pid
  start_dns trunc-dns "$f" --audit "$f/dns.log"
  local dns=$daemon_pid
  check "the policy is in force" -- policy_holds t1
  cp "$f/policy.json" "$f/good.json"
  # A truncated file renamed over the policy (a writer that died half-way).
  head -c "$(($(wc -c <"$f/good.json") / 2))" "$f/good.json" >"$f/policy.json.tmp"
  mv "$f/policy.json.tmp" "$f/policy.json"
  local name
  for name in trunc-proxy trunc-dns; do
    check "$name logs the rejection and keeps the last good policy" -- \
      wait_for 5 grep -q 'rejected; keeping the last good policy' "$work/$name.err"
  done
  check "the last good policy is still in force" -- policy_holds t2
  # The same file cut in place: written without a rename, stopped at 40 bytes.
  head -c 40 "$f/good.json" >"$f/policy.json"
  for name in trunc-proxy trunc-dns; do
    check "$name logs the second rejection" -- \
      wait_for 5 lines_at_least "$work/$name.err" 'rejected; keeping the last good policy' 2
  done
  check "the last good policy is still in force after the cut" -- policy_holds t3
  check "lens-proxy and lens-dns are up" -- alive "$proxy" "$dns"
  # A valid policy that also allows other.test: applied.
  install_policy "$f" 2 '{"match": "other.test", "verdict": "allow", "transport": "direct"}'
  for name in trunc-proxy trunc-dns; do
    check "$name applies a valid policy afterwards" -- \
      wait_for 5 lines_at_least "$work/$name.err" 'policy .* applied (version' 2
  done
  check "... in which other.test passes" -- proxy_allows http://other.test:8080/t4
  check "lens-proxy serves the next client" -- proxy_serves_next trunc
  check "lens-dns serves the next client" -- dns_serves_next t5.soak.test
  stopped_cleanly lens-proxy "$proxy"
  stopped_cleanly lens-dns "$dns"
  local log
  for log in proxy dns; do
    expect_count "lens-$log: policy-rejected events" "$(grep -c '"reason":"policy-rejected"' "$f/$log.log" || true)" 2
  done
  expect_count "lens-proxy: audit events of the requests (t1-t4)" \
    "$(audit_count "$f/proxy.log" '^GET http://(origin|other)\.test:8080/t[1-4]$' decision)" 7
  expect_count "lens-dns: audit events of the queries (t1-t3, t5)" \
    "$(audit_count "$f/dns.log" '^DNS t[1-5]\.(soak\.test|denied\.example)$')" 7
}

# ---------------------------------------------------------------------------
fault_sighup_storm() {
  local f=$work/hup n=300 i
  install_policy "$f" 1
  start_proxy hup-proxy "$f" --audit "$f/proxy.log"
  local proxy=$daemon_pid
  start_dns hup-dns "$f" --audit "$f/dns.log"
  local dns=$daemon_pid
  # Requests and queries (each its own path or name) over about 3 s, the storm in the middle.
  through_proxy "http://origin.test:8080/hup/[1-$n]" >"$f/requests.out" &
  local requests=$!
  start_load hup-queries dns-unique --server 127.0.0.1:5355 --suffix hup.soak.test --count "$n" --rate 100
  local queries=$last_pid
  sleep 1
  for i in $(seq 1 100); do
    kill -HUP "$proxy" "$dns" 2>/dev/null || true
    sleep 0.01
  done
  wait "$requests" || true
  wait "$queries" || true
  check "lens-proxy and lens-dns survived 100 SIGHUPs" -- alive "$proxy" "$dns"
  expect_count "requests answered 200 during the storm" "$(grep -c '^200 ' "$f/requests.out")" "$n"
  check "queries answered during the storm" -- \
    test "$(status_field hup-queries unanswered)" -eq 0 -a "$(status_field hup-queries sent)" -eq "$n"
  check "the policy still holds after the storm" -- policy_holds h1
  check "lens-proxy serves the next client" -- proxy_serves_next hup
  check "lens-dns serves the next client" -- dns_serves_next h2.soak.test
  stopped_cleanly lens-proxy "$proxy"
  stopped_cleanly lens-dns "$dns"
  expect_count "lens-proxy: audit events of the requests" \
    "$(audit_count "$f/proxy.log" '^GET http://origin\.test:8080/hup/[0-9]+$' decision)" "$n"
  expect_count "lens-dns: audit events of the queries" "$(audit_count "$f/dns.log" '^DNS q[0-9]+\.hup\.soak\.test$')" "$n"
}

# ---------------------------------------------------------------------------
rss_of() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

fault_slow_reader() {
  local f=$work/slowread n=30 seconds=12
  install_policy "$f" 1
  start_proxy slowread-proxy "$f" --audit "$f/audit.log"
  local proxy=$daemon_pid
  local rss0
  rss0=$(rss_of "$proxy")
  # 100 MiB at one byte a second: the proxy must hold back, not buffer it.
  in_sbx "$python" "$load_py" slow-reader --proxy 127.0.0.1:3128 --url http://origin.test:8080/big/104857600 \
    --seconds "$seconds" --status "$work/slow-reader.json" 2>>"$work/slow-reader.err" &
  local reader=$!
  pids+=("$reader")
  sleep 2
  # Meanwhile: new clients one after the other, with forward requests and
  # with requests inside CONNECT tunnels (Connection: close: a new tunnel each).
  through_proxy -H 'Connection: close' "http://origin.test:8080/q[1-$n]" >"$f/others.out"
  through_proxy -H 'Connection: close' -p "http://origin.test:8080/c[1-$n]" >>"$f/others.out"
  local slowest rss1
  slowest=$(sort -k3 -n "$f/others.out" | tail -1 | awk '{ print $3 }')
  rss1=$(rss_of "$proxy")
  check "$((2 * n)) other requests answered 200 meanwhile" -- test "$(grep -c '^200 ' "$f/others.out")" -eq $((2 * n))
  check "... each within a second (slowest ${slowest} s)" -- awk -v s="$slowest" 'BEGIN { exit !(s < 1) }'
  check "the proxy does not buffer the slow reader's response (RSS +$((rss1 - rss0)) KiB)" -- \
    test $((rss1 - rss0)) -lt 16384
  wait "$reader" || true
  check "the slow reader read for ${seconds} s ($(status_field slow-reader bytes) bytes, one a second)" -- \
    test "$(status_field slow-reader bytes)" -ge $((seconds - 2))
  check "lens-proxy is up" -- alive "$proxy"
  check "lens-proxy serves the next client" -- proxy_serves_next slowread
  stopped_cleanly lens-proxy "$proxy"
  expect_count "audit events of the other requests" \
    "$(audit_count "$f/audit.log" '^GET http://origin\.test:8080/q[0-9]+$' decision)" "$n"
  expect_count "audit events of their CONNECTs" "$(audit_count "$f/audit.log" '^CONNECT origin\.test:8080$' decision)" "$n"
  expect_count "audit event of the slow reader's request" \
    "$(audit_count "$f/audit.log" '^GET http://origin\.test:8080/big/104857600$' decision)" 1
}

faults=(reset dns-flap sync-kill spool-full truncated-policy sighup-storm slow-reader)
((${#only[@]} == 0)) || faults=("${only[@]}")
for fault in "${faults[@]}"; do
  echo "== fault: $fault"
  "fault_${fault//-/_}"
done

if [[ -n $report ]]; then
  {
    echo
    echo "# Faults"
    echo
    grep -E '^(== fault|-- |ok |FAIL|SKIP|   )' "$work/faults.log" |
      sed -e 's/^== fault: \(.*\)/\n## \1\n/' -e 's/^-- \(.*\)/\n*\1*\n/' -e 's/^   /- /' -e 's/^\(ok\|FAIL\|SKIP\)/- \1/' | cat -s
    echo
    ((failures == 0)) && echo "All fault checks passed." || echo "$failures fault check(s) failed."
  } >>"$report"
fi
finish
