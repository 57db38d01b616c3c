#!/bin/sh
# The data commands as users run them: gen-data and import-mnist through the
# unimo2 program (options, errors, thread-count independence), and
# scripts/get-mnist.sh's argument handling (fetching needs the network, so
# the real download is not part of make check).
set -u
. "${top_srcdir:-.}/tests/common.sh"
u2_tmpdir

check "gen-data --help exits 0 and shows the options" \
  'u2 gen-data --help | grep -q -- "--pairs N"'
check "import-mnist --help exits 0" 'u2 import-mnist --help | grep -q -- "--eval-per-class"'
check "unimo2 --help lists gen-data and import-mnist" \
  'u2 --help | grep -q gen-data && u2 --help | grep -q import-mnist'

# errors: non-zero status and one "unimo2: ..." line
u2 gen-data --pairs 3 >"$tmp/out" 2>"$tmp/err"; rc=$?
check "gen-data without --out fails with one line" \
  '[ $rc -ne 0 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q "^unimo2: gen-data: --out DIR is required" "$tmp/err"'
u2 gen-data --out "$tmp/x" --pairs 12abc 2>"$tmp/err"; rc=$?
check "a malformed number is named" '[ $rc -ne 0 ] && grep -q "^unimo2: --pairs: expected an integer in .*12abc" "$tmp/err"'
u2 gen-data --out "$tmp/x" --size 2 2>"$tmp/err"; rc=$?
check "size out of range" '[ $rc -ne 0 ] && grep -q "^unimo2: --size:" "$tmp/err"'
u2 gen-data --out "$tmp/x" --bogus 2>/dev/null; rc=$?
check "unknown option fails" '[ $rc -ne 0 ]'
u2 gen-data --out "$tmp/x" extra 2>"$tmp/err"; rc=$?
check "stray argument fails" '[ $rc -ne 0 ] && grep -q "unexpected argument" "$tmp/err"'
: >"$tmp/file"
u2 gen-data --out "$tmp/file/sub" --pairs 1 --images 0 --texts 0 --eval 0 2>"$tmp/err"; rc=$?
check "an output path through a file is named" \
  '[ $rc -ne 0 ] && grep -q "^unimo2: $tmp/file: exists and is not a directory" "$tmp/err"'

# determinism: same seed, 1 vs 2 threads, byte-identical trees
args="--pairs 10 --images 12 --texts 30 --eval 16 --size 24 --seed 5 --quiet"
UNIMO2_THREADS=1 u2 gen-data --out "$tmp/a" $args 2>/dev/null
UNIMO2_THREADS=2 u2 gen-data --out "$tmp/b" $args 2>/dev/null
check "gen-data: UNIMO2_THREADS=1 and 2 give byte-identical folders" 'diff -r "$tmp/a" "$tmp/b" >/dev/null'
u2 gen-data --out "$tmp/c" $args --threads 2 --lossless 2>/dev/null
check "--lossless writes lossless WebP (VP8L)" \
  'head -c 16 "$tmp/c/images/pairs/000000.webp" | grep -q VP8L'
check "the manifests have the counts asked for" \
  '[ "$(wc -l <"$tmp/a/pairs.jsonl")" -eq 10 ] && [ "$(wc -l <"$tmp/a/images.jsonl")" -eq 12 ] &&
   [ "$(wc -l <"$tmp/a/texts.txt")" -eq 30 ] && [ "$(wc -l <"$tmp/a/eval.jsonl")" -eq 16 ]'
missing=0
for f in $(sed 's/.*"image": "\([^"]*\)".*/\1/' "$tmp/a/pairs.jsonl" "$tmp/a/images.jsonl" \
             "$tmp/a/eval.jsonl" "$tmp/a/eval_labels.jsonl"); do
  [ -s "$tmp/a/$f" ] || missing=$((missing + 1))
done
check "every manifest entry names an existing file ($missing missing)" '[ $missing -eq 0 ]'
if command -v dwebp >/dev/null 2>&1; then
  check "dwebp reads a generated image" 'dwebp -quiet "$tmp/a/images/eval/000003.webp" -o "$tmp/e.png"'
else
  ok "# SKIP dwebp not installed"
fi
u2 gen-data --out "$tmp/a" $args 2>"$tmp/err"
check "the progress line and a summary go to stderr" \
  'grep -q "wrote 10 pairs, 12 images, 30 texts, 16 eval pairs" "$tmp/err"'
u2 gen-data --out "$tmp/d" --pairs 2 --images 0 --texts 0 --eval 0 --size 16 >"$tmp/out" 2>"$tmp/err"
check "nothing on stdout, a progress line on stderr" '[ ! -s "$tmp/out" ] && grep -q "gen-data" "$tmp/err"'

# import-mnist on the fixture
u2 import-mnist --digits "$top_srcdir/tests/data/img/mnist" --out "$tmp/m" \
  --eval-per-class 1 --pairs-per-class 1 --texts 20 --quiet 2>"$tmp/err"; rc=$?
check "import-mnist on the fixture" '[ $rc -eq 0 ]'
check "import-mnist: 10 pairs, 10 unpaired, 10 eval, 10 labels" \
  '[ "$(wc -l <"$tmp/m/pairs.jsonl")" -eq 10 ] && [ "$(wc -l <"$tmp/m/images.jsonl")" -eq 10 ] &&
   [ "$(wc -l <"$tmp/m/eval_labels.jsonl")" -eq 10 ] && [ "$(wc -l <"$tmp/m/labels.txt")" -eq 10 ]'
UNIMO2_THREADS=1 u2 import-mnist --digits "$top_srcdir/tests/data/img/mnist" --out "$tmp/m1" \
  --eval-per-class 1 --pairs-per-class 1 --texts 20 --quiet 2>/dev/null
check "import-mnist: same bytes on 1 thread" 'diff -r "$tmp/m" "$tmp/m1" >/dev/null'
u2 import-mnist --digits "$tmp/nowhere" --out "$tmp/m2" 2>"$tmp/err"; rc=$?
check "import-mnist: a missing folder is named" \
  '[ $rc -ne 0 ] && grep -q "^unimo2: $tmp/nowhere/0.json: cannot open" "$tmp/err"'
u2 import-mnist --out "$tmp/m2" 2>"$tmp/err"; rc=$?
check "import-mnist: --digits is required" '[ $rc -ne 0 ] && grep -q "digits DIR" "$tmp/err"'

# get-mnist.sh: usage only (the download needs the network)
sh "$top_srcdir/scripts/get-mnist.sh" >/dev/null 2>"$tmp/err"; rc=$?
check "get-mnist.sh without OUTDIR prints usage, status 2" '[ $rc -eq 2 ] && grep -q "usage" "$tmp/err"'

tap_done
