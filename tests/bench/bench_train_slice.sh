#!/bin/bash
# bench_train_slice.sh BUILD_DIR [WORKDIR] — training and inference rates of the full slice CNN
# (configs/models/slice_cnn.yaml, 1x200x200) at 1 and 2 MPI ranks on a synthetic archive
# (tests/unit/test_train_slice.c --make-archive). Prints the stages' own rate lines (wall and CPU).
# BLAS threads per rank: dist_init's default (cores / ranks) unless HUST19_THREADS is set.
# Not run by CTest (docs/training.md lists the figures).
set -euo pipefail
build="$(cd "$1" && pwd)"; work="${2:-/tmp/h19_bench_train}"
src="$(cd "$(dirname "$0")/../.." && pwd)"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
rm -rf "$work"; mkdir -p "$work"; cd "$work"
"$build/tests/test_train_slice" --make-archive arch.h5 4 32 3 1
NTRAIN=${NTRAIN:-32}
cat > job.yaml <<YAML
job: {name: b1, seed: 5, results: res}
data: {cf_table: none.csv, archive: arch.h5}
outcomes: {morbidity: {label_column: M, classes: [a, b], map: {A: a, B: b}}}
slice_cnn: {model: $src/configs/models/slice_cnn.yaml, epochs: 1, batch: 16, micro_batch: 8,
            val_fraction: 0, max_train_slices: $NTRAIN, infer_chunk: 16}
YAML
echo "== train, 1 rank"; "$build/bin/hust19" train slice-cnn job.yaml 2>&1 | grep -E "parameters|slices/s"
echo "== train, 2 ranks"; mpiexec -np 2 --oversubscribe "$build/bin/hust19" train slice-cnn job.yaml --set job.name=b2 2>&1 | grep -E "slices/s"
h5diff res/b1/slice_cnn.h5 res/b2/slice_cnn.h5 && echo "models identical"
echo "== infer (96 slices), 1 rank"; "$build/bin/hust19" infer job.yaml 2>&1 | grep -E "slices/s"
echo "== infer, 2 ranks"; mpiexec -np 2 --oversubscribe "$build/bin/hust19" infer job.yaml --set slice_cnn.scores_out=res/b1/s2.h5 2>&1 | grep -E "slices/s"
h5diff res/b1/slice_scores.h5 res/b1/s2.h5 && echo "scores identical"
