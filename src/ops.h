/* Layer operations on batches of rows, threaded with OpenMP over the kernel
 * table (forward here; backward in ops_bwd.c).  Shapes in the comments:
 * N rows of width D, weights [out, in] (y = x W^T + b). */
#ifndef UNIMO2_OPS_H
#define UNIMO2_OPS_H

#include <stdint.h>

/* out[N,O] = act(in[N,I] W[O,I]^T + b) (+ out when accumulate); pre[N,O] gets
 * the pre-activation when act is GELU and pre != NULL. act: U2_ACT_NONE|GELU. */
void u2_linear(float *out, const float *in, int64_t N, int64_t I, const float *W,
               const float *b, int64_t O, int act, float *pre, int accumulate);

/* LayerNorm over rows, threaded; mean/rstd [N] may be NULL. */
void u2_layernorm(float *out, float *mean, float *rstd, const float *in, const float *w,
                  const float *b, int64_t N, int64_t D, float eps);

/* Multi-head self-attention core for B sequences of T rows:
 * qkv [B*T, 3D] (q | k | v, head h in columns h*dh..), mask [B,T,T] additive
 * (0 or -inf) or NULL, probs [B,H,T,T] (saved), ctx [B*T, D]. */
void u2_attention(float *ctx, float *probs, const float *qkv, const float *mask, int64_t B,
                  int64_t T, int64_t D, int64_t H);

void u2_gelu(float *out, const float *in, int64_t n);
/* x[i] = max(x[i], 0) */
void u2_relu(float *x, int64_t n);
/* rows of x [N,D] scaled to unit L2 norm; norms [N] saved (may be NULL). */
void u2_l2norm_rows(float *out, float *norms, const float *x, int64_t N, int64_t D);

/* Threads for a loop of n independent jobs. */
int u2_par_threads(int64_t n);

#endif
