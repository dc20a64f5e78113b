# Shared by the lens-policy-sync tests (source it after ../lib.sh).
#
# Gives: $work (removed on exit), $py (a python3 with websockets),
# start_fixture DIR [ARGS...] / ctl DIR JSON / start_sync NAME ARGS... /
# wait_for SECONDS COMMAND... / pass / fail, and stops what it started.

sync_bin=$bin_dir/lens-policy-sync
[[ -x $sync_bin ]] || skip "lens-policy-sync is not built"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
fixture=$here/control_plane.py

source "$here/find_python.sh"
[[ -n $py ]] || skip "needs python3 with the websockets module (Debian: python3-websockets)"

work=$(mktemp -d)
started_pids=()
cleanup() {
  local pid
  for pid in "${started_pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${started_pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  [[ -n ${LENS_KEEP_WORK:-} ]] && echo "kept $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT

failures=0
pass() { echo "ok   $*"; }
fail() {
  echo "FAIL $*" >&2
  failures=$((failures + 1))
}
finish() {
  if ((failures > 0)); then
    echo "$failures check(s) failed" >&2
    exit 1
  fi
  exit 0
}

# start_fixture DIR [ARGS...]: starts the control-plane fixture; sets $port.
start_fixture() {
  local dir=$1
  shift
  mkdir -p "$dir"
  "$py" "$fixture" serve --dir "$dir" "$@" >"$dir/log" 2>&1 &
  started_pids+=($!)
  wait_for 10 test -s "$dir/port" || {
    cat "$dir/log" >&2
    echo "the fixture did not start" >&2
    exit 1
  }
  port=$(cat "$dir/port")
}

# ctl DIR JSON: one fixture command; prints the reply.
ctl() { "$py" "$fixture" ctl "$@"; }
# field DIR JSON KEY: one field of a fixture reply.
field() { ctl "$1" "$2" | "$py" -c "import json,sys; print(json.load(sys.stdin)['$3'])"; }

# status_at_least DIR KEY N: the fixture's status KEY is at least N (for wait_for).
status_at_least() { test "$(field "$1" '{"cmd":"status"}' "$2")" -ge "$3"; }
# spooled_at_least STATE N: the spool of STATE holds at least N records.
spooled_at_least() { test "$(cat "$1"/spool/seg-*.jsonl 2>/dev/null | wc -l)" -ge "$2"; }

# start_sync NAME ARGS...: starts lens-policy-sync in the background with its
# stderr in $work/NAME.err and stdout in $work/NAME.out; sets $sync_pid.
start_sync() {
  local name=$1
  shift
  "$sync_bin" "$@" >"$work/$name.out" 2>"$work/$name.err" &
  sync_pid=$!
  started_pids+=($sync_pid)
}

# wait_exit PID: waits for PID (a child of this shell) and sets $rc to its exit status.
wait_exit() {
  rc=0
  wait "$1" || rc=$?
}

# emit SOCKET COUNT [FIRST]: sends COUNT audit events (metadata.seq FIRST..),
# waiting while the intake queue is full and retrying while no one listens.
emit() { "$py" "$here/emit_events.py" "$@"; }
