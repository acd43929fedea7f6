#!/bin/bash
# bench_synth.sh — throughput of `hust19 synth` at full scale per slice (512×512, ~240 slices per
# patient), per rank, on 1 and 2 MPI ranks, with and without writing DICOM:
#   phantom only (--dry-run): render + label;   full: render + DICOM (DCMTK, fsync'd) + markers.
# Reports slices/s per rank, the 2-rank speed-up, the share of time spent writing, and the
# extrapolated wall time of the paper-scale archive (1,521 patients × ~240 slices ≈ 364k slices).
# Usage: tests/bench/bench_synth.sh [BUILD_DIR] [PATIENTS] [SLICES]   (default build, 4, 240)
set -euo pipefail
build="${1:-build}"; np="${2:-4}"; ns="${3:-240}"
bin="$build/bin/hust19"
mpiexec="${HUST19_MPIEXEC:-mpiexec}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 HUST19_THREADS=1
work=$(mktemp -d "${TMPDIR:-/tmp}/bench_synth.XXXXXX")
trap 'rm -rf "$work"' EXIT
cat > "$work/job.yaml" <<YAML
synth:
  out: $work/out
  seed: 2020
  patients: $np
  slices: {mean: $ns, sd: 0}
  image_size: 512
  labelled_patients: 1
YAML
rate() { # rate RANKS [flags]: prints slices/s per rank from the log
    local n="$1"; shift
    rm -rf "$work/out"
    if [ "$n" = 1 ]; then "$bin" synth "$work/job.yaml" "$@" 2> "$work/log"
    else "$mpiexec" -np "$n" --oversubscribe "$bin" synth "$work/job.yaml" "$@" 2> "$work/log"; fi
    grep -o '[0-9.]* slices/s per rank' "$work/log" | awk '{printf "%s ", $1}'
    grep -o '[0-9.]* slices per CPU-second' "$work/log" | awk '{print $1}'
}
read d1 dc1 < <(rate 1 --dry-run); read d2 dc2 < <(rate 2 --dry-run)
read f1 fc1 < <(rate 1); read f2 fc2 < <(rate 2)
du=$(du -sh "$work/out" | cut -f1)
awk -v d1="$d1" -v d2="$d2" -v f1="$f1" -v f2="$f2" -v dc="$dc1" -v fc="$fc1" -v load="$(cut -d' ' -f1 /proc/loadavg)" -v np="$np" -v ns="$ns" -v du="$du" 'BEGIN {
    printf "bench_synth: %d patients x %d slices, 512x512 (archive %s)\n", np, ns, du
    printf "  phantom only : %7.1f slices/s per rank on 1 rank, %7.1f per rank on 2 ranks (speed-up %.2f)\n", d1, d2, 2*d2/d1
    printf "  with DICOM   : %7.1f slices/s per rank on 1 rank, %7.1f per rank on 2 ranks (speed-up %.2f)\n", f1, f2, 2*f2/f1
    printf "  CPU          : %7.1f slices per CPU-second phantom only, %7.1f with DICOM (writing = %.0f%% of CPU)\n", dc, fc, 100*(1 - fc/dc)
    printf "  (wall-clock rates are distorted when the machine is shared: load average %s)\n", load
    printf "  paper scale (364,000 slices): %.1f CPU-hours with DICOM (%.1f min on 64 unloaded ranks, I/O permitting);\n", 364000/fc/3600, 364000/fc/64/60
    printf "    at the wall-clock rates measured here: %.1f h on 1 rank, %.1f h on 2 ranks\n", 364000/f1/3600, 364000/(2*f2)/3600
}'
