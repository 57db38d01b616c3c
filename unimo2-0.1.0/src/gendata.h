/* Data sets: a procedural world of shapes rendered in C (`unimo2 gen-data`)
 * and the MNIST import (`unimo2 import-mnist`), both written in the layout
 * doc/data.md describes:
 *
 *   DIR/pairs.jsonl        {"image": "images/pairs/000000.webp", "caption": "..."}
 *   DIR/images.jsonl       {"image": "images/unpaired/000000.webp"}
 *   DIR/texts.txt          one sentence per line (no images)
 *   DIR/eval.jsonl         held-out {"image", "caption"}
 *   DIR/labels.txt         one class label per line
 *   DIR/eval_labels.jsonl  {"image": ..., "label": "circle"} for zero-shot classification
 *   DIR/dataset.json       what the corpora are, counts, seed, generator options
 *   DIR/images/...         the WebP files
 *
 * Images are written first, then made durable, then the manifests each
 * atomically: an interrupted run never leaves a manifest naming a missing file. */
#ifndef UNIMO2_GENDATA_H
#define UNIMO2_GENDATA_H

#include <stddef.h>
#include <stdint.h>

#include "rng.h"

/* ------------------------------------------------------------ the world */
enum { U2_MAX_OBJECTS = 3 };
enum {
    U2_SHAPE_CIRCLE, U2_SHAPE_SQUARE, U2_SHAPE_TRIANGLE, U2_SHAPE_STAR,
    U2_SHAPE_CROSS, U2_SHAPE_RING, U2_SHAPE_DIAMOND, U2_SHAPE_HEXAGON,
    U2_N_SHAPES
};
enum {
    U2_COLOUR_RED, U2_COLOUR_ORANGE, U2_COLOUR_YELLOW, U2_COLOUR_GREEN, U2_COLOUR_BLUE,
    U2_COLOUR_PURPLE, U2_COLOUR_PINK, U2_COLOUR_BROWN, U2_COLOUR_WHITE, U2_COLOUR_BLACK,
    U2_N_COLOURS
};
enum { U2_SIZE_SMALL, U2_SIZE_LARGE, U2_N_SIZES };
enum { U2_POS_LEFT, U2_POS_RIGHT, U2_POS_TOP, U2_POS_BOTTOM, U2_POS_CENTRE, U2_N_POS };
enum { U2_TEX_PLAIN, U2_TEX_STRIPED, U2_TEX_DOTTED, U2_N_TEX };
enum { U2_BG_DARK, U2_BG_LIGHT };
enum { U2_BGKIND_PLAIN, U2_BGKIND_GRADIENT, U2_BGKIND_NOISY, U2_N_BGKIND };

typedef struct {
    int shape, colour, size, pos, texture;
    uint8_t rgb[3];           /* the colour's base RGB plus noise */
    float cx, cy, radius;     /* in units of the image side, origin top left */
    float angle;              /* rotation, radians */
    float tex_angle, tex_scale;
} u2_object;

typedef struct {
    int n;                    /* 1..U2_MAX_OBJECTS, drawn in order (later on top) */
    u2_object obj[U2_MAX_OBJECTS];
    int bg_tone, bg_kind;
    uint8_t bg_a[3], bg_b[3]; /* plain: bg_a; gradient: bg_a -> bg_b */
    float bg_angle;           /* gradient direction */
    float noise;              /* per-pixel noise amplitude (grey levels) */
} u2_scene;

const char *u2_shape_name(int shape);
const char *u2_colour_name(int colour);
const char *u2_size_name(int size);
const char *u2_pos_name(int pos);
const char *u2_texture_name(int texture);

/* Draw a random scene (positions distinct per object, colours that show on
 * the background). */
void u2_scene_sample(u2_rng *rng, u2_scene *sc);
/* A caption from the grammar; always names every object's shape and colour
 * (singular, or plural when counted: "two green triangles"). Returns the
 * length written (truncated to cap-1). */
int u2_scene_caption(const u2_scene *sc, u2_rng *rng, char *buf, size_t cap);
/* Render to px x px RGB bytes, 4x4 supersampled at shape edges; the noise is
 * drawn from rng. */
void u2_scene_render(const u2_scene *sc, int px, u2_rng *rng, uint8_t *rgb);
/* The single shape a scene shows (all objects share it), or -1 if several:
 * the zero-shot classification label. */
int u2_scene_label(const u2_scene *sc);

/* Stream ids: item i of corpus k is u2_rng_stream(seed, U2_STREAM(k, i)). */
enum { U2_CORPUS_PAIRS = 1, U2_CORPUS_IMAGES = 2, U2_CORPUS_TEXTS = 3, U2_CORPUS_EVAL = 4 };
#define U2_STREAM(corpus, i) (((uint64_t)(corpus) << 40) | (uint64_t)(i))

/* One item exactly as gen-data makes it (scene, caption, pixels): the
 * generator and the tests share this.  rgb may be NULL (texts). */
void u2_gendata_item(uint64_t seed, int corpus, int64_t index, int px, u2_scene *sc,
                     char *caption, size_t cap, uint8_t *rgb);

/* ------------------------------------------------------------- gen-data */
typedef struct {
    const char *out;      /* the dataset directory (created) */
    uint64_t seed;        /* 1 */
    int64_t pairs;        /* 2000 */
    int64_t images;       /* 8000 */
    int64_t texts;        /* 20000 */
    int64_t eval;         /* 500 */
    int size;             /* 64 (pixels per side) */
    int quality;          /* 90 lossy, or U2_WEBP_LOSSLESS */
    int threads;          /* 0: u2_num_threads() */
} u2_gendata_opts;

void u2_gendata_defaults(u2_gendata_opts *o);
int u2_gendata_run(const u2_gendata_opts *o);

/* ---------------------------------------------------------------- MNIST */
typedef struct {
    const char *digits;     /* folder with 0.json .. 9.json ({"data": [784*n floats]}) */
    const char *out;
    const char *source;     /* recorded in dataset.json (default: the digits folder) */
    int per_class;          /* training images per class; -1: all not held out */
    int eval_per_class;     /* 100: the last ones of each class */
    int pairs_per_class;    /* 100: of the training images, those with captions */
    int64_t texts;          /* 5000 sentences */
    uint64_t seed;          /* 1: caption choice and manifest order */
    int threads;
} u2_mnist_opts;

void u2_mnist_defaults(u2_mnist_opts *o);
int u2_import_mnist(const u2_mnist_opts *o);
/* A caption for digit d (0..9) from the templates. */
int u2_mnist_caption(int d, u2_rng *rng, char *buf, size_t cap);

#endif
