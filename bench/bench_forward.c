/* unimo2-bench forward: inference throughput of the native forward pass —
 * images/s (image encoder), texts/s (text encoder), pairs/s (grounding +
 * grounded transformer + heads) — side by side with onnxruntime running our
 * own exported graphs on the same weights, shapes and thread count. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "bench.h"
#include "fileio.h"
#include "infer.h"
#include "model.h"
#include "onnx_export.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef U2_BENCH_SRCDIR
#define U2_BENCH_SRCDIR "."
#endif

enum { G_IMAGE = 0, G_TEXT = 1, G_FUSION = 2, G_N };
static const char *const gname[G_N] = {"image_encoder", "text_encoder", "fusion"};
static const unsigned gbit[G_N] = {U2_ONNX_IMAGE, U2_ONNX_TEXT, U2_ONNX_FUSION};

typedef struct {
    const char *configs, *graphs, *batches, *ort_dir;
    int no_peer;
} fwd_opts;

static int extra(const char *opt, const char *val, void *ctx)
{
    fwd_opts *a = ctx;
    if (!strcmp(opt, "--config") && val) return a->configs = val, 2;
    if (!strcmp(opt, "--graph") && val) return a->graphs = val, 2;
    if (!strcmp(opt, "--batch") && val) return a->batches = val, 2;
    if (!strcmp(opt, "--ort-dir") && val) return a->ort_dir = val, 2;
    if (!strcmp(opt, "--no-peer")) return a->no_peer = 1, 1;
    return 0;
}

static const char usage[] =
    "usage: unimo2-bench forward [--config base,small] [--graph image_encoder,text_encoder,fusion]\n"
    "                            [--batch 1,8] [--threads 1,2] [--json] [--no-peer]\n\n"
    "Native inference throughput against onnxruntime running the graphs `unimo2 export` writes\n"
    "for the same (seeded random) weights, in the same run.  image_encoder: images/s;\n"
    "text_encoder: texts/s at the config's full text length; fusion: pairs/s of the\n"
    "grounding search + grounded transformer + ITM/CMCL heads on encoded inputs.\n"
    "  --config LIST   configs (default base,small)\n"
    "  --graph LIST    graphs (default image_encoder,fusion)\n"
    "  --batch LIST    batch sizes (default 1,8)\n"
    "  --ort-dir DIR   where tests/onnx/install.sh put onnxruntime-node (default: the source\n"
    "                  tree's tests/onnx)\n"
    "  --no-peer       native only\n" BENCH_COMMON_USAGE;

typedef struct {
    u2_fwd *f;
    int g, B, tl;
    const float *px;
    const int32_t *ids, *attn, *pi, *pt;
    float *out;
} run_ctx;

static void run_native(void *p)
{
    run_ctx *r = p;
    if (r->g == G_IMAGE) {
        u2_fwd_reset(r->f);
        u2_infer_encode(r->f, r->px, r->B, NULL, NULL, 0, 2);
        u2_infer_image_embeddings(r->f, r->out);
    } else if (r->g == G_TEXT) {
        u2_fwd_reset(r->f);
        u2_infer_encode(r->f, NULL, 0, r->ids, r->attn, r->B, r->tl);
        u2_infer_text_embeddings(r->f, r->out);
    } else {
        u2_infer_pairs(r->f, r->pi, r->pt, r->B, NULL, NULL, r->out);
    }
}

/* items/s from `node bench.js`, or NAN */
static double run_peer(const char *ort, const char *graph, int B, int T, int reps)
{
    char cmd[16384];
    snprintf(cmd, sizeof cmd,
             "OMP_WAIT_POLICY=PASSIVE node '%s/bench.js' --model '%s' --batch %d --threads %d --reps %d "
             "2>/dev/null", ort, graph, B, T, reps < 5 ? 5 : reps);
    FILE *p = popen(cmd, "r");
    if (!p) return NAN;
    char line[4096];
    double v = NAN;
    while (fgets(line, sizeof line, p)) {
        const char *k = strstr(line, "\"items_per_s\":");
        if (k) v = strtod(k + 14, NULL);
    }
    if (pclose(p) != 0) return NAN;
    return v;
}

static int in_list(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; (p = strstr(p, name)); p += n)
        if ((p == list || p[-1] == ',') && (p[n] == ',' || p[n] == '\0')) return 1;
    return 0;
}

int bench_forward(int argc, char **argv)
{
    bench_opts bo;
    fwd_opts a = {.configs = "base,small", .graphs = "image_encoder,fusion", .batches = "1,8"};
    int pr = bench_parse(argc, argv, &bo, usage, extra, &a);
    if (pr) return pr > 0 ? 0 : 2;
    char ort[4096];
    snprintf(ort, sizeof ort, "%s", a.ort_dir ? a.ort_dir : U2_BENCH_SRCDIR "/tests/onnx");
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/node_modules/onnxruntime-node", ort);
    struct stat st;
    int peer = !a.no_peer && stat(probe, &st) == 0 && system("node --version >/dev/null 2>&1") == 0;
    if (!a.no_peer && !peer && !bo.json)
        fprintf(stderr, "unimo2-bench: no onnxruntime-node in %s (sh tests/onnx/install.sh): native only\n", ort);
    char tmpl[] = "/tmp/unimo2-bench-fwd.XXXXXX";
    char *tmp = peer ? mkdtemp(tmpl) : NULL;
    if (peer && !tmp) peer = 0;
    if (!bo.json)
        printf("%-6s %-14s %5s %3s %12s %14s %8s\n", "config", "graph", "batch", "T", "native/s",
               "onnxruntime/s", "ratio");
    static const char *const cfgs[] = {"tiny", "mini", "small", "base"};
    for (size_t ci = 0; ci < sizeof cfgs / sizeof cfgs[0]; ci++) {
        if (!in_list(a.configs, cfgs[ci])) continue;
        u2_config c;
        u2_config_builtin(cfgs[ci], &c);
        u2_model m;
        if (u2_model_create(&m, &c) != 0) goto fail;
        u2_params_init(&m.L, m.params, 1);
        unsigned want = 0;
        for (int g = 0; g < G_N; g++)
            if (in_list(a.graphs, gname[g])) want |= gbit[g];
        char gdir[4400];
        if (peer) {
            snprintf(gdir, sizeof gdir, "%s/%s", tmp, cfgs[ci]);
            u2_onnx_opts xo;
            u2_onnx_opts_default(&xo);
            xo.graphs = want;
            if (u2_onnx_export(&m, gdir, &xo) != 0) goto fail_model;
        }
        const int S = c.image_size, D = c.hidden, L = c.max_text_len;
        int bmax = 1;
        for (const char *p = a.batches; *p;) {
            int b = (int)strtol(p, (char **)&p, 10);
            if (b > bmax) bmax = b;
            if (*p == ',') p++;
            else if (*p) break;
        }
        float *px = bench_matrix((size_t)bmax * 3 * (size_t)S * (size_t)S, 7);
        int32_t *ids = u2_malloc(sizeof(int32_t) * (size_t)bmax * (size_t)L);
        int32_t *attn = u2_malloc(sizeof(int32_t) * (size_t)bmax * (size_t)L);
        int32_t *pi = u2_malloc(sizeof(int32_t) * (size_t)bmax), *pt = u2_malloc(sizeof(int32_t) * (size_t)bmax);
        for (int i = 0; i < bmax; i++) {
            pi[i] = pt[i] = i;
            for (int j = 0; j < L; j++) {
                ids[i * L + j] = j == 0 ? 0 : j == L - 1 ? 2 : 4 + (i * 7919 + j * 104729) % (c.vocab_size - 6);
                attn[i * L + j] = 1;
            }
        }
        float *out = u2_malloc(sizeof(float) * (size_t)bmax * (size_t)D);
        for (int g = 0; g < G_N; g++) {
            if (!(want & gbit[g])) continue;
            for (const char *p = a.batches; *p;) {
                int B = (int)strtol(p, (char **)&p, 10);
                if (*p == ',') p++;
                for (int ti = 0; ti < bo.nthreads; ti++) {
                    const int T = bo.threads[ti];
                    u2_set_num_threads(T);
                    u2_fwd f;
                    u2_fwd_init(&f, &m, 0);
                    if (g == G_FUSION) u2_infer_encode(&f, px, B, ids, attn, B, L);
                    run_ctx r = {&f, g, B, L, px, ids, attn, pi, pt, out};
                    double sec = bench_time(run_native, &r, bo.reps, 0.2);
                    double ours = B / sec;
                    u2_fwd_free(&f);
                    double theirs = NAN;
                    if (peer) {
                        char gpath[4600];
                        snprintf(gpath, sizeof gpath, "%s/%s.onnx", gdir, gname[g]);
                        theirs = run_peer(ort, gpath, B, T, bo.reps * 4);
                    }
                    if (bo.json) {
                        printf("{\"bench\":\"forward\",\"config\":\"%s\",\"graph\":\"%s\",\"batch\":%d,"
                               "\"threads\":%d,\"items_per_s\":%.3f,\"peer\":%s,\"peer_items_per_s\":",
                               cfgs[ci], gname[g], B, T, ours, peer ? "\"onnxruntime\"" : "null");
                        if (isfinite(theirs)) printf("%.3f", theirs);
                        else printf("null");
                        printf(",\"peak_rss_mb\":%.1f}\n", bench_peak_rss_kib() / 1024.0);
                    } else {
                        printf("%-6s %-14s %5d %3d %12.2f %14.2f %8.2f\n", cfgs[ci], gname[g], B, T, ours,
                               theirs, ours / theirs);
                    }
                    fflush(stdout);
                }
            }
        }
        free(px);
        free(ids);
        free(attn);
        free(pi);
        free(pt);
        free(out);
        u2_model_free(&m);
        continue;
    fail_model:
        u2_model_free(&m);
        goto fail;
    }
    if (tmp) {
        char cmd[4200];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
        if (system(cmd) != 0) fprintf(stderr, "unimo2-bench: could not remove %s\n", tmp);
    }
    return 0;
fail:
    fprintf(stderr, "unimo2-bench: %s\n", u2_errmsg());
    return 1;
}
