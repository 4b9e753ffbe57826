#!/usr/bin/env bash
# A backend built out of tree against the installed package, loaded without any change to
# the core, and the installed `medkern` running from its prefix without LD_LIBRARY_PATH:
#  1. `cmake --install` into a temporary prefix; the prefix has medkern/backend.h and no
#     threads module (the example is not installed), so a threads device can only come
#     from step 2;
#  2. runtime/backends/threads/*.{c,h} copied out of the tree and built as
#     libmedkern-threads.so by tests/out_of_tree_backend/CMakeLists.txt, which sees only
#     the installed package (find_package(medkern)); no compile line names the source tree;
#  3. with LD_LIBRARY_PATH unset: the installed bin/medkern finds the installed
#     libmedkern (RPATH $ORIGIN/../lib), which finds the installed modules beside itself
#     (dladdr): `medkern info` lists ref, and opencl loaded from the prefix when this build
#     has that module;
#  4. with MEDKERN_BACKEND_PATH at the out-of-tree build: `medkern info` lists threads:0 and
#     says the module was loaded from there; `medkern conform --device threads:0 --quick`
#     passes on every op the backend implements (add, silu_mul, gelu_mul, rmsnorm, gemm)
#     and reports the others as unsupported.
# Usage: bash out_of_tree_backend.sh path/to/medkern   (env: MEDKERN_BINARY_DIR, CMAKE_COMMAND)
set -u
MK=${1:?usage: out_of_tree_backend.sh path/to/medkern}
BIN=${MEDKERN_BINARY_DIR:-$(cd "$(dirname "$MK")/.." && pwd)}
SRC=${MEDKERN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
CMAKE=${CMAKE_COMMAND:-cmake}
command -v "${CC:-cc}" >/dev/null 2>&1 || { echo "SKIP: no C compiler"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/../support/cli_lib.sh"
unset MEDKERN_BACKEND_PATH MEDKERN_KERNELS
prefix=$tmp/prefix

# step WHAT CMD...: must succeed; output in $tmp/log
step() {
    local what=$1
    shift
    checks=$((checks + 1))
    "$@" >"$tmp/log" 2>&1 || { fail "$what: $(tail -c 2000 "$tmp/log")"; return 1; }
}

# ---- 1. install
finish() {
    echo "out_of_tree_backend.sh: $checks checks, $fails failed"
    [ "$fails" -eq 0 ]
    exit
}
step "cmake --install" "$CMAKE" --install "$BIN" --prefix "$prefix" || finish
checks=$((checks + 1))
[ -f "$prefix/include/medkern/backend.h" ] || fail "no installed medkern/backend.h"
checks=$((checks + 1))
[ -z "$(find "$prefix" -name 'libmedkern-threads.so')" ] || fail "the threads example is installed: $(find "$prefix" -name 'libmedkern-threads.so')"
libdir=$(dirname "$(find "$prefix" -name 'libmedkern.so' | head -n 1)")

# ---- 2. the module, out of tree
mkdir -p "$tmp/threads"
cp "$SRC"/runtime/backends/threads/*.c "$SRC"/runtime/backends/threads/*.h "$tmp/threads/"
step "configure the out-of-tree module" "$CMAKE" -S "$SRC/tests/out_of_tree_backend" -B "$tmp/build" \
    -DCMAKE_PREFIX_PATH="$prefix" -DMEDKERN_BACKEND_SOURCES="$tmp/threads" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_EXPORT_COMPILE_COMMANDS=ON -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF \
    -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF &&
    step "build the out-of-tree module" "$CMAKE" --build "$tmp/build"
module=$tmp/build/libmedkern-threads.so
checks=$((checks + 1))
[ -f "$module" ] || fail "no $module"
checks=$((checks + 1))
if [ -f "$tmp/build/compile_commands.json" ]; then
    ! grep -qF -e "$SRC/runtime" -e "$BIN" "$tmp/build/compile_commands.json" ||
        fail "the out-of-tree build reaches into the tree: $(grep -oF -e "$SRC/runtime" -e "$BIN" "$tmp/build/compile_commands.json" | sort -u)"
else
    fail "no compile_commands.json from the out-of-tree build"
fi

# ---- 3. the installed CLI, LD_LIBRARY_PATH unset
MK=$prefix/bin/medkern
checks=$((checks + 1))
resolved=$(env -u LD_LIBRARY_PATH ldd "$MK" 2>&1 | awk '/libmedkern\.so/ { print $3; exit }')
[ -n "$resolved" ] && [ "$(dirname "$(readlink -f "$resolved")")" = "$(readlink -f "$libdir")" ] ||
    fail "bin/medkern does not resolve libmedkern in $libdir: $(env -u LD_LIBRARY_PATH ldd "$MK" 2>&1 | grep libmedkern)"
run_clean() { env -u LD_LIBRARY_PATH "$@" >"$tmp/out" 2>"$tmp/err"; rc=$?; }
run_clean "$MK" info
checks=$((checks + 1))
[ "$rc" = 0 ] || fail "installed medkern info (no LD_LIBRARY_PATH) -> exit $rc: $(head -c 400 "$tmp/err")"
has "$tmp/out" '^ref +reference' "installed medkern info lists ref"
has "$tmp/out" '^  threads +not loaded: not found: no libmedkern-threads.so in .*/lib' "installed medkern info: no threads module"
if [ -f "$BIN/runtime/libmedkern-opencl.so" ]; then
    has "$tmp/out" "^  opencl +loaded, [0-9]+ devices?: $libdir/libmedkern-opencl.so\$" "the installed opencl module is found beside the installed libmedkern"
fi

# ---- 4. the out-of-tree module through MEDKERN_BACKEND_PATH
run_clean env MEDKERN_BACKEND_PATH="$tmp/nonexistent:$tmp/build" "$MK" info
checks=$((checks + 1))
[ "$rc" = 0 ] || fail "medkern info with the module -> exit $rc: $(head -c 400 "$tmp/err")"
has "$tmp/out" '^threads:0 +cpu +medkern host threads' "medkern info lists threads:0"
has "$tmp/out" "^  threads +loaded, 1 device: $module\$" "the threads module is the out-of-tree one"
run_clean env MEDKERN_BACKEND_PATH="$tmp/build" "$MK" conform --device threads:0 --quick
checks=$((checks + 1))
[ "$rc" = 0 ] || fail "conform --device threads:0 -> exit $rc: $(head -c 1500 "$tmp/out") $(head -c 400 "$tmp/err")"
has "$tmp/out" '^PASS: [0-9]+ cases, 0 failed' "conform on the out-of-tree threads:0 passes"
for op in add silu_mul gelu_mul rmsnorm gemm; do
    has "$tmp/out" "^$op +threads\\.[a-z]+ +[1-9][0-9]* +[1-9][0-9]* +0 " "conform ran $op on threads:0"
done
has "$tmp/out" '^  attention_decode: \(the threads backend implements no attention_decode variant\)' \
    "conform reports what threads:0 lacks"

finish
