#!/usr/bin/env bash
# ctest-labels: slow
# The clinical-feature path end to end at 1 and 2 MPI ranks, and as a job array (--repeat + merge):
# metrics.csv, validate.csv and cv.html byte-identical, results.h5 identical in content (h5diff), and
# the archive identical for 1 and 2 ranks.
set -euo pipefail
S=$1; rm -rf "$S"; mkdir -p "$S"; cd "$HUST19_SRC"
JOB=tests/data/cf_small.yaml
run() { # ranks name extra...
  local np=$1 name=$2; shift 2
  "$HUST19_MPIEXEC" -np "$np" --oversubscribe "$HUST19" "$@" --set job.results="$S/$name"
}
run 1 r1 ingest $JOB
run 2 r2 ingest $JOB
h5diff "$S/r1/cf-small/archive.h5" "$S/r2/cf-small/archive.h5"
# a failure inside cv must not leave results behind; a good run must write all outputs
run 1 r1 cv $JOB
run 2 r2 cv $JOB
# the job array path: each repeat alone (on different rank counts), then merge
run 2 r3 ingest $JOB
run 1 r3 cv $JOB --repeat 1
run 2 r3 cv $JOB --repeat 0
run 2 r3 merge $JOB
for n in r2 r3; do
  for f in metrics.csv metrics-detail.csv validate.csv cv.html; do cmp "$S/r1/cf-small/$f" "$S/$n/cf-small/$f"; done
  h5diff "$S/r1/cf-small/results.h5" "$S/$n/cf-small/results.h5"
done
# the outputs have the promised shape
head -1 "$S/r1/cf-small/metrics.csv" | grep -qx "outcome,model,class,auc,auc_lo,auc_hi,sn,sp,ac,ppv,npv,mcc"
test "$(wc -l < "$S/r1/cf-small/metrics.csv")" -eq $((1 + 3 * 3 + 3 * 1))   # 3 models x (3 + 1) classes
grep -q "<svg" "$S/r1/cf-small/cv.html"
# AUCs are real: every one between 0.6 and 1 on this table
awk -F, 'NR > 1 && ($4 < 0.6 || $4 > 1) { print "implausible AUC: " $0; bad = 1 } END { exit bad }' "$S/r1/cf-small/metrics.csv"
echo "cf path identical at 1 and 2 ranks and as a job array"
