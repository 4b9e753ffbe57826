#!/usr/bin/env bash
# Configures and builds medkern into ${MEDKERN_BUILD_DIR:-build} (Release with debug
# info, warnings as errors). Extra arguments go to cmake's configure step.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${MEDKERN_BUILD_DIR:-$root/build}"
jobs="$(nproc 2>/dev/null || echo 2)"
cmake -S "$root" -B "$build" -DMEDKERN_WERROR=ON "$@"
cmake --build "$build" -j "$jobs"
