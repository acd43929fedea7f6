#!/bin/bash
# it/ev_ref — ev_ AUC, DeLong, ROC, thresholds and measures against scikit-learn 1.2 / SciPy
# (tests/ref/ev_ref.py; tolerances stated there).
set -euo pipefail
work="$1"; mkdir -p "$work"
"$PYTHON" -c "import sklearn, scipy" 2>/dev/null || { echo "SKIPPED: no sklearn/scipy"; exit 77; }
"$PYTHON" "$HUST19_SRC/tests/ref/ev_ref.py" "$HUST19_BUILD/tests/test_ev_ref" "$work"
