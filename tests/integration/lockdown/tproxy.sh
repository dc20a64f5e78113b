#!/usr/bin/env bash
# TPROXY mode: unmarked TCP reaches a listener with IP_TRANSPARENT whose
# local address is the original destination; the policy routing rule and
# table come and go with the cage; DNS is still redirected.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../netns.sh"

start_outside_servers
in_sbx "$lockdown" apply --mode tproxy
serve "$sbx" tproxy --transparent --tcp 127.0.0.1:3129 --tcp '[::1]:3129'
serve "$sbx" stub --udp 127.0.0.1:5355

expect "ok tproxy local=10.199.0.2:8080 *" "tcp v4 reaches the transparent listener as 10.199.0.2:8080" \
  -- tcp 10.199.0.2 8080
expect "ok tproxy local=10.199.0.3:5432 *" "another destination keeps its own address" -- tcp 10.199.0.3 5432
expect "ok tproxy local=[[]fd99::2]:8080 *" "tcp v6 reaches the transparent listener as [fd99::2]:8080" \
  -- tcp fd99::2 8080
expect "refused" "DoT is refused" -- tcp 10.199.0.2 853
expect "$refused" "udp is refused" -- udp 10.199.0.2 9000
expect "ok stub local=127.0.0.1:5355 *" "dns goes to the stub" -- udp 10.199.0.2 53
expect "ok outside local=10.199.0.2:8080 *" "the trusted mark passes" -- tcp 10.199.0.2 8080 --mark 0x4e585553

rules=$(in_sbx ip rule show | grep -c 'fwmark 0x4e585554 lookup 3129' || true)
rules6=$(in_sbx ip -6 rule show | grep -c 'fwmark 0x4e585554 lookup 3129' || true)
routes=$(in_sbx ip route show table 3129 | grep -c '^local default dev lo' || true)
routes6=$(in_sbx ip -6 route show table 3129 | grep -c '^local default dev lo' || true)
if [[ "$rules $rules6 $routes $routes6" == "1 1 1 1" ]]; then
  echo "ok   policy routing installed once per family"
else
  echo "FAIL: policy routing rules/routes v4 v6: $rules $rules6 $routes $routes6 (expected one each)" >&2
  failures=$((failures + 1))
fi
in_sbx "$lockdown" apply --mode tproxy
rules=$(in_sbx ip rule show | grep -c 'fwmark 0x4e585554' || true)
[[ $rules -eq 1 ]] || { echo "FAIL: $rules fwmark rules after a second apply" >&2; failures=$((failures + 1)); }
in_sbx "$lockdown" show | grep -q 'policy routing (tproxy)' ||
  { echo "FAIL: show does not mention the policy routing" >&2; failures=$((failures + 1)); }

echo "== switching to redirect mode removes the policy routing"
in_sbx "$lockdown" apply --mode redirect
left=$(in_sbx ip rule show | grep -c 'fwmark 0x4e585554' || true)
left6=$(in_sbx ip -6 route show table 3129 | grep -c local || true)
[[ "$left $left6" == "0 0" ]] || { echo "FAIL: tproxy routing left behind in redirect mode" >&2; failures=$((failures + 1)); }

echo "== remove takes the routing with it"
in_sbx "$lockdown" apply --mode tproxy
in_sbx "$lockdown" remove
left=$(in_sbx ip rule show | grep -c 'fwmark 0x4e585554' || true)
left6=$(in_sbx ip -6 rule show | grep -c 'fwmark 0x4e585554' || true)
[[ "$left $left6" == "0 0" ]] || { echo "FAIL: fwmark rules left after remove" >&2; failures=$((failures + 1)); }
expect "ok outside local=10.199.0.2:8080 *" "tcp reaches the outside again" -- tcp 10.199.0.2 8080
finish
