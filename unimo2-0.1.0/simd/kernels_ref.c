/* Scalar reference kernels: the algorithmic reference every ISA is held
 * against, and the fallback on CPUs without a vector unit we target.
 * Written for clarity; libm's expf/erff are the "exact" functions. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "gemm_internal.h"

#include <math.h>

static void softmax_rows_ref(float *x, int64_t rows, int64_t cols, int64_t ldx,
                             const float *mask, int64_t ldmask)
{
    for (int64_t r = 0; r < rows; r++) {
        float *row = x + r * ldx;
        const float *m = mask ? mask + r * ldmask : NULL;
        float mx = -INFINITY;
        for (int64_t c = 0; c < cols; c++) {
            float v = m ? row[c] + m[c] : row[c];
            if (v > mx) mx = v;
        }
        if (mx == -INFINITY) { /* fully masked row: zero context */
            for (int64_t c = 0; c < cols; c++) row[c] = 0.0f;
            continue;
        }
        float sum = 0.0f;
        for (int64_t c = 0; c < cols; c++) {
            float v = m ? row[c] + m[c] : row[c];
            float e = expf(v - mx);
            row[c] = e;
            sum += e;
        }
        float inv = 1.0f / sum;
        for (int64_t c = 0; c < cols; c++) row[c] *= inv;
    }
}

static void layernorm_fwd_ref(float *out, float *mean, float *rstd, const float *inp,
                              const float *w, const float *b, int64_t N, int64_t D,
                              float eps)
{
    for (int64_t i = 0; i < N; i++) {
        const float *x = inp + i * D;
        float m = 0.0f;
        for (int64_t j = 0; j < D; j++) m += x[j];
        m /= (float)D;
        float v = 0.0f;
        for (int64_t j = 0; j < D; j++) {
            float d = x[j] - m;
            v += d * d;
        }
        v /= (float)D;
        float s = 1.0f / sqrtf(v + eps);
        float *o = out + i * D;
        for (int64_t j = 0; j < D; j++) o[j] = (x[j] - m) * s * w[j] + b[j];
        if (mean) mean[i] = m;
        if (rstd) rstd[i] = s;
    }
}

static void layernorm_bwd_ref(float *dinp, float *dw, float *db, const float *dout,
                              const float *inp, const float *w, const float *mean,
                              const float *rstd, int64_t N, int64_t D)
{
    for (int64_t i = 0; i < N; i++) {
        const float *x = inp + i * D, *dy = dout + i * D;
        float m = mean[i], s = rstd[i];
        float dnorm_mean = 0.0f, dnorm_norm_mean = 0.0f;
        for (int64_t j = 0; j < D; j++) {
            float norm = (x[j] - m) * s;
            float dnorm = w[j] * dy[j];
            dnorm_mean += dnorm;
            dnorm_norm_mean += dnorm * norm;
        }
        dnorm_mean /= (float)D;
        dnorm_norm_mean /= (float)D;
        float *dx = dinp + i * D;
        for (int64_t j = 0; j < D; j++) {
            float norm = (x[j] - m) * s;
            float dnorm = w[j] * dy[j];
            dx[j] += (dnorm - dnorm_mean - norm * dnorm_norm_mean) * s;
            if (dw) dw[j] += norm * dy[j];
            if (db) db[j] += dy[j];
        }
    }
}

#define U2_SQRT1_2 0.70710678118654752440f
#define U2_INV_SQRT_2PI 0.39894228040143267794f

static void gelu_fwd_ref(float *out, const float *inp, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        float x = inp[i];
        out[i] = 0.5f * x * (1.0f + erff(x * U2_SQRT1_2));
    }
}

static void gelu_bwd_ref(float *dinp, const float *inp, const float *dout, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        float x = inp[i];
        float cdf = 0.5f * (1.0f + erff(x * U2_SQRT1_2));
        float pdf = U2_INV_SQRT_2PI * expf(-0.5f * x * x);
        dinp[i] = dout[i] * (cdf + x * pdf);
    }
}

static void add_ref(float *out, const float *a, const float *b, int64_t n)
{
    for (int64_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

static void scale_ref(float *x, float s, int64_t n)
{
    for (int64_t i = 0; i < n; i++) x[i] *= s;
}

static void axpy_ref(float *y, float a, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}

static double dot_ref(const float *a, const float *b, int64_t n)
{
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

static double sumsq_ref(const float *x, int64_t n)
{
    return dot_ref(x, x, n);
}

/* The update in the form PyTorch's AdamW uses, so trajectories agree:
 *   p *= 1 - lr*wd;  p -= (lr/bc1) * m / (sqrt(v)/sqrt(bc2) + eps) */
static void adamw_ref(float *p, const float *g, float *m, float *v, int64_t n,
                      const u2_adamw_hp *hp)
{
    const float b1 = hp->beta1, b2 = hp->beta2;
    const float decay = 1.0f - hp->lr * hp->weight_decay;
    const float step = hp->lr / hp->bc1;
    const float rsbc2 = 1.0f / sqrtf(hp->bc2);
    for (int64_t i = 0; i < n; i++) {
        float gi = g[i];
        float mi = b1 * m[i] + (1.0f - b1) * gi;
        float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        float denom = sqrtf(vi) * rsbc2 + hp->eps;
        p[i] = p[i] * decay - step * (mi / denom);
    }
}

static double xent_ref(float *dlogits, const float *logits, int64_t ldl,
                       const int32_t *target, int64_t N, int64_t V, float dscale)
{
    double total = 0.0;
    for (int64_t i = 0; i < N; i++) {
        const float *x = logits + i * ldl;
        float *d = dlogits ? dlogits + i * ldl : NULL;
        if (target[i] < 0) {
            if (d)
                for (int64_t j = 0; j < V; j++) d[j] = 0.0f;
            continue;
        }
        float mx = -INFINITY;
        for (int64_t j = 0; j < V; j++)
            if (x[j] > mx) mx = x[j];
        float sum = 0.0f;
        for (int64_t j = 0; j < V; j++) sum += expf(x[j] - mx);
        float lse = mx + logf(sum);
        total += (double)(lse - x[target[i]]);
        if (d) {
            float inv = 1.0f / sum;
            for (int64_t j = 0; j < V; j++) d[j] = expf(x[j] - mx) * inv * dscale;
            d[target[i]] -= dscale;
        }
    }
    return total;
}


void u2_kernels_init_ref(u2_kernels *k)
{
    k->isa = U2_ISA_SCALAR;
    k->name = "scalar";
    u2_gemm_init_ref(&k->gemm);
    k->softmax_rows = softmax_rows_ref;
    k->layernorm_fwd = layernorm_fwd_ref;
    k->layernorm_bwd = layernorm_bwd_ref;
    k->gelu_fwd = gelu_fwd_ref;
    k->gelu_bwd = gelu_bwd_ref;
    k->add = add_ref;
    k->scale = scale_ref;
    k->axpy = axpy_ref;
    k->dot = dot_ref;
    k->sumsq = sumsq_ref;
    k->adamw = adamw_ref;
    k->xent = xent_ref;
}
