/* stats.h — the clinical-feature statistics of Ning et al. 2020 ("Statistical analysis"), written
 * to reproduce SciPy 1.10, the library the paper ran (stats.shapiro, stats.ttest_ind,
 * stats.mannwhitneyu), plus Benjamini–Hochberg and the 2×2 χ² test.
 *
 *     st_result sw;
 *     if (st_shapiro(x, n, ST_SW_SCIPY, &sw)) { report h19_errmsg(); }
 *     if (sw.verdict != ST_TESTED) printf("not tested: %s\n", st_verdict_reason(sw.verdict));
 *     else printf("W=%g p=%g\n", sw.stat, sw.p);
 *
 * Every test returns a status (H19_OK, or H19_ENOMEM/H19_EARG with h19_fail()) and fills a
 * st_result. Degenerate input is not an error: it gives verdict != ST_TESTED with stat = p = 0,
 * never NaN. Inputs are borrowed and not modified; nothing returned needs freeing.
 * Algorithms and references are in docs/stats.md and at each function in src/eval/stats*.c.
 */
#ifndef HUST19_STATS_H
#define HUST19_STATS_H

#include <stddef.h>

typedef enum {
    ST_TESTED = 0,      /* the statistic and p are valid */
    ST_TOO_FEW = 1,     /* fewer than three values in a group */
    ST_CONSTANT = 2,    /* all values equal (zero range / zero variance) */
    ST_NONFINITE = 3,   /* a value is NaN or infinite */
    ST_ZERO_MARGIN = 4, /* 2×2 table with an empty row or column (expected count 0) */
} st_verdict;

/* "fewer than three values in a group", ... Static string. */
const char *st_verdict_reason(st_verdict v);

typedef enum {
    ST_METHOD_NONE = 0,
    ST_METHOD_EXACT = 1,      /* Mann–Whitney: exact null distribution */
    ST_METHOD_ASYMPTOTIC = 2, /* Mann–Whitney: normal approximation (tie + continuity corr.) */
} st_method;

typedef struct {
    st_verdict verdict;
    st_method method; /* Mann–Whitney only */
    double stat;      /* W, t, U of the first sample, or χ² */
    double p;         /* two-sided p (Shapiro–Wilk: upper tail), in [0, 1] */
    double df;        /* t-test: n1 + n2 − 2; χ²: 1; else 0 */
} st_result;

/* Shapiro–Wilk arithmetic. ST_SW_SCIPY reproduces SciPy 1.10's stats.shapiro, which wraps the
 * single-precision Fortran AS R94 with AS 111 for the normal quantile and AS 66 for the tail:
 * data, coefficients and sums are rounded to float exactly as there, so W and p match it to
 * float rounding (this is what the paper's verdicts were computed with). ST_SW_DOUBLE is the
 * same algorithm in double with Wichura's AS 241 quantile and an erfc-based tail (the accurate
 * answer; differs from SciPy by float32 noise, ~1e-7 in W and up to ~1e-3 relative in p). */
typedef enum { ST_SW_SCIPY = 0, ST_SW_DOUBLE = 1 } st_sw_mode;

/* Shapiro–Wilk W and its p (Royston 1995, AS R94). n >= 3; n > 5000 is computed but Royston's
 * approximation is only validated to 5000. */
int st_shapiro(const double *x, size_t n, st_sw_mode mode, st_result *out);

/* Two-sided unpaired Student t-test with pooled variance (stats.ttest_ind, equal_var=True):
 * stat = t of x minus y, df = nx + ny − 2, p from the Student t distribution. */
int st_ttest_ind(const double *x, size_t nx, const double *y, size_t ny, st_result *out);

/* Two-sided Mann–Whitney U as SciPy 1.10's mannwhitneyu(x, y) defaults (use_continuity=True,
 * method='auto'): exact when min(nx, ny) <= 8 and there are no ties, else the normal
 * approximation with tie and continuity corrections. stat = U of x (U1 = R1 − nx(nx+1)/2). */
int st_mannwhitney(const double *x, size_t nx, const double *y, size_t ny, st_result *out);

/* Pearson χ² of the 2×2 table {{a, b}, {c, d}} without continuity correction
 * (scipy.stats.chi2_contingency(correction=False)); p = P(χ²₁ > stat) = erfc(sqrt(stat/2)). */
int st_chi2_2x2(double a, double b, double c, double d, st_result *out);

/* Benjamini–Hochberg adjusted p-values (statsmodels fdrcorrection / SciPy 1.11
 * false_discovery_control): adj_(i) = min_{j>=i} p_(j) n / j, capped at 1. p must be finite in
 * [0, 1] (else H19_EARG); adj (n values, caller-owned) may alias p. */
int st_bh(const double *p, size_t n, double *adj);

/* Mean and sample SD (n − 1) by two passes. n == 0: both 0; n == 1: sd 0. Returns ST_TESTED,
 * or ST_NONFINITE (both set to 0) when a value is not finite. */
st_verdict st_mean_sd(const double *x, size_t n, double *mean, double *sd);

/* ---- distributions (double precision) ---- */
double st_norm_cdf(double x);        /* Φ(x) via erfc */
double st_norm_sf(double x);         /* 1 − Φ(x) without cancellation */
double st_norm_ppf(double p);        /* Φ⁻¹(p), Wichura AS 241 (PPND16); ±inf at 0/1, NaN outside */
/* Regularised incomplete beta I_x(a, b), a, b > 0, 0 <= x <= 1 (Lentz continued fraction). */
double st_betainc(double a, double b, double x);
/* P(T > t) for Student t with df > 0 degrees of freedom. */
double st_t_sf(double t, double df);


/* ---- the stage: `hust19 stats JOB.yaml` (src/eval/stats_cf.c, docs/stats.md) ----
 * Reads the job's CF table and catalog (not the archive), forms the paper's three comparisons
 * (COVID-19 vs control, type II vs type I, deceased vs cured) on stats.cohorts (default 1 and 2),
 * and writes into <results>/<job>/: stats.csv (one row per numeric CF and comparison),
 * stats-udis.csv (χ² of underlying diseases), stats-summary.csv, stats-vs-paper.csv,
 * stats.html (a fragment for the report) and stats-box-<comparison>-<higher|lower>.svg.
 * Collective: every rank calls it; rank 0 computes and writes. */
#include "hust19/job.h"
int st_stage(h19_job *job);

#endif
