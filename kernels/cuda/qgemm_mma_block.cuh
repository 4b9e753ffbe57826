/*
 * The block of the small-M tensor-core quantized GEMMs (qgemm_w4a16.cu: 16-bit
 * activations; qgemm_w8a8.cu: int8 / e4m3 activations), shared so that both stream the
 * packed weight (qgemm_layout.h) the same way:
 *
 *  - shape: 8 warps, 2 along N x 4 along K, over 8 row tiles of W (128 output columns) and
 *    16 rows of x. Warp (wn, wk) computes row tiles wn*4 .. wn*4+3 on tile wk of a stage.
 *  - the weight ring: kStages stages of 32 tiles (16 KB), 16-byte cp.async, kStages - 1
 *    in flight; stage i of a slice holds tiles (nt0 + ntl, kt_begin + 4 i + wk') at
 *    [ntl][wk'][lane][16 bytes]. Tiles past N or past the slice are zero-filled copies.
 *  - the K split (qg_partition): the x slice of one block stays within kXBudget bytes of
 *    shared memory, and there are enough splits for about two blocks per SM.
 *  - the K-warp sum: each warp's accumulators of its 4 row tiles go through the (then
 *    idle) ring; warp (wn, wk) adds the 4 K-warps of row tile wn*4 + wk in warp order.
 *  - the split reduce (splitk_reduce): y = sum over splits in split order of the f32
 *    partials, + bias.
 * Deterministic throughout: fixed orders, no atomics.
 */
#ifndef MEDKERN_KERNELS_CUDA_QGEMM_MMA_BLOCK_CUH
#define MEDKERN_KERNELS_CUDA_QGEMM_MMA_BLOCK_CUH

#include <stdint.h>

#include "mk_cuda_kernels.h"
#include "ptx.cuh"

namespace mkc {
namespace qg {

constexpr int kWN = 2;                               /* warps along N                       */
constexpr int kWK = 4;                               /* warps along K (tiles of a stage)    */
constexpr int kThreads = kWN * kWK * 32;             /* 256                                 */
constexpr int kTilesN = kWN * 4;                     /* row tiles per block (4 per warp)    */
constexpr int kStageTiles = kTilesN * kWK;           /* 32 tiles of 512 bytes               */
constexpr int kStageBytes = kStageTiles * MKC_QG_TILE_BYTES;
constexpr int kStages = 4;                           /* ring depth: kStages - 1 in flight   */
constexpr int kRingBytes = kStages * kStageBytes;    /* 64 KB                               */
constexpr int kXBudget = 32 << 10;                   /* x slice bytes a block may stage     */
static_assert(MKC_QG_TILE_BYTES == 512 && MKC_QG_LANE_BYTES == 16, "a lane's share of a tile is 16 bytes");
static_assert(kThreads * 4 * 16 == kStageBytes, "a stage is 4 cp.async of 16 bytes per thread");
static_assert(kWN * kWK * 32 * 32 * 4 <= kRingBytes, "the cross-warp sums (32 words a lane) fit in the ring");

/* Where a thread of a block is: its warp (wn along N, wk along K) and lane (g = lane / 4,
   t = lane % 4 as in the mma fragments), the block's split of K and first row tile nt0
   (grid x = n_blocks * splits), its first row m0 of x (grid y) and rows (<= 16) of them,
   its K slice [kt_begin, kt_end) of tiles and nst stages. */
struct block_at {
    int tid, lane, warp, wn, wk, g, t;
    int split, nt0, m0, rows, kt_begin, kt_end, nst;
};
static __device__ __forceinline__ block_at block_here(const mkc_qgemm_layout &L, int n_blocks, int kt_per_split,
                                                      int M) {
    block_at b;
    b.tid = (int)threadIdx.x, b.lane = b.tid & 31, b.warp = b.tid >> 5, b.wn = b.warp / kWK, b.wk = b.warp % kWK;
    b.g = b.lane >> 2, b.t = b.lane & 3;
    b.split = (int)blockIdx.x / n_blocks;
    b.nt0 = ((int)blockIdx.x % n_blocks) * kTilesN, b.m0 = (int)blockIdx.y * 16;
    b.rows = min(16, M - b.m0);
    b.kt_begin = b.split * kt_per_split;
    b.kt_end = min((int)L.k_tiles, b.kt_begin + kt_per_split);
    b.nst = (b.kt_end - b.kt_begin + kWK - 1) / kWK;
    return b;
}

/* Issues stage i (< nst) of the slice [kt_begin, kt_end) of row tiles nt0.. into the ring,
   then commits a copy group (an empty one past the slice, so that wait counts hold). */
static __device__ __forceinline__ void issue_stage(uint8_t *ring, const uint8_t *q, const mkc_qgemm_layout &L,
                                                   int nt0, int kt_begin, int kt_end, int i, int nst, int tid) {
    if (i < nst) {
        uint8_t *st = ring + (i % kStages) * kStageBytes;
#pragma unroll
        for (int c4 = 0; c4 < 4; c4++) {
            const int c = tid + c4 * kThreads, tile = c >> 5, ln = c & 31;
            const int nt = nt0 + tile / kWK, kt = kt_begin + i * kWK + tile % kWK;
            const bool ok = nt < L.n_tiles && kt < kt_end;
            mkc::ptx::cp_async<16>(st + c * 16, q + (ok ? mkc_qg_tile_at(L.k_tiles, nt, kt) + ln * 16 : 0),
                                   ok ? 16 : 0);
        }
    }
    mkc::ptx::cp_async_commit();
}

/* The 16 bytes of tile (wn*4 + j, wk) of stage i for this lane, j = 0..3: words[j][0..3]. */
static __device__ __forceinline__ void stage_words(const uint8_t *ring, int i, int wn, int wk, int lane,
                                                   uint32_t (&words)[4][4]) {
    const uint8_t *st = ring + (i % kStages) * kStageBytes + ((wn * 4) * kWK + wk) * MKC_QG_TILE_BYTES + lane * 16;
#pragma unroll
    for (int j = 0; j < 4; j++) {
        const uint4 v = *reinterpret_cast<const uint4 *>(st + j * kWK * MKC_QG_TILE_BYTES);
        words[j][0] = v.x, words[j][1] = v.y, words[j][2] = v.z, words[j][3] = v.w;
    }
}

/* Sums the 4 K-warps' accumulators acc[j][ns][c] (V: float or int32_t) of row tile
   wn*4 + wk into v[ns][c], in warp order, through the ring (every copy drained first). */
template <class V>
static __device__ __forceinline__ void sum_k_warps(uint8_t *ring, const V (&acc)[4][2][4], int warp, int wn,
                                                   int wk, int lane, V (&v)[2][4]) {
    mkc::ptx::cp_async_wait<0>();
    __syncthreads(); /* every warp is done with the ring: it becomes red[] */
    V *red = reinterpret_cast<V *>(ring);
#pragma unroll
    for (int j = 0; j < 4; j++)
#pragma unroll
        for (int ns = 0; ns < 2; ns++)
#pragma unroll
            for (int c = 0; c < 4; c++) red[((warp * 4 + j) * 8 + ns * 4 + c) * 32 + lane] = acc[j][ns][c];
    __syncthreads();
#pragma unroll
    for (int ns = 0; ns < 2; ns++)
#pragma unroll
        for (int c = 0; c < 4; c++) {
            V sum = 0;
            for (int w2 = 0; w2 < kWK; w2++) sum += red[(((wn * kWK + w2) * 4 + wk) * 8 + ns * 4 + c) * 32 + lane];
            v[ns][c] = sum;
        }
}

/* y[m][n] = sum over splits s, in order, of partial[s][m][n], + bias[n], y and bias F16 or
   BF16 (t), on the stream (qgemm_splitk_reduce.cu: one kernel for both GEMMs). */
cudaError_t splitk_reduce(mk_dtype t, const float *partial, int splits, int M, int N, const uint16_t *bias,
                          uint16_t *y, cudaStream_t stream);

/* The K split of a launch over M rows and sms SMs, x_bytes_per_k bytes of staged x per
   row and K position (2 for 16-bit x, 1 for 8-bit). Fills every field of *out but
   smem_bytes and scratch_bytes; 0 when out of range. */
static inline int qg_partition(const mkc_qgemm_layout *L, int64_t M, int sms, int x_bytes_per_k,
                               mkc_qgemm_mma_plan *out) {
    if (M <= 0 || M > 65535 || L->n_tiles <= 0 || L->k_tiles <= 0 || L->k_tiles > (1 << 24)) return 0;
    const int rows = M < 16 ? (int)M : 16;
    const int64_t n_blocks = (L->n_tiles + kTilesN - 1) / kTilesN, m_blocks = (M + 15) / 16;
    const int64_t k_stages = (L->k_tiles + kWK - 1) / kWK;
    /* the x slice of one split fits kXBudget; then enough splits for ~2 blocks an SM */
    int64_t max_st = kXBudget / ((int64_t)rows * kWK * L->tk * x_bytes_per_k);
    if (max_st < 1) max_st = 1;
    int64_t splits = (k_stages + max_st - 1) / max_st;
    const int64_t want = (2 * (int64_t)(sms > 0 ? sms : 1) + n_blocks * m_blocks - 1) / (n_blocks * m_blocks);
    if (want > splits) splits = want;
    if (splits > k_stages) splits = k_stages;
    const int64_t st_per = (k_stages + splits - 1) / splits;
    splits = (k_stages + st_per - 1) / st_per;
    if (n_blocks * splits > 0x7FFFFFFF) return 0;
    const int64_t kt_per = st_per * kWK, ks = kt_per * L->tk;
    /* groups a slice can touch: ks / group_len + 2 (a slice starts anywhere in a group) */
    int64_t gs = L->groups_p == 1 ? 1 : ks / L->group_len + 2;
    if (gs > L->groups_p) gs = L->groups_p;
    out->splits = (int)splits;
    out->kt_per_split = (int)kt_per;
    out->n_blocks = (int)n_blocks;
    out->gs = (int)gs;
    /* +16 bytes a row: ldmatrix rows on distinct banks */
    out->xs_ld = (int)(ks + 16 / x_bytes_per_k);
    out->smem_bytes = 0;
    out->scratch_bytes = 0;
    return 1;
}

} /* namespace qg */
} /* namespace mkc */

#endif
