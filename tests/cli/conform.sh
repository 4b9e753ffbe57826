#!/usr/bin/env bash
# `medkern conform`: --quick on ref (and on opencl:0 / threads:0 when present) passes and
# its --json report validates against docs/conform.schema.json (python3-jsonschema); the
# report says what ran (every op on ref, only add with --op add); the same seed gives the
# same cases; bad usage (no/unknown device, unknown op, bad seed, unknown option, an
# unwritable --json path) exits 2 with a message naming the argument.
# Usage: bash conform.sh path/to/medkern
set -u
MK=${1:?usage: conform.sh path/to/medkern}
[ -x "$MK" ] || { echo "FAIL: $MK is not an executable" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
unset MEDKERN_KERNELS
src=${MEDKERN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
schema="$src/docs/conform.schema.json"
. "$(dirname "$0")/../support/cli_lib.sh"

if ! python3 -c 'import jsonschema' 2>/dev/null; then
    echo "FAIL: python3 with the jsonschema module is needed (tools/setup-debian.sh installs python3-jsonschema)" >&2
    exit 1
fi

# validate FILE WHAT [PYTHON-ASSERTIONS]: FILE is valid against the schema, then the
# assertions (d is the report) hold
validate() {
    checks=$((checks + 1))
    python3 - "$schema" "$1" "${3:-}" <<'PY' >"$tmp/val_err" 2>&1 || fail "$2: $(head -c 800 "$tmp/val_err")"
import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft7Validator.check_schema(schema)
d = json.load(open(sys.argv[2]))
jsonschema.validate(d, schema)
exec(sys.argv[3])
PY
}

# ---- usage
expect 0 conform --help && has "$tmp/out" '^usage: medkern conform --device D' "conform --help"
expect 0 --help && has "$tmp/out" '^  conform ' "medkern --help lists conform"
expect 2 conform && has "$tmp/err" '--device is required' "conform without --device"
expect 2 conform --device no-such-device:7 && has "$tmp/err" 'no-such-device:7' "unknown device named"
expect 2 conform --device ref --op no_such_op && has "$tmp/err" 'no_such_op' "unknown op named"
expect 2 conform --device ref --seed 12abc && has "$tmp/err" 'seed "12abc"' "bad seed named"
expect 2 conform --device ref --seed -3
expect 2 conform --device ref --bogus && has "$tmp/err" 'unknown option "--bogus"' "unknown option"
expect 2 conform --device ref --json "$tmp/no/such/dir/r.json" && has "$tmp/err" '--json' "unwritable --json"
expect 2 conform --device ref --op

# ---- ref: every op, every case passes, the report validates
ops='["attention_prefill","attention_decode","kv_append","kv_copy_blocks","qgemm","gemm","rmsnorm","layernorm","rope","silu_mul","gelu_mul","add"]'
if expect 0 conform --quick --device ref --json "$tmp/ref.json"; then
    has "$tmp/out" '^op +variant +cases +passed +failed +skipped' "table header"
    has "$tmp/out" '^attention_decode +ref\.scalar +[1-9][0-9]* ' "table row of attention_decode"
    has "$tmp/out" '^kv_append +ref\.scalar .* exact ' "kv_append is checked bit for bit"
    has "$tmp/out" '^PASS: [1-9][0-9]* cases, 0 failed, 0 skipped, 0 unsupported ops on ref' "summary line"
    validate "$tmp/ref.json" "ref report" "
ops = $ops
assert d['passed'] is True and d['failed'] == 0, d['failed']
assert d['device']['id'] == 'ref' and d['device']['backend'] == 'ref', d['device']
assert d['mode'] == 'quick' and d['seed'] == '1', (d['mode'], d['seed'])
assert [r['op'] for r in d['results']] == ops, [r['op'] for r in d['results']]
assert all(r['variant'] == 'ref.scalar' and r['cases'] > 0 and r['passed'] == r['cases'] for r in d['results'])
assert d['cases'] == sum(r['cases'] for r in d['results'])
assert d['unsupported'] == []
bits = {r['op'] for r in d['results'] if r['check'] == 'bits'}
assert bits == {'kv_append', 'kv_copy_blocks'}, bits
"
fi

# ---- --op filter, --seed, --full accepted with the filter
if expect 0 conform --device ref --op add --seed 5 --json "$tmp/add.json"; then
    validate "$tmp/add.json" "--op add report" "
assert [r['op'] for r in d['results']] == ['add'], d['results']
assert d['seed'] == '5'
"
    hasnt "$tmp/out" '^gemm ' "--op add runs no gemm"
fi
# the same seed gives the same cases (compared through a failure-free report: the table
# minus times, and the per-op case counts)
expect 0 conform --device ref --op gemm --seed 9 && sed 's/ *[0-9.]*s$//' "$tmp/out" | grep -v '^PASS' >"$tmp/seed9a"
expect 0 conform --device ref --op gemm --seed 9 && sed 's/ *[0-9.]*s$//' "$tmp/out" | grep -v '^PASS' >"$tmp/seed9b"
checks=$((checks + 1))
cmp -s "$tmp/seed9a" "$tmp/seed9b" || fail "two runs with --seed 9 print different tables"
expect 0 conform --device ref --op rope --full && has "$tmp/out" ', full$' "--full mode named"

# ---- other devices of this build: opencl:0 (PoCL in CI) and the threads example backend
"$MK" info >"$tmp/info" 2>&1
for dev in opencl:0 threads:0; do
    grep -q "^$dev " "$tmp/info" || { echo "note: no $dev in this build/machine" >&2; continue; }
    if expect 0 conform --quick --device "$dev" --json "$tmp/dev.json"; then
        validate "$tmp/dev.json" "$dev report" "
assert d['passed'] is True and d['device']['id'] == '$dev'
backend = d['device']['backend']
assert all(r['variant'].startswith(backend + '.') for r in d['results'])
covered = [r['op'] for r in d['results']] + [u['op'] for u in d['unsupported']]
assert sorted(set(covered)) == sorted($ops), covered
assert all(u['reasons'] for u in d['unsupported'])
"
    fi
done

# ---- a wrong kernel fails: the OpenCL rows kernel built as add (BIN_OP 3, see
# kernels/opencl/elementwise.cl) for silu_mul gives exit 1, FAIL lines naming the
# cases, and a report with passed = false that still validates
if grep -q "^opencl:0 " "$tmp/info"; then
    export MEDKERN_OCL_EXTRA_OPTIONS="-DBIN_OP=3"
    expect 1 conform --device opencl:0 --op silu_mul --json "$tmp/bad.json" && {
        has "$tmp/out" '^FAIL silu_mul opencl\.rows: silu_mul f32 .*\[seed 1 case 0\]: out: rel_l2' "FAIL line of a wrong kernel"
        has "$tmp/out" '^FAIL: 5 cases, 5 failed' "summary of a wrong kernel"
        validate "$tmp/bad.json" "report of a wrong kernel" "
assert d['passed'] is False and d['failed'] == 5
r = d['results'][0]
assert r['variant'] == 'opencl.rows' and r['failed'] == 5 and len(r['failures']) == 5, r
"
    }
    unset MEDKERN_OCL_EXTRA_OPTIONS
fi

echo "conform.sh: $checks checks, $fails failed"
[ "$fails" -eq 0 ]
