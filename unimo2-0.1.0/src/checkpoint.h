/* Training checkpoints: one safetensors file holding the parameters (same
 * names as a model file), the AdamW moments ("adam.m.<name>", "adam.v.<name>")
 * and, in the metadata, the config, the tokenizer fingerprint and the
 * trainer's state as JSON (step, seed, options, data position).  Written
 * atomically: a temp file, fsync, rename — a kill leaves the old one intact. */
#ifndef UNIMO2_CHECKPOINT_H
#define UNIMO2_CHECKPOINT_H

#include "model.h"
#include "optim.h"

int u2_ckpt_save(const char *path, const u2_model *m, const u2_optim *o, const char *state_json);
/* Loads the model (allocated here) and the moments into o (allocated here with
 * cfg taken from the caller's o->cfg); *state_json is malloc'd. */
int u2_ckpt_load(const char *path, u2_model *m, u2_optim *o, char **state_json);

#endif
