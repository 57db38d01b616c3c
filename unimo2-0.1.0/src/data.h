/* Training data: the three corpora of a data directory (doc/data.md), and
 * the deterministic batches built from them.
 *
 *   DIR/pairs.jsonl   {"image": "rel/path.webp", "caption": "..."}  per line
 *   DIR/images.jsonl  {"image": "rel/path.webp"}  (or a folder DIR/images/)
 *   DIR/texts.txt     one UTF-8 sentence per line
 *
 * Bad entries (a missing or corrupt image, an empty caption, invalid UTF-8,
 * a line that is not JSON) are skipped with a warning naming the file and
 * line, and counted; a corpus with nothing usable at all is an error.
 *
 * A batch is a pure function of (seed, step): each corpus is read in epochs,
 * each epoch in its own seeded order, so training can stop and resume at any
 * step and see exactly the same data. */
#ifndef UNIMO2_DATA_H
#define UNIMO2_DATA_H

#include "augment.h"
#include "model.h"
#include "tokenizer.h"

#include <stdint.h>

typedef struct {
    int32_t *ids;   /* [CLS] ... [SEP], no padding */
    uint8_t *ws;    /* starts a word */
    int len;
} u2_text;

typedef struct {
    char *dir;
    int npairs;
    char **pair_img;
    u2_text *pair_txt;
    int ntexts;
    u2_text *texts;
    int nimages;
    char **images;
    /* what was skipped while loading */
    int64_t bad_lines, missing_images, corrupt_images, empty_captions, bad_utf8, truncated;
} u2_corpus;

typedef struct {
    int pairs, texts, images; /* use each corpus (ablations turn them off) */
    int max_len;              /* text length including [CLS] and [SEP] */
    int validate_images;      /* decode every image once while loading */
    int quiet;
} u2_corpus_opts;

int u2_corpus_load(u2_corpus *c, const char *dir, const u2_tokenizer *tok,
                   const u2_corpus_opts *o);
void u2_corpus_free(u2_corpus *c);

typedef struct {
    int bp, bt, bi;          /* pairs, texts, images (each image gives two views) */
    float mask_pairs, mask_texts;
    int whole_word;
    int image_size;
    int vocab;               /* the tokenizer's size: random tokens come from [4, vocab-2] */
    int32_t mask_id;
    uint64_t seed;
    u2_augment_params aug;
} u2_batch_opts;

/* A batch and its buffers (reused across steps). */
typedef struct {
    u2_batch b;
    int64_t step;
    float *pixels;
    int32_t *ids, *attn, *labels;
    size_t cap_pix, cap_txt;
} u2_batch_buf;

/* Build the batch of `step`.  Returns 0, or -1 when an image that loaded
 * before cannot be read now (the error is recorded). */
int u2_batch_make(const u2_corpus *c, const u2_batch_opts *o, int64_t step, u2_batch_buf *out);
void u2_batch_buf_free(u2_batch_buf *b);

/* MLM masking of one tokenised text in place (exposed for tests): chooses
 * max(1, round(ratio * content tokens)) positions (whole words when asked),
 * 80% [MASK] / 10% random token / 10% unchanged; labels get the original ids
 * at the chosen positions and -1 elsewhere. */
void u2_mlm_mask(int32_t *ids, const uint8_t *ws, int len, float ratio, int whole_word,
                 int32_t mask_id, int vocab, u2_rng *r, int32_t *labels);

/* Prefetching: a worker thread builds the next batches while a step runs:
 * batch indices first, first + stride, first + 2 stride, ... */
typedef struct u2_prefetch u2_prefetch;
u2_prefetch *u2_prefetch_start(const u2_corpus *c, const u2_batch_opts *o, int64_t first,
                               int64_t stride);
/* The batch of the next step (valid until the following call); NULL on error. */
const u2_batch_buf *u2_prefetch_next(u2_prefetch *p);
void u2_prefetch_stop(u2_prefetch *p);

#endif
