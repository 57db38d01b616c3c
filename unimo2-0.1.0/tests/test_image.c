/* Images: WebP decode (ours and cwebp's files), the resampler against a
 * double-precision reference, normalisation, every bad input, batches and the
 * augmentations. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "augment.h"
#include "fileio.h"
#include "image.h"
#include "kernels.h" /* u2_set_num_threads */
#include "tap.h"
#include "util.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[256];

static char *path_in(const char *name)
{
    static char buf[8][512];
    static int k;
    char *p = buf[k++ & 7];
    snprintf(p, 512, "%s/%s", dir, name);
    return p;
}

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static uint8_t *random_rgb(int w, int h, int channels)
{
    uint8_t *p = malloc((size_t)w * h * channels);
    for (size_t i = 0; i < (size_t)w * h * channels; i++) p[i] = (uint8_t)(tap_next() >> 56);
    return p;
}

/* a smooth picture (lossy codecs keep it well) */
static uint8_t *smooth_rgb(int w, int h)
{
    uint8_t *p = malloc((size_t)w * h * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *q = p + ((size_t)y * w + x) * 3;
            q[0] = (uint8_t)(255 * x / (w - 1));
            q[1] = (uint8_t)(255 * y / (h - 1));
            q[2] = (uint8_t)(128 + 100 * sin(0.1 * x + 0.07 * y));
        }
    return p;
}

static int write_bytes(const char *path, const void *b, size_t n)
{
    return u2_write_file_atomic(path, b, n, U2_ATOMIC_NOSYNC);
}

/* ------------------------------------------------------- the reference */

/* Per-axis weights of output i over source j, from the definitions in
 * image.h, in double: area overlap / scale when shrinking, bilinear with
 * aligned pixel centres when enlarging, identity otherwise. */
static double ref_weight(int in, int out, int i, int j)
{
    double scale = (double)in / out;
    if (in > out) {
        double lo = i * scale, hi = (i + 1) * scale;
        double ov = fmin(j + 1.0, hi) - fmax((double)j, lo);
        return ov > 0 ? ov / scale : 0;
    }
    if (in < out) {
        double c = (i + 0.5) * scale - 0.5;
        if (c < 0) c = 0;
        if (c > in - 1) c = in - 1;
        int j0 = (int)floor(c);
        double f = c - j0;
        int j1 = j0 + 1 < in ? j0 + 1 : j0;
        return (j == j0 ? 1 - f : 0) + (j == j1 ? f : 0);
    }
    return i == j ? 1 : 0;
}

static int taps_of(int in, int out)
{
    return in > out ? (int)ceil((double)in / out) + 1 : in < out ? 2 : 1;
}

/* max |ours - reference| over all outputs, in grey levels */
static double resize_vs_ref(const uint8_t *rgb, int w, int h, int ow, int oh)
{
    float *out = malloc(sizeof(float) * 3 * ow * oh);
    u2_resize_rgb(rgb, w, h, (size_t)w * 3, ow, oh, out);
    double *wx = malloc(sizeof(double) * ow * w), *wy = malloc(sizeof(double) * oh * h);
    for (int i = 0; i < ow; i++)
        for (int j = 0; j < w; j++) wx[(size_t)i * w + j] = ref_weight(w, ow, i, j);
    for (int i = 0; i < oh; i++)
        for (int j = 0; j < h; j++) wy[(size_t)i * h + j] = ref_weight(h, oh, i, j);
    double worst = 0;
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < oh; y++)
            for (int x = 0; x < ow; x++) {
                double s = 0;
                for (int j = 0; j < h; j++) {
                    double wyj = wy[(size_t)y * h + j];
                    if (wyj == 0) continue;
                    for (int i = 0; i < w; i++) {
                        double wxi = wx[(size_t)x * w + i];
                        if (wxi) s += wyj * wxi * rgb[((size_t)j * w + i) * 3 + c];
                    }
                }
                double d = fabs(s - out[(size_t)c * ow * oh + (size_t)y * ow + x]);
                if (d > worst) worst = d;
            }
    free(out);
    free(wx);
    free(wy);
    return worst;
}

/* The error bound, derived: each weight is rounded to a multiple of 2^-16
 * (error <= 2^-17) and the residue that makes them sum to 1 goes on one of
 * them (<= taps * 2^-17 more), so a pass with t taps moves a value in
 * [0, 255] by at most 255 * 2 t 2^-17; float rounding in a t-term sum adds
 * at most (t + 1) 2^-24 * 255 relative.  The two passes add up. */
static double resize_tol(int w, int h, int ow, int oh)
{
    int tx = taps_of(w, ow), ty = taps_of(h, oh);
    return 255.0 * (2.0 * (tx + ty) * ldexp(1, -17) + (tx + ty + 2) * ldexp(1, -24));
}

/* ------------------------------------------------------------- tests */

static void test_codec(void)
{
    tap_seed(11);
    /* lossless RGB: exact round trip, odd sizes */
    int w = 37, h = 23;
    uint8_t *rgb = random_rgb(w, h, 3), *enc;
    size_t len;
    tap_ok(u2_webp_encode(rgb, w, h, 3, U2_WEBP_LOSSLESS, &enc, &len) == 0, "encode lossless RGB");
    u2_image img;
    tap_ok(u2_image_decode(enc, len, "mem", &img) == 0 && img.w == w && img.h == h &&
               !memcmp(img.rgb, rgb, (size_t)w * h * 3),
           "lossless RGB decodes to the same bytes");
    u2_image_free(&img);
    /* the file helper writes the same bytes, and dwebp (if installed) agrees */
    tap_ok(u2_webp_write(path_in("rgb.webp"), rgb, w, h, 3, U2_WEBP_LOSSLESS, 0) == 0,
           "u2_webp_write");
    size_t flen;
    char *fb = u2_read_file(path_in("rgb.webp"), &flen);
    tap_ok(fb && flen == len && !memcmp(fb, enc, len), "file bytes = encoder bytes (deterministic)");
    free(fb);
    free(enc);
    if (system("command -v dwebp >/dev/null 2>&1") == 0) {
        char cmd[1200];
        snprintf(cmd, sizeof cmd, "dwebp -quiet -ppm '%s' -o '%s'", path_in("rgb.webp"),
                 path_in("rgb.ppm"));
        size_t plen;
        char *ppm = system(cmd) == 0 ? u2_read_file(path_in("rgb.ppm"), &plen) : NULL;
        /* "P6\n37 23\n255\n" + pixels */
        char head[32];
        int hl = snprintf(head, sizeof head, "P6\n%d %d\n255\n", w, h);
        tap_ok(ppm && plen == (size_t)hl + (size_t)w * h * 3 && !memcmp(ppm, head, (size_t)hl) &&
                   !memcmp(ppm + hl, rgb, (size_t)w * h * 3),
               "dwebp decodes our lossless file to the same pixels");
        free(ppm);
    } else {
        tap_skip("dwebp not installed");
    }
    free(rgb);

    /* RGBA: composited onto white, straight alpha, rounded */
    w = 16;
    h = 8;
    uint8_t *rgba = random_rgb(w, h, 4);
    for (int i = 0; i < w * h; i++) rgba[4 * i + 3] = (uint8_t)(i % 3 == 0 ? 0 : i % 3 == 1 ? 255 : 17 * i);
    tap_ok(u2_webp_encode(rgba, w, h, 4, U2_WEBP_LOSSLESS, &enc, &len) == 0, "encode lossless RGBA");
    int ok = u2_image_decode(enc, len, "mem", &img) == 0;
    int exact = ok;
    for (int i = 0; ok && i < w * h; i++)
        for (int c = 0; c < 3; c++) {
            unsigned a = rgba[4 * i + 3];
            unsigned want = (rgba[4 * i + c] * a + 255 * (255 - a) + 127) / 255;
            if (img.rgb[3 * i + c] != want) exact = 0;
        }
    tap_ok(exact, "alpha composited onto white: c*a/255 + 255*(1-a/255), rounded");
    u2_image_free(&img);
    free(enc);
    free(rgba);

    /* grey content, lossless and lossy */
    w = 28;
    h = 28;
    uint8_t *g = malloc((size_t)w * h * 3);
    for (int i = 0; i < w * h; i++) g[3 * i] = g[3 * i + 1] = g[3 * i + 2] = (uint8_t)(i * 7);
    u2_webp_encode(g, w, h, 3, U2_WEBP_LOSSLESS, &enc, &len);
    tap_ok(u2_image_decode(enc, len, "mem", &img) == 0 && !memcmp(img.rgb, g, (size_t)w * h * 3),
           "grey image, lossless: exact");
    u2_image_free(&img);
    free(enc);
    free(g);
    uint8_t *sm = smooth_rgb(64, 48);
    tap_ok(u2_webp_encode(sm, 64, 48, 3, 90, &enc, &len) == 0, "encode lossy q=90 (%zu bytes)", len);
    double mad = 0;
    if (u2_image_decode(enc, len, "mem", &img) == 0) {
        for (int i = 0; i < 64 * 48 * 3; i++) mad += fabs((double)img.rgb[i] - sm[i]);
        mad /= 64 * 48 * 3;
    } else {
        mad = 1e9;
    }
    tap_ok(mad < 4.0, "lossy q=90 on a smooth image: mean abs error %.2f < 4 grey levels", mad);
    u2_image_free(&img);
    free(enc);
    uint8_t *e2;
    size_t l2;
    u2_webp_encode(sm, 64, 48, 3, 90, &enc, &len);
    u2_webp_encode(sm, 64, 48, 3, 90, &e2, &l2);
    tap_ok(len == l2 && !memcmp(enc, e2, len), "lossy encoding is deterministic");
    free(enc);
    free(e2);
    free(sm);
    tap_ok(u2_webp_encode((const uint8_t *)"", 0, 5, 3, 90, &enc, &len) == -1 &&
               u2_webp_encode((const uint8_t *)"", 5, 5, 2, 90, &enc, &len) == -1 &&
               u2_webp_encode((const uint8_t *)"", 5, 5, 3, 101, &enc, &len) == -1,
           "encoder refuses bad sizes, channels and quality");
}

/* Files made by the cwebp tool: PPM (RGB), PGM (grey), PAM (RGBA). */
static void test_cwebp(void)
{
    if (system("command -v cwebp >/dev/null 2>&1") != 0) {
        tap_skip("cwebp not installed (Debian: webp)");
        return;
    }
    tap_seed(12);
    const int w = 19, h = 13;
    struct {
        const char *name, *head, *check;
        int ch;
    } cases[] = {
        {"rgb.ppm", "P6\n19 13\n255\n", "RGB", 3},
        {"grey.pgm", "P5\n19 13\n255\n", "grey", 1},
        {"rgba.pam", "P7\nWIDTH 19\nHEIGHT 13\nDEPTH 4\nMAXVAL 255\nTUPLTYPE RGB_ALPHA\nENDHDR\n",
         "RGBA", 4},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int ch = cases[k].ch;
        uint8_t *px = random_rgb(w, h, ch);
        if (ch == 4)
            for (int i = 0; i < w * h; i++) px[4 * i + 3] = (uint8_t)(i % 4 == 0 ? 0 : i % 4 == 1 ? 255 : 50 * (i % 5));
        size_t hl = strlen(cases[k].head), n = (size_t)w * h * ch;
        uint8_t *file = malloc(hl + n);
        memcpy(file, cases[k].head, hl);
        memcpy(file + hl, px, n);
        write_bytes(path_in(cases[k].name), file, hl + n);
        free(file);
        char out[64], cmd[1400];
        snprintf(out, sizeof out, "cwebp-%s.webp", cases[k].check);
        snprintf(cmd, sizeof cmd, "cwebp -quiet -lossless -exact '%s' -o '%s' 2>/dev/null",
                 path_in(cases[k].name), path_in(out));
        if (system(cmd) != 0) {
            tap_skip("cwebp cannot read %s here", cases[k].name);
            free(px);
            continue;
        }
        u2_image img;
        int ok = u2_image_load(path_in(out), &img) == 0 && img.w == w && img.h == h;
        for (int i = 0; ok && i < w * h; i++)
            for (int c = 0; c < 3; c++) {
                unsigned want;
                if (ch == 1) want = px[i];
                else if (ch == 3) want = px[3 * i + c];
                else {
                    unsigned a = px[4 * i + 3];
                    want = (px[4 * i + c] * a + 255 * (255 - a) + 127) / 255;
                }
                if (img.rgb[3 * i + c] != want) ok = 0;
            }
        tap_ok(ok, "cwebp -lossless %s file decodes to the source pixels", cases[k].check);
        u2_image_free(&img);
        free(px);
    }
}

static void test_resize(void)
{
    tap_seed(13);
    static const int sz[][4] = {
        {64, 64, 64, 64},  {64, 48, 16, 16}, {100, 75, 32, 32}, {37, 23, 64, 64},
        {7, 5, 16, 16},    {300, 17, 24, 40}, {1, 1, 8, 8},     {1, 9, 3, 3},
        {131, 97, 13, 11}, {5, 200, 64, 7},   {16, 16, 15, 17}, {2, 2, 3, 3},
    };
    for (size_t k = 0; k < sizeof sz / sizeof sz[0]; k++) {
        int w = sz[k][0], h = sz[k][1], ow = sz[k][2], oh = sz[k][3];
        uint8_t *rgb = random_rgb(w, h, 3);
        double err = resize_vs_ref(rgb, w, h, ow, oh), tol = resize_tol(w, h, ow, oh);
        tap_ok(err <= tol, "resize %dx%d -> %dx%d: max |err| %.3g <= derived %.3g grey levels", w,
               h, ow, oh, err, tol);
        free(rgb);
    }
    /* constant images come out exactly: weights sum to exactly 1 in float */
    static const int cs[][4] = {{1000, 3, 3, 1}, {640, 480, 64, 64}, {7, 5, 64, 64},
                                {33, 65, 16, 16}, {3, 3, 224, 224}};
    static const uint8_t vals[][3] = {{0, 0, 0}, {255, 255, 255}, {37, 128, 201}, {1, 254, 99}};
    int exact = 1;
    for (size_t k = 0; k < sizeof cs / sizeof cs[0]; k++)
        for (size_t v = 0; v < sizeof vals / sizeof vals[0]; v++) {
            int w = cs[k][0], h = cs[k][1], ow = cs[k][2], oh = cs[k][3];
            uint8_t *rgb = malloc((size_t)w * h * 3);
            for (int i = 0; i < w * h; i++) memcpy(rgb + 3 * i, vals[v], 3);
            float *out = malloc(sizeof(float) * 3 * ow * oh);
            u2_resize_rgb(rgb, w, h, (size_t)w * 3, ow, oh, out);
            for (int c = 0; c < 3; c++)
                for (int i = 0; i < ow * oh; i++)
                    if (out[(size_t)c * ow * oh + i] != (float)vals[v][c]) exact = 0;
            free(rgb);
            free(out);
        }
    tap_ok(exact, "constant images resize exactly (shrink, enlarge, both, extreme ratios)");
    /* an exact 2x2 box average and exact bilinear midpoints */
    uint8_t four[12] = {0, 0, 0, 100, 100, 100, 10, 10, 10, 50, 50, 50};
    float o1[3];
    u2_resize_rgb(four, 2, 2, 6, 1, 1, o1);
    tap_ok(o1[0] == 40.0f && o1[1] == 40.0f && o1[2] == 40.0f, "2x2 -> 1x1 is the mean (%g)", o1[0]);
    uint8_t two[6] = {0, 0, 0, 200, 200, 200};
    float o4[12];
    u2_resize_rgb(two, 2, 1, 6, 4, 1, o4);
    tap_ok(o4[0] == 0 && o4[1] == 50 && o4[2] == 150 && o4[3] == 200,
           "1x2 -> 1x4 bilinear: 0 50 150 200 (got %g %g %g %g)", o4[0], o4[1], o4[2], o4[3]);
    /* a stride larger than the row, e.g. a crop */
    uint8_t *rgb = random_rgb(20, 10, 3);
    float *a = malloc(sizeof(float) * 3 * 36), *b = malloc(sizeof(float) * 3 * 36);
    uint8_t *crop = malloc(8 * 6 * 3);
    for (int y = 0; y < 6; y++) memcpy(crop + y * 24, rgb + ((size_t)(y + 2) * 20 + 5) * 3, 24);
    u2_resize_rgb(rgb + (2 * 20 + 5) * 3, 8, 6, 60, 6, 6, a);
    u2_resize_rgb(crop, 8, 6, 24, 6, 6, b);
    tap_ok(!memcmp(a, b, sizeof(float) * 3 * 36), "a region with a row stride = the same region packed");
    free(a);
    free(b);
    free(crop);
    free(rgb);
    /* threads: a large image (parallel path) gives the same bits on 1 and 2 threads */
    rgb = random_rgb(1200, 900, 3);
    float *t1 = malloc(sizeof(float) * 3 * 224 * 224), *t2 = malloc(sizeof(float) * 3 * 224 * 224);
    u2_set_num_threads(1);
    u2_resize_rgb(rgb, 1200, 900, 3600, 224, 224, t1);
    u2_set_num_threads(2);
    u2_resize_rgb(rgb, 1200, 900, 3600, 224, 224, t2);
    u2_set_num_threads(0);
    tap_ok(!memcmp(t1, t2, sizeof(float) * 3 * 224 * 224), "1200x900 -> 224: 1 thread = 2 threads");
    free(t1);
    free(t2);
    free(rgb);
}

static void test_normalize(void)
{
    float x[5] = {0, 255, 127.5f, 51, 204};
    u2_image_normalize(x, 5);
    tap_ok(x[0] == -1.0f && x[1] == 1.0f && x[2] == 0.0f, "0 -> -1, 255 -> 1, 127.5 -> 0");
    tap_ok(fabsf(x[3] + 0.6f) < 1e-6f && fabsf(x[4] - 0.6f) < 1e-6f, "51 -> -0.6, 204 -> 0.6");
    /* the tensor layout: [3][S][S], channel planes */
    uint8_t px[2 * 2 * 3] = {255, 0, 51, 255, 0, 51, 255, 0, 51, 255, 0, 51};
    u2_image img = {2, 2, px};
    float t[3 * 4 * 4];
    u2_image_to_tensor(&img, 4, t);
    int ok = 1;
    for (int i = 0; i < 16; i++)
        ok &= t[i] == 1.0f && t[16 + i] == -1.0f && t[32 + i] == (51 / 255.0f - 0.5f) / 0.5f;
    tap_ok(ok, "to_tensor: planar CHW, (x/255 - 0.5)/0.5 per channel");
}

static void test_bad_inputs(void)
{
    tap_seed(14);
    uint8_t *rgb = random_rgb(30, 20, 3), *enc;
    size_t len;
    u2_webp_encode(rgb, 30, 20, 3, 80, &enc, &len);
    free(rgb);
    write_bytes(path_in("good.webp"), enc, len);
    write_bytes(path_in("empty.webp"), "", 0);
    write_bytes(path_in("text.webp"), "hello, I am not an image\n", 25);
    write_bytes(path_in("png.webp"), "\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16);
    write_bytes(path_in("short.webp"), "RIF", 3);
    write_bytes(path_in("trunc.webp"), enc, len / 2);
    write_bytes(path_in("header-only.webp"), enc, 30);
    uint8_t *bad = malloc(len);
    memcpy(bad, enc, len);
    bad[23] ^= 0xff; /* the VP8 key frame start code 9d 01 2a at bytes 23..25 */
    write_bytes(path_in("corrupt.webp"), bad, len);
    memcpy(bad, enc, len);
    memcpy(bad + 12, "VP9 ", 4); /* an unknown chunk where the image should be */
    write_bytes(path_in("badchunk.webp"), bad, len);
    free(bad);
    free(enc);
    /* lossless data with its entropy codes garbled */
    rgb = random_rgb(30, 20, 3);
    u2_webp_encode(rgb, 30, 20, 3, U2_WEBP_LOSSLESS, &enc, &len);
    free(rgb);
    for (size_t i = 30; i < len; i++) enc[i] = (uint8_t)(0xff ^ (i * 37));
    write_bytes(path_in("corrupt-lossless.webp"), enc, len);
    free(enc);
    /* a VP8X header announcing a 20000 x 10 canvas (the data stops there) */
    uint8_t huge[30] = "RIFF\0\0\0\0WEBPVP8X";
    huge[4] = 22;
    huge[16] = 10;
    huge[24] = (20000 - 1) & 0xff;
    huge[25] = (20000 - 1) >> 8;
    huge[27] = 10 - 1;
    write_bytes(path_in("huge.webp"), huge, sizeof huge);
    /* zero-length VP8 chunk */
    uint8_t zero[20] = "RIFF\x0c\0\0\0WEBPVP8 ";
    write_bytes(path_in("zero.webp"), zero, sizeof zero);

    struct {
        const char *file, *want;
    } cases[] = {
        {"missing.webp", "No such file"},
        {"empty.webp", "empty file"},
        {"text.webp", "not a WebP"},
        {"png.webp", "PNG"},
        {"short.webp", "not a WebP"},
        {"trunc.webp", "truncated"},
        {"header-only.webp", "truncated"},
        {"corrupt.webp", "corrupt"},
        {"corrupt-lossless.webp", "corrupt"},
        {"badchunk.webp", "corrupt"},
        {"huge.webp", "20000x10 pixels; the limit is 16384"},
        {"zero.webp", ""},
        {".", "is a directory"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const char *p = path_in(cases[k].file);
        u2_image img = {7, 7, (uint8_t *)1};
        u2_clear_error();
        int rc = u2_image_load(p, &img);
        const char *m = u2_errmsg();
        tap_ok(rc == -1 && img.rgb == NULL && img.w == 0 && starts_with(m, p) &&
                   strstr(m, cases[k].want),
               "%s: %s", cases[k].file, m);
    }
    u2_image img;
    tap_ok(u2_image_load(path_in("good.webp"), &img) == 0 && img.w == 30 && img.h == 20,
           "the good file loads");
    u2_image_free(&img);
    u2_image_free(&img); /* twice is harmless */
    tap_ok(u2_image_decode("RIFF", 4, NULL, &img) == -1 && starts_with(u2_errmsg(), "(memory)"),
           "memory decode without a name: %s", u2_errmsg());
}

static void test_batch(void)
{
    tap_seed(15);
    enum { B = 7, S = 24 };
    const char *paths[B];
    char names[B][32];
    for (int b = 0; b < B; b++) {
        int w = 10 + 13 * b, h = 40 - 3 * b;
        uint8_t *rgb = random_rgb(w, h, 3);
        snprintf(names[b], sizeof names[b], "batch%d.webp", b);
        u2_webp_write(path_in(names[b]), rgb, w, h, 3, b % 2 ? 85 : U2_WEBP_LOSSLESS, 0);
        free(rgb);
        paths[b] = strdup(path_in(names[b]));
    }
    const size_t per = 3 * S * S;
    float *t = malloc(sizeof(float) * B * per), *one = malloc(sizeof(float) * per);
    u2_set_num_threads(2);
    int rc = u2_image_load_batch(paths, B, S, t);
    u2_set_num_threads(0);
    int same = rc == 0;
    for (int b = 0; b < B && same; b++)
        same = u2_image_load_tensor(paths[b], S, one) == 0 && !memcmp(one, t + b * per, per * sizeof(float));
    tap_ok(same, "batch of %d on 2 threads = each image loaded alone", B);
    float lo = 1e9f, hi = -1e9f;
    for (size_t i = 0; i < B * per; i++) {
        lo = fminf(lo, t[i]);
        hi = fmaxf(hi, t[i]);
    }
    tap_ok(lo >= -1.0f && hi <= 1.0f, "normalised values within [-1, 1] (%g..%g)", lo, hi);
    /* a bad file in the middle: the error names it */
    free((void *)paths[4]);
    paths[4] = strdup(path_in("empty.webp"));
    free((void *)paths[5]);
    paths[5] = strdup(path_in("text.webp"));
    rc = u2_image_load_batch(paths, B, S, t);
    tap_ok(rc == -1 && starts_with(u2_errmsg(), path_in("empty.webp")),
           "batch with bad files reports the first: %s", u2_errmsg());
    for (int b = 0; b < B; b++) free((void *)paths[b]);
    free(t);
    free(one);
}

static void test_augment(void)
{
    tap_seed(16);
    const int w = 90, h = 60, S = 32;
    u2_image img = {w, h, random_rgb(w, h, 3)};
    u2_augment_params p;
    u2_augment_defaults(&p);
    const size_t n = 3 * S * S;
    float *a = malloc(sizeof(float) * n), *b = malloc(sizeof(float) * n);
    u2_rng r1 = u2_rng_stream(5, 1), r2 = u2_rng_stream(5, 1), r3 = u2_rng_stream(5, 2);
    u2_augment_draw d1, d2, d3;
    u2_augment(&img, &p, &r1, S, a, &d1);
    u2_augment(&img, &p, &r2, S, b, &d2);
    tap_ok(!memcmp(a, b, sizeof(float) * n) && !memcmp(&d1, &d2, sizeof d1) &&
               !memcmp(&r1, &r2, sizeof r1),
           "same RNG state: identical view, draw and RNG state after");
    u2_augment(&img, &p, &r3, S, b, &d3);
    tap_ok(memcmp(a, b, sizeof(float) * n) != 0, "another stream: another view");

    /* many draws stay within the documented ranges */
    int in_range = 1, flips = 0, perms_ok = 1;
    const int N = 4000;
    double amin = 9, amax = 0, rmin = 9, rmax = 0;
    u2_rng r = u2_rng_stream(6, 0);
    for (int i = 0; i < N; i++) {
        /* even draws: aspect within [3/4, 4/3], where the crop keeps at least
         * scale_min of the area; odd draws: any aspect up to 16:1, where the
         * fallback crop may keep less but still has an aspect within range */
        int iw = 20 + (int)(tap_next() % 300), ih;
        if (i % 2 == 0) ih = (int)(iw * (0.75 + 0.58 * (double)(tap_next() % 1000) / 1000));
        else ih = 20 + (int)(tap_next() % 300);
        if (i % 2 == 0 && (ih < iw * 0.75 || ih > iw * 4.0 / 3)) ih = iw;
        u2_augment_draw d;
        u2_augment_sample(&p, iw, ih, &r, &d);
        in_range &= d.x >= 0 && d.y >= 0 && d.w >= 1 && d.h >= 1 && d.x + d.w <= iw && d.y + d.h <= ih;
        double area = (double)d.w * d.h / ((double)iw * ih), ratio = (double)d.w / d.h;
        if (i % 2 == 0) {
            amin = fmin(amin, area);
            amax = fmax(amax, area);
        }
        rmin = fmin(rmin, ratio);
        rmax = fmax(rmax, ratio);
        for (int k = 0; k < 3; k++) in_range &= d.factor[k] >= 0.6f && d.factor[k] <= 1.4f;
        perms_ok &= d.order[0] + d.order[1] + d.order[2] == 3 && d.order[0] != d.order[1] &&
                    d.order[1] != d.order[2] && d.order[0] != d.order[2];
        flips += d.flip;
    }
    tap_ok(in_range && perms_ok, "%d draws: crops inside the image, factors in [0.6, 1.4]", N);
    /* rounding the crop to whole pixels moves area and ratio a little (the
     * shortest crop side is about 11 pixels: half a pixel is 4.5% a side) */
    tap_ok(amin >= 0.4 * 0.9 && amax <= 1.0 && rmin >= 0.75 * 0.9 && rmax <= 4.0 / 3 / 0.9,
           "crop area %.3f..%.3f of the image, aspect %.3f..%.3f", amin, amax, rmin, rmax);
    /* flips: binomial(4000, 0.5) is within 2000 +- 5 sigma (158) */
    tap_ok(abs(flips - N / 2) < 160, "flip rate %d / %d", flips, N);

    /* the identity draw is the plain preprocessing; the flip mirrors it */
    u2_augment_draw id = {0, 0, w, h, 0, {1, 1, 1}, {0, 1, 2}};
    u2_augment_apply(&img, &id, S, a);
    u2_image_to_tensor(&img, S, b);
    tap_ok(!memcmp(a, b, sizeof(float) * n), "identity draw = u2_image_to_tensor");
    id.flip = 1;
    u2_augment_apply(&img, &id, S, b);
    int mirrored = 1;
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++)
                mirrored &= a[(c * S + y) * S + x] == b[(c * S + y) * S + S - 1 - x];
    tap_ok(mirrored, "flip mirrors left-right");
    /* crop (10,5) 40x30 -> S = resize of that region */
    u2_augment_draw cr = {10, 5, 40, 30, 0, {1, 1, 1}, {0, 1, 2}};
    u2_augment_apply(&img, &cr, S, a);
    u2_resize_rgb(img.rgb + (5 * w + 10) * 3, 40, 30, (size_t)w * 3, S, S, b);
    u2_image_normalize(b, n);
    tap_ok(!memcmp(a, b, sizeof(float) * n), "crop = resize of the crop rectangle");

    /* jitter on a known two-pixel image: values from the documented formulas */
    uint8_t px[6] = {200, 100, 50, 20, 40, 60};
    u2_image two = {2, 1, px};
    float o[3 * 2 * 2];
    u2_augment_draw jb = {0, 0, 2, 1, 0, {1.3f, 1, 1}, {0, 1, 2}};
    u2_augment_apply(&two, &jb, 2, o); /* S=2: column 0 is pixel 0 */
    tap_ok(o[0] == 1.0f && fabsf(o[8] - (50 * 1.3f / 255 - 0.5f) / 0.5f) < 1e-6f,
           "brightness 1.3: 200 clamps to 255, 50 becomes 65");
    u2_augment_draw js = {0, 0, 2, 1, 0, {1, 1, 0}, {0, 1, 2}};
    u2_augment_apply(&two, &js, 2, o);
    float g0 = 0.299f * 200 + 0.587f * 100 + 0.114f * 50;
    tap_ok(fabsf(o[0] - o[4]) < 1e-6f && fabsf(o[4] - o[8]) < 1e-6f &&
               fabsf(o[0] - (g0 / 255 - 0.5f) / 0.5f) < 1e-5f,
           "saturation 0 gives grey = 0.299 R + 0.587 G + 0.114 B");
    u2_augment_draw jc = {0, 0, 2, 1, 0, {1, 0, 1}, {0, 1, 2}};
    u2_augment_apply(&two, &jc, 2, o);
    float g1 = 0.299f * 20 + 0.587f * 40 + 0.114f * 60, m = (g0 + g1) / 2;
    int flat = 1;
    for (int i = 0; i < 12; i++) flat &= fabsf(o[i] - (m / 255 - 0.5f) / 0.5f) < 1e-5f;
    tap_ok(flat, "contrast 0 gives the mean grey everywhere");
    /* a full random view of a real image stays in [-1, 1] */
    int bounded = 1;
    for (int i = 0; i < 200; i++) {
        u2_augment(&img, &p, &r, S, a, NULL);
        for (size_t k = 0; k < n; k++) bounded &= a[k] >= -1.0f && a[k] <= 1.0f;
    }
    tap_ok(bounded, "200 random views: every value in [-1, 1]");
    /* tiny and very thin images still give a valid crop */
    u2_image thin = {300, 2, random_rgb(300, 2, 3)};
    u2_augment_draw dt;
    u2_augment(&thin, &p, &r, 8, a, &dt);
    tap_ok(dt.w >= 1 && dt.h >= 1 && dt.x + dt.w <= 300 && dt.y + dt.h <= 2,
           "300x2 image: fallback crop %dx%d at %d,%d", dt.w, dt.h, dt.x, dt.y);
    u2_image_free(&thin);
    u2_image one = {1, 1, random_rgb(1, 1, 3)};
    u2_augment(&one, &p, &r, 8, a, &dt);
    tap_ok(dt.w == 1 && dt.h == 1, "1x1 image");
    u2_image_free(&one);
    free(a);
    free(b);
    u2_image_free(&img);
}

int main(void)
{
    snprintf(dir, sizeof dir, "%s/u2-image-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) {
        printf("Bail out! cannot make a temp folder\n");
        return 1;
    }
    test_codec();
    test_cwebp();
    test_resize();
    test_normalize();
    test_bad_inputs();
    test_batch();
    test_augment();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) tap_diag("could not remove %s", dir);
    return tap_done();
}
