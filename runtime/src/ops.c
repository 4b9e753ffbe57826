/* The public ops: each packs its arguments into mk_op_args and hands them to mk__run
   (validation, then the dispatcher). No op does anything else here. */
#include <string.h>

#include "internal.h"


static mk_status run(mk_context *ctx, mk_op_args *a) { return mk__run(ctx, a); }

mk_status mk_attention_prefill(mk_context *ctx, const mk_tensor *q, const mk_tensor *k,
                               const mk_tensor *v, const mk_tensor *cu_seqlens_q,
                               const mk_tensor *cu_seqlens_k, const mk_attn_params *params,
                               const mk_tensor *out, const mk_tensor *lse) {
    if (!params) return mk__fail(MK_ERR_INVALID_ARGUMENT, "params is NULL");
    mk_op_args a = {.op = MK_OP_ATTENTION_PREFILL};
    a.u.prefill.q = q, a.u.prefill.k = k, a.u.prefill.v = v;
    a.u.prefill.cu_seqlens_q = cu_seqlens_q, a.u.prefill.cu_seqlens_k = cu_seqlens_k;
    a.u.prefill.out = out, a.u.prefill.lse = lse, a.u.prefill.params = *params;
    return run(ctx, &a);
}

mk_status mk_attention_decode(mk_context *ctx, const mk_tensor *q, const mk_kv_cache *cache,
                              const mk_tensor *block_table, const mk_tensor *context_lens,
                              const mk_attn_params *params, const mk_tensor *out) {
    if (!params) return mk__fail(MK_ERR_INVALID_ARGUMENT, "params is NULL");
    mk_op_args a = {.op = MK_OP_ATTENTION_DECODE};
    a.u.decode.q = q, a.u.decode.cache = cache, a.u.decode.block_table = block_table;
    a.u.decode.context_lens = context_lens, a.u.decode.out = out, a.u.decode.params = *params;
    return run(ctx, &a);
}

mk_status mk_kv_cache_append(mk_context *ctx, mk_kv_cache *cache, const mk_tensor *k,
                             const mk_tensor *v, const mk_tensor *slot_mapping) {
    mk_op_args a = {.op = MK_OP_KV_APPEND};
    a.u.kv_append.cache = cache, a.u.kv_append.k = k, a.u.kv_append.v = v;
    a.u.kv_append.slot_mapping = slot_mapping;
    return run(ctx, &a);
}

mk_status mk_kv_cache_copy_blocks(mk_context *ctx, mk_kv_cache *cache, const mk_tensor *pairs) {
    mk_op_args a = {.op = MK_OP_KV_COPY_BLOCKS};
    a.u.kv_copy.cache = cache, a.u.kv_copy.pairs = pairs;
    return run(ctx, &a);
}

mk_status mk_qgemm(mk_context *ctx, const mk_tensor *x, const mk_qweight *qw, const mk_tensor *bias,
                   const mk_tensor *y) {
    mk_op_args a = {.op = MK_OP_QGEMM};
    a.u.qgemm.x = x, a.u.qgemm.w = qw, a.u.qgemm.bias = bias, a.u.qgemm.y = y;
    return run(ctx, &a);
}

mk_status mk_gemm(mk_context *ctx, const mk_tensor *x, const mk_tensor *w, const mk_tensor *bias,
                  const mk_tensor *y) {
    mk_op_args a = {.op = MK_OP_GEMM};
    a.u.gemm.x = x, a.u.gemm.w = w, a.u.gemm.bias = bias, a.u.gemm.y = y;
    return run(ctx, &a);
}

mk_status mk_rmsnorm(mk_context *ctx, const mk_tensor *x, const mk_tensor *w, float eps, int plus_one,
                     const mk_tensor *y) {
    mk_op_args a = {.op = MK_OP_RMSNORM};
    a.u.norm.x = x, a.u.norm.w = w, a.u.norm.y = y, a.u.norm.eps = eps, a.u.norm.plus_one = plus_one != 0;
    return run(ctx, &a);
}

mk_status mk_layernorm(mk_context *ctx, const mk_tensor *x, const mk_tensor *w, const mk_tensor *b,
                       float eps, const mk_tensor *y) {
    mk_op_args a = {.op = MK_OP_LAYERNORM};
    a.u.norm.x = x, a.u.norm.w = w, a.u.norm.b = b, a.u.norm.y = y, a.u.norm.eps = eps;
    return run(ctx, &a);
}

mk_status mk_rope(mk_context *ctx, const mk_tensor *x, const mk_tensor *positions,
                  const mk_rope_params *params) {
    if (!params) return mk__fail(MK_ERR_INVALID_ARGUMENT, "params is NULL");
    mk_op_args a = {.op = MK_OP_ROPE};
    a.u.rope.x = x, a.u.rope.positions = positions, a.u.rope.params = *params;
    return run(ctx, &a);
}

static mk_status binary(mk_context *ctx, mk_op op, const mk_tensor *x, const mk_tensor *y,
                        int approximate, const mk_tensor *out) {
    mk_op_args a = {.op = op};
    a.u.binary.a = x, a.u.binary.b = y, a.u.binary.out = out, a.u.binary.approximate = approximate != 0;
    return run(ctx, &a);
}

mk_status mk_silu_mul(mk_context *ctx, const mk_tensor *gate, const mk_tensor *up, const mk_tensor *out) {
    return binary(ctx, MK_OP_SILU_MUL, gate, up, 0, out);
}

mk_status mk_gelu_mul(mk_context *ctx, const mk_tensor *gate, const mk_tensor *up, int approximate,
                      const mk_tensor *out) {
    return binary(ctx, MK_OP_GELU_MUL, gate, up, approximate, out);
}

mk_status mk_add(mk_context *ctx, const mk_tensor *a, const mk_tensor *b, const mk_tensor *out) {
    return binary(ctx, MK_OP_ADD, a, b, 0, out);
}

/* ---- runs over a plan: the plan supplies the index arrays (and the attention params) */

static mk_status run_plan(mk_context *ctx, mk_op_args *a, const mk_plan *plan) {
    if (!plan) return mk__fail(MK_ERR_INVALID_ARGUMENT, "plan is NULL");
    mk__args_use_plan(a, plan);
    return mk__run(ctx, a);
}

mk_status mk_attention_prefill_run(mk_context *ctx, const mk_plan *plan, const mk_tensor *q, const mk_tensor *k,
                                   const mk_tensor *v, const mk_tensor *out, const mk_tensor *lse) {
    mk_op_args a = {.op = MK_OP_ATTENTION_PREFILL};
    a.u.prefill.q = q, a.u.prefill.k = k, a.u.prefill.v = v;
    a.u.prefill.out = out, a.u.prefill.lse = lse;
    return run_plan(ctx, &a, plan);
}

mk_status mk_attention_decode_run(mk_context *ctx, const mk_plan *plan, const mk_tensor *q,
                                  const mk_kv_cache *cache, const mk_tensor *out) {
    mk_op_args a = {.op = MK_OP_ATTENTION_DECODE};
    a.u.decode.q = q, a.u.decode.cache = cache, a.u.decode.out = out;
    return run_plan(ctx, &a, plan);
}

mk_status mk_rope_run(mk_context *ctx, const mk_plan *plan, const mk_tensor *x, const mk_rope_params *params) {
    if (!params) return mk__fail(MK_ERR_INVALID_ARGUMENT, "params is NULL");
    mk_op_args a = {.op = MK_OP_ROPE};
    a.u.rope.x = x, a.u.rope.params = *params;
    return run_plan(ctx, &a, plan);
}

mk_status mk_kv_cache_append_run(mk_context *ctx, const mk_plan *plan, mk_kv_cache *cache, const mk_tensor *k,
                                 const mk_tensor *v) {
    mk_op_args a = {.op = MK_OP_KV_APPEND};
    a.u.kv_append.cache = cache, a.u.kv_append.k = k, a.u.kv_append.v = v;
    return run_plan(ctx, &a, plan);
}

mk_status mk_kv_cache_copy_blocks_run(mk_context *ctx, const mk_plan *plan, mk_kv_cache *cache) {
    mk_op_args a = {.op = MK_OP_KV_COPY_BLOCKS};
    a.u.kv_copy.cache = cache;
    return run_plan(ctx, &a, plan);
}
