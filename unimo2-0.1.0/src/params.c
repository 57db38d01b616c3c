#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "params.h"
#include "util.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    u2_layout *L;
    int cap;
    int full_index; /* counts every tensor of the full topk list, present or not */
    int64_t total;
} builder;

static void add(builder *b, int present, size_t woff, u2_init_kind init, int64_t fan_in,
                const char *fmt, int layer, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3)
{
    int idx = b->full_index++;
    if (!present) return;
    u2_layout *L = b->L;
    if (L->n == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 64;
        L->t = u2_realloc(L->t, (size_t)b->cap * sizeof *L->t);
    }
    u2_tensor *t = &L->t[L->n++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, fmt, layer);
    t->ndim = ndim;
    int64_t d[4] = {d0, d1, d2, d3};
    t->numel = 1;
    for (int i = 0; i < ndim; i++) {
        t->shape[i] = d[i];
        t->numel *= d[i];
    }
    t->init = init;
    t->fan_in = fan_in;
    t->decay = ndim >= 2;
    t->full_index = idx;
    t->woff = woff;
    t->offset = b->total;
    /* keep every tensor 64-byte aligned inside the arena */
    b->total += (t->numel + 15) & ~(int64_t)15;
}

#define W(f) offsetof(u2_weights, f)
#define V1(b, pres, f, init, fan, name, l, a) add(b, pres, f, init, fan, name, l, 1, a, 0, 0, 0)
#define V2(b, pres, f, init, fan, name, l, a, c) add(b, pres, f, init, fan, name, l, 2, a, c, 0, 0)

static void add_block(builder *b, const char *stack, size_t base, int l, int D, int F)
{
    char fmt[64];
#define BW(f) (base + (size_t)l * sizeof(u2_block_w) + offsetof(u2_block_w, f))
#define NAME(s) (snprintf(fmt, sizeof fmt, "%s.blocks.%%d." s, stack), fmt)
    V1(b, 1, BW(ln1_w), U2_INIT_LN_W, 0, NAME("ln1.weight"), l, D);
    V1(b, 1, BW(ln1_b), U2_INIT_LN_B, 0, NAME("ln1.bias"), l, D);
    V2(b, 1, BW(qkv_w), U2_INIT_LINEAR, D, NAME("attn.qkv.weight"), l, 3 * D, D);
    V1(b, 1, BW(qkv_b), U2_INIT_BIAS, 0, NAME("attn.qkv.bias"), l, 3 * D);
    V2(b, 1, BW(proj_w), U2_INIT_LINEAR, D, NAME("attn.proj.weight"), l, D, D);
    V1(b, 1, BW(proj_b), U2_INIT_BIAS, 0, NAME("attn.proj.bias"), l, D);
    V1(b, 1, BW(ln2_w), U2_INIT_LN_W, 0, NAME("ln2.weight"), l, D);
    V1(b, 1, BW(ln2_b), U2_INIT_LN_B, 0, NAME("ln2.bias"), l, D);
    V2(b, 1, BW(fc1_w), U2_INIT_LINEAR, D, NAME("mlp.fc1.weight"), l, F, D);
    V1(b, 1, BW(fc1_b), U2_INIT_BIAS, 0, NAME("mlp.fc1.bias"), l, F);
    V2(b, 1, BW(fc2_w), U2_INIT_LINEAR, F, NAME("mlp.fc2.weight"), l, D, F);
    V1(b, 1, BW(fc2_b), U2_INIT_BIAS, 0, NAME("mlp.fc2.bias"), l, D);
#undef BW
#undef NAME
}

int u2_layout_build(u2_layout *L, const u2_config *c)
{
    memset(L, 0, sizeof *L);
    if (u2_config_validate(c, c->name) != 0) return -1;
    if (c->vit_layers > U2_MAX_LAYERS || c->text_layers > U2_MAX_LAYERS ||
        c->fusion_layers > U2_MAX_LAYERS)
        return u2_fail(c->name, "at most %d layers per stack are supported", U2_MAX_LAYERS);
    L->cfg = *c;
    builder b = {.L = L};
    const int64_t D = c->hidden, F = c->ffn, P = c->patch_size, V = c->vocab_size;
    const int gd = c->grounding != U2_GROUND_NONE, tau = c->grounding == U2_GROUND_TOPK;
    add(&b, 1, W(patch_w), U2_INIT_LINEAR, 3 * P * P, "vit.patch.weight", 0, 4, D, 3, P, P);
    V1(&b, 1, W(patch_b), U2_INIT_BIAS, 0, "vit.patch.bias", 0, D);
    V1(&b, 1, W(cls), U2_INIT_EMBED, 0, "vit.cls", 0, D);
    V2(&b, 1, W(vpos), U2_INIT_EMBED, 0, "vit.pos", 0, u2_cfg_nvis(c), D);
    for (int l = 0; l < c->vit_layers; l++) add_block(&b, "vit", W(vit), l, (int)D, (int)F);
    V1(&b, 1, W(vln_w), U2_INIT_LN_W, 0, "vit.ln_f.weight", 0, D);
    V1(&b, 1, W(vln_b), U2_INIT_LN_B, 0, "vit.ln_f.bias", 0, D);
    V2(&b, 1, W(word), U2_INIT_EMBED, 0, "text.word", 0, V, D);
    V2(&b, 1, W(tpos), U2_INIT_EMBED, 0, "text.pos", 0, c->text_pos_offset + c->max_text_len, D);
    V1(&b, 1, W(tln_w), U2_INIT_LN_W, 0, "text.ln_emb.weight", 0, D);
    V1(&b, 1, W(tln_b), U2_INIT_LN_B, 0, "text.ln_emb.bias", 0, D);
    for (int l = 0; l < c->text_layers; l++) add_block(&b, "text", W(text), l, (int)D, (int)F);
    V2(&b, gd, W(gd_embed), U2_INIT_DICT, 0, "gd.embed", 0, c->dict_size, D);
    V1(&b, tau, W(gd_tau), U2_INIT_TAU, 0, "gd.tau", 0, 1);
    V1(&b, gd, W(gd_ln_w), U2_INIT_LN_W, 0, "gd.ln.weight", 0, D);
    V1(&b, gd, W(gd_ln_b), U2_INIT_LN_B, 0, "gd.ln.bias", 0, D);
    for (int l = 0; l < c->fusion_layers; l++) add_block(&b, "fusion", W(fusion), l, (int)D, (int)F);
    V2(&b, 1, W(mlm_fc_w), U2_INIT_LINEAR, D, "mlm.fc.weight", 0, D, D);
    V1(&b, 1, W(mlm_fc_b), U2_INIT_BIAS, 0, "mlm.fc.bias", 0, D);
    V1(&b, 1, W(mlm_ln_w), U2_INIT_LN_W, 0, "mlm.ln.weight", 0, D);
    V1(&b, 1, W(mlm_ln_b), U2_INIT_LN_B, 0, "mlm.ln.bias", 0, D);
    V1(&b, 1, W(mlm_bias), U2_INIT_BIAS, 0, "mlm.bias", 0, V);
    V2(&b, 1, W(itm_img_w), U2_INIT_LINEAR, D, "itm.img.weight", 0, D, D);
    V1(&b, 1, W(itm_img_b), U2_INIT_BIAS, 0, "itm.img.bias", 0, D);
    V2(&b, 1, W(itm_txt_w), U2_INIT_LINEAR, D, "itm.txt.weight", 0, D, D);
    V1(&b, 1, W(itm_txt_b), U2_INIT_BIAS, 0, "itm.txt.bias", 0, D);
    V2(&b, 1, W(itm_out_w), U2_INIT_LINEAR, D, "itm.out.weight", 0, 2, D);
    V1(&b, 1, W(itm_out_b), U2_INIT_BIAS, 0, "itm.out.bias", 0, 2);
    V1(&b, 1, W(cmcl_temp), U2_INIT_TEMP, 0, "cmcl.temp", 0, 1);
    V2(&b, 1, W(vcl_fc1_w), U2_INIT_LINEAR, D, "vcl.fc1.weight", 0, D, D);
    V1(&b, 1, W(vcl_fc1_b), U2_INIT_BIAS, 0, "vcl.fc1.bias", 0, D);
    V2(&b, 1, W(vcl_fc2_w), U2_INIT_LINEAR, D, "vcl.fc2.weight", 0, D, D);
    V1(&b, 1, W(vcl_fc2_b), U2_INIT_BIAS, 0, "vcl.fc2.bias", 0, D);
    L->total = b.total;
    return 0;
}

void u2_layout_free(u2_layout *L)
{
    free(L->t);
    memset(L, 0, sizeof *L);
}

const u2_tensor *u2_layout_find(const u2_layout *L, const char *name)
{
    for (int i = 0; i < L->n; i++)
        if (!strcmp(L->t[i].name, name)) return &L->t[i];
    return NULL;
}

void u2_weights_bind(const u2_layout *L, float *base, u2_weights *w)
{
    memset(w, 0, sizeof *w);
    for (int i = 0; i < L->n; i++)
        *(float **)((char *)w + L->t[i].woff) = base + L->t[i].offset;
}

void u2_params_init(const u2_layout *L, float *base, uint64_t seed)
{
    const u2_config *c = &L->cfg;
    memset(base, 0, (size_t)L->total * sizeof(float));
    for (int i = 0; i < L->n; i++) {
        const u2_tensor *t = &L->t[i];
        float *p = base + t->offset;
        u2_rng r = u2_rng_stream(seed, (uint64_t)t->full_index);
        for (int64_t j = 0; j < t->numel; j++) {
            switch (t->init) {
            case U2_INIT_LINEAR:
            case U2_INIT_EMBED: p[j] = 0.02f * u2_rng_normal(&r); break;
            case U2_INIT_BIAS:
            case U2_INIT_LN_B: p[j] = 0.0f; break;
            case U2_INIT_LN_W: p[j] = 1.0f; break;
            case U2_INIT_DICT:
                p[j] = (2.0f * u2_rng_uniform(&r) - 1.0f) / (float)c->dict_size;
                break;
            case U2_INIT_TAU: p[j] = c->tau_init; break;
            case U2_INIT_TEMP: p[j] = c->temp_init; break;
            }
        }
    }
}

/* doc/testvectors.md: value = offset + scale*(2u-1), u from a splitmix64
 * finaliser of (seed*golden + (n<<32) + i). */
void u2_params_test_weights(const u2_layout *L, float *base, uint64_t seed)
{
    const u2_config *c = &L->cfg;
    memset(base, 0, (size_t)L->total * sizeof(float));
    for (int i = 0; i < L->n; i++) {
        const u2_tensor *t = &L->t[i];
        float *p = base + t->offset;
        double offset = 0.0, scale;
        switch (t->init) {
        case U2_INIT_LINEAR: scale = sqrt(3.0 / (double)t->fan_in); break;
        case U2_INIT_LN_W: offset = 1.0; scale = 0.1; break;
        case U2_INIT_BIAS:
        case U2_INIT_LN_B: scale = 0.1; break;
        case U2_INIT_EMBED: scale = 0.5; break;
        case U2_INIT_DICT: scale = sqrt(3.0 / (double)c->hidden) * 2.0; break;
        case U2_INIT_TAU: p[0] = 2.0f; continue;
        case U2_INIT_TEMP: p[0] = 0.07f; continue;
        default: scale = 0.0;
        }
        uint64_t x0 = seed * 0x9E3779B97F4A7C15ULL + ((uint64_t)t->full_index << 32);
        for (int64_t j = 0; j < t->numel; j++) {
            uint64_t z = x0 + (uint64_t)j;
            z ^= z >> 30;
            z *= 0xBF58476D1CE4E5B9ULL;
            z ^= z >> 27;
            z *= 0x94D049BB133111EBULL;
            z ^= z >> 31;
            double u = (double)(z >> 40) / 16777216.0;
            p[j] = (float)(offset + scale * (2.0 * u - 1.0));
        }
    }
}
