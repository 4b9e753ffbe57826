/*
 * Conformance cases of attention.
 *
 * Prefill: packed varlen batches of 1..4 sequences (self-attention, or Sq != Sk with
 * sequences whose queries see no key and sequences without queries), D 64/80/96/128/256
 * (full: also small odd sizes), GQA ratios 1/4/8, causal (bottom-right), sliding window,
 * softcap, explicit scale, q/k/v as views into one fused QKV buffer, LSE or none.
 * F32/F16/BF16. Output bound: the dtype's; LSE: the f32 bound. Rows that see no key must
 * give exactly +0 and LSE -inf.
 *
 * Decode: the paged cache in all five dtypes (filled by kv_append with the device's own
 * choice of variant), block sizes 1/16/32 in shuffled physical order, unused block-table
 * entries -1 or a valid block, contexts 0..~300 (full: up to 1200, so long ones split),
 * window and softcap, q as a view with padded rows. The reference decodes the very cache
 * the device holds (read back), so quantized caches are judged "against the reference on
 * the same quantized cache" (bound max(1e-3, the q dtype's)). The cache must be unchanged
 * by decode; empty contexts give exactly 0.
 */
#include <math.h>
#include <string.h>

#include "conform_internal.h"

static const mk_dtype kTypes[3] = {MK_F32, MK_F16, MK_BF16};

/* ------------------------------------------------------------ prefill */

typedef struct {
    mk_tensor q, k, v, cu_q, cu_k, out, lse;
    int with_lse;
    mk_attn_params p;
} prefill_call;

static mk_status launch_prefill(mkcf_case *c, void *arg) {
    prefill_call *a = arg;
    return mk_attention_prefill(c->ctx, &a->q, &a->k, &a->v, &a->cu_q, &a->cu_k, &a->p, &a->out,
                                a->with_lse ? &a->lse : NULL);
}

static int prefill_count(mkcf_mode mode) { return mode == MKCF_FULL ? 16 : 4; }

static void run_prefill(mkcf_case *c) {
    static const int dims[] = {64, 80, 96, 128, 256}, small_dims[] = {8, 24, 40}, ratios[] = {1, 4, 8};
    static const int lens_q[] = {1, 2, 7, 13, 33}, lens_f[] = {1, 7, 33, 64, 100, 250};
    const int full = c->mode == MKCF_FULL, i = c->index;
    const mk_dtype t = kTypes[i % 3];
    int D = full && i % 5 == 4 ? MKCF_PICK(c, small_dims) : MKCF_PICK(c, dims);
    int Hkv = (int)mkref_rng_range(&c->rng, 1, 2), Hq = Hkv * MKCF_PICK(c, ratios);
    int B = (int)mkref_rng_range(&c->rng, 1, 4), self = (i % 2) == 0;
    int32_t sq[4], sk[4];
    for (int b = 0; b < B; b++) {
        sq[b] = full ? MKCF_PICK(c, lens_f) : MKCF_PICK(c, lens_q);
        sk[b] = self ? sq[b] : (int32_t)mkref_rng_range(&c->rng, 0, full ? 300 : 40);
    }
    if (!self && B > 1) sk[0] = 0;                 /* queries that see no key */
    if (!self && B > 2) sq[1] = 0;                 /* keys without queries */
    if (full && i == 14) B = 1, sq[0] = sk[0] = 1000, Hkv = 1, Hq = 4, D = 128; /* a long sequence */
    mk_attn_params p = {0.0f, (int)mkref_rng_range(&c->rng, 0, 1), 0, 0.0f};
    if (mkref_rng_range(&c->rng, 0, 2) == 0) p.window = (int)mkref_rng_range(&c->rng, 0, 40) + 1;
    if (mkref_rng_range(&c->rng, 0, 2) == 0) p.softcap = 20.0f;
    if (mkref_rng_range(&c->rng, 0, 3) == 0) p.scale = 0.15f;
    prefill_call a = {.with_lse = full ? i % 4 != 3 : i != 3, .p = p};
    int fused = self && mkref_rng_range(&c->rng, 0, 1);
    int32_t cu_q[5] = {0}, cu_k[5] = {0};
    for (int b = 0; b < B; b++) cu_q[b + 1] = cu_q[b] + sq[b], cu_k[b + 1] = cu_k[b] + sk[b];
    int64_t T = cu_q[B], Tk = cu_k[B];
    size_t nq = (size_t)T * Hq * D, nk = (size_t)Tk * Hkv * D, nl = (size_t)T * Hq;
    float *q = mkcf_random(c, t, nq, 1.0f, 8.0f), *k = mkcf_random(c, t, nk, 1.0f, 8.0f);
    float *v = mkcf_random(c, t, nk, 1.0f, 4.0f);
    float *ref = mkcf_host(c, nq * sizeof(float) + 4), *ref_lse = mkcf_host(c, nl * sizeof(float) + 4);
    float *out = mkcf_host(c, nq * sizeof(float) + 4), *lse = mkcf_host(c, nl * sizeof(float) + 4);
    mkref_attention_prefill(q, k, v, cu_q, cu_k, B, Hq, Hkv, D, &p, ref, ref_lse);
    mkcf_round(t, ref, nq);
    char lens[96] = "";
    for (int b = 0, at = 0; b < B && at < (int)sizeof lens; b++)
        at += snprintf(lens + at, sizeof lens - (size_t)at, "%s%d/%d", b ? "," : "", sq[b], sk[b]);
    mkcf_describe(c, "attention_prefill %s D=%d Hq=%d Hkv=%d seq q/k %s causal=%d window=%d softcap=%g scale=%g%s%s",
                 mk_dtype_name(t), D, Hq, Hkv, lens, p.causal, p.window, (double)p.softcap, (double)p.scale,
                 fused ? " fused QKV views" : "", a.with_lse ? "" : " lse=NULL");
    int64_t qs[3] = {T, Hq, D}, ks[3] = {Tk, Hkv, D}, cs[1] = {B + 1}, ls[2] = {T, Hq};
    if (fused) { /* one [T][Hq + 2 Hkv][D] buffer (T == Tk) */
        int H3 = Hq + 2 * Hkv;
        int64_t stride[3] = {(int64_t)H3 * D, D, 1};
        mkcf_buf *buf = mkcf_buffer(c, "qkv", (size_t)T * H3 * D * mk_dtype_size(t));
        a.q = mkcf_view(buf, t, 0, 3, qs, stride);
        a.k = mkcf_view(buf, t, (size_t)Hq * D, 3, ks, stride);
        a.v = mkcf_view(buf, t, (size_t)(Hq + Hkv) * D, 3, ks, stride);
        mkcf_fill_view(buf, &a.q, q), mkcf_fill_view(buf, &a.k, k), mkcf_fill_view(buf, &a.v, v);
    } else {
        a.q = mkcf_upload(c, "q", t, 3, qs, q);
        a.k = mkcf_upload(c, "k", t, 3, ks, k);
        a.v = mkcf_upload(c, "v", t, 3, ks, v);
    }
    a.cu_q = mkcf_upload_i32(c, "cu_seqlens_q", 1, cs, cu_q);
    a.cu_k = mkcf_upload_i32(c, "cu_seqlens_k", 1, cs, cu_k);
    a.out = mkcf_output(c, "out", t, 3, qs);
    a.lse = mkcf_output(c, "lse", MK_F32, 2, ls);
    if (!mkcf_exec(c, launch_prefill, &a)) return;
    mkcf_read(c, &a.out, out);
    mkcf_check(c, "out", out, ref, nq, mkcf_tol(t));
    if (a.with_lse) {
        mkcf_read(c, &a.lse, lse);
        mkcf_check(c, "lse", lse, ref_lse, nl, mkcf_tol(MK_F32));
    }
    for (size_t row = 0; row < nl; row++) /* rows that see no key: +0 exactly */
        if (ref_lse[row] == -INFINITY)
            for (int d = 0; d < D; d++)
                if (out[row * (size_t)D + (size_t)d] != 0.0f || signbit(out[row * (size_t)D + (size_t)d])) {
                    mkcf_fail(c, "out: row %zu sees no key but element %d is %g, not +0", row, d,
                             (double)out[row * (size_t)D + (size_t)d]);
                    return;
                }
}

const mkcf_suite mkcf_suite_prefill = {MK_OP_ATTENTION_PREFILL, 0, prefill_count, run_prefill};

/* ------------------------------------------------------------ decode */

typedef struct {
    mk_tensor q, bt, lens, out;
    mk_kv_cache *cache;
    mk_attn_params p;
} decode_call;

static mk_status launch_decode(mkcf_case *c, void *arg) {
    decode_call *a = arg;
    return mk_attention_decode(c->ctx, &a->q, a->cache, &a->bt, &a->lens, &a->p, &a->out);
}

static int decode_count(mkcf_mode mode) { return mode == MKCF_FULL ? 15 : 5; }

/* Fills the cache through mk_kv_cache_append (whatever variant the device picks) with
   random k/v of dtype in_t at the slots of every sequence; 0 when that failed (the
   case is then skipped when append is unsupported, failed otherwise). */
static int fill_cache(mkcf_case *c, mk_kv_cache *cache, const mk_kv_cache_desc *d, mk_dtype in_t,
                      const int32_t *bt, int max_blocks, const int32_t *lens, int B) {
    int64_t T = 2; /* two padding tokens */
    for (int b = 0; b < B; b++) T += lens[b];
    size_t n = (size_t)T * (size_t)d->num_kv_heads * (size_t)d->head_dim;
    float *k = mkcf_random(c, in_t, n, 1.0f, 8.0f), *v = mkcf_random(c, in_t, n, 1.0f, 4.0f);
    int32_t *slots = mkcf_host(c, (size_t)T * sizeof *slots);
    int64_t at = 0;
    slots[at++] = -1;
    for (int b = 0; b < B; b++)
        for (int j = 0; j < lens[b]; j++)
            slots[at++] = bt[b * max_blocks + j / d->block_size] * d->block_size + j % d->block_size;
    slots[at++] = -1;
    /* plain device buffers (not the case's: they are not part of the op under test) */
    size_t es = mk_dtype_size(in_t), kb = n * es;
    uint8_t *raw = mkcf_host(c, 2 * kb + (size_t)T * 4);
    for (size_t j = 0; j < n; j++) {
        mkref_store(in_t, raw, (int64_t)j, k[j]);
        mkref_store(in_t, raw + kb, (int64_t)j, v[j]);
    }
    memcpy(raw + 2 * kb, slots, (size_t)T * 4);
    mk_buffer *buf = NULL;
    mk_status s = mk_buffer_alloc(c->ctx, 2 * kb + (size_t)T * 4, &buf);
    if (s == MK_OK) s = mk_buffer_write(buf, 0, raw, 2 * kb + (size_t)T * 4);
    if (s == MK_OK) {
        int64_t ks[3] = {T, d->num_kv_heads, d->head_dim}, ss[1] = {T};
        mk_tensor tk = mk_tensor_make(buf, 0, in_t, 3, ks), tv = mk_tensor_make(buf, kb, in_t, 3, ks);
        mk_tensor ts = mk_tensor_make(buf, 2 * kb, MK_I32, 1, ss);
        s = mk_kv_cache_append(c->ctx, cache, &tk, &tv, &ts);
    }
    mk_buffer_free(buf);
    if (s == MK_ERR_UNSUPPORTED) {
        c->skipped = 1;
        snprintf(c->reason, sizeof c->reason, "kv_append (to fill the cache): %s", mk_last_error());
        return 0;
    }
    if (s != MK_OK) {
        mkcf_fail(c, "kv_append (to fill the cache): %s: %s", mk_status_string(s), mk_last_error());
        return 0;
    }
    return 1;
}

static void run_decode(mkcf_case *c) {
    static const mk_dtype caches[5] = {MK_F32, MK_F16, MK_BF16, MK_I8, MK_FP8_E4M3};
    static const int dims[] = {64, 80, 96, 128, 256}, ratios[] = {1, 4, 8}, bsizes[] = {1, 16, 32};
    static const int lens_q[] = {0, 1, 7, 33, 65, 300}, lens_f[] = {0, 1, 7, 33, 129, 517, 1000, 1200};
    const int full = c->mode == MKCF_FULL, i = c->index;
    /* q: the cache's dtype for value caches in the first five cases, then any */
    const mk_dtype ct = caches[i % 5], qt = i < 3 ? ct : kTypes[(i / 5 + i) % 3];
    int D = MKCF_PICK(c, dims), Hkv = (int)mkref_rng_range(&c->rng, 1, 2), Hq = Hkv * MKCF_PICK(c, ratios);
    int bs = MKCF_PICK(c, bsizes), B = (int)mkref_rng_range(&c->rng, 1, 4);
    int32_t lens[4];
    for (int b = 0; b < B; b++) lens[b] = full ? MKCF_PICK(c, lens_f) : MKCF_PICK(c, lens_q);
    if (!full && i == 4) lens[0] = 300; /* one context long enough to split */
    int max_blocks = 1, total = 0;
    for (int b = 0; b < B; b++) {
        int nb = (lens[b] + bs - 1) / bs;
        if (nb + 1 > max_blocks) max_blocks = nb + 1; /* a spare column */
        total += nb;
    }
    int num_blocks = total + 3, unused_valid = (int)mkref_rng_range(&c->rng, 0, 1);
    int32_t *perm = mkcf_host(c, (size_t)num_blocks * 4), *bt = mkcf_host(c, (size_t)B * max_blocks * 4);
    for (int j = 0; j < num_blocks; j++) perm[j] = j;
    for (int j = num_blocks - 1; j > 0; j--) {
        int r = (int)mkref_rng_range(&c->rng, 0, j), tmp = perm[j];
        perm[j] = perm[r], perm[r] = tmp;
    }
    int used = 0;
    for (int b = 0; b < B; b++)
        for (int j = 0; j < max_blocks; j++)
            bt[b * max_blocks + j] =
                j < (lens[b] + bs - 1) / bs ? perm[used++] : unused_valid ? perm[num_blocks - 1] : -1;
    decode_call a = {.p = {0.0f, 0, 0, 0.0f}};
    if (mkref_rng_range(&c->rng, 0, 2) == 0) a.p.window = (int)mkref_rng_range(&c->rng, 0, 200) + 1;
    if (mkref_rng_range(&c->rng, 0, 3) == 0) a.p.softcap = 10.0f;
    int q_view = (int)mkref_rng_range(&c->rng, 0, 1);
    char lt[64] = "";
    for (int b = 0, at = 0; b < B && at < (int)sizeof lt; b++)
        at += snprintf(lt + at, sizeof lt - (size_t)at, "%s%d", b ? "," : "", lens[b]);
    mkcf_describe(c, "attention_decode cache %s q %s D=%d Hq=%d Hkv=%d block_size=%d contexts %s window=%d "
                 "softcap=%g%s unused table entries %s", mk_dtype_name(ct), mk_dtype_name(qt), D, Hq, Hkv, bs, lt,
                 a.p.window, (double)a.p.softcap, q_view ? " q view" : "", unused_valid ? "valid" : "-1");

    mk_kv_cache_desc desc = {num_blocks, bs, Hkv, D, ct};
    mk_status s = mk_kv_cache_create(c->ctx, &desc, &a.cache);
    if (s != MK_OK) {
        mkcf_fail(c, "mk_kv_cache_create: %s: %s", mk_status_string(s), mk_last_error());
        return;
    }
    mkref_kv_cache host, after;
    if (!fill_cache(c, a.cache, &desc, ct == MK_F16 || ct == MK_BF16 ? ct : qt, bt, max_blocks, lens, B) ||
        !mkcf_kv_read(c, a.cache, &host))
        goto done;
    size_t nq = (size_t)B * Hq * D;
    float *q = mkcf_random(c, qt, nq, 1.0f, 8.0f), *ref = mkcf_host(c, nq * sizeof(float));
    float *out = mkcf_host(c, nq * sizeof(float));
    mkref_attention_decode(q, &host, bt, max_blocks, lens, B, Hq, &a.p, ref);
    mkcf_round(qt, ref, nq);
    int64_t qs[3] = {B, Hq, D}, bts[2] = {B, max_blocks}, ls[1] = {B};
    if (q_view) {
        int64_t stride[3] = {(int64_t)Hq * D + 24, D, 1};
        a.q = mkcf_upload_view(c, "q", qt, 3, qs, stride, q);
    } else {
        a.q = mkcf_upload(c, "q", qt, 3, qs, q);
    }
    a.bt = mkcf_upload_i32(c, "block_table", 2, bts, bt);
    a.lens = mkcf_upload_i32(c, "context_lens", 1, ls, lens);
    a.out = mkcf_output(c, "out", qt, 3, qs);
    if (!mkcf_exec(c, launch_decode, &a)) goto done;
    mkcf_read(c, &a.out, out);
    int quant = ct == MK_I8 || ct == MK_FP8_E4M3;
    mkcf_check(c, "out", out, ref, nq, quant ? fmax(1e-3, mkcf_tol(qt)) : mkcf_tol(qt));
    for (int b = 0; b < B; b++)
        for (size_t j = 0; lens[b] == 0 && j < (size_t)Hq * D; j++)
            if (out[(size_t)b * Hq * D + j] != 0.0f) {
                mkcf_fail(c, "out: sequence %d has context 0 but element %zu is %g", b, j,
                         (double)out[(size_t)b * Hq * D + j]);
                break;
            }
    if (mkcf_kv_read(c, a.cache, &after) && !mkcf_kv_same(&host, &after))
        mkcf_fail(c, "decode changed the KV cache");
done:
    mk_kv_cache_destroy(a.cache);
}

const mkcf_suite mkcf_suite_decode = {MK_OP_ATTENTION_DECODE, 0, decode_count, run_decode};
