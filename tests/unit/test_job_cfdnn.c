/* test_job_cfdnn.c — per-outcome CF-DNN overrides in a job file (outcomes.<o>.cf_dnn): the given
 * keys replace the job's, the others keep the cf_dnn section's values, and a misspelt key, a wrong
 * value or a model file under an outcome are errors naming the place. */
#include "check.h"
#include "hust19/cfg.h"
#include "hust19/err.h"
#include "hust19/job.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static char path[64];

static int load(h19_job *job, const char *outcome_extra)
{
    FILE *f = fopen(path, "w");
    if (!f) return H19_EIO;
    fprintf(f,
            "job: {name: cfdnn-unit, results: /tmp}\n"
            "data: {cf_table: none.csv}\n"
            "outcomes:\n"
            "  morbidity: {label_column: M, classes: [a, b, c], map: {A: a, B: b, C: c}}\n"
            "  mortality:\n"
            "    label_column: D\n"
            "    classes: [cured, deceased]\n"
            "    map: {C: cured, D: deceased}\n"
            "%s"
            "cf_dnn: {val_fraction: 0.1, ensemble: 3, balance: true, epochs: 200, patience: 15, lr: 1.0e-3}\n",
            outcome_extra);
    fclose(f);
    cli_args a;
    memset(&a, 0, sizeof a);
    int rc = job_load(job, &a, path);
    if (!rc) {
        rc = cfg_check_unused(&job->doc);
        if (rc) job_free(job);
    }
    return rc;
}

int main(void)
{
    snprintf(path, sizeof path, "/tmp/h19_job_cfdnn_%ld.yaml", (long)getpid());
    h19_job job;
    CHECK_OK(load(&job, "    cf_dnn: {val_fraction: 0, epochs: 30, early_stop: loss, ensemble: 5, balance: false, features: 30}\n"));
    int mo = job_outcome_index(&job, "morbidity"), mt = job_outcome_index(&job, "mortality");
    CHECK(mo == 0 && mt == 1);
    /* morbidity: the cf_dnn section's values */
    CHECK_NEAR(job.oval_fraction[mo], 0.1, 0);
    CHECK(job.oensemble[mo] == 3 && job.obalance[mo] == 1 && job.ohyper_set[mo] == 0);
    CHECK(job.features == 0 && job.ofeatures[mo] == 0 && job.ofeatures[mt] == 30);
    /* mortality: its own */
    CHECK_NEAR(job.oval_fraction[mt], 0.0, 0);
    CHECK(job.oensemble[mt] == 5 && job.obalance[mt] == 0);
    nn_hyper base = job.cf_hyper, h;
    job_cf_hyper_outcome(&job, mo, &base, &h);
    CHECK(memcmp(&h, &base, sizeof h) == 0);
    job_cf_hyper_outcome(&job, mt, &base, &h);
    CHECK(h.epochs == 30 && h.early_stop == NN_STOP_LOSS);
    /* keys not given under the outcome keep the job's */
    CHECK(h.patience == 15 && h.lr == base.lr && h.batch == base.batch && h.class_weight == base.class_weight);
    CHECK(base.epochs == 200 && base.early_stop == NN_STOP_ACCURACY);
    job_cf_hyper_outcome(&job, -1, &base, &h); /* no outcome: the base */
    CHECK(memcmp(&h, &base, sizeof h) == 0);
    job_free(&job);

    /* a misspelt training key under the outcome: an error naming the file position */
    int rc = load(&job, "    cf_dnn: {epoch: 30}\n");
    CHECK_MSG(rc != H19_OK && strstr(h19_errmsg(), "epoch") && strstr(h19_errmsg(), ":9:"), "rc %d: %s", rc,
              h19_errmsg());
    rc = load(&job, "    cf_dnn: {early_stop: recall}\n");
    CHECK_MSG(rc != H19_OK && strstr(h19_errmsg(), "early_stop"), "%s", h19_errmsg());
    rc = load(&job, "    cf_dnn: {val_fraction: 0.9}\n");
    CHECK_MSG(rc != H19_OK && strstr(h19_errmsg(), "val_fraction"), "%s", h19_errmsg());
    rc = load(&job, "    cf_dnn: {features: -1}\n");
    CHECK_MSG(rc != H19_OK && strstr(h19_errmsg(), "features"), "%s", h19_errmsg());
    rc = load(&job, "    cf_dnn: {model: configs/models/cf_dnn.yaml}\n");
    CHECK_MSG(rc != H19_OK && strstr(h19_errmsg(), "one per job"), "%s", h19_errmsg());
    remove(path);
    CHECK_DONE();
}
