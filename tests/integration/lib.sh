# Shared by the shell tests (source it): skip(), wait_for(), and bin_dir /
# source_dir.
#
# Environment: LENS_BUILD_DIR (tools in $LENS_BUILD_DIR/cmd) or LENS_SCHEMA
# (tools beside it), LENS_SOURCE_DIR.

skip() {
  echo "SKIP: $*" >&2
  exit 77
}

# wait_for SECONDS COMMAND...: polls COMMAND every 50 ms; false on timeout.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.05
  done
}

source_dir=${LENS_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
bin_dir=""
if [[ -n ${LENS_BUILD_DIR:-} && -d $LENS_BUILD_DIR/cmd ]]; then
  bin_dir=$LENS_BUILD_DIR/cmd
elif [[ -n ${LENS_SCHEMA:-} && -x $LENS_SCHEMA ]]; then
  bin_dir=$(dirname "$LENS_SCHEMA")
else
  skip "no built tools: set LENS_BUILD_DIR or LENS_SCHEMA"
fi
