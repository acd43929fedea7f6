#!/bin/bash
# test_stats_scipy.sh — the st_ statistics against SciPy 1.10 on ~6,700 cases generated from a
# fixed seed at test time (tests/ref/stats_cases.py: sizes, distributions, ties, extremes,
# degenerate input; tolerances and references are listed there: 1e-6 relative on statistic and p).
set -euo pipefail
scratch=${1:?scratch dir}
mkdir -p "$scratch"
"$PYTHON" -c 'import scipy, sys; sys.exit(0 if scipy.__version__.startswith("1.10") else 3)' || {
    echo "SKIPPED: needs SciPy 1.10 (the reference version)"; exit 77; }
driver="$HUST19_BUILD/tests/test_stats_driver"
[ -x "$driver" ] || { echo "missing $driver"; exit 1; }
"$PYTHON" "$HUST19_SRC/tests/ref/stats_cases.py" gen "$scratch/cases.txt" --seed 20200722
"$driver" "$scratch/cases.txt" "$scratch/results.txt"
"$PYTHON" "$HUST19_SRC/tests/ref/stats_cases.py" check "$scratch/cases.txt" "$scratch/results.txt"
