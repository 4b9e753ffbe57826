/*
 * medkern's CUDA emulator: the small float formats as the hardware converts them, written
 * from IEEE 754 (binary16, bfloat16) and the OCP FP8 E4M3 definition — deliberately not
 * from reference/convert.c, so that kernels are checked against an independent model.
 *  - to f16 (cvt.rn.f16.f32): round to nearest even, overflow to Inf, NaN -> canonical 0x7FFF;
 *  - to bf16 (cvt.rn.bf16.f32): round to nearest even, NaN -> canonical 0x7FFF;
 *  - to e4m3 with satfinite (cvt.rn.satfinite.e4m3x2.f32): round to nearest even, finite
 *    overflow and Inf -> +-448, NaN -> 0x7F;
 *  - decodes are exact.
 */
#ifndef MEDKERN_CUDA_EMU_FLOAT_H
#define MEDKERN_CUDA_EMU_FLOAT_H

#include <math.h>
#include <stdint.h>

namespace mkemu {

/* x rounded to nearest even onto a binary format with p significand bits and minimum
   normal exponent emin (unbounded above); x finite. Exact: x * 2^-lsb is an integer
   candidate computed in double without error for |x| in float/double range used here. */
static inline double round_format(double x, int p, int emin) {
    if (x == 0.0 || !isfinite(x)) return x;
    int e;
    (void)frexp(x, &e); /* |x| = m 2^e, m in [0.5, 1): leading bit at 2^(e-1) */
    int lead = e - 1 < emin ? emin : e - 1;
    int lsb = lead - (p - 1);
    return ldexp(nearbyint(ldexp(x, -lsb)), lsb); /* nearbyint: ties to even */
}

/* Encodes an exactly representable value into 1+ebits+mbits bits. ieee: the top exponent
   field is reserved for Inf/NaN (f16, bf16), and an overflowed value encodes as Inf;
   otherwise (E4M3) the top field holds finite values and the caller saturates first. */
static inline uint32_t encode_format(double r, int ebits, int mbits, int bias, bool ieee = true) {
    uint32_t sign = signbit(r) ? 1u : 0u;
    double a = fabs(r);
    uint32_t out;
    const int emax_field = (1 << ebits) - 1;
    if (a == 0.0) {
        out = 0;
    } else if (isinf(a)) {
        out = (uint32_t)emax_field << mbits;
    } else {
        int e;
        double m = frexp(a, &e); /* a = m 2^e */
        int E = e - 1;           /* a = 1.f 2^E */
        if (E < 1 - bias) {      /* subnormal: a / 2^(1 - bias - mbits) */
            out = (uint32_t)ldexp(a, bias - 1 + mbits);
        } else if (ieee && E + bias >= emax_field) {
            out = (uint32_t)emax_field << mbits; /* overflow: Inf */
        } else {
            out = (uint32_t)(E + bias) << mbits | (uint32_t)(ldexp(m * 2.0 - 1.0, mbits));
        }
    }
    return sign << (ebits + mbits) | out;
}

static inline double decode_format(uint32_t bits, int ebits, int mbits, int bias) {
    const uint32_t sign = bits >> (ebits + mbits) & 1u, E = bits >> mbits & ((1u << ebits) - 1u),
                   M = bits & ((1u << mbits) - 1u);
    double v;
    if (E == 0) v = ldexp((double)M, 1 - bias - mbits);
    else v = ldexp(1.0 + ldexp((double)M, -mbits), (int)E - bias);
    return sign ? -v : v;
}

static inline uint16_t f16_from_double(double x) {
    if (isnan(x)) return 0x7FFFu;
    return (uint16_t)encode_format(round_format(x, 11, -14), 5, 10, 15);
}
static inline double f16_to_double(uint16_t h) {
    if ((h & 0x7C00u) == 0x7C00u) return (h & 0x3FFu) ? NAN : (h & 0x8000u ? -INFINITY : INFINITY);
    return decode_format(h, 5, 10, 15);
}
static inline uint16_t bf16_from_double(double x) {
    if (isnan(x)) return 0x7FFFu;
    return (uint16_t)encode_format(round_format(x, 8, -126), 8, 7, 127);
}
static inline double bf16_to_double(uint16_t h) {
    if ((h & 0x7F80u) == 0x7F80u) return (h & 0x7Fu) ? NAN : (h & 0x8000u ? -INFINITY : INFINITY);
    return decode_format(h, 8, 7, 127);
}
/* E4M3: bias 7, no Inf, S.1111.111 is NaN, largest finite 448 */
static inline uint8_t e4m3_from_double_satfinite(double x) {
    if (isnan(x)) return 0x7Fu;
    double r = round_format(x, 4, -6);
    if (r > 448.0) r = 448.0;
    if (r < -448.0) r = -448.0;
    return (uint8_t)encode_format(r, 4, 3, 7, false);
}
static inline double e4m3_to_double(uint8_t b) {
    if ((b & 0x7Fu) == 0x7Fu) return NAN;
    return decode_format(b, 4, 3, 7);
}

} /* namespace mkemu */
#endif
