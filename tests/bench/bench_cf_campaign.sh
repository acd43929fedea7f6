#!/usr/bin/env bash
# Benchmark of the clinical-feature campaign (issue "How good it must be"): wall time and peak memory
# per rank of `hust19 cv` at 1 and 2 ranks on the real iCTCF table, and of scikit-learn's
# same-protocol run on the same folds (tests/bench/cf_vs_sklearn.py), measured in the same run; the
# AUCs of both side by side.
#   bash tests/bench/bench_cf_campaign.sh [BUILD_DIR] [REPEATS] [FOLDS] [OUTCOMES]
#   (default: build 10 10 "morbidity,mortality"; e.g. "mortality" for the mortality campaign alone)
# Timings on a shared machine are noisy: compare the ratios, not the seconds.
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${1:-build}; R=${2:-10}; F=${3:-10}; OC=${4:-morbidity,mortality}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 HUST19_THREADS=1
OUT=$(mktemp -d)
JOB=jobs/ictcf-cf.yaml
SET=(--set job.results="$OUT" --set cv.repeats=$R --set cv.folds=$F --set 'validate.outcomes=[]' --set "cv.outcomes=[$OC]")
echo "== $R x $F CV of [$OC], load before: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
"$B/bin/hust19" ingest $JOB "${SET[@]}" --set job.name=np1 2>/dev/null
cp "$OUT/np1/archive.h5" "$OUT/archive.h5"
for np in 1 2; do
  /usr/bin/time -f "%e s wall, %M KiB peak RSS (largest rank)" -o "$OUT/time$np" \
    mpirun -np $np --oversubscribe "$B/bin/hust19" cv $JOB "${SET[@]}" --set job.name=np$np \
    --set data.archive="$OUT/archive.h5" 2>&1 | grep -E "cv:|ERROR" || true
  echo "hust19 cv, $np rank(s): $(cat "$OUT/time$np")"
done
cmp "$OUT/np1/metrics.csv" "$OUT/np2/metrics.csv" && echo "metrics.csv identical at 1 and 2 ranks"
cp "$OUT/archive.h5" "$OUT/np1/archive.h5"
/usr/bin/time -f "%e s wall, %M KiB peak RSS" -o "$OUT/time_sk" /usr/bin/python3 tests/bench/cf_vs_sklearn.py "$OUT/np1" 2>/dev/null
echo "scikit-learn (L2 LR + gradient boosting, same folds, 1 process): $(cat "$OUT/time_sk")"
t1=$(cut -d' ' -f1 "$OUT/time1"); t2=$(cut -d' ' -f1 "$OUT/time2"); ts=$(cut -d' ' -f1 "$OUT/time_sk")
awk -v a="$t1" -v b="$t2" -v c="$ts" 'BEGIN { printf "ratios: hust19 1 rank / 2 ranks = %.2f; hust19 1 rank / scikit-learn = %.2f\n", a / b, a / c }'
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"
rm -rf "$OUT"
