/* unimo2 info: what this build and CPU can do. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "cli.h"
#include "kernels.h"
#include "unimo2.h"
#include "util.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static void help(void)
{
    printf("usage: unimo2 info [--config NAME|FILE.json] [--model FILE] [--isa-available ISA]\n\n"
           "Print the kernel set in use and the instruction sets this CPU and build support.\n"
           "  --isa-available ISA  exit 0 if ISA (scalar|avx2|avx512|neon) can run here, else 1\n"
           "  -h, --help           this text\n");
}

int cmd_info(int argc, char **argv)
{
    static const struct option opts[] = {
        {"isa-available", required_argument, 0, 'a'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *probe = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'a': probe = optarg; break;
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
    printf("unimo2 %s\n", unimo2_version());
    printf("kernels: %s (threads: %d)\n", u2_kern()->name, u2_num_threads());
    printf("available:");
    for (int i = 0; i < U2_ISA_COUNT; i++)
        if (u2_kern_isa((u2_isa)i)) printf(" %s", u2_isa_name((u2_isa)i));
    printf("\n");
    return 0;
}
