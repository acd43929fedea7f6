#!/usr/bin/env bash
# it/ct_opencv — the C preprocessing (src/ct/preprocess.c) against OpenCV + scikit-image
# (tests/ref/ct_reference.py) on 100 chest-like phantoms (512x512, non-square, 128x128) and the real
# slice CT_small.dcm, exchanged as PGM files. Asserts (in the Python script): mean mask Dice >= 0.98
# and a bit-exact adaptive threshold on every slice; reports the exact-match counts of the masks and
# of the 200x200 outputs. Skips (77) without python3-opencv / scikit-image.
set -euo pipefail
scratch=${1:?scratch directory}
PY=${PYTHON:-/usr/bin/python3}
src=${HUST19_SRC:?}
driver=${HUST19_BUILD:?}/tests/test_ct_pipeline
if ! "$PY" -c "import cv2, skimage, numpy" 2>/dev/null; then
    echo "SKIPPED: python3-opencv / python3-skimage not installed"
    exit 77
fi
[ -x "$driver" ] || { echo "missing $driver (build the unit tests)"; exit 1; }
rm -rf "$scratch"
mkdir -p "$scratch/in" "$scratch/c"
"$PY" "$src/tests/ref/ct_reference.py" gen "$scratch/in" 100
n=$(ls "$scratch/in"/*.pgm | wc -l)
[ "$n" -ge 100 ] || { echo "only $n test slices"; exit 1; }
"$driver" --dir "$scratch/in" "$scratch/c"
# cv2.adaptiveThreshold with a 15599 block allocates (and glibc returns to the OS) tens of MB of
# row buffers per call; keeping freed memory in the heap cuts the reference's system time ~10x, not its results.
MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=4294967296 MALLOC_TOP_PAD_=268435456 \
    "$PY" "$src/tests/ref/ct_reference.py" compare "$scratch/in" "$scratch/c"
