/* cv.h — repeated stratified k-fold cross-validation and cohort validation of the CF, CT and
 * hybrid (HUST-19) models, the task list spread over ranks, resumable per task, and the metrics of
 * the paper (Tables 2 and 3, Supplementary Fig. 3).
 *
 * A CV task is (outcome, repeat, fold, base model), a base model being one fitted on the data: the
 * LR or the DNN on the CFs (normalised with the training rows only), or the patient CNN on the CT.
 * It fits on the training rows and scores the held-out fold (and, when a fusion needs it, the
 * training rows out-of-fold by inner cross-fitting). A validation task is (outcome, repeat, base
 * model): train on the train cohorts, score the test cohorts. Tasks are handed out by dist_queue
 * (the patient CNN's first: the longest); each finished task is saved to <outdir>/tasks/
 * atomically, so a re-run skips it; results are merged by task id, so they do not depend on the rank
 * count. The fused models are then fitted from the merged base scores on every rank (cheap PLRs).
 * Thresholds (Youden and sensitive) are chosen on the training rows' scores.
 *
 * Models: cf-lr    L2 logistic regression on the normalised CFs (plr, the reference baseline);
 *         cf-dnn   the 7-layer CF DNN (nn), early-stopped on a stratified validation split;
 *         cf-fused PLR on the DNN's and the LR's scores;
 *         ct-cnn   the patient CNN on the patient's ten most probable pCT slices (CT alone);
 *         hybrid   HUST-19: PLR on the patient CNN's and the CF DNN's intermediate scores (6 for
 *                  three classes, 2 for a binary outcome). A patient without CT is scored by a PLR
 *                  on the DNN's scores alone, one without CFs by a PLR on the CNN's alone.
 * Every PLR is trained on inner out-of-fold scores (inner cross-fitting: never in-sample). A model
 * that cannot score a patient (no input) gives NaN: "not scored", left out of its metrics.
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
    /* inputs per archive row */
    int npatients;
    uint8_t *has_cf;                    /* [npatients] at least one measured CF */
    uint8_t *has_ct;                    /* [npatients] top-10 pCT slices (a patient CNN input) */
} cv_run;

/* The patient CNN's inputs: every patient's ten most probable pCT slices (the scores file of
 * `hust19 infer`, job->pcnn_scores) as one [10][H][W] input, x / 255 block-averaged to the
 * model's H x W (job->pcnn_model). */
typedef struct {
    int C, H, W;
    nn_layer_spec *spec; /* the model file's layers (output set per outcome) */
    int nspec;
    nn_hyper hyper;      /* model file's train: then the job's patient_cnn keys */
    int *slot;           /* [npatients] row of X, -1 = no CT */
    int nct;
    float *X;            /* [nct][C * H * W] */
    uint64_t hash;       /* of the inputs: task files of other inputs are not reused */
} cv_ct;

/* Read the inputs (every rank reads them all). H19_ESTATE names the stage to run first when the
 * scores file is missing or of another archive. */
int cv_ct_load(h19_job *job, int npatients, cv_ct *ct);
void cv_ct_free(cv_ct *ct);

/* The inputs of cv and predict (collective): the archive's CF part into a and, with with_ct, the
 * patient CNN's inputs into ct (else ct is zeroed). One clear error on every rank (H19_ESTATE names the
 * stage to run first); on failure nothing is left allocated. */
int cv_inputs_load(h19_job *job, int with_ct, cf_archive *a, cv_ct *ct);

/* cf_dnn.features: keep, in place and in their order, the N columns of Xtr [ntr][*w] and Xte [nte][*w]
 * whose values best separate ytr's K classes on their own (largest |AUC - 0.5|, the largest over the
 * classes one-vs-rest for K > 2; ties to the lower column); *w becomes N. N <= 0 or >= *w: no change. */
int cv_select_columns(float *Xtr, const int *ytr, int ntr, float *Xte, int nte, int K, long N, int *w);

/* 1 if archive row has at least one measured CF ("has CFs"). */
int cv_has_cf(const cf_archive *a, int row);

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
/* Run the job's tasks (collective). only_repeat >= 0 restricts the CV to that repeat. ct: the
 * patient CNN's inputs (required when cv.models has ct-cnn or hybrid, else may be NULL). */
int cv_run_all(h19_job *job, const cf_archive *a, const nn_hyper *h, const cv_ct *ct, int what, int only_repeat,
               cv_run *run);
/* Write the per-repeat file results/<job>/repeats/r<RRR>.h5 of repeat r (collective). */
int cv_write_repeat(const h19_job *job, const cf_archive *a, const cv_run *run, int r);
void cv_run_free(cv_run *run);

/* One fit for `hust19 predict`: model (a job_model) trained on archive rows tr (labels ytr) scores
 * rows te: out [nte][K] and thresholds thr [K][2] (Youden, sensitive; on training scores). The
 * intermediate scores [n][2K] (the patient CNN's K, then the CF DNN's K; NaN where a patient lacks
 * the input) of the test rows (inter_te) and, out of fold by inner cross-fitting, of the training
 * rows (inter_oof); either may be NULL. Collective: the base models are tasks over the ranks, saved
 * to <outdir>/predict-tasks/ so a killed run resumes. */
int cv_predict(h19_job *job, const cf_archive *a, const nn_hyper *h, const cv_ct *ct, int outcome, const int *tr,
               const int *ytr, int ntr, const int *te, int nte, int model, double *out, double *thr, double *inter_te,
               double *inter_oof);

/* Write results.h5 (collective), metrics.csv, metrics-detail.csv, validate.csv and cv.html (rank 0). */
int cv_write_results(const h19_job *job, const cf_archive *a, const cv_run *run);

#endif
