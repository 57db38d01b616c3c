/* Pieces of the GEMM shared between the driver, the ISA files, the tests and
 * the benchmark (not part of the public API). */
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

/* Test only (tests/gemm_emu.c): the micro-kernel template instantiated with
 * plain GCC vectors at the AVX-512 geometry (12 x 32, 16 lanes, the AVX-512
 * blocksizes), so the AVX-512 code path is exercised on CPUs without it. */
void u2_gemm_init_emu512(u2_gemm_info *g);
/* The ISA the emulation was compiled for (it borrows the AVX2 pack helpers
 * where the build has AVX2): run it only where u2_cpu_has() says so. */
int u2_gemm_emu512_needs(void);

/* What a micro-kernel instance offers beyond the u2_ukr_fn contract, found
 * through its ukr pointer (kernels.h's u2_gemm_info has no room for it):
 * ukr_bs is the same micro-kernel reading b in place with a row stride
 * (b + p * ldb holds row p of the tile's NR columns, all NR of them real). */
typedef void (*u2_ukr_bs_fn)(int64_t k, const float *a, const float *b, int64_t ldb, float *c,
                             int64_t ldc, int m, int n, float alpha, float beta,
                             const u2_epilogue *epi);
/* dot(): C = op(A) B^T for an m x n tile (m <= dot_r, n <= dot_c) with A's
 * rows (stride lda) and B's rows (stride ldb) both contiguous along K: the
 * small-M NT path, which neither packs nor transposes.  Full K in one call,
 * then alpha, beta and the epilogue as in the micro-kernel contract. */
typedef void (*u2_dot_fn)(int64_t K, const float *A, int64_t lda, const float *B, int64_t ldb,
                          float *c, int64_t ldc, int m, int n, float alpha, float beta,
                          const u2_epilogue *epi);
typedef struct {
    u2_ukr_fn ukr;
    u2_ukr_bs_fn ukr_bs;
    u2_dot_fn dot;
    int dot_r, dot_c;
} u2_gemm_ext;
/* Called by each instance's initialiser (idempotent; a few instances only). */
void u2_gemm_register_ext(const u2_gemm_ext *e);
/* The extras of the instance whose micro-kernel is ukr, or NULL. */
const u2_gemm_ext *u2_gemm_find_ext(u2_ukr_fn ukr);

/* Tile shapes and cache blocking per ISA (see each ISA file for why). */
#define U2_AVX512_MR 12
#define U2_AVX512_NV 2 /* NR = 32 */
#define U2_AVX512_KC 384
#define U2_AVX512_MC 480
#define U2_AVX512_NC 3072

/* The thread count u2_sgemm uses for a problem: 1 below a size where a
 * second thread costs more than it saves, else u2_num_threads() (or the
 * given budget). */
int u2_gemm_threads(int64_t M, int64_t N, int64_t K);
int u2_gemm_threads_for(int budget, int64_t M, int64_t N, int64_t K);

/* u2_gd_scores with an explicit table and thread count (tests, benchmarks). */
void u2_gd_scores_k(const u2_kernels *k, int nthreads, const float *X, int64_t T, int64_t ldx,
                    const float *E, int64_t C, int64_t D, float tau, float *s, int64_t lds,
                    float *S);

/* Per-ISA extras for the benchmark and the grounding search. */
typedef float (*u2_fma_burn_fn)(int64_t iters);
typedef void (*u2_sigcs_fn)(float *s, int64_t m, int64_t n, int64_t lds, float *colsum);
typedef struct {
    /* A register-only loop of independent FMAs: `iters` iterations of
     * burn_flops floating-point operations; the result only defeats
     * dead-code elimination. */
    u2_fma_burn_fn burn;
    int burn_flops;
    /* s = sigmoid(s) in place and colsum[j] += sum_i s[i][j] for an m x n block:
     * the unfused second pass of the grounding search. */
    u2_sigcs_fn sigcs;
} u2_gemm_extras;
/* 0 and *out filled when the ISA is built (not checking the CPU), else -1. */
int u2_gemm_extras_isa(u2_isa isa, u2_gemm_extras *out);

float u2_fma_burn_ref(int64_t iters);
float u2_fma_burn_avx2(int64_t iters);
float u2_fma_burn_avx512(int64_t iters);
float u2_fma_burn_neon(int64_t iters);
void u2_sigmoid_colsum_ref(float *s, int64_t m, int64_t n, int64_t lds, float *colsum);
void u2_sigmoid_colsum_avx2(float *s, int64_t m, int64_t n, int64_t lds, float *colsum);
void u2_sigmoid_colsum_avx512(float *s, int64_t m, int64_t n, int64_t lds, float *colsum);
void u2_sigmoid_colsum_neon(float *s, int64_t m, int64_t n, int64_t lds, float *colsum);

#endif
