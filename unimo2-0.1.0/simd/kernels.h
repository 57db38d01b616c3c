/* The kernel table: every hot loop of unimo2 behind one set of function
 * pointers, filled once at start-up with the scalar reference and then
 * overridden by the best instruction set the CPU and OS support.
 *
 * Conventions for every kernel below:
 *  - row-major storage; `ld*` is a row stride in elements;
 *  - sizes are int64_t; pointers need no particular alignment;
 *  - a kernel never allocates and is safe to call from several threads on
 *    disjoint outputs; only u2_sgemm starts threads of its own (OpenMP), and
 *    it runs single-threaded when called from inside a parallel region.
 *
 * The scalar versions (simd/kernels_ref.c, gemm_ref.c; suffix _ref) are the algorithmic
 * reference every other ISA is tested against; they are also the fallback.
 */
#ifndef UNIMO2_SIMD_KERNELS_H
#define UNIMO2_SIMD_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    U2_ISA_SCALAR = 0,
    U2_ISA_AVX2 = 1,
    U2_ISA_AVX512 = 2,
    U2_ISA_NEON = 3,
    U2_ISA_COUNT
} u2_isa;

/* ------------------------------------------------------------------ GEMM */

/* What happens to a finished tile of C, after the whole K reduction:
 *     t   = alpha * op(A) op(B) + beta * C   (+ bias[j] when bias != NULL)
 *     pre = t                                (when pre != NULL)
 *     C   = act(t)
 * act: U2_ACT_NONE, U2_ACT_GELU (exact, erf), or
 *      U2_ACT_SIGMOID_COLSUM: C = sigmoid(t) and colsum[j] += sum_i C[i][j]
 *      (the grounding-search epilogue: scores are written once and summed
 *      from registers, never read back).
 * beta == 0 means C is never read (it may hold NaN). */
enum { U2_ACT_NONE = 0, U2_ACT_GELU = 1, U2_ACT_SIGMOID_COLSUM = 2 };

typedef struct {
    const float *bias;    /* [N] or NULL */
    int act;              /* U2_ACT_* */
    float *pre;           /* [M x ldpre] pre-activation copy, or NULL */
    int64_t ldpre;
    float *colsum;        /* [N] accumulated column sums (SIGMOID_COLSUM only) */
} u2_epilogue;

/* Micro-kernel contract (BLIS style), one MR x NR tile of C:
 *
 *        k              NR                     NR
 *     +-----+      k +--------+          +---------+
 *  MR |  a  |   x    |   b    |  ->   MR |  c      |  (m <= MR rows and n <= NR
 *     +-----+        +--------+          +---------+   columns of it are real)
 *
 *  a: packed A panel, k groups of MR floats (column p of the tile's rows);
 *  b: packed B panel, k groups of NR floats (row p of the tile's columns);
 *  c: the tile in C, row stride ldc; only c[0..m)[0..n) is read or written.
 *  c = alpha*a*b + beta*c; beta == 0: c is not read.
 *  epi: NULL except on the last k block; then bias/pre/colsum point at the
 *  tile's own first row/column (the driver offsets them).
 *  Zero-padded panel lanes beyond m/n must never reach memory. */
typedef void (*u2_ukr_fn)(int64_t k, const float *a, const float *b, float *c,
                          int64_t ldc, int m, int n, float alpha, float beta,
                          const u2_epilogue *epi);

/* Pack routines: copy a mc x kc block of op(A) into MR-row panels (zero
 * padding the last panel to MR rows), or a kc x nc block of op(B) into NR-column
 * panels.  `trans` says whether the source is stored transposed. */
typedef void (*u2_pack_a_fn)(int64_t mc, int64_t kc, const float *A, int64_t lda,
                             int trans, float *dst);
typedef void (*u2_pack_b_fn)(int64_t kc, int64_t nc, const float *B, int64_t ldb,
                             int trans, float *dst);

typedef struct {
    int mr, nr;           /* micro-tile */
    int kc, mc, nc;       /* cache blocking (mc % mr == 0, nc % nr == 0) */
    u2_ukr_fn ukr;
    u2_pack_a_fn pack_a;
    u2_pack_b_fn pack_b;
} u2_gemm_info;

/* ------------------------------------------------------------ optimiser */
typedef struct {
    float lr;             /* learning rate of this step */
    float beta1, beta2;
    float eps;
    float weight_decay;   /* decoupled; 0 for LayerNorm weights and biases */
    float bc1, bc2;       /* bias corrections: 1 - beta^t */
} u2_adamw_hp;

/* ---------------------------------------------------------------- table */
typedef struct u2_kernels {
    u2_isa isa;
    const char *name;     /* "scalar", "avx2", "avx512", "neon" */

    u2_gemm_info gemm;

    /* x[r][0..cols) = softmax(x[r] + mask[r*ldmask ...]) for r < rows.
     * mask: additive (0 or -INFINITY or any finite value), NULL for none;
     * ldmask == 0 shares one mask row.  A row whose every entry is -inf
     * becomes all zeros. */
    void (*softmax_rows)(float *x, int64_t rows, int64_t cols, int64_t ldx,
                         const float *mask, int64_t ldmask);

    /* out[N][D] = (inp - mean) * rstd * w + b; mean/rstd [N] may be NULL. */
    void (*layernorm_fwd)(float *out, float *mean, float *rstd, const float *inp,
                          const float *w, const float *b, int64_t N, int64_t D,
                          float eps);
    /* Accumulates: dinp += ..., dw += ..., db += ... (dw/db may be NULL). */
    void (*layernorm_bwd)(float *dinp, float *dw, float *db, const float *dout,
                          const float *inp, const float *w, const float *mean,
                          const float *rstd, int64_t N, int64_t D);

    /* Exact GELU: x * 0.5 * (1 + erf(x / sqrt 2)). */
    void (*gelu_fwd)(float *out, const float *inp, int64_t n);
    /* dinp = dout * gelu'(inp) (overwrites; dinp may alias dout). */
    void (*gelu_bwd)(float *dinp, const float *inp, const float *dout, int64_t n);

    void (*add)(float *out, const float *a, const float *b, int64_t n); /* out = a + b */
    void (*scale)(float *x, float s, int64_t n);                      /* x *= s */
    void (*axpy)(float *y, float a, const float *x, int64_t n);       /* y += a x */
    double (*dot)(const float *a, const float *b, int64_t n);         /* sum a*b */
    double (*sumsq)(const float *x, int64_t n);                       /* sum x*x */

    /* p -= lr * (m_hat / (sqrt(v_hat) + eps) + wd * p), moments updated in place. */
    void (*adamw)(float *p, const float *g, float *m, float *v, int64_t n,
                  const u2_adamw_hp *hp);

    /* Softmax cross-entropy over rows of logits[N][V] (row stride ldl).
     * Rows with target < 0 are ignored.  Returns the summed loss (double) of
     * the other rows.  If dlogits != NULL it receives
     * (softmax - onehot) * dscale for valid rows and 0 for ignored rows. */
    double (*xent)(float *dlogits, const float *logits, int64_t ldl,
                   const int32_t *target, int64_t N, int64_t V, float dscale);
} u2_kernels;

/* The table in use (filled on first call; thread-safe). UNIMO2_ISA forces one. */
const u2_kernels *u2_kern(void);
/* The table of one ISA, or NULL when the CPU/OS or this build lacks it. */
const u2_kernels *u2_kern_isa(u2_isa isa);
/* Is the ISA supported by this CPU and OS (ignoring whether it was built)? */
int u2_cpu_has(u2_isa isa);
/* Parse "scalar"/"avx2"/"avx512"/"neon"; -1 on failure. */
int u2_isa_from_name(const char *name);
const char *u2_isa_name(u2_isa isa);

/* Per-ISA initialisers: each overrides the entries it implements. */
void u2_kernels_init_ref(u2_kernels *k);
void u2_kernels_init_avx2(u2_kernels *k);
void u2_kernels_init_avx512(u2_kernels *k);
void u2_kernels_init_neon(u2_kernels *k);

/* ------------------------------------------------------------ GEMM API */
/* C[M][N] = epilogue(alpha * op(A) op(B) + beta * C), row-major.
 * transa: 0 -> A is M x K (lda >= K); 1 -> A is stored K x M (lda >= M).
 * transb: 0 -> B is K x N (ldb >= N); 1 -> B is stored N x K (ldb >= K).
 * epi may be NULL.  Multi-threaded with OpenMP unless called inside a
 * parallel region.  Deterministic for a given thread count. */
void u2_sgemm(int transa, int transb, int64_t M, int64_t N, int64_t K, float alpha,
              const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
              float *C, int64_t ldc, const u2_epilogue *epi);
/* The same with an explicit table and thread count (tests, benchmarks). */
void u2_sgemm_k(const u2_kernels *k, int nthreads, int transa, int transb, int64_t M,
                int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                const float *B, int64_t ldb, float beta, float *C, int64_t ldc,
                const u2_epilogue *epi);

/* Grounding search (SPEC §1.3): for T token rows X[T][D] (row stride ldx) and a
 * dictionary E[C][D]:  s[t][c] = sigmoid(tau * x_t . e_c) written to s
 * (row stride lds, may be NULL to skip storing) and S[c] += sum_t s[t][c].
 * Built on the GEMM with the SIGMOID_COLSUM epilogue. */
void u2_gd_scores(const float *X, int64_t T, int64_t ldx, const float *E, int64_t C,
                  int64_t D, float tau, float *s, int64_t lds, float *S);
/* The indices of the K largest S[c], sorted descending, ties to the lower index. */
void u2_topk(const float *S, int64_t C, int K, int32_t *idx);

/* Threads used by u2_sgemm and the model (UNIMO2_THREADS, else OpenMP's default). */
int u2_num_threads(void);
void u2_set_num_threads(int n);

#ifdef __cplusplus
}
#endif
#endif
