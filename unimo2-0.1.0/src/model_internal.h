/* Pieces shared by model.c, fusion.c and backward.c. */
#ifndef UNIMO2_MODEL_INTERNAL_H
#define UNIMO2_MODEL_INTERNAL_H

#include "model.h"

/* A stack of transformer blocks over st->B sequences of st->T rows; the caller
 * sets st->B, st->T, st->in and st->mask. */
void u2_stack_forward(u2_fwd *f, u2_stack_act *st, const u2_block_w *blocks, int nblk,
                      int pre_ln, float eps);

static inline float u2_clampf(float x, float lo, float hi)
{
    return x < lo ? lo : x > hi ? hi : x;
}

#endif
