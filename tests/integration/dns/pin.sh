#!/usr/bin/env bash
# lens-dns inside the cage: queries to any server reach it through the
# redirect, its own upstream queries (marked) do not loop, and the addresses
# of names covered by a raw tcp hostname rule are pinned into the lockdown's
# raw4 set, with the TTL as timeout, before the answer is sent.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../netns.sh"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
command -v nft >/dev/null || skip "needs the nft program to read the sets"

write_policy '{"network": {"defaultVerdict": "deny", "defaultTransport": "upstream", "egress": {
  "http": [{"match": "allowed.test", "verdict": "allow", "transport": "upstream"}],
  "tcp": [{"match": "db.test:5432", "verdict": "allow"},
          {"match": "lo.test:5432", "verdict": "allow"},
          {"match": "db2.test:6543", "verdict": "allow"}]}}}'
start_outside_servers
start_upstream
in_sbx "$lockdown" apply --policy "$work/policy.json"
start_dns

raw4() { in_sbx nft list set inet lens_sandbox raw4; }

echo "== before the name is resolved, the address is caged"
check "tcp 10.199.0.3:5432 is redirected (nothing listens: refused)" -- \
  test "$(probe tcp 10.199.0.3 5432)" = refused

echo "== DNS to any server goes to lens-dns"
check "dig @10.199.0.2 allowed.test answers (lens-dns forwards, marked)" -- \
  test "$(in_sbx dig @10.199.0.2 +time=3 +tries=1 +short allowed.test)" = 192.0.2.10
check "dig @10.199.0.2 denied.test is NXDOMAIN (the upstream would answer)" -- \
  grep -q "status: NXDOMAIN" <<<"$(in_sbx dig @10.199.0.2 +time=3 +tries=1 denied.test)"

echo "== pinning"
check "db.test resolves through the cage" -- \
  test "$(in_sbx dig @10.199.0.2 +time=3 +tries=1 +short db.test)" = 10.199.0.3
check "10.199.0.3 . tcp . 5432 is in raw4 with a timeout of the TTL (5m)" -- \
  grep -q "10.199.0.3 . tcp . 5432 timeout 5m" <<<"$(raw4)"
got=$(probe tcp 10.199.0.3 5432)
check "... and reaches the outside server ($got)" -- test "${got%% *}" = ok
check "tcp 10.199.0.3:8080 is still redirected (only the rule's port)" -- test "$(probe tcp 10.199.0.3 8080)" = refused
check "lo.test (127.0.0.5) answers" -- test "$(q +short lo.test)" = 127.0.0.5
check "... but a loopback address is never pinned" -- has_lines "$(raw4)" --not 127.0.0.5
check "allowed.test (http rule only) is not pinned" -- has_lines "$(raw4)" --not 192.0.2.10

echo "== without the lockdown table, pinning is skipped with one warning"
in_sbx "$lockdown" remove
in_sbx "$lockdown" apply  # fresh table: raw4 empty
in_sbx nft delete table inet lens_sandbox
q +short db2.test >/dev/null
q +short db2.test >/dev/null
check "db2.test still resolves" -- test "$(q +short db2.test)" = 10.199.0.3
check "one warning about the missing table" -- test "$(grep -c 'no lockdown table' "$work/dns.err")" -eq 1
finish
