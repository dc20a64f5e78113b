#!/usr/bin/env bash
# The cage in REDIRECT mode: reachability before, fail-fast refusals after,
# DNS and TCP redirected to local listeners, the trusted mark passes,
# apply is idempotent, remove restores everything.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../netns.sh"

start_outside_servers
mark=0x4e585553

echo "== before apply: the sandbox reaches the outside"
expect "ok outside local=10.199.0.2:8080 *" "tcp v4" -- tcp 10.199.0.2 8080
expect "ok outside local=[[]fd99::2]:8080 *" "tcp v6" -- tcp fd99::2 8080
expect "ok outside local=10.199.0.2:9000 *" "udp v4" -- udp 10.199.0.2 9000
expect "ok outside local=[[]fd99::2]:9000 *" "udp v6" -- udp fd99::2 9000

echo "== apply (no local listeners yet): everything unmarked fails fast"
in_sbx "$lockdown" apply
expect "refused" "tcp v4 (redirected, nothing listens)" -- tcp 10.199.0.2 8080
expect "refused" "tcp v6 (redirected, nothing listens)" -- tcp fd99::2 8080
expect "$refused" "udp v4" -- udp 10.199.0.2 9000
expect "$refused" "udp v6" -- udp fd99::2 9000
expect "refused" "DoT (tcp 853) v4" -- tcp 10.199.0.2 853
expect "refused" "DoT (tcp 853) v6" -- tcp fd99::2 853
expect "$refused" "QUIC (udp 443) v4" -- udp 10.199.0.2 443
expect "$refused" "QUIC (udp 443) v6" -- udp fd99::2 443
expect "ok outside local=10.199.0.2:8080 *" "tcp v4 with the trusted mark" -- tcp 10.199.0.2 8080 --mark $mark
expect "ok outside local=[[]fd99::2]:8080 *" "tcp v6 with the trusted mark" -- tcp fd99::2 8080 --mark $mark
expect "ok outside local=10.199.0.2:9000 *" "udp v4 with the trusted mark" -- udp 10.199.0.2 9000 --mark $mark
expect "ok outside local=10.199.0.2:53 *" "dns with the trusted mark is not redirected" -- udp 10.199.0.2 53 --mark $mark

echo "== local listeners on the stub and transparent ports"
serve "$sbx" stub --udp 127.0.0.1:5355 --tcp 127.0.0.1:5355 --udp '[::1]:5355' --tcp '[::1]:5355'
serve "$sbx" transparent --tcp 127.0.0.1:3129 --tcp '[::1]:3129'
expect "ok stub local=127.0.0.1:5355 *" "udp dns to an outside server goes to the stub" -- udp 10.199.0.2 53
expect "ok stub local=127.0.0.1:5355 *" "tcp dns to an outside server goes to the stub" -- tcp 10.199.0.2 53
expect "ok stub local=[[]::1]:5355 *" "udp dns over IPv6 goes to the stub" -- udp fd99::2 53
expect "ok stub local=127.0.0.1:5355 *" "dns to a loopback server goes to the stub" -- udp 127.0.0.53 53
expect "ok transparent local=127.0.0.1:3129 orig=10.199.0.2:8080" "tcp v4 redirected, original destination kept" \
  -- tcp 10.199.0.2 8080
expect "ok transparent local=[[]::1]:3129 orig=[[]fd99::2]:8080" "tcp v6 redirected, original destination kept" \
  -- tcp fd99::2 8080
expect "refused" "DoT is refused, not redirected" -- tcp 10.199.0.2 853
expect "$refused" "udp still refused" -- udp 10.199.0.2 9000

echo "== apply twice: one table, same rules"
in_sbx "$lockdown" show >"$work/first"
in_sbx "$lockdown" apply
in_sbx "$lockdown" show >"$work/second"
tables=$(in_sbx nft list tables | grep -c 'lens_sandbox' || true)
[[ $tables -eq 1 ]] || { echo "FAIL: $tables lens_sandbox tables after two applies" >&2; failures=$((failures + 1)); }
# Counters differ between the listings; compare the rules.
if diff <(sed 's/counter packets [0-9]* bytes [0-9]*/counter/' "$work/first") \
  <(sed 's/counter packets [0-9]* bytes [0-9]*/counter/' "$work/second") >/dev/null; then
  echo "ok   apply twice leaves the same ruleset"
else
  echo "FAIL: the ruleset changed on a second apply" >&2
  failures=$((failures + 1))
fi

echo "== other tables are untouched"
in_sbx nft add table inet bystander
in_sbx nft add chain inet bystander keep
in_sbx "$lockdown" apply
in_sbx "$lockdown" remove
if in_sbx nft list chain inet bystander keep >/dev/null 2>&1; then
  echo "ok   a foreign table survives apply and remove"
else
  echo "FAIL: lens-lockdown touched another table" >&2
  failures=$((failures + 1))
fi
in_sbx nft delete table inet bystander

echo "== after remove: the original reachability"
expect "ok outside local=10.199.0.2:8080 *" "tcp v4" -- tcp 10.199.0.2 8080
expect "ok outside local=[[]fd99::2]:8080 *" "tcp v6" -- tcp fd99::2 8080
expect "ok outside local=10.199.0.2:9000 *" "udp v4" -- udp 10.199.0.2 9000
expect "ok outside local=10.199.0.2:53 *" "dns reaches the outside server again" -- udp 10.199.0.2 53
set +e
in_sbx "$lockdown" show >/dev/null
rc=$?
set -e
[[ $rc -eq 1 ]] || { echo "FAIL: show after remove exited $rc, expected 1" >&2; failures=$((failures + 1)); }
in_sbx "$lockdown" remove  # absent table: success
finish
