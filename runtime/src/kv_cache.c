/* The paged KV cache object: one layer's K and V pools (NHD) and, for quantized dtypes,
   one f32 scale per (slot, kv head). The layout is the same on every backend. */
#include <stdlib.h>

#include "internal.h"

static int mk_kv_quantized(mk_dtype t) { return t == MK_I8 || t == MK_FP8_E4M3; }

mk_status mk_kv_cache_create(mk_context *ctx, const mk_kv_cache_desc *desc, mk_kv_cache **out) {
    if (!out) return mk__fail(MK_ERR_INVALID_ARGUMENT, "out is NULL");
    *out = NULL;
    if (!ctx) return mk__fail(MK_ERR_INVALID_ARGUMENT, "ctx is NULL");
    mk_status s = mk__validate_kv_desc(desc);
    if (s != MK_OK) return s;
    if ((s = mk__alive(ctx)) != MK_OK) return s;
    mk_kv_cache *c = mk__calloc(1, sizeof *c);
    if (!c) return mk__fail(MK_ERR_OUT_OF_MEMORY, "out of host memory for the cache");
    c->ctx = ctx;
    c->desc = *desc;
    size_t slots = (size_t)desc->num_blocks * (size_t)desc->block_size * (size_t)desc->num_kv_heads;
    size_t bytes = slots * (size_t)desc->head_dim * mk_dtype_size(desc->dtype);
    if ((s = mk_buffer_alloc(ctx, bytes, &c->k)) != MK_OK ||
        (s = mk_buffer_alloc(ctx, bytes, &c->v)) != MK_OK ||
        (mk_kv_quantized(desc->dtype) &&
         ((s = mk_buffer_alloc(ctx, slots * sizeof(float), &c->k_scale)) != MK_OK ||
          (s = mk_buffer_alloc(ctx, slots * sizeof(float), &c->v_scale)) != MK_OK))) {
        mk_kv_cache_destroy(c);
        return s;
    }
    /* a new cache reads as zeros (not leftover memory): deterministic for reads of blocks
       never written, and no NaN garbage in unwritten slots */
    if ((s = mk_buffer_fill(c->k, 0, 0, bytes)) != MK_OK || (s = mk_buffer_fill(c->v, 0, 0, bytes)) != MK_OK ||
        (c->k_scale && (s = mk_buffer_fill(c->k_scale, 0, 0, slots * sizeof(float))) != MK_OK) ||
        (c->v_scale && (s = mk_buffer_fill(c->v_scale, 0, 0, slots * sizeof(float))) != MK_OK)) {
        mk_kv_cache_destroy(c);
        return s;
    }
    *out = c;
    return MK_OK;
}

void mk_kv_cache_destroy(mk_kv_cache *c) {
    if (!c) return;
    mk_buffer_free(c->k);
    mk_buffer_free(c->v);
    mk_buffer_free(c->k_scale);
    mk_buffer_free(c->v_scale);
    mk__free(c);
}

mk_status mk_kv_cache_get_desc(const mk_kv_cache *c, mk_kv_cache_desc *out) {
    if (!c) return mk__fail(MK_ERR_INVALID_ARGUMENT, "cache is NULL");
    if (!out) return mk__fail(MK_ERR_INVALID_ARGUMENT, "out is NULL");
    *out = c->desc;
    return MK_OK;
}

mk_status mk_kv_cache_read_block(const mk_kv_cache *c, int64_t block, void *k_out, void *v_out,
                                 float *k_scale, float *v_scale) {
    if (!c) return mk__fail(MK_ERR_INVALID_ARGUMENT, "cache is NULL");
    if (block < 0 || block >= c->desc.num_blocks)
        return mk__fail(MK_ERR_INVALID_ARGUMENT, "block is %lld (must be in [0, %lld))",
                        (long long)block, (long long)c->desc.num_blocks);
    if ((k_scale || v_scale) && !mk_kv_quantized(c->desc.dtype))
        return mk__fail(MK_ERR_INVALID_ARGUMENT, "k_scale/v_scale given but the cache is not quantized");
    size_t slots = (size_t)c->desc.block_size * (size_t)c->desc.num_kv_heads;
    size_t bytes = slots * (size_t)c->desc.head_dim * mk_dtype_size(c->desc.dtype);
    mk_status s = MK_OK;
    if (k_out && s == MK_OK) s = mk_buffer_read(c->k, (size_t)block * bytes, k_out, bytes);
    if (v_out && s == MK_OK) s = mk_buffer_read(c->v, (size_t)block * bytes, v_out, bytes);
    if (k_scale && s == MK_OK) s = mk_buffer_read(c->k_scale, (size_t)block * slots * 4, k_scale, slots * 4);
    if (v_scale && s == MK_OK) s = mk_buffer_read(c->v_scale, (size_t)block * slots * 4, v_scale, slots * 4);
    return s;
}
