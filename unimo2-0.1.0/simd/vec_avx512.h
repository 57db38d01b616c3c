/* The vector layer for AVX-512F (16 lanes); see simd/vec.h.
 * Tails use __mmask16 masked loads/stores, which never touch (nor fault on)
 * the masked-off lanes. */
#ifndef UNIMO2_SIMD_VEC_AVX512_H
#define UNIMO2_SIMD_VEC_AVX512_H
#include "vec.h"

#include <immintrin.h>
#include <sleef.h>
#include <stdint.h>

#define VL 16
#define U2_SFX avx512
typedef __m512 vf;
typedef __mmask16 vtail;

static inline vf v_load(const float *p) { return _mm512_loadu_ps(p); }
static inline void v_store(float *p, vf v) { _mm512_storeu_ps(p, v); }

/* bits [0, n) set; 0 < n < 16 */
static inline vtail v_tail(int64_t n) { return (__mmask16)((1u << n) - 1u); }
static inline vf v_load_tail(const float *p, vtail t, vf fill)
{
    return _mm512_mask_loadu_ps(fill, t, p);
}
static inline void v_store_tail(float *p, vtail t, vf v) { _mm512_mask_storeu_ps(p, t, v); }

static inline vf v_set1(float s) { return _mm512_set1_ps(s); }
static inline vf v_zero(void) { return _mm512_setzero_ps(); }
static inline vf v_add(vf a, vf b) { return _mm512_add_ps(a, b); }
static inline vf v_sub(vf a, vf b) { return _mm512_sub_ps(a, b); }
static inline vf v_mul(vf a, vf b) { return _mm512_mul_ps(a, b); }
static inline vf v_div(vf a, vf b) { return _mm512_div_ps(a, b); }
static inline vf v_max(vf a, vf b) { return _mm512_max_ps(a, b); }
static inline vf v_sqrt(vf a) { return _mm512_sqrt_ps(a); }
static inline vf v_fma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }

static inline float v_hsum(vf v) { return _mm512_reduce_add_ps(v); }
static inline double v_hsum_d(vf v)
{
    __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
    __m512d hi = _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1));
    return _mm512_reduce_add_pd(_mm512_add_pd(lo, hi));
}
static inline float v_hmax(vf v) { return _mm512_reduce_max_ps(v); }

static inline vf v_exp(vf v) { return Sleef_expf16_u10avx512f(v); }
static inline vf v_erf(vf v) { return Sleef_erff16_u10avx512f(v); }

#endif
