/* AVX-512 GEMM: the micro-kernel template (gemm_ukr.h) at 12 x 32,
 * 24 zmm accumulators, plus the register-only FMA loop that measures peak.
 * This instance cannot run on the development machine (Zen3); the template
 * is the same code the AVX2 and NEON tests run, and tests/gemm_emu.c runs
 * the template at exactly this geometry with plain GCC vectors. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "gemm_internal.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#include <sleef.h>

#include "gemm_x86_pack.h"

/* Blocksizes: BLIS's Skylake-X starting point (KC 384: a KC x NR panel of B
 * is 48 KiB, in L1 on 48 KiB parts and streamed from L2 elsewhere; MC x KC of
 * A = 720 KiB for a 1 MiB L2).  Not tuned here: no AVX-512 on this machine. */
#define U2_SFX avx512
#define U2_V __m512
#define U2_VL 16
#define U2_MR U2_AVX512_MR
#define U2_NV U2_AVX512_NV
#define U2_KC U2_AVX512_KC
#define U2_MC U2_AVX512_MC
#define U2_NC U2_AVX512_NC
#define U2_ROWS(X) X(0, 0, 0) X(1, 0, 1) X(2, 0, 2) X(3, 0, 3) X(4, 0, 4) X(5, 0, 5) \
    X(6, 0, 6) X(7, 0, 7) X(8, 0, 8) X(9, 0, 9) X(10, 0, 10) X(11, 0, 11)
#define U2_ROWS_HALF(X) X(0, 0, 0) X(1, 0, 1) X(2, 0, 2) X(3, 0, 3) X(4, 0, 4) X(5, 0, 5)
#define U2_A_PREP(a) const float *const ap_ = (a)
#define U2_A_ROW(i, g, l) const __m512 ar_ = _mm512_set1_ps(ap_[i])
#define U2_A_FMA(acc, b, i, g, l) _mm512_fmadd_ps(ar_, b, acc)

#define U2_MASK(n) ((__mmask16)((1u << (n)) - 1u))
#define U2_VZERO() _mm512_setzero_ps()
#define U2_VSET1(x) _mm512_set1_ps(x)
#define U2_VLOAD(p) _mm512_loadu_ps(p)
#define U2_VSTORE(p, v) _mm512_storeu_ps(p, v)
#define U2_VLOADN(p, n) _mm512_maskz_loadu_ps(U2_MASK(n), p)
#define U2_VSTOREN(p, v, n) _mm512_mask_storeu_ps(p, U2_MASK(n), v)
#define U2_VADD(a, b) _mm512_add_ps(a, b)
#define U2_VSUB(a, b) _mm512_sub_ps(a, b)
#define U2_VMUL(a, b) _mm512_mul_ps(a, b)
#define U2_VDIV(a, b) _mm512_div_ps(a, b)
#define U2_VFMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define U2_VERF(v) Sleef_erff16_u10avx512f(v)
#define U2_VEXP(v) Sleef_expf16_u10avx512f(v)

/* the AVX2 transposes of gemm_x86_pack.h (tested by the AVX2 build) */
#define U2_PACK_BT_BLOCK(kc, src, ldb, dst) u2_pack_bt_x86(U2_NR, kc, src, ldb, dst)
#define U2_PACK_A_ROWS(kc, src, lda, dst) u2_pack_a_x86(U2_MR, kc, src, lda, dst)
#define U2_VHSUM(v) _mm512_reduce_add_ps(v)
/* dot tile 4 x 6: 24 accumulators + 4 rows of A + 1 of B in 32 registers */
#define U2_DOT_R 4
#define U2_DOT_C 6
#define U2_DOT_ROWS(X) X(0) X(1) X(2) X(3)
#define U2_DOT_ROWS_C(X, c) X(0, c) X(1, c) X(2, c) X(3, c)
#define U2_DOT_COLS(X) X(0) X(1) X(2) X(3) X(4) X(5)


#include "gemm_ukr.h"

void u2_gemm_init_avx512(u2_gemm_info *g)
{
    u2_gemm_fill_avx512(g);
}

void u2_sigmoid_colsum_avx512(float *s, int64_t m, int64_t n, int64_t lds, float *colsum)
{
    u2_sigcs_avx512(s, m, n, lds, colsum);
}

/* 12 independent FMA chains on registers (2 FMA ports x latency 4 needs >= 8). */
float u2_fma_burn_avx512(int64_t iters)
{
    __m512 x0 = _mm512_set1_ps(0.0f), x1 = _mm512_set1_ps(0.1f), x2 = _mm512_set1_ps(0.2f),
           x3 = _mm512_set1_ps(0.3f), x4 = _mm512_set1_ps(0.4f), x5 = _mm512_set1_ps(0.5f),
           x6 = _mm512_set1_ps(0.6f), x7 = _mm512_set1_ps(0.7f), x8 = _mm512_set1_ps(0.8f),
           x9 = _mm512_set1_ps(0.9f), x10 = _mm512_set1_ps(1.0f), x11 = _mm512_set1_ps(1.1f);
    const __m512 m = _mm512_set1_ps(0.999f), d = _mm512_set1_ps(0.001f);
    for (int64_t i = 0; i < iters; i++) {
        x0 = _mm512_fmadd_ps(x0, m, d); x1 = _mm512_fmadd_ps(x1, m, d);
        x2 = _mm512_fmadd_ps(x2, m, d); x3 = _mm512_fmadd_ps(x3, m, d);
        x4 = _mm512_fmadd_ps(x4, m, d); x5 = _mm512_fmadd_ps(x5, m, d);
        x6 = _mm512_fmadd_ps(x6, m, d); x7 = _mm512_fmadd_ps(x7, m, d);
        x8 = _mm512_fmadd_ps(x8, m, d); x9 = _mm512_fmadd_ps(x9, m, d);
        x10 = _mm512_fmadd_ps(x10, m, d); x11 = _mm512_fmadd_ps(x11, m, d);
    }
    __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(x0, x1), _mm512_add_ps(x2, x3)),
                             _mm512_add_ps(_mm512_add_ps(x4, x5), _mm512_add_ps(x6, x7)));
    s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(x8, x9), _mm512_add_ps(x10, x11)));
    return _mm512_reduce_add_ps(s);
}

#endif
