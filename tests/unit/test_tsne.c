/* test_tsne.c — exact t-SNE pieces (include/hust19/tsne.h) on small cases:
 *  - the perplexity search gives every row the target entropy log(perplexity) within 1e-5;
 *  - joint P is a distribution (sums to 1, floored at eps);
 *  - the analytic gradient matches central finite differences of the KL (with and without
 *    exaggeration), and the KL matches a naive full-matrix formula;
 *  - the dsyrk distance path equals the direct one; PCA init recovers planted axes, its sign
 *    rule and its 1e-4 scale;
 *  - ev_tsne is deterministic (same bytes twice, PCA and keyed random init) and separates two
 *    clusters; trustworthiness equals a brute-force full-sort version, is 1 for Y = X, and rejects
 *    k >= n / 2.
 * With arguments it is the driver of tests/ref/tsne_ref.py (comparison with scikit-learn):
 *     test_tsne embed IN OUT     IN: "n d init seed" + n rows; OUT: "kl kl_exag n_iter secs cpu" + Y
 *     test_tsne pca IN OUT       IN as for embed; OUT: the PCA initialisation (n rows)
 *     test_tsne trust IN OUT     IN: "n d e k" + n rows of X + n rows of Y; OUT: t
 */
#include "check.h"
#include "hust19/err.h"
#include "hust19/rng.h"
#include "hust19/tsne.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void fill_normal(double *x, size_t m, uint64_t seed, uint32_t sample)
{
    h19_rng r;
    h19_rng_init(&r, seed, H19_RNG_STATS, 0, 0, 0, sample);
    for (size_t i = 0; i < m; i++) x[i] = h19_rng_normal(&r);
}

static void test_perplexity(void)
{
    const int n = 60, d = 4;
    double X[60 * 4], D[60 * 60], Pc[60 * 60], beta[60];
    fill_normal(X, (size_t)n * d, 11, 0);
    for (int c = 0; c < d; c++) X[5 * d + c] = X[6 * d + c]; /* a duplicate point */
    CHECK_OK(ev_tsne_sqdist(X, n, d, D));
    const double perps[3] = {2.0, 10.0, 30.0};
    for (int q = 0; q < 3; q++) {
        CHECK_OK(ev_tsne_cond_p(D, n, perps[q], Pc, beta));
        double worst = 0.0, worst_sum = 0.0;
        int diag0 = 1, bpos = 1;
        for (int i = 0; i < n; i++) {
            double h = 0.0, s = 0.0;
            for (int j = 0; j < n; j++) {
                double p = Pc[i * n + j];
                s += p;
                if (p > 0) h -= p * log(p);
            }
            if (Pc[i * n + i] != 0.0) diag0 = 0;
            if (!(beta[i] > 0)) bpos = 0;
            worst = fmax(worst, fabs(h - log(perps[q])));
            worst_sum = fmax(worst_sum, fabs(s - 1.0));
        }
        CHECK_MSG(worst <= 1e-5, "perplexity %g: worst entropy error %g", perps[q], worst);
        CHECK(worst_sum <= 1e-12);
        CHECK(diag0 && bpos);
    }
    /* In place (Pc aliasing D) gives the same rows. */
    CHECK_OK(ev_tsne_cond_p(D, n, 10.0, Pc, NULL));
    CHECK_OK(ev_tsne_cond_p(D, n, 10.0, D, NULL));
    CHECK(memcmp(D, Pc, sizeof D) == 0);
    CHECK(ev_tsne_cond_p(Pc, n, 60.0, Pc, NULL) == H19_EARG);
    CHECK(ev_tsne_cond_p(Pc, n, 0.5, Pc, NULL) == H19_EARG);
}

static void test_sqdist(void)
{
    enum { n = 30, d = 20 };
    double X[n * d], A[n * n], B[n * n];
    fill_normal(X, n * d, 3, 1);
    CHECK_OK(ev_tsne_sqdist(X, n, d, A)); /* d > 16: dsyrk */
    double worst = 0.0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double s = 0.0;
            for (int c = 0; c < d; c++) s += (X[i * d + c] - X[j * d + c]) * (X[i * d + c] - X[j * d + c]);
            B[i * n + j] = s;
            worst = fmax(worst, fabs(A[i * n + j] - s) / (1.0 + s));
        }
    CHECK_MSG(worst < 1e-12, "dsyrk distances off by %g", worst);
    for (int i = 0; i < n; i++) CHECK(A[i * n + i] == 0.0);
    CHECK_OK(ev_tsne_sqdist(X, n, 4, A)); /* first 4 columns as a 4-d set (row stride 4) */
    double X4[n * 4];
    for (int i = 0; i < n * 4; i++) X4[i] = X[i];
    CHECK_OK(ev_tsne_sqdist(X4, n, 4, B));
    CHECK(memcmp(A, B, sizeof A) == 0);
}

static double naive_kl(const double *Ptri, double exag, const double *Y, int n)
{
    double Z = 0.0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            if (i != j) {
                double dx = Y[2 * i] - Y[2 * j], dy = Y[2 * i + 1] - Y[2 * j + 1];
                Z += 1.0 / (1.0 + dx * dx + dy * dy);
            }
    double kl = 0.0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            if (i != j) {
                double p = exag * Ptri[i < j ? ev_tsne_tri(n, i, j) : ev_tsne_tri(n, j, i)];
                double dx = Y[2 * i] - Y[2 * j], dy = Y[2 * i + 1] - Y[2 * j + 1];
                double q = fmax(1.0 / (1.0 + dx * dx + dy * dy) / Z, DBL_EPSILON);
                kl += p * log(fmax(p, DBL_EPSILON) / q);
            }
    return kl;
}

/* The objective whose gradient the t-SNE step uses: -sum_{i!=j} exag p_ij log w_ij + log Z. With
 * exag = 1 it is KL minus the constant sum p log p; with exag > 1 it is not the exaggerated KL
 * (whose log Z term would be weighted by sum p' = exag), as in sklearn and van der Maaten's code. */
static double naive_obj(const double *Ptri, double exag, const double *Y, int n)
{
    double Z = 0.0, s = 0.0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            if (i != j) {
                double dx = Y[2 * i] - Y[2 * j], dy = Y[2 * i + 1] - Y[2 * j + 1];
                double w = 1.0 / (1.0 + dx * dx + dy * dy);
                Z += w;
                s -= exag * Ptri[i < j ? ev_tsne_tri(n, i, j) : ev_tsne_tri(n, j, i)] * log(w);
            }
    return s + log(Z);
}

static void test_joint_and_gradient(void)
{
    enum { n = 14, d = 3 };
    double X[n * d], P[n * (n - 1) / 2], Y[2 * n], g[2 * n], Yp[2 * n];
    fill_normal(X, n * d, 5, 2);
    CHECK_OK(ev_tsne_joint_p(X, n, d, 4.0, P));
    double s = 0.0, pmin = 1.0;
    for (int t = 0; t < n * (n - 1) / 2; t++) {
        s += 2.0 * P[t];
        pmin = fmin(pmin, P[t]);
    }
    CHECK_NEAR(s, 1.0, 1e-9); /* floors at eps add at most n^2 eps */
    CHECK(pmin >= DBL_EPSILON);
    fill_normal(Y, 2 * n, 5, 3);
    const double exags[2] = {1.0, 12.0};
    for (int q = 0; q < 2; q++) {
        double kl;
        CHECK_OK(ev_tsne_kl_grad(P, exags[q], Y, n, g, &kl));
        CHECK_NEAR(kl, naive_kl(P, exags[q], Y, n), 1e-12 * (1.0 + fabs(kl)));
        double worst = 0.0, gmax = 0.0;
        const double h = 1e-5;
        for (int t = 0; t < 2 * n; t++) {
            double kp, km;
            memcpy(Yp, Y, sizeof Y);
            Yp[t] += h;
            if (q == 0) CHECK_OK(ev_tsne_kl_grad(P, 1.0, Yp, n, NULL, &kp)); /* the KL itself */
            else kp = naive_obj(P, exags[q], Yp, n);
            Yp[t] -= 2 * h;
            if (q == 0) CHECK_OK(ev_tsne_kl_grad(P, 1.0, Yp, n, NULL, &km));
            else km = naive_obj(P, exags[q], Yp, n);
            double fd = (kp - km) / (2 * h);
            worst = fmax(worst, fabs(fd - g[t]));
            gmax = fmax(gmax, fabs(g[t]));
        }
        CHECK_MSG(worst <= 1e-7 * (1.0 + gmax), "exag %g: gradient vs finite differences %g (max |g| %g)",
                  exags[q], worst, gmax);
    }
}

/* Pearson correlation of y[0], y[2], ... (stride 2) with x[0..n). */
static double pearson(const double *y, const double *x, int n)
{
    double my = 0, mx = 0, sxy = 0, sxx = 0, syy = 0;
    for (int i = 0; i < n; i++) {
        my += y[2 * i] / n;
        mx += x[i] / n;
    }
    for (int i = 0; i < n; i++) {
        sxy += (y[2 * i] - my) * (x[i] - mx);
        sxx += (x[i] - mx) * (x[i] - mx);
        syy += (y[2 * i] - my) * (y[2 * i] - my);
    }
    return sxy / sqrt(sxx * syy);
}

static void test_pca_init(void)
{
    /* x = 3 t a + s b + 0.3 with a, b orthonormal in R^4 and t, s centred and orthogonal (so the
     * sample covariance is exactly 9 var(t) a a' + var(s) b b'): the axes are a, then b. */
    enum { n = 200, d = 4 };
    double X[n * d], Y[2 * n], t[n], sv[n];
    const double a[4] = {0.5, 0.5, 0.5, 0.5}, b[4] = {0.5, -0.5, 0.5, -0.5};
    fill_normal(t, n, 9, 4);
    fill_normal(sv, n, 9, 5);
    double mt = 0, ms = 0, ts = 0, tt = 0;
    for (int i = 0; i < n; i++) mt += t[i] / n, ms += sv[i] / n;
    for (int i = 0; i < n; i++) t[i] -= mt, sv[i] -= ms;
    for (int i = 0; i < n; i++) ts += t[i] * sv[i], tt += t[i] * t[i];
    for (int i = 0; i < n; i++) sv[i] -= ts / tt * t[i];
    for (int i = 0; i < n; i++)
        for (int c = 0; c < d; c++) X[i * d + c] = 3.0 * t[i] * a[c] + sv[i] * b[c] + 0.3;
    CHECK_OK(ev_tsne_pca_init(X, n, d, Y));
    double m0 = 0, v0 = 0, big = 0;
    int ibig = 0;
    for (int i = 0; i < n; i++) m0 += Y[2 * i] / n;
    for (int i = 0; i < n; i++) {
        v0 += (Y[2 * i] - m0) * (Y[2 * i] - m0) / n;
        if (fabs(Y[2 * i]) > big) {
            big = fabs(Y[2 * i]);
            ibig = i;
        }
    }
    CHECK_NEAR(sqrt(v0), 1e-4, 1e-16);
    CHECK(fabs(pearson(Y, t, n)) > 1 - 1e-9);     /* column 0 follows t (up to sign) */
    CHECK(fabs(pearson(Y + 1, sv, n)) > 1 - 1e-9); /* column 1 follows s */
    CHECK(Y[2 * ibig] > 0);                   /* sign rule */
    double Xc[n];
    for (int i = 0; i < n; i++) Xc[i] = 1.0;
    CHECK(ev_tsne_pca_init(Xc, n, 1, Y) == H19_EARG); /* no variance */
}

/* Two clusters of 40 points in 5-D, 8 sd apart. */
static void two_clusters(double *X, int n, int d)
{
    fill_normal(X, (size_t)n * d, 21, 7);
    for (int i = n / 2; i < n; i++) X[i * d] += 8.0;
}

static void test_tsne_run(void)
{
    enum { n = 80, d = 5 };
    double X[n * d], Y1[2 * n], Y2[2 * n], Y3[2 * n];
    two_clusters(X, n, d);
    ev_tsne_opts o;
    ev_tsne_defaults(&o);
    o.perplexity = 10.0;
    ev_tsne_info info;
    CHECK_OK(ev_tsne(X, n, d, &o, Y1, &info));
    CHECK_OK(ev_tsne(X, n, d, &o, Y2, NULL));
    CHECK(memcmp(Y1, Y2, sizeof Y1) == 0);
    CHECK(info.n_iter == 999 || info.n_iter >= 299); /* full run, or a stop at a check */
    CHECK(isfinite(info.kl) && info.kl > 0 && info.kl < 2.0);
    CHECK_NEAR(info.learning_rate, 50.0, 0);
    double tw;
    CHECK_OK(ev_trustworthiness(X, n, d, Y1, 2, 5, &tw));
    CHECK_MSG(tw > 0.9, "trustworthiness %g", tw);
    /* the clusters stay apart: every point is nearer its own cluster's centroid */
    double c[2][2] = {{0, 0}, {0, 0}};
    for (int i = 0; i < n; i++) {
        c[i >= n / 2][0] += Y1[2 * i] / (n / 2);
        c[i >= n / 2][1] += Y1[2 * i + 1] / (n / 2);
    }
    int wrong = 0;
    for (int i = 0; i < n; i++) {
        int own = i >= n / 2;
        double d0 = hypot(Y1[2 * i] - c[own][0], Y1[2 * i + 1] - c[own][1]);
        double d1 = hypot(Y1[2 * i] - c[!own][0], Y1[2 * i + 1] - c[!own][1]);
        wrong += d0 >= d1;
    }
    CHECK(wrong == 0);
    /* keyed random init: deterministic, and another seed gives another map */
    o.init = EV_TSNE_INIT_RANDOM;
    o.seed = 7;
    o.n_iter = 300;
    CHECK_OK(ev_tsne(X, n, d, &o, Y2, NULL));
    CHECK_OK(ev_tsne(X, n, d, &o, Y3, NULL));
    CHECK(memcmp(Y2, Y3, sizeof Y2) == 0);
    o.seed = 8;
    CHECK_OK(ev_tsne(X, n, d, &o, Y3, NULL));
    CHECK(memcmp(Y2, Y3, sizeof Y2) != 0);
    /* bad input */
    X[3] = NAN;
    CHECK(ev_tsne(X, n, d, &o, Y3, NULL) == H19_EARG);
    X[3] = 0;
    o.n_iter = 200; /* < n_iter_exag */
    CHECK(ev_tsne(X, n, d, &o, Y3, NULL) == H19_EARG);
}

/* Brute force: sort every row fully (qsort by distance then index) and read the ranks. */
static const double *g_key;
static int cmp_idx(const void *a, const void *b)
{
    int i = *(const int *)a, j = *(const int *)b;
    if (g_key[i] != g_key[j]) return g_key[i] < g_key[j] ? -1 : 1;
    return (i > j) - (i < j);
}
static double brute_trust(const double *X, int n, int d, const double *Y, int e, int k)
{
    int *ox = malloc(sizeof(int) * n), *oy = malloc(sizeof(int) * n), *rank = malloc(sizeof(int) * n);
    double *dx = malloc(sizeof(double) * n), *dy = malloc(sizeof(double) * n);
    double s = 0;
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < n; j++) {
            double a = 0, b = 0;
            for (int c = 0; c < d; c++) a += (X[i * d + c] - X[j * d + c]) * (X[i * d + c] - X[j * d + c]);
            for (int c = 0; c < e; c++) b += (Y[i * e + c] - Y[j * e + c]) * (Y[i * e + c] - Y[j * e + c]);
            dx[j] = j == i ? INFINITY : sqrt(a);
            dy[j] = j == i ? INFINITY : sqrt(b);
            ox[j] = oy[j] = j;
        }
        g_key = dx;
        qsort(ox, n, sizeof(int), cmp_idx);
        g_key = dy;
        qsort(oy, n, sizeof(int), cmp_idx);
        for (int r = 0; r < n; r++) rank[ox[r]] = r + 1;
        for (int a = 0; a < k; a++) s += fmax(0, rank[oy[a]] - k);
    }
    free(ox), free(oy), free(rank), free(dx), free(dy);
    return 1.0 - s * 2.0 / ((double)n * k * (2.0 * n - 3.0 * k - 1.0));
}

static void test_trust(void)
{
    enum { n = 50, d = 6, e = 2 };
    double X[n * d], Y[n * e];
    fill_normal(X, n * d, 31, 8);
    fill_normal(Y, n * e, 31, 9);
    for (int k = 1; k <= 12; k += 5) {
        double t;
        CHECK_OK(ev_trustworthiness(X, n, d, Y, e, k, &t));
        CHECK_NEAR(t, brute_trust(X, n, d, Y, e, k), 1e-15);
        CHECK(t < 0.9); /* a random Y is not trustworthy */
    }
    double t;
    CHECK_OK(ev_trustworthiness(X, n, d, X, d, 5, &t));
    CHECK(t == 1.0);
    /* Y = first two columns with ties (rounded to a grid): still the brute-force value */
    for (int i = 0; i < n; i++) {
        Y[2 * i] = round(2 * X[i * d]) / 2;
        Y[2 * i + 1] = round(2 * X[i * d + 1]) / 2;
    }
    CHECK_OK(ev_trustworthiness(X, n, d, Y, e, 4, &t));
    CHECK_NEAR(t, brute_trust(X, n, d, Y, e, 4), 1e-15);
    CHECK(ev_trustworthiness(X, n, d, Y, e, 25, &t) == H19_EARG);
    CHECK(ev_trustworthiness(X, n, d, Y, e, 0, &t) == H19_EARG);
}

/* ---- driver for tests/ref/tsne_ref.py ----------------------------------------------------- */

static int read_rows(FILE *f, double *x, size_t m)
{
    for (size_t i = 0; i < m; i++)
        if (fscanf(f, "%lf", &x[i]) != 1) return -1;
    return 0;
}

static int drive(const char *mode, const char *inp, const char *outp)
{
    FILE *in = fopen(inp, "r");
    if (!in) {
        fprintf(stderr, "test_tsne: cannot open %s\n", inp);
        return 2;
    }
    int rc = 2;
    FILE *out = NULL;
    double *X = NULL, *Y = NULL;
    if (strcmp(mode, "pca") == 0 || strcmp(mode, "embed") == 0) {
        int n, d, init;
        unsigned long long seed;
        if (fscanf(in, "%d %d %d %llu", &n, &d, &init, &seed) != 4 || n < 3 || d < 1) goto done;
        X = malloc(sizeof(double) * (size_t)n * d);
        Y = malloc(sizeof(double) * (size_t)n * 2);
        if (!X || !Y || read_rows(in, X, (size_t)n * d)) goto done;
        if (mode[0] == 'p') { /* the PCA initialisation only */
            if (ev_tsne_pca_init(X, n, d, Y)) {
                fprintf(stderr, "test_tsne: %s\n", h19_errmsg());
                goto done;
            }
            out = fopen(outp, "w");
            if (!out) goto done;
            for (int i = 0; i < n; i++) fprintf(out, "%.17g %.17g\n", Y[2 * i], Y[2 * i + 1]);
            rc = 0;
            goto done;
        }
        ev_tsne_opts o;
        ev_tsne_defaults(&o);
        o.init = init ? EV_TSNE_INIT_RANDOM : EV_TSNE_INIT_PCA;
        o.seed = seed;
        ev_tsne_info info;
        struct timespec t0, t1;
        clock_t c0 = clock();
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (ev_tsne(X, n, d, &o, Y, &info)) {
            fprintf(stderr, "test_tsne: %s\n", h19_errmsg());
            goto done;
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double cpu = (double)(clock() - c0) / CLOCKS_PER_SEC;
        out = fopen(outp, "w");
        if (!out) goto done;
        fprintf(out, "%.17g %.17g %d %.6f %.6f\n", info.kl, info.kl_exag, info.n_iter,
                (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec), cpu);
        for (int i = 0; i < n; i++) fprintf(out, "%.17g %.17g\n", Y[2 * i], Y[2 * i + 1]);
        rc = 0;
    } else if (strcmp(mode, "trust") == 0) {
        int n, d, e, k;
        if (fscanf(in, "%d %d %d %d", &n, &d, &e, &k) != 4 || n < 1 || d < 1 || e < 1) goto done;
        X = malloc(sizeof(double) * (size_t)n * d);
        Y = malloc(sizeof(double) * (size_t)n * e);
        if (!X || !Y || read_rows(in, X, (size_t)n * d) || read_rows(in, Y, (size_t)n * e)) goto done;
        double t;
        if (ev_trustworthiness(X, n, d, Y, e, k, &t)) {
            fprintf(stderr, "test_tsne: %s\n", h19_errmsg());
            goto done;
        }
        out = fopen(outp, "w");
        if (!out) goto done;
        fprintf(out, "%.17g\n", t);
        rc = 0;
    } else {
        fprintf(stderr, "test_tsne: unknown mode %s\n", mode);
    }
done:
    if (rc) fprintf(stderr, "test_tsne: %s %s failed\n", mode, inp);
    if (out && fclose(out) != 0) rc = 2;
    fclose(in);
    free(X);
    free(Y);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc >= 4) return drive(argv[1], argv[2], argv[3]);
    test_perplexity();
    test_sqdist();
    test_joint_and_gradient();
    test_pca_init();
    test_tsne_run();
    test_trust();
    CHECK_DONE();
}
