/* unimo2 tokenizer: train a byte-level BPE vocabulary, or use one (encode, decode,
 * describe). */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "cli.h"
#include "progress.h"
#include "tokenizer.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void help(void)
{
    printf(
        "usage: unimo2 tokenizer --texts FILE... --vocab-size N --out DIR [--min-frequency F]\n"
        "       unimo2 tokenizer --vocab DIR [--encode TEXT]... [--encode-file FILE]\n"
        "                        [--pair TEXT] [--max-len N [--pad]] [--no-special] [--json]\n"
        "       unimo2 tokenizer --vocab DIR --decode \"ID ID ...\"\n"
        "       unimo2 tokenizer --vocab DIR          (vocabulary size, specials, fingerprint)\n\n"
        "Train a byte-level BPE vocabulary (GPT-2/RoBERTa format: DIR/vocab.json and\n"
        "DIR/merges.txt) from UTF-8 text files with one sentence per line, or encode and\n"
        "decode with an existing one (RoBERTa's files load as they are).\n\n"
        "training:\n"
        "  --texts FILE...       text files (more may follow as plain arguments)\n"
        "  --vocab-size N        tokens in all, %d..%d (4 specials + 256 bytes + merges\n"
        "                        + [MASK])\n"
        "  --out DIR             where vocab.json and merges.txt are written (created)\n"
        "  --min-frequency F     never merge pairs seen fewer than F times (default 2)\n"
        "  -q, --quiet           no progress line\n"
        "using a vocabulary:\n"
        "  --vocab DIR           directory with vocab.json and merges.txt\n"
        "  --encode TEXT         print the ids of \"[CLS] TEXT [SEP]\" on one line\n"
        "  --encode-file FILE    the same for every line of FILE\n"
        "  --pair TEXT           encode the pair \"[CLS] TEXT1 [SEP] TEXT [SEP]\"\n"
        "  --max-len N           truncate to N tokens (keeps the final [SEP]; warns)\n"
        "  --pad                 pad to --max-len with [PAD]\n"
        "  --no-special          plain BPE ids, no [CLS]/[SEP]\n"
        "  --json                one JSON object per text: ids, tokens, word_start, mask\n"
        "  --decode \"IDS\"        print the text of space-separated ids (specials skipped)\n"
        "  -h, --help            this text\n",
        U2_TOK_MIN_VOCAB, U2_TOK_MAX_VOCAB);
}

typedef struct {
    const u2_tokenizer *t;
    u2_tok_cache *cache;
    const char *pair;
    int32_t max_len;
    int pad, no_special, json;
    u2_tok_buf buf;
    int32_t *ids;
    uint8_t *mask, *ws;
} enc_ctx;

static int parse_int(const char *opt, const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno == ERANGE || (end != s && !*end && (v < lo || v > hi)))
        return u2_fail(opt, "%s is outside %ld..%ld", s, lo, hi);
    if (errno || end == s || *end) return u2_fail(opt, "'%s' is not a whole number", s);
    *out = v;
    return 0;
}

static void print_result(enc_ctx *e, const char *text, const int32_t *ids, const uint8_t *mask,
                         const uint8_t *ws, size_t n, int truncated)
{
    if (!e->json) {
        for (size_t i = 0; i < n; i++) printf(i ? " %d" : "%d", ids[i]);
        printf("\n");
        return;
    }
    json_t *o = json_object(), *ji = json_array(), *jt = json_array(), *jw = json_array(),
           *jm = json_array();
    json_object_set_new(o, "text", json_string(text));
    if (e->pair) json_object_set_new(o, "pair", json_string(e->pair));
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(ji, json_integer(ids[i]));
        size_t len;
        const uint8_t *b = u2_tok_token_bytes(e->t, ids[i], &len);
        static const char *const special_name[U2_TOK_NSPECIAL] = {"[CLS]", "[PAD]", "[SEP]",
                                                                  "[UNK]", "[MASK]"};
        const char *name = NULL;
        for (int k = 0; k < U2_TOK_NSPECIAL && !b; k++)
            if (u2_tok_special_id(e->t, (u2_tok_special)k) == ids[i]) name = special_name[k];
        /* a token may be part of a UTF-8 character: show it as decoded text with
         * replacement characters */
        char *s = b ? u2_tok_decode(e->t, &ids[i], 1, NULL) : NULL;
        json_array_append_new(jt, json_string(b ? s : name ? name : "?"));
        free(s);
        json_array_append_new(jw, json_integer(ws[i]));
        json_array_append_new(jm, json_integer(mask ? mask[i] : 1));
    }
    json_object_set_new(o, "ids", ji);
    json_object_set_new(o, "tokens", jt);
    json_object_set_new(o, "word_start", jw);
    json_object_set_new(o, "attention_mask", jm);
    json_object_set_new(o, "truncated", json_boolean(truncated));
    char *s = json_dumps(o, JSON_COMPACT);
    printf("%s\n", s);
    free(s);
    json_decref(o);
}

static int encode_one(enc_ctx *e, const char *what, const char *text)
{
    if (e->no_special) {
        e->buf.n = 0;
        if (u2_tok_encode_text(e->t, e->cache, what, text, strlen(text), &e->buf)) return -1;
        if (e->pair && u2_tok_encode_text(e->t, e->cache, what, e->pair, strlen(e->pair), &e->buf))
            return -1;
        size_t n = e->buf.n;
        int cut = 0;
        if (e->max_len > 0 && n > (size_t)e->max_len) {
            n = (size_t)e->max_len;
            cut = 1;
        }
        if (cut) fprintf(stderr, "unimo2: warning: %s: truncated to %zu tokens\n", what, n);
        print_result(e, text, e->buf.ids, NULL, e->buf.word_start, n, cut);
        return 0;
    }
    if (e->max_len > 0) {
        int cut;
        int32_t n = u2_tok_encode(e->t, e->cache, what, text, e->pair, e->max_len, e->pad,
                                  e->ids, e->mask, e->ws, &cut);
        if (n < 0) return -1;
        if (cut) fprintf(stderr, "unimo2: warning: %s: truncated to %d tokens\n", what, n);
        print_result(e, text, e->ids, e->mask, e->ws, e->pad ? (size_t)e->max_len : (size_t)n,
                     cut);
        return 0;
    }
    e->buf.n = 0;
    if (u2_tok_encode_seq(e->t, e->cache, what, text, e->pair, &e->buf)) return -1;
    print_result(e, text, e->buf.ids, NULL, e->buf.word_start, e->buf.n, 0);
    return 0;
}

static int encode_file(enc_ctx *e, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return u2_fail(path, "cannot open: %s", strerror(errno));
    char *line = NULL, what[512];
    size_t cap = 0;
    ssize_t got;
    long lineno = 0;
    int rc = 0;
    while (rc == 0 && (got = getline(&line, &cap, f)) >= 0) {
        lineno++;
        size_t n = (size_t)got;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) n--;
        line[n] = '\0';
        snprintf(what, sizeof what, "%s:%ld", path, lineno);
        if (strlen(line) != n) rc = u2_fail(what, "contains a NUL byte");
        else rc = encode_one(e, what, line);
    }
    free(line);
    fclose(f);
    return rc;
}

static int decode_ids(const u2_tokenizer *t, const char *s)
{
    size_t n = 0, cap = 16;
    int32_t *ids = u2_malloc(cap * sizeof *ids);
    const char *p = s;
    for (;;) {
        while (*p == ' ' || *p == ',' || *p == '\t' || *p == '\n') p++;
        if (!*p) break;
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (errno || end == p || v < INT32_MIN || v > INT32_MAX) {
            free(ids);
            return u2_fail("--decode", "'%.20s' is not a token id", p);
        }
        if (n == cap) ids = u2_realloc(ids, (cap *= 2) * sizeof *ids);
        ids[n++] = (int32_t)v;
        p = end;
    }
    size_t len;
    char *text = u2_tok_decode(t, ids, n, &len);
    free(ids);
    if (!text) return -1;
    fwrite(text, 1, len, stdout);
    printf("\n");
    free(text);
    return 0;
}

static int train(const char **files, int nfiles, long vocab_size, long min_freq, const char *out)
{
    u2_tok_train_opts o = {(int32_t)vocab_size, min_freq};
    u2_tok_train_stats st;
    u2_tokenizer *t = u2_tok_train(files, nfiles, &o, &st);
    if (!t) return -1;
    int rc = u2_tok_save(t, out);
    if (rc == 0) {
        if (st.vocab_size < vocab_size)
            fprintf(stderr, "unimo2: warning: only %d tokens: no pair left that is seen at least "
                            "%ld times\n", st.vocab_size, min_freq);
        char dur[32];
        u2_format_duration(st.seconds, dur, sizeof dur);
        fprintf(stderr,
                "tokenizer: %lld lines (%lld skipped), %lld words (%lld distinct), %d merges, "
                "vocab %d, %.2f s (%s)\n",
                (long long)st.lines, (long long)st.skipped_lines, (long long)st.words,
                (long long)st.unique_words, st.merges, st.vocab_size, st.seconds, dur);
        printf("%s/vocab.json %s/merges.txt fingerprint %016" PRIx64 "\n", out, out,
               u2_tok_fingerprint(t));
    }
    u2_tok_free(t);
    return rc;
}

int cmd_tokenizer(int argc, char **argv)
{
    static const struct option opts[] = {
        {"texts", required_argument, 0, 't'},
        {"vocab-size", required_argument, 0, 'n'},
        {"out", required_argument, 0, 'o'},
        {"min-frequency", required_argument, 0, 'f'},
        {"vocab", required_argument, 0, 'v'},
        {"encode", required_argument, 0, 'e'},
        {"encode-file", required_argument, 0, 'E'},
        {"pair", required_argument, 0, 'p'},
        {"max-len", required_argument, 0, 'm'},
        {"pad", no_argument, 0, 'P'},
        {"no-special", no_argument, 0, 'S'},
        {"json", no_argument, 0, 'j'},
        {"decode", required_argument, 0, 'd'},
        {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char **texts = u2_calloc((size_t)argc + 1, sizeof *texts);
    const char **encode = u2_calloc((size_t)argc + 1, sizeof *encode);
    int ntexts = 0, nencode = 0, rc = 2, c;
    long vocab_size = -1, min_freq = 2, max_len = 0;
    const char *out = NULL, *vocab = NULL, *encode_path = NULL, *decode = NULL;
    enc_ctx e;
    memset(&e, 0, sizeof e);
    optind = 1;
    while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
        switch (c) {
        case 't': texts[ntexts++] = optarg; break;
        case 'n':
            if (parse_int("--vocab-size", optarg, 0, INT32_MAX, &vocab_size)) goto fail;
            break;
        case 'o': out = optarg; break;
        case 'f':
            if (parse_int("--min-frequency", optarg, 1, INT32_MAX, &min_freq)) goto fail;
            break;
        case 'v': vocab = optarg; break;
        case 'e': encode[nencode++] = optarg; break;
        case 'E': encode_path = optarg; break;
        case 'p': e.pair = optarg; break;
        case 'm':
            if (parse_int("--max-len", optarg, 1, 1 << 24, &max_len)) goto fail;
            break;
        case 'P': e.pad = 1; break;
        case 'S': e.no_special = 1; break;
        case 'j': e.json = 1; break;
        case 'd': decode = optarg; break;
        case 'q': u2_progress_set_quiet(1); break;
        case 'h':
            help();
            rc = 0;
            goto done;
        default: goto done;
        }
    }
    if (ntexts > 0) { /* "--texts a b c": the rest are more files */
        for (int i = optind; i < argc; i++) texts[ntexts++] = argv[i];
        if (vocab || nencode || encode_path || decode) {
            u2_fail("tokenizer", "--texts (training) does not go with --vocab/--encode/--decode");
            goto fail;
        }
        if (vocab_size < 0 || !out) {
            u2_fail("tokenizer", "training needs --vocab-size N and --out DIR");
            goto fail;
        }
        if (vocab_size < U2_TOK_MIN_VOCAB || vocab_size > U2_TOK_MAX_VOCAB) {
            u2_fail("--vocab-size", "%ld is outside %d..%d (4 specials + 256 bytes + [MASK] "
                    "at least)", vocab_size, U2_TOK_MIN_VOCAB, U2_TOK_MAX_VOCAB);
            goto fail;
        }
        if (u2_tok_prepare_dir(out)) goto fail;
        rc = train(texts, ntexts, vocab_size, min_freq, out) ? cli_error() : 0;
        goto done;
    }
    if (optind < argc) {
        u2_fail("tokenizer", "unexpected argument '%s' (see --help)", argv[optind]);
        goto fail;
    }
    if (!vocab) {
        u2_fail("tokenizer", "give --texts to train or --vocab DIR to use a vocabulary "
                "(see --help)");
        goto fail;
    }
    if (e.pad && max_len <= 0) {
        u2_fail("--pad", "needs --max-len N");
        goto fail;
    }
    u2_tokenizer *t = u2_tok_load_dir(vocab);
    if (!t) goto fail;
    e.t = t;
    e.max_len = (int32_t)max_len;
    e.cache = u2_tok_cache_new();
    if (max_len > 0) {
        e.ids = u2_malloc((size_t)max_len * sizeof *e.ids);
        e.mask = u2_malloc((size_t)max_len);
        e.ws = u2_malloc((size_t)max_len);
    }
    int bad = 0;
    char what[64];
    for (int i = 0; i < nencode && !bad; i++) {
        snprintf(what, sizeof what, "--encode text %d", i + 1);
        bad = encode_one(&e, what, encode[i]) != 0;
    }
    if (!bad && encode_path) bad = encode_file(&e, encode_path) != 0;
    if (!bad && decode) bad = decode_ids(t, decode) != 0;
    if (!bad && !nencode && !encode_path && !decode) {
        printf("vocab_size %d\nmerges %d\nfingerprint %016" PRIx64 "\n", u2_tok_vocab_size(t),
               u2_tok_num_merges(t), u2_tok_fingerprint(t));
        printf("specials [CLS]=%d [PAD]=%d [SEP]=%d [UNK]=%d [MASK]=%d\n",
               u2_tok_special_id(t, U2_TOK_CLS), u2_tok_special_id(t, U2_TOK_PAD),
               u2_tok_special_id(t, U2_TOK_SEP), u2_tok_special_id(t, U2_TOK_UNK),
               u2_tok_special_id(t, U2_TOK_MASK));
    }
    fflush(stdout);
    rc = bad ? cli_error() : 0;
    u2_tok_buf_free(&e.buf);
    free(e.ids);
    free(e.mask);
    free(e.ws);
    u2_tok_cache_free(e.cache);
    u2_tok_free(t);
    goto done;
fail:
    rc = cli_error();
done:
    free(texts);
    free(encode);
    return rc;
}
