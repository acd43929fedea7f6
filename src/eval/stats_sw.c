/* stats_sw.c — the Shapiro–Wilk test (see hust19/stats.h).
 *
 * Algorithm: Royston, P. (1995) "Remark AS R94: A remark on algorithm AS 181: the W-test for
 * normality", Appl. Statist. 44(4), 547–551, with the approximations of Royston, P. (1992)
 * "Approximating the Shapiro–Wilk W-test for non-normality", Statistics and Computing 2,
 * 117–119:
 *   - coefficients a_i = −m_i / fac for i >= 3 where m_i = Φ⁻¹((i − 3/8)/(n + 1/4)); a_1, a_2
 *     are m_i/‖m‖ corrected by polynomials in 1/√n (c1, c2), and fac renormalises Σa² to 1;
 *   - n = 3: a_1 = √½ and the exact p = (6/π)(asin √W − π/3);
 *   - W is the squared correlation of the sorted data with the coefficients, computed as
 *     1 − W = (√(SaSx) − Sax)(√(SaSx) + Sax)/(SaSx) to keep precision when W is near 1;
 *   - p: for 4 <= n <= 11, −log(γ − log(1 − W)) with γ = −2.273 + 0.459 n is normal with mean
 *     and log-sd cubic in n (c3, c4); for n >= 12, log(1 − W) is normal with mean cubic and
 *     log-sd quadratic in log n (c5, c6). p is the upper tail.
 * Normal quantile: AS 111 (Beasley & Springer 1977) for the SciPy mode, AS 241 (Wichura 1988)
 * for the double mode. Upper tail: AS 66 (Hill 1973) for the SciPy mode, erfc for double.
 *
 * Why two modes: SciPy 1.10's stats.shapiro (used by the paper, via Python) calls the Fortran
 * AS R94 in single precision (REAL data, weights, sums; AS 111 in REAL; AS 66 in DOUBLE), after
 * subtracting the median in double and sorting. ST_SW_SCIPY repeats exactly those roundings so
 * that verdicts at the P < 0.05 boundary are the ones SciPy (and the paper) got. Each float
 * expression below is evaluated in the same order as the published Fortran (left to right),
 * so that results agree to the last float bit on IEEE machines without FMA contraction.
 */
#include "hust19/err.h"
#include "hust19/stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Royston's (1992, 1995) polynomial coefficients, lowest order first. */
static const double k_c1[6] = {0.0, 0.221157, -0.147981, -2.07119, 4.434685, -2.706056};
static const double k_c2[6] = {0.0, 0.042981, -0.293762, -1.752461, 5.682633, -3.582633};
static const double k_c3[4] = {0.5440, -0.39978, 0.025054, -6.714e-4};
static const double k_c4[4] = {1.3822, -0.77857, 0.062767, -0.0020322};
static const double k_c5[4] = {-1.5861, -0.31082, -0.083751, 0.0038915};
static const double k_c6[3] = {-0.4803, -0.082676, 0.0030302};
static const double k_g[2] = {-2.273, 0.459};

/* ---------------------------------------------------------------- single precision (SciPy) */

/* AS 181.2 POLY: c[0] + x(c[1] + x(c[2] + ...)), evaluated as (..((x c[n-1] + c[n-2]) x ...). */
static float polyf(const float *c, int nord, float x)
{
    float r = c[0];
    if (nord == 1) return r;
    float p = x * c[nord - 1];
    for (int j = nord - 2; j >= 1; j--) p = (p + c[j]) * x;
    return r + p;
}

/* AS 111 (Beasley & Springer 1977) normal quantile in single precision. */
static float ppnd_as111f(float p)
{
    float q = p - 0.5f;
    if (fabsf(q) <= 0.42f) {
        float r = q * q;
        return q * (((-25.44106049637f * r + 41.39119773534f) * r + -18.61500062529f) * r +
                    2.50662823884f) /
               ((((3.13082909833f * r + -21.06224101826f) * r + 23.08336743743f) * r +
                 -8.47351093090f) * r + 1.0f);
    }
    float r = p;
    if (q > 0.0f) r = 1.0f - p;
    if (r <= 0.0f) return 0.0f; /* cannot happen for (i − 3/8)/(n + 1/4) */
    r = sqrtf(-logf(r));
    float z = (((2.32121276858f * r + 4.85014127135f) * r + -2.29796479134f) * r + -2.78718931138f) /
              ((1.63706781897f * r + 3.54388924762f) * r + 1.0f);
    return q < 0.0f ? -z : z;
}

/* AS 66 (Hill 1973, with the 2001 extended UTZERO of 38) normal tail in double: P(Z > x). */
static double alnorm_upper(double x)
{
    int up = 1;
    double z = x;
    if (z < 0) {
        up = 0;
        z = -z;
    }
    double r;
    if (!(z <= 7.0 || (up && z <= 38.0))) {
        r = 0.0;
    } else {
        double y = 0.5 * z * z;
        if (z <= 1.28) {
            r = 0.5 - z * (0.398942280444 -
                           0.399903438504 * y /
                               (y + 5.75885480458 - 29.8213557808 / (y + 2.62433121679 + 48.6959930692 / (y + 5.92885724438))));
        } else {
            r = 0.398942280385 * exp(-y) /
                (z - 3.8052e-8 +
                 1.00000615302 /
                     (z + 3.98064794e-4 +
                      1.98615381364 /
                          (z - 0.151679116635 +
                           5.29330324926 / (z + 4.8385912808 - 15.1508972451 / (z + 0.742380924027 + 30.789933034 / (z + 3.99019417011))))));
        }
    }
    return up ? r : 1.0 - r;
}

/* x: n sorted values already centred and rounded to float; a: n/2 floats of scratch. */
static void swilk_float(const float *x, int n, float *a, double *w_out, double *p_out)
{
    float c1[6], c2[6], c3[4], c4[4], c5[4], c6[3], g[2];
    for (int i = 0; i < 6; i++) c1[i] = (float)k_c1[i], c2[i] = (float)k_c2[i];
    for (int i = 0; i < 4; i++) c3[i] = (float)k_c3[i], c4[i] = (float)k_c4[i], c5[i] = (float)k_c5[i];
    for (int i = 0; i < 3; i++) c6[i] = (float)k_c6[i];
    g[0] = (float)k_g[0], g[1] = (float)k_g[1];
    const float small = 1e-19f;
    float an = (float)n;
    int nn2 = n / 2;

    if (n == 3) {
        a[0] = 0.70711f;
    } else {
        float an25 = an + 0.25f, summ2 = 0.0f;
        for (int i = 1; i <= nn2; i++) {
            a[i - 1] = ppnd_as111f(((float)i - 0.375f) / an25);
            summ2 = summ2 + a[i - 1] * a[i - 1];
        }
        summ2 = summ2 * 2.0f;
        float ssumm2 = sqrtf(summ2);
        float rsn = 1.0f / sqrtf(an);
        float a1 = polyf(c1, 6, rsn) - a[0] / ssumm2;
        int i1;
        float fac;
        if (n > 5) {
            i1 = 3;
            float a2 = -a[1] / ssumm2 + polyf(c2, 6, rsn);
            fac = sqrtf((summ2 - 2.0f * (a[0] * a[0]) - 2.0f * (a[1] * a[1])) /
                        (1.0f - 2.0f * (a1 * a1) - 2.0f * (a2 * a2)));
            a[0] = a1;
            a[1] = a2;
        } else {
            i1 = 2;
            fac = sqrtf((summ2 - 2.0f * (a[0] * a[0])) / (1.0f - 2.0f * (a1 * a1)));
            a[0] = a1;
        }
        for (int i = i1; i <= nn2; i++) a[i - 1] = -a[i - 1] / fac;
    }

    /* Loops below are 1-based like the published algorithm; a[k-1] is its A(k). */
    float range = x[n - 1] - x[0];
    if (range < small) { /* caller screens constant data; keep W = 1, p = 1 as AS R94 */
        *w_out = 1.0;
        *p_out = 1.0;
        return;
    }
    float sx = x[0] / range, sa = -a[0];
    int j = n - 1;
    for (int i = 2; i <= n; i++) {
        float xi = x[i - 1] / range;
        sx = sx + xi;
        if (i != j) sa = sa + (i - j > 0 ? a[(i < j ? i : j) - 1] : -a[(i < j ? i : j) - 1]);
        j--;
    }
    sa = sa / (float)n;
    sx = sx / (float)n;
    float ssa = 0.0f, ssx = 0.0f, sax = 0.0f;
    j = n;
    for (int i = 1; i <= n; i++) {
        float asa;
        if (i != j) {
            int k = i < j ? i : j;
            asa = (i - j > 0 ? a[k - 1] : -a[k - 1]) - sa;
        } else {
            asa = -sa;
        }
        float xsx = x[i - 1] / range - sx;
        ssa = ssa + asa * asa;
        ssx = ssx + xsx * xsx;
        sax = sax + asa * xsx;
        j--;
    }
    float ssassx = sqrtf(ssa * ssx);
    float w1 = (ssassx - sax) * (ssassx + sax) / (ssa * ssx);
    /* Rounding can push 1 − W a hair below 0 for data on a perfect normal-score line; SciPy
     * would then return NaN. We report W = 1 (p = 1) instead: the data are as normal as can be. */
    if (w1 < 0.0f) w1 = 0.0f;
    float w = 1.0f - w1;
    *w_out = w;

    if (n == 3) {
        float pw = 1.909859f * (asinf(sqrtf(w)) - 1.047198f);
        /* SciPy's float constants make p dip to about −9e-7 at W = 3/4; p is clamped to 0. */
        *p_out = pw < 0.0f ? 0.0 : pw;
        return;
    }
    float y = logf(w1), lxx = logf(an), m, s;
    if (n <= 11) {
        float gamma = polyf(g, 2, an);
        if (y >= gamma) {
            *p_out = small; /* AS R94's "obviously significant" value */
            return;
        }
        y = -logf(gamma - y);
        m = polyf(c3, 4, an);
        s = expf(polyf(c4, 4, an));
    } else {
        m = polyf(c5, 4, lxx);
        s = expf(polyf(c6, 3, lxx));
    }
    *p_out = (float)alnorm_upper((double)((y - m) / s));
}

/* ---------------------------------------------------------------- double precision */

static double polyd(const double *c, int nord, double x)
{
    double r = 0.0;
    for (int k = nord - 1; k >= 0; k--) r = r * x + c[k];
    return r;
}

static void swilk_double(const double *x, int n, double *a, double *w_out, double *p_out)
{
    double an = n;
    int nn2 = n / 2;
    if (n == 3) {
        a[0] = M_SQRT1_2;
    } else {
        double an25 = an + 0.25, summ2 = 0.0;
        for (int i = 1; i <= nn2; i++) {
            a[i - 1] = st_norm_ppf((i - 0.375) / an25);
            summ2 += a[i - 1] * a[i - 1];
        }
        summ2 *= 2.0;
        double ssumm2 = sqrt(summ2), rsn = 1.0 / sqrt(an);
        double a1 = polyd(k_c1, 6, rsn) - a[0] / ssumm2;
        int i1;
        double fac;
        if (n > 5) {
            i1 = 3;
            double a2 = -a[1] / ssumm2 + polyd(k_c2, 6, rsn);
            fac = sqrt((summ2 - 2.0 * a[0] * a[0] - 2.0 * a[1] * a[1]) /
                       (1.0 - 2.0 * a1 * a1 - 2.0 * a2 * a2));
            a[0] = a1;
            a[1] = a2;
        } else {
            i1 = 2;
            fac = sqrt((summ2 - 2.0 * a[0] * a[0]) / (1.0 - 2.0 * a1 * a1));
            a[0] = a1;
        }
        for (int i = i1; i <= nn2; i++) a[i - 1] = -a[i - 1] / fac;
    }
    double range = x[n - 1] - x[0];
    if (!(range > 0)) {
        *w_out = 1.0;
        *p_out = 1.0;
        return;
    }
    /* Mean of the antisymmetric coefficient vector (0 up to rounding) and of the scaled data. */
    double sa = 0.0, sx = 0.0;
    for (int i = 0; i < n; i++) {
        int k = i < n - 1 - i ? i : n - 1 - i; /* pair index */
        double ai = (i == n - 1 - i) ? 0.0 : (i < n - 1 - i ? -a[k] : a[k]);
        sa += ai;
        sx += x[i] / range;
    }
    sa /= n;
    sx /= n;
    double ssa = 0.0, ssx = 0.0, sax = 0.0;
    for (int i = 0; i < n; i++) {
        int k = i < n - 1 - i ? i : n - 1 - i;
        double ai = (i == n - 1 - i) ? 0.0 : (i < n - 1 - i ? -a[k] : a[k]);
        double asa = ai - sa, xsx = x[i] / range - sx;
        ssa += asa * asa;
        ssx += xsx * xsx;
        sax += asa * xsx;
    }
    double ssassx = sqrt(ssa * ssx);
    double w1 = (ssassx - sax) * (ssassx + sax) / (ssa * ssx);
    if (w1 < 0.0) w1 = 0.0;
    double w = 1.0 - w1;
    *w_out = w;
    if (n == 3) {
        double pw = (6.0 / M_PI) * (asin(sqrt(w)) - M_PI / 3.0);
        *p_out = pw < 0 ? 0.0 : (pw > 1 ? 1.0 : pw);
        return;
    }
    double y = log(w1), lxx = log(an), m, s;
    if (n <= 11) {
        double gamma = polyd(k_g, 2, an);
        if (y >= gamma) {
            *p_out = 1e-19; /* as AS R94 (and SciPy) */
            return;
        }
        y = -log(gamma - y);
        m = polyd(k_c3, 4, an);
        s = exp(polyd(k_c4, 4, an));
    } else {
        m = polyd(k_c5, 4, lxx);
        s = exp(polyd(k_c6, 3, lxx));
    }
    *p_out = st_norm_sf((y - m) / s);
}

static int cmp_double(const void *pa, const void *pb)
{
    double a = *(const double *)pa, b = *(const double *)pb;
    return (a > b) - (a < b);
}

int st_shapiro(const double *x, size_t n, st_sw_mode mode, st_result *out)
{
    memset(out, 0, sizeof *out);
    if (!x && n) return h19_fail(H19_EARG, "st_shapiro: NULL data with n = %zu", n);
    if (mode != ST_SW_SCIPY && mode != ST_SW_DOUBLE)
        return h19_fail(H19_EARG, "st_shapiro: unknown mode %d", (int)mode);
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) {
            out->verdict = ST_NONFINITE;
            return H19_OK;
        }
    if (n < 3) {
        out->verdict = ST_TOO_FEW;
        return H19_OK;
    }
    if (n > (size_t)1 << 28) return h19_fail(H19_EARG, "st_shapiro: n = %zu is too large", n);
    double *s = h19_malloc(n * sizeof *s);
    if (!s) return H19_ENOMEM;
    memcpy(s, x, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_double);
    if (s[0] == s[n - 1]) {
        free(s);
        out->verdict = ST_CONSTANT;
        return H19_OK;
    }
    /* Centre on the median as SciPy does (it changes only rounding). */
    double med = (n % 2) ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2.0;
    for (size_t i = 0; i < n; i++) s[i] -= med;
    int ni = (int)n;
    double w = 1, p = 1;
    if (mode == ST_SW_SCIPY) {
        float *xf = h19_malloc(n * sizeof *xf), *af = h19_malloc((n / 2 + 1) * sizeof *af);
        if (!xf || !af) {
            free(xf);
            free(af);
            free(s);
            return H19_ENOMEM;
        }
        for (size_t i = 0; i < n; i++) xf[i] = (float)s[i];
        if (xf[n - 1] - xf[0] < 1e-19f) { /* distinct doubles that collapse in float */
            out->verdict = ST_CONSTANT;
        } else {
            swilk_float(xf, ni, af, &w, &p);
        }
        free(xf);
        free(af);
    } else {
        double *ad = h19_malloc((n / 2 + 1) * sizeof *ad);
        if (!ad) {
            free(s);
            return H19_ENOMEM;
        }
        swilk_double(s, ni, ad, &w, &p);
        free(ad);
    }
    free(s);
    if (out->verdict != ST_TESTED) return H19_OK;
    out->stat = w;
    out->p = p < 0 ? 0.0 : (p > 1 ? 1.0 : p);
    return H19_OK;
}
