/* Subcommands of the unimo2 program. Each returns the exit status. */
#ifndef UNIMO2_CLI_H
#define UNIMO2_CLI_H

int cmd_info(int argc, char **argv);
int cmd_tokenizer(int argc, char **argv);

/* Print "unimo2: <msg>" for the recorded error and return 1. */
int cli_error(void);

#endif
