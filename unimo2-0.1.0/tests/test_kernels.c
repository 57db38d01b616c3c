/* Every non-GEMM kernel of every ISA this machine runs, held against the
 * scalar reference (u2_kern_isa(U2_ISA_SCALAR)) and against an evaluation in
 * double precision of the same mathematical function of the same float inputs.
 *
 * Tables tested: scalar (against double only), avx2 / avx512 / neon when the
 * CPU runs them, and "emu16": simd/kernels_tmpl.h on a plain-C 16-lane layer
 * (tests/vec_emu16.h), i.e. the AVX-512 instance's logic at its own width.
 *
 * Tolerances are derived, not tuned.  eps = 2^-24 is float's unit roundoff,
 * gam(k) = k eps / (1 - k eps) bounds k roundings (Higham's gamma_k), SLEEF u10
 * and glibc expf/erff/logf are within 1 ulp, i.e. a relative 2 eps.  Each
 * kernel's bound B is a worst-case bound on |computed - exact| valid for both
 * the reference's operation order and the template's (fused or not); the check
 * against the reference therefore allows B_vec + B_ref.  Each bound's
 * derivation is written next to it.  The worst err/bound ratio per kernel and
 * ISA is printed as a TAP diagnostic.
 *
 * Edge sweeps: n = 0, 1, every size around 4/8/16 lanes, odd and large sizes;
 * every buffer either ends exactly at a PROT_NONE page or starts one float
 * after one, so an over-read or over-write faults; strided rows keep a
 * sentinel in their gaps that must survive. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "kernels.h"
#include "tap.h"
#include "vec.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

void test_kernels_init_emu16(u2_kernels *k);

#define EPS 0x1p-24           /* float unit roundoff */
#define ULPR (2.0 * EPS)      /* a result within 1 ulp is within 2 eps relative */
#define TINY 0x1p-149         /* absolute error of one rounding into the subnormals */
#define DEPS 0x1p-53          /* double unit roundoff */
#define SENTINEL 12345.5f

static double gam(double k) { return k * EPS / (1.0 - k * EPS); }
/* rounding of the double evaluation itself: k double roundings on magnitude mag */
static double dslack(double k, double mag) { return (k + 16) * DEPS * mag; }

/* ------------------------------------------------------------ guarded buffers */
/* Each buffer has a PROT_NONE page on both sides.  mode 0: the data ends at
 * the upper guard; mode 1: it starts one float after the lower guard. */
typedef struct { void *base; size_t len; } gmap;
static gmap maps[32];
static int nmaps;
static size_t pagesz;

static float *galloc(int64_t n, int mode)
{
    size_t bytes = (size_t)n * sizeof(float) + sizeof(float);
    size_t pages = (bytes + pagesz - 1) / pagesz;
    size_t len = (pages + 2) * pagesz;
    char *base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED || nmaps == 32) {
        printf("Bail out! mmap failed\n");
        exit(1);
    }
    mprotect(base, pagesz, PROT_NONE);
    mprotect(base + (pages + 1) * pagesz, pagesz, PROT_NONE);
    maps[nmaps].base = base;
    maps[nmaps++].len = len;
    if (mode == 0) return (float *)(base + (pages + 1) * pagesz) - n;
    return (float *)(base + pagesz) + 1;
}

static void gfree_all(void)
{
    for (int i = 0; i < nmaps; i++) munmap(maps[i].base, maps[i].len);
    nmaps = 0;
}

static float *gcopy(const float *src, int64_t n, int mode)
{
    float *p = galloc(n, mode);
    if (n) memcpy(p, src, (size_t)n * sizeof(float));
    return p;
}

/* ---------------------------------------------------------- bookkeeping */
enum { K_SOFTMAX, K_LN_FWD, K_LN_BWD, K_GELU_FWD, K_GELU_BWD, K_ADD, K_SCALE, K_AXPY,
       K_DOT, K_SUMSQ, K_ADAMW, K_XENT, K_COUNT };
static const char *const kname[K_COUNT] = {"softmax", "layernorm_fwd", "layernorm_bwd",
                                           "gelu_fwd", "gelu_bwd", "add", "scale", "axpy",
                                           "dot", "sumsq", "adamw", "xent"};

typedef struct {
    const u2_kernels *k;
    const char *name;
    int is_ref;
    double worst_ex[K_COUNT], worst_rf[K_COUNT];
} table_t;

/* one tap line: the worst ratios of a group of comparisons */
typedef struct {
    double ex, rf;
    long count;
    int bad;
    char first[320];
} run_t;

static char ctx[160]; /* the sub-case being checked, for the failure message */

static double ratio(double err, double bound)
{
    if (err == 0.0) return 0.0;
    if (isnan(err) || !(bound > 0.0)) return INFINITY;
    return err / bound;
}

static void fail_note(run_t *r, const char *what, long i, double got, double ref, double ex,
                      double b)
{
    if (r->bad++) return;
    snprintf(r->first, sizeof r->first, "%s %s[%ld]: got %.9g ref %.9g exact %.9g bound %.3g",
             ctx, what, i, got, ref, ex, b);
}

/* got: the kernel under test, ref: the scalar reference, ex: exact;
 * bg/br: bounds on |got - ex| and |ref - ex|. */
static void chk(run_t *r, const char *what, long i, double got, double ref, double ex, double bg,
                double br)
{
    double re = ratio(fabs(got - ex), bg), rr = ratio(fabs(got - ref), bg + br);
    r->count++;
    if (re > r->ex) r->ex = re;
    if (rr > r->rf) r->rf = rr;
    if (!(re <= 1.0) || !(rr <= 1.0)) fail_note(r, what, i, got, ref, ex, bg);
}

/* exact match required (bitwise, -0 == +0 aside) */
static void chk_exact(run_t *r, const char *what, long i, float got, float want)
{
    r->count++;
    if (!(got == want) && !(isnan(got) && isnan(want))) fail_note(r, what, i, got, want, want, 0);
}

static void report(table_t *t, int kern, const char *casename, const run_t *r)
{
    if (r->ex > t->worst_ex[kern]) t->worst_ex[kern] = r->ex;
    if (r->rf > t->worst_rf[kern]) t->worst_rf[kern] = r->rf;
    tap_ok(!r->bad && r->count > 0, "%s %s %s: %ld values, worst err/bound %.3g (exact) %.3g (vs scalar)",
           kname[kern], t->name, casename, r->count, r->ex, r->rf);
    if (r->bad) tap_diag("%d failures; first: %s", r->bad, r->first);
}

static const int64_t SIZES[] = {0, 1, 2, 3, 4, 5, 7, 8, 9, 11, 15, 16, 17, 19, 31, 32, 33, 35,
                                47, 63, 64, 65, 67, 100, 127, 128, 129, 255, 256, 257, 768,
                                1000, 3073};
#define NSIZES (int)(sizeof SIZES / sizeof SIZES[0])

static const float SPECIAL[] = {0.0f, -0.0f, 1e-6f, -1e-6f, 3.0f, -3.0f, 10.0f, -10.0f,
                                1e4f, -1e4f, 0.5f, -0.5f, 1.0f, -1.0f};
#define NSPECIAL (int)(sizeof SPECIAL / sizeof SPECIAL[0])

/* sprinkle the special values over x, some of them into the tail */
static void put_specials(float *x, int64_t n)
{
    if (n == 0) return;
    for (int s = 0; s < NSPECIAL; s++) x[(int64_t)(tap_next() % (unsigned long long)n)] = SPECIAL[s];
    x[n - 1] = SPECIAL[tap_next() % NSPECIAL];
}

/* ------------------------------------------------------------ add, scale, axpy */
/* add and scale are one correctly rounded operation: bitwise equal to the
 * reference, and |err| <= eps |exact| (+ a subnormal half-ulp). */
static void test_add_scale(table_t *t, const u2_kernels *R)
{
    run_t ra = {0}, rs = {0};
    static const float svals[] = {0.37f, -1.0f, 0.0f, 3.0e-3f};
    for (int si = 0; si < NSIZES + 1; si++) {
        int64_t n = si < NSIZES ? SIZES[si] : 50265;
        for (int mode = 0; mode < 2; mode++) {
            snprintf(ctx, sizeof ctx, "n=%lld mode=%d", (long long)n, mode);
            float *a = galloc(n, mode), *b = galloc(n, mode), *o = galloc(n, mode);
            float *orf = galloc(n, mode);
            tap_fill(a, n, -100.0f, 100.0f);
            tap_fill(b, n, -1.0f, 1.0f);
            put_specials(a, n);
            t->k->add(o, a, b, n);
            R->add(orf, a, b, n);
            for (int64_t i = 0; i < n; i++) {
                double ex = (double)a[i] + b[i];
                chk(&ra, "out", i, o[i], orf[i], ex, EPS * fabs(ex) + TINY, EPS * fabs(ex) + TINY);
                chk_exact(&ra, "out (bitwise)", i, o[i], orf[i]);
            }
            float s = svals[si % 4];
            float *x = gcopy(a, n, mode), *xr = gcopy(a, n, mode);
            t->k->scale(x, s, n);
            R->scale(xr, s, n);
            for (int64_t i = 0; i < n; i++) {
                double ex = (double)a[i] * s;
                chk(&rs, "x", i, x[i], xr[i], ex, EPS * fabs(ex) + TINY, EPS * fabs(ex) + TINY);
                chk_exact(&rs, "x (bitwise)", i, x[i], xr[i]);
            }
            gfree_all();
        }
    }
    report(t, K_ADD, "sizes 0..3073, 50265", &ra);
    report(t, K_SCALE, "sizes 0..3073, 50265", &rs);
}

/* axpy: fl(y + a x), fused or not: at most 2 roundings on |a x| + |y|. */
static void test_axpy(table_t *t, const u2_kernels *R)
{
    run_t r = {0};
    static const float avals[] = {1.7f, -1.0f, 0.0f, -2.5e-3f, 1.0f};
    for (int si = 0; si < NSIZES + 1; si++) {
        int64_t n = si < NSIZES ? SIZES[si] : 50265;
        for (int mode = 0; mode < 2; mode++) {
            float a = avals[(si + mode) % 5];
            snprintf(ctx, sizeof ctx, "n=%lld mode=%d a=%g", (long long)n, mode, a);
            float *x = galloc(n, mode), *y0 = galloc(n, mode);
            tap_fill(x, n, -10.0f, 10.0f);
            tap_fill(y0, n, -10.0f, 10.0f);
            put_specials(x, n);
            float *y = gcopy(y0, n, mode), *yr = gcopy(y0, n, mode);
            t->k->axpy(y, a, x, n);
            R->axpy(yr, a, x, n);
            for (int64_t i = 0; i < n; i++) {
                double ax = (double)a * x[i], ex = y0[i] + ax;
                double b = gam(2) * (fabs(ax) + fabs((double)y0[i])) + TINY;
                chk(&r, "y", i, y[i], yr[i], ex, b, b);
            }
            gfree_all();
        }
    }
    report(t, K_AXPY, "sizes 0..3073, 50265", &r);
}

/* ------------------------------------------------------------ dot, sumsq */
/* exact-enough sum of exact double products (Neumaier) */
static void exact_dot(const float *a, const float *b, int64_t n, double *sum, double *sabs)
{
    double s = 0.0, c = 0.0, sa = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double p = (double)a[i] * b[i], t = s + p;
        c += fabs(s) >= fabs(p) ? (s - t) + p : (p - t) + s;
        s = t;
        sa += fabs(p);
    }
    *sum = s + c;
    *sabs = sa;
}

/* Bounds on |computed - exact| for sum a_i b_i with S = sum |a_i b_i|:
 *  reference: exact products summed in double: n double roundings,  n 2^-53 S;
 *  template (simd/vec.h): each float lane rounds at most U2_RED_LANE_TERMS + 4
 *  times before its flush to double, then n + 64 double roundings at most;
 *  both plus the Neumaier evaluation's own error (2^-52 |sum| + n^2 2^-106 S). */
static double dot_bound(int is_ref, int64_t n, double sum, double sabs)
{
    double dbl = (double)(n + 64) * DEPS / (1.0 - (double)(n + 64) * DEPS) * sabs;
    double ev = 2 * DEPS * fabs(sum) + (double)n * n * DEPS * DEPS * sabs;
    if (is_ref) return dbl + ev;
    return gam(U2_RED_LANE_TERMS + 4) * sabs + dbl + ev;
}

static void dot_case(run_t *rd, run_t *rs, table_t *t, const u2_kernels *R, const float *a,
                     const float *b, int64_t n)
{
    double ex, sabs;
    exact_dot(a, b, n, &ex, &sabs);
    double got = t->k->dot(a, b, n), ref = R->dot(a, b, n);
    chk(rd, "dot", 0, got, ref, ex, dot_bound(t->is_ref, n, ex, sabs), dot_bound(1, n, ex, sabs));
    exact_dot(a, a, n, &ex, &sabs);
    got = t->k->sumsq(a, n);
    ref = R->sumsq(a, n);
    chk(rs, "sumsq", 0, got, ref, ex, dot_bound(t->is_ref, n, ex, sabs), dot_bound(1, n, ex, sabs));
}

static void test_dot(table_t *t, const u2_kernels *R)
{
    run_t rd = {0}, rs = {0};
    for (int si = 0; si < NSIZES + 2; si++) {
        int64_t n = si < NSIZES ? SIZES[si] : si == NSIZES ? 50265 : (1 << 20) + 13;
        for (int mode = 0; mode < 2; mode++) {
            snprintf(ctx, sizeof ctx, "n=%lld mode=%d random", (long long)n, mode);
            float *a = galloc(n, mode), *b = galloc(n, mode);
            tap_fill(a, n, -1.0f, 1.0f);
            tap_fill(b, n, -3.0f, 3.0f);
            put_specials(a, n);
            dot_case(&rd, &rs, t, R, a, b, n);
            gfree_all();
        }
    }
    report(t, K_DOT, "random, sizes 0..3073, 50265, 2^20+13", &rd);
    report(t, K_SUMSQ, "random, sizes 0..3073, 50265, 2^20+13", &rs);

    /* Long sums where one float accumulator would drift far out of bound:
     * 2^21 equal terms (the classic 0.1f drift), and one large term followed
     * by 2^21 terms below its half-ulp. */
    run_t ld = {0}, ls = {0};
    const int64_t n = (1 << 21) + 5;
    for (int kind = 0; kind < 2; kind++) {
        snprintf(ctx, sizeof ctx, "n=%lld %s", (long long)n, kind ? "big+small" : "constant");
        float *a = galloc(n, 0), *b = galloc(n, 0);
        for (int64_t i = 0; i < n; i++) {
            a[i] = kind ? 0x1p-13f : 0.1f;
            b[i] = kind ? 0x1p-13f : 1.0f;
        }
        if (kind) a[0] = b[0] = 1.0f;
        dot_case(&ld, &ls, t, R, a, b, n);
        gfree_all();
    }
    report(t, K_DOT, "2^21 terms, constant and big+small (bounded-error accumulation)", &ld);
    report(t, K_SUMSQ, "2^21 terms, constant and big+small (bounded-error accumulation)", &ls);
}

/* ------------------------------------------------------------ softmax */
/* Error model of one row (both implementations, any order), v = fl(x + mask):
 *  - the argument of exp is fl(fl(x+m) - max): each entry carries an absolute
 *    error eta_j <= eps (|x_j + m_j| + |v_j - max|); softmax is shift
 *    invariant, so p^_j = p_j e^{eta_j} / sum_k p_k e^{eta_k}, a relative error
 *    rho_j <= (expm1|eta_j| + S) / (1 - S), S = sum_k p_k expm1|eta_k|;
 *  - exp within 1 ulp (2 eps), the positive float sum of n terms gam(n-1) in
 *    any order, 1/sum and the product one rounding each: gam(n+6) in all;
 *  - exps that land among the subnormals: 2 TINY absolute;
 *  - `extra` more products by a constant (xent's dscale): gam(n+6+extra).
 * Masked (-inf) entries are exactly 0, as is a fully masked row. */
static void softmax_row_bounds(const float *x, const float *m, int64_t n, int extra, double *p,
                               double *b)
{
    double M = -INFINITY;
    float mxf = -INFINITY;
    for (int64_t j = 0; j < n; j++) {
        double v = m ? (double)x[j] + m[j] : x[j];
        float vf = m ? x[j] + m[j] : x[j];
        if (v > M) M = v;
        if (vf > mxf) mxf = vf;
    }
    if (M == -INFINITY) {
        for (int64_t j = 0; j < n; j++) p[j] = b[j] = 0.0;
        return;
    }
    double S = 0.0, Seta = 0.0;
    for (int64_t j = 0; j < n; j++) {
        double v = m ? (double)x[j] + m[j] : x[j];
        p[j] = exp(v - M);
        S += p[j];
    }
    for (int64_t j = 0; j < n; j++) {
        p[j] /= S;
        double v = m ? (double)x[j] + m[j] : x[j];
        float vf = m ? x[j] + m[j] : x[j];
        b[j] = p[j] > 0 ? EPS * ((m ? fabs(v) : 0.0) + fabs((double)vf - mxf)) : 0.0; /* eta_j */
        Seta += p[j] * expm1(b[j]);
    }
    for (int64_t j = 0; j < n; j++) {
        double rho = (expm1(b[j]) + Seta) / (1.0 - Seta);
        b[j] = p[j] * ((1.0 + rho) * (1.0 + gam((double)n + 6 + extra)) - 1.0) + 2 * TINY +
               dslack((double)n, p[j]);
        if (p[j] == 0.0 && (m ? (double)x[j] + m[j] : x[j]) == -INFINITY) b[j] = 0.0;
    }
}

enum { MASK_NONE, MASK_ROWS, MASK_SHARED };

/* rows x cols (row stride ldx) with a mask of the given kind */
static void softmax_case(run_t *r, table_t *t, const u2_kernels *R, int64_t rows, int64_t cols,
                         int64_t ldx, int mask_kind, int64_t ldm_extra, float lo, float hi,
                         int mode, int all_masked)
{
    int64_t nx = rows ? (rows - 1) * ldx + cols : 0;
    float *x0 = galloc(nx, mode);
    for (int64_t i = 0; i < nx; i++) x0[i] = (i % ldx) < cols ? tap_uniform(lo, hi) : SENTINEL;
    float *mask = NULL;
    int64_t ldm = 0, nm = 0;
    if (mask_kind != MASK_NONE) {
        ldm = mask_kind == MASK_ROWS ? cols + ldm_extra : 0;
        nm = mask_kind == MASK_ROWS ? (rows - 1) * ldm + cols : cols;
        mask = galloc(nm, mode);
        for (int64_t i = 0; i < nm; i++) {
            unsigned u = (unsigned)(tap_next() % 10);
            mask[i] = u < 6 ? 0.0f : u < 9 ? -INFINITY : u == 9 && (i & 1) ? -1e4f : tap_uniform(-5, 0);
            if (all_masked) mask[i] = -INFINITY;
        }
        /* per-row masks: row 1 fully masked, row 2 masked everywhere but its tail */
        if (mask_kind == MASK_ROWS && rows > 1)
            for (int64_t c = 0; c < cols; c++) mask[ldm + c] = -INFINITY;
        if (mask_kind == MASK_ROWS && rows > 2 && !all_masked)
            for (int64_t c = 0; c + 1 < cols; c++) mask[2 * ldm + c] = -INFINITY;
    }
    float *x = gcopy(x0, nx, mode), *xr = gcopy(x0, nx, mode);
    t->k->softmax_rows(x, rows, cols, ldx, mask, mask_kind == MASK_SHARED ? 0 : ldm);
    R->softmax_rows(xr, rows, cols, ldx, mask, mask_kind == MASK_SHARED ? 0 : ldm);
    double *p = malloc(sizeof(double) * (size_t)(cols + 1)), *b = malloc(sizeof(double) * (size_t)(cols + 1));
    for (int64_t i = 0; i < rows; i++) {
        const float *mr = mask ? mask + i * (mask_kind == MASK_SHARED ? 0 : ldm) : NULL;
        softmax_row_bounds(x0 + i * ldx, mr, cols, 0, p, b);
        for (int64_t c = 0; c < cols; c++)
            chk(r, "p", (long)(i * ldx + c), x[i * ldx + c], xr[i * ldx + c], p[c], b[c], b[c]);
        if (i + 1 < rows)
            for (int64_t c = cols; c < ldx; c++) chk_exact(r, "gap", (long)(i * ldx + c), x[i * ldx + c], SENTINEL);
    }
    free(p);
    free(b);
    gfree_all();
}

static void test_softmax(table_t *t, const u2_kernels *R)
{
    static const char *const mk[] = {"no mask", "per-row mask", "shared mask"};
    for (int kind = 0; kind < 3; kind++) {
        run_t r = {0};
        for (int si = 0; si < NSIZES; si++) {
            int64_t cols = SIZES[si];
            for (int mode = 0; mode < 2; mode++) {
                int64_t ldx = cols + (mode ? 5 : 0);
                snprintf(ctx, sizeof ctx, "%s cols=%lld ldx=%lld mode=%d", mk[kind], (long long)cols,
                         (long long)ldx, mode);
                softmax_case(&r, t, R, 4, cols, ldx, kind, mode ? 3 : 0, -8.0f, 8.0f, mode, 0);
                snprintf(ctx, sizeof ctx, "%s cols=%lld +-1e4 logits mode=%d", mk[kind],
                         (long long)cols, mode);
                softmax_case(&r, t, R, 3, cols, ldx, kind, 1, -1e4f, 1e4f, mode, 0);
            }
        }
        for (int mode = 0; mode < 2; mode++) {
            snprintf(ctx, sizeof ctx, "%s cols=50265 mode=%d", mk[kind], mode);
            softmax_case(&r, t, R, 3, 50265, 50265 + mode, kind, 2, -1e4f, 1e4f, mode, 0);
            softmax_case(&r, t, R, 3, 3073, 3073, kind, 0, -10.0f, 10.0f, mode, 0);
        }
        if (kind != MASK_NONE) {
            snprintf(ctx, sizeof ctx, "%s, every entry -inf", mk[kind]);
            softmax_case(&r, t, R, 3, 37, 40, kind, 0, -1.0f, 1.0f, 0, 1);
        }
        char name[96];
        snprintf(name, sizeof name, "%s (sizes 0..3073, 50265; +-8 and +-1e4 logits%s)", mk[kind],
                 kind == MASK_ROWS ? "; full, partial and all -inf rows" :
                 kind == MASK_SHARED ? "; all -inf shared row" : "");
        report(t, K_SOFTMAX, name, &r);
    }
}

/* ------------------------------------------------------------ xent */
/* Per valid row, with M = max x (exact), t = target, p = softmax(x):
 *  the float sum s^ of exp(fl(x_j - M)) has relative error
 *  rel <= (1 + S)(1 + 2 eps)(1 + gam(V-1)) - 1 (S as in softmax, eta_j =
 *  eps |x_j - M|), so |log s^ - log s| <= -log(1 - rel); logf adds 1 ulp of
 *  its result; lse = M + L and lse - x_t one rounding each on their operands.
 *  The row losses are summed in double (N double roundings).
 *  dlogits: p_j dscale as in softmax (two products: gam(V+7)), minus dscale at
 *  the target (one more rounding); ignored rows exactly 0. */
static void xent_case(run_t *r, table_t *t, const u2_kernels *R, int64_t N, int64_t V, int64_t ldl,
                      float lo, float hi, int with_d, float dscale, int mode)
{
    int64_t nx = N ? (N - 1) * ldl + V : 0;
    float *x = galloc(nx, mode);
    for (int64_t i = 0; i < nx; i++) x[i] = (i % ldl) < V ? tap_uniform(lo, hi) : SENTINEL;
    int32_t *tg = malloc(sizeof(int32_t) * (size_t)(N + 1));
    for (int64_t i = 0; i < N; i++) tg[i] = (i % 3 == 1) ? -1 : (int32_t)(tap_next() % (unsigned long long)V);
    if (N > 0 && V > 0) tg[N - 1] = (int32_t)(V - 1); /* a target in the tail */
    float *d = NULL, *dr = NULL;
    if (with_d) {
        d = galloc(nx, mode);
        dr = galloc(nx, mode);
        for (int64_t i = 0; i < nx; i++) d[i] = dr[i] = SENTINEL;
    }
    double got = t->k->xent(d, x, ldl, tg, N, V, dscale);
    double ref = R->xent(dr, x, ldl, tg, N, V, dscale);
    double *p = malloc(sizeof(double) * (size_t)(V + 1)), *b = malloc(sizeof(double) * (size_t)(V + 1));
    double ex = 0.0, bl = 0.0, sumabs = 0.0;
    for (int64_t i = 0; i < N; i++) {
        const float *xi = x + i * ldl;
        if (tg[i] < 0) {
            for (int64_t j = 0; with_d && j < V; j++) chk_exact(r, "d (ignored row)", (long)(i * ldl + j), d[i * ldl + j], 0.0f);
        } else {
            double M = -INFINITY, S = 0.0, Seta = 0.0;
            for (int64_t j = 0; j < V; j++) M = xi[j] > M ? xi[j] : M;
            for (int64_t j = 0; j < V; j++) S += exp(xi[j] - M);
            double L = log(S), loss = M + L - xi[tg[i]];
            ex += loss;
            sumabs += fabs(loss);
            softmax_row_bounds(xi, NULL, V, 1, p, b); /* p and the dlogits bounds */
            for (int64_t j = 0; j < V; j++) Seta += p[j] * expm1(EPS * fabs(xi[j] - M));
            double rel = (1.0 + Seta) * (1.0 + ULPR) * (1.0 + gam((double)V - 1)) - 1.0;
            double dL = -log1p(-rel);
            bl += (dL + ULPR * (L + dL)) * (1 + gam(2)) +
                  gam(2) * (fabs(M) + L + dL + fabs((double)xi[tg[i]])) +
                  dslack((double)V, fabs(M) + L);
            for (int64_t j = 0; with_d && j < V; j++) {
                double pj = p[j], bj = fabs(dscale) * b[j] + TINY;
                double want = pj * dscale;
                if (j == tg[i]) {
                    want -= dscale;
                    bj = bj * (1 + EPS) + EPS * (fabs(want) + bj);
                }
                chk(r, "dlogits", (long)(i * ldl + j), d[i * ldl + j], dr[i * ldl + j], want, bj, bj);
            }
        }
        if (with_d && i + 1 < N)
            for (int64_t c = V; c < ldl; c++) chk_exact(r, "gap", (long)(i * ldl + c), d[i * ldl + c], SENTINEL);
    }
    bl += (double)(N + 2) * DEPS * sumabs;
    chk(r, "loss", -1, got, ref, ex, bl, bl);
    free(p);
    free(b);
    free(tg);
    gfree_all();
}

static void test_xent(table_t *t, const u2_kernels *R)
{
    run_t r = {0};
    for (int si = 1; si < NSIZES; si++) {
        int64_t V = SIZES[si];
        for (int mode = 0; mode < 2; mode++) {
            snprintf(ctx, sizeof ctx, "V=%lld mode=%d", (long long)V, mode);
            xent_case(&r, t, R, 5, V, V + (mode ? 3 : 0), -6.0f, 6.0f, 1, 0.2f, mode);
            snprintf(ctx, sizeof ctx, "V=%lld mode=%d +-1e4, no dlogits", (long long)V, mode);
            xent_case(&r, t, R, 4, V, V, -1e4f, 1e4f, mode, 1.0f, mode);
        }
    }
    for (int mode = 0; mode < 2; mode++) {
        snprintf(ctx, sizeof ctx, "V=50265 mode=%d", mode);
        xent_case(&r, t, R, 4, 50265, 50265 + mode, -10.0f, 10.0f, 1, 0.25f, mode);
        snprintf(ctx, sizeof ctx, "V=50265 mode=%d +-1e4", mode);
        xent_case(&r, t, R, 3, 50265, 50265, -1e4f, 1e4f, 1, 1.0f, mode);
        snprintf(ctx, sizeof ctx, "V=3073 mode=%d", mode);
        xent_case(&r, t, R, 6, 3073, 3080, -3.0f, 3.0f, 1, -0.5f, mode);
    }
    snprintf(ctx, sizeof ctx, "N=0");
    xent_case(&r, t, R, 0, 7, 7, -1, 1, 1, 1.0f, 0);
    report(t, K_XENT, "V 1..3073, 50265; ignored rows; +-1e4 logits; with/without dlogits", &r);
}

/* ------------------------------------------------------------ LayerNorm */
/* Forward, per row, mu/var exact, s = 1/sqrt(var + eps):
 *  mean: float sum gam(D-1) then /D: |m^ - mu| <= dm = gam(D) sum|x| / D;
 *  var: squares of fl(x - m^) summed and divided: relative gam(D+3) on
 *    V(m^) = var + (m^ - mu)^2, so |v^ - var| <= dv = gam(D+3)(var + dm^2) + dm^2;
 *  rstd: v^ + eps, sqrt, 1/.: |s^/s - 1| <= ds = (1+eps)^2 / sqrt(1 - r1) - 1,
 *    r1 = (dv + eps (var + eps + dv)) / (var + eps);
 *  out = fl(fl(x - m^) s^) w + b: |n^ - n| <= s (a (f-1) + (dm + eps (a+dm)) f)
 *    with a = |x - mu|, f = (1+ds)(1+eps); then 2 roundings on |n^ w| + |b|. */
static void test_layernorm_fwd(table_t *t, const u2_kernels *R)
{
    run_t r = {0};
    static const float epsv[] = {1e-5f, 1e-12f};
    for (int si = 1; si < NSIZES; si++) {
        int64_t D = SIZES[si], N = 5;
        for (int mode = 0; mode < 2; mode++) {
            float eps = epsv[(si + mode) % 2];
            snprintf(ctx, sizeof ctx, "D=%lld mode=%d eps=%g", (long long)D, mode, eps);
            float *x = galloc(N * D, mode), *w = galloc(D, mode), *b = galloc(D, mode);
            tap_fill(x, N * D, -2.0f, 3.0f);
            for (int64_t j = 0; j < D; j++) x[3 * D + j] += 40.0f; /* mean far from 0 */
            for (int64_t j = 0; j < D; j++) x[D + j] = 0.75f;      /* exactly summable constant */
            /* a random constant row: at eps 1e-5 its output is bounded; at eps 1e-12
             * (s ~ 1e6 times the rounding of the mean) no float implementation can
             * promise anything, so it is another exactly summable constant there */
            float c = eps > 1e-6f ? tap_uniform(-3, 3) : -2.5f;
            for (int64_t j = 0; j < D; j++) x[2 * D + j] = c;
            tap_fill(w, D, 0.5f, 1.5f);
            tap_fill(b, D, -0.5f, 0.5f);
            float *o = galloc(N * D, mode), *orf = galloc(N * D, mode);
            float *mn = mode ? galloc(N, mode) : NULL, *rs = mode ? galloc(N, mode) : NULL;
            float *mnr = galloc(N, mode), *rsr = galloc(N, mode);
            t->k->layernorm_fwd(o, mn, rs, x, w, b, N, D, eps);
            R->layernorm_fwd(orf, mnr, rsr, x, w, b, N, D, eps);
            for (int64_t i = 0; i < N; i++) {
                const float *xi = x + i * D;
                double mu = 0, sa = 0, var = 0;
                for (int64_t j = 0; j < D; j++) {
                    mu += xi[j];
                    sa += fabs(xi[j]);
                }
                mu /= (double)D;
                for (int64_t j = 0; j < D; j++) var += (xi[j] - mu) * (xi[j] - mu);
                var /= (double)D;
                double dm = gam((double)D) * sa / (double)D + dslack((double)D, sa / (double)D);
                double dv = gam((double)D + 3) * (var + dm * dm) + dm * dm;
                double r1 = (dv + EPS * (var + eps + dv)) / (var + eps);
                double ds = (1 + EPS) * (1 + EPS) / sqrt(1.0 - r1) - 1.0;
                double s = 1.0 / sqrt(var + (double)eps);
                if (i == 1 || (i == 2 && eps < 1e-6f)) {
                    /* exactly summable constant rows: known answers (a worst-case
                     * bound would be vacuous at eps 1e-12, where r1 > 1) */
                    if (mn) chk_exact(&r, "mean (constant row)", (long)i, mn[i], xi[0]);
                    if (rs) chk_exact(&r, "rstd (constant row)", (long)i, rs[i], 1.0f / sqrtf(eps));
                    for (int64_t j = 0; j < D; j++)
                        chk_exact(&r, "out (constant row = b)", (long)j, o[i * D + j], b[j]);
                    continue;
                }
                if (mn) chk(&r, "mean", (long)i, mn[i], mnr[i], mu, dm, dm);
                if (rs) chk(&r, "rstd", (long)i, rs[i], rsr[i], s, s * ds, s * ds);
                for (int64_t j = 0; j < D; j++) {
                    double a = fabs(xi[j] - mu), f = (1 + ds) * (1 + EPS);
                    double dn = s * (a * (f - 1) + (dm + EPS * (a + dm)) * f);
                    double nn = (xi[j] - mu) * s;
                    double ex = nn * w[j] + b[j];
                    double bd = fabs((double)w[j]) * dn +
                                gam(2) * ((fabs(nn) + dn) * fabs((double)w[j]) + fabs((double)b[j])) + TINY;
                    chk(&r, "out", (long)(i * D + j), o[i * D + j], orf[i * D + j], ex, bd, bd);
                }
            }
            gfree_all();
        }
    }
    report(t, K_LN_FWD, "D 1..3073, eps 1e-5/1e-12, constant rows, offset rows", &r);
}

/* Backward, per row with the given (float) mean m and rstd s taken as exact:
 *  n = (x - m) s: two roundings; dn = w dy: one;
 *  A = sum dn / D: gam(D+1) sum|dn| / D;  B = sum dn n / D: gam(D+5) sum|dn n| / D;
 *  g = dn - A - n B: propagated errors plus 3 roundings on the magnitudes;
 *  dx += g s: |g^ - g| s (1 + gam(2)) + gam(2) (|g s| + |dx0|);
 *  dw += n dy and db += dy over N rows: a recursive sum of N+1 terms. */
static void test_layernorm_bwd(table_t *t, const u2_kernels *R)
{
    run_t r = {0};
    for (int si = 1; si < NSIZES; si++) {
        int64_t D = SIZES[si], N = 4;
        for (int mode = 0; mode < 2; mode++) {
            int with_w = !(mode == 1 && si % 3 == 0);
            snprintf(ctx, sizeof ctx, "D=%lld mode=%d dw/db %s", (long long)D, mode, with_w ? "on" : "NULL");
            float *x = galloc(N * D, mode), *w = galloc(D, mode), *dy = galloc(N * D, mode);
            float *mean = galloc(N, mode), *rstd = galloc(N, mode);
            tap_fill(x, N * D, -2.0f, 2.0f);
            tap_fill(w, D, 0.5f, 1.5f);
            tap_fill(dy, N * D, -1.0f, 1.0f);
            for (int64_t i = 0; i < N; i++) {
                double mu = 0, var = 0;
                for (int64_t j = 0; j < D; j++) mu += x[i * D + j];
                mu /= (double)D;
                for (int64_t j = 0; j < D; j++) var += (x[i * D + j] - mu) * (x[i * D + j] - mu);
                mean[i] = (float)mu;
                rstd[i] = (float)(1.0 / sqrt(var / (double)D + 1e-5));
            }
            float *dx0 = galloc(N * D, mode), *dw0 = galloc(D, mode), *db0 = galloc(D, mode);
            tap_fill(dx0, N * D, -1.0f, 1.0f);
            tap_fill(dw0, D, -1.0f, 1.0f);
            tap_fill(db0, D, -1.0f, 1.0f);
            float *dx = gcopy(dx0, N * D, mode), *dxr = gcopy(dx0, N * D, mode);
            float *dw = with_w ? gcopy(dw0, D, mode) : NULL, *dwr = gcopy(dw0, D, mode);
            float *db = with_w ? gcopy(db0, D, mode) : NULL, *dbr = gcopy(db0, D, mode);
            t->k->layernorm_bwd(dx, dw, db, dy, x, w, mean, rstd, N, D);
            R->layernorm_bwd(dxr, dwr, dbr, dy, x, w, mean, rstd, N, D);
            for (int64_t i = 0; i < N; i++) {
                const float *xi = x + i * D, *dyi = dy + i * D;
                double m = mean[i], s = rstd[i], A = 0, B = 0, sA = 0, sB = 0;
                for (int64_t j = 0; j < D; j++) {
                    double nn = (xi[j] - m) * s, dn = (double)w[j] * dyi[j];
                    A += dn;
                    B += dn * nn;
                    sA += fabs(dn);
                    sB += fabs(dn * nn);
                }
                A /= (double)D;
                B /= (double)D;
                double dA = gam((double)D + 1) * sA / (double)D + dslack((double)D, sA / (double)D);
                double dB = gam((double)D + 5) * sB / (double)D + dslack((double)D, sB / (double)D);
                for (int64_t j = 0; j < D; j++) {
                    double nn = (xi[j] - m) * s, dn = (double)w[j] * dyi[j];
                    double dnn = gam(2) * fabs(nn), ddn = EPS * fabs(dn);
                    double g = dn - A - nn * B;
                    double dg = ddn + dA + dnn * (fabs(B) + dB) + fabs(nn) * dB +
                                gam(3) * (fabs(dn) + ddn + fabs(A) + dA + (fabs(nn) + dnn) * (fabs(B) + dB));
                    double ex = dx0[i * D + j] + g * s;
                    double bd = dg * s * (1 + gam(2)) + gam(2) * (fabs(g) * s + fabs((double)dx0[i * D + j])) + TINY;
                    chk(&r, "dinp", (long)(i * D + j), dx[i * D + j], dxr[i * D + j], ex, bd, bd);
                }
            }
            for (int64_t j = 0; with_w && j < D; j++) {
                double ew = dw0[j], eb = db0[j], aw = fabs((double)dw0[j]), ab = fabs((double)db0[j]), pw = 0;
                for (int64_t i = 0; i < N; i++) {
                    double nn = (x[i * D + j] - (double)mean[i]) * rstd[i], y = dy[i * D + j];
                    ew += nn * y;
                    eb += y;
                    aw += fabs(nn * y) * (1 + gam(2));
                    pw += gam(2) * fabs(nn * y);
                    ab += fabs(y);
                }
                double bw = pw * (1 + gam((double)N + 2)) + gam((double)N + 2) * aw + TINY;
                double bb = gam((double)N) * ab;
                chk(&r, "dw", (long)j, dw[j], dwr[j], ew, bw, bw);
                chk(&r, "db", (long)j, db[j], dbr[j], eb, bb, bb);
            }
            gfree_all();
        }
    }
    report(t, K_LN_BWD, "D 1..3073, accumulating, dw/db on and NULL", &r);
}

/* ------------------------------------------------------------ GELU */
/* erf's argument z^ = fl(x fl(1/sqrt2)) is within gam(2)|z| of z, which moves
 * erf by at most Ez = (2/sqrt(pi)) exp(-(|z|(1-gam2))^2) |z| gam(2); erf itself
 * is within 1 ulp: |(1 + e^) - (1 + erf z)| <= De = Ez + 2 eps (|erf z| + Ez). */
static void gelu_terms(double x, double *erfz, double *De)
{
    double z = x / sqrt(2.0), az = fabs(z) * (1 - gam(2));
    double Ez = 2.0 / sqrt(M_PI) * exp(-az * az) * fabs(z) * gam(2);
    *erfz = erf(z);
    *De = Ez + ULPR * (fabs(*erfz) + Ez);
}

/* fwd: 0.5 x (1 + e^) with the sum and the product rounded:
 *   |err| <= 0.5|x| (De (1 + gam2) + gam2 |1 + erf z|)
 * bwd: cdf = 0.5 (1 + e^): 0.5 (De + eps (|1+erf| + De));
 *   pdf = fl(1/sqrt(2pi)) exp(fl(-0.5 x x)): the argument within eps x^2/2,
 *   exp 1 ulp, the constant and the product one rounding each;
 *   t = cdf + x pdf (fused or not) and dout t: gam(2) and gam(1) more. */
static void test_gelu(table_t *t, const u2_kernels *R)
{
    run_t rf = {0}, rb = {0};
    for (int si = 0; si < NSIZES + 1; si++) {
        int64_t n = si < NSIZES ? SIZES[si] : 50265;
        for (int mode = 0; mode < 2; mode++) {
            snprintf(ctx, sizeof ctx, "n=%lld mode=%d", (long long)n, mode);
            float *x = galloc(n, mode), *dy = galloc(n, mode);
            tap_fill(x, n, -6.0f, 6.0f);
            tap_fill(dy, n, -2.0f, 2.0f);
            put_specials(x, n);
            if (n >= NSPECIAL) memcpy(x + n - NSPECIAL, SPECIAL, sizeof SPECIAL); /* in the tail */
            float *o = galloc(n, mode), *orf = galloc(n, mode);
            t->k->gelu_fwd(o, x, n);
            R->gelu_fwd(orf, x, n);
            /* bwd: out of place for mode 0, in place (dinp aliases dout) for mode 1 */
            float *d = mode ? gcopy(dy, n, mode) : galloc(n, mode), *dr = galloc(n, mode);
            t->k->gelu_bwd(d, x, mode ? d : dy, n);
            R->gelu_bwd(dr, x, dy, n);
            for (int64_t i = 0; i < n; i++) {
                double xi = x[i], e, De;
                gelu_terms(xi, &e, &De);
                double ex = 0.5 * xi * (1 + e);
                double bd = 0.5 * fabs(xi) * (De * (1 + gam(2)) + gam(2) * fabs(1 + e)) + TINY +
                            dslack(4, fabs(ex));
                chk(&rf, "out", (long)i, o[i], orf[i], ex, bd, bd);

                double cdf = 0.5 * (1 + e), dcdf = 0.5 * (De + EPS * (fabs(1 + e) + De));
                double a = 0.5 * xi * xi, pdf = exp(-a) / sqrt(2 * M_PI);
                double dpdf = pdf * (exp(EPS * a) * (1 + ULPR) * (1 + gam(2)) - 1) + TINY;
                double tt = cdf + xi * pdf;
                double dt = (dcdf + fabs(xi) * dpdf) * (1 + gam(2)) + gam(2) * (fabs(cdf) + fabs(xi * pdf));
                double exb = dy[i] * tt;
                double bb = fabs((double)dy[i]) * (dt * (1 + gam(1)) + gam(1) * fabs(tt)) + TINY +
                            dslack(8, fabs(exb));
                chk(&rb, "dinp", (long)i, d[i], dr[i], exb, bb, bb);
            }
            gfree_all();
        }
    }
    report(t, K_GELU_FWD, "sizes 0..3073, 50265; 0, +-1e-6, +-3, +-10, +-1e4", &rf);
    report(t, K_GELU_BWD, "sizes 0..3073, 50265; specials; in place and out of place", &rb);
}

/* ------------------------------------------------------------ AdamW */
/* One step from the same state, exact hyperparameters in double:
 *  m' = b1 m + (1-b1) g: gam(2)(|b1 m| + |(1-b1) g|)   (1-b1 is exact in float);
 *  v' = b2 v + (1-b2) g g: gam(3) v' (positive terms);
 *  den = sqrt(v') fl(1/sqrt(bc2)) + eps: relative gam(7);
 *  q = m'/den: |q^ - q| <= dm (1+gam8)/den + gam(8)|q|;
 *  p' = p fl(1 - lr wd) - fl(lr/bc1) q: decay relative gam(2)(1+lr wd)/(1-lr wd),
 *  two products and the difference: see below. */
static void test_adamw(table_t *t, const u2_kernels *R)
{
    run_t r = {0};
    for (int si = 0; si < NSIZES + 1; si++) {
        int64_t n = si < NSIZES ? SIZES[si] : 50265;
        for (int mode = 0; mode < 2; mode++) {
            u2_adamw_hp hp = {.lr = 1e-3f, .beta1 = 0.9f, .beta2 = mode ? 0.98f : 0.999f,
                              .eps = mode ? 1e-6f : 1e-8f, .weight_decay = si % 2 ? 0.01f : 0.0f};
            snprintf(ctx, sizeof ctx, "n=%lld mode=%d wd=%g", (long long)n, mode, hp.weight_decay);
            float *p = galloc(n, mode), *m = galloc(n, mode), *v = galloc(n, mode), *g = galloc(n, mode);
            tap_fill(p, n, -1.0f, 1.0f);
            memset(m, 0, sizeof(float) * (size_t)n);
            memset(v, 0, sizeof(float) * (size_t)n);
            float *pv = galloc(n, mode), *mv = galloc(n, mode), *vv = galloc(n, mode);
            for (int step = 1; step <= 5; step++) {
                hp.bc1 = 1.0f - powf(hp.beta1, (float)step);
                hp.bc2 = 1.0f - powf(hp.beta2, (float)step);
                hp.lr = 1e-3f * (float)step / 5.0f;
                tap_fill(g, n, -1.0f, 1.0f);
                for (int64_t i = 0; i < n; i += 7) g[i] = 0.0f;
                for (int64_t i = 3; i < n; i += 11) g[i] *= 1e3f;
                if (n) {
                    memcpy(pv, p, sizeof(float) * (size_t)n);
                    memcpy(mv, m, sizeof(float) * (size_t)n);
                    memcpy(vv, v, sizeof(float) * (size_t)n);
                }
                t->k->adamw(pv, g, mv, vv, n, &hp);
                /* exact update from the same state, before the reference moves it */
                double b1 = hp.beta1, b2 = hp.beta2, lr = hp.lr, wd = hp.weight_decay;
                double c1 = 1.0 - b1, c2 = 1.0 - b2;
                double decay = 1 - lr * wd, stp = lr / hp.bc1, rs = 1 / sqrt((double)hp.bc2);
                double ddec = gam(2) * (1 + lr * wd) / (1 - lr * wd);
                double *ep = malloc(sizeof(double) * 3 * (size_t)(n + 1)), *bd = malloc(sizeof(double) * 3 * (size_t)(n + 1));
                for (int64_t i = 0; i < n; i++) {
                    double gi = g[i], mi = b1 * m[i] + c1 * gi, vi = b2 * v[i] + c2 * gi * gi;
                    double den = sqrt(vi) * rs + hp.eps, q = mi / den;
                    double bm = gam(2) * (fabs(b1 * m[i]) + fabs(c1 * gi)) + TINY;
                    double bv = gam(3) * vi + TINY;
                    double dq = bm * (1 + gam(8)) / den + gam(8) * fabs(q);
                    double pd = (double)p[i] * decay;
                    ep[3 * i] = pd - stp * q;
                    ep[3 * i + 1] = mi;
                    ep[3 * i + 2] = vi;
                    bd[3 * i] = fabs(pd) * ((1 + ddec) * (1 + gam(2)) - 1) + stp * (dq * (1 + gam(3)) + gam(3) * fabs(q)) +
                                2 * TINY + dslack(8, fabs(pd) + stp * fabs(q));
                    bd[3 * i + 1] = bm;
                    bd[3 * i + 2] = bv;
                }
                R->adamw(p, g, m, v, n, &hp); /* the state moves on along the reference */
                for (int64_t i = 0; i < n; i++) {
                    chk(&r, "p", (long)i, pv[i], p[i], ep[3 * i], bd[3 * i], bd[3 * i]);
                    chk(&r, "m", (long)i, mv[i], m[i], ep[3 * i + 1], bd[3 * i + 1], bd[3 * i + 1]);
                    chk(&r, "v", (long)i, vv[i], v[i], ep[3 * i + 2], bd[3 * i + 2], bd[3 * i + 2]);
                }
                free(ep);
                free(bd);
            }
            gfree_all();
        }
    }
    report(t, K_ADAMW, "sizes 0..3073, 50265; 5 steps; weight decay on/off", &r);
}

/* ------------------------------------------------------------ determinism */
/* The same inputs at two addresses of different alignment, and a repeated
 * call, must give the same bits: no alignment peeling, no state. */
static int same_bits(const float *a, const float *b, int64_t n)
{
    return n == 0 || memcmp(a, b, sizeof(float) * (size_t)n) == 0;
}

static void test_determinism(table_t *t)
{
    const u2_kernels *k = t->k;
    const int64_t V = 3073, N = 4, n = N * V;
    int ok = 1;
    float *x0 = galloc(n, 0), *x1 = galloc(n, 1), *y0 = galloc(n, 0), *y1 = galloc(n, 1);
    float *w = galloc(V, 1), *b = galloc(V, 0);
    tap_fill(x0, n, -5.0f, 5.0f);
    tap_fill(y0, n, -1.0f, 1.0f);
    tap_fill(w, V, 0.5f, 1.5f);
    tap_fill(b, V, -0.5f, 0.5f);
    memcpy(x1, x0, sizeof(float) * (size_t)n);
    memcpy(y1, y0, sizeof(float) * (size_t)n);
    for (int rep = 0; rep < 2; rep++) {
        double d0 = k->dot(x0, y0, n), d1 = k->dot(x1 + rep, y1 + rep, n - rep);
        double d2 = k->dot(x0 + rep, y0 + rep, n - rep);
        ok &= memcmp(&d1, &d2, sizeof d1) == 0 && (rep || k->dot(x0, y0, n) == d0);
        d1 = k->sumsq(x1 + rep, n - rep);
        d2 = k->sumsq(x0 + rep, n - rep);
        ok &= memcmp(&d1, &d2, sizeof d1) == 0;
    }
    int32_t tg[4] = {5, -1, 3072, 0};
    float *g0 = galloc(n, 0), *g1 = galloc(n, 1);
    double l0 = k->xent(g0, x0, V, tg, N, V, 0.25f), l1 = k->xent(g1, x1, V, tg, N, V, 0.25f);
    ok &= memcmp(&l0, &l1, sizeof l0) == 0 && same_bits(g0, g1, n);
    k->layernorm_fwd(g0, NULL, NULL, x0, w, b, N, V, 1e-5f);
    k->layernorm_fwd(g1, NULL, NULL, x1, w, b, N, V, 1e-5f);
    ok &= same_bits(g0, g1, n);
    k->softmax_rows(x0, N, V, V, b, 0);
    k->softmax_rows(x1, N, V, V, b, 0);
    ok &= same_bits(x0, x1, n);
    k->gelu_bwd(y0, x0, y0, n);
    k->gelu_bwd(y1, x1, y1, n);
    ok &= same_bits(y0, y1, n);
    gfree_all();
    tap_ok(ok, "%s: dot, sumsq, xent, layernorm, softmax, gelu give the same bits at every alignment",
           t->name);
}

/* ------------------------------------------------------------ main */
int main(void)
{
    pagesz = (size_t)sysconf(_SC_PAGESIZE);
    const u2_kernels *R = u2_kern_isa(U2_ISA_SCALAR);
    if (!tap_ok(R != NULL, "the scalar reference table exists")) return tap_done();
    tap_diag("active table: %s", u2_kern()->name);
    if (tap_ok((double)(1.0f - 0.9f) == 1.0 - (double)0.9f && (double)(1.0f - 0.98f) == 1.0 - (double)0.98f &&
               (double)(1.0f - 0.999f) == 1.0 - (double)0.999f,
               "1 - beta is exact in float for the betas used (the AdamW bound assumes it)") == 0)
        return tap_done();

    static u2_kernels emu;
    test_kernels_init_emu16(&emu);
    table_t tabs[U2_ISA_COUNT + 1];
    int nt = 0;
    for (int i = 0; i < U2_ISA_COUNT; i++) {
        const u2_kernels *k = u2_kern_isa((u2_isa)i);
        if (!k) {
            tap_skip("%s: not built or not supported by this CPU", u2_isa_name((u2_isa)i));
            continue;
        }
        memset(&tabs[nt], 0, sizeof tabs[nt]);
        tabs[nt].k = k;
        tabs[nt].name = k->name;
        tabs[nt++].is_ref = i == U2_ISA_SCALAR;
    }
    memset(&tabs[nt], 0, sizeof tabs[nt]);
    tabs[nt].k = &emu;
    tabs[nt++].name = "emu16";

    for (int i = 0; i < nt; i++) {
        table_t *t = &tabs[i];
        tap_seed(0x5eed0000ULL + (unsigned long long)i);
        test_add_scale(t, R);
        test_axpy(t, R);
        test_dot(t, R);
        test_softmax(t, R);
        test_xent(t, R);
        test_layernorm_fwd(t, R);
        test_layernorm_bwd(t, R);
        test_gelu(t, R);
        test_adamw(t, R);
        test_determinism(t);
    }
    for (int i = 0; i < nt; i++)
        for (int kk = 0; kk < K_COUNT; kk++)
            tap_diag("%s %s worst err/bound %.3g (exact) %.3g (vs scalar)", kname[kk], tabs[i].name,
                     tabs[i].worst_ex[kk], tabs[i].worst_rf[kk]);
    return tap_done();
}
