/* cmd_run.c — `hust19 run JOB.yaml`: every stage the job configures, in order, each skipping what is
 * already done (every stage is idempotent/resumable), so re-running a killed job finishes it.
 *
 *   synth      if the job has a `synth:` section (the embedded demo generates its CT archive)
 *   ingest     always (clinical features; CT when the job has a `ct:` section)
 *   train      slice-cnn, if the job has a `slice_cnn:` section and the stage is built
 *   infer      likewise
 *   cv         repeated CV + cohort validation (the `cv:` / `validate:` sections)
 *   predict    if the job has a `predict:` section (suspected cases, t-SNE)
 *   stats      if the job has a `stats:` section
 *   report     always
 */
#include "commands.h"
#include "hust19/cfg.h"
#include "hust19/cli.h"
#include "hust19/err.h"
#include "hust19/log.h"

#include <stdio.h>
#include <string.h>

static const char *HELP =
    "usage: hust19 run JOB.yaml [--set key=value ...]\n"
    "       mpirun -np N hust19 run JOB.yaml\n\n"
    "Runs every stage the job file configures: synth (if 'synth:'), ingest, train slice-cnn and\n"
    "infer (if 'slice_cnn:'), cv and validate, predict (if 'predict:'), stats (if 'stats:'), report. Each stage skips work\n"
    "that is already done, so re-running an interrupted job resumes it. --set overrides are passed\n"
    "to every stage. Exit code of the first failing stage (75: checkpointed, re-run to resume).\n"
    "--until STAGE (synth | ingest | train | infer | cv | predict | stats | report) stops after that\n"
    "stage, e.g. 'hust19 run jobs/slice-cnn.yaml --until infer' for the slice CNN alone.\n\n"
    "The embedded default:  hust19 run jobs/demo.yaml\n";

typedef int (*stage_fn)(int, char **);

static int call(const char *name, stage_fn fn, const char *sub, const char *job, const cli_args *a)
{
    char *argv[2 * CLI_MAX_SET + 8];
    int argc = 0;
    argv[argc++] = (char *)name;
    if (sub) argv[argc++] = (char *)sub;
    argv[argc++] = (char *)job;
    for (int i = 0; i < a->nset; i++) {
        argv[argc++] = (char *)"--set";
        argv[argc++] = (char *)a->sets[i];
    }
    argv[argc] = NULL;
    LOG_INFO("run: === %s%s%s ===", name, sub ? " " : "", sub ? sub : "");
    return fn(argc, argv);
}

int cmd_run(int argc, char **argv)
{
    cli_args a;
    static const char *const vopts[] = {"--until", NULL};
    int rc = cli_parse(argc, argv, vopts, NULL, &a);
    if (rc) return cli_report("run", rc);
    if (a.help) {
        fputs(HELP, stdout);
        return H19_EXIT_OK;
    }
    if (a.npos != 1) return cli_report("run", h19_fail(H19_EARG, "expected one job file (see --help)"));
    /* --until: the last stage to run (the order below) */
    static const char *const order[] = {"synth", "ingest", "train", "infer", "cv", "predict", "stats", "report", NULL};
    int until = 7;
    const char *u = cli_opt(&a, "--until");
    if (u) {
        until = -1;
        for (int k = 0; order[k]; k++)
            if (!strcmp(order[k], u)) until = k;
        if (until < 0)
            return cli_report("run", h19_fail(H19_EARG, "--until %s: not a stage (synth, ingest, train, infer, cv, "
                                                        "predict, stats, report)", u));
    }
    const char *job = a.pos[0];
    cfg_doc d;
    rc = cli_load_job(&a, job, &d);
    if (rc) return cli_report("run", rc);
    int has_synth = cfg_peek(d.root, "synth") != NULL, has_cnn = cfg_peek(d.root, "slice_cnn") != NULL;
    int has_stats = cfg_peek(d.root, "stats") != NULL, has_predict = cfg_peek(d.root, "predict") != NULL;
    cfg_free(&d);
    int code = H19_EXIT_OK;
    if (has_synth && cmd_synth) code = call("synth", cmd_synth, NULL, job, &a);
    if (!code && until >= 1) code = call("ingest", cmd_ingest, NULL, job, &a);
    if (!code && has_cnn && until >= 2) {
        if (!cmd_train || !cmd_infer)
            LOG_WARN("run: the job configures slice_cnn but this build has no CNN training stage; skipped");
        else {
            code = call("train", cmd_train, "slice-cnn", job, &a);
            if (!code && until >= 3) code = call("infer", cmd_infer, NULL, job, &a);
        }
    }
    if (!code && until >= 4) code = call("cv", cmd_cv, NULL, job, &a);
    if (!code && has_predict && cmd_predict && until >= 5) code = call("predict", cmd_predict, NULL, job, &a);
    if (!code && has_stats && cmd_stats && until >= 6) code = call("stats", cmd_stats, NULL, job, &a);
    if (!code && cmd_report && until >= 7) code = call("report", cmd_report, NULL, job, &a);
    if (!code) LOG_INFO("run: done%s%s", u ? "; stopped after --until " : "", u ? u : "");
    return code;
}
