#!/bin/sh
# ONNX export against the onnx checker and onnxruntime (doc/onnx.md), TAP.
#
# For tiny, mini and small models from `unimo2 init`, and the same models with
# the O(1) test weights of doc/testvectors.md ("spread": a fresh model's ITM
# logits are ~1e-3, too small for a 1e-4 tolerance to mean anything), plus
# the tiny ablation configs that export (grounding none, fusion full):
#   - unimo2 export writes the four graphs;
#   - /usr/bin/python3 + onnx: check_model(full_check=True) and strict shape
#     inference on each (tests/onnx/check.py);
#   - onnxruntime (node, tests/onnx/run.js) runs each graph at batch 1 and 3 on
#     padded text of different lengths, and tests/test_onnx_parity compares
#     with the native forward: max |diff| <= 1e-4 on every float output,
#     identical grounded indices;
#   - external data (--external-threshold 0) gives the same results.
#
# Programs run under $U2_EXEC when set (a cross build: U2_EXEC=qemu-aarch64).
# Needs node, onnxruntime-node (sh tests/onnx/install.sh; tried here when
# missing) and /usr/bin/python3 with onnx.  Without them the whole test is
# skipped with the reason: under automake's TAP driver a skip is the plan
# "1..0 # SKIP reason" with exit status 0 (the driver would report exit 77
# as an error; 77 is the skip status of tests/onnx/install.sh, a plain script).
set -u
srcdir=${top_srcdir:-.}
builddir=${top_builddir:-.}
U2="$builddir/unimo2"
HELPER="$builddir/tests/test_onnx_parity"
PY=${U2_ONNX_PYTHON:-/usr/bin/python3}
NODE_BIN=${NODE:-node}
[ -n "$NODE_BIN" ] || NODE_BIN=node

skip_all() {
  echo "1..0 # SKIP $*"
  exit 0
}

# A cross build runs its programs under an emulator: U2_EXEC=qemu-aarch64.
EXEC=${U2_EXEC:-}
if [ -n "$EXEC" ]; then
  # OpenMP teams crawl under qemu-user (a 2-thread tiny forward takes minutes)
  UNIMO2_THREADS=${UNIMO2_THREADS:-1}
  export UNIMO2_THREADS
fi
$EXEC "$U2" --version >/dev/null 2>&1 ||
  skip_all "cannot run $U2 here (a cross build? set U2_EXEC, e.g. U2_EXEC=qemu-aarch64)"

# ---------------------------------------------------------------- tools
command -v "$NODE_BIN" >/dev/null 2>&1 ||
  skip_all "node not found (Debian: apt-get install nodejs npm)"
[ -x "$PY" ] || skip_all "$PY not found (Debian: apt-get install python3-onnx)"
"$PY" -c "import onnx" 2>/dev/null ||
  skip_all "$PY cannot import onnx (Debian: apt-get install python3-onnx)"

ort_dir=""
for d in "${U2_ORT_DIR:-}" "$srcdir/tests/onnx" "$builddir/tests/onnx"; do
  if [ -n "$d" ] && [ -f "$d/node_modules/onnxruntime-node/package.json" ]; then
    ort_dir=$d
    break
  fi
done
if [ -z "$ort_dir" ]; then
  # in-tree builds install beside the sources; VPATH builds (distcheck's
  # source tree is read-only) into the build tree, removed by make clean
  ort_dir=$builddir/tests/onnx
  echo "# onnxruntime-node missing: running tests/onnx/install.sh $ort_dir"
  sh "$srcdir/tests/onnx/install.sh" "$ort_dir" 2>&1 | sed 's/^/# /'
  [ -f "$ort_dir/node_modules/onnxruntime-node/package.json" ] ||
    skip_all "onnxruntime-node is not installed and sh tests/onnx/install.sh could not install it"
fi
NODE_PATH="$(cd "$ort_dir" && pwd)/node_modules"
export NODE_PATH

tmp=$(mktemp -d "${TMPDIR:-/tmp}/u2onnx.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

# ---------------------------------------------------------------- TAP
n=0
failed=0
ok() { # ok COND-STATUS DESCRIPTION
  n=$((n + 1))
  if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed + 1)); fi
}
diag() { sed 's/^/# /' "$@"; }

GRAPHS="image_encoder text_encoder fusion unimo2"

# check_model NAME: export $tmp/NAME.safetensors into $tmp/NAME, run the
# checker, then parity at batch 1 and 3.
check_model() {
  name=$1
  out=$tmp/$name
  $EXEC "$U2" export --model "$tmp/$name.safetensors" --out "$out" >"$tmp/log" 2>&1
  rc=$?
  diag "$tmp/log"
  ok $rc "$name: unimo2 export"
  [ $rc -eq 0 ] || return
  files=""
  for g in $GRAPHS; do files="$files $out/$g.onnx"; done
  # shellcheck disable=SC2086
  "$PY" "$srcdir/tests/onnx/check.py" $files >"$tmp/log" 2>&1
  rc=$?
  diag "$tmp/log"
  ok $rc "$name: onnx.checker.check_model(full_check=True) + strict shape inference, 4 graphs"
  for B in 1 3; do
    run=$tmp/$name-b$B
    mkdir -p "$run"
    $EXEC "$HELPER" gen "$tmp/$name.safetensors" "$run" "$B" 7 >"$tmp/log" 2>&1
    rc=$?
    diag "$tmp/log"
    ok $rc "$name: native forward, batch $B"
    [ $rc -eq 0 ] || continue
    args=""
    for g in $GRAPHS; do args="$args $out/$g.onnx $run/in.u2ot $run/$g.u2ot"; done
    # shellcheck disable=SC2086
    "$NODE_BIN" "$srcdir/tests/onnx/run.js" --threads 1 $args >"$tmp/log" 2>&1
    rc=$?
    diag "$tmp/log"
    ok $rc "$name: onnxruntime runs the 4 graphs, batch $B"
    [ $rc -eq 0 ] || continue
    for g in $GRAPHS; do
      $EXEC "$HELPER" cmp "$run/expect.u2ot" "$run/$g.u2ot" >"$tmp/log" 2>&1
      rc=$?
      diag "$tmp/log"
      ok $rc "$name: $g.onnx matches the native forward, batch $B"
    done
  done
}

# ---------------------------------------------------------------- models
# U2_ONNX_CONFIGS picks the built-in configs; under an emulator small takes
# minutes, so it is left out there unless asked for.
if [ -n "$EXEC" ]; then configs=${U2_ONNX_CONFIGS:-tiny mini}; else configs=${U2_ONNX_CONFIGS:-tiny mini small}; fi
case " $configs " in
  *" small "*) ;;
  *) n=$((n + 1)); echo "ok $n - # SKIP small: left out under U2_EXEC=$EXEC (U2_ONNX_CONFIGS adds it)" ;;
esac
for cfg in $configs; do
  $EXEC "$U2" init --config $cfg --seed 3 --out "$tmp/$cfg.safetensors" >"$tmp/log" 2>&1
  rc=$?
  diag "$tmp/log"
  ok $rc "$cfg: unimo2 init"
  check_model $cfg
  $EXEC "$HELPER" spread "$tmp/$cfg.safetensors" "$tmp/$cfg-spread.safetensors" 1 >"$tmp/log" 2>&1
  rc=$?
  diag "$tmp/log"
  ok $rc "$cfg: spread weights"
  check_model $cfg-spread
done

# the ablations that export: no grounding (either fusion rule), full attention
for v in "none grounded" "none full" "topk full"; do
  set -- $v
  name=tiny-$1-$2
  # keys left out take the tiny values
  printf '{"grounding": "%s", "fusion": "%s"}\n' "$1" "$2" >"$tmp/$name.json"
  { $EXEC "$U2" init --config "$tmp/$name.json" --seed 3 --out "$tmp/$name-init.safetensors" &&
    $EXEC "$HELPER" spread "$tmp/$name-init.safetensors" "$tmp/$name.safetensors" 1; } >"$tmp/log" 2>&1
  rc=$?
  diag "$tmp/log"
  ok $rc "$name: model"
  check_model $name
done

# ---------------------------------------------------------------- external data
ext=$tmp/tiny-ext
$EXEC "$U2" export --quiet --external-threshold 0 --model "$tmp/tiny-spread.safetensors" --out "$ext" >"$tmp/log" 2>&1
rc=$?
for g in $GRAPHS; do [ -s "$ext/$g.onnx.data" ] || rc=1; done
diag "$tmp/log"
ok $rc "external data: --external-threshold 0 writes <graph>.onnx.data beside each graph"
files=""
for g in $GRAPHS; do files="$files $ext/$g.onnx"; done
# shellcheck disable=SC2086
"$PY" "$srcdir/tests/onnx/check.py" $files >"$tmp/log" 2>&1
rc=$?
grep -c "external data" "$tmp/log" | grep -qx 4 || rc=1
diag "$tmp/log"
ok $rc "external data: the checker loads and passes all 4 graphs"
run=$tmp/tiny-spread-b3
"$NODE_BIN" "$srcdir/tests/onnx/run.js" --threads 2 "$ext/unimo2.onnx" "$run/in.u2ot" "$run/ext.u2ot" >"$tmp/log" 2>&1 &&
  $EXEC "$HELPER" cmp "$run/expect.u2ot" "$run/ext.u2ot" >"$tmp/log" 2>&1
rc=$?
diag "$tmp/log"
ok $rc "external data: onnxruntime (2 threads) gives the native results"
$EXEC "$U2" export --quiet --graphs unimo2 --model "$tmp/tiny-spread.safetensors" --out "$ext" >"$tmp/log" 2>&1
rc=$?
[ -e "$ext/unimo2.onnx.data" ] && rc=1
[ -e "$ext/fusion.onnx.data" ] || rc=1
diag "$tmp/log"
ok $rc "external data: re-exporting inline removes the stale unimo2.onnx.data only"

echo "1..$n"
[ $failed -eq 0 ]
