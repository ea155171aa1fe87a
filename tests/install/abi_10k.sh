#!/bin/sh
# abi_10k.sh: a function of 10^4 scalar variables through the array ABI.
#
#   tests/install/abi_10k.sh GRADC ARRAY_ABI_CHECK REPO_ROOT
#
# Writes the unrolled chained Rosenbrock of x0..x9999 as an .expr file,
# emits it with --abi array --prefix r10k, and with the default ABI, and
# checks that no line of either header is longer than 80 columns (the
# declarations of 10^4 parameters wrap), then
#   - compiles tests/install/abi_10k.c, which includes the generated
#     header, with cc -std=c99 -Wall -Wextra -pedantic -Werror, links it
#     with the generated C and runs it (names, shapes, gradient, JVP);
#   - runs array_abi_check on the same object (every function against the
#     JIT, bit for bit).
# The generated C (6.6 MB) is compiled by ABI_10K_CC, default tcc: gcc -O0
# takes about 25 s of CPU on it (gcc's cleanliness under -pedantic -Werror
# is checked on every example by array_abi_test.sh).
set -u
[ $# -eq 3 ] || { echo "usage: $0 GRADC ARRAY_ABI_CHECK REPO_ROOT" >&2; exit 2; }
gradc=$1 check=$2 root=$3
cc=${CC:-cc}
gcc10k=${ABI_10K_CC:-tcc}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gradc-10k-XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM
cd "$tmp" || exit 2
awk -v n=10000 'BEGIN {
  printf "param x0"; for (i = 1; i < n; i++) printf ", x%d", i
  printf "\noutput f = "
  for (i = 0; i < n - 1; i++)
    printf "%s100*(x%d - x%d^2)^2 + (1 - x%d)^2", i ? " + " : "", i + 1, i, i
  printf "\n" }' >r10k.expr
"$gradc" emit r10k.expr --abi array --prefix r10k -o r10k.c --header r10k.h || exit 1
"$gradc" emit r10k.expr --prefix r10k -o default.c --header default.h || exit 1
for h in r10k.h default.h; do
  long=$(awk 'length($0) > 80 { n++ } END { print n + 0 }' $h)
  [ "$long" -eq 0 ] || { echo "FAIL: $long lines of $h are longer than 80 columns"; exit 1; }
  echo "ok   $h: $(wc -l <$h) lines, none over 80 columns"
done
$gcc10k -fPIC -shared -o libr10k.so r10k.c -lm || { echo "FAIL: $gcc10k on the generated C"; exit 1; }
$cc -std=c99 -Wall -Wextra -pedantic -Werror -I. -o abi_10k "$root/tests/install/abi_10k.c" \
  -L. -lr10k -Wl,-rpath,"$tmp" -lm || { echo "FAIL: abi_10k.c does not compile"; exit 1; }
./abi_10k || { echo "FAIL: abi_10k"; exit 1; }
"$check" r10k.expr ./libr10k.so r10k || { echo "FAIL: array_abi_check"; exit 1; }
