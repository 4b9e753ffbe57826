/*
 * CUDA attention variants:
 *   cuda.fa2_mma  prefill: flash attention 2 on tensor cores, mma.sync m16n8k16 with
 *                 ldmatrix fragments (kernels/cuda/attention_prefill.cu); sm_80+, F16 and
 *                 BF16, D in {64, 80, 96, 128, 256}. No sm_90a wgmma + TMA path yet
 *                 (issue #4): sm_90 runs the mma.sync kernel.
 *   cuda.tiled    prefill without tensor cores (kernels/cuda/attention_prefill_tiled.cu):
 *                 f32 SIMT flash attention for everything else (F32, any D <= 256, pre-
 *                 sm_80 GPUs); lower priority than cuda.fa2_mma.
 *   cuda.splitkv  decode over the paged cache: split-KV flash decoding + merge
 *                 (kernels/cuda/attention_decode.cu), sm_80+: K/V pages through a
 *                 3-stage cp.async ring, the query heads of a KV group sharing each K/V
 *                 load (on tensor cores for groups >= 4 over F16/BF16 caches), every
 *                 cache dtype dequantized in registers.
 *
 * Decode runs the split-KV partition of its plan (decode_plan, the variant's plan hook:
 * the shared rule of runtime/src/splitkv.c with as many blocks per SM as fit, at most
 * kTargetPerSm, no split shorter than kMinChunk keys, at most kMaxSplits); its partial
 * outputs and (m, l) go to the plan's workspace. Nothing is read back and nothing waits. The decode kernel clamps
 * context lengths to the block table and block indices to the pool.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "cuda/cuda_internal.h"

enum {
    kTargetPerSm = 4,  /* decode blocks per SM the partition aims for at most      */
    kMinChunk = 256,   /* keys; shorter splits cost more in the merge than they save */
    kMaxSplits = 64,
    kMaxGrid = 65535   /* gridDim.y (sequences)                                     */
};

/* ------------------------------------------------------------------ decode */

/* The tensor-core decode kernel runs where mma.sync exists (sm_80+) and its stage ring
   fits the device's shared memory (not on sm_86/sm_89's 99 KB for D > 64): otherwise
   the SIMT kernel takes those groups. */
static int decode_tc(const cuda_device *dev, mk_dtype q, mk_dtype cache, int group, int head_dim) {
    return dev->cc_major >= 8 && mkc_decode_smem(q, cache, group, head_dim, 1) <= dev->smem_optin;
}

static int decode_supports(const mk_context *ctx, const mk_op_args *a, char *why, size_t n) {
    if (!cuda_kernels_available(ctx, why, n)) return 0;
    if (!a) return 1;
    const mk_tensor *q = a->u.decode.q;
    if (q->dtype != MK_F32 && q->dtype != MK_F16 && q->dtype != MK_BF16)
        return mk__why(why, n, "q dtype %s (F32, F16 or BF16 only)", mk_dtype_name(q->dtype));
    if (q->shape[0] > kMaxGrid)
        return mk__why(why, n, "batch %lld is over %d sequences per launch", (long long)q->shape[0], kMaxGrid);
    const mk_kv_cache_desc *c = &a->u.decode.cache->desc;
    const cuda_device *dev = cuda_of(ctx)->dev;
    if (dev->cc_major < 8)
        return mk__why(why, n, "cp.async needs compute capability 8.0+, device has %d.%d", dev->cc_major,
                       dev->cc_minor);
    const int G = (int)(q->shape[1] / c->num_kv_heads);
    const size_t smem = mkc_decode_smem(q->dtype, c->dtype, G, c->head_dim, decode_tc(dev, q->dtype, c->dtype, G, c->head_dim));
    if (smem > 48 * 1024 && smem > dev->smem_optin)
        return mk__why(why, n, "needs %zu bytes of shared memory per block, device allows %zu", smem, dev->smem_optin);
    /* the plan's power-of-two bucket of the longest context must stay an int */
    if (a->u.decode.block_table->shape[1] * a->u.decode.cache->desc.block_size > (int64_t)1 << 30)
        return mk__why(why, n, "block table width x block size is over 2^30 keys");
    return 1;
}

/* The split-KV partition (runtime/src/splitkv.c) of a decode plan on this GPU: enough
   splits for the blocks that fit on every SM at once (shared memory bound: the kernel's
   stage ring; at most kTargetPerSm), no split under kMinChunk keys, at most kMaxSplits. */
static mk_status decode_plan(const mk_context *ctx, const mk_op_args *a, mk_work *w) {
    const mk_plan *p = a->u.decode.plan;
    const cuda_device *dev = cuda_of(ctx)->dev;
    const int G = p->num_q_heads / p->cache.num_kv_heads;
    const int tc = decode_tc(dev, p->q_dtype, p->cache.dtype, G, p->cache.head_dim);
    const int hpb = mkc_decode_heads_per_block(p->q_dtype, p->cache.dtype, G, p->cache.head_dim, tc);
    const int64_t head_groups = (int64_t)p->cache.num_kv_heads * ((G + hpb - 1) / hpb);
    /* the SM's shared memory is the opt-in limit plus the 1 KB the driver keeps per block */
    const size_t smem = mkc_decode_smem(p->q_dtype, p->cache.dtype, G, p->cache.head_dim, tc) + 1024;
    int per_sm = (int)((dev->smem_optin + 1024) / smem);
    per_sm = per_sm < 1 ? 1 : per_sm > kTargetPerSm ? kTargetPerSm : per_sm;
    const mk_splitkv_params sp = {.compute_units = dev->sm_count, .per_unit = per_sm,
                                  .min_chunk = kMinChunk, .max_splits = kMaxSplits,
                                  .tile = MKC_DECODE_SPLIT_ALIGN};
    mk__splitkv_partition(&sp, p->n * head_groups, p->max_k, w);
    w->workspace_bytes = mk__splitkv_workspace_bytes(p->n, p->num_q_heads, p->cache.head_dim, w->splits);
    return MK_OK;
}

static mk_status decode_run(mk_context *ctx, const mk_op_args *a) {
    const mk_tensor *q = a->u.decode.q, *bt = a->u.decode.block_table;
    const mk_kv_cache *cache = a->u.decode.cache;
    const mk_attn_params *p = &a->u.decode.params;
    const mk_plan *plan = a->u.decode.plan;
    const int B = (int)q->shape[0], Hq = (int)q->shape[1];
    const int Hkv = cache->desc.num_kv_heads, D = cache->desc.head_dim;

    mkc_decode_args d;
    memset(&d, 0, sizeof d);
    d.q_dtype = q->dtype;
    d.q = cuda_ptr(q);
    d.q_s0 = q->stride[0], d.q_s1 = q->stride[1];
    d.pool.dtype = cache->desc.dtype;
    d.pool.k = cuda_buf(cache->k), d.pool.v = cuda_buf(cache->v);
    d.pool.k_scale = (float *)cuda_buf(cache->k_scale), d.pool.v_scale = (float *)cuda_buf(cache->v_scale);
    d.pool.num_blocks = cache->desc.num_blocks;
    d.pool.block_size = cache->desc.block_size;
    d.pool.num_kv_heads = Hkv, d.pool.head_dim = D;
    d.block_table = (const int32_t *)cuda_ptr(bt);
    d.max_blocks = (int)bt->shape[1];
    d.context_lens = (const int32_t *)cuda_ptr(a->u.decode.context_lens);
    d.out = cuda_ptr(a->u.decode.out);
    d.batch = B, d.num_q_heads = Hq;
    d.scale = p->scale != 0.0f ? p->scale : 1.0f / sqrtf((float)D);
    d.softcap = p->softcap;
    d.window_left = mk__window_left(p);
    d.splits = plan->work.splits, d.chunk = plan->work.chunk;
    d.tensor_cores = decode_tc(cuda_of(ctx)->dev, q->dtype, cache->desc.dtype, Hq / Hkv, D);
    if (d.splits > 1) {
        d.partial = (float *)cuda_buf(plan->workspace);
        d.ml_offset = (int64_t)B * Hq * d.splits * D;
    }
    mk_status s = cuda_enter(ctx);
    if (s != MK_OK) return s;
    return cuda_launched(mkc_attention_decode(&d, cuda_of(ctx)->stream), "attention_decode");
}

/* ------------------------------------------------------------------ prefill */

static int fa2_supports(const mk_context *ctx, const mk_op_args *a, char *why, size_t n) {
    if (!cuda_kernels_available(ctx, why, n)) return 0;
    const cuda_device *dev = cuda_of(ctx)->dev;
    if (dev->cc_major < 8)
        return mk__why(why, n, "mma.sync m16n8k16 needs compute capability 8.0+, device has %d.%d",
                       dev->cc_major, dev->cc_minor);
    if (!a) return 1;
    const mk_tensor *q = a->u.prefill.q;
    const int D = (int)q->shape[2];
    if (q->dtype != MK_F16 && q->dtype != MK_BF16)
        return mk__why(why, n, "dtype %s (F16 or BF16 only)", mk_dtype_name(q->dtype));
    const size_t smem = mkc_fa2_mma_smem(D);
    if (smem == 0) return mk__why(why, n, "head dim %d (64, 80, 96, 128 or 256 only)", D);
    if (smem > 48 * 1024 && smem > dev->smem_optin)
        return mk__why(why, n, "head dim %d needs %zu bytes of shared memory per block, device allows %zu",
                       D, smem, dev->smem_optin);
    if (q->shape[1] > kMaxGrid)
        return mk__why(why, n, "%lld query heads is over %d per launch", (long long)q->shape[1], kMaxGrid);
    if (q->shape[0] > INT32_MAX || a->u.prefill.k->shape[0] > INT32_MAX)
        return mk__why(why, n, "over 2^31 tokens per launch");
    return 1;
}

/* 16-byte tile loads: base aligned and both outer strides whole 16-byte chunks. */
static int vec_ok(const mk_tensor *t) {
    return ((uintptr_t)cuda_ptr(t) & 15u) == 0 && t->stride[0] % 8 == 0 && t->stride[1] % 8 == 0;
}

static void prefill_args(const mk_op_args *a, mkc_prefill_args *f) {
    const mk_tensor *q = a->u.prefill.q, *k = a->u.prefill.k, *v = a->u.prefill.v;
    const mk_tensor *lse = a->u.prefill.lse;
    const mk_attn_params *p = &a->u.prefill.params;
    memset(f, 0, sizeof *f);
    f->dtype = q->dtype;
    f->q = cuda_ptr(q), f->k = cuda_ptr(k), f->v = cuda_ptr(v);
    f->q_s0 = q->stride[0], f->q_s1 = q->stride[1];
    f->k_s0 = k->stride[0], f->k_s1 = k->stride[1];
    f->v_s0 = v->stride[0], f->v_s1 = v->stride[1];
    f->q_vec = vec_ok(q), f->k_vec = vec_ok(k), f->v_vec = vec_ok(v);
    f->cu_q = (const int32_t *)cuda_ptr(a->u.prefill.cu_seqlens_q);
    f->cu_k = (const int32_t *)cuda_ptr(a->u.prefill.cu_seqlens_k);
    const mk_plan *plan = a->u.prefill.plan;
    if (plan->work.tile_rows > 0) {
        f->tile_map = (const int32_t *)cuda_buf(plan->workspace);
        f->num_tiles = (int)plan->work.num_tiles;
    }
    f->batch = (int)a->u.prefill.cu_seqlens_q->shape[0] - 1;
    f->total_q = (int)q->shape[0], f->total_k = (int)k->shape[0];
    f->num_q_heads = (int)q->shape[1], f->num_kv_heads = (int)k->shape[1], f->head_dim = (int)q->shape[2];
    f->out = cuda_ptr(a->u.prefill.out);
    f->lse = lse ? (float *)cuda_ptr(lse) : NULL;
    f->scale = p->scale != 0.0f ? p->scale : 1.0f / sqrtf((float)f->head_dim);
    f->softcap = p->softcap;
    f->causal = p->causal != 0;
    f->window_left = mk__window_left(p);
}

/* The plans' tile maps: the kernels' rows per block. */
static mk_status fa2_plan(const mk_context *ctx, const mk_op_args *a, mk_work *w) {
    (void)ctx;
    w->tile_rows = mkc_fa2_tile_rows((int)a->u.prefill.q->shape[2]);
    return MK_OK;
}

static mk_status tiled_plan(const mk_context *ctx, const mk_op_args *a, mk_work *w) {
    (void)ctx;
    w->tile_rows = mkc_prefill_tiled_rows((int)a->u.prefill.q->shape[2]);
    return MK_OK;
}

static mk_status fa2_run(mk_context *ctx, const mk_op_args *a) {
    mkc_prefill_args f;
    prefill_args(a, &f);
    mk_status s = cuda_enter(ctx);
    if (s != MK_OK) return s;
    return cuda_launched(mkc_attention_prefill_fa2(&f, cuda_of(ctx)->stream), "attention_prefill_fa2");
}

static int tiled_supports(const mk_context *ctx, const mk_op_args *a, char *why, size_t n) {
    if (!cuda_kernels_available(ctx, why, n)) return 0;
    if (!a) return 1;
    const mk_tensor *q = a->u.prefill.q;
    if (q->dtype != MK_F32 && q->dtype != MK_F16 && q->dtype != MK_BF16)
        return mk__why(why, n, "dtype %s (F32, F16 or BF16 only)", mk_dtype_name(q->dtype));
    if (q->shape[1] > kMaxGrid)
        return mk__why(why, n, "%lld query heads is over %d per launch", (long long)q->shape[1], kMaxGrid);
    if (q->shape[0] > INT32_MAX || a->u.prefill.k->shape[0] > INT32_MAX)
        return mk__why(why, n, "over 2^31 tokens per launch");
    return 1;
}

static mk_status tiled_run(mk_context *ctx, const mk_op_args *a) {
    mkc_prefill_args f;
    prefill_args(a, &f);
    mk_status s = cuda_enter(ctx);
    if (s != MK_OK) return s;
    return cuda_launched(mkc_attention_prefill_tiled(&f, cuda_of(ctx)->stream), "attention_prefill_tiled");
}

/* ------------------------------------------------------------------ registry */

static const mk_kernel k_fa2 = {
    MK_OP_ATTENTION_PREFILL, "cuda.fa2_mma", "cuda", 10,
    "flash attention 2 on tensor cores (mma.sync m16n8k16 + ldmatrix, sm_80+), f16/bf16, "
    "D 64/80/96/128/256, f32 online softmax",
    fa2_supports, fa2_run, fa2_plan};

static const mk_kernel k_tiled = {
    MK_OP_ATTENTION_PREFILL, "cuda.tiled", "cuda", 5,
    "tiled flash attention without tensor cores (f32 SIMT, any D <= 256, F32/F16/BF16): the "
    "fallback for what cuda.fa2_mma does not take",
    tiled_supports, tiled_run, tiled_plan};

static const mk_kernel k_splitkv = {
    MK_OP_ATTENTION_DECODE, "cuda.splitkv", "cuda", 10,
    "split-KV flash decoding over the paged cache + deterministic merge (sm_80+): 16-byte "
    "cp.async pages in a 3-stage ring, a KV group's query heads share each K/V load (mma.sync "
    "for groups >= 4 on f16/bf16 caches), f16/bf16/f32/i8/fp8 caches dequantized in registers",
    decode_supports, decode_run, decode_plan};

static const mk_kernel *const kernels[] = {&k_fa2, &k_tiled, &k_splitkv};

const mk_kernel *const *cuda_attention_kernels(int *count) {
    *count = (int)(sizeof kernels / sizeof kernels[0]);
    return kernels;
}
