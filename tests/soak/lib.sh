# shellcheck shell=bash
# Shared by the soak and the fault tests (source it): the namespaces and
# check()/finish of tests/integration (netns.sh), plus the daemons and
# servers they run.
#
#   outside: dnsmasq on 10.199.0.2:53 (origin.test -> 10.199.0.2, any name
#            under soak.test and flap.test -> 192.0.2.x, TTL 2 s so that
#            lens-dns keeps asking it), origins started by the tests.
#   sandbox: lens-proxy (127.0.0.1:3128), lens-dns (127.0.0.1:5355),
#            lens-policy-sync and its control plane (control_plane.py on
#            127.0.0.1, port 0).
#
# Environment: LENS_BUILD_DIR (the daemons in $LENS_BUILD_DIR/cmd).

soak_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/integration/lib.sh
source "$soak_dir/../integration/lib.sh"
# shellcheck source=tests/integration/netns.sh
source "$soak_dir/../integration/netns.sh"
# shellcheck source=tests/integration/policy_sync/find_python.sh
source "$soak_dir/../integration/policy_sync/find_python.sh"

command -v dnsmasq >/dev/null || skip "needs dnsmasq (Debian package dnsmasq-base)"
command -v dig >/dev/null || skip "needs dig (Debian package bind9-dnsutils)"
command -v curl >/dev/null || skip "needs curl"
[[ -n $py ]] || skip "needs python3 with the websockets module (Debian: python3-websockets)"
proxy_bin=$bin_dir/lens-proxy
dns_bin=$bin_dir/lens-dns
sync_bin=$bin_dir/lens-policy-sync
for tool in "$proxy_bin" "$dns_bin" "$sync_bin"; do
  [[ -x $tool ]] || skip "$(basename "$tool") is not built in $bin_dir"
done
load_py=$soak_dir/load.py
servers_py=$source_dir/tests/integration/proxy/servers.py
fixture_py=$source_dir/tests/integration/policy_sync/control_plane.py

# Every process the tests start is in pids; the daemons get a short drain
# so that cleanup does not wait on them.
drain=(--drain-timeout 1)

# On exit: stop the processes, unmount what a test mounted (after the
# processes that hold it open), keep the logs and counters where
# scripts/soak asks (LENS_SOAK_LOGS), remove the namespaces and $work. This
# replaces netns.sh's cleanup, whose bare `wait` would also wait for
# faults.sh's tee (a process substitution, which ends only with the shell).
mounts=()
soak_cleanup() {
  local pid mount
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  for mount in "${mounts[@]}"; do umount "$mount" 2>/dev/null || umount -l "$mount" 2>/dev/null || true; done
  if [[ -n ${LENS_SOAK_LOGS:-} ]]; then
    rm -rf "$LENS_SOAK_LOGS"
    mkdir -p "$LENS_SOAK_LOGS"
    (cd "$work" && find . -maxdepth 3 -type f -size -20M \
      \( -name '*.err' -o -name '*.json' -o -name '*.out' -o -name '*.log' -o -name checks \) \
      -exec cp --parents {} "$LENS_SOAK_LOGS" \;) || true
  fi
  ip netns del "$sbx" 2>/dev/null || true
  ip netns del "$outside" 2>/dev/null || true
  rm -rf --one-file-system "$work" || true
}
trap soak_cleanup EXIT

# alive PID...: each process exists and is not a zombie.
alive() {
  local pid
  for pid in "$@"; do
    [[ -e /proc/$pid ]] && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null || return 1
  done
}

# start_dnsmasq: the upstream DNS server in the outside namespace; sets dnsmasq_pid.
start_dnsmasq() {
  rm -f "$work/dnsmasq.pid"
  nsenter --net="/run/netns/$outside" dnsmasq --keep-in-foreground --port=53 --listen-address=10.199.0.2 \
    --bind-interfaces --no-resolv --no-hosts --local-ttl=2 --pid-file="$work/dnsmasq.pid" \
    --host-record=origin.test,10.199.0.2 --host-record=other.test,10.199.0.2 \
    --address=/soak.test/192.0.2.1 --address=/flap.test/192.0.2.2 2>>"$work/dnsmasq.err" &
  dnsmasq_pid=$!
  pids+=("$dnsmasq_pid")
  wait_for 5 upstream_answers || {
    echo "FAIL: dnsmasq did not start: $(cat "$work/dnsmasq.err")" >&2
    exit 1
  }
}
upstream_answers() { in_sbx dig @10.199.0.2 +time=1 +tries=1 +short origin.test 2>/dev/null | grep -q 10.199.0.2; }

# start_py NS NAME SCRIPT ARGS...: a python server in NS, waiting for its
# --ready file (given here); stderr in $work/NAME.err; sets last_pid.
start_py() {
  local ns=$1 name=$2 script=$3
  shift 3
  rm -f "$work/$name.ready"
  nsenter --net="/run/netns/$ns" "$python" "$script" "$@" --ready "$work/$name.ready" 2>>"$work/$name.err" &
  last_pid=$!
  pids+=("$last_pid")
  wait_ready "$work/$name.ready" "$name (see $work/$name.err)"
}

# start_origins: an HTTP origin (servers.py, keep-alive) on 10.199.0.2:8080
# and an echo server for the tunnels on 10.199.0.2:7000.
start_origins() {
  start_py "$outside" origin "$servers_py" origin --listen 10.199.0.2:8080
  start_py "$outside" echo "$load_py" echo --listen 10.199.0.2:7000
}

# policy_frame N [EXTRA_RULE_JSON]: a policy frame allowing origin.test and
# the names under soak.test and flap.test (everything else denied); N goes
# into a rule of its own, so that every N is a new policy version.
policy_frame() {
  printf '{"type": "policy", "network": {"defaultVerdict": "deny", "defaultTransport": "direct", "egress": {"http": [
  {"match": "origin.test", "verdict": "allow", "transport": "direct"},
  {"match": "*.soak.test", "verdict": "allow", "transport": "direct"},
  {"match": "*.flap.test", "verdict": "allow", "transport": "direct"},%s
  {"match": "push-%s.soak.invalid", "verdict": "deny", "transport": "direct", "description": "push %s"}]}}}\n' \
    "${2:+ $2,}" "$1" "$1"
}

# start_control_plane DIR: the control-plane fixture in the sandbox (it
# listens on 127.0.0.1); sets cp_port. ctl DIR JSON: one fixture command.
start_control_plane() {
  local dir=$1
  mkdir -p "$dir"
  nsenter --net="/run/netns/$sbx" "$py" "$fixture_py" serve --dir "$dir" >"$dir/log" 2>&1 &
  pids+=($!)
  wait_for 10 test -s "$dir/port" || {
    echo "FAIL: the control-plane fixture did not start: $(cat "$dir/log")" >&2
    exit 1
  }
  cp_port=$(cat "$dir/port")
}
ctl() { "$py" "$fixture_py" ctl "$@"; }
# cp_field DIR JSON KEY: one field of a fixture reply.
cp_field() { ctl "$1" "$2" | "$py" -c "import json,sys; print(json.load(sys.stdin)['$3'])"; }

# push_policy DIR N: pushes policy_frame N; true once it was acknowledged
# (the fixture counts policy_applied frames: give the count expected).
push_policy() {
  local dir=$1 n=$2 expect=$3
  ctl "$dir" "{\"cmd\":\"push\",\"frame\":$(policy_frame "$n" | tr -d '\n')}" >/dev/null &&
    [[ $(cp_field "$dir" "{\"cmd\":\"wait_received\",\"type\":\"policy_applied\",\"count\":$expect,\"timeout\":10}" ok) == True ]]
}

# start_sync NAME STATE ARGS...: lens-policy-sync in the sandbox with its
# state in STATE, connected to the fixture on cp_port; waits until ready;
# sets sync_pid.
start_sync() {
  local name=$1 state=$2
  shift 2
  rm -f "$work/$name.ready"
  LENS_TOKEN=soak nsenter --net="/run/netns/$sbx" "$sync_bin" --url "ws://127.0.0.1:$cp_port/v1/sync" \
    --state-dir "$state" --ready-file "$work/$name.ready" "$@" >"$work/$name.out" 2>>"$work/$name.err" &
  sync_pid=$!
  pids+=("$sync_pid")
  wait_for 10 test -S "$state/audit.sock" || {
    echo "FAIL: lens-policy-sync ($name) did not open its audit socket: $(tail -5 "$work/$name.err")" >&2
    exit 1
  }
}

# start_daemon NAME BINARY ARGS...: a daemon in the sandbox, its stderr in
# $work/NAME.err and its pid in $work/NAME.pid (for --notify-pidfile);
# waits for its --ready-file; sets daemon_pid.
start_daemon() {
  local name=$1 binary=$2
  shift 2
  rm -f "$work/$name.ready"
  # nsenter execs the daemon: $! is the daemon itself (measured by the soak).
  nsenter --net="/run/netns/$sbx" "$binary" --ready-file "$work/$name.ready" "$@" 2>>"$work/$name.err" &
  daemon_pid=$!
  pids+=("$daemon_pid")
  echo "$daemon_pid" >"$work/$name.pid"
  local i
  for ((i = 0; i < 200; i++)); do
    [[ -e $work/$name.ready ]] && return 0
    alive "$daemon_pid" || break
    sleep 0.05
  done
  echo "FAIL: $name did not become ready: $(tail -5 "$work/$name.err")" >&2
  exit 1
}

# start_proxy NAME STATE ARGS...: lens-proxy on 127.0.0.1:3128 (the policy
# in STATE/policy.json, the upstream DNS server as its resolver).
start_proxy() {
  local name=$1 state=$2
  shift 2
  start_daemon "$name" "$proxy_bin" --listen 127.0.0.1:3128 --state-dir "$state" --policy "$state/policy.json" \
    --resolver 10.199.0.2 "${drain[@]}" "$@"
}

# start_dns NAME STATE ARGS...: lens-dns on 127.0.0.1:5355 in front of dnsmasq.
start_dns() {
  local name=$1 state=$2
  shift 2
  start_daemon "$name" "$dns_bin" --listen 127.0.0.1:5355 --upstream 10.199.0.2 --state-dir "$state" \
    --policy "$state/policy.json" --no-nft "$@"
}

# stop PID: SIGTERM and wait; sets stop_rc to its exit status (for the caller).
# shellcheck disable=SC2034
stop() {
  stop_rc=0
  kill -TERM "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || stop_rc=$?
}

# start_load NAME KIND ARGS...: a load.py generator in the sandbox with its
# status in $work/NAME.json; sets last_pid.
start_load() {
  local name=$1
  shift
  nsenter --net="/run/netns/$sbx" "$python" "$load_py" "$@" --status "$work/$name.json" 2>>"$work/$name.err" &
  last_pid=$!
  pids+=("$last_pid")
}

# status_field NAME KEY: one number from a generator's status file (0 if absent).
status_field() {
  "$python" -c 'import json,sys
try:
    print(json.load(open(sys.argv[1])).get(sys.argv[2], 0))
except (OSError, ValueError):
    print(0)' "$work/$1.json" "$2"
}
