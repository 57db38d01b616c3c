#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "eval.h"
#include "fileio.h"
#include "image.h"
#include "infer.h"
#include "kernels.h"
#include "model.h"
#include "data.h"
#include "progress.h"
#include "rng.h"
#include "tokenizer.h"
#include "util.h"

#include <jansson.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>

void u2_eval_defaults(u2_eval_opts *o)
{
    memset(o, 0, sizeof *o);
    o->exact_limit = 100;
    o->shortlist = 16;
}

/* ------------------------------------------------------------ loading */

typedef struct {
    int n;
    char **img, **text; /* text: caption or label */
} manifest;

static void manifest_free(manifest *m)
{
    for (int i = 0; i < m->n; i++) {
        free(m->img[i]);
        free(m->text[i]);
    }
    free(m->img);
    free(m->text);
    memset(m, 0, sizeof *m);
}

/* Lines {"image": ..., key: ...} of DIR/name; paths made relative to DIR. */
static int manifest_load(const char *dir, const char *name, const char *key, int limit, manifest *m)
{
    memset(m, 0, sizeof *m);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    if (!f) return u2_fail(path, "cannot open (is %s a data directory made by gen-data?)", dir);
    char *line = NULL;
    size_t cap = 0;
    int capn = 0, lineno = 0;
    while (getline(&line, &cap, f) > 0 && (limit <= 0 || m->n < limit)) {
        lineno++;
        json_error_t je;
        json_t *j = json_loads(line, 0, &je);
        const char *im = j ? json_string_value(json_object_get(j, "image")) : NULL;
        const char *tx = j ? json_string_value(json_object_get(j, key)) : NULL;
        if (!im || !tx) {
            if (j) json_decref(j);
            fclose(f);
            free(line);
            manifest_free(m);
            return u2_fail(path, "line %d: expected {\"image\": ..., \"%s\": ...}", lineno, key);
        }
        if (m->n == capn) {
            capn = capn ? 2 * capn : 256;
            m->img = u2_realloc(m->img, sizeof(char *) * (size_t)capn);
            m->text = u2_realloc(m->text, sizeof(char *) * (size_t)capn);
        }
        char full[8192];
        snprintf(full, sizeof full, "%s/%s", dir, im);
        m->img[m->n] = u2_strdup(im[0] == '/' ? im : full);
        m->text[m->n++] = u2_strdup(tx);
        json_decref(j);
    }
    free(line);
    fclose(f);
    if (m->n == 0) return u2_fail(path, "has no entries");
    return 0;
}

typedef struct {
    u2_model m;
    u2_tokenizer *tok;
    u2_fwd f;
} evalctx;

static int ctx_open(evalctx *e, const char *model)
{
    memset(e, 0, sizeof *e);
    if (u2_model_load(&e->m, model) != 0) return -1;
    char dir[4096];
    struct stat st;
    if (stat(model, &st) == 0 && S_ISDIR(st.st_mode)) snprintf(dir, sizeof dir, "%s", model);
    else {
        const char *s = strrchr(model, '/');
        snprintf(dir, sizeof dir, "%.*s", s ? (int)(s - model) : 1, s ? model : ".");
    }
    e->tok = u2_tok_load_dir(dir);
    if (!e->tok) {
        u2_model_free(&e->m);
        return -1;
    }
    u2_fwd_init(&e->f, &e->m, 0);
    return 0;
}

static void ctx_close(evalctx *e)
{
    u2_fwd_free(&e->f);
    u2_tok_free(e->tok);
    u2_model_free(&e->m);
}

/* The held-out pairs (eval.jsonl) and the model. */
static int open_pairs(const u2_eval_opts *o, manifest *mf, evalctx *e)
{
    if (manifest_load(o->data, "eval.jsonl", "caption", o->limit, mf) != 0) return -1;
    if (ctx_open(e, o->model) != 0) {
        manifest_free(mf);
        return -1;
    }
    return 0;
}

/* Encode images and texts into e->f; returns 0 or -1. */
static int encode(evalctx *e, char **imgs, int ni, char **texts, int nt)
{
    const int S = e->m.L.cfg.image_size;
    float *px = u2_malloc(sizeof(float) * (size_t)(ni ? ni : 1) * 3 * (size_t)S * (size_t)S);
    if (ni && u2_image_load_batch((const char *const *)imgs, ni, S, px) != 0) {
        free(px);
        return -1;
    }
    int32_t *ids = NULL, *attn = NULL;
    int tl = 2;
    if (nt) {
        tl = u2_infer_tokenize(e->tok, (const char *const *)texts, nt, e->m.L.cfg.max_text_len, &ids,
                               &attn, NULL);
        if (tl < 0) {
            free(px);
            return -1;
        }
    }
    u2_fwd_reset(&e->f);
    u2_infer_encode(&e->f, px, ni, ids, attn, nt, tl);
    /* the fwd keeps pointers to the inputs: they live as long as the pass */
    e->f.pixels = NULL;
    free(px);
    /* ids/attn are read again by the fusion (padding masks): keep them in the arena */
    if (nt) {
        int32_t *ki = u2_arena_alloc_i32(&e->f.arena, (size_t)nt * (size_t)tl);
        int32_t *ka = u2_arena_alloc_i32(&e->f.arena, (size_t)nt * (size_t)tl);
        memcpy(ki, ids, sizeof(int32_t) * (size_t)nt * (size_t)tl);
        memcpy(ka, attn, sizeof(int32_t) * (size_t)nt * (size_t)tl);
        e->f.ids = ki;
        e->f.attn = ka;
        free(ids);
        free(attn);
    }
    return 0;
}

/* rank of the truth among n candidates: how many others score at least as high */
static int rank_of(const float *s, int n, int truth)
{
    int r = 0;
    for (int j = 0; j < n; j++)
        if (j != truth && s[j] >= s[truth]) r++;
    return r;
}

static void recall(u2_retrieval *r, const int *rank_i2t, const int *rank_t2i, int n)
{
    static const int ks[3] = {1, 5, 10};
    r->n = n;
    for (int k = 0; k < 3; k++) {
        int a = 0, b = 0;
        for (int i = 0; i < n; i++) {
            a += rank_i2t[i] < ks[k];
            b += rank_t2i[i] < ks[k];
        }
        r->i2t[k] = (double)a / n;
        r->t2i[k] = (double)b / n;
    }
}

/* ------------------------------------------------------------ retrieval */

int u2_eval_retrieval(const u2_eval_opts *o, u2_retrieval_report *rep)
{
    memset(rep, 0, sizeof *rep);
    manifest mf;
    evalctx e;
    if (open_pairs(o, &mf, &e) != 0) return -1;
    int rc = -1;
    const int n = mf.n;
    int *ri = u2_malloc(sizeof(int) * (size_t)n), *rt = u2_malloc(sizeof(int) * (size_t)n);
    float *cos = u2_malloc(sizeof(float) * (size_t)n * (size_t)n);
    if (encode(&e, mf.img, n, mf.text, n) != 0) goto out;

    /* CMCL cosine alone, every pair */
    double t0 = u2_now();
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) cos[(size_t)i * n + j] = u2_cmcl_cosine(&e.f, i, j);
    float *col = u2_malloc(sizeof(float) * (size_t)n);
    for (int i = 0; i < n; i++) {
        ri[i] = rank_of(cos + (size_t)i * n, n, i);
        for (int j = 0; j < n; j++) col[j] = cos[(size_t)j * n + i];
        rt[i] = rank_of(col, n, i);
    }
    recall(&rep->cmcl, ri, rt, n);
    rep->cmcl.seconds = u2_now() - t0;

    /* CMCL shortlist of k in each direction, re-ranked by the exact score */
    const int k = o->shortlist < n ? o->shortlist : n;
    rep->k = k;
    t0 = u2_now();
    {
        int64_t np = 2 * (int64_t)n * k;
        int32_t *ii = u2_malloc(sizeof(int32_t) * (size_t)np), *tt = u2_malloc(sizeof(int32_t) * (size_t)np);
        int32_t *top = u2_malloc(sizeof(int32_t) * (size_t)k);
        float *sc = u2_malloc(sizeof(float) * (size_t)np);
        int64_t p = 0;
        for (int i = 0; i < n; i++) { /* image i: its k nearest texts */
            u2_topk(cos + (size_t)i * n, n, k, top);
            for (int q = 0; q < k; q++) ii[p] = i, tt[p++] = top[q];
        }
        for (int j = 0; j < n; j++) { /* text j: its k nearest images */
            for (int i = 0; i < n; i++) col[i] = cos[(size_t)i * n + j];
            u2_topk(col, n, k, top);
            for (int q = 0; q < k; q++) ii[p] = top[q], tt[p++] = j;
        }
        u2_progress pg;
        u2_progress_start(&pg, "eval shortlist", np);
        for (int64_t s = 0; s < np; s += 256) {
            int64_t m = np - s < 256 ? np - s : 256;
            u2_infer_pairs(&e.f, ii + s, tt + s, m, NULL, NULL, sc + s);
            u2_progress_update(&pg, s + m, NULL);
        }
        u2_progress_end(&pg);
        float *cand = u2_malloc(sizeof(float) * (size_t)k);
        for (int i = 0; i < n; i++) {
            /* rank among the shortlist; a truth outside it ranks k (a miss for R@k) */
            int at = -1;
            for (int q = 0; q < k; q++) {
                cand[q] = sc[(size_t)i * k + q];
                if (tt[(size_t)i * k + q] == i) at = q;
            }
            ri[i] = at < 0 ? k : rank_of(cand, k, at);
        }
        for (int j = 0; j < n; j++) {
            int at = -1;
            int64_t base = (int64_t)n * k + (int64_t)j * k;
            for (int q = 0; q < k; q++) {
                cand[q] = sc[base + q];
                if (ii[base + q] == j) at = q;
            }
            rt[j] = at < 0 ? k : rank_of(cand, k, at);
        }
        free(cand);
        free(ii);
        free(tt);
        free(top);
        free(sc);
    }
    recall(&rep->shortlist, ri, rt, n);
    rep->shortlist.seconds = u2_now() - t0;

    /* the exact score of every pair among the first exact_limit */
    const int ne = o->exact_limit > 0 && o->exact_limit < n ? o->exact_limit : n;
    t0 = u2_now();
    {
        int64_t np = (int64_t)ne * ne;
        int32_t *ii = u2_malloc(sizeof(int32_t) * (size_t)np), *tt = u2_malloc(sizeof(int32_t) * (size_t)np);
        float *sc = u2_malloc(sizeof(float) * (size_t)np);
        for (int64_t p = 0; p < np; p++) {
            ii[p] = (int32_t)(p / ne);
            tt[p] = (int32_t)(p % ne);
        }
        u2_progress pg;
        u2_progress_start(&pg, "eval all pairs", np);
        for (int64_t s = 0; s < np; s += 256) {
            int64_t m = np - s < 256 ? np - s : 256;
            u2_infer_pairs(&e.f, ii + s, tt + s, m, NULL, NULL, sc + s);
            u2_progress_update(&pg, s + m, NULL);
        }
        u2_progress_end(&pg);
        for (int i = 0; i < ne; i++) {
            ri[i] = rank_of(sc + (size_t)i * ne, ne, i);
            for (int j = 0; j < ne; j++) col[j] = sc[(size_t)j * ne + i];
            rt[i] = rank_of(col, ne, i);
        }
        free(ii);
        free(tt);
        free(sc);
    }
    recall(&rep->exact, ri, rt, ne);
    rep->exact.seconds = u2_now() - t0;
    free(col);
    rc = 0;
out:
    free(ri);
    free(rt);
    free(cos);
    ctx_close(&e);
    manifest_free(&mf);
    return rc;
}

/* ------------------------------------------------------------ labels */

typedef struct {
    int nl;
    char **labels;
    char prompt[128];
} labelset;

static void labels_free(labelset *l)
{
    for (int i = 0; i < l->nl; i++) free(l->labels[i]);
    free(l->labels);
}

static int labels_load(const char *dir, labelset *l)
{
    memset(l, 0, sizeof *l);
    char path[4096];
    snprintf(path, sizeof path, "%s/labels.txt", dir);
    FILE *f = fopen(path, "r");
    if (!f) return u2_fail(path, "cannot open (the data set has no label set)");
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
        if (!n) continue;
        l->labels = u2_realloc(l->labels, sizeof(char *) * (size_t)(l->nl + 1));
        l->labels[l->nl++] = u2_strdup(line);
    }
    free(line);
    fclose(f);
    if (l->nl < 2) return u2_fail(path, "needs at least two labels");
    snprintf(l->prompt, sizeof l->prompt, "a photo of a {label}");
    snprintf(path, sizeof path, "%s/dataset.json", dir);
    json_t *j = json_load_file(path, 0, NULL);
    const char *p = j ? json_string_value(json_object_get(j, "classify_prompt")) : NULL;
    if (p && strstr(p, "{label}")) snprintf(l->prompt, sizeof l->prompt, "%s", p);
    if (j) json_decref(j);
    return 0;
}

static char *fill_prompt(const char *prompt, const char *label)
{
    const char *at = strstr(prompt, "{label}");
    size_t n = strlen(prompt) + strlen(label) + 1;
    char *s = u2_malloc(n);
    snprintf(s, n, "%.*s%s%s", (int)(at - prompt), prompt, label, at + 7);
    return s;
}

static int label_index(const labelset *l, const char *name)
{
    for (int i = 0; i < l->nl; i++)
        if (!strcmp(l->labels[i], name)) return i;
    return -1;
}

/* The labelled evaluation images (labels.txt, eval_labels.jsonl) and the model. */
static int open_labelled(const u2_eval_opts *o, labelset *ls, manifest *mf, evalctx *e)
{
    if (labels_load(o->data, ls) != 0) return -1;
    if (manifest_load(o->data, "eval_labels.jsonl", "label", o->limit, mf) != 0) {
        labels_free(ls);
        return -1;
    }
    if (ctx_open(e, o->model) != 0) {
        manifest_free(mf);
        labels_free(ls);
        return -1;
    }
    return 0;
}

static void close_labelled(labelset *ls, manifest *mf, evalctx *e)
{
    ctx_close(e);
    manifest_free(mf);
    labels_free(ls);
}

int u2_eval_classify(const u2_eval_opts *o, u2_classify_report *rep)
{
    memset(rep, 0, sizeof *rep);
    labelset ls;
    manifest mf;
    evalctx e;
    if (open_labelled(o, &ls, &mf, &e) != 0) return -1;
    int rc = -1;
    char **prompts = u2_calloc((size_t)ls.nl, sizeof(char *));
    for (int i = 0; i < ls.nl; i++) prompts[i] = fill_prompt(ls.prompt, ls.labels[i]);
    double t0 = u2_now();
    if (encode(&e, mf.img, mf.n, prompts, ls.nl) != 0) goto out;
    const int n = mf.n, nl = ls.nl;
    int64_t np = (int64_t)n * nl;
    int32_t *ii = u2_malloc(sizeof(int32_t) * (size_t)np), *tt = u2_malloc(sizeof(int32_t) * (size_t)np);
    float *sc = u2_malloc(sizeof(float) * (size_t)np);
    for (int64_t p = 0; p < np; p++) {
        ii[p] = (int32_t)(p / nl);
        tt[p] = (int32_t)(p % nl);
    }
    u2_infer_pairs(&e.f, ii, tt, np, NULL, NULL, sc);
    int ok = 0, okc = 0, counted = 0;
    for (int i = 0; i < n; i++) {
        int truth = label_index(&ls, mf.text[i]);
        if (truth < 0) continue;
        counted++;
        int best = 0, bestc = 0;
        float bc = -INFINITY;
        for (int j = 0; j < nl; j++) {
            if (sc[(size_t)i * nl + j] > sc[(size_t)i * nl + best]) best = j;
            float cs = u2_cmcl_cosine(&e.f, i, j);
            if (cs > bc) bc = cs, bestc = j;
        }
        ok += best == truth;
        okc += bestc == truth;
    }
    free(ii);
    free(tt);
    free(sc);
    if (!counted) {
        u2_fail(o->data, "eval_labels.jsonl names no label of labels.txt");
        goto out;
    }
    rep->n = counted;
    rep->nlabels = nl;
    rep->acc = (double)ok / counted;
    rep->acc_cmcl = (double)okc / counted;
    rep->chance = 1.0 / nl;
    rep->seconds = u2_now() - t0;
    snprintf(rep->prompt, sizeof rep->prompt, "%s", ls.prompt);
    rc = 0;
out:
    for (int i = 0; i < ls.nl; i++) free(prompts[i]);
    free(prompts);
    close_labelled(&ls, &mf, &e);
    return rc;
}

/* ------------------------------------------------------------ probe */

/* Multinomial logistic regression on frozen features by full-batch gradient
 * descent (deterministic): features of the even-numbered labelled images
 * train it, the odd-numbered ones test it. */
int u2_eval_probe(const u2_eval_opts *o, u2_probe_report *rep)
{
    memset(rep, 0, sizeof *rep);
    labelset ls;
    manifest mf;
    evalctx e;
    if (open_labelled(o, &ls, &mf, &e) != 0) return -1;
    int rc = -1;
    double t0 = u2_now();
    if (encode(&e, mf.img, mf.n, NULL, 0) != 0) goto out;
    const int n = mf.n, nl = ls.nl, D = e.m.L.cfg.hidden;
    float *X = u2_malloc(sizeof(float) * (size_t)n * (size_t)D);
    u2_infer_image_embeddings(&e.f, X);
    int *y = u2_malloc(sizeof(int) * (size_t)n);
    for (int i = 0; i < n; i++) y[i] = label_index(&ls, mf.text[i]);
    double *W = u2_calloc((size_t)nl * (size_t)(D + 1), sizeof(double));
    double *G = u2_malloc(sizeof(double) * (size_t)nl * (size_t)(D + 1)), *p = u2_malloc(sizeof(double) * (size_t)nl);
    int ntr = 0;
    for (int i = 0; i < n; i += 2) ntr += y[i] >= 0;
    for (int it = 0; it < 500 && ntr > 0; it++) {
        memset(G, 0, sizeof(double) * (size_t)nl * (size_t)(D + 1));
        for (int i = 0; i < n; i += 2) {
            if (y[i] < 0) continue;
            double mx = -INFINITY, s = 0;
            for (int c = 0; c < nl; c++) {
                double z = W[(size_t)c * (D + 1) + D];
                for (int d = 0; d < D; d++) z += W[(size_t)c * (D + 1) + d] * X[(size_t)i * D + d];
                p[c] = z;
                mx = fmax(mx, z);
            }
            for (int c = 0; c < nl; c++) s += p[c] = exp(p[c] - mx);
            for (int c = 0; c < nl; c++) {
                double g = p[c] / s - (c == y[i]);
                for (int d = 0; d < D; d++) G[(size_t)c * (D + 1) + d] += g * X[(size_t)i * D + d];
                G[(size_t)c * (D + 1) + D] += g;
            }
        }
        for (size_t q = 0; q < (size_t)nl * (size_t)(D + 1); q++)
            W[q] -= 2.0 * (G[q] / ntr + 1e-4 * W[q]);
    }
    int ok = 0, nte = 0;
    for (int i = 1; i < n; i += 2) {
        if (y[i] < 0) continue;
        nte++;
        int best = 0;
        double bz = -INFINITY;
        for (int c = 0; c < nl; c++) {
            double z = W[(size_t)c * (D + 1) + D];
            for (int d = 0; d < D; d++) z += W[(size_t)c * (D + 1) + d] * X[(size_t)i * D + d];
            if (z > bz) bz = z, best = c;
        }
        ok += best == y[i];
    }
    rep->ntrain = ntr;
    rep->ntest = nte;
    rep->nlabels = nl;
    rep->acc = nte ? (double)ok / nte : 0;
    rep->chance = 1.0 / nl;
    rep->seconds = u2_now() - t0;
    free(X);
    free(y);
    free(W);
    free(G);
    free(p);
    rc = nte ? 0 : u2_fail(o->data, "too few labelled images for a probe");
out:
    close_labelled(&ls, &mf, &e);
    return rc;
}

/* ------------------------------------------------------------ MLM */

int u2_eval_mlm(const u2_eval_opts *o, u2_mlm_report *rep)
{
    memset(rep, 0, sizeof *rep);
    manifest mf;
    evalctx e;
    if (open_pairs(o, &mf, &e) != 0) return -1;
    int rc = -1;
    const int S = e.m.L.cfg.image_size;
    double t0 = u2_now();
    int32_t *ids = NULL, *attn = NULL;
    int tl = u2_infer_tokenize(e.tok, (const char *const *)mf.text, mf.n, e.m.L.cfg.max_text_len,
                               &ids, &attn, NULL);
    if (tl < 0) goto out;
    int32_t *labels = u2_malloc(sizeof(int32_t) * (size_t)mf.n * (size_t)tl);
    uint8_t *ws = u2_malloc((size_t)tl);
    memset(ws, 1, (size_t)tl);
    const int32_t mask_id = u2_tok_special_id(e.tok, U2_TOK_MASK);
    for (int i = 0; i < mf.n; i++) {
        int len = 0;
        for (int j = 0; j < tl; j++) len += attn[(size_t)i * tl + j] != 0;
        u2_rng r = u2_rng_stream(12345, (uint64_t)i);
        /* [MASK] only: ratio 0.15, then force every chosen position to [MASK] */
        int32_t *row = ids + (size_t)i * tl, *lab = labels + (size_t)i * tl;
        u2_mlm_mask(row, ws, len, 0.15f, 0, mask_id, u2_tok_vocab_size(e.tok), &r, lab);
        for (int j = len; j < tl; j++) lab[j] = -1;
        for (int j = 0; j < len; j++)
            if (lab[j] >= 0) row[j] = mask_id;
    }
    enum { CH = 32 };
    float *px = u2_malloc(sizeof(float) * CH * 3 * (size_t)S * (size_t)S);
    int64_t okn = 0, n = 0;
    for (int s = 0; s < mf.n; s += CH) {
        int k = mf.n - s < CH ? mf.n - s : CH;
        if (u2_image_load_batch((const char *const *)mf.img + s, k, S, px) != 0) {
            free(px);
            free(labels);
            free(ws);
            goto out;
        }
        int32_t negi[CH], negt[CH];
        for (int i = 0; i < k; i++) negi[i] = negt[i] = (i + 1) % k;
        u2_batch b = {.n_img = k, .n_txt = k, .tl = tl, .pixels = px, .ids = ids + (size_t)s * tl,
                      .attn = attn + (size_t)s * tl, .mlm_labels = labels + (size_t)s * tl, .bp = k,
                      .itm_neg_img = negi, .itm_neg_txt = negt};
        u2_fwd_reset(&e.f);
        u2_forward_batch(&e.f, &b);
        okn += e.f.loss.mlm_pairs_ok;
        n += e.f.loss.mlm_pairs_n;
    }
    free(px);
    free(labels);
    free(ws);
    rep->n_masked = (int)n;
    rep->acc = n ? (double)okn / n : 0;
    rep->seconds = u2_now() - t0;
    rc = 0;
out:
    free(ids);
    free(attn);
    ctx_close(&e);
    manifest_free(&mf);
    return rc;
}
