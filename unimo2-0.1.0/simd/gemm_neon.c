/* NEON (AArch64 Advanced SIMD) GEMM: the micro-kernel template (gemm_ukr.h)
 * at 8 x 12, 24 q-register accumulators; the A column is two vectors and
 * each row uses vfmaq_laneq_f32 instead of a broadcast. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "gemm_internal.h"

#if defined(__aarch64__)
#include <arm_neon.h>
#include <sleef.h>
#include <string.h>

/* Blocksizes for a Cortex-A76/Neoverse-N1 class core (64 KiB L1d, 512 KiB+
 * L2): a KC x NR panel of B is 12 KiB, MC x KC of A 128 KiB. */
#define U2_SFX neon
#define U2_V float32x4_t
#define U2_VL 4
#define U2_MR 8
#define U2_NV 3
#define U2_KC 256
#define U2_MC 128
#define U2_NC 3072
#define U2_ROWS(X) X(0, 0, 0) X(1, 0, 1) X(2, 0, 2) X(3, 0, 3) \
    X(4, 1, 0) X(5, 1, 1) X(6, 1, 2) X(7, 1, 3)
#define U2_ROWS_HALF(X) X(0, 0, 0) X(1, 0, 1) X(2, 0, 2) X(3, 0, 3)
#define U2_A_PREP(a) const float32x4_t ag_0 = vld1q_f32(a), ag_1 = vld1q_f32((a) + 4)
#define U2_A_PREP_HALF(a) const float32x4_t ag_0 = vld1q_f32(a)
#define U2_A_ROW(i, g, l) (void)0
#define U2_A_FMA(acc, b, i, g, l) vfmaq_laneq_f32(acc, b, ag_##g, l)

static inline float32x4_t u2_ldn_neon(const float *p, int n)
{
    float t[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    memcpy(t, p, (size_t)n * sizeof(float));
    return vld1q_f32(t);
}

static inline void u2_stn_neon(float *p, float32x4_t v, int n)
{
    float t[4];
    vst1q_f32(t, v);
    memcpy(p, t, (size_t)n * sizeof(float));
}

#define U2_VZERO() vdupq_n_f32(0.0f)
#define U2_VSET1(x) vdupq_n_f32(x)
#define U2_VLOAD(p) vld1q_f32(p)
#define U2_VSTORE(p, v) vst1q_f32(p, v)
#define U2_VLOADN(p, n) u2_ldn_neon(p, n)
#define U2_VSTOREN(p, v, n) u2_stn_neon(p, v, n)
#define U2_VADD(a, b) vaddq_f32(a, b)
#define U2_VSUB(a, b) vsubq_f32(a, b)
#define U2_VMUL(a, b) vmulq_f32(a, b)
#define U2_VDIV(a, b) vdivq_f32(a, b)
#define U2_VFMA(a, b, c) vfmaq_f32(c, a, b)
#define U2_VERF(v) Sleef_erff4_u10advsimd(v)
#define U2_VEXP(v) Sleef_expf4_u10advsimd(v)
#define U2_VHSUM(v) vaddvq_f32(v)


#include "gemm_ukr.h"

void u2_gemm_init_neon(u2_gemm_info *g)
{
    u2_gemm_fill_neon(g);
}

void u2_sigmoid_colsum_neon(float *s, int64_t m, int64_t n, int64_t lds, float *colsum)
{
    u2_sigcs_neon(s, m, n, lds, colsum);
}

/* 12 independent FMA chains on registers. */
float u2_fma_burn_neon(int64_t iters)
{
    float32x4_t x[12];
    for (int j = 0; j < 12; j++) x[j] = vdupq_n_f32(0.1f * (float)j);
    const float32x4_t m = vdupq_n_f32(0.999f), d = vdupq_n_f32(0.001f);
    for (int64_t i = 0; i < iters; i++) {
        x[0] = vfmaq_f32(d, x[0], m); x[1] = vfmaq_f32(d, x[1], m);
        x[2] = vfmaq_f32(d, x[2], m); x[3] = vfmaq_f32(d, x[3], m);
        x[4] = vfmaq_f32(d, x[4], m); x[5] = vfmaq_f32(d, x[5], m);
        x[6] = vfmaq_f32(d, x[6], m); x[7] = vfmaq_f32(d, x[7], m);
        x[8] = vfmaq_f32(d, x[8], m); x[9] = vfmaq_f32(d, x[9], m);
        x[10] = vfmaq_f32(d, x[10], m); x[11] = vfmaq_f32(d, x[11], m);
    }
    float32x4_t s = vdupq_n_f32(0.0f);
    for (int j = 0; j < 12; j++) s = vaddq_f32(s, x[j]);
    return vaddvq_f32(s);
}

#endif
