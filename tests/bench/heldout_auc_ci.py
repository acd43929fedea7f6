#!/usr/bin/env python3
"""heldout_auc_ci.py RUN_DIR [SCORES] — the slice CNN's held-out one-vs-rest AUCs with a DeLong 95% CI
(and a slice bootstrap), from the split in slice_cnn.h5 and the scores of `hust19 infer`."""
import os
import sys

import h5py
import numpy as np
from scipy.stats import norm
from sklearn.metrics import roc_auc_score


def delong(pos, neg):
    """AUC and its DeLong variance (DeLong et al. 1988) for one classifier."""
    m, n = len(pos), len(neg)
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    v10, v01 = psi.mean(1), psi.mean(0)
    auc = psi.mean()
    return auc, v10.var(ddof=1) / m + v01.var(ddof=1) / n


run = sys.argv[1]
scores = sys.argv[2] if len(sys.argv) > 2 else os.path.join(run, "slice_scores.h5")
with h5py.File(os.path.join(run, "archive.h5"), "r") as f:
    label = f["/ct/label"][:]
with h5py.File(os.path.join(run, "slice_cnn.h5"), "r") as m:
    t = m["/split/slice"][:][m["/split/part"][:] == 2]
with h5py.File(scores, "r") as s:
    prob = s["/prob"][:][t]
y = label[t]
rng = np.random.default_rng(0)
for k, nm in enumerate(("NiCT", "pCT", "nCT")):
    pos, neg = prob[y == k, k], prob[y != k, k]
    a, v = delong(pos, neg)
    se = np.sqrt(v)
    bs = [roc_auc_score(y[i] == k, prob[i, k]) for i in (rng.integers(0, len(y), len(y)) for _ in range(2000))
          if 0 < (y[i] == k).sum() < len(i)]
    print(f"{nm}: held-out AUC {a:.4f} ({len(pos)} vs {len(neg)} slices), DeLong 95% CI "
          f"[{max(0, a - norm.ppf(.975) * se):.4f}, {min(1, a + norm.ppf(.975) * se):.4f}], "
          f"bootstrap [{np.percentile(bs, 2.5):.4f}, {np.percentile(bs, 97.5):.4f}]")
