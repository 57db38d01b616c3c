/* unimo2-bench grounding: the grounding search at ViT-base size (T=256 tokens,
 * D=768, C=2048 dictionary entries, top K=100), fused (u2_gd_scores: the GEMM
 * with the SIGMOID_COLSUM epilogue, then u2_topk) against the same GEMM done
 * plainly followed by a separate sigmoid + column-sum pass and the top-K.
 * The separate pass is timed twice: with the ISA's vector sigmoid (the fair
 * comparison of fusion alone) and as a plain libm loop. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "bench.h"
#include "gemm_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int64_t T, D, C;
    int K;
} gd_args;

static int gd_extra(const char *opt, const char *val, void *ctx)
{
    gd_args *g = ctx;
    if (!val) return 0;
    long long v = atoll(val);
    if (v < 1) return 0;
    if (!strcmp(opt, "--tokens")) g->T = v;
    else if (!strcmp(opt, "--dim")) g->D = v;
    else if (!strcmp(opt, "--entries")) g->C = v;
    else if (!strcmp(opt, "--topk")) g->K = (int)v;
    else return 0;
    return 2;
}

static const char usage_text[] =
    "usage: unimo2-bench grounding [options]\n"
    "fused:      u2_gd_scores (GEMM + SIGMOID_COLSUM epilogue) + u2_topk\n"
    "sums-only:  the same without storing the scores (s = NULL), + u2_topk\n"
    "plain-vec:  GEMM, then a separate vector sigmoid + column-sum pass, then u2_topk\n"
    "plain-libm: GEMM, then the same pass as a scalar libm loop, then u2_topk\n"
    "ratio = plain-vec / fused (> 1: fusion wins); all timed interleaved.\n"
    "  --tokens T   token rows (default 256)\n"
    "  --dim D      width (default 768)\n"
    "  --entries C  dictionary entries (default 2048)\n"
    "  --topk K     grounded tokens (default 100)\n";

typedef struct {
    const u2_kernels *k;
    u2_sigcs_fn sigcs;
    int threads, K;
    int64_t T, D, C;
    const float *X, *E;
    float *s, *S;
    int32_t *idx;
    float tau;
} gd_ctx;

static void run_fused(void *p)
{
    gd_ctx *c = p;
    memset(c->S, 0, sizeof(float) * (size_t)c->C);
    u2_gd_scores_k(c->k, c->threads, c->X, c->T, c->D, c->E, c->C, c->D, c->tau, c->s, c->C,
                   c->S);
    u2_topk(c->S, c->C, c->K, c->idx);
}

static void run_fused_sums(void *p)
{
    gd_ctx *c = p;
    memset(c->S, 0, sizeof(float) * (size_t)c->C);
    u2_gd_scores_k(c->k, c->threads, c->X, c->T, c->D, c->E, c->C, c->D, c->tau, NULL, 0, c->S);
    u2_topk(c->S, c->C, c->K, c->idx);
}

static void run_plain(void *p)
{
    gd_ctx *c = p;
    memset(c->S, 0, sizeof(float) * (size_t)c->C);
    u2_sgemm_k(c->k, c->threads, 0, 1, c->T, c->C, c->D, c->tau, c->X, c->D, c->E, c->D, 0.0f,
               c->s, c->C, NULL);
    c->sigcs(c->s, c->T, c->C, c->C, c->S);
    u2_topk(c->S, c->C, c->K, c->idx);
}

static void run_topk(void *p)
{
    gd_ctx *c = p;
    u2_topk(c->S, c->C, c->K, c->idx);
}

int bench_grounding(int argc, char **argv)
{
    bench_opts o;
    gd_args ga = {.T = 256, .D = 768, .C = 2048, .K = 100};
    int rc = bench_parse(argc, argv, &o, usage_text, gd_extra, &ga);
    if (rc) return rc > 0 ? 0 : 2;
    gd_ctx c = {.T = ga.T, .D = ga.D, .C = ga.C, .K = ga.K, .tau = 100.0f};
    /* X like LayerNorm output, E like the SPEC's U(-1/C, 1/C) initialisation */
    float *X = bench_matrix((size_t)(c.T * c.D), 11), *E = bench_matrix((size_t)(c.C * c.D), 12);
    for (int64_t i = 0; i < c.C * c.D; i++) E[i] /= (float)c.C;
    c.X = X;
    c.E = E;
    c.s = bench_matrix((size_t)(c.T * c.C), 13);
    c.S = bench_matrix((size_t)c.C, 14);
    c.idx = malloc(sizeof(int32_t) * (size_t)c.K);
    const double flop = 2.0 * (double)c.T * (double)c.C * (double)c.D;
    if (!o.json)
        printf("unimo2-bench grounding: T=%lld D=%lld C=%lld K=%d, %s of %d batches, %s\n"
               "%-7s %3s %9s %10s %10s %11s %6s %7s %8s\n",
               (long long)c.T, (long long)c.D, (long long)c.C, c.K,
               bench_use_best ? "best" : "median", o.reps,
               bench_use_cpu_clock ? "process CPU time" : "wall time", "isa", "thr", "fused ms",
               "sums ms", "plain ms", "p-libm ms", "ratio", "GF/s", "topk us");
    for (int ti = 0; ti < o.nthreads; ti++) {
        for (int i = 0; i < o.nisa; i++) {
            u2_gemm_extras x, xs;
            u2_gemm_extras_isa((u2_isa)o.isa[i], &x);
            u2_gemm_extras_isa(U2_ISA_SCALAR, &xs);
            gd_ctx cv = c, cl = c;
            cv.k = cl.k = c.k = u2_kern_isa((u2_isa)o.isa[i]);
            cv.threads = cl.threads = c.threads = o.threads[ti];
            cv.sigcs = x.sigcs;
            cl.sigcs = xs.sigcs;
            void (*const fns[5])(void *) = {run_fused, run_fused_sums, run_plain, run_plain,
                                            run_topk};
            void *const ctxs[5] = {&c, &c, &cv, &cl, &c};
            double sec[5];
            bench_time_multi(5, fns, ctxs, o.reps, 0.1, sec);
            const double fused = sec[0], sums = sec[1], plain = sec[2], plain_libm = sec[3],
                         topk = sec[4];
            if (o.json)
                printf("{\"bench\":\"grounding\",\"T\":%lld,\"D\":%lld,\"C\":%lld,\"K\":%d,"
                       "\"isa\":\"%s\",\"threads\":%d,\"fused_ms\":%.3f,\"sums_only_ms\":%.3f,"
                       "\"plain_ms\":%.3f,\"plain_libm_ms\":%.3f,\"ratio\":%.3f,"
                       "\"fused_gflops\":%.2f,\"topk_us\":%.2f}\n",
                       (long long)c.T, (long long)c.D, (long long)c.C, c.K, c.k->name,
                       c.threads, fused * 1e3, sums * 1e3, plain * 1e3, plain_libm * 1e3,
                       plain / fused, flop / fused * 1e-9, topk * 1e6);
            else
                printf("%-7s %3d %9.3f %10.3f %10.3f %11.3f %6.3f %7.1f %8.2f\n", c.k->name,
                       c.threads, fused * 1e3, sums * 1e3, plain * 1e3, plain_libm * 1e3,
                       plain / fused, flop / fused * 1e-9, topk * 1e6);
            fflush(stdout);
        }
    }
    if (!o.json) printf("peak RSS %.1f MiB\n", bench_peak_rss_kib() / 1024.0);
    free(X);
    free(E);
    free(c.s);
    free(c.S);
    free(c.idx);
    return 0;
}
