/*
 * Reference paged KV cache (one layer): K and V each [num_blocks][block_size][Hkv][D]
 * in the cache dtype; I8 and FP8 caches add one f32 scale per (slot, kv head) at
 * index slot * Hkv + head.
 */
#include <math.h>
#include <string.h>

#include "mkref.h"

static size_t elem_size(mk_dtype t) {
    switch (t) {
    case MK_F32: return 4;
    case MK_F16:
    case MK_BF16: return 2;
    default: return 1; /* MK_I8, MK_FP8_E4M3 */
    }
}

static int quantized(mk_dtype t) { return t == MK_I8 || t == MK_FP8_E4M3; }

/*
 * The exact quantization rule every backend must reproduce bit for bit:
 *   amax  = max_i |x_i|                                  (float)
 *   scale = amax / 127.0f (I8) or amax / 448.0f (FP8)    (one IEEE float division, RNE)
 *   q_i   = mkref_f32_to_i8_sat(x_i / scale)             (I8: RNE, clamp to +-127)
 *         = mkref_f32_to_fp8(x_i / scale)                (FP8: RNE, saturate to +-448)
 * where x_i / scale is a true IEEE float division (NOT x_i * (1.0f / scale), which
 * rounds differently). When scale is 0 (an all-zero vector, or an amax so small that
 * the division underflows) scale 0 and codes 0 are stored. Dequantized: scale * q in
 * float.
 */
void mkref_kv_quantize(mk_dtype t, const float *x, int n, void *q, float *scale) {
    float amax = 0.0f;
    for (int i = 0; i < n; i++)
        if (fabsf(x[i]) > amax) amax = fabsf(x[i]);
    float s = t == MK_I8 ? amax / 127.0f : amax / 448.0f;
    *scale = s;
    for (int i = 0; i < n; i++) {
        if (t == MK_I8)
            ((int8_t *)q)[i] = s == 0.0f ? 0 : mkref_f32_to_i8_sat(x[i] / s);
        else
            ((uint8_t *)q)[i] = s == 0.0f ? 0 : mkref_f32_to_fp8(x[i] / s);
    }
}

void mkref_kv_append(mkref_kv_cache *c, const float *k, const float *v, const int32_t *slots,
                     int64_t T) {
    const int hkv = c->desc.num_kv_heads, D = c->desc.head_dim;
    const mk_dtype t = c->desc.dtype;
    for (int64_t i = 0; i < T; i++) {
        if (slots[i] < 0) continue; /* padding token */
        for (int h = 0; h < hkv; h++) {
            int64_t row = (int64_t)slots[i] * hkv + h; /* (slot, head) */
            const float *ks = k + (i * hkv + h) * D, *vs = v + (i * hkv + h) * D;
            if (quantized(t)) {
                mkref_kv_quantize(t, ks, D, (uint8_t *)c->k + row * D, &c->k_scale[row]);
                mkref_kv_quantize(t, vs, D, (uint8_t *)c->v + row * D, &c->v_scale[row]);
            } else {
                for (int d = 0; d < D; d++) {
                    mkref_store(t, c->k, row * D + d, ks[d]);
                    mkref_store(t, c->v, row * D + d, vs[d]);
                }
            }
        }
    }
}

void mkref_kv_copy_blocks(mkref_kv_cache *c, const int32_t *pairs, int64_t n) {
    const size_t rows = (size_t)c->desc.block_size * (size_t)c->desc.num_kv_heads;
    const size_t bytes = rows * (size_t)c->desc.head_dim * elem_size(c->desc.dtype);
    for (int64_t i = 0; i < n; i++) {
        size_t src = (size_t)pairs[2 * i], dst = (size_t)pairs[2 * i + 1];
        memcpy((char *)c->k + dst * bytes, (const char *)c->k + src * bytes, bytes);
        memcpy((char *)c->v + dst * bytes, (const char *)c->v + src * bytes, bytes);
        if (c->k_scale)
            memcpy(c->k_scale + dst * rows, c->k_scale + src * rows, rows * sizeof(float));
        if (c->v_scale)
            memcpy(c->v_scale + dst * rows, c->v_scale + src * rows, rows * sizeof(float));
    }
}

float mkref_kv_value(const mkref_kv_cache *c, int which, int64_t slot, int head, int d) {
    const mk_dtype t = c->desc.dtype;
    const int64_t row = slot * c->desc.num_kv_heads + head;
    const void *base = which ? c->v : c->k;
    const int64_t idx = row * c->desc.head_dim + d;
    if (!quantized(t)) return mkref_load(t, base, idx);
    const float s = (which ? c->v_scale : c->k_scale)[row];
    const float code = t == MK_I8 ? (float)((const int8_t *)base)[idx]
                                  : mkref_fp8_to_f32(((const uint8_t *)base)[idx]);
    return s * code;
}
