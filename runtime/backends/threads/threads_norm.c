/*
 * Threads variant of rmsnorm, "threads.rows": rows split in static ranges, one per
 * thread; each row's sum of squares in f32 over 8 interleaved partial sums added in a
 * fixed order, then y = x * (1 / sqrt(mean + eps)) * w, or * (1 + w) for Gemma
 * (plus_one). y may be the very same view as x: a row is reduced before it is written.
 */
#include <math.h>

#include "threads_internal.h"

typedef struct {
    mk_dtype dt;
    const uint8_t *x, *w;
    uint8_t *y;
    int64_t n, rows, rs; /* row length, rows, x's row stride in elements */
    float eps;
    int plus_one;
} norm_job;

static void rmsnorm_part(void *arg, int part, int nparts) {
    const norm_job *j = arg;
    size_t es = mk_dtype_size(j->dt);
    int64_t begin, end;
    threads_range(j->rows, part, nparts, &begin, &end);
    for (int64_t r = begin; r < end; r++) {
        const uint8_t *xr = j->x + (size_t)(r * j->rs) * es;
        uint8_t *yr = j->y + (size_t)(r * j->n) * es;
        float acc[8] = {0};
        int64_t i = 0;
        for (; i + 8 <= j->n; i += 8)
            for (int l = 0; l < 8; l++) {
                float v = threads_load(j->dt, xr, i + l);
                acc[l] += v * v;
            }
        for (; i < j->n; i++) {
            float v = threads_load(j->dt, xr, i);
            acc[i & 7] += v * v;
        }
        float ss = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
        float inv = 1.0f / sqrtf(ss / (float)j->n + j->eps);
        for (i = 0; i < j->n; i++) {
            float g = threads_load(j->dt, j->w, i);
            if (j->plus_one) g += 1.0f;
            threads_store(j->dt, yr, i, threads_load(j->dt, xr, i) * inv * g);
        }
    }
}

static mk_status run_rmsnorm(mk_context *ctx, const mk_op_args *args) {
    const mk_tensor *x = args->u.norm.x;
    norm_job j = {x->dtype, threads_base(x), threads_base(args->u.norm.w), (uint8_t *)threads_base(args->u.norm.y),
                  x->shape[x->ndim - 1], 1, 0, args->u.norm.eps, args->u.norm.plus_one};
    if (!mk__tensor_rows(x, &j.rows, &j.rs))
        return mk__fail(MK_ERR_INTERNAL, "threads.rows: x is not a row layout");
    /* at least about 2048 elements per thread */
    int64_t parts = j.rows * j.n / 2048 + 1;
    if (parts > j.rows) parts = j.rows;
    threads_pool_run(threads_of(ctx)->pool, rmsnorm_part, &j, parts > THREADS_MAX ? THREADS_MAX : (int)parts);
    return MK_OK;
}

static int rmsnorm_supports(const mk_context *ctx, const mk_op_args *args, char *why, size_t n) {
    (void)ctx;
    return !args || threads_dtype_ok(args->u.norm.x, "x", why, n);
}

static const mk_kernel k_rmsnorm = {MK_OP_RMSNORM, "threads.rows", "threads", 10,
                                    "host threads, static row ranges, f32 sum of squares (Gemma 1+w too)",
                                    rmsnorm_supports, run_rmsnorm, NULL};

static const mk_kernel *const threads_norm_list[] = {&k_rmsnorm};

const mk_kernel *const *threads_norm_kernels(int *count) {
    *count = (int)(sizeof threads_norm_list / sizeof threads_norm_list[0]);
    return threads_norm_list;
}
