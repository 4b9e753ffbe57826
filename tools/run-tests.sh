#!/usr/bin/env bash
# README's second command (and CI's): installs what is missing, builds with warnings as
# errors, runs the whole ctest suite. CUDA tests report SKIP without a GPU.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/tools/setup-debian.sh"
bash "$root/tools/build.sh"
build="${MEDKERN_BUILD_DIR:-$root/build}"
cd "$build"
ctest --output-on-failure -j "$(nproc 2>/dev/null || echo 2)" "$@"
