#!/usr/bin/env bash
# `gradc train examples/digits_mlp.expr` (64-32-10 tanh network, N = 1797
# rows, Adam, 2000 steps on the whole data) as a user runs it, with no
# options (the tiered JIT, OpenBLAS for the large products), against
#   - `--backend cc --blas` (cc -O2 before the first step),
#   - `--backend tcc` (libtcc only),
#   - PyTorch (train_torch.py: the same network, data, init distribution
#     and optimizer, float64, one thread),
# in one run, each REPS times, alternating, as medians of CPU seconds
# (user + system of the process and its children: the compilers count)
# and of wall seconds, from the start of the process to the last step,
# compile time included (a fresh compile cache for every gradc run). One
# thread each: OPENBLAS_NUM_THREADS=1 (gradc and torch use the same
# OpenBLAS), torch.set_num_threads(1). The ratios are what counts.
#   tests/bench/train_torch.sh [BUILD_DIR] [REPS] [STEPS]
# PyTorch (Debian's python3-torch) is for this benchmark only: without it
# the torch column is skipped with a message.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
reps=${2:-3}
steps=${3:-2000}
gradc=$build/gradc
[ -x "$gradc" ] || { echo "no $gradc: build first" >&2; exit 2; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gradc-train-bench-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
# Debian's torch is installed for /usr/bin/python3, not for other pythons
py=${PYTHON:-}
if [ -z "$py" ]; then
  for p in /usr/bin/python3 python3; do
    if command -v "$p" >/dev/null && "$p" -c 'import torch' 2>/dev/null; then py=$p; break; fi
  done
fi
[ -n "$py" ] || echo "  torch: skipped: PyTorch is missing (Debian: apt-get install python3-torch)"

# run NAME CMD...: append "cpu wall" to $tmp/NAME (GNU time's %U %S %e)
run() {
  local name=$1
  shift
  rm -rf "$tmp/cache"
  GRADC_CACHE_DIR=$tmp/cache /usr/bin/time -f "%U %S %e" -o "$tmp/t" "$@" >"$tmp/$name.out"
  awk '{ printf "%.3f %.3f\n", $1 + $2, $3 }' "$tmp/t" >>"$tmp/$name"
}
median() { # FILE COLUMN
  sort -n -k"$2" "$1" | awk -v c="$2" '{ v[NR] = $c } END { print v[int((NR + 1) / 2)] }'
}

names="default cc_blas tcc"
for r in $(seq "$reps"); do
  run default "$gradc" train examples/digits_mlp.expr --steps "$steps"
  run cc_blas "$gradc" train examples/digits_mlp.expr --steps "$steps" --backend cc --blas
  run tcc "$gradc" train examples/digits_mlp.expr --steps "$steps" --backend tcc
  if [ -n "$py" ]; then
    "$py" tests/bench/train_torch.py examples/digits.csv --steps "$steps" --reps 1 --threads 1 \
      --json "$tmp/torch.json" >"$tmp/torch.log"
    "$py" -c 'import json, sys; d = json.load(open(sys.argv[1])); print("%.3f %.3f" % (d["cpu_s"], d["wall_s"]))' \
      "$tmp/torch.json" >>"$tmp/torch"
    tail -1 "$tmp/torch.log" | sed 's/^ *//' >"$tmp/torch.line"
  fi
  echo "  run $r of $reps done" >&2
done
[ -n "$py" ] && names="$names torch"

echo "== gradc train examples/digits_mlp.expr, $steps steps, medians of $reps runs (one thread)"
printf "  %-26s %9s %9s %10s %10s %9s\n" "" "cpu s" "wall s" "steps/s cpu" "steps/s wall" "final J"
base_cpu=$(median "$tmp/cc_blas" 1)
base_wall=$(median "$tmp/cc_blas" 2)
json="{\"bench\": \"train\", \"steps\": $steps, \"reps\": $reps"
for n in $names; do
  c=$(median "$tmp/$n" 1)
  w=$(median "$tmp/$n" 2)
  case $n in
    default) label="gradc (no options)" ;;
    cc_blas) label="gradc --backend cc --blas" ;;
    tcc) label="gradc --backend tcc" ;;
    torch) label="PyTorch (train_torch.py)" ;;
  esac
  j=$(if [ "$n" = torch ]; then sed -n 's/.*J = \([^,]*\),.*/\1/p' "$tmp/torch.log" | tail -1; else
        grep '^step ' "$tmp/$n.out" | tail -1 | sed -n 's/.*  J = \([^ ]*\).*/\1/p'; fi)
  printf "  %-26s %9.3f %9.3f %10.0f %10.0f %9s\n" "$label" "$c" "$w" \
    "$(echo "$steps / $c" | bc -l)" "$(echo "$steps / $w" | bc -l)" "$j"
  json="$json, \"$n\": {\"cpu_s\": $c, \"wall_s\": $w, \"J\": \"$j\"}"
done
echo "  ratios (steps/s of the first over the second; above 1: the first is faster):"
d_cpu=$(median "$tmp/default" 1)
d_wall=$(median "$tmp/default" 2)
printf "    no options / --backend cc --blas:  cpu %.3f  wall %.3f  (done when >= 0.9)\n" \
  "$(echo "$base_cpu / $d_cpu" | bc -l)" "$(echo "$base_wall / $d_wall" | bc -l)"
if [ -n "$py" ]; then
  t_cpu=$(median "$tmp/torch" 1)
  t_wall=$(median "$tmp/torch" 2)
  printf "    no options / PyTorch:              cpu %.3f  wall %.3f  (done when > 1)\n" \
    "$(echo "$t_cpu / $d_cpu" | bc -l)" "$(echo "$t_wall / $d_wall" | bc -l)"
  sed 's/^/  /' "$tmp/torch.line"
fi
echo "$json}" >"$build/bench_train.json"
echo "  (JSON in $build/bench_train.json)"
