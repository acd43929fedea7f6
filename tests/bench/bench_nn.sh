#!/usr/bin/env bash
# bench_nn.sh — slice CNN throughput (configs/models/slice_cnn.yaml, 1x200x200, batch 32, 2 BLAS
# threads): training and inference slices/s for hust19 and for the same net in PyTorch, in the same
# run (the machine's load affects both; compare the ratio), GFLOP/s per layer and peak RSS of
# hust19. Not run by CTest (timings are never asserted).
#   bash tests/bench/bench_nn.sh [BUILD_DIR] [TRAIN_BATCHES] [INFER_SLICES]
set -euo pipefail
src="$(cd "$(dirname "$0")/../.." && pwd)"
build="${1:-$src/build}"
nb="${2:-3}"
ni="${3:-96}"
threads="${BENCH_THREADS:-2}"
py="${PYTHON:-/usr/bin/python3}"
test -f "$build/libhust19core.a" || { echo "build first: cmake --build $build"; exit 1; }
cc="$(command -v mpicc || echo cc)"
"$cc" -O2 -std=c17 -D_POSIX_C_SOURCE=200809L -I"$src/include" "$src/tests/bench/bench_nn.c" \
  "$build/libhust19core.a" -lopenblas -lyaml -lm -o "$build/bench_nn"
echo "== load before: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
OPENBLAS_NUM_THREADS="$threads" "$build/bench_nn" "$src/configs/models/slice_cnn.yaml" "$nb" "$ni" | tee "$build/bench_nn.txt"
if "$py" -c 'import torch' 2>/dev/null; then
  "$py" "$src/tests/bench/bench_nn_torch.py" "$threads" "$nb" "$ni" | tee -a "$build/bench_nn.txt"
  awk '/^hust19 train:/{ht=$(NF-1)} /^hust19 infer:/{hi=$(NF-1)}
       /^torch .*train:/{tt=$(NF-1)} /^torch infer:/{ti=$(NF-1)}
       END{ if (tt>0 && ti>0) printf "ratio hust19/torch: train %.2fx, infer %.2fx\n", ht/tt, hi/ti }' "$build/bench_nn.txt"
else
  echo "torch not importable: PyTorch comparison skipped"
fi
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"
