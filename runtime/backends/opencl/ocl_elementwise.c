/*
 * OpenCL variants of the row-wise helpers (kernels/opencl/elementwise.cl):
 *   silu_mul, gelu_mul, add   "opencl.rows"       one work-item per 4 elements of a row,
 *                                                 rows with their row stride (LAYOUT_ROWS)
 *   add (F16)                 "opencl.rows_half"  binary_rows_half: half arithmetic
 *                                                 (cl_khr_fp16), no f32 round trip
 *   rmsnorm, layernorm        "opencl.wg_reduce"  one work-group per row, f32 tree
 *                                                 reduction in local memory
 *                             "opencl.wg_subgroup" the same with sub-group reductions
 *                                                 (cl_khr_subgroups / cl_intel_subgroups)
 *   rope                      "opencl.pairs"      one work-item per rotated pair; the
 *                                                 host computes inv_freq in double and
 *                                                 passes it as (hi, lo) float pairs
 */
#include <stdio.h>
#include <stdlib.h>

#include "mkref.h"
#include "opencl/ocl_internal.h"
#include "opencl/ocl_scratch.h"

#define TRY(x)                          \
    do {                                \
        mk_status s_ = (x);             \
        if (s_ != MK_OK) return s_;     \
    } while (0)

static int always(const mk_context *ctx, const mk_op_args *args, char *why, size_t n) {
    (void)ctx, (void)args, (void)why, (void)n;
    return 1;
}

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
    TRY(ocl_kernel(ctx, "elementwise.cl", name, opts, &k));
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
    TRY(ocl_kernel(ctx, "elementwise.cl", name, opts, &k));
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

/* ---- rope */

static mk_status run_rope(mk_context *ctx, const mk_op_args *a) {
    const mk_tensor *x = a->u.rope.x, *pos = a->u.rope.positions;
    const mk_rope_params *p = &a->u.rope.params;
    int D = (int)x->shape[2], R = p->rotary_dim ? p->rotary_dim : D, half = R / 2;
    if (half == 0) return MK_OK;
    cl_float2 *tab = mk__malloc((size_t)half * sizeof *tab);
    if (!tab) return mk__fail(MK_ERR_OUT_OF_MEMORY, "out of host memory for the rope frequencies");
    for (int i = 0; i < half; i++) {
        double f = mkref_rope_inv_freq(p, R, i);
        tab[i].s[0] = (float)f;
        tab[i].s[1] = (float)(f - (double)tab[i].s[0]);
    }
    cl_mem mf; /* the context's copy of this table, uploaded once per distinct table */
    mk_status st = ocl_const_table(ctx, tab, (size_t)half * sizeof *tab, &mf);
    mk__free(tab);
    if (st != MK_OK) return st;
    char opts[32];
    snprintf(opts, sizeof opts, "-DT_IN=%d", ocl_dtype_code(x->dtype));
    cl_kernel k;
    mk_status s = ocl_kernel(ctx, "elementwise.cl", "rope", opts, &k);
    if (s == MK_OK) {
        cl_mem mx = ocl_mem(x->buf), mp = ocl_mem(pos->buf);
        cl_ulong ox = ocl_elem_offset(x), op = ocl_elem_offset(pos);
        cl_long s0 = x->stride[0], s1 = x->stride[1], T = x->shape[0];
        cl_int hr = half, style = p->style == MK_ROPE_INTERLEAVED, H = (cl_int)x->shape[1];
        ocl_arg args[] = {OCL_ARG(mx), OCL_ARG(ox), OCL_ARG(s0), OCL_ARG(s1), OCL_ARG(mp), OCL_ARG(op),
                          OCL_ARG(mf), OCL_ARG(hr), OCL_ARG(style), OCL_ARG(T), OCL_ARG(H)};
        size_t global[3] = {(size_t)half, (size_t)H, (size_t)T};
        s = ocl_launch(ctx, k, "rope", 11, args, 3, global, NULL);
    }
    return s;
}

/* ---- table */

#define OCL_KERNEL(var, OP, name, prio, fn, text) \
    static const mk_kernel var = {OP, name, "opencl", prio, text, always, fn, NULL}

OCL_KERNEL(k_silu, MK_OP_SILU_MUL, "opencl.rows", 10, run_binary,
           "4 elements per work-item, f32 math, strided rows");
OCL_KERNEL(k_gelu, MK_OP_GELU_MUL, "opencl.rows", 10, run_binary,
           "4 elements per work-item, f32 math (erfc / sigmoid forms), strided rows");
OCL_KERNEL(k_add, MK_OP_ADD, "opencl.rows", 10, run_binary, "4 elements per work-item, strided rows");
OCL_KERNEL(k_rmsnorm, MK_OP_RMSNORM, "opencl.wg_reduce", 10, run_norm,
           "one work-group per row, f32 local-memory tree reduction");
OCL_KERNEL(k_layernorm, MK_OP_LAYERNORM, "opencl.wg_reduce", 10, run_norm,
           "one work-group per row, two-pass mean/variance in f32 local memory");
OCL_KERNEL(k_rope, MK_OP_ROPE, "opencl.pairs", 10, run_rope,
           "one work-item per pair, double-float angles reduced mod 2pi, f32 sin/cos");

/* Extension variants: built only where supports() found the extension. */
static const mk_kernel k_add_half = {MK_OP_ADD, "opencl.rows_half", "opencl", 15,
                                     "F16 add in half arithmetic (cl_khr_fp16): one RNE rounding, no f32 round trip",
                                     add_half_supports, run_add_half, NULL};
static const mk_kernel k_rmsnorm_sg = {MK_OP_RMSNORM, "opencl.wg_subgroup", "opencl", 15,
                                       "one work-group per row, sub-group reductions (cl_khr/intel_subgroups)",
                                       subgroups, run_norm_sg, NULL};
static const mk_kernel k_layernorm_sg = {MK_OP_LAYERNORM, "opencl.wg_subgroup", "opencl", 15,
                                         "two-pass mean/variance with sub-group reductions (cl_khr/intel_subgroups)",
                                         subgroups, run_norm_sg, NULL};

static const mk_kernel *const ocl_elementwise_list[] = {&k_silu,      &k_gelu,       &k_add,
                                                        &k_rmsnorm,   &k_layernorm,  &k_rope,
                                                        &k_add_half,  &k_rmsnorm_sg, &k_layernorm_sg};

const mk_kernel *const *ocl_elementwise_kernels(int *count) {
    *count = (int)(sizeof ocl_elementwise_list / sizeof ocl_elementwise_list[0]);
    return ocl_elementwise_list;
}
