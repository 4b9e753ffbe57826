#!/usr/bin/env bash
# Backend modules that cannot be used make their devices absent and nothing else: with
# MEDKERN_BACKEND_PATH at a folder of broken modules (searched before the folder of
# libmedkern, so they shadow this build's own of the same name), `medkern info` exits 0,
# lists exactly the devices it lists without them minus cuda's, says why for each module
# in one line, and ops still run on ref and opencl:0 (conform --op add --quick). The
# modules, built here with the C compiler:
#   libmedkern-cuda.so    a real module file whose NEEDED library (libmkgone.so) was
#                         deleted after linking: what a CUDA-enabled build meets on a host
#                         without libcudart (dlopen fails, the reason names the library)
#   libmedkern-notelf.so  not an ELF file
#   libmedkern-noentry.so an ELF without mk_backend_module_init
#   libmedkern-oldabi.so  a table of another MK_BACKEND_ABI_VERSION (999)
#   libmedkern-refuses.so an entry point that returns NULL with a reason
#   libmedkern-nohooks.so a table without its required hooks
# What it does not show: the real libmedkern-cuda.so of a CUDA build on a host without
# libcudart (CI has the CUDA libraries); the failure is the same dlopen path.
# Usage: bash module_failures.sh path/to/medkern
set -u
MK=${1:?usage: module_failures.sh path/to/medkern}
SRC=${MEDKERN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
CC=${CC:-cc}
command -v "$CC" >/dev/null 2>&1 || { echo "SKIP: no C compiler ($CC)"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/../support/cli_lib.sh"
unset MEDKERN_BACKEND_PATH MEDKERN_KERNELS
mods=$tmp/mods
mkdir -p "$mods"
inc=(-I"$SRC/runtime/include")

# ---- the broken modules
echo 'int mkgone_value(void) { return 7; }' >"$tmp/gone.c"
echo 'int mkgone_value(void); int mk_fake_cuda(void) { return mkgone_value(); }' >"$tmp/needs.c"
"$CC" -shared -fPIC -o "$tmp/libmkgone.so" "$tmp/gone.c" &&
    "$CC" -shared -fPIC -o "$mods/libmedkern-cuda.so" "$tmp/needs.c" -L"$tmp" -lmkgone || { echo "FAIL: building the stub modules"; exit 1; }
rm "$tmp/libmkgone.so"
echo "this is not a shared object" >"$mods/libmedkern-notelf.so"
echo 'int mk_not_an_entry_point(void) { return 0; }' >"$tmp/noentry.c"
cat >"$tmp/oldabi.c" <<'C'
#include "medkern/backend.h"
static const mk_backend table = {.abi_version = 999, .name = "oldabi"};
const mk_backend *mk_backend_module_init(int abi, char *why, size_t n) { (void)abi, (void)why, (void)n; return &table; }
C
cat >"$tmp/refuses.c" <<'C'
#include <stdio.h>
#include "medkern/backend.h"
const mk_backend *mk_backend_module_init(int abi, char *why, size_t n) {
    (void)abi;
    snprintf(why, n, "no driver for this test device");
    return NULL;
}
C
cat >"$tmp/nohooks.c" <<'C'
#include "medkern/backend.h"
static const mk_backend table = {.abi_version = MK_BACKEND_ABI_VERSION, .name = "nohooks"};
const mk_backend *mk_backend_module_init(int abi, char *why, size_t n) { (void)abi, (void)why, (void)n; return &table; }
C
for m in noentry oldabi refuses nohooks; do
    "$CC" -std=c11 -shared -fPIC "${inc[@]}" -o "$mods/libmedkern-$m.so" "$tmp/$m.c" || { echo "FAIL: building $m"; exit 1; }
done

# ---- the devices without and with them
run info
checks=$((checks + 1))
[ "$rc" = 0 ] || fail "medkern info -> exit $rc"
awk '/^[a-z]+(:[0-9]+)? +(reference|cpu|gpu|accelerator) / { print $1 }' "$tmp/out" | grep -v '^cuda:' >"$tmp/devices.want"
MEDKERN_BACKEND_PATH=$mods run info
checks=$((checks + 1))
[ "$rc" = 0 ] || fail "medkern info with broken modules -> exit $rc: $(head -c 400 "$tmp/err")"
cp "$tmp/out" "$tmp/info"
awk '/^[a-z]+(:[0-9]+)? +(reference|cpu|gpu|accelerator) / { print $1 }' "$tmp/info" >"$tmp/devices.got"
checks=$((checks + 1))
cmp -s "$tmp/devices.want" "$tmp/devices.got" ||
    fail "devices with the broken modules: $(tr '\n' ' ' <"$tmp/devices.got"), want $(tr '\n' ' ' <"$tmp/devices.want")"
has "$tmp/devices.got" '^ref$' "ref is listed"
has "$tmp/info" "^  cuda +not loaded: dlopen failed: .*libmkgone\\.so: cannot open shared object file" "cuda: the missing library is named"
has "$tmp/info" "^  notelf +not loaded: dlopen failed: $mods/libmedkern-notelf\\.so: " "notelf: dlopen's reason"
has "$tmp/info" '^  noentry +not loaded: no entry point mk_backend_module_init' "noentry: no entry point"
has "$tmp/info" '^  oldabi +not loaded: rejected: its table has backend ABI version 999, this libmedkern has [0-9]+$' "oldabi: the ABI versions"
has "$tmp/info" '^  refuses +not loaded: mk_backend_module_init refused to load: no driver for this test device$' "refuses: its reason"
has "$tmp/info" '^  nohooks +not loaded: rejected: its table has no device_count hook' "nohooks: the missing hook"
has "$tmp/info" '^  ref +loaded, 1 device: built into libmedkern$' "ref is built in"

# the JSON form says the same
MEDKERN_BACKEND_PATH=$mods run info --json
checks=$((checks + 1))
python3 - "$tmp/out" <<'PY' >"$tmp/py" 2>&1 || fail "info --json: $(cat "$tmp/py")"
import json, sys
d = json.load(open(sys.argv[1]))
b = {x["name"]: x for x in d["backends"]}
assert b["ref"]["loaded"] and b["ref"]["devices"] == 1, b["ref"]
assert not b["cuda"]["loaded"] and "libmkgone.so" in b["cuda"]["reason"], b["cuda"]
assert not any(x["id"].startswith("cuda") for x in d["devices"]), d["devices"]
PY

# ---- ops still run on ref and on opencl:0
for dev in ref opencl:0; do
    grep -qx "$dev" "$tmp/devices.got" || continue
    MEDKERN_BACKEND_PATH=$mods run conform --device "$dev" --op add --quick
    checks=$((checks + 1))
    [ "$rc" = 0 ] || fail "conform --device $dev --op add with broken modules -> exit $rc: $(head -c 600 "$tmp/out")"
    has "$tmp/out" '^PASS: [1-9][0-9]* cases, 0 failed' "add runs on $dev"
done

echo "module_failures.sh: $checks checks, $fails failed"
[ "$fails" -eq 0 ]
