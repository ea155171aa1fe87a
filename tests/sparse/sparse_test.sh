#!/bin/sh
# sparse_test.sh: the C of `gradc emit --sparse` compiles with
# -std=c99 -Wall -Wextra -pedantic -Werror, and its sparse Jacobians and
# Hessians (in compressed sparse column order) hold the same nonzeros as
# `gradc jacobian --sparse` / `hessian --sparse` (row-major); a big sparse
# `jacobian` computed from the pattern equals the one from dense sweeps.
#   tests/sparse/sparse_test.sh GRADC REPO_ROOT
set -eu
gradc=$1
root=$2
cd "$root"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gradc-sparse-XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
fail=0
cflags="-std=c99 -Wall -Wextra -pedantic -Werror"

# nonzero "row col value" lines of a gradc --sparse listing
nonzeros() { sed '1,/^# row col value$/d' | awk '$3 != 0'; }

build() { # prefix file driver [sizes...]
  p=$1 f=$2 d=$3
  shift 3
  "$gradc" emit --sparse "$f" "$@" --prefix "$p" -o "$tmp/$p.c" --header "$tmp/$p.h"
  cc $cflags -c "$tmp/$p.c" -o "$tmp/$p.o"
  cc $cflags -I"$tmp" -Itests/sparse "tests/sparse/$d" "$tmp/$p.o" -lm -o "$tmp/$p"
}

compare() { # name expected actual
  if ! diff -u "$2" "$3" >"$tmp/diff"; then
    echo "FAIL $1"
    cat "$tmp/diff"
    fail=1
  else
    echo "ok   $1"
  fi
}

build rs examples/sparse/chained_rosenbrock.expr driver_rosen.c N=6
"$tmp/rs" | awk '$3 != 0' >"$tmp/rs.out"
"$gradc" hessian --sparse examples/sparse/chained_rosenbrock.expr x=[1,-1,0.5,2,-0.25,0.75] | nonzeros >"$tmp/rs.want"
compare "rosenbrock hess_sparse" "$tmp/rs.want" "$tmp/rs.out"

build bb examples/sparse/broyden_banded_residual.expr driver_broyden.c N=12
"$tmp/bb" | awk '$3 != 0' >"$tmp/bb.out"
"$gradc" jacobian --sparse examples/sparse/broyden_banded_residual.expr \
  x=[-1,-0.9,-0.8,-0.7,-0.6,-0.5,-0.4,-0.3,-0.2,-0.1,0,0.1] | nonzeros >"$tmp/bb.want"
compare "broyden jac_sparse" "$tmp/bb.want" "$tmp/bb.out"

build tw tests/cli/data/s82_two.expr driver_two.c
vals="x=[1,2,3] w=2 c=[1,0,2]"
for which in r s; do
  "$tmp/tw" $which | awk '$3 != 0' >"$tmp/tw$which.out"
  "$gradc" jacobian --sparse tests/cli/data/s82_two.expr $vals --output $which | nonzeros >"$tmp/tw$which.want"
  compare "two outputs: ${which}_jac_sparse" "$tmp/tw$which.want" "$tmp/tw$which.out"
done
"$tmp/tw" h | awk '$3 != 0' >"$tmp/twh.out"
"$gradc" hessian --sparse tests/cli/data/s82_two.expr $vals --output s | nonzeros >"$tmp/twh.want"
compare "two outputs: s_hess_sparse" "$tmp/twh.want" "$tmp/twh.out"
# the same functions under the array ABI (emit --abi array --sparse), driven
# only through their queries (tests/sparse/driver_array.c)
build_array() { # prefix file function size [values of the first variable...]
  p=$1 f=$2 fn=$3 n=$4
  shift 4
  "$gradc" emit --abi array --sparse "$f" N=$n --prefix "$p" -o "$tmp/$p.c" --header "$tmp/$p.h"
  cc $cflags -c "$tmp/$p.c" -o "$tmp/$p.o"
  cc $cflags -I"$tmp" -DHEADER="\"$p.h\"" -DFN="$fn" -DN="$n" tests/sparse/driver_array.c "$tmp/$p.o" -lm \
    -o "$tmp/$p"
  "$tmp/$p" "$@" | awk '$3 != 0' >"$tmp/$p.out"
}
build_array ars examples/sparse/chained_rosenbrock.expr ars_f_hess_sparse 6 1 -1 0.5 2 -0.25 0.75
compare "array ABI: rosenbrock hess_sparse" "$tmp/rs.want" "$tmp/ars.out"
build_array abb examples/sparse/broyden_banded_residual.expr abb_r_jac_sparse 12 \
  -1 -0.9 -0.8 -0.7 -0.6 -0.5 -0.4 -0.3 -0.2 -0.1 0 0.1
compare "array ABI: broyden jac_sparse" "$tmp/bb.want" "$tmp/abb.out"

# every example's sparse C compiles under -Werror (sizes where it has N)
for f in examples/mgh/*.expr examples/iris_mlp.expr examples/sparse/*.expr tests/sparse/no_params.expr; do
  sizes=""
  grep -q 'x\[N\]' "$f" && sizes="N=12"
  if "$gradc" emit --sparse "$f" $sizes -o "$tmp/ex.c" 2>"$tmp/err" && cc $cflags -c "$tmp/ex.c" -o "$tmp/ex.o" 2>>"$tmp/err" &&
    "$gradc" emit --abi array --sparse "$f" $sizes -o "$tmp/ex.c" 2>>"$tmp/err" &&
    cc $cflags -c "$tmp/ex.c" -o "$tmp/ex.o" 2>>"$tmp/err"; then
    :
  else
    echo "FAIL emit --sparse $f $sizes"
    cat "$tmp/err"
    fail=1
  fi
  rm -f "$tmp/ex.c"
done
[ $fail = 0 ] && echo "ok   emit --sparse of every example compiles (both ABIs)"

# jacobian (auto) of a banded map: by 7 JVPs, the same numbers as 100
"$gradc" jacobian examples/sparse/broyden_banded_residual.expr N=100 >"$tmp/auto.txt"
head -1 "$tmp/auto.txt" >"$tmp/auto.mode"
echo "# forward mode: 7 JVPs, one per colour of the sparsity pattern" >"$tmp/auto.want"
compare "jacobian by the pattern: mode line" "$tmp/auto.want" "$tmp/auto.mode"
"$gradc" jacobian examples/sparse/broyden_banded_residual.expr N=100 x=@tests/sparse/x100.json --json >"$tmp/auto.json"
"$gradc" jacobian examples/sparse/broyden_banded_residual.expr N=100 x=@tests/sparse/x100.json --json --mode forward >"$tmp/dense.json"
compare "jacobian by the pattern = dense forward sweeps" "$tmp/dense.json" "$tmp/auto.json"

[ -s "$tmp/rs.want" ] && [ -s "$tmp/bb.want" ] && [ -s "$tmp/twh.want" ] || { echo "FAIL: empty listings"; fail=1; }
exit $fail
