/*
 * OpenCL dense GEMM variants (kernels/opencl/gemm.cl), F32/F16/BF16 in and out, f32
 * accumulation:
 *   "opencl.tiled"  local-memory tiles, tile shape from the tuning file (ocl_param
 *                   "gemm": tile_m, tile_n, tile_k, wpt_m, wpt_n), any shape
 *   "opencl.gemv"   M <= gemm.gemv_max_m: one work-group per output column streams the
 *                   weight row once (decode-sized batches are bandwidth-bound)
 *   "opencl.gemv_subgroup"  the same with sub-group reductions instead of the local-
 *                   memory tree (cl_khr_subgroups / cl_intel_subgroups)
 */
#include <stdint.h>
#include <stdio.h>

#include "opencl/ocl_internal.h"

typedef struct {
    int tm, tn, tk, wm, wn;
} gemm_tiles;

static int tiles_ok(const ocl_device *dev, const gemm_tiles *t, char *why, size_t n) {
    if (t->tm < 1 || t->tn < 1 || t->tk < 1 || t->wm < 1 || t->wn < 1 || t->tm > 256 || t->tn > 256 ||
        t->tk > 128 || t->wm > 16 || t->wn > 16)
        return mk__why(why, n, "tile %dx%dx%d / %dx%d out of range", t->tm, t->tn, t->tk, t->wm, t->wn);
    if (t->tm % t->wm || t->tn % t->wn)
        return mk__why(why, n, "tile %dx%d is not a multiple of the work per item %dx%d", t->tm, t->tn,
                       t->wm, t->wn);
    size_t wg = (size_t)(t->tm / t->wm) * (size_t)(t->tn / t->wn);
    if (wg > dev->max_wg)
        return mk__why(why, n, "work-group of %zu items exceeds the device's %zu", wg, dev->max_wg);
    size_t lmem = (size_t)(t->tm + t->tn) * (size_t)t->tk * sizeof(float);
    if (lmem > dev->local_mem)
        return mk__why(why, n, "tiles need %zu bytes of local memory, the device has %zu", lmem,
                       dev->local_mem);
    return 1;
}

/* The tuned tiles when valid, else the defaults (*source says which). 0 when neither fits
   the device (why says why). */
static int get_tiles(const mk_context *ctx, gemm_tiles *t, char *why, size_t n) {
    const ocl_device *dev = ocl_of(ctx)->dev;
    *t = (gemm_tiles){ocl_param(ctx, "gemm", "tile_m", 32, NULL), ocl_param(ctx, "gemm", "tile_n", 32, NULL),
                      ocl_param(ctx, "gemm", "tile_k", 16, NULL), ocl_param(ctx, "gemm", "wpt_m", 4, NULL),
                      ocl_param(ctx, "gemm", "wpt_n", 4, NULL)};
    if (tiles_ok(dev, t, why, n)) return 1;
    static const gemm_tiles safe[] = {{32, 32, 16, 4, 4}, {16, 16, 16, 2, 2}, {8, 8, 8, 1, 1}};
    for (size_t i = 0; i < sizeof safe / sizeof safe[0]; i++)
        if (tiles_ok(dev, &safe[i], NULL, 0)) {
            *t = safe[i];
            return 1;
        }
    return 0;
}

/* The kernels index with 32-bit dims. */
static int dims_fit(const mk_op_args *args, char *why, size_t n) {
    const mk_tensor *x = args->u.gemm.x, *w = args->u.gemm.w;
    if (x->shape[0] > INT32_MAX || w->shape[0] > INT32_MAX || x->shape[1] > INT32_MAX)
        return mk__why(why, n, "M, N or K exceeds 2^31-1");
    return 1;
}

static int tiled_supports(const mk_context *ctx, const mk_op_args *args, char *why, size_t n) {
    gemm_tiles t;
    return get_tiles(ctx, &t, why, n) && (!args || dims_fit(args, why, n));
}

static int gemv_max_m(const mk_context *ctx) {
    int m = ocl_param(ctx, "gemm", "gemv_max_m", 4, NULL);
    return m < 1 ? 1 : m > 16 ? 16 : m;
}

static int gemv_supports(const mk_context *ctx, const mk_op_args *args, char *why, size_t n) {
    if (!args) return 1;
    if (!dims_fit(args, why, n)) return 0;
    int maxm = gemv_max_m(ctx);
    if (args->u.gemm.x->shape[0] > maxm)
        return mk__why(why, n, "M = %lld > %d (gemv handles small batches; gemm.gemv_max_m)",
                       (long long)args->u.gemm.x->shape[0], maxm);
    return 1;
}

/* The arguments shared by both kernels, in their order. */
typedef struct {
    cl_mem mx, mw, mb, my;
    cl_ulong ox, ow, ob, oy;
    cl_long xrs, wrs;
    cl_int has_bias, M, N, K;
} gemm_call;

static gemm_call gemm_args(const mk_op_args *a) {
    const mk_tensor *x = a->u.gemm.x, *w = a->u.gemm.w, *b = a->u.gemm.bias, *y = a->u.gemm.y;
    gemm_call c;
    c.mx = ocl_mem(x->buf);
    c.mw = ocl_mem(w->buf);
    c.mb = b ? ocl_mem(b->buf) : c.mw;
    c.my = ocl_mem(y->buf);
    c.ox = ocl_elem_offset(x);
    c.ow = ocl_elem_offset(w);
    c.ob = b ? ocl_elem_offset(b) : 0;
    c.oy = ocl_elem_offset(y);
    c.xrs = x->stride[0];
    c.wrs = w->stride[0];
    c.has_bias = b != NULL;
    c.M = (cl_int)x->shape[0];
    c.N = (cl_int)w->shape[0];
    c.K = (cl_int)x->shape[1];
    return c;
}

#define GEMM_ARGS(c)                                                                          \
    OCL_ARG(c.mx), OCL_ARG(c.ox), OCL_ARG(c.xrs), OCL_ARG(c.mw), OCL_ARG(c.ow), OCL_ARG(c.wrs), \
        OCL_ARG(c.mb), OCL_ARG(c.ob), OCL_ARG(c.has_bias), OCL_ARG(c.my), OCL_ARG(c.oy),        \
        OCL_ARG(c.M), OCL_ARG(c.N), OCL_ARG(c.K)

static mk_status run_tiled(mk_context *ctx, const mk_op_args *a) {
    gemm_tiles t;
    char why[160];
    if (!get_tiles(ctx, &t, why, sizeof why))
        return mk__fail(MK_ERR_UNSUPPORTED, "opencl.tiled: %s", why);
    char opts[128];
    snprintf(opts, sizeof opts, "-DT_IN=%d -DTM=%d -DTN=%d -DTK=%d -DWM=%d -DWN=%d",
             ocl_dtype_code(a->u.gemm.x->dtype), t.tm, t.tn, t.tk, t.wm, t.wn);
    cl_kernel k;
    mk_status s = ocl_kernel(ctx, "gemm.cl", "gemm_tiled", opts, &k);
    if (s != MK_OK) return s;
    size_t local[2] = {(size_t)(t.tn / t.wn), (size_t)(t.tm / t.wm)};
    if (local[0] * local[1] > ocl_kernel_wg(ctx, k))
        return mk__fail(MK_ERR_UNSUPPORTED, "opencl.tiled: the built kernel allows %zu work-items, "
                        "the tiles need %zu", ocl_kernel_wg(ctx, k), local[0] * local[1]);
    gemm_call c = gemm_args(a);
    ocl_arg args[] = {GEMM_ARGS(c)};
    size_t global[2] = {(size_t)(c.N + t.tn - 1) / (size_t)t.tn * local[0],
                        (size_t)(c.M + t.tm - 1) / (size_t)t.tm * local[1]};
    return ocl_launch(ctx, k, "gemm_tiled", 14, args, 2, global, local);
}

/* sg = 1: built with sub-group reductions (MK_WG_SUM, common.clh). */
static mk_status gemv_launch(mk_context *ctx, const mk_op_args *a, int sg) {
    char opts[128];
    snprintf(opts, sizeof opts, "-DT_IN=%d -DGEMV_MAX_M=%d %s", ocl_dtype_code(a->u.gemm.x->dtype),
             gemv_max_m(ctx), sg ? ocl_ext_options(ctx, OCL_EXT_SUBGROUPS) : "");
    cl_kernel k;
    mk_status s = ocl_kernel(ctx, "gemm.cl", "gemv", opts, &k);
    if (s != MK_OK) return s;
    gemm_call c = gemm_args(a);
    size_t cap = (size_t)ocl_param(ctx, "gemm", "gemv_local", 64, NULL), wg = ocl_kernel_wg(ctx, k);
    size_t L = ocl_pow2_floor(cap < wg ? cap : wg);
    while (L > 1 && L / 2 >= (size_t)c.K) L /= 2;
    ocl_arg args[] = {GEMM_ARGS(c), OCL_LOCAL(L * sizeof(float))};
    size_t global = L * (size_t)c.N, local = L;
    return ocl_launch(ctx, k, "gemv", 15, args, 1, &global, &local);
}

static mk_status run_gemv(mk_context *ctx, const mk_op_args *a) { return gemv_launch(ctx, a, 0); }
static mk_status run_gemv_sg(mk_context *ctx, const mk_op_args *a) { return gemv_launch(ctx, a, 1); }

static int gemv_sg_supports(const mk_context *ctx, const mk_op_args *args, char *why, size_t n) {
    return ocl_ext_supports(ctx, OCL_EXT_SUBGROUPS, why, n) && gemv_supports(ctx, args, why, n);
}

static const mk_kernel k_tiled = {MK_OP_GEMM, "opencl.tiled", "opencl", 10,
                                  "local-memory tiles (tuned), f32 accumulation", tiled_supports,
                                  run_tiled, NULL};
static const mk_kernel k_gemv = {MK_OP_GEMM, "opencl.gemv", "opencl", 20,
                                 "small M: one work-group per output column, f32 accumulation",
                                 gemv_supports, run_gemv, NULL};

static const mk_kernel k_gemv_sg = {MK_OP_GEMM, "opencl.gemv_subgroup", "opencl", 25,
                                    "small M: as opencl.gemv, sub-group reductions (cl_khr/intel_subgroups)",
                                    gemv_sg_supports, run_gemv_sg, NULL};

static const mk_kernel *const ocl_gemm_list[] = {&k_gemv_sg, &k_gemv, &k_tiled};

const mk_kernel *const *ocl_gemm_kernels(int *count) {
    *count = (int)(sizeof ocl_gemm_list / sizeof ocl_gemm_list[0]);
    return ocl_gemm_list;
}
