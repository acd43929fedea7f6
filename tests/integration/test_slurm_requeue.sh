#!/usr/bin/env bash
# ctest-labels: slow slurm
# it/slurm_requeue — preemption on a real (private, single-node) SLURM. The CF cv stage runs as
# one 2-rank batch job (slurm/cv.sbatch). In its middle the test sends
# `scancel --signal=USR1 --batch` (what `#SBATCH --signal=B:USR1@T` does before the time limit);
# the batch script's trap forwards it to the launcher (mpirun or srun), the ranks stop, keep their
# finished tasks and exit 75, the script runs `scontrol requeue`, and the second run
# (SLURM_RESTART_COUNT=1) reuses the saved tasks ("N computed, M reused", M > 0) and completes. The results must equal an uninterrupted
# direct `mpirun -np 2 hust19 cv` run: CSVs and cv.html byte for byte, results.h5 by h5diff.
# Both launchers (mpirun, srun --mpi=pmix) forward the signal; HUST19_REQUEUE_LAUNCHERS=mpirun
# checks one.
# Skips (77) only if the SLURM daemons cannot start here at all.
set -euo pipefail
S=$(mkdir -p "$1" && cd "$1" && pwd)
rm -rf "${S:?}"/*
: "${HUST19:?}" "${HUST19_SRC:?}" "${HUST19_MPIEXEC:?}"
log=
fail() {
    echo "FAIL: $*" >&2
    if [ -n "$log" ] && [ -e "$log" ]; then echo "--- $log" >&2; grep -v "cv tasks:" "$log" >&2 || true; fi
    [ -z "${jid:-}" ] || scontrol show job "$jid" >&2 || true
    exit 1
}

# shellcheck source=tests/slurm/cluster.sh
. "$HUST19_SRC/tests/slurm/cluster.sh"
slurm_test_start "$S/slurm"

cd "$HUST19_SRC"
JOB=jobs/ictcf-cf.yaml
# 2 outcomes x 3 repeats x 4 folds + 1 validation = 25 tasks: long enough to interrupt after a few.
RED=(--set cv.repeats=3 --set cv.folds=4 --set "cv.models=[cf-lr]")
NTASKS=25

for launcher in ${HUST19_REQUEUE_LAUNCHERS:-mpirun srun}; do
    R=$S/slurm-$launcher
    O=$R/ictcf-cf
    echo "== requeue with HUST19_LAUNCHER=$launcher"
    "$HUST19" ingest "$JOB" --set job.results="$R" "${RED[@]}"
    mkdir -p "$O/slurm"
    log=$O/slurm/cv.out
    jid=$(HUST19_LAUNCHER=$launcher HUST19_SLURM_DIR=$HUST19_SRC/slurm \
        sbatch --parsable --nodes=1 --ntasks=2 --time=00:30:00 --output="$log" \
        slurm/cv.sbatch "$JOB" --set job.results="$R" "${RED[@]}")
    jid=${jid%%;*}
    # Interrupt once a few tasks are saved (poll, no fixed sleep; generous for a loaded machine).
    for _ in $(seq 1 1200); do
        n=$( (find "$O/tasks" -name '*.bin' 2>/dev/null || true) | wc -l)
        [ "$n" -ge 3 ] && break
        [ -n "$(squeue -h -j "$jid" -o %A 2>/dev/null)" ] || fail "job $jid ended before it could be interrupted: $(cat "$log")"
        sleep 0.5
    done
    [ "$n" -ge 3 ] || fail "no cv task saved after 600 s: $(cat "$log")"
    scancel --signal=USR1 --batch "$jid"
    slurm_wait_job "$jid" 900 || fail "job $jid did not finish"
    cat "$log"
    info=$(scontrol show job "$jid")
    grep -q "JobState=COMPLETED" <<<"$info" || fail "job $jid not COMPLETED: $info"
    grep -q "Restarts=1 " <<<"$info" || fail "job $jid was not requeued exactly once: $info"
    grep -q "ExitCode=0:0" <<<"$info" || fail "job $jid final exit code is not 0: $info"
    grep -q "SIGUSR1: forwarding to the step" "$log" || fail "the batch trap did not forward USR1"
    grep -q "stop requested" "$log" || fail "hust19 did not see the stop request"
    grep -q "hust19 cv exited 75 (checkpointed): scontrol requeue $jid" "$log" || fail "no exit 75 + requeue"
    grep -q "restart=1" "$log" || fail "the second run did not see SLURM_RESTART_COUNT=1"
    # The second run's summary: "cv: 41 tasks (N computed, M reused ...)".
    line=$(grep -o "cv: $NTASKS tasks ([0-9]* computed, [0-9]* reused" "$log" | tail -1)
    [ -n "$line" ] || fail "no task summary in the log"
    computed=$(sed 's/.*(\([0-9]*\) computed.*/\1/' <<<"$line")
    reused=$(sed 's/.* \([0-9]*\) reused.*/\1/' <<<"$line")
    echo "second run: $computed computed, $reused reused"
    [ "$reused" -gt 0 ] && [ "$computed" -lt "$NTASKS" ] && [ $((computed + reused)) = "$NTASKS" ] ||
        fail "the requeued run did not resume: $line"
done

# The uninterrupted reference.
"$HUST19" ingest "$JOB" --set job.results="$S/direct" "${RED[@]}"
"$HUST19_MPIEXEC" -np 2 --oversubscribe "$HUST19" cv "$JOB" --set job.results="$S/direct" "${RED[@]}"
D=$S/direct/ictcf-cf
for launcher in ${HUST19_REQUEUE_LAUNCHERS:-mpirun srun}; do
    O=$S/slurm-$launcher/ictcf-cf
    for f in metrics.csv metrics-detail.csv validate.csv validate-detail.csv cv.html; do
        cmp "$D/$f" "$O/$f" || fail "$launcher: $f after the requeue differs from the uninterrupted run"
    done
    h5diff "$D/results.h5" "$O/results.h5" || fail "$launcher: results.h5 after the requeue differs"
done
echo "PASS: USR1 -> exit 75 -> requeue -> resume -> results identical to an uninterrupted run"
