/* unimo2 gen-data: render the procedural shapes world into a data set. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "cli.h"
#include "gendata.h"
#include "image.h"
#include "progress.h"
#include "util.h"

#include <getopt.h>
#include <stdio.h>

static void help(void)
{
    printf("usage: unimo2 gen-data --out DIR [--seed S] [--pairs N] [--images N] [--texts N]\n"
           "                       [--eval N] [--size PX] [--quality Q | --lossless]\n"
           "                       [--threads T] [--quiet]\n\n"
           "Render a synthetic world of coloured shapes (circle, square, triangle, star,\n"
           "cross, ring, diamond, hexagon) with captions, in the data layout that train\n"
           "and eval read (doc/data.md).  The same seed gives the same bytes, whatever\n"
           "the thread count.\n\n"
           "  --out DIR      output folder (created; files in it are replaced)\n"
           "  --seed S       random seed (default 1)\n"
           "  --pairs N      aligned image-caption pairs, pairs.jsonl (default 2000)\n"
           "  --images N     unpaired images, images.jsonl (default 8000)\n"
           "  --texts N      unpaired sentences, texts.txt (default 20000)\n"
           "  --eval N       held-out pairs, eval.jsonl + eval_labels.jsonl (default 500)\n"
           "  --size PX      image side in pixels (default 64)\n"
           "  --quality Q    WebP lossy quality 0..100 (default 90)\n"
           "  --lossless     WebP lossless instead\n"
           "  --threads T    threads (default UNIMO2_THREADS or all cores)\n"
           "  --quiet        no progress line\n"
           "  -h, --help     this text\n");
}

int cmd_gen_data(int argc, char **argv)
{
    enum { O_SEED = 256, O_PAIRS, O_IMAGES, O_TEXTS, O_EVAL, O_SIZE, O_QUALITY, O_LOSSLESS,
           O_THREADS, O_QUIET };
    static const struct option opts[] = {
        {"out", required_argument, 0, 'o'},      {"seed", required_argument, 0, O_SEED},
        {"pairs", required_argument, 0, O_PAIRS}, {"images", required_argument, 0, O_IMAGES},
        {"texts", required_argument, 0, O_TEXTS}, {"eval", required_argument, 0, O_EVAL},
        {"size", required_argument, 0, O_SIZE},   {"quality", required_argument, 0, O_QUALITY},
        {"lossless", no_argument, 0, O_LOSSLESS}, {"threads", required_argument, 0, O_THREADS},
        {"quiet", no_argument, 0, O_QUIET},       {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    u2_gendata_opts o;
    u2_gendata_defaults(&o);
    const long big = 100000000L; /* a sanity bound on counts */
    unsigned long long seed = 0;
    int v = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        int rc = 0;
        switch (c) {
        case 'o': o.out = optarg; break;
        case O_SEED:
            rc = cli_parse_u64("--seed", optarg, &seed);
            o.seed = seed;
            break;
        case O_PAIRS: rc = cli_parse_int("--pairs", optarg, 0, big, &v); o.pairs = v; break;
        case O_IMAGES: rc = cli_parse_int("--images", optarg, 0, big, &v); o.images = v; break;
        case O_TEXTS: rc = cli_parse_int("--texts", optarg, 0, big, &v); o.texts = v; break;
        case O_EVAL: rc = cli_parse_int("--eval", optarg, 0, big, &v); o.eval = v; break;
        case O_SIZE: rc = cli_parse_int("--size", optarg, 8, 4096, &v); o.size = v; break;
        case O_QUALITY: rc = cli_parse_int("--quality", optarg, 0, 100, &v); o.quality = v; break;
        case O_LOSSLESS: o.quality = U2_WEBP_LOSSLESS; break;
        case O_THREADS: rc = cli_parse_int("--threads", optarg, 1, 1024, &v); o.threads = v; break;
        case O_QUIET: u2_progress_set_quiet(1); break;
        case 'h': help(); return 0;
        default: return 2;
        }
        if (rc) return cli_error();
    }
    if (optind < argc) {
        u2_fail("gen-data", "unexpected argument '%s'", argv[optind]);
        return cli_error();
    }
    if (!o.out) {
        u2_fail("gen-data", "--out DIR is required (unimo2 gen-data --help)");
        return cli_error();
    }
    if (u2_gendata_run(&o)) return cli_error();
    fprintf(stderr, "gen-data: wrote %lld pairs, %lld images, %lld texts, %lld eval pairs to %s\n",
            (long long)o.pairs, (long long)o.images, (long long)o.texts, (long long)o.eval, o.out);
    return 0;
}
