#!/bin/sh
# install_test.sh: gradc installed to a temporary prefix, used from outside
# the tree as a C library.
#
#   tests/install/install_test.sh BUILD_DIR REPO_ROOT JIT [CFLAGS]
#
# JIT is "tcc" when libgradc.so holds libtcc (cmake/install.cmake), "cc"
# when it has the cc backend only; CFLAGS go to every compile and link of
# the consumers (the sanitizers, in an ASan build). Steps:
#   install  cmake --install BUILD_DIR --prefix P puts every file in place:
#            bin/gradc, include/gradc.h, lib/libgradc.{a,so} (soname from
#            GRADC_VERSION), lib/pkgconfig/gradc.pc, lib/cmake/gradc/,
#            the two man pages, the bash completion
#   readme   the README's program is examples/c_api/gradient.c, verbatim
#   shared   cc gradient.c $(pkg-config --cflags --libs gradc) (with
#            -std=c99 -Wall -Wextra -pedantic -Werror): linked to P's
#            libgradc.so, prints the gradient; with JIT=tcc it still does
#            with CC=/bin/false (the in-memory JIT), with JIT=cc it fails
#   static   the same against libgradc.a with `pkg-config --static`: no
#            libgradc.so in the executable
#   cmake    examples/c_api, copied out of the tree, configured with
#            find_package(gradc CONFIG) and CMAKE_PREFIX_PATH=P, linked to
#            gradc::gradc, then (-DGRADC_STATIC=ON) to gradc::gradc_static
#   tool     P/bin/gradc grad prints the same gradient
# The gradient of 0.5 (w x - y)^2 at w=2, x=3, y=1: f = 0.5 * 5^2 = 12.5,
# df/dw = 5 * 3, df/dx = 5 * 2, df/dy = -5.
set -u
[ $# -ge 3 ] || { echo "usage: $0 BUILD_DIR REPO_ROOT tcc|cc [CFLAGS]" >&2; exit 2; }
build=$1 root=$2 jit=$3 cflags=${4-}
cc=${CC:-cc}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gradc-install-XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM
P=$tmp/prefix
export GRADC_CACHE_DIR="$tmp/cache"   # the cc backend's compiled objects
fail=0
bad() { echo "FAIL $*"; fail=$((fail + 1)); }
ok() { echo "ok   $*"; }
printf 'f = 12.5\ndf/dw = 15\ndf/dx = 10\ndf/dy = -5\n' >"$tmp/want"
same() { # same WHAT FILE: FILE holds the expected gradient
  if cmp -s "$tmp/want" "$2"; then ok "$1"; else bad "$1: printed"; cat "$2"; fi
}

# ---- install
cmake --install "$build" --prefix "$P" >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; exit 1; }
ver=$(sed -n 's/^#define GRADC_VERSION "\(.*\)"$/\1/p' "$root/src/gradc.h")
major=${ver%%.*} rest=${ver#*.} minor=${rest%%.*}
soname=libgradc.so.$major
[ "$major" = 0 ] && soname=libgradc.so.0.$minor
missing=""
for f in bin/gradc include/gradc.h lib/libgradc.a lib/libgradc.so lib/$soname lib/libgradc.so.$ver \
  lib/pkgconfig/gradc.pc lib/cmake/gradc/gradcConfig.cmake lib/cmake/gradc/gradcConfigVersion.cmake \
  lib/cmake/gradc/gradcTargets.cmake share/man/man1/gradc.1 share/man/man5/gradc-expr.5 \
  share/bash-completion/completions/gradc; do
  [ -e "$P/$f" ] || missing="$missing $f"
done
if [ -z "$missing" ]; then ok "install: every file under the prefix"; else bad "install: missing$missing"; fi
got=$(objdump -p "$P/lib/libgradc.so" | awk '$1 == "SONAME" { print $2 }')
[ "$got" = "$soname" ] && ok "soname $got" || bad "soname is '$got', want $soname"
other=$(nm -D --defined-only "$P/lib/libgradc.so" | awk '$3 !~ /^gradc_/ { print $3 }' | head -3)
[ -z "$other" ] && ok "libgradc.so exports gradc_* only" || bad "libgradc.so also exports: $other"

# ---- the README's program
awk '/^## Using gradc from C/ { on = 1 } on && /^```c$/ { code = 1; next } code && /^```$/ { exit }
     code' "$root/README.md" >"$tmp/readme.c"
if [ -s "$tmp/readme.c" ] && cmp -s "$tmp/readme.c" "$root/examples/c_api/gradient.c"; then
  ok "readme: its program is examples/c_api/gradient.c"
else
  bad "readme: the C program of 'Using gradc from C' differs from examples/c_api/gradient.c"
fi
mkdir "$tmp/src" && cp "$root/examples/c_api/gradient.c" "$root/examples/c_api/CMakeLists.txt" "$tmp/src/"
cd "$tmp/src" || exit 2
export PKG_CONFIG_PATH="$P/lib/pkgconfig"

# ---- (a) shared, with pkg-config
[ "$(pkg-config --modversion gradc)" = "$ver" ] && ok "pkg-config: gradc $ver" ||
  bad "pkg-config --modversion gradc: '$(pkg-config --modversion gradc)', want $ver"
# shellcheck disable=SC2046,SC2086
if $cc -std=c99 -Wall -Wextra -pedantic -Werror $cflags gradient.c $(pkg-config --cflags --libs gradc) \
    -o gradient_shared 2>"$tmp/cc.log"; then
  ldd ./gradient_shared 2>/dev/null | grep -q "$P/lib/$soname" || LD_LIBRARY_PATH=$P/lib ldd ./gradient_shared |
    grep -q "$P/lib/$soname" || bad "shared: not linked to $P/lib/$soname"
  LD_LIBRARY_PATH=$P/lib ./gradient_shared >out 2>&1
  same "shared: cc gradient.c \$(pkg-config --cflags --libs gradc)" out
  if LD_LIBRARY_PATH=$P/lib CC=/bin/false ./gradient_shared >out 2>&1; then r=0; else r=1; fi
  if [ "$jit" = tcc ]; then
    [ $r = 0 ] && cmp -s "$tmp/want" out && ok "shared: in-memory JIT (no C compiler run)" ||
      bad "shared: with CC=/bin/false it failed: $(head -3 out)"
  else
    [ $r = 1 ] && ok "shared: the cc backend (fails with CC=/bin/false)" ||
      bad "shared: built without libtcc, yet ran with CC=/bin/false"
  fi
else
  bad "shared: gradient.c does not compile or link"; cat "$tmp/cc.log"
fi

# ---- (b) static, with pkg-config --static: -lgradc from the archive, the
# private dependencies as the system has them
libs=$(pkg-config --static --libs gradc | sed 's/\(^\| \)-lgradc\( \|$\)/ -Wl,-Bstatic -lgradc -Wl,-Bdynamic /')
# shellcheck disable=SC2046,SC2086
if $cc -std=c99 -Wall -Wextra -pedantic -Werror $cflags gradient.c $(pkg-config --cflags gradc) $libs \
    -o gradient_static 2>"$tmp/cc.log"; then
  if ldd ./gradient_static | grep -q libgradc; then bad "static: linked to libgradc.so"; fi
  ./gradient_static >out 2>&1
  same "static: cc gradient.c \$(pkg-config --static --libs gradc), libgradc.a" out
else
  bad "static: gradient.c does not link with pkg-config --static"; cat "$tmp/cc.log"
fi

# ---- (c) CMake: find_package(gradc CONFIG)
if cmake -S . -B b -DCMAKE_PREFIX_PATH="$P" -DCMAKE_C_FLAGS="$cflags" \
    -DCMAKE_EXE_LINKER_FLAGS="$cflags" >"$tmp/cmake.log" 2>&1 &&
  cmake --build b >>"$tmp/cmake.log" 2>&1; then
  ./b/gradient >out 2>&1
  same "cmake: find_package(gradc CONFIG), gradc::gradc" out
  grep -q "gradc_DIR:PATH=$P/lib/cmake/gradc" b/CMakeCache.txt || bad "cmake: gradc found elsewhere than $P"
else
  bad "cmake: examples/c_api does not build"; tail -20 "$tmp/cmake.log"
fi

# ---- (d) CMake, static: gradc::gradc_static (libgradc.a and what
# pkg-config --static lists), no libgradc.so in the program
if cmake -S . -B bs -DCMAKE_PREFIX_PATH="$P" -DGRADC_STATIC=ON -DCMAKE_C_FLAGS="$cflags" \
    -DCMAKE_EXE_LINKER_FLAGS="$cflags" >"$tmp/cmake-static.log" 2>&1 &&
  cmake --build bs >>"$tmp/cmake-static.log" 2>&1; then
  if ldd ./bs/gradient | grep -q libgradc; then bad "cmake static: linked to libgradc.so"; fi
  ./bs/gradient >out 2>&1
  same "cmake: find_package(gradc CONFIG), gradc::gradc_static" out
else
  bad "cmake: examples/c_api -DGRADC_STATIC=ON does not build"; tail -20 "$tmp/cmake-static.log"
fi

# ---- the installed tool
printf '0.5*(w*x - y)^2\n' >f.expr
"$P/bin/gradc" grad f.expr w=2 x=3 y=1 >out 2>&1
same "tool: $P/bin/gradc grad" out

echo "install: $fail failed"
[ $fail -eq 0 ]
