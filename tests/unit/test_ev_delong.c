/* test_ev_delong.c — the fast midrank DeLong (Sun & Xu 2014) against the direct O(n^2)
 * structural components of DeLong et al. (1988), on random cases with and without ties; AUC
 * against the pairwise definition; interval clipping; the two-AUC test. Tolerance 1e-12
 * (both are exact rational computations; only rounding differs). */
#include "check.h"
#include "hust19/err.h"
#include "hust19/ev.h"
#include "hust19/rng.h"

#include <math.h>
#include <stdlib.h>

/* psi(x, y) = 1, 1/2, 0 for x > y, x = y, x < y. */
static double psi(double x, double y) { return x > y ? 1.0 : (x == y ? 0.5 : 0.0); }

/* Direct structural components: v10[i] over positives, v01[j] over negatives. */
static void direct(const double *s1, const double *s2, const int *y, int n, double *auc1,
                   double *var1, double *cov)
{
    int m = 0, nn = 0;
    for (int i = 0; i < n; i++) m += y[i];
    nn = n - m;
    double *a10 = calloc(m, sizeof(double)), *b10 = calloc(m, sizeof(double));
    double *a01 = calloc(nn, sizeof(double)), *b01 = calloc(nn, sizeof(double));
    int ip = 0;
    for (int i = 0; i < n; i++) {
        if (!y[i]) continue;
        int jn = 0;
        for (int j = 0; j < n; j++) {
            if (y[j]) continue;
            double pa = psi(s1[i], s1[j]), pb = psi(s2[i], s2[j]);
            a10[ip] += pa / nn;
            b10[ip] += pb / nn;
            a01[jn] += pa / m;
            b01[jn] += pb / m;
            jn++;
        }
        ip++;
    }
    double A = 0, B = 0;
    for (int i = 0; i < m; i++) {
        A += a10[i] / m;
        B += b10[i] / m;
    }
    double s10 = 0, s01 = 0, c10 = 0, c01 = 0;
    for (int i = 0; i < m; i++) {
        s10 += (a10[i] - A) * (a10[i] - A);
        c10 += (a10[i] - A) * (b10[i] - B);
    }
    for (int j = 0; j < nn; j++) {
        s01 += (a01[j] - A) * (a01[j] - A);
        c01 += (a01[j] - A) * (b01[j] - B);
    }
    *auc1 = A;
    *var1 = s10 / (m - 1) / m + s01 / (nn - 1) / nn;
    *cov = c10 / (m - 1) / m + c01 / (nn - 1) / nn;
    free(a10);
    free(b10);
    free(a01);
    free(b01);
}

int main(void)
{
    h19_rng r;
    h19_rng_init(&r, 7, H19_RNG_STATS, 0, 0, 0, 0);
    int ncase = 0;
    for (int c = 0; c < 60; c++) {
        int n = 4 + (int)h19_rng_below(&r, 250);
        int *y = malloc(sizeof(int) * n);
        double *s1 = malloc(sizeof(double) * n), *s2 = malloc(sizeof(double) * n);
        int levels = c % 3 == 0 ? 3 : (c % 3 == 1 ? 20 : 0); /* heavy ties, some ties, none */
        for (int i = 0; i < n; i++) {
            y[i] = i < 2 ? 1 : (i < 4 ? 0 : h19_rng_uniform(&r) < 0.35);
            double v = 0.8 * y[i] + h19_rng_normal(&r);
            s1[i] = levels ? floor(v * levels / 4.0) : v;
            s2[i] = s1[i] + (levels ? floor(h19_rng_normal(&r) * 2) : h19_rng_normal(&r));
        }
        double A, V, COV;
        direct(s1, s2, y, n, &A, &V, &COV);
        double auc;
        ev_delong d;
        ev_delong_cmp cmp;
        CHECK_OK(ev_auc(s1, y, n, &auc));
        CHECK_OK(ev_delong_ci(s1, y, n, 0.95, EV_CI_NORMAL, &d));
        CHECK_OK(ev_delong_compare(s1, s2, y, n, &cmp));
        CHECK_NEAR(auc, A, 1e-12);
        CHECK_NEAR(d.auc, A, 1e-12);
        CHECK_NEAR(d.var, V, 1e-12);
        CHECK_NEAR(cmp.var1, V, 1e-12);
        CHECK_NEAR(cmp.cov, COV, 1e-12);
        CHECK(d.lo >= 0.0 && d.hi <= 1.0 && d.lo <= d.auc && d.auc <= d.hi);
        /* Reversing the scores mirrors the AUC: 1 - A, same variance. */
        for (int i = 0; i < n; i++) s2[i] = -s1[i];
        double auc_r;
        ev_delong dr;
        CHECK_OK(ev_auc(s2, y, n, &auc_r));
        CHECK_OK(ev_delong_ci(s2, y, n, 0.95, EV_CI_LOGIT, &dr));
        CHECK_NEAR(auc_r, 1.0 - A, 1e-12);
        CHECK_NEAR(dr.var, V, 1e-12);
        ncase++;
        free(y);
        free(s1);
        free(s2);
    }
    CHECK(ncase == 60);

    /* Perfect separation: AUC 1, variance 0, both intervals collapse to [1, 1]. */
    double sp[6] = {0.1, 0.2, 0.3, 0.7, 0.8, 0.9};
    int yp[6] = {0, 0, 0, 1, 1, 1};
    ev_delong d;
    CHECK_OK(ev_delong_ci(sp, yp, 6, 0.95, EV_CI_NORMAL, &d));
    CHECK_NEAR(d.auc, 1.0, 0);
    CHECK_NEAR(d.var, 0.0, 1e-15);
    CHECK_NEAR(d.hi, 1.0, 0);
    CHECK_NEAR(d.lo, 1.0, 1e-7);
    CHECK_OK(ev_delong_ci(sp, yp, 6, 0.95, EV_CI_LOGIT, &d));
    CHECK(d.lo == 1.0 && d.hi == 1.0);
    /* A wide interval near 1 is clipped at 1 (normal) and stays inside (0,1) (logit). */
    double sw[6] = {0.1, 0.2, 0.75, 0.7, 0.8, 0.9};
    CHECK_OK(ev_delong_ci(sw, yp, 6, 0.95, EV_CI_NORMAL, &d));
    CHECK_NEAR(d.auc, 8.0 / 9.0, 1e-15);
    CHECK(d.hi == 1.0 && d.lo < d.auc);
    CHECK_OK(ev_delong_ci(sw, yp, 6, 0.95, EV_CI_LOGIT, &d));
    CHECK(d.hi < 1.0 && d.hi > d.auc && d.lo > 0.0 && d.lo < d.auc);
    /* The 95% normal quantile: the half-width is 1.959963984540054 se. */
    CHECK_OK(ev_delong_ci(sw, yp, 6, 0.95, EV_CI_NORMAL, &d));
    CHECK_NEAR(d.auc - d.lo, 1.959963984540054 * d.se, 1e-12);

    /* Identical scores: no difference, p = 1. */
    ev_delong_cmp cmp;
    CHECK_OK(ev_delong_compare(sw, sw, yp, 6, &cmp));
    CHECK(cmp.z == 0.0 && cmp.p == 1.0);

    /* Misuse is reported, not crashed on. */
    int y1[6] = {0, 0, 0, 0, 0, 1};
    CHECK(ev_delong_ci(sp, y1, 6, 0.95, EV_CI_NORMAL, &d) == H19_EARG);
    int y0[6] = {0, 0, 0, 0, 0, 0};
    double auc;
    CHECK(ev_auc(sp, y0, 6, &auc) == H19_EARG);
    int ybad[6] = {0, 2, 0, 1, 0, 1};
    CHECK(ev_auc(sp, ybad, 6, &auc) == H19_EARG);
    double snan[6] = {0.1, NAN, 0.3, 0.7, 0.8, 0.9};
    CHECK(ev_auc(snan, yp, 6, &auc) == H19_EARG);
    CHECK(ev_delong_ci(sp, yp, 6, 1.5, EV_CI_NORMAL, &d) == H19_EARG);
    CHECK_DONE();
}
