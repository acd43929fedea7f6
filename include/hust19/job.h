/* job.h — a job file (the YAML files under jobs/): one strict parse of every section, shared by all stages.
 *
 * Sections (docs/jobs.md documents every key):
 *   job:        name, seed, results (root directory; outputs go to <results>/<name>/)
 *   data:       cf_table, id_column, catalog, archive, cohorts
 *   outcomes:   <name>: label_column, classes, map, cohorts; overrides normalise, cf_lr, cf_dnn
 *   normalise:  missing, clip, missing_indicators
 *   cf_dnn:     model (a configs/models file) and training keys (nn_hyper), val_fraction, ensemble
 *   cf_lr:      C (inverse L2 strength of the CF logistic regression)
 *   patient_cnn: model, training keys (nn_hyper), val_fraction, balance, scores (the slice scores file)
 *   plr:        C, inner_folds (the fusion)
 *   cv:         repeats, folds, outcomes, models, sensitive_target
 *   validate:   outcomes, train_cohorts, test_cohorts, repeats
 *   predict:    outcome, model, suspected, train_cohorts, tsne.perplexity
 * Sections owned by other stages (synth, ct, slice_cnn, patient_cnn, stats, report, slurm) are
 * parsed by their stage's own parser, registered in job.c.
 *
 * Paths in a job file are relative to the current directory (run hust19 from the checkout).
 */
#ifndef HUST19_JOB_H
#define HUST19_JOB_H

#include "hust19/cf.h"
#include "hust19/cfg.h"
#include "hust19/cli.h"
#include "hust19/nn.h"

#include <stdint.h>

#define JOB_MAX_OUTCOMES 8
#define JOB_MAX_MODELS 8

/* The models of a CV/validation run (docs/cv.md): the CF models, the patient CNN alone (CT-only) and
 * HUST-19's fusion of the patient CNN and the CF DNN (PLR on their intermediate scores). */
typedef enum {
    MODEL_CF_LR = 0,
    MODEL_CF_DNN = 1,
    MODEL_CF_FUSED = 2,
    MODEL_CT_CNN = 3,
    MODEL_HYBRID = 4,
    MODEL_COUNT = 5
} job_model;
extern const char *const job_model_names[]; /* "cf-lr", "cf-dnn", "cf-fused", "ct-cnn", "hybrid" */

typedef struct {
    cfg_doc doc;
    const char *file;
    const char *name;
    uint64_t seed;
    const char *results_root;
    char outdir[1024];      /* <results>/<name> */
    /* data */
    const char *cf_table, *id_column, *catalog;
    char archive[1100];
    cf_cohorts cohorts;
    /* outcomes */
    int noutcomes;
    cf_outcome outcomes[JOB_MAX_OUTCOMES];
    cf_norm_opts onorm[JOB_MAX_OUTCOMES]; /* per outcome: normalise, overridable under the outcome */
    double olr_C[JOB_MAX_OUTCOMES];       /* per outcome: cf_lr.C, overridable under the outcome */
    /* per outcome: outcomes.<o>.cf_dnn overrides of val_fraction, ensemble, features, balance and the training
     * keys (ohyper holds the values, ohyper_set a bit per key of job_hyper_keys present) */
    cfg_node *ocf_dnn_node[JOB_MAX_OUTCOMES];
    double oval_fraction[JOB_MAX_OUTCOMES];
    long oensemble[JOB_MAX_OUTCOMES];
    long ofeatures[JOB_MAX_OUTCOMES];
    int obalance[JOB_MAX_OUTCOMES];
    nn_hyper ohyper[JOB_MAX_OUTCOMES];
    uint32_t ohyper_set[JOB_MAX_OUTCOMES];
    /* normalisation */
    cf_norm_opts norm;
    /* cf_dnn */
    const char *cf_dnn_model;
    cfg_node *cf_dnn_node;
    nn_hyper cf_hyper;     /* the job's cf_dnn training keys over the engine defaults (validation only) */
    double val_fraction;
    long ensemble;
    long features;         /* the DNN's inputs: the N columns of largest univariate AUC (0: all) */
    /* cf_lr: the L2 logistic regression on the CFs */
    double lr_C;
    /* cf_dnn class balancing */
    int balance;
    /* patient_cnn: the patient CNN of ct-cnn and hybrid */
    const char *pcnn_model;
    cfg_node *pcnn_node;
    nn_hyper pcnn_hyper;   /* checked keys (validation only); job_pcnn_hyper applies them */
    double pcnn_val_fraction;
    int pcnn_balance;
    char pcnn_scores[1100]; /* slice_scores.h5 of `hust19 infer` (the top-10 pCT slices) */
    /* plr */
    double plr_C;
    int plr_logit; /* fusion features as log-odds instead of probabilities */
    int plr_select; /* choose the fusion's inputs by inner cross-validated log loss (plr.select) */
    int oplr_select[JOB_MAX_OUTCOMES]; /* per outcome: outcomes.<o>.plr.select over plr.select */
    int plr_select_rule; /* plr.select_rule: 0 "min" (least loss), 1 "one_se" (both inputs only if their
                            loss is lower by more than one standard error of the paired difference) */
    int plr_test_inner; /* plr.test_scores: 1 "inner" (the fusion scores a test patient from the mean of the
                           inner models' scores, as it was trained on their out-of-fold scores), 0 "refit"
                           (from the base models refitted on all training rows) */
    cfg_node *oplr_node[JOB_MAX_OUTCOMES];
    long inner_folds;
    /* cv */
    long cv_repeats, cv_folds;
    int cv_noutcomes;
    int cv_outcome[JOB_MAX_OUTCOMES];
    int cv_nmodels;
    int cv_model[JOB_MAX_MODELS];
    double sensitive_target;
    /* validate */
    int val_noutcomes;
    int val_outcome[JOB_MAX_OUTCOMES];
    int train_cohorts[8], ntrain_cohorts, test_cohorts[8], ntest_cohorts;
    long val_repeats;
    /* predict: score the suspected cases, t-SNE of the intermediate scores (the paper's Fig. 4) */
    int pred_outcome;          /* -1: no outcome (the job defines none) */
    int pred_model;            /* job_model, default hybrid when the job has CT models, else cf-fused */
    int pred_nsuspected;
    const char *pred_suspected[8]; /* label-column texts of the cases to score */
    int pred_cohorts[8], pred_ncohorts; /* training cohorts (default: the outcome's) */
    double tsne_perplexity;
} h19_job;

/* Load, apply --set overrides, parse and check every key. */
int job_load(h19_job *j, const cli_args *a, const char *path);
void job_free(h19_job *j);
/* The CF DNN's training hyperparameters: the model file's train: section, then the job's keys. */
int job_cf_hyper(h19_job *j, nn_hyper *h);
/* Outcome o's training hyperparameters: base (job_cf_hyper's) with the keys given under
 * outcomes.<o>.cf_dnn replaced. */
void job_cf_hyper_outcome(const h19_job *j, int o, const nn_hyper *base, nn_hyper *out);
/* The patient CNN's: its model file's train: section, then the job's patient_cnn keys. */
int job_pcnn_hyper(h19_job *j, nn_hyper *h);
/* 1 if the run needs the patient CNN (a ct-cnn or hybrid model in cv.models). */
int job_needs_ct(const h19_job *j);
int job_outcome_index(const h19_job *j, const char *name);
/* mkdir -p the output directory (rank 0) */
int job_make_outdir(const h19_job *j);

/* Utilities for stages. */
int h19_mkdir_p(const char *path);
int h19_file_exists(const char *path);
/* Write a whole buffer to path atomically (tmp + fsync + rename). */
int h19_write_atomic(const char *path, const void *data, size_t n);
/* Read a whole file (malloc'd, NUL-terminated). */
int h19_read_file(const char *path, char **data, size_t *n);

#endif
