#!/usr/bin/env python3
"""Independent reference for unimo2's byte-level BPE encoder (standard library only).

usage: bpe_ref.py VOCAB_DIR < TEXT      one line of token ids per input line,
                                        plain BPE ids without [CLS]/[SEP]

Written from the GPT-2 description, sharing nothing with the C code: the
pre-tokeniser is the GPT-2 regular expression run by Python's `re`, with \\p{L},
\\p{N} and \\s spelled out as character classes built from `unicodedata`
(\\s as Unicode White_Space), and BPE is the textbook loop over strings.
"""
import json
import re
import sys
import unicodedata

WHITE_SPACE = [(0x09, 0x0D), (0x20, 0x20), (0x85, 0x85), (0xA0, 0xA0), (0x1680, 0x1680),
               (0x2000, 0x200A), (0x2028, 0x2029), (0x202F, 0x202F), (0x205F, 0x205F),
               (0x3000, 0x3000)]


def byte_alphabet():
    """GPT-2's reversible byte -> printable character table."""
    keep = (list(range(ord('!'), ord('~') + 1)) + list(range(0xA1, 0xAC + 1)) +
            list(range(0xAE, 0xFF + 1)))
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def category_ranges(first_letter, limit=0x30000):
    """Code-point ranges whose general category starts with first_letter."""
    ranges, start = [], None
    for cp in range(limit + 1):
        hit = cp < limit and unicodedata.category(chr(cp))[0] == first_letter
        if hit and start is None:
            start = cp
        elif not hit and start is not None:
            ranges.append((start, cp - 1))
            start = None
    return ranges


def char_class(ranges):
    return ''.join('\\U%08x-\\U%08x' % (lo, hi) for lo, hi in ranges)


def gpt2_pattern():
    L = char_class(category_ranges('L'))
    N = char_class(category_ranges('N'))
    S = char_class(WHITE_SPACE)
    return re.compile(
        "'s|'t|'re|'ve|'m|'ll|'d"
        "| ?[%s]+| ?[%s]+| ?[^%s%s%s]+"
        "|[%s]+(?![^%s])|[%s]+" % (L, N, S, L, N, S, S, S))


def load(vocab_dir):
    with open(vocab_dir + '/vocab.json', encoding='utf-8') as f:
        vocab = json.load(f)
    ranks = {}
    with open(vocab_dir + '/merges.txt', encoding='utf-8') as f:
        for n, line in enumerate(f):
            line = line.rstrip('\r\n')
            if not line or (n == 0 and line.startswith('#version')):
                continue
            a, b = line.split(' ')
            ranks[(a, b)] = len(ranks)
    return vocab, ranks


def bpe(word, ranks):
    parts = list(word)
    while len(parts) > 1:
        pairs = set(zip(parts, parts[1:]))
        best = min(pairs, key=lambda p: ranks.get(p, float('inf')))
        if best not in ranks:
            break
        merged, i = [], 0
        while i < len(parts):
            if i + 1 < len(parts) and parts[i] == best[0] and parts[i + 1] == best[1]:
                merged.append(best[0] + best[1])
                i += 2
            else:
                merged.append(parts[i])
                i += 1
        parts = merged
    return parts


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    vocab, ranks = load(sys.argv[1])
    unk = vocab.get('<unk>', vocab.get('[UNK]'))
    alphabet = byte_alphabet()
    pattern = gpt2_pattern()
    cache = {}
    out = sys.stdout
    for raw in sys.stdin.buffer:
        text = raw.decode('utf-8').rstrip('\r\n')
        ids = []
        for piece in pattern.findall(text):
            if piece not in cache:
                mapped = ''.join(alphabet[b] for b in piece.encode('utf-8'))
                cache[piece] = [vocab.get(tok, unk) for tok in bpe(mapped, ranks)]
            ids.extend(cache[piece])
        out.write(' '.join(map(str, ids)) + '\n')


if __name__ == '__main__':
    main()
