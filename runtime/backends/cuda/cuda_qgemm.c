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
 *   cuda.w8a8_mma    QW8A8 weights (sm_80+) and
 *   cuda.fp8_mma     QFP8 weights (sm_89+), F16/BF16 activations, any M up to 65535: x
 *                    quantized per token on the device (int8 or e4m3, as the reference),
 *                    then mma.sync m16n8k32 on the same block and K split as
 *                    cuda.w4a16_mma (kernels/cuda/qgemm_w8a8.cu). The codes and scales of x
 *                    and the split-K partials live in CUDA_SCRATCH_QGEMM_SPLIT. At large M
 *                    each block of 16 rows streams the weight again (from L2): correct, not
 *                    the cuBLASLt int8/FP8 path a large M wants (not written yet).
 * The M <= 64 limit of the mma kernel is its design point (a block
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
        return mk__why(why, n, "QW4 and QW8 weights only (QW8A8 and QFP8: cuda.w8a8_mma, cuda.fp8_mma)");
    const mk_tensor *x = a->u.qgemm.x;
    if (x->dtype != MK_F16 && x->dtype != MK_BF16) return mk__why(why, n, "x must be F16 or BF16");
    if (x->shape[0] > W16_MAX_M)
        return mk__why(why, n, "M = %lld > %d (small-M kernel; no large-M CUDA path yet)",
                       (long long)x->shape[0], W16_MAX_M);
    if (d->k > INT_MAX || d->n > INT_MAX) return mk__why(why, n, "N or K exceeds 2^31-1");
    const mkc_qgemm_weight kw = kernel_weight(qw->impl);
    mkc_qgemm_mma_plan plan;
    if (!mkc_qgemm_w16_plan_of(&kw, x->shape[0], cuda_of(ctx)->dev->sm_count, &plan))
        return mk__why(why, n, "K = %lld: more than 2^24 weight tiles along K", (long long)d->k);
    return 1;
}

/* cuda.w8a8_mma (fp8 = 0) and cuda.fp8_mma (fp8 = 1) */
static int sup_a8_mma(const mk_context *ctx, const mk_op_args *a, int fp8, char *why, size_t n) {
    const cuda_device *dev = cuda_of(ctx)->dev;
    if (!fp8 && dev->cc_major < 8)
        return mk__why(why, n, "needs sm_80 or newer (mma.sync m16n8k32 s8); this GPU is sm_%d%d", dev->cc_major,
                       dev->cc_minor);
    if (fp8 && dev->cc_major * 10 + dev->cc_minor < 89)
        return mk__why(why, n, "FP8 needs sm_89 or newer (mma.sync m16n8k32 e4m3); this GPU is sm_%d%d",
                       dev->cc_major, dev->cc_minor);
    if (!cuda_kernels_available(ctx, why, n)) return 0;
    if (!a) return 1;
    const mk_qweight *qw = a->u.qgemm.w;
    if (qw->desc.format != (fp8 ? MK_QFP8 : MK_QW8A8))
        return mk__why(why, n, fp8 ? "QFP8 weights only" : "QW8A8 weights only");
    const mk_tensor *x = a->u.qgemm.x;
    if (x->dtype != MK_F16 && x->dtype != MK_BF16) return mk__why(why, n, "x must be F16 or BF16");
    if (qw->desc.k > INT_MAX || qw->desc.n > INT_MAX) return mk__why(why, n, "N or K exceeds 2^31-1");
    if (!fp8 && qw->desc.k > INT_MAX / (127 * 127))
        return mk__why(why, n, "K = %lld > %d: the int8 dot products could overflow s32", (long long)qw->desc.k,
                       INT_MAX / (127 * 127));
    const mkc_qgemm_weight kw = kernel_weight(qw->impl);
    mkc_qgemm_mma_plan plan;
    if (!mkc_qgemm_a8_plan_of(&kw, x->shape[0], dev->sm_count, &plan))
        return mk__why(why, n, "M = %lld or K = %lld out of range (M <= 65535, K <= 2^29)",
                       (long long)x->shape[0], (long long)qw->desc.k);
    return 1;
}
static int sup_w8a8_mma(const mk_context *ctx, const mk_op_args *a, char *why, size_t n) {
    return sup_a8_mma(ctx, a, 0, why, n);
}
static int sup_fp8_mma(const mk_context *ctx, const mk_op_args *a, char *why, size_t n) {
    return sup_a8_mma(ctx, a, 1, why, n);
}

/* Formats whose activations are quantized to 8 bits (kernels/cuda/qgemm_w8a8.cu). */
static int is_a8(mk_qformat f) { return f == MK_QW8A8 || f == MK_QFP8; }

/* The mma kernels' work partition for this call (0 when out of range: supports() said). */
static int mma_plan(const mkc_qgemm_weight *kw, mk_qformat f, int64_t M, int sms, mkc_qgemm_mma_plan *plan) {
    return is_a8(f) ? mkc_qgemm_a8_plan_of(kw, M, sms, plan) : mkc_qgemm_w16_plan_of(kw, M, sms, plan);
}

/* cuda.w4a16_mma, cuda.w8a8_mma and cuda.fp8_mma: one launch sequence on the stream, its
   scratch (split-K partials; the x codes and scales of the 8-bit kernels) the context's
   grow-only slot. */
static mk_status run_mma(mk_context *ctx, const mk_op_args *a) {
    const mk_tensor *x = a->u.qgemm.x, *bias = a->u.qgemm.bias, *y = a->u.qgemm.y;
    const mk_qweight *qw = a->u.qgemm.w;
    const mk_qformat f = qw->desc.format;
    cuda_ctx *c = cuda_of(ctx);
    mk_status s = cuda_enter(ctx);
    if (s != MK_OK) return s;
    const mkc_qgemm_weight kw = kernel_weight(qw->impl);
    const int64_t M = x->shape[0], x_rs = M > 1 ? x->stride[0] : x->shape[1];
    mkc_qgemm_mma_plan plan;
    if (!mma_plan(&kw, f, M, c->dev->sm_count, &plan))
        return mk__fail(MK_ERR_INVALID_ARGUMENT, "qgemm: M or K out of the mma kernels' range"); /* supports() said */
    void *scratch = NULL;
    const void *bp = bias ? cuda_ptr(bias) : NULL;
    pthread_mutex_lock(&c->lock);
    if (plan.scratch_bytes) s = cuda_scratch(c, CUDA_SCRATCH_QGEMM_SPLIT, plan.scratch_bytes, &scratch);
    if (s == MK_OK && is_a8(f))
        s = cuda_launched(mkc_qgemm_a8(x->dtype, f == MK_QFP8, &kw, cuda_ptr(x), x_rs, bp, cuda_ptr(y), M, &plan,
                                       scratch, c->stream),
                          "qgemm_a8");
    else if (s == MK_OK)
        s = cuda_launched(mkc_qgemm_w16(x->dtype, &kw, cuda_ptr(x), x_rs, bp, cuda_ptr(y), M, &plan, (float *)scratch,
                                        c->stream),
                          "qgemm_w16");
    pthread_mutex_unlock(&c->lock);
    return s;
}

static int sup_dequant_cublas(const mk_context *ctx, const mk_op_args *a, char *why, size_t n) {
    if (!cuda_kernels_available(ctx, why, n)) return 0;
    if (!a) return 1;
    const mk_qweight_desc *d = &a->u.qgemm.w->desc;
    if (d->format != MK_QW4 && d->format != MK_QW8)
        return mk__why(why, n, "QW4 and QW8 weights only (QW8A8 and QFP8: cuda.w8a8_mma, cuda.fp8_mma)");
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
    sup_w4a16_mma, run_mma, NULL};

static const mk_kernel k_w8a8_mma = {
    MK_OP_QGEMM, "cuda.w8a8_mma", "cuda", 20,
    "W8A8 int8, any M: x quantized per token on the device, mma.sync m16n8k32 s8 -> s32 on "
    "pre-shuffled tiles, per-token x per-channel scales on the exact sums",
    sup_w8a8_mma, run_mma, NULL};

static const mk_kernel k_fp8_mma = {
    MK_OP_QGEMM, "cuda.fp8_mma", "cuda", 20,
    "FP8 e4m3 (sm_89+), any M: x quantized per token to e4m3 on the device, mma.sync m16n8k32 "
    "e4m3 -> f32 on pre-shuffled tiles, per-token x per-channel scales",
    sup_fp8_mma, run_mma, NULL};

static const mk_kernel *const kernels[] = {&k_w4a16_mma, &k_w8a8_mma, &k_fp8_mma, &k_dequant_cublas};

const mk_kernel *const *cuda_qgemm_kernels(int *count) {
    *count = (int)(sizeof kernels / sizeof kernels[0]);
    return kernels;
}
