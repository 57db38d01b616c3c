#!/bin/sh
# Install onnxruntime-node (pinned in package.json) for the ONNX parity tests
# and the onnxruntime benchmark peer.  Idempotent: does nothing when the pinned
# version is already there.  Exit status 77 (automake's SKIP) when node or npm
# is missing, 1 when the install fails.
#
#   sh tests/onnx/install.sh            install next to this script
#   sh tests/onnx/install.sh DIR        install into DIR (package.json copied
#                                       there; for read-only source trees)
#
# The package's postinstall step would download GPU add-ons; CPU is all we
# need and the machine may be offline, so ONNXRUNTIME_NODE_INSTALL=skip.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:-$here}
want=$(sed -n 's/.*"onnxruntime-node": *"\([^"]*\)".*/\1/p' "$here/package.json")

for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "tests/onnx/install.sh: $tool not found; the ONNX runtime checks are skipped" \
         "(Debian: apt-get install nodejs npm)" >&2
    exit 77
  fi
done

installed() {
  node -e 'const p=require(process.argv[1]+"/node_modules/onnxruntime-node/package.json");
           process.exit(p.version===process.argv[2]?0:1)' "$dir" "$want" 2>/dev/null
}

mkdir -p "$dir"
dir=$(cd "$dir" && pwd) # absolute: the checks below run after cd

if installed; then
  echo "onnxruntime-node $want already installed in $dir/node_modules"
  exit 0
fi

if [ "$dir" != "$here" ]; then
  cp "$here/package.json" "$dir/package.json"
  [ -f "$here/package-lock.json" ] && cp "$here/package-lock.json" "$dir/package-lock.json"
fi
echo "installing onnxruntime-node $want into $dir/node_modules (npm)"
cd "$dir"
if ! ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund --loglevel=error; then
  echo "tests/onnx/install.sh: npm install failed in $dir" >&2
  exit 1
fi
if ! installed; then
  echo "tests/onnx/install.sh: onnxruntime-node $want is not loadable after npm install" >&2
  exit 1
fi
echo "onnxruntime-node $want installed"
