#!/usr/bin/env bash
# test_nn_torch_parity.sh — hust19's conv/relu/pool/dense/softmax-CE net against PyTorch on the same
# initial weights and batch: logits and every gradient within 1e-4 relative, weights after 20
# Adam steps within 1e-3 relative (tolerances and method in tests/ref/nn_torch_ref.py).
# Skipped (77) when torch cannot be imported.
set -euo pipefail
out="$1"
rm -rf "$out" && mkdir -p "$out"
if ! "$PYTHON" -c 'import torch' 2>/dev/null; then
  echo "SKIPPED: import torch failed in $PYTHON"
  exit 77
fi
"$HUST19_BUILD/tests/test_nn_tool" parity "$out"
"$PYTHON" "$HUST19_SRC/tests/ref/nn_torch_ref.py" "$out"
