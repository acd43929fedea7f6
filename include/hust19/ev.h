/* ev.h — evaluation: AUC, DeLong confidence intervals and tests, ROC points, confusion counts and
 * the paper's six measures, thresholds, stratified folds, SVG plots. Double precision throughout.
 *
 * Worked example (binary: y[i] in {0,1}, larger score = more likely positive):
 *
 *     double auc;
 *     H19_TRY(ev_auc(score, y, n, &auc));
 *     ev_delong d;
 *     H19_TRY(ev_delong_ci(score, y, n, 0.95, EV_CI_NORMAL, &d));   // d.auc, d.se, d.lo, d.hi
 *     double t;
 *     H19_TRY(ev_threshold_sensitive(train_score, train_y, ntrain, 0.95, &t));
 *     ev_conf c;  ev_measures m;
 *     H19_TRY(ev_confusion(test_score, test_y, ntest, t, &c));
 *     ev_measures_from(&c, &m);                                      // m.sn, m.sp, ... m.mcc
 *
 * Conventions (docs/metrics.md gives the reasons and sources):
 * - "predicted positive" means score >= threshold (scikit-learn's roc_curve convention).
 * - Binary functions need both classes present and fail with H19_EARG otherwise (ev_confusion,
 *   which only counts, accepts one class); non-finite scores are rejected (H19_EARG).
 * - Arrays are borrowed (never kept, never freed); outputs go through pointers; functions that
 *   allocate say so and the caller frees with free().
 */
#ifndef HUST19_EV_H
#define HUST19_EV_H

#include <stdint.h>
#include <stdio.h>

/* ---- AUC and DeLong ------------------------------------------------------------------------ */

/* Exact AUC with ties: P(s+ > s-) + 1/2 P(s+ = s-) (the Mann-Whitney U statistic / (n+ n-)),
 * O(n log n) by sorting and midranks. Equals sklearn.metrics.roc_auc_score. */
int ev_auc(const double *score, const int *y, int n, double *auc);

typedef enum {
    EV_CI_NORMAL = 0, /* auc +- z * se, clipped to [0,1] (as pROC's ci.auc(method="delong")) */
    EV_CI_LOGIT = 1,  /* logit(auc) +- z * se / (auc (1-auc)), back-transformed; degenerate
                         (auc = 0 or 1, or se = 0) gives lo = hi = auc */
} ev_ci_kind;

typedef struct {
    double auc;
    double var;      /* DeLong variance of the AUC estimate: S10/m + S01/n */
    double se;       /* sqrt(var) */
    double lo, hi;   /* confidence interval at the requested level, within [0,1] */
    int npos, nneg;
} ev_delong;

/* DeLong et al. (1988) variance by the fast midrank algorithm of Sun & Xu (2014), O(n log n),
 * and a two-sided confidence interval at `level` (e.g. 0.95). Needs >= 2 positives and >= 2
 * negatives (the structural-component variances divide by m-1 and n-1). */
int ev_delong_ci(const double *score, const int *y, int n, double level, ev_ci_kind kind,
                 ev_delong *out);

typedef struct {
    double auc1, auc2;
    double var1, var2, cov; /* DeLong covariance matrix of (auc1, auc2) */
    double z;               /* (auc1 - auc2) / sqrt(var1 + var2 - 2 cov); 0 if that is 0 */
    double p;               /* two-sided p-value, erfc(|z| / sqrt 2); 1 if the difference has 0 var */
} ev_delong_cmp;

/* DeLong test of two correlated AUCs computed on the same samples (e.g. CT vs CF vs fused). */
int ev_delong_compare(const double *score1, const double *score2, const int *y, int n,
                      ev_delong_cmp *out);

/* ---- ROC points ---------------------------------------------------------------------------- */

/* All ROC points as sklearn.metrics.roc_curve(y, score, drop_intermediate=False) in sklearn 1.2:
 * one point per distinct score (descending), preceded by (0,0) whose threshold is max(score)+1.
 * Allocates *fpr, *tpr, *thr (each *npts doubles); the caller frees them with free(). */
int ev_roc(const double *score, const int *y, int n, double **fpr, double **tpr, double **thr,
           int *npts);

/* ---- confusion counts and measures --------------------------------------------------------- */

typedef struct {
    long tp, fp, tn, fn;
} ev_conf;

/* The paper's equations 1-6. A ratio whose denominator is 0 is defined as 0 (sklearn's
 * zero_division=0); MCC is 0 when any of the four margins is 0 (sklearn's matthews_corrcoef). */
typedef struct {
    double sn, sp, ac, ppv, npv, mcc;
} ev_measures;

/* Count TP/FP/TN/FN with "positive" = score >= thr. */
int ev_confusion(const double *score, const int *y, int n, double thr, ev_conf *out);
void ev_measures_from(const ev_conf *c, ev_measures *m);

/* Youden threshold: the score value t maximising Sn(t) + Sp(t) - 1 over the distinct scores;
 * ties go to the largest such t. */
int ev_threshold_youden(const double *score, const int *y, int n, double *thr);
/* "Sensitive" threshold: the largest score value t with Sn(t) >= target (0 < target <= 1).
 * Choose it on training scores and apply it to test scores. Always exists (min score: Sn = 1). */
int ev_threshold_sensitive(const double *score, const int *y, int n, double target, double *thr);

/* ---- multiclass (one-vs-rest) -------------------------------------------------------------- */
/* prob is n x K row-major, y[i] in [0, K). */

/* auc[k] = AUC of column k for "class k vs rest". Each class must be present and absent. */
int ev_ovr_auc(const double *prob, const int *y, int n, int K, double *auc);
/* DeLong CI of each class-vs-rest AUC: out[k] for column k. */
int ev_ovr_delong(const double *prob, const int *y, int n, int K, double level, ev_ci_kind kind,
                  ev_delong *out);

typedef enum {
    EV_THR_YOUDEN = 0,    /* ev_threshold_youden per class */
    EV_THR_SENSITIVE = 1, /* ev_threshold_sensitive(target) per class */
} ev_thr_kind;
/* Per-class one-vs-rest thresholds thr[K] on (training) probabilities, for
 * ev_confusion_thresholds. target is used by EV_THR_SENSITIVE only. */
int ev_ovr_thresholds(const double *prob, const int *y, int n, int K, ev_thr_kind kind,
                      double target, double *thr);
/* cm is K x K row-major: cm[true * K + predicted], zeroed first. Predicted = argmax_k prob
 * (ties to the lowest k). */
int ev_confusion_argmax(const double *prob, const int *y, int n, int K, long *cm);
/* Per-class thresholds: predicted = argmax_k (prob_k - thr_k), ties to the lowest k; so a sample
 * goes to the class that clears its own threshold by the widest margin, or, if none clears, the
 * one that misses by least. With all thr_k equal this is the argmax rule. */
int ev_confusion_thresholds(const double *prob, const int *y, int n, int K, const double *thr,
                            long *cm);
/* One-vs-rest counts of class k from a K x K confusion matrix. */
void ev_conf_from_matrix(const long *cm, int K, int k, ev_conf *out);

/* Mean and sample SD (divisor n-1) of x[0..n). n = 1 gives sd = NaN (undefined), as numpy's
 * std(ddof=1); n = 0 is H19_EARG. */
int ev_mean_sd(const double *x, int n, double *mean, double *sd);

/* ---- folds --------------------------------------------------------------------------------- */

/* Stratified k-fold assignment, like sklearn's StratifiedKFold(shuffle=True) in spirit: per class
 * (in order 0..nclass-1) the member indices are shuffled by a stream keyed
 * (seed, H19_RNG_FOLDS, repeat, fold = 0, epoch = 0, sample = class), then dealt round-robin into
 * folds, the deal continuing across classes, so per-class counts per fold differ by <= 1 and
 * fold sizes differ by <= 1. fold_out[i] in [0, k). y[i] in [0, nclass). 2 <= k <= n. */
int ev_stratified_folds(const int *y, int n, int k, int nclass, uint64_t seed, uint32_t repeat,
                        int *fold_out);
/* The same with the key's fold field given (the inner split of outer fold f uses subkey f + 1,
 * so inner and outer streams never coincide). */
int ev_stratified_folds_keyed(const int *y, int n, int k, int nclass, uint64_t seed,
                              uint32_t repeat, uint32_t subkey, int *fold_out);

/* ---- SVG ----------------------------------------------------------------------------------- */

typedef struct {
    const char *label;      /* legend text, e.g. "Fused" */
    const double *fpr, *tpr;/* n points, in ROC order */
    int n;
    double auc, lo, hi;     /* legend "label AUC 0.912 (0.880–0.940)"; lo/hi NaN to omit CI */
} ev_roc_curve;

/* Self-contained SVG of ROC curves (axes, ticks, chance diagonal, legend); one <path
 * class="roc"> per curve. Written atomically (path.tmp.<pid>, fsync, rename). */
int ev_svg_roc(const char *path, const ev_roc_curve *curves, int ncurves, const char *title);
/* The same to an open stream (not atomic; for composing). */
int ev_svg_roc_fp(FILE *f, const ev_roc_curve *curves, int ncurves, const char *title);
/* Confusion-matrix heatmap: cm is K x K (rows true, columns predicted), labels[K] class names.
 * Cell shade is the row-normalised fraction; the text shows the count and the row percentage.
 * Written atomically. */
int ev_svg_confusion(const char *path, const long *cm, int K, const char *const *labels,
                     const char *title);
int ev_svg_confusion_fp(FILE *f, const long *cm, int K, const char *const *labels,
                        const char *title);

/* Scatter plot (src/eval/svg_fig.c), e.g. the t-SNE map of the paper's Fig. 4b. */
typedef struct {
    const char *label; /* legend text (escaped); NULL shows "class k" */
    int colour;        /* palette index (the ROC palette); < 0 means the class index */
    int hollow;        /* 1: rings (e.g. suspected cases), 0: filled discs */
} ev_svg_class;
/* xy is n x 2 row-major, cls[i] in [0, K) indexes classes[K]. Axis frame with nice ticks over
 * the data range (+5%), title, optional axis labels (NULL: none), one <circle class="pt c<k>">
 * per point drawn class by class (later classes on top), and a legend of every class with its
 * count ("Suspected (299)"; an empty class shows 0 and draws no point). n = 0 is allowed.
 * Written atomically. */
int ev_svg_scatter(const char *path, const double *xy, const int *cls, int n,
                   const ev_svg_class *classes, int K, const char *title, const char *xlabel,
                   const char *ylabel);
int ev_svg_scatter_fp(FILE *f, const double *xy, const int *cls, int n,
                      const ev_svg_class *classes, int K, const char *title, const char *xlabel,
                      const char *ylabel);

#endif
