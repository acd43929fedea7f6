/* train_slice.c — `hust19 train slice-cnn`: the slice CNN of Ning et al. 2020 (Methods, "CNN") on
 * the archive's labelled slices, data-parallel over MPI_COMM_WORLD (include/hust19/stage_cnn.h,
 * docs/training.md). */
#include "hust19/stage_cnn.h"
#include "hust19/archive.h"
#include "hust19/ct.h"
#include "hust19/dist.h"
#include "hust19/err.h"
#include "hust19/ev.h"
#include "hust19/h5io.h"
#include "hust19/ingest.h"
#include "hust19/log.h"
#include "hust19/rng.h"
#include "train_slice_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *const sc_class_names[SC_NCLASS] = {"NiCT", "pCT", "nCT"};

/* job.c marks the whole slice_cnn: subtree as read (it belongs to this stage); clear the marks so
 * that cfg_check_unused reports a misspelt key here. */
static void unmark(cfg_node *n)
{
    if (!n || n->kind == CFG_SCALAR) return;
    for (int i = 0; i < n->n; i++) {
        if (n->kind == CFG_MAP) n->used[i] = 0;
        unmark(n->items[i]);
    }
}

int sc_opts_parse(h19_job *job, sc_opts *o)
{
    memset(o, 0, sizeof *o);
    cfg_doc *d = &job->doc;
    int rc = H19_OK;
    cfg_node *sec = cfg_peek(d->root, "slice_cnn");
    unmark(sec);
    sec = cfg_map(d, d->root, "slice_cnn", 0, &rc);
    if (rc) return rc;
    H19_TRY(cfg_str(d, sec, "model", "configs/models/slice_cnn.yaml", 0, &o->model_path));
    H19_TRY(cfg_double(d, sec, "test_fraction", 0.1, 0.01, 0.5, &o->test_fraction));
    H19_TRY(cfg_double(d, sec, "val_fraction", 0.1, 0.0, 0.5, &o->val_fraction));
    H19_TRY(cfg_int(d, sec, "max_train_slices", 0, 0, 1L << 40, &o->max_train_slices));
    H19_TRY(cfg_int(d, sec, "infer_chunk", 64, 1, 1 << 20, &o->infer_chunk));
    H19_TRY(cfg_bool(d, sec, "flip", false, &o->flip));
    /* split: patient (no patient in two parts) or slice (the paper's protocol); input: u8 (x / 255)
     * or lung (lung-centred, clipped; docs/training.md); init: he (He-normal, biases 0) or uniform
     * (PyTorch's default) */
    static const char *const splits[] = {"patient", "slice", NULL}, *const inits[] = {"he", "uniform", NULL};
    int e = 0;
    H19_TRY(cfg_enum(d, sec, "split", splits, 0, &e));
    o->split_patients = e == 0;
    H19_TRY(cfg_bool(d, sec, "flip_test", false, &o->flip_test));
    H19_TRY(cfg_enum(d, sec, "input", sc_input_names, SC_INPUT_U8, &o->input));
    H19_TRY(cfg_enum(d, sec, "init", inits, 0, &e));
    o->init_uniform = e == 1;
    const char *ck = NULL, *mo = NULL, *sc = NULL;
    H19_TRY(cfg_str(d, sec, "checkpoint", NULL, 0, &ck));
    H19_TRY(cfg_str(d, sec, "model_out", NULL, 0, &mo));
    H19_TRY(cfg_str(d, sec, "scores_out", NULL, 0, &sc));
    snprintf(o->ckpt, sizeof o->ckpt, "%s", ck ? ck : "");
    if (!ck) snprintf(o->ckpt, sizeof o->ckpt, "%s/slice_cnn.ckpt", job->outdir);
    if (mo) snprintf(o->model_out, sizeof o->model_out, "%s", mo);
    else snprintf(o->model_out, sizeof o->model_out, "%s/slice_cnn.h5", job->outdir);
    if (sc) snprintf(o->scores_out, sizeof o->scores_out, "%s", sc);
    else snprintf(o->scores_out, sizeof o->scores_out, "%s/slice_scores.h5", job->outdir);
    snprintf(o->metrics_out, sizeof o->metrics_out, "%s/slice_cnn_metrics.csv", job->outdir);
    snprintf(o->chunk_dir, sizeof o->chunk_dir, "%s/infer-chunks", job->outdir);

    o->hyper = nn_hyper_default();
    rc = nn_model_load(o->model_path, 0, SC_NCLASS, &o->C, &o->H, &o->W, &o->spec, &o->nspec, &o->hyper);
    if (rc) return h19_fail_ctx(rc, "slice_cnn.model: ");
    if (o->C != 1 || o->H < 1 || o->W < 1 || CT_OUT % o->H || CT_OUT % o->W) {
        rc = cfg_error(d, sec ? sec : d->root, "%s: input [%d, %d, %d]: the slice CNN takes [1, H, W] with H and W "
                                              "dividing %d", o->model_path, o->C, o->H, o->W, CT_OUT);
        sc_opts_free(o);
        return rc;
    }
    size_t ntext = 0;
    rc = h19_read_file(o->model_path, &o->model_text, &ntext);
    if (!rc) rc = nn_hyper_read(d, sec, &o->hyper);
    if (!rc) rc = cfg_check_unused(d);
    if (rc) sc_opts_free(o);
    return rc;
}

void sc_opts_free(sc_opts *o)
{
    free(o->spec);
    free(o->model_text);
    o->spec = NULL;
    o->model_text = NULL;
}

/* The items i with y[i] == k in their seeded order: h19_rng keyed (seed, H19_RNG_SPLIT, stream, 0, 0,
 * k). Stream 0: the slices of class k; stream 1: the patients of stratum k (sc_split_patients). */
static int class_members(const int *y, int n, int k, uint64_t seed, uint32_t stream, int *members)
{
    int m = 0;
    for (int i = 0; i < n; i++)
        if (y[i] == k) members[m++] = i;
    h19_rng r;
    h19_rng_init(&r, seed, H19_RNG_SPLIT, stream, 0, 0, (uint32_t)k);
    h19_rng_shuffle(&r, members, m);
    return m;
}

/* Deal m shuffled members out: the first round(tf m) to test (2), the next round(vf (m - test)) to
 * validation (1), the rest to training (0). */
static void deal(const int *members, int m, double tf, double vf, int *dest)
{
    int nt = (int)lround(tf * m);
    int nv = (int)lround(vf * (m - nt));
    for (int j = 0; j < m; j++) dest[members[j]] = j < nt ? 2 : j < nt + nv ? 1 : 0;
}

/* Cut the training part (part[i] == 0) to max_train slices, per class in proportion (largest
 * remainders, ties to the lower class), and within a class the first ones of its shuffled order
 * (h19_rng keyed (seed, H19_RNG_SPLIT, 0, 0, 0, k)); the others become -1. */
static void cap_train(const int *y, int n, uint64_t seed, long max_train, int *part, int *members)
{
    long ntrain_all = 0, ntrain_k[SC_NCLASS] = {0};
    for (int i = 0; i < n; i++)
        if (part[i] == 0) ntrain_k[y[i]]++, ntrain_all++;
    if (max_train <= 0 || ntrain_all <= max_train) return;
    long keep[SC_NCLASS], left = max_train;
    double rem[SC_NCLASS];
    for (int k = 0; k < SC_NCLASS; k++) {
        double q = (double)max_train * (double)ntrain_k[k] / (double)ntrain_all;
        keep[k] = (long)floor(q);
        rem[k] = q - (double)keep[k];
        left -= keep[k];
    }
    while (left > 0) {
        int best = -1;
        for (int k = 0; k < SC_NCLASS; k++)
            if (keep[k] < ntrain_k[k] && (best < 0 || rem[k] > rem[best])) best = k;
        if (best < 0) break;
        keep[best]++;
        rem[best] = -1.0;
        left--;
    }
    for (int k = 0; k < SC_NCLASS; k++) {
        int m = class_members(y, n, k, seed, 0, members);
        long seen = 0;
        for (int j = 0; j < m; j++)
            if (part[members[j]] == 0 && seen++ >= keep[k]) part[members[j]] = -1;
    }
}

static int check_labels(const int *y, int n, int *part)
{
    if (n < 1) return h19_fail(H19_EARG, "sc_split: no labelled slices");
    for (int i = 0; i < n; i++) {
        if (y[i] < 0 || y[i] >= SC_NCLASS)
            return h19_fail(H19_EARG, "sc_split: label %d of slice %d is not a class", y[i], i);
        part[i] = 0;
    }
    return H19_OK;
}

int sc_split(const int *y, int n, uint64_t seed, double test_fraction, double val_fraction, long max_train,
             int *part)
{
    H19_TRY(check_labels(y, n, part));
    int *members = h19_malloc(sizeof(int) * (size_t)n);
    if (!members) return H19_ENOMEM;
    for (int k = 0; k < SC_NCLASS; k++) deal(members, class_members(y, n, k, seed, 0, members), test_fraction, val_fraction, part);
    cap_train(y, n, seed, max_train, part, members);
    free(members);
    return H19_OK;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, z = *(const int *)b;
    return (x > z) - (x < z);
}

int sc_split_patients(const int *y, const int *group, int n, uint64_t seed, double test_fraction,
                      double val_fraction, long max_train, int *part)
{
    H19_TRY(check_labels(y, n, part));
    int *ids = h19_malloc(sizeof(int) * (size_t)n), *members = h19_malloc(sizeof(int) * (size_t)n);
    int *gpart = h19_malloc(sizeof(int) * (size_t)n), *gpos = h19_calloc((size_t)n, sizeof(int));
    if (!ids || !members || !gpart || !gpos) {
        free(ids), free(members), free(gpart), free(gpos);
        return H19_ENOMEM;
    }
    memcpy(ids, group, sizeof(int) * (size_t)n);
    qsort(ids, (size_t)n, sizeof(int), cmp_int);
    int G = 0;
    for (int i = 0; i < n; i++)
        if (i == 0 || ids[i] != ids[i - 1]) ids[G++] = ids[i];
    /* gpos[g]: 1 if patient g has a pCT slice (the stratum), found by binary search */
    for (int i = 0; i < n; i++) {
        int *at = bsearch(&group[i], ids, (size_t)G, sizeof(int), cmp_int);
        if (y[i] == 1) gpos[at - ids] = 1;
    }
    for (int s = 0; s < 2; s++) deal(members, class_members(gpos, G, s, seed, 1, members), test_fraction, val_fraction, gpart);
    for (int i = 0; i < n; i++) {
        int *at = bsearch(&group[i], ids, (size_t)G, sizeof(int), cmp_int);
        part[i] = gpart[at - ids];
    }
    cap_train(y, n, seed, max_train, part, members);
    free(ids), free(members), free(gpart), free(gpos);
    return H19_OK;
}

void sc_normalise(float *out, const uint8_t *in, int64_t n, int H, int W)
{
    const int fy = CT_OUT / H, fx = CT_OUT / W;
    const float scale = 1.0f / (255.0f * (float)(fy * fx));
    for (int64_t s = 0; s < n; s++) {
        const uint8_t *src = in + (size_t)s * CT_OUT * CT_OUT;
        float *dst = out + (size_t)s * H * W;
        if (fy == 1 && fx == 1) {
            for (int i = 0; i < CT_OUT * CT_OUT; i++) dst[i] = (float)src[i] * scale;
            continue;
        }
        for (int r = 0; r < H; r++)
            for (int c = 0; c < W; c++) {
                unsigned sum = 0; /* exact integer block sum, then one rounding */
                for (int a = 0; a < fy; a++)
                    for (int b = 0; b < fx; b++) sum += src[(size_t)(r * fy + a) * CT_OUT + c * fx + b];
                dst[(size_t)r * W + c] = (float)sum * scale;
            }
    }
}

const char *const sc_input_names[] = {"u8", "lung", "lung_mask", NULL};

void sc_normalise_lung(float *out, const uint8_t *in, int64_t n, int H, int W, float outside)
{
    const int fy = CT_OUT / H, fx = CT_OUT / W;
    const float inv = 1.0f / (float)(fy * fx);
    for (int64_t s = 0; s < n; s++) {
        const uint8_t *src = in + (size_t)s * CT_OUT * CT_OUT;
        float *dst = out + (size_t)s * H * W;
        for (int r = 0; r < H; r++)
            for (int c = 0; c < W; c++) {
                unsigned sum = 0; /* exact integer block sum */
                for (int a = 0; a < fy; a++)
                    for (int b = 0; b < fx; b++) sum += src[(size_t)(r * fy + a) * CT_OUT + c * fx + b];
                float v = outside;
                if (sum > 0) {
                    v = ((float)sum * inv - SC_LUNG_GREY) / SC_LUNG_SCALE;
                    v = v < SC_LUNG_LO ? SC_LUNG_LO : v > SC_LUNG_HI ? SC_LUNG_HI : v;
                }
                dst[(size_t)r * W + c] = v;
            }
    }
}

/* Slices idx[0..n) (ascending) of the archive -> normalised floats X [n][H*W]. Neighbouring
 * indices are read as one hyperslab (one decompression of the chunks they share). */
/* dst[i] = the left-right mirror of src[i] for n slices [n][H][W] (dst != src). */
static void mirror_slices(const float *src, float *dst, int n, int H, int W)
{
    size_t nin = (size_t)H * W;
    for (size_t i = 0; i < (size_t)n; i++)
        for (int r = 0; r < H; r++)
            for (int c = 0; c < W; c++) dst[i * nin + (size_t)r * W + c] = src[i * nin + (size_t)r * W + (W - 1 - c)];
}

/* Left-right mirrors of n slices [n][H][W] written after them (X has room for 2n), labels copied:
 * a chest slice mirrored is still a chest slice of the same class (lesions, lungs and the NiCT
 * ends have no side), so the copies double the training set without new labels. */
void sc_append_mirrors(float *X, int *y, int n, int H, int W)
{
    mirror_slices(X, X + (size_t)n * H * W, n, H, W);
    for (int i = 0; i < n; i++) y[n + i] = y[i];
}

int sc_predict(nn_net *net, const float *X, int n, int H, int W, bool flip, float *prob, MPI_Comm comm)
{
    int rc = nn_predict(net, X, n, prob, comm);
    if (rc || !flip || n < 1) return rc;
    size_t nin = (size_t)H * W;
    float *M = h19_malloc(sizeof(float) * nin * (size_t)n), *q = h19_malloc(sizeof(float) * SC_NCLASS * (size_t)n);
    if (!M || !q) rc = H19_ENOMEM;
    if (!rc) mirror_slices(X, M, n, H, W);
    if (!rc) rc = nn_predict(net, M, n, q, comm);
    for (int i = 0; !rc && i < n * SC_NCLASS; i++) prob[i] = 0.5f * (prob[i] + q[i]);
    free(M);
    free(q);
    return rc;
}

int sc_load_slices(h5_file *f, const int64_t *idx, int64_t n, int H, int W, int input, float *X)
{
    enum { RUN = 64 };
    uint8_t *buf = h19_malloc((size_t)RUN * CT_OUT * CT_OUT);
    if (!buf) return H19_ENOMEM;
    int rc = H19_OK;
    for (int64_t i = 0; i < n && !rc;) {
        int64_t j = i + 1;
        while (j < n && idx[j] - idx[i] < RUN) j++;
        int64_t first = idx[i], span = idx[j - 1] - first + 1;
        rc = ct_archive_read_slices(f, first, span, buf);
        for (int64_t k = i; k < j && !rc; k++) {
            const uint8_t *sl = buf + (size_t)(idx[k] - first) * CT_OUT * CT_OUT;
            if (input != SC_INPUT_U8)
                sc_normalise_lung(X + (size_t)k * H * W, sl, 1, H, W, input == SC_INPUT_LUNG_MASK ? SC_LUNG_OUT : 0.0f);
            else sc_normalise(X + (size_t)k * H * W, sl, 1, H, W);
        }
        i = j;
    }
    free(buf);
    return rc;
}

double sc_cpu_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

double sc_wall_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

uint64_t sc_params_hash(const nn_net *net)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ (uint64_t)net->nparams;
    const uint32_t *w = (const uint32_t *)(const void *)net->params;
    for (size_t i = 0; i < net->nparams; i++) h = h19_mix64(h ^ w[i]);
    return h;
}

/* The model file: /params [nparams] f32 plus the model YAML text, so that inference rebuilds the
 * same architecture and refuses a changed model file. Rank 0 writes (atomic: h5_create/h5_commit). */
static int model_write(const sc_opts *o, const nn_net *net, const nn_fit_result *fr, uint64_t seed,
                       const int64_t *lab, const int *part, int64_t nlab)
{
    h5_file f;
    H19_TRY(h5_create(&f, o->model_out, MPI_COMM_SELF, SC_MODEL_KIND, SC_MODEL_VERSION));
    int64_t np = (int64_t)net->nparams;
    int8_t *p8 = h19_malloc((size_t)nlab);
    if (!p8) {
        h5_abort(&f);
        return H19_ENOMEM;
    }
    for (int64_t i = 0; i < nlab; i++) p8[i] = (int8_t)part[i];
    int rc = h5_write(&f, "/params", H5T_NATIVE_FLOAT, 1, &np, 0, np, net->params, 0);
    /* the split, so later stages (and readers) know which slices were held out */
    if (!rc) rc = h5_ensure_group(&f, "/split");
    if (!rc) rc = h5_write(&f, "/split/slice", H5T_NATIVE_INT64, 1, &nlab, 0, nlab, lab, 0);
    if (!rc) rc = h5_write(&f, "/split/part", H5T_NATIVE_INT8, 1, &nlab, 0, nlab, p8, 0);
    free(p8);
    if (!rc) rc = h5_attr_str(&f, "", "model", o->model_path);
    if (!rc) rc = h5_attr_str(&f, "", "model_text", o->model_text);
    if (!rc) rc = h5_attr_str(&f, "", "input", sc_input_names[o->input]);
    if (!rc) rc = h5_attr_i64(&f, "", "nparams", np);
    if (!rc) rc = h5_attr_i64(&f, "", "seed", (int64_t)seed);
    if (!rc) rc = h5_attr_i64(&f, "", "epochs_run", fr->epochs_run);
    if (!rc) rc = h5_attr_i64(&f, "", "best_epoch", fr->best_epoch);
    if (!rc) rc = h5_attr_i64(&f, "", "averaged_epochs", fr->averaged);
    if (!rc) rc = h5_attr_i64(&f, "", "steps", fr->steps);
    if (!rc) rc = h5_attr_str(&f, "", "classes", "NiCT,pCT,nCT");
    if (rc) {
        h5_abort(&f);
        return rc;
    }
    return h5_commit(&f);
}

int sc_model_read(const sc_opts *o, nn_net *net)
{
    h5_file f;
    int rc = h5_open(&f, o->model_out, MPI_COMM_SELF, SC_MODEL_KIND, SC_MODEL_VERSION);
    if (rc == H19_EIO)
        return h19_fail(H19_ESTATE, "%s: no trained slice CNN: run 'hust19 train slice-cnn' first", o->model_out);
    if (rc) return rc;
    char *text = NULL;
    float *p = NULL;
    int nd;
    int64_t dims[4];
    rc = h5_read_attr_str(&f, "", "model_text", &text);
    if (!rc && strcmp(text, o->model_text) != 0)
        rc = h19_fail(H19_ESTATE, "%s: trained with another version of %s: retrain ('hust19 train slice-cnn')",
                      o->model_out, o->model_path);
    /* models written before slice_cnn.input existed have no attribute: u8 */
    if (!rc && H5Aexists(f.fid, "input") > 0) {
        char *in = NULL;
        rc = h5_read_attr_str(&f, "", "input", &in);
        if (!rc && strcmp(in, sc_input_names[o->input]) != 0)
            rc = h19_fail(H19_ESTATE, "%s: trained with slice_cnn.input: %s, the job says %s", o->model_out, in,
                          sc_input_names[o->input]);
        free(in);
    } else if (!rc && o->input != SC_INPUT_U8)
        rc = h19_fail(H19_ESTATE, "%s: trained with slice_cnn.input: u8, the job says %s", o->model_out,
                      sc_input_names[o->input]);
    if (!rc) rc = h5_read(&f, "/params", H5T_NATIVE_FLOAT, &nd, dims, (void **)&p);
    if (!rc && (nd != 1 || dims[0] != (int64_t)net->nparams))
        rc = h19_fail(H19_EFORMAT, "%s: /params has %lld values, the model %zu", o->model_out, (long long)dims[0],
                      net->nparams);
    if (!rc) memcpy(net->params, p, sizeof(float) * net->nparams);
    free(p);
    free(text);
    h5_close(&f);
    return rc;
}

/* Per-step callback: counts the steps of this run (for the rate) and, in test mode
 * (HUST19_STOP_AFTER_STEPS=N), requests a stop right after global step N, as a signal would. */
typedef struct {
    long steps_run, samples_run, stop_after;
    int n, batch;
} step_ctx;

static int on_step(void *user, long step, int epoch, double loss)
{
    step_ctx *s = user;
    (void)epoch;
    int nb = (s->n + s->batch - 1) / s->batch;
    long b = (step - 1) % nb; /* every epoch has nb batches, the last one smaller */
    s->samples_run += b == nb - 1 ? s->n - (long)b * s->batch : s->batch;
    s->steps_run++;
    LOG_DEBUG("slice-cnn: step %ld epoch %d loss %.5f", step, epoch, loss);
    return s->stop_after > 0 && step == s->stop_after;
}

int sc_meta_open(h19_job *job, h5_file *f, ct_archive_meta *m)
{
    int rc = h5_open(f, job->archive, MPI_COMM_SELF, H19_ARCHIVE_KIND, H19_ARCHIVE_VERSION);
    if (rc == H19_EIO) return h19_fail(H19_ESTATE, "%s: no archive: run 'hust19 ingest %s' first", job->archive, job->file);
    if (rc) return rc;
    rc = ct_archive_read_meta(f, m);
    if (!rc && m->n == 0)
        rc = h19_fail(H19_ESTATE, "%s: the archive has no CT slices (ingest with a ct: section)", job->archive);
    if (rc) h5_close(f);
    return rc;
}

static int write_metrics(const sc_opts *o, const sc_train_result *r)
{
    size_t cap = 8192, len = 0;
    char *buf = h19_malloc(cap);
    if (!buf) return H19_ENOMEM;
#define PUT(...) len += (size_t)snprintf(buf + len, cap - len, __VA_ARGS__)
    PUT("metric,class,predicted,value\n");
    PUT("n_train,all,,%d\nn_val,all,,%d\nn_test,all,,%d\n", r->ntrain, r->nval, r->ntest);
    PUT("epochs_run,all,,%d\nbest_epoch,all,,%d\n", r->fit.epochs_run, r->fit.best_epoch);
    if (o->hyper.average_from > 0) PUT("averaged_epochs,all,,%d\n", r->fit.averaged);
    PUT("test_accuracy,all,,%.6f\n", r->accuracy);
    for (int k = 0; k < SC_NCLASS; k++) PUT("test_auc_ovr,%s,,%.6f\n", sc_class_names[k], r->auc[k]);
    for (int t = 0; t < SC_NCLASS; t++)
        for (int p = 0; p < SC_NCLASS; p++)
            PUT("confusion,%s,%s,%ld\n", sc_class_names[t], sc_class_names[p], r->cm[t * SC_NCLASS + p]);
#undef PUT
    int rc = h19_write_atomic(o->metrics_out, buf, len);
    free(buf);
    return rc;
}

/* The report fragment (hust19 report inlines <outdir>/slice_cnn.html and its SVGs): held-out ROC
 * curves of each class vs the rest, the confusion matrix, the split sizes. Rank 0. */
static int write_html(const char *outdir, const sc_opts *o, const sc_train_result *r, const double *pd,
                      const int *y, int n)
{
    char path[1200];
    ev_roc_curve cur[SC_NCLASS];
    double *fpr[SC_NCLASS] = {NULL}, *tpr[SC_NCLASS] = {NULL}, *thr[SC_NCLASS] = {NULL};
    int ncur = 0, rc = H19_OK;
    int *yk = h19_malloc(sizeof(int) * (size_t)n);
    double *col = h19_malloc(sizeof(double) * (size_t)n);
    if (!yk || !col) rc = H19_ENOMEM;
    for (int k = 0; k < SC_NCLASS && !rc; k++) {
        if (!(r->auc[k] >= 0)) continue; /* class absent from the test set (NaN) */
        for (int i = 0; i < n; i++) {
            yk[i] = y[i] == k;
            col[i] = pd[(size_t)i * SC_NCLASS + k];
        }
        int np = 0;
        rc = ev_roc(col, yk, n, &fpr[ncur], &tpr[ncur], &thr[ncur], &np);
        if (!rc) cur[ncur] = (ev_roc_curve){sc_class_names[k], fpr[ncur], tpr[ncur], np, r->auc[k], NAN, NAN};
        if (!rc) ncur++;
    }
    snprintf(path, sizeof path, "%s/slice_cnn_roc.svg", outdir);
    if (!rc && ncur) rc = ev_svg_roc(path, cur, ncur, "Slice CNN, held-out slices (one vs rest)");
    snprintf(path, sizeof path, "%s/slice_cnn_confusion.svg", outdir);
    if (!rc) rc = ev_svg_confusion(path, r->cm, SC_NCLASS, sc_class_names, "Slice CNN, held-out slices");
    char kept[160];
    if (r->fit.averaged > 0)
        snprintf(kept, sizeof kept, "the mean of the weights after epochs %d to %d kept", o->hyper.average_from,
                 r->fit.epochs_run);
    else if (r->fit.best_epoch >= 0)
        snprintf(kept, sizeof kept, "weights of epoch %d kept (best validation)", r->fit.best_epoch + 1);
    else
        snprintf(kept, sizeof kept, "weights of the last epoch kept");
    char html[4096];
    int len = snprintf(html, sizeof html,
                       "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Slice CNN</title></head><body>\n"
                       "<h1>Slice CNN</h1>\n<h2>Slice CNN (NiCT / pCT / nCT)</h2>\n"
                       "<p>Model %s; %d training, %d validation, %d held-out test slices (%s); "
                       "%d epochs, %s. Held-out accuracy %.4f.</p>\n"
                       "<table><tr><th>class</th><th>AUC (one vs rest)</th></tr>\n",
                       o->model_path, r->ntrain, r->nval, r->ntest,
                       o->split_patients ? "split by patient" : "stratified by class", r->fit.epochs_run, kept,
                       r->accuracy);
    for (int k = 0; k < SC_NCLASS; k++)
        len += snprintf(html + len, sizeof html - (size_t)len, "<tr><td>%s</td><td>%.4f</td></tr>\n", sc_class_names[k],
                        r->auc[k]);
    len += snprintf(html + len, sizeof html - (size_t)len, "</table>\n%s<img src=\"slice_cnn_confusion.svg\">\n</body></html>\n",
                    ncur ? "<img src=\"slice_cnn_roc.svg\">\n" : "");
    snprintf(path, sizeof path, "%s/slice_cnn.html", outdir);
    if (!rc) rc = h19_write_atomic(path, html, (size_t)len);
    for (int k = 0; k < ncur; k++) {
        free(fpr[k]);
        free(tpr[k]);
        free(thr[k]);
    }
    free(yk);
    free(col);
    return rc;
}

/* Held-out metrics: per-class one-vs-rest AUC (ev_ovr_auc when every class is present and absent,
 * else per class where defined) and the argmax confusion matrix. */
static int test_metrics(const float *prob, const int *y, int n, sc_train_result *r, const char *outdir,
                        const sc_opts *o)
{
    for (int k = 0; k < SC_NCLASS; k++) r->auc[k] = NAN;
    memset(r->cm, 0, sizeof r->cm);
    r->accuracy = NAN;
    if (n == 0) return H19_OK;
    double *pd = h19_malloc(sizeof(double) * (size_t)n * SC_NCLASS);
    int *yk = h19_malloc(sizeof(int) * (size_t)n);
    double *col = h19_malloc(sizeof(double) * (size_t)n);
    int rc = (!pd || !yk || !col) ? H19_ENOMEM : H19_OK;
    int cnt[SC_NCLASS] = {0};
    if (!rc) {
        for (size_t i = 0; i < (size_t)n * SC_NCLASS; i++) pd[i] = prob[i];
        for (int i = 0; i < n; i++) cnt[y[i]]++;
        int all = 1;
        for (int k = 0; k < SC_NCLASS; k++) all &= cnt[k] > 0 && cnt[k] < n;
        if (all) {
            rc = ev_ovr_auc(pd, y, n, SC_NCLASS, r->auc);
        } else {
            for (int k = 0; k < SC_NCLASS && !rc; k++) {
                if (!(cnt[k] > 0 && cnt[k] < n)) continue;
                for (int i = 0; i < n; i++) {
                    yk[i] = y[i] == k;
                    col[i] = pd[(size_t)i * SC_NCLASS + k];
                }
                rc = ev_auc(col, yk, n, &r->auc[k]);
            }
        }
    }
    if (!rc) rc = ev_confusion_argmax(pd, y, n, SC_NCLASS, r->cm);
    if (!rc) {
        long ok = 0;
        for (int k = 0; k < SC_NCLASS; k++) ok += r->cm[k * SC_NCLASS + k];
        r->accuracy = (double)ok / n;
    }
    if (!rc && dist_rank() == 0) rc = write_html(outdir, o, r, pd, y, n);
    free(pd);
    free(yk);
    free(col);
    return rc;
}

int sc_train(h19_job *job, sc_opts *o, sc_train_result *res)
{
    memset(res, 0, sizeof *res);
    h5_file f;
    ct_archive_meta m;
    memset(&m, 0, sizeof m);
    int rc = sc_meta_open(job, &f, &m);
    rc = dist_agree(rc);
    if (rc) return rc;

    int64_t nlab = 0;
    for (int64_t i = 0; i < m.n; i++) nlab += m.label[i] >= 0;
    int64_t *lab = NULL, *idx[3] = {NULL, NULL, NULL};
    int *ylab = NULL, *part = NULL, *gl = NULL, *ys[3] = {NULL, NULL, NULL};
    float *X[3] = {NULL, NULL, NULL}, *prob = NULL;
    int cnt[3] = {0, 0, 0};
    nn_net *net = NULL;
    if (nlab < 10 || nlab > 0x7fffffff)
        rc = h19_fail(H19_ESTATE, "%s: %lld labelled slices: the slice CNN needs at least 10 (a labels CSV in ct:)",
                      job->archive, (long long)nlab);
    if (!rc) {
        lab = h19_malloc(sizeof(int64_t) * (size_t)nlab);
        ylab = h19_malloc(sizeof(int) * (size_t)nlab);
        part = h19_malloc(sizeof(int) * (size_t)nlab);
        if (!lab || !ylab || !part) rc = H19_ENOMEM;
    }
    if (!rc) {
        int64_t j = 0;
        for (int64_t i = 0; i < m.n; i++)
            if (m.label[i] >= 0) {
                lab[j] = i;
                ylab[j++] = m.label[i];
            }
        if (!o->split_patients)
            rc = sc_split(ylab, (int)nlab, job->seed, o->test_fraction, o->val_fraction, o->max_train_slices, part);
        else if (!(gl = h19_malloc(sizeof(int) * (size_t)nlab)))
            rc = H19_ENOMEM;
        else {
            for (int64_t q = 0; q < nlab; q++) gl[q] = m.patient[lab[q]];
            rc = sc_split_patients(ylab, gl, (int)nlab, job->seed, o->test_fraction, o->val_fraction,
                                   o->max_train_slices, part);
        }
    }
    const size_t nin = (size_t)o->H * o->W;
    for (int s = 0; s < 3 && !rc; s++) {
        for (int64_t j = 0; j < nlab; j++) cnt[s] += part[j] == s;
        idx[s] = h19_malloc(sizeof(int64_t) * (size_t)(cnt[s] + 1));
        int copies = s == 0 && o->flip ? 2 : 1; /* room for the mirrored training slices */
        ys[s] = h19_malloc(sizeof(int) * (size_t)(copies * cnt[s] + 1));
        X[s] = h19_malloc(sizeof(float) * nin * (size_t)(copies * cnt[s] + 1));
        if (!idx[s] || !ys[s] || !X[s]) {
            rc = H19_ENOMEM;
            break;
        }
        int c = 0;
        for (int64_t j = 0; j < nlab; j++)
            if (part[j] == s) {
                idx[s][c] = lab[j];
                ys[s][c++] = ylab[j];
            }
        rc = sc_load_slices(&f, idx[s], cnt[s], o->H, o->W, o->input, X[s]);
        if (!rc && copies == 2) sc_append_mirrors(X[s], ys[s], cnt[s], o->H, o->W);
    }
    h5_close(&f);
    rc = dist_agree(rc);
    res->ntrain = cnt[0];
    res->nval = cnt[1];
    res->ntest = cnt[2];
    if (!rc && cnt[0] < 1) rc = h19_fail(H19_ESTATE, "slice-cnn: no training slices after the split");
    if (!rc) {
        LOG_INFO("slice-cnn: %lld labelled slices: %d train, %d validation, %d test (%s, %d ranks)", (long long)nlab,
                 cnt[0], cnt[1], cnt[2], o->model_path, dist_size());
        int mb = o->hyper.micro_batch > 0 ? o->hyper.micro_batch : o->hyper.batch;
        if (mb > o->hyper.batch) mb = o->hyper.batch;
        rc = nn_net_create(&net, o->C, o->H, o->W, o->spec, o->nspec, mb);
    }
    if (!rc) rc = job_make_outdir(job);
    int nfit = o->flip ? 2 * cnt[0] : cnt[0]; /* samples nn_fit trains on: slices, then their mirrors */
    step_ctx sctx = {0, 0, 0, nfit, o->hyper.batch};
    const char *env = getenv("HUST19_STOP_AFTER_STEPS");
    if (env && *env) sctx.stop_after = strtol(env, NULL, 10);
    if (!rc) {
        if (o->init_uniform) nn_net_init_uniform(net, job->seed, 0, 0);
        else nn_net_init(net, job->seed, 0, 0);
        nn_hyper h = o->hyper;
        h.ckpt_path = o->ckpt;
        /* a checkpoint of another input encoding or init is not resumed */
        h.ckpt_salt = (uint64_t)o->input * 0x1a9c0000ull ^ (o->init_uniform ? 0x11u : 0);
        h.on_step = on_step;
        h.user = &sctx;
        nn_key key = {job->seed, 0, 0};
        LOG_INFO("slice-cnn: %zu parameters; %zu bytes allreduced per step", net->nparams,
                 (net->nparams + 3) * sizeof(int64_t));
        double w0 = sc_wall_seconds(), c0 = sc_cpu_seconds();
        rc = nn_fit(net, &h, key, X[0], ys[0], nfit, X[1], ys[1], cnt[1], MPI_COMM_WORLD, &res->fit);
        res->seconds = sc_wall_seconds() - w0;
        res->cpu_seconds = sc_cpu_seconds() - c0;
        res->samples = sctx.samples_run;
        rc = dist_agree(rc); /* ESTOP stays ESTOP; a local failure becomes every rank's */
        double cpu_all = res->cpu_seconds;
        if (dist_size() > 1) MPI_Allreduce(MPI_IN_PLACE, &cpu_all, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
        if (sctx.steps_run > 0)
            LOG_INFO("slice-cnn: %ld steps, %ld samples in %.2f s: %.3f slices/s; CPU %.2f s over %d ranks: %.3f slices "
                     "per CPU-second", sctx.steps_run, sctx.samples_run, res->seconds, sctx.samples_run / res->seconds,
                     cpu_all, dist_size(), sctx.samples_run / cpu_all);
    }
    if (!rc) {
        int wrc = dist_rank() == 0 ? model_write(o, net, &res->fit, job->seed, lab, part, nlab) : H19_OK;
        rc = dist_agree(wrc);
    }
    if (!rc && cnt[2] > 0) {
        prob = h19_malloc(sizeof(float) * (size_t)cnt[2] * SC_NCLASS);
        rc = prob ? sc_predict(net, X[2], cnt[2], o->H, o->W, o->flip_test, prob, MPI_COMM_WORLD) : H19_ENOMEM;
        if (!rc) rc = test_metrics(prob, ys[2], cnt[2], res, job->outdir, o);
        rc = dist_agree(rc);
    }
    if (!rc) {
        int wrc = dist_rank() == 0 ? write_metrics(o, res) : H19_OK;
        rc = dist_agree(wrc);
    }
    if (!rc)
        LOG_INFO("slice-cnn: model %s; held-out AUC NiCT %.4f pCT %.4f nCT %.4f, accuracy %.4f (%s)", o->model_out,
                 res->auc[0], res->auc[1], res->auc[2], res->accuracy, o->metrics_out);
    nn_net_free(net);
    for (int s = 0; s < 3; s++) {
        free(idx[s]);
        free(ys[s]);
        free(X[s]);
    }
    free(prob);
    free(lab);
    free(ylab);
    free(part);
    free(gl);
    ct_archive_meta_free(&m);
    return rc;
}
