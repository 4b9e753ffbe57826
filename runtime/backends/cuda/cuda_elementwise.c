/*
 * Elementwise variants: silu_mul, gelu_mul (erf and tanh forms), add — "cuda.rows"
 * (kernels/cuda/elementwise.cu): rows with a free row stride, 16-byte accesses when the
 * layout allows, row-dense operands streamed as one flat row.
 */
#include "cuda/cuda_internal.h"

static int sup_rows(const mk_context *ctx, const mk_op_args *args, char *why, size_t n) {
    (void)args;
    return cuda_kernels_available(ctx, why, n);
}

static mk_status run_binary(mk_context *ctx, const mk_op_args *a) {
    const mk_tensor *x = a->u.binary.a, *y = a->u.binary.b, *out = a->u.binary.out;
    int64_t rows = 1, x_rs = 0, y_rs = 0, o_rs = 0, r2;
    /* validated: all three are row-collapsible with the same shape */
    mk__tensor_rows(x, &rows, &x_rs);
    mk__tensor_rows(y, &r2, &y_rs);
    mk__tensor_rows(out, &r2, &o_rs);
    const int64_t n = x->shape[x->ndim - 1];
    mkc_binary_op op = MKC_ADD;
    const char *name = "add";
    if (a->op == MK_OP_SILU_MUL) op = MKC_SILU_MUL, name = "silu_mul";
    else if (a->op == MK_OP_GELU_MUL)
        op = a->u.binary.approximate ? MKC_GELU_TANH_MUL : MKC_GELU_ERF_MUL, name = "gelu_mul";
    mk_status s = cuda_enter(ctx);
    if (s != MK_OK) return s;
    return cuda_launched(mkc_binary(op, x->dtype, cuda_ptr(x), x_rs, cuda_ptr(y), y_rs, cuda_ptr(out),
                                    o_rs, rows, n, cuda_of(ctx)->stream),
                         name);
}

#define ROWS_SUMMARY "f32 math over rows (free row stride), 16-byte accesses when aligned"
static const mk_kernel k_silu = {MK_OP_SILU_MUL, "cuda.rows", "cuda", 10, ROWS_SUMMARY, sup_rows, run_binary, NULL};
static const mk_kernel k_gelu = {MK_OP_GELU_MUL, "cuda.rows", "cuda", 10, ROWS_SUMMARY, sup_rows, run_binary, NULL};
static const mk_kernel k_add = {MK_OP_ADD, "cuda.rows", "cuda", 10, ROWS_SUMMARY, sup_rows, run_binary, NULL};

static const mk_kernel *const kernels[] = {&k_silu, &k_gelu, &k_add};

const mk_kernel *const *cuda_elementwise_kernels(int *count) {
    *count = (int)(sizeof kernels / sizeof kernels[0]);
    return kernels;
}
