#!/bin/bash
# bench_ingest.sh [BUILD] [PATIENTS] [SLICES] — CT ingest throughput on 512x512 synthetic series.
#
# Makes a synthetic archive (hust19 synth, PATIENTS x SLICES slices of 512x512, default 4 x 60),
# then runs `hust19 ingest` on it with 1 and with 2 MPI ranks (fresh results each time, so no shard
# is reused) and prints, per run, the wall time and the slices/s each rank reports for its own
# series (read + window + preprocess + order + shard write), plus the whole ingest's slices/s.
# Also a re-run that reuses every shard (the resume path: assembly only). Not run by CTest; timings
# on a shared machine vary (compare the rows of one run, not runs on different days).
set -euo pipefail
BUILD=${1:-build}
NP=${2:-4}
NS=${3:-60}
HUST19=$(cd "$BUILD" && pwd)/bin/hust19
SRC=$(cd "$(dirname "$0")/../.." && pwd)
MPIEXEC=${HUST19_MPIEXEC:-mpiexec}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 HUST19_THREADS=1
work=$(mktemp -d /tmp/bench_ingest.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"
cat > base.yaml <<YAML
job: {name: bench, seed: 1, results: res/NAME}
data:
  cf_table: syn/cf.csv
  catalog: $SRC/configs/cf_catalog.yaml
  cohorts: {id_ranges: {"1": [1, 1000]}}
outcomes:
  morbidity:
    label_column: Morbidity outcome
    classes: [control, type_I, type_II]
    map: {Control: control, "Control (Community-acquired pneumonia)": control, Mild: type_I, Regular: type_I,
          Severe: type_II, Critically ill: type_II}
    cohorts: [1]
synth: {out: syn, seed: 3, patients: $NP, slices: $NS, image_size: 512, labelled_patients: 1}
ct: {manifest: syn/manifest.csv, labels: syn/slice_labels.csv}
YAML
for n in r1 r2; do sed "s#res/NAME#res/$n#" base.yaml > $n.yaml; done
"$MPIEXEC" -np 2 --oversubscribe "$HUST19" synth r1.yaml 2> synth.log
total=$(find syn/dicom -name '*.dcm' | wc -l)
echo "bench_ingest: $total slices of 512x512 in $NP series; load average $(cut -d' ' -f1-3 /proc/loadavg)"
run() { # NAME NP
    local t0 t1
    t0=$(date +%s.%N)
    "$MPIEXEC" -np "$2" --oversubscribe "$HUST19" ingest "$1.yaml" "${@:3}" 2> "$1.log"
    t1=$(date +%s.%N)
    local wall
    wall=$(echo "$t1 - $t0" | bc -l)
    printf '%-26s wall %6.2f s, %7.1f slices/s overall\n' "$1 ($2 rank(s))" "$wall" "$(echo "$total / $wall" | bc -l)"
    grep -o 'rank [0-9]* processed.*' "$1.log" | sed 's/^/    /' || true
}
run r1 1
run r2 2
run r2 2 --force # every shard reused: the cost of assembly and the collective writes alone
du -h res/r1/bench/archive.h5 | awk '{print "archive size " $1}'
