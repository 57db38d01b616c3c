#!/bin/sh
# unimo2 export on the command line: help, the files it writes, and a clear
# one-line error (exit status 1, usage mistakes 2) for each way it can fail.
# No ONNX runtime needed (test_onnx.sh has the checker and parity).  TAP.
set -u
builddir=${top_builddir:-.}
U2="$builddir/unimo2"
# A cross build runs its programs under an emulator: U2_EXEC=qemu-aarch64.
EXEC=${U2_EXEC:-}
if [ -n "$EXEC" ]; then
  # OpenMP teams crawl under qemu-user (a 2-thread tiny forward takes minutes)
  UNIMO2_THREADS=${UNIMO2_THREADS:-1}
  export UNIMO2_THREADS
fi
if ! $EXEC "$U2" --version >/dev/null 2>&1; then
  echo "1..0 # SKIP cannot run $U2 here (a cross build? set U2_EXEC, e.g. U2_EXEC=qemu-aarch64)"
  exit 0
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/u2onnxcli.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
n=0
failed=0
ok() {
  n=$((n + 1))
  if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed + 1)); fi
}
# expect STATUS PATTERN DESCRIPTION -- ARGS: exit status and a stderr line
expect() {
  want=$1 pat=$2 what=$3
  shift 4
  $EXEC "$U2" export "$@" >"$tmp/out" 2>"$tmp/err"
  rc=$?
  sed 's/^/# /' "$tmp/err"
  r=0
  [ $rc -eq "$want" ] || r=1
  grep -q -- "$pat" "$tmp/err" || r=1
  ok $r "$what (exit $rc)"
}

$EXEC "$U2" init --config tiny --out "$tmp/tiny.safetensors" 2>/dev/null
$EXEC "$U2" export --help >"$tmp/out" 2>&1
r=$?
grep -q "image_encoder.onnx" "$tmp/out" && grep -q -- "--external-threshold" "$tmp/out" || r=1
ok $r "export --help"
$EXEC "$U2" --help | grep -q "export" 
ok $? "unimo2 --help lists export"

$EXEC "$U2" export --model "$tmp/tiny.safetensors" --out "$tmp/o" 2>"$tmp/err"
r=$?
for g in image_encoder text_encoder fusion unimo2; do [ -s "$tmp/o/$g.onnx" ] || r=1; done
grep -q "^export: wrote .*unimo2.onnx" "$tmp/err" || r=1
sed 's/^/# /' "$tmp/err"
ok $r "writes the four graphs with progress lines"
[ "$(ls -A "$tmp/o" | wc -l)" -eq 4 ]
ok $? "and nothing else (no temp files)"

$EXEC "$U2" export --quiet --graphs text,fusion --model "$tmp/tiny.safetensors" --out "$tmp/o2" 2>"$tmp/err"
r=$?
[ -s "$tmp/o2/text_encoder.onnx" ] && [ -s "$tmp/o2/fusion.onnx" ] && [ ! -e "$tmp/o2/unimo2.onnx" ] || r=1
[ -s "$tmp/err" ] && r=1
ok $r "--graphs text,fusion --quiet writes those two, silently"

mkdir "$tmp/modeldir" && cp "$tmp/tiny.safetensors" "$tmp/modeldir/model.safetensors"
$EXEC "$U2" export --quiet --graphs image --model "$tmp/modeldir" --out "$tmp/o5" 2>"$tmp/err"
r=$?
[ -s "$tmp/o5/image_encoder.onnx" ] || r=1
sed 's/^/# /' "$tmp/err"
ok $r "--model takes a model directory"

expect 2 "required" "no --out" -- --model "$tmp/tiny.safetensors"
expect 2 "unexpected argument" "a stray argument" -- --model "$tmp/tiny.safetensors" --out "$tmp/o" extra
expect 1 "^unimo2: $tmp/missing.safetensors: " "a missing model file" -- --model "$tmp/missing.safetensors" --out "$tmp/o3"
printf 'not a model' >"$tmp/bad.safetensors"
expect 1 "^unimo2: $tmp/bad.safetensors: " "a file that is not a model" -- --model "$tmp/bad.safetensors" --out "$tmp/o3"
[ ! -e "$tmp/o3" ]
ok $? "a model that fails to load creates no output directory"
: >"$tmp/file"
expect 1 "^unimo2: $tmp/file: .*not a directory" "--out under a regular file" -- --model "$tmp/tiny.safetensors" --out "$tmp/file/sub"
expect 1 "^unimo2: --graphs: unknown graph \"vit\"" "an unknown graph name" -- --graphs image,vit --model "$tmp/tiny.safetensors" --out "$tmp/o3"
expect 1 "^unimo2: --external-threshold: " "a bad threshold" -- --external-threshold lots --model "$tmp/tiny.safetensors" --out "$tmp/o3"
echo '{"grounding": "nearest"}' >"$tmp/nearest.json"
$EXEC "$U2" init --config "$tmp/nearest.json" --out "$tmp/nearest.safetensors" 2>/dev/null
expect 1 "^unimo2: $tmp/nearest.safetensors: grounding = nearest .*cannot be exported" "grounding = nearest is refused" -- --model "$tmp/nearest.safetensors" --out "$tmp/o4"
[ ! -e "$tmp/o4" ]
ok $? "the refusal writes nothing"
if [ "$(id -u)" -ne 0 ]; then
  mkdir "$tmp/ro" && chmod 555 "$tmp/ro"
  expect 1 "^unimo2: $tmp/ro.*cannot write" "a read-only directory" -- --model "$tmp/tiny.safetensors" --out "$tmp/ro"
  chmod 755 "$tmp/ro"
else
  n=$((n + 1)); echo "ok $n - # SKIP a read-only directory: running as root"
fi

echo "1..$n"
[ $failed -eq 0 ]
