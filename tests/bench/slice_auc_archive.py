#!/usr/bin/python3
"""Slice CNN AUC on every slice of the patients it never saw, against the synthetic ground truth.

usage: /usr/bin/python3 tests/bench/slice_auc_archive.py RESULTS_DIR SYNTH_DIR [LABELS_CSV]

RESULTS_DIR holds archive.h5 and slice_scores.h5 (`hust19 ingest`, `hust19 infer`); SYNTH_DIR is
`hust19 synth`'s output, whose done markers (.synth/done/P<id>.csv) label every slice of every
patient. The patients of LABELS_CSV (default SYNTH_DIR/slice_labels.csv: the ones the CNN trained,
validated and was tested on) are left out, and so are `uncertain` slices. Prints, per class, the
one-vs-rest AUC (scikit-learn roc_auc_score) over the rest of the archive, and the same split by
the patient's synthetic class and grade. This is the held-out figure with ~40x the slices of the
training split's test part (docs/training.md).
"""
import csv
import os
import sys

import h5py
import numpy as np
from sklearn.metrics import roc_auc_score

res, synth = sys.argv[1], sys.argv[2]
labels = sys.argv[3] if len(sys.argv) > 3 else os.path.join(synth, "slice_labels.csv")
a = h5py.File(os.path.join(res, "archive.h5"), "r")
s = h5py.File(os.path.join(res, "slice_scores.h5"), "r")
ids = a["patients/id"][()].astype(int)
pat = ids[a["ct/patient"][()]]
inst = a["ct/instance"][()]
prob = s["prob"][()]
seen = {int(r["patient_id"]) for r in csv.DictReader(open(labels))}
man = {int(r["patient_id"]): r for r in csv.DictReader(open(os.path.join(synth, "manifest.csv")))}
truth = {}
done = os.path.join(synth, ".synth", "done")
for fn in os.listdir(done):
    pid = int(fn[1:-4])
    for r in csv.DictReader(open(os.path.join(done, fn))):
        truth[(pid, int(r["file"][2:-4]))] = r["label"]
names = ["NiCT", "pCT", "nCT"]
y, p, grp = [], [], []
for i in range(len(pat)):
    k = (int(pat[i]), int(inst[i]))
    if k[0] in seen or truth.get(k, "uncertain") == "uncertain":
        continue
    y.append(names.index(truth[k]))
    p.append(prob[i])
    m = man[k[0]]
    grp.append(m["class"] + ("/critical" if m["morbidity"] == "Critically ill" else ""))
y, p, grp = np.array(y), np.array(p), np.array(grp)
print("%d slices of %d unseen patients (%s)" % (len(y), len(set(pat) - seen), ", ".join(
    "%s %d" % (c, (y == j).sum()) for j, c in enumerate(names))))
print("AUC " + " ".join("%s %.4f" % (c, roc_auc_score(y == j, p[:, j])) for j, c in enumerate(names)))
neg = y != 1
for g in sorted(set(grp)):
    pos = (y == 1) & (grp == g)
    if pos.sum():
        sel = pos | neg
        print("  pCT of %-15s %5d slices vs every non-pCT slice: AUC %.4f" % (g, pos.sum(), roc_auc_score(y[sel] == 1, p[sel, 1])))
