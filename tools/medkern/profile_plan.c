/* The layer plan and its FLOP and byte counts (rules: docs/profiling.md). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "profile_plan.h"

static const char *const weights_names[] = {"f16", "bf16", "w4g128", "w8", "w8a8", "fp8", "f32"};
static const char *const kv_names[] = {"f16", "bf16", "int8", "fp8", "f32"};

const char *mkp_weights_name(mkp_weights w) {
    return (unsigned)w <= MKP_W_F32 ? weights_names[w] : "?";
}
const char *mkp_kv_name(mkp_kv k) { return (unsigned)k <= MKP_KV_F32 ? kv_names[k] : "?"; }
const char *mkp_kind_name(mkp_kind k) { return k == MKP_KIND_LOCAL ? "local" : "global"; }

int mkp_weights_parse(const char *s, mkp_weights *out) {
    for (int i = 0; s && i < MKP_W_F32; i++)
        if (!strcmp(s, weights_names[i])) return *out = (mkp_weights)i, 0;
    return -1;
}

int mkp_kv_parse(const char *s, mkp_kv *out) {
    for (int i = 0; s && i < MKP_KV_F32; i++)
        if (!strcmp(s, kv_names[i])) return *out = (mkp_kv)i, 0;
    return -1;
}

static int fail(char *err, size_t n, const char *fmt, ...) {
    if (err && n) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

double mkp_weight_matrix_bytes(mkp_weights w, int64_t n, int64_t k) {
    const double N = (double)n, K = (double)k;
    switch (w) {
    case MKP_W_F16:
    case MKP_W_BF16: return 2 * N * K;
    case MKP_W_F32: return 4 * N * K;
    case MKP_W_W4G128: return N * (double)((k + 1) / 2) + 2 * N * (double)(k / 128); /* nibbles + f16 scales */
    case MKP_W_W8: return N * K + 2 * N;                                              /* + f16 scale per row */
    case MKP_W_W8A8:
    case MKP_W_FP8: return N * K + 4 * N;                                             /* + f32 scale per row */
    }
    return 0;
}

/* ---- one call's counts (a = bytes per activation element) */

typedef struct {
    double flops, bytes;
} cost;

/* y[T, N] = x[T, K] . W^T (+ bias): 2TNK (+ TN), weights + x + y (+ bias). */
static cost linear(double T, int64_t N, int64_t K, mkp_weights w, int bias, double a) {
    cost c;
    c.flops = 2 * T * (double)N * (double)K + (bias ? T * (double)N : 0);
    c.bytes = mkp_weight_matrix_bytes(w, N, K) + (T * (double)K + T * (double)N) * a + (bias ? (double)N * a : 0);
    return c;
}

/* RMSNorm over rows of n: square, sum, scale, weight = 4 per element; x, y and w.
   LayerNorm: sum, centre, square, sum, scale, weight, bias = 7; x, y, w and b. */
static cost norm(double rows, int64_t n, int layer, double a) {
    cost c;
    c.flops = (layer ? 7 : 4) * rows * (double)n;
    c.bytes = (2 * rows * (double)n + (layer ? 2 : 1) * (double)n) * a;
    return c;
}

/* Elementwise over rows x n with `per` FLOPs per element and 3 streams (a, b, out). */
static cost eltwise(double rows, int64_t n, double per, double a) {
    cost c;
    c.flops = per * rows * (double)n;
    c.bytes = 3 * rows * (double)n * a;
    return c;
}

/* Keys a query at position i (0-based) of a causal sequence sees with a window of w keys
   (0 = none): min(i + 1, w). Sum over i = 0 .. P-1. */
static double visible_pairs(int64_t P, int64_t w) {
    const double p = (double)P;
    if (w <= 0 || w >= P) return p * (p + 1) / 2;
    const double W = (double)w;
    return W * (W + 1) / 2 + (p - W) * W;
}

/* KV element bytes and the f32 scale bytes per (token, head) of quantized caches. */
static double kv_elem(mkp_kv k) { return k == MKP_KV_F32 ? 4 : (k == MKP_KV_INT8 || k == MKP_KV_FP8) ? 1 : 2; }
static double kv_scale(mkp_kv k) { return (k == MKP_KV_INT8 || k == MKP_KV_FP8) ? 4 : 0; }

/* ---- building */

typedef struct {
    mkp_plan *p;
    mkp_phase ph;
} builder;

static mkp_step *add(builder *b, mkp_step_id id, const char *name, const char *op, int per_layer,
                     unsigned kinds, int64_t m, int64_t n, int64_t k) {
    mkp_plan *p = b->p;
    mkp_step *s = &p->steps[b->ph][p->nsteps[b->ph]++];
    memset(s, 0, sizeof *s);
    s->id = id;
    snprintf(s->name, sizeof s->name, "%s", name);
    snprintf(s->op, sizeof s->op, "%s", op);
    s->per_layer = per_layer;
    s->kinds = kinds;
    s->m = m, s->n = n, s->k = k;
    double layers = 0;
    if (!per_layer) layers = 1;
    else
        for (int kk = 0; kk < MKP_KINDS; kk++)
            if (kinds & (1u << kk)) layers += p->kind_layers[kk];
    s->layers = layers;
    s->calls = layers * (b->ph == MKP_DECODE ? p->set.gen : 1);
    return s;
}

/* Sets a step's totals from the cost of one call in one layer (the same in every layer and
   every decode step). */
static void total(mkp_step *s, cost c) {
    s->flops = c.flops * s->calls;
    s->bytes = c.bytes * s->calls;
}

static void build_phase(mkp_plan *p, mkp_phase ph) {
    builder b = {p, ph};
    const mkm_config *c = &p->model;
    const mkp_settings *st = &p->set;
    const int dec = ph == MKP_DECODE;
    const double a = (double)mk_dtype_size(p->act);
    const int64_t B = st->batch, P = st->prompt, G = st->gen;
    const int64_t T = dec ? B : B * P; /* tokens in one call */
    const double Td = (double)T;
    const int64_t h = c->hidden, Hq = c->heads, Hkv = c->kv_heads, D = c->head_dim, I = c->intermediate;
    const int bias = c->linear_bias, ln = c->layernorm;
    const mkp_weights w = st->weights;
    const unsigned all = (unsigned)p->kinds;
    const char *lin = (w == MKP_W_F16 || w == MKP_W_BF16 || w == MKP_W_F32) ? "gemm" : "qgemm";
    const char *nrm = ln ? "layernorm" : "rmsnorm";
    mkp_step *s;

    /* the embedding gathers are input preparation (device copies before the pass); GPT-2
       adds its learned position embeddings with an op */
    if (c->learned_positions) {
        s = add(&b, MKP_EMBED_ADD, "embed.add_positions", "add", 0, 0, T, h, 0);
        total(s, eltwise(Td, h, 1, a));
    }

    /* attention block */
    s = add(&b, MKP_ATTN_NORM, "attn.norm", nrm, 1, all, T, h, 0);
    total(s, norm(Td, h, ln, a));
    if (c->qk_norm) {
        s = add(&b, MKP_Q_PROJ, "attn.q_proj", lin, 1, all, T, Hq * D, h);
        total(s, linear(Td, Hq * D, h, w, bias, a));
        s = add(&b, MKP_K_PROJ, "attn.k_proj", lin, 1, all, T, Hkv * D, h);
        total(s, linear(Td, Hkv * D, h, w, bias, a));
        s = add(&b, MKP_V_PROJ, "attn.v_proj", lin, 1, all, T, Hkv * D, h);
        total(s, linear(Td, Hkv * D, h, w, bias, a));
        s = add(&b, MKP_Q_NORM, "attn.q_norm", "rmsnorm", 1, all, T * Hq, D, 0);
        total(s, norm(Td * (double)Hq, D, 0, a));
        s = add(&b, MKP_K_NORM, "attn.k_norm", "rmsnorm", 1, all, T * Hkv, D, 0);
        total(s, norm(Td * (double)Hkv, D, 0, a));
    } else {
        s = add(&b, MKP_QKV_PROJ, "attn.qkv_proj", lin, 1, all, T, p->qkv_width, h);
        total(s, linear(Td, p->qkv_width, h, w, bias, a));
    }
    if (c->rope_theta > 0) {
        /* a rotated pair: 4 multiplies, 2 adds = 3 FLOPs per element; read and write */
        s = add(&b, MKP_ROPE_Q, "attn.rope_q", "rope", 1, all, T, Hq, D);
        total(s, (cost){3 * Td * (double)(Hq * D), 2 * Td * (double)(Hq * D) * a});
        s = add(&b, MKP_ROPE_K, "attn.rope_k", "rope", 1, all, T, Hkv, D);
        total(s, (cost){3 * Td * (double)(Hkv * D), 2 * Td * (double)(Hkv * D) * a});
    }
    /* k and v read, written into the cache in its format (+ scales) */
    s = add(&b, MKP_KV_APPEND, "attn.kv_append", "kv_append", 1, all, T, Hkv, D);
    {
        const double kvd = Td * (double)(Hkv * D);
        total(s, (cost){0, 2 * kvd * a + 2 * kvd * kv_elem(st->kv) + 2 * Td * (double)Hkv * kv_scale(st->kv)});
    }
    const int both = all == 3u;
    for (int kind = 0; kind < MKP_KINDS; kind++) {
        if (!(all & (1u << kind))) continue;
        const char *name = !both ? "attn.attention" : kind == MKP_KIND_LOCAL ? "attn.attention_local" : "attn.attention_global";
        const int64_t W = p->window[kind];
        s = add(&b, MKP_ATTENTION, name, dec ? "attention_decode" : "attention_prefill", 1, 1u << kind, T, Hq, D);
        s->window = (int)W;
        double flops = 0, bytes = 0;
        if (!dec) {
            /* 2D for q.k and 2D for p.v per visible (query, key) pair and q head */
            flops = 4 * (double)(B * Hq * D) * visible_pairs(P, W);
            bytes = (2 * Td * (double)(Hq * D) + 2 * Td * (double)(Hkv * D)) * a; /* q, out; k, v */
        } else {
            for (int64_t g = 0; g < G; g++) {
                const int64_t ctx = P + g + 1, vis = W > 0 && W < ctx ? W : ctx;
                flops += 4 * (double)(B * Hq * D) * (double)vis;
                bytes += 2 * (double)(B * vis * Hkv * D) * kv_elem(st->kv) +
                         2 * (double)(B * vis * Hkv) * kv_scale(st->kv) + 2 * (double)(B * Hq * D) * a;
            }
        }
        s->flops = flops * s->layers;
        s->bytes = bytes * s->layers;
    }
    s = add(&b, MKP_O_PROJ, "attn.o_proj", lin, 1, all, T, h, Hq * D);
    total(s, linear(Td, h, Hq * D, w, bias, a));
    if (c->sandwich_norms) {
        s = add(&b, MKP_ATTN_POST_NORM, "attn.post_norm", nrm, 1, all, T, h, 0);
        total(s, norm(Td, h, ln, a));
    }
    s = add(&b, MKP_ATTN_RESIDUAL, "attn.residual", "add", 1, all, T, h, 0);
    total(s, eltwise(Td, h, 1, a));

    /* MLP block */
    s = add(&b, MKP_MLP_NORM, "mlp.norm", nrm, 1, all, T, h, 0);
    total(s, norm(Td, h, ln, a));
    s = add(&b, MKP_MLP_UP, c->gated_mlp ? "mlp.gate_up_proj" : "mlp.fc", lin, 1, all, T, p->up_width, h);
    total(s, linear(Td, p->up_width, h, w, bias, a));
    /* silu(g)*u: exp, add, divide, 2 multiplies = 5; gelu_tanh(g)*u: 10 (cube 2, scale 1, add 1,
       scale 1, tanh 1, add 1, halve and multiply 2, times u 1); gelu_erf(g)*u: 6 */
    const double per = c->activation == MKM_ACT_SILU ? 5 : c->activation == MKM_ACT_GELU_TANH ? 10 : 6;
    s = add(&b, MKP_MLP_ACT, "mlp.act", c->activation == MKM_ACT_SILU ? "silu_mul" : "gelu_mul", 1, all, T, I, 0);
    total(s, eltwise(Td, I, per, a));
    s = add(&b, MKP_MLP_DOWN, c->gated_mlp ? "mlp.down_proj" : "mlp.proj", lin, 1, all, T, h, I);
    total(s, linear(Td, h, I, w, bias, a));
    if (c->sandwich_norms) {
        s = add(&b, MKP_MLP_POST_NORM, "mlp.post_norm", nrm, 1, all, T, h, 0);
        total(s, norm(Td, h, ln, a));
    }
    s = add(&b, MKP_MLP_RESIDUAL, "mlp.residual", "add", 1, all, T, h, 0);
    total(s, eltwise(Td, h, 1, a));

    /* the last token of each sequence: final norm and the LM head (dense, activation dtype) */
    s = add(&b, MKP_FINAL_NORM, "final.norm", nrm, 0, 0, B, h, 0);
    total(s, norm((double)B, h, ln, a));
    s = add(&b, MKP_LM_HEAD, "final.lm_head", "gemm", 0, 0, B, c->vocab, h);
    total(s, linear((double)B, c->vocab, h, p->act == MK_F32 ? MKP_W_F32 : MKP_W_F16, 0, a));
}

/* One layer's weights: norms (activation dtype), projections in the format, biases. */
static double layer_weights(const mkp_plan *p, double *elements) {
    const mkm_config *c = &p->model;
    const mkp_weights w = p->set.weights;
    const double a = (double)mk_dtype_size(p->act);
    const int64_t h = c->hidden, D = c->head_dim, I = c->intermediate;
    const double norms = (c->sandwich_norms ? 4 : 2) * (double)h * (c->layernorm ? 2 : 1) + (c->qk_norm ? 2.0 * D : 0);
    const int64_t shapes[4][2] = {{p->qkv_width, h}, {h, c->heads * D}, {p->up_width, h}, {h, I}};
    double bytes = norms * a, elems = norms;
    for (int i = 0; i < 4; i++) {
        bytes += mkp_weight_matrix_bytes(w, shapes[i][0], shapes[i][1]);
        elems += (double)shapes[i][0] * (double)shapes[i][1];
        if (c->linear_bias) {
            bytes += (double)shapes[i][0] * a;
            elems += (double)shapes[i][0];
        }
    }
    *elements = elems;
    return bytes;
}

int mkp_build(const mkm_config *model, const mkp_settings *set, mkp_plan *p, char *err, size_t n) {
    memset(p, 0, sizeof *p);
    p->model = *model;
    p->set = *set;
    const mkm_config *c = &p->model;
    if (set->batch < 1 || set->prompt < 1 || set->gen < 0 || set->block_size < 1)
        return fail(err, n, "batch, prompt and block size must be >= 1 and gen >= 0");
    if (c->layers < 1 || c->layers > MKM_MAX_LAYERS) return fail(err, n, "the model has %d layers", c->layers);
    switch (set->weights) {
    case MKP_W_BF16: p->act = MK_BF16; break;
    case MKP_W_F32: p->act = MK_F32; break;
    default: p->act = MK_F16;
    }
    static const mk_dtype kvt[] = {MK_F16, MK_BF16, MK_I8, MK_FP8_E4M3, MK_F32};
    p->kv_dtype = kvt[set->kv];
    const int64_t h = c->hidden, D = c->head_dim;
    p->qkv_width = (int64_t)(c->heads + 2 * c->kv_heads) * D;
    p->up_width = c->gated_mlp ? 2 * (int64_t)c->intermediate : c->intermediate;
    if (set->weights == MKP_W_W4G128) {
        const int64_t ks[3] = {h, (int64_t)c->heads * D, c->intermediate};
        const char *names[3] = {"hidden_size", "num_attention_heads * head_dim", "intermediate_size"};
        for (int i = 0; i < 3; i++)
            if (ks[i] % 128)
                return fail(err, n, "--weights w4g128 needs every in-feature count to be a multiple of 128: %s is %lld",
                            names[i], (long long)ks[i]);
    }
    for (int i = 0; i < c->layers; i++) {
        p->kind_of[i] = c->layer_local[i] ? MKP_KIND_LOCAL : MKP_KIND_GLOBAL;
        p->kind_layers[p->kind_of[i]]++;
        p->kinds |= 1 << p->kind_of[i];
    }
    p->window[MKP_KIND_GLOBAL] = 0;
    p->window[MKP_KIND_LOCAL] = c->sliding_window;
    const int64_t ctx = (int64_t)set->prompt + set->gen;
    p->blocks_per_seq = (int)((ctx + set->block_size - 1) / set->block_size);
    p->num_blocks = (int64_t)set->batch * p->blocks_per_seq;
    /* mk_kv_cache: num_blocks * block_size * Hkv must fit in int32 (slots are int32) */
    if ((double)p->num_blocks * set->block_size * c->kv_heads > 2147483647.0)
        return fail(err, n, "batch x (prompt + gen) x num_key_value_heads = %.0f cache entries per layer exceeds 2^31-1",
                    (double)p->num_blocks * set->block_size * c->kv_heads);
    if ((double)set->batch * set->prompt > 2147483647.0 / (double)(p->qkv_width > p->up_width ? p->qkv_width : p->up_width))
        return fail(err, n, "batch x prompt = %.0f tokens is too many for one prefill call", (double)set->batch * set->prompt);

    build_phase(p, MKP_PREFILL);
    if (set->gen > 0) build_phase(p, MKP_DECODE);

    /* memory */
    const double a = (double)mk_dtype_size(p->act);
    double layer_elems;
    p->layer_weight_bytes = layer_weights(p, &layer_elems);
    double model_elems = (double)c->vocab * h + (double)h * (c->layernorm ? 2 : 1);
    if (c->learned_positions) model_elems += (double)c->max_positions * h;
    if (!c->tie_embeddings) model_elems += (double)c->vocab * h;
    p->model_weight_bytes = model_elems * a;
    p->weight_bytes = p->model_weight_bytes + c->layers * p->layer_weight_bytes;
    p->parameters = model_elems + c->layers * layer_elems;
    const double slots = (double)p->num_blocks * set->block_size * c->kv_heads;
    p->layer_kv_bytes = 2 * slots * ((double)D * kv_elem(set->kv) + kv_scale(set->kv));
    p->kv_bytes = c->layers * p->layer_kv_bytes;
    /* scratch of a prefill pass (decode uses the first batch rows of the same buffers):
       x, normed x, o; q|k|v; attention out; MLP up, activation (+ GPT-2: ones, positions);
       final rows; logits; int32 positions, slots, cu_seqlens, block table, context lengths */
    const double T = (double)set->batch * set->prompt, B = set->batch;
    double elems = T * (3.0 * h + (double)p->qkv_width + (double)c->heads * D + (double)p->up_width + c->intermediate) +
                   B * ((double)h + c->vocab);
    if (c->learned_positions) elems += T * ((double)c->intermediate + h);
    p->activation_bytes = elems * a + 4 * (2 * T + (B + 1) + B * p->blocks_per_seq + B);
    return 0;
}

const mkp_step *mkp_find(const mkp_plan *p, mkp_phase phase, const char *name) {
    for (int i = 0; i < p->nsteps[phase]; i++)
        if (!strcmp(p->steps[phase][i].name, name)) return &p->steps[phase][i];
    return NULL;
}

double mkp_phase_flops(const mkp_plan *p, mkp_phase phase) {
    double f = 0;
    for (int i = 0; i < p->nsteps[phase]; i++) f += p->steps[phase][i].flops;
    return f;
}

double mkp_phase_bytes(const mkp_plan *p, mkp_phase phase) {
    double f = 0;
    for (int i = 0; i < p->nsteps[phase]; i++) f += p->steps[phase][i].bytes;
    return f;
}

int mkp_choose_layers(const mkp_plan *p, int count, int *indices) {
    const int L = p->model.layers;
    int want[MKP_KINDS] = {0, 0}, present = 0;
    for (int k = 0; k < MKP_KINDS; k++)
        if (p->kind_layers[k]) want[k] = 1, present++;
    if (count < present || count > L) return -1;
    for (int left = count - present; left > 0; left--) {
        int best = -1;
        for (int k = 0; k < MKP_KINDS; k++) /* the kind with the most layers per chosen one */
            if (want[k] && want[k] < p->kind_layers[k] &&
                (best < 0 || (double)p->kind_layers[k] / want[k] > (double)p->kind_layers[best] / want[best]))
                best = k;
        if (best < 0) return -1;
        want[best]++;
    }
    int got = 0, taken[MKP_KINDS] = {0, 0};
    for (int i = 0; i < L; i++) {
        int k = p->kind_of[i];
        if (taken[k] < want[k]) taken[k]++, indices[got++] = i;
    }
    return got == count ? 0 : -1;
}

double mkp_device_bytes(const mkp_plan *p, int count) {
    return p->model_weight_bytes + p->activation_bytes + count * (p->layer_weight_bytes + p->layer_kv_bytes);
}
