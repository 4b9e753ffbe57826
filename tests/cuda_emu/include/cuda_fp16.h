/* medkern's CUDA emulator: __half and __half2 with the conversions and arithmetic the
   kernels use (cuda_emu_float.h rounds them). Test-only. */
#ifndef MEDKERN_CUDA_EMU_FP16_H
#define MEDKERN_CUDA_EMU_FP16_H
#include "cuda_emu_float.h"

struct __half_raw { unsigned short x; };
struct alignas(2) __half {
    unsigned short __x;
    __half() = default;
    constexpr __half(__half_raw r) : __x(r.x) {}
    operator __half_raw() const { return __half_raw{__x}; }
};
struct alignas(4) __half2 { __half x, y; };

static inline __half mkemu_half_bits(unsigned short b) { return __half(__half_raw{b}); }
static inline __half __float2half_rn(float f) { return mkemu_half_bits(mkemu::f16_from_double(f)); }
static inline __half __float2half(float f) { return __float2half_rn(f); }
static inline float __half2float(__half h) { return (float)mkemu::f16_to_double(h.__x); }
static inline __half __ushort_as_half(unsigned short u) { return mkemu_half_bits(u); }
static inline unsigned short __half_as_ushort(__half h) { return h.__x; }
static inline __half2 __floats2half2_rn(float a, float b) { return __half2{__float2half_rn(a), __float2half_rn(b)}; }
static inline __half2 __halves2half2(__half a, __half b) { return __half2{a, b}; }
static inline float __low2float(__half2 h) { return __half2float(h.x); }
static inline float __high2float(__half2 h) { return __half2float(h.y); }
/* one rounding of the exact result (a difference of two halves is exact in double) */
static inline __half __hsub(__half a, __half b) {
    return mkemu_half_bits(mkemu::f16_from_double(mkemu::f16_to_double(a.__x) - mkemu::f16_to_double(b.__x)));
}
static inline __half __hadd(__half a, __half b) {
    return mkemu_half_bits(mkemu::f16_from_double(mkemu::f16_to_double(a.__x) + mkemu::f16_to_double(b.__x)));
}
static inline __half __hmul(__half a, __half b) {
    return mkemu_half_bits(mkemu::f16_from_double(mkemu::f16_to_double(a.__x) * mkemu::f16_to_double(b.__x)));
}
static inline __half2 __hsub2(__half2 a, __half2 b) { return __half2{__hsub(a.x, b.x), __hsub(a.y, b.y)}; }
static inline __half2 __hadd2(__half2 a, __half2 b) { return __half2{__hadd(a.x, b.x), __hadd(a.y, b.y)}; }
static inline __half2 __hmul2(__half2 a, __half2 b) { return __half2{__hmul(a.x, b.x), __hmul(a.y, b.y)}; }
#endif
