#!/usr/bin/env bash
# Scale of lens-policy-sync: N clients (default 200) against one control-plane
# fixture (tests/integration/policy_sync/control_plane.py, python3-websockets)
# receive a policy push; reports how long until every one has installed it
# and acknowledged it (policy_applied seen by the server), and the memory of
# each process. Not a ctest: timings depend on the machine.
#
#   bench/policy_sync/run.sh [--clients N] [--rules N] [--bin DIR]
#
# --bin defaults to build/cmd. The markdown table goes to stdout, progress to
# stderr.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
clients=200
rules=1000
bin=$root/build/cmd
while (($# > 0)); do
  case $1 in
    --clients) clients=$2; shift 2 ;;
    --rules) rules=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    -h | --help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
sync_bin=$bin/lens-policy-sync
[[ -x $sync_bin ]] || { echo "run.sh: $sync_bin is not built" >&2; exit 1; }
fixture=$root/tests/integration/policy_sync/control_plane.py
source "$(dirname "$fixture")/find_python.sh"
[[ -n $py ]] || { echo "run.sh: needs python3 with websockets (python3-websockets)" >&2; exit 1; }

work=$(mktemp -d)
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
ctl() { "$py" "$fixture" ctl "$work/cp" "$1"; }
now() { date +%s.%N; }
ms() { "$py" -c "print('%.0f' % ((float('$2') - float('$1')) * 1000))"; }

mkdir -p "$work/cp"
"$py" "$fixture" serve --dir "$work/cp" >"$work/cp/log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [[ -s $work/cp/port ]] && break; sleep 0.05; done
port=$(cat "$work/cp/port")

echo "starting $clients lens-policy-sync processes" >&2
t0=$(now)
sync_pids=()
for i in $(seq "$clients"); do
  LENS_TOKEN=bench "$sync_bin" --url "ws://127.0.0.1:$port/sandbox/$i" --state-dir "$work/s$i" \
    --log-level warn >/dev/null 2>"$work/s$i.err" &
  pids+=($!)
  sync_pids+=($!)
done
ctl "{\"cmd\":\"wait_clients\",\"count\":$clients,\"timeout\":120}" >/dev/null
t_connected=$(ms "$t0" "$(now)")

policy() { # policy N RULES: a frame with RULES http rules whose first host names N
  "$py" -c "
import json
rules = [{'match': 'h%d-%d.example.com' % ($1, i), 'verdict': 'allow', 'transport': 'direct'} for i in range($2)]
print(json.dumps({'type': 'policy', 'network': {'defaultVerdict': 'deny', 'defaultTransport': 'upstream',
                  'egress': {'http': rules}}}))" >"$work/policy$1.json"
  "$py" -c "import json,sys; print(json.dumps({'cmd': 'push', 'frame': json.load(open('$work/policy$1.json'))}))" \
    >"$work/push$1.json"
}

# push_and_wait PUSH_FILE COUNT: pushes, waits for COUNT policy_applied in
# all, prints the milliseconds in between (timed inside one python process).
push_and_wait() {
  "$py" - "$(dirname "$fixture")" "$work/cp" "$1" "$2" <<'PY'
import json, sys, time
sys.path.insert(0, sys.argv[1])
from control_plane import call
push = open(sys.argv[3]).read().strip()
t0 = time.monotonic()
call(sys.argv[2], push)
reply = call(sys.argv[2], json.dumps({"cmd": "wait_received", "type": "policy_applied",
                                      "count": int(sys.argv[4]), "timeout": 120}))
t1 = time.monotonic()
if not reply["ok"]:
    sys.exit("not every client applied the policy: %s" % reply)
print("%.0f" % ((t1 - t0) * 1000))
PY
}

rows=()
round=0
for size in 1 "$rules"; do
  round=$((round + 1))
  policy "$round" "$size"
  bytes=$(wc -c <"$work/policy$round.json")
  echo "pushing a policy of $size rules ($bytes bytes)" >&2
  elapsed=$(push_and_wait "$work/push$round.json" $((clients * round)))
  # Every installed file is the pushed frame (as the fixture serialised it).
  want=$("$py" -c "import hashlib,json; print(hashlib.sha256(json.dumps(json.load(open('$work/policy$round.json'))).encode()).hexdigest())")
  installed=0
  for i in $(seq "$clients"); do
    [[ $(sha256sum <"$work/s$i/policy.json" | cut -d' ' -f1) == "$want" ]] && installed=$((installed + 1))
  done
  rows+=("| $size | $bytes | $installed/$clients | $elapsed |")
done

# Memory of each client after the pushes.
LENS_BENCH_THREADS=$work/threads "$py" - "${sync_pids[@]}" >"$work/mem" <<'PY'
import statistics, sys
rss, pss = [], []
for pid in sys.argv[1:]:
    fields = {}
    for line in open("/proc/%s/smaps_rollup" % pid):
        parts = line.split()
        if len(parts) >= 2 and parts[0].endswith(":") and parts[1].isdigit():
            fields[parts[0][:-1]] = int(parts[1])
    rss.append(fields["Rss"])
    pss.append(fields["Pss"])
def row(name, values):
    return "| %s | %.1f | %.1f | %.1f | %.1f |" % (name, min(values) / 1024, statistics.median(values) / 1024,
                                                 max(values) / 1024, sum(values) / 1024)
print(row("RSS", rss))
print(row("PSS (shared pages split)", pss))
threads = [int(next(l.split()[1] for l in open("/proc/%s/status" % p) if l.startswith("Threads:"))) for p in sys.argv[1:]]
with open(__import__("os").environ["LENS_BENCH_THREADS"], "w") as f:
    f.write("%d" % max(threads))
PY

cat <<TABLE
## lens-policy-sync: $clients clients, one control-plane fixture

$(nproc) CPUs; $(uname -r); all $clients connected in $t_connected ms.

| rules in the policy | frame bytes | installed (sha256 checked) | push to last policy_applied (ms) |
|---:|---:|---:|---:|
$(printf '%s\n' "${rows[@]}")

Memory per process after the pushes (MiB):

| | min | median | max | all $clients |
|---|---:|---:|---:|---:|
$(cat "$work/mem")

Threads per process: $(cat "$work/threads") (connection, audit intake, signals).
TABLE
