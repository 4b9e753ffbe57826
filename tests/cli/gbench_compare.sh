#!/usr/bin/env bash
# Google Benchmark's own comparison tool (tools/compare.py of the google-benchmark project,
# shipped by Debian's libbenchmark-tools as /usr/share/benchmark/compare.py; it needs
# python3-scipy) against the JSON our benchmarks write, and against `medkern compare`:
#  - compare.py reads the JSON of two smoke runs of bench_ops on the ref device (the smoke
#    test's arguments, with 3 repetitions) and exits 0;
#  - it compares the same benchmarks as `medkern compare`, and its U-test p-values on
#    real_time equal ours (3 repetitions: both use the exact distribution, or both the
#    normal approximation when times tie);
#  - on the hand-made files of tests/data/compare, its p-value for the regression is
#    2/C(12,6), as ours.
# Skipped (77) when compare.py, a python3 with scipy, or the benchmarks are missing.
# Usage: bash gbench_compare.sh path/to/medkern   (env: MEDKERN_BINARY_DIR, MEDKERN_SOURCE_DIR;
#        GBENCH_COMPARE_PY overrides the path of compare.py)
set -u
MK=${1:?usage: gbench_compare.sh path/to/medkern}
SRC=${MEDKERN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BIN=${MEDKERN_BINARY_DIR:-$(dirname "$(dirname "$(dirname "$MK")")")}
COMPARE_PY=${GBENCH_COMPARE_PY:-/usr/share/benchmark/compare.py}
BENCH=$BIN/bench/bench_ops

skip() {
    echo "SKIP: $*"
    exit 77
}
[ -f "$COMPARE_PY" ] || skip "no $COMPARE_PY (apt-get install libbenchmark-tools python3-scipy)"
PY=""
for p in python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import scipy.stats, numpy' 2>/dev/null; then
        PY=$p
        break
    fi
done
[ -n "$PY" ] || skip "no python3 with scipy and numpy for compare.py (apt-get install python3-scipy)"
[ -x "$BENCH" ] || skip "no $BENCH (built without MEDKERN_BENCH)"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
checks=0
fails=0
fail() {
    echo "FAIL: $*" >&2
    fails=$((fails + 1))
}
check() { # check DESCRIPTION COMMAND...
    local what=$1
    shift
    checks=$((checks + 1))
    "$@" >"$tmp/log" 2>&1 || fail "$what: $(tail -c 1500 "$tmp/log")"
}

# Two smoke runs (as bench/CMakeLists.txt's bench_smoke_bench_ops_ref), 3 repetitions.
for run in a b; do
    check "bench_ops run $run" "$BENCH" --device ref --shapes small --benchmark_min_time=0.01 \
        --benchmark_repetitions=3 --benchmark_out="$tmp/$run.json" --benchmark_out_format=json
done

# agree A.json B.json: both tools on the same pair; the same benchmarks compared (those
# compare.py skips, e.g. for time units that differ between the files, excepted) and the
# same U-test p-values on real_time.
agree() {
    "$MK" compare "$1" "$2" --json "$tmp/mk.json" >"$tmp/mk.md" 2>"$tmp/mk.err"
    rc=$?
    checks=$((checks + 1))
    [ "$rc" = 0 ] || [ "$rc" = 1 ] || fail "medkern compare $1 $2 -> exit $rc: $(cat "$tmp/mk.err")"
    check "compare.py on $(basename "$1") and $(basename "$2")" "$PY" "$COMPARE_PY" --no-color \
        -d "$tmp/gb.json" benchmarks "$1" "$2"
    checks=$((checks + 1))
    grep -q '^Comparing .* to ' "$tmp/log" || fail "compare.py printed no comparison"
    check "compare.py and medkern compare agree on $(basename "$2")" "$PY" - "$tmp/gb.json" \
        "$tmp/mk.json" "$3" <<'PY'
import json, sys
gb = json.load(open(sys.argv[1]))
mk = json.load(open(sys.argv[2]))
min_equal = int(sys.argv[3])
ours = {b["name"]: b for b in mk["benchmarks"]}
theirs = {b["name"]: b for b in gb if b.get("run_type") == "iteration"}
assert set(theirs) <= set(ours), sorted(set(theirs) - set(ours))
assert {n for n in theirs if ours[n]["verdict"] != "no-data"} <= {n for n in ours if ours[n]["old"] and ours[n]["new"]}
equal = 0
for name, b in theirs.items():
    u = b.get("utest") or {}
    if u.get("time_pvalue") is None:
        continue
    p = ours[name]["p_value"]
    assert p is not None and abs(p - u["time_pvalue"]) <= 1e-9 * max(1.0, p), (name, p, u["time_pvalue"])
    equal += 1
assert equal >= min_equal, f"only {equal} p-values compared"
print(f"{len(theirs)} benchmarks, {equal} p-values equal")
PY
}

# The smoke JSON: every benchmark compared by both, every p-value equal.
n=$("$PY" -c 'import json,sys; print(len({b["name"] for b in json.load(open(sys.argv[1]))["benchmarks"] if b.get("run_type") == "iteration"}))' "$tmp/a.json")
agree "$tmp/a.json" "$tmp/b.json" "$n"
# The hand-made files: rmsnorm's p is 2/C(12,6) in both (compare.py leaves out gemm,
# whose time unit differs between the files).
agree "$SRC/tests/data/compare/base.json" "$SRC/tests/data/compare/regression.json" 3
check "compare.py's p-value of rmsnorm" "$PY" -c '
import json, sys
gb = {b["name"]: b for b in json.load(open(sys.argv[1])) if b.get("run_type") == "iteration"}
p = gb["rmsnorm/4096/manual_time"]["utest"]["time_pvalue"]
assert abs(p - 2 / 924) < 1e-12, p' "$tmp/gb.json"

echo "gbench_compare: $((checks - fails)) passed, $fails failed"
[ "$fails" = 0 ]
