#!/usr/bin/env python3
"""slice_auc_unlabelled.py RUN_DIR [SCORES] — the slice CNN's pCT AUC on the patients it never saw.

RUN_DIR is one seed's output of tests/bench/slice_auc_seeds.sh after `hust19 infer` (slice_scores.h5).
The synthetic archive has ground truth for every slice (synth/.synth/done/P<id>.csv), but only the
labelled patients' slices are split into train / validation / test. This scores the slices of the
other (unlabelled) patients: a patient-disjoint test set ~100x the 9:1 held-out part. Prints the
one-vs-rest AUC per class with a patient-level bootstrap 95% interval, and the held-out AUC from the
same scores file for comparison. Uncertain slices are left out, as in slice_labels.csv.
EXCLUDE=OTHER_RUN_DIR (environment) also leaves out the patients labelled in that run (to compare two
runs of one seed with different labelled_patients on the same patients)."""
import csv
import os
import sys

import h5py
import numpy as np
from sklearn.metrics import roc_auc_score

run = sys.argv[1]
scores = sys.argv[2] if len(sys.argv) > 2 else os.path.join(run, "slice_scores.h5")
man = {int(r["patient_id"]): r for r in csv.DictReader(open(os.path.join(run, "synth", "manifest.csv")))}
with h5py.File(os.path.join(run, "archive.h5"), "r") as f:
    pat_row = f["/ct/patient"][:]
    inst = f["/ct/instance"][:]
    label = f["/ct/label"][:]
    ids = np.array([int(x) for x in f["/patients/id"][:]])
with h5py.File(os.path.join(run, "slice_cnn.h5"), "r") as m:
    lab_idx, part = m["/split/slice"][:], m["/split/part"][:]
with h5py.File(scores, "r") as s:
    prob = s["/prob"][:]
excl = set()
if os.environ.get("EXCLUDE"):
    excl = {int(r["patient_id"]) for r in csv.DictReader(open(os.path.join(os.environ["EXCLUDE"], "synth", "manifest.csv")))
            if r["labelled"] == "1"}
names = {"NiCT": 0, "pCT": 1, "nCT": 2}
truth = np.full(len(inst), -1)
pid = ids[pat_row]
for p in np.unique(pid):
    if man[p]["labelled"] == "1" or p in excl:
        continue
    rows = list(csv.DictReader(open(os.path.join(run, "synth", ".synth", "done", f"P{p:04d}.csv"))))
    sel = np.nonzero(pid == p)[0]
    for i in sel:
        truth[i] = names.get(rows[inst[i] - 1]["label"], -1)
ok = truth >= 0
y, P, g = truth[ok], prob[ok], pid[ok]
test = lab_idx[part == 2]
rng = np.random.default_rng(0)
up = np.unique(g)
groups = {p: np.nonzero(g == p)[0] for p in up}
out = [f"unlabelled patients: {len(up)} patients, {ok.sum()} slices ({np.bincount(y, minlength=3).tolist()})"]
for k, nm in enumerate(("NiCT", "pCT", "nCT")):
    a = roc_auc_score(y == k, P[:, k])
    bs = []
    for _ in range(200):
        idx = np.concatenate([groups[p] for p in rng.choice(up, len(up))])
        yy = y[idx] == k
        if 0 < yy.sum() < len(yy):
            bs.append(roc_auc_score(yy, P[idx, k]))
    lo, hi = np.percentile(bs, [2.5, 97.5])
    ht = roc_auc_score(label[test] == k, prob[test, k])
    out.append(f"{nm}: unlabelled AUC {a:.4f} [{lo:.4f}, {hi:.4f}]  held-out ({len(test)} slices) {ht:.4f}")
print("\n".join(out))
