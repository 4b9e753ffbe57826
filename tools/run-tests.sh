#!/usr/bin/env bash
# README's second command (and CI's): installs what is missing, builds with warnings as
# errors (CUDA for every architecture where nvcc exists), runs the whole ctest suite (CUDA tests report SKIP without a GPU;
# the `sass` tests check the CUDA machine code where nvcc exists: tools/cuda-sass-report), then the CUDA
# emulator stage (tools/run-cuda-emu.sh: the CUDA kernels on the CPU emulator with
# ASan+UBSan), the Oclgrind stage (tools/run-oclgrind.sh), the sanitizer stages
# (tools/run-sanitizers.sh: ASan+UBSan, valgrind, TSan) and the fuzz targets for a bounded
# time (tools/run-fuzz.sh). MEDKERN_QUICK=1 runs ctest only.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/tools/setup-debian.sh"
# CI compiles and links the CUDA code wherever nvcc exists, GPU or not (MEDKERN_CUDA=ON:
# every architecture); without nvcc the default AUTO leaves CUDA out. MEDKERN_CUDA in the
# environment overrides.
cuda=${MEDKERN_CUDA:-}
if [ -z "$cuda" ] && { command -v nvcc >/dev/null 2>&1 || [ -x /usr/local/cuda/bin/nvcc ]; }; then cuda=ON; fi
bash "$root/tools/build.sh" ${cuda:+"-DMEDKERN_CUDA=$cuda"}
build="${MEDKERN_BUILD_DIR:-$root/build}"
(cd "$build" && ctest --output-on-failure -j "$(nproc 2>/dev/null || echo 2)" "$@")
stages=1
if [ "${MEDKERN_QUICK:-0}" != 1 ]; then
  bash "$root/tools/run-cuda-emu.sh"
  bash "$root/tools/run-oclgrind.sh" "$build"
  bash "$root/tools/run-sanitizers.sh" "$build"
  bash "$root/tools/run-fuzz.sh" "${MEDKERN_FUZZ_SECONDS:-30}"
  stages=5
fi
# (set -e stops at the first failing stage, so reaching here means all passed)
echo "test stages (ctest, cuda-emu, oclgrind, sanitizers, fuzz):"
echo "$stages passed, 0 failed"
