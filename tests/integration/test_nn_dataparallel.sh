#!/usr/bin/env bash
# test_nn_dataparallel.sh — data-parallel training is rank-count independent (DESIGN.md
# "Distribution"): the weights after training a small CNN (micro-batches of 4, dropout, early
# stopping on a validation set, per-epoch lr decay) are byte-identical on 1, 2 and 3 ranks; a stop
# raised on one rank only makes every rank checkpoint at the same step (exit 75), and resuming that
# checkpoint on another rank count gives the same bytes as the uninterrupted run.
set -euo pipefail
out="$1"
rm -rf "$out" && mkdir -p "$out"
tool="$HUST19_BUILD/tests/test_nn_tool"
mpi() { "$HUST19_MPIEXEC" -np "$1" --oversubscribe "${@:2}"; }

mpi 1 "$tool" dp "$out/w1.f32"
mpi 2 "$tool" dp "$out/w2.f32"
mpi 3 "$tool" dp "$out/w3.f32"
test -s "$out/w1.f32"
cmp "$out/w1.f32" "$out/w2.f32"
cmp "$out/w1.f32" "$out/w3.f32"
echo "1, 2 and 3 ranks: identical weights ($(stat -c %s "$out/w1.f32") bytes)"
# One micro-batch per batch (the float path): also rank-count independent.
mpi 1 "$tool" dp "$out/m1.f32" - 0 16
mpi 2 "$tool" dp "$out/m2.f32" - 0 16
cmp "$out/m1.f32" "$out/m2.f32"
if cmp -s "$out/m1.f32" "$out/w1.f32"; then echo "micro-batch 16 and 4 gave the same model?"; exit 1; fi

# Stop after step 13 (mid-epoch 3 of 6 batches), raised on the last rank only.
set +e
mpi 2 "$tool" dp "$out/ws.f32" "$out/ck.bin" 13
rc=$?
set -e
if [ "$rc" -ne 75 ]; then echo "expected exit 75 (checkpoint written, requeue), got $rc"; exit 1; fi
test -s "$out/ck.bin"
test ! -e "$out/ws.f32"
ls "$out" | grep -q 'tmp' && { echo "temporary checkpoint file left behind"; exit 1; }
# Resume on 3 ranks, then on 1 rank from the finished checkpoint: both equal the uninterrupted run.
mpi 3 "$tool" dp "$out/wr.f32" "$out/ck.bin" 0
cmp "$out/w1.f32" "$out/wr.f32"
mpi 1 "$tool" dp "$out/wr1.f32" "$out/ck.bin" 0
cmp "$out/w1.f32" "$out/wr1.f32"
echo "stop on 2 ranks + resume on 3 ranks: identical weights"
