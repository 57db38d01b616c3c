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

/* Threads for a loop of n independent jobs (1 inside a parallel region). */
int u2_par_threads(int64_t n);
/* The same, but 1 when the total work (about flops) is too small to pay for a team. */
int u2_par_threads_for(int64_t n, int64_t work);

#endif

/* ----------------------------------------------------------- backward
 * Every weight/bias gradient is accumulated (+=); activation gradients are
 * written or accumulated as said.  All reductions run in a fixed order, so
 * results are independent of the thread count. */

/* y = x W^T + b:  dX (= or += when accumulate) dY W;  dW += dY^T X;  db += sum_rows dY.
 * dX, dW or db may be NULL. */
void u2_linear_bwd(float *dX, float *dW, float *db, const float *dY, const float *X,
                   const float *W, int64_t N, int64_t I, int64_t O, int accumulate);
/* dX += LN backward; dw, db += (may be NULL). */
void u2_layernorm_bwd(float *dX, float *dw, float *db, const float *dY, const float *X,
                      const float *w, const float *mean, const float *rstd, int64_t N, int64_t D);
/* dX = dY * gelu'(pre) */
void u2_gelu_bwd(float *dX, const float *pre, const float *dY, int64_t n);
/* d_qkv [B*T, 3D] (overwritten) from d_ctx [B*T, D]; scratch: B*H*T*T floats. */
void u2_attention_bwd(float *d_qkv, const float *d_ctx, const float *qkv, const float *probs,
                      int64_t B, int64_t T, int64_t D, int64_t H, float *scratch);
/* out[c] += sum_r x[r*ld + c] for c < ncols */
void u2_colsum_acc(float *out, const float *x, int64_t nrows, int64_t ncols, int64_t ld);
/* y = x/|x| row-wise backward: dX (+=) = (dY - y (y.dY)) / norm */
void u2_l2norm_rows_bwd(float *dX, const float *dY, const float *y, const float *norms, int64_t N,
                        int64_t D);
