/* test_plr.c — penalised logistic regression: finite-difference gradient check of the objective,
 * stationarity at the fitted optimum, probabilities, invariances that any correct solver must show
 * (label flip negates a binary fit; an integer weight equals duplicated rows; multinomial
 * intercepts sum to 0), balanced weights, and out-of-fold cross-fitting (each held-out row equals
 * a refit without its fold). The sklearn comparison is tests/ref/plr_ref.py. */
#include "check.h"
#include "hust19/err.h"
#include "hust19/ev.h"
#include "hust19/plr.h"
#include "hust19/rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void make_data(h19_rng *r, int n, int p, int K, double sep, double *X, int *y)
{
    double ctr[3][8];
    for (int k = 0; k < K; k++)
        for (int j = 0; j < p; j++) ctr[k][j] = sep * h19_rng_normal(r);
    for (int i = 0; i < n; i++) {
        y[i] = i < K ? i : (int)h19_rng_below(r, (uint32_t)K);
        for (int j = 0; j < p; j++) X[i * p + j] = ctr[y[i]][j] + h19_rng_normal(r);
    }
}

static void grad_check(const double *X, const int *y, const double *w, int n, int p, int K,
                       double C, h19_rng *r)
{
    int nrow = K == 2 ? 1 : K, D = nrow * (p + 1);
    double th[64] = {0}, g[64] = {0}, f;
    for (int i = 0; i < D; i++) th[i] = 0.5 * h19_rng_normal(r);
    CHECK_OK(plr_objective(X, y, w, n, p, K, C, th, &f, g));
    for (int i = 0; i < D; i++) {
        double h = 1e-5, fp, fm, save = th[i];
        th[i] = save + h;
        CHECK_OK(plr_objective(X, y, w, n, p, K, C, th, &fp, NULL));
        th[i] = save - h;
        CHECK_OK(plr_objective(X, y, w, n, p, K, C, th, &fm, NULL));
        th[i] = save;
        double fd = (fp - fm) / (2 * h);
        /* central difference: error O(h^2 f''') ~ 1e-8 relative */
        CHECK_MSG(fabs(fd - g[i]) <= 1e-6 * (1.0 + fabs(g[i])), "K=%d d%d: fd %.10g vs %.10g", K, i, fd, g[i]);
    }
}

int main(void)
{
    h19_rng r;
    h19_rng_init(&r, 11, H19_RNG_STATS, 0, 0, 0, 0);
    enum { N = 120, PMAX = 5 };
    static double X[N * PMAX], X2[2 * N * PMAX], w[N], Pr[N * 3], Pr2[N * 3], oof[N * 3];
    static int y[N], y2[2 * N], yf[N], fold[N];

    for (int K = 2; K <= 3; K++) {
        int p = K == 2 ? 4 : 3;
        make_data(&r, N, p, K, 1.0, X, y);
        for (int i = 0; i < N; i++) w[i] = 0.5 + h19_rng_uniform(&r);
        grad_check(X, y, NULL, N, p, K, 0.7, &r);
        grad_check(X, y, w, N, p, K, 3.0, &r);

        /* The fit is a stationary point: gradient ~ 0, and small perturbations raise f. */
        plr_model m;
        CHECK_OK(plr_fit_w(X, y, w, N, p, K, 2.0, &m));
        int nrow = K == 2 ? 1 : K, D = nrow * (p + 1);
        double th[64] = {0}, g[64] = {0}, f0, f1;
        for (int q = 0; q < nrow; q++) {
            for (int j = 0; j < p; j++) th[q * (p + 1) + j] = m.coef[q * p + j];
            th[q * (p + 1) + p] = m.intercept[q];
        }
        CHECK_OK(plr_objective(X, y, w, N, p, K, 2.0, th, &f0, g));
        double gmax = 0;
        for (int i = 0; i < D; i++) gmax = fmax(gmax, fabs(g[i]));
        CHECK_MSG(gmax <= 1e-8, "K=%d gradient %.3g at the optimum", K, gmax);
        for (int i = 0; i < D; i++) {
            th[i] += 1e-3;
            CHECK_OK(plr_objective(X, y, w, N, p, K, 2.0, th, &f1, NULL));
            th[i] -= 1e-3;
            CHECK(f1 >= f0);
        }
        if (K == 3) {
            double sb = m.intercept[0] + m.intercept[1] + m.intercept[2];
            CHECK_NEAR(sb, 0.0, 1e-12);
        }
        CHECK_OK(plr_predict_proba(&m, X, N, Pr));
        int rowsum_ok = 1;
        for (int i = 0; i < N; i++) {
            double s = 0;
            for (int k = 0; k < K; k++) s += Pr[i * K + k];
            rowsum_ok &= fabs(s - 1.0) < 1e-12;
        }
        CHECK(rowsum_ok);
        plr_free(&m);

        /* Integer weights = duplicated rows: weight 2 on the first half. */
        int n2 = 0;
        for (int i = 0; i < N; i++) {
            w[i] = i < N / 2 ? 2.0 : 1.0;
            for (int rep = 0; rep < (int)w[i]; rep++) {
                memcpy(X2 + (size_t)n2 * p, X + (size_t)i * p, sizeof(double) * p);
                y2[n2++] = y[i];
            }
        }
        plr_model ma, mb;
        CHECK_OK(plr_fit_w(X, y, w, N, p, K, 1.0, &ma));
        CHECK_OK(plr_fit(X2, y2, n2, p, K, 1.0, &mb));
        for (int i = 0; i < nrow * p; i++) CHECK_NEAR(ma.coef[i], mb.coef[i], 1e-9);
        for (int i = 0; i < nrow; i++) CHECK_NEAR(ma.intercept[i], mb.intercept[i], 1e-9);
        plr_free(&ma);
        plr_free(&mb);

        /* Cross-fitting: every out-of-fold row equals the model refitted without its fold. */
        CHECK_OK(plr_cross_fit(X, y, NULL, N, p, K, 1.0, 5, 99, 1, 2, oof));
        CHECK_OK(ev_stratified_folds_keyed(y, N, 5, K, 99, 1, 3, fold));
        for (int f = 0; f < 5; f++) {
            int nt = 0;
            for (int i = 0; i < N; i++)
                if (fold[i] != f) {
                    memcpy(X2 + (size_t)nt * p, X + (size_t)i * p, sizeof(double) * p);
                    yf[nt++] = y[i];
                }
            plr_model mf;
            CHECK_OK(plr_fit(X2, yf, nt, p, K, 1.0, &mf));
            CHECK_OK(plr_predict_proba(&mf, X, N, Pr2));
            double d = 0;
            for (int i = 0; i < N; i++)
                if (fold[i] == f)
                    for (int k = 0; k < K; k++) d = fmax(d, fabs(Pr2[i * K + k] - oof[i * K + k]));
            CHECK_MSG(d <= 1e-12, "K=%d fold %d: out-of-fold differs by %.3g", K, f, d);
            plr_free(&mf);
        }
        /* ... and out-of-fold scores differ from in-sample ones (the point of cross-fitting). */
        CHECK_OK(plr_fit(X, y, N, p, K, 1.0, &m));
        CHECK_OK(plr_predict_proba(&m, X, N, Pr));
        double dmax = 0;
        for (int i = 0; i < N * K; i++) dmax = fmax(dmax, fabs(Pr[i] - oof[i]));
        CHECK(dmax > 1e-6);
        plr_free(&m);
    }

    /* Binary label flip negates coefficients and intercept. */
    make_data(&r, N, 3, 2, 1.0, X, y);
    for (int i = 0; i < N; i++) yf[i] = 1 - y[i];
    plr_model a, b;
    CHECK_OK(plr_fit(X, y, N, 3, 2, 5.0, &a));
    CHECK_OK(plr_fit(X, yf, N, 3, 2, 5.0, &b));
    for (int j = 0; j < 3; j++) CHECK_NEAR(a.coef[j], -b.coef[j], 1e-10);
    CHECK_NEAR(a.intercept[0], -b.intercept[0], 1e-10);
    plr_free(&a);
    plr_free(&b);

    /* Nearly separable data with a large C still converges to a finite optimum. */
    make_data(&r, N, 2, 3, 6.0, X, y);
    CHECK_OK(plr_fit(X, y, N, 2, 3, 100.0, &a));
    CHECK(a.grad_max <= 1e-10 * 100.0 * 1e3);
    plr_free(&a);

    /* Wide and degenerate: p = 30 > n = 20, a constant column, a duplicated column, 3 classes:
     * the penalty keeps the problem strictly convex, so Newton must still converge. */
    {
        enum { NW = 20, PW = 30 };
        static double Xw[NW * PW];
        int yw[NW];
        for (int i = 0; i < NW; i++) {
            yw[i] = i % 3;
            for (int j = 0; j < PW; j++) Xw[i * PW + j] = h19_rng_normal(&r) + (j == yw[i]);
            Xw[i * PW + 5] = 1.0;
            Xw[i * PW + 7] = Xw[i * PW + 6];
        }
        plr_model mw;
        CHECK_OK(plr_fit(Xw, yw, NW, PW, 3, 10.0, &mw));
        CHECK(mw.grad_max <= 1e-10 * 10.0 * 1e3);
        /* duplicated columns share their weight equally (the ridge solution is symmetric) */
        for (int k = 0; k < 3; k++) CHECK_NEAR(mw.coef[k * PW + 6], mw.coef[k * PW + 7], 1e-8);
        plr_free(&mw);
    }

    /* Balanced weights: n / (K count_k); each class's weights sum to n / K. */
    int yb[6] = {0, 0, 0, 0, 1, 2};
    double sw[6];
    CHECK_OK(plr_balanced_weights(yb, 6, 3, sw));
    CHECK_NEAR(sw[0], 0.5, 1e-15);
    CHECK_NEAR(sw[4], 2.0, 1e-15);
    CHECK_NEAR(sw[5], 2.0, 1e-15);

    /* Misuse: a missing class, C <= 0, a NaN feature. */
    int ymiss[4] = {0, 0, 1, 1};
    double Xs[8] = {0, 1, 1, 0, 2, 2, 3, 1};
    CHECK(plr_fit(Xs, ymiss, 4, 2, 3, 1.0, &a) == H19_EARG);
    CHECK(plr_fit(Xs, ymiss, 4, 2, 2, 0.0, &a) == H19_EARG);
    Xs[3] = NAN;
    CHECK(plr_fit(Xs, ymiss, 4, 2, 2, 1.0, &a) == H19_EARG);
    CHECK_DONE();
}
