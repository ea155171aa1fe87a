#!/usr/bin/env bash
# landscape_test.sh: `gradc landscape` from the outside, one case per ctest
# test.
#
#   tests/landscape/landscape_test.sh GRADC LANDSCAPE_CHECK REPO_ROOT CASE
#
# Runs from REPO_ROOT (examples/iris_mlp.expr finds its data there), in a
# scratch directory of its own for what the case writes. Prints what went
# wrong and exits 1 when the case fails. landscape_check (landscape_check.c)
# does what needs JSON, exact doubles or a PNG decoder.
#
# The grid_* cases rebuild the params at sampled grid points from the
# --json output (centre, directions) and the params files, run `gradc eval`
# there and want the very bits of the landscape's values. The
# permutation_symmetry case is the weight space symmetry of the course:
# permuting the hidden units of the trained Iris network (rows of V, entries
# of b, columns of W) changes the params but not the function. In floating
# point the scores Z = H @ W' + c sum the 16 products of a row of H and a
# row of W in index order, g_acc += H[i,p]*W[j,p] for p = 0..15, and that
# order follows the units: a permutation adds the same 16 products in
# another order, and floating-point addition is commutative but not
# associative. So:
#   - swapping units 0 and 1 leaves every bit of Z, J and the accuracy as it
#     was: the first partial sum is 0 + t0 = t0 exactly, then t0 + t1 ==
#     t1 + t0 (IEEE addition is commutative) and the rest is unchanged;
#   - any permutation leaves the hidden activations H exactly permuted
#     (their sums over the 2 inputs keep their order), while J may move by
#     a few units in the last place: when this test was written, 3 of its
#     10 permutations moved J (300 Adam steps) by 3 units, 4.2e-17, and 8 of
#     30 (random:1 .. random:30) of the 2000-step network moved J by 1 to 3
#     units. The test allows 8.
set -u

if [ $# -ne 4 ]; then
  echo "usage: $0 GRADC LANDSCAPE_CHECK REPO_ROOT CASE" >&2
  exit 2
fi
gradc=$1
check=$2
root=$3
case=$4
case $gradc in /*) ;; *) gradc=$(pwd)/$gradc ;; esac
case $check in /*) ;; *) check=$(pwd)/$check ;; esac
cd "$root" || exit 2
[ -x "$gradc" ] || { echo "no gradc binary at $gradc" >&2; exit 2; }
[ -x "$check" ] || { echo "no landscape_check binary at $check" >&2; exit 2; }
iris=examples/iris_mlp.expr

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gradc-landscape-XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT

failures=0
fail() {
  echo "FAIL $case: $*"
  failures=$((failures + 1))
}

# run NAME ARGS...: gradc ARGS with stdout in $tmp/NAME.out, stderr in
# $tmp/NAME.err and the exit code in $rc.
run() {
  local name=$1
  shift
  "$gradc" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
  rc=$?
}

expect_rc() { # NAME WANT
  if [ "$rc" != "$2" ]; then
    fail "$1: exit code $rc, want $2"
    sed 's/^/    stderr: /' "$tmp/$1.err" | head -20
  fi
}

# checker NAME ARGS...: landscape_check ARGS, its output shown, a failure
# recorded as NAME.
checker() {
  local name=$1
  shift
  if ! "$check" "$@" >"$tmp/check.out" 2>&1; then
    fail "$name: landscape_check $*"
    sed 's/^/    /' "$tmp/check.out" | head -40
  else
    sed 's/^/    /' "$tmp/check.out" | head -8
  fi
}

# trained params in $tmp/trained.json, params after a few steps in
# $tmp/early.json
train() {
  run train train "$iris" --steps 300 --save "$tmp/trained.json"
  expect_rc train 0
  run early train "$iris" --steps 10 --save "$tmp/early.json"
  expect_rc early 0
}

case $case in
grid_random_plane)
  train
  run land landscape "$iris" --inputs "$tmp/trained.json" --dim 2 --grid 9 --json -o "$tmp/p.png"
  expect_rc land 0
  checker grid grid "$gradc" "$iris" "$tmp/land.out" 30 "$tmp/trained.json" -
  grep -q '"directions": "filter-normalised"' "$tmp/land.out" || fail "the directions are not filter-normalised"
  ;;
grid_random_line)
  train
  run land landscape "$iris" --inputs "$tmp/trained.json" --grid 11 --range -2:2 --seed 7 --json -o "$tmp/p.png"
  expect_rc land 0
  checker grid grid "$gradc" "$iris" "$tmp/land.out" 10 "$tmp/trained.json" -
  # another seed, other directions and values
  run land2 landscape "$iris" --inputs "$tmp/trained.json" --grid 11 --range -2:2 --seed 8 --json -o "$tmp/p.png"
  expect_rc land2 0
  if cmp -s "$tmp/land.out" "$tmp/land2.out"; then fail "--seed 7 and --seed 8 give the same grid"; fi
  ;;
grid_path_line)
  # a in 0:1, so the grid's ends are the two params files themselves
  train
  run land landscape "$iris" --inputs "$tmp/early.json" --along "$tmp/trained.json" --range 0:1 --grid 11 \
    --json -o "$tmp/p.png"
  expect_rc land 0
  checker grid grid "$gradc" "$iris" "$tmp/land.out" 10 "$tmp/early.json" "$tmp/trained.json"
  # the ends against plain eval of the two files
  run e0 eval "$iris" --inputs "$tmp/early.json" --json
  run e1 eval "$iris" --inputs "$tmp/trained.json" --json
  j0=$(sed -n 's/^ *"J": \(.*\),\{0,1\}$/\1/p' "$tmp/e0.out" | tr -d ,)
  j1=$(sed -n 's/^ *"J": \(.*\),\{0,1\}$/\1/p' "$tmp/e1.out" | tr -d ,)
  first=$(sed -n '/"values"/,/]/p' "$tmp/land.out" | sed -n 2p | tr -d ' ,')
  last=$(sed -n '/"values"/,/]/p' "$tmp/land.out" | sed -n 12p | tr -d ' ,')
  [ -n "$j0" ] && [ "$first" = "$j0" ] || fail "J at a = 0 is '$first', eval of early.json gives '$j0'"
  [ -n "$j1" ] && [ "$last" = "$j1" ] || fail "J at a = 1 is '$last', eval of trained.json gives '$j1'"
  ;;
grid_path_plane)
  train
  run land landscape "$iris" --inputs "$tmp/early.json" --along "$tmp/trained.json" --dim 2 --grid 7 \
    --range 0:1,-1:1 --json -o "$tmp/p.png"
  expect_rc land 0
  checker grid grid "$gradc" "$iris" "$tmp/land.out" 20 "$tmp/early.json" "$tmp/trained.json"
  ;;
grid_saddle)
  # two scalar params: the directions are their axes
  echo '{"x": 0.25, "y": -0.5}' >"$tmp/c.json"
  run land landscape examples/saddle.expr --inputs "$tmp/c.json" --dim 2 --grid 11 --json -o "$tmp/p.png"
  expect_rc land 0
  checker grid grid "$gradc" examples/saddle.expr "$tmp/land.out" 20 "$tmp/c.json" -
  grep -q '"directions": "axes"' "$tmp/land.out" || fail "the directions are not the axes"
  # at a = b = 1 from (0.25, -0.5): f(1.25, 0.5) = 1.5625 - 0.25
  grep -q '^ *1.3125$' "$tmp/land.out" || fail "no f(1.25, 0.5) = 1.3125 in the last row"
  ;;
grid_not_finite)
  # log(0.5 + a) for a in -1:1: NaN, then -Infinity at a = -0.5, then numbers
  run land landscape tests/landscape/data/log.expr --grid 21 --json -o "$tmp/p.png"
  expect_rc land 0
  grep -q '"NaN"' "$tmp/land.out" || fail "no NaN in the grid"
  grep -q '"-Infinity"' "$tmp/land.out" || fail "no -Infinity in the grid"
  grep -q '"not_finite": 6' "$tmp/land.out" || fail "not_finite is not 6 (a = -1 .. -0.5)"
  echo '{"x": 0.5}' >"$tmp/c.json"
  checker grid grid "$gradc" tests/landscape/data/log.expr "$tmp/land.out" 21 "$tmp/c.json" -
  checker png png "$tmp/p.png" 800 500
  run text landscape tests/landscape/data/log.expr --grid 21 -o "$tmp/p.png"
  expect_rc text 0
  grep -q '^6 of 21 values are not finite: gaps in the plot$' "$tmp/text.out" || fail "no line about the gaps"
  run plane landscape tests/landscape/data/log_sqrt.expr --dim 2 --grid 5 -o "$tmp/p.png"
  expect_rc plane 0
  # x = 0.5 + a <= 0 in 2 columns, y = 0.5 + b < 0 in 1 row: 10 + 5 - 2
  grep -q "^13 of 25 values are not finite: grey cells in the plot$" "$tmp/plane.out" || fail "no line about the grey cells"
  checker png png "$tmp/p.png" 760 680
  ;;
grid_cc_backend)
  # the same bits with the system compiler's code
  train
  run land landscape "$iris" --inputs "$tmp/trained.json" --dim 2 --grid 5 --json -o "$tmp/p.png" --backend cc
  expect_rc land 0
  checker grid grid "$gradc" "$iris" "$tmp/land.out" 5 "$tmp/trained.json" - -- --backend cc
  ;;
png_sizes)
  train
  run line landscape "$iris" --inputs "$tmp/trained.json" -o "$tmp/line.png"
  expect_rc line 0
  checker line png "$tmp/line.png" 800 500
  grep -q "^wrote $tmp/line.png (800 x 500 pixels)$" "$tmp/line.out" || fail "no 'wrote' line"
  run plane landscape "$iris" --inputs "$tmp/trained.json" --dim 2 -o "$tmp/plane.png"
  expect_rc plane 0
  checker plane png "$tmp/plane.png" 760 680
  run path landscape "$iris" --along "$tmp/trained.json" -o "$tmp/path.png"
  expect_rc path 0
  checker path png "$tmp/path.png" 800 500
  leftover=$(find "$tmp" -name '*.tmp*' | wc -l)
  [ "$leftover" = 0 ] || fail "$leftover temporary files left behind"
  ;;
atomic)
  # a run that fails leaves the PNG of the run before as it was
  train
  run good landscape "$iris" --inputs "$tmp/trained.json" -o "$tmp/p.png"
  expect_rc good 0
  cp "$tmp/p.png" "$tmp/before.png"
  run bad landscape "$iris" --inputs "$tmp/trained.json" 'X=[[1, 2], [3, 4]]' 'label=[0, 5]' -o "$tmp/p.png"
  expect_rc bad 1
  grep -q 'onehot' "$tmp/bad.err" || fail "the failed run does not say why"
  cmp -s "$tmp/p.png" "$tmp/before.png" || fail "the failed run changed the PNG"
  run nodir landscape "$iris" -o "$tmp/no/such/dir/p.png"
  expect_rc nodir 1
  grep -q "cannot write $tmp/no/such/dir/p.png" "$tmp/nodir.err" || fail "no error for a missing directory"
  leftover=$(find "$tmp" -name '*.tmp*' | wc -l)
  [ "$leftover" = 0 ] || fail "$leftover temporary files left behind"
  ;;
progress)
  # a progress bar on a terminal (script(1) gives one), nothing otherwise
  run quiet landscape examples/saddle.expr --dim 2 -o "$tmp/p.png"
  expect_rc quiet 0
  [ -s "$tmp/quiet.err" ] && fail "stderr is not a terminal, yet: $(head -c 200 "$tmp/quiet.err")"
  if command -v script >/dev/null; then
    script -qec "'$gradc' landscape examples/saddle.expr --dim 2 -o '$tmp/p.png' >/dev/null" /dev/null \
      >"$tmp/tty.out" 2>&1
    grep -q 'landscape \[=*\] 1681/1681 points' "$tmp/tty.out" || fail "no progress bar on a terminal"
  else
    fail "script(1) is missing (package bsdutils)"
  fi
  ;;
permutation_symmetry)
  train
  # the network with its hidden units H and scores Z as outputs too
  sed -e 's/^H = /output H = /' -e 's/^Z = /output Z = /' "$iris" >"$tmp/iris_hz.expr"
  cp examples/iris.csv "$tmp/"
  # gradc's own loops (--no-blas): each product sums in order, so swapping
  # the first two units keeps the bits; OpenBLAS's kernels sum in blocks
  run base eval "$tmp/iris_hz.expr" --inputs "$tmp/trained.json" --json --no-blas
  expect_rc base 0
  swap="1,0$(seq -s, 2 15 | sed 's/^/,/')"
  checker permute permute "$tmp/trained.json" "$swap" "$tmp/swap.json"
  run swap eval "$tmp/iris_hz.expr" --inputs "$tmp/swap.json" --json --no-blas
  expect_rc swap 0
  checker H columns "$tmp/base.out" "$tmp/swap.out" H "$swap"
  checker Z bits "$tmp/base.out" "$tmp/swap.out" Z
  checker J bits "$tmp/base.out" "$tmp/swap.out" J
  checker accuracy bits "$tmp/base.out" "$tmp/swap.out" accuracy
  checker pred bits "$tmp/base.out" "$tmp/swap.out" pred
  # J through the example itself, as the landscape sees it
  run j0 eval "$iris" --inputs "$tmp/trained.json" --json --no-blas
  run j1 eval "$iris" --inputs "$tmp/swap.json" --json --no-blas
  checker J_example bits "$tmp/j0.out" "$tmp/j1.out" J
  for seed in 1 2 3 4 5 6 7 8 9 10; do
    checker "permute $seed" permute "$tmp/trained.json" "random:$seed" "$tmp/perm.json"
    run perm eval "$tmp/iris_hz.expr" --inputs "$tmp/perm.json" --json --no-blas
    expect_rc perm 0
    checker "H $seed" columns "$tmp/base.out" "$tmp/perm.out" H "random:$seed"
    checker "J $seed" ulps "$tmp/base.out" "$tmp/perm.out" J 8
    checker "accuracy $seed" bits "$tmp/base.out" "$tmp/perm.out" accuracy
  done
  ;;
*)
  echo "unknown case $case" >&2
  exit 2
  ;;
esac

if [ "$failures" -ne 0 ]; then
  echo "$case: $failures failures"
  exit 1
fi
echo "$case: passed"
