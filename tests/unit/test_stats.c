/* test_stats.c — st_ statistics on hand-checked values (closed forms and textbook examples); the
 * SciPy comparison over thousands of generated cases is tests/integration/test_stats_scipy.sh. */
#include "check.h"
#include "hust19/err.h"
#include "hust19/stats.h"

#include <math.h>

int main(void)
{
    /* Normal quantile (AS 241): Φ⁻¹(0.975) = 1.959963984540054, Φ⁻¹(1e-10) = −6.361340902404056
     * (tables of the normal distribution, e.g. A&S 26.2), round trip through erfc. */
    CHECK_NEAR(st_norm_ppf(0.975), 1.959963984540054, 1e-14);
    CHECK_NEAR(st_norm_ppf(1e-10), -6.361340902404056, 1e-12);
    CHECK(st_norm_ppf(0.5) == 0.0);
    CHECK(isinf(st_norm_ppf(0.0)) && isnan(st_norm_ppf(1.5)));
    for (double p = 1e-300; p < 0.5; p *= 7.3) CHECK_NEAR(st_norm_cdf(st_norm_ppf(p)) / p, 1.0, 1e-12);
    CHECK_NEAR(st_norm_sf(1.959963984540054), 0.025, 1e-15);

    /* Incomplete beta closed forms: I_x(a,1) = x^a, I_x(1,b) = 1 − (1−x)^b, I_x(½,½) = (2/π) asin √x. */
    for (double x = 0.01; x < 1; x += 0.07) {
        CHECK_NEAR(st_betainc(3.7, 1.0, x), pow(x, 3.7), 1e-13);
        CHECK_NEAR(st_betainc(1.0, 2.5, x), 1 - pow(1 - x, 2.5), 1e-13);
        CHECK_NEAR(st_betainc(0.5, 0.5, x), 2 / M_PI * asin(sqrt(x)), 1e-13);
    }
    /* Student t with 1 dof is Cauchy: P(T > t) = ½ − atan(t)/π. */
    for (double t = -30; t < 30; t += 1.7) CHECK_NEAR(st_t_sf(t, 1.0), 0.5 - atan(t) / M_PI, 1e-13);

    /* t-test x = {1,2,3}, y = {4,5,6}: pooled s² = 1, t = −3/√(2/3) = −3.6742346, df 4; for 4 dof
     * the CDF is F(t) = ½ + t(t² + 6)/(2(t² + 4)^{3/2}). */
    double x3[] = {1, 2, 3}, y3[] = {4, 5, 6};
    st_result r;
    CHECK_OK(st_ttest_ind(x3, 3, y3, 3, &r));
    double t = -3.0 / sqrt(2.0 / 3.0), tt = t * t;
    CHECK(r.verdict == ST_TESTED && r.df == 4);
    CHECK_NEAR(r.stat, t, 1e-13);
    double F = 0.5 + t / (2 * sqrt(4 + tt)) * (1 + 2 / (4 + tt));
    CHECK_NEAR(r.p, 2 * F, 1e-13);

    /* Mann–Whitney exact: x = {1,2,3} < y = {4,5,6}: U1 = 0, p = 2/C(6,3) = 0.1. x = {1,3,5},
     * y = {2,4,6,7}: U1 = 3; counts of U for (3,4) are 1,1,2,3,4,4,5,... of 35, so p = 2·7/35. */
    CHECK_OK(st_mannwhitney(x3, 3, y3, 3, &r));
    CHECK(r.method == ST_METHOD_EXACT && r.stat == 0);
    CHECK_NEAR(r.p, 0.1, 1e-15);
    double xa[] = {1, 3, 5}, ya[] = {2, 4, 6, 7};
    CHECK_OK(st_mannwhitney(xa, 3, ya, 4, &r));
    CHECK(r.stat == 3);
    CHECK_NEAR(r.p, 0.4, 1e-15);
    /* With a tie the normal approximation is used: x = {1,2,2,3}, y = {2,4,5}: ranks 1,3,3,5 | 3,6,7,
     * U1 = 12 − 10 = 2, U = 10, tie term 24, σ² = 12/12 (8 − 24/42), z = (10 − 6 − ½)/σ. */
    double xt[] = {1, 2, 2, 3}, yt[] = {2, 4, 5};
    CHECK_OK(st_mannwhitney(xt, 4, yt, 3, &r));
    CHECK(r.method == ST_METHOD_ASYMPTOTIC && r.stat == 2);
    CHECK_NEAR(r.p, erfc(3.5 / sqrt(8 - 24.0 / 42) / M_SQRT2), 1e-14);

    /* Shapiro–Wilk n = 3 is exact: W = (x3 − x1)²/2 / SS, p = (6/π)(asin √W − π/3). {1,2,4}:
     * SS = 42/9, W = 27/28. The SciPy mode rounds to float. */
    double s3[] = {4, 1, 2};
    double W = 27.0 / 28.0, pW = 6 / M_PI * (asin(sqrt(W)) - M_PI / 3);
    CHECK_OK(st_shapiro(s3, 3, ST_SW_DOUBLE, &r));
    CHECK_NEAR(r.stat, W, 1e-5); /* a_1 = 0.70711 in AS R94, not exactly √½ */
    CHECK_NEAR(r.p, pW, 1e-4);
    CHECK_OK(st_shapiro(s3, 3, ST_SW_SCIPY, &r));
    CHECK_NEAR(r.stat, W, 1e-5);
    CHECK_NEAR(r.p, pW, 1e-4);
    /* Evenly spaced data are as normal as three points can be: W = 1, p = 1. */
    CHECK_OK(st_shapiro(x3, 3, ST_SW_DOUBLE, &r));
    CHECK_NEAR(r.stat, 1.0, 1e-9);
    CHECK_NEAR(r.p, 1.0, 1e-4);
    /* Strong skew in 20 values (powers of 2) is rejected in both modes. */
    double sk[20];
    for (int i = 0; i < 20; i++) sk[i] = pow(2.0, i);
    st_result a, b;
    CHECK_OK(st_shapiro(sk, 20, ST_SW_SCIPY, &a));
    CHECK_OK(st_shapiro(sk, 20, ST_SW_DOUBLE, &b));
    CHECK(a.p < 1e-4 && b.p < 1e-4);
    CHECK_NEAR(a.stat, b.stat, 1e-5);

    /* Degenerate input: a verdict, zeros, never NaN. */
    double c5[] = {2, 2, 2, 2, 2}, nanv[] = {1, NAN, 3, 4};
    CHECK_OK(st_shapiro(c5, 5, ST_SW_SCIPY, &r));
    CHECK(r.verdict == ST_CONSTANT && r.stat == 0 && r.p == 0);
    CHECK_OK(st_shapiro(x3, 2, ST_SW_SCIPY, &r));
    CHECK(r.verdict == ST_TOO_FEW);
    CHECK_OK(st_mannwhitney(nanv, 4, x3, 3, &r));
    CHECK(r.verdict == ST_NONFINITE);
    CHECK_OK(st_ttest_ind(c5, 5, c5, 3, &r));
    CHECK(r.verdict == ST_CONSTANT);
    CHECK_OK(st_chi2_2x2(0, 0, 3, 4, &r));
    CHECK(r.verdict == ST_ZERO_MARGIN);
    CHECK(st_chi2_2x2(-1, 0, 3, 4, &r) == H19_EARG);

    /* χ² of {{10,20},{30,40}}: expected 12, 18, 28, 42; χ² = 4/12 + 4/18 + 4/28 + 4/42. */
    CHECK_OK(st_chi2_2x2(10, 20, 30, 40, &r));
    double chi = 4.0 / 12 + 4.0 / 18 + 4.0 / 28 + 4.0 / 42;
    CHECK_NEAR(r.stat, chi, 1e-14);
    CHECK_NEAR(r.p, erfc(sqrt(chi / 2)), 1e-15);
    CHECK(r.p > 0.37 && r.p < 0.38);

    /* BH: p = {0.01, 0.04, 0.03, 0.005} -> p·n/rank = 0.02, 0.04, 0.04, 0.02 (already monotone). */
    double p4[] = {0.01, 0.04, 0.03, 0.005}, q4[4];
    CHECK_OK(st_bh(p4, 4, q4));
    CHECK_NEAR(q4[0], 0.02, 1e-15);
    CHECK_NEAR(q4[1], 0.04, 1e-15);
    CHECK_NEAR(q4[2], 0.04, 1e-15);
    CHECK_NEAR(q4[3], 0.02, 1e-15);
    /* Step-up: {0.01, 0.011, 0.9} -> 0.015, 0.0165... min(0.03, 0.0165) = 0.0165, 0.9. */
    double p3[] = {0.01, 0.011, 0.9}, q3[3];
    CHECK_OK(st_bh(p3, 3, q3));
    CHECK_NEAR(q3[0], 0.0165, 1e-15);
    CHECK_NEAR(q3[1], 0.0165, 1e-15);
    CHECK_NEAR(q3[2], 0.9, 1e-15);
    double bad[] = {0.5, NAN};
    CHECK(st_bh(bad, 2, q3) == H19_EARG);

    /* Mean and sample SD of {2,4,4,4,5,5,7,9}: 5 and √(32/7). */
    double m8[] = {2, 4, 4, 4, 5, 5, 7, 9}, mean, sd;
    CHECK(st_mean_sd(m8, 8, &mean, &sd) == ST_TESTED);
    CHECK_NEAR(mean, 5.0, 1e-15);
    CHECK_NEAR(sd, sqrt(32.0 / 7.0), 1e-15);
    CHECK(st_mean_sd(nanv, 4, &mean, &sd) == ST_NONFINITE && mean == 0 && sd == 0);
    CHECK_DONE();
}
