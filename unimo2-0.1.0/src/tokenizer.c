/* Byte-level BPE: the tokenizer object, vocab.json/merges.txt, encoding, decoding. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "tokenizer_internal.h"
#include "util.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *const u2_tok_special_ours[U2_TOK_NSPECIAL] = {"[CLS]", "[PAD]", "[SEP]", "[UNK]",
                                                          "[MASK]"};
const char *const u2_tok_special_roberta[U2_TOK_NSPECIAL] = {"<s>", "<pad>", "</s>", "<unk>",
                                                             "<mask>"};

struct u2_tokenizer {
    int32_t n_vocab, n_merges, cap_merges;
    int32_t special[U2_TOK_NSPECIAL];
    int8_t *special_kind; /* per id: -1 or the u2_tok_special */
    uint8_t *bytes;
    uint32_t *off, *len;
    int32_t byte_id[256]; /* single-byte tokens, -1 where the vocabulary lacks one */
    /* merges by rank */
    int32_t *m_left, *m_right, *m_out;
    /* (left, right) -> rank, open addressing; rank -1 marks an empty slot */
    uint64_t *mt_key;
    int32_t *mt_rank;
    uint64_t mt_mask;
    /* token bytes -> id, open addressing; -1 marks an empty slot */
    int32_t *st_id;
    uint64_t st_mask;
    uint64_t fingerprint;
    uint64_t serial; /* tells word caches which tokenizer they hold words of */
};

static atomic_uint_fast64_t next_serial = 1;

static uint64_t round_pow2(uint64_t n)
{
    uint64_t p = 16;
    while (p < n) p <<= 1;
    return p;
}

/* ---------------------------------------------------------------- tables */
static inline uint64_t pair_key(int32_t a, int32_t b)
{
    return ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
}

static inline int32_t merge_rank(const u2_tokenizer *t, int32_t a, int32_t b)
{
    if (a < 0 || b < 0) return -1;
    uint64_t key = pair_key(a, b);
    uint64_t h = XXH3_64bits(&key, sizeof key) & t->mt_mask;
    for (;;) {
        int32_t r = t->mt_rank[h];
        if (r < 0 || t->mt_key[h] == key) return r;
        h = (h + 1) & t->mt_mask;
    }
}

static void merge_table_grow(u2_tokenizer *t, uint64_t slots)
{
    uint64_t *key = u2_malloc(slots * sizeof *key);
    int32_t *rank = u2_malloc(slots * sizeof *rank);
    memset(rank, 0xff, slots * sizeof *rank);
    uint64_t mask = slots - 1;
    for (int32_t r = 0; r < t->n_merges; r++) {
        uint64_t k = pair_key(t->m_left[r], t->m_right[r]);
        uint64_t h = XXH3_64bits(&k, sizeof k) & mask;
        while (rank[h] >= 0) h = (h + 1) & mask;
        key[h] = k;
        rank[h] = r;
    }
    free(t->mt_key);
    free(t->mt_rank);
    t->mt_key = key;
    t->mt_rank = rank;
    t->mt_mask = mask;
}

int32_t u2_tok_lookup(const u2_tokenizer *t, const uint8_t *b, size_t n)
{
    uint64_t h = XXH3_64bits(b, n) & t->st_mask;
    for (;;) {
        int32_t id = t->st_id[h];
        if (id < 0) return -1;
        if (t->len[id] == n && memcmp(t->bytes + t->off[id], b, n) == 0) return id;
        h = (h + 1) & t->st_mask;
    }
}

/* ---------------------------------------------------------------- building */
void u2_tok_free(u2_tokenizer *t)
{
    if (!t) return;
    free(t->special_kind);
    free(t->bytes);
    free(t->off);
    free(t->len);
    free(t->m_left);
    free(t->m_right);
    free(t->m_out);
    free(t->mt_key);
    free(t->mt_rank);
    free(t->st_id);
    free(t);
}

static void print_token(char *buf, size_t cap, const uint8_t *b, size_t n)
{
    /* a token as it is spelled in vocab.json, shortened for messages */
    if (n > 40) n = 40;
    char tmp[81];
    u2_bytes_to_alphabet(b, n, tmp);
    snprintf(buf, cap, "%s", tmp);
}

u2_tokenizer *u2_tok_new(int32_t n_vocab, const int32_t special[U2_TOK_NSPECIAL],
                         uint8_t *bytes, uint32_t *off, uint32_t *len, const char *what)
{
    u2_tokenizer *t = u2_calloc(1, sizeof *t);
    t->n_vocab = n_vocab;
    t->bytes = bytes;
    t->off = off;
    t->len = len;
    t->special_kind = u2_malloc((size_t)n_vocab);
    memset(t->special_kind, -1, (size_t)n_vocab);
    for (int k = 0; k < U2_TOK_NSPECIAL; k++) {
        t->special[k] = special[k];
        t->special_kind[special[k]] = (int8_t)k;
    }
    for (int b = 0; b < 256; b++) t->byte_id[b] = -1;
    uint64_t slots = round_pow2(2 * (uint64_t)n_vocab);
    t->st_id = u2_malloc(slots * sizeof *t->st_id);
    memset(t->st_id, 0xff, slots * sizeof *t->st_id);
    t->st_mask = slots - 1;
    for (int32_t id = 0; id < n_vocab; id++) {
        const uint8_t *b = bytes + off[id];
        if (len[id] == 0) {
            u2_fail(what, "token id %d is empty", id);
            u2_tok_free(t);
            return NULL;
        }
        uint64_t h = XXH3_64bits(b, len[id]) & t->st_mask;
        while (t->st_id[h] >= 0) {
            int32_t o = t->st_id[h];
            if (len[o] == len[id] && memcmp(bytes + off[o], b, len[id]) == 0) {
                char name[128];
                print_token(name, sizeof name, b, len[id]);
                u2_fail(what, "ids %d and %d are both the token \"%s\"", o, id, name);
                u2_tok_free(t);
                return NULL;
            }
            h = (h + 1) & t->st_mask;
        }
        t->st_id[h] = id;
        if (len[id] == 1 && t->special_kind[id] < 0) t->byte_id[b[0]] = id;
    }
    t->cap_merges = 0;
    merge_table_grow(t, 16);
    t->serial = atomic_fetch_add(&next_serial, 1);
    return t;
}

int32_t u2_tok_add_merge(u2_tokenizer *t, int32_t a, int32_t b)
{
    if (merge_rank(t, a, b) >= 0) return -2;
    size_t la = t->len[a], lb = t->len[b];
    uint8_t small[256], *cat = la + lb <= sizeof small ? small : u2_malloc(la + lb);
    memcpy(cat, t->bytes + t->off[a], la);
    memcpy(cat + la, t->bytes + t->off[b], lb);
    int32_t out = u2_tok_lookup(t, cat, la + lb);
    if (cat != small) free(cat);
    if (out < 0) return -1;
    if (t->n_merges == t->cap_merges) {
        t->cap_merges = t->cap_merges ? 2 * t->cap_merges : 256;
        t->m_left = u2_realloc(t->m_left, (size_t)t->cap_merges * sizeof(int32_t));
        t->m_right = u2_realloc(t->m_right, (size_t)t->cap_merges * sizeof(int32_t));
        t->m_out = u2_realloc(t->m_out, (size_t)t->cap_merges * sizeof(int32_t));
    }
    int32_t r = t->n_merges++;
    t->m_left[r] = a;
    t->m_right[r] = b;
    t->m_out[r] = out;
    if (2 * (uint64_t)t->n_merges > t->mt_mask + 1) merge_table_grow(t, 2 * (t->mt_mask + 1));
    else {
        uint64_t k = pair_key(a, b);
        uint64_t h = XXH3_64bits(&k, sizeof k) & t->mt_mask;
        while (t->mt_rank[h] >= 0) h = (h + 1) & t->mt_mask;
        t->mt_key[h] = k;
        t->mt_rank[h] = r;
    }
    return out;
}

static void hash_u32(XXH3_state_t *st, uint32_t v)
{
    uint8_t le[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    XXH3_64bits_update(st, le, 4);
}

void u2_tok_finish(u2_tokenizer *t)
{
    /* Canonical content: tokens by id (specials as their kind, not their spelling),
     * then merges by rank, all integers little-endian. */
    XXH3_state_t *st = XXH3_createState();
    XXH3_64bits_reset(st);
    XXH3_64bits_update(st, "unimo2-bpe-1", 12);
    hash_u32(st, (uint32_t)t->n_vocab);
    for (int32_t id = 0; id < t->n_vocab; id++) {
        int k = t->special_kind[id];
        if (k >= 0) {
            hash_u32(st, 0x80000000u | (uint32_t)k);
        } else {
            hash_u32(st, t->len[id]);
            XXH3_64bits_update(st, t->bytes + t->off[id], t->len[id]);
        }
    }
    hash_u32(st, (uint32_t)t->n_merges);
    for (int32_t r = 0; r < t->n_merges; r++) {
        hash_u32(st, (uint32_t)t->m_left[r]);
        hash_u32(st, (uint32_t)t->m_right[r]);
    }
    t->fingerprint = XXH3_64bits_digest(st);
    XXH3_freeState(st);
}

/* ---------------------------------------------------------------- accessors */
int32_t u2_tok_vocab_size(const u2_tokenizer *t) { return t->n_vocab; }
int32_t u2_tok_num_merges(const u2_tokenizer *t) { return t->n_merges; }
uint64_t u2_tok_fingerprint(const u2_tokenizer *t) { return t->fingerprint; }

int32_t u2_tok_special_id(const u2_tokenizer *t, u2_tok_special s)
{
    return (unsigned)s < U2_TOK_NSPECIAL ? t->special[s] : -1;
}

int u2_tok_is_special(const u2_tokenizer *t, int32_t id)
{
    return id >= 0 && id < t->n_vocab && t->special_kind[id] >= 0;
}

const uint8_t *u2_tok_token_bytes(const u2_tokenizer *t, int32_t id, size_t *len)
{
    if (id < 0 || id >= t->n_vocab || t->special_kind[id] >= 0) {
        if (len) *len = 0;
        return NULL;
    }
    if (len) *len = t->len[id];
    return t->bytes + t->off[id];
}

static int special_by_name(const char *name)
{
    for (int k = 0; k < U2_TOK_NSPECIAL; k++)
        if (!strcmp(name, u2_tok_special_ours[k]) || !strcmp(name, u2_tok_special_roberta[k]))
            return k;
    return -1;
}

int32_t u2_tok_token_id(const u2_tokenizer *t, const char *name)
{
    int k = special_by_name(name);
    if (k >= 0) return t->special[k];
    size_t n = strlen(name);
    uint8_t small[256], *b = n <= sizeof small ? small : u2_malloc(n);
    long nb = u2_alphabet_to_bytes(name, b);
    int32_t id = nb > 0 ? u2_tok_lookup(t, b, (size_t)nb) : -1;
    if (b != small) free(b);
    return id;
}

/* ---------------------------------------------------------------- loading */
static int read_vocab(const char *path, int32_t *n_out, int32_t special[U2_TOK_NSPECIAL],
                      uint8_t **bytes_out, uint32_t **off_out, uint32_t **len_out)
{
    FILE *f = fopen(path, "rb");
    if (!f) return u2_fail(path, "cannot open: %s", strerror(errno));
    json_error_t e;
    json_t *root = json_loadf(f, JSON_REJECT_DUPLICATES, &e);
    fclose(f);
    if (!root) return u2_fail(path, "not valid JSON (line %d): %s", e.line, e.text);
    if (!json_is_object(root)) {
        json_decref(root);
        return u2_fail(path, "expected a JSON object mapping tokens to ids");
    }
    size_t n = json_object_size(root);
    if (n == 0 || n > (1u << 24)) {
        json_decref(root);
        return u2_fail(path, "%zu tokens: expected 1 to %u", n, 1u << 24);
    }
    const char **name = u2_calloc(n, sizeof *name);
    size_t total = 0;
    const char *key;
    json_t *val;
    int rc = -1;
    for (int k = 0; k < U2_TOK_NSPECIAL; k++) special[k] = -1;
    json_object_foreach(root, key, val) {
        if (!json_is_integer(val)) {
            u2_fail(path, "token \"%.60s\": the id is not an integer", key);
            goto out;
        }
        json_int_t id = json_integer_value(val);
        if (id < 0 || (size_t)id >= n) {
            u2_fail(path, "token \"%.60s\": id %lld is outside 0..%zu (ids must be 0..N-1)", key,
                    (long long)id, n - 1);
            goto out;
        }
        if (name[id]) {
            u2_fail(path, "id %lld is used twice, by \"%.60s\" and \"%.60s\"", (long long)id,
                    name[id], key);
            goto out;
        }
        name[id] = key;
        int k = special_by_name(key);
        if (k >= 0) {
            if (special[k] >= 0) {
                u2_fail(path, "two tokens spell %s: \"%s\" and \"%s\"", u2_tok_special_ours[k],
                        name[special[k]], key);
                goto out;
            }
            special[k] = (int32_t)id;
        }
        total += strlen(key);
    }
    for (int k = 0; k < U2_TOK_NSPECIAL; k++)
        if (special[k] < 0) {
            u2_fail(path, "no %s token (spelled \"%s\" or \"%s\")", u2_tok_special_ours[k],
                    u2_tok_special_roberta[k], u2_tok_special_ours[k]);
            goto out;
        }
    /* n distinct ids in 0..n-1: every id is taken */
    uint8_t *bytes = u2_malloc(total + 1);
    uint32_t *off = u2_malloc(n * sizeof *off), *len = u2_malloc(n * sizeof *len);
    size_t pos = 0;
    for (size_t id = 0; id < n; id++) {
        long nb;
        if (special_by_name(name[id]) >= 0) { /* kept as spelled */
            nb = (long)strlen(name[id]);
            memcpy(bytes + pos, name[id], (size_t)nb);
        } else {
            nb = u2_alphabet_to_bytes(name[id], bytes + pos);
        }
        if (nb <= 0) {
            u2_fail(path, "token \"%.60s\" (id %zu) is %s", name[id], id,
                    nb == 0 ? "empty" : "not written in the byte-level BPE alphabet");
            free(bytes);
            free(off);
            free(len);
            goto out;
        }
        off[id] = (uint32_t)pos;
        len[id] = (uint32_t)nb;
        pos += (size_t)nb;
    }
    *n_out = (int32_t)n;
    *bytes_out = bytes;
    *off_out = off;
    *len_out = len;
    rc = 0;
out:
    free(name);
    json_decref(root);
    return rc;
}

static int read_merges(u2_tokenizer *t, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return u2_fail(path, "cannot open: %s", strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    long lineno = 0;
    int rc = 0;
    uint8_t *buf = NULL;
    size_t bufcap = 0;
    while ((got = getline(&line, &cap, f)) >= 0) {
        lineno++;
        size_t n = (size_t)got;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) n--;
        line[n] = '\0';
        if (n == 0) continue;
        if (lineno == 1 && !strncmp(line, "#version", 8)) continue;
        if (memchr(line, '\0', n)) {
            rc = u2_fail(path, "line %ld: contains a NUL byte", lineno);
            break;
        }
        char *sp = strchr(line, ' ');
        if (!sp || sp == line || !sp[1] || strchr(sp + 1, ' ')) {
            rc = u2_fail(path, "line %ld: expected two tokens separated by one space", lineno);
            break;
        }
        *sp = '\0';
        const char *tok[2] = {line, sp + 1};
        int32_t id[2];
        if (bufcap < n) {
            bufcap = n;
            buf = u2_realloc(buf, bufcap);
        }
        for (int s = 0; s < 2 && rc == 0; s++) {
            long nb = u2_alphabet_to_bytes(tok[s], buf);
            id[s] = nb > 0 ? u2_tok_lookup(t, buf, (size_t)nb) : -1;
            if (nb < 0)
                rc = u2_fail(path, "line %ld: \"%.60s\" is not written in the byte-level BPE "
                                   "alphabet", lineno, tok[s]);
            else if (id[s] < 0)
                rc = u2_fail(path, "line %ld: \"%.60s\" is not in the vocabulary", lineno,
                             tok[s]);
        }
        if (rc) break;
        int32_t out = u2_tok_add_merge(t, id[0], id[1]);
        if (out == -1) {
            rc = u2_fail(path, "line %ld: the merged token \"%.60s%.60s\" is not in the "
                               "vocabulary", lineno, tok[0], tok[1]);
            break;
        }
        if (out == -2) {
            rc = u2_fail(path, "line %ld: the merge \"%.60s %.60s\" appears twice", lineno,
                         tok[0], tok[1]);
            break;
        }
    }
    if (rc == 0 && ferror(f)) rc = u2_fail(path, "read error: %s", strerror(errno));
    free(line);
    free(buf);
    fclose(f);
    return rc;
}

u2_tokenizer *u2_tok_load(const char *vocab_json, const char *merges_txt)
{
    if (!vocab_json) vocab_json = "vocab.json";
    if (!merges_txt) merges_txt = "merges.txt";
    int32_t n = 0, special[U2_TOK_NSPECIAL];
    uint8_t *bytes = NULL;
    uint32_t *off = NULL, *len = NULL;
    if (read_vocab(vocab_json, &n, special, &bytes, &off, &len)) return NULL;
    u2_tokenizer *t = u2_tok_new(n, special, bytes, off, len, vocab_json);
    if (!t) return NULL;
    if (read_merges(t, merges_txt)) {
        u2_tok_free(t);
        return NULL;
    }
    u2_tok_finish(t);
    return t;
}

static char *path_join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = u2_malloc(a + b + 2);
    memcpy(p, dir, a);
    size_t o = a;
    if (a && dir[a - 1] != '/') p[o++] = '/';
    memcpy(p + o, name, b + 1);
    return p;
}

u2_tokenizer *u2_tok_load_dir(const char *dir)
{
    char *v = path_join(dir, "vocab.json"), *m = path_join(dir, "merges.txt");
    u2_tokenizer *t = u2_tok_load(v, m);
    free(v);
    free(m);
    return t;
}

/* ---------------------------------------------------------------- saving */
static int mkdir_p(const char *dir)
{
    if (!*dir) return u2_fail("output directory", "the name is empty");
    char *p = u2_strdup(dir);
    int rc = 0;
    for (char *s = p + 1;; s++) {
        if (*s == '/' || *s == '\0') {
            char c = *s;
            *s = '\0';
            if (mkdir(p, 0777) != 0 && errno != EEXIST) {
                rc = u2_fail(dir, "cannot create the directory: %s", strerror(errno));
                break;
            }
            *s = c;
            if (!c) break;
        }
    }
    free(p);
    if (rc == 0) {
        struct stat st;
        if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
            rc = u2_fail(dir, "not a directory");
    }
    return rc;
}

/* Writes DIR/NAME through a temp file in DIR: fill, fsync, rename. */
static int write_atomic(const char *dir, const char *name, int (*fill)(FILE *, const void *),
                        const void *ctx)
{
    char *path = path_join(dir, name);
    size_t n = strlen(dir) + strlen(name) + 16;
    char *tmp = u2_malloc(n);
    snprintf(tmp, n, "%s%s.%s.XXXXXX", dir, dir[0] && dir[strlen(dir) - 1] == '/' ? "" : "/",
             name);
    int rc = -1;
    int fd = mkstemp(tmp);
    if (fd < 0) {
        u2_fail(dir, "cannot write a file here: %s", strerror(errno));
        goto done;
    }
    fchmod(fd, 0644);
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        u2_fail(tmp, "%s", strerror(errno));
        close(fd);
        unlink(tmp);
        goto done;
    }
    int bad = fill(f, ctx) != 0;
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) bad = 1;
    if (fclose(f) != 0) bad = 1;
    if (bad) {
        u2_fail(path, "write failed: %s", strerror(errno ? errno : EIO));
        unlink(tmp);
        goto done;
    }
    if (rename(tmp, path) != 0) {
        u2_fail(path, "cannot rename the temp file into place: %s", strerror(errno));
        unlink(tmp);
        goto done;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        fsync(dfd); /* the rename itself is durable once the directory is */
        close(dfd);
    }
    rc = 0;
done:
    free(path);
    free(tmp);
    return rc;
}

/* vocab.json key of a token: RoBERTa spelling for specials, else the alphabet. */
static char *token_key(const u2_tokenizer *t, int32_t id)
{
    int k = t->special_kind[id];
    if (k >= 0) return u2_strdup(u2_tok_special_roberta[k]);
    char *s = u2_malloc(2 * (size_t)t->len[id] + 1);
    u2_bytes_to_alphabet(t->bytes + t->off[id], t->len[id], s);
    return s;
}

static int fill_vocab(FILE *f, const void *ctx)
{
    const u2_tokenizer *t = ctx;
    json_t *o = json_object();
    for (int32_t id = 0; id < t->n_vocab; id++) {
        char *key = token_key(t, id);
        json_object_set_new(o, key, json_integer(id));
        free(key);
    }
    int rc = json_dumpf(o, f, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    if (rc == 0 && fputc('\n', f) == EOF) rc = -1;
    json_decref(o);
    return rc;
}

static int fill_merges(FILE *f, const void *ctx)
{
    const u2_tokenizer *t = ctx;
    if (fputs("#version: 0.2\n", f) == EOF) return -1;
    for (int32_t r = 0; r < t->n_merges; r++) {
        char *a = token_key(t, t->m_left[r]), *b = token_key(t, t->m_right[r]);
        int bad = fprintf(f, "%s %s\n", a, b) < 0;
        free(a);
        free(b);
        if (bad) return -1;
    }
    return 0;
}

int u2_tok_prepare_dir(const char *dir)
{
    if (mkdir_p(dir)) return -1;
    size_t n = strlen(dir) + 32;
    char *tmp = u2_malloc(n);
    snprintf(tmp, n, "%s/.unimo2-probe.XXXXXX", dir);
    int fd = mkstemp(tmp);
    if (fd < 0) u2_fail(dir, "cannot write a file here: %s", strerror(errno));
    else {
        close(fd);
        unlink(tmp);
    }
    free(tmp);
    return fd < 0 ? -1 : 0;
}

int u2_tok_save(const u2_tokenizer *t, const char *dir)
{
    if (mkdir_p(dir)) return -1;
    if (write_atomic(dir, "vocab.json", fill_vocab, t)) return -1;
    return write_atomic(dir, "merges.txt", fill_merges, t);
}

/* ---------------------------------------------------------------- word cache */
/* Open addressing over words of up to CACHE_WORD bytes; emptied when full, so its
 * size stays bounded (6 MB). Results never depend on its content. */
enum { CACHE_SLOTS = 1 << 17, CACHE_MAX = CACHE_SLOTS / 2, CACHE_WORD = 64,
       CACHE_ARENA = 4 << 20 };

typedef struct {
    uint64_t hash;
    uint32_t off;   /* word bytes at arena+off, then the ids (4-byte aligned) */
    uint16_t wlen;  /* 0: empty slot */
    uint16_t nids;
} cache_slot;

struct u2_tok_cache {
    uint64_t serial;
    cache_slot *slot;
    uint8_t *arena;
    size_t used;
    int32_t count;
    u2_tok_buf a, b; /* scratch for u2_tok_encode */
};

u2_tok_cache *u2_tok_cache_new(void)
{
    u2_tok_cache *c = u2_calloc(1, sizeof *c);
    c->slot = u2_calloc(CACHE_SLOTS, sizeof *c->slot);
    c->arena = u2_malloc(CACHE_ARENA);
    return c;
}

void u2_tok_cache_free(u2_tok_cache *c)
{
    if (!c) return;
    free(c->slot);
    free(c->arena);
    u2_tok_buf_free(&c->a);
    u2_tok_buf_free(&c->b);
    free(c);
}

static void cache_clear(u2_tok_cache *c, uint64_t serial)
{
    memset(c->slot, 0, CACHE_SLOTS * sizeof *c->slot);
    c->used = 0;
    c->count = 0;
    c->serial = serial;
}

/* ---------------------------------------------------------------- BPE of one word */
static inline void heap_push(uint64_t *h, int *n, uint64_t v)
{
    int i = (*n)++;
    while (i > 0) {
        int p = (i - 1) / 2;
        if (h[p] <= v) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = v;
}

static inline uint64_t heap_pop(uint64_t *h, int *n)
{
    uint64_t top = h[0], v = h[--(*n)];
    int i = 0, m = *n;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= m) break;
        if (c + 1 < m && h[c + 1] < h[c]) c++;
        if (h[c] >= v) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = v;
    return top;
}

enum { BPE_STACK = 64 };

/* GPT-2's loop: while some adjacent pair has a rank, take the lowest rank and merge
 * every occurrence of that pair, left to right, without overlap. Done here with a
 * linked list and a heap of (rank, position), taking each rank as one batch so that
 * pairs created by a batch wait for the next round, exactly as in the original.
 * Writes at most n ids to out; returns the count. */
static int bpe_word(const u2_tokenizer *t, const uint8_t *w, int n, int32_t *out)
{
    int32_t unk = t->special[U2_TOK_UNK];
    if (n == 1) {
        int32_t id = t->byte_id[w[0]];
        out[0] = id >= 0 ? id : unk;
        return 1;
    }
    int32_t sym_s[BPE_STACK], nxt_s[BPE_STACK], prv_s[BPE_STACK];
    uint64_t heap_s[3 * BPE_STACK], batch_s[3 * BPE_STACK];
    uint8_t dead_s[BPE_STACK];
    int32_t *sym = sym_s, *nxt = nxt_s, *prv = prv_s;
    uint64_t *heap = heap_s, *batch = batch_s;
    uint8_t *dead = dead_s;
    if (n > BPE_STACK) {
        sym = u2_malloc((size_t)n * sizeof *sym);
        nxt = u2_malloc((size_t)n * sizeof *nxt);
        prv = u2_malloc((size_t)n * sizeof *prv);
        heap = u2_malloc(3 * (size_t)n * sizeof *heap);
        batch = u2_malloc(3 * (size_t)n * sizeof *batch);
        dead = u2_malloc((size_t)n);
    }
    int nh = 0;
    for (int i = 0; i < n; i++) {
        sym[i] = t->byte_id[w[i]];
        nxt[i] = i + 1 < n ? i + 1 : -1;
        prv[i] = i - 1;
        dead[i] = 0;
    }
    for (int i = 0; i + 1 < n; i++) {
        int32_t r = merge_rank(t, sym[i], sym[i + 1]);
        if (r >= 0) heap_push(heap, &nh, ((uint64_t)r << 32) | (uint32_t)i);
    }
    while (nh > 0) {
        uint32_t r = (uint32_t)(heap[0] >> 32);
        int nb = 0;
        while (nh > 0 && (uint32_t)(heap[0] >> 32) == r) batch[nb++] = heap_pop(heap, &nh);
        int32_t a = t->m_left[r], b = t->m_right[r], ab = t->m_out[r];
        int nchanged = 0;
        for (int k = 0; k < nb; k++) { /* ascending positions */
            int p = (int)(uint32_t)batch[k];
            int q = nxt[p];
            if (dead[p] || q < 0 || sym[p] != a || sym[q] != b) continue; /* stale */
            sym[p] = ab;
            nxt[p] = nxt[q];
            if (nxt[q] >= 0) prv[nxt[q]] = p;
            dead[q] = 1;
            batch[nchanged++] = (uint64_t)p; /* reuse: k >= nchanged always */
        }
        for (int k = 0; k < nchanged; k++) {
            int p = (int)batch[k];
            if (prv[p] >= 0) {
                int32_t rr = merge_rank(t, sym[prv[p]], sym[p]);
                if (rr >= 0) heap_push(heap, &nh, ((uint64_t)rr << 32) | (uint32_t)prv[p]);
            }
            if (nxt[p] >= 0) {
                int32_t rr = merge_rank(t, sym[p], sym[nxt[p]]);
                if (rr >= 0) heap_push(heap, &nh, ((uint64_t)rr << 32) | (uint32_t)p);
            }
        }
    }
    int m = 0;
    for (int i = 0; i >= 0; i = nxt[i]) out[m++] = sym[i] >= 0 ? sym[i] : unk;
    if (n > BPE_STACK) {
        free(sym);
        free(nxt);
        free(prv);
        free(heap);
        free(batch);
        free(dead);
    }
    return m;
}

/* ---------------------------------------------------------------- encoding */
void u2_tok_buf_free(u2_tok_buf *b)
{
    free(b->ids);
    free(b->word_start);
    b->ids = NULL;
    b->word_start = NULL;
    b->n = b->cap = 0;
}

static void buf_reserve(u2_tok_buf *b, size_t more)
{
    if (b->n + more <= b->cap) return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->n + more) cap *= 2;
    b->ids = u2_realloc(b->ids, cap * sizeof *b->ids);
    b->word_start = u2_realloc(b->word_start, cap);
    b->cap = cap;
}

/* BPE of one pre-token through the cache. */
static int word_encode(const u2_tokenizer *t, u2_tok_cache *c, const uint8_t *w, size_t n,
                       int32_t *out)
{
    if (!c || n > CACHE_WORD || n == 1) return bpe_word(t, w, (int)n, out);
    uint64_t h = XXH3_64bits(w, n);
    uint64_t i = h & (CACHE_SLOTS - 1);
    for (;;) {
        cache_slot *s = &c->slot[i];
        if (s->wlen == 0) break;
        if (s->hash == h && s->wlen == n && memcmp(c->arena + s->off, w, n) == 0) {
            memcpy(out, c->arena + ((s->off + n + 3) & ~(size_t)3),
                   (size_t)s->nids * sizeof *out);
            return s->nids;
        }
        i = (i + 1) & (CACHE_SLOTS - 1);
    }
    int m = bpe_word(t, w, (int)n, out);
    size_t need = ((n + 3) & ~(size_t)3) + (size_t)m * sizeof *out + 4;
    if (c->count >= CACHE_MAX || c->used + need > CACHE_ARENA) {
        cache_clear(c, c->serial);
        i = h & (CACHE_SLOTS - 1);
    }
    cache_slot *s = &c->slot[i];
    s->hash = h;
    s->off = (uint32_t)c->used;
    s->wlen = (uint16_t)n;
    s->nids = (uint16_t)m;
    memcpy(c->arena + c->used, w, n);
    memcpy(c->arena + ((c->used + n + 3) & ~(size_t)3), out, (size_t)m * sizeof *out);
    c->used = (c->used + n + 3) / 4 * 4 + (size_t)m * sizeof *out;
    c->count++;
    return m;
}

int u2_tok_encode_text(const u2_tokenizer *t, u2_tok_cache *c, const char *what,
                       const char *text, size_t len, u2_tok_buf *out)
{
    if (!what) what = "text";
    const uint8_t *s = (const uint8_t *)text;
    if (len > (size_t)INT32_MAX) return u2_fail(what, "too long (%zu bytes) to tokenise", len);
    size_t bad = u2_utf8_check(s, len);
    if (bad < len) return u2_fail(what, "invalid UTF-8 at byte %zu", bad);
    if (c && c->serial != t->serial) cache_clear(c, t->serial);
    size_t i = 0;
    int prev_kind = U2_PT_SPACE; /* the text start counts as a word boundary */
    while (i < len) {
        int kind;
        size_t j = u2_pretok_next(s, len, i, &kind);
        buf_reserve(out, j - i);
        int m = word_encode(t, c, s + i, j - i, out->ids + out->n);
        memset(out->word_start + out->n, 0, (size_t)m);
        out->word_start[out->n] = kind != U2_PT_WORD || prev_kind == U2_PT_SPACE;
        out->n += (size_t)m;
        prev_kind = kind;
        i = j;
    }
    return 0;
}

static void put_special(const u2_tokenizer *t, u2_tok_buf *out, u2_tok_special k)
{
    buf_reserve(out, 1);
    out->ids[out->n] = t->special[k];
    out->word_start[out->n] = 1;
    out->n++;
}

int u2_tok_encode_seq(const u2_tokenizer *t, u2_tok_cache *c, const char *what, const char *a,
                      const char *b, u2_tok_buf *out)
{
    size_t n0 = out->n;
    put_special(t, out, U2_TOK_CLS);
    if (u2_tok_encode_text(t, c, what, a, strlen(a), out)) goto fail;
    put_special(t, out, U2_TOK_SEP);
    if (b) {
        if (u2_tok_encode_text(t, c, what, b, strlen(b), out)) goto fail;
        put_special(t, out, U2_TOK_SEP);
    }
    return 0;
fail:
    out->n = n0;
    return -1;
}

int32_t u2_tok_encode(const u2_tokenizer *t, u2_tok_cache *c, const char *what,
                      const char *a, const char *b, int32_t max_len, int pad, int32_t *ids,
                      uint8_t *mask, uint8_t *word_start, int *truncated)
{
    int32_t nspec = b ? 3 : 2;
    if (max_len < nspec)
        return u2_fail(what ? what : "text", "a maximum length of %d cannot hold the %d "
                       "special tokens", max_len, nspec);
    u2_tok_buf local_a = {0}, local_b = {0};
    u2_tok_buf *ta = c ? &c->a : &local_a, *tb = c ? &c->b : &local_b;
    ta->n = tb->n = 0;
    int32_t rc = -1;
    if (u2_tok_encode_text(t, c, what, a, strlen(a), ta)) goto done;
    if (b && u2_tok_encode_text(t, c, what, b, strlen(b), tb)) goto done;
    size_t budget = (size_t)(max_len - nspec), la = ta->n, lb = tb->n;
    int cut = la + lb > budget;
    if (cut) {
        /* longest first: cut one token from the longer text (from b on a tie) until
         * both fit; in closed form: */
        size_t h = budget / 2;
        if (!b) la = budget;
        else if (la > h && lb > h) {
            lb = h;
            la = budget - h;
        } else if (la < lb) lb = budget - la;
        else la = budget - lb;
    }
    int32_t o = 0;
#define PUT(id_, ws_)                                                                         \
    do {                                                                                      \
        ids[o] = (id_);                                                                       \
        if (mask) mask[o] = 1;                                                                \
        if (word_start) word_start[o] = (ws_);                                                \
        o++;                                                                                  \
    } while (0)
    PUT(t->special[U2_TOK_CLS], 1);
    for (size_t i = 0; i < la; i++) PUT(ta->ids[i], ta->word_start[i]);
    PUT(t->special[U2_TOK_SEP], 1);
    if (b) {
        for (size_t i = 0; i < lb; i++) PUT(tb->ids[i], tb->word_start[i]);
        PUT(t->special[U2_TOK_SEP], 1);
    }
#undef PUT
    rc = o;
    if (pad)
        for (; o < max_len; o++) {
            ids[o] = t->special[U2_TOK_PAD];
            if (mask) mask[o] = 0;
            if (word_start) word_start[o] = 0;
        }
    if (truncated) *truncated = cut;
done:
    u2_tok_buf_free(&local_a);
    u2_tok_buf_free(&local_b);
    return rc;
}

/* ---------------------------------------------------------------- decoding */
char *u2_tok_decode(const u2_tokenizer *t, const int32_t *ids, size_t n, size_t *len_out)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= t->n_vocab) {
            u2_fail("decode", "token id %d at position %zu is outside the vocabulary (0..%d)",
                    ids[i], i, t->n_vocab - 1);
            return NULL;
        }
        if (t->special_kind[ids[i]] < 0) total += t->len[ids[i]];
    }
    uint8_t *raw = u2_malloc(total + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++)
        if (t->special_kind[ids[i]] < 0) {
            memcpy(raw + o, t->bytes + t->off[ids[i]], t->len[ids[i]]);
            o += t->len[ids[i]];
        }
    if (u2_utf8_check(raw, total) == total) {
        raw[total] = '\0';
        if (len_out) *len_out = total;
        return (char *)raw;
    }
    /* replace each maximal invalid subpart by U+FFFD (at most 3 bytes for 1) */
    uint8_t *txt = u2_malloc(3 * total + 1);
    size_t i = 0;
    o = 0;
    while (i < total) {
        int k = u2_utf8_seq(raw, total, i);
        if (k > 0) {
            memcpy(txt + o, raw + i, (size_t)k);
            o += (size_t)k;
            i += (size_t)k;
        } else {
            memcpy(txt + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i += (size_t)-k;
        }
    }
    txt[o] = '\0';
    free(raw);
    if (len_out) *len_out = o;
    return (char *)txt;
}
