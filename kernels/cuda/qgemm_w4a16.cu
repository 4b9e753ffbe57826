/*
 * Quantized GEMM with 16-bit activations on tensor cores (sm_80+), for small M:
 *   y [M][N] = x [M][K] . W^T (+ bias), W QW4 (W4A16) or QW8 (W8A16),
 * x and y F16 or BF16, the weight in the packed layout of qgemm_layout.h (read that
 * header's comment first; every weight position below comes from its index functions).
 *
 * Work. A block of 8 warps owns 8 row tiles of W (128 output columns) and 16 rows of x,
 * over one K slice of whole stages (a stage: 4 tiles along K). Warp (wn, wk) computes the
 * 4 row tiles wn*4 .. wn*4+3 on the stage's tile wk, so the 4 warps of a column share the
 * stage's K and each reads its x fragment once for 8 mma. The grid is n_blocks x splits
 * (x) by ceil(M / 16) (y): splits cut K so that about two blocks per SM are launched even
 * for one row tile of x (mkc_qgemm_w16_plan_of).
 *
 * Memory. The block's weight tiles stream through a 4-stage ring of 16-byte cp.async
 * (16 KB a stage, 3 in flight). Before the loop, and in the first stage's copy group, the
 * block stages once: its x rows over the slice (k_perm applied here, as x[m][k_perm[k]];
 * 16-byte copies when there is no k_perm and x is aligned), and the slice's group scales
 * and zero points of its 8 row tiles. The loop then touches global memory only through
 * cp.async: the weight through LDS.128 (a lane's 16 bytes of a tile are its B fragments),
 * x through ldmatrix.x4 (rows past M read a zero row), scales through LDS.64.
 *
 * Numerics (unchanged from the layout's design): codes become exact integers q - z in
 * f16/bf16 (one lop3-style AND/OR per register pair for QW4, a byte_perm for QW8/f16),
 * each scale group's f32 partial sums are multiplied by the f32 value of its f16 scales
 * and added to the f32 accumulators. Groups change only between k16 steps; the group of
 * k16 step s is s / (group_len / 16) by a multiply-shift the host prepares: no division
 * in the kernel. The 4 K-warps of a column are summed in warp order through shared
 * memory; splits are summed in split order by qgemm_splitk_reduce_kernel, with bias.
 * Deterministic, no atomics.
 */
#include <cuda_bf16.h>

#include <type_traits>

#include "dtype_io.cuh"
#include "fastdiv.cuh"
#include "mk_cuda_kernels.h"
#include "ptx.cuh"
#include "qgemm_mma_block.cuh"

namespace {

using namespace mkc::qg;

struct w16_args {
    mkc_qgemm_weight w;
    const uint16_t *x;
    int64_t x_rs;
    const uint16_t *bias;
    uint16_t *y;
    float *partial;  /* [splits][M][N] when splits > 1 */
    int M, splits, n_blocks;
    int kt_per_split; /* a multiple of kWK                                       */
    int gs;           /* scale groups staged per row tile (>= any slice's span)  */
    int xs_ld;        /* x row stride in shared memory, halves                    */
    int x_vec;        /* no k_perm, x and its row stride 16-byte aligned           */
    mkc_divisor group; /* k16 step s -> its scale group s / (group_len / 16)      */
};

template <class T>
struct frag16;

template <>
struct frag16<mkc::f16> {
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
    /* bytes 2 pair and 2 pair + 1 of w as signed codes */
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

/* Shared memory of a block: the ring, then x [rows][xs_ld], a zero row of 8 halves, the
   scales [kTilesN][gs][16] (f16 bits) and, with zero points, [kTilesN][gs][16] bytes. */
struct w16_smem {
    size_t x, zero, scales, zeros, bytes;
};
__host__ __device__ inline w16_smem smem_of(int rows, int xs_ld, int gs, bool zeros) {
    w16_smem s;
    s.x = kRingBytes;
    s.zero = s.x + (size_t)rows * xs_ld * 2;
    s.scales = s.zero + 16;
    s.zeros = s.scales + (size_t)kTilesN * gs * MKC_QG_TN * 2;
    s.bytes = s.zeros + (zeros ? (size_t)kTilesN * gs * MKC_QG_TN : 0);
    s.bytes = (s.bytes + 15) & ~(size_t)15;
    return s;
}

template <class T, bool W4>
__global__ void __launch_bounds__(kThreads) qgemm_w16_kernel(w16_args p) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    typedef frag16<T> F;
    constexpr int TK = W4 ? MKC_QG_TK_W4 : MKC_QG_TK_W8, STEPS = TK / MKC_QG_K16;
    extern __shared__ __align__(16) uint8_t smem[];
    const mkc_qgemm_layout &L = p.w.layout;
    const block_at B = block_here(L, p.n_blocks, p.kt_per_split, p.M);
    const int tid = B.tid, lane = B.lane, warp = B.warp, wn = B.wn, wk = B.wk, g = B.g, t = B.t;
    const int split = B.split, nt0 = B.nt0, m0 = B.m0, rows = B.rows;
    const int kt_begin = B.kt_begin, kt_end = B.kt_end, nst = B.nst;
    auto group_of = [&](uint32_t s) -> int { return (int)mkc_div(s, p.group); };
    const int g_begin = group_of((uint32_t)kt_begin * STEPS);
    const w16_smem S = smem_of(min(16, p.M), p.xs_ld, p.gs, p.w.zeros != nullptr);
    uint16_t *xs = reinterpret_cast<uint16_t *>(smem + S.x);
    const uint16_t *ss = reinterpret_cast<const uint16_t *>(smem + S.scales);
    const uint8_t *zs = smem + S.zeros;

    /* ---- stage x, the scales and the zero points once (joined to stage 0's copy group) */
    {
        const int kbase = kt_begin * TK, ks_len = (kt_end - kt_begin) * TK, chunks = ks_len / 8;
        for (int e = tid; e < rows * chunks; e += kThreads) {
            const int r = e / chunks, c = e % chunks, k = kbase + c * 8;
            uint16_t *dst = xs + r * p.xs_ld + c * 8;
            const uint16_t *xr = p.x + (int64_t)(m0 + r) * p.x_rs;
            if (p.x_vec && k + 8 <= L.k) {
                mkc::ptx::cp_async<16>(dst, xr + k);
            } else {
#pragma unroll
                for (int i = 0; i < 8; i++)
                    dst[i] = k + i < L.k ? xr[p.w.k_perm ? p.w.k_perm[k + i] : k + i] : (uint16_t)0;
            }
        }
        if (tid < 8) xs[(S.zero - S.x) / 2 + tid] = 0;
        const int groups = (int)L.groups_p;
        for (int e = tid; e < kTilesN * p.gs * 2; e += kThreads) { /* 2 chunks of 16 bytes a group */
            const int i = e >> 1, half = e & 1, ntl = i / p.gs, gl = i % p.gs;
            const int nt = nt0 + ntl, gi = g_begin + gl;
            const bool ok = nt < L.n_tiles && gi < groups;
            const uint16_t *src = static_cast<const uint16_t *>(p.w.scales) +
                                  (ok ? mkc_qg_group_at(L.groups_p, nt, gi) + 8 * half : 0);
            mkc::ptx::cp_async<16>(smem + S.scales + (size_t)i * 32 + half * 16, src, ok ? 16 : 0);
        }
        if (p.w.zeros)
            for (int i = tid; i < kTilesN * p.gs; i += kThreads) {
                const int ntl = i / p.gs, gl = i % p.gs, nt = nt0 + ntl, gi = g_begin + gl;
                const bool ok = nt < L.n_tiles && gi < groups;
                mkc::ptx::cp_async<16>(smem + S.zeros + (size_t)i * 16,
                                       p.w.zeros + (ok ? mkc_qg_group_at(L.groups_p, nt, gi) : 0), ok ? 16 : 0);
            }
    }

    /* ---- the weight ring (qgemm_mma_block.cuh) */
    const uint8_t *q = static_cast<const uint8_t *>(p.w.q);
    auto issue = [&](int i) { issue_stage(smem, q, L, nt0, kt_begin, kt_end, i, nst, tid); };
#pragma unroll
    for (int i = 0; i < kStages - 1; i++) issue(i);

    /* ldmatrix row addresses: lane l gives row l % 16 at column 8 (l / 16); rows past the
       block's x read the zero row (column step 0) */
    const int arow = lane & 15;
    const uint8_t *a_base = arow < rows ? reinterpret_cast<const uint8_t *>(xs + arow * p.xs_ld + (lane >> 4) * 8)
                                        : smem + S.zero;
    const int a_step = arow < rows ? 2 : 0; /* bytes per x column */

    float acc[4][2][4], part[4][2][4];
#pragma unroll
    for (int j = 0; j < 4; j++)
#pragma unroll
        for (int ns = 0; ns < 2; ns++)
#pragma unroll
            for (int c = 0; c < 4; c++) acc[j][ns][c] = part[j][ns][c] = 0.f;
    uint32_t zz[4][2];
#pragma unroll
    for (int j = 0; j < 4; j++) zz[j][0] = zz[j][1] = F::zero_pair(MKC_QG_W4_ZERO);
    int cur = g_begin; /* the group part[] accumulates */
    auto zero_pairs = [&](int gi) {
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const uint8_t *zg = zs + ((wn * 4 + j) * p.gs + (gi - g_begin)) * MKC_QG_TN;
            zz[j][0] = F::zero_pair(zg[mkc_qg_zero_elem(g)]);
            zz[j][1] = F::zero_pair(zg[mkc_qg_zero_elem(MKC_QG_N8 + g)]);
        }
    };
    auto flush = [&]() {
#pragma unroll
        for (int j = 0; j < 4; j++) {
            /* scales of columns 8 ns + 2t + jj: four consecutive elements from
               mkc_qg_scale_elem(2t), one 8-byte load */
            const uint2 sv = *reinterpret_cast<const uint2 *>(
                ss + ((wn * 4 + j) * p.gs + (cur - g_begin)) * MKC_QG_TN + mkc_qg_scale_elem(2 * t));
            const float s[2][2] = {{__half2float(__ushort_as_half((uint16_t)(sv.x & 0xFFFFu))),
                                    __half2float(__ushort_as_half((uint16_t)(sv.x >> 16)))},
                                   {__half2float(__ushort_as_half((uint16_t)(sv.y & 0xFFFFu))),
                                    __half2float(__ushort_as_half((uint16_t)(sv.y >> 16)))}};
#pragma unroll
            for (int ns = 0; ns < 2; ns++) {
                acc[j][ns][0] = fmaf(s[ns][0], part[j][ns][0], acc[j][ns][0]);
                acc[j][ns][1] = fmaf(s[ns][1], part[j][ns][1], acc[j][ns][1]);
                acc[j][ns][2] = fmaf(s[ns][0], part[j][ns][2], acc[j][ns][2]);
                acc[j][ns][3] = fmaf(s[ns][1], part[j][ns][3], acc[j][ns][3]);
#pragma unroll
                for (int c = 0; c < 4; c++) part[j][ns][c] = 0.f;
            }
        }
    };

    for (int i = 0; i < nst; i++) {
        mkc::ptx::cp_async_wait<kStages - 2>();
        __syncthreads(); /* stage i (and, at i = 0, x and the scales) visible; stage i-1 free */
        issue(i + kStages - 1);
        if (W4 && p.w.zeros && i == 0) zero_pairs(cur);
        const int kt = kt_begin + i * kWK + wk;
        if (kt >= kt_end) continue; /* uniform over the warp; no shuffles below */
        uint32_t words[4][4];
        stage_words(smem, i, wn, wk, lane, words);
        const uint8_t *a_tile = a_base + (kt - kt_begin) * TK * a_step;
#pragma unroll
        for (int ks = 0; ks < STEPS; ks++) {
            const int gi = group_of((uint32_t)(kt * STEPS + ks));
            if (gi != cur) {
                flush();
                cur = gi;
                if (W4 && p.w.zeros) zero_pairs(gi);
            }
            uint32_t a[4];
            mkc::ptx::ldmatrix_x4(a, a_tile + ks * MKC_QG_K16 * a_step);
#pragma unroll
            for (int j = 0; j < 4; j++)
#pragma unroll
                for (int ns = 0; ns < 2; ns++) {
                    uint32_t b0, b1;
                    if (W4) {
                        /* word ks; reg r's nibbles at bits mkc_qg_w4_shift(ns, r) | + 16 */
                        b0 = F::w4(words[j][ks], mkc_qg_w4_shift(ns, 0), zz[j][ns]);
                        b1 = F::w4(words[j][ks], mkc_qg_w4_shift(ns, 1), zz[j][ns]);
                    } else {
                        /* word mkc_qg_w8_word(ks, ns): bytes 0, 1 = reg 0; bytes 2, 3 = reg 1 */
                        b0 = F::w8(words[j][mkc_qg_w8_word(ks, ns)], 0);
                        b1 = F::w8(words[j][mkc_qg_w8_word(ks, ns)], 1);
                    }
                    F::mma(part[j][ns], a, b0, b1);
                }
        }
    }
    flush();

    /* ---- the 4 K-warps of each column summed in warp order: warp (wn, wk) then owns row
       tile wn*4 + wk */
    float v[2][4];
    sum_k_warps(smem, acc, warp, wn, wk, lane, v);

    /* accumulator lane: rows g, g + 8; columns 8 ns + 2t + jj of row tile nt */
    const int64_t nt = nt0 + wn * 4 + wk;
    if (nt >= L.n_tiles) return;
    const int64_t row0 = m0 + g, row1 = m0 + g + 8;
#pragma unroll
    for (int ns = 0; ns < 2; ns++)
#pragma unroll
        for (int jj = 0; jj < 2; jj++) {
            const int64_t n = nt * MKC_QG_TN + MKC_QG_N8 * ns + 2 * t + jj;
            if (n >= L.n) continue;
            if (p.splits == 1) {
                const float b = p.bias ? T::load(p.bias[n]) : 0.f;
                if (row0 < p.M) p.y[row0 * L.n + n] = T::store(v[ns][jj] + b);
                if (row1 < p.M) p.y[row1 * L.n + n] = T::store(v[ns][2 + jj] + b);
            } else {
                float *ps = p.partial + (int64_t)split * p.M * L.n;
                if (row0 < p.M) ps[row0 * L.n + n] = v[ns][jj];
                if (row1 < p.M) ps[row1 * L.n + n] = v[ns][2 + jj];
            }
        }
#else
    (void)p;
#endif
}

template <class T, bool W4>
cudaError_t launch(const w16_args &p, const mkc_qgemm_mma_plan *plan, cudaStream_t stream) {
    const size_t smem = plan->smem_bytes;
    if (smem > 48 * 1024) {
        const cudaError_t e =
            cudaFuncSetAttribute(qgemm_w16_kernel<T, W4>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
        if (e != cudaSuccess) return e;
    }
    const dim3 grid((unsigned)(p.n_blocks * p.splits), (unsigned)((p.M + 15) / 16));
    qgemm_w16_kernel<T, W4><<<grid, kThreads, smem, stream>>>(p);
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess || p.splits == 1) return e;
    const mk_dtype t = std::is_same<T, mkc::f16>::value ? MK_F16 : MK_BF16;
    return splitk_reduce(t, p.partial, p.splits, p.M, (int)p.w.layout.n, p.bias, p.y, stream);
}

} /* namespace */

extern "C" int mkc_qgemm_w16_plan_of(const mkc_qgemm_weight *w, int64_t M, int sms, mkc_qgemm_mma_plan *out) {
    if (!qg_partition(&w->layout, M, sms, 2, out)) return 0;
    out->smem_bytes = smem_of(M < 16 ? (int)M : 16, out->xs_ld, out->gs, w->zeros != NULL).bytes;
    out->scratch_bytes =
        out->splits > 1 ? (size_t)out->splits * (size_t)M * (size_t)w->layout.n * sizeof(float) : 0;
    return 1;
}

extern "C" cudaError_t mkc_qgemm_w16(mk_dtype t, const mkc_qgemm_weight *w, const void *x, int64_t x_rs,
                                     const void *bias, void *y, int64_t M, const mkc_qgemm_mma_plan *plan,
                                     float *scratch, cudaStream_t stream) {
    if (M <= 0 || w->layout.n <= 0) return cudaSuccess;
    if (M > 65535 || (plan->splits > 1 && !scratch)) return cudaErrorInvalidValue; /* grid y of the reduce */
    w16_args p;
    p.w = *w;
    p.x = static_cast<const uint16_t *>(x);
    p.x_rs = x_rs;
    p.bias = static_cast<const uint16_t *>(bias);
    p.y = static_cast<uint16_t *>(y);
    p.partial = scratch;
    p.M = (int)M;
    p.splits = plan->splits;
    p.n_blocks = plan->n_blocks;
    p.kt_per_split = plan->kt_per_split;
    p.gs = plan->gs;
    p.xs_ld = plan->xs_ld;
    p.x_vec = !w->k_perm && ((uintptr_t)x & 15) == 0 && (x_rs % 8) == 0;
    const int64_t steps = mkc_qg_tk(w->layout.w4) / MKC_QG_K16;
    /* per-channel scales: a divisor past every step number gives group 0 throughout */
    const uint32_t g16 = w->layout.groups_p == 1 ? (uint32_t)(w->layout.k_tiles * steps)
                                                 : (uint32_t)(w->layout.group_len / MKC_QG_K16);
    p.group = mkc_divisor_of(g16);
    if (t == MK_F16) return w->layout.w4 ? launch<mkc::f16, true>(p, plan, stream) : launch<mkc::f16, false>(p, plan, stream);
    if (t == MK_BF16) return w->layout.w4 ? launch<mkc::bf16, true>(p, plan, stream) : launch<mkc::bf16, false>(p, plan, stream);
    return cudaErrorInvalidValue;
}
