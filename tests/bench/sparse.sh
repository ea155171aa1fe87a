#!/usr/bin/env bash
# sparse.sh: whole `gradc` commands on sparse problems, wall and CPU time
# (median of R runs), as ratios against `gradc eval` of the same file and
# values in the same run (process start, parsing, reading the values and
# the JIT are in both).
#   tests/bench/sparse.sh [BUILD_DIR] [RUNS]     (defaults: build, 5)
# Needs /usr/bin/time (Debian package time).
# Targets (issue 15): hessian --sparse of the chained Rosenbrock at
# n = 10^5 under 1 s wall; jacobian --sparse of the Broyden banded residuals
# at n = 1000 under 0.2 s.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
runs=${2:-5}
gradc=$build/gradc
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gradc-bench-sparse-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
awk 'BEGIN { srand(1); printf "["; for (i = 0; i < 100000; i++) printf "%s%.6f", (i ? "," : ""), 4 * rand() - 2; print "]" }' >"$tmp/x1e5.json"
rosen=examples/sparse/chained_rosenbrock.expr
broyden=examples/sparse/broyden_banded_residual.expr

# median wall and CPU (user+sys) seconds of a command, stdout discarded
measure() {
  local w=() c=()
  for ((i = 0; i < runs; i++)); do
    /usr/bin/time -f "%e %U %S" -o "$tmp/t" "$@" >/dev/null
    read -r e u s <"$tmp/t"
    w+=("$e")
    c+=("$(awk -v u="$u" -v s="$s" 'BEGIN { print u + s }')")
  done
  local mw mc
  mw=$(printf '%s\n' "${w[@]}" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
  mc=$(printf '%s\n' "${c[@]}" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
  echo "$mw $mc"
}

row() { # label baseline-wall baseline-cpu command...
  local label=$1 bw=$2 bc=$3
  shift 3
  read -r w c < <(measure "$@")
  printf "%-46s %8.3f %8.3f %9.1f %9.1f\n" "$label" "$w" "$c" \
    "$(awk -v a="$w" -v b="$bw" 'BEGIN { print a / (b > 0 ? b : 0.001) }')" \
    "$(awk -v a="$c" -v b="$bc" 'BEGIN { print a / (b > 0 ? b : 0.001) }')"
}

echo "load: $(cut -d' ' -f1-3 /proc/loadavg); medians of $runs runs; ratios against eval of the same input"
printf "%-46s %8s %8s %9s %9s\n" "command" "wall s" "cpu s" "wall/eval" "cpu/eval"
read -r bw bc < <(measure "$gradc" eval "$rosen" x=@"$tmp/x1e5.json")
printf "%-46s %8.3f %8.3f %9s %9s\n" "eval rosenbrock x[1e5] (baseline)" "$bw" "$bc" 1 1
row "sparsity --hessian rosenbrock N=1e4" "$bw" "$bc" "$gradc" sparsity --hessian "$rosen" N=10000
row "hessian --sparse rosenbrock x[1e5]" "$bw" "$bc" "$gradc" hessian --sparse "$rosen" x=@"$tmp/x1e5.json"
row "hessian --sparse --json rosenbrock x[1e5]" "$bw" "$bc" "$gradc" hessian --sparse --json "$rosen" x=@"$tmp/x1e5.json"
read -r bw bc < <(measure "$gradc" eval "$broyden" N=1000)
printf "%-46s %8.3f %8.3f %9s %9s\n" "eval broyden N=1000 (baseline)" "$bw" "$bc" 1 1
row "jacobian --sparse broyden N=1000" "$bw" "$bc" "$gradc" jacobian --sparse "$broyden" N=1000
row "jacobian broyden N=1000 (dense print, pattern)" "$bw" "$bc" "$gradc" jacobian "$broyden" N=1000
