#!/bin/sh
# unimo2-bench train, quickly and untimed: on the tiny config it prints one
# valid JSON line per thread count with the documented keys; with a Python
# that has torch, the PyTorch peer answers too.  (The measurement itself is
# `unimo2-bench train`, never part of make check.)
set -u
. "${top_srcdir:-.}/tests/common.sh"
u2_tmpdir
B="$top_builddir/unimo2-bench"
# the environment the bench would otherwise re-execute itself to get
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE

$U2_RUN "$B" train --config tiny --batch 4 --steps 2 --warmup 1 --threads 1,2 --no-peer --json \
  >"$tmp/out" 2>"$tmp/err"
check "train --no-peer --json runs" '[ $? -eq 0 ]'
check "one line per thread count" '[ "$(wc -l <"$tmp/out")" -eq 2 ]'
keys='"bench":"train" "config":"tiny" "batch":4 "samples_per_s": "peak_rss_mb": "mem_model_mb": "rss_ratio": "peer":null "peer_samples_per_s":null "peer_peak_rss_mb":null'
all=1
for k in $keys; do grep -q "$k" "$tmp/out" || all=0; done
check "the lines carry the documented keys" '[ $all -eq 1 ]'
check "samples/s and the memory figures are positive numbers" \
  '! grep -Eq "\"(samples_per_s|peak_rss_mb|mem_model_mb|rss_ratio)\":(-|0[,}]|0\.0*[,}]|nan|inf)" "$tmp/out"'
check "nothing but JSON objects on stdout" '! grep -qv "^{.*}$" "$tmp/out"'

PY=${REF_PYTHON:-/usr/bin/python3}
if [ -n "$U2_RUN" ] || ! "$PY" -c "import torch" >/dev/null 2>&1; then
  skip "the PyTorch peer ($PY cannot import torch, or an emulated build)"
  skip "valid JSON (no Python)"
else
  $U2_RUN "$B" train --config tiny --batch 4 --steps 1 --warmup 0 --threads 1 --json \
    --python "$PY" --peer-script "$top_srcdir/bench/torch_peer.py" >"$tmp/peer" 2>"$tmp/err"
  check "the PyTorch peer answers" '[ $? -eq 0 ] && grep -q "\"peer\":\"pytorch\",\"peer_samples_per_s\":[0-9]" "$tmp/peer"'
  check "the peer runs the same step (no mismatch warning)" '! grep -q "differs" "$tmp/err"'
  check "valid JSON" 'cat "$tmp/out" "$tmp/peer" | "$PY" -c "import json,sys; [json.loads(l) for l in sys.stdin]"'
fi
tap_done
