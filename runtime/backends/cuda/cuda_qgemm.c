/*
 * Quantized GEMM variants of the CUDA backend (MK_OP_QGEMM):
 *   cuda.w4a16_mma   QW4 and QW8 weights, F16/BF16 activations, M <= 64: mma.sync
 *                    m16n8k16 on the packed layout of kernels/cuda/qgemm_layout.h, the
 *                    weight through a 4-stage cp.async ring, x and the group scales
 *                    staged once per block, codes dequantized in registers, f32
 *                    accumulation, group scales applied to f32 partial sums, K split
 *                    over the SMs at small M with the splits summed in order
 *                    (kernels/cuda/qgemm_w4a16.cu). Its split-K partials live in the
 *                    context's grow-only slot CUDA_SCRATCH_QGEMM_SPLIT. Needs sm_80+.
 *   cuda.dequant_cublas  QW4 and QW8, any M: the weight dequantized into a scratch F16/BF16
 *                    matrix (k_perm folded into its columns; each weight rounded once to
 *                    the activation type) and cublasGemmEx with f32 accumulation, bias
 *                    folded in with beta = 1 as in cuda_gemm.c. The scratch is the
 *                    context's grow-only slot CUDA_SCRATCH_QGEMM_W (cuda_scratch.c):
 *                    no allocation or free per call once it is large enough.
 * Not written yet: W8A8 int8 tensor cores and FP8 e4m3 (no CUDA variant:
 * MK_ERR_UNSUPPORTED). The M <= 64 limit of the mma kernel is its design point (a block
 * takes 16 rows of x; more rows are more blocks, each streaming the weight again from L2),
 * not a measurement; the crossover to the cuBLAS path awaits a GPU.
 */
#include <limits.h>

#include "cuda/cuda_internal.h"

#define W16_MAX_M 64

/* The kernels' description of w: its layout and its device arrays. */
static mkc_qgemm_weight kernel_weight(const cuda_qweight *w) {
    return (mkc_qgemm_weight){w->layout, w->q, w->scales, w->zeros, w->k_perm};
}

static int sup_w4a16_mma(const mk_context *ctx, const mk_op_args *a, char *why, size_t n) {
    const cuda_device *dev = cuda_of(ctx)->dev;
    if (dev->cc_major < 8)
        return mk__why(why, n, "needs sm_80 or newer (mma.sync m16n8k16 with bf16); this GPU is sm_%d%d",
                       dev->cc_major, dev->cc_minor);
    if (!cuda_kernels_available(ctx, why, n)) return 0;
    if (!a) return 1;
    const mk_qweight *qw = a->u.qgemm.w;
    const mk_qweight_desc *d = &qw->desc;
    if (d->format != MK_QW4 && d->format != MK_QW8)
        return mk__why(why, n, "QW4 and QW8 weights only (W8A8 and FP8 have no CUDA kernel yet)");
    const mk_tensor *x = a->u.qgemm.x;
    if (x->dtype != MK_F16 && x->dtype != MK_BF16) return mk__why(why, n, "x must be F16 or BF16");
    if (x->shape[0] > W16_MAX_M)
        return mk__why(why, n, "M = %lld > %d (small-M kernel; no large-M CUDA path yet)",
                       (long long)x->shape[0], W16_MAX_M);
    if (d->k > INT_MAX || d->n > INT_MAX) return mk__why(why, n, "N or K exceeds 2^31-1");
    const mkc_qgemm_weight kw = kernel_weight(qw->impl);
    mkc_qgemm_w16_plan plan;
    if (!mkc_qgemm_w16_plan_of(&kw, x->shape[0], cuda_of(ctx)->dev->sm_count, &plan))
        return mk__why(why, n, "K = %lld: more than 2^24 weight tiles along K", (long long)d->k);
    return 1;
}

static mk_status run_w4a16_mma(mk_context *ctx, const mk_op_args *a) {
    const mk_tensor *x = a->u.qgemm.x, *bias = a->u.qgemm.bias, *y = a->u.qgemm.y;
    const mk_qweight *qw = a->u.qgemm.w;
    cuda_ctx *c = cuda_of(ctx);
    mk_status s = cuda_enter(ctx);
    if (s != MK_OK) return s;
    const mkc_qgemm_weight kw = kernel_weight(qw->impl);
    const int64_t x_rs = x->shape[0] > 1 ? x->stride[0] : x->shape[1];
    mkc_qgemm_w16_plan plan;
    if (!mkc_qgemm_w16_plan_of(&kw, x->shape[0], c->dev->sm_count, &plan))
        return mk__fail(MK_ERR_INVALID_ARGUMENT, "qgemm: M or K out of cuda.w4a16_mma's range"); /* supports() said */
    void *scratch = NULL; /* split-K partials: the context's grow-only scratch */
    pthread_mutex_lock(&c->lock);
    if (plan.scratch_bytes) s = cuda_scratch(c, CUDA_SCRATCH_QGEMM_SPLIT, plan.scratch_bytes, &scratch);
    if (s == MK_OK)
        s = cuda_launched(mkc_qgemm_w16(x->dtype, &kw, cuda_ptr(x), x_rs, bias ? cuda_ptr(bias) : NULL, cuda_ptr(y),
                                        x->shape[0], &plan, (float *)scratch, c->stream),
                          "qgemm_w16");
    pthread_mutex_unlock(&c->lock);
    return s;
}

static int sup_dequant_cublas(const mk_context *ctx, const mk_op_args *a, char *why, size_t n) {
    if (!cuda_kernels_available(ctx, why, n)) return 0;
    if (!a) return 1;
    const mk_qweight_desc *d = &a->u.qgemm.w->desc;
    if (d->format != MK_QW4 && d->format != MK_QW8)
        return mk__why(why, n, "QW4 and QW8 weights only (W8A8 and FP8 have no CUDA kernel yet)");
    const mk_tensor *x = a->u.qgemm.x;
    if (x->dtype == MK_BF16 && cuda_of(ctx)->dev->cc_major < 8)
        return mk__why(why, n, "BF16 GEMMs need sm_80 or newer");
    const int64_t x_rs = x->shape[0] > 1 ? x->stride[0] : x->shape[1];
    if (x->shape[0] > INT_MAX || d->n > INT_MAX || d->k > INT_MAX || x_rs > INT_MAX)
        return mk__why(why, n, "M, N, K or x's row stride exceeds 2^31-1 (cuBLAS takes int)");
    if ((uint64_t)d->n * (uint64_t)d->k > (uint64_t)1 << 40)
        return mk__why(why, n, "the dequantized weight would exceed 2 TiB");
    return 1;
}

static mk_status run_dequant_cublas(mk_context *ctx, const mk_op_args *a) {
    const mk_tensor *x = a->u.qgemm.x, *bias = a->u.qgemm.bias, *y = a->u.qgemm.y;
    const cuda_qweight *w = a->u.qgemm.w->impl;
    const cuda_qpack_layout *L = &w->layout;
    cuda_ctx *c = cuda_of(ctx);
    mk_status s = cuda_enter(ctx);
    if (s != MK_OK) return s;
    const int M = (int)x->shape[0], N = (int)L->n, K = (int)L->k;
    const int x_rs = (int)(x->shape[0] > 1 ? x->stride[0] : x->shape[1]);
    const mkc_qgemm_weight kw = kernel_weight(w);
    void *wd = NULL; /* the context's scratch: grown once, reused by later calls */
    pthread_mutex_lock(&c->lock);
    s = cuda_scratch(c, CUDA_SCRATCH_QGEMM_W, (size_t)N * (size_t)K * 2, &wd);
    if (s == MK_OK && (s = cuda_launched(mkc_qgemm_dequant(x->dtype, &kw, wd, c->stream), "qgemm_dequant")) == MK_OK && bias)
        s = cuda_launched(mkc_gemm_bias_fill(2, cuda_ptr(bias), cuda_ptr(y), M, N, c->stream), "gemm bias fill");
    if (s == MK_OK) {
        const float alpha = 1.0f, beta = bias ? 1.0f : 0.0f;
        const cudaDataType_t t = x->dtype == MK_F16 ? CUDA_R_16F : CUDA_R_16BF;
        cublasStatus_t st = cublasGemmEx(c->blas, CUBLAS_OP_T, CUBLAS_OP_N, N, M, K, &alpha, wd, t, K,
                                         cuda_ptr(x), t, x_rs, &beta, cuda_ptr(y), t, N, CUBLAS_COMPUTE_32F,
                                         CUBLAS_GEMM_DEFAULT);
        if (st != CUBLAS_STATUS_SUCCESS) s = cuda_blas_fail(st, "cublasGemmEx (dequantized weight)");
    }
    pthread_mutex_unlock(&c->lock);
    return s;
}

static const mk_kernel k_dequant_cublas = {
    MK_OP_QGEMM, "cuda.dequant_cublas", "cuda", 10,
    "any M: the weight dequantized to a scratch F16/BF16 matrix (k_perm folded in), then cublasGemmEx "
    "with f32 accumulation",
    sup_dequant_cublas, run_dequant_cublas, NULL};

static const mk_kernel k_w4a16_mma = {
    MK_OP_QGEMM, "cuda.w4a16_mma", "cuda", 20,
    "W4A16/W8A16 for M <= 64: mma.sync m16n8k16 on pre-shuffled tiles, 16-byte weight loads, "
    "f32 accumulation, group scales on f32 partial sums",
    sup_w4a16_mma, run_w4a16_mma, NULL};

static const mk_kernel *const kernels[] = {&k_w4a16_mma, &k_dequant_cublas};

const mk_kernel *const *cuda_qgemm_kernels(int *count) {
    *count = (int)(sizeof kernels / sizeof kernels[0]);
    return kernels;
}
