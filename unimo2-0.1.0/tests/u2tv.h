/* Reader of the test-vector files written by tests/reference/dump.py
 * (doc/testvectors.md): "U2TV", u32 version, u32 count, u32 reserved, then
 * entries of (u32 name length, name, u32 dtype, u32 ndim, u32 dims[], data). */
#ifndef UNIMO2_TESTS_U2TV_H
#define UNIMO2_TESTS_U2TV_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *name;
    int dtype; /* 0 float32, 1 int32 */
    int ndim;
    int64_t dims[8];
    int64_t numel;
    void *data;
} u2tv_entry;

typedef struct {
    int n;
    u2tv_entry *e;
} u2tv;

static uint32_t u2tv_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Returns 0, or -1 with a message on stderr. */
static int u2tv_load(const char *path, u2tv *tv)
{
    memset(tv, 0, sizeof *tv);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: cannot open test vectors\n", path);
        return -1;
    }
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)len + 1);
    if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) {
        fclose(f);
        free(buf);
        fprintf(stderr, "%s: read error\n", path);
        return -1;
    }
    fclose(f);
    if (len < 16 || memcmp(buf, "U2TV", 4) != 0) {
        fprintf(stderr, "%s: not a U2TV file\n", path);
        free(buf);
        return -1;
    }
    if (u2tv_u32(buf + 4) != 1) {
        fprintf(stderr, "%s: U2TV version %u, this test reads version 1 "
                        "(regenerate with make regen-reference)\n", path, u2tv_u32(buf + 4));
        free(buf);
        return -1;
    }
    uint32_t n = u2tv_u32(buf + 8);
    tv->e = calloc(n ? n : 1, sizeof *tv->e);
    long p = 16;
    for (uint32_t i = 0; i < n; i++) {
        u2tv_entry *e = &tv->e[i];
        if (p + 4 > len) goto trunc;
        uint32_t nl = u2tv_u32(buf + p);
        p += 4;
        if (p + nl + 8 > len) goto trunc;
        e->name = malloc(nl + 1);
        memcpy(e->name, buf + p, nl);
        e->name[nl] = 0;
        p += nl;
        e->dtype = (int)u2tv_u32(buf + p);
        e->ndim = (int)u2tv_u32(buf + p + 4);
        p += 8;
        if (e->ndim > 8 || p + 4L * e->ndim > len) goto trunc;
        e->numel = 1;
        for (int d = 0; d < e->ndim; d++) {
            e->dims[d] = u2tv_u32(buf + p);
            e->numel *= e->dims[d];
            p += 4;
        }
        if (p + 4 * e->numel > len) goto trunc;
        e->data = malloc((size_t)(4 * e->numel) + 4);
        memcpy(e->data, buf + p, (size_t)(4 * e->numel));
        p += 4 * e->numel;
        tv->n++;
    }
    free(buf);
    return 0;
trunc:
    fprintf(stderr, "%s: truncated test-vector file\n", path);
    free(buf);
    return -1;
}

static const u2tv_entry *u2tv_get(const u2tv *tv, const char *name)
{
    for (int i = 0; i < tv->n; i++)
        if (!strcmp(tv->e[i].name, name)) return &tv->e[i];
    return NULL;
}

static void u2tv_free(u2tv *tv)
{
    for (int i = 0; i < tv->n; i++) {
        free(tv->e[i].name);
        free(tv->e[i].data);
    }
    free(tv->e);
    memset(tv, 0, sizeof *tv);
}

#endif
