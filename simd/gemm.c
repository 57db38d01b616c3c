/* The GEMM driver: five loops (NC, KC, MC, NR, MR) around the ISA's
 * micro-kernel, with A and B packed into contiguous panels (BLIS).
 *
 * Threads split the NR-panel (jr) loop statically, so every element of C is
 * computed by one thread in a fixed order: results do not depend on the
 * thread count or on scheduling. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "gemm_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* One packing arena per calling thread, grown on demand and kept. */
static _Thread_local float *pack_buf;
static _Thread_local size_t pack_cap;

static float *pack_arena(size_t nfloats)
{
    if (nfloats > pack_cap) {
        free(pack_buf);
        size_t bytes = (nfloats * sizeof(float) + 4095) & ~(size_t)4095;
        pack_buf = aligned_alloc(4096, bytes);
        if (!pack_buf) {
            fprintf(stderr, "unimo2: out of memory (%zu bytes for GEMM packing)\n", bytes);
            abort();
        }
        pack_cap = bytes / sizeof(float);
    }
    return pack_buf;
}

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

void u2_sgemm_k(const u2_kernels *k, int nthreads, int transa, int transb, int64_t M,
                int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                const float *B, int64_t ldb, float beta, float *C, int64_t ldc,
                const u2_epilogue *epi)
{
    if (M <= 0 || N <= 0) return;
    const u2_gemm_info *g = &k->gemm;
    const int MR = g->mr, NR = g->nr;
    const int64_t KC = g->kc, MC = g->mc, NC = g->nc;
    const int64_t nc_max = min64(NC, (N + NR - 1) / NR * NR);
    const int64_t mc_max = min64(MC, (M + MR - 1) / MR * MR);
    const int64_t kc_max = K > 0 ? min64(KC, K) : 0;
    float *bpack = pack_arena((size_t)(kc_max * nc_max + kc_max * mc_max) + 64);
    float *apack = bpack + kc_max * nc_max + 16; /* keep the two panels apart */

#ifdef _OPENMP
    if (nthreads < 1 || omp_in_parallel()) nthreads = 1;
#else
    nthreads = 1;
#endif
    (void)nthreads;

#pragma omp parallel num_threads(nthreads) if (nthreads > 1)
    {
        for (int64_t jc = 0; jc < N; jc += NC) {
            const int64_t nc = min64(NC, N - jc);
            const int64_t npanels = (nc + NR - 1) / NR;
            int64_t pc = 0;
            do { /* at least once, so K == 0 still applies beta and the epilogue */
                const int64_t kc = min64(KC, K - pc);
                const int last = pc + kc >= K;
                const float beta_blk = pc == 0 ? beta : 1.0f;
                /* pack B block: op(B)[pc:pc+kc, jc:jc+nc], NR panels split across threads */
#pragma omp for schedule(static)
                for (int64_t jp = 0; jp < npanels; jp++) {
                    const int64_t j0 = jp * NR;
                    const int64_t nn = min64(NR, nc - j0);
                    const float *src = transb ? B + (jc + j0) * ldb + pc : B + pc * ldb + jc + j0;
                    g->pack_b(kc, nn, src, ldb, transb, bpack + jp * NR * kc);
                }
                for (int64_t ic = 0; ic < M; ic += MC) {
                    const int64_t mc = min64(MC, M - ic);
                    const int64_t mpanels = (mc + MR - 1) / MR;
#pragma omp for schedule(static)
                    for (int64_t ip = 0; ip < mpanels; ip++) {
                        const int64_t i0 = ip * MR;
                        const int64_t mm = min64(MR, mc - i0);
                        const float *src = transa ? A + pc * lda + ic + i0 : A + (ic + i0) * lda + pc;
                        g->pack_a(mm, kc, src, lda, transa, apack + ip * MR * kc);
                    }
#pragma omp for schedule(static)
                    for (int64_t jp = 0; jp < npanels; jp++) {
                        const int64_t j0 = jp * NR;
                        const int nn = (int)min64(NR, nc - j0);
                        for (int64_t ip = 0; ip < mpanels; ip++) {
                            const int64_t i0 = ip * MR;
                            const int mm = (int)min64(MR, mc - i0);
                            float *ct = C + (ic + i0) * ldc + jc + j0;
                            u2_epilogue te, *tp = NULL;
                            if (last && epi) {
                                te = *epi;
                                if (te.bias) te.bias += jc + j0;
                                if (te.pre) te.pre += (ic + i0) * te.ldpre + jc + j0;
                                if (te.colsum) te.colsum += jc + j0;
                                tp = &te;
                            }
                            g->ukr(kc, apack + ip * MR * kc, bpack + jp * NR * kc, ct, ldc, mm,
                                   nn, alpha, beta_blk, tp);
                        }
                    }
                }
                pc += kc;
            } while (pc < K);
        }
    }
}

void u2_sgemm(int transa, int transb, int64_t M, int64_t N, int64_t K, float alpha,
              const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
              int64_t ldc, const u2_epilogue *epi)
{
    u2_sgemm_k(u2_kern(), u2_num_threads(), transa, transb, M, N, K, alpha, A, lda, B, ldb,
               beta, C, ldc, epi);
}
