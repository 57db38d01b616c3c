/* Inference on encoded images and texts: embeddings, and the ITM + CMCL
 * score of many (image, text) pairs through the grounded transformer, in
 * chunks so memory stays bounded (SPEC §3: score = ITM_logit[1] + 0.3 cmcl). */
#ifndef UNIMO2_INFER_H
#define UNIMO2_INFER_H

#include "model.h"
#include "tokenizer.h"

#define U2_CMCL_WEIGHT 0.3f

/* Run both encoders (no saved activations).  Either count may be 0. */
void u2_infer_encode(u2_fwd *f, const float *pixels, int ni, const int32_t *ids,
                     const int32_t *attn, int nt, int tl);
/* L2-normalised CLS embeddings of the encoded images / texts: [ni, D] / [nt, D]. */
void u2_infer_image_embeddings(const u2_fwd *f, float *out);
void u2_infer_text_embeddings(const u2_fwd *f, float *out);
/* For n pairs (img[i], txt[i]) of encoded rows: the matched-class ITM logit
 * (logit[1]), the CMCL cosine, and score = itm + 0.3 cmcl (any output may be NULL). */
void u2_infer_pairs(u2_fwd *f, const int32_t *img, const int32_t *txt, int64_t n, float *itm,
                    float *cmcl, float *score);

/* Tokenise n texts to [n, tl] ids and mask (tl = the longest, at most
 * max_len).  Returns tl, or -1 (error recorded).  *truncated counts texts cut
 * to max_len.  what(i) names text i in errors. */
int u2_infer_tokenize(const u2_tokenizer *tok, const char *const *texts, int n, int max_len,
                      int32_t **ids, int32_t **attn, int *truncated);

#endif
