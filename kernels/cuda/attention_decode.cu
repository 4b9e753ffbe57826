/*
 * Split-KV flash decoding over the paged KV cache (one query token per sequence), with
 * the work partition of the decode plan (runtime/src/splitkv.c) and a deterministic merge.
 *
 * A thread block owns (kv head hk, group hg of up to HPB query heads that share hk,
 * sequence b, split s) and walks the split's visible keys [lo + s*chunk, lo + (s+1)*chunk)
 * in tiles of BK keys. Every K and V row is read from global memory once per block, for
 * all HPB heads.
 *
 * Pipeline (both kernels): K and V tiles are copied raw (cache bytes, 16-byte cp.async.cg,
 * coalesced: consecutive threads take consecutive 16-byte chunks of a row, then the next
 * row) into a ring of kStages shared-memory stages; tile t+kStages-1 is issued before
 * tile t is computed, so kStages-1 tiles are in flight. Keys past the split's end are
 * zero-filled by the copy (src-size 0), so V holds no NaN where P is 0. Quantized caches
 * (I8, FP8) copy the rows' f32 scales the same way (4-byte cp.async) and dequantize in
 * registers after the shared-memory load. Page size is free: the copy computes each
 * key's row from the block table (index clamped to the pool). Rows whose byte size is
 * not a multiple of 16 (odd D) take a synchronous element copy into the same layout.
 * One __syncthreads per tile: after cp.async.wait_group(kStages-2) it makes tile t
 * visible and frees the stage tile t+kStages-1 is written into.
 *
 * decode_simt_kernel (every cache dtype, D <= 256, HPB in {1, 4, 8}): 4 warps; a warp
 * owns KPW keys of each tile with LPK lanes per key (LPK = row bytes / 64, so a key's
 * lanes read 64-byte runs: a stage is 8 KB of K and 8 KB of V, rows padded by 16*LPK
 * bytes so the 16-byte shared loads of a quarter warp hit distinct banks). q sits in
 * shared memory as f32 (broadcast loads). Scores: partial dots over the lane's chunks,
 * xor-shuffle sums over the LPK lanes, then the warp's online softmax per head (max and
 * sum by xor shuffles over its keys). P goes to a per-warp shared array; lane l
 * accumulates dims [l*DPL, (l+1)*DPL) of all HPB heads over the warp's keys.
 *
 * decode_mma_kernel (F16/BF16 cache with q of the same dtype, group >= 4, D % 16 == 0,
 * sm_80+): the group's heads are the 16 rows of mma.sync m16n8k16 tiles (rows past the
 * group are zero). Warp w owns keys [16w, 16w+16) of each tile: S = Q K^T (Q fragments
 * from ldmatrix, held in registers for D <= 128; K by ldmatrix.x4), online softmax per row
 * across the quad, O += P V (P rounded to the operand type, V by ldmatrix.x4.trans).
 *
 * Each warp keeps its own running (m, l, o) over its keys; after the last tile the
 * warps' states meet in shared memory (reusing the stages) and are combined in warp
 * order. Softmax runs in base 2: scores are scaled by scale*log2(e) (softcap:
 * cap*log2(e)*tanh(x*scale/cap)), m is in log2 units here and in the split scratch.
 * With one split the normalized output is written directly (rows that see no key: 0);
 * otherwise the unnormalized output and (m, l) go to scratch and splitkv_merge_kernel
 * combines the splits of each (sequence, head) in split order: deterministic, no atomics.
 * Both divide by L with __fdividef (within 2 ulp, no call into the IEEE division routine):
 * a row that sees a key has L in [1, 2^31] (the largest score's term is exp2(0) = 1, no
 * term exceeds 1), inside the divisor range where __fdividef is accurate to 2 ulp.
 */
#include <math.h>
#include <stdint.h>

#include "dtype_io.cuh"
#include "fastdiv.cuh"
#include "mk_cuda_kernels.h"
#include "ptx.cuh"

namespace {

constexpr int kStages = 3;     /* shared-memory ring: kStages - 1 tiles in flight */
constexpr float kLog2e = 1.4426950408889634f;

template <int CT>
__host__ __device__ constexpr int elem_bytes() {
    return CT == MK_F32 ? 4 : (CT == MK_F16 || CT == MK_BF16) ? 2 : 1;
}
template <int CT>
__host__ __device__ constexpr bool quantized() {
    return CT == MK_I8 || CT == MK_FP8_E4M3;
}
__host__ __device__ constexpr int cmax(int a, int b) { return a > b ? a : b; }

/* ------------------------------------------------------------------ element access */

/* Element i of little-endian words w as f32 (I8/FP8: the code, before the row scale;
   FP8 E4M3 -> half is exact, half -> float exact; 0x7F/0xFF -> NaN). */
template <int CT>
__device__ __forceinline__ float raw_elem(const uint32_t *w, int i) {
    if constexpr (CT == MK_F32) {
        return __uint_as_float(w[i]);
    } else if constexpr (CT == MK_F16) {
        return mkc::f16::load((uint16_t)(w[i >> 1] >> ((i & 1) * 16)));
    } else if constexpr (CT == MK_BF16) {
        return mkc::bf16::load((uint16_t)(w[i >> 1] >> ((i & 1) * 16)));
    } else {
        const uint32_t c = (w[i >> 2] >> ((i & 3) * 8)) & 0xFFu;
        if constexpr (CT == MK_I8) {
            return (float)(int8_t)c;
        } else {
            const __half_raw hr = __nv_cvt_fp8_to_halfraw((__nv_fp8_storage_t)c, __NV_E4M3);
            return __half2float(__half(hr));
        }
    }
}

/* N consecutive elements at shared-memory byte address p (aligned to their byte size),
   with the widest shared loads that size allows. */
template <int CT, int N>
__device__ __forceinline__ void smem_elems(const uint8_t *p, float (&x)[N]) {
    constexpr int B = N * elem_bytes<CT>();
    uint32_t w[B < 4 ? 1 : B / 4];
    if constexpr (B >= 16) {
#pragma unroll
        for (int i = 0; i < B / 16; i++) {
            const uint4 v = reinterpret_cast<const uint4 *>(p)[i];
            w[4 * i] = v.x, w[4 * i + 1] = v.y, w[4 * i + 2] = v.z, w[4 * i + 3] = v.w;
        }
    } else if constexpr (B == 8) {
        const uint2 v = *reinterpret_cast<const uint2 *>(p);
        w[0] = v.x, w[1] = v.y;
    } else if constexpr (B == 4) {
        w[0] = *reinterpret_cast<const uint32_t *>(p);
    } else if constexpr (B == 2) {
        w[0] = *reinterpret_cast<const uint16_t *>(p);
    } else {
        w[0] = *p;
    }
#pragma unroll
    for (int i = 0; i < N; i++) x[i] = raw_elem<CT>(w, i);
}

/* q and out elements: the dtype is uniform over the grid (a runtime branch, not a
   template: it only touches q once and out once). */
__device__ __forceinline__ float load_q(const mkc_decode_args &a, int64_t idx) {
    if (a.q_dtype == MK_F32) return static_cast<const float *>(a.q)[idx];
    const uint16_t h = static_cast<const uint16_t *>(a.q)[idx];
    return a.q_dtype == MK_F16 ? mkc::f16::load(h) : mkc::bf16::load(h);
}
__device__ __forceinline__ void store_out(const mkc_decode_args &a, int64_t idx, float x) {
    if (a.q_dtype == MK_F32) static_cast<float *>(a.out)[idx] = x;
    else if (a.q_dtype == MK_F16) static_cast<uint16_t *>(a.out)[idx] = mkc::f16::store(x);
    else static_cast<uint16_t *>(a.out)[idx] = mkc::bf16::store(x);
}

/* ------------------------------------------------------------------ the block's work */

/* Per-launch constants, computed on the host so that no kernel divides in 64 bits or
   calls the IEEE division routine (a CALL makes ptxas save registers to the stack). */
struct decode_consts {
    mkc_divisor page; /* key j's page: j / block_size (fastdiv.cuh)                 */
    float2 sc;       /* score_l2's constants                                        */
};

/* A score in log2 units: dot * scale * log2(e), or with softcap cap * log2(e) * tanh(dot *
   scale / cap) (sc.x = scale * log2(e) or scale / cap, sc.y = 0 or cap * log2(e)). */
__device__ __forceinline__ float score_l2(float dot, float2 sc) {
    return sc.y > 0.0f ? sc.y * tanhf(dot * sc.x) : dot * sc.x;
}

decode_consts consts_of(const mkc_decode_args &a) {
    decode_consts c;
    const uint32_t bs = (uint32_t)a.pool.block_size;
    c.page = mkc_divisor_of(bs);
    c.sc = a.softcap > 0.0f ? make_float2(a.scale / a.softcap, a.softcap * kLog2e)
                            : make_float2(a.scale * kLog2e, 0.0f);
    return c;
}

struct block_work {
    int hk, h0, ng;           /* kv head, first query head, heads in this block */
    int b, s;                 /* sequence, split                                */
    int k_begin, k_end;       /* this split's keys                              */
    const int32_t *btab;      /* sequence b's block-table row                   */
    mkc_divisor page;         /* decode_consts' page division                   */
};

__device__ __forceinline__ block_work find_work(const mkc_decode_args &a, const decode_consts &c, int hpb,
                                                int head_groups) {
    block_work w;
    const int G = a.num_q_heads / a.pool.num_kv_heads;
    w.hk = (int)blockIdx.x / head_groups;
    const int hg = (int)blockIdx.x % head_groups;
    w.h0 = w.hk * G + hg * hpb;
    w.ng = min(hpb, G - hg * hpb);
    w.b = (int)blockIdx.y, w.s = (int)blockIdx.z;
    w.btab = a.block_table + (int64_t)w.b * a.max_blocks;
    /* visible keys [lo, len): the query is the last token; then this split's chunk */
    const int len = min(max(a.context_lens[w.b], 0), a.max_blocks * a.pool.block_size);
    const int lo = a.window_left >= 0 ? max(0, len - 1 - a.window_left) : 0;
    w.k_begin = lo + w.s * a.chunk;
    w.k_end = min(len, w.k_begin + a.chunk);
    w.page = c.page;
    return w;
}

/* Pool row (slot * Hkv + hk) of key j (0 <= j < 2^30): the block index clamped to the
   pool. 32-bit throughout: rows < 2^31 (mkc_kv_pool). */
__device__ __forceinline__ int kv_row(const mkc_kv_pool &p, const block_work &w, int j) {
    const uint32_t u = (uint32_t)j;
    const uint32_t page = mkc_div(u, w.page);
    const int blk = min(max(w.btab[page], 0), (int)p.num_blocks - 1);
    return (blk * p.block_size + (int)(u - page * (uint32_t)p.block_size)) * p.num_kv_heads + w.hk;
}

/* Issues the copies of keys [j0, j0 + BK) (those < k_end; the rest zero-filled) into one
   stage: K rows at kdst, V rows at vdst (row stride RS bytes, NCH 16-byte chunks per row
   of which the first nch hold the row), scales at ksc/vsc (quantized caches). vec: rows
   are whole 16-byte chunks (cp.async); otherwise element copies (synchronous). */
template <int BK, int NCH, int RS, int NT, int ES, bool QUANT>
__device__ __forceinline__ void issue_tile(uint8_t *kdst, uint8_t *vdst, float *ksc, float *vsc,
                                           const mkc_kv_pool &p, const block_work &w, int j0, int nch,
                                           bool vec) {
    const int row_bytes = p.head_dim * ES;
    const uint8_t *kb = static_cast<const uint8_t *>(p.k), *vb = static_cast<const uint8_t *>(p.v);
    static_assert((BK * NCH) % NT == 0, "whole copy rounds");
#pragma unroll
    for (int i = 0; i < BK * NCH / NT; i++) {
        const int e = (int)threadIdx.x + i * NT, key = e / NCH, c = e % NCH, j = j0 + key;
        if (c >= nch) continue;
        const bool ok = j < w.k_end;
        const int64_t off = ok ? (int64_t)kv_row(p, w, j) * row_bytes + c * 16 : 0;
        uint8_t *kd = kdst + key * RS + c * 16, *vd = vdst + key * RS + c * 16;
        if (vec) {
            mkc::ptx::cp_async<16>(kd, kb + off, ok ? 16 : 0);
            mkc::ptx::cp_async<16>(vd, vb + off, ok ? 16 : 0);
        } else {
            for (int x = 0; x < 16; x += ES) { /* an element is never split: 16 % ES == 0 */
                const bool in = ok && c * 16 + x < row_bytes;
                for (int y = 0; y < ES; y++) {
                    kd[x + y] = in ? kb[off + x + y] : 0;
                    vd[x + y] = in ? vb[off + x + y] : 0;
                }
            }
        }
    }
    if constexpr (QUANT) {
        for (int key = (int)threadIdx.x; key < BK; key += NT) {
            const int j = j0 + key;
            const bool ok = j < w.k_end;
            const int row = ok ? kv_row(p, w, j) : 0;
            mkc::ptx::cp_async<4>(ksc + key, p.k_scale + row, ok ? 4 : 0);
            mkc::ptx::cp_async<4>(vsc + key, p.v_scale + row, ok ? 4 : 0);
        }
    }
}

/* Combines the warps' states of rows [0, w.ng) from shared memory st[warp][row][DP + 2]
   (o[DP], then m in log2 units, then l), in warp order, and writes them: the normalized
   output (one split) or the unnormalized output and (m, l) to the split scratch. */
__device__ __forceinline__ void combine_warps(const float *st, int nwarps, int rows, int DP,
                                              const mkc_decode_args &a, const block_work &w, int nt) {
    const int D = a.pool.head_dim;
    for (int e = (int)threadIdx.x; e < w.ng * D; e += nt) {
        const int g = e / D, d = e % D;
        float M = -INFINITY;
        for (int k = 0; k < nwarps; k++) M = fmaxf(M, st[(k * rows + g) * (DP + 2) + DP]);
        float L = 0.0f, O = 0.0f;
        if (M != -INFINITY)
            for (int k = 0; k < nwarps; k++) {
                const float *r = st + (k * rows + g) * (DP + 2);
                if (r[DP] == -INFINITY) continue;
                const float sc = exp2f(r[DP] - M);
                L = fmaf(r[DP + 1], sc, L);
                O = fmaf(r[d], sc, O);
            }
        const int64_t bh = (int64_t)w.b * a.num_q_heads + w.h0 + g;
        if (a.splits == 1) {
            store_out(a, bh * D + d, L > 0.0f ? __fdividef(O, L) : 0.0f); /* L in [1, 2^31] */
        } else {
            const int64_t ps = bh * a.splits + w.s;
            a.partial[ps * D + d] = O;
            if (d == 0) a.partial[a.ml_offset + 2 * ps] = M, a.partial[a.ml_offset + 2 * ps + 1] = L;
        }
    }
}

/* ------------------------------------------------------------------ SIMT kernel */

template <int CT, int DMAX>
struct simt_shape {
    static constexpr int ES = elem_bytes<CT>();
    static constexpr int RB = DMAX * ES < 16 ? 16 : DMAX * ES;  /* row bytes (a power of 2) */
    static constexpr int NCH = RB / 16;                         /* 16-byte chunks per row   */
    static constexpr int VW = 16 / ES;                          /* elements per chunk       */
    static constexpr int DP = NCH * VW;                         /* q row length in smem     */
    static constexpr int LPK = RB / 64 < 1 ? 1 : RB / 64 > 16 ? 16 : RB / 64; /* lanes/key  */
    static constexpr int KPW = 32 / LPK;                        /* keys per warp per tile   */
    static constexpr int BK = 4 * KPW;                          /* keys per tile (4 warps)  */
    static constexpr int CPL = NCH / LPK;                       /* chunks per lane (QK)     */
    static constexpr int DPL = DMAX / 32;                       /* dims per lane (PV)       */
    static constexpr int RS = RB + (LPK < 8 ? 16 * LPK : 0);    /* padded row stride        */
    static constexpr int STAGE = 2 * BK * RS + (quantized<CT>() ? 2 * BK * 4 : 0);
};

template <int CT, int DMAX, int HPB>
struct simt_smem {
    typedef simt_shape<CT, DMAX> S;
    static constexpr int MERGE = 4 * HPB * (S::DP + 2) * 4;
    static constexpr int PIPE = cmax(kStages * S::STAGE, MERGE);
    static constexpr int Q = HPB * S::DP * 4;
    static constexpr int P = 4 * S::KPW * HPB * 4;
    static constexpr size_t bytes = (size_t)PIPE + Q + P;
};

/* __launch_bounds__(128, 2): the ring and merge area (about 60 KB a block) let an H100 SM
   hold 3 blocks, an A100 SM 2 and sm_86/89 one. Without a minimum ptxas aims for register
   counts it cannot use (no shared-memory size is known to it) and spills a few bytes to
   reach them; told 2 it spills nowhere, and most instances still fit 3 blocks on H100
   (sass-current). Two blocks already keep 4 tiles, 64 KB, in flight per SM: 3-4x what
   Little's law asks of HBM3. */
template <int CT, int DMAX, int HPB, bool VEC>
__global__ void __launch_bounds__(128, 2) decode_simt_kernel(mkc_decode_args a, decode_consts c, int head_groups) {
    typedef simt_shape<CT, DMAX> S;
    typedef simt_smem<CT, DMAX, HPB> M;
    constexpr int BK = S::BK, KPW = S::KPW, LPK = S::LPK, RS = S::RS, DP = S::DP, VW = S::VW;
    extern __shared__ __align__(16) uint8_t smem[];
    float *qs = reinterpret_cast<float *>(smem + M::PIPE);
    float *ps = qs + HPB * DP;

    const int tid = (int)threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const block_work w = find_work(a, c, HPB, head_groups);
    const int D = a.pool.head_dim, nch = (D * S::ES + 15) / 16;
    const float2 sc = c.sc;

    for (int e = tid; e < HPB * DP; e += 128) {
        const int g = e / DP, d = e % DP;
        qs[e] = g < w.ng && d < D ? load_q(a, (int64_t)w.b * a.q_s0 + (int64_t)(w.h0 + g) * a.q_s1 + d) : 0.0f;
    }

    const int ntiles = w.k_end > w.k_begin ? (w.k_end - w.k_begin + BK - 1) / BK : 0;
    auto stage = [&](int t) { return smem + (t % kStages) * S::STAGE; };
    auto issue = [&](int t) {
        if (t < ntiles) {
            uint8_t *st = stage(t);
            float *ksc = reinterpret_cast<float *>(st + 2 * BK * RS);
            issue_tile<BK, S::NCH, RS, 128, S::ES, quantized<CT>()>(st, st + BK * RS, ksc, ksc + BK, a.pool, w,
                                                                  w.k_begin + t * BK, nch, VEC);
        }
        mkc::ptx::cp_async_commit();
    };
#pragma unroll
    for (int t = 0; t < kStages - 1; t++) issue(t);

    float m[HPB], l[HPB], acc[HPB][S::DPL];
#pragma unroll
    for (int g = 0; g < HPB; g++) {
        m[g] = -INFINITY, l[g] = 0.0f;
#pragma unroll
        for (int i = 0; i < S::DPL; i++) acc[g][i] = 0.0f;
    }
    const int kq = warp * KPW + lane / LPK, sl = lane % LPK; /* QK: this lane's key, slice */
    float *pw = ps + warp * KPW * HPB;

    for (int t = 0; t < ntiles; t++) {
        mkc::ptx::cp_async_wait<kStages - 2>();
        __syncthreads(); /* tile t is visible to all; the stage of tile t - 1 is free */
        issue(t + kStages - 1);
        const uint8_t *kt = stage(t), *vt = kt + BK * RS;
        const float *kss = reinterpret_cast<const float *>(kt + 2 * BK * RS), *vss = kss + BK;
        const int j0 = w.k_begin + t * BK;

        /* scores of this lane's key for every head */
        float dot[HPB];
#pragma unroll
        for (int g = 0; g < HPB; g++) dot[g] = 0.0f;
#pragma unroll
        for (int i = 0; i < S::CPL; i++) {
            const int c = sl + i * LPK;
            if (c < nch) {
                float kx[VW];
                smem_elems<CT, VW>(kt + kq * RS + c * 16, kx);
#pragma unroll
                for (int g = 0; g < HPB; g++) {
                    const float4 *qq = reinterpret_cast<const float4 *>(qs + g * DP + c * VW);
#pragma unroll
                    for (int v = 0; v < VW / 4; v++) {
                        const float4 q4 = qq[v];
                        dot[g] = fmaf(q4.x, kx[4 * v], dot[g]);
                        dot[g] = fmaf(q4.y, kx[4 * v + 1], dot[g]);
                        dot[g] = fmaf(q4.z, kx[4 * v + 2], dot[g]);
                        dot[g] = fmaf(q4.w, kx[4 * v + 3], dot[g]);
                    }
                }
            }
        }
        const bool valid = j0 + kq < w.k_end;
        const float kscale = quantized<CT>() ? kss[kq] : 1.0f;
#pragma unroll
        for (int g = 0; g < HPB; g++) {
#pragma unroll
            for (int off = 1; off < LPK; off <<= 1) dot[g] += __shfl_xor_sync(0xFFFFFFFFu, dot[g], off);
            float x = valid ? score_l2(dot[g] * kscale, sc) : -INFINITY;
            float mx = x;
#pragma unroll
            for (int off = LPK; off < 32; off <<= 1) mx = fmaxf(mx, __shfl_xor_sync(0xFFFFFFFFu, mx, off));
            const float mn = fmaxf(m[g], mx);
            const float alpha = mn == -INFINITY ? 1.0f : exp2f(m[g] - mn);
            const float p = mn == -INFINITY ? 0.0f : exp2f(x - mn);
            float sum = p;
#pragma unroll
            for (int off = LPK; off < 32; off <<= 1) sum += __shfl_xor_sync(0xFFFFFFFFu, sum, off);
            m[g] = mn, l[g] = fmaf(l[g], alpha, sum);
#pragma unroll
            for (int i = 0; i < S::DPL; i++) acc[g][i] *= alpha;
            if (sl == 0) pw[(lane / LPK) * HPB + g] = p;
        }
        __syncwarp();

        /* O += P V over this warp's keys; lane owns dims [lane*DPL, (lane+1)*DPL) */
        const int nkw = min(KPW, w.k_end - j0 - warp * KPW);
        for (int kk = 0; kk < nkw; kk++) {
            const int key = warp * KPW + kk;
            float vx[S::DPL];
            smem_elems<CT, S::DPL>(vt + key * RS + lane * S::DPL * S::ES, vx);
            const float vscale = quantized<CT>() ? vss[key] : 1.0f;
#pragma unroll
            for (int g = 0; g < HPB; g++) {
                const float p = pw[kk * HPB + g] * vscale;
#pragma unroll
                for (int i = 0; i < S::DPL; i++) acc[g][i] = fmaf(p, vx[i], acc[g][i]);
            }
        }
        __syncwarp(); /* pw is rewritten by the next tile */
    }

    mkc::ptx::cp_async_wait<0>();
    __syncthreads(); /* every warp is done with the stages: they become the merge area */
    float *st = reinterpret_cast<float *>(smem);
#pragma unroll
    for (int g = 0; g < HPB; g++) {
        float *r = st + (warp * HPB + g) * (DP + 2);
#pragma unroll
        for (int i = 0; i < S::DPL; i++) r[lane * S::DPL + i] = acc[g][i];
        if (lane == 0) r[DP] = m[g], r[DP + 1] = l[g];
    }
    __syncthreads();
    combine_warps(st, 4, HPB, DP, a, w, 128);
}

/* ------------------------------------------------------------------ tensor-core kernel */

template <int DMAX>
struct mma_shape {
    static constexpr int NW = DMAX <= 128 ? 4 : 2;  /* warps; warp w owns 16 keys per tile */
    static constexpr int BK = 16 * NW;
    static constexpr int LD = DMAX + 8;              /* smem row stride, elements          */
    static constexpr int RS = LD * 2;                /* bytes                              */
    static constexpr int NCH = DMAX / 8;
    static constexpr int STAGE = 2 * BK * RS;
    static constexpr int MERGE = NW * 16 * (DMAX + 2) * 4;
    static constexpr int PIPE = cmax(kStages * STAGE, MERGE);
    static constexpr size_t bytes = (size_t)PIPE + 16 * RS; /* + Q [16][LD] */
    static constexpr bool Q_IN_REGS = DMAX <= 128;
};

template <bool BF16, int DMAX>
__global__ void __launch_bounds__(mma_shape<DMAX>::NW * 32)
    decode_mma_kernel(mkc_decode_args a, decode_consts c, int head_groups) {
    typedef mma_shape<DMAX> S;
    constexpr int NW = S::NW, NT = NW * 32, BK = S::BK, LD = S::LD, RS = S::RS;
    extern __shared__ __align__(16) uint8_t smem[];
    uint16_t *qs = reinterpret_cast<uint16_t *>(smem + S::PIPE);

    const int tid = (int)threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int g = lane >> 2, tig = lane & 3, mi = lane >> 3, r8 = lane & 7;
    const block_work w = find_work(a, c, 16, head_groups);
    const int D = a.pool.head_dim, nch = D / 8;
    const float2 sc = c.sc;

    const uint16_t *q = static_cast<const uint16_t *>(a.q);
    for (int e = tid; e < 16 * LD; e += NT) {
        const int row = e / LD, d = e % LD;
        qs[e] = row < w.ng && d < D ? q[(int64_t)w.b * a.q_s0 + (int64_t)(w.h0 + row) * a.q_s1 + d] : (uint16_t)0;
    }

    const int ntiles = w.k_end > w.k_begin ? (w.k_end - w.k_begin + BK - 1) / BK : 0;
    auto stage = [&](int t) { return smem + (t % kStages) * S::STAGE; };
    auto issue = [&](int t) {
        if (t < ntiles) {
            uint8_t *st = stage(t);
            issue_tile<BK, S::NCH, RS, NT, 2, false>(st, st + BK * RS, nullptr, nullptr, a.pool, w,
                                                     w.k_begin + t * BK, nch, true);
        }
        mkc::ptx::cp_async_commit();
    };
#pragma unroll
    for (int t = 0; t < kStages - 1; t++) issue(t);
    __syncthreads(); /* qs written */

    uint32_t qf[S::Q_IN_REGS ? DMAX / 16 : 1][4];
    if constexpr (S::Q_IN_REGS) {
#pragma unroll
        for (int kk = 0; kk < DMAX / 16; kk++)
            if (kk < D / 16) mkc::ptx::ldmatrix_x4(qf[kk], qs + (lane & 15) * LD + kk * 16 + (lane >> 4) * 8);
    }

    float o[DMAX / 8][4];
#pragma unroll
    for (int t = 0; t < DMAX / 8; t++) o[t][0] = o[t][1] = o[t][2] = o[t][3] = 0.0f;
    float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.0f, l1 = 0.0f; /* rows g, g + 8; l: partial */

    for (int t = 0; t < ntiles; t++) {
        mkc::ptx::cp_async_wait<kStages - 2>();
        __syncthreads(); /* tile t is visible to all; the stage of tile t - 1 is free */
        issue(t + kStages - 1);
        const uint16_t *kt = reinterpret_cast<const uint16_t *>(stage(t)), *vt = kt + BK * LD;
        /* this warp's first key. A warp whose 16 keys all lie past the split's end (in the
           split's last tile) still runs the tile, with every score -inf: a branch around it
           would leave the shuffles below in code ptxas cannot prove converged, and it then
           emits out-of-line shuffle calls (sm_80-89). */
        const int j0 = w.k_begin + t * BK + warp * 16;

        float s[2][4] = {{0.0f, 0.0f, 0.0f, 0.0f}, {0.0f, 0.0f, 0.0f, 0.0f}};
#pragma unroll
        for (int kk = 0; kk < DMAX / 16; kk++) {
            if (kk >= D / 16) break;
            uint32_t af[4], bf[4];
            if constexpr (S::Q_IN_REGS) {
                af[0] = qf[kk][0], af[1] = qf[kk][1], af[2] = qf[kk][2], af[3] = qf[kk][3];
            } else {
                mkc::ptx::ldmatrix_x4(af, qs + (lane & 15) * LD + kk * 16 + (lane >> 4) * 8);
            }
            mkc::ptx::ldmatrix_x4(bf, kt + (warp * 16 + r8 + (mi >> 1) * 8) * LD + kk * 16 + (mi & 1) * 8);
            mkc::ptx::mma_m16n8k16<BF16>(s[0], af, bf[0], bf[1]);
            mkc::ptx::mma_m16n8k16<BF16>(s[1], af, bf[2], bf[3]);
        }

        float mx0 = -INFINITY, mx1 = -INFINITY;
#pragma unroll
        for (int n = 0; n < 2; n++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int j = j0 + n * 8 + tig * 2 + (e & 1);
                const float x = j < w.k_end ? score_l2(s[n][e], sc) : -INFINITY;
                s[n][e] = x;
                if (e < 2) mx0 = fmaxf(mx0, x);
                else mx1 = fmaxf(mx1, x);
            }
#pragma unroll
        for (int off = 1; off <= 2; off <<= 1) {
            mx0 = fmaxf(mx0, __shfl_xor_sync(0xFFFFFFFFu, mx0, off));
            mx1 = fmaxf(mx1, __shfl_xor_sync(0xFFFFFFFFu, mx1, off));
        }
        /* mn = -inf only while a row has seen no key: then subtract 0 instead (alpha and
           every p are exp2(-inf) = 0; the tile's masked V rows are zero-filled) */
        const float mn0 = fmaxf(m0, mx0), mn1 = fmaxf(m1, mx1);
        const float ms0 = mn0 == -INFINITY ? 0.0f : mn0, ms1 = mn1 == -INFINITY ? 0.0f : mn1;
        const float al0 = exp2f(m0 - ms0), al1 = exp2f(m1 - ms1);
        m0 = mn0, m1 = mn1;
        float sum0 = 0.0f, sum1 = 0.0f;
#pragma unroll
        for (int n = 0; n < 2; n++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const float p = exp2f(s[n][e] - (e < 2 ? ms0 : ms1));
                s[n][e] = p;
                if (e < 2) sum0 += p;
                else sum1 += p;
            }
        l0 = fmaf(l0, al0, sum0), l1 = fmaf(l1, al1, sum1);
#pragma unroll
        for (int n = 0; n < DMAX / 8; n++) o[n][0] *= al0, o[n][1] *= al0, o[n][2] *= al1, o[n][3] *= al1;

        uint32_t pf[4];
        pf[0] = mkc::pack2_rn<BF16>(s[0][0], s[0][1]);
        pf[1] = mkc::pack2_rn<BF16>(s[0][2], s[0][3]);
        pf[2] = mkc::pack2_rn<BF16>(s[1][0], s[1][1]);
        pf[3] = mkc::pack2_rn<BF16>(s[1][2], s[1][3]);
#pragma unroll
        for (int n = 0; n < DMAX / 8; n += 2) {
            if (n >= D / 8) break;
            uint32_t bf[4];
            mkc::ptx::ldmatrix_x4_trans(bf, vt + (warp * 16 + r8 + (mi & 1) * 8) * LD + n * 8 + (mi >> 1) * 8);
            mkc::ptx::mma_m16n8k16<BF16>(o[n], pf, bf[0], bf[1]);
            mkc::ptx::mma_m16n8k16<BF16>(o[n + 1], pf, bf[2], bf[3]);
        }
    }

#pragma unroll
    for (int off = 1; off <= 2; off <<= 1) {
        l0 += __shfl_xor_sync(0xFFFFFFFFu, l0, off);
        l1 += __shfl_xor_sync(0xFFFFFFFFu, l1, off);
    }
    mkc::ptx::cp_async_wait<0>();
    __syncthreads(); /* every warp is done with the stages: they become the merge area */
    float *st = reinterpret_cast<float *>(smem);
    float *r0 = st + (warp * 16 + g) * (DMAX + 2), *r1 = r0 + 8 * (DMAX + 2);
#pragma unroll
    for (int n = 0; n < DMAX / 8; n++) {
        const int c = n * 8 + tig * 2;
        r0[c] = o[n][0], r0[c + 1] = o[n][1], r1[c] = o[n][2], r1[c + 1] = o[n][3];
    }
    if (tig == 0) r0[DMAX] = m0, r0[DMAX + 1] = l0, r1[DMAX] = m1, r1[DMAX + 1] = l1;
    __syncthreads();
    combine_warps(st, NW, 16, DMAX, a, w, NT);
}

/* ------------------------------------------------------------------ merge of splits */

/* out = sum_s 2^(m_s-M) o_s / sum_s 2^(m_s-M) l_s, summed over s in order (deterministic).
   One block per (sequence, head) row; thread d owns dims d, d + blockDim, ... */
__global__ void splitkv_merge_kernel(mkc_decode_args a) {
    const int64_t bh = blockIdx.x;
    const int D = a.pool.head_dim, ns = a.splits;
    const float *ml = a.partial + a.ml_offset + bh * ns * 2;
    const float *po = a.partial + bh * ns * D;
    float M = -INFINITY;
    for (int s = 0; s < ns; s++) M = fmaxf(M, ml[2 * s]);
    float L = 0.0f;
    if (M != -INFINITY)
        for (int s = 0; s < ns; s++)
            if (ml[2 * s] != -INFINITY) L = fmaf(ml[2 * s + 1], exp2f(ml[2 * s] - M), L);
    for (int d = threadIdx.x; d < D; d += blockDim.x) {
        float o = 0.0f;
        if (L > 0.0f) {
            for (int s = 0; s < ns; s++)
                if (ml[2 * s] != -INFINITY) o = fmaf(po[(int64_t)s * D + d], exp2f(ml[2 * s] - M), o);
            o = __fdividef(o, L); /* L in [1, 2^31] */
        }
        store_out(a, bh * D + d, o);
    }
}

/* ------------------------------------------------------------------ launch */

template <class K>
cudaError_t set_smem(K kernel, size_t bytes) {
    if (bytes <= 48 * 1024) return cudaSuccess;
    return cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes);
}

bool mma_ok(mk_dtype q, mk_dtype cache, int group, int D, int tensor_cores) {
    return tensor_cores && (cache == MK_F16 || cache == MK_BF16) && q == cache && group >= 4 && D % 16 == 0 &&
           D >= 16 && D <= 256;
}

int heads_per_block(mk_dtype q, mk_dtype cache, int group, int D, int tensor_cores) {
    if (mma_ok(q, cache, group, D, tensor_cores)) return 16;
    const int es = cache == MK_F32 ? 4 : (cache == MK_F16 || cache == MK_BF16) ? 2 : 1;
    if ((D * es) % 16 != 0) return 8; /* the element-copy kernel is built for 8 heads only */
    return group <= 1 ? 1 : group <= 4 ? 4 : 8;
}

dim3 grid_of(const mkc_decode_args *a, int head_groups) {
    return dim3((unsigned)(a->pool.num_kv_heads * head_groups), (unsigned)a->batch, (unsigned)a->splits);
}

template <int CT, int DMAX, int HPB, bool VEC>
cudaError_t launch_simt(const mkc_decode_args *a, int head_groups, cudaStream_t stream) {
    const size_t smem = simt_smem<CT, DMAX, HPB>::bytes;
    cudaError_t e = set_smem(decode_simt_kernel<CT, DMAX, HPB, VEC>, smem);
    if (e != cudaSuccess) return e;
    decode_simt_kernel<CT, DMAX, HPB, VEC><<<grid_of(a, head_groups), 128, smem, stream>>>(*a, consts_of(*a),
                                                                                       head_groups);
    return cudaGetLastError();
}

template <int CT, int DMAX>
cudaError_t simt_by_heads(const mkc_decode_args *a, int hpb, int head_groups, cudaStream_t stream) {
    /* rows that are not whole 16-byte chunks (odd D): the element-copy kernel, 8 heads
       (heads_per_block says 8 for them) */
    if ((a->pool.head_dim * elem_bytes<CT>()) % 16 != 0)
        return launch_simt<CT, DMAX, 8, false>(a, head_groups, stream);
    if (hpb == 1) return launch_simt<CT, DMAX, 1, true>(a, head_groups, stream);
    if (hpb == 4) return launch_simt<CT, DMAX, 4, true>(a, head_groups, stream);
    return launch_simt<CT, DMAX, 8, true>(a, head_groups, stream);
}

template <int CT>
cudaError_t simt_by_dim(const mkc_decode_args *a, int hpb, int head_groups, cudaStream_t stream) {
    const int D = a->pool.head_dim;
    if (D <= 32) return simt_by_heads<CT, 32>(a, hpb, head_groups, stream);
    if (D <= 64) return simt_by_heads<CT, 64>(a, hpb, head_groups, stream);
    if (D <= 128) return simt_by_heads<CT, 128>(a, hpb, head_groups, stream);
    return simt_by_heads<CT, 256>(a, hpb, head_groups, stream);
}

template <bool BF16, int DMAX>
cudaError_t launch_mma(const mkc_decode_args *a, int head_groups, cudaStream_t stream) {
    typedef mma_shape<DMAX> S;
    cudaError_t e = set_smem(decode_mma_kernel<BF16, DMAX>, S::bytes);
    if (e != cudaSuccess) return e;
    decode_mma_kernel<BF16, DMAX><<<grid_of(a, head_groups), S::NW * 32, S::bytes, stream>>>(*a, consts_of(*a),
                                                                                      head_groups);
    return cudaGetLastError();
}

template <bool BF16>
cudaError_t mma_by_dim(const mkc_decode_args *a, int head_groups, cudaStream_t stream) {
    const int D = a->pool.head_dim;
    if (D <= 64) return launch_mma<BF16, 64>(a, head_groups, stream);
    if (D <= 128) return launch_mma<BF16, 128>(a, head_groups, stream);
    return launch_mma<BF16, 256>(a, head_groups, stream);
}

cudaError_t launch_decode(const mkc_decode_args *a, cudaStream_t stream) {
    const int G = a->num_q_heads / a->pool.num_kv_heads, D = a->pool.head_dim;
    const int hpb = heads_per_block(a->q_dtype, a->pool.dtype, G, D, a->tensor_cores);
    const int head_groups = (G + hpb - 1) / hpb;
    if (hpb == 16) return a->pool.dtype == MK_BF16 ? mma_by_dim<true>(a, head_groups, stream) : mma_by_dim<false>(a, head_groups, stream);
    switch (a->pool.dtype) {
    case MK_F32: return simt_by_dim<MK_F32>(a, hpb, head_groups, stream);
    case MK_F16: return simt_by_dim<MK_F16>(a, hpb, head_groups, stream);
    case MK_BF16: return simt_by_dim<MK_BF16>(a, hpb, head_groups, stream);
    case MK_I8: return simt_by_dim<MK_I8>(a, hpb, head_groups, stream);
    case MK_FP8_E4M3: return simt_by_dim<MK_FP8_E4M3>(a, hpb, head_groups, stream);
    default: return cudaErrorInvalidValue;
    }
}

} /* namespace */

extern "C" int mkc_decode_heads_per_block(mk_dtype q_dtype, mk_dtype cache_dtype, int group, int head_dim,
                                          int tensor_cores) {
    return heads_per_block(q_dtype, cache_dtype, group, head_dim, tensor_cores);
}

extern "C" size_t mkc_decode_smem(mk_dtype q_dtype, mk_dtype cache_dtype, int group, int head_dim,
                                  int tensor_cores) {
    const int hpb = heads_per_block(q_dtype, cache_dtype, group, head_dim, tensor_cores);
    if (hpb == 16) return head_dim <= 64 ? mma_shape<64>::bytes : head_dim <= 128 ? mma_shape<128>::bytes
                                                                                   : mma_shape<256>::bytes;
    /* the SIMT kernel's largest instance for this cache dtype and head dim */
#define MKC_SIMT_SMEM(CT)                                                                            \
    (head_dim <= 32 ? simt_smem<CT, 32, 8>::bytes : head_dim <= 64 ? simt_smem<CT, 64, 8>::bytes     \
     : head_dim <= 128 ? simt_smem<CT, 128, 8>::bytes : simt_smem<CT, 256, 8>::bytes)
    switch (cache_dtype) {
    case MK_F32: return MKC_SIMT_SMEM(MK_F32);
    case MK_F16: case MK_BF16: return MKC_SIMT_SMEM(MK_F16);
    default: return MKC_SIMT_SMEM(MK_I8);
    }
#undef MKC_SIMT_SMEM
}

extern "C" cudaError_t mkc_attention_decode(const mkc_decode_args *a, cudaStream_t stream) {
    if (a->batch <= 0 || a->num_q_heads <= 0) return cudaSuccess;
    if (a->pool.head_dim < 1 || a->pool.head_dim > 256 || a->splits < 1 || (a->splits > 1 && !a->partial))
        return cudaErrorInvalidValue;
    if (a->q_dtype != MK_F32 && a->q_dtype != MK_F16 && a->q_dtype != MK_BF16) return cudaErrorInvalidValue;
    cudaError_t err = launch_decode(a, stream);
    if (err != cudaSuccess || a->splits == 1) return err;
    const int nt = a->pool.head_dim < 64 ? 32 : 64;
    splitkv_merge_kernel<<<(unsigned)((int64_t)a->batch * a->num_q_heads), nt, 0, stream>>>(*a);
    return cudaGetLastError();
}
