#!/usr/bin/env bash
# train_cli.sh: `gradc train` from the outside, one case per ctest test.
#
#   tests/train/train_cli.sh GRADC REPO_ROOT CASE
#
# Runs from REPO_ROOT, so that examples/iris_mlp.expr finds its data, in a
# scratch directory of its own for whatever the case writes. Prints what
# went wrong and exits 1 when the case fails.
set -u

if [ $# -ne 3 ]; then
  echo "usage: $0 GRADC REPO_ROOT CASE" >&2
  exit 2
fi
gradc=$1
root=$2
case=$3
case $gradc in /*) ;; *) gradc=$(pwd)/$gradc ;; esac
cd "$root" || exit 2
[ -x "$gradc" ] || { echo "no gradc binary at $gradc" >&2; exit 2; }
data=tests/train/data

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gradc-train-XXXXXX") || exit 2
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

# The "step N  J = ..." lines without the speed, which varies.
steps_only() {
  grep '^step ' "$1" | sed 's/  ([0-9.e+]* steps\/s)$//'
}

# The value of METRIC (J, accuracy) on the last step line of FILE.
last_metric() { # FILE METRIC
  grep '^step ' "$1" | tail -1 | sed -n "s/.*  $2 = \([^ ]*\).*/\1/p"
}

# Every J on the step lines must be below the one before, and the last
# below half the first.
check_falling() { # NAME
  awk -v name="$1" '
    /^step / { for (i = 1; i < NF; i++) if ($i == "J" && $(i + 1) == "=") { j = $(i + 2) + 0
                 if (n > 0 && j >= prev) { printf "loss rose: %s after %s\n", $0, prev; bad = 1 }
                 if (n == 0) first = j
                 prev = j; n++ } }
    END { if (n < 3) { print "fewer than 3 step lines"; bad = 1 }
          else if (prev >= first / 2) { printf "loss %g -> %g: not halved\n", first, prev; bad = 1 }
          exit bad }' "$tmp/$1.out" || fail "$1: the loss did not fall"
}

at_least() { # VALUE MIN WHAT
  if [ -z "$1" ] || ! awk -v v="$1" -v m="$2" 'BEGIN { exit !(v + 0 >= m + 0) }'; then
    fail "$3 = '$1', want >= $2"
  fi
}

# "FILE:LINE:COL: error: MESSAGE" (SPEC 2.3) for every error line on stderr.
check_error_format() { # NAME
  local bad
  bad=$(grep 'error:' "$tmp/$1.err" | grep -Ev '^[^: ]+:[0-9]+:[0-9]+: error: .+$')
  if [ -n "$bad" ] || ! grep -q 'error:' "$tmp/$1.err"; then
    fail "$1: an error line is not FILE:LINE:COL: error: MESSAGE (SPEC 2.3):"
    echo "${bad:-(no error line at all)}" | sed 's/^/    /'
  fi
}

case $case in

iris_accuracy)
  # The course's network reaches 95% on the training data, with a loss that
  # falls at every report, and no progress bar when stdout is not a terminal.
  run iris train examples/iris_mlp.expr
  expect_rc iris 0
  head -1 "$tmp/iris.out" | grep -qx 'training J: adam, lr 0.01, 2000 steps on the whole data' ||
    fail "first line: $(head -1 "$tmp/iris.out")"
  [ "$(grep -c '^step ' "$tmp/iris.out")" = 21 ] || fail "want 21 step lines (0, 100, ..., 2000)"
  grep -q '^step 2000  J = ' "$tmp/iris.out" || fail "no line for step 2000"
  at_least "$(last_metric "$tmp/iris.out" accuracy)" 0.95 "final training accuracy"
  check_falling iris
  if grep -q $'\r' "$tmp/iris.out"; then fail "a progress bar (\\r) on a non-terminal stdout"; fi
  [ -s "$tmp/iris.err" ] && fail "stderr is not empty: $(head -3 "$tmp/iris.err")"
  ;;

iris_deterministic)
  # Same seed: the same output apart from the speed; another seed differs.
  run a train examples/iris_mlp.expr --steps 300 --seed 7
  run b train examples/iris_mlp.expr --steps 300 --seed 7
  run c train examples/iris_mlp.expr --steps 300 --seed 8
  run d train examples/iris_mlp.expr --steps 300
  run e train examples/iris_mlp.expr --steps 300 --seed 0
  for n in a b c d e; do expect_rc $n 0; done
  grep -v '^step ' "$tmp/a.out" >"$tmp/a.rest"
  grep -v '^step ' "$tmp/b.out" >"$tmp/b.rest"
  steps_only "$tmp/a.out" >"$tmp/a.steps"
  steps_only "$tmp/b.out" >"$tmp/b.steps"
  steps_only "$tmp/c.out" >"$tmp/c.steps"
  steps_only "$tmp/d.out" >"$tmp/d.steps"
  steps_only "$tmp/e.out" >"$tmp/e.steps"
  [ "$(wc -l <"$tmp/a.steps")" -ge 20 ] || fail "fewer than 20 step lines"
  cmp -s "$tmp/a.steps" "$tmp/b.steps" && cmp -s "$tmp/a.rest" "$tmp/b.rest" || {
    fail "two runs with --seed 7 differ"
    diff "$tmp/a.out" "$tmp/b.out" | head -20 | sed 's/^/    /'
  }
  cmp -s "$tmp/a.steps" "$tmp/c.steps" && fail "--seed 7 and --seed 8 print the same training"
  cmp -s "$tmp/d.steps" "$tmp/e.steps" || fail "the default seed is not --seed 0"
  # each run's speed figures are the only thing stripped
  [ "$(grep -c 'steps/s)$' "$tmp/a.out")" = 20 ] || fail "want 20 lines with a speed"
  ;;

save_and_reload)
  # --save writes JSON that eval --inputs reads back to the same loss, by
  # a temp file and a rename: nothing else is left in the directory.
  mkdir "$tmp/out"
  run train train examples/iris_mlp.expr --steps 150 --seed 3 --save "$tmp/out/p.json"
  expect_rc train 0
  grep -qx "saved the params to $tmp/out/p.json" "$tmp/train.out" || fail "no 'saved the params to' line"
  [ "$(ls -A "$tmp/out")" = p.json ] || fail "the save left other files: $(ls -A "$tmp/out" | tr '\n' ' ')"
  jt=$(last_metric "$tmp/train.out" J)
  at=$(last_metric "$tmp/train.out" accuracy)
  run eval eval examples/iris_mlp.expr --inputs "$tmp/out/p.json"
  expect_rc eval 0
  je=$(sed -n 's/^J = //p' "$tmp/eval.out")
  ae=$(sed -n 's/^accuracy = //p' "$tmp/eval.out")
  [ -n "$jt" ] && [ -n "$je" ] || fail "no J in train ('$jt') or eval ('$je')"
  # train prints 6 significant digits, eval 10
  [ "$(printf '%.6g' "$je")" = "$(printf '%.6g' "$jt")" ] || fail "train's final J = $jt, eval of the saved params J = $je"
  [ "$(printf '%.6g' "$ae")" = "$(printf '%.6g' "$at")" ] || fail "train's final accuracy = $at, eval's = $ae"
  # the same params as JSON: every param, with the shapes of the file
  for p in V b W c; do grep -q "\"$p\":" "$tmp/out/p.json" || fail "param $p is not saved"; done
  grep -q '"X"\|"label"' "$tmp/out/p.json" && fail "inputs were saved with the params"
  # saving again replaces the file, still with nothing left behind
  cp "$tmp/out/p.json" "$tmp/first.json"
  run again train examples/iris_mlp.expr --steps 10 --seed 3 --save "$tmp/out/p.json"
  expect_rc again 0
  [ "$(ls -A "$tmp/out")" = p.json ] || fail "the second save left: $(ls -A "$tmp/out" | tr '\n' ' ')"
  cmp -s "$tmp/first.json" "$tmp/out/p.json" && fail "the second save did not replace the file"
  # a save that cannot be written is an error, and leaves no file
  run nodir train examples/iris_mlp.expr --steps 2 --save "$tmp/out/missing/p.json"
  expect_rc nodir 1
  grep -q "$tmp/out/missing/p.json" "$tmp/nodir.err" || fail "the error does not name the file: $(cat "$tmp/nodir.err")"
  [ "$(ls -A "$tmp/out")" = p.json ] || fail "a failed save left: $(ls -A "$tmp/out" | tr '\n' ' ')"
  ;;

save_permissions)
  # The saved params are an ordinary file: its mode follows the umask like
  # any file a program creates (0644 under umask 022), not mkstemp's 0600.
  umask 022
  run train train examples/iris_mlp.expr --steps 2 --save "$tmp/p.json"
  expect_rc train 0
  mode=$(stat -c %a "$tmp/p.json" 2>/dev/null)
  [ "$mode" = 644 ] || fail "--save wrote mode $mode under umask 022, want 644"
  ;;

mini_batches)
  # --batch 16: the same seed gives the same batches, another seed others,
  # and the loss on the whole data still falls.
  run a train examples/iris_mlp.expr --batch 16 --steps 400 --seed 5
  run b train examples/iris_mlp.expr --batch 16 --steps 400 --seed 5
  run c train examples/iris_mlp.expr --batch 16 --steps 400 --seed 6
  for n in a b c; do expect_rc $n 0; done
  head -1 "$tmp/a.out" | grep -qx 'training J: adam, lr 0.01, 400 steps, mini-batches of 16' ||
    fail "first line: $(head -1 "$tmp/a.out")"
  steps_only "$tmp/a.out" >"$tmp/a.steps"
  steps_only "$tmp/b.out" >"$tmp/b.steps"
  steps_only "$tmp/c.out" >"$tmp/c.steps"
  cmp -s "$tmp/a.steps" "$tmp/b.steps" || {
    fail "two runs with --batch 16 --seed 5 differ"
    diff "$tmp/a.steps" "$tmp/b.steps" | head -20 | sed 's/^/    /'
  }
  cmp -s "$tmp/a.steps" "$tmp/c.steps" && fail "--seed 5 and --seed 6 print the same mini-batch training"
  j0=$(grep '^step ' "$tmp/a.out" | head -1 | sed -n 's/.*  J = \([^ ]*\).*/\1/p')
  j1=$(last_metric "$tmp/a.out" J)
  awk -v a="$j0" -v b="$j1" 'BEGIN { exit !(b + 0 < a / 2) }' || fail "mini-batch loss $j0 -> $j1: not halved"
  at_least "$(last_metric "$tmp/a.out" accuracy)" 0.9 "accuracy after 400 mini-batch steps"
  # full-batch training with the same seed is another run entirely
  run full train examples/iris_mlp.expr --steps 400 --seed 5
  steps_only "$tmp/full.out" >"$tmp/full.steps"
  cmp -s "$tmp/a.steps" "$tmp/full.steps" && fail "--batch 16 trains exactly like the whole data"
  ;;

data_missing_column)
  run e train $data/missing_column.expr --steps 2
  expect_rc e 1
  grep -q "small.csv" "$tmp/e.err" || fail "the error does not name small.csv"
  grep -q "'c'" "$tmp/e.err" || fail "the error does not name the column 'c'"
  grep -q "^$data/missing_column.expr:2:17: error: " "$tmp/e.err" || fail "no error at the declaration (2:17)"
  check_error_format e
  ;;

data_non_numeric)
  run e train $data/non_numeric.expr --steps 2
  expect_rc e 1
  cmp -s "$tmp/e.err" $data/non_numeric.expect_stderr || {
    fail "stderr differs"
    diff -u $data/non_numeric.expect_stderr "$tmp/e.err" | sed 's/^/    /'
  }
  check_error_format e
  [ -s "$tmp/e.out" ] && fail "stdout is not empty: $(head -2 "$tmp/e.out")"
  # the same cell given on the command line: the same place
  run cli eval examples/iris_mlp.expr "X=@$data/non_numeric.csv:a,b"
  expect_rc cli 1
  grep -qx "$data/non_numeric.csv:3:2: error: the cell 'oops' in column b is not a number" "$tmp/cli.err" ||
    fail "X=@non_numeric.csv: $(head -1 "$tmp/cli.err")"
  ;;

data_ragged_row)
  run e train $data/ragged.expr --steps 2
  expect_rc e 1
  head -1 "$tmp/e.err" | grep -qx "$data/ragged.csv:3:3: error: this row has 2 cells, the first had 3" ||
    fail "first error: $(head -1 "$tmp/e.err")"
  grep -q "^$data/ragged.expr:1:17: error: in the default data of 'X'$" "$tmp/e.err" ||
    fail "no error at the declaration of X"
  check_error_format e
  ;;

data_label_out_of_range)
  run e train $data/bad_label.expr --steps 2
  expect_rc e 1
  cmp -s "$tmp/e.err" $data/bad_label.expect_stderr || {
    fail "stderr differs"
    diff -u $data/bad_label.expect_stderr "$tmp/e.err" | sed 's/^/    /'
  }
  check_error_format e
  grep -q '^step' "$tmp/e.out" && fail "training went on: $(grep '^step' "$tmp/e.out" | head -1)"
  ;;

tiered_default)
  # Without --backend, train starts on libtcc and switches to cc -O2's code
  # when the background compile ends (a fresh cache: it really compiles);
  # what it prints is what each pinned backend prints, and nothing on stderr.
  export GRADC_CACHE_DIR=$tmp/cache
  run t train examples/digits_mlp.expr --steps 200 --optimizer gd --lr 0.5
  run c train examples/digits_mlp.expr --steps 200 --optimizer gd --lr 0.5 --backend cc
  run l train examples/digits_mlp.expr --steps 200 --optimizer gd --lr 0.5 --backend tcc
  for n in t c l; do expect_rc $n 0; done
  [ -s "$tmp/t.err" ] && fail "stderr is not empty: $(head -3 "$tmp/t.err")"
  ls "$tmp/cache"/*.so >/dev/null 2>&1 || fail "the background compile stored no shared object"
  steps_only "$tmp/t.out" >"$tmp/t.steps"
  steps_only "$tmp/c.out" >"$tmp/c.steps"
  steps_only "$tmp/l.out" >"$tmp/l.steps"
  [ "$(wc -l <"$tmp/t.steps")" -ge 20 ] || fail "fewer than 20 step lines"
  cmp -s "$tmp/t.steps" "$tmp/c.steps" || fail "tiered and --backend cc print different training"
  cmp -s "$tmp/t.steps" "$tmp/l.steps" || fail "tiered and --backend tcc print different training"
  ;;

tiered_without_cc)
  # No C compiler: the background compile fails without a word and the
  # training runs on libtcc to the end, as --backend tcc does.
  export GRADC_CACHE_DIR=$tmp/cache CC=gradc-test-no-such-compiler
  run t train examples/iris_mlp.expr --steps 300
  run l train examples/iris_mlp.expr --steps 300 --backend tcc
  for n in t l; do expect_rc $n 0; done
  [ -s "$tmp/t.err" ] && fail "stderr is not empty: $(head -3 "$tmp/t.err")"
  ls "$tmp"/cache/*.so >/dev/null 2>&1 && fail "a shared object without a compiler?"
  steps_only "$tmp/t.out" >"$tmp/t.steps"
  steps_only "$tmp/l.out" >"$tmp/l.steps"
  cmp -s "$tmp/t.steps" "$tmp/l.steps" || fail "tiered without cc and --backend tcc print different training"
  ;;

tiered_jacobian)
  # jacobian of 512 or more columns is tiered too (no --backend): the same
  # output as each pinned backend and nothing on stderr (a compile still
  # running at exit is stopped).
  export GRADC_CACHE_DIR=$tmp/cache
  printf 'param x[600] = randn(0.05)\ninput A[3, 600] = randn(0.05)\noutput y = tanh(A @ x)\n' >"$tmp/j.expr"
  run t jacobian "$tmp/j.expr" --wrt x --mode forward
  run c jacobian "$tmp/j.expr" --wrt x --mode forward --backend cc
  run l jacobian "$tmp/j.expr" --wrt x --mode forward --backend tcc
  for n in t c l; do expect_rc $n 0; done
  [ -s "$tmp/t.err" ] && fail "stderr is not empty: $(head -3 "$tmp/t.err")"
  [ "$(grep -o ',' "$tmp/t.out" | wc -l)" -ge 1797 ] || fail "not a 3 x 600 Jacobian: $(head -c 200 "$tmp/t.out")"
  cmp -s "$tmp/t.out" "$tmp/c.out" || fail "tiered and --backend cc print different Jacobians"
  cmp -s "$tmp/t.out" "$tmp/l.out" || fail "tiered and --backend tcc print different Jacobians"
  ;;

digits_accuracy)
  # 8x8 digits, 64-32-10: 97% on the training data in 80 full-batch steps.
  run d train examples/digits_mlp.expr --steps 80 --lr 0.01
  expect_rc d 0
  at_least "$(last_metric "$tmp/d.out" accuracy)" 0.97 "digits training accuracy after 80 steps"
  check_falling d
  ;;

sigint)
  # Ctrl-C stops the training, which still reports and saves: exit 0.
  set -m # a job of its own, so that SIGINT is not ignored in the child
  "$gradc" train examples/iris_mlp.expr --steps 100000000 --save "$tmp/X.json" >"$tmp/int.out" 2>"$tmp/int.err" &
  pid=$!
  set +m
  # wait until gradc (not the shell's child before exec, which has the
  # shell's handlers) catches SIGINT, then let it train for a second
  for _ in $(seq 200); do
    comm=$(cat "/proc/$pid/comm" 2>/dev/null)
    cgt=$(sed -n 's/^SigCgt:[[:space:]]*//p' "/proc/$pid/status" 2>/dev/null)
    [ "$comm" = gradc ] && [ -n "$cgt" ] && [ $((0x$cgt & 2)) != 0 ] && break
    sleep 0.05
  done
  sleep 1
  kill -INT "$pid"
  # give it 20 s to stop
  for _ in $(seq 200); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid"
    fail "gradc train did not stop within 20 s of SIGINT"
  fi
  wait "$pid"
  rc=$?
  expect_rc int 0
  grep -q '^interrupted after [0-9]* steps$' "$tmp/int.out" || fail "no 'interrupted after N steps' line"
  n=$(sed -n 's/^interrupted after \([0-9]*\) steps$/\1/p' "$tmp/int.out")
  [ -n "$n" ] && [ "$n" -gt 0 ] || fail "interrupted after '$n' steps"
  grep -qx "saved the params to $tmp/X.json" "$tmp/int.out" || fail "no 'saved the params' line"
  [ -f "$tmp/X.json" ] || fail "X.json was not written"
  [ "$(ls -A "$tmp" | grep -c 'X\.json')" = 1 ] || fail "a temp file is left: $(ls -A "$tmp" | tr '\n' ' ')"
  run reload eval examples/iris_mlp.expr --inputs "$tmp/X.json"
  expect_rc reload 0
  # the metrics printed after the interruption are those of the saved params
  ji=$(grep -A1 '^interrupted after' "$tmp/int.out" | sed -n 's/^J = \([^ ]*\).*/\1/p')
  je=$(sed -n 's/^J = //p' "$tmp/reload.out")
  [ -n "$ji" ] && [ "$(printf '%.6g' "$je")" = "$(printf '%.6g' "$ji")" ] ||
    fail "J after the interruption = '$ji', eval of X.json J = '$je'"
  ;;

diverging)
  # gd with lr 100 on a quartic diverges (its loss overflows): train
  # stops at the first loss or gradient that is not finite, names the
  # step, prints no non-finite loss, exits 4 and saves the last finite
  # params: those that the same training stopped after that step saves.
  g=$data/quartic.expr
  mkdir "$tmp/out"
  run div train $g --optimizer gd --lr 100 --save "$tmp/out/p.json"
  expect_rc div 4
  grep -Eqx 'gradc: error: the (loss|gradient) .* is not finite at step [0-9]+ \((NaN|Infinity|-Infinity)\); stopped, keeping the params of step [0-9]+' "$tmp/div.err" ||
    fail "the error does not name the step: $(cat "$tmp/div.err")"
  [ "$(wc -l <"$tmp/div.err")" = 1 ] || fail "stderr has more than the error: $(cat "$tmp/div.err")"
  bad=$(grep -Ei 'nan|inf' "$tmp/div.out")
  [ -z "$bad" ] || fail "a non-finite value is printed: $bad"
  at=$(sed -n 's/.* is not finite at step \([0-9]*\) .*/\1/p' "$tmp/div.err")
  kept=$(sed -n 's/.*keeping the params of step \([0-9]*\)$/\1/p' "$tmp/div.err")
  [ -n "$at" ] && [ -n "$kept" ] && [ "$kept" -eq $((at - 1)) ] || fail "not finite at step '$at', kept step '$kept'"
  [ -n "$kept" ] && [ "$kept" -gt 0 ] || fail "kept step '$kept': the run should diverge after a few steps"
  # stopped at once: no step line after the one of the kept params
  last=$(grep '^step ' "$tmp/div.out" | tail -1 | awk '{ print $2 }')
  [ -n "$kept" ] && [ "$last" -le "$at" ] || fail "the last step line is step $last, after step $at"
  grep -qx "saved the params to $tmp/out/p.json" "$tmp/div.out" || fail "no 'saved the params' line"
  [ "$(ls -A "$tmp/out")" = p.json ] || fail "the save left: $(ls -A "$tmp/out" | tr '\n' ' ')"
  grep -Eqi 'nan|inf' "$tmp/out/p.json" && fail "the saved params are not finite: $(cat "$tmp/out/p.json")"
  # the same training stopped after $kept steps saves the same params
  run ref train $g --optimizer gd --lr 100 --steps "${kept:-1}" --save "$tmp/ref.json"
  expect_rc ref 0
  cmp -s "$tmp/ref.json" "$tmp/out/p.json" || {
    fail "the saved params are not those of step $kept"
    diff "$tmp/ref.json" "$tmp/out/p.json" | sed 's/^/    /'
  }
  # and their loss is finite
  run ev eval $g --inputs "$tmp/out/p.json"
  expect_rc ev 0
  grep -Eq '^L = -?[0-9]' "$tmp/ev.out" || fail "the loss of the saved params: $(cat "$tmp/ev.out")"
  # without --save: the same stop and exit code, nothing written
  run nosave train $g --optimizer gd --lr 100
  expect_rc nosave 4
  cmp -s "$tmp/div.err" "$tmp/nosave.err" || fail "stderr differs without --save: $(cat "$tmp/nosave.err")"
  ;;

diverging_mini_batches)
  # the same with mini-batches of 2 and with momentum: exit 4, no
  # non-finite loss printed, finite params saved
  g=$data/quartic.expr
  for opt in gd momentum; do
    run $opt train $g --optimizer $opt --lr 100 --batch 2 --save "$tmp/$opt.json"
    expect_rc $opt 4
    grep -q "is not finite at step [0-9]*" "$tmp/$opt.err" || fail "$opt: $(cat "$tmp/$opt.err")"
    grep -Eqi 'nan|inf' "$tmp/$opt.out" && fail "$opt: a non-finite value is printed"
    [ -f "$tmp/$opt.json" ] || fail "$opt: the params are not saved"
    grep -Eqi 'nan|inf' "$tmp/$opt.json" && fail "$opt: the saved params are not finite"
  done
  ;;

not_finite_at_start)
  # the loss is infinite at the initial params: nothing is trained, the
  # initial params are kept (and saved); NaN initial params are not saved
  g=$data/gauss_nll.expr
  run inf train $g log_sigma=-1000 --save "$tmp/p.json"
  expect_rc inf 4
  grep -qx 'gradc: error: the loss nll is not finite at step 0 (Infinity); stopped, keeping the initial params' "$tmp/inf.err" ||
    fail "stderr: $(cat "$tmp/inf.err")"
  grep -q '^step' "$tmp/inf.out" && fail "a step line is printed: $(grep '^step' "$tmp/inf.out")"
  grep -q '"log_sigma": -1000' "$tmp/p.json" || fail "the initial params are not saved: $(cat "$tmp/p.json")"
  run nan train $g mu=NaN --save "$tmp/q.json"
  expect_rc nan 4
  [ -e "$tmp/q.json" ] && fail "NaN params were saved: $(cat "$tmp/q.json")"
  grep -q "q.json is not written" "$tmp/nan.err" || fail "stderr: $(cat "$tmp/nan.err")"
  ;;

update_overflow)
  # a finite gradient times lr 1e308 overflows: the update is not made
  g=$data/gauss_nll.expr
  run up train $g --optimizer gd --lr 1e308 --save "$tmp/p.json"
  expect_rc up 4
  grep -qx 'gradc: error: the update of step 1 makes mu not finite (Infinity); stopped, keeping the initial params' "$tmp/up.err" ||
    fail "stderr: $(cat "$tmp/up.err")"
  grep -q '"mu": 0' "$tmp/p.json" && grep -q '"log_sigma": 0' "$tmp/p.json" || fail "saved: $(cat "$tmp/p.json")"
  ;;

json_lines)
  # --json: JSON Lines, one object per reported step (the same steps and
  # values as the human lines of the same seeded run), then a summary whose
  # metrics are those of the saved params; nothing else on stdout.
  run human train examples/iris_mlp.expr --steps 200 --seed 3
  run json train examples/iris_mlp.expr --steps 200 --seed 3 --json --save "$tmp/P.json"
  expect_rc human 0
  expect_rc json 0
  [ -s "$tmp/json.err" ] && fail "stderr is not empty: $(head -3 "$tmp/json.err")"
  bad=$(grep -v '^{.*}$' "$tmp/json.out")
  [ -z "$bad" ] || fail "a line that is not a JSON object: $(echo "$bad" | head -1)"
  [ "$(grep -c '^{"step":[0-9]*,"outputs":{"J":[^,]*,"accuracy":[^,]*}}$' "$tmp/json.out")" = 21 ] ||
    fail "want 21 step objects with J and accuracy"
  [ "$(wc -l <"$tmp/json.out")" = 22 ] || fail "want 22 lines, got $(wc -l <"$tmp/json.out")"
  tail -1 "$tmp/json.out" | grep -q '^{"summary":{"loss":"J","optimizer":"adam","lr":0.01,"batch":null,"steps":200,"stopped":"done","outputs":{"J":.*,"accuracy":.*},"saved":"'"$tmp"'/P.json"}}$' ||
    fail "summary: $(tail -1 "$tmp/json.out")"
  # the same steps and the same J (to the 6 digits the human lines print)
  sed -n 's/^{"step":\([0-9]*\),"outputs":{"J":\([^,]*\),.*/\1 \2/p' "$tmp/json.out" |
    while read -r s j; do printf 'step %s J = %.6g\n' "$s" "$j"; done >"$tmp/json.steps"
  grep '^step ' "$tmp/human.out" | sed 's/^step *\([0-9]*\)  J = \([^ ]*\).*/step \1 J = \2/' >"$tmp/human.steps"
  cmp -s "$tmp/json.steps" "$tmp/human.steps" || {
    fail "the JSON steps differ from the human ones"
    diff "$tmp/json.steps" "$tmp/human.steps" | head -10 | sed 's/^/    /'
  }
  grep -q 'saved the params' "$tmp/json.out" && fail "a text line about the save"
  run reload eval examples/iris_mlp.expr --inputs "$tmp/P.json" --json
  expect_rc reload 0
  js=$(tail -1 "$tmp/json.out" | sed 's/.*"outputs":{"J":\([^,]*\),.*/\1/')
  je=$(tr -d ' \n' <"$tmp/reload.out" | sed 's/.*"J":\([^,}]*\).*/\1/')
  [ -n "$js" ] && [ "$js" = "$je" ] || fail "summary J = '$js', eval of the saved params J = '$je'"
  ;;

nonfinite_metrics)
  # a metric that is not finite is printed as NaN or -Infinity (as
  # everywhere else), not nan, -nan or -inf, and not left out
  run m train $data/nonfinite_metrics.expr --steps 2 --optimizer gd --lr 0.1
  expect_rc m 0
  grep -qx 'step 0  L = 4  r = -Infinity  q = NaN' "$tmp/m.out" || fail "step 0: $(grep '^step 0' "$tmp/m.out")"
  [ "$(grep -c '  q = NaN' "$tmp/m.out")" = 3 ] || fail "q is not NaN on every step line"
  grep -q 'nan\|inf\b' "$tmp/m.out" && fail "C's spelling: $(grep 'nan\|inf\b' "$tmp/m.out" | head -1)"
  ;;

json_interrupted)
  # --json and Ctrl-C: the summary says "interrupted", with the steps kept
  set -m
  "$gradc" train examples/iris_mlp.expr --steps 100000000 --json >"$tmp/int.out" 2>"$tmp/int.err" &
  pid=$!
  set +m
  for _ in $(seq 200); do
    comm=$(cat "/proc/$pid/comm" 2>/dev/null)
    cgt=$(sed -n 's/^SigCgt:[[:space:]]*//p' "/proc/$pid/status" 2>/dev/null)
    [ "$comm" = gradc ] && [ -n "$cgt" ] && [ $((0x$cgt & 2)) != 0 ] && break
    sleep 0.05
  done
  sleep 1
  kill -INT "$pid"
  for _ in $(seq 200); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid"
    fail "gradc train --json did not stop within 20 s of SIGINT"
  fi
  wait "$pid"
  rc=$?
  expect_rc int 0
  last=$(tail -1 "$tmp/int.out")
  echo "$last" | grep -q '^{"summary":{.*"steps":[1-9][0-9]*,"stopped":"interrupted","outputs":{"J":' ||
    fail "summary: $last"
  bad=$(grep -v '^{.*}$' "$tmp/int.out")
  [ -z "$bad" ] || fail "a line that is not a JSON object: $(echo "$bad" | head -1)"
  ;;

*)
  echo "unknown case $case" >&2
  exit 2
  ;;
esac

if [ $failures -ne 0 ]; then
  echo "--- stdout of the last run:"
  ls "$tmp"/*.out >/dev/null 2>&1 && tail -5 "$(ls -t "$tmp"/*.out | head -1)" | sed 's/^/    /'
  exit 1
fi
echo "ok $case"
exit 0
