#!/usr/bin/env bash
# mpi.sh: `mpirun --oversubscribe -np 2 gradc` against one process on the
# same data (issue 20): the Iris network of examples/iris_mlp.expr on N rows
# (the 150 flowers replicated with a little noise, default N = 10^6, written
# to a CSV once), whole commands timed with /usr/bin/time (median of R runs,
# wall and CPU = user + sys of every process):
#   grad             one pass over the data (reading the CSV included)
#   train --steps S  S full-batch Adam steps (the compute dominates)
# Each run pins one thread per process (--threads 1), so the ratio is that
# of 2 processes to 1, not of threads. Printed: seconds and the speedup
# (one process / mpirun). Nothing is asserted on time.
#   tests/bench/mpi.sh [BUILD_DIR] [N] [STEPS] [RUNS]   (build, 1000000, 20, 3)
# Needs Open MPI's mpirun and a gradc built with MPI (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
n=${2:-1000000}
steps=${3:-20}
runs=${4:-3}
gradc=$(realpath "$build/gradc")
command -v mpirun > /dev/null || { echo "mpi.sh: no mpirun (apt-get install openmpi-bin)"; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gradc-bench-mpi-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
awk -F, -v n="$n" 'NR == 1 { print; next } { r[NR - 2] = $0; m = NR - 1 }
  END { srand(7); print r[0] > "/dev/stderr"; for (i = 0; i < n; i++) { split(r[i % m], f, ",")
        printf "%s,%s,%.3f,%.3f,%s\n", f[1], f[2], f[3] + 0.05 * (rand() - 0.5), f[4] + 0.05 * (rand() - 0.5), f[5] } }' \
  examples/iris.csv > "$tmp/iris.csv" 2> /dev/null
sed "s|@iris.csv|@$tmp/iris.csv|g" examples/iris_mlp.expr > "$tmp/iris.expr"

measure() { # median wall and CPU seconds of a command, stdout discarded
  local w=() c=()
  for ((i = 0; i < runs; i++)); do
    /usr/bin/time -f "%e %U %S" -o "$tmp/t" "$@" > /dev/null
    read -r e u s < "$tmp/t"
    w+=("$e")
    c+=("$(awk -v u="$u" -v s="$s" 'BEGIN { print u + s }')")
  done
  local mw mc
  mw=$(printf '%s\n' "${w[@]}" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
  mc=$(printf '%s\n' "${c[@]}" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
  echo "$mw $mc"
}

echo "Iris network, N = $n rows; load: $(cut -d' ' -f1-3 /proc/loadavg); medians of $runs runs"
printf '%-34s %9s %9s %9s %9s\n' command "1 proc s" "np 2 s" speedup "cpu ratio"
for what in "grad" "train --steps $steps"; do
  # shellcheck disable=SC2086
  read -r w1 c1 < <(measure "$gradc" $what "$tmp/iris.expr" --threads 1 --backend tcc)
  # shellcheck disable=SC2086
  read -r w2 c2 < <(measure mpirun --allow-run-as-root --oversubscribe -np 2 "$gradc" $what "$tmp/iris.expr" \
    --threads 1 --backend tcc)
  awk -v l="$what" -v a="$w1" -v b="$w2" -v ca="$c1" -v cb="$c2" \
    'BEGIN { printf "%-34s %9.2f %9.2f %8.2fx %8.2fx\n", l, a, b, a / b, cb / ca }'
done
