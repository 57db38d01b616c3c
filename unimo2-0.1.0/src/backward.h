/* Backward pass of a whole training batch. */
#ifndef UNIMO2_BACKWARD_H
#define UNIMO2_BACKWARD_H

#include "model.h"

/* Accumulate d(loss.total)/d(params) into grads (the parameters' layout, L.total
 * floats) for the batch last run through u2_forward_batch with save = 1.
 * `scratch` holds the activation gradients (reset here). */
void u2_backward_batch(u2_fwd *f, float *grads, u2_arena *scratch);

#endif
