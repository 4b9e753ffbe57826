#!/usr/bin/env bash
# The CUDA emulator stage of the test command: builds the CUDA backend and kernels on the
# CPU emulator (MEDKERN_CUDA_EMU=ON, tests/cuda_emu) with ASan + UBSan into
# ${MEDKERN_EMU_BUILD_DIR:-build-cuda-emu} (OpenCL and benchmarks off: this stage is about
# the CUDA code) and runs every ctest labelled cuda_emu: test_backend_ops_cuda
# (test_backend_ops --backend cuda) and test_plans under the forward and the warp-serial
# schedules, the emulator's collective and fault tests under both,
# `medkern conform --device cuda:0 --quick` under both, and the ASan out-of-bounds report check.
# Prints one summary line; exit status non-zero on any failure.
# MEDKERN_EMU_SANITIZE (default address,undefined; empty for a plain build).
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${MEDKERN_EMU_BUILD_DIR:-$root/build-cuda-emu}"
san="${MEDKERN_EMU_SANITIZE-address,undefined}"
jobs="$(nproc 2>/dev/null || echo 2)"
log="$(mktemp "${TMPDIR:-/tmp}/medkern-emu-build.XXXXXX")"
t0=$SECONDS
cflags=()
[ -n "$san" ] && cflags=("-DCMAKE_C_FLAGS=-fno-sanitize-recover=all" "-DCMAKE_CXX_FLAGS=-fno-sanitize-recover=all")
if ! { cmake -S "$root" -B "$build" -DMEDKERN_CUDA_EMU=ON -DMEDKERN_WERROR=ON -DMEDKERN_OPENCL=OFF \
         -DMEDKERN_BENCH=OFF -DMEDKERN_THREADS_BACKEND=OFF "-DMEDKERN_SANITIZE=$san" "${cflags[@]}" &&
       cmake --build "$build" -j "$jobs"; } >"$log" 2>&1; then
    tail -40 "$log"
    printf '[cuda-emu] %-8s %-4s %4ss  %s\n' cuda-emu FAIL $((SECONDS - t0)) "build failed (log $log)"
    exit 1
fi
tb=$((SECONDS - t0))
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
if [ -f "$root/tests/support/lsan.supp" ]; then
    export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$root/tests/support/lsan.supp}"
fi
(cd "$build" && ctest -L cuda_emu --output-on-failure -j "$jobs")
rc=$?
status=PASS
[ $rc -ne 0 ] && status=FAIL
printf '[cuda-emu] %-8s %-4s %4ss  %s\n' cuda-emu $status $((SECONDS - t0)) \
    "build ${tb}s; ctest -L cuda_emu (sanitizers: ${san:-none})"
exit $rc
