#!/usr/bin/env python3
"""plr_ref.py DRIVER WORKDIR — compare hust19's plr_ with scikit-learn 1.2's LogisticRegression.

Reference: LogisticRegression(penalty='l2', C=C, fit_intercept=True, solver='lbfgs', tol=1e-10,
max_iter=10000) — binary (sigmoid) and 3-class (multinomial, multi_class='auto' with lbfgs),
2..6 features (and 4 wide cases: 20, 40, 60, 120 features), C in {0.05, 1, 20}, some cases with random or 'balanced' sample weights, some
nearly separable, some with a badly scaled feature.

sklearn's lbfgs stops on scipy's L-BFGS-B relative-reduction rule (ftol = 2.2e-9, which sklearn
does not expose) before its gradient reaches tol, so on badly scaled or weighted data its
coefficients can be 1e-4..1e-1 away from the optimum of its own objective. The checks are:
  1. objective: ours <= sklearn's (1 + 1e-12), the objective 0.5 ||W||^2 + C * log_loss(...,
     normalize=False) computed with sklearn.metrics.log_loss — the same minimiser, at least as good;
  2. against sklearn's solution polished by scipy L-BFGS-B (ftol = 0, gtol = 1e-13) from sklearn's
     point: coef_, intercept_, predict_proba within 1e-5 (absolute);
  3. against sklearn's raw solution within 1e-4 is counted and reported; it must hold whenever
     polishing moved sklearn's solution by less than 1e-5 (sklearn had converged).

Cross-fitting ("cross" mode): the driver prints its inner fold assignment and out-of-fold
probabilities; here each fold is refitted with sklearn on the other folds and its held-out
predictions compared (1e-4), and the folds are checked to be stratified (per-class counts per
fold differ by <= 1, fold sizes by <= 1).

Input format, per case: "n p K C hasw k seed" then n rows "y w x1..xp".
"""
import subprocess
import sys
import warnings

import numpy as np
from scipy.optimize import minimize
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.utils.class_weight import compute_sample_weight

TOL = 1e-4   # vs sklearn's raw lbfgs solution
PTOL = 1e-5  # vs the polished solution of the same objective


def make_cases(rng, ncase, cross):
    cases = []
    for c in range(ncase):
        K = 2 if c % 2 == 0 else 3
        p = int(rng.integers(2, 7))
        if not cross and c >= ncase - 4:
            p = [20, 40, 60, 120][c - (ncase - 4)]  # wide, as PLR on all clinical features
        n = int(rng.integers(40, 120 if cross else 300))
        sep = [0.5, 1.5, 4.0][c % 3] if not cross else 1.0  # 4.0: nearly separable
        y = rng.integers(0, K, n)
        y[:K] = np.arange(K)
        centers = rng.normal(scale=sep, size=(K, p))
        X = centers[y] + rng.normal(size=(n, p)) * rng.uniform(0.5, 2, size=p)
        if c % 5 == 1:
            X[:, 0] = X[:, 0] * 50 + 10  # badly scaled feature
        C = [0.05, 1.0, 20.0][(c // 3) % 3]
        wmode = c % 4
        if wmode == 1:
            w = rng.uniform(0.2, 3.0, n)
        elif wmode == 3:
            w = compute_sample_weight("balanced", y)
        else:
            w = np.ones(n)
        cases.append(dict(n=n, p=p, K=K, C=C, hasw=int(wmode in (1, 3)), X=X, y=y, w=w, k=5,
                          seed=int(rng.integers(0, 2**40))))
    return cases


def write(cases, path):
    with open(path, "w") as f:
        f.write(f"{len(cases)}\n")
        for cs in cases:
            f.write(f"{cs['n']} {cs['p']} {cs['K']} {cs['C']!r} {cs['hasw']} {cs['k']} {cs['seed']}\n")
            for i in range(cs["n"]):
                f.write(f"{cs['y'][i]} {cs['w'][i]!r} " + " ".join(repr(v) for v in cs["X"][i]) + "\n")


def sk_fit(X, y, w, C, hasw):
    m = LogisticRegression(C=C, tol=1e-10, max_iter=10000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a non-converged reference is not a reference
        m.fit(X, y, sample_weight=w if hasw else None)
    return m


def proba(theta, X, K):
    n, p = X.shape
    T = theta.reshape(-1, p + 1)
    Z = X @ T[:, :p].T + T[:, p]
    if K == 2:
        q = 1 / (1 + np.exp(-Z[:, 0]))
        return np.c_[1 - q, q]
    Z -= Z.max(axis=1, keepdims=True)
    E = np.exp(Z)
    return E / E.sum(axis=1, keepdims=True)


def objective_sk(theta, X, y, w, C, K):
    """0.5 ||W||^2 + C sum_i w_i logloss_i, the loss summed by sklearn.metrics.log_loss."""
    p = X.shape[1]
    T = theta.reshape(-1, p + 1)
    return 0.5 * np.sum(T[:, :p] ** 2) + C * log_loss(y, proba(theta, X, K), sample_weight=w,
                                                      normalize=False, labels=list(range(K)))


def fg(theta, X, y, w, C, K):
    """The same objective and its gradient in numpy, for polishing."""
    n, p = X.shape
    T = theta.reshape(-1, p + 1)
    W = T[:, :p]
    Z = X @ W.T + T[:, p]
    if K == 2:
        t, z = np.where(y == 1, 1.0, -1.0), Z[:, 0]
        f = 0.5 * np.sum(W ** 2) + C * np.sum(w * np.logaddexp(0, -t * z))
        E = (C * w * (1 / (1 + np.exp(-z)) - (y == 1)))[:, None]
    else:
        lse = np.logaddexp.reduce(Z, axis=1)
        f = 0.5 * np.sum(W ** 2) + C * np.sum(w * (lse - Z[np.arange(n), y]))
        E = C * w[:, None] * (np.exp(Z - lse[:, None]) - np.eye(K)[y])
    return f, np.c_[E.T @ X + W, E.sum(axis=0)].ravel()


def reference(X, y, w, C, K, hasw):
    """(sklearn model, sklearn theta, polished theta); theta = rows of (coef, intercept)."""
    m = sk_fit(X, y, w, C, hasw)
    raw = np.c_[m.coef_, m.intercept_].ravel()
    ww = w if hasw else np.ones(len(y))
    r = minimize(fg, raw, args=(X, y, ww, C, K), jac=True, method="L-BFGS-B",
                 options=dict(ftol=0.0, gtol=1e-13, maxiter=100000, maxcor=50))
    T = r.x.reshape(-1, X.shape[1] + 1)
    if K > 2:
        T[:, -1] -= T[:, -1].mean()  # the identifiable intercepts, as sklearn's start keeps them
    return m, raw, T.ravel()


def main():
    driver, work = sys.argv[1], sys.argv[2]
    rng = np.random.default_rng(19)
    bad = checked = 0

    def expect(cond, msg):
        nonlocal bad, checked
        checked += 1
        if not cond:
            bad += 1
            if bad < 30:
                print("MISMATCH:", msg)

    # ---- plain fits
    cases = make_cases(rng, 40, cross=False)
    write(cases, f"{work}/plr_in.txt")
    subprocess.run([driver, "plr", f"{work}/plr_in.txt", f"{work}/plr_out.txt"], check=True)
    lines = open(f"{work}/plr_out.txt").read().split("\n")
    pos = 0
    worst = worst_pol = 0.0
    raw_ok = 0
    for ci, cs in enumerate(cases):
        assert lines[pos] == f"case {ci}"
        nrow, p = map(int, lines[pos + 1].split()[1:3])
        rows = np.array([list(map(float, lines[pos + 2 + r].split())) for r in range(nrow)])
        P = np.array([list(map(float, lines[pos + 2 + nrow + i].split())) for i in range(cs["n"])])
        pos += 2 + nrow + cs["n"]
        m, raw, pol = reference(cs["X"], cs["y"], cs["w"], cs["C"], cs["K"], cs["hasw"])
        expect(m.coef_.shape == (nrow, p), f"case {ci}: shape {(nrow, p)} vs {m.coef_.shape}")
        if m.coef_.shape != (nrow, p):
            continue
        ours = rows.ravel()
        ww = cs["w"] if cs["hasw"] else np.ones(cs["n"])
        fo = objective_sk(ours, cs["X"], cs["y"], ww, cs["C"], cs["K"])
        fs = objective_sk(raw, cs["X"], cs["y"], ww, cs["C"], cs["K"])
        expect(fo <= fs * (1 + 1e-12), f"case {ci}: objective ours {fo!r} > sklearn {fs!r}")
        dpol = np.max(np.abs(ours - pol))
        dpp = np.max(np.abs(P - proba(pol, cs["X"], cs["K"])))
        worst_pol = max(worst_pol, dpol, dpp)
        expect(dpol <= PTOL and dpp <= PTOL,
               f"case {ci} (K={cs['K']} p={p} C={cs['C']} w={cs['hasw']}): vs polished |dtheta| "
               f"{dpol:.2e} |dproba| {dpp:.2e}")
        draw = max(np.max(np.abs(ours - raw)), np.max(np.abs(P - m.predict_proba(cs["X"]))))
        worst = max(worst, draw)
        raw_ok += draw <= TOL
        if np.max(np.abs(raw - pol)) < PTOL:
            expect(draw <= TOL, f"case {ci}: sklearn converged but |d| {draw:.2e} > {TOL}")
    nplain = len(cases)

    # ---- cross-fitting
    cases = make_cases(rng, 8, cross=True)
    write(cases, f"{work}/cross_in.txt")
    subprocess.run([driver, "cross", f"{work}/cross_in.txt", f"{work}/cross_out.txt"], check=True)
    lines = open(f"{work}/cross_out.txt").read().split("\n")
    pos = 0
    for ci, cs in enumerate(cases):
        assert lines[pos] == f"case {ci}"
        fold = np.array(list(map(int, lines[pos + 1].split()[1:])))
        P = np.array([list(map(float, lines[pos + 2 + i].split())) for i in range(cs["n"])])
        pos += 2 + cs["n"]
        k, y = cs["k"], cs["y"]
        sizes = np.bincount(fold, minlength=k)
        expect(len(sizes) == k and sizes.max() - sizes.min() <= 1, f"cross {ci}: fold sizes {sizes}")
        for c in range(cs["K"]):
            cc = np.bincount(fold[y == c], minlength=k)
            expect(cc.max() - cc.min() <= 1, f"cross {ci}: class {c} per fold {cc}")
        ref = np.zeros_like(P)
        for f in range(k):
            tr, te = fold != f, fold == f
            _, _, pol = reference(cs["X"][tr], y[tr], cs["w"][tr], cs["C"], cs["K"], cs["hasw"])
            ref[te] = proba(pol, cs["X"][te], cs["K"])
        d = np.max(np.abs(P - ref))
        worst_pol = max(worst_pol, d)
        expect(d <= PTOL, f"cross {ci}: out-of-fold |dproba| {d:.2e}")
    print(f"plr_ref: {checked} checks, {bad} mismatches; worst |difference| vs polished sklearn "
          f"{worst_pol:.2e} (tol {PTOL}); within {TOL} of raw sklearn lbfgs on {raw_ok}/{nplain} "
          f"fits (worst {worst:.2e}; the rest stopped early, with a higher objective)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
