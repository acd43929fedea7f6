#!/usr/bin/python3
"""fusion_folds.py RESULTS_H5 [OUTCOME] [CLASS] — per-fold and pooled AUC of cf-dnn, ct-cnn and hybrid on the
patients with both inputs (docs/cv.md, "Fused >= best, measured"): where the hybrid's per-fold AUC equals the
CF DNN's, plr.select kept the CF DNN alone; a pooled AUC below every fold's shows the loss is in the pooling.
Also the pooled AUC if those folds passed the CF DNN's own scores through. scikit-learn's roc_auc_score.
  /usr/bin/python3 tests/bench/fusion_folds.py results/synth-campaign/results.h5 mortality 1"""
import sys
import h5py
import numpy as np
from sklearn.metrics import roc_auc_score

f = h5py.File(sys.argv[1], "r")
g = f["/cv/" + (sys.argv[2] if len(sys.argv) > 2 else "mortality")]
k = int(sys.argv[3]) if len(sys.argv) > 3 else 1
y = g["label"][:] == k
fo = g["fold"][:]
S = {m: g[m]["score"][:, :, k] for m in ("cf-dnn", "ct-cnn", "hybrid")}
both = ~np.isnan(S["ct-cnn"][0]) & ~np.isnan(S["cf-dnn"][0])
print("patients with both inputs", both.sum(), "positives", y[both].sum())
pooled = []
for r in range(S["hybrid"].shape[0]):
    through = S["hybrid"][r].copy()
    kept = 0
    for q in range(fo.max() + 1):
        sel = both & (fo[r] == q)
        if y[sel].all() or not y[sel].any():
            continue
        a = {m: roc_auc_score(y[sel], S[m][r][sel]) for m in S}
        dnn_alone = abs(a["hybrid"] - a["cf-dnn"]) < 1e-12
        if dnn_alone:
            through[fo[r] == q] = S["cf-dnn"][r][fo[r] == q]
            kept += 1
        print(f"  repeat {r} fold {q}: n {sel.sum()} positives {y[sel].sum()}",
              {m: round(v, 3) for m, v in a.items()}, "(cf-dnn alone)" if dnn_alone else "")
    p = [roc_auc_score(y[both], S[m][r][both]) for m in ("cf-dnn", "ct-cnn", "hybrid")]
    p.append(roc_auc_score(y[both], through[both]))
    print(f"repeat {r}: pooled cf-dnn {p[0]:.4f} ct-cnn {p[1]:.4f} hybrid {p[2]:.4f} pass-through {p[3]:.4f}"
          f" ({kept} folds cf-dnn alone)")
    pooled.append(p)
m = np.mean(pooled, axis=0)
print(f"mean over repeats: cf-dnn {m[0]:.4f} ct-cnn {m[1]:.4f} hybrid {m[2]:.4f} pass-through {m[3]:.4f}")
