/* Test only: the GEMM micro-kernel template (simd/gemm_ukr.h) at the AVX-512
 * geometry (12 x 32 tiles of 16-lane vectors, the AVX-512 blocksizes), with
 * plain GCC vectors and libm for erf/exp, so every line of template logic the
 * AVX-512 build runs (tile edges, masks, epilogue, packing) is exercised on
 * a CPU without AVX-512.  Only the one-line primitives differ.
 * Where the build has AVX2 this file is compiled with the AVX2 flags and uses
 * the same x86 transposing pack helpers as gemm_avx512.c, at its MR and NR. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "gemm_internal.h"

/* 64-byte GCC vectors passed by value in a file built without AVX-512 */
#pragma GCC diagnostic ignored "-Wpsabi"

#include <math.h>
#include <string.h>

typedef float u2v16 __attribute__((vector_size(64)));

static inline u2v16 emu_load(const float *p)
{
    u2v16 v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void emu_store(float *p, u2v16 v) { memcpy(p, &v, sizeof v); }

static inline u2v16 emu_loadn(const float *p, int n)
{
    u2v16 v = {0};
    memcpy(&v, p, (size_t)n * sizeof(float));
    return v;
}

static inline void emu_storen(float *p, u2v16 v, int n)
{
    memcpy(p, &v, (size_t)n * sizeof(float));
}

static inline u2v16 emu_erf(u2v16 v)
{
    for (int i = 0; i < 16; i++) v[i] = erff(v[i]);
    return v;
}

static inline u2v16 emu_exp(u2v16 v)
{
    for (int i = 0; i < 16; i++) v[i] = expf(v[i]);
    return v;
}

#define U2_SFX emu512
#define U2_V u2v16
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
#define U2_A_ROW(i, g, l) const u2v16 ar_ = U2_VSET1(ap_[i])
#define U2_A_FMA(acc, b, i, g, l) U2_VFMA(ar_, b, acc)
#define U2_VZERO() ((u2v16){0})
#define U2_VSET1(x) ((u2v16){0} + (x))
#define U2_VLOAD(p) emu_load(p)
#define U2_VSTORE(p, v) emu_store(p, v)
#define U2_VLOADN(p, n) emu_loadn(p, n)
#define U2_VSTOREN(p, v, n) emu_storen(p, v, n)
#define U2_VADD(a, b) ((a) + (b))
#define U2_VSUB(a, b) ((a) - (b))
#define U2_VMUL(a, b) ((a) * (b))
#define U2_VDIV(a, b) ((a) / (b))
#define U2_VFMA(a, b, c) ((a) * (b) + (c))
#define U2_VERF(v) emu_erf(v)
#define U2_VEXP(v) emu_exp(v)

#if defined(__AVX2__) && defined(__FMA__)
#include "gemm_x86_pack.h"
#define U2_PACK_BT_BLOCK(kc, src, ldb, dst) u2_pack_bt_x86(U2_NR, kc, src, ldb, dst)
#define U2_PACK_A_ROWS(kc, src, lda, dst) u2_pack_a_x86(U2_MR, kc, src, lda, dst)
#define U2_EMU_NEEDS U2_ISA_AVX2
#else
#define U2_EMU_NEEDS U2_ISA_SCALAR
#endif
static inline float emu_hsum(u2v16 v)
{
    /* the pairwise tree _mm512_reduce_add_ps uses */
    for (int w = 8; w >= 1; w /= 2)
        for (int i = 0; i < w; i++) v[i] += v[i + w];
    return v[0];
}
#define U2_VHSUM(v) emu_hsum(v)
#define U2_DOT_R 4
#define U2_DOT_C 6
#define U2_DOT_ROWS(X) X(0) X(1) X(2) X(3)
#define U2_DOT_ROWS_C(X, c) X(0, c) X(1, c) X(2, c) X(3, c)
#define U2_DOT_COLS(X) X(0) X(1) X(2) X(3) X(4) X(5)


#include "gemm_ukr.h"

int u2_gemm_emu512_needs(void)
{
    return U2_EMU_NEEDS;
}

void u2_gemm_init_emu512(u2_gemm_info *g)
{
    u2_gemm_fill_emu512(g);
    (void)u2_sigcs_emu512;
}
