#!/usr/bin/env bash
# mpirun -np 2 gradc: mini-batches, values per row, and a regularised loss.
#  - train --batch B under 2 processes (each holds half of the CSV's rows,
#    evaluates the rows of each batch it holds; the sums are combined and the
#    mean divided by B) against one process with --batch B: within 1e-10
#    after 100 steps, for B = 1 (a process holds no row of a batch half the
#    time), 32, and 50 with blocks of 8 rows on 2 threads per process;
#  - the Iris network with an L2 regulariser (a mean plus a term without the
#    rows, computed once), full batch and --batch 20, against one process;
#  - eval of a value per row (pred): rank 0 prints every row in the data's
#    order, as one process does.
# Usage: mpi_batch.sh GRADC REPO
set -euo pipefail
gradc=$1
repo=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mpi() { mpirun --allow-run-as-root --oversubscribe -np 2 "$gradc" "$@"; }
# the numbers of two JSON files, pairwise: relative difference at most 1e-10
close() {
  nums() { tr -c '0-9eE.+-' '\n' < "$1" | grep -E '[0-9]'; }
  paste <(nums "$1") <(nums "$2") | awk -v what="$3" '
    { d = $1 - $2; if (d < 0) d = -d; s = $2 < 0 ? -$2 : $2; r = d / (s + 1e-300)
      if (d > 1e-10 * s + 1e-300) { bad++; print "differs:", $1, $2 } if (r > worst) worst = r; n++ }
    END { if (bad || n < 99) { print "FAIL:", what, n, "numbers,", bad + 0, "differ"; exit 1 }
          printf "ok: %s: %d numbers, worst relative difference %.3g\n", what, n, worst }'
}
cd "$repo/examples"
for spec in "1" "32" "50 --block-rows 8 --threads 2"; do
  # shellcheck disable=SC2086
  mpi train iris_mlp.expr --steps 100 --batch $spec --save "$tmp/mpi.json" > "$tmp/mpi.out"
  grep -q "saved the params" "$tmp/mpi.out"
  b=${spec%% *}
  "$gradc" train iris_mlp.expr --steps 100 --batch "$b" --save "$tmp/one.json" > /dev/null
  close "$tmp/mpi.json" "$tmp/one.json" "mpirun train --batch $spec"
done
# a batch of 100 of the 150 rows is a mini-batch, though each process holds 75
mpi train iris_mlp.expr --steps 1 --batch 100 | grep -q "mini-batches of 100" ||
  { echo "FAIL: mpirun train --batch 100 does not say it takes mini-batches of 100"; exit 1; }
l2=$repo/tests/parallel/iris_l2.expr
mpi train "$l2" --steps 100 --save "$tmp/mpi.json" > /dev/null
"$gradc" train "$l2" --steps 100 --save "$tmp/one.json" > /dev/null
close "$tmp/mpi.json" "$tmp/one.json" "mpirun train, L2 regulariser"
mpi train "$l2" --steps 100 --batch 20 --save "$tmp/mpi.json" > /dev/null
"$gradc" train "$l2" --steps 100 --batch 20 --save "$tmp/one.json" > /dev/null
close "$tmp/mpi.json" "$tmp/one.json" "mpirun train --batch 20, L2 regulariser"
# the regulariser is counted once: the loss as one process has it (10 digits)
mpi eval "$l2" --output J > "$tmp/mpi.out"
"$gradc" eval "$l2" --output J > "$tmp/one.out"
cmp "$tmp/mpi.out" "$tmp/one.out" || { echo "FAIL: mpirun eval of the regularised loss differs"; exit 1; }
# values per row: every row, in order, printed once
for f in iris_mlp.expr "$l2"; do
  for json in "" "--json"; do
    # shellcheck disable=SC2086
    mpi eval "$f" --output pred $json > "$tmp/mpi.out"
    # shellcheck disable=SC2086
    "$gradc" eval "$f" --output pred $json > "$tmp/one.out"
    cmp "$tmp/mpi.out" "$tmp/one.out" || { echo "FAIL: mpirun eval --output pred $json differs"; diff "$tmp/mpi.out" "$tmp/one.out" | head; exit 1; }
  done
done
mpi eval iris_mlp.expr --output pred > "$tmp/mpi.out"
n=$(tr -c '0-9.' '\n' < "$tmp/mpi.out" | grep -c '[0-9]')
[ "$n" -eq 150 ] || { echo "FAIL: pred has $n values, not 150"; exit 1; }
echo "ok: mpirun eval --output pred: 150 rows in order, as one process"
