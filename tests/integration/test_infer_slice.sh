#!/bin/bash
# it/infer_slice — `hust19 infer` end to end on a small synthetic archive (tests/unit/test_train_slice.c
# --make-archive): identical scores files on 1 and 2 MPI ranks (h5diff), a stop after N chunks
# (HUST19_STOP_AFTER_CHUNKS) exits 75 and the re-run reuses the finished chunks and writes the same
# file, the archive is not modified, a missing model is a clear error.
set -euo pipefail
work="$1"; rm -rf "$work"; mkdir -p "$work"
cd "$work"
MPI=("$HUST19_MPIEXEC" -np 2 --oversubscribe)

"$HUST19_BUILD/tests/test_train_slice" --make-archive arch.h5 7 20 6 4
md5sum arch.h5 > arch.md5
cat > tiny.yaml <<'YAML'
format: hust19-model
version: 1
name: slice-cnn-tiny
input: [1, 50, 50]
layers: [{conv: 4}, relu, pool, {conv: 8}, relu, pool, {dense: 16}, relu, {output: 3}]
YAML
cat > job.yaml <<'YAML'
job: {name: inf, seed: 5, results: res}
data: {cf_table: none.csv, archive: arch.h5}
outcomes: {morbidity: {label_column: M, classes: [a, b], map: {A: a, B: b}}}
slice_cnn: {model: tiny.yaml, epochs: 4, batch: 12, micro_batch: 4, lr: 3.0e-3, infer_chunk: 16}
YAML

if "$HUST19" infer job.yaml 2> none.log; then echo "FAIL: infer without a model"; exit 1; fi
grep -q "train slice-cnn" none.log || { cat none.log; echo "FAIL: message does not say to train first"; exit 1; }
"$HUST19" train slice-cnn job.yaml 2> train.log || { cat train.log; echo "FAIL: training"; exit 1; }

"$HUST19" infer job.yaml --set slice_cnn.scores_out=res/s1.h5 2> i1.log || { cat i1.log; echo "FAIL: 1-rank infer"; exit 1; }
"${MPI[@]}" "$HUST19" infer job.yaml --set slice_cnn.scores_out=res/s2.h5 2> i2.log || { cat i2.log; echo "FAIL: 2-rank infer"; exit 1; }
h5diff res/s1.h5 res/s2.h5 || { echo "FAIL: 1-rank and 2-rank scores differ"; exit 1; }
# 6 patients x 20 slices + one patient without CT; 8 chunks of 16 (the last 8)
h5dump -H res/s1.h5 | grep -q 'DATASPACE  SIMPLE { ( 120, 3 )' || { h5dump -H res/s1.h5; echo "FAIL: /prob shape"; exit 1; }
h5dump -H -d /top10 res/s1.h5 | grep -q '( 7, 10 )' || { echo "FAIL: /top10 shape"; exit 1; }
h5dump -d /top10 -s 6,0 -c 1,10 res/s1.h5 | grep -q -- '-1, -1, -1, -1, -1, -1, -1, -1, -1, -1' || { echo "FAIL: patient without CT"; exit 1; }
[ ! -e res/inf/infer-chunks ] || { echo "FAIL: chunk files left behind"; exit 1; }

# stop after 3 chunks per rank: exit 75, finished chunks kept; the re-run reuses them, same output
set +e
HUST19_STOP_AFTER_CHUNKS=3 "${MPI[@]}" -x HUST19_STOP_AFTER_CHUNKS "$HUST19" infer job.yaml --set slice_cnn.scores_out=res/s3.h5 2> i3.log
rc=$?
set -e
[ "$rc" -eq 75 ] || { cat i3.log; echo "FAIL: exit $rc after a stop, expected 75"; exit 1; }
[ ! -e res/s3.h5 ] || { echo "FAIL: a scores file was written by the stopped run"; exit 1; }
n=$(ls res/inf/infer-chunks | wc -l)
[ "$n" -ge 3 ] && [ "$n" -lt 8 ] || { echo "FAIL: $n chunk files after the stop"; exit 1; }
"$HUST19" infer job.yaml --set slice_cnn.scores_out=res/s3.h5 2> i3b.log || { cat i3b.log; echo "FAIL: resume"; exit 1; }
grep -q "$n chunks reused" i3b.log || { cat i3b.log; echo "FAIL: the re-run did not reuse $n chunks"; exit 1; }
h5diff res/s1.h5 res/s3.h5 || { echo "FAIL: resumed scores differ"; exit 1; }
md5sum -c --quiet arch.md5 || { echo "FAIL: the archive was modified"; exit 1; }

# a changed model file is refused (the architecture saved with the model no longer matches)
sed -i 's/{dense: 16}/{dense: 24}/' tiny.yaml
if "$HUST19" infer job.yaml 2> chg.log; then echo "FAIL: changed model accepted"; exit 1; fi
grep -q "retrain" chg.log || { cat chg.log; echo "FAIL: message"; exit 1; }
echo "ok"
