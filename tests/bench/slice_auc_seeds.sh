#!/bin/bash
# slice_auc_seeds.sh [BUILD] [OUT] [SEED ...] — the slice CNN's held-out AUCs of the demo job across seeds
# (docs/training.md): for each job seed, hust19 synth -> ingest -> train slice-cnn of jobs/demo.yaml into
# OUT/s<SEED> (each seed draws its own archive and split), then prints the held-out AUC per class.
# Extra settings: SETS="--set slice_cnn.model=... --set synth.ct_fraction=..." in the environment.
#   bash tests/bench/slice_auc_seeds.sh build /tmp/slice-seeds 2020 7 11
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd); OUT=${2:-/tmp/slice-seeds}; shift 2 || true
SEEDS=("$@"); [ ${#SEEDS[@]} -gt 0 ] || SEEDS=(2020 7 11)
cd "$(dirname "$0")/../.."
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$OUT"
read -r -a extra <<< "${SETS:-}"
for s in "${SEEDS[@]}"; do
    O="$OUT/s$s"
    S=(--set job.name="s$s" --set job.results="$OUT" --set job.seed="$s" --set synth.out="$O/synth"
       --set ct.manifest="$O/synth/manifest.csv" --set ct.labels="$O/synth/slice_labels.csv" "${extra[@]}")
    for st in synth ingest "train slice-cnn"; do
        t0=$(date +%s)
        # shellcheck disable=SC2086
        "$BUILD/bin/hust19" $st jobs/demo.yaml "${S[@]}" > "$O.${st// /_}.log" 2>&1 || { tail "$O.${st// /_}.log"; exit 1; }
        echo "seed $s: $st $(( $(date +%s) - t0 )) s"
    done
    echo "seed $s held-out AUC: $(grep '^test_auc_ovr' "$O/slice_cnn_metrics.csv" | cut -d, -f2,4 | tr '\n' ' ')"
done
