/* commands.h — the subcommands of the hust19 binary.
 *
 * Each subcommand is `int cmd_<name>(int argc, char **argv)` (argv[0] is the subcommand name) in
 * src/cli/cmd_<name>.c, returning an exit code (H19_EXIT_*). They are declared weak here so the
 * dispatcher lists exactly the commands that are built. A subcommand runs after dist_init() and
 * reports its own errors with cli_report().
 */
#ifndef HUST19_CLI_COMMANDS_H
#define HUST19_CLI_COMMANDS_H

#define H19_CMD(name) int cmd_##name(int argc, char **argv) __attribute__((weak))
H19_CMD(synth);
H19_CMD(ingest);
H19_CMD(deid);
H19_CMD(train);
H19_CMD(infer);
H19_CMD(cv);
H19_CMD(validate);
H19_CMD(predict);
H19_CMD(stats);
H19_CMD(report);
H19_CMD(query);
H19_CMD(patient);
H19_CMD(run);
H19_CMD(merge);
H19_CMD(info);
#undef H19_CMD

#endif
