/* The non-GEMM kernels, written once over the vector layer of simd/vec.h.
 *
 * An ISA file includes its vec_<isa>.h, then this header, then calls
 * U2_FN(fill_table)(k) from its initialiser.  Everything here is static, so
 * each ISA gets its own instance built with its own flags; the AVX-512 one is
 * the very logic the AVX2 and NEON tests run, only at 16 lanes.
 *
 * Loop shape shared by every kernel: full vectors, then one masked tail of
 * n % VL lanes (never a scalar loop, never a read or write past the end).
 * Reductions keep 2 or 4 vector accumulators for instruction-level
 * parallelism and combine them in a fixed order, so results are
 * deterministic and independent of pointer alignment. */
#ifndef VL
#error "include a vec_<isa>.h before kernels_tmpl.h"
#endif
#include "kernels.h"

#include <math.h>
#include <string.h>

#define U2_CAT2(a, b) a##_##b
#define U2_CAT(a, b) U2_CAT2(a, b)
#define U2_FN(name) U2_CAT(name, U2_SFX)

#define U2_T_SQRT1_2 0.70710678118654752440f
#define U2_T_INV_SQRT_2PI 0.39894228040143267794f

/* x[i] (+ m[i] when there is a mask), a full vector or a tail */
static inline vf U2_FN(ld_xm)(const float *x, const float *m, int64_t i)
{
    vf v = v_load(x + i);
    return m ? v_add(v, v_load(m + i)) : v;
}
static inline vf U2_FN(ld_xm_tail)(const float *x, const float *m, int64_t i, vtail t)
{
    vf v = v_load_tail(x + i, t, v_set1(-INFINITY));
    return m ? v_add(v, v_load_tail(m + i, t, v_zero())) : v;
}

/* max_i (x[i] + m[i]); -inf for n == 0 */
static float U2_FN(row_max)(const float *x, const float *m, int64_t n)
{
    vf a0 = v_set1(-INFINITY), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 4 * VL <= n; i += 4 * VL) {
        a0 = v_max(a0, U2_FN(ld_xm)(x, m, i));
        a1 = v_max(a1, U2_FN(ld_xm)(x, m, i + VL));
        a2 = v_max(a2, U2_FN(ld_xm)(x, m, i + 2 * VL));
        a3 = v_max(a3, U2_FN(ld_xm)(x, m, i + 3 * VL));
    }
    for (; i + VL <= n; i += VL) a0 = v_max(a0, U2_FN(ld_xm)(x, m, i));
    if (i < n) a1 = v_max(a1, U2_FN(ld_xm_tail)(x, m, i, v_tail(n - i)));
    return v_hmax(v_max(v_max(a0, a1), v_max(a2, a3)));
}

/* out[i] = exp(x[i] + m[i] - mx) (out may be x, or NULL to only sum);
 * returns the float sum.  Tail lanes load -inf, whose exp is 0. */
static float U2_FN(exp_store)(float *out, const float *x, const float *m, int64_t n, float mx)
{
    const vf vmx = v_set1(mx);
    vf s0 = v_zero(), s1 = v_zero();
    int64_t i = 0;
    for (; i + 2 * VL <= n; i += 2 * VL) {
        vf e0 = v_exp(v_sub(U2_FN(ld_xm)(x, m, i), vmx));
        vf e1 = v_exp(v_sub(U2_FN(ld_xm)(x, m, i + VL), vmx));
        if (out) {
            v_store(out + i, e0);
            v_store(out + i + VL, e1);
        }
        s0 = v_add(s0, e0);
        s1 = v_add(s1, e1);
    }
    for (; i + VL <= n; i += VL) {
        vf e = v_exp(v_sub(U2_FN(ld_xm)(x, m, i), vmx));
        if (out) v_store(out + i, e);
        s0 = v_add(s0, e);
    }
    if (i < n) {
        vtail t = v_tail(n - i);
        vf e = v_exp(v_sub(U2_FN(ld_xm_tail)(x, m, i, t), vmx));
        if (out) v_store_tail(out + i, t, e);
        s1 = v_add(s1, e);
    }
    return v_hsum(v_add(s0, s1));
}

static void U2_FN(fill)(float *x, float s, int64_t n)
{
    const vf vs = v_set1(s);
    int64_t i = 0;
    for (; i + VL <= n; i += VL) v_store(x + i, vs);
    if (i < n) v_store_tail(x + i, v_tail(n - i), vs);
}

static void U2_FN(scale)(float *x, float s, int64_t n)
{
    const vf vs = v_set1(s);
    int64_t i = 0;
    for (; i + VL <= n; i += VL) v_store(x + i, v_mul(v_load(x + i), vs));
    if (i < n) {
        vtail t = v_tail(n - i);
        v_store_tail(x + i, t, v_mul(v_load_tail(x + i, t, v_zero()), vs));
    }
}

static void U2_FN(add)(float *out, const float *a, const float *b, int64_t n)
{
    int64_t i = 0;
    for (; i + VL <= n; i += VL) v_store(out + i, v_add(v_load(a + i), v_load(b + i)));
    if (i < n) {
        vtail t = v_tail(n - i);
        v_store_tail(out + i, t,
                     v_add(v_load_tail(a + i, t, v_zero()), v_load_tail(b + i, t, v_zero())));
    }
}

static void U2_FN(axpy)(float *y, float a, const float *x, int64_t n)
{
    const vf va = v_set1(a);
    int64_t i = 0;
    for (; i + VL <= n; i += VL) v_store(y + i, v_fma(va, v_load(x + i), v_load(y + i)));
    if (i < n) {
        vtail t = v_tail(n - i);
        v_store_tail(y + i, t,
                     v_fma(va, v_load_tail(x + i, t, v_zero()), v_load_tail(y + i, t, v_zero())));
    }
}

/* x: [rows][ldx], mask: [rows][ldmask] or one shared row (ldmask 0).
 * x[r] = softmax(x[r] + mask row); a fully masked row becomes zeros. */
static void U2_FN(softmax_rows)(float *x, int64_t rows, int64_t cols, int64_t ldx,
                                const float *mask, int64_t ldmask)
{
    for (int64_t r = 0; r < rows; r++) {
        float *row = x + r * ldx;
        const float *m = mask ? mask + r * ldmask : NULL;
        float mx = U2_FN(row_max)(row, m, cols);
        if (mx == -INFINITY) {
            U2_FN(fill)(row, 0.0f, cols);
            continue;
        }
        float sum = U2_FN(exp_store)(row, row, m, cols, mx);
        U2_FN(scale)(row, 1.0f / sum, cols);
    }
}

/* sum_i x[i] in float lanes */
static float U2_FN(row_sum)(const float *x, int64_t n)
{
    vf a0 = v_zero(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 4 * VL <= n; i += 4 * VL) {
        a0 = v_add(a0, v_load(x + i));
        a1 = v_add(a1, v_load(x + i + VL));
        a2 = v_add(a2, v_load(x + i + 2 * VL));
        a3 = v_add(a3, v_load(x + i + 3 * VL));
    }
    for (; i + VL <= n; i += VL) a0 = v_add(a0, v_load(x + i));
    if (i < n) a1 = v_add(a1, v_load_tail(x + i, v_tail(n - i), v_zero()));
    return v_hsum(v_add(v_add(a0, a1), v_add(a2, a3)));
}

/* sum_i (x[i] - m)^2 in float lanes; the tail loads m so it adds 0 */
static float U2_FN(row_sqdev)(const float *x, float m, int64_t n)
{
    const vf vm = v_set1(m);
    vf a0 = v_zero(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 4 * VL <= n; i += 4 * VL) {
        vf d0 = v_sub(v_load(x + i), vm), d1 = v_sub(v_load(x + i + VL), vm);
        vf d2 = v_sub(v_load(x + i + 2 * VL), vm), d3 = v_sub(v_load(x + i + 3 * VL), vm);
        a0 = v_fma(d0, d0, a0);
        a1 = v_fma(d1, d1, a1);
        a2 = v_fma(d2, d2, a2);
        a3 = v_fma(d3, d3, a3);
    }
    for (; i + VL <= n; i += VL) {
        vf d = v_sub(v_load(x + i), vm);
        a0 = v_fma(d, d, a0);
    }
    if (i < n) {
        vf d = v_sub(v_load_tail(x + i, v_tail(n - i), vm), vm);
        a1 = v_fma(d, d, a1);
    }
    return v_hsum(v_add(v_add(a0, a1), v_add(a2, a3)));
}

/* inp, out: [N][D]; w, b: [D]; mean, rstd: [N] or NULL.  Two-pass variance
 * like the reference (no E[x^2] - E[x]^2 cancellation). */
static void U2_FN(layernorm_fwd)(float *out, float *mean, float *rstd, const float *inp,
                                 const float *w, const float *b, int64_t N, int64_t D, float eps)
{
    for (int64_t r = 0; r < N; r++) {
        const float *x = inp + r * D;
        float *o = out + r * D;
        float m = U2_FN(row_sum)(x, D) / (float)D;
        float var = U2_FN(row_sqdev)(x, m, D) / (float)D;
        float s = 1.0f / sqrtf(var + eps);
        const vf vm = v_set1(m), vs = v_set1(s);
        int64_t i = 0;
        for (; i + VL <= D; i += VL) {
            vf nrm = v_mul(v_sub(v_load(x + i), vm), vs);
            v_store(o + i, v_fma(nrm, v_load(w + i), v_load(b + i)));
        }
        if (i < D) {
            vtail t = v_tail(D - i);
            vf nrm = v_mul(v_sub(v_load_tail(x + i, t, vm), vm), vs);
            v_store_tail(o + i, t,
                         v_fma(nrm, v_load_tail(w + i, t, v_zero()), v_load_tail(b + i, t, v_zero())));
        }
        if (mean) mean[r] = m;
        if (rstd) rstd[r] = s;
    }
}

/* One vector of the LayerNorm backward: with norm = (x - m) s and
 * dnorm = w dy,  dx += (dnorm - a - norm * c) * s,  dw += norm dy,  db += dy. */
static inline void U2_FN(lnb_vec)(vf x, vf w, vf dy, vf dx, vf dwv, vf dbv, vf vm, vf vs,
                                  vf va, vf vc, vf *dx_out, vf *dw_out, vf *db_out)
{
    vf nrm = v_mul(v_sub(x, vm), vs);
    vf dn = v_mul(w, dy);
    vf g = v_sub(v_sub(dn, va), v_mul(nrm, vc));
    *dx_out = v_fma(g, vs, dx);
    *dw_out = v_fma(nrm, dy, dwv);
    *db_out = v_add(dbv, dy);
}

/* dinp, dout, inp: [N][D]; w, dw, db: [D]; mean, rstd: [N].  Accumulates. */
static void U2_FN(layernorm_bwd)(float *dinp, float *dw, float *db, const float *dout,
                                 const float *inp, const float *w, const float *mean,
                                 const float *rstd, int64_t N, int64_t D)
{
    const vf z = v_zero();
    for (int64_t r = 0; r < N; r++) {
        const float *x = inp + r * D, *dy = dout + r * D;
        float *dx = dinp + r * D;
        const vf vm = v_set1(mean[r]), vs = v_set1(rstd[r]);
        /* the two row means: of dnorm and of dnorm * norm */
        vf s0 = z, s1 = z, t0 = z, t1 = z;
        int64_t i = 0;
        for (; i + 2 * VL <= D; i += 2 * VL) {
            vf n0 = v_mul(v_sub(v_load(x + i), vm), vs);
            vf n1 = v_mul(v_sub(v_load(x + i + VL), vm), vs);
            vf d0 = v_mul(v_load(w + i), v_load(dy + i));
            vf d1 = v_mul(v_load(w + i + VL), v_load(dy + i + VL));
            s0 = v_add(s0, d0);
            s1 = v_add(s1, d1);
            t0 = v_fma(d0, n0, t0);
            t1 = v_fma(d1, n1, t1);
        }
        for (; i + VL <= D; i += VL) {
            vf n0 = v_mul(v_sub(v_load(x + i), vm), vs);
            vf d0 = v_mul(v_load(w + i), v_load(dy + i));
            s0 = v_add(s0, d0);
            t0 = v_fma(d0, n0, t0);
        }
        if (i < D) {
            vtail t = v_tail(D - i);
            vf n1 = v_mul(v_sub(v_load_tail(x + i, t, vm), vm), vs);
            vf d1 = v_mul(v_load_tail(w + i, t, z), v_load_tail(dy + i, t, z));
            s1 = v_add(s1, d1);
            t1 = v_fma(d1, n1, t1);
        }
        const vf va = v_set1(v_hsum(v_add(s0, s1)) / (float)D);
        const vf vc = v_set1(v_hsum(v_add(t0, t1)) / (float)D);
        vf ndx, ndw, ndb;
        for (i = 0; i + VL <= D; i += VL) {
            U2_FN(lnb_vec)(v_load(x + i), v_load(w + i), v_load(dy + i), v_load(dx + i),
                           dw ? v_load(dw + i) : z, db ? v_load(db + i) : z, vm, vs, va, vc,
                           &ndx, &ndw, &ndb);
            v_store(dx + i, ndx);
            if (dw) v_store(dw + i, ndw);
            if (db) v_store(db + i, ndb);
        }
        if (i < D) {
            vtail t = v_tail(D - i);
            U2_FN(lnb_vec)(v_load_tail(x + i, t, vm), v_load_tail(w + i, t, z),
                           v_load_tail(dy + i, t, z), v_load_tail(dx + i, t, z),
                           dw ? v_load_tail(dw + i, t, z) : z, db ? v_load_tail(db + i, t, z) : z,
                           vm, vs, va, vc, &ndx, &ndw, &ndb);
            v_store_tail(dx + i, t, ndx);
            if (dw) v_store_tail(dw + i, t, ndw);
            if (db) v_store_tail(db + i, t, ndb);
        }
    }
}

/* gelu(x) = 0.5 x (1 + erf(x / sqrt 2)), in the reference's operation order */
static inline vf U2_FN(gelu_vec)(vf x)
{
    vf e = v_erf(v_mul(x, v_set1(U2_T_SQRT1_2)));
    return v_mul(v_mul(v_set1(0.5f), x), v_add(v_set1(1.0f), e));
}

/* dout * (Phi(x) + x phi(x)) */
static inline vf U2_FN(gelu_bwd_vec)(vf x, vf dy)
{
    vf cdf = v_mul(v_set1(0.5f), v_add(v_set1(1.0f), v_erf(v_mul(x, v_set1(U2_T_SQRT1_2)))));
    vf pdf = v_mul(v_set1(U2_T_INV_SQRT_2PI), v_exp(v_mul(v_mul(v_set1(-0.5f), x), x)));
    return v_mul(dy, v_fma(x, pdf, cdf));
}

static void U2_FN(gelu_fwd)(float *out, const float *inp, int64_t n)
{
    int64_t i = 0;
    for (; i + VL <= n; i += VL) v_store(out + i, U2_FN(gelu_vec)(v_load(inp + i)));
    if (i < n) {
        vtail t = v_tail(n - i);
        v_store_tail(out + i, t, U2_FN(gelu_vec)(v_load_tail(inp + i, t, v_zero())));
    }
}

static void U2_FN(gelu_bwd)(float *dinp, const float *inp, const float *dout, int64_t n)
{
    int64_t i = 0;
    for (; i + VL <= n; i += VL)
        v_store(dinp + i, U2_FN(gelu_bwd_vec)(v_load(inp + i), v_load(dout + i)));
    if (i < n) {
        vtail t = v_tail(n - i);
        v_store_tail(dinp + i, t,
                     U2_FN(gelu_bwd_vec)(v_load_tail(inp + i, t, v_zero()),
                                         v_load_tail(dout + i, t, v_zero())));
    }
}

/* sum a[i] b[i]: float lanes for blocks of U2_RED_LANE_TERMS iterations,
 * then double (see simd/vec.h for the error bound).  b == a for sumsq. */
static double U2_FN(dot_blocked)(const float *a, const float *b, int64_t n)
{
    const int64_t blk = (int64_t)U2_RED_LANE_TERMS * 4 * VL;
    double total = 0.0;
    for (int64_t i0 = 0; i0 < n; i0 += blk) {
        const int64_t e = n - i0 < blk ? n : i0 + blk;
        vf a0 = v_zero(), a1 = a0, a2 = a0, a3 = a0;
        int64_t i = i0;
        for (; i + 4 * VL <= e; i += 4 * VL) {
            a0 = v_fma(v_load(a + i), v_load(b + i), a0);
            a1 = v_fma(v_load(a + i + VL), v_load(b + i + VL), a1);
            a2 = v_fma(v_load(a + i + 2 * VL), v_load(b + i + 2 * VL), a2);
            a3 = v_fma(v_load(a + i + 3 * VL), v_load(b + i + 3 * VL), a3);
        }
        for (; i + VL <= e; i += VL) a0 = v_fma(v_load(a + i), v_load(b + i), a0);
        if (i < e) {
            vtail t = v_tail(e - i);
            a1 = v_fma(v_load_tail(a + i, t, v_zero()), v_load_tail(b + i, t, v_zero()), a1);
        }
        total += (v_hsum_d(a0) + v_hsum_d(a1)) + (v_hsum_d(a2) + v_hsum_d(a3));
    }
    return total;
}

static double U2_FN(dot)(const float *a, const float *b, int64_t n)
{
    return U2_FN(dot_blocked)(a, b, n);
}

static double U2_FN(sumsq)(const float *x, int64_t n)
{
    return U2_FN(dot_blocked)(x, x, n);
}

/* The PyTorch AdamW form of kernels_ref.c, constants computed the same way. */
static inline void U2_FN(adamw_vec)(vf *p, vf g, vf *m, vf *v, vf b1, vf c1, vf b2, vf c2,
                                    vf decay, vf step, vf rsbc2, vf eps)
{
    vf mi = v_fma(b1, *m, v_mul(c1, g));
    vf vi = v_fma(b2, *v, v_mul(v_mul(c2, g), g));
    vf denom = v_fma(v_sqrt(vi), rsbc2, eps);
    *m = mi;
    *v = vi;
    *p = v_sub(v_mul(*p, decay), v_mul(step, v_div(mi, denom)));
}

static void U2_FN(adamw)(float *p, const float *g, float *m, float *v, int64_t n,
                         const u2_adamw_hp *hp)
{
    const vf b1 = v_set1(hp->beta1), b2 = v_set1(hp->beta2);
    const vf c1 = v_set1(1.0f - hp->beta1), c2 = v_set1(1.0f - hp->beta2);
    const vf decay = v_set1(1.0f - hp->lr * hp->weight_decay);
    const vf step = v_set1(hp->lr / hp->bc1);
    const vf rsbc2 = v_set1(1.0f / sqrtf(hp->bc2));
    const vf eps = v_set1(hp->eps);
    int64_t i = 0;
    for (; i + VL <= n; i += VL) {
        vf pi = v_load(p + i), mi = v_load(m + i), vi = v_load(v + i);
        U2_FN(adamw_vec)(&pi, v_load(g + i), &mi, &vi, b1, c1, b2, c2, decay, step, rsbc2, eps);
        v_store(p + i, pi);
        v_store(m + i, mi);
        v_store(v + i, vi);
    }
    if (i < n) {
        const vtail t = v_tail(n - i);
        const vf z = v_zero();
        vf pi = v_load_tail(p + i, t, z), mi = v_load_tail(m + i, t, z);
        vf vi = v_load_tail(v + i, t, z);
        U2_FN(adamw_vec)(&pi, v_load_tail(g + i, t, z), &mi, &vi, b1, c1, b2, c2, decay, step,
                         rsbc2, eps);
        v_store_tail(p + i, t, pi);
        v_store_tail(m + i, t, mi);
        v_store_tail(v + i, t, vi);
    }
}

/* logits, dlogits: [N][ldl], target: [N].  Per row: max, then exp written
 * straight into dlogits (or only summed), then one pass scaling by 1/sum and
 * dscale, so exp runs once per logit. */
static double U2_FN(xent)(float *dlogits, const float *logits, int64_t ldl,
                          const int32_t *target, int64_t N, int64_t V, float dscale)
{
    double total = 0.0;
    for (int64_t r = 0; r < N; r++) {
        const float *x = logits + r * ldl;
        float *d = dlogits ? dlogits + r * ldl : NULL;
        if (target[r] < 0) {
            if (d) U2_FN(fill)(d, 0.0f, V);
            continue;
        }
        const float xt = x[target[r]]; /* read first: d may alias x */
        float mx = U2_FN(row_max)(x, NULL, V);
        float sum = U2_FN(exp_store)(d, x, NULL, V, mx);
        float lse = mx + logf(sum);
        total += (double)(lse - xt);
        if (d) {
            const vf inv = v_set1(1.0f / sum), ds = v_set1(dscale);
            int64_t i = 0;
            for (; i + VL <= V; i += VL) v_store(d + i, v_mul(v_mul(v_load(d + i), inv), ds));
            if (i < V) {
                vtail t = v_tail(V - i);
                v_store_tail(d + i, t, v_mul(v_mul(v_load_tail(d + i, t, v_zero()), inv), ds));
            }
            d[target[r]] -= dscale;
        }
    }
    return total;
}

/* Point every non-GEMM entry of the table at this instance. */
static void U2_FN(fill_table)(u2_kernels *k)
{
    k->softmax_rows = U2_FN(softmax_rows);
    k->layernorm_fwd = U2_FN(layernorm_fwd);
    k->layernorm_bwd = U2_FN(layernorm_bwd);
    k->gelu_fwd = U2_FN(gelu_fwd);
    k->gelu_bwd = U2_FN(gelu_bwd);
    k->add = U2_FN(add);
    k->scale = U2_FN(scale);
    k->axpy = U2_FN(axpy);
    k->dot = U2_FN(dot);
    k->sumsq = U2_FN(sumsq);
    k->adamw = U2_FN(adamw);
    k->xent = U2_FN(xent);
}
