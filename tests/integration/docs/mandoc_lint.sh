#!/usr/bin/env bash
# Lints every built man page with `mandoc -Tlint -W warning` and fails on any
# message, except the two that scdoc's own output always produces: it opens
# every paragraph, section and page with a .P that mandoc reports as
# "skipping paragraph macro: PP empty" / "PP after SH" (or SS). Those are not
# in the page sources and cannot be fixed there; everything else can.
#
# Environment: LENS_MAN_DIR, the directory of the built pages (the scdoc build
# target is `man`). Exit status: 0 pass, 77 skip (with the reason), 1 fail.
set -euo pipefail

skip() {
  echo "SKIP: $*" >&2
  exit 77
}

command -v mandoc >/dev/null || skip "mandoc is not installed"
[[ -n ${LENS_MAN_DIR:-} && -d $LENS_MAN_DIR ]] || skip "LENS_MAN_DIR is not set or not a directory"

pages=()
for f in "$LENS_MAN_DIR"/*.[1-8]; do
  [[ -f $f ]] && pages+=("$f")
done
((${#pages[@]} > 0)) || skip "no built man pages in $LENS_MAN_DIR (is scdoc installed? build the target 'man')"

scdoc_noise='^mandoc: .*: WARNING: skipping paragraph macro: PP (empty|after S[HS])$'
failed=0
for page in "${pages[@]}"; do
  status=0
  output=$(mandoc -Tlint -W warning "$page" 2>&1) || status=$?
  problems=$(grep -Ev "$scdoc_noise" <<<"$output" || true)
  # mandoc exits 2 for warnings; 3 and above are errors or worse, which must
  # also show up as messages, but never pass a page mandoc could not read.
  if [[ -n $problems ]] || ((status > 2)); then
    echo "FAIL: $(basename "$page") (mandoc status $status):" >&2
    if [[ -n $problems ]]; then
      mapfile -t lines <<<"$problems"
      printf '  %s\n' "${lines[@]}" >&2
    fi
    failed=1
  else
    echo "ok: $(basename "$page")"
  fi
done
exit "$failed"
