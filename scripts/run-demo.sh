#!/usr/bin/env bash
# Set up on a fresh Debian 12 machine, build, and run the main job on the embedded default data.
set -euo pipefail
cd "$(dirname "$0")/.."
HUST19_WITH_SLURM=0 bash .ci/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
exec ./build/bin/hust19 run "${1:-jobs/demo.yaml}"
