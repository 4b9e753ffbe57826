/*
 * Threads variants of the dense GEMM y[M,N] = x[M,K] . w[N,K]^T (+ bias[N]), F32/F16/BF16,
 * f32 accumulation:
 *   "threads.rowblock"  prio 10, any shape: rows of x split in static ranges, one per
 *                       thread; each thread stages blocks of 4 rows of x and one row of w
 *                       at a time as f32 and reuses the w row for the 4 rows
 *   "threads.colblock"  prio 20, M < threads (decode-sized batches, where row blocks
 *                       would leave threads idle): columns of y split instead, x staged
 *                       once for all threads
 * Both compute every y element with the same dot product (8 interleaved f32 partial sums
 * added in a fixed order, then the bias), so they give the same bits for any thread
 * count. F32 inputs are read in place; F16/BF16 are converted into the context scratch.
 */
#include <stdio.h>

#include "threads_internal.h"

#define ROW_BLOCK 4

static float dot(const float *a, const float *b, int64_t k) {
    float acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= k; i += 8)
        for (int l = 0; l < 8; l++) acc[l] += a[i + l] * b[i + l];
    for (; i < k; i++) acc[i & 7] += a[i] * b[i];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

typedef struct {
    mk_dtype dt;
    const uint8_t *x, *w, *bias;
    uint8_t *y;
    int64_t M, N, K, xs, ws;  /* row strides of x and w in elements */
    float *scratch;           /* rowblock: per part (ROW_BLOCK + 1) * K; colblock: M * K shared + per part K */
} gemm_job;

/* Row r of a [.., K] matrix with row stride rs as f32: in place for F32, else converted
   into buf. */
static const float *row_f32(const gemm_job *j, const uint8_t *base, int64_t r, int64_t rs, float *buf) {
    size_t es = mk_dtype_size(j->dt);
    const uint8_t *row = base + (size_t)(r * rs) * es;
    if (j->dt == MK_F32) return (const float *)row;
    for (int64_t i = 0; i < j->K; i++) buf[i] = threads_load(j->dt, row, i);
    return buf;
}

static void store_y(const gemm_job *j, int64_t m, int64_t n, float acc) {
    if (j->bias) acc += threads_load(j->dt, j->bias, n);
    threads_store(j->dt, j->y, m * j->N + n, acc);
}

static void rowblock_part(void *arg, int part, int nparts) {
    const gemm_job *j = arg;
    float *mine = j->scratch + (size_t)part * (ROW_BLOCK + 1) * (size_t)j->K;
    int64_t begin, end;
    threads_range(j->M, part, nparts, &begin, &end);
    for (int64_t m0 = begin; m0 < end; m0 += ROW_BLOCK) {
        int rows = end - m0 < ROW_BLOCK ? (int)(end - m0) : ROW_BLOCK;
        const float *xr[ROW_BLOCK];
        for (int r = 0; r < rows; r++) xr[r] = row_f32(j, j->x, m0 + r, j->xs, mine + (size_t)r * (size_t)j->K);
        float *wbuf = mine + (size_t)ROW_BLOCK * (size_t)j->K;
        for (int64_t n = 0; n < j->N; n++) {
            const float *wr = row_f32(j, j->w, n, j->ws, wbuf);
            for (int r = 0; r < rows; r++) store_y(j, m0 + r, n, dot(xr[r], wr, j->K));
        }
    }
}

static void colblock_part(void *arg, int part, int nparts) {
    const gemm_job *j = arg;
    float *wbuf = j->scratch + (size_t)(j->M + part) * (size_t)j->K;
    int64_t begin, end;
    threads_range(j->N, part, nparts, &begin, &end);
    for (int64_t n = begin; n < end; n++) {
        const float *wr = row_f32(j, j->w, n, j->ws, wbuf);
        for (int64_t m = 0; m < j->M; m++) {
            const float *xr = j->dt == MK_F32 ? (const float *)(j->x + (size_t)(m * j->xs) * sizeof(float))
                                              : j->scratch + (size_t)m * (size_t)j->K;
            store_y(j, m, n, dot(xr, wr, j->K));
        }
    }
}

static gemm_job make_job(const mk_op_args *a) {
    const mk_tensor *x = a->u.gemm.x, *w = a->u.gemm.w, *b = a->u.gemm.bias;
    return (gemm_job){x->dtype, threads_base(x), threads_base(w), b ? threads_base(b) : NULL,
                      (uint8_t *)threads_base(a->u.gemm.y), x->shape[0], w->shape[0], x->shape[1],
                      x->stride[0], w->stride[0], NULL};
}

/* Parts for `units` independent units (rows or columns) of K-long dot products each:
   at least about 16K multiply-adds per thread. */
static int parts_for(const threads_ctx *tc, int64_t units, int64_t work_per_unit) {
    double parts = (double)units * (double)work_per_unit / 16384.0 + 1.0;
    if (parts > (double)units) parts = (double)units;
    return parts > (double)tc->nthreads ? tc->nthreads : (int)parts;
}

static mk_status run_rowblock(mk_context *ctx, const mk_op_args *a) {
    threads_ctx *tc = threads_of(ctx);
    gemm_job j = make_job(a);
    int parts = parts_for(tc, j.M, j.N * j.K);
    j.scratch = threads_scratch(ctx, (size_t)parts * (ROW_BLOCK + 1) * (size_t)j.K);
    if (!j.scratch) return mk__fail(MK_ERR_OUT_OF_MEMORY, "threads.rowblock: out of host memory for staging");
    threads_pool_run(tc->pool, rowblock_part, &j, parts);
    return MK_OK;
}

static mk_status run_colblock(mk_context *ctx, const mk_op_args *a) {
    threads_ctx *tc = threads_of(ctx);
    gemm_job j = make_job(a);
    int parts = parts_for(tc, j.N, j.M * j.K);
    j.scratch = threads_scratch(ctx, (size_t)(j.M + parts) * (size_t)j.K);
    if (!j.scratch) return mk__fail(MK_ERR_OUT_OF_MEMORY, "threads.colblock: out of host memory for staging");
    if (j.dt != MK_F32) /* x staged once, read by every thread */
        for (int64_t m = 0; m < j.M; m++) row_f32(&j, j.x, m, j.xs, j.scratch + (size_t)m * (size_t)j.K);
    threads_pool_run(tc->pool, colblock_part, &j, parts);
    return MK_OK;
}

static int rowblock_supports(const mk_context *ctx, const mk_op_args *args, char *why, size_t n) {
    (void)ctx;
    return !args || threads_dtype_ok(args->u.gemm.x, "x", why, n);
}

static int colblock_supports(const mk_context *ctx, const mk_op_args *args, char *why, size_t n) {
    int threads = threads_of(ctx)->nthreads;
    if (threads < 2) return mk__why(why, n, "one thread: nothing to split across columns");
    if (!args) return 1;
    if (!threads_dtype_ok(args->u.gemm.x, "x", why, n)) return 0;
    int64_t M = args->u.gemm.x->shape[0];
    if (M >= threads)
        return mk__why(why, n, "M = %lld >= %d threads (row blocks keep every thread busy)", (long long)M,
                       threads);
    return 1;
}

static const mk_kernel k_rowblock = {MK_OP_GEMM, "threads.rowblock", "threads", 10,
                                     "host threads, static row ranges, 4-row blocks, f32 accumulation",
                                     rowblock_supports, run_rowblock, NULL};
static const mk_kernel k_colblock = {MK_OP_GEMM, "threads.colblock", "threads", 20,
                                     "M < threads: static column ranges, f32 accumulation",
                                     colblock_supports, run_colblock, NULL};

static const mk_kernel *const threads_gemm_list[] = {&k_colblock, &k_rowblock};

const mk_kernel *const *threads_gemm_kernels(int *count) {
    *count = (int)(sizeof threads_gemm_list / sizeof threads_gemm_list[0]);
    return threads_gemm_list;
}
