#!/usr/bin/env bash
# Install what gradc needs on Debian 12 (as root, or with sudo), then build.
# Usage: scripts/setup.sh [BUILD_DIR] [extra cmake args...]
set -euo pipefail
cd "$(dirname "$0")/.."
pkgs="flex bison graphviz tcc libtcc-dev libcriterion-dev libjansson-dev libcsv-dev libcairo2-dev libedit-dev libopenblas-dev libcolpack-dev libarpack2-dev libopenmpi-dev openmpi-bin pkg-config scdoc man-db dpkg-dev"
missing=""
for p in $pkgs; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi
# libtcc's source, compiled -fPIC into libgradc.so (cmake/install.cmake)
scripts/fetch_tcc_source.sh ||
  echo "setup.sh: no tcc source: libgradc.so will use the cc backend only" >&2
build=${1:-build}
shift || true
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$build" -j"$(nproc)"
