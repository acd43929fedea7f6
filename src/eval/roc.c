/* roc.c — AUC with ties, DeLong variance/CI/test, ROC points (see include/hust19/ev.h).
 *
 * AUC: the Mann-Whitney form P(s+ > s-) + 1/2 P(s+ = s-), computed from midranks of the pooled
 * scores: AUC = (sum of positive midranks - m(m+1)/2) / (m n), m positives, n negatives.
 *
 * DeLong: E. R. DeLong, D. M. DeLong, D. L. Clarke-Pearson, "Comparing the areas under two or more
 * correlated receiver operating characteristic curves: a nonparametric approach", Biometrics 44
 * (1988) 837-845. Structural components V10(X_i) = mean_j psi(X_i, Y_j) (positives) and
 * V01(Y_j) = mean_i psi(X_i, Y_j) (negatives), psi = 1, 1/2, 0 for >, =, <. Var(AUC) =
 * S10/m + S01/n with S10, S01 the sample variances (divisor m-1, n-1) of the components.
 * The components come from midranks in O(n log n) (X. Sun, W. Xu, "Fast implementation of
 * DeLong's algorithm for comparing the areas under correlated receiver operating characteristic
 * curves", IEEE Signal Processing Letters 21 (2014) 1389-1393):
 *     V10_i = (Tz_i - Tx_i) / n,    V01_j = 1 - (Tz_j - Ty_j) / m,
 * with Tz the midrank among all scores, Tx among positives only, Ty among negatives only.
 */
#include "hust19/ev.h"
#include "hust19/err.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    double v;
    int i;
} ev_vi;

/* Ascending by value, then by index so the order (and so every result) is deterministic. */
static int cmp_vi_asc(const void *a, const void *b)
{
    const ev_vi *x = a, *y = b;
    if (x->v < y->v) return -1;
    if (x->v > y->v) return 1;
    return (x->i > y->i) - (x->i < y->i);
}

/* Check the binary inputs; count positives and negatives. */
static int check_binary(const char *fn, const double *score, const int *y, int n, int *npos,
                        int *nneg)
{
    if (!score || !y || n <= 0)
        return h19_fail(H19_EARG, "roc.c:%s: need score and y arrays with n > 0 (n = %d)", fn, n);
    int p = 0;
    for (int i = 0; i < n; i++) {
        if (y[i] != 0 && y[i] != 1)
            return h19_fail(H19_EARG, "roc.c:%s: y[%d] = %d, expected 0 or 1", fn, i, y[i]);
        if (!isfinite(score[i]))
            return h19_fail(H19_EARG, "roc.c:%s: score[%d] is not finite", fn, i);
        p += y[i];
    }
    if (p == 0 || p == n)
        return h19_fail(H19_EARG, "roc.c:%s: need both classes, got %d positives of %d", fn, p, n);
    *npos = p;
    *nneg = n - p;
    return H19_OK;
}

/* Midranks (1-based, ties get the mean of their ranks) of v[0..n) into rank[]; work has n
 * entries. */
static void midranks(const double *v, int n, double *rank, ev_vi *work)
{
    for (int i = 0; i < n; i++) {
        work[i].v = v[i];
        work[i].i = i;
    }
    qsort(work, (size_t)n, sizeof *work, cmp_vi_asc);
    int a = 0;
    while (a < n) {
        int b = a + 1;
        while (b < n && work[b].v == work[a].v) b++;
        double r = 0.5 * (double)(a + 1 + b); /* mean of ranks a+1 .. b */
        for (int j = a; j < b; j++) rank[work[j].i] = r;
        a = b;
    }
}

/* The DeLong structural components of one score vector: v10[m] for positives (in index order),
 * v01[nn] for negatives, and the AUC. Scratch buffers are allocated here. */
static int delong_components(const double *score, const int *y, int n, int m, int nn,
                             double *v10, double *v01, double *auc)
{
    double *tz = h19_malloc(sizeof(double) * (size_t)n);
    double *xs = h19_malloc(sizeof(double) * (size_t)m);
    double *ys = h19_malloc(sizeof(double) * (size_t)nn);
    double *tx = h19_malloc(sizeof(double) * (size_t)m);
    double *ty = h19_malloc(sizeof(double) * (size_t)nn);
    ev_vi *work = h19_malloc(sizeof(ev_vi) * (size_t)n);
    int rc = H19_OK;
    if (!tz || !xs || !ys || !tx || !ty || !work) {
        rc = H19_ENOMEM;
        goto done;
    }
    int ip = 0, in = 0;
    for (int i = 0; i < n; i++) {
        if (y[i]) xs[ip++] = score[i];
        else ys[in++] = score[i];
    }
    midranks(score, n, tz, work);
    midranks(xs, m, tx, work);
    midranks(ys, nn, ty, work);
    ip = in = 0;
    double sum_tz_pos = 0.0;
    for (int i = 0; i < n; i++) {
        if (y[i]) {
            sum_tz_pos += tz[i];
            v10[ip] = (tz[i] - tx[ip]) / (double)nn;
            ip++;
        } else {
            v01[in] = 1.0 - (tz[i] - ty[in]) / (double)m;
            in++;
        }
    }
    *auc = (sum_tz_pos - 0.5 * (double)m * (double)(m + 1)) / ((double)m * (double)nn);
done:
    free(tz);
    free(xs);
    free(ys);
    free(tx);
    free(ty);
    free(work);
    return rc;
}

int ev_auc(const double *score, const int *y, int n, double *auc)
{
    int m, nn;
    H19_TRY(check_binary("ev_auc", score, y, n, &m, &nn));
    double *tz = h19_malloc(sizeof(double) * (size_t)n);
    ev_vi *work = h19_malloc(sizeof(ev_vi) * (size_t)n);
    if (!tz || !work) {
        free(tz);
        free(work);
        return H19_ENOMEM;
    }
    midranks(score, n, tz, work);
    double s = 0.0;
    for (int i = 0; i < n; i++)
        if (y[i]) s += tz[i];
    *auc = (s - 0.5 * (double)m * (double)(m + 1)) / ((double)m * (double)nn);
    free(tz);
    free(work);
    return H19_OK;
}

/* Standard normal quantile by Acklam's rational approximation refined with one Halley step on
 * erfc (|error| < 1e-15 in double), so no dependency beyond libm. */
static double norm_quantile(double p)
{
    static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                               1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                               6.680131188771972e+01,  -1.328068155288572e+01};
    static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                               -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
    static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                               3.754408661907416e+00};
    double q, r, x;
    if (p < 0.02425) {
        q = sqrt(-2 * log(p));
        x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    } else if (p > 1 - 0.02425) {
        q = sqrt(-2 * log(1 - p));
        x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    } else {
        q = p - 0.5;
        r = q * q;
        x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
            (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
    }
    /* Halley refinement: Phi(x) = erfc(-x/sqrt2)/2. */
    double e = 0.5 * erfc(-x / sqrt(2.0)) - p;
    double u = e * sqrt(2.0 * M_PI) * exp(x * x / 2.0);
    return x - u / (1.0 + x * u / 2.0);
}

static double clip01(double v) { return v < 0.0 ? 0.0 : (v > 1.0 ? 1.0 : v); }

static double sample_cov(const double *a, double ma, const double *b, double mb, int n)
{
    double s = 0.0;
    for (int i = 0; i < n; i++) s += (a[i] - ma) * (b[i] - mb);
    return s / (double)(n - 1);
}

int ev_delong_ci(const double *score, const int *y, int n, double level, ev_ci_kind kind,
                 ev_delong *out)
{
    int m, nn;
    H19_TRY(check_binary("ev_delong_ci", score, y, n, &m, &nn));
    if (m < 2 || nn < 2)
        return h19_fail(H19_EARG, "roc.c:ev_delong_ci: need >= 2 positives and >= 2 negatives "
                                  "(got %d and %d)", m, nn);
    if (!(level > 0.0 && level < 1.0))
        return h19_fail(H19_EARG, "roc.c:ev_delong_ci: level %g not in (0,1)", level);
    if (kind != EV_CI_NORMAL && kind != EV_CI_LOGIT)
        return h19_fail(H19_EARG, "roc.c:ev_delong_ci: unknown interval kind %d", (int)kind);
    double *v10 = h19_malloc(sizeof(double) * (size_t)m);
    double *v01 = h19_malloc(sizeof(double) * (size_t)nn);
    if (!v10 || !v01) {
        free(v10);
        free(v01);
        return H19_ENOMEM;
    }
    double auc;
    int rc = delong_components(score, y, n, m, nn, v10, v01, &auc);
    if (rc == H19_OK) {
        double var = sample_cov(v10, auc, v10, auc, m) / m + sample_cov(v01, auc, v01, auc, nn) / nn;
        double z = norm_quantile(0.5 + 0.5 * level);
        out->auc = auc;
        out->var = var;
        out->se = sqrt(var);
        out->npos = m;
        out->nneg = nn;
        if (kind == EV_CI_NORMAL) {
            out->lo = clip01(auc - z * out->se);
            out->hi = clip01(auc + z * out->se);
        } else if (auc <= 0.0 || auc >= 1.0 || out->se == 0.0) {
            out->lo = out->hi = auc; /* the logit is infinite: no interval on that scale */
        } else {
            /* Delta method: se(logit A) = se(A) / (A (1 - A)). */
            double l = log(auc / (1.0 - auc)), s = out->se / (auc * (1.0 - auc));
            out->lo = clip01(1.0 / (1.0 + exp(-(l - z * s))));
            out->hi = clip01(1.0 / (1.0 + exp(-(l + z * s))));
        }
    }
    free(v10);
    free(v01);
    return rc;
}

int ev_delong_compare(const double *score1, const double *score2, const int *y, int n,
                      ev_delong_cmp *out)
{
    int m, nn;
    H19_TRY(check_binary("ev_delong_compare", score1, y, n, &m, &nn));
    H19_TRY(check_binary("ev_delong_compare", score2, y, n, &m, &nn));
    if (m < 2 || nn < 2)
        return h19_fail(H19_EARG, "roc.c:ev_delong_compare: need >= 2 positives and >= 2 "
                                  "negatives (got %d and %d)", m, nn);
    double *buf = h19_malloc(sizeof(double) * 2 * (size_t)n);
    if (!buf) return H19_ENOMEM;
    double *a10 = buf, *a01 = buf + m, *b10 = buf + n, *b01 = buf + n + m;
    double A, B;
    int rc = delong_components(score1, y, n, m, nn, a10, a01, &A);
    if (rc == H19_OK) rc = delong_components(score2, y, n, m, nn, b10, b01, &B);
    if (rc == H19_OK) {
        out->auc1 = A;
        out->auc2 = B;
        out->var1 = sample_cov(a10, A, a10, A, m) / m + sample_cov(a01, A, a01, A, nn) / nn;
        out->var2 = sample_cov(b10, B, b10, B, m) / m + sample_cov(b01, B, b01, B, nn) / nn;
        out->cov = sample_cov(a10, A, b10, B, m) / m + sample_cov(a01, A, b01, B, nn) / nn;
        double vd = out->var1 + out->var2 - 2.0 * out->cov;
        if (vd > 0.0) {
            out->z = (A - B) / sqrt(vd);
            out->p = erfc(fabs(out->z) / sqrt(2.0));
        } else {
            out->z = 0.0; /* identical rankings: no evidence of a difference */
            out->p = 1.0;
        }
    }
    free(buf);
    return rc;
}

int ev_roc(const double *score, const int *y, int n, double **fpr, double **tpr, double **thr,
           int *npts)
{
    int P, N;
    H19_TRY(check_binary("ev_roc", score, y, n, &P, &N));
    ev_vi *w = h19_malloc(sizeof(ev_vi) * (size_t)n);
    double *f = h19_malloc(sizeof(double) * (size_t)(n + 1));
    double *t = h19_malloc(sizeof(double) * (size_t)(n + 1));
    double *h = h19_malloc(sizeof(double) * (size_t)(n + 1));
    if (!w || !f || !t || !h) {
        free(w);
        free(f);
        free(t);
        free(h);
        return H19_ENOMEM;
    }
    for (int i = 0; i < n; i++) {
        w[i].v = score[i];
        w[i].i = i;
    }
    qsort(w, (size_t)n, sizeof *w, cmp_vi_asc);
    /* Walk from the largest score down; emit a point after each group of equal scores. */
    int k = 1;
    long tp = 0, fp = 0;
    f[0] = 0.0;
    t[0] = 0.0;
    h[0] = w[n - 1].v + 1.0; /* sklearn 1.2: thresholds[0] = thresholds[1] + 1 */
    int j = n - 1;
    while (j >= 0) {
        double v = w[j].v;
        while (j >= 0 && w[j].v == v) {
            if (y[w[j].i]) tp++;
            else fp++;
            j--;
        }
        f[k] = (double)fp / (double)N;
        t[k] = (double)tp / (double)P;
        h[k] = v;
        k++;
    }
    free(w);
    *fpr = f;
    *tpr = t;
    *thr = h;
    *npts = k;
    return H19_OK;
}
