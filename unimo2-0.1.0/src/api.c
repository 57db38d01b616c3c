/* The public API (src/unimo2.h) over the internal modules. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "unimo2.h"
#include "image.h"
#include "infer.h"
#include "kernels.h"
#include "model.h"
#include "tokenizer.h"
#include "util.h"

#include <math.h>
#include <string.h>
#include <sys/stat.h>

struct unimo2_model {
    u2_model m;
    u2_tokenizer *tok;
    u2_fwd f;
};

UNIMO2_API const char *unimo2_last_error(void) { return u2_errmsg(); }

UNIMO2_API void unimo2_set_threads(int n) { u2_set_num_threads(n); }

UNIMO2_API unimo2_model *unimo2_load(const char *path)
{
    unimo2_model *um = u2_calloc(1, sizeof *um);
    if (u2_model_load(&um->m, path) != 0) {
        free(um);
        return NULL;
    }
    char dir[4096], vocab[4200];
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(dir, sizeof dir, "%s", path);
    } else {
        const char *slash = strrchr(path, '/');
        snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) : 1, slash ? path : ".");
    }
    snprintf(vocab, sizeof vocab, "%s/vocab.json", dir);
    if (stat(vocab, &st) == 0) {
        um->tok = u2_tok_load_dir(dir);
        if (!um->tok) {
            unimo2_free(um);
            return NULL;
        }
        char fp[17];
        snprintf(fp, sizeof fp, "%016llx", (unsigned long long)u2_tok_fingerprint(um->tok));
        if (um->m.tokenizer_fp[0] && strcmp(fp, um->m.tokenizer_fp) != 0) {
            u2_fail(vocab, "is not the tokenizer this model was trained with (fingerprint %s, "
                           "the model expects %s)", fp, um->m.tokenizer_fp);
            unimo2_free(um);
            return NULL;
        }
    }
    u2_fwd_init(&um->f, &um->m, 0);
    return um;
}

UNIMO2_API void unimo2_free(unimo2_model *um)
{
    if (!um) return;
    if (um->f.m) u2_fwd_free(&um->f);
    if (um->tok) u2_tok_free(um->tok);
    u2_model_free(&um->m);
    free(um);
}

UNIMO2_API int unimo2_dim(const unimo2_model *um) { return um->m.L.cfg.hidden; }

UNIMO2_API int unimo2_image_size(const unimo2_model *um) { return um->m.L.cfg.image_size; }

static int need_tok(const unimo2_model *um)
{
    if (!um->tok)
        return u2_fail("model", "has no tokenizer (vocab.json and merges.txt beside it)");
    return 0;
}

static float *load_pixels(const unimo2_model *um, const char *const *paths, int n)
{
    const int S = um->m.L.cfg.image_size;
    float *px = u2_malloc(sizeof(float) * (size_t)n * 3 * (size_t)S * (size_t)S);
    if (u2_image_load_batch(paths, n, S, px) != 0) {
        free(px);
        return NULL;
    }
    return px;
}

#define ENC_CHUNK 64

UNIMO2_API int unimo2_embed_pixels(unimo2_model *um, const float *pixels, int n, float *out)
{
    const int S = um->m.L.cfg.image_size, D = um->m.L.cfg.hidden;
    for (int s = 0; s < n; s += ENC_CHUNK) {
        int k = n - s < ENC_CHUNK ? n - s : ENC_CHUNK;
        u2_fwd_reset(&um->f);
        u2_infer_encode(&um->f, pixels + (size_t)s * 3 * S * S, k, NULL, NULL, 0, 2);
        u2_infer_image_embeddings(&um->f, out + (size_t)s * D);
    }
    return 0;
}

UNIMO2_API int unimo2_embed_images(unimo2_model *um, const char *const *paths, int n, float *out)
{
    float *px = load_pixels(um, paths, n);
    if (!px) return -1;
    int rc = unimo2_embed_pixels(um, px, n, out);
    free(px);
    return rc;
}

UNIMO2_API int unimo2_embed_texts(unimo2_model *um, const char *const *texts, int n, float *out)
{
    if (need_tok(um)) return -1;
    int32_t *ids, *attn;
    int trunc = 0;
    int tl = u2_infer_tokenize(um->tok, texts, n, um->m.L.cfg.max_text_len, &ids, &attn, &trunc);
    if (tl < 0) return -1;
    const int D = um->m.L.cfg.hidden;
    for (int s = 0; s < n; s += ENC_CHUNK) {
        int k = n - s < ENC_CHUNK ? n - s : ENC_CHUNK;
        u2_fwd_reset(&um->f);
        u2_infer_encode(&um->f, NULL, 0, ids + (size_t)s * tl, attn + (size_t)s * tl, k, tl);
        u2_infer_text_embeddings(&um->f, out + (size_t)s * D);
    }
    free(ids);
    free(attn);
    return trunc;
}

UNIMO2_API int unimo2_score_matrix(unimo2_model *um, const char *const *images, int ni,
                                   const char *const *texts, int nt, int shortlist, float *out)
{
    if (need_tok(um)) return -1;
    float *px = load_pixels(um, images, ni);
    if (!px) return -1;
    int32_t *ids, *attn;
    int tl = u2_infer_tokenize(um->tok, texts, nt, um->m.L.cfg.max_text_len, &ids, &attn, NULL);
    if (tl < 0) {
        free(px);
        return -1;
    }
    u2_fwd_reset(&um->f);
    u2_infer_encode(&um->f, px, ni, ids, attn, nt, tl);
    int64_t n = (int64_t)ni * nt;
    int32_t *ii = u2_malloc(sizeof(int32_t) * (size_t)n), *tt = u2_malloc(sizeof(int32_t) * (size_t)n);
    int64_t np = 0;
    if (shortlist <= 0 || shortlist >= nt) {
        for (int i = 0; i < ni; i++)
            for (int j = 0; j < nt; j++) {
                ii[np] = i;
                tt[np++] = j;
            }
    } else {
        float *cos = u2_malloc(sizeof(float) * (size_t)nt);
        int32_t *order = u2_malloc(sizeof(int32_t) * (size_t)nt);
        for (int i = 0; i < ni; i++) {
            for (int j = 0; j < nt; j++) {
                cos[j] = u2_cmcl_cosine(&um->f, i, j);
                out[(size_t)i * nt + j] = U2_CMCL_WEIGHT * cos[j] - 1e4f;
            }
            u2_topk(cos, nt, shortlist, order);
            for (int k = 0; k < shortlist; k++) {
                ii[np] = i;
                tt[np++] = order[k];
            }
        }
        free(cos);
        free(order);
    }
    float *sc = u2_malloc(sizeof(float) * (size_t)(np ? np : 1));
    u2_infer_pairs(&um->f, ii, tt, np, NULL, NULL, sc);
    for (int64_t p = 0; p < np; p++) out[(size_t)ii[p] * nt + tt[p]] = sc[p];
    free(sc);
    free(ii);
    free(tt);
    free(px);
    free(ids);
    free(attn);
    return 0;
}

UNIMO2_API int unimo2_score(unimo2_model *um, const char *image, const char *text,
                            unimo2_pair_score *out)
{
    if (need_tok(um)) return -1;
    float *px = load_pixels(um, &image, 1);
    if (!px) return -1;
    int32_t *ids, *attn;
    int tl = u2_infer_tokenize(um->tok, &text, 1, um->m.L.cfg.max_text_len, &ids, &attn, NULL);
    if (tl < 0) {
        free(px);
        return -1;
    }
    u2_fwd_reset(&um->f);
    u2_infer_encode(&um->f, px, 1, ids, attn, 1, tl);
    int32_t zero = 0;
    u2_infer_pairs(&um->f, &zero, &zero, 1, &out->itm_logit, &out->cmcl, &out->score);
    free(px);
    free(ids);
    free(attn);
    return 0;
}
