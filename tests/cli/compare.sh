#!/usr/bin/env bash
# `medkern compare` on hand-made Google Benchmark JSON (tests/data/compare/): exit codes
# (0 no regression, 1 regression, 2 bad input) and the key lines of the report.
#
# The files (6 repetitions each unless said): base.json; regression.json (gemm +10%,
# rmsnorm +2% yet significant, the rest unchanged); noise.json (all within noise,
# silu_mul's median +7.8% with widely overlapping samples); improvement.json (gemm -20%);
# added_removed.json (kv_append fails, qgemm/fp8 runs now, layernorm is new);
# two_reps.json (2 repetitions); single_old/new.json (one repetition, old-style entries,
# different time units); aggregates_only.json; other_device.json; and bad input.
# The p-values in the patterns were checked with scipy.stats.mannwhitneyu.
# Usage: bash compare.sh path/to/medkern
set -u
MK=${1:?usage: compare.sh path/to/medkern}
[ -x "$MK" ] || { echo "FAIL: $MK is not an executable" >&2; exit 1; }
D=${MEDKERN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/data/compare
[ -f "$D/base.json" ] || { echo "FAIL: no test data in $D" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

. "$(dirname "$0")/../support/cli_lib.sh"
# row NAME REST: the table row of benchmark NAME matches "| NAME | REST"
row() {
    has "$tmp/out" "^\| $1 \| $2" "$3"
}
G=gemm/f16/512/manual_time
A=attention_decode/b8/manual_time
R=rmsnorm/4096/manual_time
K=kv_append/t64/manual_time
S=silu_mul/wide/manual_time
Q=qgemm/fp8/manual_time

# ---- help and usage
expect 0 compare --help && {
    has "$tmp/out" '^usage: medkern compare OLD.json NEW.json' "--help usage"
    has "$tmp/out" 'no repetitions: threshold only' "--help states the single-repetition rule"
    has "$tmp/out" 'Mann-Whitney' "--help names the test"
}
expect 2 compare
expect 2 compare "$D/base.json" && has "$tmp/err" 'usage: medkern compare' "one file"
expect 2 compare "$D/base.json" "$D/base.json" "$D/base.json" && has "$tmp/err" 'too many files' "three files"
expect 2 compare "$D/base.json" "$D/base.json" --bogus && has "$tmp/err" 'unknown option "--bogus"' "unknown option"
for bad in "--alpha 0" "--alpha 1" "--alpha abc" "--alpha -0.1" "--threshold -1" "--threshold x" \
           "--threshold" "--alpha" "--markdown" "--json"; do
    # shellcheck disable=SC2086
    expect 2 compare "$D/base.json" "$D/base.json" $bad
done

# ---- a clear regression: exit 1
expect 1 compare "$D/base.json" "$D/regression.json" && {
    has "$tmp/out" '^\| benchmark \| old \| new \| delta % \| p-value \| verdict \|$' "table header"
    row "$G" '1\.000 ms \(n=6\) \| 1\.100 ms \(n=6\) \| \+10\.00 \| 0\.0022 \| regression \|$' "gemm regressed"
    row "$R" '.*\| \+2\.00 \| 0\.0022 \| noise \|$' "rmsnorm: significant but under the threshold"
    row "$A" '.*\| \+0\.08 \| 0\.8182 \| noise \|$' "attention unchanged"
    row "$Q" '- \| - \| - \| - \| no-data \(skipped: unsupported' "skipped on both sides"
    has "$tmp/out" '^geometric mean of new/old over 5 common benchmarks: 1\.0235 \(\+2\.35%\)$' "geomean"
    has "$tmp/out" '^summary: 1 regression, 0 improvements, 4 noise, 0 added, 0 removed' "summary"
    has "$tmp/out" '^result: FAIL' "result line"
}
expect 0 compare "$D/base.json" "$D/regression.json" --threshold 15 && row "$G" '.*\| noise \|$' "--threshold 15"
expect 1 compare "$D/base.json" "$D/regression.json" --threshold=1.5 && {
    row "$R" '.*\| regression \|$' "--threshold 1.5 catches rmsnorm"
    has "$tmp/out" '^summary: 2 regressions' "two regressions"
}
# alpha 0.001 is out of reach of 6 vs 6 repetitions (smallest p 2/924): threshold only
expect 1 compare "$D/base.json" "$D/regression.json" --alpha 0.001 &&
    row "$G" '.*\| regression \(too few repetitions: threshold only\) \|$' "unreachable alpha"

# ---- noise: exit 0
expect 0 compare "$D/base.json" "$D/noise.json" && {
    row "$S" '102\.5 us \(n=6\) \| 110\.5 us \(n=6\) \| \+7\.80 \| 0\.6991 \| noise \|$' "large but insignificant"
    row "$R" '.*\| 0\.9360 \| noise \|$' "ties: normal approximation"
    hasnt "$tmp/out" '\| (regression|improvement)' "noise has no verdict"
    has "$tmp/out" '^result: ok$' "result ok"
}
expect 0 compare "$D/base.json" "$D/base.json" && {
    has "$tmp/out" 'geometric mean of new/old over 5 common benchmarks: 1\.0000 \(\+0\.00%\)' "self: geomean 1"
    has "$tmp/out" '^summary: 0 regressions, 0 improvements, 5 noise' "self: all noise"
}

# ---- improvement: exit 0
expect 0 compare "$D/base.json" "$D/improvement.json" && {
    row "$G" '1\.000 ms \(n=6\) \| 800\.0 us \(n=6\) \| -20\.00 \| 0\.0022 \| improvement \|$' "gemm improved"
    has "$tmp/out" '^summary: 0 regressions, 1 improvement,' "summary"
}
# ... and the other way round it is a regression
expect 1 compare "$D/improvement.json" "$D/base.json" && row "$G" '.*\| \+25\.00 \| 0\.0022 \| regression \|$' "reverse"

# ---- added and removed benchmarks: exit 0
expect 0 compare "$D/base.json" "$D/added_removed.json" && {
    row "$K" '40\.05 us \(n=6\) \| - \| - \| - \| removed \(error in new: error: mk_kv_cache_append' "removed by a failure"
    row "$Q" '- \| 500\.0 us \(n=6\) \| - \| - \| added \(error in old: skipped' "added: ran now"
    row layernorm/4096/manual_time '- \| 14\.00 us \(n=6\) \| - \| - \| added \|$' "added: new"
    has "$tmp/out" '^summary: 0 regressions, 0 improvements, 4 noise, 2 added, 1 removed' "summary"
}

# ---- too few and single repetitions: threshold only
expect 1 compare "$D/base.json" "$D/two_reps.json" && {
    row "$G" '.*\(n=2\) \| \+10\.20 \| 0\.0714 \| regression \(too few repetitions: threshold only\) \|$' "2 reps"
    row "$R" '12\.01 us \(n=6\) \| - \| - \| - \| removed \|$' "missing from new"
}
expect 1 compare "$D/single_old.json" "$D/single_new.json" && {
    row "$G" '1\.000 ms \| 1\.120 ms \| \+12\.00 \| - \| regression \(no repetitions: threshold only\) \|$' "single: us vs ms"
    row rope/manual_time '50\.00 us \| 51\.00 us \| \+2\.00 \| - \| noise \(no repetitions: threshold only\) \|$' "single: us vs ns"
    row add/manual_time '.*\| -10\.00 \| - \| improvement \(no repetitions: threshold only\) \|$' "single: improvement"
}
expect 0 compare "$D/single_old.json" "$D/aggregates_only.json" &&
    row "$G" '1\.000 ms \| 1\.000 ms \| \+0\.00 \| - \| noise \(no repetitions' "aggregates only: the median"

# ---- different devices: a warning, no failure
expect 0 compare "$D/base.json" "$D/other_device.json" && {
    has "$tmp/err" 'different devices \(ref-medkern-scalar-reference-host-double-accumulation, cuda-nvidia-h100-80gb-hbm3\)' "device warning on stderr"
    has "$tmp/out" '^\*\*warning\*\*: the files come from different devices' "device warning in the report"
}

# ---- --markdown and --json
expect 1 compare "$D/base.json" "$D/regression.json" --markdown "$tmp/report.md" --json="$tmp/report.json" && {
    checks=$((checks + 1))
    cmp -s "$tmp/out" "$tmp/report.md" || fail "--markdown differs from stdout"
    checks=$((checks + 1))
    if command -v python3 >/dev/null 2>&1; then
        python3 - "$tmp/report.json" <<'PY' || fail "--json content"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["regressed"] is True and d["alpha"] == 0.05 and d["threshold_pct"] == 5, d
assert d["counts"] == {"regression": 1, "improvement": 0, "noise": 4, "added": 0, "removed": 0,
                       "no-data": 1}, d["counts"]
assert abs(d["geomean_ratio"] - 1.02345156) < 1e-6, d["geomean_ratio"]
b = {x["name"]: x for x in d["benchmarks"]}
g = b["gemm/f16/512/manual_time"]
assert g["verdict"] == "regression" and g["p_method"] == "exact", g
assert abs(g["p_value"] - 2 / 924) < 1e-12 and g["u"] == 36, g       # 2 / C(12, 6)
assert g["old"]["median_ns"] == 1e6 and g["new"]["median_ns"] == 1.1e6 and g["new"]["repetitions"] == 6
assert b["rmsnorm/4096/manual_time"]["p_method"] == "exact"
q = b["qgemm/fp8/manual_time"]
assert q["verdict"] == "no-data" and q["old"] is None and q["p_value"] is None, q
PY
    else
        has "$tmp/report.json" '"regressed":[[:space:]]*true' "--json regressed"
    fi
}
expect 2 compare "$D/base.json" "$D/base.json" --markdown "$tmp/no/such/dir/x.md" &&
    has "$tmp/err" 'cannot write .*x\.md' "unwritable --markdown"

# ---- bad input: exit 2, with the file named
expect 2 compare "$D/base.json" "$D/nosuch.json" && has "$tmp/err" 'cannot read .*nosuch\.json' "missing file"
expect 2 compare "$D/nosuch.json" "$D/base.json" && has "$tmp/err" 'nosuch\.json' "missing old file"
expect 2 compare "$D/base.json" "$D/malformed.json" && has "$tmp/err" 'malformed\.json: malformed JSON near line' "malformed"
expect 2 compare "$D/malformed.json" "$D/base.json" && has "$tmp/err" 'malformed\.json: malformed JSON' "malformed old"
: >"$tmp/empty.json"
expect 2 compare "$tmp/empty.json" "$D/base.json" && has "$tmp/err" 'empty\.json: the file is empty' "empty file"
expect 2 compare "$D/base.json" "$D/no_benchmarks.json" &&
    has "$tmp/err" 'no_benchmarks\.json: no "benchmarks" array' "no benchmarks key"
expect 2 compare "$D/base.json" "$D/benchmarks_not_array.json" &&
    has "$tmp/err" 'benchmarks_not_array\.json: no "benchmarks" array' "benchmarks not an array"
expect 2 compare "$D/base.json" "$D/disjoint.json" && has "$tmp/err" 'no benchmark with timings in both' "nothing in common"
expect 2 compare "$D/base.json" "$D/bad_unit.json" && has "$tmp/err" 'bad_unit\.json: .*time_unit "fortnights"' "bad unit"
expect 2 compare "$D/base.json" "$D/no_real_time.json" && has "$tmp/err" 'no_real_time\.json: .*real_time' "no real_time"
expect 2 compare "$D/base.json" "$D"
hasnt "$tmp/out" '.' "nothing on stdout for bad input"

echo "compare: $((checks - fails)) passed, $fails failed"
[ "$fails" = 0 ]
