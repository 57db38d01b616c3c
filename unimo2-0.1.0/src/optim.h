/* AdamW with PyTorch's update form, decoupled weight decay on parameters of
 * two or more dimensions only, global gradient-norm clipping, a warm-up then
 * cosine or linear learning-rate schedule, and the clamps of gd.tau and
 * cmcl.temp after each step (doc/model.md "Optimiser"). */
#ifndef UNIMO2_OPTIM_H
#define UNIMO2_OPTIM_H

#include "model.h"

typedef enum { U2_SCHED_COSINE = 0, U2_SCHED_LINEAR = 1, U2_SCHED_CONSTANT = 2 } u2_schedule;

typedef struct {
    float lr;           /* peak learning rate */
    float lr_min_ratio; /* final lr = lr * ratio (cosine/linear) */
    int64_t warmup;     /* linear warm-up steps */
    int64_t total;      /* steps of the whole run (for the decay) */
    u2_schedule schedule;
    float weight_decay;
    float beta1, beta2, eps;
    float clip;         /* max global gradient norm; <= 0 disables */
} u2_optim_cfg;

typedef struct {
    u2_optim_cfg cfg;
    int64_t n;     /* floats (the layout's total) */
    float *m, *v;  /* moments, parameters' layout */
    int64_t step;  /* steps taken */
} u2_optim;

void u2_optim_default(u2_optim_cfg *c);
void u2_optim_init(u2_optim *o, const u2_optim_cfg *cfg, int64_t n);
void u2_optim_free(u2_optim *o);
/* Learning rate of step `step` (0-based). */
float u2_optim_lr(const u2_optim_cfg *c, int64_t step);
/* One update of m's parameters from grads (which it clips in place).
 * Returns the global gradient norm before clipping. */
double u2_optim_step(u2_optim *o, u2_model *m, float *grads);

#endif
