#!/usr/bin/env bash
# bench_ct.sh — slices/s of the C preprocessing pipeline and of the OpenCV reference
# (tests/ref/ct_reference.py, cv2.setNumThreads(1)) on the same 512x512 phantoms, one core each,
# in the same run, and their ratio. Not run by CTest.
#   bash tests/bench/bench_ct.sh [BUILD_DIR] [SLICES] [C_REPEATS] [REF_REPEATS]
# Rates are per CPU second of the (single-threaded) process; wall-time rates are printed too
# (on a shared machine wall time includes waiting for a core).
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$here/build}
slices=${2:-20}
crep=${3:-20}
rrep=${4:-1}
PY=${PYTHON:-/usr/bin/python3}
driver=$build/tests/test_ct_pipeline
[ -x "$driver" ] || { echo "build first: $driver missing"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/all" "$work/512"
# gen writes 512x512 at indices other than 0, 2, 5, 7, 9 (mod 10): make enough, keep the 512x512 ones
"$PY" "$here/tests/ref/ct_reference.py" gen "$work/all" $((slices * 2 + 10)) 2>/dev/null
k=0
for f in "$work"/all/ph*.pgm; do
    if head -c 20 "$f" | grep -qa "^512 512$"; then
        cp "$f" "$work/512/"
        k=$((k + 1))
        [ "$k" -ge "$slices" ] && break
    fi
done
echo "inputs: $k slices 512x512"
pin=()
command -v taskset >/dev/null && pin=(taskset -c 0)   # one core for both
c_line=$("${pin[@]}" "$driver" --bench "$work/512" "$crep")
echo "C:         $c_line"
r_line=$("${pin[@]}" "$PY" "$here/tests/ref/ct_reference.py" bench "$work/512" "$rrep")
echo "reference: $r_line"
c=$(echo "$c_line" | awk '{print $2}')
r=$(echo "$r_line" | awk '{print $2}')
awk -v c="$c" -v r="$r" 'BEGIN { printf "ratio C / OpenCV reference (CPU-time rates): %.1f x\n", c / r }'
