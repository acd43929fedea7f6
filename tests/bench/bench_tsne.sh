#!/bin/bash
# bench_tsne.sh — wall time of exact t-SNE on N score-shaped points (6 features in [0,1], as
# HUST-19's intermediate scores), hust19's ev_tsne (via the test_tsne driver) against
# scikit-learn 1.2's TSNE(method="exact", perplexity=30, init="pca", learning_rate="auto",
# random_state=0) on the same data and machine; prints both times, the ratio, the final KL and
# the trustworthiness (k = 5, sklearn's function) of both maps.
# Usage: tests/bench/bench_tsne.sh [BUILD_DIR] [N]   (default build, 1500)
set -euo pipefail
build="${1:-build}"; n="${2:-1500}"
src="$(cd "$(dirname "$0")/../.." && pwd)"
work=$(mktemp -d "${TMPDIR:-/tmp}/bench_tsne.XXXXXX")
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 "$src/tests/ref/tsne_ref.py" "$build/tests/test_tsne" "$work" bench "$n"
echo "  (load average $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores)"
