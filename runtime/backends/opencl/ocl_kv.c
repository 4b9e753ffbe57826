/*
 * OpenCL variants of the paged KV cache writes (kernels/opencl/kv_cache.cl):
 *   kv_append       "opencl.per_head"  one work-group per (token, kv head, K or V);
 *                                      F32/F16/BF16 caches store converted values, I8/FP8
 *                                      caches the reference's codes and scales bit for bit
 *   kv_copy_blocks  "opencl.copy"      one work-item per word of a block, per pair
 */
#include <stdio.h>

#include "opencl/ocl_internal.h"

static mk_status run_append(mk_context *ctx, const mk_op_args *a) {
    mk_kv_cache *c = a->u.kv_append.cache;
    const mk_tensor *k = a->u.kv_append.k, *v = a->u.kv_append.v, *sm = a->u.kv_append.slot_mapping;
    const mk_dtype cd = c->desc.dtype;
    const int D = c->desc.head_dim, quant = cd == MK_I8 ? 1 : cd == MK_FP8_E4M3 ? 2 : 0;
    /* L: a power of two covering D when the device allows (one element per work-item) */
    const ocl_device *dev = ocl_of(ctx)->dev;
    size_t L = ocl_pow2_floor(dev->max_wg < 256 ? dev->max_wg : 256);
    while (L > 1 && L / 2 >= (size_t)D) L /= 2;
    int per = (int)((D + (int)L - 1) / (int)L);
    char opts[96];
    snprintf(opts, sizeof opts, "-DT_IN=%d -DT_CACHE=%d -DKV_QUANT=%d -DKV_PER=%d", ocl_dtype_code(k->dtype),
             ocl_dtype_code(cd), quant, per);
    cl_kernel kern;
    mk_status s = ocl_kernel(ctx, "kv_cache.cl", "kv_append", opts, &kern);
    if (s != MK_OK) return s;
    if (L > ocl_kernel_wg(ctx, kern))
        return mk__fail(MK_ERR_UNSUPPORTED, "opencl.per_head: the built kernel allows %zu work-items, "
                        "it needs %zu", ocl_kernel_wg(ctx, kern), L);
    cl_mem mk = ocl_mem(k->buf), mv = ocl_mem(v->buf), ms = ocl_mem(sm->buf);
    cl_mem kp = ocl_mem(c->k), vp = ocl_mem(c->v);
    cl_mem ksc = quant ? ocl_mem(c->k_scale) : kp, vsc = quant ? ocl_mem(c->v_scale) : vp;
    cl_ulong ok = ocl_elem_offset(k), ov = ocl_elem_offset(v), os = ocl_elem_offset(sm);
    cl_long ks0 = k->stride[0], ks1 = k->stride[1], vs0 = v->stride[0], vs1 = v->stride[1];
    cl_int H = c->desc.num_kv_heads, cD = D;
    cl_long nslots = c->desc.num_blocks * (int64_t)c->desc.block_size;
    ocl_arg args[] = {OCL_ARG(mk), OCL_ARG(ok), OCL_ARG(ks0), OCL_ARG(ks1), OCL_ARG(mv), OCL_ARG(ov),
                      OCL_ARG(vs0), OCL_ARG(vs1), OCL_ARG(ms), OCL_ARG(os), OCL_ARG(kp), OCL_ARG(vp),
                      OCL_ARG(ksc), OCL_ARG(vsc), OCL_ARG(H), OCL_ARG(cD), OCL_ARG(nslots),
                      OCL_LOCAL(L * sizeof(float))};
    size_t global[2] = {2 * L * (size_t)H, (size_t)k->shape[0]}, local[2] = {L, 1};
    return ocl_launch(ctx, kern, "kv_append", 18, args, 2, global, local);
}

/* Copies the blocks of one pool whose blocks are `bytes` long. */
static mk_status copy_pool(mk_context *ctx, mk_buffer *pool, size_t bytes, const mk_tensor *pairs,
                           int64_t nblocks) {
    int words = bytes % 4 == 0;
    const char *name = words ? "copy_blocks_u32" : "copy_blocks_u8";
    cl_kernel k;
    mk_status s = ocl_kernel(ctx, "kv_cache.cl", name, "", &k);
    if (s != MK_OK) return s;
    cl_mem mp = ocl_mem(pool), mpairs = ocl_mem(pairs->buf);
    cl_ulong units = words ? bytes / 4 : bytes, po = ocl_elem_offset(pairs);
    cl_long nb = nblocks;
    ocl_arg args[] = {OCL_ARG(mp), OCL_ARG(units), OCL_ARG(mpairs), OCL_ARG(po), OCL_ARG(nb)};
    size_t global[2] = {(size_t)units, (size_t)pairs->shape[0]};
    return ocl_launch(ctx, k, name, 5, args, 2, global, NULL);
}

static mk_status run_copy(mk_context *ctx, const mk_op_args *a) {
    mk_kv_cache *c = a->u.kv_copy.cache;
    const mk_tensor *pairs = a->u.kv_copy.pairs;
    size_t rows = (size_t)c->desc.block_size * (size_t)c->desc.num_kv_heads;
    size_t bytes = rows * (size_t)c->desc.head_dim * mk_dtype_size(c->desc.dtype);
    mk_status s = copy_pool(ctx, c->k, bytes, pairs, c->desc.num_blocks);
    if (s == MK_OK) s = copy_pool(ctx, c->v, bytes, pairs, c->desc.num_blocks);
    if (s == MK_OK && c->k_scale) s = copy_pool(ctx, c->k_scale, rows * sizeof(float), pairs, c->desc.num_blocks);
    if (s == MK_OK && c->v_scale) s = copy_pool(ctx, c->v_scale, rows * sizeof(float), pairs, c->desc.num_blocks);
    return s;
}

static const mk_kernel k_append = {MK_OP_KV_APPEND, "opencl.per_head", "opencl", 10,
                                   "one work-group per (token, kv head, K|V); I8/FP8 bit-exact with the reference",
                                   ocl_always, run_append, NULL};
static const mk_kernel k_copy = {MK_OP_KV_COPY_BLOCKS, "opencl.copy", "opencl", 10,
                                 "one work-item per word of a block", ocl_always, run_copy, NULL};

static const mk_kernel *const ocl_kv_list[] = {&k_append, &k_copy};

const mk_kernel *const *ocl_kv_kernels(int *count) {
    *count = (int)(sizeof ocl_kv_list / sizeof ocl_kv_list[0]);
    return ocl_kv_list;
}
