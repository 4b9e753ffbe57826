/*
 * Element loads and stores for the CUDA kernels: F32, F16 and BF16 as float, plus the
 * I8 and FP8 E4M3 encoders of the quantized KV cache. Every conversion reproduces
 * reference/convert.c bit for bit:
 *  - F16: hardware cvt (round to nearest even, subnormals exact) for numbers; NaN keeps
 *    its sign and top payload bits, quieted (the hardware would make it canonical).
 *  - BF16: integer round to nearest even, NaN quieted with its payload — the same
 *    integer steps as the reference.
 *  - FP8 E4M3: __nv_cvt_float_to_fp8 with __NV_SATFINITE (RNE, finite overflow and Inf
 *    saturate to +-448); NaN becomes 0x7F with the input's sign (the library drops it).
 *  - I8: __float2int_rn (RNE, NaN -> 0) clamped to [-127, 127].
 *
 * Element types are tag structs (mkc::f32, mkc::f16, mkc::bf16) with a `storage` type
 * and static load/store, so a kernel is written once as a template.
 */
#ifndef MEDKERN_KERNELS_CUDA_DTYPE_IO_CUH
#define MEDKERN_KERNELS_CUDA_DTYPE_IO_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#include <stdint.h>

#include "medkern/medkern.h"

namespace mkc {

struct f32 {
    typedef float storage;
    static __device__ __forceinline__ float load(float v) { return v; }
    static __device__ __forceinline__ float store(float v) { return v; }
};

struct f16 {
    typedef uint16_t storage;
    static __device__ __forceinline__ float load(uint16_t h) {
        if ((h & 0x7C00u) == 0x7C00u && (h & 0x3FFu) != 0u) /* NaN: keep sign and payload */
            return __uint_as_float(((uint32_t)(h & 0x8000u) << 16) | 0x7F800000u |
                                   ((uint32_t)(h & 0x3FFu) << 13));
        return __half2float(__ushort_as_half(h));
    }
    static __device__ __forceinline__ uint16_t store(float x) {
        const uint32_t u = __float_as_uint(x), a = u & 0x7FFFFFFFu;
        if (a > 0x7F800000u) return (uint16_t)(((u >> 16) & 0x8000u) | 0x7E00u | ((a >> 13) & 0x3FFu));
        return __half_as_ushort(__float2half_rn(x));
    }
};

struct bf16 {
    typedef uint16_t storage;
    static __device__ __forceinline__ float load(uint16_t h) { return __uint_as_float((uint32_t)h << 16); }
    static __device__ __forceinline__ uint16_t store(float x) {
        const uint32_t u = __float_as_uint(x);
        if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((u >> 16) | 0x0040u);
        return (uint16_t)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
    }
};

static __device__ __forceinline__ uint8_t f32_to_fp8_e4m3(float x) {
    const uint32_t u = __float_as_uint(x);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (uint8_t)(((u >> 24) & 0x80u) | 0x7Fu);
    return (uint8_t)__nv_cvt_float_to_fp8(x, __NV_SATFINITE, __NV_E4M3);
}

static __device__ __forceinline__ int8_t f32_to_i8_sat(float x) {
    int v = __float2int_rn(x); /* saturating, NaN -> 0 */
    return (int8_t)(v < -127 ? -127 : v > 127 ? 127 : v);
}

/* The code of x under a per-vector scale (reference/kv_cache.c, reference/quant.c):
   I8 (i8 = true) mkref_f32_to_i8_sat(x / scale), else FP8 mkref_f32_to_fp8(x / scale),
   with a true IEEE division; 0 when scale is 0. A NaN keeps its sign, as the host's
   division does (the GPU's would be the canonical, positive NaN). */
static __device__ __forceinline__ uint8_t quantize_code(bool i8, float x, float scale) {
    if (scale == 0.0f) return 0;
    const float q = x != x ? x : __fdiv_rn(x, scale);
    return i8 ? (uint8_t)f32_to_i8_sat(q) : f32_to_fp8_e4m3(q);
}

/* N storage elements moved as one aligned access (16 bytes when N * sizeof == 16). */
template <class S, int N>
struct alignas(sizeof(S) * N) pack {
    S v[N];
};

/* Two floats as one register of two 16-bit values, x in the low half, each rounded to
   nearest even by the hardware's paired convert: the f16/bf16 operand of an mma made from
   f32 results (softmax probabilities). Same bits as F16/BF16::store for every non-NaN. */
template <bool BF16>
__device__ __forceinline__ uint32_t pack2_rn(float x, float y) {
    if constexpr (BF16) {
        const __nv_bfloat162 h = __floats2bfloat162_rn(x, y);
        return *reinterpret_cast<const uint32_t *>(&h);
    } else {
        const __half2 h = __floats2half2_rn(x, y);
        return *reinterpret_cast<const uint32_t *>(&h);
    }
}

} /* namespace mkc */

/* Returns `expr` evaluated with `T` bound to the tag of float dtype `dt` (F32/F16/BF16);
   other dtypes return cudaErrorInvalidValue (the runtime never passes them). Ends the
   enclosing function. */
#define MKC_DISPATCH_FLOAT(dt, T, expr)                                                    \
    switch (dt) {                                                                          \
    case MK_F32: { typedef mkc::f32 T; return expr; }                                      \
    case MK_F16: { typedef mkc::f16 T; return expr; }                                      \
    case MK_BF16: { typedef mkc::bf16 T; return expr; }                                    \
    default: return cudaErrorInvalidValue;                                                 \
    }

#endif
