/* tsne.h — exact t-SNE (van der Maaten & Hinton, JMLR 2008) and the trustworthiness of an
 * embedding (Venna & Kaski, ICANN 2001), for the 2-D maps of the six intermediate scores (Fig. 4).
 *
 * Worked example (X is n x d row-major, Y receives n x 2 row-major):
 *
 *     ev_tsne_opts o;
 *     ev_tsne_defaults(&o);               // perplexity 30, exaggeration 12, 1000 iterations, PCA
 *     ev_tsne_info info;
 *     H19_TRY(ev_tsne(X, n, d, &o, Y, &info));        // info.kl = final KL divergence
 *     double t;
 *     H19_TRY(ev_trustworthiness(X, n, d, Y, 2, 5, &t));
 *
 * The algorithm is the one of scikit-learn 1.2's TSNE(method="exact") (docs/metrics.md lists
 * where it differs): squared Euclidean input distances; per-point binary search of the Gaussian
 * precision for the perplexity; P symmetrised, normalised and floored at DBL_EPSILON; Student-t
 * (1 degree of freedom) Q; gradient descent with momentum and delta-bar-delta gains (Jacobs 1988,
 * min gain 0.01): 250 iterations with P exaggerated 12 times and momentum 0.5, then momentum 0.8
 * (the gains and the momentum buffer restart between the two phases, as in sklearn); learning
 * rate "auto" = max(n / exaggeration / 4, 50); the KL and the gradient norm are checked every 50
 * iterations, stopping after n_iter_without_progress iterations without a better KL or when the
 * (gain-scaled) gradient norm is <= min_grad_norm.
 *
 * Everything is double precision and serial, so the same input gives the same bytes. Memory is
 * O(n^2) (n (n-1) / 2 doubles for P: 9 MB at n = 1500); time O(n^2) per iteration.
 * Arrays are borrowed (never kept, never freed); outputs go to caller buffers.
 */
#ifndef HUST19_TSNE_H
#define HUST19_TSNE_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    EV_TSNE_INIT_PCA = 0,    /* first 2 principal components, scaled so column 0 has std 1e-4 */
    EV_TSNE_INIT_RANDOM = 1, /* 1e-4 * N(0,1), keyed (seed, H19_RNG_TSNE, 0, 0, 0, point) */
} ev_tsne_init;

typedef struct {
    double perplexity;           /* 30; needs 1 <= perplexity < n (as sklearn): lower it for few points */
    double early_exaggeration;   /* 12 */
    double learning_rate;        /* <= 0 means "auto": max(n / early_exaggeration / 4, 50) */
    int n_iter;                  /* total iterations, 1000 (> n_iter_exag) */
    int n_iter_exag;             /* exaggeration phase, 250 */
    int n_iter_without_progress; /* 300 (the exaggeration phase uses n_iter_exag) */
    double min_grad_norm;        /* 1e-7 */
    double momentum_exag;        /* 0.5 */
    double momentum;             /* 0.8 */
    double min_gain;             /* 0.01 */
    ev_tsne_init init;           /* EV_TSNE_INIT_PCA */
    uint64_t seed;               /* random init only */
} ev_tsne_opts;

typedef struct {
    double kl;       /* KL(P || Q) at the last checked iteration, before its update (as sklearn's
                        kl_divergence_) */
    double kl_exag;  /* the same at the end of the exaggeration phase (with exaggerated P) */
    int n_iter;      /* index of the last iteration run (sklearn's n_iter_: 999 for a full run) */
    double learning_rate; /* the one used */
} ev_tsne_info;

void ev_tsne_defaults(ev_tsne_opts *o);

/* Embed X (n x d, row-major) into Y (n x 2, row-major, caller's buffer). n >= 3 (n >= 2
 * perplexity + 1 is advisable, as for sklearn). info may be NULL. Non-finite X is H19_EARG. */
int ev_tsne(const double *X, int n, int d, const ev_tsne_opts *o, double *Y, ev_tsne_info *info);

/* ---- the pieces, exposed for tests ------------------------------------------------------- */

/* D[i n + j] = ||x_i - x_j||^2 (n x n, zero diagonal, symmetric, clipped at 0). For d > 16 by
 * cblas_dsyrk on the Gram matrix; below that directly (exact, and faster for short rows). */
int ev_tsne_sqdist(const double *X, int n, int d, double *D);

/* Conditional p_{j|i} (n x n row-major, p_{i|i} = 0) from squared distances D (n x n): per row
 * the binary search of beta = 1 / (2 sigma^2) so that the Shannon entropy (nats) of row i is
 * log(perplexity) within 1e-5 (at most 100 halvings/doublings; sklearn's _binary_search_perplexity).
 * beta may be NULL; else beta[i] receives the precision of row i. */
int ev_tsne_cond_p(const double *D, int n, double perplexity, double *Pc, double *beta);

/* Joint P as the upper triangle, packed row by row (j > i; n (n-1) / 2 entries, see
 * ev_tsne_tri): p_ij = max((p_{j|i} + p_{i|j}) / sum, DBL_EPSILON), where sum runs over all
 * ordered pairs, so the full symmetric P sums to 1 (up to the floor). */
int ev_tsne_joint_p(const double *X, int n, int d, double perplexity, double *Ptri);

/* Offset of (i, j), i < j, in the packed upper triangle. */
static inline size_t ev_tsne_tri(int n, int i, int j)
{
    return (size_t)i * (size_t)(2 * n - i - 1) / 2 + (size_t)(j - i - 1);
}

/* KL(P' || Q) of the full matrices and the t-SNE step direction (n x 2) at Y (n x 2), for packed
 * P and P' = exag P (exag = 1 outside the exaggeration phase):
 *     KL = sum_{i != j} p'_ij log(max(p'_ij, eps) / max(q_ij, eps)),
 *     grad_i = 4 sum_j (p'_ij - q_ij) (1 + |y_i - y_j|^2)^-1 (y_i - y_j).
 * With exag = 1 grad is dKL/dY; with exag > 1 it is the gradient of
 * -sum p'_ij log w_ij + log Z (not of the exaggerated KL, whose log Z term has weight exag), as in
 * sklearn and van der Maaten's reference code. kl may be NULL (then it is not computed: it costs
 * a log per pair); grad may be NULL. */
int ev_tsne_kl_grad(const double *Ptri, double exag, const double *Y, int n, double *grad,
                    double *kl);

/* The PCA initialisation: projections on the first two principal axes of the centred X (cyclic
 * Jacobi eigen-decomposition of the d x d covariance), each axis' sign chosen so that its
 * largest-magnitude projection is positive (ties: the lowest index), then all scaled so that
 * column 0 has population std 1e-4 (sklearn 1.2's init="pca"). d == 1 gives a zero column 1. */
int ev_tsne_pca_init(const double *X, int n, int d, double *Y);

/* ---- trustworthiness --------------------------------------------------------------------- */

/* sklearn.manifold.trustworthiness(X, Y, n_neighbors=k) with the Euclidean metric:
 *     T(k) = 1 - 2 / (n k (2n - 3k - 1)) sum_i sum_{j in N_i^k(Y)} max(0, r(i, j) - k),
 * r(i, j) the rank of j among i's neighbours in X (1 = nearest). X is n x d, Y is n x e
 * (row-major); needs 1 <= k < n / 2. Ties in distance are broken by the lower index.
 * O(n^2 (d + e + k)) time, O(n) memory. */
int ev_trustworthiness(const double *X, int n, int d, const double *Y, int e, int k, double *t);

#endif
