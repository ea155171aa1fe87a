#!/bin/sh
# tsan.sh REPO_ROOT BUILD_DIR: run tests/harden/test_threads.c under clang's
# ThreadSanitizer. Builds the library's sources (and the scanner and parser
# that BUILD_DIR generated) with -fsanitize=thread into a temp directory;
# Criterion's runner does not start under TSan, so a stand-in header
# (tests/harden/tsan/criterion/criterion.h) runs the tests in-process.
# Exit status: 0 when TSan reports nothing and every test passes. Not run
# by ctest (it needs clang and takes a minute).
set -eu
root=${1:?usage: tsan.sh REPO_ROOT BUILD_DIR}
build=${2:?usage: tsan.sh REPO_ROOT BUILD_DIR}
command -v clang >/dev/null || { echo "tsan.sh: clang not found"; exit 77; }
tmp=$(mktemp -d /tmp/gradc-tsan-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
s=$root/src
cat > "$tmp/main.c" <<'C'
#include <stdio.h>
#include "criterion/criterion.h"
FakeTest fake_tests[64];
int fake_ntests;
int main(void) {
  for (int i = 0; i < fake_ntests; i++) {
    fprintf(stderr, "[RUN ] %s::%s\n", fake_tests[i].suite, fake_tests[i].name);
    fake_tests[i].fn();
    fprintf(stderr, "[PASS] %s::%s\n", fake_tests[i].suite, fake_tests[i].name);
  }
  fprintf(stderr, "tsan.sh: %d tests passed\n", fake_ntests);
  return 0;
}
C
# shellcheck disable=SC2046
clang -g -O1 -fsanitize=thread -w -I"$root/tests/harden/tsan" -I"$s" -I"$build" \
  -DGRADC_BIN="\"$build/gradc\"" -DGRADC_EXAMPLES="\"$root/examples\"" \
  "$s/arena.c" "$s/diag.c" "$s/dag.c" "$s/shape.c" "$s/ast.c" "$s/lower.c" "$s/ad.c" \
  "$s/emit_c.c" "$s/jit.c" "$s/api.c" "$s/values.c" "$s/train.c" "$s/tiered.c" \
  "$build/lexer.c" "$build/parser.c" "$root/tests/harden/test_threads.c" "$tmp/main.c" \
  $(pkg-config --cflags --libs jansson) -lcsv "$(find /usr/lib -name libtcc.a | head -1)" \
  -ldl -lm -lpthread -o "$tmp/test_threads_tsan"
TSAN_OPTIONS="halt_on_error=0 exitcode=66 ${TSAN_OPTIONS:-}" "$tmp/test_threads_tsan"
