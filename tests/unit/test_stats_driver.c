/* test_stats_driver.c — runs the st_ tests over a case file and prints results, for the SciPy
 * comparison in tests/integration/test_stats_scipy.sh (cases and checks: tests/ref/stats_cases.py).
 *
 *   test_stats_driver CASES RESULTS
 *
 * Case lines (whitespace separated, values in %.17g):
 *   sw ID n v...  |  t ID nx ny x... y...  |  mw ID nx ny x... y...  |  chi ID a b c d
 *   bh ID n p...  |  msd ID n v...
 * Result lines: "KIND ID VERDICT STAT P [EXTRA...]" (sw adds W and p of the double mode, mw adds
 * the method, bh prints the n adjusted values, msd prints mean and sd).
 *
 * Without arguments (as CTest runs it) it checks properties that need no reference: swapping the
 * samples mirrors t and U, BH is monotone in p and capped at 1, p-values lie in [0, 1].
 */
#include "check.h"
#include "hust19/err.h"
#include "hust19/rng.h"
#include "hust19/stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int read_vals(FILE *f, size_t n, double **out)
{
    double *v = h19_malloc((n ? n : 1) * sizeof *v);
    if (!v) return H19_ENOMEM;
    for (size_t i = 0; i < n; i++)
        if (fscanf(f, "%lf", &v[i]) != 1) {
            free(v);
            return h19_fail(H19_EFORMAT, "case file: expected %zu values", n);
        }
    *out = v;
    return H19_OK;
}

static int run_file(const char *in_path, const char *out_path)
{
    FILE *f = fopen(in_path, "r");
    if (!f) return h19_fail(H19_EIO, "%s: cannot open", in_path);
    FILE *o = fopen(out_path, "w");
    if (!o) {
        fclose(f);
        return h19_fail(H19_EIO, "%s: cannot create", out_path);
    }
    char kind[16], id[64];
    int rc = H19_OK;
    while (rc == H19_OK && fscanf(f, "%15s %63s", kind, id) == 2) {
        st_result r;
        if (!strcmp(kind, "sw") || !strcmp(kind, "msd") || !strcmp(kind, "bh")) {
            size_t n;
            double *v = NULL;
            if (fscanf(f, "%zu", &n) != 1 || (rc = read_vals(f, n, &v))) {
                rc = rc ? rc : h19_fail(H19_EFORMAT, "%s: bad %s line", in_path, id);
                break;
            }
            if (!strcmp(kind, "sw")) {
                st_result d;
                if (!(rc = st_shapiro(v, n, ST_SW_SCIPY, &r)) && !(rc = st_shapiro(v, n, ST_SW_DOUBLE, &d)))
                    fprintf(o, "sw %s %d %.17g %.17g %.17g %.17g\n", id, (int)r.verdict, r.stat, r.p, d.stat, d.p);
            } else if (!strcmp(kind, "msd")) {
                double m, s;
                st_verdict vd = st_mean_sd(v, n, &m, &s);
                fprintf(o, "msd %s %d %.17g %.17g\n", id, (int)vd, m, s);
            } else {
                double *adj = h19_malloc((n ? n : 1) * sizeof *adj);
                if (!adj) rc = H19_ENOMEM;
                else if (!(rc = st_bh(v, n, adj))) {
                    fprintf(o, "bh %s 0 0 0", id);
                    for (size_t i = 0; i < n; i++) fprintf(o, " %.17g", adj[i]);
                    fputc('\n', o);
                }
                free(adj);
            }
            free(v);
        } else if (!strcmp(kind, "t") || !strcmp(kind, "mw")) {
            size_t nx, ny;
            double *x = NULL, *y = NULL;
            if (fscanf(f, "%zu %zu", &nx, &ny) != 2 || (rc = read_vals(f, nx, &x)) || (rc = read_vals(f, ny, &y))) {
                free(x);
                rc = rc ? rc : h19_fail(H19_EFORMAT, "%s: bad %s line", in_path, id);
                break;
            }
            if (!strcmp(kind, "t")) {
                if (!(rc = st_ttest_ind(x, nx, y, ny, &r)))
                    fprintf(o, "t %s %d %.17g %.17g\n", id, (int)r.verdict, r.stat, r.p);
            } else if (!(rc = st_mannwhitney(x, nx, y, ny, &r))) {
                fprintf(o, "mw %s %d %.17g %.17g %d\n", id, (int)r.verdict, r.stat, r.p, (int)r.method);
            }
            free(x);
            free(y);
        } else if (!strcmp(kind, "chi")) {
            double t[4];
            if (fscanf(f, "%lf %lf %lf %lf", &t[0], &t[1], &t[2], &t[3]) != 4) {
                rc = h19_fail(H19_EFORMAT, "%s: bad chi line %s", in_path, id);
                break;
            }
            if (!(rc = st_chi2_2x2(t[0], t[1], t[2], t[3], &r)))
                fprintf(o, "chi %s %d %.17g %.17g\n", id, (int)r.verdict, r.stat, r.p);
        } else {
            rc = h19_fail(H19_EFORMAT, "%s: unknown case kind '%s'", in_path, kind);
        }
    }
    fclose(f);
    if (fclose(o) && !rc) rc = h19_fail(H19_EIO, "%s: write failed", out_path);
    return rc;
}

/* Reference-free properties over random data. */
static void self_checks(void)
{
    h19_rng g;
    h19_rng_init(&g, 7, H19_RNG_STATS, 0, 0, 0, 0);
    double x[60], y[80], adj[50], p[50];
    for (int rep = 0; rep < 50; rep++) {
        int nx = 3 + (int)h19_rng_below(&g, 57), ny = 3 + (int)h19_rng_below(&g, 77);
        for (int i = 0; i < nx; i++) x[i] = h19_rng_normal(&g) + 0.3;
        for (int i = 0; i < ny; i++) y[i] = rep % 2 ? (double)h19_rng_below(&g, 5) : h19_rng_normal(&g);
        st_result a, b;
        CHECK_OK(st_ttest_ind(x, nx, y, ny, &a));
        CHECK_OK(st_ttest_ind(y, ny, x, nx, &b));
        CHECK_NEAR(a.stat, -b.stat, 1e-12 * (1 + fabs(a.stat)));
        CHECK_NEAR(a.p, b.p, 1e-14);
        CHECK(a.p >= 0 && a.p <= 1);
        CHECK_OK(st_mannwhitney(x, nx, y, ny, &a));
        CHECK_OK(st_mannwhitney(y, ny, x, nx, &b));
        CHECK_NEAR(a.stat + b.stat, (double)nx * ny, 1e-9);
        CHECK_NEAR(a.p, b.p, 1e-14);
        CHECK(a.p >= 0 && a.p <= 1);
        st_result s;
        CHECK_OK(st_shapiro(x, nx, ST_SW_SCIPY, &s));
        CHECK(s.verdict == ST_TESTED && s.stat > 0 && s.stat <= 1 && s.p >= 0 && s.p <= 1);
        int n = 1 + rep;
        for (int i = 0; i < n; i++) p[i] = h19_rng_uniform(&g) * (rep % 3 ? 1.0 : 0.01);
        CHECK_OK(st_bh(p, n, adj));
        for (int i = 0; i < n; i++) {
            CHECK(adj[i] >= p[i] * (1 - 1e-15) && adj[i] <= 1);
            for (int j = 0; j < n; j++)
                if (p[i] <= p[j]) CHECK(adj[i] <= adj[j]);
        }
    }
}

int main(int argc, char **argv)
{
    if (argc == 3) {
        int rc = run_file(argv[1], argv[2]);
        if (rc) fprintf(stderr, "test_stats_driver: %s\n", h19_errmsg());
        return rc ? 1 : 0;
    }
    if (argc != 1) {
        fprintf(stderr, "usage: test_stats_driver [CASES RESULTS]\n");
        return 2;
    }
    self_checks();
    CHECK_DONE();
}
