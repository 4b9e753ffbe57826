/*
 * Plans and runs on every device (ref, OpenCL, the CUDA emulator or a GPU, threads):
 *  - a decode step (rope on q and k, KV append, decode, KV block copy) and a prefill as
 *    plan + run give the bits of the one-shot calls, and no run call reads back,
 *    uploads blocking or waits (mk_context_sync_counters);
 *  - plan creation validates host index arrays with the one-shot calls' messages, and a
 *    run rejects arguments that do not match its plan;
 *  - a plan whose device copy is overwritten with garbage behind its back runs without
 *    touching memory outside its buffers (ASan, Oclgrind and the emulator see the
 *    kernels; here the guard bytes around every output);
 *  - zero-initialised params are the defaults: {0} attention is unscaled-by-user
 *    (1/sqrt(D)), not causal, without window or softcap; {0} rope is rotate-half, theta
 *    10000, all of D; LLAMA3's zero fields are Llama 3.1's values.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "medkern/backend.h" /* struct mk_plan: the tampering test writes its device copy */
#include "mkref.h"
#include "mktest.h"

enum { B = 3, HQ = 4, HKV = 2, D = 64, BS = 16, NB = 12, MAXB = 4 };

static const int32_t kLens[B] = {37, 1, 50};
static const int32_t kTable[B * MAXB] = {3, 7, 4, -1, 0, -1, -1, -1, 11, 2, 5, 9};

static int supported(mk_status s, const char *what, const char *dev) {
    if (s != MK_ERR_UNSUPPORTED) return 1;
    printf("  [skip] %s on %s: %s\n", what, dev, mk_last_error());
    return 0;
}

/* Same bits in two device tensors of the same shape. */
static void same_bits(const mk_tensor *a, const mk_tensor *b, const char *what) {
    const size_t n = mkt_numel(a);
    float *x = mkt_alloc(n * 4), *y = mkt_alloc(n * 4);
    mkt_download(a, x), mkt_download(b, y);
    MKT_CHECK(memcmp(x, y, n * 4) == 0, "%s: plan + run differs from the one-shot call", what);
    free(x), free(y);
}

static mk_kv_cache *new_cache(mk_context *ctx, mk_dtype t) {
    mk_kv_cache_desc cd = {NB, BS, HKV, D, t};
    mk_kv_cache *c = NULL;
    MKT_OK(mk_kv_cache_create(ctx, &cd, &c));
    return c;
}

/* ---- a decode step and a prefill, one-shot and as plan + run */

static void decode_step(mk_context *ctx, const char *dev) {
    const int32_t pos[B] = {36, 0, 49};
    const int32_t slots[B] = {4 * BS + 36 % BS, 0, 9 * BS + 49 % BS}; /* the last token's slot */
    const int32_t pairs[2 * 2] = {3, 8, 0, 10};
    const int64_t qs[3] = {B, HQ, D}, ks[3] = {B, HKV, D}, ps[1] = {B}, bts[2] = {B, MAXB}, prs[2] = {2, 2};
    float *q = mkt_random(MK_F16, (size_t)B * HQ * D, 1.0f, 4.0f), *k = mkt_random(MK_F16, (size_t)B * HKV * D, 1.0f, 4.0f);
    float *fill = mkt_random(MK_F16, (size_t)NB * BS * HKV * D, 1.0f, 4.0f);
    mk_tensor tpos = mkt_upload_i32(ctx, 1, ps, pos), tslots = mkt_upload_i32(ctx, 1, ps, slots);
    mk_tensor tbt = mkt_upload_i32(ctx, 2, bts, kTable), tcl = mkt_upload_i32(ctx, 1, ps, kLens);
    mk_tensor tpairs = mkt_upload_i32(ctx, 2, prs, pairs);
    const mk_rope_params rp = {MK_ROPE_HALF, 10000.0f, 0, MK_ROPE_SCALING_NONE, 0, 0, 0, 0};
    const mk_attn_params ap = {0.0f, 0, 40, 0.0f}; /* a window shorter than the longest context */
    mk_tensor out[2], qt[2], kt[2];
    mk_kv_cache *cache[2];
    int ok = 1;
    for (int way = 0; way < 2 && ok; way++) { /* 0: one-shot calls, 1: plans + runs */
        qt[way] = mkt_upload(ctx, MK_F16, 3, qs, q), kt[way] = mkt_upload(ctx, MK_F16, 3, ks, k);
        out[way] = mkt_output(ctx, MK_F16, 3, qs);
        cache[way] = new_cache(ctx, MK_F16);
        const int64_t all[3] = {NB * BS, HKV, D};
        int32_t *every = mkt_alloc((size_t)NB * BS * 4);
        for (int i = 0; i < NB * BS; i++) every[i] = i;
        mk_tensor tf = mkt_upload(ctx, MK_F16, 3, all, fill), tev = mkt_upload_i32(ctx, 1, (int64_t[]){NB * BS}, every);
        mk_status s = mk_kv_cache_append(ctx, cache[way], &tf, &tf, &tev);
        free(every);
        mkt_free(&tf), mkt_free(&tev);
        if (!supported(s, "kv_append", dev)) {
            ok = 0;
            break;
        }
        MKT_OK(s);
        if (way == 0) {
            if (!supported(s = mk_rope(ctx, &qt[0], &tpos, &rp), "rope", dev)) { ok = 0; break; }
            MKT_OK(s);
            MKT_OK(mk_rope(ctx, &kt[0], &tpos, &rp));
            MKT_OK(mk_kv_cache_append(ctx, cache[0], &kt[0], &kt[0], &tslots));
            const mk_sync_counters before = mkt_sync_counts(ctx);
            if (!supported(s = mk_attention_decode(ctx, &qt[0], cache[0], &tbt, &tcl, &ap, &out[0]), "decode", dev)) {
                ok = 0;
                break;
            }
            MKT_OK(s);
            /* the counters see what a one-shot call costs: its two index arrays read back */
            const mk_sync_counters after = mkt_sync_counts(ctx);
            MKT_CHECK(after.readbacks == before.readbacks + 2, "%s: one-shot decode counted %llu readbacks (want 2)",
                      dev, (unsigned long long)(after.readbacks - before.readbacks));
            MKT_OK(mk_kv_cache_copy_blocks(ctx, cache[0], &tpairs));
            continue;
        }
        mk_plan *prope = NULL, *pappend = NULL, *pdecode = NULL, *pcopy = NULL;
        const mk_decode_plan_desc dd = {B, MAXB, kTable, kLens, cache[1], HQ, MK_F16, ap};
        MKT_OK(mk_rope_plan_create(ctx, pos, B, &prope));
        MKT_OK(mk_kv_append_plan_create(ctx, cache[1], slots, B, &pappend));
        MKT_OK(mk_decode_plan_create(ctx, &dd, &pdecode));
        MKT_OK(mk_kv_copy_plan_create(ctx, cache[1], pairs, 2, &pcopy));
        if (!prope || !pappend || !pdecode || !pcopy) ok = 0;
        if (ok) {
            const mk_sync_counters before = mkt_sync_counts(ctx);
            MKT_OK(mk_rope_run(ctx, prope, &qt[1], &rp));
            MKT_OK(mk_rope_run(ctx, prope, &kt[1], &rp));
            MKT_OK(mk_kv_cache_append_run(ctx, pappend, cache[1], &kt[1], &kt[1]));
            MKT_OK(mk_attention_decode_run(ctx, pdecode, &qt[1], cache[1], &out[1]));
            MKT_OK(mk_kv_cache_copy_blocks_run(ctx, pcopy, cache[1]));
            char what[96];
            snprintf(what, sizeof what, "%s: a decode step of run calls", dev);
            mkt_check_no_sync(ctx, &before, what);
            MKT_CHECK(mk_plan_device_bytes(pdecode) >= sizeof kTable + sizeof kLens, "%s: decode plan holds %zu device bytes",
                      dev, mk_plan_device_bytes(pdecode));
        }
        mk_plan_destroy(prope), mk_plan_destroy(pappend), mk_plan_destroy(pdecode), mk_plan_destroy(pcopy);
    }
    if (ok) {
        char what[96];
        snprintf(what, sizeof what, "%s decode step (rope q)", dev);
        same_bits(&qt[0], &qt[1], what);
        snprintf(what, sizeof what, "%s decode step (out)", dev);
        same_bits(&out[0], &out[1], what);
        uint16_t *b0 = mkt_alloc((size_t)BS * HKV * D * 2), *b1 = mkt_alloc((size_t)BS * HKV * D * 2);
        for (int blk = 0; blk < NB; blk++) {
            MKT_OK(mk_kv_cache_read_block(cache[0], blk, b0, NULL, NULL, NULL));
            MKT_OK(mk_kv_cache_read_block(cache[1], blk, b1, NULL, NULL, NULL));
            MKT_CHECK(memcmp(b0, b1, (size_t)BS * HKV * D * 2) == 0, "%s: cache block %d differs", dev, blk);
        }
        free(b0), free(b1);
    }
    for (int way = 0; way < 2; way++) {
        if (!ok && way > 0) break;
        mkt_free(&qt[way]), mkt_free(&kt[way]), mkt_free(&out[way]);
        mk_kv_cache_destroy(cache[way]);
    }
    mkt_free(&tpos), mkt_free(&tslots), mkt_free(&tbt), mkt_free(&tcl), mkt_free(&tpairs);
    free(q), free(k), free(fill);
}

static void prefill(mk_context *ctx, const char *dev) {
    const int32_t cu_q[B + 1] = {0, 5, 5, 22}, cu_k[B + 1] = {0, 9, 12, 29};
    const int64_t T = 22, Tk = 29, qs[3] = {T, HQ, D}, ks[3] = {Tk, HKV, D}, cs[1] = {B + 1}, ls[2] = {T, HQ};
    float *q = mkt_random(MK_BF16, (size_t)T * HQ * D, 1.0f, 4.0f), *k = mkt_random(MK_BF16, (size_t)Tk * HKV * D, 1.0f, 4.0f);
    mk_tensor tq = mkt_upload(ctx, MK_BF16, 3, qs, q), tk = mkt_upload(ctx, MK_BF16, 3, ks, k);
    mk_tensor tcq = mkt_upload_i32(ctx, 1, cs, cu_q), tck = mkt_upload_i32(ctx, 1, cs, cu_k);
    mk_tensor o0 = mkt_output(ctx, MK_BF16, 3, qs), o1 = mkt_output(ctx, MK_BF16, 3, qs);
    mk_tensor l0 = mkt_output(ctx, MK_F32, 2, ls), l1 = mkt_output(ctx, MK_F32, 2, ls);
    const mk_attn_params ap = {0.0f, 1, 6, 0.0f};
    mk_status s = mk_attention_prefill(ctx, &tq, &tk, &tk, &tcq, &tck, &ap, &o0, &l0);
    if (supported(s, "prefill", dev)) {
        MKT_OK(s);
        const mk_prefill_plan_desc pd = {B, cu_q, cu_k, HQ, HKV, D, MK_BF16, ap};
        mk_plan *plan = NULL;
        MKT_OK(mk_prefill_plan_create(ctx, &pd, &plan));
        char what[96];
        snprintf(what, sizeof what, "%s prefill run", dev);
        if (plan && plan->work.tile_rows > 0) { /* the tile map: every tile once, most keys first */
            const int R = plan->work.tile_rows;
            int64_t want = 0;
            for (int b = 0; b < B; b++) want += (cu_q[b + 1] - cu_q[b] + R - 1) / R;
            MKT_CHECK(plan->work.num_tiles == want, "%s: %lld tiles of %d rows (want %lld)", what,
                      (long long)plan->work.num_tiles, R, (long long)want);
            if (plan->work.num_tiles == want) {
                int32_t *map = mkt_alloc((size_t)want * 8);
                MKT_OK(mk_buffer_read(plan->workspace, 0, map, (size_t)want * 8));
                int seen[64] = {0}, bad = 0;
                int64_t prev = INT64_MAX;
                for (int64_t i = 0; i < want; i++) {
                    const int b = map[2 * i], q0 = map[2 * i + 1];
                    const int sq = b >= 0 && b < B ? cu_q[b + 1] - cu_q[b] : 0, sk = b >= 0 && b < B ? cu_k[b + 1] - cu_k[b] : 0;
                    if (q0 < 0 || q0 >= sq || q0 % R || b * 16 + q0 / R >= 64) {
                        bad++;
                        continue;
                    }
                    seen[b * 16 + q0 / R]++;
                    /* keys the tile's rows see (causal, window 6): the last row's range */
                    const int rows = sq - q0 < R ? sq - q0 : R, shift = sk - sq;
                    int64_t hi = q0 + rows + shift, lo = q0 + shift - ap.window + 1;
                    if (hi > sk) hi = sk;
                    if (lo < 0) lo = 0;
                    const int64_t work = (int64_t)rows * (hi > lo ? hi - lo : 0);
                    bad += work > prev;
                    prev = work;
                }
                for (int i = 0; i < 64; i++) bad += seen[i] > 1;
                MKT_CHECK(bad == 0, "%s: the tile map is not every tile once, most work first (%d bad)", what, bad);
                free(map);
            }
        }
        const mk_sync_counters before = mkt_sync_counts(ctx);
        MKT_OK(mk_attention_prefill_run(ctx, plan, &tq, &tk, &tk, &o1, &l1));
        mkt_check_no_sync(ctx, &before, what);
        same_bits(&o0, &o1, what);
        same_bits(&l0, &l1, what);
        /* the run's q must have the plan's total */
        mk_tensor shortq = tq;
        shortq.shape[0] = T - 1;
        mk_tensor shorto = o1;
        shorto.shape[0] = T - 1;
        MKT_FAILS(MK_ERR_INVALID_ARGUMENT, "q.shape[0] is 21 but the plan's cu_seqlens_q[B] is 22",
                  mk_attention_prefill_run(ctx, plan, &shortq, &tk, &tk, &shorto, NULL));
        mk_plan_destroy(plan);
    }
    mkt_free(&tq), mkt_free(&tk), mkt_free(&tcq), mkt_free(&tck), mkt_free(&o0), mkt_free(&o1), mkt_free(&l0), mkt_free(&l1);
    free(q), free(k);
}

/* ---- validation at plan creation and at run */

static void plan_errors(mk_context *ctx, mk_context *other) {
    mk_kv_cache *cache = new_cache(ctx, MK_F16);
    mk_plan *p = (mk_plan *)&p; /* must come back NULL on failure */
    const mk_attn_params ap = {0};
    int32_t bt[B * MAXB], lens[B];
    memcpy(bt, kTable, sizeof bt), memcpy(lens, kLens, sizeof lens);
    mk_decode_plan_desc dd = {B, MAXB, bt, lens, cache, HQ, MK_F16, ap};
    bt[1] = NB;
    MKT_FAILS(MK_ERR_INVALID_ARGUMENT, "block_table[0][1] is 12 (must be in [0, 12) = num_blocks)",
              mk_decode_plan_create(ctx, &dd, &p));
    MKT_CHECK(p == NULL, "a failed plan creation left *out set");
    bt[1] = kTable[1], lens[2] = MAXB * BS + 1;
    MKT_FAILS(MK_ERR_INVALID_ARGUMENT, "context_lens[2] is 65 (must be in [0, 64]", mk_decode_plan_create(ctx, &dd, &p));
    lens[2] = kLens[2];
    dd.num_q_heads = 3;
    MKT_FAILS(MK_ERR_INVALID_ARGUMENT, "desc->num_q_heads is 3", mk_decode_plan_create(ctx, &dd, &p));
    dd.num_q_heads = HQ, dd.params.window = -1;
    MKT_FAILS(MK_ERR_INVALID_ARGUMENT, "params->window is -1", mk_decode_plan_create(ctx, &dd, &p));
    dd.params.window = 0, dd.cache = NULL;
    MKT_FAILS(MK_ERR_INVALID_ARGUMENT, "cache is NULL", mk_decode_plan_create(ctx, &dd, &p));
    MKT_FAILS(MK_ERR_INVALID_ARGUMENT, "desc is NULL", mk_decode_plan_create(ctx, NULL, &p));
    MKT_FAILS(MK_ERR_INVALID_ARGUMENT, "out is NULL", mk_decode_plan_create(ctx, &dd, NULL));

    const int32_t cq_bad[3] = {0, 4, 3}, ck[3] = {0, 1, 2};
    mk_prefill_plan_desc pd = {2, cq_bad, ck, HQ, HKV, D, MK_F16, ap};
    MKT_FAILS(MK_ERR_INVALID_ARGUMENT, "cu_seqlens_q[2] = 3 is less than cu_seqlens_q[1] = 4",
              mk_prefill_plan_create(ctx, &pd, &p));
    const int32_t cq_one[3] = {1, 4, 5};
    pd.cu_seqlens_q = cq_one;
    MKT_FAILS(MK_ERR_INVALID_ARGUMENT, "cu_seqlens_q[0] is 1 (must be 0)", mk_prefill_plan_create(ctx, &pd, &p));

    const int32_t dup[3] = {5, -1, 5}, far[2] = {0, NB * BS}, neg[2] = {3, -2};
    MKT_FAILS(MK_ERR_INVALID_ARGUMENT, "slot_mapping names slot 5 more than once",
              mk_kv_append_plan_create(ctx, cache, dup, 3, &p));
    MKT_FAILS(MK_ERR_INVALID_ARGUMENT, "slot_mapping[1] is 192", mk_kv_append_plan_create(ctx, cache, far, 2, &p));
    MKT_FAILS(MK_ERR_INVALID_ARGUMENT, "positions[1] is -2 (must be >= 0)", mk_rope_plan_create(ctx, neg, 2, &p));
    MKT_FAILS(MK_ERR_INVALID_ARGUMENT, "n is 0", mk_rope_plan_create(ctx, neg, 0, &p));
    MKT_FAILS(MK_ERR_INVALID_ARGUMENT, "positions is NULL", mk_rope_plan_create(ctx, NULL, 2, &p));
    const int32_t self_copy[4] = {1, 2, 2, 3};
    MKT_FAILS(MK_ERR_INVALID_ARGUMENT, "pairs[1][0] = 2 is also a destination block",
              mk_kv_copy_plan_create(ctx, cache, self_copy, 2, &p));
    MKT_CHECK(p == NULL, "a failed plan creation left *out set");

    /* runs against their plans */
    const int32_t pos[B] = {1, 2, 3};
    mk_plan *rope = NULL, *dec = NULL;
    MKT_OK(mk_rope_plan_create(ctx, pos, B, &rope));
    dd.cache = cache;
    mk_status ds = mk_decode_plan_create(ctx, &dd, &dec);
    if (ds != MK_ERR_UNSUPPORTED) MKT_OK(ds); /* the threads backend has no decode */
    const int64_t qs[3] = {B, HQ, D}, q2[3] = {B - 1, HQ, D};
    mk_tensor q = mkt_output(ctx, MK_F16, 3, qs), o = mkt_output(ctx, MK_F16, 3, qs);
    mk_tensor qsmall = mkt_output(ctx, MK_F16, 3, q2), q32 = mkt_output(ctx, MK_F32, 3, qs);
    mk_tensor o32 = mkt_output(ctx, MK_F32, 3, qs);
    const mk_rope_params rp = {0};
    MKT_FAILS(MK_ERR_INVALID_ARGUMENT, "plan is NULL", mk_attention_decode_run(ctx, NULL, &q, cache, &o));
    MKT_FAILS(MK_ERR_INVALID_ARGUMENT, "plan was made for rope, not attention_decode",
              mk_attention_decode_run(ctx, rope, &q, cache, &o));
    MKT_FAILS(MK_ERR_INVALID_ARGUMENT, "x.shape[0] is 2 but the plan has 3 positions", mk_rope_run(ctx, rope, &qsmall, &rp));
    if (dec)
        MKT_FAILS(MK_ERR_INVALID_ARGUMENT, "q.dtype is f32 but the plan is for f16",
                  mk_attention_decode_run(ctx, dec, &q32, cache, &o32));
    mk_kv_cache *other_shape = NULL;
    mk_kv_cache_desc od = {NB + 1, BS, HKV, D, MK_F16};
    MKT_OK(mk_kv_cache_create(ctx, &od, &other_shape));
    if (dec)
        MKT_FAILS(MK_ERR_INVALID_ARGUMENT, "cache (13 blocks of 16", mk_attention_decode_run(ctx, dec, &q, other_shape, &o));
    if (other) {
        mk_tensor oq = mkt_output(other, MK_F16, 3, qs);
        MKT_FAILS(MK_ERR_INVALID_ARGUMENT, "plan belongs to another context", mk_rope_run(other, rope, &oq, &rp));
        mkt_free(&oq);
    }
    mk_kv_cache_destroy(other_shape);
    mk_plan_destroy(rope), mk_plan_destroy(dec);
    mk_plan_destroy(NULL);
    mkt_free(&q), mkt_free(&o), mkt_free(&qsmall), mkt_free(&q32), mkt_free(&o32);
    mk_kv_cache_destroy(cache);
}

/* ---- a plan's device copy overwritten behind its back */

static void tampered(mk_context *ctx, const char *dev) {
    mk_kv_cache *cache = new_cache(ctx, MK_F16);
    const int64_t qs[3] = {B, HQ, D}, ks[3] = {B, HKV, D};
    mk_buffer *qb = mkt_buffer(ctx, (size_t)B * HQ * D * 2), *ob = mkt_buffer(ctx, (size_t)B * HQ * D * 2);
    mk_buffer *kb = mkt_buffer(ctx, (size_t)B * HKV * D * 2);
    MKT_OK(mk_buffer_fill(qb, 0, 0x11, (size_t)B * HQ * D * 2));
    MKT_OK(mk_buffer_fill(kb, 0, 0x22, (size_t)B * HKV * D * 2));
    mk_tensor q = mk_tensor_make(qb, 0, MK_F16, 3, qs), o = mk_tensor_make(ob, 0, MK_F16, 3, qs);
    mk_tensor k = mk_tensor_make(kb, 0, MK_F16, 3, ks);
    const int32_t pos[B] = {0, 1, 2}, slots[B] = {0, 1, 2}, pairs[2] = {0, 1};
    const mk_attn_params none = {0};
    const mk_decode_plan_desc dd = {B, MAXB, kTable, kLens, cache, HQ, MK_F16, none};
    const int32_t cu[B + 1] = {0, 1, 2, 3};
    const mk_prefill_plan_desc pd = {B, cu, cu, HQ, HKV, D, MK_F16, none};
    mk_plan *plans[5] = {NULL};
    mk_status ds = mk_decode_plan_create(ctx, &dd, &plans[0]);
    if (ds != MK_ERR_UNSUPPORTED) MKT_OK(ds); /* the threads backend has no decode */
    MKT_OK(mk_kv_append_plan_create(ctx, cache, slots, B, &plans[1]));
    MKT_OK(mk_rope_plan_create(ctx, pos, B, &plans[2]));
    MKT_OK(mk_kv_copy_plan_create(ctx, cache, pairs, 1, &plans[3]));
    mk_status ps = mk_prefill_plan_create(ctx, &pd, &plans[4]);
    const int32_t garbage[4] = {INT32_MAX, -7, INT32_MIN, 1 << 30};
    for (int i = 0; i < 5; i++) {
        if (!plans[i]) continue;
        MKT_CHECK(plans[i]->device_copy != NULL, "%s: plan %d has no device copy", dev, i);
        /* the index copy, and the prefill plan's tile map */
        mk_buffer *dc[2] = {plans[i]->device_copy, i == 4 ? plans[i]->workspace : NULL};
        for (int j = 0; j < 2; j++) {
            if (!dc[j]) continue;
            const size_t n = mk_buffer_size(dc[j]) / 4;
            int32_t *g = mkt_alloc(n * 4);
            for (size_t e = 0; e < n; e++) g[e] = garbage[e % 4];
            MKT_OK(mk_buffer_write(dc[j], 0, g, n * 4));
            free(g);
        }
    }
    const mk_rope_params rp = {0};
    mk_status s;
    /* The run either completes or reports an error; it never writes outside o, k, q or
       the pool (guard bytes here; ASan / Oclgrind / the emulator in their stages). */
    if (plans[0]) s = mk_attention_decode_run(ctx, plans[0], &q, cache, &o), (void)s;
    if (plans[1]) s = mk_kv_cache_append_run(ctx, plans[1], cache, &k, &k), (void)s;
    if (plans[2]) s = mk_rope_run(ctx, plans[2], &q, &rp), (void)s;
    if (plans[3]) s = mk_kv_cache_copy_blocks_run(ctx, plans[3], cache), (void)s;
    if (ps == MK_OK && plans[4]) s = mk_attention_prefill_run(ctx, plans[4], &q, &k, &k, &o, NULL), (void)s;
    MKT_OK(mk_synchronize(ctx));
    char what[96];
    snprintf(what, sizeof what, "%s: runs over tampered plans (q)", dev);
    mkt_guard_ok(qb, (size_t)B * HQ * D * 2, what);
    snprintf(what, sizeof what, "%s: runs over tampered plans (out)", dev);
    mkt_guard_ok(ob, (size_t)B * HQ * D * 2, what);
    snprintf(what, sizeof what, "%s: runs over tampered plans (k)", dev);
    mkt_guard_ok(kb, (size_t)B * HKV * D * 2, what);
    for (int i = 0; i < 5; i++) mk_plan_destroy(plans[i]);
    mk_buffer_free(qb), mk_buffer_free(ob), mk_buffer_free(kb);
    mk_kv_cache_destroy(cache);
}

/* ---- {0} params are the defaults */

static void zero_defaults(mk_context *ctx, const char *dev) {
    const int64_t T = 9, qs[3] = {T, HQ, D}, ks[3] = {T, HKV, D}, cs[1] = {2};
    const int32_t cu[2] = {0, (int32_t)T};
    float *q = mkt_random(MK_F32, (size_t)T * HQ * D, 1.0f, 2.0f), *k = mkt_random(MK_F32, (size_t)T * HKV * D, 1.0f, 2.0f);
    float *v = mkt_random(MK_F32, (size_t)T * HKV * D, 1.0f, 2.0f);
    mk_tensor tq = mkt_upload(ctx, MK_F32, 3, qs, q), tk = mkt_upload(ctx, MK_F32, 3, ks, k);
    mk_tensor tv = mkt_upload(ctx, MK_F32, 3, ks, v), tc = mkt_upload_i32(ctx, 1, cs, cu);
    mk_tensor oz = mkt_output(ctx, MK_F32, 3, qs), ox = mkt_output(ctx, MK_F32, 3, qs);
    const mk_attn_params zero = {0};
    const mk_attn_params expl = {1.0f / sqrtf((float)D), 0, 0, 0.0f};
    mk_status s = mk_attention_prefill(ctx, &tq, &tk, &tv, &tc, &tc, &zero, &oz, NULL);
    char what[96];
    if (supported(s, "prefill {0}", dev)) {
        MKT_OK(s);
        MKT_OK(mk_attention_prefill(ctx, &tq, &tk, &tv, &tc, &tc, &expl, &ox, NULL));
        snprintf(what, sizeof what, "%s prefill with {0} params vs scale 1/sqrt(D)", dev);
        same_bits(&oz, &ox, what);
        /* every query sees every key: the full softmax, in double, written out here */
        const size_t n = (size_t)T * HQ * D;
        float *out = mkt_alloc(n * 4), *ref = mkt_alloc(n * 4);
        mkt_download(&oz, out);
        for (int64_t i = 0; i < T; i++)
            for (int h = 0; h < HQ; h++) {
                const int hk = h / (HQ / HKV);
                double sc[16], m = -INFINITY, l = 0;
                for (int64_t j = 0; j < T; j++) {
                    double dot = 0;
                    for (int d = 0; d < D; d++) dot += (double)q[(i * HQ + h) * D + d] * k[(j * HKV + hk) * D + d];
                    sc[j] = dot / sqrt((double)D);
                    if (sc[j] > m) m = sc[j];
                }
                for (int64_t j = 0; j < T; j++) l += exp(sc[j] - m);
                for (int d = 0; d < D; d++) {
                    double acc = 0;
                    for (int64_t j = 0; j < T; j++) acc += exp(sc[j] - m) * v[(j * HKV + hk) * D + d];
                    ref[(i * HQ + h) * D + d] = (float)(acc / l);
                }
            }
        snprintf(what, sizeof what, "%s prefill with {0} params vs full attention", dev);
        mkt_compare(what, out, ref, n, mkt_tol(MK_F32), 0);
        free(out), free(ref);
    }
    /* rope: {0} and LLAMA3 with zero factors */
    const int64_t ps[1] = {T};
    int32_t pos[9] = {0, 1, 2, 3, 100, 1000, 5000, 9000, 20000};
    mk_tensor tp = mkt_upload_i32(ctx, 1, ps, pos);
    const mk_rope_params r0 = {0}, rx = {MK_ROPE_HALF, 10000.0f, D, MK_ROPE_SCALING_NONE, 0, 0, 0, 0};
    const mk_rope_params l0 = {MK_ROPE_HALF, 500000.0f, 0, MK_ROPE_SCALING_LLAMA3, 0, 0, 0, 0};
    const mk_rope_params lx = {MK_ROPE_HALF, 500000.0f, 0, MK_ROPE_SCALING_LLAMA3, 8.0f, 1.0f, 4.0f, 8192};
    const mk_rope_params *pairs[2][2] = {{&r0, &rx}, {&l0, &lx}};
    for (int c = 0; c < 2; c++) {
        mk_tensor a = mkt_upload(ctx, MK_F32, 3, qs, q), b = mkt_upload(ctx, MK_F32, 3, qs, q);
        s = mk_rope(ctx, &a, &tp, pairs[c][0]);
        if (supported(s, "rope {0}", dev)) {
            MKT_OK(s);
            MKT_OK(mk_rope(ctx, &b, &tp, pairs[c][1]));
            snprintf(what, sizeof what, "%s rope %s with zero fields vs their defaults", dev, c ? "llama3" : "{0}");
            same_bits(&a, &b, what);
        }
        mkt_free(&a), mkt_free(&b);
    }
    mkt_free(&tq), mkt_free(&tk), mkt_free(&tv), mkt_free(&tc), mkt_free(&oz), mkt_free(&ox), mkt_free(&tp);
    free(q), free(k), free(v);
}

int main(int argc, char **argv) {
    mkt_init(argc, argv, "test_plans");
    int count = 0;
    MKT_OK(mk_device_count(&count));
    mk_context *ref = NULL;
    MKT_OK(mk_context_create("ref", &ref));
    for (int i = 0; i < count; i++) {
        mk_device_info info;
        MKT_OK(mk_device_get_info(i, &info));
        mk_context *ctx = NULL;
        if (mk_context_create(info.id, &ctx) != MK_OK) {
            printf("  [skip] %s: %s\n", info.id, mk_last_error());
            continue;
        }
        printf("  %s (%s)\n", info.id, info.name);
        decode_step(ctx, info.id);
        prefill(ctx, info.id);
        plan_errors(ctx, i == 0 ? NULL : ref);
        tampered(ctx, info.id);
        zero_defaults(ctx, info.id);
        mk_context_destroy(ctx);
    }
    mk_context_destroy(ref);
    return mkt_finish();
}
