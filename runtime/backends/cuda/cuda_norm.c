/*
 * Row normalisation variants: rmsnorm (plain and Gemma's 1 + w) and layernorm —
 * "cuda.block_per_row" (kernels/cuda/rmsnorm.cu, layernorm.cu): one thread block per
 * row, f32 sums through warp shuffles and shared memory, the row cached in shared memory
 * when it fits.
 */
#include <limits.h>

#include "cuda/cuda_internal.h"

static int sup_norm(const mk_context *ctx, const mk_op_args *a, char *why, size_t n) {
    if (!cuda_kernels_available(ctx, why, n)) return 0;
    if (a) {
        const mk_tensor *x = a->u.norm.x;
        if (x->shape[x->ndim - 1] > INT_MAX)
            return mk__why(why, n, "row length %lld exceeds 2^31-1", (long long)x->shape[x->ndim - 1]);
    }
    return 1;
}

static mk_status run_norm(mk_context *ctx, const mk_op_args *a) {
    const mk_tensor *x = a->u.norm.x, *w = a->u.norm.w, *b = a->u.norm.b, *y = a->u.norm.y;
    int64_t rows = 1, x_rs = 0;
    mk__tensor_rows(x, &rows, &x_rs);
    const int n = (int)x->shape[x->ndim - 1];
    mk_status s = cuda_enter(ctx);
    if (s != MK_OK) return s;
    cudaStream_t st = cuda_of(ctx)->stream;
    if (a->op == MK_OP_RMSNORM)
        return cuda_launched(mkc_rmsnorm(x->dtype, cuda_ptr(x), x_rs, cuda_ptr(w), cuda_ptr(y), rows, n,
                                         a->u.norm.eps, a->u.norm.plus_one, st),
                             "rmsnorm");
    return cuda_launched(mkc_layernorm(x->dtype, cuda_ptr(x), x_rs, cuda_ptr(w), b ? cuda_ptr(b) : NULL,
                                       cuda_ptr(y), rows, n, a->u.norm.eps, st),
                         "layernorm");
}

static const mk_kernel k_rmsnorm = {MK_OP_RMSNORM, "cuda.block_per_row", "cuda", 10,
                                    "one block per row, f32 shuffle + shared-memory reduction",
                                    sup_norm, run_norm, NULL};
static const mk_kernel k_layernorm = {MK_OP_LAYERNORM, "cuda.block_per_row", "cuda", 10,
                                      "one block per row, two-pass f32 mean/variance",
                                      sup_norm, run_norm, NULL};

static const mk_kernel *const kernels[] = {&k_rmsnorm, &k_layernorm};

const mk_kernel *const *cuda_norm_kernels(int *count) {
    *count = (int)(sizeof kernels / sizeof kernels[0]);
    return kernels;
}
