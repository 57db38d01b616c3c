/* unimo2-bench ablation: the paper's Table 4 on our synthetic world.  The
 * same data, tokenizer, seed and training budget for each switch; each model
 * evaluated for zero-shot retrieval (R@1), classification and masked-token
 * accuracy.  Long: an explicit target, never part of make check. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "bench.h"
#include "eval.h"
#include "fileio.h"
#include "gendata.h"
#include "plot.h"
#include "progress.h"
#include "tokenizer.h"
#include "train.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct {
    const char *name, *key;
    const char *grounding, *fusion;
    int texts, images;
} variant;

static const variant variants[] = {
    {"UNIMO-2 (full)", "full", NULL, NULL, 1, 1},
    {"w/o G.D. (no dictionary)", "no_gd", "none", "grounded", 1, 1},
    {"1-to-1 map (nearest entry)", "nearest", "nearest", NULL, 1, 1},
    {"w/o G.T. (full attention, no dictionary)", "no_gt", "none", "full", 1, 1},
    {"w/o text corpus", "no_text", NULL, NULL, 0, 1},
    {"w/o image corpus", "no_image", NULL, NULL, 1, 0},
    {"w/o both", "no_both", NULL, NULL, 0, 0},
};
#define NV (int)(sizeof variants / sizeof variants[0])

typedef struct {
    const char *out, *config, *only;
    long steps;
} abl_opts;

static int extra(const char *opt, const char *val, void *ctx)
{
    abl_opts *a = ctx;
    if (!strcmp(opt, "--out") && val) return a->out = val, 2;
    if (!strcmp(opt, "--config") && val) return a->config = val, 2;
    if (!strcmp(opt, "--only") && val) return a->only = val, 2;
    if (!strcmp(opt, "--steps") && val) {
        a->steps = strtol(val, NULL, 10);
        return 2;
    }
    return 0;
}

static const char usage[] =
    "usage: unimo2-bench ablation [--steps N] [--config NAME] [--out DIR] [--only KEY,...] [--json]\n\n"
    "Train the same budget with each ablation switch and print the paper's Table 4 layout:\n"
    "zero-shot retrieval R@1 (exact, and CMCL cosine), classification accuracy and masked-\n"
    "token accuracy; DIR/ablation.svg charts it (--json: one line per variant).\n"
    "Variants (keys): full, no_gd, nearest, no_gt, no_text, no_image, no_both.\n"
    "  --steps N       training steps per variant (default 300)\n"
    "  --config NAME   model config (default mini)\n"
    "  --out DIR       work directory (default ablation-out)\n"
    "  --only KEYS     run only these variants\n" BENCH_COMMON_USAGE;

int bench_ablation(int argc, char **argv)
{
    bench_opts bo;
    abl_opts a = {.out = "ablation-out", .config = "mini", .steps = 300};
    int pr = bench_parse(argc, argv, &bo, usage, extra, &a);
    if (pr) return pr > 0 ? 0 : 2;
    if (bo.nthreads) u2_set_num_threads(bo.threads[bo.nthreads - 1]);
    char data[4096], tok[4096], path[8400];
    snprintf(data, sizeof data, "%s/data", a.out);
    snprintf(tok, sizeof tok, "%s/tokenizer", a.out);
    if (u2_mkdir_p(a.out) != 0) goto fail;
    snprintf(path, sizeof path, "%s/dataset.json", data);
    struct stat st;
    if (stat(path, &st) != 0) {
        u2_gendata_opts g;
        u2_gendata_defaults(&g);
        g.out = data;
        if (u2_gendata_run(&g) != 0) goto fail;
    }
    snprintf(path, sizeof path, "%s/vocab.json", tok);
    if (stat(path, &st) != 0) {
        snprintf(path, sizeof path, "%s/texts.txt", data);
        const char *files[1] = {path};
        u2_tok_train_opts to = {.vocab_size = 4096, .min_frequency = 2};
        u2_tokenizer *t = u2_tok_train(files, 1, &to, NULL);
        if (!t || u2_tok_save(t, tok) != 0) goto fail;
        u2_tok_free(t);
    }
    double res[NV][4];
    int ran[NV] = {0};
    for (int v = 0; v < NV; v++) {
        const variant *va = &variants[v];
        for (int k = 0; k < 4; k++) res[v][k] = NAN;
        if (a.only && !strstr(a.only, va->key)) continue;
        char run[4300];
        snprintf(run, sizeof run, "%s/%s", a.out, va->key);
        fprintf(stderr, "\n== ablation %d/%d: %s\n", v + 1, NV, va->name);
        u2_train_opts o;
        u2_train_defaults(&o);
        o.config = a.config;
        o.data_dir = data;
        o.out_dir = run;
        o.tokenizer = tok;
        o.steps = a.steps;
        o.ckpt_every = 0;
        o.optim.lr = 1e-3f;
        o.grounding = va->grounding;
        o.fusion = va->fusion;
        o.use_texts = va->texts;
        o.use_images = va->images;
        o.quiet = bo.json;
        /* a fresh run each time (no resume from an earlier budget) */
        snprintf(path, sizeof path, "%s/checkpoint.safetensors", run);
        remove(path);
        if (u2_train(&o) != 0) goto fail;
        u2_eval_opts eo;
        u2_eval_defaults(&eo);
        eo.model = run;
        eo.data = data;
        eo.exact_limit = 100;
        eo.limit = 500;
        eo.quiet = 1;
        u2_retrieval_report rr;
        u2_classify_report cr;
        u2_mlm_report mr;
        if (u2_eval_retrieval(&eo, &rr) != 0 || u2_eval_classify(&eo, &cr) != 0 ||
            u2_eval_mlm(&eo, &mr) != 0)
            goto fail;
        res[v][0] = 50 * (rr.exact.i2t[0] + rr.exact.t2i[0]);
        res[v][1] = 50 * (rr.cmcl.i2t[0] + rr.cmcl.t2i[0]);
        res[v][2] = 100 * cr.acc;
        res[v][3] = 100 * mr.acc;
        ran[v] = 1;
        if (bo.json)
            printf("{\"bench\":\"ablation\",\"variant\":\"%s\",\"config\":\"%s\",\"steps\":%ld,"
                   "\"retrieval_r1_exact\":%.2f,\"retrieval_r1_cmcl\":%.2f,\"classify_acc\":%.2f,"
                   "\"mlm_acc\":%.2f}\n", va->key, a.config, a.steps, res[v][0], res[v][1], res[v][2],
                   res[v][3]);
        fflush(stdout);
    }
    if (!bo.json) {
        printf("\nAblation (config %s, %ld steps each; mean of image->text and text->image R@1, %%)\n\n",
               a.config, a.steps);
        printf("| %-42s | R@1 exact | R@1 CMCL | classify | MLM acc |\n", "model");
        printf("|%.44s|-----------|----------|----------|---------|\n",
               "--------------------------------------------");
        for (int v = 0; v < NV; v++)
            if (ran[v])
                printf("| %-42s | %9.1f | %8.1f | %8.1f | %7.1f |\n", variants[v].name, res[v][0],
                       res[v][1], res[v][2], res[v][3]);
    }
    const char *groups[NV], *bars[4] = {"R@1 exact", "R@1 CMCL", "classification", "MLM accuracy"};
    double vals[NV * 4];
    int ng = 0;
    for (int v = 0; v < NV; v++) {
        if (!ran[v]) continue;
        groups[ng] = variants[v].key;
        for (int k = 0; k < 4; k++) vals[ng * 4 + k] = res[v][k];
        ng++;
    }
    snprintf(path, sizeof path, "%s/ablation.svg", a.out);
    if (ng && u2_plot_bars(path, "unimo2 ablations (zero-shot, %)", groups, ng, bars, 4, vals, "%") != 0)
        goto fail;
    if (!bo.json) printf("\nchart: %s\n", path);
    return 0;
fail:
    fprintf(stderr, "unimo2-bench: %s\n", u2_errmsg());
    return 1;
}
