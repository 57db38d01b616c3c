#!/bin/sh
# unimo2 train end to end on the tiny config: it learns, a run killed at step N
# and resumed ends bit-identical to an uninterrupted run, bad corpus entries are
# skipped with a counted warning, an empty corpus is refused before training,
# and a non-finite loss stops the run keeping the last good checkpoint.
set -u
. "${top_srcdir:-.}/tests/common.sh"
u2_tmpdir
export UNIMO2_THREADS=${UNIMO2_THREADS:-2}

u2 gen-data --out "$tmp/data" --pairs 96 --images 64 --texts 400 --eval 16 --size 16 --quiet
check "gen-data makes a tiny corpus" '[ -s "$tmp/data/pairs.jsonl" ]'

T="--config tiny --data $tmp/data --quiet --pairs-batch 6 --texts-batch 6 --images-batch 3 --checkpoint-every 7"
u2 train $T --steps 24 --out "$tmp/a" --lr 3e-3 >/dev/null 2>"$tmp/err"
check "train runs 24 steps" '[ $? -eq 0 ] && [ -s "$tmp/a/model.safetensors" ]'
check "the run writes the model directory" \
  '[ -s "$tmp/a/config.json" ] && [ -s "$tmp/a/vocab.json" ] && [ -s "$tmp/a/merges.txt" ] && [ -s "$tmp/a/checkpoint.safetensors" ]'
check "the CSV log has a header and 24 rows" '[ "$(wc -l <"$tmp/a/train.csv")" -eq 25 ]'
check "loss.svg is an SVG with curves" 'grep -q "<polyline" "$tmp/a/loss.svg"'
# the loss falls: mean of the last 6 rows below the mean of the first 6
check "the loss falls" "awk -F, 'NR>1&&NR<=7{a+=\$3} NR>19{b+=\$3} END{exit !(b<a)}' $tmp/a/train.csv"

u2 train $T --steps 24 --out "$tmp/b" --lr 3e-3 --stop-at 10 >/dev/null 2>"$tmp/err"; rc=$?
check "--stop-at ends like SIGTERM: status 130 and a checkpoint" '[ $rc -eq 130 ] && grep -q "continue with --resume" "$tmp/err"'
u2 train $T --steps 24 --out "$tmp/b" --resume >/dev/null 2>"$tmp/err"
check "the resumed run finishes" '[ $? -eq 0 ]'
check "killed + resumed == uninterrupted, bit for bit" 'cmp -s "$tmp/a/model.safetensors" "$tmp/b/model.safetensors"'
check "the resumed log has one row per step" '[ "$(wc -l <"$tmp/b/train.csv")" -eq 25 ]'

# a real SIGTERM in the middle of a run
$U2_RUN "$U2_BIN" train $T --steps 100000 --out "$tmp/c" >/dev/null 2>"$tmp/err" &
pid=$!
i=0
while [ $i -lt 100 ] && [ ! -s "$tmp/c/train.csv" ]; do sleep 0.1; i=$((i + 1)); done
sleep 0.5
kill -TERM $pid 2>/dev/null
wait $pid; rc=$?
check "SIGTERM: status 130, checkpoint saved" '[ $rc -eq 130 ] && grep -q "interrupted at step" "$tmp/err"'
u2 info --model "$tmp/c/checkpoint.safetensors" >/dev/null 2>&1
check "the checkpoint written on SIGTERM loads" '[ $? -eq 0 ]'

# bad entries inside a corpus are skipped and counted
mkdir -p "$tmp/bad"
cp -r "$tmp/data/images" "$tmp/bad/"
head -n 40 "$tmp/data/pairs.jsonl" >"$tmp/bad/pairs.jsonl"
printf 'not json at all\n' >>"$tmp/bad/pairs.jsonl"
printf '{"image": "images/none.webp", "caption": "a missing file"}\n' >>"$tmp/bad/pairs.jsonl"
printf 'garbage' >"$tmp/bad/images/corrupt.webp"
printf '{"image": "images/corrupt.webp", "caption": "a corrupt image"}\n' >>"$tmp/bad/pairs.jsonl"
img=$(sed -n 's/.*"image": *"\([^"]*\)".*/\1/p' "$tmp/data/pairs.jsonl" | head -n 1)
printf '{"image": "%s", "caption": "   "}\n' "$img" >>"$tmp/bad/pairs.jsonl"
printf '{"image": "%s", "caption": "bad \\u00e9 \377\376 utf8"}\n' "$img" >>"$tmp/bad/pairs.jsonl"
head -n 50 "$tmp/data/texts.txt" >"$tmp/bad/texts.txt"
printf 'invalid \377 utf-8 line\n' >>"$tmp/bad/texts.txt"
u2 train --config tiny --data "$tmp/bad" --steps 3 --out "$tmp/d" --tokenizer "$tmp/a" \
  --pairs-batch 4 --texts-batch 4 --images-batch 0 >/dev/null 2>"$tmp/err"; rc=$?
check "a corpus with bad entries still trains" '[ $rc -eq 0 ]'
check "the warnings name the bad files and lines" \
  'grep -q "pairs.jsonl:41" "$tmp/err" && grep -q "none.webp" "$tmp/err" && grep -q "corrupt.webp" "$tmp/err" && grep -q "texts.txt:51" "$tmp/err"'
# 7: the corrupt file also sits in images/, read as the image corpus (no images.jsonl here)
check "the skipped entries are counted" 'grep -q "skipped 7 entries (2 bad lines, 1 missing images, 2 corrupt images, 1 empty captions, 1 invalid UTF-8)" "$tmp/err"'

mkdir -p "$tmp/empty"
: >"$tmp/empty/texts.txt"
u2 train --config tiny --data "$tmp/empty" --steps 3 --out "$tmp/e" --tokenizer "$tmp/a" >/dev/null 2>"$tmp/err"; rc=$?
check "an empty corpus is an error before training" \
  '[ $rc -ne 0 ] && grep -q "^unimo2: .*no usable training data" "$tmp/err" && [ ! -e "$tmp/e/checkpoint.safetensors" ]'

u2 train $T --steps 20 --out "$tmp/f" --inject-nan-at 9 >/dev/null 2>"$tmp/err"; rc=$?
check "a non-finite loss stops the run with a clear message" \
  '[ $rc -ne 0 ] && grep -q "the loss became nan at step 9" "$tmp/err"'
u2 info --model "$tmp/f/checkpoint.safetensors" >/dev/null 2>&1
check "the last good checkpoint (step 7) stays valid" '[ $? -eq 0 ]'

u2 train --config tiny --steps 3 --out "$tmp/g" >/dev/null 2>"$tmp/err"; rc=$?
check "missing --data is a usage error" '[ $rc -eq 2 ] && grep -q "required" "$tmp/err"'
u2 train --config tiny --data "$tmp/data" --steps 3 --out "$tmp/g" --lr abc >/dev/null 2>"$tmp/err"; rc=$?
check "a malformed option value is named" '[ $rc -ne 0 ] && grep -q "^unimo2: --lr:" "$tmp/err"'
u2 train --help | grep -q -- "--resume"
check "train --help documents --resume" '[ $? -eq 0 ]'
tap_done
