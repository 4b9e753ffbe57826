#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/fuzz_*.c) with clang, AddressSanitizer and
# UndefinedBehaviorSanitizer in build-fuzz, and runs each one for SECONDS (default 30)
# from a copy of its seed corpus tests/fuzz/corpus/<name>/ (the repository is left as it
# is). Prints the executions of every target; exits 1 when any target crashed or tripped
# a sanitizer (its reproducer is kept and named: add it to the corpus with the fix), 2 on
# a setup or build error.
#   usage: tools/run-fuzz.sh [SECONDS]     (MEDKERN_FUZZ_BUILD_DIR overrides build-fuzz)
set -euo pipefail

secs=${1:-30}
if ! [[ "$secs" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: tools/run-fuzz.sh [seconds-per-target]" >&2
  exit 2
fi
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${MEDKERN_FUZZ_BUILD_DIR:-$root/build-fuzz}
command -v clang >/dev/null || { echo "run-fuzz: clang not found (tools/setup-debian.sh)" >&2; exit 2; }
start=$(date +%s)

echo "run-fuzz: configuring $build"
mkdir -p "$build"
CC=clang cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMEDKERN_FUZZ=ON \
  -DMEDKERN_SANITIZE=address,undefined -DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link \
  -DMEDKERN_CUDA=OFF -DMEDKERN_BENCH=OFF >"$build/run-fuzz.configure.log" 2>&1 \
  || { cat "$build/run-fuzz.configure.log" >&2; echo "run-fuzz: configure failed" >&2; exit 2; }
read -r -a targets <<<"$(tr ';' ' ' <"$build/fuzz-targets.txt")"
echo "run-fuzz: building ${targets[*]}"
cmake --build "$build" -j "$(nproc)" --target "${targets[@]}" >"$build/run-fuzz.build.log" 2>&1 \
  || { tail -50 "$build/run-fuzz.build.log" >&2; echo "run-fuzz: build failed" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/medkern-fuzz.XXXXXX")
export MEDKERN_CACHE_DIR="$work/cache"  # OpenCL program cache of fuzz_tuning's contexts
export TMPDIR="$work"                    # the targets' temporary files
# use_sigaltstack=0: see stage_asan in tools/run-sanitizers.sh (PoCL's LLVM replaces the stack).
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:use_sigaltstack=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
failed=()
printf '%-16s %12s %10s  %s\n' target executions exec/s result
for t in "${targets[@]}"; do
  name=${t#fuzz_}
  mkdir -p "$work/$t/corpus"
  [ -d "$root/tests/fuzz/corpus/$name" ] && cp -R "$root/tests/fuzz/corpus/$name/." "$work/$t/corpus/"
  rc=0
  (cd "$work/$t" && "$build/tests/fuzz/$t" -max_total_time="$secs" -print_final_stats=1 \
     -timeout=30 -rss_limit_mb=4096 -artifact_prefix="$work/$t/" corpus >log 2>&1) || rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t/log" | tail -1)
  [ -n "$runs" ] || runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$work/$t/log" | tail -1)
  [ -n "$runs" ] || runs=$(grep -oE '^#[0-9]+' "$work/$t/log" | tail -1 | tr -d '#')
  rate=$(grep -oE 'exec/s: [0-9]+' "$work/$t/log" | tail -1 | awk '{print $2}')
  if [ "$rc" -eq 0 ]; then
    printf '%-16s %12s %10s  %s\n' "$t" "${runs:-?}" "${rate:-?}" ok
  else
    printf '%-16s %12s %10s  %s\n' "$t" "${runs:-?}" "${rate:-?}" "FAILED (exit $rc)"
    failed+=("$t")
    echo "----- $t: end of its log ($work/$t/log)"
    grep -E 'ERROR|runtime error|SUMMARY|fuzz_[a-z]+:|Test unit written' "$work/$t/log" | head -20 || true
    tail -30 "$work/$t/log"
    ls "$work/$t"/crash-* "$work/$t"/leak-* "$work/$t"/timeout-* "$work/$t"/oom-* 2>/dev/null \
      | sed 's/^/reproducer: /' || true
    echo "-----"
  fi
done
echo "run-fuzz: ${#targets[@]} targets, ${secs}s each, $(( $(date +%s) - start ))s in all"
if [ ${#failed[@]} -gt 0 ]; then
  echo "run-fuzz: FAILED: ${failed[*]} (logs and reproducers kept in $work)" >&2
  exit 1
fi
rm -rf "$work"
