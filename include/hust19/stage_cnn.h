/* stage_cnn.h — the slice CNN stages: `hust19 train slice-cnn JOB` and `hust19 infer JOB`
 * (docs/training.md; DESIGN.md "The model"; Ning et al. 2020, Methods, "CNN").
 *
 * Training: the labelled slices of the archive's /ct part (/ct/label >= 0) are split 9:1 into
 * train and held-out test, stratified by class (keyed by H19_RNG_SPLIT, so the split is a pure
 * function of the job seed), and a val_fraction of each class is taken from the training part for
 * early stopping. Every MPI rank loads the same training slices and nn_fit runs data-parallel
 * over MPI_COMM_WORLD (same model bytes on any rank count). The model is written atomically to an
 * HDF5 file (kind "hust19-slice-cnn" v1), the held-out metrics to slice_cnn_metrics.csv.
 *
 * Inference: every slice of the archive is scored; chunks of slices are tasks of the dynamic queue;
 * the probabilities go into a separate scores file (kind "hust19-slice-scores" v1; the archive is
 * never modified) with each patient's ten most probable pCT slices.
 *
 *     sc_opts o;
 *     H19_TRY(sc_opts_parse(job, &o));      // the job's slice_cnn: section (strict)
 *     H19_TRY(sc_train(job, &o, &res));     // collective over MPI_COMM_WORLD
 *     H19_TRY(sc_infer(job, &o, &ires));    // collective
 *     sc_opts_free(&o);
 */
#ifndef HUST19_STAGE_CNN_H
#define HUST19_STAGE_CNN_H

#include "hust19/job.h"
#include "hust19/nn.h"

#include <stdbool.h>

#include <stdint.h>

#define SC_MODEL_KIND "hust19-slice-cnn"
#define SC_MODEL_VERSION 1
#define SC_SCORES_KIND "hust19-slice-scores"
#define SC_SCORES_VERSION 1
#define SC_NCLASS 3 /* NiCT, pCT, nCT (= CT_LABEL_* of ingest.h) */
#define SC_TOPK 10

extern const char *const sc_class_names[SC_NCLASS]; /* "NiCT", "pCT", "nCT" */

typedef struct {
    const char *model_path;   /* configs/models file */
    nn_hyper hyper;           /* the model's train: section, then the job's keys */
    double test_fraction;     /* held-out share of each class (default 0.1: the paper's 9:1) */
    double val_fraction;      /* share of each class's training part kept for early stopping */
    long max_train_slices;    /* 0 = all; else the training part is cut to this many, per class
                                 in proportion */
    long infer_chunk;         /* slices per inference task */
    bool flip;                /* also train on the left-right mirror of every training slice */
    bool split_patients;      /* split: patient (default; whole patients go to one part) or slice */
    bool flip_test;           /* score a slice as the mean of its and its mirror's probabilities
                                 (held-out metrics and inference; default false) */
    int input;                /* SC_INPUT_U8 (default: x / 255), SC_INPUT_LUNG or SC_INPUT_LUNG_MASK
                                 (sc_normalise_lung); job key slice_cnn.input, stored in the model file */
    bool init_uniform;        /* slice_cnn.init: he (default: nn_net_init) or uniform
                                 (nn_net_init_uniform, PyTorch's default) */
    char ckpt[1100], model_out[1100], metrics_out[1100], scores_out[1100], chunk_dir[1100];
    /* model file contents: the architecture must be the same at inference time */
    int C, H, W;
    nn_layer_spec *spec;
    int nspec;
    char *model_text;
} sc_opts;

/* Parse the job's slice_cnn: section strictly (unknown keys are errors via cfg_check_unused) and
 * load the model file. The input must be 1 x H x W with 200 divisible by H and W (a smaller input
 * is the block average of the 200x200 slice, for fast tests and demos). */
int sc_opts_parse(h19_job *job, sc_opts *o);
void sc_opts_free(sc_opts *o);

/* Stratified split of the n labelled slices (labels y[i] in [0, SC_NCLASS)): part[i] = 0 train,
 * 1 validation, 2 test, -1 dropped by the max_train cap. Per class k the members are shuffled by
 * h19_rng keyed (seed, H19_RNG_SPLIT, 0, 0, 0, k); the first round(test_fraction * n_k) are test,
 * the next round(val_fraction * (n_k - test)) validation, the rest training. */
int sc_split(const int *y, int n, uint64_t seed, double test_fraction, double val_fraction, long max_train,
             int *part);
/* The same by patient (group[i]: the patient of slice i): every slice of a patient goes to the
 * same part, so held-out and validation slices come from patients the model never trained on.
 * Patients are stratified by whether they have a pCT slice; per stratum s the patients (ascending
 * group id) are shuffled by h19_rng keyed (seed, H19_RNG_SPLIT, 1, 0, 0, s), the first
 * round(test_fraction * G_s) are test, the next round(val_fraction * (G_s - test)) validation.
 * max_train is applied to the training slices as in sc_split. */
int sc_split_patients(const int *y, const int *group, int n, uint64_t seed, double test_fraction,
                      double val_fraction, long max_train, int *part);

/* u8 slices [n][200][200] -> floats [n][H][W] in [0, 1]: x / 255, block-averaged to H x W. */
void sc_normalise(float *out, const uint8_t *in, int64_t n, int H, int W);

/* The slice CNN's input encodings (slice_cnn.input). */
enum { SC_INPUT_U8 = 0, SC_INPUT_LUNG = 1, SC_INPUT_LUNG_MASK = 2 };
/* their names in job files and model files, indexed by the enum */
extern const char *const sc_input_names[];
#define SC_LUNG_GREY 85.0f  /* lung parenchyma (~-850 HU) in the -600/1500 window */
#define SC_LUNG_SCALE 40.0f /* grey levels per unit (~235 HU) */
#define SC_LUNG_LO (-1.5f)
#define SC_LUNG_HI 2.5f     /* vessels, chest-wall rim and consolidation saturate here */
#define SC_LUNG_OUT (-2.0f) /* outside the mask with SC_INPUT_LUNG_MASK: below every inside value */
/* The same block mean v in grey levels, then lung-centred: v > 0 (inside the preprocessing mask)
 * -> clamp((v - 85) / 40, -1.5, 2.5), v = 0 (outside) -> outside, so the mask edge is no longer the
 * strongest step of the image and a ground-glass raise of ~100-250 HU is ~0.4-1.1 units.
 * outside: 0 (SC_INPUT_LUNG: the outside looks like lung) or SC_LUNG_OUT (SC_INPUT_LUNG_MASK: a
 * consolidation the threshold mask cut out of the lung stays a hole, not lung behind a bright rim). */
void sc_normalise_lung(float *out, const uint8_t *in, int64_t n, int H, int W, float outside);

typedef struct {
    int ntrain, nval, ntest;
    nn_fit_result fit;
    double auc[SC_NCLASS];          /* held-out one-vs-rest AUC (NaN if a class is absent) */
    long cm[SC_NCLASS * SC_NCLASS]; /* held-out confusion matrix [true][argmax] */
    double accuracy;
    double seconds, cpu_seconds;    /* nn_fit wall and this process's CPU time */
    long samples;                   /* training samples processed (steps x batch, in this run) */
} sc_train_result;

/* `hust19 train slice-cnn`: collective over MPI_COMM_WORLD. H19_ESTOP after a stop request
 * (checkpoint written; re-run to resume). */
int sc_train(h19_job *job, sc_opts *o, sc_train_result *res);

typedef struct {
    int64_t n, npatients;
    int chunks_done, chunks_reused; /* by this rank */
    double seconds, cpu_seconds;
    int up_to_date;                 /* the scores file was already computed from this model and archive */
} sc_infer_result;

/* `hust19 infer`: collective over MPI_COMM_WORLD. Needs the model written by sc_train. */
int sc_infer(h19_job *job, sc_opts *o, sc_infer_result *res);

/* Each patient's SC_TOPK most probable pCT slices, most probable first (ties: lower slice index),
 * the last repeated if the patient has fewer; -1 rows for patients without slices.
 * prob [n][SC_NCLASS], patient [n] in [0, npatients); top [npatients][SC_TOPK]. */
int sc_top_pct(const float *prob, const int32_t *patient, int64_t n, int64_t npatients, int64_t *top);

#endif
