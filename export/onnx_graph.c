/* ONNX graph builder over protobuf-c (see onnx_graph.h). */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "onnx_graph.h"
#include "fileio.h"
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct u2g {
    Onnx__GraphProto graph;
    /* capacities of the growing pointer arrays of graph */
    size_t cap_node, cap_init, cap_in, cap_out;
    /* everything else the builder allocated, freed in u2g_free */
    void **allocs;
    size_t nallocs, cap_allocs;
    char scope[256];
    int counter;
    int64_t init_bytes;
};

/* ------------------------------------------------------------ allocation */

static void *track(u2g *g, void *p)
{
    if (g->nallocs == g->cap_allocs) {
        g->cap_allocs = g->cap_allocs ? 2 * g->cap_allocs : 256;
        g->allocs = u2_realloc(g->allocs, g->cap_allocs * sizeof *g->allocs);
    }
    g->allocs[g->nallocs++] = p;
    return p;
}

static void *galloc(u2g *g, size_t n) { return track(g, u2_calloc(1, n ? n : 1)); }

static char *gstrdup(u2g *g, const char *s) { return track(g, u2_strdup(s)); }

static char *gprintf(u2g *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *gprintf(u2g *g, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = galloc(g, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

/* Append p to a growing pointer array (*arr, *n, *cap). */
static void push(void ***arr, size_t *n, size_t *cap, void *p)
{
    if (*n == *cap) {
        *cap = *cap ? 2 * *cap : 64;
        *arr = u2_realloc(*arr, *cap * sizeof **arr);
    }
    (*arr)[(*n)++] = p;
}
#define PUSH(g, field, capfield, p) \
    push((void ***)&(g)->graph.field, &(g)->graph.n_##field, &(g)->capfield, (p))

u2g *u2g_new(const char *name, const char *doc)
{
    u2g *g = u2_calloc(1, sizeof *g);
    onnx__graph_proto__init(&g->graph);
    g->graph.name = gstrdup(g, name);
    if (doc) g->graph.doc_string = gstrdup(g, doc);
    return g;
}

void u2g_free(u2g *g)
{
    if (!g) return;
    for (size_t i = 0; i < g->nallocs; i++) free(g->allocs[i]);
    free(g->allocs);
    free(g->graph.node);
    free(g->graph.initializer);
    free(g->graph.input);
    free(g->graph.output);
    free(g);
}

void u2g_scope(u2g *g, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g->scope, sizeof g->scope, fmt, ap);
    va_end(ap);
}

int u2g_node_count(const u2g *g) { return (int)g->graph.n_node; }
int u2g_initializer_count(const u2g *g) { return (int)g->graph.n_initializer; }
int64_t u2g_initializer_bytes(const u2g *g) { return g->init_bytes; }

/* ------------------------------------------------------- inputs, outputs */

static Onnx__ValueInfoProto *value_info(u2g *g, const char *name, int elem, const char *shape,
                                        const char *doc)
{
    Onnx__ValueInfoProto *vi = galloc(g, sizeof *vi);
    onnx__value_info_proto__init(vi);
    vi->name = gstrdup(g, name);
    if (doc) vi->doc_string = gstrdup(g, doc);

    Onnx__TensorShapeProto *sh = galloc(g, sizeof *sh);
    onnx__tensor_shape_proto__init(sh);
    size_t ndim = 1;
    for (const char *p = shape; *p; p++) ndim += *p == ',';
    sh->n_dim = ndim;
    sh->dim = galloc(g, ndim * sizeof *sh->dim);
    const char *p = shape;
    for (size_t d = 0; d < ndim; d++) {
        size_t len = strcspn(p, ",");
        Onnx__TensorShapeProto__Dimension *dim = galloc(g, sizeof *dim);
        onnx__tensor_shape_proto__dimension__init(dim);
        char *tok = gprintf(g, "%.*s", (int)len, p);
        char *end;
        long long v = strtoll(tok, &end, 10);
        if (*tok && !*end) {
            dim->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            dim->dim_value = v;
        } else {
            dim->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            dim->dim_param = tok;
        }
        sh->dim[d] = dim;
        p += len + (p[len] == ',');
    }

    Onnx__TypeProto__Tensor *tt = galloc(g, sizeof *tt);
    onnx__type_proto__tensor__init(tt);
    tt->has_elem_type = 1;
    tt->elem_type = elem;
    tt->shape = sh;
    Onnx__TypeProto *tp = galloc(g, sizeof *tp);
    onnx__type_proto__init(tp);
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    vi->type = tp;
    return vi;
}

void u2g_input(u2g *g, const char *name, int elem, const char *shape, const char *doc)
{
    PUSH(g, input, cap_in, value_info(g, name, elem, shape, doc));
}

void u2g_output(u2g *g, const char *name, int elem, const char *shape, const char *doc)
{
    PUSH(g, output, cap_out, value_info(g, name, elem, shape, doc));
}

/* ---------------------------------------------------------- initializers */

static Onnx__TensorProto *find_init(const u2g *g, const char *name)
{
    for (size_t i = 0; i < g->graph.n_initializer; i++)
        if (!strcmp(g->graph.initializer[i]->name, name)) return g->graph.initializer[i];
    return NULL;
}

static const char *add_init(u2g *g, const char *name, int elem, const void *data, size_t nbytes,
                            int ndim, const int64_t *dims, int borrow)
{
    Onnx__TensorProto *t = find_init(g, name);
    if (t) return t->name;
    t = galloc(g, sizeof *t);
    onnx__tensor_proto__init(t);
    t->name = gstrdup(g, name);
    t->has_data_type = 1;
    t->data_type = elem;
    t->n_dims = (size_t)ndim;
    t->dims = galloc(g, (size_t)(ndim ? ndim : 1) * sizeof *t->dims);
    if (ndim > 0) memcpy(t->dims, dims, (size_t)ndim * sizeof *t->dims);
    /* raw_data is little-endian; configure refuses big-endian hosts */
    t->has_raw_data = 1;
    t->raw_data.len = nbytes;
    if (borrow) {
        t->raw_data.data = (uint8_t *)(uintptr_t)data;
    } else {
        t->raw_data.data = galloc(g, nbytes);
        memcpy(t->raw_data.data, data, nbytes);
    }
    g->init_bytes += (int64_t)nbytes;
    PUSH(g, initializer, cap_init, t);
    return t->name;
}

static size_t numel(int ndim, const int64_t *dims)
{
    size_t n = 1;
    for (int d = 0; d < ndim; d++) n *= (size_t)dims[d];
    return n;
}

const char *u2g_init_f32(u2g *g, const char *name, const float *data, int ndim,
                         const int64_t *dims, int borrow)
{
    return add_init(g, name, U2G_FLOAT, data, numel(ndim, dims) * sizeof(float), ndim, dims,
                    borrow);
}

const char *u2g_init_f32_t(u2g *g, const char *name, const float *w, int64_t rows, int64_t cols)
{
    Onnx__TensorProto *t = find_init(g, name);
    if (t) return t->name;
    float *wt = galloc(g, (size_t)(rows * cols) * sizeof(float));
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) wt[c * rows + r] = w[r * cols + c];
    const int64_t dims[2] = {cols, rows};
    return add_init(g, name, U2G_FLOAT, wt, (size_t)(rows * cols) * sizeof(float), 2, dims, 1);
}

const char *u2g_init_i64(u2g *g, const char *name, const int64_t *data, int ndim,
                         const int64_t *dims)
{
    return add_init(g, name, U2G_INT64, data, numel(ndim, dims) * sizeof(int64_t), ndim, dims, 0);
}

const char *u2g_cf(u2g *g, float v)
{
    char name[64];
    snprintf(name, sizeof name, "const.f32.%.9g", (double)v);
    return add_init(g, name, U2G_FLOAT, &v, sizeof v, 0, NULL, 0);
}

const char *u2g_ci(u2g *g, int64_t v)
{
    char name[64];
    snprintf(name, sizeof name, "const.i64.%" PRId64, v);
    return add_init(g, name, U2G_INT64, &v, sizeof v, 0, NULL, 0);
}

const char *u2g_cis(u2g *g, int n, const int64_t *v)
{
    char name[512];
    int len = snprintf(name, sizeof name, "const.i64[");
    for (int i = 0; i < n && len < (int)sizeof name - 24; i++)
        len += snprintf(name + len, sizeof name - (size_t)len, "%s%" PRId64, i ? "," : "", v[i]);
    snprintf(name + len, sizeof name - (size_t)len, "]");
    const int64_t dims[1] = {n};
    return add_init(g, name, U2G_INT64, v, (size_t)n * sizeof *v, 1, dims, 0);
}

/* ----------------------------------------------------------------- nodes */

static Onnx__AttributeProto *attribute(u2g *g, const u2g_attr *a)
{
    Onnx__AttributeProto *p = galloc(g, sizeof *p);
    onnx__attribute_proto__init(p);
    p->name = gstrdup(g, a->name);
    p->has_type = 1;
    switch (a->kind) {
    case U2G_A_INT:
        p->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
        p->has_i = 1;
        p->i = a->i;
        break;
    case U2G_A_FLOAT:
        p->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
        p->has_f = 1;
        p->f = a->f;
        break;
    default:
        p->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
        p->n_ints = (size_t)a->n;
        p->ints = galloc(g, (size_t)a->n * sizeof *p->ints);
        memcpy(p->ints, a->ints, (size_t)a->n * sizeof *p->ints);
        break;
    }
    return p;
}

void u2g_op_n(u2g *g, const char *op, const char *const *in, const u2g_attr *attrs, int nout,
              const char **outs)
{
    Onnx__NodeProto *n = galloc(g, sizeof *n);
    onnx__node_proto__init(n);
    int id = g->counter++;
    n->name = g->scope[0] ? gprintf(g, "%s/%s_%d", g->scope, op, id) : gprintf(g, "%s_%d", op, id);
    n->op_type = gstrdup(g, op);
    size_t nin = 0;
    while (in && in[nin]) nin++;
    n->n_input = nin;
    n->input = galloc(g, nin * sizeof *n->input);
    for (size_t i = 0; i < nin; i++) n->input[i] = gstrdup(g, in[i]);
    n->n_output = (size_t)nout;
    n->output = galloc(g, (size_t)nout * sizeof *n->output);
    for (int i = 0; i < nout; i++) {
        n->output[i] = outs[i] ? gstrdup(g, outs[i])
                               : (nout == 1 ? n->name : gprintf(g, "%s:%d", n->name, i));
        outs[i] = n->output[i];
    }
    size_t na = 0;
    while (attrs && attrs[na].kind != U2G_A_END) na++;
    n->n_attribute = na;
    n->attribute = galloc(g, na * sizeof *n->attribute);
    for (size_t i = 0; i < na; i++) n->attribute[i] = attribute(g, &attrs[i]);
    PUSH(g, node, cap_node, n);
}

const char *u2g_op(u2g *g, const char *op, const char *const *in, const u2g_attr *attrs,
                   const char *out)
{
    const char *o[1] = {out};
    u2g_op_n(g, op, in, attrs, 1, o);
    return o[0];
}

/* ----------------------------------------------------------------- write */

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* Move the large initializers to "<path>.data" and point them there. */
static int write_external(u2g *g, const char *path)
{
    char *dpath = gprintf(g, "%s.data", path);
    const char *loc = base_name(dpath);
    u2_afile *f = u2_atomic_open(dpath);
    if (!f) return -1;
    static const unsigned char zeros[64];
    int64_t off = 0;
    for (size_t i = 0; i < g->graph.n_initializer; i++) {
        Onnx__TensorProto *t = g->graph.initializer[i];
        if (!t->has_raw_data || t->raw_data.len < U2G_EXTERNAL_MIN_BYTES) continue;
        size_t pad = (size_t)((64 - off % 64) % 64); /* 64-byte aligned tensors */
        if ((pad && u2_atomic_write(f, zeros, pad) != 0) ||
            u2_atomic_write(f, t->raw_data.data, t->raw_data.len) != 0) {
            u2_atomic_abort(f);
            return -1;
        }
        off += (int64_t)pad;
        const char *kv[6] = {"location", loc, "offset", gprintf(g, "%" PRId64, off), "length",
                             gprintf(g, "%zu", t->raw_data.len)};
        t->n_external_data = 3;
        t->external_data = galloc(g, 3 * sizeof *t->external_data);
        for (int k = 0; k < 3; k++) {
            Onnx__StringStringEntryProto *e = galloc(g, sizeof *e);
            onnx__string_string_entry_proto__init(e);
            e->key = gstrdup(g, kv[2 * k]);
            e->value = gstrdup(g, kv[2 * k + 1]);
            t->external_data[k] = e;
        }
        t->has_data_location = 1;
        t->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
        off += (int64_t)t->raw_data.len;
        t->has_raw_data = 0;
        t->raw_data.len = 0;
        t->raw_data.data = NULL;
    }
    return u2_atomic_commit(f);
}

int u2g_write(u2g *g, const char *path, const u2g_model_info *info, int64_t external_threshold,
              int64_t *bytes_out, int *external_out)
{
    int external = external_threshold >= 0 && g->init_bytes > external_threshold;
    if (external && write_external(g, path) != 0) return -1;

    Onnx__OperatorSetIdProto opset = ONNX__OPERATOR_SET_ID_PROTO__INIT;
    opset.domain = "";
    opset.has_version = 1;
    opset.version = info->opset;
    Onnx__OperatorSetIdProto *opsets[1] = {&opset};

    Onnx__ModelProto m = ONNX__MODEL_PROTO__INIT;
    m.has_ir_version = 1;
    m.ir_version = info->ir_version;
    m.n_opset_import = 1;
    m.opset_import = opsets;
    m.producer_name = (char *)(uintptr_t)info->producer_name;
    m.producer_version = (char *)(uintptr_t)info->producer_version;
    m.doc_string = (char *)(uintptr_t)info->doc;
    m.graph = &g->graph;
    Onnx__StringStringEntryProto *props = NULL, **pprops = NULL;
    if (info->nmeta > 0) {
        props = u2_calloc((size_t)info->nmeta, sizeof *props);
        pprops = u2_calloc((size_t)info->nmeta, sizeof *pprops);
        for (int i = 0; i < info->nmeta; i++) {
            onnx__string_string_entry_proto__init(&props[i]);
            props[i].key = (char *)(uintptr_t)info->meta_kv[2 * i];
            props[i].value = (char *)(uintptr_t)info->meta_kv[2 * i + 1];
            pprops[i] = &props[i];
        }
        m.n_metadata_props = (size_t)info->nmeta;
        m.metadata_props = pprops;
    }

    int rc = -1;
    size_t len = onnx__model_proto__get_packed_size(&m);
    if (len > (size_t)INT32_MAX) {
        u2_fail(path, "the graph would be %zu bytes, over protobuf's 2 GiB limit "
                      "(export with a lower --external-threshold)", len);
        goto done;
    }
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf) {
        u2_fail(path, "out of memory for %zu bytes of serialised graph", len);
        goto done;
    }
    size_t packed = onnx__model_proto__pack(&m, buf);
    if (packed != len) {
        u2_fail(path, "protobuf-c packed %zu bytes, expected %zu", packed, len);
        free(buf);
        goto done;
    }
    rc = u2_write_file_atomic(path, buf, len, 0);
    free(buf);
    if (rc == 0 && !external) {
        /* a stale external data file of an earlier export no longer belongs here */
        char *dpath = gprintf(g, "%s.data", path);
        if (unlink(dpath) != 0 && errno != ENOENT) {
            rc = u2_fail(dpath, "cannot remove the stale external data file: %s", strerror(errno));
        }
    }
    if (rc == 0) {
        if (bytes_out) *bytes_out = (int64_t)len;
        if (external_out) *external_out = external;
    }
done:
    free(props);
    free(pprops);
    return rc;
}
