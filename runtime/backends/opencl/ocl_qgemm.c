/*
 * OpenCL quantized GEMM: weight packing (the backend's qweight hooks) and four variants,
 * one kernel each:
 *   opencl.qgemv        M <= 8: one work-item per output row over the whole K, the
 *                       rows of a 64-row tile read as interleaved words (decode GEMV);
 *   opencl.qgemv_rows   W4, M <= 8: one work-item per block of 16, 32 or 64 rows (tuned
 *                       "qgemm"/"gemv_rows") with explicit 16-wide vectors, after a
 *                       pre-pass that writes x and its group sums as f32. Written for CPU
 *                       drivers, where it is the default choice of M <= 8 calls (the
 *                       CPU row of ocl_tuning.c's variant defaults); below opencl.qgemv in
 *                       priority, so GPUs and accelerators keep a work-item per row;
 *   opencl.qgemm_tiled  any M: 64x64 output tiles, K staged in local memory;
 *   opencl.qgemv_dot8   W8A8, M <= 8: opencl.qgemv with the int8 products four at a
 *                       time by cl_khr_integer_dot_product (the same i32 sums).
 * Kernels in kernels/opencl/qgemm.cl; the packed layout is described there.
 *
 * Packing keeps every canonical bit (codes, f16/f32 scale bits, zero points, k_perm), so
 * mk_qweight_read gives back exactly what was packed. W8A8 and FP8 quantize activations
 * per token on the device with the reference's rule, which needs the correctly rounded
 * f32 quotient x / scale: the device's own division where it is correctly rounded, else
 * a division in double (fp64), else an fma-corrected one (see QG_DIV in qgemm.cl).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mkref.h"
#include "ocl_scratch.h"

#define QG_R 64      /* rows per packed tile (kernels: QG_R)  */
#define QG_GEMV_MAX_M 8

typedef struct {
    cl_mem q, scales, zeros, perm;
    int np;     /* rows padded to QG_R           */
    int kc;     /* 16-byte chunks per row         */
    int groups; /* scale groups per row           */
} ocl_qw;

static int is_w4(const mk_qweight_desc *d) { return d->format == MK_QW4; }
static int codes_per_chunk(const mk_qweight_desc *d) { return is_w4(d) ? 32 : 16; }
static size_t scale_size(const mk_qweight_desc *d) {
    return d->format == MK_QW4 || d->format == MK_QW8 ? 2 : 4;
}

/* Byte offsets of the packed arrays. */
static size_t packed_q_at(const ocl_qw *w, int64_t n, int c, int b) {
    /* 32-bit words [N/QG_R][kc][4][QG_R]: consecutive rows hold consecutive words */
    return ((((size_t)(n / QG_R) * w->kc + (size_t)c) * 4 + (size_t)(b / 4)) * QG_R + (size_t)(n % QG_R)) * 4 +
           (size_t)(b % 4);
}
static size_t packed_group_at(const ocl_qw *w, int64_t n, int64_t g) {
    return ((size_t)(n / QG_R) * w->groups + (size_t)g) * QG_R + (size_t)(n % QG_R);
}

static mk_status make_buffer(mk_context *ctx, size_t bytes, void *host, cl_mem *out) {
    cl_int err;
    *out = ocl_buffer_create(ocl_of(ctx)->cl, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, bytes, host, &err);
    return *out ? MK_OK : ocl_fail(err, "allocating the packed weight");
}

static void qw_free(ocl_qw *w) {
    if (!w) return;
    ocl_buffer_release(w->q);
    ocl_buffer_release(w->scales);
    ocl_buffer_release(w->zeros);
    ocl_buffer_release(w->perm);
    mk__free(w);
}

mk_status ocl_qweight_create(mk_context *ctx, mk_qweight *qw, const mk_qweight_data *data) {
    const mk_qweight_desc *d = &qw->desc;
    ocl_qw *w = mk__calloc(1, sizeof *w);
    if (!w) return mk__fail(MK_ERR_OUT_OF_MEMORY, "out of host memory packing the weight");
    int cpc = codes_per_chunk(d);
    w->np = (int)((d->n + QG_R - 1) / QG_R * QG_R);
    w->kc = (int)((d->k + cpc - 1) / cpc);
    w->groups = (int)mkref_qweight_groups(d);
    size_t row_bytes = mkref_qweight_q_bytes(d) / (size_t)d->n, es = scale_size(d);
    size_t qbytes = (size_t)w->np * w->kc * 16, gcount = (size_t)w->np * w->groups;
    uint8_t *q = mk__calloc(qbytes, 1), *sc = mk__calloc(gcount, es), *z = d->asymmetric ? mk__calloc(gcount, 1) : NULL;
    mk_status s = MK_OK;
    if (!q || !sc || (d->asymmetric && !z)) {
        s = mk__fail(MK_ERR_OUT_OF_MEMORY, "out of host memory packing the weight");
        goto out;
    }
    for (int64_t n = 0; n < d->n; n++) {
        const uint8_t *src = (const uint8_t *)data->q + (size_t)n * row_bytes;
        for (int c = 0; c < w->kc; c++) {
            size_t from = (size_t)c * 16, len = from + 16 <= row_bytes ? 16 : row_bytes - from;
            for (size_t b = 0; b < len; b++) q[packed_q_at(w, n, c, (int)b)] = src[from + b]; /* the rest stays 0 */
        }
        for (int64_t g = 0; g < w->groups; g++) {
            memcpy(sc + packed_group_at(w, n, g) * es,
                   (const uint8_t *)data->scales + ((size_t)n * w->groups + (size_t)g) * es, es);
            if (z) z[packed_group_at(w, n, g)] = ((const uint8_t *)data->zeros)[n * w->groups + g];
        }
    }
    if ((s = make_buffer(ctx, qbytes, q, &w->q)) != MK_OK ||
        (s = make_buffer(ctx, gcount * es, sc, &w->scales)) != MK_OK ||
        (z && (s = make_buffer(ctx, gcount, z, &w->zeros)) != MK_OK) ||
        (data->k_perm &&
         (s = make_buffer(ctx, (size_t)d->k * sizeof(int32_t), data->k_perm, &w->perm)) != MK_OK))
        goto out;
    qw->impl = w;
    w = NULL;
out:
    qw_free(w);
    mk__free(q), mk__free(sc), mk__free(z);
    return s;
}

void ocl_qweight_destroy(mk_qweight *qw) {
    qw_free(qw->impl);
    qw->impl = NULL;
}

static mk_status read_back(const mk_qweight *qw, cl_mem m, size_t bytes, void *dst) {
    cl_int err = OCL_QUEUE(clEnqueueReadBuffer(ocl_of(qw->ctx)->queue, m, CL_TRUE, 0, bytes, dst, 0, NULL, NULL));
    return err == CL_SUCCESS ? MK_OK : ocl_queue_fail(err, "reading the packed weight");
}

mk_status ocl_qweight_read(const mk_qweight *qw, mk_qweight_data *out) {
    const mk_qweight_desc *d = &qw->desc;
    const ocl_qw *w = qw->impl;
    size_t row_bytes = mkref_qweight_q_bytes(d) / (size_t)d->n, es = scale_size(d);
    size_t qbytes = (size_t)w->np * w->kc * 16, gcount = (size_t)w->np * w->groups;
    uint8_t *q = mk__malloc(qbytes), *sc = mk__malloc(gcount * es), *z = w->zeros ? mk__malloc(gcount) : NULL;
    mk_status s = MK_OK;
    if (!q || !sc || (w->zeros && !z)) {
        s = mk__fail(MK_ERR_OUT_OF_MEMORY, "out of host memory unpacking the weight");
        goto out;
    }
    if ((s = read_back(qw, w->q, qbytes, q)) != MK_OK || (s = read_back(qw, w->scales, gcount * es, sc)) != MK_OK ||
        (z && (s = read_back(qw, w->zeros, gcount, z)) != MK_OK) ||
        (w->perm && (s = read_back(qw, w->perm, (size_t)d->k * sizeof(int32_t), out->k_perm)) != MK_OK))
        goto out;
    for (int64_t n = 0; n < d->n; n++) {
        uint8_t *dst = (uint8_t *)out->q + (size_t)n * row_bytes;
        for (int c = 0; c < w->kc; c++) {
            size_t from = (size_t)c * 16, len = from + 16 <= row_bytes ? 16 : row_bytes - from;
            for (size_t b = 0; b < len; b++) dst[from + b] = q[packed_q_at(w, n, c, (int)b)];
        }
        for (int64_t g = 0; g < w->groups; g++) {
            memcpy((uint8_t *)out->scales + ((size_t)n * w->groups + (size_t)g) * es,
                   sc + packed_group_at(w, n, g) * es, es);
            if (z) ((uint8_t *)out->zeros)[n * w->groups + g] = z[packed_group_at(w, n, g)];
        }
    }
out:
    mk__free(q), mk__free(sc), mk__free(z);
    return s;
}

/* ------------------------------------------------------------------ variants */

/* QG_DIV_MODE of qgemm.cl: 1 = the device divides with correct rounding (ocl_program.c
   then builds with -cl-fp32-correctly-rounded-divide-sqrt), 2 = in double, 0 = mk_div_rn. */
static int division_mode(const mk_context *ctx) {
    const ocl_device *dev = ocl_of(ctx)->dev;
    cl_device_fp_config fp = 0;
    if (clGetDeviceInfo(dev->device, CL_DEVICE_SINGLE_FP_CONFIG, sizeof fp, &fp, NULL) == CL_SUCCESS &&
        (fp & CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT))
        return 1;
    return strstr(dev->extensions, "cl_khr_fp64") ? 2 : 0;
}

static int needs_act_quant(const mk_qweight_desc *d) { return d->format == MK_QW8A8 || d->format == MK_QFP8; }

/* GEMV work-group size (one work-item per row): the tuned value as a power of two in
   [16, QG_R] (it divides the row tile), shrunk to the device's limit. */
static int gemv_threads(const mk_context *ctx, int mb) {
    const ocl_device *dev = ocl_of(ctx)->dev;
    int nt = ocl_param(ctx, "qgemm", "gemv_wg", 64, NULL), p = 16;
    (void)mb;
    while (p * 2 <= nt && p < QG_R) p *= 2;
    while (p > 1 && (size_t)p > dev->max_wg) p /= 2;
    return p;
}

/* Rows per work-item of opencl.qgemv_rows: the tuned "qgemm"/"gemv_rows" as 16, 32 or 64
   (the largest of them not above it, at least 16), halved while a work-item would hold
   more than 64 row-tokens (registers: a 16-wide accumulator per 16 rows and token) or
   there would be fewer than 4 work-items per compute unit. */
static int rows_per_item(const mk_context *ctx, const ocl_qw *w, int mb) {
    int want = ocl_param(ctx, "qgemm", "gemv_rows", 64, NULL), rows = 16;
    while (rows < 64 && rows * 2 <= want) rows *= 2;
    int cus = ocl_of(ctx)->dev->info.compute_units > 0 ? ocl_of(ctx)->dev->info.compute_units : 1;
    while (rows > 16 && (rows * mb > 64 || w->np / rows < 4 * cus)) rows /= 2;
    return rows;
}

/* qg_prep_x then qgemv_rows (see qgemm.cl): x' and the group sums of x in scratch. */
static mk_status gemv_rows_run(mk_context *ctx, const mk_op_args *a, const char *opts, int rows, int mb) {
    const mk_tensor *x = a->u.qgemm.x, *bias = a->u.qgemm.bias, *y = a->u.qgemm.y;
    const mk_qweight *qw = a->u.qgemm.w;
    const ocl_qw *w = qw->impl;
    cl_int M = (cl_int)x->shape[0], K = (cl_int)qw->desc.k, G = w->groups, has_perm = w->perm != NULL;
    cl_mem xf, mx = ocl_mem(x->buf), mperm = w->perm;
    cl_ulong ox = ocl_elem_offset(x);
    cl_long xs0 = x->stride[0];
    cl_kernel kp, kg;
    mk_status s;
    if ((s = ocl_scratch(ctx, OCL_SCRATCH_QGEMM_X, (size_t)mb * (size_t)(K + G) * 4, &xf)) != MK_OK ||
        (s = ocl_kernel(ctx, "qgemm.cl", "qg_prep_x", opts, &kp)) != MK_OK ||
        (s = ocl_kernel(ctx, "qgemm.cl", "qgemv_rows", opts, &kg)) != MK_OK)
        return s;
    ocl_arg pa[] = {OCL_ARG(mx), OCL_ARG(ox), OCL_ARG(xs0), OCL_ARG(mperm), OCL_ARG(has_perm),
                    OCL_ARG(xf), OCL_ARG(M), OCL_ARG(K), OCL_ARG(G)};
    size_t pg[2] = {(size_t)G, (size_t)mb};
    if ((s = ocl_launch(ctx, kp, "qg_prep_x", 9, pa, 2, pg, NULL)) != MK_OK) return s;
    cl_mem mq = w->q, msc = w->scales, mz = w->zeros, my = ocl_mem(y->buf);
    cl_mem mb_ = bias ? ocl_mem(bias->buf) : NULL;
    cl_ulong oy = ocl_elem_offset(y), ob = bias ? ocl_elem_offset(bias) : 0;
    cl_int N = (cl_int)qw->desc.n, KC = w->kc, has_bias = bias != NULL;
    ocl_arg ga[] = {OCL_ARG(mq), OCL_ARG(msc), OCL_ARG(mz), OCL_ARG(xf), OCL_ARG(M), OCL_ARG(N),
                    OCL_ARG(K), OCL_ARG(KC), OCL_ARG(G), OCL_ARG(my), OCL_ARG(oy), OCL_ARG(mb_),
                    OCL_ARG(ob), OCL_ARG(has_bias)};
    size_t gg[1] = {(size_t)w->np / (size_t)rows}, gl[1] = {1};
    return ocl_launch(ctx, kg, "qgemv_rows", 14, ga, 1, gg, gl);
}

static int gemv_supports(const mk_context *ctx, const mk_op_args *a, char *why, size_t n) {
    if (a && a->u.qgemm.x->shape[0] > QG_GEMV_MAX_M)
        return mk__why(why, n, "M = %lld is above the GEMV limit of %d rows (opencl.qgemm_tiled takes it)",
                       (long long)a->u.qgemm.x->shape[0], QG_GEMV_MAX_M);
    return 1;
}

static int tiled_supports(const mk_context *ctx, const mk_op_args *a, char *why, size_t n) {
    const ocl_device *dev = ocl_of(ctx)->dev;
    if (dev->max_wg < 256) return mk__why(why, n, "needs work-groups of 256, device allows %zu", dev->max_wg);
    if (dev->local_mem < 2 * 32 * 65 * 4)
        return mk__why(why, n, "needs %d bytes of local memory, device has %zu", 2 * 32 * 65 * 4, dev->local_mem);
    return 1;
}

/* Build options of qgemm.cl for call a into opts[n]: format, types, group size, division
   mode, extra (or ""); GEMV builds (mb > 0: tokens rounded up to a power of two) add
   QG_MB and the work-group size QG_NT. Returns the length. */
static int build_options(const mk_context *ctx, const mk_op_args *a, int mb, const char *extra, char *opts,
                         size_t n) {
    const mk_qweight_desc *d = &a->u.qgemm.w->desc;
    int len = snprintf(opts, n, "-DQG_FMT=%d -DT_IN=%d -DQG_ASYM=%d -DQG_GS=%d -DQG_DIV_MODE=%d %s",
                       (int)d->format, ocl_dtype_code(a->u.qgemm.x->dtype), d->asymmetric ? 1 : 0,
                       d->format == MK_QW4 || d->format == MK_QW8 ? d->group_size : 0,
                       needs_act_quant(d) ? division_mode(ctx) : 1, extra);
    if (mb > 0) len += snprintf(opts + len, n - (size_t)len, " -DQG_MB=%d -DQG_NT=%d", mb, gemv_threads(ctx, mb));
    return len;
}

/* Tokens of the call rounded up to a power of two (the GEMV builds' QG_MB). */
static int gemv_tokens(const mk_op_args *a) {
    int mb = 1;
    while (mb < (int)a->u.qgemm.x->shape[0]) mb *= 2;
    return mb;
}

static mk_status rows_run(mk_context *ctx, const mk_op_args *a) {
    const int mb = gemv_tokens(a), rows = rows_per_item(ctx, a->u.qgemm.w->impl, mb);
    char opts[320];
    int len = build_options(ctx, a, mb, "", opts, sizeof opts);
    snprintf(opts + len, sizeof opts - (size_t)len, " -DQG_ROWS=%d", rows);
    return gemv_rows_run(ctx, a, opts, rows, mb);
}

/* Runs the pre-pass (activation permutation or quantization) if the call needs one,
   then the GEMV (gemv = 1: qgemv) or tiled kernel; extra: more build options (or ""). */
static mk_status qgemm_run(mk_context *ctx, const mk_op_args *a, int gemv, const char *extra) {
    const mk_tensor *x = a->u.qgemm.x, *bias = a->u.qgemm.bias, *y = a->u.qgemm.y;
    const mk_qweight *qw = a->u.qgemm.w;
    const mk_qweight_desc *d = &qw->desc;
    const ocl_qw *w = qw->impl;
    const ocl_device *dev = ocl_of(ctx)->dev;
    int M = (int)x->shape[0], act = needs_act_quant(d);
    int kp = w->kc * codes_per_chunk(d), mb = gemv ? gemv_tokens(a) : 0;
    char opts[320];
    build_options(ctx, a, mb, extra, opts, sizeof opts);

    cl_mem mx = ocl_mem(x->buf), mxq = NULL, mxs = NULL, mperm = w->perm;
    cl_ulong ox = ocl_elem_offset(x);
    cl_long xs0 = x->stride[0];
    cl_int cK = (cl_int)d->k, cKp = kp, cM = M;
    mk_status s;
    if (act) { /* codes [M][kp] and per-token scales [M] */
        cl_kernel kq;
        cl_int has_perm = mperm != NULL;
        if ((s = ocl_scratch(ctx, OCL_SCRATCH_QGEMM_X, (size_t)M * kp, &mxq)) != MK_OK ||
            (s = ocl_scratch(ctx, OCL_SCRATCH_QGEMM_SCALE, (size_t)M * 4, &mxs)) != MK_OK ||
            (s = ocl_kernel(ctx, "qgemm.cl", "qg_quant_act", opts, &kq)) != MK_OK)
            return s;
        ocl_arg qa[] = {OCL_ARG(mx), OCL_ARG(ox), OCL_ARG(xs0), OCL_ARG(mperm), OCL_ARG(has_perm),
                        OCL_ARG(mxq), OCL_ARG(mxs), OCL_ARG(cK), OCL_ARG(cKp)};
        size_t qnt = 256;
        while (qnt > dev->max_wg) qnt /= 2;
        size_t qg[1] = {qnt * (size_t)M}, ql[1] = {qnt};
        if ((s = ocl_launch(ctx, kq, "qg_quant_act", 9, qa, 1, qg, ql)) != MK_OK) return s;
    } else if (mperm) { /* x[:, perm] -> scratch [M][kp], zero padded */
        cl_kernel kp_;
        cl_mem xp;
        if ((s = ocl_scratch(ctx, OCL_SCRATCH_QGEMM_X, (size_t)M * kp * 2, &xp)) != MK_OK ||
            (s = ocl_kernel(ctx, "qgemm.cl", "qg_permute_x", opts, &kp_)) != MK_OK)
            return s;
        ocl_arg pa[] = {OCL_ARG(mx), OCL_ARG(ox), OCL_ARG(xs0), OCL_ARG(mperm), OCL_ARG(xp),
                        OCL_ARG(cK), OCL_ARG(cKp)};
        size_t pg[2] = {(size_t)kp, (size_t)M};
        if ((s = ocl_launch(ctx, kp_, "qg_permute_x", 7, pa, 2, pg, NULL)) != MK_OK) return s;
        mx = xp, ox = 0, xs0 = kp;
    }

    const char *name = gemv ? "qgemv" : "qgemm_tiled";
    cl_kernel k;
    if ((s = ocl_kernel(ctx, "qgemm.cl", name, opts, &k)) != MK_OK) return s;
    cl_mem mq = w->q, msc = w->scales, mz = w->zeros, my = ocl_mem(y->buf);
    cl_mem mb_ = bias ? ocl_mem(bias->buf) : NULL;
    cl_ulong oy = ocl_elem_offset(y), ob = bias ? ocl_elem_offset(bias) : 0;
    cl_int cN = (cl_int)d->n, cKC = w->kc, cG = w->groups, has_bias = bias != NULL;
    ocl_arg args[] = {OCL_ARG(mq),  OCL_ARG(msc), OCL_ARG(mz), OCL_ARG(mx),  OCL_ARG(ox),
                      OCL_ARG(xs0), OCL_ARG(mxq), OCL_ARG(mxs), OCL_ARG(cM), OCL_ARG(cN),
                      OCL_ARG(cK),  OCL_ARG(cKC), OCL_ARG(cG), OCL_ARG(my),  OCL_ARG(oy),
                      OCL_ARG(mb_), OCL_ARG(ob),  OCL_ARG(has_bias)};
    int nargs = (int)(sizeof args / sizeof args[0]);
    if (gemv) {
        size_t g[1] = {(size_t)w->np}, l[1] = {(size_t)gemv_threads(ctx, mb)};
        return ocl_launch(ctx, k, name, nargs, args, 1, g, l);
    }
    size_t g[2] = {256 * (size_t)((d->n + 63) / 64), (size_t)((M + 63) / 64)}, l[2] = {256, 1};
    return ocl_launch(ctx, k, name, nargs, args, 2, g, l);
}

static mk_status gemv_run(mk_context *ctx, const mk_op_args *a) { return qgemm_run(ctx, a, 1, ""); }
static mk_status tiled_run(mk_context *ctx, const mk_op_args *a) { return qgemm_run(ctx, a, 0, ""); }
static mk_status dot8_run(mk_context *ctx, const mk_op_args *a) {
    return qgemm_run(ctx, a, 1, ocl_ext_options(ctx, OCL_EXT_INT_DOT));
}

static int rows_supports(const mk_context *ctx, const mk_op_args *a, char *why, size_t n) {
    if (a && a->u.qgemm.w->desc.format != MK_QW4) return mk__why(why, n, "W4 weights only");
    return gemv_supports(ctx, a, why, n);
}

static int dot8_supports(const mk_context *ctx, const mk_op_args *a, char *why, size_t n) {
    if (!ocl_ext_supports(ctx, OCL_EXT_INT_DOT, why, n)) return 0;
    if (a && a->u.qgemm.w->desc.format != MK_QW8A8)
        return mk__why(why, n, "W8A8 weights only (int8 activations)");
    return gemv_supports(ctx, a, why, n);
}

static const mk_kernel k_qgemv = {
    MK_OP_QGEMM, "opencl.qgemv", "opencl", 20,
    "GEMV for M <= 8: a work-item per output row, rows' weight words interleaved per 64-row tile",
    gemv_supports, gemv_run, NULL};

static const mk_kernel k_qgemv_rows = {
    MK_OP_QGEMM, "opencl.qgemv_rows", "opencl", 15,
    "W4 GEMV for M <= 8, for CPU drivers (their default): a work-item per 16-64 rows, 16-wide "
    "vectors, zero points taken out of the inner loop through the group sums of x",
    rows_supports, rows_run, NULL};

static const mk_kernel k_qgemm_tiled = {
    MK_OP_QGEMM, "opencl.qgemm_tiled", "opencl", 10,
    "64x64 tiles, weights dequantized into local memory (W8A8: i32 accumulation)",
    tiled_supports, tiled_run, NULL};

static const mk_kernel k_qgemv_dot8 = {
    MK_OP_QGEMM, "opencl.qgemv_dot8", "opencl", 25,
    "W8A8 GEMV for M <= 8 with cl_khr_integer_dot_product (4 int8 products per instruction)",
    dot8_supports, dot8_run, NULL};

static const mk_kernel *const ocl_qgemm_list[] = {&k_qgemv_dot8, &k_qgemv_rows, &k_qgemv, &k_qgemm_tiled};

const mk_kernel *const *ocl_qgemm_kernels(int *count) {
    *count = (int)(sizeof ocl_qgemm_list / sizeof ocl_qgemm_list[0]);
    return ocl_qgemm_list;
}
