#!/usr/bin/env bash
# Builds lens_bench_decision in Release (in build-bench/, or $LENS_BENCH_BUILD_DIR)
# and runs it. Arguments go to the benchmark, e.g.:
#   bench/decision/run.sh --sizes 10,100000 --rounds 15
#   bench/decision/run.sh --quick
# The markdown table goes to stdout, progress to stderr.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${LENS_BENCH_BUILD_DIR:-$root/build-bench}"
jobs="$(nproc 2>/dev/null || echo 2)"

configure=(-S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DLENS_BENCH=ON -DLENS_TESTS=OFF -DLENS_FUZZ=OFF
  -DLENS_SANITIZE=OFF)
# The generator of an existing build directory cannot change; pick one only
# for a new directory.
if [[ ! -f "$build/CMakeCache.txt" ]] && command -v ninja >/dev/null 2>&1; then
  configure+=(-G Ninja)
fi

cmake "${configure[@]}" >&2
cmake --build "$build" --target lens_bench_decision -j "$jobs" >&2
exec "$build/bench/decision/lens_bench_decision" "$@"
