/*
 * OpenCL attention variants:
 *   opencl.flash_prefill   tiled flash attention (kernels/opencl/attention_prefill.cl)
 *   opencl.splitkv_decode  split-KV flash decoding over the paged cache + merge
 *                          (kernels/opencl/attention_decode.cl): a work-group per (kv
 *                          head, split)
 *   opencl.splitkv_decode_item  the same for CPU drivers: one work-item per (kv heads,
 *                          split) with 16-wide vectors, built per D (the default on CPU
 *                          devices through ocl_tuning.c's per-type defaults; it runs on
 *                          any device, e.g. under Oclgrind, which reports a GPU)
 *
 * Prefill and the work-group decode kernel take the head dim at run time and are built
 * per power-of-two bucket of it (32..256), so a handful of programs serves every model.
 * Nothing is read back: the prefill kernel finds its sequence from cu_seqlens on the
 * device; decode runs the split-KV partition its plan computed (dec_plan, the variants'
 * plan hook) into the plan's workspace. The decode kernels clamp context lengths to the
 * block table and block indices to the pool (the plan's device copy is not trusted).
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

/* The plan's tiles: FA_BQ query rows each. */
static mk_status prefill_plan(const mk_context *ctx, const mk_op_args *a, mk_work *w) {
    fa_config c;
    char why[160];
    if (!fa_plan(ctx, (int)a->u.prefill.q->shape[2], &c, why, sizeof why))
        return mk__fail(MK_ERR_UNSUPPORTED, "opencl.flash_prefill: %s", why);
    w->tile_rows = c.bq;
    return MK_OK;
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
    const mk_work *w = &a->u.prefill.plan->work;
    if (w->tile_rows != c.bq) /* a tile parameter changed after the plan was made */
        return mk__fail(MK_ERR_INVALID_ARGUMENT, "plan: its tiles of %d rows are not the kernel's %d (tuning "
                        "parameters changed since it was made): make the plan again", w->tile_rows, c.bq);

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
    cl_int has_lse = lse != NULL, causal = p->causal != 0, window = mk__window_left(p);
    cl_int cT = T, cTk = Tk, cHq = Hq, cHkv = Hkv, cD = D, cB = B, ntiles = (cl_int)w->num_tiles;
    cl_mem mtiles = ocl_mem(a->u.prefill.plan->workspace);
    cl_float scale = p->scale != 0.0f ? p->scale : 1.0f / sqrtf((float)D), softcap = p->softcap;
    ocl_arg args[] = {OCL_ARG(mq),  OCL_ARG(oq),  OCL_ARG(qs0),    OCL_ARG(qs1),    OCL_ARG(mk),
                      OCL_ARG(ok),  OCL_ARG(ks0), OCL_ARG(ks1),    OCL_ARG(mv),     OCL_ARG(ov),
                      OCL_ARG(vs0), OCL_ARG(vs1), OCL_ARG(mcq),    OCL_ARG(ocq),    OCL_ARG(mck),
                      OCL_ARG(ock), OCL_ARG(cB),  OCL_ARG(mtiles), OCL_ARG(ntiles), OCL_ARG(mo),
                      OCL_ARG(oo),  OCL_ARG(ml),
                      OCL_ARG(ol),  OCL_ARG(has_lse), OCL_ARG(cT), OCL_ARG(cTk),    OCL_ARG(cHq),
                      OCL_ARG(cHkv), OCL_ARG(cD), OCL_ARG(scale), OCL_ARG(causal), OCL_ARG(window),
                      OCL_ARG(softcap)};
    /* One work-group per tile of the plan's map (none when the batch has no query). */
    if (w->num_tiles == 0) return MK_OK;
    size_t nt = (size_t)c.bq * c.tpr, slots = (size_t)w->num_tiles;
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

/* The work-item kernel (splitkv_decode_item) for kv heads per work-item: the largest
   divisor of Hkv up to the tuned "item_heads" whose query heads fit its private state
   (hpw x G x D <= 4096 floats); 0 when D is not a multiple of 16 (its vector width). */
static int dec_item_heads(const mk_context *ctx, int D, int G, int Hkv) {
    if (D % 16 != 0) return 0;
    int cap = ocl_param(ctx, "attention_decode", "item_heads", 8, NULL);
    for (int hpw = cap < Hkv ? cap : Hkv; hpw >= 1; hpw--)
        if (Hkv % hpw == 0 && (long)hpw * G * D <= 4096) return hpw;
    return 0;
}

/* The decode kernel's launch shape for args: kernel geometry (c) and, for the work-item
   kernel, the kv heads per item (hpw > 0). 0 with a reason when the variant cannot run. */
static int dec_geometry(const mk_context *ctx, const mk_op_args *a, int item, dec_config *c, int *hpw, char *why,
                        size_t n) {
    const mk_kv_cache_desc *d = &a->u.decode.cache->desc;
    const int D = d->head_dim, Hkv = d->num_kv_heads, G = (int)a->u.decode.q->shape[1] / Hkv;
    *hpw = 0;
    if (!item) return dec_shape(ctx, D, G, c, why, n);
    *hpw = dec_item_heads(ctx, D, G, Hkv);
    if (!*hpw)
        return mk__why(why, n, D % 16 ? "head dim %d is not a multiple of 16 (the kernel's vector width)"
                                      : "head dim %d x %d query heads per kv head exceeds the 4096 floats of a work-item",
                       D, G);
    memset(c, 0, sizeof *c);
    c->bk = 16, c->hg = 1; /* tiles of 16 tokens */
    return 1;
}

/* Split-KV partition (runtime/src/splitkv.c) with this device's numbers: work-groups per
   compute unit and the shortest split from the tuning parameters, chunks of whole tiles. */
static mk_status dec_plan(const mk_context *ctx, const mk_op_args *a, int item, mk_work *w) {
    dec_config c;
    int hpw;
    char why[160];
    if (!dec_geometry(ctx, a, item, &c, &hpw, why, sizeof why))
        return mk__fail(MK_ERR_UNSUPPORTED, "%s: %s", item ? "opencl.splitkv_decode_item" : "opencl.splitkv_decode", why);
    const ocl_device *dev = ocl_of(ctx)->dev;
    const int gpu = dev->info.type == MK_DEVICE_GPU;
    mk_splitkv_params sp = {
        .compute_units = dev->info.compute_units,
        .per_unit = ocl_param(ctx, "attention_decode", "groups_per_cu", gpu ? 8 : 4, NULL),
        .min_chunk = ocl_param(ctx, "attention_decode", "min_chunk", gpu ? 256 : 128, NULL),
        .max_splits = ocl_param(ctx, "attention_decode", "max_splits", 64, NULL),
        .tile = c.bk};
    const mk_plan *p = a->u.decode.plan;
    const int Hkv = p->cache.num_kv_heads;
    const int64_t groups = p->n * (hpw ? Hkv / hpw : (int64_t)Hkv * c.hg);
    mk__splitkv_partition(&sp, groups, p->max_k, w);
    w->workspace_bytes = mk__splitkv_workspace_bytes(p->n, p->num_q_heads, p->cache.head_dim, w->splits);
    return MK_OK;
}

static mk_status plan_group(const mk_context *ctx, const mk_op_args *a, mk_work *w) { return dec_plan(ctx, a, 0, w); }
static mk_status plan_item(const mk_context *ctx, const mk_op_args *a, mk_work *w) { return dec_plan(ctx, a, 1, w); }

static int dec_supports(const mk_context *ctx, const mk_op_args *a, int item, char *why, size_t n) {
    if (!a) return 1;
    dec_config c;
    int hpw;
    return dec_geometry(ctx, a, item, &c, &hpw, why, n);
}

static int supports_group(const mk_context *ctx, const mk_op_args *a, char *why, size_t n) {
    return dec_supports(ctx, a, 0, why, n);
}
static int supports_item(const mk_context *ctx, const mk_op_args *a, char *why, size_t n) {
    return dec_supports(ctx, a, 1, why, n);
}

/* Launches the decode kernel (and the merge when the plan splits) with the plan's
   partition; partial results go to the plan's workspace. */
static mk_status dec_run(mk_context *ctx, const mk_op_args *a, int item) {
    const mk_tensor *q = a->u.decode.q, *bt = a->u.decode.block_table;
    const mk_tensor *cl = a->u.decode.context_lens, *out = a->u.decode.out;
    const mk_kv_cache *cache = a->u.decode.cache;
    const mk_attn_params *p = &a->u.decode.params;
    const mk_plan *plan = a->u.decode.plan;
    int B = (int)q->shape[0], Hq = (int)q->shape[1], Hkv = cache->desc.num_kv_heads;
    int D = cache->desc.head_dim, G = Hq / Hkv, bs = cache->desc.block_size;
    int max_blocks = (int)bt->shape[1];
    dec_config c;
    int hpw;
    char why[160], opts[160];
    const char *kname = item ? "splitkv_decode_item" : "splitkv_decode";
    if (!dec_geometry(ctx, a, item, &c, &hpw, why, sizeof why))
        return mk__fail(MK_ERR_UNSUPPORTED, "opencl.%s: %s", kname, why);
    if (item) {
        int len = snprintf(opts, sizeof opts, "-DT_IN=%d -DT_CACHE=%d -DDEC_ITEM -DDEC_D=%d -DDEC_G=%d -DDEC_HPW=%d -DDEC_BT=16",
                           ocl_dtype_code(q->dtype), ocl_dtype_code(cache->desc.dtype), D, G, hpw);
        int ahead = ocl_param(ctx, "attention_decode", "prefetch", 0, NULL); /* tiles; 0 = none */
        if (ahead > 0 && ahead <= 8) snprintf(opts + len, sizeof opts - (size_t)len, " -DDEC_PREFETCH=%d", ahead);
    } else {
        snprintf(opts, sizeof opts, "-DT_IN=%d -DT_CACHE=%d -DDEC_DMAX=%d -DDEC_GMAX=%d -DDEC_BK=%d",
                 ocl_dtype_code(q->dtype), ocl_dtype_code(cache->desc.dtype), c.dmax, c.gmax, c.bk);
    }
    const int nsplit = plan->work.splits;
    if (plan->work.chunk % c.bk != 0) /* a tile parameter changed after the plan was made */
        return mk__fail(MK_ERR_INVALID_ARGUMENT, "plan: its split of %d keys is not a whole number of the "
                        "kernel's %d-key tiles (tuning parameters changed since it was made): make the plan again",
                        plan->work.chunk, c.bk);

    cl_kernel kd, km = NULL;
    mk_status s = ocl_kernel(ctx, "attention_decode.cl", kname, opts, &kd);
    if (s == MK_OK && nsplit > 1) s = ocl_kernel(ctx, "attention_decode.cl", "splitkv_merge", opts, &km);
    if (s != MK_OK) return s;

    /* Workspace: partial outputs [B][Hq][splits][D], then (m, l) [B][Hq][splits][2]. */
    cl_mem part = nsplit > 1 ? ocl_mem(plan->workspace) : NULL;
    cl_ulong ml_off = (cl_ulong)B * Hq * nsplit * D;

    cl_mem mq = ocl_mem(q->buf), mkc = ocl_mem(cache->k), mvc = ocl_mem(cache->v);
    cl_mem mks = cache->k_scale ? ocl_mem(cache->k_scale) : NULL;
    cl_mem mvs = cache->v_scale ? ocl_mem(cache->v_scale) : NULL;
    cl_mem mbt = ocl_mem(bt->buf), mcl = ocl_mem(cl->buf), mo = ocl_mem(out->buf);
    cl_ulong oq = ocl_elem_offset(q), obt = ocl_elem_offset(bt), ocl_ = ocl_elem_offset(cl);
    cl_ulong oo = ocl_elem_offset(out);
    cl_long qs0 = q->stride[0], qs1 = q->stride[1];
    cl_int cmb = max_blocks, cHq = Hq, cHkv = Hkv, cD = D, cbs = bs, window = mk__window_left(p);
    cl_int nblocks = (cl_int)cache->desc.num_blocks, splits = nsplit, chunk = plan->work.chunk;
    cl_int cG = G, cHG = c.hg;
    cl_float scale = p->scale != 0.0f ? p->scale : 1.0f / sqrtf((float)D), softcap = p->softcap;
    ocl_arg args[] = {OCL_ARG(mq),    OCL_ARG(oq),     OCL_ARG(qs0),   OCL_ARG(qs1),   OCL_ARG(mkc),
                      OCL_ARG(mvc),   OCL_ARG(mks),    OCL_ARG(mvs),   OCL_ARG(mbt),   OCL_ARG(obt),
                      OCL_ARG(cmb),   OCL_ARG(mcl),    OCL_ARG(ocl_),  OCL_ARG(mo),    OCL_ARG(oo),
                      OCL_ARG(part),  OCL_ARG(ml_off), OCL_ARG(cHq),   OCL_ARG(cHkv),  OCL_ARG(cD),
                      OCL_ARG(cbs),   OCL_ARG(nblocks), OCL_ARG(scale), OCL_ARG(window), OCL_ARG(softcap),
                      OCL_ARG(splits), OCL_ARG(chunk), OCL_ARG(cG),    OCL_ARG(cHG)};
    size_t global[3] = {hpw ? (size_t)(Hkv / hpw) : (size_t)c.dmax * Hkv * c.hg, (size_t)B, (size_t)nsplit};
    size_t local[3] = {hpw ? 1 : (size_t)c.dmax, 1, 1};
    s = ocl_launch(ctx, kd, kname, (int)(sizeof args / sizeof args[0]), args, 3, global, local);
    if (s != MK_OK || nsplit == 1) return s;

    ocl_arg margs[] = {OCL_ARG(part), OCL_ARG(ml_off), OCL_ARG(mo), OCL_ARG(oo), OCL_ARG(cD),
                       OCL_ARG(splits)};
    size_t mnt = hpw ? 1 : c.dmax < 64 ? (size_t)c.dmax : 64;
    size_t mglobal[1] = {mnt * (size_t)B * Hq}, mlocal[1] = {mnt};
    return ocl_launch(ctx, km, "splitkv_merge", 6, margs, 1, mglobal, mlocal);
}

static mk_status run_group(mk_context *ctx, const mk_op_args *a) { return dec_run(ctx, a, 0); }
static mk_status run_item(mk_context *ctx, const mk_op_args *a) { return dec_run(ctx, a, 1); }

/* ------------------------------------------------------------------ registry */

static const mk_kernel k_flash_prefill = {
    MK_OP_ATTENTION_PREFILL, "opencl.flash_prefill", "opencl", 10,
    "tiled flash attention, online softmax in f32, K/V tiles in local memory (OpenCL C 1.2)",
    prefill_supports, prefill_run, prefill_plan};

static const mk_kernel k_splitkv_decode = {
    MK_OP_ATTENTION_DECODE, "opencl.splitkv_decode", "opencl", 10,
    "split-KV flash decoding over the paged cache: a work-group per (kv head, split), K/V tiles in "
    "local memory shared by the query heads of a KV group",
    supports_group, run_group, plan_group};

static const mk_kernel k_splitkv_decode_item = {
    MK_OP_ATTENTION_DECODE, "opencl.splitkv_decode_item", "opencl", 5,
    "split-KV flash decoding for CPU drivers: a work-item per (kv heads, split), 16-wide vectors, "
    "query heads in private memory, no local memory",
    supports_item, run_item, plan_item};

static const mk_kernel *const ocl_attention_list[] = {&k_flash_prefill, &k_splitkv_decode, &k_splitkv_decode_item};

const mk_kernel *const *ocl_attention_kernels(int *count) {
    *count = (int)(sizeof ocl_attention_list / sizeof ocl_attention_list[0]);
    return ocl_attention_list;
}
