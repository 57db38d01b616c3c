/* unimo2 — UNIMO-2 grounded vision-language model on CPUs.  Public API.
 *
 *   unimo2_model *m = unimo2_load("run/");          // a model directory
 *   float img[768], txt[768];
 *   unimo2_embed_images(m, &path, 1, img);          // L2-normalised embeddings
 *   unimo2_pair_score s;
 *   unimo2_score(m, "cat.webp", "a cat on a mat", &s); // ITM logit + 0.3 cosine
 *   unimo2_free(m);
 *
 * Functions return 0 (or a count) on success and -1 on failure, NULL for a
 * failed load; unimo2_last_error() then says what went wrong, naming the file.
 * One model may be used by one thread at a time; each call uses the threads
 * set by unimo2_set_threads (default: UNIMO2_THREADS or all cores). */
#ifndef UNIMO2_H
#define UNIMO2_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define UNIMO2_API __attribute__((visibility("default")))
#else
#define UNIMO2_API
#endif

typedef struct unimo2_model unimo2_model;

typedef struct {
    float itm_logit; /* matched-class ITM logit (logit[1]) */
    float cmcl;      /* cosine of the unimodal image and text embeddings */
    float score;     /* itm_logit + 0.3 * cmcl (SPEC §3) */
} unimo2_pair_score;

/* Library version, e.g. "0.1.0". */
UNIMO2_API const char *unimo2_version(void);
/* Name of the kernel set in use: "scalar", "avx2", "avx512" or "neon". */
UNIMO2_API const char *unimo2_isa(void);
/* The last error of this thread, one line naming the file and the problem. */
UNIMO2_API const char *unimo2_last_error(void);
UNIMO2_API void unimo2_set_threads(int n);

/* Load a model directory (model.safetensors + vocab.json + merges.txt) or a
 * .safetensors file (the tokenizer is then looked for beside it). */
UNIMO2_API unimo2_model *unimo2_load(const char *path);
UNIMO2_API void unimo2_free(unimo2_model *m);
/* Embedding width D and the input image side S. */
UNIMO2_API int unimo2_dim(const unimo2_model *m);
UNIMO2_API int unimo2_image_size(const unimo2_model *m);

/* L2-normalised image embeddings (ViT [CLS]) of n WebP files into out[n][D]. */
UNIMO2_API int unimo2_embed_images(unimo2_model *m, const char *const *paths, int n, float *out);
/* The same from preprocessed pixels [n][3][S][S] ((x/255 - 0.5)/0.5). */
UNIMO2_API int unimo2_embed_pixels(unimo2_model *m, const float *pixels, int n, float *out);
/* L2-normalised text embeddings (text-encoder [CLS]) of n UTF-8 texts.
 * Returns the number of texts truncated to the model's length, or -1. */
UNIMO2_API int unimo2_embed_texts(unimo2_model *m, const char *const *texts, int n, float *out);

/* Score one image file against one text through the grounded transformer. */
UNIMO2_API int unimo2_score(unimo2_model *m, const char *image, const char *text,
                            unimo2_pair_score *out);
/* Scores of every image against every text: out[ni][nt].  shortlist = 0:
 * the exact score of every pair; shortlist = k > 0: per image, the k texts
 * with the best CMCL cosine are re-scored with ITM and the rest keep
 * 0.3 * cosine minus a large constant (so they rank below the shortlist). */
UNIMO2_API int unimo2_score_matrix(unimo2_model *m, const char *const *images, int ni,
                                   const char *const *texts, int nt, int shortlist, float *out);

#ifdef __cplusplus
}
#endif
#endif
