#!/usr/bin/env bash
# The top Hessian eigenvalue of the digits network (64-256-10, N = 1797,
# 19,210 params) to 1e-6 relative: gradc (bench_spectrum: ARPACK's Lanczos
# on compiled HVPs) against PyTorch's double backward (spectrum_torch.py:
# the same Lanczos test, and PyHessian's power iteration), in one run on
# this machine, one thread each (OPENBLAS_NUM_THREADS=1, torch threads 1).
#   tests/bench/spectrum.sh [BUILD_DIR] [REPS]
# PyTorch (Debian's python3-torch) is for this benchmark only: without it
# the torch half is skipped with a message.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
reps=${2:-3}
cmake --build "$build" --target bench_spectrum -j2 >/dev/null
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gradc-spectrum-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
export GRADC_CACHE_DIR=$tmp/cache   # the cc backend's first run compiles
"$build"/tests/bench/bench_spectrum --reps "$reps" --save-inputs "$tmp/inputs.json" \
  --json "$build"/bench_spectrum.json
# Debian's torch is installed for /usr/bin/python3, not for other pythons
py=${PYTHON:-}
if [ -z "$py" ]; then
  for p in /usr/bin/python3 python3; do
    if command -v "$p" >/dev/null && "$p" -c 'import torch' 2>/dev/null; then py=$p; break; fi
  done
fi
if [ -z "$py" ]; then
  echo "  torch: skipped: PyTorch is missing (Debian: apt-get install python3-torch)"
  exit 0
fi
"$py" tests/bench/spectrum_torch.py "$tmp/inputs.json" --reps "$reps" --threads 1 \
  --json "$build"/bench_spectrum_torch.json
