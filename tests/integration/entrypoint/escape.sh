#!/usr/bin/env bash
# lens-entrypoint runs a workload that tries to escape the sandbox: direct
# TCP, IPv6, UDP, DoT, setting the trusted socket mark, reading the policy
# (it holds secrets) or the CA key, listing the state directory, deleting the cage, and
# resolving a denied name. Every attempt fails. The network ones are
# audited: DNS by lens-dns, TCP by lens-tproxy, what the kernel refuses (UDP,
# DoT, and a datagram sent after the failed mark and nft attempts) by
# lens-lockdown watch with the workload's uid. File access is refused by
# permissions (EACCES) and not audited. The workload's exit status comes back
# exactly (0, 3, 77, 143 after SIGTERM), and nothing is left.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../netns.sh"
command -v setpriv >/dev/null || skip "needs setpriv (util-linux)"
command -v nft >/dev/null || skip "needs the nft program (the workload tries to use it)"
entrypoint=$source_dir/scripts/lens-entrypoint
user=nobody
id "$user" >/dev/null 2>&1 || skip "needs the user $user"
state=$work/state

cat >"$work/policy.json" <<'JSON'
{"network": {"defaultVerdict": "deny", "defaultTransport": "upstream",
  "egress": {"http": [{"match": "allowed.test", "verdict": "allow", "transport": "upstream"}]}},
 "env": {"GREETING": "it's a \"test\""},
 "files": [{"path": "/tmp/lens-entrypoint-test/config", "content": "from the policy\n", "mode": 384}]}
JSON
cp "$probe_py" "$(dirname "${BASH_SOURCE[0]}")/escape.py" "$work/"
chmod 0755 "$work"
chmod 0644 "$work"/*.py
start_outside_servers
rm -rf /tmp/lens-entrypoint-test

# ep ARGS...: lens-entrypoint in the sandbox namespace, as the test's caller sees it.
ep() {
  rm -rf /tmp/lens-entrypoint-test
  in_sbx "$entrypoint" --bin-dir "$bin_dir" --user "$user" --policy "$work/policy.json" --state-dir "$state" "$@"
}

echo "== escape attempts"
out=$(ep -- "$python" "$work/escape.py" "$state")
echo "$out" | sed 's/^/     /'
for name in tcp-direct tcp-ipv6 udp-direct dot set-mark read-policy read-ca-key list-state nft dns-denied; do
  line=$(grep "^$name " <<<"$out" || true)
  check "$name fails ($line)" -- bash -c "[[ '$line' == '$name blocked '* ]]"
done
check "the denied lookup was audited (dns-denied)" -- \
  grep -q '"action":"DNS denied.test".*"reason":"dns-denied"' "$state/audit.log"
# audited SOURCE ACTION REASON: an event of the workload's user with these fields.
audited() {
  "$python" - "$state/audit.log" "$@" "$(id -u "$user")" <<'PY'
import json, sys
log, source, action, reason, uid = sys.argv[1:]
for line in open(log):
    e = json.loads(line)
    m = e.get("metadata", {})
    if (e.get("source"), e.get("action"), e.get("result"), m.get("reason")) == (source, action, "failure", reason):
        if source != "lens-lockdown" or str(m.get("uid")) == uid:
            sys.exit(0)
sys.exit(1)
PY
}
check "the UDP datagram was audited by lens-lockdown watch, with the workload's uid" -- \
  audited lens-lockdown "UDP 10.199.0.2:9000" kernel-refused
check "the DoT connection too" -- audited lens-lockdown "TCP 10.199.0.2:853" dot-refused
check "after the refused mark, its datagram too" -- audited lens-lockdown "UDP 10.199.0.2:9001" kernel-refused
check "after the refused nft, its datagram too" -- audited lens-lockdown "UDP 10.199.0.2:9002" kernel-refused
check "the direct TCP connection was audited by lens-tproxy" -- \
  grep -q '"source":"lens-tproxy","action":"TRANSPARENT 10.199.0.2:8080",.*"result":"failure".*"reason":"unknown-protocol"' "$state/audit.log"
check "the IPv6 one too" -- \
  grep -q '"source":"lens-tproxy","action":"TRANSPARENT \[fd99::2\]:8080",.*"result":"failure".*"reason":"unknown-protocol"' "$state/audit.log"

echo "== the workload's environment and files"
trust_variables=(SSL_CERT_FILE REQUESTS_CA_BUNDLE CURL_CA_BUNDLE NODE_EXTRA_CA_CERTS GIT_SSL_CAINFO AWS_CA_BUNDLE PIP_CERT
  CARGO_HTTP_CAINFO DENO_CERT NPM_CONFIG_CAFILE GRPC_DEFAULT_SSL_ROOTS_FILE_PATH)
out=$(ep -- sh -c 'echo "user=$(id -un) greeting=$GREETING proxy=$HTTPS_PROXY"; cat /tmp/lens-entrypoint-test/config;
  grep -E "^(CapEff|CapBnd|NoNewPrivs)" /proc/self/status | tr -s "\t" " "
  echo "mode=$(stat -c %a /tmp/lens-entrypoint-test/config) owner=$(stat -c %U /tmp/lens-entrypoint-test/config)"
  for v in '"${trust_variables[*]}"'; do
    eval "f=\$$v"; echo "$v=$f certificates=$(grep -c "BEGIN CERTIFICATE" "$f")"; done
  echo "java=$JAVA_TOOL_OPTIONS"
  echo "store=$(openssl pkcs12 -in '"$state"'/ca/truststore.p12 -passin pass:changeit -nokeys | grep -c "BEGIN CERTIFICATE")"
  echo "ca-key=$(cat '"$state"'/ca/ca.key 2>&1 >/dev/null | grep -o "Permission denied")"')
has() { grep -q -- "$1" <<<"$out"; }
check "runs as $user" -- has "^user=$user "
check "the policy's env, quotes intact" -- has 'greeting=it'"'"'s a "test" '
check "the proxy variables" -- has "proxy=http://127.0.0.1:3128"
check "the policy's file" -- has "^from the policy$"
check "the file belonged to $user with mode 0600" -- has "^mode=600 owner=$user$"
check "no effective capabilities" -- has "CapEff: 0000000000000000"
check "an empty bounding set" -- has "CapBnd: 0000000000000000"
check "no_new_privs" -- has "NoNewPrivs: 1"
roots=$(grep -c "BEGIN CERTIFICATE" /etc/ssl/certs/ca-certificates.crt)
for v in "${trust_variables[@]}"; do
  [[ $v != NODE_EXTRA_CA_CERTS ]] || continue
  check "$v names the bundle of the system roots and the lens CA" -- \
    has "^$v=$state/ca/bundle.pem certificates=$((roots + 1))$"
done
check "NODE_EXTRA_CA_CERTS names the lens CA" -- has "^NODE_EXTRA_CA_CERTS=$state/ca/ca.crt certificates=1$"
check "JAVA_TOOL_OPTIONS names the Java trust store" -- \
  has "^java=-Djavax.net.ssl.trustStore=$state/ca/truststore.p12 -Djavax.net.ssl.trustStoreType=PKCS12 "
check "and the proxy, which the JVM reads nowhere else" -- \
  has " -Dhttps.proxyHost=127.0.0.1 -Dhttps.proxyPort=3128 .*-Dhttp.nonProxyHosts=localhost|"
check "the workload reads the trust store: the system roots and the lens CA" -- has "^store=$((roots + 1))$"
check "the workload cannot read the CA key" -- has "^ca-key=Permission denied$"
check "the bundle ends with the CA lens-proxy made" -- \
  bash -c "tail -n $(wc -l <"$state/ca/ca.crt") '$state/ca/bundle.pem' | cmp - '$state/ca/ca.crt'"

echo "== exit statuses"
for code in 0 3 77; do
  rc=0
  ep -- sh -c "exit $code" 2>/dev/null || rc=$?
  check "exit $code comes back" -- test "$rc" -eq "$code"
done
# Directly (nsenter execs it), so the signal goes to lens-entrypoint itself.
rm -rf /tmp/lens-entrypoint-test
nsenter --net="/run/netns/$sbx" "$entrypoint" --bin-dir "$bin_dir" --user "$user" --policy "$work/policy.json" \
  --state-dir "$state" -- sleep 30 2>"$work/term.err" &
ep_pid=$!
for _ in $(seq 1 100); do
  pgrep -u "$user" -x sleep >/dev/null && break
  sleep 0.1
done
kill -TERM "$ep_pid"
rc=0
wait "$ep_pid" || rc=$?
check "SIGTERM reaches the workload: exit 143" -- test "$rc" -eq 143
rm -rf /tmp/lens-entrypoint-test

echo "== nothing left behind"
none() { ! "$@"; }
check "no cage" -- none grep -q lens_sandbox <<<"$(in_sbx nft list tables)"
check "no daemon" -- none pgrep -f "$state"
check "no workload process" -- none pgrep -u "$user" -x sleep
finish
