#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "data.h"
#include "fileio.h"
#include "image.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <jansson.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_WARNINGS 10

static int warn_count;

static void warn(const u2_corpus_opts *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(const u2_corpus_opts *o, const char *fmt, ...)
{
    if (o->quiet) return;
    if (++warn_count > MAX_WARNINGS) {
        if (warn_count == MAX_WARNINGS + 1)
            fprintf(stderr, "unimo2: warning: more bad entries; only the counts follow\n");
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "unimo2: warning: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (skipped)\n");
    va_end(ap);
}

static int file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static char *join(const char *dir, const char *rel)
{
    if (rel[0] == '/') return u2_strdup(rel);
    size_t n = strlen(dir) + strlen(rel) + 2;
    char *p = u2_malloc(n);
    snprintf(p, n, "%s/%s", dir, rel);
    return p;
}

/* Tokenise a caption; 0 ok, 1 skip (warned), counts truncations. */
static int tokenize(u2_corpus *c, const u2_tokenizer *tok, u2_tok_cache *cache, const char *what,
                    const char *text, int max_len, const u2_corpus_opts *o, u2_text *out)
{
    const char *s = text;
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n') s++;
    if (!*s) {
        c->empty_captions++;
        warn(o, "%s: empty caption", what);
        return 1;
    }
    int32_t *ids = u2_malloc(sizeof(int32_t) * (size_t)max_len);
    uint8_t *ws = u2_malloc((size_t)max_len);
    int trunc = 0;
    int32_t n = u2_tok_encode(tok, cache, what, text, NULL, max_len, 0, ids, NULL, ws, &trunc);
    if (n < 0) {
        c->bad_utf8++;
        warn(o, "%s", u2_errmsg());
        free(ids);
        free(ws);
        return 1;
    }
    c->truncated += trunc != 0;
    out->ids = ids;
    out->ws = ws;
    out->len = n;
    return 0;
}

static int load_pairs(u2_corpus *c, const char *path, const u2_tokenizer *tok, u2_tok_cache *cache,
                      const u2_corpus_opts *o, int captions)
{
    FILE *f = fopen(path, "r");
    if (!f) return u2_fail(path, "cannot open: %s", strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int64_t lineno = 0, capn = 0;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    else snprintf(dir, sizeof dir, ".");
    while ((n = getline(&line, &cap, f)) > 0) {
        lineno++;
        char what[4200];
        snprintf(what, sizeof what, "%s:%lld", path, (long long)lineno);
        int blank = 1;
        for (ssize_t i = 0; i < n; i++) blank &= line[i] == ' ' || line[i] == '\n' || line[i] == '\r' || line[i] == '\t';
        if (blank) continue;
        json_error_t je;
        json_t *j = json_loads(line, 0, &je);
        const char *img = j ? json_string_value(json_object_get(j, "image")) : NULL;
        const char *cap_s = j ? json_string_value(json_object_get(j, "caption")) : NULL;
        if (!j || !img || (captions && !cap_s)) {
            c->bad_lines++;
            warn(o, "%s: %s", what, !j ? je.text : !img ? "no \"image\" string" : "no \"caption\" string");
            if (j) json_decref(j);
            continue;
        }
        char *full = join(dir, img);
        if (!file_exists(full)) {
            c->missing_images++;
            warn(o, "%s: image %s is missing", what, full);
            free(full);
            json_decref(j);
            continue;
        }
        if (captions) {
            u2_text t;
            if (tokenize(c, tok, cache, what, cap_s, o->max_len, o, &t)) {
                free(full);
                json_decref(j);
                continue;
            }
            if (c->npairs == capn) {
                capn = capn ? 2 * capn : 1024;
                c->pair_img = u2_realloc(c->pair_img, sizeof(char *) * (size_t)capn);
                c->pair_txt = u2_realloc(c->pair_txt, sizeof(u2_text) * (size_t)capn);
            }
            c->pair_img[c->npairs] = full;
            c->pair_txt[c->npairs++] = t;
        } else {
            if (c->nimages == capn) {
                capn = capn ? 2 * capn : 1024;
                c->images = u2_realloc(c->images, sizeof(char *) * (size_t)capn);
            }
            c->images[c->nimages++] = full;
        }
        json_decref(j);
    }
    free(line);
    fclose(f);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int load_image_folder(u2_corpus *c, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return u2_fail(dir, "cannot open the image folder: %s", strerror(errno));
    struct dirent *e;
    int64_t capn = 0;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 6 || strcmp(e->d_name + l - 5, ".webp") != 0) continue;
        if (c->nimages == capn) {
            capn = capn ? 2 * capn : 1024;
            c->images = u2_realloc(c->images, sizeof(char *) * (size_t)capn);
        }
        c->images[c->nimages++] = join(dir, e->d_name);
    }
    closedir(d);
    qsort(c->images, (size_t)c->nimages, sizeof(char *), cmp_str);
    return 0;
}

static int load_texts(u2_corpus *c, const char *path, const u2_tokenizer *tok, u2_tok_cache *cache,
                      const u2_corpus_opts *o)
{
    FILE *f = fopen(path, "r");
    if (!f) return u2_fail(path, "cannot open: %s", strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int64_t lineno = 0, capn = 0;
    while ((n = getline(&line, &cap, f)) > 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
        if (n == 0) continue; /* blank lines separate nothing: not an error */
        char what[4200];
        snprintf(what, sizeof what, "%s:%lld", path, (long long)lineno);
        u2_text t;
        if (tokenize(c, tok, cache, what, line, o->max_len, o, &t)) continue;
        if (c->ntexts == capn) {
            capn = capn ? 2 * capn : 4096;
            c->texts = u2_realloc(c->texts, sizeof(u2_text) * (size_t)capn);
        }
        c->texts[c->ntexts++] = t;
    }
    free(line);
    fclose(f);
    return 0;
}

/* Decode every image once; drop the ones that fail (order kept). */
static void validate(u2_corpus *c, char **paths, u2_text *txt, int *n, const u2_corpus_opts *o)
{
    int N = *n;
    char *ok = u2_calloc((size_t)(N ? N : 1), 1);
    char **err = u2_calloc((size_t)(N ? N : 1), sizeof(char *));
#pragma omp parallel for schedule(dynamic, 16)
    for (int i = 0; i < N; i++) {
        u2_image im;
        if (u2_image_load(paths[i], &im) == 0) {
            ok[i] = 1;
            u2_image_free(&im);
        } else {
            err[i] = u2_strdup(u2_errmsg());
        }
    }
    int w = 0;
    for (int i = 0; i < N; i++) {
        if (ok[i]) {
            paths[w] = paths[i];
            if (txt) txt[w] = txt[i];
            w++;
        } else {
            c->corrupt_images++;
            warn(o, "%s", err[i]);
            free(err[i]);
            free(paths[i]);
            if (txt) {
                free(txt[i].ids);
                free(txt[i].ws);
            }
        }
    }
    *n = w;
    free(ok);
    free(err);
}

int u2_corpus_load(u2_corpus *c, const char *dir, const u2_tokenizer *tok, const u2_corpus_opts *o)
{
    memset(c, 0, sizeof *c);
    warn_count = 0;
    c->dir = u2_strdup(dir);
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        u2_fail(dir, "not a data directory (unimo2 gen-data --out %s makes one)", dir);
        goto fail;
    }
    u2_tok_cache *cache = u2_tok_cache_new();
    char path[4096];
    int rc = 0;
    if (o->pairs) {
        snprintf(path, sizeof path, "%s/pairs.jsonl", dir);
        if (file_exists(path)) rc |= load_pairs(c, path, tok, cache, o, 1);
    }
    if (o->images && !rc) {
        snprintf(path, sizeof path, "%s/images.jsonl", dir);
        if (file_exists(path)) rc |= load_pairs(c, path, tok, cache, o, 0);
        else {
            snprintf(path, sizeof path, "%s/images", dir);
            if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) rc |= load_image_folder(c, path);
        }
    }
    if (o->texts && !rc) {
        snprintf(path, sizeof path, "%s/texts.txt", dir);
        if (file_exists(path)) rc |= load_texts(c, path, tok, cache, o);
    }
    u2_tok_cache_free(cache);
    if (rc) goto fail;
    if (o->validate_images) {
        validate(c, c->pair_img, c->pair_txt, &c->npairs, o);
        validate(c, c->images, NULL, &c->nimages, o);
    }
    int64_t skipped = c->bad_lines + c->missing_images + c->corrupt_images + c->empty_captions +
                      c->bad_utf8;
    if (skipped && !o->quiet)
        fprintf(stderr,
                "unimo2: warning: %s: skipped %lld entries (%lld bad lines, %lld missing images, "
                "%lld corrupt images, %lld empty captions, %lld invalid UTF-8)\n",
                dir, (long long)skipped, (long long)c->bad_lines, (long long)c->missing_images,
                (long long)c->corrupt_images, (long long)c->empty_captions, (long long)c->bad_utf8);
    if (c->truncated && !o->quiet)
        fprintf(stderr, "unimo2: warning: %s: %lld texts longer than %d tokens were truncated\n", dir,
                (long long)c->truncated, o->max_len);
    if (c->npairs + c->ntexts + c->nimages == 0) {
        u2_fail(dir, "no usable training data (looked for pairs.jsonl, images.jsonl or images/, "
                     "texts.txt)");
        goto fail;
    }
    return 0;
fail:
    u2_corpus_free(c);
    return -1;
}

void u2_corpus_free(u2_corpus *c)
{
    for (int i = 0; i < c->npairs; i++) {
        free(c->pair_img[i]);
        free(c->pair_txt[i].ids);
        free(c->pair_txt[i].ws);
    }
    for (int i = 0; i < c->ntexts; i++) {
        free(c->texts[i].ids);
        free(c->texts[i].ws);
    }
    for (int i = 0; i < c->nimages; i++) free(c->images[i]);
    free(c->pair_img);
    free(c->pair_txt);
    free(c->texts);
    free(c->images);
    free(c->dir);
    memset(c, 0, sizeof *c);
}

/* ------------------------------------------------------------- batches */

void u2_mlm_mask(int32_t *ids, const uint8_t *ws, int len, float ratio, int whole_word,
                 int32_t mask_id, int vocab, u2_rng *r, int32_t *labels)
{
    for (int j = 0; j < len; j++) labels[j] = -1;
    /* content tokens: between [CLS] and the final [SEP] */
    int first = 1, last = len - 2, ncand = last - first + 1;
    if (ncand <= 0) return;
    int want = (int)(ratio * (float)ncand + 0.5f);
    if (want < 1) want = 1;
    /* candidates in a random order: single tokens, or whole words */
    int32_t *order = u2_malloc(sizeof(int32_t) * (size_t)ncand);
    for (int j = 0; j < ncand; j++) order[j] = first + j;
    u2_rng_shuffle_i32(r, order, ncand);
    int chosen = 0;
    for (int k = 0; k < ncand && chosen < want; k++) {
        int p = order[k];
        if (labels[p] >= 0) continue;
        int a = p, b = p;
        if (whole_word) {
            while (a > first && !ws[a]) a--;
            b = a;
            while (b + 1 <= last && !ws[b + 1]) b++;
        }
        for (int q = a; q <= b; q++) {
            labels[q] = ids[q];
            chosen++;
        }
    }
    for (int j = first; j <= last; j++) {
        if (labels[j] < 0) continue;
        float u = u2_rng_uniform(r);
        if (u < 0.8f) ids[j] = mask_id;
        else if (u < 0.9f) ids[j] = 4 + (int32_t)u2_rng_below(r, (uint64_t)(vocab - 5));
    }
    free(order);
}

/* Index of the g-th sample of a corpus of n items: epochs in seeded orders. */
typedef struct {
    int64_t epoch;
    int n;
    uint64_t seed;
    int32_t *perm;
} epoch_cache;

static int32_t pick(epoch_cache *ec, int n, uint64_t seed, int corpus, int64_t g)
{
    int64_t e = g / n;
    if (!ec->perm || ec->epoch != e || ec->n != n || ec->seed != seed) {
        if (ec->n != n) {
            free(ec->perm);
            ec->perm = NULL;
        }
        if (!ec->perm) ec->perm = u2_malloc(sizeof(int32_t) * (size_t)n);
        ec->n = n;
        ec->seed = seed;
        for (int i = 0; i < n; i++) ec->perm[i] = i;
        u2_rng r = u2_rng_stream(seed, ((uint64_t)corpus << 48) ^ (uint64_t)e);
        u2_rng_shuffle_i32(&r, ec->perm, n);
        ec->epoch = e;
    }
    return ec->perm[g % n];
}

static epoch_cache caches[3];
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;

int u2_batch_make(const u2_corpus *c, const u2_batch_opts *o, int64_t step, u2_batch_buf *out)
{
    const int bp = c->npairs ? o->bp : 0, bt = c->ntexts ? o->bt : 0, bi = c->nimages ? o->bi : 0;
    const int S = o->image_size, n_img = bp + 2 * bi, n_txt = bp + bt;
    const size_t pix = (size_t)n_img * 3 * (size_t)S * (size_t)S;
    int32_t *sel_p = u2_malloc(sizeof(int32_t) * (size_t)(bp + 1));
    int32_t *sel_t = u2_malloc(sizeof(int32_t) * (size_t)(bt + 1));
    int32_t *sel_i = u2_malloc(sizeof(int32_t) * (size_t)(bi + 1));
    pthread_mutex_lock(&cache_lock);
    for (int j = 0; j < bp; j++) sel_p[j] = pick(&caches[0], c->npairs, o->seed, 0, step * bp + j);
    for (int j = 0; j < bt; j++) sel_t[j] = pick(&caches[1], c->ntexts, o->seed, 1, step * bt + j);
    for (int j = 0; j < bi; j++) sel_i[j] = pick(&caches[2], c->nimages, o->seed, 2, step * bi + j);
    pthread_mutex_unlock(&cache_lock);
    int tl = 2;
    for (int j = 0; j < bp; j++) tl = tl > c->pair_txt[sel_p[j]].len ? tl : c->pair_txt[sel_p[j]].len;
    for (int j = 0; j < bt; j++) tl = tl > c->texts[sel_t[j]].len ? tl : c->texts[sel_t[j]].len;
    const size_t txt = (size_t)n_txt * (size_t)tl;
    if (pix > out->cap_pix) {
        free(out->pixels);
        out->pixels = u2_malloc(sizeof(float) * pix);
        out->cap_pix = pix;
    }
    if (txt > out->cap_txt) {
        free(out->ids);
        free(out->attn);
        free(out->labels);
        out->ids = u2_malloc(sizeof(int32_t) * txt);
        out->attn = u2_malloc(sizeof(int32_t) * txt);
        out->labels = u2_malloc(sizeof(int32_t) * txt);
        out->cap_txt = txt;
    }
    int rc = 0;
    /* texts: pair captions (masked at mask_pairs) then text-only (mask_texts) */
    for (int j = 0; j < n_txt && !rc; j++) {
        const u2_text *t = j < bp ? &c->pair_txt[sel_p[j]] : &c->texts[sel_t[j - bp]];
        int32_t *ids = out->ids + (size_t)j * tl, *lab = out->labels + (size_t)j * tl;
        for (int q = 0; q < tl; q++) {
            ids[q] = q < t->len ? t->ids[q] : 1; /* [PAD] = 1 */
            out->attn[(size_t)j * tl + q] = q < t->len;
            lab[q] = -1;
        }
        u2_rng r = u2_rng_stream(o->seed, 0x6d6c6d0000000000ULL ^ ((uint64_t)step << 16) ^ (uint64_t)j);
        u2_mlm_mask(ids, t->ws, t->len, j < bp ? o->mask_pairs : o->mask_texts, o->whole_word,
                    o->mask_id, o->vocab, &r, lab);
    }
    /* images: pair images plain, image-only as two augmented views (view n and bi+n) */
    const size_t one = 3 * (size_t)S * (size_t)S;
    for (int j = 0; j < bp && !rc; j++)
        if (u2_image_load_tensor(c->pair_img[sel_p[j]], S, out->pixels + (size_t)j * one) != 0) rc = -1;
    for (int j = 0; j < bi && !rc; j++) {
        u2_image im;
        if (u2_image_load(c->images[sel_i[j]], &im) != 0) {
            rc = -1;
            break;
        }
        for (int v = 0; v < 2; v++) {
            u2_rng r = u2_rng_stream(o->seed, 0x617567ULL << 40 ^ ((uint64_t)step << 20) ^
                                                  ((uint64_t)j << 1) ^ (uint64_t)v);
            u2_augment(&im, &o->aug, &r, S, out->pixels + (size_t)(bp + v * bi + j) * one, NULL);
        }
        u2_image_free(&im);
    }
    free(sel_p);
    free(sel_t);
    free(sel_i);
    out->step = step;
    out->b = (u2_batch){.n_img = n_img, .n_txt = n_txt, .tl = tl, .pixels = out->pixels,
                        .ids = out->ids, .attn = out->attn, .mlm_labels = out->labels, .bp = bp,
                        .bt = bt, .bi = 2 * bi, .itm_neg_img = NULL, .itm_neg_txt = NULL,
                        .neg_seed = o->seed ^ (0x9e3779b97f4a7c15ULL * (uint64_t)(step + 1))};
    return rc;
}

void u2_batch_buf_free(u2_batch_buf *b)
{
    free(b->pixels);
    free(b->ids);
    free(b->attn);
    free(b->labels);
    memset(b, 0, sizeof *b);
}

/* ------------------------------------------------------------ prefetch */

struct u2_prefetch {
    const u2_corpus *c;
    u2_batch_opts o;
    u2_batch_buf buf[2];
    int ready[2], failed[2];
    char err[2][1024];
    int64_t next_make, next_take; /* counted in batches handed out */
    int64_t first, stride;
    int stop;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

static void *worker(void *arg)
{
    u2_prefetch *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        int slot = (int)(p->next_make & 1);
        while (!p->stop && p->ready[slot]) pthread_cond_wait(&p->cv, &p->mu);
        if (p->stop) break;
        int64_t step = p->first + p->next_make * p->stride;
        pthread_mutex_unlock(&p->mu);
        int rc = u2_batch_make(p->c, &p->o, step, &p->buf[slot]);
        pthread_mutex_lock(&p->mu);
        p->failed[slot] = rc != 0;
        if (rc) snprintf(p->err[slot], sizeof p->err[slot], "%s", u2_errmsg());
        p->ready[slot] = 1;
        p->next_make++;
        pthread_cond_broadcast(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

u2_prefetch *u2_prefetch_start(const u2_corpus *c, const u2_batch_opts *o, int64_t first,
                               int64_t stride)
{
    u2_prefetch *p = u2_calloc(1, sizeof *p);
    p->c = c;
    p->o = *o;
    p->first = first;
    p->stride = stride > 0 ? stride : 1;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    if (pthread_create(&p->th, NULL, worker, p) != 0) {
        free(p);
        u2_fail("prefetch", "cannot start the data thread");
        return NULL;
    }
    return p;
}

const u2_batch_buf *u2_prefetch_next(u2_prefetch *p)
{
    pthread_mutex_lock(&p->mu);
    /* the slot of the previous step is free again */
    int prev = (int)((p->next_take - 1) & 1);
    if (p->next_take > 0 && p->ready[prev] == 2) {
        p->ready[prev] = 0;
        pthread_cond_broadcast(&p->cv);
    }
    int slot = (int)(p->next_take & 1);
    while (p->ready[slot] != 1) pthread_cond_wait(&p->cv, &p->mu);
    p->ready[slot] = 2; /* in use by the caller until the next call */
    p->next_take++;
    int failed = p->failed[slot];
    if (failed) u2_fail(NULL, "%s", p->err[slot]);
    pthread_mutex_unlock(&p->mu);
    return failed ? NULL : &p->buf[slot];
}

void u2_prefetch_stop(u2_prefetch *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->th, NULL);
    u2_batch_buf_free(&p->buf[0]);
    u2_batch_buf_free(&p->buf[1]);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
}
