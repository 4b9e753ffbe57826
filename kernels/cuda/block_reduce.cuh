/*
 * Deterministic f32 reductions: warp butterflies (shuffles) and a block sum and maximum
 * through 32 words of shared memory. The order of the additions depends only on blockDim, so the
 * same inputs give the same bits on every run (no atomics).
 */
#ifndef MEDKERN_KERNELS_CUDA_BLOCK_REDUCE_CUH
#define MEDKERN_KERNELS_CUDA_BLOCK_REDUCE_CUH

namespace mkc {

static __device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, off);
    return v;
}

static __device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) v = fmaxf(v, __shfl_xor_sync(0xFFFFFFFFu, v, off));
    return v;
}

/* op (warp_sum or warp_max) of v over the block through red (32 floats of shared memory,
   free again when this returns), returned to every thread; lanes past the warp count
   contribute `identity`. blockDim.x a multiple of 32, <= 1024; every thread must call it. */
template <float (*WarpOp)(float)>
static __device__ __forceinline__ float block_reduce(float v, float *red, float identity) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    v = WarpOp(v);
    if (lane == 0) red[warp] = v;
    __syncthreads();
    if (warp == 0) {
        float t = lane < nwarps ? red[lane] : identity;
        t = WarpOp(t);
        if (lane == 0) red[0] = t;
    }
    __syncthreads();
    const float total = red[0];
    __syncthreads(); /* red may be reused by the caller's next reduction */
    return total;
}

/* Sum of v over the block. */
static __device__ __forceinline__ float block_sum(float v, float *red) { return block_reduce<warp_sum>(v, red, 0.0f); }

/* Maximum of v over the block (NaN ignored, as by fmaxf). */
static __device__ __forceinline__ float block_max(float v, float *red) {
    return block_reduce<warp_max>(v, red, __int_as_float((int)0xFF800000u)); /* -inf */
}

} /* namespace mkc */

#endif
