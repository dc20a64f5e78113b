# Sourced by bench/mitm/run.sh --h2, after its namespaces, nginx, dnsmasq
# and lens-proxy (interception, method/path rules, --http2 always) are up. Measures HTTP/2 from the client to the proxy, the origin side
# staying HTTP/1.1 (nginx here offers no h2):
#   - h2: h2load, 8 connections with 100 concurrent streams each, GETs of
#     the 1 KiB file for --seconds, through lens-proxy and through a
#     mitmdump of its own ("mitmdump-h2", connection_strategy=lazy and
#     upstream_cert=false: otherwise it connects to the origin first and
#     offers the client the origin's ALPN, http/1.1 here); and through
#     lens-proxy with 16 streams per connection. h2load has no proxy
#     option: it connects (--connect-to) to a CONNECT relay in front of
#     each proxy (relay.py below: CONNECT origin.test:8443, then splice
#     both ways); the relays are alike and their CPU is not counted;
#   - h2o: the same through a second lens-proxy with --http2 on (the
#     default: origin first) and through the same mitmdump, to nginx's
#     HTTP/2 server (port 8444): h2 from the client to the origin;
#   - h1: lens-proxy's HTTP/1.1 keep-alive figure of run.sh (mitm_load, 8
#     connections, one request in flight on each, no relay);
#   - bulk: one download of the big file through lens-proxy with curl over
#     h2 and over HTTP/1.1 (the same client, no relay); a download that
#     moves less than 1 MB/s for 5 s is given up and counted as stalled.
# Targets alternate within each round (the request figures in one
# rotation, the two downloads in another); medians over the rounds.
# shellcheck shell=bash disable=SC2154,SC2034  # the variables are run.sh's (BENCH_KEEP is read by its cleanup)

command -v h2load >/dev/null || apt_install nghttp2-client || true
command -v h2load >/dev/null || { echo "run.sh: h2load is missing (apt-get install nghttp2-client)" >&2; exit 77; }
curl -V | grep -q 'HTTP2' || { echo "run.sh: this curl has no HTTP/2" >&2; exit 77; }

cat >"$work/relay.py" <<'PY'
# relay.py PORT PROXY_PORT TARGET READY_FILE: accepts on 127.0.0.1:PORT,
# opens a tunnel to TARGET through the proxy on 127.0.0.1:PROXY_PORT with
# CONNECT, then moves the bytes both ways with splice (kernel to kernel).
import fcntl, os, socket, sys, threading
port, proxy_port, target, ready = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]

def pump(src, dst, both):
    r, w = os.pipe()
    fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, 1 << 20)
    clean = False
    try:
        while True:
            n = os.splice(src.fileno(), w, 1 << 20)
            if n == 0:
                clean = True
                break
            while n:
                n -= os.splice(r, dst.fileno(), n)
    except OSError:
        pass
    finally:
        os.close(r)
        os.close(w)
        # An end of stream goes on to the other side; an error ends both.
        for s, how in [(dst, socket.SHUT_WR)] if clean else [(s, socket.SHUT_RDWR) for s in both]:
            try:
                s.shutdown(how)
            except OSError:
                pass

def serve(client):
    with client, socket.create_connection(("127.0.0.1", proxy_port)) as up:
        up.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = up.recv(4096)
            if not chunk:
                return
            head += chunk
        head, rest = head.split(b"\r\n\r\n", 1)
        if head.split(None, 2)[1:2] != [b"200"]:
            print("relay: the proxy answered", head.split(b"\r\n")[0].decode(errors="replace"), file=sys.stderr)
            return
        if rest:
            client.sendall(rest)
        for s in (client, up):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        back = threading.Thread(target=pump, args=(up, client, (client, up)), daemon=True)
        back.start()
        pump(client, up, (client, up))
        back.join()

listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", port))
listener.listen(1024)
open(ready, "w").close()
while True:
    conn, _ = listener.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
PY

# A second lens-proxy, --http2 on (origin first), for the h2 origin.
cp -r "$work/lens" "$work/lens-on"
start lens_on "$cli" "$lens" --state-dir "$work/lens-on" --listen 127.0.0.1:3135 --policy "$work/policy.json" \
  --origin-ca "$work/ca.crt" --audit off --log-level warn --max-connections 100000 --idle-timeout 600 \
  --resolver 10.202.0.2
wait_port "$cli" 127.0.0.1 3135
port[lens-on]=3135
pidof[lens-on]=$pid_lens_on
h2_targets=(lens lens-on)
declare -A relay_port=([lens]=4431 [lens-on]=4433)
declare -A relay_target=([lens]=origin.test:8443 [lens-on]=origin.test:8444)
if [[ " ${names[*]} " == *" mitmdump "* ]]; then
  echo "nameserver 10.202.0.2" >"$work/resolv.conf"
  mkdir -p "$work/mitm-h2"
  cp "$work/mitm"/mitmproxy-ca* "$work/mitm-h2/" 2>/dev/null || true
  # shellcheck disable=SC2016  # expanded by the inner bash
  start mitmdump_h2 "$cli" unshare --mount --propagation private bash -c 'mount --bind "$1" /etc/resolv.conf && shift && exec "$@"' \
    _ "$work/resolv.conf" mitmdump --mode regular --listen-host 127.0.0.1 --listen-port 3134 -q \
    --set confdir="$work/mitm-h2" --set ssl_verify_upstream_trusted_ca="$work/ca.crt" --set stream_large_bodies=1m \
    --set http2=true --set connection_strategy=lazy --set upstream_cert=false
  wait_port "$cli" 127.0.0.1 3134
  port[mitmdump-h2]=3134
  pidof[mitmdump-h2]=$pid_mitmdump_h2
  relay_port[mitmdump-h2]=4432
  relay_target[mitmdump-h2]=origin.test:8443
  # The same mitmdump toward nginx's HTTP/2 server.
  port[mitmdump-h2o]=3134
  pidof[mitmdump-h2o]=$pid_mitmdump_h2
  relay_port[mitmdump-h2o]=4434
  relay_target[mitmdump-h2o]=origin.test:8444
  h2_targets+=(mitmdump-h2 mitmdump-h2o)
fi
for t in "${h2_targets[@]}"; do
  rm -f "$work/relay-$t.ready"
  start "relay_${t//-/_}" "$cli" python3 "$work/relay.py" "${relay_port[$t]}" "${port[$t]}" "${relay_target[$t]}" "$work/relay-$t.ready"
  for ((i = 0; i < 200; i++)); do [[ -e $work/relay-$t.ready ]] && break; sleep 0.05; done
  [[ -e $work/relay-$t.ready ]] || { echo "run.sh: the relay for $t did not start; see $work/relay_${t//-/_}.log" >&2; BENCH_KEEP=1; exit 1; }
done

h2load_run() {  # h2load_run TARGET OUTPUT STREAMS ARGS...: h2load through TARGET's relay
  local t=$1 out=$2 streams=$3
  shift 3
  in_cli h2load -t 1 -c 8 -m "$streams" "$@" --connect-to="127.0.0.1:${relay_port[$t]}" "https://${relay_target[$t]}/small" \
    >"$out" 2>&1 || true
}
# h2load_fields FILE: the figures of an h2load output as key=value.
h2load_fields() {
  awk '/^finished in/ { sub(/s,$/, "", $3); s = $3 }
    /^requests:/ { ok = $8; failed = $10; errored = $12 }
    /^status codes:/ { c2 = $3; c3 = $5; c4 = $7; c5 = $9 }
    /^Application protocol:/ { proto = $3 }
    END { printf "seconds=%s ok=%d failed=%d errored=%d s2xx=%d s3xx=%d s4xx=%d s5xx=%d proto=%s\n",
      s + 0, ok, failed, errored, c2, c3, c4, c5, (proto == "" ? "none" : proto) }' "$1"
}
bulk_run() {  # bulk_run HTTPVERSION-OPTION [PATH]: curl through lens-proxy, the big file
  in_cli curl -sS "$1" -o /dev/null -x http://127.0.0.1:3128 --cacert "${cafile[lens]}" --speed-limit 1000000 --speed-time 5 \
    -w 'proto=%{http_version} code=%{http_code} bytes=%{size_download} start=%{time_pretransfer} end=%{time_total}\n' \
    "https://origin.test:8443${2:-/big}"
}

# Each target must answer 800 requests over h2 before the rounds.
working_h2=()
for t in "${h2_targets[@]}"; do
  h2load_run "$t" "$work/check-h2-$t.out" 100 -n 800
  fields=$(h2load_fields "$work/check-h2-$t.out")
  if [[ $fields == *" s2xx=800 "* && $fields == *proto=h2* ]]; then
    working_h2+=("$t")
  else
    echo "run.sh: $t fails 800 requests over h2 ($fields), left out; see $work/check-h2-$t.out" >&2
    [[ $t != lens ]] || { BENCH_KEEP=1; exit 1; }
  fi
done
bulk_check=$(bulk_run --http2 /small 2>&1) || true
[[ $bulk_check == "proto=2 code=200 "* ]] || { echo "run.sh: curl --http2 through lens-proxy: $bulk_check" >&2; BENCH_KEEP=1; exit 1; }

# peak_origin FILE: the most TCP sockets in use in the server namespace
# (nginx's connections, its listener and dnsmasq's), sampled until killed.
peak_origin() {
  local n max=0
  while :; do
    # shellcheck disable=SC2016  # awk's $3
    n=$(nsenter --net="/run/netns/$srv" awk '/^TCP:/ { print $3 }' /proc/net/sockstat)
    if ((n > max)); then max=$n; echo "$max" >"$1"; fi
    sleep 0.2
  done
}

# h2: 100 streams per connection; h2s16: 16 (fewer requests waiting for
# one of the 6 origin connections a client connection's streams share).
# h2o: the targets toward nginx's HTTP/2 server.
rate_jobs=(h2s16:lens h1:lens)
for t in "${working_h2[@]}"; do
  case $t in
    lens-on | mitmdump-h2o) rate_jobs+=("h2o:$t") ;;
    *) rate_jobs+=("h2:$t") ;;
  esac
done
bulk_jobs=(h2 h1.1)
: >"$work/results"
for ((r = 0; r < rounds; r++)); do
  echo "round $((r + 1))/$rounds" >&2
  for ((i = 0; i < ${#rate_jobs[@]}; i++)); do
    job=${rate_jobs[$(((i + r) % ${#rate_jobs[@]}))]}
    kind=${job%%:*} t=${job#*:}
    pid=${pidof[$t]}
    opens=$(origin_opens)
    echo 0 >"$work/peak"
    peak_origin "$work/peak" &
    sampler=$!
    pids+=("$sampler")
    before=$(cpu_ticks "$pid")
    if [[ $kind == h2* ]]; then
      out=$work/h2load-$kind-$t-$r.out
      h2load_run "$t" "$out" "$([[ $kind == h2s16 ]] && echo 16 || echo 100)" -D "$seconds"
      line=$(h2load_fields "$out")
    else
      line=$(run_load "$t" keepalive --path /small --concurrency 8 --seconds "$seconds" 2>>"$work/load-$t.err")
      line=${line#keepalive }
    fi
    after=$(cpu_ticks "$pid")
    opens=$(($(origin_opens) - opens))
    kill "$sampler"
    wait "$sampler" 2>/dev/null || true
    peak=$(cat "$work/peak")
    echo "$kind $t $line ticks=$((after - before)) origin=$opens peak_origin=$peak" >>"$work/results"
    echo "  $kind $t $line, cpu ticks $((after - before)), origin connections $opens (at most $peak open)" >&2
    sleep 1  # let the TIME_WAIT sockets of the burst settle
  done
  for ((i = 0; i < ${#bulk_jobs[@]}; i++)); do
    v=${bulk_jobs[$(((i + r) % ${#bulk_jobs[@]}))]}
    echo 5 >"/proc/$pid_lens/clear_refs"  # resets VmHWM
    before=$(cpu_ticks "$pid_lens")
    line=$(bulk_run "--http${v#h}" 2>>"$work/bulk.err") || line="${line:-proto=0 code=0 bytes=0 start=0 end=0} stalled=1"
    after=$(cpu_ticks "$pid_lens")
    peak=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid_lens/status")
    echo "bulk-$v lens $line ticks=$((after - before)) peak_kb=$peak" >>"$work/results"
    echo "  bulk $v lens $line, cpu ticks $((after - before)), peak RSS $peak kB" >&2
  done
done

kill -0 "$pid_lens" 2>/dev/null || echo "run.sh: lens-proxy exited during the run; see $work/lens.log" >&2
[[ -z ${pid_mitmdump_h2:-} ]] || kill -0 "$pid_mitmdump_h2" 2>/dev/null || echo "run.sh: mitmdump-h2 exited during the run; see $work/mitmdump_h2.log" >&2
for f in "$work/bulk.err" "$work/load-lens.err" "$work/relay_lens.log" "$work/relay_mitmdump_h2.log" "$work/lens.log"; do
  [[ -s $f ]] || continue
  echo "run.sh: $(basename "$f") (first lines):" >&2
  head -5 "$f" >&2
done

mitm_version=$(mitmdump --version 2>/dev/null | sed -n 's/^Mitmproxy: //p')
python3 - "$work/results" "$hz" "$rounds" "$seconds" "$big_mib" "${mitm_version:-?}" <<'PY'
import statistics, sys
path, hz, rounds, seconds, big_mib, mitm_v = sys.argv[1:]
hz = int(hz)
data = {}
for line in open(path):
    kind, target, *fields = line.split()
    data.setdefault((kind, target), []).append(dict(f.split("=", 1) for f in fields))

def ok(r):  # requests answered 2xx (h2load) or done (mitm_load)
    return int(r["s2xx"]) if "s2xx" in r else int(r["done"])
rate = lambda r: ok(r) / float(r["seconds"]) if float(r["seconds"]) > 0 else None
cpu_us = lambda r: int(r["ticks"]) / hz / ok(r) * 1e6 if ok(r) else None
origin = lambda r: int(r["origin"]) / ok(r) if ok(r) else None
bad = lambda r: int(r.get("s4xx", 0)) + int(r.get("s5xx", 0)) + int(r.get("failed", 0)) + int(r.get("errors", 0))
s5xx = lambda r: int(r.get("s5xx", 0))
done = lambda r: "stalled" not in r and r["code"] == "200" and int(r["bytes"]) > 0
mbps = lambda r: int(r["bytes"]) / (float(r["end"]) - float(r["start"])) / 1e6 if done(r) else None
cpu_gib = lambda r: int(r["ticks"]) / hz / (int(r["bytes"]) / 2**30) if int(r["bytes"]) else None

def med(key, fn):
    vals = [v for v in map(fn, data.get(key, [])) if v is not None]
    return statistics.median(vals) if vals else None
def paired(a, b, fn):  # per-round ratios fn(b)/fn(a), rounds in order
    xs = [(fn(x), fn(y)) for x, y in zip(data.get(a, []), data.get(b, []))]
    return [y / x for x, y in xs if x and y]
fmt = lambda v, f: "-" if v is None else format(v, f)
span = lambda xs: f" [{min(xs):.2f}-{max(xs):.2f}]" if xs else ""

rows = [(("h2", "lens"), "lens-proxy --http2 always, h2 (h2load -c 8 -m 100)"),
        (("h2", "mitmdump-h2"), f"mitmdump {mitm_v}, h2 (h2load -c 8 -m 100)"),
        (("h2o", "lens-on"), "lens-proxy --http2 on, nginx speaking h2: h2 both sides (-c 8 -m 100)"),
        (("h2o", "mitmdump-h2o"), f"mitmdump {mitm_v}, nginx speaking h2 (-c 8 -m 100)"),
        (("h2s16", "lens"), "lens-proxy, h2, 16 streams per connection (h2load -c 8 -m 16)"),
        (("h1", "lens"), "lens-proxy, HTTP/1.1 keep-alive (mitm_load, 8 connections)")]
print(f"Medians over {rounds} round(s), targets alternating; GET 1 KiB from nginx (TLS 1.3; HTTP/1.1 on 8443, "
      f"h2 on 8444 for the h2o rows) for {seconds} s per figure; h2load through a CONNECT relay, mitm_load straight to the proxy; proxy CPU = user + system time "
      "of the proxy process (not the relay's).\n")
print("| target | protocol | req/s | vs mitmdump h2 | 4xx/5xx/failed (of which 5xx) | proxy CPU µs/req | origin conns per req | origin sockets open, peak |")
print("|---|---|---:|---:|---:|---:|---:|---:|")
ref = med(("h2", "mitmdump-h2"), rate)
ref_o = med(("h2o", "mitmdump-h2o"), rate)
for key, title in rows:
    if key not in data:
        continue
    protos = sorted({r.get("proto", "http/1.1") for r in data[key]})
    v = med(key, rate)
    base = ref if key[0] == "h2" else ref_o if key[0] == "h2o" else None
    rel = f"{v / base:.1f}x" if v and base else "-"
    print(f"| {title} | {','.join(protos)} | {fmt(v, ',.0f')} | {rel} | {fmt(med(key, bad), '.0f')} ({fmt(med(key, s5xx), '.0f')}) | "
          f"{fmt(med(key, cpu_us), ',.0f')} | {fmt(med(key, origin), '.3f')} | "
          f"{fmt(max(int(r['peak_origin']) for r in data[key]), ',d')} |")
print()
print(f"**bulk: one {big_mib} MiB download through lens-proxy with curl; MB/s, CPU and RSS of the completed ones**\n")
print("| protocol | completed | MB/s | proxy CPU s/GiB | peak RSS MiB |")
print("|---|---:|---:|---:|---:|")
stalled = {}
for v, title in (("h2", "h2 (curl --http2)"), ("h1.1", "HTTP/1.1 (curl --http1.1)")):
    key = (f"bulk-{v}", "lens")
    rs = data.get(key, [])
    stalled[v] = [r for r in rs if not done(r)]
    only = lambda fn: lambda r: fn(r) if done(r) else None
    print(f"| {title} | {len(rs) - len(stalled[v])} of {len(rs)} | {fmt(med(key, mbps), ',.0f')} | "
          f"{fmt(med(key, only(cpu_gib)), '.2f')} | {fmt(med(key, only(lambda r: int(r['peak_kb']) / 1024)), ',.0f')} |")
for v in stalled:
    if stalled[v]:
        got = ", ".join(f"{int(r['bytes']) / 2**20:.0f} MiB" for r in stalled[v])
        print(f"\nStalled over {'h2' if v == 'h2' else 'HTTP/1.1'} (given up after 5 s under 1 MB/s) at: {got} of {big_mib} MiB.")
print()

met = lambda c: "met" if c else "NOT met"
lens_h2, lens_h1 = med(("h2", "lens"), rate), med(("h1", "lens"), rate)
h2_mb, h1_mb = med(("bulk-h2", "lens"), mbps), med(("bulk-h1.1", "lens"), mbps)
print("Targets (issue), ratio of the medians [per-round range]:\n")
if lens_h2 and ref:
    x = paired(("h2", "mitmdump-h2"), ("h2", "lens"), rate)
    print(f"- lens h2 req/s at least 5x mitmdump h2: {met(lens_h2 >= 5 * ref)} ({lens_h2 / ref:.1f}x{span(x)})")
else:
    print("- lens h2 req/s at least 5x mitmdump h2: not measured (no mitmdump)")
lens_o = med(("h2o", "lens-on"), rate)
if lens_o and ref_o:
    x = paired(("h2o", "mitmdump-h2o"), ("h2o", "lens-on"), rate)
    print(f"- (beyond the issue) origin first, h2 both sides, lens vs mitmdump: {lens_o / ref_o:.1f}x{span(x)}")
if lens_h2 and lens_h1:
    x = paired(("h1", "lens"), ("h2", "lens"), rate)
    print(f"- lens h2 req/s at least its HTTP/1.1 keep-alive req/s: {met(lens_h2 >= lens_h1)} ({lens_h2 / lens_h1:.2f}x{span(x)})")
if h2_mb and h1_mb:
    x = paired(("bulk-h1.1", "lens"), ("bulk-h2", "lens"), mbps)
    n = len(stalled["h2"])
    verdict = met(h2_mb >= 0.8 * h1_mb and not n)
    why = f"; {n} of {len(data[('bulk-h2', 'lens')])} h2 downloads stalled" if n else ""
    print(f"- bulk over h2 at least 0.8x HTTP/1.1: {verdict} ({h2_mb / h1_mb:.2f}x{span(x)} over the completed ones{why})")
elif stalled.get("h2"):
    print("- bulk over h2 at least 0.8x HTTP/1.1: NOT met (every h2 download stalled)")
PY
