#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "augment.h"

#include <math.h>
#include <stddef.h>

void u2_augment_defaults(u2_augment_params *p)
{
    p->scale_min = 0.4f;
    p->scale_max = 1.0f;
    p->ratio_min = 3.0f / 4.0f;
    p->ratio_max = 4.0f / 3.0f;
    p->flip_p = 0.5f;
    p->brightness = 0.4f;
    p->contrast = 0.4f;
    p->saturation = 0.4f;
}

static float uniform(u2_rng *r, float lo, float hi) { return lo + (hi - lo) * u2_rng_uniform(r); }

void u2_augment_sample(const u2_augment_params *p, int w, int h, u2_rng *rng,
                       u2_augment_draw *d)
{
    const double area = (double)w * h;
    const double lr0 = log(p->ratio_min), lr1 = log(p->ratio_max);
    int found = 0;
    /* a fixed number of tries, each consuming the same draws, so the RNG
     * advances the same way whatever the image size */
    for (int t = 0; t < 10; t++) {
        double a = area * uniform(rng, p->scale_min, p->scale_max);
        double ratio = exp(lr0 + (lr1 - lr0) * u2_rng_uniform(rng));
        float ux = u2_rng_uniform(rng), uy = u2_rng_uniform(rng);
        if (found) continue;
        int cw = (int)lround(sqrt(a * ratio)), ch = (int)lround(sqrt(a / ratio));
        if (cw < 1 || ch < 1 || cw > w || ch > h) continue;
        d->w = cw;
        d->h = ch;
        d->x = (int)(ux * (float)(w - cw + 1));
        d->y = (int)(uy * (float)(h - ch + 1));
        if (d->x > w - cw) d->x = w - cw;
        if (d->y > h - ch) d->y = h - ch;
        found = 1;
    }
    if (!found) {
        /* centred crop, as large as fits, aspect ratio clamped into range */
        double in_ratio = (double)w / h;
        int cw = w, ch = h;
        if (in_ratio < p->ratio_min) ch = (int)lround(w / (double)p->ratio_min);
        else if (in_ratio > p->ratio_max) cw = (int)lround(h * (double)p->ratio_max);
        if (cw < 1) cw = 1;
        if (ch < 1) ch = 1;
        if (cw > w) cw = w;
        if (ch > h) ch = h;
        d->w = cw;
        d->h = ch;
        d->x = (w - cw) / 2;
        d->y = (h - ch) / 2;
    }
    d->flip = u2_rng_uniform(rng) < p->flip_p;
    const float amount[3] = {p->brightness, p->contrast, p->saturation};
    for (int i = 0; i < 3; i++) d->factor[i] = uniform(rng, 1 - amount[i], 1 + amount[i]);
    for (int i = 0; i < 3; i++) d->order[i] = i;
    for (int i = 2; i > 0; i--) {
        int j = (int)u2_rng_below(rng, (uint64_t)i + 1);
        int t = d->order[i];
        d->order[i] = d->order[j];
        d->order[j] = t;
    }
}

static float clamp255(float v) { return v < 0 ? 0 : v > 255 ? 255 : v; }

static float gray(float r, float g, float b) { return 0.299f * r + 0.587f * g + 0.114f * b; }

/* x is planar [3][n] in [0, 255]. */
static void jitter(float *x, size_t n, int op, float f)
{
    float *r = x, *g = x + n, *b = x + 2 * n;
    if (op == 0) {
        for (size_t i = 0; i < 3 * n; i++) x[i] = clamp255(f * x[i]);
    } else if (op == 1) {
        double sum = 0;
        for (size_t i = 0; i < n; i++) sum += gray(r[i], g[i], b[i]);
        const float m = (float)(sum / (double)n) * (1 - f);
        for (size_t i = 0; i < 3 * n; i++) x[i] = clamp255(f * x[i] + m);
    } else {
        for (size_t i = 0; i < n; i++) {
            const float y = (1 - f) * gray(r[i], g[i], b[i]);
            r[i] = clamp255(f * r[i] + y);
            g[i] = clamp255(f * g[i] + y);
            b[i] = clamp255(f * b[i] + y);
        }
    }
}

void u2_augment_apply(const u2_image *img, const u2_augment_draw *d, int S, float *out)
{
    const size_t stride = (size_t)img->w * 3;
    u2_resize_rgb(img->rgb + (size_t)d->y * stride + (size_t)d->x * 3, d->w, d->h, stride, S, S,
                  out);
    const size_t n = (size_t)S * S;
    if (d->flip) {
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < S; y++) {
                float *row = out + c * n + (size_t)y * S;
                for (int i = 0, j = S - 1; i < j; i++, j--) {
                    float t = row[i];
                    row[i] = row[j];
                    row[j] = t;
                }
            }
    }
    for (int k = 0; k < 3; k++) {
        int op = d->order[k];
        if (d->factor[op] != 1.0f) jitter(out, n, op, d->factor[op]);
    }
    u2_image_normalize(out, 3 * n);
}

void u2_augment(const u2_image *img, const u2_augment_params *p, u2_rng *rng, int S, float *out,
                u2_augment_draw *d)
{
    u2_augment_draw local;
    if (!d) d = &local;
    u2_augment_sample(p, img->w, img->h, rng, d);
    u2_augment_apply(img, d, S, out);
}
