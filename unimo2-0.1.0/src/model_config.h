/* Model configuration (doc/model.md "Configuration"). */
#ifndef UNIMO2_MODEL_CONFIG_H
#define UNIMO2_MODEL_CONFIG_H

#include <stdint.h>

typedef enum { U2_GROUND_TOPK = 0, U2_GROUND_NEAREST = 1, U2_GROUND_NONE = 2 } u2_grounding;
typedef enum { U2_FUSION_GROUNDED = 0, U2_FUSION_FULL = 1 } u2_fusion;

typedef struct {
    char name[32];
    int image_size, patch_size, patch_pad;
    int hidden, heads, ffn;
    int vit_layers, text_layers, fusion_layers;
    int vocab_size, max_text_len;
    int dict_size, topk;
    u2_grounding grounding;
    u2_fusion fusion;
    float vit_ln_eps, text_ln_eps, head_ln_eps;
    int text_pos_offset;
    float tau_init, tau_min, tau_max;
    float temp_init, temp_min, temp_max;
    float vcl_temp;
    float w_mlm, w_itm, w_cmcl, w_vcl, w_ground;
    float ground_q, ground_e;
} u2_config;

/* Built-in configurations: "tiny", "mini", "small", "base". */
int u2_config_builtin(const char *name, u2_config *c);
/* A built-in name, or a path to a JSON file (keys of doc/model.md; unknown keys
 * are an error; missing keys take the tiny defaults, or those of "base": NAME). */
int u2_config_load(const char *name_or_path, u2_config *c);
/* Parse a JSON text (what = name used in error messages). */
int u2_config_from_json(const char *json, const char *what, u2_config *c);
/* Serialise to a JSON text (malloc'd; compact when compact != 0). */
char *u2_config_to_json(const u2_config *c, int compact);
/* Check ranges and consistency; records an error naming `what`. */
int u2_config_validate(const u2_config *c, const char *what);

/* Derived sizes. */
static inline int u2_cfg_grid(const u2_config *c)
{
    return (c->image_size + 2 * c->patch_pad - c->patch_size) / c->patch_size + 1;
}
static inline int u2_cfg_npatch(const u2_config *c) { return u2_cfg_grid(c) * u2_cfg_grid(c); }
static inline int u2_cfg_nvis(const u2_config *c) { return 1 + u2_cfg_npatch(c); }

const char *u2_grounding_name(u2_grounding g);
const char *u2_fusion_name(u2_fusion f);

#endif
