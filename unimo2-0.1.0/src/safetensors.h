/* safetensors: 8-byte little-endian header length, a JSON header, raw
 * little-endian data (SPEC §5).  unimo2 stores its config, the tokenizer
 * fingerprint and an XXH3-64 of the data in "__metadata__". */
#ifndef UNIMO2_SAFETENSORS_H
#define UNIMO2_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct {
    char *name;
    char dtype[8];
    int ndim;
    int64_t shape[8];
    const void *data; /* into the file buffer */
    size_t nbytes;
} u2_st_tensor;

typedef struct u2_st_file_s {
    char *path;
    unsigned char *buf; /* whole file */
    size_t len;
    int n;
    u2_st_tensor *t;
    int nmeta;
    char **meta_key, **meta_val;
} u2_st_file;

/* Read and validate a file: header bounds, JSON, offsets inside the data and
 * not overlapping, sizes matching dtype x shape, and the XXH3-64 checksum when
 * the metadata carries one.  Every failure names the file and the problem. */
int u2_st_read(const char *path, u2_st_file *f);
void u2_st_free(u2_st_file *f);
const u2_st_tensor *u2_st_find(const u2_st_file *f, const char *name);
const char *u2_st_meta(const u2_st_file *f, const char *key);

/* Writing: tensors are float32, given in order. */
typedef struct {
    const char *name;
    int ndim;
    const int64_t *shape;
    const float *data;
} u2_st_out;

/* Write to path atomically (temp file, fsync, rename).  meta: n pairs of
 * key/value strings; "unimo2.xxh3" is added.  Returns 0 or -1 (error recorded). */
int u2_st_write(const char *path, const u2_st_out *t, int n, const char *const *meta_kv,
                int nmeta);

#endif
