/* Parameters: one arena, a name/shape table, and a struct of pointers into it
 * (llm.c style).  Gradients and AdamW moments use the same layout, so a
 * u2_weights view can be bound over any of them. */
#ifndef UNIMO2_PARAMS_H
#define UNIMO2_PARAMS_H

#include "model_config.h"
#include "rng.h"

#include <stddef.h>
#include <stdint.h>

#define U2_MAX_LAYERS 64

typedef struct {
    float *ln1_w, *ln1_b, *qkv_w, *qkv_b, *proj_w, *proj_b;
    float *ln2_w, *ln2_b, *fc1_w, *fc1_b, *fc2_w, *fc2_b;
} u2_block_w;

typedef struct {
    float *patch_w, *patch_b, *cls, *vpos;
    u2_block_w vit[U2_MAX_LAYERS];
    float *vln_w, *vln_b;
    float *word, *tpos, *tln_w, *tln_b;
    u2_block_w text[U2_MAX_LAYERS];
    float *gd_embed, *gd_tau, *gd_ln_w, *gd_ln_b;
    u2_block_w fusion[U2_MAX_LAYERS];
    float *mlm_fc_w, *mlm_fc_b, *mlm_ln_w, *mlm_ln_b, *mlm_bias;
    float *itm_img_w, *itm_img_b, *itm_txt_w, *itm_txt_b, *itm_out_w, *itm_out_b;
    float *cmcl_temp;
    float *vcl_fc1_w, *vcl_fc1_b, *vcl_fc2_w, *vcl_fc2_b;
} u2_weights;

/* How a tensor is initialised (and how test weights are generated). */
typedef enum {
    U2_INIT_LINEAR, /* N(0, 0.02); test weights: scale sqrt(3/fan_in) */
    U2_INIT_BIAS,   /* 0 */
    U2_INIT_LN_W,   /* 1 */
    U2_INIT_LN_B,   /* 0 */
    U2_INIT_EMBED,  /* N(0, 0.02) */
    U2_INIT_DICT,   /* Uniform(-1/C, 1/C) */
    U2_INIT_TAU,    /* tau_init */
    U2_INIT_TEMP,   /* temp_init */
} u2_init_kind;

typedef struct {
    char name[64];
    int ndim;
    int64_t shape[4];
    int64_t numel, offset; /* in floats, into the arena */
    u2_init_kind init;
    int64_t fan_in;
    int decay;             /* AdamW weight decay applies (ndim >= 2) */
    int full_index;        /* position in the full (grounding=topk) tensor list */
    size_t woff;           /* where its pointer lives in u2_weights */
} u2_tensor;

typedef struct {
    u2_config cfg;
    int n;
    u2_tensor *t;
    int64_t total; /* floats */
} u2_layout;

/* Build the tensor table of a config (validated first). */
int u2_layout_build(u2_layout *L, const u2_config *cfg);
void u2_layout_free(u2_layout *L);
const u2_tensor *u2_layout_find(const u2_layout *L, const char *name);
/* Point every field of w into base (an arena of L->total floats). */
void u2_weights_bind(const u2_layout *L, float *base, u2_weights *w);

/* Fill an arena: the model's initialisation (doc/model.md), from a seed. */
void u2_params_init(const u2_layout *L, float *base, uint64_t seed);
/* The deterministic test weights of doc/testvectors.md (shared with the
 * PyTorch reference). */
void u2_params_test_weights(const u2_layout *L, float *base, uint64_t seed);

#endif
