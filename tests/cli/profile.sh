#!/usr/bin/env bash
# `medkern profile` end to end on tiny configurations (tests/data/configs/tiny-*.json) so
# every run takes seconds: usage and bad input (exit 2 with a message naming the
# argument), --list, one run per family on the ref device checked field by field (and
# against docs/profile-report.schema.json when python3-jsonschema is there), the layer
# subset and its scaling, the memory budget, the warnings, every output format and
# --from-json, the progress bar (only on a terminal), --validate on ref. The OpenCL
# device's part is profile_opencl.sh.
# Times are never compared with anything but zero.
# Usage: bash profile.sh path/to/medkern
set -u
MK=${1:?usage: profile.sh path/to/medkern}
[ -x "$MK" ] || { echo "FAIL: $MK is not an executable" >&2; exit 1; }
SRC=${MEDKERN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
CFG=$SRC/tests/data/configs
SCHEMA=$SRC/docs/profile-report.schema.json
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
unset MEDKERN_KERNELS XDG_CACHE_HOME
export MEDKERN_CACHE_DIR=$tmp/cache   # no calibration: ceilings "none" unless a test writes one

. "$(dirname "$0")/../support/cli_lib.sh"

# pycheck NAME FILE PYTHON...: runs python with the report loaded as `d` (skips without python3)
pycheck() {
    local name=$1 file=$2
    shift 2
    command -v python3 >/dev/null 2>&1 || return 0
    checks=$((checks + 1))
    python3 - "$file" "$SCHEMA" <<PY || fail "$name"
import json, sys
d = json.load(open(sys.argv[1]))
schema_file = sys.argv[2]
def row(phase, step):
    r = [k for k in d["kernels"] if k["phase"] == phase and k["step"] == step]
    assert len(r) == 1, (phase, step, len(r))
    return r[0]
def steps(phase):
    return [k["step"] for k in d["kernels"] if k["phase"] == phase]
$*
PY
}
# schema FILE: the report validates against docs/profile-report.schema.json
schema() {
    command -v python3 >/dev/null 2>&1 && python3 -c 'import jsonschema' 2>/dev/null || return 0
    checks=$((checks + 1))
    python3 - "$1" "$SCHEMA" <<'PY' || fail "$1 does not validate against the report schema"
import json, sys, jsonschema
jsonschema.validate(json.load(open(sys.argv[1])), json.load(open(sys.argv[2])))
PY
}

# ---- usage and bad input: exit 2, the message names what is wrong
expect 0 profile --help && has "$tmp/out" '^usage: medkern profile' "--help"
expect 2 profile && has "$tmp/err" 'name a model' "no model"
expect 2 profile --bogus && has "$tmp/err" 'unknown option "--bogus"' "unknown option"
expect 2 profile meditron-7b llama-2-7b && has "$tmp/err" 'one model at a time' "two models"
expect 2 profile --list meditron-7b && has "$tmp/err" 'exclude each other' "--list with a model"
expect 2 profile nosuch-model && has "$tmp/err" 'unknown model "nosuch-model"' "unknown model"
expect 2 profile meditron-8b && has "$tmp/err" 'did you mean .*meditron3-8b' "close names"
expect 2 profile "$CFG/bad-truncated.json" && has "$tmp/err" 'bad-truncated.json: not valid JSON' "truncated config"
expect 2 profile --config "$CFG/bad-gqa.json" && has "$tmp/err" 'num_attention_heads \(32\) is not a multiple of num_key_value_heads \(5\)' "GQA"
expect 2 profile --config "$CFG/bad-head-dim.json" && has "$tmp/err" 'hidden_size \(4000\) is not a multiple of num_attention_heads \(48\)' "head dim"
expect 2 profile --config "$CFG/bad-zero-layers.json" && has "$tmp/err" 'num_hidden_layers is 0' "zero layers"
expect 2 profile --config "$tmp/none.json" && has "$tmp/err" 'cannot open' "missing config"
expect 2 profile "$CFG/tiny-llama.json" --batch 0 && has "$tmp/err" -- '--batch must be an integer in \[1, 4096\]' "batch 0"
expect 2 profile "$CFG/tiny-llama.json" --prompt 99999999 && has "$tmp/err" -- '--prompt must be' "absurd prompt"
expect 2 profile "$CFG/tiny-llama.json" --gen -1 && has "$tmp/err" -- '--gen must be' "negative gen"
expect 2 profile "$CFG/tiny-llama.json" --batch 4096 --prompt 1048576 --device ref &&
    has "$tmp/err" 'exceeds 2\^31-1' "absurd batch x prompt"
expect 2 profile "$CFG/tiny-llama.json" --weights q4 && has "$tmp/err" -- '--weights must be' "unknown format"
expect 2 profile "$CFG/tiny-llama.json" --kv i8 && has "$tmp/err" -- '--kv must be' "unknown kv format"
expect 2 profile "$CFG/tiny-llama.json" --layers 4 --device ref && has "$tmp/err" -- '--layers 4 exceeds the 3 layers' "too many layers"
expect 2 profile "$CFG/tiny-gemma3.json" --layers 1 --device ref && has "$tmp/err" 'local \(sliding-window\) and global' "gemma3 --layers 1"
expect 2 profile "$CFG/tiny-gemma3.json" --weights w4g128 --device ref &&
    has "$tmp/err" 'num_attention_heads \* head_dim is 192' "w4g128 needs K % 128"
expect 2 profile "$CFG/tiny-llama.json" --device nosuch && has "$tmp/err" 'unknown device "nosuch"' "unknown device"
expect 2 profile "$CFG/tiny-llama.json" --max-memory 12X && has "$tmp/err" -- '--max-memory must be' "bad size"

# ---- --list
expect 0 profile --list && {
    has "$tmp/out" '^meditron-7b +llama +32 +4096 +32/32 +128 +11008 +32017 +2048 +- +6\.74B' "--list meditron-7b"
    has "$tmp/out" '^medgemma-4b-it +gemma3 +34 +2560 +8/4 +256 +10240 +262208 +131072 +1024\*29 ' "--list medgemma-4b-it"
    has "$tmp/out" '^biomistral-7b +mistral .* 4096 ' "--list biomistral sliding window"
    has "$tmp/out" '^biomedlm-2.7b +gpt2 +32 +2560 +20/20 +128 +10240 +28896 +1024 ' "--list biomedlm"
}
expect 0 profile --list --json && pycheck "--list --json" "$tmp/out" '
assert len(d) >= 20
m = {x["name"]: x for x in d}
assert m["llama3-med42-8b"]["num_kv_heads"] == 8 and m["llama3-med42-8b"]["vocab_size"] == 128256
assert m["medgemma-4b-it"]["local_layers"] == 29 and m["medgemma-4b-it"]["head_dim"] == 256
assert all(x["source"] and x["verification"] for x in d)'

# ---- one run per family on ref (tiny shapes), checked field by field
expect 0 profile "$CFG/tiny-llama.json" --device ref --layers 2 --prompt 6 --gen 2 --batch 2 --json && {
    cp "$tmp/out" "$tmp/llama.json"
    schema "$tmp/llama.json"
    pycheck "llama report" "$tmp/llama.json" '
s, m = d["settings"], d["model"]
assert d["schema"] == "medkern-profile/1" and d["validation"] is None
assert m["name"] == "tiny-llama" and m["source"] == "config" and m["config_path"].endswith("tiny-llama.json")
assert (m["family"], m["hidden_size"], m["num_layers"], m["num_heads"], m["num_kv_heads"], m["head_dim"]) == ("llama", 256, 3, 8, 4, 32)
assert (s["device"], s["backend"], s["weights"], s["kv"]) == ("ref", "ref", "f16", "f16")
assert (s["batch"], s["prompt"], s["gen"], s["layers_run"], s["layers_total"], s["scaled"]) == (2, 6, 2, 2, 3, True)
assert steps("prefill") == ["attn.norm", "attn.qkv_proj", "attn.rope_q", "attn.rope_k", "attn.kv_append",
    "attn.attention", "attn.o_proj", "attn.residual", "mlp.norm", "mlp.gate_up_proj", "mlp.act", "mlp.down_proj",
    "mlp.residual", "final.norm", "final.lm_head"], steps("prefill")
q = row("prefill", "attn.qkv_proj")
# fused QKV: T = 12, N = (8 + 2*4)*32 = 512, K = 256: 2*12*512*256 per layer, 3 layers
assert q["calls"] == 3 and q["flops"] == 3 * 2 * 12 * 512 * 256 and q["op"] == "gemm" and q["variant"] == "ref.scalar"
assert row("decode", "attn.qkv_proj")["calls"] == 6 and row("decode", "attn.attention")["op"] == "attention_decode"
assert row("prefill", "final.lm_head")["calls"] == 1 and row("decode", "final.lm_head")["calls"] == 2
for k in d["kernels"]:
    assert k["time_ms"] > 0 and k["variant"] == "ref.scalar", k
    assert k["predicted_ms"] is None and k["bound"] is None
for ph in ("prefill", "decode"):
    assert abs(sum(k["share"] for k in d["kernels"] if k["phase"] == ph) - 1) < 1e-9
su = d["summary"]
assert abs(su["ttft_ms"] - sum(k["time_ms"] for k in d["kernels"] if k["phase"] == "prefill")) < 1e-6 * su["ttft_ms"]
assert abs(su["tpot_ms"] * 2 - sum(k["time_ms"] for k in d["kernels"] if k["phase"] == "decode")) < 1e-6 * su["tpot_ms"]
assert abs(su["prefill_tokens_per_s"] - 12 / (su["ttft_ms"] / 1e3)) < 1e-6 * su["prefill_tokens_per_s"]
assert su["mbu"] is None and su["mfu"] is None and d["ceilings"]["source"] == "none"
assert su["memory"]["weights_bytes"] > 0 and su["memory"]["kv_cache_bytes"] > 0
assert any("profiled 2 of 3 layers" in w for w in d["warnings"]), d["warnings"]
assert any("no ceilings" in w for w in d["warnings"])'
}
expect 0 profile "$CFG/tiny-mistral.json" --device ref --prompt 12 --gen 2 --json && {
    schema "$tmp/out"
    pycheck "mistral: sliding window" "$tmp/out" '
assert d["model"]["sliding_window"] == 8 and d["settings"]["scaled"] is False
assert "attn.attention" in steps("prefill") and "attn.attention_local" not in steps("prefill")'
}
expect 0 profile "$CFG/tiny-gemma3.json" --device ref --layers 2 --prompt 10 --gen 2 --json && {
    schema "$tmp/out"
    pycheck "gemma3: local and global layers" "$tmp/out" '
st = steps("prefill")
for s in ("attn.q_proj", "attn.k_proj", "attn.v_proj", "attn.q_norm", "attn.k_norm", "attn.post_norm", "mlp.post_norm",
          "attn.attention_local", "attn.attention_global"):
    assert s in st, s
assert "attn.qkv_proj" not in st and "attn.attention" not in st
assert row("prefill", "attn.attention_local")["calls"] == 5 and row("prefill", "attn.attention_global")["calls"] == 1
assert row("prefill", "mlp.act")["op"] == "gelu_mul" and d["settings"]["layers_run"] == 2'
}
expect 0 profile "$CFG/tiny-gpt2.json" --device ref --prompt 8 --gen 2 --json && {
    schema "$tmp/out"
    pycheck "gpt2: positions, LayerNorm, no RoPE" "$tmp/out" '
st = steps("prefill")
assert st[0] == "embed.add_positions" and "attn.rope_q" not in st and "mlp.fc" in st and "mlp.proj" in st
assert row("prefill", "attn.norm")["op"] == "layernorm"
assert row("prefill", "attn.qkv_proj")["flops"] == 2 * (2 * 8 * 384 * 128 + 8 * 384)'
}
# a preset (GPT-2 BioMedLM, one of its 32 layers)
expect 0 profile biomedlm-2.7b --device ref --layers 1 --prompt 2 --gen 1 --json && pycheck "biomedlm preset" "$tmp/out" '
m = d["model"]
assert m["source"] == "preset" and m["config_path"] is None and m["hf_id"] == "stanford-crfm/BioMedLM"
assert d["settings"]["layers_run"] == 1 and d["settings"]["layers_total"] == 32
assert row("prefill", "attn.qkv_proj")["calls"] == 32'

# ---- warnings: past the model's positions; the memory budget picks a subset or refuses
expect 0 profile "$CFG/tiny-llama.json" --device ref --prompt 60 --gen 8 --layers 1 --json &&
    pycheck "max positions warning" "$tmp/out" '
assert any("prompt 60 + gen 8 exceeds max positions 64 of tiny-llama" in w for w in d["warnings"]), d["warnings"]'
expect 0 profile "$CFG/tiny-llama.json" --device ref --prompt 4 --gen 1 --max-memory 3M --json &&
    pycheck "budget subset" "$tmp/out" '
assert d["settings"]["layers_run"] == 1 and d["settings"]["scaled"] is True
assert any("device memory budget" in w for w in d["warnings"]), d["warnings"]'
expect 1 profile "$CFG/tiny-llama.json" --device ref --max-memory 1M && has "$tmp/err" 'does not fit ref' "too small a budget"

# ---- a calibration cache gives the roofline columns
expect 0 calibrate --device ref --json && {
    expect 0 profile "$CFG/tiny-llama.json" --device ref --prompt 4 --gen 1 --json && pycheck "ceilings from the calibration" "$tmp/out" '
c = d["ceilings"]
assert c["source"] == "calibration" and c["bandwidth_gbs"] > 0 and c["compute_gflops"] > 0 and "/calibration/" in c["calibration_file"]
for k in d["kernels"]:
    pred = max(k["bytes"] / (c["bandwidth_gbs"] * 1e6), k["flops"] / (c["compute_gflops"] * 1e6))
    assert abs(k["predicted_ms"] - pred) <= 1e-9 * pred and k["bound"] in ("memory", "compute")
    assert abs(k["ceiling_fraction"] - pred / k["time_ms"]) <= 1e-9 * k["ceiling_fraction"]
assert d["summary"]["mbu"] > 0 and d["summary"]["mfu"] > 0'
    schema "$tmp/out"
}

# ---- formats and --from-json
expect 0 profile "$CFG/tiny-llama.json" --device ref --prompt 4 --gen 1 && {
    has "$tmp/out" 'tiny-llama' "table: model"
    has "$tmp/out" 'attn\.qkv_proj' "table: a kernel row"
    hasnt "$tmp/err" '\[#' "no progress bar when stderr is not a terminal"
}
expect 0 profile --from-json "$tmp/llama.json" --csv && {
    has "$tmp/out" 'attn\.qkv_proj' "--from-json --csv: rows"
    checks=$((checks + 1))
    [ "$(grep -c 'ref\.scalar' "$tmp/out")" -eq 30 ] || fail "--from-json --csv: want 30 kernel rows"
}
expect 0 profile --from-json "$tmp/llama.json" --markdown && has "$tmp/out" '^\|.*attn\.qkv_proj' "--from-json --markdown"
expect 0 profile --from-json "$tmp/llama.json" --json && pycheck "--from-json --json round trip" "$tmp/out" '
assert d == json.load(open(sys.argv[1]))'
expect 0 profile --from-json "$tmp/llama.json" --html "$tmp/r.html" && {
    checks=$((checks + 1))
    grep -qi '<!doctype html' "$tmp/r.html" && grep -q '</html>' "$tmp/r.html" && grep -q 'attn.qkv_proj' "$tmp/r.html" ||
        fail "--html: not an HTML report"
}
expect 0 profile "$CFG/tiny-llama.json" --device ref --prompt 4 --gen 1 --csv --html "$tmp/r2.html" && {
    has "$tmp/out" 'attn\.qkv_proj' "run --csv"
    checks=$((checks + 1))
    grep -q '</html>' "$tmp/r2.html" || fail "run --html"
}
expect 2 profile --json --csv "$CFG/tiny-llama.json" && has "$tmp/err" 'choose one of' "two stdout formats"
echo '{"schema": "medkern-conform/1"}' >"$tmp/other.json"
expect 2 profile --from-json "$tmp/other.json" && has "$tmp/err" 'not a medkern profile report' "--from-json another schema"
expect 2 profile --from-json "$tmp/nothere.json" && has "$tmp/err" 'cannot open' "--from-json no file"

# ---- the progress bar on a terminal (script(1) gives the command a pty)
if command -v script >/dev/null 2>&1; then
    checks=$((checks + 1))
    script -qec "\"$MK\" profile \"$CFG/tiny-llama.json\" --device ref --prompt 4 --gen 2 >/dev/null" "$tmp/tty.log" >/dev/null 2>&1
    grep -aq 'decode   \[#*\] 2/2' "$tmp/tty.log" || fail "no progress bar on a terminal: $(head -c 300 "$tmp/tty.log")"
fi

# ---- --validate: the executor against the reference model
expect 0 profile --validate --device ref --json && {
    pycheck "--validate on ref" "$tmp/out" '
v = d["validation"]
assert v["passed"] is True and v["rel_error"] <= v["tolerance"] == 2e-5 and v["max_abs_error"] >= 0, v
assert d["model"]["name"] == "validate-llama-tiny" and d["settings"]["batch"] == 2 and d["settings"]["gen"] == 4
assert d["settings"]["weights"] == "f32" and len(d["kernels"]) == 30'
}
expect 0 profile --validate --device ref && has "$tmp/err" 'validate on ref passed' "--validate table"
expect 2 profile --validate --weights w8 && has "$tmp/err" -- '--weights does not apply' "--validate with a format"

echo "profile: $((checks - fails)) passed, $fails failed"
[ "$fails" = 0 ]
