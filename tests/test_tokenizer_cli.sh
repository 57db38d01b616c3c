#!/bin/sh
# unimo2 tokenizer on the command line: training, errors, warnings, encode/decode. TAP.
set -u
srcdir=${top_srcdir:-.}
. "${top_srcdir:-.}/tests/common.sh"
u2_tmpdir
notok() { not_ok "$@"; }
# check STATUS DESCRIPTION (this file passes the status of the last command)
check() { if [ "$1" = 0 ]; then ok "$2"; else not_ok "$2"; sed 's/^/# /' "$tmp/err" 2>/dev/null; fi; }
# expect_fail WHAT PATTERN: the last command failed with "unimo2: ..." matching PATTERN
expect_fail() {
    if [ "$rc" -ne 0 ] && [ "$(wc -l <"$tmp/err")" -ge 1 ] && grep -q -- "$2" "$tmp/err"; then
        ok "$1: $(head -n 1 "$tmp/err")"
    else
        notok "$1 (exit $rc)"; sed 's/^/# /' "$tmp/err"
    fi
}

i=0
while [ $i -lt 300 ]; do
    echo "the cat sat on the mat $i times"
    echo "a dog runs in the park, it's sunny"
    i=$((i + 1))
done >"$tmp/a.txt"
printf 'one good line\nthis one is \377 broken\nthe cat again\n' >"$tmp/b.txt"

u2 tokenizer --help >"$tmp/out" 2>"$tmp/err" && grep -q -- "--vocab-size" "$tmp/out"
check $? "--help describes the options"

u2 tokenizer --texts "$tmp/a.txt" "$tmp/b.txt" --vocab-size 300 --out "$tmp/v1" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc -eq 0 ] && [ -f "$tmp/v1/vocab.json" ] && [ -f "$tmp/v1/merges.txt" ]
check $? "trains from two files given after one --texts"
grep -q "b.txt:2: invalid UTF-8" "$tmp/err"
check $? "the broken line is skipped with a warning naming file and line"
grep -q "(1 skipped)" "$tmp/err"
check $? "and counted in the summary"
[ -z "$(ls -A "$tmp/v1" | grep -v -e '^vocab.json$' -e '^merges.txt$')" ]
check $? "no temp files left behind"

u2 tokenizer -q --texts "$tmp/a.txt" --texts "$tmp/b.txt" --vocab-size 300 --out "$tmp/v2" >/dev/null 2>"$tmp/err"
cmp -s "$tmp/v1/vocab.json" "$tmp/v2/vocab.json" && cmp -s "$tmp/v1/merges.txt" "$tmp/v2/merges.txt"
check $? "training again gives byte-identical files"

u2 tokenizer --texts "$tmp/nope.txt" --vocab-size 300 --out "$tmp/v3" >/dev/null 2>"$tmp/err"; rc=$?
expect_fail "missing text file" "^unimo2: .*nope.txt: cannot open"
u2 tokenizer --texts "$tmp/a.txt" --vocab-size 260 --out "$tmp/v3" >/dev/null 2>"$tmp/err"; rc=$?
expect_fail "vocab size below 261" "^unimo2: --vocab-size: 260 .*261"
u2 tokenizer --texts "$tmp/a.txt" --vocab-size 1048577 --out "$tmp/v3" >/dev/null 2>"$tmp/err"; rc=$?
expect_fail "vocab size above 2^20" "^unimo2: --vocab-size: 1048577"
u2 tokenizer --texts "$tmp/a.txt" --vocab-size 30x --out "$tmp/v3" >/dev/null 2>"$tmp/err"; rc=$?
expect_fail "vocab size not a number" "^unimo2: --vocab-size: '30x'"
u2 tokenizer --texts "$tmp/a.txt" --vocab-size 300 --out "$tmp/a.txt/sub" >/dev/null 2>"$tmp/err"; rc=$?
expect_fail "unwritable output directory" "^unimo2: .*a.txt/sub"
! grep -q merging "$tmp/err"
check $? "the output directory is checked before training"
u2 tokenizer --texts "$tmp/a.txt" --vocab-size 300 --out "" >/dev/null 2>"$tmp/err"; rc=$?
expect_fail "empty output directory name" "empty"
u2 tokenizer --texts "$tmp/a.txt" --out "$tmp/v3" >/dev/null 2>"$tmp/err"; rc=$?
expect_fail "training without --vocab-size" "vocab-size"

u2 tokenizer --vocab "$tmp/v1" >"$tmp/out" 2>"$tmp/err" &&
    grep -q "^vocab_size 300" "$tmp/out" && grep -q "\[MASK\]=299" "$tmp/out"
check $? "--vocab DIR describes the vocabulary"

u2 tokenizer --vocab "$srcdir/tests/data/tok/tiny" --encode "hello world" >"$tmp/out" 2>"$tmp/err" &&
    [ "$(cat "$tmp/out")" = "0 30 35 2" ]
check $? "--encode on the hand-written vocabulary: $(cat "$tmp/out")"
u2 tokenizer --vocab "$srcdir/tests/data/tok/tiny" --encode "hello" --pair "world" --max-len 5 >"$tmp/out" 2>"$tmp/err" &&
    [ "$(cat "$tmp/out")" = "0 30 2 9 2" ] && grep -q "warning: --encode text 1: truncated to 5 tokens" "$tmp/err"
check $? "--max-len truncates a pair and warns naming the input"
u2 tokenizer --vocab "$srcdir/tests/data/tok/tiny" --encode "hello" --max-len 6 --pad --json >"$tmp/out" 2>"$tmp/err" &&
    grep -q '"ids":\[0,30,2,1,1,1\]' "$tmp/out" && grep -q '"attention_mask":\[1,1,1,0,0,0\]' "$tmp/out"
check $? "--pad --json gives ids and attention mask"
u2 tokenizer --vocab "$srcdir/tests/data/tok/tiny" --decode "0 41 38 35 2" >"$tmp/out" 2>"$tmp/err" &&
    [ "$(cat "$tmp/out")" = "caféé world" ]
check $? "--decode: $(cat "$tmp/out")"
u2 tokenizer --vocab "$srcdir/tests/data/tok/tiny" --decode "0 99" >/dev/null 2>"$tmp/err"; rc=$?
expect_fail "--decode of an unknown id" "outside the vocabulary"
u2 tokenizer --vocab "$tmp/v1" --encode-file "$tmp/b.txt" >/dev/null 2>"$tmp/err"; rc=$?
expect_fail "--encode-file names the line with invalid UTF-8" "^unimo2: .*b.txt:2: invalid UTF-8"
printf '{"<s>": 0, ' >"$tmp/v2/vocab.json"
u2 tokenizer --vocab "$tmp/v2" --encode "x" >/dev/null 2>"$tmp/err"; rc=$?
expect_fail "corrupt vocab.json is named" "^unimo2: .*v2/vocab.json: not valid JSON"

tap_done
