#!/usr/bin/env bash
# grad() inside the language, called many times: a program of K calls of a
# function whose body is grad(...) (each call a new derivative), for
# K = 2,000 and 20,000. Each grad() walks only the cone of its expression
# (src/lang_ad.c), so the time of `gradc eval` grows linearly: the ratio
# printed should be near 10 (it was ~80 when each call walked the whole DAG:
# 12.5 s CPU at K = 20,000).   tests/bench/lang_ad.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gradc-lang-ad-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
gen() { # K -> a program of K grad() calls
  {
    echo 'f(a) = grad(sin(w*a)*w^2, w)'
    echo 'param w'
    for ((i = 0; i < $1; i++)); do echo "t$i = f($((i + 1)))"; done
    printf 'output s = t0'
    for ((i = 1; i < $1; i++)); do printf ' + t%d' "$i"; done
    echo
  } >"$tmp/k$1.expr"
}
cpu() { # seconds of CPU for one `gradc eval` (user + sys, best of 3)
  local best=
  for _ in 1 2 3; do
    local t
    t=$( { /usr/bin/time -f '%U %S' "$build"/gradc eval "$1" w=0.5 >/dev/null; } 2>&1 | tail -1 |
      awk '{print $1 + $2}')
    best=$(awk -v a="$t" -v b="${best:-$t}" 'BEGIN{print (a < b) ? a : b}')
  done
  echo "$best"
}
gen 2000
gen 20000
a=$(cpu "$tmp/k2000.expr")
b=$(cpu "$tmp/k20000.expr")
awk -v a="$a" -v b="$b" 'BEGIN{printf "grad() calls: K = 2,000 %.3f s CPU, K = 20,000 %.3f s CPU, ratio %.1f (linear: ~10)\n", a, b, (a > 0 ? b / a : 0)}'
