#!/bin/sh
# valgrind.sh GRADC_BINARY REPO_ROOT: run gradc's commands under valgrind
# (memcheck: invalid reads and writes, uses of uninitialised values, and
# definite or indirect leaks) on examples/seed_scalar.expr and
# examples/iris_mlp.expr: eval, grad, jvp, jacobian, hessian, check,
# trace, emit, dot, train (a few steps, --save), scripted repl sessions
# (stdin from tests/harden/valgrind_*.in), and some error paths.
#
# Exit status 0 when every run has the expected exit status and valgrind
# found nothing; 1 otherwise; 77 (skipped) when gradc is built with ASan,
# which valgrind cannot run. Prints valgrind's ERROR SUMMARY and leak
# summary of each run, then the totals.
set -u
if [ $# -ne 2 ]; then
  echo "usage: $0 GRADC_BINARY REPO_ROOT" >&2
  exit 2
fi
gradc=$1
root=$2
case $gradc in /*) ;; *) gradc=$(pwd)/$gradc ;; esac
[ -x "$gradc" ] || { echo "no gradc binary at $gradc" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 2; }
if nm -D "$gradc" 2>/dev/null | grep -q __asan_init || nm "$gradc" 2>/dev/null | grep -q __asan_init; then
  echo "valgrind.sh: $gradc is built with AddressSanitizer; valgrind cannot run it (skipped)"
  exit 77
fi
cd "$root" || exit 2

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gradc-valgrind-XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
export HOME="$tmp" GRADC_HISTORY="$tmp/history"

here=tests/harden
s=examples/seed_scalar.expr
i=examples/iris_mlp.expr
runs=0
failures=0
errors=0

# vg WANT_STATUS STDIN ARGS...: gradc ARGS under valgrind
vg() {
  want=$1 input=$2
  shift 2
  runs=$((runs + 1))
  log=$tmp/vg.$runs.log
  valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect \
    --error-exitcode=99 --log-file="$log" "$gradc" "$@" \
    <"$input" >"$tmp/out" 2>"$tmp/err"
  rc=$?
  summary=$(grep -h "ERROR SUMMARY" "$log" | sed 's/^==[0-9]*== //')
  leaks=$(grep -h -E "definitely lost|indirectly lost|no leaks are possible" "$log" |
    sed 's/^==[0-9]*== *//' | tr '\n' ' ')
  n=$(echo "$summary" | sed -n 's/ERROR SUMMARY: \([0-9]*\) errors.*/\1/p')
  errors=$((errors + ${n:-0}))
  if [ "$rc" -ne "$want" ]; then
    failures=$((failures + 1))
    echo "FAIL gradc $*: exit status $rc, expected $want (99: valgrind found errors)"
    echo "--- stderr:"
    head -c 2000 "$tmp/err"
    echo "--- valgrind:"
    grep -v "^==[0-9]*== *$" "$log" | head -60
  else
    echo "ok   gradc $*"
  fi
  echo "     $summary; $leaks"
}

none=/dev/null
vg 0 $none eval $s w=2 x=3 y=1
vg 0 $none eval $i --json
vg 0 $none grad $s w=2 x=3 y=1 --json
vg 0 $none grad $i
vg 0 $none jvp $s w=2 x=3 y=1 --tangent w=1 y=-1
vg 0 $none jvp $i --tangent c=[1,0,0]
vg 0 $none jacobian $s w=2 x=3 y=1 --mode forward
vg 0 $none hessian $s w=2 x=3 y=1
vg 0 $none check $s w=2 x=3 y=1
vg 0 $none check $i
vg 0 $none trace $s w=2 x=3 y=1 --wrt x
vg 0 $none trace examples/seed_sincos.expr w0=0.5 w1=2 x=3 --wrt w1 --output y2
vg 0 $none emit $s -o "$tmp/s.c" --header "$tmp/s.h"
vg 0 $none emit $i -o "$tmp/i.c" --prefix iris
vg 0 $none dot $i --grad
vg 0 $none train $s w=2 x=3 y=1 --steps 20 --optimizer momentum --lr 0.01
vg 0 $none train $i --steps 30 --batch 16 --save "$tmp/p.json"
vg 0 $none eval $i --inputs "$tmp/p.json"
vg 0 $none grad $i --backend cc --wrt c
vg 1 $here/valgrind_scalar.in repl
vg 0 $here/valgrind_iris.in repl $i
# error paths: a syntax error, a missing value, a bad value, a write that fails
printf 'param w\noutput L = w*(x + \nq = )\n' >"$tmp/bad.expr"
vg 1 $none grad "$tmp/bad.expr"
vg 1 $none eval $s w=2 x=3
vg 1 $none grad $i c=[1,2]
vg 1 $none emit $s -o "$tmp/nodir/s.c"

echo "valgrind.sh: $runs runs, $failures failed, $errors valgrind errors in total"
[ "$failures" -eq 0 ]
