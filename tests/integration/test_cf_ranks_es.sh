#!/usr/bin/env bash
# ctest-labels: slow
# The CF DNN's early-stopping criteria and class weights keep results independent of the rank count:
# cv at 1 and 2 ranks with early_stop loss (morbidity, job-wide) and, per outcome (mortality), AUC
# early stopping with class weights instead of oversampling and the 8 best-separating columns only: metrics.csv byte-identical, results.h5
# identical in content; and the per-outcome override changes mortality only.
set -euo pipefail
S=$1; rm -rf "$S"; mkdir -p "$S"; cd "$HUST19_SRC"
JOB=tests/data/cf_small.yaml
SET=(--set 'cv.models=[cf-dnn]' --set 'validate.outcomes=[]' --set cv.repeats=1)
run() { # ranks name extra...
  local np=$1 name=$2; shift 2
  "$HUST19_MPIEXEC" -np "$np" --oversubscribe "$HUST19" "$@" --set job.results="$S/$name" "${SET[@]}"
}
run 1 a ingest $JOB
ES=(--set cf_dnn.early_stop=loss
    --set 'outcomes.mortality.cf_dnn={early_stop: auc, class_weight: balanced, balance: false, features: 8}')
run 1 a cv $JOB "${ES[@]}" --set data.archive="$S/a/cf-small/archive.h5"
run 2 b cv $JOB "${ES[@]}" --set data.archive="$S/a/cf-small/archive.h5"
cmp "$S/a/cf-small/metrics.csv" "$S/b/cf-small/metrics.csv"
h5diff "$S/a/cf-small/results.h5" "$S/b/cf-small/results.h5"
# only the mortality rows change when the mortality override is dropped
run 2 c cv $JOB --set cf_dnn.early_stop=loss --set data.archive="$S/a/cf-small/archive.h5"
diff <(grep ^morbidity "$S/a/cf-small/metrics.csv") <(grep ^morbidity "$S/c/cf-small/metrics.csv")
if diff -q <(grep ^mortality "$S/a/cf-small/metrics.csv") <(grep ^mortality "$S/c/cf-small/metrics.csv") >/dev/null; then
  echo "the outcomes.mortality.cf_dnn override changed nothing"; exit 1
fi
awk -F, 'NR > 1 && ($4 < 0.6 || $4 > 1) { print "implausible AUC: " $0; bad = 1 } END { exit bad }' "$S/a/cf-small/metrics.csv"
echo "early_stop / class_weight / features / per-outcome cf_dnn: identical at 1 and 2 ranks"
