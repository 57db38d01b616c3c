/* unimo2: one program, one subcommand per job (SPEC §6). */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "cli.h"
#include "unimo2.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>

typedef struct {
    const char *name;
    int (*fn)(int, char **);
    const char *summary;
} command;

static const command commands[] = {
    {"info", cmd_info, "config, parameter count, kernel set in use"},
    {"init", cmd_init, "write a seeded random model"},
    {"train", cmd_train, "pretrain on pairs, texts and images"},
    {"embed", cmd_embed, "image and text embeddings"},
    {"score", cmd_score, "ITM + CMCL score of image-text pairs"},
    {"eval", cmd_eval, "zero-shot retrieval, classification, linear probe"},
    {"demo", cmd_demo, "the main job: data, tokenizer, training, evaluation, export"},
    {"gen-data", cmd_gen_data, "render the synthetic shapes data set"},
    {"import-mnist", cmd_import_mnist, "MNIST digit JSON files -> a data set (scripts/get-mnist.sh)"},
    {"tokenizer", cmd_tokenizer, "train a byte-level BPE vocabulary; encode, decode"},
    {"export", cmd_export, "write the model as ONNX graphs"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: unimo2 COMMAND [OPTIONS]   (unimo2 COMMAND --help for each)\n\n"
               "UNIMO-2 grounded vision-language learning on CPUs.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-13s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nenvironment: UNIMO2_ISA=scalar|avx2|avx512|neon forces a kernel set;\n"
               "             UNIMO2_THREADS=N sets the thread count.\n");
}

int cli_error(void)
{
    fprintf(stderr, "unimo2: %s\n", u2_errmsg());
    return 1;
}

int cli_parse_u64(const char *opt, const char *s, unsigned long long *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || *s == '-')
        return u2_fail(opt, "expected a non-negative integer, not \"%s\"", s);
    *out = v;
    return 0;
}

int cli_parse_int(const char *opt, const char *s, long lo, long hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return u2_fail(opt, "expected an integer in [%ld, %ld], not \"%s\"", lo, hi, s);
    *out = (int)v;
    return 0;
}

/* OpenMP threads that spin while they wait burn the cores other threads need
 * when the machine is shared or oversubscribed (measured here: 6x slower
 * evaluation at load 8).  libgomp reads its wait policy when it loads, so
 * unless the user chose one, set PASSIVE and start the program again. */
static void prefer_passive_wait(char **argv)
{
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT") || getenv("UNIMO2_REEXEC")) return;
    setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    setenv("UNIMO2_REEXEC", "1", 1);
    execv("/proc/self/exe", argv); /* returns only on failure: go on as we are */
}

int main(int argc, char **argv)
{
    prefer_passive_wait(argv);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("unimo2 %s\n", unimo2_version());
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "unimo2: unknown command '%s' (unimo2 --help lists them)\n", argv[1]);
    return 2;
}
