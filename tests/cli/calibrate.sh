#!/usr/bin/env bash
# `medkern calibrate` on the ref device with the cache in a temporary directory: the JSON
# fields exist and the measurements are positive, the cache file is written where
# MEDKERN_CACHE_DIR (else XDG_CACHE_HOME, else HOME) says, a second run reads it,
# --no-cache measures again, a damaged cache is measured over; bad usage exits 2.
# Timings are never compared with anything but zero.
# Usage: bash calibrate.sh path/to/medkern
set -u
MK=${1:?usage: calibrate.sh path/to/medkern}
[ -x "$MK" ] || { echo "FAIL: $MK is not an executable" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
unset MEDKERN_KERNELS XDG_CACHE_HOME
export MEDKERN_CACHE_DIR=$tmp/cache
SLUG=ref-medkern-scalar-reference-host-double-accumulation
CACHE=$MEDKERN_CACHE_DIR/calibration/$SLUG.json

. "$(dirname "$0")/../support/cli_lib.sh"
# json_check FILE SOURCE: the fields of a calibration JSON (python3 when present).
json_check() {
    checks=$((checks + 1))
    if command -v python3 >/dev/null 2>&1; then
        python3 - "$1" "$2" "$SLUG" <<'PY' || fail "calibrate --json content ($2)"
import json, sys
d = json.load(open(sys.argv[1]))
source, slug = sys.argv[2], sys.argv[3]
for key in ("copy_bandwidth_gbs", "copy_bytes", "host_read_bandwidth_gbs", "host_read_bytes",
            "host_threads", "gemm_f16_gflops", "gemm_size"):
    v = d.get(key)
    assert isinstance(v, (int, float)) and v > 0, (key, v)
assert d["host_threads"] == 2 and d["gemm_size"] == 256, d
assert d["copy_bytes"] >= 64 << 20, d["copy_bytes"]
for key in ("device_name", "driver", "medkern_version", "date"):
    assert isinstance(d.get(key), str) and d[key], (key, d.get(key))
assert d["schema"] == 1 and d["device"] == "ref" and d["backend"] == "ref", d
assert d["slug"] == slug, d["slug"]
assert d["source"] == source, (d["source"], source)
assert d["cache_file"].endswith("/calibration/" + slug + ".json"), d["cache_file"]
PY
    else
        for key in copy_bandwidth_gbs host_read_bandwidth_gbs gemm_f16_gflops; do
            grep -Eq "\"$key\":[[:space:]]*[0-9]*[1-9]" "$1" || fail "calibrate --json: $key"
        done
    fi
}

# ---- usage
expect 0 calibrate --help && has "$tmp/out" '^usage: medkern calibrate' "--help"
expect 2 calibrate --bogus && has "$tmp/err" 'unknown option "--bogus"' "unknown option"
expect 2 calibrate stray
expect 2 calibrate --device
expect 2 calibrate --device nosuch && has "$tmp/err" 'nosuch' "unknown device named"
expect 2 calibrate --device cuda:99 --json
expect 2 calibrate --device opencl:99
[ -e "$MEDKERN_CACHE_DIR" ] && fail "a failed run created the cache directory"

# ---- first run measures and writes the cache
expect 0 calibrate --device ref --json && {
    json_check "$tmp/out" measured
    checks=$((checks + 1))
    [ -f "$CACHE" ] || fail "no cache file $CACHE"
}
cp "$CACHE" "$tmp/first.json" 2>/dev/null
# ---- second run reads it (same numbers, same date)
expect 0 calibrate --device ref --json && {
    json_check "$tmp/out" cache
    if command -v python3 >/dev/null 2>&1; then
        checks=$((checks + 1))
        python3 - "$tmp/out" "$tmp/first.json" <<'PY' || fail "the cached run differs from the file"
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
for k in b:
    assert a[k] == b[k], (k, a[k], b[k])
PY
    fi
}
# ---- the table
expect 0 calibrate --device ref && {
    has "$tmp/out" '^device ref: ' "table: device line"
    has "$tmp/out" '^copy bandwidth \(mk_buffer_copy, [0-9]+ MiB\) +[0-9.]+ GB/s' "table: copy"
    has "$tmp/out" '^host read \(2 threads, [0-9]+ MiB\) +[0-9.]+ GB/s' "table: host read"
    has "$tmp/out" '^dense GEMM f16 \(mk_gemm, n = 256\) +[0-9.]+ GFLOP/s' "table: gemm"
    has "$tmp/out" "^cache: .*$SLUG\.json" "table: cache path"
    has "$tmp/out" 'read from the cache' "table: from the cache"
}
# ---- --no-cache measures again and rewrites the file
expect 0 calibrate --device ref --json --no-cache && json_check "$tmp/out" measured
# ---- a damaged cache is measured over (with a note), then read again
echo '{"schema": 1, "device": "ref"' >"$CACHE"
expect 0 calibrate --device ref --json && {
    json_check "$tmp/out" measured
    has "$tmp/err" 'ignoring the cache' "damaged cache noted"
}
expect 0 calibrate --device ref --json && json_check "$tmp/out" cache
# ---- a cache from another medkern version is not used
sed -i 's/"medkern_version":[^,]*/"medkern_version": "0.0.0-old"/' "$CACHE"
expect 0 calibrate --device ref --json && json_check "$tmp/out" measured
# ---- XDG_CACHE_HOME when MEDKERN_CACHE_DIR is unset
(
    unset MEDKERN_CACHE_DIR
    XDG_CACHE_HOME=$tmp/xdg "$MK" calibrate --device ref --json >"$tmp/xdg.out" 2>&1
)
checks=$((checks + 1))
[ -f "$tmp/xdg/medkern/calibration/$SLUG.json" ] || fail "XDG_CACHE_HOME: no cache file ($(head -c 300 "$tmp/xdg.out"))"

echo "calibrate: $((checks - fails)) passed, $fails failed"
[ "$fails" = 0 ]
