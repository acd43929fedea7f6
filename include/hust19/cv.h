/* cv.h — repeated stratified k-fold cross-validation and cohort validation of the CF models, the
 * task list spread over ranks, resumable per task, and the metrics of the paper (Tables 2 and 3).
 *
 * A CV task is (outcome, repeat, fold): it normalises the CFs with the training rows only, fits
 * every model of the job on the training rows and scores the held-out fold; thresholds (Youden and
 * sensitive) are chosen on the training rows' scores. A validation task is (outcome, repeat): train
 * on the train cohorts, score the test cohorts. Tasks are handed out by dist_queue; each finished
 * task is saved to <outdir>/tasks/ atomically, so a re-run skips it; results are merged by task id,
 * so they do not depend on the rank count.
 *
 * Models: cf-lr   L2 logistic regression on the normalised CFs (plr, the reference baseline);
 *         cf-dnn  the 7-layer CF DNN (nn), early-stopped on a stratified validation split;
 *         cf-fused PLR on the DNN's and the LR's scores, trained on inner out-of-fold scores
 *                 (inner cross-fitting: never in-sample), as HUST-19 fuses its intermediate scores.
 */
#ifndef HUST19_CV_H
#define HUST19_CV_H

#include "hust19/archive.h"
#include "hust19/job.h"
#include "hust19/nn.h"

typedef struct {
    int outcome;       /* index into job->outcomes */
    int n;             /* patients in the outcome set */
    int K;             /* classes (score columns; binary outcomes have 2: [1-p, p]) */
    int *row;          /* [n] archive row */
    int *y;            /* [n] class */
    int *cohort;       /* [n] */
} cv_set;

/* Everything a run produces, merged over ranks. */
typedef struct {
    int nsets;
    cv_set sets[JOB_MAX_OUTCOMES];
    int R, F, M;                /* repeats, folds, models */
    uint64_t config_hash;       /* of everything that changes a task's result */
    int model[JOB_MAX_MODELS];
    int *fold[JOB_MAX_OUTCOMES];        /* [R][n] */
    double *score[JOB_MAX_OUTCOMES];    /* [M][R][n][K] out-of-fold probabilities */
    double *thr[JOB_MAX_OUTCOMES];      /* [M][R][F][K][2] (Youden, sensitive) from training scores */
    /* validation */
    int nval;
    cv_set vtrain[JOB_MAX_OUTCOMES], vtest[JOB_MAX_OUTCOMES];
    int VR;
    double *vscore[JOB_MAX_OUTCOMES];   /* [M][VR][ntest][K] */
    double *vthr[JOB_MAX_OUTCOMES];     /* [M][VR][K][2] */
} cv_run;

/* Build the outcome sets from the archive (labels mapped by the job, cohorts filtered). */
int cv_sets_build(const h19_job *job, const cf_archive *a, const int *cohorts, int ncoh, int outcome,
                  cv_set *s);
void cv_set_free(cv_set *s);

/* What cv_run_all does. */
enum {
    CV_DO_CV = 1,        /* the CV tasks (all repeats, or only_repeat) */
    CV_DO_VALIDATE = 2,  /* the cohort-validation tasks */
    CV_FROM_REPEATS = 4, /* take the CV results from results/<job>/repeats/r<RRR>.h5 (hust19 merge) */
};
/* Run the job's tasks (collective). only_repeat >= 0 restricts the CV to that repeat. */
int cv_run_all(h19_job *job, const cf_archive *a, const nn_hyper *h, int what, int only_repeat,
               cv_run *run);
/* Write the per-repeat file results/<job>/repeats/r<RRR>.h5 of repeat r (collective). */
int cv_write_repeat(const h19_job *job, const cf_archive *a, const cv_run *run, int r);
void cv_run_free(cv_run *run);

/* Write results.h5 (collective), metrics.csv, metrics-detail.csv, validate.csv and cv.html (rank 0). */
int cv_write_results(const h19_job *job, const cf_archive *a, const cv_run *run);

#endif
