/*
 * Every op through the public API on the ref device against direct calls of the scalar
 * reference (mkref_*). The ref backend is the reference wrapped as a backend, so the
 * results must match bit for bit: inputs are rounded through their dtype, the reference
 * runs on plain float arrays and its outputs are rounded through the output dtype.
 *
 * Layouts the API promises are exercised: q/k/v as views into one fused QKV buffer with
 * a row stride, x with a row stride for gemm/norm/elementwise, 3-D row-collapsible
 * inputs, in-place rmsnorm (y is x) and add (out is a or b), RoPE in place on views.
 * Outputs are poisoned (NaN) and followed by guard bytes; in-place ops are checked over
 * the whole buffer (what must not change did not). Also: quantized weights (create/read
 * round trip), the importers, the KV cache (create/append/read_block/copy_blocks),
 * events and buffer range rules.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mktest.h"

static mk_context *ctx;
static const mk_dtype DT[3] = {MK_F32, MK_F16, MK_BF16};

/* ------------------------------------------------------------ host/device data */

/* A guarded device buffer of n random elements of dtype t, with its host copies. */
typedef struct {
    mk_dtype t;
    size_t n, bytes;
    float *f;     /* values as floats (already rounded through t) */
    uint8_t *raw; /* the bytes on the device                       */
    mk_buffer *buf;
} hostdev;

static hostdev hd_random(mkref_rng *r, mk_dtype t, size_t n, float std) {
    hostdev h = {t, n, n * mk_dtype_size(t), mkt_alloc(n * sizeof(float)), NULL, NULL};
    h.raw = mkt_alloc(h.bytes);
    mkt_fill_normal(r, h.f, n, std, 4.0f);
    mkt_round(t, h.f, n);
    for (size_t i = 0; i < n; i++) mkref_store(t, h.raw, (int64_t)i, h.f[i]);
    h.buf = mkt_buffer(ctx, h.bytes);
    mk_buffer_write(h.buf, 0, h.raw, h.bytes);
    return h;
}

static void hd_free(hostdev *h) {
    free(h->f);
    free(h->raw);
    mk_buffer_free(h->buf);
}

/* The device buffer must still hold exactly `want` (h->bytes) and its guard. */
static void expect_bytes(const hostdev *h, const uint8_t *want, const char *what) {
    uint8_t *got = mkt_alloc(h->bytes);
    mkt_checks++;
    if (mk_buffer_read(h->buf, 0, got, h->bytes) != MK_OK) {
        mkt_fail_at(__FILE__, __LINE__, "%s: read failed: %s", what, mk_last_error());
    } else {
        for (size_t i = 0; i < h->bytes; i++)
            if (got[i] != want[i]) {
                mkt_fail_at(__FILE__, __LINE__, "%s: byte %zu of %zu is 0x%02x, want 0x%02x", what, i,
                            h->bytes, got[i], want[i]);
                break;
            }
    }
    free(got);
    mkt_guard_ok(h->buf, h->bytes, what);
}

/* An input buffer is unchanged by an op. */
static void expect_input_intact(const hostdev *h, const char *what) { expect_bytes(h, h->raw, what); }

static mk_tensor view(const hostdev *h, size_t off_elems, int nd, const int64_t *shape, const int64_t *stride) {
    mk_tensor t = mk_tensor_make(h->buf, off_elems * mk_dtype_size(h->t), h->t, nd, shape);
    for (int i = 0; i < nd; i++) t.stride[i] = stride[i];
    return t;
}

/* The elements of a view (row-major over its shape) from the host floats of its buffer. */
static float *gather(const hostdev *h, const mk_tensor *t) {
    size_t n = mkt_numel(t), off0 = t->offset / mk_dtype_size(t->dtype);
    float *out = mkt_alloc(n * sizeof(float));
    int64_t idx[4] = {0, 0, 0, 0};
    for (size_t i = 0; i < n; i++) {
        int64_t off = (int64_t)off0;
        for (int d = 0; d < t->ndim; d++) off += idx[d] * t->stride[d];
        out[i] = h->f[off];
        for (int d = t->ndim - 1; d >= 0; d--) {
            if (++idx[d] < t->shape[d]) break;
            idx[d] = 0;
        }
    }
    return out;
}

/* Writes values into the expected bytes of a view (as the op would, with rounding). */
static void scatter_raw(uint8_t *raw, const mk_tensor *t, const float *v) {
    size_t n = mkt_numel(t), off0 = t->offset / mk_dtype_size(t->dtype);
    int64_t idx[4] = {0, 0, 0, 0};
    for (size_t i = 0; i < n; i++) {
        int64_t off = (int64_t)off0;
        for (int d = 0; d < t->ndim; d++) off += idx[d] * t->stride[d];
        mkref_store(t->dtype, raw, off, v[i]);
        for (int d = t->ndim - 1; d >= 0; d--) {
            if (++idx[d] < t->shape[d]) break;
            idx[d] = 0;
        }
    }
}

/* Rounds reference outputs through the output dtype. */
static void round_out(mk_dtype t, float *x, size_t n) { mkt_round(t, x, n); }

/* got must equal want exactly (NaN only where want is NaN). */
static void expect_exact(const char *what, const float *got, const float *want, size_t n) {
    mkt_checks++;
    for (size_t i = 0; i < n; i++) {
        int same = got[i] == want[i] || (isnan(got[i]) && isnan(want[i]));
        if (!same || isnan(want[i])) {
            mkt_fail_at(__FILE__, __LINE__, "%s: element %zu is %.9g, the reference gives %.9g", what, i,
                        got[i], want[i]);
            return;
        }
    }
}

/* Downloads a (poisoned, guarded, contiguous) output and compares it with want. */
static void check_output(const char *what, const mk_tensor *out, const float *want) {
    size_t n = mkt_numel(out);
    float *got = mkt_alloc(n * sizeof(float));
    mkt_download(out, got);
    expect_exact(what, got, want, n);
    free(got);
}

static void expect_ref_kernel(mk_op op) {
    const char *k = mk_last_kernel(ctx, op);
    MKT_CHECK(k && strcmp(k, "ref.scalar") == 0, "mk_last_kernel(%s) is %s", mk_op_name(op), k ? k : "NULL");
}

/* ------------------------------------------------------------ gemm */

static void test_gemm(mk_dtype t, int with_bias, uint64_t salt) {
    const int64_t M = 7, N = 33, K = 40, xs = K + 5, ws = K + 3;
    mkref_rng r;
    mkt_rng(&r, salt);
    hostdev hx = hd_random(&r, t, (size_t)(M * xs), 1.0f), hw = hd_random(&r, t, (size_t)(N * ws), 0.15f);
    hostdev hb = hd_random(&r, t, (size_t)N, 1.0f);
    mk_tensor x = view(&hx, 2, 2, (int64_t[]){M, K}, (int64_t[]){xs, 1});
    mk_tensor w = view(&hw, 1, 2, (int64_t[]){N, K}, (int64_t[]){ws, 1});
    mk_tensor b = view(&hb, 0, 1, (int64_t[]){N}, (int64_t[]){1});
    mk_tensor y = mkt_output(ctx, t, 2, (int64_t[]){M, N});
    MKT_OK(mk_gemm(ctx, &x, &w, with_bias ? &b : NULL, &y));
    expect_ref_kernel(MK_OP_GEMM);
    float *fx = gather(&hx, &x), *fw = gather(&hw, &w), *want = mkt_alloc((size_t)(M * N) * sizeof(float));
    mkref_gemm(fx, fw, with_bias ? hb.f : NULL, M, N, K, want);
    round_out(t, want, (size_t)(M * N));
    char what[96];
    snprintf(what, sizeof what, "gemm %s bias=%d (strided x, w)", mk_dtype_name(t), with_bias);
    check_output(what, &y, want);
    expect_input_intact(&hx, "gemm x");
    expect_input_intact(&hw, "gemm w");
    expect_input_intact(&hb, "gemm bias");
    free(fx), free(fw), free(want);
    hd_free(&hx), hd_free(&hw), hd_free(&hb), mkt_free(&y);
}

/* ------------------------------------------------------------ norms */

static void test_rmsnorm(mk_dtype t, int plus_one, uint64_t salt) {
    /* x [5][3][24] whose rows (the 3-dim) have stride 30: a 3-D row-collapsible view */
    const int64_t A = 5, Bd = 3, N = 24, rs = 30;
    mkref_rng r;
    mkt_rng(&r, salt);
    hostdev hx = hd_random(&r, t, (size_t)(A * Bd * rs), 2.0f), hw = hd_random(&r, t, (size_t)N, 1.0f);
    mk_tensor x = view(&hx, 0, 3, (int64_t[]){A, Bd, N}, (int64_t[]){Bd * rs, rs, 1});
    mk_tensor w = view(&hw, 0, 1, (int64_t[]){N}, (int64_t[]){1});
    mk_tensor y = mkt_output(ctx, t, 3, (int64_t[]){A, Bd, N});
    const float eps = 1e-5f;
    MKT_OK(mk_rmsnorm(ctx, &x, &w, eps, plus_one, &y));
    expect_ref_kernel(MK_OP_RMSNORM);
    float *fx = gather(&hx, &x), *want = mkt_alloc((size_t)(A * Bd * N) * sizeof(float));
    mkref_rmsnorm(fx, hw.f, A * Bd, N, eps, plus_one, want);
    round_out(t, want, (size_t)(A * Bd * N));
    char what[96];
    snprintf(what, sizeof what, "rmsnorm %s plus_one=%d (3-D, row stride)", mk_dtype_name(t), plus_one);
    check_output(what, &y, want);
    expect_input_intact(&hx, "rmsnorm x");
    free(fx), free(want);
    hd_free(&hx), mkt_free(&y);

    /* in place: y is x (a contiguous [6][24] inside a bigger buffer, at an offset) */
    const int64_t R = 6;
    hostdev hi = hd_random(&r, t, (size_t)(R * N + 20), 2.0f);
    mk_tensor xi = view(&hi, 8, 2, (int64_t[]){R, N}, (int64_t[]){N, 1});
    float *fi = gather(&hi, &xi), *wi = mkt_alloc((size_t)(R * N) * sizeof(float));
    mkref_rmsnorm(fi, hw.f, R, N, eps, plus_one, wi);
    round_out(t, wi, (size_t)(R * N));
    uint8_t *expect = mkt_alloc(hi.bytes);
    memcpy(expect, hi.raw, hi.bytes);
    scatter_raw(expect, &xi, wi);
    MKT_OK(mk_rmsnorm(ctx, &xi, &w, eps, plus_one, &xi));
    snprintf(what, sizeof what, "rmsnorm %s in place (y aliases x)", mk_dtype_name(t));
    expect_bytes(&hi, expect, what);
    free(fi), free(wi), free(expect);
    hd_free(&hi), hd_free(&hw);
}

static void test_layernorm(mk_dtype t, int with_b, uint64_t salt) {
    const int64_t R = 7, N = 40, rs = 48;
    mkref_rng r;
    mkt_rng(&r, salt);
    hostdev hx = hd_random(&r, t, (size_t)(R * rs), 3.0f), hw = hd_random(&r, t, (size_t)N, 1.0f);
    hostdev hb = hd_random(&r, t, (size_t)N, 0.5f);
    mk_tensor x = view(&hx, 4, 2, (int64_t[]){R, N}, (int64_t[]){rs, 1});
    mk_tensor w = view(&hw, 0, 1, (int64_t[]){N}, (int64_t[]){1});
    mk_tensor b = view(&hb, 0, 1, (int64_t[]){N}, (int64_t[]){1});
    mk_tensor y = mkt_output(ctx, t, 2, (int64_t[]){R, N});
    const float eps = 1e-6f;
    MKT_OK(mk_layernorm(ctx, &x, &w, with_b ? &b : NULL, eps, &y));
    expect_ref_kernel(MK_OP_LAYERNORM);
    float *fx = gather(&hx, &x), *want = mkt_alloc((size_t)(R * N) * sizeof(float));
    mkref_layernorm(fx, hw.f, with_b ? hb.f : NULL, R, N, eps, want);
    round_out(t, want, (size_t)(R * N));
    char what[96];
    snprintf(what, sizeof what, "layernorm %s b=%d (row stride)", mk_dtype_name(t), with_b);
    check_output(what, &y, want);
    expect_input_intact(&hx, "layernorm x");
    free(fx), free(want);
    hd_free(&hx), hd_free(&hw), hd_free(&hb), mkt_free(&y);
}

/* ------------------------------------------------------------ rope */

static void test_rope(mk_dtype t, mk_rope_params p, uint64_t salt) {
    /* q and k of a fused QKV buffer, rotated in place; v and the row padding must not change */
    const int64_t T = 9, Hq = 4, Hkv = 2, D = 16, rs = (Hq + 2 * Hkv) * D + 3;
    mkref_rng r;
    mkt_rng(&r, salt);
    hostdev h = hd_random(&r, t, (size_t)(T * rs), 1.0f);
    int32_t pos[9];
    for (int i = 0; i < T; i++) pos[i] = (int32_t)mkref_rng_range(&r, 0, 40000);
    mk_tensor positions = mkt_upload_i32(ctx, 1, (int64_t[]){T}, pos);
    mk_tensor q = view(&h, 0, 3, (int64_t[]){T, Hq, D}, (int64_t[]){rs, D, 1});
    mk_tensor k = view(&h, (size_t)(Hq * D), 3, (int64_t[]){T, Hkv, D}, (int64_t[]){rs, D, 1});
    float *fq = gather(&h, &q), *fk = gather(&h, &k);
    mkref_rope(fq, pos, T, (int)Hq, (int)D, &p);
    mkref_rope(fk, pos, T, (int)Hkv, (int)D, &p);
    round_out(t, fq, (size_t)(T * Hq * D));
    round_out(t, fk, (size_t)(T * Hkv * D));
    uint8_t *expect = mkt_alloc(h.bytes);
    memcpy(expect, h.raw, h.bytes);
    scatter_raw(expect, &q, fq);
    scatter_raw(expect, &k, fk);
    MKT_OK(mk_rope(ctx, &q, &positions, &p));
    MKT_OK(mk_rope(ctx, &k, &positions, &p));
    expect_ref_kernel(MK_OP_ROPE);
    char what[128];
    snprintf(what, sizeof what, "rope %s style=%d scaling=%d rotary_dim=%d (q, k views of fused QKV)",
             mk_dtype_name(t), (int)p.style, (int)p.scaling, p.rotary_dim);
    expect_bytes(&h, expect, what);
    /* positions 0 leave x unchanged */
    int32_t zero[9] = {0};
    mk_tensor pz = mkt_upload_i32(ctx, 1, (int64_t[]){T}, zero);
    MKT_OK(mk_rope(ctx, &q, &pz, &p));
    snprintf(what, sizeof what, "rope %s at position 0", mk_dtype_name(t));
    expect_bytes(&h, expect, what);
    free(fq), free(fk), free(expect);
    hd_free(&h), mkt_free(&positions), mkt_free(&pz);
}

/* ------------------------------------------------------------ elementwise */

static void test_binary(mk_op op, mk_dtype t, int approximate, uint64_t salt) {
    const int64_t R = 6, N = 50, gs = N + 7, us = N + 2;
    mkref_rng r;
    mkt_rng(&r, salt);
    hostdev hg = hd_random(&r, t, (size_t)(R * gs), 2.0f), hu = hd_random(&r, t, (size_t)(R * us), 1.0f);
    mk_tensor g = view(&hg, 1, 2, (int64_t[]){R, N}, (int64_t[]){gs, 1});
    mk_tensor u = view(&hu, 0, 2, (int64_t[]){R, N}, (int64_t[]){us, 1});
    mk_tensor out = mkt_output(ctx, t, 2, (int64_t[]){R, N});
    mk_status s = op == MK_OP_SILU_MUL ? mk_silu_mul(ctx, &g, &u, &out)
                : op == MK_OP_GELU_MUL ? mk_gelu_mul(ctx, &g, &u, approximate, &out)
                                       : mk_add(ctx, &g, &u, &out);
    MKT_CHECK(s == MK_OK, "%s: %s", mk_op_name(op), mk_last_error());
    expect_ref_kernel(op);
    const size_t n = (size_t)(R * N);
    float *fg = gather(&hg, &g), *fu = gather(&hu, &u), *want = mkt_alloc(n * sizeof(float));
    if (op == MK_OP_SILU_MUL) mkref_silu_mul(fg, fu, (int64_t)n, want);
    else if (op == MK_OP_GELU_MUL) mkref_gelu_mul(fg, fu, (int64_t)n, approximate, want);
    else mkref_add(fg, fu, (int64_t)n, want);
    round_out(t, want, n);
    char what[96];
    snprintf(what, sizeof what, "%s %s approximate=%d (strided inputs)", mk_op_name(op), mk_dtype_name(t), approximate);
    check_output(what, &out, want);
    expect_input_intact(&hg, "gate/a");
    expect_input_intact(&hu, "up/b");
    free(fg), free(fu), free(want);
    hd_free(&hg), hd_free(&hu), mkt_free(&out);
}

/* add in place: out is a (which = 0) or b (which = 1). */
static void test_add_in_place(mk_dtype t, int which, uint64_t salt) {
    const int64_t R = 5, N = 33;
    const size_t n = (size_t)(R * N);
    mkref_rng r;
    mkt_rng(&r, salt);
    hostdev ha = hd_random(&r, t, n + 16, 1.0f), hb = hd_random(&r, t, n, 1.0f);
    mk_tensor a = view(&ha, 16, 2, (int64_t[]){R, N}, (int64_t[]){N, 1});
    mk_tensor b = view(&hb, 0, 2, (int64_t[]){R, N}, (int64_t[]){N, 1});
    float *fa = gather(&ha, &a), *fb = gather(&hb, &b), *want = mkt_alloc(n * sizeof(float));
    mkref_add(fa, fb, (int64_t)n, want);
    round_out(t, want, n);
    hostdev *target = which ? &hb : &ha;
    mk_tensor *tt = which ? &b : &a;
    uint8_t *expect = mkt_alloc(target->bytes);
    memcpy(expect, target->raw, target->bytes);
    scatter_raw(expect, tt, want);
    MKT_OK(mk_add(ctx, &a, &b, tt));
    char what[96];
    snprintf(what, sizeof what, "add %s in place (out aliases %s)", mk_dtype_name(t), which ? "b" : "a");
    expect_bytes(target, expect, what);
    expect_input_intact(which ? &ha : &hb, "add: the other input");
    free(fa), free(fb), free(want), free(expect);
    hd_free(&ha), hd_free(&hb);
}

/* ------------------------------------------------------------ attention prefill */

static void test_prefill_fused(mk_dtype t, int64_t Hq, int64_t Hkv, int64_t D, uint64_t salt) {
    /* self-attention over a packed batch of 3 sequences (1, 7, 4 tokens), q/k/v views into
       one fused QKV buffer whose rows are padded */
    const int64_t T = 12, rs = (Hq + 2 * Hkv) * D + 3;
    const int32_t cu[4] = {0, 1, 8, 12};
    mkref_rng r;
    mkt_rng(&r, salt);
    hostdev h = hd_random(&r, t, (size_t)(T * rs), 1.0f);
    mk_tensor q = view(&h, 0, 3, (int64_t[]){T, Hq, D}, (int64_t[]){rs, D, 1});
    mk_tensor k = view(&h, (size_t)(Hq * D), 3, (int64_t[]){T, Hkv, D}, (int64_t[]){rs, D, 1});
    mk_tensor v = view(&h, (size_t)((Hq + Hkv) * D), 3, (int64_t[]){T, Hkv, D}, (int64_t[]){rs, D, 1});
    mk_tensor cq = mkt_upload_i32(ctx, 1, (int64_t[]){4}, cu);
    mk_tensor out = mkt_output(ctx, t, 3, (int64_t[]){T, Hq, D});
    mk_tensor lse = mkt_output(ctx, MK_F32, 2, (int64_t[]){T, Hq});
    mk_attn_params p = {0.0f, 1, 0, 0.0f};
    MKT_OK(mk_attention_prefill(ctx, &q, &k, &v, &cq, &cq, &p, &out, &lse));
    expect_ref_kernel(MK_OP_ATTENTION_PREFILL);
    float *fq = gather(&h, &q), *fk = gather(&h, &k), *fv = gather(&h, &v);
    size_t no = (size_t)(T * Hq * D);
    float *want = mkt_alloc(no * sizeof(float)), *wl = mkt_alloc((size_t)(T * Hq) * sizeof(float));
    mkref_attention_prefill(fq, fk, fv, cu, cu, 3, (int)Hq, (int)Hkv, (int)D, &p, want, wl);
    round_out(t, want, no);
    char what[128];
    snprintf(what, sizeof what, "prefill %s Hq=%lld Hkv=%lld D=%lld causal (fused QKV views)", mk_dtype_name(t),
             (long long)Hq, (long long)Hkv, (long long)D);
    check_output(what, &out, want);
    check_output("prefill lse", &lse, wl);
    expect_input_intact(&h, "prefill fused QKV");
    /* without lse */
    mk_tensor out2 = mkt_output(ctx, t, 3, (int64_t[]){T, Hq, D});
    MKT_OK(mk_attention_prefill(ctx, &q, &k, &v, &cq, &cq, &p, &out2, NULL));
    check_output("prefill without lse", &out2, want);
    free(fq), free(fk), free(fv), free(want), free(wl);
    hd_free(&h), mkt_free(&cq), mkt_free(&out), mkt_free(&lse), mkt_free(&out2);
}

static void test_prefill_cross(mk_dtype t, uint64_t salt) {
    /* Sq != Sk, one sequence without keys (its rows get 0 and LSE -inf), causal
       bottom-right aligned with a window, softcap and an explicit scale */
    const int64_t T = 6, Tk = 11, Hq = 6, Hkv = 2, D = 24;
    const int32_t cq_v[4] = {0, 2, 5, 6}, ck_v[4] = {0, 0, 9, 11};
    mkref_rng r;
    mkt_rng(&r, salt);
    hostdev hq = hd_random(&r, t, (size_t)(T * Hq * D), 1.0f);
    hostdev hk = hd_random(&r, t, (size_t)(Tk * Hkv * D), 1.0f), hv = hd_random(&r, t, (size_t)(Tk * Hkv * D), 1.0f);
    mk_tensor q = view(&hq, 0, 3, (int64_t[]){T, Hq, D}, (int64_t[]){Hq * D, D, 1});
    mk_tensor k = view(&hk, 0, 3, (int64_t[]){Tk, Hkv, D}, (int64_t[]){Hkv * D, D, 1});
    mk_tensor v = view(&hv, 0, 3, (int64_t[]){Tk, Hkv, D}, (int64_t[]){Hkv * D, D, 1});
    mk_tensor cq = mkt_upload_i32(ctx, 1, (int64_t[]){4}, cq_v), ck = mkt_upload_i32(ctx, 1, (int64_t[]){4}, ck_v);
    mk_attn_params ps[3] = {{0.3f, 1, 3, 20.0f}, {0.0f, 0, 0, 0.0f}, {0.0f, 1, 1, 0.0f}};
    for (int i = 0; i < 3; i++) {
        mk_tensor out = mkt_output(ctx, t, 3, (int64_t[]){T, Hq, D});
        mk_tensor lse = mkt_output(ctx, MK_F32, 2, (int64_t[]){T, Hq});
        MKT_OK(mk_attention_prefill(ctx, &q, &k, &v, &cq, &ck, &ps[i], &out, &lse));
        size_t no = (size_t)(T * Hq * D);
        float *want = mkt_alloc(no * sizeof(float)), *wl = mkt_alloc((size_t)(T * Hq) * sizeof(float));
        mkref_attention_prefill(hq.f, hk.f, hv.f, cq_v, ck_v, 3, (int)Hq, (int)Hkv, (int)D, &ps[i], want, wl);
        round_out(t, want, no);
        char what[128];
        snprintf(what, sizeof what, "prefill %s Sq!=Sk params #%d", mk_dtype_name(t), i);
        check_output(what, &out, want);
        float *got = mkt_alloc(no * sizeof(float)), gl[6 * 6];
        mkt_download(&out, got);
        mkt_download(&lse, gl);
        expect_exact("prefill Sq!=Sk lse", gl, wl, (size_t)(T * Hq));
        /* sequence 0 has no keys: output 0, LSE -inf */
        int bad = 0;
        for (int64_t j = 0; j < 2 * Hq * D; j++) bad += got[j] != 0.0f;
        for (int64_t j = 0; j < 2 * Hq; j++) bad += !(isinf(gl[j]) && gl[j] < 0);
        MKT_CHECK(bad == 0, "prefill: %d values of the rows without keys are not 0 / -inf", bad);
        free(want), free(wl), free(got);
        mkt_free(&out), mkt_free(&lse);
    }
    hd_free(&hq), hd_free(&hk), hd_free(&hv), mkt_free(&cq), mkt_free(&ck);
}

/* ------------------------------------------------------------ KV cache + decode */

typedef struct {
    mkref_kv_cache h;
    size_t kv_bytes, scale_floats;
} mirror;

static mirror mirror_new(mk_kv_cache_desc d) {
    mirror m;
    size_t slots = (size_t)d.num_blocks * (size_t)d.block_size * (size_t)d.num_kv_heads;
    int quant = d.dtype == MK_I8 || d.dtype == MK_FP8_E4M3;
    m.kv_bytes = slots * (size_t)d.head_dim * mk_dtype_size(d.dtype);
    m.scale_floats = quant ? slots : 0;
    m.h.desc = d;
    m.h.k = mkt_alloc(m.kv_bytes);
    m.h.v = mkt_alloc(m.kv_bytes);
    m.h.k_scale = quant ? mkt_alloc(slots * sizeof(float)) : NULL;
    m.h.v_scale = quant ? mkt_alloc(slots * sizeof(float)) : NULL;
    return m;
}

static void mirror_free(mirror *m) {
    free(m->h.k), free(m->h.v), free(m->h.k_scale), free(m->h.v_scale);
}

/* The device cache equals the mirror, block by block, bit for bit (scales too). */
static void expect_cache(const mk_kv_cache *c, const mirror *m, const char *what) {
    const mk_kv_cache_desc d = m->h.desc;
    size_t bb = m->kv_bytes / (size_t)d.num_blocks, sf = m->scale_floats / (size_t)d.num_blocks;
    uint8_t *k = mkt_alloc(bb), *v = mkt_alloc(bb);
    float *ks = mkt_alloc((sf ? sf : 1) * sizeof(float)), *vs = mkt_alloc((sf ? sf : 1) * sizeof(float));
    int bad = 0;
    for (int64_t b = 0; b < d.num_blocks && !bad; b++) {
        MKT_OK(mk_kv_cache_read_block(c, b, k, v, sf ? ks : NULL, sf ? vs : NULL));
        bad |= memcmp(k, (uint8_t *)m->h.k + (size_t)b * bb, bb) != 0;
        bad |= memcmp(v, (uint8_t *)m->h.v + (size_t)b * bb, bb) != 0;
        if (sf) {
            bad |= memcmp(ks, m->h.k_scale + (size_t)b * sf, sf * sizeof(float)) != 0;
            bad |= memcmp(vs, m->h.v_scale + (size_t)b * sf, sf * sizeof(float)) != 0;
        }
        if (bad) mkt_fail_at(__FILE__, __LINE__, "%s: block %lld differs from the reference cache", what, (long long)b);
    }
    mkt_checks++;
    free(k), free(v), free(ks), free(vs);
}

/* Appends T tokens (k, v as views into one fused buffer with padded rows) to the cache
   and the mirror. */
static void append_both(mk_kv_cache *c, mirror *m, mk_dtype in_t, const int32_t *slots, int64_t T, mkref_rng *r) {
    const int64_t Hkv = m->h.desc.num_kv_heads, D = m->h.desc.head_dim, rs = 2 * Hkv * D + 5;
    hostdev h = hd_random(r, in_t, (size_t)(T * rs), 1.5f);
    mk_tensor k = view(&h, 0, 3, (int64_t[]){T, Hkv, D}, (int64_t[]){rs, D, 1});
    mk_tensor v = view(&h, (size_t)(Hkv * D), 3, (int64_t[]){T, Hkv, D}, (int64_t[]){rs, D, 1});
    mk_tensor sm = mkt_upload_i32(ctx, 1, (int64_t[]){T}, slots);
    MKT_OK(mk_kv_cache_append(ctx, c, &k, &v, &sm));
    expect_ref_kernel(MK_OP_KV_APPEND);
    float *fk = gather(&h, &k), *fv = gather(&h, &v);
    mkref_kv_append(&m->h, fk, fv, slots, T);
    expect_input_intact(&h, "kv_append k/v");
    free(fk), free(fv);
    hd_free(&h), mkt_free(&sm);
}

static void test_kv_and_decode(mk_dtype cache_t, mk_dtype q_t, uint64_t salt) {
    const mk_kv_cache_desc d = {6, 4, 2, 16, cache_t};
    const int64_t nslots = 24, Hq = 4, D = 16, B = 3, maxb = 4;
    mkref_rng r;
    mkt_rng(&r, salt);
    mk_kv_cache *c = NULL;
    MKT_OK(mk_kv_cache_create(ctx, &d, &c));
    if (!c) return;
    mk_kv_cache_desc got;
    MKT_OK(mk_kv_cache_get_desc(c, &got));
    MKT_CHECK(got.num_blocks == d.num_blocks && got.block_size == d.block_size && got.num_kv_heads == d.num_kv_heads &&
                  got.head_dim == d.head_dim && got.dtype == d.dtype,
              "mk_kv_cache_get_desc differs from the desc given");
    mirror m = mirror_new(d);
    char what[128];
    mk_dtype in_t = cache_t == MK_F16 || cache_t == MK_BF16 ? cache_t : q_t;

    /* every slot once (the pool starts undefined), in a shuffled order */
    int32_t all[24];
    for (int i = 0; i < nslots; i++) all[i] = i;
    for (int i = (int)nslots - 1; i > 0; i--) {
        int j = (int)mkref_rng_range(&r, 0, i);
        int32_t s = all[i];
        all[i] = all[j], all[j] = s;
    }
    append_both(c, &m, in_t, all, nslots, &r);
    snprintf(what, sizeof what, "kv cache %s after filling every slot", mk_dtype_name(cache_t));
    expect_cache(c, &m, what);
    /* overwrite some slots, with padding (-1) tokens that must write nothing */
    const int32_t some[9] = {5, -1, 0, 17, 3, -1, 22, 8, -1};
    append_both(c, &m, in_t, some, 9, &r);
    snprintf(what, sizeof what, "kv cache %s after an append with padding", mk_dtype_name(cache_t));
    expect_cache(c, &m, what);
    /* copy_blocks: one source to two destinations, and a second pair */
    const int32_t pairs[6] = {2, 0, 2, 5, 3, 1};
    mk_tensor pt = mkt_upload_i32(ctx, 2, (int64_t[]){3, 2}, pairs);
    MKT_OK(mk_kv_cache_copy_blocks(ctx, c, &pt));
    expect_ref_kernel(MK_OP_KV_COPY_BLOCKS);
    mkref_kv_copy_blocks(&m.h, pairs, 3);
    snprintf(what, sizeof what, "kv cache %s after copy_blocks", mk_dtype_name(cache_t));
    expect_cache(c, &m, what);
    mkt_free(&pt);

    /* decode: q a strided view; unused block-table entries are -1 */
    const int64_t qs = Hq * D + 8;
    hostdev hq = hd_random(&r, q_t, (size_t)(B * qs), 1.0f);
    mk_tensor q = view(&hq, 3, 3, (int64_t[]){B, Hq, D}, (int64_t[]){qs, D, 1});
    const int32_t bt_v[12] = {4, 1, -1, -1, 0, 5, 2, 3, 3, -1, -1, -1};
    const int32_t cl_v[3] = {5, 16, 1};
    mk_tensor bt = mkt_upload_i32(ctx, 2, (int64_t[]){B, maxb}, bt_v);
    mk_tensor cl = mkt_upload_i32(ctx, 1, (int64_t[]){B}, cl_v);
    mk_attn_params ps[3] = {{0.0f, 0, 0, 0.0f}, {0.2f, 1, 4, 0.0f}, {0.0f, 0, 0, 15.0f}};
    float *fq = gather(&hq, &q);
    for (int i = 0; i < 3; i++) {
        mk_tensor out = mkt_output(ctx, q_t, 3, (int64_t[]){B, Hq, D});
        MKT_OK(mk_attention_decode(ctx, &q, c, &bt, &cl, &ps[i], &out));
        expect_ref_kernel(MK_OP_ATTENTION_DECODE);
        size_t no = (size_t)(B * Hq * D);
        float *want = mkt_alloc(no * sizeof(float));
        mkref_attention_decode(fq, &m.h, bt_v, (int)maxb, cl_v, (int)B, (int)Hq, &ps[i], want);
        round_out(q_t, want, no);
        snprintf(what, sizeof what, "decode q %s cache %s params #%d", mk_dtype_name(q_t), mk_dtype_name(cache_t), i);
        check_output(what, &out, want);
        free(want);
        mkt_free(&out);
    }
    expect_input_intact(&hq, "decode q");
    snprintf(what, sizeof what, "kv cache %s after decode (read only)", mk_dtype_name(cache_t));
    expect_cache(c, &m, what);
    free(fq);
    hd_free(&hq), mkt_free(&bt), mkt_free(&cl);
    mirror_free(&m);
    mk_kv_cache_destroy(c);
}

/* ------------------------------------------------------------ quantized weights */

static int same_qdesc(const mk_qweight_desc *a, const mk_qweight_desc *b) {
    return a->format == b->format && a->n == b->n && a->k == b->k && a->group_size == b->group_size &&
           a->asymmetric == b->asymmetric;
}

static void expect_same_data(const mk_qweight_desc *d, const mk_qweight_data *a, const mk_qweight_data *b,
                             int zeros, int perm, const char *what) {
    MKT_CHECK(memcmp(a->q, b->q, mkref_qweight_q_bytes(d)) == 0, "%s: q differs", what);
    MKT_CHECK(memcmp(a->scales, b->scales, mkref_qweight_scale_bytes(d)) == 0, "%s: scales differ", what);
    if (zeros) MKT_CHECK(a->zeros && b->zeros && memcmp(a->zeros, b->zeros, mkref_qweight_zero_bytes(d)) == 0,
                         "%s: zeros differ", what);
    if (perm) MKT_CHECK(a->k_perm && b->k_perm && memcmp(a->k_perm, b->k_perm, (size_t)d->k * 4) == 0,
                        "%s: k_perm differs", what);
}

/* qgemm of a created weight against mkref_qgemm on its canonical data. */
static void run_qgemm(const mk_qweight *qw, const mk_qweight_desc *d, const mk_qweight_data *data, mk_dtype t,
                      int with_bias, mkref_rng *r, const char *what) {
    const int64_t M = 5, xs = d->k + 8;
    hostdev hx = hd_random(r, t, (size_t)(M * xs), 1.0f), hb = hd_random(r, t, (size_t)d->n, 0.5f);
    mk_tensor x = view(&hx, 4, 2, (int64_t[]){M, d->k}, (int64_t[]){xs, 1});
    mk_tensor b = view(&hb, 0, 1, (int64_t[]){d->n}, (int64_t[]){1});
    mk_tensor y = mkt_output(ctx, t, 2, (int64_t[]){M, d->n});
    MKT_OK(mk_qgemm(ctx, &x, qw, with_bias ? &b : NULL, &y));
    expect_ref_kernel(MK_OP_QGEMM);
    float *fx = gather(&hx, &x), *want = mkt_alloc((size_t)(M * d->n) * sizeof(float));
    mkref_qgemm(d, data, fx, M, with_bias ? hb.f : NULL, want);
    round_out(t, want, (size_t)(M * d->n));
    char w2[160];
    snprintf(w2, sizeof w2, "%s x=%s bias=%d", what, mk_dtype_name(t), with_bias);
    check_output(w2, &y, want);
    expect_input_intact(&hx, "qgemm x");
    free(fx), free(want);
    hd_free(&hx), hd_free(&hb), mkt_free(&y);
}

static void test_qweight(mk_qweight_desc d, int with_perm, uint64_t salt) {
    mkref_rng r;
    mkt_rng(&r, salt);
    mk_qweight_data data, back;
    MKT_OK(mk_qweight_data_alloc(&d, d.asymmetric, with_perm, &data));
    if (!data.q) return;
    size_t nw = (size_t)(d.n * d.k);
    float *w = mkt_alloc(nw * sizeof(float));
    mkt_fill_normal(&r, w, nw, 0.05f, 3.0f);
    mkref_qweight_quantize(&d, w, &data);
    if (with_perm) {
        for (int64_t j = 0; j < d.k; j++) data.k_perm[j] = (int32_t)j;
        for (int64_t j = d.k - 1; j > 0; j--) {
            int64_t i = mkref_rng_range(&r, 0, j);
            int32_t s = data.k_perm[j];
            data.k_perm[j] = data.k_perm[i], data.k_perm[i] = s;
        }
    }
    char what[128];
    snprintf(what, sizeof what, "qweight format=%d n=%lld k=%lld g=%d asym=%d perm=%d", (int)d.format,
             (long long)d.n, (long long)d.k, d.group_size, d.asymmetric, with_perm);
    mk_qweight *qw = NULL;
    MKT_OK(mk_qweight_create(ctx, &d, &data, &qw));
    if (!qw) return;
    mk_qweight_desc gd;
    MKT_OK(mk_qweight_get_desc(qw, &gd));
    MKT_CHECK(same_qdesc(&gd, &d), "%s: get_desc differs", what);
    /* round trip: read back exactly what was given */
    MKT_OK(mk_qweight_data_alloc(&d, d.asymmetric, with_perm, &back));
    memset(back.q, 0xEE, mkref_qweight_q_bytes(&d));
    memset(back.scales, 0xEE, mkref_qweight_scale_bytes(&d));
    if (back.zeros) memset(back.zeros, 0xEE, mkref_qweight_zero_bytes(&d));
    if (back.k_perm) memset(back.k_perm, 0xEE, (size_t)d.k * 4);
    MKT_OK(mk_qweight_read(qw, &back));
    expect_same_data(&d, &data, &back, d.asymmetric, with_perm, what);
    /* the weight is a copy: changing the host arrays does not change it */
    memset(data.q, 0x00, mkref_qweight_q_bytes(&d));
    MKT_OK(mk_qweight_read(qw, &back));
    MKT_CHECK(memcmp(back.q, data.q, mkref_qweight_q_bytes(&d)) != 0 || mkref_qweight_q_bytes(&d) == 0,
              "%s: the weight follows the host arrays after create", what);
    mk_dtype xt[2] = {MK_F16, MK_BF16};
    for (int i = 0; i < 2; i++) run_qgemm(qw, &d, &back, xt[i], i == 0, &r, what);
    mk_qweight_destroy(qw);
    mk_qweight_data_free(&data);
    mk_qweight_data_free(&back);
    free(w);
}

/* ------------------------------------------------------------ importers */

static void import_matches(mk_status s_api, const mk_qweight_desc *da, const mk_qweight_data *xa,
                           const mk_qweight_desc *dr, const mk_qweight_data *xr, const char *what) {
    MKT_CHECK(s_api == MK_OK, "%s: %s", what, mk_last_error());
    if (s_api != MK_OK) return;
    MKT_CHECK(same_qdesc(da, dr), "%s: desc differs from the reference importer's", what);
    expect_same_data(dr, xa, xr, dr->asymmetric, xr->k_perm != NULL, what);
    MKT_CHECK(!xa->k_perm == !xr->k_perm, "%s: k_perm presence differs", what);
    MKT_CHECK(!xa->zeros == !xr->zeros, "%s: zeros presence differs", what);
}

/* Creates a weight from imported data and runs a qgemm with it. */
static void use_imported(const mk_qweight_desc *d, const mk_qweight_data *x, mkref_rng *r, const char *what) {
    mk_qweight *qw = NULL;
    MKT_OK(mk_qweight_create(ctx, d, x, &qw));
    if (!qw) return;
    run_qgemm(qw, d, x, MK_F16, 1, r, what);
    mk_qweight_destroy(qw);
}

static void test_import_gptq(int symmetric, int act_order, uint64_t salt) {
    enum { N = 24, K = 128, G = 64 };
    mkref_rng r;
    mkt_rng(&r, salt);
    mkt_gptq g;
    mkt_gptq_make(&g, N, K, G, symmetric, act_order, &r);
    const mk_gptq_tensors in = g.t;
    mk_qweight_desc da, dr;
    mk_qweight_data xa, xr;
    char what[96];
    snprintf(what, sizeof what, "import gptq symmetric=%d act_order=%d", symmetric, act_order);
    mk_status s = mk_import_gptq(&in, &da, &xa);
    int needs_perm = 0;
    MKT_CHECK(mkref_gptq_desc(&in, &dr, &needs_perm) == MK_OK, "mkref_gptq_desc");
    MKT_CHECK(needs_perm == act_order, "%s: needs_perm %d", what, needs_perm);
    MKT_OK(mk_qweight_data_alloc(&dr, dr.asymmetric, needs_perm, &xr));
    char msg[256];
    MKT_CHECK(mkref_import_gptq(&in, &dr, &xr, msg, sizeof msg) == MK_OK, "mkref_import_gptq: %s", msg);
    import_matches(s, &da, &xa, &dr, &xr, what);
    if (s == MK_OK) {
        use_imported(&da, &xa, &r, what);
        mk_qweight_data_free(&xa);
    }
    mk_qweight_data_free(&xr);
    mkt_gptq_free(&g);
}

static void test_import_awq(uint64_t salt) {
    enum { N = 16, K = 128, G = 32 };
    mkref_rng r;
    mkt_rng(&r, salt);
    mkt_awq a;
    mkt_awq_make(&a, N, K, G, &r);
    const mk_awq_tensors in = a.t;
    mk_qweight_desc da, dr = {MK_QW4, N, K, G, 1};
    mk_qweight_data xa, xr;
    mk_status s = mk_import_awq(&in, &da, &xa);
    MKT_OK(mk_qweight_data_alloc(&dr, 1, 0, &xr));
    char msg[256];
    MKT_CHECK(mkref_import_awq(&in, &dr, &xr, msg, sizeof msg) == MK_OK, "mkref_import_awq: %s", msg);
    import_matches(s, &da, &xa, &dr, &xr, "import awq");
    if (s == MK_OK) {
        use_imported(&da, &xa, &r, "import awq");
        mk_qweight_data_free(&xa);
    }
    mk_qweight_data_free(&xr);
    mkt_awq_free(&a);
}

static void test_import_gguf(mk_gguf_type type, uint64_t salt) {
    enum { N = 8, K = 96 };
    mkref_rng r;
    mkt_rng(&r, salt);
    size_t bytes;
    uint8_t *blocks = mkt_gguf_make(type, N, K, &r, &bytes);
    mk_qweight_desc da, dr = {type == MK_GGUF_Q4_0 ? MK_QW4 : MK_QW8, N, K, 32, 0};
    mk_qweight_data xa, xr;
    mk_status s = mk_import_gguf(type, blocks, bytes, N, K, &da, &xa);
    MKT_OK(mk_qweight_data_alloc(&dr, 0, 0, &xr));
    char msg[256], what[64];
    snprintf(what, sizeof what, "import gguf type %d", (int)type);
    MKT_CHECK(mkref_import_gguf(type, blocks, &dr, &xr, msg, sizeof msg) == MK_OK, "mkref_import_gguf: %s", msg);
    import_matches(s, &da, &xa, &dr, &xr, what);
    if (s == MK_OK) {
        use_imported(&da, &xa, &r, what);
        mk_qweight_data_free(&xa);
    }
    mk_qweight_data_free(&xr);
    free(blocks);
}

/* ------------------------------------------------------------ events, buffers */

static void test_events(void) {
    mk_event *a = NULL, *b = NULL;
    MKT_OK(mk_event_create(ctx, &a));
    MKT_OK(mk_event_create(ctx, &b));
    if (!a || !b) return;
    MKT_OK(mk_event_record(a));
    test_gemm(MK_F32, 1, 900); /* some work between the two */
    MKT_OK(mk_event_record(b));
    float ms = -1.0f, same = -1.0f;
    MKT_OK(mk_event_elapsed_ms(a, b, &ms));
    MKT_CHECK(ms >= 0.0f && isfinite(ms), "elapsed %g ms", ms);
    MKT_OK(mk_event_elapsed_ms(b, b, &same));
    MKT_CHECK(same == 0.0f, "elapsed from an event to itself is %g ms", same);
    /* re-recording moves the event forward */
    MKT_OK(mk_event_record(a));
    MKT_OK(mk_event_elapsed_ms(b, a, &ms));
    MKT_CHECK(ms >= 0.0f && isfinite(ms), "elapsed after re-recording %g ms", ms);
    MKT_OK(mk_synchronize(ctx));
    mk_event_destroy(a);
    mk_event_destroy(b);
}

static void test_buffers(void) {
    mk_buffer *b = NULL;
    MKT_OK(mk_buffer_alloc(ctx, 100, &b));
    if (!b) return;
    MKT_CHECK(mk_buffer_size(b) == 100, "mk_buffer_size is %zu", mk_buffer_size(b));
    uint8_t src[100], dst[100];
    for (int i = 0; i < 100; i++) src[i] = (uint8_t)(i * 7 + 1);
    MKT_OK(mk_buffer_write(b, 0, src, 100));          /* the whole buffer */
    MKT_OK(mk_buffer_write(b, 100, src, 0));          /* empty, at the end */
    MKT_OK(mk_buffer_write(b, 50, NULL, 0));          /* empty needs no pointer */
    MKT_OK(mk_buffer_read(b, 0, NULL, 0));
    memset(dst, 0, sizeof dst);
    MKT_OK(mk_buffer_read(b, 0, dst, 100));
    MKT_CHECK(memcmp(src, dst, 100) == 0, "read back differs from what was written");
    MKT_OK(mk_buffer_write(b, 96, src, 4));           /* the last 4 bytes */
    MKT_OK(mk_buffer_read(b, 96, dst, 4));
    MKT_CHECK(memcmp(src, dst, 4) == 0, "partial write/read at the end");
    MKT_OK(mk_buffer_fill(b, 10, 0xAB, 20));
    MKT_OK(mk_buffer_read(b, 0, dst, 100));
    int bad = 0;
    for (int i = 0; i < 100; i++) {
        uint8_t want = i >= 10 && i < 30 ? 0xAB : i >= 96 ? src[i - 96] : src[i];
        bad += dst[i] != want;
    }
    MKT_CHECK(bad == 0, "mk_buffer_fill: %d bytes wrong", bad);
    MKT_OK(mk_buffer_fill(b, 100, 0x00, 0));
    MKT_FAILS(MK_ERR_INVALID_ARGUMENT, "exceeds the buffer size 100", mk_buffer_write(b, 97, src, 4));
    MKT_FAILS(MK_ERR_INVALID_ARGUMENT, "exceeds the buffer size 100", mk_buffer_read(b, 0, dst, 101));
    MKT_FAILS(MK_ERR_INVALID_ARGUMENT, "exceeds the buffer size 100", mk_buffer_fill(b, 101, 0x00, 0));
    MKT_OK(mk_buffer_read(b, 99, dst, 1));
    MKT_CHECK(dst[0] == src[3], "last byte changed by a failing call");
    mk_buffer_free(b);
}

int main(int argc, char **argv) {
    mkt_init(argc, argv, "api_ops");
    if (mk_context_create("ref", &ctx) != MK_OK) {
        fprintf(stderr, "mk_context_create(ref): %s\n", mk_last_error());
        return 2;
    }
    for (int op = 0; op < MK_OP_COUNT; op++)
        MKT_CHECK(mk_last_kernel(ctx, (mk_op)op) == NULL, "mk_last_kernel(%s) before any call", mk_op_name((mk_op)op));
    uint64_t salt = 1;
    for (int i = 0; i < 3; i++) {
        mk_dtype t = DT[i];
        test_gemm(t, 1, salt++);
        test_gemm(t, 0, salt++);
        test_rmsnorm(t, 0, salt++);
        test_rmsnorm(t, 1, salt++);
        test_layernorm(t, 1, salt++);
        test_layernorm(t, 0, salt++);
        test_rope(t, (mk_rope_params){MK_ROPE_HALF, 10000.0f, 0, MK_ROPE_SCALING_NONE, 0, 0, 0, 0}, salt++);
        test_rope(t, (mk_rope_params){MK_ROPE_INTERLEAVED, 10000.0f, 8, MK_ROPE_SCALING_NONE, 0, 0, 0, 0}, salt++);
        test_rope(t, (mk_rope_params){MK_ROPE_HALF, 1e6f, 12, MK_ROPE_SCALING_LINEAR, 4.0f, 0, 0, 0}, salt++);
        test_rope(t, (mk_rope_params){MK_ROPE_HALF, 500000.0f, 0, MK_ROPE_SCALING_LLAMA3, 8.0f, 1.0f, 4.0f, 8192}, salt++);
        test_binary(MK_OP_SILU_MUL, t, 0, salt++);
        test_binary(MK_OP_GELU_MUL, t, 0, salt++);
        test_binary(MK_OP_GELU_MUL, t, 1, salt++);
        test_binary(MK_OP_ADD, t, 0, salt++);
        test_add_in_place(t, 0, salt++);
        test_add_in_place(t, 1, salt++);
    }
    test_prefill_fused(MK_F32, 4, 1, 64, salt++);
    test_prefill_fused(MK_F16, 4, 2, 80, salt++);
    test_prefill_fused(MK_BF16, 2, 2, 32, salt++);
    for (int i = 0; i < 3; i++) test_prefill_cross(DT[i], salt++);
    const mk_dtype caches[5] = {MK_F32, MK_F16, MK_BF16, MK_I8, MK_FP8_E4M3};
    for (int i = 0; i < 5; i++) test_kv_and_decode(caches[i], DT[i % 3], salt++);
    test_kv_and_decode(MK_F16, MK_F32, salt++);
    test_qweight((mk_qweight_desc){MK_QW4, 24, 128, 32, 0}, 0, salt++);
    test_qweight((mk_qweight_desc){MK_QW4, 24, 128, 64, 1}, 1, salt++);
    test_qweight((mk_qweight_desc){MK_QW4, 8, 128, 128, 1}, 0, salt++);
    test_qweight((mk_qweight_desc){MK_QW8, 16, 96, 0, 0}, 0, salt++);
    test_qweight((mk_qweight_desc){MK_QW8, 16, 96, 32, 0}, 1, salt++);
    test_qweight((mk_qweight_desc){MK_QW8A8, 16, 72, 0, 0}, 0, salt++);
    test_qweight((mk_qweight_desc){MK_QFP8, 16, 72, 0, 0}, 1, salt++);
    test_import_gptq(0, 0, salt++);
    test_import_gptq(0, 1, salt++);
    test_import_gptq(1, 1, salt++);
    test_import_awq(salt++);
    test_import_gguf(MK_GGUF_Q4_0, salt++);
    test_import_gguf(MK_GGUF_Q8_0, salt++);
    test_events();
    test_buffers();
    mk_context_destroy(ctx);
    return mkt_finish();
}
