/* cv.c — cross-validation and cohort validation of the CF, CT and hybrid models (include/hust19/cv.h). */
#include "hust19/cv.h"
#include "hust19/dist.h"
#include "hust19/err.h"
#include "hust19/ev.h"
#include "hust19/log.h"
#include "hust19/plr.h"
#include "hust19/rng.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TASK_MAGIC "H19CVTK3"

void cv_set_free(cv_set *s)
{
    free(s->row);
    free(s->y);
    free(s->cohort);
    memset(s, 0, sizeof *s);
}

static int in_list(int v, const int *list, int n)
{
    for (int i = 0; i < n; i++)
        if (list[i] == v) return 1;
    return 0;
}

int cv_sets_build(const h19_job *job, const cf_archive *a, const int *cohorts, int ncoh, int outcome,
                  cv_set *s)
{
    memset(s, 0, sizeof *s);
    const cf_outcome *o = &job->outcomes[outcome];
    int n = a->d.n;
    int *y = h19_malloc(sizeof(int) * (size_t)n);
    if (!y) return H19_ENOMEM;
    int rc = cf_archive_labels(a, o, job->file, y);
    if (rc) { free(y); return rc; }
    s->outcome = outcome;
    s->K = o->nclass;
    s->row = h19_malloc(sizeof(int) * (size_t)n);
    s->y = h19_malloc(sizeof(int) * (size_t)n);
    s->cohort = h19_malloc(sizeof(int) * (size_t)n);
    if (!s->row || !s->y || !s->cohort) { free(y); cv_set_free(s); return H19_ENOMEM; }
    for (int i = 0; i < n; i++) {
        if (y[i] < 0) continue;
        if (ncoh > 0 && !in_list(a->cohort[i], cohorts, ncoh)) continue;
        s->row[s->n] = i;
        s->y[s->n] = y[i];
        s->cohort[s->n] = a->cohort[i];
        s->n++;
    }
    free(y);
    int count[16] = {0};
    for (int i = 0; i < s->n; i++) count[s->y[i]]++;
    for (int k = 0; k < s->K; k++)
        if (count[k] < 2) {
            rc = h19_fail(H19_EFORMAT, "outcome '%s': class '%s' has %d patients in cohorts selected by %s; "
                                       "at least 2 are needed",
                          o->name, o->class_name[k], count[k], job->file);
            cv_set_free(s);
            return rc;
        }
    return H19_OK;
}

/* ---- one task ---------------------------------------------------------------------------------- */

typedef struct {
    const h19_job *job;
    const cf_archive *a;
    const nn_hyper *h;
    nn_layer_spec *spec; /* the CF DNN, output set per outcome */
    int nspec;
    int C, H, W;
    const cf_norm_opts *norm; /* of the task's outcome */
    double lr_C;              /* of the task's outcome */
    const cv_ct *ct;          /* the patient CNN's inputs (NULL: no CT models) */
    nn_hyper pch;             /* the patient CNN's training */
    const uint8_t *has_cf;    /* [archive rows] 1 if the patient has a measured CF */
} cv_ctx;

/* Scores [n][K] of a logistic regression trained on (Xtr, ytr), for Xte. */
static int fit_lr(const cv_ctx *c, const float *Xtr, const int *ytr, int ntr, const float *Xte, int nte, int w,
                  int K, double *score_te, double *score_tr)
{
    double *A = h19_malloc(sizeof(double) * (size_t)(ntr > nte ? ntr : nte) * (size_t)w + 1);
    if (!A) return H19_ENOMEM;
    for (size_t i = 0; i < (size_t)ntr * (size_t)w; i++) A[i] = Xtr[i];
    plr_model m;
    int rc = plr_fit(A, ytr, ntr, w, K, c->lr_C, &m);
    if (!rc && score_tr) rc = plr_predict_proba(&m, A, ntr, score_tr);
    if (!rc) {
        for (size_t i = 0; i < (size_t)nte * (size_t)w; i++) A[i] = Xte[i];
        rc = plr_predict_proba(&m, A, nte, score_te);
        plr_free(&m);
    }
    free(A);
    return rc;
}

/* Stratified split of n training rows into fit and validation parts. */
static int val_split(const int *y, int n, int K, double frac, uint64_t seed, uint32_t repeat, uint32_t fold,
                     int *is_val)
{
    memset(is_val, 0, sizeof(int) * (size_t)n);
    if (frac <= 0) return H19_OK;
    for (int k = 0; k < K; k++) {
        int m = 0;
        for (int i = 0; i < n; i++) m += y[i] == k;
        int *idx = h19_malloc(sizeof(int) * (size_t)(m ? m : 1));
        if (!idx) return H19_ENOMEM;
        m = 0;
        for (int i = 0; i < n; i++)
            if (y[i] == k) idx[m++] = i;
        h19_rng r;
        h19_rng_init(&r, seed, H19_RNG_SPLIT, repeat, fold, 0, (uint32_t)k);
        h19_rng_shuffle(&r, idx, m);
        int nv = (int)floor(frac * m + 0.5);
        if (nv >= m) nv = m - 1;
        for (int i = 0; i < nv; i++) is_val[idx[i]] = 1;
        free(idx);
    }
    return H19_OK;
}

/* Class balancing by oversampling: every class is brought to the size of the largest by repeating
 * its members (whole copies, then a keyed random remainder), so training and the early-stopping
 * accuracy weigh the classes equally (the accuracy of a balanced set is the balanced accuracy).
 * Replaces *X / *y (reallocated). */
static int balance_rows(float **X, int **y, int *n, int w, int K, uint64_t seed, uint32_t repeat, uint32_t fold,
                        int part)
{
    int count[16] = {0}, maxc = 0;
    for (int i = 0; i < *n; i++) count[(*y)[i]]++;
    for (int k = 0; k < K; k++) maxc = count[k] > maxc ? count[k] : maxc;
    int total = 0;
    for (int k = 0; k < K; k++) total += count[k] ? maxc : 0;
    float *X2 = h19_malloc(sizeof(float) * (size_t)total * (size_t)w);
    int *y2 = h19_malloc(sizeof(int) * (size_t)total);
    int *idx = h19_malloc(sizeof(int) * (size_t)(*n ? *n : 1));
    if (!X2 || !y2 || !idx) { free(X2); free(y2); free(idx); return H19_ENOMEM; }
    int o = 0;
    for (int k = 0; k < K; k++) {
        int m = 0;
        for (int i = 0; i < *n; i++)
            if ((*y)[i] == k) idx[m++] = i;
        if (!m) continue;
        h19_rng r;
        h19_rng_init(&r, seed, H19_RNG_AUGMENT, repeat, fold, (uint32_t)part, (uint32_t)k);
        h19_rng_shuffle(&r, idx, m);
        for (int t = 0; t < maxc; t++) {
            int i = idx[t % m];
            memcpy(X2 + (size_t)o * (size_t)w, *X + (size_t)i * (size_t)w, sizeof(float) * (size_t)w);
            y2[o++] = k;
        }
    }
    free(idx);
    free(*X);
    free(*y);
    *X = X2;
    *y = y2;
    *n = o;
    return H19_OK;
}

/* The task's outcome: cv_run_all points c->norm at job->onorm[outcome] (-1 if it does not). */
static int ctx_outcome(const cv_ctx *c)
{
    ptrdiff_t o = c->norm - c->job->onorm;
    return o >= 0 && o < c->job->noutcomes ? (int)o : -1;
}

/* Scores [n][K] of the CF DNN (an ensemble of members, averaged). The outcome's cf_dnn overrides
 * (outcomes.<o>.cf_dnn: val_fraction, ensemble, balance, training keys) apply over the job's. */
/* cf_dnn.features = N: keep the N columns of Xtr [ntr][w] (and Xte [nte][w]) that separate the
 * training rows' classes best on their own — largest |AUC - 0.5| (the largest over the classes,
 * one-vs-rest, for more than two), ties to the lower column — in their original order, in place;
 * *w becomes N. Univariate filtering before a network is the usual remedy when the rows are few
 * against the columns: on iCTCF mortality (718 patients, 57 deceased, ~230 columns with the
 * missing indicators) the DNN's AUC rises from 0.87 to 0.90 with N = 30 (docs/cv.md). Only the
 * training rows are seen, so the test rows stay out of the selection (no leak). */
int cv_select_columns(float *Xtr, const int *ytr, int ntr, float *Xte, int nte, int K, long N, int *w)
{
    int W = *w;
    if (N <= 0 || N >= W) return H19_OK;
    double *col = h19_malloc(sizeof(double) * (size_t)(ntr + 1)), *sep = h19_malloc(sizeof(double) * (size_t)W);
    int *yk = h19_malloc(sizeof(int) * (size_t)(ntr + 1)), *ord = h19_malloc(sizeof(int) * (size_t)W);
    char *keep = h19_malloc((size_t)W);
    int rc = (!col || !sep || !yk || !ord || !keep) ? H19_ENOMEM : H19_OK;
    for (int j = 0; !rc && j < W; j++) {
        for (int i = 0; i < ntr; i++) col[i] = Xtr[(size_t)i * (size_t)W + (size_t)j];
        sep[j] = 0;
        for (int k = (K == 2 ? 1 : 0); !rc && k < K; k++) {
            int pos = 0;
            for (int i = 0; i < ntr; i++) pos += (yk[i] = ytr[i] == k);
            double auc = 0.5;
            if (pos > 0 && pos < ntr) rc = ev_auc(col, yk, ntr, &auc);
            if (fabs(auc - 0.5) > sep[j]) sep[j] = fabs(auc - 0.5);
        }
        ord[j] = j;
    }
    /* insertion sort by separation, descending, stable (ties keep the lower column first) */
    for (int a = 1; !rc && a < W; a++) {
        int v = ord[a], b = a;
        while (b > 0 && sep[ord[b - 1]] < sep[v]) {
            ord[b] = ord[b - 1];
            b--;
        }
        ord[b] = v;
    }
    if (!rc) {
        memset(keep, 0, (size_t)W);
        for (long r = 0; r < N; r++) keep[ord[r]] = 1;
        for (int pass = 0; pass < 2; pass++) {
            float *X = pass ? Xte : Xtr;
            int n = pass ? nte : ntr;
            for (int i = 0; i < n; i++) {
                int q = 0;
                for (int j = 0; j < W; j++)
                    if (keep[j]) X[(size_t)i * (size_t)N + (size_t)q++] = X[(size_t)i * (size_t)W + (size_t)j];
            }
        }
        *w = (int)N;
    }
    free(col);
    free(sep);
    free(yk);
    free(ord);
    free(keep);
    return rc;
}

static int fit_dnn(const cv_ctx *c, float *Xtr, const int *ytr, int ntr, float *Xte, int nte, int w,
                   int K, uint32_t repeat, uint32_t fold, double *score_te, double *score_tr)
{
    const h19_job *job = c->job;
    int oc = ctx_outcome(c);
    H19_TRY(cv_select_columns(Xtr, ytr, ntr, Xte, nte, K, oc >= 0 ? job->ofeatures[oc] : job->features, &w));
    double val_fraction = oc >= 0 ? job->oval_fraction[oc] : job->val_fraction;
    long ensemble = oc >= 0 ? job->oensemble[oc] : job->ensemble;
    int balance = oc >= 0 ? job->obalance[oc] : job->balance;
    nn_hyper hyp;
    job_cf_hyper_outcome(job, oc, c->h, &hyp);
    int nout = K == 2 ? 1 : K;
    c->spec[c->nspec - 2].n = nout;
    c->spec[c->nspec - 1].kind = K == 2 ? NN_SIGMOID_BCE : NN_SOFTMAX_CE;
    int *is_val = h19_malloc(sizeof(int) * (size_t)ntr);
    float *Xf = h19_malloc(sizeof(float) * (size_t)ntr * (size_t)w);
    float *Xv = h19_malloc(sizeof(float) * (size_t)ntr * (size_t)w);
    int *yf = h19_malloc(sizeof(int) * (size_t)ntr), *yv = h19_malloc(sizeof(int) * (size_t)ntr);
    float *prob = h19_malloc(sizeof(float) * (size_t)(ntr > nte ? ntr : nte) * (size_t)nout);
    int rc = (!is_val || !Xf || !Xv || !yf || !yv || !prob) ? H19_ENOMEM : H19_OK;
    int nf = 0, nv = 0;
    if (!rc) rc = val_split(ytr, ntr, K, val_fraction, job->seed, repeat, fold, is_val);
    for (int i = 0; !rc && i < ntr; i++) {
        if (is_val[i]) {
            memcpy(Xv + (size_t)nv * (size_t)w, Xtr + (size_t)i * (size_t)w, sizeof(float) * (size_t)w);
            yv[nv++] = ytr[i];
        } else {
            memcpy(Xf + (size_t)nf * (size_t)w, Xtr + (size_t)i * (size_t)w, sizeof(float) * (size_t)w);
            yf[nf++] = ytr[i];
        }
    }
    if (!rc && balance) rc = balance_rows(&Xf, &yf, &nf, w, K, job->seed, repeat, fold, 0);
    if (!rc && balance && nv) rc = balance_rows(&Xv, &yv, &nv, w, K, job->seed, repeat, fold, 1);
    if (!rc) {
        memset(score_te, 0, sizeof(double) * (size_t)nte * (size_t)K);
        if (score_tr) memset(score_tr, 0, sizeof(double) * (size_t)ntr * (size_t)K);
    }
    for (long e = 0; !rc && e < ensemble; e++) {
        nn_net *net = NULL;
        rc = nn_net_create(&net, c->C, c->H, w, c->spec, c->nspec, hyp.batch > 256 ? hyp.batch : 256);
        if (rc) break;
        uint64_t seed = e ? h19_mix64(job->seed + (uint64_t)e) : job->seed;
        nn_net_init(net, seed, repeat, fold);
        nn_key key = {seed, repeat, fold};
        nn_fit_result res;
        nn_hyper h = hyp;
        h.ckpt_path = NULL;
        rc = nn_fit(net, &h, key, Xf, yf, nf, nv ? Xv : NULL, nv ? yv : NULL, nv, MPI_COMM_SELF, &res);
        for (int pass = 0; !rc && pass < 2; pass++) {
            const float *X = pass ? Xtr : Xte;
            int n = pass ? ntr : nte;
            double *out = pass ? score_tr : score_te;
            if (!out) continue;
            rc = nn_predict(net, X, n, prob, MPI_COMM_SELF);
            for (int i = 0; !rc && i < n; i++) {
                if (nout == 1) {
                    out[(size_t)i * 2 + 0] += (1.0 - prob[i]) / (double)ensemble;
                    out[(size_t)i * 2 + 1] += prob[i] / (double)ensemble;
                } else
                    for (int k = 0; k < K; k++)
                        out[(size_t)i * (size_t)K + (size_t)k] += prob[(size_t)i * (size_t)K + (size_t)k] / (double)ensemble;
            }
        }
        nn_net_free(net);
    }
    free(is_val);
    free(Xf);
    free(Xv);
    free(yf);
    free(yv);
    free(prob);
    return rc;
}

/* Thresholds [K][2] (Youden, sensitive) on training scores, one-vs-rest per class. */
static int thresholds(const double *score, const int *y, int n, int K, double target, double *thr)
{
    double t[2][16];
    if (K > 16) return h19_fail(H19_EARG, "at most 16 classes");
    H19_TRY(ev_ovr_thresholds(score, y, n, K, EV_THR_YOUDEN, target, t[0]));
    H19_TRY(ev_ovr_thresholds(score, y, n, K, EV_THR_SENSITIVE, target, t[1]));
    for (int k = 0; k < K; k++) {
        thr[2 * k] = t[0][k];
        thr[2 * k + 1] = t[1][k];
    }
    return H19_OK;
}

/* Normalise rows of the archive with the training rows' statistics. */
static int normalise(const cv_ctx *c, const int *train_rows, int ntr, const int *rows, int n, float **out, int *w)
{
    *w = cf_norm_width(&c->a->cat, c->norm);
    *out = h19_malloc(sizeof(float) * (size_t)(n ? n : 1) * (size_t)*w);
    if (!*out) return H19_ENOMEM;
    return cf_normalise(&c->a->d, &c->a->cat, train_rows, ntr, rows, n, c->norm, *out);
}

/* ---- base models ---------------------------------------------------------------------------------
 * A base model is fitted on the data: the LR and the DNN on the CFs, the patient CNN on the CT. The
 * fused models (cf-fused: LR + DNN; hybrid: patient CNN + DNN) are PLRs on base models' scores, fitted
 * after every base task is done (cheap, so every rank does it, identically). A task is (outcome,
 * repeat, fold, base model); the most expensive bases come first in the task list. */
enum { B_CNN, B_DNN, B_LR, NBASE };
static const char *const base_names[NBASE] = {"cnn", "dnn", "lr"};

/* The base models model needs (need[b] |= 1) and those whose inner out-of-fold scores a fusion
 * needs (inner[b] |= 1). */
static void bases_of(int model, int *need, int *inner)
{
    need[B_LR] |= model == MODEL_CF_LR || model == MODEL_CF_FUSED;
    need[B_DNN] |= model == MODEL_CF_DNN || model == MODEL_CF_FUSED || model == MODEL_HYBRID;
    need[B_CNN] |= model == MODEL_CT_CNN || model == MODEL_HYBRID;
    inner[B_LR] |= model == MODEL_CF_FUSED;
    inner[B_DNN] |= model == MODEL_CF_FUSED || model == MODEL_HYBRID;
    inner[B_CNN] |= model == MODEL_HYBRID;
}

/* 1 if archive row has base b's input (CFs, or CT slices). */
static int has_input(const cv_ctx *c, int b, int row)
{
    return b == B_CNN ? c->ct && c->ct->slot[row] >= 0 : c->has_cf[row] != 0;
}

/* Probabilities [n][K] of the patient CNN for archive rows (gathered in batches). */
static int predict_ct(const cv_ctx *c, nn_net *net, const int *rows, int n, int K, float *buf, float *prob,
                      double *out)
{
    const cv_ct *ct = c->ct;
    size_t w = (size_t)ct->C * (size_t)ct->H * (size_t)ct->W;
    int nout = K == 2 ? 1 : K, B = 32;
    for (int i0 = 0; i0 < n; i0 += B) {
        int m = n - i0 < B ? n - i0 : B;
        for (int i = 0; i < m; i++) memcpy(buf + (size_t)i * w, ct->X + (size_t)ct->slot[rows[i0 + i]] * w, sizeof(float) * w);
        H19_TRY(nn_predict(net, buf, m, prob, MPI_COMM_SELF));
        for (int i = 0; i < m; i++) {
            double *o = out + (size_t)(i0 + i) * (size_t)K;
            if (nout == 1) {
                o[0] = 1.0 - prob[i];
                o[1] = prob[i];
            } else
                for (int k = 0; k < K; k++) o[k] = prob[(size_t)i * (size_t)K + (size_t)k];
        }
    }
    return H19_OK;
}

/* Scores [n][K] of the patient CNN (every row has CT) trained on rows tr: a stratified validation
 * part drives early stopping, the rest (class-balanced by oversampling if patient_cnn.balance) trains. */
static int fit_cnn(const cv_ctx *c, const int *tr, const int *ytr, int ntr, const int *te, int nte, int K,
                   uint32_t repeat, uint32_t fold, double *score_te, double *score_tr)
{
    const cv_ct *ct = c->ct;
    const h19_job *job = c->job;
    size_t w = (size_t)ct->C * (size_t)ct->H * (size_t)ct->W;
    int nout = K == 2 ? 1 : K;
    nn_layer_spec *spec = h19_malloc(sizeof *spec * (size_t)ct->nspec);
    int *is_val = h19_malloc(sizeof(int) * (size_t)ntr);
    float *Xf = h19_malloc(sizeof(float) * (size_t)ntr * w + 1), *Xv = h19_malloc(sizeof(float) * (size_t)ntr * w + 1);
    int *yf = h19_malloc(sizeof(int) * (size_t)ntr), *yv = h19_malloc(sizeof(int) * (size_t)ntr);
    float *buf = h19_malloc(sizeof(float) * 32 * w), *prob = h19_malloc(sizeof(float) * 32 * (size_t)K);
    int rc = (!spec || !is_val || !Xf || !Xv || !yf || !yv || !buf || !prob) ? H19_ENOMEM : H19_OK;
    nn_net *net = NULL;
    int nf = 0, nv = 0;
    /* the CNN's validation split has its own key (fold | 1 << 30), apart from the CF DNN's */
    if (!rc) rc = val_split(ytr, ntr, K, job->pcnn_val_fraction, job->seed, repeat, fold | (1u << 30), is_val);
    for (int i = 0; !rc && i < ntr; i++) {
        const float *x = ct->X + (size_t)ct->slot[tr[i]] * w;
        if (is_val[i]) {
            memcpy(Xv + (size_t)nv * w, x, sizeof(float) * w);
            yv[nv++] = ytr[i];
        } else {
            memcpy(Xf + (size_t)nf * w, x, sizeof(float) * w);
            yf[nf++] = ytr[i];
        }
    }
    if (!rc && job->pcnn_balance) rc = balance_rows(&Xf, &yf, &nf, (int)w, K, job->seed ^ 0x70636e6eu, repeat, fold, 0);
    if (!rc && job->pcnn_balance && nv) rc = balance_rows(&Xv, &yv, &nv, (int)w, K, job->seed ^ 0x70636e6eu, repeat, fold, 1);
    if (!rc) {
        memcpy(spec, ct->spec, sizeof *spec * (size_t)ct->nspec);
        spec[ct->nspec - 2].n = nout;
        spec[ct->nspec - 1].kind = K == 2 ? NN_SIGMOID_BCE : NN_SOFTMAX_CE;
        rc = nn_net_create(&net, ct->C, ct->H, ct->W, spec, ct->nspec, c->pch.batch > 32 ? c->pch.batch : 32);
    }
    if (!rc) {
        uint64_t seed = h19_mix64(job->seed ^ 0x70636e6e00000000ull); /* "pcnn": apart from the DNN's weights */
        nn_net_init(net, seed, repeat, fold);
        nn_key key = {seed, repeat, fold};
        nn_fit_result res;
        nn_hyper h = c->pch;
        h.ckpt_path = NULL;
        rc = nn_fit(net, &h, key, Xf, yf, nf, nv ? Xv : NULL, nv ? yv : NULL, nv, MPI_COMM_SELF, &res);
    }
    if (!rc) rc = predict_ct(c, net, te, nte, K, buf, prob, score_te);
    if (!rc && score_tr) rc = predict_ct(c, net, tr, ntr, K, buf, prob, score_tr);
    nn_net_free(net);
    free(spec);
    free(is_val);
    free(Xf);
    free(Xv);
    free(yf);
    free(yv);
    free(buf);
    free(prob);
    return rc;
}

/* Fit base model b on archive rows tr (labels ytr) and score rows te (sc_te [nte][K]; sc_tr
 * [ntr][K] in-sample, may be NULL). Rows without the model's input (no CFs for the LR and the DNN, no
 * CT for the CNN) are left out of the fit and get NaN ("not scored"); so do all rows when the rows
 * with input have fewer than 2 patients of some class. */
static int fit_base(const cv_ctx *c, int b, const int *tr, const int *ytr, int ntr, const int *te, int nte, int K,
                    uint32_t repeat, uint32_t fold, double *sc_te, double *sc_tr)
{
    size_t Ks = (size_t)K;
    for (size_t i = 0; i < (size_t)nte * Ks; i++) sc_te[i] = NAN;
    for (size_t i = 0; sc_tr && i < (size_t)ntr * Ks; i++) sc_tr[i] = NAN;
    int *ptr = h19_malloc(sizeof(int) * (size_t)(ntr + 1)), *rtr = h19_malloc(sizeof(int) * (size_t)(ntr + 1));
    int *yk = h19_malloc(sizeof(int) * (size_t)(ntr + 1));
    int *pte = h19_malloc(sizeof(int) * (size_t)(nte + 1)), *rte = h19_malloc(sizeof(int) * (size_t)(nte + 1));
    double *ote = h19_malloc(sizeof(double) * ((size_t)nte * Ks + 1));
    double *otr = h19_malloc(sizeof(double) * ((size_t)ntr * Ks + 1));
    int rc = (!ptr || !rtr || !yk || !pte || !rte || !ote || !otr) ? H19_ENOMEM : H19_OK;
    int mtr = 0, mte = 0, count[16] = {0};
    for (int i = 0; !rc && i < ntr; i++)
        if (has_input(c, b, tr[i])) {
            ptr[mtr] = i;
            rtr[mtr] = tr[i];
            yk[mtr++] = ytr[i];
            count[ytr[i]]++;
        }
    for (int i = 0; !rc && i < nte; i++)
        if (has_input(c, b, te[i])) {
            pte[mte] = i;
            rte[mte++] = te[i];
        }
    int enough = !rc;
    for (int k = 0; k < K; k++) enough &= count[k] >= 2;
    if (enough && (mte || sc_tr)) {
        if (b == B_CNN)
            rc = fit_cnn(c, rtr, yk, mtr, rte, mte, K, repeat, fold, ote, sc_tr ? otr : NULL);
        else {
            float *Xtr = NULL, *Xte = NULL;
            int w;
            rc = normalise(c, rtr, mtr, rtr, mtr, &Xtr, &w);
            if (!rc) rc = normalise(c, rtr, mtr, rte, mte, &Xte, &w);
            if (!rc && b == B_LR) rc = fit_lr(c, Xtr, yk, mtr, Xte, mte, w, K, ote, sc_tr ? otr : NULL);
            if (!rc && b == B_DNN) rc = fit_dnn(c, Xtr, yk, mtr, Xte, mte, w, K, repeat, fold, ote, sc_tr ? otr : NULL);
            free(Xtr);
            free(Xte);
        }
        for (int i = 0; !rc && i < mte; i++) memcpy(sc_te + (size_t)pte[i] * Ks, ote + (size_t)i * Ks, sizeof(double) * Ks);
        for (int i = 0; !rc && sc_tr && i < mtr; i++)
            memcpy(sc_tr + (size_t)ptr[i] * Ks, otr + (size_t)i * Ks, sizeof(double) * Ks);
    }
    free(ptr);
    free(rtr);
    free(yk);
    free(pte);
    free(rte);
    free(ote);
    free(otr);
    return rc;
}

/* One base task: the base model fitted on the training rows scores the test rows (te [nte][K]) and
 * the training rows (tr [ntr][K], for the thresholds); with inner != 0 also the training rows'
 * inner out-of-fold scores (oof [ntr][K]: inner cross-fitting, for the fusion PLRs) and the test
 * rows' mean score over the inner models (tin [nte][K]: what the fusion applies its PLR to with
 * plr.test_scores: inner, so that it sees scores of the kind it was trained on). A test row is NaN
 * in tin when no inner model scored it. */
static int base_task(const cv_ctx *c, int b, int inner, const int *tr_rows, const int *ytr, int ntr, const int *te_rows,
                     int nte, int K, uint32_t repeat, uint32_t fold, double *te, double *tr, double *oof, double *tin)
{
    H19_TRY(fit_base(c, b, tr_rows, ytr, ntr, te_rows, nte, K, repeat, fold, te, tr));
    if (!inner) return H19_OK;
    const h19_job *job = c->job;
    int kin = (int)job->inner_folds;
    size_t Ks = (size_t)K, nall = (size_t)ntr + (size_t)nte;
    int *fin = h19_malloc(sizeof(int) * (size_t)(ntr + 1)), *itr = h19_malloc(sizeof(int) * (size_t)(ntr + 1));
    int *iy = h19_malloc(sizeof(int) * (size_t)(ntr + 1)), *ite = h19_malloc(sizeof(int) * (nall + 1));
    int *ipos = h19_malloc(sizeof(int) * (size_t)(ntr + 1)), *nsc = h19_calloc((size_t)nte + 1, sizeof(int));
    double *isc = h19_malloc(sizeof(double) * (nall * Ks + 1));
    int rc = (!fin || !itr || !iy || !ite || !ipos || !nsc || !isc) ? H19_ENOMEM : H19_OK;
    for (size_t i = 0; i < (size_t)ntr * Ks; i++) oof[i] = NAN;
    for (size_t i = 0; i < (size_t)nte * Ks; i++) tin[i] = 0;
    /* the same inner folds for every base model (keyed by the outer task only) */
    if (!rc) rc = ev_stratified_folds_keyed(ytr, ntr, kin, K, job->seed, repeat, fold + 1, fin);
    for (int g = 0; !rc && g < kin; g++) {
        int na = 0, nb = 0;
        for (int i = 0; i < ntr; i++) {
            if (fin[i] == g) {
                ite[nb] = tr_rows[i];
                ipos[nb++] = i;
            } else {
                itr[na] = tr_rows[i];
                iy[na++] = ytr[i];
            }
        }
        /* the inner model scores its held-out part, then the outer test rows */
        memcpy(ite + nb, te_rows, sizeof(int) * (size_t)nte);
        rc = fit_base(c, b, itr, iy, na, ite, nb + nte, K, repeat, 1000u + fold * 64u + (uint32_t)g, isc, NULL);
        for (int i = 0; !rc && i < nb; i++) memcpy(oof + (size_t)ipos[i] * Ks, isc + (size_t)i * Ks, sizeof(double) * Ks);
        for (int i = 0; !rc && i < nte; i++) {
            const double *v = isc + ((size_t)nb + (size_t)i) * Ks;
            if (isnan(v[0])) continue;
            nsc[i]++;
            for (size_t k = 0; k < Ks; k++) tin[(size_t)i * Ks + k] += v[k];
        }
    }
    for (int i = 0; !rc && i < nte; i++)
        for (size_t k = 0; k < Ks; k++) tin[(size_t)i * Ks + k] = nsc[i] ? tin[(size_t)i * Ks + k] / nsc[i] : NAN;
    free(fin);
    free(itr);
    free(iy);
    free(ite);
    free(ipos);
    free(nsc);
    free(isc);
    return rc;
}

/* Thresholds [K][2] on the scored rows of score [n][K] (NaN rows are not scored; all NaN if none). */
static int thresholds_scored(const double *score, const int *y, int n, int K, double target, double *thr)
{
    double *s = h19_malloc(sizeof(double) * ((size_t)n * (size_t)K + 1));
    int *ys = h19_malloc(sizeof(int) * (size_t)(n + 1));
    if (!s || !ys) { free(s); free(ys); return H19_ENOMEM; }
    int m = 0, count[16] = {0};
    for (int i = 0; i < n; i++)
        if (!isnan(score[(size_t)i * (size_t)K])) {
            memcpy(s + (size_t)m * (size_t)K, score + (size_t)i * (size_t)K, sizeof(double) * (size_t)K);
            count[y[i]]++;
            ys[m++] = y[i];
        }
    int ok = 1;
    for (int k = 0; k < K; k++) ok &= count[k] > 0;
    int rc = H19_OK;
    if (ok) rc = thresholds(s, ys, m, K, target, thr);
    else
        for (int k = 0; k < 2 * K; k++) thr[k] = NAN;
    free(s);
    free(ys);
    return rc;
}

/* Fusion features of one row: the K scores of a base model (the positive-class score alone for
 * K = 2), as probabilities (the paper's intermediate scores) or as log-odds (logit = 1: linear in
 * what a logistic model adds, so a confident base model is not squashed near 0 or 1). */
static int feat(const double *p, int K, int logit, double *z)
{
    int per = K == 2 ? 1 : K;
    for (int k = 0; k < per; k++) {
        double v = p[K == 2 ? 1 : k];
        if (logit) {
            double q = v < 1e-6 ? 1e-6 : v > 1 - 1e-6 ? 1 - 1e-6 : v;
            v = log(q / (1 - q));
        }
        z[k] = v;
    }
    return per;
}

/* The fused model (the paper's PLR on the intermediate scores) of base scores A and B: PLRs trained
 * on the training rows' inner out-of-fold scores oA, oB [ntr][K], applied to the test rows' scores
 * tA, tB [nte][K] (and to the training rows, out_tr, for the thresholds). A row with both scores uses
 * the PLR on both; a row with one (HUST-19's patients without CT or without CFs) uses the PLR on that
 * one alone; a row with neither is not scored (NaN). */
/* With plr.select: which inputs the PLR of the rows with both scores uses — 0 both, 1 A alone, 2 B
 * alone — the one of least 5-fold cross-validated log loss on the training rows' out-of-fold scores
 * (ties: both). Stacking that drops a base model whose scores add only noise (on iCTCF mortality the
 * CF DNN to the LR). */
static int select_inputs(const h19_job *job, int K, int ntr, const int *ytr, const double *oA, const double *oB,
                         int *best)
{
    int per = K == 2 ? 1 : K, zw[3] = {2 * per, per, per};
    size_t Ks = (size_t)K;
    *best = 0;
    double *Z[3] = {0}, *P = h19_malloc(sizeof(double) * ((size_t)ntr * Ks + 1));
    int *y = h19_malloc(sizeof(int) * (size_t)(ntr + 1)), *fo = h19_malloc(sizeof(int) * (size_t)(ntr + 1));
    int *tri = h19_malloc(sizeof(int) * (size_t)(ntr + 1));
    int rc = (!P || !y || !fo || !tri) ? H19_ENOMEM : H19_OK;
    for (int m = 0; m < 3 && !rc; m++)
        if (!(Z[m] = h19_malloc(sizeof(double) * ((size_t)ntr * (size_t)zw[m] + 1)))) rc = H19_ENOMEM;
    int n = 0, count[16] = {0};
    for (int i = 0; !rc && i < ntr; i++) {
        const double *a = oA + (size_t)i * Ks, *b = oB + (size_t)i * Ks;
        if (isnan(a[0]) || isnan(b[0])) continue;
        double *z0 = Z[0] + (size_t)n * (size_t)zw[0];
        feat(b, K, job->plr_logit, z0 + feat(a, K, job->plr_logit, z0));
        feat(a, K, job->plr_logit, Z[1] + (size_t)n * (size_t)zw[1]);
        feat(b, K, job->plr_logit, Z[2] + (size_t)n * (size_t)zw[2]);
        count[ytr[i]]++;
        y[n++] = ytr[i];
    }
    int ok = !rc;
    for (int k = 0; k < K; k++) ok &= count[k] >= 5;
    const int G = 5;
    if (ok) rc = ev_stratified_folds_keyed(y, n, G, K, job->seed, 0x5E1Eu, 0, fo);
    double loss[3] = {0, 0, 0};
    double *li = ok && !rc ? h19_calloc((size_t)3 * (size_t)n + 1, sizeof(double)) : NULL; /* per-row losses */
    if (ok && !rc && !li) rc = H19_ENOMEM;
    for (int m = 0; ok && !rc && m < 3; m++) {
        for (int g = 0; g < G && !rc; g++) {
            int nt = 0;
            double *Zt = h19_malloc(sizeof(double) * ((size_t)n * (size_t)zw[m] + 1));
            if (!Zt) { rc = H19_ENOMEM; break; }
            for (int i = 0; i < n; i++)
                if (fo[i] != g) {
                    memcpy(Zt + (size_t)nt * (size_t)zw[m], Z[m] + (size_t)i * (size_t)zw[m], sizeof(double) * (size_t)zw[m]);
                    tri[nt++] = y[i];
                }
            plr_model pm;
            rc = plr_fit(Zt, tri, nt, zw[m], K, job->plr_C, &pm);
            free(Zt);
            if (rc) break;
            for (int i = 0; i < n && !rc; i++) {
                if (fo[i] != g) continue;
                rc = plr_predict_proba(&pm, Z[m] + (size_t)i * (size_t)zw[m], 1, P);
                double p = P[y[i]], l = -log(p > 1e-15 ? p : 1e-15);
                loss[m] += l;
                li[(size_t)m * (size_t)n + (size_t)i] = l;
            }
            plr_free(&pm);
        }
    }
    if (ok && !rc && job->plr_select_rule == 0) {
        for (int m = 1; m < 3; m++)
            if (loss[m] < loss[*best]) *best = m;
    } else if (ok && !rc) {
        /* one standard error rule (Breiman et al. 1984; glmnet's lambda.1se): the better single input
         * unless both inputs lower the loss by more than one SE of the paired per-row difference */
        int s1 = loss[2] < loss[1] ? 2 : 1;
        double sd = 0, md = (loss[0] - loss[s1]) / n;
        for (int i = 0; i < n; i++) {
            double dv = li[i] - li[(size_t)s1 * (size_t)n + (size_t)i] - md;
            sd += dv * dv;
        }
        sd = n > 1 ? sqrt(sd / (n - 1)) : 0;
        *best = md + sd / sqrt((double)n) < 0 ? 0 : s1;
    }
    free(li);
    for (int m = 0; m < 3; m++) free(Z[m]);
    free(P);
    free(y);
    free(fo);
    free(tri);
    return rc;
}

static int fuse(const h19_job *job, int select, int K, int ntr, const int *ytr, const double *oA, const double *oB,
                int nte, const double *tA, const double *tB, double *out_te, double *out_tr, int *chosen)
{
    int both = 0; /* the inputs of the rows with both scores */
    if (select) H19_TRY(select_inputs(job, K, ntr, ytr, oA, oB, &both));
    *chosen = both;
    int per = K == 2 ? 1 : K, zw[3] = {2 * per, per, per};
    size_t Ks = (size_t)K;
    double *Z = h19_malloc(sizeof(double) * ((size_t)ntr * 2 * (size_t)per + 1));
    int *yz = h19_malloc(sizeof(int) * (size_t)(ntr + 1));
    if (!Z || !yz) { free(Z); free(yz); return H19_ENOMEM; }
    plr_model pm[3];
    int have[3] = {0, 0, 0}, rc = H19_OK;
    /* mode 0: both (A's features then B's), 1: A alone, 2: B alone */
    for (int mode = 0; mode < 3 && !rc; mode++) {
        int nz = 0, count[16] = {0};
        for (int i = 0; i < ntr; i++) {
            const double *a = oA + (size_t)i * Ks, *b = oB + (size_t)i * Ks;
            int ha = !isnan(a[0]), hb = !isnan(b[0]);
            if (mode == 0 ? !(ha && hb) : mode == 1 ? !ha : !hb) continue;
            double *z = Z + (size_t)nz * (size_t)zw[mode];
            if (mode != 2) z += feat(a, K, job->plr_logit, z);
            if (mode != 1) feat(b, K, job->plr_logit, z);
            count[ytr[i]]++;
            yz[nz++] = ytr[i];
        }
        int ok = nz > 0;
        for (int k = 0; k < K; k++) ok &= count[k] >= 2;
        if (!ok) continue;
        rc = plr_fit(Z, yz, nz, zw[mode], K, job->plr_C, &pm[mode]);
        have[mode] = !rc;
    }
    for (int pass = 0; pass < 2 && !rc; pass++) {
        int n = pass ? ntr : nte;
        const double *sa = pass ? oA : tA, *sb = pass ? oB : tB;
        double *out = pass ? out_tr : out_te;
        for (int i = 0; i < n && !rc; i++) {
            const double *a = sa + (size_t)i * Ks, *b = sb + (size_t)i * Ks;
            int ha = !isnan(a[0]), hb = !isnan(b[0]);
            int mode = ha && hb && have[both] ? both : hb && have[2] ? 2 : ha && have[1] ? 1 : -1;
            if (mode < 0) {
                for (int k = 0; k < K; k++) out[(size_t)i * Ks + (size_t)k] = NAN;
                continue;
            }
            double z[32];
            int q = 0;
            if (mode != 2) q += feat(a, K, job->plr_logit, z);
            if (mode != 1) feat(b, K, job->plr_logit, z + q);
            rc = plr_predict_proba(&pm[mode], z, 1, out + (size_t)i * Ks);
        }
    }
    for (int mode = 0; mode < 3; mode++)
        if (have[mode]) plr_free(&pm[mode]);
    free(Z);
    free(yz);
    return rc;
}

/* The models of one split from its base scores: te[b] and tin[b] [nte][K], tr[b] and oof[b] [ntr][K].
 * Outputs per model m: test scores out[m][nte][K] and thresholds thr[m][K][2] (on training scores).
 * A fusion applies its PLR to the test rows' tin (plr.test_scores: inner) or te (refit). */
/* chosen (may be NULL): counts of plr.select's choice (both, A alone, B alone) per fused model (0 cf-fused,
 * 1 hybrid). */
static int finish_split(const h19_job *job, int outcome, const int *models, int M, int K, int ntr, const int *ytr, int nte,
                        double *const te[NBASE], double *const tr[NBASE], double *const oof[NBASE],
                        double *const tin[NBASE], double *out, double *thr, int chosen[2][3])
{
    size_t ste = (size_t)nte * (size_t)K;
    double *fte = h19_malloc(sizeof(double) * (ste + 1)), *ftr = h19_malloc(sizeof(double) * ((size_t)ntr * (size_t)K + 1));
    int rc = (!fte || !ftr) ? H19_ENOMEM : H19_OK;
    for (int m = 0; m < M && !rc; m++) {
        const double *st, *strn;
        int mk = models[m];
        if (mk == MODEL_CF_FUSED || mk == MODEL_HYBRID) {
            int A = mk == MODEL_CF_FUSED ? B_LR : B_CNN;
            int ch = 0;
            const double *tA = job->plr_test_inner ? tin[A] : te[A], *tB = job->plr_test_inner ? tin[B_DNN] : te[B_DNN];
            rc = fuse(job, job->oplr_select[outcome], K, ntr, ytr, oof[A], oof[B_DNN], nte, tA, tB, fte, ftr, &ch);
            if (!rc && chosen && job->oplr_select[outcome]) chosen[mk == MODEL_HYBRID][ch]++;
            st = fte;
            strn = ftr;
        } else {
            int b = mk == MODEL_CF_LR ? B_LR : mk == MODEL_CF_DNN ? B_DNN : B_CNN;
            st = te[b];
            strn = tr[b];
        }
        if (rc) break;
        memcpy(out + (size_t)m * ste, st, sizeof(double) * ste);
        rc = thresholds_scored(strn, ytr, ntr, K, job->sensitive_target, thr + (size_t)m * (size_t)K * 2);
    }
    free(fte);
    free(ftr);
    return rc;
}

/* ---- task files (resume) ----------------------------------------------------------------------- */

static uint64_t config_hash(const h19_job *job, const nn_hyper *h, const cv_run *run)
{
    uint64_t x = h19_mix64(job->seed);
    /* not the models list, the fusion PLR's settings or the sensitive target: the models, fusions and
     * thresholds are made from the saved base tasks every run (they go into run->config_hash) */
    double v[] = {(double)run->F, job->lr_C, (double)job->balance, (double)job->inner_folds, job->val_fraction,
                  (double)job->ensemble, job->norm.missing, job->norm.clip_lo, job->norm.clip_hi,
                  (double)job->norm.missing_indicators, (double)job->norm.data_range, (double)h->epochs, (double)h->batch,
                  h->lr, h->decay, h->l2, h->dropout, (double)h->patience, (double)h->micro_batch,
                  (double)h->early_stop, (double)h->class_weight};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        uint64_t b;
        memcpy(&b, &v[i], sizeof b);
        x = h19_mix64(x ^ b);
    }
    for (int o = 0; o < job->noutcomes; o++) { /* per-outcome overrides */
        const cf_norm_opts *n = &job->onorm[o];
        const nn_hyper *q = &job->ohyper[o];
        double w[] = {n->missing, n->clip_lo, n->clip_hi, (double)n->missing_indicators, (double)n->data_range,
                      job->olr_C[o], job->oval_fraction[o], (double)job->oensemble[o], (double)job->obalance[o],
                      (double)job->ohyper_set[o], (double)q->epochs, (double)q->batch, (double)q->micro_batch,
                      q->lr, q->decay, q->beta1, q->beta2, q->eps, q->l2, q->dropout, (double)q->patience,
                      (double)q->fixed_bits, (double)q->early_stop, (double)q->class_weight};
        for (size_t i = 0; i < sizeof w / sizeof w[0]; i++) {
            uint64_t b;
            memcpy(&b, &w[i], sizeof b);
            x = h19_mix64(x ^ b ^ (uint64_t)(o + 1));
        }
        /* mixed in only when set, so that task files of jobs without it stay valid */
        if (job->ofeatures[o]) x = h19_mix64(x ^ 0xFEA7u ^ (uint64_t)job->ofeatures[o] << 20 ^ (uint64_t)(o + 1));
        if (q->average_from) x = h19_mix64(x ^ 0xA7Eu ^ (uint64_t)q->average_from << 24 ^ (uint64_t)(o + 1));
    }
    if (h->average_from) x = h19_mix64(x ^ 0xA7E0000u ^ (uint64_t)h->average_from << 32);
    return x;
}

/* What a base task's result depends on, beyond config_hash: the base model's own settings. */
static uint64_t base_hash(const h19_job *job, const cv_ctx *c, uint64_t common, int b, int inner)
{
    uint64_t x = h19_mix64(common ^ (uint64_t)(b + 1) * 0x9e3779b97f4a7c15ull);
    x = h19_mix64(x ^ (uint64_t)inner ^ ((uint64_t)job->inner_folds << 8));
    if (b == B_CNN && c->ct) {
        const nn_hyper *h = &c->pch;
        double v[] = {(double)h->epochs, (double)h->batch, h->lr, h->decay, h->l2, h->dropout, (double)h->patience,
                      (double)h->micro_batch, job->pcnn_val_fraction, (double)job->pcnn_balance, (double)c->ct->C,
                      (double)c->ct->H, (double)c->ct->W, (double)c->ct->nspec};
        for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
            uint64_t q;
            memcpy(&q, &v[i], sizeof q);
            x = h19_mix64(x ^ q);
        }
        for (int i = 0; i < c->ct->nspec; i++) {
            uint64_t q;
            double r = c->ct->spec[i].p;
            memcpy(&q, &r, sizeof q);
            x = h19_mix64(x ^ (uint64_t)c->ct->spec[i].kind ^ ((uint64_t)c->ct->spec[i].n << 16) ^ q);
        }
        x = h19_mix64(x ^ c->ct->hash);
        if (h->average_from) x = h19_mix64(x ^ 0xA7E00u ^ (uint64_t)h->average_from << 32);
    }
    return x;
}

typedef struct {
    char magic[8];
    uint64_t hash;
    int32_t kind, outcome, repeat, fold, base, nte, ntr, K, inner, pad;
} task_header;

static void task_path(char *buf, size_t n, const h19_job *job, int kind, int outcome, int b, int r, int f)
{
    snprintf(buf, n, "%s/tasks/%s-%s-%s-r%03d-f%03d.bin", job->outdir, kind ? "val" : "cv", job->outcomes[outcome].name,
             base_names[b], r, f);
}

/* A task file: the header, then te [nte][K], tr [ntr][K] and (inner) oof [ntr][K] and tin [nte][K]. */
static int task_load(const char *path, const task_header *want, double *te, double *tr, double *oof, double *tin)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return 0;
    task_header h;
    size_t nte = (size_t)want->nte * (size_t)want->K, ntr = (size_t)want->ntr * (size_t)want->K;
    int ok = fread(&h, sizeof h, 1, fp) == 1 && !memcmp(&h, want, sizeof h) && fread(te, sizeof(double), nte, fp) == nte &&
             fread(tr, sizeof(double), ntr, fp) == ntr &&
             (!want->inner || (fread(oof, sizeof(double), ntr, fp) == ntr && fread(tin, sizeof(double), nte, fp) == nte));
    fclose(fp);
    return ok;
}

static int task_save(const char *path, const task_header *h, const double *te, const double *tr, const double *oof,
                     const double *tin)
{
    size_t nte = (size_t)h->nte * (size_t)h->K, ntr = (size_t)h->ntr * (size_t)h->K;
    size_t n = sizeof *h + sizeof(double) * (nte + ntr + (h->inner ? ntr + nte : 0));
    char *buf = h19_malloc(n);
    if (!buf) return H19_ENOMEM;
    memcpy(buf, h, sizeof *h);
    memcpy(buf + sizeof *h, te, sizeof(double) * nte);
    memcpy(buf + sizeof *h + sizeof(double) * nte, tr, sizeof(double) * ntr);
    if (h->inner) {
        memcpy(buf + sizeof *h + sizeof(double) * (nte + ntr), oof, sizeof(double) * ntr);
        memcpy(buf + sizeof *h + sizeof(double) * (nte + 2 * ntr), tin, sizeof(double) * nte);
    }
    int rc = h19_write_atomic(path, buf, n);
    free(buf);
    return rc;
}

/* ---- the run ----------------------------------------------------------------------------------- */

void cv_run_free(cv_run *run)
{
    for (int s = 0; s < run->nsets; s++) {
        cv_set_free(&run->sets[s]);
        free(run->fold[s]);
        free(run->score[s]);
        free(run->thr[s]);
    }
    for (int s = 0; s < run->nval; s++) {
        cv_set_free(&run->vtrain[s]);
        cv_set_free(&run->vtest[s]);
        free(run->vscore[s]);
        free(run->vthr[s]);
    }
    free(run->has_cf);
    free(run->has_ct);
    memset(run, 0, sizeof *run);
}

static int load_repeats(const h19_job *job, cv_run *run, uint64_t hash);

/* Base scores of every split, merged over ranks: CV [R][n][K] test, [R][F][n][K] training and inner
 * OOF (by set position); validation [VR][ntest][K] test, [VR][ntrain][K] training and OOF. */
typedef struct {
    double *te[JOB_MAX_OUTCOMES][NBASE], *tr[JOB_MAX_OUTCOMES][NBASE], *oof[JOB_MAX_OUTCOMES][NBASE];
    double *vte[JOB_MAX_OUTCOMES][NBASE], *vtr[JOB_MAX_OUTCOMES][NBASE], *voof[JOB_MAX_OUTCOMES][NBASE];
    double *tin[JOB_MAX_OUTCOMES][NBASE], *vtin[JOB_MAX_OUTCOMES][NBASE]; /* inner-model means, like te / vte */
} base_store;

static void base_store_free(base_store *bs)
{
    for (int s = 0; s < JOB_MAX_OUTCOMES; s++)
        for (int b = 0; b < NBASE; b++) {
            free(bs->te[s][b]);
            free(bs->tr[s][b]);
            free(bs->oof[s][b]);
            free(bs->vte[s][b]);
            free(bs->vtr[s][b]);
            free(bs->voof[s][b]);
            free(bs->tin[s][b]);
            free(bs->vtin[s][b]);
        }
}

typedef struct {
    int kind, s, r, f, b;
} task_id;

/* The rows of one split: training rows (archive row, label, set position) and test rows. */
typedef struct {
    int ntr, nte;
    int *tr, *ytr, *trpos, *te, *tepos;
} split;

static void split_free(split *p)
{
    free(p->tr);
    free(p->ytr);
    free(p->trpos);
    free(p->te);
    free(p->tepos);
    memset(p, 0, sizeof *p);
}

static int split_make(const cv_run *run, int kind, int s, int r, int f, split *p)
{
    memset(p, 0, sizeof *p);
    const cv_set *T = kind ? &run->vtrain[s] : &run->sets[s], *E = kind ? &run->vtest[s] : &run->sets[s];
    p->tr = h19_malloc(sizeof(int) * (size_t)(T->n + 1));
    p->ytr = h19_malloc(sizeof(int) * (size_t)(T->n + 1));
    p->trpos = h19_malloc(sizeof(int) * (size_t)(T->n + 1));
    p->te = h19_malloc(sizeof(int) * (size_t)(E->n + 1));
    p->tepos = h19_malloc(sizeof(int) * (size_t)(E->n + 1));
    if (!p->tr || !p->ytr || !p->trpos || !p->te || !p->tepos) {
        split_free(p);
        return H19_ENOMEM;
    }
    const int *fold = kind ? NULL : run->fold[s] + (size_t)r * (size_t)T->n;
    for (int i = 0; i < T->n; i++)
        if (kind || fold[i] != f) {
            p->tr[p->ntr] = T->row[i];
            p->ytr[p->ntr] = T->y[i];
            p->trpos[p->ntr++] = i;
        }
    for (int i = 0; i < E->n; i++)
        if (kind || fold[i] == f) {
            p->te[p->nte] = E->row[i];
            p->tepos[p->nte++] = i;
        }
    return H19_OK;
}

/* Pointers into the store for (kind, s, r, f, b): te/tin by test position, tr/oof by training position. */
static void store_slices(const base_store *bs, const cv_run *run, int kind, int s, int r, int f, int b, double **te,
                         double **tr, double **oof, double **tin)
{
    if (!kind) {
        const cv_set *S = &run->sets[s];
        size_t nk = (size_t)S->n * (size_t)S->K;
        *te = bs->te[s][b] ? bs->te[s][b] + (size_t)r * nk : NULL;
        *tr = bs->tr[s][b] ? bs->tr[s][b] + ((size_t)r * (size_t)run->F + (size_t)f) * nk : NULL;
        *oof = bs->oof[s][b] ? bs->oof[s][b] + ((size_t)r * (size_t)run->F + (size_t)f) * nk : NULL;
        *tin = bs->tin[s][b] ? bs->tin[s][b] + (size_t)r * nk : NULL;
    } else {
        size_t nt = (size_t)run->vtest[s].n * (size_t)run->vtest[s].K, nr = (size_t)run->vtrain[s].n * (size_t)run->vtrain[s].K;
        *te = bs->vte[s][b] ? bs->vte[s][b] + (size_t)r * nt : NULL;
        *tr = bs->vtr[s][b] ? bs->vtr[s][b] + (size_t)r * nr : NULL;
        *oof = bs->voof[s][b] ? bs->voof[s][b] + (size_t)r * nr : NULL;
        *tin = bs->vtin[s][b] ? bs->vtin[s][b] + (size_t)r * nt : NULL;
    }
}

/* The models of split (kind, s, r, f) from the merged base scores, into run->score/thr (every rank). */
static int finish(const h19_job *job, cv_run *run, const base_store *bs, const int *need, int kind, int s, int r, int f,
                  int chosen[JOB_MAX_OUTCOMES][2][3])
{
    split p;
    H19_TRY(split_make(run, kind, s, r, f, &p));
    const cv_set *E = kind ? &run->vtest[s] : &run->sets[s];
    int K = E->K, M = run->M;
    size_t Ks = (size_t)K;
    double *te[NBASE] = {0}, *tr[NBASE] = {0}, *oof[NBASE] = {0}, *tin[NBASE] = {0};
    int rc = H19_OK;
    for (int b = 0; b < NBASE && !rc; b++) {
        te[b] = h19_malloc(sizeof(double) * ((size_t)p.nte * Ks + 1));
        tin[b] = h19_malloc(sizeof(double) * ((size_t)p.nte * Ks + 1));
        tr[b] = h19_malloc(sizeof(double) * ((size_t)p.ntr * Ks + 1));
        oof[b] = h19_malloc(sizeof(double) * ((size_t)p.ntr * Ks + 1));
        if (!te[b] || !tin[b] || !tr[b] || !oof[b]) { rc = H19_ENOMEM; break; }
        double *ste, *str, *soof, *stin;
        store_slices(bs, run, kind, s, r, f, b, &ste, &str, &soof, &stin);
        for (int i = 0; i < p.nte; i++)
            for (int k = 0; k < K; k++) {
                te[b][(size_t)i * Ks + (size_t)k] = need[b] ? ste[(size_t)p.tepos[i] * Ks + (size_t)k] : NAN;
                tin[b][(size_t)i * Ks + (size_t)k] = stin ? stin[(size_t)p.tepos[i] * Ks + (size_t)k] : NAN;
            }
        for (int i = 0; i < p.ntr; i++)
            for (int k = 0; k < K; k++) {
                tr[b][(size_t)i * Ks + (size_t)k] = need[b] ? str[(size_t)p.trpos[i] * Ks + (size_t)k] : NAN;
                oof[b][(size_t)i * Ks + (size_t)k] = soof ? soof[(size_t)p.trpos[i] * Ks + (size_t)k] : NAN;
            }
    }
    double *out = rc ? NULL : h19_malloc(sizeof(double) * ((size_t)M * (size_t)p.nte * Ks + 1));
    double *th = rc ? NULL : h19_malloc(sizeof(double) * ((size_t)M * Ks * 2 + 1));
    if (!rc && (!out || !th)) rc = H19_ENOMEM;
    if (!rc) rc = finish_split(job, E->outcome, run->model, M, K, p.ntr, p.ytr, p.nte, te, tr, oof, tin, out, th,
                               chosen[E->outcome]);
    int R = kind ? run->VR : run->R;
    for (int m = 0; m < M && !rc; m++) {
        double *dst = kind ? run->vscore[s] : run->score[s];
        for (int i = 0; i < p.nte; i++)
            memcpy(dst + (((size_t)m * (size_t)R + (size_t)r) * (size_t)E->n + (size_t)p.tepos[i]) * Ks,
                   out + ((size_t)m * (size_t)p.nte + (size_t)i) * Ks, sizeof(double) * Ks);
        double *tdst = kind ? run->vthr[s] + ((size_t)m * (size_t)R + (size_t)r) * Ks * 2
                            : run->thr[s] + (((size_t)m * (size_t)R + (size_t)r) * (size_t)run->F + (size_t)f) * Ks * 2;
        memcpy(tdst, th + (size_t)m * Ks * 2, sizeof(double) * Ks * 2);
    }
    for (int b = 0; b < NBASE; b++) {
        free(te[b]);
        free(tr[b]);
        free(oof[b]);
        free(tin[b]);
    }
    free(out);
    free(th);
    split_free(&p);
    return rc;
}

static int ctx_init(cv_ctx *c, const h19_job *job, const cf_archive *a, const nn_hyper *h, const cv_ct *ct)
{
    memset(c, 0, sizeof *c);
    c->job = job;
    c->a = a;
    c->h = h;
    c->norm = &job->norm;
    c->lr_C = job->lr_C;
    c->ct = ct;
    if (ct) c->pch = ct->hyper;
    int rc = nn_model_load(job->cf_dnn_model, cf_norm_width(&a->cat, &job->norm), 3, &c->C, &c->H, &c->W, &c->spec,
                           &c->nspec, NULL);
    if (rc) return rc;
    if (c->nspec < 2 || c->spec[c->nspec - 2].kind != NN_DENSE) {
        free(c->spec);
        c->spec = NULL;
        return h19_fail(H19_ECONFIG, "%s: the CF DNN must end with a dense output layer", job->cf_dnn_model);
    }
    return H19_OK;
}

int cv_has_cf(const cf_archive *a, int row)
{
    for (int q = 0; q < a->d.p; q++)
        if (a->d.state[(size_t)row * (size_t)a->d.p + (size_t)q] != CF_MISSING) return 1;
    return 0;
}

/* has[np]: cv_has_cf of every archive row */
static int has_cf_rows(const cf_archive *a, uint8_t **has)
{
    int np = a->d.n;
    *has = h19_malloc((size_t)np + 1);
    if (!*has) return H19_ENOMEM;
    for (int i = 0; i < np; i++) (*has)[i] = (uint8_t)cv_has_cf(a, i);
    return H19_OK;
}

int cv_run_all(h19_job *job, const cf_archive *a, const nn_hyper *h, const cv_ct *ct, int what, int only_repeat,
               cv_run *run)
{
    int do_cv = (what & (CV_DO_CV | CV_FROM_REPEATS)) != 0, do_validate = (what & CV_DO_VALIDATE) != 0;
    memset(run, 0, sizeof *run);
    cv_ctx c;
    if (job_needs_ct(job) && !ct)
        return h19_fail(H19_EARG, "cv: the models ct-cnn and hybrid need the patient CNN inputs (cv_ct_load)");
    int rc = ctx_init(&c, job, a, h, ct);
    if (rc) return rc;
    run->R = (int)job->cv_repeats;
    run->F = (int)job->cv_folds;
    run->M = job->cv_nmodels;
    memcpy(run->model, job->cv_model, sizeof run->model);
    run->VR = (int)job->val_repeats;
    int M = run->M;
    /* which inputs each patient has: CFs = at least one measured CF; CT = top-10 slices */
    int np = a->d.n;
    run->npatients = np;
    rc = has_cf_rows(a, &run->has_cf);
    run->has_ct = rc ? NULL : h19_malloc((size_t)np + 1);
    if (!rc && !run->has_ct) rc = H19_ENOMEM;
    for (int i = 0; !rc && i < np; i++) run->has_ct[i] = ct && ct->slot[i] >= 0;
    c.has_cf = run->has_cf;
    /* the base models the models need; inner OOF scores for those a fusion uses */
    int need[NBASE] = {0}, inner[NBASE] = {0};
    for (int m = 0; m < M; m++) bases_of(run->model[m], need, inner);
    base_store bs;
    memset(&bs, 0, sizeof bs);
    if (do_cv)
        for (int s = 0; !rc && s < job->cv_noutcomes; s++) {
            int o = job->cv_outcome[s];
            rc = cv_sets_build(job, a, job->outcomes[o].cohorts, job->outcomes[o].ncohorts, o, &run->sets[s]);
            if (rc) break;
            run->nsets = s + 1;
            cv_set *S = &run->sets[s];
            size_t nk = (size_t)S->n * (size_t)S->K;
            run->fold[s] = h19_malloc(sizeof(int) * (size_t)run->R * (size_t)S->n);
            run->score[s] = h19_calloc((size_t)M * (size_t)run->R * nk, sizeof(double));
            run->thr[s] = h19_calloc((size_t)M * (size_t)run->R * (size_t)run->F * (size_t)S->K * 2, sizeof(double));
            if (!run->fold[s] || !run->score[s] || !run->thr[s]) rc = H19_ENOMEM;
            for (int b = 0; !rc && b < NBASE && !(what & CV_FROM_REPEATS); b++) {
                if (!need[b]) continue;
                bs.te[s][b] = h19_calloc((size_t)run->R * nk, sizeof(double));
                bs.tr[s][b] = h19_calloc((size_t)run->R * (size_t)run->F * nk, sizeof(double));
                if (inner[b]) bs.oof[s][b] = h19_calloc((size_t)run->R * (size_t)run->F * nk, sizeof(double));
                if (inner[b]) bs.tin[s][b] = h19_calloc((size_t)run->R * nk, sizeof(double));
                if (!bs.te[s][b] || !bs.tr[s][b] || (inner[b] && (!bs.oof[s][b] || !bs.tin[s][b]))) rc = H19_ENOMEM;
            }
            for (int r = 0; !rc && r < run->R; r++)
                rc = ev_stratified_folds(S->y, S->n, run->F, S->K, job->seed, (uint32_t)r,
                                         run->fold[s] + (size_t)r * (size_t)S->n);
        }
    if (do_validate)
        for (int s = 0; !rc && s < job->val_noutcomes; s++) {
            int o = job->val_outcome[s];
            rc = cv_sets_build(job, a, job->train_cohorts, job->ntrain_cohorts, o, &run->vtrain[s]);
            if (!rc) rc = cv_sets_build(job, a, job->test_cohorts, job->ntest_cohorts, o, &run->vtest[s]);
            if (rc) break;
            run->nval = s + 1;
            cv_set *T = &run->vtest[s];
            size_t nt = (size_t)T->n * (size_t)T->K, nr = (size_t)run->vtrain[s].n * (size_t)T->K;
            run->vscore[s] = h19_calloc((size_t)M * (size_t)run->VR * nt, sizeof(double));
            run->vthr[s] = h19_calloc((size_t)M * (size_t)run->VR * (size_t)T->K * 2, sizeof(double));
            if (!run->vscore[s] || !run->vthr[s]) rc = H19_ENOMEM;
            for (int b = 0; !rc && b < NBASE; b++) {
                if (!need[b]) continue;
                bs.vte[s][b] = h19_calloc((size_t)run->VR * nt, sizeof(double));
                bs.vtr[s][b] = h19_calloc((size_t)run->VR * nr, sizeof(double));
                if (inner[b]) bs.voof[s][b] = h19_calloc((size_t)run->VR * nr, sizeof(double));
                if (inner[b]) bs.vtin[s][b] = h19_calloc((size_t)run->VR * nt, sizeof(double));
                if (!bs.vte[s][b] || !bs.vtr[s][b] || (inner[b] && (!bs.voof[s][b] || !bs.vtin[s][b]))) rc = H19_ENOMEM;
            }
        }
    if (!rc) rc = h19_mkdir_p(job->outdir);
    if (!rc) {
        char d[1200];
        snprintf(d, sizeof d, "%s/tasks", job->outdir);
        rc = h19_mkdir_p(d);
    }
    if (!rc && only_repeat >= run->R)
        rc = h19_fail(H19_EARG, "--repeat %d: the job has cv.repeats = %d (repeats 0..%d)", only_repeat, run->R, run->R - 1);
    uint64_t hash = config_hash(job, h, run), bhash[NBASE];
    for (int b = 0; b < NBASE; b++) bhash[b] = base_hash(job, &c, hash, b, inner[b]);
    /* the run's hash (of the repeat files): the base tasks', the models and the fusion settings */
    for (int b = 0; b < NBASE; b++)
        if (need[b]) hash = h19_mix64(hash ^ bhash[b]);
    for (int m = 0; m < M; m++) hash = h19_mix64(hash ^ (uint64_t)(run->model[m] + 1) * 0x100000001b3ull);
    {
        double v[] = {job->plr_C, (double)job->plr_logit, job->sensitive_target, (double)M, (double)job->plr_select,
                      (double)job->oplr_select[0], (double)job->oplr_select[1], (double)job->oplr_select[2],
                      (double)job->oplr_select[3]};
        for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
            uint64_t q;
            memcpy(&q, &v[i], sizeof q);
            hash = h19_mix64(hash ^ q);
        }
    }
    /* mixed in only when set, so that the repeat files of jobs without it stay valid */
    if (job->plr_select_rule) hash = h19_mix64(hash ^ 0x15Eu ^ (uint64_t)job->plr_select_rule << 12);
    hash = h19_mix64(hash ^ 0x7E57u ^ (uint64_t)job->plr_test_inner << 20);
    run->config_hash = hash;
    if (!rc && (what & CV_FROM_REPEATS)) rc = load_repeats(job, run, hash); /* every rank: the fusions need them all */
    rc = dist_agree(rc);
    /* the task list: base model (most expensive first) x CV (outcome, repeat, fold) or validation
     * (outcome, repeat) */
    task_id *tasks = NULL;
    int64_t ntask = 0;
    if (!rc) {
        int64_t cap = 1;
        for (int b = 0; b < NBASE; b++)
            if (need[b]) cap += (int64_t)run->nsets * run->R * run->F + (int64_t)run->nval * run->VR;
        tasks = h19_malloc(sizeof *tasks * (size_t)cap);
        if (!tasks) rc = H19_ENOMEM;
    }
    for (int b = 0; !rc && b < NBASE; b++) {
        if (!need[b]) continue;
        if (!(what & CV_FROM_REPEATS))
            for (int s = 0; s < run->nsets; s++)
                for (int r = 0; r < run->R; r++) {
                    if (only_repeat >= 0 && r != only_repeat) continue;
                    for (int f = 0; f < run->F; f++) tasks[ntask++] = (task_id){0, s, r, f, b};
                }
        if (only_repeat < 0)
            for (int s = 0; s < run->nval; s++)
                for (int r = 0; r < run->VR; r++) tasks[ntask++] = (task_id){1, s, r, 0, b};
    }
    rc = dist_agree(rc);
    if (rc) {
        free(tasks);
        base_store_free(&bs);
        free(c.spec);
        return rc;
    }
    dist_queue q;
    rc = dist_queue_create(&q, ntask);
    if (rc) {
        free(tasks);
        base_store_free(&bs);
        free(c.spec);
        return rc;
    }
    h19_progress prog;
    h19_progress_begin(&prog, "cv tasks", ntask);
    int computed = 0, reused = 0;
    for (;;) {
        if (rc || dist_stop_signalled()) break;
        int64_t t = dist_queue_next(&q);
        if (t < 0) break;
        h19_progress_update(&prog, t);
        task_id T = tasks[t];
        const cv_set *E = T.kind ? &run->vtest[T.s] : &run->sets[T.s];
        int K = E->K;
        c.norm = &job->onorm[E->outcome];
        c.lr_C = job->olr_C[E->outcome];
        split p;
        rc = split_make(run, T.kind, T.s, T.r, T.f, &p);
        if (rc) break;
        size_t Ks = (size_t)K;
        double *te = h19_malloc(sizeof(double) * ((size_t)p.nte * Ks + 1));
        double *tr = h19_malloc(sizeof(double) * ((size_t)p.ntr * Ks + 1));
        double *oof = h19_malloc(sizeof(double) * ((size_t)p.ntr * Ks + 1));
        double *tin = h19_malloc(sizeof(double) * ((size_t)p.nte * Ks + 1));
        if (!te || !tr || !oof || !tin) rc = H19_ENOMEM;
        task_header hd;
        memset(&hd, 0, sizeof hd);
        memcpy(hd.magic, TASK_MAGIC, 8);
        hd.hash = bhash[T.b];
        hd.kind = T.kind;
        hd.outcome = E->outcome;
        hd.repeat = T.r;
        hd.fold = T.f;
        hd.base = T.b;
        hd.nte = p.nte;
        hd.ntr = p.ntr;
        hd.K = K;
        hd.inner = inner[T.b];
        char path[1400];
        task_path(path, sizeof path, job, T.kind, E->outcome, T.b, T.r, T.f);
        if (!rc) {
            if (task_load(path, &hd, te, tr, oof, tin)) {
                reused++;
            } else {
                /* validation repeats differ by their key's repeat field; fold 0xFFFF marks them */
                rc = base_task(&c, T.b, inner[T.b], p.tr, p.ytr, p.ntr, p.te, p.nte, K, (uint32_t)T.r,
                               T.kind ? 0xFFFFu : (uint32_t)T.f, te, tr, oof, tin);
                if (!rc) rc = task_save(path, &hd, te, tr, oof, tin);
                if (rc)
                    rc = h19_fail_ctx(rc, "task %s %s repeat %d fold %d", job->outcomes[E->outcome].name, base_names[T.b], T.r, T.f);
                computed++;
            }
        }
        if (!rc) {
            double *ste, *str, *soof, *stin;
            store_slices(&bs, run, T.kind, T.s, T.r, T.f, T.b, &ste, &str, &soof, &stin);
            for (int i = 0; i < p.nte; i++) {
                memcpy(ste + (size_t)p.tepos[i] * Ks, te + (size_t)i * Ks, sizeof(double) * Ks);
                if (stin) memcpy(stin + (size_t)p.tepos[i] * Ks, tin + (size_t)i * Ks, sizeof(double) * Ks);
            }
            for (int i = 0; i < p.ntr; i++) {
                memcpy(str + (size_t)p.trpos[i] * Ks, tr + (size_t)i * Ks, sizeof(double) * Ks);
                if (soof) memcpy(soof + (size_t)p.trpos[i] * Ks, oof + (size_t)i * Ks, sizeof(double) * Ks);
            }
        }
        free(te);
        free(tr);
        free(oof);
        free(tin);
        split_free(&p);
    }
    dist_queue_free(&q);
    free(tasks);
    free(c.spec);
    /* a stop inside a task (nn_fit stops at its next step) drops that task: it is redone on resume */
    if (rc == H19_ESTOP) rc = H19_OK;
    rc = dist_agree(rc);
    if (rc) {
        base_store_free(&bs);
        return rc;
    }
    h19_progress_end(&prog, ntask);
    int tot[2] = {computed, reused};
    MPI_Allreduce(MPI_IN_PLACE, tot, 2, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (dist_any(dist_stop_signalled())) {
        base_store_free(&bs);
        return h19_fail(H19_ESTOP, "stop requested: %d of %lld tasks are saved in %s/tasks; re-run to resume",
                        tot[0] + tot[1], (long long)ntask, job->outdir);
    }
    LOG_INFO("cv: %lld tasks (%d computed, %d reused from %s/tasks) on %d ranks", (long long)ntask, tot[0], tot[1],
             job->outdir, dist_size());
    /* merge: every slot was written by exactly one rank, the others hold 0: the sum is exact (and a
     * NaN, "not scored", stays NaN) */
    for (int s = 0; !rc && s < JOB_MAX_OUTCOMES; s++)
        for (int b = 0; !rc && b < NBASE; b++) {
            if (s < run->nsets && bs.te[s][b]) {
                size_t nk = (size_t)run->sets[s].n * (size_t)run->sets[s].K;
                rc = dist_merge_f64(bs.te[s][b], (size_t)run->R * nk);
                if (!rc) rc = dist_merge_f64(bs.tr[s][b], (size_t)run->R * (size_t)run->F * nk);
                if (!rc && bs.oof[s][b]) rc = dist_merge_f64(bs.oof[s][b], (size_t)run->R * (size_t)run->F * nk);
                if (!rc && bs.tin[s][b]) rc = dist_merge_f64(bs.tin[s][b], (size_t)run->R * nk);
            }
            if (!rc && s < run->nval && bs.vte[s][b]) {
                size_t nt = (size_t)run->vtest[s].n * (size_t)run->vtest[s].K, nr = (size_t)run->vtrain[s].n * (size_t)run->vtest[s].K;
                rc = dist_merge_f64(bs.vte[s][b], (size_t)run->VR * nt);
                if (!rc) rc = dist_merge_f64(bs.vtr[s][b], (size_t)run->VR * nr);
                if (!rc && bs.voof[s][b]) rc = dist_merge_f64(bs.voof[s][b], (size_t)run->VR * nr);
                if (!rc && bs.vtin[s][b]) rc = dist_merge_f64(bs.vtin[s][b], (size_t)run->VR * nt);
            }
        }
    /* the models (fusions included) of every split: deterministic, so every rank computes all */
    /* how often plr.select chose each input set, per outcome and fused model (logged below; every rank
     * computes every split, so the counts agree) */
    int chosen[JOB_MAX_OUTCOMES][2][3] = {{{0}}};
    if (!(what & CV_FROM_REPEATS))
        for (int s = 0; !rc && s < run->nsets; s++)
            for (int r = 0; !rc && r < run->R; r++) {
                if (only_repeat >= 0 && r != only_repeat) continue;
                for (int f = 0; !rc && f < run->F; f++) rc = finish(job, run, &bs, need, 0, s, r, f, chosen);
            }
    if (only_repeat < 0)
        for (int s = 0; !rc && s < run->nval; s++)
            for (int r = 0; !rc && r < run->VR; r++) rc = finish(job, run, &bs, need, 1, s, r, 0, chosen);
    for (int o = 0; !rc && o < job->noutcomes && o < JOB_MAX_OUTCOMES; o++)
        for (int fm = 0; fm < 2; fm++) {
            const int *n3 = chosen[o][fm];
            if (n3[0] + n3[1] + n3[2])
                LOG_INFO("cv: %s %s, plr.select (%s) over %d splits: both inputs %d, %s alone %d, cf-dnn alone %d",
                         job->outcomes[o].name, fm ? "hybrid" : "cf-fused", job->plr_select_rule ? "one_se" : "min",
                         n3[0] + n3[1] + n3[2], n3[0], fm ? "ct-cnn" : "cf-lr", n3[1], n3[2]);
        }
    base_store_free(&bs);
    return dist_agree(rc);
}

/* ---- one fit for predictions (hust19 predict) ----------------------------------------------------- */

int cv_predict(h19_job *job, const cf_archive *a, const nn_hyper *h, const cv_ct *ct, int outcome, const int *tr,
               const int *ytr, int ntr, const int *te, int nte, int model, double *out, double *thr, double *inter_te,
               double *inter_oof)
{
    int K = job->outcomes[outcome].nclass;
    if ((model == MODEL_CT_CNN || model == MODEL_HYBRID) && !ct)
        return h19_fail(H19_EARG, "predict: the models ct-cnn and hybrid need the patient CNN inputs (cv_ct_load)");
    cv_ctx c;
    int rc = ctx_init(&c, job, a, h, ct);
    if (rc) return rc;
    uint8_t *has_cf = NULL;
    rc = has_cf_rows(a, &has_cf);
    c.has_cf = has_cf;
    c.norm = &job->onorm[outcome];
    c.lr_C = job->olr_C[outcome];
    int need[NBASE] = {0}, inner[NBASE] = {0};
    bases_of(model, need, inner);
    /* the intermediate scores are the CNN's and the DNN's; inner OOF for both, for the t-SNE */
    need[B_CNN] |= ct != NULL;
    inner[B_CNN] |= ct != NULL;
    need[B_DNN] = inner[B_DNN] = 1;
    size_t Ks = (size_t)K;
    double *bte[NBASE] = {0}, *btr[NBASE] = {0}, *boof[NBASE] = {0}, *btin[NBASE] = {0};
    for (int b = 0; !rc && b < NBASE; b++) {
        bte[b] = h19_calloc((size_t)nte * Ks + 1, sizeof(double));
        btin[b] = h19_calloc((size_t)nte * Ks + 1, sizeof(double));
        btr[b] = h19_calloc((size_t)ntr * Ks + 1, sizeof(double));
        boof[b] = h19_calloc((size_t)ntr * Ks + 1, sizeof(double));
        if (!bte[b] || !btin[b] || !btr[b] || !boof[b]) rc = H19_ENOMEM;
        for (size_t i = 0; !rc && !inner[b] && i < (size_t)nte * Ks; i++) btin[b][i] = NAN;
        for (size_t i = 0; !rc && !need[b] && i < (size_t)nte * Ks; i++) bte[b][i] = NAN;
        for (size_t i = 0; !rc && !need[b] && i < (size_t)ntr * Ks; i++) btr[b][i] = boof[b][i] = NAN;
    }
    char dir[1200];
    snprintf(dir, sizeof dir, "%s/predict-tasks", job->outdir);
    if (!rc) rc = h19_mkdir_p(dir);
    /* everything the CV's base tasks depend on (config_hash: the DNN's options, per-outcome
     * overrides included), then the rows */
    cv_run hrun;
    memset(&hrun, 0, sizeof hrun);
    uint64_t common = h19_mix64(config_hash(job, h, &hrun) ^ 0x7072656469637400ull);
    {
        double v[] = {job->lr_C, (double)job->balance, (double)job->inner_folds, job->val_fraction, (double)job->ensemble,
                      (double)h->epochs, (double)h->batch, h->lr, h->decay, h->l2, h->dropout, (double)h->patience,
                      (double)h->micro_batch, job->olr_C[outcome], (double)job->onorm[outcome].missing,
                      job->onorm[outcome].clip_lo, job->onorm[outcome].clip_hi,
                      (double)job->onorm[outcome].missing_indicators, (double)job->onorm[outcome].data_range};
        for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
            uint64_t q;
            memcpy(&q, &v[i], sizeof q);
            common = h19_mix64(common ^ q);
        }
        for (int i = 0; i < ntr; i++) common = h19_mix64(common ^ (uint64_t)tr[i] ^ ((uint64_t)ytr[i] << 32));
        for (int i = 0; i < nte; i++) common = h19_mix64(common ^ (uint64_t)te[i] ^ 0x5555000000000000ull);
    }
    rc = dist_agree(rc);
    int btask[NBASE], nt = 0;
    for (int b = 0; b < NBASE; b++)
        if (need[b]) btask[nt++] = b;
    dist_queue q;
    if (!rc) rc = dist_queue_create(&q, nt);
    int made = !rc;
    for (;;) {
        if (rc || !made || dist_stop_signalled()) break;
        int64_t t = dist_queue_next(&q);
        if (t < 0) break;
        int b = btask[t];
        task_header hd;
        memset(&hd, 0, sizeof hd);
        memcpy(hd.magic, TASK_MAGIC, 8);
        hd.hash = base_hash(job, &c, common, b, inner[b]);
        hd.kind = 2;
        hd.outcome = outcome;
        hd.base = b;
        hd.nte = nte;
        hd.ntr = ntr;
        hd.K = K;
        hd.inner = inner[b];
        char path[1400];
        snprintf(path, sizeof path, "%s/%s-%s.bin", dir, job->outcomes[outcome].name, base_names[b]);
        if (!task_load(path, &hd, bte[b], btr[b], boof[b], btin[b])) {
            LOG_INFO("predict: fitting the %s on %d patients (with %lld inner folds)", base_names[b], ntr,
                     (long long)job->inner_folds);
            rc = base_task(&c, b, inner[b], tr, ytr, ntr, te, nte, K, 0xFFFEu, 0xFFFEu, bte[b], btr[b], boof[b], btin[b]);
            if (!rc) rc = task_save(path, &hd, bte[b], btr[b], boof[b], btin[b]);
        }
    }
    if (made) dist_queue_free(&q);
    free(c.spec);
    if (rc == H19_ESTOP) rc = H19_OK;
    rc = dist_agree(rc);
    if (!rc && dist_any(dist_stop_signalled()))
        rc = h19_fail(H19_ESTOP, "stop requested: the finished base models are saved in %s; re-run to resume", dir);
    /* merge: a rank holds zeros for the bases it did not fit */
    for (int b = 0; !rc && b < NBASE; b++) {
        if (!need[b]) continue;
        rc = dist_merge_f64(bte[b], (size_t)nte * Ks);
        if (!rc) rc = dist_merge_f64(btr[b], (size_t)ntr * Ks);
        if (!rc) rc = dist_merge_f64(boof[b], (size_t)ntr * Ks);
        if (!rc && inner[b]) rc = dist_merge_f64(btin[b], (size_t)nte * Ks);
    }
    if (!rc) rc = finish_split(job, outcome, &model, 1, K, ntr, ytr, nte, bte, btr, boof, btin, out, thr, NULL);
    if (!rc && inter_te)
        for (int i = 0; i < nte; i++)
            for (int k = 0; k < K; k++) {
                inter_te[(size_t)i * 2 * Ks + (size_t)k] = bte[B_CNN][(size_t)i * Ks + (size_t)k];
                inter_te[(size_t)i * 2 * Ks + Ks + (size_t)k] = bte[B_DNN][(size_t)i * Ks + (size_t)k];
            }
    if (!rc && inter_oof)
        for (int i = 0; i < ntr; i++)
            for (int k = 0; k < K; k++) {
                inter_oof[(size_t)i * 2 * Ks + (size_t)k] = boof[B_CNN][(size_t)i * Ks + (size_t)k];
                inter_oof[(size_t)i * 2 * Ks + Ks + (size_t)k] = boof[B_DNN][(size_t)i * Ks + (size_t)k];
            }
    for (int b = 0; b < NBASE; b++) {
        free(bte[b]);
        free(btr[b]);
        free(boof[b]);
        free(btin[b]);
    }
    free(has_cf);
    return rc;
}

/* ---- per-repeat files (job arrays) -------------------------------------------------------------- */

static void repeat_path(char *buf, size_t n, const h19_job *job, int r)
{
    snprintf(buf, n, "%s/repeats/r%03d.h5", job->outdir, r);
}

int cv_write_repeat(const h19_job *job, const cf_archive *a, const cv_run *run, int r)
{
    (void)a;
    char path[1200];
    snprintf(path, sizeof path, "%s/repeats", job->outdir);
    int rc = dist_rank() == 0 ? h19_mkdir_p(path) : H19_OK;
    rc = dist_agree(rc);
    if (rc) return rc;
    repeat_path(path, sizeof path, job, r);
    h5_file f;
    H19_TRY(h5_create(&f, path, MPI_COMM_WORLD, "hust19-repeat", 1));
    rc = h5_attr_i64(&f, "", "repeat", r);
    if (!rc) rc = h5_attr_i64(&f, "", "config_hash", (int64_t)run->config_hash);
    int M = run->M;
    for (int s = 0; s < run->nsets && !rc; s++) {
        const cv_set *S = &run->sets[s];
        char ds[400];
        int64_t own = dist_rank() == 0 ? 1 : 0; /* one row each: rank 0 writes, the others join */
        int64_t d1[2] = {1, S->n};
        snprintf(ds, sizeof ds, "/%s/fold", job->outcomes[S->outcome].name);
        rc = h5_write(&f, ds, H5T_NATIVE_INT32, 2, d1, 0, own, run->fold[s] + (size_t)r * (size_t)S->n, 0);
        for (int m = 0; m < M && !rc; m++) {
            int64_t d3[3] = {1, S->n, S->K};
            snprintf(ds, sizeof ds, "/%s/%s/score", job->outcomes[S->outcome].name, job_model_names[run->model[m]]);
            rc = h5_write(&f, ds, H5T_NATIVE_DOUBLE, 3, d3, 0, own,
                          run->score[s] + ((size_t)m * (size_t)run->R + (size_t)r) * (size_t)S->n * (size_t)S->K, 0);
            int64_t d4[4] = {1, run->F, S->K, 2};
            snprintf(ds, sizeof ds, "/%s/%s/threshold", job->outcomes[S->outcome].name, job_model_names[run->model[m]]);
            if (!rc)
                rc = h5_write(&f, ds, H5T_NATIVE_DOUBLE, 4, d4, 0, own,
                              run->thr[s] + ((size_t)m * (size_t)run->R + (size_t)r) * (size_t)run->F * (size_t)S->K * 2, 0);
        }
    }
    rc = dist_agree(rc);
    if (rc) {
        h5_abort(&f);
        return rc;
    }
    return h5_commit(&f);
}

static int load_repeats(const h19_job *job, cv_run *run, uint64_t hash)
{
    int M = run->M;
    for (int r = 0; r < run->R; r++) {
        char path[1200];
        repeat_path(path, sizeof path, job, r);
        if (!h19_file_exists(path))
            return h19_fail(H19_ESTATE, "%s: repeat %d is not done: run 'hust19 cv %s --repeat %d' first", path, r,
                            job->file, r);
        h5_file f;
        H19_TRY(h5_open(&f, path, MPI_COMM_SELF, "hust19-repeat", 1));
        int64_t hv = 0;
        int rc = h5_read_attr_i64(&f, "", "config_hash", &hv);
        if (!rc && (uint64_t)hv != hash)
            rc = h19_fail(H19_ESTATE, "%s was made with another configuration of %s: re-run 'hust19 cv %s --repeat %d'",
                          path, job->file, job->file, r);
        for (int s = 0; s < run->nsets && !rc; s++) {
            const cv_set *S = &run->sets[s];
            char ds[400];
            for (int m = 0; m < M && !rc; m++) {
                for (int part = 0; part < 2 && !rc; part++) {
                    snprintf(ds, sizeof ds, "/%s/%s/%s", job->outcomes[S->outcome].name, job_model_names[run->model[m]],
                             part ? "threshold" : "score");
                    int nd;
                    int64_t dims[4];
                    double *buf = NULL;
                    rc = h5_read(&f, ds, H5T_NATIVE_DOUBLE, &nd, dims, (void **)&buf);
                    size_t want = part ? (size_t)run->F * (size_t)S->K * 2 : (size_t)S->n * (size_t)S->K;
                    size_t got = 1;
                    for (int q = 0; !rc && q < nd; q++) got *= (size_t)dims[q];
                    if (!rc && got != want) rc = h19_fail(H19_EFORMAT, "%s: %s has the wrong shape", path, ds);
                    if (!rc) {
                        double *dst = part ? run->thr[s] + ((size_t)m * (size_t)run->R + (size_t)r) * want
                                           : run->score[s] + ((size_t)m * (size_t)run->R + (size_t)r) * want;
                        memcpy(dst, buf, sizeof(double) * want);
                    }
                    free(buf);
                }
            }
        }
        h5_close(&f);
        if (rc) return rc;
    }
    return H19_OK;
}
