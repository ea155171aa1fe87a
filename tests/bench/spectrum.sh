#!/usr/bin/env bash
# The top Hessian eigenvalue of the digits network (64-256-10, N = 1797,
# 19,210 params) to 1e-6 relative: gradc (bench_spectrum: Lanczos on
# compiled HVPs at a fixed point) against PyTorch's double backward
# (spectrum_torch.py: the same Lanczos test, and PyHessian's power
# iteration), on this machine, one thread each (OPENBLAS_NUM_THREADS=1,
# torch threads 1).
#   tests/bench/spectrum.sh [BUILD_DIR] [REPS] [ROUNDS]
# ROUNDS (default 3) rounds, each REPS (default 3) runs of every gradc
# configuration and then of torch (torch first in every other round), so
# that a change in the machine's load between rounds moves both: each
# round's table, then per configuration the median over rounds of its
# medians and of its ratio to torch Lanczos in the same round.
# PyTorch (Debian's python3-torch) is for this benchmark only: without it
# the torch half is skipped with a message.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
reps=${2:-3}
rounds=${3:-3}
cmake --build "$build" --target bench_spectrum -j2 >/dev/null
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gradc-spectrum-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
# Debian's torch is installed for /usr/bin/python3, not for other pythons
py=${PYTHON:-}
if [ -z "$py" ]; then
  for p in /usr/bin/python3 python3; do
    if command -v "$p" >/dev/null && "$p" -c 'import torch' 2>/dev/null; then py=$p; break; fi
  done
fi
gradc_round() {
  # the cc backend's first run compiles: a fresh cache per round
  GRADC_CACHE_DIR=$tmp/cache$1 "$build"/tests/bench/bench_spectrum --reps "$reps" \
    --save-inputs "$tmp/inputs.json" --json "$tmp/gradc$1.json"
}
torch_round() {
  "$py" tests/bench/spectrum_torch.py "$tmp/inputs.json" --reps "$reps" --threads 1 \
    --json "$tmp/torch$1.json"
}
for r in $(seq 1 "$rounds"); do
  echo "round $r:"
  if [ -n "$py" ] && [ $((r % 2)) -eq 0 ] && [ -f "$tmp/inputs.json" ]; then
    torch_round "$r"
    gradc_round "$r"
  else
    gradc_round "$r"
    if [ -n "$py" ]; then torch_round "$r"; fi
  fi
done
cp "$tmp/gradc1.json" "$build"/bench_spectrum.json
if [ -z "$py" ]; then
  echo "  torch: skipped: PyTorch is missing (Debian: apt-get install python3-torch)"
  exit 0
fi
cp "$tmp/torch1.json" "$build"/bench_spectrum_torch.json
"$py" - "$tmp" "$rounds" "$build"/bench_spectrum_rounds.json <<'EOF'
import json, statistics, sys
tmp, rounds, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rows = {}  # config -> list of (wall, cpu, wall ratio, cpu ratio) per round
for r in range(1, rounds + 1):
    g = json.load(open("%s/gradc%d.json" % (tmp, r)))["gradc"]
    t = json.load(open("%s/torch%d.json" % (tmp, r)))["runs"]
    base = t["torch Lanczos"]
    runs = [(x["config"], x) for x in g] + list(t.items())
    for name, x in runs:
        rows.setdefault(name, []).append((x["seconds"], x["cpu_seconds"],
                                          x["seconds"] / base["seconds"],
                                          x["cpu_seconds"] / base["cpu_seconds"]))
med = lambda k, v: statistics.median(e[k] for e in v)
print("over %d rounds (medians; ratios to torch Lanczos in the same round):" % rounds)
print("  %-26s %8s %8s %10s %10s %10s" % ("", "wall", "CPU", "wall/torch", "CPU/torch",
                                           "wall wins"))
summary = {}
for name, v in rows.items():
    wins = sum(1 for e in v if e[2] < 1)
    shown = "%d/%d" % (wins, len(v)) if name != "torch Lanczos" else "-"
    print("  %-26s %8.3f %8.3f %10.2f %10.2f %10s" % (name, med(0, v), med(1, v), med(2, v),
                                                   med(3, v), shown))
    summary[name] = {"seconds": med(0, v), "cpu_seconds": med(1, v), "wall_ratio": med(2, v),
                     "cpu_ratio": med(3, v), "rounds_faster": wins, "rounds": len(v)}
json.dump(summary, open(out, "w"), indent=2)
EOF
