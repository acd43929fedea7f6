/* metrics.c — confusion counts, the paper's six measures (Ning et al. 2020, Methods, eqs 1-6),
 * threshold choice, one-vs-rest multiclass summaries, mean and SD (see include/hust19/ev.h).
 *
 * 0/0 conventions (docs/metrics.md): a ratio with a zero denominator is 0, as scikit-learn's
 * precision/recall with zero_division=0; MCC is 0 when any margin (TP+FN, TN+FP, TP+FP, TN+FN) is
 * 0, as sklearn.metrics.matthews_corrcoef. This keeps tables finite when a fold has no predicted
 * positives, and errs towards "no skill".
 */
#include "hust19/ev.h"
#include "hust19/err.h"

#include <math.h>
#include <stdlib.h>

typedef struct {
    double v;
    int y;
} sv;

/* Descending by score; the label order inside a tie does not matter (ties are taken together). */
static int cmp_sv_desc(const void *a, const void *b)
{
    const sv *x = a, *z = b;
    return (x->v < z->v) - (x->v > z->v);
}

static int check_bin(const char *fn, const double *score, const int *y, int n, long *P, long *N)
{
    if (!score || !y || n <= 0)
        return h19_fail(H19_EARG, "metrics.c:%s: need score and y arrays with n > 0 (n = %d)", fn, n);
    long p = 0;
    for (int i = 0; i < n; i++) {
        if (y[i] != 0 && y[i] != 1)
            return h19_fail(H19_EARG, "metrics.c:%s: y[%d] = %d, expected 0 or 1", fn, i, y[i]);
        if (!isfinite(score[i]))
            return h19_fail(H19_EARG, "metrics.c:%s: score[%d] is not finite", fn, i);
        p += y[i];
    }
    if (P) {
        if (p == 0 || p == n)
            return h19_fail(H19_EARG, "metrics.c:%s: need both classes, got %ld positives of %d",
                            fn, p, n);
        *P = p;
        *N = n - p;
    }
    return H19_OK;
}

int ev_confusion(const double *score, const int *y, int n, double thr, ev_conf *out)
{
    H19_TRY(check_bin("ev_confusion", score, y, n, NULL, NULL));
    if (isnan(thr)) return h19_fail(H19_EARG, "metrics.c:ev_confusion: threshold is NaN");
    ev_conf c = {0, 0, 0, 0};
    for (int i = 0; i < n; i++) {
        int pred = score[i] >= thr;
        if (y[i] && pred) c.tp++;
        else if (y[i]) c.fn++;
        else if (pred) c.fp++;
        else c.tn++;
    }
    *out = c;
    return H19_OK;
}

static double ratio(long a, long b) { return b > 0 ? (double)a / (double)b : 0.0; }

void ev_measures_from(const ev_conf *c, ev_measures *m)
{
    m->sn = ratio(c->tp, c->tp + c->fn);                         /* eq 1 */
    m->sp = ratio(c->tn, c->tn + c->fp);                         /* eq 2 */
    m->ac = ratio(c->tp + c->tn, c->tp + c->tn + c->fp + c->fn); /* eq 3 */
    m->ppv = ratio(c->tp, c->tp + c->fp);                        /* eq 4 */
    m->npv = ratio(c->tn, c->tn + c->fn);                        /* eq 5 */
    /* eq 6; the product of margins in double (long products could overflow for big counts). */
    double d = (double)(c->tp + c->fn) * (double)(c->tn + c->fp) * (double)(c->tp + c->fp) *
               (double)(c->tn + c->fn);
    m->mcc = d > 0.0 ? ((double)c->tp * (double)c->tn - (double)c->fn * (double)c->fp) / sqrt(d)
                     : 0.0;
}

/* Sorted (descending) copy of the scores with labels. Caller frees. */
static int sorted_desc(const double *score, const int *y, int n, sv **out)
{
    sv *w = h19_malloc(sizeof(sv) * (size_t)n);
    if (!w) return H19_ENOMEM;
    for (int i = 0; i < n; i++) {
        w[i].v = score[i];
        w[i].y = y[i];
    }
    qsort(w, (size_t)n, sizeof *w, cmp_sv_desc);
    *out = w;
    return H19_OK;
}

int ev_threshold_youden(const double *score, const int *y, int n, double *thr)
{
    long P, N;
    H19_TRY(check_bin("ev_threshold_youden", score, y, n, &P, &N));
    sv *w;
    H19_TRY(sorted_desc(score, y, n, &w));
    /* J = tp/P - fp/N; compared exactly as tp*N - fp*P in integers, so float rounding cannot
     * break ties; the first (largest) threshold wins a tie because the comparison is strict. */
    long tp = 0, fp = 0;
    long long best = 0;
    int have = 0;
    double bt = w[0].v;
    int j = 0;
    while (j < n) {
        double v = w[j].v;
        while (j < n && w[j].v == v) {
            if (w[j].y) tp++;
            else fp++;
            j++;
        }
        long long J = (long long)tp * N - (long long)fp * P;
        if (!have || J > best) {
            best = J;
            bt = v;
            have = 1;
        }
    }
    free(w);
    *thr = bt;
    return H19_OK;
}

int ev_threshold_sensitive(const double *score, const int *y, int n, double target, double *thr)
{
    long P, N;
    H19_TRY(check_bin("ev_threshold_sensitive", score, y, n, &P, &N));
    if (!(target > 0.0 && target <= 1.0))
        return h19_fail(H19_EARG, "metrics.c:ev_threshold_sensitive: target %g not in (0,1]", target);
    sv *w;
    H19_TRY(sorted_desc(score, y, n, &w));
    /* Sn(t) grows as t falls, so the first distinct score (from the top) reaching the target is
     * the largest threshold that does. */
    long tp = 0;
    double bt = w[n - 1].v;
    int j = 0;
    while (j < n) {
        double v = w[j].v;
        while (j < n && w[j].v == v) {
            tp += w[j].y;
            j++;
        }
        if ((double)tp / (double)P >= target) {
            bt = v;
            break;
        }
    }
    free(w);
    *thr = bt;
    return H19_OK;
}

static int check_multi(const char *fn, const double *prob, const int *y, int n, int K)
{
    if (!prob || !y || n <= 0 || K < 2)
        return h19_fail(H19_EARG, "metrics.c:%s: need prob, y, n > 0 and K >= 2 (n = %d, K = %d)",
                        fn, n, K);
    for (int i = 0; i < n; i++) {
        if (y[i] < 0 || y[i] >= K)
            return h19_fail(H19_EARG, "metrics.c:%s: y[%d] = %d not in [0,%d)", fn, i, y[i], K);
        for (int k = 0; k < K; k++)
            if (!isfinite(prob[(size_t)i * K + k]))
                return h19_fail(H19_EARG, "metrics.c:%s: prob[%d][%d] is not finite", fn, i, k);
    }
    return H19_OK;
}

/* Column k of prob and the "class k" indicator into col/yb. */
static void ovr_column(const double *prob, const int *y, int n, int K, int k, double *col, int *yb)
{
    for (int i = 0; i < n; i++) {
        col[i] = prob[(size_t)i * K + k];
        yb[i] = y[i] == k;
    }
}

int ev_ovr_auc(const double *prob, const int *y, int n, int K, double *auc)
{
    H19_TRY(check_multi("ev_ovr_auc", prob, y, n, K));
    double *col = h19_malloc(sizeof(double) * (size_t)n);
    int *yb = h19_malloc(sizeof(int) * (size_t)n);
    int rc = H19_OK;
    if (!col || !yb) rc = H19_ENOMEM;
    for (int k = 0; k < K && rc == H19_OK; k++) {
        ovr_column(prob, y, n, K, k, col, yb);
        rc = ev_auc(col, yb, n, &auc[k]);
        if (rc) h19_fail_ctx(rc, "metrics.c:ev_ovr_auc: class %d vs rest", k);
    }
    free(col);
    free(yb);
    return rc;
}

int ev_ovr_delong(const double *prob, const int *y, int n, int K, double level, ev_ci_kind kind,
                  ev_delong *out)
{
    H19_TRY(check_multi("ev_ovr_delong", prob, y, n, K));
    double *col = h19_malloc(sizeof(double) * (size_t)n);
    int *yb = h19_malloc(sizeof(int) * (size_t)n);
    int rc = H19_OK;
    if (!col || !yb) rc = H19_ENOMEM;
    for (int k = 0; k < K && rc == H19_OK; k++) {
        ovr_column(prob, y, n, K, k, col, yb);
        rc = ev_delong_ci(col, yb, n, level, kind, &out[k]);
        if (rc) h19_fail_ctx(rc, "metrics.c:ev_ovr_delong: class %d vs rest", k);
    }
    free(col);
    free(yb);
    return rc;
}

int ev_ovr_thresholds(const double *prob, const int *y, int n, int K, ev_thr_kind kind,
                      double target, double *thr)
{
    H19_TRY(check_multi("ev_ovr_thresholds", prob, y, n, K));
    if (kind != EV_THR_YOUDEN && kind != EV_THR_SENSITIVE)
        return h19_fail(H19_EARG, "metrics.c:ev_ovr_thresholds: unknown kind %d", (int)kind);
    double *col = h19_malloc(sizeof(double) * (size_t)n);
    int *yb = h19_malloc(sizeof(int) * (size_t)n);
    int rc = H19_OK;
    if (!col || !yb) rc = H19_ENOMEM;
    for (int k = 0; k < K && rc == H19_OK; k++) {
        ovr_column(prob, y, n, K, k, col, yb);
        rc = kind == EV_THR_YOUDEN ? ev_threshold_youden(col, yb, n, &thr[k])
                                   : ev_threshold_sensitive(col, yb, n, target, &thr[k]);
        if (rc) h19_fail_ctx(rc, "metrics.c:ev_ovr_thresholds: class %d vs rest", k);
    }
    free(col);
    free(yb);
    return rc;
}

static int confusion_offset(const double *prob, const int *y, int n, int K, const double *thr,
                            long *cm)
{
    for (int i = 0; i < K * K; i++) cm[i] = 0;
    for (int i = 0; i < n; i++) {
        const double *p = prob + (size_t)i * K;
        int best = 0;
        double bv = p[0] - (thr ? thr[0] : 0.0);
        for (int k = 1; k < K; k++) {
            double v = p[k] - (thr ? thr[k] : 0.0);
            if (v > bv) {
                bv = v;
                best = k;
            }
        }
        cm[y[i] * K + best]++;
    }
    return H19_OK;
}

int ev_confusion_argmax(const double *prob, const int *y, int n, int K, long *cm)
{
    H19_TRY(check_multi("ev_confusion_argmax", prob, y, n, K));
    return confusion_offset(prob, y, n, K, NULL, cm);
}

int ev_confusion_thresholds(const double *prob, const int *y, int n, int K, const double *thr,
                            long *cm)
{
    H19_TRY(check_multi("ev_confusion_thresholds", prob, y, n, K));
    if (!thr) return h19_fail(H19_EARG, "metrics.c:ev_confusion_thresholds: thr is NULL");
    for (int k = 0; k < K; k++)
        if (isnan(thr[k]))
            return h19_fail(H19_EARG, "metrics.c:ev_confusion_thresholds: thr[%d] is NaN", k);
    return confusion_offset(prob, y, n, K, thr, cm);
}

void ev_conf_from_matrix(const long *cm, int K, int k, ev_conf *out)
{
    long tp = 0, fp = 0, fn = 0, tot = 0;
    for (int t = 0; t < K; t++)
        for (int p = 0; p < K; p++) {
            long v = cm[t * K + p];
            tot += v;
            if (t == k && p == k) tp += v;
            else if (t == k) fn += v;
            else if (p == k) fp += v;
        }
    out->tp = tp;
    out->fp = fp;
    out->fn = fn;
    out->tn = tot - tp - fp - fn;
}

int ev_mean_sd(const double *x, int n, double *mean, double *sd)
{
    if (!x || n <= 0) return h19_fail(H19_EARG, "metrics.c:ev_mean_sd: need n > 0 (n = %d)", n);
    double s = 0.0;
    for (int i = 0; i < n; i++) s += x[i];
    double m = s / n;
    double q = 0.0;
    for (int i = 0; i < n; i++) q += (x[i] - m) * (x[i] - m); /* two-pass: no cancellation */
    *mean = m;
    *sd = n > 1 ? sqrt(q / (n - 1)) : NAN;
    return H19_OK;
}
