/*
 * Bias for the cuBLAS GEMM: y [M][N] = bias broadcast over the rows, as raw element
 * copies. The GEMM then runs with beta = 1 and accumulates x.w^T onto it in f32, so each
 * output is rounded once (an epilogue adding bias to an already-rounded f16/bf16 y would
 * round twice).
 */
#include "mk_cuda_kernels.h"

namespace {

template <class W>
__global__ void __launch_bounds__(256) bias_fill_kernel(const W *bias, W *y, int64_t M, int64_t N) {
    for (int64_t r = blockIdx.y; r < M; r += gridDim.y) {
        W *yr = y + r * N;
        for (int64_t j = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; j < N;
             j += (int64_t)gridDim.x * blockDim.x)
            yr[j] = bias[j];
    }
}

template <class W>
cudaError_t launch(const void *bias, void *y, int64_t M, int64_t N, cudaStream_t stream) {
    int64_t bx = (N + 255) / 256;
    if (bx > 4096) bx = 4096;
    const int64_t by = M < 65535 ? M : 65535;
    bias_fill_kernel<W><<<dim3((unsigned)bx, (unsigned)by), 256, 0, stream>>>(
        static_cast<const W *>(bias), static_cast<W *>(y), M, N);
    return cudaGetLastError();
}

} /* namespace */

extern "C" cudaError_t mkc_gemm_bias_fill(size_t elem_bytes, const void *bias, void *y, int64_t M,
                                          int64_t N, cudaStream_t stream) {
    if (M <= 0 || N <= 0) return cudaSuccess;
    if (elem_bytes == 4) return launch<uint32_t>(bias, y, M, N, stream);
    if (elem_bytes == 2) return launch<uint16_t>(bias, y, M, N, stream);
    return cudaErrorInvalidValue;
}
