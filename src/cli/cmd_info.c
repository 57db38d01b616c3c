/* unimo2 info: what this build and CPU can do, and what a config or model holds. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "cli.h"
#include "dist.h"
#include "kernels.h"
#include "model.h"
#include "unimo2.h"
#include "util.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static void help(void)
{
    printf("usage: unimo2 info [--config NAME|FILE.json] [--model FILE|DIR] [--json]\n"
           "                   [--isa-available ISA]\n\n"
           "Print the kernel set in use, the instruction sets this CPU and build support, and\n"
           "for a config or model: its shape and parameter count per part.\n"
           "  --config NAME|FILE   tiny, mini, small, base, or a JSON config\n"
           "  --model FILE|DIR     a model (.safetensors, a model directory or a checkpoint)\n"
           "  --json               the config as JSON on stdout, nothing else\n"
           "  --isa-available ISA  exit 0 if ISA (scalar|avx2|avx512|neon) can run here, else 1\n"
           "  -h, --help           this text\n");
}

static void print_model(const u2_model *m, const char *what)
{
    const u2_config *c = &m->L.cfg;
    printf("%s: config %s\n", what, c->name);
    printf("  image %dx%d, patch %d (%d patches), hidden %d, heads %d, ffn %d\n", c->image_size,
           c->image_size, c->patch_size, u2_cfg_npatch(c), c->hidden, c->heads, c->ffn);
    printf("  layers: ViT %d, text %d, grounded transformer %d\n", c->vit_layers, c->text_layers,
           c->fusion_layers);
    printf("  vocab %d, text length %d, dictionary %d entries, top-K %d\n", c->vocab_size,
           c->max_text_len, c->dict_size, c->topk);
    printf("  grounding %s, fusion %s\n", u2_grounding_name(c->grounding), u2_fusion_name(c->fusion));
    static const char *const parts[] = {"vit.", "text.", "gd.", "fusion.", "mlm.", "itm.", "cmcl.", "vcl."};
    int64_t total = 0;
    for (size_t p = 0; p < sizeof parts / sizeof parts[0]; p++) {
        int64_t n = 0;
        for (int i = 0; i < m->L.n; i++)
            if (!strncmp(m->L.t[i].name, parts[p], strlen(parts[p]))) n += m->L.t[i].numel;
        if (n) printf("  %-8s %12lld parameters\n", parts[p], (long long)n);
        total += n;
    }
    printf("  %-8s %12lld parameters (%.1f MB as float32)\n", "total", (long long)total,
           (double)total * 4 / 1e6);
    if (m->tokenizer_fp[0]) printf("  tokenizer fingerprint %s\n", m->tokenizer_fp);
}

int cmd_info(int argc, char **argv)
{
    static const struct option opts[] = {
        {"isa-available", required_argument, 0, 'a'},
        {"config", required_argument, 0, 'c'},
        {"model", required_argument, 0, 'm'},
        {"json", no_argument, 0, 'j'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *probe = NULL, *cfgname = NULL, *model = NULL;
    int json = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'a': probe = optarg; break;
        case 'c': cfgname = optarg; break;
        case 'm': model = optarg; break;
        case 'j': json = 1; break;
        case 'h': help(); return 0;
        default: return 2;
        }
    }
    if (probe) {
        int isa = u2_isa_from_name(probe);
        if (isa < 0) {
            u2_fail("--isa-available", "unknown instruction set '%s'", probe);
            return cli_error();
        }
        return u2_kern_isa((u2_isa)isa) ? 0 : 1;
    }
    u2_model m;
    int have = 0;
    if (model) {
        if (u2_model_load(&m, model) != 0) return cli_error();
        have = 1;
    } else if (cfgname) {
        u2_config cfg;
        if (u2_config_load(cfgname, &cfg) != 0 || u2_model_create(&m, &cfg) != 0) return cli_error();
        have = 1;
    }
    if (json) {
        if (!have) {
            fprintf(stderr, "unimo2 info: --json needs --config or --model\n");
            return 2;
        }
        char *s = u2_config_to_json(&m.L.cfg, 0);
        printf("%s\n", s);
        free(s);
        u2_model_free(&m);
        return 0;
    }
    printf("unimo2 %s\n", unimo2_version());
    printf("kernels: %s (threads: %d)\n", u2_kern()->name, u2_num_threads());
    printf("available:");
    for (int i = 0; i < U2_ISA_COUNT; i++)
        if (u2_kern_isa((u2_isa)i)) printf(" %s", u2_isa_name((u2_isa)i));
    printf("\n");
    const char *mpi = u2_dist_library();
    if (mpi) printf("data-parallel: %s (mpirun -np N unimo2 train ...)\n", mpi);
    else printf("data-parallel: no (built without ./configure --with-mpi)\n");
    if (have) {
        print_model(&m, model ? model : cfgname);
        u2_model_free(&m);
    }
    return 0;
}
