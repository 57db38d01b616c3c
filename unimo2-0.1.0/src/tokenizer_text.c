/* Text layer of the tokenizer: UTF-8 checking, code-point classes, GPT-2
 * pre-tokenisation written out by hand, and the byte <-> code point alphabet. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "tokenizer_internal.h"

#include <string.h>

/* ---------------------------------------------------------------- UTF-8 */
size_t u2_utf8_check(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        /* ASCII eight bytes at a time: most text is mostly ASCII */
        while (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (w & 0x8080808080808080ULL) break;
            i += 8;
        }
        if (i >= n) break;
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        int k = u2_utf8_seq(s, n, i);
        if (k < 0) return i;
        i += (size_t)k;
    }
    return n;
}

int u2_utf8_seq(const uint8_t *s, size_t n, size_t i)
{
    uint8_t c = s[i];
    if (c < 0x80) return 1;
    int need;
    uint8_t lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) need = 1;
    else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        if (c == 0xE0) lo = 0xA0;      /* overlong */
        else if (c == 0xED) hi = 0x9F; /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        if (c == 0xF0) lo = 0x90;      /* overlong */
        else if (c == 0xF4) hi = 0x8F; /* above U+10FFFF */
    } else
        return -1;
    for (int k = 1; k <= need; k++) {
        if (i + (size_t)k >= n) return -k;
        uint8_t d = s[i + (size_t)k];
        if (k == 1 ? (d < lo || d > hi) : (d & 0xC0) != 0x80) return -k;
    }
    return need + 1;
}

/* Decodes one code point of valid UTF-8. */
static inline uint32_t utf8_decode(const uint8_t *s, size_t i, size_t *len)
{
    uint8_t c = s[i];
    if (c < 0x80) {
        *len = 1;
        return c;
    }
    if (c < 0xE0) {
        *len = 2;
        return ((uint32_t)(c & 0x1F) << 6) | (s[i + 1] & 0x3F);
    }
    if (c < 0xF0) {
        *len = 3;
        return ((uint32_t)(c & 0x0F) << 12) | ((uint32_t)(s[i + 1] & 0x3F) << 6) |
               (s[i + 2] & 0x3F);
    }
    *len = 4;
    return ((uint32_t)(c & 0x07) << 18) | ((uint32_t)(s[i + 1] & 0x3F) << 12) |
           ((uint32_t)(s[i + 2] & 0x3F) << 6) | (s[i + 3] & 0x3F);
}

/* ---------------------------------------------------------------- code-point classes */
#define O U2_CC_O
#define L U2_CC_L
#define N U2_CC_N
#define S U2_CC_S
static const uint8_t ascii_class[128] = {
    /* 0x00 */ O, O, O, O, O, O, O, O, O, S, S, S, S, S, O, O,
    /* 0x10 */ O, O, O, O, O, O, O, O, O, O, O, O, O, O, O, O,
    /* 0x20 */ S, O, O, O, O, O, O, O, O, O, O, O, O, O, O, O,
    /* 0x30 */ N, N, N, N, N, N, N, N, N, N, O, O, O, O, O, O,
    /* 0x40 */ O, L, L, L, L, L, L, L, L, L, L, L, L, L, L, L,
    /* 0x50 */ L, L, L, L, L, L, L, L, L, L, L, O, O, O, O, O,
    /* 0x60 */ O, L, L, L, L, L, L, L, L, L, L, L, L, L, L, L,
    /* 0x70 */ L, L, L, L, L, L, L, L, L, L, L, O, O, O, O, O,
};

typedef struct {
    uint32_t lo, hi;
    uint8_t cls;
} cp_range;

/* Exact (Unicode 14) letter / number / space ranges inside the blocks listed in
 * `exact_blocks`; everything else there is "other". Checked against Python's
 * unicodedata 14.0. */
static const cp_range exact_ranges[] = {
    /* Latin-1, Latin Extended-A/B, IPA, spacing modifiers, combining marks, Greek,
     * Cyrillic and its supplement */
    {0x0085, 0x0085, S}, {0x00A0, 0x00A0, S}, {0x00AA, 0x00AA, L}, {0x00B2, 0x00B3, N},
    {0x00B5, 0x00B5, L}, {0x00B9, 0x00B9, N}, {0x00BA, 0x00BA, L}, {0x00BC, 0x00BE, N},
    {0x00C0, 0x00D6, L}, {0x00D8, 0x00F6, L}, {0x00F8, 0x02C1, L}, {0x02C6, 0x02D1, L},
    {0x02E0, 0x02E4, L}, {0x02EC, 0x02EC, L}, {0x02EE, 0x02EE, L}, {0x0370, 0x0374, L},
    {0x0376, 0x0377, L}, {0x037A, 0x037D, L}, {0x037F, 0x037F, L}, {0x0386, 0x0386, L},
    {0x0388, 0x038A, L}, {0x038C, 0x038C, L}, {0x038E, 0x03A1, L}, {0x03A3, 0x03F5, L},
    {0x03F7, 0x0481, L}, {0x048A, 0x052F, L},
    /* Ogham space mark: the one space inside the coarse script range below */
    {0x1680, 0x1680, S},
    /* Latin Extended Additional, Greek Extended */
    {0x1E00, 0x1F15, L}, {0x1F18, 0x1F1D, L}, {0x1F20, 0x1F45, L}, {0x1F48, 0x1F4D, L},
    {0x1F50, 0x1F57, L}, {0x1F59, 0x1F59, L}, {0x1F5B, 0x1F5B, L}, {0x1F5D, 0x1F5D, L},
    {0x1F5F, 0x1F7D, L}, {0x1F80, 0x1FB4, L}, {0x1FB6, 0x1FBC, L}, {0x1FBE, 0x1FBE, L},
    {0x1FC2, 0x1FC4, L}, {0x1FC6, 0x1FCC, L}, {0x1FD0, 0x1FD3, L}, {0x1FD6, 0x1FDB, L},
    {0x1FE0, 0x1FEC, L}, {0x1FF2, 0x1FF4, L}, {0x1FF6, 0x1FFC, L},
    /* General Punctuation, super/subscripts, currency, letterlike symbols, number forms */
    {0x2000, 0x200A, S}, {0x2028, 0x2029, S}, {0x202F, 0x202F, S}, {0x205F, 0x205F, S},
    {0x2070, 0x2070, N}, {0x2071, 0x2071, L}, {0x2074, 0x2079, N}, {0x207F, 0x207F, L},
    {0x2080, 0x2089, N}, {0x2090, 0x209C, L}, {0x2102, 0x2102, L}, {0x2107, 0x2107, L},
    {0x210A, 0x2113, L}, {0x2115, 0x2115, L}, {0x2119, 0x211D, L}, {0x2124, 0x2124, L},
    {0x2126, 0x2126, L}, {0x2128, 0x2128, L}, {0x212A, 0x212D, L}, {0x212F, 0x2139, L},
    {0x213C, 0x213F, L}, {0x2145, 0x2149, L}, {0x214E, 0x214E, L}, {0x2150, 0x2182, N},
    {0x2183, 0x2184, L}, {0x2185, 0x2189, N},
    /* Enclosed Alphanumerics (the parenthesised letters are symbols) */
    {0x2460, 0x249B, N}, {0x24EA, 0x24FF, N},
    /* CJK Symbols and Punctuation, Hiragana, Katakana */
    {0x3000, 0x3000, S}, {0x3005, 0x3006, L}, {0x3007, 0x3007, N}, {0x3021, 0x3029, N},
    {0x3031, 0x3035, L}, {0x3038, 0x303A, N}, {0x303B, 0x303C, L}, {0x3041, 0x3096, L},
    {0x309D, 0x309F, L}, {0x30A1, 0x30FA, L}, {0x30FC, 0x30FF, L},
    /* Halfwidth and Fullwidth Forms */
    {0xFF10, 0xFF19, N}, {0xFF21, 0xFF3A, L}, {0xFF41, 0xFF5A, L}, {0xFF66, 0xFFBE, L},
    {0xFFC2, 0xFFC7, L}, {0xFFCA, 0xFFCF, L}, {0xFFD2, 0xFFD7, L}, {0xFFDA, 0xFFDC, L},
};

static const cp_range exact_blocks[] = {
    {0x0080, 0x052F, 0}, {0x1E00, 0x1FFF, 0}, {0x2000, 0x218F, 0}, {0x2460, 0x24FF, 0},
    {0x3000, 0x30FF, 0}, {0xFF00, 0xFFEF, 0},
};

/* Outside the exact blocks: decimal digits of the scripts in the coarse ranges... */
static const cp_range coarse_digits[] = {
    {0x0660, 0x0669, N}, {0x06F0, 0x06F9, N}, {0x07C0, 0x07C9, N}, {0x0966, 0x096F, N},
    {0x09E6, 0x09EF, N}, {0x0A66, 0x0A6F, N}, {0x0AE6, 0x0AEF, N}, {0x0B66, 0x0B6F, N},
    {0x0BE6, 0x0BEF, N}, {0x0C66, 0x0C6F, N}, {0x0CE6, 0x0CEF, N}, {0x0D66, 0x0D6F, N},
    {0x0DE6, 0x0DEF, N}, {0x0E50, 0x0E59, N}, {0x0ED0, 0x0ED9, N}, {0x0F20, 0x0F29, N},
    {0x1040, 0x1049, N}, {0x1090, 0x1099, N}, {0x17E0, 0x17E9, N}, {0x1810, 0x1819, N},
    {0x1946, 0x194F, N}, {0x19D0, 0x19D9, N}, {0x1A80, 0x1A89, N}, {0x1A90, 0x1A99, N},
    {0x1B50, 0x1B59, N}, {0x1BB0, 0x1BB9, N}, {0x1C40, 0x1C49, N}, {0x1C50, 0x1C59, N},
    {0xA620, 0xA629, N}, {0xA8D0, 0xA8D9, N}, {0xA900, 0xA909, N}, {0xA9D0, 0xA9D9, N},
    {0xA9F0, 0xA9F9, N}, {0xAA50, 0xAA59, N}, {0xABF0, 0xABF9, N}, {0x1D7CE, 0x1D7FF, N},
};

/* ...and whole blocks taken as letters: the scripts from Armenian to the phonetic
 * extensions, CJK, Hangul, Yi and so on. Their combining marks, punctuation and
 * unassigned code points count as letters here (doc/tokenizer.md). */
static const cp_range coarse_letters[] = {
    {0x0530, 0x1DFF, L},   {0x2C00, 0x2DFF, L},   {0x3105, 0x312F, L},   {0x3131, 0x318E, L},
    {0x31A0, 0x31BF, L},   {0x31F0, 0x31FF, L},   {0x3400, 0x4DBF, L},   {0x4E00, 0x9FFF, L},
    {0xA000, 0xA48C, L},   {0xA4D0, 0xABFF, L},   {0xAC00, 0xD7A3, L},   {0xD7B0, 0xD7FB, L},
    {0xF900, 0xFAFF, L},   {0xFB00, 0xFDFB, L},   {0xFE70, 0xFEFC, L},   {0x10000, 0x1BCFF, L},
    {0x1D400, 0x1D7CB, L}, {0x1E000, 0x1EFFF, L}, {0x20000, 0x323AF, L},
};

static int find_range(const cp_range *r, int n, uint32_t cp)
{
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (cp < r[mid].lo) hi = mid - 1;
        else if (cp > r[mid].hi) lo = mid + 1;
        else return mid;
    }
    return -1;
}

#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))

int u2_cp_class(uint32_t cp)
{
    if (cp < 128) return ascii_class[cp];
    int k = find_range(exact_ranges, NELEM(exact_ranges), cp);
    if (k >= 0) return exact_ranges[k].cls;
    if (find_range(exact_blocks, NELEM(exact_blocks), cp) >= 0) return O;
    if (find_range(coarse_digits, NELEM(coarse_digits), cp) >= 0) return N;
    if (find_range(coarse_letters, NELEM(coarse_letters), cp) >= 0) return L;
    return O;
}
#undef O
#undef L
#undef N
#undef S

/* ---------------------------------------------------------------- pre-tokenisation */
static inline int class_at(const uint8_t *s, size_t i, size_t *len)
{
    if (s[i] < 0x80) {
        *len = 1;
        return ascii_class[s[i]];
    }
    return u2_cp_class(utf8_decode(s, i, len));
}

/* The alternatives of the pattern are tried in order at s[i]; the first that
 * matches wins, as in a backtracking regex engine. */
size_t u2_pretok_next(const uint8_t *s, size_t n, size_t i, int *kind)
{
    uint8_t c = s[i];
    /* 's 't 're 've 'm 'll 'd (case-sensitive) */
    if (c == '\'' && i + 1 < n) {
        uint8_t d = s[i + 1];
        if (d == 's' || d == 't' || d == 'm' || d == 'd') {
            *kind = U2_PT_WORD;
            return i + 2;
        }
        if (i + 2 < n) {
            uint8_t e = s[i + 2];
            if ((d == 'r' && e == 'e') || (d == 'v' && e == 'e') || (d == 'l' && e == 'l')) {
                *kind = U2_PT_WORD;
                return i + 3;
            }
        }
    }
    size_t len;
    int k = class_at(s, i, &len);
    size_t j = i + len;
    *kind = U2_PT_WORD;
    /* " ?\p{L}+", " ?\p{N}+", " ?[^\s\p{L}\p{N}]+": an optional ASCII space, then a
     * run of one class */
    if (c == ' ' && j < n) {
        int k1 = class_at(s, j, &len);
        if (k1 != U2_CC_S) {
            k = k1;
            j += len;
            *kind = U2_PT_SPACE_WORD;
        }
    }
    if (k != U2_CC_S) {
        while (j < n && class_at(s, j, &len) == k) j += len;
        return j;
    }
    /* "\s+(?!\S)" then "\s+": a whitespace run at the end of the text is one token;
     * before a non-space it gives up its last character (which then starts the next
     * token, e.g. " word"), unless it is only one character long. */
    *kind = U2_PT_SPACE;
    size_t last = i;
    while (j < n) {
        if (class_at(s, j, &len) != U2_CC_S) break;
        last = j;
        j += len;
    }
    if (j == n) return n;
    return last > i ? last : j;
}

/* ---------------------------------------------------------------- byte alphabet */
/* Printable bytes ('!'..'~', U+00A1..U+00AC, U+00AE..U+00FF) stand for themselves;
 * the other 68 bytes get U+0100.. in byte order. */
static int printable_byte(unsigned b)
{
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

uint32_t u2_byte_to_cp(uint8_t b)
{
    if (printable_byte(b)) return b;
    uint32_t k = 0; /* rank of b among the non-printable bytes */
    if (b <= 0x20) k = b;
    else if (b <= 0xA0) k = 33 + (b - 0x7F); /* 0x7F..0xA0 */
    else k = 33 + 34;                        /* 0xAD */
    return 256 + k;
}

int u2_cp_to_byte(uint32_t cp)
{
    if (cp < 256) return printable_byte(cp) ? (int)cp : -1;
    if (cp < 256 + 33) return (int)(cp - 256);
    if (cp < 256 + 67) return (int)(0x7F + (cp - 256 - 33));
    if (cp == 256 + 67) return 0xAD;
    return -1;
}

size_t u2_bytes_to_alphabet(const uint8_t *b, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t cp = u2_byte_to_cp(b[i]);
        if (cp < 0x80) out[o++] = (char)cp;
        else {
            out[o++] = (char)(0xC0 | (cp >> 6));
            out[o++] = (char)(0x80 | (cp & 0x3F));
        }
    }
    out[o] = '\0';
    return o;
}

long u2_alphabet_to_bytes(const char *str, uint8_t *out)
{
    const uint8_t *s = (const uint8_t *)str;
    size_t n = strlen(str), i = 0;
    long o = 0;
    while (i < n) {
        int k = u2_utf8_seq(s, n, i);
        if (k < 0) return -1;
        size_t len;
        int b = u2_cp_to_byte(utf8_decode(s, i, &len));
        if (b < 0) return -1;
        out[o++] = (uint8_t)b;
        i += len;
    }
    return o;
}
