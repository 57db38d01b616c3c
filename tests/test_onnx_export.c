/* ONNX export without any ONNX runtime: the written files read back with
 * protobuf-c (header fields, documented inputs and outputs with symbolic
 * dims, standard operators in topological order, initializers equal to the
 * model's weights), external data, errors, and atomicity under a full disk.
 * onnx.checker and onnxruntime parity are in test_onnx.sh. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "fileio.h"
#include "model.h"
#include "onnx_graph.h"
#include "onnx_export.h"
#include "tap.h"
#include "util.h"

#include <dirent.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];

static unsigned char *slurp(const char *path, size_t *len)
{
    char *b = u2_read_file(path, len);
    return (unsigned char *)b;
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static Onnx__ModelProto *load(const char *dir, const char *file)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    size_t len;
    unsigned char *b = slurp(path, &len);
    if (!b) return NULL;
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, len, b);
    free(b);
    return m;
}

static const char *const allowed_ops[] = {
    "Add", "Clip", "Concat", "Conv", "Div", "Equal", "Erf", "Gather", "Gemm",
    "LayerNormalization", "LpNormalization", "MatMul", "Mul", "Pad", "ReduceSum", "Relu",
    "Reshape", "Shape", "Sigmoid", "Slice", "Softmax", "Split", "TopK", "Transpose",
    "Unsqueeze", "Where", NULL,
};

static int op_allowed(const char *op)
{
    for (int i = 0; allowed_ops[i]; i++)
        if (!strcmp(op, allowed_ops[i])) return 1;
    return 0;
}

/* names seen so far (graph inputs, initializers, node outputs) */
typedef struct {
    const char **v;
    size_t n, cap;
} nameset;

static void ns_add(nameset *s, const char *name)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 256;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
    }
    s->v[s->n++] = name;
}

static int ns_has(const nameset *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->v[i], name)) return 1;
    return 0;
}

static const Onnx__TensorShapeProto__Dimension *dim(const Onnx__ValueInfoProto *vi, size_t d)
{
    const Onnx__TypeProto *t = vi->type;
    if (!t || t->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !t->tensor_type->shape ||
        d >= t->tensor_type->shape->n_dim)
        return NULL;
    return t->tensor_type->shape->dim[d];
}

static int dim_is(const Onnx__ValueInfoProto *vi, size_t d, const char *param, int64_t value)
{
    const Onnx__TensorShapeProto__Dimension *x = dim(vi, d);
    if (!x) return 0;
    if (param)
        return x->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM &&
               !strcmp(x->dim_param, param);
    return x->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE &&
           x->dim_value == value;
}

static const Onnx__ValueInfoProto *find_vi(Onnx__ValueInfoProto **v, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v[i]->name, name)) return v[i];
    return NULL;
}

/* The tensor's bytes: raw_data, or its slice of the external data file. */
static const unsigned char *tensor_bytes(const Onnx__TensorProto *t, const unsigned char *ext,
                                         size_t extlen, size_t *len)
{
    if (t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) {
        long long off = -1, n = -1;
        for (size_t k = 0; k < t->n_external_data; k++) {
            if (!strcmp(t->external_data[k]->key, "offset")) off = atoll(t->external_data[k]->value);
            if (!strcmp(t->external_data[k]->key, "length")) n = atoll(t->external_data[k]->value);
        }
        if (!ext || off < 0 || n < 0 || (size_t)(off + n) > extlen) return NULL;
        *len = (size_t)n;
        return ext + off;
    }
    *len = t->raw_data.len;
    return t->raw_data.data;
}

/* Every initializer named like a parameter holds its values (".T": transposed). */
static int check_weights(const Onnx__GraphProto *g, const u2_model *m, const unsigned char *ext,
                         size_t extlen, int *nparams)
{
    int bad = 0;
    *nparams = 0;
    for (size_t i = 0; i < g->n_initializer; i++) {
        const Onnx__TensorProto *t = g->initializer[i];
        char name[128];
        snprintf(name, sizeof name, "%s", t->name);
        size_t nl = strlen(name);
        int transposed = nl > 2 && !strcmp(name + nl - 2, ".T");
        if (transposed) name[nl - 2] = 0;
        const u2_tensor *p = u2_layout_find(&m->L, name);
        if (!p) continue;
        (*nparams)++;
        size_t len;
        const float *x = (const float *)tensor_bytes(t, ext, extlen, &len);
        const float *w = m->params + p->offset;
        if (!x || len != (size_t)p->numel * sizeof(float) || t->data_type != U2G_FLOAT) {
            bad++;
            continue;
        }
        if (!transposed) {
            bad += memcmp(x, w, len) != 0;
        } else {
            int64_t R = p->shape[0], C = p->shape[1];
            int same = t->n_dims == 2 && t->dims[0] == C && t->dims[1] == R;
            for (int64_t r = 0; same && r < R; r++)
                for (int64_t c = 0; same && c < C; c++) same = x[c * R + r] == w[r * C + c];
            bad += !same;
        }
    }
    return bad;
}

static void check_graph(const char *dir, const char *file, const u2_model *m, int gi)
{
    Onnx__ModelProto *mp = load(dir, file);
    if (!tap_ok(mp != NULL, "%s: unpacks with protobuf-c", file)) return;
    tap_ok(mp->has_ir_version && mp->ir_version == 8 && mp->n_opset_import == 1 &&
               (!mp->opset_import[0]->domain || !*mp->opset_import[0]->domain) &&
               mp->opset_import[0]->version == 17,
           "%s: IR version 8, opset 17 (default domain)", file);
    tap_ok(mp->producer_name && !strcmp(mp->producer_name, "unimo2") && mp->producer_version &&
               !strcmp(mp->producer_version, PACKAGE_VERSION) && mp->doc_string && *mp->doc_string,
           "%s: producer unimo2 %s, doc string", file, PACKAGE_VERSION);
    int meta = 0;
    for (size_t i = 0; i < mp->n_metadata_props; i++)
        meta += !strcmp(mp->metadata_props[i]->key, "unimo2.config") &&
                strstr(mp->metadata_props[i]->value, "\"hidden\"");
    tap_ok(meta == 1, "%s: metadata unimo2.config", file);

    const Onnx__GraphProto *g = mp->graph;
    static const char *const ins[4][3] = {{"pixels"},
                                          {"input_ids", "attention_mask"},
                                          {"visual_tokens", "text_tokens", "attention_mask"},
                                          {"pixels", "input_ids", "attention_mask"}};
    static const char *const outs[4][8] = {
        {"visual_tokens", "image_embedding"},
        {"text_tokens", "text_embedding"},
        {"itm_logits", "cmcl_score", "score", "grounded_indices"},
        {"visual_tokens", "image_embedding", "text_tokens", "text_embedding", "itm_logits",
         "cmcl_score", "score", "grounded_indices"}};
    int ok = g->doc_string && *g->doc_string;
    size_t nin = 0, nout = 0;
    for (; nin < 3 && ins[gi][nin]; nin++) {
        const Onnx__ValueInfoProto *vi = find_vi(g->input, g->n_input, ins[gi][nin]);
        ok = ok && vi && vi->doc_string && *vi->doc_string && dim_is(vi, 0, "B", 0);
        if (vi && (!strcmp(vi->name, "input_ids") || !strcmp(vi->name, "attention_mask")))
            ok = ok && dim_is(vi, 1, "L", 0);
        if (vi && !strcmp(vi->name, "pixels"))
            ok = ok && dim_is(vi, 1, NULL, 3) && dim_is(vi, 2, NULL, m->L.cfg.image_size);
    }
    for (; nout < 8 && outs[gi][nout]; nout++) {
        const Onnx__ValueInfoProto *vi = find_vi(g->output, g->n_output, outs[gi][nout]);
        ok = ok && vi && vi->doc_string && *vi->doc_string && dim_is(vi, 0, "B", 0);
        if (vi && !strcmp(vi->name, "text_tokens")) ok = ok && dim_is(vi, 1, "L", 0);
        if (vi && !strcmp(vi->name, "grounded_indices"))
            ok = ok && dim_is(vi, 1, NULL, m->L.cfg.topk) &&
                 vi->type->tensor_type->elem_type == ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
    }
    tap_ok(ok && g->n_input == nin && g->n_output == nout,
           "%s: documented inputs and outputs with dims B (batch) and L (text length)", file);

    nameset seen = {0};
    for (size_t i = 0; i < g->n_input; i++) ns_add(&seen, g->input[i]->name);
    for (size_t i = 0; i < g->n_initializer; i++) ns_add(&seen, g->initializer[i]->name);
    int ops_ok = 1, order_ok = 1;
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *n = g->node[i];
        if (!op_allowed(n->op_type) || (n->domain && *n->domain)) {
            if (ops_ok) tap_diag("unexpected operator %s", n->op_type);
            ops_ok = 0;
        }
        for (size_t k = 0; k < n->n_input; k++)
            if (*n->input[k] && !ns_has(&seen, n->input[k])) order_ok = 0;
        for (size_t k = 0; k < n->n_output; k++) ns_add(&seen, n->output[k]);
    }
    for (size_t i = 0; i < g->n_output; i++)
        if (!ns_has(&seen, g->output[i]->name)) order_ok = 0;
    free(seen.v);
    tap_ok(ops_ok, "%s: standard operators only (%zu nodes)", file, g->n_node);
    tap_ok(order_ok, "%s: nodes in topological order, every output produced", file);
    int np = 0;
    int bad = check_weights(g, m, NULL, 0, &np);
    tap_ok(bad == 0 && np > 0, "%s: %d weight initializers equal the model's parameters", file, np);
    onnx__model_proto__free_unpacked(mp, NULL);
}

static int count_files(const char *dir, const char *part)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.' || strstr(e->d_name, ".tmp")) n += !part || strstr(e->d_name, part);
    closedir(d);
    return n;
}

static void rm_rf(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char p[512];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(p, &st) == 0 && S_ISDIR(st.st_mode)) rm_rf(p);
        else unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "%s/u2onnxexp.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    u2_config cfg;
    u2_config_builtin("tiny", &cfg);
    u2_model m;
    u2_model_create(&m, &cfg);
    u2_params_test_weights(&m.L, m.params, 1);
    u2_onnx_opts o;
    u2_onnx_opts_default(&o);
    char dir[512], path[600];

    /* the four graphs */
    snprintf(dir, sizeof dir, "%s/all", tmpdir);
    int rc = u2_onnx_export(&m, dir, &o);
    tap_ok(rc == 0, "export of the four graphs%s%s", rc ? ": " : "", rc ? u2_errmsg() : "");
    const char *files[4] = {"image_encoder.onnx", "text_encoder.onnx", "fusion.onnx", "unimo2.onnx"};
    for (int gi = 0; gi < 4; gi++) check_graph(dir, files[gi], &m, gi);
    tap_ok(count_files(dir, NULL) == 4, "exactly four files, no temp files left");

    /* external data */
    snprintf(dir, sizeof dir, "%s/ext", tmpdir);
    o.external_threshold = 0;
    o.graphs = U2_ONNX_E2E;
    rc = u2_onnx_export(&m, dir, &o);
    snprintf(path, sizeof path, "%s/unimo2.onnx.data", dir);
    size_t extlen = 0;
    unsigned char *ext = rc == 0 ? slurp(path, &extlen) : NULL;
    tap_ok(rc == 0 && ext && extlen > 0, "threshold 0: unimo2.onnx.data written (%zu bytes)", extlen);
    Onnx__ModelProto *mp = load(dir, "unimo2.onnx");
    if (mp && ext) {
        const Onnx__GraphProto *g = mp->graph;
        int nexternal = 0, loc_ok = 1, small_inline = 1;
        for (size_t i = 0; i < g->n_initializer; i++) {
            const Onnx__TensorProto *t = g->initializer[i];
            int isext = t->has_data_location &&
                        t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
            nexternal += isext;
            if (isext) {
                int has_loc = 0;
                for (size_t k = 0; k < t->n_external_data; k++)
                    has_loc += !strcmp(t->external_data[k]->key, "location") &&
                               !strcmp(t->external_data[k]->value, "unimo2.onnx.data");
                loc_ok = loc_ok && has_loc == 1 && !t->has_raw_data;
            } else {
                small_inline = small_inline && t->raw_data.len < U2G_EXTERNAL_MIN_BYTES;
            }
        }
        tap_ok(nexternal > 0 && loc_ok && small_inline,
               "threshold 0: %d initializers external (location unimo2.onnx.data), the small "
               "ones inline", nexternal);
        int np = 0;
        int bad = check_weights(g, &m, ext, extlen, &np);
        tap_ok(bad == 0 && np > 0, "threshold 0: the %d weights read back from the data file", np);
        onnx__model_proto__free_unpacked(mp, NULL);
    } else {
        tap_ok(0, "threshold 0: unimo2.onnx unpacks");
    }
    free(ext);
    o.external_threshold = U2_ONNX_EXTERNAL_DEFAULT;
    rc = u2_onnx_export(&m, dir, &o);
    tap_ok(rc == 0 && !exists(path), "re-export inline removes the stale unimo2.onnx.data");

    /* a full disk: the old file stays, no temp file is left */
    snprintf(dir, sizeof dir, "%s/all", tmpdir);
    snprintf(path, sizeof path, "%s/fusion.onnx", dir);
    size_t oldlen = 0, newlen = 0;
    unsigned char *old = slurp(path, &oldlen);
    cfg.hidden = 64; /* a different model, so a partial write would show */
    cfg.ffn = 128;
    u2_model m2;
    u2_model_create(&m2, &cfg);
    u2_params_test_weights(&m2.L, m2.params, 2);
    o.graphs = U2_ONNX_FUSION;
    u2_fileio_inject_enospc(4096);
    u2_clear_error();
    rc = u2_onnx_export(&m2, dir, &o);
    u2_fileio_inject_enospc(-1);
    tap_ok(rc != 0 && strstr(u2_errmsg(), "fusion.onnx"), "ENOSPC: the export fails naming the file (%s)",
           u2_errmsg());
    unsigned char *now = slurp(path, &newlen);
    tap_ok(old && now && oldlen == newlen && !memcmp(old, now, oldlen),
           "ENOSPC: the previous fusion.onnx is untouched");
    tap_ok(count_files(dir, ".tmp") == 0 && count_files(dir, NULL) == 4, "ENOSPC: no temp file left");
    free(old);
    free(now);
    /* with external data, the data file fails first: no graph appears */
    snprintf(dir, sizeof dir, "%s/enospc-ext", tmpdir);
    o.external_threshold = 0;
    u2_fileio_inject_enospc(4096);
    rc = u2_onnx_export(&m2, dir, &o);
    u2_fileio_inject_enospc(-1);
    tap_ok(rc != 0 && count_files(dir, NULL) == 0, "ENOSPC in the external data: nothing written");
    o.external_threshold = U2_ONNX_EXTERNAL_DEFAULT;
    u2_model_free(&m2);

    /* refusals and errors */
    u2_config near = m.L.cfg;
    near.grounding = U2_GROUND_NEAREST;
    u2_model m3;
    u2_model_create(&m3, &near);
    snprintf(dir, sizeof dir, "%s/nearest", tmpdir);
    rc = u2_onnx_export(&m3, dir, &o);
    tap_ok(rc != 0 && strstr(u2_errmsg(), "nearest") && !exists(dir),
           "grounding = nearest is refused before anything is written (%s)", u2_errmsg());
    u2_model_free(&m3);
    snprintf(path, sizeof path, "%s/plain-file", tmpdir);
    u2_write_file_atomic(path, "x", 1, 0);
    snprintf(dir, sizeof dir, "%s/plain-file/sub", tmpdir);
    rc = u2_onnx_export(&m, dir, &o);
    tap_ok(rc != 0 && strstr(u2_errmsg(), "plain-file"), "an output path under a file: %s",
           u2_errmsg());

    unsigned bits = 0;
    tap_ok(u2_onnx_parse_graphs("image,text_encoder", "--graphs", &bits) == 0 && bits == 3,
           "--graphs image,text_encoder");
    tap_ok(u2_onnx_parse_graphs("fusion.onnx,e2e", "--graphs", &bits) == 0 && bits == 12,
           "--graphs fusion.onnx,e2e");
    tap_ok(u2_onnx_parse_graphs("all", "--graphs", &bits) == 0 && bits == 15, "--graphs all");
    tap_ok(u2_onnx_parse_graphs("image,vit", "--graphs", &bits) != 0 && strstr(u2_errmsg(), "vit"),
           "--graphs with an unknown name: %s", u2_errmsg());

    u2_model_free(&m);
    rm_rf(tmpdir);
    return tap_done();
}
