/* stats.c — t-test, Mann–Whitney U, 2×2 χ², Benjamini–Hochberg, mean/SD (see hust19/stats.h).
 *
 * Each follows the definition SciPy 1.10 implements (scipy/stats/_stats_py.py ttest_ind,
 * _mannwhitneyu.py, contingency.py), so that results agree with it to rounding:
 *   - t-test: pooled variance s² = ((n1−1)s1² + (n2−1)s2²)/(n1+n2−2), t = (x̄1 − x̄2)/√(s²(1/n1+1/n2)),
 *     p = 2 P(T_df > |t|) (Student 1908; A&S 26.7.1).
 *   - Mann–Whitney (Mann & Whitney 1947): U1 = R1 − n1(n1+1)/2 from average ranks. Exact p when
 *     min(n1, n2) <= 8 and no ties: the null counts of U are the coefficients of the Gaussian
 *     binomial [n1+n2 choose n1]_q (Andrews, The Theory of Partitions, 1976, §3.3), built by
 *     G_j(q) = G_{j−1}(q)(1 − q^{n+j})/(1 − q^j), only up to the needed tail. Otherwise
 *     z = (max(U1,U2) − n1n2/2 − ½)/σ with σ² = n1n2/12 ((n+1) − Σ(t³−t)/(n(n−1))) (Lehmann,
 *     Nonparametrics, 1975, §1.4), p = 2 P(Z > z), clipped to 1.
 *   - χ²: Pearson's statistic with expected counts row·col/N, 1 dof, no Yates correction;
 *     P(χ²₁ > s) = erfc(√(s/2)) (A&S 26.4.4 with 7.1.2).
 *   - BH: Benjamini & Hochberg (1995) step-up adjusted p-values.
 */
#include "hust19/err.h"
#include "hust19/stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *st_verdict_reason(st_verdict v)
{
    switch (v) {
    case ST_TESTED: return "tested";
    case ST_TOO_FEW: return "fewer than three values in a group";
    case ST_CONSTANT: return "all values equal";
    case ST_NONFINITE: return "a value is not finite";
    case ST_ZERO_MARGIN: return "a row or column of the table is empty";
    }
    return "unknown verdict";
}

static int all_finite(const double *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return 0;
    return 1;
}

st_verdict st_mean_sd(const double *x, size_t n, double *mean, double *sd)
{
    *mean = 0.0;
    *sd = 0.0;
    if (!all_finite(x, n)) return ST_NONFINITE;
    if (n == 0) return ST_TESTED;
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += x[i];
    double m = s / (double)n, ss = 0.0;
    for (size_t i = 0; i < n; i++) ss += (x[i] - m) * (x[i] - m);
    *mean = m;
    *sd = n > 1 ? sqrt(ss / (double)(n - 1)) : 0.0;
    return ST_TESTED;
}

/* Common screening of two groups: non-finite, too few, all pooled values equal. */
static st_verdict screen2(const double *x, size_t nx, const double *y, size_t ny)
{
    if (!all_finite(x, nx) || !all_finite(y, ny)) return ST_NONFINITE;
    if (nx < 3 || ny < 3) return ST_TOO_FEW;
    double v = x[0];
    for (size_t i = 0; i < nx; i++)
        if (x[i] != v) return ST_TESTED;
    for (size_t i = 0; i < ny; i++)
        if (y[i] != v) return ST_TESTED;
    return ST_CONSTANT;
}

int st_ttest_ind(const double *x, size_t nx, const double *y, size_t ny, st_result *out)
{
    memset(out, 0, sizeof *out);
    if ((!x && nx) || (!y && ny)) return h19_fail(H19_EARG, "st_ttest_ind: NULL data");
    out->verdict = screen2(x, nx, y, ny);
    if (out->verdict != ST_TESTED) return H19_OK;
    double m1, s1, m2, s2;
    st_mean_sd(x, nx, &m1, &s1);
    st_mean_sd(y, ny, &m2, &s2);
    double df = (double)(nx + ny - 2);
    double svar = ((double)(nx - 1) * s1 * s1 + (double)(ny - 1) * s2 * s2) / df;
    if (!(svar > 0)) { /* each group constant (but different): the t statistic is infinite */
        out->verdict = ST_CONSTANT;
        return H19_OK;
    }
    double t = (m1 - m2) / sqrt(svar * (1.0 / (double)nx + 1.0 / (double)ny));
    out->stat = t;
    out->df = df;
    double p = 2.0 * st_t_sf(fabs(t), df);
    out->p = p > 1 ? 1.0 : p;
    return H19_OK;
}

typedef struct {
    double v;
    size_t i;
} st_vi;

static int cmp_vi(const void *pa, const void *pb)
{
    const st_vi *a = pa, *b = pb;
    if (a->v != b->v) return a->v < b->v ? -1 : 1;
    return (a->i > b->i) - (a->i < b->i);
}

/* P(U <= k) for the null distribution of U with sample sizes m <= n, no ties (exact). */
static int mwu_exact_cdf(size_t m, size_t n, size_t k, double *cdf)
{
    /* G_j[c] = G_j[c−j] + G_{j−1}[c] − G_{j−1}[c−n−j] for c = 0..k: the coefficients of
     * [n+j choose j]_q, kept in place (g holds G_{j−1}, h receives G_j). */
    double *g = h19_calloc(k + 1, sizeof *g), *h = h19_calloc(k + 1, sizeof *h);
    if (!g || !h) {
        free(g);
        free(h);
        return H19_ENOMEM;
    }
    g[0] = 1.0; /* G_0 = 1 */
    for (size_t j = 1; j <= m; j++) {
        for (size_t c = 0; c <= k; c++) {
            double v = g[c];
            if (c >= j) v += h[c - j];
            if (c >= n + j) v -= g[c - n - j];
            h[c] = v;
        }
        double *t = g;
        g = h;
        h = t;
    }
    double s = 0.0;
    for (size_t c = 0; c <= k; c++) s += g[c];
    /* C(m+n, m) as a product, exact in double while it fits 2^53 and correctly rounded after. */
    double binom = 1.0;
    for (size_t j = 1; j <= m; j++) binom = binom * (double)(n + j) / (double)j;
    *cdf = s / binom;
    free(g);
    free(h);
    return H19_OK;
}

int st_mannwhitney(const double *x, size_t nx, const double *y, size_t ny, st_result *out)
{
    memset(out, 0, sizeof *out);
    if ((!x && nx) || (!y && ny)) return h19_fail(H19_EARG, "st_mannwhitney: NULL data");
    out->verdict = screen2(x, nx, y, ny);
    if (out->verdict != ST_TESTED) return H19_OK;
    size_t n = nx + ny;
    st_vi *v = h19_malloc(n * sizeof *v);
    if (!v) return H19_ENOMEM;
    for (size_t i = 0; i < nx; i++) v[i] = (st_vi){x[i], i};
    for (size_t i = 0; i < ny; i++) v[nx + i] = (st_vi){y[i], nx + i};
    qsort(v, n, sizeof *v, cmp_vi);
    /* Average ranks; R1 = sum of ranks of the first sample; tie term Σ(t³ − t). */
    double r1 = 0.0, tie = 0.0;
    for (size_t a = 0; a < n;) {
        size_t b = a + 1;
        while (b < n && v[b].v == v[a].v) b++;
        double rank = 0.5 * (double)(a + 1 + b); /* mean of ranks a+1..b */
        double t = (double)(b - a);
        tie += t * t * t - t;
        for (size_t c = a; c < b; c++)
            if (v[c].i < nx) r1 += rank;
        a = b;
    }
    free(v);
    double n1 = (double)nx, n2 = (double)ny;
    double u1 = r1 - n1 * (n1 + 1.0) / 2.0, u2 = n1 * n2 - u1;
    double u = u1 > u2 ? u1 : u2;
    out->stat = u1;
    double p;
    if ((nx <= 8 || ny <= 8) && tie == 0.0) {
        out->method = ST_METHOD_EXACT;
        double cdf;
        size_t k = (size_t)llround(n1 * n2 - u); /* P(U >= u) = P(U <= n1 n2 − u) */
        int rc = mwu_exact_cdf(nx < ny ? nx : ny, nx < ny ? ny : nx, k, &cdf);
        if (rc) return rc;
        p = 2.0 * cdf;
    } else {
        out->method = ST_METHOD_ASYMPTOTIC;
        double nn = (double)n;
        double s = sqrt(n1 * n2 / 12.0 * ((nn + 1.0) - tie / (nn * (nn - 1.0))));
        double z = (u - n1 * n2 / 2.0 - 0.5) / s;
        p = 2.0 * st_norm_sf(z);
    }
    out->p = p > 1 ? 1.0 : (p < 0 ? 0.0 : p);
    return H19_OK;
}

int st_chi2_2x2(double a, double b, double c, double d, st_result *out)
{
    memset(out, 0, sizeof *out);
    double o[4] = {a, b, c, d};
    for (int i = 0; i < 4; i++) {
        if (!isfinite(o[i])) {
            out->verdict = ST_NONFINITE;
            return H19_OK;
        }
        if (o[i] < 0) return h19_fail(H19_EARG, "st_chi2_2x2: negative count %g", o[i]);
    }
    double r0 = a + b, r1 = c + d, c0 = a + c, c1 = b + d, N = r0 + r1;
    if (r0 == 0 || r1 == 0 || c0 == 0 || c1 == 0) {
        out->verdict = ST_ZERO_MARGIN;
        return H19_OK;
    }
    double e[4] = {r0 * c0 / N, r0 * c1 / N, r1 * c0 / N, r1 * c1 / N};
    double s = 0.0;
    for (int i = 0; i < 4; i++) s += (o[i] - e[i]) * (o[i] - e[i]) / e[i];
    out->stat = s;
    out->df = 1.0;
    out->p = erfc(sqrt(s / 2.0));
    return H19_OK;
}

int st_bh(const double *p, size_t n, double *adj)
{
    if (n == 0) return H19_OK;
    if (!p || !adj) return h19_fail(H19_EARG, "st_bh: NULL array");
    for (size_t i = 0; i < n; i++)
        if (!(p[i] >= 0 && p[i] <= 1))
            return h19_fail(H19_EARG, "st_bh: p[%zu] = %g is not in [0, 1]", i, p[i]);
    st_vi *v = h19_malloc(n * sizeof *v);
    if (!v) return H19_ENOMEM;
    for (size_t i = 0; i < n; i++) v[i] = (st_vi){p[i], i};
    qsort(v, n, sizeof *v, cmp_vi);
    /* Step up from the largest p: adj_(k) = min(adj_(k+1), p_(k) n / k). */
    double run = 1.0;
    for (size_t k = n; k >= 1; k--) {
        double q = v[k - 1].v * (double)n / (double)k;
        if (q < run) run = q;
        v[k - 1].v = run;
    }
    for (size_t k = 0; k < n; k++) adj[v[k].i] = v[k].v;
    free(v);
    return H19_OK;
}
