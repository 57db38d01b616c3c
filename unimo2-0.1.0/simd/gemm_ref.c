/* Scalar GEMM pieces: packing, the reference micro-kernel and its epilogue.
 * The packing routines are shared by every ISA unless one overrides them. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "gemm_internal.h"

#include <math.h>

void u2_pack_a_generic(int mr, int64_t mc, int64_t kc, const float *A, int64_t lda,
                       int trans, float *dst)
{
    for (int64_t i0 = 0; i0 < mc; i0 += mr) {
        int64_t m = mc - i0 < mr ? mc - i0 : mr;
        for (int64_t p = 0; p < kc; p++) {
            for (int64_t r = 0; r < m; r++)
                dst[r] = trans ? A[p * lda + i0 + r] : A[(i0 + r) * lda + p];
            for (int64_t r = m; r < mr; r++) dst[r] = 0.0f;
            dst += mr;
        }
    }
}

void u2_pack_b_generic(int nr, int64_t kc, int64_t nc, const float *B, int64_t ldb,
                       int trans, float *dst)
{
    for (int64_t j0 = 0; j0 < nc; j0 += nr) {
        int64_t n = nc - j0 < nr ? nc - j0 : nr;
        for (int64_t p = 0; p < kc; p++) {
            if (trans)
                for (int64_t c = 0; c < n; c++) dst[c] = B[(j0 + c) * ldb + p];
            else
                for (int64_t c = 0; c < n; c++) dst[c] = B[p * ldb + j0 + c];
            for (int64_t c = n; c < nr; c++) dst[c] = 0.0f;
            dst += nr;
        }
    }
}

/* Apply the epilogue to a finished m x n block t (row stride ldt) and store to c.
 * Column sums come from the values, not from c: c is written, never read back
 * (u2_gd_scores relies on it and may pass ldc == 0 to discard the scores). */
void u2_epilogue_store_ref(const float *t, int64_t ldt, float *c, int64_t ldc, int m, int n,
                           const u2_epilogue *epi)
{
    for (int j = 0; j < n; j++) {
        float sum = 0.0f;
        for (int i = 0; i < m; i++) {
            float v = t[i * ldt + j];
            if (epi) {
                if (epi->bias) v += epi->bias[j];
                if (epi->pre) epi->pre[i * epi->ldpre + j] = v;
                if (epi->act == U2_ACT_GELU)
                    v = 0.5f * v * (1.0f + erff(v * 0.70710678118654752440f));
                else if (epi->act == U2_ACT_SIGMOID_COLSUM)
                    v = 1.0f / (1.0f + expf(-v));
            }
            c[i * ldc + j] = v;
            sum += v;
        }
        if (epi && epi->act == U2_ACT_SIGMOID_COLSUM && epi->colsum) epi->colsum[j] += sum;
    }
}

#define REF_MR 4
#define REF_NR 4

static void ukr_ref(int64_t k, const float *a, const float *b, float *c, int64_t ldc, int m,
                    int n, float alpha, float beta, const u2_epilogue *epi)
{
    float acc[REF_MR][REF_NR] = {{0}};
    for (int64_t p = 0; p < k; p++)
        for (int i = 0; i < REF_MR; i++)
            for (int j = 0; j < REF_NR; j++) acc[i][j] += a[p * REF_MR + i] * b[p * REF_NR + j];
    float t[REF_MR][REF_NR];
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++)
            t[i][j] = alpha * acc[i][j] + (beta == 0.0f ? 0.0f : beta * c[i * ldc + j]);
    u2_epilogue_store_ref(&t[0][0], REF_NR, c, ldc, m, n, epi);
}

static void pack_a_ref(int64_t mc, int64_t kc, const float *A, int64_t lda, int trans, float *dst)
{
    u2_pack_a_generic(REF_MR, mc, kc, A, lda, trans, dst);
}

static void pack_b_ref(int64_t kc, int64_t nc, const float *B, int64_t ldb, int trans, float *dst)
{
    u2_pack_b_generic(REF_NR, kc, nc, B, ldb, trans, dst);
}

void u2_gemm_init_ref(u2_gemm_info *g)
{
    g->mr = REF_MR;
    g->nr = REF_NR;
    g->kc = 256;
    g->mc = 128;
    g->nc = 1024;
    g->ukr = ukr_ref;
    g->pack_a = pack_a_ref;
    g->pack_b = pack_b_ref;
}

void u2_sigmoid_colsum_ref(float *s, int64_t m, int64_t n, int64_t lds, float *colsum)
{
    for (int64_t j = 0; j < n; j++) {
        float sum = 0.0f;
        for (int64_t i = 0; i < m; i++) {
            float v = 1.0f / (1.0f + expf(-s[i * lds + j]));
            s[i * lds + j] = v;
            sum += v;
        }
        colsum[j] += sum;
    }
}

/* 12 independent multiply-add chains (2 flops each per iteration). */
float u2_fma_burn_ref(int64_t iters)
{
    float x[12];
    for (int j = 0; j < 12; j++) x[j] = 0.1f * (float)j;
    for (int64_t i = 0; i < iters; i++)
        for (int j = 0; j < 12; j++) x[j] = x[j] * 0.999f + 0.001f;
    float s = 0.0f;
    for (int j = 0; j < 12; j++) s += x[j];
    return s;
}
