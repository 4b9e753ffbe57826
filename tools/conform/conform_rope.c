/*
 * Conformance cases of rope, in place on x [T, H, D] viewed inside a fused QKV-like
 * buffer (token stride (H + extra heads) * D; the other heads must not change): both
 * styles, full and partial rotary_dim, no / linear / Llama 3 scaling, positions up to
 * 4096 or 131071 (long contexts need more than float precision in the angle), the
 * largest position always present. F32/F16/BF16, D 64/80/96/128/256 and odd sizes.
 */
#include "conform_internal.h"

static const mk_dtype kTypes[3] = {MK_F32, MK_F16, MK_BF16};

typedef struct {
    mk_tensor x, pos;
    mk_rope_params p;
} rope_call;

static mk_status launch(mkcf_case *c, void *arg) {
    rope_call *k = arg;
    return mk_rope(c->ctx, &k->x, &k->pos, &k->p);
}

static int count(mkcf_mode mode) { return mode == MKCF_FULL ? 18 : 4; }

static void run(mkcf_case *c) {
    static const int dims[] = {64, 80, 96, 128, 256}, odd[] = {2, 6, 34}, tokens_q[] = {1, 7, 33},
                     tokens_f[] = {1, 7, 33, 100, 1000}, heads[] = {1, 2, 4, 8};
    static const char *const scaling_names[] = {"none", "linear", "llama3"};
    const int full = c->mode == MKCF_FULL, i = c->index;
    const mk_dtype t = kTypes[i % 3];
    int D = full && i % 6 == 5 ? MKCF_PICK(c, odd) : MKCF_PICK(c, dims);
    int64_t T = full ? MKCF_PICK(c, tokens_f) : MKCF_PICK(c, tokens_q);
    int H = MKCF_PICK(c, heads), extra = (int)mkref_rng_range(&c->rng, 0, 3);
    if (T * H * D > 300000) T = 300000 / (H * D);
    mk_rope_params p = {0};
    p.style = (mk_rope_style)(full ? mkref_rng_range(&c->rng, 0, 1) : i & 1);
    p.scaling = (mk_rope_scaling)(full ? i % 3 : i == 3 ? 2 : i % 3);
    p.theta = p.scaling == MK_ROPE_SCALING_LLAMA3 ? 500000.0f : mkref_rng_range(&c->rng, 0, 1) ? 1e6f : 10000.0f;
    int partial = (int)mkref_rng_range(&c->rng, 0, 2); /* 0: all of D, 1: D/2 (even), 2: another even size */
    p.rotary_dim = partial == 0 ? 0 : partial == 1 ? (D / 2) & ~1 : 2 * (int)mkref_rng_range(&c->rng, 1, D / 2);
    p.factor = p.scaling == MK_ROPE_SCALING_LINEAR ? 4.0f : 8.0f;
    p.low_freq_factor = 1.0f, p.high_freq_factor = 4.0f, p.original_max_position = 8192;
    int32_t max_pos = p.scaling == MK_ROPE_SCALING_NONE && i % 2 == 0 ? 4096 : 131071;
    size_t total = (size_t)T * (size_t)H * (size_t)D;
    float *x = mkcf_random(c, t, total, 1.0f, 4.0f), *ref = mkcf_host(c, total * sizeof(float));
    float *out = mkcf_host(c, total * sizeof(float));
    int32_t *pos = mkcf_host(c, (size_t)T * sizeof *pos);
    for (int64_t j = 0; j < T; j++) pos[j] = (int32_t)mkref_rng_range(&c->rng, 0, max_pos);
    pos[T - 1] = max_pos;
    for (size_t j = 0; j < total; j++) ref[j] = x[j];
    mkref_rope(ref, pos, T, H, D, &p);
    mkcf_round(t, ref, total);
    mkcf_describe(c, "rope %s T=%lld H=%d D=%d rotary_dim=%d %s theta=%g scaling=%s max position %d "
                 "(view with %d more heads per token)", mk_dtype_name(t), (long long)T, H, D,
                 p.rotary_dim ? p.rotary_dim : D, p.style == MK_ROPE_HALF ? "rotate-half" : "interleaved",
                 (double)p.theta, scaling_names[p.scaling], max_pos, extra);
    rope_call k = {{0}, {0}, p};
    int64_t shape[3] = {T, H, D}, stride[3] = {(int64_t)(H + extra) * D, D, 1}, ps[1] = {T};
    k.x = mkcf_upload_view(c, "x", t, 3, shape, stride, x);
    mkcf_mark_output(mkcf_buf_of(c, &k.x), &k.x, 0);
    k.pos = mkcf_upload_i32(c, "positions", 1, ps, pos);
    if (!mkcf_exec(c, launch, &k)) return;
    mkcf_read(c, &k.x, out);
    mkcf_check(c, "x", out, ref, total, mkcf_tol(t));
}

const mkcf_suite mkcf_suite_rope = {MK_OP_ROPE, 0, count, run};
