/*
 * Fixture of tests/sass/selftest.py: three small kernels whose SASS has known features,
 * compiled for sm_80 and sm_90a with a register cap, so tools/cuda-sass-report can be
 * checked against them (and its spill bytes against ptxas -v).
 *   fx_cp_async:  a tile loop that stages 16-byte chunks with cp.async (LDGSTS) and
 *                 waits with cp.async.wait_all + __syncthreads (BAR)
 *   fx_plain:     the same loop with plain 16-byte loads (LDG.E.128) and stores to
 *                 shared memory: not pipelined
 *   fx_spill:     64 live accumulators under __launch_bounds__(256, 8) (at most 32
 *                 registers per thread): spills to local memory
 */
#include <stdint.h>

__global__ void __launch_bounds__(128) fx_cp_async(const float4 *__restrict__ in, float *out, int ntiles) {
    __shared__ float4 tile[128];
    float acc = 0.0f;
    for (int t = 0; t < ntiles; t++) {
        const unsigned dst = (unsigned)__cvta_generic_to_shared(&tile[threadIdx.x]);
        asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(dst),
                     "l"(in + (int64_t)t * 128 + threadIdx.x));
        asm volatile("cp.async.wait_all;\n" ::);
        __syncthreads();
        const float4 v = tile[(threadIdx.x + 1) % 128];
        acc += v.x + v.y + v.z + v.w;
        __syncthreads();
    }
    out[blockIdx.x * 128 + threadIdx.x] = acc;
}

__global__ void __launch_bounds__(128) fx_plain(const float4 *__restrict__ in, float *out, int ntiles) {
    __shared__ float4 tile[128];
    float acc = 0.0f;
    for (int t = 0; t < ntiles; t++) {
        tile[threadIdx.x] = in[(int64_t)t * 128 + threadIdx.x];
        __syncthreads();
        const float4 v = tile[(threadIdx.x + 1) % 128];
        acc += v.x + v.y + v.z + v.w;
        __syncthreads();
    }
    out[blockIdx.x * 128 + threadIdx.x] = acc;
}

__global__ void __launch_bounds__(256, 8) fx_spill(const float *__restrict__ in, float *out, int n) {
    float acc[64];
#pragma unroll
    for (int i = 0; i < 64; i++) acc[i] = 0.0f;
    for (int j = threadIdx.x; j < n; j += blockDim.x) {
        const float x = in[j];
#pragma unroll
        for (int i = 0; i < 64; i++) acc[i] = fmaf(acc[i], x, (float)i);
    }
#pragma unroll
    for (int i = 0; i < 64; i++) out[i * blockDim.x + threadIdx.x] = acc[i];
}
