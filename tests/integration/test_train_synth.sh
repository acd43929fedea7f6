#!/bin/bash
# it/train_synth — the imaging chain on the other stages' real output: `hust19 synth` (DICOM phantoms)
# -> `hust19 ingest` (ct: section) -> `hust19 train slice-cnn` (a reduced model) -> `hust19 infer` on
# 2 ranks; an independent check in numpy/h5py (tests/ref style, inline) that /prob covers every archive
# slice with rows summing to 1, /patient equals the archive's /ct/patient, and /top10 equals a stable
# argsort of each patient's pCT probabilities (ties to the lower slice index, the last repeated); the
# split saved in the model file, and the held-out AUCs against scikit-learn.
set -euo pipefail
work="$1"; rm -rf "$work"; mkdir -p "$work"
cd "$work"
command -v h5diff > /dev/null || { echo "SKIPPED: h5diff not installed"; exit 77; }
"$PYTHON" -c "import h5py, numpy" 2>/dev/null || { echo "SKIPPED: no h5py"; exit 77; }

cat > tiny.yaml <<'YAML'
format: hust19-model
version: 1
name: slice-cnn-tiny
input: [1, 50, 50]
layers: [{conv: 4}, relu, pool, {conv: 8}, relu, pool, {dense: 16}, relu, {output: 3}]
YAML
cat > job.yaml <<YAML
job: {name: ts, seed: 5, results: res}
data:
  cf_table: syn/cf.csv
  catalog: $HUST19_SRC/configs/cf_catalog.yaml
outcomes:
  morbidity:
    label_column: Morbidity outcome
    classes: [control, type_I, type_II]
    map: {Control: control, "Control (Community-acquired pneumonia)": control, Mild: type_I, Regular: type_I,
          Severe: type_II, Critically ill: type_II}
synth:
  out: syn
  seed: 11
  patients: 6
  classes: {control: 1, cap: 0.5, type1: 1, type2: 1}
  slices: {mean: 16, sd: 2, min: 12}
  image_size: 128
  labelled_patients: 4
ct: {manifest: syn/manifest.csv, labels: syn/slice_labels.csv}
slice_cnn: {model: tiny.yaml, epochs: 3, average_from: 2, batch: 8, micro_batch: 4, lr: 3.0e-3, infer_chunk: 10, split: slice}
YAML
"$HUST19_MPIEXEC" -np 2 --oversubscribe "$HUST19" synth job.yaml 2> synth.log || { cat synth.log; echo "FAIL: synth"; exit 1; }
"$HUST19" ingest job.yaml 2> ingest.log || { cat ingest.log; echo "FAIL: ingest"; exit 1; }
md5sum res/ts/archive.h5 > arch.md5
"$HUST19_MPIEXEC" -np 2 --oversubscribe "$HUST19" train slice-cnn job.yaml 2> train.log || { cat train.log; echo "FAIL: train"; exit 1; }
grep -q "labelled slices" train.log || { cat train.log; echo "FAIL: no split logged"; exit 1; }
"$HUST19_MPIEXEC" -np 2 --oversubscribe "$HUST19" infer job.yaml 2> infer.log || { cat infer.log; echo "FAIL: infer"; exit 1; }
md5sum -c --quiet arch.md5 || { echo "FAIL: the archive was modified"; exit 1; }
"$PYTHON" - res/ts/archive.h5 res/ts/slice_scores.h5 res/ts/slice_cnn.h5 res/ts/slice_cnn_metrics.csv <<'PY'
import sys, h5py, numpy as np
a, s = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
assert s.attrs["hust19_format"] == b"hust19-slice-scores", s.attrs["hust19_format"]
prob, pat, top = s["prob"][()], s["patient"][()], s["top10"][()]
n, npat = a["ct/slices"].shape[0], a["patients/line"].shape[0]
assert prob.shape == (n, 3) and top.shape == (npat, 10), (prob.shape, top.shape)
assert np.array_equal(pat, a["ct/patient"][()]), "patient rows differ from the archive"
assert np.allclose(prob.sum(1), 1.0, atol=1e-5), "rows do not sum to 1"   # float32 softmax
for p in range(npat):
    idx = np.flatnonzero(pat == p)
    if idx.size == 0:
        assert (top[p] == -1).all(), p
        continue
    order = idx[np.argsort(-prob[idx, 1], kind="stable")]   # stable: ties keep the lower index
    want = np.concatenate([order[:10], np.repeat(order[min(10, idx.size) - 1], max(0, 10 - idx.size))])
    assert np.array_equal(top[p], want), (p, top[p], want)
print("scores file agrees with numpy:", n, "slices,", npat, "patients")
# the split saved with the model: every labelled slice once; held out per class = round(0.1 n_k)
# (C lround: halves away from zero)
m = h5py.File(sys.argv[3], "r")
sl, part = m["split/slice"][()], m["split/part"][()]
lab = a["ct/label"][()]
assert np.array_equal(sl, np.flatnonzero(lab >= 0)), "split slices are not the labelled slices"
for k in range(3):
    nk = int((lab[sl] == k).sum())
    assert int(((part == 2) & (lab[sl] == k)).sum()) == int(np.floor(0.1 * nk + 0.5)), k
# held-out AUC in the metrics CSV against scikit-learn on the inference probabilities of the same
# slices: same model and normalisation, other batch sizes (float rounding only), so 1e-3
from sklearn.metrics import roc_auc_score
test = sl[part == 2]
rows = [l.strip().split(",") for l in open(sys.argv[4]) if l.startswith("test_auc_ovr,")]
for k, (_, cls, _, val) in enumerate(rows):
    yk = lab[test] == k
    if 0 < yk.sum() < len(yk):
        ref = roc_auc_score(yk, prob[test, k])
        assert abs(ref - float(val)) < 1e-3, (cls, ref, val)
print("split and held-out AUC agree with numpy/sklearn")
# tail averaging (average_from: 2 of 3 epochs): recorded in the model file and the metrics
assert int(m.attrs["averaged_epochs"]) == 2 and int(m.attrs["best_epoch"]) == -1, dict(m.attrs)
assert "averaged_epochs,all,,2" in open(sys.argv[4]).read()
PY
# hust19 run --until infer: every stage up to infer finds its work done, and nothing after runs
cp res/ts/slice_scores.h5 scores.before
"$HUST19" run job.yaml --until infer 2> run.log || { cat run.log; echo "FAIL: run --until infer"; exit 1; }
grep -q "stopped after --until infer" run.log || { cat run.log; echo "FAIL: no --until line"; exit 1; }
if grep -q "=== cv" run.log || [ -e res/ts/metrics.csv ] || [ -e res/ts/report.html ]; then
  cat run.log; echo "FAIL: --until infer ran a later stage"; exit 1
fi
cmp -s scores.before res/ts/slice_scores.h5 || { echo "FAIL: re-run rewrote the scores"; exit 1; }
grep -q "slice_scores.h5 is up to date" run.log || { cat run.log; echo "FAIL: infer did not find its scores done"; exit 1; }
# another inference setting is not "done": flip_test re-scores, and the scores change
"$HUST19" infer job.yaml --set slice_cnn.flip_test=true 2> flip.log || { cat flip.log; echo "FAIL: infer flip_test"; exit 1; }
grep -q "up to date" flip.log && { echo "FAIL: flip_test reused the plain scores"; exit 1; }
if h5diff -q scores.before res/ts/slice_scores.h5 > /dev/null; then echo "FAIL: flip_test scores equal the plain ones"; exit 1; fi
if "$HUST19" run job.yaml --until training > bad.log 2>&1; then echo "FAIL: --until training accepted"; exit 1; fi
grep -q "until training: not a stage" bad.log || { cat bad.log; echo "FAIL: bad --until message"; exit 1; }
echo "ok"
