/* unimo2 embed and unimo2 score: the inference commands of SPEC §6. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "cli.h"
#include "unimo2.h"
#include "util.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    const char *model;
    const char **images, **texts;
    int ni, nt, json, shortlist;
} inputs;

/* --model, repeated --image/--text, --json (and --shortlist for score). */
static int parse(int argc, char **argv, inputs *in, void (*help)(void))
{
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"image", required_argument, 0, 'i'},
        {"text", required_argument, 0, 't'},  {"json", no_argument, 0, 'j'},
        {"shortlist", required_argument, 0, 's'}, {"threads", required_argument, 0, 'T'},
        {"help", no_argument, 0, 'h'},        {0, 0, 0, 0},
    };
    memset(in, 0, sizeof *in);
    in->images = u2_calloc((size_t)argc, sizeof(char *));
    in->texts = u2_calloc((size_t)argc, sizeof(char *));
    int c, v;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': in->model = optarg; break;
        case 'i': in->images[in->ni++] = optarg; break;
        case 't': in->texts[in->nt++] = optarg; break;
        case 'j': in->json = 1; break;
        case 's':
            if (cli_parse_int("--shortlist", optarg, 0, 1 << 20, &in->shortlist)) return cli_error();
            break;
        case 'T':
            if (cli_parse_int("--threads", optarg, 1, 1024, &v)) return cli_error();
            unimo2_set_threads(v);
            break;
        case 'h': help(); return -1;
        default: return 2;
        }
    }
    for (; optind < argc; optind++) { /* bare arguments: .webp files are images, others texts */
        size_t l = strlen(argv[optind]);
        if (l > 5 && !strcmp(argv[optind] + l - 5, ".webp")) in->images[in->ni++] = argv[optind];
        else in->texts[in->nt++] = argv[optind];
    }
    if (!in->model) {
        fprintf(stderr, "unimo2: --model is required (unimo2 %s --help)\n", argv[0]);
        return 2;
    }
    return 0;
}

/* JSON string escaping for paths and texts. */
static void put_json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') printf("\\%c", ch);
        else if (ch < 0x20) printf("\\u%04x", ch);
        else putchar(ch);
    }
    putchar('"');
}

static void put_vector(const float *v, int D, int json)
{
    for (int d = 0; d < D; d++) printf(json ? "%s%.7g" : "%s%.6g", d ? (json ? "," : " ") : "", v[d]);
}

/* One line per input: "KIND NAME v1 v2 ..." or {"KIND": NAME, "embedding": [...]} */
static void put_embeddings(const char *kind, const char **names, int n, const float *e, int D,
                           int json)
{
    for (int i = 0; i < n; i++) {
        if (json) {
            printf("{\"%s\":", kind);
            put_json_string(names[i]);
            printf(",\"embedding\":[");
        } else {
            printf("%s %s ", kind, names[i]);
        }
        put_vector(e + (size_t)i * D, D, json);
        printf(json ? "]}\n" : "\n");
    }
}

static void embed_help(void)
{
    printf("usage: unimo2 embed --model FILE|DIR (--image F.webp ... | --text \"...\" ...) [--json]\n\n"
           "Print the L2-normalised embedding of each image (ViT [CLS]) and text (text-encoder\n"
           "[CLS]): one line each, \"image PATH v1 v2 ...\" / \"text TEXT v1 ...\" or, with --json,\n"
           "one JSON object per line.\n"
           "  --model FILE|DIR   a model directory (with its tokenizer) or .safetensors file\n"
           "  --image F.webp     an image (repeatable; bare *.webp arguments count too)\n"
           "  --text \"...\"       a text (repeatable; other bare arguments count too)\n"
           "  --threads T        threads\n"
           "  --json             machine-readable output\n");
}

int cmd_embed(int argc, char **argv)
{
    inputs in;
    int rc = parse(argc, argv, &in, embed_help);
    if (rc) {
        free(in.images);
        free(in.texts);
        return rc < 0 ? 0 : rc;
    }
    if (!in.ni && !in.nt) {
        fprintf(stderr, "unimo2: embed: give at least one --image or --text\n");
        free(in.images);
        free(in.texts);
        return 2;
    }
    unimo2_model *m = unimo2_load(in.model);
    if (!m) {
        free(in.images);
        free(in.texts);
        return cli_error();
    }
    const int D = unimo2_dim(m);
    float *e = u2_malloc(sizeof(float) * (size_t)D * (size_t)(in.ni > in.nt ? in.ni : in.nt));
    rc = 0;
    if (in.ni) {
        if (unimo2_embed_images(m, in.images, in.ni, e) != 0) rc = cli_error();
        else put_embeddings("image", in.images, in.ni, e, D, in.json);
    }
    if (!rc && in.nt) {
        int tr = unimo2_embed_texts(m, in.texts, in.nt, e);
        if (tr < 0) rc = cli_error();
        else if (tr > 0)
            fprintf(stderr, "unimo2: warning: %d text(s) longer than the model's %s were truncated\n",
                    tr, "text length");
        if (!rc) put_embeddings("text", in.texts, in.nt, e, D, in.json);
    }
    free(e);
    unimo2_free(m);
    free(in.images);
    free(in.texts);
    return rc;
}

static void score_help(void)
{
    printf("usage: unimo2 score --model FILE|DIR --image F.webp ... --text \"...\" ... [--json]\n"
           "                    [--shortlist K]\n\n"
           "Score every image against every text through the grounded transformer:\n"
           "score = ITM logit (matched class) + 0.3 x CMCL cosine (SPEC §3).  One line per pair:\n"
           "\"IMAGE<TAB>TEXT<TAB>score itm_logit cmcl\", or one JSON object with --json.\n"
           "  --shortlist K   re-score only each image's K best texts by cosine (faster)\n"
           "  --threads T     threads\n");
}

int cmd_score(int argc, char **argv)
{
    inputs in;
    int rc = parse(argc, argv, &in, score_help);
    if (rc) {
        free(in.images);
        free(in.texts);
        return rc < 0 ? 0 : rc;
    }
    if (!in.ni || !in.nt) {
        fprintf(stderr, "unimo2: score: give at least one --image and one --text\n");
        free(in.images);
        free(in.texts);
        return 2;
    }
    unimo2_model *m = unimo2_load(in.model);
    if (!m) {
        free(in.images);
        free(in.texts);
        return cli_error();
    }
    rc = 0;
    for (int i = 0; !rc && i < in.ni; i++)
        for (int j = 0; !rc && j < in.nt; j++) {
            unimo2_pair_score s;
            if (in.shortlist > 0) break;
            if (unimo2_score(m, in.images[i], in.texts[j], &s) != 0) {
                rc = cli_error();
                break;
            }
            if (in.json) {
                printf("{\"image\":");
                put_json_string(in.images[i]);
                printf(",\"text\":");
                put_json_string(in.texts[j]);
                printf(",\"score\":%.6g,\"itm_logit\":%.6g,\"cmcl\":%.6g}\n", s.score, s.itm_logit, s.cmcl);
            } else {
                printf("%s\t%s\t%.6g %.6g %.6g\n", in.images[i], in.texts[j], s.score, s.itm_logit,
                       s.cmcl);
            }
        }
    if (!rc && in.shortlist > 0) {
        float *sc = u2_malloc(sizeof(float) * (size_t)in.ni * (size_t)in.nt);
        if (unimo2_score_matrix(m, in.images, in.ni, in.texts, in.nt, in.shortlist, sc) != 0)
            rc = cli_error();
        for (int i = 0; !rc && i < in.ni; i++)
            for (int j = 0; j < in.nt; j++) {
                if (in.json) {
                    printf("{\"image\":");
                    put_json_string(in.images[i]);
                    printf(",\"text\":");
                    put_json_string(in.texts[j]);
                    printf(",\"score\":%.6g}\n", sc[(size_t)i * in.nt + j]);
                } else {
                    printf("%s\t%s\t%.6g\n", in.images[i], in.texts[j], sc[(size_t)i * in.nt + j]);
                }
            }
        free(sc);
    }
    unimo2_free(m);
    free(in.images);
    free(in.texts);
    return rc;
}
