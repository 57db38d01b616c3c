/* Grounded dictionary, grounded transformer, heads and losses (doc/model.md). */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "kernels.h"
#include "model.h"
#include "model_internal.h"
#include "ops.h"
#include "rng.h"
#include "util.h"

#include <math.h>
#include <string.h>

/* ------------------------------------------------------------- grounding */

/* Gather an item's grounding inputs: patch outputs, then text tokens after [CLS]. */
static void gather_tokens(const u2_fwd *f, u2_item *it)
{
    const u2_config *c = &f->m->L.cfg;
    const int64_t D = c->hidden, nv = u2_cfg_nvis(c);
    int64_t r = 0;
    if (it->img >= 0) {
        memcpy(it->x, f->V + ((int64_t)it->img * nv + 1) * D, (size_t)((nv - 1) * D) * sizeof(float));
        r = nv - 1;
    }
    if (it->txt >= 0) {
        int len = f->tlen[it->txt];
        if (len > 1)
            memcpy(it->x + r * D, f->Tx + ((int64_t)it->txt * f->tl + 1) * D,
                   (size_t)((len - 1) * D) * sizeof(float));
    }
}

static int item_ntok(const u2_fwd *f, const u2_item *it)
{
    int n = 0;
    if (it->img >= 0) n += u2_cfg_npatch(&f->m->L.cfg);
    if (it->txt >= 0 && f->tlen[it->txt] > 1) n += f->tlen[it->txt] - 1;
    return n;
}

/* nearest entry by L2 (ties to the lower index): argmin ||e||^2 - 2 x.e */
static void nearest_entries(const float *x, int64_t T, const float *E, int64_t C, int64_t D,
                            int32_t *idx, float *scratch /* [T*C + C] */)
{
    const u2_kernels *k = u2_kern();
    float *dots = scratch, *en = scratch + T * C;
    for (int64_t c = 0; c < C; c++) en[c] = (float)k->sumsq(E + c * D, D);
    u2_sgemm(0, 1, T, C, D, 1.0f, x, D, E, D, 0.0f, dots, C, NULL);
    for (int64_t t = 0; t < T; t++) {
        int32_t best = 0;
        float bd = INFINITY;
        for (int64_t c = 0; c < C; c++) {
            float d = en[c] - 2.0f * dots[t * C + c];
            if (d < bd) {
                bd = d;
                best = (int32_t)c;
            }
        }
        idx[t] = best;
    }
}

static void ground_item(u2_fwd *f, u2_item *it, const int32_t *forced)
{
    const u2_config *c = &f->m->L.cfg;
    const u2_weights *w = &f->m->w;
    const int64_t D = c->hidden, C = c->dict_size, K = c->topk;
    gather_tokens(f, it);
    if (c->grounding == U2_GROUND_TOPK) {
        const float tau = u2_clampf(w->gd_tau[0], c->tau_min, c->tau_max);
        memset(it->S, 0, (size_t)C * sizeof(float));
        u2_gd_scores(it->x, it->ntok, D, w->gd_embed, C, D, tau, it->s, C, it->S);
        if (forced) memcpy(it->idx, forced, (size_t)K * sizeof(int32_t));
        else u2_topk(it->S, C, (int)K, it->idx);
        it->ng = (int)K;
    } else if (c->grounding == U2_GROUND_NEAREST) {
        if (forced) memcpy(it->idx, forced, (size_t)it->ntok * sizeof(int32_t));
        else nearest_entries(it->x, it->ntok, w->gd_embed, C, D, it->idx, it->s);
        it->ng = it->ntok;
    } else {
        it->ng = 0;
    }
}

/* ---------------------------------------------------------------- fusion */

enum { SEG_V = 0, SEG_G = 1, SEG_T = 2 };

static int allowed(int fusion, int qs, int ks)
{
    if (fusion == U2_FUSION_FULL) return 1;
    return !((qs == SEG_V && ks == SEG_T) || (qs == SEG_T && ks == SEG_V));
}

static void build_group(u2_fwd *f, u2_group *g)
{
    const u2_config *c = &f->m->L.cfg;
    const u2_weights *w = &f->m->w;
    const int64_t D = c->hidden;
    u2_arena *a = &f->arena;
    g->nv = g->kind != U2_ITEM_TEXT ? u2_cfg_nvis(c) : 0;
    g->nt = g->kind != U2_ITEM_IMAGE ? f->tl : 0;
    g->ng = 0;
    for (int i = 0; i < g->n; i++)
        if (f->items[g->first + i].ng > g->ng) g->ng = f->items[g->first + i].ng;
    const int64_t T = g->nv + g->ng + g->nt, n = g->n;
    g->T = T;
    float *in = u2_arena_alloc(a, (size_t)(n * T * D));
    float *G = NULL;
    if (g->ng > 0) {
        g->g_raw = u2_arena_zalloc(a, (size_t)(n * g->ng * D));
        g->g_mean = u2_arena_alloc(a, (size_t)(n * g->ng));
        g->g_rstd = u2_arena_alloc(a, (size_t)(n * g->ng));
        G = u2_arena_alloc(a, (size_t)(n * g->ng * D));
        for (int64_t i = 0; i < n; i++) {
            const u2_item *it = &f->items[g->first + i];
            for (int r = 0; r < it->ng; r++)
                memcpy(g->g_raw + (i * g->ng + r) * D, w->gd_embed + (int64_t)it->idx[r] * D,
                       (size_t)D * sizeof(float));
        }
        u2_layernorm(G, g->g_mean, g->g_rstd, g->g_raw, w->gd_ln_w, w->gd_ln_b, n * g->ng, D,
                     c->head_ln_eps);
    }
    float *mask = u2_arena_alloc(a, (size_t)(n * T * T));
    int *seg = (int *)u2_arena_alloc_i32(a, (size_t)T);
    int *real = (int *)u2_arena_alloc_i32(a, (size_t)T);
    for (int64_t i = 0; i < n; i++) {
        const u2_item *it = &f->items[g->first + i];
        float *x = in + i * T * D;
        if (g->nv)
            memcpy(x, f->V + (int64_t)it->img * g->nv * D, (size_t)(g->nv * D) * sizeof(float));
        if (g->ng)
            memcpy(x + g->nv * D, G + i * g->ng * D, (size_t)(g->ng * D) * sizeof(float));
        if (g->nt)
            memcpy(x + (g->nv + g->ng) * D, f->Tx + (int64_t)it->txt * f->tl * D,
                   (size_t)(g->nt * D) * sizeof(float));
        for (int64_t p = 0; p < T; p++) {
            if (p < g->nv) {
                seg[p] = SEG_V;
                real[p] = 1;
            } else if (p < g->nv + g->ng) {
                seg[p] = SEG_G;
                real[p] = p - g->nv < it->ng;
            } else {
                seg[p] = SEG_T;
                real[p] = f->attn[(int64_t)it->txt * f->tl + (p - g->nv - g->ng)] != 0;
            }
        }
        float *m = mask + i * T * T;
        for (int64_t q = 0; q < T; q++)
            for (int64_t k = 0; k < T; k++)
                m[q * T + k] = real[q] && real[k] && allowed(c->fusion, seg[q], seg[k])
                                   ? 0.0f
                                   : -INFINITY;
    }
    g->st.B = n;
    g->st.T = T;
    g->st.in = in;
    g->st.mask = mask;
    u2_stack_forward(f, &g->st, w->fusion, c->fusion_layers, 0, c->text_ln_eps);
}

void u2_fusion_forward(u2_fwd *f, const u2_item *items, int nitems)
{
    const u2_config *c = &f->m->L.cfg;
    const int64_t D = c->hidden, C = c->dict_size, K = c->topk;
    u2_arena *a = &f->arena;
    f->nitems = nitems;
    f->items = (u2_item *)u2_arena_alloc(a, (sizeof(u2_item) * (size_t)nitems + 3) / 4);
    memcpy(f->items, items, sizeof(u2_item) * (size_t)nitems);
    for (int i = 0; i < nitems; i++) {
        u2_item *it = &f->items[i];
        it->ntok = item_ntok(f, it);
        int64_t nt = it->ntok;
        it->x = u2_arena_alloc(a, (size_t)(nt * D));
        it->S = u2_arena_zalloc(a, (size_t)C);
        if (c->grounding == U2_GROUND_TOPK) {
            it->s = u2_arena_alloc(a, (size_t)(nt * C));
            it->idx = u2_arena_alloc_i32(a, (size_t)K);
        } else if (c->grounding == U2_GROUND_NEAREST) {
            it->s = u2_arena_alloc(a, (size_t)(nt * C + C));
            it->idx = u2_arena_alloc_i32(a, (size_t)(nt > 0 ? nt : 1));
        }
    }
    int nt = u2_par_threads_for(nitems, (int64_t)nitems * (f->nitems ? f->items[0].ntok : 0) * C * D);
#pragma omp parallel for num_threads(nt) schedule(dynamic) if (nt > 1)
    for (int i = 0; i < nitems; i++)
        ground_item(f, &f->items[i], f->force_idx ? f->force_idx[i] : NULL);

    f->ngroups = 0;
    for (int i = 0; i < nitems;) {
        int j = i;
        while (j < nitems && f->items[j].kind == f->items[i].kind) j++;
        u2_group *g = &f->groups[f->ngroups++];
        memset(g, 0, sizeof *g);
        g->kind = f->items[i].kind;
        g->first = i;
        g->n = j - i;
        build_group(f, g);
        i = j;
    }
}

static const u2_group *item_group(const u2_fwd *f, int item, int64_t *local)
{
    for (int gi = 0; gi < f->ngroups; gi++) {
        const u2_group *g = &f->groups[gi];
        if (item >= g->first && item < g->first + g->n) {
            *local = item - g->first;
            return g;
        }
    }
    return NULL;
}

const float *u2_fusion_row(const u2_fwd *f, int item, int64_t r)
{
    int64_t li;
    const u2_group *g = item_group(f, item, &li);
    return g->st.out + (li * g->T + r) * f->m->L.cfg.hidden;
}

int64_t u2_item_text_start(const u2_fwd *f, int item)
{
    int64_t li;
    const u2_group *g = item_group(f, item, &li);
    return g->nv + g->ng;
}

/* ----------------------------------------------------------------- heads */

void u2_itm_logits(const u2_fwd *f, int item, float out[2])
{
    const u2_config *c = &f->m->L.cfg;
    const u2_weights *w = &f->m->w;
    const int64_t D = c->hidden;
    float *tmp = u2_malloc((size_t)(2 * D) * sizeof(float));
    float *av = tmp, *bt = tmp + D;
    const float *v0 = u2_fusion_row(f, item, 0);
    const float *t0 = u2_fusion_row(f, item, u2_item_text_start(f, item));
    u2_linear(av, v0, 1, D, w->itm_img_w, w->itm_img_b, D, U2_ACT_NONE, NULL, 0);
    u2_linear(bt, t0, 1, D, w->itm_txt_w, w->itm_txt_b, D, U2_ACT_NONE, NULL, 0);
    u2_relu(av, D);
    u2_relu(bt, D);
    for (int64_t d = 0; d < D; d++) av[d] *= bt[d];
    u2_linear(out, av, 1, D, w->itm_out_w, w->itm_out_b, 2, U2_ACT_NONE, NULL, 0);
    free(tmp);
}

float u2_cmcl_cosine(const u2_fwd *f, int img, int txt)
{
    const u2_config *c = &f->m->L.cfg;
    const int64_t D = c->hidden, nv = u2_cfg_nvis(c);
    const float *v = f->V + (int64_t)img * nv * D, *t = f->Tx + (int64_t)txt * f->tl * D;
    const u2_kernels *k = u2_kern();
    double vv = k->sumsq(v, D), tt = k->sumsq(t, D), vt = k->dot(v, t, D);
    return (vv > 0 && tt > 0) ? (float)(vt / sqrt(vv * tt)) : 0.0f;
}

/* mean over rows of softmax cross-entropy of logits[n][m] against targets */
static double mean_xent(const float *logits, int64_t n, int64_t m, const int32_t *tg)
{
    return n ? u2_kern()->xent(NULL, logits, m, tg, n, m, 1.0f) / (double)n : 0.0;
}

/* (CE(L, diag) + CE(L^T, diag)) / 2 for a square n x n matrix */
static double symmetric_infonce(const float *L, int64_t n, u2_arena *a)
{
    if (n == 0) return 0.0;
    float *Lt = u2_arena_alloc(a, (size_t)(n * n));
    int32_t *diag = u2_arena_alloc_i32(a, (size_t)n);
    for (int64_t i = 0; i < n; i++) {
        diag[i] = (int32_t)i;
        for (int64_t j = 0; j < n; j++) Lt[j * n + i] = L[i * n + j];
    }
    return 0.5 * (mean_xent(L, n, n, diag) + mean_xent(Lt, n, n, diag));
}

static int argmax_row(const float *x, int64_t n)
{
    int b = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[b]) b = (int)i;
    return b;
}

/* Grounding loss over the grounding items of one group; fills q/e parts. */
static void ground_loss(u2_fwd *f, const u2_group *g, double *lq, double *le)
{
    const u2_config *c = &f->m->L.cfg;
    const float *E = f->m->w.gd_embed;
    const int64_t D = c->hidden, C = c->dict_size, K = c->topk;
    u2_arena *a = &f->arena;
    double qs = 0.0, es = 0.0;
    int64_t ntok = 0, nitem = 0;
    *lq = *le = 0.0;
    if (!g || c->grounding == U2_GROUND_NONE) return;
    for (int i = g->first; i < g->first + g->n; i++) {
        u2_item *it = &f->items[i];
        if (!it->ground) continue;
        const int64_t T = it->ntok;
        ntok += T;
        nitem++;
        if (c->grounding == U2_GROUND_NEAREST) {
            for (int64_t t = 0; t < T; t++) {
                const float *e = E + (int64_t)it->idx[t] * D, *x = it->x + t * D;
                for (int64_t d = 0; d < D; d++) {
                    double df = (double)e[d] - x[d];
                    qs += df * df;
                }
            }
            continue;
        }
        it->sk = u2_arena_alloc(a, (size_t)(T * K));
        it->q = u2_arena_alloc(a, (size_t)(T * K));
        it->ehat = u2_arena_zalloc(a, (size_t)(K * D));
        it->xhat = u2_arena_zalloc(a, (size_t)(T * D));
        for (int64_t t = 0; t < T; t++) {
            float rs = 0.0f;
            for (int64_t k = 0; k < K; k++) {
                float v = it->s[t * C + it->idx[k]];
                it->sk[t * K + k] = v;
                rs += v;
            }
            for (int64_t k = 0; k < K; k++) it->q[t * K + k] = it->sk[t * K + k] / (rs + 1e-18f);
        }
        for (int64_t k = 0; k < K; k++) {
            const float *e = E + (int64_t)it->idx[k] * D;
            float Sk = it->S[it->idx[k]] + 1e-18f;
            float *eh = it->ehat + k * D;
            for (int64_t t = 0; t < T; t++) {
                float wkt = it->sk[t * K + k] / Sk;
                const float *x = it->x + t * D;
                for (int64_t d = 0; d < D; d++) eh[d] += wkt * x[d];
            }
            for (int64_t d = 0; d < D; d++) {
                double df = (double)e[d] - eh[d];
                es += df * df;
            }
        }
        for (int64_t t = 0; t < T; t++) {
            float *xh = it->xhat + t * D;
            for (int64_t k = 0; k < K; k++) {
                const float *e = E + (int64_t)it->idx[k] * D;
                float qk = it->q[t * K + k];
                for (int64_t d = 0; d < D; d++) xh[d] += qk * e[d];
            }
            const float *x = it->x + t * D;
            for (int64_t d = 0; d < D; d++) {
                double df = (double)x[d] - xh[d];
                qs += df * df;
            }
        }
    }
    if (c->grounding == U2_GROUND_NEAREST) {
        /* the dictionary term mean((e - sg x)^2) and the commitment term
         * mean((sg e - x)^2) have one value; only their gradients differ */
        *lq = *le = ntok ? qs / (double)(ntok * D) : 0.0;
        return;
    }
    *lq = ntok ? qs / (double)(ntok * D) : 0.0;
    *le = nitem ? es / (double)(nitem * K * D) : 0.0;
}

/* Hard negatives from the in-batch CMCL similarity (ALBEF-style): for the
 * caption of pair i an image j != i with probability ~ exp(cos(v_j, t_i)/temp),
 * and for the image of pair i a caption likewise.  No gradient flows here. */
static void sample_negatives(u2_fwd *f, int bp, uint64_t seed)
{
    const u2_config *c = &f->m->L.cfg;
    const float temp = u2_clampf(f->m->w.cmcl_temp[0], c->temp_min, c->temp_max);
    double *sim = u2_malloc(sizeof(double) * (size_t)(bp * bp)), *p = u2_malloc(sizeof(double) * (size_t)bp);
    for (int i = 0; i < bp; i++)
        for (int j = 0; j < bp; j++) sim[i * bp + j] = u2_cmcl_cosine(f, i, j); /* image i, text j */
    u2_rng r = u2_rng_stream(seed, 0x6e6567);
    for (int dir = 0; dir < 2; dir++) {
        for (int i = 0; i < bp; i++) {
            double mx = -INFINITY, tot = 0.0;
            for (int j = 0; j < bp; j++) {
                double s = dir == 0 ? sim[j * bp + i] : sim[i * bp + j];
                if (j != i && s > mx) mx = s;
            }
            for (int j = 0; j < bp; j++) {
                double s = dir == 0 ? sim[j * bp + i] : sim[i * bp + j];
                p[j] = j == i ? 0.0 : exp((s - mx) / temp);
                tot += p[j];
            }
            double u = (double)u2_rng_uniform(&r) * tot, acc = 0.0;
            int pick = i == 0 ? 1 : 0;
            for (int j = 0; j < bp; j++) {
                if (j == i) continue;
                acc += p[j];
                pick = j;
                if (u < acc) break;
            }
            (dir == 0 ? f->neg_img : f->neg_txt)[i] = pick;
        }
    }
    free(sim);
    free(p);
}

static const u2_group *group_of_kind(const u2_fwd *f, int kind)
{
    for (int i = 0; i < f->ngroups; i++)
        if (f->groups[i].kind == kind) return &f->groups[i];
    return NULL;
}

void u2_forward_batch(u2_fwd *f, const u2_batch *b)
{
    const u2_model *m = f->m;
    const u2_config *c = &m->L.cfg;
    const u2_weights *w = &m->w;
    const int64_t D = c->hidden, V = c->vocab_size, nv = u2_cfg_nvis(c);
    u2_arena *a = &f->arena;
    f->batch = b;
    u2_vit_forward(f, b->pixels, b->n_img);
    u2_text_forward(f, b->ids, b->attn, b->n_txt, b->tl);

    /* fusion items: positives, negative images, negative texts, texts, images */
    const int bp = b->bp, bt = b->bt, bi = b->bi;
    const int nneg = b->itm_neg_img ? bp : (bp >= 2 ? bp : 0);
    f->nneg = nneg;
    if (nneg) {
        f->neg_img = u2_arena_alloc_i32(a, (size_t)nneg);
        f->neg_txt = u2_arena_alloc_i32(a, (size_t)nneg);
        if (b->itm_neg_img) {
            memcpy(f->neg_img, b->itm_neg_img, (size_t)nneg * sizeof(int32_t));
            memcpy(f->neg_txt, b->itm_neg_txt, (size_t)nneg * sizeof(int32_t));
        } else {
            sample_negatives(f, bp, b->neg_seed);
        }
    }
    int nitems = bp + 2 * nneg + bt + bi;
    u2_item *items = u2_calloc((size_t)(nitems ? nitems : 1), sizeof *items);
    int n = 0;
    for (int i = 0; i < bp; i++) items[n++] = (u2_item){.kind = U2_ITEM_PAIR, .img = i, .txt = i, .ground = 1};
    for (int i = 0; i < nneg; i++)
        items[n++] = (u2_item){.kind = U2_ITEM_PAIR, .img = f->neg_img[i], .txt = i};
    for (int i = 0; i < nneg; i++)
        items[n++] = (u2_item){.kind = U2_ITEM_PAIR, .img = i, .txt = f->neg_txt[i]};
    for (int i = 0; i < bt; i++)
        items[n++] = (u2_item){.kind = U2_ITEM_TEXT, .img = -1, .txt = bp + i, .ground = 1};
    for (int i = 0; i < bi; i++)
        items[n++] = (u2_item){.kind = U2_ITEM_IMAGE, .img = bp + i, .txt = -1, .ground = 1};
    u2_fusion_forward(f, items, nitems);
    free(items);

    u2_losses *L = &f->loss;
    memset(L, 0, sizeof *L);

    /* MLM over the positives and the text-only items */
    int nm = 0;
    for (int i = 0; i < nitems; i++) {
        const u2_item *it = &f->items[i];
        if (!((it->kind == U2_ITEM_PAIR && i < bp) || it->kind == U2_ITEM_TEXT)) continue;
        for (int j = 0; j < b->tl; j++) nm += b->mlm_labels[it->txt * b->tl + j] >= 0;
    }
    f->mlm_n = nm;
    if (nm) {
        f->mlm_item = u2_arena_alloc_i32(a, (size_t)nm);
        f->mlm_pos = u2_arena_alloc_i32(a, (size_t)nm);
        f->mlm_label = u2_arena_alloc_i32(a, (size_t)nm);
        f->mlm_in = u2_arena_alloc(a, (size_t)(nm * D));
        int r = 0;
        for (int i = 0; i < nitems; i++) {
            const u2_item *it = &f->items[i];
            if (!((it->kind == U2_ITEM_PAIR && i < bp) || it->kind == U2_ITEM_TEXT)) continue;
            int64_t ts = u2_item_text_start(f, i);
            for (int j = 0; j < b->tl; j++) {
                int lab = b->mlm_labels[it->txt * b->tl + j];
                if (lab < 0) continue;
                f->mlm_item[r] = i;
                f->mlm_pos[r] = j;
                f->mlm_label[r] = lab;
                memcpy(f->mlm_in + (int64_t)r * D, u2_fusion_row(f, i, ts + j), (size_t)D * sizeof(float));
                if (it->kind == U2_ITEM_PAIR) L->mlm_pairs_n++;
                else L->mlm_texts_n++;
                r++;
            }
        }
        f->mlm_pre = u2_arena_alloc(a, (size_t)(nm * D));
        f->mlm_act = u2_arena_alloc(a, (size_t)(nm * D));
        f->mlm_mean = u2_arena_alloc(a, (size_t)nm);
        f->mlm_rstd = u2_arena_alloc(a, (size_t)nm);
        f->mlm_h = u2_arena_alloc(a, (size_t)(nm * D));
        f->mlm_logits = u2_arena_alloc(a, (size_t)(nm * V));
        u2_linear(f->mlm_act, f->mlm_in, nm, D, w->mlm_fc_w, w->mlm_fc_b, D, U2_ACT_GELU, f->mlm_pre, 0);
        u2_layernorm(f->mlm_h, f->mlm_mean, f->mlm_rstd, f->mlm_act, w->mlm_ln_w, w->mlm_ln_b, nm, D,
                     c->head_ln_eps);
        u2_linear(f->mlm_logits, f->mlm_h, nm, D, w->word, w->mlm_bias, V, U2_ACT_NONE, NULL, 0);
        int np_ = L->mlm_pairs_n, nt_ = L->mlm_texts_n;
        L->mlm_pairs = mean_xent(f->mlm_logits, np_, V, f->mlm_label);
        L->mlm_texts = mean_xent(f->mlm_logits + (int64_t)np_ * V, nt_, V, f->mlm_label + np_);
        for (int r2 = 0; r2 < nm; r2++) {
            int ok = argmax_row(f->mlm_logits + (int64_t)r2 * V, V) == f->mlm_label[r2];
            if (r2 < np_) L->mlm_pairs_ok += ok;
            else L->mlm_texts_ok += ok;
        }
    }

    /* ITM over the pair items: positives and their negatives */
    f->itm_n = bp + 2 * nneg;
    if (bp) {
        int ni = f->itm_n;
        f->itm_v = u2_arena_alloc(a, (size_t)(ni * D));
        f->itm_t = u2_arena_alloc(a, (size_t)(ni * D));
        f->itm_a = u2_arena_alloc(a, (size_t)(ni * D));
        f->itm_b = u2_arena_alloc(a, (size_t)(ni * D));
        f->itm_prod = u2_arena_alloc(a, (size_t)(ni * D));
        f->itm_logits = u2_arena_alloc(a, (size_t)(ni * 2));
        for (int i = 0; i < ni; i++) {
            memcpy(f->itm_v + (int64_t)i * D, u2_fusion_row(f, i, 0), (size_t)D * sizeof(float));
            memcpy(f->itm_t + (int64_t)i * D, u2_fusion_row(f, i, u2_item_text_start(f, i)),
                   (size_t)D * sizeof(float));
        }
        u2_linear(f->itm_a, f->itm_v, ni, D, w->itm_img_w, w->itm_img_b, D, U2_ACT_NONE, NULL, 0);
        u2_linear(f->itm_b, f->itm_t, ni, D, w->itm_txt_w, w->itm_txt_b, D, U2_ACT_NONE, NULL, 0);
        u2_relu(f->itm_a, ni * D);
        u2_relu(f->itm_b, ni * D);
        for (int64_t i = 0; i < ni * D; i++) f->itm_prod[i] = f->itm_a[i] * f->itm_b[i];
        u2_linear(f->itm_logits, f->itm_prod, ni, D, w->itm_out_w, w->itm_out_b, 2, U2_ACT_NONE, NULL, 0);
        int32_t *lab = u2_arena_alloc_i32(a, (size_t)ni);
        for (int i = 0; i < ni; i++) lab[i] = i < bp;
        L->itm = mean_xent(f->itm_logits, ni, 2, lab);
        L->itm_n = ni;
        for (int i = 0; i < ni; i++) L->itm_ok += argmax_row(f->itm_logits + 2 * i, 2) == lab[i];

        /* CMCL over the positives */
        f->cmcl_n = bp;
        f->cmcl_v = u2_arena_alloc(a, (size_t)bp);
        f->cmcl_t = u2_arena_alloc(a, (size_t)bp);
        f->cmcl_vn = u2_arena_alloc(a, (size_t)(bp * D));
        f->cmcl_tn = u2_arena_alloc(a, (size_t)(bp * D));
        f->cmcl_logits = u2_arena_alloc(a, (size_t)(bp * bp));
        for (int i = 0; i < bp; i++) {
            u2_l2norm_rows(f->cmcl_vn + (int64_t)i * D, f->cmcl_v + i, f->V + (int64_t)i * nv * D, 1, D);
            u2_l2norm_rows(f->cmcl_tn + (int64_t)i * D, f->cmcl_t + i, f->Tx + (int64_t)i * f->tl * D, 1, D);
        }
        float temp = u2_clampf(w->cmcl_temp[0], c->temp_min, c->temp_max);
        u2_sgemm(0, 1, bp, bp, D, 1.0f / temp, f->cmcl_vn, D, f->cmcl_tn, D, 0.0f, f->cmcl_logits, bp, NULL);
        L->cmcl = symmetric_infonce(f->cmcl_logits, bp, a);
    }

    /* VCL over the image-only items (2N views) */
    f->vcl_n = bi;
    if (bi >= 2) {
        const int first = bp + 2 * nneg + bt;
        f->vcl_in = u2_arena_alloc(a, (size_t)(bi * D));
        f->vcl_h = u2_arena_alloc(a, (size_t)(bi * D));
        f->vcl_zr = u2_arena_alloc(a, (size_t)(bi * D));
        f->vcl_zn = u2_arena_alloc(a, (size_t)bi);
        f->vcl_z = u2_arena_alloc(a, (size_t)(bi * D));
        int64_t N = bi / 2;
        f->vcl_logits = u2_arena_alloc(a, (size_t)(N * N));
        for (int i = 0; i < bi; i++)
            memcpy(f->vcl_in + (int64_t)i * D, u2_fusion_row(f, first + i, 0), (size_t)D * sizeof(float));
        u2_linear(f->vcl_h, f->vcl_in, bi, D, w->vcl_fc1_w, w->vcl_fc1_b, D, U2_ACT_NONE, NULL, 0);
        u2_relu(f->vcl_h, bi * D);
        u2_linear(f->vcl_zr, f->vcl_h, bi, D, w->vcl_fc2_w, w->vcl_fc2_b, D, U2_ACT_NONE, NULL, 0);
        u2_l2norm_rows(f->vcl_z, f->vcl_zn, f->vcl_zr, bi, D);
        u2_sgemm(0, 1, N, N, D, 1.0f / c->vcl_temp, f->vcl_z, D, f->vcl_z + N * D, D, 0.0f,
                 f->vcl_logits, N, NULL);
        L->vcl = symmetric_infonce(f->vcl_logits, N, a);
    }

    ground_loss(f, group_of_kind(f, U2_ITEM_PAIR), &L->ground_pairs_q, &L->ground_pairs_e);
    ground_loss(f, group_of_kind(f, U2_ITEM_TEXT), &L->ground_texts_q, &L->ground_texts_e);
    ground_loss(f, group_of_kind(f, U2_ITEM_IMAGE), &L->ground_images_q, &L->ground_images_e);
    const double gq = c->ground_q, ge = c->ground_e;
    L->ground_pairs = gq * L->ground_pairs_q + ge * L->ground_pairs_e;
    L->ground_texts = gq * L->ground_texts_q + ge * L->ground_texts_e;
    L->ground_images = gq * L->ground_images_q + ge * L->ground_images_e;

    if (bp)
        L->pairs = c->w_mlm * L->mlm_pairs + c->w_itm * L->itm + c->w_cmcl * L->cmcl +
                   c->w_ground * L->ground_pairs;
    if (bt) L->texts = c->w_mlm * L->mlm_texts + c->w_ground * L->ground_texts;
    if (bi) L->images = c->w_vcl * L->vcl + c->w_ground * L->ground_images;
    L->total = L->pairs + L->texts + L->images;
}
