#!/usr/bin/python3
"""CF-only models, hust19 vs scikit-learn on the same folds (issue: "How good it must be").

Reads a finished `hust19 cv` run (results/<job>/results.h5: patient ids, labels, folds and
out-of-fold scores) and its archive (the CF matrix), fits scikit-learn's L2 LogisticRegression and
GradientBoostingClassifier on exactly the same folds with the reference protocol (min-max
normalisation fitted on the training fold, missing -> 0.5), and prints per-class AUCs side by side
with hust19's models (mean over repeats of the out-of-fold AUC).

    /usr/bin/python3 tests/bench/cf_vs_sklearn.py results/ictcf-cf [--no-gb]
"""
import sys, time
import h5py
import numpy as np
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score


def load(outdir):
    res = h5py.File(f"{outdir}/results.h5", "r")
    arc = h5py.File(f"{outdir}/archive.h5", "r")
    ids = [s.decode() for s in arc["/patients/id"][:]]
    row_of = {p: i for i, p in enumerate(ids)}
    X = arc["/cf/values"][:]
    kind = arc["/cf/kind"][:]
    return res, X, kind, row_of


def minmax(Xtr, Xte):
    obs = ~np.isnan(Xtr)
    lo = np.where(obs.any(0), np.nanmin(np.where(obs, Xtr, np.inf), axis=0), 0.0)
    hi = np.where(obs.any(0), np.nanmax(np.where(obs, Xtr, -np.inf), axis=0), 0.0)
    span = np.where(hi > lo, hi - lo, 1.0)
    f = lambda A: np.where(np.isnan(A), 0.5, np.nan_to_num((A - lo) / span, nan=0.5))
    return f(Xtr), f(Xte)


def main():
    outdir = sys.argv[1]
    use_gb = "--no-gb" not in sys.argv
    res, X, kind, row_of = load(outdir)
    for outcome in res["cv"].keys():
        g = res["cv"][outcome]
        pids = [s.decode() for s in g["patient_id"][:]]
        rows = np.array([row_of[p] for p in pids])
        y = g["label"][:]
        folds = g["fold"][:]
        K = int(y.max()) + 1
        classes = [g.attrs[f"class_{k}"].decode() if isinstance(g.attrs[f"class_{k}"], bytes) else str(g.attrs[f"class_{k}"]) for k in range(K)]
        cls_list = range(K) if K > 2 else [1]
        Xo = X[rows]
        R, F = folds.shape[0], int(folds.max()) + 1
        sk = {"sk-lr": [], "sk-gb": []} if use_gb else {"sk-lr": []}
        t0 = time.time()
        for r in range(R):
            oof = {m: np.zeros((len(y), K)) for m in sk}
            for f in range(F):
                tr, te = folds[r] != f, folds[r] == f
                A, B = minmax(Xo[tr], Xo[te])
                lr = LogisticRegression(C=1.0, max_iter=5000).fit(A, y[tr])
                oof["sk-lr"][te] = lr.predict_proba(B)
                if use_gb:
                    gb = GradientBoostingClassifier(random_state=r).fit(A, y[tr])
                    oof["sk-gb"][te] = gb.predict_proba(B)
            for m in sk:
                sk[m].append([roc_auc_score(y == k, oof[m][:, k]) for k in cls_list])
        t_sk = time.time() - t0
        print(f"\n{outcome}: {len(y)} patients, {R} x {F}-fold (same folds), classes {', '.join(classes)}")
        print(f"{'model':10s} " + " ".join(f"{classes[k]:>10s}" for k in cls_list))
        for m in sorted(g.keys()):
            if not isinstance(g[m], h5py.Group):
                continue
            sc = g[m]["score"][:]
            aucs = [[roc_auc_score(y == k, sc[r][:, k]) for k in cls_list] for r in range(R)]
            print(f"{'hust19 ' + m:16s} " + " ".join(f"{v:10.4f}" for v in np.mean(aucs, axis=0)))
        for m in sk:
            print(f"{m:16s} " + " ".join(f"{v:10.4f}" for v in np.mean(sk[m], axis=0)))
        print(f"(scikit-learn time for this outcome: {t_sk:.1f} s)")


if __name__ == "__main__":
    main()
