/*
 * Deterministic f32 reductions: warp butterflies (shuffles) and a block sum through 32
 * words of shared memory. The order of the additions depends only on blockDim, so the
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

/* Sum of v over the block (blockDim.x a multiple of 32, <= 1024), returned to every
   thread. red: 32 floats of shared memory, free again when this returns. Every thread of
   the block must call it. */
static __device__ __forceinline__ float block_sum(float v, float *red) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    v = warp_sum(v);
    if (lane == 0) red[warp] = v;
    __syncthreads();
    if (warp == 0) {
        float t = lane < nwarps ? red[lane] : 0.0f;
        t = warp_sum(t);
        if (lane == 0) red[0] = t;
    }
    __syncthreads();
    const float total = red[0];
    __syncthreads(); /* red may be reused by the caller's next reduction */
    return total;
}

} /* namespace mkc */

#endif
