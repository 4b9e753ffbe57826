/*
 * The reference attention and KV cache against independent formulations:
 *  1. prefill vs an explicit long-double formulation (full masked score matrix);
 *  2. decode through a paged f32 cache vs the last row of each sequence's prefill;
 *  3. paged decode is bit-identical whatever the physical order of the blocks;
 *  4. I8/FP8 caches: the quantization rule, its error bound, and decode vs the explicit
 *     formula on the dequantized cache; F16/BF16 caches vs prefill on rounded inputs;
 *  5. append writes exactly its slots (slot -1 skipped), copy_blocks copies exactly.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mktest.h"

#define F32_TOL 1e-6

static void poison(float *x, size_t n) { memset(x, 0xFF, n * sizeof(float)); }

static size_t esize(mk_dtype t) { return t == MK_F32 ? 4 : t == MK_F16 || t == MK_BF16 ? 2 : 1; }

static const char *dname(mk_dtype t) {
    return t == MK_F32    ? "f32"
           : t == MK_F16  ? "f16"
           : t == MK_BF16 ? "bf16"
           : t == MK_I8   ? "i8"
                          : "fp8";
}

/* ------------------------------------------------------------ independent formulation */

/* The mask exactly as the contract states it. */
static int sees(const mk_attn_params *p, long i, long j, long sq, long sk) {
    return (!p->causal || j <= i + sk - sq) &&
           (p->window == 0 || j > i + sk - sq - p->window);
}

/* Per (sequence, head): the full Sq x Sk score matrix in long double, masked, softmaxed,
   times V. row_empty[t] = 1 when query token t sees no key. */
static void ref_ld(const float *q, const float *k, const float *v, const int32_t *cu_q,
                   const int32_t *cu_k, int B, int Hq, int Hkv, int D, const mk_attn_params *p,
                   float *out, float *lse, char *row_empty) {
    long double scale = p->scale != 0 ? (long double)p->scale : 1.0L / sqrtl((long double)D);
    for (int b = 0; b < B; b++) {
        long sq = cu_q[b + 1] - cu_q[b], sk = cu_k[b + 1] - cu_k[b];
        long double *S = mkt_alloc((size_t)(sq * sk + 1) * sizeof(long double));
        for (int h = 0; h < Hq; h++) {
            int hk = h / (Hq / Hkv);
            for (long i = 0; i < sq; i++) {
                const float *qi = q + ((cu_q[b] + i) * Hq + h) * D;
                long double mx = -INFINITY;
                for (long j = 0; j < sk; j++) {
                    const float *kj = k + ((cu_k[b] + j) * Hkv + hk) * D;
                    long double s = 0;
                    for (int d = 0; d < D; d++) s += (long double)qi[d] * kj[d];
                    s *= scale;
                    if (p->softcap > 0) s = p->softcap * tanhl(s / p->softcap);
                    S[i * sk + j] = sees(p, i, j, sq, sk) ? s : -INFINITY;
                    if (S[i * sk + j] > mx) mx = S[i * sk + j];
                }
                long t = cu_q[b] + i;
                float *o = out + (t * Hq + h) * D;
                row_empty[t] = mx == -INFINITY;
                if (row_empty[t]) {
                    for (int d = 0; d < D; d++) o[d] = 0;
                    if (lse) lse[t * Hq + h] = -INFINITY;
                    continue;
                }
                long double sum = 0;
                for (long j = 0; j < sk; j++) sum += expl(S[i * sk + j] - mx);
                for (int d = 0; d < D; d++) {
                    long double acc = 0;
                    for (long j = 0; j < sk; j++)
                        acc +=
                            expl(S[i * sk + j] - mx) / sum * v[((cu_k[b] + j) * Hkv + hk) * D + d];
                    o[d] = (float)acc;
                }
                if (lse) lse[t * Hq + h] = (float)(mx + logl(sum));
            }
        }
        free(S);
    }
}

/* ------------------------------------------------------------ 1. prefill */

static const int kDims[] = {64, 80, 96, 128, 256};
static const int kHeads[][2] = {{3, 3}, {8, 2}, {16, 2}, {4, 1}}; /* ratio 1, 4, 8, MQA */

static mk_attn_params mode_params(int mode, int D, mkref_rng *r) {
    mk_attn_params p = {0.0f, 0, 0, 0.0f};
    switch (mode) {
    case 1: p.causal = 1; break;
    case 2:
        p.causal = 1;
        p.window = (int)mkref_rng_range(r, 0, 4) + 1;
        break;
    case 3: p.window = (int)mkref_rng_range(r, 0, 4) + 1; break;
    case 4:
        p.causal = 1;
        p.softcap = 4.0f;
        p.scale = 2.0f / sqrtf((float)D);
        break;
    default: break;
    }
    return p;
}

static void test_prefill(void) {
    long empty_rows = 0;
    int ncase = 0;
    for (int di = 0; di < 5; di++)
        for (int hi = 0; hi < 4; hi++)
            for (int mode = 0; mode < 6; mode++, ncase++) {
                mkref_rng r;
                mkt_rng(&r, 1000 + (uint64_t)ncase);
                int D = kDims[di], Hq = kHeads[hi][0], Hkv = kHeads[hi][1], B = 4;
                int32_t sq[4], sk[4];
                if (mode == 5) { /* one long causal sequence, Sq = Sk */
                    B = 1;
                    sq[0] = sk[0] = 40;
                } else {
                    int n = (int)mkref_rng_range(&r, 1, 12);
                    int l1 = (int)mkref_rng_range(&r, 2, 12), l2 = (int)mkref_rng_range(&r, 2, 10);
                    int32_t lq[4] = {n, (int)mkref_rng_range(&r, 1, l1 - 1), l2, 0};
                    int32_t lk[4] = {n, l1, (int)mkref_rng_range(&r, 1, l2 - 1), 0};
                    if (ncase % 3 == 1)
                        lq[3] = 3; /* queries but no key */
                    else if (ncase % 3 == 2)
                        lk[3] = 5; /* keys but no query  */
                    int rot = (int)mkref_rng_range(&r, 0, 3);
                    for (int b = 0; b < 4; b++)
                        sq[b] = lq[(b + rot) % 4], sk[b] = lk[(b + rot) % 4];
                }
                mk_attn_params p = mode_params(mode == 5 ? 1 : mode, D, &r);
                int32_t cu_q[5] = {0}, cu_k[5] = {0};
                for (int b = 0; b < B; b++)
                    cu_q[b + 1] = cu_q[b] + sq[b], cu_k[b + 1] = cu_k[b] + sk[b];
                size_t T = (size_t)cu_q[B], Tk = (size_t)cu_k[B];
                size_t nq = T * Hq * D, nk = Tk * Hkv * D;
                float *q = mkt_alloc(nq * 4), *k = mkt_alloc(nk * 4), *v = mkt_alloc(nk * 4);
                float *out = mkt_alloc(nq * 4), *out2 = mkt_alloc(nq * 4), *ref = mkt_alloc(nq * 4);
                float *lse = mkt_alloc(T * Hq * 4), *ref_lse = mkt_alloc(T * Hq * 4);
                char *empty = mkt_alloc(T + 1);
                mkt_fill_normal(&r, q, nq, 1.0f, 8.0f);
                mkt_fill_normal(&r, k, nk, 1.0f, 8.0f);
                mkt_fill_normal(&r, v, nk, 1.0f, 4.0f);
                poison(out, nq);
                poison(out2, nq);
                poison(lse, T * Hq);
                mkref_attention_prefill(q, k, v, cu_q, cu_k, B, Hq, Hkv, D, &p, out, lse);
                mkref_attention_prefill(q, k, v, cu_q, cu_k, B, Hq, Hkv, D, &p, out2, NULL);
                ref_ld(q, k, v, cu_q, cu_k, B, Hq, Hkv, D, &p, ref, ref_lse, empty);

                char what[160];
                snprintf(
                    what, sizeof what,
                    "prefill D=%d Hq=%d Hkv=%d causal=%d window=%d softcap=%g scale=%g lens q/k "
                    "%d/%d %d/%d %d/%d %d/%d",
                    D, Hq, Hkv, p.causal, p.window, (double)p.softcap, (double)p.scale, sq[0],
                    sk[0], sq[1], sk[1], B > 2 ? sq[2] : 0, B > 2 ? sk[2] : 0, B > 3 ? sq[3] : 0,
                    B > 3 ? sk[3] : 0);
                mkt_compare(what, out, ref, nq, F32_TOL, 0);
                mkt_compare(what, lse, ref_lse, T * Hq, F32_TOL, 0);
                MKT_CHECK(memcmp(out, out2, nq * 4) == 0, "%s: output differs with lse = NULL",
                          what);
                int bad = 0;
                for (size_t t = 0; t < T; t++) {
                    if (!empty[t]) continue;
                    empty_rows++;
                    for (int h = 0; h < Hq; h++) {
                        if (!(lse[t * Hq + h] == -INFINITY)) bad++;
                        for (int d = 0; d < D; d++) {
                            float o = out[(t * Hq + h) * D + d];
                            if (o != 0.0f || signbit(o)) bad++;
                        }
                    }
                }
                MKT_CHECK(bad == 0,
                          "%s: %d values of rows that see no key are not out +0 / lse -inf", what,
                          bad);
                free(q), free(k), free(v), free(out), free(out2), free(ref), free(lse),
                    free(ref_lse);
                free(empty);
            }
    MKT_CHECK(empty_rows > 100, "the prefill cases contain only %ld rows that see no key",
              empty_rows);
}

/* ------------------------------------------------------------ paged caches */

typedef struct {
    mkref_kv_cache c;
    int32_t *bt; /* [B][max_blocks], unused entries -1 */
    int max_blocks;
} paged;

static int nblocks(int len, int bs) { return (len + bs - 1) / bs; }

/* A cache holding B sequences of lens[b] tokens, k/v packed [sum lens][Hkv][D]. Physical
   blocks are assigned in order, or in a random order when shuffle. Unwritten memory is
   0xFF bytes (NaN for float dtypes and scales). Appended in two calls, with a padding
   token (slot -1, huge values) after every sequence. */
static void paged_build(paged *pg, mk_dtype t, int bs, int Hkv, int D, int B, const int32_t *lens,
                        const float *k, const float *v, int shuffle, mkref_rng *r) {
    int used = 0, maxb = 0;
    for (int b = 0; b < B; b++) {
        used += nblocks(lens[b], bs);
        if (nblocks(lens[b], bs) > maxb) maxb = nblocks(lens[b], bs);
    }
    mk_kv_cache_desc desc = {used + 3, bs, Hkv, D, t};
    pg->c.desc = desc;
    size_t slots = (size_t)desc.num_blocks * bs, row = (size_t)Hkv * D;
    pg->c.k = mkt_alloc(slots * row * esize(t));
    pg->c.v = mkt_alloc(slots * row * esize(t));
    memset(pg->c.k, 0xFF, slots * row * esize(t));
    memset(pg->c.v, 0xFF, slots * row * esize(t));
    pg->c.k_scale = pg->c.v_scale = NULL;
    if (t == MK_I8 || t == MK_FP8_E4M3) {
        pg->c.k_scale = mkt_alloc(slots * Hkv * 4);
        pg->c.v_scale = mkt_alloc(slots * Hkv * 4);
        poison(pg->c.k_scale, slots * Hkv);
        poison(pg->c.v_scale, slots * Hkv);
    }
    int *ids = mkt_alloc((size_t)desc.num_blocks * sizeof(int));
    for (int i = 0; i < desc.num_blocks; i++) ids[i] = i;
    for (int i = (int)desc.num_blocks - 1; shuffle && i > 0; i--) {
        int j = (int)mkref_rng_range(r, 0, i), tmp = ids[i];
        ids[i] = ids[j], ids[j] = tmp;
    }
    pg->max_blocks = maxb + 1;
    pg->bt = mkt_alloc((size_t)B * pg->max_blocks * 4);
    for (int i = 0; i < B * pg->max_blocks; i++) pg->bt[i] = -1;
    int next = 0, total = 0;
    for (int b = 0; b < B; b++) {
        for (int j = 0; j < nblocks(lens[b], bs); j++) pg->bt[b * pg->max_blocks + j] = ids[next++];
        total += lens[b];
    }
    /* Token list with padding. */
    size_t n = (size_t)total + B;
    float *kin = mkt_alloc(n * row * 4), *vin = mkt_alloc(n * row * 4);
    int32_t *sm = mkt_alloc(n * 4);
    size_t tok = 0, src = 0;
    for (int b = 0; b < B; b++) {
        for (int i = 0; i < lens[b]; i++, tok++, src++) {
            memcpy(kin + tok * row, k + src * row, row * 4);
            memcpy(vin + tok * row, v + src * row, row * 4);
            sm[tok] = pg->bt[b * pg->max_blocks + i / bs] * bs + i % bs;
        }
        for (size_t e = 0; e < row; e++) kin[tok * row + e] = vin[tok * row + e] = 1e4f;
        sm[tok++] = -1;
    }
    size_t half = n / 2;
    mkref_kv_append(&pg->c, kin, vin, sm, (int64_t)half);
    mkref_kv_append(&pg->c, kin + half * row, vin + half * row, sm + half, (int64_t)(n - half));
    free(kin), free(vin), free(sm), free(ids);
}

static void paged_free(paged *pg) {
    free(pg->c.k), free(pg->c.v), free(pg->c.k_scale), free(pg->c.v_scale), free(pg->bt);
}

/* A decode scenario: B sequences, packed q/k/v for the prefill of every sequence
   (Sq = Sk = len), and the decode queries = the last query row of each sequence. */
typedef struct {
    int B, Hq, Hkv, D;
    int32_t lens[5], cu[6];
    float *q, *k, *v, *qd;
} scenario;

static void scenario_make(scenario *s, int bs, int Hq, int Hkv, int D, mkref_rng *r) {
    s->B = 5, s->Hq = Hq, s->Hkv = Hkv, s->D = D;
    int32_t lens[5] = {(int)mkref_rng_range(r, 2, 40), 0, 1, (int)mkref_rng_range(r, 2, 40),
                       bs * (40 / bs)};
    s->cu[0] = 0;
    for (int b = 0; b < 5; b++) s->lens[b] = lens[b], s->cu[b + 1] = s->cu[b] + lens[b];
    size_t T = (size_t)s->cu[5];
    s->q = mkt_alloc(T * Hq * D * 4);
    s->k = mkt_alloc(T * Hkv * D * 4);
    s->v = mkt_alloc(T * Hkv * D * 4);
    s->qd = mkt_alloc((size_t)5 * Hq * D * 4);
    mkt_fill_normal(r, s->q, T * Hq * D, 1.0f, 8.0f);
    mkt_fill_normal(r, s->k, T * Hkv * D, 1.0f, 8.0f);
    mkt_fill_normal(r, s->v, T * Hkv * D, 1.0f, 4.0f);
    mkt_fill_normal(r, s->qd, (size_t)5 * Hq * D, 1.0f, 8.0f);
    for (int b = 0; b < 5; b++)
        if (lens[b] > 0)
            memcpy(s->qd + (size_t)b * Hq * D, s->q + (size_t)(s->cu[b + 1] - 1) * Hq * D,
                   (size_t)Hq * D * 4);
}

static void scenario_free(scenario *s) { free(s->q), free(s->k), free(s->v), free(s->qd); }

/* Prefill of the scenario on (k, v), last row of each sequence -> [B][Hq][D]. */
static void prefill_last_rows(const scenario *s, const float *k, const float *v,
                              const mk_attn_params *p, float *last) {
    size_t T = (size_t)s->cu[s->B], row = (size_t)s->Hq * s->D;
    float *out = mkt_alloc(T * row * 4);
    mk_attn_params pc = *p;
    pc.causal = 1;
    mkref_attention_prefill(s->q, k, v, s->cu, s->cu, s->B, s->Hq, s->Hkv, s->D, &pc, out, NULL);
    for (int b = 0; b < s->B; b++) {
        if (s->lens[b] > 0)
            memcpy(last + b * row, out + (s->cu[b + 1] - 1) * row, row * 4);
        else
            memset(last + b * row, 0, row * 4);
    }
    free(out);
}

static int zero_rows_ok(const scenario *s, const float *out) {
    for (int b = 0; b < s->B; b++)
        for (int e = 0; s->lens[b] == 0 && e < s->Hq * s->D; e++)
            if (out[(size_t)b * s->Hq * s->D + e] != 0.0f) return 0;
    return 1;
}

/* ------------------------------------------------------------ 2 + 3. decode, f32 cache */

static void test_decode_f32(void) {
    static const int bss[] = {1, 16, 32};
    static const int cfg[][3] = {{4, 4, 64}, {8, 2, 80}, {8, 1, 128}, {16, 2, 96}, {4, 1, 256}};
    int ncase = 0;
    for (int bi = 0; bi < 3; bi++)
        for (int ci = 0; ci < 5; ci++)
            for (int mode = 0; mode < 3; mode++, ncase++) {
                mkref_rng r;
                mkt_rng(&r, 2000 + (uint64_t)ncase);
                int bs = bss[bi], Hq = cfg[ci][0], Hkv = cfg[ci][1], D = cfg[ci][2];
                scenario s;
                scenario_make(&s, bs, Hq, Hkv, D, &r);
                mk_attn_params p = {0.0f, 0, 0, 0.0f};
                if (mode == 1) p.window = (int)mkref_rng_range(&r, 0, 9) + 1;
                if (mode == 2) p.softcap = 3.0f, p.scale = 1.5f / sqrtf((float)D);
                paged contig, shuf;
                paged_build(&contig, MK_F32, bs, Hkv, D, s.B, s.lens, s.k, s.v, 0, &r);
                paged_build(&shuf, MK_F32, bs, Hkv, D, s.B, s.lens, s.k, s.v, 1, &r);
                size_t n = (size_t)s.B * Hq * D;
                float *o1 = mkt_alloc(n * 4), *o2 = mkt_alloc(n * 4), *o3 = mkt_alloc(n * 4),
                      *last = mkt_alloc(n * 4);
                poison(o1, n), poison(o2, n), poison(o3, n);
                mkref_attention_decode(s.qd, &contig.c, contig.bt, contig.max_blocks, s.lens, s.B,
                                       Hq, &p, o1);
                mkref_attention_decode(s.qd, &shuf.c, shuf.bt, shuf.max_blocks, s.lens, s.B, Hq, &p,
                                       o2);
                mk_attn_params pc = p;
                pc.causal = 1;
                mkref_attention_decode(s.qd, &shuf.c, shuf.bt, shuf.max_blocks, s.lens, s.B, Hq,
                                       &pc, o3);
                prefill_last_rows(&s, s.k, s.v, &p, last);
                char what[128];
                snprintf(what, sizeof what,
                         "decode f32 bs=%d Hq=%d Hkv=%d D=%d window=%d softcap=%g", bs, Hq, Hkv, D,
                         p.window, (double)p.softcap);
                mkt_compare(what, o1, last, n, F32_TOL, 0);
                MKT_CHECK(memcmp(o1, o2, n * 4) == 0, "%s: shuffled blocks change the bits", what);
                MKT_CHECK(memcmp(o2, o3, n * 4) == 0, "%s: causal flag changes decode", what);
                MKT_CHECK(zero_rows_ok(&s, o2), "%s: a length-0 sequence does not give 0", what);
                paged_free(&contig), paged_free(&shuf);
                free(o1), free(o2), free(o3), free(last);
                scenario_free(&s);
            }
}

/* ------------------------------------------------------------ 4. quantized / f16 caches */

/* Checks every written (slot, head) row of a quantized cache against its source vector:
   the exact scale and code rule, the dequantization, and the error bound. */
static void check_quantized_rows(const paged *pg, const scenario *s, const char *what) {
    mk_dtype t = pg->c.desc.dtype;
    int Hkv = s->Hkv, D = s->D, bs = pg->c.desc.block_size;
    long bad_scale = 0, bad_code = 0, bad_value = 0, bad_bound = 0, bad_peak = 0, rows = 0;
    for (int b = 0; b < s->B; b++)
        for (int i = 0; i < s->lens[b]; i++) {
            int64_t slot = (int64_t)pg->bt[b * pg->max_blocks + i / bs] * bs + i % bs;
            for (int which = 0; which < 2; which++)
                for (int h = 0; h < Hkv; h++, rows++) {
                    const float *x = (which ? s->v : s->k) + ((size_t)(s->cu[b] + i) * Hkv + h) * D;
                    int64_t r = slot * Hkv + h;
                    float sc = (which ? pg->c.v_scale : pg->c.k_scale)[r];
                    const uint8_t *codes = (const uint8_t *)(which ? pg->c.v : pg->c.k) + r * D;
                    float amax = 0;
                    for (int d = 0; d < D; d++) amax = fmaxf(amax, fabsf(x[d]));
                    float want_sc = t == MK_I8 ? amax / 127.0f : amax / 448.0f;
                    if (memcmp(&sc, &want_sc, 4) != 0) bad_scale++;
                    for (int d = 0; d < D; d++) {
                        float y = x[d] / sc;
                        float cv;
                        if (t == MK_I8) {
                            if ((int8_t)codes[d] != mkref_f32_to_i8_sat(y)) bad_code++;
                            cv = (float)(int8_t)codes[d];
                            if (fabsf(x[d]) == amax && fabsf(cv) != 127.0f) bad_peak++;
                        } else {
                            if (codes[d] != mkref_f32_to_fp8(y)) bad_code++;
                            cv = mkref_fp8_to_f32(codes[d]);
                            if (fabsf(x[d]) == amax && fabsf(cv) != 448.0f) bad_peak++;
                        }
                        float deq = sc * cv, got = mkref_kv_value(&pg->c, which, slot, h, d);
                        if (memcmp(&deq, &got, 4) != 0) bad_value++;
                        /* I8: |x/s - q| <= 1/2; FP8 (3 mantissa bits): <= |x/s|/16, or half the
                           smallest subnormal 2^-10. Slack for the float division and product. */
                        double e = fabs((double)x[d] - (double)deq);
                        double bound =
                            t == MK_I8 ? 0.5 * sc : fmax(fabs(x[d]) / 16.0, 0x1p-10 * sc);
                        if (e > bound * (1 + 1e-5) + 1e-6 * amax) bad_bound++;
                    }
                }
        }
    MKT_CHECK(rows > 0 && bad_scale == 0, "%s: %ld of %ld scales are not amax/%s", what, bad_scale,
              rows, t == MK_I8 ? "127" : "448");
    MKT_CHECK(bad_code == 0, "%s: %ld codes differ from the rule q = cvt(x / scale)", what,
              bad_code);
    MKT_CHECK(bad_value == 0, "%s: %ld mkref_kv_value results are not scale * code", what,
              bad_value);
    MKT_CHECK(bad_bound == 0, "%s: %ld elements exceed the quantization error bound", what,
              bad_bound);
    MKT_CHECK(bad_peak == 0, "%s: %ld amax elements do not get the largest code", what, bad_peak);
}

/* Dequantized K and V of every sequence, packed like the scenario, read from the raw
   cache bytes (independently of mkref_kv_value). */
static void dequantize_cache(const paged *pg, const scenario *s, float *k, float *v) {
    int Hkv = s->Hkv, D = s->D, bs = pg->c.desc.block_size;
    mk_dtype t = pg->c.desc.dtype;
    for (int b = 0; b < s->B; b++)
        for (int i = 0; i < s->lens[b]; i++) {
            int64_t slot = (int64_t)pg->bt[b * pg->max_blocks + i / bs] * bs + i % bs;
            for (int h = 0; h < Hkv; h++)
                for (int d = 0; d < D; d++) {
                    int64_t r = slot * Hkv + h;
                    size_t dst = ((size_t)(s->cu[b] + i) * Hkv + h) * D + d;
                    const uint8_t *kc = pg->c.k, *vc = pg->c.v;
                    float ck =
                        t == MK_I8 ? (float)(int8_t)kc[r * D + d] : mkref_fp8_to_f32(kc[r * D + d]);
                    float cv =
                        t == MK_I8 ? (float)(int8_t)vc[r * D + d] : mkref_fp8_to_f32(vc[r * D + d]);
                    k[dst] = pg->c.k_scale[r] * ck;
                    v[dst] = pg->c.v_scale[r] * cv;
                }
        }
}

/* mkref_kv_quantize divides (x / scale), it does not multiply by 1/scale: find values
   where the two disagree and check the division wins. */
static void test_division_rule(mk_dtype t) {
    mkref_rng r;
    mkt_rng(&r, 3900 + (uint64_t)t);
    int found = 0, bad = 0;
    for (int trial = 0; trial < 200000 && found < 20; trial++) {
        float amax = (float)(0.5 + 2 * mkref_rng_uniform(&r));
        float s = t == MK_I8 ? amax / 127.0f : amax / 448.0f;
        double mid;
        if (t == MK_I8) {
            mid = (double)mkref_rng_range(&r, -126, 125) + 0.5;
        } else { /* midpoint between two neighbouring positive fp8 codes */
            int c = (int)mkref_rng_range(&r, 1, 0x7D);
            mid = 0.5 * ((double)mkref_fp8_to_f32((uint8_t)c) + mkref_fp8_to_f32((uint8_t)(c + 1)));
        }
        float x = (float)(mid * s);
        x = nextafterf(x, (float)mkref_rng_range(&r, 0, 1) ? INFINITY : -INFINITY);
        for (int nudge = 0; nudge < 3; nudge++, x = nextafterf(x, INFINITY)) {
            float div = x / s, rcp = 1.0f / s, mul = x * rcp;
            int a = t == MK_I8 ? mkref_f32_to_i8_sat(div) : mkref_f32_to_fp8(div);
            int m = t == MK_I8 ? mkref_f32_to_i8_sat(mul) : mkref_f32_to_fp8(mul);
            if (a == m) continue;
            found++;
            float vec[3] = {amax, x, -amax * 0.25f}, sc;
            uint8_t q[3];
            mkref_kv_quantize(t, vec, 3, q, &sc);
            int got = t == MK_I8 ? (int8_t)q[1] : q[1];
            if (sc != s || got != a) bad++;
        }
    }
    MKT_CHECK(found > 0, "%s: no value found where x/s and x*(1/s) round differently", dname(t));
    MKT_CHECK(bad == 0, "%s: %d of %d codes do not follow the true division x / scale", dname(t),
              bad, found);
}

static void test_zero_vector(mk_dtype t) {
    float x[40], sc = 1.0f;
    uint8_t q[40];
    memset(x, 0, sizeof x);
    x[7] = -0.0f;
    memset(q, 0x55, sizeof q);
    mkref_kv_quantize(t, x, 40, q, &sc);
    int bad = 0;
    for (int i = 0; i < 40; i++) bad += q[i] != 0;
    MKT_CHECK(sc == 0.0f && bad == 0, "%s: an all-zero vector gives scale %g and %d nonzero codes",
              dname(t), (double)sc, bad);
}

static void test_cache_dtypes(void) {
    static const mk_dtype dts[] = {MK_I8, MK_FP8_E4M3, MK_F16, MK_BF16};
    static const int cfg[][4] = {{8, 2, 128, 16}, {4, 1, 80, 1}, {3, 3, 256, 32}};
    int ncase = 0;
    for (int ti = 0; ti < 4; ti++)
        for (int ci = 0; ci < 3; ci++)
            for (int mode = 0; mode < 2; mode++, ncase++) {
                mkref_rng r;
                mkt_rng(&r, 3000 + (uint64_t)ncase);
                mk_dtype t = dts[ti];
                int Hq = cfg[ci][0], Hkv = cfg[ci][1], D = cfg[ci][2], bs = cfg[ci][3];
                scenario s;
                scenario_make(&s, bs, Hq, Hkv, D, &r);
                mk_attn_params p = {0.0f, 0, 0, 0.0f};
                if (mode == 1) p.window = (int)mkref_rng_range(&r, 0, 9) + 1, p.softcap = 5.0f;
                paged contig, shuf;
                paged_build(&contig, t, bs, Hkv, D, s.B, s.lens, s.k, s.v, 0, &r);
                paged_build(&shuf, t, bs, Hkv, D, s.B, s.lens, s.k, s.v, 1, &r);
                size_t n = (size_t)s.B * Hq * D, nk = (size_t)s.cu[s.B] * Hkv * D;
                float *o1 = mkt_alloc(n * 4), *o2 = mkt_alloc(n * 4), *want = mkt_alloc(n * 4);
                float *kk = mkt_alloc(nk * 4), *vv = mkt_alloc(nk * 4);
                poison(o1, n), poison(o2, n);
                mkref_attention_decode(s.qd, &contig.c, contig.bt, contig.max_blocks, s.lens, s.B,
                                       Hq, &p, o1);
                mkref_attention_decode(s.qd, &shuf.c, shuf.bt, shuf.max_blocks, s.lens, s.B, Hq, &p,
                                       o2);
                char what[128];
                snprintf(what, sizeof what, "decode %s cache bs=%d Hq=%d Hkv=%d D=%d window=%d",
                         dname(t), bs, Hq, Hkv, D, p.window);
                MKT_CHECK(memcmp(o1, o2, n * 4) == 0, "%s: shuffled blocks change the bits", what);
                MKT_CHECK(zero_rows_ok(&s, o2), "%s: a length-0 sequence does not give 0", what);
                if (t == MK_I8 || t == MK_FP8_E4M3) {
                    check_quantized_rows(&shuf, &s, what);
                    dequantize_cache(&shuf, &s, kk, vv);
                    /* explicit formula, Sq = 1 per sequence, on the dequantized cache */
                    int32_t cu_q[6];
                    for (int b = 0; b <= s.B; b++) cu_q[b] = b;
                    float *lse = mkt_alloc((size_t)s.B * Hq * 4);
                    char empty[5];
                    mk_attn_params pc = p;
                    pc.causal = 1;
                    ref_ld(s.qd, kk, vv, cu_q, s.cu, s.B, Hq, Hkv, D, &pc, want, lse, empty);
                    mkt_compare(what, o2, want, n, F32_TOL, 0);
                    free(lse);
                    /* and close to the unquantized attention */
                    prefill_last_rows(&s, s.k, s.v, &p, want);
                    char loose[160];
                    snprintf(loose, sizeof loose, "%s vs unquantized", what);
                    mkt_compare(loose, o2, want, n, t == MK_I8 ? 5e-2 : 1.5e-1, 0);
                } else {
                    memcpy(kk, s.k, nk * 4), memcpy(vv, s.v, nk * 4);
                    mkt_round(t, kk, nk), mkt_round(t, vv, nk);
                    prefill_last_rows(&s, kk, vv, &p, want);
                    mkt_compare(what, o2, want, n, F32_TOL, 0);
                }
                paged_free(&contig), paged_free(&shuf);
                free(o1), free(o2), free(want), free(kk), free(vv);
                scenario_free(&s);
            }
    test_zero_vector(MK_I8), test_zero_vector(MK_FP8_E4M3);
    test_division_rule(MK_I8), test_division_rule(MK_FP8_E4M3);
}

/* ------------------------------------------------------------ 5. append and copy_blocks */

typedef struct {
    uint8_t *k, *v, *ks, *vs;
} snapshot;

static void snap(snapshot *sn, const mkref_kv_cache *c, size_t data_bytes, size_t scale_bytes) {
    sn->k = mkt_alloc(data_bytes), sn->v = mkt_alloc(data_bytes);
    memcpy(sn->k, c->k, data_bytes), memcpy(sn->v, c->v, data_bytes);
    sn->ks = sn->vs = NULL;
    if (c->k_scale) {
        sn->ks = mkt_alloc(scale_bytes), sn->vs = mkt_alloc(scale_bytes);
        memcpy(sn->ks, c->k_scale, scale_bytes), memcpy(sn->vs, c->v_scale, scale_bytes);
    }
}

static void snap_free(snapshot *sn) { free(sn->k), free(sn->v), free(sn->ks), free(sn->vs); }

/* Compares `count` units of `unit` bytes (data then scales) of the cache at index `at`
   with the snapshot at index `from`. */
static int same_units(const mkref_kv_cache *c, const snapshot *sn, size_t at, size_t from,
                      size_t data_unit, size_t scale_unit) {
    int ok =
        memcmp((const uint8_t *)c->k + at * data_unit, sn->k + from * data_unit, data_unit) == 0 &&
        memcmp((const uint8_t *)c->v + at * data_unit, sn->v + from * data_unit, data_unit) == 0;
    if (c->k_scale)
        ok = ok &&
             memcmp((const uint8_t *)c->k_scale + at * scale_unit, sn->ks + from * scale_unit,
                    scale_unit) == 0 &&
             memcmp((const uint8_t *)c->v_scale + at * scale_unit, sn->vs + from * scale_unit,
                    scale_unit) == 0;
    return ok;
}

static void test_append_copy(void) {
    static const mk_dtype dts[] = {MK_F32, MK_F16, MK_BF16, MK_I8, MK_FP8_E4M3};
    for (int ti = 0; ti < 5; ti++) {
        mk_dtype t = dts[ti];
        mkref_rng r;
        mkt_rng(&r, 5000 + (uint64_t)ti);
        const int NB = 8, BS = 4, Hkv = 2, D = 80, NS = NB * BS;
        mk_kv_cache_desc desc = {NB, BS, Hkv, D, t};
        mkref_kv_cache c = {desc, NULL, NULL, NULL, NULL};
        int quant = t == MK_I8 || t == MK_FP8_E4M3;
        size_t slot_data = (size_t)Hkv * D * esize(t), slot_scale = (size_t)Hkv * 4;
        size_t data_bytes = NS * slot_data, scale_bytes = NS * slot_scale;
        c.k = mkt_alloc(data_bytes), c.v = mkt_alloc(data_bytes);
        for (size_t i = 0; i < data_bytes; i++)
            ((uint8_t *)c.k)[i] = (uint8_t)mkref_rng_u64(&r),
                      ((uint8_t *)c.v)[i] = (uint8_t)mkref_rng_u64(&r);
        if (quant) {
            c.k_scale = mkt_alloc(scale_bytes), c.v_scale = mkt_alloc(scale_bytes);
            mkt_fill_normal(&r, c.k_scale, (size_t)NS * Hkv, 1.0f, 1.0f);
            mkt_fill_normal(&r, c.v_scale, (size_t)NS * Hkv, 1.0f, 1.0f);
        }
        /* Append 10 tokens: slots 1..30 (never 0 or the last), three tokens skipped. */
        enum { T = 10 };
        int32_t slots[T];
        char written[32] = {0};
        for (int i = 0; i < T; i++) {
            if (i == 2 || i == 6 || i == T - 1) {
                slots[i] = -1;
                continue;
            }
            int sl;
            do sl = (int)mkref_rng_range(&r, 1, NS - 2);
            while (written[sl]);
            written[sl] = 1, slots[i] = sl;
        }
        size_t row = (size_t)Hkv * D;
        float *k = mkt_alloc(T * row * 4), *v = mkt_alloc(T * row * 4);
        mkt_fill_normal(&r, k, T * row, 1.0f, 8.0f);
        mkt_fill_normal(&r, v, T * row, 1.0f, 4.0f);
        snapshot before;
        snap(&before, &c, data_bytes, scale_bytes);
        mkref_kv_append(&c, k, v, slots, T);
        int untouched_bad = 0, written_bad = 0;
        for (int sl = 0; sl < NS; sl++)
            if (!written[sl] &&
                !same_units(&c, &before, (size_t)sl, (size_t)sl, slot_data, slot_scale))
                untouched_bad++;
        for (int i = 0; i < T; i++) {
            if (slots[i] < 0) continue;
            for (int which = 0; which < 2; which++) {
                const float *x = (which ? v : k) + i * row;
                const uint8_t *got =
                    (const uint8_t *)(which ? c.v : c.k) + (size_t)slots[i] * slot_data;
                uint8_t want[80 * 2 * 4];
                if (quant) {
                    for (int h = 0; h < Hkv; h++) {
                        float sc;
                        mkref_kv_quantize(t, x + h * D, D, want + h * D, &sc);
                        const float *scales = which ? c.v_scale : c.k_scale;
                        if (memcmp(&sc, &scales[slots[i] * Hkv + h], 4) != 0) written_bad++;
                    }
                } else {
                    for (size_t e = 0; e < row; e++) mkref_store(t, want, (int64_t)e, x[e]);
                }
                if (memcmp(want, got, slot_data) != 0) written_bad++;
            }
        }
        MKT_CHECK(untouched_bad == 0, "append %s: %d slots not in slot_mapping changed", dname(t),
                  untouched_bad);
        MKT_CHECK(written_bad == 0, "append %s: %d written rows differ from the stored input",
                  dname(t), written_bad);

        /* copy_blocks: every dst distinct, no dst is a src. */
        snapshot mid;
        snap(&mid, &c, data_bytes, scale_bytes);
        const int32_t pairs[3][2] = {{1, 6}, {3, 0}, {1, 7}};
        mkref_kv_copy_blocks(&c, &pairs[0][0], 3);
        int copy_bad = 0, other_bad = 0;
        size_t bdata = BS * slot_data, bscale = BS * slot_scale;
        for (int p = 0; p < 3; p++)
            copy_bad +=
                !same_units(&c, &mid, (size_t)pairs[p][1], (size_t)pairs[p][0], bdata, bscale);
        for (int b = 0; b < NB; b++)
            if (b != 6 && b != 0 && b != 7)
                other_bad += !same_units(&c, &mid, (size_t)b, (size_t)b, bdata, bscale);
        MKT_CHECK(copy_bad == 0, "copy_blocks %s: %d destination blocks differ from their source",
                  dname(t), copy_bad);
        MKT_CHECK(other_bad == 0, "copy_blocks %s: %d blocks that are no destination changed",
                  dname(t), other_bad);
        snap_free(&before), snap_free(&mid);
        free(k), free(v), free(c.k), free(c.v), free(c.k_scale), free(c.v_scale);
    }
}

int main(int argc, char **argv) {
    mkt_init(argc, argv, "test_ref_attention");
    test_prefill();
    test_decode_f32();
    test_cache_dtypes();
    test_append_copy();
    return mkt_finish();
}
