/* Model files and the two encoders (ViT, text). */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "model.h"
#include "model_internal.h"
#include "fileio.h"
#include "kernels.h"
#include "ops.h"
#include "safetensors.h"
#include "util.h"

#include <math.h>
#include <string.h>
#include <sys/stat.h>

/* ------------------------------------------------------------ model files */

int u2_model_create(u2_model *m, const u2_config *cfg)
{
    memset(m, 0, sizeof *m);
    if (u2_layout_build(&m->L, cfg) != 0) return -1;
    m->params = u2_calloc((size_t)m->L.total, sizeof(float));
    u2_weights_bind(&m->L, m->params, &m->w);
    return 0;
}

void u2_model_free(u2_model *m)
{
    free(m->params);
    u2_layout_free(&m->L);
    memset(m, 0, sizeof *m);
}

int64_t u2_model_count(const u2_model *m)
{
    int64_t n = 0;
    for (int i = 0; i < m->L.n; i++) n += m->L.t[i].numel;
    return n;
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

int u2_model_from_st(u2_model *m, const u2_st_file *st, const char *cfgpath)
{
    memset(m, 0, sizeof *m);
    const char *file = st->path;
    u2_config cfg;
    const char *cj = u2_st_meta(st, "unimo2.config");
    int rc = cj ? u2_config_from_json(cj, file, &cfg) : -1;
    if (!cj) {
        if (!cfgpath)
            return u2_fail(file, "no unimo2.config in the metadata");
        rc = u2_config_load(cfgpath, &cfg);
        if (rc != 0)
            return u2_fail(file, "no unimo2.config in the metadata and no usable %s beside it",
                           cfgpath);
    }
    if (rc != 0) return -1;
    if (u2_model_create(m, &cfg) != 0) return -1;
    const char *fp = u2_st_meta(st, "unimo2.tokenizer");
    if (fp) snprintf(m->tokenizer_fp, sizeof m->tokenizer_fp, "%s", fp);
    for (int i = 0; i < m->L.n; i++) {
        const u2_tensor *t = &m->L.t[i];
        const u2_st_tensor *s = u2_st_find(st, t->name);
        if (!s) {
            u2_fail(file, "tensor \"%s\" is missing (config \"%s\")", t->name, cfg.name);
            goto fail;
        }
        int same = s->ndim == t->ndim;
        for (int d = 0; same && d < t->ndim; d++) same = s->shape[d] == t->shape[d];
        if (!same || strcmp(s->dtype, "F32") != 0) {
            char want[64] = "", got[64] = "";
            for (int d = 0; d < t->ndim; d++)
                snprintf(want + strlen(want), sizeof want - strlen(want), "%s%lld", d ? "," : "",
                         (long long)t->shape[d]);
            for (int d = 0; d < s->ndim; d++)
                snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? "," : "",
                         (long long)s->shape[d]);
            u2_fail(file, "tensor \"%s\" is %s [%s], the config wants F32 [%s]", t->name,
                    s->dtype, got, want);
            goto fail;
        }
        memcpy(m->params + t->offset, s->data, s->nbytes);
    }
    for (int i = 0; i < st->n; i++)
        if (strncmp(st->t[i].name, "adam.", 5) != 0 && !u2_layout_find(&m->L, st->t[i].name)) {
            u2_fail(file, "unexpected tensor \"%s\" for config \"%s\" (grounding=%s)",
                    st->t[i].name, cfg.name, u2_grounding_name(cfg.grounding));
            goto fail;
        }
    for (int64_t i = 0; i < m->L.total; i++)
        if (!isfinite(m->params[i])) {
            u2_fail(file, "parameters contain NaN or infinity");
            goto fail;
        }
    return 0;
fail:
    u2_model_free(m);
    return -1;
}

int u2_model_load(u2_model *m, const char *path)
{
    memset(m, 0, sizeof *m);
    char file[4096], cfgpath[4096];
    if (is_dir(path)) {
        snprintf(file, sizeof file, "%s/model.safetensors", path);
        snprintf(cfgpath, sizeof cfgpath, "%s/config.json", path);
    } else {
        snprintf(file, sizeof file, "%s", path);
        const char *slash = strrchr(path, '/');
        int dl = slash ? (int)(slash - path) : 1;
        snprintf(cfgpath, sizeof cfgpath, "%.*s/config.json", dl, slash ? path : ".");
    }
    u2_st_file st;
    if (u2_st_read(file, &st) != 0) return -1;
    int rc = u2_model_from_st(m, &st, cfgpath);
    u2_st_free(&st);
    return rc;
}

int u2_model_save(const u2_model *m, const char *path)
{
    int n = m->L.n;
    u2_st_out *o = u2_calloc((size_t)n, sizeof *o);
    for (int i = 0; i < n; i++) {
        o[i].name = m->L.t[i].name;
        o[i].ndim = m->L.t[i].ndim;
        o[i].shape = m->L.t[i].shape;
        o[i].data = m->params + m->L.t[i].offset;
    }
    char *cj = u2_config_to_json(&m->L.cfg, 1);
    const char *meta[4] = {"unimo2.config", cj, "unimo2.tokenizer", m->tokenizer_fp};
    int rc = u2_st_write(path, o, n, meta, m->tokenizer_fp[0] ? 2 : 1);
    free(cj);
    free(o);
    return rc;
}

/* ------------------------------------------------------------ activations */

void u2_fwd_init(u2_fwd *f, const u2_model *m, int save)
{
    memset(f, 0, sizeof *f);
    f->m = m;
    f->save = save;
    u2_arena_init(&f->arena);
}

void u2_fwd_free(u2_fwd *f)
{
    u2_arena_free(&f->arena);
    memset(f, 0, sizeof *f);
}

void u2_fwd_reset(u2_fwd *f)
{
    const u2_model *m = f->m;
    int save = f->save;
    u2_arena a = f->arena;
    memset(f, 0, sizeof *f);
    f->m = m;
    f->save = save;
    f->arena = a;
    u2_arena_reset(&f->arena);
}

static void block_alloc(u2_arena *a, u2_block_act *b, int64_t N, int64_t B, int64_t T, int64_t D,
                        int64_t H, int64_t F)
{
    b->ln1 = u2_arena_alloc(a, (size_t)(N * D));
    b->ln1_mean = u2_arena_alloc(a, (size_t)N);
    b->ln1_rstd = u2_arena_alloc(a, (size_t)N);
    b->qkv = u2_arena_alloc(a, (size_t)(N * 3 * D));
    b->probs = u2_arena_alloc(a, (size_t)(B * H * T * T));
    b->ctx = u2_arena_alloc(a, (size_t)(N * D));
    b->res1 = u2_arena_alloc(a, (size_t)(N * D));
    b->ln2 = u2_arena_alloc(a, (size_t)(N * D));
    b->ln2_mean = u2_arena_alloc(a, (size_t)N);
    b->ln2_rstd = u2_arena_alloc(a, (size_t)N);
    b->fc1_pre = u2_arena_alloc(a, (size_t)(N * F));
    b->fc1_act = u2_arena_alloc(a, (size_t)(N * F));
    b->res2 = u2_arena_alloc(a, (size_t)(N * D));
}

/* One transformer block. pre-LN (ViT): x += attn(ln1 x); x += mlp(ln2 x).
 * post-LN (text, fusion): x = ln1(x + attn x); x = ln2(x + mlp x). */
static void block_forward(const u2_config *c, const u2_block_w *w, u2_block_act *a, const float *x,
                          const float *mask, int64_t B, int64_t T, int pre_ln, float eps)
{
    const int64_t N = B * T, D = c->hidden, F = c->ffn, H = c->heads;
    const float *attn_in = x;
    if (pre_ln) {
        u2_layernorm(a->ln1, a->ln1_mean, a->ln1_rstd, x, w->ln1_w, w->ln1_b, N, D, eps);
        attn_in = a->ln1;
    }
    u2_linear(a->qkv, attn_in, N, D, w->qkv_w, w->qkv_b, 3 * D, U2_ACT_NONE, NULL, 0);
    u2_attention(a->ctx, a->probs, a->qkv, mask, B, T, D, H);
    memcpy(a->res1, x, (size_t)(N * D) * sizeof(float));
    u2_linear(a->res1, a->ctx, N, D, w->proj_w, w->proj_b, D, U2_ACT_NONE, NULL, 1);
    const float *mlp_in;
    if (pre_ln) {
        u2_layernorm(a->ln2, a->ln2_mean, a->ln2_rstd, a->res1, w->ln2_w, w->ln2_b, N, D, eps);
        mlp_in = a->ln2;
    } else {
        u2_layernorm(a->ln1, a->ln1_mean, a->ln1_rstd, a->res1, w->ln1_w, w->ln1_b, N, D, eps);
        mlp_in = a->ln1;
    }
    u2_linear(a->fc1_act, mlp_in, N, D, w->fc1_w, w->fc1_b, F, U2_ACT_GELU, a->fc1_pre, 0);
    memcpy(a->res2, pre_ln ? a->res1 : a->ln1, (size_t)(N * D) * sizeof(float));
    u2_linear(a->res2, a->fc1_act, N, F, w->fc2_w, w->fc2_b, D, U2_ACT_NONE, NULL, 1);
    if (pre_ln) {
        a->out = a->res2;
    } else {
        u2_layernorm(a->ln2, a->ln2_mean, a->ln2_rstd, a->res2, w->ln2_w, w->ln2_b, N, D, eps);
        a->out = a->ln2;
    }
}

void u2_stack_forward(u2_fwd *f, u2_stack_act *st, const u2_block_w *blocks, int nblk, int pre_ln,
                      float eps)
{
    const u2_config *c = &f->m->L.cfg;
    const int64_t N = st->B * st->T;
    st->pre_ln = pre_ln;
    st->nblk = nblk;
    int nalloc = f->save ? nblk : (nblk > 0 ? 1 : 0);
    st->blk = nalloc ? (u2_block_act *)u2_arena_alloc(&f->arena,
                                                      (sizeof(u2_block_act) * (size_t)nalloc + 3) / 4)
                     : NULL;
    for (int l = 0; l < nalloc; l++)
        block_alloc(&f->arena, &st->blk[l], N, st->B, st->T, c->hidden, c->heads, c->ffn);
    const float *x = st->in;
    for (int l = 0; l < nblk; l++) {
        u2_block_act *a = &st->blk[f->save ? l : 0];
        block_forward(c, &blocks[l], a, x, st->mask, st->B, st->T, pre_ln, eps);
        x = a->out;
    }
    st->out = (float *)x;
}

/* ------------------------------------------------------------------ ViT */

/* patches [n*Np, 3*P*P]: (channel, row, column) order, zero outside the image */
static void im2col(float *patches, const float *pixels, int n, const u2_config *c)
{
    const int S = c->image_size, P = c->patch_size, pad = c->patch_pad, G = u2_cfg_grid(c);
    const int64_t np = (int64_t)G * G, pl = 3 * P * P;
    int nt = u2_par_threads_for(n * np, n * np * 3 * P * P);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t r = 0; r < n * np; r++) {
        int64_t img = r / np, p = r % np;
        int gy = (int)(p / G), gx = (int)(p % G);
        float *dst = patches + r * pl;
        for (int ch = 0; ch < 3; ch++)
            for (int py = 0; py < P; py++) {
                int y = gy * P + py - pad;
                for (int px = 0; px < P; px++) {
                    int xx = gx * P + px - pad;
                    *dst++ = (y >= 0 && y < S && xx >= 0 && xx < S)
                                 ? pixels[((img * 3 + ch) * S + y) * S + xx]
                                 : 0.0f;
                }
            }
    }
}

void u2_vit_forward(u2_fwd *f, const float *pixels, int n)
{
    const u2_config *c = &f->m->L.cfg;
    const u2_weights *w = &f->m->w;
    const int64_t D = c->hidden, P = c->patch_size, np = u2_cfg_npatch(c), nv = np + 1;
    u2_arena *a = &f->arena;
    f->n_img = n;
    f->pixels = pixels;
    if (n == 0) return;
    f->patches = u2_arena_alloc(a, (size_t)(n * np * 3 * P * P));
    f->patch_out = u2_arena_alloc(a, (size_t)(n * np * D));
    im2col(f->patches, pixels, n, c);
    u2_linear(f->patch_out, f->patches, n * np, 3 * P * P, w->patch_w, w->patch_b, D, U2_ACT_NONE,
              NULL, 0);
    float *x0 = u2_arena_alloc(a, (size_t)(n * nv * D));
    for (int64_t i = 0; i < n; i++) {
        float *row = x0 + i * nv * D;
        for (int64_t d = 0; d < D; d++) row[d] = w->cls[d] + w->vpos[d];
        for (int64_t p = 0; p < np; p++)
            for (int64_t d = 0; d < D; d++)
                row[(1 + p) * D + d] = f->patch_out[(i * np + p) * D + d] + w->vpos[(1 + p) * D + d];
    }
    f->vit.B = n;
    f->vit.T = nv;
    f->vit.in = x0;
    f->vit.mask = NULL;
    u2_stack_forward(f, &f->vit, w->vit, c->vit_layers, 1, c->vit_ln_eps);
    f->vit_mean = u2_arena_alloc(a, (size_t)(n * nv));
    f->vit_rstd = u2_arena_alloc(a, (size_t)(n * nv));
    f->V = u2_arena_alloc(a, (size_t)(n * nv * D));
    u2_layernorm(f->V, f->vit_mean, f->vit_rstd, f->vit.out, w->vln_w, w->vln_b, n * nv, D,
                 c->vit_ln_eps);
}

/* ----------------------------------------------------------------- text */

/* mask[b][q][k] = 0 where both q and k are real tokens, else -inf */
static float *padding_mask(u2_arena *a, const int32_t *attn, int n, int64_t T)
{
    float *m = u2_arena_alloc(a, (size_t)(n * T * T));
    for (int64_t b = 0; b < n; b++)
        for (int64_t q = 0; q < T; q++)
            for (int64_t k = 0; k < T; k++)
                m[(b * T + q) * T + k] =
                    attn[b * T + q] && attn[b * T + k] ? 0.0f : -INFINITY;
    return m;
}

void u2_text_forward(u2_fwd *f, const int32_t *ids, const int32_t *attn, int n, int tl)
{
    const u2_config *c = &f->m->L.cfg;
    const u2_weights *w = &f->m->w;
    const int64_t D = c->hidden;
    u2_arena *a = &f->arena;
    f->n_txt = n;
    f->tl = tl;
    f->ids = ids;
    f->attn = attn;
    if (n == 0) return;
    f->tlen = (int *)u2_arena_alloc_i32(a, (size_t)n);
    for (int i = 0; i < n; i++) {
        int len = 0;
        for (int j = 0; j < tl; j++) len += attn[i * tl + j] != 0;
        f->tlen[i] = len;
    }
    f->emb = u2_arena_alloc(a, (size_t)(n * tl * D));
    for (int64_t r = 0; r < (int64_t)n * tl; r++) {
        int id = ids[r], pos = (int)(r % tl) + c->text_pos_offset;
        for (int64_t d = 0; d < D; d++) f->emb[r * D + d] = w->word[id * D + d] + w->tpos[pos * D + d];
    }
    f->emb_mean = u2_arena_alloc(a, (size_t)(n * tl));
    f->emb_rstd = u2_arena_alloc(a, (size_t)(n * tl));
    float *x0 = u2_arena_alloc(a, (size_t)(n * tl * D));
    u2_layernorm(x0, f->emb_mean, f->emb_rstd, f->emb, w->tln_w, w->tln_b, (int64_t)n * tl, D,
                 c->text_ln_eps);
    f->text.B = n;
    f->text.T = tl;
    f->text.in = x0;
    f->text.mask = padding_mask(a, attn, n, tl);
    u2_stack_forward(f, &f->text, w->text, c->text_layers, 0, c->text_ln_eps);
    f->Tx = f->text.out;
}
