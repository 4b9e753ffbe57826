#!/usr/bin/env bash
# The medkern command line: usage and exit codes (0 ok, 1 failure, 2 bad usage or input),
# `info` (text and JSON), `kernels` (registry, per-device choice), `run-model`.
# Usage: bash cli_basics.sh path/to/medkern
set -u
MK=${1:?usage: cli_basics.sh path/to/medkern}
[ -x "$MK" ] || { echo "FAIL: $MK is not an executable" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
unset MEDKERN_KERNELS

OPS="attention_prefill attention_decode kv_append kv_copy_blocks qgemm gemm rmsnorm layernorm rope silu_mul gelu_mul add"
. "$(dirname "$0")/../support/cli_lib.sh"

# ---- top level
expect 0 --help && {
    has "$tmp/out" '^usage: medkern' "--help"
    for cmd in info kernels run-model; do has "$tmp/out" "^  $cmd " "--help lists $cmd"; done
}
expect 0 -h
expect 0 help
expect 2 && has "$tmp/err" 'usage: medkern' "no command prints the usage on stderr"
expect 2 nosuch-command && has "$tmp/err" 'unknown command "nosuch-command"' "unknown command"
expect 2 --bogus
expect 0 --version && has "$tmp/out" '^medkern 0\.1\.0' "--version"

# ---- every command: --help exits 0 with its usage, a bad option exits 2
for cmd in info kernels run-model; do
    expect 0 "$cmd" --help && has "$tmp/out" "^usage: medkern $cmd" "$cmd --help"
    expect 0 "$cmd" -h
    expect 2 "$cmd" --no-such-option && has "$tmp/err" 'unknown option' "$cmd --no-such-option"
    expect 2 "$cmd" stray-argument
done

# ---- info
expect 0 info && {
    has "$tmp/out" '^ref +reference ' "info lists the ref device"
    has "$tmp/out" '^device +type +name' "info table header"
    has "$tmp/out" 'build: cuda=' "info build features"
}
expect 0 info --json && {
    checks=$((checks + 1))
    if command -v python3 >/dev/null 2>&1; then
        python3 -m json.tool "$tmp/out" >/dev/null 2>"$tmp/json_err" ||
            fail "info --json is not valid JSON: $(head -c 300 "$tmp/json_err")"
        python3 - "$tmp/out" <<'PY' || fail "info --json content"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["version"] == "0.1.0", d["version"]
devs = d["devices"]
assert devs and devs[0]["id"] == "ref" and devs[0]["backend"] == "ref", devs[:1]
for x in devs:
    for key in ("id", "backend", "type", "name", "memory_bytes", "compute_units", "features"):
        assert key in x, (key, x)
PY
    else
        echo "note: python3 not found, info --json not parsed" >&2
        has "$tmp/out" '"devices"' "info --json"
    fi
}
expect 2 info --json --bogus

# ---- kernels: every op with ref.scalar
expect 0 kernels && for op in $OPS; do
    checks=$((checks + 1))
    awk -v op="$op" '$0 == op { inop = 1; next } /^[^ ]/ { inop = 0 } inop && $1 == "ref.scalar" && /backend ref/ { found = 1 }
                     END { exit !found }' "$tmp/out" || fail "kernels: op $op has no ref.scalar line"
done
expect 0 kernels --device ref && {
    n=$(grep -c '^chosen: ref\.scalar$' "$tmp/out")
    checks=$((checks + 1))
    [ "$n" = 12 ] || fail "kernels --device ref: $n ops say 'chosen: ref.scalar', want 12"
    for op in $OPS; do has "$tmp/out" "^$op on ref " "kernels --device ref explains $op"; done
}
expect 0 kernels --device=ref --op gemm && {
    has "$tmp/out" '^gemm on ref ' "kernels --op gemm"
    has "$tmp/out" '^chosen: ref\.scalar$' "kernels --op gemm chosen"
    hasnt "$tmp/out" '^rmsnorm' "kernels --op gemm shows only gemm"
}
expect 0 kernels --op rope && hasnt "$tmp/out" '^gemm$' "kernels --op rope shows only rope"
expect 0 kernels --device auto
expect 2 kernels --device nosuch && has "$tmp/err" 'nosuch' "kernels --device nosuch names the device"
expect 2 kernels --device cuda:99
expect 2 kernels --device
expect 2 kernels --op nosuch_op
expect 2 kernels --op
MEDKERN_KERNELS="add=ref.scalar" expect 0 kernels --device ref --op add &&
    has "$tmp/out" '^chosen: ref\.scalar \(forced\)$' "MEDKERN_KERNELS shows as forced"
MEDKERN_KERNELS="add" expect 2 kernels --device ref && has "$tmp/err" 'MEDKERN_KERNELS' "bad MEDKERN_KERNELS is named"

# ---- run-model
expect 0 run-model --prompt 8 --gen 2 && {
    has "$tmp/out" '^prefill: 8 tokens in .* tokens/s' "run-model prefill tokens/s"
    has "$tmp/out" '^decode: +2 tokens in .* tokens/s' "run-model decode tokens/s"
}
expect 0 run-model --layers 1 --hidden 64 --prompt 3 --gen 0 && hasnt "$tmp/out" '^decode:' "run-model --gen 0"
expect 0 run-model --prompt=4 --gen=1 --seed=7
for bad in "--prompt 0" "--prompt -1" "--prompt abc" "--prompt 8x" "--prompt" "--gen -1" "--layers 0" \
           "--hidden 33" "--hidden 16" "--seed -2" "--prompt 4097"; do
    # shellcheck disable=SC2086
    expect 2 run-model $bad
done

echo "cli_basics: $checks checks, $fails failed"
[ "$fails" = 0 ]
