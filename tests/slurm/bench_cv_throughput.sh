#!/usr/bin/env bash
# bench_cv_throughput.sh — per-rank throughput of the CF cv tasks (the input of docs/cluster.md's
# scale model). Not run by CTest (timings are never asserted).
#
#   bash tests/slurm/bench_cv_throughput.sh [MODELS] [RANKS] [REPEATS] [FOLDS]
#     MODELS   a cv.models list (default "[cf-lr, cf-dnn, cf-fused]", the paper's job)
#     RANKS    MPI ranks (default 1); one BLAS thread each (HUST19_THREADS=1)
#
# Prints tasks, wall seconds, CPU seconds (user+sys of every rank), tasks/s per rank (wall) and
# CPU seconds per task, with the load average before and after: on a shared machine the wall
# figure depends on the load; CPU s/task is the better basis for projections.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
models=${1:-[cf-lr, cf-dnn, cf-fused]}
ranks=${2:-1}
repeats=${3:-1}
folds=${4:-10}
bin=${HUST19:-$src/build/bin/hust19}
out=$(mktemp -d /tmp/h19bench.XXXXXX)
trap 'rm -rf "$out"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 HUST19_THREADS=1
cd "$src"
set_args=(--set job.results="$out" --set cv.repeats="$repeats" --set cv.folds="$folds" --set "cv.models=$models")
"$bin" ingest jobs/ictcf-cf.yaml "${set_args[@]}" >/dev/null 2>&1
load0=$(cut -d' ' -f1-3 /proc/loadavg)
/usr/bin/time -f "%e %U %S" -o "$out/time" \
    mpirun -np "$ranks" --oversubscribe --bind-to none "$bin" cv jobs/ictcf-cf.yaml "${set_args[@]}" >"$out/log" 2>&1
load1=$(cut -d' ' -f1-3 /proc/loadavg)
line=$(grep -o "cv: [0-9]* tasks ([0-9]* computed" "$out/log" | tail -1)
ntasks=$(sed 's/cv: \([0-9]*\) tasks.*/\1/' <<<"$line")
read -r wall user sys <"$out/time"
awk -v n="$ntasks" -v w="$wall" -v u="$user" -v s="$sys" -v r="$ranks" -v m="$models" \
    -v l0="$load0" -v l1="$load1" -v c="$(nproc)" -v rep="$repeats" -v fo="$folds" 'BEGIN {
    printf "models %s, %d ranks, %d tasks (%s x %s folds x outcomes + validation)\n", m, r, n, rep, fo
    printf "wall %.1f s, CPU %.1f s; %.3f tasks/s per rank (wall), %.2f CPU s per task\n", w, u + s, n / w / r, (u + s) / n
    printf "load average before %s, after %s, %d cores\n", l0, l1, c }'
