/*
 * Quantized weights of the reference: the canonical host layout (medkern.h, next to
 * mk_qweight_data), quantization of float weights and activations, and the quantized
 * GEMM every qgemm kernel is checked against.
 *
 * Rounding is round-to-nearest-even written out with floor(), so nothing depends on the
 * floating-point environment. Divisions x / scale are done in float (as a device does);
 * sums are in double, and for QW8A8/QFP8 the products of codes are summed exactly.
 */
#include <math.h>
#include <stdlib.h>

#include "mkref.h"

static double rne(double v) {
    if (v != v) return 0.0;
    if (isinf(v)) return v;
    double f = floor(v);
    double d = v - f;
    if (d > 0.5) return f + 1.0;
    if (d < 0.5) return f;
    return fmod(f, 2.0) == 0.0 ? f : f + 1.0;
}

static int clamp_int(double v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : (int)v; }

int64_t mkref_qweight_groups(const mk_qweight_desc *d) {
    switch (d->format) {
    case MK_QW4: return d->group_size > 0 ? d->k / d->group_size : 1;
    case MK_QW8: return d->group_size > 0 ? d->k / d->group_size : 1;
    default: return 1;
    }
}

/* Bytes of one row of codes. */
static int64_t row_q_bytes(const mk_qweight_desc *d) {
    return d->format == MK_QW4 ? (d->k + 1) / 2 : d->k;
}

size_t mkref_qweight_q_bytes(const mk_qweight_desc *d) {
    return (size_t)(d->n * row_q_bytes(d));
}

size_t mkref_qweight_scale_bytes(const mk_qweight_desc *d) {
    size_t per = (d->format == MK_QW4 || d->format == MK_QW8) ? 2 : 4;
    return (size_t)(d->n * mkref_qweight_groups(d)) * per;
}

size_t mkref_qweight_zero_bytes(const mk_qweight_desc *d) {
    if (d->format != MK_QW4 || !d->asymmetric) return 0;
    return (size_t)(d->n * mkref_qweight_groups(d));
}

/* Group of canonical column j. */
static int64_t group_of(const mk_qweight_desc *d, int64_t j) {
    if ((d->format == MK_QW4 || d->format == MK_QW8) && d->group_size > 0) return j / d->group_size;
    return 0;
}

static float scale_of(const mk_qweight_desc *d, const mk_qweight_data *w, int64_t n, int64_t g) {
    int64_t idx = n * mkref_qweight_groups(d) + g;
    if (d->format == MK_QW4 || d->format == MK_QW8)
        return mkref_f16_to_f32(((const uint16_t *)w->scales)[idx]);
    return ((const float *)w->scales)[idx];
}

static int zero_of(const mk_qweight_desc *d, const mk_qweight_data *w, int64_t n, int64_t g) {
    if (!d->asymmetric) return 8;
    return ((const uint8_t *)w->zeros)[n * mkref_qweight_groups(d) + g];
}

int mkref_qweight_code(const mk_qweight_desc *d, const mk_qweight_data *w, int64_t n, int64_t j) {
    const uint8_t *row = (const uint8_t *)w->q + n * row_q_bytes(d);
    switch (d->format) {
    case MK_QW4: return (row[j / 2] >> ((j & 1) * 4)) & 0xF;
    case MK_QW8:
    case MK_QW8A8: return (int)(int8_t)row[j];
    case MK_QFP8: return row[j];
    default: return 0;
    }
}

void mkref_qweight_set_code(const mk_qweight_desc *d, mk_qweight_data *w, int64_t n, int64_t j,
                            int code) {
    uint8_t *row = (uint8_t *)w->q + n * row_q_bytes(d);
    if (d->format == MK_QW4) {
        int shift = (int)(j & 1) * 4;
        row[j / 2] = (uint8_t)((row[j / 2] & ~(0xF << shift)) | ((code & 0xF) << shift));
    } else {
        row[j] = (uint8_t)(code & 0xFF);
    }
}

float mkref_qweight_value(const mk_qweight_desc *d, const mk_qweight_data *w, int64_t n, int64_t j) {
    int64_t g = group_of(d, j);
    float s = scale_of(d, w, n, g);
    int code = mkref_qweight_code(d, w, n, j);
    switch (d->format) {
    case MK_QW4: return s * (float)(code - zero_of(d, w, n, g));
    case MK_QW8:
    case MK_QW8A8: return s * (float)code;
    case MK_QFP8: return s * mkref_fp8_to_f32((uint8_t)code);
    default: return 0.0f;
    }
}

/* Quantizes w[0..len) (one group of one row) with scale s; codes into row n from j0. */
static void quantize_group(const mk_qweight_desc *d, const float *w, int64_t len, float s, int zero,
                           mk_qweight_data *out, int64_t n, int64_t j0) {
    for (int64_t i = 0; i < len; i++) {
        float r = s != 0.0f ? w[i] / s : 0.0f;
        int code;
        switch (d->format) {
        case MK_QW4: code = s != 0.0f ? clamp_int(rne(r) + zero, 0, 15) : zero; break;
        case MK_QFP8: code = mkref_f32_to_fp8(r); break;
        default: code = clamp_int(rne(r), -127, 127); break;
        }
        mkref_qweight_set_code(d, out, n, j0 + i, code);
    }
}

void mkref_qweight_quantize(const mk_qweight_desc *d, const float *w, mk_qweight_data *out) {
    int64_t groups = mkref_qweight_groups(d);
    int64_t len = d->k / groups;
    for (int64_t n = 0; n < d->n; n++) {
        for (int64_t g = 0; g < groups; g++) {
            const float *src = w + n * d->k + g * len;
            /* the range always includes 0 so that 0 is representable (GPTQ's rule) */
            float lo = 0.0f, hi = 0.0f;
            for (int64_t i = 0; i < len; i++) {
                if (src[i] < lo) lo = src[i];
                if (src[i] > hi) hi = src[i];
            }
            float amax = hi > -lo ? hi : -lo;
            int64_t sidx = n * groups + g;
            float s;
            int zero = 0;
            switch (d->format) {
            case MK_QW4: {
                uint16_t h = mkref_f32_to_f16(d->asymmetric ? (hi - lo) / 15.0f : amax / 7.0f);
                ((uint16_t *)out->scales)[sidx] = h;
                s = mkref_f16_to_f32(h);
                if (d->asymmetric) {
                    zero = s != 0.0f ? clamp_int(rne(-lo / s), 0, 15) : 0;
                    ((uint8_t *)out->zeros)[sidx] = (uint8_t)zero;
                } else {
                    zero = 8;
                }
                break;
            }
            case MK_QW8: {
                uint16_t h = mkref_f32_to_f16(amax / 127.0f);
                ((uint16_t *)out->scales)[sidx] = h;
                s = mkref_f16_to_f32(h);
                break;
            }
            case MK_QW8A8: s = amax / 127.0f; ((float *)out->scales)[sidx] = s; break;
            case MK_QFP8: s = amax / 448.0f; ((float *)out->scales)[sidx] = s; break;
            default: return;
            }
            quantize_group(d, src, len, s, zero, out, n, g * len);
        }
    }
}

float mkref_quantize_act_i8(const float *x, int64_t k, int8_t *q) {
    float amax = 0.0f;
    for (int64_t i = 0; i < k; i++) amax = fabsf(x[i]) > amax ? fabsf(x[i]) : amax;
    float s = amax / 127.0f;
    for (int64_t i = 0; i < k; i++) q[i] = s != 0.0f ? mkref_f32_to_i8_sat(x[i] / s) : 0;
    return s;
}

float mkref_quantize_act_fp8(const float *x, int64_t k, uint8_t *q) {
    float amax = 0.0f;
    for (int64_t i = 0; i < k; i++) amax = fabsf(x[i]) > amax ? fabsf(x[i]) : amax;
    float s = amax / 448.0f;
    for (int64_t i = 0; i < k; i++) q[i] = s != 0.0f ? mkref_f32_to_fp8(x[i] / s) : 0;
    return s;
}

void mkref_qgemm(const mk_qweight_desc *d, const mk_qweight_data *w, const float *x, int64_t m,
                 const float *bias, float *y) {
    int64_t k = d->k, N = d->n;
    float *xp = malloc((size_t)(k > 0 ? k : 1) * sizeof *xp);
    uint8_t *qa = malloc((size_t)(k > 0 ? k : 1));
    if (!xp || !qa) {
        for (int64_t i = 0; i < m * N; i++) y[i] = NAN;
    } else {
        mkref_qgemm_ws(d, w, x, m, bias, y, xp, qa);
    }
    free(xp);
    free(qa);
}

void mkref_qgemm_ws(const mk_qweight_desc *d, const mk_qweight_data *w, const float *x, int64_t m,
                    const float *bias, float *y, float *xp, uint8_t *qa) {
    int64_t k = d->k, N = d->n;
    for (int64_t i = 0; i < m; i++) {
        for (int64_t j = 0; j < k; j++) xp[j] = x[i * k + (w->k_perm ? w->k_perm[j] : j)];
        float sa = 0.0f;
        if (d->format == MK_QW8A8) sa = mkref_quantize_act_i8(xp, k, (int8_t *)qa);
        if (d->format == MK_QFP8) sa = mkref_quantize_act_fp8(xp, k, qa);
        for (int64_t n = 0; n < N; n++) {
            double acc = 0.0;
            switch (d->format) {
            case MK_QW8A8: {
                int64_t iacc = 0;
                for (int64_t j = 0; j < k; j++)
                    iacc += (int64_t)(int8_t)qa[j] * mkref_qweight_code(d, w, n, j);
                acc = (double)sa * (double)scale_of(d, w, n, 0) * (double)iacc;
                break;
            }
            case MK_QFP8: {
                double sum = 0.0; /* e4m3 products are exact; so is the sum for k < 2^16 */
                for (int64_t j = 0; j < k; j++)
                    sum += (double)mkref_fp8_to_f32(qa[j]) *
                           (double)mkref_fp8_to_f32((uint8_t)mkref_qweight_code(d, w, n, j));
                acc = (double)sa * (double)scale_of(d, w, n, 0) * sum;
                break;
            }
            default:
                for (int64_t j = 0; j < k; j++)
                    acc += (double)xp[j] * (double)mkref_qweight_value(d, w, n, j);
                break;
            }
            if (bias) acc += bias[n];
            y[i * N + n] = (float)acc;
        }
    }
}
