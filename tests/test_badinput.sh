#!/bin/sh
# Bad input to the model and inference commands: each case must give a
# non-zero exit and exactly one line "unimo2: FILE: what is wrong" naming the
# file, never a crash (the sanitizer build runs this too).
set -u
. "${top_srcdir:-.}/tests/common.sh"
u2_tmpdir

u2 init --config tiny --seed 3 --out "$tmp/m.safetensors" 2>/dev/null
check "init writes a model" '[ -s "$tmp/m.safetensors" ]'
mkdir -p "$tmp/run"
cp "$tmp/m.safetensors" "$tmp/run/model.safetensors"
cp "$top_srcdir/tests/data/tok/tiny/vocab.json" "$top_srcdir/tests/data/tok/tiny/merges.txt" "$tmp/run/" 2>/dev/null
u2 gen-data --out "$tmp/data" --pairs 2 --images 0 --texts 0 --eval 0 --size 16 --quiet 2>/dev/null
img="$tmp/data/$(sed -n 's/.*"image": *"\([^"]*\)".*/\1/p' "$tmp/data/pairs.jsonl" | head -n 1)"

# expect_error DESCRIPTION PATTERN COMMAND...: fails, one stderr line, matching
expect_error() {
  desc=$1 pat=$2
  shift 2
  "$@" >"$tmp/out" 2>"$tmp/err"
  rc=$?
  if [ $rc -ne 0 ] && [ $rc -lt 128 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q "^unimo2: .*$pat" "$tmp/err"; then
    ok "$desc"
  else
    not_ok "$desc (status $rc)"
    sed 's/^/# /' "$tmp/err"
  fi
}

size=$(wc -c <"$tmp/m.safetensors")
head -c $((size / 2)) "$tmp/m.safetensors" >"$tmp/trunc.safetensors"
expect_error "a truncated model file" "trunc.safetensors: .*truncated" u2 info --model "$tmp/trunc.safetensors"
head -c 5 "$tmp/m.safetensors" >"$tmp/tiny.safetensors"
expect_error "a file too short for a header" "tiny.safetensors: truncated" u2 info --model "$tmp/tiny.safetensors"
printf 'this is not a model at all, just some text that goes on' >"$tmp/text.safetensors"
expect_error "a file that is not safetensors" "text.safetensors: not a safetensors file" u2 info --model "$tmp/text.safetensors"
: >"$tmp/empty.safetensors"
expect_error "an empty model file" "empty.safetensors:" u2 info --model "$tmp/empty.safetensors"
expect_error "a missing model file" "nope.safetensors:" u2 info --model "$tmp/nope.safetensors"

# flip one byte in the data section: the XXH3 checksum catches it
cp "$tmp/m.safetensors" "$tmp/flip.safetensors"
printf '\377' | dd of="$tmp/flip.safetensors" bs=1 seek=$((size - 100)) conv=notrunc 2>/dev/null
expect_error "corrupt data (checksum mismatch)" "flip.safetensors: checksum mismatch" u2 info --model "$tmp/flip.safetensors"

# a config in the metadata that disagrees with the tensors (same length: ffn 64 -> 96)
sed 's/ffn\\":64/ffn\\":96/' "$tmp/m.safetensors" >"$tmp/shape.safetensors"
expect_error "shapes that disagree with the config" "shape.safetensors: tensor .* the config wants" u2 info --model "$tmp/shape.safetensors"

printf '{"name": "tiny", "hiden": 32}\n' >"$tmp/bad.json"
expect_error "an unknown config key" "bad.json: unknown config key \"hiden\"" u2 info --config "$tmp/bad.json"
printf '{"hidden": 33, "heads": 2}\n' >"$tmp/odd.json"
expect_error "hidden not a multiple of heads" "odd.json: hidden (33) must be a multiple of heads" u2 info --config "$tmp/odd.json"
printf '{"hidden": ' >"$tmp/broken.json"
expect_error "invalid JSON config" "broken.json:" u2 info --config "$tmp/broken.json"

printf 'not an image' >"$tmp/fake.webp"
expect_error "a non-WebP image" "fake.webp: not a WebP image" u2 embed --model "$tmp/run" --image "$tmp/fake.webp"
: >"$tmp/zero.webp"
expect_error "a zero-size image file" "zero.webp: .*empty" u2 embed --model "$tmp/run" --image "$tmp/zero.webp"
head -c 60 "$img" >"$tmp/cut.webp"
expect_error "a truncated WebP" "cut.webp:" u2 embed --model "$tmp/run" --image "$tmp/cut.webp"
expect_error "a missing image" "missing.webp:" u2 score --model "$tmp/run" --image "$tmp/missing.webp" --text "a red circle"

bad=$(printf 'caf\351 au lait')
expect_error "invalid UTF-8 text" "text 1: invalid UTF-8" u2 embed --model "$tmp/run" --text "$bad"

long=$(awk 'BEGIN { for (i = 0; i < 200; i++) printf "word%d ", i }')
u2 embed --model "$tmp/run" --text "$long" >"$tmp/out" 2>"$tmp/err"
check "an over-long text is truncated with a warning" \
  '[ $? -eq 0 ] && grep -q "truncated" "$tmp/err" && grep -q "^text " "$tmp/out"'

# a tokenizer that is not the one the model was trained with
u2 tokenizer --texts "$top_srcdir/README.md" --vocab-size 300 --out "$tmp/othertok" >/dev/null 2>&1
mkdir -p "$tmp/trained"
u2 train --config tiny --data "$tmp/data" --steps 1 --out "$tmp/trained" --quiet \
  --tokenizer "$tmp/run" --images-batch 0 --texts-batch 0 --pairs-batch 1 >/dev/null 2>&1
cp "$tmp/othertok/vocab.json" "$tmp/othertok/merges.txt" "$tmp/trained/"
expect_error "a tokenizer that does not match the model" "vocab.json: is not the tokenizer this model was trained with" \
  u2 embed --model "$tmp/trained" --text "a red circle"

expect_error "an unknown command" "unknown command" u2 frobnicate
tap_done
