/* medkern's CUDA emulator: the FP8 E4M3 conversions the kernels use (cuda_emu_float.h).
   Test-only; E5M2 is not emulated. */
#ifndef MEDKERN_CUDA_EMU_FP8_H
#define MEDKERN_CUDA_EMU_FP8_H
#include "cuda_fp16.h"
#include "cuda_emu_device.h"

typedef unsigned char __nv_fp8_storage_t;
typedef enum { __NV_NOSAT = 0, __NV_SATFINITE = 1 } __nv_saturation_t;
typedef enum { __NV_E4M3 = 0, __NV_E5M2 = 1 } __nv_fp8_interpretation_t;

static inline __nv_fp8_storage_t __nv_cvt_float_to_fp8(float x, __nv_saturation_t sat, __nv_fp8_interpretation_t t) {
    if (t != __NV_E4M3) mkemu::fault(MKEMU_HERE, "__nv_cvt_float_to_fp8: E5M2 is not emulated");
    const __nv_fp8_storage_t r = mkemu::e4m3_from_double_satfinite(x);
    /* without saturation a finite overflow or Inf becomes NaN */
    if (sat == __NV_NOSAT && (r & 0x7Fu) == 0x7Eu && !(fabsf(x) < 464.0f)) return (__nv_fp8_storage_t)(r | 0x7Fu);
    return r;
}
static inline __half_raw __nv_cvt_fp8_to_halfraw(__nv_fp8_storage_t x, __nv_fp8_interpretation_t t) {
    (void)t;
    return __half_raw{mkemu::f16_from_double(mkemu::e4m3_to_double(x))};
}
#endif
