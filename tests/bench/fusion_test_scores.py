#!/usr/bin/python3
"""fusion_test_scores.py RUN_DIR — the hybrid's fusion refitted in scikit-learn from a cv run's base task files
(RUN_DIR/tasks/*.bin, format H19CVTK3: header, te, tr, inner oof, inner-mean tin) to compare what the PLR is
applied to at test time (docs/cv.md, "Which scores the fusion is applied to"): refit (the refitted base models'
scores), inner (the mean of the inner models'), the two mixed, and their average; then the base models' own AUC
on the test rows, refitted vs inner mean. LogisticRegression(C=1) on probabilities, both inputs always
(plr.select off), AUC on the patients with both inputs, mean over repeats.
  /usr/bin/python3 tests/bench/fusion_test_scores.py results/demo"""
import sys, numpy as np, h5py, struct
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
run = sys.argv[1]
f = h5py.File(run + "/results.h5", "r")
def load(path, K):
    b = open(path, "rb").read()
    hd = struct.unpack("<8sQ10i", b[:56])
    kind, outc, rep, fold, base, nte, ntr, KK, inner, pad = hd[2:]
    a = np.frombuffer(b[56:], dtype="<f8")
    te = a[:nte*K].reshape(nte, K); tr = a[nte*K:(nte+ntr)*K].reshape(ntr, K)
    oof = a[(nte+ntr)*K:(nte+2*ntr)*K].reshape(ntr, K) if inner else None
    tin = a[(nte+2*ntr)*K:(2*nte+2*ntr)*K].reshape(nte, K) if inner else None
    return te, tr, oof, tin
def feat(p, K): return p[:, 1:2] if K == 2 else p
for outc in ("morbidity", "mortality"):
    g = f["/cv/" + outc]; y = g["label"][:]; fo = g["fold"][:]
    R, n = fo.shape; K = int(y.max()) + 1
    variants = ["refit", "inner", "cnnR_dnnI", "cnnI_dnnR", "avg"]
    out = {v: np.full((R, n, K), np.nan) for v in variants}
    for r in range(R):
        for q in range(fo.max() + 1):
            tep = np.where(fo[r] == q)[0]; trp = np.where(fo[r] != q)[0]
            D = {}
            for bname in ("cnn", "dnn"):
                D[bname] = load(f"{run}/tasks/cv-{outc}-{bname}-r{r:03d}-f{q:03d}.bin", K)
            oc, od = D["cnn"][2], D["dnn"][2]
            ok = ~np.isnan(oc[:, 0]) & ~np.isnan(od[:, 0])
            X = np.hstack([feat(oc[ok], K), feat(od[ok], K)])
            m = LogisticRegression(C=1.0, max_iter=2000).fit(X, y[trp][ok])
            T = {"refit": (D["cnn"][0], D["dnn"][0]), "inner": (D["cnn"][3], D["dnn"][3]),
                 "cnnR_dnnI": (D["cnn"][0], D["dnn"][3]), "cnnI_dnnR": (D["cnn"][3], D["dnn"][0]),
                 "avg": ((D["cnn"][0] + D["cnn"][3]) / 2, (D["dnn"][0] + D["dnn"][3]) / 2)}
            for v, (a, b) in T.items():
                okt = ~np.isnan(a[:, 0]) & ~np.isnan(b[:, 0])
                P = np.full((len(tep), K), np.nan)
                P[okt] = m.predict_proba(np.hstack([feat(a[okt], K), feat(b[okt], K)]))
                out[v][r, tep] = P
    both = ~np.isnan(out["refit"][0, :, 0])
    cls = range(K) if K > 2 else [1]
    for v in variants:
        aucs = [np.mean([roc_auc_score(y[both] == k, out[v][r, both, k]) for r in range(R)]) for k in cls]
        print(outc, v, " ".join(f"{a:.4f}" for a in aucs))
    for name in ("ct-cnn", "cf-dnn", "hybrid"):
        s = g[name]["score"][:]
        aucs = [np.mean([roc_auc_score(y[both] == k, s[r, both, k]) for r in range(R)]) for k in cls]
        print(outc, "hust19", name, " ".join(f"{a:.4f}" for a in aucs))
print("--- base AUCs: refit te vs inner mean tin")
for outc in ("morbidity", "mortality"):
    g = f["/cv/" + outc]; y = g["label"][:]; fo = g["fold"][:]
    R, n = fo.shape; K = int(y.max()) + 1
    for bname in ("cnn", "dnn"):
        S = {"te": np.full((R, n, K), np.nan), "tin": np.full((R, n, K), np.nan)}
        for r in range(R):
            for q in range(fo.max() + 1):
                tep = np.where(fo[r] == q)[0]
                te, tr, oof, tin = load(f"{run}/tasks/cv-{outc}-{bname}-r{r:03d}-f{q:03d}.bin", K)
                S["te"][r, tep] = te; S["tin"][r, tep] = tin
        ok = ~np.isnan(S["te"][0, :, 0])
        cls = range(K) if K > 2 else [1]
        for v in S:
            print(outc, bname, v, " ".join(f"{np.mean([roc_auc_score(y[ok] == k, S[v][r, ok, k]) for r in range(R)]):.4f}" for k in cls),
                  "mean max prob", f"{np.nanmean(S[v][:, ok].max(axis=2)):.3f}")
