#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "infer.h"
#include "kernels.h"
#include "ops.h"
#include "util.h"

#include <string.h>

void u2_infer_encode(u2_fwd *f, const float *pixels, int ni, const int32_t *ids,
                     const int32_t *attn, int nt, int tl)
{
    u2_vit_forward(f, pixels, ni);
    u2_text_forward(f, ids, attn, nt, tl);
}

void u2_infer_image_embeddings(const u2_fwd *f, float *out)
{
    const int64_t D = f->m->L.cfg.hidden, nv = u2_cfg_nvis(&f->m->L.cfg);
    for (int i = 0; i < f->n_img; i++) u2_l2norm_rows(out + i * D, NULL, f->V + i * nv * D, 1, D);
}

void u2_infer_text_embeddings(const u2_fwd *f, float *out)
{
    const int64_t D = f->m->L.cfg.hidden;
    for (int i = 0; i < f->n_txt; i++)
        u2_l2norm_rows(out + i * D, NULL, f->Tx + (int64_t)i * f->tl * D, 1, D);
}

#define CHUNK 32

void u2_infer_pairs(u2_fwd *f, const int32_t *img, const int32_t *txt, int64_t n, float *itm,
                    float *cmcl, float *score)
{
    const u2_weights *w = &f->m->w;
    const int64_t D = f->m->L.cfg.hidden;
    u2_item items[CHUNK];
    float *buf = u2_malloc(sizeof(float) * (size_t)(5 * CHUNK * D + 2 * CHUNK));
    float *v = buf, *t = v + CHUNK * D, *a = t + CHUNK * D, *b = a + CHUNK * D,
          *logit = b + 2 * CHUNK * D;
    for (int64_t s = 0; s < n; s += CHUNK) {
        const int m = (int)(n - s < CHUNK ? n - s : CHUNK);
        for (int i = 0; i < m; i++)
            items[i] = (u2_item){.kind = U2_ITEM_PAIR, .img = img[s + i], .txt = txt[s + i]};
        u2_arena_mark mark = u2_arena_save(&f->arena);
        u2_fusion_forward(f, items, m);
        const int64_t ts = u2_item_text_start(f, 0);
        for (int i = 0; i < m; i++) {
            memcpy(v + i * D, u2_fusion_row(f, i, 0), sizeof(float) * (size_t)D);
            memcpy(t + i * D, u2_fusion_row(f, i, ts), sizeof(float) * (size_t)D);
        }
        u2_arena_restore(&f->arena, mark);
        u2_linear(a, v, m, D, w->itm_img_w, w->itm_img_b, D, U2_ACT_NONE, NULL, 0);
        u2_linear(b, t, m, D, w->itm_txt_w, w->itm_txt_b, D, U2_ACT_NONE, NULL, 0);
        u2_relu(a, m * D);
        u2_relu(b, m * D);
        for (int64_t i = 0; i < m * D; i++) a[i] *= b[i];
        u2_linear(logit, a, m, D, w->itm_out_w, w->itm_out_b, 2, U2_ACT_NONE, NULL, 0);
        for (int i = 0; i < m; i++) {
            float c = u2_cmcl_cosine(f, img[s + i], txt[s + i]);
            if (itm) itm[s + i] = logit[2 * i + 1];
            if (cmcl) cmcl[s + i] = c;
            if (score) score[s + i] = logit[2 * i + 1] + U2_CMCL_WEIGHT * c;
        }
    }
    f->nitems = 0;
    f->ngroups = 0;
    free(buf);
}

int u2_infer_tokenize(const u2_tokenizer *tok, const char *const *texts, int n, int max_len,
                      int32_t **ids_out, int32_t **attn_out, int *truncated)
{
    int32_t *ids = u2_malloc(sizeof(int32_t) * (size_t)n * (size_t)max_len);
    uint8_t *mask = u2_malloc((size_t)n * (size_t)max_len);
    int tl = 2, ntrunc = 0;
    u2_tok_cache *cache = u2_tok_cache_new();
    for (int i = 0; i < n; i++) {
        char what[64];
        snprintf(what, sizeof what, "text %d", i + 1);
        int tr = 0;
        int32_t len = u2_tok_encode(tok, cache, what, texts[i], NULL, max_len, 1,
                                    ids + (size_t)i * max_len, mask + (size_t)i * max_len, NULL, &tr);
        if (len < 0) {
            u2_tok_cache_free(cache);
            free(ids);
            free(mask);
            return -1;
        }
        ntrunc += tr != 0;
        if (len > tl) tl = len;
    }
    u2_tok_cache_free(cache);
    /* repack to the longest text */
    int32_t *ids2 = u2_malloc(sizeof(int32_t) * (size_t)n * (size_t)tl);
    int32_t *attn = u2_malloc(sizeof(int32_t) * (size_t)n * (size_t)tl);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < tl; j++) {
            ids2[(size_t)i * tl + j] = ids[(size_t)i * max_len + j];
            attn[(size_t)i * tl + j] = mask[(size_t)i * max_len + j];
        }
    free(ids);
    free(mask);
    *ids_out = ids2;
    *attn_out = attn;
    if (truncated) *truncated = ntrunc;
    return tl;
}
