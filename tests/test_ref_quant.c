/*
 * Quantized weights of the reference (reference/quant.c).
 *
 *  - sizes of the canonical arrays;
 *  - quantization of every format (W4 symmetric/asymmetric with groups 32/64/128, W8
 *    per channel and grouped, W8A8, FP8): each scale and zero against its rule, each code
 *    recomputed independently (nearbyint, the group's own scale), each dequantized value
 *    within the format's error bound, with groups of very different magnitudes so that a
 *    value read with a neighbouring group's scale fails;
 *  - code/set_code packing (a nibble write leaves its neighbour alone);
 *  - mkref_qgemm against an independent dequantize-then-GEMM in long double (W4/W8) or an
 *    independent activation quantization plus integer/long double sums (W8A8/FP8), with
 *    and without a k_perm, with and without bias;
 *  - per-token activation quantization and a W8A8/FP8 GEMM against values worked by hand.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mktest.h"

typedef struct {
    mk_qweight_desc d;
    mk_qweight_data w;
} qweight;

static void qw_alloc(qweight *q, mk_qformat f, int64_t n, int64_t k, int gs, int asym) {
    memset(q, 0, sizeof *q);
    q->d.format = f;
    q->d.n = n;
    q->d.k = k;
    q->d.group_size = gs;
    q->d.asymmetric = asym;
    q->w.q = calloc(1, mkref_qweight_q_bytes(&q->d));
    q->w.scales = calloc(1, mkref_qweight_scale_bytes(&q->d));
    if (mkref_qweight_zero_bytes(&q->d)) q->w.zeros = calloc(1, mkref_qweight_zero_bytes(&q->d));
}

static void qw_free(qweight *q) {
    free(q->w.q);
    free(q->w.scales);
    free(q->w.zeros);
    free(q->w.k_perm);
}

static const char *fmt_name(const mk_qweight_desc *d) {
    switch (d->format) {
    case MK_QW4: return d->asymmetric ? "QW4-asym" : "QW4-sym";
    case MK_QW8: return "QW8";
    case MK_QW8A8: return "QW8A8";
    case MK_QFP8: return "QFP8";
    }
    return "?";
}

/* ------------------------------------------------------------ independent reading */

static int64_t n_groups(const mk_qweight_desc *d) {
    if (d->format == MK_QW4 || (d->format == MK_QW8 && d->group_size)) return d->k / d->group_size;
    return 1;
}

static int64_t grp(const mk_qweight_desc *d, int64_t j) { return j / (d->k / n_groups(d)); }

static double scale_at(const qweight *q, int64_t n, int64_t g) {
    int64_t i = n * n_groups(&q->d) + g;
    if (q->d.format == MK_QW4 || q->d.format == MK_QW8) return mkref_f16_to_f32(((uint16_t *)q->w.scales)[i]);
    return ((float *)q->w.scales)[i];
}

static int zero_at(const qweight *q, int64_t n, int64_t g) {
    if (q->d.format != MK_QW4) return 0;
    return q->d.asymmetric ? ((uint8_t *)q->w.zeros)[n * n_groups(&q->d) + g] : 8;
}

/* The stored code of W[n][j], read from the raw bytes. */
static int raw_code(const qweight *q, int64_t n, int64_t j) {
    const uint8_t *b = q->w.q;
    if (q->d.format == MK_QW4) {
        uint8_t byte = b[n * ((q->d.k + 1) / 2) + j / 2];
        return j % 2 ? byte >> 4 : byte & 15;
    }
    if (q->d.format == MK_QFP8) return b[n * q->d.k + j];
    return (int8_t)b[n * q->d.k + j];
}

static long double deq(const qweight *q, int64_t n, int64_t j) {
    int64_t g = grp(&q->d, j);
    long double s = scale_at(q, n, g);
    int c = raw_code(q, n, j);
    if (q->d.format == MK_QFP8) return s * mkref_fp8_to_f32((uint8_t)c);
    return s * (c - zero_at(q, n, g));
}

/* ------------------------------------------------------------ weights with varied groups */

static float *make_weights(const mk_qweight_desc *d, uint64_t salt) {
    mkref_rng r;
    mkt_rng(&r, salt);
    float *w = malloc((size_t)(d->n * d->k) * sizeof *w);
    mkt_fill_normal(&r, w, (size_t)(d->n * d->k), 0.02f, 8.0f);
    /* neighbouring groups (rows, for per-channel formats) differ by a factor 4 or 16 */
    for (int64_t n = 0; n < d->n; n++)
        for (int64_t j = 0; j < d->k; j++) w[n * d->k + j] *= powf(4.0f, (float)((grp(d, j) + n) % 3));
    /* one row all positive and one all negative (the asymmetric range must include 0) */
    if (d->n > 3)
        for (int64_t j = 0; j < d->k; j++) {
            w[1 * d->k + j] = fabsf(w[1 * d->k + j]);
            w[2 * d->k + j] = -fabsf(w[2 * d->k + j]);
        }
    return w;
}

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

static void check_quantize(mk_qformat f, int64_t n, int64_t k, int gs, int asym, uint64_t salt) {
    qweight q;
    qw_alloc(&q, f, n, k, gs, asym);
    float *w = make_weights(&q.d, salt);
    mkref_qweight_quantize(&q.d, w, &q.w);
    const int64_t G = n_groups(&q.d), len = k / G;
    int bad_scale = 0, bad_code = 0, bad_bound = 0, bad_value = 0;
    double worst = 0;
    for (int64_t r = 0; r < n; r++) {
        for (int64_t g = 0; g < G; g++) {
            const float *src = w + r * k + g * len;
            float lo = 0, hi = 0, amax = 0;
            for (int64_t i = 0; i < len; i++) {
                lo = fminf(lo, src[i]);
                hi = fmaxf(hi, src[i]);
                amax = fmaxf(amax, fabsf(src[i]));
            }
            /* the scale (and zero) rule */
            double want_s;
            int want_z = 0;
            switch (f) {
            case MK_QW4:
                want_s = mkref_f16_to_f32(mkref_f32_to_f16(asym ? (hi - lo) / 15.0f : amax / 7.0f));
                want_z = asym ? clampi((int)nearbyintf(-lo / (float)want_s), 0, 15) : 8;
                break;
            case MK_QW8: want_s = mkref_f16_to_f32(mkref_f32_to_f16(amax / 127.0f)); break;
            case MK_QW8A8: want_s = amax / 127.0f; break;
            default: want_s = amax / 448.0f; break;
            }
            double s = scale_at(&q, r, g);
            int z = zero_at(&q, r, g);
            if ((s != want_s || z != want_z) && bad_scale++ < 3)
                MKT_CHECK(0, "%s g%d row %lld group %lld: scale %a zero %d, want %a zero %d", fmt_name(&q.d), gs,
                          (long long)r, (long long)g, s, z, want_s, want_z);
            for (int64_t i = 0; i < len; i++) {
                int64_t j = g * len + i;
                float x = src[i], ratio = x / (float)s;
                int want_c;
                double bound;
                switch (f) {
                case MK_QW4:
                    want_c = clampi((int)nearbyintf(ratio) + z, 0, 15);
                    bound = s * (asym ? 0.5 + 0x1p-6 : 0.5 + 0x1p-16);
                    break;
                case MK_QFP8:
                    want_c = mkref_f32_to_fp8(ratio);
                    bound = s * fmax(0x1p-10, fabs(ratio) / 16.0) + fabs(x) * 0x1p-22;
                    break;
                default:
                    want_c = clampi((int)nearbyintf(ratio), -127, 127);
                    bound = s * (0.5 + 0x1p-16) + fabs(x) * 0x1p-22;
                    break;
                }
                int c = mkref_qweight_code(&q.d, &q.w, r, j);
                if ((c != want_c || c != raw_code(&q, r, j)) && bad_code++ < 3)
                    MKT_CHECK(0, "%s g%d W[%lld][%lld] = %a: code %d (raw %d), want %d", fmt_name(&q.d), gs,
                              (long long)r, (long long)j, (double)x, c, raw_code(&q, r, j), want_c);
                double v = mkref_qweight_value(&q.d, &q.w, r, j);
                if (v != (double)(float)deq(&q, r, j) && bad_value++ < 3)
                    MKT_CHECK(0, "%s value W[%lld][%lld] = %a, independent %a", fmt_name(&q.d), (long long)r,
                              (long long)j, v, (double)deq(&q, r, j));
                double err = fabs((double)x - v);
                if (err / bound > worst) worst = err / bound;
                if (!(err <= bound) && bad_bound++ < 3)
                    MKT_CHECK(0, "%s g%d W[%lld][%lld] = %a dequantizes to %a: error %.3g > bound %.3g (scale %g)",
                              fmt_name(&q.d), gs, (long long)r, (long long)j, (double)x, v, err, bound, s);
            }
        }
    }
    MKT_CHECK(bad_scale + bad_code + bad_value + bad_bound == 0,
              "%s n %lld k %lld group %d: %d scale, %d code, %d value, %d bound mismatches", fmt_name(&q.d),
              (long long)n, (long long)k, gs, bad_scale, bad_code, bad_value, bad_bound);
    printf("  quantize %-8s n %lld k %lld group %3d: worst error / bound %.3f\n", fmt_name(&q.d), (long long)n,
           (long long)k, gs, worst);
    free(w);
    qw_free(&q);
}

/* ------------------------------------------------------------ sizes and packing */

static void check_sizes(void) {
    mk_qweight_desc d = {MK_QW4, 7, 256, 64, 1};
    MKT_CHECK(mkref_qweight_groups(&d) == 4 && mkref_qweight_q_bytes(&d) == 7 * 128 &&
                  mkref_qweight_scale_bytes(&d) == 7 * 4 * 2 && mkref_qweight_zero_bytes(&d) == 7 * 4,
              "QW4 asym g64 sizes");
    d.asymmetric = 0;
    MKT_CHECK(mkref_qweight_zero_bytes(&d) == 0, "QW4 sym has no zeros");
    mk_qweight_desc d8 = {MK_QW8, 5, 96, 0, 0};
    MKT_CHECK(mkref_qweight_groups(&d8) == 1 && mkref_qweight_q_bytes(&d8) == 5 * 96 &&
                  mkref_qweight_scale_bytes(&d8) == 5 * 2 && mkref_qweight_zero_bytes(&d8) == 0,
              "QW8 per-channel sizes");
    d8.group_size = 32;
    MKT_CHECK(mkref_qweight_groups(&d8) == 3 && mkref_qweight_scale_bytes(&d8) == 5 * 3 * 2, "QW8 g32 sizes");
    mk_qweight_desc a8 = {MK_QW8A8, 5, 33, 0, 0}, f8 = {MK_QFP8, 5, 33, 0, 0};
    MKT_CHECK(mkref_qweight_groups(&a8) == 1 && mkref_qweight_q_bytes(&a8) == 165 &&
                  mkref_qweight_scale_bytes(&a8) == 20 && mkref_qweight_q_bytes(&f8) == 165 &&
                  mkref_qweight_scale_bytes(&f8) == 20 && mkref_qweight_zero_bytes(&f8) == 0,
              "QW8A8/QFP8 sizes");
}

static void check_packing(void) {
    qweight q;
    qw_alloc(&q, MK_QW4, 3, 64, 32, 1);
    uint8_t *b = q.w.q;
    /* byte 0 of row 1 holds elements 0 (low) and 1 (high) */
    mkref_qweight_set_code(&q.d, &q.w, 1, 0, 0xA);
    mkref_qweight_set_code(&q.d, &q.w, 1, 1, 0x5);
    mkref_qweight_set_code(&q.d, &q.w, 1, 63, 0xF);
    MKT_CHECK(b[32] == 0x5A && b[63] == 0xF0 && b[31] == 0 && b[64] == 0, "QW4 nibble order (bytes %02x %02x)",
              b[32], b[63]);
    mkref_qweight_set_code(&q.d, &q.w, 1, 0, 0x3);
    MKT_CHECK(b[32] == 0x53 && mkref_qweight_code(&q.d, &q.w, 1, 1) == 5, "set_code keeps the other nibble");
    ((uint16_t *)q.w.scales)[1 * 2 + 1] = 0x3800; /* 0.5 for row 1 group 1 */
    ((uint8_t *)q.w.zeros)[1 * 2 + 1] = 6;
    MKT_CHECK(mkref_qweight_value(&q.d, &q.w, 1, 63) == 4.5f, "value = 0.5 * (15 - 6)");
    qw_free(&q);

    qw_alloc(&q, MK_QW8, 2, 8, 0, 0);
    mkref_qweight_set_code(&q.d, &q.w, 1, 7, -127);
    ((uint16_t *)q.w.scales)[1] = 0x3400; /* 0.25 */
    MKT_CHECK(((int8_t *)q.w.q)[15] == -127 && mkref_qweight_code(&q.d, &q.w, 1, 7) == -127 &&
                  mkref_qweight_value(&q.d, &q.w, 1, 7) == -31.75f,
              "QW8 code and value");
    qw_free(&q);
    qw_alloc(&q, MK_QFP8, 2, 8, 0, 0);
    mkref_qweight_set_code(&q.d, &q.w, 0, 3, 0xC5);
    ((float *)q.w.scales)[0] = 2.0f;
    MKT_CHECK(mkref_qweight_code(&q.d, &q.w, 0, 3) == 0xC5 && mkref_qweight_value(&q.d, &q.w, 0, 3) == -6.5f,
              "QFP8 code and value");
    qw_free(&q);
}

/* ------------------------------------------------------------ qgemm */

/* Independent qgemm: dequantize (W4/W8) or quantize the activations by hand (W8A8/FP8). */
static void gemm_oracle(const qweight *q, const float *x, int64_t m, const float *bias, const int32_t *perm,
                        long double *y, long double *mag) {
    const int64_t k = q->d.k, N = q->d.n;
    float *xp = malloc((size_t)k * sizeof *xp);
    for (int64_t i = 0; i < m; i++) {
        for (int64_t j = 0; j < k; j++) xp[j] = x[i * k + (perm ? perm[j] : j)];
        float amax = 0;
        for (int64_t j = 0; j < k; j++) amax = fmaxf(amax, fabsf(xp[j]));
        float sa = amax / (q->d.format == MK_QFP8 ? 448.0f : 127.0f);
        for (int64_t n = 0; n < N; n++) {
            long double acc = 0, a = 0;
            if (q->d.format == MK_QW8A8 || q->d.format == MK_QFP8) {
                long double sum = 0;
                int64_t isum = 0;
                for (int64_t j = 0; j < k; j++) {
                    if (q->d.format == MK_QW8A8) {
                        int qa = sa > 0 ? clampi((int)nearbyintf(xp[j] / sa), -127, 127) : 0;
                        isum += (int64_t)qa * raw_code(q, n, j);
                    } else {
                        float qa = sa > 0 ? mkref_fp8_to_f32(mkref_f32_to_fp8(xp[j] / sa)) : 0.0f;
                        sum += (long double)qa * mkref_fp8_to_f32((uint8_t)raw_code(q, n, j));
                    }
                }
                if (q->d.format == MK_QW8A8) sum = (long double)isum;
                acc = (long double)sa * (long double)scale_at(q, n, 0) * sum;
                a = fabsl(acc);
            } else {
                for (int64_t j = 0; j < k; j++) {
                    long double t = (long double)xp[j] * deq(q, n, j);
                    acc += t;
                    a += fabsl(t);
                }
            }
            if (bias) acc += bias[n];
            y[i * N + n] = acc;
            mag[i * N + n] = a + (bias ? fabsl((long double)bias[n]) : 0);
        }
    }
    free(xp);
}

static int32_t *random_perm(mkref_rng *r, int64_t k) {
    int32_t *p = malloc((size_t)k * sizeof *p);
    for (int64_t j = 0; j < k; j++) p[j] = (int32_t)j;
    for (int64_t j = k - 1; j > 0; j--) {
        int64_t i = mkref_rng_range(r, 0, j);
        int32_t t = p[i];
        p[i] = p[j];
        p[j] = t;
    }
    return p;
}

static void check_qgemm(mk_qformat f, int64_t n, int64_t k, int gs, int asym, uint64_t salt) {
    const int64_t m = 5;
    qweight q;
    qw_alloc(&q, f, n, k, gs, asym);
    float *w = make_weights(&q.d, salt);
    mkref_qweight_quantize(&q.d, w, &q.w);
    mkref_rng r;
    mkt_rng(&r, salt + 1000);
    float *x = malloc((size_t)(m * k) * sizeof *x), *bias = malloc((size_t)n * sizeof *bias);
    mkt_fill_normal(&r, x, (size_t)(m * k), 1.0f, 8.0f);
    mkt_round(MK_F16, x, (size_t)(m * k));
    mkt_fill_normal(&r, bias, (size_t)n, 0.1f, 1.0f);
    float *y = malloc((size_t)(m * n) * sizeof *y), *y_noperm = malloc((size_t)(m * n) * sizeof *y);
    long double *ref = malloc((size_t)(m * n) * sizeof *ref), *mag = malloc((size_t)(m * n) * sizeof *mag);

    for (int variant = 0; variant < 3; variant++) { /* 0: plain, 1: no bias, 2: k_perm */
        const float *b = variant == 1 ? NULL : bias;
        if (variant == 2) q.w.k_perm = random_perm(&r, k);
        for (int64_t i = 0; i < m * n; i++) y[i] = NAN;
        mkref_qgemm(&q.d, &q.w, x, m, b, y);
        gemm_oracle(&q, x, m, b, q.w.k_perm, ref, mag);
        int bad = 0;
        for (int64_t i = 0; i < m * n; i++) {
            long double err = fabsl((long double)y[i] - ref[i]);
            long double tol = fabsl(ref[i]) * 0x1p-23L + mag[i] * 0x1p-40L;
            if (!(err <= tol) && bad++ < 3)
                MKT_CHECK(0, "%s g%d variant %d: y[%lld] = %a, oracle %La (err %Lg, tol %Lg)", fmt_name(&q.d), gs,
                          variant, (long long)i, (double)y[i], ref[i], err, tol);
        }
        MKT_CHECK(bad == 0, "%s n %lld k %lld g%d variant %d: %d of %lld outputs off", fmt_name(&q.d), (long long)n,
                  (long long)k, gs, variant, bad, (long long)(m * n));
        if (variant == 0) memcpy(y_noperm, y, (size_t)(m * n) * sizeof *y);
    }
    int differs = 0;
    for (int64_t i = 0; i < m * n; i++) differs |= y[i] != y_noperm[i];
    MKT_CHECK(differs, "%s: k_perm changed nothing", fmt_name(&q.d));

    /* sanity: the quantized GEMM stays near the float GEMM on the original weights (loose
       bounds, about twice the worst of 200 seeds: outliers make W4 and per-token A8 lossy) */
    q.w.k_perm = (free(q.w.k_perm), NULL);
    mkref_qgemm(&q.d, &q.w, x, m, NULL, y);
    float *yf = malloc((size_t)(m * n) * sizeof *yf);
    for (int64_t i = 0; i < m; i++)
        for (int64_t o = 0; o < n; o++) {
            double acc = 0;
            for (int64_t j = 0; j < k; j++) acc += (double)x[i * k + j] * w[o * k + j];
            yf[i * n + o] = (float)acc;
        }
    double rel = mkt_rel_l2(y, yf, (size_t)(m * n));
    double limit = f == MK_QW4 ? 1.0 : f == MK_QFP8 ? 0.2 : 0.15;
    MKT_CHECK(rel < limit, "%s g%d: quantized vs float GEMM rel_l2 %.3g (limit %.2g)", fmt_name(&q.d), gs, rel,
              limit);
    free(yf);
    free(w);
    free(x);
    free(bias);
    free(y);
    free(y_noperm);
    free(ref);
    free(mag);
    qw_free(&q);
}

/* ------------------------------------------------------------ by hand */

static void check_by_hand(void) {
    /* int8: amax 254 -> scale 2; x/2 = 127, -63.5, 1.5, 2.5, -0.5, 0.375, -126.5 (ties to even) */
    const float x1[7] = {254.0f, -127.0f, 3.0f, 5.0f, -1.0f, 0.75f, -253.0f};
    const int8_t q1[7] = {127, -64, 2, 2, 0, 0, -126};
    int8_t c1[7];
    float s1 = mkref_quantize_act_i8(x1, 7, c1);
    MKT_CHECK(s1 == 2.0f, "act i8 scale %g, want 2", (double)s1);
    for (int i = 0; i < 7; i++) MKT_CHECK(c1[i] == q1[i], "act i8 code %d = %d, want %d", i, c1[i], q1[i]);
    const float zeros[3] = {0, 0, -0.0f};
    int8_t cz[3] = {9, 9, 9};
    MKT_CHECK(mkref_quantize_act_i8(zeros, 3, cz) == 0.0f && cz[0] == 0 && cz[1] == 0 && cz[2] == 0,
              "all-zero row: scale 0, codes 0");

    /* e4m3: amax 448 -> scale 1; 17 and 19 are ties (to 16 and 20), 2^-10 ties to 0 */
    const float x2[7] = {448.0f, -3.25f, 17.0f, 19.0f, 0x1p-9f, 0x1p-10f, 0x3p-10f};
    const uint8_t q2[7] = {0x7E, 0xC5, 0x58, 0x5A, 0x01, 0x00, 0x02};
    uint8_t c2[7];
    float s2 = mkref_quantize_act_fp8(x2, 7, c2);
    MKT_CHECK(s2 == 1.0f, "act fp8 scale %g, want 1", (double)s2);
    for (int i = 0; i < 7; i++) MKT_CHECK(c2[i] == q2[i], "act fp8 code %d = 0x%02x, want 0x%02x", i, c2[i], q2[i]);
    const float x3[3] = {-896.0f, 6.5f, 34.0f}; /* scale 2 */
    uint8_t c3[3];
    MKT_CHECK(mkref_quantize_act_fp8(x3, 3, c3) == 2.0f && c3[0] == 0xFE && c3[1] == 0x45 && c3[2] == 0x58,
              "act fp8 scale 2: codes %02x %02x %02x", c3[0], c3[1], c3[2]);

    /* W8A8: x = {254, -127, 3, 5} -> s_a 2, q_a = {127, -64, 2, 2}
       row 0 codes {1, 2, 3, 4}, s_w 0.5, bias 1:      acc 13     -> 2*0.5*13 + 1 = 14
       row 1 codes {-127, 127, 0, 10}, s_w 0.25, bias -0.5: acc -24237 -> -12118.5 - 0.5 = -12119 */
    qweight q;
    qw_alloc(&q, MK_QW8A8, 2, 4, 0, 0);
    const int codes[2][4] = {{1, 2, 3, 4}, {-127, 127, 0, 10}};
    for (int n = 0; n < 2; n++)
        for (int j = 0; j < 4; j++) mkref_qweight_set_code(&q.d, &q.w, n, j, codes[n][j]);
    ((float *)q.w.scales)[0] = 0.5f;
    ((float *)q.w.scales)[1] = 0.25f;
    const float x4[4] = {254.0f, -127.0f, 3.0f, 5.0f}, b4[2] = {1.0f, -0.5f};
    float y4[2];
    mkref_qgemm(&q.d, &q.w, x4, 1, b4, y4);
    MKT_CHECK(y4[0] == 14.0f && y4[1] == -12119.0f, "W8A8 by hand: %g %g, want 14 -12119", (double)y4[0],
              (double)y4[1]);
    /* k_perm {3, 2, 1, 0}: input j reads x[3 - j]: x' = {5, 3, -127, 254}, same s_a, q_a' = {2, 2, -64, 127}
       row 0: 2 + 4 - 192 + 508 = 322 -> 323; row 1: -254 + 254 + 0 + 1270 = 1270 -> 634.5 */
    int32_t perm[4] = {3, 2, 1, 0};
    q.w.k_perm = perm;
    mkref_qgemm(&q.d, &q.w, x4, 1, b4, y4);
    MKT_CHECK(y4[0] == 323.0f && y4[1] == 634.5f, "W8A8 with k_perm by hand: %g %g, want 323 634.5", (double)y4[0],
              (double)y4[1]);
    q.w.k_perm = NULL;
    qw_free(&q);

    /* FP8: x = {448, -224} -> s_a 1, codes {448, -224}; W = {1, -2} * 0.5: acc 896 -> 448 */
    qw_alloc(&q, MK_QFP8, 1, 2, 0, 0);
    mkref_qweight_set_code(&q.d, &q.w, 0, 0, 0x38);
    mkref_qweight_set_code(&q.d, &q.w, 0, 1, 0xC0);
    ((float *)q.w.scales)[0] = 0.5f;
    const float x5[2] = {448.0f, -224.0f};
    float y5;
    mkref_qgemm(&q.d, &q.w, x5, 1, NULL, &y5);
    MKT_CHECK(y5 == 448.0f, "FP8 by hand: %g, want 448", (double)y5);
    qw_free(&q);

    /* W4 asymmetric by hand: group of 32 with values {-1, 0, ..., 2}: range [-1, 2] -> scale 0.2 (f16),
       zero rne(1/0.2) = 5; 2 -> code rne(2/0.2)+5 = 15; -1 -> 0; 0 -> 5 */
    qw_alloc(&q, MK_QW4, 1, 32, 32, 1);
    float w6[32];
    for (int j = 0; j < 32; j++) w6[j] = 0.0f;
    w6[3] = -1.0f;
    w6[7] = 2.0f;
    mkref_qweight_quantize(&q.d, w6, &q.w);
    float s6 = mkref_f16_to_f32(((uint16_t *)q.w.scales)[0]);
    MKT_CHECK(((uint16_t *)q.w.scales)[0] == mkref_f32_to_f16(0.2f) && ((uint8_t *)q.w.zeros)[0] == 5 &&
                  mkref_qweight_code(&q.d, &q.w, 0, 3) == 0 && mkref_qweight_code(&q.d, &q.w, 0, 7) == 15 &&
                  mkref_qweight_code(&q.d, &q.w, 0, 0) == 5 && mkref_qweight_value(&q.d, &q.w, 0, 0) == 0.0f,
              "W4 asym by hand (scale %a, zero %d)", (double)s6, ((uint8_t *)q.w.zeros)[0]);
    qw_free(&q);
}

int main(int argc, char **argv) {
    mkt_init(argc, argv, "test_ref_quant");
    check_sizes();
    check_packing();
    check_by_hand();
    const int groups[3] = {32, 64, 128};
    uint64_t salt = 1;
    for (int a = 0; a < 2; a++)
        for (int g = 0; g < 3; g++) {
            check_quantize(MK_QW4, 7, 512, groups[g], a, salt++);
            check_qgemm(MK_QW4, 7, 384, groups[g], a, salt++);
        }
    const int groups8[4] = {0, 32, 64, 128};
    for (int g = 0; g < 4; g++) {
        check_quantize(MK_QW8, 7, 256, groups8[g], 0, salt++);
        check_qgemm(MK_QW8, 7, 256, groups8[g], 0, salt++);
    }
    check_quantize(MK_QW8, 5, 33, 0, 0, salt++);
    check_qgemm(MK_QW8, 5, 33, 0, 0, salt++);
    const mk_qformat act[2] = {MK_QW8A8, MK_QFP8};
    for (int f = 0; f < 2; f++) {
        check_quantize(act[f], 7, 256, 0, 0, salt++);
        check_quantize(act[f], 5, 33, 0, 0, salt++);
        check_qgemm(act[f], 7, 256, 0, 0, salt++);
        check_qgemm(act[f], 5, 33, 0, 0, salt++);
    }
    return mkt_finish();
}
