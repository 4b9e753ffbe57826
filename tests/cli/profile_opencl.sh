#!/usr/bin/env bash
# `medkern profile` on the first OpenCL device (PoCL in CI): --validate against the
# reference model, the kernel variants the report records, quantized weights and KV
# caches, and a forced variant that cannot run a step (the dispatcher's message, exit 1).
# SKIP (77), not pass, without an OpenCL device. Tiny configurations: seconds.
# Usage: bash profile_opencl.sh path/to/medkern
set -u
MK=${1:?usage: profile_opencl.sh path/to/medkern}
[ -x "$MK" ] || { echo "FAIL: $MK is not an executable" >&2; exit 1; }
SRC=${MEDKERN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
CFG=$SRC/tests/data/configs
if ! "$MK" info | grep -q '^opencl:0'; then
    echo "SKIP: no OpenCL device"
    exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
unset MEDKERN_KERNELS
# the OpenCL program cache stays where the user's is (built programs are reused)

. "$(dirname "$0")/../support/cli_lib.sh"
pycheck() {
    local name=$1 file=$2
    shift 2
    command -v python3 >/dev/null 2>&1 || return 0
    checks=$((checks + 1))
    python3 - "$file" <<PY || fail "$name"
import json, sys
d = json.load(open(sys.argv[1]))
def row(phase, step):
    r = [k for k in d["kernels"] if k["phase"] == phase and k["step"] == step]
    assert len(r) == 1, (phase, step, len(r))
    return r[0]
$*
PY
}

# the executor on the device against the reference model: a real error, under the bound
expect 0 profile --validate --device opencl:0 --json && pycheck "--validate on opencl:0" "$tmp/out" '
v = d["validation"]
assert v["passed"] is True and 0 < v["rel_error"] <= v["tolerance"] == 2e-5, v
assert d["settings"]["device"] == "opencl:0" and d["settings"]["backend"] == "opencl"
assert all(k["variant"].startswith("opencl.") for k in d["kernels"]), [k["variant"] for k in d["kernels"]]'
expect 0 profile --validate --device opencl:0 && has "$tmp/err" 'validate on opencl:0 passed' "--validate table"

# quantized weights and an int8 cache: qgemm variants, decode GEMV vs prefill tiles
expect 0 profile "$CFG/tiny-mistral.json" --device opencl:0 --weights w4g128 --kv int8 --prompt 16 --gen 2 --json &&
    pycheck "w4g128 + int8 on opencl" "$tmp/out" '
assert d["settings"]["weights"] == "w4g128" and d["settings"]["kv"] == "int8"
assert row("prefill", "attn.qkv_proj")["op"] == "qgemm" and row("prefill", "final.lm_head")["op"] == "gemm"
assert row("decode", "attn.qkv_proj")["variant"].startswith("opencl.q"), row("decode", "attn.qkv_proj")
for k in d["kernels"]:
    assert k["time_ms"] > 0 and k["variant"].startswith("opencl."), k'
expect 0 profile "$CFG/tiny-gemma3.json" --device opencl:0 --layers 2 --weights fp8 --kv fp8 --prompt 12 --gen 1 --json &&
    pycheck "gemma3 fp8 on opencl" "$tmp/out" '
assert row("prefill", "attn.attention_local")["variant"].startswith("opencl.")'

# a forced variant that cannot run a step: the dispatcher's reason, exit 1
MEDKERN_KERNELS=gemm=opencl.gemv expect 1 profile "$CFG/tiny-llama.json" --device opencl:0 --prompt 8 --gen 1 &&
    has "$tmp/err" 'attn\.qkv_proj \(layer 0\): forced variant opencl.gemv does not support this call' "unsupported variant"

echo "profile_opencl: $((checks - fails)) passed, $fails failed"
[ "$fails" = 0 ]
