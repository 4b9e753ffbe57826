/*
 * The validation layer: every public op's arguments are checked here, once, before the
 * dispatcher or any backend sees them. A failing check returns MK_ERR_INVALID_ARGUMENT
 * with a message that names the argument (as the public header names it), and nothing
 * has been written.
 *
 * What is checked: NULLs, contexts, dtypes, ranks, shapes (>= 1 and consistent),
 * strides (the layouts each op accepts), extents within their buffers (with overflow
 * checks), output aliasing, parameters, a run's arguments against its plan, and the
 * values of index arrays (host copies: a plan's, or a one-shot call's read back by
 * plan.c), so kernels index a pool only through validated values (they still clamp,
 * mk_plan).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef enum {
    LAYOUT_INNER,      /* last dim stride 1, other strides free      */
    LAYOUT_ROWS,       /* all dims but the last dense; row stride free */
    LAYOUT_CONTIGUOUS  /* row-major dense                             */
} mk_layout;

#define FAIL(...) return mk__fail(MK_ERR_INVALID_ARGUMENT, __VA_ARGS__)
#define TRY(x)                          \
    do {                                \
        mk_status s_ = (x);             \
        if (s_ != MK_OK) return s_;     \
    } while (0)

size_t mk__tensor_numel(const mk_tensor *t) {
    size_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= (size_t)t->shape[i];
    return n;
}

int mk__tensor_is_contiguous(const mk_tensor *t) {
    int64_t expect = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] != 1 && t->stride[i] != expect) return 0;
        expect *= t->shape[i];
    }
    return 1;
}

int mk__tensor_rows(const mk_tensor *t, int64_t *rows, int64_t *row_stride) {
    int last = t->ndim - 1;
    if (t->shape[last] != 1 && t->stride[last] != 1) return 0;
    int64_t r = 1, rs = t->shape[last], expect = -1;
    for (int i = last - 1; i >= 0; i--) {
        if (t->shape[i] == 1) continue;
        if (expect < 0) rs = t->stride[i]; /* the innermost row dim: its stride is free */
        else if (t->stride[i] != expect) return 0;
        expect = t->stride[i] * t->shape[i];
        r *= t->shape[i];
    }
    *rows = r;
    *row_stride = rs;
    return 1;
}

/* Byte extent [t->offset, t->offset + *bytes) of a checked tensor. */
static int tensor_extent(const mk_tensor *t, size_t *bytes) {
    int64_t last = 0;
    for (int i = 0; i < t->ndim; i++) {
        int64_t span;
        if (__builtin_mul_overflow(t->shape[i] - 1, t->stride[i], &span)) return 0;
        if (__builtin_add_overflow(last, span, &last)) return 0;
    }
    int64_t total;
    if (__builtin_add_overflow(last, (int64_t)1, &total)) return 0;
    if (__builtin_mul_overflow(total, (int64_t)mk_dtype_size(t->dtype), &total)) return 0;
    if ((uint64_t)total > SIZE_MAX) return 0;
    *bytes = (size_t)total;
    return 1;
}

static mk_status check_tensor(const mk_context *ctx, const mk_tensor *t, const char *name,
                              int ndim, mk_layout layout) {
    if (!t) FAIL("%s is NULL", name);
    if (!t->buf) FAIL("%s.buf is NULL", name);
    if (t->buf->ctx != ctx) FAIL("%s.buf belongs to another context", name);
    if ((unsigned)t->dtype >= MK_DTYPE_COUNT) FAIL("%s.dtype (%d) is not a valid mk_dtype", name, (int)t->dtype);
    if (t->ndim < 1 || t->ndim > MK_MAX_DIMS) FAIL("%s.ndim is %d (must be 1..4)", name, t->ndim);
    if (ndim > 0 && t->ndim != ndim) FAIL("%s must have %d dims (has %d)", name, ndim, t->ndim);
    for (int i = 0; i < t->ndim; i++) {
        if (t->shape[i] < 1)
            FAIL("%s.shape[%d] is %lld (must be >= 1)", name, i, (long long)t->shape[i]);
        if (t->stride[i] < 0)
            FAIL("%s.stride[%d] is %lld (must be >= 0)", name, i, (long long)t->stride[i]);
    }
    size_t es = mk_dtype_size(t->dtype), bytes;
    if (t->offset % es) FAIL("%s.offset (%zu) is not a multiple of the element size %zu", name, t->offset, es);
    if (!tensor_extent(t, &bytes)) FAIL("%s: the byte size of its shape overflows", name);
    /* stride-0 dims pass the extent check at any size: bound the element count too, so
       that row and element counts (mk__tensor_rows, mk__tensor_numel) fit */
    int64_t numel = 1;
    for (int i = 0; i < t->ndim; i++)
        if (__builtin_mul_overflow(numel, t->shape[i], &numel))
            FAIL("%s: the element count of its shape overflows", name);
    if (t->offset > t->buf->bytes || bytes > t->buf->bytes - t->offset)
        FAIL("%s extends past the end of its buffer (%zu bytes from offset %zu, buffer has %zu)",
             name, bytes, t->offset, t->buf->bytes);
    int64_t rows, rs;
    switch (layout) {
    case LAYOUT_INNER:
        if (t->stride[t->ndim - 1] != 1 && t->shape[t->ndim - 1] != 1)
            FAIL("%s: the last dim must have stride 1 (has %lld)", name, (long long)t->stride[t->ndim - 1]);
        break;
    case LAYOUT_ROWS:
        if (!mk__tensor_rows(t, &rows, &rs))
            FAIL("%s: all dims but the last must be dense, the last with stride 1", name);
        break;
    case LAYOUT_CONTIGUOUS:
        if (!mk__tensor_is_contiguous(t)) FAIL("%s must be contiguous (row-major, no gaps)", name);
        break;
    }
    return MK_OK;
}

static mk_status check_opt_tensor(const mk_context *ctx, const mk_tensor *t, const char *name,
                                  int ndim, mk_layout layout) {
    return t ? check_tensor(ctx, t, name, ndim, layout) : MK_OK;
}

static mk_status check_dtype(const mk_tensor *t, const char *name, unsigned allowed_mask) {
    if (!(allowed_mask & (1u << t->dtype))) {
        char list[96] = "";
        for (int d = 0; d < MK_DTYPE_COUNT; d++)
            if (allowed_mask & (1u << d)) {
                if (list[0]) strncat(list, "/", sizeof list - strlen(list) - 1);
                strncat(list, mk_dtype_name((mk_dtype)d), sizeof list - strlen(list) - 1);
            }
        FAIL("%s.dtype is %s (must be %s)", name, mk_dtype_name(t->dtype), list);
    }
    return MK_OK;
}
#define FLOATS ((1u << MK_F32) | (1u << MK_F16) | (1u << MK_BF16))
#define HALVES ((1u << MK_F16) | (1u << MK_BF16))
#define I32ONLY (1u << MK_I32)

static mk_status same_dtype(const mk_tensor *a, const char *an, const mk_tensor *b, const char *bn) {
    if (a->dtype != b->dtype)
        FAIL("%s.dtype (%s) differs from %s.dtype (%s)", bn, mk_dtype_name(b->dtype), an,
             mk_dtype_name(a->dtype));
    return MK_OK;
}

static mk_status same_shape(const mk_tensor *a, const char *an, const mk_tensor *b, const char *bn) {
    if (a->ndim != b->ndim) FAIL("%s has %d dims but %s has %d", bn, b->ndim, an, a->ndim);
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i])
            FAIL("%s.shape[%d] is %lld but %s.shape[%d] is %lld", bn, i, (long long)b->shape[i],
                 an, i, (long long)a->shape[i]);
    return MK_OK;
}

static mk_status dim_is(const mk_tensor *t, const char *name, int d, int64_t want, const char *what) {
    if (t->shape[d] != want)
        FAIL("%s.shape[%d] is %lld but must be %lld (%s)", name, d, (long long)t->shape[d],
             (long long)want, what);
    return MK_OK;
}

/* 1 when the byte ranges of a and b overlap in the same buffer. */
static int overlaps(const mk_tensor *a, const mk_tensor *b) {
    if (!a || !b || a->buf != b->buf) return 0;
    /* both were validated before, so their extents exist; if one did not, say they
       overlap (the caller then rejects the call rather than run on aliased memory) */
    size_t ea = 0, eb = 0;
    if (!tensor_extent(a, &ea) || !tensor_extent(b, &eb)) return 1;
    return a->offset < b->offset + eb && b->offset < a->offset + ea;
}

static int same_view(const mk_tensor *a, const mk_tensor *b) {
    if (a->buf != b->buf || a->offset != b->offset || a->dtype != b->dtype || a->ndim != b->ndim)
        return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i] || a->stride[i] != b->stride[i]) return 0;
    return 1;
}

static mk_status no_overlap(const mk_tensor *out, const char *on, const mk_tensor *in, const char *in_name) {
    if (overlaps(out, in)) FAIL("%s overlaps %s in memory (outputs must not alias inputs here)", on, in_name);
    return MK_OK;
}

/* Output that may be exactly the same view as the input, or disjoint from it. */
static mk_status alias_ok(const mk_tensor *out, const char *on, const mk_tensor *in, const char *in_name) {
    if (!in || !overlaps(out, in) || same_view(out, in)) return MK_OK;
    FAIL("%s partially overlaps %s (it may only be the very same view)", on, in_name);
}

/* 1 when no two elements of t share memory (a sufficient test: the dims of extent > 1,
   ordered by stride, each start past the end of the previous one). */
static int no_self_overlap(const mk_tensor *t) {
    int dims[MK_MAX_DIMS], n = 0;
    for (int i = 0; i < t->ndim; i++)
        if (t->shape[i] > 1) dims[n++] = i;
    for (int i = 1; i < n; i++) /* insertion sort by stride */
        for (int j = i; j > 0 && t->stride[dims[j]] < t->stride[dims[j - 1]]; j--) {
            int d = dims[j];
            dims[j] = dims[j - 1];
            dims[j - 1] = d;
        }
    int64_t end = 1; /* elements spanned by the dims so far */
    for (int i = 0; i < n; i++) {
        const int d = dims[i];
        if (t->stride[d] < end) return 0;
        end = t->stride[d] * (t->shape[d] - 1) + end; /* no overflow: the extent was checked */
    }
    return 1;
}

/* ---- index arrays (host copies) */

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

mk_status mk__check_cu_seqlens(const int32_t *cu, int64_t b1, int64_t total, const char *name,
                               const char *total_name) {
    if (cu[0] != 0) FAIL("%s[0] is %d (must be 0)", name, cu[0]);
    for (int64_t i = 1; i < b1; i++)
        if (cu[i] < cu[i - 1])
            FAIL("%s[%lld] = %d is less than %s[%lld] = %d (must be non-decreasing)", name,
                 (long long)i, cu[i], name, (long long)(i - 1), cu[i - 1]);
    if (total >= 0 && cu[b1 - 1] != total)
        FAIL("%s[%lld] is %d but %s has %lld tokens", name, (long long)(b1 - 1), cu[b1 - 1],
             total_name, (long long)total);
    return MK_OK;
}

/* ---- per-op checks */

mk_status mk__check_attn_params(const mk_attn_params *p) {
    if (!p) FAIL("params is NULL");
    if (!isfinite(p->scale) || p->scale < 0) FAIL("params->scale is %g (must be finite and >= 0)", p->scale);
    if (!isfinite(p->softcap) || p->softcap < 0) FAIL("params->softcap is %g (must be finite and >= 0)", p->softcap);
    if (p->window < 0) FAIL("params->window is %d (must be >= 0; 0 = no window)", p->window);
    return MK_OK;
}

static mk_status validate_prefill(mk_context *ctx, const mk_op_args *a) {
    const mk_tensor *q = a->u.prefill.q, *k = a->u.prefill.k, *v = a->u.prefill.v;
    const mk_tensor *cq = a->u.prefill.cu_seqlens_q, *ck = a->u.prefill.cu_seqlens_k;
    const mk_tensor *out = a->u.prefill.out, *lse = a->u.prefill.lse;
    TRY(check_tensor(ctx, q, "q", 3, LAYOUT_INNER));
    TRY(check_tensor(ctx, k, "k", 3, LAYOUT_INNER));
    TRY(check_tensor(ctx, v, "v", 3, LAYOUT_INNER));
    TRY(check_tensor(ctx, cq, "cu_seqlens_q", 1, LAYOUT_CONTIGUOUS));
    TRY(check_tensor(ctx, ck, "cu_seqlens_k", 1, LAYOUT_CONTIGUOUS));
    TRY(check_tensor(ctx, out, "out", 3, LAYOUT_CONTIGUOUS));
    TRY(check_opt_tensor(ctx, lse, "lse", 2, LAYOUT_CONTIGUOUS));
    TRY(mk__check_attn_params(&a->u.prefill.params));
    TRY(check_dtype(q, "q", FLOATS));
    TRY(same_dtype(q, "q", k, "k"));
    TRY(same_dtype(q, "q", v, "v"));
    TRY(same_dtype(q, "q", out, "out"));
    TRY(check_dtype(cq, "cu_seqlens_q", I32ONLY));
    TRY(check_dtype(ck, "cu_seqlens_k", I32ONLY));
    TRY(same_shape(k, "k", v, "v"));
    TRY(same_shape(q, "q", out, "out"));
    int64_t D = q->shape[2], Hq = q->shape[1], Hkv = k->shape[1];
    if (D > 256) FAIL("q.shape[2] (head dim) is %lld (must be <= 256)", (long long)D);
    TRY(dim_is(k, "k", 2, D, "the head dim of q"));
    if (Hq % Hkv) FAIL("q.shape[1] (Hq = %lld) is not a multiple of k.shape[1] (Hkv = %lld)", (long long)Hq, (long long)Hkv);
    TRY(dim_is(ck, "cu_seqlens_k", 0, cq->shape[0], "the length of cu_seqlens_q"));
    if (cq->shape[0] < 2) FAIL("cu_seqlens_q.shape[0] is %lld (must be B+1 >= 2)", (long long)cq->shape[0]);
    if (lse) {
        TRY(check_dtype(lse, "lse", 1u << MK_F32));
        TRY(dim_is(lse, "lse", 0, q->shape[0], "T"));
        TRY(dim_is(lse, "lse", 1, Hq, "Hq"));
        TRY(no_overlap(lse, "lse", out, "out"));
        TRY(no_overlap(lse, "lse", q, "q"));
        TRY(no_overlap(lse, "lse", k, "k"));
        TRY(no_overlap(lse, "lse", v, "v"));
        TRY(no_overlap(lse, "lse", cq, "cu_seqlens_q"));
        TRY(no_overlap(lse, "lse", ck, "cu_seqlens_k"));
    }
    TRY(no_overlap(out, "out", q, "q"));
    TRY(no_overlap(out, "out", k, "k"));
    TRY(no_overlap(out, "out", v, "v"));
    TRY(no_overlap(out, "out", cq, "cu_seqlens_q"));
    TRY(no_overlap(out, "out", ck, "cu_seqlens_k"));
    const mk_plan *plan = a->u.prefill.plan;
    if (plan) {
        if (q->shape[0] != plan->total_q)
            FAIL("q.shape[0] is %lld but the plan's cu_seqlens_q[B] is %lld", (long long)q->shape[0],
                 (long long)plan->total_q);
        if (k->shape[0] != plan->total_k)
            FAIL("k.shape[0] is %lld but the plan's cu_seqlens_k[B] is %lld", (long long)k->shape[0],
                 (long long)plan->total_k);
        if (q->shape[1] != plan->num_q_heads || q->shape[2] != plan->head_dim || k->shape[1] != plan->num_kv_heads)
            FAIL("q [.., %lld, %lld] and k [.., %lld, ..] are not the heads the plan was made for (%d query heads, "
                 "%d kv heads, head dim %d)", (long long)q->shape[1], (long long)q->shape[2], (long long)k->shape[1],
                 plan->num_q_heads, plan->num_kv_heads, plan->head_dim);
        if (q->dtype != plan->q_dtype)
            FAIL("q.dtype is %s but the plan is for %s", mk_dtype_name(q->dtype), mk_dtype_name(plan->q_dtype));
    }
    return MK_OK;
}

static mk_status check_cache(const mk_context *ctx, const mk_kv_cache *c, const char *name) {
    if (!c) FAIL("%s is NULL", name);
    if (c->ctx != ctx) FAIL("%s belongs to another context", name);
    return MK_OK;
}

/* A run's cache must have the pool shape its plan was made for. */
static mk_status check_plan_cache(const mk_plan *plan, const mk_kv_cache *c, const char *name) {
    const mk_kv_cache_desc *d = &c->desc, *p = &plan->cache;
    if (d->num_blocks != p->num_blocks || d->block_size != p->block_size || d->num_kv_heads != p->num_kv_heads ||
        d->head_dim != p->head_dim || d->dtype != p->dtype)
        FAIL("%s (%lld blocks of %d, %d kv heads, head dim %d, %s) is not the shape the plan was made for "
             "(%lld blocks of %d, %d kv heads, head dim %d, %s)", name, (long long)d->num_blocks, d->block_size,
             d->num_kv_heads, d->head_dim, mk_dtype_name(d->dtype), (long long)p->num_blocks, p->block_size,
             p->num_kv_heads, p->head_dim, mk_dtype_name(p->dtype));
    return MK_OK;
}

static mk_status validate_decode(mk_context *ctx, const mk_op_args *a) {
    const mk_tensor *q = a->u.decode.q, *bt = a->u.decode.block_table;
    const mk_tensor *cl = a->u.decode.context_lens, *out = a->u.decode.out;
    const mk_kv_cache *c = a->u.decode.cache;
    TRY(check_tensor(ctx, q, "q", 3, LAYOUT_INNER));
    TRY(check_cache(ctx, c, "cache"));
    TRY(check_tensor(ctx, bt, "block_table", 2, LAYOUT_CONTIGUOUS));
    TRY(check_tensor(ctx, cl, "context_lens", 1, LAYOUT_CONTIGUOUS));
    TRY(check_tensor(ctx, out, "out", 3, LAYOUT_CONTIGUOUS));
    TRY(mk__check_attn_params(&a->u.decode.params));
    TRY(check_dtype(q, "q", FLOATS));
    TRY(same_dtype(q, "q", out, "out"));
    TRY(check_dtype(bt, "block_table", I32ONLY));
    TRY(check_dtype(cl, "context_lens", I32ONLY));
    TRY(same_shape(q, "q", out, "out"));
    int64_t B = q->shape[0], Hq = q->shape[1];
    TRY(dim_is(q, "q", 2, c->desc.head_dim, "the cache's head_dim"));
    if (Hq % c->desc.num_kv_heads)
        FAIL("q.shape[1] (Hq = %lld) is not a multiple of the cache's num_kv_heads (%d)",
             (long long)Hq, c->desc.num_kv_heads);
    const mk_plan *plan = a->u.decode.plan;
    if (plan) {
        if (B != plan->n) FAIL("q.shape[0] is %lld but the plan is for a batch of %lld", (long long)B, (long long)plan->n);
        if (Hq != plan->num_q_heads)
            FAIL("q.shape[1] is %lld but the plan is for %d query heads", (long long)Hq, plan->num_q_heads);
        if (q->dtype != plan->q_dtype)
            FAIL("q.dtype is %s but the plan is for %s", mk_dtype_name(q->dtype), mk_dtype_name(plan->q_dtype));
        TRY(check_plan_cache(plan, c, "cache"));
    }
    TRY(dim_is(bt, "block_table", 0, B, "B = q.shape[0]"));
    TRY(dim_is(cl, "context_lens", 0, B, "B = q.shape[0]"));
    TRY(no_overlap(out, "out", q, "q"));
    TRY(no_overlap(out, "out", bt, "block_table"));
    TRY(no_overlap(out, "out", cl, "context_lens"));
    return MK_OK;
}

mk_status mk__check_decode_indices(const int32_t *block_table, const int32_t *context_lens, int64_t B,
                                   int64_t maxb, const mk_kv_cache_desc *cache) {
    const int64_t bs = cache->block_size;
    for (int64_t b = 0; b < B; b++) {
        int32_t len = context_lens[b];
        if (len < 0 || len > maxb * bs)
            FAIL("context_lens[%lld] is %d (must be in [0, %lld] = max_blocks * block_size)",
                 (long long)b, len, (long long)(maxb * bs));
        for (int64_t j = 0; j < (len + bs - 1) / bs; j++) {
            int32_t blk = block_table[b * maxb + j];
            if (blk < 0 || blk >= cache->num_blocks)
                FAIL("block_table[%lld][%lld] is %d (must be in [0, %lld) = num_blocks)",
                     (long long)b, (long long)j, blk, (long long)cache->num_blocks);
        }
    }
    return MK_OK;
}

static mk_status validate_kv_append(mk_context *ctx, const mk_op_args *a) {
    mk_kv_cache *c = a->u.kv_append.cache;
    const mk_tensor *k = a->u.kv_append.k, *v = a->u.kv_append.v, *sm = a->u.kv_append.slot_mapping;
    TRY(check_cache(ctx, c, "cache"));
    TRY(check_tensor(ctx, k, "k", 3, LAYOUT_INNER));
    TRY(check_tensor(ctx, v, "v", 3, LAYOUT_INNER));
    TRY(check_tensor(ctx, sm, "slot_mapping", 1, LAYOUT_CONTIGUOUS));
    TRY(check_dtype(k, "k", FLOATS));
    TRY(same_dtype(k, "k", v, "v"));
    TRY(check_dtype(sm, "slot_mapping", I32ONLY));
    TRY(same_shape(k, "k", v, "v"));
    TRY(dim_is(k, "k", 1, c->desc.num_kv_heads, "the cache's num_kv_heads"));
    TRY(dim_is(k, "k", 2, c->desc.head_dim, "the cache's head_dim"));
    const mk_plan *plan = a->u.kv_append.plan;
    if (plan) {
        if (k->shape[0] != plan->n)
            FAIL("k.shape[0] is %lld but the plan's slot_mapping has %lld entries", (long long)k->shape[0],
                 (long long)plan->n);
        TRY(check_plan_cache(plan, c, "cache"));
    }
    TRY(dim_is(sm, "slot_mapping", 0, k->shape[0], "T = k.shape[0]"));
    return MK_OK;
}

mk_status mk__check_slots(const int32_t *slots, int64_t count, const mk_kv_cache_desc *c, int32_t *sorted) {
    int64_t nslots = c->num_blocks * c->block_size, n = 0;
    for (int64_t t = 0; t < count; t++) {
        int32_t s = slots[t];
        if (s < -1 || s >= nslots)
            FAIL("slot_mapping[%lld] is %d (must be -1 or in [0, %lld) = num_blocks * block_size)",
                 (long long)t, s, (long long)nslots);
        if (s >= 0) sorted[n++] = s;
    }
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_i32);
    for (int64_t i = 1; i < n; i++)
        if (sorted[i] == sorted[i - 1]) FAIL("slot_mapping names slot %d more than once", sorted[i]);
    return MK_OK;
}

static mk_status validate_kv_copy(mk_context *ctx, const mk_op_args *a) {
    mk_kv_cache *c = a->u.kv_copy.cache;
    const mk_tensor *p = a->u.kv_copy.pairs;
    TRY(check_cache(ctx, c, "cache"));
    TRY(check_tensor(ctx, p, "pairs", 2, LAYOUT_CONTIGUOUS));
    TRY(check_dtype(p, "pairs", I32ONLY));
    TRY(dim_is(p, "pairs", 1, 2, "(src, dst)"));
    if (a->u.kv_copy.plan) TRY(check_plan_cache(a->u.kv_copy.plan, c, "cache"));
    return MK_OK;
}

mk_status mk__check_pairs(const int32_t *pairs, int64_t n, const mk_kv_cache_desc *c, int32_t *dst) {
    for (int64_t i = 0; i < n; i++) {
        for (int j = 0; j < 2; j++) {
            int32_t b = pairs[2 * i + j];
            if (b < 0 || b >= c->num_blocks)
                FAIL("pairs[%lld][%d] is %d (must be in [0, %lld) = num_blocks)", (long long)i, j,
                     b, (long long)c->num_blocks);
        }
        dst[i] = pairs[2 * i + 1];
    }
    qsort(dst, (size_t)n, sizeof *dst, cmp_i32);
    for (int64_t i = 1; i < n; i++)
        if (dst[i] == dst[i - 1]) FAIL("pairs names destination block %d more than once", dst[i]);
    for (int64_t i = 0; i < n; i++) {
        int32_t src = pairs[2 * i];
        if (bsearch(&src, dst, (size_t)n, sizeof *dst, cmp_i32))
            FAIL("pairs[%lld][0] = %d is also a destination block", (long long)i, src);
    }
    return MK_OK;
}

static mk_status validate_qgemm(mk_context *ctx, const mk_op_args *a) {
    const mk_tensor *x = a->u.qgemm.x, *bias = a->u.qgemm.bias, *y = a->u.qgemm.y;
    const mk_qweight *w = a->u.qgemm.w;
    TRY(check_tensor(ctx, x, "x", 2, LAYOUT_INNER));
    if (!w) FAIL("qw is NULL");
    if (w->ctx != ctx) FAIL("qw belongs to another context");
    TRY(check_tensor(ctx, y, "y", 2, LAYOUT_CONTIGUOUS));
    TRY(check_opt_tensor(ctx, bias, "bias", 1, LAYOUT_CONTIGUOUS));
    TRY(check_dtype(x, "x", HALVES));
    TRY(same_dtype(x, "x", y, "y"));
    TRY(dim_is(x, "x", 1, w->desc.k, "qw's k"));
    TRY(dim_is(y, "y", 0, x->shape[0], "M = x.shape[0]"));
    TRY(dim_is(y, "y", 1, w->desc.n, "qw's n"));
    if (bias) {
        TRY(same_dtype(x, "x", bias, "bias"));
        TRY(dim_is(bias, "bias", 0, w->desc.n, "qw's n"));
        TRY(no_overlap(y, "y", bias, "bias"));
    }
    TRY(no_overlap(y, "y", x, "x"));
    return MK_OK;
}

static mk_status validate_gemm(mk_context *ctx, const mk_op_args *a) {
    const mk_tensor *x = a->u.gemm.x, *w = a->u.gemm.w, *bias = a->u.gemm.bias, *y = a->u.gemm.y;
    TRY(check_tensor(ctx, x, "x", 2, LAYOUT_INNER));
    TRY(check_tensor(ctx, w, "w", 2, LAYOUT_INNER));
    TRY(check_tensor(ctx, y, "y", 2, LAYOUT_CONTIGUOUS));
    TRY(check_opt_tensor(ctx, bias, "bias", 1, LAYOUT_CONTIGUOUS));
    TRY(check_dtype(x, "x", FLOATS));
    TRY(same_dtype(x, "x", w, "w"));
    TRY(same_dtype(x, "x", y, "y"));
    TRY(dim_is(w, "w", 1, x->shape[1], "K = x.shape[1]"));
    TRY(dim_is(y, "y", 0, x->shape[0], "M = x.shape[0]"));
    TRY(dim_is(y, "y", 1, w->shape[0], "N = w.shape[0]"));
    if (bias) {
        TRY(same_dtype(x, "x", bias, "bias"));
        TRY(dim_is(bias, "bias", 0, w->shape[0], "N = w.shape[0]"));
        TRY(no_overlap(y, "y", bias, "bias"));
    }
    TRY(no_overlap(y, "y", x, "x"));
    TRY(no_overlap(y, "y", w, "w"));
    return MK_OK;
}

static mk_status validate_norm(mk_context *ctx, const mk_op_args *a, int layer) {
    const mk_tensor *x = a->u.norm.x, *w = a->u.norm.w, *b = a->u.norm.b, *y = a->u.norm.y;
    TRY(check_tensor(ctx, x, "x", 0, LAYOUT_ROWS));
    TRY(check_tensor(ctx, w, "w", 1, LAYOUT_CONTIGUOUS));
    TRY(check_tensor(ctx, y, "y", 0, LAYOUT_CONTIGUOUS));
    if (layer) TRY(check_opt_tensor(ctx, b, "b", 1, LAYOUT_CONTIGUOUS));
    TRY(check_dtype(x, "x", FLOATS));
    TRY(same_dtype(x, "x", y, "y"));
    TRY(same_dtype(x, "x", w, "w"));
    TRY(same_shape(x, "x", y, "y"));
    int64_t n = x->shape[x->ndim - 1];
    TRY(dim_is(w, "w", 0, n, "the last dim of x"));
    if (layer && b) {
        TRY(same_dtype(x, "x", b, "b"));
        TRY(dim_is(b, "b", 0, n, "the last dim of x"));
        TRY(no_overlap(y, "y", b, "b"));
    }
    if (!isfinite(a->u.norm.eps) || a->u.norm.eps < 0) FAIL("eps is %g (must be finite and >= 0)", a->u.norm.eps);
    TRY(alias_ok(y, "y", x, "x"));
    TRY(no_overlap(y, "y", w, "w"));
    return MK_OK;
}

static mk_status validate_rope(mk_context *ctx, const mk_op_args *a) {
    const mk_tensor *x = a->u.rope.x, *pos = a->u.rope.positions;
    const mk_rope_params *p = &a->u.rope.params;
    TRY(check_tensor(ctx, x, "x", 3, LAYOUT_INNER));
    if (!no_self_overlap(x)) FAIL("x: its elements overlap in memory (it is rotated in place; strides must not alias)");
    TRY(check_tensor(ctx, pos, "positions", 1, LAYOUT_CONTIGUOUS));
    TRY(check_dtype(x, "x", FLOATS));
    TRY(check_dtype(pos, "positions", I32ONLY));
    if (a->u.rope.plan && x->shape[0] != a->u.rope.plan->n)
        FAIL("x.shape[0] is %lld but the plan has %lld positions", (long long)x->shape[0],
             (long long)a->u.rope.plan->n);
    TRY(dim_is(pos, "positions", 0, x->shape[0], "T = x.shape[0]"));
    TRY(no_overlap(x, "x", pos, "positions"));
    int64_t D = x->shape[2];
    int rd = p->rotary_dim ? p->rotary_dim : (int)D;
    if (p->style != MK_ROPE_HALF && p->style != MK_ROPE_INTERLEAVED) FAIL("params->style (%d) is not a valid mk_rope_style", (int)p->style);
    if (!isfinite(p->theta) || p->theta <= 1) FAIL("params->theta is %g (must be finite and > 1; 0 = 10000)", p->theta);
    if (p->rotary_dim < 0 || rd > D || rd % 2)
        FAIL("params->rotary_dim is %d (must be even and <= D = %lld; 0 = D, which must then be even)",
             p->rotary_dim, (long long)D);
    switch (p->scaling) {
    case MK_ROPE_SCALING_NONE: break;
    case MK_ROPE_SCALING_LINEAR:
        if (!isfinite(p->factor) || p->factor <= 0) FAIL("params->factor is %g (must be > 0)", p->factor);
        break;
    case MK_ROPE_SCALING_LLAMA3:
        if (!isfinite(p->factor) || p->factor <= 0) FAIL("params->factor is %g (must be > 0)", p->factor);
        if (!isfinite(p->low_freq_factor) || p->low_freq_factor <= 0)
            FAIL("params->low_freq_factor is %g (must be > 0)", p->low_freq_factor);
        if (!isfinite(p->high_freq_factor) || p->high_freq_factor <= p->low_freq_factor)
            FAIL("params->high_freq_factor is %g (must be > low_freq_factor)", p->high_freq_factor);
        if (p->original_max_position <= 0)
            FAIL("params->original_max_position is %d (must be > 0)", p->original_max_position);
        break;
    default: FAIL("params->scaling (%d) is not a valid mk_rope_scaling", (int)p->scaling);
    }
    return MK_OK;
}

mk_status mk__check_positions(const int32_t *pos, int64_t n) {
    for (int64_t t = 0; t < n; t++)
        if (pos[t] < 0) FAIL("positions[%lld] is %d (must be >= 0)", (long long)t, pos[t]);
    return MK_OK;
}

static mk_status validate_binary(mk_context *ctx, const mk_op_args *a, const char *an, const char *bn) {
    const mk_tensor *x = a->u.binary.a, *y = a->u.binary.b, *out = a->u.binary.out;
    TRY(check_tensor(ctx, x, an, 0, LAYOUT_ROWS));
    TRY(check_tensor(ctx, y, bn, 0, LAYOUT_ROWS));
    TRY(check_tensor(ctx, out, "out", 0, LAYOUT_CONTIGUOUS));
    TRY(check_dtype(x, an, FLOATS));
    TRY(same_dtype(x, an, y, bn));
    TRY(same_dtype(x, an, out, "out"));
    TRY(same_shape(x, an, y, bn));
    TRY(same_shape(x, an, out, "out"));
    TRY(alias_ok(out, "out", x, an));
    TRY(alias_ok(out, "out", y, bn));
    return MK_OK;
}

void mk__apply_defaults(mk_op_args *a) {
    if (a->op != MK_OP_ROPE) return;
    mk_rope_params *p = &a->u.rope.params;
    if (p->theta == 0.0f) p->theta = 10000.0f;
    if (p->scaling == MK_ROPE_SCALING_LINEAR && p->factor == 0.0f) p->factor = 1.0f;
    if (p->scaling == MK_ROPE_SCALING_LLAMA3) {
        if (p->factor == 0.0f) p->factor = 8.0f;
        if (p->low_freq_factor == 0.0f) p->low_freq_factor = 1.0f;
        if (p->high_freq_factor == 0.0f) p->high_freq_factor = 4.0f;
        if (p->original_max_position == 0) p->original_max_position = 8192;
    }
}

mk_status mk__validate(mk_context *ctx, const mk_op_args *a) {
    if (!ctx) FAIL("ctx is NULL");
    const mk_plan *plan = mk__args_plan(a);
    if (plan) {
        if (plan->ctx != ctx) FAIL("plan belongs to another context");
        if (plan->op != a->op) FAIL("plan was made for %s, not %s", mk_op_name(plan->op), mk_op_name(a->op));
    }
    switch (a->op) {
    case MK_OP_ATTENTION_PREFILL: return validate_prefill(ctx, a);
    case MK_OP_ATTENTION_DECODE: return validate_decode(ctx, a);
    case MK_OP_KV_APPEND: return validate_kv_append(ctx, a);
    case MK_OP_KV_COPY_BLOCKS: return validate_kv_copy(ctx, a);
    case MK_OP_QGEMM: return validate_qgemm(ctx, a);
    case MK_OP_GEMM: return validate_gemm(ctx, a);
    case MK_OP_RMSNORM: return validate_norm(ctx, a, 0);
    case MK_OP_LAYERNORM: return validate_norm(ctx, a, 1);
    case MK_OP_ROPE: return validate_rope(ctx, a);
    case MK_OP_SILU_MUL:
    case MK_OP_GELU_MUL: return validate_binary(ctx, a, "gate", "up");
    case MK_OP_ADD: return validate_binary(ctx, a, "a", "b");
    default: FAIL("op (%d) is not a valid mk_op", (int)a->op);
    }
}

/* ---- descriptors of caches and quantized weights */

mk_status mk__validate_kv_desc(const mk_kv_cache_desc *d) {
    if (!d) FAIL("desc is NULL");
    if (d->num_blocks < 1) FAIL("desc->num_blocks is %lld (must be >= 1)", (long long)d->num_blocks);
    if (d->block_size < 1 || d->block_size > 4096) FAIL("desc->block_size is %d (must be 1..4096)", d->block_size);
    if (d->num_kv_heads < 1) FAIL("desc->num_kv_heads is %d (must be >= 1)", d->num_kv_heads);
    if (d->head_dim < 1 || d->head_dim > 256) FAIL("desc->head_dim is %d (must be 1..256)", d->head_dim);
    if (d->dtype != MK_F32 && d->dtype != MK_F16 && d->dtype != MK_BF16 && d->dtype != MK_I8 &&
        d->dtype != MK_FP8_E4M3)
        FAIL("desc->dtype must be f32, f16, bf16, i8 or fp8_e4m3");
    int64_t n;
    if (__builtin_mul_overflow(d->num_blocks, (int64_t)d->block_size, &n) ||
        __builtin_mul_overflow(n, (int64_t)d->num_kv_heads, &n) || n > INT32_MAX ||
        __builtin_mul_overflow(n, (int64_t)d->head_dim * (int64_t)mk_dtype_size(d->dtype), &n))
        FAIL("desc: num_blocks * block_size * num_kv_heads exceeds 2^31-1 (or the byte size overflows)");
    return MK_OK;
}

mk_status mk__validate_qweight(const mk_qweight_desc *d, const mk_qweight_data *data) {
    if (!d) FAIL("desc is NULL");
    if (d->format < MK_QW4 || d->format > MK_QFP8) FAIL("desc->format (%d) is not a valid mk_qformat", (int)d->format);
    if (d->n < 1) FAIL("desc->n is %lld (must be >= 1)", (long long)d->n);
    if (d->k < 1) FAIL("desc->k is %lld (must be >= 1)", (long long)d->k);
    if (d->n > INT32_MAX || d->k > INT32_MAX) FAIL("desc->n or desc->k exceeds 2^31-1");
    int64_t nk;
    if (__builtin_mul_overflow(d->n, d->k, &nk) || nk > (int64_t)(SIZE_MAX / 8))
        FAIL("desc: n * k overflows");
    int g = d->group_size;
    switch (d->format) {
    case MK_QW4:
        if (g != 32 && g != 64 && g != 128) FAIL("desc->group_size is %d (QW4 needs 32, 64 or 128)", g);
        if (d->k % g) FAIL("desc->k (%lld) is not a multiple of desc->group_size (%d)", (long long)d->k, g);
        break;
    case MK_QW8:
        if (g != 0 && g != 32 && g != 64 && g != 128) FAIL("desc->group_size is %d (QW8 needs 0, 32, 64 or 128)", g);
        if (g && d->k % g) FAIL("desc->k (%lld) is not a multiple of desc->group_size (%d)", (long long)d->k, g);
        break;
    default:
        if (g != 0) FAIL("desc->group_size is %d (must be 0: per-channel scales)", g);
    }
    if (d->asymmetric && d->format != MK_QW4) FAIL("desc->asymmetric is set but only QW4 has zero points");
    if (!data) return MK_OK;
    if (!data->q) FAIL("data->q is NULL");
    if (!data->scales) FAIL("data->scales is NULL");
    if (d->asymmetric && !data->zeros) FAIL("data->zeros is NULL but desc->asymmetric is set");
    if (!d->asymmetric && data->zeros) FAIL("data->zeros is set but desc->asymmetric is 0");
    if (d->asymmetric) {
        const uint8_t *z = data->zeros;
        int64_t nz = d->n * (d->k / g);
        for (int64_t i = 0; i < nz; i++)
            if (z[i] > 15) FAIL("data->zeros[%lld] is %u (must be 0..15)", (long long)i, z[i]);
    }
    if (data->k_perm) {
        uint8_t *seen = mk__calloc((size_t)d->k, 1);
        if (!seen) return mk__fail(MK_ERR_OUT_OF_MEMORY, "out of host memory checking data->k_perm");
        for (int64_t j = 0; j < d->k; j++) {
            int32_t p = data->k_perm[j];
            if (p < 0 || p >= d->k || seen[p]) {
                mk__free(seen);
                FAIL("data->k_perm is not a permutation of 0..k-1 (k_perm[%lld] = %d)", (long long)j, p);
            }
            seen[p] = 1;
        }
        mk__free(seen);
    }
    return MK_OK;
}
