/* ONNX export: the model of doc/model.md as four graphs (doc/onnx.md).
 *
 * Every function below emits the operators of one piece of the forward pass
 * into the graph being built and returns the name of its output value; the
 * shape comments give the value shapes with B the batch, T the sequence
 * length of the stack, L the padded text length. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "onnx_export.h"
#include "onnx_graph.h"
#include "fileio.h"
#include "util.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "unknown"
#endif

/* Additive attention mask for a forbidden (query, key): exp() of it after the
 * row maximum is subtracted is exactly 0, as for -inf, without the NaN that
 * -inf gives on a fully masked row (those rows get a zero context instead). */
#define MASK_NEG (-1e9f)

typedef struct {
    u2g *g;
    const u2_model *m;
    const u2_config *c;
    int64_t D, H, dh, P, Np, Nv, C, K, Lmax;
    int64_t NG; /* grounded rows in the fusion input: K, or 0 without grounding */
    /* values derived once per graph from attention_mask */
    const char *mask_in, *kadd, *qv;
} ex;

/* -------------------------------------------------------------- weights */

static const u2_tensor *tensor(const ex *e, const char *name)
{
    const u2_tensor *t = u2_layout_find(&e->m->L, name);
    if (!t) { /* the layout and this file disagree: a bug, not an input error */
        fprintf(stderr, "unimo2: export: no parameter \"%s\" in the layout\n", name);
        abort();
    }
    return t;
}

/* A parameter as an initializer of the same name and shape (borrowed). */
static const char *param(ex *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static const char *param(ex *e, const char *fmt, ...)
{
    char name[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    const u2_tensor *t = tensor(e, name);
    return u2g_init_f32(e->g, name, e->m->params + t->offset, t->ndim, t->shape, 1);
}

/* A linear weight [out, in] stored transposed as "<name>.T" [in, out] for MatMul. */
static const char *param_t(ex *e, const char *name)
{
    const u2_tensor *t = tensor(e, name);
    char tname[140];
    snprintf(tname, sizeof tname, "%s.T", name);
    return u2g_init_f32_t(e->g, tname, e->m->params + t->offset, t->shape[0], t->shape[1]);
}

/* ---------------------------------------------------------------- layers */

static const char *op1(ex *e, const char *op, const char *a)
{
    return u2g_op(e->g, op, U2G_IN(a), NULL, NULL);
}
static const char *op2(ex *e, const char *op, const char *a, const char *b)
{
    return u2g_op(e->g, op, U2G_IN(a, b), NULL, NULL);
}

/* x [B,T,...] -> row `row` of axis 1, [B,...] */
static const char *row_of(ex *e, const char *x, int64_t row, const char *out)
{
    return u2g_op(e->g, "Gather", U2G_IN(x, u2g_ci(e->g, row)), U2G_ATTRS(U2G_INT("axis", 1)),
                  out);
}

/* Transpose of a rank-4 value */
static const char *transpose4(ex *e, const char *x, int64_t p0, int64_t p1, int64_t p2, int64_t p3)
{
    return u2g_op(e->g, "Transpose", U2G_IN(x), U2G_ATTRS(U2G_INTS("perm", p0, p1, p2, p3)), NULL);
}

/* x [B,in] -> x·Wᵀ + b [B,out] as Gemm(transB) on the [out,in] weight */
static const char *gemm(ex *e, const char *x, const char *prefix, const char *out)
{
    return u2g_op(e->g, "Gemm",
                  U2G_IN(x, param(e, "%s.weight", prefix), param(e, "%s.bias", prefix)),
                  U2G_ATTRS(U2G_INT("transB", 1)), out);
}

/* x [..., in] -> x·Wᵀ + b [..., out] (prefix.weight, prefix.bias) */
static const char *linear(ex *e, const char *x, const char *prefix)
{
    char w[128];
    snprintf(w, sizeof w, "%s.weight", prefix);
    const char *y = op2(e, "MatMul", x, param_t(e, w));
    return op2(e, "Add", y, param(e, "%s.bias", prefix));
}

/* LayerNorm over the last axis (prefix.weight, prefix.bias). */
static const char *layernorm(ex *e, const char *x, const char *prefix, float eps, const char *out)
{
    return u2g_op(e->g, "LayerNormalization",
                  U2G_IN(x, param(e, "%s.weight", prefix), param(e, "%s.bias", prefix)),
                  U2G_ATTRS(U2G_INT("axis", -1), U2G_FLT("epsilon", eps)), out);
}

/* Exact GELU, 0.5·x·(1 + erf(x/√2)), in the form onnxruntime fuses. */
static const char *gelu(ex *e, const char *x)
{
    const char *t = op2(e, "Div", x, u2g_cf(e->g, 1.41421356237f));
    t = op1(e, "Erf", t);
    t = op2(e, "Add", t, u2g_cf(e->g, 1.0f));
    t = op2(e, "Mul", x, t);
    return op2(e, "Mul", t, u2g_cf(e->g, 0.5f));
}

/* Multi-head self-attention, all heads in batched MatMuls.
 * x [B,T,D]; mask [B,1,T,T] or [B,1,1,T] additive (or NULL); qvalid [B,T,1]
 * 1/0 (or NULL): rows with 0 get a zero context (doc/model.md). */
static const char *attention(ex *e, const char *x, const char *prefix, const char *mask,
                             const char *qvalid)
{
    u2g *g = e->g;
    char name[128];
    snprintf(name, sizeof name, "%s.qkv", prefix);
    const char *qkv = linear(e, x, name);                                    /* [B,T,3D] */
    const char *qkv3[3] = {NULL, NULL, NULL};
    u2g_op_n(g, "Split", U2G_IN(qkv), U2G_ATTRS(U2G_INT("axis", -1)), 3, qkv3); /* [B,T,D] x3 */
    const char *heads = U2G_CIS(g, 0, 0, e->H, e->dh);
    const char *q = op2(e, "Reshape", qkv3[0], heads);                       /* [B,T,H,dh] */
    const char *k = op2(e, "Reshape", qkv3[1], heads);
    const char *v = op2(e, "Reshape", qkv3[2], heads);
    q = transpose4(e, q, 0, 2, 1, 3);                                         /* [B,H,T,dh] */
    k = transpose4(e, k, 0, 2, 3, 1);                                         /* [B,H,dh,T] */
    v = transpose4(e, v, 0, 2, 1, 3);                                         /* [B,H,T,dh] */
    const char *s = op2(e, "MatMul", q, k);                                  /* [B,H,T,T] */
    s = op2(e, "Mul", s, u2g_cf(g, 1.0f / sqrtf((float)e->dh)));
    if (mask) s = op2(e, "Add", s, mask);
    const char *p = u2g_op(g, "Softmax", U2G_IN(s), U2G_ATTRS(U2G_INT("axis", -1)), NULL);
    const char *ctx = op2(e, "MatMul", p, v);                                /* [B,H,T,dh] */
    ctx = transpose4(e, ctx, 0, 2, 1, 3);                                     /* [B,T,H,dh] */
    ctx = op2(e, "Reshape", ctx, U2G_CIS(g, 0, 0, e->D));                    /* [B,T,D] */
    if (qvalid) ctx = op2(e, "Mul", ctx, qvalid);
    snprintf(name, sizeof name, "%s.proj", prefix);
    return linear(e, ctx, name);
}

/* fc2(gelu(fc1(x))) */
static const char *mlp(ex *e, const char *x, const char *prefix)
{
    char name[128];
    snprintf(name, sizeof name, "%s.fc1", prefix);
    const char *h = gelu(e, linear(e, x, name));
    snprintf(name, sizeof name, "%s.fc2", prefix);
    return linear(e, h, name);
}

/* One block.  pre-LN (ViT): x += attn(ln1 x); x += mlp(ln2 x).
 * post-LN (text, fusion): x = ln1(x + attn x); x = ln2(x + mlp x).
 * out names the block's output value (NULL: generated). */
static const char *block(ex *e, const char *x, const char *prefix, int pre_ln, float eps,
                         const char *mask, const char *qvalid, const char *out)
{
    char sub[128], ln1[128], ln2[128];
    snprintf(ln1, sizeof ln1, "%s.ln1", prefix);
    snprintf(ln2, sizeof ln2, "%s.ln2", prefix);
    u2g_scope(e->g, "%s.attn", prefix);
    snprintf(sub, sizeof sub, "%s.attn", prefix);
    if (pre_ln) {
        const char *a = attention(e, layernorm(e, x, ln1, eps, NULL), sub, mask, qvalid);
        const char *r1 = op2(e, "Add", x, a);
        u2g_scope(e->g, "%s.mlp", prefix);
        snprintf(sub, sizeof sub, "%s.mlp", prefix);
        const char *m = mlp(e, layernorm(e, r1, ln2, eps, NULL), sub);
        return u2g_op(e->g, "Add", U2G_IN(r1, m), NULL, out);
    }
    const char *a = attention(e, x, sub, mask, qvalid);
    const char *h = layernorm(e, op2(e, "Add", x, a), ln1, eps, NULL);
    u2g_scope(e->g, "%s.mlp", prefix);
    snprintf(sub, sizeof sub, "%s.mlp", prefix);
    const char *m = mlp(e, h, sub);
    return layernorm(e, op2(e, "Add", h, m), ln2, eps, out);
}

static const char *stack(ex *e, const char *x, const char *name, int n, int pre_ln, float eps,
                         const char *mask, const char *qvalid, const char *out)
{
    char prefix[96];
    for (int l = 0; l < n; l++) {
        snprintf(prefix, sizeof prefix, "%s.blocks.%d", name, l);
        x = block(e, x, prefix, pre_ln, eps, mask, qvalid, l == n - 1 ? out : NULL);
    }
    return x;
}

/* L2-normalised row `row` of x [B,T,D] -> [B,D] */
static const char *normalized_row(ex *e, const char *x, int64_t row, const char *out)
{
    const char *r = row_of(e, x, row, NULL);
    return u2g_op(e->g, "LpNormalization", U2G_IN(r),
                  U2G_ATTRS(U2G_INT("axis", -1), U2G_INT("p", 2)), out);
}

/* From attention_mask [B,L] (int64, 0 = padding): the additive key mask
 * kadd [B,L] (0 or MASK_NEG) and the query validity qv [B,L] (1 or 0). */
static void text_mask(ex *e)
{
    if (e->kadd) return;
    u2g *g = e->g;
    u2g_scope(g, "mask");
    const char *pad = op2(e, "Equal", e->mask_in, u2g_ci(g, 0));
    e->kadd = u2g_op(g, "Where", U2G_IN(pad, u2g_cf(g, MASK_NEG), u2g_cf(g, 0.0f)), NULL, NULL);
    e->qv = u2g_op(g, "Where", U2G_IN(pad, u2g_cf(g, 0.0f), u2g_cf(g, 1.0f)), NULL, NULL);
}

/* ------------------------------------------------------------ the graphs */

/* pixels [B,3,S,S] -> visual_tokens [B,Nv,D]; image_embedding [B,D] */
static void image_encoder(ex *e, const char *pixels, const char **tokens, const char **emb)
{
    u2g *g = e->g;
    const u2_config *c = e->c;
    const int64_t P = e->P, pad = c->patch_pad;
    u2g_scope(g, "vit.patch");
    const char *w = param(e, "vit.patch.weight"), *b = param(e, "vit.patch.bias");
    const char *x = u2g_op(g, "Conv", U2G_IN(pixels, w, b),
                           U2G_ATTRS(U2G_INTS("kernel_shape", P, P), U2G_INTS("strides", P, P),
                                     U2G_INTS("pads", pad, pad, pad, pad)),
                           NULL);                                             /* [B,D,G,G] */
    x = op2(e, "Reshape", x, U2G_CIS(g, 0, e->D, -1));                       /* [B,D,Np] */
    x = u2g_op(g, "Transpose", U2G_IN(x), U2G_ATTRS(U2G_INTS("perm", 0, 2, 1)), NULL); /* [B,Np,D] */
    /* a zero row in front for [CLS], then one add: row 0 gets cls + pos[0] */
    x = op2(e, "Pad", x, U2G_CIS(g, 0, 1, 0, 0, 0, 0));                      /* [B,Nv,D] */
    const u2_tensor *pos = tensor(e, "vit.pos"), *cls = tensor(e, "vit.cls");
    float *pc = u2_malloc((size_t)(e->Nv * e->D) * sizeof(float));
    memcpy(pc, e->m->params + pos->offset, (size_t)(e->Nv * e->D) * sizeof(float));
    for (int64_t d = 0; d < e->D; d++) pc[d] += e->m->params[cls->offset + d];
    const int64_t pdims[2] = {e->Nv, e->D};
    const char *pos_cls = u2g_init_f32(g, "vit.pos+cls", pc, 2, pdims, 0);
    free(pc);
    x = op2(e, "Add", x, pos_cls);
    x = stack(e, x, "vit", c->vit_layers, 1, c->vit_ln_eps, NULL, NULL, NULL);
    u2g_scope(g, "vit.ln_f");
    *tokens = layernorm(e, x, "vit.ln_f", c->vit_ln_eps, "visual_tokens");
    u2g_scope(g, "vit.embedding");
    *emb = normalized_row(e, *tokens, 0, "image_embedding");
}

/* input_ids, attention_mask [B,L] -> text_tokens [B,L,D]; text_embedding [B,D] */
static void text_encoder(ex *e, const char *ids, const char **tokens, const char **emb)
{
    u2g *g = e->g;
    const u2_config *c = e->c;
    const int64_t off = c->text_pos_offset;
    u2g_scope(g, "text.embed");
    const char *x = u2g_op(g, "Gather", U2G_IN(param(e, "text.word"), ids),
                           U2G_ATTRS(U2G_INT("axis", 0)), NULL);            /* [B,L,D] */
    const char *len = u2g_op(g, "Shape", U2G_IN(ids), U2G_ATTRS(U2G_INT("start", 1), U2G_INT("end", 2)),
                             NULL);                                          /* [1] = {L} */
    const char *end = off ? op2(e, "Add", len, U2G_CIS(g, off)) : len;
    const char *pos = u2g_op(g, "Slice", U2G_IN(param(e, "text.pos"), U2G_CIS(g, off), end,
                                                U2G_CIS(g, 0)), NULL, NULL); /* [L,D] */
    x = op2(e, "Add", x, pos);
    x = layernorm(e, x, "text.ln_emb", c->text_ln_eps, NULL);
    text_mask(e);
    u2g_scope(g, "text.mask");
    const char *mask = op2(e, "Unsqueeze", e->kadd, U2G_CIS(g, 1, 2));      /* [B,1,1,L] */
    const char *qvalid = op2(e, "Unsqueeze", e->qv, U2G_CIS(g, 2));         /* [B,L,1] */
    *tokens = stack(e, x, "text", c->text_layers, 0, c->text_ln_eps, mask, qvalid, "text_tokens");
    u2g_scope(g, "text.embedding");
    *emb = normalized_row(e, *tokens, 0, "text_embedding");
}

/* Grounding (topk): s = sigmoid(τ·x·eᵀ) over the item's real tokens (patches
 * V[1:], text T[1:] where the mask is set), S = Σ_t s, top-K of S.
 * Returns G = LN_gd(E[idx]) [B,K,D]; *idx [B,K] int64. */
static const char *grounding(ex *e, const char *V, const char *T, const char **idx)
{
    u2g *g = e->g;
    const u2_config *c = e->c;
    u2g_scope(g, "gd.scores");
    const char *Et = param_t(e, "gd.embed");                                /* [D,C] */
    const char *tau = u2g_op(g, "Clip", U2G_IN(param(e, "gd.tau"), u2g_cf(g, c->tau_min),
                                               u2g_cf(g, c->tau_max)), NULL, NULL); /* [1] */
    const char *from1 = U2G_CIS(g, 1), *tomax = U2G_CIS(g, INT64_MAX), *ax1 = U2G_CIS(g, 1);
    /* patches: every row after the image [CLS] */
    const char *Vp = u2g_op(g, "Slice", U2G_IN(V, from1, tomax, ax1), NULL, NULL); /* [B,Np,D] */
    const char *sv = op1(e, "Sigmoid", op2(e, "Mul", op2(e, "MatMul", Vp, Et), tau)); /* [B,Np,C] */
    const char *Sv = u2g_op(g, "ReduceSum", U2G_IN(sv, ax1), U2G_ATTRS(U2G_INT("keepdims", 0)), NULL);
    /* text: rows after [CLS], weighted 1 where real ([SEP] included), 0 on padding */
    const char *Tp = u2g_op(g, "Slice", U2G_IN(T, from1, tomax, ax1), NULL, NULL); /* [B,L-1,D] */
    const char *st = op1(e, "Sigmoid", op2(e, "Mul", op2(e, "MatMul", Tp, Et), tau)); /* [B,L-1,C] */
    const char *w = u2g_op(g, "Slice", U2G_IN(e->qv, from1, tomax, ax1), NULL, NULL); /* [B,L-1] */
    w = op2(e, "Unsqueeze", w, U2G_CIS(g, 2));                              /* [B,L-1,1] */
    const char *St = u2g_op(g, "ReduceSum", U2G_IN(op2(e, "Mul", st, w), ax1),
                            U2G_ATTRS(U2G_INT("keepdims", 0)), NULL);       /* [B,C] */
    const char *S = op2(e, "Add", Sv, St);                                  /* [B,C] */
    u2g_scope(g, "gd.topk");
    const char *tk[2] = {NULL, "grounded_indices"};
    u2g_op_n(g, "TopK", U2G_IN(S, U2G_CIS(g, e->K)),
             U2G_ATTRS(U2G_INT("axis", -1), U2G_INT("largest", 1), U2G_INT("sorted", 1)), 2, tk);
    *idx = tk[1];                                                            /* [B,K] */
    u2g_scope(g, "gd.tokens");
    const char *G = u2g_op(g, "Gather", U2G_IN(param(e, "gd.embed"), *idx),
                           U2G_ATTRS(U2G_INT("axis", 0)), NULL);            /* [B,K,D] */
    return layernorm(e, G, "gd.ln", c->head_ln_eps, NULL);
}

/* The grounded transformer over pair items [V; G; T] and the retrieval heads.
 * V [B,Nv,D], T [B,L,D]; vemb/temb: the L2-normalised CLS rows when the graph
 * already has them (NULL: computed here).  Outputs itm_logits [B,2],
 * cmcl_score [B], score [B] (and grounded_indices [B,K] from grounding). */
static void fusion(ex *e, const char *V, const char *T, const char *vemb, const char *temb)
{
    u2g *g = e->g;
    const u2_config *c = e->c;
    const int64_t NVG = e->Nv + e->NG;
    text_mask(e);
    const char *X;
    if (c->grounding == U2_GROUND_TOPK) {
        const char *idx;
        const char *G = grounding(e, V, T, &idx);
        u2g_scope(g, "fusion.input");
        X = u2g_op(g, "Concat", U2G_IN(V, G, T), U2G_ATTRS(U2G_INT("axis", 1)), NULL);
    } else {
        u2g_scope(g, "fusion.input");
        X = u2g_op(g, "Concat", U2G_IN(V, T), U2G_ATTRS(U2G_INT("axis", 1)), NULL);
    }                                                                        /* [B,T,D] T = NVG + L */

    /* mask: padding keys (the text part of kadd, zeros in front), plus the
     * segment rule V↛T, T↛V sliced from a constant [Tmax,Tmax] */
    u2g_scope(g, "fusion.mask");
    const char *front = U2G_CIS(g, 0, NVG, 0, 0);
    const char *keys = op2(e, "Pad", e->kadd, front);                       /* [B,T] */
    const char *mask = op2(e, "Unsqueeze", keys, U2G_CIS(g, 1, 2));         /* [B,1,1,T] */
    if (c->fusion == U2_FUSION_GROUNDED) {
        const int64_t Tm = NVG + e->Lmax;
        float *seg = u2_calloc((size_t)(Tm * Tm), sizeof(float));
        for (int64_t q = 0; q < Tm; q++)
            for (int64_t k = 0; k < Tm; k++) {
                int qv = q < e->Nv ? 0 : q < NVG ? 1 : 2, kv = k < e->Nv ? 0 : k < NVG ? 1 : 2;
                if ((qv == 0 && kv == 2) || (qv == 2 && kv == 0)) seg[q * Tm + k] = MASK_NEG;
            }
        const int64_t sdims[2] = {Tm, Tm};
        const char *segc = u2g_init_f32(g, "fusion.segment_mask", seg, 2, sdims, 0);
        free(seg);
        const char *len = u2g_op(g, "Shape", U2G_IN(e->mask_in),
                                 U2G_ATTRS(U2G_INT("start", 1), U2G_INT("end", 2)), NULL);
        const char *tn = op2(e, "Add", len, U2G_CIS(g, NVG));               /* [1] = {T} */
        const char *ends = u2g_op(g, "Concat", U2G_IN(tn, tn), U2G_ATTRS(U2G_INT("axis", 0)), NULL);
        const char *segm = u2g_op(g, "Slice", U2G_IN(segc, U2G_CIS(g, 0, 0), ends, U2G_CIS(g, 0, 1)),
                                  NULL, NULL);                               /* [T,T] */
        mask = op2(e, "Add", mask, segm);                                    /* [B,1,T,T] */
    }
    const char *qvalid = u2g_op(g, "Pad", U2G_IN(e->qv, front, u2g_cf(g, 1.0f)), NULL, NULL);
    qvalid = op2(e, "Unsqueeze", qvalid, U2G_CIS(g, 2));                    /* [B,T,1] */
    const char *F = stack(e, X, "fusion", c->fusion_layers, 0, c->text_ln_eps, mask, qvalid, NULL);

    /* ITM: relu(img(F_v0)) ⊙ relu(txt(F_t0)) -> out */
    u2g_scope(g, "itm");
    const char *a = op1(e, "Relu", gemm(e, row_of(e, F, 0, NULL), "itm.img", NULL));   /* [B,D] */
    const char *b = op1(e, "Relu", gemm(e, row_of(e, F, NVG, NULL), "itm.txt", NULL)); /* [B,D] */
    const char *itm = gemm(e, op2(e, "Mul", a, b), "itm.out", "itm_logits");          /* [B,2] */

    /* CMCL cosine of the unimodal CLS rows, and the retrieval score (SPEC §3) */
    u2g_scope(g, "cmcl");
    if (!vemb) vemb = normalized_row(e, V, 0, NULL);
    if (!temb) temb = normalized_row(e, T, 0, NULL);
    const char *cos = u2g_op(g, "ReduceSum", U2G_IN(op2(e, "Mul", vemb, temb), U2G_CIS(g, 1)),
                             U2G_ATTRS(U2G_INT("keepdims", 0)), "cmcl_score"); /* [B] */
    u2g_scope(g, "score");
    u2g_op(g, "Add", U2G_IN(row_of(e, itm, 1, NULL), op2(e, "Mul", cos, u2g_cf(g, 0.3f))), NULL,
           "score");
}

/* ------------------------------------------------------------- top level */

static const char *const graph_files[U2_ONNX_NGRAPHS] = {"image_encoder.onnx", "text_encoder.onnx",
                                                         "fusion.onnx", "unimo2.onnx"};

const char *u2_onnx_graph_file(unsigned gbit)
{
    for (int i = 0; i < U2_ONNX_NGRAPHS; i++)
        if (gbit == (1u << i)) return graph_files[i];
    return NULL;
}

void u2_onnx_opts_default(u2_onnx_opts *o)
{
    memset(o, 0, sizeof *o);
    o->graphs = U2_ONNX_ALL;
    o->external_threshold = U2_ONNX_EXTERNAL_DEFAULT;
}

int u2_onnx_parse_graphs(const char *list, const char *what, unsigned *out)
{
    static const struct {
        const char *name;
        unsigned bits;
    } names[] = {
        {"image_encoder", U2_ONNX_IMAGE}, {"image", U2_ONNX_IMAGE}, {"text_encoder", U2_ONNX_TEXT},
        {"text", U2_ONNX_TEXT},           {"fusion", U2_ONNX_FUSION}, {"unimo2", U2_ONNX_E2E},
        {"e2e", U2_ONNX_E2E},             {"all", U2_ONNX_ALL},
    };
    unsigned bits = 0;
    const char *p = list;
    while (*p) {
        size_t n = strcspn(p, ",");
        size_t m = n > 5 && !strncmp(p + n - 5, ".onnx", 5) ? n - 5 : n; /* "fusion.onnx" too */
        unsigned b = 0;
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
            if (strlen(names[i].name) == m && !strncmp(p, names[i].name, m)) b = names[i].bits;
        if (!b)
            return u2_fail(what, "unknown graph \"%.*s\" (image_encoder, text_encoder, fusion, "
                                 "unimo2 or all)", (int)n, p);
        bits |= b;
        p += n + (p[n] == ',');
    }
    if (!bits) return u2_fail(what, "no graph named");
    *out = bits;
    return 0;
}

int u2_onnx_supported(const u2_config *c, const char *what)
{
    if (c->grounding == U2_GROUND_NEAREST)
        return u2_fail(what, "grounding = nearest (the 1-to-1 map ablation) cannot be exported: "
                             "only topk and none are (doc/onnx.md)");
    return 0;
}

static void ex_init(ex *e, const u2_model *m, u2g *g)
{
    memset(e, 0, sizeof *e);
    const u2_config *c = &m->L.cfg;
    e->g = g;
    e->m = m;
    e->c = c;
    e->D = c->hidden;
    e->H = c->heads;
    e->dh = c->hidden / c->heads;
    e->P = c->patch_size;
    e->Np = u2_cfg_npatch(c);
    e->Nv = u2_cfg_nvis(c);
    e->C = c->dict_size;
    e->K = c->topk;
    e->Lmax = c->max_text_len;
    e->NG = c->grounding == U2_GROUND_TOPK ? c->topk : 0;
}

static const char *const graph_docs[U2_ONNX_NGRAPHS] = {
    "UNIMO-2 image encoder (ViT, pre-LN) of unimo2: normalised pixels -> visual tokens after the "
    "final LayerNorm and the L2-normalised [CLS] embedding.",
    "UNIMO-2 text encoder (post-LN) of unimo2: token ids and attention mask -> text tokens and "
    "the L2-normalised [CLS] embedding.",
    "UNIMO-2 grounded dictionary and grounded transformer of unimo2 over image-text pairs "
    "(item b pairs image b with text b): ITM logits, CMCL cosine, retrieval score and the "
    "grounded dictionary entries.",
    "UNIMO-2 end to end (unimo2): image encoder, text encoder, grounding, grounded transformer "
    "and the retrieval heads for image-text pairs.",
};

/* Build graph number gi (0..3) into g. */
static void build(ex *e, int gi)
{
    u2g *g = e->g;
    const u2_config *c = e->c;
    char shape[128], D[24];
    snprintf(D, sizeof D, "%d", c->hidden);
    const int want_img = gi == 0 || gi == 3, want_txt = gi == 1 || gi == 3, want_fus = gi >= 2;

    if (want_img) {
        snprintf(shape, sizeof shape, "B,3,%d,%d", c->image_size, c->image_size);
        u2g_input(g, "pixels", U2G_FLOAT, shape,
                  "Images, planar RGB, each value (x/255 - 0.5)/0.5 for bytes x (doc/model.md).");
    }
    if (want_txt)
        u2g_input(g, "input_ids", U2G_INT64, "B,L",
                  "Token ids: [CLS] text [SEP], then [PAD] up to L <= max_text_len.");
    if (gi == 2) {
        snprintf(shape, sizeof shape, "B,%lld,%s", (long long)e->Nv, D);
        u2g_input(g, "visual_tokens", U2G_FLOAT, shape, "visual_tokens of image_encoder.onnx.");
        snprintf(shape, sizeof shape, "B,L,%s", D);
        u2g_input(g, "text_tokens", U2G_FLOAT, shape, "text_tokens of text_encoder.onnx.");
    }
    if (want_txt || want_fus)
        u2g_input(g, "attention_mask", U2G_INT64, "B,L", "1 for real tokens, 0 for padding.");
    e->mask_in = "attention_mask";

    const char *V = "visual_tokens", *T = "text_tokens", *ve = NULL, *te = NULL;
    if (want_img) image_encoder(e, "pixels", &V, &ve);
    if (want_txt) text_encoder(e, "input_ids", &T, &te);
    if (want_fus) fusion(e, V, T, ve, te);

    if (want_img) {
        snprintf(shape, sizeof shape, "B,%lld,%s", (long long)e->Nv, D);
        u2g_output(g, "visual_tokens", U2G_FLOAT, shape,
                   "ViT outputs after the final LayerNorm: row 0 [CLS], then the patches in "
                   "row-major order.");
        snprintf(shape, sizeof shape, "B,%s", D);
        u2g_output(g, "image_embedding", U2G_FLOAT, shape, "L2-normalised visual_tokens[:, 0].");
    }
    if (want_txt) {
        snprintf(shape, sizeof shape, "B,L,%s", D);
        u2g_output(g, "text_tokens", U2G_FLOAT, shape,
                   "Text encoder outputs at every position (padding rows are not meaningful).");
        snprintf(shape, sizeof shape, "B,%s", D);
        u2g_output(g, "text_embedding", U2G_FLOAT, shape, "L2-normalised text_tokens[:, 0].");
    }
    if (want_fus) {
        u2g_output(g, "itm_logits", U2G_FLOAT, "B,2",
                   "Image-text matching logits; class 1 = matched.");
        u2g_output(g, "cmcl_score", U2G_FLOAT, "B",
                   "Cosine of the unimodal [CLS] rows (image_embedding . text_embedding).");
        u2g_output(g, "score", U2G_FLOAT, "B",
                   "Retrieval score itm_logits[:, 1] + 0.3 * cmcl_score (SPEC 3).");
        if (c->grounding == U2_GROUND_TOPK) {
            snprintf(shape, sizeof shape, "B,%d", c->topk);
            u2g_output(g, "grounded_indices", U2G_INT64, shape,
                       "Grounded dictionary entries chosen for the pair, by descending "
                       "accumulated score (ties: see doc/onnx.md).");
        }
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int u2_onnx_export(const u2_model *m, const char *outdir, const u2_onnx_opts *o)
{
    u2_onnx_opts def;
    if (!o) {
        u2_onnx_opts_default(&def);
        o = &def;
    }
    const u2_config *c = &m->L.cfg;
    if (u2_onnx_supported(c, c->name) != 0) return -1;
    if (u2_mkdir_p(outdir) != 0) return -1;
    if (access(outdir, W_OK | X_OK) != 0)
        return u2_fail(outdir, "cannot write into this directory: %s", strerror(errno));
    char *cj = u2_config_to_json(c, 1);
    unsigned graphs = o->graphs ? o->graphs : U2_ONNX_ALL;
    int rc = 0;
    for (int gi = 0; gi < U2_ONNX_NGRAPHS && rc == 0; gi++) {
        if (!(graphs & (1u << gi))) continue;
        const char *file = graph_files[gi];
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)(strlen(file) - 5), file);
        double t0 = now_s();
        u2g *g = u2g_new(name, graph_docs[gi]);
        ex e;
        ex_init(&e, m, g);
        build(&e, gi);
        size_t plen = strlen(outdir) + strlen(file) + 2;
        char *path = u2_malloc(plen);
        snprintf(path, plen, "%s/%s", outdir, file);
        const char *meta[4] = {"unimo2.config", cj, "unimo2.graph", name};
        u2g_model_info info = {
            .ir_version = U2_ONNX_IR_VERSION,
            .opset = U2_ONNX_OPSET,
            .producer_name = "unimo2",
            .producer_version = PACKAGE_VERSION,
            .doc = graph_docs[gi],
            .nmeta = 2,
            .meta_kv = meta,
        };
        int64_t bytes = 0;
        int ext = 0;
        rc = u2g_write(g, path, &info, o->external_threshold, &bytes, &ext);
        if (rc == 0 && o->verbose) {
            fprintf(stderr, "export: wrote %s: %d nodes, %d initializers, %.1f MB", path,
                    u2g_node_count(g), u2g_initializer_count(g), (double)bytes / 1e6);
            if (ext) fprintf(stderr, " + weights in %s.data", file);
            fprintf(stderr, ", %.2f s\n", now_s() - t0);
        }
        free(path);
        u2g_free(g);
    }
    free(cj);
    return rc;
}
