/* unimo2 eval: zero-shot retrieval, classification and a linear probe. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "cli.h"
#include "eval.h"
#include "kernels.h"
#include "progress.h"
#include "util.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static void help(void)
{
    printf("usage: unimo2 eval retrieval|classify|probe|mlm|all --model DIR --data DIR [options]\n\n"
           "Zero-shot evaluation on a data directory's held-out split (SPEC §3):\n"
           "  retrieval  R@1/5/10 image->text and text->image on eval.jsonl: the exact score\n"
           "             (ITM logit + 0.3 cosine) over every pair of the first --exact pairs, and\n"
           "             the CMCL shortlist of K re-ranked by the exact score over all pairs\n"
           "  classify   labels.txt as prompts (dataset.json's classify_prompt, default\n"
           "             \"a photo of a {label}\") against eval_labels.jsonl's images\n"
           "  probe      logistic regression on frozen image embeddings (even/odd split)\n"
           "  mlm        masked-token accuracy on the held-out captions with their images\n\n"
           "  --model DIR      a trained model directory\n"
           "  --data DIR       the data directory (unimo2 gen-data)\n"
           "  --limit N        use at most N evaluation items (default all)\n"
           "  --exact N        pairs for the exact all-pairs score (default 100; 0 = all)\n"
           "  --shortlist K    CMCL shortlist size (default 16)\n"
           "  --threads T      threads\n"
           "  --json           one JSON object per result on stdout\n");
}

static void put_ret(const char *name, const u2_retrieval *r, int json, int k)
{
    if (json) {
        printf("{\"eval\":\"retrieval\",\"method\":\"%s\",\"n\":%d,", name, r->n);
        if (k) printf("\"k\":%d,", k);
        printf("\"i2t_r1\":%.4f,\"i2t_r5\":%.4f,\"i2t_r10\":%.4f,\"t2i_r1\":%.4f,\"t2i_r5\":%.4f,"
               "\"t2i_r10\":%.4f,\"seconds\":%.3f}\n", r->i2t[0], r->i2t[1], r->i2t[2], r->t2i[0],
               r->t2i[1], r->t2i[2], r->seconds);
    }
    else
        printf("  %-22s n=%-5d i2t R@1 %5.1f  R@5 %5.1f  R@10 %5.1f | t2i R@1 %5.1f  R@5 %5.1f  R@10 %5.1f"
               "  (%.1f s; chance R@1 %.1f)\n",
               name, r->n, 100 * r->i2t[0], 100 * r->i2t[1], 100 * r->i2t[2], 100 * r->t2i[0],
               100 * r->t2i[1], 100 * r->t2i[2], r->seconds, 100.0 / (r->n ? r->n : 1));
}

int cmd_eval(int argc, char **argv)
{
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"data", required_argument, 0, 'd'},
        {"limit", required_argument, 0, 'l'}, {"exact", required_argument, 0, 'e'},
        {"shortlist", required_argument, 0, 'k'}, {"threads", required_argument, 0, 'T'},
        {"json", no_argument, 0, 'j'},        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    u2_eval_opts o;
    u2_eval_defaults(&o);
    int json = 0, c, v;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int rc = 0;
        switch (c) {
        case 'm': o.model = optarg; break;
        case 'd': o.data = optarg; break;
        case 'l': rc = cli_parse_int("--limit", optarg, 0, 1 << 30, &o.limit); break;
        case 'e': rc = cli_parse_int("--exact", optarg, 0, 1 << 30, &o.exact_limit); break;
        case 'k': rc = cli_parse_int("--shortlist", optarg, 1, 1 << 20, &o.shortlist); break;
        case 'T': rc = cli_parse_int("--threads", optarg, 1, 1024, &v); u2_set_num_threads(v); break;
        case 'j': json = 1; break;
        case 'h': help(); return 0;
        default: return 2;
        }
        if (rc) return cli_error();
    }
    const char *what = optind < argc ? argv[optind] : NULL;
    if (!what || !o.model || !o.data) {
        fprintf(stderr, "unimo2 eval: give retrieval, classify, probe or all, --model and --data "
                        "(unimo2 eval --help)\n");
        return 2;
    }
    int all = !strcmp(what, "all");
    if (!all && strcmp(what, "retrieval") && strcmp(what, "classify") && strcmp(what, "probe") &&
        strcmp(what, "mlm")) {
        fprintf(stderr, "unimo2 eval: unknown evaluation '%s' (retrieval, classify, probe, mlm, all)\n",
                what);
        return 2;
    }
    if (json) u2_progress_set_quiet(1);
    if (all || !strcmp(what, "retrieval")) {
        u2_retrieval_report r;
        if (u2_eval_retrieval(&o, &r) != 0) return cli_error();
        if (!json) printf("zero-shot retrieval (%s):\n", o.data);
        put_ret("exact (all pairs)", &r.exact, json, 0);
        put_ret("CMCL shortlist+ITM", &r.shortlist, json, r.k);
        put_ret("CMCL cosine only", &r.cmcl, json, 0);
    }
    if (all || !strcmp(what, "classify")) {
        u2_classify_report r;
        if (u2_eval_classify(&o, &r) != 0) return cli_error();
        if (json)
            printf("{\"eval\":\"classify\",\"n\":%d,\"labels\":%d,\"accuracy\":%.4f,\"accuracy_cmcl\":%.4f,"
                   "\"chance\":%.4f,\"seconds\":%.3f}\n", r.n, r.nlabels, r.acc, r.acc_cmcl, r.chance, r.seconds);
        else
            printf("zero-shot classification: %d images, %d labels, prompt \"%s\": accuracy %.1f%% "
                   "(cosine only %.1f%%, chance %.1f%%; %.1f s)\n", r.n, r.nlabels, r.prompt,
                   100 * r.acc, 100 * r.acc_cmcl, 100 * r.chance, r.seconds);
    }
    if (all || !strcmp(what, "mlm")) {
        u2_mlm_report r;
        if (u2_eval_mlm(&o, &r) != 0) return cli_error();
        if (json)
            printf("{\"eval\":\"mlm\",\"masked\":%d,\"accuracy\":%.4f,\"seconds\":%.3f}\n", r.n_masked,
                   r.acc, r.seconds);
        else
            printf("masked-token accuracy on held-out captions: %.1f%% of %d tokens (%.1f s)\n",
                   100 * r.acc, r.n_masked, r.seconds);
    }
    if (all || !strcmp(what, "probe")) {
        u2_probe_report r;
        if (u2_eval_probe(&o, &r) != 0) return cli_error();
        if (json)
            printf("{\"eval\":\"probe\",\"train\":%d,\"test\":%d,\"labels\":%d,\"accuracy\":%.4f,"
                   "\"chance\":%.4f,\"seconds\":%.3f}\n", r.ntrain, r.ntest, r.nlabels, r.acc, r.chance, r.seconds);
        else
            printf("linear probe on frozen image features: %d train / %d test, %d labels: accuracy "
                   "%.1f%% (chance %.1f%%; %.1f s)\n", r.ntrain, r.ntest, r.nlabels, 100 * r.acc,
                   100 * r.chance, r.seconds);
    }
    return 0;
}
