#!/usr/bin/env bash
# The OpenCL tests under Oclgrind (a simulated OpenCL 1.2 device that reports
# out-of-bounds accesses and data races), one summary line like tools/run-sanitizers.sh:
#   oclgrind  every ctest test labelled `opencl` that runs OpenCL code (commands and
#             environment from `ctest --show-only=json-v1` of the build, so
#             test_backend_ops_opencl = test_backend_ops --backend opencl and
#             test_opencl_ext_variants run; left out: test_opencl_kernels_compile (clang
#             only compiles) and test_opencl_ext_variants_assumed (its opencl.qgemv_dot8
#             builds with -cl-std=CL3.0, which Oclgrind 21.10 advertises but cannot
#             compile), and test_plans (label core: its runs over plans whose device
#             copies and tile maps were overwritten with garbage must stay in bounds),
#             each as `oclgrind --data-races --log LOG PROGRAM ARGS` with
#             MEDKERN_TEST_SMALL=1
#             (a few small odd shapes: tests/support/mktest.h) and the OpenCL ICDs hidden
#             (OCL_ICD_VENDORS -> an empty dir; oclgrind LD_PRELOADs its own runtime, so
#             its simulator is then the only OpenCL device). Two at a time.
# A test fails the stage when it exits with anything but 0 or 77 (SKIP), or when Oclgrind
# wrote anything to its log: Oclgrind exits 0 whatever it finds, and with --log every
# report it makes (invalid reads/writes, data races, work-group divergence, fatal errors)
# goes to that file and nothing else does. Not --uninitialized: Oclgrind 21.10 aborts on
# LLVM's `freeze` instruction with it. What this stage can and cannot see:
# tests/oclgrind/README.md.
# Usage, from anywhere:  bash tools/run-oclgrind.sh [plain-build-dir]   (default build/, as
# tools/build.sh makes it). SKIP (exit 0) without oclgrind or without the build.
# Environment: MEDKERN_OCLGRIND_TESTS (a regex over the test names: only those of the
# above that match), MEDKERN_OCLGRIND_CONFORM=1 (test_conform too, label core: its fixed
# --quick sweep on every device, Oclgrind's included; about 5 minutes more),
# MEDKERN_OCLGRIND_TIMEOUT (seconds per test, default 600), MEDKERN_SEED (passed on).
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
plain="${1:-build}"
[[ "$plain" = /* ]] || plain="$root/$plain"
jobs=2
per_test="${MEDKERN_OCLGRIND_TIMEOUT:-600}"
note() { printf '[oclgrind] %s\n' "$*"; }
summary() { # status seconds detail
    printf -v line '%-8s %-4s %4ss  %s' oclgrind "$1" "$2" "$3"
    note "$line"
}
t0=$SECONDS
if ! command -v oclgrind >/dev/null 2>&1; then
    summary SKIP 0 "oclgrind not found (Debian: apt-get install oclgrind; tools/setup-debian.sh)"
    exit 0
fi
if ! command -v ctest >/dev/null 2>&1 || ! command -v python3 >/dev/null 2>&1; then
    summary SKIP 0 "ctest or python3 not found"
    exit 0
fi
if [ ! -f "$plain/CTestTestfile.cmake" ] || [ ! -d "$plain/tests" ]; then
    summary SKIP 0 "no plain build at $plain (run tools/build.sh first)"
    exit 0
fi
logs="$(mktemp -d "${TMPDIR:-/tmp}/medkern-oclgrind.XXXXXX")"
mkdir -p "$logs/no-icd" "$logs/cache"

# One line per test: name <TAB> VAR=value ... <TAB> command (NUL-free, tab-separated
# fields; arguments of the command separated by \x1f).
if ! (cd "$plain" && ctest --show-only=json-v1) >"$logs/tests.json" 2>"$logs/ctest.err"; then
    cat "$logs/ctest.err"
    summary FAIL $((SECONDS - t0)) "ctest --show-only=json-v1 failed in $plain"
    exit 1
fi
python3 - "$logs/tests.json" "${MEDKERN_OCLGRIND_TESTS:-}" "${MEDKERN_OCLGRIND_CONFORM:-0}" \
    >"$logs/tests.txt" <<'EOF'
import json, re, sys
data = json.load(open(sys.argv[1]))
pick = re.compile(sys.argv[2]) if sys.argv[2] else None
left_out = {"test_opencl_kernels_compile", "test_opencl_ext_variants_assumed"}
rows = []
for t in data.get("tests", []):
    props = {p["name"]: p["value"] for p in t.get("properties", [])}
    labels = props.get("LABELS", [])
    name, cmd = t["name"], t.get("command") or []
    wanted = "opencl" in labels or name == "test_plans" or (name == "test_conform" and sys.argv[3] == "1")
    if not wanted or name in left_out:
        continue
    if pick and not pick.search(name):
        continue
    rows.append((name, props.get("ENVIRONMENT", []), cmd))
# the longest first (two at a time: the last to start should be short)
first = ["test_conform", "test_backend_ops_opencl", "test_opencl_qgemm", "test_opencl_ops",
         "test_opencl_attention"]
rows.sort(key=lambda r: first.index(r[0]) if r[0] in first else len(first))
for name, env, cmd in rows:
    print(name + "\t" + "\x1f".join(env) + "\t" + "\x1f".join(cmd))
EOF
if [ ! -s "$logs/tests.txt" ]; then
    summary FAIL $((SECONDS - t0)) "no OpenCL test found in $plain (built with -DMEDKERN_OPENCL=OFF?)"
    exit 1
fi

run_one() { # name env cmd
    local name="$1" s=$SECONDS rc
    local -a env cmd
    IFS=$'\x1f' read -r -a env <<<"$2"
    IFS=$'\x1f' read -r -a cmd <<<"$3"
    env "${env[@]}" MEDKERN_TEST_SMALL=1 OCL_ICD_VENDORS="$logs/no-icd" MEDKERN_CACHE_DIR="$logs/cache/$name" \
        timeout "$per_test" oclgrind --data-races --log "$logs/$name.oclgrind" "${cmd[@]}" \
        >"$logs/$name.log" 2>&1
    rc=$?
    echo "$name $rc $((SECONDS - s))" >"$logs/$name.rc"
}
names=()
pids=()
while IFS=$'\t' read -r name env cmd; do
    names+=("$name")
    run_one "$name" "$env" "$cmd" </dev/null &
    pids+=($!)
    if [ ${#pids[@]} -ge "$jobs" ]; then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
done <"$logs/tests.txt"
wait

bad=() ran=0 skipped=() checks=0
for name in "${names[@]}"; do
    rc=missing secs=0
    [ -f "$logs/$name.rc" ] && read -r _ rc secs <"$logs/$name.rc"
    n="$(sed -n 's/^\[[a-z_]*\] \([0-9]*\) checks, [0-9]* failed.*/\1/p' "$logs/$name.log" | tail -1)"
    [ -n "$n" ] && checks=$((checks + n))
    reports=0
    [ -s "$logs/$name.oclgrind" ] && reports="$(grep -c '^[A-Za-z]' "$logs/$name.oclgrind")"
    note "$name: rc=$rc ${secs}s ${n:-?} checks, $reports oclgrind reports"
    if [ "$rc" = 77 ]; then
        skipped+=("$name")
    elif [ "$rc" != 0 ] || [ -s "$logs/$name.oclgrind" ]; then
        bad+=("$name(rc=$rc, $reports reports)")
        echo "----- $name: test output (last 60 lines; full log $logs/$name.log)"
        tail -60 "$logs/$name.log"
        if [ -s "$logs/$name.oclgrind" ]; then
            echo "----- $name: oclgrind reports (first 80 lines; all in $logs/$name.oclgrind)"
            head -80 "$logs/$name.oclgrind"
        fi
    fi
    [ "$rc" != 77 ] && ran=$((ran + 1))
done
extra=""
[ ${#skipped[@]} -gt 0 ] && extra=" (SKIP: ${skipped[*]})"
rm -rf "$logs/cache" "$logs/no-icd"
if [ ${#bad[@]} -eq 0 ]; then
    summary PASS $((SECONDS - t0)) "$ran tests, $checks checks, no reports$extra"
    exit 0
fi
summary FAIL $((SECONDS - t0)) "${bad[*]}$extra (logs in $logs)"
exit 1
