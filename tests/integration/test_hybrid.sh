#!/usr/bin/env bash
# ctest-labels: slow
# it/hybrid — HUST-19 end to end on a small synthetic consortium (hust19 synth: phantom CT series and
# clinical features): ingest -> train slice-cnn -> infer -> cv of cf-dnn, ct-cnn and the hybrid ->
# predict -> report. Checks:
#   - a job whose archive lacks the slice scores says which stage to run first;
#   - cv at 1 and 2 ranks: metrics.csv, compare.csv, confusion.csv byte-identical, results.h5 h5diff-identical;
#   - patients without CT (ct_fraction < 1) and without CFs (blanked here) are scored by the hybrid's
#     CF-only / CT-only fallbacks: every patient has a hybrid score, ct-cnn leaves the ones without CT
#     unscored (NaN), cf-dnn the ones without CFs;
#   - a stop (SIGUSR1) during cv at 2 ranks exits 75; the re-run reuses the saved tasks and gives the
#     same bytes as the uninterrupted run;
#   - predict writes predictions for the "suspected" cases and a t-SNE map of the six intermediate
#     scores; the report has the confusion matrices, the comparison table and the t-SNE figure.
set -euo pipefail
S=$1; rm -rf "$S"; mkdir -p "$S"; cd "$S"
SRC=$HUST19_SRC
MPI=("$HUST19_MPIEXEC" -np 2 --oversubscribe)
fail() { echo "FAIL: $*"; exit 1; }

cat > pcnn.yaml <<'YAML'
format: hust19-model
version: 1
name: patient-cnn-tiny
input: [10, 20, 20]
layers: [{conv: 4}, relu, pool, {conv: 8}, relu, pool, {dense: 16}, relu, {output: 3}]
train: {epochs: 12, batch: 16, micro_batch: 8, lr: 3.0e-3, decay: 0.02, patience: 4}
YAML
cat > job.yaml <<YAML
job: {name: hy, seed: 11, results: res}
synth: {out: syn, patients: 90, ct_fraction: 0.8, slices: {mean: 14, sd: 2, min: 10}, image_size: 128,
        labelled_patients: 12}
ct: {manifest: syn/manifest.csv, labels: syn/slice_labels.csv, window: {center: -600, width: 1500}}
slice_cnn: {model: $SRC/configs/models/slice_cnn_small.yaml, epochs: 6, max_train_slices: 300}
data:
  cf_table: cf.csv
  archive: res/hy/archive.h5    # fixed, so that job.results=rN moves only the cv/predict outputs
  id_column: ""
  catalog: $SRC/configs/cf_catalog.yaml
  cohorts: {id_ranges: {"1": [1, 70], "2": [71, 90]}}
outcomes:
  morbidity:
    label_column: Morbidity outcome
    classes: [control, type_I, type_II]
    map: {Control: control, "Control (Community-acquired pneumonia)": control, Mild: exclude, Regular: type_I,
          Severe: type_II, Critically ill: type_II}
    cohorts: [1]
patient_cnn: {model: pcnn.yaml, val_fraction: 0.2, scores: res/hy/slice_scores.h5}
cf_dnn: {model: $SRC/configs/models/cf_dnn.yaml, epochs: 30, patience: 5, batch: 32}
plr: {C: 1.0, inner_folds: 2, features: logit, select: true}
cv: {repeats: 2, folds: 3, models: [cf-dnn, ct-cnn, hybrid]}
validate: {outcomes: [morbidity], train_cohorts: [1], test_cohorts: [2]}
predict: {outcome: morbidity, suspected: [Mild], train_cohorts: [1], tsne: {perplexity: 10}}
YAML

"$HUST19" synth job.yaml 2> synth.log || { cat synth.log; fail "synth"; }
# blank every clinical feature (columns after the outcomes) of patients 5, 6 and 7: "without CFs"
/usr/bin/python3 - <<'PY'
import csv
rows = list(csv.reader(open("syn/cf.csv", encoding="utf-8")))
h = rows[0]
first_cf = h.index("Mortality outcome") + 1
for r in rows[1:]:
    if r[0] in ("5", "6", "7"):
        for j in range(len(r)):
            if j >= first_cf or h[j] in ("Age", "Gender", "Body temperature", "Underlying diseases"):
                r[j] = ""
w = csv.writer(open("cf.csv", "w", encoding="utf-8", newline=""), lineterminator="\n")
w.writerows(rows)
PY
"$HUST19" ingest job.yaml 2> ingest.log || { cat ingest.log; fail "ingest"; }
# cv of the CT models needs the slice scores: the message names the stage to run first
if "$HUST19" cv job.yaml 2> nocnn.log; then fail "cv without slice scores succeeded"; fi
grep -q "hust19 infer" nocnn.log || { cat nocnn.log; fail "the message does not say to run infer"; }
[ ! -e res/hy/metrics.csv ] || fail "metrics.csv written by a failed cv"
"$HUST19" train slice-cnn job.yaml 2> train.log || { cat train.log; fail "train slice-cnn"; }
"$HUST19" infer job.yaml 2> infer.log || { cat infer.log; fail "infer"; }

"$HUST19" cv job.yaml --set job.results=r1 2> cv1.log || { cat cv1.log; fail "cv at 1 rank"; }
"${MPI[@]}" "$HUST19" cv job.yaml --set job.results=r2 2> cv2.log || { cat cv2.log; fail "cv at 2 ranks"; }
for f in metrics.csv metrics-detail.csv validate.csv compare.csv confusion.csv cv.html; do
  cmp r1/hy/$f r2/hy/$f || fail "$f differs between 1 and 2 ranks"
done
h5diff r1/hy/results.h5 r2/hy/results.h5 || fail "results.h5 differs between 1 and 2 ranks"

# plr.select's choices are logged per outcome and fused model; the one-standard-error rule keeps both
# inputs only where the least-loss rule does too (it needs the same evidence and more), and reuses
# every base task (the rule changes only the fusions)
sel() { sed -n "s/.*morbidity hybrid, plr.select ($1) over \([0-9]*\) splits: both inputs \([0-9]*\), .*/\1 \2/p" "$2"; }
read -r n_min both_min <<< "$(sel min cv1.log)"
[ -n "$n_min" ] && [ "$n_min" -eq 7 ] || { grep "plr.select" cv1.log; fail "no plr.select summary (2 x 3 CV splits + 1 validation) in the cv log"; }
cp -r r1 r1se
"$HUST19" cv job.yaml --set job.results=r1se --set plr.select_rule=one_se 2> cv1se.log || { cat cv1se.log; fail "cv one_se"; }
grep -Eq "cv: [0-9]+ tasks \(0 computed" cv1se.log || { grep "tasks (" cv1se.log; fail "one_se recomputed base tasks"; }
read -r n_se both_se <<< "$(sel one_se cv1se.log)"
[ "$n_se" = "$n_min" ] && [ "$both_se" -le "$both_min" ] || fail "one_se kept both inputs in $both_se splits, min in $both_min"

# plr.test_scores: the fusion scores test patients from the mean of the inner models' scores (inner,
# the default) or from the refitted base models (refit): same base tasks (all reused), the same
# base-model scores, other hybrid scores
cp -r r1 r1rf
"$HUST19" cv job.yaml --set job.results=r1rf --set plr.test_scores=refit 2> cv1rf.log || { cat cv1rf.log; fail "cv refit"; }
grep -Eq "cv: [0-9]+ tasks \(0 computed" cv1rf.log || { grep "tasks (" cv1rf.log; fail "refit recomputed base tasks"; }
if "$HUST19" cv job.yaml --set job.results=r1rf --set plr.test_scores=outer 2> cvbad.log; then fail "plr.test_scores=outer accepted"; fi
grep -q "test_scores" cvbad.log || { cat cvbad.log; fail "the error does not name plr.test_scores"; }
/usr/bin/python3 - <<'PY' || fail "plr.test_scores"
import h5py, numpy as np
a, b = h5py.File("r1/hy/results.h5", "r"), h5py.File("r1rf/hy/results.h5", "r")
for name in ("cf-dnn", "ct-cnn"):
    sa, sb = a["/cv/morbidity/" + name]["score"][:], b["/cv/morbidity/" + name]["score"][:]
    assert np.array_equal(np.isnan(sa), np.isnan(sb)) and np.array_equal(sa[~np.isnan(sa)], sb[~np.isnan(sb)]), name + " changed"
ha, hb = a["/cv/morbidity/hybrid"]["score"][:], b["/cv/morbidity/hybrid"]["score"][:]
assert not np.isnan(ha).any() and not np.isnan(hb).any()
d = np.abs(ha - hb).max(axis=2)
print("hybrid inner vs refit: patients changed", (d > 1e-9).sum(), "of", d.size, "max", d.max())
assert (d > 1e-9).mean() > 0.5, "plr.test_scores changed too few hybrid scores"
PY

# fallbacks: per model, how many patients of the CV set are scored (repeat 0)
/usr/bin/python3 - <<'PY' || fail "fallback scores"
import h5py, numpy as np, csv
f = h5py.File("r1/hy/results.h5", "r")
g = f["/cv/morbidity"]
ids = [x.decode() if isinstance(x, bytes) else x for x in g["patient_id"][:]]
man = {r["patient_id"]: r for r in csv.DictReader(open("syn/manifest.csv")) if int(r["n_slices"]) > 0}
has_ct = np.array([i in man for i in ids])
no_cf = np.array([i in ("5", "6", "7") for i in ids])
for name in ("cf-dnn", "ct-cnn", "hybrid"):
    s = g[name]["score"][0]
    scored = ~np.isnan(s[:, 0])
    print(name, "scored", scored.sum(), "of", len(ids))
    if name == "ct-cnn": assert (scored == has_ct).all(), "ct-cnn must score exactly the patients with CT"
    if name == "cf-dnn": assert (scored == ~no_cf).all(), "cf-dnn must score exactly the patients with CFs"
    if name == "hybrid": assert scored.all(), "the hybrid must score every patient (CF-only / CT-only fallbacks)"
    ok = s[scored]
    assert np.allclose(ok.sum(axis=1), 1, atol=1e-9), name + ": probabilities do not sum to 1"
assert (~has_ct).sum() >= 5 and no_cf.sum() >= 1, "the test set-up lost its patients without CT / CFs"
PY
grep -q "<h3>Inputs" r1/hy/cv.html || fail "cv.html has no inputs table"
head -1 r1/hy/compare.csv | grep -qx "split,outcome,class,n,ct_only,cf_only,fused,fused_ge_best" || fail "compare.csv header"
test "$(grep -c '^cv,morbidity' r1/hy/compare.csv)" -eq 3 || fail "compare.csv rows"
test "$(grep -c '^cv,morbidity,hybrid' r1/hy/confusion.csv)" -eq 9 || fail "confusion.csv: 3 x 3 cells"
# the confusion counts add up to the patients the hybrid scored
awk -F, '$1 == "cv" { n += $6 } END { exit n > 0 ? 0 : 1 }' r1/hy/confusion.csv || fail "confusion counts"

# a stop during cv at 2 ranks: exit 75, tasks kept; the re-run finishes with the same bytes
set +e
"${MPI[@]}" "$HUST19" cv job.yaml --set job.results=r3 2> cv3.log &
pid=$!
for _ in $(seq 1 300); do
  [ "$(ls r3/hy/tasks 2>/dev/null | wc -l)" -ge 4 ] && break
  sleep 0.2
done
kill -USR1 $pid 2>/dev/null # mpirun forwards it to the ranks (as SLURM's signal before the time limit)
wait $pid
rc=$?
set -e
[ "$rc" -eq 75 ] || { tail -5 cv3.log; fail "exit $rc after SIGUSR1, expected 75"; }
[ ! -e r3/hy/metrics.csv ] || fail "a stopped cv wrote metrics.csv"
"${MPI[@]}" "$HUST19" cv job.yaml --set job.results=r3 2> cv3b.log || { cat cv3b.log; fail "resume"; }
grep -Eq "cv: [0-9]+ tasks \([0-9]+ computed, [1-9][0-9]* reused" cv3b.log || { grep "tasks (" cv3b.log; fail "nothing reused"; }
for f in metrics.csv compare.csv confusion.csv validate.csv; do cmp r1/hy/$f r3/hy/$f || fail "$f differs after resume"; done
h5diff r1/hy/results.h5 r3/hy/results.h5 || fail "results.h5 differs after resume"

# predict: the suspected ("Mild" here) scored, the t-SNE of the six intermediate scores
"${MPI[@]}" "$HUST19" predict job.yaml --set job.results=r1 2> pred.log || { cat pred.log; fail "predict"; }
nsus=$(awk -F, 'NR > 1 && $0 ~ /,Mild,/' syn/cf.csv | wc -l)
test "$(($(wc -l < r1/hy/predictions.csv) - 1))" -eq "$nsus" || fail "predictions.csv: expected $nsus suspected rows"
head -1 r1/hy/tsne.csv | grep -qx "patient_id,group,x,y" || fail "tsne.csv header"
test "$(wc -l < r1/hy/tsne.csv)" -gt 20 || fail "tsne.csv has too few points"
grep -q "<svg" r1/hy/tsne.svg || fail "tsne.svg"
"$HUST19" report job.yaml --set job.results=r1 2> rep.log || { cat rep.log; fail "report"; }
for want in "Confusion matrices" "CT only vs CF only vs fused" "t-SNE" "Inputs"; do
  grep -q "$want" r1/hy/report.html || fail "report.html lacks '$want'"
done

# the whole job (hust19 run: ingest, train, infer, cv, predict, report) at 2 ranks, stopped by SIGUSR1
# every few seconds and re-run until it finishes: the same results as the uninterrupted stages above
sed -e 's#results: res#results: rk#' -e 's#res/hy/#rk/hy/#g' job.yaml > jobk.yaml
stops=0
for attempt in $(seq 1 40); do
  set +e
  "${MPI[@]}" "$HUST19" run jobk.yaml 2> run$attempt.log &
  pid=$!
  sleep $((3 + attempt)) # growing: every attempt gets further, so the loop ends (slowly: >= 2 stops on a fast machine)
  kill -USR1 $pid 2>/dev/null
  wait $pid
  rc=$?
  set -e
  [ "$rc" -eq 0 ] && break
  [ "$rc" -eq 75 ] || { tail -5 run$attempt.log; fail "hust19 run exit $rc after a stop, expected 75"; }
  stops=$((stops + 1))
done
[ "$rc" -eq 0 ] || fail "hust19 run did not finish in 40 attempts"
[ "$stops" -ge 2 ] || fail "only $stops stops happened: the test did not interrupt the job"
for f in metrics.csv validate.csv compare.csv confusion.csv predictions.csv tsne.csv; do
  cmp r1/hy/$f rk/hy/$f || fail "$f of the interrupted job differs from the uninterrupted run"
done
h5diff r1/hy/results.h5 rk/hy/results.h5 || fail "results.h5 of the interrupted job differs"
echo "ok: hybrid identical at 1 and 2 ranks, resumed after stops ($stops in the whole job), fallbacks scored, predict and report"
