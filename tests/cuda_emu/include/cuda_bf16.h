/* medkern's CUDA emulator: __nv_bfloat16 and __nv_bfloat162 (cuda_emu_float.h rounds them).
   Arithmetic rounds the double result once: exact for operands whose exponents differ by
   less than ~45 (always so in the kernels' small-integer uses). Test-only. */
#ifndef MEDKERN_CUDA_EMU_BF16_H
#define MEDKERN_CUDA_EMU_BF16_H
#include "cuda_fp16.h"

struct __nv_bfloat16_raw { unsigned short x; };
struct alignas(2) __nv_bfloat16 {
    unsigned short __x;
    __nv_bfloat16() = default;
    constexpr __nv_bfloat16(__nv_bfloat16_raw r) : __x(r.x) {}
};
struct alignas(4) __nv_bfloat162 { __nv_bfloat16 x, y; };

static inline __nv_bfloat16 mkemu_bf16_bits(unsigned short b) { return __nv_bfloat16(__nv_bfloat16_raw{b}); }
static inline __nv_bfloat16 __float2bfloat16_rn(float f) { return mkemu_bf16_bits(mkemu::bf16_from_double(f)); }
static inline __nv_bfloat16 __float2bfloat16(float f) { return __float2bfloat16_rn(f); }
static inline float __bfloat162float(__nv_bfloat16 h) { return (float)mkemu::bf16_to_double(h.__x); }
static inline __nv_bfloat162 __floats2bfloat162_rn(float a, float b) {
    return __nv_bfloat162{__float2bfloat16_rn(a), __float2bfloat16_rn(b)};
}
static inline __nv_bfloat16 __hsub(__nv_bfloat16 a, __nv_bfloat16 b) {
    return mkemu_bf16_bits(mkemu::bf16_from_double(mkemu::bf16_to_double(a.__x) - mkemu::bf16_to_double(b.__x)));
}
static inline __nv_bfloat16 __hadd(__nv_bfloat16 a, __nv_bfloat16 b) {
    return mkemu_bf16_bits(mkemu::bf16_from_double(mkemu::bf16_to_double(a.__x) + mkemu::bf16_to_double(b.__x)));
}
static inline __nv_bfloat162 __hsub2(__nv_bfloat162 a, __nv_bfloat162 b) {
    return __nv_bfloat162{__hsub(a.x, b.x), __hsub(a.y, b.y)};
}
static inline __nv_bfloat162 __hadd2(__nv_bfloat162 a, __nv_bfloat162 b) {
    return __nv_bfloat162{__hadd(a.x, b.x), __hadd(a.y, b.y)};
}
#endif
