/* Images: WebP decode/encode (libwebp), a separable resampler and the model's
 * input normalisation.
 *
 * Preprocessing (SPEC §1.1): decode to 8-bit RGB (alpha composited onto a
 * white background), resize the whole image to S x S (a plain resize to the
 * square: the aspect ratio is NOT kept, nothing is cropped or padded), then
 * x -> (x/255 - 0.5)/0.5 into planar CHW floats in [-1, 1]. */
#ifndef UNIMO2_IMAGE_H
#define UNIMO2_IMAGE_H

#include <stddef.h>
#include <stdint.h>

/* Images wider or taller than this are refused (WebP itself stops at 16383). */
#define U2_IMAGE_MAX_DIM 16384
/* Transparent pixels are composited onto this grey level (white). */
#define U2_IMAGE_BACKGROUND 255
/* u2_webp_encode quality meaning "lossless". */
#define U2_WEBP_LOSSLESS (-1)

/* A decoded image: 8-bit RGB, interleaved, rows packed (stride 3*w). */
typedef struct {
    int w, h;
    uint8_t *rgb;
} u2_image;

/* Decode WebP bytes; `name` is used in error messages (the file name).
 * Errors: empty input, not a WebP, corrupt or truncated data, animation,
 * zero or too large dimensions. */
int u2_image_decode(const void *data, size_t len, const char *name, u2_image *img);
/* Read and decode a .webp file (errors name the file). */
int u2_image_load(const char *path, u2_image *img);
void u2_image_free(u2_image *img);

/* Resample an RGB region (w x h pixels, rows `stride` bytes apart) to ow x oh,
 * written planar: out[c][y][x], values in [0, 255].  Per axis: area averaging
 * when shrinking, bilinear (pixel centres aligned, edges clamped) when
 * enlarging, a copy when the size is unchanged.  Filter weights are rounded
 * to multiples of 2^-16 that sum to exactly 1, so the arithmetic is exact for
 * constant regions.  Threaded over output rows for large inputs. */
void u2_resize_rgb(const uint8_t *rgb, int w, int h, size_t stride, int ow, int oh, float *out);
/* In place: x -> (x/255 - 0.5)/0.5. */
void u2_image_normalize(float *x, size_t n);
/* Resize + normalise into a [3][S][S] tensor. */
void u2_image_to_tensor(const u2_image *img, int S, float *out);
/* Load one file into a [3][S][S] tensor. */
int u2_image_load_tensor(const char *path, int S, float *out);
/* Load B files into a [B][3][S][S] tensor, images decoded in parallel
 * (OpenMP, u2_num_threads()).  On error, the first failing file (lowest
 * index) is reported and -1 returned. */
int u2_image_load_batch(const char *const *paths, int B, int S, float *out);

/* Encode 8-bit pixels (channels = 3 for RGB, 4 for RGBA, rows packed) as
 * WebP: quality 0..100 lossy, U2_WEBP_LOSSLESS exact.  Single-threaded and
 * deterministic.  *out is malloc'd (free with free()). */
int u2_webp_encode(const uint8_t *px, int w, int h, int channels, int quality, uint8_t **out,
                   size_t *len);
/* Encode and write atomically to `path`; fileio_flags as for
 * u2_atomic_open_flags (0, or U2_ATOMIC_NOSYNC for bulk writes). */
int u2_webp_write(const char *path, const uint8_t *px, int w, int h, int channels, int quality,
                  int fileio_flags);

#endif
