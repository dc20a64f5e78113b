#!/usr/bin/env bash
# The committed shell completions match the tools, and work:
#  1. scripts/gen-completions run on the built tools reproduces completions/
#     exactly (no drift, no stale file);
#  2. the bash completion of every tool completes, as bash would call it:
#     subcommands, every long option from a prefix, the choices of options
#     with a fixed set of values, and nothing that looks like a flag for other
#     options that take a value (plus the lens-schema cases spelled out);
#  3. the zsh and fish files pass `zsh -n` / `fish -n` (skipped when the shell
#     is not installed).
#
# Environment: LENS_BUILD_DIR (tools in $LENS_BUILD_DIR/cmd) or LENS_SCHEMA
# (tools beside it), LENS_SOURCE_DIR. Exit status: 0 pass, 77 skip (with the
# reason), 1 fail.
set -euo pipefail

# shellcheck source=tests/integration/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
command -v python3 >/dev/null || skip "python3 is not installed"
compgen -G "$bin_dir/lens-*" >/dev/null || skip "no lens-* executable in $bin_dir"

committed=$source_dir/completions
tmp=$(mktemp -d "${TMPDIR:-/tmp}/lens-completions.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
failed=0

# --- 1. drift -----------------------------------------------------------------

python3 "$source_dir/scripts/gen-completions" --bin-dir "$bin_dir" --out "$tmp/completions"
if diff -ru -x '.*' "$committed" "$tmp/completions" >"$tmp/drift"; then
  echo "ok: completions/ matches scripts/gen-completions"
else
  {
    echo "FAIL: completions/ differs from what the built tools generate:"
    head -n 80 "$tmp/drift" | sed 's/^/  /'
    echo "Regenerate and commit them:"
    echo "  cd $source_dir && scripts/gen-completions --bin-dir $bin_dir --out completions"
  } >&2
  failed=1
fi

# --- 2. bash behaviour --------------------------------------------------------

# One case per line: TOOL <tab> has|equal|noflags <tab> COMMAND LINE <tab> WORDS
# has: COMPREPLY contains every word; equal: exactly the words (any order);
# noflags: nothing starting with '-'. A line ending in a space completes a new
# word.
python3 - "$bin_dir" >"$tmp/cases" <<'PY'
import json
import os
import re
import subprocess
import sys

bin_dir = sys.argv[1]


def case(tool, kind, line, words=()):
    print("\t".join([tool, kind, line, " ".join(words)]))


def walk(tool, cmd, path):
    line = " ".join([tool] + path)
    subs = [s["name"] for s in cmd.get("subcommands", [])]
    if subs:
        case(tool, "has", line + " ", subs)
    for opt in cmd.get("options", []):
        if opt.get("positional"):
            continue
        for n in opt.get("names", []):
            if n.startswith("--"):
                case(tool, "has", f"{line} {n[:3]}", [n])
        longs = [n for n in opt.get("names", []) if n.startswith("--")]
        if opt.get("takes_value") and longs:
            m = re.search(r"\{([^{}]*)\}", opt.get("type", ""))
            if m:
                case(tool, "equal", f"{line} {longs[0]} ", [c.strip() for c in m.group(1).split(",")])
            else:
                case(tool, "noflags", f"{line} {longs[0]} ")
    for sub in cmd.get("subcommands", []):
        walk(tool, sub, path + [sub["name"]])


for name in sorted(os.listdir(bin_dir)):
    path = os.path.join(bin_dir, name)
    if not (name.startswith("lens-") and os.path.isfile(path) and os.access(path, os.X_OK)):
        continue
    spec = json.loads(subprocess.run([path, "--cli-spec"], capture_output=True, text=True, check=True).stdout)
    walk(name, spec, [])
    if name == "lens-schema":  # the cases of the brief, independent of the spec
        case(name, "has", "lens-schema explain --d", ["--door"])
        case(name, "has", "lens-schema ", ["print", "check", "explain"])
        case(name, "equal", "lens-schema explain --door ",
             ["dns", "connect", "forward", "transparent-tls", "transparent-http", "raw-tcp", "udp"])
        case(name, "noflags", "lens-schema explain --host ")
PY

# Runs in a separate, non-interactive bash without -e/-u, the way completion
# functions are called.
cat >"$tmp/run.bash" <<'BASH'
completions=$1 cases=$2
if [[ -r /usr/share/bash-completion/bash_completion ]]; then
  source /usr/share/bash-completion/bash_completion
fi
failures=0 count=0 loaded=" "
while IFS=$'\t' read -r tool kind line words; do
  file=$completions/bash/$tool
  if [[ $loaded != *" $tool "* ]]; then
    if [[ ! -r $file ]]; then
      echo "FAIL: no bash completion for $tool ($file)"
      failures=$((failures + 1))
      continue
    fi
    source "$file"
    loaded+="$tool "
  fi
  spec=$(complete -p "$tool" 2>/dev/null)
  fn=""
  [[ $spec =~ -F\ ([^ ]+) ]] && fn=${BASH_REMATCH[1]}
  if [[ -z $fn ]]; then
    echo "FAIL: $file does not register a completion function for $tool"
    failures=$((failures + 1))
    continue
  fi
  read -ra COMP_WORDS <<<"$line"
  [[ $line == *' ' ]] && COMP_WORDS+=("")
  COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
  COMP_LINE=$line
  COMP_POINT=${#line}
  COMPREPLY=()
  "$fn" "$tool" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}" 2>/dev/null
  got=" ${COMPREPLY[*]} "
  read -ra want <<<"$words"
  ok=1
  case $kind in
  has | equal)
    for w in "${want[@]}"; do
      [[ $got == *" $w "* ]] || ok=0
    done
    [[ $kind == has || ${#COMPREPLY[@]} -eq ${#want[@]} ]] || ok=0
    ;;
  noflags)
    for r in "${COMPREPLY[@]}"; do
      [[ $r != -* ]] || ok=0
    done
    ;;
  esac
  count=$((count + 1))
  if ((!ok)); then
    echo "FAIL: '$line<TAB>' completes to [${COMPREPLY[*]}]; expected $kind [${words}]"
    failures=$((failures + 1))
  fi
done <"$cases"
echo "bash: $count completion cases, $failures failed"
((failures == 0))
BASH

if bash --norc --noprofile "$tmp/run.bash" "$committed" "$tmp/cases" >"$tmp/bash.out" 2>&1; then
  tail -n 1 "$tmp/bash.out"
else
  sed 's/^/  /' "$tmp/bash.out" >&2
  echo "FAIL: bash completion (completions/bash)" >&2
  failed=1
fi

# --- 3. zsh and fish syntax ---------------------------------------------------

check_syntax() { # SHELL DIR
  local shell=$1 dir=$2 f
  if ! command -v "$shell" >/dev/null; then
    echo "skipped: $shell is not installed, $dir not checked"
    return
  fi
  for f in "$dir"/*; do
    [[ -f $f ]] || continue
    if "$shell" -n "$f" 2>"$tmp/syntax"; then
      echo "ok: $shell -n ${f#"$source_dir"/}"
    else
      echo "FAIL: $shell -n ${f#"$source_dir"/}:" >&2
      sed 's/^/  /' "$tmp/syntax" >&2
      failed=1
    fi
  done
}
check_syntax zsh "$committed/zsh"
check_syntax fish "$committed/fish"

exit "$failed"
