/* unimo2 export: write the model as ONNX graphs (doc/onnx.md). */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "cli.h"
#include "model.h"
#include "onnx_export.h"
#include "util.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static void help(void)
{
    printf("usage: unimo2 export --model FILE|DIR --out DIR [--graphs LIST]\n"
           "                     [--external-threshold BYTES] [--quiet]\n\n"
           "Write the model as ONNX graphs (opset %d, IR version %d; doc/onnx.md):\n"
           "  image_encoder.onnx  pixels -> visual_tokens, image_embedding\n"
           "  text_encoder.onnx   input_ids, attention_mask -> text_tokens, text_embedding\n"
           "  fusion.onnx         visual_tokens, text_tokens, attention_mask -> itm_logits,\n"
           "                      cmcl_score, score, grounded_indices\n"
           "  unimo2.onnx         pixels, input_ids, attention_mask -> all of the above\n"
           "Each file is written atomically (a temp file, then rename).\n\n"
           "  --model FILE|DIR    a .safetensors model or a model directory\n"
           "  --out DIR           where the graphs go (created if missing)\n"
           "  --graphs LIST       comma-separated: image_encoder, text_encoder, fusion,\n"
           "                      unimo2 (or image, text, e2e), all (default)\n"
           "  --external-threshold BYTES\n"
           "                      store the weights of a graph whose initializers exceed\n"
           "                      BYTES in <graph>.onnx.data (ONNX external data); default\n"
           "                      %lld (protobuf's 2 GiB limit less 16 MiB); -1: never\n"
           "  --quiet             no progress lines\n"
           "  -h, --help          this text\n",
           U2_ONNX_OPSET, U2_ONNX_IR_VERSION, (long long)U2_ONNX_EXTERNAL_DEFAULT);
}

int cmd_export(int argc, char **argv)
{
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},
        {"out", required_argument, 0, 'o'},
        {"graphs", required_argument, 0, 'g'},
        {"external-threshold", required_argument, 0, 'x'},
        {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *model = NULL, *out = NULL;
    u2_onnx_opts o;
    u2_onnx_opts_default(&o);
    o.verbose = 1;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'o': out = optarg; break;
        case 'g':
            if (u2_onnx_parse_graphs(optarg, "--graphs", &o.graphs) != 0) return cli_error();
            break;
        case 'x':
            if (!strcmp(optarg, "-1")) {
                o.external_threshold = -1;
            } else {
                unsigned long long v;
                if (cli_parse_u64("--external-threshold", optarg, &v) != 0) return cli_error();
                o.external_threshold = v > (unsigned long long)INT64_MAX ? INT64_MAX : (int64_t)v;
            }
            break;
        case 'q': o.verbose = 0; break;
        case 'h': help(); return 0;
        default: return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "unimo2 export: unexpected argument '%s' (unimo2 export --help)\n",
                argv[optind]);
        return 2;
    }
    if (!model || !out) {
        fprintf(stderr, "unimo2 export: --model and --out are required (unimo2 export --help)\n");
        return 2;
    }
    u2_model m;
    if (u2_model_load(&m, model) != 0) return cli_error();
    if (u2_onnx_supported(&m.L.cfg, model) != 0) {
        u2_model_free(&m);
        return cli_error();
    }
    if (o.verbose)
        fprintf(stderr, "export: %s: config %s, %lld parameters -> %s\n", model, m.L.cfg.name,
                (long long)u2_model_count(&m), out);
    int rc = u2_onnx_export(&m, out, &o);
    u2_model_free(&m);
    return rc ? cli_error() : 0;
}
