/* Transposing pack helpers shared by the AVX2 and AVX-512 GEMM files (both
 * are built with AVX2; the AVX2 tests run this code with NR = 16 and MR = 6,
 * AVX-512 uses it with NR = 32 and MR = 12).  Both are 8 x 8 transposes in
 * ymm registers; the template (gemm_ukr.h) packs whatever they leave. */
#ifndef UNIMO2_SIMD_GEMM_X86_PACK_H
#define UNIMO2_SIMD_GEMM_X86_PACK_H
#include <immintrin.h>
#include <stdint.h>

/* r[0..8) rows of 8 floats -> r[q] = column q (lanes = rows) */
static inline void u2_tr8x8(__m256 r[8])
{
    const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xee);
    const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xee);
    const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xee);
    const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xee);
    r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
    r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
    r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
    r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
    r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
    r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
    r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
    r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

/* B stored N x K, one full panel of nr rows (nr % 8 == 0):
 * dst[p * nr + j] = src[j * ldb + p] for p < kc rounded down to 8.
 * Returns how many p it packed. */
static inline int64_t u2_pack_bt_x86(int nr, int64_t kc, const float *src, int64_t ldb,
                                     float *dst)
{
    const int64_t k8 = kc & ~(int64_t)7;
    for (int64_t p = 0; p < k8; p += 8) {
        for (int j0 = 0; j0 < nr; j0 += 8) {
            __m256 r[8];
            for (int q = 0; q < 8; q++) r[q] = _mm256_loadu_ps(src + (j0 + q) * ldb + p);
            u2_tr8x8(r);
            for (int q = 0; q < 8; q++) _mm256_storeu_ps(dst + (p + q) * nr + j0, r[q]);
        }
    }
    return k8;
}

/* A stored M x K, one full panel of mr rows (mr % 2 == 0):
 * dst[p * mr + r] = src[r * lda + p] for p < kc rounded down to 8.
 * Row groups of 8; a short last group (6 of AVX2's 6, 4 of AVX-512's 12)
 * repeats its last row in the spare lanes and stores only its own. */
static inline int64_t u2_pack_a_x86(int mr, int64_t kc, const float *src, int64_t lda,
                                    float *dst)
{
    const int64_t k8 = kc & ~(int64_t)7;
    for (int64_t p = 0; p < k8; p += 8) {
        for (int i0 = 0; i0 < mr; i0 += 8) {
            const int rows = mr - i0 < 8 ? mr - i0 : 8;
            __m256 r[8];
            for (int q = 0; q < 8; q++)
                r[q] = _mm256_loadu_ps(src + (i0 + (q < rows ? q : rows - 1)) * lda + p);
            u2_tr8x8(r);
            float *d = dst + p * mr + i0;
            if (rows == 8) {
                for (int q = 0; q < 8; q++) _mm256_storeu_ps(d + q * mr, r[q]);
            } else {
                for (int q = 0; q < 8; q++) {
                    const __m128 lo = _mm256_castps256_ps128(r[q]);
                    float *dq = d + q * mr;
                    if (rows >= 4) {
                        _mm_storeu_ps(dq, lo);
                        if (rows == 6)
                            _mm_storel_pi((__m64 *)(dq + 4), _mm256_extractf128_ps(r[q], 1));
                        else if (rows != 4)
                            for (int z = 4; z < rows; z++) dq[z] = r[q][z];
                    } else {
                        for (int z = 0; z < rows; z++) dq[z] = r[q][z];
                    }
                }
            }
        }
    }
    return k8;
}

#endif
