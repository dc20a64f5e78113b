#!/usr/bin/env bash
# HTTP/1.0 and HTTP/1.1 through lens-proxy's forward door, both ways round:
# origins that speak HTTP/1.0 (one request per connection) and HTTP/1.1
# (keep-alive), each sending the hop-by-hop fields a proxy must drop
# (Connection: X-Hop, X-Hop, Keep-Alive); clients that speak HTTP/1.0 with
# Connection: Keep-Alive (ApacheBench -k, a raw socket) and HTTP/1.1 (curl,
# two URLs on one connection). Clients see the proxy's own version
# (HTTP/1.1, RFC 9112 section 2.3) and its own connection management (RFC
# 9110 section 7.6.1), never the origin's; no interim response reaches an
# HTTP/1.0 client (RFC 9110 section 15.2).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../netns.sh"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

command -v ab >/dev/null || skip "needs ApacheBench (Debian package apache2-utils)"

start_dns_upstream
serve_py "$outside" origin11 origin --listen 10.199.0.2:8080 --hop-headers
serve_py "$outside" origin10 origin --listen 10.199.0.2:8010 --http10 --hop-headers
write_policy '{"network": {"defaultVerdict": "allow", "defaultTransport": "direct"}}'
start_proxy

# exchange REQUEST...: sends each request (printf escapes) on one connection
# from the sandbox through the proxy, reading one response after each (the
# head, then Content-Length bytes); prints the heads and then "closed" or
# "open" for what the proxy did with the connection after the last one.
exchange() {
  in_sbx "$python" - "$@" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", 3128), timeout=10)
f = s.makefile("rb")
for request in sys.argv[1:]:
    s.sendall(request.encode().decode("unicode_escape").encode("latin-1"))
    length = 0
    interim = False
    while True:
        line = f.readline()
        if not line:
            print("closed")
            sys.exit(0)
        sys.stdout.write(line.decode("latin-1").replace("\r\n", "\n"))
        if line in (b"\r\n", b"\n"):
            if interim:
                interim = False
                continue
            break
        if line.startswith(b"HTTP/"):
            interim = line.split(b" ")[1].startswith(b"1")
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    f.read(length)
s.settimeout(1)
try:
    print("closed" if f.read(1) == b"" else "more bytes")
except socket.timeout:
    print("open")
PY
}

# lacks_fields TEXT NAMES: TEXT has no header field whose name matches the
# extended regex NAMES (case-insensitive).
lacks_fields() { ! grep -Eiq "^($2):" <<<"$1"; }

# no_hop_fields TEXT: no field the origin meant for its own hop got through.
no_hop_fields() { lacks_fields "$1" 'keep-alive|x-hop|proxy-connection|te|trailer|upgrade'; }

# status_lines TEXT: the status lines of TEXT, one per line.
status_lines() { grep -E '^HTTP/' <<<"$1" | tr -d '\r'; }

for origin in 8010 8080; do
  kind=$([[ $origin == 8010 ]] && echo HTTP/1.0 || echo HTTP/1.1)
  url=http://origin.test:$origin

  echo "== $kind origin, HTTP/1.1 client: curl, two URLs on one connection"
  out=$(in_sbx curl -sS --max-time 10 --http1.1 --proxy http://127.0.0.1:3128 -D - -o /dev/null \
    -w 'connects=%{num_connects}\n' "$url/one" "$url/two" 2>&1 || true)
  check "both answered HTTP/1.1 200" -- test "$(status_lines "$out")" == $'HTTP/1.1 200 OK\nHTTP/1.1 200 OK'
  check "no hop-by-hop field of the origin's, no Connection field" -- \
    lacks_fields "$out" 'keep-alive|x-hop|connection'
  check "the second URL reused the first one's connection" -- \
    test "$(grep -c '^connects=' <<<"$out"):$(grep '^connects=' <<<"$out" | tail -1)" == "2:connects=0"

  echo "== $kind origin, HTTP/1.0 client with Connection: Keep-Alive"
  req="GET $url/big/10 HTTP/1.0\r\nHost: origin.test\r\nConnection: Keep-Alive\r\n\r\n"
  out=$(exchange "$req" "$req")
  check "both answered HTTP/1.1 200" -- test "$(status_lines "$out")" == $'HTTP/1.1 200 OK\nHTTP/1.1 200 OK'
  check "each told Connection: keep-alive, once" -- test "$(grep -ci '^connection:' <<<"$out")" -eq 2
  check "... and nothing else" -- test "$(grep -i '^connection:' <<<"$out" | sort -u)" == "Connection: keep-alive"
  check "no hop-by-hop field of the origin's" -- no_hop_fields "$out"
  check "the connection stays open after the second" -- test "$(tail -1 <<<"$out")" == open

  echo "== $kind origin, HTTP/1.0 client without keep-alive"
  out=$(exchange "GET $url/big/10 HTTP/1.0\r\nHost: origin.test\r\n\r\n")
  check "told Connection: close, and closed" -- \
    test "$(grep -i '^connection:' <<<"$out"):$(tail -1 <<<"$out")" == "Connection: close:closed"
  check "status line HTTP/1.1" -- test "$(status_lines "$out")" == "HTTP/1.1 200 OK"
  check "no hop-by-hop field of the origin's" -- no_hop_fields "$out"

  echo "== $kind origin, interim responses"
  out=$(exchange "GET $url/hints HTTP/1.0\r\nHost: origin.test\r\nConnection: keep-alive\r\n\r\n")
  check "an HTTP/1.0 client gets no 103, only the final answer" -- \
    test "$(status_lines "$out")" == "HTTP/1.1 200 OK"
  out=$(exchange "GET $url/hints HTTP/1.1\r\nHost: origin.test\r\n\r\n")
  check "an HTTP/1.1 client gets the 103, then the final answer" -- \
    test "$(status_lines "$out")" == $'HTTP/1.1 103 Early Hints\nHTTP/1.1 200 OK'

  echo "== $kind origin, ApacheBench -k (HTTP/1.0, Connection: Keep-Alive)"
  in_sbx ab -k -n 200 -c 4 -s 10 -X 127.0.0.1:3128 "$url/big/100" >"$work/ab.$origin" 2>&1 || true
  complete=$(awk '/^Complete requests:/ {print $3}' "$work/ab.$origin")
  failed=$(awk '/^Failed requests:/ {print $3}' "$work/ab.$origin")
  kept=$(awk '/^Keep-Alive requests:/ {print $3}' "$work/ab.$origin")
  check "200 complete, 0 failed, none non-2xx (complete=$complete failed=$failed)" -- \
    bash -c "[[ '$complete' == 200 && '$failed' == 0 ]] && ! grep -q '^Non-2xx' '$work/ab.$origin'"
  check "keep-alive requests > 0 (got $kept)" -- test "${kept:-0}" -gt 0
done

if ((failures > 0)); then
  echo "--- proxy stderr" >&2
  cat "$work/proxy.err" >&2
  for f in "$work"/ab.*; do
    echo "--- $f" >&2
    cat "$f" >&2
  done
  echo "FAIL: $failures check(s) failed" >&2
  exit 1
fi
echo "PASS"
