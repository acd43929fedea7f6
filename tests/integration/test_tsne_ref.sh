#!/bin/bash
# ctest-labels: python
# it/tsne_ref — ev_tsne and ev_trustworthiness against scikit-learn 1.2 (tests/ref/tsne_ref.py):
# trustworthiness equal within 1e-12 on untied random inputs; exact t-SNE (perplexity 30, PCA
# init, learning rate auto) on a 600-point HUST-19-like score set and 300 digits: trustworthiness
# (k = 5) within 0.02 of sklearn's TSNE(method="exact") map, KL within 10% of its kl_divergence_.
set -euo pipefail
work="$1"; mkdir -p "$work"
"$PYTHON" -c "import sklearn" 2>/dev/null || { echo "SKIPPED: no sklearn"; exit 77; }
"$PYTHON" "$HUST19_SRC/tests/ref/tsne_ref.py" "$HUST19_BUILD/tests/test_tsne" "$work"
