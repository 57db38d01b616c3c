/* unimo2-bench gemm: u2_sgemm on the model's shapes, every ISA, 1 and 2
 * threads, against the measured FMA peak and OpenBLAS's cblas_sgemm measured
 * side by side in the same run. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "bench.h"
#include "gemm_internal.h"

#include <stdlib.h>
#include <string.h>
#ifdef HAVE_OPENBLAS
#include <cblas.h>
#endif

typedef struct {
    int64_t m, n, k;
} shape;

static const char *const form_name[4] = {"NN", "NT", "TN", "TT"};

/* ViT-base at 224/16 (197 tokens; 1576 = a batch of 8), the FFN, a small
 * batch, one attention-sized block, and the classic cube. */
static const shape default_shapes[] = {
    {197, 768, 768},   {197, 3072, 768},  {197, 768, 3072}, {1576, 768, 768},
    {1576, 3072, 768}, {32, 768, 768},    {64, 128, 128},   {1024, 1024, 1024},
};

#define MAX_SHAPES 32
typedef struct {
    shape shapes[MAX_SHAPES];
    int nshapes;
    int forms; /* bit f: form f of NN, NT, TN, TT */
    int kc, mc, nc; /* --blocks override, 0 = the ISA's */
    int no_peer;
} gemm_args;

static int gemm_extra(const char *opt, const char *val, void *ctx)
{
    gemm_args *g = ctx;
    if (!strcmp(opt, "--no-peer")) {
        g->no_peer = 1;
        return 1;
    }
    if (!val) return 0;
    if (!strcmp(opt, "--shape")) {
        long long m, n, k;
        if (g->nshapes == MAX_SHAPES || sscanf(val, "%lld,%lld,%lld", &m, &n, &k) != 3 ||
            m < 1 || n < 1 || k < 1)
            return 0;
        g->shapes[g->nshapes++] = (shape){m, n, k};
        return 2;
    }
    if (!strcmp(opt, "--form")) {
        static const char *const names[] = {"NN", "NT", "TN", "TT"};
        int f = 0;
        for (int i = 0; i < 4; i++)
            if (strstr(val, names[i])) f |= 1 << i;
        if (!strcmp(val, "both")) f = 3;
        if (!strcmp(val, "all")) f = 15;
        if (!f) return 0;
        g->forms = f;
        return 2;
    }
    if (!strcmp(opt, "--blocks")) {
        return sscanf(val, "%d,%d,%d", &g->kc, &g->mc, &g->nc) == 3 && g->kc > 0 && g->mc > 0 &&
                       g->nc > 0
                   ? 2
                   : 0;
    }
    return 0;
}

static const char usage_text[] =
    "usage: unimo2-bench gemm [options]\n"
    "C = A B (NN: B is K x N) or A B^T (NT: B is N x K), row-major, alpha 1, beta 0.\n"
    "GFLOP/s = 2 M N K / median time; peak: the ISA's register-only FMA loop at the\n"
    "same thread count, timed interleaved with each shape (the machine may be shared);\n"
    "ratio = ours / OpenBLAS cblas_sgemm (when built with it), also interleaved.\n"
    "threads: the budget given to the library, spent as u2_sgemm spends it (a\n"
    "product under 128^3 multiply-adds runs on one thread).\n"
    "  --shape M,N,K   a shape (repeatable; default: the model's eight shapes)\n"
    "  --form F        NN, NT, TN, TT, a list like NN,TN, both (NN and NT, the\n"
    "                  default) or all; T: the operand is stored transposed\n"
    "  --blocks KC,MC,NC  override the ISA's cache blocking (tuning)\n"
    "  --no-peer       skip OpenBLAS\n";

typedef struct {
    const u2_kernels *k;
    int threads, ta, tb;
    shape s;
    const float *A, *B;
    float *C;
} gemm_ctx;

static void run_ours(void *p)
{
    const gemm_ctx *c = p;
    /* the thread budget as u2_sgemm spends it: tiny products run on one */
    u2_sgemm_k(c->k, u2_gemm_threads_for(c->threads, c->s.m, c->s.n, c->s.k), c->ta, c->tb, c->s.m, c->s.n, c->s.k, 1.0f, c->A,
               c->ta ? c->s.m : c->s.k, c->B, c->tb ? c->s.k : c->s.n, 0.0f, c->C, c->s.n, NULL);
}

#ifdef HAVE_OPENBLAS
static void run_openblas(void *p)
{
    const gemm_ctx *c = p;
    cblas_sgemm(CblasRowMajor, c->ta ? CblasTrans : CblasNoTrans,
                c->tb ? CblasTrans : CblasNoTrans, (int)c->s.m, (int)c->s.n, (int)c->s.k, 1.0f,
                c->A, (int)(c->ta ? c->s.m : c->s.k), c->B,
                (int)(c->tb ? c->s.k : c->s.n), 0.0f, c->C, (int)c->s.n);
}
#endif

int bench_gemm(int argc, char **argv)
{
    bench_opts o;
    gemm_args ga = {.forms = 3};
    int rc = bench_parse(argc, argv, &o, usage_text, gemm_extra, &ga);
    if (rc) return rc > 0 ? 0 : 2;
    if (!ga.nshapes) {
        memcpy(ga.shapes, default_shapes, sizeof default_shapes);
        ga.nshapes = (int)(sizeof default_shapes / sizeof default_shapes[0]);
    }
    int have_peer = 0;
#ifdef HAVE_OPENBLAS
    have_peer = !ga.no_peer;
#endif
    size_t amax = 0, bmax = 0, cmax = 0;
    for (int i = 0; i < ga.nshapes; i++) {
        const shape s = ga.shapes[i];
        if ((size_t)(s.m * s.k) > amax) amax = (size_t)(s.m * s.k);
        if ((size_t)(s.k * s.n) > bmax) bmax = (size_t)(s.k * s.n);
        if ((size_t)(s.m * s.n) > cmax) cmax = (size_t)(s.m * s.n);
    }
    float *A = bench_matrix(amax, 1), *B = bench_matrix(bmax, 2), *C = bench_matrix(cmax, 3);

    u2_kernels tabs[U2_ISA_COUNT];
    for (int i = 0; i < o.nisa; i++) {
        tabs[i] = *u2_kern_isa((u2_isa)o.isa[i]);
        if (ga.kc) { /* tuning override, kept to the tile multiples */
            u2_gemm_info *g = &tabs[i].gemm;
            g->kc = ga.kc;
            g->mc = (ga.mc + g->mr - 1) / g->mr * g->mr;
            g->nc = (ga.nc + g->nr - 1) / g->nr * g->nr;
        }
    }
    if (!o.json) {
        printf("unimo2-bench gemm: %s of %d batches after a warm-up, %s; peer: %s\n",
               bench_use_best ? "best" : "median", o.reps,
               bench_use_cpu_clock ? "process CPU time" : "wall time",
               have_peer ? "OpenBLAS cblas_sgemm" : "none");
#ifdef HAVE_OPENBLAS
        if (have_peer) printf("OpenBLAS: %s, core %s\n", openblas_get_config(),
                              openblas_get_corename());
#endif
        const char *wp = getenv("OMP_WAIT_POLICY");
        printf("OMP_WAIT_POLICY=%s\n", wp ? wp : "(unset)");
    }
    for (int ti = 0; ti < o.nthreads; ti++) {
        const int T = o.threads[ti];
        bench_peak_ctx pk[U2_ISA_COUNT];
        for (int i = 0; i < o.nisa; i++) {
            bench_peak_init(&pk[i], (u2_isa)o.isa[i], T);
            if (!o.json) {
                const u2_gemm_info *g = &tabs[i].gemm;
                printf("\n%s, %d thread%s: tile %dx%d, KC %d MC %d NC %d\n", tabs[i].name, T,
                       T > 1 ? "s" : "", g->mr, g->nr, g->kc, g->mc, g->nc);
            }
        }
        if (!o.json)
            printf("%-17s %-4s %-7s %3s %9s %7s %7s %9s %7s\n", "M x N x K", "form", "isa", "thr",
                   "GFLOP/s", "peak", "%peak", have_peer ? "OpenBLAS" : "", have_peer ? "ratio" : "");
        for (int si = 0; si < ga.nshapes; si++) {
            for (int f = 0; f < 4; f++) {
                if (!(ga.forms & (1 << f))) continue;
                const shape s = ga.shapes[si];
                const double flop = 2.0 * (double)s.m * (double)s.n * (double)s.k;
                /* side by side: peak(s), ours per ISA, the peer; interleaved reps */
                gemm_ctx c[U2_ISA_COUNT];
                void (*fns[2 * U2_ISA_COUNT + 1])(void *);
                void *ctxs[2 * U2_ISA_COUNT + 1];
                double sec[2 * U2_ISA_COUNT + 1];
                int n = 0;
                for (int i = 0; i < o.nisa; i++) {
                    fns[n] = bench_peak_run;
                    ctxs[n++] = &pk[i];
                    c[i] = (gemm_ctx){.k = &tabs[i], .threads = T, .ta = f >> 1, .tb = f & 1, .s = s, .A = A,
                                      .B = B, .C = C};
                    fns[n] = run_ours;
                    ctxs[n++] = &c[i];
                }
#ifdef HAVE_OPENBLAS
                if (have_peer) {
                    openblas_set_num_threads(T);
                    fns[n] = run_openblas;
                    ctxs[n++] = &c[0];
                }
#endif
                bench_time_multi(n, fns, ctxs, o.reps, 0.05, sec);
                const double peer = have_peer ? flop / sec[n - 1] * 1e-9 : 0.0;
                for (int i = 0; i < o.nisa; i++) {
                    const double peak = bench_peak_gflops(&pk[i], sec[2 * i]);
                    const double gf = flop / sec[2 * i + 1] * 1e-9;
                    char dims[40];
                    snprintf(dims, sizeof dims, "%lldx%lldx%lld", (long long)s.m,
                             (long long)s.n, (long long)s.k);
                    if (o.json) {
                        printf("{\"bench\":\"gemm\",\"shape\":[%lld,%lld,%lld],\"form\":\"%s\","
                               "\"isa\":\"%s\",\"threads\":%d,\"gflops\":%.2f,",
                               (long long)s.m, (long long)s.n, (long long)s.k, form_name[f],
                               tabs[i].name, T, gf);
                        if (have_peer)
                            printf("\"peer\":\"openblas\",\"peer_gflops\":%.2f,", peer);
                        else
                            printf("\"peer\":null,\"peer_gflops\":null,");
                        printf("\"peak_gflops\":%.2f}\n", peak);
                    } else {
                        printf("%-17s %-4s %-7s %3d %9.1f %7.1f %6.1f%%", dims, form_name[f],
                               tabs[i].name, T, gf, peak, 100.0 * gf / peak);
                        if (have_peer) printf(" %9.1f %7.2f", peer, gf / peer);
                        printf("\n");
                    }
                    fflush(stdout);
                }
            }
        }
    }
    if (!o.json) printf("\npeak RSS %.1f MiB\n", bench_peak_rss_kib() / 1024.0);
    free(A);
    free(B);
    free(C);
    return 0;
}
