#!/usr/bin/env bash
# Raw-allow sets: a policy's CIDR rules let exactly their address and port
# out; a dynamic element with a timeout works until it expires; re-applying
# with a new policy replaces the static elements and keeps the dynamic ones.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../netns.sh"
command -v nft >/dev/null || skip "needs the nft program to stand in for lens-dns"

start_outside_servers
serve "$sbx" transparent --tcp 127.0.0.1:3129 --tcp '[::1]:3129'

cat >"$work/policy.json" <<'JSON'
{
  "network": {
    "defaultVerdict": "deny",
    "defaultTransport": "upstream",
    "egress": {
      "tcp": [
        { "match": "10.199.0.3:5432", "verdict": "deny" },
        { "match": "10.199.0.0/24:5432", "verdict": "allow" },
        { "match": "[fd99::2]:5432", "verdict": "allow" }
      ],
      "udp": [
        { "match": "10.199.0.2:9000", "verdict": "allow" },
        { "match": "10.199.0.3:9000", "verdict": "allow", "binaries": ["/usr/bin/nc"] }
      ]
    }
  }
}
JSON
in_sbx "$lockdown" apply --policy "$work/policy.json"

echo "== static elements from the policy"
expect "ok outside local=10.199.0.2:5432 *" "tcp 10.199.0.2:5432 leaves directly (CIDR rule)" -- tcp 10.199.0.2 5432
expect "ok transparent * orig=10.199.0.3:5432" "tcp 10.199.0.3:5432 is proxied (an earlier deny)" -- tcp 10.199.0.3 5432
expect "ok transparent * orig=10.199.0.2:8080" "tcp 10.199.0.2:8080 is proxied (other port)" -- tcp 10.199.0.2 8080
expect "ok outside local=[[]fd99::2]:5432 *" "tcp [fd99::2]:5432 leaves directly" -- tcp fd99::2 5432
expect "ok transparent * orig=[[]fd99::3]:5432" "tcp [fd99::3]:5432 is proxied" -- tcp fd99::3 5432
expect "ok outside local=10.199.0.2:9000 *" "udp 10.199.0.2:9000 leaves (IP rule)" -- udp 10.199.0.2 9000
expect "$refused" "udp 10.199.0.2:9001 is refused (other port)" -- udp 10.199.0.2 9001
expect "$refused" "udp 10.199.0.3:9000 is refused (rule restricted to binaries)" -- udp 10.199.0.3 9000

echo "== a dynamic element with a timeout (as lens-dns pins it)"
in_sbx nft add element inet lens_sandbox raw4 '{ 10.199.0.3 . udp . 9001 timeout 3s }'
in_sbx nft add element inet lens_sandbox raw6 '{ fd99::3 . udp . 9001 timeout 60s }'
expect "ok outside local=10.199.0.3:9001 *" "udp 10.199.0.3:9001 leaves while pinned" -- udp 10.199.0.3 9001
expect "ok outside local=[[]fd99::3]:9001 *" "udp [fd99::3]:9001 leaves while pinned" -- udp fd99::3 9001

echo "== re-apply with a new policy: static replaced, dynamic kept"
cat >"$work/policy2.json" <<'JSON'
{
  "network": {
    "defaultVerdict": "deny",
    "defaultTransport": "upstream",
    "egress": {
      "tcp": [{ "match": "10.199.0.0/24:5432", "verdict": "allow" }],
      "udp": [{ "match": "10.199.0.3:9000", "verdict": "allow" }]
    }
  }
}
JSON
in_sbx "$lockdown" apply --policy "$work/policy2.json"
expect "$refused" "udp 10.199.0.2:9000 no longer allowed" -- udp 10.199.0.2 9000
expect "ok outside local=10.199.0.3:9000 *" "udp 10.199.0.3:9000 now allowed" -- udp 10.199.0.3 9000
expect "ok outside local=[[]fd99::3]:9001 *" "the dynamic v6 element survived the re-apply" -- udp fd99::3 9001

echo "== the 3 s element expires"
sleep 3.5
expect "$refused" "udp 10.199.0.3:9001 refused after its timeout" -- udp 10.199.0.3 9001

echo "== an invalid policy changes nothing"
echo '{"network": {"defaultVerdict": "maybe"}}' >"$work/bad.json"
in_sbx "$lockdown" show >"$work/before"
set +e
in_sbx "$lockdown" apply --policy "$work/bad.json" 2>"$work/err"
rc=$?
set -e
in_sbx "$lockdown" show >"$work/after"
if [[ $rc -eq 3 ]] && grep -q 'bad.json:1:' "$work/err" &&
  diff <(sed 's/packets [0-9]* bytes [0-9]*//; s/expires [0-9a-z]*//' "$work/before") \
    <(sed 's/packets [0-9]* bytes [0-9]*//; s/expires [0-9a-z]*//' "$work/after") >/dev/null; then
  echo "ok   invalid policy: exit 3, located error, cage unchanged"
else
  echo "FAIL: invalid policy: exit $rc, stderr: $(cat "$work/err")" >&2
  failures=$((failures + 1))
fi
finish
