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
#include <string.h>

typedef struct {
    const char *name;
    int (*fn)(int, char **);
    const char *summary;
} command;

static const command commands[] = {
    {"info", cmd_info, "config, parameter count, kernel set in use"},
    {"init", cmd_init, "write a seeded random model"},
    {"export", cmd_export, "write the model as ONNX graphs"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: unimo2 COMMAND [OPTIONS]   (unimo2 COMMAND --help for each)\n\n"
               "UNIMO-2 grounded vision-language learning on CPUs.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
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

int main(int argc, char **argv)
{
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
