/* unimo2 init: write a seeded random model. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "cli.h"
#include "model.h"
#include "util.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static void help(void)
{
    printf("usage: unimo2 init --config NAME|FILE.json [--seed S] --out MODEL.safetensors\n\n"
           "Write a model with the initialisation of doc/model.md, drawn from a seed.\n"
           "  --config NAME|FILE  tiny, mini, small, base, or a JSON config\n"
           "  --seed S            random seed (default 1)\n"
           "  --out FILE          the .safetensors file to write (atomically)\n"
           "  -h, --help          this text\n");
}

int cmd_init(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, 0, 'c'}, {"seed", required_argument, 0, 's'},
        {"out", required_argument, 0, 'o'},    {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *cfgname = NULL, *out = NULL;
    unsigned long long seed = 1;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': cfgname = optarg; break;
        case 'o': out = optarg; break;
        case 's':
            if (cli_parse_u64("--seed", optarg, &seed)) return cli_error();
            break;
        case 'h': help(); return 0;
        default: return 2;
        }
    }
    if (!cfgname || !out) {
        fprintf(stderr, "unimo2 init: --config and --out are required (unimo2 init --help)\n");
        return 2;
    }
    u2_config cfg;
    if (u2_config_load(cfgname, &cfg) != 0) return cli_error();
    u2_model m;
    if (u2_model_create(&m, &cfg) != 0) return cli_error();
    u2_params_init(&m.L, m.params, seed);
    int rc = u2_model_save(&m, out);
    if (rc == 0)
        fprintf(stderr, "wrote %s: config %s, %lld parameters, seed %llu\n", out, cfg.name,
                (long long)u2_model_count(&m), seed);
    u2_model_free(&m);
    return rc ? cli_error() : 0;
}
