/*
 * Launch shape shared by the row-norm kernels (rmsnorm.cu, layernorm.cu): one block per
 * row, about 8 elements per thread (32..1024 threads), and the row cached as f32 in
 * dynamic shared memory while it fits 40 KB (rows up to 10240; the default per-block
 * limit of 48 KB also holds the static reduction words), so later passes do not reload
 * it (each thread rereads only the elements it cached itself). Longer rows reread x,
 * mostly from L2.
 */
#ifndef MEDKERN_KERNELS_CUDA_NORM_LAUNCH_CUH
#define MEDKERN_KERNELS_CUDA_NORM_LAUNCH_CUH

#include <stdint.h>

namespace mkc {

struct norm_launch {
    unsigned grid;
    int threads;
    int cached;
    size_t smem;
};

static inline norm_launch norm_shape(int64_t rows, int n) {
    norm_launch l;
    int64_t t = ((int64_t)n + 7) / 8;
    t = (t + 31) / 32 * 32;
    l.threads = (int)(t < 32 ? 32 : t > 1024 ? 1024 : t);
    l.grid = (unsigned)(rows < (1 << 20) ? rows : (1 << 20)); /* grid-stride beyond */
    l.cached = (size_t)n * sizeof(float) <= 40u * 1024u;
    l.smem = l.cached ? (size_t)n * sizeof(float) : 0;
    return l;
}

} /* namespace mkc */

#endif
