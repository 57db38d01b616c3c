/* The GEMM driver: five loops (NC, KC, MC, NR, MR) around the ISA's
 * micro-kernel, with A and B packed into contiguous panels (BLIS).
 *
 *   for jc in N step nc:
 *     for pc in K step kc:
 *       pack B[pc.., jc..] -> kc x nc in NR-column panels    (L3)
 *       for ic in M step mc:
 *         pack A[ic.., pc..] -> mc x kc in MR-row panels      (L2)
 *         for each NR panel jr, for each MR panel ir:         (B panel in L1)
 *           ukr(kc, A panel, B panel, C tile, epilogue after the last pc)
 *
 * Variants for the shapes where that order wastes work (chosen from the
 * whole problem, see u2_sgemm_k):
 *  - M <= 256: A is packed whole once per k block and B four panels at a
 *    time right before its tiles run, so packed B never goes through L3;
 *  - NN with M <= 16 (40): B's full panels are read in place, unpacked;
 *  - A B^T with M <= 48 and K >= 256: dot products along K straight from the
 *    rows of A and B (gemm_dot), no packing or transposing at all.
 *
 * Threads: each thread takes a slice of C (whole NR column panels or MR row
 * panels, whichever makes the duplicated packing cheaper) and runs the loops
 * above on it alone: no shared buffers and no barriers, so a thread that the
 * OS deschedules (the machine is shared) never stalls the other.
 *
 * Determinism: the blocking of K depends on K and the ISA only, and each
 * element of C is accumulated by one micro-kernel call per k block in a
 * fixed order, so C does not depend on the thread count or on which thread
 * computes which tile.  The SIGMOID_COLSUM epilogue adds a column's tiles in
 * row order; with it, threads split only columns, so every column sum is
 * also built by one thread in a fixed order.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "gemm_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* One packing arena per calling thread, grown on demand and kept.  Each is
 * also listed in a global registry: OpenMP worker threads are never joined, so
 * without it their buffers would look leaked at exit (LeakSanitizer) and
 * could not be given back. */
typedef struct pack_slot {
    float *buf;
    struct pack_slot *next;
} pack_slot;
static _Thread_local pack_slot *my_slot;
static _Thread_local size_t pack_cap;
static pack_slot *all_slots;
static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;

static void free_pack_arenas(void)
{
    pthread_mutex_lock(&slots_lock);
    for (pack_slot *sl = all_slots; sl; sl = sl->next) {
        free(sl->buf);
        sl->buf = NULL;
    }
    pthread_mutex_unlock(&slots_lock);
}

static float *pack_arena(size_t nfloats)
{
    if (!my_slot) {
        my_slot = calloc(1, sizeof *my_slot);
        if (!my_slot) abort();
        pthread_mutex_lock(&slots_lock);
        if (!all_slots) atexit(free_pack_arenas);
        my_slot->next = all_slots;
        all_slots = my_slot;
        pthread_mutex_unlock(&slots_lock);
    }
    if (nfloats > pack_cap || !my_slot->buf) {
        size_t bytes = (nfloats * sizeof(float) + 4095) & ~(size_t)4095;
        float *nb = aligned_alloc(4096, bytes ? bytes : 4096);
        if (!nb) {
            fprintf(stderr, "unimo2: out of memory (%zu bytes for GEMM packing)\n", bytes);
            abort();
        }
        pthread_mutex_lock(&slots_lock);
        free(my_slot->buf);
        my_slot->buf = nb;
        pthread_mutex_unlock(&slots_lock);
        pack_cap = bytes / sizeof(float);
    }
    return my_slot->buf;
}

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
static int64_t round_up(int64_t a, int64_t b) { return cdiv(a, b) * b; }

/* Split a dimension of n into the fewest blocks of at most `max`, of equal
 * size rounded up to a multiple of `unit` (no thin last block). */
static int64_t balanced_block(int64_t n, int64_t max, int64_t unit)
{
    if (n <= 0) return unit;
    int64_t b = round_up(cdiv(n, cdiv(n, max)), unit);
    return b < max ? b : max;
}

/* Up to this many rows (and at most two MC blocks), A is packed whole and B
 * a few panels at a time (gemm_serial); the A block then takes up to 256 KiB
 * of L2 at KC = 256. */
#define U2_GEMM_LAZY_B_MAX_M 256
#define U2_GEMM_LAZY_B_PANELS 4

typedef struct {
    const u2_gemm_info *g;
    int transa, transb;
    int64_t M, N, K;
    float alpha, beta;
    const float *A, *B;
    int64_t lda, ldb;
    float *C;
    int64_t ldc;
    u2_epilogue epi; /* valid when has_epi */
    int has_epi;
    int64_t kc;      /* depends on K and the ISA only (determinism) */
    u2_ukr_bs_fn ukr_bs; /* non-NULL: full panels of B are read in place */
    u2_dot_fn dot;       /* non-NULL: small-M A B^T by dot products, no packing */
    int dot_r, dot_c;
} gemm_job;

/* C = A B^T for few rows of A: tiles of dot products straight from A's and
 * B's rows.  Columns outer, so the dot_c rows of B stay in L1 while A's rows
 * stream past them. */
static void gemm_dot(const gemm_job *j)
{
    for (int64_t j0 = 0; j0 < j->N; j0 += j->dot_c) {
        const int nn = (int)min64(j->dot_c, j->N - j0);
        for (int64_t i0 = 0; i0 < j->M; i0 += j->dot_r) {
            const int mm = (int)min64(j->dot_r, j->M - i0);
            u2_epilogue te, *tp = NULL;
            if (j->has_epi) {
                te = j->epi;
                if (te.bias) te.bias += j0;
                if (te.pre) te.pre += i0 * te.ldpre + j0;
                if (te.colsum) te.colsum += j0;
                tp = &te;
            }
            j->dot(j->K, j->A + i0 * j->lda, j->lda, j->B + j0 * j->ldb, j->ldb,
                   j->C + i0 * j->ldc + j0, j->ldc, mm, nn, j->alpha, j->beta, tp);
        }
    }
}

/* The tiles of C[ic .. ic+mc)[jc+j0 .. jc+j1) for one k block: column panel
 * outer, so its kc x NR of B stays in L1 while the A panels stream from L2.
 * bpack holds the packed panels from column j0 on. */
static void run_tiles(const gemm_job *j, int64_t pc, int64_t kc, int last, float beta_blk,
                      int64_t jc, int64_t j0, int64_t j1, int64_t ic, int64_t mc,
                      const float *apack, const float *bpack)
{
    const u2_gemm_info *g = j->g;
    const int MR = g->mr, NR = g->nr;
    for (int64_t jb = j0; jb < j1; jb += NR) {
        const int nn = (int)min64(NR, j1 - jb);
        const float *bp = bpack + (jb - j0) * kc;
        for (int64_t i0 = 0; i0 < mc; i0 += MR) {
            const int mm = (int)min64(MR, mc - i0);
            u2_epilogue te, *tp = NULL;
            if (last && j->has_epi) {
                te = j->epi;
                if (te.bias) te.bias += jc + jb;
                if (te.pre) te.pre += (ic + i0) * te.ldpre + jc + jb;
                if (te.colsum) te.colsum += jc + jb;
                tp = &te;
            }
            float *ct = j->C + (ic + i0) * j->ldc + jc + jb;
            if (j->ukr_bs && nn == NR)
                j->ukr_bs(kc, apack + i0 * kc, j->B + pc * j->ldb + jc + jb, j->ldb, ct, j->ldc,
                          mm, nn, j->alpha, beta_blk, tp);
            else
                g->ukr(kc, apack + i0 * kc, bp, ct, j->ldc, mm, nn, j->alpha, beta_blk, tp);
        }
    }
}

/* The five loops on one thread, with this thread's own packing arena. */
static void gemm_serial(const gemm_job *j)
{
    if (j->dot) {
        gemm_dot(j);
        return;
    }
    const u2_gemm_info *g = j->g;
    const int MR = g->mr, NR = g->nr;
    const int64_t kc_max = j->kc;
    /* Few rows: all of A is one block in L2, and B is packed a few panels
     * at a time right before its tiles use it, so packed B never makes the
     * round trip through L3. */
    const int lazy_b = !j->ukr_bs && j->M <= U2_GEMM_LAZY_B_MAX_M && j->M <= 2 * g->mc;
    const int64_t mc_max = lazy_b ? round_up(j->M, MR) : balanced_block(j->M, g->mc, MR);
    const int64_t nc_max = balanced_block(j->N, g->nc, NR);
    const int64_t bcols = lazy_b ? min64(nc_max, U2_GEMM_LAZY_B_PANELS * NR) : nc_max;
    const int64_t bfloats = round_up(kc_max * bcols, 16), afloats = round_up(kc_max * mc_max, 16);
    float *const bpack = pack_arena((size_t)(bfloats + afloats + 16));
    float *const apack = bpack + bfloats + 16; /* keep the two panels apart */

    for (int64_t jc = 0; jc < j->N; jc += nc_max) {
        const int64_t nc = min64(nc_max, j->N - jc);
        int64_t pc = 0;
        do { /* at least once, so K == 0 still applies beta and the epilogue */
            const int64_t kc = min64(kc_max, j->K - pc);
            const int last = pc + kc >= j->K;
            const float beta_blk = pc == 0 ? j->beta : 1.0f;
            if (lazy_b) {
                g->pack_a(j->M, kc, j->transa ? j->A + pc * j->lda : j->A + pc, j->lda,
                          j->transa, apack);
                for (int64_t j0 = 0; j0 < nc; j0 += bcols) {
                    const int64_t j1 = min64(nc, j0 + bcols);
                    const float *src = j->transb ? j->B + (jc + j0) * j->ldb + pc
                                                 : j->B + pc * j->ldb + jc + j0;
                    g->pack_b(kc, j1 - j0, src, j->ldb, j->transb, bpack);
                    run_tiles(j, pc, kc, last, beta_blk, jc, j0, j1, 0, j->M, apack, bpack);
                }
            } else {
                if (j->ukr_bs) { /* B in place: pack only a partial last panel */
                    const int64_t full = nc / NR * NR;
                    if (full < nc)
                        g->pack_b(kc, nc - full, j->B + pc * j->ldb + jc + full, j->ldb, 0,
                                  bpack + full * kc);
                } else {
                    const float *src =
                        j->transb ? j->B + jc * j->ldb + pc : j->B + pc * j->ldb + jc;
                    g->pack_b(kc, nc, src, j->ldb, j->transb, bpack);
                }
                for (int64_t ic = 0; ic < j->M; ic += mc_max) {
                    const int64_t mc = min64(mc_max, j->M - ic);
                    g->pack_a(mc, kc,
                              j->transa ? j->A + pc * j->lda + ic : j->A + ic * j->lda + pc,
                              j->lda, j->transa, apack);
                    run_tiles(j, pc, kc, last, beta_blk, jc, 0, nc, ic, mc, apack, bpack);
                }
            }
            pc += kc;
        } while (pc < j->K);
    }
}

/* Thread t of nt: the same problem restricted to its share of C's columns
 * (split = 'n', whole NR panels) or rows (split = 'm', whole MR panels). */
static void gemm_part(const gemm_job *whole, int t, int nt, int split)
{
    gemm_job j = *whole;
    const int64_t unit = split == 'n' ? whole->g->nr : whole->g->mr;
    const int64_t total = split == 'n' ? whole->N : whole->M;
    const int64_t units = cdiv(total, unit);
    const int64_t lo = min64(units * t / nt * unit, total);
    const int64_t hi = min64(units * (t + 1) / nt * unit, total);
    if (lo >= hi) return;
    if (split == 'n') {
        j.N = hi - lo;
        j.B += j.transb ? lo * j.ldb : lo;
        j.C += lo;
        if (j.epi.bias) j.epi.bias += lo;
        if (j.epi.pre) j.epi.pre += lo;
        if (j.epi.colsum) j.epi.colsum += lo;
    } else {
        j.M = hi - lo;
        j.A += j.transa ? lo : lo * j.lda;
        j.C += lo * j.ldc;
        if (j.epi.pre) j.epi.pre += lo * j.epi.ldpre;
    }
    gemm_serial(&j);
}

/* ------------------------------------------------------------ extras */
#define MAX_EXT 8
static const u2_gemm_ext *exts[MAX_EXT];
static int n_ext;

void u2_gemm_register_ext(const u2_gemm_ext *e)
{
    int n = __atomic_load_n(&n_ext, __ATOMIC_ACQUIRE);
    for (int i = 0; i < n; i++)
        if (exts[i]->ukr == e->ukr) return;
    if (n == MAX_EXT) return; /* no extras: the plain path still works */
    exts[n] = e;
    __atomic_store_n(&n_ext, n + 1, __ATOMIC_RELEASE);
}

const u2_gemm_ext *u2_gemm_find_ext(u2_ukr_fn ukr)
{
    int n = __atomic_load_n(&n_ext, __ATOMIC_ACQUIRE);
    for (int i = 0; i < n; i++)
        if (exts[i]->ukr == ukr) return exts[i];
    return NULL;
}

/* Read B in place (no packing) when M is small: a packed element of B would
 * serve at most a few tiles, so the copy costs more than it saves (measured on
 * Zen3: +28% at M = 8, +8% at M = 32, nothing at M = 64).  Not when B's row
 * stride is a multiple of 4 KiB: the kc rows of a panel then share a handful
 * of cache sets and evict each other (-10% at M = 32, N = 1024 or 3072). */
static int direct_b_ok(int64_t M, int64_t ldb)
{
    return M <= 16 || (M <= 40 && ldb % 1024 != 0);
}

/* A B^T with at most this many rows of A, and K long enough to amortise a
 * tile's horizontal sums, runs on dot products: transposing B into panels
 * would cost about as much as the product itself (Zen3, N = 768, K = 768:
 * +20% at M = 32, even at M = 48..64, -15% at M = 96; K = 128: -55%). */
#define U2_GEMM_DOT_MAX_M 48
#define U2_GEMM_DOT_MIN_K 256

/* Below this many multiply-adds (~30 us on one Zen3 core) waking a second
 * thread costs more than it saves, and on a busy machine a descheduled
 * helper stalls the whole call (u2_sgemm only; u2_sgemm_k runs the thread
 * count it is given). */
#define U2_GEMM_MT_MIN (128.0 * 128.0 * 128.0)

void u2_sgemm_k(const u2_kernels *k, int nthreads, int transa, int transb, int64_t M,
                int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                const float *B, int64_t ldb, float beta, float *C, int64_t ldc,
                const u2_epilogue *epi)
{
    if (M <= 0 || N <= 0) return;
    if (K < 0) K = 0;
    gemm_job j = {.g = &k->gemm, .transa = transa, .transb = transb, .M = M, .N = N, .K = K,
                  .alpha = alpha, .beta = beta, .A = A, .B = B, .lda = lda, .ldb = ldb,
                  .C = C, .ldc = ldc};
    if (epi) j.epi = *epi, j.has_epi = 1;
    j.kc = K > 0 ? balanced_block(K, j.g->kc, 1) : 0;
    /* NN only; a partial last panel is still packed, so nothing is read
     * beyond column N. */
    if (!transb && direct_b_ok(M, ldb)) {
        const u2_gemm_ext *x = u2_gemm_find_ext(j.g->ukr);
        if (x) j.ukr_bs = x->ukr_bs;
    }
    /* Decided here, for the whole problem, never per thread slice: the dot
     * path rounds differently, and results must not depend on threads. */
    if (transb && !transa && M <= U2_GEMM_DOT_MAX_M && K >= U2_GEMM_DOT_MIN_K) {
        const u2_gemm_ext *x = u2_gemm_find_ext(j.g->ukr);
        if (x && x->dot) j.dot = x->dot, j.dot_r = x->dot_r, j.dot_c = x->dot_c;
    }

#ifdef _OPENMP
    if (nthreads < 1 || omp_in_parallel()) nthreads = 1;
    if (nthreads > 1) {
        /* Threads share nothing and never wait for each other: each takes a
         * slice of C and packs what its slice needs.  Slicing the rows makes
         * every thread pack all of B, slicing the columns all of A; pick the
         * cheaper duplicate.  Column sums are only safe with column slices. */
        const int colsum = epi && epi->act == U2_ACT_SIGMOID_COLSUM && epi->colsum;
        const int split = colsum || M * K < K * N ? 'n' : 'm';
        const int64_t units = split == 'n' ? cdiv(N, j.g->nr) : cdiv(M, j.g->mr);
        if (units < nthreads) nthreads = (int)units;
        if (nthreads > 1) {
#pragma omp parallel num_threads(nthreads)
            gemm_part(&j, omp_get_thread_num(), omp_get_num_threads(), split);
            return;
        }
    }
#endif
    (void)nthreads;
    gemm_serial(&j);
}

int u2_gemm_threads_for(int budget, int64_t M, int64_t N, int64_t K)
{
    if ((double)M * (double)N * (double)(K > 0 ? K : 1) < U2_GEMM_MT_MIN) return 1;
    return budget > 1 ? budget : 1;
}

int u2_gemm_threads(int64_t M, int64_t N, int64_t K)
{
    return u2_gemm_threads_for(u2_num_threads(), M, N, K);
}

void u2_sgemm(int transa, int transb, int64_t M, int64_t N, int64_t K, float alpha,
              const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
              int64_t ldc, const u2_epilogue *epi)
{
    u2_sgemm_k(u2_kern(), u2_gemm_threads(M, N, K), transa, transb, M, N, K, alpha, A, lda, B,
               ldb, beta, C, ldc, epi);
}

int u2_gemm_extras_isa(u2_isa isa, u2_gemm_extras *out)
{
    switch (isa) {
    case U2_ISA_SCALAR:
        *out = (u2_gemm_extras){u2_fma_burn_ref, 12 * 2, u2_sigmoid_colsum_ref};
        return 0;
#ifdef U2_BUILD_AVX2
    case U2_ISA_AVX2:
        *out = (u2_gemm_extras){u2_fma_burn_avx2, 12 * 8 * 2, u2_sigmoid_colsum_avx2};
        return 0;
#endif
#ifdef U2_BUILD_AVX512
    case U2_ISA_AVX512:
        *out = (u2_gemm_extras){u2_fma_burn_avx512, 12 * 16 * 2, u2_sigmoid_colsum_avx512};
        return 0;
#endif
#ifdef U2_BUILD_NEON
    case U2_ISA_NEON:
        *out = (u2_gemm_extras){u2_fma_burn_neon, 12 * 4 * 2, u2_sigmoid_colsum_neon};
        return 0;
#endif
    default: return -1;
    }
}
