/*
 * OpenCL attention variants:
 *   opencl.flash_prefill   tiled flash attention (kernels/opencl/attention_prefill.cl)
 *   opencl.splitkv_decode  split-KV flash decoding over the paged cache + merge
 *                          (kernels/opencl/attention_decode.cl): a work-group per (kv
 *                          head, split), or on CPU drivers (tuned style 2) one work-item
 *                          per (kv heads, split) with 16-wide vectors, built per D.
 *
 * Both kernels take the head dim at run time and are built per power-of-two bucket of
 * it (32..256), so a handful of programs serves every model. Nothing is read back from
 * the device: the prefill kernel finds its sequence from cu_seqlens on the device, and
 * the decode split plan is made from the shapes alone (block table width x block size
 * bounds every context), cached per context with the scratch for the partial results.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ocl_scratch.h"

/* Smallest power of two >= x, at least lo. */
static int pow2_at_least(int x, int lo) {
    int p = lo;
    while (p < x) p *= 2;
    return p;
}

/* ------------------------------------------------------------------ prefill */

typedef struct {
    int dmax, bq, bk, tpr;
    size_t local_bytes;
} fa_config;

static size_t fa_local_bytes(int dmax, int bq, int bk) {
    return ((size_t)bq * (dmax + 1) + (size_t)bk * (dmax + 1) + (size_t)bq * (bk + 1)) * 4 + 16;
}

/* Tile sizes for head dim D: defaults (or tuned values) shrunk to the device's limits.
   0 with a reason when even the smallest tiles do not fit. */
static int fa_plan(const mk_context *ctx, int D, fa_config *c, char *why, size_t n) {
    const ocl_device *dev = ocl_of(ctx)->dev;
    c->dmax = pow2_at_least(D, 32);
    c->tpr = c->dmax / 16; /* 16 output dims per work-item */
    int bq = ocl_param(ctx, "attention_prefill", "block_q", c->dmax <= 64 ? 32 : 16, NULL);
    int bk = ocl_param(ctx, "attention_prefill", "block_k",
                       c->dmax <= 64 ? 64 : c->dmax <= 128 ? 32 : 16, NULL);
    c->bq = pow2_at_least(bq < 1 ? 1 : bq > 64 ? 64 : bq, 1);
    c->bk = pow2_at_least(bk < c->tpr ? c->tpr : bk > 128 ? 128 : bk, c->tpr);
    while ((size_t)c->bq * c->tpr > dev->max_wg && c->bq > 1) c->bq /= 2;
    while (fa_local_bytes(c->dmax, c->bq, c->bk) > dev->local_mem && (c->bq > 1 || c->bk > c->tpr)) {
        if (c->bk > c->tpr && c->bk >= c->bq) c->bk /= 2;
        else c->bq /= 2;
    }
    c->local_bytes = fa_local_bytes(c->dmax, c->bq, c->bk);
    if ((size_t)c->bq * c->tpr > dev->max_wg)
        return mk__why(why, n, "head dim %d needs work-groups of %d, device allows %zu", D,
                       c->bq * c->tpr, dev->max_wg);
    if (c->local_bytes > dev->local_mem)
        return mk__why(why, n, "head dim %d needs %zu bytes of local memory, device has %zu", D,
                       c->local_bytes, dev->local_mem);
    return 1;
}

static int prefill_supports(const mk_context *ctx, const mk_op_args *a, char *why, size_t n) {
    if (!a) return 1;
    fa_config c;
    return fa_plan(ctx, (int)a->u.prefill.q->shape[2], &c, why, n);
}

static mk_status prefill_run(mk_context *ctx, const mk_op_args *a) {
    const mk_tensor *q = a->u.prefill.q, *k = a->u.prefill.k, *v = a->u.prefill.v;
    const mk_tensor *cq = a->u.prefill.cu_seqlens_q, *ck = a->u.prefill.cu_seqlens_k;
    const mk_tensor *out = a->u.prefill.out, *lse = a->u.prefill.lse;
    const mk_attn_params *p = &a->u.prefill.params;
    int T = (int)q->shape[0], Tk = (int)k->shape[0], Hq = (int)q->shape[1];
    int Hkv = (int)k->shape[1], D = (int)q->shape[2], B = (int)cq->shape[0] - 1;
    fa_config c;
    char why[160];
    if (!fa_plan(ctx, D, &c, why, sizeof why)) return mk__fail(MK_ERR_UNSUPPORTED, "opencl.flash_prefill: %s", why);

    char opts[160];
    snprintf(opts, sizeof opts, "-DT_IN=%d -DFA_DMAX=%d -DFA_BQ=%d -DFA_BK=%d -DFA_TPR=%d",
             ocl_dtype_code(q->dtype), c.dmax, c.bq, c.bk, c.tpr);
    cl_kernel kern;
    mk_status s = ocl_kernel(ctx, "attention_prefill.cl", "flash_prefill", opts, &kern);
    if (s != MK_OK) return s;

    cl_mem mq = ocl_mem(q->buf), mk = ocl_mem(k->buf), mv = ocl_mem(v->buf);
    cl_mem mcq = ocl_mem(cq->buf), mck = ocl_mem(ck->buf), mo = ocl_mem(out->buf);
    cl_mem ml = lse ? ocl_mem(lse->buf) : NULL;
    cl_ulong oq = ocl_elem_offset(q), ok = ocl_elem_offset(k), ov = ocl_elem_offset(v);
    cl_ulong ocq = ocl_elem_offset(cq), ock = ocl_elem_offset(ck), oo = ocl_elem_offset(out);
    cl_ulong ol = lse ? ocl_elem_offset(lse) : 0;
    cl_long qs0 = q->stride[0], qs1 = q->stride[1], ks0 = k->stride[0], ks1 = k->stride[1];
    cl_long vs0 = v->stride[0], vs1 = v->stride[1];
    cl_int has_lse = lse != NULL, causal = p->causal != 0, window = p->window_left;
    cl_int cT = T, cTk = Tk, cHq = Hq, cHkv = Hkv, cD = D, cB = B;
    cl_float scale = p->scale != 0.0f ? p->scale : 1.0f / sqrtf((float)D), softcap = p->softcap;
    ocl_arg args[] = {OCL_ARG(mq),  OCL_ARG(oq),  OCL_ARG(qs0),    OCL_ARG(qs1),    OCL_ARG(mk),
                      OCL_ARG(ok),  OCL_ARG(ks0), OCL_ARG(ks1),    OCL_ARG(mv),     OCL_ARG(ov),
                      OCL_ARG(vs0), OCL_ARG(vs1), OCL_ARG(mcq),    OCL_ARG(ocq),    OCL_ARG(mck),
                      OCL_ARG(ock), OCL_ARG(cB),  OCL_ARG(mo),     OCL_ARG(oo),     OCL_ARG(ml),
                      OCL_ARG(ol),  OCL_ARG(has_lse), OCL_ARG(cT), OCL_ARG(cTk),    OCL_ARG(cHq),
                      OCL_ARG(cHkv), OCL_ARG(cD), OCL_ARG(scale), OCL_ARG(causal), OCL_ARG(window),
                      OCL_ARG(softcap)};
    /* Tile slots: ceil(T / BQ) + B bounds the number of query tiles of any batch. */
    size_t nt = (size_t)c.bq * c.tpr, slots = (size_t)(T + c.bq - 1) / c.bq + (size_t)B;
    size_t global[2] = {nt * slots, (size_t)Hq}, local[2] = {nt, 1};
    return ocl_launch(ctx, kern, "flash_prefill", (int)(sizeof args / sizeof args[0]), args, 2,
                      global, local);
}

/* ------------------------------------------------------------------ decode */

typedef struct {
    int dmax, gmax, bk, hg;  /* kernel shape: dims, heads per group, keys per tile, groups */
    int splits, chunk;       /* the split plan */
} dec_config;

static size_t dec_local_bytes(int dmax, int gmax, int bk) {
    return ((size_t)gmax * dmax + (size_t)bk * (dmax + 1) + (size_t)gmax * bk + 3 * (size_t)gmax) * 4 +
           (size_t)bk * 8;
}

/* Kernel shape for (D, query heads per kv head G); 0 with a reason when it cannot fit. */
static int dec_shape(const mk_context *ctx, int D, int G, dec_config *c, char *why, size_t n) {
    const ocl_device *dev = ocl_of(ctx)->dev;
    int gcap = ocl_param(ctx, "attention_decode", "max_heads", 8, NULL);
    c->dmax = pow2_at_least(D, 32);
    c->gmax = pow2_at_least(G, 1);
    if (c->gmax > gcap) c->gmax = pow2_at_least(gcap < 1 ? 1 : gcap, 1);
    int bk = ocl_param(ctx, "attention_decode", "block_k", c->dmax <= 128 ? 32 : 16, NULL);
    c->bk = pow2_at_least(bk < 1 ? 1 : bk > 128 ? 128 : bk, 1);
    while (dec_local_bytes(c->dmax, c->gmax, c->bk) > dev->local_mem && (c->bk > 1 || c->gmax > 1)) {
        if (c->bk >= c->gmax && c->bk > 1) c->bk /= 2;
        else c->gmax /= 2;
    }
    c->hg = (G + c->gmax - 1) / c->gmax;
    if ((size_t)c->dmax > dev->max_wg)
        return mk__why(why, n, "head dim %d needs work-groups of %d, device allows %zu", D, c->dmax,
                       dev->max_wg);
    if (dec_local_bytes(c->dmax, c->gmax, c->bk) > dev->local_mem)
        return mk__why(why, n, "head dim %d needs %zu bytes of local memory, device has %zu", D,
                       dec_local_bytes(c->dmax, c->gmax, c->bk), dev->local_mem);
    return 1;
}

/* Split plan (FlashInfer-style plan/run): enough work-groups to fill the device, no split
   shorter than min_chunk keys. Contexts are bounded by max_ctx (block table width x block
   size, or the window). Plans are cached per context by (B, work-groups per sequence,
   power-of-two bucket of max_ctx, keys per tile) and made for the bucket's top, so every
   context of the bucket fits the grid. */
static void dec_plan(mk_context *ctx, int B, int groups_per_seq, int max_ctx, dec_config *c) {
    int bucket = pow2_at_least(max_ctx < 1 ? 1 : max_ctx, 1);
    int key[4] = {B, groups_per_seq, bucket, c->bk}, val[4];
    if (ocl_plan_get(ctx, key, val)) {
        c->splits = val[0], c->chunk = val[1];
        return;
    }
    const ocl_device *dev = ocl_of(ctx)->dev;
    int gpu = dev->info.type == MK_DEVICE_GPU;
    int cus = dev->info.compute_units > 0 ? dev->info.compute_units : 1;
    long target = (long)cus * ocl_param(ctx, "attention_decode", "groups_per_cu", gpu ? 8 : 4, NULL);
    int min_chunk = ocl_param(ctx, "attention_decode", "min_chunk", gpu ? 256 : 128, NULL);
    int max_splits = ocl_param(ctx, "attention_decode", "max_splits", 64, NULL);
    if (min_chunk < c->bk) min_chunk = c->bk;
    long base = (long)B * groups_per_seq;
    long splits = (target + base - 1) / base;
    long by_len = (bucket + min_chunk - 1) / min_chunk;
    if (splits > by_len) splits = by_len;
    if (splits > max_splits) splits = max_splits;
    if (splits < 1) splits = 1;
    int chunk = (int)((bucket + splits - 1) / splits);
    c->chunk = (chunk + c->bk - 1) / c->bk * c->bk;
    c->splits = (bucket + c->chunk - 1) / c->chunk;
    val[0] = c->splits, val[1] = c->chunk, val[2] = val[3] = 0;
    ocl_plan_put(ctx, key, val);
}

/* The work-item kernel (splitkv_decode_item, for CPU drivers) instead of the work-group
   one: tuned "attention_decode"/"style" = 2 (the CPU default; 1 = work-groups) selects
   it when D is a multiple of 16 and one kv head's query heads fit its private state (G x
   D <= 4096 floats). Returns the kv heads per work-item: the largest divisor of Hkv up to
   "item_heads" whose heads fit; 0 = the work-group kernel. */
static int dec_item_heads(const mk_context *ctx, int D, int G, int Hkv) {
    if (ocl_param(ctx, "attention_decode", "style", 1, NULL) != 2 || D % 16 != 0) return 0;
    int cap = ocl_param(ctx, "attention_decode", "item_heads", 8, NULL);
    for (int hpw = cap < Hkv ? cap : Hkv; hpw >= 1; hpw--)
        if (Hkv % hpw == 0 && (long)hpw * G * D <= 4096) return hpw;
    return 0;
}

static int decode_supports(const mk_context *ctx, const mk_op_args *a, char *why, size_t n) {
    if (!a) return 1;
    const mk_kv_cache_desc *d = &a->u.decode.cache->desc;
    int G = (int)a->u.decode.q->shape[1] / d->num_kv_heads;
    if (dec_item_heads(ctx, d->head_dim, G, d->num_kv_heads)) return 1;
    dec_config c;
    return dec_shape(ctx, d->head_dim, G, &c, why, n);
}

static mk_status decode_run(mk_context *ctx, const mk_op_args *a) {
    const mk_tensor *q = a->u.decode.q, *bt = a->u.decode.block_table;
    const mk_tensor *cl = a->u.decode.context_lens, *out = a->u.decode.out;
    const mk_kv_cache *cache = a->u.decode.cache;
    const mk_attn_params *p = &a->u.decode.params;
    int B = (int)q->shape[0], Hq = (int)q->shape[1], Hkv = cache->desc.num_kv_heads;
    int D = cache->desc.head_dim, G = Hq / Hkv, bs = cache->desc.block_size;
    int max_blocks = (int)bt->shape[1];
    dec_config c;
    char why[160], opts[160];
    int hpw = dec_item_heads(ctx, D, G, Hkv);
    const char *kname = hpw ? "splitkv_decode_item" : "splitkv_decode";
    if (hpw) { /* one work-item per (kv heads, sequence, split); tiles of 16 tokens */
        c.bk = 16, c.hg = 1;
        int len = snprintf(opts, sizeof opts, "-DT_IN=%d -DT_CACHE=%d -DDEC_ITEM -DDEC_D=%d -DDEC_G=%d -DDEC_HPW=%d -DDEC_BT=16",
                           ocl_dtype_code(q->dtype), ocl_dtype_code(cache->desc.dtype), D, G, hpw);
        int ahead = ocl_param(ctx, "attention_decode", "prefetch", 0, NULL); /* tiles; 0 = none */
        if (ahead > 0 && ahead <= 8) snprintf(opts + len, sizeof opts - (size_t)len, " -DDEC_PREFETCH=%d", ahead);
    } else {
        if (!dec_shape(ctx, D, G, &c, why, sizeof why))
            return mk__fail(MK_ERR_UNSUPPORTED, "opencl.splitkv_decode: %s", why);
        snprintf(opts, sizeof opts, "-DT_IN=%d -DT_CACHE=%d -DDEC_DMAX=%d -DDEC_GMAX=%d -DDEC_BK=%d",
                 ocl_dtype_code(q->dtype), ocl_dtype_code(cache->desc.dtype), c.dmax, c.gmax, c.bk);
    }
    long max_ctx = (long)max_blocks * bs;
    if (p->window_left >= 0 && (long)p->window_left + 1 < max_ctx) max_ctx = p->window_left + 1;
    dec_plan(ctx, B, hpw ? Hkv / hpw : Hkv * c.hg, (int)(max_ctx < INT32_MAX ? max_ctx : INT32_MAX), &c);

    cl_kernel kd, km = NULL;
    mk_status s = ocl_kernel(ctx, "attention_decode.cl", kname, opts, &kd);
    if (s == MK_OK && c.splits > 1) s = ocl_kernel(ctx, "attention_decode.cl", "splitkv_merge", opts, &km);
    if (s != MK_OK) return s;

    /* Scratch: partial outputs [B][Hq][splits][D], then (m, l) [B][Hq][splits][2]. */
    cl_mem part = NULL;
    cl_ulong ml_off = (cl_ulong)B * Hq * c.splits * D;
    if (c.splits > 1 &&
        (s = ocl_scratch(ctx, OCL_SCRATCH_DECODE, (size_t)(ml_off + (cl_ulong)B * Hq * c.splits * 2) * 4,
                         &part)) != MK_OK)
        return s;

    cl_mem mq = ocl_mem(q->buf), mkc = ocl_mem(cache->k), mvc = ocl_mem(cache->v);
    cl_mem mks = cache->k_scale ? ocl_mem(cache->k_scale) : NULL;
    cl_mem mvs = cache->v_scale ? ocl_mem(cache->v_scale) : NULL;
    cl_mem mbt = ocl_mem(bt->buf), mcl = ocl_mem(cl->buf), mo = ocl_mem(out->buf);
    cl_ulong oq = ocl_elem_offset(q), obt = ocl_elem_offset(bt), ocl_ = ocl_elem_offset(cl);
    cl_ulong oo = ocl_elem_offset(out);
    cl_long qs0 = q->stride[0], qs1 = q->stride[1];
    cl_int cmb = max_blocks, cHq = Hq, cHkv = Hkv, cD = D, cbs = bs, window = p->window_left;
    cl_int nblocks = (cl_int)cache->desc.num_blocks, splits = c.splits, chunk = c.chunk;
    cl_int cG = G, cHG = c.hg;
    cl_float scale = p->scale != 0.0f ? p->scale : 1.0f / sqrtf((float)D), softcap = p->softcap;
    ocl_arg args[] = {OCL_ARG(mq),    OCL_ARG(oq),     OCL_ARG(qs0),   OCL_ARG(qs1),   OCL_ARG(mkc),
                      OCL_ARG(mvc),   OCL_ARG(mks),    OCL_ARG(mvs),   OCL_ARG(mbt),   OCL_ARG(obt),
                      OCL_ARG(cmb),   OCL_ARG(mcl),    OCL_ARG(ocl_),  OCL_ARG(mo),    OCL_ARG(oo),
                      OCL_ARG(part),  OCL_ARG(ml_off), OCL_ARG(cHq),   OCL_ARG(cHkv),  OCL_ARG(cD),
                      OCL_ARG(cbs),   OCL_ARG(nblocks), OCL_ARG(scale), OCL_ARG(window), OCL_ARG(softcap),
                      OCL_ARG(splits), OCL_ARG(chunk), OCL_ARG(cG),    OCL_ARG(cHG)};
    size_t global[3] = {hpw ? (size_t)(Hkv / hpw) : (size_t)c.dmax * Hkv * c.hg, (size_t)B, (size_t)c.splits};
    size_t local[3] = {hpw ? 1 : (size_t)c.dmax, 1, 1};
    s = ocl_launch(ctx, kd, kname, (int)(sizeof args / sizeof args[0]), args, 3, global, local);
    if (s != MK_OK || c.splits == 1) return s;

    ocl_arg margs[] = {OCL_ARG(part), OCL_ARG(ml_off), OCL_ARG(mo), OCL_ARG(oo), OCL_ARG(cD),
                       OCL_ARG(splits)};
    size_t mnt = hpw ? 1 : c.dmax < 64 ? (size_t)c.dmax : 64;
    size_t mglobal[1] = {mnt * (size_t)B * Hq}, mlocal[1] = {mnt};
    return ocl_launch(ctx, km, "splitkv_merge", 6, margs, 1, mglobal, mlocal);
}

/* ------------------------------------------------------------------ registry */

static const mk_kernel k_flash_prefill = {
    MK_OP_ATTENTION_PREFILL, "opencl.flash_prefill", "opencl", 10,
    "tiled flash attention, online softmax in f32, K/V tiles in local memory (OpenCL C 1.2)",
    prefill_supports, prefill_run};

static const mk_kernel k_splitkv_decode = {
    MK_OP_ATTENTION_DECODE, "opencl.splitkv_decode", "opencl", 10,
    "split-KV flash decoding over the paged cache, query heads of a KV group share K/V reads",
    decode_supports, decode_run};

static const mk_kernel *const ocl_attention_list[] = {&k_flash_prefill, &k_splitkv_decode};

const mk_kernel *const *ocl_attention_kernels(int *count) {
    *count = (int)(sizeof ocl_attention_list / sizeof ocl_attention_list[0]);
    return ocl_attention_list;
}
