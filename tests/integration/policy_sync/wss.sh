#!/usr/bin/env bash
# wss://: the server certificate, issued by a CA made here with openssl, is
# trusted with --ca-file (on top of the system roots) and its name checked;
# without --ca-file, or with a name the certificate does not hold, the TLS
# handshake fails and lens-policy-sync keeps retrying (a TLS error is not a
# refusal).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/sync_lib.sh"
command -v openssl >/dev/null || skip "needs openssl"

pki=$work/pki
mkdir -p "$pki"
ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
openssl req -x509 "${ec[@]}" -keyout "$pki/ca.key" -out "$pki/ca.crt" -days 2 -subj "/CN=lens test CA $$" \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
openssl req "${ec[@]}" -keyout "$pki/server.key" -out "$pki/server.csr" -subj "/CN=localhost" 2>/dev/null
printf 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$pki/ext"
openssl x509 -req -in "$pki/server.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
  -out "$pki/server.crt" -days 2 -extfile "$pki/ext" 2>/dev/null

cp=$work/cp
start_fixture "$cp" --tls-cert "$pki/server.crt" --tls-key "$pki/server.key"

LENS_TOKEN=x start_sync trusted --url "wss://localhost:$port/sync" --ca-file "$pki/ca.crt" --state-dir "$work/s1"
[[ $(field "$cp" '{"cmd":"wait_clients","count":1,"timeout":10}' ok) == True ]] && pass "wss with --ca-file connects" ||
  fail "no wss connection: $(cat "$work/trusted.err")"
ctl "$cp" '{"cmd":"push","frame":{"type":"policy","network":{"defaultVerdict":"deny","defaultTransport":"direct"}}}' >/dev/null
[[ $(field "$cp" '{"cmd":"wait_received","type":"policy_applied","count":1,"timeout":10}' ok) == True ]] &&
  pass "a policy over wss is applied" || fail "no policy_applied over wss"
kill -TERM "$sync_pid"
wait_exit "$sync_pid"

# untrusted NAME URL [ARGS...]: the handshake fails, is logged, and retried.
untrusted() {
  local name=$1 url=$2
  shift 2
  LENS_TOKEN=x start_sync "$name" --url "$url" --state-dir "$work/$name" "$@"
  retried() { test "$(grep -c 'cannot connect to .*retrying in' "$work/$name.err")" -ge 2; }
  if wait_for 6 retried; then
    pass "$name: refused and retried: $(grep -m1 -o 'TLS: .*; retrying' "$work/$name.err" | cut -c1-150)"
  else
    fail "$name: $(cat "$work/$name.err")"
  fi
  kill -0 "$sync_pid" 2>/dev/null && pass "$name: still running (a TLS failure is retried)" || fail "$name: exited"
  kill -TERM "$sync_pid"
  wait_exit "$sync_pid"
}
untrusted no-ca-file "wss://localhost:$port/sync"
untrusted wrong-name "wss://127.0.0.1:$port/sync" --ca-file "$pki/ca.crt"
[[ $(field "$cp" '{"cmd":"status"}' connections) == 1 ]] && pass "no untrusted handshake reached the server" ||
  fail "an untrusted connection got through"
finish
