#!/usr/bin/env bash
# One case of the AWS SigV4 test suite (tests/data/aws-sigv4/CASE) through
# the lens-sign binary: every stage (canonical-request, string-to-sign,
# signature, request) in header mode and presigned mode, compared byte for
# byte with the published files. The text stages print one line more than
# the files hold (a final newline); the request stage prints the request
# exactly.
#
# Usage: vectors.sh CASE. Environment as for every shell test (lib.sh).
# Exit status: 0 pass, 77 skip (with the reason), 1 fail.
set -euo pipefail

# shellcheck source=tests/integration/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
(($# == 1)) || {
  echo "usage: $0 CASE" >&2
  exit 2
}
name=$1
dir=$source_dir/tests/data/aws-sigv4/$name
tool=$bin_dir/lens-sign
[[ -x $tool ]] || skip "lens-sign is not built in $bin_dir"
[[ -d $dir ]] || {
  echo "FAIL: no test-vector directory $dir" >&2
  exit 1
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/lens-sigv4.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

failed=0
for mode in header query; do
  presign=()
  [[ $mode == query ]] && presign=(--presign)
  for stage in canonical-request string-to-sign signature request; do
    file=$mode-$stage.txt
    [[ $stage == request ]] && file=$mode-signed-request.txt
    cp "$dir/$file" "$tmp/expected"
    [[ $stage == request ]] || echo >>"$tmp/expected"
    if ! "$tool" aws-sigv4 --context "$dir/context.json" "${presign[@]}" --stage "$stage" \
      <"$dir/request.txt" >"$tmp/actual" 2>"$tmp/stderr"; then
      echo "FAIL: $name $mode $stage: lens-sign exited non-zero: $(cat "$tmp/stderr")" >&2
      failed=1
      continue
    fi
    if cmp -s "$tmp/expected" "$tmp/actual"; then
      echo "ok: $name $mode $stage"
    else
      echo "FAIL: $name $mode $stage differs from $file:" >&2
      diff -u "$tmp/expected" "$tmp/actual" | sed 's/^/  /' >&2 || true
      failed=1
    fi
  done
done
exit "$failed"
