/* The UNIMO-2 model (doc/model.md): parameters, forward pass with saved
 * activations, heads and losses.  Backward passes are in backward.c. */
#ifndef UNIMO2_MODEL_H
#define UNIMO2_MODEL_H

#include "arena.h"
#include "model_config.h"
#include "params.h"

#include <stdint.h>

typedef struct {
    u2_layout L;
    float *params; /* L.total floats */
    u2_weights w;
    char tokenizer_fp[17]; /* XXH3-64 hex of the tokenizer, "" if unknown */
} u2_model;

/* A model of this config with zeroed parameters (call u2_params_init after). */
int u2_model_create(u2_model *m, const u2_config *cfg);
/* Load from a .safetensors file or a model directory (model.safetensors
 * inside).  The config comes from the file's metadata, else config.json beside
 * it.  Every tensor must be present with the config's shape. */
int u2_model_load(u2_model *m, const char *path);
int u2_model_save(const u2_model *m, const char *path);
struct u2_st_file_s;
/* The model held in an already-read safetensors file (config from its
 * metadata, else from cfgpath when not NULL); tensors named "adam.*" are
 * ignored (checkpoints). */
int u2_model_from_st(u2_model *m, const struct u2_st_file_s *st, const char *cfgpath);
void u2_model_free(u2_model *m);
int64_t u2_model_count(const u2_model *m);

/* ----------------------------------------------------------- activations */
typedef struct {
    float *ln1, *ln1_mean, *ln1_rstd;
    float *qkv, *probs, *ctx;
    float *res1; /* x + attention output */
    float *ln2, *ln2_mean, *ln2_rstd;
    float *fc1_pre, *fc1_act;
    float *res2; /* (pre-LN: x1, post-LN: ln1) + MLP output */
    float *out;  /* block output: pre-LN res2, post-LN ln2 */
} u2_block_act;

typedef struct {
    int64_t B, T;
    int pre_ln;
    float *in;   /* [B*T, D] */
    float *mask; /* [B, T, T] additive, or NULL */
    int nblk;
    u2_block_act *blk;
    float *out;  /* [B*T, D] */
} u2_stack_act;

enum { U2_ITEM_PAIR = 0, U2_ITEM_TEXT = 1, U2_ITEM_IMAGE = 2 };

typedef struct {
    int kind;
    int img, txt;   /* encoder rows, -1 if absent */
    int ground;     /* counts in the grounding loss */
    int ntok;       /* grounding inputs (real tokens) */
    float *x;       /* [ntok, D] */
    float *s;       /* [ntok, C] scores (topk) */
    float *S;       /* [C] */
    int32_t *idx;   /* [K] (topk) or [ntok] (nearest) */
    int ng;         /* grounded tokens of this item */
    /* grounding-loss intermediates (topk) */
    float *sk;      /* [ntok, K]  s[t, idx_k] */
    float *q;       /* [ntok, K] */
    float *ehat;    /* [K, D] */
    float *xhat;    /* [ntok, D] */
} u2_item;

typedef struct {
    int kind, n, first;  /* items first .. first+n-1 */
    int64_t nv, ng, nt;  /* segment lengths (ng: max over the group's items) */
    int64_t T;
    float *g_raw, *g_mean, *g_rstd; /* [n*ng, D] E[idx] rows before LayerNorm */
    u2_stack_act st;
} u2_group;

/* A batch: images [n_img,3,S,S] (pair images first, then image-only views:
 * view n and view n_views/2+n are the two views of one image); texts [n_txt, tl]
 * (pair captions first, then text-only). */
typedef struct {
    int n_img, n_txt, tl;
    const float *pixels;
    const int32_t *ids, *attn, *mlm_labels; /* [n_txt, tl]; labels -1 = not masked */
    int bp, bt, bi;                         /* pairs, text-only, image-only items */
    const int32_t *itm_neg_img, *itm_neg_txt; /* [bp], or NULL: sampled (below) */
    /* When the negatives are not given, they are drawn from the in-batch CMCL
     * similarity (softmax over the other items of a row at the CMCL
     * temperature, no gradient) with this seed.  bp < 2 means no negatives. */
    uint64_t neg_seed;
} u2_batch;

typedef struct {
    double mlm_pairs, mlm_texts, itm, cmcl, vcl;
    double ground_pairs, ground_pairs_q, ground_pairs_e;
    double ground_texts, ground_texts_q, ground_texts_e;
    double ground_images, ground_images_q, ground_images_e;
    double pairs, texts, images, total;
    int mlm_pairs_n, mlm_texts_n;   /* masked positions */
    int mlm_pairs_ok, mlm_texts_ok; /* argmax == label */
    int itm_ok, itm_n;
} u2_losses;

typedef struct {
    const u2_model *m;
    u2_arena arena;
    int save; /* keep every activation for the backward pass */
    int nthreads;

    /* ViT */
    int n_img;
    const float *pixels;
    float *patches, *patch_out; /* [n*Np, 3PP], [n*Np, D] */
    u2_stack_act vit;
    float *vit_mean, *vit_rstd;
    float *V; /* [n*Nv, D] after ln_f */

    /* text encoder */
    int n_txt, tl;
    const int32_t *ids, *attn;
    int *tlen;       /* real tokens per text */
    float *emb;      /* [n*tl, D] word + pos, before LayerNorm */
    float *emb_mean, *emb_rstd;
    u2_stack_act text;
    float *Tx;       /* [n*tl, D] text encoder output */

    /* grounding + fusion */
    int nitems;
    u2_item *items;
    u2_group groups[3];
    int ngroups;

    /* heads */
    const u2_batch *batch;
    int mlm_n;
    int32_t *mlm_item, *mlm_pos, *mlm_label;
    float *mlm_in, *mlm_pre, *mlm_act, *mlm_mean, *mlm_rstd, *mlm_h, *mlm_logits;
    int itm_n, nneg;
    int32_t *neg_img, *neg_txt; /* the negatives used, [nneg] */
    float *itm_v, *itm_t, *itm_a, *itm_b, *itm_prod, *itm_logits;
    int cmcl_n;
    float *cmcl_v, *cmcl_t, *cmcl_vn, *cmcl_tn, *cmcl_logits;
    int vcl_n; /* views = 2N */
    float *vcl_in, *vcl_h, *vcl_zr, *vcl_zn, *vcl_z, *vcl_logits;

    u2_losses loss;

    /* Testing hook: when set, item i uses force_idx[i] as its selected
     * dictionary entries instead of searching (gradients are defined for a
     * fixed selection; finite differences must not flip it). */
    int32_t **force_idx;
} u2_fwd;

void u2_fwd_init(u2_fwd *f, const u2_model *m, int save);
void u2_fwd_free(u2_fwd *f);
/* Forget the last pass (keeps memory). */
void u2_fwd_reset(u2_fwd *f);

/* Encoders.  ViT output V [n*Nv, D]; text output Tx [n*tl, D]. */
void u2_vit_forward(u2_fwd *f, const float *pixels, int n);
void u2_text_forward(u2_fwd *f, const int32_t *ids, const int32_t *attn, int n, int tl);

/* Grounding + grounded transformer over items (after both encoders).  Items
 * must come grouped by kind in the order pair, text, image. */
void u2_fusion_forward(u2_fwd *f, const u2_item *items, int nitems);

/* A whole training batch: encoders, fusion items, heads and every loss. */
void u2_forward_batch(u2_fwd *f, const u2_batch *b);

/* Row r of the fusion output of item i, and the visual / text CLS rows. */
const float *u2_fusion_row(const u2_fwd *f, int item, int64_t r);
int64_t u2_item_text_start(const u2_fwd *f, int item);

/* Heads used at inference: ITM logits [2] of item i; cosine of (image, text). */
void u2_itm_logits(const u2_fwd *f, int item, float out[2]);
float u2_cmcl_cosine(const u2_fwd *f, int img, int txt);

#endif
