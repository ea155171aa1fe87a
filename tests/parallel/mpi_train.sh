#!/usr/bin/env bash
# mpirun -np 2 gradc train: the Iris network from a CSV split between two
# processes, 100 Adam steps, against one process: the same bits with the
# same blocks (75 rows), and within 1e-10 of one call over all the rows.
# Usage: mpi_train.sh GRADC REPO
set -euo pipefail
gradc=$1
repo=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$repo/examples"
mpirun --allow-run-as-root --oversubscribe -np 2 "$gradc" train iris_mlp.expr --steps 100 \
  --save "$tmp/mpi.json" > "$tmp/mpi.out"
grep -q "saved the params" "$tmp/mpi.out"
"$gradc" train iris_mlp.expr --steps 100 --block-rows 75 --save "$tmp/blocks.json" > /dev/null
"$gradc" train iris_mlp.expr --steps 100 --save "$tmp/one.json" > /dev/null
cmp "$tmp/mpi.json" "$tmp/blocks.json" || { echo "FAIL: MPI and 75-row blocks differ"; exit 1; }
# the numbers of two JSON files, pairwise: relative difference at most 1e-10
nums() { tr -c '0-9eE.+-' '\n' < "$1" | grep -E '[0-9]' ; }
paste <(nums "$tmp/mpi.json") <(nums "$tmp/one.json") | awk '
  { d = $1 - $2; if (d < 0) d = -d; s = $2 < 0 ? -$2 : $2; if (d > 1e-10 * s + 1e-300) { bad++; print "differs:", $1, $2 } n++ }
  END { if (bad || n < 99) { print "FAIL", n, "numbers,", bad + 0, "differ"; exit 1 } print "ok:", n, "numbers within 1e-10" }'
# each process holds only its rows: a bad cell in the second half is read by rank 1 alone
head -1 iris.csv > "$tmp/bad.csv"
tail -n +2 iris.csv | awk -F, -v OFS=, 'NR == 120 { $3 = "x" } { print }' >> "$tmp/bad.csv"
sed "s|@iris.csv|@$tmp/bad.csv|g" iris_mlp.expr > "$tmp/bad.expr"
set +e
mpirun --allow-run-as-root --oversubscribe -np 2 "$gradc" eval "$tmp/bad.expr" > "$tmp/bad.out" 2> "$tmp/bad.err"
rc=$?
set -e
[ "$rc" -ne 0 ] || { echo "FAIL: a bad cell was not reported"; exit 1; }
n=$(grep -c "is not a number" "$tmp/bad.err" || true)
[ "$n" -eq 1 ] || { echo "FAIL: the bad cell was reported $n times (want once: rank 1 only)"; cat "$tmp/bad.err"; exit 1; }
echo "ok: the bad cell of row 120 is read by one process"
# commands that would compute from rank 0's rows alone are refused, once;
# hessian --sparse and hvp combine the ranks: the same numbers as one process
for c in "hessian" "spectrum" "check" "jacobian"; do
  set +e
  mpirun --allow-run-as-root --oversubscribe -np 2 "$gradc" $c iris_mlp.expr > "$tmp/c.out" 2> "$tmp/c.err"
  rc=$?
  set -e
  [ "$rc" -ne 0 ] || { echo "FAIL: mpirun $c ran on a share of the rows"; cat "$tmp/c.out"; exit 1; }
  n=$(grep -c "does not run under mpirun" "$tmp/c.err" || true)
  [ "$n" -eq 1 ] || { echo "FAIL: mpirun $c: refusal said $n times"; cat "$tmp/c.err"; exit 1; }
done
echo "ok: hessian, spectrum, check, jacobian refused under mpirun"
printf 'param w = 0.5\ninput X[N] = @d.csv:x\ninput Y[N] = @d.csv:y\noutput L = mean((w*X - Y)^2)\n' > "$tmp/lr.expr"
printf 'x,y\n1,2\n2,4\n3,6\n4,8\n' > "$tmp/d.csv"
(cd "$tmp" && mpirun --allow-run-as-root --oversubscribe -np 2 "$gradc" hessian --sparse lr.expr > mpi_h.out &&
  "$gradc" hessian --sparse lr.expr > one_h.out && cmp mpi_h.out one_h.out) ||
  { echo "FAIL: hessian --sparse under mpirun differs from one process"; exit 1; }
echo "ok: hessian --sparse under mpirun = one process"
