/*
 * Plans: the host's one look at the index arrays of a batch (FlashInfer's plan/run).
 *
 * A plan holds validated host copies of the index arrays, the same values in device
 * memory it owns (one buffer, uploaded once), the facts the variants partition work by
 * (longest sequence, most keys a decode query sees) and, for decode, the partition and
 * workspace of the variant the dispatcher picks for the plan's shape. A run call then
 * validates descriptors only and launches: nothing is read back, nothing waits.
 *
 * A one-shot call (mk_attention_decode, mk_rope, ...) makes the same plan on the stack:
 * its index tensors are read back into the context's host scratch (the only readback of
 * the op layer) and stay the plan's device copies; its workspace is the context's
 * one-shot workspace, grown as needed.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define TRY(x)                          \
    do {                                \
        mk_status s_ = (x);             \
        if (s_ != MK_OK) return s_;     \
    } while (0)

/* ---- plan facts from validated host arrays */

static void prefill_facts(mk_plan *p, const int32_t *cq, const int32_t *ck, int64_t B) {
    p->n = B;
    p->total_q = cq[B], p->total_k = ck[B];
    p->max_q = p->max_k = 0;
    for (int64_t b = 0; b < B; b++) {
        if (cq[b + 1] - cq[b] > p->max_q) p->max_q = cq[b + 1] - cq[b];
        if (ck[b + 1] - ck[b] > p->max_k) p->max_k = ck[b + 1] - ck[b];
    }
}

static void decode_facts(mk_plan *p, const int32_t *lens, int64_t B) {
    p->n = B;
    p->max_k = 0;
    for (int64_t b = 0; b < B; b++)
        if (lens[b] > p->max_k) p->max_k = lens[b];
    if (p->params.window > 0 && p->max_k > p->params.window) p->max_k = p->params.window;
}

/* Host checks of op's index arrays (host[0], host[1]) against the plan's facts. */
static mk_status check_indices(mk_plan *p, int64_t n0, int32_t *sorted) {
    switch (p->op) {
    case MK_OP_ATTENTION_PREFILL:
        TRY(mk__check_cu_seqlens(p->host[0], p->n + 1, p->total_q, "cu_seqlens_q", "q"));
        return mk__check_cu_seqlens(p->host[1], p->n + 1, p->total_k, "cu_seqlens_k", "k");
    case MK_OP_ATTENTION_DECODE:
        return mk__check_decode_indices(p->host[0], p->host[1], p->n, p->max_blocks, &p->cache);
    case MK_OP_ROPE: return mk__check_positions(p->host[0], n0);
    case MK_OP_KV_APPEND: return mk__check_slots(p->host[0], n0, &p->cache, sorted);
    case MK_OP_KV_COPY_BLOCKS: return mk__check_pairs(p->host[0], n0, &p->cache, sorted);
    default: return mk__fail(MK_ERR_INTERNAL, "op %s takes no plan", mk_op_name(p->op));
    }
}

/* ---- the plan of a one-shot call */

static mk_status read_back(const mk_tensor *t, int32_t *dst) {
    return mk_buffer_read(t->buf, t->offset, dst, mk__tensor_numel(t) * sizeof(int32_t));
}

mk_status mk__plan_oneshot(mk_context *ctx, const mk_op_args *a, mk_plan *p) {
    memset(p, 0, sizeof *p);
    p->ctx = ctx;
    p->op = a->op;
    const mk_tensor *t[2] = {NULL, NULL};
    switch (a->op) {
    case MK_OP_ATTENTION_PREFILL:
        t[0] = a->u.prefill.cu_seqlens_q, t[1] = a->u.prefill.cu_seqlens_k;
        p->params = a->u.prefill.params;
        p->num_q_heads = (int)a->u.prefill.q->shape[1], p->num_kv_heads = (int)a->u.prefill.k->shape[1];
        p->head_dim = (int)a->u.prefill.q->shape[2];
        p->q_dtype = a->u.prefill.q->dtype;
        break;
    case MK_OP_ATTENTION_DECODE:
        t[0] = a->u.decode.block_table, t[1] = a->u.decode.context_lens;
        p->params = a->u.decode.params;
        p->cache = a->u.decode.cache->desc;
        p->max_blocks = t[0]->shape[1];
        p->num_q_heads = (int)a->u.decode.q->shape[1];
        p->q_dtype = a->u.decode.q->dtype;
        break;
    case MK_OP_ROPE: t[0] = a->u.rope.positions; break;
    case MK_OP_KV_APPEND:
        t[0] = a->u.kv_append.slot_mapping;
        p->cache = a->u.kv_append.cache->desc;
        break;
    case MK_OP_KV_COPY_BLOCKS:
        t[0] = a->u.kv_copy.pairs;
        p->cache = a->u.kv_copy.cache->desc;
        break;
    default: return mk__fail(MK_ERR_INTERNAL, "op %s takes no plan", mk_op_name(a->op));
    }
    const size_t n0 = mk__tensor_numel(t[0]), n1 = t[1] ? mk__tensor_numel(t[1]) : 0;
    /* [index 0][index 1][n0 sorted entries for the uniqueness checks] */
    int32_t *h = mk__scratch(ctx, (2 * n0 + n1 + 1) * sizeof(int32_t));
    if (!h) return mk__fail(MK_ERR_OUT_OF_MEMORY, "out of host memory reading index arrays");
    TRY(read_back(t[0], h));
    if (t[1]) TRY(read_back(t[1], h + n0));
    p->host[0] = h, p->host[1] = t[1] ? h + n0 : NULL;
    p->index[0] = *t[0];
    if (t[1]) p->index[1] = *t[1];
    switch (a->op) {
    case MK_OP_ATTENTION_PREFILL:
        /* the totals are the tensors' lengths; the checks below name them */
        p->n = (int64_t)n0 - 1;
        p->total_q = a->u.prefill.q->shape[0], p->total_k = a->u.prefill.k->shape[0];
        TRY(check_indices(p, (int64_t)n0, NULL));
        prefill_facts(p, p->host[0], p->host[1], p->n);
        return MK_OK;
    case MK_OP_ATTENTION_DECODE:
        p->n = (int64_t)n1;
        TRY(check_indices(p, (int64_t)n0, NULL));
        decode_facts(p, p->host[1], p->n);
        return MK_OK;
    case MK_OP_KV_COPY_BLOCKS: p->n = (int64_t)n0 / 2; break;
    default: p->n = (int64_t)n0; break;
    }
    return check_indices(p, p->n, h + n0 + n1);
}

/* ---- plans made by the caller */

static mk_status plan_alloc(mk_context *ctx, mk_op op, mk_plan **out, mk_plan **p_out) {
    if (!out) return mk__fail(MK_ERR_INVALID_ARGUMENT, "out is NULL");
    *out = NULL;
    if (!ctx) return mk__fail(MK_ERR_INVALID_ARGUMENT, "ctx is NULL");
    mk_status s = mk__alive(ctx);
    if (s != MK_OK) return s;
    mk_plan *p = mk__calloc(1, sizeof *p);
    if (!p) return mk__fail(MK_ERR_OUT_OF_MEMORY, "out of host memory for the plan");
    p->ctx = ctx;
    p->op = op;
    *p_out = p;
    return MK_OK;
}

/* Copies n0 (+ n1) host values into the plan (host and device), index tensors 1-D of
   those lengths (decode's block table 2-D), and validates the host copy. */
static mk_status plan_indices(mk_plan *p, const int32_t *h0, int64_t n0, const int32_t *h1, int64_t n1) {
    const size_t count = (size_t)(n0 + n1);
    int32_t *h = mk__malloc((count + (size_t)n0 + 1) * sizeof(int32_t)); /* + sorted scratch */
    if (!h) return mk__fail(MK_ERR_OUT_OF_MEMORY, "out of host memory for the plan's index arrays");
    p->host_copy = h;
    memcpy(h, h0, (size_t)n0 * sizeof(int32_t));
    if (h1) memcpy(h + n0, h1, (size_t)n1 * sizeof(int32_t));
    p->host[0] = h, p->host[1] = h1 ? h + n0 : NULL;
    int64_t items = p->op == MK_OP_KV_COPY_BLOCKS ? n0 / 2 : n0;
    TRY(check_indices(p, items, h + count));
    TRY(mk_buffer_alloc(p->ctx, count * sizeof(int32_t), &p->device_copy));
    TRY(mk_buffer_write(p->device_copy, 0, h, count * sizeof(int32_t)));
    int64_t shape0[2] = {n0, 0};
    if (p->op == MK_OP_ATTENTION_DECODE) p->index[0] = mk_tensor_make(p->device_copy, 0, MK_I32, 2,
                                                                        (int64_t[]){p->n, p->max_blocks});
    else if (p->op == MK_OP_KV_COPY_BLOCKS) p->index[0] = mk_tensor_make(p->device_copy, 0, MK_I32, 2,
                                                                           (int64_t[]){n0 / 2, 2});
    else p->index[0] = mk_tensor_make(p->device_copy, 0, MK_I32, 1, shape0);
    if (h1) p->index[1] = mk_tensor_make(p->device_copy, (size_t)n0 * sizeof(int32_t), MK_I32, 1, &n1);
    return MK_OK;
}

/* Creation fails as a whole: nothing of a failed plan survives. */
static mk_status plan_done(mk_plan *p, mk_status s, mk_plan **out) {
    if (s == MK_OK) {
        *out = p;
        return MK_OK;
    }
    mk_plan_destroy(p);
    return s;
}

void mk_plan_destroy(mk_plan *p) {
    if (!p) return;
    mk_buffer_free(p->workspace);
    mk_buffer_free(p->device_copy);
    mk__free(p->host_copy);
    mk__free(p);
}

size_t mk_plan_device_bytes(const mk_plan *p) {
    if (!p) return 0;
    return (p->device_copy ? mk_buffer_size(p->device_copy) : 0) + (p->workspace ? mk_buffer_size(p->workspace) : 0);
}

static mk_status check_cache_arg(const mk_context *ctx, const mk_kv_cache *c) {
    if (!c) return mk__fail(MK_ERR_INVALID_ARGUMENT, "cache is NULL");
    if (c->ctx != ctx) return mk__fail(MK_ERR_INVALID_ARGUMENT, "cache belongs to another context");
    return MK_OK;
}

#define ARG(cond, ...) \
    if (cond) return mk__fail(MK_ERR_INVALID_ARGUMENT, __VA_ARGS__)

/* The variant the dispatcher picks for a (shape-only) call a over plan p, and its work
   partition and workspace. */
static mk_status plan_variant(mk_context *ctx, mk_op_args *a, mk_plan *p) {
    mk__args_use_plan(a, p);
    char why[1024];
    const mk_kernel *k = mk__choose(ctx, a, why, sizeof why);
    if (!k) return mk__fail(MK_ERR_UNSUPPORTED, "%s", why);
    return mk__plan_work(ctx, k, a, p, 1);
}

static mk_status prefill_plan(mk_context *ctx, const mk_prefill_plan_desc *d, mk_plan *p) {
    ARG(!d, "desc is NULL");
    ARG(d->batch < 1 || d->batch > INT32_MAX - 1, "desc->batch is %lld (must be in [1, 2^31 - 2])", (long long)d->batch);
    ARG(!d->cu_seqlens_q, "desc->cu_seqlens_q is NULL");
    ARG(!d->cu_seqlens_k, "desc->cu_seqlens_k is NULL");
    ARG(d->dtype != MK_F32 && d->dtype != MK_F16 && d->dtype != MK_BF16,
        "desc->dtype is %d (must be MK_F32, MK_F16 or MK_BF16)", (int)d->dtype);
    ARG(d->head_dim < 1 || d->head_dim > 256, "desc->head_dim is %d (must be in 1..256)", d->head_dim);
    ARG(d->num_kv_heads < 1, "desc->num_kv_heads is %d (must be >= 1)", d->num_kv_heads);
    ARG(d->num_q_heads < 1 || d->num_q_heads % d->num_kv_heads,
        "desc->num_q_heads is %d (must be a positive multiple of desc->num_kv_heads, %d)", d->num_q_heads,
        d->num_kv_heads);
    TRY(mk__check_attn_params(&d->params));
    p->params = d->params;
    p->n = d->batch;
    p->num_q_heads = d->num_q_heads, p->num_kv_heads = d->num_kv_heads, p->head_dim = d->head_dim;
    p->q_dtype = d->dtype;
    p->total_q = p->total_k = -1; /* derived: the last entries */
    TRY(plan_indices(p, d->cu_seqlens_q, d->batch + 1, d->cu_seqlens_k, d->batch + 1));
    prefill_facts(p, p->host[0], p->host[1], p->n);
    /* The variant for the plan's shape, and its tiles: q, k descriptors of that shape (no
       buffer: supports() and plan hooks read shapes only). */
    const int64_t qshape[3] = {p->total_q, p->num_q_heads, p->head_dim};
    const int64_t kshape[3] = {p->total_k, p->num_kv_heads, p->head_dim};
    mk_tensor q = mk_tensor_make(NULL, 0, p->q_dtype, 3, qshape), k = mk_tensor_make(NULL, 0, p->q_dtype, 3, kshape);
    mk_op_args a = {.op = MK_OP_ATTENTION_PREFILL};
    a.u.prefill.q = &q, a.u.prefill.out = &q, a.u.prefill.k = &k, a.u.prefill.v = &k;
    return plan_variant(ctx, &a, p);
}

mk_status mk_prefill_plan_create(mk_context *ctx, const mk_prefill_plan_desc *desc, mk_plan **out) {
    mk_plan *p;
    TRY(plan_alloc(ctx, MK_OP_ATTENTION_PREFILL, out, &p));
    return plan_done(p, prefill_plan(ctx, desc, p), out);
}

static mk_status decode_plan(mk_context *ctx, const mk_decode_plan_desc *d, mk_plan *p) {
    ARG(!d, "desc is NULL");
    TRY(check_cache_arg(ctx, d->cache));
    ARG(d->batch < 1 || d->batch > INT32_MAX, "desc->batch is %lld (must be in [1, 2^31 - 1])", (long long)d->batch);
    ARG(d->max_blocks < 1 || d->max_blocks > INT32_MAX, "desc->max_blocks is %lld (must be in [1, 2^31 - 1])",
        (long long)d->max_blocks);
    ARG(d->batch > (int64_t)(SIZE_MAX / 8) / d->max_blocks, "desc->batch x desc->max_blocks is too large");
    ARG(!d->block_table, "desc->block_table is NULL");
    ARG(!d->context_lens, "desc->context_lens is NULL");
    ARG(d->q_dtype != MK_F32 && d->q_dtype != MK_F16 && d->q_dtype != MK_BF16,
        "desc->q_dtype is %d (must be MK_F32, MK_F16 or MK_BF16)", (int)d->q_dtype);
    ARG(d->num_q_heads < 1 || d->num_q_heads % d->cache->desc.num_kv_heads,
        "desc->num_q_heads is %d (must be a positive multiple of the cache's num_kv_heads, %d)", d->num_q_heads,
        d->cache->desc.num_kv_heads);
    TRY(mk__check_attn_params(&d->params));
    p->params = d->params;
    p->n = d->batch;
    p->max_blocks = d->max_blocks;
    p->num_q_heads = d->num_q_heads;
    p->q_dtype = d->q_dtype;
    p->cache = d->cache->desc;
    TRY(plan_indices(p, d->block_table, d->batch * d->max_blocks, d->context_lens, d->batch));
    decode_facts(p, p->host[1], p->n);
    /* The variant for the plan's shape, and its partition: a q descriptor of that shape
       (no buffer: supports() and plan hooks read shapes only). */
    const int64_t qshape[3] = {p->n, p->num_q_heads, p->cache.head_dim};
    mk_tensor q = mk_tensor_make(NULL, 0, p->q_dtype, 3, qshape);
    mk_op_args a = {.op = MK_OP_ATTENTION_DECODE};
    a.u.decode.q = &q, a.u.decode.out = &q, a.u.decode.cache = d->cache;
    return plan_variant(ctx, &a, p);
}

mk_status mk_decode_plan_create(mk_context *ctx, const mk_decode_plan_desc *desc, mk_plan **out) {
    mk_plan *p;
    TRY(plan_alloc(ctx, MK_OP_ATTENTION_DECODE, out, &p));
    return plan_done(p, decode_plan(ctx, desc, p), out);
}

static mk_status list_plan(mk_context *ctx, mk_plan *p, const mk_kv_cache *cache, const int32_t *v, int64_t n,
                           const char *vname, int64_t per_item) {
    if (p->op != MK_OP_ROPE) {
        TRY(check_cache_arg(ctx, cache));
        p->cache = cache->desc;
    }
    ARG(!v, "%s is NULL", vname);
    ARG(n < 1 || n > INT32_MAX / per_item, "n is %lld (must be in [1, 2^31 / %lld))", (long long)n, (long long)per_item);
    p->n = n;
    return plan_indices(p, v, n * per_item, NULL, 0);
}

mk_status mk_rope_plan_create(mk_context *ctx, const int32_t *positions, int64_t n, mk_plan **out) {
    mk_plan *p;
    TRY(plan_alloc(ctx, MK_OP_ROPE, out, &p));
    return plan_done(p, list_plan(ctx, p, NULL, positions, n, "positions", 1), out);
}

mk_status mk_kv_append_plan_create(mk_context *ctx, const mk_kv_cache *cache, const int32_t *slot_mapping,
                                   int64_t n, mk_plan **out) {
    mk_plan *p;
    TRY(plan_alloc(ctx, MK_OP_KV_APPEND, out, &p));
    return plan_done(p, list_plan(ctx, p, cache, slot_mapping, n, "slot_mapping", 1), out);
}

mk_status mk_kv_copy_plan_create(mk_context *ctx, const mk_kv_cache *cache, const int32_t *pairs, int64_t n,
                                 mk_plan **out) {
    mk_plan *p;
    TRY(plan_alloc(ctx, MK_OP_KV_COPY_BLOCKS, out, &p));
    return plan_done(p, list_plan(ctx, p, cache, pairs, n, "pairs", 2), out);
}

/* ---- plans and args */

const mk_plan *mk__args_plan(const mk_op_args *a) {
    switch (a->op) {
    case MK_OP_ATTENTION_PREFILL: return a->u.prefill.plan;
    case MK_OP_ATTENTION_DECODE: return a->u.decode.plan;
    case MK_OP_ROPE: return a->u.rope.plan;
    case MK_OP_KV_APPEND: return a->u.kv_append.plan;
    case MK_OP_KV_COPY_BLOCKS: return a->u.kv_copy.plan;
    default: return NULL;
    }
}

void mk__args_use_plan(mk_op_args *a, const mk_plan *p) {
    switch (a->op) {
    case MK_OP_ATTENTION_PREFILL:
        a->u.prefill.plan = p;
        a->u.prefill.cu_seqlens_q = &p->index[0], a->u.prefill.cu_seqlens_k = &p->index[1];
        a->u.prefill.params = p->params;
        break;
    case MK_OP_ATTENTION_DECODE:
        a->u.decode.plan = p;
        a->u.decode.block_table = &p->index[0], a->u.decode.context_lens = &p->index[1];
        a->u.decode.params = p->params;
        break;
    case MK_OP_ROPE:
        a->u.rope.plan = p;
        a->u.rope.positions = &p->index[0];
        break;
    case MK_OP_KV_APPEND:
        a->u.kv_append.plan = p;
        a->u.kv_append.slot_mapping = &p->index[0];
        break;
    case MK_OP_KV_COPY_BLOCKS:
        a->u.kv_copy.plan = p;
        a->u.kv_copy.pairs = &p->index[0];
        break;
    default: break;
    }
}

/* ---- the prefill tile map: every (sequence, first row) tile of tile_rows query rows,
   the tiles that see the most keys first (so the longest blocks start first and the
   short ones fill in behind them), ties in sequence order */

typedef struct {
    int64_t work;
    int32_t b, q0;
} tile;

static int cmp_tile(const void *x, const void *y) {
    const tile *a = x, *b = y;
    if (a->work != b->work) return a->work > b->work ? -1 : 1;
    if (a->b != b->b) return a->b < b->b ? -1 : 1;
    return (a->q0 > b->q0) - (a->q0 < b->q0);
}

/* Keys the rows [q0, q0 + r) of a sequence with sq queries over sk keys see together. */
static int64_t tile_keys(const mk_attn_params *pa, int64_t q0, int64_t r, int64_t sq, int64_t sk) {
    const int64_t shift = sk - sq;
    int64_t hi = pa->causal ? q0 + r - 1 + shift + 1 : sk, lo = pa->window > 0 ? q0 + shift - pa->window + 1 : 0;
    if (hi > sk) hi = sk;
    if (lo < 0) lo = 0;
    return hi > lo ? hi - lo : 0;
}

/* The map of p's tiles into a new host array [num_tiles][2]; NULL when out of memory. */
static int32_t *tile_map(mk_plan *p) {
    const int64_t R = p->work.tile_rows;
    int64_t n = 0;
    for (int64_t b = 0; b < p->n; b++) n += (p->host[0][b + 1] - p->host[0][b] + R - 1) / R;
    tile *t = mk__malloc((size_t)(n ? n : 1) * sizeof *t);
    int32_t *map = mk__malloc((size_t)(n ? n : 1) * 2 * sizeof *map);
    if (!t || !map) {
        mk__free(t), mk__free(map);
        return NULL;
    }
    int64_t i = 0;
    for (int64_t b = 0; b < p->n; b++) {
        const int64_t sq = p->host[0][b + 1] - p->host[0][b], sk = p->host[1][b + 1] - p->host[1][b];
        for (int64_t q0 = 0; q0 < sq; q0 += R) {
            const int64_t r = sq - q0 < R ? sq - q0 : R;
            t[i++] = (tile){r * tile_keys(&p->params, q0, r, sq, sk), (int32_t)b, (int32_t)q0};
        }
    }
    qsort(t, (size_t)n, sizeof *t, cmp_tile);
    for (i = 0; i < n; i++) map[2 * i] = t[i].b, map[2 * i + 1] = t[i].q0;
    mk__free(t);
    p->work.num_tiles = n;
    p->work.workspace_bytes = (size_t)(n ? n : 1) * 2 * sizeof *map;
    return map;
}

mk_status mk__plan_work(mk_context *ctx, const mk_kernel *k, const mk_op_args *a, mk_plan *p, int own) {
    p->variant = k;
    memset(&p->work, 0, sizeof p->work);
    p->work.splits = 1;
    if (!k->plan) return MK_OK;
    TRY(k->plan(ctx, a, &p->work));
    int32_t *map = NULL;
    if (p->op == MK_OP_ATTENTION_PREFILL && p->work.tile_rows > 0 &&
        !(map = tile_map(p)))
        return mk__fail(MK_ERR_OUT_OF_MEMORY, "out of host memory for the prefill tile map");
    const size_t bytes = p->work.workspace_bytes;
    mk_status s = MK_OK;
    if (bytes == 0) {
    } else if (own) {
        s = mk_buffer_alloc(ctx, bytes, &p->workspace);
    } else {
        if (!ctx->core->oneshot_workspace || mk_buffer_size(ctx->core->oneshot_workspace) < bytes) {
            mk_buffer_free(ctx->core->oneshot_workspace);
            ctx->core->oneshot_workspace = NULL;
            s = mk_buffer_alloc(ctx, bytes, &ctx->core->oneshot_workspace);
        }
        p->workspace = ctx->core->oneshot_workspace;
    }
    if (s == MK_OK && map) s = mk_buffer_write(p->workspace, 0, map, bytes);
    mk__free(map);
    return s;
}
