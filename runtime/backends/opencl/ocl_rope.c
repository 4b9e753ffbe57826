/*
 * OpenCL variant of rope (kernels/opencl/rope.cl):
 *   rope                      "opencl.pairs"      one work-item per rotated pair; the
 *                                                 host computes inv_freq in double and
 *                                                 passes it as (hi, lo) float pairs
 */
#include <stdio.h>
#include <stdlib.h>

#include "mkref.h"
#include "opencl/ocl_internal.h"
#include "opencl/ocl_scratch.h"

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
    mk_status s = ocl_kernel(ctx, "rope.cl", "rope", opts, &k);
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

OCL_KERNEL(k_rope, MK_OP_ROPE, "opencl.pairs", 10, run_rope,
           "one work-item per pair, double-float angles reduced mod 2pi, f32 sin/cos");

static const mk_kernel *const ocl_rope_list[] = {&k_rope};

const mk_kernel *const *ocl_rope_kernels(int *count) {
    *count = (int)(sizeof ocl_rope_list / sizeof ocl_rope_list[0]);
    return ocl_rope_list;
}
