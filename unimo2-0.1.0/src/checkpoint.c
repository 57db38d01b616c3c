#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "checkpoint.h"
#include "safetensors.h"
#include "util.h"

#include <string.h>

int u2_ckpt_save(const char *path, const u2_model *m, const u2_optim *o, const char *state_json)
{
    const int n = m->L.n;
    u2_st_out *t = u2_calloc((size_t)(3 * n), sizeof *t);
    char (*names)[80] = u2_calloc((size_t)(2 * n), sizeof *names);
    for (int i = 0; i < n; i++) {
        const u2_tensor *tt = &m->L.t[i];
        t[i] = (u2_st_out){tt->name, tt->ndim, tt->shape, m->params + tt->offset};
        snprintf(names[2 * i], sizeof names[0], "adam.m.%s", tt->name);
        snprintf(names[2 * i + 1], sizeof names[0], "adam.v.%s", tt->name);
        t[n + 2 * i] = (u2_st_out){names[2 * i], tt->ndim, tt->shape, o->m + tt->offset};
        t[n + 2 * i + 1] = (u2_st_out){names[2 * i + 1], tt->ndim, tt->shape, o->v + tt->offset};
    }
    char *cj = u2_config_to_json(&m->L.cfg, 1);
    const char *meta[6] = {"unimo2.config", cj, "unimo2.train_state", state_json,
                           "unimo2.tokenizer", m->tokenizer_fp};
    int rc = u2_st_write(path, t, 3 * n, meta, m->tokenizer_fp[0] ? 3 : 2);
    free(cj);
    free(names);
    free(t);
    return rc;
}

int u2_ckpt_load(const char *path, u2_model *m, u2_optim *o, char **state_json)
{
    u2_st_file st;
    if (u2_st_read(path, &st) != 0) return -1;
    const char *sj = u2_st_meta(&st, "unimo2.train_state");
    if (!sj) {
        u2_st_free(&st);
        return u2_fail(path, "not a training checkpoint (no unimo2.train_state)");
    }
    if (u2_model_from_st(m, &st, NULL) != 0) {
        u2_st_free(&st);
        return -1;
    }
    u2_optim_init(o, &o->cfg, m->L.total);
    for (int i = 0; i < m->L.n; i++) {
        const u2_tensor *tt = &m->L.t[i];
        for (int k = 0; k < 2; k++) {
            char name[80];
            snprintf(name, sizeof name, "adam.%c.%s", k ? 'v' : 'm', tt->name);
            const u2_st_tensor *s = u2_st_find(&st, name);
            if (!s || s->nbytes != (size_t)tt->numel * 4 || strcmp(s->dtype, "F32")) {
                u2_fail(path, "optimiser moment \"%s\" is missing or has the wrong shape", name);
                u2_optim_free(o);
                u2_model_free(m);
                u2_st_free(&st);
                return -1;
            }
            memcpy((k ? o->v : o->m) + tt->offset, s->data, s->nbytes);
        }
    }
    *state_json = u2_strdup(sj);
    u2_st_free(&st);
    return 0;
}
