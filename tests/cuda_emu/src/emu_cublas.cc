/*
 * medkern's CUDA emulator: the cuBLAS subset of cublas_v2.h / cublasLt.h on the host.
 * cublasGemmEx follows the cuBLAS reference's definition: column-major
 *   C = alpha op(A) op(B) + beta C,  op(A) m x k, op(B) k x n, C m x n (ldc >= m),
 *   op(X) = X (N) or X^T (T), A(i, l) = A[i + l lda] for N, A[l + i lda] for T.
 * Products are summed in double and rounded to f32, then alpha and beta apply in f32 and
 * the result is rounded to C's type; beta == 0 never reads C (C may hold NaN).
 */
#include <stdlib.h>
#include <string.h>

#include <vector>

#include "cublasLt.h"
#include "cuda_emu_float.h"
#include "emu_internal.h"

struct cublasContext {
    cudaStream_t stream;
};
struct cublasLtContext {
    int unused;
};

static bool type_ok(cudaDataType_t t) { return t == CUDA_R_32F || t == CUDA_R_16F || t == CUDA_R_16BF; }

static double load(cudaDataType_t t, const void *p, size_t i) {
    switch (t) {
    case CUDA_R_32F: return static_cast<const float *>(p)[i];
    case CUDA_R_16F: return mkemu::f16_to_double(static_cast<const uint16_t *>(p)[i]);
    default: return mkemu::bf16_to_double(static_cast<const uint16_t *>(p)[i]);
    }
}

static void store(cudaDataType_t t, void *p, size_t i, float v) {
    switch (t) {
    case CUDA_R_32F: static_cast<float *>(p)[i] = v; break;
    case CUDA_R_16F: static_cast<uint16_t *>(p)[i] = mkemu::f16_from_double(v); break;
    default: static_cast<uint16_t *>(p)[i] = mkemu::bf16_from_double(v); break;
    }
}

extern "C" {

cublasStatus_t cublasCreate(cublasHandle_t *h) {
    if (!h) return CUBLAS_STATUS_INVALID_VALUE;
    *h = new cublasContext{nullptr};
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDestroy(cublasHandle_t h) {
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    delete h;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream(cublasHandle_t h, cudaStream_t s) {
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    h->stream = s;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetWorkspace(cublasHandle_t h, void *w, size_t bytes) {
    (void)w, (void)bytes;
    return h ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_NOT_INITIALIZED;
}

cublasStatus_t cublasSetMathMode(cublasHandle_t h, cublasMath_t mode) {
    (void)mode;
    return h ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_NOT_INITIALIZED;
}

const char *cublasGetStatusString(cublasStatus_t s) {
    switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    }
    return "CUBLAS_STATUS_UNKNOWN";
}

cublasStatus_t cublasGemmEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                            const void *alpha, const void *A, cudaDataType_t At, int lda, const void *B,
                            cudaDataType_t Bt, int ldb, const void *beta, void *C, cudaDataType_t Ct, int ldc,
                            cublasComputeType_t ct, cublasGemmAlgo_t algo) {
    (void)algo;
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (m < 0 || n < 0 || k < 0 || !alpha || !beta || (ta != CUBLAS_OP_N && ta != CUBLAS_OP_T) ||
        (tb != CUBLAS_OP_N && tb != CUBLAS_OP_T) || lda < (ta == CUBLAS_OP_N ? (m > 1 ? m : 1) : (k > 1 ? k : 1)) ||
        ldb < (tb == CUBLAS_OP_N ? (k > 1 ? k : 1) : (n > 1 ? n : 1)) || ldc < (m > 1 ? m : 1))
        return CUBLAS_STATUS_INVALID_VALUE;
    if (!type_ok(At) || !type_ok(Bt) || !type_ok(Ct) || (ct != CUBLAS_COMPUTE_32F && ct != CUBLAS_COMPUTE_32F_PEDANTIC))
        return CUBLAS_STATUS_NOT_SUPPORTED;
    if (mkemu::sticky_error() != cudaSuccess) return CUBLAS_STATUS_EXECUTION_FAILED;
    const float al = *static_cast<const float *>(alpha), be = *static_cast<const float *>(beta);
    /* op(A) as rows of k and op(B)^T as rows of k, converted once: the dot products then
       run over contiguous doubles */
    std::vector<double> a((size_t)m * k), b((size_t)n * k);
    for (int i = 0; i < m; i++)
        for (int l = 0; l < k; l++)
            a[(size_t)i * k + l] = load(At, A, ta == CUBLAS_OP_N ? (size_t)i + (size_t)l * lda : (size_t)l + (size_t)i * lda);
    for (int j = 0; j < n; j++)
        for (int l = 0; l < k; l++)
            b[(size_t)j * k + l] = load(Bt, B, tb == CUBLAS_OP_N ? (size_t)l + (size_t)j * ldb : (size_t)j + (size_t)l * ldb);
    for (int j = 0; j < n; j++)
        for (int i = 0; i < m; i++) {
            const double *ar = &a[(size_t)i * k], *bc = &b[(size_t)j * k];
            double acc = 0.0;
            for (int l = 0; l < k; l++) acc += ar[l] * bc[l];
            const size_t ic = (size_t)i + (size_t)j * ldc;
            float v = al * (float)acc;
            if (be != 0.0f) v += be * (float)load(Ct, C, ic);
            store(Ct, C, ic, v);
        }
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtCreate(cublasLtHandle_t *h) {
    if (!h) return CUBLAS_STATUS_INVALID_VALUE;
    *h = new cublasLtContext{0};
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtDestroy(cublasLtHandle_t h) {
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    delete h;
    return CUBLAS_STATUS_SUCCESS;
}

} /* extern "C" */
