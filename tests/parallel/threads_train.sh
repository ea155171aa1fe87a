#!/usr/bin/env bash
# gradc train --batch B --threads T: the same bits for T = 1, 2 and 3, with
# blocks of 8 rows (so a batch of 40 is 5 blocks), on the Iris network and
# on it with an L2 regulariser (the regulariser computed once per step, not
# per block); and grad of the regularised loss likewise.
# Usage: threads_train.sh GRADC REPO
set -euo pipefail
gradc=$1
repo=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for f in "$repo/examples/iris_mlp.expr" "$repo/tests/parallel/iris_l2.expr"; do
  for batch in "--batch 40" ""; do
    for t in 1 2 3; do
      # shellcheck disable=SC2086
      "$gradc" train "$f" --steps 50 $batch --block-rows 8 --threads "$t" --save "$tmp/t$t.json" > /dev/null
    done
    cmp "$tmp/t1.json" "$tmp/t2.json" && cmp "$tmp/t1.json" "$tmp/t3.json" ||
      { echo "FAIL: $(basename "$f") $batch: params differ between 1, 2 and 3 threads"; exit 1; }
    echo "ok: $(basename "$f") ${batch:-(whole data)}: the same params with 1, 2, 3 threads"
  done
  for t in 1 2; do
    "$gradc" grad "$f" --json --block-rows 8 --threads "$t" > "$tmp/g$t.json"
  done
  cmp "$tmp/g1.json" "$tmp/g2.json" || { echo "FAIL: $(basename "$f"): grad differs between 1 and 2 threads"; exit 1; }
done
echo "ok: grad with 1 and 2 threads"
