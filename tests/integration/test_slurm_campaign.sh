#!/usr/bin/env bash
# ctest-labels: slow slurm
# it/slurm_campaign — the whole CF campaign through slurm/campaign.sh on a real (private,
# single-node) SLURM: ingest -> cv as a job array (one task per repeat) with the validation job
# beside it -> merge + report, once with each launcher (mpirun inside the allocation, srun
# --mpi=pmix). The results must be the same as one direct `mpirun -np 2 hust19 cv` run (+ hust19
# report): metrics/validation CSVs, cv.html and report.html byte for byte, results.h5 by h5diff
# (no tolerance: the merge is exact, include/hust19/dist.h). Also: an upstream failure cancels the
# dependants (--kill-on-invalid-dep) and campaign.sh --wait reports it.
# Skips (77) only if the SLURM daemons cannot start here at all.
set -euo pipefail
S=$(mkdir -p "$1" && cd "$1" && pwd)
rm -rf "${S:?}"/*
: "${HUST19:?}" "${HUST19_SRC:?}" "${HUST19_MPIEXEC:?}"
fail() {
    echo "FAIL: $*" >&2
    squeue -a -o '%A %j %T %r' >&2 2>/dev/null || true
    exit 1
}

# shellcheck source=tests/slurm/cluster.sh
. "$HUST19_SRC/tests/slurm/cluster.sh"
slurm_test_start "$S/slurm"

cd "$HUST19_SRC" # job files name their inputs relative to the checkout
JOB=jobs/ictcf-cf.yaml
RED=(--set cv.repeats=2 --set cv.folds=3 --set "cv.models=[cf-lr]")

# The reference: one MPI job, outside SLURM (HUST19_IGNORE_SLURM is not needed: SLURM_* unset).
"$HUST19" ingest "$JOB" --set job.results="$S/direct" "${RED[@]}"
"$HUST19_MPIEXEC" -np 2 --oversubscribe "$HUST19" cv "$JOB" --set job.results="$S/direct" "${RED[@]}"
"$HUST19" report "$JOB" --set job.results="$S/direct" "${RED[@]}"
D=$S/direct/ictcf-cf

# The tiny YAML reader campaign.sh relies on.
. "$HUST19_SRC/slurm/lib.sh"
[ "$(h19_yaml_get "$JOB" job.name)" = ictcf-cf ] || fail "h19_yaml_get job.name"
[ "$(h19_yaml_get "$JOB" outcomes.morbidity.map.Mild)" = type_I ] || fail "h19_yaml_get nested key"
! h19_yaml_get "$JOB" ct >/dev/null || fail "h19_yaml_get found a ct section that is not there"

# A dry run shows the chain without submitting.
dry=$(bash slurm/campaign.sh "$JOB" --dry-run --set job.results="$S/dry" "${RED[@]}" --slurm cv.array_parallel=3 2>&1)
grep -q -- "--array=0-1%3" <<<"$dry" || fail "dry run: no --array=0-1%3: $dry"
grep -q -- "--dependency=afterok:DRY-cv" <<<"$dry" || fail "dry run: merge does not wait for the array: $dry"
! grep -q "train.sbatch" <<<"$dry" || fail "dry run: a CF-only job got a training stage"
[ ! -e "$S/dry" ] || fail "dry run wrote files"

# Resources from a slurm: section (block and flow maps; stage keys beat top-level ones; --slurm
# beats the file).
{ cat "$JOB"; printf '%s\n' 'slurm:' '  launcher: srun   # a comment' '  time: "00:30:00"' '  mem: 2G' \
    '  cv:' '    ntasks_per_node: 3' '    cpus_per_task: 2' '  merge: {ntasks_per_node: 4, time: "00:05:00"}'; } >"$S/with-slurm.yaml"
dry=$(bash slurm/campaign.sh "$S/with-slurm.yaml" --dry-run --set job.results="$S/dry" "${RED[@]}" --slurm cv.cpus_per_task=5 2>&1)
grep -q -- "--ntasks-per-node=3 --cpus-per-task=5 --time=00:30:00 .*cv.sbatch" <<<"$dry" || fail "cv resources: $dry"
grep -q -- "--ntasks-per-node=4 --cpus-per-task=1 --time=00:05:00 .*--mem=2G .*merge.sbatch" <<<"$dry" || fail "merge resources: $dry"
grep -q -- "--ntasks-per-node=1 .*--time=00:30:00 .*--mem=2G .*ingest.sbatch" <<<"$dry" || fail "ingest resources: $dry"
grep -q "launcher srun" <<<"$dry" || fail "slurm.launcher not read: $dry"

# A CNN job: train slice-cnn -> infer -> train patient-cnn between ingest and the cv array, when
# the binary has those stages (a stand-in that only lists them: --dry-run runs nothing) ...
{ cat "$JOB"; printf '%s\n' 'slice_cnn: {model: configs/models/slice_cnn.yaml}' \
    'patient_cnn: {model: configs/models/patient_cnn.yaml}'; } >"$S/with-cnn.yaml"
printf '#!/bin/sh\nprintf "commands:\\n  ingest  x\\n  train   x\\n  infer   x\\n  cv      x\\n  merge   x\\n"\n' >"$S/fake-hust19"
chmod +x "$S/fake-hust19"
dry=$(HUST19=$S/fake-hust19 bash slurm/campaign.sh "$S/with-cnn.yaml" --dry-run --set job.results="$S/dry" 2>&1)
order=$(grep -o '[a-z]*\.sbatch [a-z-]*' <<<"$dry" | tr '\n' ' ')
[ "$order" = "ingest.sbatch  train.sbatch slice-cnn infer.sbatch  train.sbatch patient-cnn cv.sbatch  merge.sbatch  " ] ||
    fail "CNN chain: '$order'"
grep -q -- "--dependency=afterok:DRY-patient .*cv.sbatch" <<<"$dry" || fail "cv does not wait for the CNNs: $dry"
# ... and skipped with a warning when it has not (as hust19 run does).
dry=$(bash slurm/campaign.sh "$S/with-cnn.yaml" --dry-run --set job.results="$S/dry" 2>&1)
if "$HUST19" --help | grep -q '^  train '; then :; else
    grep -q "no train/infer stage; skipped" <<<"$dry" || fail "no warning for the missing CNN stages: $dry"
    ! grep -q "train.sbatch" <<<"$dry" || fail "a training job without a training stage: $dry"
fi

for launcher in mpirun srun; do
    R=$S/campaign-$launcher
    echo "== campaign with HUST19_LAUNCHER=$launcher"
    bash slurm/campaign.sh "$JOB" --launcher "$launcher" --set job.results="$R" "${RED[@]}" \
        --slurm merge.ntasks_per_node=2 --slurm time=00:20:00 --wait 900 ||
        { tail -n 30 "$R"/ictcf-cf/slurm/*.out >&2 || true; fail "campaign ($launcher) did not complete"; }
    O=$R/ictcf-cf
    L=$O/slurm
    # one array task per repeat, each ran its own repeat with the requested launcher
    for r in 0 1; do
        f=$(ls "$L"/cv-*_"$r".out 2>/dev/null | head -1)
        [ -n "$f" ] || fail "no log of array task $r in $L"
        grep -q -- "--repeat $r" "$f" || fail "array task $r did not run --repeat $r"
        grep -q "launcher=$launcher" "$f" || fail "array task $r did not use $launcher"
        [ -s "$O/repeats/r00$r.h5" ] || fail "no repeats/r00$r.h5"
    done
    grep -q "ntasks=2" "$L"/merge-*.out || fail "merge did not get its 2 tasks"
    grep -q "step done: hust19 report" "$L"/merge-*.out || fail "the merge job did not run the report"
    # the validation ran beside the array; the merge reused its task instead of computing it
    grep -q "step done: hust19 validate" "$L"/validate-*.out || fail "no validate job"
    grep -q "cv: 1 tasks (0 computed, 1 reused" "$L"/merge-*.out || fail "merge recomputed the validation"
    for f in metrics.csv metrics-detail.csv validate.csv validate-detail.csv cv.html report.html; do
        cmp "$D/$f" "$O/$f" || fail "$launcher campaign: $f differs from the direct run"
    done
    h5diff "$D/results.h5" "$O/results.h5" || fail "$launcher campaign: results.h5 differs from the direct run"
done

# An invalid key fails every stage's job-file check: ingest fails, cv and merge are cancelled.
R=$S/campaign-bad
if bash slurm/campaign.sh "$JOB" --set job.results="$R" "${RED[@]}" --set cv.folds=1 --wait 300 >"$S/bad.out" 2>&1; then
    fail "a failing campaign reported success: $(cat "$S/bad.out")"
fi
grep -q "^ingest .*FAILED" "$S/bad.out" || fail "ingest not FAILED: $(cat "$S/bad.out")"
grep -q "^merge .*CANCELLED" "$S/bad.out" || fail "merge not CANCELLED: $(cat "$S/bad.out")"
echo "PASS: campaign (mpirun, srun) == direct mpirun -np 2 run; failures propagate"
