#!/bin/bash
# it/plr_ref — plr_ fits and out-of-fold cross-fitting against scikit-learn 1.2's
# LogisticRegression (tests/ref/plr_ref.py; tolerance 1e-4 stated there).
set -euo pipefail
work="$1"; mkdir -p "$work"
"$PYTHON" -c "import sklearn" 2>/dev/null || { echo "SKIPPED: no sklearn"; exit 77; }
"$PYTHON" "$HUST19_SRC/tests/ref/plr_ref.py" "$HUST19_BUILD/tests/test_ev_ref" "$work"
