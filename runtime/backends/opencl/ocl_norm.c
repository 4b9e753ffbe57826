/*
 * OpenCL variants of the row normalisations (kernels/opencl/norm.cl):
 *   rmsnorm, layernorm        "opencl.wg_reduce"  one work-group per row, f32 tree
 *                                                 reduction in local memory
 *                             "opencl.wg_subgroup" the same with sub-group reductions
 *                                                 (cl_khr_subgroups / cl_intel_subgroups)
 */
#include <stdio.h>

#include "opencl/ocl_internal.h"

/* ---- rmsnorm, layernorm */

/* rmsnorm / layernorm kernels; sg = 1: built with sub-group reductions. */
static mk_status norm_launch(mk_context *ctx, const mk_op_args *a, int sg) {
    const mk_tensor *x = a->u.norm.x, *w = a->u.norm.w, *b = a->u.norm.b, *y = a->u.norm.y;
    int64_t rows = 1, rs = 0;
    mk__tensor_rows(x, &rows, &rs);
    int layer = a->op == MK_OP_LAYERNORM;
    char opts[96];
    snprintf(opts, sizeof opts, "-DT_IN=%d %s", ocl_dtype_code(x->dtype), sg ? ocl_ext_options(ctx, OCL_EXT_SUBGROUPS) : "");
    const char *name = layer ? "layernorm" : "rmsnorm";
    cl_kernel k;
    OCL_TRY(ocl_kernel(ctx, "norm.cl", name, opts, &k));
    cl_long n = x->shape[x->ndim - 1], xrs = rs;
    size_t cap = (size_t)ocl_param(ctx, "norm", "local", 64, NULL);
    size_t wg = ocl_kernel_wg(ctx, k);
    size_t L = ocl_pow2_floor(cap < wg ? cap : wg);
    while (L > 1 && L / 2 >= ((size_t)n + 3) / 4) L /= 2; /* no idle half-groups on short rows */
    cl_mem mx = ocl_mem(x->buf), mw = ocl_mem(w->buf), my = ocl_mem(y->buf);
    cl_ulong ox = ocl_elem_offset(x), ow = ocl_elem_offset(w), oy = ocl_elem_offset(y);
    cl_float eps = a->u.norm.eps;
    size_t global = L * (size_t)rows, local = L;
    if (!layer) {
        cl_int plus_one = a->u.norm.plus_one != 0;
        ocl_arg args[] = {OCL_ARG(mx), OCL_ARG(ox), OCL_ARG(xrs), OCL_ARG(mw), OCL_ARG(ow),
                          OCL_ARG(my), OCL_ARG(oy), OCL_ARG(n), OCL_ARG(eps), OCL_ARG(plus_one),
                          OCL_LOCAL(L * sizeof(float))};
        return ocl_launch(ctx, k, name, 11, args, 1, &global, &local);
    }
    cl_int has_b = b != NULL;
    cl_mem mb = b ? ocl_mem(b->buf) : mw;
    cl_ulong ob = b ? ocl_elem_offset(b) : 0;
    ocl_arg args[] = {OCL_ARG(mx), OCL_ARG(ox), OCL_ARG(xrs), OCL_ARG(mw), OCL_ARG(ow),
                      OCL_ARG(mb), OCL_ARG(ob), OCL_ARG(has_b), OCL_ARG(my), OCL_ARG(oy),
                      OCL_ARG(n), OCL_ARG(eps), OCL_LOCAL(L * sizeof(float))};
    return ocl_launch(ctx, k, name, 13, args, 1, &global, &local);
}

static mk_status run_norm(mk_context *ctx, const mk_op_args *a) { return norm_launch(ctx, a, 0); }
static mk_status run_norm_sg(mk_context *ctx, const mk_op_args *a) { return norm_launch(ctx, a, 1); }

static int subgroups(const mk_context *ctx, const mk_op_args *a, char *why, size_t n) {
    (void)a;
    return ocl_ext_supports(ctx, OCL_EXT_SUBGROUPS, why, n);
}

/* ---- table */

OCL_KERNEL(k_rmsnorm, MK_OP_RMSNORM, "opencl.wg_reduce", 10, run_norm,
           "one work-group per row, f32 local-memory tree reduction");
OCL_KERNEL(k_layernorm, MK_OP_LAYERNORM, "opencl.wg_reduce", 10, run_norm,
           "one work-group per row, two-pass mean/variance in f32 local memory");

/* Extension variants: built only where supports() found the extension. */
static const mk_kernel k_rmsnorm_sg = {MK_OP_RMSNORM, "opencl.wg_subgroup", "opencl", 15,
                                       "one work-group per row, sub-group reductions (cl_khr/intel_subgroups)",
                                       subgroups, run_norm_sg, NULL};
static const mk_kernel k_layernorm_sg = {MK_OP_LAYERNORM, "opencl.wg_subgroup", "opencl", 15,
                                         "two-pass mean/variance with sub-group reductions (cl_khr/intel_subgroups)",
                                         subgroups, run_norm_sg, NULL};

static const mk_kernel *const ocl_norm_list[] = {&k_rmsnorm, &k_layernorm, &k_rmsnorm_sg, &k_layernorm_sg};

const mk_kernel *const *ocl_norm_kernels(int *count) {
    *count = (int)(sizeof ocl_norm_list / sizeof ocl_norm_list[0]);
    return ocl_norm_list;
}
