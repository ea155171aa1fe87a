#!/bin/sh
# Redraw the pictures of the README's "landscape of the cost function"
# (gradc landscape) into docs/: the trained Iris network on a random plane
# through its params, the straight line from its initial to its trained
# params (and a plane through that line), and the saddle x^2 - y^2.
#
#   scripts/landscape_pictures.sh [BUILD_DIR]      (default: build)
set -eu
cd "$(dirname "$0")/.."
gradc=${1:-build}/gradc
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gradc-pictures-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# the course's network, 2000 Adam steps from its seeded initial params
"$gradc" train examples/iris_mlp.expr --save "$tmp/iris_trained.json" | tail -2
"$gradc" landscape examples/iris_mlp.expr --inputs "$tmp/iris_trained.json" --dim 2 --grid 61 \
  -o docs/landscape_iris_plane.png
"$gradc" landscape examples/iris_mlp.expr --along "$tmp/iris_trained.json" --grid 201 \
  -o docs/landscape_iris_path.png
"$gradc" landscape examples/iris_mlp.expr --along "$tmp/iris_trained.json" --dim 2 --grid 61 \
  -o docs/landscape_iris_path_plane.png
"$gradc" landscape examples/saddle.expr --dim 2 -o docs/landscape_saddle.png
ls -l docs/landscape_*.png
