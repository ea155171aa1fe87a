#!/bin/sh
# run_cli_tests.sh: the command-line cases, TinyCC tests2 style.
#
#   tests/cli/run_cli_tests.sh GRADC REPO_ROOT [EXTRA_ARGS]
#
# Each case is three files in tests/cli/:
#   NNN_name.cmd     one line: the arguments to gradc (paths relative to the
#                    repository root; shell quoting allowed)
#   NNN_name.expect  the exact stdout and stderr of the run, merged
#   NNN_name.rc      the exact exit code
# EXTRA_ARGS (e.g. "--backend cc") are appended to every command. The script
# runs from REPO_ROOT, prints a diff for every failing case, and exits 1 if
# any case failed. Set CLI_FILTER to a glob to run some cases only.
#
# Inputs too big to keep in git are generated into a scratch directory
# first; @GEN@ in a .cmd or .expect file stands for that directory:
#   @GEN@/deep_parens.expr   100,000 nested parentheses around x
#   @GEN@/huge_number.expr   x = <a 10 MB number literal>, then x
#   @GEN@/chain6k.expr       t_k = b*t_(k-1) + a_(k mod 3), 6,000 definitions
#                            (a kernel libtcc gets in units: jit_units.c)
#   @GEN@/chain6k_err.expr   the same with an undeclared name at line 4003
set -u

if [ $# -lt 2 ]; then
  echo "usage: $0 GRADC REPO_ROOT [EXTRA_ARGS]" >&2
  exit 2
fi
gradc=$1
root=$2
extra=${3-}
filter=${CLI_FILTER-*}

case $gradc in
  /*) ;;
  *) gradc=$(pwd)/$gradc ;;
esac
cd "$root" || exit 2
[ -x "$gradc" ] || { echo "no gradc binary at $gradc" >&2; exit 2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gradc-cli-XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM

gen=$tmp/gen
mkdir "$gen" || exit 2
{
  head -c 100000 /dev/zero | tr '\0' '('
  printf 'x'
  head -c 100000 /dev/zero | tr '\0' ')'
  printf '\n'
} >"$gen/deep_parens.expr"
{
  printf 'x = '
  head -c 10485760 /dev/zero | tr '\0' '7'
  printf '\nx\n'
} >"$gen/huge_number.expr"
for bad in 0 1; do
  awk -v bad=$bad 'BEGIN {
    print "param a0 = 1, a1 = 2, a2 = 3, b = 0.5"
    print "t0 = a0"
    for (k = 1; k < 6000; k++)
      if (bad && k == 4000) printf "t%d = b*t%d + \\\n  c%d\n", k, k - 1, k % 3
      else printf "t%d = b*t%d + a%d\n", k, k - 1, k % 3
    print "output f = t5999"
  }' >"$gen/chain6k$([ $bad = 1 ] && echo _err).expr"
done

pass=0
fail=0
failed=""
for cmd in tests/cli/$filter.cmd; do
  [ -f "$cmd" ] || continue
  name=${cmd%.cmd}
  case=$(basename "$name")
  if [ ! -f "$name.expect" ] || [ ! -f "$name.rc" ]; then
    echo "FAIL $case: missing $case.expect or $case.rc"
    fail=$((fail + 1))
    failed="$failed $case"
    continue
  fi
  args=$(sed "s|@GEN@|$gen|g" "$cmd")
  # shellcheck disable=SC2086 # EXTRA_ARGS is split into words on purpose
  eval "set -- $args"
  "$gradc" "$@" $extra >"$tmp/out" 2>&1
  rc=$?
  want_rc=$(tr -d ' \n' <"$name.rc")
  ok=1
  sed "s|@GEN@|$gen|g" "$name.expect" >"$tmp/expect"
  if ! cmp -s "$tmp/out" "$tmp/expect"; then
    ok=0
    echo "FAIL $case: output differs (gradc $args $extra)"
    diff -u "$tmp/expect" "$tmp/out" | sed 's/^/    /' | head -60
  fi
  if [ "$rc" != "$want_rc" ]; then
    ok=0
    echo "FAIL $case: exit code $rc, want $want_rc (gradc $args $extra)"
  fi
  if [ $ok = 1 ]; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1))
    failed="$failed $case"
  fi
done

echo "cli${extra:+ ($extra)}: $pass passed, $fail failed"
if [ $fail -ne 0 ]; then
  echo "failed:$failed"
  exit 1
fi
[ $pass -gt 0 ] || { echo "no cases found" >&2; exit 1; }
exit 0
