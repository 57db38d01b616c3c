#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "ops.h"
#include "kernels.h"

#include <math.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

int u2_par_threads_for(int64_t n, int64_t work)
{
    /* starting a team costs microseconds: not worth it for small work */
    if (work < (1 << 16)) return 1;
    return u2_par_threads(n);
}

int u2_par_threads(int64_t n)
{
    int t = u2_num_threads();
#ifdef _OPENMP
    if (omp_in_parallel()) return 1;
#endif
    return n < t ? (int)(n > 0 ? n : 1) : t;
}

void u2_linear(float *out, const float *in, int64_t N, int64_t I, const float *W,
               const float *b, int64_t O, int act, float *pre, int accumulate)
{
    u2_epilogue epi = {.bias = b, .act = act, .pre = act == U2_ACT_GELU ? pre : NULL, .ldpre = O};
    u2_sgemm(0, 1, N, O, I, 1.0f, in, I, W, I, accumulate ? 1.0f : 0.0f, out, O, &epi);
}

/* Split n rows into contiguous chunks, one per thread, in a fixed way. */
/* cost: elements touched per row, to decide whether threads pay off */
#define ROW_CHUNKS_COST(n, cost, ...)                                                         \
    do {                                                                                      \
        int nt_ = u2_par_threads_for((n) / 8 + 1, (n) * (cost));                              \
        _Pragma("omp parallel for num_threads(nt_) schedule(static) if (nt_ > 1)")            \
        for (int t_ = 0; t_ < nt_; t_++) {                                                    \
            int64_t r0 = (n) * t_ / nt_, r1 = (n) * (t_ + 1) / nt_;                           \
            __VA_ARGS__;                                                                      \
        }                                                                                     \
    } while (0)
#define ROW_CHUNKS(n, ...) ROW_CHUNKS_COST(n, D, __VA_ARGS__)

void u2_layernorm(float *out, float *mean, float *rstd, const float *in, const float *w,
                  const float *b, int64_t N, int64_t D, float eps)
{
    const u2_kernels *k = u2_kern();
    ROW_CHUNKS(N, k->layernorm_fwd(out + r0 * D, mean ? mean + r0 : NULL,
                                   rstd ? rstd + r0 : NULL, in + r0 * D, w, b, r1 - r0, D, eps));
}

void u2_gelu(float *out, const float *in, int64_t n)
{
    const u2_kernels *k = u2_kern();
    ROW_CHUNKS_COST(n / 256 + 1, 256 * 8, {
        int64_t a = r0 * 256, e = r1 * 256 < n ? r1 * 256 : n;
        if (e > a) k->gelu_fwd(out + a, in + a, e - a);
    });
}

void u2_relu(float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void u2_l2norm_rows(float *out, float *norms, const float *x, int64_t N, int64_t D)
{
    const u2_kernels *k = u2_kern();
    for (int64_t i = 0; i < N; i++) {
        double ss = k->sumsq(x + i * D, D);
        float n = (float)sqrt(ss);
        if (norms) norms[i] = n;
        float inv = n > 0.0f ? 1.0f / n : 0.0f;
        for (int64_t j = 0; j < D; j++) out[i * D + j] = x[i * D + j] * inv;
    }
}

void u2_attention(float *ctx, float *probs, const float *qkv, const float *mask, int64_t B,
                  int64_t T, int64_t D, int64_t H)
{
    const u2_kernels *k = u2_kern();
    const int64_t dh = D / H, ld = 3 * D;
    const float scale = 1.0f / sqrtf((float)dh);
    const int64_t jobs = B * H;
    int nt = u2_par_threads_for(jobs, jobs * T * T * dh * 2);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t j = 0; j < jobs; j++) {
        int64_t b = j / H, h = j % H;
        const float *q = qkv + b * T * ld + h * dh;
        const float *kk = q + D, *v = q + 2 * D;
        float *P = probs + j * T * T;
        u2_sgemm(0, 1, T, T, dh, scale, q, ld, kk, ld, 0.0f, P, T, NULL);
        k->softmax_rows(P, T, T, T, mask ? mask + b * T * T : NULL, mask ? T : 0);
        u2_sgemm(0, 0, T, dh, T, 1.0f, P, T, v, ld, 0.0f, ctx + b * T * D + h * dh, D, NULL);
    }
}

/* ------------------------------------------------------------- backward */

void u2_colsum_acc(float *out, const float *x, int64_t nrows, int64_t ncols, int64_t ld)
{
    /* each thread owns a range of columns and walks the rows in order: the sum
     * of a column is always taken in row order, whatever the thread count */
    ROW_CHUNKS_COST(ncols, nrows, {
        float acc[256];
        for (int64_t c0 = r0; c0 < r1; c0 += 256) {
            const int64_t w = r1 - c0 < 256 ? r1 - c0 : 256;
            for (int64_t c = 0; c < w; c++) acc[c] = 0.0f;
            for (int64_t r = 0; r < nrows; r++) {
                const float *row = x + r * ld + c0;
                for (int64_t c = 0; c < w; c++) acc[c] += row[c];
            }
            for (int64_t c = 0; c < w; c++) out[c0 + c] += acc[c];
        }
    });
}

void u2_linear_bwd(float *dX, float *dW, float *db, const float *dY, const float *X,
                   const float *W, int64_t N, int64_t I, int64_t O, int accumulate)
{
    if (dX) u2_sgemm(0, 0, N, I, O, 1.0f, dY, O, W, I, accumulate ? 1.0f : 0.0f, dX, I, NULL);
    if (dW) u2_sgemm(1, 0, O, I, N, 1.0f, dY, O, X, I, 1.0f, dW, I, NULL);
    if (db) u2_colsum_acc(db, dY, N, O, O);
}

void u2_layernorm_bwd(float *dX, float *dw, float *db, const float *dY, const float *X,
                      const float *w, const float *mean, const float *rstd, int64_t N, int64_t D)
{
    const u2_kernels *k = u2_kern();
    if (dX)
        ROW_CHUNKS(N, k->layernorm_bwd(dX + r0 * D, NULL, NULL, dY + r0 * D, X + r0 * D, w,
                                       mean + r0, rstd + r0, r1 - r0, D));
    if (!dw && !db) return;
    /* parameter gradients column by column: a fixed summation order */
    ROW_CHUNKS_COST(D, N, {
        float sw[256], sb[256];
        for (int64_t j0 = r0; j0 < r1; j0 += 256) {
            const int64_t cw = r1 - j0 < 256 ? r1 - j0 : 256;
            for (int64_t j = 0; j < cw; j++) sw[j] = sb[j] = 0.0f;
            for (int64_t i = 0; i < N; i++) {
                const float *dy = dY + i * D + j0, *x = X + i * D + j0;
                const float m = mean[i], rs = rstd[i];
                for (int64_t j = 0; j < cw; j++) {
                    sw[j] += dy[j] * ((x[j] - m) * rs);
                    sb[j] += dy[j];
                }
            }
            for (int64_t j = 0; j < cw; j++) {
                if (dw) dw[j0 + j] += sw[j];
                if (db) db[j0 + j] += sb[j];
            }
        }
    });
}

void u2_gelu_bwd(float *dX, const float *pre, const float *dY, int64_t n)
{
    const u2_kernels *k = u2_kern();
    ROW_CHUNKS_COST(n / 256 + 1, 256 * 8, {
        int64_t a = r0 * 256, e = r1 * 256 < n ? r1 * 256 : n;
        if (e > a) k->gelu_bwd(dX + a, pre + a, dY + a, e - a);
    });
}

void u2_attention_bwd(float *d_qkv, const float *d_ctx, const float *qkv, const float *probs,
                      int64_t B, int64_t T, int64_t D, int64_t H, float *scratch)
{
    const int64_t dh = D / H, ld = 3 * D, jobs = B * H;
    const float scale = 1.0f / sqrtf((float)dh);
    int nt = u2_par_threads_for(jobs, jobs * T * T * dh * 4);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t j = 0; j < jobs; j++) {
        int64_t b = j / H, h = j % H;
        const float *q = qkv + b * T * ld + h * dh, *kk = q + D, *v = q + 2 * D;
        float *dq = d_qkv + b * T * ld + h * dh, *dk = dq + D, *dv = dq + 2 * D;
        const float *P = probs + j * T * T, *dc = d_ctx + b * T * D + h * dh;
        float *dP = scratch + j * T * T;
        /* dP = dctx v^T ; dv = P^T dctx */
        u2_sgemm(0, 1, T, T, dh, 1.0f, dc, D, v, ld, 0.0f, dP, T, NULL);
        u2_sgemm(1, 0, T, dh, T, 1.0f, P, T, dc, D, 0.0f, dv, ld, NULL);
        /* softmax backward: dS = P * (dP - rowsum(dP * P)) */
        for (int64_t r = 0; r < T; r++) {
            float s = 0.0f;
            for (int64_t c = 0; c < T; c++) s += dP[r * T + c] * P[r * T + c];
            for (int64_t c = 0; c < T; c++) dP[r * T + c] = P[r * T + c] * (dP[r * T + c] - s);
        }
        /* S = scale q k^T: dq = scale dS k ; dk = scale dS^T q */
        u2_sgemm(0, 0, T, dh, T, scale, dP, T, kk, ld, 0.0f, dq, ld, NULL);
        u2_sgemm(1, 0, T, dh, T, scale, dP, T, q, ld, 0.0f, dk, ld, NULL);
    }
}

void u2_l2norm_rows_bwd(float *dX, const float *dY, const float *y, const float *norms, int64_t N,
                        int64_t D)
{
    for (int64_t i = 0; i < N; i++) {
        if (!(norms[i] > 0.0f)) continue;
        float s = 0.0f;
        for (int64_t j = 0; j < D; j++) s += y[i * D + j] * dY[i * D + j];
        float inv = 1.0f / norms[i];
        for (int64_t j = 0; j < D; j++) dX[i * D + j] += (dY[i * D + j] - y[i * D + j] * s) * inv;
    }
}
