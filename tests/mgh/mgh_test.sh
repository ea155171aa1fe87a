#!/bin/sh
# mgh_test.sh: the Moré–Garbow–Hillstrom problems in examples/mgh/.
#
#   tests/mgh/mgh_test.sh GRADC REPO_ROOT
#
# For every problem in the table below:
#   f0     gradc eval at x0 against tests/mgh/expected.txt (written by the
#          independent loop-form reference tests/mgh/reference.py), relative 1e-10
#   g0     gradc grad at x0 against the reference's dual-number gradient
#          (MGH publish no gradients), relative 1e-9 of the largest entry
#   check  gradc check at x0 (central differences) exits 0
#   fstar  gradc eval at the published minimiser x* gives the published f*,
#          to the digits published (rel:T relative, abs:T absolute)
#   emit   gradc emit compiles with cc -std=c99 -Wall -Wextra -pedantic -Werror -c
#   cc     --backend cc gives the same f(x0) as the default tcc, bit for bit
#          (the --json outputs, 17 significant digits, are identical)
# Sources of x0, f* and x*: the header comment of each examples/mgh/NAME.expr.
# Set MGH_FILTER to a glob to run some problems only.
set -u
if [ $# -lt 2 ]; then
  echo "usage: $0 GRADC REPO_ROOT" >&2
  exit 2
fi
gradc=$1
root=$2
case $gradc in /*) ;; *) gradc=$(pwd)/$gradc ;; esac
cd "$root" || exit 2
[ -x "$gradc" ] || { echo "no gradc binary at $gradc" >&2; exit 2; }
cc=${CC:-cc}
filter=${MGH_FILTER-*}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gradc-mgh-XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM

pass=0
fail=0
failed=""
ok() { pass=$((pass + 1)); }
bad() {  # bad KIND MESSAGE
  echo "FAIL $name $1: $2"
  fail=$((fail + 1))
  failed="$failed $name:$1"
}

# the numbers of a --json output, one per line, in order (keys dropped)
numbers() {
  tr ',[]{}' '\n\n\n\n\n' | sed 's/^ *"[^"]*": *//; s/^ *//' | grep -E '^-?[0-9]'
}

# BV: x0_j = t_j (t_j - 1), t_j = j/11 (problems 28, 29 at n = 10)
BV='[-0.08264462809917356,-0.1487603305785124,-0.1983471074380165,-0.23140495867768596,-0.24793388429752064,-0.24793388429752067,-0.23140495867768596,-0.1983471074380165,-0.14876033057851237,-0.08264462809917358]'
BVS='[-0.07502213,-0.1319762,-0.1648488,-0.1646647,-0.1174177]'
R10='[-1.2,1,-1.2,1,-1.2,1,-1.2,1,-1.2,1]'
ONES10='[1,1,1,1,1,1,1,1,1,1]'

# name | x0 (- : the file's default) | x* | published f* | tolerance
# One line per problem; '|' separates the fields.
cat >"$tmp/table" <<TABLE
rosenbrock|-|[1,1]|0|abs:0
freudenstein_roth|-|[5,4]|0|abs:0
powell_badly_scaled|-|[1.098e-5,9.106]|0|abs:1e-7
brown_badly_scaled|-|[1e6,2e-6]|0|abs:0
beale|-|[3,0.5]|0|abs:0
jennrich_sampson|-|[0.2578,0.2578]|124.362|rel:5e-6
helical_valley|-|[1,0,0]|0|abs:0
bard|-|[0.08241056,1.133036,2.343695]|8.21487e-3|rel:5e-6
gaussian|-|[0.3989561,1.0000191,2.787451e-20]|1.12793e-8|rel:5e-6
meyer|-|[0.0056096,6181.35,345.2237]|87.9458|rel:5e-6
gulf|-|[50,25,1.5]|0|abs:1e-28
box_3d|-|[1,10,1]|0|abs:0
powell_singular|-|[0,0,0,0]|0|abs:0
wood|-|[1,1,1,1]|0|abs:0
kowalik_osborne|-|[0.1928069,0.1912823,0.1230565,0.1360623]|3.07505e-4|rel:5e-6
brown_dennis|-|[-11.59444,13.20363,-0.4034395,0.2367788]|85822.2|rel:5e-6
biggs_exp6|-|[1,10,1,5,4,3]|0|abs:1e-30
osborne_2|-|[1.309977,0.4315538,0.6336617,0.5994305,0.7541832,0.9042886,1.3658118,4.823699,2.398685,4.568875,5.675341]|4.01377e-2|rel:5e-6
watson|[0,0,0,0,0,0]|[-0.01572509,1.0124349,-0.232991626,1.26043009,-1.51372892,0.9929964]|2.28767e-3|rel:5e-6
extended_rosenbrock|$R10|$ONES10|0|abs:0
extended_powell_singular|[3,-1,0,1,3,-1,0,1]|[0,0,0,0,0,0,0,0]|0|abs:0
penalty_1|[1,2,3,4]|[0.2500075,0.2500075,0.2500075,0.2500075]|2.24997e-5|rel:5e-6
penalty_2|[0.5,0.5,0.5,0.5]|[0.1999993,0.19131669,0.48010149,0.5188454]|9.37629e-6|rel:5e-6
variably_dimensioned|[0.9,0.8,0.7,0.6,0.5,0.4,0.30000000000000004,0.19999999999999996,0.09999999999999998,0.0]|$ONES10|0|abs:0
trigonometric|[0.1,0.1,0.1,0.1,0.1,0.1,0.1,0.1,0.1,0.1]|[0,0,0,0,0,0,0,0,0,0]|0|abs:0
brown_almost_linear|[0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5]|$ONES10|0|abs:0
discrete_boundary_value|$BV|$BVS|0|abs:1e-12
discrete_integral_equation|$BV|$BVS|0|abs:1e-12
broyden_tridiagonal|[-1,-1,-1,-1,-1,-1,-1,-1,-1,-1]|[-0.5648284,-0.6662737,-0.6609170,-0.5950500,-0.4162011]|0|abs:1e-12
broyden_banded|[-1,-1,-1,-1,-1,-1,-1,-1,-1,-1]|[-0.4283029,-0.4765965,-0.5196377,-0.5588620,-0.5588620]|0|abs:1e-12
linear_full_rank|$ONES10|[-1,-1,-1,-1,-1,-1,-1,-1,-1,-1]|10|abs:1e-12
TABLE

while IFS='|' read -r name x0 xstar fstar tol; do
  case $name in $filter) ;; *) continue ;; esac
  file=examples/mgh/$name.expr
  if [ "$x0" = - ]; then set --; else set -- "x=$x0"; fi

  # f(x0) against the reference
  want=$(awk -v n="$name" '$1 == n && $2 == "f0" { print $3 }' tests/mgh/expected.txt)
  "$gradc" eval "$file" "$@" --json >"$tmp/f0.json" 2>&1
  got=$(numbers <"$tmp/f0.json")
  if [ -n "$want" ] && awk -v g="$got" -v w="$want" 'BEGIN {
      d = g - w; if (d < 0) d = -d; a = w < 0 ? -w : w
      exit !(g != "" && d <= 1e-10 * a) }'; then ok
  else bad f0 "got '$got', want $want (relative 1e-10)"; fi

  # the gradient at x0 against the reference's
  want=$(awk -v n="$name" '$1 == n && $2 == "g0" { $1 = ""; $2 = ""; print }' tests/mgh/expected.txt)
  got=$("$gradc" grad "$file" "$@" --json 2>&1 | sed -n '/"gradients"/,$p' | numbers | tr '\n' ' ')
  if awk -v g="$got" -v w="$want" 'BEGIN {
      n = split(g, G, " "); m = split(w, W, " ")
      if (n != m || n == 0) exit 1
      big = 0; for (i = 1; i <= m; i++) { a = W[i] < 0 ? -W[i] : W[i]; if (a > big) big = a }
      for (i = 1; i <= m; i++) { d = G[i] - W[i]; if (d < 0) d = -d; if (d > 1e-9 * big) exit 1 }
      exit 0 }'; then ok
  else bad g0 "got [$got], want [$want] (1e-9 of the largest entry)"; fi

  # gradc check at x0
  if "$gradc" check "$file" "$@" >"$tmp/check.out" 2>&1; then ok
  else bad check "exit $?"; sed 's/^/    /' "$tmp/check.out" | head -20; fi

  # f at the published minimiser
  "$gradc" eval "$file" "x=$xstar" --json >"$tmp/fs.json" 2>&1
  got=$(numbers <"$tmp/fs.json")
  if awk -v g="$got" -v w="$fstar" -v t="$tol" 'BEGIN {
      split(t, T, ":"); d = g - w; if (d < 0) d = -d; a = w < 0 ? -w : w
      if (g == "") exit 1
      if (T[1] == "rel") exit !(d <= T[2] * a)
      exit !(d <= T[2]) }'; then ok
  else bad fstar "f(x*) = '$got', want $fstar ($tol)"; fi

  # emit compiles cleanly
  if "$gradc" emit "$file" -o "$tmp/$name.c" >"$tmp/emit.out" 2>&1 &&
     $cc -std=c99 -Wall -Wextra -pedantic -Werror -c "$tmp/$name.c" -o "$tmp/$name.o" >>"$tmp/emit.out" 2>&1; then ok
  else bad emit "gradc emit or cc failed"; sed 's/^/    /' "$tmp/emit.out" | head -20; fi

  # --backend cc agrees with tcc bit for bit
  "$gradc" eval "$file" "$@" --json --backend cc >"$tmp/f0cc.json" 2>&1
  if cmp -s "$tmp/f0.json" "$tmp/f0cc.json"; then ok
  else bad cc "tcc and cc differ"; diff "$tmp/f0.json" "$tmp/f0cc.json" | sed 's/^/    /'; fi
done <"$tmp/table"

echo "mgh: $pass passed, $fail failed"
if [ $fail -ne 0 ]; then
  echo "failed:$failed"
  exit 1
fi
[ $pass -gt 0 ] || { echo "no problems matched" >&2; exit 1; }
exit 0
