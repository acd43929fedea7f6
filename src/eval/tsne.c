/* tsne.c — exact t-SNE and trustworthiness (include/hust19/tsne.h).
 *
 * Sources: L. van der Maaten and G. Hinton, "Visualizing data using t-SNE", JMLR 9 (2008),
 * Algorithm 1 and section 3.4 (early exaggeration, momentum, the gains of R. Jacobs, "Increased
 * rates of convergence through learning rate adaptation", Neural Networks 1 (1988)); the schedule,
 * stopping rules and constants are those documented for scikit-learn 1.2's TSNE(method="exact")
 * so that our maps can be compared with it (tests/ref/tsne_ref.py). Trustworthiness: J. Venna and
 * S. Kaski, ICANN 2001, as sklearn.manifold.trustworthiness defines it.
 *
 * Key to names: n points, d input dimensions, Y the n x 2 embedding (row-major), P the joint
 * input affinities packed as the upper triangle (ev_tsne_tri), w_ij = (1 + |y_i - y_j|^2)^-1 the
 * Student-t kernel, Z = sum_{i != j} w_ij, q_ij = w_ij / Z.
 */
#include "hust19/tsne.h"
#include "hust19/err.h"
#include "hust19/rng.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* sklearn: MACHINE_EPSILON floors P and Q; EPSILON_DBL replaces an all-zero row sum in the
 * perplexity search; PERPLEXITY_TOLERANCE and n_steps = 100 bound that search. */
#define TSNE_EPS DBL_EPSILON
#define TSNE_ROWSUM_EPS 1e-8
#define TSNE_PERP_TOL 1e-5
#define TSNE_PERP_STEPS 100
/* The KL and the gradient norm are checked every 50 iterations (sklearn's _N_ITER_CHECK). */
#define TSNE_CHECK_EVERY 50

void ev_tsne_defaults(ev_tsne_opts *o)
{
    o->perplexity = 30.0;
    o->early_exaggeration = 12.0;
    o->learning_rate = 0.0; /* auto */
    o->n_iter = 1000;
    o->n_iter_exag = 250;
    o->n_iter_without_progress = 300;
    o->min_grad_norm = 1e-7;
    o->momentum_exag = 0.5;
    o->momentum = 0.8;
    o->min_gain = 0.01;
    o->init = EV_TSNE_INIT_PCA;
    o->seed = 0;
}

static int all_finite(const double *x, size_t m)
{
    for (size_t i = 0; i < m; i++)
        if (!isfinite(x[i])) return 0;
    return 1;
}

/* Below this many columns the direct difference loop beats (and is more exact than) the Gram
 * matrix |x|^2 + |y|^2 - 2 x.y, whose cancellation can make a tiny distance slightly negative. */
#define TSNE_GRAM_MIN_D 16

int ev_tsne_sqdist(const double *X, int n, int d, double *D)
{
    if (!X || !D || n < 1 || d < 1)
        return h19_fail(H19_EARG, "tsne.c:ev_tsne_sqdist: need X, D, n >= 1, d >= 1");
    size_t N = (size_t)n;
    if (d <= TSNE_GRAM_MIN_D) {
        for (size_t i = 0; i < N; i++) {
            D[i * N + i] = 0.0;
            const double *xi = X + i * (size_t)d;
            for (size_t j = i + 1; j < N; j++) {
                const double *xj = X + j * (size_t)d;
                double s = 0.0;
                for (int c = 0; c < d; c++) {
                    double t = xi[c] - xj[c];
                    s += t * t;
                }
                D[i * N + j] = s;
                D[j * N + i] = s;
            }
        }
        return H19_OK;
    }
    /* Gram matrix G = X X^T in the upper triangle (dsyrk), then |x_i|^2 + |x_j|^2 - 2 G_ij. */
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, n, d, 1.0, X, d, 0.0, D, n);
    for (size_t i = 0; i < N; i++) {
        double gii = D[i * N + i];
        for (size_t j = i + 1; j < N; j++) {
            double s = gii + D[j * N + j] - 2.0 * D[i * N + j];
            D[i * N + j] = s > 0.0 ? s : 0.0;
        }
    }
    for (size_t i = 0; i < N; i++) {
        D[i * N + i] = 0.0;
        for (size_t j = 0; j < i; j++) D[i * N + j] = D[j * N + i];
    }
    return H19_OK;
}

int ev_tsne_cond_p(const double *D, int n, double perplexity, double *Pc, double *beta_out)
{
    if (!D || !Pc || n < 2)
        return h19_fail(H19_EARG, "tsne.c:ev_tsne_cond_p: need D, Pc and n >= 2");
    if (!(perplexity >= 1.0) || !(perplexity < (double)n))
        return h19_fail(H19_EARG, "tsne.c:ev_tsne_cond_p: perplexity %g must be in [1, n = %d)",
                        perplexity, n);
    size_t N = (size_t)n;
    /* A scratch row, so that Pc may alias D (the search reads row i of D until it ends). */
    double *row = h19_malloc(N * sizeof *row);
    if (!row) return H19_ENOMEM;
    const double target = log(perplexity); /* entropy in nats of a row with that perplexity */
    for (size_t i = 0; i < N; i++) {
        const double *di = D + i * N;
        /* Bisection on beta = 1 / (2 sigma_i^2): the row entropy falls as beta grows. Start at 1,
         * double (or halve) until the target is bracketed, then halve the bracket. */
        double beta = 1.0, lo = -INFINITY, hi = INFINITY, used = beta;
        for (int step = 0; step < TSNE_PERP_STEPS; step++) {
            double sum = 0.0;
            for (size_t j = 0; j < N; j++) {
                row[j] = j == i ? 0.0 : exp(-di[j] * beta);
                sum += row[j];
            }
            used = beta;
            if (sum == 0.0) sum = TSNE_ROWSUM_EPS;
            double sdp = 0.0;
            for (size_t j = 0; j < N; j++) {
                row[j] /= sum;
                sdp += di[j] * row[j];
            }
            /* H = -sum p log p with p_j = exp(-beta d_j) / sum  =  log(sum) + beta sum_j d_j p_j */
            double diff = log(sum) + beta * sdp - target;
            if (fabs(diff) <= TSNE_PERP_TOL) break;
            if (diff > 0.0) { /* too flat: sharpen */
                lo = beta;
                beta = hi == INFINITY ? beta * 2.0 : 0.5 * (beta + hi);
            } else {
                hi = beta;
                beta = lo == -INFINITY ? beta * 0.5 : 0.5 * (beta + lo);
            }
        }
        /* row is the distribution of the last beta evaluated (`used`); when the steps run out
         * beta has already moved one step further, and, as in sklearn, that step is dropped. */
        memcpy(Pc + i * N, row, N * sizeof *row);
        if (beta_out) beta_out[i] = used;
    }
    free(row);
    return H19_OK;
}

int ev_tsne_joint_p(const double *X, int n, int d, double perplexity, double *Ptri)
{
    if (!X || !Ptri || n < 2 || d < 1)
        return h19_fail(H19_EARG, "tsne.c:ev_tsne_joint_p: need X, Ptri, n >= 2, d >= 1");
    size_t N = (size_t)n;
    if (N > SIZE_MAX / sizeof(double) / N)
        return h19_fail(H19_ENOMEM, "tsne.c:ev_tsne_joint_p: n = %d is too large", n);
    double *M = h19_malloc(N * N * sizeof *M);
    if (!M) return H19_ENOMEM;
    int rc = ev_tsne_sqdist(X, n, d, M);
    if (rc == H19_OK) rc = ev_tsne_cond_p(M, n, perplexity, M, NULL);
    if (rc != H19_OK) {
        free(M);
        return rc;
    }
    /* p_ij = (p_{j|i} + p_{i|j}) / sum over ordered pairs, floored at eps (sklearn's
     * _joint_probabilities: squareform(P + P^T) / max(sum, eps), then max(., eps)). */
    double total = 0.0;
    for (size_t i = 0; i < N; i++)
        for (size_t j = i + 1; j < N; j++) {
            double s = M[i * N + j] + M[j * N + i];
            Ptri[ev_tsne_tri(n, (int)i, (int)j)] = s;
            total += 2.0 * s;
        }
    if (total < TSNE_EPS) total = TSNE_EPS;
    size_t m = N * (N - 1) / 2;
    for (size_t t = 0; t < m; t++) {
        double p = Ptri[t] / total;
        Ptri[t] = p > TSNE_EPS ? p : TSNE_EPS;
    }
    free(M);
    return H19_OK;
}

/* Two doubles per SSE2 register (the x86-64 baseline): GCC vector extensions, the unaligned
 * variant because a packed row of P starts at any offset. Lanes are summed in a fixed order, so
 * the result is still the same bytes on every run. */
typedef double v2d __attribute__((vector_size(16)));
typedef double v2du __attribute__((vector_size(16), aligned(8)));

/* One pass over the pairs i < j: Z and, split so that Z is needed only at the end,
 *     A_i = sum_j p_ij w_ij (y_i - y_j),   R_i = sum_j w_ij^2 (y_i - y_j),
 * so that grad_i = 4 (exag A_i - R_i / Z) (q_ij = w_ij / Z). sklearn floors q_ij at eps in the
 * gradient too; that changes nothing unless w_ij / Z < 2.2e-16, i.e. points ~1e8 / n apart.
 * With kl != NULL a second pass computes KL with both floors, exactly as sklearn's _kl_divergence.
 * scratch is 6 n doubles. */
static void kl_grad(const double *Ptri, double exag, const double *Y, int n, double *grad,
                    double *kl, double *scratch)
{
    double *ax = scratch, *ay = scratch + n, *rx = scratch + 2 * n, *ry = scratch + 3 * n;
    double *yx = scratch + 4 * n, *yy = scratch + 5 * n; /* Y by columns, for 2-wide loads */
    memset(scratch, 0, 4 * (size_t)n * sizeof *scratch);
    for (int i = 0; i < n; i++) {
        yx[i] = Y[2 * i];
        yy[i] = Y[2 * i + 1];
    }
    double Z = 0.0;
    const double *p = Ptri;
    const v2d one = {1.0, 1.0};
    for (int i = 0; i < n; i++) {
        const double yi0 = yx[i], yi1 = yy[i];
        const v2d vx = {yi0, yi0}, vy = {yi1, yi1};
        v2d vz = {0, 0}, vax = {0, 0}, vay = {0, 0}, vrx = {0, 0}, vry = {0, 0};
        int j = i + 1;
        for (; j + 1 < n; j += 2, p += 2) {
            v2d dx = vx - *(const v2du *)(yx + j), dy = vy - *(const v2du *)(yy + j);
            v2d w = one / (one + dx * dx + dy * dy);
            v2d pw = *(const v2du *)p * w, ww = w * w;
            v2d pwx = pw * dx, pwy = pw * dy, wwx = ww * dx, wwy = ww * dy;
            vz += w;
            vax += pwx;
            vay += pwy;
            vrx += wwx;
            vry += wwy;
            *(v2du *)(ax + j) -= pwx;
            *(v2du *)(ay + j) -= pwy;
            *(v2du *)(rx + j) -= wwx;
            *(v2du *)(ry + j) -= wwy;
        }
        double sz = vz[0] + vz[1], sax = vax[0] + vax[1], say = vay[0] + vay[1];
        double srx = vrx[0] + vrx[1], sry = vry[0] + vry[1];
        for (; j < n; j++, p++) {
            double dx = yi0 - yx[j], dy = yi1 - yy[j];
            double w = 1.0 / (1.0 + dx * dx + dy * dy);
            double pw = *p * w, ww = w * w;
            sz += w;
            sax += pw * dx;
            say += pw * dy;
            srx += ww * dx;
            sry += ww * dy;
            ax[j] -= pw * dx;
            ay[j] -= pw * dy;
            rx[j] -= ww * dx;
            ry[j] -= ww * dy;
        }
        Z += sz;
        ax[i] += sax;
        ay[i] += say;
        rx[i] += srx;
        ry[i] += sry;
    }
    Z *= 2.0; /* both orders of each pair */
    if (grad)
        for (int i = 0; i < n; i++) {
            grad[2 * i] = 4.0 * (exag * ax[i] - rx[i] / Z);
            grad[2 * i + 1] = 4.0 * (exag * ay[i] - ry[i] / Z);
        }
    if (kl) {
        double s = 0.0;
        p = Ptri;
        for (int i = 0; i < n; i++) {
            const double yi0 = yx[i], yi1 = yy[i];
            for (int j = i + 1; j < n; j++, p++) {
                double dx = yi0 - yx[j], dy = yi1 - yy[j];
                double q = 1.0 / ((1.0 + dx * dx + dy * dy) * Z);
                double pe = exag * *p;
                if (q < TSNE_EPS) q = TSNE_EPS;
                s += pe * log((pe > TSNE_EPS ? pe : TSNE_EPS) / q);
            }
        }
        *kl = 2.0 * s;
    }
}

int ev_tsne_kl_grad(const double *Ptri, double exag, const double *Y, int n, double *grad,
                    double *kl)
{
    if (!Ptri || !Y || n < 2)
        return h19_fail(H19_EARG, "tsne.c:ev_tsne_kl_grad: need P, Y and n >= 2");
    double *scratch = h19_malloc(6 * (size_t)n * sizeof *scratch);
    if (!scratch) return H19_ENOMEM;
    kl_grad(Ptri, exag, Y, n, grad, kl, scratch);
    free(scratch);
    return H19_OK;
}

/* Cyclic Jacobi eigen-decomposition of the symmetric d x d matrix A (destroyed: its diagonal ends
 * as the eigenvalues), V receives the eigenvectors as columns (Golub & Van Loan, Matrix
 * Computations, 4th ed., section 8.5). Deterministic and accurate for the small d of our inputs. */
static void jacobi_eig(double *A, double *V, int d)
{
    for (int i = 0; i < d; i++)
        for (int j = 0; j < d; j++) V[i * d + j] = i == j ? 1.0 : 0.0;
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0.0, tot = 0.0;
        for (int i = 0; i < d; i++)
            for (int j = 0; j < d; j++) {
                tot += A[i * d + j] * A[i * d + j];
                if (i != j) off += A[i * d + j] * A[i * d + j];
            }
        if (off <= 1e-30 * tot || off == 0.0) break;
        for (int p = 0; p < d - 1; p++)
            for (int q = p + 1; q < d; q++) {
                double apq = A[p * d + q];
                if (apq == 0.0) continue;
                /* the rotation that zeroes A[p][q]: tan(theta) = t, the smaller root */
                double tau = (A[q * d + q] - A[p * d + p]) / (2.0 * apq);
                double t = (tau >= 0 ? 1.0 : -1.0) / (fabs(tau) + sqrt(1.0 + tau * tau));
                double c = 1.0 / sqrt(1.0 + t * t), s = t * c;
                for (int k = 0; k < d; k++) { /* A <- A J (columns p, q) */
                    double akp = A[k * d + p], akq = A[k * d + q];
                    A[k * d + p] = c * akp - s * akq;
                    A[k * d + q] = s * akp + c * akq;
                }
                for (int k = 0; k < d; k++) { /* A <- J^T A (rows p, q) */
                    double apk = A[p * d + k], aqk = A[q * d + k];
                    A[p * d + k] = c * apk - s * aqk;
                    A[q * d + k] = s * apk + c * aqk;
                }
                for (int k = 0; k < d; k++) {
                    double vkp = V[k * d + p], vkq = V[k * d + q];
                    V[k * d + p] = c * vkp - s * vkq;
                    V[k * d + q] = s * vkp + c * vkq;
                }
            }
    }
}

int ev_tsne_pca_init(const double *X, int n, int d, double *Y)
{
    if (!X || !Y || n < 2 || d < 1)
        return h19_fail(H19_EARG, "tsne.c:ev_tsne_pca_init: need X, Y, n >= 2, d >= 1");
    size_t N = (size_t)n, dd = (size_t)d;
    double *mean = h19_calloc(dd, sizeof *mean);
    double *C = h19_calloc(dd * dd, sizeof *C);
    double *V = h19_malloc(dd * dd * sizeof *V);
    double *xc = h19_malloc(dd * sizeof *xc);
    int *ord = h19_malloc(dd * sizeof *ord);
    int rc = H19_OK;
    if (!mean || !C || !V || !xc || !ord) {
        rc = H19_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < N; i++)
        for (size_t c = 0; c < dd; c++) mean[c] += X[i * dd + c];
    for (size_t c = 0; c < dd; c++) mean[c] /= (double)N;
    for (size_t i = 0; i < N; i++) {
        for (size_t c = 0; c < dd; c++) xc[c] = X[i * dd + c] - mean[c];
        for (size_t a = 0; a < dd; a++)
            for (size_t b = a; b < dd; b++) C[a * dd + b] += xc[a] * xc[b];
    }
    for (size_t a = 0; a < dd; a++)
        for (size_t b = 0; b < a; b++) C[a * dd + b] = C[b * dd + a];
    jacobi_eig(C, V, d);
    /* Order the axes by decreasing eigenvalue (insertion sort: stable, ties keep index order). */
    for (int a = 0; a < d; a++) ord[a] = a;
    for (int a = 1; a < d; a++) {
        int v = ord[a], b = a - 1;
        while (b >= 0 && C[(size_t)ord[b] * dd + (size_t)ord[b]] < C[(size_t)v * dd + (size_t)v]) {
            ord[b + 1] = ord[b];
            b--;
        }
        ord[b + 1] = v;
    }
    for (int comp = 0; comp < 2; comp++) {
        if (comp >= d) {
            for (size_t i = 0; i < N; i++) Y[2 * i + 1] = 0.0;
            continue;
        }
        size_t ax = (size_t)ord[comp];
        double best = -1.0;
        int sign = 1;
        for (size_t i = 0; i < N; i++) {
            double s = 0.0;
            for (size_t c = 0; c < dd; c++) s += (X[i * dd + c] - mean[c]) * V[c * dd + ax];
            Y[2 * i + (size_t)comp] = s;
            /* sign: the largest |projection| is positive (sklearn's svd_flip on U) */
            if (fabs(s) > best) {
                best = fabs(s);
                sign = s < 0 ? -1 : 1;
            }
        }
        if (sign < 0)
            for (size_t i = 0; i < N; i++) Y[2 * i + (size_t)comp] = -Y[2 * i + (size_t)comp];
    }
    /* Scale both columns by 1e-4 / std(column 0) (population std, as np.std). */
    double m0 = 0.0, v0 = 0.0;
    for (size_t i = 0; i < N; i++) m0 += Y[2 * i];
    m0 /= (double)N;
    for (size_t i = 0; i < N; i++) v0 += (Y[2 * i] - m0) * (Y[2 * i] - m0);
    double sd0 = sqrt(v0 / (double)N);
    if (!(sd0 > 0.0)) {
        rc = h19_fail(H19_EARG, "tsne.c:ev_tsne_pca_init: X has no variance (all %d points equal); "
                                "use the random initialisation", n);
        goto out;
    }
    for (size_t i = 0; i < 2 * N; i++) Y[i] *= 1e-4 / sd0;
out:
    free(mean);
    free(C);
    free(V);
    free(xc);
    free(ord);
    return rc;
}

typedef struct {
    const double *P;
    int n;
    double lr, min_gain, min_grad_norm;
    double *Y, *grad, *update, *gains, *scratch;
} gd_state;

/* One call of sklearn's _gradient_descent: iterations it0 .. n_iter-1 with a fresh momentum
 * buffer and fresh gains; *last = the last iteration run, *err = KL at the last check (NAN if
 * none). */
static void gd_run(gd_state *s, double exag, double momentum, int it0, int n_iter,
                   int n_without_progress, int *last, double *err)
{
    size_t m = 2 * (size_t)s->n;
    for (size_t t = 0; t < m; t++) {
        s->update[t] = 0.0;
        s->gains[t] = 1.0;
    }
    double best = DBL_MAX, error = NAN;
    int best_iter = it0, i = it0;
    for (i = it0; i < n_iter; i++) {
        int check = (i + 1) % TSNE_CHECK_EVERY == 0;
        int want_kl = check || i == n_iter - 1;
        kl_grad(s->P, exag, s->Y, s->n, s->grad, want_kl ? &error : NULL, s->scratch);
        /* Delta-bar-delta: a gain grows (+0.2) while the step keeps its direction (update and
         * gradient of opposite signs) and shrinks (x0.8) when it flips. */
        for (size_t t = 0; t < m; t++) {
            double g = s->grad[t];
            double gain = s->update[t] * g < 0.0 ? s->gains[t] + 0.2 : s->gains[t] * 0.8;
            if (gain < s->min_gain) gain = s->min_gain;
            s->gains[t] = gain;
            g *= gain;
            s->grad[t] = g;
            s->update[t] = momentum * s->update[t] - s->lr * g;
            s->Y[t] += s->update[t];
        }
        if (check) {
            double gn = 0.0;
            for (size_t t = 0; t < m; t++) gn += s->grad[t] * s->grad[t];
            gn = sqrt(gn);
            if (error < best) {
                best = error;
                best_iter = i;
            } else if (i - best_iter > n_without_progress) {
                break;
            }
            if (gn <= s->min_grad_norm) break;
        }
    }
    /* On a full run the loop leaves i = n_iter; sklearn reports the last index run. */
    *last = i < n_iter ? i : n_iter - 1;
    *err = error;
}

int ev_tsne(const double *X, int n, int d, const ev_tsne_opts *o, double *Y, ev_tsne_info *info)
{
    ev_tsne_opts def;
    if (!o) {
        ev_tsne_defaults(&def);
        o = &def;
    }
    if (!X || !Y || n < 3 || d < 1)
        return h19_fail(H19_EARG, "tsne.c:ev_tsne: need X, Y, n >= 3 points and d >= 1");
    if (!all_finite(X, (size_t)n * (size_t)d))
        return h19_fail(H19_EARG, "tsne.c:ev_tsne: X has a non-finite value");
    if (!(o->early_exaggeration >= 1.0) || o->n_iter_exag < 0 || o->n_iter <= o->n_iter_exag ||
        o->n_iter_without_progress < 0 || !(o->min_gain > 0.0) || !(o->momentum >= 0.0) ||
        !(o->momentum < 1.0) || !(o->momentum_exag >= 0.0) || !(o->momentum_exag < 1.0) ||
        !(o->min_grad_norm >= 0.0) || isnan(o->learning_rate))
        return h19_fail(H19_EARG, "tsne.c:ev_tsne: bad options (need exaggeration >= 1, "
                                  "0 <= n_iter_exag < n_iter, momenta in [0,1), min_gain > 0)");
    if (o->init != EV_TSNE_INIT_PCA && o->init != EV_TSNE_INIT_RANDOM)
        return h19_fail(H19_EARG, "tsne.c:ev_tsne: unknown init %d", (int)o->init);
    size_t N = (size_t)n;
    size_t m = N * (N - 1) / 2;
    gd_state s = {0};
    s.n = n;
    s.min_gain = o->min_gain;
    s.min_grad_norm = o->min_grad_norm;
    s.lr = o->learning_rate > 0.0 ? o->learning_rate : (double)n / o->early_exaggeration / 4.0;
    if (!(o->learning_rate > 0.0) && s.lr < 50.0) s.lr = 50.0;
    double *P = h19_malloc(m * sizeof *P);
    double *buf = h19_malloc(12 * N * sizeof *buf);
    int rc = H19_OK;
    if (!P || !buf) {
        rc = H19_ENOMEM;
        goto out;
    }
    s.P = P;
    s.Y = Y;
    s.grad = buf;
    s.update = buf + 2 * N;
    s.gains = buf + 4 * N;
    s.scratch = buf + 6 * N;
    rc = ev_tsne_joint_p(X, n, d, o->perplexity, P);
    if (rc != H19_OK) goto out;
    if (o->init == EV_TSNE_INIT_PCA) {
        rc = ev_tsne_pca_init(X, n, d, Y);
        if (rc != H19_OK) goto out;
    } else {
        for (size_t i = 0; i < N; i++) {
            h19_rng r;
            h19_rng_init(&r, o->seed, H19_RNG_TSNE, 0, 0, 0, (uint32_t)i);
            Y[2 * i] = 1e-4 * h19_rng_normal(&r);
            Y[2 * i + 1] = 1e-4 * h19_rng_normal(&r);
        }
    }
    /* Phase 1: exaggerated P, low momentum; phase 2 continues from the iteration after the last
     * one run (sklearn's `it + 1`), with its own without-progress window. */
    int last = -1;
    double kl_exag = NAN, kl = NAN;
    gd_run(&s, o->early_exaggeration, o->momentum_exag, 0, o->n_iter_exag, o->n_iter_exag, &last,
           &kl_exag);
    if (o->n_iter_exag == 0) last = -1;
    gd_run(&s, 1.0, o->momentum, last + 1, o->n_iter, o->n_iter_without_progress, &last, &kl);
    if (!all_finite(Y, 2 * N)) {
        rc = h19_fail(H19_EARG, "tsne.c:ev_tsne: the embedding diverged (non-finite); "
                                "lower the learning rate");
        goto out;
    }
    if (info) {
        info->kl = kl;
        info->kl_exag = kl_exag;
        info->n_iter = last;
        info->learning_rate = s.lr;
    }
out:
    free(P);
    free(buf);
    return rc;
}

/* ---- trustworthiness ----------------------------------------------------------------------- */

static double sqd(const double *a, const double *b, int d)
{
    double s = 0.0;
    for (int c = 0; c < d; c++) {
        double t = a[c] - b[c];
        s += t * t;
    }
    return s;
}

int ev_trustworthiness(const double *X, int n, int d, const double *Y, int e, int k, double *t)
{
    if (!X || !Y || !t || n < 3 || d < 1 || e < 1)
        return h19_fail(H19_EARG, "tsne.c:ev_trustworthiness: need X, Y, t, n >= 3, d, e >= 1");
    if (k < 1 || 2 * (long)k >= n)
        return h19_fail(H19_EARG, "tsne.c:ev_trustworthiness: k = %d must be in [1, n/2) (n = %d)",
                        k, n);
    size_t N = (size_t)n;
    double *dx = h19_malloc(N * sizeof *dx);
    double *dy = h19_malloc(N * sizeof *dy);
    int *nb = h19_malloc((size_t)k * sizeof *nb);
    if (!dx || !dy || !nb) {
        free(dx);
        free(dy);
        free(nb);
        return H19_ENOMEM;
    }
    /* Squared distances order the points as the distances do. "a before b" for point i means
     * d(a) < d(b) or (d(a) == d(b) and a < b). */
    long long penalty = 0;
    for (size_t i = 0; i < N; i++) {
        for (size_t j = 0; j < N; j++) {
            dx[j] = sqd(X + i * (size_t)d, X + j * (size_t)d, d);
            dy[j] = sqd(Y + i * (size_t)e, Y + j * (size_t)e, e);
        }
        /* the k nearest in Y, kept sorted by insertion */
        int cnt = 0;
        for (size_t j = 0; j < N; j++) {
            if (j == i) continue;
            if (cnt == k && !(dy[j] < dy[nb[k - 1]])) continue; /* ties: the lower index stays */
            int pos = cnt < k ? cnt++ : k - 1;
            while (pos > 0 && dy[j] < dy[nb[pos - 1]]) {
                nb[pos] = nb[pos - 1];
                pos--;
            }
            nb[pos] = (int)j;
        }
        /* rank in X of each of them: 1 + the number of other points before it */
        for (int a = 0; a < k; a++) {
            size_t j = (size_t)nb[a];
            long r = 1;
            for (size_t l = 0; l < N; l++)
                if (l != i && l != j && (dx[l] < dx[j] || (dx[l] == dx[j] && l < j))) r++;
            if (r > k) penalty += r - k;
        }
    }
    free(dx);
    free(dy);
    free(nb);
    double nn = (double)n, kk = (double)k;
    *t = 1.0 - (double)penalty * (2.0 / (nn * kk * (2.0 * nn - 3.0 * kk - 1.0)));
    return H19_OK;
}
