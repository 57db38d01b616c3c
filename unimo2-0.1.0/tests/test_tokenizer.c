/* Byte-level BPE tokenizer: known answers on a hand-written vocabulary, GPT-2
 * pre-tokenisation, round trips, training, bad files. No timed tests. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "progress.h"
#include "tap.h"
#include "tokenizer.h"
#include "tokenizer_internal.h"
#include "util.h"

#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char tiny_dir[1024], tmp_root[512];

/* ---------------------------------------------------------------- helpers */
static int ids_eq(const int32_t *got, size_t n, const int32_t *want, size_t m)
{
    return n == m && (n == 0 || memcmp(got, want, n * sizeof *got) == 0);
}

static const char *ids_str(const int32_t *v, size_t n)
{
    static char buf[2048];
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && o + 16 < sizeof buf; i++)
        o += (size_t)snprintf(buf + o, sizeof buf - o, i ? " %d" : "%d", v[i]);
    return buf;
}

#define N_(a) (sizeof(a) / sizeof((a)[0]))

/* Plain BPE ids of text (no specials), checked against want. */
static void check_text(const u2_tokenizer *t, u2_tok_cache *c, const char *text,
                       const int32_t *want, size_t m, const char *why)
{
    u2_tok_buf b = {0};
    int rc = u2_tok_encode_text(t, c, "test", text, strlen(text), &b);
    tap_ok(rc == 0 && ids_eq(b.ids, b.n, want, m), "%s: got [%s]", why, ids_str(b.ids, b.n));
    u2_tok_buf_free(&b);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        exit(99);
    }
    fputs(text, f);
    fclose(f);
}

static char *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)len + 1);
    if (fread(s, 1, (size_t)len, f) != (size_t)len) len = 0;
    s[len] = '\0';
    fclose(f);
    if (n) *n = (size_t)len;
    return s;
}

static char *tmp_path(const char *name)
{
    static char buf[8][4096];
    static int k;
    char *p = buf[k++ & 7];
    snprintf(p, 4096, "%s/%s", tmp_root, name);
    return p;
}

/* ---------------------------------------------------------------- pre-tokenisation */
static void check_split(const char *text, const char *const *want, int m)
{
    const uint8_t *s = (const uint8_t *)text;
    size_t n = strlen(text), i = 0;
    int k = 0, ok = 1;
    char got[512] = "";
    while (i < n) {
        int kind;
        size_t j = u2_pretok_next(s, n, i, &kind);
        if (k >= m || strlen(want[k]) != j - i || memcmp(want[k], s + i, j - i)) ok = 0;
        size_t o = strlen(got);
        if (o + 2 * (j - i) + 3 < sizeof got) { /* newlines and tabs escaped for TAP */
            got[o++] = '[';
            for (size_t p = i; p < j; p++) {
                if (s[p] == '\n' || s[p] == '\t') {
                    got[o++] = '\\';
                    got[o++] = s[p] == '\n' ? 'n' : 't';
                } else
                    got[o++] = (char)s[p];
            }
            got[o++] = ']';
            got[o] = '\0';
        }
        k++;
        i = j;
    }
    tap_ok(ok && k == m, "pre-tokens %s", got);
}

static void test_pretok(void)
{
    /* each expectation is what the GPT-2 regex gives (checked with Python) */
    check_split("Hello world", (const char *[]){"Hello", " world"}, 2);
    check_split("it's we're I'M", (const char *[]){"it", "'s", " we", "'re", " I", "'", "M"}, 7);
    check_split("  x", (const char *[]){" ", " x"}, 2);
    check_split("a\n\nb", (const char *[]){"a", "\n", "\n", "b"}, 4);
    check_split("a  ", (const char *[]){"a", "  "}, 2);
    check_split("x?!  y", (const char *[]){"x", "?!", " ", " y"}, 4);
    check_split(" 123abc", (const char *[]){" 123", "abc"}, 2);
    check_split("''s ?'s", (const char *[]){"''", "s", " ?'", "s"}, 4);
    check_split("a \t b", (const char *[]){"a", " \t", " b"}, 3);
    check_split("東京タワー、ok", (const char *[]){"東京タワー", "、", "ok"}, 3);
    check_split("x\xc2\xa0y", (const char *[]){"x", "\xc2\xa0", "y"}, 3);
    check_split("😀😀 ok", (const char *[]){"😀😀", " ok"}, 2);
    check_split("café! naïve", (const char *[]){"café", "!", " naïve"}, 3);
    check_split("x²+½", (const char *[]){"x", "²", "+", "½"}, 4);
    check_split("Москва 2024", (const char *[]){"Москва", " 2024"}, 2);

    tap_ok(u2_cp_class('a') == U2_CC_L && u2_cp_class('7') == U2_CC_N &&
               u2_cp_class('\n') == U2_CC_S && u2_cp_class('_') == U2_CC_O &&
               u2_cp_class(0x1C) == U2_CC_O,
           "ASCII classes");
    tap_ok(u2_cp_class(0xE9) == U2_CC_L && u2_cp_class(0xD7) == U2_CC_O &&
               u2_cp_class(0xB2) == U2_CC_N && u2_cp_class(0xA0) == U2_CC_S &&
               u2_cp_class(0x85) == U2_CC_S && u2_cp_class(0xAA) == U2_CC_L &&
               u2_cp_class(0x301) == U2_CC_O,
           "Latin-1 and combining-mark classes");
    tap_ok(u2_cp_class(0x4E2D) == U2_CC_L && u2_cp_class(0x3002) == U2_CC_O &&
               u2_cp_class(0x3000) == U2_CC_S && u2_cp_class(0xFF11) == U2_CC_N &&
               u2_cp_class(0x1F600) == U2_CC_O && u2_cp_class(0x0663) == U2_CC_N &&
               u2_cp_class(0x20000) == U2_CC_L && u2_cp_class(0x2003) == U2_CC_S,
           "CJK, fullwidth, emoji, Arabic digits, spaces");

    /* the byte alphabet is a bijection; space is U+0120 */
    int ok = u2_byte_to_cp(' ') == 0x120 && u2_byte_to_cp('\n') == 0x10A &&
             u2_byte_to_cp('A') == 'A' && u2_byte_to_cp(0xAD) == 0x143;
    for (int b = 0; b < 256; b++) ok &= u2_cp_to_byte(u2_byte_to_cp((uint8_t)b)) == b;
    ok &= u2_cp_to_byte(0x144) == -1 && u2_cp_to_byte(' ') == -1 && u2_cp_to_byte(0xAD) == -1;
    tap_ok(ok, "byte <-> code point alphabet round trips");
}

/* ---------------------------------------------------------------- UTF-8 */
static void test_utf8(const u2_tokenizer *t)
{
    static const char *const bad[] = {
        "\xff",             /* never valid */
        "ab\xc3",           /* truncated */
        "\xc0\x80",         /* overlong NUL */
        "\xe0\x80\xaf",     /* overlong '/' */
        "\xed\xa0\x80",     /* surrogate */
        "\xf4\x90\x80\x80", /* above U+10FFFF */
        "x\x80y",           /* stray continuation */
    };
    for (size_t i = 0; i < N_(bad); i++) {
        u2_tok_buf b = {0};
        u2_clear_error();
        int rc = u2_tok_encode_text(t, NULL, "caption 7", bad[i], strlen(bad[i]), &b);
        tap_ok(rc == -1 && b.n == 0 && strstr(u2_errmsg(), "caption 7") &&
                   strstr(u2_errmsg(), "invalid UTF-8"),
               "invalid UTF-8 #%zu rejected: %s", i, u2_errmsg());
        u2_tok_buf_free(&b);
    }
    int32_t ids[8];
    int32_t n = u2_tok_encode(t, NULL, "pair 3", "ok", "bad \xfe", 8, 0, ids, NULL, NULL, NULL);
    tap_ok(n == -1 && strstr(u2_errmsg(), "pair 3"), "invalid UTF-8 in the second text: %s",
           u2_errmsg());
    const char *good = "\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf";
    tap_ok(u2_utf8_check((const uint8_t *)good, strlen(good)) == strlen(good),
           "boundary code points are valid");
}

/* ---------------------------------------------------------------- known answers */
static void test_known(const u2_tokenizer *t)
{
    /* tests/data/tok/tiny: ids 0..3 specials, 4.. single characters (h e l o Ġ w r d
     * ' s a ! t Ċ Ã © c f x y i = 4..24), then the merged tokens, <mask> = 45.
     * Merge ranks: 0 "xy x", 1 "x y", 2 "l l", 3 "h e", 4 "he ll", 5 "hell o",
     * 6 "Ġ w", 7 "o r", 8 "Ġw or", 9 "Ġwor l", 10 "Ġworl d", 11 "' s", 12 "a a",
     * 13 "Ã ©", 14 "c a", 15 "ca f", 16 "caf Ã©", 17 "Ġ Ġ", 18 "Ġ h", 19 "Ġh e". */
    tap_ok(u2_tok_vocab_size(t) == 46 && u2_tok_num_merges(t) == 20, "tiny: 46 tokens, 20 merges");
    tap_ok(u2_tok_special_id(t, U2_TOK_CLS) == 0 && u2_tok_special_id(t, U2_TOK_PAD) == 1 &&
               u2_tok_special_id(t, U2_TOK_SEP) == 2 && u2_tok_special_id(t, U2_TOK_UNK) == 3 &&
               u2_tok_special_id(t, U2_TOK_MASK) == 45,
           "RoBERTa spellings map onto [CLS] [PAD] [SEP] [UNK] [MASK]");
    tap_ok(u2_tok_token_id(t, "<mask>") == 45 && u2_tok_token_id(t, "[MASK]") == 45 &&
               u2_tok_token_id(t, "Ġworld") == 35 && u2_tok_token_id(t, "zz") == -1,
           "token names look up");
    u2_tok_cache *c = u2_tok_cache_new();
    for (int pass = 0; pass < 2; pass++) {
        u2_tok_cache *cc = pass ? c : NULL;
        /* "hello": h e l l o; lowest rank first: (l,l)=2 -> h e ll o; (h,e)=3 -> he ll o;
         * (he,ll)=4 -> hell o; (hell,o)=5 -> hello = 30.  " world": Ġ w o r l d;
         * (Ġ,w)=6, (o,r)=7, (Ġw,or)=8, (Ġwor,l)=9, (Ġworl,d)=10 -> Ġworld = 35. */
        check_text(t, cc, "hello world", (int32_t[]){30, 35}, 2, "hello world");
        /* pre-tokens hello | 's | ! -> 30, (',s)=11 -> 36, ! = 15 */
        check_text(t, cc, "hello's!", (int32_t[]){30, 36, 15}, 3, "contraction and punctuation");
        /* x y x y: only (x,y)=1 ranks; every occurrence merges in one round -> xy xy; the
         * pair (xy,x) of rank 0 never forms. A merge-one-pair-at-a-time BPE would give
         * xyx y = 25 23 instead. */
        check_text(t, cc, "xyxy", (int32_t[]){26, 26}, 2, "all occurrences of a rank merge together");
        /* x y x: (x,y)=1 -> xy x; then (xy,x)=0 -> xyx = 25 */
        check_text(t, cc, "xyx", (int32_t[]){25}, 1, "a lower rank created by a merge applies next");
        /* a a a a a: (a,a) left to right without overlap -> aa aa a */
        check_text(t, cc, "aaaaa", (int32_t[]){37, 37, 14}, 3, "overlapping pairs merge left to right");
        /* c a f C3 A9: (Ã,©)=13, (c,a)=14, (ca,f)=15, (caf,Ã©)=16 -> 41 */
        check_text(t, cc, "café", (int32_t[]){41}, 1, "UTF-8 bytes merge like any others");
        /* "  hello": whitespace run gives up its last space: " " | " hello";
         * Ġ h e l l o: (l,l)=2, (h,e)=3 (beats (Ġ,h)=18), he ll, hello -> Ġ hello */
        check_text(t, cc, "  hello", (int32_t[]){8, 8, 30}, 3, "space runs and rank order");
        /* a | \n | \n | b: b is not in the vocabulary -> <unk> */
        check_text(t, cc, "a\n\nb", (int32_t[]){14, 17, 17, 3}, 4, "newlines; unknown byte is <unk>");
        /* trailing "  " is one pre-token; (Ġ,Ġ)=17 -> 42 */
        check_text(t, cc, "hi  ", (int32_t[]){4, 24, 42}, 3, "trailing whitespace");
        check_text(t, cc, "", NULL, 0, "empty text");
    }

    /* word starts: hello | " " | " hello" | 's -> 30 8 8 30 36, starts 1 1 1 0 0 */
    u2_tok_buf b = {0};
    u2_tok_encode_text(t, c, "ws", "hello  hello's", 14, &b);
    uint8_t want_ws[] = {1, 1, 1, 0, 0};
    tap_ok(b.n == 5 && !memcmp(b.word_start, want_ws, 5), "word starts: [%s]",
           ids_str(b.ids, b.n));
    u2_tok_buf_free(&b);

    /* model inputs */
    int32_t ids[16];
    uint8_t mask[16], ws[16];
    int cut = -1;
    int32_t n = u2_tok_encode(t, c, "s", "hello world", NULL, 16, 0, ids, mask, ws, &cut);
    tap_ok(ids_eq(ids, (size_t)n, (int32_t[]){0, 30, 35, 2}, 4) && cut == 0,
           "[CLS] hello world [SEP]: [%s]", ids_str(ids, (size_t)n));
    /* "world" without a space: w o r l d -> (o,r)=7 -> w or l d = 9 32 6 11 */
    n = u2_tok_encode(t, c, "p", "hello", "world", 16, 0, ids, mask, ws, &cut);
    tap_ok(ids_eq(ids, (size_t)n, (int32_t[]){0, 30, 2, 9, 32, 6, 11, 2}, 8) && cut == 0,
           "pair [CLS] a [SEP] b [SEP]: [%s]", ids_str(ids, (size_t)n));
    n = u2_tok_encode(t, c, "p", "hello", "world", 10, 1, ids, mask, ws, &cut);
    uint8_t want_mask[10] = {1, 1, 1, 1, 1, 1, 1, 1, 0, 0};
    uint8_t want_ws2[10] = {1, 1, 1, 1, 0, 0, 0, 1, 0, 0};
    tap_ok(n == 8 && ids_eq(ids, 10, (int32_t[]){0, 30, 2, 9, 32, 6, 11, 2, 1, 1}, 10) &&
               !memcmp(mask, want_mask, 10) && !memcmp(ws, want_ws2, 10) && cut == 0,
           "padding with [PAD], attention mask and word starts");
    /* max 5: room for 2 text tokens; a has 1, b has 4: b is cut to 1, final [SEP] kept */
    n = u2_tok_encode(t, c, "p", "hello", "world", 5, 0, ids, NULL, NULL, &cut);
    tap_ok(ids_eq(ids, (size_t)n, (int32_t[]){0, 30, 2, 9, 2}, 5) && cut == 1,
           "pair truncation keeps the final [SEP]: [%s]", ids_str(ids, (size_t)n));
    n = u2_tok_encode(t, c, "s", "hello world hello", NULL, 3, 1, ids, NULL, NULL, &cut);
    tap_ok(ids_eq(ids, (size_t)n, (int32_t[]){0, 30, 2}, 3) && cut == 1,
           "single truncation: [%s]", ids_str(ids, (size_t)n));
    n = u2_tok_encode(t, c, "p", "a", "b", 2, 0, ids, NULL, NULL, &cut);
    tap_ok(n == -1 && strstr(u2_errmsg(), "special"), "too short for the specials: %s",
           u2_errmsg());
    u2_tok_buf seq = {0};
    tap_ok(u2_tok_encode_seq(t, c, "q", "hello", "world", &seq) == 0 &&
               ids_eq(seq.ids, seq.n, (int32_t[]){0, 30, 2, 9, 32, 6, 11, 2}, 8),
           "unlimited sequence");
    u2_tok_buf_free(&seq);

    /* decoding */
    size_t len;
    char *s = u2_tok_decode(t, (int32_t[]){0, 30, 35, 2, 1, 1}, 6, &len);
    tap_ok(s && !strcmp(s, "hello world") && len == 11, "decode skips specials: \"%s\"", s);
    free(s);
    s = u2_tok_decode(t, (int32_t[]){41, 38, 8, 36}, 4, NULL);
    tap_ok(s && !strcmp(s, "caféé 's"), "decode joins bytes into UTF-8: \"%s\"", s);
    free(s);
    s = u2_tok_decode(t, (int32_t[]){14, 18, 14, 19}, 4, NULL); /* a C3 a A9 */
    tap_ok(s && !strcmp(s, "a\xef\xbf\xbd" "a\xef\xbf\xbd"), "broken UTF-8 decodes to U+FFFD");
    free(s);
    s = u2_tok_decode(t, (int32_t[]){30, 46}, 2, NULL);
    tap_ok(!s && strstr(u2_errmsg(), "46"), "out-of-range id: %s", u2_errmsg());
    s = u2_tok_decode(t, NULL, 0, &len);
    tap_ok(s && len == 0 && !*s, "decode of nothing");
    free(s);
    u2_tok_cache_free(c);
}

/* ---------------------------------------------------------------- files */
static void test_pair_truncation_rule(void)
{
    /* the closed form in u2_tok_encode against the rule it implements: cut one token
     * from the longer text, from b on a tie, until both fit */
    int ok = 1;
    for (int budget = 0; budget < 12 && ok; budget++)
        for (int a = 0; a < 15; a++)
            for (int b = 0; b < 15; b++) {
                int la = a, lb = b;
                while (la + lb > budget) {
                    if (la > lb) la--;
                    else lb--;
                }
                int ca = a, cb = b, h = budget / 2;
                if (ca + cb > budget) {
                    if (ca > h && cb > h) {
                        cb = h;
                        ca = budget - h;
                    } else if (ca < cb) cb = budget - ca;
                    else ca = budget - cb;
                }
                if (ca != la || cb != lb) {
                    tap_diag("budget %d a %d b %d: %d %d vs %d %d", budget, a, b, ca, cb, la, lb);
                    ok = 0;
                }
            }
    tap_ok(ok, "longest-first truncation in closed form matches the loop");
}

static void test_fingerprint_and_spellings(const u2_tokenizer *t)
{
    /* same content with [CLS]-style spellings and other JSON layout: same fingerprint */
    size_t n;
    char path[4096];
    snprintf(path, sizeof path, "%s/vocab.json", tiny_dir);
    char *v = read_all(path, &n);
    const char *from[] = {"\"<s>\"", "\"<pad>\"", "\"</s>\"", "\"<unk>\"", "\"<mask>\""};
    const char *to[] = {"\"[CLS]\"", "\"[PAD]\"", "\"[SEP]\"", "\"[UNK]\"", "\"[MASK]\""};
    char *w = malloc(2 * n + 64), *o = w;
    for (const char *p = v; *p;) {
        int hit = 0;
        for (int k = 0; k < 5 && !hit; k++)
            if (!strncmp(p, from[k], strlen(from[k]))) {
                o += sprintf(o, "%s", to[k]);
                p += strlen(from[k]);
                hit = 1;
            }
        if (!hit) {
            if (*p == '\n') *o++ = ' ';
            else *o++ = *p;
            p++;
        }
    }
    *o = '\0';
    write_file(tmp_path("brackets.json"), w);
    free(v);
    free(w);
    snprintf(path, sizeof path, "%s/merges.txt", tiny_dir);
    u2_tokenizer *u = u2_tok_load(tmp_path("brackets.json"), path);
    tap_ok(u && u2_tok_fingerprint(u) == u2_tok_fingerprint(t) &&
               u2_tok_special_id(u, U2_TOK_MASK) == 45,
           "[CLS]-style spellings load, fingerprint unchanged (%016llx)",
           (unsigned long long)u2_tok_fingerprint(t));
    u2_tok_free(u);

    /* saving writes RoBERTa names and reloads to the same tokenizer */
    tap_ok(u2_tok_save(t, tmp_path("resaved/sub")) == 0, "save into a new directory");
    u = u2_tok_load_dir(tmp_path("resaved/sub"));
    tap_ok(u && u2_tok_fingerprint(u) == u2_tok_fingerprint(t), "saved files reload identically");
    v = read_all(tmp_path("resaved/sub/vocab.json"), NULL);
    tap_ok(v && strstr(v, "\"<s>\": 0") && strstr(v, "\"<mask>\": 45") && strstr(v, "\"Ġworld\": 35"),
           "vocab.json uses RoBERTa names and the byte alphabet");
    free(v);
    v = read_all(tmp_path("resaved/sub/merges.txt"), NULL);
    tap_ok(v && !strncmp(v, "#version: 0.2\nxy x\nx y\n", 23), "merges.txt in rank order");
    free(v);
    u2_tok_free(u);

    /* a different merge order is a different tokenizer */
    snprintf(path, sizeof path, "%s/vocab.json", tiny_dir);
    char *m = read_all(tmp_path("resaved/sub/merges.txt"), NULL);
    char *swap = strstr(m, "xy x\nx y\n");
    memcpy(swap, "x y\nxy x\n", 9);
    write_file(tmp_path("swapped.txt"), m);
    free(m);
    u = u2_tok_load(path, tmp_path("swapped.txt"));
    tap_ok(u && u2_tok_fingerprint(u) != u2_tok_fingerprint(t), "merge order changes the fingerprint");
    u2_tok_free(u);
}

typedef struct {
    const char *name, *vocab, *merges, *expect_file, *expect_text;
} bad_case;

static void test_bad_files(void)
{
    const char *good_vocab = "{\"<s>\":0,\"<pad>\":1,\"</s>\":2,\"<unk>\":3,\"a\":4,\"b\":5,"
                             "\"ab\":6,\"<mask>\":7}";
    const char *good_merges = "#version: 0.2\na b\n";
    const bad_case cases[] = {
        {"corrupt JSON", "{\"<s>\":0,", good_merges, "vocab.json", "not valid JSON"},
        {"not an object", "[1,2]", good_merges, "vocab.json", "JSON object"},
        {"duplicate ids",
         "{\"<s>\":0,\"<pad>\":1,\"</s>\":2,\"<unk>\":3,\"a\":4,\"b\":4,\"ab\":6,\"<mask>\":7}",
         good_merges, "vocab.json", "used twice"},
        {"duplicate keys",
         "{\"<s>\":0,\"<pad>\":1,\"</s>\":2,\"<unk>\":3,\"a\":4,\"a\":5,\"ab\":6,\"<mask>\":7}",
         good_merges, "vocab.json", "not valid JSON"},
        {"id out of range",
         "{\"<s>\":0,\"<pad>\":1,\"</s>\":2,\"<unk>\":3,\"a\":4,\"b\":5,\"ab\":9,\"<mask>\":7}",
         good_merges, "vocab.json", "outside"},
        {"id not an integer",
         "{\"<s>\":0,\"<pad>\":1,\"</s>\":2,\"<unk>\":3,\"a\":\"4\",\"b\":5,\"ab\":6,\"<mask>\":7}",
         good_merges, "vocab.json", "not an integer"},
        {"missing special", "{\"<s>\":0,\"<pad>\":1,\"</s>\":2,\"<unk>\":3,\"a\":4,\"b\":5,\"ab\":6}",
         good_merges, "vocab.json", "[MASK]"},
        {"special spelled twice",
         "{\"<s>\":0,\"<pad>\":1,\"</s>\":2,\"<unk>\":3,\"a\":4,\"[CLS]\":5,\"ab\":6,\"<mask>\":7}",
         good_merges, "vocab.json", "two tokens spell"},
        {"token outside the alphabet",
         "{\"<s>\":0,\"<pad>\":1,\"</s>\":2,\"<unk>\":3,\"a\":4,\"b c\":5,\"ab\":6,\"<mask>\":7}",
         good_merges, "vocab.json", "alphabet"},
        {"merge names an unknown token", good_vocab, "#version: 0.2\na b\na z\n", "merges.txt",
         "line 3: \"z\" is not in the vocabulary"},
        {"merged token missing", good_vocab, "#version: 0.2\nb a\n", "merges.txt",
         "merged token \"ba\""},
        {"three fields", good_vocab, "#version: 0.2\na b c\n", "merges.txt", "two tokens"},
        {"duplicate merge", good_vocab, "a b\na b\n", "merges.txt", "appears twice"},
    };
    for (size_t i = 0; i < N_(cases); i++) {
        char dir[16];
        snprintf(dir, sizeof dir, "bad%d", (int)i % 100);
        mkdir(tmp_path(dir), 0777);
        char v[4096], m[4096];
        snprintf(v, sizeof v, "%s/%s/vocab.json", tmp_root, dir);
        snprintf(m, sizeof m, "%s/%s/merges.txt", tmp_root, dir);
        write_file(v, cases[i].vocab);
        write_file(m, cases[i].merges);
        u2_clear_error();
        u2_tokenizer *t = u2_tok_load(v, m);
        const char *want_file = strcmp(cases[i].expect_file, "vocab.json") ? m : v;
        tap_ok(!t && !strncmp(u2_errmsg(), want_file, strlen(want_file)) &&
                   strstr(u2_errmsg(), cases[i].expect_text),
               "%s: %s", cases[i].name, u2_errmsg());
        u2_tok_free(t);
    }
    u2_clear_error();
    u2_tokenizer *t = u2_tok_load_dir(tmp_path("no-such-dir"));
    tap_ok(!t && strstr(u2_errmsg(), "no-such-dir/vocab.json: cannot open"), "missing file: %s",
           u2_errmsg());
    /* the good case loads, and the merge is applied */
    mkdir(tmp_path("good"), 0777);
    write_file(tmp_path("good/vocab.json"), good_vocab);
    write_file(tmp_path("good/merges.txt"), good_merges);
    t = u2_tok_load_dir(tmp_path("good"));
    tap_ok(t != NULL, "minimal vocabulary loads");
    if (t) check_text(t, NULL, "abba", (int32_t[]){6, 5, 4}, 3, "minimal vocabulary encodes");
    u2_tok_free(t);
    /* saving where no directory can be made */
    write_file(tmp_path("plainfile"), "x");
    t = u2_tok_load_dir(tiny_dir);
    u2_clear_error();
    tap_ok(t && u2_tok_save(t, tmp_path("plainfile/sub")) == -1 && strstr(u2_errmsg(), "plainfile"),
           "unwritable output directory: %s", u2_errmsg());
    u2_tok_free(t);
}

/* ---------------------------------------------------------------- training */
static const char *const words[] = {
    "the", "cat", "sat", "on", "mat", "a", "dog", "runs", "in", "park", "café", "naïve",
    "Zürich", "東京", "hello", "world", "it's", "bird", "flies", "over", "river", "red",
    "blue", "green", "42", "2024", "smörgåsbord", "piñata", "garçon", "ελληνικά", "мир",
};

static void make_corpus(const char *path, int lines, unsigned long long seed)
{
    FILE *f = fopen(path, "wb");
    tap_seed(seed);
    for (int i = 0; i < lines; i++) {
        int n = 3 + (int)(tap_next() % 8);
        for (int k = 0; k < n; k++) {
            /* skewed: low indices are frequent */
            unsigned r = (unsigned)(tap_next() % 1000);
            unsigned idx = (unsigned)((r * r) / (1000000 / N_(words)));
            if (idx >= N_(words)) idx = N_(words) - 1;
            fprintf(f, "%s%s", k ? " " : "", words[idx]);
        }
        fputs(i % 7 == 0 ? "!\n" : ".\n", f);
        if (i == lines / 2) fputs("this line is \xff broken\n", f);
    }
    fclose(f);
}

static u2_tokenizer *trained;

static void test_training(void)
{
    char *corpus = u2_strdup(tmp_path("corpus.txt"));
    make_corpus(corpus, 3000, 11);
    char *corpus2 = u2_strdup(tmp_path("corpus2.txt"));
    write_file(corpus2, "the the the the\n\nthe cat\r\n");
    const char *files[] = {corpus, corpus2};
    u2_tok_train_opts o = {400, 2};
    u2_tok_train_stats st;
    u2_progress_set_quiet(1);
    u2_tokenizer *t = u2_tok_train(files, 2, &o, &st);
    tap_ok(t != NULL, "trains (%s)", t ? "ok" : u2_errmsg());
    if (!t) {
        free(corpus);
        free(corpus2);
        return;
    }
    tap_ok(st.lines == 3000 + 3 && st.skipped_lines == 1, "lines %lld, skipped %lld (the broken one)",
           (long long)st.lines, (long long)st.skipped_lines);
    tap_diag("%lld words, %lld distinct, %d merges, vocab %d", (long long)st.words,
             (long long)st.unique_words, st.merges, st.vocab_size);
    int32_t V = u2_tok_vocab_size(t);
    tap_ok(V == st.vocab_size && V <= 400 && V >= U2_TOK_MIN_VOCAB, "vocab size %d", V);
    int ok = u2_tok_special_id(t, U2_TOK_CLS) == 0 && u2_tok_special_id(t, U2_TOK_PAD) == 1 &&
             u2_tok_special_id(t, U2_TOK_SEP) == 2 && u2_tok_special_id(t, U2_TOK_UNK) == 3 &&
             u2_tok_special_id(t, U2_TOK_MASK) == V - 1;
    for (int b = 0; b < 256; b++) {
        size_t len;
        const uint8_t *p = u2_tok_token_bytes(t, 4 + b, &len);
        ok &= p && len == 1 && p[0] == b;
    }
    tap_ok(ok, "layout: specials 0..3, byte b at 4+b, [MASK] last");

    /* frequent words become one token */
    const char *frequent[] = {"the", " cat", " sat", " on", " the", " mat"};
    for (size_t i = 0; i < N_(frequent); i++) {
        u2_tok_buf b = {0};
        u2_tok_encode_text(t, NULL, "w", frequent[i], strlen(frequent[i]), &b);
        tap_ok(b.n == 1, "frequent \"%s\" is one token (%zu)", frequent[i], b.n);
        u2_tok_buf_free(&b);
    }

    /* determinism: same input, byte-identical files */
    tap_ok(u2_tok_save(t, tmp_path("train1")) == 0, "save");
    u2_tokenizer *t2 = u2_tok_train(files, 2, &o, NULL);
    tap_ok(t2 && u2_tok_save(t2, tmp_path("train2")) == 0, "train again and save");
    size_t n1, n2, m1, m2;
    char *v1 = read_all(tmp_path("train1/vocab.json"), &n1);
    char *v2 = read_all(tmp_path("train2/vocab.json"), &n2);
    char *g1 = read_all(tmp_path("train1/merges.txt"), &m1);
    char *g2 = read_all(tmp_path("train2/merges.txt"), &m2);
    tap_ok(v1 && v2 && n1 == n2 && !memcmp(v1, v2, n1) && g1 && g2 && m1 == m2 &&
               !memcmp(g1, g2, m1),
           "training is deterministic (byte-identical files)");
    tap_ok(t2 && u2_tok_fingerprint(t) == u2_tok_fingerprint(t2), "same fingerprint");
    free(v1);
    free(v2);
    free(g1);
    free(g2);
    u2_tok_free(t2);
    u2_tokenizer *re = u2_tok_load_dir(tmp_path("train1"));
    tap_ok(re && u2_tok_fingerprint(re) == u2_tok_fingerprint(t), "trained files reload identically");
    u2_tok_free(re);

    /* ties: two words seen equally often; the lexicographically smaller pair first */
    write_file(tmp_path("ties.txt"), "zq zq ab ab\n");
    const char *tf[] = {tmp_path("ties.txt")};
    u2_tok_train_opts o2 = {262, 1};
    u2_tokenizer *tt = u2_tok_train(tf, 1, &o2, NULL);
    /* words zq, Ġzq, Ġab x2: (z,q), (Ġ,a) and (a,b) are each seen twice, (Ġ,z) once.
     * Bytes are compared, and Ġ is the byte 0x20: (" ", "a") is the smallest */
    size_t len;
    const uint8_t *p = tt ? u2_tok_token_bytes(tt, 260, &len) : NULL;
    tap_ok(tt && u2_tok_vocab_size(tt) == 262 && p && len == 2 && !memcmp(p, " a", 2),
           "ties go to the smallest (left, right) bytes");
    u2_tok_free(tt);

    /* vocabulary bigger than the corpus supports: stops early */
    u2_tok_train_opts o3 = {5000, 3};
    tt = u2_tok_train(tf, 1, &o3, &st);
    tap_ok(tt && st.vocab_size == U2_TOK_MIN_VOCAB && u2_tok_vocab_size(tt) == U2_TOK_MIN_VOCAB,
           "no pair seen 3 times: %d tokens", st.vocab_size);
    u2_tok_free(tt);

    /* errors */
    u2_tok_train_opts small = {260, 2}, big = {U2_TOK_MAX_VOCAB + 1, 2};
    u2_clear_error();
    tap_ok(!u2_tok_train(files, 2, &small, NULL) && strstr(u2_errmsg(), "261"),
           "vocab size 260 refused: %s", u2_errmsg());
    tap_ok(!u2_tok_train(files, 2, &big, NULL), "vocab size 2^20+1 refused");
    const char *missing[] = {corpus, tmp_path("missing.txt")};
    tap_ok(!u2_tok_train(missing, 2, &o, NULL) && strstr(u2_errmsg(), "missing.txt"),
           "missing text file: %s", u2_errmsg());
    free(corpus);
    free(corpus2);
    trained = t;
}

/* Specials may not appear as merged tokens: they would collide when saved. */
static void test_training_specials(void)
{
    write_file(tmp_path("spec.txt"), "<s> <s> <s> [CLS] [CLS] [CLS] <mask> <mask>\n");
    const char *f[] = {tmp_path("spec.txt")};
    u2_tok_train_opts o = {300, 2};
    u2_tokenizer *t = u2_tok_train(f, 1, &o, NULL);
    tap_ok(t && u2_tok_save(t, tmp_path("spec")) == 0, "corpus spelling special tokens trains");
    u2_tokenizer *u = t ? u2_tok_load_dir(tmp_path("spec")) : NULL;
    tap_ok(u && u2_tok_fingerprint(u) == u2_tok_fingerprint(t), "and reloads (%s)",
           u ? "ok" : u2_errmsg());
    if (u) {
        /* text that spells a special is plain text, never the special id */
        u2_tok_buf b = {0};
        u2_tok_encode_text(u, NULL, "x", "<s>", 3, &b);
        int none = 1;
        for (size_t i = 0; i < b.n; i++) none &= !u2_tok_is_special(u, b.ids[i]);
        tap_ok(none && b.n >= 2, "text \"<s>\" does not become [CLS]");
        u2_tok_buf_free(&b);
    }
    u2_tok_free(t);
    u2_tok_free(u);
}

/* ---------------------------------------------------------------- round trips */
static size_t put_cp(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

static uint32_t random_cp(void)
{
    static const uint32_t spaces[] = {' ', ' ', '\t', '\n', '\r', 0xA0, 0x3000, 0x2003, 0x85};
    uint64_t r = tap_next();
    switch (r % 10) {
    case 0: case 1: case 2: return 'a' + (uint32_t)((r >> 8) % 26);
    case 3: return 0x21 + (uint32_t)((r >> 8) % 94);              /* printable ASCII */
    case 4: return spaces[(r >> 8) % N_(spaces)];                  /* whitespace runs */
    case 5: return 0xC0 + (uint32_t)((r >> 8) % 0x1C0);            /* accents, Latin Ext */
    case 6: return 0x4E00 + (uint32_t)((r >> 8) % 0x5000);         /* CJK */
    case 7: return 0x1F600 + (uint32_t)((r >> 8) % 0x50);          /* emoji */
    case 8: return 0x300 + (uint32_t)((r >> 8) % 0x70);            /* combining marks */
    default: {                                                     /* anything valid */
        uint32_t cp = 1 + (uint32_t)((r >> 8) % 0x10FFFF);
        return cp >= 0xD800 && cp <= 0xDFFF ? 'x' : cp;
    }
    }
}

typedef struct {
    const u2_tokenizer *t;
    const char *const *texts;
    int n;
    u2_tok_buf *out;
} job;

static void *encode_all(void *arg)
{
    job *j = arg;
    u2_tok_cache *c = u2_tok_cache_new();
    for (int i = 0; i < j->n; i++)
        u2_tok_encode_text(j->t, c, "t", j->texts[i], strlen(j->texts[i]), &j->out[i]);
    u2_tok_cache_free(c);
    return NULL;
}

static void *nothing(void *arg) { return arg; }

/* Whether a thread can be started and joined, tried in a child process with a time
 * limit: under qemu-user on some hosts pthread_create never returns. */
static int threads_work(void)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) return 0;
    if (pid == 0) {
        pthread_t th;
        _exit(pthread_create(&th, NULL, nothing, NULL) == 0 && pthread_join(th, NULL) == 0 ? 0 : 1);
    }
    for (int waited = 0; waited < 100; waited++) { /* 5 s */
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) return WIFEXITED(st) && WEXITSTATUS(st) == 0;
        usleep(50000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return 0;
}

static void test_round_trip(const u2_tokenizer *t)
{
    enum { NT = 300 };
    static char *texts[NT];
    tap_seed(2024);
    for (int i = 0; i < NT; i++) {
        int n = (int)(tap_next() % 60);
        if (i == 0) n = 3000; /* one long word-free run goes through the heap path */
        char *s = malloc((size_t)n * 4 + 1), *o = s;
        for (int k = 0; k < n; k++) o += put_cp(o, i == 0 ? 0x4E00 + (uint32_t)(k % 7) : random_cp());
        *o = '\0';
        texts[i] = s;
    }
    u2_tok_cache *c = u2_tok_cache_new();
    int ok = 1, same = 1;
    for (int i = 0; i < NT; i++) {
        u2_tok_buf a = {0}, b = {0};
        size_t n = strlen(texts[i]), len = 0;
        int rc = u2_tok_encode_text(t, c, "r", texts[i], n, &a);
        rc |= u2_tok_encode_text(t, NULL, "r", texts[i], n, &b);
        char *back = rc ? NULL : u2_tok_decode(t, a.ids, a.n, &len);
        if (!back || len != n || memcmp(back, texts[i], n)) {
            if (ok) tap_diag("round trip #%d failed (%s)", i, rc ? u2_errmsg() : "differs");
            ok = 0;
        }
        if (!ids_eq(a.ids, a.n, b.ids, b.n)) same = 0;
        free(back);
        u2_tok_buf_free(&a);
        u2_tok_buf_free(&b);
    }
    tap_ok(ok, "decode(encode(x)) == x for %d random UTF-8 strings", NT);
    tap_ok(same, "the word cache does not change results");
    u2_tok_cache_free(c);

    /* concurrent encodes on one tokenizer, one cache per thread */
    if (!threads_work()) {
        tap_skip("threads cannot be started here (pthread_create hangs under qemu-user)");
        for (int i = 0; i < NT; i++) free(texts[i]);
        return;
    }
    enum { NTH = 4 };
    static u2_tok_buf outs[NTH][NT];
    pthread_t th[NTH];
    job jobs[NTH];
    for (int k = 0; k < NTH; k++) {
        jobs[k] = (job){t, (const char *const *)texts, NT, outs[k]};
        pthread_create(&th[k], NULL, encode_all, &jobs[k]);
    }
    for (int k = 0; k < NTH; k++) pthread_join(th[k], NULL);
    int agree = 1;
    for (int i = 0; i < NT; i++) {
        u2_tok_buf ref = {0};
        u2_tok_encode_text(t, NULL, "r", texts[i], strlen(texts[i]), &ref);
        for (int k = 0; k < NTH; k++) {
            agree &= ids_eq(outs[k][i].ids, outs[k][i].n, ref.ids, ref.n);
            u2_tok_buf_free(&outs[k][i]);
        }
        u2_tok_buf_free(&ref);
    }
    tap_ok(agree, "%d threads encoding at once agree with one", NTH);
    for (int i = 0; i < NT; i++) free(texts[i]);
}

int main(void)
{
    const char *srcdir = getenv("top_srcdir");
    snprintf(tiny_dir, sizeof tiny_dir, "%s/tests/data/tok/tiny", srcdir ? srcdir : ".");
    const char *tmpdir = getenv("TMPDIR");
    snprintf(tmp_root, sizeof tmp_root, "%s/u2tok.XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
    if (!mkdtemp(tmp_root)) {
        perror(tmp_root);
        return 99;
    }
    (void)tap_fill; /* a tap.h helper this test has no use for */
    test_pretok();
    u2_tokenizer *t = u2_tok_load_dir(tiny_dir);
    if (!tap_ok(t != NULL, "the hand-written vocabulary loads (%s)", t ? tiny_dir : u2_errmsg()))
        return tap_done();
    test_known(t);
    test_utf8(t);
    test_pair_truncation_rule();
    test_fingerprint_and_spellings(t);
    test_bad_files();
    test_training();
    test_training_specials();
    if (trained) test_round_trip(trained);
    u2_tok_free(trained);
    u2_tok_free(t);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_root);
    if (system(cmd) != 0) tap_diag("could not remove %s", tmp_root);
    return tap_done();
}
