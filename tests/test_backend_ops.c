/*
 * Every op of a device backend against the reference, on every device of the backend that
 * `--backend NAME` names (cuda when absent; no such device: SKIP). ctest runs it as
 * test_backend_ops_cuda (`--backend cuda`) and test_backend_ops_opencl (`--backend opencl`):
 *  1. silu_mul, gelu_mul (erf, tanh), add, rmsnorm (plain, 1 + w), layernorm (with and
 *     without b), rope (both styles, partial rotary_dim, linear and Llama 3 scaling,
 *     positions up to 100k) and gemm (bias or not, strided x and w) on odd shapes in
 *     F32/F16/BF16: reference on the host from the same rounded inputs, outputs
 *     poisoned, guard bytes after every buffer and the gaps of strided views checked,
 *     tolerances from mkt_tol; in-place forms where the API allows them;
 *  2. kv_append bit for bit against the reference cache for all five cache dtypes and
 *     three input dtypes (padding slots, overwrites, an all-zero and an underflowing
 *     vector, strided inputs, views whose stride or offset is no whole 16-byte word, D 1
 *     to 256: the CUDA backend's vector and scalar paths), and copy_blocks likewise;
 *  3. the conversions themselves, through kv_append: every F16 and BF16 code, random
 *     F32 bit patterns (NaN payloads, subnormals, ties) into F16/BF16 caches, and FP8 /
 *     I8 encodings with the vector's amax pinned so that the scale is exactly 1;
 *  4. determinism (a second run gives the same bits), the variant that ran is one of
 *     the backend under test, device info, buffers, events, and the qweight hooks round-trip exactly;
 *  5. attention prefill (F16/BF16 with D 64/80/96/128/256, F32 and D 8/33/40/256:
 *     varlen with empty sequences and Sq != Sk, causal, window, softcap, GQA, padded views, LSE incl. -inf rows, lse =
 *     NULL gives the same bits) and decode over the paged cache (all five cache dtypes,
 *     shuffled blocks, empty contexts, contexts long enough to split, G up to 16,
 *     window, softcap, D 1..256) against the reference with DESIGN §4 tolerances.
 *  5. qgemm (W4A16/W8A16: QW4 symmetric/asymmetric g32/64/128, QW8 per channel and per
 *     group; W8A8 int8 and FP8 with x quantized per token; F16/BF16, M 1..64 and 130/200,
 *     N odd, K not a multiple of 128, k_perm, bias, strided x) against mkref_qgemm on the
 *     same weights; on CUDA the variant is cuda.w4a16_mma for M <= 64 and
 *     cuda.dequant_cublas above, cuda.w8a8_mma / cuda.fp8_mma for QW8A8 / QFP8.
 *
 * `--backend ref` runs the same checks on the reference backend (a dry run of the test
 * itself on a machine without a GPU). `--only g1,g2` runs these groups only (the names in
 * main).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mktest.h"

static const char *backend = "cuda";
static mk_context *ctx;
static uint64_t salt_counter;

static const mk_dtype float_types[] = {MK_F32, MK_F16, MK_BF16};

/* ------------------------------------------------------------ host helpers */

static float *floats(size_t n) { return mkt_alloc(n * sizeof(float)); }

static size_t shape_numel(int ndim, const int64_t *shape) {
    size_t n = 1;
    for (int d = 0; d < ndim; d++) n *= (size_t)shape[d];
    return n;
}

/* Elements spanned by a view: 1 + sum (shape - 1) * stride. */
static size_t view_extent(int ndim, const int64_t *shape, const int64_t *stride) {
    size_t e = 1;
    for (int d = 0; d < ndim; d++) e += (size_t)(shape[d] - 1) * (size_t)stride[d];
    return e;
}

/* Element offset of the i-th element (row-major over shape) of a view. */
static size_t view_offset(int ndim, const int64_t *shape, const int64_t *stride, size_t i) {
    size_t off = 0;
    for (int d = ndim - 1; d >= 0; d--) {
        off += (i % (size_t)shape[d]) * (size_t)stride[d];
        i /= (size_t)shape[d];
    }
    return off;
}

/* x (row-major over shape) into a new guarded buffer laid out with `stride`, the view
   starting `at` elements into the buffer; the gaps between the view's elements (and the
   `at` elements before it) hold 0xFF bytes (NaN in every float type), so a kernel that
   reads them poisons its output and one that writes them is caught. */
static mk_tensor upload_view_at(mk_dtype t, int ndim, const int64_t *shape, const int64_t *stride,
                                size_t at, const float *x) {
    const size_t es = mk_dtype_size(t), ext = at + view_extent(ndim, shape, stride);
    const size_t n = shape_numel(ndim, shape);
    uint8_t *host = mkt_alloc(ext * es);
    memset(host, 0xFF, ext * es);
    for (size_t i = 0; i < n; i++)
        mkref_store(t, host, (int64_t)(at + view_offset(ndim, shape, stride, i)), x[i]);
    mk_buffer *b = mkt_buffer(ctx, ext * es);
    MKT_OK(mk_buffer_write(b, 0, host, ext * es));
    free(host);
    mk_tensor v;
    memset(&v, 0, sizeof v);
    v.buf = b;
    v.offset = at * es;
    v.dtype = t;
    v.ndim = ndim;
    for (int d = 0; d < ndim; d++) v.shape[d] = shape[d], v.stride[d] = stride[d];
    return v;
}

static mk_tensor upload_view(mk_dtype t, int ndim, const int64_t *shape, const int64_t *stride,
                             const float *x) {
    return upload_view_at(t, ndim, shape, stride, 0, x);
}

/* Reads a view (offset 0) back as floats; checks that its gaps still hold 0xFF bytes and
   that the guard bytes after the buffer are intact. */
static void download_view(const mk_tensor *v, float *x, const char *what) {
    const size_t ext = view_extent(v->ndim, v->shape, v->stride), es = mk_dtype_size(v->dtype);
    const size_t n = shape_numel(v->ndim, v->shape);
    uint8_t *host = mkt_alloc(ext * es), *in_view = mkt_alloc(ext);
    memset(in_view, 0, ext);
    if (mk_buffer_read(v->buf, 0, host, ext * es) != MK_OK) {
        mkt_fail_at(__FILE__, __LINE__, "%s: read back failed: %s", what, mk_last_error());
        memset(host, 0xFF, ext * es);
    }
    for (size_t i = 0; i < n; i++) {
        size_t off = view_offset(v->ndim, v->shape, v->stride, i);
        x[i] = mkref_load(v->dtype, host, (int64_t)off);
        in_view[off] = 1;
    }
    mkt_checks++;
    for (size_t off = 0; off < ext; off++) {
        if (in_view[off]) continue;
        for (size_t j = 0; j < es; j++)
            if (host[off * es + j] != 0xFF) {
                mkt_fail_at(__FILE__, __LINE__, "%s: element %zu in a gap of the view was overwritten",
                            what, off);
                off = ext;
                break;
            }
    }
    mkt_guard_ok(v->buf, ext * es, what);
    free(host);
    free(in_view);
}

/* The variant that ran op must be one of the backend under test. */
static void check_variant(mk_op op, const char *what) {
    const char *k = mk_last_kernel(ctx, op);
    size_t len = strlen(backend);
    MKT_CHECK(k && strncmp(k, backend, len) == 0 && k[len] == '.', "%s: ran variant %s, not a %s one",
              what, k ? k : "(none)", backend);
}

static void same_bits(const float *a, const float *b, size_t n, const char *what) {
    MKT_CHECK(memcmp(a, b, n * sizeof(float)) == 0, "%s: a second run gave different bits", what);
}

/* ------------------------------------------------------------ elementwise */

static const char *op_label(mk_op op, int approximate) {
    if (op == MK_OP_SILU_MUL) return "silu_mul";
    if (op == MK_OP_GELU_MUL) return approximate ? "gelu_mul(tanh)" : "gelu_mul(erf)";
    return "add";
}

static mk_status call_binary(mk_op op, int approximate, const mk_tensor *a, const mk_tensor *b,
                             const mk_tensor *out) {
    if (op == MK_OP_SILU_MUL) return mk_silu_mul(ctx, a, b, out);
    if (op == MK_OP_GELU_MUL) return mk_gelu_mul(ctx, a, b, approximate, out);
    return mk_add(ctx, a, b, out);
}

/* shape [d0][d1][n] trimmed to ndim; a and b rows padded by pad_a / pad_b elements;
   alias: out is a itself (pad_a must be 0). */
static void check_binary(mk_op op, int approximate, mk_dtype t, int ndim, int64_t d0, int64_t d1,
                         int64_t n, int64_t pad_a, int64_t pad_b, int alias) {
    int64_t full[3] = {d0, d1, n}, shape[3], sa[3], sb[3];
    for (int d = 0; d < ndim; d++) shape[d] = full[3 - ndim + d];
    sa[ndim - 1] = sb[ndim - 1] = 1;
    for (int d = ndim - 2; d >= 0; d--) {
        sa[d] = d == ndim - 2 ? n + pad_a : sa[d + 1] * shape[d + 1];
        sb[d] = d == ndim - 2 ? n + pad_b : sb[d + 1] * shape[d + 1];
    }
    const size_t total = shape_numel(ndim, shape);
    float *g = mkt_random(t, total, 2.0f, 4.0f), *u = mkt_random(t, total, 1.0f, 3.0f);
    float *ref = floats(total), *out = floats(total), *again = floats(total);
    if (op == MK_OP_SILU_MUL) mkref_silu_mul(g, u, (int64_t)total, ref);
    else if (op == MK_OP_GELU_MUL) mkref_gelu_mul(g, u, (int64_t)total, approximate, ref);
    else mkref_add(g, u, (int64_t)total, ref);
    mkt_round(t, ref, total);

    char what[160];
    snprintf(what, sizeof what, "%s %s ndim=%d shape=[%lld,%lld,%lld] pad=%lld/%lld alias=%d",
             op_label(op, approximate), mk_dtype_name(t), ndim, (long long)d0, (long long)d1,
             (long long)n, (long long)pad_a, (long long)pad_b, alias);
    mk_tensor a = upload_view(t, ndim, shape, sa, g), b = upload_view(t, ndim, shape, sb, u);
    mk_tensor o = alias ? a : mkt_output(ctx, t, ndim, shape);
    MKT_OK(call_binary(op, approximate, &a, &b, &o));
    check_variant(op, what);
    download_view(&o, out, what);
    mkt_compare(what, out, ref, total, mkt_tol(t), 0);
    if (!alias) {
        mk_tensor o2 = mkt_output(ctx, t, ndim, shape);
        MKT_OK(call_binary(op, approximate, &a, &b, &o2));
        download_view(&o2, again, what);
        same_bits(out, again, total, what);
        mkt_free(&o2);
        mkt_free(&o);
    }
    mkt_free(&a);
    mkt_free(&b);
    free(g), free(u), free(ref), free(out), free(again);
}

static void test_elementwise(void) {
    const struct { mk_op op; int approx; } ops[] = {
        {MK_OP_SILU_MUL, 0}, {MK_OP_GELU_MUL, 0}, {MK_OP_GELU_MUL, 1}, {MK_OP_ADD, 0}};
    const int small = mkt_small(); /* MEDKERN_TEST_SMALL: no rows of 1000 and more */
    for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++)
        for (size_t ti = 0; ti < 3; ti++) {
            mk_dtype t = float_types[ti];
            check_binary(ops[o].op, ops[o].approx, t, 1, 1, 1, 1, 0, 0, 0);
            if (!small) check_binary(ops[o].op, ops[o].approx, t, 1, 1, 1, 1000, 0, 0, 0);
            check_binary(ops[o].op, ops[o].approx, t, 2, 1, 33, 7, 0, 0, 0);
            if (!small) check_binary(ops[o].op, ops[o].approx, t, 2, 1, 7, 4096, 0, 0, 0); /* 16-byte path */
            if (!small) check_binary(ops[o].op, ops[o].approx, t, 3, 3, 5, 1000, 0, 0, 0);
            check_binary(ops[o].op, ops[o].approx, t, 2, 1, small ? 7 : 33, small ? 96 : 256, 8, 3, 0); /* strided rows */
            check_binary(ops[o].op, ops[o].approx, t, 3, 2, 9, 64, 16, 16, 0);   /* aligned strides */
            check_binary(ops[o].op, ops[o].approx, t, 2, 1, 17, 96, 0, 5, 1);    /* out = a */
        }
    /* a long flat stream (grid-stride loop) */
    if (!small) check_binary(MK_OP_SILU_MUL, 0, MK_F16, 2, 1, 1000, 11008, 0, 0, 0);
}

/* ------------------------------------------------------------ norms */

static void check_norm(int layer, mk_dtype t, int64_t rows, int64_t n, int64_t pad, int plus_one,
                       int with_b, int in_place) {
    const size_t total = (size_t)(rows * n);
    float *x = mkt_random(t, total, 2.0f, 10.0f);
    float *w = mkt_random(t, (size_t)n, plus_one ? 0.2f : 1.0f, 1.0f);
    float *b = mkt_random(t, (size_t)n, 0.5f, 1.0f);
    float *ref = floats(total), *out = floats(total), *again = floats(total);
    const float eps = layer ? 1e-5f : 1e-6f;
    if (layer) mkref_layernorm(x, w, with_b ? b : NULL, rows, n, eps, ref);
    else mkref_rmsnorm(x, w, rows, n, eps, plus_one, ref);
    mkt_round(t, ref, total);

    char what[160];
    snprintf(what, sizeof what, "%s %s rows=%lld n=%lld pad=%lld plus_one=%d b=%d in_place=%d",
             layer ? "layernorm" : "rmsnorm", mk_dtype_name(t), (long long)rows, (long long)n,
             (long long)pad, plus_one, with_b, in_place);
    const int64_t shape[2] = {rows, n}, stride[2] = {n + pad, 1}, wshape[1] = {n};
    mk_tensor xt = upload_view(t, 2, shape, stride, x);
    mk_tensor wt = mkt_upload(ctx, t, 1, wshape, w), bt = mkt_upload(ctx, t, 1, wshape, b);
    mk_tensor yt = in_place ? xt : mkt_output(ctx, t, 2, shape);
    const mk_op op = layer ? MK_OP_LAYERNORM : MK_OP_RMSNORM;
    if (layer) MKT_OK(mk_layernorm(ctx, &xt, &wt, with_b ? &bt : NULL, eps, &yt));
    else MKT_OK(mk_rmsnorm(ctx, &xt, &wt, eps, plus_one, &yt));
    check_variant(op, what);
    download_view(&yt, out, what);
    mkt_compare(what, out, ref, total, mkt_tol(t), 0);
    if (!in_place) {
        mk_tensor y2 = mkt_output(ctx, t, 2, shape);
        if (layer) MKT_OK(mk_layernorm(ctx, &xt, &wt, with_b ? &bt : NULL, eps, &y2));
        else MKT_OK(mk_rmsnorm(ctx, &xt, &wt, eps, plus_one, &y2));
        download_view(&y2, again, what);
        same_bits(out, again, total, what);
        mkt_free(&y2);
        mkt_free(&yt);
    }
    mkt_free(&xt), mkt_free(&wt), mkt_free(&bt);
    free(x), free(w), free(b), free(ref), free(out), free(again);
}

static void test_norms(void) {
    const int small = mkt_small(); /* MEDKERN_TEST_SMALL: rows up to 1000 */
    for (size_t ti = 0; ti < 3; ti++) {
        mk_dtype t = float_types[ti];
        for (int layer = 0; layer < 2; layer++) {
            const int extra = layer ? 1 : 0; /* with_b for layernorm, plus_one for rmsnorm */
            check_norm(layer, t, 1, 1, 0, !layer && extra, layer && extra, 0);
            check_norm(layer, t, 7, 33, 0, 0, 0, 0);
            check_norm(layer, t, small ? 3 : 33, 1000, 0, !layer, layer, 0);
            if (!small) {
                check_norm(layer, t, 5, 4096, 0, 0, layer, 0);
                check_norm(layer, t, 2, 10240, 0, 0, layer, 0);      /* the longest cached row */
                check_norm(layer, t, 3, 13000, 0, !layer, layer, 0); /* row too long for the smem cache */
            }
            check_norm(layer, t, 9, 96, 13, 0, 0, 0);            /* strided rows */
            check_norm(layer, t, small ? 7 : 17, small ? 96 : 2048, 0, !layer, layer, 1); /* y = x */
        }
    }
}

/* ------------------------------------------------------------ rope */

static void check_rope(mk_dtype t, int64_t T, int H, int D, int rotary_dim, mk_rope_style style,
                       mk_rope_scaling scaling, int32_t max_pos, int pad_h, int pad_t) {
    const size_t total = (size_t)T * (size_t)H * (size_t)D;
    float *x = mkt_random(t, total, 1.0f, 4.0f), *ref = floats(total), *out = floats(total);
    float *again = floats(total);
    int32_t *pos = mkt_alloc((size_t)T * sizeof(int32_t));
    mkref_rng r;
    mkt_rng(&r, ++salt_counter);
    for (int64_t i = 0; i < T; i++) pos[i] = (int32_t)mkref_rng_range(&r, 0, max_pos);
    pos[0] = max_pos;
    if (T > 1) pos[T - 1] = 0;
    mk_rope_params p;
    memset(&p, 0, sizeof p);
    p.style = style;
    p.theta = scaling == MK_ROPE_SCALING_LLAMA3 ? 500000.0f : 10000.0f;
    p.rotary_dim = rotary_dim;
    p.scaling = scaling;
    p.factor = scaling == MK_ROPE_SCALING_LINEAR ? 4.0f : 8.0f;
    p.low_freq_factor = 1.0f;
    p.high_freq_factor = 4.0f;
    p.original_max_position = 8192;
    memcpy(ref, x, total * sizeof(float));
    mkref_rope(ref, pos, T, H, D, &p);
    mkt_round(t, ref, total);

    char what[192];
    snprintf(what, sizeof what, "rope %s T=%lld H=%d D=%d rot=%d %s scaling=%d max_pos=%d pad=%d/%d",
             mk_dtype_name(t), (long long)T, H, D, rotary_dim, style ? "interleaved" : "half",
             (int)scaling, (int)max_pos, pad_h, pad_t);
    const int64_t shape[3] = {T, H, D};
    const int64_t stride[3] = {(int64_t)H * (D + pad_h) + pad_t, D + pad_h, 1}, pshape[1] = {T};
    mk_tensor pt = mkt_upload_i32(ctx, 1, pshape, pos);
    mk_tensor xt = upload_view(t, 3, shape, stride, x);
    MKT_OK(mk_rope(ctx, &xt, &pt, &p));
    check_variant(MK_OP_ROPE, what);
    download_view(&xt, out, what);
    mkt_compare(what, out, ref, total, mkt_tol(t), 0);
    mkt_free(&xt);
    xt = upload_view(t, 3, shape, stride, x); /* again as plan + run: no readback, no wait */
    mk_plan *plan = NULL;
    MKT_OK(mk_rope_plan_create(ctx, pos, T, &plan));
    const mk_sync_counters before = mkt_sync_counts(ctx);
    MKT_OK(mk_rope_run(ctx, plan, &xt, &p));
    mkt_check_no_sync(ctx, &before, what);
    mk_plan_destroy(plan);
    download_view(&xt, again, what);
    same_bits(out, again, total, what);
    mkt_free(&xt), mkt_free(&pt);
    free(x), free(ref), free(out), free(again), free(pos);
}

static void test_rope(void) {
    const int small = mkt_small(); /* MEDKERN_TEST_SMALL: up to 33 tokens */
    for (size_t ti = 0; ti < 3; ti++) {
        mk_dtype t = float_types[ti];
        for (int style = 0; style < 2; style++) {
            mk_rope_style s = (mk_rope_style)style;
            check_rope(t, 1, 1, 64, 0, s, MK_ROPE_SCALING_NONE, 5, 0, 0);
            check_rope(t, 7, 8, 128, 0, s, MK_ROPE_SCALING_NONE, 4096, 0, 0);
            check_rope(t, 33, 4, 80, 0, s, MK_ROPE_SCALING_LINEAR, 100000, 0, 0);
            check_rope(t, 33, 3, 96, 32, s, MK_ROPE_SCALING_NONE, 70000, 0, 0); /* partial */
            check_rope(t, small ? 7 : 100, 2, 256, 0, s, MK_ROPE_SCALING_LLAMA3, 131071, 0, 0);
            check_rope(t, 9, 5, 64, 48, s, MK_ROPE_SCALING_LLAMA3, 100000, 8, 24); /* views */
            check_rope(t, 1, 32, 128, 0, s, MK_ROPE_SCALING_NONE, 99999, 0, 0);   /* decode */
        }
    }
    if (!small) check_rope(MK_F16, 1000, 1, 64, 0, MK_ROPE_HALF, MK_ROPE_SCALING_NONE, 100000, 0, 0);
}

/* ------------------------------------------------------------ gemm */

static void check_gemm(mk_dtype t, int64_t m, int64_t n, int64_t k, int with_bias, int64_t pad_x,
                       int64_t pad_w) {
    float *x = mkt_random(t, (size_t)(m * k), 1.0f, 8.0f);
    float *w = mkt_random(t, (size_t)(n * k), (float)(1.0 / sqrt((double)k)), 1.0f);
    float *b = mkt_random(t, (size_t)n, 1.0f, 1.0f);
    float *ref = floats((size_t)(m * n)), *out = floats((size_t)(m * n)), *again = floats((size_t)(m * n));
    mkref_gemm(x, w, with_bias ? b : NULL, m, n, k, ref);
    mkt_round(t, ref, (size_t)(m * n));

    char what[160];
    snprintf(what, sizeof what, "gemm %s m=%lld n=%lld k=%lld bias=%d pad=%lld/%lld", mk_dtype_name(t),
             (long long)m, (long long)n, (long long)k, with_bias, (long long)pad_x, (long long)pad_w);
    const int64_t xs[2] = {m, k}, xst[2] = {k + pad_x, 1}, ws[2] = {n, k}, wst[2] = {k + pad_w, 1};
    const int64_t ys[2] = {m, n}, bs[1] = {n};
    mk_tensor xt = upload_view(t, 2, xs, xst, x), wt = upload_view(t, 2, ws, wst, w);
    mk_tensor bt = mkt_upload(ctx, t, 1, bs, b), yt = mkt_output(ctx, t, 2, ys), y2 = mkt_output(ctx, t, 2, ys);
    MKT_OK(mk_gemm(ctx, &xt, &wt, with_bias ? &bt : NULL, &yt));
    check_variant(MK_OP_GEMM, what);
    download_view(&yt, out, what);
    mkt_compare(what, out, ref, (size_t)(m * n), mkt_tol(t), 0);
    MKT_OK(mk_gemm(ctx, &xt, &wt, with_bias ? &bt : NULL, &y2));
    download_view(&y2, again, what);
    same_bits(out, again, (size_t)(m * n), what);
    mkt_free(&xt), mkt_free(&wt), mkt_free(&bt), mkt_free(&yt), mkt_free(&y2);
    free(x), free(w), free(b), free(ref), free(out), free(again);
}

static void test_gemm(void) {
    const int small = mkt_small(); /* MEDKERN_TEST_SMALL: dimensions up to 96 */
    for (size_t ti = 0; ti < 3; ti++) {
        mk_dtype t = float_types[ti];
        check_gemm(t, 1, 1, 1, 0, 0, 0);
        check_gemm(t, 1, 1, 1, 1, 0, 0);
        check_gemm(t, 1, 33, 64, 1, 0, 0);       /* decode-shaped GEMV */
        check_gemm(t, 7, 33, small ? 96 : 1000, 0, 0, 0);
        check_gemm(t, 33, small ? 13 : 1000, 96, 1, 0, 0);
        check_gemm(t, 5, small ? 64 : 256, 80, 1, 3, 8); /* strided x and w */
        if (small) continue;
        check_gemm(t, 128, 256, 4096, 1, 0, 0);  /* a long reduction */
        check_gemm(t, 1000, 64, 128, 0, 16, 0);
    }
}

/* ------------------------------------------------------------ kv cache */

static int kv_quantized(mk_dtype t) { return t == MK_I8 || t == MK_FP8_E4M3; }

typedef struct {
    mk_kv_cache *dev;
    mkref_kv_cache host;
    int64_t nslots;
    size_t block_bytes, block_scales;
} kv_pair;

static kv_pair kv_new(mk_dtype ct, int64_t nb, int bs, int H, int D) {
    kv_pair kv;
    memset(&kv, 0, sizeof kv);
    mk_kv_cache_desc desc = {nb, bs, H, D, ct};
    MKT_OK(mk_kv_cache_create(ctx, &desc, &kv.dev));
    kv.nslots = nb * bs;
    kv.block_scales = (size_t)bs * (size_t)H;
    kv.block_bytes = kv.block_scales * (size_t)D * mk_dtype_size(ct);
    kv.host.desc = desc;
    kv.host.k = mkt_alloc((size_t)nb * kv.block_bytes);
    kv.host.v = mkt_alloc((size_t)nb * kv.block_bytes);
    if (kv_quantized(ct)) {
        kv.host.k_scale = (float *)mkt_alloc((size_t)nb * kv.block_scales * sizeof(float));
        kv.host.v_scale = (float *)mkt_alloc((size_t)nb * kv.block_scales * sizeof(float));
    }
    return kv;
}

static void kv_free(kv_pair *kv) {
    mk_kv_cache_destroy(kv->dev);
    free(kv->host.k), free(kv->host.v), free(kv->host.k_scale), free(kv->host.v_scale);
}

static void first_difference(const void *a, const void *b, size_t bytes, const char *what, int64_t block) {
    const uint8_t *x = a, *y = b;
    for (size_t i = 0; i < bytes; i++)
        if (x[i] != y[i]) {
            mkt_fail_at(__FILE__, __LINE__, "%s: block %lld byte %zu is 0x%02x, reference 0x%02x", what,
                        (long long)block, i, x[i], y[i]);
            return;
        }
}

/* Every block of the device cache equals the reference cache bit for bit. */
static void kv_compare(const kv_pair *kv, const char *what) {
    const int q = kv_quantized(kv->host.desc.dtype);
    uint8_t *k = mkt_alloc(kv->block_bytes), *v = mkt_alloc(kv->block_bytes);
    float *ks = floats(kv->block_scales), *vs = floats(kv->block_scales);
    int ok = 1;
    for (int64_t blk = 0; blk < kv->host.desc.num_blocks && ok; blk++) {
        MKT_OK(mk_kv_cache_read_block(kv->dev, blk, k, v, q ? ks : NULL, q ? vs : NULL));
        const uint8_t *hk = (const uint8_t *)kv->host.k + blk * kv->block_bytes;
        const uint8_t *hv = (const uint8_t *)kv->host.v + blk * kv->block_bytes;
        mkt_checks++;
        if (memcmp(k, hk, kv->block_bytes)) ok = 0, first_difference(k, hk, kv->block_bytes, what, blk);
        else if (memcmp(v, hv, kv->block_bytes)) ok = 0, first_difference(v, hv, kv->block_bytes, what, blk);
        else if (q && memcmp(ks, kv->host.k_scale + blk * kv->block_scales, kv->block_scales * 4))
            ok = 0, first_difference(ks, kv->host.k_scale + blk * kv->block_scales, kv->block_scales * 4, what, blk);
        else if (q && memcmp(vs, kv->host.v_scale + blk * kv->block_scales, kv->block_scales * 4))
            ok = 0, first_difference(vs, kv->host.v_scale + blk * kv->block_scales, kv->block_scales * 4, what, blk);
    }
    free(k), free(v), free(ks), free(vs);
}

/* Appends k, v [T][H][D] (rows padded by pad elements between tokens, the views starting
   `at` elements into their buffers) on both caches. */
static void kv_append_both(kv_pair *kv, mk_dtype it, const float *k, const float *v,
                           const int32_t *slots, int64_t T, int pad, int at) {
    const int H = kv->host.desc.num_kv_heads, D = kv->host.desc.head_dim;
    const int64_t shape[3] = {T, H, D}, stride[3] = {(int64_t)H * D + pad, D, 1}, sshape[1] = {T};
    mk_tensor kt = upload_view_at(it, 3, shape, stride, (size_t)at, k);
    mk_tensor vt = upload_view_at(it, 3, shape, stride, (size_t)at, v);
    mk_tensor st = mkt_upload_i32(ctx, 1, sshape, slots);
    if (T % 2 == 0) { /* half of the appends as plan + run: no readback, no wait */
        mk_plan *plan = NULL;
        MKT_OK(mk_kv_append_plan_create(ctx, kv->dev, slots, T, &plan));
        const mk_sync_counters before = mkt_sync_counts(ctx);
        MKT_OK(mk_kv_cache_append_run(ctx, plan, kv->dev, &kt, &vt));
        mkt_check_no_sync(ctx, &before, "kv_append run");
        mk_plan_destroy(plan);
    } else {
        MKT_OK(mk_kv_cache_append(ctx, kv->dev, &kt, &vt, &st));
    }
    check_variant(MK_OP_KV_APPEND, "kv_append");
    mkref_kv_append(&kv->host, k, v, slots, T);
    mkt_free(&kt), mkt_free(&vt), mkt_free(&st);
}

static void check_kv(mk_dtype ct, mk_dtype it, int64_t nb, int bs, int H, int D, int pad, int at) {
    char what[160];
    snprintf(what, sizeof what, "kv cache %s <- %s blocks=%lld block_size=%d H=%d D=%d pad=%d at=%d",
             mk_dtype_name(ct), mk_dtype_name(it), (long long)nb, bs, H, D, pad, at);
    kv_pair kv = kv_new(ct, nb, bs, H, D);
    const size_t row = (size_t)H * (size_t)D;
    mkref_rng r;
    mkt_rng(&r, ++salt_counter);

    /* 1. every slot once, in a random order (the pool starts out undefined) */
    const int64_t T = kv.nslots;
    int32_t *perm = mkt_alloc((size_t)T * sizeof(int32_t));
    for (int64_t i = 0; i < T; i++) perm[i] = (int32_t)i;
    for (int64_t i = T - 1; i > 0; i--) {
        int64_t j = mkref_rng_range(&r, 0, i);
        int32_t tmp = perm[i];
        perm[i] = perm[j], perm[j] = tmp;
    }
    float *k = mkt_random(it, (size_t)T * row, 1.0f, 8.0f), *v = mkt_random(it, (size_t)T * row, 1.0f, 8.0f);
    kv_append_both(&kv, it, k, v, perm, T, pad, at);
    kv_compare(&kv, what);

    /* 2. a batch with padding tokens, overwrites, an all-zero vector and (f32 inputs) a
       vector whose scale underflows to 0 */
    const int64_t T2 = T < 37 ? T : 37;
    int32_t *slots = mkt_alloc((size_t)T2 * sizeof(int32_t));
    for (int64_t i = 0; i < T2; i++) slots[i] = i % 5 == 3 ? -1 : perm[(i * 7) % T];
    /* (i * 7) % T is distinct for distinct i < T2 when gcd(7, T) == 1; else dedupe */
    for (int64_t i = 0; i < T2; i++)
        for (int64_t j = 0; j < i; j++)
            if (slots[i] >= 0 && slots[i] == slots[j]) slots[i] = -1;
    float *k2 = mkt_random(it, (size_t)T2 * row, 1.0f, 8.0f), *v2 = mkt_random(it, (size_t)T2 * row, 2.0f, 1.0f);
    if (T2 > 1)
        for (int d = 0; d < D; d++) k2[row + (size_t)d] = 0.0f;
    if (T2 > 2 && it == MK_F32)
        for (int d = 0; d < D; d++) v2[2 * row + (size_t)d] = (d % 2 ? 1e-44f : -3e-45f) * (float)(1 + d % 3);
    kv_append_both(&kv, it, k2, v2, slots, T2, pad, at);
    kv_compare(&kv, what);

    /* 3. copy_blocks: the first blocks onto the last ones */
    if (nb >= 2) {
        int64_t np = nb / 2 < 3 ? nb / 2 : 3;
        int32_t pairs[6];
        for (int64_t i = 0; i < np; i++) pairs[2 * i] = (int32_t)i, pairs[2 * i + 1] = (int32_t)(nb - 1 - i);
        const int64_t pshape[2] = {np, 2};
        mk_tensor pt = mkt_upload_i32(ctx, 2, pshape, pairs);
        MKT_OK(mk_kv_cache_copy_blocks(ctx, kv.dev, &pt));
        check_variant(MK_OP_KV_COPY_BLOCKS, what);
        mkref_kv_copy_blocks(&kv.host, pairs, np);
        kv_compare(&kv, what);
        mkt_free(&pt);
        /* and back as plan + run (no readback, no wait) */
        for (int64_t i = 0; i < np; i++) pairs[2 * i] = (int32_t)(nb - 1 - i), pairs[2 * i + 1] = (int32_t)i;
        mk_plan *plan = NULL;
        MKT_OK(mk_kv_copy_plan_create(ctx, kv.dev, pairs, np, &plan));
        const mk_sync_counters before = mkt_sync_counts(ctx);
        MKT_OK(mk_kv_cache_copy_blocks_run(ctx, plan, kv.dev));
        mkt_check_no_sync(ctx, &before, what);
        mk_plan_destroy(plan);
        mkref_kv_copy_blocks(&kv.host, pairs, np);
        kv_compare(&kv, what);
    }

    /* 4. determinism: the same batch again gives the same bits */
    kv_append_both(&kv, it, k2, v2, slots, T2, pad, at);
    kv_compare(&kv, what);

    free(perm), free(slots), free(k), free(v), free(k2), free(v2);
    kv_free(&kv);
}

/* The CUDA backend appends with 16-byte words when D, the views' base and strides allow
   (kernels/cuda/kv_append.cu) and one element per lane otherwise: the cases below take
   both paths for every dtype pair (pad and at in elements; a pad or an offset that is not
   a whole 16-byte word of the input dtype forces the fallback). */
static void test_kv(void) {
    const mk_dtype caches[] = {MK_F32, MK_F16, MK_BF16, MK_I8, MK_FP8_E4M3};
    for (size_t c = 0; c < 5; c++)
        for (size_t ti = 0; ti < 3; ti++) {
            mk_dtype ct = caches[c], it = float_types[ti];
            if (mkt_small()) { /* MEDKERN_TEST_SMALL: block sizes 1, 16 and 7, D 64, 96 and 33 */
                check_kv(ct, it, 9, 1, 1, 64, 0, 0);
                check_kv(ct, it, 2, 16, 2, 96, 64, 0); /* strided inputs (a fused QKV row) */
                check_kv(ct, it, 2, 7, 3, 33, 5, 0);   /* odd everything */
                check_kv(ct, it, 2, 4, 3, 128, 3, 0);  /* a row stride of no whole word */
                continue;
            }
            check_kv(ct, it, 5, 16, 4, 128, 0, 0);
            check_kv(ct, it, 9, 1, 1, 64, 0, 0);
            check_kv(ct, it, 3, 32, 8, 80, 0, 0);
            check_kv(ct, it, 4, 16, 2, 256, 64, 0);  /* strided inputs (a fused QKV row) */
            check_kv(ct, it, 2, 7, 3, 33, 5, 0);     /* odd everything */
            check_kv(ct, it, 3, 4, 2, 1, 0, 0);      /* D = 1 */
            check_kv(ct, it, 2, 8, 3, 256, 0, 8);    /* D = 256, base one f16 word in */
            check_kv(ct, it, 2, 4, 3, 128, 3, 0);    /* token stride of no whole word */
            check_kv(ct, it, 2, 4, 3, 128, 4, 0);    /* a whole f32 word, not an f16 one */
            check_kv(ct, it, 2, 4, 3, 128, 0, 1);    /* base off the 16-byte alignment */
            check_kv(ct, it, 5, 3, 3, 64, 0, 0);     /* 45 rows: a warp's last rows unused */
            check_kv(ct, it, 3, 5, 2, 48, 0, 0);     /* L = 6 (3 for I8/FP8) lanes of 8 (4) */
            check_kv(ct, it, 4, 4, 5, 16, 0, 0);     /* one lane per row (I8/FP8) */
            check_kv(ct, it, 2, 3, 1, 8, 0, 0);      /* D = 8: one f16 word, no whole I8 one */
        }
}

/* ------------------------------------------------------------ attention prefill */

typedef struct {
    mk_dtype t;
    int D, Hq, Hkv, B;
    int sq[4], sk[4];
    int causal, window;
    float softcap, scale;
    int pad; /* q, k, v as views with rows of H*D + pad elements (0: contiguous) */
} prefill_case;

/* First F16/BF16 with D in {64, 80, 96, 128, 256} (cuda.fa2_mma on sm_80+), then F32
   and other head dims (cuda.tiled). Varlen batches with an empty sequence, Sq > Sk (rows
   that see no key), Sq < Sk, ragged tile tails (33, 65, 130 rows), GQA 1..8, windows,
   softcap, an explicit scale, padded views (pad 8: 16-byte loads; pad 3/5: element
   loads). */
static const prefill_case prefill_cases[] = {
    {MK_F16, 64, 8, 2, 4, {7, 1, 0, 33}, {7, 33, 5, 20}, 1, -1, 0.0f, 0.0f, 0},
    {MK_BF16, 80, 4, 4, 2, {33, 70}, {100, 70}, 0, -1, 20.0f, 0.0f, 8},
    {MK_F16, 96, 6, 3, 1, {130}, {200}, 1, 16, 0.0f, 0.0f, 3},
    {MK_BF16, 128, 4, 1, 3, {65, 0, 5}, {65, 3, 1}, 1, -1, 0.0f, 0.15f, 0},
    {MK_F16, 256, 2, 1, 2, {100, 1}, {100, 1}, 1, 40, 0.0f, 0.0f, 8},
    {MK_BF16, 64, 8, 1, 2, {1, 150}, {1, 190}, 0, 0, 30.0f, 0.0f, 0},
    {MK_F16, 128, 2, 2, 1, {1}, {1}, 0, -1, 0.0f, 0.0f, 0},
    /* several 128-row tiles: tiles every row sees whole (no mask) next to the diagonal's,
       the window's first and the sequence's last; tiles left of the window skipped; Sq > Sk
       over several tiles (the first 110 rows see no key) with softcap; D 256 unaligned */
    {MK_BF16, 128, 2, 1, 2, {300, 129}, {300, 260}, 1, -1, 0.0f, 0.0f, 0},
    {MK_F16, 64, 2, 2, 1, {260}, {400}, 0, 50, 0.0f, 0.0f, 8},
    {MK_BF16, 96, 2, 1, 1, {200}, {90}, 1, -1, 25.0f, 0.0f, 0},
    {MK_F16, 80, 2, 1, 1, {140}, {333}, 1, 100, 0.0f, 0.0f, 0},
    {MK_F16, 256, 2, 2, 1, {150}, {150}, 0, -1, 0.0f, 0.0f, 3},
    /* cuda.tiled: F32, and head dims the mma kernel does not take */
    {MK_F32, 64, 8, 2, 3, {7, 0, 40}, {7, 9, 60}, 1, -1, 0.0f, 0.0f, 0},
    {MK_F32, 256, 2, 1, 2, {33, 7}, {65, 7}, 0, 16, 0.0f, 0.0f, 5},
    {MK_F16, 40, 4, 2, 2, {3, 70}, {9, 70}, 1, 20, 10.0f, 0.0f, 0},
    {MK_BF16, 8, 8, 8, 1, {50}, {50}, 0, 2, 0.0f, 0.0f, 3},
    {MK_F32, 33, 3, 1, 1, {100}, {130}, 1, -1, 0.0f, 0.0f, 0},
};
/* MEDKERN_TEST_SMALL (mkt_small): the same kinds of cases with at most 60 tokens and few
   heads (a simulator pays for every whole tile) */
static const prefill_case small_prefill_cases[] = {
    {MK_F16, 64, 4, 2, 4, {7, 1, 0, 33}, {7, 33, 5, 20}, 1, -1, 0.0f, 0.0f, 0},
    {MK_BF16, 96, 2, 1, 1, {33}, {40}, 1, 16, 0.0f, 0.0f, 3},
    {MK_F16, 96, 2, 1, 3, {7, 0, 5}, {7, 3, 1}, 1, -1, 0.0f, 0.15f, 8},
    {MK_BF16, 64, 2, 1, 2, {1, 33}, {1, 40}, 0, 0, 30.0f, 0.0f, 0},
    {MK_F32, 64, 2, 1, 3, {7, 0, 40}, {7, 9, 60}, 1, -1, 0.0f, 0.0f, 0},
    {MK_F32, 96, 2, 1, 2, {17, 7}, {20, 7}, 0, 16, 0.0f, 0.0f, 5},
    {MK_F16, 40, 2, 1, 2, {3, 33}, {9, 33}, 1, 20, 10.0f, 0.0f, 0},
    {MK_BF16, 8, 4, 4, 1, {17}, {17}, 0, 2, 0.0f, 0.0f, 3},
    {MK_F32, 33, 3, 1, 1, {33}, {40}, 1, -1, 0.0f, 0.0f, 0},
};

static void check_prefill(const prefill_case *c) {
    const int D = c->D, Hq = c->Hq, Hkv = c->Hkv, B = c->B;
    int32_t cu_q[5] = {0}, cu_k[5] = {0};
    for (int b = 0; b < B; b++) cu_q[b + 1] = cu_q[b] + c->sq[b], cu_k[b + 1] = cu_k[b] + c->sk[b];
    const int64_t T = cu_q[B], Tk = cu_k[B];
    const size_t nq = (size_t)T * Hq * D, nk = (size_t)Tk * Hkv * D, nl = (size_t)T * Hq;
    float *q = mkt_random(c->t, nq, 1.0f, 8.0f), *k = mkt_random(c->t, nk, 1.0f, 8.0f);
    float *v = mkt_random(c->t, nk, 1.0f, 4.0f);
    const mk_attn_params p = {c->scale, c->causal, c->window + 1, c->softcap};
    float *ref = floats(nq), *ref_lse = floats(nl);
    mkref_attention_prefill(q, k, v, cu_q, cu_k, B, Hq, Hkv, D, &p, ref, ref_lse);

    char what[240];
    snprintf(what, sizeof what,
             "prefill %s D=%d Hq=%d Hkv=%d causal=%d window=%d softcap=%g scale=%g pad=%d lens q/k "
             "%d/%d %d/%d %d/%d %d/%d", mk_dtype_name(c->t), D, Hq, Hkv, c->causal, c->window,
             (double)c->softcap, (double)c->scale, c->pad, c->sq[0], c->sk[0], c->sq[1], c->sk[1],
             c->sq[2], c->sk[2], c->sq[3], c->sk[3]);
    const int64_t qs[3] = {T, Hq, D}, qst[3] = {(int64_t)Hq * D + c->pad, D, 1};
    const int64_t ks[3] = {Tk, Hkv, D}, kst[3] = {(int64_t)Hkv * D + c->pad, D, 1};
    const int64_t bs[1] = {B + 1}, ls[2] = {T, Hq};
    mk_tensor tq = upload_view(c->t, 3, qs, qst, q), tk = upload_view(c->t, 3, ks, kst, k);
    mk_tensor tv = upload_view(c->t, 3, ks, kst, v);
    mk_tensor tcq = mkt_upload_i32(ctx, 1, bs, cu_q), tck = mkt_upload_i32(ctx, 1, bs, cu_k);

    float *out = floats(nq), *lse = floats(nl), *out2 = floats(nq), *lse2 = floats(nl);
    /* run 0: the one-shot call; run 1: plan + run, which must not read back or wait */
    for (int run = 0; run < 2; run++) {
        mk_tensor to = mkt_output(ctx, c->t, 3, qs), tl = mkt_output(ctx, MK_F32, 2, ls); /* poisoned */
        if (run == 0) {
            MKT_OK(mk_attention_prefill(ctx, &tq, &tk, &tv, &tcq, &tck, &p, &to, &tl));
        } else {
            const mk_prefill_plan_desc pd = {B, cu_q, cu_k, Hq, Hkv, D, c->t, p};
            mkt_prefill_via_plan(ctx, &pd, &tq, &tk, &tv, &to, &tl, what);
        }
        check_variant(MK_OP_ATTENTION_PREFILL, what);
        download_view(&to, run ? out2 : out, what);
        download_view(&tl, run ? lse2 : lse, what);
        mkt_free(&to), mkt_free(&tl);
    }
    mkt_compare(what, out, ref, nq, mkt_tol(c->t), 0);
    char wl[260];
    snprintf(wl, sizeof wl, "%s (lse)", what);
    mkt_compare(wl, lse, ref_lse, nl, mkt_tol(MK_F32), 0);
    same_bits(out, out2, nq, what);
    same_bits(lse, lse2, nl, wl);
    int bad = 0; /* rows that see no key: exactly +0 and -inf */
    for (size_t i = 0; i < nl; i++)
        if (ref_lse[i] == -INFINITY) {
            bad += lse[i] != -INFINITY;
            for (int d = 0; d < D; d++) bad += out[i * D + d] != 0.0f || signbit(out[i * D + d]);
        }
    MKT_CHECK(bad == 0, "%s: %d values of rows that see no key are not 0 / -inf", what, bad);

    /* without lse: the same output bits */
    mk_tensor to = mkt_output(ctx, c->t, 3, qs);
    MKT_OK(mk_attention_prefill(ctx, &tq, &tk, &tv, &tcq, &tck, &p, &to, NULL));
    download_view(&to, out2, what);
    MKT_CHECK(memcmp(out, out2, nq * sizeof(float)) == 0, "%s: output differs with lse = NULL", what);
    mkt_free(&to);

    mkt_free(&tq), mkt_free(&tk), mkt_free(&tv), mkt_free(&tcq), mkt_free(&tck);
    free(q), free(k), free(v), free(ref), free(ref_lse), free(out), free(lse), free(out2), free(lse2);
}

static void test_attention_prefill(void) {
    if (mkt_small()) {
        for (size_t i = 0; i < sizeof small_prefill_cases / sizeof small_prefill_cases[0]; i++)
            check_prefill(&small_prefill_cases[i]);
        return;
    }
    for (size_t i = 0; i < sizeof prefill_cases / sizeof prefill_cases[0]; i++) check_prefill(&prefill_cases[i]);
}

/* ------------------------------------------------------------ attention decode */

typedef struct {
    mk_dtype cache, qt;
    int D, Hq, Hkv, bs, B;
    int lens[4];
    int window;
    float softcap;
    int q_pad; /* q as a view with rows of Hq*D + q_pad elements (0: contiguous) */
} decode_case;

/* Long contexts make the planner split (merge kernel); a spare block-table column,
   shuffled physical blocks, empty contexts, G = 1..16 query heads per kv head (two head
   groups at G = 16), D not a power of two, windows and softcap. */
static const decode_case decode_cases[] = {
    {MK_F16, MK_F16, 128, 32, 8, 16, 3, {0, 1, 1500}, -1, 0.0f, 0},
    {MK_BF16, MK_BF16, 64, 8, 8, 32, 2, {37, 290}, -1, 30.0f, 0},
    {MK_F32, MK_F32, 80, 12, 2, 16, 2, {700, 5}, 100, 0.0f, 40},
    {MK_I8, MK_F16, 256, 16, 1, 16, 1, {1000}, -1, 0.0f, 0},
    {MK_FP8_E4M3, MK_BF16, 96, 4, 4, 1, 4, {3, 400, 0, 65}, 63, 0.0f, 8},
    {MK_F16, MK_F32, 40, 4, 2, 8, 2, {2100, 9}, -1, 5.0f, 0},
    {MK_I8, MK_F32, 33, 6, 3, 7, 3, {130, 1, 64}, 0, 0.0f, 0},
    {MK_FP8_E4M3, MK_F16, 1, 2, 1, 4, 1, {10}, -1, 0.0f, 0},
    /* page sizes 1 and 32, groups 1/4/5/8/32, contexts of 1 next to 1000+ (splits, some
       of them empty), every cache dtype: on CUDA, F16/BF16 caches with q of their dtype
       and groups >= 4 take the tensor-core kernel (D 80 and 256 too), the rest SIMT */
    {MK_BF16, MK_BF16, 128, 40, 8, 1, 2, {1, 1100}, -1, 0.0f, 0},
    {MK_F16, MK_F16, 64, 8, 1, 32, 2, {1031, 1}, -1, 10.0f, 0},
    {MK_F16, MK_F16, 256, 8, 2, 16, 1, {1200}, 200, 0.0f, 0},
    {MK_BF16, MK_BF16, 80, 20, 4, 16, 2, {300, 77}, -1, 0.0f, 8},
    {MK_F16, MK_F16, 64, 32, 1, 16, 1, {600}, -1, 0.0f, 0},
    {MK_I8, MK_BF16, 128, 8, 8, 32, 2, {1000, 3}, -1, 0.0f, 0},
    {MK_FP8_E4M3, MK_F32, 128, 32, 4, 1, 1, {1100}, -1, 0.0f, 0},
    {MK_F32, MK_F32, 256, 5, 1, 16, 1, {1030}, -1, 0.0f, 0},
    {MK_BF16, MK_F16, 128, 8, 2, 32, 2, {1, 1500}, 700, 0.0f, 0},
};
/* MEDKERN_TEST_SMALL: the same kinds of cases with contexts up to 300 (one split on a
   GPU-type OpenCL device's 256-key minimum chunk) */
static const decode_case small_decode_cases[] = {
    {MK_F16, MK_F16, 64, 8, 2, 16, 3, {0, 1, 300}, -1, 0.0f, 0},
    {MK_BF16, MK_BF16, 96, 8, 8, 16, 2, {37, 33}, -1, 30.0f, 0},
    {MK_F32, MK_F32, 96, 12, 2, 16, 2, {33, 5}, 20, 0.0f, 40},
    {MK_I8, MK_F16, 64, 16, 1, 16, 1, {65}, -1, 0.0f, 0},
    {MK_FP8_E4M3, MK_BF16, 96, 4, 4, 1, 4, {3, 40, 0, 7}, 9, 0.0f, 8},
    {MK_F16, MK_F32, 40, 4, 2, 8, 2, {33, 9}, -1, 5.0f, 0},
    {MK_I8, MK_F32, 33, 6, 3, 7, 3, {13, 1, 7}, 0, 0.0f, 0},
    {MK_FP8_E4M3, MK_F16, 1, 2, 1, 4, 1, {10}, -1, 0.0f, 0},
};

static void check_decode(const decode_case *c) {
    const int D = c->D, Hq = c->Hq, Hkv = c->Hkv, bs = c->bs, B = c->B;
    mkref_rng r;
    mkt_rng(&r, ++salt_counter);
    int max_blocks = 0, total = 0, T = 0;
    for (int b = 0; b < B; b++) {
        const int nb = (c->lens[b] + bs - 1) / bs;
        if (nb > max_blocks) max_blocks = nb;
        total += nb, T += c->lens[b];
    }
    max_blocks += 1; /* the table is wider than any context */
    const int num_blocks = total + 2;
    int32_t *perm = mkt_alloc((size_t)num_blocks * sizeof(int32_t));
    int32_t *bt = mkt_alloc((size_t)B * (size_t)max_blocks * sizeof(int32_t));
    for (int i = 0; i < num_blocks; i++) perm[i] = i;
    for (int i = num_blocks - 1; i > 0; i--) {
        const int j = (int)mkref_rng_range(&r, 0, i), t = perm[i];
        perm[i] = perm[j], perm[j] = t;
    }
    int used = 0;
    for (int b = 0; b < B; b++)
        for (int j = 0; j < max_blocks; j++)
            bt[b * max_blocks + j] = j < (c->lens[b] + bs - 1) / bs ? perm[used++] : perm[num_blocks - 1];

    /* every visible token written once (plus two padding tokens), on both caches */
    kv_pair kv = kv_new(c->cache, num_blocks, bs, Hkv, D);
    /* a new cache is zero-filled (the spare blocks stay so) */
    memset(kv.host.k, 0, (size_t)num_blocks * kv.block_bytes);
    memset(kv.host.v, 0, (size_t)num_blocks * kv.block_bytes);
    if (kv_quantized(c->cache)) {
        memset(kv.host.k_scale, 0, (size_t)num_blocks * kv.block_scales * sizeof(float));
        memset(kv.host.v_scale, 0, (size_t)num_blocks * kv.block_scales * sizeof(float));
    }
    const int Ta = T + 2;
    int32_t *slots = mkt_alloc((size_t)Ta * sizeof(int32_t));
    int t = 0;
    for (int b = 0; b < B; b++)
        for (int i = 0; i < c->lens[b]; i++) slots[t++] = bt[b * max_blocks + i / bs] * bs + i % bs;
    slots[t++] = -1, slots[t++] = -1;
    float *k = mkt_random(c->qt, (size_t)Ta * Hkv * D, 1.0f, 8.0f);
    float *v = mkt_random(c->qt, (size_t)Ta * Hkv * D, 1.0f, 4.0f);
    kv_append_both(&kv, c->qt, k, v, slots, Ta, 0, 0);

    char what[200];
    snprintf(what, sizeof what,
             "decode cache=%s q=%s D=%d Hq=%d Hkv=%d bs=%d window=%d softcap=%g lens %d %d %d %d",
             mk_dtype_name(c->cache), mk_dtype_name(c->qt), D, Hq, Hkv, bs, c->window, (double)c->softcap,
             c->lens[0], B > 1 ? c->lens[1] : -1, B > 2 ? c->lens[2] : -1, B > 3 ? c->lens[3] : -1);
    kv_compare(&kv, what); /* the reference reads the very cache the device holds */

    const size_t nq = (size_t)B * Hq * D;
    float *q = mkt_random(c->qt, nq, 1.0f, 8.0f), *ref = floats(nq), *out = floats(nq), *again = floats(nq);
    const mk_attn_params p = {0.0f, 0, c->window + 1, c->softcap};
    mkref_attention_decode(q, &kv.host, bt, max_blocks, c->lens, B, Hq, &p, ref);

    const int64_t qs[3] = {B, Hq, D}, qst[3] = {(int64_t)Hq * D + c->q_pad, D, 1};
    const int64_t bts[2] = {B, max_blocks}, bsz[1] = {B};
    mk_tensor tq = upload_view(c->qt, 3, qs, qst, q);
    mk_tensor tbt = mkt_upload_i32(ctx, 2, bts, bt), tcl = mkt_upload_i32(ctx, 1, bsz, c->lens);
    /* run 0: the one-shot call; run 1: plan + run, which must not read back or wait */
    for (int run = 0; run < 2; run++) {
        mk_tensor to = mkt_output(ctx, c->qt, 3, qs); /* poisoned */
        if (run == 0) {
            MKT_OK(mk_attention_decode(ctx, &tq, kv.dev, &tbt, &tcl, &p, &to));
        } else {
            const mk_decode_plan_desc pd = {B, max_blocks, bt, c->lens, kv.dev, Hq, c->qt, p};
            mkt_decode_via_plan(ctx, &pd, &tq, kv.dev, &to, what);
        }
        check_variant(MK_OP_ATTENTION_DECODE, what);
        download_view(&to, run ? again : out, what);
        mkt_free(&to);
    }
    /* quantized caches: the reference reads the same codes; f32 dequantization order */
    const double tol = kv_quantized(c->cache) ? fmax(1e-3, mkt_tol(c->qt)) : mkt_tol(c->qt);
    mkt_compare(what, out, ref, nq, tol, 0);
    same_bits(out, again, nq, what);
    int bad = 0;
    for (int b = 0; b < B; b++)
        if (c->lens[b] == 0)
            for (size_t i = 0; i < (size_t)Hq * D; i++) bad += out[(size_t)b * Hq * D + i] != 0.0f;
    MKT_CHECK(bad == 0, "%s: %d outputs of empty contexts are not 0", what, bad);

    mkt_free(&tq), mkt_free(&tbt), mkt_free(&tcl);
    kv_free(&kv);
    free(perm), free(bt), free(slots), free(k), free(v), free(q), free(ref), free(out), free(again);
}

static void test_attention_decode(void) {
    if (mkt_small()) {
        for (size_t i = 0; i < sizeof small_decode_cases / sizeof small_decode_cases[0]; i++)
            check_decode(&small_decode_cases[i]);
        return;
    }
    for (size_t i = 0; i < sizeof decode_cases / sizeof decode_cases[0]; i++) check_decode(&decode_cases[i]);
}

/* ------------------------------------------------------------ conversions via kv_append */

/* Appends raw f32/f16/bf16 bit patterns (T tokens of H x D) into a fresh cache of ct and
   compares it with the reference bit for bit. */
static void sweep(mk_dtype ct, mk_dtype it, const void *kbits, const void *vbits, int64_t nb, int bs,
                  int H, int D, const char *what) {
    kv_pair kv = kv_new(ct, nb, bs, H, D);
    const int64_t T = kv.nslots;
    const size_t n = (size_t)T * (size_t)H * (size_t)D, es = mk_dtype_size(it);
    float *k = floats(n), *v = floats(n);
    for (size_t i = 0; i < n; i++) {
        k[i] = mkref_load(it, kbits, (int64_t)i);
        v[i] = mkref_load(it, vbits, (int64_t)i);
    }
    int32_t *slots = mkt_alloc((size_t)T * sizeof(int32_t));
    for (int64_t i = 0; i < T; i++) slots[i] = (int32_t)(T - 1 - i);
    const int64_t shape[3] = {T, H, D}, sshape[1] = {T};
    /* raw bits (not through float) so NaN payloads arrive exactly as given */
    mk_buffer *kb = mkt_buffer(ctx, n * es), *vb = mkt_buffer(ctx, n * es);
    MKT_OK(mk_buffer_write(kb, 0, kbits, n * es));
    MKT_OK(mk_buffer_write(vb, 0, vbits, n * es));
    mk_tensor kt = mk_tensor_make(kb, 0, it, 3, shape), vt = mk_tensor_make(vb, 0, it, 3, shape);
    mk_tensor st = mkt_upload_i32(ctx, 1, sshape, slots);
    MKT_OK(mk_kv_cache_append(ctx, kv.dev, &kt, &vt, &st));
    check_variant(MK_OP_KV_APPEND, what);
    mkref_kv_append(&kv.host, k, v, slots, T);
    kv_compare(&kv, what);
    mk_buffer_free(kb), mk_buffer_free(vb), mkt_free(&st);
    free(k), free(v), free(slots);
    kv_free(&kv);
}

static uint32_t f32_bits(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    return u;
}

static void test_conversions(void) {
    /* every f16 and bf16 code (NaN payloads included) into f32/f16/bf16 caches */
    uint16_t *codes = mkt_alloc(65536 * 2), *rev = mkt_alloc(65536 * 2);
    for (uint32_t i = 0; i < 65536; i++) codes[i] = (uint16_t)i, rev[i] = (uint16_t)(65535 - i);
    const mk_dtype plain[] = {MK_F32, MK_F16, MK_BF16};
    for (int c = 0; c < 3; c++) {
        sweep(plain[c], MK_F16, codes, rev, 16, 16, 2, 128, "every f16 code");
        sweep(plain[c], MK_BF16, codes, rev, 16, 16, 2, 128, "every bf16 code");
    }
    free(codes), free(rev);

    /* f32 bit patterns: specials, ties and random bits into f16/bf16 caches */
    const size_t n = 16 * 16 * 2 * 128;
    uint32_t *kb = mkt_alloc(n * 4), *vb = mkt_alloc(n * 4);
    mkref_rng r;
    mkt_rng(&r, ++salt_counter);
    for (size_t i = 0; i < n; i++) kb[i] = (uint32_t)mkref_rng_u64(&r), vb[i] = (uint32_t)mkref_rng_u64(&r);
    const uint32_t specials[] = {
        0x00000000u, 0x80000000u, 0x7F800000u, 0xFF800000u, 0x7FC00000u, 0xFFC00000u, 0x7F800001u,
        0xFF812345u, 0x7FBFFFFFu, 0x00000001u, 0x80000001u, 0x007FFFFFu, 0x00800000u,
        0x477FE000u /* 65504 */, 0x477FF000u /* 65520: ties to Inf in f16 */, 0x477FEFFFu,
        0x33800000u /* 2^-24 */, 0x33000000u /* 2^-25: tie to 0 */, 0x33000001u, 0x387FC000u,
        0x3F801000u /* 1 + 2^-11: tie, even */, 0x3F803000u /* 1 + 3*2^-11: tie, odd */,
        0x3F808000u /* bf16 tie */, 0x3F818000u, 0x7F7FFFFFu, 0xFF7FFFFFu, 0x7F7F8000u};
    for (size_t i = 0; i < sizeof specials / sizeof specials[0]; i++) kb[i] = specials[i];
    sweep(MK_F16, MK_F32, kb, vb, 16, 16, 2, 128, "f32 bit patterns -> f16");
    sweep(MK_BF16, MK_F32, kb, vb, 16, 16, 2, 128, "f32 bit patterns -> bf16");
    sweep(MK_F32, MK_F32, kb, vb, 16, 16, 2, 128, "f32 bit patterns -> f32");

    /* FP8 and I8 codes with amax pinned: element 0 of every (token, head) vector is
       +-448 (+-127), so scale = 1 exactly and the code is the encoding of x itself */
    const int D = 128;
    for (int q = 0; q < 2; q++) {
        const float top = q ? 127.0f : 448.0f;
        uint32_t *bufs[2] = {kb, vb};
        for (int which = 0; which < 2; which++) {
            uint32_t *b = bufs[which];
            for (size_t i = 0; i < n; i++) {
                float x;
                const size_t d = i % (size_t)D;
                const double sign = (mkref_rng_u64(&r) & 1) ? -1.0 : 1.0;
                if (d == 0) {
                    x = (float)(sign * top);
                } else if (mkref_rng_u64(&r) % 97 == 0) {
                    b[i] = (sign < 0 ? 0xFFC00000u : 0x7FC00000u) | (uint32_t)(mkref_rng_u64(&r) & 0x3FFFFFu);
                    continue; /* NaN with a payload: ignored by amax, a NaN code */
                } else if (q == 0) {
                    int e = (int)mkref_rng_range(&r, -13, 8);          /* below fp8's subnormals .. 256 */
                    double m = 1.0 + (double)(mkref_rng_u64(&r) >> 40) / (double)(1ull << 24);
                    if (mkref_rng_u64(&r) % 4 == 0) m = 1.0 + (double)mkref_rng_range(&r, 0, 15) / 16.0; /* ties */
                    x = (float)(sign * ldexp(m, e));
                    if (fabsf(x) > 448.0f) x = (float)(sign * 448.0);
                } else {
                    double v = (double)mkref_rng_range(&r, 0, 126);
                    int kind = (int)(mkref_rng_u64(&r) % 3);
                    v += kind == 0 ? 0.5 : kind == 1 ? 0.0 : mkref_rng_uniform(&r);  /* ties, integers */
                    x = (float)(sign * v);
                }
                b[i] = f32_bits(x);
            }
        }
        sweep(q ? MK_I8 : MK_FP8_E4M3, MK_F32, kb, vb, 16, 16, 2, D,
              q ? "i8 codes (scale 1)" : "fp8 codes (scale 1)");
    }
    free(kb), free(vb);
}

/* ------------------------------------------------------------ device, buffers, events, qweights */

static void test_device_and_buffers(const char *id) {
    mk_device_info info;
    MKT_OK(mk_context_get_device(ctx, &info));
    MKT_CHECK(strcmp(info.backend, backend) == 0, "device %s reports backend %s", id, info.backend);
    MKT_CHECK(strcmp(info.id, id) == 0, "device id %s, expected %s", info.id, id);
    printf("  device %s: %s (%s), %.1f GiB, %d units, capability %d.%d, %.0f GB/s, %.0f TFLOP/s f16\n",
           info.id, info.name, info.driver, (double)info.memory_bytes / (1u << 30), info.compute_units,
           info.capability_major, info.capability_minor, info.peak_bandwidth_gbs, info.peak_tflops_f16);
    if (strcmp(backend, "cuda") == 0) {
        MKT_CHECK(info.type == MK_DEVICE_GPU && strcmp(info.vendor, "NVIDIA") == 0, "type/vendor");
        MKT_CHECK(info.memory_bytes > 0 && info.compute_units > 0, "memory and SM count are known");
        MKT_CHECK(info.capability_major >= 5, "capability %d.%d", info.capability_major, info.capability_minor);
        MKT_CHECK(info.peak_bandwidth_gbs > 0, "peak bandwidth is known");
        MKT_CHECK(!(info.capability_major >= 8) || (info.features & MK_FEATURE_BF16), "bf16 on sm_80+");
    }

    /* write / fill / read at odd offsets */
    const size_t bytes = 1000;
    mk_buffer *b = mkt_buffer(ctx, bytes);
    uint8_t src[1000], dst[1000];
    for (size_t i = 0; i < bytes; i++) src[i] = (uint8_t)(i * 37 + 11);
    MKT_OK(mk_buffer_write(b, 0, src, bytes));
    MKT_OK(mk_buffer_fill(b, 13, 0x5A, 101));
    memset(src + 13, 0x5A, 101);
    MKT_OK(mk_buffer_write(b, 501, src + 3, 77));
    memcpy(src + 501, src + 3, 77);
    MKT_OK(mk_buffer_read(b, 0, dst, bytes));
    MKT_CHECK(memcmp(src, dst, bytes) == 0, "buffer write/fill/read round trip");
    MKT_OK(mk_buffer_read(b, 999, dst, 1));
    MKT_CHECK(dst[0] == src[999], "one-byte read at the end");
    mkt_guard_ok(b, bytes, "buffer round trip");
    mk_buffer_free(b);

    /* events around queued work */
    mk_event *e0 = NULL, *e1 = NULL;
    MKT_OK(mk_event_create(ctx, &e0));
    MKT_OK(mk_event_create(ctx, &e1));
    if (e0 && e1) {
        const int64_t n = mkt_small() ? 4099 : 1 << 20, shape[1] = {n};
        float *x = mkt_random(MK_F32, (size_t)n, 1.0f, 1.0f);
        mk_tensor a = mkt_upload(ctx, MK_F32, 1, shape, x), o = mkt_output(ctx, MK_F32, 1, shape);
        MKT_OK(mk_event_record(e0));
        for (int i = 0; i < 4; i++) MKT_OK(mk_add(ctx, &a, &a, &o));
        MKT_OK(mk_event_record(e1));
        float ms = -1.0f;
        MKT_OK(mk_event_elapsed_ms(e0, e1, &ms));
        MKT_CHECK(ms >= 0.0f && isfinite(ms), "event elapsed %g ms", ms);
        MKT_OK(mk_synchronize(ctx));
        mkt_free(&a), mkt_free(&o);
        free(x);
    }
    mk_event_destroy(e0);
    mk_event_destroy(e1);
}

static void test_qweights(void) {
    const mk_qweight_desc descs[] = {
        {MK_QW4, 33, 128, 32, 1}, {MK_QW4, 7, 256, 64, 0}, {MK_QW8, 5, 96, 0, 0},
        {MK_QW8, 9, 128, 32, 0},  {MK_QW8A8, 3, 64, 0, 0}, {MK_QFP8, 17, 48, 0, 0}};
    mkref_rng r;
    mkt_rng(&r, ++salt_counter);
    for (size_t i = 0; i < sizeof descs / sizeof descs[0]; i++) {
        const mk_qweight_desc *d = &descs[i];
        const int perm = i == 0 || i == 3;
        mk_qweight_data in, out;
        MKT_OK(mk_qweight_data_alloc(d, d->asymmetric, perm, &in));
        MKT_OK(mk_qweight_data_alloc(d, d->asymmetric, perm, &out));
        if (!in.q || !out.q) continue;
        const size_t qb = mkref_qweight_q_bytes(d), sb = mkref_qweight_scale_bytes(d);
        const size_t zb = d->asymmetric ? mkref_qweight_zero_bytes(d) : 0;
        for (size_t j = 0; j < qb; j++) ((uint8_t *)in.q)[j] = (uint8_t)mkref_rng_u64(&r);
        for (size_t j = 0; j < sb; j++) ((uint8_t *)in.scales)[j] = (uint8_t)(mkref_rng_u64(&r) & 0x3F);
        for (size_t j = 0; j < zb; j++) ((uint8_t *)in.zeros)[j] = (uint8_t)(mkref_rng_u64(&r) & 15);
        if (perm) {
            for (int64_t j = 0; j < d->k; j++) in.k_perm[j] = (int32_t)(d->k - 1 - j);
        }
        mk_qweight *qw = NULL;
        MKT_OK(mk_qweight_create(ctx, d, &in, &qw));
        if (qw) {
            MKT_OK(mk_qweight_read(qw, &out));
            MKT_CHECK(memcmp(in.q, out.q, qb) == 0, "qweight %zu: codes round trip", i);
            MKT_CHECK(memcmp(in.scales, out.scales, sb) == 0, "qweight %zu: scales round trip", i);
            MKT_CHECK(!zb || memcmp(in.zeros, out.zeros, zb) == 0, "qweight %zu: zeros round trip", i);
            MKT_CHECK(!perm || memcmp(in.k_perm, out.k_perm, (size_t)d->k * 4) == 0,
                      "qweight %zu: k_perm round trip", i);
        }
        mk_qweight_destroy(qw);
        mk_qweight_data_free(&in);
        mk_qweight_data_free(&out);
    }
}

/* ------------------------------------------------------------ qgemm */

/* y = x . W^T (+ bias) for W4A16/W8A16, W8A8 and FP8 weights quantized from random floats, x F16 or
   BF16 (every other case a strided view), M 1, 3, 16, 17, 64 (the small-M tensor-core
   path: one and two row tiles of x, partial ones) and 130, 200 (dequantize + cuBLAS),
   N odd, K not a multiple of 128, with and without k_perm and zero points: against
   mkref_qgemm on the same dequantized weights, rounded to the output dtype. */
typedef struct {
    mk_qformat fmt;
    int64_t n, k;
    int group, asym, perm, bias;
} qgemm_case;

/* The variant the CUDA dispatcher must pick for format f at M rows. */
static const char *cuda_qgemm_variant(mk_qformat f, int64_t M) {
    return f == MK_QW8A8 ? "cuda.w8a8_mma"
           : f == MK_QFP8 ? "cuda.fp8_mma"
           : M <= 64      ? "cuda.w4a16_mma"
                          : "cuda.dequant_cublas";
}

/* mk_qgemm of weight (d, data) on M rows of random x (dtype t, row stride K + x_pad)
   against mkref_qgemm on the same data, rounded to t; a second run gives the same bits. */
static void qgemm_against_ref(const mk_qweight_desc *d, const mk_qweight_data *data, int with_bias, mk_dtype t,
                              int64_t M, int x_pad, const char *what) {
    const int64_t N = d->n, K = d->k;
    float *x = mkt_random(t, (size_t)(M * K), 1.0f, 8.0f);
    float *b = mkt_random(t, (size_t)N, 0.5f, 1.0f);
    float *ref = floats((size_t)(M * N)), *out = floats((size_t)(M * N)), *again = floats((size_t)(M * N));
    mkref_qgemm(d, data, x, M, with_bias ? b : NULL, ref);
    mkt_round(t, ref, (size_t)(M * N));
    mk_qweight *qw = NULL;
    MKT_OK(mk_qweight_create(ctx, d, data, &qw));
    if (qw) {
        const int64_t xs[2] = {M, K}, xst[2] = {K + x_pad, 1}, ys[2] = {M, N}, bs[1] = {N};
        mk_tensor xt = upload_view(t, 2, xs, xst, x), bt = mkt_upload(ctx, t, 1, bs, b);
        mk_tensor yt = mkt_output(ctx, t, 2, ys), y2 = mkt_output(ctx, t, 2, ys);
        MKT_OK(mk_qgemm(ctx, &xt, qw, with_bias ? &bt : NULL, &yt));
        check_variant(MK_OP_QGEMM, what);
        if (strcmp(backend, "cuda") == 0) {
            const char *k = mk_last_kernel(ctx, MK_OP_QGEMM), *want = cuda_qgemm_variant(d->format, M);
            MKT_CHECK(k && strcmp(k, want) == 0, "%s: ran %s, want %s", what, k ? k : "(none)", want);
        }
        download_view(&yt, out, what);
        mkt_compare(what, out, ref, (size_t)(M * N), t == MK_F16 ? 1e-3 : mkt_tol(t), 0);
        MKT_OK(mk_qgemm(ctx, &xt, qw, with_bias ? &bt : NULL, &y2));
        download_view(&y2, again, what);
        same_bits(out, again, (size_t)(M * N), what);
        mkt_free(&xt), mkt_free(&bt), mkt_free(&yt), mkt_free(&y2);
    }
    mk_qweight_destroy(qw);
    free(x), free(b), free(ref), free(out), free(again);
}

static void check_qgemm(const qgemm_case *c, mk_dtype t, int64_t M, int x_pad) {
    mk_qweight_desc d = {c->fmt, c->n, c->k, c->group, c->asym};
    mk_qweight_data data;
    MKT_OK(mk_qweight_data_alloc(&d, c->asym, c->perm, &data));
    if (!data.q) return;
    mkref_rng r;
    mkt_rng(&r, ++salt_counter);
    const int64_t N = c->n, K = c->k;
    float *w = floats((size_t)(N * K));
    mkt_fill_normal(&r, w, (size_t)(N * K), (float)(1.0 / sqrt((double)K)), 4.0f);
    if (c->asym) /* shifted rows so zero points spread over 0..15 */
        for (int64_t i = 0; i < N * K; i++) w[i] += (float)(0.5 / sqrt((double)K)) * (float)(i % 5 - 2);
    mkref_qweight_quantize(&d, w, &data);
    if (c->perm) {
        for (int64_t j = 0; j < K; j++) data.k_perm[j] = (int32_t)j;
        for (int64_t j = K - 1; j > 0; j--) {
            int64_t i = mkref_rng_range(&r, 0, j);
            int32_t tmp = data.k_perm[j];
            data.k_perm[j] = data.k_perm[i], data.k_perm[i] = tmp;
        }
    }
    static const char *const fmt_names[] = {"?", "QW4", "QW8", "QW8A8", "QFP8"};
    char what[200];
    snprintf(what, sizeof what, "qgemm %s g%d%s%s%s N=%lld K=%lld M=%lld x=%s%s", fmt_names[c->fmt], c->group,
             c->asym ? " asym" : "", c->perm ? " perm" : "", c->bias ? " bias" : "", (long long)N, (long long)K,
             (long long)M, mk_dtype_name(t), x_pad ? " strided" : "");
    qgemm_against_ref(&d, &data, c->bias, t, M, x_pad, what);
    mk_qweight_data_free(&data);
    free(w);
}

/* Weights imported from GPTQ (asymmetric with act-order, symmetric), AWQ and GGUF
   Q4_0/Q8_0 by the API's importers, packed by the backend (on CUDA: qgemm_layout.h,
   act-order as k_perm) and run at M = 1 and 17 (both mma row tiles, odd) against
   mkref_qgemm on the imported canonical data. */
static void test_qgemm_imports(void) {
    const int small = mkt_small();
    const int64_t N = small ? 40 : 136, K = small ? 128 : 512, Ms[2] = {1, 17};
    for (int kind = 0; kind < 5; kind++) {
        mkref_rng r;
        mkt_rng(&r, ++salt_counter);
        mk_qweight_desc d;
        mk_qweight_data data;
        mk_status s;
        char what[96];
        mkt_gptq g = {0};
        mkt_awq a = {0};
        if (kind < 2) {
            mkt_gptq_make(&g, N, K, kind == 0 ? 64 : 128, kind == 1, kind == 0, &r);
            s = mk_import_gptq(&g.t, &d, &data);
            snprintf(what, sizeof what, "import gptq %s", kind == 0 ? "asym act-order g64" : "sym g128");
        } else if (kind == 2) {
            mkt_awq_make(&a, N, K, 32, &r);
            s = mk_import_awq(&a.t, &d, &data);
            snprintf(what, sizeof what, "import awq g32");
        } else {
            const mk_gguf_type gt = kind == 3 ? MK_GGUF_Q4_0 : MK_GGUF_Q8_0;
            size_t bytes;
            uint8_t *blocks = mkt_gguf_make(gt, N + 1, K, &r, &bytes);
            s = mk_import_gguf(gt, blocks, bytes, N + 1, K, &d, &data);
            free(blocks);
            snprintf(what, sizeof what, "import gguf %s", kind == 3 ? "Q4_0" : "Q8_0");
        }
        mkt_gptq_free(&g), mkt_awq_free(&a);
        MKT_CHECK(s == MK_OK, "%s: %s", what, mk_last_error());
        if (s != MK_OK) continue;
        MKT_CHECK(kind != 0 || data.k_perm, "%s: act-order gave no k_perm", what);
        for (int mi = 0; mi < 2; mi++) {
            char w2[160];
            snprintf(w2, sizeof w2, "%s N=%lld K=%lld M=%lld", what, (long long)d.n, (long long)d.k, (long long)Ms[mi]);
            qgemm_against_ref(&d, &data, mi == 1, mi ? MK_BF16 : MK_F16, Ms[mi], 0, w2);
        }
        mk_qweight_data_free(&data);
    }
}

static void test_qgemm(void) {
    static const qgemm_case cases[] = {
        {MK_QW4, 33, 96, 32, 0, 1, 0},   {MK_QW4, 4097, 192, 64, 1, 1, 1}, {MK_QW4, 17, 384, 128, 0, 0, 1},
        {MK_QW4, 1, 256, 128, 1, 0, 0},  {MK_QW4, 40, 64, 32, 1, 1, 1},    {MK_QW8, 33, 100, 0, 0, 1, 1},
        {MK_QW8, 40, 96, 32, 0, 0, 0},   {MK_QW8, 9, 256, 128, 0, 1, 1},
        /* K of several pipeline stages per split and of several splits (cuda.w4a16_mma
           cuts K over the SMs), slices that start inside a scale group, a last partial
           stage, 2 blocks along N */
        {MK_QW4, 129, 1088, 32, 1, 1, 1}, {MK_QW4, 257, 2048, 128, 0, 0, 1}, {MK_QW8, 65, 1056, 32, 0, 1, 0},
        /* W8A8 and FP8 (x quantized per token): K not a multiple of 32, several stages and
           splits */
        {MK_QW8A8, 33, 100, 0, 0, 1, 1}, {MK_QFP8, 40, 96, 0, 0, 0, 0}, {MK_QW8A8, 129, 1088, 0, 0, 0, 1},
        {MK_QFP8, 130, 1056, 0, 0, 1, 1}};
    /* MEDKERN_TEST_SMALL: the same formats and flags with N and K up to 128 and M 1, 7, 33;
       M = 33 (the tiled kernel: whole 64x64 tiles) in one x dtype per case, alternating */
    static const qgemm_case small_cases[] = {
        {MK_QW4, 33, 96, 32, 0, 1, 0},   {MK_QW4, 65, 128, 64, 1, 1, 1}, {MK_QW4, 17, 128, 128, 0, 0, 1},
        {MK_QW4, 1, 128, 128, 1, 0, 0},  {MK_QW4, 13, 64, 32, 1, 1, 1},  {MK_QW8, 33, 100, 0, 0, 1, 1},
        {MK_QW8, 13, 96, 32, 0, 0, 0},   {MK_QW8, 9, 128, 128, 0, 1, 1}, {MK_QW8A8, 33, 100, 0, 0, 1, 1},
        {MK_QFP8, 13, 96, 0, 0, 0, 1}};
    static const int64_t full_Ms[] = {1, 3, 16, 17, 64}, small_Ms[] = {1, 7, 33};
    const int small = mkt_small();
    const qgemm_case *list = small ? small_cases : cases;
    const size_t ncases = small ? sizeof small_cases / sizeof small_cases[0] : sizeof cases / sizeof cases[0];
    const int64_t *Ms = small ? small_Ms : full_Ms;
    const size_t nM = small ? sizeof small_Ms / sizeof small_Ms[0] : sizeof full_Ms / sizeof full_Ms[0];
    int step = 0;
    for (size_t ci = 0; ci < ncases; ci++)
        for (int ti = 1; ti < 3; ti++)
            for (size_t mi = 0; mi < nM; mi++, step++)
                if (!small || Ms[mi] < 33 || (ci + (size_t)ti) % 2 == 0)
                    check_qgemm(&list[ci], float_types[ti], Ms[mi], Ms[mi] > 1 && step % 2 ? 3 : 0);
    if (small) return;
    /* large M: the dequantize + cuBLAS path on CUDA for QW4/QW8, 13 row blocks of the
       8-bit mma kernel for QW8A8/QFP8 */
    check_qgemm(&cases[1], MK_F16, 130, 3);
    check_qgemm(&cases[5], MK_BF16, 130, 0);
    check_qgemm(&cases[0], MK_BF16, 200, 0);
    check_qgemm(&cases[6], MK_F16, 200, 3);
    check_qgemm(&cases[11], MK_F16, 200, 3);
    check_qgemm(&cases[12], MK_BF16, 200, 0);
}

/* ------------------------------------------------------------ main */

/* Is `name` in the comma-separated list (NULL: every group)? */
static int group_on(const char *list, const char *name) {
    if (!list) return 1;
    const size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        const size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && strncmp(p, name, n) == 0) return 1;
        if (!e) break;
        p = e + 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    mkt_init(argc, argv, "test_backend_ops");
    const char *only = NULL; /* --only g1,g2: run these groups (names as below) */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--backend") == 0 && i + 1 < argc) backend = argv[++i];
        else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) only = argv[++i];
    }
    char ids[16][32];
    int n = mkt_devices(backend, ids, 16);
    if (n == 0) mkt_skip(strcmp(backend, "cuda") == 0 ? "no CUDA device" : "no device of that backend");
    for (int d = 0; d < n; d++) {
        printf("[test_backend_ops] device %s\n", ids[d]);
        fflush(stdout);
        if (mk_context_create(ids[d], &ctx) != MK_OK) {
            mkt_fail_at(__FILE__, __LINE__, "mk_context_create(%s): %s", ids[d], mk_last_error());
            continue;
        }
        int before = mkt_failures;
        test_device_and_buffers(ids[d]);
        if (group_on(only, "elementwise")) test_elementwise();
        if (group_on(only, "norms")) test_norms();
        if (group_on(only, "rope")) test_rope();
        if (group_on(only, "gemm")) test_gemm();
        if (group_on(only, "kv")) test_kv();
        if (group_on(only, "attention_prefill")) test_attention_prefill();
        if (group_on(only, "attention_decode")) test_attention_decode();
        if (group_on(only, "conversions")) test_conversions();
        if (group_on(only, "qweights")) test_qweights();
        if (group_on(only, "qgemm")) test_qgemm(), test_qgemm_imports();
        printf("[test_backend_ops] device %s: %d failures\n", ids[d], mkt_failures - before);
        mk_context_destroy(ctx);
        ctx = NULL;
    }
    return mkt_finish();
}
