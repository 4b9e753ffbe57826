/*
 * Threads variants of the elementwise ops, "threads.rows": add, silu_mul, gelu_mul
 * (erf and tanh forms). The R x N elements (R rows of the inputs, each with its own row
 * stride; out contiguous) are split in equal static ranges, one per thread, so a single
 * long row is shared as well as many short ones. Math in f32 per element; out may be
 * the very same view as an input (each element is read before it is written).
 */
#include <math.h>

#include "threads_internal.h"

typedef struct {
    mk_op op;
    int approximate;
    mk_dtype dt;
    const uint8_t *a, *b;
    uint8_t *out;
    int64_t n, rows, rs_a, rs_b; /* row length, rows, row strides in elements */
} binary_job;

static float apply(const binary_job *j, float x, float y) {
    switch (j->op) {
    case MK_OP_SILU_MUL: return x / (1.0f + expf(-x)) * y;
    case MK_OP_GELU_MUL:
        if (j->approximate)
            return 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x))) * y;
        return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)) * y;
    default: return x + y;
    }
}

static void binary_part(void *arg, int part, int nparts) {
    const binary_job *j = arg;
    int64_t begin, end;
    threads_range(j->rows * j->n, part, nparts, &begin, &end);
    for (int64_t e = begin; e < end;) {
        int64_t r = e / j->n, c = e % j->n, stop = end - e < j->n - c ? c + (end - e) : j->n;
        const uint8_t *ra = j->a + (size_t)(r * j->rs_a) * mk_dtype_size(j->dt);
        const uint8_t *rb = j->b + (size_t)(r * j->rs_b) * mk_dtype_size(j->dt);
        uint8_t *ro = j->out + (size_t)(r * j->n) * mk_dtype_size(j->dt);
        for (int64_t i = c; i < stop; i++)
            threads_store(j->dt, ro, i, apply(j, threads_load(j->dt, ra, i), threads_load(j->dt, rb, i)));
        e += stop - c;
    }
}

static mk_status run_binary(mk_context *ctx, const mk_op_args *args) {
    const mk_tensor *a = args->u.binary.a, *b = args->u.binary.b, *out = args->u.binary.out;
    binary_job j = {args->op, args->u.binary.approximate, a->dtype, threads_base(a), threads_base(b),
                    (uint8_t *)threads_base(out), a->shape[a->ndim - 1], 1, 0, 0};
    int64_t rows_b = 1;
    /* validation accepted both as row layouts (all dims but the last dense) */
    if (!mk__tensor_rows(a, &j.rows, &j.rs_a) || !mk__tensor_rows(b, &rows_b, &j.rs_b))
        return mk__fail(MK_ERR_INTERNAL, "threads.rows: an input is not a row layout");
    int64_t total = j.rows * j.n;
    /* at least about 2048 elements per thread: fewer are not worth a wake-up */
    int64_t parts = total / 2048 + 1;
    threads_pool_run(threads_of(ctx)->pool, binary_part, &j, parts > THREADS_MAX ? THREADS_MAX : (int)parts);
    return MK_OK;
}

static int binary_supports(const mk_context *ctx, const mk_op_args *args, char *why, size_t n) {
    (void)ctx;
    return !args || threads_dtype_ok(args->u.binary.a, args->op == MK_OP_ADD ? "a" : "gate", why, n);
}

#define THREADS_BINARY(var, OP, text) \
    static const mk_kernel var = {OP, "threads.rows", "threads", 10, text, binary_supports, run_binary, NULL}

THREADS_BINARY(k_add, MK_OP_ADD, "host threads, static element ranges, f32 math");
THREADS_BINARY(k_silu, MK_OP_SILU_MUL, "host threads, static element ranges, f32 math");
THREADS_BINARY(k_gelu, MK_OP_GELU_MUL, "host threads, static element ranges, f32 erf/tanh forms");

static const mk_kernel *const threads_elementwise_list[] = {&k_add, &k_silu, &k_gelu};

const mk_kernel *const *threads_elementwise_kernels(int *count) {
    *count = (int)(sizeof threads_elementwise_list / sizeof threads_elementwise_list[0]);
    return threads_elementwise_list;
}
