/*
 * The reference backend's kernel variants ("ref.scalar", one per op). Each gathers its
 * tensors (any dtype, any accepted strides) into plain float arrays, runs the reference
 * op, and scatters the result with the output dtype's rounding. The temporaries are
 * allocated per call: this backend is the oracle, not a fast path.
 */
#include <stdlib.h>
#include <string.h>

#include "mkref.h"
#include "ref/ref_backend.h"

static const uint8_t *host_base(const mk_tensor *t) {
    return (const uint8_t *)t->buf->mem + t->offset;
}

/* Visits every element of t in row-major order of its shape, with its element offset. */
#define FOR_EACH_ELEMENT(t, i, off, body)                                                   \
    do {                                                                                    \
        int64_t idx_[MK_MAX_DIMS] = {0};                                                    \
        size_t n_ = mk__tensor_numel(t);                                                    \
        for (size_t i = 0; i < n_; i++) {                                                   \
            int64_t off = 0;                                                                \
            for (int d_ = 0; d_ < (t)->ndim; d_++) off += idx_[d_] * (t)->stride[d_];       \
            body;                                                                           \
            for (int d_ = (t)->ndim - 1; d_ >= 0; d_--) {                                   \
                if (++idx_[d_] < (t)->shape[d_]) break;                                     \
                idx_[d_] = 0;                                                               \
            }                                                                               \
        }                                                                                   \
    } while (0)

static void gather(const mk_tensor *t, float *dst) {
    const uint8_t *base = host_base(t);
    FOR_EACH_ELEMENT(t, i, off, dst[i] = mkref_load(t->dtype, base, off));
}

static void scatter(const mk_tensor *t, const float *src) {
    uint8_t *base = (uint8_t *)host_base(t);
    FOR_EACH_ELEMENT(t, i, off, mkref_store(t->dtype, base, off, src[i]));
}

/* Up to 8 float temporaries per call, freed together. */
typedef struct {
    float *p[8];
    int n;
    int failed;
} temps;

static float *tmp(temps *tp, size_t n) {
    float *p = tp->n < 8 ? mk__malloc((n ? n : 1) * sizeof(float)) : NULL;
    if (!p) {
        tp->failed = 1;
        return NULL;
    }
    tp->p[tp->n++] = p;
    return p;
}

static float *tmp_gather(temps *tp, const mk_tensor *t) {
    if (!t) return NULL;
    float *p = tmp(tp, mk__tensor_numel(t));
    if (p) gather(t, p);
    return p;
}

static mk_status done(temps *tp, mk_status s) {
    for (int i = 0; i < tp->n; i++) mk__free(tp->p[i]);
    return s;
}

#define OOM(tp) done(tp, mk__fail(MK_ERR_OUT_OF_MEMORY, "ref backend: out of host memory"))

static mkref_kv_cache cache_view(const mk_kv_cache *c) {
    mkref_kv_cache v = {c->desc, c->k->mem, c->v->mem, c->k_scale ? c->k_scale->mem : NULL,
                        c->v_scale ? c->v_scale->mem : NULL};
    return v;
}

/* ---- runs */

static mk_status run_prefill(mk_context *ctx, const mk_op_args *a) {
    const mk_tensor *q = a->u.prefill.q, *k = a->u.prefill.k;
    temps tp = {{0}, 0, 0};
    float *fq = tmp_gather(&tp, q), *fk = tmp_gather(&tp, k), *fv = tmp_gather(&tp, a->u.prefill.v);
    float *out = tmp(&tp, mk__tensor_numel(q));
    float *lse = a->u.prefill.lse ? tmp(&tp, mk__tensor_numel(a->u.prefill.lse)) : NULL;
    if (tp.failed) return OOM(&tp);
    mkref_attention_prefill(fq, fk, fv, a->u.prefill.plan->host[0],
                            a->u.prefill.plan->host[1],
                            (int)a->u.prefill.cu_seqlens_q->shape[0] - 1, (int)q->shape[1],
                            (int)k->shape[1], (int)q->shape[2], &a->u.prefill.params, out, lse);
    scatter(a->u.prefill.out, out);
    if (lse) scatter(a->u.prefill.lse, lse);
    return done(&tp, MK_OK);
}

static mk_status run_decode(mk_context *ctx, const mk_op_args *a) {
    const mk_tensor *q = a->u.decode.q;
    temps tp = {{0}, 0, 0};
    float *fq = tmp_gather(&tp, q), *out = tmp(&tp, mk__tensor_numel(q));
    if (tp.failed) return OOM(&tp);
    mkref_kv_cache view = cache_view(a->u.decode.cache);
    mkref_attention_decode(fq, &view, a->u.decode.plan->host[0],
                           (int)a->u.decode.block_table->shape[1],
                           a->u.decode.plan->host[1], (int)q->shape[0],
                           (int)q->shape[1], &a->u.decode.params, out);
    scatter(a->u.decode.out, out);
    return done(&tp, MK_OK);
}

static mk_status run_kv_append(mk_context *ctx, const mk_op_args *a) {
    temps tp = {{0}, 0, 0};
    float *k = tmp_gather(&tp, a->u.kv_append.k), *v = tmp_gather(&tp, a->u.kv_append.v);
    if (tp.failed) return OOM(&tp);
    mkref_kv_cache view = cache_view(a->u.kv_append.cache);
    mkref_kv_append(&view, k, v, a->u.kv_append.plan->host[0],
                    a->u.kv_append.k->shape[0]);
    return done(&tp, MK_OK);
}

static mk_status run_kv_copy(mk_context *ctx, const mk_op_args *a) {
    mkref_kv_cache view = cache_view(a->u.kv_copy.cache);
    mkref_kv_copy_blocks(&view, a->u.kv_copy.plan->host[0],
                         a->u.kv_copy.pairs->shape[0]);
    return MK_OK;
}

static mk_status run_qgemm(mk_context *ctx, const mk_op_args *a) {
    const mk_qweight *w = a->u.qgemm.w;
    temps tp = {{0}, 0, 0};
    float *x = tmp_gather(&tp, a->u.qgemm.x), *bias = tmp_gather(&tp, a->u.qgemm.bias);
    float *y = tmp(&tp, mk__tensor_numel(a->u.qgemm.y));
    /* the reference's per-row workspace: K floats, and K bytes of quantized activations */
    float *xp = tmp(&tp, (size_t)w->desc.k), *qa = tmp(&tp, ((size_t)w->desc.k + 3) / 4);
    if (tp.failed) return OOM(&tp);
    mkref_qgemm_ws(&w->desc, w->impl, x, a->u.qgemm.x->shape[0], bias, y, xp, (uint8_t *)qa);
    scatter(a->u.qgemm.y, y);
    return done(&tp, MK_OK);
}

static mk_status run_gemm(mk_context *ctx, const mk_op_args *a) {
    const mk_tensor *x = a->u.gemm.x, *w = a->u.gemm.w;
    temps tp = {{0}, 0, 0};
    float *fx = tmp_gather(&tp, x), *fw = tmp_gather(&tp, w), *bias = tmp_gather(&tp, a->u.gemm.bias);
    float *y = tmp(&tp, mk__tensor_numel(a->u.gemm.y));
    if (tp.failed) return OOM(&tp);
    mkref_gemm(fx, fw, bias, x->shape[0], w->shape[0], x->shape[1], y);
    scatter(a->u.gemm.y, y);
    return done(&tp, MK_OK);
}

static mk_status run_norm(mk_context *ctx, const mk_op_args *a) {
    const mk_tensor *x = a->u.norm.x;
    int64_t n = x->shape[x->ndim - 1], rows = (int64_t)mk__tensor_numel(x) / n;
    temps tp = {{0}, 0, 0};
    float *fx = tmp_gather(&tp, x), *w = tmp_gather(&tp, a->u.norm.w), *b = tmp_gather(&tp, a->u.norm.b);
    float *y = tmp(&tp, mk__tensor_numel(x));
    if (tp.failed) return OOM(&tp);
    if (a->op == MK_OP_RMSNORM)
        mkref_rmsnorm(fx, w, rows, n, a->u.norm.eps, a->u.norm.plus_one, y);
    else
        mkref_layernorm(fx, w, b, rows, n, a->u.norm.eps, y);
    scatter(a->u.norm.y, y);
    return done(&tp, MK_OK);
}

static mk_status run_rope(mk_context *ctx, const mk_op_args *a) {
    const mk_tensor *x = a->u.rope.x;
    temps tp = {{0}, 0, 0};
    float *fx = tmp_gather(&tp, x);
    if (tp.failed) return OOM(&tp);
    mkref_rope(fx, a->u.rope.plan->host[0], x->shape[0], (int)x->shape[1],
               (int)x->shape[2], &a->u.rope.params);
    scatter(x, fx);
    return done(&tp, MK_OK);
}

static mk_status run_binary(mk_context *ctx, const mk_op_args *a) {
    size_t n = mk__tensor_numel(a->u.binary.out);
    temps tp = {{0}, 0, 0};
    float *x = tmp_gather(&tp, a->u.binary.a), *y = tmp_gather(&tp, a->u.binary.b), *out = tmp(&tp, n);
    if (tp.failed) return OOM(&tp);
    if (a->op == MK_OP_SILU_MUL) mkref_silu_mul(x, y, (int64_t)n, out);
    else if (a->op == MK_OP_GELU_MUL) mkref_gelu_mul(x, y, (int64_t)n, a->u.binary.approximate, out);
    else mkref_add(x, y, (int64_t)n, out);
    scatter(a->u.binary.out, out);
    return done(&tp, MK_OK);
}

/* The reference supports every valid call. */
static int ref_supports(const mk_context *ctx, const mk_op_args *args, char *why, size_t n) {
    return 1;
}

#define REF_KERNEL(var, OP, fn, text) \
    static const mk_kernel var = {OP, "ref.scalar", "ref", 0, text, ref_supports, fn, NULL}

REF_KERNEL(k_prefill, MK_OP_ATTENTION_PREFILL, run_prefill, "scalar reference, double accumulation");
REF_KERNEL(k_decode, MK_OP_ATTENTION_DECODE, run_decode, "scalar reference over the paged cache");
REF_KERNEL(k_append, MK_OP_KV_APPEND, run_kv_append, "scalar reference (quantizes I8/FP8)");
REF_KERNEL(k_copy, MK_OP_KV_COPY_BLOCKS, run_kv_copy, "scalar reference");
REF_KERNEL(k_qgemm, MK_OP_QGEMM, run_qgemm, "scalar reference on canonical weights");
REF_KERNEL(k_gemm, MK_OP_GEMM, run_gemm, "scalar reference, double accumulation");
REF_KERNEL(k_rmsnorm, MK_OP_RMSNORM, run_norm, "scalar reference");
REF_KERNEL(k_layernorm, MK_OP_LAYERNORM, run_norm, "scalar reference");
REF_KERNEL(k_rope, MK_OP_ROPE, run_rope, "scalar reference");
REF_KERNEL(k_silu, MK_OP_SILU_MUL, run_binary, "scalar reference");
REF_KERNEL(k_gelu, MK_OP_GELU_MUL, run_binary, "scalar reference");
REF_KERNEL(k_add, MK_OP_ADD, run_binary, "scalar reference");

static const mk_kernel *const ref_kernels[] = {&k_prefill, &k_decode, &k_append, &k_copy,
                                               &k_qgemm, &k_gemm, &k_rmsnorm, &k_layernorm,
                                               &k_rope, &k_silu, &k_gelu, &k_add};

const mk_kernel *const *mk_ref_kernels(int *count) {
    *count = (int)(sizeof ref_kernels / sizeof ref_kernels[0]);
    return ref_kernels;
}
