/* The tolerance of data-parallel training (doc/scaling.md), checked element
 * by element on the tiny config: N ranks average the same N micro-batch
 * gradients that one process sums with --accum N, in another order.
 *
 * 1. Gradients: the process sums whole micro-batch gradients left to right
 *    (train.c), the ranks in MPI's order (here a pairwise tree, the order of
 *    recursive doubling).  Any two orders of N summands differ by at most
 *    2 gamma_{N-1} sum_m |g_m| <= 2 (N-1) u sum_m |g_m| per element
 *    (u = 2^-24); for N = 2 they agree exactly (a + b = b + a).
 * 2. One AdamW step (clipping included) from the same state: at step 1 the
 *    update is lr g/(|g| + eps), so |dp| <= lr d eps/(max(|g| - d, 0) + eps)^2
 *    plus the rounding of the update and of p (d = the clipped gradients'
 *    difference). */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "backward.h"
#include "kernels.h"
#include "model.h"
#include "optim.h"
#include "tap.h"

#include <float.h>
#include <string.h>

typedef struct {
    u2_batch b;
    float *pixels;
    int32_t *ids, *attn, *labels, negi[4], negt[4];
} tbatch;

/* 3 pairs, 2 texts, 2 image-only views, random content */
static void make_batch(tbatch *t, const u2_config *c)
{
    const int bp = 3, bt = 2, bi = 2, S = c->image_size, tl = c->max_text_len;
    const int n_img = bp + bi, n_txt = bp + bt;
    t->pixels = malloc(sizeof(float) * (size_t)(n_img * 3 * S * S));
    tap_fill(t->pixels, n_img * 3 * S * S, -1, 1);
    t->ids = calloc((size_t)(n_txt * tl), 4);
    t->attn = calloc((size_t)(n_txt * tl), 4);
    t->labels = malloc(sizeof(int32_t) * (size_t)(n_txt * tl));
    for (int i = 0; i < n_txt; i++) {
        const int len = 4 + (int)tap_uniform(0, (float)(tl - 4));
        for (int j = 0; j < tl; j++) {
            const int real = j < len;
            t->ids[i * tl + j] = !real ? 1 : j == 0 ? 0 : j == len - 1 ? 2
                                                        : 4 + (int)tap_uniform(0, 60.0f);
            t->attn[i * tl + j] = real;
            t->labels[i * tl + j] = real && j > 0 && j < len - 1 && j % 3 == 1
                                        ? 4 + (int)tap_uniform(0, 60.0f)
                                        : -1;
        }
    }
    for (int i = 0; i < bp; i++) {
        t->negi[i] = (i + 1) % bp;
        t->negt[i] = (i + 2) % bp;
    }
    t->b = (u2_batch){.n_img = n_img, .n_txt = n_txt, .tl = tl, .pixels = t->pixels, .ids = t->ids,
                      .attn = t->attn, .mlm_labels = t->labels, .bp = bp, .bt = bt, .bi = bi,
                      .itm_neg_img = t->negi, .itm_neg_txt = t->negt};
}

static void free_batch(tbatch *t)
{
    free(t->pixels);
    free(t->ids);
    free(t->attn);
    free(t->labels);
}

static void grad_of(u2_model *m, const u2_batch *b, float *g, u2_arena *scratch)
{
    u2_fwd f;
    u2_fwd_init(&f, m, 1);
    u2_forward_batch(&f, b);
    u2_backward_batch(&f, g, scratch, NULL, NULL);
    u2_fwd_free(&f);
}

/* sum of g[lo, hi) micro-batch gradients as a pairwise tree, into out */
static void tree_sum(float **g, int lo, int hi, int64_t n, float *out)
{
    if (hi - lo == 1) {
        memcpy(out, g[lo], sizeof(float) * (size_t)n);
        return;
    }
    const int mid = lo + (hi - lo) / 2;
    float *r = malloc(sizeof(float) * (size_t)n);
    tree_sum(g, lo, mid, n, out);
    tree_sum(g, mid, hi, n, r);
    for (int64_t i = 0; i < n; i++) out[i] += r[i];
    free(r);
}

static void check_ranks(int N)
{
    const double u = FLT_EPSILON / 2;
    u2_config c;
    u2_config_builtin("tiny", &c);
    u2_model m;
    if (u2_model_create(&m, &c) != 0) {
        tap_ok(0, "tiny model");
        return;
    }
    u2_params_init(&m.L, m.params, 5);
    const int64_t n = m.L.total;
    u2_arena scratch;
    u2_arena_init(&scratch);
    tbatch tb[8];
    float *gm[8];
    float *acc = calloc((size_t)n, sizeof(float)), *ranks = malloc(sizeof(float) * (size_t)n);
    tap_seed(100 + (unsigned)N);
    for (int k = 0; k < N; k++) {
        make_batch(&tb[k], &c);
        gm[k] = calloc((size_t)n, sizeof(float));
        grad_of(&m, &tb[k].b, gm[k], &scratch);
        u2_kern()->add(acc, acc, gm[k], n); /* one process: left to right */
    }
    tree_sum(gm, 0, N, n, ranks);
    const float inv = 1.0f / (float)N;
    u2_kern()->scale(acc, inv, n);
    u2_kern()->scale(ranks, inv, n);

    /* 1: the averaged gradients */
    double worst = 0.0;
    int64_t differ = 0, zero_bad = 0, wi = 0;
    double *S = malloc(sizeof(double) * (size_t)n);
    for (int64_t i = 0; i < n; i++) {
        S[i] = 0.0;
        for (int k = 0; k < N; k++) S[i] += fabs(gm[k][i]) / N;
        const double d = fabs((double)acc[i] - ranks[i]);
        differ += d > 0;
        if (S[i] == 0.0) zero_bad += d > 0 || acc[i] != 0.0f;
        else if (d / (u * S[i]) > worst) {
            worst = d / (u * S[i]);
            wi = i;
        }
    }
    for (int t = 0; t < m.L.n && worst > 0; t++)
        if (wi >= m.L.t[t].offset && wi < m.L.t[t].offset + m.L.t[t].numel)
            tap_diag("worst: %s[%lld]: acc %.9g ranks %.9g mean|g_m| %.3g", m.L.t[t].name,
                     (long long)(wi - m.L.t[t].offset), acc[wi], ranks[wi], S[wi]);
    /* S is the mean of |g_m|: the bound 2 (N-1) u sum |g_m| is 2 N (N-1) u S */
    const double bound = 2.0 * N * (N - 1) * (1.0 + N * u);
    tap_ok(zero_bad == 0 && worst <= bound && (N != 2 || differ == 0),
           "%d micro-batches: |g_process - g_ranks| <= %.2f u mean|g_m| per element (bound %.0f; "
           "%lld of %lld differ)", N, worst, bound, (long long)differ, (long long)n);

    /* 2: one AdamW step from the same state */
    u2_optim_cfg oc;
    u2_optim_default(&oc);
    oc.lr = 3e-3f;
    oc.warmup = 0;
    oc.total = 10;
    float *p0 = malloc(sizeof(float) * (size_t)n);
    memcpy(p0, m.params, sizeof(float) * (size_t)n);
    u2_optim oa, ob;
    u2_optim_init(&oa, &oc, n);
    u2_optim_init(&ob, &oc, n);
    const double na = u2_optim_step(&oa, &m, acc); /* clips acc in place */
    float *pa = malloc(sizeof(float) * (size_t)n);
    memcpy(pa, m.params, sizeof(float) * (size_t)n);
    memcpy(m.params, p0, sizeof(float) * (size_t)n);
    const double nb = u2_optim_step(&ob, &m, ranks);
    const double lr = oc.lr, eps = oc.eps;
    int64_t over = 0;
    double worst_dp = 0.0, worst_ratio = 0.0;
    int64_t wj = 0;
    for (int64_t i = 0; i < n; i++) {
        const double d = fabs((double)acc[i] - ranks[i]);
        const double g = fmin(fabs(acc[i]), fabs(ranks[i]));
        const double lo = g - d > 0 ? g - d : 0.0;
        const double ulp = fmax(fabsf(p0[i]), fabsf(pa[i])) * 2 * u;
        const double lim = lr * d * eps / ((lo + eps) * (lo + eps)) + 8 * u * lr + 2 * ulp;
        const double dp = fabs((double)pa[i] - m.params[i]);
        if (dp > lim) over++;
        if (dp > worst_dp) worst_dp = dp;
        if (dp / lim > worst_ratio) {
            worst_ratio = dp / lim;
            wj = i;
        }
    }
    if (worst_dp > 0)
        tap_diag("worst: [%lld] p %.9g: %.9g vs %.9g, g %.9g vs %.9g", (long long)wj, p0[wj], pa[wj],
             m.params[wj], acc[wj], ranks[wj]);
    tap_ok(over == 0,
           "%d micro-batches: one AdamW step keeps every |dp| under lr d eps/(|g|-d+eps)^2 + rounding "
           "(max |dp| %.3g = %.2g lr, worst |dp|/bound %.4f; grad norms %.9g, %.9g)", N, worst_dp,
           worst_dp / lr, worst_ratio, na, nb);
    u2_optim_free(&oa);
    u2_optim_free(&ob);
    free(p0);
    free(pa);
    free(S);
    for (int k = 0; k < N; k++) {
        free(gm[k]);
        free_batch(&tb[k]);
    }
    free(acc);
    free(ranks);
    u2_arena_free(&scratch);
    u2_model_free(&m);
}

int main(void)
{
    check_ranks(2);
    check_ranks(4);
    check_ranks(3);
    check_ranks(8);
    return tap_done();
}
