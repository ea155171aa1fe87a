#!/usr/bin/env bash
# Build and run every benchmark, printing their tables and writing their
# JSON next to the build: tests/bench/run.sh [BUILD_DIR]   (default: build)
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
cmake --build "$build" --target bench_grad bench_compile bench_mlp bench_sparse bench_jacobian bench_hvp gradc -j"$(nproc)" >/dev/null
echo "== bench_grad: value+gradient against value (ops and time), tcc and cc"
"$build"/tests/bench/bench_grad --json "$build"/bench_grad.json
echo
echo "== bench_compile: seconds per stage and per node, peak memory"
"$build"/tests/bench/bench_compile --json "$build"/bench_compile.json
echo
echo "== bench_mlp: emitted C against a hand-written backprop (cc -O2), loops and BLAS"
"$build"/tests/bench/bench_mlp --json "$build"/bench_mlp.json
echo
echo "== bench_sparse: sparse Hessians and Jacobians by colouring, against value, sweep and dense"
"$build"/tests/bench/bench_sparse --json "$build"/bench_sparse.json
echo
echo "== sparse.sh: the same as whole gradc commands (wall and CPU)"
tests/bench/sparse.sh "$build"
echo
echo "== bench_jacobian: vector mode against one direction per sweep, and the whole command"
"$build"/tests/bench/bench_jacobian --json "$build"/bench_jacobian.json --cli "$build"/gradc
echo
echo "== bench_hvp: one Hessian-vector product of the digits network against value and value+gradient"
"$build"/tests/bench/bench_hvp --blas --json "$build"/bench_hvp.json
echo
echo "== lang_ad.sh: many grad() calls in one program (linear time)"
tests/bench/lang_ad.sh "$build"
echo
if [ -x "$build"/tests/bench/bench_blas ]; then
  echo "== bench_blas: OpenBLAS's dgemm against gradc's products, by size (BLAS_MIN_MNK)"
  "$build"/tests/bench/bench_blas --json "$build"/bench_blas.json
  echo
fi
echo "== train_torch.sh: gradc train (tiered) against --backend cc --blas and PyTorch"
tests/bench/train_torch.sh "$build" 3
