#!/usr/bin/env bash
# Every tool's man page documents its whole command line: each long option and
# each subcommand that `TOOL --cli-spec` reports (at every level) must appear in
# man/TOOL.1.scd in bold (*--name*, *name*), as in the OPTIONS and COMMANDS
# sections, and each option's environment variable (the one --cli-spec
# reports, such as LENS_<NAME>; per-call arguments of a subcommand have none)
# must appear too. A tool without a man page, or whose page is not built, fails.
#
# Environment: LENS_BUILD_DIR (tools in $LENS_BUILD_DIR/cmd) or LENS_SCHEMA
# (tools beside it), LENS_SOURCE_DIR, LENS_MAN_DIR (built pages, optional).
# Exit status: 0 pass, 77 skip (with the reason), 1 fail.
set -euo pipefail

# shellcheck source=tests/integration/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
command -v python3 >/dev/null || skip "python3 is not installed"

tools=()
for f in "$bin_dir"/lens-*; do
  [[ -f $f && -x $f ]] && tools+=("$f")
done
((${#tools[@]} > 0)) || skip "no lens-* executable in $bin_dir"

failed=0
for tool in "${tools[@]}"; do
  name=$(basename "$tool")
  page=$source_dir/man/$name.1.scd
  if [[ ! -f $page ]]; then
    echo "FAIL: $name has no man page: man/$name.1.scd is missing" >&2
    failed=1
    continue
  fi
  # The page must also be built (man/CMakeLists.txt builds one per tool).
  if [[ -n ${LENS_MAN_DIR:-} ]] && compgen -G "$LENS_MAN_DIR/*.[1-8]" >/dev/null && [[ ! -f $LENS_MAN_DIR/$name.1 ]]; then
    echo "FAIL: man/$name.1.scd exists but $LENS_MAN_DIR/$name.1 was not built (see man/CMakeLists.txt)" >&2
    failed=1
  fi

  spec=$("$tool" --cli-spec) || {
    echo "FAIL: $name --cli-spec exited with status $?" >&2
    failed=1
    continue
  }
  if ! python3 - "$name" "$page" "$spec" <<'PY'; then
import json
import re
import sys

name, page_path, spec_text = sys.argv[1], sys.argv[2], sys.argv[3]
spec = json.loads(spec_text)
with open(page_path, encoding="utf-8") as f:
    page = f.read()

SHARED = {"help", "version", "cli-spec"}  # no environment variable


def bold(text):
    # *text* in scdoc, not part of a longer bold run such as *--policy-file*.
    return re.search(r"\*" + re.escape(text) + r"\*", page) is not None


def mentioned(word):
    return re.search(r"(?<![A-Za-z0-9_])" + re.escape(word) + r"(?![A-Za-z0-9_])", page) is not None


missing = []  # (what, where)


def walk(cmd, path):
    where = " ".join([name] + path)
    for opt in cmd.get("options", []):
        if opt.get("positional"):
            continue
        for n in opt.get("names", []):
            if not n.startswith("--"):
                continue
            if not bold(n):
                missing.append((f"option {n}", where))
            long_name = n[2:]
            if long_name in SHARED:
                continue
            # The variable the tool reads for this option, as --cli-spec
            # reports it; per-call arguments of a subcommand have none.
            env = opt.get("env")
            if env and not mentioned(env):
                missing.append((f"environment variable {env} (for {n})", where))
    for sub in cmd.get("subcommands", []):
        if not bold(sub["name"]):
            missing.append((f"subcommand {sub['name']}", where))
        walk(sub, path + [sub["name"]])


walk(spec, [])
if missing:
    print(f"FAIL: man/{name}.1.scd does not document:", file=sys.stderr)
    for what, where in missing:
        print(f"  {what}   ({where})", file=sys.stderr)
    sys.exit(1)
print(f"ok: man/{name}.1.scd documents every option and subcommand of {name}")
PY
    failed=1
  fi
done

exit "$failed"
