#!/usr/bin/env bash
# lens-up starts the daemons and returns once each is ready; lens-down stops
# them and removes the cage; a daemon that cannot come up is named, with the
# end of its log, and nothing is left running; bad input is refused.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../netns.sh"
up=$source_dir/scripts/lens-up
down=$source_dir/scripts/lens-down
state=$work/state

write_policy '{"network": {"defaultVerdict": "deny", "defaultTransport": "upstream"}}'
in_up() { in_sbx "$up" --bin-dir "$bin_dir" --state-dir "$state" "$@"; }
in_down() { in_sbx "$down" --bin-dir "$bin_dir" --state-dir "$state" "$@"; }
none() { ! "$@"; }

echo "== up and down"
check "lens-up returns once ready" -- in_up --policy "$work/policy.json"
check "lens-dns runs" -- kill -0 "$(cat "$state/run/dns.pid")"
check "lens-proxy runs" -- kill -0 "$(cat "$state/run/proxy.pid")"
check "lens-tproxy runs" -- kill -0 "$(cat "$state/run/tproxy.pid")"
check "lens-lockdown watch runs" -- kill -0 "$(cat "$state/run/lockdown.pid")"
check "the CA, the trust bundle and the Java trust store are there" -- \
  test -s "$state/ca/ca.crt" -a -s "$state/ca/bundle.pem" -a -s "$state/ca/truststore.p12"
check "the cage is installed" -- grep -q lens_sandbox <<<"$(in_sbx nft list tables)"
check "the policy is installed, readable by root only" -- test "$(stat -c %a "$state/policy.json")" = 600
pids_up=$(cat "$state"/run/*.pid)
check "lens-down stops everything" -- in_down
for pid in $pids_up; do
  check "process $pid is gone" -- none kill -0 "$pid" 2>/dev/null
done
check "the cage is gone" -- none grep -q lens_sandbox <<<"$(in_sbx nft list tables)"
check "lens-down with nothing running succeeds" -- in_down

echo "== the caller's umask"
check "lens-up under umask 027" -- \
  in_sbx sh -c "umask 027 && exec '$up' --bin-dir '$bin_dir' --state-dir '$state' --policy '$work/policy.json'"
check "... installs the policy owner-only" -- test "$(stat -c %a "$state/policy.json")" = 600
check "... and makes what follows with the caller's mask, not 022" -- \
  test "$(stat -c %a "$state/run/dns.pid") $(stat -c %a "$state/run/dns.log")" = "640 640"
check "lens-down" -- in_down

echo "== an incomplete installation"
partial=$work/partial-bin
mkdir -p "$partial"
ln -s "$bin_dir/lens-dns" "$partial/lens-dns"  # and no lens-schema
rc=0
in_sbx "$up" --bin-dir "$partial" --state-dir "$state" --policy "$work/policy.json" 2>"$work/partial.err" || rc=$?
check "a missing lens-schema: exit 2 (not 3, the policy is fine)" -- test "$rc" -eq 2
check "... named, with where it was looked for" -- \
  grep -qx "lens-up: lens-schema not found in $partial (an incomplete installation; see --bin-dir)" "$work/partial.err"
check "... and nothing started" -- none pgrep -f "lens-dns --state-dir $state"
check "--help prints the usage paragraph whole" -- \
  bash -c "'$up' --help | head -1 | grep -q '^Usage: lens-up ' && '$up' --help | tail -1 | grep -qx 'See lens-entrypoint(1).'"

echo "== a daemon that does not come up"
# Something else holds the DNS port: lens-dns exits, lens-up names it.
nsenter --net="/run/netns/$sbx" "$python" -c 'import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 5355)); time.sleep(30)' &
holder=$!
sleep 0.3
rc=0
in_up --policy "$work/policy.json" 2>"$work/up.err" || rc=$?
kill "$holder" 2>/dev/null || true
check "lens-up fails (exit 1)" -- test "$rc" -eq 1
check "... naming lens-dns and why" -- grep -q "lens-dns exited before it was ready.*127.0.0.1:5355" "$work/up.err"
check "... and stops what it started (no proxy left)" -- none pgrep -f "lens-proxy --state-dir $state"
check "... (no watcher left)" -- none pgrep -f "lens-lockdown watch --state-dir $state"
check "... and removes the cage" -- none grep -q lens_sandbox <<<"$(in_sbx nft list tables)"

echo "== an unusable CA"
mkdir -p "$state/ca"
echo "not a certificate" >"$state/ca/ca.crt"
rc=0
in_up --policy "$work/policy.json" 2>"$work/ca.err" || rc=$?
check "lens-up fails (exit 1) naming the CA" -- \
  bash -c "[[ $rc -eq 1 ]] && grep -q 'the CA could not be created' '$work/ca.err'"
check "... and stops the cage's watcher it started" -- none pgrep -f "lens-lockdown watch --state-dir $state"
check "... and removes the cage" -- none grep -q lens_sandbox <<<"$(in_sbx nft list tables)"
rm -rf "$state/ca"

echo "== bad input"
rc=0
in_up 2>"$work/usage.err" || rc=$?
check "no policy source: exit 2" -- test "$rc" -eq 2
rc=0
echo '{"network": {"defaultVerdict": "sometimes"}}' >"$work/bad.json"
in_up --policy "$work/bad.json" 2>"$work/bad.err" || rc=$?
check "an invalid policy: exit 3, nothing started" -- test "$rc" -eq 3
check "... with the located error" -- grep -q "bad.json:1:" "$work/bad.err"
finish
