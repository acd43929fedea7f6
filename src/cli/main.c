/* main.c — the hust19 binary: dispatch to a subcommand (see src/cli/commands.h). */
#include "commands.h"
#include "hust19/dist.h"
#include "hust19/err.h"
#include "hust19/log.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    const char *name;
    int (*fn)(int, char **);
    const char *summary;
} command;

static const command g_commands[] = {
    {"run", cmd_run, "run every stage of a job file (hust19 run jobs/demo.yaml)"},
    {"synth", cmd_synth, "write a synthetic consortium archive (DICOM series, CF CSV, slice labels)"},
    {"ingest", cmd_ingest, "de-identify, preprocess and write the HDF5 archive (CT and CF)"},
    {"deid", cmd_deid, "de-identify DICOM files or trees (PS3.15 Basic Profile)"},
    {"train", cmd_train, "train the slice CNN (train slice-cnn; the other models train inside cv)"},
    {"infer", cmd_infer, "score every slice with the slice CNN; keep each patient's top-10 pCT"},
    {"cv", cmd_cv, "repeated stratified tenfold cross-validation"},
    {"validate", cmd_validate, "train on cohort 1, score cohort 2 (the paper's Table 3)"},
    {"predict", cmd_predict, "score suspected cases; t-SNE of the intermediate scores"},
    {"stats", cmd_stats, "clinical-feature statistics between groups"},
    {"merge", cmd_merge, "merge per-repeat result files of a job array"},
    {"report", cmd_report, "figures and tables (HTML + SVG + CSV) from the results"},
    {"query", cmd_query, "filter the patients of an archive (the iCTCF resource)"},
    {"patient", cmd_patient, "show one patient of an archive"},
    {"info", cmd_info, "describe an archive or results file"},
};
#define NCOMMANDS ((int)(sizeof g_commands / sizeof g_commands[0]))

static void usage(FILE *f)
{
    fprintf(f,
            "hust19 %s — the iCTCF resource and the HUST-19 model (Ning et al. 2020) on MPI\n\n"
            "usage: hust19 COMMAND [ARGS] [--set key=value] [--log-level LEVEL]\n"
            "       mpirun -np N hust19 COMMAND ...\n\ncommands:\n",
            HUST19_VERSION);
    for (int i = 0; i < NCOMMANDS; i++)
        if (g_commands[i].fn) fprintf(f, "  %-10s %s\n", g_commands[i].name, g_commands[i].summary);
    fprintf(f, "\n'hust19 COMMAND --help' describes one command; docs/ describes jobs and files.\n"
               "exit codes: 0 ok, 1 error, 2 usage, 75 checkpointed (re-run to resume)\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return H19_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return H19_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("hust19 %s\n", HUST19_VERSION);
        return H19_EXIT_OK;
    }
    const command *cmd = NULL;
    for (int i = 0; i < NCOMMANDS; i++)
        if (g_commands[i].fn && !strcmp(argv[1], g_commands[i].name)) cmd = &g_commands[i];
    if (!cmd) {
        fprintf(stderr, "hust19: unknown command '%s'\n\n", argv[1]);
        usage(stderr);
        return H19_EXIT_USAGE;
    }
    if (dist_init(&argc, &argv)) {
        fprintf(stderr, "hust19: %s\n", h19_errmsg());
        return H19_EXIT_ERROR;
    }
    int code = cmd->fn(argc - 1, argv + 1);
    /* A failure on one rank must not leave the others waiting in a collective. */
    int worst = code;
    MPI_Allreduce(&code, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    dist_finalize();
    return worst;
}
