#!/usr/bin/env bash
# it/slurm_lib — slurm/lib.sh without a SLURM: the job-file reader campaign.sh relies on, and the
# step protocol of every sbatch script (exit codes passed on; USR1 forwarded to the running step;
# a signal between steps checkpoints before the next step instead of killing the script). The
# step is a stand-in for hust19 (a shell script), launched with HUST19_LAUNCHER=none; SLURM_JOB_ID
# is unset, so exit 75 means "re-run to resume" instead of `scontrol requeue`
# (it/slurm_requeue covers that part on a real SLURM).
set -euo pipefail
S=$(mkdir -p "$1" && cd "$1" && pwd)
rm -rf "${S:?}"/*
: "${HUST19_SRC:?}"
fail() { echo "FAIL: $*" >&2; exit 1; }
unset SLURM_JOB_ID SLURM_ARRAY_TASK_ID SLURM_CPUS_PER_TASK SLURM_NTASKS
. "$HUST19_SRC/slurm/lib.sh"

# ---- h19_yaml_get -----------------------------------------------------------------------------
cat >"$S/job.yaml" <<'EOF'
# a comment
job:
  name: "my job"          # quoted, with a comment
  seed: 7
cv:
  repeats: 3
  models: [cf-lr, cf-dnn]
plr: {C: 1.0, inner_folds: 2}
slurm:
  time: '00:10:00'
  cv:
    ntasks_per_node: 4
  train: {nodes: 2, opts: {x: "a, b"}}
list:
  - item: 1
empty:
EOF
check() { # key expected
    local got
    got=$(h19_yaml_get "$S/job.yaml" "$1") || fail "h19_yaml_get $1: not found"
    [ "$got" = "$2" ] || fail "h19_yaml_get $1: got '$got', want '$2'"
}
check job.name "my job"
check job.seed 7
check cv.repeats 3
check cv.models "[cf-lr, cf-dnn]"
check plr.inner_folds 2
check plr.C 1.0
check slurm.time 00:10:00
check slurm.cv.ntasks_per_node 4
check slurm.train.nodes 2
check slurm.train.opts.x "a, b"
check empty ""
for k in nothere job.nothere slurm.cv.nodes plr.C.x slurm.train.opts.y; do
    ! h19_yaml_get "$S/job.yaml" "$k" >/dev/null || fail "h19_yaml_get $k: found a key that is not there"
done
[ "$(h19_yaml_get "$HUST19_SRC/jobs/ictcf-cf.yaml" cv.repeats)" = 10 ] || fail "ictcf-cf.yaml cv.repeats"

# ---- the step protocol ------------------------------------------------------------------------
# Stand-in hust19: `fake CODE` exits CODE; `fake wait` writes a ready file, then waits for USR1
# and exits 75 as hust19 does after checkpointing.
cat >"$S/fake" <<EOF
#!/usr/bin/env bash
echo "\$\$ \$*" >>"$S/calls"
case "\$1" in
wait) trap 'echo got-USR1 >>"$S/calls"; exit 75' USR1
      touch "$S/ready"
      for _ in \$(seq 1 600); do sleep 0.1; done
      exit 9 ;;
*) exit "\$1" ;;
esac
EOF
chmod +x "$S/fake"
# A batch script as the .sbatch files are: setup, then steps.
cat >"$S/script.sh" <<EOF
set -uo pipefail
. "$HUST19_SRC/slurm/lib.sh"
export HUST19=$S/fake HUST19_LAUNCHER=none
h19_stage_setup
for step in "\$@"; do
    case "\$step" in
    pending) _h19_forward USR1 ;;  # as if USR1 came between two steps
    *) h19_run "\$step" ;;
    esac
done
echo "all steps done" >>"$S/calls"
EOF
run() { : >"$S/calls"; rc=0; bash "$S/script.sh" "$@" >"$S/out" 2>&1 || rc=$?; }

run 0 0
[ "$rc" = 0 ] && grep -q "all steps done" "$S/calls" || fail "two good steps: rc $rc, $(cat "$S/out")"
[ "$(grep -c '^[0-9]* [0-9]' "$S/calls")" = 2 ] || fail "two good steps: not both ran"
run 0 3 0
[ "$rc" = 3 ] || fail "a failing step: exit $rc, want 3"
[ "$(grep -c '^[0-9]* [0-9]' "$S/calls")" = 2 ] || fail "a step ran after a failure"
run 75 0
[ "$rc" = 75 ] || fail "a checkpointed step: exit $rc, want 75"
grep -q "hust19 75 exited 75 (checkpointed): re-run to resume" "$S/out" || fail "no resume message: $(cat "$S/out")"
run 0 pending 0
[ "$rc" = 75 ] || fail "USR1 between steps: exit $rc, want 75"
[ "$(grep -c '^[0-9]* [0-9]' "$S/calls")" = 1 ] || fail "USR1 between steps: the next step still ran"
grep -q "SIGUSR1 before hust19 0" "$S/out" || fail "USR1 between steps: $(cat "$S/out")"

# USR1 to the batch shell while the step runs: forwarded, the step exits 75, so does the script.
: >"$S/calls"
rm -f "$S/ready"
bash "$S/script.sh" wait 0 >"$S/out" 2>&1 &
pid=$!
for _ in $(seq 1 600); do [ -e "$S/ready" ] && break; sleep 0.1; done
[ -e "$S/ready" ] || fail "the stand-in step never started: $(cat "$S/out")"
kill -USR1 "$pid"
rc=0
wait "$pid" || rc=$?
[ "$rc" = 75 ] || fail "forwarded USR1: script exit $rc, want 75: $(cat "$S/out")"
grep -q "got-USR1" "$S/calls" || fail "the step did not receive USR1"
grep -q "SIGUSR1: forwarding to the step" "$S/out" || fail "no forwarding log"
[ "$(grep -c '^[0-9]* [0-9a-z]' "$S/calls")" = 1 ] || fail "a step ran after the checkpoint"

# Threads follow SLURM_CPUS_PER_TASK.
out=$(SLURM_CPUS_PER_TASK=3 bash -c ". '$HUST19_SRC/slurm/lib.sh'; HUST19=$S/fake h19_stage_setup 2>/dev/null; echo \$HUST19_THREADS \$OMP_NUM_THREADS")
[ "$out" = "3 3" ] || fail "threads: '$out', want '3 3'"
echo "PASS: lib.sh reader and step protocol"
