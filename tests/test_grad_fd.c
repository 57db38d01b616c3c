/* Whole-model gradients against central finite differences on the tiny
 * config, for every ablation switch, with the dictionary selection frozen:
 * a check of the backward pass that needs no reference files (test_parity
 * holds it against PyTorch autograd as well). */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "backward.h"
#include "kernels.h"
#include "model.h"
#include "tap.h"

#include <string.h>

typedef struct {
    u2_batch b;
    float *pixels;
    int32_t *ids, *attn, *labels, negi[3], negt[3];
} tbatch;

static void make_batch(tbatch *t, const u2_config *c)
{
    const int bp = 2, bt = 1, bi = 2, S = c->image_size, tl = c->max_text_len;
    int n_img = bp + bi, n_txt = bp + bt;
    t->pixels = malloc(sizeof(float) * (size_t)(n_img * 3 * S * S));
    tap_fill(t->pixels, n_img * 3 * S * S, -1, 1);
    t->ids = calloc((size_t)(n_txt * tl), 4);
    t->attn = calloc((size_t)(n_txt * tl), 4);
    t->labels = malloc(sizeof(int32_t) * (size_t)(n_txt * tl));
    int lens[3] = {tl, 5, 9};
    for (int i = 0; i < n_txt; i++)
        for (int j = 0; j < tl; j++) {
            int real = j < lens[i];
            t->ids[i * tl + j] = !real ? 1 : j == 0 ? 0 : j == lens[i] - 1 ? 2
                                                           : 4 + (int)tap_uniform(0, (float)(c->vocab_size - 6));
            t->attn[i * tl + j] = real;
            t->labels[i * tl + j] = real && j > 0 && j < lens[i] - 1 && (j % 3 == 1)
                                        ? 4 + (int)tap_uniform(0, (float)(c->vocab_size - 6))
                                        : -1;
        }
    t->negi[0] = 1;
    t->negi[1] = 0;
    t->negt[0] = 1;
    t->negt[1] = 0;
    t->b = (u2_batch){.n_img = n_img, .n_txt = n_txt, .tl = tl, .pixels = t->pixels, .ids = t->ids,
                      .attn = t->attn, .mlm_labels = t->labels, .bp = bp, .bt = bt, .bi = bi,
                      .itm_neg_img = t->negi, .itm_neg_txt = t->negt};
}

/* The backward pass's ready hook: ranges from the end of the arena backwards,
 * covering it once, each final when reported (a snapshot taken then equals the
 * gradients at the end of the pass). */
typedef struct {
    const float *g;
    float *snap;
    int64_t next_end, begins[16];
    int calls, order_ok;
} hook_rec;

static void on_ready(void *ctx, int64_t begin, int64_t end)
{
    hook_rec *h = ctx;
    h->order_ok &= end == h->next_end && begin < end && h->calls < 16;
    h->next_end = begin;
    if (h->calls < 16) h->begins[h->calls] = begin;
    h->calls++;
    if (h->snap) memcpy(h->snap + begin, h->g + begin, (size_t)(end - begin) * sizeof(float));
}

static int32_t **frozen; /* the selection of the unperturbed pass */

static double loss_at(u2_model *m, const u2_batch *b)
{
    u2_fwd f;
    u2_fwd_init(&f, m, 0);
    f.force_idx = frozen;
    u2_forward_batch(&f, b);
    double l = f.loss.total;
    u2_fwd_free(&f);
    return l;
}

static void check_variant(const char *name, u2_grounding gr, u2_fusion fu)
{
    u2_config c;
    u2_config_builtin("tiny", &c);
    c.grounding = gr;
    c.fusion = fu;
    /* The grounding loss stops gradients (sg(e), sg(x)), which finite differences
     * of the loss value cannot see; its gradient is held against PyTorch autograd
     * in test_parity instead. */
    c.w_ground = 0.0f;
    u2_model m;
    if (u2_model_create(&m, &c) != 0) {
        tap_ok(0, "%s: model", name);
        return;
    }
    u2_params_test_weights(&m.L, m.params, 3);
    tbatch t;
    tap_seed(11);
    make_batch(&t, &c);
    u2_fwd f;
    u2_fwd_init(&f, &m, 1);
    u2_forward_batch(&f, &t.b);
    float *g = calloc((size_t)m.L.total, sizeof(float));
    u2_arena scratch;
    u2_arena_init(&scratch);
    hook_rec hk = {.g = g, .snap = malloc(sizeof(float) * (size_t)m.L.total),
                  .next_end = m.L.total, .order_ok = 1};
    u2_backward_batch(&f, g, &scratch, on_ready, &hk);
    tap_ok(isfinite(f.loss.total), "%s: loss %.6f is finite", name, f.loss.total);
    hook_rec h2 = {.next_end = m.L.total, .order_ok = 1};
    u2_grad_ranges(&m.L, on_ready, &h2);
    tap_ok(hk.order_ok && hk.next_end == 0 && hk.calls >= 6 &&
               !memcmp(hk.snap, g, sizeof(float) * (size_t)m.L.total) && h2.order_ok &&
               h2.calls == hk.calls && !memcmp(hk.begins, h2.begins, sizeof hk.begins),
           "%s: the ready hook reports %d ranges from the end backwards, each final when "
           "reported, as u2_grad_ranges lists them", name, hk.calls);
    free(hk.snap);
    frozen = NULL;
    if (gr != U2_GROUND_NONE) {
        frozen = calloc((size_t)f.nitems, sizeof *frozen);
        for (int i = 0; i < f.nitems; i++) {
            int n = gr == U2_GROUND_TOPK ? c.topk : f.items[i].ntok;
            frozen[i] = malloc(sizeof(int32_t) * (size_t)(n ? n : 1));
            memcpy(frozen[i], f.items[i].idx, sizeof(int32_t) * (size_t)n);
        }
    }
    /* sample elements of every tensor; central differences with h = 1e-2 on a float
     * model: truncation ~h^2 |f'''|, rounding ~eps |L| / h; accept 3% of the larger
     * of |g| and a floor set by the rounding error */
    int bad = 0, checked = 0;
    double worst = 0;
    for (int ti = 0; ti < m.L.n; ti++) {
        const u2_tensor *tt = &m.L.t[ti];
        for (int s = 0; s < 3; s++) {
            int64_t j = (int64_t)((tt->numel - 1) * (s / 2.0));
            float *p = m.params + tt->offset + j;
            float keep = *p, h = 1e-2f * (fabsf(keep) > 1 ? fabsf(keep) : 1);
            *p = keep + h;
            double lp = loss_at(&m, &t.b);
            *p = keep - h;
            double lm = loss_at(&m, &t.b);
            *p = keep;
            double fd = (lp - lm) / (2 * h), an = g[tt->offset + j];
            double floor_ = 2e-6 * fabs(f.loss.total) / h + 1e-4;
            double err = fabs(fd - an) / (0.03 * fmax(fabs(an), fabs(fd)) + floor_);
            if (err > worst) worst = err;
            checked++;
            if (err > 1) {
                bad++;
                tap_diag("%s: %s[%lld] analytic %.6g finite-difference %.6g", name, tt->name,
                         (long long)j, an, fd);
            }
        }
    }
    tap_ok(bad == 0, "%s: %d gradient samples match finite differences (worst err/bound %.3f)", name,
           checked, worst);
    if (frozen) {
        for (int i = 0; i < f.nitems; i++) free(frozen[i]);
        free(frozen);
    }
    u2_arena_free(&scratch);
    u2_fwd_free(&f);
    free(g);
    free(t.pixels);
    free(t.ids);
    free(t.attn);
    free(t.labels);
    u2_model_free(&m);
}

/* Deeper stacks: one range per block, from the last block of each stack. */
static void check_hook_layers(void)
{
    u2_config c;
    u2_config_builtin("tiny", &c);
    c.vit_layers = 3;
    c.text_layers = 2;
    c.fusion_layers = 2;
    u2_model m;
    if (u2_model_create(&m, &c) != 0) {
        tap_ok(0, "3/2/2 layers: model");
        return;
    }
    u2_params_test_weights(&m.L, m.params, 3);
    tbatch t;
    tap_seed(12);
    make_batch(&t, &c);
    u2_fwd f;
    u2_fwd_init(&f, &m, 1);
    u2_forward_batch(&f, &t.b);
    float *g = calloc((size_t)m.L.total, sizeof(float));
    u2_arena scratch;
    u2_arena_init(&scratch);
    hook_rec hk = {.g = g, .snap = malloc(sizeof(float) * (size_t)m.L.total),
                   .next_end = m.L.total, .order_ok = 1};
    u2_backward_batch(&f, g, &scratch, on_ready, &hk);
    const int64_t text_b1 = u2_layout_find(&m.L, "text.blocks.1.ln1.weight")->offset;
    const int64_t vit_b0 = u2_layout_find(&m.L, "vit.blocks.0.ln1.weight")->offset;
    /* heads, gd+fusion, text 1, text 0, text emb, vit.ln_f, vit 2, 1, 0, vit emb */
    tap_ok(hk.order_ok && hk.next_end == 0 && hk.calls == 10 && hk.begins[2] == text_b1 &&
               hk.begins[8] == vit_b0 && !memcmp(hk.snap, g, sizeof(float) * (size_t)m.L.total),
           "3/2/2 layers: the ready hook reports %d ranges, one per block, each final when reported",
           hk.calls);
    free(hk.snap);
    free(g);
    u2_arena_free(&scratch);
    u2_fwd_free(&f);
    free(t.pixels);
    free(t.ids);
    free(t.attn);
    free(t.labels);
    u2_model_free(&m);
}

int main(void)
{
    u2_set_num_threads(1); /* tiny shapes: a thread team costs more than it saves */
    check_variant("topk/grounded", U2_GROUND_TOPK, U2_FUSION_GROUNDED);
    check_variant("nearest/grounded", U2_GROUND_NEAREST, U2_FUSION_GROUNDED);
    check_variant("none/grounded", U2_GROUND_NONE, U2_FUSION_GROUNDED);
    check_variant("none/full", U2_GROUND_NONE, U2_FUSION_FULL);
    check_variant("topk/full", U2_GROUND_TOPK, U2_FUSION_FULL);
    check_hook_layers();
    return tap_done();
}
