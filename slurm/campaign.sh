#!/usr/bin/env bash
# campaign.sh — submit a whole hust19 job to SLURM as a chain of dependent batch jobs:
#
#   [synth] ─► ingest ─► [train slice-cnn ─► infer ─► [train patient-cnn]]
#          ─► cv as a job array, one task per repeat (--array=0-(R-1)%P, hust19 cv JOB --repeat r)
#             and beside it, if the job has validate:, hust19 validate JOB (the cohort validation)
#          ─► merge and report (hust19 merge JOB: results.h5, metrics.csv, cv.html, reusing the
#             validation tasks; then hust19 predict JOB if the job has predict:, hust19 stats JOB if
#             it has stats:, then hust19 report)
# Bracketed stages run only when the job configures them, as `hust19 run` decides: synth if it has
# synth:, the CNN stages if it has slice_cnn: (skipped with a warning if this build has none),
# patient-cnn if it also has patient_cnn:. A ct: section alone is ingest's business.
#
# usage: slurm/campaign.sh JOB.yaml [--set key=value]... [--slurm [stage.]key=value]...
#                          [--launcher mpirun|srun|none] [--wait [SECONDS]] [--dry-run]
#
#   --set k=v        passed to every hust19 stage (as `hust19 ... --set k=v`); also read here for
#                    job.name, job.results and cv.repeats. `--set slurm.k=v` is the same as --slurm.
#   --slurm k=v      a resource setting (below) for every stage, or stage.k=v for one stage
#                    (stages: synth, ingest, train, infer, patient, cv, validate, merge)
#   --launcher L     HUST19_LAUNCHER for every stage (default: slurm.launcher, else mpirun)
#   --wait [S]       poll squeue every 0.5 s until every job has left the queue (at most S s,
#                    default 86400) and exit with its state: 0 if every job COMPLETED
#   --dry-run        print the sbatch commands, submit nothing
#
# Resource settings: the job file's slurm: section (stage sub-maps override the top level),
# with --slurm / --set slurm.* on top (a stage key beats a top-level one; last wins), then the
# defaults:
#   nodes: 1   ntasks_per_node: 1   cpus_per_task: 1   time: "01:00:00"   mem: (SLURM's default)
#   partition, account, qos, constraint: (none)   signal_seconds: 120 (USR1 that long before the
#   time limit)   array_parallel: 4 (cv array tasks at once)   launcher: mpirun
# For example:
#   slurm:
#     launcher: srun
#     time: "02:00:00"
#     cv: {ntasks_per_node: 8, cpus_per_task: 4}     # block or one-line flow maps
#
# Environment: HUST19 (the binary; default ./build/bin/hust19 or hust19 on PATH). Job logs go to
# <results>/<job>/slurm/<stage>-<jobid>.out (array: cv-<array>_<task>.out), appended across requeues;
# the job ids are listed in <results>/<job>/slurm/campaign.jobs.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=slurm/lib.sh
. "$HERE/lib.sh"

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }

job=
sets=()
slurm_kv=()
launcher=
wait_s=
dry=0
while [ $# -gt 0 ]; do
    case "$1" in
    -h | --help) usage; exit 0 ;;
    --set) [ $# -ge 2 ] || { echo "campaign.sh: --set needs key=value" >&2; exit 2; }
        case "$2" in slurm.*) slurm_kv+=("${2#slurm.}") ;; *) sets+=("$2") ;; esac
        shift 2 ;;
    --set=*) v=${1#--set=}
        case "$v" in slurm.*) slurm_kv+=("${v#slurm.}") ;; *) sets+=("$v") ;; esac
        shift ;;
    --slurm) [ $# -ge 2 ] || { echo "campaign.sh: --slurm needs key=value" >&2; exit 2; }
        slurm_kv+=("$2"); shift 2 ;;
    --launcher) [ $# -ge 2 ] || { echo "campaign.sh: --launcher needs a value" >&2; exit 2; }
        launcher=$2; shift 2 ;;
    --wait) if [ $# -ge 2 ] && [[ $2 =~ ^[0-9]+$ ]]; then wait_s=$2; shift 2; else wait_s=86400; shift; fi ;;
    --dry-run) dry=1; shift ;;
    -*) echo "campaign.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) [ -z "$job" ] || { echo "campaign.sh: one job file only" >&2; exit 2; }
        job=$1; shift ;;
    esac
done
[ -n "$job" ] || { usage >&2; exit 2; }
[ -r "$job" ] || { echo "campaign.sh: cannot read job file $job" >&2; exit 2; }

# A job key: the last --set for it, else the file's value, else $2.
job_key() {
    local k=$1 v found=0 s
    for s in ${sets[@]+"${sets[@]}"}; do
        if [ "${s%%=*}" = "$k" ]; then v=${s#*=}; found=1; fi
    done
    if [ $found = 0 ]; then v=$(h19_yaml_get "$job" "$k") || v=${2-}; fi
    [ -n "$v" ] || v=${2-}
    printf '%s' "$v"
}
has_section() { h19_yaml_get "$job" "$1" >/dev/null; }

# A resource setting for a stage: --slurm stage.k, --slurm k, slurm.stage.k, slurm.k, default.
res() { # stage key default
    local st=$1 k=$2 vs= vg= s
    for s in ${slurm_kv[@]+"${slurm_kv[@]}"}; do
        [ "${s%%=*}" = "$st.$k" ] && vs=${s#*=}
        [ "${s%%=*}" = "$k" ] && vg=${s#*=}
    done
    [ -n "$vs" ] || vs=$(h19_yaml_get "$job" "slurm.$st.$k") || vs=
    [ -n "$vs" ] || vs=$vg
    [ -n "$vs" ] || vs=$(h19_yaml_get "$job" "slurm.$k") || vs=
    printf '%s' "${vs:-$3}"
}

name=$(job_key job.name)
root=$(job_key job.results results)
[ -n "$name" ] || { echo "campaign.sh: $job has no job.name" >&2; exit 2; }
repeats=$(job_key cv.repeats 10)
[[ $repeats =~ ^[0-9]+$ ]] && [ "$repeats" -ge 1 ] || { echo "campaign.sh: cv.repeats '$repeats' is not a count" >&2; exit 2; }

if [ -z "${HUST19:-}" ]; then
    if [ -x "$PWD/build/bin/hust19" ]; then HUST19=$PWD/build/bin/hust19; else HUST19=$(command -v hust19 || true); fi
fi
[ -n "$HUST19" ] && [ -x "$HUST19" ] || { echo "campaign.sh: no hust19 binary (set HUST19)" >&2; exit 2; }
HUST19=$(cd "$(dirname "$HUST19")" && pwd)/$(basename "$HUST19")
export HUST19 HUST19_SLURM_DIR=$HERE
HUST19_LAUNCHER=${launcher:-$(res all launcher mpirun)}
export HUST19_LAUNCHER

# The subcommands this build has (hust19 --help lists exactly the built ones).
commands=$("$HUST19" --help | awk '/^commands:/ {on = 1; next} on && /^  [a-z]/ {print $1}')
have() { grep -qx "$1" <<<"$commands"; }
for c in ingest cv merge; do
    have "$c" || { echo "campaign.sh: this hust19 has no '$c' command" >&2; exit 2; }
done
with_synth=0
if has_section synth; then
    with_synth=1
    have synth || { echo "campaign.sh: $job has a synth section but this hust19 has no 'synth' command" >&2; exit 2; }
fi
with_ct=0
if has_section slice_cnn; then
    if have train && have infer; then
        with_ct=1
    else
        # as `hust19 run` does: the job asks for the CNNs, this build has none; the CF stages run
        echo "campaign.sh: warning: $job configures slice_cnn but this hust19 has no train/infer stage; skipped" >&2
    fi
fi

logdir=$root/$name/slurm
if [ $dry = 0 ]; then mkdir -p "$logdir" && logdir=$(cd "$logdir" && pwd); fi
jobs_file=$logdir/campaign.jobs
[ $dry = 1 ] || : >"$jobs_file"
hust_sets=()
for s in ${sets[@]+"${sets[@]}"}; do hust_sets+=(--set "$s"); done

# submit STAGE DEPENDENCY SCRIPT [sbatch options...] -- [script args...]; prints the job id.
submit() {
    local st=$1 dep=$2 script=$3
    shift 3
    local extra=() args=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do extra+=("$1"); shift; done
    [ $# -gt 0 ] && shift
    args=("$@")
    local opt=(--parsable --chdir="$PWD" --job-name="h19-$st-$name"
        --nodes="$(res "$st" nodes 1)" --ntasks-per-node="$(res "$st" ntasks_per_node 1)"
        --cpus-per-task="$(res "$st" cpus_per_task 1)" --time="$(res "$st" time 01:00:00)"
        --signal="B:USR1@$(res "$st" signal_seconds 120)" --requeue --open-mode=append)
    local v k
    for k in mem partition account qos constraint; do
        v=$(res "$st" "$k" "")
        [ -z "$v" ] || opt+=("--$k=$v")
    done
    # An upstream failure cancels the dependants instead of leaving them pending for ever.
    [ -z "$dep" ] || opt+=(--dependency="afterok:$dep" --kill-on-invalid-dep=yes)
    if [ ${#extra[@]} -eq 0 ]; then opt+=(--output="$logdir/$st-%j.out"); else opt+=("${extra[@]}"); fi
    local cmd=(sbatch "${opt[@]}" "$HERE/$script" "${args[@]}")
    if [ $dry = 1 ]; then
        printf '%q ' "${cmd[@]}" >&2
        echo >&2
        echo "DRY-$st"
        return 0
    fi
    local out
    out=$("${cmd[@]}") || { echo "campaign.sh: sbatch failed for stage $st" >&2; exit 1; }
    out=${out%%;*} # "jobid;cluster" on multi-cluster set-ups
    echo "$st $out" >>"$jobs_file"
    echo "$out"
}

echo "job $name: results in $root/$name, launcher $HUST19_LAUNCHER, $repeats repeats"
last=
if [ $with_synth = 1 ]; then
    id_synth=$(submit synth "" synth.sbatch -- "$job" ${hust_sets[@]+"${hust_sets[@]}"})
    echo "synth   $id_synth"
    last=$id_synth
fi
id_ingest=$(submit ingest "$last" ingest.sbatch -- "$job" ${hust_sets[@]+"${hust_sets[@]}"})
echo "ingest  $id_ingest"
last=$id_ingest
if [ $with_ct = 1 ]; then
    id_train=$(submit train "$last" train.sbatch -- slice-cnn "$job" ${hust_sets[@]+"${hust_sets[@]}"})
    echo "train   $id_train  (slice-cnn)"
    id_infer=$(submit infer "$id_train" infer.sbatch -- "$job" ${hust_sets[@]+"${hust_sets[@]}"})
    echo "infer   $id_infer"
    last=$id_infer
    if has_section patient_cnn; then
        id_pat=$(submit patient "$last" train.sbatch -- patient-cnn "$job" ${hust_sets[@]+"${hust_sets[@]}"})
        echo "patient $id_pat  (patient-cnn)"
        last=$id_pat
    fi
fi
par=$(res cv array_parallel 4)
id_cv=$(submit cv "$last" cv.sbatch --array="0-$((repeats - 1))%$par" --output="$logdir/cv-%A_%a.out" \
    -- "$job" ${hust_sets[@]+"${hust_sets[@]}"})
echo "cv      $id_cv  (array 0-$((repeats - 1)), $par at once)"
# The cohort validation beside the array (merge reuses its saved tasks instead of running them
# after the array: no serial tail).
deps_merge=$id_cv
if has_section validate && have validate; then
    id_val=$(submit validate "$last" validate.sbatch -- "$job" ${hust_sets[@]+"${hust_sets[@]}"})
    echo "validate $id_val  (beside the array)"
    deps_merge=$id_cv:$id_val
fi
post=()
post_names=
if has_section predict && have predict; then post+=(--then predict); post_names+=" predict"; fi
if has_section stats && have stats; then post+=(--then stats); post_names+=" stats"; fi
if have report; then post+=(--then report); post_names+=" report"; fi
id_merge=$(submit merge "$deps_merge" merge.sbatch -- ${post[@]+"${post[@]}"} "$job" ${hust_sets[@]+"${hust_sets[@]}"})
echo "merge   $id_merge  (then:${post_names:- nothing})"
[ $dry = 1 ] && exit 0
echo "logs in $logdir/; jobs in $jobs_file"

[ -n "$wait_s" ] || exit 0
# Wait for the last job, then report every job's final state (scontrol keeps a finished job for
# MinJobAge seconds; without accounting there is no sacct).
all_ids=$(awk '{print $2}' "$jobs_file")
deadline=$(($(date +%s) + wait_s))
while [ -n "$(squeue -h -j "$(tr '\n' ',' <<<"$all_ids" | sed 's/,$//')" -o %A 2>/dev/null)" ]; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
        echo "campaign.sh: still running after ${wait_s}s" >&2
        exit 1
    fi
    sleep 0.5
done
bad=0
while read -r st id; do
    states=$(scontrol show job "$id" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | sort | uniq -c |
        awk '{sub("JobState=", "", $2); printf "%s%s", (NR > 1 ? "," : ""), $2 ($1 > 1 ? "x" $1 : "")}') || true
    echo "$st $id: ${states:-unknown}"
    case "$states" in COMPLETED | COMPLETEDx*) ;; *) bad=1 ;; esac
done <"$jobs_file"
exit $bad
