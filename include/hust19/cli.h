/* cli.h — shared command-line handling for subcommands.
 *
 * Common options every job-file subcommand accepts:
 *   --set key.path=value   override a job-file key (repeatable)
 *   --log-level LEVEL      error | warn | info | debug
 *   -h, --help             the subcommand's help
 * cli_parse() collects them and the positional arguments; the subcommand's own options are passed
 * through `opts` (a NULL-terminated list of "--name" that take a value, and flags).
 */
#ifndef HUST19_CLI_H
#define HUST19_CLI_H

#include "hust19/cfg.h"

#define CLI_MAX_SET 64
#define CLI_MAX_POS 16
#define CLI_MAX_OPT 32

typedef struct {
    const char *sets[CLI_MAX_SET];
    int nset;
    const char *pos[CLI_MAX_POS];
    int npos;
    const char *opt_name[CLI_MAX_OPT]; /* own options seen, e.g. "--out" */
    const char *opt_val[CLI_MAX_OPT];  /* their values (NULL for flags) */
    int nopt;
    int help;
} cli_args;

/* value_opts / flag_opts: NULL-terminated lists of the subcommand's own options. Returns 0, or
 * H19_EARG with a message for an unknown option or a missing value. */
int cli_parse(int argc, char **argv, const char *const *value_opts, const char *const *flag_opts,
              cli_args *out);
/* The value of an own option, or NULL. */
const char *cli_opt(const cli_args *a, const char *name);
int cli_flag(const cli_args *a, const char *name);

/* Load a job file and apply --set overrides. */
int cli_load_job(const cli_args *a, const char *path, cfg_doc *doc);

/* Print "hust19 <cmd>: error: <h19_errmsg()>" on the failing rank and return the exit code for
 * status rc (H19_EXIT_REQUEUE for H19_ESTOP, H19_EXIT_USAGE for H19_EARG, else H19_EXIT_ERROR). */
int cli_report(const char *cmd, int rc);

#endif
