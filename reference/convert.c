/*
 * Number-format conversions of the reference: f16, bf16, fp8 e4m3fn and integers.
 *
 * Everything works on the bit patterns with integer arithmetic, so the result does not
 * depend on the compiler's half-precision support or on the floating-point environment.
 * Encoders round to nearest, ties to even; a NaN stays a NaN (quieted, sign and top
 * payload bits kept); subnormals are exact. fp8 e4m3fn has no infinity: finite overflow
 * and +-Inf saturate to +-448, NaN becomes 0x7F with the sign of the input.
 */
#include <math.h>
#include <string.h>

#include "mkref.h"

static uint32_t f32_bits(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static float bits_f32(uint32_t u) {
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* Shifts a positive integer right by `shift` (1..31) with round to nearest even. */
static uint32_t shift_rne(uint32_t v, int shift) {
    uint32_t kept = v >> shift;
    uint32_t rest = v & ((1u << shift) - 1u);
    uint32_t half = 1u << (shift - 1);
    if (rest > half || (rest == half && (kept & 1u))) kept++;
    return kept;
}

/*
 * Encodes |x| (f32 bits without sign, finite) into a narrower binary format with
 * `mbits` mantissa bits whose smallest normal exponent is `emin` (unbiased) — i.e. the
 * format's exponent bias is 1 - emin. Returns the magnitude code; a carry out of the
 * largest exponent produces the next code up (the caller decides what that means).
 */
static uint32_t encode_magnitude(uint32_t a, int mbits, int emin) {
    int e = (int)(a >> 23);                      /* biased f32 exponent */
    uint32_t m = a & 0x7FFFFFu;
    if (e == 0) return 0;                        /* f32 subnormal: far below any target */
    m |= 0x800000u;                              /* 24-bit significand, value m * 2^(e-150) */
    int drop = 23 - mbits;
    if (e - 127 >= emin) {
        /* normal: rebias the exponent, then drop the extra mantissa bits; a carry out of
           the mantissa moves into the exponent, which is the correct next value */
        uint32_t rebased = ((uint32_t)(e - 127 - emin + 1) << 23) | (a & 0x7FFFFFu);
        return shift_rne(rebased, drop);
    }
    /* subnormal target: value in units of 2^(emin - mbits) is m * 2^(e - 150 - emin + mbits) */
    int shift = 150 + emin - mbits - e;          /* > drop here */
    if (shift > 24) return 0;                    /* below half the smallest subnormal */
    return shift_rne(m, shift);
}

uint16_t mkref_f32_to_f16(float x) {
    uint32_t u = f32_bits(x);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t a = u & 0x7FFFFFFFu;
    if (a > 0x7F800000u) return (uint16_t)(sign | 0x7E00u | ((a >> 13) & 0x3FFu)); /* NaN */
    if (a >= 0x47800000u) return (uint16_t)(sign | 0x7C00u);   /* >= 2^16 (and Inf): Inf */
    uint32_t h = encode_magnitude(a, 10, -14);   /* carry past 0x7BFF gives 0x7C00 = Inf */
    return (uint16_t)(sign | h);
}

float mkref_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t e = (h >> 10) & 0x1Fu, m = h & 0x3FFu;
    if (e == 0x1F) return bits_f32(sign | 0x7F800000u | (m << 13)); /* Inf, NaN (payload kept) */
    if (e == 0) {
        if (m == 0) return bits_f32(sign);
        /* subnormal m * 2^-24: normalise so the leading one becomes the implicit bit */
        int shift = 0;
        while (!(m & 0x400u)) {
            m <<= 1;
            shift++;
        }
        return bits_f32(sign | ((uint32_t)(113 - shift) << 23) | ((m & 0x3FFu) << 13));
    }
    return bits_f32(sign | ((e + 112u) << 23) | (m << 13));
}

uint16_t mkref_f32_to_bf16(float x) {
    uint32_t u = f32_bits(x);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((u >> 16) | 0x0040u); /* quiet NaN */
    uint32_t rounded = u + 0x7FFFu + ((u >> 16) & 1u); /* RNE; overflow carries into Inf */
    return (uint16_t)(rounded >> 16);
}

float mkref_bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

uint8_t mkref_f32_to_fp8(float x) {
    uint32_t u = f32_bits(x);
    uint8_t sign = (uint8_t)((u >> 24) & 0x80u);
    uint32_t a = u & 0x7FFFFFFFu;
    if (a > 0x7F800000u) return (uint8_t)(sign | 0x7Fu);       /* NaN */
    if (a >= 0x43E00000u) return (uint8_t)(sign | 0x7Eu);      /* >= 448, Inf: saturate */
    uint32_t b = encode_magnitude(a, 3, -6);
    if (b > 0x7Eu) b = 0x7Eu;                                  /* never reached below 448 */
    return (uint8_t)(sign | b);
}

float mkref_fp8_to_f32(uint8_t b) {
    uint32_t sign = (uint32_t)(b & 0x80u) << 24;
    uint32_t e = (b >> 3) & 0xFu, m = b & 7u;
    if (e == 0xF && m == 7) return bits_f32(sign | 0x7FC00000u); /* NaN */
    if (e == 0) {
        if (m == 0) return bits_f32(sign);
        int shift = 0;                           /* m * 2^-9, normalised */
        while (!(m & 8u)) {
            m <<= 1;
            shift++;
        }
        return bits_f32(sign | ((uint32_t)(121 - shift) << 23) | ((m & 7u) << 20));
    }
    return bits_f32(sign | ((e + 120u) << 23) | (m << 20));
}

/* Round to nearest integer, ties to even, by comparison with floor (independent of the
   rounding mode). NaN gives 0. */
static double rne(double v) {
    if (v != v) return 0.0;
    if (isinf(v)) return v;
    double f = floor(v);
    double d = v - f;
    if (d > 0.5) return f + 1.0;
    if (d < 0.5) return f;
    return fmod(f, 2.0) == 0.0 ? f : f + 1.0;
}

static double clamp(double v, double lo, double hi) { return v < lo ? lo : v > hi ? hi : v; }

int8_t mkref_f32_to_i8_sat(float x) { return (int8_t)clamp(rne(x), -127.0, 127.0); }

float mkref_load(mk_dtype t, const void *base, int64_t idx) {
    switch (t) {
    case MK_F32: return ((const float *)base)[idx];
    case MK_F16: return mkref_f16_to_f32(((const uint16_t *)base)[idx]);
    case MK_BF16: return mkref_bf16_to_f32(((const uint16_t *)base)[idx]);
    case MK_FP8_E4M3: return mkref_fp8_to_f32(((const uint8_t *)base)[idx]);
    case MK_I8: return (float)((const int8_t *)base)[idx];
    case MK_U8: return (float)((const uint8_t *)base)[idx];
    case MK_I32: return (float)((const int32_t *)base)[idx];
    default: return 0.0f;
    }
}

void mkref_store(mk_dtype t, void *base, int64_t idx, float v) {
    switch (t) {
    case MK_F32: ((float *)base)[idx] = v; break;
    case MK_F16: ((uint16_t *)base)[idx] = mkref_f32_to_f16(v); break;
    case MK_BF16: ((uint16_t *)base)[idx] = mkref_f32_to_bf16(v); break;
    case MK_FP8_E4M3: ((uint8_t *)base)[idx] = mkref_f32_to_fp8(v); break;
    case MK_I8: ((int8_t *)base)[idx] = (int8_t)clamp(rne(v), -128.0, 127.0); break;
    case MK_U8: ((uint8_t *)base)[idx] = (uint8_t)clamp(rne(v), 0.0, 255.0); break;
    case MK_I32:
        ((int32_t *)base)[idx] = (int32_t)clamp(rne(v), -2147483648.0, 2147483647.0);
        break;
    default: break;
    }
}

float mkref_round_to(mk_dtype t, float v) {
    switch (t) {
    case MK_F16: return mkref_f16_to_f32(mkref_f32_to_f16(v));
    case MK_BF16: return mkref_bf16_to_f32(mkref_f32_to_bf16(v));
    case MK_FP8_E4M3: return mkref_fp8_to_f32(mkref_f32_to_fp8(v));
    case MK_I8:
    case MK_U8:
    case MK_I32: {
        unsigned char tmp[4];
        mkref_store(t, tmp, 0, v);
        return mkref_load(t, tmp, 0);
    }
    default: return v;
    }
}
