/*
 * OpenCL attention variants against the reference, on every OpenCL device, every
 * variant forced in turn:
 *  1. prefill: varlen batches (empty sequences, queries without keys, Sq != Sk), D 8..256,
 *     GQA 1/4/8, causal / window / softcap / scale, F32/F16/BF16, strided q/k/v views
 *     into a fused QKV buffer, up to 1000 tokens; output and LSE checked, rows that see
 *     no key must be exactly 0 / -inf;
 *  2. decode over the paged cache in all five cache dtypes (block sizes 1/16/32,
 *     shuffled blocks, contexts 0..1200 so long ones are split), against the reference
 *     decode on the very cache the device holds (read back);
 *  3. determinism: a second run gives the same bits.
 * Outputs are poisoned before each run and their guard bytes checked after.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mktest.h"

static const char *dname(mk_dtype t) { return mk_dtype_name(t); }

/* Names of the OpenCL variants of op. */
static int ocl_variants(mk_op op, const char *names[], int cap) {
    mk_kernel_info info[64];
    int count = 0, n = 0;
    mk_kernel_list(op, info, 64, &count);
    for (int i = 0; i < count && i < 64; i++)
        if (strcmp(info[i].backend, "opencl") == 0 && n < cap) names[n++] = info[i].name;
    return n;
}

/* ------------------------------------------------------------ prefill */

typedef struct {
    mk_dtype t;
    int D, Hq, Hkv, B;
    int sq[4], sk[4];
    int causal, window;
    float softcap, scale;
    int fused; /* q, k, v as views into one [T][Hq + 2 Hkv][D] buffer (needs Sq == Sk) */
} pcase;

static const pcase kPrefill[] = {
    {MK_F32, 64, 8, 2, 4, {7, 1, 0, 33}, {7, 33, 5, 20}, 1, -1, 0.0f, 0.0f, 0},
    {MK_F16, 80, 3, 3, 4, {1, 33, 0, 7}, {1, 33, 0, 40}, 1, 5, 0.0f, 0.0f, 0},
    {MK_BF16, 96, 16, 2, 3, {20, 5, 9}, {20, 0, 9}, 0, -1, 30.0f, 0.15f, 0},
    {MK_F16, 128, 4, 1, 1, {1000}, {1000}, 1, -1, 0.0f, 0.0f, 0},
    {MK_F32, 256, 2, 1, 2, {33, 7}, {65, 7}, 0, 16, 0.0f, 0.0f, 0},
    {MK_BF16, 64, 4, 1, 3, {17, 1, 40}, {17, 1, 40}, 1, 8, 20.0f, 0.0f, 1},
    {MK_F16, 8, 8, 8, 2, {3, 50}, {9, 50}, 0, 2, 0.0f, 0.0f, 0},
    {MK_F32, 128, 8, 1, 2, {100, 64}, {130, 64}, 1, 31, 0.0f, 0.0f, 0},
};
/* MEDKERN_TEST_SMALL (mkt_small): D 64 and 96 (and 8), GQA 1 and 2, 1..40 tokens with
   more than one query and key tile (tiles 32x64 at D 64, 16x32 at D 96), empty sequences,
   Sq > Sk and Sq < Sk, causal, window, softcap, scale, the fused QKV views, F32/F16/BF16.
   Few heads: a simulator pays for every whole tile. */
static const pcase kSmallPrefill[] = {
    {MK_F32, 64, 4, 2, 3, {7, 0, 33}, {7, 5, 20}, 1, -1, 0.0f, 0.0f, 0},
    {MK_F16, 96, 2, 2, 2, {1, 33}, {1, 40}, 1, 5, 0.0f, 0.0f, 0},
    {MK_BF16, 96, 4, 2, 3, {20, 5, 9}, {20, 0, 9}, 0, -1, 30.0f, 0.15f, 0},
    {MK_BF16, 64, 2, 1, 3, {17, 1, 33}, {17, 1, 33}, 1, 8, 20.0f, 0.0f, 1},
    {MK_F16, 8, 8, 8, 2, {3, 7}, {9, 7}, 0, 2, 0.0f, 0.0f, 0},
};

static void run_prefill_case(mk_context *ctx, const char *dev, const char *variant, const pcase *c,
                             int ci) {
    mkref_rng r;
    mkt_rng(&r, 100 + (uint64_t)ci);
    int D = c->D, Hq = c->Hq, Hkv = c->Hkv, B = c->B;
    int32_t cu_q[5] = {0}, cu_k[5] = {0};
    for (int b = 0; b < B; b++) cu_q[b + 1] = cu_q[b] + c->sq[b], cu_k[b + 1] = cu_k[b] + c->sk[b];
    int64_t T = cu_q[B], Tk = cu_k[B];
    size_t nq = (size_t)T * Hq * D, nk = (size_t)Tk * Hkv * D;
    float *q = mkt_alloc(nq * 4), *k = mkt_alloc(nk * 4), *v = mkt_alloc(nk * 4);
    mkt_fill_normal(&r, q, nq, 1.0f, 8.0f);
    mkt_fill_normal(&r, k, nk, 1.0f, 8.0f);
    mkt_fill_normal(&r, v, nk, 1.0f, 4.0f);
    mkt_round(c->t, q, nq), mkt_round(c->t, k, nk), mkt_round(c->t, v, nk);
    mk_attn_params p = {c->scale, c->causal, c->window + 1, c->softcap};
    float *ref = mkt_alloc(nq * 4), *ref_lse = mkt_alloc((size_t)T * Hq * 4);
    mkref_attention_prefill(q, k, v, cu_q, cu_k, B, Hq, Hkv, D, &p, ref, ref_lse);

    /* Inputs: separate tensors, or views into one fused buffer. */
    mk_tensor tq, tk, tv, fused = {0};
    int64_t sq_[3] = {T, Hq, D}, sk_[3] = {Tk, Hkv, D};
    if (c->fused) {
        int H3 = Hq + 2 * Hkv;
        float *f = mkt_alloc((size_t)T * H3 * D * 4);
        for (int64_t t = 0; t < T; t++) {
            memcpy(f + (t * H3) * D, q + t * Hq * D, (size_t)Hq * D * 4);
            memcpy(f + (t * H3 + Hq) * D, k + t * Hkv * D, (size_t)Hkv * D * 4);
            memcpy(f + (t * H3 + Hq + Hkv) * D, v + t * Hkv * D, (size_t)Hkv * D * 4);
        }
        int64_t fs[3] = {T, H3, D};
        fused = mkt_upload(ctx, c->t, 3, fs, f);
        free(f);
        size_t es = mk_dtype_size(c->t);
        tq = mk_tensor_make(fused.buf, 0, c->t, 3, sq_);
        tk = mk_tensor_make(fused.buf, (size_t)Hq * D * es, c->t, 3, sk_);
        tv = mk_tensor_make(fused.buf, (size_t)(Hq + Hkv) * D * es, c->t, 3, sk_);
        tq.stride[0] = tk.stride[0] = tv.stride[0] = (int64_t)H3 * D;
    } else {
        tq = mkt_upload(ctx, c->t, 3, sq_, q);
        tk = mkt_upload(ctx, c->t, 3, sk_, k);
        tv = mkt_upload(ctx, c->t, 3, sk_, v);
    }
    int64_t bs[1] = {B + 1}, ls[2] = {T, Hq};
    mk_tensor tcq = mkt_upload_i32(ctx, 1, bs, cu_q), tck = mkt_upload_i32(ctx, 1, bs, cu_k);

    char what[640];
    snprintf(what, sizeof what,
             "%s %s prefill %s D=%d Hq=%d Hkv=%d causal=%d window=%d softcap=%g scale=%g fused=%d "
             "lens q/k %d/%d %d/%d %d/%d %d/%d", dev, variant, dname(c->t), D, Hq, Hkv, c->causal,
             c->window, (double)c->softcap, (double)c->scale, c->fused, c->sq[0], c->sk[0],
             c->sq[1], c->sk[1], c->sq[2], c->sk[2], c->sq[3], c->sk[3]);
    float *out = mkt_alloc(nq * 4), *lse = mkt_alloc((size_t)T * Hq * 4);
    float *out2 = mkt_alloc(nq * 4), *lse2 = mkt_alloc((size_t)T * Hq * 4);
    /* run 0: the one-shot call; run 1: plan + run, which must not read back or wait */
    for (int run = 0; run < 2; run++) {
        mk_tensor to = mkt_output(ctx, c->t, 3, sq_), tl = mkt_output(ctx, MK_F32, 2, ls);
        if (run == 0) {
            MKT_OK(mk_attention_prefill(ctx, &tq, &tk, &tv, &tcq, &tck, &p, &to, &tl));
        } else {
            const mk_prefill_plan_desc pd = {B, cu_q, cu_k, Hq, Hkv, D, c->t, p};
            mkt_prefill_via_plan(ctx, &pd, &tq, &tk, &tv, &to, &tl, what);
        }
        const char *last = mk_last_kernel(ctx, MK_OP_ATTENTION_PREFILL);
        MKT_CHECK(last && strcmp(last, variant) == 0, "%s: ran %s", what, last ? last : "nothing");
        mkt_download(&to, run ? out2 : out);
        mkt_download(&tl, run ? lse2 : lse);
        mkt_free(&to), mkt_free(&tl);
    }
    mkt_compare(what, out, ref, nq, mkt_tol(c->t), 0);
    char wl[700];
    snprintf(wl, sizeof wl, "%s (lse)", what);
    mkt_compare(wl, lse, ref_lse, (size_t)T * Hq, mkt_tol(MK_F32), 0);
    MKT_CHECK(memcmp(out, out2, nq * 4) == 0 && memcmp(lse, lse2, (size_t)T * Hq * 4) == 0,
              "%s: two runs differ", what);
    /* Rows that see no key: exactly +0 and -inf. */
    int bad = 0;
    for (int64_t i = 0; i < (int64_t)T * Hq; i++)
        if (ref_lse[i] == -INFINITY) {
            bad += lse[i] != -INFINITY;
            for (int d = 0; d < D; d++) bad += out[i * D + d] != 0.0f || signbit(out[i * D + d]);
        }
    MKT_CHECK(bad == 0, "%s: %d values of rows that see no key are not 0 / -inf", what, bad);

    /* Without lse: the same output bits. */
    mk_tensor to = mkt_output(ctx, c->t, 3, sq_);
    MKT_OK(mk_attention_prefill(ctx, &tq, &tk, &tv, &tcq, &tck, &p, &to, NULL));
    mkt_download(&to, out2);
    MKT_CHECK(memcmp(out, out2, nq * 4) == 0, "%s: output differs with lse = NULL", what);
    mkt_free(&to);

    if (c->fused) mkt_free(&fused);
    else mkt_free(&tq), mkt_free(&tk), mkt_free(&tv);
    mkt_free(&tcq), mkt_free(&tck);
    free(q), free(k), free(v), free(ref), free(ref_lse), free(out), free(lse), free(out2), free(lse2);
}

/* ------------------------------------------------------------ decode */

typedef struct {
    mk_dtype cache, qt;
    int D, Hq, Hkv, bs, B;
    int lens[4];
    int window;
    float softcap;
    int q_view; /* q as a view with a padded row stride */
} dcase;

static const dcase kDecode[] = {
    {MK_F32, MK_F32, 64, 8, 2, 16, 3, {0, 1, 700}, -1, 0.0f, 0},
    {MK_F16, MK_F16, 128, 8, 1, 1, 2, {33, 300}, 200, 0.0f, 1},
    {MK_BF16, MK_BF16, 80, 3, 3, 32, 2, {7, 1000}, -1, 10.0f, 0},
    {MK_I8, MK_F16, 256, 4, 1, 16, 1, {1200}, -1, 0.0f, 0},
    {MK_FP8_E4M3, MK_F32, 96, 16, 2, 32, 4, {1, 65, 0, 517}, 100, 0.0f, 1},
    {MK_I8, MK_F32, 64, 2, 2, 1, 3, {500, 3, 64}, -1, 0.0f, 0},
    {MK_FP8_E4M3, MK_F16, 128, 16, 2, 16, 1, {900}, -1, 0.0f, 0},
    {MK_F16, MK_BF16, 64, 16, 1, 16, 2, {129, 17}, -1, 0.0f, 0}, /* 16 heads per kv head */
    {MK_F16, MK_F16, 40, 4, 2, 16, 2, {50, 300}, -1, 0.0f, 0},   /* D % 16 != 0 */
};
/* MEDKERN_TEST_SMALL: every cache dtype, D 64 and 96 (and 40), block sizes 1 and 16,
   GQA 1..16 (two head groups at 16), empty contexts, one context long enough to split
   (above the 256-key minimum chunk of a GPU device), window, softcap, q views */
static const dcase kSmallDecode[] = {
    {MK_F32, MK_F32, 64, 8, 2, 16, 3, {0, 1, 300}, -1, 0.0f, 0},
    {MK_F16, MK_F16, 96, 8, 1, 1, 2, {33, 7}, 20, 0.0f, 1},
    {MK_BF16, MK_BF16, 96, 3, 3, 16, 2, {7, 33}, -1, 10.0f, 0},
    {MK_I8, MK_F16, 64, 4, 1, 16, 1, {33}, -1, 0.0f, 0},
    {MK_FP8_E4M3, MK_F32, 96, 16, 2, 1, 4, {1, 17, 0, 40}, 9, 0.0f, 1},
    {MK_F16, MK_BF16, 64, 16, 1, 16, 2, {33, 17}, -1, 0.0f, 0}, /* 16 heads per kv head */
    {MK_F16, MK_F16, 40, 4, 2, 16, 2, {7, 33}, -1, 0.0f, 0},    /* D % 16 != 0 */
};

static int g_decode_ran; /* cases the current decode variant ran (not rejected by supports()) */

static void run_decode_case(mk_context *ctx, const char *dev, const char *variant, const dcase *c,
                            int ci) {
    mkref_rng r;
    mkt_rng(&r, 500 + (uint64_t)ci);
    int D = c->D, Hq = c->Hq, Hkv = c->Hkv, bs = c->bs, B = c->B;
    int max_blocks = 0, total = 0;
    for (int b = 0; b < B; b++) {
        int nb = (c->lens[b] + bs - 1) / bs;
        if (nb > max_blocks) max_blocks = nb;
        total += nb;
    }
    max_blocks += 1; /* a spare column: the table is wider than any context */
    int num_blocks = total + 3;
    /* Blocks in shuffled physical order. */
    int32_t *perm = mkt_alloc((size_t)num_blocks * 4), *bt = mkt_alloc((size_t)B * max_blocks * 4);
    for (int i = 0; i < num_blocks; i++) perm[i] = i;
    for (int i = num_blocks - 1; i > 0; i--) {
        int j = (int)mkref_rng_range(&r, 0, i), t = perm[i];
        perm[i] = perm[j], perm[j] = t;
    }
    int used = 0;
    for (int b = 0; b < B; b++)
        for (int j = 0; j < max_blocks; j++)
            bt[b * max_blocks + j] = j < (c->lens[b] + bs - 1) / bs ? perm[used++] : perm[num_blocks - 1];

    mk_kv_cache_desc desc = {num_blocks, bs, Hkv, D, c->cache};
    mk_kv_cache *cache = NULL;
    MKT_OK(mk_kv_cache_create(ctx, &desc, &cache));
    if (!cache) return;
    /* Append every sequence's tokens at their slots (one call; a few padding tokens). */
    int T = 0;
    for (int b = 0; b < B; b++) T += c->lens[b];
    T += 2;
    float *k = mkt_alloc((size_t)T * Hkv * D * 4), *v = mkt_alloc((size_t)T * Hkv * D * 4);
    int32_t *slots = mkt_alloc((size_t)T * 4);
    mkt_fill_normal(&r, k, (size_t)T * Hkv * D, 1.0f, 8.0f);
    mkt_fill_normal(&r, v, (size_t)T * Hkv * D, 1.0f, 4.0f);
    int t = 0;
    for (int b = 0; b < B; b++)
        for (int i = 0; i < c->lens[b]; i++) slots[t++] = bt[b * max_blocks + i / bs] * bs + i % bs;
    slots[t++] = -1, slots[t++] = -1;
    mk_dtype kt = c->qt;
    int64_t ks[3] = {T, Hkv, D}, ss[1] = {T};
    mk_tensor tk = mkt_upload(ctx, kt, 3, ks, k), tv = mkt_upload(ctx, kt, 3, ks, v);
    mk_tensor tsl = mkt_upload_i32(ctx, 1, ss, slots);
    MKT_OK(mk_kv_cache_append(ctx, cache, &tk, &tv, &tsl));

    /* The reference reads the very cache the device holds. */
    size_t es = mk_dtype_size(c->cache), slot_vals = (size_t)bs * Hkv;
    mkref_kv_cache host = {desc, mkt_alloc((size_t)num_blocks * slot_vals * D * es),
                           mkt_alloc((size_t)num_blocks * slot_vals * D * es), NULL, NULL};
    int quant = c->cache == MK_I8 || c->cache == MK_FP8_E4M3;
    if (quant) {
        host.k_scale = mkt_alloc((size_t)num_blocks * slot_vals * 4);
        host.v_scale = mkt_alloc((size_t)num_blocks * slot_vals * 4);
    }
    for (int blk = 0; blk < num_blocks; blk++)
        MKT_OK(mk_kv_cache_read_block(cache, blk, (uint8_t *)host.k + blk * slot_vals * D * es,
                                      (uint8_t *)host.v + blk * slot_vals * D * es,
                                      quant ? host.k_scale + blk * slot_vals : NULL,
                                      quant ? host.v_scale + blk * slot_vals : NULL));

    size_t nq = (size_t)B * Hq * D;
    float *q = mkt_alloc(nq * 4), *ref = mkt_alloc(nq * 4);
    mkt_fill_normal(&r, q, nq, 1.0f, 8.0f);
    mkt_round(c->qt, q, nq);
    mk_attn_params p = {0.0f, 0, c->window + 1, c->softcap};
    mkref_attention_decode(q, &host, bt, max_blocks, c->lens, B, Hq, &p, ref);

    int64_t qs[3] = {B, Hq, D}, bts[2] = {B, max_blocks}, bsz[1] = {B};
    mk_tensor tq;
    if (c->q_view) { /* rows of Hq*D + 24 elements */
        int64_t rs = (int64_t)Hq * D + 24, ps[3] = {B, rs, 1};
        float *padded = mkt_alloc((size_t)B * rs * 4);
        for (size_t i = 0; i < (size_t)B * rs; i++) padded[i] = 1e30f;
        for (int b = 0; b < B; b++) memcpy(padded + b * rs, q + (size_t)b * Hq * D, (size_t)Hq * D * 4);
        tq = mkt_upload(ctx, c->qt, 3, ps, padded);
        free(padded);
        tq.shape[1] = Hq, tq.shape[2] = D;
        tq.stride[0] = rs, tq.stride[1] = D, tq.stride[2] = 1;
    } else {
        tq = mkt_upload(ctx, c->qt, 3, qs, q);
    }
    mk_tensor tbt = mkt_upload_i32(ctx, 2, bts, bt), tcl = mkt_upload_i32(ctx, 1, bsz, c->lens);

    char what[640];
    snprintf(what, sizeof what,
             "%s %s decode cache=%s q=%s D=%d Hq=%d Hkv=%d bs=%d window=%d softcap=%g lens %d %d %d %d",
             dev, variant, dname(c->cache), dname(c->qt), D, Hq, Hkv, bs, c->window,
             (double)c->softcap, c->lens[0], B > 1 ? c->lens[1] : -1, B > 2 ? c->lens[2] : -1,
             B > 3 ? c->lens[3] : -1);
    float *out = mkt_alloc(nq * 4), *out2 = mkt_alloc(nq * 4);
    int skipped = 0;
    /* run 0: the one-shot call; run 1: plan + run, which must not read back or wait */
    for (int run = 0; run < 2; run++) {
        mk_tensor to = mkt_output(ctx, c->qt, 3, qs);
        if (run == 0) {
            mk_status st = mk_attention_decode(ctx, &tq, cache, &tbt, &tcl, &p, &to);
            if (st == MK_ERR_UNSUPPORTED && strstr(mk_last_error(), variant)) { /* a shape it rejects */
                printf("  [skip] %s: %s\n", what, mk_last_error());
                mkt_free(&to);
                skipped = 1;
                break;
            }
            MKT_CHECK(st == MK_OK, "%s: %s: %s", what, mk_status_string(st), mk_last_error());
            g_decode_ran++;
        } else {
            const mk_decode_plan_desc pd = {B, max_blocks, bt, c->lens, cache, Hq, c->qt, p};
            mkt_decode_via_plan(ctx, &pd, &tq, cache, &to, what);
        }
        const char *last = mk_last_kernel(ctx, MK_OP_ATTENTION_DECODE);
        MKT_CHECK(last && strcmp(last, variant) == 0, "%s: ran %s", what, last ? last : "nothing");
        mkt_download(&to, run ? out2 : out);
        mkt_free(&to);
    }
    if (!skipped) {
        /* Quantized caches: against the reference on the same quantized cache (1e-3). */
        double tol = quant ? fmax(1e-3, mkt_tol(c->qt)) : mkt_tol(c->qt);
        mkt_compare(what, out, ref, nq, tol, 0);
        MKT_CHECK(memcmp(out, out2, nq * 4) == 0, "%s: two runs differ", what);
        int bad = 0;
        for (int b = 0; b < B; b++)
            if (c->lens[b] == 0)
                for (size_t i = 0; i < (size_t)Hq * D; i++) bad += out[b * (size_t)Hq * D + i] != 0.0f;
        MKT_CHECK(bad == 0, "%s: %d outputs of empty contexts are not 0", what, bad);
    }
    mkt_free(&tq), mkt_free(&tbt), mkt_free(&tcl), mkt_free(&tk), mkt_free(&tv), mkt_free(&tsl);
    mk_kv_cache_destroy(cache);
    free(host.k), free(host.v), free(host.k_scale), free(host.v_scale);
    free(perm), free(bt), free(k), free(v), free(slots), free(q), free(ref), free(out), free(out2);
}

int main(int argc, char **argv) {
    mkt_init(argc, argv, "test_opencl_attention");
    char ids[8][32];
    int ndev = mkt_devices("opencl", ids, 8);
    if (ndev == 0) mkt_skip("no OpenCL device");
    const char *pv[8], *dv[8];
    int npv = ocl_variants(MK_OP_ATTENTION_PREFILL, pv, 8);
    int ndv = ocl_variants(MK_OP_ATTENTION_DECODE, dv, 8);
    MKT_CHECK(npv > 0 && ndv > 0, "no OpenCL attention variants registered (%d prefill, %d decode)",
              npv, ndv);
    for (int di = 0; di < ndev; di++) {
        mk_context *ctx = NULL;
        MKT_OK(mk_context_create(ids[di], &ctx));
        if (!ctx) continue;
        const int small = mkt_small();
        const pcase *prefill = small ? kSmallPrefill : kPrefill;
        const dcase *decode = small ? kSmallDecode : kDecode;
        const int np = small ? (int)(sizeof kSmallPrefill / sizeof kSmallPrefill[0])
                             : (int)(sizeof kPrefill / sizeof kPrefill[0]);
        const int nd = small ? (int)(sizeof kSmallDecode / sizeof kSmallDecode[0])
                             : (int)(sizeof kDecode / sizeof kDecode[0]);
        for (int vi = 0; vi < npv; vi++) {
            MKT_OK(mk_set_kernel(ctx, MK_OP_ATTENTION_PREFILL, pv[vi]));
            for (int ci = 0; ci < np; ci++) run_prefill_case(ctx, ids[di], pv[vi], &prefill[ci], ci);
        }
        /* every decode variant, each on every case its supports() accepts, at least one */
        for (int vi = 0; vi < ndv; vi++) {
            if (!mkt_variant_on_device(ctx, MK_OP_ATTENTION_DECODE, dv[vi])) continue;
            MKT_OK(mk_set_kernel(ctx, MK_OP_ATTENTION_DECODE, dv[vi]));
            g_decode_ran = 0;
            for (int ci = 0; ci < nd; ci++) run_decode_case(ctx, ids[di], dv[vi], &decode[ci], ci);
            MKT_CHECK(g_decode_ran > 0, "%s: %s ran no decode case", ids[di], dv[vi]);
        }
        MKT_OK(mk_set_kernel(ctx, MK_OP_ATTENTION_DECODE, NULL));
        mk_context_destroy(ctx);
        /* unforced, with no tuning file: the work-item kernel on CPU devices, the
           work-group kernel elsewhere */
        const char *tf = getenv("MEDKERN_TUNING_FILE");
        char *saved = tf ? strdup(tf) : NULL;
        setenv("MEDKERN_TUNING_FILE", "/nonexistent/medkern-test/tuning.json", 1);
        MKT_OK(mk_context_create(ids[di], &ctx));
        if (ctx) {
            mk_device_info info;
            MKT_OK(mk_context_get_device(ctx, &info));
            char text[8192];
            MKT_OK(mk_explain(ctx, MK_OP_ATTENTION_DECODE, NULL, text, sizeof text));
            const char *want = info.type == MK_DEVICE_CPU ? "chosen: opencl.splitkv_decode_item"
                                                          : "chosen: opencl.splitkv_decode\n";
            MKT_CHECK(strstr(text, want) != NULL, "%s: the default decode variant: %s", ids[di], text);
            mk_context_destroy(ctx);
        }
        if (saved) setenv("MEDKERN_TUNING_FILE", saved, 1);
        else unsetenv("MEDKERN_TUNING_FILE");
        free(saved);
    }
    return mkt_finish();
}
