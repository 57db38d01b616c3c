#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "image.h"
#include "fileio.h"
#include "kernels.h" /* u2_num_threads */
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <webp/decode.h>
#include <webp/encode.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* ------------------------------------------------------------------ decode */

/* A friendlier message for the formats people feed by mistake. */
static const char *sniff_format(const uint8_t *p, size_t n)
{
    if (n >= 8 && !memcmp(p, "\x89PNG\r\n\x1a\n", 8)) return "a PNG image";
    if (n >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff) return "a JPEG image";
    if (n >= 6 && (!memcmp(p, "GIF87a", 6) || !memcmp(p, "GIF89a", 6))) return "a GIF image";
    if (n >= 2 && p[0] == 'B' && p[1] == 'M') return "a BMP image";
    return NULL;
}

int u2_image_decode(const void *data, size_t len, const char *name, u2_image *img)
{
    const uint8_t *p = data;
    img->w = img->h = 0;
    img->rgb = NULL;
    if (!name) name = "(memory)";
    if (len == 0) return u2_fail(name, "empty file, not a WebP image");
    if (len < 12 || memcmp(p, "RIFF", 4) != 0 || memcmp(p + 8, "WEBP", 4) != 0) {
        const char *fmt = sniff_format(p, len);
        if (fmt) return u2_fail(name, "not a WebP image (it is %s; convert it with cwebp)", fmt);
        return u2_fail(name, "not a WebP image (no RIFF/WEBP header)");
    }
    WebPBitstreamFeatures f;
    VP8StatusCode st = WebPGetFeatures(p, len, &f);
    if (st == VP8_STATUS_NOT_ENOUGH_DATA) return u2_fail(name, "truncated WebP file");
    if (st == VP8_STATUS_UNSUPPORTED_FEATURE)
        return u2_fail(name, "WebP feature not supported by this libwebp");
    if (st != VP8_STATUS_OK) return u2_fail(name, "corrupt WebP data (bad header)");
    if (f.has_animation) return u2_fail(name, "animated WebP is not supported");
    if (f.width <= 0 || f.height <= 0)
        return u2_fail(name, "image has zero size (%dx%d)", f.width, f.height);
    if (f.width > U2_IMAGE_MAX_DIM || f.height > U2_IMAGE_MAX_DIM)
        return u2_fail(name, "image is %dx%d pixels; the limit is %d per side", f.width, f.height,
                       U2_IMAGE_MAX_DIM);
    size_t npx = (size_t)f.width * (size_t)f.height;
    uint8_t *rgb = malloc(npx * 3);
    if (!rgb) return u2_fail(name, "out of memory for a %dx%d image", f.width, f.height);
    int ok;
    if (f.has_alpha) {
        uint8_t *rgba = malloc(npx * 4);
        if (!rgba) {
            free(rgb);
            return u2_fail(name, "out of memory for a %dx%d image", f.width, f.height);
        }
        ok = WebPDecodeRGBAInto(p, len, rgba, npx * 4, f.width * 4) != NULL;
        if (ok) {
            /* straight (non-premultiplied) alpha over an opaque background,
             * rounded to nearest: c*a/255 + bg*(255-a)/255 */
            for (size_t i = 0; i < npx; i++) {
                unsigned a = rgba[4 * i + 3];
                for (int c = 0; c < 3; c++)
                    rgb[3 * i + c] = (uint8_t)((rgba[4 * i + c] * a +
                                                U2_IMAGE_BACKGROUND * (255 - a) + 127) / 255);
            }
        }
        free(rgba);
    } else {
        ok = WebPDecodeRGBInto(p, len, rgb, npx * 3, f.width * 3) != NULL;
    }
    if (!ok) {
        free(rgb);
        return u2_fail(name, "corrupt or truncated WebP data (%dx%d image)", f.width, f.height);
    }
    img->w = f.width;
    img->h = f.height;
    img->rgb = rgb;
    return 0;
}

int u2_image_load(const char *path, u2_image *img)
{
    size_t len;
    img->w = img->h = 0;
    img->rgb = NULL;
    char *buf = u2_read_file(path, &len);
    if (!buf) return -1;
    int rc = u2_image_decode(buf, len, path, img);
    free(buf);
    return rc;
}

void u2_image_free(u2_image *img)
{
    if (!img) return;
    free(img->rgb);
    img->rgb = NULL;
    img->w = img->h = 0;
}

/* --------------------------------------------------------------- resample */

/* Filter for one axis: output i reads taps source samples start[i]..
 * start[i]+taps-1 with weights w[i*taps + k] (zero padded; start clamped so
 * the window stays inside the source). */
typedef struct {
    int taps, identity;
    int *start;
    float *w;
} filter1d;

#define WEIGHT_ONE 65536 /* weights are multiples of 2^-16 */

static void filter_make(filter1d *f, int in, int out)
{
    double scale = (double)in / (double)out;
    int taps = in > out ? (int)ceil(scale) + 1 : in < out ? 2 : 1;
    if (taps > in) taps = in;
    f->taps = taps;
    f->identity = in == out;
    f->start = u2_malloc((size_t)out * sizeof(int));
    f->w = u2_calloc((size_t)out * (size_t)taps, sizeof(float));
    double *wd = u2_malloc((size_t)taps * sizeof(double));
    long *q = u2_malloc((size_t)taps * sizeof(long));
    for (int i = 0; i < out; i++) {
        int s0;
        for (int k = 0; k < taps; k++) wd[k] = 0;
        if (in > out) {
            /* area: output i covers [i*scale, (i+1)*scale) of the source */
            double lo = i * scale, hi = (i + 1) * scale;
            s0 = (int)floor(lo);
            if (s0 > in - taps) s0 = in - taps;
            for (int k = 0; k < taps; k++) {
                double a = s0 + k, b = a + 1;
                double ov = fmin(b, hi) - fmax(a, lo);
                wd[k] = ov > 0 ? ov / scale : 0;
            }
        } else if (in < out) {
            /* bilinear with pixel centres aligned: source x = (i+0.5)*scale-0.5 */
            double c = (i + 0.5) * scale - 0.5;
            if (c < 0) c = 0;
            if (c > in - 1) c = in - 1;
            int j = (int)floor(c);
            double fr = c - j;
            s0 = j;
            if (s0 > in - taps) s0 = in - taps;
            wd[j - s0] += 1 - fr;
            if (j + 1 < in) wd[j + 1 - s0] += fr;
            else wd[j - s0] += fr;
        } else {
            s0 = i;
            wd[0] = 1;
        }
        /* round to multiples of 2^-16 and put the rounding residue on the
         * largest weight, so the weights sum to exactly 1 */
        long sum = 0;
        int big = 0;
        for (int k = 0; k < taps; k++) {
            q[k] = lround(wd[k] * WEIGHT_ONE);
            sum += q[k];
            if (q[k] > q[big]) big = k;
        }
        q[big] += WEIGHT_ONE - sum;
        f->start[i] = s0;
        for (int k = 0; k < taps; k++) f->w[(size_t)i * taps + k] = (float)q[k] / WEIGHT_ONE;
    }
    free(q);
    free(wd);
}

static void filter_free(filter1d *f)
{
    free(f->start);
    free(f->w);
}

/* acc[0..n) = sum_k w[k] * src[k*stride + i]: the vertical pass over one
 * output row.  Rows are contiguous, so this is a long, vectorisable loop. */
static void vpass_row(const uint8_t *src, size_t stride, const float *w, int taps, size_t n,
                      float *restrict acc)
{
    const uint8_t *restrict s0 = src;
    const float w0 = w[0];
#pragma omp simd
    for (size_t i = 0; i < n; i++) acc[i] = w0 * (float)s0[i];
    for (int k = 1; k < taps; k++) {
        const float wk = w[k];
        if (wk == 0.0f) continue;
        const uint8_t *restrict s = src + (size_t)k * stride;
#pragma omp simd
        for (size_t i = 0; i < n; i++) acc[i] += wk * (float)s[i];
    }
}

/* out[c*plane + x] = sum_k w[x][k] * row[(start[x]+k)*3 + c]: the horizontal
 * pass over one row, interleaved in, planar out. */
static void hpass_row(const float *restrict row, const filter1d *fx, int ow, size_t plane,
                      float *restrict out)
{
    const int taps = fx->taps;
    if (fx->identity) { /* same width: only deinterleave (the common 64 -> 64 case) */
        for (int c = 0; c < 3; c++)
#pragma omp simd
            for (int x = 0; x < ow; x++) out[c * plane + x] = row[3 * x + c];
        return;
    }
    for (int x = 0; x < ow; x++) {
        const float *w = fx->w + (size_t)x * taps;
        const float *s = row + (size_t)fx->start[x] * 3;
        float r = 0, g = 0, b = 0;
        for (int k = 0; k < taps; k++) {
            r += w[k] * s[3 * k];
            g += w[k] * s[3 * k + 1];
            b += w[k] * s[3 * k + 2];
        }
        out[x] = r;
        out[plane + x] = g;
        out[2 * plane + x] = b;
    }
}

/* Work (source pixels read) above which the resize is spread over threads. */
#define RESIZE_PARALLEL_PIXELS (1L << 18)

void u2_resize_rgb(const uint8_t *rgb, int w, int h, size_t stride, int ow, int oh, float *out)
{
    filter1d fx, fy;
    filter_make(&fx, w, ow);
    filter_make(&fy, h, oh);
    const size_t n = (size_t)w * 3;
    const size_t plane = (size_t)ow * oh;
    const int big = (long)w * h > RESIZE_PARALLEL_PIXELS;
    const int nt = big ? u2_num_threads() : 1;
    float *tmp = u2_malloc((size_t)nt * n * sizeof(float));
#pragma omp parallel num_threads(nt) if (big)
    {
        int t = 0;
#ifdef _OPENMP
        t = omp_get_thread_num();
#endif
        float *acc = tmp + (size_t)t * n;
#pragma omp for schedule(static)
        for (int y = 0; y < oh; y++) {
            vpass_row(rgb + (size_t)fy.start[y] * stride, stride, fy.w + (size_t)y * fy.taps,
                      fy.taps, n, acc);
            hpass_row(acc, &fx, ow, plane, out + (size_t)y * ow);
        }
    }
    free(tmp);
    filter_free(&fx);
    filter_free(&fy);
}

void u2_image_normalize(float *x, size_t n)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++) x[i] = (x[i] / 255.0f - 0.5f) / 0.5f;
}

void u2_image_to_tensor(const u2_image *img, int S, float *out)
{
    u2_resize_rgb(img->rgb, img->w, img->h, (size_t)img->w * 3, S, S, out);
    u2_image_normalize(out, (size_t)3 * S * S);
}

int u2_image_load_tensor(const char *path, int S, float *out)
{
    u2_image img;
    if (u2_image_load(path, &img) != 0) return -1;
    u2_image_to_tensor(&img, S, out);
    u2_image_free(&img);
    return 0;
}

int u2_image_load_batch(const char *const *paths, int B, int S, float *out)
{
    const size_t per = (size_t)3 * S * S;
    int bad = B; /* lowest failing index */
    char msg[1024] = "";
#pragma omp parallel for schedule(dynamic) num_threads(u2_num_threads())
    for (int b = 0; b < B; b++) {
        if (u2_image_load_tensor(paths[b], S, out + (size_t)b * per) != 0) {
            /* the error text is thread-local: hand it to the caller's thread */
#pragma omp critical(u2_image_batch_err)
            if (b < bad) {
                bad = b;
                snprintf(msg, sizeof msg, "%s", u2_errmsg());
            }
        }
    }
    if (bad < B) return u2_fail("", "%s", msg);
    return 0;
}

/* ----------------------------------------------------------------- encode */

int u2_webp_encode(const uint8_t *px, int w, int h, int channels, int quality, uint8_t **out,
                   size_t *len)
{
    *out = NULL;
    *len = 0;
    if (w <= 0 || h <= 0 || w > 16383 || h > 16383)
        return u2_fail("webp encode", "cannot encode a %dx%d image (1..16383 per side)", w, h);
    if (channels != 3 && channels != 4)
        return u2_fail("webp encode", "channels must be 3 or 4, not %d", channels);
    if (quality != U2_WEBP_LOSSLESS && (quality < 0 || quality > 100))
        return u2_fail("webp encode", "quality must be 0..100, or lossless");
    WebPConfig cfg;
    WebPPicture pic;
    WebPMemoryWriter wr;
    if (!WebPConfigPreset(&cfg, WEBP_PRESET_DEFAULT, quality < 0 ? 75.0f : (float)quality) ||
        !WebPPictureInit(&pic))
        return u2_fail("webp encode", "libwebp version mismatch");
    if (quality == U2_WEBP_LOSSLESS) {
        cfg.lossless = 1;
        cfg.exact = 1; /* keep RGB under transparent pixels */
    }
    cfg.method = 4;
    cfg.thread_level = 0; /* deterministic, and callers parallelise over images */
    pic.use_argb = cfg.lossless;
    pic.width = w;
    pic.height = h;
    int ok = channels == 4 ? WebPPictureImportRGBA(&pic, px, w * 4)
                           : WebPPictureImportRGB(&pic, px, w * 3);
    if (!ok) {
        WebPPictureFree(&pic);
        return u2_fail("webp encode", "out of memory importing a %dx%d image", w, h);
    }
    WebPMemoryWriterInit(&wr);
    pic.writer = WebPMemoryWrite;
    pic.custom_ptr = &wr;
    ok = WebPEncode(&cfg, &pic);
    int err = pic.error_code;
    WebPPictureFree(&pic);
    if (!ok) {
        WebPMemoryWriterClear(&wr);
        return u2_fail("webp encode", "libwebp failed (error %d)", err);
    }
    uint8_t *buf = malloc(wr.size ? wr.size : 1);
    if (!buf) {
        WebPMemoryWriterClear(&wr);
        return u2_fail("webp encode", "out of memory");
    }
    memcpy(buf, wr.mem, wr.size);
    *out = buf;
    *len = wr.size;
    WebPMemoryWriterClear(&wr);
    return 0;
}

int u2_webp_write(const char *path, const uint8_t *px, int w, int h, int channels, int quality,
                  int fileio_flags)
{
    uint8_t *buf;
    size_t len;
    if (u2_webp_encode(px, w, h, channels, quality, &buf, &len) != 0) {
        /* name the file being written */
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", u2_errmsg());
        return u2_fail(path, "%s", msg);
    }
    int rc = u2_write_file_atomic(path, buf, len, fileio_flags);
    free(buf);
    return rc;
}
