/*
 * Flash attention prefill (FlashAttention-2 style) on tensor cores: mma.sync m16n8k16
 * (f16 or bf16 operands, f32 accumulation) with ldmatrix fragment loads, sm_80+.
 * The algorithm is kernels/opencl/attention_prefill.cl's (online softmax in f32, scale by
 * 1/l once at the end, natural-log LSE, a row that sees no key gets 0 and -inf); only the
 * products run on tensor cores.
 *
 * Tiles: a block of 4 warps owns BQ = 64 query rows of one sequence and one query head
 * (warp w: rows 16w..16w+15) and walks the visible keys in tiles of BK (64; 32 for
 * D = 256). Q, K and V tiles sit in dynamic shared memory as raw 16-bit values, rows
 * padded by 8 elements (16 bytes) so that the 8 row addresses of an ldmatrix fall in
 * different banks. Per key tile:
 *   S = Q K^T      A = Q (ldmatrix.x4), B = K rows (ldmatrix.x4: two n8 tiles), D/16 steps
 *   softmax        scale, softcap, mask (causal bottom-right, window_left, sequence end)
 *                  per element; row max/sum across the 4 threads of a quad (shuffles);
 *                  the output accumulators rescaled by e^(m_old - m_new)
 *   O += P V       P from the S accumulators (the C layout of two n8 tiles is the A
 *                  layout of one k16 step), rounded to the operand type; B = V by
 *                  ldmatrix.x4.trans
 * Rows past the sequence and keys past the tile's range are zero-filled in shared memory
 * (V zero matters: P is 0 there but 0 * NaN would not be) and masked to -inf.
 *
 * Varlen: a block per tile of the plan's tile map (or, without one, per slot of
 * ceil(T / BQ) + B, found by scanning cu_seqlens_q): prefill_tiles.cuh, clamped so
 * malformed values cannot make it read or write out of bounds. GQA: query head h reads
 * kv head h / (Hq / Hkv).
 *
 * D in {64, 80, 96, 128, 256} (all multiples of 16: every k16 step and n8 tile is whole).
 * Tile loads are 16-byte vectors when the tensor's base and strides allow it, else
 * element by element. Not pipelined (no cp.async double buffering) and no sm_90a
 * wgmma/TMA path yet: see cuda_attention.c.
 */
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <math.h>
#include <stdint.h>

#include <type_traits>

#include "dtype_io.cuh"
#include "ptx.cuh"
#include "mk_cuda_kernels.h"
#include "prefill_tiles.cuh"

namespace {

constexpr int kBQ = MKC_FA2_TILE_ROWS;
constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
constexpr int kPad = 8; /* elements of row padding in shared memory */

template <int D>
struct fa_shape {
    static constexpr int BK = D >= 256 ? 32 : 64;
    static constexpr int LD = D + kPad;                                /* smem row stride */
    static constexpr size_t smem = (size_t)(kBQ + 2 * BK) * LD * 2; /* bytes           */
};

/* Two floats as one register of two 16-bit operands (x in the low half), round to
   nearest even. */
template <bool BF16>
__device__ __forceinline__ uint32_t pack2(float x, float y) {
    if constexpr (BF16) {
        const __nv_bfloat162 h = __floats2bfloat162_rn(x, y);
        return *reinterpret_cast<const uint32_t *>(&h);
    } else {
        const __half2 h = __floats2half2_rn(x, y);
        return *reinterpret_cast<const uint32_t *>(&h);
    }
}

/* rows [row0, row0 + nrows) of a [*][heads][D] tensor (row stride s0, head offset) into
   shared memory [ROWS][LD]; rows >= valid are zero. */
template <int D, int ROWS>
__device__ __forceinline__ void load_tile(uint16_t *dst, const uint16_t *src, int64_t s0, int64_t row0,
                                          int valid, bool vec) {
    constexpr int LD = D + kPad, CH = D / 8; /* 16-byte chunks per row */
    for (int e = threadIdx.x; e < ROWS * CH; e += kThreads) {
        const int r = e / CH, c = (e % CH) * 8;
        uint16_t *d = dst + r * LD + c;
        if (r < valid) {
            const uint16_t *s = src + (row0 + r) * s0 + c;
            if (vec) {
                *reinterpret_cast<uint4 *>(d) = __ldg(reinterpret_cast<const uint4 *>(s));
            } else {
#pragma unroll
                for (int i = 0; i < 8; i++) d[i] = s[i];
            }
        } else {
            *reinterpret_cast<uint4 *>(d) = make_uint4(0u, 0u, 0u, 0u);
        }
    }
}

template <bool BF16, int D>
__global__ void __launch_bounds__(kThreads)
    fa2_mma_kernel(mkc_prefill_args a) {
    typedef fa_shape<D> S;
    typedef typename std::conditional<BF16, mkc::bf16, mkc::f16>::type TO; /* output rounding */
    constexpr int BK = S::BK, LD = S::LD, NT = BK / 8, DT = D / 8;
    extern __shared__ __align__(16) uint16_t smem[];
    uint16_t *qs = smem, *ks = smem + kBQ * LD, *vs = ks + BK * LD;

    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int g = lane >> 2, tig = lane & 3;
    const int h = blockIdx.y, hk = h / (a.num_q_heads / a.num_kv_heads);

    const mkc::prefill_tile tl = mkc::find_prefill_tile<kBQ>(a, blockIdx.x);
    if (tl.b < 0) return; /* uniform over the block */
    const int q0 = tl.q0, sq = tl.sq, sk = tl.sk, qbase = tl.qbase, kbase = tl.kbase;

    /* visible keys of query i: [lo(i), hi(i)); the tile's union */
    const int64_t shift = (int64_t)sk - sq; /* diag(i) = i + shift */
    const int qlast = min(q0 + kBQ, sq) - 1;
    auto lo_of = [&](int i) -> int64_t {
        return a.window_left >= 0 ? max((int64_t)0, (int64_t)i + shift - a.window_left) : 0;
    };
    auto hi_of = [&](int i) -> int64_t {
        return a.causal ? min((int64_t)sk, (int64_t)i + shift + 1) : (int64_t)sk;
    };
    const int64_t t_lo = lo_of(q0), t_hi = hi_of(qlast);

    const uint16_t *q = static_cast<const uint16_t *>(a.q) + (int64_t)h * a.q_s1;
    const uint16_t *k = static_cast<const uint16_t *>(a.k) + (int64_t)hk * a.k_s1;
    const uint16_t *v = static_cast<const uint16_t *>(a.v) + (int64_t)hk * a.v_s1;
    load_tile<D, kBQ>(qs, q, a.q_s0, (int64_t)qbase + q0, sq - q0, a.q_vec);

    /* this thread's rows: r0 = 16 warp + g and r0 + 8 (within the tile) */
    const int r0 = warp * 16 + g;
    const int64_t lo0 = lo_of(q0 + r0), hi0 = q0 + r0 < sq ? hi_of(q0 + r0) : 0;
    const int64_t lo1 = lo_of(q0 + r0 + 8), hi1 = q0 + r0 + 8 < sq ? hi_of(q0 + r0 + 8) : 0;

    float o[DT][4];
#pragma unroll
    for (int t = 0; t < DT; t++) o[t][0] = o[t][1] = o[t][2] = o[t][3] = 0.0f;
    float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.0f, l1 = 0.0f; /* l: this thread's part */

    for (int64_t j0 = t_lo; j0 < t_hi; j0 += BK) {
        const int nk = (int)min((int64_t)BK, t_hi - j0);
        __syncthreads(); /* the previous tile is consumed */
        load_tile<D, BK>(ks, k, a.k_s0, kbase + j0, nk, a.k_vec);
        load_tile<D, BK>(vs, v, a.v_s0, kbase + j0, nk, a.v_vec);
        __syncthreads();

        /* S = Q K^T for this warp's 16 rows x BK keys */
        float s[NT][4];
#pragma unroll
        for (int t = 0; t < NT; t++) s[t][0] = s[t][1] = s[t][2] = s[t][3] = 0.0f;
#pragma unroll
        for (int kk = 0; kk < D / 16; kk++) {
            uint32_t af[4];
            mkc::ptx::ldmatrix_x4(af, qs + (warp * 16 + (lane & 15)) * LD + kk * 16 + (lane >> 4) * 8);
#pragma unroll
            for (int t = 0; t < NT; t += 2) {
                const int mi = lane >> 3, r = lane & 7;
                uint32_t bf[4];
                mkc::ptx::ldmatrix_x4(bf, ks + (t * 8 + r + (mi >> 1) * 8) * LD + kk * 16 + (mi & 1) * 8);
                mkc::ptx::mma_m16n8k16<BF16>(s[t], af, bf[0], bf[1]);
                mkc::ptx::mma_m16n8k16<BF16>(s[t + 1], af, bf[2], bf[3]);
            }
        }

        /* scale, softcap, mask; new row maxima */
        float mx0 = -INFINITY, mx1 = -INFINITY;
#pragma unroll
        for (int t = 0; t < NT; t++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int64_t j = j0 + t * 8 + tig * 2 + (e & 1);
                float x = s[t][e] * a.scale;
                if (a.softcap > 0.0f) x = a.softcap * tanhf(x / a.softcap);
                const bool ok = e < 2 ? (j >= lo0 && j < hi0) : (j >= lo1 && j < hi1);
                x = ok ? x : -INFINITY;
                s[t][e] = x;
                if (e < 2) mx0 = fmaxf(mx0, x);
                else mx1 = fmaxf(mx1, x);
            }
#pragma unroll
        for (int off = 1; off <= 2; off <<= 1) {
            mx0 = fmaxf(mx0, __shfl_xor_sync(0xFFFFFFFFu, mx0, off));
            mx1 = fmaxf(mx1, __shfl_xor_sync(0xFFFFFFFFu, mx1, off));
        }
        const float mn0 = fmaxf(m0, mx0), mn1 = fmaxf(m1, mx1);
        const float al0 = mn0 == -INFINITY ? 1.0f : expf(m0 - mn0);
        const float al1 = mn1 == -INFINITY ? 1.0f : expf(m1 - mn1);
        m0 = mn0, m1 = mn1;
        float sum0 = 0.0f, sum1 = 0.0f;
#pragma unroll
        for (int t = 0; t < NT; t++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const float x = s[t][e];
                const float p = x == -INFINITY ? 0.0f : expf(x - (e < 2 ? mn0 : mn1));
                s[t][e] = p;
                if (e < 2) sum0 += p;
                else sum1 += p;
            }
        l0 = l0 * al0 + sum0, l1 = l1 * al1 + sum1;
#pragma unroll
        for (int t = 0; t < DT; t++) o[t][0] *= al0, o[t][1] *= al0, o[t][2] *= al1, o[t][3] *= al1;

        /* O += P V */
#pragma unroll
        for (int kk = 0; kk < BK / 16; kk++) {
            uint32_t pf[4];
            pf[0] = pack2<BF16>(s[2 * kk][0], s[2 * kk][1]);
            pf[1] = pack2<BF16>(s[2 * kk][2], s[2 * kk][3]);
            pf[2] = pack2<BF16>(s[2 * kk + 1][0], s[2 * kk + 1][1]);
            pf[3] = pack2<BF16>(s[2 * kk + 1][2], s[2 * kk + 1][3]);
#pragma unroll
            for (int t = 0; t < DT; t += 2) {
                const int mi = lane >> 3, r = lane & 7;
                uint32_t bf[4];
                mkc::ptx::ldmatrix_x4_trans(bf, vs + (kk * 16 + r + (mi & 1) * 8) * LD + t * 8 + (mi >> 1) * 8);
                mkc::ptx::mma_m16n8k16<BF16>(o[t], pf, bf[0], bf[1]);
                mkc::ptx::mma_m16n8k16<BF16>(o[t + 1], pf, bf[2], bf[3]);
            }
        }
    }

    /* the rows' sums over the quad, then out = o / l, lse = m + log l */
#pragma unroll
    for (int off = 1; off <= 2; off <<= 1) {
        l0 += __shfl_xor_sync(0xFFFFFFFFu, l0, off);
        l1 += __shfl_xor_sync(0xFFFFFFFFu, l1, off);
    }
    uint16_t *out = static_cast<uint16_t *>(a.out);
#pragma unroll
    for (int half = 0; half < 2; half++) {
        const int i = q0 + r0 + half * 8;
        if (i >= sq) continue;
        const float l = half ? l1 : l0, m = half ? m1 : m0;
        const float inv = l > 0.0f ? 1.0f / l : 0.0f;
        const int64_t row = ((int64_t)qbase + i) * a.num_q_heads + h;
        uint16_t *dst = out + row * D + tig * 2;
#pragma unroll
        for (int t = 0; t < DT; t++) {
            dst[t * 8] = TO::store(o[t][2 * half] * inv);
            dst[t * 8 + 1] = TO::store(o[t][2 * half + 1] * inv);
        }
        if (a.lse && tig == 0) a.lse[row] = l > 0.0f ? m + logf(l) : -INFINITY;
    }
}

template <bool BF16, int D>
cudaError_t launch(const mkc_prefill_args *a, cudaStream_t stream) {
    const size_t smem = fa_shape<D>::smem;
    if (smem > 48 * 1024) {
        const cudaError_t e = cudaFuncSetAttribute(fa2_mma_kernel<BF16, D>,
                                                   cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
        if (e != cudaSuccess) return e;
    }
    /* in 64 bits: total_q + kBQ - 1 overflows int near INT32_MAX */
    const int64_t slots = mkc::prefill_blocks<kBQ>(a);
    if (slots > 0x7FFFFFFF) return cudaErrorInvalidValue; /* grid.x limit */
    const dim3 grid((unsigned)slots, (unsigned)a->num_q_heads);
    fa2_mma_kernel<BF16, D><<<grid, kThreads, smem, stream>>>(*a);
    return cudaGetLastError();
}

template <bool BF16>
cudaError_t by_dim(const mkc_prefill_args *a, cudaStream_t stream) {
    switch (a->head_dim) {
    case 64: return launch<BF16, 64>(a, stream);
    case 80: return launch<BF16, 80>(a, stream);
    case 96: return launch<BF16, 96>(a, stream);
    case 128: return launch<BF16, 128>(a, stream);
    case 256: return launch<BF16, 256>(a, stream);
    default: return cudaErrorInvalidValue;
    }
}

} /* namespace */

extern "C" size_t mkc_fa2_mma_smem(int head_dim) {
    switch (head_dim) {
    case 64: return fa_shape<64>::smem;
    case 80: return fa_shape<80>::smem;
    case 96: return fa_shape<96>::smem;
    case 128: return fa_shape<128>::smem;
    case 256: return fa_shape<256>::smem;
    default: return 0;
    }
}

extern "C" cudaError_t mkc_attention_prefill_fa2(const mkc_prefill_args *a, cudaStream_t stream) {
    if (a->total_q <= 0 || a->batch <= 0) return cudaSuccess;
    if (a->dtype == MK_F16) return by_dim<false>(a, stream);
    if (a->dtype == MK_BF16) return by_dim<true>(a, stream);
    return cudaErrorInvalidValue;
}
