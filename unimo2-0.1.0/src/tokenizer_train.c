/* BPE training: count pre-tokenised words, then merge the most frequent adjacent
 * pair until the vocabulary is full. Pair counts are updated incrementally (only
 * the words holding the merged pair are touched) and the best pair comes from a
 * max-heap with lazy deletion. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "progress.h"
#include "tokenizer_internal.h"
#include "util.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---------------------------------------------------------------- word counts */
typedef struct {
    int32_t *slot; /* word index, -1 empty */
    uint64_t mask;
    int32_t n, cap;
    uint64_t *hash;
    size_t *off;
    uint32_t *len;
    int64_t *count;
    uint8_t *arena;
    size_t used, arena_cap;
} wordmap;

static void wm_init(wordmap *m)
{
    memset(m, 0, sizeof *m);
    m->mask = (1 << 16) - 1;
    m->slot = u2_malloc((m->mask + 1) * sizeof *m->slot);
    memset(m->slot, 0xff, (m->mask + 1) * sizeof *m->slot);
}

static void wm_free(wordmap *m)
{
    free(m->slot);
    free(m->hash);
    free(m->off);
    free(m->len);
    free(m->count);
    free(m->arena);
}

static void wm_add(wordmap *m, const uint8_t *w, size_t n)
{
    uint64_t h = XXH3_64bits(w, n), i = h & m->mask;
    for (int32_t k; (k = m->slot[i]) >= 0; i = (i + 1) & m->mask)
        if (m->hash[k] == h && m->len[k] == n && !memcmp(m->arena + m->off[k], w, n)) {
            m->count[k]++;
            return;
        }
    if (m->n == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 4096;
        m->hash = u2_realloc(m->hash, (size_t)m->cap * sizeof *m->hash);
        m->off = u2_realloc(m->off, (size_t)m->cap * sizeof *m->off);
        m->len = u2_realloc(m->len, (size_t)m->cap * sizeof *m->len);
        m->count = u2_realloc(m->count, (size_t)m->cap * sizeof *m->count);
    }
    if (m->used + n > m->arena_cap) {
        m->arena_cap = m->arena_cap ? 2 * m->arena_cap : 1 << 16;
        while (m->used + n > m->arena_cap) m->arena_cap *= 2;
        m->arena = u2_realloc(m->arena, m->arena_cap);
    }
    int32_t k = m->n++;
    m->hash[k] = h;
    m->off[k] = m->used;
    m->len[k] = (uint32_t)n;
    m->count[k] = 1;
    memcpy(m->arena + m->used, w, n);
    m->used += n;
    m->slot[i] = k;
    if (2 * (uint64_t)m->n > m->mask + 1) { /* grow and rehash */
        uint64_t mask = 2 * (m->mask + 1) - 1;
        int32_t *slot = u2_malloc((mask + 1) * sizeof *slot);
        memset(slot, 0xff, (mask + 1) * sizeof *slot);
        for (int32_t j = 0; j < m->n; j++) {
            uint64_t p = m->hash[j] & mask;
            while (slot[p] >= 0) p = (p + 1) & mask;
            slot[p] = j;
        }
        free(m->slot);
        m->slot = slot;
        m->mask = mask;
    }
}

static int count_file(const char *path, wordmap *m, u2_progress *pg, int64_t *done_bytes,
                      u2_tok_train_stats *st)
{
    FILE *f = fopen(path, "rb");
    if (!f) return u2_fail(path, "cannot open: %s", strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    long lineno = 0, skipped = 0;
    while ((got = getline(&line, &cap, f)) >= 0) {
        lineno++;
        *done_bytes += got;
        size_t n = (size_t)got;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) n--;
        const uint8_t *s = (const uint8_t *)line;
        size_t bad = u2_utf8_check(s, n);
        if (bad < n || memchr(s, '\0', n)) {
            if (++skipped <= 5)
                fprintf(stderr, "unimo2: warning: %s:%ld: %s at byte %zu, line skipped\n", path,
                        lineno, bad < n ? "invalid UTF-8" : "NUL byte",
                        bad < n ? bad : (size_t)((const uint8_t *)memchr(s, '\0', n) - s));
            continue;
        }
        st->lines++;
        for (size_t i = 0; i < n;) {
            int kind;
            size_t j = u2_pretok_next(s, n, i, &kind);
            wm_add(m, s + i, j - i);
            st->words++;
            i = j;
        }
        if ((lineno & 4095) == 0) u2_progress_update(pg, *done_bytes, "%d words", m->n);
    }
    int rc = 0;
    if (ferror(f)) rc = u2_fail(path, "read error: %s", strerror(errno));
    free(line);
    fclose(f);
    if (skipped > 5)
        fprintf(stderr, "unimo2: warning: %s: %ld lines skipped in all (invalid UTF-8)\n", path,
                skipped);
    st->skipped_lines += skipped;
    return rc;
}

/* ---------------------------------------------------------------- merging */
typedef struct {
    int64_t count;
    int32_t pair;
} heap_ent;

typedef struct {
    /* symbols: 0..255 are the bytes, then one per merge that made a new string */
    uint8_t *sb;
    size_t sb_used, sb_cap;
    size_t *s_off;
    uint32_t *s_len;
    int32_t n_sym, cap_sym;
    uint64_t *s_hash; /* bytes -> symbol, open addressing */
    int32_t *s_slot;
    uint64_t s_mask;
    /* words as symbol sequences */
    int32_t n_words;
    int32_t *w_sym;
    size_t *w_off;
    int32_t *w_len;
    int64_t *w_count;
    int32_t *w_seen;
    /* pairs */
    uint64_t *p_key;
    int64_t *p_count;
    int32_t **p_words, *p_nw, *p_capw;
    int32_t *p_touched;
    uint8_t *p_blocked;
    int32_t n_pairs, cap_pairs;
    int32_t *pt_slot;
    uint64_t pt_mask;
    heap_ent *heap;
    int32_t nheap, cap_heap;
    int32_t *touched;
    int32_t n_touched, cap_touched;
} trainer;

static inline uint64_t pkey(int32_t a, int32_t b)
{
    return ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
}

static int32_t sym_find(const trainer *T, const uint8_t *b, size_t n, uint64_t h)
{
    for (uint64_t i = h & T->s_mask;; i = (i + 1) & T->s_mask) {
        int32_t k = T->s_slot[i];
        if (k < 0) return -1;
        if (T->s_hash[k] == h && T->s_len[k] == n && !memcmp(T->sb + T->s_off[k], b, n))
            return k;
    }
}

static int32_t sym_add(trainer *T, const uint8_t *b, size_t n, uint64_t h)
{
    if (T->n_sym == T->cap_sym) {
        T->cap_sym = T->cap_sym ? 2 * T->cap_sym : 1024;
        T->s_off = u2_realloc(T->s_off, (size_t)T->cap_sym * sizeof *T->s_off);
        T->s_len = u2_realloc(T->s_len, (size_t)T->cap_sym * sizeof *T->s_len);
        T->s_hash = u2_realloc(T->s_hash, (size_t)T->cap_sym * sizeof *T->s_hash);
    }
    if (T->sb_used + n > T->sb_cap) {
        while (T->sb_used + n > T->sb_cap) T->sb_cap = T->sb_cap ? 2 * T->sb_cap : 1 << 16;
        T->sb = u2_realloc(T->sb, T->sb_cap);
    }
    int32_t k = T->n_sym++;
    memcpy(T->sb + T->sb_used, b, n);
    T->s_off[k] = T->sb_used;
    T->s_len[k] = (uint32_t)n;
    T->s_hash[k] = h;
    T->sb_used += n;
    if (2 * (uint64_t)T->n_sym > T->s_mask + 1) {
        T->s_mask = 2 * (T->s_mask + 1) - 1;
        free(T->s_slot);
        T->s_slot = u2_malloc((T->s_mask + 1) * sizeof *T->s_slot);
        memset(T->s_slot, 0xff, (T->s_mask + 1) * sizeof *T->s_slot);
        for (int32_t j = 0; j < T->n_sym; j++) {
            uint64_t i = T->s_hash[j] & T->s_mask;
            while (T->s_slot[i] >= 0) i = (i + 1) & T->s_mask;
            T->s_slot[i] = j;
        }
    } else {
        uint64_t i = h & T->s_mask;
        while (T->s_slot[i] >= 0) i = (i + 1) & T->s_mask;
        T->s_slot[i] = k;
    }
    return k;
}

static int32_t pair_get(trainer *T, int32_t a, int32_t b)
{
    uint64_t key = pkey(a, b);
    uint64_t i = XXH3_64bits(&key, sizeof key) & T->pt_mask;
    for (int32_t k; (k = T->pt_slot[i]) >= 0; i = (i + 1) & T->pt_mask)
        if (T->p_key[k] == key) return k;
    if (T->n_pairs == T->cap_pairs) {
        T->cap_pairs = T->cap_pairs ? 2 * T->cap_pairs : 4096;
        size_t c = (size_t)T->cap_pairs;
        T->p_key = u2_realloc(T->p_key, c * sizeof *T->p_key);
        T->p_count = u2_realloc(T->p_count, c * sizeof *T->p_count);
        T->p_words = u2_realloc(T->p_words, c * sizeof *T->p_words);
        T->p_nw = u2_realloc(T->p_nw, c * sizeof *T->p_nw);
        T->p_capw = u2_realloc(T->p_capw, c * sizeof *T->p_capw);
        T->p_touched = u2_realloc(T->p_touched, c * sizeof *T->p_touched);
        T->p_blocked = u2_realloc(T->p_blocked, c * sizeof *T->p_blocked);
    }
    int32_t k = T->n_pairs++;
    T->p_key[k] = key;
    T->p_count[k] = 0;
    T->p_words[k] = NULL;
    T->p_nw[k] = T->p_capw[k] = 0;
    T->p_touched[k] = -1;
    T->p_blocked[k] = 0;
    T->pt_slot[i] = k;
    if (2 * (uint64_t)T->n_pairs > T->pt_mask + 1) {
        T->pt_mask = 2 * (T->pt_mask + 1) - 1;
        free(T->pt_slot);
        T->pt_slot = u2_malloc((T->pt_mask + 1) * sizeof *T->pt_slot);
        memset(T->pt_slot, 0xff, (T->pt_mask + 1) * sizeof *T->pt_slot);
        for (int32_t j = 0; j < T->n_pairs; j++) {
            uint64_t p = XXH3_64bits(&T->p_key[j], sizeof(uint64_t)) & T->pt_mask;
            while (T->pt_slot[p] >= 0) p = (p + 1) & T->pt_mask;
            T->pt_slot[p] = j;
        }
    }
    return k;
}

/* Adds delta occurrences of (a, b) found in word w. */
static void pair_add(trainer *T, int32_t a, int32_t b, int64_t delta, int32_t w, int32_t step)
{
    int32_t k = pair_get(T, a, b);
    T->p_count[k] += delta;
    if (delta <= 0) return;
    if (T->p_nw[k] == 0 || T->p_words[k][T->p_nw[k] - 1] != w) {
        if (T->p_nw[k] == T->p_capw[k]) {
            T->p_capw[k] = T->p_capw[k] ? 2 * T->p_capw[k] : 4;
            T->p_words[k] = u2_realloc(T->p_words[k], (size_t)T->p_capw[k] * sizeof(int32_t));
        }
        T->p_words[k][T->p_nw[k]++] = w;
    }
    if (T->p_touched[k] != step) {
        T->p_touched[k] = step;
        if (T->n_touched == T->cap_touched) {
            T->cap_touched = T->cap_touched ? 2 * T->cap_touched : 1024;
            T->touched = u2_realloc(T->touched, (size_t)T->cap_touched * sizeof *T->touched);
        }
        T->touched[T->n_touched++] = k;
    }
}

static int bytes_cmp(const trainer *T, int32_t x, int32_t y)
{
    if (x == y) return 0;
    uint32_t lx = T->s_len[x], ly = T->s_len[y];
    int c = memcmp(T->sb + T->s_off[x], T->sb + T->s_off[y], lx < ly ? lx : ly);
    if (c) return c;
    return lx < ly ? -1 : lx > ly;
}

/* Heap order: higher count first, then the lexicographically smaller
 * (left bytes, right bytes). */
static int ent_before(const trainer *T, heap_ent x, heap_ent y)
{
    if (x.count != y.count) return x.count > y.count;
    uint64_t kx = T->p_key[x.pair], ky = T->p_key[y.pair];
    int c = bytes_cmp(T, (int32_t)(kx >> 32), (int32_t)(ky >> 32));
    if (!c) c = bytes_cmp(T, (int32_t)(uint32_t)kx, (int32_t)(uint32_t)ky);
    return c < 0;
}

static void heap_push(trainer *T, int32_t pair)
{
    if (T->nheap == T->cap_heap) {
        T->cap_heap = T->cap_heap ? 2 * T->cap_heap : 4096;
        T->heap = u2_realloc(T->heap, (size_t)T->cap_heap * sizeof *T->heap);
    }
    heap_ent v = {T->p_count[pair], pair};
    int i = T->nheap++;
    while (i > 0) {
        int p = (i - 1) / 2;
        if (!ent_before(T, v, T->heap[p])) break;
        T->heap[i] = T->heap[p];
        i = p;
    }
    T->heap[i] = v;
}

static heap_ent heap_pop(trainer *T)
{
    heap_ent top = T->heap[0], v = T->heap[--T->nheap];
    int i = 0, n = T->nheap;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && ent_before(T, T->heap[c + 1], T->heap[c])) c++;
        if (!ent_before(T, T->heap[c], v)) break;
        T->heap[i] = T->heap[c];
        i = c;
    }
    T->heap[i] = v;
    return top;
}

/* Replaces every (a, b) in the words that hold it by s, left to right without
 * overlap, updating the counts of the neighbouring pairs. */
static void apply_merge(trainer *T, int32_t pair, int32_t a, int32_t b, int32_t s, int32_t step)
{
    int32_t nw = T->p_nw[pair];
    int32_t *words = T->p_words[pair];
    for (int32_t x = 0; x < nw; x++) {
        int32_t w = words[x];
        if (T->w_seen[w] == step) continue;
        T->w_seen[w] = step;
        int32_t *v = T->w_sym + T->w_off[w];
        int32_t n = T->w_len[w], j = 0;
        int64_t c = T->w_count[w];
        for (int32_t i = 0; i < n;) {
            if (i + 1 < n && v[i] == a && v[i + 1] == b) {
                if (j > 0) { /* v[j-1] is the current left neighbour, maybe s itself */
                    pair_add(T, v[j - 1], a, -c, w, step);
                    pair_add(T, v[j - 1], s, c, w, step);
                }
                if (i + 2 < n) { /* v[i+2] is not rewritten yet */
                    pair_add(T, b, v[i + 2], -c, w, step);
                    pair_add(T, s, v[i + 2], c, w, step);
                }
                v[j++] = s;
                i += 2;
            } else
                v[j++] = v[i++];
        }
        T->w_len[w] = j;
    }
    T->p_count[pair] = 0;
    free(T->p_words[pair]);
    T->p_words[pair] = NULL;
    T->p_nw[pair] = T->p_capw[pair] = 0;
}

static void trainer_free(trainer *T)
{
    free(T->sb);
    free(T->s_off);
    free(T->s_len);
    free(T->s_hash);
    free(T->s_slot);
    free(T->w_sym);
    free(T->w_off);
    free(T->w_len);
    free(T->w_count);
    free(T->w_seen);
    for (int32_t k = 0; k < T->n_pairs; k++) free(T->p_words[k]);
    free(T->p_key);
    free(T->p_count);
    free(T->p_words);
    free(T->p_nw);
    free(T->p_capw);
    free(T->p_touched);
    free(T->p_blocked);
    free(T->pt_slot);
    free(T->heap);
    free(T->touched);
}

/* A merged token may not spell a special token: saved, it would collide with it. */
static int spells_special(const uint8_t *b, size_t n)
{
    for (int k = 0; k < U2_TOK_NSPECIAL; k++) {
        const char *x = u2_tok_special_ours[k], *y = u2_tok_special_roberta[k];
        if ((strlen(x) == n && !memcmp(x, b, n)) || (strlen(y) == n && !memcmp(y, b, n)))
            return 1;
    }
    return 0;
}

u2_tokenizer *u2_tok_train(const char *const *files, int nfiles, const u2_tok_train_opts *o,
                           u2_tok_train_stats *stats)
{
    u2_tok_train_stats st_local, *st = stats ? stats : &st_local;
    memset(st, 0, sizeof *st);
    double t0 = u2_now();
    if (o->vocab_size < U2_TOK_MIN_VOCAB || o->vocab_size > U2_TOK_MAX_VOCAB) {
        u2_fail("vocab size", "%d is outside %d..%d (4 specials + 256 bytes + [MASK] at least)",
                o->vocab_size, U2_TOK_MIN_VOCAB, U2_TOK_MAX_VOCAB);
        return NULL;
    }
    if (nfiles < 1) {
        u2_fail("tokenizer", "no text files to learn from");
        return NULL;
    }
    int64_t min_freq = o->min_frequency < 1 ? 1 : o->min_frequency;
    int64_t total_bytes = 0, done_bytes = 0;
    for (int i = 0; i < nfiles; i++) {
        struct stat sb;
        if (stat(files[i], &sb) != 0) {
            u2_fail(files[i], "cannot open: %s", strerror(errno));
            return NULL;
        }
        if (S_ISDIR(sb.st_mode)) {
            u2_fail(files[i], "is a directory, not a text file");
            return NULL;
        }
        total_bytes += sb.st_size;
    }

    /* 1. word counts */
    wordmap wm;
    wm_init(&wm);
    u2_progress pg;
    u2_progress_start(&pg, "reading", total_bytes);
    for (int i = 0; i < nfiles; i++)
        if (count_file(files[i], &wm, &pg, &done_bytes, st)) {
            wm_free(&wm);
            return NULL;
        }
    u2_progress_update(&pg, done_bytes, "%d words", wm.n);
    u2_progress_end(&pg);
    st->unique_words = wm.n;

    /* 2. symbols and words */
    trainer T;
    memset(&T, 0, sizeof T);
    T.s_mask = 1023;
    T.s_slot = u2_malloc((T.s_mask + 1) * sizeof *T.s_slot);
    memset(T.s_slot, 0xff, (T.s_mask + 1) * sizeof *T.s_slot);
    for (int b = 0; b < 256; b++) {
        uint8_t c = (uint8_t)b;
        sym_add(&T, &c, 1, XXH3_64bits(&c, 1));
    }
    T.n_words = wm.n;
    T.w_sym = u2_malloc((wm.used ? wm.used : 1) * sizeof *T.w_sym);
    T.w_off = u2_malloc(((size_t)wm.n + 1) * sizeof *T.w_off);
    T.w_len = u2_malloc(((size_t)wm.n + 1) * sizeof *T.w_len);
    T.w_count = u2_malloc(((size_t)wm.n + 1) * sizeof *T.w_count);
    T.w_seen = u2_malloc(((size_t)wm.n + 1) * sizeof *T.w_seen);
    for (int32_t w = 0; w < wm.n; w++) {
        T.w_off[w] = wm.off[w];
        T.w_len[w] = (int32_t)wm.len[w];
        T.w_count[w] = wm.count[w];
        T.w_seen[w] = -1;
        for (uint32_t i = 0; i < wm.len[w]; i++) T.w_sym[wm.off[w] + i] = wm.arena[wm.off[w] + i];
    }
    wm_free(&wm);
    T.pt_mask = (1 << 16) - 1;
    T.pt_slot = u2_malloc((T.pt_mask + 1) * sizeof *T.pt_slot);
    memset(T.pt_slot, 0xff, (T.pt_mask + 1) * sizeof *T.pt_slot);
    for (int32_t w = 0; w < T.n_words; w++) {
        const int32_t *v = T.w_sym + T.w_off[w];
        for (int32_t i = 0; i + 1 < T.w_len[w]; i++) pair_add(&T, v[i], v[i + 1], T.w_count[w], w, 0);
    }
    for (int32_t k = 0; k < T.n_pairs; k++) heap_push(&T, k);

    /* 3. merges */
    int32_t want = o->vocab_size - U2_TOK_MIN_VOCAB; /* new tokens */
    int32_t n_merges = 0, cap_merges = 0;
    int32_t *ml = NULL, *mr = NULL;
    u2_progress_start(&pg, "merging", want);
    int32_t step = 0;
    while (T.n_sym - 256 < want && T.nheap > 0) {
        heap_ent e = heap_pop(&T);
        int32_t p = e.pair;
        if (T.p_blocked[p]) continue;
        if (e.count != T.p_count[p]) { /* stale: counts only fall between pushes */
            if (T.p_count[p] > 0) heap_push(&T, p);
            continue;
        }
        if (e.count < min_freq) break;
        int32_t a = (int32_t)(T.p_key[p] >> 32), b = (int32_t)(uint32_t)T.p_key[p];
        size_t la = T.s_len[a], lb = T.s_len[b];
        uint8_t small[256], *cat = la + lb <= sizeof small ? small : u2_malloc(la + lb);
        memcpy(cat, T.sb + T.s_off[a], la);
        memcpy(cat + la, T.sb + T.s_off[b], lb);
        if (spells_special(cat, la + lb)) {
            T.p_blocked[p] = 1;
            if (cat != small) free(cat);
            continue;
        }
        uint64_t h = XXH3_64bits(cat, la + lb);
        int32_t s = sym_find(&T, cat, la + lb, h);
        if (s < 0) s = sym_add(&T, cat, la + lb, h); /* else: a second way to the same string */
        if (cat != small) free(cat);
        if (n_merges == cap_merges) {
            cap_merges = cap_merges ? 2 * cap_merges : 1024;
            ml = u2_realloc(ml, (size_t)cap_merges * sizeof *ml);
            mr = u2_realloc(mr, (size_t)cap_merges * sizeof *mr);
        }
        ml[n_merges] = a;
        mr[n_merges] = b;
        n_merges++;
        step++;
        T.n_touched = 0;
        apply_merge(&T, p, a, b, s, step);
        for (int32_t k = 0; k < T.n_touched; k++) {
            int32_t q = T.touched[k];
            if (T.p_count[q] > 0 && !T.p_blocked[q]) heap_push(&T, q);
        }
        u2_progress_update(&pg, T.n_sym - 256, "%d merges, last count %lld", n_merges,
                           (long long)e.count);
    }
    pg.total = T.n_sym - 256; /* less than asked when pairs ran out */
    u2_progress_end(&pg);

    /* 4. the tokenizer: specials 0..3, bytes 4..259, new tokens, [MASK] last */
    int32_t n_new = T.n_sym - 256, n_vocab = U2_TOK_MIN_VOCAB + n_new;
    size_t total = T.sb_used + 64;
    uint8_t *bytes = u2_malloc(total);
    uint32_t *off = u2_malloc((size_t)n_vocab * sizeof *off);
    uint32_t *len = u2_malloc((size_t)n_vocab * sizeof *len);
    size_t pos = 0;
    int32_t special[U2_TOK_NSPECIAL] = {0, 1, 2, 3, n_vocab - 1};
    for (int k = 0; k < U2_TOK_NSPECIAL; k++) {
        size_t n = strlen(u2_tok_special_roberta[k]);
        memcpy(bytes + pos, u2_tok_special_roberta[k], n);
        off[special[k]] = (uint32_t)pos;
        len[special[k]] = (uint32_t)n;
        pos += n;
    }
    for (int32_t k = 0; k < T.n_sym; k++) {
        memcpy(bytes + pos, T.sb + T.s_off[k], T.s_len[k]);
        off[4 + k] = (uint32_t)pos;
        len[4 + k] = T.s_len[k];
        pos += T.s_len[k];
    }
    u2_tokenizer *t = u2_tok_new(n_vocab, special, bytes, off, len, "trained vocabulary");
    for (int32_t r = 0; t && r < n_merges; r++)
        if (u2_tok_add_merge(t, 4 + ml[r], 4 + mr[r]) < 0) { /* cannot happen */
            u2_fail("trained vocabulary", "merge %d is inconsistent", r);
            u2_tok_free(t);
            t = NULL;
        }
    if (t) u2_tok_finish(t);
    free(ml);
    free(mr);
    trainer_free(&T);
    st->merges = n_merges;
    st->vocab_size = n_vocab;
    st->seconds = u2_now() - t0;
    return t;
}
