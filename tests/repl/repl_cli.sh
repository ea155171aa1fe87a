#!/usr/bin/env bash
# repl_cli.sh: scripted `gradc repl` sessions (stdin is a file, not a
# terminal), one case per ctest test.
#
#   tests/repl/repl_cli.sh GRADC REPO_ROOT CASE
#
# Runs from REPO_ROOT. Prints what went wrong and exits 1 when the case
# fails.
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
here=tests/repl

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gradc-repl-XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT

failures=0
fail() {
  echo "FAIL $case: $*"
  failures=$((failures + 1))
}

# session NAME: `gradc repl` with stdin $tmp/NAME.in (or the file given
# as $2); stdout in $tmp/NAME.out, stderr in $tmp/NAME.err, exit code in $rc.
session() {
  local name=$1 in=${2:-$tmp/$1.in}
  HOME=$tmp GRADC_HISTORY=$tmp/history "$gradc" repl <"$in" >"$tmp/$name.out" 2>"$tmp/$name.err"
  rc=$?
}

expect_rc() { # NAME WANT
  if [ "$rc" != "$2" ]; then
    fail "$1: exit code $rc, want $2"
    sed 's/^/    stderr: /' "$tmp/$1.err" | head -20
  fi
}

same() { # WANT_FILE GOT_FILE WHAT
  cmp -s "$1" "$2" || {
    fail "$3 differs from $1"
    diff -u "$1" "$2" | sed 's/^/    /' | head -60
  }
}

empty() { # FILE WHAT
  [ -s "$1" ] && { fail "$2 is not empty:"; head -10 "$1" | sed 's/^/    /'; }
}

# Without a terminal the REPL is a filter: no banner, no prompts, no
# escape sequences, no history file.
quiet() { # NAME
  if grep -q -e 'gradc> ' -e '\.\.\.> ' -e 'type :help' "$tmp/$1.out" "$tmp/$1.err"; then
    fail "$1: a prompt or the banner was printed although stdin is not a terminal"
  fi
  if grep -q $'\e\|\r' "$tmp/$1.out" "$tmp/$1.err"; then
    fail "$1: escape codes or carriage returns in the output"
  fi
  [ -e "$tmp/history" ] && fail "$1: a history file was written although stdin is not a terminal"
}

# Every error block "repl:LINE:COL: error: ... 'NAME'", source line, caret
# line must have its caret at COL, under NAME in the source line shown.
carets_under_names() { # NAME
  awk '
    state == 2 { caret = index($0, "^")
                 if (caret != col || substr(src, col, length(nm)) != nm) {
                   printf "    %s\n    %s\n    %s\n    (the caret is at %d, COL is %d, want both under %s)\n", head, src, $0, caret, col, nm
                   bad = 1 }
                 state = 0; next }
    state == 1 { src = $0; state = 2; next }
    /^repl:[0-9]+:[0-9]+: error: .*'"'"'[^'"'"']*'"'"'/ {
                 head = $0; split($0, f, ":"); col = f[3] + 0
                 nm = $0; sub(/^[^'"'"']*'"'"'/, "", nm); sub(/'"'"'.*/, "", nm)
                 n++; state = 1 }
    END { if (n == 0) { print "    no repl:LINE:COL error with a quoted name"; bad = 1 }; exit bad }
  ' "$tmp/$1.err" || fail "$1: an error's column or caret is not under the name it reports"
}

case $case in

session)
  # The course's example typed into the REPL: value, gradient, the
  # derivative as an expression, the check and the trace. The expected
  # output was checked by hand against 0.5*(w*x - y)^2 at w=2, x=3, y=1.
  session s "$here/session.in"
  expect_rc s 0
  same "$here/session.expect" "$tmp/s.out" "stdout"
  empty "$tmp/s.err" "stderr"
  quiet s
  ;;

errors)
  # Lines that fail are reported at repl:LINE:COL with the line typed and
  # a caret, and the session goes on; it exits 1 at the end.
  session e "$here/errors.in"
  expect_rc e 1
  same "$here/errors.expect" "$tmp/e.out" "stdout"
  same "$here/errors.expect_stderr" "$tmp/e.err" "stderr"
  quiet e
  ;;

error_column_in_expressions)
  # An error in a bare expression, or in the expression after a command,
  # is at its column in what was typed (not in the program the REPL
  # builds around it).
  cat >"$tmp/x.in" <<'EOF'
f = 0.5*(w*x-y)^2
:set w=2 x=3 y=1
foo(1)
w + zz(1)
:grad w*sinn(x)
f
EOF
  session x
  expect_rc x 1
  grep -q '^repl:3:1: error: unknown function '"'foo'"'$' "$tmp/x.err" || fail "foo(1): want repl:3:1"
  grep -q '^repl:4:5: error: unknown function '"'zz'"'$' "$tmp/x.err" || fail "w + zz(1): want repl:4:5"
  carets_under_names x
  [ "$(tail -1 "$tmp/x.out")" = "f = 12.5" ] || fail "the session did not go on: $(tail -1 "$tmp/x.out")"
  ;;

error_column_after_semicolon)
  # Statements separated by ';': the error is at its column in the line
  # typed, and that whole line is shown.
  printf '%s\n' 'a = w; g = foo(w)' >"$tmp/x.in"
  session x
  expect_rc x 1
  printf '%s\n' "repl:1:12: error: unknown function 'foo'" 'a = w; g = foo(w)' '           ^' >"$tmp/want"
  same "$tmp/want" "$tmp/x.err" "stderr"
  ;;

free_name_f)
  # A free variable may be called f in the REPL as in a file
  # (gradc eval of "f*x" with f=3 x=2 prints f = 6).
  printf '%s\n' 'g = f*x' ':set f=3 x=2' 'f*x' >"$tmp/x.in"
  session x
  expect_rc x 0
  empty "$tmp/x.err" "stderr"
  grep -q ' = 6$' "$tmp/x.out" || fail "f*x at f=3, x=2: want 6, stdout: $(cat "$tmp/x.out")"
  ;;

unknown_command)
  printf '%s\n' 'f = w' ':frobnicate' ':frobnicate f' ':set w=2' 'f' >"$tmp/x.in"
  session x
  expect_rc x 1
  [ "$(grep -c 'unknown command' "$tmp/x.err")" = 2 ] || {
    fail "want 'unknown command' for both :frobnicate lines"
    sed 's/^/    stderr: /' "$tmp/x.err"
  }
  [ "$(tail -1 "$tmp/x.out")" = "f = 2" ] || fail "the session did not go on"
  ;;

set_json_array_with_spaces)
  # :set takes JSON arrays as typed by people, with spaces after commas.
  printf '%s\n' 'param v[2], M[2, 2]' ':set v=[1, 2]' ':set M=[[1, 2], [3, 4]]' 'sum(v)' 'sum(M @ v)' >"$tmp/x.in"
  session x
  expect_rc x 0
  empty "$tmp/x.err" "stderr"
  printf '%s\n' 'f = 3' 'f = 16' >"$tmp/want"
  same "$tmp/want" "$tmp/x.out" "stdout"
  ;;

redefinition)
  # SPEC 1.3: in the REPL a redefinition replaces the old definition, and
  # what depends on it follows.
  printf '%s\n' 'g = w*2' 'h = g + 1' ':set w=5' 'h' 'g = w*3' 'h' ':grad h' >"$tmp/x.in"
  session x
  expect_rc x 0
  empty "$tmp/x.err" "stderr"
  printf '%s\n' 'h = 11' 'h = 16' 'h = 16' 'dh/dw = 3' >"$tmp/want"
  same "$tmp/want" "$tmp/x.out" "stdout"
  ;;

functions)
  # SPEC 1.8 and 2.4: define a function, call it, redefine it (later
  # statements use the new definition); :vars lists it; errors do not end
  # the session.
  printf '%s\n' 'param w = 2' 'sq(x) = x^2' 'sq(w) + 1' 'g(a, b) = sq(a) * b' ':vars' 'g(w, 3)' \
    ':grad g(w, 3)' 'sq(x) = x^3' 'g(w, 3)' 'sq + 1' 'sq(1, 2)' 'h(x) = x + zz' ':set sq=3' \
    'lsm(z) = log(softmax(z))' 'lsm([0, 800, -800])' >"$tmp/x.in"
  session x
  expect_rc x 1 # a session with errors exits 1 when it is not interactive
  printf '%s\n' 'f = 5' 'param w = 2' 'sq(x) = x^2' 'g(a, b) = sq(a) * b' 'f = 12' 'g(w, 3) = 12' 'd(g(w, 3))/dw = 12' \
    'f = 24' 'f = [-800, 0, -1600]' >"$tmp/want"
  same "$tmp/want" "$tmp/x.out" "stdout"
  for msg in "repl:10:1: error: 'sq' is a function; call it as sq(...)" \
    "repl:11:1: error: sq() takes 1 argument, not 2" \
    "repl:12:12: error: 'zz' is not a parameter of h() and is not defined above it" \
    "repl: error: 'sq' is a function in the session; :set gives values to variables"; do
    grep -qF "$msg" "$tmp/x.err" || fail "stderr lacks: $msg"
  done
  ;;

time_ten_thousand_nodes)
  # :time on an expression of about 10,000 nodes: 2,500 terms sin(w*k + x)
  awk 'BEGIN { printf "u = w + x\n:set w=0.5 x=0.25\n:time 0"
               for (k = 1; k <= 2500; k++) printf " + sin(w*%d + x)", k
               printf "\n" }' >"$tmp/x.in"
  session x
  expect_rc x 0
  empty "$tmp/x.err" "stderr"
  num='[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?'
  grep -Eqx "[0-9]+ DAG nodes: parse and build $num ms; value: emit\+JIT $num ms, run $num us; value\+gradient: emit\+JIT $num ms, run $num us \([0-9]+ and [0-9]+ operations\)" "$tmp/x.out" ||
    fail "unexpected :time output: $(cat "$tmp/x.out")"
  # then the same functions once cc -O2 has compiled them (the tiered JIT)
  grep -Eqx "compiled by cc -O2 in the background \(ready $num s later\): value run $num us; value\+gradient run $num us" "$tmp/x.out" ||
    fail "no :time line for the cc code: $(cat "$tmp/x.out")"
  [ "$(wc -l <"$tmp/x.out")" = 2 ] || fail "want 2 lines of :time, got $(wc -l <"$tmp/x.out")"
  nodes=$(sed -n 's/^\([0-9]*\) DAG nodes.*/\1/p' "$tmp/x.out")
  ops=$(sed -n 's/.*(\([0-9]*\) and [0-9]* operations)$/\1/p' "$tmp/x.out")
  [ -n "$nodes" ] && [ "$nodes" -ge 10000 ] || fail "$nodes DAG nodes, want at least 10,000"
  [ -n "$ops" ] && [ "$ops" -ge 9000 ] && [ "$ops" -le 11000 ] || fail "$ops operations in the value, want about 10,000"
  ;;

load_and_grad)
  # :load the Iris network, then :grad J: the gradient tensors with the
  # params' shapes, the same numbers as gradc grad.
  printf '%s\n' ':load examples/iris_mlp.expr' ':grad J' >"$tmp/x.in"
  session x
  expect_rc x 0
  empty "$tmp/x.err" "stderr"
  [ "$(head -1 "$tmp/x.out")" = "J = 1.190580918" ] || fail "first line: $(head -1 "$tmp/x.out")"
  rows() { # NAME: the rows of a printed matrix
    awk -v n="$1" 'index($0, n " = [[") == 1 { on = 1 } on { c++ } on && /\]\]$/ { print c; exit }' "$tmp/x.out"
  }
  entries() { # NAME: the entries of a printed vector
    awk -v n="$1" 'index($0, n " = [") == 1 { print split($0, a, ","); exit }' "$tmp/x.out"
  }
  [ "$(rows dJ/dV)" = 16 ] || fail "dJ/dV has $(rows dJ/dV) rows, want 16"
  [ "$(rows dJ/dW)" = 3 ] || fail "dJ/dW has $(rows dJ/dW) rows, want 3"
  [ "$(entries dJ/db)" = 16 ] || fail "dJ/db has $(entries dJ/db) entries, want 16"
  [ "$(entries dJ/dc)" = 3 ] || fail "dJ/dc has $(entries dJ/dc) entries, want 3"
  "$gradc" grad examples/iris_mlp.expr --wrt V,b,W,c >"$tmp/grad.out" 2>&1
  awk '/^J = |^dJ\/d/ { on = 1 } /^[a-z]+ = |^daccuracy/ && !/^J = / { on = 0 } on' "$tmp/grad.out" >"$tmp/want"
  same "$tmp/want" "$tmp/x.out" "stdout (gradc grad's J and dJ lines)"
  # from another directory, the data path still resolves against the file
  (cd "$tmp" && printf '%s\n' ":load $root/examples/iris_mlp.expr" 'accuracy' |
    "$gradc" repl >"$tmp/abs.out" 2>"$tmp/abs.err")
  rc=$?
  expect_rc abs 0
  [ "$(cat "$tmp/abs.out")" = "accuracy = 0.3333333333" ] || fail ":load by absolute path: $(cat "$tmp/abs.out")"
  ;;

trace_tensor)
  # :trace of a tensor name and of a tensor expression, along an element
  # (wrt x[1]); a bad element is an error and the session goes on. The
  # numbers were checked by hand: sum(x^2) and sum(x*exp(x)) at x = [3, 4].
  session t "$here/trace_tensor.in"
  expect_rc t 1
  same "$here/trace_tensor.expect" "$tmp/t.out" "stdout"
  same "$here/trace_tensor.expect_stderr" "$tmp/t.err" "stderr"
  quiet t
  ;;

lazy_values)
  # SPEC 2.4: values only where they are used. A definition whose variable
  # has no value does not block unrelated lines; :diff, :emit and :dot need
  # no values; :grad names what is missing in the REPL's words (:set), not
  # the command line's; NAME = NUMBER then gives it.
  printf '%s\n' 'f = w^2' '3+4' 'sin(1)' ':diff f wrt w' ':emit f' ':dot f' ':grad f' 'w = 3' ':grad f' >"$tmp/x.in"
  session x
  expect_rc x 1
  [ "$(sed -n 1,3p "$tmp/x.out")" = "$(printf '%s\n' '_ = 7' '_ = 0.8414709848' 'df/dw = 2*w')" ] ||
    fail "3+4, sin(1), :diff: $(sed -n 1,3p "$tmp/x.out")"
  grep -q '^int repl_f(double w, double \*f);$' "$tmp/x.out" || fail ":emit f printed no C for f"
  grep -q '^digraph' "$tmp/x.out" || fail ":dot f printed no graph"
  [ "$(tail -2 "$tmp/x.out")" = "$(printf '%s\n' 'f = 9' 'df/dw = 6')" ] || fail "after w = 3: $(tail -2 "$tmp/x.out")"
  printf '%s\n' 'repl: error: no value for w: give it with :set w=VALUE or w = VALUE' >"$tmp/want"
  same "$tmp/want" "$tmp/x.err" "stderr"
  ;;

lazy_dimensions)
  # A symbolic dimension is bound by the data of the variables that have
  # it: 1/N needs the Iris data but not V; without data, the variable that
  # would bind it is named.
  printf '%s\n' ':load examples/iris_mlp.expr' '1/N' 'sum(V*0) + 1' >"$tmp/x.in"
  session x
  expect_rc x 0
  empty "$tmp/x.err" "stderr"
  printf '%s\n' 'f = 0.006666666667' 'f = 1' >"$tmp/want"
  same "$tmp/want" "$tmp/x.out" "stdout"
  printf '%s\n' 'param x[N]' 'h = 1/(N + 1)' 'h' 'x = [1, 2, 3]' 'h' >"$tmp/y.in"
  session y
  expect_rc y 1
  printf '%s\n' 'h = 0.25' >"$tmp/want"
  same "$tmp/want" "$tmp/y.out" "stdout"
  printf '%s\n' 'repl: error: no value for x: give it with :set x=VALUE or x = VALUE' >"$tmp/want"
  same "$tmp/want" "$tmp/y.err" "stderr"
  ;;

assign_sets_value)
  # x = 5 for a free or declared variable sets its value, as :set does
  # (also after f = 2*x uses it); a tensor literal too; a definition is
  # still redefined.
  printf '%s\n' 'f = 2*x' 'x = 5' 'f' 'g = x + 1' 'g = 7' 'g' ':vars' >"$tmp/x.in"
  session x
  expect_rc x 0
  empty "$tmp/x.err" "stderr"
  printf '%s\n' 'f = 10' 'g = 7' 'param x = 5' 'f = 2*x' 'g = 7' >"$tmp/want"
  same "$tmp/want" "$tmp/x.out" "stdout"
  printf '%s\n' 'param v[2]' 'v = [1, -2.5]' 'sum(v*v)' ':vars' >"$tmp/y.in"
  session y
  expect_rc y 0
  empty "$tmp/y.err" "stderr"
  printf '%s\n' 'f = 7.25' 'param v[2] = [1, -2.5]' >"$tmp/want"
  same "$tmp/want" "$tmp/y.out" "stdout"
  ;;

reserved_and_file_values)
  # pi = 3 (a reserved name) is the statement's error, not a value; the
  # values after `gradc repl FILE` are set as :set sets them
  printf '%s\n' 'pi = 3' 'sum = 2' 'pi' >"$tmp/x.in"
  session x
  expect_rc x 1
  grep -q "'pi' is a built-in constant" "$tmp/x.err" || fail "pi = 3 was accepted"
  grep -q "'sum' is a built-in function" "$tmp/x.err" || fail "sum = 2 was accepted"
  printf '%s\n' 'f = 3.141592654' >"$tmp/want"
  same "$tmp/want" "$tmp/x.out" "stdout"
  printf 'param q = 2\noutput Q = q^2\n' >"$tmp/q.expr"
  printf '%s\n' 'Q' | "$gradc" repl "$tmp/q.expr" q=5 >"$tmp/q.out" 2>"$tmp/q.err"
  printf '%s\n' 'Q = 25' >"$tmp/want"
  same "$tmp/want" "$tmp/q.out" "stdout (repl FILE q=5)"
  printf '%s\n' 'Q' | "$gradc" repl "$tmp/q.expr" zz=5 >"$tmp/z.out" 2>"$tmp/z.err"
  grep -q "no variable 'zz'" "$tmp/z.err" || fail "repl FILE zz=5 accepted an unknown name"
  ;;

last_value)
  # _ is the last value printed, a scalar or a tensor, in expressions,
  # definitions and :set.
  printf '%s\n' 'y = 2*w' ':set w=1.5' '3+4' '_ * 2' '[_, 0.1]' '_ * 3' 'y + _[0]' 'z = _ + w' ':set w=_' 'z' \
    '[1, 2]' ':set w=_' >"$tmp/x.in"
  session x
  expect_rc x 1 # :set w=[1, 2] is not a scalar
  printf '%s\n' 'f = 7' 'f = 14' 'f = [14, 0.1]' 'f = [42, 0.3]' 'f = 45' 'z = 90' 'f = [1, 2]' >"$tmp/want"
  same "$tmp/want" "$tmp/x.out" "stdout"
  grep -q "^repl: error: .*'w'" "$tmp/x.err" || fail ":set w=_ of a vector: want an error naming w: $(cat "$tmp/x.err")"
  ;;

set_unknown_name)
  # :set of a name the session does not have is an error with a hint; so
  # is a typo in x = 5's value; the session goes on.
  printf '%s\n' 'f = w*x' ':set ww=3' ':set w=2 x=3' 'f' >"$tmp/x.in"
  session x
  expect_rc x 1
  printf '%s\n' "repl: error: the session has no variable 'ww' (did you mean 'w'?)" >"$tmp/want"
  same "$tmp/want" "$tmp/x.err" "stderr"
  printf '%s\n' 'f = 6' >"$tmp/want"
  same "$tmp/want" "$tmp/x.out" "stdout"
  ;;

vars_definitions)
  # :vars lists the variables with their values (or none), then the
  # definitions, outputs and functions as typed.
  printf '%s\n' 'param w = 0.5' 'input x[3]' 'u = w*x' 'output L = sum(u^2)' 'sq(a) = a*a' ':set x=[1, 2, 3]' 'param b' ':vars' >"$tmp/x.in"
  session x
  expect_rc x 0
  empty "$tmp/x.err" "stderr"
  printf '%s\n' 'param w = 0.5' 'input x[3] = [1, 2, 3]' 'param b  (no value)' 'u = w*x' 'output L = sum(u^2)' 'sq(a) = a*a' >"$tmp/want"
  same "$tmp/want" "$tmp/x.out" "stdout"
  ;;

open_statement_recovery)
  # SPEC 2.4: an open bracket continues on the next line; when that line
  # cannot continue it, the error is reported and the next line starts
  # afresh (issue 17's session).
  printf 'f = (w*\ng = w + nosuchfunc(1)\nh = 2*3\nh\nk = (1 +\n 2)\nk\n' >"$tmp/x.in"
  session x
  expect_rc x 1
  printf '%s\n' 'h = 6' 'k = 3' >"$tmp/want"
  same "$tmp/want" "$tmp/x.out" "stdout"
  printf '%s\n' "repl:2:3: error: unexpected '='" 'g = w + nosuchfunc(1)' '  ^' >"$tmp/want"
  same "$tmp/want" "$tmp/x.err" "stderr"
  ;;

own_wording)
  # Errors speak the REPL's syntax: no command-line options (--wrt,
  # --tangent, --inputs) and no "(null)" for a missing file name.
  printf '%s\n' 'b = x*y' ':set x=1 y=2' ':jvp b x=1 y=2' ':jvp b x=1 z=2' ':hessian b wrt z' ':grad b wrt x,x' \
    ':trace b wrt q' ':diff b wrt yy' 'c = b*v' 'c' >"$tmp/x.in"
  session x
  expect_rc x 1
  printf '%s\n' 'b = 2' 'db = 4' >"$tmp/want"
  same "$tmp/want" "$tmp/x.out" "stdout"
  printf '%s\n' "repl: error: :jvp: the session has no variable 'z'" \
    "repl: error: :hessian ... wrt z: the session has no variable 'z'" \
    "repl: error: wrt names 'x' twice" \
    "repl: error: :trace ... wrt q: the session has no variable 'q'" \
    "repl: error: :diff ... wrt yy: the session has no variable 'yy' (did you mean 'y'?)" \
    "repl: error: no value for v: give it with :set v=VALUE or v = VALUE" >"$tmp/want"
  same "$tmp/want" "$tmp/x.err" "stderr"
  ;;

load_errors)
  # :load fails as the command line does: a directory cannot be read, a
  # binary file is one error (not one per byte); the session goes on.
  head -c 3000 "$gradc" >"$tmp/binary.expr"
  printf '%s\n' ":load $tmp" ":load $tmp/binary.expr" ":load $tmp/none.expr" '1+1' >"$tmp/x.in"
  session x
  expect_rc x 1
  printf '%s\n' 'f = 2' >"$tmp/want"
  same "$tmp/want" "$tmp/x.out" "stdout"
  "$gradc" eval "$tmp/binary.expr" >"$tmp/cli.err" 2>&1
  printf '%s\n' "repl: error: cannot read $tmp: Is a directory" >"$tmp/want"
  cat "$tmp/cli.err" >>"$tmp/want"
  printf '%s\n' "repl: error: cannot open $tmp/none.expr: No such file or directory" >>"$tmp/want"
  same "$tmp/want" "$tmp/x.err" "stderr"
  ;;

lang_ad)
  # SPEC 1.8 in the REPL: grad() and jvp() in definitions and expressions,
  # then :grad, :hessian, :diff and :check of a definition made of a
  # gradient; the errors are at their column and the session goes on. By
  # hand, f = sum(x^3) at x = [1, 2, 3]: g = 3x^2 = [3, 12, 27], the jvp
  # along e_0 is 6x_0 e_0, q = sum(g^2) = 9 sum(x^4) = 882, dq/dx = 36x^3,
  # its Hessian diag(108x^2), and :diff's 12*g*x is 36x^3.
  printf '%s\n' 'param x[3]' 'f = sum(x^3)' 'g = grad(f, x)' ':set x=[1,2,3]' 'g' 'jvp(g, x, [1, 0, 0])' \
    'q = sum(g^2)' ':grad q' ':hessian q' ':diff q wrt x' ':check q' 'grad(g, x)' 'grad(f, 2*x)' 'q' >"$tmp/x.in"
  session x
  expect_rc x 1 # a session with errors exits 1 when it is not interactive
  printf '%s\n' 'g = [3, 12, 27]' '_ = [6, 0, 0]' 'q = 882' 'dq/dx = [36, 288, 972]' 'q = 882' \
    'hessian of q w.r.t. (x[...]) =' '[[108, 0, 0],' ' [0, 432, 0],' ' [0, 0, 972]]' 'dq/dx = 12*g*x' >"$tmp/want"
  head -10 "$tmp/x.out" >"$tmp/got"
  same "$tmp/want" "$tmp/got" "stdout"
  grep -q '^ok: 6 derivatives (reverse and forward mode) of 1 output' "$tmp/x.out" || fail ":check q did not pass"
  [ "$(tail -1 "$tmp/x.out")" = "q = 882" ] || fail "the session did not go on: $(tail -1 "$tmp/x.out")"
  for msg in "repl:12:6: error: grad needs a scalar expression; sum it or use jvp (this one has shape (3))" \
    "repl:13:10: error: grad(): the second argument must name a param or an input, not an expression"; do
    grep -qF "$msg" "$tmp/x.err" || fail "stderr lacks: $msg"
  done
  ;;

free_variables)
  # SPEC 1.3, 2.4: in a session without declarations, NAME = NUMBER for a
  # new name gives a free variable (a scalar param) that value, so grad()
  # and jvp() take it as in a file given w=3 on the command line. By hand:
  # d(w^2)/dw = 2w = 6 at 3, jvp(w^3, w, 2) = 3w^2*2 = 54, g(v) = 2v = 10
  # at 5, f = w*x: df/dw = x = 2, df/dx = w = 3, then f = 4*2 = 8.
  printf '%s\n' 'w = 3' 'grad(w^2, w)' 'jvp(w^3, w, 2)' 'g(a) = grad(a^2, a)' 'g(w)' 'g(v)' 'v = 5' 'g(v)' \
    'f = w*x' 'x = 2' ':grad f' 'w = 4' 'f' ':vars' >"$tmp/x.in"
  session x
  expect_rc x 1 # g(v) before v has a value
  printf '%s\n' 'f = 6' 'f = 54' 'f = 6' 'f = 10' 'f = 6' 'df/dw = 2' 'df/dx = 3' 'f = 8' 'param w = 4' 'param x = 2' \
    'param v = 5' 'g(a) = grad(a^2, a)' 'f = w*x' >"$tmp/want"
  same "$tmp/want" "$tmp/x.out" "stdout"
  # the hint names a way that works: :set knows only the session's variables
  printf '%s\n' 'repl: error: no value for v: give it with v = VALUE' >"$tmp/want"
  same "$tmp/want" "$tmp/x.err" "stderr"
  # with declarations a new name stays a definition, as in a file
  printf '%s\n' 'param p' 'c = 3' 'c*p' ':set p=2' 'c*p' >"$tmp/y.in"
  session y
  expect_rc y 1
  printf '%s\n' 'f = 6' >"$tmp/want"
  same "$tmp/want" "$tmp/y.out" "stdout"
  ;;

last_value_not_definable)
  # _ is the last value printed: defining or declaring it is refused at its
  # column, before _ is replaced (no "2 = 3"), and the session goes on: _
  # and bare expressions still work. No error has a column before its line.
  printf '%s\n' 'y = 2*w' 'w = 1.5' '3+4' '_ = 3' '_ * 2' 'param a, _' 'output _ = 1' 'k = 1; _(x) = x' '_ + 1' \
    'y + zz(1)' 'y' >"$tmp/x.in"
  session x
  expect_rc x 1
  printf '%s\n' 'f = 7' 'f = 14' 'f = 15' 'y = 3' >"$tmp/want"
  same "$tmp/want" "$tmp/x.out" "stdout"
  msg="'_' is the last value printed; it cannot be defined or declared (choose another name)"
  for at in 4:1 6:10 7:8 8:8; do
    grep -qF "repl:$at: error: $msg" "$tmp/x.err" || fail "stderr lacks repl:$at: error: $msg"
  done
  grep -qF "repl:10:5: error: unknown function 'zz'" "$tmp/x.err" || fail "y + zz(1): want repl:10:5"
  grep -Eq '^[^ ]*:-?[0-9]+:(-|0:)' "$tmp/x.err" && fail "a column before the line: $(grep -E ':-?[0-9]+:(-|0:)' "$tmp/x.err")"
  carets_under_names x
  # a loaded file may define _ and f: a bare expression takes another name
  printf '%s\n' '_ = 3' 'f = 1' >"$tmp/u.expr"
  printf '%s\n' ":load $tmp/u.expr" '2+2' 'f + _' >"$tmp/y.in"
  session y
  expect_rc y 0
  empty "$tmp/y.err" "stderr"
  printf '%s\n' 'f_1 = 4' 'f_1 = 4' >"$tmp/want"
  same "$tmp/want" "$tmp/y.out" "stdout"
  ;;

load_reload)
  # SPEC 1.3, 2.4: :load of a file again, or of a second file that redefines
  # a and g, replaces them in place (what depends on them follows); a file
  # that fails leaves the session as it was; one that defines a name twice
  # fails as in a file. By hand at w = 2: g = 2w = 4, then a = 3w, g = a + 1 = 7,
  # h = g*10 = 70.
  printf '%s\n' 'param w' 'a = w' 'g = a*2' >"$tmp/r.expr"
  printf '%s\n' 'param w' 'a = w*3' 'g = a + 1' >"$tmp/r2.expr"
  printf '%s\n' 'a = 1' 'a = 2' >"$tmp/dup.expr"
  printf '%s\n' 'g = zz(1)' >"$tmp/bad.expr"
  printf '%s\n' ":load $tmp/r.expr" ":load $tmp/r.expr" 'w = 2' 'g' 'h = g*10' ":load $tmp/r2.expr" 'g' 'h' \
    ":load $tmp/dup.expr" ":load $tmp/bad.expr" 'h' ':vars' >"$tmp/x.in"
  session x
  expect_rc x 1
  printf '%s\n' 'g = 4' 'g = 7' 'h = 70' 'h = 70' 'param w = 2' 'a = w*3' 'g = a + 1' 'h = g*10' >"$tmp/want"
  same "$tmp/want" "$tmp/x.out" "stdout"
  grep -q "^$tmp/dup.expr:2:1: error: 'a' is already defined" "$tmp/x.err" || fail "dup.expr: $(cat "$tmp/x.err")"
  grep -q "^$tmp/bad.expr:1:5: error: unknown function 'zz'" "$tmp/x.err" || fail "bad.expr: $(cat "$tmp/x.err")"
  [ "$(grep -c 'error' "$tmp/x.err")" = 2 ] || fail "want 2 errors: $(cat "$tmp/x.err")"
  ;;

diff_and_set_words)
  # :diff of a session variable the target does not use is 0 (of its
  # shape); an unknown target is named; a wrt list is names and commas
  # (not "w extra" read as "wextra"); an expression is shown as itself,
  # not as the invented name; :set is all or nothing (f + g at w = 2, x = 1
  # is 5, not 26 with the w=5 of a :set that failed).
  printf '%s\n' 'f = w^2' 'g = x^2' ':diff g wrt w' ':diff nope wrt w' ':diff f wrt w extra' ':diff f wrt w, x' \
    ':diff f*f wrt w' ':diff f wrt x,x' ':set w=5 x' ':set w=3 xx=1' ':set w=2 x=1' ':set w=5 x' 'f + g' >"$tmp/x.in"
  session x
  expect_rc x 1
  printf '%s\n' 'dg/dw = 0' 'df/dw = 2*w' 'df/dx = 0' 'd(f*f)/dw = 4*f*w' '_ = 5' >"$tmp/want"
  same "$tmp/want" "$tmp/x.out" "stdout"
  printf '%s\n' "repl: error: :diff: the session has no definition or variable 'nope'" \
    "repl: error: :diff ... wrt takes names separated by commas, not 'w extra'" \
    "repl: error: wrt names 'x' twice" \
    "repl: error: :set takes NAME=VALUE words, not 'x'" \
    "repl: error: the session has no variable 'xx' (did you mean 'x'?)" \
    "repl: error: :set takes NAME=VALUE words, not 'x'" >"$tmp/want"
  same "$tmp/want" "$tmp/x.err" "stderr"
  # a tensor variable the target does not use: a zero of its shape that reads back
  printf '%s\n' 'param W[2, 2], s' 'k = s^2' ':diff k wrt W' ':set W=[[1, 2], [3, 4]]' '0*W^0' >"$tmp/y.in"
  session y
  expect_rc y 0
  empty "$tmp/y.err" "stderr"
  printf '%s\n' 'dk/dW = 0*W^0' 'f = [[0, 0],' '     [0, 0]]' >"$tmp/want"
  same "$tmp/want" "$tmp/y.out" "stdout"
  ;;

hvp)
  # :hvp (SPEC 2.4) on scalars (the course's first example, whose Hessian
  # test_ad.c derives by hand) and on a tensor (sum(z^3): diag(6 z)), with
  # wrt, and its errors: the session goes on after each.
  for t in hvp hvp_tensor; do
    session $t "$here/$t.in"
    expect_rc $t 1
    same "$here/$t.expect" "$tmp/$t.out" "stdout"
    same "$here/$t.expect_stderr" "$tmp/$t.err" "stderr"
    quiet $t
  done
  ;;

expression_labels)
  # :grad, :jacobian, :hessian, :jvp, :hvp and :check of an expression (not
  # a name) label it as typed: 3*w^2 = 12 and d(3*w^2)/dw, as :diff does,
  # never d_/dw or f = ...; a name keeps its own; a free variable given a
  # value (w = 2) and a free name of the target can be the wrt; _ before
  # any value says what _ is.
  printf '%s\n' '_' 'f = w^2' 'w = 2' ':grad 3*w^2' ':grad 3*w^2 wrt w' ':jacobian [w, 2*w]' \
    ':hessian w^3' ':jvp w^2 w=1' ':hvp w^3 w=1' ':check w^2 wrt w' ':grad f' ':grad z*w wrt z' \
    ':diff 3*w^2 wrt w' ':grad [w, 3*w]' >"$tmp/x.in"
  session x
  expect_rc x 1
  grep -v '^ \|^at \|^ok: \|^max \|^worst\|^$' "$tmp/x.out" >"$tmp/x.short"
  printf '%s\n' '3*w^2 = 12' 'd(3*w^2)/dw = 12' '3*w^2 = 12' 'd(3*w^2)/dw = 12' '# forward mode' \
    '[w, 2*w] = [2, 4]' 'd([w, 2*w])/dw = [1, 2]' 'w^3 = 8' 'hessian of w^3 w.r.t. (w) =' '[[12]]' \
    'w^2 = 4' 'd(w^2) = 4' 'w^3 = 8' 'd2(w^3)/dw.v = 12' 'f = 4' 'df/dw = 4' 'd(3*w^2)/dw = 6*w' \
    '[w, 3*w] = [2, 6]' '([w, 3*w] is a tensor: no gradient; :jacobian gives its derivatives)' >"$tmp/want"
  same "$tmp/want" "$tmp/x.short" "stdout"
  grep -q '^  d(w^2)/dw  *reverse ' "$tmp/x.out" || fail ":check of w^2 does not label d(w^2)/dw"
  grep -q '_/d\|d_\b' "$tmp/x.out" && fail "a d_ label"
  printf '%s\n' 'repl: error: _ has no value yet: it is the last value an expression printed' \
    'repl: error: no value for z: give it with z = VALUE' >"$tmp/want"
  same "$tmp/want" "$tmp/x.err" "stderr"
  ;;

load_error_columns)
  # :load reports an error at the same FILE:LINE:COL, with the same line and
  # hint, as gradc eval of the file: after "output" and blanks, after ';', in
  # a bare expression (which the REPL names f), on the second line of a
  # statement, after a comment that holds a ';', in a data file.
  printf 'param w = 2\n   output   L =   w +   zz(1)\n' >"$tmp/e1.expr"
  printf 'param w = 2\na = 1;   b = w + zz(1)\n' >"$tmp/e2.expr"
  printf 'param w = 2\n  w + zz(1)\n' >"$tmp/e3.expr"
  printf 'param w = 2\nL = (w +  # a comment; b\n   zz(1))\n' >"$tmp/e4.expr"
  printf 'param w = 2\noutput L = ww + 1 # c\n' >"$tmp/e5.expr"
  printf 'param w = 2\nx = 1 # a; b\noutput   K =  x * nosuch\n' >"$tmp/e6.expr"
  printf 'a,b\n1,2\n' >"$tmp/d.csv"
  printf 'input X[N, 2] = @d.csv:a,nosuch\noutput L = sum(X)\nL\n' >"$tmp/e7.expr"
  for f in e1 e2 e3 e4 e5 e6 e7; do
    "$gradc" eval "$tmp/$f.expr" >"$tmp/$f.want" 2>&1
    grep -q ':[0-9]*:[0-9]*: error' "$tmp/$f.want" || fail "$f: gradc eval gave no error: $(cat "$tmp/$f.want")"
    printf '%s\n' ":load $tmp/$f.expr" 'L' >"$tmp/$f.in"
    [ $f = e7 ] || printf '%s\n' ":load $tmp/$f.expr" >"$tmp/$f.in"
    session $f
    expect_rc $f 1
    same "$tmp/$f.want" "$tmp/$f.err" "stderr of :load $f.expr (want gradc eval's)"
  done
  # a comment does not end a statement left open, and a ';' in it is no
  # statement: the file loads as gradc eval reads it
  printf 'param w = 2\nL = (w +  # a comment; b\n   1)\nx = 1 # a; b\n' >"$tmp/ok.expr"
  printf '%s\n' ":load $tmp/ok.expr" 'L + x' >"$tmp/ok.in"
  session ok
  expect_rc ok 0
  empty "$tmp/ok.err" "stderr"
  printf '%s\n' 'f = 4' >"$tmp/want"
  same "$tmp/want" "$tmp/ok.out" "stdout"
  ;;

set_after_assign)
  # SPEC 2.4: w = 2 gives a free variable its value as :set does, so :set
  # then changes it (also before any statement uses it); a tensor is refused
  # for that scalar; a bare variable's name labels its value (g = 3, not
  # f = 3), a tensor's too; a bare expression is still f.
  printf '%s\n' 'w = 2' ':set w=3' 'w' 'w + 1' ':set w=[1, 2]' 'y = 2*w' ':set w=5' 'y' 'g = 3' 'g' \
    ':set g=4 w=1' 'g' 'y' >"$tmp/x.in"
  session x
  expect_rc x 1
  printf '%s\n' 'w = 3' 'f = 4' 'y = 10' 'g = 3' 'g = 4' 'y = 2' >"$tmp/want"
  same "$tmp/want" "$tmp/x.out" "stdout"
  printf '%s\n' "repl: error: 'w' is a free variable, a scalar: :set w=NUMBER" >"$tmp/want"
  same "$tmp/want" "$tmp/x.err" "stderr"
  printf '%s\n' 'param v[2]' 'v = [1, 2]' 'v' ':set v=[3, 4]' 'v ' 'param s = 2' 's' >"$tmp/y.in"
  session y
  expect_rc y 0
  empty "$tmp/y.err" "stderr"
  printf '%s\n' 'v = [1, 2]' 'v = [3, 4]' 's = 2' >"$tmp/want"
  same "$tmp/want" "$tmp/y.out" "stdout"
  ;;

free_then_declared)
  # SPEC 1.3: free variables are allowed only without declarations; the
  # session's first declaration turns them into declared scalar params with
  # their values (w = 3 used, q = 1 not used yet), so the session goes on;
  # a name the declaration itself declares (w[3]) is left to it.
  printf '%s\n' 'f = w^2' 'w = 3' 'q = 1' 'param v[2]' 'v = [1, 2]' 'g = w*sum(v) + q' 'g' 'f' ':vars' \
    ':grad g' >"$tmp/x.in"
  session x
  expect_rc x 0
  empty "$tmp/x.err" "stderr"
  printf '%s\n' 'g = 10' 'f = 9' 'param w = 3' 'param q = 1' 'param v[2] = [1, 2]' 'f = w^2' \
    'g = w*sum(v) + q' 'g = 10' 'dg/dw = 3' 'dg/dq = 1' 'dg/dv = [3, 3]' >"$tmp/want"
  same "$tmp/want" "$tmp/x.out" "stdout"
  printf '%s\n' 'f = w^2' 'param w[3]' 'w = [1, 2, 3]' 'f' >"$tmp/y.in"
  session y
  expect_rc y 0
  empty "$tmp/y.err" "stderr"
  printf '%s\n' 'f = [1, 4, 9]' >"$tmp/want"
  same "$tmp/want" "$tmp/y.out" "stdout"
  ;;

diff_let_names)
  # :diff's let lines take no name of the session, also names outside the
  # program the derivative needs (t_1 here), so pasting them back redefines
  # nothing
  printf '%s\n' 'param X[3,2], w[2]' 't1 = 3' 't_1 = 7' 'L = t1*sum(exp(X @ w) * tanh(X @ w))' \
    ':diff L wrt w' >"$tmp/x.in"
  session x
  expect_rc x 0
  empty "$tmp/x.err" "stderr"
  grep -q '^let ' "$tmp/x.out" || fail "diff_let_names: no let line to check: $(cat "$tmp/x.out")"
  if grep -Eq '^let (t1|t_1|X|w|L) ' "$tmp/x.out"; then
    fail "diff_let_names: a let line takes a session name: $(cat "$tmp/x.out")"
  fi
  ;;

file_unreadable)
  # gradc repl FILE, FILE missing or a directory: an error as gradc eval's,
  # exit 1, and no session (the input is not read)
  printf '%s\n' '1+1' >"$tmp/x.in"
  for f in "$tmp/missing.expr" "$tmp"; do
    HOME=$tmp GRADC_HISTORY=$tmp/history "$gradc" repl "$f" <"$tmp/x.in" >"$tmp/x.out" 2>"$tmp/x.err"
    rc=$?
    expect_rc x 1
    empty "$tmp/x.out" "stdout"
    "$gradc" eval "$f" 2>"$tmp/want" >/dev/null
    same "$tmp/want" "$tmp/x.err" "stderr"
  done
  ;;

labels_without_comment)
  # A command's expression ends at a comment, and a ';' or blanks after it
  # are not part of it: the labels are the same as without them.
  for tail in '' ' # a comment' ';' ' ; ' '  # c; d'; do
    printf '%s\n' 'w = 2' ":grad w^2$tail" ":jacobian [w, 2*w]$tail" ":hessian w^3$tail" ":jvp w^2 w=1$tail" \
      ":hvp w^3 w=1$tail" ":check w^2$tail" ":diff w^2 wrt w$tail" ":trace w^2$tail" ":set w=3$tail" 'w' >"$tmp/x.in"
    session x
    expect_rc x 0
    empty "$tmp/x.err" "stderr (tail '$tail')"
    if [ -z "$tail" ]; then
      cp "$tmp/x.out" "$tmp/plain.out"
      grep -q '^d(w^2)/dw = 4$' "$tmp/x.out" || fail ":grad w^2: no d(w^2)/dw = 4: $(cat "$tmp/x.out")"
    else
      same "$tmp/plain.out" "$tmp/x.out" "stdout with '$tail' after each command"
    fi
  done
  ;;

direction_wording)
  # A bad direction for :jvp or :hvp is said in the REPL's words (":jvp",
  # ":hvp", "repl: error:"), never as --tangent/--vector or "gradc: error:";
  # a hexadecimal number is not a number of the language there either.
  printf '%s\n' 'w = 2' ':jvp w^2 w=1e999' ':jvp w^2 w=[1,2]' ':jvp w^2 w=1 w=2' ':jvp w^2 w=0x10' \
    ':hvp w^3 w=[1,2]' ':hvp w^3 w=0x1p3' ':jvp w^2 w=1' >"$tmp/x.in"
  session x
  expect_rc x 1
  printf '%s\n' 'w^2 = 4' 'd(w^2) = 4' >"$tmp/want"
  same "$tmp/want" "$tmp/x.out" "stdout"
  printf '%s\n' "repl: error: :jvp w=1e999: the number is too large for a double" \
    "repl: error: :jvp w=...: 'w' is a scalar but the value has shape (2)" \
    "repl: error: :jvp names 'w' twice" \
    "repl: error: :jvp w=0x10: not a number as the language writes them (decimal: 16, 1.5e3)" \
    "repl: error: :hvp w=...: 'w' is a scalar but the value has shape (2)" \
    "repl: error: :hvp w=0x1p3: not a number as the language writes them (decimal: 16, 1.5e3)" >"$tmp/want"
  same "$tmp/want" "$tmp/x.err" "stderr"
  ;;

load_endless)
  # :load of an endless file (/dev/zero) stops at the command line's limit
  # for a source file with its error, instead of reading forever; the
  # session goes on.
  printf '%s\n' ':load /dev/zero' '1+1' >"$tmp/x.in"
  session x
  expect_rc x 1
  printf '%s\n' 'f = 2' >"$tmp/want"
  same "$tmp/want" "$tmp/x.out" "stdout"
  printf '%s\n' 'repl: error: /dev/zero is larger than 256 MiB: not a source file' >"$tmp/want"
  same "$tmp/want" "$tmp/x.err" "stderr"
  ;;

command_words)
  # A misspelt command gets a "did you mean"; a command that takes no
  # arguments (:vars, :help, :quit, :q) refuses extra words instead of
  # ignoring them (the session goes on after ':quit now'); ':vars;' and
  # ':vars# note' are :vars.
  printf '%s\n' 'w = 2' ':hel' ':gard w' ':vars extra' ':help me' ':quit now' ':q 1' ':vars;' ':vars# note' \
    ':load' ':load # no file' 'w' >"$tmp/x.in"
  session x
  expect_rc x 1
  printf '%s\n' 'param w = 2' 'param w = 2' 'w = 2' >"$tmp/want"
  same "$tmp/want" "$tmp/x.out" "stdout"
  printf '%s\n' 'repl: error: unknown command :hel (did you mean :help?)' \
    'repl: error: unknown command :gard (did you mean :grad?)' \
    "repl: error: :vars takes no arguments, not 'extra'" "repl: error: :help takes no arguments, not 'me'" \
    "repl: error: :quit takes no arguments, not 'now'" "repl: error: :q takes no arguments, not '1'" \
    'repl: error: :load FILE' 'repl: error: :load FILE' >"$tmp/want"
  same "$tmp/want" "$tmp/x.err" "stderr"
  ;;

set_twice)
  # :set w=1 w=2 is an error (one value each, as on the command line), and
  # :set sets all its values or none: w keeps 5.
  printf '%s\n' 'param w = 5' ':set w=1 w=2' 'w' >"$tmp/x.in"
  session x
  expect_rc x 1
  printf '%s\n' 'w = 5' >"$tmp/want"
  same "$tmp/want" "$tmp/x.out" "stdout"
  printf '%s\n' 'repl: error: :set gives w two values: give it one' >"$tmp/want"
  same "$tmp/want" "$tmp/x.err" "stderr"
  ;;

diff_pasted_back)
  # What :diff prints, shared parts as "let NAME = EXPR" lines, pasted back
  # into the session as typed (only the label "dL/dw =" renamed to "D ="),
  # evaluates to :grad's gradient; a file of those lines reads back too.
  head='param X[2,3], w[3]
:set X=[[1,2,3],[4,5,6]] w=[0.1,0.2,-0.3]
L = sum(softmax(X @ w)*log(sigmoid(X @ w)))'
  printf '%s\n' "$head" ':diff L wrt w' >"$tmp/d.in"
  session d
  expect_rc d 0
  grep -q '^let ' "$tmp/d.out" || fail ":diff printed no let line: $(cat "$tmp/d.out")"
  { printf '%s\n' "$head"; sed 's|^dL/dw = |D = |' "$tmp/d.out"; printf '%s\n' 'D' ':grad L wrt w'; } >"$tmp/p.in"
  session p
  expect_rc p 0
  empty "$tmp/p.err" "stderr"
  d=$(sed -n 's/^D = //p' "$tmp/p.out")
  g=$(sed -n 's|^dL/dw = ||p' "$tmp/p.out")
  [ -n "$d" ] && [ "$d" = "$g" ] || fail "D = '$d' but :grad gives dL/dw = '$g'"
  { printf 'param X[2,3], w[3]\n'; sed 's|^dL/dw = |output D = |' "$tmp/d.out"; } >"$tmp/d.expr"
  f=$("$gradc" eval "$tmp/d.expr" 'X=[[1,2,3],[4,5,6]]' 'w=[0.1,0.2,-0.3]' 2>&1 | sed -n 's/^D = //p')
  [ "$f" = "$g" ] || fail "gradc eval of the :diff text as a file gives '$f', not '$g'"
  ;;

comment_in_open_statement)
  # A comment inside a statement left open (after its open line, or a line
  # of its own) ends at the end of its line, as in a file: the statement
  # goes on; a ';' inside a comment splits nothing.
  printf '%s\n' 'sum([1,' '  # a comment line' '2])' 'x = [1, # note' '3]' 'x' 'w = 2 # a; b = 3' 'w' >"$tmp/x.in"
  session x
  expect_rc x 0
  empty "$tmp/x.err" "stderr"
  printf '%s\n' 'f = 3' 'x = [1, 3]' 'w = 2' >"$tmp/want"
  same "$tmp/want" "$tmp/x.out" "stdout"
  ;;

load_bom)
  # :load of a file that starts with a UTF-8 byte-order mark (and has CRLF
  # line ends) reads it as gradc eval does.
  printf '\357\273\277param w = 2\r\noutput L = w^2\r\n' >"$tmp/bom.expr"
  printf '%s\n' ":load $tmp/bom.expr" 'L' >"$tmp/x.in"
  session x
  expect_rc x 0
  empty "$tmp/x.err" "stderr"
  "$gradc" eval "$tmp/bom.expr" >"$tmp/want" 2>&1
  same "$tmp/want" "$tmp/x.out" "stdout (gradc eval's)"
  # a session file with a byte-order mark too
  printf '\357\273\277w = 3\nw\n' >"$tmp/y.in"
  session y
  expect_rc y 0
  empty "$tmp/y.err" "stderr"
  printf '%s\n' 'w = 3' >"$tmp/want"
  same "$tmp/want" "$tmp/y.out" "stdout"
  ;;

*)
  echo "unknown case $case" >&2
  exit 2
  ;;
esac

if [ $failures -ne 0 ]; then
  exit 1
fi
echo "ok $case"
exit 0
