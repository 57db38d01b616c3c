/* The vector layer for AVX2 + FMA (8 lanes); see simd/vec.h.
 * Tails use _mm256_maskload_ps/_mm256_maskstore_ps, which never touch
 * (nor fault on) the masked-off lanes. */
#ifndef UNIMO2_SIMD_VEC_AVX2_H
#define UNIMO2_SIMD_VEC_AVX2_H
#include "vec.h"

#include <immintrin.h>
#include <sleef.h>
#include <stdint.h>

#define VL 8
#define U2_SFX avx2
typedef __m256 vf;
typedef __m256i vtail;

static inline vf v_load(const float *p) { return _mm256_loadu_ps(p); }
static inline void v_store(float *p, vf v) { _mm256_storeu_ps(p, v); }

/* lane i is on when i < n (sign bit set) */
static inline vtail v_tail(int64_t n)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
static inline vf v_load_tail(const float *p, vtail t, vf fill)
{
    return _mm256_blendv_ps(fill, _mm256_maskload_ps(p, t), _mm256_castsi256_ps(t));
}
static inline void v_store_tail(float *p, vtail t, vf v) { _mm256_maskstore_ps(p, t, v); }

static inline vf v_set1(float s) { return _mm256_set1_ps(s); }
static inline vf v_zero(void) { return _mm256_setzero_ps(); }
static inline vf v_add(vf a, vf b) { return _mm256_add_ps(a, b); }
static inline vf v_sub(vf a, vf b) { return _mm256_sub_ps(a, b); }
static inline vf v_mul(vf a, vf b) { return _mm256_mul_ps(a, b); }
static inline vf v_div(vf a, vf b) { return _mm256_div_ps(a, b); }
static inline vf v_max(vf a, vf b) { return _mm256_max_ps(a, b); }
static inline vf v_sqrt(vf a) { return _mm256_sqrt_ps(a); }
static inline vf v_fma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }

static inline float v_hsum(vf v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
static inline double v_hsum_d(vf v)
{
    __m256d d = _mm256_add_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v)),
                              _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(d), _mm256_extractf128_pd(d, 1));
    s = _mm_add_sd(s, _mm_unpackhi_pd(s, s));
    return _mm_cvtsd_f64(s);
}
static inline float v_hmax(vf v)
{
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline vf v_exp(vf v) { return Sleef_expf8_u10avx2(v); }
static inline vf v_erf(vf v) { return Sleef_erff8_u10avx2(v); }

#endif
