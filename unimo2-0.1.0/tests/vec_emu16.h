/* A plain-C vector layer of 16 lanes (the AVX-512 width), used only by the
 * tests: it runs simd/kernels_tmpl.h at VL = 16 on any machine, so the
 * template logic the AVX-512 instance uses (blocking, 15-lane tails) is
 * exercised even where AVX-512 cannot run.  The tail descriptor is a bit
 * mask built exactly as vec_avx512.h builds its __mmask16.
 * exp/erf are libm's, lane by lane. */
#ifndef UNIMO2_TESTS_VEC_EMU16_H
#define UNIMO2_TESTS_VEC_EMU16_H
#include "vec.h"

#include <math.h>
#include <stdint.h>

#define VL 16
#define U2_SFX emu16
typedef struct { float f[VL]; } vf;
typedef uint32_t vtail;

#define U2_EMU_MAP1(name, expr) \
    static inline vf name(vf a) { vf r; for (int i = 0; i < VL; i++) r.f[i] = (expr); return r; }
#define U2_EMU_MAP2(name, expr) \
    static inline vf name(vf a, vf b) { vf r; for (int i = 0; i < VL; i++) r.f[i] = (expr); return r; }

static inline vf v_load(const float *p) { vf r; for (int i = 0; i < VL; i++) r.f[i] = p[i]; return r; }
static inline void v_store(float *p, vf v) { for (int i = 0; i < VL; i++) p[i] = v.f[i]; }
static inline vtail v_tail(int64_t n) { return (uint32_t)((1u << n) - 1u); }
static inline vf v_load_tail(const float *p, vtail t, vf fill)
{
    vf r;
    for (int i = 0; i < VL; i++) r.f[i] = (t >> i) & 1u ? p[i] : fill.f[i];
    return r;
}
static inline void v_store_tail(float *p, vtail t, vf v)
{
    for (int i = 0; i < VL; i++)
        if ((t >> i) & 1u) p[i] = v.f[i];
}
static inline vf v_set1(float s) { vf r; for (int i = 0; i < VL; i++) r.f[i] = s; return r; }
static inline vf v_zero(void) { return v_set1(0.0f); }
U2_EMU_MAP2(v_add, a.f[i] + b.f[i])
U2_EMU_MAP2(v_sub, a.f[i] - b.f[i])
U2_EMU_MAP2(v_mul, a.f[i] * b.f[i])
U2_EMU_MAP2(v_div, a.f[i] / b.f[i])
U2_EMU_MAP2(v_max, a.f[i] > b.f[i] ? a.f[i] : b.f[i])
U2_EMU_MAP1(v_sqrt, sqrtf(a.f[i]))
U2_EMU_MAP1(v_exp, expf(a.f[i]))
U2_EMU_MAP1(v_erf, erff(a.f[i]))
static inline vf v_fma(vf a, vf b, vf c)
{
    vf r;
    for (int i = 0; i < VL; i++) r.f[i] = fmaf(a.f[i], b.f[i], c.f[i]);
    return r;
}
/* pairwise tree, like _mm512_reduce_add_ps */
static inline float v_hsum(vf v)
{
    for (int w = VL / 2; w > 0; w /= 2)
        for (int i = 0; i < w; i++) v.f[i] += v.f[i + w];
    return v.f[0];
}
static inline double v_hsum_d(vf v)
{
    double d[VL];
    for (int i = 0; i < VL; i++) d[i] = v.f[i];
    for (int w = VL / 2; w > 0; w /= 2)
        for (int i = 0; i < w; i++) d[i] += d[i + w];
    return d[0];
}
static inline float v_hmax(vf v)
{
    for (int w = VL / 2; w > 0; w /= 2)
        for (int i = 0; i < w; i++) v.f[i] = v.f[i] > v.f[i + w] ? v.f[i] : v.f[i + w];
    return v.f[0];
}

#endif
