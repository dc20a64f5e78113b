# lens-proxy in the sandbox namespace, with origins, a DNS server and
# upstream proxies in the outside one (source after ../lib.sh and
# ../netns.sh).
#
# outside: dnsmasq on 10.199.0.2:53 (names below), an HTTP origin on
# 10.199.0.2:8080 and [fd99::2]:8080, an HTTPS origin on 10.199.0.2:8443
# (certificate for origin.test from a CA made here: $work/ca.crt).
# sandbox: lens-proxy on 127.0.0.1:3128 (start_proxy).

command -v curl >/dev/null || skip "needs curl"
command -v dnsmasq >/dev/null || skip "needs dnsmasq (Debian package dnsmasq-base)"
command -v openssl >/dev/null || skip "needs openssl"
proxy=$bin_dir/lens-proxy
[[ -x $proxy ]] || skip "lens-proxy is not built"
servers_py=$source_dir/tests/integration/proxy/servers.py

# make_cert NAME SAN: a key and certificate signed by the test CA.
make_cert() {
  local name=$1 san=$2
  openssl req -new -newkey rsa:2048 -nodes -keyout "$work/$name.key" -subj "/CN=$name" -out "$work/$name.csr" 2>/dev/null
  printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\n' "$san" >"$work/$name.ext"
  openssl x509 -req -in "$work/$name.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" -CAcreateserial \
    -days 2 -extfile "$work/$name.ext" -out "$work/$name.crt" 2>/dev/null
}

make_certs() {
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/ca.key" -subj "/CN=lens test CA" -days 2 \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign -out "$work/ca.crt" 2>/dev/null
  make_cert origin "DNS:origin.test,IP:10.199.0.2"
  make_cert upstream "DNS:proxy.test,IP:10.199.0.3"
}

start_dns_upstream() {
  nsenter --net="/run/netns/$outside" dnsmasq --keep-in-foreground --port=53 --listen-address=10.199.0.2 --bind-interfaces \
    --no-resolv --no-hosts --pid-file="$work/dnsmasq.pid" \
    --host-record=origin.test,10.199.0.2 --host-record=other.test,10.199.0.2 --host-record=deny.test,10.199.0.3 \
    --host-record=proxy.test,10.199.0.3 --host-record=v6.test,fd99::2 \
    --host-record=lo.test,127.0.0.1 --host-record=meta.test,169.254.169.254 \
    --host-record=mixed.test,10.199.0.2 --host-record=mixed.test,127.0.0.1 \
    --host-record=dead.test,10.199.0.9 \
    --host-record=sqs.eu-west-1.aws.test,10.199.0.2 --host-record=s3.eu-west-1.aws.test,10.199.0.2 &
  pids+=($!)
  local i
  for ((i = 0; i < 100; i++)); do
    in_sbx "$python" -c 'import socket,sys; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.settimeout(0.2); s.sendto(bytes.fromhex("00010100000100000000000006"+b"origin".hex()+"04"+b"test".hex()+"0000010001"),("10.199.0.2",53)); s.recv(512)' 2>/dev/null && return 0
    sleep 0.05
  done
  echo "FAIL: dnsmasq did not start" >&2
  exit 1
}

# start_dns_for NAME...: dnsmasq in "outside" answering each NAME with
# 10.199.0.2 and nothing else (a test's own origins), waiting until the
# first one resolves.
start_dns_for() {
  local records=() name
  for name in "$@"; do records+=("--host-record=$name,10.199.0.2"); done
  nsenter --net="/run/netns/$outside" dnsmasq --keep-in-foreground --port=53 --listen-address=10.199.0.2 \
    --bind-interfaces --no-resolv --no-hosts --pid-file="$work/dnsmasq.pid" "${records[@]}" &
  pids+=($!)
  wait_for 5 in_sbx "$python" -c 'import socket, sys; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(0.2)
q = b"".join(bytes([len(l)]) + l.encode() for l in sys.argv[1].split(".")) + b"\x00"
s.sendto(bytes.fromhex("000101000001000000000000") + q + b"\x00\x01\x00\x01", ("10.199.0.2", 53)); s.recv(512)' \
    "$1" 2>/dev/null || { echo "FAIL: dnsmasq did not start" >&2; exit 1; }
}

# serve_py NS TAG ARGS...: servers.py in NS, waiting for its ready file.
serve_py() {
  local ns=$1 tag=$2
  shift 2
  local ready=$work/ready.$tag
  nsenter --net="/run/netns/$ns" "$python" "$servers_py" "$@" --ready "$ready" 2>>"$work/$tag.err" &
  pids+=($!)
  wait_ready "$ready" "$tag (see $work/$tag.err)"
}

start_origins() {
  serve_py "$outside" origin4 origin --listen 10.199.0.2:8080
  serve_py "$outside" origin6 origin --listen '[fd99::2]:8080'
  serve_py "$outside" origins origin --listen 10.199.0.2:8443 --tls "$work/origin.crt" "$work/origin.key"
}

# start_proxy ARGS...: lens-proxy in the sandbox on 127.0.0.1:3128, waiting
# for its ready file; its stderr goes to $work/proxy.err.
start_proxy() {
  rm -f "$work/proxy.ready"
  mkdir -p "$work/state"
  nsenter --net="/run/netns/$sbx" "$proxy" --state-dir "$work/state" --listen 127.0.0.1:3128 --resolver 10.199.0.2 --policy "$work/policy.json" \
    --audit "$work/audit.log" --ready-file "$work/proxy.ready" "$@" 2>>"$work/proxy.err" &
  proxy_pid=$!
  pids+=("$proxy_pid")
  local i
  for ((i = 0; i < 100; i++)); do
    [[ -e $work/proxy.ready ]] && return 0
    kill -0 "$proxy_pid" 2>/dev/null || break
    sleep 0.05
  done
  echo "FAIL: lens-proxy did not become ready: $(cat "$work/proxy.err")" >&2
  exit 1
}

stop_proxy() {
  kill -TERM "$proxy_pid" 2>/dev/null || true
  wait "$proxy_pid" 2>/dev/null || true
}

# pc ARGS...: curl in the sandbox through lens-proxy; prints the body, or
# with -w the format. Never fails (the checks look at what it printed).
pc() { in_sbx curl -sS --max-time 10 --proxy http://127.0.0.1:3128 "$@" 2>&1 || true; }

# status ARGS...: the HTTP status curl saw through the proxy (for CONNECT
# refusals, the proxy's answer to CONNECT).
status() { in_sbx curl -s -o /dev/null --max-time 10 --proxy http://127.0.0.1:3128 -w '%{http_code}' "$@" 2>/dev/null || true; }

# connect_status ARGS...: the proxy's status for curl's CONNECT (https URLs).
connect_status() { in_sbx curl -s -o /dev/null --max-time 10 --proxy http://127.0.0.1:3128 -w '%{http_connect}' "$@" 2>/dev/null || true; }

# raw HOST PORT TEXT: send TEXT (printf escapes) on a plain TCP connection
# from the sandbox and print what comes back until the peer closes.
raw() {
  in_sbx "$python" -c '
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
s.sendall(sys.argv[3].encode().decode("unicode_escape").encode("latin-1"))
out = b""
try:
    while True:
        d = s.recv(65536)
        if not d:
            break
        out += d
except socket.timeout:
    out += b"<timeout>"
sys.stdout.write(out.decode(errors="replace"))
' "$@"
}

# audit_event WHAT -- CONDITION: some decision event of the audit log makes the
# python CONDITION true (e: the event, m: its metadata).
audit_event() {
  check "$1" -- "$python" -c '
import json, sys
events = [json.loads(line) for line in open(sys.argv[1])]
decisions = [e for e in events if e.get("metadata", {}).get("phase") == "decision"]
sys.exit(0 if any(eval(sys.argv[2], {}, {"e": e, "m": e["metadata"]}) for e in decisions) else 1)' \
    "$work/audit.log" "$3"
}

# audit_has PATTERN: some line of the audit log matches the extended regex.
audit_has() { grep -Eq "$1" "$work/audit.log"; }
