#!/usr/bin/env bash
# Run each fuzzer for SECONDS (default 60) on its corpus; crashes are
# written to tests/fuzz/crashes/ and must become regression inputs in
# tests/fuzz/regress/ (replayed by ctest). fuzz_edges (derivatives at edge
# points) writes each finding as tests/fuzz/findings/KIND-HASH.expr too; keep
# one per distinct bug in tests/fuzz/regress-edges/ (ctest replay_edges).
# Without libFuzzer: build/tests/fuzz/fuzz_edges --seconds 600 --seed S
# (see the top of tests/fuzz/fuzz_edges.c).
set -uo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-60}
mkdir -p tests/fuzz/crashes build-fuzz/corpus-compile build-fuzz/corpus-jit build-fuzz/corpus-values build-fuzz/corpus-edges
for f in compile jit values edges; do
  seeds=tests/fuzz/corpus
  [ $f = values ] && seeds=tests/fuzz/corpus-values
  [ $f = edges ] && seeds= # its inputs are bytes, not programs: starts empty
  ./build-fuzz/fuzz_$f build-fuzz/corpus-$f $seeds -max_total_time="$secs" -max_len=8192 \
    -timeout=20 -rss_limit_mb=4096 -artifact_prefix=tests/fuzz/crashes/$f- -print_final_stats=1 \
    2>&1 | tail -15
done
