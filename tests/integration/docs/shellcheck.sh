#!/usr/bin/env bash
# The launch scripts are POSIX sh and shellcheck-clean (as sh); the other
# scripts and the shell tests are clean as bash.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
command -v shellcheck >/dev/null || skip "shellcheck is not installed"
cd "$source_dir"
failed=0
for script in scripts/lens-entrypoint scripts/lens-up scripts/lens-down; do
  head -1 "$script" | grep -qx '#!/bin/sh' || { echo "FAIL: $script is not #!/bin/sh" >&2; failed=1; }
  grep -qx 'set -eu' "$script" || { echo "FAIL: $script does not set -eu" >&2; failed=1; }
  shellcheck -s sh "$script" || failed=1
done
shellcheck -s bash -x scripts/test scripts/image scripts/regen-lockdown-golden tests/container/run.sh bench/dns/run.sh \
  bench/lockdown/run.sh || failed=1
((failed == 0)) && echo "shellcheck: clean"
exit "$failed"
