/*
 * The split-K reduce of the small-M quantized GEMMs (qgemm_mma_block.cuh):
 *   y[m][n] = sum over splits s, in order, of partial[s][m][n], + bias[n],
 * one thread an output, columns along grid x, rows along grid y (no division).
 * Deterministic: the same order for every element and run.
 */
#include "dtype_io.cuh"
#include "qgemm_mma_block.cuh"

namespace {

template <class T>
__global__ void __launch_bounds__(256) qgemm_splitk_reduce_kernel(const float *__restrict__ partial, int splits,
                                                                  int M, int N, const uint16_t *__restrict__ bias,
                                                                  uint16_t *__restrict__ y) {
    const int n = (int)blockIdx.x * 256 + (int)threadIdx.x;
    if (n >= N) return;
    const int64_t i = (int64_t)blockIdx.y * N + n, MN = (int64_t)M * N;
    float s = 0.f;
    for (int sp = 0; sp < splits; sp++) s += partial[sp * MN + i];
    if (bias) s += T::load(bias[n]);
    y[i] = T::store(s);
}

} /* namespace */

cudaError_t mkc::qg::splitk_reduce(mk_dtype t, const float *partial, int splits, int M, int N, const uint16_t *bias,
                                   uint16_t *y, cudaStream_t stream) {
    const dim3 grid((unsigned)((N + 255) / 256), (unsigned)M);
    if (t == MK_F16) qgemm_splitk_reduce_kernel<mkc::f16><<<grid, 256, 0, stream>>>(partial, splits, M, N, bias, y);
    else if (t == MK_BF16) qgemm_splitk_reduce_kernel<mkc::bf16><<<grid, 256, 0, stream>>>(partial, splits, M, N, bias, y);
    else return cudaErrorInvalidValue;
    return cudaGetLastError();
}
