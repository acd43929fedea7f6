/* cmd_cv.c — `hust19 cv JOB.yaml` and `hust19 validate JOB.yaml`: repeated stratified k-fold CV and
 * cohort validation of the clinical-feature models (include/hust19/cv.h). */
#include "commands.h"
#include "hust19/archive.h"
#include "hust19/cli.h"
#include "hust19/cv.h"
#include "hust19/dist.h"
#include "hust19/err.h"
#include "hust19/job.h"
#include "hust19/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *HELP_CV =
    "usage: hust19 cv JOB.yaml [--set key=value]\n"
    "       mpirun -np N hust19 cv JOB.yaml\n\n"
    "Repeated stratified k-fold cross-validation (cv.repeats x cv.folds) of the job's models\n"
    "(cv.models: cf-lr, cf-dnn, cf-fused) for each outcome in cv.outcomes, and the cohort validation\n"
    "(validate.outcomes: train on validate.train_cohorts, score validate.test_cohorts). Needs the archive\n"
    "written by 'hust19 ingest'. Tasks are spread over the MPI ranks; finished tasks are kept in\n"
    "results/<job>/tasks/ so an interrupted run resumes. Writes results/<job>/results.h5, metrics.csv,\n"
    "metrics-detail.csv, validate.csv and cv.html. SIGUSR1/SIGTERM: finish the current task, exit 75.\n\n"
    "  --repeat R   run only repeat R's CV tasks (a job-array task) and write\n"
    "               results/<job>/repeats/rRRR.h5; 'hust19 merge JOB.yaml' combines the repeats into the\n"
    "               same results as one 'hust19 cv' run, and runs the validation tasks.\n";

int cv_stage(h19_job *job, int what, int only_repeat)
{
    nn_hyper h;
    int rc = job_cf_hyper(job, &h);
    nn_hyper ph;
    if (!rc) rc = job_pcnn_hyper(job, &ph); /* checks the patient_cnn keys even when unused */
    if (!rc) rc = cfg_check_unused(&job->doc);
    if (rc) return rc;
    cf_archive a;
    cv_ct ct;
    int with_ct = job_needs_ct(job);
    rc = cv_inputs_load(job, with_ct, &a, &ct);
    if (rc) return rc;
    cv_run run;
    rc = cv_run_all(job, &a, &h, with_ct ? &ct : NULL, what, only_repeat, &run);
    if (with_ct) cv_ct_free(&ct);
    if (!rc && only_repeat >= 0) {
        rc = cv_write_repeat(job, &a, &run, only_repeat);
        if (!rc) LOG_INFO("cv: repeat %d in %s/repeats/r%03d.h5 (merge with 'hust19 merge %s')", only_repeat, job->outdir,
                          only_repeat, job->file);
    } else if (!rc) {
        rc = cv_write_results(job, &a, &run);
        if (!rc) LOG_INFO("results in %s/ (metrics.csv, results.h5, cv.html)", job->outdir);
    }
    cv_run_free(&run);
    cf_archive_free(&a);
    return rc;
}

static int run_cmd(const char *name, int argc, char **argv, int what)
{
    static const char *const vopts[] = {"--repeat", NULL};
    cli_args a;
    int rc = cli_parse(argc, argv, (what & CV_DO_CV) ? vopts : NULL, NULL, &a);
    if (rc) return cli_report(name, rc);
    if (a.help) {
        fputs(HELP_CV, stdout);
        return H19_EXIT_OK;
    }
    if (a.npos != 1) return cli_report(name, h19_fail(H19_EARG, "expected one job file (see --help)"));
    h19_job job;
    rc = job_load(&job, &a, a.pos[0]);
    if (rc) return cli_report(name, rc);
    rc = dist_check_slurm();
    int only = -1;
    const char *rep = cli_opt(&a, "--repeat");
    if (!rc && rep) {
        char *end;
        long v = strtol(rep, &end, 10);
        if (*end || v < 0 || v > 100000) rc = h19_fail(H19_EARG, "--repeat '%s': expected a repeat number", rep);
        only = (int)v;
        what = CV_DO_CV; /* an array task: its repeat only, no validation */
    }
    if (!rc) rc = cv_stage(&job, what, only);
    job_free(&job);
    return cli_report(name, rc);
}

int cmd_cv(int argc, char **argv) { return run_cmd("cv", argc, argv, CV_DO_CV | CV_DO_VALIDATE); }
int cmd_validate(int argc, char **argv) { return run_cmd("validate", argc, argv, CV_DO_VALIDATE); }
/* `hust19 merge JOB`: the per-repeat files of a job array -> the final results (+ validation). */
int cmd_merge(int argc, char **argv) { return run_cmd("merge", argc, argv, CV_FROM_REPEATS | CV_DO_VALIDATE); }
