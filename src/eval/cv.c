/* cv.c — cross-validation and cohort validation of the CF models (see include/hust19/cv.h). */
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

#define TASK_MAGIC "H19CVTK1"

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
static int fit_dnn(const cv_ctx *c, const float *Xtr, const int *ytr, int ntr, const float *Xte, int nte, int w,
                   int K, uint32_t repeat, uint32_t fold, double *score_te, double *score_tr)
{
    const h19_job *job = c->job;
    int oc = ctx_outcome(c);
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

/* Fit the LR and the DNN on archive rows tr (labels ytr), score rows te: sc_* are [2][n][K]. */
static int fit_base(const cv_ctx *c, const int *tr, const int *ytr, int ntr, const int *te, int nte, int K,
                    uint32_t repeat, uint32_t fold, int need_lr, int need_dnn, double *sc_te, double *sc_tr)
{
    float *Xtr = NULL, *Xte = NULL;
    int w;
    int rc = normalise(c, tr, ntr, tr, ntr, &Xtr, &w);
    if (!rc) rc = normalise(c, tr, ntr, te, nte, &Xte, &w);
    size_t ste = (size_t)nte * (size_t)K, str = (size_t)ntr * (size_t)K;
    if (!rc && need_lr) rc = fit_lr(c, Xtr, ytr, ntr, Xte, nte, w, K, sc_te, sc_tr ? sc_tr : NULL);
    if (!rc && need_dnn)
        rc = fit_dnn(c, Xtr, ytr, ntr, Xte, nte, w, K, repeat, fold, sc_te + ste, sc_tr ? sc_tr + str : NULL);
    free(Xtr);
    free(Xte);
    return rc;
}

/* Fusion features: the K scores of each base model (the positive-class score alone for K = 2), as
 * probabilities (the paper's intermediate scores) or as log-odds (logit = 1: linear in what a
 * logistic model adds, so a confident base model is not squashed near 0 or 1). */
static void fusion_features(const double *sc, int n, int K, int logit, double *Z, int *zw)
{
    int per = K == 2 ? 1 : K;
    *zw = 2 * per;
    size_t off = (size_t)n * (size_t)K;
    for (int i = 0; i < n; i++)
        for (int m = 0; m < 2; m++)
            for (int k = 0; k < per; k++) {
                double p = sc[m * off + (size_t)i * (size_t)K + (size_t)(K == 2 ? 1 : k)];
                if (logit) {
                    double q = p < 1e-6 ? 1e-6 : p > 1 - 1e-6 ? 1 - 1e-6 : p;
                    p = log(q / (1 - q));
                }
                Z[(size_t)i * (size_t)(*zw) + (size_t)(m * per + k)] = p;
            }
}

/* Run all models of one task. Outputs per model m: test scores out[m][nte][K], thr[m][K][2]. */
static int run_task(const cv_ctx *c, const int *tr_rows, const int *ytr, int ntr, const int *te_rows, int nte,
                    int K, uint32_t repeat, uint32_t fold, const int *models, int M, double *out, double *thr)
{
    const h19_job *job = c->job;
    int need_lr = 0, need_dnn = 0, need_fused = 0;
    for (int m = 0; m < M; m++) {
        need_lr |= models[m] == MODEL_CF_LR || models[m] == MODEL_CF_FUSED;
        need_dnn |= models[m] == MODEL_CF_DNN || models[m] == MODEL_CF_FUSED;
        need_fused |= models[m] == MODEL_CF_FUSED;
    }
    size_t ste = (size_t)nte * (size_t)K, str = (size_t)ntr * (size_t)K;
    double *sc_te = h19_calloc(2 * ste + 1, sizeof(double));
    double *sc_tr = h19_calloc(2 * str + 1, sizeof(double));
    if (!sc_te || !sc_tr) { free(sc_te); free(sc_tr); return H19_ENOMEM; }
    int rc = fit_base(c, tr_rows, ytr, ntr, te_rows, nte, K, repeat, fold, need_lr, need_dnn, sc_te, sc_tr);
    double *fz_te = NULL, *fz_tr = NULL;
    if (!rc && need_fused) {
        /* inner cross-fitting: out-of-fold base scores for the training rows */
        int kin = (int)job->inner_folds;
        int *inner = h19_malloc(sizeof(int) * (size_t)ntr);
        double *oof = h19_calloc(2 * str + 1, sizeof(double));
        int *itr = h19_malloc(sizeof(int) * (size_t)ntr), *iy = h19_malloc(sizeof(int) * (size_t)ntr);
        int *ite = h19_malloc(sizeof(int) * (size_t)ntr);
        int *ipos = h19_malloc(sizeof(int) * (size_t)ntr);
        double *isc = h19_calloc(2 * str + 1, sizeof(double));
        rc = (!inner || !oof || !itr || !iy || !ite || !ipos || !isc) ? H19_ENOMEM : H19_OK;
        if (!rc) rc = ev_stratified_folds_keyed(ytr, ntr, kin, K, job->seed, repeat, fold + 1, inner);
        for (int g = 0; !rc && g < kin; g++) {
            int a = 0, b = 0;
            for (int i = 0; i < ntr; i++) {
                if (inner[i] == g) {
                    ite[b] = tr_rows[i];
                    ipos[b++] = i;
                } else {
                    itr[a] = tr_rows[i];
                    iy[a++] = ytr[i];
                }
            }
            uint32_t ifold = 1000u + fold * 64u + (uint32_t)g;
            rc = fit_base(c, itr, iy, a, ite, b, K, repeat, ifold, 1, 1, isc, NULL);
            for (int m = 0; !rc && m < 2; m++)
                for (int i = 0; i < b; i++)
                    memcpy(oof + (size_t)m * str + (size_t)ipos[i] * (size_t)K,
                           isc + (size_t)m * (size_t)b * (size_t)K + (size_t)i * (size_t)K, sizeof(double) * (size_t)K);
        }
        int zw = 0;
        fz_tr = h19_malloc(sizeof(double) * (size_t)ntr * 2 * (size_t)K + 1);
        fz_te = h19_malloc(sizeof(double) * (size_t)nte * 2 * (size_t)K + 1);
        if (!rc && (!fz_tr || !fz_te)) rc = H19_ENOMEM;
        if (!rc) {
            double *Ztr = h19_malloc(sizeof(double) * (size_t)ntr * 2 * (size_t)K + 1);
            double *Zte = h19_malloc(sizeof(double) * (size_t)nte * 2 * (size_t)K + 1);
            if (!Ztr || !Zte) rc = H19_ENOMEM;
            if (!rc) {
                fusion_features(oof, ntr, K, job->plr_logit, Ztr, &zw);
                fusion_features(sc_te, nte, K, job->plr_logit, Zte, &zw);
                plr_model pm;
                rc = plr_fit(Ztr, ytr, ntr, zw, K, job->plr_C, &pm);
                if (!rc) rc = plr_predict_proba(&pm, Ztr, ntr, fz_tr);
                if (!rc) rc = plr_predict_proba(&pm, Zte, nte, fz_te);
                if (!rc) plr_free(&pm);
            }
            free(Ztr);
            free(Zte);
        }
        free(inner);
        free(oof);
        free(itr);
        free(iy);
        free(ite);
        free(ipos);
        free(isc);
    }
    for (int m = 0; !rc && m < M; m++) {
        const double *te = models[m] == MODEL_CF_LR ? sc_te : models[m] == MODEL_CF_DNN ? sc_te + ste : fz_te;
        const double *trs = models[m] == MODEL_CF_LR ? sc_tr : models[m] == MODEL_CF_DNN ? sc_tr + str : fz_tr;
        memcpy(out + (size_t)m * ste, te, sizeof(double) * ste);
        rc = thresholds(trs, ytr, ntr, K, job->sensitive_target, thr + (size_t)m * (size_t)K * 2);
    }
    free(sc_te);
    free(sc_tr);
    free(fz_te);
    free(fz_tr);
    return rc;
}

/* ---- task files (resume) ----------------------------------------------------------------------- */

static uint64_t config_hash(const h19_job *job, const nn_hyper *h, const cv_run *run)
{
    uint64_t x = h19_mix64(job->seed);
    double v[] = {(double)run->F, (double)run->M, job->plr_C, (double)job->plr_logit, job->lr_C, (double)job->balance, (double)job->inner_folds, job->val_fraction,
                  (double)job->ensemble, job->norm.missing, job->norm.clip_lo, job->norm.clip_hi,
                  (double)job->norm.missing_indicators, (double)job->norm.data_range, job->sensitive_target, (double)h->epochs, (double)h->batch,
                  h->lr, h->decay, h->l2, h->dropout, (double)h->patience, (double)h->micro_batch,
                  (double)h->early_stop, (double)h->class_weight};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        uint64_t b;
        memcpy(&b, &v[i], sizeof b);
        x = h19_mix64(x ^ b);
    }
    for (int m = 0; m < run->M; m++) x = h19_mix64(x ^ (uint64_t)run->model[m]);
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
    }
    return x;
}

typedef struct {
    char magic[8];
    uint64_t hash;
    int32_t kind, outcome, repeat, fold, M, n, K, pad;
} task_header;

static void task_path(char *buf, size_t n, const h19_job *job, int kind, int outcome, int r, int f)
{
    snprintf(buf, n, "%s/tasks/%s-%s-r%03d-f%03d.bin", job->outdir, kind ? "val" : "cv",
             job->outcomes[outcome].name, r, f);
}

static int task_load(const char *path, const task_header *want, double *scores, size_t nsc, double *thr,
                     size_t nthr)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return 0;
    task_header h;
    int ok = fread(&h, sizeof h, 1, fp) == 1 && !memcmp(&h, want, sizeof h) &&
             fread(scores, sizeof(double), nsc, fp) == nsc && fread(thr, sizeof(double), nthr, fp) == nthr;
    fclose(fp);
    return ok;
}

static int task_save(const char *path, const task_header *h, const double *scores, size_t nsc, const double *thr,
                     size_t nthr)
{
    size_t n = sizeof *h + sizeof(double) * (nsc + nthr);
    char *buf = h19_malloc(n);
    if (!buf) return H19_ENOMEM;
    memcpy(buf, h, sizeof *h);
    memcpy(buf + sizeof *h, scores, sizeof(double) * nsc);
    memcpy(buf + sizeof *h + sizeof(double) * nsc, thr, sizeof(double) * nthr);
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
    memset(run, 0, sizeof *run);
}

static int load_repeats(const h19_job *job, cv_run *run, uint64_t hash);

int cv_run_all(h19_job *job, const cf_archive *a, const nn_hyper *h, int what, int only_repeat, cv_run *run)
{
    int do_cv = (what & (CV_DO_CV | CV_FROM_REPEATS)) != 0, do_validate = (what & CV_DO_VALIDATE) != 0;
    memset(run, 0, sizeof *run);
    cv_ctx c = {job, a, h, NULL, 0, 0, 0, 0, &job->norm, job->lr_C};
    int rc = nn_model_load(job->cf_dnn_model, cf_norm_width(&a->cat, &job->norm), 3, &c.C, &c.H, &c.W, &c.spec,
                           &c.nspec, NULL);
    if (rc) return rc;
    if (c.nspec < 2 || c.spec[c.nspec - 2].kind != NN_DENSE) {
        free(c.spec);
        return h19_fail(H19_ECONFIG, "%s: the CF DNN must end with a dense output layer", job->cf_dnn_model);
    }
    run->R = (int)job->cv_repeats;
    run->F = (int)job->cv_folds;
    run->M = job->cv_nmodels;
    memcpy(run->model, job->cv_model, sizeof run->model);
    run->VR = (int)job->val_repeats;
    int M = run->M;
    if (do_cv)
        for (int s = 0; !rc && s < job->cv_noutcomes; s++) {
            int o = job->cv_outcome[s];
            rc = cv_sets_build(job, a, job->outcomes[o].cohorts, job->outcomes[o].ncohorts, o, &run->sets[s]);
            if (rc) break;
            run->nsets = s + 1;
            cv_set *S = &run->sets[s];
            run->fold[s] = h19_malloc(sizeof(int) * (size_t)run->R * (size_t)S->n);
            run->score[s] = h19_calloc((size_t)M * (size_t)run->R * (size_t)S->n * (size_t)S->K, sizeof(double));
            run->thr[s] = h19_calloc((size_t)M * (size_t)run->R * (size_t)run->F * (size_t)S->K * 2, sizeof(double));
            if (!run->fold[s] || !run->score[s] || !run->thr[s]) rc = H19_ENOMEM;
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
            run->vscore[s] = h19_calloc((size_t)M * (size_t)run->VR * (size_t)T->n * (size_t)T->K, sizeof(double));
            run->vthr[s] = h19_calloc((size_t)M * (size_t)run->VR * (size_t)T->K * 2, sizeof(double));
            if (!run->vscore[s] || !run->vthr[s]) rc = H19_ENOMEM;
        }
    if (!rc) rc = h19_mkdir_p(job->outdir);
    if (!rc) {
        char d[1200];
        snprintf(d, sizeof d, "%s/tasks", job->outdir);
        rc = h19_mkdir_p(d);
    }
    rc = dist_agree(rc);
    if (rc) {
        free(c.spec);
        return rc;
    }
    if (only_repeat >= run->R) {
        free(c.spec);
        return h19_fail(H19_EARG, "--repeat %d: the job has cv.repeats = %d (repeats 0..%d)", only_repeat, run->R,
                        run->R - 1);
    }
    uint64_t hash = config_hash(job, h, run);
    run->config_hash = hash;
    /* CV tasks: all repeats, one repeat (an array task), or none (taken from the repeat files) */
    int64_t ncv = (int64_t)run->nsets * run->R * run->F, ntask = ncv + (int64_t)run->nval * run->VR;
    int64_t per_repeat = run->F;
    if (what & CV_FROM_REPEATS) {
        rc = dist_rank() == 0 ? load_repeats(job, run, hash) : H19_OK;
        rc = dist_agree(rc);
        if (rc) {
            free(c.spec);
            return rc;
        }
        ntask -= ncv;
        ncv = 0;
    } else if (only_repeat >= 0) {
        ncv = (int64_t)run->nsets * per_repeat;
        ntask = ncv;
    }
    dist_queue q;
    rc = dist_queue_create(&q, ntask);
    if (rc) {
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
        int kind = t >= ncv;
        int s, r, f = 0;
        cv_set *tr_set, *te_set;
        if (!kind && only_repeat >= 0 && !(what & CV_FROM_REPEATS)) {
            s = (int)(t / per_repeat);
            r = only_repeat;
            f = (int)(t % per_repeat);
            tr_set = te_set = &run->sets[s];
        } else if (!kind) {
            s = (int)(t / (run->R * run->F));
            r = (int)(t / run->F % run->R);
            f = (int)(t % run->F);
            tr_set = te_set = &run->sets[s];
        } else {
            s = (int)((t - ncv) / run->VR);
            r = (int)((t - ncv) % run->VR);
            tr_set = &run->vtrain[s];
            te_set = &run->vtest[s];
        }
        int K = te_set->K;
        c.norm = &job->onorm[te_set->outcome];
        c.lr_C = job->olr_C[te_set->outcome];
        int *tr = h19_malloc(sizeof(int) * (size_t)tr_set->n), *ytr = h19_malloc(sizeof(int) * (size_t)tr_set->n);
        int *te = h19_malloc(sizeof(int) * (size_t)te_set->n), *tpos = h19_malloc(sizeof(int) * (size_t)te_set->n);
        if (!tr || !ytr || !te || !tpos) rc = H19_ENOMEM;
        int ntr = 0, nte = 0;
        const int *fold = kind ? NULL : run->fold[s] + (size_t)r * (size_t)tr_set->n;
        for (int i = 0; !rc && i < tr_set->n; i++)
            if (kind || fold[i] != f) {
                tr[ntr] = tr_set->row[i];
                ytr[ntr++] = tr_set->y[i];
            }
        for (int i = 0; !rc && i < te_set->n; i++)
            if (kind || fold[i] == f) {
                te[nte] = te_set->row[i];
                tpos[nte++] = i;
            }
        size_t nsc = (size_t)M * (size_t)nte * (size_t)K, nthr = (size_t)M * (size_t)K * 2;
        double *sc = rc ? NULL : h19_malloc(sizeof(double) * (nsc + 1));
        double *th = rc ? NULL : h19_malloc(sizeof(double) * (nthr + 1));
        if (!rc && (!sc || !th)) rc = H19_ENOMEM;
        task_header hd;
        memset(&hd, 0, sizeof hd);
        memcpy(hd.magic, TASK_MAGIC, 8);
        hd.hash = hash;
        hd.kind = kind;
        hd.outcome = te_set->outcome;
        hd.repeat = r;
        hd.fold = f;
        hd.M = M;
        hd.n = nte;
        hd.K = K;
        char path[1400];
        task_path(path, sizeof path, job, kind, te_set->outcome, r, f);
        if (!rc) {
            if (task_load(path, &hd, sc, nsc, th, nthr)) {
                reused++;
            } else {
                /* validation repeats differ by their key's repeat field; fold 0xFFFF marks them */
                rc = run_task(&c, tr, ytr, ntr, te, nte, K, (uint32_t)r, kind ? 0xFFFFu : (uint32_t)f, run->model, M,
                              sc, th);
                if (!rc) rc = task_save(path, &hd, sc, nsc, th, nthr);
                if (rc) rc = h19_fail_ctx(rc, "task %s repeat %d fold %d", job->outcomes[te_set->outcome].name, r, f);
                computed++;
            }
        }
        for (int m = 0; !rc && m < M; m++) {
            for (int i = 0; i < nte; i++)
                for (int k = 0; k < K; k++) {
                    double v = sc[((size_t)m * (size_t)nte + (size_t)i) * (size_t)K + (size_t)k];
                    if (!kind)
                        run->score[s][(((size_t)m * (size_t)run->R + (size_t)r) * (size_t)te_set->n + (size_t)tpos[i]) * (size_t)K + (size_t)k] = v;
                    else
                        run->vscore[s][(((size_t)m * (size_t)run->VR + (size_t)r) * (size_t)te_set->n + (size_t)tpos[i]) * (size_t)K + (size_t)k] = v;
                }
            for (int k = 0; k < 2 * K; k++) {
                double v = th[(size_t)m * (size_t)K * 2 + (size_t)k];
                if (!kind)
                    run->thr[s][(((size_t)m * (size_t)run->R + (size_t)r) * (size_t)run->F + (size_t)f) * (size_t)K * 2 + (size_t)k] = v;
                else
                    run->vthr[s][((size_t)m * (size_t)run->VR + (size_t)r) * (size_t)K * 2 + (size_t)k] = v;
            }
        }
        free(tr);
        free(ytr);
        free(te);
        free(tpos);
        free(sc);
        free(th);
    }
    dist_queue_free(&q);
    free(c.spec);
    /* a stop inside a task (nn_fit stops at its next step) drops that task: it is redone on resume */
    if (rc == H19_ESTOP) rc = H19_OK;
    rc = dist_agree(rc);
    if (rc) return rc;
    h19_progress_end(&prog, ntask);
    int tot[2] = {computed, reused};
    MPI_Allreduce(MPI_IN_PLACE, tot, 2, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (dist_any(dist_stop_signalled()))
        return h19_fail(H19_ESTOP, "stop requested: %d of %lld tasks are saved in %s/tasks; re-run to resume",
                        tot[0] + tot[1], (long long)ntask, job->outdir);
    LOG_INFO("cv: %lld tasks (%d computed, %d reused from %s/tasks) on %d ranks", (long long)ntask, tot[0], tot[1],
             job->outdir, dist_size());
    /* merge: every slot was written by exactly one rank, the others hold 0: the sum is exact */
    for (int s = 0; !rc && s < run->nsets; s++) {
        cv_set *S = &run->sets[s];
        rc = dist_merge_f64(run->score[s], (size_t)M * (size_t)run->R * (size_t)S->n * (size_t)S->K);
        if (!rc) rc = dist_merge_f64(run->thr[s], (size_t)M * (size_t)run->R * (size_t)run->F * (size_t)S->K * 2);
    }
    for (int s = 0; !rc && s < run->nval; s++) {
        cv_set *T = &run->vtest[s];
        rc = dist_merge_f64(run->vscore[s], (size_t)M * (size_t)run->VR * (size_t)T->n * (size_t)T->K);
        if (!rc) rc = dist_merge_f64(run->vthr[s], (size_t)M * (size_t)run->VR * (size_t)T->K * 2);
    }
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
