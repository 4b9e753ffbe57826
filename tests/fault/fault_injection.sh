#!/usr/bin/env bash
# Fault injection over every injection point of the API sequence of
# tests/test_fault_injection.c (knobs: runtime/src/fault.c; docs/guarantees.md).
#
# Usage: fault_injection.sh PATH/TO/test_fault_injection [device ...]
#        (default devices: ref, and opencl:0 and cuda:0 where they exist)
# Environment: MEDKERN_FAULT_STRIDE (default 1: every point; k > 1 tests points
#              1, 1+k, 1+2k, ... and always the last one), MEDKERN_FAULT_KINDS (default
#              "host_alloc device_alloc device_lost").
#
# Per device: a warm-up run fills a private program cache (so every later run makes the
# same calls), a counting run (MEDKERN_FAULT_REPORT=1) gives H host allocations, D device
# allocations and C device queue calls and the clean checksum. Then, for N = 1..H with
# MEDKERN_FAULT_HOST_ALLOC=N, N = 1..D with MEDKERN_FAULT_DEVICE_ALLOC=N and N = 1..C with
# MEDKERN_FAULT_DEVICE_LOST=N, each run must:
#   - exit 0 (under ASan/LSan, as in tools/run-sanitizers.sh, also: no error, no leak);
#   - report that point N was the one failed (injected=<kind>#N@<site>);
#   - end with live_host=0 and live_device=0 (everything acquired was released);
#   - allocation kinds: show exactly one "-> MK_ERR_OUT_OF_MEMORY" line and the clean
#     checksum (the program retried the call and every later result is bit-identical),
#     or, only at the sites listed in ABSORBED below, no failure and the clean checksum
#     (the library fell back without failing the call);
#   - device_lost: exactly one "-> MK_ERR_DEVICE" line and "recovered with a new context".
# Prints one summary line per device and kind. Exit 0 when every point passed, 1 if not,
# 77 (skip) when the program is missing.
set -uo pipefail
prog="${1:-}"
[ -x "$prog" ] || { echo "fault_injection: no test program '$prog'"; exit 77; }
shift
stride="${MEDKERN_FAULT_STRIDE:-1}"
kinds="${MEDKERN_FAULT_KINDS:-host_alloc device_alloc device_lost}"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/medkern-fault.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
export MEDKERN_CACHE_DIR="$tmp/cache"   # private: no tuning file, no other test's entries
unset MEDKERN_TUNING_FILE MEDKERN_KERNELS MEDKERN_OCL_EXTRA_OPTIONS MEDKERN_FAULT_HOST_ALLOC \
      MEDKERN_FAULT_DEVICE_ALLOC MEDKERN_FAULT_DEVICE_LOST MEDKERN_FAULT_REPORT
seed=(--seed "${MEDKERN_SEED:-20261124}")

# Sites where a failed host allocation is absorbed by a fallback, by design:
#   ocl_program.c cache_load        the cached binary cannot be read: build from source
#   ocl_program.c program_binary    the built binary cannot be fetched: not cached on disk
#   ocl_scratch.c ocl_plan_put      the decode split plan is not memoized (made again)
ABSORBED_RE='^runtime/backends/opencl/(ocl_program\.c:[0-9]+\((cache_load|program_binary)\)|ocl_scratch\.c:[0-9]+\(ocl_plan_put\))$'

devices=("$@")
if [ ${#devices[@]} -eq 0 ]; then
    "$prog" "${seed[@]}" --list >"$tmp/list" 2>&1 || { cat "$tmp/list"; echo "fault_injection: --list failed"; exit 1; }
    devices=(ref)
    for d in opencl:0 cuda:0; do grep -qx "$d" "$tmp/list" && devices+=("$d"); done
fi

failed=0
fail() { echo "FAIL: $*"; failed=1; }
field() { sed -n "s/.*medkern-fault:.* $1=\([^ ]*\).*/\1/p" "$2" | tail -1; }

mkdir -p "$tmp/no-icd"
icd_set=${OCL_ICD_VENDORS+1} icd=${OCL_ICD_VENDORS-}
for dev in "${devices[@]}"; do
    # other devices need no OpenCL platform: hiding it saves its start-up in every run
    case $dev in
    opencl*) if [ -n "$icd_set" ]; then export OCL_ICD_VENDORS="$icd"; else unset OCL_ICD_VENDORS; fi ;;
    *) export OCL_ICD_VENDORS="$tmp/no-icd" ;;
    esac
    log="$tmp/clean.log"
    if ! "$prog" "${seed[@]}" "$dev" >"$log" 2>&1; then  # warm-up: fills the program cache
        cat "$log"; fail "$dev: the clean run fails"; continue
    fi
    MEDKERN_FAULT_REPORT=1 "$prog" "${seed[@]}" "$dev" >"$log" 2>&1
    rc=$?
    H=$(field host_allocs "$log"); D=$(field device_allocs "$log"); C=$(field device_calls "$log")
    sum=$(sed -n "s/^fault-injection: .*: checksum \([0-9a-f]*\)$/\1/p" "$log")
    if [ $rc -ne 0 ] || [ -z "$H" ] || [ -z "$sum" ]; then
        cat "$log"; fail "$dev: the counting run fails (rc=$rc)"; continue
    fi
    if [ "$(field live_host "$log")" != 0 ] || [ "$(field live_device "$log")" != 0 ]; then
        fail "$dev: the clean run ends with live allocations: $(grep medkern-fault "$log")"
    fi
    echo "fault_injection: $dev: $H host allocations, $D device allocations, $C device calls, checksum $sum"

    for kind in $kinds; do
        case $kind in
        host_alloc) var=MEDKERN_FAULT_HOST_ALLOC total=$H want=MK_ERR_OUT_OF_MEMORY ;;
        device_alloc) var=MEDKERN_FAULT_DEVICE_ALLOC total=$D want=MK_ERR_OUT_OF_MEMORY ;;
        device_lost) var=MEDKERN_FAULT_DEVICE_LOST total=$C want=MK_ERR_DEVICE ;;
        *) fail "unknown kind $kind"; continue ;;
        esac
        [ "$total" -gt 0 ] || { echo "fault_injection: $dev: $kind: no points"; continue; }
        t0=$SECONDS tested=0 surfaced=0 absorbed=0
        : >"$tmp/absorbed"
        for ((n = 1; n <= total; n += stride)); do
            [ $((n + stride)) -gt "$total" ] && [ "$n" -ne "$total" ] && points=("$n" "$total") || points=("$n")
            for p in "${points[@]}"; do
                out="$tmp/run.log"
                env "$var=$p" "$prog" "${seed[@]}" "$dev" >"$out" 2>&1
                rc=$?
                tested=$((tested + 1))
                what="$dev: $var=$p"
                hit=$(field injected "$out")
                site=${hit#*@}
                if [ $rc -ne 0 ]; then
                    fail "$what: exit $rc"; tail -30 "$out"; continue
                fi
                if [ "${hit%@*}" != "$kind#$p" ]; then
                    fail "$what: the report says injected=$hit"; continue
                fi
                if [ "$(field live_host "$out")" != 0 ] || [ "$(field live_device "$out")" != 0 ]; then
                    fail "$what (at $site): leaks: $(grep medkern-fault "$out")"; continue
                fi
                lines=$(grep -c -- "-> $want: " "$out")
                others=$(grep -c -- "-> MK_" "$out")
                got=$(sed -n "s/^fault-injection: .*: checksum \([0-9a-f]*\)$/\1/p" "$out")
                if [ "$kind" = device_lost ]; then
                    if [ "$lines" -ne 1 ] || [ "$others" -ne 1 ] || ! grep -q "recovered with a new context" "$out"; then
                        fail "$what (at $site): want one $want and a recovery"; grep -- "fault-injection" "$out"
                        continue
                    fi
                    surfaced=$((surfaced + 1))
                elif [ "$lines" -eq 1 ] && [ "$others" -eq 1 ]; then
                    [ "$got" = "$sum" ] || { fail "$what (at $site): checksum $got, clean run $sum"; continue; }
                    surfaced=$((surfaced + 1))
                elif [ "$others" -eq 0 ] && [[ "$site" =~ $ABSORBED_RE ]]; then
                    [ "$got" = "$sum" ] || { fail "$what (at $site): absorbed, but checksum $got != $sum"; continue; }
                    absorbed=$((absorbed + 1))
                    echo "${site%%:*}(${site#*(}" >>"$tmp/absorbed"
                else
                    fail "$what (at $site): $lines x '$want', $others failures in all (want exactly one)"
                    grep -- "fault-injection" "$out"
                fi
            done
        done
        sites=$(sort "$tmp/absorbed" | uniq -c | awk '{printf "%s%s x%s", (NR > 1 ? ", " : ""), $2, $1}')
        echo "fault_injection: $dev: $kind: $tested of $total points (stride $stride), $surfaced failed" \
             "the call as they should, $absorbed absorbed by a fallback${sites:+ ($sites)}, $((SECONDS - t0))s"
    done
done
[ $failed -eq 0 ] && echo "fault_injection: all points passed" || echo "fault_injection: FAILED"
exit $failed
