/*
 * Paged KV cache block copies (beam search / prefix forks): for each (src, dst) pair,
 * the dst block of K, V (and of the K and V scales of a quantized cache) becomes a copy
 * of the src block. Grid: x = pairs, y = which array; 256 threads per block.
 * Words of 16 bytes when the block's byte size allows it (pool bases come from
 * cudaMalloc, 256-byte aligned, so every block starts on a word), else the widest of
 * 8, 4, 2 and 1 bytes that divides it: any size is copied exactly. Each thread keeps
 * kUnroll loads in flight (all issued before their stores), then a tail loop takes the
 * words that do not fill a whole round. Pairs naming a block out of range are skipped.
 */
#include "mk_cuda_kernels.h"

namespace {

constexpr int kThreads = 256;
constexpr int kUnroll = 4; /* 16-byte loads in flight per thread */

template <class W>
__device__ __forceinline__ void copy_words(char *base, int64_t src, int64_t dst, size_t bytes) {
    const W *s = reinterpret_cast<const W *>(base + (size_t)src * bytes);
    W *d = reinterpret_cast<W *>(base + (size_t)dst * bytes);
    const size_t n = bytes / sizeof(W), bd = blockDim.x;
    size_t i = threadIdx.x;
    for (; i + (kUnroll - 1) * bd < n; i += kUnroll * bd) {
        W w[kUnroll];
#pragma unroll
        for (int u = 0; u < kUnroll; u++) w[u] = s[i + u * bd];
#pragma unroll
        for (int u = 0; u < kUnroll; u++) d[i + u * bd] = w[u];
    }
    for (; i < n; i += bd) d[i] = s[i];
}

__global__ void __launch_bounds__(kThreads) kv_copy_kernel(const int32_t *pairs, int64_t npairs,
                                                           int64_t num_blocks, char *k, char *v,
                                                           char *ks, char *vs, size_t block_bytes,
                                                           size_t scale_bytes) {
    char *base = blockIdx.y == 0 ? k : blockIdx.y == 1 ? v : blockIdx.y == 2 ? ks : vs;
    const size_t bytes = blockIdx.y < 2 ? block_bytes : scale_bytes;
    for (int64_t p = blockIdx.x; p < npairs; p += gridDim.x) {
        const int64_t src = pairs[2 * p], dst = pairs[2 * p + 1];
        if (src < 0 || src >= num_blocks || dst < 0 || dst >= num_blocks) continue;
        if (bytes % 16 == 0) copy_words<uint4>(base, src, dst, bytes);
        else if (bytes % 8 == 0) copy_words<uint2>(base, src, dst, bytes);
        else if (bytes % 4 == 0) copy_words<uint32_t>(base, src, dst, bytes);
        else if (bytes % 2 == 0) copy_words<uint16_t>(base, src, dst, bytes);
        else copy_words<uint8_t>(base, src, dst, bytes);
    }
}

size_t elem_bytes(mk_dtype t) {
    return t == MK_F32 ? 4 : (t == MK_F16 || t == MK_BF16) ? 2 : 1;
}

} /* namespace */

extern "C" cudaError_t mkc_kv_copy_blocks(const int32_t *pairs, int64_t n, const mkc_kv_pool *pool,
                                          cudaStream_t stream) {
    if (n <= 0) return cudaSuccess;
    const size_t rows = (size_t)pool->block_size * (size_t)pool->num_kv_heads;
    const size_t block_bytes = rows * (size_t)pool->head_dim * elem_bytes(pool->dtype);
    const unsigned arrays = pool->k_scale ? 4 : 2;
    const unsigned gx = (unsigned)(n < 65535 * 16 ? n : 65535 * 16);
    kv_copy_kernel<<<dim3(gx, arrays), kThreads, 0, stream>>>(
        pairs, n, pool->num_blocks, static_cast<char *>(pool->k), static_cast<char *>(pool->v),
        reinterpret_cast<char *>(pool->k_scale), reinterpret_cast<char *>(pool->v_scale),
        block_bytes, rows * sizeof(float));
    return cudaGetLastError();
}
