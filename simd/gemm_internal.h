/* Pieces of the GEMM shared between the driver and the ISA files. */
#ifndef UNIMO2_SIMD_GEMM_INTERNAL_H
#define UNIMO2_SIMD_GEMM_INTERNAL_H
#include "kernels.h"

void u2_pack_a_generic(int mr, int64_t mc, int64_t kc, const float *A, int64_t lda,
                       int trans, float *dst);
void u2_pack_b_generic(int nr, int64_t kc, int64_t nc, const float *B, int64_t ldb,
                       int trans, float *dst);
void u2_epilogue_store_ref(const float *t, int64_t ldt, float *c, int64_t ldc, int m, int n,
                           const u2_epilogue *epi);
void u2_gemm_init_ref(u2_gemm_info *g);
void u2_gemm_init_avx2(u2_gemm_info *g);
void u2_gemm_init_avx512(u2_gemm_info *g);
void u2_gemm_init_neon(u2_gemm_info *g);

#endif
