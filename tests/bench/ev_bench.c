/* ev_bench.c — timing of the fast DeLong (Sun & Xu midranks, O(n log n)) against the direct
 * O(m n) structural components in the same run, and of PLR fits. Not run by CTest. Build:
 *   gcc -O2 -std=c17 -D_DEFAULT_SOURCE -Iinclude tests/bench/ev_bench.c build/libhust19core.a -lopenblas -lm -o /tmp/ev_bench
 */
#include "hust19/err.h"
#include "hust19/ev.h"
#include "hust19/plr.h"
#include "hust19/rng.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static double direct_var(const double *s, const int *y, int n)
{
    int m = 0;
    for (int i = 0; i < n; i++) m += y[i];
    int nn = n - m;
    double *v10 = calloc(m, sizeof(double)), *v01 = calloc(nn, sizeof(double));
    int ip = 0;
    for (int i = 0; i < n; i++) {
        if (!y[i]) continue;
        int jn = 0;
        for (int j = 0; j < n; j++) {
            if (y[j]) continue;
            double p = s[i] > s[j] ? 1.0 : (s[i] == s[j] ? 0.5 : 0.0);
            v10[ip] += p / nn;
            v01[jn++] += p / m;
        }
        ip++;
    }
    double A = 0, a = 0, b = 0;
    for (int i = 0; i < m; i++) A += v10[i] / m;
    for (int i = 0; i < m; i++) a += (v10[i] - A) * (v10[i] - A);
    for (int j = 0; j < nn; j++) b += (v01[j] - A) * (v01[j] - A);
    free(v10);
    free(v01);
    return a / (m - 1) / m + b / (nn - 1) / nn;
}

int main(void)
{
    h19_rng r;
    h19_rng_init(&r, 1, H19_RNG_STATS, 0, 0, 0, 0);
    int sizes[4] = {1000, 10000, 30000, 1000000};
    for (int c = 0; c < 4; c++) {
        int n = sizes[c];
        double *s = malloc(sizeof(double) * n);
        int *y = malloc(sizeof(int) * n);
        for (int i = 0; i < n; i++) {
            y[i] = h19_rng_uniform(&r) < 0.3;
            s[i] = (int)((y[i] + h19_rng_normal(&r)) * 50) / 50.0; /* ties */
        }
        ev_delong d;
        double t0 = now();
        if (ev_delong_ci(s, y, n, 0.95, EV_CI_NORMAL, &d)) return 1;
        double tf = now() - t0;
        if (n <= 30000) {
            t0 = now();
            double v = direct_var(s, y, n);
            double td = now() - t0;
            printf("DeLong n=%7d: fast %.4f s, direct %.4f s, ratio %.0fx, |dvar| %.1e\n", n, tf, td,
                   td / tf, v > d.var ? v - d.var : d.var - v);
        } else {
            printf("DeLong n=%7d: fast %.4f s (AUC %.4f, CI %.4f-%.4f)\n", n, tf, d.auc, d.lo, d.hi);
        }
        free(s);
        free(y);
    }
    enum { N = 1000, P = 6 };
    static double X[N * P];
    static int y[N];
    for (int i = 0; i < N; i++) {
        y[i] = (int)h19_rng_below(&r, 3);
        for (int j = 0; j < P; j++) X[i * P + j] = 0.5 * y[i] * (j % 3 == y[i]) + h19_rng_normal(&r);
    }
    double t0 = now();
    plr_model m;
    int reps = 20;
    for (int k = 0; k < reps; k++) {
        if (plr_fit(X, y, N, P, 3, 1.0, &m)) return 1;
        if (k + 1 < reps) plr_free(&m);
    }
    printf("PLR 3-class n=%d p=%d: %.2f ms per fit, %d Newton steps, max|grad| %.1e\n", N, P,
           1e3 * (now() - t0) / reps, m.iters, m.grad_max);
    plr_free(&m);
    return 0;
}
