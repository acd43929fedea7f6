#!/bin/bash
# it/train_slice — `hust19 train slice-cnn` end to end on a small synthetic archive (made with the h5io
# API by tests/unit/test_train_slice.c --make-archive), the weights averaged over epochs 2-6
# (average_from): the same model bytes on 1 and 2 MPI ranks
# (h5diff of the saved model, cmp of the metrics), a stop after N steps (HUST19_STOP_AFTER_STEPS) exits
# 75 and the resumed run (also on another rank count) ends with the uninterrupted model, a real SIGTERM
# likewise, strict job keys, the other models' message.
set -euo pipefail
work="$1"; rm -rf "$work"; mkdir -p "$work"
cd "$work"
MPI=("$HUST19_MPIEXEC" -np 2 --oversubscribe)

"$HUST19_BUILD/tests/test_train_slice" --make-archive arch.h5 9 24 8 3
cat > tiny.yaml <<'YAML'
format: hust19-model
version: 1
name: slice-cnn-tiny
input: [1, 50, 50]
layers: [{conv: 4}, relu, pool, {conv: 8}, relu, pool, {dense: 16}, relu, {dropout: 0.25}, {output: 3}]
YAML
cat > job.yaml <<'YAML'
job: {name: r1, seed: 5, results: res}
data: {cf_table: none.csv, archive: arch.h5}
outcomes: {morbidity: {label_column: M, classes: [a, b], map: {A: a, B: b}}}
slice_cnn: {model: tiny.yaml, val_fraction: 0, epochs: 6, batch: 12, micro_batch: 4, lr: 3.0e-3, decay: 0.05, patience: 0, average_from: 2}
YAML

"$HUST19" train slice-cnn job.yaml 2> r1.log || { cat r1.log; echo "FAIL: 1-rank training"; exit 1; }
"${MPI[@]}" "$HUST19" train slice-cnn job.yaml --set job.name=r2 2> r2.log || { cat r2.log; echo "FAIL: 2-rank training"; exit 1; }
for d in r1 r2; do
  for f in slice_cnn.h5 slice_cnn_metrics.csv slice_cnn.ckpt; do [ -s "res/$d/$f" ] || { echo "FAIL: no res/$d/$f"; exit 1; }; done
done
h5diff res/r1/slice_cnn.h5 res/r2/slice_cnn.h5 || { echo "FAIL: 1-rank and 2-rank models differ"; exit 1; }
cmp res/r1/slice_cnn_metrics.csv res/r2/slice_cnn_metrics.csv || { echo "FAIL: metrics differ"; exit 1; }
grep -q '^test_auc_ovr,pCT,,' res/r1/slice_cnn_metrics.csv || { echo "FAIL: no pCT AUC"; exit 1; }
grep -q '^confusion,NiCT,NiCT,' res/r1/slice_cnn_metrics.csv || { echo "FAIL: no confusion matrix"; exit 1; }
grep -q '^averaged_epochs,all,,5$' res/r1/slice_cnn_metrics.csv || { echo "FAIL: not the mean of epochs 2-6"; exit 1; }
grep -q 'bytes allreduced per step' r1.log || { echo "FAIL: no allreduce size logged"; exit 1; }
# another seed gives another model (h5diff exits 1 on a difference)
"$HUST19" train slice-cnn job.yaml --set job.name=r3 --set job.seed=6 2> r3.log
if h5diff -q res/r1/slice_cnn.h5 res/r3/slice_cnn.h5 > /dev/null; then echo "FAIL: seed 6 = seed 5"; exit 1; fi

# stop after step 7 (mid-epoch) on 2 ranks: exit 75, a checkpoint, no model; resume on 1 rank
set +e
HUST19_STOP_AFTER_STEPS=7 "${MPI[@]}" -x HUST19_STOP_AFTER_STEPS "$HUST19" train slice-cnn job.yaml --set job.name=s1 2> s1.log
rc=$?
set -e
[ "$rc" -eq 75 ] || { cat s1.log; echo "FAIL: stop exit code $rc, expected 75"; exit 1; }
[ -s res/s1/slice_cnn.ckpt ] || { echo "FAIL: no checkpoint after the stop"; exit 1; }
[ ! -e res/s1/slice_cnn.h5 ] || { echo "FAIL: a model was written by the stopped run"; exit 1; }
"$HUST19" train slice-cnn job.yaml --set job.name=s1 2> s1b.log || { cat s1b.log; echo "FAIL: resume"; exit 1; }
h5diff res/r1/slice_cnn.h5 res/s1/slice_cnn.h5 || { echo "FAIL: resumed model differs from the uninterrupted one"; exit 1; }
cmp res/r1/slice_cnn_metrics.csv res/s1/slice_cnn_metrics.csv || { echo "FAIL: resumed metrics differ"; exit 1; }

# a real SIGTERM during a longer run (1 rank): exit 75, then the resumed run equals an uninterrupted one
long=(--set slice_cnn.epochs=25)
"$HUST19" train slice-cnn job.yaml --set job.name=l1 "${long[@]}" 2> l1.log
"$HUST19" train slice-cnn job.yaml --set job.name=l2 "${long[@]}" 2> l2.log &
pid=$!
for _ in $(seq 1 200); do [ -e res/l2/slice_cnn.ckpt ] && break; sleep 0.05; done
kill -TERM "$pid" 2>/dev/null || true
set +e; wait "$pid"; rc=$?; set -e
if [ "$rc" -eq 75 ]; then
  grep -q 'stopped at step' l2.log || { cat l2.log; echo "FAIL: no stop message"; exit 1; }
  "$HUST19" train slice-cnn job.yaml --set job.name=l2 "${long[@]}" 2> l2b.log || { cat l2b.log; echo "FAIL: resume after SIGTERM"; exit 1; }
else
  [ "$rc" -eq 0 ] || { cat l2.log; echo "FAIL: exit $rc after SIGTERM"; exit 1; }
  echo "note: the run finished before SIGTERM arrived"
fi
h5diff res/l1/slice_cnn.h5 res/l2/slice_cnn.h5 || { echo "FAIL: model after SIGTERM + resume differs"; exit 1; }

# a changed training key (lr) with an existing checkpoint: refused; --restart trains afresh
chg=(--set job.name=r3 --set job.seed=6 --set slice_cnn.lr=1.0e-3 --set slice_cnn.epochs=2)
if "$HUST19" train slice-cnn job.yaml "${chg[@]}" 2> chg.log; then
  echo "FAIL: a checkpoint of other settings was accepted"; exit 1; fi
grep -q "other training settings" chg.log || { cat chg.log; echo "FAIL: message"; exit 1; }
"$HUST19" train slice-cnn job.yaml "${chg[@]}" --restart 2> rs.log \
  || { cat rs.log; echo "FAIL: --restart"; exit 1; }
grep -q "epochs_run,all,,2" res/r3/slice_cnn_metrics.csv || { echo "FAIL: --restart did not retrain"; exit 1; }

# strict keys and the other models
if "$HUST19" train slice-cnn job.yaml --set slice_cnn.epocs=3 2> bad.log; then echo "FAIL: bad key accepted"; exit 1; fi
grep -q "epocs" bad.log || { cat bad.log; echo "FAIL: message does not name the key"; exit 1; }
"$HUST19" train patient-cnn job.yaml | grep -q "inside 'hust19 cv'" || { echo "FAIL: patient-cnn message"; exit 1; }
if "$HUST19" train nosuch job.yaml 2> bad2.log; then echo "FAIL: unknown model accepted"; exit 1; fi
echo "ok"
