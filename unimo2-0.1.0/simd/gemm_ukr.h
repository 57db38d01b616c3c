/* The GEMM micro-kernel and packing routines, written once and instantiated
 * by each ISA file (gemm_avx2.c, gemm_avx512.c, gemm_neon.c, and the test-only
 * tests/gemm_emu.c that runs the AVX-512 geometry on any CPU).  The same
 * source lines therefore run under every ISA's tests; only the one-line
 * primitives below differ.
 *
 * The including file defines, then includes this header once:
 *
 *   U2_SFX            suffix of the generated names (avx2, avx512, ...)
 *   U2_V, U2_VL       vector type and its number of float lanes
 *   U2_MR, U2_NV      tile rows, and vectors per tile row (NR = NV * VL)
 *   U2_ROWS(X)        X(i, g, l) for every tile row i = 0 .. MR-1; g and l
 *                     say which A vector and lane hold row i (NEON's
 *                     lane-indexed FMA; ignored by broadcast ISAs)
 *   U2_A_PREP(a)      declarations the row FMAs need from A column a[0..MR)
 *   U2_A_ROW(i, g, l) declarations for row i (e.g. the broadcast of a[i])
 *   U2_A_FMA(acc, b, i, g, l)   acc + a[i] * b
 *   U2_VZERO() U2_VSET1(x) U2_VLOAD(p) U2_VSTORE(p, v)     (unaligned)
 *   U2_VLOADN(p, n)   lanes 0..n) from p, zeros above; touches p[0..n) only
 *   U2_VSTOREN(p, v, n)  store lanes 0..n) to p[0..n) only      (0 < n < VL)
 *   U2_VADD U2_VSUB U2_VMUL U2_VDIV, U2_VFMA(a, b, c) = a * b + c
 *   U2_VERF(v) U2_VEXP(v)   1-ulp vector erf and exp (SLEEF u10)
 *   U2_VHSUM(v)       the sum of v's lanes, in a fixed order
 *   U2_KC U2_MC U2_NC  cache blocking (data for the driver, gemm.c)
 * and optionally U2_ROWS_HALF(X) (the top MR/2 rows, for short edge tiles,
 * with U2_A_PREP_HALF(a) when those rows need less of A than U2_A_PREP)
 * and U2_DOT_* (the dot-product tile for small-M A B^T, default 3 x 4;
 * U2_DOT_SUM_ROW(r) may store row r's DC sums to t + r * NR in one go).
 *
 * The micro-kernel (contract in kernels.h), for AVX2 (MR = 6, NV = 2, VL = 8):
 *
 *          p = 0 .. k-1                     NR = 16 = 2 vectors
 *     a: [a0 .. a5][a0 .. a5] ...     b: [b0 ........ b15][b0 ... b15] ...
 *
 *                 b_0 (8 lanes)   b_1 (8 lanes)
 *     bcast a0 -> c0_0           c0_1             12 accumulators;
 *     bcast a1 -> c1_0           c1_1             per p: 2 loads of b,
 *       ...                                       6 broadcasts of a,
 *     bcast a5 -> c5_0           c5_1             12 FMAs
 *
 * Full tiles without an epilogue are written straight from the registers;
 * anything else (edge tiles m < MR or n < NR, or the epilogue on the last k
 * block) spills the tile to a small aligned buffer and runs one compact
 * epilogue loop with masked loads and stores, so padded lanes never reach
 * memory and C is never read when beta == 0.
 */
#ifndef U2_SFX
#error "define the ISA primitives before including gemm_ukr.h"
#endif

#include "gemm_internal.h"

#include <string.h>

#define U2_PASTE_(a, b) a##_##b
#define U2_PASTE(a, b) U2_PASTE_(a, b)
#define U2_FN(name) U2_PASTE(name, U2_SFX)
#define U2_NR (U2_NV * U2_VL)
#if defined(U2_DOT_R) && (U2_DOT_R > U2_MR || U2_DOT_C > U2_NR)
#error "the dot tile must fit the MR x NR tile buffer"
#endif

#if U2_NV == 1
#define U2_COLS(X, i, g, l) X(i, g, l, 0)
#elif U2_NV == 2
#define U2_COLS(X, i, g, l) X(i, g, l, 0) X(i, g, l, 1)
#elif U2_NV == 3
#define U2_COLS(X, i, g, l) X(i, g, l, 0) X(i, g, l, 1) X(i, g, l, 2)
#elif U2_NV == 4
#define U2_COLS(X, i, g, l) X(i, g, l, 0) X(i, g, l, 1) X(i, g, l, 2) X(i, g, l, 3)
#else
#error "U2_NV must be 1..4"
#endif

/* accumulator c<i>_<j>: row i, vector j of the tile */
#define U2_DECL_CELL(i, g, l, j) U2_V c##i##_##j = U2_VZERO();
#define U2_DECL_ROW(i, g, l) U2_COLS(U2_DECL_CELL, i, g, l)
#define U2_LOADB_CELL(i, g, l, j) const U2_V b_##j = U2_VLOAD(b + (j) * U2_VL);
#define U2_FMA_CELL(i, g, l, j) c##i##_##j = U2_A_FMA(c##i##_##j, b_##j, i, g, l);
#define U2_FMA_ROW(i, g, l) { U2_A_ROW(i, g, l); U2_COLS(U2_FMA_CELL, i, g, l) }
#define U2_SPILL_CELL(i, g, l, j) U2_VSTORE(t + (i) * U2_NR + (j) * U2_VL, c##i##_##j);
#define U2_SPILL_ROW(i, g, l) U2_COLS(U2_SPILL_CELL, i, g, l)
#define U2_PF_ROW(i, g, l) \
    __builtin_prefetch(c + (i) * ldc, 1); __builtin_prefetch(c + (i) * ldc + U2_NR - 1, 1);
/* full tile, beta == 0: c = alpha * acc */
#define U2_ST0_CELL(i, g, l, j) U2_VSTORE(c + (i) * ldc + (j) * U2_VL, U2_VMUL(va, c##i##_##j));
#define U2_ST0_ROW(i, g, l) U2_COLS(U2_ST0_CELL, i, g, l)
/* full tile, beta != 0: c = alpha * acc + beta * c */
#define U2_ST1_CELL(i, g, l, j) { \
    float *cp_ = c + (i) * ldc + (j) * U2_VL; \
    U2_VSTORE(cp_, U2_VFMA(vb, U2_VLOAD(cp_), U2_VMUL(va, c##i##_##j))); }
#define U2_ST1_ROW(i, g, l) U2_COLS(U2_ST1_CELL, i, g, l)

/* lanes 0..nl) of p, nl in 1..VL */
static inline U2_V U2_FN(u2_ldp)(const float *p, int nl)
{
    return nl == U2_VL ? U2_VLOAD(p) : U2_VLOADN(p, nl);
}

static inline void U2_FN(u2_stp)(float *p, U2_V v, int nl)
{
    if (nl == U2_VL) U2_VSTORE(p, v);
    else U2_VSTOREN(p, v, nl);
}

/* exact GELU: x/2 (1 + erf(x / sqrt 2)) */
static inline U2_V U2_FN(u2_gelu)(U2_V x)
{
    const U2_V e = U2_VERF(U2_VMUL(x, U2_VSET1(0.70710678118654752440f)));
    return U2_VMUL(U2_VMUL(U2_VSET1(0.5f), x), U2_VADD(U2_VSET1(1.0f), e));
}

static inline U2_V U2_FN(u2_sigmoid)(U2_V x)
{
    const U2_V one = U2_VSET1(1.0f);
    return U2_VDIV(one, U2_VADD(one, U2_VEXP(U2_VSUB(U2_VZERO(), x))));
}

/* The slow path of the store: t is the MR x NR tile of raw sums (row stride
 * NR); only c[0..m)[0..n) is read (beta != 0) or written.  The flags are
 * constants after inlining, so the common epilogues get branch-free loops. */
static inline __attribute__((always_inline)) void
U2_FN(u2_tile_out_impl)(const float *t, float *c, int64_t ldc, int m, int n, float alpha,
                        float beta, const u2_epilogue *e, const int full, const int act,
                        const int bias, const int pre)
{
    const U2_V va = U2_VSET1(alpha), vb = U2_VSET1(beta);
    const int nvec = full ? U2_NV : (n + U2_VL - 1) / U2_VL;
    for (int j = 0; j < nvec; j++) { /* a column of vectors at a time: its sum stays in a register */
        const int nl = full ? U2_VL : n - j * U2_VL < U2_VL ? n - j * U2_VL : U2_VL;
        const U2_V vbias = bias ? U2_FN(u2_ldp)(e->bias + j * U2_VL, nl) : U2_VZERO();
        U2_V cs = U2_VZERO();
        for (int i = 0; i < m; i++) {
            float *cp = c + i * ldc + j * U2_VL;
            U2_V v = U2_VMUL(va, U2_VLOAD(t + i * U2_NR + j * U2_VL));
            if (beta != 0.0f) v = U2_VFMA(vb, U2_FN(u2_ldp)(cp, nl), v);
            if (bias) v = U2_VADD(v, vbias);
            if (pre) U2_FN(u2_stp)(e->pre + i * e->ldpre + j * U2_VL, v, nl);
            if (act == U2_ACT_GELU) {
                v = U2_FN(u2_gelu)(v);
            } else if (act == U2_ACT_SIGMOID_COLSUM) {
                v = U2_FN(u2_sigmoid)(v);
                cs = U2_VADD(cs, v); /* rows summed in order 0..m) */
            }
            U2_FN(u2_stp)(cp, v, nl);
        }
        if (act == U2_ACT_SIGMOID_COLSUM && e->colsum) {
            float *sp = e->colsum + j * U2_VL;
            U2_FN(u2_stp)(sp, U2_VADD(U2_FN(u2_ldp)(sp, nl), cs), nl);
        }
    }
}

static void U2_FN(u2_tile_out)(const float *t, float *c, int64_t ldc, int m, int n,
                               float alpha, float beta, const u2_epilogue *e)
{
    const int act = e ? e->act : U2_ACT_NONE, bias = e && e->bias, pre = e && e->pre;
    const int full = n == U2_NR;
#define U2_TILE_OUT(f, a, b, p) U2_FN(u2_tile_out_impl)(t, c, ldc, m, n, alpha, beta, e, f, a, b, p)
    /* the epilogues the model runs on full tiles: scores, FFN, projections */
    if (full && act == U2_ACT_SIGMOID_COLSUM && !bias && !pre) U2_TILE_OUT(1, U2_ACT_SIGMOID_COLSUM, 0, 0);
    else if (full && act == U2_ACT_GELU && bias && !pre) U2_TILE_OUT(1, U2_ACT_GELU, 1, 0);
    else if (full && act == U2_ACT_GELU && bias && pre) U2_TILE_OUT(1, U2_ACT_GELU, 1, 1);
    else if (full && act == U2_ACT_NONE && bias && !pre) U2_TILE_OUT(1, U2_ACT_NONE, 1, 0);
    else U2_TILE_OUT(0, act, bias, pre);
#undef U2_TILE_OUT
}

/* The micro-kernel body; bs is the distance between consecutive rows of b:
 * NR for a packed panel, or ldb when b is read in place from a row-major B
 * (the driver's no-packing path for small M, full panels only). */
static inline __attribute__((always_inline)) void
U2_FN(u2_ukr_body)(int64_t k, const float *a, const float *b, int64_t bs, float *c, int64_t ldc,
                   int m, int n, float alpha, float beta, const u2_epilogue *epi)
{
    U2_ROWS(U2_DECL_ROW)
    if (m == U2_MR && n == U2_NR) { /* C's lines arrive while the loop runs */
        U2_ROWS(U2_PF_ROW)
    }
#ifdef U2_ROWS_HALF
    if (m <= U2_MR / 2) { /* a short edge tile: only the top half of the rows */
        for (int64_t p = 0; p < k; p++) {
            U2_COLS(U2_LOADB_CELL, _, _, _)
#ifdef U2_A_PREP_HALF
            U2_A_PREP_HALF(a);
#else
            U2_A_PREP(a);
#endif
            U2_ROWS_HALF(U2_FMA_ROW)
            a += U2_MR;
            b += bs;
        }
    } else
#endif
    {
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC unroll 4
#endif
        for (int64_t p = 0; p < k; p++) {
            U2_COLS(U2_LOADB_CELL, _, _, _)
            U2_A_PREP(a);
            U2_ROWS(U2_FMA_ROW)
            a += U2_MR;
            b += bs;
        }
    }
    const U2_V va = U2_VSET1(alpha);
    if (m == U2_MR && n == U2_NR && !epi) {
        if (beta == 0.0f) {
            U2_ROWS(U2_ST0_ROW)
        } else {
            const U2_V vb = U2_VSET1(beta);
            U2_ROWS(U2_ST1_ROW)
        }
        return;
    }
    (void)va;
    _Alignas(64) float t[U2_MR * U2_NR];
    U2_ROWS(U2_SPILL_ROW)
    U2_FN(u2_tile_out)(t, c, ldc, m, n, alpha, beta, epi);
}

static void U2_FN(u2_ukr)(int64_t k, const float *a, const float *b, float *c, int64_t ldc,
                          int m, int n, float alpha, float beta, const u2_epilogue *epi)
{
    U2_FN(u2_ukr_body)(k, a, b, U2_NR, c, ldc, m, n, alpha, beta, epi);
}

/* b read in place: row p of the tile's columns at b + p * ldb (all NR of them) */
static void U2_FN(u2_ukr_bs)(int64_t k, const float *a, const float *b, int64_t ldb, float *c,
                             int64_t ldc, int m, int n, float alpha, float beta,
                             const u2_epilogue *epi)
{
    U2_FN(u2_ukr_body)(k, a, b, ldb, c, ldc, m, n, alpha, beta, epi);
}

/* The dot-product tile for C = A B^T with few rows of A (both operands
 * contiguous along K, so nothing is packed or transposed): DR rows of A
 * against DC rows of B, vectors along K, one horizontal sum per element at
 * the end.  Rows beyond m / n alias the last real one and are not stored. */
#ifndef U2_DOT_ROWS
#define U2_DOT_R 3
#define U2_DOT_C 4
#define U2_DOT_ROWS(X) X(0) X(1) X(2)
#define U2_DOT_ROWS_C(X, c) X(0, c) X(1, c) X(2, c)
#define U2_DOT_COLS(X) X(0) X(1) X(2) X(3)
#endif
#define U2_DOT_APTR(r) const float *const ar##r = A + ((r) < m ? (r) : m - 1) * lda;
#define U2_DOT_BPTR(c) const float *const bc##c = B + ((c) < n ? (c) : n - 1) * ldb;
#define U2_DOT_DECL_RC(r, c) U2_V d##r##_##c = U2_VZERO();
#define U2_DOT_DECL_C(c) U2_DOT_ROWS_C(U2_DOT_DECL_RC, c)
#define U2_DOT_LDA(r) const U2_V a##r = U2_VLOAD(ar##r + p);
#define U2_DOT_LDAN(r) const U2_V a##r = U2_VLOADN(ar##r + p, nl);
#define U2_DOT_FMA_RC(r, c) d##r##_##c = U2_VFMA(a##r, b_, d##r##_##c);
#define U2_DOT_STEP(c) { const U2_V b_ = U2_VLOAD(bc##c + p); U2_DOT_ROWS_C(U2_DOT_FMA_RC, c) }
#define U2_DOT_STEPN(c) { const U2_V b_ = U2_VLOADN(bc##c + p, nl); U2_DOT_ROWS_C(U2_DOT_FMA_RC, c) }
#define U2_DOT_SUM_RC(r, c) t[(r) * U2_NR + (c)] = U2_VHSUM(d##r##_##c);
#define U2_DOT_SUM_C(c) U2_DOT_ROWS_C(U2_DOT_SUM_RC, c)

static void U2_FN(u2_dot_tile)(int64_t K, const float *A, int64_t lda, const float *B,
                               int64_t ldb, float *c, int64_t ldc, int m, int n, float alpha,
                               float beta, const u2_epilogue *epi)
{
    U2_DOT_ROWS(U2_DOT_APTR)
    U2_DOT_COLS(U2_DOT_BPTR)
    U2_DOT_COLS(U2_DOT_DECL_C)
    int64_t p = 0;
    for (; p + U2_VL <= K; p += U2_VL) {
        U2_DOT_ROWS(U2_DOT_LDA)
        U2_DOT_COLS(U2_DOT_STEP)
    }
    if (p < K) { /* the tail: masked loads, zeros beyond K */
        const int nl = (int)(K - p);
        U2_DOT_ROWS(U2_DOT_LDAN)
        U2_DOT_COLS(U2_DOT_STEPN)
    }
    _Alignas(64) float t[U2_MR * U2_NR];
#ifdef U2_DOT_SUM_ROW /* the ISA's whole-row reduction (DC sums at once) */
    U2_DOT_ROWS(U2_DOT_SUM_ROW)
#else
    U2_DOT_COLS(U2_DOT_SUM_C)
#endif
    U2_FN(u2_tile_out)(t, c, ldc, m, n, alpha, beta, epi);
}

/* Pack mc x kc of op(A) into MR-row panels: dst[p * MR + r] = op(A)[i0 + r][p],
 * the rows beyond the last panel's m zero. */
static void U2_FN(u2_pack_a)(int64_t mc, int64_t kc, const float *A, int64_t lda, int trans,
                             float *dst)
{
    for (int64_t i0 = 0; i0 < mc; i0 += U2_MR) {
        const int m = mc - i0 < U2_MR ? (int)(mc - i0) : U2_MR;
        if (trans) { /* A stored K x M: column p of the panel is contiguous */
            const float *src = A + i0;
            if (m == U2_MR) { /* a fixed-size copy: a few vector moves */
                for (int64_t p = 0; p < kc; p++, dst += U2_MR)
                    memcpy(dst, src + p * lda, U2_MR * sizeof(float));
                continue;
            }
            for (int64_t p = 0; p < kc; p++) {
                int r = 0;
                for (; r < m; r++) dst[r] = src[p * lda + r];
                for (; r < U2_MR; r++) dst[r] = 0.0f;
                dst += U2_MR;
            }
        } else if (m == U2_MR) {
            const float *src = A + i0 * lda;
#ifdef U2_PACK_A_ROWS
            int64_t p = U2_PACK_A_ROWS(kc, src, lda, dst);
            dst += p * U2_MR;
#else
            int64_t p = 0;
#endif
            for (; p < kc; p++) {
                for (int r = 0; r < U2_MR; r++) dst[r] = src[r * lda + p];
                dst += U2_MR;
            }
        } else {
            const float *src = A + i0 * lda;
            for (int64_t p = 0; p < kc; p++) {
                int r = 0;
                for (; r < m; r++) dst[r] = src[r * lda + p];
                for (; r < U2_MR; r++) dst[r] = 0.0f;
                dst += U2_MR;
            }
        }
    }
}

/* Pack kc x nc of op(B) into NR-column panels: dst[p * NR + j] = op(B)[p][j0 + j],
 * the columns beyond the last panel's n zero. */
static void U2_FN(u2_pack_b)(int64_t kc, int64_t nc, const float *B, int64_t ldb, int trans,
                             float *dst)
{
    if (!trans) { /* B stored K x N: rows are contiguous */
        int64_t j0 = 0;
        /* full panels, a few at a time so each row of B is read as one run */
        while (nc - j0 >= U2_NR) {
            const int64_t g = (nc - j0) / U2_NR < 4 ? (nc - j0) / U2_NR : 4;
            const float *src = B + j0;
            for (int64_t p = 0; p < kc; p++) {
                for (int64_t q = 0; q < g; q++)
                    for (int j = 0; j < U2_NV; j++)
                        U2_VSTORE(dst + q * kc * U2_NR + p * U2_NR + j * U2_VL,
                                  U2_VLOAD(src + q * U2_NR + j * U2_VL));
                src += ldb;
            }
            j0 += g * U2_NR;
            dst += g * kc * U2_NR;
        }
        if (j0 < nc) { /* the last, partial panel: zero lanes beyond n */
            const int n = (int)(nc - j0);
            const float *src = B + j0;
            for (int64_t p = 0; p < kc; p++) {
                for (int j = 0; j < U2_NV; j++) {
                    const int nl = n - j * U2_VL;
                    U2_V v = nl >= U2_VL ? U2_VLOAD(src + j * U2_VL)
                             : nl > 0    ? U2_VLOADN(src + j * U2_VL, nl)
                                         : U2_VZERO();
                    U2_VSTORE(dst + j * U2_VL, v);
                }
                src += ldb;
                dst += U2_NR;
            }
        }
        return;
    }
    /* B stored N x K: transpose, one panel at a time */
    for (int64_t j0 = 0; j0 < nc; j0 += U2_NR) {
        const int n = nc - j0 < U2_NR ? (int)(nc - j0) : U2_NR;
        const float *src = B + j0 * ldb;
        int64_t p = 0;
#ifdef U2_PACK_BT_BLOCK
        /* the ISA's transposes for whole blocks of a full panel */
        if (n == U2_NR) p = U2_PACK_BT_BLOCK(kc, src, ldb, dst);
#endif
        float *d = dst + p * U2_NR;
        for (int j = 0; j < n; j++)
            for (int64_t q = p; q < kc; q++) d[(q - p) * U2_NR + j] = src[j * ldb + q];
        for (int j = n; j < U2_NR; j++)
            for (int64_t q = p; q < kc; q++) d[(q - p) * U2_NR + j] = 0.0f;
        dst += kc * U2_NR;
    }
}

/* Fill a u2_gemm_info with this instance. */
static void U2_FN(u2_gemm_fill)(u2_gemm_info *g)
{
    g->mr = U2_MR;
    g->nr = U2_NR;
    g->kc = U2_KC;
    g->mc = U2_MC;
    g->nc = U2_NC;
    g->ukr = U2_FN(u2_ukr);
    g->pack_a = U2_FN(u2_pack_a);
    g->pack_b = U2_FN(u2_pack_b);
    static const u2_gemm_ext ext = {U2_FN(u2_ukr), U2_FN(u2_ukr_bs), U2_FN(u2_dot_tile),
                                    U2_DOT_R, U2_DOT_C};
    u2_gemm_register_ext(&ext);
}

/* Vector sigmoid + column sums of an m x n block in place (the unfused
 * second pass the grounding benchmark compares against). */
static void U2_FN(u2_sigcs)(float *s, int64_t m, int64_t n, int64_t lds, float *colsum)
{
    for (int64_t j0 = 0; j0 < n; j0 += U2_VL) {
        const int nl = n - j0 < U2_VL ? (int)(n - j0) : U2_VL;
        U2_V cs = U2_VZERO();
        for (int64_t i = 0; i < m; i++) {
            float *p = s + i * lds + j0;
            const U2_V v = U2_FN(u2_sigmoid)(U2_FN(u2_ldp)(p, nl));
            U2_FN(u2_stp)(p, v, nl);
            cs = U2_VADD(cs, v);
        }
        U2_FN(u2_stp)(colsum + j0, U2_VADD(U2_FN(u2_ldp)(colsum + j0, nl), cs), nl);
    }
}
