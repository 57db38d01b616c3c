/* ONNX export of a unimo2 model (SPEC §5, doc/onnx.md): four graphs built
 * directly as protobuf-c ModelProtos (opset 17, IR version 8). */
#ifndef UNIMO2_ONNX_EXPORT_H
#define UNIMO2_ONNX_EXPORT_H

#include "model.h"

#include <stdint.h>

/* The graphs, as bits of u2_onnx_opts.graphs. */
enum {
    U2_ONNX_IMAGE = 1,  /* image_encoder.onnx */
    U2_ONNX_TEXT = 2,   /* text_encoder.onnx */
    U2_ONNX_FUSION = 4, /* fusion.onnx */
    U2_ONNX_E2E = 8,    /* unimo2.onnx */
    U2_ONNX_ALL = 15,
};
#define U2_ONNX_NGRAPHS 4

#define U2_ONNX_OPSET 17
#define U2_ONNX_IR_VERSION 8
/* Initializer bytes above which a graph's weights go to "<name>.onnx.data"
 * (protobuf refuses messages of 2 GiB or more; 16 MiB left for the graph). */
#define U2_ONNX_EXTERNAL_DEFAULT ((int64_t)2147483647 - (16 << 20))

typedef struct {
    unsigned graphs;            /* U2_ONNX_* bits; 0 means all */
    int64_t external_threshold; /* see U2_ONNX_EXTERNAL_DEFAULT; < 0: never external */
    int verbose;                /* progress lines on stderr */
} u2_onnx_opts;

void u2_onnx_opts_default(u2_onnx_opts *o);

/* File name ("image_encoder.onnx", ...) of graph bit `g`, NULL if not one bit. */
const char *u2_onnx_graph_file(unsigned g);
/* Parse a comma-separated list of graph names (image_encoder|image,
 * text_encoder|text, fusion, unimo2|e2e, all) into bits; records an error
 * naming `what` for an unknown name. */
int u2_onnx_parse_graphs(const char *list, const char *what, unsigned *out);

/* 0 if the config can be exported, else -1 with the reason recorded
 * (grounding = nearest is refused: doc/onnx.md). */
int u2_onnx_supported(const u2_config *c, const char *what);

/* Write the selected graphs into outdir (created if missing), each atomically. */
int u2_onnx_export(const u2_model *m, const char *outdir, const u2_onnx_opts *o);

#endif
