/* Element types: sizes, names, and the bit-exact conversions (defined by reference/). */
#include "internal.h"
#include "mkref.h"

size_t mk_dtype_size(mk_dtype t) {
    switch (t) {
    case MK_F32: case MK_I32: return 4;
    case MK_F16: case MK_BF16: return 2;
    case MK_FP8_E4M3: case MK_I8: case MK_U8: return 1;
    default: return 0;
    }
}

const char *mk_dtype_name(mk_dtype t) {
    static const char *names[] = {"f32", "f16", "bf16", "fp8_e4m3", "i8", "u8", "i32"};
    return (unsigned)t < MK_DTYPE_COUNT ? names[t] : NULL;
}

uint16_t mk_f32_to_f16(float x) { return mkref_f32_to_f16(x); }
float mk_f16_to_f32(uint16_t h) { return mkref_f16_to_f32(h); }
uint16_t mk_f32_to_bf16(float x) { return mkref_f32_to_bf16(x); }
float mk_bf16_to_f32(uint16_t h) { return mkref_bf16_to_f32(h); }
uint8_t mk_f32_to_fp8_e4m3(float x) { return mkref_f32_to_fp8(x); }
float mk_fp8_e4m3_to_f32(uint8_t b) { return mkref_fp8_to_f32(b); }
