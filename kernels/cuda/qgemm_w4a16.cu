/*
 * Quantized GEMM with 16-bit activations on tensor cores (sm_80+):
 *   y [M][N] = x [M][K] . W^T (+ bias), W QW4 (W4A16) or QW8 (W8A16),
 * x and y F16 or BF16, the weight in the packed layout of qgemm_layout.h (read that
 * header's comment first; every weight position below comes from its index functions).
 *
 * One warp computes a 16 (M) x 16 (N) output tile: two mma.sync m16n8k16 per k16 step
 * (one per n8 sub-tile), f32 accumulation. Each lane streams its 16 bytes of every weight
 * tile with one 16-byte load and turns them into its B fragments in registers:
 *   QW4, f16:  (word >> 4p) & 0x000F000F | 0x64006400 = two halves 1024 + q; minus the
 *              halves 1024 + z gives q - z exactly (|q - z| <= 15);
 *   QW4, bf16: the same with 0x43004300 (128 + q) and 128 + z;
 *   QW8, f16:  __byte_perm of (code ^ 0x80) with 0x64 bytes = 1024 + 128 + q, minus 1152;
 *   QW8, bf16: the two codes through float (small integers: exact).
 * The codes therefore enter the mma as exact integers; the f32 partial sums of each scale
 * group are multiplied by the f32 value of the f16 scales of the accumulator's columns
 * (read with one 8-byte load per lane) and added to the output accumulators. x is read
 * straight from global memory (through k_perm when the weight has one), rows >= M and
 * columns >= K as zeros; weight padding decodes to q - z = 0 with scale 0.
 *
 * Grid: x = ceil(N/16 / 4) blocks of 4 warps (one 16-column tile per warp), y = ceil(M/16).
 * Tuned for small M (the dispatcher offers it for M <= 64): the x fragments are re-read
 * per warp, which large M would pay for.
 */
#include <cuda_bf16.h>

#include "dtype_io.cuh"
#include "ptx.cuh"
#include "mk_cuda_kernels.h"

namespace {

constexpr int kWarps = 4;

template <class T>
struct frag16;

template <>
struct frag16<mkc::f16> {
    static __device__ __forceinline__ uint32_t pack(uint16_t lo, uint16_t hi) { return (uint32_t)lo | (uint32_t)hi << 16; }
    /* halves (1024 + q) of the nibbles at bits s and s + 16 of w, minus halves 1024 + z */
    static __device__ __forceinline__ uint32_t w4(uint32_t w, int s, uint32_t zz) {
        const uint32_t h = ((w >> s) & 0x000F000Fu) | 0x64006400u;
        __half2 r = __hsub2(*reinterpret_cast<const __half2 *>(&h), *reinterpret_cast<const __half2 *>(&zz));
        return *reinterpret_cast<uint32_t *>(&r);
    }
    static __device__ __forceinline__ uint32_t zero_pair(int z) {
        const uint32_t h = 0x6400u | (uint32_t)z;
        return h | h << 16;
    }
    /* bytes b0 (low half) and b1 of w as signed codes */
    static __device__ __forceinline__ uint32_t w8(uint32_t w, int pair) {
        const uint32_t h = __byte_perm(w ^ 0x80808080u, 0x64646464u, pair ? 0x4342u : 0x4140u);
        const uint32_t bias = 0x64806480u; /* 1152, 1152 */
        __half2 r = __hsub2(*reinterpret_cast<const __half2 *>(&h), *reinterpret_cast<const __half2 *>(&bias));
        return *reinterpret_cast<uint32_t *>(&r);
    }
    static __device__ __forceinline__ void mma(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
        mkc::ptx::mma_m16n8k16<false>(d, a, b0, b1);
    }
};

template <>
struct frag16<mkc::bf16> {
    static __device__ __forceinline__ uint32_t pack(uint16_t lo, uint16_t hi) { return (uint32_t)lo | (uint32_t)hi << 16; }
    static __device__ __forceinline__ uint32_t w4(uint32_t w, int s, uint32_t zz) {
        const uint32_t h = ((w >> s) & 0x000F000Fu) | 0x43004300u;
        __nv_bfloat162 r = __hsub2(*reinterpret_cast<const __nv_bfloat162 *>(&h),
                                   *reinterpret_cast<const __nv_bfloat162 *>(&zz));
        return *reinterpret_cast<uint32_t *>(&r);
    }
    static __device__ __forceinline__ uint32_t zero_pair(int z) {
        const uint32_t h = 0x4300u | (uint32_t)z;
        return h | h << 16;
    }
    static __device__ __forceinline__ uint32_t w8(uint32_t w, int pair) {
        const int lo = (int)(int8_t)(uint8_t)(w >> (16 * pair)), hi = (int)(int8_t)(uint8_t)(w >> (16 * pair + 8));
        __nv_bfloat162 r = __floats2bfloat162_rn((float)lo, (float)hi);
        return *reinterpret_cast<uint32_t *>(&r);
    }
    static __device__ __forceinline__ void mma(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
        mkc::ptx::mma_m16n8k16<true>(d, a, b0, b1);
    }
};

template <class T, bool W4>
__global__ void __launch_bounds__(kWarps * 32) qgemm_w16_kernel(mkc_qgemm_weight w, const uint16_t *__restrict__ x,
                                                                int64_t x_rs, const uint16_t *__restrict__ bias,
                                                                uint16_t *__restrict__ y, int64_t M) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    typedef frag16<T> F;
    static_assert(sizeof(uint4) == MKC_QG_LANE_BYTES && MKC_QG_LANES == 32, "a lane's share of a tile is one uint4");
    constexpr int TK = W4 ? MKC_QG_TK_W4 : MKC_QG_TK_W8, STEPS = TK / MKC_QG_K16;
    const mkc_qgemm_layout &L = w.layout;
    const int lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
    const int64_t nt = (int64_t)blockIdx.x * kWarps + threadIdx.x / 32;
    if (nt >= L.n_tiles) return;
    const int64_t m0 = (int64_t)blockIdx.y * 16;
    const uint8_t *q = static_cast<const uint8_t *>(w.q) + mkc_qg_tile_at(L.k_tiles, nt, 0);
    const uint16_t *scales = static_cast<const uint16_t *>(w.scales);
    const int64_t row0 = m0 + g, row1 = m0 + g + 8;
    const uint16_t *x0 = row0 < M ? x + row0 * x_rs : nullptr, *x1 = row1 < M ? x + row1 * x_rs : nullptr;

    float acc[2][4] = {{0.f, 0.f, 0.f, 0.f}, {0.f, 0.f, 0.f, 0.f}};
    float part[2][4] = {{0.f, 0.f, 0.f, 0.f}, {0.f, 0.f, 0.f, 0.f}};
    int64_t cur = 0;
    uint32_t zz[2] = {F::zero_pair(MKC_QG_W4_ZERO), F::zero_pair(MKC_QG_W4_ZERO)};
    /* zero points of this lane's B-fragment rows g (nsub 0) and 8 + g (nsub 1) */
    auto zero_pairs = [&](int64_t gi) {
        const uint8_t *zg = w.zeros + mkc_qg_group_at(L.groups_p, nt, gi);
        zz[0] = F::zero_pair(zg[mkc_qg_zero_elem(g)]);
        zz[1] = F::zero_pair(zg[mkc_qg_zero_elem(MKC_QG_N8 + g)]);
    };
    if (W4 && w.zeros) zero_pairs(0);
    auto flush = [&](int64_t gi) {
        /* scales of columns 8 nsub + 2t + j: the lane's four consecutive elements from
           mkc_qg_scale_elem(2t) (nsub 0, j 0), one 8-byte load */
        const uint2 sv = __ldg(reinterpret_cast<const uint2 *>(scales + mkc_qg_group_at(L.groups_p, nt, gi) +
                                                               mkc_qg_scale_elem(2 * t)));
        const float s[2][2] = {{__half2float(__ushort_as_half((uint16_t)(sv.x & 0xFFFFu))),
                                __half2float(__ushort_as_half((uint16_t)(sv.x >> 16)))},
                               {__half2float(__ushort_as_half((uint16_t)(sv.y & 0xFFFFu))),
                                __half2float(__ushort_as_half((uint16_t)(sv.y >> 16)))}};
#pragma unroll
        for (int ns = 0; ns < 2; ns++) {
            acc[ns][0] = fmaf(s[ns][0], part[ns][0], acc[ns][0]);
            acc[ns][1] = fmaf(s[ns][1], part[ns][1], acc[ns][1]);
            acc[ns][2] = fmaf(s[ns][0], part[ns][2], acc[ns][2]);
            acc[ns][3] = fmaf(s[ns][1], part[ns][3], acc[ns][3]);
#pragma unroll
            for (int c = 0; c < 4; c++) part[ns][c] = 0.f;
        }
    };
    auto xa = [&](const uint16_t *xr, int64_t k) -> uint16_t {
        if (!xr || k >= L.k) return 0;
        return __ldg(xr + (w.k_perm ? __ldg(w.k_perm + k) : k));
    };

    /* the next tile's 16 bytes are loaded before this tile's mma (two loads in flight) */
    uint4 next = __ldg(reinterpret_cast<const uint4 *>(q) + lane);
    for (int64_t kt = 0; kt < L.k_tiles; kt++) {
        const uint4 v = next;
        if (kt + 1 < L.k_tiles)
            next = __ldg(reinterpret_cast<const uint4 *>(q + (size_t)(kt + 1) * MKC_QG_TILE_BYTES) + lane);
        const uint32_t words[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
        for (int ks = 0; ks < STEPS; ks++) {
            const int64_t k0 = kt * TK + ks * MKC_QG_K16;
            const int64_t gi = mkc_qg_group(L.groups_p, L.group_len, k0);
            if (gi != cur) {
                flush(cur);
                cur = gi;
                if (W4 && w.zeros) zero_pairs(gi);
            }
            const int64_t ka = k0 + 2 * t, kb = ka + 8;
            const uint32_t a[4] = {F::pack(xa(x0, ka), xa(x0, ka + 1)), F::pack(xa(x1, ka), xa(x1, ka + 1)),
                                   F::pack(xa(x0, kb), xa(x0, kb + 1)), F::pack(xa(x1, kb), xa(x1, kb + 1))};
#pragma unroll
            for (int ns = 0; ns < 2; ns++) {
                uint32_t b0, b1;
                if (W4) {
                    /* word ks; reg r's nibbles at bits mkc_qg_w4_shift(ns, r) | + 16 */
                    b0 = F::w4(words[ks], mkc_qg_w4_shift(ns, 0), zz[ns]);
                    b1 = F::w4(words[ks], mkc_qg_w4_shift(ns, 1), zz[ns]);
                } else {
                    /* word mkc_qg_w8_word(ks, ns): bytes 0, 1 = reg 0; bytes 2, 3 = reg 1 */
                    b0 = F::w8(words[mkc_qg_w8_word(ks, ns)], 0);
                    b1 = F::w8(words[mkc_qg_w8_word(ks, ns)], 1);
                }
                F::mma(part[ns], a, b0, b1);
            }
        }
    }
    flush(cur);

    /* accumulator lane: rows g, g + 8; columns 8 ns + 2t + j */
#pragma unroll
    for (int ns = 0; ns < 2; ns++)
#pragma unroll
        for (int j = 0; j < 2; j++) {
            const int64_t n = nt * MKC_QG_TN + MKC_QG_N8 * ns + 2 * t + j;
            if (n >= L.n) continue;
            const float b = bias ? T::load(bias[n]) : 0.f;
            if (row0 < M) y[row0 * L.n + n] = T::store(acc[ns][j] + b);
            if (row1 < M) y[row1 * L.n + n] = T::store(acc[ns][2 + j] + b);
        }
#else
    (void)w; (void)x; (void)x_rs; (void)bias; (void)y; (void)M;
#endif
}

template <class T, bool W4>
cudaError_t launch(const mkc_qgemm_weight *w, const void *x, int64_t x_rs, const void *bias, void *y, int64_t M,
                   cudaStream_t stream) {
    const dim3 grid((unsigned)((w->layout.n_tiles + kWarps - 1) / kWarps), (unsigned)((M + 15) / 16));
    qgemm_w16_kernel<T, W4><<<grid, kWarps * 32, 0, stream>>>(*w, static_cast<const uint16_t *>(x), x_rs,
                                                             static_cast<const uint16_t *>(bias),
                                                             static_cast<uint16_t *>(y), M);
    return cudaGetLastError();
}

} /* namespace */

extern "C" cudaError_t mkc_qgemm_w16(mk_dtype t, const mkc_qgemm_weight *w, const void *x, int64_t x_rs,
                                     const void *bias, void *y, int64_t M, cudaStream_t stream) {
    if (M <= 0 || w->layout.n <= 0) return cudaSuccess;
    if (M > 16 * 65535) return cudaErrorInvalidValue;
    if (t == MK_F16) return w->layout.w4 ? launch<mkc::f16, true>(w, x, x_rs, bias, y, M, stream)
                                         : launch<mkc::f16, false>(w, x, x_rs, bias, y, M, stream);
    if (t == MK_BF16) return w->layout.w4 ? launch<mkc::bf16, true>(w, x, x_rs, bias, y, M, stream)
                                          : launch<mkc::bf16, false>(w, x, x_rs, bias, y, M, stream);
    return cudaErrorInvalidValue;
}
