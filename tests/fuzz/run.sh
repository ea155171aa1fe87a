#!/usr/bin/env bash
# Run each fuzzer for SECONDS (default 60) on its corpus; crashes are
# written to tests/fuzz/crashes/ and must become regression inputs in
# tests/fuzz/regress/ (replayed by ctest).
set -uo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-60}
mkdir -p tests/fuzz/crashes build-fuzz/corpus-compile build-fuzz/corpus-jit build-fuzz/corpus-values
for f in compile jit values; do
  seeds=tests/fuzz/corpus
  [ $f = values ] && seeds=tests/fuzz/corpus-values
  ./build-fuzz/fuzz_$f build-fuzz/corpus-$f $seeds -max_total_time="$secs" -max_len=8192 \
    -timeout=20 -rss_limit_mb=4096 -artifact_prefix=tests/fuzz/crashes/$f- -print_final_stats=1 \
    2>&1 | tail -15
done
