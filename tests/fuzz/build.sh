#!/usr/bin/env bash
# Build the libFuzzer harnesses with clang (ASan + UBSan) into build-fuzz/.
#   tests/fuzz/build.sh && tests/fuzz/run.sh 600    # each fuzzer 10 minutes
set -euo pipefail
cd "$(dirname "$0")/../.."
out=build-fuzz
cmake -S . -B $out/lib -DCMAKE_C_COMPILER=clang -DGRADC_TESTS=OFF -DGRADC_BENCH=OFF \
  -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_C_FLAGS="-g -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined" \
  >/dev/null
cmake --build $out/lib --target gradc_core -j"$(nproc)" >/dev/null
libs="$out/lib/libgradc_core.a /usr/lib/x86_64-linux-gnu/libtcc.a -ljansson -lcsv $(pkg-config --libs openblas 2>/dev/null) -ldl -lm -lpthread"
for f in compile jit values edges; do
  clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Isrc \
    tests/fuzz/fuzz_$f.c $libs -o $out/fuzz_$f
done
echo "built $out/fuzz_compile $out/fuzz_jit $out/fuzz_values $out/fuzz_edges"
