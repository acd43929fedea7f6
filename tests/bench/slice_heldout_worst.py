#!/usr/bin/env python3
"""slice_heldout_worst.py RUN_DIR [N] — the slice CNN's worst held-out slices, with their ground truth.

RUN_DIR holds archive.h5, slice_cnn.h5 (its /split), slice_scores.h5 (`hust19 infer`) and the synthetic
archive's synth/ (manifest.csv and the generator's per-slice ground truth synth/.synth/done/P<id>.csv:
lesion_mm2 = COVID lesion area, cap_px = CAP consolidation pixels, lung_mm2). Prints the held-out pCT
AUC (scikit-learn, one vs rest) and the N lowest-scored held-out pCT slices and the N highest-scored
held-out non-pCT slices: patient, class of the phantom, P(pCT), lesion and CAP areas
(docs/training.md, "Two convolutions per block")."""
import csv
import os
import sys

import h5py
import numpy as np
from sklearn.metrics import roc_auc_score

run = sys.argv[1]
nshow = int(sys.argv[2]) if len(sys.argv) > 2 else 12
man = {int(r["patient_id"]): r for r in csv.DictReader(open(os.path.join(run, "synth", "manifest.csv")))}
with h5py.File(os.path.join(run, "archive.h5"), "r") as f:
    prow, inst, label = f["/ct/patient"][:], f["/ct/instance"][:], f["/ct/label"][:]
    ids = np.array([int(x) for x in f["/patients/id"][:]])
with h5py.File(os.path.join(run, "slice_cnn.h5"), "r") as m:
    lab_idx, part = m["/split/slice"][:], m["/split/part"][:]
with h5py.File(os.path.join(run, "slice_scores.h5"), "r") as s:
    prob = s["/prob"][:]
truth = {}
rows = []
for i in lab_idx[part == 2]:
    pid = int(ids[prow[i]])
    if pid not in truth:
        path = os.path.join(run, "synth", ".synth", "done", "P%04d.csv" % pid)
        truth[pid] = list(csv.DictReader(open(path)))
    g = truth[pid][inst[i] - 1]
    rows.append((pid, man[pid]["class"], int(label[i]), float(prob[i, 1]), float(g["lesion_mm2"]),
                 int(g["cap_px"]), float(g["lung_mm2"])))
y = np.array([r[2] == 1 for r in rows])
p = np.array([r[3] for r in rows])
print("held-out pCT AUC %.4f (%d pCT of %d slices)" % (roc_auc_score(y, p), y.sum(), len(y)))
names = ["NiCT", "pCT", "nCT"]
print("lowest-scored pCT slices:")
for r in sorted([r for r in rows if r[2] == 1], key=lambda r: r[3])[:nshow]:
    print("  P%04d %-8s P(pCT) %.3f  lesion %6.0f mm2  lung %6.0f mm2" % (r[0], r[1], r[3], r[4], r[6]))
print("highest-scored non-pCT slices:")
for r in sorted([r for r in rows if r[2] != 1], key=lambda r: -r[3])[:nshow]:
    print("  P%04d %-8s %-4s P(pCT) %.3f  CAP %5d px  lung %6.0f mm2" % (r[0], r[1], names[r[2]], r[3], r[5], r[6]))
