#!/usr/bin/env bash
# The audit trail of the cage: the refusing rules log to NFLOG and
# `lens-lockdown watch` writes one audit event per refused packet (direct
# UDP v4 and v6, DoT, QUIC, a non-root sender's datagram) with the action,
# reason, uid and source; a flood past the kernel's rate limit is accounted
# for in full (events + the reported suppressed count); a second watcher of
# the group fails clearly, one without CAP_NET_ADMIN exits 5; SIGUSR1 prints
# statistics and SIGTERM ends the watcher with status 0.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../netns.sh"
command -v setpriv >/dev/null || skip "needs setpriv (util-linux)"
grep -q nfnetlink_log /proc/net/netfilter/nf_log 2>/dev/null || skip "the kernel has no nfnetlink_log (NFLOG)"

start_outside_servers
# Any group works; the namespace is ours. The cage takes it from the
# environment, the watcher from the option.
group=$((2000 + RANDOM % 1000))
audit=$work/audit.jsonl

echo "== the cage with the NFLOG group from LENS_LOG_GROUP passes the kernel's check"
check "check --log-group" -- in_sbx env LENS_LOG_GROUP=$group "$lockdown" check
in_sbx env LENS_LOG_GROUP=$group "$lockdown" apply
in_sbx nft list chain inet lens_sandbox filter_cage >"$work/chain"  # not piped: grep -q would cut nft short
if grep -q "log prefix \"lens:deny: \" group $group" "$work/chain"; then
  echo "ok   the cage logs to group $group"
else
  echo "FAIL the cage does not log to group $group" >&2
  failures=$((failures + 1))
fi

echo "== watch"
# nsenter directly (not through a shell function), so $! is the watcher itself.
nsenter --net="/run/netns/$sbx" "$lockdown" watch --log-group "$group" --audit "$audit" \
  --ready-file "$work/watch.ready" 2>"$work/watch.err" &
watcher=$!
pids+=("$watcher")
wait_ready "$work/watch.ready" "lens-lockdown watch"
check "ready line on stderr" -- grep -q "^lens-lockdown: ready: watching NFLOG group $group" "$work/watch.err"

echo "== refusals, each an audit event"
expect "$refused" "udp v4" -- udp 10.199.0.2 9000
expect "$refused" "udp v6" -- udp fd99::2 9000
expect "refused" "DoT v4" -- tcp 10.199.0.2 853
expect "refused" "DoT v6" -- tcp fd99::2 853
expect "$refused" "QUIC v4" -- udp 10.199.0.2 443
expect "$refused" "udp v4 as uid 65534" -- --as 65534 udp 10.199.0.3 9001

# events_check PYTHON: runs the assertion on the parsed events (a list in `events`).
events_check() {
  local what=$1 code=$2
  if "$python" - "$audit" "$code" <<'PY'; then
import json, sys
events = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8") if line.strip()]
ok = eval(sys.argv[2], {"events": events})
if not ok:
    for e in events:
        print("   ", json.dumps(e), file=sys.stderr)
sys.exit(0 if ok else 1)
PY
    echo "ok   $what"
  else
    echo "FAIL $what" >&2
    failures=$((failures + 1))
  fi
}

# wait_events N: until the audit file has N lines (5 s).
wait_events() {
  local i
  for ((i = 0; i < 100; i++)); do
    [[ -f $audit && $(wc -l <"$audit") -ge $1 ]] && return 0
    sleep 0.05
  done
}
wait_events 6
check "six events for six attempts" -- test "$(wc -l <"$audit")" -eq 6

# one ACTION REASON UID SRC: exactly one event with that action, and its fields.
one() {
  events_check "event $1 ($2, uid $3, from $4)" "
[e for e in events if e['action'] == '$1'] and len([e for e in events if e['action'] == '$1']) == 1 and all(
    e['type'] == 'audit_event' and e['source'] == 'lens-lockdown' and e['result'] == 'failure'
    and e['metadata']['reason'] == '$2' and e['metadata']['uid'] == $3
    and e['metadata']['protocol'] == '$5' and e['src_endpoint']['ip'] == '$4' and e['src_endpoint']['port'] > 0
    and e['ts'].endswith('Z')
    for e in events if e['action'] == '$1')"
}
one "UDP 10.199.0.2:9000" kernel-refused 0 10.199.0.1 udp
one "UDP [fd99::2]:9000" kernel-refused 0 fd99::1 udp
one "TCP 10.199.0.2:853" dot-refused 0 10.199.0.1 tcp
one "TCP [fd99::2]:853" dot-refused 0 fd99::1 tcp
one "UDP 10.199.0.2:443" quic-refused 0 10.199.0.1 udp
one "UDP 10.199.0.3:9001" kernel-refused 65534 10.199.0.1 udp

echo "== a flood past the kernel's rate limit is accounted for"
flood=3000
in_sbx "$python" - "$flood" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(int(sys.argv[1])):
    try:
        s.sendto(b"x", ("10.199.0.3", 9000))
    except OSError:
        pass
PY
# The first suppressed count is reported within a counter reading (1 s).
for ((i = 0; i < 60; i++)); do
  grep -q '"action":"SUPPRESSED kernel-refused"' "$audit" && break
  sleep 0.1
done
events_check "the suppressed count is reported at once" "
any(e['action'] == 'SUPPRESSED kernel-refused' and e['metadata']['cause'] == 'kernel-rate-limit'
    and e['metadata']['packets'] > 0 for e in events)"

echo "== statistics on SIGUSR1"
kill -USR1 "$watcher"
for ((i = 0; i < 50; i++)); do
  grep -q '"kernel_suppressed"' "$work/watch.err" && break
  sleep 0.1
done
check "stats JSON on stderr" -- grep -q '^{"packets":[0-9]*,"events":[0-9]*,"parse_errors":0,"kernel_suppressed":[1-9]' \
  "$work/watch.err"

echo "== a second watcher of the group fails clearly"
rc=0
timeout 10 nsenter --net="/run/netns/$sbx" "$lockdown" watch --log-group "$group" --audit off 2>"$work/second.err" || rc=$?
if [[ $rc -eq 1 ]] && grep -q "NFLOG group $group is already bound by another process" "$work/second.err"; then
  echo "ok   second watcher: exit 1: $(head -1 "$work/second.err")"
else
  echo "FAIL second watcher: exit $rc: $(cat "$work/second.err")" >&2
  failures=$((failures + 1))
fi
rc=0
in_sbx setpriv --reuid 65534 --regid 65534 --clear-groups --inh-caps=-all --bounding-set=-all \
  "$lockdown" watch --audit off 2>"$work/unpriv.err" || rc=$?
if [[ $rc -eq 5 ]] && grep -q "watch: needs CAP_NET_ADMIN" "$work/unpriv.err"; then
  echo "ok   without CAP_NET_ADMIN: exit 5: $(head -1 "$work/unpriv.err")"
else
  echo "FAIL without CAP_NET_ADMIN: exit $rc: $(cat "$work/unpriv.err")" >&2
  failures=$((failures + 1))
fi

echo "== SIGTERM: exit 0, everything reported"
kill -TERM "$watcher"
rc=0
wait "$watcher" || rc=$?
check "watch exits 0 on SIGTERM (got $rc)" -- test "$rc" -eq 0
# Every flood datagram is either an event (the audit sink folds repeats: the
# first line, then on exit one line carrying the count of those it held
# back) or counted as kept from the log (the last SUPPRESSED line's total).
events_check "all $flood flood datagrams are accounted for" "
(lambda flood, kept: print('    events', flood, '+ suppressed', kept) or flood + kept == $flood)(
    sum(e['metadata'].get('suppressed', 1) for e in events if e['action'] == 'UDP 10.199.0.3:9000'),
    max([e['metadata']['total'] for e in events if e['action'] == 'SUPPRESSED kernel-refused'] or [0]))"
events_check "no other events than the attempts and the flood" "
{e['action'] for e in events} == {'UDP 10.199.0.2:9000', 'UDP [fd99::2]:9000', 'TCP 10.199.0.2:853',
    'TCP [fd99::2]:853', 'UDP 10.199.0.2:443', 'UDP 10.199.0.3:9001', 'UDP 10.199.0.3:9000',
    'SUPPRESSED kernel-refused'}"

echo "== the golden rulesets still pass the kernel's check"
check "check (default group)" -- in_sbx "$lockdown" check
check "check --mode tproxy" -- in_sbx "$lockdown" check --mode tproxy --log-group 0
in_sbx "$lockdown" remove
finish
