#!/usr/bin/env bash
# Compiles every kernels/opencl/*.cl, as the OpenCL backend builds it (common.clh
# prepended, then `#line 1 "<file>"`), with clang's OpenCL front end, for the build
# options the host passes (runtime/backends/opencl/ocl_*.c) under each device extension
# set the variants are built for:
#   base     OpenCL C 1.2, no extension (+cl_khr_fp64 only for QG_DIV_MODE=2, the mode the
#            host picks only on fp64 devices)         every baseline program
#   fp16     1.2 + cl_khr_fp16                        -DMK_HALF=1 (opencl.rows_half)
#   khr20    OpenCL C 2.0 + cl_khr_subgroups          -cl-std=CL2.0 -DMK_SUBGROUPS=1
#   khr30    OpenCL C 3.0 (its default extensions)    -cl-std=CL3.0 -DMK_SUBGROUPS=1
#   intel    1.2 + cl_intel_subgroups                 -DMK_SUBGROUPS=1
#   dot30    OpenCL C 3.0, SPIR target (clang 14 declares the integer dot product
#            built-ins only there)                    -cl-std=CL3.0 -DMK_INT_DOT=1
#   dotfb    1.2, no extension: the fallback of MK_DOT4X8 (a device that reports
#            cl_khr_integer_dot_product to a compiler mode that does not declare it)
# and checks that the extension options without their extension stop the build with
# the guard's #error. Any warning (-Wall, unused parameters aside) fails.
#
# This is a compile check only: PoCL on CI reports none of these extensions, so the
# extension variants are run against the reference only on devices that have them
# (test_opencl_ops / test_opencl_qgemm run every variant whose supports() says yes).
#
# clang 14 quirks handled here: cl_khr_subgroups exists only from OpenCL C 2.0;
# cl_intel_subgroups is not an extension it knows, so the set defines the macro and
# includes opencl-c.h textually (its declarations are guarded by that macro) and does not
# warn about the enable pragma; -cl-ext=-all cannot be combined with CL3.0 (the header then
# lacks image types), so the 3.0 sets keep clang's defaults.
#
# usage: check_kernels_compile.sh [KERNEL_DIR]   (CLANG=... picks the compiler)
set -u
dir="${1:-$(dirname "$0")/../../kernels/opencl}"
clang="${CLANG:-clang}"
if ! command -v "$clang" >/dev/null 2>&1; then
  echo "SKIP: no clang (its OpenCL front end compiles the kernels)"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

set_flags() {
  case "$1" in
    base)  echo "-cl-std=CL1.2 -Xclang -cl-ext=-all" ;;
    fp64)  echo "-cl-std=CL1.2 -Xclang -cl-ext=-all,+cl_khr_fp64" ;;
    fp16)  echo "-cl-std=CL1.2 -Xclang -cl-ext=-all,+cl_khr_fp16" ;;
    khr20) echo "-cl-std=CL2.0 -Xclang -cl-ext=-all,+cl_khr_subgroups" ;;
    khr30) echo "-cl-std=CL3.0" ;;
    intel) echo "-cl-std=CL1.2 -Xclang -cl-ext=-all -Dcl_intel_subgroups=1 -Wno-ignored-pragmas" ;;
    dot30) echo "-target spir64 -cl-std=CL3.0" ;;
    dotfb) echo "-cl-std=CL1.2 -Xclang -cl-ext=-all" ;;
  esac
}

ok=0 bad=0
# compile SET FILE OPTIONS [expect-fail NEEDLE]
compile() {
  local set="$1" file="$2" opts="$3" expect="${4:-}" src="$tmp/$2"
  [ -f "$src" ] || { cat "$dir/common.clh"; printf '\n#line 1 "%s"\n' "$file"; cat "$dir/$file"; } >"$src"
  # -cl-std in the host's options replaces the set's (the host passes it with the macro)
  local flags
  flags=$(set_flags "$set")
  # shellcheck disable=SC2086
  if out=$("$clang" -x cl $flags -include opencl-c.h -fsyntax-only -Wall -Wno-unused-parameter -Werror \
           $opts "$src" 2>&1); then
    if [ -n "$expect" ]; then
      echo "FAIL [$set] $file $opts: compiled, but the extension guard should stop it"
      bad=$((bad + 1))
    else
      ok=$((ok + 1))
    fi
  elif [ -n "$expect" ] && grep -q "$expect" <<<"$out"; then
    ok=$((ok + 1))
  else
    echo "FAIL [$set] $file $opts"
    echo "$out" | head -20
    bad=$((bad + 1))
  fi
}

# every file must be known here: a new kernel file needs its option sets below
for f in "$dir"/*.cl; do
  case "$(basename "$f")" in
    kv_cache.cl|elementwise.cl|norm.cl|rope.cl|gemm.cl|qgemm.cl|attention_prefill.cl|attention_decode.cl) ;;
    *) echo "FAIL $(basename "$f"): no build options listed in $0"; bad=$((bad + 1)) ;;
  esac
done

# ---- baseline programs (ocl_kv.c, ocl_elementwise.c, ocl_norm.c, ocl_rope.c, ocl_gemm.c,
#      ocl_attention.c, ocl_qgemm.c)
compile base kv_cache.cl ""
for t in 0 1 2; do
  for c in 0 1 2; do
    for per in 1 2; do compile base kv_cache.cl "-DT_IN=$t -DT_CACHE=$c -DKV_QUANT=0 -DKV_PER=$per"; done
  done
  compile base kv_cache.cl "-DT_IN=$t -DT_CACHE=4 -DKV_QUANT=1 -DKV_PER=1"
  compile base kv_cache.cl "-DT_IN=$t -DT_CACHE=3 -DKV_QUANT=2 -DKV_PER=2"
  for b in 0 1 2 3; do compile base elementwise.cl "-DT_IN=$t -DBIN_OP=$b"; done
  compile base norm.cl "-DT_IN=$t"
  compile base rope.cl "-DT_IN=$t"
  compile base gemm.cl "-DT_IN=$t -DTM=32 -DTN=32 -DTK=64 -DWM=8 -DWN=8"
  compile base gemm.cl "-DT_IN=$t -DTM=64 -DTN=64 -DTK=16 -DWM=4 -DWN=4"
  compile base gemm.cl "-DT_IN=$t -DGEMV_MAX_M=4"
  compile base attention_prefill.cl "-DT_IN=$t -DFA_DMAX=128 -DFA_BQ=16 -DFA_BK=32 -DFA_TPR=8"
  compile base attention_prefill.cl "-DT_IN=$t -DFA_DMAX=32 -DFA_BQ=32 -DFA_BK=64 -DFA_TPR=2"
  for c in 0 1 2 3 4; do
    compile base attention_decode.cl "-DT_IN=$t -DT_CACHE=$c -DDEC_DMAX=128 -DDEC_GMAX=4 -DDEC_BK=32"
  done
  compile base attention_decode.cl "-DT_IN=$t -DT_CACHE=1 -DDEC_DMAX=256 -DDEC_GMAX=1 -DDEC_BK=16"
  for c in 0 1 2 3 4; do # the work-item kernel (tuned attention_decode.style 2)
    compile base attention_decode.cl "-DT_IN=$t -DT_CACHE=$c -DDEC_ITEM -DDEC_D=128 -DDEC_G=4 -DDEC_HPW=2 -DDEC_BT=16"
  done
  for c in 0 1 2 3 4; do # splitkv_decode_item (CPU drivers)
    compile base attention_decode.cl "-DT_IN=$t -DT_CACHE=$c -DDEC_ITEM -DDEC_D=128 -DDEC_G=4 -DDEC_HPW=2 -DDEC_BT=16 -DDEC_PREFETCH=1"
  done
  compile base attention_decode.cl "-DT_IN=$t -DT_CACHE=1 -DDEC_ITEM -DDEC_D=80 -DDEC_G=1 -DDEC_HPW=8 -DDEC_BT=16"
done
for t in 1 2; do
  for fmt in 1 2 3 4; do
    for gemv in "" "-DQG_MB=1 -DQG_NT=64" "-DQG_MB=8 -DQG_NT=16"; do
      if [ "$fmt" -ge 3 ]; then
        compile base qgemm.cl "-DQG_FMT=$fmt -DT_IN=$t -DQG_ASYM=0 -DQG_GS=0 -DQG_DIV_MODE=0 $gemv"
        compile base qgemm.cl "-DQG_FMT=$fmt -DT_IN=$t -DQG_ASYM=0 -DQG_GS=0 -DQG_DIV_MODE=1 $gemv"
        compile fp64 qgemm.cl "-DQG_FMT=$fmt -DT_IN=$t -DQG_ASYM=0 -DQG_GS=0 -DQG_DIV_MODE=2 $gemv"
      else
        compile base qgemm.cl "-DQG_FMT=$fmt -DT_IN=$t -DQG_ASYM=0 -DQG_GS=32 -DQG_DIV_MODE=1 $gemv"
        compile base qgemm.cl "-DQG_FMT=$fmt -DT_IN=$t -DQG_ASYM=1 -DQG_GS=128 -DQG_DIV_MODE=1 $gemv"
      fi
    done
  done
  for rows in 16 32 64; do
    compile base qgemm.cl "-DQG_FMT=1 -DT_IN=$t -DQG_ASYM=1 -DQG_GS=64 -DQG_DIV_MODE=1 -DQG_MB=2 -DQG_NT=64 -DQG_ROWS=$rows"
  done
done

# ---- extension variants, each under its extension set(s)
for set in khr20 khr30 intel; do
  std=""
  case $set in khr20) std="-cl-std=CL2.0" ;; khr30) std="-cl-std=CL3.0" ;; esac
  for t in 0 1 2; do
    compile $set norm.cl "-DT_IN=$t $std -DMK_SUBGROUPS=1"                # opencl.wg_subgroup
    compile $set gemm.cl "-DT_IN=$t -DGEMV_MAX_M=8 $std -DMK_SUBGROUPS=1" # opencl.gemv_subgroup
  done
done
compile fp16 elementwise.cl "-DT_IN=1 -DBIN_OP=3 -DMK_HALF=1"               # opencl.rows_half
for t in 1 2; do
  for mode in 0 1; do                                                       # opencl.qgemv_dot8
    for mb in 1 8; do
      compile dot30 qgemm.cl "-DQG_FMT=3 -DT_IN=$t -DQG_ASYM=0 -DQG_GS=0 -DQG_DIV_MODE=$mode -cl-std=CL3.0 -DMK_INT_DOT=1 -DQG_MB=$mb -DQG_NT=64"
      compile dotfb qgemm.cl "-DQG_FMT=3 -DT_IN=$t -DQG_ASYM=0 -DQG_GS=0 -DQG_DIV_MODE=$mode -DMK_INT_DOT=1 -DQG_MB=$mb -DQG_NT=64"
    done
  done
done
# the SPIR set really takes the built-in path (its feature macro is defined), dotfb not
# shellcheck disable=SC2046
if "$clang" -x cl $(set_flags dot30) -include opencl-c.h -dM -E /dev/null 2>/dev/null |
     grep -q "define __opencl_c_integer_dot_product_input_4x8bit_packed" &&
   ! "$clang" -x cl $(set_flags dotfb) -include opencl-c.h -dM -E /dev/null 2>/dev/null |
     grep -q "define __opencl_c_integer_dot_product_input_4x8bit_packed"; then
  ok=$((ok + 1))
else
  echo "FAIL the dot30 set does not declare the integer dot product built-ins (or dotfb does)"
  bad=$((bad + 1))
fi

# ---- the guards: extension options without the extension do not build
compile base norm.cl "-DT_IN=1 -DMK_SUBGROUPS=1" "MK_SUBGROUPS needs"
compile base gemm.cl "-DT_IN=1 -DGEMV_MAX_M=8 -DMK_SUBGROUPS=1" "MK_SUBGROUPS needs"
compile base elementwise.cl "-DT_IN=1 -DBIN_OP=3 -DMK_HALF=1" "MK_HALF needs"

echo "$ok compilations as expected, $bad failed (clang: $("$clang" --version | head -1))"
[ "$bad" -eq 0 ]
