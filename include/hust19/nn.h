/* nn.h — the neural-network engine: layers, sequential networks, Adam, a deterministic trainer.
 *
 * Worked example (the clinical-feature DNN, local training):
 *
 *     nn_layer_spec L[] = { NN_DENSE_(64), NN_RELU_, NN_DROPOUT_(0.3f),
 *                           NN_DENSE_(3), NN_SOFTMAX_CE_ };
 *     nn_net *net;
 *     if (nn_net_create(&net, 1, 1, ncf, L, 5, 64)) { report h19_errmsg(); }   // max_batch 64
 *     nn_net_init(net, seed, repeat, fold);               // He/Glorot from the keyed RNG
 *     nn_hyper h = nn_hyper_default();  h.epochs = 200;  h.patience = 20;
 *     nn_key k = { seed, repeat, fold };
 *     nn_fit_result res;
 *     rc = nn_fit(net, &h, k, X, y, n, Xval, yval, nval, MPI_COMM_SELF, &res);
 *     float *prob = malloc(n_test * nn_net_nout(net) * sizeof *prob);
 *     rc = nn_predict(net, Xtest, n_test, prob, MPI_COMM_SELF);
 *     nn_net_free(net);
 *
 * Key to dimension letters: B batch, C input channels, H height, W width, K output channels
 * (filters), IN/OUT dense widths, N element count. Tensors are NCHW, row-major, raw float *.
 *
 * Layer functions (llm.c style): output first, dimensions last; forward writes its output;
 * backward ADDS into the gradients it is given (din, dw, db), so callers zero them first. A NULL
 * din means "input gradient not needed" (first layer). No layer function allocates or fails.
 *
 * Parameters of a network live in ONE contiguous float buffer (net->params) sliced per layer
 * (weights then bias); gradients (net->grads) and Adam moments (net->m, net->v) use the same
 * layout, so a checkpoint is a few flat arrays and a gradient sync one allreduce.
 *
 * Determinism: every random choice is keyed by (seed, purpose, repeat, fold, epoch, sample) via
 * rng.h; the data-parallel gradient sum is done in 64-bit fixed point (docs/nn.md), so training on
 * 1 or P ranks gives bit-identical weights (same BLAS thread count per rank assumed).
 */
#ifndef HUST19_NN_H
#define HUST19_NN_H

#include "hust19/cfg.h"

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

/* ---- layers ----------------------------------------------------------------------------------- */

/* 3x3 convolution, stride 1, zero "same" padding. w is [K][C][3][3], b [K]; in [B][C][H][W],
 * out [B][K][H][W]. col is caller scratch of nn_conv3_scratch_floats(C, H, W, K) floats, which is
 * sized for the current OpenBLAS thread count (the samples are spread over that many threads;
 * size it again after raising the count). Winograd F(2x2,3x3) when C and K are >= 4 (forward,
 * input and weight gradients), else im2col + SGEMM. Results are the same bits for any thread count. */
size_t nn_conv3_scratch_floats(int C, int H, int W, int K);
/* Process-wide switch (tests, benchmarks): 0 = always im2col. Not thread-safe; default 1. */
void nn_conv3_set_winograd(int enable);
void nn_conv3_forward(float *out, const float *in, const float *w, const float *b, float *col, int B,
                      int C, int H, int W, int K);
void nn_conv3_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                       const float *w, float *col, int B, int C, int H, int W, int K);

/* 2x2 max pooling, stride 2, floor on odd sizes: out [B][C][H/2][W/2]. Backward routes each output
 * gradient to the first maximum of its window (recomputed from in; no index buffer). */
void nn_maxpool2_forward(float *out, const float *in, int B, int C, int H, int W);
void nn_maxpool2_backward(float *din, const float *dout, const float *in, int B, int C, int H, int W);

/* Global average pooling: out [B][C] = the mean of each channel's H*W map (in [B][C][HW]).
 * Backward writes din = dout / HW to every position (PyTorch's AdaptiveAvgPool2d(1)). The sum runs
 * in double in a fixed order, so the bits do not depend on the thread or rank count. */
void nn_gap_forward(float *out, const float *in, int B, int C, int HW);
void nn_gap_backward_write(float *din, const float *dout, int B, int C, int HW);
/* Global max pooling: out [B][C] = the maximum of each channel's H*W map. Backward writes dout to
 * the first maximum (row-major, the element the forward keeps) and 0 elsewhere (PyTorch's
 * AdaptiveMaxPool2d(1)); in is the forward's input. */
void nn_gmp_forward(float *out, const float *in, int B, int C, int HW);
void nn_gmp_backward_write(float *din, const float *dout, const float *in, int B, int C, int HW);

/* Dense: out[B][OUT] = in[B][IN] . w^T + b, w is [OUT][IN] (PyTorch layout), b [OUT]. */
void nn_dense_forward(float *out, const float *in, const float *w, const float *b, int B, int IN,
                      int OUT);
void nn_dense_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                       const float *w, int B, int IN, int OUT);

/* ReLU: out may equal in (in place). Backward uses the forward output (out > 0 <=> in > 0). */
void nn_relu_forward(float *out, const float *in, size_t N);
void nn_relu_backward(float *din, const float *dout, const float *out, size_t N);

/* Inverted dropout with rate p: out = in * mask, mask[i] in {0, 1/(1-p)}. The mask of row b
 * (D = per-sample size) is drawn from h19_rng keyed by (seed', H19_RNG_DROPOUT, repeat, fold,
 * epoch, sample[b]) where seed' = nn_dropout_seed(seed, layer): it depends on the sample and the
 * layer, never on the rank or batch position. out may equal in. mask is [B][D] caller storage. */
uint64_t nn_dropout_seed(uint64_t seed, int layer);
void nn_dropout_forward(float *out, float *mask, const float *in, float p, uint64_t seed,
                        uint32_t repeat, uint32_t fold, uint32_t epoch, const int *sample, int B,
                        int D);
void nn_dropout_backward(float *din, const float *dout, const float *mask, size_t N);

/* Softmax + cross-entropy. prob [B][K] from logits [B][K]; returns the summed loss over the
 * batch (natural log; caller divides). Backward adds (prob - onehot(y)) * scale into dlogits
 * (scale = 1 / global batch size for a mean loss). */
double nn_softmax_ce_forward(float *prob, const float *logits, const int *y, int B, int K);
void nn_softmax_ce_backward(float *dlogits, const float *prob, const int *y, float scale, int B,
                            int K);
/* Sigmoid + binary cross-entropy (one logit per sample, y in {0,1}); returns the summed loss. */
double nn_sigmoid_bce_forward(float *prob, const float *logits, const int *y, int B);
void nn_sigmoid_bce_backward(float *dlogits, const float *prob, const int *y, float scale, int B);

/* ---- threads (also used outside the nn kernels, e.g. by hust19 synth) --------------------------- */

/* Threads for the nn kernels: OpenBLAS's current count (>= 1). */
int nn_threads(void);

/* Run fn(ctx, lo, hi, part) over the nt static parts of [0, n) (part t = [n t/nt, n (t+1)/nt))
 * on nt threads, the caller being one of them; returns when all parts are done. fn must give the
 * parts disjoint outputs. Element-wise loops use it only from NN_PAR_MIN elements. */
typedef void (*nn_par_fn)(void *ctx, long lo, long hi, int part);
void nn_par(int nt, long n, nn_par_fn fn, void *ctx);

/* ---- sequential networks ---------------------------------------------------------------------- */

typedef enum {
    NN_CONV3 = 1,      /* n = filters */
    NN_MAXPOOL2 = 2,
    NN_DENSE = 3,      /* n = units; flattens a CHW input */
    NN_RELU = 4,
    NN_DROPOUT = 5,    /* p = rate */
    NN_SOFTMAX_CE = 6, /* loss head; must be last, after a dense with >= 2 units */
    NN_SIGMOID_BCE = 7, /* loss head; must be last, after a dense with 1 unit */
    NN_GAP = 8,         /* global average pooling: [C][H][W] -> [C][1][1] */
    NN_GMP = 9          /* global max pooling: [C][H][W] -> [C][1][1] */
} nn_kind;

typedef struct {
    nn_kind kind;
    int n;   /* filters or units */
    float p; /* dropout rate */
} nn_layer_spec;

#define NN_CONV3_(k) ((nn_layer_spec){NN_CONV3, (k), 0.0f})
#define NN_POOL2_ ((nn_layer_spec){NN_MAXPOOL2, 0, 0.0f})
#define NN_DENSE_(u) ((nn_layer_spec){NN_DENSE, (u), 0.0f})
#define NN_GAP_ ((nn_layer_spec){NN_GAP, 0, 0.0f})
#define NN_GMP_ ((nn_layer_spec){NN_GMP, 0, 0.0f})
#define NN_RELU_ ((nn_layer_spec){NN_RELU, 0, 0.0f})
#define NN_DROPOUT_(r) ((nn_layer_spec){NN_DROPOUT, 0, (r)})
#define NN_SOFTMAX_CE_ ((nn_layer_spec){NN_SOFTMAX_CE, 0, 0.0f})
#define NN_SIGMOID_BCE_ ((nn_layer_spec){NN_SIGMOID_BCE, 0, 0.0f})

/* One built layer. Shapes are per sample. Offsets index net->params/grads/m/v (SIZE_MAX = none). */
typedef struct {
    nn_layer_spec spec;
    int C, H, W;    /* input shape */
    int OC, OH, OW; /* output shape */
    size_t w_off, w_n, b_off, b_n;
    int inplace;    /* output aliases the input buffer (ReLU, dropout) */
    float *out;     /* [max_batch][OC*OH*OW], owned by net (or aliased) */
    float *mask;    /* dropout mask [max_batch][D] */
} nn_layer;

typedef struct {
    int nlayers;
    nn_layer *layers;
    int C, H, W;      /* input shape */
    int nout;         /* outputs per sample (classes, or 1 for sigmoid) */
    int head;         /* NN_SOFTMAX_CE or NN_SIGMOID_BCE */
    size_t nparams;
    float *params;    /* [nparams] the one parameter buffer */
    float *grads;     /* [nparams] */
    float *m, *v;     /* [nparams] Adam moments */
    int max_batch;    /* activation buffers are sized for this many samples */
    float *gbuf[2];   /* backward ping-pong buffers, each max activation size * max_batch */
    float *col;       /* convolution scratch, sized for col_threads threads */
    int col_threads;
    size_t act_max;   /* largest per-sample activation (floats) */
    long step;        /* Adam steps taken */
    double *prof;     /* NULL, or [2*nlayers] seconds spent in each layer's forward (2l) and
                         backward (2l+1), accumulated (benchmarks); caller storage. In nn_predict
                         of a net with convolutions a convolution's time includes the ReLU and
                         pooling fused into it (their own entries stay 0) */
    struct nn_infer_ws *infer; /* nn_predict's workspace (made on first use, owned by the net) */
} nn_net;

/* Build a network for input C x H x W from n layer specs; max_batch sizes the activation buffers
 * (forward/backward take at most that many samples). Parameters are zeroed: call nn_net_init.
 * *out is owned by the caller: nn_net_free. Errors: H19_EARG (bad spec, naming the layer). */
int nn_net_create(nn_net **out, int C, int H, int W, const nn_layer_spec *spec, int n, int max_batch);
void nn_net_free(nn_net *net);
/* Change max_batch (reallocates activations). */
int nn_net_set_max_batch(nn_net *net, int max_batch);
int nn_net_nout(const nn_net *net);
/* Per-sample input size C*H*W. */
int nn_net_nin(const nn_net *net);
/* He-normal init (std sqrt(2/fan_in)) for layers followed by ReLU, Glorot-uniform otherwise;
 * biases 0. Weights of layer l drawn from h19_rng keyed (seed, H19_RNG_INIT, repeat, fold, 0, l).
 * Resets grads, Adam moments and step. */
void nn_net_init(nn_net *net, uint64_t seed, uint32_t repeat, uint32_t fold);
/* PyTorch's default init (torch.nn.Conv2d / Linear reset_parameters): weights and biases of every
 * layer U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (variance 1/(3 fan_in), a sixth of He-normal's), from
 * the same keyed streams (biases from sub-stream 1). Resets grads, Adam moments and step. */
void nn_net_init_uniform(nn_net *net, uint64_t seed, uint32_t repeat, uint32_t fold);

/* Dropout context for a training forward pass; NULL = inference (dropout is the identity). */
typedef struct {
    uint64_t seed;
    uint32_t repeat, fold, epoch;
    const int *sample; /* [B] global sample index of each row */
    float rate_override; /* < 0: use each layer's own rate */
} nn_drop_ctx;

/* Forward B <= max_batch samples (x [B][nin]). Returns a pointer to the head's probabilities
 * [B][nout] (borrowed, valid until the next call). If y != NULL and loss != NULL, *loss = summed
 * loss over the batch. */
const float *nn_forward(nn_net *net, const float *x, const int *y, int B, const nn_drop_ctx *drop,
                        double *loss);
/* Backward after nn_forward(training) for the same batch: ADDS d(scale * summed loss)/dparams
 * into net->grads. */
void nn_backward(nn_net *net, const float *x, const int *y, int B, float scale);

/* ---- optimiser -------------------------------------------------------------------------------- */

/* One Adam step (Keras 2.2 form: lr_t = lr * sqrt(1 - b2^t) / (1 - b1^t);
 * p -= lr_t * m / (sqrt(v) + eps)) over all parameters with gradient net->grads. l2 > 0 adds
 * l2 * w to the gradient of conv/dense weights (not biases) first. Increments net->step. */
void nn_adam_step(nn_net *net, float lr, float beta1, float beta2, float eps, float l2);
/* The paper's per-epoch decay (equation 10): lr_i = lr / (1 + d * i), epoch i from 0. */
float nn_lr_at_epoch(float lr, float decay, int epoch);

/* ---- training --------------------------------------------------------------------------------- */

/* Early-stopping criterion on the validation set, evaluated after every epoch; the epoch with the
 * strictly best value keeps its weights. With class_weight = NN_CW_BALANCED every criterion weighs
 * the classes equally: accuracy becomes the balanced accuracy (mean per-class recall), the loss the
 * mean over classes of the per-class mean cross-entropy. AUC: binary ROC AUC (exact with ties,
 * ev_auc), or the mean one-vs-rest AUC for K > 2 (class-size independent by construction). */
typedef enum { NN_STOP_ACCURACY = 0, NN_STOP_LOSS = 1, NN_STOP_AUC = 2 } nn_early_stop;
typedef enum { NN_CW_NONE = 0, NN_CW_BALANCED = 1 } nn_class_weight;

typedef struct {
    int epochs;         /* maximum epochs */
    int batch;          /* global batch size */
    int micro_batch;    /* fixed micro-batch (0 = batch); must not depend on the rank count */
    float lr, decay;    /* Adam initial rate and per-epoch decay d */
    float beta1, beta2, eps;
    float l2;           /* L2 weight decay on weights, 0 = none */
    float dropout;      /* < 0: the layers' own rates; else override every dropout layer */
    int patience;       /* early stop after this many epochs without a better validation
                           criterion (0 = never stop early; without a validation set: no early stop) */
    int early_stop;     /* the validation criterion (nn_early_stop): NN_STOP_ACCURACY (default,
                           the paper's "validation Ac stops rising"), NN_STOP_LOSS, NN_STOP_AUC */
    int class_weight;   /* NN_CW_NONE (default) or NN_CW_BALANCED: each class's loss weighted by
                           n / (K n_k) of the training labels (scikit-learn's "balanced") */
    int fixed_bits;     /* fixed-point fraction bits of the gradient sum (default 40) */
    int average_from;   /* 0 = off; E >= 1: the kept weights are the mean of the weights after epochs
                           E, E+1, ..., the last (tail averaging; replaces the best-epoch selection, a
                           validation set still drives patience; stopped before E: the last weights) */
    const char *ckpt_path; /* NULL = no checkpoints; else resume from it if it exists, write it
                              at every epoch end and when a stop is requested (borrowed) */
    uint64_t ckpt_salt;    /* mixed into the hash a checkpoint must match when non-zero: the caller's
                              settings that change the training data or the initial weights (default 0) */
    /* Optional per-step callback (logging, tests): return non-zero to request a stop as if
     * a signal had arrived. */
    int (*on_step)(void *user, long step, int epoch, double loss);
    void *user;
} nn_hyper;

/* Keras defaults: epochs 100, batch 32, lr 1e-3, decay 0, beta1 0.9, beta2 0.999, eps 1e-7,
 * l2 0, dropout -1, patience 0, fixed_bits 40, micro_batch 0, early_stop accuracy, class_weight none. */
nn_hyper nn_hyper_default(void);

typedef struct {
    uint64_t seed;
    uint32_t repeat, fold;
} nn_key;

typedef struct {
    int epochs_run;     /* epochs completed */
    int best_epoch;     /* epoch (0-based) whose weights were kept, -1 if none selected */
    double best_val_acc;/* validation accuracy (plain) of the kept weights (NaN without validation) */
    double best_val;    /* the early-stopping criterion of the kept weights: accuracy (balanced with
                           class weights), loss (lower is better) or AUC; NaN without validation */
    double last_loss;   /* mean training loss of the last epoch */
    long steps;         /* Adam steps taken in total */
    int stopped;        /* 1 if stopped by a stop request (status H19_ESTOP) */
    int averaged;       /* epochs whose weights were averaged into the kept ones (h->average_from) */
} nn_fit_result;

/* Train net on X [n][nin] with labels y [n] (class index for softmax, 0/1 for sigmoid). Xval/yval
 * (nval, may be 0/NULL) drive early stopping on h->early_stop; the best weights are kept.
 * Class weights (h->class_weight) are applied by running each micro-batch's rows class by class
 * (the layers are per-sample, so this is the weighted loss exactly, up to float summation order).
 * comm: the data-parallel group (MPI_COMM_SELF or MPI not initialised = local). Every rank of comm
 * must pass the same arguments and data; each computes the micro-batches j with j % size == rank
 * and the fixed-point sum is reduced with one MPI_Allreduce per step.
 * The net must have been initialised (nn_net_init) unless a checkpoint is resumed. For nets
 * without convolutions and < 2^20 parameters, OpenBLAS runs on one thread during the call
 * (restored on return; the caller must not run BLAS concurrently from other threads).
 * Returns H19_OK, H19_ESTOP (stop requested: checkpoint written if ckpt_path), H19_EARG,
 * H19_ESTATE (training diverged: NaN or fixed-point overflow), H19_EIO/H19_EFORMAT (checkpoint),
 * H19_EMPI, H19_ENOMEM. X, y, Xval, yval are borrowed. */
int nn_fit(nn_net *net, const nn_hyper *h, nn_key key, const float *X, const int *y, int n,
           const float *Xval, const int *yval, int nval, MPI_Comm comm, nn_fit_result *res);

/* Probabilities [n][nout] for n samples, in batches of max_batch, without dropout. With a
 * communicator of size > 1 the batches are split over ranks and gathered (every rank gets all).
 * Nets with convolutions run sample by sample with the ReLU/pooling fused (nn_infer.c, docs/nn.md
 * "Performance"), bit-identical to nn_forward on the same batches; the workspace is kept in the net. */
int nn_predict(nn_net *net, const float *X, int n, float *prob, MPI_Comm comm);
/* Accuracy of prob [n][nout] against y (argmax, or p >= 0.5 for one output). */
double nn_accuracy(const float *prob, const int *y, int n, int nout);

/* ---- checkpoints and weights ------------------------------------------------------------------ */

/* Training state saved by nn_fit (see docs/nn.md for the file format "H19NNCKP" version 1). */
typedef struct {
    long step;
    int epoch, batch_pos; /* next batch to run: epoch, index of the batch within the epoch */
    int best_epoch, wait; /* epoch of the best validation criterion (-1 none); epochs since */
    int done;             /* training finished (all epochs or early stop): resume returns at once */
    double best_acc;      /* best validation criterion as a score, higher is better: accuracy,
                             -loss or AUC (h->early_stop; -1 none) */
    double last_loss;     /* mean training loss of the last complete epoch */
    double epoch_loss;    /* summed loss of the batches run so far in the current epoch */
    uint64_t hyper_hash;  /* hash of (key, batch, micro_batch, lr, decay, ...) that must match */
    float *best;          /* [nparams] best weights so far (caller storage) */
} nn_ckpt_state;

/* Write params, m, v and the state atomically (path.tmp.<pid>, fsync, rename). */
int nn_ckpt_write(const char *path, const nn_net *net, const nn_ckpt_state *st);
/* Read into net (which must have the same architecture: checked) and st; st->best must point to
 * nparams floats. A missing file is H19_EIO; another format version or a corrupt file H19_EFORMAT. */
int nn_ckpt_read(const char *path, nn_net *net, nn_ckpt_state *st);

/* Raw little-endian float32 parameter dump (for the PyTorch parity test): exactly nparams floats. */
int nn_params_save_raw(const nn_net *net, const char *path);
int nn_params_load_raw(nn_net *net, const char *path);

/* ---- model YAML ------------------------------------------------------------------------------- */

/* Load a model file (configs/models/<name>.yaml, format in docs/nn.md). input_override > 0 replaces a
 * dense input size given as 0 ("the number of CFs, given at build time"); classes_override > 0
 * replaces the output width (1 = sigmoid head, >= 2 = softmax head). Unknown keys are errors.
 * *spec is owned by the caller (free()). If h != NULL the optional "train:" section fills it
 * (starting from nn_hyper_default()). */
int nn_model_load(const char *path, int input_override, int classes_override, int *C, int *H, int *W,
                  nn_layer_spec **spec, int *nspec, nn_hyper *h);

/* Read the training section keys of a job/model YAML map into h (strict: unknown keys are
 * errors at cfg_check_unused). Keys: epochs, batch, micro_batch, lr, decay, beta1, beta2, eps, l2,
 * dropout, patience, fixed_bits, early_stop (accuracy | loss | auc), class_weight (none | balanced),
 * average_from. */
int nn_hyper_read(cfg_doc *d, cfg_node *map, nn_hyper *h);

#endif
