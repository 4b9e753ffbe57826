/*
 * bench_ops: every op through the public API on the chosen device, on named model shapes
 * (shapes.c) and on a few synthetic attention shapes.
 *
 * Names: <op>/<format>/<shape>, e.g. attention_decode/kv:f16/llama3-8b/decode/bs1,
 * qgemm/w4g32/llama3-8b/decode/bs1. Per layer and step of the shape (T = B * q_len):
 *   attention_decode   q [B,Hq,D] over a paged cache (block 16, blocks shuffled)
 *   attention_prefill  causal, packed [T,H,D], B sequences of q_len
 *   qgemm, gemm        the MLP down projection: M = T, N = hidden, K = intermediate
 *   rmsnorm            [T, hidden];  rope [T, Hq, D];  silu_mul [T, intermediate]
 *   kv_append          T tokens of [Hkv, D] into an f16 cache
 * Bytes are what the op must move at least (inputs read once, outputs written once);
 * FLOPs: 4*B*Sq*Sk*Hq*D for attention (halved for causal prefill), 2*M*N*K for GEMMs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mkbench.h"
#include "shapes.h"

typedef struct {
    mk_op op;
    char name[96];
    mkb_shape s;       /* s.name is not used (see name) */
    mk_dtype kv;       /* cache dtype: decode, kv_append */
    mk_qformat qf;     /* qgemm */
    int group;         /* qgemm */
    int oneshot;       /* index-array ops: the one-shot call, which reads its index arrays
                          back and waits, instead of plan (made once, untimed) + run */
} op_case;

enum { BLOCK = 16, MAX_RES = 512 };

/* One input set; output and index tensors are shared by all sets. */
typedef struct {
    mk_tensor t[6];
    mk_kv_cache *cache;
    mk_qweight *qw;
    mk_plan *plan;     /* index-array ops unless oneshot; shared by all sets */
} inst;

/* Everything allocated by one run, freed together. */
typedef struct {
    mk_buffer *buf[MAX_RES];
    mk_kv_cache *cache[MAX_RES];
    mk_qweight *qw[MAX_RES];
    mk_plan *plan;
    int nbuf, ncache, nqw;
    uint64_t seed;
} res;

static void res_free(res *r) {
    mk_synchronize(mkb_context());
    for (int i = 0; i < r->nbuf; i++) mk_buffer_free(r->buf[i]);
    for (int i = 0; i < r->ncache; i++) mk_kv_cache_destroy(r->cache[i]);
    for (int i = 0; i < r->nqw; i++) mk_qweight_destroy(r->qw[i]);
    mk_plan_destroy(r->plan);
}

/* The plan of set 0 (plan creation, untimed: the run calls are what is measured). */
static int keep_plan(mkb_state *st, res *r, inst *x, mk_status s) {
    if (!mkb_check(st, s, "plan creation")) return 0;
    x->plan = r->plan;
    return 1;
}

/* A random tensor of the given shape (std 1 unless said); 0 on failure. */
static int rnd(mkb_state *st, res *r, mk_tensor *t, mk_dtype dt, float std, int ndim,
               int64_t d0, int64_t d1, int64_t d2) {
    int64_t shape[3] = {d0, d1, d2};
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    if (r->nbuf == MAX_RES) {
        mkb_fail(st, "too many buffers");
        return 0;
    }
    mk_buffer *b = mkb_random_buffer(st, dt, n, std, ++r->seed);
    if (!b) return 0;
    r->buf[r->nbuf++] = b;
    *t = mk_tensor_make(b, 0, dt, ndim, shape);
    return 1;
}

static int i32(mkb_state *st, res *r, mk_tensor *t, const int32_t *v, int ndim, int64_t d0,
               int64_t d1) {
    int64_t shape[2] = {d0, d1};
    mk_buffer *b = mkb_i32_buffer(st, v, (size_t)(d0 * (ndim > 1 ? d1 : 1)));
    if (!b) return 0;
    r->buf[r->nbuf++] = b;
    *t = mk_tensor_make(b, 0, MK_I32, ndim, shape);
    return 1;
}

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

static double kv_entry_bytes(mk_dtype kv, int D) {
    /* quantized caches keep one f32 scale per (token, kv head) */
    return (double)D * (double)mk_dtype_size(kv) + (kv == MK_I8 || kv == MK_FP8_E4M3 ? 4 : 0);
}

typedef struct {
    double bytes, flops, set_bytes;
} work;

static work work_of(const op_case *c) {
    const mkb_shape *s = &c->s;
    double B = s->batch, T = (double)s->batch * s->q_len, Hq = s->heads, Hkv = s->kv_heads,
           D = s->head_dim, H = s->hidden, I = s->intermediate, e = 2 /* f16 */;
    double ctx = s->window > 0 && s->context > s->window ? s->window : s->context;
    work w = {0, 0, 0};
    switch (c->op) {
    case MK_OP_ATTENTION_DECODE:
        w.set_bytes = 2 * B * ctx * Hkv * kv_entry_bytes(c->kv, s->head_dim) + B * Hq * D * e;
        w.bytes = w.set_bytes + B * Hq * D * e;
        w.flops = 4 * B * ctx * Hq * D;
        break;
    case MK_OP_ATTENTION_PREFILL:
        w.set_bytes = (T * Hq + 2 * B * s->context * Hkv) * D * e;
        w.bytes = w.set_bytes + T * Hq * D * e;
        w.flops = 4 * B * s->q_len * (double)s->context * Hq * D / 2;
        break;
    case MK_OP_QGEMM: {
        double wb = c->qf == MK_QW4 ? H * I / 2 + H * (I / c->group) * 2
                    : H * I + H * (c->qf == MK_QW8 ? 2 : 4);
        w.set_bytes = wb + T * I * e;
        w.bytes = w.set_bytes + T * H * e;
        w.flops = 2 * T * H * I;
        break;
    }
    case MK_OP_GEMM:
        w.set_bytes = (H * I + T * I) * e;
        w.bytes = w.set_bytes + T * H * e;
        w.flops = 2 * T * H * I;
        break;
    case MK_OP_RMSNORM:
    case MK_OP_LAYERNORM: w.set_bytes = T * H * e, w.bytes = 2 * T * H * e + H * e; break;
    case MK_OP_ROPE: w.set_bytes = T * Hq * D * e, w.bytes = 2 * T * Hq * D * e + T * 4; break;
    case MK_OP_SILU_MUL:
    case MK_OP_GELU_MUL:
    case MK_OP_ADD: w.set_bytes = 2 * T * I * e, w.bytes = 3 * T * I * e; break;
    case MK_OP_KV_COPY_BLOCKS: /* K and V of ceil(T/BLOCK) blocks, read and written */
        w.set_bytes = 2 * ceil_div((int64_t)T, BLOCK) * BLOCK * Hkv * kv_entry_bytes(c->kv, s->head_dim);
        w.bytes = 2 * w.set_bytes;
        break;
    case MK_OP_KV_APPEND:
        w.set_bytes = 2 * T * Hkv * D * e;
        w.bytes = w.set_bytes + 2 * T * Hkv * kv_entry_bytes(c->kv, s->head_dim) + T * 4;
        break;
    default: break;
    }
    return w;
}

/* A cache holding `slots` tokens, every slot written (f16 K/V appended in chunks). */
static mk_kv_cache *filled_cache(mkb_state *st, res *r, const mkb_shape *s, mk_dtype kv,
                                 int64_t blocks) {
    mk_context *ctx = mkb_context();
    mk_kv_cache_desc d = {blocks, BLOCK, s->kv_heads, s->head_dim, kv};
    mk_kv_cache *cache = NULL;
    if (!mkb_check(st, mk_kv_cache_create(ctx, &d, &cache), "mk_kv_cache_create")) return NULL;
    r->cache[r->ncache++] = cache;
    int64_t slots = blocks * BLOCK, chunk = slots < 4096 ? slots : 4096;
    mk_tensor k, v, map;
    int32_t *ids = malloc((size_t)chunk * sizeof *ids);
    if (!ids) {
        mkb_fail(st, "out of host memory");
        return NULL;
    }
    for (int64_t i = 0; i < chunk; i++) ids[i] = (int32_t)i;
    int ok = rnd(st, r, &k, MK_F16, 1, 3, chunk, s->kv_heads, s->head_dim) &&
             rnd(st, r, &v, MK_F16, 1, 3, chunk, s->kv_heads, s->head_dim) &&
             i32(st, r, &map, ids, 1, chunk, 0);
    for (int64_t first = 0; ok && first < slots; first += chunk) {
        int64_t m = slots - first < chunk ? slots - first : chunk;
        for (int64_t i = 0; i < m; i++) ids[i] = (int32_t)(first + i);
        k.shape[0] = v.shape[0] = map.shape[0] = m;
        ok = mkb_check(st, mk_synchronize(ctx), "mk_synchronize") &&
             mkb_check(st, mk_buffer_write(map.buf, 0, ids, (size_t)m * sizeof *ids), "mk_buffer_write") &&
             mkb_check(st, mk_kv_cache_append(ctx, cache, &k, &v, &map), "kv cache fill");
    }
    free(ids);
    return ok ? cache : NULL;
}

static mk_qweight *random_qweight(mkb_state *st, res *r, const op_case *c) {
    mk_qweight_desc d = {c->qf, c->s.hidden, c->s.intermediate, c->group, 0};
    mk_qweight_data data;
    if (!mkb_check(st, mk_qweight_data_alloc(&d, 0, 0, &data), "mk_qweight_data_alloc")) return NULL;
    size_t n = (size_t)d.n, k = (size_t)d.k;
    size_t groups = c->group ? k / (size_t)c->group : 1;
    if (c->qf == MK_QW4) mkb_fill_host(MK_U8, data.q, n * ((k + 1) / 2), 1, ++r->seed);
    else if (c->qf == MK_QFP8) mkb_fill_host(MK_FP8_E4M3, data.q, n * k, 1, ++r->seed);
    else mkb_fill_host(MK_I8, data.q, n * k, 1, ++r->seed);
    /* scales: f16 per group for QW4/QW8, f32 per channel for QW8A8/QFP8 */
    mkb_fill_host(c->qf == MK_QW4 || c->qf == MK_QW8 ? MK_F16 : MK_F32, data.scales, n * groups,
                  0.01f, ++r->seed);
    mk_qweight *qw = NULL;
    mk_status s = mk_qweight_create(mkb_context(), &d, &data, &qw);
    mk_qweight_data_free(&data);
    if (!mkb_check(st, s, "mk_qweight_create")) return NULL;
    r->qw[r->nqw++] = qw;
    return qw;
}

/* Builds input set `set` (set 0 also builds the shared tensors, copied to the others). */
static int setup(mkb_state *st, const op_case *c, inst *in, int set, res *r) {
    const mkb_shape *s = &c->s;
    int64_t B = s->batch, T = (int64_t)s->batch * s->q_len, Hq = s->heads, Hkv = s->kv_heads,
            D = s->head_dim, H = s->hidden, I = s->intermediate;
    inst *x = &in[set];
    if (set > 0) *x = in[0];
    int ok = 1;
    switch (c->op) {
    case MK_OP_ATTENTION_DECODE: { /* t: q, block_table, context_lens, out */
        int64_t mb = ceil_div(s->context, BLOCK);
        if (set == 0) {
            int32_t *table = malloc((size_t)(B * mb) * sizeof *table), lens[4096];
            if (!table || B > 4096) {
                free(table);
                mkb_fail(st, "out of host memory");
                return 0;
            }
            for (int64_t i = 0; i < B * mb; i++) table[i] = (int32_t)i;
            uint64_t h = 0x9E3779B97F4A7C15ull; /* shuffled: pages scattered like a real pool */
            for (int64_t i = B * mb - 1; i > 0; i--) {
                h ^= h << 13, h ^= h >> 7, h ^= h << 17;
                int64_t j = (int64_t)(h % (uint64_t)(i + 1));
                int32_t tmp = table[i];
                table[i] = table[j], table[j] = tmp;
            }
            for (int64_t b = 0; b < B; b++) lens[b] = s->context;
            ok = i32(st, r, &x->t[1], table, 2, B, mb) && i32(st, r, &x->t[2], lens, 1, B, 0) &&
                 rnd(st, r, &x->t[3], MK_F16, 1, 3, B, Hq, D) && rnd(st, r, &x->t[0], MK_F16, 1, 3, B, Hq, D) &&
                 (x->cache = filled_cache(st, r, s, c->kv, B * mb)) != NULL;
            if (ok && !c->oneshot) {
                const mk_attn_params ap = {0, 1, s->window, 0};
                const mk_decode_plan_desc d = {B, mb, table, lens, x->cache, (int)Hq, MK_F16, ap};
                ok = keep_plan(st, r, x, mk_decode_plan_create(mkb_context(), &d, &r->plan));
            }
            free(table);
            break;
        }
        ok = ok && rnd(st, r, &x->t[0], MK_F16, 1, 3, B, Hq, D) &&
             (x->cache = filled_cache(st, r, s, c->kv, B * mb)) != NULL;
        break;
    }
    case MK_OP_ATTENTION_PREFILL: { /* t: q, k, v, cu_seqlens_q, out, cu_seqlens_k */
        int64_t Tk = B * s->context;
        if (set == 0) {
            int32_t cu_q[4097], cu_k[4097];
            if (B > 4096) {
                mkb_fail(st, "batch too large");
                return 0;
            }
            for (int64_t b = 0; b <= B; b++)
                cu_q[b] = (int32_t)(b * s->q_len), cu_k[b] = (int32_t)(b * s->context);
            ok = i32(st, r, &x->t[3], cu_q, 1, B + 1, 0) && i32(st, r, &x->t[5], cu_k, 1, B + 1, 0) &&
                 rnd(st, r, &x->t[4], MK_F16, 1, 3, T, Hq, D);
            if (ok && !c->oneshot) {
                const mk_prefill_plan_desc d = {B, cu_q, cu_k, (int)Hq, (int)Hkv, (int)D, MK_F16, {0, 1, s->window, 0}};
                ok = keep_plan(st, r, x, mk_prefill_plan_create(mkb_context(), &d, &r->plan));
            }
        }
        ok = ok && rnd(st, r, &x->t[0], MK_F16, 1, 3, T, Hq, D) &&
             rnd(st, r, &x->t[1], MK_F16, 1, 3, Tk, Hkv, D) && rnd(st, r, &x->t[2], MK_F16, 1, 3, Tk, Hkv, D);
        break;
    }
    case MK_OP_QGEMM: /* t: x, y */
        if (set == 0) ok = rnd(st, r, &x->t[1], MK_F16, 1, 2, T, H, 0);
        ok = ok && rnd(st, r, &x->t[0], MK_F16, 1, 2, T, I, 0) && (x->qw = random_qweight(st, r, c)) != NULL;
        break;
    case MK_OP_GEMM: /* t: x, w, y */
        if (set == 0) ok = rnd(st, r, &x->t[2], MK_F16, 1, 2, T, H, 0);
        ok = ok && rnd(st, r, &x->t[0], MK_F16, 1, 2, T, I, 0) && rnd(st, r, &x->t[1], MK_F16, 0.02f, 2, H, I, 0);
        break;
    case MK_OP_RMSNORM: /* t: x, w, y */
    case MK_OP_LAYERNORM:
        if (set == 0) ok = rnd(st, r, &x->t[1], MK_F16, 1, 1, H, 0, 0) && rnd(st, r, &x->t[2], MK_F16, 1, 2, T, H, 0);
        ok = ok && rnd(st, r, &x->t[0], MK_F16, 1, 2, T, H, 0);
        break;
    case MK_OP_ROPE: /* t: x, positions */
        if (set == 0) {
            int32_t *pos = malloc((size_t)T * sizeof *pos);
            if (!pos) {
                mkb_fail(st, "out of host memory");
                return 0;
            }
            for (int64_t t = 0; t < T; t++) pos[t] = (int32_t)(s->context - s->q_len + t % s->q_len);
            ok = i32(st, r, &x->t[1], pos, 1, T, 0);
            if (ok && !c->oneshot) ok = keep_plan(st, r, x, mk_rope_plan_create(mkb_context(), pos, T, &r->plan));
            free(pos);
        }
        ok = ok && rnd(st, r, &x->t[0], MK_F16, 1, 3, T, Hq, D);
        break;
    case MK_OP_SILU_MUL: /* t: gate, up, out (a, b, out for add) */
    case MK_OP_GELU_MUL:
    case MK_OP_ADD:
        if (set == 0) ok = rnd(st, r, &x->t[2], MK_F16, 1, 2, T, I, 0);
        ok = ok && rnd(st, r, &x->t[0], MK_F16, 1, 2, T, I, 0) && rnd(st, r, &x->t[1], MK_F16, 1, 2, T, I, 0);
        break;
    case MK_OP_KV_APPEND: /* t: k, v, slot_mapping; one shared cache */
        if (set == 0) {
            int32_t *slots = malloc((size_t)T * sizeof *slots);
            if (!slots) {
                mkb_fail(st, "out of host memory");
                return 0;
            }
            for (int64_t t = 0; t < T; t++) slots[t] = (int32_t)t;
            mk_kv_cache_desc d = {ceil_div(T, BLOCK), BLOCK, (int)Hkv, (int)D, c->kv};
            ok = i32(st, r, &x->t[2], slots, 1, T, 0) &&
                 mkb_check(st, mk_kv_cache_create(mkb_context(), &d, &x->cache), "mk_kv_cache_create");
            if (x->cache) r->cache[r->ncache++] = x->cache;
            if (ok && !c->oneshot)
                ok = keep_plan(st, r, x, mk_kv_append_plan_create(mkb_context(), x->cache, slots, T, &r->plan));
            free(slots);
        }
        ok = ok && rnd(st, r, &x->t[0], MK_F16, 1, 3, T, Hkv, D) && rnd(st, r, &x->t[1], MK_F16, 1, 3, T, Hkv, D);
        break;
    case MK_OP_KV_COPY_BLOCKS: /* t[0]: pairs (block i -> block n + i); one shared cache */
        if (set == 0) {
            int64_t n = ceil_div(T, BLOCK);
            int32_t *pairs = malloc((size_t)(2 * n) * sizeof *pairs);
            if (!pairs) {
                mkb_fail(st, "out of host memory");
                return 0;
            }
            for (int64_t i = 0; i < n; i++) pairs[2 * i] = (int32_t)i, pairs[2 * i + 1] = (int32_t)(n + i);
            mk_kv_cache_desc d = {2 * n, BLOCK, (int)Hkv, (int)D, c->kv};
            ok = i32(st, r, &x->t[0], pairs, 2, n, 2) &&
                 mkb_check(st, mk_kv_cache_create(mkb_context(), &d, &x->cache), "mk_kv_cache_create");
            if (x->cache) r->cache[r->ncache++] = x->cache;
            if (ok && !c->oneshot)
                ok = keep_plan(st, r, x, mk_kv_copy_plan_create(mkb_context(), x->cache, pairs, n, &r->plan));
            free(pairs);
        }
        break;
    default: mkb_fail(st, "op without a benchmark"); return 0;
    }
    return ok;
}

static mk_status run(const op_case *c, inst *x) {
    mk_context *ctx = mkb_context();
    const mk_tensor *t = x->t;
    mk_attn_params ap = {0, 1, c->s.window, 0};
    mk_rope_params rp = {MK_ROPE_HALF, c->s.rope_theta, 0, MK_ROPE_SCALING_NONE, 1, 1, 1, 0};
    if (x->plan) switch (c->op) {
        case MK_OP_ATTENTION_DECODE: return mk_attention_decode_run(ctx, x->plan, &t[0], x->cache, &t[3]);
        case MK_OP_ATTENTION_PREFILL: return mk_attention_prefill_run(ctx, x->plan, &t[0], &t[1], &t[2], &t[4], NULL);
        case MK_OP_ROPE: return mk_rope_run(ctx, x->plan, &t[0], &rp);
        case MK_OP_KV_APPEND: return mk_kv_cache_append_run(ctx, x->plan, x->cache, &t[0], &t[1]);
        case MK_OP_KV_COPY_BLOCKS: return mk_kv_cache_copy_blocks_run(ctx, x->plan, x->cache);
        default: break;
        }
    switch (c->op) {
    case MK_OP_ATTENTION_DECODE:
        return mk_attention_decode(ctx, &t[0], x->cache, &t[1], &t[2], &ap, &t[3]);
    case MK_OP_ATTENTION_PREFILL:
        return mk_attention_prefill(ctx, &t[0], &t[1], &t[2], &t[3], &t[5], &ap, &t[4], NULL);
    case MK_OP_QGEMM: return mk_qgemm(ctx, &t[0], x->qw, NULL, &t[1]);
    case MK_OP_GEMM: return mk_gemm(ctx, &t[0], &t[1], NULL, &t[2]);
    case MK_OP_RMSNORM: return mk_rmsnorm(ctx, &t[0], &t[1], 1e-5f, 0, &t[2]);
    case MK_OP_LAYERNORM: return mk_layernorm(ctx, &t[0], &t[1], NULL, 1e-5f, &t[2]);
    case MK_OP_GELU_MUL: return mk_gelu_mul(ctx, &t[0], &t[1], 1, &t[2]);
    case MK_OP_ADD: return mk_add(ctx, &t[0], &t[1], &t[2]);
    case MK_OP_KV_COPY_BLOCKS: return mk_kv_cache_copy_blocks(ctx, x->cache, &t[0]);
    case MK_OP_ROPE: return mk_rope(ctx, &t[0], &t[1], &rp);
    case MK_OP_SILU_MUL: return mk_silu_mul(ctx, &t[0], &t[1], &t[2]);
    case MK_OP_KV_APPEND: return mk_kv_cache_append(ctx, x->cache, &t[0], &t[1], &t[2]);
    default: return MK_ERR_INTERNAL;
    }
}

/* The problem in the label: the dimensions that matter to the op. */
static void describe(const op_case *c, int nsets, char *out, size_t n) {
    const mkb_shape *s = &c->s;
    int T = s->batch * s->q_len;
    int len;
    switch (c->op) {
    case MK_OP_ATTENTION_DECODE:
    case MK_OP_ATTENTION_PREFILL:
        len = snprintf(out, n, "B=%d Sq=%d Sk=%d Hq=%d Hkv=%d D=%d", s->batch, s->q_len,
                       s->context, s->heads, s->kv_heads, s->head_dim);
        if (s->window > 0) len += snprintf(out + len, n - (size_t)len, " window=%d", s->window);
        break;
    case MK_OP_QGEMM:
    case MK_OP_GEMM:
        len = snprintf(out, n, "M=%d N=%d K=%d", T, s->hidden, s->intermediate);
        break;
    case MK_OP_RMSNORM:
    case MK_OP_LAYERNORM: len = snprintf(out, n, "rows=%d n=%d", T, s->hidden); break;
    case MK_OP_KV_COPY_BLOCKS: len = snprintf(out, n, "blocks=%d Hkv=%d D=%d", (T + BLOCK - 1) / BLOCK, s->kv_heads, s->head_dim); break;
    case MK_OP_GELU_MUL:
    case MK_OP_ADD:
    case MK_OP_SILU_MUL: len = snprintf(out, n, "rows=%d n=%d", T, s->intermediate); break;
    case MK_OP_ROPE: len = snprintf(out, n, "T=%d H=%d D=%d", T, s->heads, s->head_dim); break;
    default: len = snprintf(out, n, "T=%d Hkv=%d D=%d", T, s->kv_heads, s->head_dim); break;
    }
    if (nsets > 1 && len > 0 && (size_t)len < n) snprintf(out + len, n - (size_t)len, " sets=%d", nsets);
}

static void bench_op(mkb_state *st, const void *arg) {
    const op_case *c = arg;
    work w = work_of(c);
    if (!mkb_fits(st, w.flops, w.bytes)) return;
    int nsets = mkb_sets(st, w.set_bytes);
    res *r = calloc(1, sizeof *r);
    inst *in = calloc((size_t)nsets, sizeof *in);
    if (!r || !in) {
        mkb_fail(st, "out of host memory");
    } else {
        int ok = 1;
        for (int i = 0; ok && i < nsets; i++) ok = setup(st, c, in, i, r);
        if (ok && mkb_check(st, run(c, &in[0]), mk_op_name(c->op))) { /* warm-up, support */
            char label[160];
            describe(c, nsets, label, sizeof label);
            mkb_label(st, label);
            mkb_set_op(st, c->op);
            mkb_set_bytes(st, w.bytes);
            mkb_set_flops(st, w.flops);
            while (mkb_next(st))
                mkb_check(st, run(c, &in[mkb_iter(st) % nsets]), mk_op_name(c->op));
        }
    }
    if (r) res_free(r);
    free(r);
    free(in);
}

static void add_case(mk_op op, const char *fmt, const mkb_shape *s, const char *shape_name,
                     mk_dtype kv, mk_qformat qf, int group, int oneshot) {
    op_case c;
    memset(&c, 0, sizeof c);
    c.op = op;
    c.s = *s;
    c.kv = kv, c.qf = qf, c.group = group, c.oneshot = oneshot;
    snprintf(c.name, sizeof c.name, "%s/%s/%s", mk_op_name(op), fmt, shape_name);
    mkb_register(c.name, bench_op, &c, sizeof c, 0);
}

static void add(mk_op op, const char *fmt, const mkb_shape *s, const char *shape_name,
                mk_dtype kv, mk_qformat qf, int group) {
    add_case(op, fmt, s, shape_name, kv, qf, group, 0);
}

static void add_shape(const mkb_shape *s, const char *name) {
    if (s->q_len == 1) add(MK_OP_ATTENTION_DECODE, "kv:f16", s, name, MK_F16, 0, 0);
    else add(MK_OP_ATTENTION_PREFILL, "f16", s, name, 0, 0, 0);
    add(MK_OP_QGEMM, "w4g32", s, name, 0, MK_QW4, 32);
    add(MK_OP_QGEMM, "w8", s, name, 0, MK_QW8, 0);
    add(MK_OP_QGEMM, "w8a8", s, name, 0, MK_QW8A8, 0);
    add(MK_OP_QGEMM, "fp8", s, name, 0, MK_QFP8, 0);
    add(MK_OP_GEMM, "f16", s, name, 0, 0, 0);
    add(MK_OP_RMSNORM, "f16", s, name, 0, 0, 0);
    add(MK_OP_LAYERNORM, "f16", s, name, 0, 0, 0);
    add(MK_OP_ROPE, "f16", s, name, 0, 0, 0);
    add(MK_OP_SILU_MUL, "f16", s, name, 0, 0, 0);
    add(MK_OP_GELU_MUL, "f16", s, name, 0, 0, 0);
    add(MK_OP_ADD, "f16", s, name, 0, 0, 0);
    add(MK_OP_KV_APPEND, "kv:f16", s, name, MK_F16, 0, 0);
    add(MK_OP_KV_COPY_BLOCKS, "kv:f16", s, name, MK_F16, 0, 0);
}

/* Attention alone on one KV group: Hq = Hkv = 8, D = 128 (the classic decode kernel
   benchmark), over a few batch/context pairs and cache formats. */
static void add_attention_grid(void) {
    static const struct { int small, batch, q_len, context; mk_dtype kv; } g[] = {
        {1, 1, 1, 512, MK_F16},   {1, 1, 1, 512, MK_I8},    {1, 1, 128, 128, MK_F16},
        {0, 1, 1, 8192, MK_F16},  {0, 1, 1, 32768, MK_F16}, {0, 8, 1, 8192, MK_F16},
        {0, 32, 1, 2048, MK_F16}, {0, 1, 1, 8192, MK_I8},   {0, 1, 1, 8192, MK_FP8_E4M3},
        {0, 1, 512, 512, MK_F16}, {0, 4, 1024, 1024, MK_F16},
    };
    for (size_t i = 0; i < sizeof g / sizeof g[0]; i++) {
        if (g[i].small ? !mkb_small() : !mkb_full()) continue;
        mkb_shape s = {"", "", g[i].small, 1024, 8, 8, 128, 4096, 10000.f, 0,
                       g[i].batch, g[i].q_len, g[i].context};
        char name[64], fmt[24];
        int decode = g[i].q_len == 1;
        snprintf(name, sizeof name, "h8-d128/B:%d/%s:%d", s.batch, decode ? "ctx" : "S",
                 decode ? s.context : s.q_len);
        snprintf(fmt, sizeof fmt, "%s%s", decode ? "kv:" : "", mk_dtype_name(decode ? g[i].kv : MK_F16));
        add(decode ? MK_OP_ATTENTION_DECODE : MK_OP_ATTENTION_PREFILL, fmt, &s, name, g[i].kv, 0, 0);
        if (decode) { /* the same as a one-shot call: its index readback and wait, side by side */
            char fmt1[40];
            snprintf(fmt1, sizeof fmt1, "%s:oneshot", fmt);
            add_case(MK_OP_ATTENTION_DECODE, fmt1, &s, name, g[i].kv, 0, 0, 1);
        }
    }
}

static void reg(void) {
    add_attention_grid();
    for (int i = 0; i < mkb_shape_count; i++) {
        const mkb_shape *s = &mkb_shapes[i];
        if (s->small ? mkb_small() : mkb_full()) add_shape(s, s->name);
    }
}

int main(int argc, char **argv) { return mkb_main(argc, argv, reg); }
