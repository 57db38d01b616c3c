/* Backward pass of a whole training batch. */
#ifndef UNIMO2_BACKWARD_H
#define UNIMO2_BACKWARD_H

#include "model.h"

/* Called during the backward pass when the gradients of grads[begin, end)
 * (offsets in floats into the parameters' layout) are final for this batch:
 * nothing later in the pass writes them (data-parallel training starts
 * averaging them across processes then, while the rest of the pass runs). */
typedef void (*u2_grad_ready_fn)(void *ctx, int64_t begin, int64_t end);

/* Accumulate d(loss.total)/d(params) into grads (the parameters' layout, L.total
 * floats) for the batch last run through u2_forward_batch with save = 1.
 * `scratch` holds the activation gradients (reset here).  `ready` (may be NULL)
 * is called with `ctx` for the ranges of u2_grad_ranges, in that order. */
void u2_backward_batch(u2_fwd *f, float *grads, u2_arena *scratch, u2_grad_ready_fn ready,
                       void *ctx);

/* The ranges the backward pass completes, in the order it completes them (the
 * layout's order, from the end backwards): the heads (mlm, itm, cmcl, vcl);
 * gd.* and fusion.*; each text block from the last; the text embeddings;
 * vit.ln_f; each ViT block from the last; the ViT embeddings.  They are
 * contiguous, non-empty and cover [0, L->total) exactly once.  Calls
 * ready(ctx, begin, end) for each: the sequence u2_backward_batch produces,
 * for a caller that must produce the same one without running the pass. */
void u2_grad_ranges(const u2_layout *L, u2_grad_ready_fn ready, void *ctx);

#endif
