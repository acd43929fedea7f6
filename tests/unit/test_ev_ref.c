/* test_ev_ref.c — driver for the scikit-learn / SciPy reference comparisons in tests/ref/ev_ref.py
 * and tests/ref/plr_ref.py (run by tests/integration/test_ev_ref.sh and test_plr_ref.sh):
 *
 *     test_ev_ref auc   IN OUT   binary cases -> AUC, DeLong, ROC points, thresholds, measures
 *     test_ev_ref plr   IN OUT   datasets     -> PLR coefficients, intercepts, probabilities
 *     test_ev_ref cross IN OUT   datasets     -> inner fold assignment and out-of-fold scores
 *     test_ev_ref svg   DIR                   -> DIR/roc.svg, DIR/cm.svg
 *
 * Without arguments (as CTest runs it) it checks a hand-worked case, so the driver itself is
 * tested. File formats are plain whitespace-separated numbers, described in the Python scripts.
 */
#include "check.h"
#include "hust19/err.h"
#include "hust19/ev.h"
#include "hust19/plr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int die(const char *what)
{
    fprintf(stderr, "test_ev_ref: %s: %s\n", what, h19_errmsg());
    return 1;
}

static void put_measures(FILE *o, const ev_conf *c)
{
    ev_measures m;
    ev_measures_from(c, &m);
    fprintf(o, "%ld %ld %ld %ld %.17g %.17g %.17g %.17g %.17g %.17g\n", c->tp, c->fp, c->tn, c->fn,
            m.sn, m.sp, m.ac, m.ppv, m.npv, m.mcc);
}

/* IN: ncases, then per case: n, then n lines "y s1 s2". */
static int run_auc(FILE *in, FILE *o)
{
    int nc;
    if (fscanf(in, "%d", &nc) != 1) return die("auc: bad header");
    for (int c = 0; c < nc; c++) {
        int n;
        if (fscanf(in, "%d", &n) != 1 || n <= 0) return die("auc: bad case size");
        int *y = malloc(sizeof(int) * n);
        double *s1 = malloc(sizeof(double) * n), *s2 = malloc(sizeof(double) * n);
        if (!y || !s1 || !s2) return die("auc: out of memory");
        for (int i = 0; i < n; i++)
            if (fscanf(in, "%d %lf %lf", &y[i], &s1[i], &s2[i]) != 3) return die("auc: bad row");
        double auc;
        if (ev_auc(s1, y, n, &auc)) return die("ev_auc");
        fprintf(o, "case %d\nauc %.17g\n", c, auc);
        ev_delong dn, dl;
        ev_delong_cmp cmp;
        if (ev_delong_ci(s1, y, n, 0.95, EV_CI_NORMAL, &dn) == 0 &&
            ev_delong_ci(s1, y, n, 0.95, EV_CI_LOGIT, &dl) == 0 &&
            ev_delong_compare(s1, s2, y, n, &cmp) == 0)
            fprintf(o, "delong %.17g %.17g %.17g %.17g %.17g %.17g %.17g %.17g %.17g %.17g %.17g\n",
                    dn.var, dn.lo, dn.hi, dl.lo, dl.hi, cmp.auc2, cmp.var1, cmp.var2, cmp.cov, cmp.z,
                    cmp.p);
        else
            fprintf(o, "delong NA\n");
        double *f, *t, *h;
        int np;
        if (ev_roc(s1, y, n, &f, &t, &h, &np)) return die("ev_roc");
        fprintf(o, "roc %d\n", np);
        for (int i = 0; i < np; i++) fprintf(o, "%.17g %.17g %.17g\n", f[i], t[i], h[i]);
        free(f);
        free(t);
        free(h);
        double ty, ts;
        if (ev_threshold_youden(s1, y, n, &ty)) return die("youden");
        if (ev_threshold_sensitive(s1, y, n, 0.95, &ts)) return die("sensitive");
        fprintf(o, "thr %.17g %.17g\n", ty, ts);
        ev_conf cf;
        if (ev_confusion(s1, y, n, ty, &cf)) return die("confusion");
        put_measures(o, &cf);
        if (ev_confusion(s1, y, n, ts, &cf)) return die("confusion");
        put_measures(o, &cf);
        /* No predicted positives: the 0/0 conventions. */
        double top = s1[0];
        for (int i = 1; i < n; i++) top = s1[i] > top ? s1[i] : top;
        if (ev_confusion(s1, y, n, top + 1.0, &cf)) return die("confusion");
        put_measures(o, &cf);
        free(y);
        free(s1);
        free(s2);
    }
    return 0;
}

/* IN: ncases, then per case: "n p K C hasw k seed", then n lines "y w x1 .. xp". */
static int read_plr_case(FILE *in, int *n, int *p, int *K, double *C, int *hasw, int *k,
                         unsigned long long *seed, int **y, double **w, double **X)
{
    if (fscanf(in, "%d %d %d %lf %d %d %llu", n, p, K, C, hasw, k, seed) != 7) return die("plr: bad case header");
    *y = malloc(sizeof(int) * *n);
    *w = malloc(sizeof(double) * *n);
    *X = malloc(sizeof(double) * *n * *p);
    if (!*y || !*w || !*X) return die("plr: out of memory");
    for (int i = 0; i < *n; i++) {
        if (fscanf(in, "%d %lf", &(*y)[i], &(*w)[i]) != 2) return die("plr: bad row");
        for (int j = 0; j < *p; j++)
            if (fscanf(in, "%lf", &(*X)[(size_t)i * *p + j]) != 1) return die("plr: bad feature");
    }
    return 0;
}

static int run_plr(FILE *in, FILE *o, int cross)
{
    int nc;
    if (fscanf(in, "%d", &nc) != 1) return die("plr: bad header");
    for (int c = 0; c < nc; c++) {
        int n, p, K, hasw, k, *y;
        double C, *w, *X;
        unsigned long long seed;
        if (read_plr_case(in, &n, &p, &K, &C, &hasw, &k, &seed, &y, &w, &X)) return 1;
        double *P = malloc(sizeof(double) * n * K);
        if (!P) return die("plr: out of memory");
        fprintf(o, "case %d\n", c);
        if (!cross) {
            plr_model m;
            if (plr_fit_w(X, y, hasw ? w : NULL, n, p, K, C, &m)) return die("plr_fit");
            fprintf(o, "model %d %d %d %.3g\n", m.nrow, m.p, m.iters, m.grad_max);
            for (int r = 0; r < m.nrow; r++) {
                for (int j = 0; j < p; j++) fprintf(o, "%.17g ", m.coef[r * p + j]);
                fprintf(o, "%.17g\n", m.intercept[r]);
            }
            if (plr_predict_proba(&m, X, n, P)) return die("plr_predict_proba");
            plr_free(&m);
        } else {
            int *fold = malloc(sizeof(int) * n);
            if (!fold) return die("cross: out of memory");
            /* outer fold 3: the inner split uses subkey 4 */
            if (ev_stratified_folds_keyed(y, n, k, K, seed, 2, 4, fold)) return die("folds");
            if (plr_cross_fit(X, y, hasw ? w : NULL, n, p, K, C, k, seed, 2, 3, P)) return die("plr_cross_fit");
            fprintf(o, "folds");
            for (int i = 0; i < n; i++) fprintf(o, " %d", fold[i]);
            fprintf(o, "\n");
            free(fold);
        }
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < K; j++) fprintf(o, "%.17g%c", P[(size_t)i * K + j], j + 1 < K ? ' ' : '\n');
        }
        free(P);
        free(y);
        free(w);
        free(X);
    }
    return 0;
}

static int run_svg(const char *dir)
{
    char path[4096];
    /* Three synthetic curves from deterministic scores, as the report would draw CT, CF, fused. */
    enum { N = 200 };
    static double s[3][N];
    static int y[N];
    for (int i = 0; i < N; i++) {
        y[i] = i % 3 == 0;
        for (int c = 0; c < 3; c++) s[c][i] = (y[i] ? 0.6 + 0.2 * c : 0.0) + (double)((i * 37 + c * 11) % 101) / 100.0;
    }
    ev_roc_curve cv[3];
    double *f[3], *t[3], *h[3];
    const char *names[3] = {"CT", "CF & <clinical>", "Fused"};
    for (int c = 0; c < 3; c++) {
        int np;
        ev_delong d;
        if (ev_roc(s[c], y, N, &f[c], &t[c], &h[c], &np)) return die("ev_roc");
        if (ev_delong_ci(s[c], y, N, 0.95, EV_CI_NORMAL, &d)) return die("ev_delong_ci");
        cv[c] = (ev_roc_curve){names[c], f[c], t[c], np, d.auc, d.lo, d.hi};
    }
    snprintf(path, sizeof path, "%s/roc.svg", dir);
    if (ev_svg_roc(path, cv, 3, "Morbidity: type II vs rest")) return die("ev_svg_roc");
    for (int c = 0; c < 3; c++) {
        free(f[c]);
        free(t[c]);
        free(h[c]);
    }
    long cm[9] = {200, 15, 7, 20, 380, 38, 3, 30, 178};
    const char *labels[3] = {"Control", "Type I", "Type II"};
    snprintf(path, sizeof path, "%s/cm.svg", dir);
    if (ev_svg_confusion(path, cm, 3, labels, "Cohort 1 <argmax>")) return die("ev_svg_confusion");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "svg") == 0) return run_svg(argv[2]);
    if (argc >= 4) {
        FILE *in = fopen(argv[2], "r"), *o = fopen(argv[3], "w");
        if (!in || !o) {
            fprintf(stderr, "test_ev_ref: cannot open %s or %s\n", argv[2], argv[3]);
            return 1;
        }
        int rc = 1;
        if (strcmp(argv[1], "auc") == 0) rc = run_auc(in, o);
        else if (strcmp(argv[1], "plr") == 0) rc = run_plr(in, o, 0);
        else if (strcmp(argv[1], "cross") == 0) rc = run_plr(in, o, 1);
        else fprintf(stderr, "test_ev_ref: unknown mode %s\n", argv[1]);
        fclose(in);
        if (fclose(o) != 0) rc = 1;
        return rc;
    }
    /* Hand-worked case: positives {0.9, 0.5, 0.5}, negatives {0.5, 0.1}. Pairs (6): 0.9 beats
     * both (2); each 0.5 ties 0.5 (1/2) and beats 0.1 (1) -> 2 * 1.5 = 3; AUC = 5/6. */
    double s[5] = {0.9, 0.5, 0.5, 0.5, 0.1};
    int y[5] = {1, 1, 1, 0, 0};
    double auc;
    CHECK_OK(ev_auc(s, y, 5, &auc));
    CHECK_NEAR(auc, 5.0 / 6.0, 1e-15);
    CHECK_DONE();
}
