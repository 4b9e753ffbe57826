/* The executor of `medkern profile` (see profile_run.h): weights, activations, the plan's
   calls through the public API, device events around every call. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mkref.h"
#include "profile_run.h"
#include "timing.h"

typedef struct {
    mk_buffer *w;      /* dense [n][k] in the activation dtype, or NULL */
    mk_qweight *qw;    /* quantized, or NULL                             */
    mk_buffer *bias;   /* [n] or NULL                                    */
    int64_t n, k;
} linear_w;

typedef struct {
    mk_buffer *w, *b; /* b: LayerNorm only */
} norm_w;

typedef struct {
    int index, kind;
    norm_w attn_norm, q_norm, k_norm, attn_post, mlp_norm, mlp_post;
    linear_w qkv, q, k, v, o, up, down;
    mk_kv_cache *cache;
} layer_w;

typedef struct {
    mk_context *ctx;
    const mkp_plan *p;
    const mkm_config *c;
    const mkp_run_args *args;
    mkp_run_result *res;
    mkref_rng rng;
    mk_dtype a;
    size_t as;
    int64_t B, P, G, T; /* T = B * P */
    mk_buffer *embed, *wpe, *lm;
    norm_w final_norm;
    layer_w *layers;
    int nlayers;
    mk_buffer *x, *hn, *o, *qkv, *q, *k, *v, *att, *up, *act, *ones, *pe, *fin, *logits;
    int32_t *h_idx;           /* host index arrays of the pass: positions, slots, block table, lengths */
    mk_plan *rope_plan, *append_plan; /* the pass's plans (every layer's cache has one shape) */
    mk_plan **attn_plan;      /* per run layer; layers with equal attention params share one */
    unsigned char *attn_own;  /* 1 where attn_plan[i] is that layer's own (destroyed once) */
    mk_event **ev;
    int ev_cap;
    int *iv_step, *iv_kind;   /* the step and kind of each timed interval */
    char *err;
    size_t errn;
} runner;

static mk_status failf(runner *r, mk_status s, const char *fmt, ...) {
    if (r->err && r->errn) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->err, r->errn, fmt, ap);
        va_end(ap);
    }
    return s;
}

/* ---- buffers and weights */

static mk_status alloc(runner *r, size_t bytes, mk_buffer **out, const char *what) {
    mk_status s = mk_buffer_alloc(r->ctx, bytes ? bytes : 1, out);
    if (s != MK_OK)
        return failf(r, s, "allocating %s (%.1f MiB): %s", what, (double)bytes / 1048576.0, mk_last_error());
    return MK_OK;
}

static void *host_alloc(runner *r, size_t bytes, const char *what, mk_status *s) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) *s = failf(r, MK_ERR_OUT_OF_MEMORY, "out of host memory staging %s (%.1f MiB)", what, (double)bytes / 1048576.0);
    return p;
}

/* count values of the activation dtype, normal(mean, std), copied in runs from a pool of
   4096 random values (the numbers only need to be finite and of a realistic scale) */
static void fill_random(runner *r, void *dst, size_t count, double mean, double std) {
    enum { POOL = 4096 };
    unsigned char pool[POOL * 4];
    for (int i = 0; i < POOL; i++) mkref_store(r->a, pool, i, (float)(mean + std * mkref_rng_normal(&r->rng)));
    size_t done = 0;
    while (done < count) {
        size_t start = (size_t)(mkref_rng_u64(&r->rng) % POOL), len = POOL - start;
        if (len > count - done) len = count - done;
        memcpy((unsigned char *)dst + done * r->as, pool + start * r->as, len * r->as);
        done += len;
    }
}

static void fill_bytes(runner *r, unsigned char *dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v = mkref_rng_u64(&r->rng);
        memcpy(dst + i, &v, 8);
    }
    for (; i < n; i++) dst[i] = (unsigned char)mkref_rng_u64(&r->rng);
}

/* A dense [rows][cols] tensor in the activation dtype: the rows of the given f32 sources
   one after the other (src[i] has rows_of[i] rows), or random normal(mean, std). */
static mk_status dense(runner *r, mk_buffer **out, int64_t rows, int64_t cols, const float *const *src,
                       const int64_t *rows_of, int nsrc, double mean, double std, const char *what) {
    const size_t count = (size_t)rows * (size_t)cols;
    mk_status s = alloc(r, count * r->as, out, what);
    if (s != MK_OK) return s;
    unsigned char *h = host_alloc(r, count * r->as, what, &s);
    if (!h) return s;
    if (src) {
        size_t at = 0;
        for (int i = 0; i < nsrc; i++)
            for (size_t j = 0; j < (size_t)rows_of[i] * (size_t)cols; j++) mkref_store(r->a, h, (int64_t)at++, src[i][j]);
    } else {
        fill_random(r, h, count, mean, std);
    }
    s = mk_buffer_write(*out, 0, h, count * r->as);
    free(h);
    return s == MK_OK ? MK_OK : failf(r, s, "writing %s: %s", what, mk_last_error());
}

/* A quantized weight with random codes and scales that give entries of about std. */
static mk_status quantized(runner *r, linear_w *L, double std, const char *what) {
    static const mk_qformat fmt[] = {[MKP_W_W4G128] = MK_QW4, [MKP_W_W8] = MK_QW8, [MKP_W_W8A8] = MK_QW8A8,
                                     [MKP_W_FP8] = MK_QFP8};
    const mkp_weights w = r->p->set.weights;
    mk_qweight_desc d = {fmt[w], L->n, L->k, w == MKP_W_W4G128 ? 128 : 0, 0};
    mk_qweight_data data;
    mk_status s = mk_qweight_data_alloc(&d, 0, 0, &data);
    if (s != MK_OK) return failf(r, s, "host arrays of %s: %s", what, mk_last_error());
    const size_t qb = mkref_qweight_q_bytes(&d);
    unsigned char *q = data.q;
    fill_bytes(r, q, qb);
    /* code spread: QW4 q-8 in -8..7 (std ~4.6), int8 -127..127 (~73), e4m3 codes (~100) */
    double spread = 73;
    for (size_t i = 0; i < qb; i++) {
        if (w == MKP_W_FP8 && (q[i] & 0x7F) == 0x7F) q[i] ^= 1; /* no NaN codes */
        if ((w == MKP_W_W8 || w == MKP_W_W8A8) && q[i] == 0x80) q[i] = 0x81; /* -127..127 */
    }
    if (w == MKP_W_W4G128) spread = 4.6;
    if (w == MKP_W_FP8) spread = 100;
    const size_t ns = (size_t)L->n * (size_t)mkref_qweight_groups(&d);
    for (size_t i = 0; i < ns; i++) {
        double v = std / spread * (0.75 + 0.5 * mkref_rng_uniform(&r->rng));
        if (w == MKP_W_W4G128 || w == MKP_W_W8) ((uint16_t *)data.scales)[i] = mk_f32_to_f16((float)v);
        else ((float *)data.scales)[i] = (float)v;
    }
    s = mk_qweight_create(r->ctx, &d, &data, &L->qw);
    mk_qweight_data_free(&data);
    if (s != MK_OK) return failf(r, s, "mk_qweight_create (%s): %s", what, mk_last_error());
    return MK_OK;
}

static mk_status linear(runner *r, linear_w *L, int64_t n, int64_t k, const float *const *src,
                        const int64_t *rows_of, int nsrc, const char *what) {
    L->n = n, L->k = k;
    const mkp_weights w = r->p->set.weights;
    const double std = 1.0 / sqrt((double)k);
    mk_status s;
    if (w == MKP_W_F16 || w == MKP_W_BF16 || w == MKP_W_F32 || src)
        s = dense(r, &L->w, n, k, src, rows_of, nsrc, 0, std, what);
    else
        s = quantized(r, L, std, what);
    if (s == MK_OK && r->c->linear_bias) s = dense(r, &L->bias, 1, n, NULL, NULL, 0, 0, 0.02, what);
    return s;
}

static mk_status norm(runner *r, norm_w *N, int64_t n, const float *src, const char *what) {
    const int64_t one = 1;
    const float *const srcs[1] = {src};
    mk_status s = dense(r, &N->w, 1, n, src ? srcs : NULL, &one, 1, r->c->norm_plus_one ? 0 : 1, 0.1, what);
    if (s == MK_OK && r->c->layernorm) s = dense(r, &N->b, 1, n, NULL, NULL, 0, 0, 0.1, what);
    return s;
}

static const float *ext(runner *r, const char *name, int layer) {
    return r->args->weights ? r->args->weights(r->args->weights_arg, name, layer) : NULL;
}

static mk_status make_layer(runner *r, layer_w *L) {
    const mkm_config *c = r->c;
    const mkp_plan *p = r->p;
    const int64_t h = c->hidden, D = c->head_dim, Hq = c->heads, Hkv = c->kv_heads, I = c->intermediate;
    const int li = L->index;
    mk_status s;
    if (r->args->weights) { /* Llama-style weights from outside */
        const float *wq = ext(r, "wq", li), *wk = ext(r, "wk", li), *wv = ext(r, "wv", li), *wo = ext(r, "wo", li);
        const float *wg = ext(r, "w_gate", li), *wu = ext(r, "w_up", li), *wd = ext(r, "w_down", li);
        const float *an = ext(r, "attn_norm", li), *mn = ext(r, "mlp_norm", li);
        if (!wq || !wk || !wv || !wo || !wg || !wu || !wd || !an || !mn || c->qk_norm || !c->gated_mlp ||
            c->layernorm || c->linear_bias)
            return failf(r, MK_ERR_INVALID_ARGUMENT, "layer %d: the supplied weights do not match the plan", li);
        const float *const qkv[3] = {wq, wk, wv}, *const gu[2] = {wg, wu};
        const int64_t qkv_rows[3] = {Hq * D, Hkv * D, Hkv * D}, gu_rows[2] = {I, I}, h_rows[1] = {h};
        const float *const o1[1] = {wo}, *const d1[1] = {wd};
        if ((s = norm(r, &L->attn_norm, h, an, "attn_norm")) != MK_OK) return s;
        if ((s = linear(r, &L->qkv, p->qkv_width, h, qkv, qkv_rows, 3, "qkv_proj")) != MK_OK) return s;
        if ((s = linear(r, &L->o, h, Hq * D, o1, h_rows, 1, "o_proj")) != MK_OK) return s;
        if ((s = norm(r, &L->mlp_norm, h, mn, "mlp_norm")) != MK_OK) return s;
        if ((s = linear(r, &L->up, 2 * I, h, gu, gu_rows, 2, "gate_up_proj")) != MK_OK) return s;
        if ((s = linear(r, &L->down, h, I, d1, h_rows, 1, "down_proj")) != MK_OK) return s;
    } else {
        if ((s = norm(r, &L->attn_norm, h, NULL, "attn_norm")) != MK_OK) return s;
        if (c->qk_norm) {
            if ((s = linear(r, &L->q, Hq * D, h, NULL, NULL, 0, "q_proj")) != MK_OK) return s;
            if ((s = linear(r, &L->k, Hkv * D, h, NULL, NULL, 0, "k_proj")) != MK_OK) return s;
            if ((s = linear(r, &L->v, Hkv * D, h, NULL, NULL, 0, "v_proj")) != MK_OK) return s;
            if ((s = norm(r, &L->q_norm, D, NULL, "q_norm")) != MK_OK) return s;
            if ((s = norm(r, &L->k_norm, D, NULL, "k_norm")) != MK_OK) return s;
        } else if ((s = linear(r, &L->qkv, p->qkv_width, h, NULL, NULL, 0, "qkv_proj")) != MK_OK) {
            return s;
        }
        if ((s = linear(r, &L->o, h, Hq * D, NULL, NULL, 0, "o_proj")) != MK_OK) return s;
        if (c->sandwich_norms && (s = norm(r, &L->attn_post, h, NULL, "post_attention_norm")) != MK_OK) return s;
        if ((s = norm(r, &L->mlp_norm, h, NULL, "mlp_norm")) != MK_OK) return s;
        if ((s = linear(r, &L->up, p->up_width, h, NULL, NULL, 0, "mlp up")) != MK_OK) return s;
        if ((s = linear(r, &L->down, h, I, NULL, NULL, 0, "mlp down")) != MK_OK) return s;
        if (c->sandwich_norms && (s = norm(r, &L->mlp_post, h, NULL, "post_feedforward_norm")) != MK_OK) return s;
    }
    mk_kv_cache_desc kd = {p->num_blocks, p->set.block_size, c->kv_heads, c->head_dim, p->kv_dtype};
    if ((s = mk_kv_cache_create(r->ctx, &kd, &L->cache)) != MK_OK)
        return failf(r, s, "layer %d: mk_kv_cache_create: %s", li, mk_last_error());
    return MK_OK;
}

static void free_linear(linear_w *L) {
    mk_buffer_free(L->w);
    mk_qweight_destroy(L->qw);
    mk_buffer_free(L->bias);
}

static void free_norm(norm_w *N) {
    mk_buffer_free(N->w);
    mk_buffer_free(N->b);
}

static void drop_plans(runner *r) {
    mk_plan_destroy(r->rope_plan), mk_plan_destroy(r->append_plan);
    r->rope_plan = r->append_plan = NULL;
    for (int i = 0; r->attn_plan && i < r->nlayers; i++) {
        if (r->attn_own[i]) mk_plan_destroy(r->attn_plan[i]);
        r->attn_plan[i] = NULL, r->attn_own[i] = 0;
    }
}

static void teardown(runner *r) {
    for (int i = 0; r->layers && i < r->nlayers; i++) {
        layer_w *L = &r->layers[i];
        free_norm(&L->attn_norm), free_norm(&L->q_norm), free_norm(&L->k_norm);
        free_norm(&L->attn_post), free_norm(&L->mlp_norm), free_norm(&L->mlp_post);
        free_linear(&L->qkv), free_linear(&L->q), free_linear(&L->k), free_linear(&L->v);
        free_linear(&L->o), free_linear(&L->up), free_linear(&L->down);
        mk_kv_cache_destroy(L->cache);
    }
    free(r->layers);
    mk_buffer *bufs[] = {r->embed, r->wpe, r->lm, r->x, r->hn, r->o, r->qkv, r->q, r->k, r->v, r->att, r->up,
                         r->act, r->ones, r->pe, r->fin, r->logits};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) mk_buffer_free(bufs[i]);
    drop_plans(r);
    free(r->attn_plan);
    free(r->attn_own);
    free_norm(&r->final_norm);
    for (int i = 0; r->ev && i < r->ev_cap; i++) mk_event_destroy(r->ev[i]);
    free(r->ev);
    free(r->iv_step);
    free(r->iv_kind);
    free(r->h_idx);
}

static mk_status setup(runner *r) {
    const mkm_config *c = r->c;
    const mkp_plan *p = r->p;
    const int64_t h = c->hidden, V = c->vocab, T = r->T, B = r->B;
    mk_status s;
    /* model weights */
    const float *emb = ext(r, "embed", -1), *lm = ext(r, "lm_head", -1), *fn = ext(r, "final_norm", -1);
    if (r->args->weights && (!emb || !fn || (!lm && !c->tie_embeddings)))
        return failf(r, MK_ERR_INVALID_ARGUMENT, "the supplied weights lack embed, final_norm or lm_head");
    const float *const e1[1] = {emb}, *const l1[1] = {lm};
    const int64_t v1[1] = {V};
    if ((s = dense(r, &r->embed, V, h, emb ? e1 : NULL, v1, 1, 0, 1.0, "embedding table")) != MK_OK) return s;
    if (c->learned_positions &&
        (s = dense(r, &r->wpe, c->max_positions, h, NULL, NULL, 0, 0, 0.1, "position table")) != MK_OK)
        return s;
    if (!c->tie_embeddings &&
        (s = dense(r, &r->lm, V, h, lm ? l1 : NULL, v1, 1, 0, 1.0 / sqrt((double)h), "LM head")) != MK_OK)
        return s;
    if ((s = norm(r, &r->final_norm, h, fn, "final norm")) != MK_OK) return s;
    /* layers */
    r->layers = calloc((size_t)r->args->layers_run, sizeof *r->layers);
    if (!r->layers) return failf(r, MK_ERR_OUT_OF_MEMORY, "out of host memory");
    for (int i = 0; i < r->args->layers_run; i++) {
        layer_w *L = &r->layers[i];
        L->index = r->args->layer_index[i];
        L->kind = p->kind_of[L->index];
        r->nlayers = i + 1;
        if ((s = make_layer(r, L)) != MK_OK) return s;
        if (r->args->progress) r->args->progress(r->args->progress_arg, "weights", i + 1, r->args->layers_run);
    }
    /* activations (the sizes the plan counts in activation_bytes) */
    const size_t a = r->as, Tz = (size_t)T;
    struct { mk_buffer **b; size_t bytes; const char *what; } acts[] = {
        {&r->x, Tz * (size_t)h * a, "x"}, {&r->hn, Tz * (size_t)h * a, "normed x"}, {&r->o, Tz * (size_t)h * a, "o"},
        {c->qk_norm ? &r->q : &r->qkv, Tz * (size_t)(c->qk_norm ? (int64_t)c->heads * c->head_dim : p->qkv_width) * a, "q|k|v"},
        {c->qk_norm ? &r->k : NULL, Tz * (size_t)((int64_t)c->kv_heads * c->head_dim) * a, "k"},
        {c->qk_norm ? &r->v : NULL, Tz * (size_t)((int64_t)c->kv_heads * c->head_dim) * a, "v"},
        {&r->att, Tz * (size_t)((int64_t)c->heads * c->head_dim) * a, "attention out"},
        {&r->up, Tz * (size_t)p->up_width * a, "mlp up"}, {&r->act, Tz * (size_t)c->intermediate * a, "mlp act"},
        {c->learned_positions ? &r->ones : NULL, Tz * (size_t)c->intermediate * a, "ones"},
        {c->learned_positions ? &r->pe : NULL, Tz * (size_t)h * a, "positions"},
        {&r->fin, (size_t)B * (size_t)h * a, "final rows"}, {&r->logits, (size_t)B * (size_t)V * a, "logits"}};
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++)
        if (acts[i].b && (s = alloc(r, acts[i].bytes, acts[i].b, acts[i].what)) != MK_OK) return s;
    if (c->learned_positions) { /* gelu(x) * 1: GPT-2's plain GELU through mk_gelu_mul */
        unsigned char *ones = host_alloc(r, Tz * (size_t)c->intermediate * a, "ones", &s);
        if (!ones) return s;
        for (size_t i = 0; i < Tz * (size_t)c->intermediate; i++) mkref_store(r->a, ones, (int64_t)i, 1.0f);
        s = mk_buffer_write(r->ones, 0, ones, Tz * (size_t)c->intermediate * a);
        free(ones);
        if (s != MK_OK) return failf(r, s, "writing ones: %s", mk_last_error());
    }
    /* host index arrays: positions [Tz], slots [Tz], the block table [B][mb] (sequence b owns
       blocks b*mb .. b*mb+mb-1), context lengths [B] or cu_seqlens [B+1] */
    size_t idx_n = 2 * Tz + (size_t)B * (size_t)p->blocks_per_seq + (size_t)B + 1;
    if (!(r->h_idx = host_alloc(r, idx_n * 4, "index arrays", &s))) return s;
    r->attn_plan = calloc((size_t)r->nlayers, sizeof *r->attn_plan);
    r->attn_own = calloc((size_t)r->nlayers, 1);
    if (!r->attn_plan || !r->attn_own) return failf(r, MK_ERR_OUT_OF_MEMORY, "out of host memory");
    /* events: one chain per pass */
    int per_layer = 0, once = 0;
    for (int ph = 0; ph < MKP_PHASES; ph++) {
        int pl = 0, on = 0;
        for (int i = 0; i < p->nsteps[ph]; i++) {
            if (p->steps[ph][i].per_layer) pl++;
            else on++;
        }
        if (pl > per_layer) per_layer = pl;
        if (on > once) once = on;
    }
    r->ev_cap = once + per_layer * r->args->layers_run + 1;
    r->ev = calloc((size_t)r->ev_cap, sizeof *r->ev);
    r->iv_step = calloc((size_t)r->ev_cap, sizeof *r->iv_step);
    r->iv_kind = calloc((size_t)r->ev_cap, sizeof *r->iv_kind);
    if (!r->ev || !r->iv_step || !r->iv_kind) return failf(r, MK_ERR_OUT_OF_MEMORY, "out of host memory");
    for (int i = 0; i < r->ev_cap; i++)
        if ((s = mk_event_create(r->ctx, &r->ev[i])) != MK_OK)
            return failf(r, s, "mk_event_create: %s", mk_last_error());
    return MK_OK;
}

/* ---- tensors */

static mk_tensor view(mk_buffer *b, int64_t off, mk_dtype t, int ndim, int64_t d0, int64_t d1, int64_t d2,
                      int64_t row_stride) {
    mk_tensor x;
    memset(&x, 0, sizeof x);
    x.buf = b;
    x.offset = (size_t)off * mk_dtype_size(t);
    x.dtype = t;
    x.ndim = ndim;
    if (ndim == 1) {
        x.shape[0] = d0, x.stride[0] = 1;
    } else if (ndim == 2) {
        x.shape[0] = d0, x.shape[1] = d1;
        x.stride[0] = row_stride, x.stride[1] = 1;
    } else {
        x.shape[0] = d0, x.shape[1] = d1, x.shape[2] = d2;
        x.stride[0] = row_stride, x.stride[1] = d2, x.stride[2] = 1;
    }
    return x;
}

/* ---- the steps */

typedef struct {
    mkp_phase ph;
    int g;     /* decode step */
    int64_t T; /* tokens in this pass */
} pass_info;

static int32_t token_at(const runner *r, int64_t b, int64_t i) {
    const int64_t V = r->c->vocab, L = r->P + r->G;
    if (r->args->tokens) return r->args->tokens[b * L + i];
    uint64_t start = (r->args->seed * 2654435761u + (uint64_t)b * (uint64_t)L) % (uint64_t)V;
    return (int32_t)((start + (uint64_t)i) % (uint64_t)V);
}

/* rows [first, first + count) of sequence b from table rows given by row_of, coalesced
   into one device copy per run of consecutive table rows */
static mk_status gather(runner *r, mk_buffer *dst, mk_buffer *table, int64_t b, int64_t first, int64_t count,
                        int64_t dst_row, int positions) {
    const size_t row = (size_t)r->c->hidden * r->as;
    int64_t i = 0;
    while (i < count) {
        int64_t src = positions ? (first + i) % r->c->max_positions : token_at(r, b, first + i), run = 1;
        while (i + run < count) {
            int64_t next = positions ? (first + i + run) % r->c->max_positions : token_at(r, b, first + i + run);
            if (next != src + run) break;
            run++;
        }
        mk_status s = mk_buffer_copy(dst, (size_t)(dst_row + i) * row, table, (size_t)src * row, (size_t)run * row);
        if (s != MK_OK) return s;
        i += run;
    }
    return MK_OK;
}

static mk_status run_linear(runner *r, const linear_w *L, const mk_tensor *x, const mk_tensor *y) {
    mk_tensor bias = view(L->bias, 0, r->a, 1, L->n, 0, 0, 0);
    if (L->qw) return mk_qgemm(r->ctx, x, L->qw, L->bias ? &bias : NULL, y);
    mk_tensor w = view(L->w, 0, r->a, 2, L->n, L->k, 0, L->k);
    return mk_gemm(r->ctx, x, &w, L->bias ? &bias : NULL, y);
}

static mk_status run_norm(runner *r, const norm_w *N, const mk_tensor *x, const mk_tensor *y, int64_t n) {
    mk_tensor w = view(N->w, 0, r->a, 1, n, 0, 0, 0);
    if (r->c->layernorm) {
        mk_tensor b = view(N->b, 0, r->a, 1, n, 0, 0, 0);
        return mk_layernorm(r->ctx, x, &w, &b, (float)r->c->norm_eps, y);
    }
    return mk_rmsnorm(r->ctx, x, &w, (float)r->c->norm_eps, r->c->norm_plus_one, y);
}

/* Gemma 3's local layers: their own base, no scaling; else rope_theta and scaling. */
static mk_rope_params rope_params(const runner *r, const layer_w *L) {
    const mkm_config *c = r->c;
    const int local = L->kind == MKP_KIND_LOCAL;
    const int scaled = c->family != MKM_GEMMA3 || !local;
    mk_rope_params rp = {MK_ROPE_HALF, (float)(local ? c->rope_local_theta : c->rope_theta), 0,
                         MK_ROPE_SCALING_NONE, 1.0f, 0, 0, 0};
    if (scaled && c->rope_scaling == MKM_ROPE_LINEAR) {
        rp.scaling = MK_ROPE_SCALING_LINEAR;
        rp.factor = (float)c->rope_factor;
    } else if (scaled && c->rope_scaling == MKM_ROPE_LLAMA3) {
        rp.scaling = MK_ROPE_SCALING_LLAMA3;
        rp.factor = (float)c->rope_factor;
        rp.low_freq_factor = (float)c->rope_low_freq;
        rp.high_freq_factor = (float)c->rope_high_freq;
        rp.original_max_position = c->rope_original_max;
    }
    return rp;
}

/* Attention params of layer L: scale 1/sqrt(query_pre_attn_scalar) (0, the op's own
   1/sqrt(D), when that is D), causal, the window of the layer's kind. */
static mk_attn_params attn_params(const runner *r, const layer_w *L) {
    const mkm_config *c = r->c;
    double scale = c->query_pre_attn_scalar == c->head_dim ? 0 : 1.0 / sqrt(c->query_pre_attn_scalar);
    if (c->inverse_layer_scale) scale = 1.0 / sqrt(c->query_pre_attn_scalar) / (L->index + 1);
    mk_attn_params ap = {(float)scale, 1, r->p->window[L->kind], 0.0f};
    return ap;
}

static mk_status run_step(runner *r, const mkp_step *st, const pass_info *pi, const layer_w *L) {
    const mkm_config *c = r->c;
    const mkp_plan *p = r->p;
    const mk_dtype a = r->a;
    const int64_t T = pi->T, B = r->B, P = r->P, h = c->hidden, Hq = c->heads, Hkv = c->kv_heads,
                  D = c->head_dim, I = c->intermediate, W = p->qkv_width;
    const int dec = pi->ph == MKP_DECODE;
    mk_tensor x = view(r->x, 0, a, 2, T, h, 0, h), hn = view(r->hn, 0, a, 2, T, h, 0, h);
    mk_tensor o = view(r->o, 0, a, 2, T, h, 0, h);
    /* q, k, v: views into the fused buffer, or Gemma 3's own buffers */
    mk_tensor q = c->qk_norm ? view(r->q, 0, a, 3, T, Hq, D, Hq * D) : view(r->qkv, 0, a, 3, T, Hq, D, W);
    mk_tensor k = c->qk_norm ? view(r->k, 0, a, 3, T, Hkv, D, Hkv * D) : view(r->qkv, Hq * D, a, 3, T, Hkv, D, W);
    mk_tensor v = c->qk_norm ? view(r->v, 0, a, 3, T, Hkv, D, Hkv * D) : view(r->qkv, (Hq + Hkv) * D, a, 3, T, Hkv, D, W);
    switch (st->id) {
    case MKP_EMBED_ADD: {
        mk_tensor pe = view(r->pe, 0, a, 2, T, h, 0, h);
        return mk_add(r->ctx, &x, &pe, &x);
    }
    case MKP_ATTN_NORM: return run_norm(r, &L->attn_norm, &x, &hn, h);
    case MKP_QKV_PROJ: {
        mk_tensor y = view(r->qkv, 0, a, 2, T, W, 0, W);
        return run_linear(r, &L->qkv, &hn, &y);
    }
    case MKP_Q_PROJ:
    case MKP_K_PROJ:
    case MKP_V_PROJ: {
        const linear_w *lw = st->id == MKP_Q_PROJ ? &L->q : st->id == MKP_K_PROJ ? &L->k : &L->v;
        mk_tensor y = view(st->id == MKP_Q_PROJ ? r->q : st->id == MKP_K_PROJ ? r->k : r->v, 0, a, 2, T, lw->n, 0, lw->n);
        return run_linear(r, lw, &hn, &y);
    }
    case MKP_Q_NORM: return run_norm(r, &L->q_norm, &q, &q, D);
    case MKP_K_NORM: return run_norm(r, &L->k_norm, &k, &k, D);
    case MKP_ROPE_Q:
    case MKP_ROPE_K: {
        mk_rope_params rp = rope_params(r, L);
        return mk_rope_run(r->ctx, r->rope_plan, st->id == MKP_ROPE_Q ? &q : &k, &rp);
    }
    case MKP_KV_APPEND: return mk_kv_cache_append_run(r->ctx, r->append_plan, L->cache, &k, &v);
    case MKP_ATTENTION: {
        const mk_plan *plan = r->attn_plan[L - r->layers];
        mk_tensor out = view(r->att, 0, a, 3, T, Hq, D, Hq * D);
        if (!dec) return mk_attention_prefill_run(r->ctx, plan, &q, &k, &v, &out, NULL);
        return mk_attention_decode_run(r->ctx, plan, &q, L->cache, &out);
    }
    case MKP_O_PROJ: {
        mk_tensor in = view(r->att, 0, a, 2, T, Hq * D, 0, Hq * D);
        return run_linear(r, &L->o, &in, &o);
    }
    case MKP_ATTN_POST_NORM: return run_norm(r, &L->attn_post, &o, &o, h);
    case MKP_ATTN_RESIDUAL:
    case MKP_MLP_RESIDUAL: return mk_add(r->ctx, &x, &o, &x);
    case MKP_MLP_NORM: return run_norm(r, &L->mlp_norm, &x, &hn, h);
    case MKP_MLP_UP: {
        mk_tensor y = view(r->up, 0, a, 2, T, p->up_width, 0, p->up_width);
        return run_linear(r, &L->up, &hn, &y);
    }
    case MKP_MLP_ACT: {
        mk_tensor out = view(r->act, 0, a, 2, T, I, 0, I);
        mk_tensor gate = view(r->up, 0, a, 2, T, I, 0, p->up_width);
        mk_tensor up = c->gated_mlp ? view(r->up, I, a, 2, T, I, 0, p->up_width) : view(r->ones, 0, a, 2, T, I, 0, I);
        if (c->activation == MKM_ACT_SILU) return mk_silu_mul(r->ctx, &gate, &up, &out);
        return mk_gelu_mul(r->ctx, &gate, &up, c->activation == MKM_ACT_GELU_TANH, &out);
    }
    case MKP_MLP_DOWN: {
        mk_tensor in = view(r->act, 0, a, 2, T, I, 0, I);
        return run_linear(r, &L->down, &in, &o);
    }
    case MKP_MLP_POST_NORM: return run_norm(r, &L->mlp_post, &o, &o, h);
    case MKP_FINAL_NORM: {
        /* the last token of each sequence: prefill rows b*P + P-1 */
        mk_tensor in = dec ? view(r->x, 0, a, 2, B, h, 0, h) : view(r->x, (P - 1) * h, a, 2, B, h, 0, P * h);
        mk_tensor out = view(r->fin, 0, a, 2, B, h, 0, h);
        return run_norm(r, &r->final_norm, &in, &out, h);
    }
    case MKP_LM_HEAD: {
        mk_tensor in = view(r->fin, 0, a, 2, B, h, 0, h);
        mk_tensor w = view(c->tie_embeddings ? r->embed : r->lm, 0, a, 2, c->vocab, h, 0, h);
        mk_tensor y = view(r->logits, 0, a, 2, B, c->vocab, 0, c->vocab);
        return mk_gemm(r->ctx, &in, &w, NULL, &y);
    }
    case MKP_STEP_IDS: break;
    }
    return MK_ERR_INTERNAL;
}

/* ---- passes */

static void note_variant(runner *r, mkp_phase ph, int si) {
    const mkp_step *st = &r->p->steps[ph][si];
    mk_op op;
    const char *name = mk_op_from_name(st->op, &op) == MK_OK ? mk_last_kernel(r->ctx, op) : NULL;
    if (!name) name = "?";
    char *v = r->res->variant[ph][si];
    size_t used = strlen(v);
    if (used == 0) snprintf(v, sizeof r->res->variant[ph][si], "%s", name);
    else if (!strstr(v, name)) snprintf(v + used, sizeof r->res->variant[ph][si] - used, ",%s", name);
}

/* The plans of a pass, made from its host index arrays before its first event (so no
   timed op reads anything back): positions and slots of its tokens, and per run layer
   the attention plan (cu_seqlens for the prefill; block table and context lengths for a
   decode step), shared by the layers whose attention params agree. */
static mk_status make_plans(runner *r, const pass_info *pi) {
    const int64_t B = r->B, P = r->P, bs = r->p->set.block_size, mb = r->p->blocks_per_seq;
    const int dec = pi->ph == MKP_DECODE;
    int32_t *posv = r->h_idx, *slot = r->h_idx + pi->T, *bt = slot + pi->T, *lens = bt + B * mb;
    for (int64_t b = 0, t = 0; b < B; b++)
        for (int64_t i = 0; i < (dec ? 1 : P); i++, t++) {
            int64_t at = dec ? P + pi->g : i;
            posv[t] = (int32_t)at;
            slot[t] = (int32_t)((b * mb + at / bs) * bs + at % bs);
        }
    for (int64_t i = 0; i < B * mb; i++) bt[i] = (int32_t)i;
    for (int64_t b = 0; b <= B; b++) lens[b] = dec ? (int32_t)(P + pi->g + 1) : (int32_t)(b * P);
    drop_plans(r);
    mk_status s = mk_rope_plan_create(r->ctx, posv, pi->T, &r->rope_plan);
    if (s == MK_OK) s = mk_kv_append_plan_create(r->ctx, r->layers[0].cache, slot, pi->T, &r->append_plan);
    for (int li = 0; s == MK_OK && li < r->nlayers; li++) {
        const layer_w *L = &r->layers[li];
        const mk_attn_params ap = attn_params(r, L);
        for (int j = 0; j < li && !r->attn_plan[li]; j++) {
            const mk_attn_params aj = attn_params(r, &r->layers[j]);
            if (!memcmp(&ap, &aj, sizeof ap)) r->attn_plan[li] = r->attn_plan[j];
        }
        if (r->attn_plan[li]) continue;
        r->attn_own[li] = 1;
        if (dec) {
            const mk_decode_plan_desc d = {B, mb, bt, lens, L->cache, r->c->heads, r->a, ap};
            s = mk_decode_plan_create(r->ctx, &d, &r->attn_plan[li]);
        } else {
            const mk_prefill_plan_desc d = {B, lens, lens, (int)r->c->heads, (int)r->c->kv_heads, (int)r->c->head_dim, r->a, ap};
            s = mk_prefill_plan_create(r->ctx, &d, &r->attn_plan[li]);
        }
    }
    return s == MK_OK ? MK_OK : failf(r, s, "making the %s plans: %s", dec ? "decode" : "prefill", mk_last_error());
}

/* One pass (the prefill, or decode step g) over the run layers; warm: only the first run
   layer of each kind, untimed. */
static mk_status pass(runner *r, mkp_phase ph, int g, int warm) {
    const mkp_plan *p = r->p;
    pass_info pi = {ph, g, ph == MKP_DECODE ? r->B : r->T};
    mk_status s = make_plans(r, &pi);
    /* input preparation, queued before the first event: the token embeddings (and GPT-2's
       position embeddings) of this pass's tokens, gathered by device copies */
    for (int64_t b = 0; s == MK_OK && b < r->B; b++) {
        const int dec = ph == MKP_DECODE;
        s = gather(r, r->x, r->embed, b, dec ? r->P + g : 0, dec ? 1 : r->P, dec ? b : b * r->P, 0);
        if (s == MK_OK && r->c->learned_positions)
            s = gather(r, r->pe, r->wpe, b, dec ? r->P + g : 0, dec ? 1 : r->P, dec ? b : b * r->P, 1);
        if (s != MK_OK) s = failf(r, s, "gathering the embeddings: %s", mk_last_error());
    }
    if (s != MK_OK) return s;
    int first = 0, last = p->nsteps[ph]; /* [first, last): the per-layer steps */
    while (first < p->nsteps[ph] && !p->steps[ph][first].per_layer) first++;
    last = first;
    while (last < p->nsteps[ph] && p->steps[ph][last].per_layer) last++;
    int nev = 0, seen[MKP_KINDS] = {0, 0};
    const double t0 = cli_now_s();
    if ((s = mk_event_record(r->ev[0])) != MK_OK) return failf(r, s, "mk_event_record: %s", mk_last_error());
    for (int part = 0; part < 3; part++) {
        const int nl = part == 1 ? r->nlayers : 1;
        for (int li = 0; li < nl; li++) {
            const layer_w *L = part == 1 ? &r->layers[li] : NULL;
            if (L && warm && seen[L->kind]++) continue;
            const int from = part == 0 ? 0 : part == 1 ? first : last, to = part == 0 ? first : part == 1 ? last : p->nsteps[ph];
            for (int si = from; si < to; si++) {
                const mkp_step *st = &p->steps[ph][si];
                if (L && !(st->kinds & (1u << L->kind))) continue;
                if ((s = run_step(r, st, &pi, L)) != MK_OK) {
                    char where[48] = "";
                    if (L) snprintf(where, sizeof where, " (layer %d)", L->index);
                    return failf(r, s, "%s %s%s: %s", ph == MKP_DECODE ? "decode" : "prefill", st->name, where,
                                 mk_last_error());
                }
                note_variant(r, ph, si);
                r->iv_step[nev] = si;
                r->iv_kind[nev] = L ? L->kind : 0;
                if ((s = mk_event_record(r->ev[++nev])) != MK_OK)
                    return failf(r, s, "mk_event_record: %s", mk_last_error());
            }
            if (L && !warm && ph == MKP_PREFILL && r->args->progress)
                r->args->progress(r->args->progress_arg, "prefill", li + 1, r->nlayers);
        }
    }
    if ((s = mk_synchronize(r->ctx)) != MK_OK) return failf(r, s, "mk_synchronize: %s", mk_last_error());
    if (warm) return MK_OK;
    r->res->wall_ms[ph] += (cli_now_s() - t0) * 1e3;
    for (int i = 0; i < nev; i++) {
        float ms = 0;
        if ((s = mk_event_elapsed_ms(r->ev[i], r->ev[i + 1], &ms)) != MK_OK)
            return failf(r, s, "mk_event_elapsed_ms: %s", mk_last_error());
        r->res->time_ms[ph][r->iv_step[i]][r->iv_kind[i]] += ms > 0 ? ms : 0;
    }
    /* logits of this pass */
    const size_t nl = (size_t)r->B * (size_t)r->c->vocab;
    unsigned char *h = host_alloc(r, nl * r->as, "logits", &s);
    if (!h) return s;
    if ((s = mk_buffer_read(r->logits, 0, h, nl * r->as)) != MK_OK) {
        free(h);
        return failf(r, s, "reading the logits: %s", mk_last_error());
    }
    int bad = 0;
    float *dst = r->args->logits ? r->args->logits + (ph == MKP_DECODE ? 1 + (size_t)g : 0) * nl : NULL;
    for (size_t i = 0; i < nl; i++) {
        float v = mkref_load(r->a, h, (int64_t)i);
        bad += !isfinite(v);
        if (dst) dst[i] = v;
    }
    r->res->nonfinite_logits = bad;
    free(h);
    return MK_OK;
}

mk_status mkp_run(mk_context *ctx, const mkp_run_args *args, mkp_run_result *out, char *err, size_t n) {
    runner r;
    memset(&r, 0, sizeof r);
    memset(out, 0, sizeof *out);
    r.ctx = ctx, r.p = args->plan, r.c = &args->plan->model, r.args = args, r.res = out, r.err = err, r.errn = n;
    if (err && n) err[0] = 0;
    r.a = args->plan->act;
    r.as = mk_dtype_size(r.a);
    r.B = args->plan->set.batch, r.P = args->plan->set.prompt, r.G = args->plan->set.gen;
    r.T = r.B * r.P;
    if (args->layers_run < 1 || !args->layer_index)
        return failf(&r, MK_ERR_INVALID_ARGUMENT, "no layers to run");
    mkref_rng_seed(&r.rng, args->seed);
    for (int i = 0; i < args->layers_run; i++) out->runs[args->plan->kind_of[args->layer_index[i]]]++;
    const double t0 = cli_now_s();
    mk_status s = setup(&r);
    out->setup_s = cli_now_s() - t0;
    if (s == MK_OK && args->warmup) s = pass(&r, MKP_PREFILL, 0, 1);
    if (s == MK_OK) s = pass(&r, MKP_PREFILL, 0, 0);
    if (s == MK_OK && r.G > 0 && args->warmup) s = pass(&r, MKP_DECODE, 0, 1);
    for (int g = 0; s == MK_OK && g < r.G; g++) {
        s = pass(&r, MKP_DECODE, g, 0);
        if (s == MK_OK && args->progress) args->progress(args->progress_arg, "decode", g + 1, (int)r.G);
    }
    teardown(&r);
    return s;
}
