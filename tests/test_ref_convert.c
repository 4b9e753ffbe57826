/*
 * The reference number-format conversions against an independent oracle.
 *
 * The oracle decodes a code from its fields with ldexp (no bit assembly) and encodes by
 * searching a table of every decoded value for the nearest one, ties to the even code,
 * with the overflow threshold given by a virtual "next" value past the largest finite one
 * (Inf for f16/bf16; fp8 e4m3fn saturates instead). This is a different formulation from
 * the shift-and-round of reference/convert.c.
 *
 * Exhaustive: every f16, bf16 and fp8 code is decoded and re-encoded, and every halfway
 * point between neighbouring codes (and the floats just either side of it) is encoded.
 * Then random f32 inputs, NaN payloads, edge cases, the integer conversions, and the
 * deterministic generator of reference/rng.c (known first values).
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mktest.h"

static uint32_t fbits(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static float ffrom(uint32_t u) {
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* ------------------------------------------------------------ oracle */

typedef struct {
    const char *name;
    int ebits, mbits;    /* field widths */
    int has_inf;         /* exponent all ones: Inf/NaN (f16, bf16) or e4m3fn (only S.1111.111 NaN) */
    uint32_t top;        /* first code past the largest finite magnitude */
    double *tab;         /* decoded magnitudes of codes 0..top (tab[top] virtual)  */
} format;

/* Decodes a code from its fields: (-1)^s * 2^(e - bias) * 1.m, or 2^(1 - bias) * 0.m. */
static double oracle_decode(const format *f, uint32_t code) {
    int bias = (1 << (f->ebits - 1)) - 1;
    uint32_t s = code >> (f->ebits + f->mbits) & 1u;
    uint32_t e = code >> f->mbits & ((1u << f->ebits) - 1u);
    uint32_t m = code & ((1u << f->mbits) - 1u);
    double mag;
    if (e == (1u << f->ebits) - 1u && f->has_inf)
        mag = m ? NAN : INFINITY;
    else if (e == (1u << f->ebits) - 1u && m == (1u << f->mbits) - 1u)
        mag = NAN; /* e4m3fn */
    else if (e == 0)
        mag = ldexp((double)m, 1 - bias - f->mbits);
    else
        mag = ldexp((double)((1u << f->mbits) + m), (int)e - bias - f->mbits);
    return s ? -mag : mag;
}

static void oracle_init(format *f) {
    f->tab = malloc((f->top + 1) * sizeof *f->tab);
    for (uint32_t c = 0; c < f->top; c++) f->tab[c] = oracle_decode(f, c);
    /* the value the next code would have if the exponent range went on */
    f->tab[f->top] = 2.0 * f->tab[f->top - 1] - f->tab[f->top - 2];
    if (f->has_inf) f->tab[f->top] = ldexp(1.0, (1 << (f->ebits - 1)));
}

/* Nearest code to finite x >= 0, ties to the even code; x past the largest finite value
   rounds as if tab[top] existed (top = Inf), and fp8 saturates. */
static uint32_t oracle_nearest(const format *f, double x) {
    if (!f->has_inf && x >= f->tab[f->top - 1]) return f->top - 1;
    if (x >= f->tab[f->top]) return f->top;
    uint32_t lo = 0, hi = f->top; /* tab[lo] <= x < tab[hi] */
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (f->tab[mid] <= x) lo = mid;
        else hi = mid;
    }
    double half = (f->tab[lo] + f->tab[hi]) / 2.0; /* exact: both have few significant bits */
    if (x < half) return lo;
    if (x > half) return hi;
    return (lo & 1u) ? hi : lo;
}

static uint32_t oracle_encode(const format *f, float x) {
    uint32_t sign = signbit(x) ? 1u << (f->ebits + f->mbits) : 0u;
    return sign | oracle_nearest(f, fabs((double)x));
}

static format F16 = {"f16", 5, 10, 1, 0x7C00, NULL};
static format BF16 = {"bf16", 8, 7, 1, 0x7F80, NULL};
static format FP8 = {"fp8", 4, 3, 0, 0x7F, NULL};

static uint32_t enc(const format *f, float x) {
    if (f == &F16) return mkref_f32_to_f16(x);
    if (f == &BF16) return mkref_f32_to_bf16(x);
    return mkref_f32_to_fp8(x);
}

static float dec(const format *f, uint32_t c) {
    if (f == &F16) return mkref_f16_to_f32((uint16_t)c);
    if (f == &BF16) return mkref_bf16_to_f32((uint16_t)c);
    return mkref_fp8_to_f32((uint8_t)c);
}

/* ------------------------------------------------------------ exhaustive over codes */

static void check_all_codes(const format *f) {
    uint32_t ncodes = 1u << (1 + f->ebits + f->mbits);
    uint32_t sign_bit = 1u << (f->ebits + f->mbits);
    uint32_t quiet = f->has_inf ? 1u << (f->mbits - 1) : 0u;
    int bad_dec = 0, bad_rt = 0;
    for (uint32_t c = 0; c < ncodes; c++) {
        double want = oracle_decode(f, c);
        float got = dec(f, c);
        if (isnan(want)) {
            /* a NaN decodes to a NaN of the same sign whose payload keeps the code's bits */
            int ok = isnan(got) && !signbit(got) == !(c & sign_bit);
            if (f->has_inf) ok = ok && ((fbits(got) >> (23 - f->mbits)) & ((1u << f->mbits) - 1u)) ==
                                           (c & ((1u << f->mbits) - 1u));
            if (!ok && bad_dec++ < 5) MKT_CHECK(0, "%s decode of NaN code 0x%x gave 0x%08x", f->name, c, fbits(got));
            uint32_t back = enc(f, got);
            if (back != (c | quiet) && bad_rt++ < 5)
                MKT_CHECK(0, "%s NaN code 0x%x round-trips to 0x%x (want 0x%x)", f->name, c, back, c | quiet);
            continue;
        }
        if (fbits(got) != fbits((float)want) && bad_dec++ < 5)
            MKT_CHECK(0, "%s decode of 0x%x: %a, oracle %a", f->name, c, (double)got, want);
        uint32_t back = enc(f, got);
        if (back != c && bad_rt++ < 5) MKT_CHECK(0, "%s code 0x%x round-trips to 0x%x", f->name, c, back);
    }
    MKT_CHECK(bad_dec == 0, "%s: %d decode mismatches over %u codes", f->name, bad_dec, ncodes);
    MKT_CHECK(bad_rt == 0, "%s: %d round-trip mismatches over %u codes", f->name, bad_rt, ncodes);
}

/* Every halfway point between neighbouring magnitudes (the last finite one and the
   overflow threshold included), and the floats just below and above it, both signs. */
static void check_all_ties(const format *f) {
    uint32_t sign_bit = 1u << (f->ebits + f->mbits);
    int bad = 0;
    for (uint32_t c = 0; c < f->top; c++) {
        double half = (f->tab[c] + f->tab[c + 1]) / 2.0;
        float t = (float)half;
        if ((double)t != half) { /* cannot happen: a halfway point has mbits+2 bits */
            MKT_CHECK(0, "%s halfway point after 0x%x not a float", f->name, c);
            continue;
        }
        uint32_t even = (c & 1u) ? c + 1 : c;
        uint32_t up = c + 1;
        if (!f->has_inf && up == f->top) up = even = c; /* saturation past 448 */
        const float xs[3] = {nextafterf(t, 0.0f), t, nextafterf(t, INFINITY)};
        const uint32_t want[3] = {c, even, up};
        for (int i = 0; i < 3; i++) {
            for (int s = 0; s < 2; s++) {
                float x = s ? -xs[i] : xs[i];
                uint32_t w = want[i] | (s ? sign_bit : 0u);
                uint32_t got = enc(f, x);
                if (got != w && bad++ < 5)
                    MKT_CHECK(0, "%s encode of %a (near the tie after 0x%x) = 0x%x, want 0x%x", f->name,
                              (double)x, c, got, w);
                if (oracle_encode(f, x) != w && bad++ < 5)
                    MKT_CHECK(0, "%s oracle disagrees with the tie rule at %a", f->name, (double)x);
            }
        }
    }
    MKT_CHECK(bad == 0, "%s: %d tie mismatches", f->name, bad);
}

/* ------------------------------------------------------------ random f32 inputs */

static void check_random(const format *f, uint64_t salt, int count, int emin, int emax) {
    mkref_rng r;
    mkt_rng(&r, salt);
    int bad = 0;
    for (int i = 0; i < count; i++) {
        float x;
        if (i & 1) {
            x = ffrom((uint32_t)mkref_rng_u64(&r)); /* any pattern, every exponent */
        } else {
            /* a random significand at an exponent in or around the format's range */
            uint32_t mant = (uint32_t)mkref_rng_u64(&r) & 0x7FFFFFu;
            int e = (int)mkref_rng_range(&r, emin, emax);
            x = ldexpf(ffrom(0x3F800000u | mant), e);
            if (mkref_rng_u64(&r) & 1) x = -x;
        }
        if (isnan(x)) continue;
        uint32_t got = enc(f, x), want = oracle_encode(f, x);
        if (got != want && bad++ < 5)
            MKT_CHECK(0, "%s encode of %a (0x%08x) = 0x%x, oracle 0x%x", f->name, (double)x, fbits(x), got,
                      want);
    }
    MKT_CHECK(bad == 0, "%s: %d of %d random encodes differ from the oracle", f->name, bad, count);
}

/* ------------------------------------------------------------ NaN payloads */

static void check_nan_payloads(void) {
    const uint32_t nans[] = {0x7F800001u, 0x7F800100u, 0x7F801FFFu, 0x7F802000u, 0x7FBFFFFFu,
                             0x7FC00000u, 0x7FFFFFFFu, 0xFF800001u, 0xFFC00001u, 0x7F8000FFu,
                             0x7F80FFFFu, 0xFF80FFFFu, 0x7F810000u};
    for (size_t i = 0; i < sizeof nans / sizeof nans[0]; i++) {
        uint32_t u = nans[i];
        float x = ffrom(u);
        uint32_t sign = u >> 31;
        uint16_t h = mkref_f32_to_f16(x);
        MKT_CHECK((h & 0x7C00u) == 0x7C00u && (h & 0x200u) && (uint32_t)(h >> 15) == sign &&
                      (h & 0x1FFu) == ((u >> 13) & 0x1FFu),
                  "f16 of NaN 0x%08x = 0x%04x: want a quiet NaN, same sign, payload kept", u, h);
        uint16_t b = mkref_f32_to_bf16(x);
        MKT_CHECK((b & 0x7F80u) == 0x7F80u && (b & 0x40u) && (uint32_t)(b >> 15) == sign &&
                      (b & 0x3Fu) == ((u >> 16) & 0x3Fu),
                  "bf16 of NaN 0x%08x = 0x%04x: want a quiet NaN (never Inf), same sign", u, b);
        uint8_t e = mkref_f32_to_fp8(x);
        MKT_CHECK(e == (sign ? 0xFF : 0x7F), "fp8 of NaN 0x%08x = 0x%02x", u, e);
        MKT_CHECK(isnan(mkref_round_to(MK_F16, x)) && isnan(mkref_round_to(MK_BF16, x)) &&
                      isnan(mkref_round_to(MK_FP8_E4M3, x)),
                  "round_to keeps NaN 0x%08x", u);
    }
}

/* ------------------------------------------------------------ edge cases by hand */

typedef struct {
    float x;
    uint32_t want;
} edge;

static void check_edges(const format *f, const edge *e, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t got = enc(f, e[i].x);
        MKT_CHECK(got == e[i].want, "%s encode of %a = 0x%x, want 0x%x", f->name, (double)e[i].x, got,
                  e[i].want);
        MKT_CHECK(oracle_encode(f, e[i].x) == e[i].want, "%s oracle on %a", f->name, (double)e[i].x);
    }
}

static void check_hand_cases(void) {
    const edge f16[] = {
        {1.0f, 0x3C00}, {-2.0f, 0xC000}, {0.0f, 0x0000}, {-0.0f, 0x8000},
        {65504.0f, 0x7BFF}, {65519.99f, 0x7BFF}, {65520.0f, 0x7C00}, {-65520.0f, 0xFC00},
        {1e6f, 0x7C00}, {INFINITY, 0x7C00}, {-INFINITY, 0xFC00}, {FLT_MAX, 0x7C00},
        {0x1p-24f, 0x0001}, {0x1p-25f, 0x0000}, {-0x1p-25f, 0x8000}, {0x1.000002p-25f, 0x0001},
        {0x3p-25f, 0x0002}, {0x5p-25f, 0x0002}, {0x1p-14f, 0x0400}, {0x3FFp-24f, 0x03FF},
        {0x7FFp-25f, 0x0400}, {0x1.002p0f, 0x3C00}, {0x1.006p0f, 0x3C02}, {0x1.0021p0f, 0x3C01},
        {1e-10f, 0x0000}, {0x1p-149f, 0x0000}, {-0x1p-149f, 0x8000}, {0.1f, 0x2E66},
        {3.14159265f, 0x4248}, {-1e-5f, 0x80A8}};
    const edge bf16[] = {
        {1.0f, 0x3F80}, {-0.0f, 0x8000}, {0x1.01p0f, 0x3F80}, {0x1.03p0f, 0x3F82},
        {0x1.0101p0f, 0x3F81}, {FLT_MAX, 0x7F80}, {-FLT_MAX, 0xFF80}, {INFINITY, 0x7F80},
        {ffrom(0x7F7F7FFFu), 0x7F7F}, {ffrom(0x7F7F8000u), 0x7F80}, {ffrom(0x7F7E8000u), 0x7F7E},
        {ffrom(0x00000001u), 0x0000}, {ffrom(0x00008000u), 0x0000}, {ffrom(0x00018000u), 0x0002},
        {ffrom(0x0000FFFFu), 0x0001}, {ffrom(0x007FFFFFu), 0x0080}, {ffrom(0x80008001u), 0x8001},
        {3.14159265f, 0x4049}, {0.1f, 0x3DCD}};
    const edge fp8[] = {
        {1.0f, 0x38}, {-0.0f, 0x80}, {448.0f, 0x7E}, {-448.0f, 0xFE}, {449.0f, 0x7E},
        {464.0f, 0x7E}, {480.0f, 0x7E}, {1e9f, 0x7E}, {FLT_MAX, 0x7E}, {INFINITY, 0x7E},
        {-INFINITY, 0xFE}, {416.0f, 0x7D}, {432.0f, 0x7E}, {431.99f, 0x7D}, {240.0f, 0x77},
        {0x1p-9f, 0x01}, {0x1p-10f, 0x00}, {-0x1p-10f, 0x80}, {0x1.0002p-10f, 0x01},
        {0x3p-10f, 0x02}, {0x1p-6f, 0x08}, {0xFp-10f, 0x08}, {0x7p-9f, 0x07}, {1.0625f, 0x38},
        {1.1875f, 0x3A}, {1.0626f, 0x39}, {17.0f, 0x58}, {19.0f, 0x5A}, {-3.25f, 0xC5},
        {0x1p-149f, 0x00}};
    check_edges(&F16, f16, sizeof f16 / sizeof f16[0]);
    check_edges(&BF16, bf16, sizeof bf16 / sizeof bf16[0]);
    check_edges(&FP8, fp8, sizeof fp8 / sizeof fp8[0]);

    /* decoders at known points */
    MKT_CHECK(mkref_f16_to_f32(0x0001) == 0x1p-24f && mkref_f16_to_f32(0x7BFF) == 65504.0f &&
                  mkref_f16_to_f32(0xFC00) == -INFINITY && fbits(mkref_f16_to_f32(0x8000)) == 0x80000000u,
              "f16 decode of 0x0001, 0x7BFF, 0xFC00, 0x8000");
    MKT_CHECK(mkref_fp8_to_f32(0x7E) == 448.0f && mkref_fp8_to_f32(0x01) == 0x1p-9f &&
                  mkref_fp8_to_f32(0x08) == 0x1p-6f && mkref_fp8_to_f32(0xF7) == -240.0f &&
                  isnan(mkref_fp8_to_f32(0x7F)) && isnan(mkref_fp8_to_f32(0xFF)) &&
                  mkref_fp8_to_f32(0x78) == 256.0f,
              "fp8 decode of 0x7E, 0x01, 0x08, 0xF7, 0x7F, 0xFF, 0x78");
    MKT_CHECK(mkref_bf16_to_f32(0x0001) == 0x1p-133f && mkref_bf16_to_f32(0x7F80) == INFINITY,
              "bf16 decode of 0x0001, 0x7F80");
}

/* ------------------------------------------------------------ integers */

static void check_integers(void) {
    const float in[] = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 0.49999997f, 126.5f, 127.49f,
                        127.5f, 200.0f, -127.5f, -128.0f, -300.0f, NAN, INFINITY, -INFINITY, 3.0f};
    const int8_t sat[] = {0, 2, 2, 0, -2, -2, 0, 126, 127, 127, 127, -127, -127, -127, 0, 127, -127, 3};
    const int8_t i8[] = {0, 2, 2, 0, -2, -2, 0, 126, 127, 127, 127, -128, -128, -128, 0, 127, -128, 3};
    const uint8_t u8[] = {0, 2, 2, 0, 0, 0, 0, 126, 127, 128, 200, 0, 0, 0, 0, 255, 0, 3};
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        MKT_CHECK(mkref_f32_to_i8_sat(in[i]) == sat[i], "f32_to_i8_sat(%g) = %d, want %d", (double)in[i],
                  mkref_f32_to_i8_sat(in[i]), sat[i]);
        int8_t a[3] = {11, 11, 11};
        mkref_store(MK_I8, a, 1, in[i]);
        MKT_CHECK(a[1] == i8[i] && a[0] == 11 && a[2] == 11, "store I8 %g -> %d, want %d", (double)in[i], a[1],
                  i8[i]);
        MKT_CHECK(mkref_load(MK_I8, a, 1) == (float)i8[i], "load I8");
        MKT_CHECK(mkref_round_to(MK_I8, in[i]) == (float)i8[i], "round_to I8 %g", (double)in[i]);
        uint8_t b[3] = {11, 11, 11};
        mkref_store(MK_U8, b, 1, in[i]);
        MKT_CHECK(b[1] == u8[i] && b[0] == 11 && b[2] == 11, "store U8 %g -> %d, want %d", (double)in[i], b[1],
                  u8[i]);
        MKT_CHECK(mkref_round_to(MK_U8, in[i]) == (float)u8[i], "round_to U8 %g", (double)in[i]);
    }
    int32_t w[2];
    const float i32_in[] = {2.5f, -2.5f, 3.5f, 1e10f, -1e10f, 16777216.0f, -7.5f};
    const int32_t i32_want[] = {2, -2, 4, 2147483647, INT32_MIN, 16777216, -8};
    for (size_t i = 0; i < sizeof i32_in / sizeof i32_in[0]; i++) {
        mkref_store(MK_I32, w, 1, i32_in[i]);
        MKT_CHECK(w[1] == i32_want[i], "store I32 %g -> %d, want %d", (double)i32_in[i], (int)w[1],
                  (int)i32_want[i]);
    }
    w[0] = -123456789;
    MKT_CHECK(mkref_load(MK_I32, w, 0) == -123456789.0f, "load I32");

    /* float types through store/load/round_to use the conversions */
    uint16_t h[2];
    mkref_store(MK_F16, h, 1, 65520.0f);
    MKT_CHECK(h[1] == 0x7C00 && mkref_load(MK_F16, h, 1) == INFINITY, "store/load F16");
    mkref_store(MK_BF16, h, 0, 1.0f);
    MKT_CHECK(h[0] == 0x3F80 && mkref_load(MK_BF16, h, 0) == 1.0f, "store/load BF16");
    uint8_t e[1];
    mkref_store(MK_FP8_E4M3, e, 0, -500.0f);
    MKT_CHECK(e[0] == 0xFE && mkref_load(MK_FP8_E4M3, e, 0) == -448.0f, "store/load FP8");
    float fl[1];
    mkref_store(MK_F32, fl, 0, 0.1f);
    MKT_CHECK(fl[0] == 0.1f && mkref_load(MK_F32, fl, 0) == 0.1f && mkref_round_to(MK_F32, 0.1f) == 0.1f,
              "F32 identity");
    MKT_CHECK(mkref_round_to(MK_F16, 0.1f) == 0x1.998p-4f && mkref_round_to(MK_BF16, 0.1f) == 0x1.9ap-4f &&
                  mkref_round_to(MK_FP8_E4M3, 0.1f) == 0x1.ap-4f,
              "round_to F16/BF16/FP8 of 0.1");
}

/* ------------------------------------------------------------ generator */

static void check_rng(void) {
    /* splitmix64 from seed 0 (published first values), then xoshiro256** outputs computed
       by an independent implementation */
    mkref_rng r;
    mkref_rng_seed(&r, 0);
    MKT_CHECK(r.s[0] == 0xE220A8397B1DCDAFull && r.s[1] == 0x6E789E6AA1B965F4ull &&
                  r.s[2] == 0x06C45D188009454Full && r.s[3] == 0xF88BB8A8724C81ECull,
              "splitmix64 seeding of seed 0");
    const uint64_t want0[4] = {0x99EC5F36CB75F2B4ull, 0xBF6E1F784956452Aull, 0x1A5F849D4933E6E0ull,
                               0x6AA594F1262D2D2Cull};
    for (int i = 0; i < 4; i++) {
        uint64_t v = mkref_rng_u64(&r);
        MKT_CHECK(v == want0[i], "xoshiro256** seed 0 output %d = %016llx", i, (unsigned long long)v);
    }
    mkref_rng_seed(&r, 12345);
    const uint64_t want1[4] = {0xBE6A36374160D49Bull, 0x214AAA0637A688C6ull, 0xF69D16DE9954D388ull,
                               0x0C60048C4E96E033ull};
    for (int i = 0; i < 4; i++) {
        uint64_t v = mkref_rng_u64(&r);
        MKT_CHECK(v == want1[i], "xoshiro256** seed 12345 output %d = %016llx", i, (unsigned long long)v);
    }

    mkt_rng(&r, 77);
    const int n = 200000;
    double su = 0, sn = 0, sn2 = 0;
    int hits[7] = {0}, outside = 0, uniform_bad = 0;
    for (int i = 0; i < n; i++) {
        double u = mkref_rng_uniform(&r);
        if (!(u >= 0.0 && u < 1.0)) uniform_bad++;
        su += u;
        double z = mkref_rng_normal(&r);
        sn += z;
        sn2 += z * z;
        int64_t v = mkref_rng_range(&r, -3, 3);
        if (v < -3 || v > 3) outside++;
        else hits[v + 3]++;
    }
    MKT_CHECK(uniform_bad == 0 && fabs(su / n - 0.5) < 0.005, "uniform in [0,1), mean %g", su / n);
    double mean = sn / n, sd = sqrt(sn2 / n - mean * mean);
    MKT_CHECK(fabs(mean) < 0.01 && fabs(sd - 1.0) < 0.01, "normal mean %g std %g", mean, sd);
    MKT_CHECK(outside == 0, "range(-3, 3) gave %d values outside", outside);
    for (int i = 0; i < 7; i++)
        MKT_CHECK(abs(hits[i] - n / 7) < n / 70, "range(-3, 3): value %d drawn %d times of %d", i - 3, hits[i], n);
    MKT_CHECK(mkref_rng_range(&r, 5, 5) == 5, "range(5, 5)");
    int64_t big = mkref_rng_range(&r, INT64_MIN, INT64_MAX);
    (void)big;
    mkref_rng a, b;
    mkt_rng(&a, 5);
    mkt_rng(&b, 5);
    int same = 1;
    for (int i = 0; i < 100; i++) same &= mkref_rng_u64(&a) == mkref_rng_u64(&b);
    MKT_CHECK(same, "same seed, same stream");
}

int main(int argc, char **argv) {
    mkt_init(argc, argv, "test_ref_convert");
    oracle_init(&F16);
    oracle_init(&BF16);
    oracle_init(&FP8);
    /* the oracle's tables themselves, at points known by heart */
    MKT_CHECK(F16.tab[0x7BFF] == 65504.0 && F16.tab[0x7C00] == 65536.0 && F16.tab[1] == 0x1p-24 &&
                  BF16.tab[0x7F7F] == 0x1.FEp127 && FP8.tab[0x7E] == 448.0 && FP8.tab[1] == 0x1p-9 &&
                  FP8.tab[0x08] == 0x1p-6,
              "oracle tables");

    const format *fmts[3] = {&F16, &BF16, &FP8};
    for (int i = 0; i < 3; i++) {
        check_all_codes(fmts[i]);
        check_all_ties(fmts[i]);
    }
    check_random(&F16, 1, 2000000, -27, 17);
    check_random(&BF16, 2, 2000000, -140, 127);
    check_random(&FP8, 3, 2000000, -12, 10);
    check_nan_payloads();
    check_hand_cases();
    check_integers();
    check_rng();
    free(F16.tab);
    free(BF16.tab);
    free(FP8.tab);
    return mkt_finish();
}
