#!/bin/sh
# The C tokenizer against the independent Python reference (tests/reference/bpe_ref.py)
# on a few hundred ASCII/Latin-1 sentences, with a vocabulary trained here. TAP.
set -u
srcdir=${top_srcdir:-.}
. "${top_srcdir:-.}/tests/common.sh"
PY=${REF_PYTHON:-}
[ -n "$PY" ] && [ -x "$PY" ] || PY=/usr/bin/python3
if [ ! -x "$PY" ]; then
    echo "1..0 # SKIP no python3 (looked for \$REF_PYTHON and /usr/bin/python3)"
    exit 0
fi
u2_tmpdir
notok() { not_ok "$@"; }
# check STATUS DESCRIPTION (this file passes the status of the last command)
check() { if [ "$1" = 0 ]; then ok "$2"; else not_ok "$2"; fi; }

# Deterministic text: a training corpus and 400 test sentences (ASCII and Latin-1:
# accents, contractions, digits, symbols, runs of spaces, tabs, NBSP, NEL).
"$PY" - "$tmp" <<'PYEOF'
import random, sys
d = sys.argv[1]
rng = random.Random(7)
words = ("the a an of to in on at with and or but is are was were be been it this that "
         "man woman child dog cat car bus bird tree river city street park photo picture "
         "red blue green small large old young happy running sitting standing looking "
         "café naïve Zürich façade crème brûlée jalapeño señor über smörgåsbord garçon "
         "Ångström Æsir øre þorn ðe ßtraße déjà vu piñata").split()
punct = [".", ",", "!", "?", ";", ":", "...", "--", "(", ")", "\"", "'", "«", "»", "¿", "¡"]
odd = ["it's", "we're", "they've", "I'm", "you'll", "he'd", "don't", "DON'T", "rock'n'roll",
       "$5", "100%", "3.14", "1,000", "2019", "x²", "½", "µm", "§12", "×", "÷", "°C", "ª", "º",
       "#tag", "@home", "a\u00a0b", "e-mail", "C++", "<tag>", "~/path", "`code`", "a\u0085b"]
def sentence():
    n = rng.randint(3, 14)
    out = []
    for _ in range(n):
        r = rng.random()
        w = rng.choice(odd) if r < 0.15 else rng.choice(words)
        if rng.random() < 0.1:
            w = w.capitalize()
        if rng.random() < 0.12:
            w += rng.choice(punct)
        out.append(w)
        sep = " "
        r = rng.random()
        if r < 0.04: sep = "  "
        elif r < 0.06: sep = "\t"
        elif r < 0.07: sep = "   "
        out.append(sep)
    s = "".join(out).rstrip(" \t")
    if rng.random() < 0.05: s = "  " + s
    if rng.random() < 0.05: s = s + "  "
    return s
with open(d + "/corpus.txt", "w", encoding="utf-8") as f:
    for _ in range(4000): f.write(sentence() + "\n")
with open(d + "/sentences.txt", "w", encoding="utf-8") as f:
    for _ in range(400): f.write(sentence() + "\n")
PYEOF
check $? "generated the corpus and 400 sentences"

u2 tokenizer -q --texts "$tmp/corpus.txt" --vocab-size 700 --out "$tmp/voc" >/dev/null 2>"$tmp/train.err"
check $? "trained a 700-token vocabulary"

u2 tokenizer --vocab "$tmp/voc" --encode-file "$tmp/sentences.txt" --no-special >"$tmp/c.txt" 2>"$tmp/c.err"
check $? "C encodes the sentences"
"$PY" "$srcdir/tests/reference/bpe_ref.py" "$tmp/voc" <"$tmp/sentences.txt" >"$tmp/py.txt" 2>"$tmp/py.err"
check $? "Python reference encodes the sentences"

lines=$(wc -l <"$tmp/sentences.txt")
same=$(paste -d '|' "$tmp/c.txt" "$tmp/py.txt" | awk -F'|' '$1 == $2 && NF == 2' | wc -l)
if [ "$same" -eq "$lines" ] && [ "$(wc -l <"$tmp/c.txt")" -eq "$lines" ]; then
    ok "all $lines sentences encode identically in C and Python"
else
    notok "only $same of $lines sentences encode identically"
    paste -d '|' "$tmp/sentences.txt" "$tmp/c.txt" "$tmp/py.txt" |
        awk -F'|' '$2 != $3 { print "# text: " $1; print "#  C:  " $2; print "#  Py: " $3; if (++k == 3) exit }'
fi
tokens=$(wc -w <"$tmp/py.txt")
echo "# $tokens tokens in all"

# with specials: [CLS]=0 ... [SEP]=2 around the same ids
u2 tokenizer --vocab "$tmp/voc" --encode-file "$tmp/sentences.txt" >"$tmp/cs.txt" 2>/dev/null
awk '{ print ($0 == "" ? "0 2" : "0 " $0 " 2") }' "$tmp/py.txt" | cmp -s - "$tmp/cs.txt"
check $? "[CLS] text [SEP] wraps the same ids"

# decode gives the sentences back
first=$(head -n 1 "$tmp/c.txt")
back=$(u2 tokenizer --vocab "$tmp/voc" --decode "$first")
[ "$back" = "$(head -n 1 "$tmp/sentences.txt")" ]
check $? "decode returns the first sentence"

tap_done
