#!/usr/bin/env python3
"""slice_errors.py RUN_DIR MAPS_DIR SEED [N_WORST] — why the slice CNN misses held-out slices.

RUN_DIR is one seed's output of tests/bench/slice_auc_seeds.sh (archive.h5, slice_cnn.h5,
slice_scores.h5 from `hust19 infer`, synth/manifest.csv); MAPS_DIR holds `synth_maps` exports
(P<id>.csv / P<id>.bin) of every labelled patient (build: cmake --build BUILD --target synth_maps).
Assumes the demo archive (256x256, default phantom parameters). Prints per held-out slice the P(pCT), label, lesion area, the part outside the preprocessing mask,
the dependent band, lesion HU and position, and the lesion area at the model's 100x100 input."""
import csv
import os
import sys

import h5py
import numpy as np
from sklearn.metrics import roc_auc_score

run, maps, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
nworst = int(sys.argv[4]) if len(sys.argv) > 4 else 12
S = 256
PX = 358.4 / S

man = {int(r["patient_id"]): r for r in csv.DictReader(open(os.path.join(run, "synth", "manifest.csv")))}
with h5py.File(os.path.join(run, "archive.h5"), "r") as f:
    pat_row = f["/ct/patient"][:]
    inst = f["/ct/instance"][:]
    label = f["/ct/label"][:]
    ids = [int(x.decode() if isinstance(x, bytes) else x) for x in f["/patients/id"][:]]
    slices = f["/ct/slices"]
    with h5py.File(os.path.join(run, "slice_cnn.h5"), "r") as m:
        lab_idx = m["/split/slice"][:]
        part = m["/split/part"][:]
    with h5py.File(os.path.join(run, "slice_scores.h5"), "r") as sc:
        prob = sc["/prob"][:]
    test = lab_idx[part == 2]
    train = lab_idx[part == 0]
    pre_arch = {int(i): slices[int(i)] for i in test}

cache = {}


def pmaps(pid):
    if pid not in cache:
        n = int(man[pid]["n_slices"])
        rows = [r for r in csv.DictReader(l for l in open(os.path.join(maps, f"P{pid}.csv")) if not l.startswith("#"))]
        hdr = [l for l in open(os.path.join(maps, f"P{pid}.csv")) if l.startswith("#")]
        b = np.fromfile(os.path.join(maps, f"P{pid}.bin"), dtype=np.uint8)
        npx = n * S * S
        raise_ = b[: 4 * npx].view(np.float32).reshape(n, S, S)
        lung = b[4 * npx : 5 * npx].reshape(n, S, S)
        mask = b[5 * npx : 6 * npx].reshape(n, S, S)
        pre = b[6 * npx :].reshape(n, 200, 200)
        dep = float(hdr[0].split("dependent_mm")[1].split()[0])
        cache[pid] = (rows, raise_, lung, mask, pre, dep)
    return cache[pid]


def feats(i):
    pid = ids[pat_row[i]]
    k = int(inst[i]) - 1
    rows, raise_, lung, mask, pre, dep = pmaps(pid)
    r = rows[k]
    les = (raise_[k] >= 100) & (lung[k] > 0)
    # lesion at the model input: the 256 crop -> 200 (bilinear) -> 100 (2x2 mean); count input pixels
    # whose footprint is >= 50% lesion pixels that the mask keeps
    kept = les & (mask[k] > 0)
    sc = 100 / S
    yy, xx = np.nonzero(kept)
    inp = np.zeros((100, 100))
    np.add.at(inp, ((yy * sc).astype(int), (xx * sc).astype(int)), 1.0)
    inp_px = int((inp / (1 / sc) ** 2 >= 0.5).sum())
    rr = raise_[k][les]
    ys = np.nonzero(les)[0]
    return dict(
        pid=pid, cls=man[pid]["class"], k=k, label=r["label"], lung=float(r["lung_mm2"]),
        les=float(r["lesion_mm2"]), out=float(r["lesion_out_mask_mm2"]), faint=float(r["faint_mm2"]), dep=dep,
        hu=float(rr.mean()) if rr.size else 0.0, maxr=float(raise_[k].max()),
        post=float(((ys * PX - S * PX / 2) > 0).mean()) if ys.size else 0.0, inp_px=inp_px,
        same=bool(np.array_equal(pre[k], pre_arch[i])) if i in pre_arch else None,
    )


names = ["NiCT", "pCT", "nCT"]
y = label[test]
p1 = prob[test, 1]
print(f"seed {seed}: {len(test)} held out ({np.bincount(y, minlength=3).tolist()}), "
      f"pCT AUC {roc_auc_score(y == 1, p1):.4f} (from slice_scores.h5)")
same = [feats(i)["same"] for i in test]
print(f"preprocessed slice re-rendered == archive slice for {sum(bool(s) for s in same)}/{len(same)} held-out slices")

hdr = ("slice pid   class  k  label P(pCT) argmax lung_mm2 lesion_mm2 out_mask_mm2 out% faint_mm2 "
       "dep_mm raise_HU max_raise post% input_px")


def show(idx):
    print(hdr)
    for i in idx:
        f = feats(i)
        am = names[int(np.argmax(prob[i]))]
        print(f"{i:5d} {f['pid']:5d} {f['cls']:7s} {f['k']:2d} {f['label']:4s} {prob[i,1]:.3f} {am:4s} {f['lung']:8.0f} "
              f"{f['les']:8.0f} {f['out']:8.0f} {100*f['out']/max(f['les'],1):5.1f} {f['faint']:8.0f} {f['dep']:5.1f} "
              f"{f['hu']:6.0f} {f['maxr']:6.0f} {100*f['post']:5.1f} {f['inp_px']:6d}")


tp = test[y == 1]
print("\nheld-out pCT slices, lowest P(pCT) first:")
show(tp[np.argsort(prob[tp, 1])][:nworst])
tn = test[y != 1]
print("\nheld-out non-pCT slices, highest P(pCT) first:")
show(tn[np.argsort(-prob[tn, 1])][:nworst])

# population: does P(pCT) of pCT slices depend on these features? (held-out and train)
for nm, idx in (("held-out", tp), ("train", train[label[train] == 1])):
    F = [feats(i) for i in idx]
    pp = prob[idx, 1]
    miss = pp < 0.5
    def m(key, sel):
        v = np.array([F[j][key] for j in range(len(F))])[sel]
        return f"{np.median(v):.0f}" if v.size else "-"
    print(f"\n{nm} pCT: {len(idx)} slices, {miss.sum()} with P(pCT) < 0.5")
    for key in ("les", "out", "lung", "hu", "inp_px", "dep"):
        print(f"  median {key:7s}: missed {m(key, miss):>7s}  caught {m(key, ~miss):>7s}")
    dep = np.array([F[j]["dep"] > 0 for j in range(len(F))])
    print(f"  dependent band: {dep.sum()} slices, missed {np.sum(dep & miss)}; no band: {np.sum(~dep)}, missed {np.sum(~dep & miss)}")
