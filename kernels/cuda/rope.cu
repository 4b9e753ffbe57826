/*
 * Rotary position embedding, in place, rotate-half (pairs i, i + R/2) or interleaved
 * (pairs 2i, 2i + 1), over the first R = rotary_dim dims of every head.
 *
 * Grid: x = tokens, y = groups of heads (so a single decode token still spreads over
 * several SMs). Each block first computes cos/sin of its token's R/2 angles into shared
 * memory: the angle pos * inv_freq[i] is formed in double (inv_freq comes from the
 * reference's mkref_rope_inv_freq, computed once on the host) and reduced to a fraction
 * of a turn in double (error ~1e-11 rad at position 1e5, where an f32 angle would be off
 * by ~4e-3), and only then rounded to f32 for sincospif (sin/cos of pi*x, |x| <= 1: no
 * slow large-argument path, no stack frame). The rotation itself is f32.
 */
#include "dtype_io.cuh"
#include "mk_cuda_kernels.h"

namespace {

template <class T>
__global__ void __launch_bounds__(256) rope_kernel(typename T::storage *x, int64_t ntok, int H,
                                                   int64_t stride_t, int64_t stride_h,
                                                   const int32_t *positions,
                                                   const double *inv_freq, int half,
                                                   int heads_per_block, int interleaved) {
    typedef typename T::storage S;
    extern __shared__ float cs[]; /* cos [half], then sin [half] */
    const int h0 = blockIdx.y * heads_per_block;
    const int h1 = min(H, h0 + heads_per_block);
    const int pairs = (h1 - h0) * half;
    for (int64_t t = blockIdx.x; t < ntok; t += gridDim.x) {
        const double p = (double)positions[t];
        for (int i = threadIdx.x; i < half; i += blockDim.x) {
            const double turns = p * inv_freq[i] * 0.15915494309189533577; /* angle / (2 pi) */
            const float half_turns = (float)(2.0 * (turns - rint(turns)));    /* in [-1, 1] */
            float s, c;
            sincospif(half_turns, &s, &c); /* sin, cos of pi * x: no large-argument path */
            cs[i] = c;
            cs[half + i] = s;
        }
        __syncthreads();
        S *xt = x + t * stride_t;
        for (int e = threadIdx.x; e < pairs; e += blockDim.x) {
            const int hh = e / half, i = e - hh * half;
            S *xh = xt + (int64_t)(h0 + hh) * stride_h;
            const int ia = interleaved ? 2 * i : i;
            const int ib = interleaved ? 2 * i + 1 : i + half;
            const float x0 = T::load(xh[ia]), x1 = T::load(xh[ib]);
            const float c = cs[i], s = cs[half + i];
            xh[ia] = T::store(x0 * c - x1 * s);
            xh[ib] = T::store(x1 * c + x0 * s);
        }
        __syncthreads(); /* cs is rewritten for the next token */
    }
}

template <class T>
cudaError_t launch(void *x, int64_t ntok, int H, int64_t stride_t, int64_t stride_h,
                   const int32_t *positions, const double *inv_freq, int rotary_dim,
                   int interleaved, cudaStream_t stream) {
    const int half = rotary_dim / 2;
    int hpb = 256 / half; /* about 256 pairs per block */
    if (hpb < 1) hpb = 1;
    if (hpb > H) hpb = H;
    if ((H + hpb - 1) / hpb > 65535) hpb = (H + 65534) / 65535; /* grid.y limit */
    const unsigned gy = (unsigned)((H + hpb - 1) / hpb);
    const unsigned gx = (unsigned)(ntok < 65535 * 16 ? ntok : 65535 * 16);
    const size_t smem = 2 * (size_t)half * sizeof(float);
    rope_kernel<T><<<dim3(gx, gy), 256, smem, stream>>>(
        static_cast<typename T::storage *>(x), ntok, H, stride_t, stride_h, positions, inv_freq,
        half, hpb, interleaved);
    return cudaGetLastError();
}

} /* namespace */

extern "C" cudaError_t mkc_rope(mk_dtype t, void *x, int64_t T, int H, int D, int64_t stride_t,
                                int64_t stride_h, const int32_t *positions, const double *inv_freq,
                                int rotary_dim, int interleaved, cudaStream_t stream) {
    (void)D;
    if (T <= 0 || H <= 0 || rotary_dim < 2) return cudaSuccess;
    if (rotary_dim > MKC_ROPE_MAX_ROTARY_DIM) return cudaErrorInvalidValue;
    MKC_DISPATCH_FLOAT(t, Tag, launch<Tag>(x, T, H, stride_t, stride_h, positions, inv_freq,
                                           rotary_dim, interleaved, stream))
}
