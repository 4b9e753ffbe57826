/*
 * The reference decoder model: a Llama-style stack built only from the mkref_* ops, used
 * as an end-to-end oracle (prefill and paged decode must agree).
 *
 *   x = embed[token]
 *   per layer: h = rmsnorm(x); q, k, v = h.Wq^T, h.Wk^T, h.Wv^T; rope(q), rope(k);
 *              append k, v to the layer's paged cache; a = attention(q, cache);
 *              x += a.Wo^T; h = rmsnorm(x); x += (silu(h.Wg^T) * h.Wu^T).Wd^T
 *   logits = rmsnorm(x).Wlm^T
 *
 * The cache is paged with a shuffled block table so block indirection is exercised, and
 * its unused slots hold NaN so a read of an unwritten slot shows up in the logits.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mkref.h"

typedef struct {
    float *attn_norm; /* [H]            */
    float *wq;        /* [Hq*Dh][H]     */
    float *wk;        /* [Hkv*Dh][H]    */
    float *wv;        /* [Hkv*Dh][H]    */
    float *wo;        /* [H][Hq*Dh]     */
    float *mlp_norm;  /* [H]            */
    float *w_gate;    /* [I][H]         */
    float *w_up;      /* [I][H]         */
    float *w_down;    /* [H][I]         */
    mkref_kv_cache cache;
} mkref_layer;

struct mkref_model {
    mkref_model_config cfg;
    int64_t qdim, kvdim;  /* Hq*Dh, Hkv*Dh */
    float *embed;         /* [V][H] */
    float *final_norm;    /* [H]    */
    float *lm_head;       /* [V][H] */
    mkref_layer *layers;  /* [L]    */
    int max_blocks;       /* blocks in the table (ceil(max_positions / block_size)) */
    int32_t *block_table; /* [max_blocks], a permutation of part of the pool */
    int len;
    /* scratch for up to max_positions tokens */
    float *x, *h, *q, *k, *v, *att, *o, *g, *u, *kc, *vc;
    int32_t *pos, *slots;
};

/* a * b, or -1 when either is negative or the product exceeds 2^53 elements. */
static int64_t mul_count(int64_t a, int64_t b) {
    const int64_t lim = (int64_t)1 << 53;
    if (a < 0 || b < 0) return -1;
    if (a != 0 && b > lim / a) return -1;
    return a * b;
}

static float *alloc_floats(int64_t n) {
    if (n <= 0 || (uint64_t)n > SIZE_MAX / sizeof(float)) return NULL;
    return malloc((size_t)n * sizeof(float));
}

static void fill_normal(mkref_rng *r, float *x, int64_t n, double mean, double std) {
    for (int64_t i = 0; i < n; i++) x[i] = (float)(mean + std * mkref_rng_normal(r));
}

static float *random_matrix(mkref_rng *r, int64_t rows, int64_t cols) {
    int64_t n = mul_count(rows, cols);
    float *w = n > 0 ? alloc_floats(n) : NULL;
    if (w) fill_normal(r, w, n, 0.0, 1.0 / sqrt((double)cols));
    return w;
}

static float *norm_weight(mkref_rng *r, int64_t n) {
    float *w = alloc_floats(n);
    if (w) fill_normal(r, w, n, 1.0, 0.1);
    return w;
}

static int config_ok(const mkref_model_config *c) {
    if (!c) return 0;
    if (c->vocab_size <= 0 || c->hidden_size <= 0 || c->num_layers <= 0 || c->num_heads <= 0 ||
        c->num_kv_heads <= 0 || c->head_dim <= 0 || c->intermediate_size <= 0 ||
        c->max_positions <= 0 || c->block_size <= 0)
        return 0;
    if (c->num_heads % c->num_kv_heads != 0 || c->head_dim % 2 != 0) return 0;
    if (!(c->rope_theta > 0.0f) || !isfinite(c->rope_theta)) return 0;
    if (!(c->rms_eps >= 0.0f) || !isfinite(c->rms_eps)) return 0;
    return 1;
}

static void clear_cache(mkref_model *m) {
    int64_t n = mul_count(m->layers[0].cache.desc.num_blocks * m->cfg.block_size, m->kvdim);
    for (int l = 0; l < m->cfg.num_layers; l++) {
        float *k = m->layers[l].cache.k, *v = m->layers[l].cache.v;
        for (int64_t i = 0; i < n; i++) k[i] = v[i] = NAN;
    }
}

void mkref_model_destroy(mkref_model *m) {
    if (!m) return;
    if (m->layers) {
        for (int l = 0; l < m->cfg.num_layers; l++) {
            mkref_layer *y = &m->layers[l];
            free(y->attn_norm); free(y->wq); free(y->wk); free(y->wv); free(y->wo);
            free(y->mlp_norm); free(y->w_gate); free(y->w_up); free(y->w_down);
            free(y->cache.k); free(y->cache.v);
        }
        free(m->layers);
    }
    free(m->embed); free(m->final_norm); free(m->lm_head); free(m->block_table);
    free(m->x); free(m->h); free(m->q); free(m->k); free(m->v); free(m->att); free(m->o);
    free(m->g); free(m->u); free(m->kc); free(m->vc); free(m->pos); free(m->slots);
    free(m);
}

mkref_model *mkref_model_create(const mkref_model_config *cfg, uint64_t seed) {
    if (!config_ok(cfg)) return NULL;
    const int64_t V = cfg->vocab_size, H = cfg->hidden_size, I = cfg->intermediate_size;
    const int64_t P = cfg->max_positions, bs = cfg->block_size;
    const int64_t max_blocks = (P + bs - 1) / bs;
    const int64_t pool = max_blocks + 1; /* one spare block that the table never uses */
    const int64_t qdim = mul_count(cfg->num_heads, cfg->head_dim);
    const int64_t kvdim = mul_count(cfg->num_kv_heads, cfg->head_dim);
    const int64_t cache_n = mul_count(mul_count(pool, bs), kvdim);
    /* slots are int32: the whole pool must be addressable */
    if (qdim < 0 || kvdim < 0 || cache_n < 0 || pool * bs > INT32_MAX) return NULL;
    if (mul_count(P, qdim) < 0 || mul_count(P, I) < 0 || mul_count(P, kvdim) < 0 ||
        mul_count(P, H) < 0)
        return NULL;

    mkref_model *m = calloc(1, sizeof(*m));
    if (!m) return NULL;
    m->cfg = *cfg;
    m->qdim = qdim;
    m->kvdim = kvdim;
    m->max_blocks = (int)max_blocks;
    m->layers = calloc((size_t)cfg->num_layers, sizeof(*m->layers));
    if (!m->layers) goto fail;

    mkref_rng r;
    mkref_rng_seed(&r, seed);
    m->embed = alloc_floats(mul_count(V, H));
    if (!m->embed) goto fail;
    fill_normal(&r, m->embed, V * H, 0.0, 1.0);
    for (int l = 0; l < cfg->num_layers; l++) {
        mkref_layer *y = &m->layers[l];
        if (!(y->attn_norm = norm_weight(&r, H))) goto fail;
        if (!(y->wq = random_matrix(&r, qdim, H))) goto fail;
        if (!(y->wk = random_matrix(&r, kvdim, H))) goto fail;
        if (!(y->wv = random_matrix(&r, kvdim, H))) goto fail;
        if (!(y->wo = random_matrix(&r, H, qdim))) goto fail;
        if (!(y->mlp_norm = norm_weight(&r, H))) goto fail;
        if (!(y->w_gate = random_matrix(&r, I, H))) goto fail;
        if (!(y->w_up = random_matrix(&r, I, H))) goto fail;
        if (!(y->w_down = random_matrix(&r, H, I))) goto fail;
        y->cache.desc.num_blocks = pool;
        y->cache.desc.block_size = cfg->block_size;
        y->cache.desc.num_kv_heads = cfg->num_kv_heads;
        y->cache.desc.head_dim = cfg->head_dim;
        y->cache.desc.dtype = MK_F32;
        if (!(y->cache.k = alloc_floats(cache_n)) || !(y->cache.v = alloc_floats(cache_n))) goto fail;
    }
    if (!(m->final_norm = norm_weight(&r, H))) goto fail;
    if (!(m->lm_head = random_matrix(&r, V, H))) goto fail;

    /* Block table: the first max_blocks entries of a random permutation of the pool. */
    int32_t *perm = malloc((size_t)pool * sizeof(int32_t));
    if (!perm) goto fail;
    for (int64_t i = 0; i < pool; i++) perm[i] = (int32_t)i;
    for (int64_t i = pool - 1; i > 0; i--) {
        int64_t j = mkref_rng_range(&r, 0, i);
        int32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    m->block_table = perm;

    if (!(m->x = alloc_floats(P * H)) || !(m->h = alloc_floats(P * H)) ||
        !(m->o = alloc_floats(P * H)) || !(m->q = alloc_floats(P * qdim)) ||
        !(m->att = alloc_floats(P * qdim)) || !(m->k = alloc_floats(P * kvdim)) ||
        !(m->v = alloc_floats(P * kvdim)) || !(m->kc = alloc_floats(P * kvdim)) ||
        !(m->vc = alloc_floats(P * kvdim)) || !(m->g = alloc_floats(P * I)) ||
        !(m->u = alloc_floats(P * I)))
        goto fail;
    if (!(m->pos = malloc((size_t)P * sizeof(int32_t))) ||
        !(m->slots = malloc((size_t)P * sizeof(int32_t))))
        goto fail;
    mkref_model_reset(m);
    return m;
fail:
    mkref_model_destroy(m);
    return NULL;
}

void mkref_model_reset(mkref_model *m) {
    m->len = 0;
    clear_cache(m);
}

int mkref_model_length(const mkref_model *m) { return m->len; }

/* Runs n new tokens through the stack; decode (n == 1) reads K/V through the paged
   cache, prefill gathers the cached K/V into contiguous arrays first. */
static int forward(mkref_model *m, const int32_t *tokens, int n, int decode, float *logits) {
    const mkref_model_config *c = &m->cfg;
    const int64_t H = c->hidden_size, I = c->intermediate_size, V = c->vocab_size;
    const int Hq = c->num_heads, Hkv = c->num_kv_heads, Dh = c->head_dim, bs = c->block_size;
    if (n < 0 || n > c->max_positions - m->len) return -1;
    for (int t = 0; t < n; t++)
        if (tokens[t] < 0 || tokens[t] >= c->vocab_size) return -1;
    if (n == 0) return 0;

    const int p0 = m->len, len = p0 + n;
    const mk_rope_params rope = {.style = MK_ROPE_HALF, .theta = c->rope_theta, .rotary_dim = 0,
                                 .scaling = MK_ROPE_SCALING_NONE, .factor = 1.0f};
    const mk_attn_params ap = {.scale = 0.0f, .causal = 1, .window = 0, .softcap = 0.0f};
    for (int t = 0; t < n; t++) {
        int p = p0 + t;
        m->pos[t] = p;
        m->slots[t] = m->block_table[p / bs] * bs + p % bs;
        memcpy(m->x + t * H, m->embed + (int64_t)tokens[t] * H, (size_t)H * sizeof(float));
    }
    for (int l = 0; l < c->num_layers; l++) {
        mkref_layer *y = &m->layers[l];
        mkref_rmsnorm(m->x, y->attn_norm, n, H, c->rms_eps, 0, m->h);
        mkref_gemm(m->h, y->wq, NULL, n, m->qdim, H, m->q);
        mkref_gemm(m->h, y->wk, NULL, n, m->kvdim, H, m->k);
        mkref_gemm(m->h, y->wv, NULL, n, m->kvdim, H, m->v);
        mkref_rope(m->q, m->pos, n, Hq, Dh, &rope);
        mkref_rope(m->k, m->pos, n, Hkv, Dh, &rope);
        mkref_kv_append(&y->cache, m->k, m->v, m->slots, n);
        if (decode) {
            const int32_t ctx_len = len;
            mkref_attention_decode(m->q, &y->cache, m->block_table, m->max_blocks, &ctx_len, 1, Hq,
                                   &ap, m->att);
        } else {
            /* every cached token 0..len-1 as keys; Sq = n, Sk = len (bottom-right causal) */
            for (int j = 0; j < len; j++) {
                int64_t slot = (int64_t)m->block_table[j / bs] * bs + j % bs;
                for (int hh = 0; hh < Hkv; hh++)
                    for (int d = 0; d < Dh; d++) {
                        int64_t at = ((int64_t)j * Hkv + hh) * Dh + d;
                        m->kc[at] = mkref_kv_value(&y->cache, 0, slot, hh, d);
                        m->vc[at] = mkref_kv_value(&y->cache, 1, slot, hh, d);
                    }
            }
            const int32_t cu_q[2] = {0, n}, cu_k[2] = {0, len};
            mkref_attention_prefill(m->q, m->kc, m->vc, cu_q, cu_k, 1, Hq, Hkv, Dh, &ap, m->att, NULL);
        }
        mkref_gemm(m->att, y->wo, NULL, n, H, m->qdim, m->o);
        mkref_add(m->x, m->o, n * H, m->x);
        mkref_rmsnorm(m->x, y->mlp_norm, n, H, c->rms_eps, 0, m->h);
        mkref_gemm(m->h, y->w_gate, NULL, n, I, H, m->g);
        mkref_gemm(m->h, y->w_up, NULL, n, I, H, m->u);
        mkref_silu_mul(m->g, m->u, n * I, m->g);
        mkref_gemm(m->g, y->w_down, NULL, n, H, I, m->o);
        mkref_add(m->x, m->o, n * H, m->x);
    }
    m->len = len;
    if (logits) {
        mkref_rmsnorm(m->x, m->final_norm, n, H, c->rms_eps, 0, m->h);
        mkref_gemm(m->h, m->lm_head, NULL, n, V, H, logits);
    }
    return 0;
}

int mkref_model_prefill(mkref_model *m, const int32_t *tokens, int n, float *logits) {
    return forward(m, tokens, n, 0, logits);
}

int mkref_model_decode(mkref_model *m, int32_t token, float *logits) {
    return forward(m, &token, 1, 1, logits);
}

const float *mkref_model_weight(const mkref_model *m, const char *name, int layer) {
    if (!m || !name) return NULL;
    if (!strcmp(name, "embed")) return m->embed;
    if (!strcmp(name, "final_norm")) return m->final_norm;
    if (!strcmp(name, "lm_head")) return m->lm_head;
    if (layer < 0 || layer >= m->cfg.num_layers) return NULL;
    const mkref_layer *y = &m->layers[layer];
    if (!strcmp(name, "attn_norm")) return y->attn_norm;
    if (!strcmp(name, "wq")) return y->wq;
    if (!strcmp(name, "wk")) return y->wk;
    if (!strcmp(name, "wv")) return y->wv;
    if (!strcmp(name, "wo")) return y->wo;
    if (!strcmp(name, "mlp_norm")) return y->mlp_norm;
    if (!strcmp(name, "w_gate")) return y->w_gate;
    if (!strcmp(name, "w_up")) return y->w_up;
    if (!strcmp(name, "w_down")) return y->w_down;
    return NULL;
}
