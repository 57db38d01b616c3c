/* The vector layer for AArch64 Advanced SIMD (4 lanes); see simd/vec.h.
 * NEON has no masked load/store: a tail goes through a 4-float stack
 * buffer, copying exactly n elements in or out. */
#ifndef UNIMO2_SIMD_VEC_NEON_H
#define UNIMO2_SIMD_VEC_NEON_H
#include "vec.h"

#include <arm_neon.h>
#include <sleef.h>
#include <stdint.h>

#define VL 4
#define U2_SFX neon
typedef float32x4_t vf;
typedef int vtail; /* the number of live lanes */

static inline vf v_load(const float *p) { return vld1q_f32(p); }
static inline void v_store(float *p, vf v) { vst1q_f32(p, v); }

static inline vtail v_tail(int64_t n) { return (int)n; }
static inline vf v_load_tail(const float *p, vtail t, vf fill)
{
    float buf[VL];
    vst1q_f32(buf, fill);
    for (int i = 0; i < t; i++) buf[i] = p[i];
    return vld1q_f32(buf);
}
static inline void v_store_tail(float *p, vtail t, vf v)
{
    float buf[VL];
    vst1q_f32(buf, v);
    for (int i = 0; i < t; i++) p[i] = buf[i];
}

static inline vf v_set1(float s) { return vdupq_n_f32(s); }
static inline vf v_zero(void) { return vdupq_n_f32(0.0f); }
static inline vf v_add(vf a, vf b) { return vaddq_f32(a, b); }
static inline vf v_sub(vf a, vf b) { return vsubq_f32(a, b); }
static inline vf v_mul(vf a, vf b) { return vmulq_f32(a, b); }
static inline vf v_div(vf a, vf b) { return vdivq_f32(a, b); }
static inline vf v_max(vf a, vf b) { return vmaxq_f32(a, b); }
static inline vf v_sqrt(vf a) { return vsqrtq_f32(a); }
static inline vf v_fma(vf a, vf b, vf c) { return vfmaq_f32(c, a, b); }

static inline float v_hsum(vf v) { return vaddvq_f32(v); }
static inline double v_hsum_d(vf v)
{
    return vaddvq_f64(vaddq_f64(vcvt_f64_f32(vget_low_f32(v)), vcvt_high_f64_f32(v)));
}
static inline float v_hmax(vf v) { return vmaxvq_f32(v); }

static inline vf v_exp(vf v) { return Sleef_expf4_u10advsimd(v); }
static inline vf v_erf(vf v) { return Sleef_erff4_u10advsimd(v); }

#endif
