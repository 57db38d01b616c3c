/* Subcommands of the unimo2 program. Each returns the exit status. */
#ifndef UNIMO2_CLI_H
#define UNIMO2_CLI_H

int cmd_info(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_embed(int argc, char **argv);
int cmd_score(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_gen_data(int argc, char **argv);
int cmd_import_mnist(int argc, char **argv);
int cmd_tokenizer(int argc, char **argv);
int cmd_export(int argc, char **argv);

/* Print "unimo2: <msg>" for the recorded error and return 1. */
int cli_error(void);
/* Parse an unsigned integer option value; records an error naming the option. */
int cli_parse_u64(const char *opt, const char *s, unsigned long long *out);
int cli_parse_int(const char *opt, const char *s, long lo, long hi, int *out);

#endif
