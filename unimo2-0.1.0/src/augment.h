/* Image augmentations for the visual contrastive loss on image-only data
 * (SPEC §2 VCL, ours): random resized crop, horizontal flip and colour
 * jitter, the usual SimCLR/torchvision recipe without hue jitter.
 *
 * Everything random is drawn from a u2_rng the caller passes in, so a view is
 * a pure function of (image, parameters, RNG state).  Input: decoded 8-bit
 * RGB (u2_image).  Output: the normalised [3][S][S] tensor, like
 * u2_image_to_tensor. */
#ifndef UNIMO2_AUGMENT_H
#define UNIMO2_AUGMENT_H

#include "image.h"
#include "rng.h"

typedef struct {
    /* Random resized crop: crop area = U(scale_min, scale_max) x image area,
     * aspect ratio w/h log-uniform in [ratio_min, ratio_max]; up to 10 tries,
     * then the largest centred crop with the ratio clamped into range. */
    float scale_min, scale_max; /* 0.4, 1.0 */
    float ratio_min, ratio_max; /* 3/4, 4/3 */
    float flip_p;               /* 0.5: probability of a horizontal flip */
    /* Colour jitter: factors drawn U(1-x, 1+x) (x = 0 disables), applied in
     * a random order on [0,255] values, clamped after each:
     *   brightness  v' = f*v
     *   contrast    v' = f*v + (1-f)*mean(gray of the view)
     *   saturation  v' = f*v + (1-f)*gray(pixel)
     * with gray = 0.299 R + 0.587 G + 0.114 B. */
    float brightness, contrast, saturation; /* 0.4 each */
} u2_augment_params;

void u2_augment_defaults(u2_augment_params *p);

/* One draw of the random parameters (what a view is made of). */
typedef struct {
    int x, y, w, h;   /* crop rectangle in the source image */
    int flip;         /* 1: mirrored left-right */
    float factor[3];  /* brightness, contrast, saturation factors */
    int order[3];     /* jitter ops in application order: 0 b, 1 c, 2 s */
} u2_augment_draw;

/* Draw the parameters for an image of w x h pixels. */
void u2_augment_sample(const u2_augment_params *p, int w, int h, u2_rng *rng,
                       u2_augment_draw *d);
/* Apply a draw: crop, resize to S x S, flip, jitter, normalise into out[3][S][S]. */
void u2_augment_apply(const u2_image *img, const u2_augment_draw *d, int S, float *out);
/* Sample + apply; `d` may be NULL. */
void u2_augment(const u2_image *img, const u2_augment_params *p, u2_rng *rng, int S, float *out,
                u2_augment_draw *d);

#endif
