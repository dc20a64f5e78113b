#!/usr/bin/env bash
# lens-lockdown watch against ulogd2 (NFLOG input, JSON file output), the
# peer, reading the same NFLOG group in a network namespace of their own,
# one after the other within each round.
#
#   bench/lockdown/watch.sh [--rounds N] [--rate PPS] [--seconds S]
#
# A rule in the namespace's output hook logs every UDP datagram to ports
# 1024-65535 to the group (no kernel rate limit, prefix "lens:deny: ") and
# drops it; a paced sender sends RATE datagrams a second for S seconds, each
# to the next port (lens-lockdown folds repeated identical refusals within
# 10 s into a count, so every datagram is made a different one). Each consumer
# turns a logged packet into one JSON line in a file. Reported, as medians
# over the rounds: the share of the datagrams that became lines (the rest
# were lost to socket overruns) and the consumer's CPU time (utime + stime
# from /proc) per line. Needs root, ulogd2 and ulogd2-json.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
rounds=5
rate=20000
seconds=3  # at most 64,512 datagrams: one per port
while (($#)); do
  case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --quick) rounds=1; rate=2000; seconds=1; shift ;;
    -h | --help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "watch.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ $(id -u) -eq 0 ]] || { echo "watch.sh: needs root" >&2; exit 77; }
plugins=/usr/lib/x86_64-linux-gnu/ulogd
command -v ulogd >/dev/null && [[ -e $plugins/ulogd_output_JSON.so ]] ||
  { echo "watch.sh: needs ulogd2 and ulogd2-json (apt-get install ulogd2 ulogd2-json)" >&2; exit 77; }
tool=${LENS_LOCKDOWN:-$root/build/cmd/lens-lockdown}
[[ -x $tool ]] || { echo "watch.sh: $tool is not built (or set LENS_LOCKDOWN)" >&2; exit 2; }
group=3199
ns=lens-bench-watch-$$
work=$(mktemp -d)
consumer=""
cleanup() {
  [[ -z $consumer ]] || kill "$consumer" 2>/dev/null || true
  wait 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
ip netns add "$ns"
ip -n "$ns" link set lo up
nsenter --net="/run/netns/$ns" nft -f - <<NFT
table inet lens_bench_watch {
  chain out {
    type filter hook output priority 0; policy accept;
    udp dport 1024-65535 log prefix "lens:deny: " group $group drop
  }
}
NFT

cat >"$work/ulogd.conf" <<CONF
[global]
logfile="$work/ulogd.log"
loglevel=5
plugin="$plugins/ulogd_inppkt_NFLOG.so"
plugin="$plugins/ulogd_raw2packet_BASE.so"
plugin="$plugins/ulogd_filter_IP2STR.so"
plugin="$plugins/ulogd_output_JSON.so"
stack=log1:NFLOG,base1:BASE,ip2str1:IP2STR,json1:JSON
[log1]
group=$group
netlink_socket_buffer_size=4194304
[json1]
file="$work/ulogd.json"
sync=0
CONF

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
lines() { if [[ -e $1 ]]; then wc -l <"$1"; else echo 0; fi; }

# run NAME OUTPUT COMMAND...: one round of one consumer; prints "sent lines cpu_us".
run() {
  local name=$1 output=$2
  shift 2
  rm -f "$output" "$work/ready"
  nsenter --net="/run/netns/$ns" "$@" >"$work/$name.out" 2>&1 &
  consumer=$!
  for ((i = 0; i < 100; i++)); do
    if [[ $name == lens ]]; then [[ -e $work/ready ]] && break; else grep -q "initialization finished" "$work/ulogd.log" 2>/dev/null && break; fi
    sleep 0.05
  done
  sleep 0.2
  local before sent after n last
  before=$(cpu_ticks "$consumer")
  sent=$(nsenter --net="/run/netns/$ns" python3 - "$rate" "$seconds" <<'PY'
import socket, sys, time
rate, seconds = int(sys.argv[1]), float(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sent, start, batch = 0, time.monotonic(), max(1, rate // 1000)
while True:
    now = time.monotonic() - start
    if now >= seconds:
        break
    due = int(now * rate)
    while sent < due:
        for _ in range(batch):
            try:
                s.sendto(b"x", ("127.0.0.1", 1024 + sent % 64512))
            except OSError:
                pass  # the rule drops it: EPERM
            sent += 1
    time.sleep(0.0005)
print(sent)
PY
)
  # Until the consumer has written what it will write.
  last=-1
  for ((i = 0; i < 100; i++)); do
    n=$(lines "$output")
    [[ $n -ge $sent || $n -eq $last ]] && break
    last=$n
    sleep 0.2
  done
  after=$(cpu_ticks "$consumer")
  kill "$consumer"
  wait "$consumer" 2>/dev/null || true
  consumer=""
  n=$(lines "$output")
  echo "$sent $n $(((after - before) * 1000000 / $(getconf CLK_TCK)))"
}

: >"$work/lens.rows"
: >"$work/ulogd.rows"
for ((r = 0; r < rounds; r++)); do
  echo "round $((r + 1))/$rounds" >&2
  run lens "$work/lens.json" "$tool" watch --log-group "$group" --audit "$work/lens.json" --state-dir "$work" \
    --ready-file "$work/ready" --log-level warn >>"$work/lens.rows"
  rm -f "$work/ulogd.log"
  run ulogd "$work/ulogd.json" ulogd -c "$work/ulogd.conf" >>"$work/ulogd.rows"
done

echo "| consumer | datagrams sent (median) | lines written | lost | CPU µs per line | vs lens-lockdown watch |"
echo "|---|---:|---:|---:|---:|---:|"
python3 - "$work/lens.rows" "$work/ulogd.rows" <<'PY'
import statistics, sys
def load(path):
    rows = [list(map(int, l.split())) for l in open(path) if l.strip()]
    sent = statistics.median(r[0] for r in rows)
    written = statistics.median(r[1] for r in rows)
    per = statistics.median(r[2] / r[1] for r in rows if r[1])
    lost = statistics.median(max(0, r[0] - r[1]) / r[0] for r in rows)
    return sent, written, lost, per
lens = load(sys.argv[1])
for name, row in (("lens-lockdown watch", lens), ("ulogd2 (NFLOG, JSON)", load(sys.argv[2]))):
    sent, written, lost, per = row
    print(f"| {name} | {sent:,.0f} | {written:,.0f} | {lost:.1%} | {per:.2f} | {per / lens[3]:.2f}x |")
PY
