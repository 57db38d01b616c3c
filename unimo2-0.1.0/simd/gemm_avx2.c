/* AVX2 + FMA GEMM: the micro-kernel template (gemm_ukr.h) at 6 x 16,
 * 12 ymm accumulators, plus the register-only FMA loop that measures peak.
 * Built with the AVX2 flags only; elsewhere this file compiles to nothing. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "gemm_internal.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#include <sleef.h>

#include "gemm_x86_pack.h"

/* Blocksizes for Zen3 (32 KiB L1d, 512 KiB L2 per core), measured with
 * unimo2-bench gemm: a KC x NR panel of B (16 KiB) stays in L1, an MC x KC
 * block of A (144 KiB) in L2, a KC x NC block of B in L3. */
#define U2_SFX avx2
#define U2_V __m256
#define U2_VL 8
#define U2_MR 6
#define U2_NV 2
#define U2_KC 256
#define U2_MC 144
#define U2_NC 4080
#define U2_ROWS(X) X(0, 0, 0) X(1, 0, 1) X(2, 0, 2) X(3, 0, 3) X(4, 0, 4) X(5, 0, 5)
#define U2_ROWS_HALF(X) X(0, 0, 0) X(1, 0, 1) X(2, 0, 2)
#define U2_A_PREP(a) const float *const ap_ = (a)
#define U2_A_ROW(i, g, l) const __m256 ar_ = _mm256_broadcast_ss(ap_ + (i))
#define U2_A_FMA(acc, b, i, g, l) _mm256_fmadd_ps(ar_, b, acc)

/* maskload/maskstore touch only the lanes whose mask is set */
static const int32_t u2_mask_tab[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
#define U2_MASK(n) _mm256_loadu_si256((const __m256i *)(u2_mask_tab + 8 - (n)))

#define U2_VZERO() _mm256_setzero_ps()
#define U2_VSET1(x) _mm256_set1_ps(x)
#define U2_VLOAD(p) _mm256_loadu_ps(p)
#define U2_VSTORE(p, v) _mm256_storeu_ps(p, v)
#define U2_VLOADN(p, n) _mm256_maskload_ps(p, U2_MASK(n))
#define U2_VSTOREN(p, v, n) _mm256_maskstore_ps(p, U2_MASK(n), v)
#define U2_VADD(a, b) _mm256_add_ps(a, b)
#define U2_VSUB(a, b) _mm256_sub_ps(a, b)
#define U2_VMUL(a, b) _mm256_mul_ps(a, b)
#define U2_VDIV(a, b) _mm256_div_ps(a, b)
#define U2_VFMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define U2_VERF(v) Sleef_erff8_u10avx2(v)
#define U2_VEXP(v) Sleef_expf8_u10avx2(v)

#define U2_PACK_BT_BLOCK(kc, src, ldb, dst) u2_pack_bt_x86(U2_NR, kc, src, ldb, dst)
#define U2_PACK_A_ROWS(kc, src, lda, dst) u2_pack_a_x86(U2_MR, kc, src, lda, dst)
static inline float u2_hsum_avx2(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}
#define U2_VHSUM(v) u2_hsum_avx2(v)
/* the four sums of a dot-tile row at once: three hadds and one add */
static inline __m128 u2_hsum4_avx2(__m256 a, __m256 b, __m256 c, __m256 d)
{
    const __m256 abcd = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
    return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}
#define U2_DOT_SUM_ROW(r) \
    _mm_storeu_ps(t + (r) * U2_NR, u2_hsum4_avx2(d##r##_0, d##r##_1, d##r##_2, d##r##_3));


#include "gemm_ukr.h"

void u2_gemm_init_avx2(u2_gemm_info *g)
{
    u2_gemm_fill_avx2(g);
}

void u2_sigmoid_colsum_avx2(float *s, int64_t m, int64_t n, int64_t lds, float *colsum)
{
    u2_sigcs_avx2(s, m, n, lds, colsum);
}

/* 12 independent FMA chains (latency 4 x 2 pipes needs >= 8) on registers. */
float u2_fma_burn_avx2(int64_t iters)
{
    __m256 x0 = _mm256_set1_ps(0.0f), x1 = _mm256_set1_ps(0.1f), x2 = _mm256_set1_ps(0.2f),
           x3 = _mm256_set1_ps(0.3f), x4 = _mm256_set1_ps(0.4f), x5 = _mm256_set1_ps(0.5f),
           x6 = _mm256_set1_ps(0.6f), x7 = _mm256_set1_ps(0.7f), x8 = _mm256_set1_ps(0.8f),
           x9 = _mm256_set1_ps(0.9f), x10 = _mm256_set1_ps(1.0f), x11 = _mm256_set1_ps(1.1f);
    const __m256 m = _mm256_set1_ps(0.999f), d = _mm256_set1_ps(0.001f);
    for (int64_t i = 0; i < iters; i++) {
        x0 = _mm256_fmadd_ps(x0, m, d); x1 = _mm256_fmadd_ps(x1, m, d);
        x2 = _mm256_fmadd_ps(x2, m, d); x3 = _mm256_fmadd_ps(x3, m, d);
        x4 = _mm256_fmadd_ps(x4, m, d); x5 = _mm256_fmadd_ps(x5, m, d);
        x6 = _mm256_fmadd_ps(x6, m, d); x7 = _mm256_fmadd_ps(x7, m, d);
        x8 = _mm256_fmadd_ps(x8, m, d); x9 = _mm256_fmadd_ps(x9, m, d);
        x10 = _mm256_fmadd_ps(x10, m, d); x11 = _mm256_fmadd_ps(x11, m, d);
    }
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(x0, x1), _mm256_add_ps(x2, x3)),
                             _mm256_add_ps(_mm256_add_ps(x4, x5), _mm256_add_ps(x6, x7)));
    s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(x8, x9), _mm256_add_ps(x10, x11)));
    float out[8];
    _mm256_storeu_ps(out, s);
    return out[0];
}

#endif
