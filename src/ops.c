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
#define ROW_CHUNKS(n, ...)                                                                    \
    do {                                                                                      \
        int nt_ = u2_par_threads((n) / 8 + 1);                                                \
        _Pragma("omp parallel for num_threads(nt_) schedule(static) if (nt_ > 1)")            \
        for (int t_ = 0; t_ < nt_; t_++) {                                                    \
            int64_t r0 = (n) * t_ / nt_, r1 = (n) * (t_ + 1) / nt_;                           \
            __VA_ARGS__;                                                                      \
        }                                                                                     \
    } while (0)

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
    ROW_CHUNKS(n / 256 + 1, {
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
    int nt = u2_par_threads(jobs);
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
