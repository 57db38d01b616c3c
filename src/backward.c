/* Backward passes of the whole model (doc/model.md), mirroring model.c and
 * fusion.c.  Parameter gradients accumulate (+=) into an arena with the
 * parameters' layout; activation gradients live in a scratch arena. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "backward.h"
#include "kernels.h"
#include "model_internal.h"
#include "ops.h"
#include "util.h"

#include <math.h>
#include <string.h>

typedef struct {
    float *d_a, *d_b, *d_fc, *d_ctx, *d_qkv, *dP;
} blk_scratch;

static void scratch_alloc(u2_arena *a, blk_scratch *s, int64_t B, int64_t T, const u2_config *c)
{
    const int64_t N = B * T, D = c->hidden;
    s->d_a = u2_arena_alloc(a, (size_t)(N * D));
    s->d_b = u2_arena_alloc(a, (size_t)(N * D));
    s->d_fc = u2_arena_alloc(a, (size_t)(N * c->ffn));
    s->d_ctx = u2_arena_alloc(a, (size_t)(N * D));
    s->d_qkv = u2_arena_alloc(a, (size_t)(N * 3 * D));
    s->dP = u2_arena_alloc(a, (size_t)(B * c->heads * T * T));
}

/* dx (written) from dout (read; may be clobbered) through one block whose input was x. */
static void block_backward(const u2_config *c, const u2_block_w *w, u2_block_w *g,
                           const u2_block_act *a, const float *x, float *dx, const float *dout,
                           int64_t B, int64_t T, int pre_ln, blk_scratch *s)
{
    const int64_t N = B * T, D = c->hidden, F = c->ffn, H = c->heads;
    const size_t bytes = (size_t)(N * D) * sizeof(float);
    float *d_res2 = s->d_a, *d_res1 = s->d_b;
    if (pre_ln) {
        memcpy(d_res2, dout, bytes);
    } else {
        memset(d_res2, 0, bytes);
        u2_layernorm_bwd(d_res2, g->ln2_w, g->ln2_b, dout, a->res2, w->ln2_w, a->ln2_mean,
                         a->ln2_rstd, N, D);
    }
    /* MLP: res2 = mlp_in + fc2(gelu(fc1(mlp_in))) */
    const float *mlp_in = pre_ln ? a->ln2 : a->ln1;
    u2_linear_bwd(s->d_fc, g->fc2_w, g->fc2_b, d_res2, a->fc1_act, w->fc2_w, N, F, D, 0);
    u2_gelu_bwd(s->d_fc, a->fc1_pre, s->d_fc, N * F);
    if (pre_ln) {
        /* d(ln2 out) into d_ctx as a temporary, then through LN2 onto the residual */
        u2_linear_bwd(s->d_ctx, g->fc1_w, g->fc1_b, s->d_fc, mlp_in, w->fc1_w, N, D, F, 0);
        memcpy(d_res1, d_res2, bytes);
        u2_layernorm_bwd(d_res1, g->ln2_w, g->ln2_b, s->d_ctx, a->res1, w->ln2_w, a->ln2_mean,
                         a->ln2_rstd, N, D);
    } else {
        /* d(ln1 out) = residual + MLP path, then through LN1 */
        u2_linear_bwd(d_res2, g->fc1_w, g->fc1_b, s->d_fc, mlp_in, w->fc1_w, N, D, F, 1);
        memset(d_res1, 0, bytes);
        u2_layernorm_bwd(d_res1, g->ln1_w, g->ln1_b, d_res2, a->res1, w->ln1_w, a->ln1_mean,
                         a->ln1_rstd, N, D);
    }
    /* attention: res1 = x + proj(attn(attn_in)) */
    u2_linear_bwd(s->d_ctx, g->proj_w, g->proj_b, d_res1, a->ctx, w->proj_w, N, D, D, 0);
    u2_attention_bwd(s->d_qkv, s->d_ctx, a->qkv, a->probs, B, T, D, H, s->dP);
    memcpy(dx, d_res1, bytes);
    if (pre_ln) {
        u2_linear_bwd(s->d_ctx, g->qkv_w, g->qkv_b, s->d_qkv, a->ln1, w->qkv_w, N, D, 3 * D, 0);
        u2_layernorm_bwd(dx, g->ln1_w, g->ln1_b, s->d_ctx, x, w->ln1_w, a->ln1_mean, a->ln1_rstd,
                         N, D);
    } else {
        u2_linear_bwd(dx, g->qkv_w, g->qkv_b, s->d_qkv, x, w->qkv_w, N, D, 3 * D, 1);
    }
}

/* ------------------------------------------------------- ready ranges */

/* The ranges of u2_grad_ranges: maximal runs of the layout's tensors that
 * become final together (the embeddings of a stack, each of its blocks, the
 * ViT's final LayerNorm, gd.* with fusion.*, the heads).  The pass finishes
 * them in the reverse of the layout's order. */
enum { MAX_RANGES = 2 * U2_MAX_LAYERS + 8 };

typedef struct {
    int64_t b[MAX_RANGES + 1]; /* range i is [b[i], b[i+1]) */
    int n;
    int next;                  /* the highest range not reported yet */
    u2_grad_ready_fn fn;
    void *ctx;
} ready_ranges;

static int range_key(const char *nm)
{
    int i;
    if (sscanf(nm, "vit.blocks.%d.", &i) == 1) return 100 + i;
    if (!strncmp(nm, "vit.ln_f.", 9)) return 99;
    if (!strncmp(nm, "vit.", 4)) return 0;
    if (sscanf(nm, "text.blocks.%d.", &i) == 1) return 300 + i;
    if (!strncmp(nm, "text.", 5)) return 200;
    if (!strncmp(nm, "gd.", 3) || !strncmp(nm, "fusion.", 7)) return 500;
    return 600;
}

static void ranges_build(const u2_layout *L, u2_grad_ready_fn fn, void *ctx, ready_ranges *r)
{
    r->n = 0;
    for (int i = 0, prev = -1; i < L->n; i++) {
        const int k = range_key(L->t[i].name);
        if (k != prev && r->n < MAX_RANGES) r->b[r->n++] = L->t[i].offset;
        prev = k;
    }
    r->b[r->n] = L->total;
    r->next = r->n - 1;
    r->fn = fn;
    r->ctx = ctx;
}

/* Everything from float x to the end of the arena is final: report the ranges
 * not reported yet that lie there. */
static void final_from(ready_ranges *r, int64_t x)
{
    for (; r->next >= 0 && r->b[r->next] >= x; r->next--)
        if (r->fn) r->fn(r->ctx, r->b[r->next], r->b[r->next + 1]);
}

void u2_grad_ranges(const u2_layout *L, u2_grad_ready_fn ready, void *ctx)
{
    ready_ranges r;
    ranges_build(L, ready, ctx, &r);
    final_from(&r, 0);
}

/* d_in (written, [B*T, D]) from d_out (clobbered) through a whole stack.  With
 * `rr`, each block's gradients are reported final when its backward is done
 * (a stack whose blocks see one batch only; `base` is the gradient arena). */
static void stack_backward(const u2_config *c, const u2_stack_act *st, const u2_block_w *w,
                           u2_block_w *g, float *d_in, float *d_out, u2_arena *ar,
                           ready_ranges *rr, const float *base)
{
    const int64_t N = st->B * st->T, D = c->hidden;
    if (st->nblk == 0) {
        memcpy(d_in, d_out, (size_t)(N * D) * sizeof(float));
        return;
    }
    blk_scratch s;
    scratch_alloc(ar, &s, st->B, st->T, c);
    float *tmp = u2_arena_alloc(ar, (size_t)(N * D));
    float *cur = d_out;
    for (int l = st->nblk - 1; l >= 0; l--) {
        const float *x = l == 0 ? st->in : st->blk[l - 1].out;
        float *dst = l == 0 ? d_in : (cur == tmp ? d_out : tmp);
        block_backward(c, &w[l], &g[l], &st->blk[l], x, dst, cur, st->B, st->T, st->pre_ln, &s);
        if (rr) final_from(rr, g[l].ln1_w - base); /* ln1.weight starts a block */
        cur = dst;
    }
}

/* ------------------------------------------------------------- heads */

/* dL for the symmetric InfoNCE of an n x n logit matrix L, scaled by `scale`. */
static void infonce_bwd(float *dL, const float *L, int64_t n, float scale, u2_arena *a)
{
    const u2_kernels *k = u2_kern();
    float *Lt = u2_arena_alloc(a, (size_t)(n * n)), *dT = u2_arena_alloc(a, (size_t)(n * n));
    int32_t *diag = u2_arena_alloc_i32(a, (size_t)n);
    for (int64_t i = 0; i < n; i++) {
        diag[i] = (int32_t)i;
        for (int64_t j = 0; j < n; j++) Lt[j * n + i] = L[i * n + j];
    }
    const float ds = 0.5f * scale / (float)n;
    k->xent(dL, L, n, diag, n, n, ds);
    k->xent(dT, Lt, n, diag, n, n, ds);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) dL[i * n + j] += dT[j * n + i];
}

/* The fusion-output gradient row of (item, r). */
static float *dF_row(const u2_fwd *f, float **dF, int item, int64_t r)
{
    for (int gi = 0; gi < f->ngroups; gi++) {
        const u2_group *g = &f->groups[gi];
        if (item >= g->first && item < g->first + g->n)
            return dF[gi] + ((item - g->first) * g->T + r) * f->m->L.cfg.hidden;
    }
    return NULL;
}

static void add_row(float *dst, const float *src, int64_t D)
{
    for (int64_t d = 0; d < D; d++) dst[d] += src[d];
}

static void heads_backward(u2_fwd *f, u2_weights *gw, float **dF, float *dV, float *dTx,
                           u2_arena *ar)
{
    const u2_model *m = f->m;
    const u2_config *c = &m->L.cfg;
    const u2_weights *w = &m->w;
    const u2_kernels *k = u2_kern();
    const int64_t D = c->hidden, V = c->vocab_size, nv = u2_cfg_nvis(c);
    const u2_losses *L = &f->loss;

    if (f->mlm_n) {
        const int nm = f->mlm_n, np_ = L->mlm_pairs_n, nt_ = L->mlm_texts_n;
        float *dlog = u2_arena_alloc(ar, (size_t)nm * (size_t)V);
        if (np_) k->xent(dlog, f->mlm_logits, V, f->mlm_label, np_, V, c->w_mlm / (float)np_);
        if (nt_)
            k->xent(dlog + (int64_t)np_ * V, f->mlm_logits + (int64_t)np_ * V, V,
                    f->mlm_label + np_, nt_, V, c->w_mlm / (float)nt_);
        float *dh = u2_arena_alloc(ar, (size_t)(nm * D)), *dact = u2_arena_zalloc(ar, (size_t)(nm * D));
        u2_linear_bwd(dh, gw->word, gw->mlm_bias, dlog, f->mlm_h, w->word, nm, D, V, 0);
        u2_layernorm_bwd(dact, gw->mlm_ln_w, gw->mlm_ln_b, dh, f->mlm_act, w->mlm_ln_w, f->mlm_mean,
                         f->mlm_rstd, nm, D);
        u2_gelu_bwd(dact, f->mlm_pre, dact, nm * D);
        u2_linear_bwd(dh, gw->mlm_fc_w, gw->mlm_fc_b, dact, f->mlm_in, w->mlm_fc_w, nm, D, D, 0);
        for (int r = 0; r < nm; r++) {
            int item = f->mlm_item[r];
            add_row(dF_row(f, dF, item, u2_item_text_start(f, item) + f->mlm_pos[r]),
                    dh + (int64_t)r * D, D);
        }
    }

    if (f->itm_n) {
        const int ni = f->itm_n, bp = ni - 2 * f->nneg;
        float *dlog = u2_arena_alloc(ar, (size_t)(ni * 2));
        int32_t *lab = u2_arena_alloc_i32(ar, (size_t)ni);
        for (int i = 0; i < ni; i++) lab[i] = i < bp;
        k->xent(dlog, f->itm_logits, 2, lab, ni, 2, c->w_itm / (float)ni);
        float *dprod = u2_arena_alloc(ar, (size_t)(ni * D));
        float *da = u2_arena_alloc(ar, (size_t)(ni * D)), *db = u2_arena_alloc(ar, (size_t)(ni * D));
        u2_linear_bwd(dprod, gw->itm_out_w, gw->itm_out_b, dlog, f->itm_prod, w->itm_out_w, ni, D,
                      2, 0);
        for (int64_t i = 0; i < ni * D; i++) {
            da[i] = f->itm_a[i] > 0.0f ? dprod[i] * f->itm_b[i] : 0.0f;
            db[i] = f->itm_b[i] > 0.0f ? dprod[i] * f->itm_a[i] : 0.0f;
        }
        float *dv = u2_arena_alloc(ar, (size_t)(ni * D)), *dt = u2_arena_alloc(ar, (size_t)(ni * D));
        u2_linear_bwd(dv, gw->itm_img_w, gw->itm_img_b, da, f->itm_v, w->itm_img_w, ni, D, D, 0);
        u2_linear_bwd(dt, gw->itm_txt_w, gw->itm_txt_b, db, f->itm_t, w->itm_txt_w, ni, D, D, 0);
        for (int i = 0; i < ni; i++) {
            add_row(dF_row(f, dF, i, 0), dv + (int64_t)i * D, D);
            add_row(dF_row(f, dF, i, u2_item_text_start(f, i)), dt + (int64_t)i * D, D);
        }

        /* CMCL */
        const int64_t n = f->cmcl_n;
        const float raw = w->cmcl_temp[0];
        const float temp = u2_clampf(raw, c->temp_min, c->temp_max);
        float *dL = u2_arena_alloc(ar, (size_t)(n * n));
        infonce_bwd(dL, f->cmcl_logits, n, c->w_cmcl, ar);
        if (raw >= c->temp_min && raw <= c->temp_max) {
            double s = 0.0;
            for (int64_t i = 0; i < n * n; i++) s += (double)dL[i] * f->cmcl_logits[i];
            gw->cmcl_temp[0] += (float)(-s / temp);
        }
        float *dvn = u2_arena_alloc(ar, (size_t)(n * D)), *dtn = u2_arena_alloc(ar, (size_t)(n * D));
        u2_sgemm(0, 0, n, D, n, 1.0f / temp, dL, n, f->cmcl_tn, D, 0.0f, dvn, D, NULL);
        u2_sgemm(1, 0, n, D, n, 1.0f / temp, dL, n, f->cmcl_vn, D, 0.0f, dtn, D, NULL);
        for (int64_t i = 0; i < n; i++) {
            u2_l2norm_rows_bwd(dV + i * nv * D, dvn + i * D, f->cmcl_vn + i * D, f->cmcl_v + i, 1, D);
            u2_l2norm_rows_bwd(dTx + i * f->tl * D, dtn + i * D, f->cmcl_tn + i * D, f->cmcl_t + i,
                               1, D);
        }
    }

    if (f->vcl_n >= 2) {
        const int64_t bi = f->vcl_n, N = bi / 2;
        const int first = f->nitems - (int)bi;
        float *dL = u2_arena_alloc(ar, (size_t)(N * N));
        infonce_bwd(dL, f->vcl_logits, N, c->w_vcl, ar);
        float *dz = u2_arena_alloc(ar, (size_t)(bi * D));
        u2_sgemm(0, 0, N, D, N, 1.0f / c->vcl_temp, dL, N, f->vcl_z + N * D, D, 0.0f, dz, D, NULL);
        u2_sgemm(1, 0, N, D, N, 1.0f / c->vcl_temp, dL, N, f->vcl_z, D, 0.0f, dz + N * D, D, NULL);
        float *dzr = u2_arena_zalloc(ar, (size_t)(bi * D)), *dh = u2_arena_alloc(ar, (size_t)(bi * D));
        u2_l2norm_rows_bwd(dzr, dz, f->vcl_z, f->vcl_zn, bi, D);
        u2_linear_bwd(dh, gw->vcl_fc2_w, gw->vcl_fc2_b, dzr, f->vcl_h, w->vcl_fc2_w, bi, D, D, 0);
        for (int64_t i = 0; i < bi * D; i++)
            if (!(f->vcl_h[i] > 0.0f)) dh[i] = 0.0f;
        u2_linear_bwd(dz, gw->vcl_fc1_w, gw->vcl_fc1_b, dh, f->vcl_in, w->vcl_fc1_w, bi, D, D, 0);
        for (int64_t i = 0; i < bi; i++) add_row(dF_row(f, dF, first + (int)i, 0), dz + i * D, D);
    }
}

/* ------------------------------------------------------------ grounding */

/* Scatter an item's token gradients back onto the encoder outputs. */
static void scatter_tokens(const u2_fwd *f, const u2_item *it, const float *dx, float *dV,
                           float *dTx)
{
    const u2_config *c = &f->m->L.cfg;
    const int64_t D = c->hidden, nv = u2_cfg_nvis(c);
    int64_t r = 0;
    if (it->img >= 0) {
        float *dst = dV + ((int64_t)it->img * nv + 1) * D;
        for (int64_t i = 0; i < (nv - 1) * D; i++) dst[i] += dx[i];
        r = nv - 1;
    }
    if (it->txt >= 0) {
        int len = f->tlen[it->txt];
        float *dst = dTx + ((int64_t)it->txt * f->tl + 1) * D;
        for (int64_t i = 0; i < (int64_t)(len - 1) * D; i++) dst[i] += dx[r * D + i];
    }
}

static void ground_backward(u2_fwd *f, const u2_group *g, u2_weights *gw, float *dV, float *dTx,
                            u2_arena *ar)
{
    const u2_config *c = &f->m->L.cfg;
    const u2_weights *w = &f->m->w;
    const float *E = w->gd_embed;
    const int64_t D = c->hidden, K = c->topk;
    if (!g || c->grounding == U2_GROUND_NONE || c->w_ground == 0.0f) return;
    int64_t ntok = 0, nitem = 0;
    for (int i = g->first; i < g->first + g->n; i++)
        if (f->items[i].ground) {
            ntok += f->items[i].ntok;
            nitem++;
        }
    if (!nitem) return;
    const float tau_raw = c->grounding == U2_GROUND_TOPK ? w->gd_tau[0] : 0.0f;
    const float tau = u2_clampf(tau_raw, c->tau_min, c->tau_max);
    const int tau_live = tau_raw >= c->tau_min && tau_raw <= c->tau_max;
    const float cq = ntok ? c->w_ground * c->ground_q / (float)(ntok * D) : 0.0f;
    /* e_latent averages over (items x K x D); the nearest commitment term over tokens */
    const float ce = c->grounding == U2_GROUND_NEAREST
                         ? (ntok ? c->w_ground * c->ground_e / (float)(ntok * D) : 0.0f)
                         : c->w_ground * c->ground_e / (float)(nitem * K * D);
    double dtau = 0.0;
    for (int i = g->first; i < g->first + g->n; i++) {
        const u2_item *it = &f->items[i];
        if (!it->ground || it->ntok == 0) continue;
        const int64_t T = it->ntok;
        float *dx = u2_arena_zalloc(ar, (size_t)(T * D));
        if (c->grounding == U2_GROUND_NEAREST) {
            for (int64_t t = 0; t < T; t++) {
                const float *e = E + (int64_t)it->idx[t] * D, *x = it->x + t * D;
                float *de = gw->gd_embed + (int64_t)it->idx[t] * D;
                for (int64_t d = 0; d < D; d++) {
                    float diff = e[d] - x[d];
                    de[d] += 2.0f * cq * diff;
                    dx[t * D + d] -= 2.0f * ce * diff;
                }
            }
            scatter_tokens(f, it, dx, dV, dTx);
            continue;
        }
        float *ds = u2_arena_zalloc(ar, (size_t)(T * K));
        float *gv = u2_arena_alloc(ar, (size_t)D), *dq = u2_arena_alloc(ar, (size_t)K);
        /* e_latent: ehat_k = sum_t w[k,t] x_t with w = s[t,k] / (S_k + eps) */
        for (int64_t k = 0; k < K; k++) {
            const float *e = E + (int64_t)it->idx[k] * D, *eh = it->ehat + k * D;
            const float Sk = it->S[it->idx[k]] + 1e-18f;
            for (int64_t d = 0; d < D; d++) gv[d] = 2.0f * ce * (eh[d] - e[d]);
            float dS = 0.0f;
            for (int64_t t = 0; t < T; t++) {
                const float *x = it->x + t * D;
                float wkt = it->sk[t * K + k] / Sk, dw = 0.0f;
                for (int64_t d = 0; d < D; d++) {
                    dx[t * D + d] += wkt * gv[d];
                    dw += gv[d] * x[d];
                }
                ds[t * K + k] += dw / Sk;
                dS -= dw * it->sk[t * K + k] / (Sk * Sk);
            }
            for (int64_t t = 0; t < T; t++) ds[t * K + k] += dS;
        }
        /* q_latent: xhat_t = sum_k q[t,k] e_k with q = s[t,k] / (R_t + eps) */
        for (int64_t t = 0; t < T; t++) {
            const float *x = it->x + t * D, *xh = it->xhat + t * D;
            for (int64_t d = 0; d < D; d++) gv[d] = 2.0f * cq * (xh[d] - x[d]);
            float R = 1e-18f, dot_qs = 0.0f;
            for (int64_t k = 0; k < K; k++) R += it->sk[t * K + k];
            for (int64_t k = 0; k < K; k++) {
                const float *e = E + (int64_t)it->idx[k] * D;
                float *de = gw->gd_embed + (int64_t)it->idx[k] * D;
                float qk = it->q[t * K + k], s = 0.0f;
                for (int64_t d = 0; d < D; d++) {
                    de[d] += qk * gv[d];
                    s += gv[d] * e[d];
                }
                dq[k] = s;
                dot_qs += s * it->sk[t * K + k];
            }
            for (int64_t k = 0; k < K; k++) ds[t * K + k] += dq[k] / R - dot_qs / (R * R);
        }
        /* through the sigmoid: s = sigmoid(tau x.e) */
        for (int64_t t = 0; t < T; t++) {
            const float *x = it->x + t * D;
            for (int64_t k = 0; k < K; k++) {
                const float sv = it->sk[t * K + k];
                const float dz = ds[t * K + k] * sv * (1.0f - sv);
                if (dz == 0.0f) continue;
                const float *e = E + (int64_t)it->idx[k] * D;
                float *de = gw->gd_embed + (int64_t)it->idx[k] * D;
                float xe = 0.0f;
                for (int64_t d = 0; d < D; d++) {
                    xe += x[d] * e[d];
                    dx[t * D + d] += tau * dz * e[d];
                    de[d] += tau * dz * x[d];
                }
                dtau += (double)dz * xe;
            }
        }
        scatter_tokens(f, it, dx, dV, dTx);
    }
    if (c->grounding == U2_GROUND_TOPK && tau_live) gw->gd_tau[0] += (float)dtau;
}

/* ------------------------------------------------------------- whole pass */

void u2_backward_batch(u2_fwd *f, float *grads, u2_arena *ar, u2_grad_ready_fn ready, void *ctx)
{
    const u2_model *m = f->m;
    const u2_config *c = &m->L.cfg;
    const u2_weights *w = &m->w;
    const int64_t D = c->hidden, nv = u2_cfg_nvis(c), np = nv - 1, P = c->patch_size;
    u2_weights gw;
    u2_weights_bind(&m->L, grads, &gw);
    u2_arena_reset(ar);

    float *dV = f->n_img ? u2_arena_zalloc(ar, (size_t)(f->n_img * nv * D)) : NULL;
    float *dTx = f->n_txt ? u2_arena_zalloc(ar, (size_t)((int64_t)f->n_txt * f->tl * D)) : NULL;
    float *dF[3] = {0};
    for (int gi = 0; gi < f->ngroups; gi++)
        dF[gi] = u2_arena_zalloc(ar, (size_t)(f->groups[gi].n * f->groups[gi].T * D));

    ready_ranges rr;
    ranges_build(&m->L, ready, ctx, &rr);

    heads_backward(f, &gw, dF, dV, dTx, ar);
    final_from(&rr, gw.mlm_fc_w - grads); /* the heads */
    for (int gi = 0; gi < f->ngroups; gi++) ground_backward(f, &f->groups[gi], &gw, dV, dTx, ar);

    /* grounded transformer, group by group */
    for (int gi = 0; gi < f->ngroups; gi++) {
        const u2_group *g = &f->groups[gi];
        const int64_t T = g->T, n = g->n;
        float *din = u2_arena_alloc(ar, (size_t)(n * T * D));
        stack_backward(c, &g->st, w->fusion, gw.fusion, din, dF[gi], ar, NULL, NULL);
        float *dG = g->ng ? u2_arena_alloc(ar, (size_t)(n * g->ng * D)) : NULL;
        for (int64_t i = 0; i < n; i++) {
            const u2_item *it = &f->items[g->first + i];
            const float *x = din + i * T * D;
            if (g->nv) {
                float *dst = dV + (int64_t)it->img * nv * D;
                for (int64_t j = 0; j < g->nv * D; j++) dst[j] += x[j];
            }
            if (g->ng) memcpy(dG + i * g->ng * D, x + g->nv * D, (size_t)(g->ng * D) * sizeof(float));
            if (g->nt) {
                float *dst = dTx + (int64_t)it->txt * f->tl * D;
                const float *src = x + (g->nv + g->ng) * D;
                for (int64_t j = 0; j < g->nt * D; j++) dst[j] += src[j];
            }
        }
        if (g->ng) {
            float *draw = u2_arena_zalloc(ar, (size_t)(n * g->ng * D));
            u2_layernorm_bwd(draw, gw.gd_ln_w, gw.gd_ln_b, dG, g->g_raw, w->gd_ln_w, g->g_mean,
                             g->g_rstd, n * g->ng, D);
            for (int64_t i = 0; i < n; i++) {
                const u2_item *it = &f->items[g->first + i];
                for (int r = 0; r < it->ng; r++)
                    add_row(gw.gd_embed + (int64_t)it->idx[r] * D, draw + (i * g->ng + r) * D, D);
            }
        }
    }

    /* gd.* and fusion.*: everything after the text encoder's last tensor */
    final_from(&rr, (c->text_layers ? gw.text[c->text_layers - 1].fc2_b : gw.tln_b) + D - grads);

    /* text encoder (text.word is final only now: the MLM decoder shares it) */
    if (f->n_txt) {
        const int64_t N = (int64_t)f->n_txt * f->tl;
        float *dx0 = u2_arena_alloc(ar, (size_t)(N * D));
        stack_backward(c, &f->text, w->text, gw.text, dx0, dTx, ar, &rr, grads);
        float *demb = u2_arena_zalloc(ar, (size_t)(N * D));
        u2_layernorm_bwd(demb, gw.tln_w, gw.tln_b, dx0, f->emb, w->tln_w, f->emb_mean, f->emb_rstd,
                         N, D);
        for (int64_t r = 0; r < N; r++) {
            add_row(gw.word + (int64_t)f->ids[r] * D, demb + r * D, D);
            add_row(gw.tpos + (r % f->tl + c->text_pos_offset) * D, demb + r * D, D);
        }
    }
    final_from(&rr, gw.word - grads); /* text.* */

    /* ViT */
    if (f->n_img) {
        const int64_t n = f->n_img, N = n * nv;
        float *dout = u2_arena_zalloc(ar, (size_t)(N * D));
        u2_layernorm_bwd(dout, gw.vln_w, gw.vln_b, dV, f->vit.out, w->vln_w, f->vit_mean,
                         f->vit_rstd, N, D);
        final_from(&rr, gw.vln_w - grads); /* vit.ln_f */
        float *dx0 = u2_arena_alloc(ar, (size_t)(N * D));
        stack_backward(c, &f->vit, w->vit, gw.vit, dx0, dout, ar, &rr, grads);
        float *dpo = u2_arena_alloc(ar, (size_t)(n * np * D));
        for (int64_t i = 0; i < n; i++) {
            add_row(gw.cls, dx0 + i * nv * D, D);
            memcpy(dpo + i * np * D, dx0 + (i * nv + 1) * D, (size_t)(np * D) * sizeof(float));
        }
        u2_colsum_acc(gw.vpos, dx0, n, nv * D, nv * D);
        u2_linear_bwd(NULL, gw.patch_w, gw.patch_b, dpo, f->patches, w->patch_w, n * np, 3 * P * P,
                      D, 0);
    }
    final_from(&rr, 0); /* vit.* */
}
