#!/bin/sh
# fetch_tcc_source.sh: Debian's source package of the installed libtcc-dev,
# unpacked with Debian's patches, so that CMake can build libtcc as
# position-independent code inside libgradc.so. (libtcc-dev ships only a
# static libtcc.a compiled for executables: its code reaches stdout, stderr
# and environ by PC-relative relocations that a shared object cannot hold.)
#
#   scripts/fetch_tcc_source.sh [DIR]        default DIR: third_party/tcc
#
# The exact version of libtcc-dev comes from Debian's deb-src archive
# (GRADC_DEBIAN_MIRROR, default http://deb.debian.org/debian, suite of
# /etc/os-release) through `apt-get source`, which checks the files against
# the signed index. apt runs on a private list directory: the system's apt
# configuration is not changed. Needs dpkg-dev (dpkg-source). Does nothing
# when DIR already holds that version.
set -eu
cd "$(dirname "$0")/.."
dir=${1:-third_party/tcc}
ver=$(dpkg-query -W -f='${source:Version}' libtcc-dev 2>/dev/null) || {
  echo "fetch_tcc_source: libtcc-dev is not installed" >&2
  exit 1
}
src=$(dpkg-query -W -f='${source:Package}' libtcc-dev)
if [ -f "$dir/.debian-version" ] && [ "$(cat "$dir/.debian-version")" = "$ver" ]; then
  exit 0
fi
command -v dpkg-source >/dev/null || {
  echo "fetch_tcc_source: dpkg-source is missing (apt-get install dpkg-dev)" >&2
  exit 1
}
. /etc/os-release
mirror=${GRADC_DEBIAN_MIRROR:-http://deb.debian.org/debian}
work=$(mktemp -d "${TMPDIR:-/tmp}/gradc-tcc-src-XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
chmod 755 "$work"
mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
echo "deb-src $mirror $VERSION_CODENAME main" >"$work/sources.list"
apt_private() {
  apt-get -q -o Dir::Etc::SourceList="$work/sources.list" -o Dir::Etc::SourceParts=/nonexistent \
    -o Dir::State::Lists="$work/lists" -o Dir::Cache="$work/cache" -o Debug::NoLocking=1 "$@"
}
apt_private update >"$work/log" 2>&1 || { cat "$work/log" >&2; exit 1; }
(cd "$work" && apt_private source --download-only "$src=$ver") >>"$work/log" 2>&1 || {
  cat "$work/log" >&2
  exit 1
}
rm -rf "$dir.new"
mkdir -p "$(dirname "$dir")"
dpkg-source -x "$work/${src}_${ver#*:}.dsc" "$dir.new" >>"$work/log" 2>&1 || {
  cat "$work/log" >&2
  exit 1
}
echo "$ver" >"$dir.new/.debian-version"
rm -rf "$dir"
mv "$dir.new" "$dir"
echo "fetch_tcc_source: $src $ver in $dir"
