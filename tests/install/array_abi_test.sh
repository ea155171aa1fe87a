#!/bin/sh
# array_abi_test.sh: `gradc emit --abi array` for every example.
#
#   tests/install/array_abi_test.sh GRADC ARRAY_ABI_CHECK REPO_ROOT
#
# For each examples/*.expr, examples/*/*.expr (mgh/, sparse/) and
# tests/install/data/*.expr (derived dimensions in shapes): emit with --abi array and a header; compile with cc -std=c99 -Wall -Wextra -pedantic -Werror
# (-O2, as a shared object, -lm only, no -I: generated C includes no gradc
# header); then array_abi_check calls every function through the array
# ABI and compares it with the JIT bit for bit (see array_abi_check.c).
# A file with `param x[N]` gets an 8-element x. EXAMPLE_FILTER: a
# glob over the paths.
set -u
[ $# -eq 3 ] || { echo "usage: $0 GRADC ARRAY_ABI_CHECK REPO_ROOT" >&2; exit 2; }
gradc=$1 check=$2 root=$3
cc=${CC:-cc}
filter=${EXAMPLE_FILTER-*}
cd "$root" || exit 2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gradc-abi-XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM
X8='x=[0.3,-0.7,1.1,0.5,-1.3,0.9,0.2,-0.4]'
pass=0 fail=0 failed=""
for file in examples/*.expr examples/*/*.expr tests/install/data/*.expr; do
  case $file in $filter) ;; *) continue ;; esac
  name=$(basename "$file" .expr)
  set --
  grep -q '^param x\[N\]' "$file" && set -- "$X8"
  if ! "$gradc" emit "$file" --abi array --prefix "$name" -o "$tmp/$name.c" --header "$tmp/$name.h" \
      >"$tmp/log" 2>&1; then
    echo "FAIL $file: emit"; cat "$tmp/log"; fail=$((fail + 1)); failed="$failed $name"; continue
  fi
  if ! $cc -std=c99 -Wall -Wextra -pedantic -Werror -O2 -fPIC -shared -o "$tmp/$name.so" \
      "$tmp/$name.c" -lm >"$tmp/log" 2>&1; then
    echo "FAIL $file: the C does not compile"; head -30 "$tmp/log"; fail=$((fail + 1)); failed="$failed $name"
    continue
  fi
  if "$check" "$file" "$tmp/$name.so" "$name" "$@" >"$tmp/log" 2>&1; then
    pass=$((pass + 1))
    echo "ok   $file ($(grep -c '^ok' "$tmp/log") functions)"
  else
    echo "FAIL $file"; grep -v '^ok' "$tmp/log" | head -20; fail=$((fail + 1)); failed="$failed $name"
  fi
done
echo "array ABI: $pass passed, $fail failed"
[ $fail -eq 0 ] || { echo "failed:$failed"; exit 1; }
[ $pass -gt 0 ]
