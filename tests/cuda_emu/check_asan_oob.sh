#!/usr/bin/env bash
# Runs the emulator build of tests/cuda_emu/tests/oob.cu (ASan build only) and checks that
# AddressSanitizer reports the out-of-bounds device read at the kernel's source line.
# Usage: check_asan_oob.sh PROGRAM SOURCE.cu
set -uo pipefail
prog="$1" src="$2"
line="$(grep -n '/\* OOB' "$src" | cut -d: -f1)"
out="$(ASAN_OPTIONS=detect_leaks=0:abort_on_error=0 "$prog" 2>&1)"
rc=$?
if [ "$rc" -eq 0 ]; then
    echo "FAIL: the out-of-bounds read was not reported (exit 0)"; echo "$out" | tail -5; exit 1
fi
if echo "$out" | grep -q "heap-buffer-overflow" && echo "$out" | grep -q "$(basename "$src"):$line"; then
    echo "PASS: ASan reports the device read past the buffer at $(basename "$src"):$line"
    echo "1 passed, 0 failed"
    exit 0
fi
echo "FAIL: no heap-buffer-overflow report at $(basename "$src"):$line"; echo "$out" | head -30
exit 1
