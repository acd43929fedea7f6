#!/usr/bin/env bash
# ctest-labels: slow
# A cv run stopped by SIGUSR1 midway exits 75 with its finished tasks saved; re-running it (on
# another rank count) reuses them and ends with results identical to an uninterrupted run.
set -euo pipefail
S=$1; rm -rf "$S"; mkdir -p "$S"; cd "$HUST19_SRC"
JOB=tests/data/cf_small.yaml
SET=(--set cv.repeats=3 --set 'cv.models=[cf-lr, cf-dnn]' --set 'validate.outcomes=[]')
"$HUST19" ingest $JOB "${SET[@]}" --set job.results="$S/clean" >/dev/null 2>&1
"$HUST19" ingest $JOB "${SET[@]}" --set job.results="$S/cut" >/dev/null 2>&1
"$HUST19" cv $JOB "${SET[@]}" --set job.results="$S/clean" 2> "$S/clean.log"
# interrupted run: SIGUSR1 (which mpirun forwards to the ranks; SLURM sends it before the time limit)
"$HUST19_MPIEXEC" -np 2 --oversubscribe "$HUST19" cv $JOB "${SET[@]}" --set job.results="$S/cut" 2> "$S/cut1.log" &
pid=$!
for i in $(seq 1 600); do
  n=$(find "$S/cut/cf-small/tasks" -name "*.bin" 2>/dev/null | wc -l || true)
  [ "$n" -ge 3 ] && break
  kill -0 $pid 2>/dev/null || break
  sleep 0.2
done
kill -USR1 $pid 2>/dev/null || true
set +e; wait $pid; rc=$?; set -e
echo "interrupted run exit code: $rc"
if [ $rc -eq 0 ]; then echo "the run finished before the signal; cannot test the interruption" >&2; exit 1; fi
[ $rc -eq 75 ] || { cat "$S/cut1.log"; echo "expected exit 75"; exit 1; }
grep -q "stop requested" "$S/cut1.log"
test ! -e "$S/cut/cf-small/metrics.csv"                 # no half-written results
"$HUST19" cv $JOB "${SET[@]}" --set job.results="$S/cut" 2> "$S/cut2.log"
grep -E "cv: [0-9]+ tasks \([0-9]+ computed, [1-9][0-9]* reused" "$S/cut2.log"
cmp "$S/clean/cf-small/metrics.csv" "$S/cut/cf-small/metrics.csv"
cmp "$S/clean/cf-small/metrics-detail.csv" "$S/cut/cf-small/metrics-detail.csv"
h5diff "$S/clean/cf-small/results.h5" "$S/cut/cf-small/results.h5"
echo "resumed run identical to the uninterrupted one"
