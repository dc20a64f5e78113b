#!/usr/bin/env bash
# Every case directory of tests/data/aws-sigv4 has its sign.vector.CASE
# test: LENS_SIGV4_CASES (set by tests/integration/CMakeLists.txt) lists the
# registered cases, separated by commas.
# Exit status: 0 pass, 1 fail.
set -euo pipefail

# shellcheck source=tests/integration/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
registered=",${LENS_SIGV4_CASES:-},"
failed=0
count=0
for dir in "$source_dir"/tests/data/aws-sigv4/*/; do
  name=$(basename "$dir")
  count=$((count + 1))
  if [[ $registered != *",$name,"* ]]; then
    echo "FAIL: tests/data/aws-sigv4/$name has no ctest: add it to LENS_SIGV4_CASES in tests/integration/CMakeLists.txt" >&2
    failed=1
  fi
done
((count > 0)) || {
  echo "FAIL: no test-vector directories under $source_dir/tests/data/aws-sigv4" >&2
  exit 1
}
((failed)) || echo "ok: all $count test-vector cases are registered"
exit "$failed"
