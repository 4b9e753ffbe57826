/*
 * Reference attention: prefill over a packed varlen batch and decode over the paged
 * KV cache. Both reduce to one function, attend_row, that computes one query row
 * against a contiguous range of keys in logical order, in double:
 *
 *   s_j  = scale * sum_d q[d] * k_j[d]          (softcap c > 0: s_j = c * tanh(s_j / c))
 *   m    = max_j s_j,  l = sum_j exp(s_j - m)   (two passes, no online rescaling)
 *   out  = sum_j exp(s_j - m) * v_j / l,  lse = m + log(l)   (natural log)
 *
 * Masking: query i of a sequence with Sq queries and Sk keys sees key j iff
 * (!causal || j <= i + Sk - Sq) && (window == 0 || j > i + Sk - Sq - window),
 * which is always one contiguous range of j. A row that sees no key gets out = 0 and
 * lse = -inf.
 */
#include <math.h>

#include "mkref.h"

/* Where the keys and values of one sequence live: contiguous rows (prefill) or the
   paged cache read through a block table (decode). */
typedef struct {
    const float *k, *v; /* prefill: row j of head h at (j * hkv + h) * d */
    const mkref_kv_cache *cache;
    const int32_t *blocks; /* decode: this sequence's block table row */
    int hkv, d;
} kv_source;

static float kv_get(const kv_source *s, int which, int64_t j, int head, int d) {
    if (!s->cache) {
        const float *base = which ? s->v : s->k;
        return base[(j * s->hkv + head) * s->d + d];
    }
    int bs = s->cache->desc.block_size;
    int64_t slot = (int64_t)s->blocks[j / bs] * bs + j % bs;
    return mkref_kv_value(s->cache, which, slot, head, d);
}

static double logit(const float *q, const kv_source *s, int64_t j, int head, int d_head,
                    double scale, double softcap) {
    double dot = 0;
    for (int d = 0; d < d_head; d++) dot += (double)q[d] * (double)kv_get(s, 0, j, head, d);
    double x = scale * dot;
    return softcap > 0 ? softcap * tanh(x / softcap) : x;
}

/* Visible key range [*lo, *hi) of query i (0-based) among sq queries over sk keys. */
static void visible(const mk_attn_params *p, int64_t i, int64_t sq, int64_t sk, int64_t *lo,
                    int64_t *hi) {
    int64_t diag = i + sk - sq; /* the key aligned with query i (bottom-right) */
    *lo = 0;
    *hi = sk;
    if (p->causal && diag + 1 < *hi) *hi = diag + 1;
    if (p->window > 0 && diag - p->window + 1 > *lo) *lo = diag - p->window + 1;
    if (*hi < *lo) *hi = *lo;
}

#define MKREF_ATTN_MAX_D 256 /* D is 1..256 by contract (medkern.h) */

static void attend_row(const float *q, const kv_source *s, int head, int d_head, int64_t lo,
                       int64_t hi, double scale, double softcap, float *out, float *lse) {
    if (lo >= hi) {
        for (int d = 0; d < d_head; d++) out[d] = 0.0f;
        if (lse) *lse = -INFINITY;
        return;
    }
    double m = -INFINITY;
    for (int64_t j = lo; j < hi; j++) {
        double x = logit(q, s, j, head, d_head, scale, softcap);
        if (x > m) m = x;
    }
    double acc[MKREF_ATTN_MAX_D] = {0}, l = 0;
    for (int64_t j = lo; j < hi; j++) {
        double e = exp(logit(q, s, j, head, d_head, scale, softcap) - m);
        l += e;
        for (int d = 0; d < d_head; d++) acc[d] += e * (double)kv_get(s, 1, j, head, d);
    }
    for (int d = 0; d < d_head; d++) out[d] = (float)(acc[d] / l);
    if (lse) *lse = (float)(m + log(l));
}

static double softmax_scale(const mk_attn_params *p, int d) {
    return p->scale != 0.0f ? (double)p->scale : 1.0 / sqrt((double)d);
}

void mkref_attention_prefill(const float *q, const float *k, const float *v, const int32_t *cu_q,
                             const int32_t *cu_k, int B, int Hq, int Hkv, int D,
                             const mk_attn_params *p, float *out, float *lse) {
    double scale = softmax_scale(p, D), softcap = p->softcap > 0 ? (double)p->softcap : 0.0;
    int group = Hq / Hkv;
    for (int b = 0; b < B; b++) {
        int64_t sq = cu_q[b + 1] - cu_q[b], sk = cu_k[b + 1] - cu_k[b];
        kv_source s = {
            k + (int64_t)cu_k[b] * Hkv * D, v + (int64_t)cu_k[b] * Hkv * D, NULL, NULL, Hkv, D};
        for (int64_t i = 0; i < sq; i++) {
            int64_t t = cu_q[b] + i, lo, hi;
            visible(p, i, sq, sk, &lo, &hi);
            for (int h = 0; h < Hq; h++)
                attend_row(q + (t * Hq + h) * D, &s, h / group, D, lo, hi, scale, softcap,
                           out + (t * Hq + h) * D, lse ? lse + t * Hq + h : NULL);
        }
    }
}

void mkref_attention_decode(const float *q, const mkref_kv_cache *c, const int32_t *block_table,
                            int max_blocks, const int32_t *context_lens, int B, int Hq,
                            const mk_attn_params *p, float *out) {
    int Hkv = c->desc.num_kv_heads, D = c->desc.head_dim, group = Hq / Hkv;
    double scale = softmax_scale(p, D), softcap = p->softcap > 0 ? (double)p->softcap : 0.0;
    mk_attn_params pp = *p;
    pp.causal = 1; /* the query is the last token: causal changes nothing */
    for (int b = 0; b < B; b++) {
        int64_t len = context_lens[b], lo, hi;
        kv_source s = {NULL, NULL, c, block_table + (int64_t)b * max_blocks, Hkv, D};
        visible(&pp, 0, 1, len, &lo, &hi); /* query 0 of Sq = 1 is position len-1 */
        for (int h = 0; h < Hq; h++)
            attend_row(q + ((int64_t)b * Hq + h) * D, &s, h / group, D, lo, hi, scale, softcap,
                       out + ((int64_t)b * Hq + h) * D, NULL);
    }
}
