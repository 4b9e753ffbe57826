/*
 * Conformance cases of the dense ops: gemm (with and without bias, strided x and w, GEMV
 * sizes M <= 4 and batches), rmsnorm (w or 1 + w) and layernorm (with and without b, a
 * non-zero mean), both also in place (y is x). F32/F16/BF16, odd sizes.
 */
#include <math.h>

#include "conform_internal.h"

static const mk_dtype kTypes[3] = {MK_F32, MK_F16, MK_BF16};

/* ------------------------------------------------------------ gemm */

typedef struct {
    mk_tensor x, w, bias, y;
    int with_bias;
} gemm_call;

static mk_status launch_gemm(mkcf_case *c, void *arg) {
    gemm_call *k = arg;
    return mk_gemm(c->ctx, &k->x, &k->w, k->with_bias ? &k->bias : NULL, &k->y);
}

/* quick: M = 1 in each dtype (variants for a single row), two more GEMV sizes (M <= 4),
   three batches; full: half GEMV sizes */
static int gemm_count(mkcf_mode mode) { return mode == MKCF_FULL ? 24 : 8; }

static void run_gemm(mkcf_case *c) {
    static const int small_m[] = {1, 2, 3, 4}, batch_q[] = {7, 33, 64}, batch_f[] = {5, 7, 33, 64, 100, 1000};
    static const int n_q[] = {1, 13, 64, 80, 96, 128, 250}, k_q[] = {7, 64, 80, 96, 128, 256, 1000};
    static const int n_f[] = {1, 13, 64, 80, 96, 128, 250, 1000}, k_f[] = {1, 7, 64, 80, 96, 128, 256, 1000, 4096};
    const int full = c->mode == MKCF_FULL, i = c->index;
    const mk_dtype t = kTypes[i % 3];
    int gemv = full ? (i % 6) < 3 : i < 5;
    int64_t M = gemv ? (!full && i < 3 ? 1 : MKCF_PICK(c, small_m)) : full ? MKCF_PICK(c, batch_f) : MKCF_PICK(c, batch_q);
    int64_t N = full ? MKCF_PICK(c, n_f) : MKCF_PICK(c, n_q), K = full ? MKCF_PICK(c, k_f) : MKCF_PICK(c, k_q);
    while (M * N * K > 40000000) K = K > 64 ? K / 4 : K, N = N > 64 ? N / 2 : N; /* host reference time */
    gemm_call k = {{0}, {0}, {0}, {0}, (int)mkref_rng_range(&c->rng, 0, 1)};
    int64_t pad = (i % 2) ? mkref_rng_range(&c->rng, 1, 9) : 0;
    float *x = mkcf_random(c, t, (size_t)(M * K), 1.0f, 8.0f);
    float *w = mkcf_random(c, t, (size_t)(N * K), (float)(1.0 / sqrt((double)K)), 1.0f);
    float *b = mkcf_random(c, t, (size_t)N, 1.0f, 1.0f);
    float *ref = mkcf_host(c, (size_t)(M * N) * sizeof(float)), *out = mkcf_host(c, (size_t)(M * N) * sizeof(float));
    mkref_gemm(x, w, k.with_bias ? b : NULL, M, N, K, ref);
    mkcf_round(t, ref, (size_t)(M * N));
    mkcf_describe(c, "gemm %s M=%lld N=%lld K=%lld bias=%d row pad=%lld", mk_dtype_name(t), (long long)M,
                 (long long)N, (long long)K, k.with_bias, (long long)pad);
    int64_t xs[2] = {M, K}, xst[2] = {K + pad, 1}, ws[2] = {N, K}, wst[2] = {K + 2 * pad, 1}, bs[1] = {N};
    int64_t ys[2] = {M, N};
    k.x = mkcf_upload_view(c, "x", t, 2, xs, xst, x);
    k.w = mkcf_upload_view(c, "w", t, 2, ws, wst, w);
    k.bias = mkcf_upload(c, "bias", t, 1, bs, b);
    k.y = mkcf_output(c, "y", t, 2, ys);
    if (!mkcf_exec(c, launch_gemm, &k)) return;
    mkcf_read(c, &k.y, out);
    mkcf_check(c, "y", out, ref, (size_t)(M * N), mkcf_tol(t));
}

const mkcf_suite mkcf_suite_gemm = {MK_OP_GEMM, 0, gemm_count, run_gemm};

/* ------------------------------------------------------------ rmsnorm, layernorm */

typedef struct {
    mk_op op;
    mk_tensor x, w, b, y;
    float eps;
    int flag; /* rmsnorm: plus_one; layernorm: with b */
} norm_call;

static mk_status launch_norm(mkcf_case *c, void *arg) {
    norm_call *k = arg;
    if (k->op == MK_OP_RMSNORM) return mk_rmsnorm(c->ctx, &k->x, &k->w, k->eps, k->flag, &k->y);
    return mk_layernorm(c->ctx, &k->x, &k->w, k->flag ? &k->b : NULL, k->eps, &k->y);
}

/* quick: one per dtype and one in place; full: 12 + 4 in place */
static int norm_count(mkcf_mode mode) { return mode == MKCF_FULL ? 16 : 4; }

static void run_norm(mkcf_case *c, mk_op op) {
    static const int rows_q[] = {1, 3, 7, 33}, rows_f[] = {1, 2, 7, 33, 100, 1000};
    static const int n_q[] = {1, 13, 64, 80, 96, 128, 256, 1000, 4096};
    static const int n_f[] = {1, 7, 13, 64, 80, 96, 128, 256, 1000, 4096, 8192};
    const int full = c->mode == MKCF_FULL, i = c->index;
    const int in_place = full ? i % 4 == 3 : i == 3;
    const mk_dtype t = kTypes[in_place ? (i / 4) % 3 : i % 3];
    int64_t rows = full ? MKCF_PICK(c, rows_f) : MKCF_PICK(c, rows_q), n = full ? MKCF_PICK(c, n_f) : MKCF_PICK(c, n_q);
    if (rows * n > 400000) rows = 400000 / n;
    int64_t pad = !in_place && (i % 2) ? mkref_rng_range(&c->rng, 1, 64) : 0;
    norm_call k = {op, {0}, {0}, {0}, {0}, op == MK_OP_RMSNORM ? 1e-6f : 1e-5f, (int)mkref_rng_range(&c->rng, 0, 1)};
    size_t total = (size_t)(rows * n);
    float *x = mkcf_random(c, t, total, 2.0f, 8.0f);
    if (op == MK_OP_LAYERNORM) { /* a non-zero mean */
        for (size_t j = 0; j < total; j++) x[j] += 3.0f;
        mkcf_round(t, x, total);
    }
    float *w = mkcf_random(c, t, (size_t)n, op == MK_OP_RMSNORM && k.flag ? 0.2f : 1.0f, 1.0f);
    float *b = mkcf_random(c, t, (size_t)n, 0.5f, 1.0f);
    float *ref = mkcf_host(c, total * sizeof(float)), *out = mkcf_host(c, total * sizeof(float));
    if (op == MK_OP_RMSNORM) mkref_rmsnorm(x, w, rows, n, k.eps, k.flag, ref);
    else mkref_layernorm(x, w, k.flag ? b : NULL, rows, n, k.eps, ref);
    mkcf_round(t, ref, total);
    mkcf_describe(c, "%s %s rows=%lld n=%lld %s=%d row pad=%lld%s", mk_op_name(op), mk_dtype_name(t),
                 (long long)rows, (long long)n, op == MK_OP_RMSNORM ? "plus_one" : "bias", k.flag, (long long)pad,
                 in_place ? " in place (y = x)" : "");
    int64_t xs[2] = {rows, n}, xst[2] = {n + pad, 1}, ws[1] = {n};
    k.x = mkcf_upload_view(c, "x", t, 2, xs, xst, x);
    k.w = mkcf_upload(c, "w", t, 1, ws, w);
    k.b = mkcf_upload(c, "b", t, 1, ws, b);
    if (in_place) {
        k.y = k.x;
        mkcf_mark_output(mkcf_buf_of(c, &k.y), &k.y, 0);
    } else {
        k.y = mkcf_output(c, "y", t, 2, xs);
    }
    if (!mkcf_exec(c, launch_norm, &k)) return;
    mkcf_read(c, &k.y, out);
    mkcf_check(c, "y", out, ref, total, mkcf_tol(t));
}

static void run_rmsnorm(mkcf_case *c) { run_norm(c, MK_OP_RMSNORM); }
static void run_layernorm(mkcf_case *c) { run_norm(c, MK_OP_LAYERNORM); }

const mkcf_suite mkcf_suite_rmsnorm = {MK_OP_RMSNORM, 0, norm_count, run_rmsnorm};
const mkcf_suite mkcf_suite_layernorm = {MK_OP_LAYERNORM, 0, norm_count, run_layernorm};
