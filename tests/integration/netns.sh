# Two network namespaces joined by a veth pair, for the tests of the cage and
# the daemons (source after lib.sh):
#
#   sandbox  vs0  10.199.0.1/24  fd99::1/64  <-->  vo0  10.199.0.2/24  fd99::2/64  outside
#            (default routes via 10.199.0.2 and fd99::2)
#                                                          10.199.0.3/24  fd99::3/64
#
# start_outside_servers runs netprobe servers in "outside" (TCP 8080, 853,
# 5432; UDP 9000, 9001, 443, 53) on every address. Everything (namespaces,
# processes, files) is removed on exit.

[[ $(id -u) -eq 0 ]] || skip "needs root (network namespaces and nftables)"
command -v ip >/dev/null || skip "needs iproute2 (ip)"
command -v nsenter >/dev/null || skip "needs util-linux (nsenter)"
# The system python: probes also run as an unprivileged user, who cannot
# reach a per-user interpreter such as a pyenv shim under /root.
python=/usr/bin/python3
[[ -x $python ]] || skip "needs python3 (/usr/bin/python3)"

lockdown=$bin_dir/lens-lockdown
probe_py=$source_dir/tests/integration/netprobe.py
[[ -x $lockdown ]] || skip "lens-lockdown is not built"

# Read-only: tests use "out" and the like for command output; the namespace
# names must survive that, or cleanup would delete the wrong thing.
readonly sbx=lens-sbx-$$
readonly outside=lens-out-$$
work=$(mktemp -d)
pids=()

cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  ip netns del "$sbx" 2>/dev/null || true
  ip netns del "$outside" 2>/dev/null || true
  [[ -n ${LENS_KEEP_WORK:-} ]] && echo "kept $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT

ip netns add "$sbx" || skip "cannot create network namespaces"
ip netns add "$outside"
ip link add vs0 netns "$sbx" type veth peer name vo0 netns "$outside" || skip "cannot create a veth pair"
for ns in "$sbx" "$outside"; do ip -n "$ns" link set lo up; done
ip -n "$sbx" addr add 10.199.0.1/24 dev vs0
ip -n "$sbx" addr add fd99::1/64 dev vs0 nodad
ip -n "$outside" addr add 10.199.0.2/24 dev vo0
ip -n "$outside" addr add 10.199.0.3/24 dev vo0
ip -n "$outside" addr add fd99::2/64 dev vo0 nodad
ip -n "$outside" addr add fd99::3/64 dev vo0 nodad
ip -n "$sbx" link set vs0 up
ip -n "$outside" link set vo0 up
# A default route, as a container has: queries to any resolver (say the
# host's 10.255.255.53) are routable, so the cage's redirect sees them.
ip -n "$sbx" route add default via 10.199.0.2
ip -n "$sbx" -6 route add default via fd99::2

# in_sbx CMD...: run in the sandbox's network namespace, keeping the host's
# mounts (ip netns exec would remount /sys and hide the cgroup tree).
in_sbx() { nsenter --net="/run/netns/$sbx" "$@"; }
in_out() { nsenter --net="/run/netns/$outside" "$@"; }

# serve NS TAG ARGS...: start a netprobe server in NS and wait until it is bound.
serve() {
  local ns=$1 tag=$2
  shift 2
  local ready=$work/ready.$tag.$RANDOM
  nsenter --net="/run/netns/$ns" "$python" "$probe_py" serve --tag "$tag" --ready "$ready" "$@" &
  pids+=($!)
  wait_ready "$ready" "server $tag in $ns"
}

# wait_ready FILE WHAT: until FILE exists (5 s), else fail naming WHAT.
wait_ready() {
  local i
  for ((i = 0; i < 100; i++)); do
    [[ -e $1 ]] && return 0
    sleep 0.05
  done
  echo "FAIL: $2 did not start" >&2
  exit 1
}

# probe [--as UID] tcp|udp HOST PORT [--mark M]: one line of netprobe output.
probe() {
  if [[ $1 == --as ]]; then
    local uid=$2
    shift 2
    in_sbx setpriv --reuid "$uid" --regid "$uid" --clear-groups "$python" "$probe_py" probe "$@"
  else
    in_sbx "$python" "$probe_py" probe "$@"
  fi
}

shopt -s extglob
# What an unmarked refusal looks like: a TCP connection is refused; a datagram
# rejected on the output path fails in send() (EPERM) or is refused by ICMP.
refused='@(refused|error EPERM)'

failures=0
# expect PATTERN DESCRIPTION -- PROBE ARGS...: the probe line must match the glob.
expect() {
  local pattern=$1 what=$2
  shift 3
  local got
  got=$(probe "$@") || got="probe failed ($?)"
  if [[ $got == $pattern ]]; then
    echo "ok   $what: $got"
  else
    echo "FAIL $what: expected '$pattern', got '$got'" >&2
    failures=$((failures + 1))
  fi
}

# check DESCRIPTION -- COMMAND...: COMMAND must succeed.
check() {
  local what=$1
  shift 2
  if "$@"; then
    echo "ok   $what"
  else
    echo "FAIL $what" >&2
    failures=$((failures + 1))
  fi
}

# has_lines TEXT PATTERN... [--not PATTERN...]: every grep pattern before
# --not matches a line of TEXT and none after it does. TEXT is data, never
# spliced into shell code (it may hold quotes).
has_lines() {
  local text=$1 pattern want=1
  shift
  for pattern in "$@"; do
    if [[ $pattern == --not ]]; then
      want=0
    elif ((want)); then
      grep -q -- "$pattern" <<<"$text" || return 1
    else
      ! grep -q -- "$pattern" <<<"$text" || return 1
    fi
  done
}

# write_policy JSON: replaces $work/policy.json atomically, as the daemons expect.
write_policy() {
  printf '%s\n' "$1" >"$work/policy.json.tmp"
  mv "$work/policy.json.tmp" "$work/policy.json"
}

start_outside_servers() {
  local a tcp=() udp=()
  for a in 10.199.0.2 10.199.0.3 '[fd99::2]' '[fd99::3]'; do
    tcp+=(--tcp "$a:8080" --tcp "$a:853" --tcp "$a:5432")
    udp+=(--udp "$a:9000" --udp "$a:9001" --udp "$a:443" --udp "$a:53")
  done
  serve "$outside" outside "${tcp[@]}" "${udp[@]}"
}

finish() {
  if ((failures > 0)); then
    echo "$failures check(s) failed" >&2
    exit 1
  fi
  echo "all checks passed"
}
