/* plr.h — penalised (L2, ridge) logistic regression, the HUST-19 fusion step (Ning et al. 2020,
 * Methods, "The PLR algorithm"), matching scikit-learn 1.2's LogisticRegression(penalty='l2', C,
 * fit_intercept=True, solver='lbfgs'): binary = sigmoid, nclass >= 3 = multinomial softmax (what
 * multi_class='auto' picks with lbfgs). It minimises
 *
 *     0.5 * sum_k ||w_k||^2  +  C * sum_i s_i * logloss_i          (intercepts not penalised)
 *
 * (sklearn minimises the same divided by C), by Newton's method with Armijo backtracking to a
 * gradient max-norm <= 1e-10 * max(1, C) — far tighter than lbfgs, so the optimum is the same one.
 *
 *     plr_model m;
 *     H19_TRY(plr_fit(X, y, n, p, 3, 1.0, &m));       // X n x p row-major, y[i] in [0,3)
 *     double *P = malloc(sizeof(double) * n * 3);
 *     H19_TRY(plr_predict_proba(&m, X, n, P));         // n x 3, rows sum to 1
 *     plr_free(&m);
 */
#ifndef HUST19_PLR_H
#define HUST19_PLR_H

#include <stdint.h>

typedef struct {
    int p;           /* number of features */
    int nclass;      /* number of classes K (>= 2); predict_proba gives K columns */
    int nrow;        /* rows of coef: 1 for binary (class 1's logit, as sklearn), K otherwise */
    double *coef;    /* nrow x p row-major (sklearn's coef_); owned, freed by plr_free */
    double *intercept; /* nrow (sklearn's intercept_); multinomial intercepts sum to 0 */
    int iters;       /* Newton iterations used */
    double grad_max; /* max |gradient| of the objective above at the solution */
} plr_model;

/* Fit. X is n x p row-major, y[i] in [0, nclass); every class must occur (H19_EARG otherwise:
 * sklearn would silently fit fewer classes). C > 0. Borrowed inputs; fills *m (plr_free it). */
int plr_fit(const double *X, const int *y, int n, int p, int nclass, double C, plr_model *m);
/* The same with sample weights sw[n] >= 0 (NULL = all 1), as sklearn's fit(..., sample_weight);
 * use plr_balanced_weights for class_weight='balanced'. */
int plr_fit_w(const double *X, const int *y, const double *sw, int n, int p, int nclass, double C,
              plr_model *m);
/* sklearn's class_weight='balanced': sw[i] = n / (nclass * count(y[i])). */
int plr_balanced_weights(const int *y, int n, int nclass, double *sw);

/* out is n x nclass row-major probabilities (binary: [1-p, p], as sklearn's predict_proba). */
int plr_predict_proba(const plr_model *m, const double *X, int n, double *out);
void plr_free(plr_model *m);

/* The objective and its gradient at theta (nrow blocks of p+1: coefficients then intercept),
 * nrow = 1 if nclass == 2 else nclass. grad may be NULL. Exposed for the gradient check. */
int plr_objective(const double *X, const int *y, const double *sw, int n, int p, int nclass,
                  double C, const double *theta, double *f, double *grad);

/* Out-of-fold fusion scores: splits the n training samples by ev_stratified_folds_keyed(y, n, k,
 * nclass, seed, repeat, subkey = outer_fold + 1), fits PLR on k-1 inner folds and predicts the
 * held-out one, so every row of oof (n x nclass) comes from a model that never saw that sample.
 * sw may be NULL. Each class must occur in every inner training set. */
int plr_cross_fit(const double *X, const int *y, const double *sw, int n, int p, int nclass,
                  double C, int k, uint64_t seed, uint32_t repeat, uint32_t outer_fold,
                  double *oof);

#endif
