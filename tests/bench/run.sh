#!/usr/bin/env bash
# Build and run every benchmark, printing their tables and writing their
# JSON next to the build: tests/bench/run.sh [BUILD_DIR]   (default: build)
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
cmake --build "$build" --target bench_grad bench_compile bench_mlp bench_hvp -j"$(nproc)" >/dev/null
echo "== bench_grad: value+gradient against value (ops and time), tcc and cc"
"$build"/tests/bench/bench_grad --json "$build"/bench_grad.json
echo
echo "== bench_compile: seconds per stage and per node, peak memory"
"$build"/tests/bench/bench_compile --json "$build"/bench_compile.json
echo
echo "== bench_mlp: emitted C against a hand-written backprop (cc -O2), loops and BLAS"
"$build"/tests/bench/bench_mlp --json "$build"/bench_mlp.json
echo
echo "== bench_hvp: one Hessian-vector product of the digits network against value and value+gradient"
"$build"/tests/bench/bench_hvp --blas --json "$build"/bench_hvp.json
