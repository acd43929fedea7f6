#!/usr/bin/env bash
# Build hust19 and run its test suite under CTest (the README's test command).
#   HUST19_BUILD_DIR   build directory (default: build)
#   HUST19_SANITIZE    ON for an AddressSanitizer + UBSan build
#   CTEST_ARGS         extra arguments for ctest (e.g. "-L unit" or "-R cfg")
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/install-deps.sh
B=${HUST19_BUILD_DIR:-build}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# ASan: MPI libraries keep allocations until exit; leak checking is not meaningful for them.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHUST19_WERROR=ON \
      -DHUST19_SANITIZE="${HUST19_SANITIZE:-OFF}" >/dev/null
cmake --build "$B" -j"$(nproc)"
cd "$B" && ctest --output-on-failure -j"$(nproc)" ${CTEST_ARGS:-}
