/*
 * Outside-format weights with random contents for the importer tests (mktest.h): GPTQ
 * (optionally act-order and symmetric), AWQ and GGUF Q4_0/Q8_0, each built from an rng so
 * that the API's importer and the reference's can be compared on the same bytes and the
 * imported weight then run on any backend.
 */
#include <stdlib.h>

#include "mktest.h"

void mkt_gptq_make(mkt_gptq *g, int64_t n, int64_t k, int group, int symmetric, int act_order, mkref_rng *r) {
    const int64_t groups = k / group;
    g->qweight = mkt_alloc((size_t)(k / 8 * n) * 4);
    g->qzeros = mkt_alloc((size_t)(groups * n / 8) * 4);
    g->g_idx = mkt_alloc((size_t)k * 4);
    g->scales = mkt_alloc((size_t)(groups * n) * 2);
    for (int64_t i = 0; i < k / 8 * n; i++) g->qweight[i] = (int32_t)mkref_rng_u64(r);
    for (int64_t i = 0; i < groups * n / 8; i++) {
        uint32_t z = 0; /* stored zeros 0..14: zeros 1..15 */
        for (int b = 0; b < 8; b++) z |= (uint32_t)mkref_rng_range(r, 0, 14) << (4 * b);
        g->qzeros[i] = (int32_t)z;
    }
    for (int64_t i = 0; i < groups * n; i++)
        g->scales[i] = mk_f32_to_f16((float)(0.002 + 0.01 * mkref_rng_uniform(r)));
    /* act-order: a non-monotonic g_idx whose groups are all `group` long (37 is odd, so
       i -> 37 i mod k is a permutation for k a power of two) */
    for (int64_t i = 0; i < k; i++) g->g_idx[i] = (int32_t)(act_order ? (i * 37 % k) / group : i / group);
    g->t = (mk_gptq_tensors){g->qweight, symmetric ? NULL : g->qzeros, g->scales, g->g_idx, n, k, group, symmetric};
}

void mkt_gptq_free(mkt_gptq *g) {
    free(g->qweight), free(g->qzeros), free(g->g_idx), free(g->scales);
}

void mkt_awq_make(mkt_awq *a, int64_t n, int64_t k, int group, mkref_rng *r) {
    const int64_t groups = k / group;
    a->qweight = mkt_alloc((size_t)(k * n / 8) * 4);
    a->qzeros = mkt_alloc((size_t)(groups * n / 8) * 4);
    a->scales = mkt_alloc((size_t)(groups * n) * 2);
    for (int64_t i = 0; i < k * n / 8; i++) a->qweight[i] = (int32_t)mkref_rng_u64(r);
    for (int64_t i = 0; i < groups * n / 8; i++) a->qzeros[i] = (int32_t)mkref_rng_u64(r);
    for (int64_t i = 0; i < groups * n; i++)
        a->scales[i] = mk_f32_to_f16((float)(0.001 + 0.01 * mkref_rng_uniform(r)));
    a->t = (mk_awq_tensors){a->qweight, a->qzeros, a->scales, n, k, group};
}

void mkt_awq_free(mkt_awq *a) {
    free(a->qweight), free(a->qzeros), free(a->scales);
}

uint8_t *mkt_gguf_make(mk_gguf_type type, int64_t n, int64_t k, mkref_rng *r, size_t *bytes) {
    const size_t bb = type == MK_GGUF_Q4_0 ? 18 : 34;
    *bytes = (size_t)n * (size_t)(k / 32) * bb;
    uint8_t *blocks = mkt_alloc(*bytes);
    for (size_t i = 0; i < *bytes; i++) blocks[i] = (uint8_t)mkref_rng_u64(r);
    for (size_t b = 0; b < *bytes / bb; b++) { /* a finite positive scale d in each block */
        uint16_t s = mk_f32_to_f16((float)(0.001 + 0.01 * mkref_rng_uniform(r)));
        blocks[b * bb] = (uint8_t)(s & 0xFF), blocks[b * bb + 1] = (uint8_t)(s >> 8);
    }
    return blocks;
}
