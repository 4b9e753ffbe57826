/*
 * Which query tile a prefill thread block computes (attention_prefill.cu and
 * attention_prefill_tiled.cu): the contract between the host's tile map and the kernels.
 *
 * With a plan's map (a.tile_map, a.num_tiles > 0; runtime/src/plan.c): block x takes
 * entry x, (sequence, first row), the tiles with most work first. Without one the grid
 * has ceil(total_q / BQ) + batch slots and a block scans cu_q for its slot, a sequence's
 * tiles last first. Either way map entries and sequence bounds are clamped to the
 * tensors, so a bad value can never make a block read or write outside them; b = -1:
 * the block has no tile (uniform over the block).
 */
#ifndef MEDKERN_KERNELS_CUDA_PREFILL_TILES_CUH
#define MEDKERN_KERNELS_CUDA_PREFILL_TILES_CUH

#include "mk_cuda_kernels.h"

namespace mkc {

struct prefill_tile {
    int b, q0, sq, sk, qbase, kbase; /* sequence, first row, its lengths and offsets */
};

template <int BQ>
__device__ inline prefill_tile find_prefill_tile(const mkc_prefill_args &a, int slot) {
    prefill_tile t = {-1, 0, 0, 0, 0, 0};
    if (a.num_tiles > 0) {
        const int b = a.tile_map[2 * slot], q0 = a.tile_map[2 * slot + 1];
        if (b < 0 || b >= a.batch) return t;
        const int lo_q = min(max(a.cu_q[b], 0), a.total_q), hi_q = min(max(a.cu_q[b + 1], lo_q), a.total_q);
        const int lo_k = min(max(a.cu_k[b], 0), a.total_k), hi_k = min(max(a.cu_k[b + 1], lo_k), a.total_k);
        if (q0 < 0 || q0 >= hi_q - lo_q) return t;
        t.b = b, t.q0 = q0, t.sq = hi_q - lo_q, t.sk = hi_k - lo_k, t.qbase = lo_q, t.kbase = lo_k;
        return t;
    }
    for (int i = 0, prev_q = 0, prev_k = 0; i < a.batch; i++) {
        const int cq = min(max(a.cu_q[i + 1], prev_q), a.total_q);
        const int ck = min(max(a.cu_k[i + 1], prev_k), a.total_k);
        const int n = cq - prev_q, ntiles = (n + BQ - 1) / BQ;
        if (slot < ntiles) {
            t.b = i, t.sq = n, t.sk = ck - prev_k, t.qbase = prev_q, t.kbase = prev_k;
            t.q0 = (ntiles - 1 - slot) * BQ;
            return t;
        }
        slot -= ntiles, prev_q = cq, prev_k = ck;
    }
    return t;
}

/* Blocks per head: the map's entries, or the slot bound without one. */
template <int BQ>
inline int64_t prefill_blocks(const mkc_prefill_args *a) {
    return a->num_tiles > 0 ? a->num_tiles : ((int64_t)a->total_q + BQ - 1) / BQ + a->batch;
}

} /* namespace mkc */

#endif
