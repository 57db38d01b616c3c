/* A small builder over the protobuf-c ONNX messages (onnx.pb-c.h, generated
 * at build time from Debian's onnx.proto), so that each exported graph reads
 * as a list of operators:
 *
 *     const char *h = u2g_op(g, "MatMul", U2G_IN(x, w), NULL, NULL);
 *     h = u2g_op(g, "Softmax", U2G_IN(h), U2G_ATTRS(U2G_INT("axis", -1)), NULL);
 *
 * The builder owns every string, array and message it creates and frees them
 * all in u2g_free(); initializer data may instead be borrowed (the model's
 * parameter arena) to avoid copying a large model.  Value names it returns
 * stay valid until u2g_free(). */
#ifndef UNIMO2_ONNX_GRAPH_H
#define UNIMO2_ONNX_GRAPH_H

#include "onnx.pb-c.h"

#include <stdint.h>

/* Element types (TensorProto.DataType). */
enum {
    U2G_FLOAT = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT,
    U2G_INT64 = ONNX__TENSOR_PROTO__DATA_TYPE__INT64,
    U2G_BOOL = ONNX__TENSOR_PROTO__DATA_TYPE__BOOL,
};

/* Node attributes. */
enum { U2G_A_END = 0, U2G_A_INT, U2G_A_FLOAT, U2G_A_INTS };
typedef struct {
    const char *name;
    int kind;
    int64_t i;
    float f;
    int n;
    const int64_t *ints;
} u2g_attr;

#define U2G_NARGS_I64(...) ((int)(sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t)))
#define U2G_INT(nm, v) ((u2g_attr){.name = (nm), .kind = U2G_A_INT, .i = (v)})
#define U2G_FLT(nm, v) ((u2g_attr){.name = (nm), .kind = U2G_A_FLOAT, .f = (v)})
#define U2G_INTS(nm, ...)                                                                         \
    ((u2g_attr){.name = (nm), .kind = U2G_A_INTS, .n = U2G_NARGS_I64(__VA_ARGS__),                \
                .ints = (const int64_t[]){__VA_ARGS__}})
/* NULL-terminated input list; an input may be "" (an omitted optional input). */
#define U2G_IN(...) ((const char *const[]){__VA_ARGS__, NULL})
#define U2G_ATTRS(...) ((const u2g_attr[]){__VA_ARGS__, {0}})

typedef struct u2g u2g;

u2g *u2g_new(const char *name, const char *doc);
void u2g_free(u2g *g);

/* Prefix of generated node and value names until the next call
 * ("vit.blocks.0.attn" gives "vit.blocks.0.attn/MatMul_12"). */
void u2g_scope(u2g *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Graph inputs and outputs.  shape: comma-separated dims, each a number or a
 * symbolic name, e.g. "B,3,224,224" or "B,L". */
void u2g_input(u2g *g, const char *name, int elem, const char *shape, const char *doc);
void u2g_output(u2g *g, const char *name, int elem, const char *shape, const char *doc);

/* Initializers (raw little-endian data).  A name already present returns the
 * existing one.  borrow != 0: data is referenced, not copied, and must stay
 * alive and unchanged until the graph is written and freed. */
const char *u2g_init_f32(u2g *g, const char *name, const float *data, int ndim,
                         const int64_t *dims, int borrow);
/* w [rows, cols] stored transposed as [cols, rows] (weights for x·Wᵀ as MatMul). */
const char *u2g_init_f32_t(u2g *g, const char *name, const float *w, int64_t rows, int64_t cols);
const char *u2g_init_i64(u2g *g, const char *name, const int64_t *data, int ndim,
                         const int64_t *dims);
/* Constants, one initializer per distinct value: a float scalar, an int64
 * scalar and a 1-D int64 vector. */
const char *u2g_cf(u2g *g, float v);
const char *u2g_ci(u2g *g, int64_t v);
const char *u2g_cis(u2g *g, int n, const int64_t *v);
#define U2G_CIS(g, ...) u2g_cis((g), U2G_NARGS_I64(__VA_ARGS__), (const int64_t[]){__VA_ARGS__})

/* A node with one output; returns the output's name: `out` when given, else a
 * generated one.  attrs may be NULL. */
const char *u2g_op(u2g *g, const char *op, const char *const *in, const u2g_attr *attrs,
                   const char *out);
/* A node with nout outputs; outs[i] names output i when not NULL, else a
 * name is generated and stored there. */
void u2g_op_n(u2g *g, const char *op, const char *const *in, const u2g_attr *attrs, int nout,
              const char **outs);

int u2g_node_count(const u2g *g);
int u2g_initializer_count(const u2g *g);
/* Bytes of initializer data. */
int64_t u2g_initializer_bytes(const u2g *g);

/* What goes into the ModelProto around the graph. */
typedef struct {
    int64_t ir_version, opset;
    const char *producer_name, *producer_version, *doc;
    int nmeta;
    const char *const *meta_kv; /* nmeta key/value pairs (metadata_props) */
} u2g_model_info;

/* Initializers of at least this many bytes go to the external data file when
 * a graph is written with external data. */
#define U2G_EXTERNAL_MIN_BYTES 1024

/* Serialise the model to `path` atomically (temp file + rename).  When the
 * initializer bytes exceed external_threshold (< 0: never), every initializer
 * of U2G_EXTERNAL_MIN_BYTES or more is written to "<path>.data" (atomically,
 * before the model) and referenced as ONNX external data (location relative
 * to the model's directory); otherwise a stale "<path>.data" is removed.
 * *bytes_out (may be NULL) gets the size of the .onnx file, *external_out
 * whether external data was used.  Returns 0 or -1 (error recorded). */
int u2g_write(u2g *g, const char *path, const u2g_model_info *info, int64_t external_threshold,
              int64_t *bytes_out, int *external_out);

#endif
