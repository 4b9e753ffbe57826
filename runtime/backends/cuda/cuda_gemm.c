/*
 * Dense GEMM variant "cuda.cublas": y [M, N] = x [M, K] . w [N, K]^T (+ bias) through
 * cublasGemmEx with f32 accumulation (CUBLAS_COMPUTE_32F; the handle's math mode allows
 * neither TF32 nor reduced-precision reductions).
 *
 * Row-major to column-major: a row-major [R][C] matrix with row stride ld is, to cuBLAS,
 * the column-major C x R matrix with leading dimension ld. y [M][N] is then y^T (N x M,
 * ld N), and y^T = w . x^T where w [N][K] arrives as w^T (K x N, ld = w's row stride;
 * transposed back with CUBLAS_OP_T) and x [M][K] as x^T (K x M, ld = x's row stride;
 * CUBLAS_OP_N): cublasGemmEx(OP_T, OP_N, m = N, n = M, k = K, A = w, B = x, C = y).
 *
 * Bias: y is first filled with bias broadcast over the rows and the GEMM runs with
 * beta = 1, so every output is rounded once.
 */
#include <limits.h>

#include "cuda/cuda_internal.h"

static cudaDataType_t cuda_type(mk_dtype t) {
    return t == MK_F16 ? CUDA_R_16F : t == MK_BF16 ? CUDA_R_16BF : CUDA_R_32F;
}

/* Leading dimension of a 2-D operand as cuBLAS needs it (>= its row length). */
static int64_t lead_dim(const mk_tensor *t) { return t->shape[0] > 1 ? t->stride[0] : t->shape[1]; }

static int sup_cublas(const mk_context *ctx, const mk_op_args *a, char *why, size_t n) {
    (void)ctx; /* cuBLAS carries its own code for every GPU it supports */
    if (!a) return 1;
    const mk_tensor *x = a->u.gemm.x, *w = a->u.gemm.w;
    const int64_t M = x->shape[0], K = x->shape[1], N = w->shape[0];
    if (M > INT_MAX || N > INT_MAX || K > INT_MAX)
        return mk__why(why, n, "M, N or K exceeds 2^31-1 (cuBLAS takes int)");
    if (lead_dim(x) < K) return mk__why(why, n, "x's row stride %lld < K: rows overlap", (long long)lead_dim(x));
    if (lead_dim(w) < K) return mk__why(why, n, "w's row stride %lld < K: rows overlap", (long long)lead_dim(w));
    if (lead_dim(x) > INT_MAX || lead_dim(w) > INT_MAX)
        return mk__why(why, n, "a row stride exceeds 2^31-1 (cuBLAS takes int)");
    return 1;
}

static mk_status run_cublas(mk_context *ctx, const mk_op_args *a) {
    const mk_tensor *x = a->u.gemm.x, *w = a->u.gemm.w, *bias = a->u.gemm.bias, *y = a->u.gemm.y;
    const int M = (int)x->shape[0], K = (int)x->shape[1], N = (int)w->shape[0];
    cuda_ctx *c = cuda_of(ctx);
    mk_status s = cuda_enter(ctx);
    if (s != MK_OK) return s;
    const float alpha = 1.0f, beta = bias ? 1.0f : 0.0f;
    if (bias &&
        (s = cuda_launched(mkc_gemm_bias_fill(mk_dtype_size(y->dtype), cuda_ptr(bias), cuda_ptr(y), M, N,
                                              c->stream),
                           "gemm bias fill")) != MK_OK)
        return s;
    const cudaDataType_t t = cuda_type(x->dtype);
    cublasStatus_t st = cublasGemmEx(c->blas, CUBLAS_OP_T, CUBLAS_OP_N, N, M, K, &alpha, cuda_ptr(w), t,
                                     (int)lead_dim(w), cuda_ptr(x), t, (int)lead_dim(x), &beta,
                                     cuda_ptr(y), t, N, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    return st == CUBLAS_STATUS_SUCCESS ? MK_OK : cuda_blas_fail(st, "cublasGemmEx");
}

static const mk_kernel k_gemm = {MK_OP_GEMM, "cuda.cublas", "cuda", 10,
                                 "cublasGemmEx, f32 accumulation, bias folded in with beta = 1",
                                 sup_cublas, run_cublas, NULL};

static const mk_kernel *const kernels[] = {&k_gemm};

const mk_kernel *const *cuda_gemm_kernels(int *count) {
    *count = (int)(sizeof kernels / sizeof kernels[0]);
    return kernels;
}
