#!/usr/bin/env bash
# A CUDA-enabled build on a host without the CUDA libraries: in a private mount
# namespace, an empty file is bind-mounted over every copy of the libraries the build's
# libmedkern-cuda.so needs from the CUDA toolkit (libcudart, libcublas, libcublasLt:
# what ldd resolves and every copy ldconfig knows), so dlopen of the real module fails as
# it would on such a host. Then
# `medkern info` exits 0, lists the same devices minus cuda's, says in the cuda line that
# the module could not be loaded and names the missing library, and ops run on ref and
# on an OpenCL device (conform --op add --quick).
# SKIP when the build has no real CUDA module (CUDA off, or the emulator build), or when
# this process cannot make a mount namespace (unshare -m needs root or CAP_SYS_ADMIN).
# Usage: bash cuda_libs_absent.sh path/to/medkern
set -u
MK=${1:?usage: cuda_libs_absent.sh path/to/medkern}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/../support/cli_lib.sh"
unset MEDKERN_BACKEND_PATH MEDKERN_KERNELS
lib=$(ldd "$MK" | awk '/libmedkern\.so/ {print $3; exit}')
mod=$(dirname "${lib:-/nonexistent}")/libmedkern-cuda.so
[ -f "$mod" ] || { echo "SKIP: no libmedkern-cuda.so beside ${lib:-libmedkern} (CUDA is off in this build)"; exit 77; }
libs=$(ldd "$mod" | awk '/lib(cudart|cublas|cublasLt)\.so/ && $3 ~ /^\// {print $3}')
[ -n "$libs" ] || { echo "SKIP: $mod links no CUDA runtime library (the emulator build)"; exit 77; }
libs=$( { echo "$libs"; ldconfig -p 2>/dev/null | awk '/lib(cudart|cublas|cublasLt)\.so/ {print $NF}'; } |
        xargs -r -n1 readlink -f | sort -u | tr '\n' ' ')
unshare -m true 2>/dev/null || { echo "SKIP: cannot make a mount namespace here (unshare -m)"; exit 77; }

run info --json
checks=$((checks + 1))
[ "$rc" = 0 ] || fail "medkern info (libraries present) exited $rc"
grep -o '"id":[[:space:]]*"[^"]*"' "$tmp/out" | grep -v '"cuda:' | sort >"$tmp/ids_with"

# Everything below runs in one private mount namespace with the libraries' folders empty.
: >"$tmp/empty"
cat >"$tmp/hidden.sh" <<SH
set -u
for f in $libs; do mount --bind "$tmp/empty" "\$f" || exit 90; done
"$MK" info --json >"$tmp/info.json" 2>"$tmp/info.err"; echo \$? >"$tmp/info.rc"
"$MK" info >"$tmp/info.txt" 2>&1
"$MK" conform --device ref --op add --quick >"$tmp/ref.txt" 2>&1; echo \$? >"$tmp/ref.rc"
"$MK" conform --device opencl --op add --quick >"$tmp/ocl.txt" 2>&1; echo \$? >"$tmp/ocl.rc"
SH
unshare -m bash "$tmp/hidden.sh"
hrc=$?
checks=$((checks + 1))
[ "$hrc" != 90 ] || { fail "bind-mounting over the CUDA libraries ($libs) failed"; echo "cuda_libs_absent.sh: $checks checks, $fails failed"; exit 1; }
checks=$((checks + 1))
[ "$(cat "$tmp/info.rc")" = 0 ] || fail "medkern info without the CUDA libraries exited $(cat "$tmp/info.rc"): $(head -c 400 "$tmp/info.err")"
grep -o '"id":[[:space:]]*"[^"]*"' "$tmp/info.json" | sort >"$tmp/ids_without"
checks=$((checks + 1))
cmp -s "$tmp/ids_with" "$tmp/ids_without" ||
    fail "devices without the CUDA libraries differ from those with them, cuda's aside: $(tr '\n' ' ' <"$tmp/ids_without") vs $(tr '\n' ' ' <"$tmp/ids_with")"
hasnt "$tmp/ids_without" '"cuda:' "no cuda device without the CUDA libraries"
has "$tmp/info.txt" '^ *cuda +not loaded: .*lib(cudart|cublas|cublasLt)\.so' "the cuda line names the missing library"
checks=$((checks + 1))
[ "$(cat "$tmp/ref.rc")" = 0 ] || fail "conform --device ref --op add without the CUDA libraries: $(tail -c 400 "$tmp/ref.txt")"
if grep -q '"id":[[:space:]]*"opencl:' "$tmp/ids_without"; then
    checks=$((checks + 1))
    [ "$(cat "$tmp/ocl.rc")" = 0 ] || fail "conform --device opencl --op add without the CUDA libraries: $(tail -c 400 "$tmp/ocl.txt")"
fi
echo "cuda_libs_absent.sh: $checks checks, $fails failed"
[ "$fails" -eq 0 ]
