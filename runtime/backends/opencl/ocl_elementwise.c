/*
 * OpenCL variants of the elementwise binary ops (kernels/opencl/elementwise.cl):
 *   silu_mul, gelu_mul, add   "opencl.rows"       one work-item per 4 elements of a row,
 *                                                 rows with their row stride (LAYOUT_ROWS)
 *   add (F16)                 "opencl.rows_half"  binary_rows_half: half arithmetic
 *                                                 (cl_khr_fp16), no f32 round trip
 */
#include <stdio.h>

#include "opencl/ocl_internal.h"

/* ---- silu_mul, gelu_mul, add */

/* binary_rows, or binary_rows_half (half = 1: F16 add with -DMK_HALF=1). */
static mk_status binary_launch(mk_context *ctx, const mk_op_args *a, int half) {
    const mk_tensor *x = a->u.binary.a, *y = a->u.binary.b, *out = a->u.binary.out;
    int64_t rows = 1, rs_a = 0, rs_b = 0, rows_b = 1;
    mk__tensor_rows(x, &rows, &rs_a);
    mk__tensor_rows(y, &rows_b, &rs_b);
    int code = a->op == MK_OP_SILU_MUL ? 0 : a->op == MK_OP_GELU_MUL ? (a->u.binary.approximate ? 2 : 1) : 3;
    char opts[96];
    snprintf(opts, sizeof opts, "-DT_IN=%d -DBIN_OP=%d %s", ocl_dtype_code(x->dtype), code,
             half ? ocl_ext_options(ctx, OCL_EXT_FP16) : "");
    const char *name = half ? "binary_rows_half" : "binary_rows";
    cl_kernel k;
    OCL_TRY(ocl_kernel(ctx, "elementwise.cl", name, opts, &k));
    cl_mem ma = ocl_mem(x->buf), mb = ocl_mem(y->buf), mo = ocl_mem(out->buf);
    cl_ulong oa = ocl_elem_offset(x), ob = ocl_elem_offset(y), oo = ocl_elem_offset(out);
    cl_long n = x->shape[x->ndim - 1], nrows = rows, ra = rs_a, rb = rs_b;
    ocl_arg args[] = {OCL_ARG(ma), OCL_ARG(oa), OCL_ARG(ra), OCL_ARG(mb), OCL_ARG(ob), OCL_ARG(rb),
                      OCL_ARG(mo), OCL_ARG(oo), OCL_ARG(n), OCL_ARG(nrows)};
    size_t cap = (size_t)ocl_param(ctx, "elementwise", "local", 64, NULL);
    size_t wg = ocl_kernel_wg(ctx, k);
    size_t l0 = ocl_pow2_floor(cap < wg ? cap : wg), items = ((size_t)n + 3) / 4;
    while (l0 > 8 && l0 / 2 >= items) l0 /= 2;
    size_t global[2] = {items, (size_t)rows}, local[2] = {l0, 1};
    return ocl_launch(ctx, k, name, 10, args, 2, global, local);
}

static mk_status run_binary(mk_context *ctx, const mk_op_args *a) { return binary_launch(ctx, a, 0); }
static mk_status run_add_half(mk_context *ctx, const mk_op_args *a) { return binary_launch(ctx, a, 1); }

static int add_half_supports(const mk_context *ctx, const mk_op_args *a, char *why, size_t n) {
    if (!ocl_ext_supports(ctx, OCL_EXT_FP16, why, n)) return 0;
    if (a && a->u.binary.a->dtype != MK_F16)
        return mk__why(why, n, "F16 tensors only (the call is %s)", mk_dtype_name(a->u.binary.a->dtype));
    return 1;
}

/* ---- table */

OCL_KERNEL(k_silu, MK_OP_SILU_MUL, "opencl.rows", 10, run_binary,
           "4 elements per work-item, f32 math, strided rows");
OCL_KERNEL(k_gelu, MK_OP_GELU_MUL, "opencl.rows", 10, run_binary,
           "4 elements per work-item, f32 math (erfc / sigmoid forms), strided rows");
OCL_KERNEL(k_add, MK_OP_ADD, "opencl.rows", 10, run_binary, "4 elements per work-item, strided rows");

/* Extension variants: built only where supports() found the extension. */
static const mk_kernel k_add_half = {MK_OP_ADD, "opencl.rows_half", "opencl", 15,
                                     "F16 add in half arithmetic (cl_khr_fp16): one RNE rounding, no f32 round trip",
                                     add_half_supports, run_add_half, NULL};

static const mk_kernel *const ocl_elementwise_list[] = {&k_silu, &k_gelu, &k_add, &k_add_half};

const mk_kernel *const *ocl_elementwise_kernels(int *count) {
    *count = (int)(sizeof ocl_elementwise_list / sizeof ocl_elementwise_list[0]);
    return ocl_elementwise_list;
}
