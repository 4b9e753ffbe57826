/*
 * The host-threads example backend (threads:0, runtime/backends/threads; docs/porting.md).
 *
 * - Every implemented op (add, silu_mul, gelu_mul erf/tanh, rmsnorm with and without
 *   Gemma's 1+w, gemm with and without bias through both variants) against the scalar
 *   reference, in f32, f16 and bf16, on odd shapes, inputs with row strides, in-place
 *   calls, poisoned outputs with guard bytes; inputs must be left as they were.
 * - The variant the dispatcher picks (mk_last_kernel) and, for gemm, the same bits from
 *   both variants.
 * - Determinism: two runs on one context, and runs with 1 and 3 threads, give the same
 *   bits (static partitions, a fixed summation order per element).
 * - Unimplemented ops fail with MK_ERR_UNSUPPORTED and "the threads backend implements no
 *   <op> variant" (mk_last_error, mk_explain), writing nothing; weights are refused.
 * - Bad input is still rejected by validation (MK_ERR_INVALID_ARGUMENT naming it).
 * - MEDKERN_THREADS: the count shows in the device info; malformed values fail context
 *   creation. "auto" never picks threads:0.
 * - Contexts created and destroyed in a loop (each with its own pool), two contexts alive
 *   at once, two application threads each on its own context (the TSan stage runs this),
 *   events.
 * Skips (77) when the backend is not built (-DMEDKERN_THREADS_BACKEND=OFF).
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "mktest.h"

static const mk_dtype DT[3] = {MK_F32, MK_F16, MK_BF16};

/* ------------------------------------------------------------ helpers */

static mk_context *new_ctx(const char *threads) {
    if (threads) setenv("MEDKERN_THREADS", threads, 1);
    else unsetenv("MEDKERN_THREADS");
    mk_context *c = NULL;
    mk_status s = mk_context_create("threads:0", &c);
    if (s != MK_OK) {
        fprintf(stderr, "mk_context_create(threads:0) with MEDKERN_THREADS=%s: %s\n",
                threads ? threads : "(unset)", mk_last_error());
        exit(1);
    }
    return c;
}

/* Every output of a run, in order, to compare runs bit for bit. */
#define LOG_MAX 256
typedef struct {
    float *v[LOG_MAX];
    size_t n[LOG_MAX];
    char what[LOG_MAX][96];
    int count;
} run_log;

static void log_add(run_log *lg, const char *what, const float *v, size_t n) {
    if (!lg || lg->count == LOG_MAX) return;
    lg->v[lg->count] = mkt_alloc(n * sizeof(float));
    memcpy(lg->v[lg->count], v, n * sizeof(float));
    lg->n[lg->count] = n;
    snprintf(lg->what[lg->count], sizeof lg->what[0], "%s", what);
    lg->count++;
}

static void log_free(run_log *lg) {
    for (int i = 0; i < lg->count; i++) free(lg->v[i]);
    lg->count = 0;
}

static void log_same(const run_log *a, const run_log *b, const char *label) {
    MKT_CHECK(a->count == b->count && a->count > 0, "%s: %d vs %d outputs", label, a->count, b->count);
    for (int i = 0; i < a->count && i < b->count; i++) {
        mkt_checks++;
        if (a->n[i] != b->n[i] || memcmp(a->v[i], b->v[i], a->n[i] * sizeof(float)) != 0)
            mkt_fail_at(__FILE__, __LINE__, "%s: %s differs between the runs", label, a->what[i]);
    }
}

/* A guarded device matrix of `rows` rows of `n` random values (rounded through t), each
   row followed by `pad` elements of other values: stride n + pad. */
typedef struct {
    mk_dtype t;
    int64_t rows, n, stride;
    float *f;     /* the rows x n values          */
    uint8_t *raw; /* the device bytes, padding too */
    size_t bytes;
    mk_buffer *buf;
} matrix;

static matrix mat_new(mk_context *ctx, mk_dtype t, int64_t rows, int64_t n, int64_t pad, float std, uint64_t salt) {
    matrix m = {t, rows, n, n + pad, mkt_alloc((size_t)(rows * n) * sizeof(float)), NULL, 0, NULL};
    size_t total = (size_t)(rows * m.stride);
    float *all = mkt_alloc(total * sizeof(float));
    mkref_rng r;
    mkt_rng(&r, salt);
    mkt_fill_normal(&r, all, total, std, 8.0f);
    mkt_round(t, all, total);
    for (int64_t i = 0; i < rows; i++) memcpy(m.f + i * n, all + i * m.stride, (size_t)n * sizeof(float));
    m.bytes = total * mk_dtype_size(t);
    m.raw = mkt_alloc(m.bytes);
    for (size_t i = 0; i < total; i++) mkref_store(t, m.raw, (int64_t)i, all[i]);
    free(all);
    m.buf = mkt_buffer(ctx, m.bytes);
    mk_buffer_write(m.buf, 0, m.raw, m.bytes);
    return m;
}

/* The matrix as a tensor of ndim dims whose last is n and the others multiply to rows
   (outer = the shape's dims before the last); row stride n + pad. */
static mk_tensor mat_view(const matrix *m, int ndim, const int64_t *shape) {
    mk_tensor t = mk_tensor_make(m->buf, 0, m->t, ndim, shape);
    if (ndim >= 2) {
        t.stride[ndim - 2] = m->stride;
        for (int i = ndim - 3; i >= 0; i--) t.stride[i] = t.stride[i + 1] * shape[i + 1];
    }
    return t;
}

/* The device bytes still equal raw (the op did not write its input) and the guard holds. */
static void mat_intact(const matrix *m, const char *what) {
    uint8_t *got = mkt_alloc(m->bytes);
    mkt_checks++;
    if (mk_buffer_read(m->buf, 0, got, m->bytes) != MK_OK || memcmp(got, m->raw, m->bytes) != 0)
        mkt_fail_at(__FILE__, __LINE__, "%s: an input changed", what);
    free(got);
    mkt_guard_ok(m->buf, m->bytes, what);
}

static void mat_free(matrix *m) {
    free(m->f);
    free(m->raw);
    mk_buffer_free(m->buf);
}

/* The buffer still holds only poison (0xFF): nothing was written. */
static void still_poisoned(const mk_tensor *t, const char *what) {
    size_t bytes = mkt_numel(t) * mk_dtype_size(t->dtype);
    uint8_t *got = mkt_alloc(bytes);
    mkt_checks++;
    if (mk_buffer_read(t->buf, t->offset, got, bytes) != MK_OK) {
        mkt_fail_at(__FILE__, __LINE__, "%s: read failed: %s", what, mk_last_error());
    } else {
        for (size_t i = 0; i < bytes; i++)
            if (got[i] != 0xFF) {
                mkt_fail_at(__FILE__, __LINE__, "%s: byte %zu was written by a failed call", what, i);
                break;
            }
    }
    free(got);
}

static void expect_kernel(mk_context *ctx, mk_op op, const char *want, const char *what) {
    const char *got = mk_last_kernel(ctx, op);
    MKT_CHECK(got && strcmp(got, want) == 0, "%s: ran %s, want %s", what, got ? got : "(none)", want);
}

static int threads_of(mk_context *ctx) {
    mk_device_info d;
    mk_context_get_device(ctx, &d);
    return d.compute_units;
}

/* ------------------------------------------------------------ implemented ops */

/* add / silu_mul / gelu_mul on shape (ndim dims, last = n), inputs with row padding;
   alias: out is the very same view as a (pad must be 0). */
static void binary_case(mk_context *ctx, run_log *lg, mk_op op, int approximate, mk_dtype t, int ndim,
                        const int64_t *shape, int64_t pad, int alias, uint64_t salt) {
    int64_t n = shape[ndim - 1], rows = 1;
    for (int i = 0; i < ndim - 1; i++) rows *= shape[i];
    char what[96];
    snprintf(what, sizeof what, "%s%s %s rows %lld n %lld pad %lld%s", mk_op_name(op),
             op == MK_OP_GELU_MUL ? (approximate ? "(tanh)" : "(erf)") : "", mk_dtype_name(t),
             (long long)rows, (long long)n, (long long)pad, alias ? " in place" : "");
    matrix a = mat_new(ctx, t, rows, n, pad, 1.5f, salt * 2), b = mat_new(ctx, t, rows, n, pad, 1.0f, salt * 2 + 1);
    mk_tensor ta = mat_view(&a, ndim, shape), tb = mat_view(&b, ndim, shape);
    mk_tensor out = alias ? ta : mkt_output(ctx, t, ndim, shape);
    size_t numel = (size_t)(rows * n);
    float *ref = mkt_alloc(numel * sizeof(float)), *got = mkt_alloc(numel * sizeof(float));
    mk_status s;
    if (op == MK_OP_ADD) {
        s = mk_add(ctx, &ta, &tb, &out);
        mkref_add(a.f, b.f, (int64_t)numel, ref);
    } else if (op == MK_OP_SILU_MUL) {
        s = mk_silu_mul(ctx, &ta, &tb, &out);
        mkref_silu_mul(a.f, b.f, (int64_t)numel, ref);
    } else {
        s = mk_gelu_mul(ctx, &ta, &tb, approximate, &out);
        mkref_gelu_mul(a.f, b.f, (int64_t)numel, approximate, ref);
    }
    MKT_CHECK(s == MK_OK, "%s: %s: %s", what, mk_status_string(s), mk_last_error());
    mkt_download(&out, got); /* checks the guard after out (a's guard when in place) */
    mkt_compare(what, got, ref, numel, mkt_tol(t), 0);
    expect_kernel(ctx, op, "threads.rows", what);
    if (!alias) mat_intact(&a, what);
    mat_intact(&b, what);
    log_add(lg, what, got, numel);
    free(ref);
    free(got);
    if (!alias) mkt_free(&out);
    mat_free(&a);
    mat_free(&b);
}

static void rmsnorm_case(mk_context *ctx, run_log *lg, mk_dtype t, int64_t rows, int64_t n, int64_t pad,
                         int plus_one, int in_place, uint64_t salt) {
    char what[96];
    snprintf(what, sizeof what, "rmsnorm%s %s rows %lld n %lld pad %lld%s", plus_one ? "(1+w)" : "",
             mk_dtype_name(t), (long long)rows, (long long)n, (long long)pad, in_place ? " in place" : "");
    const int64_t shape[2] = {rows, n};
    matrix x = mat_new(ctx, t, rows, n, pad, 2.0f, salt * 2), w = mat_new(ctx, t, 1, n, 0, 0.5f, salt * 2 + 1);
    mk_tensor tx = mat_view(&x, 2, shape), tw = mk_tensor_make(w.buf, 0, t, 1, &n);
    mk_tensor y = in_place ? tx : mkt_output(ctx, t, 2, shape);
    size_t numel = (size_t)(rows * n);
    float *ref = mkt_alloc(numel * sizeof(float)), *got = mkt_alloc(numel * sizeof(float));
    const float eps = 1e-5f;
    MKT_OK(mk_rmsnorm(ctx, &tx, &tw, eps, plus_one, &y));
    mkref_rmsnorm(x.f, w.f, rows, n, eps, plus_one, ref);
    mkt_download(&y, got);
    mkt_compare(what, got, ref, numel, mkt_tol(t), 0);
    expect_kernel(ctx, MK_OP_RMSNORM, "threads.rows", what);
    if (!in_place) mat_intact(&x, what);
    mat_intact(&w, what);
    log_add(lg, what, got, numel);
    free(ref);
    free(got);
    if (!in_place) mkt_free(&y);
    mat_free(&x);
    mat_free(&w);
}

/* gemm M x N x K; x and w with row padding; force: a variant name or NULL (automatic).
   Returns the output (caller frees) so variants can be compared. */
static float *gemm_case(mk_context *ctx, run_log *lg, mk_dtype t, int64_t M, int64_t N, int64_t K, int64_t xpad,
                        int64_t wpad, int with_bias, const char *force, uint64_t salt) {
    char what[96];
    snprintf(what, sizeof what, "gemm %s %lldx%lldx%lld pad %lld/%lld%s%s%s", mk_dtype_name(t), (long long)M,
             (long long)N, (long long)K, (long long)xpad, (long long)wpad, with_bias ? " bias" : "",
             force ? " forced " : "", force ? force : "");
    const int64_t xs[2] = {M, K}, ws[2] = {N, K}, ys[2] = {M, N};
    matrix x = mat_new(ctx, t, M, K, xpad, 1.0f, salt * 3), w = mat_new(ctx, t, N, K, wpad, 1.0f, salt * 3 + 1);
    matrix b = mat_new(ctx, t, 1, N, 0, 1.0f, salt * 3 + 2);
    mk_tensor tx = mat_view(&x, 2, xs), tw = mat_view(&w, 2, ws), tb = mk_tensor_make(b.buf, 0, t, 1, &N);
    mk_tensor y = mkt_output(ctx, t, 2, ys);
    float *ref = mkt_alloc((size_t)(M * N) * sizeof(float)), *got = mkt_alloc((size_t)(M * N) * sizeof(float));
    MKT_OK(mk_set_kernel(ctx, MK_OP_GEMM, force));
    MKT_OK(mk_gemm(ctx, &tx, &tw, with_bias ? &tb : NULL, &y));
    MKT_OK(mk_set_kernel(ctx, MK_OP_GEMM, NULL));
    mkref_gemm(x.f, w.f, with_bias ? b.f : NULL, M, N, K, ref);
    mkt_download(&y, got);
    mkt_compare(what, got, ref, (size_t)(M * N), mkt_tol(t), 0);
    int threads = threads_of(ctx);
    const char *want = force ? force : threads > 1 && M < threads ? "threads.colblock" : "threads.rowblock";
    expect_kernel(ctx, MK_OP_GEMM, want, what);
    mat_intact(&x, what);
    mat_intact(&w, what);
    mat_intact(&b, what);
    log_add(lg, what, got, (size_t)(M * N));
    free(ref);
    mkt_free(&y);
    mat_free(&x);
    mat_free(&w);
    mat_free(&b);
    return got;
}

/* Every implemented op in every dtype; the outputs go to lg. */
static void run_suite(mk_context *ctx, run_log *lg) {
    static const int64_t s7x1000[2] = {7, 1000}, s1x5000[2] = {1, 5000}, s33x33[2] = {33, 33},
                         s5x3x333[3] = {5, 3, 333}, s1x1[2] = {1, 1}, s33x65[2] = {33, 65};
    for (int d = 0; d < 3; d++) {
        mk_dtype t = DT[d];
        uint64_t salt = 1000u * (uint64_t)(d + 1);
        binary_case(ctx, lg, MK_OP_ADD, 0, t, 2, s7x1000, 0, 0, salt + 1);
        binary_case(ctx, lg, MK_OP_ADD, 0, t, 3, s5x3x333, 5, 0, salt + 2);
        binary_case(ctx, lg, MK_OP_ADD, 0, t, 2, s1x1, 0, 0, salt + 3);
        binary_case(ctx, lg, MK_OP_ADD, 0, t, 2, s33x33, 0, 1, salt + 4);
        binary_case(ctx, lg, MK_OP_SILU_MUL, 0, t, 2, s7x1000, 3, 0, salt + 5);
        binary_case(ctx, lg, MK_OP_SILU_MUL, 0, t, 2, s1x5000, 0, 0, salt + 6);
        binary_case(ctx, lg, MK_OP_GELU_MUL, 0, t, 2, s7x1000, 0, 0, salt + 7);
        binary_case(ctx, lg, MK_OP_GELU_MUL, 1, t, 2, s33x65, 2, 0, salt + 8);
        binary_case(ctx, lg, MK_OP_GELU_MUL, 1, t, 3, s5x3x333, 0, 1, salt + 9);
        rmsnorm_case(ctx, lg, t, 33, 1001, 0, 0, 0, salt + 10);
        rmsnorm_case(ctx, lg, t, 7, 33, 4, 1, 0, salt + 11);
        rmsnorm_case(ctx, lg, t, 1, 4096, 0, 1, 1, salt + 12);
        rmsnorm_case(ctx, lg, t, 3, 1, 0, 0, 0, salt + 13);
        free(gemm_case(ctx, lg, t, 1, 7, 33, 0, 0, 0, NULL, salt + 14));
        free(gemm_case(ctx, lg, t, 2, 257, 512, 0, 0, 1, NULL, salt + 15));
        free(gemm_case(ctx, lg, t, 33, 65, 1000, 3, 1, 1, NULL, salt + 16));
        free(gemm_case(ctx, lg, t, 7, 33, 80, 0, 2, 0, NULL, salt + 17));
        free(gemm_case(ctx, lg, t, 64, 1, 1, 0, 0, 1, NULL, salt + 18));
    }
}

/* The two gemm variants give the same bits where both apply (M < threads). */
static void gemm_variants_agree(mk_context *ctx) {
    for (int d = 0; d < 3; d++) {
        float *row = gemm_case(ctx, NULL, DT[d], 2, 129, 300, 1, 0, 1, "threads.rowblock", 77 + (uint64_t)d);
        float *col = gemm_case(ctx, NULL, DT[d], 2, 129, 300, 1, 0, 1, "threads.colblock", 77 + (uint64_t)d);
        MKT_CHECK(memcmp(row, col, 2 * 129 * sizeof(float)) == 0, "gemm %s: rowblock and colblock differ",
                  mk_dtype_name(DT[d]));
        free(row);
        free(col);
    }
}

/* ------------------------------------------------------------ the dispatcher's answers */

static void forced_and_explained(mk_context *ctx) {
    int threads = threads_of(ctx);
    const int64_t xs[2] = {33, 16}, ws[2] = {8, 16}, ys[2] = {33, 8};
    matrix x = mat_new(ctx, MK_F32, 33, 16, 0, 1.0f, 5), w = mat_new(ctx, MK_F32, 8, 16, 0, 1.0f, 6);
    mk_tensor tx = mat_view(&x, 2, xs), tw = mat_view(&w, 2, ws), y = mkt_output(ctx, MK_F32, 2, ys);
    /* a forced variant that does not support the call fails it, with its reason */
    MKT_OK(mk_set_kernel(ctx, MK_OP_GEMM, "threads.colblock"));
    MKT_FAILS(MK_ERR_UNSUPPORTED, "forced variant threads.colblock does not support this call: M = 33 >=",
              mk_gemm(ctx, &tx, &tw, NULL, &y));
    MKT_CHECK(strstr(mk_last_error(), "row blocks keep every thread busy") != NULL, "reason: %s", mk_last_error());
    still_poisoned(&y, "gemm with a forced variant that refuses");
    MKT_OK(mk_set_kernel(ctx, MK_OP_GEMM, NULL));
    /* explain with arguments: colblock says no with its reason, rowblock is chosen */
    mk_op_args args = {.op = MK_OP_GEMM};
    args.u.gemm.x = &tx;
    args.u.gemm.w = &tw;
    args.u.gemm.y = &y;
    char text[4096];
    MKT_OK(mk_explain(ctx, MK_OP_GEMM, &args, text, sizeof text));
    char want[96];
    snprintf(want, sizeof want, "M = 33 >= %d threads", threads);
    MKT_CHECK(strstr(text, "threads.colblock") && strstr(text, want) && strstr(text, "chosen: threads.rowblock"),
              "explain gemm M=33:\n%s", text);
    /* another backend's variant cannot be forced here */
    MKT_FAILS(MK_ERR_INVALID_ARGUMENT, "context is on threads", mk_set_kernel(ctx, MK_OP_GEMM, "ref.scalar"));
    mkt_free(&y);
    mat_free(&x);
    mat_free(&w);
}

/* Ops without a threads variant: MK_ERR_UNSUPPORTED with the reason, nothing written. */
static void unsupported_ops(mk_context *ctx) {
    static const mk_op missing[] = {MK_OP_ATTENTION_PREFILL, MK_OP_ATTENTION_DECODE, MK_OP_KV_APPEND,
                                    MK_OP_KV_COPY_BLOCKS, MK_OP_QGEMM, MK_OP_LAYERNORM, MK_OP_ROPE};
    static const mk_op present[] = {MK_OP_GEMM, MK_OP_RMSNORM, MK_OP_SILU_MUL, MK_OP_GELU_MUL, MK_OP_ADD};
    char text[4096], want[96];
    for (size_t i = 0; i < sizeof missing / sizeof missing[0]; i++) {
        MKT_OK(mk_explain(ctx, missing[i], NULL, text, sizeof text));
        snprintf(want, sizeof want, "(the threads backend implements no %s variant)", mk_op_name(missing[i]));
        MKT_CHECK(strstr(text, want) && strstr(text, "chosen: none"), "explain %s:\n%s", mk_op_name(missing[i]), text);
    }
    for (size_t i = 0; i < sizeof present / sizeof present[0]; i++) {
        MKT_OK(mk_explain(ctx, present[i], NULL, text, sizeof text));
        MKT_CHECK(!strstr(text, "implements no") && strstr(text, "chosen: threads."), "explain %s:\n%s",
                  mk_op_name(present[i]), text);
    }

    enum { T = 4, H = 2, D = 8 };
    const int64_t s3[3] = {T, H, D}, s2[2] = {T * H, D}, sd[1] = {D}, st[1] = {T}, sb[1] = {2};
    float *vals = mkt_random(MK_F32, T * H * D, 1.0f, 1.0f);
    mk_tensor q = mkt_upload(ctx, MK_F32, 3, s3, vals), x2 = mkt_upload(ctx, MK_F32, 2, s2, vals);
    mk_tensor w = mkt_upload(ctx, MK_F32, 1, sd, vals);
    const int32_t cu[2] = {0, T}, pos[T] = {0, 1, 2, 3}, slots[T] = {0, 1, 2, 3}, lens[1] = {T}, table[1] = {0};
    mk_tensor tcu = mkt_upload_i32(ctx, 1, sb, cu), tpos = mkt_upload_i32(ctx, 1, st, pos);
    mk_tensor tslots = mkt_upload_i32(ctx, 1, st, slots);
    const int64_t one[1] = {1}, one1[2] = {1, 1}, pair[2] = {1, 2}, qd[3] = {1, H, D};
    mk_tensor tlens = mkt_upload_i32(ctx, 1, one, lens), ttable = mkt_upload_i32(ctx, 2, one1, table);
    const int32_t pairs[2] = {0, 1};
    mk_tensor tpairs = mkt_upload_i32(ctx, 2, pair, pairs);
    mk_tensor out3 = mkt_output(ctx, MK_F32, 3, s3), out2 = mkt_output(ctx, MK_F32, 2, s2);
    mk_tensor qdec = mkt_upload(ctx, MK_F32, 3, qd, vals), outdec = mkt_output(ctx, MK_F32, 3, qd);
    mk_attn_params ap = {0, 1, 0, 0};
    mk_rope_params rp = {MK_ROPE_HALF, 10000.0f, 0, MK_ROPE_SCALING_NONE, 1.0f, 1.0f, 4.0f, 8192};

    MKT_FAILS(MK_ERR_UNSUPPORTED, "the threads backend implements no attention_prefill variant",
              mk_attention_prefill(ctx, &q, &q, &q, &tcu, &tcu, &ap, &out3, NULL));
    still_poisoned(&out3, "attention_prefill");
    MKT_FAILS(MK_ERR_UNSUPPORTED, "the threads backend implements no layernorm variant",
              mk_layernorm(ctx, &x2, &w, NULL, 1e-5f, &out2));
    still_poisoned(&out2, "layernorm");
    uint8_t *before = mkt_alloc(T * H * D * 4), *after = mkt_alloc(T * H * D * 4);
    mk_buffer_read(q.buf, 0, before, T * H * D * 4);
    MKT_FAILS(MK_ERR_UNSUPPORTED, "the threads backend implements no rope variant", mk_rope(ctx, &q, &tpos, &rp));
    mk_buffer_read(q.buf, 0, after, T * H * D * 4);
    MKT_CHECK(memcmp(before, after, T * H * D * 4) == 0, "rope: x changed by a failed call");
    free(before);
    free(after);

    /* the KV cache is plain buffers (works); its ops have no variant */
    mk_kv_cache_desc cd = {2, 4, H, D, MK_F16};
    mk_kv_cache *cache = NULL;
    MKT_OK(mk_kv_cache_create(ctx, &cd, &cache));
    if (cache) {
        MKT_FAILS(MK_ERR_UNSUPPORTED, "the threads backend implements no kv_append variant",
                  mk_kv_cache_append(ctx, cache, &q, &q, &tslots));
        MKT_FAILS(MK_ERR_UNSUPPORTED, "the threads backend implements no kv_copy_blocks variant",
                  mk_kv_cache_copy_blocks(ctx, cache, &tpairs));
        MKT_FAILS(MK_ERR_UNSUPPORTED, "the threads backend implements no attention_decode variant",
                  mk_attention_decode(ctx, &qdec, cache, &ttable, &tlens, &ap, &outdec));
        still_poisoned(&outdec, "attention_decode");
        uint16_t kblk[4 * H * D];
        MKT_OK(mk_kv_cache_read_block(cache, 0, kblk, NULL, NULL, NULL));
        int zero = 1;
        for (size_t i = 0; i < sizeof kblk / sizeof kblk[0]; i++) zero &= kblk[i] == 0;
        MKT_CHECK(zero, "kv cache block 0 is not the zero fill after refused appends");
        mk_kv_cache_destroy(cache);
    }
    /* quantized weights are refused at creation, so no qgemm call can be made */
    mk_qweight_desc qd8 = {MK_QW8, 4, 32, 0, 0};
    mk_qweight_data data;
    MKT_OK(mk_qweight_data_alloc(&qd8, 0, 0, &data));
    memset(data.q, 1, 4 * 32);
    for (int i = 0; i < 4; i++) ((uint16_t *)data.scales)[i] = mk_f32_to_f16(0.5f);
    mk_qweight *qw = (mk_qweight *)(uintptr_t)1;
    MKT_FAILS(MK_ERR_UNSUPPORTED, "implements no quantized weights", mk_qweight_create(ctx, &qd8, &data, &qw));
    MKT_CHECK(qw == NULL, "mk_qweight_create: *out not NULL after a failure");
    mk_qweight_data_free(&data);

    free(vals);
    mk_tensor all[] = {q, x2, w, tcu, tpos, tslots, tlens, ttable, tpairs, out3, out2, qdec, outdec};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) mkt_free(&all[i]);
}

/* Validation runs before the dispatcher on this device as on any other. */
static void bad_input(mk_context *ctx, mk_context *other) {
    const int64_t s[2] = {3, 8}, s2[2] = {3, 9}, sw[2] = {4, 7}, sy[2] = {3, 4};
    float *vals = mkt_random(MK_F32, 64, 1.0f, 1.0f);
    mk_tensor a = mkt_upload(ctx, MK_F32, 2, s, vals), b9 = mkt_upload(ctx, MK_F32, 2, s2, vals);
    mk_tensor w7 = mkt_upload(ctx, MK_F32, 2, sw, vals), w8 = mkt_upload(ctx, MK_F32, 1, s + 1, vals);
    mk_tensor foreign = mkt_upload(other, MK_F32, 2, s, vals);
    mk_tensor out = mkt_output(ctx, MK_F32, 2, s), y = mkt_output(ctx, MK_F32, 2, sy);
    mk_tensor ai = a;
    ai.dtype = MK_I32;
    MKT_FAILS(MK_ERR_INVALID_ARGUMENT, "b.shape[1] is 9", mk_add(ctx, &a, &b9, &out));
    MKT_FAILS(MK_ERR_INVALID_ARGUMENT, "a.dtype is i32", mk_add(ctx, &ai, &ai, &out));
    MKT_FAILS(MK_ERR_INVALID_ARGUMENT, "up.buf belongs to another context", mk_silu_mul(ctx, &a, &foreign, &out));
    MKT_FAILS(MK_ERR_INVALID_ARGUMENT, "eps", mk_rmsnorm(ctx, &a, &w8, NAN, 0, &out));
    MKT_FAILS(MK_ERR_INVALID_ARGUMENT, "w.shape[1] is 7", mk_gemm(ctx, &a, &w7, NULL, &y));
    still_poisoned(&out, "out after rejected calls");
    still_poisoned(&y, "y after a rejected gemm");
    free(vals);
    mk_tensor all[] = {a, b9, w7, w8, foreign, out, y};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) mkt_free(&all[i]);
}

/* ------------------------------------------------------------ device, environment */

static void device_and_env(void) {
    int idx = -1;
    MKT_OK(mk_device_find("threads", &idx));
    mk_device_info d;
    MKT_OK(mk_device_get_info(idx, &d));
    MKT_CHECK(strcmp(d.id, "threads:0") == 0 && strcmp(d.backend, "threads") == 0 && d.type == MK_DEVICE_CPU,
              "threads device: id %s backend %s type %d", d.id, d.backend, (int)d.type);
    MKT_OK(mk_device_find("auto", &idx));
    MKT_OK(mk_device_get_info(idx, &d));
    MKT_CHECK(strcmp(d.backend, "threads") != 0, "auto chose %s", d.id);

    setenv("MEDKERN_THREADS", "3", 1);
    MKT_OK(mk_device_find("threads:0", &idx));
    MKT_OK(mk_device_get_info(idx, &d));
    MKT_CHECK(d.compute_units == 3 && strstr(d.name, "3 threads"), "MEDKERN_THREADS=3: %d units, \"%s\"",
              d.compute_units, d.name);
    static const char *const bad[] = {"0", "abc", "257", "3x", "-2", " 4"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv("MEDKERN_THREADS", bad[i], 1);
        mk_context *c = (mk_context *)(uintptr_t)1;
        MKT_FAILS(MK_ERR_INVALID_ARGUMENT, "MEDKERN_THREADS", mk_context_create("threads:0", &c));
        MKT_CHECK(c == NULL, "MEDKERN_THREADS=\"%s\": *out not NULL after a failure", bad[i]);
    }
    unsetenv("MEDKERN_THREADS");
    mk_context *c = new_ctx(NULL);
    MKT_CHECK(threads_of(c) >= 1, "default thread count %d", threads_of(c));
    mk_context_destroy(c);
}

/* Contexts come and go with their pools; two at once do not share anything. */
static void lifecycle(void) {
    const int64_t s[2] = {4, 4096};
    float *va = mkt_random(MK_F32, 4 * 4096, 1.0f, 1.0f), *vb = mkt_random(MK_F32, 4 * 4096, 1.0f, 1.0f);
    float *ref = mkt_alloc(4 * 4096 * sizeof(float)), *got = mkt_alloc(4 * 4096 * sizeof(float));
    mkref_add(va, vb, 4 * 4096, ref);
    for (int it = 0; it < 40; it++) {
        mk_context *c = new_ctx(it % 2 ? "4" : "2");
        if (it % 4 == 3) { /* some contexts never run a job */
            mk_context_destroy(c);
            continue;
        }
        mk_tensor a = mkt_upload(c, MK_F32, 2, s, va), b = mkt_upload(c, MK_F32, 2, s, vb);
        mk_tensor o = mkt_output(c, MK_F32, 2, s);
        MKT_OK(mk_add(c, &a, &b, &o));
        mkt_download(&o, got);
        if (it < 2 || it == 39) mkt_compare("add in the create/destroy loop", got, ref, 4 * 4096, mkt_tol(MK_F32), 0);
        mkt_free(&a);
        mkt_free(&b);
        mkt_free(&o);
        mk_context_destroy(c);
    }
    /* two contexts alive at once, used in turn, and events on one of them */
    mk_context *c1 = new_ctx("3"), *c2 = new_ctx("2");
    mk_tensor a1 = mkt_upload(c1, MK_F32, 2, s, va), b1 = mkt_upload(c1, MK_F32, 2, s, vb), o1 = mkt_output(c1, MK_F32, 2, s);
    mk_tensor a2 = mkt_upload(c2, MK_F32, 2, s, va), b2 = mkt_upload(c2, MK_F32, 2, s, vb), o2 = mkt_output(c2, MK_F32, 2, s);
    mk_event *e0 = NULL, *e1 = NULL;
    MKT_OK(mk_event_create(c1, &e0));
    MKT_OK(mk_event_create(c1, &e1));
    MKT_OK(mk_event_record(e0));
    for (int it = 0; it < 5; it++) {
        MKT_OK(mk_add(c1, &a1, &b1, &o1));
        MKT_OK(mk_add(c2, &a2, &b2, &o2));
    }
    MKT_OK(mk_event_record(e1));
    float ms = -1;
    MKT_OK(mk_event_elapsed_ms(e0, e1, &ms));
    MKT_CHECK(ms >= 0 && ms < 60000, "elapsed %g ms", ms);
    MKT_OK(mk_synchronize(c1));
    float *got2 = mkt_alloc(4 * 4096 * sizeof(float));
    mkt_download(&o1, got);
    mkt_download(&o2, got2);
    MKT_CHECK(memcmp(got, got2, 4 * 4096 * sizeof(float)) == 0, "two contexts (3 and 2 threads) differ");
    mkt_compare("add on two live contexts", got, ref, 4 * 4096, mkt_tol(MK_F32), 0);
    mk_event_destroy(e0);
    mk_event_destroy(e1);
    mk_tensor all[] = {a1, b1, o1, a2, b2, o2};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) mkt_free(&all[i]);
    mk_context_destroy(c1);
    mk_context_destroy(c2);
    free(va);
    free(vb);
    free(ref);
    free(got);
    free(got2);
}

/* Two application threads, each with its own threads context (its own pool), running
   gemm and rmsnorm at once: the same bits as a run on the main thread. Workers use only
   the public API (the mkt counters are not thread-safe). */
enum { APP_THREADS = 2, APP_ITERS = 10, GM = 9, GN = 40, GK = 300 };
static float g_x[GM * GK], g_w[GN * GK];
static pthread_barrier_t g_start;

typedef struct {
    mk_context *ctx;
    float y[GM * GN], norm[GM * GK];
    int ok;
    char why[256];
} app_worker;

static int app_run(mk_context *c, float *y, float *norm, char *why, size_t n) {
    const int64_t xs[2] = {GM, GK}, ws[2] = {GN, GK}, ys[2] = {GM, GN}, nw[1] = {GK};
    mk_buffer *bx = NULL, *bw = NULL, *by = NULL, *bn = NULL;
    int ok = 0;
    if (mk_buffer_alloc(c, sizeof g_x, &bx) || mk_buffer_alloc(c, sizeof g_w, &bw) ||
        mk_buffer_alloc(c, sizeof(float) * GM * GN, &by) || mk_buffer_alloc(c, sizeof g_x, &bn)) {
        snprintf(why, n, "alloc: %s", mk_last_error());
        goto out;
    }
    mk_buffer_write(bx, 0, g_x, sizeof g_x);
    mk_buffer_write(bw, 0, g_w, sizeof g_w);
    mk_tensor tx = mk_tensor_make(bx, 0, MK_F32, 2, xs), tw = mk_tensor_make(bw, 0, MK_F32, 2, ws);
    mk_tensor ty = mk_tensor_make(by, 0, MK_F32, 2, ys), tn = mk_tensor_make(bn, 0, MK_F32, 2, xs);
    mk_tensor tnw = mk_tensor_make(bw, 0, MK_F32, 1, nw);
    if (mk_gemm(c, &tx, &tw, NULL, &ty) != MK_OK || mk_rmsnorm(c, &tx, &tnw, 1e-6f, 1, &tn) != MK_OK) {
        snprintf(why, n, "op: %s", mk_last_error());
        goto out;
    }
    mk_buffer_read(by, 0, y, sizeof(float) * GM * GN);
    mk_buffer_read(bn, 0, norm, sizeof g_x);
    ok = 1;
out:
    mk_buffer_free(bx);
    mk_buffer_free(bw);
    mk_buffer_free(by);
    mk_buffer_free(bn);
    return ok;
}

static void *app_main(void *p) {
    app_worker *w = p;
    float y[GM * GN], norm[GM * GK];
    pthread_barrier_wait(&g_start);
    w->ok = 1;
    for (int it = 0; it < APP_ITERS && w->ok; it++) {
        if (!app_run(w->ctx, y, norm, w->why, sizeof w->why)) w->ok = 0;
        else if (it == 0) {
            memcpy(w->y, y, sizeof y);
            memcpy(w->norm, norm, sizeof norm);
        } else if (memcmp(w->y, y, sizeof y) || memcmp(w->norm, norm, sizeof norm)) {
            snprintf(w->why, sizeof w->why, "iteration %d differs from the first", it);
            w->ok = 0;
        }
    }
    return NULL;
}

static void app_threads(void) {
    mkref_rng r;
    mkt_rng(&r, 4242);
    mkt_fill_normal(&r, g_x, GM * GK, 1.0f, 1.0f);
    mkt_fill_normal(&r, g_w, GN * GK, 1.0f, 1.0f);
    static app_worker solo, w[APP_THREADS];
    solo.ctx = new_ctx("3");
    MKT_CHECK(app_run(solo.ctx, solo.y, solo.norm, solo.why, sizeof solo.why), "single run: %s", solo.why);
    mk_context_destroy(solo.ctx);
    pthread_barrier_init(&g_start, NULL, APP_THREADS);
    pthread_t tid[APP_THREADS];
    for (int i = 0; i < APP_THREADS; i++) {
        w[i].ctx = new_ctx(i ? "2" : "3"); /* created on the main thread: setenv is not thread-safe */
        if (pthread_create(&tid[i], NULL, app_main, &w[i]) != 0) {
            fprintf(stderr, "pthread_create failed for application thread %d\n", i);
            exit(1); /* the others would wait at the barrier forever */
        }
    }
    for (int i = 0; i < APP_THREADS; i++) pthread_join(tid[i], NULL);
    pthread_barrier_destroy(&g_start);
    for (int i = 0; i < APP_THREADS; i++) {
        MKT_CHECK(w[i].ok, "application thread %d: %s", i, w[i].why);
        MKT_CHECK(memcmp(w[i].y, solo.y, sizeof solo.y) == 0 && memcmp(w[i].norm, solo.norm, sizeof solo.norm) == 0,
                  "application thread %d: results differ from the single-threaded run", i);
        mk_context_destroy(w[i].ctx);
    }
}

/* ------------------------------------------------------------ main */

int main(int argc, char **argv) {
    mkt_init(argc, argv, "threads_backend");
    char ids[4][32];
    if (mkt_devices("threads", ids, 4) == 0) mkt_skip("the threads backend is not built (MEDKERN_THREADS_BACKEND=OFF)");

    device_and_env();

    static run_log first, second, single;
    mk_context *c3 = new_ctx("3");
    run_suite(c3, &first);
    run_suite(c3, &second);
    log_same(&first, &second, "two runs on 3 threads");
    gemm_variants_agree(c3);
    forced_and_explained(c3);
    unsupported_ops(c3);
    mk_context *ref = NULL;
    MKT_OK(mk_context_create("ref", &ref));
    if (ref) bad_input(c3, ref);
    mk_context_destroy(ref);
    mk_context_destroy(c3);

    mk_context *c1 = new_ctx("1");
    run_suite(c1, &single);
    log_same(&first, &single, "3 threads vs 1 thread");
    /* with one thread colblock has nothing to split */
    char text[4096];
    MKT_OK(mk_explain(c1, MK_OP_GEMM, NULL, text, sizeof text));
    MKT_CHECK(strstr(text, "one thread: nothing to split") && strstr(text, "chosen: threads.rowblock"),
              "explain gemm on 1 thread:\n%s", text);
    mk_context_destroy(c1);
    log_free(&first);
    log_free(&second);
    log_free(&single);

    lifecycle();
    app_threads();
    unsetenv("MEDKERN_THREADS");
    return mkt_finish();
}
