#!/bin/sh
# The landscape of the cost function (the spectrum part): the Hessian of
# the Iris network's cost J at three points, by `gradc spectrum`.
#   examples/iris_spectrum.sh [BUILD_DIR]      (default: build)
# 1. the trained point: `gradc train --save` (adam, 2000 steps, seed 0),
#    then the spectrum with the saved params as --inputs;
# 2. the initial point (the file's seeded randn(0.5) weights);
# 3. all weights zero (examples/iris_zero.json): the 16 hidden units are
#    identical there, J = log 3, the gradient is 0, and the Hessian has
#    eigenvalues of both signs: a real saddle point.
set -eu
cd "$(dirname "$0")/.."
gradc=${1:-build}/gradc
out=$(mktemp -d "${TMPDIR:-/tmp}/gradc-iris-spectrum-XXXXXX")
trap 'rm -rf "$out"' EXIT
echo "\$ gradc train examples/iris_mlp.expr --save trained.json"
"$gradc" train examples/iris_mlp.expr --save "$out/trained.json" | tail -2
echo
echo "\$ gradc spectrum examples/iris_mlp.expr --inputs trained.json"
"$gradc" spectrum examples/iris_mlp.expr --inputs "$out/trained.json"
echo
echo "\$ gradc spectrum examples/iris_mlp.expr          # the initial point"
"$gradc" spectrum examples/iris_mlp.expr
echo
echo "\$ gradc spectrum examples/iris_mlp.expr --inputs examples/iris_zero.json"
"$gradc" spectrum examples/iris_mlp.expr --inputs examples/iris_zero.json
