/*
 * RMSNorm: y = x / sqrt(mean(x^2) + eps) * w, or * (1 + w) (Gemma), over each row.
 * One block per row; the sum of squares in f32 (per-thread fma chains, then the
 * deterministic block tree of block_reduce.cuh). y may be the very same view as x: the
 * row is fully reduced before any element is written, and each thread writes only the
 * elements it read.
 */
#include "block_reduce.cuh"
#include "dtype_io.cuh"
#include "mk_cuda_kernels.h"
#include "norm_launch.cuh"

namespace {

template <class T>
__global__ void __launch_bounds__(1024) rmsnorm_kernel(const typename T::storage *x, int64_t x_rs,
                                                       const typename T::storage *w,
                                                       typename T::storage *y, int64_t rows, int n,
                                                       float eps, int plus_one, int cached) {
    typedef typename T::storage S;
    extern __shared__ float row_cache[];
    __shared__ float red[32];
    const float one = plus_one ? 1.0f : 0.0f;
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const S *xr = x + r * x_rs;
        S *yr = y + r * (int64_t)n;
        float ss = 0.0f;
        for (int i = threadIdx.x; i < n; i += blockDim.x) {
            const float v = T::load(xr[i]);
            if (cached) row_cache[i] = v;
            ss = fmaf(v, v, ss);
        }
        ss = mkc::block_sum(ss, red);
        const float inv = 1.0f / sqrtf(ss / (float)n + eps);
        for (int i = threadIdx.x; i < n; i += blockDim.x) {
            const float v = cached ? row_cache[i] : T::load(xr[i]);
            yr[i] = T::store(v * inv * (one + T::load(w[i])));
        }
    }
}

template <class T>
cudaError_t launch(const void *x, int64_t x_rs, const void *w, void *y, int64_t rows, int n,
                   float eps, int plus_one, cudaStream_t stream) {
    typedef typename T::storage S;
    const mkc::norm_launch l = mkc::norm_shape(rows, n);
    rmsnorm_kernel<T><<<l.grid, l.threads, l.smem, stream>>>(
        static_cast<const S *>(x), x_rs, static_cast<const S *>(w), static_cast<S *>(y), rows, n,
        eps, plus_one, l.cached);
    return cudaGetLastError();
}

} /* namespace */

extern "C" cudaError_t mkc_rmsnorm(mk_dtype t, const void *x, int64_t x_rs, const void *w, void *y,
                                   int64_t rows, int n, float eps, int plus_one, cudaStream_t stream) {
    if (rows <= 0 || n <= 0) return cudaSuccess;
    MKC_DISPATCH_FLOAT(t, T, launch<T>(x, x_rs, w, y, rows, n, eps, plus_one, stream))
}
