/* unimo2 demo: the main job on built-in defaults — generate the synthetic
 * world, learn a tokenizer, train the mini config on the three corpora,
 * evaluate zero-shot, export ONNX, and report. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "cli.h"
#include "eval.h"
#include "fileio.h"
#include "gendata.h"
#include "kernels.h"
#include "progress.h"
#include "tokenizer.h"
#include "train.h"
#include "util.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "model.h"
#include "onnx_export.h"

static void help(void)
{
    printf("usage: unimo2 demo [--out DIR] [--steps N] [--config NAME] [--threads T] [--quick]\n\n"
           "The main job on built-in defaults, with progress throughout:\n"
           "  1. render the synthetic world (unimo2 gen-data): aligned pairs, unpaired images,\n"
           "     unpaired sentences and a held-out evaluation split\n"
           "  2. learn a byte-level BPE tokenizer from the sentences\n"
           "  3. train the mini config on all three corpora (unimo2 train)\n"
           "  4. zero-shot retrieval, classification and a linear probe (unimo2 eval)\n"
           "  5. export the ONNX graphs (unimo2 export)\n"
           "  6. write DIR/report.md and DIR/report.json and print the summary\n\n"
           "  --out DIR      where everything goes (default demo-out)\n"
           "  --steps N      training steps (default 600)\n"
           "  --config NAME  model config (default mini)\n"
           "  --threads T    threads (default all cores)\n"
           "  --quick        a much smaller run (tiny config, small data): a smoke test\n");
}

static int step_banner(int i, int n, const char *what)
{
    fprintf(stderr, "\n== [%d/%d] %s\n", i, n, what);
    return 0;
}

int cmd_demo(int argc, char **argv)
{
    static const struct option opts[] = {
        {"out", required_argument, 0, 'o'},    {"steps", required_argument, 0, 's'},
        {"config", required_argument, 0, 'c'}, {"threads", required_argument, 0, 'T'},
        {"quick", no_argument, 0, 'q'},        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *out = "demo-out", *config = "mini";
    unsigned long long steps = 600;
    int quick = 0, c, v, have_steps = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int rc = 0;
        switch (c) {
        case 'o': out = optarg; break;
        case 's': rc = cli_parse_u64("--steps", optarg, &steps); have_steps = 1; break;
        case 'c': config = optarg; break;
        case 'T': rc = cli_parse_int("--threads", optarg, 1, 1024, &v); u2_set_num_threads(v); break;
        case 'q': quick = 1; break;
        case 'h': help(); return 0;
        default: return 2;
        }
        if (rc) return cli_error();
    }
    if (quick) {
        config = "tiny";
        if (!have_steps) steps = 40;
    }
    const double t0 = u2_now();
    char data[4096], tokdir[4096], run[4096], onnxdir[4096], path[4200];
    snprintf(data, sizeof data, "%s/data", out);
    snprintf(tokdir, sizeof tokdir, "%s/tokenizer", out);
    snprintf(run, sizeof run, "%s/model", out);
    snprintf(onnxdir, sizeof onnxdir, "%s/onnx", out);
    if (u2_mkdir_p(out) != 0) return cli_error();
    fprintf(stderr, "unimo2 demo: config %s, %llu steps, kernels %s, %d threads, output in %s\n", config,
            steps, u2_kern()->name, u2_num_threads(), out);
    const int nsteps = 6;

    step_banner(1, nsteps, "generating the synthetic world");
    u2_gendata_opts g;
    u2_gendata_defaults(&g);
    g.out = data;
    if (quick) {
        g.pairs = 200;
        g.images = 200;
        g.texts = 1000;
        g.eval = 64;
        g.size = 16;
    }
    if (u2_gendata_run(&g) != 0) return cli_error();
    double t_data = u2_now() - t0;

    step_banner(2, nsteps, "learning the tokenizer");
    snprintf(path, sizeof path, "%s/texts.txt", data);
    const char *files[1] = {path};
    u2_tok_train_opts to = {.vocab_size = quick ? 512 : 4096, .min_frequency = 2};
    u2_tok_train_stats ts;
    u2_tokenizer *tok = u2_tok_train(files, 1, &to, &ts);
    if (!tok || u2_tok_save(tok, tokdir) != 0) return cli_error();
    fprintf(stderr, "tokenizer: %d tokens (%d merges) from %lld lines\n", ts.vocab_size, ts.merges,
            (long long)ts.lines);
    u2_tok_free(tok);

    step_banner(3, nsteps, "training");
    u2_train_opts tr;
    u2_train_defaults(&tr);
    tr.config = config;
    tr.data_dir = data;
    tr.out_dir = run;
    tr.tokenizer = tokdir;
    tr.steps = (int64_t)steps;
    tr.ckpt_every = 100;
    tr.optim.lr = 1e-3f;
    if (quick) tr.bp = tr.bt = 8, tr.bi = 4;
    double t_train0 = u2_now();
    int rc = u2_train(&tr);
    if (rc == 1) return cli_error();
    if (rc == 130) return 130;
    double t_train = u2_now() - t_train0;

    step_banner(4, nsteps, "zero-shot evaluation");
    u2_eval_opts eo;
    u2_eval_defaults(&eo);
    eo.model = run;
    eo.data = data;
    eo.exact_limit = quick ? 32 : 100;
    eo.limit = quick ? 64 : 500;
    u2_retrieval_report rr;
    u2_classify_report cr;
    u2_probe_report pr;
    if (u2_eval_retrieval(&eo, &rr) != 0 || u2_eval_classify(&eo, &cr) != 0 ||
        u2_eval_probe(&eo, &pr) != 0)
        return cli_error();

    step_banner(5, nsteps, "exporting ONNX");
    int exported = 0;
    {
        u2_model mm;
        if (u2_model_load(&mm, run) != 0) return cli_error();
        u2_onnx_opts xo;
        u2_onnx_opts_default(&xo);
        xo.verbose = 1;
        int xrc = u2_onnx_export(&mm, onnxdir, &xo);
        u2_model_free(&mm);
        if (xrc != 0) return cli_error();
        exported = 1;
    }

    step_banner(6, nsteps, "report");
    const double total = u2_now() - t0;
    snprintf(path, sizeof path, "%s/report.md", out);
    u2_afile *a = u2_atomic_open(path);
    if (!a) return cli_error();
    u2_atomic_printf(a, "# unimo2 demo report\n\n"
                        "Config `%s`, %llu training steps, kernels %s, %d threads; %.0f s in all "
                        "(data %.0f s, training %.0f s).\n\n",
                     config, steps, u2_kern()->name, u2_num_threads(), total, t_data, t_train);
    u2_atomic_printf(a, "Loss curves: `%s/loss.svg`; log: `%s/train.csv`; model: `%s/`.\n\n", run, run, run);
    u2_atomic_printf(a, "## Zero-shot retrieval on the held-out split\n\n"
                        "| method | n | i2t R@1 | R@5 | R@10 | t2i R@1 | R@5 | R@10 | time |\n"
                        "|---|---|---|---|---|---|---|---|---|\n");
    const u2_retrieval *rs[3] = {&rr.exact, &rr.shortlist, &rr.cmcl};
    const char *names[3] = {"exact ITM + 0.3 CMCL, all pairs", "CMCL shortlist + ITM re-rank",
                            "CMCL cosine only"};
    for (int i = 0; i < 3; i++)
        u2_atomic_printf(a, "| %s | %d | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f s |\n", names[i],
                         rs[i]->n, 100 * rs[i]->i2t[0], 100 * rs[i]->i2t[1], 100 * rs[i]->i2t[2],
                         100 * rs[i]->t2i[0], 100 * rs[i]->t2i[1], 100 * rs[i]->t2i[2], rs[i]->seconds);
    u2_atomic_printf(a, "\nChance R@1: %.1f%% (n = %d), %.1f%% (n = %d).\n\n", 100.0 / rr.exact.n,
                     rr.exact.n, 100.0 / rr.cmcl.n, rr.cmcl.n);
    u2_atomic_printf(a, "## Zero-shot classification\n\n%d images, %d labels, prompt \"%s\": "
                        "accuracy %.1f%% (cosine only %.1f%%; chance %.1f%%).\n\n",
                     cr.n, cr.nlabels, cr.prompt, 100 * cr.acc, 100 * cr.acc_cmcl, 100 * cr.chance);
    u2_atomic_printf(a, "## Linear probe\n\n%d train / %d test images, %d labels: accuracy %.1f%% "
                        "(chance %.1f%%).\n\n", pr.ntrain, pr.ntest, pr.nlabels, 100 * pr.acc,
                     100 * pr.chance);
    if (exported)
        u2_atomic_printf(a, "## ONNX\n\n`%s/image_encoder.onnx`, `text_encoder.onnx`, `fusion.onnx`, "
                            "`unimo2.onnx`.\n", onnxdir);
    if (u2_atomic_commit(a) != 0) return cli_error();
    snprintf(path, sizeof path, "%s/report.json", out);
    a = u2_atomic_open(path);
    if (!a) return cli_error();
    u2_atomic_printf(a, "{\"config\":\"%s\",\"steps\":%llu,\"seconds\":%.1f,\"train_seconds\":%.1f,"
                        "\"retrieval\":{\"exact\":{\"n\":%d,\"i2t_r1\":%.4f,\"t2i_r1\":%.4f},"
                        "\"shortlist\":{\"n\":%d,\"i2t_r1\":%.4f,\"t2i_r1\":%.4f},"
                        "\"cmcl\":{\"n\":%d,\"i2t_r1\":%.4f,\"t2i_r1\":%.4f}},"
                        "\"classify\":{\"accuracy\":%.4f,\"chance\":%.4f},\"probe\":{\"accuracy\":%.4f}}\n",
                     config, steps, total, t_train, rr.exact.n, rr.exact.i2t[0], rr.exact.t2i[0],
                     rr.shortlist.n, rr.shortlist.i2t[0], rr.shortlist.t2i[0], rr.cmcl.n,
                     rr.cmcl.i2t[0], rr.cmcl.t2i[0], cr.acc, cr.chance, pr.acc);
    if (u2_atomic_commit(a) != 0) return cli_error();

    printf("\nunimo2 demo finished in %.0f s (training %.0f s)\n\n", total, t_train);
    printf("zero-shot retrieval, held-out split (R@1 / R@5 / R@10, %%):\n");
    for (int i = 0; i < 3; i++)
        printf("  %-34s n=%-4d image->text %5.1f %5.1f %5.1f   text->image %5.1f %5.1f %5.1f  (%.1f s)\n",
               names[i], rs[i]->n, 100 * rs[i]->i2t[0], 100 * rs[i]->i2t[1], 100 * rs[i]->i2t[2],
               100 * rs[i]->t2i[0], 100 * rs[i]->t2i[1], 100 * rs[i]->t2i[2], rs[i]->seconds);
    printf("  chance R@1: %.1f%% (n=%d)\n", 100.0 / rr.exact.n, rr.exact.n);
    printf("zero-shot classification: %.1f%% over %d labels (chance %.1f%%)\n", 100 * cr.acc,
           cr.nlabels, 100 * cr.chance);
    printf("linear probe: %.1f%% (chance %.1f%%)\n\n", 100 * pr.acc, 100 * pr.chance);
    printf("loss curves  %s/loss.svg\nmodel        %s/\nreport       %s/report.md\n", run, run, out);
    if (exported) printf("ONNX         %s/{image_encoder,text_encoder,fusion,unimo2}.onnx\n", onnxdir);
    return 0;
}
