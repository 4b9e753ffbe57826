#!/usr/bin/env bash
# Memory and thread checks, in three stages (each prints one summary line):
#   asan      ASan + UBSan build (preset `asan`, bench off, -fno-sanitize-recover=all),
#             ctest -L 'core|opencl' with leak detection; LSan suppressions for PoCL/LLVM
#             only, from tests/support/lsan.supp when that file exists. This includes
#             fault_injection (label core): every fault-injection point of
#             tests/fault/fault_injection.sh runs under ASan/LSan.
#   valgrind  memcheck over the reference and ref-backend tests of a plain build
#             (argument 1, default build/, as tools/build.sh makes it). OpenCL platforms
#             are hidden (OCL_ICD_VENDORS -> an empty dir): these tests are about the ref
#             backend, and PoCL's LLVM under valgrind would take minutes.
#   tsan      ThreadSanitizer build (preset `tsan`: ref and threads backends), test_dispatch
#             (the concurrent first use), test_threads and test_threads_backend (the host
#             worker pools of the threads example backend).
# The asan stage covers test_threads_backend through its `core` label; valgrind lists it.
# A stage whose tool is missing is skipped (with a message). Exit status: non-zero when a
# stage found something. Usage, from anywhere:  bash tools/run-sanitizers.sh [plain-build-dir]
# Environment: MEDKERN_SAN_STAGES (default "asan valgrind tsan"), MEDKERN_SEED (passed on).
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
plain="${1:-build}"
[[ "$plain" = /* ]] || plain="$root/$plain"
jobs="$(nproc 2>/dev/null || echo 2)"
stages="${MEDKERN_SAN_STAGES:-asan valgrind tsan}"
logs="$(mktemp -d "${TMPDIR:-/tmp}/medkern-san.XXXXXX")"
summary=()
failed=0

note() { printf '[sanitizers] %s\n' "$*"; }
record() { # stage status seconds detail
    local line
    line="$(printf '%-8s %-4s %4ss  %s' "$1" "$2" "$3" "$4")"
    summary+=("$line")
    note "$line"
    [ "$2" = FAIL ] && failed=1
    return 0
}
# A C compiler that accepts -fsanitize=$1 (the build uses the default compiler).
can_sanitize() {
    local cc="${CC:-cc}"
    command -v "$cc" >/dev/null 2>&1 || return 1
    printf 'int main(void){return 0;}\n' | "$cc" -x c -fsanitize="$1" -o "$logs/probe" - >/dev/null 2>&1 &&
        "$logs/probe" >/dev/null 2>&1
}

# ------------------------------------------------------------------ ASan + UBSan
stage_asan() {
    local t0=$SECONDS
    if ! command -v cmake >/dev/null || ! command -v ctest >/dev/null; then
        record asan SKIP 0 "cmake/ctest not found"; return; fi
    if ! can_sanitize address,undefined; then
        record asan SKIP 0 "the C compiler cannot build with -fsanitize=address,undefined"; return; fi
    note "asan: configure + build (preset asan, log $logs/asan-build.log)"
    if ! { cmake --preset asan -DMEDKERN_BENCH=OFF "-DCMAKE_C_FLAGS=-fno-sanitize-recover=all" &&
           cmake --build build-asan -j "$jobs"; } >"$logs/asan-build.log" 2>&1; then
        tail -40 "$logs/asan-build.log"
        record asan FAIL $((SECONDS - t0)) "build failed"; return; fi
    # use_sigaltstack=0: the LLVM inside PoCL gives a thread that compiles a kernel its own
    # malloc'd signal stack when the one there is smaller than MINSIGSTKSZ + 64 KiB. Where
    # the kernel reports a large signal frame (AVX-512, kernel 6.18: SIGSTKSZ = MINSIGSTKSZ
    # = 13504), ASan's 4 x SIGSTKSZ = 54016 B is smaller than that 79040 B, so it is replaced,
    # and ASan aborts ("unable to unmap") freeing the malloc'd one when that thread exits.
    # ASan's own stack only serves reports of stack overflows.
    local asan="detect_leaks=1:abort_on_error=1:use_sigaltstack=0"
    if [ -f "$root/tests/support/lsan.supp" ]; then
        export LSAN_OPTIONS="suppressions=$root/tests/support/lsan.supp:print_suppressions=0"
    fi
    note "asan: ctest -L 'core|opencl'"
    if (cd build-asan && ASAN_OPTIONS="$asan" UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
            ctest -L 'core|opencl' -j "$jobs" --output-on-failure) >"$logs/asan-test.log" 2>&1; then
        record asan PASS $((SECONDS - t0)) "$(grep -E 'tests passed' "$logs/asan-test.log" | tail -1)"
    else
        cat "$logs/asan-test.log"
        record asan FAIL $((SECONDS - t0)) "$(grep -E 'tests passed|tests failed' "$logs/asan-test.log" | tail -1)"
    fi
    unset LSAN_OPTIONS
}

# ------------------------------------------------------------------ valgrind memcheck
VALGRIND_TESTS="test_ref_attention test_ref_convert test_ref_dense test_ref_import test_ref_model
test_ref_quant test_api_validation test_api_ops test_dispatch test_params test_buffer_copy test_threads
test_threads_backend test_profile_render test_model_config test_profile_plan test_backend_modules"
stage_valgrind() {
    local t0=$SECONDS
    if ! command -v valgrind >/dev/null; then record valgrind SKIP 0 "valgrind not found"; return; fi
    if [ ! -d "$plain/tests" ]; then
        record valgrind SKIP 0 "no plain build at $plain (run tools/build.sh first)"; return; fi
    # glibc's ld.so reads past a strdup'ed RPATH string in an optimised strncmp when a
    # library is dlopen()ed (libcudart loading libcuda in a CUDA build): not ours.
    cat >"$logs/valgrind.supp" <<'EOF'
{
   glibc-ld.so-dlopen-rpath-strncmp-overread
   Memcheck:Addr8
   fun:strncmp
   fun:is_dst
   ...
   fun:_dl_map_object
}
EOF
    mkdir -p "$logs/no-icd"
    local bad=() ran=0 missing=()
    # two at a time: the machine has few cores and each run is single-threaded
    run_one() {
        local t="$1" s=$SECONDS rc
        MEDKERN_SOURCE_DIR="$root" OCL_ICD_VENDORS="$logs/no-icd" timeout 300 valgrind -q --error-exitcode=1 --leak-check=full \
            --errors-for-leak-kinds=definite,indirect --num-callers=30 \
            --suppressions="$logs/valgrind.supp" "$plain/tests/$t" >"$logs/valgrind-$t.log" 2>&1
        rc=$?
        echo "$t $rc $((SECONDS - s))" >"$logs/valgrind-$t.rc"
    }
    local pids=() t
    for t in $VALGRIND_TESTS; do
        if [ ! -x "$plain/tests/$t" ]; then missing+=("$t"); continue; fi
        run_one "$t" &
        pids+=($!)
        ran=$((ran + 1))
        if [ ${#pids[@]} -ge "$jobs" ]; then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
    done
    wait
    for t in $VALGRIND_TESTS; do
        [ -f "$logs/valgrind-$t.rc" ] || continue
        local name rc secs
        read -r name rc secs <"$logs/valgrind-$t.rc"
        note "valgrind: $name rc=$rc ${secs}s"
        if [ "$rc" != 0 ] && [ "$rc" != 77 ]; then
            bad+=("$name(rc=$rc)")
            echo "----- $name under valgrind (first 120 lines; full log $logs/valgrind-$name.log)"
            head -120 "$logs/valgrind-$name.log"
        fi
    done
    local extra=""
    [ ${#missing[@]} -gt 0 ] && extra=" (not built: ${missing[*]})"
    if [ ${#bad[@]} -eq 0 ]; then
        record valgrind PASS $((SECONDS - t0)) "$ran tests clean$extra"
    else
        record valgrind FAIL $((SECONDS - t0)) "${bad[*]}$extra"
    fi
}

# ------------------------------------------------------------------ ThreadSanitizer
stage_tsan() {
    local t0=$SECONDS
    if ! command -v cmake >/dev/null; then record tsan SKIP 0 "cmake not found"; return; fi
    if ! can_sanitize thread; then
        record tsan SKIP 0 "the C compiler cannot build and run with -fsanitize=thread"; return; fi
    note "tsan: configure + build (preset tsan, log $logs/tsan-build.log)"
    if ! { cmake --preset tsan && cmake --build build-tsan -j "$jobs" --target test_dispatch test_threads test_threads_backend; } \
            >"$logs/tsan-build.log" 2>&1; then
        tail -40 "$logs/tsan-build.log"
        record tsan FAIL $((SECONDS - t0)) "build failed"; return; fi
    local bad=() t
    for t in test_dispatch test_threads test_threads_backend; do
        if ! TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1" "build-tsan/tests/$t" \
                >"$logs/tsan-$t.log" 2>&1; then
            cat "$logs/tsan-$t.log"
            bad+=("$t")
        fi
    done
    if [ ${#bad[@]} -eq 0 ]; then
        record tsan PASS $((SECONDS - t0)) "test_dispatch test_threads test_threads_backend: no race"
    else
        record tsan FAIL $((SECONDS - t0)) "${bad[*]}"
    fi
}

t_all=$SECONDS
for s in $stages; do
    case "$s" in
    asan) stage_asan ;;
    valgrind) stage_valgrind ;;
    tsan) stage_tsan ;;
    *) note "unknown stage '$s'"; failed=1 ;;
    esac
done
echo
note "summary (logs in $logs, total $((SECONDS - t_all))s):"
for l in "${summary[@]}"; do echo "  $l"; done
exit $failed
