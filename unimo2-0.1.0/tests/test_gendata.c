/* gen-data and import-mnist: captions against the structured scenes, the
 * rendering against the scene, determinism across thread counts, manifests
 * that name existing files, interrupted runs, and the MNIST import on a tiny
 * fixture (tests/data/img/mnist). */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "fileio.h"
#include "gendata.h"
#include "image.h"
#include "tap.h"
#include "util.h"

#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char dir[256];

static char *path_in(const char *name)
{
    static char buf[8][600];
    static int k;
    char *p = buf[k++ & 7];
    snprintf(p, 600, "%s/%s", dir, name);
    return p;
}

static char *join2(const char *a, const char *b)
{
    static char buf[8][900];
    static int k;
    char *p = buf[k++ & 7];
    snprintf(p, 900, "%s/%s", a, b);
    return p;
}

static int exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/* ------------------------------------------------------------ captions */

/* word w occurs in s as a whole word */
static int has_word(const char *s, const char *w)
{
    size_t n = strlen(w);
    for (const char *p = strstr(s, w); p; p = strstr(p + 1, w)) {
        int left = p == s || p[-1] == ' ';
        char r = p[n];
        if (left && (r == '\0' || r == ' ' || r == ',' || r == ':')) return 1;
    }
    return 0;
}

static const char *plural(int shape)
{
    static char buf[U2_N_SHAPES][16];
    snprintf(buf[shape], 16, "%s%s", u2_shape_name(shape), shape == U2_SHAPE_CROSS ? "es" : "s");
    return buf[shape];
}

static int mentions_shape(const char *cap, int shape)
{
    return has_word(cap, u2_shape_name(shape)) || has_word(cap, plural(shape));
}

/* Every object's shape and colour named, nothing else named, counts right,
 * sizes only as present, textures only as present, "an" before vowels. */
static int caption_consistent(const u2_scene *sc, const char *cap, char *why, size_t wn)
{
    int shape_in[U2_N_SHAPES] = {0}, colour_in[U2_N_COLOURS] = {0};
    int small = 0, large = 0, striped = 0, dotted = 0;
    for (int i = 0; i < sc->n; i++) {
        shape_in[sc->obj[i].shape] = colour_in[sc->obj[i].colour] = 1;
        small |= sc->obj[i].size == U2_SIZE_SMALL;
        large |= sc->obj[i].size == U2_SIZE_LARGE;
        striped |= sc->obj[i].texture == U2_TEX_STRIPED;
        dotted |= sc->obj[i].texture == U2_TEX_DOTTED;
    }
    for (int s = 0; s < U2_N_SHAPES; s++)
        if (mentions_shape(cap, s) != shape_in[s]) {
            snprintf(why, wn, "shape %s %s", u2_shape_name(s), shape_in[s] ? "missing" : "extra");
            return 0;
        }
    for (int c = 0; c < U2_N_COLOURS; c++)
        if (has_word(cap, u2_colour_name(c)) != colour_in[c]) {
            snprintf(why, wn, "colour %s %s", u2_colour_name(c), colour_in[c] ? "missing" : "extra");
            return 0;
        }
    if ((has_word(cap, "small") || has_word(cap, "little")) && !small) return snprintf(why, wn, "small"), 0;
    if ((has_word(cap, "large") || has_word(cap, "big")) && !large) return snprintf(why, wn, "large"), 0;
    if ((has_word(cap, "striped") || has_word(cap, "stripes")) && !striped) return snprintf(why, wn, "stripes"), 0;
    if ((has_word(cap, "dotted") || has_word(cap, "spotted") || has_word(cap, "dots")) && !dotted)
        return snprintf(why, wn, "dots"), 0;
    /* a count word names a group of that many identical objects */
    for (int s = 0; s < U2_N_SHAPES; s++)
        if (has_word(cap, plural(s))) {
            int group = 0; /* the largest group of this shape in one colour */
            for (int i = 0; i < sc->n; i++) {
                int same = 0;
                for (int j = 0; j < sc->n; j++)
                    same += sc->obj[j].shape == s && sc->obj[i].shape == s &&
                            sc->obj[j].colour == sc->obj[i].colour;
                if (same > group) group = same;
            }
            char phrase[64];
            snprintf(phrase, sizeof phrase, "%s ", group == 2 ? "two" : "three");
            if (group < 2 || !strstr(cap, phrase)) return snprintf(why, wn, "count of %.20s", plural(s)), 0;
        }
    if (has_word(cap, "dark") || has_word(cap, "dim"))
        if (sc->bg_tone != U2_BG_DARK) return snprintf(why, wn, "background tone"), 0;
    if (has_word(cap, "light") || has_word(cap, "pale") || has_word(cap, "bright"))
        if (sc->bg_tone != U2_BG_LIGHT) return snprintf(why, wn, "background tone"), 0;
    if (strstr(cap, "a orange") || strstr(cap, "a image") || strstr(cap, "an red"))
        return snprintf(why, wn, "article"), 0;
    return 1;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_captions(void)
{
    const int N = 20000;
    int bad = 0, counts[4] = {0}, twins = 0, max_len = 0;
    char cap[512], why[128] = "", first_bad[1024] = "";
    char **all_caps = calloc((size_t)N, sizeof(char *));
    for (int i = 0; i < N; i++) {
        u2_scene sc;
        u2_gendata_item(3, U2_CORPUS_TEXTS, i, 32, &sc, cap, sizeof cap, NULL);
        counts[sc.n]++;
        int len = (int)strlen(cap);
        if (len > max_len) max_len = len;
        for (int k = 1; k < sc.n; k++)
            twins += sc.obj[k].shape == sc.obj[0].shape && sc.obj[k].colour == sc.obj[0].colour;
        if (!caption_consistent(&sc, cap, why, sizeof why)) {
            if (!bad++) snprintf(first_bad, sizeof first_bad, "'%s' (%s)", cap, why);
        }
        all_caps[i] = strdup(cap);
    }
    /* distinct captions say how varied the grammar is */
    qsort(all_caps, (size_t)N, sizeof(char *), cmp_str);
    int distinct = N > 0;
    for (int i = 1; i < N; i++) distinct += strcmp(all_caps[i - 1], all_caps[i]) != 0;
    tap_ok(bad == 0, "%d captions name exactly the shapes and colours of their scenes%s%s", N,
           bad ? "; first bad: " : "", first_bad);
    tap_ok(counts[1] > N / 3 && counts[2] > N / 5 && counts[3] > N / 20 && twins > N / 20,
           "scenes of 1/2/3 objects: %d/%d/%d, twins %d", counts[1], counts[2], counts[3], twins);
    tap_ok(distinct > N * 8 / 10, "varied: %d of %d captions distinct", distinct, N);
    tap_ok(max_len < 200, "longest caption %d characters", max_len);
    for (int k = 0; k < N; k++) free(all_caps[k]);
    free(all_caps);
    /* the grammar's special forms all occur */
    static const char *const forms[] = {"two ", "three ", " to the left of ", " to the right of ",
                                        " above ", "there is ", "background", "with stripes",
                                        "that is ", "an orange", "in the ", "three shapes:"};
    int found[sizeof forms / sizeof forms[0]] = {0};
    for (int i = 0; i < 5000; i++) {
        u2_scene sc;
        u2_gendata_item(4, U2_CORPUS_PAIRS, i, 32, &sc, cap, sizeof cap, NULL);
        for (size_t f = 0; f < sizeof forms / sizeof forms[0]; f++) found[f] |= strstr(cap, forms[f]) != NULL;
    }
    int all = 1;
    for (size_t f = 0; f < sizeof forms / sizeof forms[0]; f++)
        if (!found[f]) {
            all = 0;
            tap_diag("form never produced: '%s'", forms[f]);
        }
    tap_ok(all, "every grammar form occurs in 5000 captions");
    /* relations match the geometry */
    int rel_bad = 0;
    for (int i = 0; i < 5000; i++) {
        u2_scene sc;
        u2_gendata_item(5, U2_CORPUS_PAIRS, i, 32, &sc, cap, sizeof cap, NULL);
        if (sc.n != 2) continue;
        const char *rel = strstr(cap, " to the left of ");
        if (!rel) continue;
        /* the first object named is to the left of the second */
        int a = -1, b = -1;
        for (int k = 0; k < 2; k++) {
            const char *at = strstr(cap, u2_shape_name(sc.obj[k].shape));
            if (at && at < rel) a = k;
            else b = k;
        }
        if (a >= 0 && b >= 0 && a != b && !(sc.obj[a].cx < sc.obj[b].cx)) rel_bad++;
    }
    tap_ok(rel_bad == 0, "'A to the left of B' holds in the scene geometry (%d wrong)", rel_bad);
}

/* ------------------------------------------------------------ rendering */

static void test_render(void)
{
    const int px = 64;
    uint8_t *rgb = malloc((size_t)px * px * 3);
    int checked = 0, bad = 0, bg_checked = 0, bg_bad = 0;
    for (int i = 0; i < 400; i++) {
        u2_scene sc;
        char cap[512];
        u2_gendata_item(9, U2_CORPUS_PAIRS, i, px, &sc, cap, sizeof cap, rgb);
        for (int k = 0; k < sc.n; k++) {
            const u2_object *o = &sc.obj[k];
            int covered = 0; /* a later object drawn over this one's centre */
            for (int j = k + 1; j < sc.n; j++)
                covered |= hypotf(sc.obj[j].cx - o->cx, sc.obj[j].cy - o->cy) < 1.35f * sc.obj[j].radius;
            if (covered || o->texture != U2_TEX_PLAIN) continue;
            int x = (int)(o->cx * px), y = (int)(o->cy * px);
            const uint8_t *p = rgb + ((size_t)y * px + x) * 3;
            float tol = sc.noise + 1.5f;
            float want[3];
            if (o->shape == U2_SHAPE_RING) continue; /* its centre is background */
            for (int c = 0; c < 3; c++) want[c] = o->rgb[c];
            checked++;
            for (int c = 0; c < 3; c++)
                if (fabsf(p[c] - want[c]) > tol) {
                    bad++;
                    break;
                }
        }
        if (sc.bg_kind == U2_BGKIND_PLAIN) {
            /* the top-left pixel, when no object comes near it */
            int near = 0;
            for (int k = 0; k < sc.n; k++) near |= hypotf(sc.obj[k].cx, sc.obj[k].cy) < 1.4f * sc.obj[k].radius;
            if (!near) {
                bg_checked++;
                for (int c = 0; c < 3; c++)
                    if (fabsf((float)rgb[c] - sc.bg_a[c]) > sc.noise + 1.5f) {
                        bg_bad++;
                        break;
                    }
            }
        }
    }
    tap_ok(checked > 200 && bad == 0, "object centres show the object's colour (%d checked, %d off)",
           checked, bad);
    tap_ok(bg_checked > 50 && bg_bad == 0, "plain backgrounds show their colour (%d checked, %d off)",
           bg_checked, bg_bad);
    /* colours stay near their names: the mean of many red objects is red */
    u2_scene sc;
    char cap[512];
    u2_gendata_item(9, U2_CORPUS_PAIRS, 0, px, &sc, cap, sizeof cap, rgb);
    int label_ok = 1;
    for (int i = 0; i < 500; i++) {
        u2_gendata_item(9, U2_CORPUS_EVAL, i, px, &sc, cap, sizeof cap, NULL);
        int lab = u2_scene_label(&sc), one = 1;
        for (int k = 1; k < sc.n; k++) one &= sc.obj[k].shape == sc.obj[0].shape;
        label_ok &= one ? lab == sc.obj[0].shape : lab == -1;
    }
    tap_ok(label_ok, "label = the shape when all objects share it, else none");
    free(rgb);
}

/* ------------------------------------------------------- data sets */

static int same_file(const char *a, const char *b)
{
    size_t la, lb;
    char *x = u2_read_file(a, &la), *y = u2_read_file(b, &lb);
    int same = x && y && la == lb && !memcmp(x, y, la);
    free(x);
    free(y);
    return same;
}

static json_t *read_jsonl(const char *path, int *n)
{
    size_t len;
    char *text = u2_read_file(path, &len);
    *n = 0;
    if (!text) return NULL;
    json_t *arr = json_array();
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_error_t e;
        json_t *o = json_loads(line, 0, &e);
        if (!o) {
            tap_diag("%s: bad line: %s", path, e.text);
            json_decref(arr);
            free(text);
            return NULL;
        }
        json_array_append_new(arr, o);
        (*n)++;
    }
    free(text);
    return arr;
}

static int count_lines(const char *path)
{
    size_t len;
    char *t = u2_read_file(path, &len);
    int n = 0;
    for (size_t i = 0; t && i < len; i++) n += t[i] == '\n';
    free(t);
    return t ? n : -1;
}

static int temp_files_under(const char *d)
{
    char cmd[900];
    snprintf(cmd, sizeof cmd, "find '%s' -name '.*.tmp.*' | grep -q .", d);
    return system(cmd) == 0;
}

static const char *const manifest_files[] = {"pairs.jsonl", "images.jsonl", "texts.txt", "eval.jsonl",
                                             "labels.txt", "eval_labels.jsonl", "dataset.json", "README"};
enum { N_MANIFESTS = sizeof manifest_files / sizeof manifest_files[0] };

/* every "image" of a manifest exists and decodes to px x px */
static int manifest_images_ok(const char *d, const char *file, int px, int *n)
{
    json_t *arr = read_jsonl(join2(d, file), n);
    if (!arr) return 0;
    int ok = 1;
    for (size_t i = 0; i < json_array_size(arr) && ok; i++) {
        const char *rel = json_string_value(json_object_get(json_array_get(arr, i), "image"));
        u2_image img;
        ok = rel && u2_image_load(join2(d, rel), &img) == 0 && img.w == px && img.h == px;
        if (!ok) tap_diag("%s line %zu: %s", file, i + 1, rel ? u2_errmsg() : "no image key");
        u2_image_free(&img);
    }
    json_decref(arr);
    return ok;
}

static void test_gendata(void)
{
    int ok;
    u2_gendata_opts o;
    u2_gendata_defaults(&o);
    o.pairs = 24;
    o.images = 30;
    o.texts = 60;
    o.eval = 40;
    o.size = 32;
    o.seed = 7;
    char a[600], b[600], c[600];
    snprintf(a, sizeof a, "%s", path_in("gd-a"));
    snprintf(b, sizeof b, "%s", path_in("gd-b/nested"));
    snprintf(c, sizeof c, "%s", path_in("gd-c"));
    o.out = a;
    o.threads = 1;
    tap_ok(u2_gendata_run(&o) == 0, "gen-data on 1 thread");
    o.out = b;
    o.threads = 2;
    tap_ok(u2_gendata_run(&o) == 0, "gen-data on 2 threads (into a nested new folder)");
    int same = 1;
    for (int i = 0; i < N_MANIFESTS; i++) same &= same_file(join2(a, manifest_files[i]), join2(b, manifest_files[i]));
    tap_ok(same, "manifests, texts, labels, dataset.json byte-identical on 1 and 2 threads");
    int nimg = 0, img_same = 1;
    static const char *const sub[] = {"pairs", "unpaired", "eval"};
    const int64_t cnt[] = {o.pairs, o.images, o.eval};
    for (int s = 0; s < 3; s++)
        for (int64_t i = 0; i < cnt[s]; i++) {
            char rel[64];
            snprintf(rel, sizeof rel, "images/%s/%06lld.webp", sub[s], (long long)i);
            img_same &= same_file(join2(a, rel), join2(b, rel));
            nimg++;
        }
    tap_ok(img_same, "all %d images byte-identical on 1 and 2 threads", nimg);
    tap_ok(!temp_files_under(a) && !temp_files_under(b), "no temp files left behind");

    /* the manifests */
    int n = 0;
    ok = manifest_images_ok(a, "pairs.jsonl", 32, &n);
    tap_ok(ok && n == o.pairs, "pairs.jsonl: %d entries, every image decodes at 32x32", n);
    ok = manifest_images_ok(a, "images.jsonl", 32, &n);
    tap_ok(ok && n == o.images, "images.jsonl: %d entries, every image decodes", n);
    ok = manifest_images_ok(a, "eval.jsonl", 32, &n);
    tap_ok(ok && n == o.eval, "eval.jsonl: %d entries, every image decodes", n);
    int nl = 0;
    ok = manifest_images_ok(a, "eval_labels.jsonl", 32, &nl);
    tap_ok(ok && nl > 0 && nl <= o.eval,
           "eval_labels.jsonl: %d entries, every image decodes", nl);
    tap_ok(count_lines(join2(a, "texts.txt")) == o.texts, "texts.txt has %lld lines", (long long)o.texts);
    tap_ok(count_lines(join2(a, "labels.txt")) == U2_N_SHAPES, "labels.txt has the %d shapes", U2_N_SHAPES);

    /* the manifests say what the generator's structured scenes say */
    json_t *pairs = read_jsonl(join2(a, "pairs.jsonl"), &n);
    int cap_ok = pairs != NULL;
    for (int i = 0; cap_ok && i < n; i++) {
        u2_scene sc;
        char cap[512], why[128];
        u2_gendata_item(o.seed, U2_CORPUS_PAIRS, i, o.size, &sc, cap, sizeof cap, NULL);
        const char *got = json_string_value(json_object_get(json_array_get(pairs, (size_t)i), "caption"));
        cap_ok = got && !strcmp(got, cap) && caption_consistent(&sc, got, why, sizeof why);
    }
    json_decref(pairs);
    tap_ok(cap_ok, "each pair's caption is its scene's caption and names its shapes and colours");
    json_t *labs = read_jsonl(join2(a, "eval_labels.jsonl"), &n);
    int lab_ok = labs != NULL;
    for (int i = 0; lab_ok && i < n; i++) {
        json_t *e = json_array_get(labs, (size_t)i);
        const char *img = json_string_value(json_object_get(e, "image"));
        const char *lab = json_string_value(json_object_get(e, "label"));
        int idx = -1;
        lab_ok = img && lab && sscanf(img, "images/eval/%d.webp", &idx) == 1;
        u2_scene sc;
        char cap[512];
        if (lab_ok) u2_gendata_item(o.seed, U2_CORPUS_EVAL, idx, o.size, &sc, cap, sizeof cap, NULL);
        lab_ok = lab_ok && u2_scene_label(&sc) >= 0 && !strcmp(u2_shape_name(u2_scene_label(&sc)), lab);
    }
    json_decref(labs);
    tap_ok(lab_ok, "eval labels are the shapes of single-shape eval scenes");
    size_t len;
    char *t = u2_read_file(join2(a, "texts.txt"), &len);
    int txt_ok = t != NULL;
    char *save = NULL, *line = t ? strtok_r(t, "\n", &save) : NULL;
    for (int i = 0; txt_ok && i < o.texts; i++, line = strtok_r(NULL, "\n", &save)) {
        u2_scene sc;
        char cap[512];
        u2_gendata_item(o.seed, U2_CORPUS_TEXTS, i, o.size, &sc, cap, sizeof cap, NULL);
        txt_ok = line && !strcmp(line, cap);
    }
    free(t);
    tap_ok(txt_ok, "texts.txt lines are the captions of their own (never rendered) scenes");
    json_error_t je;
    json_t *info = json_load_file(join2(a, "dataset.json"), 0, &je);
    json_t *corp = json_object_get(info, "corpora");
    tap_ok(info && json_integer_value(json_object_get(json_object_get(corp, "pairs"), "count")) == o.pairs &&
               json_integer_value(json_object_get(json_object_get(corp, "eval_labels"), "count")) == nl &&
               json_integer_value(json_object_get(info, "seed")) == (json_int_t)o.seed,
           "dataset.json records the seed and counts");
    json_decref(info);

    /* lossless: the files hold exactly the rendered pixels */
    o.out = c;
    o.threads = 0;
    o.quality = U2_WEBP_LOSSLESS;
    o.pairs = 5;
    o.images = o.texts = o.eval = 0;
    tap_ok(u2_gendata_run(&o) == 0, "gen-data lossless, empty corpora allowed");
    int px_ok = 1;
    uint8_t *rgb = malloc(32 * 32 * 3);
    for (int i = 0; i < 5 && px_ok; i++) {
        u2_scene sc;
        char cap[512], rel[64];
        u2_gendata_item(o.seed, U2_CORPUS_PAIRS, i, 32, &sc, cap, sizeof cap, rgb);
        snprintf(rel, sizeof rel, "images/pairs/%06d.webp", i);
        u2_image img;
        px_ok = u2_image_load(join2(c, rel), &img) == 0 && !memcmp(img.rgb, rgb, 32 * 32 * 3);
        u2_image_free(&img);
    }
    free(rgb);
    tap_ok(px_ok, "lossless files decode to the rendered pixels");
    tap_ok(count_lines(join2(c, "eval.jsonl")) == 0 && count_lines(join2(c, "texts.txt")) == 0,
           "empty corpora give empty files");

    /* another seed gives other data */
    o.seed = 8;
    o.quality = 90;
    o.pairs = 24;
    o.out = path_in("gd-seed8");
    u2_gendata_run(&o);
    tap_ok(!same_file(join2(a, "pairs.jsonl"), join2(o.out, "pairs.jsonl")), "another seed, other captions");

    /* interrupted: a full disk while the manifests are written.  Rerun into
     * the complete data set `a` with another seed: the images get replaced,
     * so the old manifests must be gone, and no manifest may name a missing
     * or a half-written file. */
    u2_gendata_defaults(&o);
    o.out = a;
    o.seed = 99;
    o.pairs = 24;
    o.images = 30;
    o.texts = 400; /* texts.txt (~20 kB) is the file that hits the limit */
    o.eval = 40;
    o.size = 32;
    u2_fileio_inject_enospc(8000);
    int rc = u2_gendata_run(&o);
    u2_fileio_inject_enospc(-1);
    tap_ok(rc == -1 && strstr(u2_errmsg(), "texts.txt") && strstr(u2_errmsg(), "No space left"),
           "a full disk stops gen-data with the file named: %s", u2_errmsg());
    int none = 1;
    for (int i = 0; i < N_MANIFESTS; i++) none &= !exists(join2(a, manifest_files[i])) || !strcmp(manifest_files[i], "labels.txt");
    tap_ok(none && !exists(join2(a, "pairs.jsonl")) && !exists(join2(a, "dataset.json")),
           "after it: no manifest of the old or the new data set remains (labels.txt, written first, aside)");
    tap_ok(!temp_files_under(a), "after it: no temp files");
    /* a full disk while the images are written */
    o.out = path_in("gd-f");
    o.texts = 0;
    u2_fileio_inject_enospc(100);
    rc = u2_gendata_run(&o);
    u2_fileio_inject_enospc(-1);
    tap_ok(rc == -1 && strstr(u2_errmsg(), ".webp: write failed (No space left") &&
               !exists(join2(o.out, "pairs.jsonl")) && !exists(join2(o.out, "dataset.json")) &&
               !temp_files_under(o.out),
           "an image write failing stops gen-data, names the image, writes no manifest: %s",
           u2_errmsg());
    /* a folder that cannot be made */
    o.out = path_in("gd-d");
    o.texts = 0;
    u2_mkdir_p(join2(o.out, "images"));
    FILE *blocker = fopen(join2(o.out, "images/eval"), "w"); /* a file where a folder must go */
    if (blocker) fclose(blocker);
    rc = u2_gendata_run(&o);
    tap_ok(rc == -1 && strstr(u2_errmsg(), "images/eval") && !exists(join2(o.out, "pairs.jsonl")),
           "a folder that cannot be made is named, and no manifest is written: %s", u2_errmsg());
    /* bad options */
    u2_gendata_defaults(&o);
    o.out = path_in("gd-e");
    o.size = 3;
    tap_ok(u2_gendata_run(&o) == -1 && strstr(u2_errmsg(), "size"), "size 3 refused: %s", u2_errmsg());
    o.size = 32;
    o.pairs = -1;
    tap_ok(u2_gendata_run(&o) == -1, "negative count refused: %s", u2_errmsg());
    o.pairs = 1;
    o.quality = 101;
    tap_ok(u2_gendata_run(&o) == -1 && strstr(u2_errmsg(), "quality"), "quality 101 refused");
}

/* --------------------------------------------------------------- MNIST */

static const char *digits_dir(void)
{
    static char buf[600];
    const char *top = getenv("top_srcdir");
    snprintf(buf, sizeof buf, "%s/tests/data/img/mnist", top ? top : ".");
    return buf;
}

/* the fixture's image (d, i): what the JSON holds, x255 and rounded */
static void fixture_bytes(int d, int i, uint8_t *out)
{
    size_t len;
    char name[32];
    snprintf(name, sizeof name, "%d.json", d);
    char *text = u2_read_file(join2(digits_dir(), name), &len);
    json_t *root = json_loads(text, 0, NULL);
    json_t *data = json_object_get(root, "data");
    for (int k = 0; k < 784; k++) out[k] = (uint8_t)lround(json_number_value(json_array_get(data, (size_t)(i * 784 + k))) * 255);
    json_decref(root);
    free(text);
}

static const char *const words[10] = {"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"};

static int caption_names_digit(const char *cap, int d)
{
    char num[4];
    snprintf(num, sizeof num, "%d", d);
    for (int k = 0; k < 10; k++)
        if (k != d && has_word(cap, words[k])) return 0;
    return has_word(cap, words[d]) || has_word(cap, num);
}

/* which digit image (d, i) of the fixture the decoded file is, or -1 */
static int identify(const u2_image *img, int *digit)
{
    uint8_t want[784];
    for (int d = 0; d < 10; d++)
        for (int i = 0; i < 3; i++) {
            fixture_bytes(d, i, want);
            int eq = img->w == 28 && img->h == 28;
            for (int k = 0; eq && k < 784; k++)
                eq = img->rgb[3 * k] == want[k] && img->rgb[3 * k + 1] == want[k] && img->rgb[3 * k + 2] == want[k];
            if (eq) {
                *digit = d;
                return i;
            }
        }
    return -1;
}

static void test_mnist(void)
{
    int ok;
    u2_mnist_opts o;
    u2_mnist_defaults(&o);
    o.digits = digits_dir();
    o.out = path_in("mnist");
    o.eval_per_class = 1;
    o.pairs_per_class = 1;
    o.texts = 50;
    int rc = u2_import_mnist(&o);
    tap_ok(rc == 0, "import-mnist on the fixture%s%s", rc ? ": " : "", rc ? u2_errmsg() : "");
    int np, nu, ne, nl;
    ok = manifest_images_ok(o.out, "pairs.jsonl", 28, &np);
    tap_ok(ok && np == 10, "10 pairs (1 per digit), 28x28 images");
    ok = manifest_images_ok(o.out, "images.jsonl", 28, &nu);
    tap_ok(ok && nu == 10, "10 unpaired (3 - 1 eval - 1 paired)");
    ok = manifest_images_ok(o.out, "eval.jsonl", 28, &ne);
    tap_ok(ok && ne == 10, "10 eval");
    ok = manifest_images_ok(o.out, "eval_labels.jsonl", 28, &nl);
    tap_ok(ok && nl == 10, "10 eval labels");
    /* pixels exact (lossless, R=G=B), the right split, captions and labels naming the digit */
    json_t *pairs = read_jsonl(join2(o.out, "pairs.jsonl"), &np);
    json_t *evl = read_jsonl(join2(o.out, "eval_labels.jsonl"), &nl);
    json_t *unp = read_jsonl(join2(o.out, "images.jsonl"), &nu);
    int pairs_ok = pairs != NULL, seen[10] = {0};
    for (int k = 0; pairs_ok && k < np; k++) {
        json_t *e = json_array_get(pairs, (size_t)k);
        u2_image img;
        int d = -1, i = -1;
        if (u2_image_load(join2(o.out, json_string_value(json_object_get(e, "image"))), &img) == 0) i = identify(&img, &d);
        u2_image_free(&img);
        pairs_ok = i == 0 && caption_names_digit(json_string_value(json_object_get(e, "caption")), d);
        if (pairs_ok) seen[d]++;
        else tap_diag("pair %d: image (%d, %d), caption '%s'", k, d, i, json_string_value(json_object_get(e, "caption")));
    }
    for (int d = 0; d < 10; d++) pairs_ok &= seen[d] == 1;
    tap_ok(pairs_ok, "pairs: the first image of each digit, exact pixels, captions name the digit");
    int unp_ok = unp != NULL;
    for (int k = 0; unp_ok && k < nu; k++) {
        u2_image img;
        int d = -1, i = -1;
        if (u2_image_load(join2(o.out, json_string_value(json_object_get(json_array_get(unp, (size_t)k), "image"))), &img) == 0) i = identify(&img, &d);
        u2_image_free(&img);
        unp_ok = i == 1;
    }
    tap_ok(unp_ok, "unpaired: the second image of each digit");
    int ev_ok = evl != NULL;
    for (int k = 0; ev_ok && k < nl; k++) {
        json_t *e = json_array_get(evl, (size_t)k);
        u2_image img;
        int d = -1, i = -1;
        if (u2_image_load(join2(o.out, json_string_value(json_object_get(e, "image"))), &img) == 0) i = identify(&img, &d);
        u2_image_free(&img);
        ev_ok = i == 2 && d >= 0 && !strcmp(json_string_value(json_object_get(e, "label")), words[d]);
    }
    tap_ok(ev_ok, "eval: the last image of each digit, labelled with its word");
    json_decref(pairs);
    json_decref(evl);
    json_decref(unp);
    tap_ok(count_lines(join2(o.out, "labels.txt")) == 10 && count_lines(join2(o.out, "texts.txt")) == 50,
           "labels.txt: 10 digits; texts.txt: 50 sentences");
    /* per-class limits */
    o.out = path_in("mnist2");
    o.per_class = 1;
    o.pairs_per_class = 5;
    tap_ok(u2_import_mnist(&o) == 0 && count_lines(join2(o.out, "pairs.jsonl")) == 10 &&
               count_lines(join2(o.out, "images.jsonl")) == 0,
           "--per-class 1: 10 pairs, no unpaired");
    u2_rng r = u2_rng_stream(1, 1);
    int cap_ok = 1;
    for (int i = 0; i < 500; i++) {
        char cap[128];
        int d = i % 10;
        u2_mnist_caption(d, &r, cap, sizeof cap);
        cap_ok &= caption_names_digit(cap, d) && !strstr(cap, "a eight") && !strstr(cap, "an one") && !strstr(cap, "a 8");
    }
    tap_ok(cap_ok, "500 digit captions name their digit, articles right");

    /* errors name the file */
    u2_mnist_defaults(&o);
    o.out = path_in("mnist-bad");
    o.digits = path_in("no-such-digits");
    tap_ok(u2_import_mnist(&o) == -1 && strstr(u2_errmsg(), "no-such-digits/0.json") &&
               strstr(u2_errmsg(), "No such file"),
           "missing folder: %s", u2_errmsg());
    const char *bad = path_in("bad-digits");
    u2_mkdir_p(bad);
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "cp '%s'/*.json '%s'/", digits_dir(), bad);
    if (system(cmd) != 0) tap_diag("copy failed");
    o.digits = bad;
    o.eval_per_class = 1;
    struct {
        const char *content, *want;
    } cases[] = {
        {"{\"data\": [0, 0.5,", "invalid JSON"},
        {"[1, 2, 3]", "no \"data\" array"},
        {"{\"data\": [0.5, 0.5]}", "not a positive multiple of 784"},
        {NULL, "not a number in [0, 1]"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char *text;
        if (cases[k].content) {
            text = strdup(cases[k].content);
        } else { /* 784 values, one of them 1.5 */
            text = malloc(784 * 4 + 32);
            strcpy(text, "{\"data\": [");
            for (int i = 0; i < 784; i++) strcat(text, i == 300 ? "1.5," : "0,");
            text[strlen(text) - 1] = ']';
            strcat(text, "}");
        }
        u2_write_file_atomic(join2(bad, "7.json"), text, strlen(text), 0);
        free(text);
        tap_ok(u2_import_mnist(&o) == -1 && strstr(u2_errmsg(), "bad-digits/7.json") &&
                   strstr(u2_errmsg(), cases[k].want),
               "bad 7.json: %s", u2_errmsg());
    }
    snprintf(cmd, sizeof cmd, "cp '%s'/7.json '%s'/", digits_dir(), bad);
    if (system(cmd) != 0) tap_diag("copy failed");
    o.eval_per_class = 3;
    tap_ok(u2_import_mnist(&o) == -1 && strstr(u2_errmsg(), "too few"), "holding out all images: %s", u2_errmsg());
}

int main(void)
{
    snprintf(dir, sizeof dir, "%s/u2-gendata-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) {
        printf("Bail out! cannot make a temp folder\n");
        return 1;
    }
    test_captions();
    test_render();
    test_gendata();
    test_mnist();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) tap_diag("could not remove %s", dir);
    return tap_done();
}
