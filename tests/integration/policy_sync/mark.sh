#!/usr/bin/env bash
# The control-plane socket carries the trusted mark 0x4e585553 from its first
# packet (in a network namespace of its own, as root); unprivileged, setting
# the mark fails with EPERM, which is tolerated and said once.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
[[ $(id -u) -eq 0 ]] || skip "needs root (a network namespace of its own)"
command -v ss >/dev/null || skip "needs ss (iproute2)"
command -v setpriv >/dev/null || skip "needs setpriv (util-linux)"
source "$(dirname "${BASH_SOURCE[0]}")/sync_lib.sh"
ns=lens-sync-mark-$$
ip netns add "$ns" || skip "cannot create a network namespace"
trap 'ip netns del "$ns" 2>/dev/null || true; cleanup' EXIT
in_ns() { ip netns exec "$ns" "$@"; }
in_ns ip link set lo up

chmod 755 "$work"
cp=$work/cp
mkdir -p "$cp"
# Background processes start through nsenter, which execs (not the in_ns
# function, nor ip netns exec, which forks), so $! is the process to stop.
nsenter --net="/run/netns/$ns" "$py" "$fixture" serve --dir "$cp" >"$cp/log" 2>&1 &
started_pids+=($!)
wait_for 10 test -s "$cp/port" || fail "the fixture did not start"
port=$(cat "$cp/port")

LENS_TOKEN=x nsenter --net="/run/netns/$ns" "$sync_bin" --url "ws://127.0.0.1:$port/" --state-dir "$work/s1" >"$work/root.out" 2>"$work/root.err" &
sync_pid=$!
started_pids+=($sync_pid)
[[ $(field "$cp" '{"cmd":"wait_clients","count":1,"timeout":10}' ok) == True ]] || fail "no connection"
line=$(in_ns ss -tne state established "( dport = :$port )")
if grep -q "fwmark:0x4e585553" <<<"$line"; then
  pass "the control-plane socket is marked: $(grep -o 'fwmark:0x[0-9a-f]*' <<<"$line")"
else
  fail "no trusted mark on the socket: $line"
fi
kill -TERM "$sync_pid"
wait_exit "$sync_pid"

mkdir -m 777 "$work/s2"
LENS_TOKEN=x nsenter --net="/run/netns/$ns" setpriv --reuid 65534 --regid 65534 --clear-groups --inh-caps=-all --bounding-set=-all \
  "$sync_bin" --url "ws://127.0.0.1:$port/" --state-dir "$work/s2" >"$work/nobody.out" 2>"$work/nobody.err" &
sync_pid=$!
started_pids+=($sync_pid)
[[ $(field "$cp" '{"cmd":"wait_clients","count":1,"timeout":10}' ok) == True ]] &&
  pass "unprivileged: connects without the mark" || fail "unprivileged: no connection: $(cat "$work/nobody.err")"
grep -q "socket not marked: no CAP_NET_ADMIN" "$work/nobody.err" && pass "unprivileged: the missing mark is said" ||
  fail "unprivileged: not said"
kill -TERM "$sync_pid"
wait_exit "$sync_pid"
finish
