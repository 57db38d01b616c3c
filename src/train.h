/* The native trainer: three corpora, AdamW, checkpoints that resume exactly. */
#ifndef UNIMO2_TRAIN_H
#define UNIMO2_TRAIN_H

#include "optim.h"

#include <stdint.h>

typedef struct {
    const char *config;    /* NAME or FILE.json (ignored on --resume) */
    const char *data_dir;
    const char *out_dir;
    const char *tokenizer; /* DIR with vocab.json + merges.txt; NULL: out_dir's, data's, or train one */
    int64_t steps;         /* total steps of the run */
    int resume;
    uint64_t seed;
    int bp, bt, bi;        /* pairs, texts, images per micro-batch (each image gives 2 views) */
    int accum;             /* micro-batches per step (gradient accumulation; default 1):
                            * the step's gradient is the mean of theirs, so N data-parallel
                            * ranks of one micro-batch each compute the same step */
    int use_pairs, use_texts, use_images;
    float mask_pairs, mask_texts;
    int whole_word;
    const char *grounding, *fusion; /* ablation overrides, or NULL */
    u2_optim_cfg optim;
    int64_t ckpt_every;    /* steps between checkpoints (0: only at the end) */
    int64_t stop_at;       /* testing: behave as if SIGTERM arrived after this step (0: off) */
    int64_t inject_nan_at; /* testing: poison a weight before this step (0: off) */
    int inject_fail_rank;  /* testing: this data-parallel rank ends itself (_exit(1)), */
    int64_t inject_fail_step; /* before this step (0: off), */
    int inject_fail_hang;  /* or hangs instead */
    int quiet;
    int json;              /* one JSON object per logged step on stdout */
    int64_t log_every;
} u2_train_opts;

void u2_train_defaults(u2_train_opts *o);
/* Returns 0 when the run finished, 1 on error (message recorded), 130 when
 * interrupted after writing a checkpoint.  Data-parallel (dist.h: every rank of
 * the job calls it with the same options): the ranks stop together, and 3 is a
 * rank that stops because another failed (that rank and rank 0 report it). */
int u2_train(const u2_train_opts *o);

#endif
