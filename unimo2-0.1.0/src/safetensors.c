#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "safetensors.h"
#include "fileio.h"
#include "util.h"

#include <jansson.h>
#include <string.h>
#include <xxhash.h>

#define MAX_HEADER (256u << 20)

static size_t dtype_size(const char *d)
{
    if (!strcmp(d, "F32") || !strcmp(d, "I32") || !strcmp(d, "U32")) return 4;
    if (!strcmp(d, "F16") || !strcmp(d, "BF16") || !strcmp(d, "I16")) return 2;
    if (!strcmp(d, "F64") || !strcmp(d, "I64")) return 8;
    if (!strcmp(d, "U8") || !strcmp(d, "I8") || !strcmp(d, "BOOL")) return 1;
    return 0;
}

void u2_st_free(u2_st_file *f)
{
    for (int i = 0; i < f->n; i++) free(f->t[i].name);
    for (int i = 0; i < f->nmeta; i++) {
        free(f->meta_key[i]);
        free(f->meta_val[i]);
    }
    free(f->t);
    free(f->meta_key);
    free(f->meta_val);
    free(f->buf);
    free(f->path);
    memset(f, 0, sizeof *f);
}

static int cmp_range(const void *a, const void *b)
{
    const size_t *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0];
}

int u2_st_read(const char *path, u2_st_file *f)
{
    memset(f, 0, sizeof *f);
    size_t len;
    unsigned char *buf = (unsigned char *)u2_read_file(path, &len);
    if (!buf) return -1;
    f->path = u2_strdup(path);
    f->buf = buf;
    f->len = len;
    json_t *root = NULL;
    size_t *ranges = NULL;
    if (len < 8) {
        u2_fail(path, "truncated safetensors file (%zu bytes, no header)", len);
        goto fail;
    }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | buf[i];
    if (hlen > MAX_HEADER || hlen > len - 8) {
        u2_fail(path, "not a safetensors file or truncated (header of %llu bytes, file of %zu)",
                (unsigned long long)hlen, len);
        goto fail;
    }
    json_error_t jerr;
    root = json_loadb((const char *)buf + 8, (size_t)hlen, 0, &jerr);
    if (!root || !json_is_object(root)) {
        u2_fail(path, "corrupt safetensors header: %s", root ? "not a JSON object" : jerr.text);
        goto fail;
    }
    const unsigned char *data = buf + 8 + hlen;
    size_t dlen = len - 8 - (size_t)hlen;
    size_t count = json_object_size(root);
    f->t = u2_calloc(count ? count : 1, sizeof *f->t);
    ranges = u2_calloc(2 * (count ? count : 1), sizeof *ranges);
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (!strcmp(key, "__metadata__")) {
            if (!json_is_object(val)) {
                u2_fail(path, "__metadata__ must be an object of strings");
                goto fail;
            }
            size_t m = json_object_size(val);
            f->meta_key = u2_calloc(m ? m : 1, sizeof(char *));
            f->meta_val = u2_calloc(m ? m : 1, sizeof(char *));
            const char *mk;
            json_t *mv;
            json_object_foreach(val, mk, mv) {
                if (!json_is_string(mv)) {
                    u2_fail(path, "__metadata__ value of \"%s\" is not a string", mk);
                    goto fail;
                }
                f->meta_key[f->nmeta] = u2_strdup(mk);
                f->meta_val[f->nmeta++] = u2_strdup(json_string_value(mv));
            }
            continue;
        }
        u2_st_tensor *t = &f->t[f->n];
        json_t *dt = json_object_get(val, "dtype"), *sh = json_object_get(val, "shape"),
               *off = json_object_get(val, "data_offsets");
        if (!json_is_string(dt) || !json_is_array(sh) || !json_is_array(off) ||
            json_array_size(off) != 2) {
            u2_fail(path, "tensor \"%s\": header entry lacks dtype, shape or data_offsets", key);
            goto fail;
        }
        t->name = u2_strdup(key);
        f->n++;
        snprintf(t->dtype, sizeof t->dtype, "%s", json_string_value(dt));
        size_t es = dtype_size(t->dtype);
        if (!es) {
            u2_fail(path, "tensor \"%s\": unknown dtype \"%s\"", key, t->dtype);
            goto fail;
        }
        if (json_array_size(sh) > 8) {
            u2_fail(path, "tensor \"%s\": more than 8 dimensions", key);
            goto fail;
        }
        t->ndim = (int)json_array_size(sh);
        uint64_t numel = 1;
        for (int d = 0; d < t->ndim; d++) {
            json_t *x = json_array_get(sh, (size_t)d);
            if (!json_is_integer(x) || json_integer_value(x) < 0 ||
                json_integer_value(x) > ((json_int_t)1 << 40)) {
                u2_fail(path, "tensor \"%s\": invalid shape", key);
                goto fail;
            }
            t->shape[d] = json_integer_value(x);
            numel *= (uint64_t)t->shape[d];
            if (numel > ((uint64_t)1 << 40)) {
                u2_fail(path, "tensor \"%s\": shape too large", key);
                goto fail;
            }
        }
        json_t *b0 = json_array_get(off, 0), *b1 = json_array_get(off, 1);
        if (!json_is_integer(b0) || !json_is_integer(b1) || json_integer_value(b0) < 0 ||
            json_integer_value(b1) < json_integer_value(b0) ||
            (uint64_t)json_integer_value(b1) > dlen) {
            u2_fail(path, "tensor \"%s\": data offsets outside the file (truncated?)", key);
            goto fail;
        }
        size_t s0 = (size_t)json_integer_value(b0), s1 = (size_t)json_integer_value(b1);
        if (s1 - s0 != numel * es) {
            u2_fail(path, "tensor \"%s\": %zu bytes of data for %llu elements of %s", key,
                    s1 - s0, (unsigned long long)numel, t->dtype);
            goto fail;
        }
        t->data = data + s0;
        t->nbytes = s1 - s0;
        ranges[2 * (f->n - 1)] = s0;
        ranges[2 * (f->n - 1) + 1] = s1;
    }
    qsort(ranges, (size_t)f->n, 2 * sizeof *ranges, cmp_range);
    for (int i = 1; i < f->n; i++)
        if (ranges[2 * i] < ranges[2 * i - 1]) {
            u2_fail(path, "tensors overlap in the data section");
            goto fail;
        }
    const char *sum = u2_st_meta(f, "unimo2.xxh3");
    if (sum) {
        char want[17];
        snprintf(want, sizeof want, "%016llx", (unsigned long long)XXH3_64bits(data, dlen));
        if (strcmp(sum, want) != 0) {
            u2_fail(path, "checksum mismatch (stored XXH3 %s, data has %s): the file is corrupt",
                    sum, want);
            goto fail;
        }
    }
    free(ranges);
    json_decref(root);
    return 0;
fail:
    free(ranges);
    if (root) json_decref(root);
    u2_st_free(f);
    return -1;
}

const u2_st_tensor *u2_st_find(const u2_st_file *f, const char *name)
{
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->t[i].name, name)) return &f->t[i];
    return NULL;
}

const char *u2_st_meta(const u2_st_file *f, const char *key)
{
    for (int i = 0; i < f->nmeta; i++)
        if (!strcmp(f->meta_key[i], key)) return f->meta_val[i];
    return NULL;
}

int u2_st_write(const char *path, const u2_st_out *t, int n, const char *const *meta_kv,
                int nmeta)
{
    XXH3_state_t *st = XXH3_createState();
    XXH3_64bits_reset(st);
    json_t *root = json_object();
    json_t *meta = json_object();
    for (int i = 0; i < nmeta; i++)
        json_object_set_new(meta, meta_kv[2 * i], json_string(meta_kv[2 * i + 1]));
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        uint64_t numel = 1;
        json_t *shape = json_array();
        for (int d = 0; d < t[i].ndim; d++) {
            numel *= (uint64_t)t[i].shape[d];
            json_array_append_new(shape, json_integer(t[i].shape[d]));
        }
        json_t *e = json_object();
        json_object_set_new(e, "dtype", json_string("F32"));
        json_object_set_new(e, "shape", shape);
        json_t *o = json_array();
        json_array_append_new(o, json_integer((json_int_t)off));
        json_array_append_new(o, json_integer((json_int_t)(off + 4 * numel)));
        json_object_set_new(e, "data_offsets", o);
        json_object_set_new(root, t[i].name, e);
        XXH3_64bits_update(st, t[i].data, 4 * numel);
        off += 4 * numel;
    }
    char sum[17];
    snprintf(sum, sizeof sum, "%016llx", (unsigned long long)XXH3_64bits_digest(st));
    XXH3_freeState(st);
    json_object_set_new(meta, "unimo2.xxh3", json_string(sum));
    json_object_set_new(meta, "format", json_string("pt"));
    json_object_set_new(root, "__metadata__", meta);
    char *hdr = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    size_t hl = strlen(hdr), padded = (hl + 7) & ~(size_t)7;
    unsigned char lenb[8];
    for (int i = 0; i < 8; i++) lenb[i] = (unsigned char)((uint64_t)padded >> (8 * i));

    u2_afile *a = u2_atomic_open(path);
    if (!a) {
        free(hdr);
        return -1;
    }
    int rc = u2_atomic_write(a, lenb, 8);
    if (!rc) rc = u2_atomic_write(a, hdr, hl);
    for (size_t i = hl; i < padded && !rc; i++) rc = u2_atomic_write(a, " ", 1);
    for (int i = 0; i < n && !rc; i++) {
        uint64_t numel = 1;
        for (int d = 0; d < t[i].ndim; d++) numel *= (uint64_t)t[i].shape[d];
        rc = u2_atomic_write(a, t[i].data, 4 * numel);
    }
    free(hdr);
    if (rc) {
        u2_atomic_abort(a);
        return -1;
    }
    return u2_atomic_commit(a);
}
