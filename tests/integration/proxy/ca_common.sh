# The harness of the CA tests, ca.sh and ca_env.sh (source after ../lib.sh):
# lens-proxy in $proxy, a work directory removed on exit with the processes
# whose pids are in $pids, and checks that set failed=1 and go on; a test
# ends with `exit "$failed"`.
#
#   check DESCRIPTION COMMAND...           the command succeeds
#   expect_status WANT PATTERN DESCRIPTION COMMAND...
#                                           it exits WANT, saying PATTERN
#   status_of COMMAND...                   prints its exit status; its output
#                                           is in $work/status.out

proxy=$bin_dir/lens-proxy
[[ -x $proxy ]] || skip "lens-proxy is not built"
work=$(mktemp -d "${TMPDIR:-/tmp}/lens-ca.XXXXXX")
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
failed=0
check() {
  local what=$1
  shift
  if "$@" >"$work/out" 2>&1; then
    echo "ok: $what"
  else
    echo "FAIL: $what" >&2
    sed 's/^/  /' "$work/out" >&2
    failed=1
  fi
}
status_of() {
  local rc=0
  "$@" >"$work/status.out" 2>&1 || rc=$?
  echo "$rc"
}
expect_status() {
  local want=$1 pattern=$2 what=$3
  shift 3
  local got
  got=$(status_of "$@")
  if [[ $got == "$want" ]] && grep -Eq -- "$pattern" "$work/status.out"; then
    echo "ok: $what (exit $got)"
  else
    echo "FAIL: $what: exit $got, want $want and /$pattern/:" >&2
    sed 's/^/  /' "$work/status.out" >&2
    failed=1
  fi
}
