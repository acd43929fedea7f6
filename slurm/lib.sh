# lib.sh — what every hust19 sbatch script shares (sourced; docs/slurm.md, docs/cluster.md).
#
#   h19_stage_setup            threads per rank, the binary, the launcher; logs the job's identity
#   h19_run ARGS...            run `hust19 ARGS...` as the job's MPI step, forwarding the
#                              preemption signal to it; exit code 75 -> scontrol requeue
#   h19_yaml_get FILE KEY      a scalar of a job file (`a.b.c`), for campaign.sh
#
# Settings (environment; campaign.sh sets them):
#   HUST19            the hust19 binary (default: hust19 on PATH, else ./build/bin/hust19)
#   HUST19_LAUNCHER   mpirun (default) | srun | none
#                       mpirun  Open MPI's mpirun inside the allocation (-np $SLURM_NTASKS)
#                       srun    srun --mpi=pmix (Debian's Open MPI has PMIx but no PMI-1/PMI-2:
#                               plain srun and --mpi=pmi2 fail with "OMPI was not built with
#                               SLURM's PMI support"); --cpus-per-task is repeated for the step
#                               because srun >= 22.05 does not inherit it from sbatch
#                       none    one process, no launcher (a one-task job)
#   HUST19_MPIRUN_ARGS  extra mpirun options (default: --bind-to none, so a rank's BLAS threads
#                       may use every CPU SLURM gave it)
#   HUST19_SRUN_ARGS    extra srun options
#   HUST19_NO_REQUEUE=1 on exit 75 do not requeue (leave it to the user)
#
# Signals: sbatch --signal=B:USR1@T sends USR1 to this batch shell only, T seconds before the time
# limit (up to 60 s early). Bash runs a trap only when the foreground command returns, so the step
# runs in the background and the script waits on it; the trap passes USR1 on to the launcher, which
# forwards it to every rank (mpirun and srun both forward USR1). hust19 stops at its next training
# step, keeps the tasks it has finished (an unfinished one is dropped and redone), and every rank
# exits 75 (docs/cv.md).

H19_EXIT_REQUEUE=75

# Log lines name the job as squeue does: JOBID, or ARRAYID_TASK for an array task.
h19_log() {
    local id=${SLURM_JOB_ID:-nojob}
    [ -z "${SLURM_ARRAY_TASK_ID:-}" ] || id=${SLURM_ARRAY_JOB_ID:-$id}_$SLURM_ARRAY_TASK_ID
    printf '[slurm %s %s] %s\n' "$id" "$(date -u +%H:%M:%S)" "$*" >&2
}

h19_stage_setup() {
    # One BLAS/OpenMP thread per CPU of the task: SLURM_CPUS_PER_TASK is set only when
    # --cpus-per-task was given. hust19 reads HUST19_THREADS first (dist_choose_blas_threads).
    local c=${SLURM_CPUS_PER_TASK:-1}
    export HUST19_THREADS=$c OMP_NUM_THREADS=$c
    if [ -z "${HUST19:-}" ]; then
        if command -v hust19 >/dev/null; then HUST19=$(command -v hust19); else HUST19=$PWD/build/bin/hust19; fi
    fi
    export HUST19
    [ -x "$HUST19" ] || { h19_log "hust19 binary '$HUST19' not found (set HUST19)"; exit 1; }
    HUST19_LAUNCHER=${HUST19_LAUNCHER:-mpirun}
    case "$HUST19_LAUNCHER" in
    mpirun | srun | none) ;;
    *) h19_log "HUST19_LAUNCHER must be mpirun, srun or none (got '$HUST19_LAUNCHER')"; exit 2 ;;
    esac
    trap '_h19_forward USR1' USR1
    trap '_h19_forward TERM' TERM
    h19_log "job ${SLURM_JOB_NAME:-?} on ${SLURM_JOB_NODELIST:-?}: ntasks=${SLURM_NTASKS:-1}" \
        "cpus/task=$c launcher=$HUST19_LAUNCHER restart=${SLURM_RESTART_COUNT:-0}"
}

# The launcher prefix for one MPI step over the whole allocation.
h19_launcher_cmd() {
    local n=${SLURM_NTASKS:-1} c=${SLURM_CPUS_PER_TASK:-1}
    case "$HUST19_LAUNCHER" in
    mpirun)
        # mpirun reads the allocation from SLURM (nodes, slots); -np makes the world size explicit
        # so dist_check_slurm() can compare it with SLURM_NTASKS.
        # shellcheck disable=SC2206
        H19_CMD=(mpirun -np "$n" ${HUST19_MPIRUN_ARGS:---bind-to none}) ;;
    srun)
        # shellcheck disable=SC2206
        H19_CMD=(srun --mpi=pmix --ntasks="$n" --cpus-per-task="$c" --kill-on-bad-exit=0 ${HUST19_SRUN_ARGS:-}) ;;
    none)
        H19_CMD=() ;;
    esac
}

_h19_step_pid=
_h19_signalled=0
_h19_pending=
# The trap: pass the signal to the running step; between steps (or before the first) remember it,
# and the next h19_run checkpoints at once instead of starting (bash's default for USR1 would kill
# the script, and with it the requeue).
_h19_forward() {
    _h19_signalled=1
    if [ -n "$_h19_step_pid" ] && kill -0 "$_h19_step_pid" 2>/dev/null; then
        h19_log "SIG$1: forwarding to the step (pid $_h19_step_pid); it checkpoints and exits $H19_EXIT_REQUEUE"
        kill -s "$1" "$_h19_step_pid" 2>/dev/null
    else
        h19_log "SIG$1 between steps: requeue before the next one"
        _h19_pending=$1
    fi
}

_h19_requeue() { # rc what
    if [ -n "${SLURM_JOB_ID:-}" ] && [ "${HUST19_NO_REQUEUE:-0}" != 1 ]; then
        h19_log "$2 exited $1 (checkpointed): scontrol requeue $SLURM_JOB_ID"
        if scontrol requeue "$SLURM_JOB_ID"; then
            h19_log "requeued; the next run resumes from the checkpoint"
        else
            h19_log "scontrol requeue failed: resubmit this script to resume"
        fi
    else
        h19_log "$2 exited $1 (checkpointed): re-run to resume"
    fi
    exit "$1"
}

# Run hust19 as the step; returns only on success (exit 0); otherwise exits the script with the
# step's code, after `scontrol requeue` when that code is 75.
h19_run() {
    h19_launcher_cmd
    local rc
    trap '_h19_forward USR1' USR1
    trap '_h19_forward TERM' TERM
    [ -z "$_h19_pending" ] || _h19_requeue "$H19_EXIT_REQUEUE" "the job (SIG$_h19_pending before hust19 $1)"
    h19_log "step: ${H19_CMD[*]} $HUST19 $*"
    "${H19_CMD[@]}" "$HUST19" "$@" &
    _h19_step_pid=$!
    # A trap interrupts `wait` (status > 128) while the step runs on: wait again until the step
    # itself has ended; bash keeps the exit status of a finished background job for `wait PID`.
    while :; do
        _h19_signalled=0
        wait "$_h19_step_pid"
        rc=$?
        [ "$_h19_signalled" = 1 ] || break
    done
    _h19_step_pid=
    if [ "$rc" = 0 ]; then
        h19_log "step done: hust19 $1"
        return 0
    fi
    [ "$rc" != "$H19_EXIT_REQUEUE" ] || _h19_requeue "$rc" "hust19 $1"
    h19_log "hust19 $1 failed with exit code $rc"
    exit "$rc"
}

# ---- a tiny reader for job files ------------------------------------------------------------------
# h19_yaml_get FILE a.b.c prints the scalar at that path (quotes and trailing comments removed; a
# flow list like [x, y] is printed as written), or nothing; exit 0 if the key exists. Block maps
# and one-line flow maps (`plr: {C: 1.0, inner_folds: 2}`) are both followed. Enough for the keys
# campaign.sh reads (job.name, job.results, cv.repeats, slurm.*, which sections exist); hust19
# itself parses the file with libyaml.
h19_yaml_get() {
    awk -v want="$2" '
    function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t]+$/, "", s); return s }
    function unquote(s) {
        s = trim(s)
        if (s ~ /^".*"$/ || s ~ /^'\''.*'\''$/) s = substr(s, 2, length(s) - 2)
        return s
    }
    function strip(s) {
        s = trim(s)
        if (s ~ /^"/) { s = substr(s, 2); sub(/".*$/, "", s); return s }
        if (s ~ /^'\''/) { s = substr(s, 2); sub(/'\''.*$/, "", s); return s }
        sub(/[ \t]+#.*$/, "", s); return trim(s)
    }
    # The value of key (a.b) in a flow map "{k: v, ...}", or the string "\001" if absent.
    function flowget(m, key,    body, i, c, depth, q, item, n, items, k, v, head, rest, j) {
        m = trim(m); sub(/[ \t]+#[^}\]]*$/, "", m); m = trim(m)
        if (m !~ /^\{.*\}$/) return "\001"
        body = substr(m, 2, length(m) - 2); n = 0; depth = 0; q = ""; item = ""
        for (i = 1; i <= length(body); i++) {
            c = substr(body, i, 1)
            if (q != "") { if (c == q) q = ""; item = item c; continue }
            if (c == "\"" || c == "'\''") q = c
            else if (c == "{" || c == "[") depth++
            else if (c == "}" || c == "]") depth--
            else if (c == "," && depth == 0) { items[++n] = item; item = ""; continue }
            item = item c
        }
        if (trim(item) != "") items[++n] = item
        head = key; rest = ""
        if ((j = index(key, ".")) > 0) { head = substr(key, 1, j - 1); rest = substr(key, j + 1) }
        for (i = 1; i <= n; i++) {
            if (!match(items[i], /:([ \t]|$)/)) continue
            k = unquote(substr(items[i], 1, RSTART - 1)); v = substr(items[i], RSTART + 1)
            if (k != head) continue
            if (rest == "") return unquote(v)
            return flowget(v, rest)
        }
        return "\001"
    }
    /^[ \t]*(#|$)/ { next }
    /^[ \t]*- / { next }
    {
        line = $0
        match(line, /^ */); ind = RLENGTH
        key = substr(line, ind + 1)
        if (key !~ /^[^:]+:([ \t]|$)/) next
        val = key; sub(/^[^:]+:/, "", val)
        sub(/:.*$/, "", key); key = unquote(key)
        while (depth > 0 && ind <= indent[depth]) depth--
        depth++; indent[depth] = ind; name[depth] = key
        path = name[1]; for (i = 2; i <= depth; i++) path = path "." name[i]
        if (path == want) { print strip(val); found = 1; exit }
        if (index(want, path ".") == 1 && trim(val) ~ /^\{/) {
            r = flowget(val, substr(want, length(path) + 2))
            if (r != "\001") { print r; found = 1; exit }
        }
    }
    END { exit found ? 0 : 1 }' "$1"
}
