/*
 * Flash attention prefill with FlashAttention-2's structure on tensor cores: mma.sync
 * m16n8k16 (f16 or bf16 operands, f32 accumulation), ldmatrix fragments, cp.async, sm_80+.
 * The result is kernels/opencl/attention_prefill.cl's (online softmax in f32, scale by 1/l
 * once at the end, natural-log LSE; a row that sees no key gets 0 and -inf); the softmax
 * runs in base 2 with log2(e) folded into the scale, the LSE converted back at the end.
 *
 * Tiles (fa_shape<D>): a block of NW = 4 warps owns BQ query rows of one sequence and one
 * query head, each warp 16 * MT consecutive rows (MT m16 tiles), and walks the keys any of
 * its rows sees in tiles of BK. Why 32 rows a warp (MT = 2) where the registers allow it:
 * every warp reads the whole K and V tile from shared memory by ldmatrix, so the
 * shared-memory bytes per MMA FLOP are 1 / (rows per warp): 4 warps x 32 rows read K and V
 * half as often per FLOP as 8 warps x 16 (0.031 against 0.0625 B/FLOP with Q in
 * registers, 0.039 with Q re-read from shared memory), which at the ~335 TFLOP/s target on
 * H100 is ~10 TB/s against ~21 TB/s of its ~30 TB/s of shared-memory bandwidth.
 *   D      BQ  MT  BK  Q fragments      smem (Q + 2 stages of K and V, rows of D + 8)
 *   64    128   2  32  registers        36 864 B
 *   80    128   2  32  registers        45 056 B
 *   96    128   2  32  registers        53 248 B
 *   128   128   2  32  shared memory    69 632 B   (O alone is 128 f32 registers/thread)
 *   256    64   1  32  shared memory   101 376 B   (O is 128 registers at MT = 1; 99 KB fits sm_86/89)
 * ptxas (sm_80/86/89/90a) gives 212-255 registers and no spill for these; what does not fit
 * spills: Q in registers at D = 128 (~150 B), BK = 64 with Q in registers at D = 64 on
 * sm_80 (60 B). At 255 registers x 128 threads two blocks (8 warps) share an SM, as in FA2.
 * Rows are padded by 8 elements (16 bytes) so the 8 row addresses of an ldmatrix fall in
 * different banks.
 *
 * Pipeline: Q and the first K/V tile are issued by cp.async (16 bytes a thread, rows past
 * the sequence or the tile zero-filled: V zero matters, P is 0 there but 0 * NaN is not);
 * at tile j the block waits for its copy, passes one barrier (tile j visible, every warp
 * done with tile j - 1, whose stage tile j + 1 then takes), issues tile j + 1 and computes
 * tile j while it lands. A tensor that is not 16-byte aligned (*_vec = 0) is copied by
 * plain loads and stores at the same point, visible after the same barrier.
 * Per key tile, per warp:
 *   S = Q K^T      A = Q (MT x D/16 fragments, held in registers or ldmatrix.x4), B = K
 *                  rows (ldmatrix.x4: two n8 tiles, used by all MT m-tiles)
 *   softmax        x = s * scale * log2(e), or softcap * log2(e) * tanh(s * scale / softcap)
 *                  (SOFTCAP: a template parameter, no division in the loop); keys outside
 *                  a row's [lo, hi) set to -inf only in tiles that need it (the diagonal's,
 *                  the window's first, the sequence's last: a block-uniform branch that
 *                  every tile all rows of the block see whole skips); row max/sum over the
 *                  quad by shuffles; O rescaled by 2^(m_old - m_new)
 *   O += P V       P from the S accumulators (the C layout of two n8 tiles is the A layout
 *                  of one k16 step), rounded to the operand type; B = V by ldmatrix.trans
 * Tiles no row of the block sees (above the causal diagonal, left of the window) are never
 * loaded. The window needs no instance of its own: it only moves the first tile and which
 * tiles are masked.
 *
 * Varlen: a block per entry of the plan's tile map (rows fa2 tile rows, mkc_fa2_tile_rows),
 * or without one a slot of ceil(T / BQ) + B found by scanning cu_seqlens_q:
 * prefill_tiles.cuh, clamped so malformed values cannot make it read or write out of
 * bounds. GQA: query head h reads kv head h / (Hq / Hkv).
 */
#include <math.h>
#include <stdint.h>

#include <type_traits>

#include "dtype_io.cuh"
#include "ptx.cuh"
#include "mk_cuda_kernels.h"
#include "prefill_tiles.cuh"

namespace {

constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
constexpr int kPad = 8; /* elements of row padding in shared memory */
constexpr float kLog2e = 1.4426950408889634f, kLn2 = 0.6931471805599453f;

template <int D>
struct fa_shape {
    static constexpr int MT = D >= 256 ? 1 : 2;         /* m16 tiles (16 rows) per warp */
    static constexpr int BQ = 16 * MT * kWarps;         /* query rows per block         */
    static constexpr int BK = 32;                       /* keys per tile                */
    static constexpr bool Q_REGS = D <= 96;             /* Q fragments in registers     */
    static constexpr int LD = D + kPad;                 /* shared-memory row stride     */
    static constexpr size_t smem = (size_t)(BQ + 4 * BK) * LD * 2;
};

/* Rows [row0, row0 + ROWS) of a [*][heads][D] tensor (row stride s0, head offset applied)
   into shared memory [ROWS][LD]; rows >= valid are zero. vec: cp.async 16-byte copies
   (complete after the next cp_async_wait), else plain element copies. */
template <int D, int ROWS>
__device__ __forceinline__ void load_tile(uint16_t *dst, const uint16_t *src, int64_t s0, int64_t row0,
                                          int valid, bool vec) {
    constexpr int LD = D + kPad, CH = D / 8; /* 16-byte chunks per row */
#pragma unroll
    for (int i = 0; i < (ROWS * CH + kThreads - 1) / kThreads; i++) {
        const int e = threadIdx.x + i * kThreads;
        if (ROWS * CH % kThreads != 0 && e >= ROWS * CH) break;
        const int r = e / CH, c = (e % CH) * 8;
        uint16_t *d = dst + r * LD + c;
        const bool ok = r < valid;
        const uint16_t *s = src + (ok ? (row0 + r) * s0 + c : 0);
        if (vec) {
            mkc::ptx::cp_async<16>(d, s, ok ? 16 : 0);
        } else if (ok) {
#pragma unroll
            for (int k = 0; k < 8; k++) d[k] = s[k];
        } else {
            *reinterpret_cast<uint4 *>(d) = make_uint4(0u, 0u, 0u, 0u);
        }
    }
}

/* One warp's running state: O accumulators, row maxima (log2 units) and this thread's
   part of the row sums, for rows 16 mt + g + 8 half of the warp's slice. */
template <int D>
struct fa_state {
    static constexpr int MT = fa_shape<D>::MT, DT = D / 8;
    float o[MT][DT][4];
    float m[MT][2], l[MT][2];
};

/* One key tile [j0, j0 + BK) for this warp: S = Q K^T, online softmax, O += P V.
   masked (uniform over the block): key j0 + j of row i is kept only when
   lo(i) <= j0 + j < hi(i), the bounds computed only there (row0: the query row of this
   thread's first element). One body for both kinds of tile: a second inlined copy of it
   costs ~40 registers of spills at 255 (ptxas, sm_80 and sm_90a), the branch around the
   selects almost nothing. */
template <bool BF16, int D, bool SOFTCAP, class LO, class HI>
__device__ __forceinline__ void fa_tile(fa_state<D> &st, const uint32_t (*qf)[D / 16][4], const uint16_t *qs,
                                        const uint16_t *ks, const uint16_t *vs, float sc, float cap, bool masked,
                                        int row0, int j0, const LO &lo_of, const HI &hi_of) {
    typedef fa_shape<D> S;
    constexpr int MT = S::MT, BK = S::BK, LD = S::LD, NT = BK / 8, DT = D / 8;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int tig = lane & 3, mi = lane >> 3, r8 = lane & 7;

    float s[MT][NT][4];
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
        for (int t = 0; t < NT; t++) s[mt][t][0] = s[mt][t][1] = s[mt][t][2] = s[mt][t][3] = 0.0f;
#pragma unroll
    for (int kk = 0; kk < D / 16; kk++) {
        uint32_t af[MT][4];
#pragma unroll
        for (int mt = 0; mt < MT; mt++) {
            if constexpr (S::Q_REGS) {
                af[mt][0] = qf[mt][kk][0], af[mt][1] = qf[mt][kk][1];
                af[mt][2] = qf[mt][kk][2], af[mt][3] = qf[mt][kk][3];
            } else {
                mkc::ptx::ldmatrix_x4(af[mt], qs + ((warp * MT + mt) * 16 + (lane & 15)) * LD + kk * 16 +
                                                  (lane >> 4) * 8);
            }
        }
#pragma unroll
        for (int t = 0; t < NT; t += 2) {
            uint32_t bf[4];
            mkc::ptx::ldmatrix_x4(bf, ks + (t * 8 + r8 + (mi >> 1) * 8) * LD + kk * 16 + (mi & 1) * 8);
#pragma unroll
            for (int mt = 0; mt < MT; mt++) {
                mkc::ptx::mma_m16n8k16<BF16>(s[mt][t], af[mt], bf[0], bf[1]);
                mkc::ptx::mma_m16n8k16<BF16>(s[mt][t + 1], af[mt], bf[2], bf[3]);
            }
        }
    }

#pragma unroll
    for (int mt = 0; mt < MT; mt++) {
        float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
        for (int t = 0; t < NT; t++)
#pragma unroll
            for (int e = 0; e < 4; e++)
                s[mt][t][e] = SOFTCAP ? cap * tanhf(s[mt][t][e] * sc) : s[mt][t][e] * sc;
        if (masked) {
#pragma unroll
            for (int hf = 0; hf < 2; hf++) {
                const int i = row0 + mt * 16 + 8 * hf;
                const int rlo = lo_of(i) - j0, rhi = hi_of(i) - j0; /* in (-2^31, 2^31) */
#pragma unroll
                for (int t = 0; t < NT; t++)
#pragma unroll
                    for (int e = 2 * hf; e < 2 * hf + 2; e++) {
                        const int j = t * 8 + tig * 2 + (e & 1);
                        if (j < rlo || j >= rhi) s[mt][t][e] = -INFINITY;
                    }
            }
        }
#pragma unroll
        for (int t = 0; t < NT; t++)
#pragma unroll
            for (int e = 0; e < 4; e++) mx[e >> 1] = fmaxf(mx[e >> 1], s[mt][t][e]);
        float al[2], mu[2];
#pragma unroll
        for (int hf = 0; hf < 2; hf++) {
            mx[hf] = fmaxf(mx[hf], __shfl_xor_sync(0xFFFFFFFFu, mx[hf], 1));
            mx[hf] = fmaxf(mx[hf], __shfl_xor_sync(0xFFFFFFFFu, mx[hf], 2));
            const float mn = fmaxf(st.m[mt][hf], mx[hf]);
            /* a row with no key yet keeps m = -inf; subtracting 0 then gives p = 0, alpha = 0
               (its O and l are 0) instead of -inf - -inf */
            mu[hf] = mn == -INFINITY ? 0.0f : mn;
            al[hf] = exp2f(st.m[mt][hf] - mu[hf]);
            st.m[mt][hf] = mn;
        }
        float sum[2] = {0.0f, 0.0f};
#pragma unroll
        for (int t = 0; t < NT; t++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const float p = exp2f(s[mt][t][e] - mu[e >> 1]);
                s[mt][t][e] = p;
                sum[e >> 1] += p;
            }
#pragma unroll
        for (int hf = 0; hf < 2; hf++) st.l[mt][hf] = st.l[mt][hf] * al[hf] + sum[hf];
#pragma unroll
        for (int t = 0; t < DT; t++) {
            st.o[mt][t][0] *= al[0], st.o[mt][t][1] *= al[0];
            st.o[mt][t][2] *= al[1], st.o[mt][t][3] *= al[1];
        }
    }

#pragma unroll
    for (int kk = 0; kk < BK / 16; kk++) {
        uint32_t pf[MT][4];
#pragma unroll
        for (int mt = 0; mt < MT; mt++) {
            pf[mt][0] = mkc::pack2_rn<BF16>(s[mt][2 * kk][0], s[mt][2 * kk][1]);
            pf[mt][1] = mkc::pack2_rn<BF16>(s[mt][2 * kk][2], s[mt][2 * kk][3]);
            pf[mt][2] = mkc::pack2_rn<BF16>(s[mt][2 * kk + 1][0], s[mt][2 * kk + 1][1]);
            pf[mt][3] = mkc::pack2_rn<BF16>(s[mt][2 * kk + 1][2], s[mt][2 * kk + 1][3]);
        }
#pragma unroll
        for (int t = 0; t < DT; t += 2) {
            uint32_t bf[4];
            mkc::ptx::ldmatrix_x4_trans(bf, vs + (kk * 16 + r8 + (mi & 1) * 8) * LD + t * 8 + (mi >> 1) * 8);
#pragma unroll
            for (int mt = 0; mt < MT; mt++) {
                mkc::ptx::mma_m16n8k16<BF16>(st.o[mt][t], pf[mt], bf[0], bf[1]);
                mkc::ptx::mma_m16n8k16<BF16>(st.o[mt][t + 1], pf[mt], bf[2], bf[3]);
            }
        }
    }
}

template <bool BF16, int D, bool SOFTCAP>
__global__ void __launch_bounds__(kThreads)
    fa2_mma_kernel(mkc_prefill_args a) {
    typedef fa_shape<D> S;
    constexpr int MT = S::MT, BQ = S::BQ, BK = S::BK, LD = S::LD, DT = D / 8;
    extern __shared__ __align__(16) uint16_t smem[];
    uint16_t *qs = smem, *kst = smem + BQ * LD, *vst = kst + 2 * BK * LD; /* K, V: 2 stages */

    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int g = lane >> 2, tig = lane & 3;
    const int h = blockIdx.y, hk = h / (a.num_q_heads / a.num_kv_heads);

    const mkc::prefill_tile tl = mkc::find_prefill_tile<BQ>(a, blockIdx.x);
    if (tl.b < 0) return; /* uniform over the block */
    const int q0 = tl.q0, sq = tl.sq, sk = tl.sk, qbase = tl.qbase, kbase = tl.kbase;

    /* keys row i sees: [lo(i), hi(i)), both nondecreasing in i; rows past the sequence
       none. d = i + sk - sq is row i's diagonal; every position here is in [-2^31, 2^31)
       (sq, sk <= INT32_MAX), so int. */
    auto lo_of = [&](int i) -> int { /* rows past the sequence: the last row's */
        const int d = (min(i, sq - 1) - sq) + sk;
        return a.window_left >= 0 && d > a.window_left ? d - a.window_left : 0;
    };
    auto hi_of = [&](int i) -> int {
        const int d = (min(i, sq - 1) - sq) + sk;
        return i >= sq ? 0 : a.causal ? max(0, min(sk, d + 1)) : sk;
    };
    const int qlast = min(q0 + BQ, sq) - 1;
    const int t_lo = lo_of(q0), t_hi = hi_of(qlast);
    /* tile j0 is seen whole by every row of the block when j0 >= lo(qlast) and
       j0 + BK <= hi(q0) */
    const int full_lo = lo_of(qlast), full_last = hi_of(q0) - BK;
    const int ntiles = t_hi > t_lo ? (int)(((int64_t)t_hi - t_lo + BK - 1) / BK) : 0;

    fa_state<D> st;
#pragma unroll
    for (int mt = 0; mt < MT; mt++) {
#pragma unroll
        for (int t = 0; t < DT; t++) st.o[mt][t][0] = st.o[mt][t][1] = st.o[mt][t][2] = st.o[mt][t][3] = 0.0f;
        st.m[mt][0] = st.m[mt][1] = -INFINITY, st.l[mt][0] = st.l[mt][1] = 0.0f;
    }

    if (ntiles > 0) {
        const uint16_t *q = static_cast<const uint16_t *>(a.q) + (int64_t)h * a.q_s1;
        const uint16_t *k = static_cast<const uint16_t *>(a.k) + (int64_t)hk * a.k_s1;
        const uint16_t *v = static_cast<const uint16_t *>(a.v) + (int64_t)hk * a.v_s1;
        const float sc = SOFTCAP ? a.scale / a.softcap : a.scale * kLog2e, cap = a.softcap * kLog2e;

        load_tile<D, BQ>(qs, q, a.q_s0, (int64_t)qbase + q0, sq - q0, a.q_vec);
        load_tile<D, BK>(kst, k, a.k_s0, (int64_t)kbase + t_lo, min(BK, t_hi - t_lo), a.k_vec);
        load_tile<D, BK>(vst, v, a.v_s0, (int64_t)kbase + t_lo, min(BK, t_hi - t_lo), a.v_vec);
        mkc::ptx::cp_async_commit();

        uint32_t qf[S::Q_REGS ? MT : 1][D / 16][4];
        const int row0 = q0 + warp * MT * 16 + g;
        for (int j = 0; j < ntiles; j++) {
            const int j0 = t_lo + j * BK;
            mkc::ptx::cp_async_wait<0>();
            __syncthreads(); /* tile j landed for all; all are done with tile j - 1 */
            if (S::Q_REGS && j == 0) {
#pragma unroll
                for (int mt = 0; mt < (S::Q_REGS ? MT : 1); mt++)
#pragma unroll
                    for (int kk = 0; kk < D / 16; kk++)
                        mkc::ptx::ldmatrix_x4(qf[mt][kk], qs + ((warp * MT + mt) * 16 + (lane & 15)) * LD +
                                                              kk * 16 + (lane >> 4) * 8);
            }
            if (j + 1 < ntiles) { /* into the stage tile j - 1 used */
                const int n0 = j0 + BK, nk = min(BK, t_hi - n0), sg = (j + 1) & 1;
                load_tile<D, BK>(kst + sg * BK * LD, k, a.k_s0, (int64_t)kbase + n0, nk, a.k_vec);
                load_tile<D, BK>(vst + sg * BK * LD, v, a.v_s0, (int64_t)kbase + n0, nk, a.v_vec);
                mkc::ptx::cp_async_commit();
            }
            const bool masked = j0 < full_lo || j0 > full_last;
            fa_tile<BF16, D, SOFTCAP>(st, qf, qs, kst + (j & 1) * BK * LD, vst + (j & 1) * BK * LD, sc, cap,
                                      masked, row0, j0, lo_of, hi_of);
        }
    }

    /* the rows' sums over the quad, then out = o / l, lse = (m + log2 l) ln 2 */
    uint16_t *out = static_cast<uint16_t *>(a.out);
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
        for (int hf = 0; hf < 2; hf++) {
            float l = st.l[mt][hf];
            l += __shfl_xor_sync(0xFFFFFFFFu, l, 1);
            l += __shfl_xor_sync(0xFFFFFFFFu, l, 2);
            const int i = q0 + (warp * MT + mt) * 16 + g + 8 * hf;
            if (i >= sq) continue;
            const float inv = l > 0.0f ? 1.0f / l : 0.0f;
            const int64_t row = ((int64_t)qbase + i) * a.num_q_heads + h;
            uint32_t *dst = reinterpret_cast<uint32_t *>(out + row * D + tig * 2); /* D even: 4-byte aligned */
#pragma unroll
            for (int t = 0; t < DT; t++)
                dst[t * 4] = mkc::pack2_rn<BF16>(st.o[mt][t][2 * hf] * inv, st.o[mt][t][2 * hf + 1] * inv);
            if (a.lse && tig == 0) a.lse[row] = l > 0.0f ? (st.m[mt][hf] + log2f(l)) * kLn2 : -INFINITY;
        }
}

template <bool BF16, int D, bool SOFTCAP>
cudaError_t launch(const mkc_prefill_args *a, cudaStream_t stream) {
    const size_t smem = fa_shape<D>::smem;
    if (smem > 48 * 1024) {
        const cudaError_t e = cudaFuncSetAttribute(fa2_mma_kernel<BF16, D, SOFTCAP>,
                                                   cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
        if (e != cudaSuccess) return e;
    }
    /* in 64 bits: total_q + BQ - 1 overflows int near INT32_MAX */
    const int64_t slots = mkc::prefill_blocks<fa_shape<D>::BQ>(a);
    if (slots > 0x7FFFFFFF) return cudaErrorInvalidValue; /* grid.x limit */
    const dim3 grid((unsigned)slots, (unsigned)a->num_q_heads);
    fa2_mma_kernel<BF16, D, SOFTCAP><<<grid, kThreads, smem, stream>>>(*a);
    return cudaGetLastError();
}

template <bool BF16, int D>
cudaError_t by_softcap(const mkc_prefill_args *a, cudaStream_t stream) {
    return a->softcap > 0.0f ? launch<BF16, D, true>(a, stream) : launch<BF16, D, false>(a, stream);
}

template <bool BF16>
cudaError_t by_dim(const mkc_prefill_args *a, cudaStream_t stream) {
    switch (a->head_dim) {
    case 64: return by_softcap<BF16, 64>(a, stream);
    case 80: return by_softcap<BF16, 80>(a, stream);
    case 96: return by_softcap<BF16, 96>(a, stream);
    case 128: return by_softcap<BF16, 128>(a, stream);
    case 256: return by_softcap<BF16, 256>(a, stream);
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

extern "C" int mkc_fa2_tile_rows(int head_dim) {
    switch (head_dim) {
    case 64: return fa_shape<64>::BQ;
    case 80: return fa_shape<80>::BQ;
    case 96: return fa_shape<96>::BQ;
    case 128: return fa_shape<128>::BQ;
    case 256: return fa_shape<256>::BQ;
    default: return 0;
    }
}

extern "C" cudaError_t mkc_attention_prefill_fa2(const mkc_prefill_args *a, cudaStream_t stream) {
    if (a->total_q <= 0 || a->batch <= 0) return cudaSuccess;
    if (a->dtype == MK_F16) return by_dim<false>(a, stream);
    if (a->dtype == MK_BF16) return by_dim<true>(a, stream);
    return cudaErrorInvalidValue;
}
