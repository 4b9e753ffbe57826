/*
 * LayerNorm: y = (x - mean) / sqrt(var + eps) * w (+ b) over each row, biased variance
 * from a second pass over (x - mean) (not E[x^2] - mean^2, which cancels). One block per
 * row, f32 sums through the deterministic block tree. y may be the very same view as x
 * (each thread writes only the elements it read, after both reductions).
 */
#include "block_reduce.cuh"
#include "dtype_io.cuh"
#include "mk_cuda_kernels.h"
#include "norm_launch.cuh"

namespace {

template <class T>
__global__ void __launch_bounds__(1024) layernorm_kernel(const typename T::storage *x, int64_t x_rs,
                                                         const typename T::storage *w,
                                                         const typename T::storage *b,
                                                         typename T::storage *y, int64_t rows,
                                                         int n, float eps, int cached) {
    typedef typename T::storage S;
    extern __shared__ float row_cache[];
    __shared__ float red[32];
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const S *xr = x + r * x_rs;
        S *yr = y + r * (int64_t)n;
        float sum = 0.0f;
        for (int i = threadIdx.x; i < n; i += blockDim.x) {
            const float v = T::load(xr[i]);
            if (cached) row_cache[i] = v;
            sum += v;
        }
        const float mean = mkc::block_sum(sum, red) / (float)n;
        float sq = 0.0f;
        for (int i = threadIdx.x; i < n; i += blockDim.x) {
            const float d = (cached ? row_cache[i] : T::load(xr[i])) - mean;
            sq = fmaf(d, d, sq);
        }
        const float var = mkc::block_sum(sq, red) / (float)n;
        const float inv = 1.0f / sqrtf(var + eps);
        for (int i = threadIdx.x; i < n; i += blockDim.x) {
            const float d = (cached ? row_cache[i] : T::load(xr[i])) - mean;
            float v = d * inv * T::load(w[i]);
            if (b) v += T::load(b[i]);
            yr[i] = T::store(v);
        }
    }
}

template <class T>
cudaError_t launch(const void *x, int64_t x_rs, const void *w, const void *b, void *y,
                   int64_t rows, int n, float eps, cudaStream_t stream) {
    typedef typename T::storage S;
    const mkc::norm_launch l = mkc::norm_shape(rows, n);
    layernorm_kernel<T><<<l.grid, l.threads, l.smem, stream>>>(
        static_cast<const S *>(x), x_rs, static_cast<const S *>(w), static_cast<const S *>(b),
        static_cast<S *>(y), rows, n, eps, l.cached);
    return cudaGetLastError();
}

} /* namespace */

extern "C" cudaError_t mkc_layernorm(mk_dtype t, const void *x, int64_t x_rs, const void *w,
                                     const void *b, void *y, int64_t rows, int n, float eps,
                                     cudaStream_t stream) {
    if (rows <= 0 || n <= 0) return cudaSuccess;
    MKC_DISPATCH_FLOAT(t, T, launch<T>(x, x_rs, w, b, y, rows, n, eps, stream))
}
