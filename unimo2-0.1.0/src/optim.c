#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "optim.h"
#include "kernels.h"
#include "model_internal.h"
#include "util.h"

#include <math.h>
#include <string.h>

void u2_optim_default(u2_optim_cfg *c)
{
    *c = (u2_optim_cfg){.lr = 3e-4f, .lr_min_ratio = 0.1f, .warmup = 100, .total = 1000,
                        .schedule = U2_SCHED_COSINE, .weight_decay = 0.01f, .beta1 = 0.9f,
                        .beta2 = 0.98f, .eps = 1e-6f, .clip = 1.0f};
}

void u2_optim_init(u2_optim *o, const u2_optim_cfg *cfg, int64_t n)
{
    o->cfg = *cfg;
    o->n = n;
    o->m = u2_calloc((size_t)n, sizeof(float));
    o->v = u2_calloc((size_t)n, sizeof(float));
    o->step = 0;
}

void u2_optim_free(u2_optim *o)
{
    free(o->m);
    free(o->v);
    memset(o, 0, sizeof *o);
}

float u2_optim_lr(const u2_optim_cfg *c, int64_t step)
{
    if (c->warmup > 0 && step < c->warmup) return c->lr * (float)(step + 1) / (float)c->warmup;
    if (c->schedule == U2_SCHED_CONSTANT || c->total <= c->warmup) return c->lr;
    double t = (double)(step - c->warmup) / (double)(c->total - c->warmup);
    if (t > 1) t = 1;
    double lo = c->lr * c->lr_min_ratio;
    if (c->schedule == U2_SCHED_LINEAR) return (float)(c->lr + (lo - c->lr) * t);
    return (float)(lo + 0.5 * (c->lr - lo) * (1.0 + cos(M_PI * t)));
}

double u2_optim_step(u2_optim *o, u2_model *m, float *grads)
{
    const u2_kernels *k = u2_kern();
    const u2_layout *L = &m->L;
    double ss = 0.0;
    for (int i = 0; i < L->n; i++) ss += k->sumsq(grads + L->t[i].offset, L->t[i].numel);
    double norm = sqrt(ss);
    if (o->cfg.clip > 0) {
        float coef = (float)(o->cfg.clip / (norm + 1e-6));
        if (coef < 1.0f)
            for (int i = 0; i < L->n; i++) k->scale(grads + L->t[i].offset, coef, L->t[i].numel);
    }
    const int64_t t = ++o->step;
    u2_adamw_hp hp = {.lr = u2_optim_lr(&o->cfg, t - 1), .beta1 = o->cfg.beta1,
                      .beta2 = o->cfg.beta2, .eps = o->cfg.eps};
    hp.bc1 = (float)(1.0 - pow(o->cfg.beta1, (double)t));
    hp.bc2 = (float)(1.0 - pow(o->cfg.beta2, (double)t));
    for (int i = 0; i < L->n; i++) {
        const u2_tensor *tt = &L->t[i];
        hp.weight_decay = tt->decay ? o->cfg.weight_decay : 0.0f;
        k->adamw(m->params + tt->offset, grads + tt->offset, o->m + tt->offset, o->v + tt->offset,
                 tt->numel, &hp);
    }
    const u2_config *c = &L->cfg;
    if (m->w.gd_tau) m->w.gd_tau[0] = u2_clampf(m->w.gd_tau[0], c->tau_min, c->tau_max);
    m->w.cmcl_temp[0] = u2_clampf(m->w.cmcl_temp[0], c->temp_min, c->temp_max);
    return norm;
}
