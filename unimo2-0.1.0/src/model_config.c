#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "model_config.h"
#include "util.h"

#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

static const u2_config tiny = {
    .name = "tiny", .image_size = 16, .patch_size = 4, .patch_pad = 0,
    .hidden = 32, .heads = 2, .ffn = 64,
    .vit_layers = 1, .text_layers = 1, .fusion_layers = 1,
    .vocab_size = 512, .max_text_len = 16, .dict_size = 32, .topk = 4,
    .grounding = U2_GROUND_TOPK, .fusion = U2_FUSION_GROUNDED,
    .vit_ln_eps = 1e-12f, .text_ln_eps = 1e-5f, .head_ln_eps = 1e-5f,
    .text_pos_offset = 0,
    .tau_init = 100.0f, .tau_min = 1.0f, .tau_max = 1e4f,
    .temp_init = 0.07f, .temp_min = 0.001f, .temp_max = 0.5f,
    .vcl_temp = 0.1f,
    .w_mlm = 1, .w_itm = 1, .w_cmcl = 1, .w_vcl = 1, .w_ground = 1,
    .ground_q = 1.0f, .ground_e = 0.25f,
};

static void set_arch(u2_config *c, const char *name, int S, int P, int D, int H, int F, int layers,
                     int V, int L, int C, int K)
{
    *c = tiny;
    snprintf(c->name, sizeof c->name, "%s", name);
    c->image_size = S;
    c->patch_size = P;
    c->hidden = D;
    c->heads = H;
    c->ffn = F;
    c->vit_layers = c->text_layers = c->fusion_layers = layers;
    c->vocab_size = V;
    c->max_text_len = L;
    c->dict_size = C;
    c->topk = K;
}

int u2_config_builtin(const char *name, u2_config *c)
{
    if (!strcmp(name, "tiny")) *c = tiny;
    else if (!strcmp(name, "mini")) set_arch(c, "mini", 64, 8, 128, 4, 512, 2, 4096, 32, 256, 16);
    else if (!strcmp(name, "small")) set_arch(c, "small", 128, 16, 256, 4, 1024, 4, 8192, 48, 1024, 32);
    else if (!strcmp(name, "base")) set_arch(c, "base", 224, 16, 768, 12, 3072, 12, 50265, 128, 2048, 100);
    else return -1;
    return 0;
}

const char *u2_grounding_name(u2_grounding g)
{
    return g == U2_GROUND_TOPK ? "topk" : g == U2_GROUND_NEAREST ? "nearest" : "none";
}

const char *u2_fusion_name(u2_fusion f) { return f == U2_FUSION_GROUNDED ? "grounded" : "full"; }

/* One table drives parsing, printing and validation of the numeric keys. */
typedef struct {
    const char *key;
    size_t off;
    int is_int;
    double lo, hi; /* valid range, inclusive */
} field;

#define I(k, lo, hi) {#k, offsetof(u2_config, k), 1, lo, hi}
#define F(k, lo, hi) {#k, offsetof(u2_config, k), 0, lo, hi}
static const field fields[] = {
    I(image_size, 1, 4096), I(patch_size, 1, 1024), I(patch_pad, 0, 512),
    I(hidden, 1, 16384), I(heads, 1, 1024), I(ffn, 1, 65536),
    I(vit_layers, 0, 256), I(text_layers, 0, 256), I(fusion_layers, 0, 256),
    I(vocab_size, 261, 1 << 20), I(max_text_len, 2, 65536),
    I(dict_size, 1, 1 << 20), I(topk, 1, 1 << 20), I(text_pos_offset, 0, 65536),
    F(vit_ln_eps, 0, 1), F(text_ln_eps, 0, 1), F(head_ln_eps, 0, 1),
    F(tau_init, 1e-6, 1e9), F(tau_min, 1e-6, 1e9), F(tau_max, 1e-6, 1e9),
    F(temp_init, 1e-9, 1e3), F(temp_min, 1e-9, 1e3), F(temp_max, 1e-9, 1e3),
    F(vcl_temp, 1e-9, 1e3),
    F(w_mlm, 0, 1e6), F(w_itm, 0, 1e6), F(w_cmcl, 0, 1e6), F(w_vcl, 0, 1e6), F(w_ground, 0, 1e6),
    F(ground_q, 0, 1e6), F(ground_e, 0, 1e6),
};
#undef I
#undef F
#define NFIELDS (sizeof fields / sizeof fields[0])

static double get_field(const u2_config *c, const field *f)
{
    const char *p = (const char *)c + f->off;
    return f->is_int ? (double)*(const int *)p : (double)*(const float *)p;
}

static void put_field(u2_config *c, const field *f, double v)
{
    char *p = (char *)c + f->off;
    if (f->is_int) *(int *)p = (int)v;
    else *(float *)p = (float)v;
}

int u2_config_validate(const u2_config *c, const char *what)
{
    for (size_t i = 0; i < NFIELDS; i++) {
        double v = get_field(c, &fields[i]);
        if (!(v >= fields[i].lo && v <= fields[i].hi))
            return u2_fail(what, "config key \"%s\" = %g is outside [%g, %g]", fields[i].key, v,
                           fields[i].lo, fields[i].hi);
    }
    if (c->hidden % c->heads)
        return u2_fail(what, "hidden (%d) must be a multiple of heads (%d)", c->hidden, c->heads);
    if (c->image_size + 2 * c->patch_pad < c->patch_size)
        return u2_fail(what, "patch_size %d is larger than the padded image (%d)", c->patch_size,
                       c->image_size + 2 * c->patch_pad);
    if (c->grounding == U2_GROUND_TOPK && c->topk > c->dict_size)
        return u2_fail(what, "topk (%d) exceeds dict_size (%d)", c->topk, c->dict_size);
    if (c->tau_min > c->tau_max || c->temp_min > c->temp_max)
        return u2_fail(what, "a clamp range has min > max");
    return 0;
}

int u2_config_from_json(const char *json, const char *what, u2_config *c)
{
    json_error_t jerr;
    json_t *root = json_loads(json, 0, &jerr);
    if (!root) return u2_fail(what, "invalid JSON at line %d: %s", jerr.line, jerr.text);
    int rc = -1;
    if (!json_is_object(root)) {
        u2_fail(what, "a config must be a JSON object");
        goto out;
    }
    /* start from a named base when given, else tiny */
    *c = tiny;
    json_t *nm = json_object_get(root, "name");
    if (nm) {
        if (!json_is_string(nm)) {
            u2_fail(what, "config key \"name\" must be a string");
            goto out;
        }
        if (u2_config_builtin(json_string_value(nm), c) != 0) *c = tiny;
        snprintf(c->name, sizeof c->name, "%s", json_string_value(nm));
    } else {
        snprintf(c->name, sizeof c->name, "custom");
    }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (!strcmp(key, "name")) continue;
        if (!strcmp(key, "grounding") || !strcmp(key, "fusion")) {
            const char *s = json_string_value(val);
            if (!s) {
                u2_fail(what, "config key \"%s\" must be a string", key);
                goto out;
            }
            if (!strcmp(key, "grounding")) {
                if (!strcmp(s, "topk")) c->grounding = U2_GROUND_TOPK;
                else if (!strcmp(s, "nearest")) c->grounding = U2_GROUND_NEAREST;
                else if (!strcmp(s, "none")) c->grounding = U2_GROUND_NONE;
                else {
                    u2_fail(what, "grounding must be topk, nearest or none, not \"%s\"", s);
                    goto out;
                }
            } else {
                if (!strcmp(s, "grounded")) c->fusion = U2_FUSION_GROUNDED;
                else if (!strcmp(s, "full")) c->fusion = U2_FUSION_FULL;
                else {
                    u2_fail(what, "fusion must be grounded or full, not \"%s\"", s);
                    goto out;
                }
            }
            continue;
        }
        const field *f = NULL;
        for (size_t i = 0; i < NFIELDS; i++)
            if (!strcmp(key, fields[i].key)) f = &fields[i];
        if (!f) {
            u2_fail(what, "unknown config key \"%s\"", key);
            goto out;
        }
        if (!json_is_number(val)) {
            u2_fail(what, "config key \"%s\" must be a number", key);
            goto out;
        }
        double v = json_number_value(val);
        if (f->is_int && (v != floor(v))) {
            u2_fail(what, "config key \"%s\" must be an integer, not %g", key, v);
            goto out;
        }
        if (!(v >= f->lo && v <= f->hi)) {
            u2_fail(what, "config key \"%s\" = %g is outside [%g, %g]", key, v, f->lo, f->hi);
            goto out;
        }
        put_field(c, f, v);
    }
    rc = u2_config_validate(c, what);
out:
    json_decref(root);
    return rc;
}

int u2_config_load(const char *name_or_path, u2_config *c)
{
    if (u2_config_builtin(name_or_path, c) == 0) return 0;
    json_error_t jerr;
    json_t *root = json_load_file(name_or_path, 0, &jerr);
    if (!root) {
        if (!strchr(name_or_path, '/') && !strstr(name_or_path, ".json"))
            return u2_fail(name_or_path, "not a built-in config (tiny, mini, small, base) "
                                         "nor a JSON file");
        return u2_fail(name_or_path, "cannot read config: %s (line %d)", jerr.text, jerr.line);
    }
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    int rc = u2_config_from_json(text, name_or_path, c);
    free(text);
    return rc;
}

char *u2_config_to_json(const u2_config *c, int compact)
{
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(c->name));
    for (size_t i = 0; i < NFIELDS; i++) {
        double v = get_field(c, &fields[i]);
        json_object_set_new(o, fields[i].key,
                            fields[i].is_int ? json_integer((json_int_t)v) : json_real(v));
    }
    json_object_set_new(o, "grounding", json_string(u2_grounding_name(c->grounding)));
    json_object_set_new(o, "fusion", json_string(u2_fusion_name(c->fusion)));
    char *s = json_dumps(o, (compact ? JSON_COMPACT : JSON_INDENT(2)) | JSON_PRESERVE_ORDER |
                                JSON_REAL_PRECISION(9));
    json_decref(o);
    char *r = u2_strdup(s);
    free(s);
    return r;
}
