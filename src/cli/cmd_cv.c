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
    "metrics-detail.csv, validate.csv and cv.html. SIGUSR1/SIGTERM: finish the current task, exit 75.\n";

/* The CF DNN's training hyperparameters: the model file's train: section, then the job's cf_dnn keys. */
int cv_load_hyper(h19_job *job, nn_hyper *h)
{
    nn_layer_spec *spec = NULL;
    int nspec = 0, C, H, W;
    *h = nn_hyper_default();
    int rc = nn_model_load(job->cf_dnn_model, 1, 3, &C, &H, &W, &spec, &nspec, h);
    free(spec);
    if (rc) return rc;
    return nn_hyper_read(&job->doc, job->cf_dnn_node, h);
}

int cv_stage(h19_job *job, int do_cv, int do_validate)
{
    nn_hyper h;
    int rc = cv_load_hyper(job, &h);
    if (!rc) rc = cfg_check_unused(&job->doc);
    if (rc) return rc;
    h5_file f;
    rc = h5_open(&f, job->archive, MPI_COMM_SELF, H19_ARCHIVE_KIND, H19_ARCHIVE_VERSION);
    if (rc == H19_EIO) rc = h19_fail(H19_ESTATE, "%s: no archive: run 'hust19 ingest %s' first", job->archive, job->file);
    cf_archive a;
    if (!rc) {
        rc = cf_archive_read(&f, &a);
        h5_close(&f);
    }
    rc = dist_agree(rc);
    if (rc) return rc;
    cv_run run;
    rc = cv_run_all(job, &a, &h, do_cv, do_validate, &run);
    if (!rc) rc = cv_write_results(job, &a, &run);
    if (!rc) LOG_INFO("%s: results in %s/ (metrics.csv, results.h5, cv.html)", do_cv ? "cv" : "validate", job->outdir);
    cv_run_free(&run);
    cf_archive_free(&a);
    return rc;
}

static int run_cmd(const char *name, int argc, char **argv, int do_cv, int do_validate)
{
    cli_args a;
    int rc = cli_parse(argc, argv, NULL, NULL, &a);
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
    if (!rc) rc = cv_stage(&job, do_cv, do_validate);
    job_free(&job);
    return cli_report(name, rc);
}

int cmd_cv(int argc, char **argv) { return run_cmd("cv", argc, argv, 1, 1); }
int cmd_validate(int argc, char **argv) { return run_cmd("validate", argc, argv, 0, 1); }
