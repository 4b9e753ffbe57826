/*
 * The OpenCL backend's simple ops (silu_mul, gelu_mul, add, rmsnorm, layernorm, rope,
 * gemm, kv_append, kv_copy_blocks) against the reference, on every OpenCL device, every
 * variant forced in turn:
 *  1. random odd shapes, F32/F16/BF16, strided input views, in-place forms; outputs
 *     poisoned, guard bytes and the padding of strided views checked; tolerances from
 *     mkt_tol (docs/numerics.md);
 *  2. F16/BF16 stores round bit for bit as the reference (every code, RNE ties, overflow,
 *     Inf, NaN); kv_append for all five cache dtypes matches the reference cache bit for bit
 *     (padding slots, overwrites, an all-zero vector), and so does copy_blocks;
 *  3. determinism: two runs give the same bits;
 *  4. a program that fails to build gives MK_ERR_DEVICE with the build log; the disk
 *     cache survives corrupt entries; tuning files (valid, malformed) are honoured or
 *     ignored without harm; events time work on the queue.
 * No OpenCL device: SKIP.
 */
#include <dirent.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mktest.h"

static mk_context *ctx;
static const char *dev_name = "";
static uint64_t salt_counter;

static float *floats(size_t n) { return mkt_alloc(n * sizeof(float)); }

static const mk_dtype float_types[] = {MK_F32, MK_F16, MK_BF16};

/* The worst rel_l2 / tolerance seen per op and dtype (printed per device: the margin). */
static double worst[MK_OP_COUNT][3];

static int dtype_slot(mk_dtype t) { return t == MK_F32 ? 0 : t == MK_F16 ? 1 : 2; }

static void compare(mk_op op, const char *what, const float *out, const float *ref, size_t n, mk_dtype t) {
    double tol = mkt_tol(t), r = mkt_rel_l2(out, ref, n) / tol;
    if (r > worst[op][dtype_slot(t)] || r != r) worst[op][dtype_slot(t)] = r;
    mkt_compare(what, out, ref, n, tol, 0);
}

static void print_margins(void) {
    printf("[test_opencl_ops] worst rel_l2 / tolerance (f32 f16 bf16):\n");
    for (int op = 0; op < MK_OP_COUNT; op++)
        if (worst[op][0] + worst[op][1] + worst[op][2] > 0)
            printf("  %-16s %.3f %.3f %.3f\n", mk_op_name((mk_op)op), worst[op][0], worst[op][1], worst[op][2]);
    memset(worst, 0, sizeof worst);
}

/* ------------------------------------------------------------ strided views */

/* Element offsets of a view in row-major order of its shape. */
static size_t view_offset(int ndim, const int64_t *shape, const int64_t *stride, size_t i) {
    size_t off = 0;
    for (int d = ndim - 1; d >= 0; d--) {
        off += (i % (size_t)shape[d]) * (size_t)stride[d];
        i /= (size_t)shape[d];
    }
    return off;
}

static size_t numel(int ndim, const int64_t *shape) {
    size_t n = 1;
    for (int d = 0; d < ndim; d++) n *= (size_t)shape[d];
    return n;
}

/* Bytes spanned by a view starting at element 0. */
static size_t view_bytes(mk_dtype t, int ndim, const int64_t *shape, const int64_t *stride) {
    size_t last = 0;
    for (int d = 0; d < ndim; d++) last += (size_t)(shape[d] - 1) * (size_t)stride[d];
    return (last + 1) * mk_dtype_size(t);
}

/* A guarded buffer holding dense x through the view (gaps filled with 0xFF bytes). */
static mk_tensor upload_view(mk_dtype t, int ndim, const int64_t *shape, const int64_t *stride,
                             const float *x) {
    size_t bytes = view_bytes(t, ndim, shape, stride), n = numel(ndim, shape);
    uint8_t *host = mkt_alloc(bytes);
    memset(host, 0xFF, bytes);
    for (size_t i = 0; i < n; i++) mkref_store(t, host, (int64_t)view_offset(ndim, shape, stride, i), x[i]);
    mk_buffer *b = mkt_buffer(ctx, bytes);
    mk_buffer_write(b, 0, host, bytes);
    free(host);
    mk_tensor v = mk_tensor_make(b, 0, t, ndim, shape);
    for (int d = 0; d < ndim; d++) v.stride[d] = stride[d];
    return v;
}

/* Reads a view back into dense x; checks the gaps still hold 0xFF and the guard bytes. */
static void download_view(const mk_tensor *v, float *x, const char *what) {
    size_t bytes = view_bytes(v->dtype, v->ndim, v->shape, v->stride), n = mkt_numel(v);
    size_t es = mk_dtype_size(v->dtype);
    uint8_t *host = mkt_alloc(bytes), *mask = mkt_alloc(bytes);
    MKT_OK(mk_buffer_read(v->buf, 0, host, bytes));
    memset(mask, 0, bytes);
    for (size_t i = 0; i < n; i++) {
        size_t off = view_offset(v->ndim, v->shape, v->stride, i);
        x[i] = mkref_load(v->dtype, host, (int64_t)off);
        memset(mask + off * es, 1, es);
    }
    size_t bad = 0;
    for (size_t i = 0; i < bytes; i++) bad += !mask[i] && host[i] != 0xFF;
    MKT_CHECK(bad == 0, "%s: %zu bytes between the rows of the view were written", what, bad);
    mkt_guard_ok(v->buf, bytes, what);
    free(host);
    free(mask);
}

/* ------------------------------------------------------------ variants */

static int opencl_variants(mk_op op, const char **names, int cap) {
    mk_kernel_info info[32];
    int count = 0, n = 0;
    MKT_OK(mk_kernel_list(op, info, 32, &count));
    for (int i = 0; i < count && i < 32 && n < cap; i++)
        if (strcmp(info[i].backend, "opencl") == 0 && mkt_variant_on_device(ctx, op, info[i].name))
            names[n++] = info[i].name;
    MKT_CHECK(n > 0, "no opencl variant of %s", mk_op_name(op));
    return n;
}

static void ran(mk_op op, const char *variant) {
    const char *last = mk_last_kernel(ctx, op);
    MKT_CHECK(last && strcmp(last, variant) == 0, "%s: ran %s, forced %s", mk_op_name(op),
              last ? last : "(none)", variant);
}

/* ------------------------------------------------------------ silu_mul, gelu_mul, add */

typedef enum { B_SILU, B_GELU_ERF, B_GELU_TANH, B_ADD } binary_kind;
static const char *const binary_names[] = {"silu_mul", "gelu_mul(erf)", "gelu_mul(tanh)", "add"};

static mk_status run_binary(binary_kind kind, const mk_tensor *a, const mk_tensor *b, const mk_tensor *out) {
    switch (kind) {
    case B_SILU: return mk_silu_mul(ctx, a, b, out);
    case B_GELU_ERF: return mk_gelu_mul(ctx, a, b, 0, out);
    case B_GELU_TANH: return mk_gelu_mul(ctx, a, b, 1, out);
    default: return mk_add(ctx, a, b, out);
    }
}

static void ref_binary(binary_kind kind, const float *a, const float *b, int64_t n, float *out) {
    switch (kind) {
    case B_SILU: mkref_silu_mul(a, b, n, out); break;
    case B_GELU_ERF: mkref_gelu_mul(a, b, n, 0, out); break;
    case B_GELU_TANH: mkref_gelu_mul(a, b, n, 1, out); break;
    default: mkref_add(a, b, n, out); break;
    }
}

static mk_op binary_op(binary_kind k) {
    return k == B_SILU ? MK_OP_SILU_MUL : k == B_ADD ? MK_OP_ADD : MK_OP_GELU_MUL;
}

/* rows x n; a and b are strided views (row stride n + pad) unless pad is 0; in_place
   writes into a (contiguous then). */
static void check_binary(binary_kind kind, const char *variant, mk_dtype t, int64_t rows, int64_t n,
                         int64_t pad, int in_place) {
    size_t total = (size_t)(rows * n);
    float *a = mkt_random(t, total, 2.0f, 4.0f), *b = mkt_random(t, total, 1.0f, 4.0f);
    float *ref = floats(total), *out = floats(total);
    ref_binary(kind, a, b, rows * n, ref);
    int64_t shape[2] = {rows, n}, stride[2] = {n + pad, 1};
    mk_tensor ta = upload_view(t, 2, shape, stride, a), tb = upload_view(t, 2, shape, stride, b);
    mk_tensor to = in_place ? ta : mkt_output(ctx, t, 2, shape);
    char what[160];
    snprintf(what, sizeof what, "%s %s %s rows=%lld n=%lld pad=%lld%s on %s", binary_names[kind],
             variant, mk_dtype_name(t), (long long)rows, (long long)n, (long long)pad,
             in_place ? " in place" : "", dev_name);
    mk_status s = run_binary(kind, &ta, &tb, &to);
    MKT_CHECK(s == MK_OK, "%s: %s", what, mk_last_error());
    if (s == MK_OK) {
        ran(binary_op(kind), variant);
        if (in_place) download_view(&to, out, what);
        else mkt_download(&to, out);
        compare(binary_op(kind), what, out, ref, total, t);
    }
    mkt_free(&ta);
    mkt_free(&tb);
    if (!in_place) mkt_free(&to);
    free(a), free(b), free(ref), free(out);
}

static void test_binary(void) {
    static const int64_t shapes[][3] = {{1, 64, 0}, {7, 80, 3}, {33, 96, 0}, {3, 128, 16},
                                        {2, 256, 0}, {5, 13, 1}, {1, 1000, 0}, {9, 1, 2}};
    for (binary_kind kind = B_SILU; kind <= B_ADD; kind++) {
        const char *names[8];
        int nv = opencl_variants(binary_op(kind), names, 8);
        for (int v = 0; v < nv; v++) {
            MKT_OK(mk_set_kernel(ctx, binary_op(kind), names[v]));
            for (int ti = 0; ti < 3; ti++)
                for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
                    check_binary(kind, names[v], float_types[ti], shapes[s][0], shapes[s][1], shapes[s][2], 0);
            check_binary(kind, names[v], MK_F32, 7, 96, 0, 1);
            check_binary(kind, names[v], MK_BF16, 4, 80, 0, 1);
            MKT_OK(mk_set_kernel(ctx, binary_op(kind), NULL));
        }
    }
}

/* Stores round exactly as the reference: every F16/BF16 code a (f32 subnormal operands
   excepted: devices may flush those in f32 arithmetic) plus b = a * 2^-k for
   k = mantissa bits + 1 (exact ties), + 2 and + 0; the f32 sum is exact in double, so the
   stored bits must equal the reference's (NaN: any NaN). Covers RNE ties, carries into the
   exponent, overflow to Inf, subnormals, signed zeros, Inf and NaN. */
static void check_store_rounding(const char *variant, mk_dtype t) {
    const int mbits = t == MK_F16 ? 10 : 7;
    float *a = floats(65536), *b = floats(65536), *ref = floats(65536);
    size_t n = 0;
    for (uint32_t code = 0; code < 65536; code++) {
        uint16_t h = (uint16_t)code;
        float v = mkref_load(t, &h, 0);
        if (t == MK_BF16 && (code & 0x7F80u) == 0 && (code & 0x7Fu)) continue;
        a[n++] = v;
    }
    uint16_t *got = mkt_alloc(n * 2), *want = mkt_alloc(n * 2);
    for (int k = mbits; k <= mbits + 2; k++) {
        for (size_t i = 0; i < n; i++) {
            b[i] = mkref_round_to(t, ldexpf(a[i], -k));
            if (fabsf(b[i]) < FLT_MIN) b[i] = 0.0f; /* no f32 subnormal operands (see above) */
        }
        mkref_add(a, b, (int64_t)n, ref);
        for (size_t i = 0; i < n; i++) mkref_store(t, want, (int64_t)i, ref[i]);
        int64_t shape[1] = {(int64_t)n};
        mk_tensor ta = mkt_upload(ctx, t, 1, shape, a), tb = mkt_upload(ctx, t, 1, shape, b);
        mk_tensor to = mkt_output(ctx, t, 1, shape);
        MKT_OK(mk_add(ctx, &ta, &tb, &to));
        MKT_OK(mk_buffer_read(to.buf, 0, got, n * 2));
        mkt_guard_ok(to.buf, n * 2, "add output");
        size_t bad = 0, first = 0;
        for (size_t i = 0; i < n; i++) {
            int nan_w = t == MK_F16 ? (want[i] & 0x7FFF) > 0x7C00 : (want[i] & 0x7FFF) > 0x7F80;
            int nan_g = t == MK_F16 ? (got[i] & 0x7FFF) > 0x7C00 : (got[i] & 0x7FFF) > 0x7F80;
            if (nan_w ? !nan_g : got[i] != want[i]) {
                if (!bad) first = i;
                bad++;
            }
        }
        MKT_CHECK(bad == 0, "add %s %s: %zu of %zu stores differ from the reference bits (k=%d; first: "
                  "%a + %a stored %04x, reference %04x) on %s", variant, mk_dtype_name(t), bad, n, k,
                  a[first], b[first], got[first], want[first], dev_name);
        mkt_free(&ta), mkt_free(&tb), mkt_free(&to);
    }
    free(a), free(b), free(ref), free(got), free(want);
}

static void test_store_rounding(void) {
    const char *names[8];
    int nv = opencl_variants(MK_OP_ADD, names, 8);
    for (int v = 0; v < nv; v++) {
        MKT_OK(mk_set_kernel(ctx, MK_OP_ADD, names[v]));
        check_store_rounding(names[v], MK_F16);
        check_store_rounding(names[v], MK_BF16);
        MKT_OK(mk_set_kernel(ctx, MK_OP_ADD, NULL));
    }
}

/* ------------------------------------------------------------ rmsnorm, layernorm */

static void check_norm(mk_op op, const char *variant, mk_dtype t, int64_t rows, int64_t n, int64_t pad,
                       int flag, int in_place) {
    size_t total = (size_t)(rows * n);
    float *x = mkt_random(t, total, 2.0f, 8.0f);
    if (op == MK_OP_LAYERNORM) { /* a non-zero mean */
        for (size_t i = 0; i < total; i++) x[i] += 3.0f;
        mkt_round(t, x, total);
    }
    float *w = mkt_random(t, (size_t)n, op == MK_OP_RMSNORM && flag ? 0.2f : 1.0f, 1.0f);
    float *b = mkt_random(t, (size_t)n, 0.5f, 1.0f);
    float *ref = floats(total), *out = floats(total);
    float eps = op == MK_OP_RMSNORM ? 1e-6f : 1e-5f;
    if (op == MK_OP_RMSNORM) mkref_rmsnorm(x, w, rows, n, eps, flag, ref);
    else mkref_layernorm(x, w, flag ? b : NULL, rows, n, eps, ref);
    int64_t shape[2] = {rows, n}, stride[2] = {n + pad, 1}, wshape[1] = {n};
    mk_tensor tx = upload_view(t, 2, shape, stride, x), tw = mkt_upload(ctx, t, 1, wshape, w);
    mk_tensor tb = mkt_upload(ctx, t, 1, wshape, b);
    mk_tensor ty = in_place ? tx : mkt_output(ctx, t, 2, shape);
    char what[160];
    snprintf(what, sizeof what, "%s %s %s rows=%lld n=%lld pad=%lld %s=%d%s on %s", mk_op_name(op),
             variant, mk_dtype_name(t), (long long)rows, (long long)n, (long long)pad,
             op == MK_OP_RMSNORM ? "plus_one" : "bias", flag, in_place ? " in place" : "", dev_name);
    mk_status s = op == MK_OP_RMSNORM ? mk_rmsnorm(ctx, &tx, &tw, eps, flag, &ty)
                                      : mk_layernorm(ctx, &tx, &tw, flag ? &tb : NULL, eps, &ty);
    MKT_CHECK(s == MK_OK, "%s: %s", what, mk_last_error());
    if (s == MK_OK) {
        ran(op, variant);
        if (in_place) download_view(&ty, out, what);
        else mkt_download(&ty, out);
        compare(op, what, out, ref, total, t);
    }
    mkt_free(&tx), mkt_free(&tw), mkt_free(&tb);
    if (!in_place) mkt_free(&ty);
    free(x), free(w), free(b), free(ref), free(out);
}

static void test_norms(void) {
    static const int64_t shapes[][3] = {{1, 64, 0}, {7, 80, 5}, {33, 96, 0}, {3, 128, 0},
                                        {2, 256, 64}, {5, 13, 0}, {3, 1000, 0}, {2, 4096, 0}, {4, 1, 0}};
    const mk_op ops[2] = {MK_OP_RMSNORM, MK_OP_LAYERNORM};
    for (int o = 0; o < 2; o++) {
        const char *names[8];
        int nv = opencl_variants(ops[o], names, 8);
        for (int v = 0; v < nv; v++) {
            MKT_OK(mk_set_kernel(ctx, ops[o], names[v]));
            for (int ti = 0; ti < 3; ti++)
                for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
                    check_norm(ops[o], names[v], float_types[ti], shapes[s][0], shapes[s][1], shapes[s][2],
                               (int)(s & 1), 0);
            check_norm(ops[o], names[v], MK_F32, 7, 256, 0, 1, 1);
            check_norm(ops[o], names[v], MK_F16, 3, 96, 0, 0, 1);
            MKT_OK(mk_set_kernel(ctx, ops[o], NULL));
        }
    }
}

/* ------------------------------------------------------------ rope */

static void check_rope(const char *variant, mk_dtype t, int64_t T, int H, int D, const mk_rope_params *p,
                       int32_t max_pos, const char *label) {
    size_t total = (size_t)T * (size_t)H * (size_t)D;
    float *x = mkt_random(t, total, 1.0f, 4.0f), *ref = floats(total), *out = floats(total);
    int32_t *pos = mkt_alloc((size_t)T * sizeof *pos);
    mkref_rng r;
    mkt_rng(&r, ++salt_counter);
    for (int64_t i = 0; i < T; i++) pos[i] = (int32_t)mkref_rng_range(&r, 0, max_pos);
    pos[0] = max_pos; /* the largest angle always appears */
    memcpy(ref, x, total * sizeof(float));
    mkref_rope(ref, pos, T, H, D, p);
    /* x as the q part of a fused [T][H + 3][D] buffer: free token stride */
    int64_t shape[3] = {T, H, D}, stride[3] = {(int64_t)(H + 3) * D, D, 1}, pshape[1] = {T};
    mk_tensor tx = upload_view(t, 3, shape, stride, x), tp = mkt_upload_i32(ctx, 1, pshape, pos);
    char what[200];
    snprintf(what, sizeof what, "rope %s %s T=%lld H=%d D=%d R=%d %s %s max_pos=%d on %s", variant,
             mk_dtype_name(t), (long long)T, H, D, p->rotary_dim ? p->rotary_dim : D,
             p->style == MK_ROPE_HALF ? "half" : "interleaved", label, max_pos, dev_name);
    mk_status s = mk_rope(ctx, &tx, &tp, p);
    MKT_CHECK(s == MK_OK, "%s: %s", what, mk_last_error());
    if (s == MK_OK) {
        ran(MK_OP_ROPE, variant);
        download_view(&tx, out, what);
        compare(MK_OP_ROPE, what, out, ref, total, t);
    }
    mkt_free(&tx), mkt_free(&tp);
    free(x), free(ref), free(out), free(pos);
}

static void test_rope(void) {
    const char *names[8];
    int nv = opencl_variants(MK_OP_ROPE, names, 8);
    static const int dims[] = {64, 80, 96, 128, 256};
    for (int v = 0; v < nv; v++) {
        MKT_OK(mk_set_kernel(ctx, MK_OP_ROPE, names[v]));
        for (int ti = 0; ti < 3; ti++)
            for (int di = 0; di < 5; di++)
                for (int sc = 0; sc < 3; sc++) {
                    int D = dims[di];
                    mk_rope_params p = {(mk_rope_style)((di + sc) & 1), sc == 2 ? 500000.0f : 10000.0f,
                                        (di & 1) ? D / 2 : 0, (mk_rope_scaling)sc, sc == 1 ? 4.0f : 8.0f,
                                        1.0f, 4.0f, 8192};
                    static const char *const labels[] = {"unscaled", "linear", "llama3"};
                    int64_t T = di == 0 ? 1 : di == 1 ? 7 : 33;
                    int H = di == 4 ? 1 : 4;
                    /* long-context positions: the angle needs more than float precision */
                    check_rope(names[v], float_types[ti], T, H, D, &p, sc == 0 ? 4096 : 131071, labels[sc]);
                }
        MKT_OK(mk_set_kernel(ctx, MK_OP_ROPE, NULL));
    }
}

/* ------------------------------------------------------------ gemm */

static void check_gemm(const char *variant, mk_dtype t, int64_t M, int64_t N, int64_t K, int bias, int64_t pad) {
    float *x = mkt_random(t, (size_t)(M * K), 1.0f, 8.0f);
    float *w = mkt_random(t, (size_t)(N * K), (float)(1.0 / sqrt((double)K)), 1.0f);
    float *b = mkt_random(t, (size_t)N, 1.0f, 1.0f);
    float *ref = floats((size_t)(M * N)), *out = floats((size_t)(M * N));
    mkref_gemm(x, w, bias ? b : NULL, M, N, K, ref);
    int64_t xs[2] = {M, K}, xst[2] = {K + pad, 1}, ws[2] = {N, K}, wst[2] = {K + 2 * pad, 1};
    int64_t bs[1] = {N}, ys[2] = {M, N};
    mk_tensor tx = upload_view(t, 2, xs, xst, x), tw = upload_view(t, 2, ws, wst, w);
    mk_tensor tb = mkt_upload(ctx, t, 1, bs, b), ty = mkt_output(ctx, t, 2, ys);
    char what[160];
    snprintf(what, sizeof what, "gemm %s %s M=%lld N=%lld K=%lld bias=%d pad=%lld on %s", variant,
             mk_dtype_name(t), (long long)M, (long long)N, (long long)K, bias, (long long)pad, dev_name);
    mk_status s = mk_gemm(ctx, &tx, &tw, bias ? &tb : NULL, &ty);
    MKT_CHECK(s == MK_OK, "%s: %s", what, mk_last_error());
    if (s == MK_OK) {
        ran(MK_OP_GEMM, variant);
        mkt_download(&ty, out);
        compare(MK_OP_GEMM, what, out, ref, (size_t)(M * N), t);
    }
    mkt_free(&tx), mkt_free(&tw), mkt_free(&tb), mkt_free(&ty);
    free(x), free(w), free(b), free(ref), free(out);
}

static void test_gemm(void) {
    const char *names[8];
    int nv = opencl_variants(MK_OP_GEMM, names, 8);
    static const int64_t full[][3] = {{1, 64, 64}, {2, 80, 96}, {3, 96, 128}, {4, 256, 80},
                                      {1, 13, 7}, {3, 250, 1000}, {7, 128, 256}, {33, 96, 80},
                                      {69, 130, 200}, {128, 256, 256}, {1, 1, 1}};
    /* MEDKERN_TEST_SMALL: partial tiles in M, N and K (default tiles 32x32x16), two tile
       rows, gemv sizes, a strided and a biased case, 1x1x1 */
    static const int64_t small[][3] = {{1, 64, 64}, {3, 33, 96}, {7, 96, 33}, {33, 13, 96}, {1, 1, 1}};
    const int64_t(*shapes)[3] = mkt_small() ? small : full;
    const size_t nshapes = mkt_small() ? sizeof small / sizeof small[0] : sizeof full / sizeof full[0];
    for (int v = 0; v < nv; v++) {
        int gemv = strstr(names[v], "gemv") != NULL;
        MKT_OK(mk_set_kernel(ctx, MK_OP_GEMM, names[v]));
        for (int ti = 0; ti < 3; ti++)
            for (size_t s = 0; s < nshapes; s++) {
                if (gemv && shapes[s][0] > 4) continue; /* gemv takes M <= gemm.gemv_max_m (>= 4) */
                check_gemm(names[v], float_types[ti], shapes[s][0], shapes[s][1], shapes[s][2], (int)(s & 1),
                           s % 3 == 1 ? 5 : 0);
            }
        if (gemv) { /* a batch too large for gemv fails, naming the reason */
            int64_t xs[2] = {1000, 16}, ws[2] = {8, 16}, ys[2] = {1000, 8};
            mk_tensor tx = mkt_output(ctx, MK_F32, 2, xs), tw = mkt_output(ctx, MK_F32, 2, ws);
            mk_tensor ty = mkt_output(ctx, MK_F32, 2, ys);
            MKT_FAILS(MK_ERR_UNSUPPORTED, "gemv", mk_gemm(ctx, &tx, &tw, NULL, &ty));
            mkt_free(&tx), mkt_free(&tw), mkt_free(&ty);
        }
        MKT_OK(mk_set_kernel(ctx, MK_OP_GEMM, NULL));
    }
    /* automatic choice: gemv for a single row, tiled for a large batch */
    check_gemm("opencl.gemv", MK_F16, 1, 96, 64, 1, 0);
    check_gemm("opencl.tiled", MK_F16, 64, 96, 64, 1, 0);
}

/* ------------------------------------------------------------ kv cache */

static size_t kv_elem(mk_dtype t) { return mk_dtype_size(t); }

typedef struct {
    mk_kv_cache_desc desc;
    mkref_kv_cache ref;
    mk_kv_cache *dev;
    size_t block_bytes, block_rows;
} kv_pair;

static void kv_pair_init(kv_pair *kv, const mk_kv_cache_desc *d) {
    memset(kv, 0, sizeof *kv);
    kv->desc = *d;
    size_t slots = (size_t)d->num_blocks * (size_t)d->block_size;
    kv->block_rows = (size_t)d->block_size * (size_t)d->num_kv_heads;
    kv->block_bytes = kv->block_rows * (size_t)d->head_dim * kv_elem(d->dtype);
    kv->ref.desc = *d;
    kv->ref.k = mkt_alloc(kv->block_bytes * (size_t)d->num_blocks);
    kv->ref.v = mkt_alloc(kv->block_bytes * (size_t)d->num_blocks);
    int quant = d->dtype == MK_I8 || d->dtype == MK_FP8_E4M3;
    kv->ref.k_scale = quant ? floats(slots * (size_t)d->num_kv_heads) : NULL;
    kv->ref.v_scale = quant ? floats(slots * (size_t)d->num_kv_heads) : NULL;
    MKT_OK(mk_kv_cache_create(ctx, d, &kv->dev));
}

static void kv_pair_free(kv_pair *kv) {
    mk_kv_cache_destroy(kv->dev);
    free(kv->ref.k), free(kv->ref.v), free(kv->ref.k_scale), free(kv->ref.v_scale);
}

/* Every block of the device cache equals the reference cache, bit for bit. */
static void kv_compare(const kv_pair *kv, const char *what) {
    uint8_t *k = mkt_alloc(kv->block_bytes), *v = mkt_alloc(kv->block_bytes);
    float *ks = floats(kv->block_rows), *vs = floats(kv->block_rows);
    int quant = kv->ref.k_scale != NULL;
    size_t bad = 0;
    for (int64_t b = 0; b < kv->desc.num_blocks; b++) {
        MKT_OK(mk_kv_cache_read_block(kv->dev, b, k, v, quant ? ks : NULL, quant ? vs : NULL));
        const void *got[4] = {k, v, ks, vs};
        const void *want[4] = {(uint8_t *)kv->ref.k + b * kv->block_bytes, (uint8_t *)kv->ref.v + b * kv->block_bytes,
                               quant ? kv->ref.k_scale + b * kv->block_rows : NULL,
                               quant ? kv->ref.v_scale + b * kv->block_rows : NULL};
        for (int p = 0; p < (quant ? 4 : 2); p++) {
            size_t bytes = p < 2 ? kv->block_bytes : kv->block_rows * sizeof(float);
            if (memcmp(got[p], want[p], bytes) == 0) continue;
            size_t at = 0;
            while (((const uint8_t *)got[p])[at] == ((const uint8_t *)want[p])[at]) at++;
            if (!bad)
                fprintf(stderr, "  %s: block %lld %s byte %zu is %02x, reference %02x\n", what, (long long)b,
                        (const char *[]){"K", "V", "K scale", "V scale"}[p], at, ((const uint8_t *)got[p])[at],
                        ((const uint8_t *)want[p])[at]);
            bad++;
        }
    }
    MKT_CHECK(bad == 0, "%s: %zu blocks/scales differ from the reference cache", what, bad);
    free(k), free(v), free(ks), free(vs);
}

/* Appends T tokens of k, v (slices of a fused [T][Hq + 2 Hkv][D] buffer) at slots on both
   caches; token zero_token (if >= 0) gets an all-zero K vector. */
static void kv_append_both(kv_pair *kv, mk_dtype in, int64_t T, const int32_t *slots, int zero_token,
                           const char *what) {
    const int H = kv->desc.num_kv_heads, D = kv->desc.head_dim, Hq = 2 * H;
    size_t n = (size_t)T * (size_t)H * (size_t)D;
    float *k = mkt_random(in, n, 1.0f, 8.0f), *v = mkt_random(in, n, 0.5f, 8.0f);
    if (zero_token >= 0 && zero_token < T)
        memset(k + (size_t)zero_token * (size_t)H * (size_t)D, 0, (size_t)H * (size_t)D * sizeof(float));
    mkref_kv_append(&kv->ref, k, v, slots, T);
    /* the fused layout: q | k | v per token */
    size_t row = (size_t)(Hq + 2 * H) * (size_t)D;
    float *fused = floats((size_t)T * row);
    for (int64_t t = 0; t < T; t++)
        for (size_t j = 0; j < row; j++) {
            size_t hd = (size_t)H * (size_t)D, qd = (size_t)Hq * (size_t)D;
            float val = 0.25f;
            if (j >= qd && j < qd + hd) val = k[(size_t)t * hd + j - qd];
            else if (j >= qd + hd) val = v[(size_t)t * hd + j - qd - hd];
            fused[(size_t)t * row + j] = val;
        }
    int64_t fshape[1] = {T * (int64_t)row};
    mk_tensor all = mkt_upload(ctx, in, 1, fshape, fused);
    int64_t shape[3] = {T, H, D}, sm_shape[1] = {T};
    mk_tensor tk = mk_tensor_make(all.buf, (size_t)Hq * (size_t)D * mk_dtype_size(in), in, 3, shape);
    mk_tensor tv = mk_tensor_make(all.buf, (size_t)(Hq + H) * (size_t)D * mk_dtype_size(in), in, 3, shape);
    tk.stride[0] = tv.stride[0] = (int64_t)row;
    mk_tensor ts = mkt_upload_i32(ctx, 1, sm_shape, slots);
    mk_status s = mk_kv_cache_append(ctx, kv->dev, &tk, &tv, &ts);
    MKT_CHECK(s == MK_OK, "%s: append: %s", what, mk_last_error());
    mkt_free(&all), mkt_free(&ts);
    free(k), free(v), free(fused);
}

static void check_kv(const char *append_variant, const char *copy_variant, mk_dtype cache_t, mk_dtype in,
                     int block_size, int H, int D, int64_t num_blocks) {
    mk_kv_cache_desc d = {num_blocks, block_size, H, D, cache_t};
    kv_pair kv;
    kv_pair_init(&kv, &d);
    char what[200];
    snprintf(what, sizeof what, "kv %s/%s cache=%s in=%s bs=%d Hkv=%d D=%d blocks=%lld on %s",
             append_variant, copy_variant, mk_dtype_name(cache_t), mk_dtype_name(in), block_size, H, D,
             (long long)num_blocks, dev_name);
    mkref_rng r;
    mkt_rng(&r, ++salt_counter);
    int64_t nslots = num_blocks * block_size;
    /* 1: every slot once, in a shuffled order, with padding tokens in between */
    int64_t T1 = nslots + nslots / 4 + 1;
    int32_t *slots = mkt_alloc((size_t)(T1 > 9 ? T1 : 9) * sizeof *slots);
    for (int64_t i = 0; i < T1; i++) slots[i] = -1;
    for (int64_t s = 0; s < nslots; s++) {
        int64_t at;
        do at = mkref_rng_range(&r, 0, T1 - 1);
        while (slots[at] != -1);
        slots[at] = (int32_t)s;
    }
    kv_append_both(&kv, in, T1, slots, -1, what);
    kv_compare(&kv, what);
    /* 2: overwrite a few slots, one all-zero K vector (scale 0), padding */
    int64_t T2 = 9;
    for (int64_t i = 0; i < T2; i++) slots[i] = i % 4 == 3 ? -1 : (int32_t)((i * 7919) % nslots);
    for (int64_t i = 0; i < T2; i++) /* keep slots unique */
        for (int64_t j = 0; j < i; j++)
            if (slots[i] >= 0 && slots[i] == slots[j]) slots[i] = -1;
    kv_append_both(&kv, in, T2, slots, 1, what);
    kv_compare(&kv, what);
    /* 3: copy_blocks */
    if (num_blocks >= 4) {
        int32_t pairs[6] = {0, 2, 1, 3, 0, (int32_t)num_blocks - 1};
        int n = num_blocks > 4 ? 3 : 2;
        mkref_kv_copy_blocks(&kv.ref, pairs, n);
        int64_t pshape[2] = {n, 2};
        mk_tensor tp = mkt_upload_i32(ctx, 2, pshape, pairs);
        mk_status s = mk_kv_cache_copy_blocks(ctx, kv.dev, &tp);
        MKT_CHECK(s == MK_OK, "%s: copy_blocks: %s", what, mk_last_error());
        if (s == MK_OK) ran(MK_OP_KV_COPY_BLOCKS, copy_variant);
        mkt_free(&tp);
        kv_compare(&kv, what);
    }
    ran(MK_OP_KV_APPEND, append_variant);
    free(slots);
    kv_pair_free(&kv);
}

static void test_kv(void) {
    const char *append[8], *copy[8];
    int na = opencl_variants(MK_OP_KV_APPEND, append, 8), nc = opencl_variants(MK_OP_KV_COPY_BLOCKS, copy, 8);
    static const mk_dtype caches[] = {MK_F32, MK_F16, MK_BF16, MK_I8, MK_FP8_E4M3};
    static const int geo[][4] = {{16, 4, 128, 6}, {1, 1, 64, 5}, {32, 2, 80, 4}, {16, 8, 96, 4}, {16, 1, 256, 5},
                                 {3, 3, 7, 4}};
    /* MEDKERN_TEST_SMALL: geometries 1, 3 and 5 (block sizes 1, 16 and 3), each cache dtype
       with each of them; bf16 cache from f16 input keeps {16, 8, 96, 4} */
    static const int small_geo[] = {1, 3, 5};
    for (int a = 0; a < na; a++)
        for (int c = 0; c < nc; c++) {
            MKT_OK(mk_set_kernel(ctx, MK_OP_KV_APPEND, append[a]));
            MKT_OK(mk_set_kernel(ctx, MK_OP_KV_COPY_BLOCKS, copy[c]));
            for (int ci = 0; ci < 5; ci++)
                for (int ti = 0; ti < 3; ti++) {
                    const int *g = geo[mkt_small() ? small_geo[(ci + ti) % 6 / 2] : (ci + ti) % 6];
                    check_kv(append[a], copy[c], caches[ci], float_types[ti], g[0], g[1], g[2], g[3]);
                }
            MKT_OK(mk_set_kernel(ctx, MK_OP_KV_APPEND, NULL));
            MKT_OK(mk_set_kernel(ctx, MK_OP_KV_COPY_BLOCKS, NULL));
        }
}

/* ------------------------------------------------------------ determinism */

static void read_bits(const mk_tensor *t, uint8_t *out) {
    MKT_OK(mk_buffer_read(t->buf, t->offset, out, mkt_numel(t) * mk_dtype_size(t->dtype)));
}

static void test_determinism(void) {
    const mk_dtype t = MK_F32;
    int64_t M = 37, N = 96, K = 1000, rows = 9, n = 4096;
    if (mkt_small()) M = 33, N = 64, K = 96, rows = 7, n = 1000; /* MEDKERN_TEST_SMALL */
    float *x = mkt_random(t, (size_t)(M * K), 1.0f, 8.0f), *w = mkt_random(t, (size_t)(N * K), 0.03f, 1.0f);
    float *nx = mkt_random(t, (size_t)(rows * n), 2.0f, 8.0f), *nw = mkt_random(t, (size_t)n, 1.0f, 1.0f);
    int64_t xs[2] = {M, K}, ws[2] = {N, K}, ys[2] = {M, N}, ns[2] = {rows, n}, nws[1] = {n};
    mk_tensor tx = mkt_upload(ctx, t, 2, xs, x), tw = mkt_upload(ctx, t, 2, ws, w);
    mk_tensor tnx = mkt_upload(ctx, t, 2, ns, nx), tnw = mkt_upload(ctx, t, 1, nws, nw);
    mk_tensor ty = mkt_output(ctx, t, 2, ys), tny = mkt_output(ctx, t, 2, ns);
    size_t yb = (size_t)(M * N) * 4, nb = (size_t)(rows * n) * 4;
    uint8_t *a = mkt_alloc(yb + nb), *b = mkt_alloc(yb + nb);
    memset(a, 0, yb + nb), memset(b, 0, yb + nb);
    const char *gemms[8];
    int ng = opencl_variants(MK_OP_GEMM, gemms, 8);
    for (int g = 0; g < ng; g++) {
        MKT_OK(mk_set_kernel(ctx, MK_OP_GEMM, gemms[g]));
        mk_tensor tx1 = tx, ty1 = ty;
        if (strstr(gemms[g], "gemv")) tx1.shape[0] = ty1.shape[0] = 1; /* a batch gemv takes */
        for (int run = 0; run < 2; run++) {
            MKT_OK(mk_gemm(ctx, &tx1, &tw, NULL, &ty1));
            MKT_OK(mk_rmsnorm(ctx, &tnx, &tnw, 1e-6f, 0, &tny));
            read_bits(&ty1, run ? b : a);
            read_bits(&tny, (run ? b : a) + yb);
        }
        MKT_CHECK(memcmp(a, b, yb + nb) == 0, "gemm %s / rmsnorm: two runs differ in their bits on %s",
                  gemms[g], dev_name);
    }
    MKT_OK(mk_set_kernel(ctx, MK_OP_GEMM, NULL));
    mkt_free(&tx), mkt_free(&tw), mkt_free(&tnx), mkt_free(&tnw), mkt_free(&ty), mkt_free(&tny);
    free(x), free(w), free(nx), free(nw), free(a), free(b);
}

/* ------------------------------------------------------------ build failures, caches, tuning, events */

/* A build with a broken option fails with MK_ERR_DEVICE and the build log; without it the
   same op works again (the failure is not cached). Uses a fresh context. */
static void test_build_failure(const char *id) {
    mk_context *c = NULL;
    MKT_OK(mk_context_create(id, &c));
    if (!c) return;
    mk_context *saved = ctx;
    ctx = c;
    int64_t shape[2] = {3, 64};
    float *x = mkt_random(MK_F32, 192, 1.0f, 1.0f);
    mk_tensor ta = mkt_upload(ctx, MK_F32, 2, shape, x), to = mkt_output(ctx, MK_F32, 2, shape);
    setenv("MEDKERN_OCL_EXTRA_OPTIONS", "-DT_IN=not_a_dtype", 1);
    MKT_FAILS(MK_ERR_DEVICE, "build log", mk_add(ctx, &ta, &ta, &to));
    const char *msg = mk_last_error();
    MKT_CHECK(strstr(msg, "elementwise.cl") && strstr(msg, "not_a_dtype"),
              "the build failure message names neither the file nor the error: %s", msg);
    MKT_CHECK(strlen(msg) < 1024, "the message is not truncated");
    unsetenv("MEDKERN_OCL_EXTRA_OPTIONS");
    MKT_OK(mk_add(ctx, &ta, &ta, &to));
    float out[192];
    mkt_download(&to, out);
    MKT_CHECK(out[5] == 2.0f * x[5], "add after a failed build: %g != %g", out[5], 2.0f * x[5]);
    mkt_free(&ta), mkt_free(&to);
    free(x);
    mk_context_destroy(c);
    ctx = saved;
}

/* Overwrites every cached binary with garbage (or truncates it); a new context must
   rebuild from source and give the same results. Returns the number of entries. */
static int corrupt_cache(const char *dir) {
    char path[1200];
    snprintf(path, sizeof path, "%s/opencl", dir);
    DIR *d = opendir(path);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len < 4 || strcmp(e->d_name + len - 4, ".bin") != 0) continue;
        snprintf(path, sizeof path, "%s/opencl/%s", dir, e->d_name);
        FILE *f = fopen(path, n % 2 ? "wb" : "r+b");
        if (!f) continue;
        if (n % 2 == 0) fseek(f, 40, SEEK_SET); /* keep the header, break the payload */
        fputs("this is not a program binary", f);
        fclose(f);
        n++;
    }
    closedir(d);
    return n;
}

static void test_disk_cache_and_tuning(const char *id, const char *cache_dir) {
    int entries = corrupt_cache(cache_dir);
    MKT_CHECK(entries > 0, "no program binaries were cached under %s/opencl", cache_dir);
    char path[1200];
    mk_context *saved = ctx;
    for (int round = 0; round < 3; round++) {
        /* round 0: corrupt cache, no tuning file; 1: a valid tuning file with small
           tiles; 2: a malformed tuning file (ignored) */
        snprintf(path, sizeof path, "%s/tuning-test.json", cache_dir);
        if (round > 0) {
            FILE *f = fopen(path, "w");
            if (!f) break;
            if (round == 1)
                fprintf(f, "{\"device\": \"%s\", \"driver\": \"any\", \"params\": {\"gemm\": {\"tile_m\": 16, "
                           "\"tile_n\": 8, \"tile_k\": 4, \"wpt_m\": 2, \"wpt_n\": 1, \"gemv_local\": 32}, "
                           "\"norm\": {\"local\": 16}}}\n", dev_name);
            else
                fprintf(f, "{\"device\": \"%s\", \"params\": {\"gemm\": {\"tile_m\": \n", dev_name);
            fclose(f);
            setenv("MEDKERN_TUNING_FILE", path, 1);
        }
        MKT_OK(mk_context_create(id, &ctx));
        if (!ctx) break;
        MKT_OK(mk_set_kernel(ctx, MK_OP_GEMM, "opencl.tiled"));
        check_gemm("opencl.tiled", MK_BF16, 33, 80, 96, 1, 3);
        check_gemm("opencl.tiled", MK_F32, 7, 13, 200, 0, 0);
        MKT_OK(mk_set_kernel(ctx, MK_OP_GEMM, "opencl.gemv"));
        check_gemm("opencl.gemv", MK_F16, 2, 96, 1000, 1, 0);
        check_norm(MK_OP_RMSNORM, "opencl.wg_reduce", MK_F32, 5, 1000, 0, 1, 0);
        mk_context_destroy(ctx);
        ctx = saved;
    }
    unsetenv("MEDKERN_TUNING_FILE");
}

static void test_events(void) {
    mk_event *a = NULL, *b = NULL;
    MKT_OK(mk_event_create(ctx, &a));
    MKT_OK(mk_event_create(ctx, &b));
    const int64_t M = mkt_small() ? 33 : 64, N = mkt_small() ? 64 : 256, K = mkt_small() ? 96 : 256;
    int64_t xs[2] = {M, K}, ws[2] = {N, K}, ys[2] = {M, N};
    float *x = mkt_random(MK_F32, (size_t)(M * K), 1.0f, 1.0f);
    float *w = mkt_random(MK_F32, (size_t)(N * K), 0.06f, 1.0f);
    mk_tensor tx = mkt_upload(ctx, MK_F32, 2, xs, x), tw = mkt_upload(ctx, MK_F32, 2, ws, w);
    mk_tensor ty = mkt_output(ctx, MK_F32, 2, ys);
    MKT_OK(mk_gemm(ctx, &tx, &tw, NULL, &ty)); /* builds the program outside the timing */
    MKT_OK(mk_event_record(a));
    for (int i = 0; i < 3; i++) MKT_OK(mk_gemm(ctx, &tx, &tw, NULL, &ty));
    MKT_OK(mk_event_record(b));
    float ms = -1.0f;
    MKT_OK(mk_event_elapsed_ms(a, b, &ms));
    MKT_CHECK(ms > 0.0f && ms < 60000.0f, "3 gemms took %g ms by the events", ms);
    MKT_OK(mk_synchronize(ctx));
    mkt_free(&tx), mkt_free(&tw), mkt_free(&ty);
    free(x), free(w);
    mk_event_destroy(a);
    mk_event_destroy(b);
}

/* Buffer fill and device-side copies (between buffers and within one) are exact. */
static void test_copies(void) {
    enum { N = 4099 };
    uint8_t host[N], back[N];
    for (int i = 0; i < N; i++) host[i] = (uint8_t)(i * 7 + 3);
    mk_buffer *p = mkt_buffer(ctx, N), *q = mkt_buffer(ctx, 2 * N);
    MKT_OK(mk_buffer_write(p, 0, host, N));
    MKT_OK(mk_buffer_fill(q, 0, 0x5A, 2 * N));
    MKT_OK(mk_buffer_copy(q, 3, p, 0, N));     /* odd offsets */
    MKT_OK(mk_buffer_copy(q, N + 5, q, 3, N - 10)); /* within one buffer, disjoint */
    uint8_t *all = mkt_alloc(2 * N);
    MKT_OK(mk_buffer_read(q, 0, all, 2 * N));
    size_t bad = 0;
    for (int i = 0; i < 2 * N; i++) {
        uint8_t want = i < 3 ? 0x5A : i < N + 3 ? host[i - 3] : i < N + 5 ? 0x5A : i < 2 * N - 5 ? host[i - N - 5] : 0x5A;
        bad += all[i] != want;
    }
    MKT_CHECK(bad == 0, "buffer fill/copy: %zu bytes wrong on %s", bad, dev_name);
    MKT_OK(mk_buffer_read(p, 0, back, N));
    MKT_CHECK(memcmp(back, host, N) == 0, "buffer write/read round trip on %s", dev_name);
    mkt_guard_ok(p, N, "copy source");
    mkt_guard_ok(q, 2 * N, "copy destination");
    free(all);
    mk_buffer_free(p);
    mk_buffer_free(q);
}

/* Removes dir and what the tests put there (files, and files one folder down). */
static void remove_tree(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char path[1200];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (unlink(path) != 0) {
            remove_tree(path);
            rmdir(path);
        }
    }
    closedir(d);
    rmdir(dir);
}

int main(int argc, char **argv) {
    mkt_init(argc, argv, "test_opencl_ops");
    /* a private program cache, so the run neither depends on nor pollutes the user's */
    char cache[] = "/tmp/medkern-ocl-test-XXXXXX";
    if (!mkdtemp(cache)) {
        perror("mkdtemp");
        return 2;
    }
    setenv("MEDKERN_CACHE_DIR", cache, 1);
    unsetenv("MEDKERN_TUNING_FILE");
    unsetenv("MEDKERN_OCL_EXTRA_OPTIONS");
    unsetenv("MEDKERN_KERNELS");
    char ids[16][32];
    int n = mkt_devices("opencl", ids, 16);
    if (n == 0) {
        remove_tree(cache);
        mkt_skip("no OpenCL device (no platform, ICD or device)");
    }
    for (int i = 0; i < n; i++) {
        mk_device_info info;
        int index = -1;
        MKT_OK(mk_device_find(ids[i], &index));
        MKT_OK(mk_device_get_info(index, &info));
        printf("[test_opencl_ops] %s: %s (%s, driver %s, OpenCL C %d.%d)\n", ids[i], info.name, info.vendor,
               info.driver, info.capability_major, info.capability_minor);
        fflush(stdout);
        dev_name = info.name;
        MKT_OK(mk_context_create(ids[i], &ctx));
        if (!ctx) continue;
        test_binary();
        test_store_rounding();
        test_norms();
        test_rope();
        test_gemm();
        test_kv();
        print_margins();
        test_determinism();
        test_events();
        test_copies();
        test_build_failure(ids[i]);
        test_disk_cache_and_tuning(ids[i], cache);
        mk_context_destroy(ctx);
        ctx = NULL;
    }
    remove_tree(cache);
    return mkt_finish();
}
