#!/usr/bin/env bash
# An independent check: botocore (Debian's python3-botocore) and lens-sign
# sign the same requests and must agree (botocore_check.py says which).
#
# Environment as for every shell test (lib.sh).
# Exit status: 0 pass, 77 skip (with the reason), 1 fail.
set -euo pipefail

# shellcheck source=tests/integration/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
command -v python3 >/dev/null || skip "python3 is not installed"
python3 -c 'import botocore' 2>/dev/null || skip "botocore is not importable (install python3-botocore)"
[[ -x $bin_dir/lens-sign ]] || skip "lens-sign is not built in $bin_dir"
exec python3 "$(dirname "${BASH_SOURCE[0]}")/botocore_check.py" "$bin_dir/lens-sign"
