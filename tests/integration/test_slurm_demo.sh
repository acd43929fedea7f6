#!/usr/bin/env bash
# ctest-labels: slow slurm
# it/slurm_demo — the demo campaign WITH its CT stages through slurm/campaign.sh on a real
# (private, single-node) SLURM: synth -> ingest (CF + CT) -> train slice-cnn -> infer -> cv array
# -> merge + stats + report, reduced to a few patients. The campaign's outputs must equal a direct
# `hust19 run` of the same job: metrics, the slice CNN's held-out metrics, the CF statistics and
# report.html byte for byte, the slice scores and results by h5diff. Then USR1 during a training
# job: it checkpoints, exits 75, requeues, resumes and ends with the uninterrupted model.
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
. "$HUST19_SRC/tests/slurm/cluster.sh"
slurm_test_start "$S/slurm"
cd "$HUST19_SRC"
JOB=jobs/demo.yaml
"$HUST19" --help | grep -q '^  train ' || { echo "SKIPPED: this build has no train stage"; exit 77; }
red() { # results root
    echo --set job.results="$1" --set synth.out="$1/demo/synth" --set ct.manifest="$1/demo/synth/manifest.csv" \
        --set ct.labels="$1/demo/synth/slice_labels.csv" --set synth.ct_fraction=0.015 \
        --set synth.slices=24 --set synth.image_size=128 --set synth.labelled_patients=12 \
        --set slice_cnn.max_train_slices=200 --set slice_cnn.epochs=2 --set cv.repeats=2 --set cv.folds=3 \
        --set cv.models=[cf-lr]
}
# shellcheck disable=SC2046
"$HUST19" run "$JOB" $(red "$S/direct") >"$S/direct.log" 2>&1 || { tail -30 "$S/direct.log"; fail "direct run"; }
D=$S/direct/demo
R=$S/campaign
# shellcheck disable=SC2046
bash slurm/campaign.sh "$JOB" $(red "$R") --slurm time=00:20:00 --wait 1200 >"$S/campaign.log" 2>&1 ||
    { cat "$S/campaign.log"; tail -n 30 "$R"/demo/slurm/*.out >&2 || true; fail "campaign did not complete"; }
O=$R/demo
grep -q "^train" "$S/campaign.log" || fail "no training job in the campaign: $(cat "$S/campaign.log")"
grep -q "^infer" "$S/campaign.log" || fail "no inference job in the campaign: $(cat "$S/campaign.log")"
for f in metrics.csv validate.csv slice_cnn_metrics.csv stats.csv report.html; do
    cmp "$D/$f" "$O/$f" || fail "campaign: $f differs from the direct run"
done
# (its attributes name the archive and model paths, which differ between the two result roots)
for ds in /prob /patient /top10; do
    h5diff "$D/slice_scores.h5" "$O/slice_scores.h5" $ds $ds || fail "slice_scores.h5 $ds differs"
done
h5diff "$D/results.h5" "$O/results.h5" || fail "results.h5 differs"

# Preemption during training: USR1 (what --signal=B:USR1@T sends before the time limit) in the
# middle of `hust19 train slice-cnn` -> checkpoint -> exit 75 -> scontrol requeue -> the requeued
# job resumes from the checkpoint and ends with the same model as an uninterrupted training.
T=$S/train-requeue
mkdir -p "$T"
TR=(--set slice_cnn.epochs=10 --set slice_cnn.patience=0 --set slice_cnn.checkpoint="$T/ckpt"
    --set slice_cnn.model_out="$T/model.h5" --set slice_cnn.scores_out="$T/scores.h5")
# shellcheck disable=SC2046
jid=$(HUST19_SLURM_DIR=$HUST19_SRC/slurm sbatch --parsable --nodes=1 --ntasks=2 --time=00:30:00 \
    --output="$T/train.out" slurm/train.sbatch slice-cnn "$JOB" $(red "$R") "${TR[@]}")
jid=${jid%%;*}
for _ in $(seq 1 1200); do
    [ -e "$T/ckpt" ] && break
    [ -n "$(squeue -h -j "$jid" -o %A 2>/dev/null)" ] || fail "training job $jid ended before it could be interrupted: $(cat "$T/train.out")"
    sleep 0.5
done
[ -e "$T/ckpt" ] || fail "no checkpoint after 600 s: $(cat "$T/train.out")"
scancel --signal=USR1 --batch "$jid"
slurm_wait_job "$jid" 900 || fail "training job $jid did not finish"
info=$(scontrol show job "$jid")
grep -q "JobState=COMPLETED" <<<"$info" || fail "training job not COMPLETED: $info $(cat "$T/train.out")"
grep -q "Restarts=1 " <<<"$info" || fail "training job was not requeued exactly once: $info $(cat "$T/train.out")"
grep -q "exited 75 (checkpointed)" "$T/train.out" || fail "training did not checkpoint and exit 75: $(cat "$T/train.out")"
# the uninterrupted reference, one process
# shellcheck disable=SC2046
"$HUST19" train slice-cnn "$JOB" $(red "$R") "${TR[@]}" --set slice_cnn.checkpoint="$T/ckpt-direct" \
    --set slice_cnn.model_out="$T/model-direct.h5" >"$T/direct.out" 2>&1 || fail "direct training: $(cat "$T/direct.out")"
h5diff "$T/model.h5" "$T/model-direct.h5" /params /params || fail "the requeued training ended with another model"
echo "PASS: demo campaign with CT stages through SLURM == direct hust19 run; USR1 during training -> requeue -> same model"
