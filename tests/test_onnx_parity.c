/* Native side of the onnxruntime parity check (tests/test_onnx.sh).
 *
 *   test_onnx_parity spread MODEL OUT SEED
 *       Rewrites a model (from unimo2 init) with the deterministic test
 *       weights of doc/testvectors.md: every tensor O(1) (linear weights
 *       uniform ±√(3/in), LayerNorm weights 1 ± 0.1, biases ±0.1, τ = 2), so
 *       heads and LayerNorm parameters carry real signal.  A freshly
 *       initialised model has ITM logits of ~1e-3, where a 1e-4 tolerance
 *       would hide a wrong mask.
 *   test_onnx_parity gen MODEL DIR BATCH SEED
 *       Draws inputs (pixels, padded token ids of different lengths), runs the
 *       native forward (u2_vit_forward, u2_text_forward, u2_fusion_forward and
 *       the heads of src/model.h) and writes DIR/in.u2ot (every graph's inputs;
 *       the fusion graph gets the native visual/text tokens) and
 *       DIR/expect.u2ot (every output).  Inputs are re-drawn until each item's
 *       top-K+1 accumulated dictionary scores are separated by more than the
 *       float error, so "identical grounded indices" is a fair demand.
 *   test_onnx_parity cmp EXPECT GOT [TOL]
 *       Compares the outputs present in both files: max |diff| <= TOL (1e-4)
 *       for float outputs, equality for int64.  Prints one line per output;
 *       exit 0 when all pass, 1 otherwise.
 *
 * Files are U2OT (tests/onnx/u2ot.js, doc/onnx.md). */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "model.h"
#include "ops.h"
#include "tap.h"
#include "util.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------- U2OT I/O */

enum { DT_F32 = 1, DT_I64 = 7 };

typedef struct {
    char name[64];
    int dtype, ndim;
    int64_t dims[8], numel;
    void *data;
} tensor;

typedef struct {
    int n;
    tensor t[16];
} tfile;

static tensor *tf_add(tfile *f, const char *name, int dtype, int ndim, const int64_t *dims)
{
    tensor *t = &f->t[f->n++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->dtype = dtype;
    t->ndim = ndim;
    t->numel = 1;
    for (int d = 0; d < ndim; d++) t->numel *= (t->dims[d] = dims[d]);
    t->data = calloc((size_t)(t->numel ? t->numel : 1), 8);
    return t;
}

static void tf_free(tfile *f)
{
    for (int i = 0; i < f->n; i++) free(f->t[i].data);
    f->n = 0;
}

static int put_u32(FILE *fp, uint32_t v) { return fwrite(&v, 4, 1, fp) == 1 ? 0 : -1; }

static int tf_write(const tfile *f, const char *path)
{
    FILE *fp = fopen(path, "wb");
    if (!fp) {
        perror(path);
        return -1;
    }
    int rc = fwrite("U2OT", 1, 4, fp) == 4 ? 0 : -1;
    rc |= put_u32(fp, 1) | put_u32(fp, (uint32_t)f->n) | put_u32(fp, 0);
    for (int i = 0; i < f->n; i++) {
        const tensor *t = &f->t[i];
        uint32_t nl = (uint32_t)strlen(t->name);
        rc |= put_u32(fp, nl);
        rc |= fwrite(t->name, 1, nl, fp) == nl ? 0 : -1;
        rc |= put_u32(fp, (uint32_t)t->dtype) | put_u32(fp, (uint32_t)t->ndim);
        rc |= fwrite(t->dims, 8, (size_t)t->ndim, fp) == (size_t)t->ndim ? 0 : -1;
        size_t es = t->dtype == DT_F32 ? 4 : 8;
        rc |= fwrite(t->data, es, (size_t)t->numel, fp) == (size_t)t->numel ? 0 : -1;
    }
    if (fclose(fp) != 0) rc = -1;
    if (rc) fprintf(stderr, "%s: write error\n", path);
    return rc;
}

static int tf_read(tfile *f, const char *path)
{
    memset(f, 0, sizeof *f);
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        perror(path);
        return -1;
    }
    char magic[4];
    uint32_t h[3];
    if (fread(magic, 1, 4, fp) != 4 || memcmp(magic, "U2OT", 4) || fread(h, 4, 3, fp) != 3 ||
        h[0] != 1 || h[1] > 16)
        goto bad;
    for (uint32_t i = 0; i < h[1]; i++) {
        uint32_t nl, dt, nd;
        char name[64];
        int64_t dims[8];
        if (fread(&nl, 4, 1, fp) != 1 || nl >= sizeof name || fread(name, 1, nl, fp) != nl) goto bad;
        name[nl] = 0;
        if (fread(&dt, 4, 1, fp) != 1 || fread(&nd, 4, 1, fp) != 1 || nd > 8 ||
            fread(dims, 8, nd, fp) != nd || (dt != DT_F32 && dt != DT_I64))
            goto bad;
        tensor *t = tf_add(f, name, (int)dt, (int)nd, dims);
        size_t es = dt == DT_F32 ? 4 : 8;
        if (fread(t->data, es, (size_t)t->numel, fp) != (size_t)t->numel) goto bad;
    }
    fclose(fp);
    return 0;
bad:
    fclose(fp);
    fprintf(stderr, "%s: not a valid U2OT file\n", path);
    tf_free(f);
    return -1;
}

static const tensor *tf_find(const tfile *f, const char *name)
{
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->t[i].name, name)) return &f->t[i];
    return NULL;
}

/* ------------------------------------------------------------------- gen */

/* Smallest gap between consecutive values among the K+1 largest of S[C]
 * (only the first K when K == C), relative to max(1, max S). */
static double topk_margin(const float *S, int C, int K)
{
    float *v = malloc((size_t)C * sizeof *v);
    memcpy(v, S, (size_t)C * sizeof *v);
    int n = K < C ? K + 1 : C;
    for (int i = 0; i < n; i++) /* partial selection sort, descending */
        for (int j = i + 1; j < C; j++)
            if (v[j] > v[i]) {
                float t = v[i];
                v[i] = v[j];
                v[j] = t;
            }
    double gap = INFINITY;
    for (int i = 0; i + 1 < n; i++) gap = fmin(gap, (double)v[i] - v[i + 1]);
    double scale = fmax(1.0, fabs((double)v[0]));
    free(v);
    return gap / scale;
}

static int cmd_gen(const char *model, const char *dir, int B, unsigned long long seed)
{
    u2_model m;
    if (u2_model_load(&m, model) != 0) {
        fprintf(stderr, "%s\n", u2_errmsg());
        return 1;
    }
    const u2_config *c = &m.L.cfg;
    const int64_t S = c->image_size, D = c->hidden, Nv = u2_cfg_nvis(c), C = c->dict_size,
                  K = c->topk, V = c->vocab_size;
    /* padded length L and the real lengths: batch 1 shorter than the maximum
     * and padded; larger batches the full length, half of it, and [CLS][SEP] */
    const int64_t L = B == 1 ? c->max_text_len - 3 : c->max_text_len;
    int *len = malloc((size_t)B * sizeof *len);
    for (int b = 0; b < B; b++)
        len[b] = B == 1 ? (int)L - 2 : b % 3 == 0 ? (int)L : b % 3 == 1 ? (int)L / 2 : 2;

    float *pix = malloc((size_t)(B * 3 * S * S) * sizeof *pix);
    int32_t *ids = malloc((size_t)(B * L) * sizeof *ids), *att = malloc((size_t)(B * L) * sizeof *att);
    const double need = 2e-5; /* top-K separation, relative (float error is ~1e-6) */
    u2_fwd f;
    u2_fwd_init(&f, &m, 0);
    int attempt;
    double margin = 0;
    for (attempt = 0; attempt < 200; attempt++) {
        tap_seed(seed * 1000003ULL + (unsigned long long)attempt);
        tap_fill(pix, (long)(B * 3 * S * S), -1.0f, 1.0f);
        for (int b = 0; b < B; b++)
            for (int64_t j = 0; j < L; j++) {
                int32_t id = j == 0 ? 0 : j == len[b] - 1 ? 2 : j >= len[b] ? 1
                                          : (int32_t)(4 + tap_next() % (unsigned long long)(V - 4));
                ids[b * L + j] = id;
                att[b * L + j] = j < len[b];
            }
        u2_fwd_reset(&f);
        u2_vit_forward(&f, pix, B);
        u2_text_forward(&f, ids, att, B, (int)L);
        u2_item *items = calloc((size_t)B, sizeof *items);
        for (int b = 0; b < B; b++) items[b] = (u2_item){.kind = U2_ITEM_PAIR, .img = b, .txt = b};
        u2_fusion_forward(&f, items, B);
        free(items);
        if (c->grounding != U2_GROUND_TOPK) break;
        margin = INFINITY;
        for (int b = 0; b < B; b++) margin = fmin(margin, topk_margin(f.items[b].S, (int)C, (int)K));
        if (margin > need) break;
    }
    if (attempt == 200) {
        fprintf(stderr, "no inputs with a top-K margin over %g in 200 draws\n", need);
        return 1;
    }
    if (c->grounding == U2_GROUND_TOPK)
        printf("inputs drawn %d time(s); smallest gap among the top-%lld+1 scores %.3g "
               "(relative, needed %g)\n", attempt + 1, (long long)K, margin, need);
    else
        printf("inputs drawn; grounding %s\n", u2_grounding_name(c->grounding));

    tfile in = {0}, ex = {0};
    const int64_t dpix[4] = {B, 3, S, S}, dtxt[2] = {B, L}, dv[3] = {B, Nv, D}, dt[3] = {B, L, D};
    memcpy(tf_add(&in, "pixels", DT_F32, 4, dpix)->data, pix, sizeof(float) * (size_t)(B * 3 * S * S));
    int64_t *iid = tf_add(&in, "input_ids", DT_I64, 2, dtxt)->data;
    int64_t *iat = tf_add(&in, "attention_mask", DT_I64, 2, dtxt)->data;
    for (int64_t i = 0; i < B * L; i++) {
        iid[i] = ids[i];
        iat[i] = att[i];
    }
    memcpy(tf_add(&in, "visual_tokens", DT_F32, 3, dv)->data, f.V, sizeof(float) * (size_t)(B * Nv * D));
    memcpy(tf_add(&in, "text_tokens", DT_F32, 3, dt)->data, f.Tx, sizeof(float) * (size_t)(B * L * D));

    memcpy(tf_add(&ex, "visual_tokens", DT_F32, 3, dv)->data, f.V, sizeof(float) * (size_t)(B * Nv * D));
    const int64_t dbd[2] = {B, D}, db2[2] = {B, 2}, db[1] = {B}, dbk[2] = {B, K};
    float *ie = tf_add(&ex, "image_embedding", DT_F32, 2, dbd)->data;
    memcpy(tf_add(&ex, "text_tokens", DT_F32, 3, dt)->data, f.Tx, sizeof(float) * (size_t)(B * L * D));
    float *te = tf_add(&ex, "text_embedding", DT_F32, 2, dbd)->data;
    float *itm = tf_add(&ex, "itm_logits", DT_F32, 2, db2)->data;
    float *cos = tf_add(&ex, "cmcl_score", DT_F32, 1, db)->data;
    float *score = tf_add(&ex, "score", DT_F32, 1, db)->data;
    int64_t *gi = c->grounding == U2_GROUND_TOPK ? tf_add(&ex, "grounded_indices", DT_I64, 2, dbk)->data : NULL;
    for (int b = 0; b < B; b++) {
        u2_l2norm_rows(ie + b * D, NULL, f.V + b * Nv * D, 1, D);
        u2_l2norm_rows(te + b * D, NULL, f.Tx + b * L * D, 1, D);
        u2_itm_logits(&f, b, itm + 2 * b);
        cos[b] = u2_cmcl_cosine(&f, b, b);
        score[b] = itm[2 * b + 1] + 0.3f * cos[b];
        if (gi)
            for (int64_t k = 0; k < K; k++) gi[b * K + k] = f.items[b].idx[k];
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/in.u2ot", dir);
    int rc = tf_write(&in, path);
    snprintf(path, sizeof path, "%s/expect.u2ot", dir);
    rc |= tf_write(&ex, path);
    tf_free(&in);
    tf_free(&ex);
    u2_fwd_free(&f);
    u2_model_free(&m);
    free(pix);
    free(ids);
    free(att);
    free(len);
    return rc ? 1 : 0;
}

/* ------------------------------------------------------------------- cmp */

static int cmd_cmp(const char *expect, const char *got, double tol)
{
    tfile e, g;
    if (tf_read(&e, expect) != 0) return 1;
    if (tf_read(&g, got) != 0) {
        tf_free(&e);
        return 1;
    }
    int bad = 0, compared = 0;
    for (int i = 0; i < g.n; i++) {
        const tensor *a = &g.t[i], *r = tf_find(&e, a->name);
        if (!r) {
            printf("%s: not in %s\n", a->name, expect);
            bad++;
            continue;
        }
        compared++;
        int same = a->dtype == r->dtype && a->ndim == r->ndim;
        for (int d = 0; same && d < a->ndim; d++) same = a->dims[d] == r->dims[d];
        if (!same) {
            printf("%s: shape or type differs from the native one\n", a->name);
            bad++;
            continue;
        }
        if (a->dtype == DT_I64) {
            const int64_t *x = a->data, *y = r->data;
            int64_t ndiff = 0;
            for (int64_t j = 0; j < a->numel; j++) ndiff += x[j] != y[j];
            printf("%s: %s (%lld of %lld differ)\n", a->name, ndiff ? "DIFFERENT" : "identical",
                   (long long)ndiff, (long long)a->numel);
            bad += ndiff != 0;
        } else {
            const float *x = a->data, *y = r->data;
            double md = 0, mref = 0;
            for (int64_t j = 0; j < a->numel; j++) {
                double d = fabs((double)x[j] - y[j]);
                if (!(d <= md)) md = d; /* NaN propagates */
                mref = fmax(mref, fabs((double)y[j]));
            }
            int ok = md <= tol;
            printf("%s: max abs diff %.3g (max |native| %.3g) %s\n", a->name, md, mref,
                   ok ? "ok" : "OVER TOLERANCE");
            bad += !ok;
        }
    }
    if (!compared) {
        printf("no outputs to compare\n");
        bad++;
    }
    tf_free(&e);
    tf_free(&g);
    return bad ? 1 : 0;
}

static int cmd_spread(const char *in, const char *out, unsigned long long seed)
{
    u2_model m;
    if (u2_model_load(&m, in) != 0) {
        fprintf(stderr, "%s\n", u2_errmsg());
        return 1;
    }
    u2_params_test_weights(&m.L, m.params, seed);
    int rc = u2_model_save(&m, out);
    if (rc) fprintf(stderr, "%s\n", u2_errmsg());
    u2_model_free(&m);
    return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 5 && !strcmp(argv[1], "spread"))
        return cmd_spread(argv[2], argv[3], strtoull(argv[4], NULL, 10));
    if (argc == 6 && !strcmp(argv[1], "gen"))
        return cmd_gen(argv[2], argv[3], atoi(argv[4]), strtoull(argv[5], NULL, 10));
    if ((argc == 4 || argc == 5) && !strcmp(argv[1], "cmp"))
        return cmd_cmp(argv[2], argv[3], argc == 5 ? atof(argv[4]) : 1e-4);
    fprintf(stderr, "usage: test_onnx_parity spread MODEL OUT SEED\n"
                    "       test_onnx_parity gen MODEL DIR BATCH SEED\n"
                    "       test_onnx_parity cmp EXPECT GOT [TOL]\n");
    return 2;
}
