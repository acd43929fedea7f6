/* plr.c — L2-penalised logistic regression by Newton's method (see include/hust19/plr.h).
 *
 * Parameters theta: nrow blocks of (p coefficients, 1 intercept); nrow = 1 (binary, sigmoid of
 * class 1's logit) or K (multinomial softmax). Objective
 *     f = 0.5 sum_k ||w_k||^2 + C sum_i s_i l_i,
 *     binary       l_i = log(1 + exp(-t_i z_i)),  t_i = +-1,  z_i = x_i.w + b
 *     multinomial  l_i = logsumexp_k(z_ik) - z_{i,y_i}
 * which is sklearn 1.2's lbfgs objective (LinearModelLoss with l2_reg_strength = 1/C) times C.
 * Gradient  w_k + C sum_i s_i (p_ik - [y_i = k]) x_i  (no w_k term for the intercept);
 * Hessian   I_pen + C sum_i s_i (diag(p_i) - p_i p_i^T) (x) x~_i x~_i^T,  x~ = (x, 1).
 * The multinomial model is over-parameterised in the intercepts (adding c to every b_k changes
 * nothing and is not penalised), so H is singular along u = (1,...,1)/sqrt K on the intercepts;
 * u is an eigenvector of H with eigenvalue 0 and g is orthogonal to it, so solving with H + u u^T
 * gives the same Newton step on the identifiable part and keeps sum_k b_k fixed at its start, 0
 * — the solution sklearn's lbfgs reaches from 0, whose steps also stay in that subspace.
 * Steps: Newton direction, Armijo backtracking (Nocedal & Wright, Numerical Optimization, 3.1).
 */
#include "hust19/plr.h"
#include "hust19/err.h"
#include "hust19/ev.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* log(1 + exp(x)) without overflow. */
static double log1pexp(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }
static double sigmoid(double x)
{
    if (x >= 0) return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}

static int check_inputs(const char *fn, const double *X, const int *y, const double *sw, int n,
                        int p, int nclass, double C, int need_all_classes)
{
    if (!X || !y || n <= 0 || p <= 0 || nclass < 2)
        return h19_fail(H19_EARG, "plr.c:%s: need X, y, n > 0, p > 0, nclass >= 2 (n = %d, p = %d, "
                                  "nclass = %d)", fn, n, p, nclass);
    if (!(C > 0.0) || !isfinite(C))
        return h19_fail(H19_EARG, "plr.c:%s: C = %g, expected a finite C > 0", fn, C);
    int *cnt = h19_calloc((size_t)nclass, sizeof(int));
    if (!cnt) return H19_ENOMEM;
    int rc = H19_OK;
    for (int i = 0; i < n && rc == H19_OK; i++) {
        if (y[i] < 0 || y[i] >= nclass) {
            rc = h19_fail(H19_EARG, "plr.c:%s: y[%d] = %d not in [0,%d)", fn, i, y[i], nclass);
            break;
        }
        cnt[y[i]]++;
        if (sw && (!isfinite(sw[i]) || sw[i] < 0.0))
            rc = h19_fail(H19_EARG, "plr.c:%s: sample weight %d = %g, expected finite >= 0", fn, i, sw[i]);
        for (int j = 0; j < p && rc == H19_OK; j++)
            if (!isfinite(X[(size_t)i * p + j]))
                rc = h19_fail(H19_EARG, "plr.c:%s: X[%d][%d] is not finite", fn, i, j);
    }
    for (int k = 0; k < nclass && rc == H19_OK && need_all_classes; k++)
        if (cnt[k] == 0)
            rc = h19_fail(H19_EARG, "plr.c:%s: class %d has no samples (need all %d classes)", fn, k,
                          nclass);
    free(cnt);
    return rc;
}

/* Linear predictors of sample x for every row: z[r] = x.w_r + b_r. */
static void linpred(const double *theta, const double *x, int p, int nrow, double *z)
{
    for (int r = 0; r < nrow; r++) {
        const double *w = theta + (size_t)r * (p + 1);
        double s = w[p];
        for (int j = 0; j < p; j++) s += w[j] * x[j];
        z[r] = s;
    }
}

/* Softmax of z[K] into q[K]; returns logsumexp. */
static double softmax(const double *z, int K, double *q)
{
    double mx = z[0];
    for (int k = 1; k < K; k++) mx = z[k] > mx ? z[k] : mx;
    double s = 0.0;
    for (int k = 0; k < K; k++) {
        q[k] = exp(z[k] - mx);
        s += q[k];
    }
    for (int k = 0; k < K; k++) q[k] /= s;
    return mx + log(s);
}

/* f and gradient (if g) at theta. z and q are scratch of nclass + 1. O(n K p). */
static void eval_fg(const double *X, const int *y, const double *sw, int n, int p, int nclass,
                    double C, const double *theta, double *f, double *g, double *z, double *q)
{
    int nrow = nclass == 2 ? 1 : nclass, P1 = p + 1, D = nrow * P1;
    double obj = 0.0;
    for (int r = 0; r < nrow; r++)
        for (int j = 0; j < p; j++) obj += 0.5 * theta[r * P1 + j] * theta[r * P1 + j];
    if (g) {
        for (int d = 0; d < D; d++) g[d] = 0.0;
        for (int r = 0; r < nrow; r++)
            for (int j = 0; j < p; j++) g[r * P1 + j] = theta[r * P1 + j];
    }
    for (int i = 0; i < n; i++) {
        const double *x = X + (size_t)i * p;
        double s = C * (sw ? sw[i] : 1.0);
        if (s == 0.0) continue;
        linpred(theta, x, p, nrow, z);
        if (nrow == 1) {
            double t = y[i] == 1 ? 1.0 : -1.0;
            obj += s * log1pexp(-t * z[0]);
            if (g) {
                double e = s * (sigmoid(z[0]) - (y[i] == 1));
                for (int j = 0; j < p; j++) g[j] += e * x[j];
                g[p] += e;
            }
        } else {
            double lse = softmax(z, nclass, q);
            obj += s * (lse - z[y[i]]);
            if (g)
                for (int k = 0; k < nclass; k++) {
                    double e = s * (q[k] - (y[i] == k));
                    for (int j = 0; j < p; j++) g[k * P1 + j] += e * x[j];
                    g[k * P1 + p] += e;
                }
        }
    }
    *f = obj;
}

/* Hessian (D x D; the lower triangle is what chol_solve reads) at theta. Block (k, l) is
 * Xa^T diag(c_kl) Xa with Xa = [X, 1] (n x P1) and c_kl,i = C s_i (delta_kl q_ik - q_ik q_il)
 * (binary: c_i = C s_i q_i (1 - q_i)), one BLAS dgemm per block: O(n K^2 p^2) at BLAS speed,
 * which matters when PLR is fitted on all ~120 clinical features. Q is n x K, M is n x P1,
 * blk is P1 x P1 scratch. */
static void hessian(const double *Xa, const double *sw, int n, int p, int nclass, double C,
                    const double *theta, double *H, double *Q, double *M, double *blk)
{
    int nrow = nclass == 2 ? 1 : nclass, P1 = p + 1, D = nrow * P1;
    double z[2];
    for (int i = 0; i < n; i++) {
        double *q = Q + (size_t)i * nclass;
        if (nrow == 1) {
            linpred(theta, Xa + (size_t)i * P1, p, 1, z);
            double sg = sigmoid(z[0]);
            q[0] = sg * (1.0 - sg);
        } else {
            linpred(theta, Xa + (size_t)i * P1, p, nrow, q);
            softmax(q, nclass, q);
        }
    }
    memset(H, 0, sizeof(double) * (size_t)D * D);
    for (int k = 0; k < nrow; k++)
        for (int l = 0; l <= k; l++) {
            for (int i = 0; i < n; i++) {
                const double *q = Q + (size_t)i * nclass;
                double s = C * (sw ? sw[i] : 1.0);
                double c = nrow == 1 ? s * q[0] : s * ((k == l ? q[k] : 0.0) - q[k] * q[l]);
                const double *xa = Xa + (size_t)i * P1;
                double *mi = M + (size_t)i * P1;
                for (int a = 0; a < P1; a++) mi[a] = c * xa[a];
            }
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, P1, P1, n, 1.0, Xa, P1, M, P1, 0.0,
                        blk, P1);
            for (int a = 0; a < P1; a++)
                memcpy(H + (size_t)(k * P1 + a) * D + l * P1, blk + (size_t)a * P1,
                       sizeof(double) * (size_t)P1);
        }
    for (int r = 0; r < nrow; r++)
        for (int j = 0; j < p; j++) H[(size_t)(r * P1 + j) * D + r * P1 + j] += 1.0;
}

/* In-place Cholesky of the lower triangle of A (D x D) and solve A x = b into x. Returns 0 if
 * A is numerically positive definite. */
static int chol_solve(double *A, int D, const double *b, double *x)
{
    for (int j = 0; j < D; j++) {
        double s = A[(size_t)j * D + j];
        for (int k = 0; k < j; k++) s -= A[(size_t)j * D + k] * A[(size_t)j * D + k];
        if (!(s > 0.0)) return -1;
        double l = sqrt(s);
        A[(size_t)j * D + j] = l;
        for (int i = j + 1; i < D; i++) {
            double t = A[(size_t)i * D + j];
            for (int k = 0; k < j; k++) t -= A[(size_t)i * D + k] * A[(size_t)j * D + k];
            A[(size_t)i * D + j] = t / l;
        }
    }
    for (int i = 0; i < D; i++) {
        double t = b[i];
        for (int k = 0; k < i; k++) t -= A[(size_t)i * D + k] * x[k];
        x[i] = t / A[(size_t)i * D + i];
    }
    for (int i = D - 1; i >= 0; i--) {
        double t = x[i];
        for (int k = i + 1; k < D; k++) t -= A[(size_t)k * D + i] * x[k];
        x[i] = t / A[(size_t)i * D + i];
    }
    return 0;
}

int plr_objective(const double *X, const int *y, const double *sw, int n, int p, int nclass,
                  double C, const double *theta, double *f, double *grad)
{
    H19_TRY(check_inputs("plr_objective", X, y, sw, n, p, nclass, C, 0));
    double *zq = h19_malloc(sizeof(double) * 2 * (size_t)(nclass + 1));
    if (!zq) return H19_ENOMEM;
    eval_fg(X, y, sw, n, p, nclass, C, theta, f, grad, zq, zq + nclass + 1);
    free(zq);
    return H19_OK;
}

int plr_fit_w(const double *X, const int *y, const double *sw, int n, int p, int nclass, double C,
              plr_model *m)
{
    memset(m, 0, sizeof *m);
    H19_TRY(check_inputs("plr_fit", X, y, sw, n, p, nclass, C, 1));
    int nrow = nclass == 2 ? 1 : nclass, P1 = p + 1, D = nrow * P1;
    size_t nd = (size_t)D;
    size_t nP1 = (size_t)n * (size_t)P1;
    double *buf = h19_malloc(sizeof(double) * (nd * nd + 5 * nd + 2 * (size_t)(nclass + 1) + 2 * nP1 +
                                              (size_t)n * nclass + (size_t)P1 * P1));
    if (!buf) return H19_ENOMEM;
    double *H = buf, *th = H + nd * nd, *g = th + nd, *d = g + nd, *tn = d + nd, *gn = tn + nd;
    double *z = gn + nd, *q = z + nclass + 1, *Xa = q + nclass + 1, *M = Xa + nP1, *Q = M + nP1;
    double *blk = Q + (size_t)n * nclass;
    for (int i = 0; i < n; i++) { /* the augmented design [X, 1] for the Hessian's dgemm */
        memcpy(Xa + (size_t)i * P1, X + (size_t)i * p, sizeof(double) * (size_t)p);
        Xa[(size_t)i * P1 + p] = 1.0;
    }
    for (int i = 0; i < D; i++) th[i] = 0.0; /* sklearn's lbfgs also starts at 0 */
    /* Stop when the gradient of sklearn's scaling (ours / C) is <= 1e-10 * max(1/C, 1). */
    const double gtol = 1e-10 * (C > 1.0 ? C : 1.0);
    int rc = H19_OK, it;
    double f, gmax = INFINITY;
    eval_fg(X, y, sw, n, p, nclass, C, th, &f, g, z, q);
    for (it = 0; it < 200; it++) {
        gmax = 0.0;
        for (int i = 0; i < D; i++) gmax = fabs(g[i]) > gmax ? fabs(g[i]) : gmax;
        if (gmax <= gtol) break;
        hessian(Xa, sw, n, p, nclass, C, th, H, Q, M, blk);
        if (nrow > 1) /* add u u^T on the intercepts (see the file comment) */
            for (int k = 0; k < nrow; k++)
                for (int l = 0; l <= k; l++) H[(size_t)(k * P1 + p) * D + l * P1 + p] += 1.0 / nrow;
        double *rhs = gn;
        for (int i = 0; i < D; i++) rhs[i] = -g[i];
        if (chol_solve(H, D, rhs, d) != 0) {
            rc = h19_fail(H19_ESTATE, "plr.c:plr_fit: Hessian not positive definite at iteration %d "
                                      "(data with an infinite or NaN feature scale?)", it);
            break;
        }
        double gd = 0.0;
        for (int i = 0; i < D; i++) gd += g[i] * d[i];
        /* Armijo backtracking; the small slack in |f| lets the last steps, whose decrease is at
         * rounding level, through (the gradient test then decides convergence). */
        double t = 1.0, fn = f;
        int ok = 0;
        for (int ls = 0; ls < 60; ls++) {
            for (int i = 0; i < D; i++) tn[i] = th[i] + t * d[i];
            eval_fg(X, y, sw, n, p, nclass, C, tn, &fn, NULL, z, q);
            if (isfinite(fn) && fn <= f + 1e-4 * t * gd + 1e-15 * fabs(f)) {
                ok = 1;
                break;
            }
            t *= 0.5;
        }
        if (!ok) break; /* no representable decrease: at the rounding floor */
        memcpy(th, tn, sizeof(double) * nd);
        eval_fg(X, y, sw, n, p, nclass, C, th, &f, g, z, q);
    }
    if (rc == H19_OK) {
        gmax = 0.0;
        for (int i = 0; i < D; i++) gmax = fabs(g[i]) > gmax ? fabs(g[i]) : gmax;
        /* Accept a rounding-floor stop a little above gtol; anything worse is a real failure. */
        if (!(gmax <= 1e3 * gtol))
            rc = h19_fail(H19_ESTATE, "plr.c:plr_fit: no convergence after %d Newton steps "
                                      "(max |gradient| %.3g > %.3g)", it, gmax, gtol);
    }
    if (rc == H19_OK) {
        m->coef = h19_malloc(sizeof(double) * (size_t)nrow * p);
        m->intercept = h19_malloc(sizeof(double) * (size_t)nrow);
        if (!m->coef || !m->intercept) {
            plr_free(m);
            rc = H19_ENOMEM;
        } else {
            double bmean = 0.0;
            if (nrow > 1) {
                for (int r = 0; r < nrow; r++) bmean += th[r * P1 + p];
                bmean /= nrow; /* exactly 0 in theory; remove the rounding drift */
            }
            for (int r = 0; r < nrow; r++) {
                for (int j = 0; j < p; j++) m->coef[r * p + j] = th[r * P1 + j];
                m->intercept[r] = th[r * P1 + p] - bmean;
            }
            m->p = p;
            m->nclass = nclass;
            m->nrow = nrow;
            m->iters = it;
            m->grad_max = gmax;
        }
    }
    free(buf);
    return rc;
}

int plr_fit(const double *X, const int *y, int n, int p, int nclass, double C, plr_model *m)
{
    return plr_fit_w(X, y, NULL, n, p, nclass, C, m);
}

int plr_balanced_weights(const int *y, int n, int nclass, double *sw)
{
    if (!y || !sw || n <= 0 || nclass < 2)
        return h19_fail(H19_EARG, "plr.c:plr_balanced_weights: need y, sw, n > 0, nclass >= 2");
    long *cnt = h19_calloc((size_t)nclass, sizeof(long));
    if (!cnt) return H19_ENOMEM;
    for (int i = 0; i < n; i++) {
        if (y[i] < 0 || y[i] >= nclass) {
            free(cnt);
            return h19_fail(H19_EARG, "plr.c:plr_balanced_weights: y[%d] = %d not in [0,%d)", i,
                            y[i], nclass);
        }
        cnt[y[i]]++;
    }
    for (int i = 0; i < n; i++) sw[i] = (double)n / ((double)nclass * (double)cnt[y[i]]);
    free(cnt);
    return H19_OK;
}

int plr_predict_proba(const plr_model *m, const double *X, int n, double *out)
{
    if (!m || !m->coef || !X || !out || n < 0)
        return h19_fail(H19_EARG, "plr.c:plr_predict_proba: need a fitted model, X and out");
    int p = m->p, K = m->nclass;
    double z[64], *zz = K <= 64 ? z : h19_malloc(sizeof(double) * (size_t)K);
    if (!zz) return H19_ENOMEM;
    for (int i = 0; i < n; i++) {
        const double *x = X + (size_t)i * p;
        double *o = out + (size_t)i * K;
        for (int r = 0; r < m->nrow; r++) {
            double s = m->intercept[r];
            for (int j = 0; j < p; j++) s += m->coef[r * p + j] * x[j];
            zz[r] = s;
        }
        if (m->nrow == 1) {
            o[1] = sigmoid(zz[0]);
            o[0] = 1.0 - o[1];
        } else {
            softmax(zz, K, o);
        }
    }
    if (zz != z) free(zz);
    return H19_OK;
}

void plr_free(plr_model *m)
{
    if (!m) return;
    free(m->coef);
    free(m->intercept);
    m->coef = m->intercept = NULL;
}

int plr_cross_fit(const double *X, const int *y, const double *sw, int n, int p, int nclass,
                  double C, int k, uint64_t seed, uint32_t repeat, uint32_t outer_fold,
                  double *oof)
{
    H19_TRY(check_inputs("plr_cross_fit", X, y, sw, n, p, nclass, C, 1));
    if (!oof) return h19_fail(H19_EARG, "plr.c:plr_cross_fit: oof is NULL");
    int *fold = h19_malloc(sizeof(int) * (size_t)n);
    int *yt = h19_malloc(sizeof(int) * (size_t)n);
    double *Xt = h19_malloc(sizeof(double) * (size_t)n * p);
    double *Xh = h19_malloc(sizeof(double) * (size_t)n * p);
    double *wt = sw ? h19_malloc(sizeof(double) * (size_t)n) : NULL;
    double *Ph = h19_malloc(sizeof(double) * (size_t)n * nclass);
    int rc = H19_OK;
    if (!fold || !yt || !Xt || !Xh || (sw && !wt) || !Ph) rc = H19_ENOMEM;
    if (rc == H19_OK)
        rc = ev_stratified_folds_keyed(y, n, k, nclass, seed, repeat, outer_fold + 1, fold);
    for (int f = 0; f < k && rc == H19_OK; f++) {
        int nt = 0, nh = 0;
        for (int i = 0; i < n; i++) {
            if (fold[i] == f) {
                memcpy(Xh + (size_t)nh * p, X + (size_t)i * p, sizeof(double) * (size_t)p);
                nh++;
            } else {
                memcpy(Xt + (size_t)nt * p, X + (size_t)i * p, sizeof(double) * (size_t)p);
                yt[nt] = y[i];
                if (wt) wt[nt] = sw[i];
                nt++;
            }
        }
        plr_model m;
        rc = plr_fit_w(Xt, yt, wt, nt, p, nclass, C, &m);
        if (rc) {
            h19_fail_ctx(rc, "plr.c:plr_cross_fit: inner fold %d of %d (outer fold %u)", f, k,
                         outer_fold);
            break;
        }
        rc = plr_predict_proba(&m, Xh, nh, Ph);
        plr_free(&m);
        nh = 0;
        for (int i = 0; i < n && rc == H19_OK; i++)
            if (fold[i] == f) {
                memcpy(oof + (size_t)i * nclass, Ph + (size_t)nh * nclass,
                       sizeof(double) * (size_t)nclass);
                nh++;
            }
    }
    free(fold);
    free(yt);
    free(Xt);
    free(Xh);
    free(wt);
    free(Ph);
    return rc;
}
