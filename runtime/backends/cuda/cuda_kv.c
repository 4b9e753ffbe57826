/*
 * Paged KV cache variants: kv_append "cuda.warp_per_head" (kernels/cuda/kv_append.cu:
 * (token, head) rows with 16-byte loads and stores, several rows per warp, when D and the
 * views' alignment and strides allow it — the launcher checks them per call —, else one
 * warp per row and one element per lane; I8/FP8 quantized bit for bit as the reference
 * either way) and kv_copy_blocks "cuda.block_copy" (kernels/cuda/kv_copy_blocks.cu: one
 * block per pair and array, 16-byte words with 4 loads in flight per thread).
 */
#include "cuda/cuda_internal.h"

static mkc_kv_pool pool_of(const mk_kv_cache *c) {
    mkc_kv_pool p;
    p.dtype = c->desc.dtype;
    p.k = cuda_buf(c->k);
    p.v = cuda_buf(c->v);
    p.k_scale = (float *)cuda_buf(c->k_scale);
    p.v_scale = (float *)cuda_buf(c->v_scale);
    p.num_blocks = c->desc.num_blocks;
    p.block_size = c->desc.block_size;
    p.num_kv_heads = c->desc.num_kv_heads;
    p.head_dim = c->desc.head_dim;
    return p;
}

static int sup_kv(const mk_context *ctx, const mk_op_args *args, char *why, size_t n) {
    (void)args; /* head_dim <= 256 and the dtypes are guaranteed by the cache descriptor */
    return cuda_kernels_available(ctx, why, n);
}

static mk_status run_append(mk_context *ctx, const mk_op_args *a) {
    const mk_tensor *k = a->u.kv_append.k, *v = a->u.kv_append.v;
    const mkc_kv_pool pool = pool_of(a->u.kv_append.cache);
    mk_status s = cuda_enter(ctx);
    if (s != MK_OK) return s;
    return cuda_launched(mkc_kv_append(k->dtype, cuda_ptr(k), k->stride[0], k->stride[1], cuda_ptr(v),
                                       v->stride[0], v->stride[1],
                                       (const int32_t *)cuda_ptr(a->u.kv_append.slot_mapping),
                                       k->shape[0], &pool, cuda_of(ctx)->stream),
                         "kv_append");
}

static mk_status run_copy(mk_context *ctx, const mk_op_args *a) {
    const mkc_kv_pool pool = pool_of(a->u.kv_copy.cache);
    const mk_tensor *pairs = a->u.kv_copy.pairs;
    mk_status s = cuda_enter(ctx);
    if (s != MK_OK) return s;
    return cuda_launched(mkc_kv_copy_blocks((const int32_t *)cuda_ptr(pairs), pairs->shape[0], &pool,
                                            cuda_of(ctx)->stream),
                         "kv_copy_blocks");
}

static const mk_kernel k_append = {MK_OP_KV_APPEND, "cuda.warp_per_head", "cuda", 10,
                                   "(token, head) rows, 16-byte accesses when aligned; I8/FP8 bit-exact with the reference",
                                   sup_kv, run_append, NULL};
static const mk_kernel k_copy = {MK_OP_KV_COPY_BLOCKS, "cuda.block_copy", "cuda", 10,
                                 "one block per (pair, array), 16-byte words", sup_kv, run_copy, NULL};

static const mk_kernel *const kernels[] = {&k_append, &k_copy};

const mk_kernel *const *cuda_kv_kernels(int *count) {
    *count = (int)(sizeof kernels / sizeof kernels[0]);
    return kernels;
}
