#!/usr/bin/env bash
# HTTP/2 inside interception. With --http2 always, curl --http2 opens
# several streams on one connection, one refused by a path rule while the
# others succeed; each stream is judged, audited and relayed to the
# HTTP/1.1 origin by the same pipeline as an HTTP/1.1 request (bodies with
# and without a length, a 2 MiB download through the flow control windows,
# response trailers, 421 for an :authority other than the connection's
# host); h2load as a load client; a hostile client (h2_client.py: rapid
# reset, CONTINUATION flood, oversized header block, SETTINGS flood) gets
# GOAWAY and an audit event while the proxy's memory and CPU time stay
# bounded. With --http2 on (the default) the origin is asked first: an
# HTTP/1.1 origin gives curl HTTP/1.1, an HTTP/2 one (nghttpd) h2 on the
# connection dialled during the handshake, a client of h2 only is
# translated, and an origin that does not answer leaves the offer at h2
# and HTTP/1.1. A WebSocket over HTTP/2 (RFC 8441, h2_client.py websocket)
# is judged as its HTTP/1.1 handshake and echoes through an HTTP/1.1
# origin. --http2 off keeps HTTP/1.1.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../netns.sh"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
"$python" -c 'import h2' 2>/dev/null || skip "needs python3-h2"
in_sbx curl -V | grep -q HTTP2 || skip "curl has no HTTP/2"

make_certs
start_dns_upstream
serve_py "$outside" origins origin --listen 10.199.0.2:8443 --tls "$work/origin.crt" "$work/origin.key" \
  --log "$work/origin.log"

mkdir -p "$work/state"
"$proxy" ca init --state-dir "$work/state" >/dev/null
lens_ca=$work/state/ca/ca.crt
cat >"$work/policy.json" <<'JSON'
{"type": "policy", "network": {"defaultVerdict": "deny", "defaultTransport": "direct", "egress": {"http": [
  {"match": "origin.test:8443", "verdict": "allow", "transport": "direct",
   "rules": [{"method": "GET", "path": "/api/**"}, {"method": "GET", "path": "/big/**"},
             {"method": "GET", "path": "/trailers"}, {"method": "POST", "path": "/upload"},
             {"method": "GET", "path": "/"}]},
  {"match": "origin.test:9444", "verdict": "allow", "transport": "direct", "rules": [{"method": "GET", "path": "/**"}]},
  {"match": "origin.test:9445", "verdict": "allow", "transport": "direct", "rules": [{"method": "GET", "path": "/**"}]},
  {"match": "origin.test:8765", "verdict": "allow", "transport": "direct", "rules": [{"method": "GET", "path": "/ws"}]}]}}}
JSON
start_proxy --origin-ca "$work/ca.crt" --http2 always

# h2c ARGS...: curl --http2 through the proxy trusting only the lens CA.
h2c() { in_sbx curl -sS --max-time 20 --http2 --proxy http://127.0.0.1:3128 --cacert "$lens_ca" "$@" 2>&1 || true; }

echo "== several streams on one connection"
out=$(h2c -Z -w '%{http_code} %{http_version} %{url_effective}\n' -o /dev/null -o /dev/null \
  -o /dev/null -o /dev/null https://origin.test:8443/api/a https://origin.test:8443/api/b \
  https://origin.test:8443/private https://origin.test:8443/api/c | sort -k3)
echo "$out" >"$work/parallel.out"
check "four streams: /api/a, /api/b, /api/c 200 over HTTP/2, /private refused 403" -- has_lines "$out" \
  '^200 2 https://origin.test:8443/api/a$' '^200 2 https://origin.test:8443/api/b$' \
  '^200 2 https://origin.test:8443/api/c$' '^403 2 https://origin.test:8443/private$'
check "the refused stream never reached the origin" -- \
  bash -c "grep -q '^GET /api/c ' '$work/origin.log' && ! grep -q ' /private ' '$work/origin.log'"
out=$(h2c -i https://origin.test:8443/private)
check "the refusal is an HTTP/2 403 with x-lens-reason" -- has_lines "$out" '^HTTP/2 403' '^x-lens-reason: http-rule-denied'
out=$(h2c -o /dev/null -o /dev/null -w '%{http_code} %{num_connects}\n' https://origin.test:8443/api/x https://origin.test:8443/api/y)
check "two requests in a row reuse the one HTTP/2 connection" -- test "$(tr '\n' ' ' <<<"$out")" = "200 1 200 0 "

echo "== bodies, downloads, trailers"
out=$(h2c -X POST --data-binary 'hello' https://origin.test:8443/upload)
check "a POST with a length: the body arrives" -- grep -q '^body-bytes=5$' <<<"$out"
out=$(head -c 300000 /dev/zero | h2c -X POST -T - https://origin.test:8443/upload)
check "a POST without a length (chunked to the origin): 300000 bytes arrive" -- grep -q '^body-bytes=300000$' <<<"$out"
out=$(h2c -o "$work/big" -w '%{http_code} %{size_download}' https://origin.test:8443/big/2097152)
check "a 2 MiB download arrives whole through the windows" -- test "$out" = "200 2097152"
out=$(h2c --max-time 30 --limit-rate 4M -o /dev/null -w '%{http_code} %{size_download}' https://origin.test:8443/big/20000000)
check "a 20 MB download to a client slower than the origin (curl --limit-rate) arrives whole" -- \
  test "$out" = "200 20000000"
out=$(in_sbx "$python" "$source_dir/tests/integration/proxy/h2_client.py" --proxy 127.0.0.1:3128 --ca "$lens_ca" \
  --connect origin.test:8443 get /trailers 2>&1 || true)
out2=$(in_sbx "$python" "$source_dir/tests/integration/proxy/h2_client.py" --proxy 127.0.0.1:3128 --ca "$lens_ca" \
  --connect origin.test:8443 get /big/3000000 2>&1 || true)
check "a client with 64 KiB windows (python3-h2) gets a 3 MB download whole" -- grep -q '^body-bytes 3000000$' <<<"$out2"
check "response trailers arrive as HTTP/2 trailers" -- has_lines "$out" '^status 200$' '^trailer x-checksum: c0ffee$'
out=$(h2c -o /dev/null -w '%{http_code}' -H 'Host: other.test:8443' https://origin.test:8443/api/a)
check ":authority other than the connection's host: 421" -- test "$out" = 421

echo "== audit"
audit_event "each stream has its decision event (door connect, mitm, status)" -- \
  'e["action"] == "GET https://origin.test:8443/api/c" and m.get("mitm") is True and m.get("status_code", e.get("statusCode")) in (200, None)'
audit_event "the refused stream's event" -- \
  'e["action"] == "GET https://origin.test:8443/private" and m.get("reason") == "http-rule-denied"'
check "the connection's close event counts its streams (four, one connection)" -- audit_has \
  '"action":"CONNECT origin.test:8443".*"phase":"close".*"requests":4,"mitm":true'

echo "== load: h2load through a CONNECT shim"
# h2load has no proxy option: --connect-to a local relay that CONNECTs.
cat >"$work/shim.py" <<'PY'
import socket, sys, threading
listen, proxy, target = sys.argv[1], sys.argv[2], sys.argv[3]
def pump(a, b):
    try:
        while (d := a.recv(65536)):
            b.sendall(d)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
def serve(c):
    host, port = proxy.rsplit(":", 1)
    p = socket.create_connection((host, int(port)))
    p.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += p.recv(1)
    threading.Thread(target=pump, args=(c, p), daemon=True).start()
    pump(p, c)
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
h, port = listen.rsplit(":", 1)
s.bind((h, int(port)))
s.listen(64)
open(sys.argv[4], "w").close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
if in_sbx sh -c 'command -v h2load' >/dev/null; then
  nsenter --net="/run/netns/$sbx" "$python" "$work/shim.py" 127.0.0.1:4443 127.0.0.1:3128 origin.test:8443 \
    "$work/shim.ready" &
  pids+=($!)
  wait_ready "$work/shim.ready" shim
  # (A client's streams share at most 6 HTTP/1.1 connections to one origin:
  # the other requests wait for one, so 80 concurrent streams make 24.)
  in_sbx h2load -n 800 -c 4 -m 20 --connect-to=127.0.0.1:4443 https://origin.test:8443/api/load \
    >"$work/h2load.out" 2>&1 || true
  check "h2load: 800 requests over 4 connections, 20 streams each, all 2xx" -- \
    grep -Eq '^status codes: 800 2xx, 0 3xx, 0 4xx, 0 5xx' "$work/h2load.out"
  check "... negotiated h2" -- grep -q 'Application protocol: h2' "$work/h2load.out"
else
  echo "skip h2load: not installed (Debian package nghttp2-client)"
fi

echo "== a hostile client"
hc() {
  in_sbx "$python" "$source_dir/tests/integration/proxy/h2_client.py" --proxy 127.0.0.1:3128 --ca "$lens_ca" \
    --connect origin.test:8443 "$@" 2>&1 || true
}
# cpu_ticks: the proxy's CPU time so far (user + system, clock ticks).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$proxy_pid/stat"; }
ticks_before=$(cpu_ticks)
before=$(wc -l <"$work/origin.log")
out=$(hc rapid-reset 2000)
# (python3-h2 may stop at a frame for a stream it reset before it reads
# the GOAWAY: the end of the connection is what is checked, the reason is
# the audit event's.)
check "rapid reset (2000 streams opened and reset): the connection ends" -- grep -Eq '^(goaway ENHANCE_YOUR_CALM|closed)' <<<"$out"
check "... audited as h2-rapid-reset" -- audit_has '"reason":"h2-rapid-reset"'
after=$(wc -l <"$work/origin.log")
check "... and far fewer requests than streams reached the origin" -- test $((after - before)) -lt 1000
out=$(hc continuation-flood 200)
check "CONTINUATION flood: GOAWAY" -- grep -q '^goaway' <<<"$out"
check "... audited as h2-continuation-flood" -- audit_has '"reason":"h2-continuation-flood"'
out=$(hc big-header 40000)
check "a header block over --max-header-size: 431 for that stream, the next stream answered" -- \
  has_lines "$out" '^stream 1 status 431$' '^stream 3 status 200$'
out=$(hc settings-flood 20000)
check "SETTINGS flood without reading the answers: the connection ends" -- grep -Eq '^(goaway|closed)' <<<"$out"
# (A sanitized build's shadow memory is counted too: a wider bound there.)
hwm_bound=65536
[[ -n ${ASAN_OPTIONS:-} ]] && hwm_bound=1048576
check "the proxy's peak memory stayed under $((hwm_bound / 1024)) MiB" -- \
  bash -c "test \$(awk '/^VmHWM/ {print \$2}' /proc/$proxy_pid/status) -lt $hwm_bound"
# (CPU time, not elapsed time: what the floods cost the proxy, whatever
# else the machine does. A sanitized build is several times slower.)
ticks=$(($(cpu_ticks) - ticks_before))
echo "hostile clients cost the proxy $ticks CPU ticks of $(getconf CLK_TCK)/s"
cpu_bound=$((2 * $(getconf CLK_TCK)))
[[ -n ${ASAN_OPTIONS:-} ]] && cpu_bound=$((6 * cpu_bound))
check "the four hostile clients cost the proxy under $((cpu_bound / $(getconf CLK_TCK))) s of CPU" -- test "$ticks" -lt "$cpu_bound"
out=$(h2c -o /dev/null -w '%{http_code} %{http_version}' https://origin.test:8443/api/still)
check "... and it still serves HTTP/2" -- test "$out" = "200 2"

echo "== origin first (--http2 on, the default)"
stop_proxy
start_proxy --origin-ca "$work/ca.crt"
# stat NAME: a counter of the proxy's (SIGUSR1 writes them to its stderr).
stat() {
  local before i
  before=$(grep -c "\"$1\":" "$work/proxy.err" || true)
  kill -USR1 "$proxy_pid"
  for ((i = 0; i < 100; i++)); do
    (($(grep -c "\"$1\":" "$work/proxy.err" || true) > before)) && break
    sleep 0.05
  done
  grep -o "\"$1\":[0-9]*" "$work/proxy.err" | tail -n 1 | cut -d: -f2
}
out=$(h2c -o /dev/null -w '%{http_code} %{http_version}' https://origin.test:8443/api/first)
check "curl --http2 to an HTTP/1.1 origin gets HTTP/1.1, as without the proxy" -- test "$out" = "200 1.1"
check "... offered what the origin chose (h2_origin_first counts it)" -- test "$(stat h2_origin_first)" = 1
out=$(in_sbx "$python" "$source_dir/tests/integration/proxy/h2_client.py" --proxy 127.0.0.1:3128 --ca "$lens_ca" \
  --connect origin.test:8443 get /api/only-h2 2>&1 || true)
check "a client of h2 only gets h2, translated to the HTTP/1.1 origin" -- grep -q '^status 200$' <<<"$out"
out=$(h2c -o /dev/null -w '%{http_code} %{http_version}' https://origin.test:9445/nothing-listens)
check "an origin that does not answer: h2 offered, and the request told 502" -- test "$out" = "502 2"
if command -v nghttpd >/dev/null; then
  mkdir -p "$work/htdocs"
  echo hello >"$work/htdocs/a"
  echo world >"$work/htdocs/b"
  nsenter --net="/run/netns/$outside" nghttpd -v --htdocs="$work/htdocs" --address=10.199.0.2 9444 \
    "$work/origin.key" "$work/origin.crt" >"$work/nghttpd.log" 2>&1 &
  pids+=($!)
  wait_for 5 in_sbx bash -c 'exec 3<>/dev/tcp/10.199.0.2/9444' 2>/dev/null || true
  out=$(h2c -w '%{http_code} %{http_version}\n' https://origin.test:9444/a https://origin.test:9444/b)
  check "curl --http2 to an HTTP/2 origin (nghttpd) gets h2, both requests answered" -- \
    test "$(tr '\n' ' ' <<<"$out")" = "hello 200 2 world 200 2 "
  # (nghttpd -v names each connection's frames [id=N]; the readiness probe's has no request.)
  sessions=$(grep -a ':path:' "$work/nghttpd.log" | grep -o '^\[id=[0-9]*\]' | sort -u | wc -l)
  check "... over the one origin connection dialled during the client's handshake" -- test "$sessions" = 1
  if in_sbx sh -c 'command -v h2load' >/dev/null; then
    # Every answer's bytes give the origin session's connection window back,
    # also those buffered when their stream ended (12 MB through 8 MiB).
    head -c 4096 /dev/urandom >"$work/htdocs/4k"
    nsenter --net="/run/netns/$sbx" "$python" "$work/shim.py" 127.0.0.1:4444 127.0.0.1:3128 origin.test:9444 \
      "$work/shim-h2.ready" &
    pids+=($!)
    wait_ready "$work/shim-h2.ready" shim
    in_sbx timeout 60 h2load -n 3000 -c 1 -m 20 -N 10 --connect-to=127.0.0.1:4444 https://origin.test:9444/4k \
      >"$work/h2load-origin.out" 2>&1 || true
    check "3000 answers of 4 KiB through one HTTP/2 origin session (past its 8 MiB window): all 2xx" -- \
      grep -Eq '^status codes: 3000 2xx, 0 3xx, 0 4xx, 0 5xx' "$work/h2load-origin.out"
  fi
else
  echo "skip nghttpd: not installed (Debian package nghttp2-server)"
fi

echo "== WebSockets over HTTP/2 (RFC 8441 extended CONNECT)"
if "$python" -c 'import websockets' 2>/dev/null; then
  nsenter --net="/run/netns/$outside" "$python" "$source_dir/tests/integration/proxy/ws_echo.py" server \
    --listen 10.199.0.2:8765 --tls "$work/origin.crt" "$work/origin.key" --ready "$work/ws.ready" &
  pids+=($!)
  wait_ready "$work/ws.ready" "WebSocket origin"
  wsc() {
    in_sbx "$python" "$source_dir/tests/integration/proxy/h2_client.py" --proxy 127.0.0.1:3128 --ca "$lens_ca" \
      --connect origin.test:8765 websocket "$1" 2>&1 || true
  }
  out=$(wsc /ws)
  check "the proxy offers extended CONNECT (SETTINGS_ENABLE_CONNECT_PROTOCOL 1)" -- \
    grep -q '^enable-connect-protocol 1$' <<<"$out"
  check "a WebSocket over HTTP/2: 200, echoes both ways through an HTTP/1.1 origin, ends with the stream" -- \
    test "$(tr '\n' ' ' <<<"$out")" = "enable-connect-protocol 1 status 200 echo ping 1 echo ping 2 stream-ended "
  check "... judged and audited as the WebSocket handshake (101)" -- \
    audit_has '"action":"GET https://origin.test:8765/ws".*"status_code":101'
  out=$(wsc /other)
  check "a WebSocket on a path the rules do not cover: 403 on its stream" -- grep -q '^status 403$' <<<"$out"
else
  echo "skip WebSockets over HTTP/2: python3-websockets is not installed"
fi

echo "== --http2 off"
stop_proxy
start_proxy --origin-ca "$work/ca.crt" --http2 off
out=$(h2c -o /dev/null -w '%{http_code} %{http_version}' https://origin.test:8443/api/a)
check "curl --http2 gets HTTP/1.1" -- test "$out" = "200 1.1"
in_sbx openssl s_client -proxy 127.0.0.1:3128 -connect origin.test:8443 -servername origin.test -alpn h2 \
  -CAfile "$lens_ca" </dev/null >"$work/alpn.out" 2>&1 || true
check "a client offering only h2 gets an alert" -- grep -qi 'no application protocol' "$work/alpn.out"
check "... and an audit event saying why" -- audit_has '"reason":"alpn-unsupported"'

finish
