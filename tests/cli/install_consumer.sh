#!/usr/bin/env bash
# The installed package works for a project outside the tree: `cmake --install` into a
# temporary prefix, then a small C program that runs mk_add on the ref device is built
# twice, with find_package(medkern CONFIG) + medkern::medkern and with pkg-config, and
# run against the installed library. The installed CLI runs too.
# Usage: bash install_consumer.sh path/to/medkern   (env: MEDKERN_BINARY_DIR, CMAKE_COMMAND)
set -u
MK=${1:?usage: install_consumer.sh path/to/medkern}
BIN=${MEDKERN_BINARY_DIR:-$(cd "$(dirname "$MK")/.." && pwd)}
CMAKE=${CMAKE_COMMAND:-cmake}
CC=${CC:-cc}
command -v "$CC" >/dev/null 2>&1 || { echo "SKIP: no C compiler ($CC)"; exit 77; }
command -v "$CMAKE" >/dev/null 2>&1 || { echo "SKIP: no cmake ($CMAKE)"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
checks=0
fails=0
fail() {
    echo "FAIL: $*" >&2
    fails=$((fails + 1))
}
check() { # check WHAT CMD...: the command must succeed (its output is shown when it fails)
    local what=$1
    shift
    checks=$((checks + 1))
    if ! "$@" >"$tmp/log" 2>&1; then
        fail "$what: $(tail -c 2000 "$tmp/log")"
        return 1
    fi
    return 0
}

check "cmake --install" "$CMAKE" --install "$BIN" --prefix "$prefix" || { echo "install_consumer: $fails failed"; exit 1; }
header=$prefix/include/medkern/medkern.h
checks=$((checks + 1))
[ -f "$header" ] || fail "no installed header at $header"
lib=$(find "$prefix" -name 'libmedkern.so*' -o -name 'libmedkern.dylib' | head -n 1)
checks=$((checks + 1))
[ -n "$lib" ] || fail "no installed libmedkern under $prefix"
libdir=$(dirname "${lib:-$prefix/lib/x}")
config=$(find "$prefix" -name medkernConfig.cmake | head -n 1)
checks=$((checks + 1))
[ -n "$config" ] || fail "no installed medkernConfig.cmake"
pc=$(find "$prefix" -name medkern.pc | head -n 1)
checks=$((checks + 1))
[ -n "$pc" ] || fail "no installed medkern.pc"
# the package must not depend on the build or source tree
checks=$((checks + 1))
if grep -rlF -e "$BIN" -e "${MEDKERN_SOURCE_DIR:-/nonexistent-source-dir}" "$prefix/lib"*/cmake "$(dirname "${pc:-$tmp/x}")" 2>/dev/null | grep -q .; then
    fail "installed package files mention the build or source tree: $(grep -rlF -e "$BIN" "$prefix" | head -3)"
fi

mkdir -p "$tmp/src"
cat >"$tmp/src/main.c" <<'C'
/* A consumer of the installed medkern: out = a + b on the ref device. */
#include <medkern/medkern.h>
#include <stdio.h>
#include <string.h>

int main(void) {
    const float a[6] = {1.0f, 2.5f, -3.0f, 4.25f, 1000.0f, -0.5f};
    const float b[6] = {0.5f, -2.5f, 7.0f, 0.75f, 24.0f, -0.25f};
    float out[6] = {0};
    mk_context *ctx = NULL;
    mk_buffer *ba = NULL, *bb = NULL, *bo = NULL;
    int64_t shape[2] = {2, 3};
    if (mk_context_create("ref", &ctx) != MK_OK || mk_buffer_alloc(ctx, sizeof a, &ba) != MK_OK ||
        mk_buffer_alloc(ctx, sizeof b, &bb) != MK_OK || mk_buffer_alloc(ctx, sizeof out, &bo) != MK_OK ||
        mk_buffer_write(ba, 0, a, sizeof a) != MK_OK || mk_buffer_write(bb, 0, b, sizeof b) != MK_OK) {
        fprintf(stderr, "setup failed: %s\n", mk_last_error());
        return 1;
    }
    mk_tensor ta = mk_tensor_make(ba, 0, MK_F32, 2, shape), tb = mk_tensor_make(bb, 0, MK_F32, 2, shape);
    mk_tensor to = mk_tensor_make(bo, 0, MK_F32, 2, shape);
    if (mk_add(ctx, &ta, &tb, &to) != MK_OK || mk_buffer_read(bo, 0, out, sizeof out) != MK_OK) {
        fprintf(stderr, "mk_add failed: %s\n", mk_last_error());
        return 1;
    }
    for (int i = 0; i < 6; i++)
        if (out[i] != a[i] + b[i]) {
            fprintf(stderr, "out[%d] = %g, want %g\n", i, out[i], a[i] + b[i]);
            return 1;
        }
    if (strcmp(mk_version(), "0.1.0") != 0 || MK_VERSION_MAJOR != 0) {
        fprintf(stderr, "version %s\n", mk_version());
        return 1;
    }
    printf("consumer ok: medkern %s, %s\n", mk_version(), mk_last_kernel(ctx, MK_OP_ADD));
    mk_buffer_free(ba), mk_buffer_free(bb), mk_buffer_free(bo);
    mk_context_destroy(ctx);
    return 0;
}
C

# ---- 1. CMake: find_package(medkern CONFIG REQUIRED) + medkern::medkern
cat >"$tmp/src/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.24)
project(medkern_consumer C)
find_package(medkern 0.1 CONFIG REQUIRED)
message(STATUS "medkern_DIR=${medkern_DIR} medkern_VERSION=${medkern_VERSION}")
add_executable(consumer main.c)
set_target_properties(consumer PROPERTIES C_STANDARD 11 C_STANDARD_REQUIRED ON C_EXTENSIONS OFF)
target_compile_options(consumer PRIVATE -Wall -Wextra -Werror)
target_link_libraries(consumer PRIVATE medkern::medkern)
CM
if check "configure the CMake consumer" "$CMAKE" -S "$tmp/src" -B "$tmp/build" -DCMAKE_PREFIX_PATH="$prefix" \
        -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF \
        -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER="$CC"; then
    checks=$((checks + 1))
    grep -q "medkern_DIR=$prefix/" "$tmp/log" || fail "find_package found medkern outside the install prefix: $(grep medkern_DIR "$tmp/log")"
    if check "build the CMake consumer" "$CMAKE" --build "$tmp/build"; then
        check "run the CMake consumer" env LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$tmp/build/consumer" &&
            { checks=$((checks + 1)); grep -q '^consumer ok: medkern 0.1.0, ref.scalar$' "$tmp/log" || fail "CMake consumer output: $(cat "$tmp/log")"; }
        # it runs against the installed library, not the build tree's
        if command -v ldd >/dev/null 2>&1; then
            checks=$((checks + 1))
            LD_LIBRARY_PATH="$libdir" ldd "$tmp/build/consumer" | grep libmedkern | grep -qF "$prefix" ||
                fail "the CMake consumer does not load libmedkern from $prefix: $(LD_LIBRARY_PATH="$libdir" ldd "$tmp/build/consumer" | grep libmedkern)"
        fi
    fi
fi

# ---- 2. pkg-config
PKGCONF=$(command -v pkg-config || command -v pkgconf || true)
if [ -z "$PKGCONF" ]; then
    echo "note: no pkg-config, the pkg-config consumer is not built" >&2
elif [ -n "$pc" ]; then
    export PKG_CONFIG_PATH
    PKG_CONFIG_PATH=$(dirname "$pc")
    unset PKG_CONFIG_LIBDIR PKG_CONFIG_SYSROOT_DIR
    checks=$((checks + 1))
    ver=$("$PKGCONF" --modversion medkern 2>&1)
    [ "$ver" = 0.1.0 ] || fail "pkg-config --modversion medkern: $ver"
    flags=$("$PKGCONF" --cflags --libs medkern 2>&1)
    checks=$((checks + 1))
    case "$flags" in
        *"$prefix"*) ;;
        *) fail "pkg-config flags do not point into the install prefix $prefix: $flags" ;;
    esac
    # shellcheck disable=SC2086
    if check "build the pkg-config consumer" "$CC" -std=c11 -Wall -Wextra -Werror "$tmp/src/main.c" -o "$tmp/consumer_pc" $flags; then
        check "run the pkg-config consumer" env LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$tmp/consumer_pc" &&
            { checks=$((checks + 1)); grep -q '^consumer ok: medkern 0.1.0' "$tmp/log" || fail "pkg-config consumer output: $(cat "$tmp/log")"; }
    fi
fi

# ---- 3. the header alone compiles as C11 and as C++
check "the installed header compiles alone (C11, -pedantic)" \
    "$CC" -std=c11 -Wall -Wextra -pedantic -Werror -fsyntax-only -I"$prefix/include" -x c - <<'C'
#include <medkern/medkern.h>
int main(void) { return mk_dtype_size(MK_F32) == 4 ? 0 : 1; }
C
CXX=${CXX:-c++}
if command -v "$CXX" >/dev/null 2>&1; then
    check "the installed header compiles as C++" "$CXX" -Wall -Werror -fsyntax-only -I"$prefix/include" -x c++ - <<'CPP'
#include <medkern/medkern.h>
int main() { mk_context *c = nullptr; return mk_context_create("ref", &c) == MK_OK ? 0 : 1; }
CPP
fi

# ---- 4. the installed CLI
if [ -x "$prefix/bin/medkern" ]; then
    check "installed medkern info" env LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$prefix/bin/medkern" info &&
        { checks=$((checks + 1)); grep -Eq '^ref +reference' "$tmp/log" || fail "installed medkern info: $(head -c 400 "$tmp/log")"; }
else
    fail "no installed bin/medkern"
fi

echo "install_consumer: $checks checks, $fails failed"
[ "$fails" = 0 ]
