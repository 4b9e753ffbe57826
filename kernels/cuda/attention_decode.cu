/*
 * Split-KV flash decoding over the paged KV cache (one query token per sequence), the
 * CUDA form of kernels/opencl/attention_decode.cl's work-group kernel (same online
 * softmax, same split plan and merge, so the two backends agree to rounding).
 *
 * splitkv_decode_kernel: a thread block owns (kv head hk, group hg of up to GMAX of the
 * query heads that share hk, sequence b, split s); DMAX threads, thread d owns dim d.
 * The split is the chunk [lo + s*chunk, lo + (s+1)*chunk) of the visible keys [lo, len)
 * (lo from window_left), planned on the host. Per tile of BK keys:
 *   1. the K rows are dequantized (F32/F16/BF16 values, I8/FP8 codes times the row's f32
 *      scale) into shared memory as f32, one coalesced row read per key, so the GMAX
 *      query heads share one load of every K row;
 *   2. the GMAX x BK scores (fmaf over d in order, times scale, softcap) are computed from
 *      shared memory, one (head, key) pair per thread;
 *   3. thread g < GMAX updates head g's running max m and sum l (exp in f32);
 *   4. every thread rescales its GMAX accumulators and adds p * v for its dim, V read
 *      straight from the cache (each V element read once for all heads of the group).
 * With one split the normalized output is written directly (rows that see no key: 0);
 * otherwise the unnormalized partial output and (m, l) go to scratch, and
 * splitkv_merge_kernel combines the splits of each (sequence, head) in split order:
 * deterministic, no atomics.
 *
 * Shared memory (static, <= 48 KB): q GMAX*DMAX + K tile BK*(DMAX+1) (rows padded by one
 * word: the score loop's threads read different keys' rows without bank conflicts) +
 * scores GMAX*BK floats + row indices. DMAX=256 uses BK=16: 8 + 16.4 + 0.5 KB.
 *
 * Out of scope here (issue #4): tensor-core score/PV products for groups of >= 4 heads.
 */
#include <math.h>
#include <stdint.h>

#include "dtype_io.cuh"
#include "mk_cuda_kernels.h"

namespace {

constexpr int kGMax = MKC_DECODE_HEADS_PER_BLOCK; /* query heads per block */

/* One cache element as f32 (I8/FP8: code times the row's scale, as mkref_kv_value). */
template <int CT>
__device__ __forceinline__ float cache_val(const void *base, const float *scales, int64_t row,
                                           int D, int d) {
    const int64_t idx = row * D + d;
    if constexpr (CT == MK_F32) {
        return static_cast<const float *>(base)[idx];
    } else if constexpr (CT == MK_F16) {
        return mkc::f16::load(static_cast<const uint16_t *>(base)[idx]);
    } else if constexpr (CT == MK_BF16) {
        return mkc::bf16::load(static_cast<const uint16_t *>(base)[idx]);
    } else if constexpr (CT == MK_I8) {
        return scales[row] * (float)static_cast<const int8_t *>(base)[idx];
    } else { /* FP8 E4M3: code -> half is exact, half -> float exact; 0x7F/0xFF -> NaN */
        const __half_raw hr = __nv_cvt_fp8_to_halfraw(
            (__nv_fp8_storage_t)static_cast<const uint8_t *>(base)[idx], __NV_E4M3);
        return scales[row] * __half2float(__half(hr));
    }
}

template <class TQ, int CT, int DMAX, int BK>
__global__ void __launch_bounds__(DMAX, 1)
    splitkv_decode_kernel(const typename TQ::storage *__restrict__ q, int64_t q_s0, int64_t q_s1,
                          mkc_kv_pool pool, const int32_t *__restrict__ bt, int max_blocks,
                          const int32_t *__restrict__ ctx_lens, typename TQ::storage *__restrict__ out,
                          float *__restrict__ part, int64_t ml_off, int Hq, int G, int HG,
                          float scale, int window, float softcap, int nsplit, int chunk) {
    constexpr int KS = DMAX + 1;
    __shared__ float qs[kGMax * DMAX];
    __shared__ float ks[BK * KS];
    __shared__ float ss[kGMax * BK];
    __shared__ float m_sh[kGMax], a_sh[kGMax], l_sh[kGMax];
    __shared__ int64_t rows[BK];

    const int tid = threadIdx.x;
    const int Hkv = pool.num_kv_heads, D = pool.head_dim, bs = pool.block_size;
    const int hk = (int)blockIdx.x / HG, hg = (int)blockIdx.x % HG;
    const int b = (int)blockIdx.y, s = (int)blockIdx.z;
    const int h0 = hk * G + hg * kGMax;
    const int ng = min(kGMax, G - hg * kGMax);
    const int32_t *btab = bt + (int64_t)b * max_blocks;
    const int64_t nblocks = pool.num_blocks;

    /* Visible keys [lo, len): the query is the last token; then this split's chunk. */
    const int len = min(max(ctx_lens[b], 0), max_blocks * bs);
    const int lo = window >= 0 ? max(0, len - 1 - window) : 0;
    const int k_begin = lo + s * chunk, k_end = min(len, k_begin + chunk);

    for (int e = tid; e < kGMax * DMAX; e += DMAX) {
        const int g = e / DMAX, d = e % DMAX;
        qs[e] = g < ng && d < D ? TQ::load(q[(int64_t)b * q_s0 + (int64_t)(h0 + g) * q_s1 + d]) : 0.0f;
    }

    float acc[kGMax];
#pragma unroll
    for (int g = 0; g < kGMax; g++) acc[g] = 0.0f;
    float m = -INFINITY, l = 0.0f; /* statistics of head tid (threads < ng) */

    for (int j0 = k_begin; j0 < k_end; j0 += BK) {
        const int nk = min(BK, k_end - j0);
        __syncthreads(); /* the previous tile is consumed (and qs written, first time) */
        if (tid < nk) {
            const int j = j0 + tid;
            const int64_t blk = min(max((int64_t)btab[j / bs], (int64_t)0), nblocks - 1);
            rows[tid] = (blk * bs + j % bs) * Hkv + hk;
        }
        __syncthreads();
        for (int c = 0; c < BK; c++) {
            float x = 0.0f;
            if (c < nk && tid < D) x = cache_val<CT>(pool.k, pool.k_scale, rows[c], D, tid);
            ks[c * KS + tid] = x;
        }
        __syncthreads();

        /* scores of (head g, key c) */
        for (int p = tid; p < kGMax * BK; p += DMAX) {
            const int g = p / BK, c = p % BK;
            float x = -INFINITY;
            if (g < ng && c < nk) {
                float dot = 0.0f;
                for (int d = 0; d < D; d++) dot = fmaf(qs[g * DMAX + d], ks[c * KS + d], dot);
                x = dot * scale;
                if (softcap > 0.0f) x = softcap * tanhf(x / softcap);
            }
            ss[p] = x;
        }
        __syncthreads();

        /* new running max and rescale factor per head */
        if (tid < kGMax) {
            float m_new = 0.0f, alpha = 1.0f;
            if (tid < ng) {
                float tmax = -INFINITY;
                for (int c = 0; c < nk; c++) tmax = fmaxf(tmax, ss[tid * BK + c]);
                m_new = fmaxf(m, tmax);
                alpha = m_new == -INFINITY ? 1.0f : expf(m - m_new);
                m = m_new;
            }
            m_sh[tid] = m_new, a_sh[tid] = alpha;
        }
        __syncthreads();
        for (int p = tid; p < kGMax * BK; p += DMAX) {
            const float x = ss[p];
            ss[p] = x == -INFINITY ? 0.0f : expf(x - m_sh[p / BK]);
        }
        __syncthreads();

        if (tid < ng) {
            float sum = 0.0f;
            for (int c = 0; c < nk; c++) sum += ss[tid * BK + c];
            l = l * a_sh[tid] + sum;
        }
#pragma unroll
        for (int g = 0; g < kGMax; g++) acc[g] *= a_sh[g];
        if (tid < D)
            for (int c = 0; c < nk; c++) {
                const float x = cache_val<CT>(pool.v, pool.v_scale, rows[c], D, tid);
#pragma unroll
                for (int g = 0; g < kGMax; g++) acc[g] = fmaf(ss[g * BK + c], x, acc[g]);
            }
    }

    __syncthreads();
    if (tid < kGMax) m_sh[tid] = m, l_sh[tid] = l;
    __syncthreads();
    if (tid >= D) return;
#pragma unroll
    for (int g = 0; g < kGMax; g++) {
        if (g >= ng) break;
        const int64_t bh = (int64_t)b * Hq + h0 + g;
        if (nsplit == 1) {
            const float lg = l_sh[g];
            out[bh * D + tid] = TQ::store(lg > 0.0f ? acc[g] / lg : 0.0f);
        } else {
            const int64_t ps = bh * nsplit + s;
            part[ps * D + tid] = acc[g];
            if (tid == 0) part[ml_off + 2 * ps] = m_sh[g], part[ml_off + 2 * ps + 1] = l_sh[g];
        }
    }
}

/* Combines the splits of one (sequence, head) row: out = sum_s e^(m_s-M) o_s /
   sum_s e^(m_s-M) l_s, summed over s in order (deterministic). Thread d owns dims
   d, d + blockDim, ... */
template <class TQ>
__global__ void splitkv_merge_kernel(const float *__restrict__ part, int64_t ml_off,
                                     typename TQ::storage *__restrict__ out, int D, int nsplit) {
    const int64_t bh = blockIdx.x;
    const float *ml = part + ml_off + bh * nsplit * 2;
    const float *po = part + bh * nsplit * D;
    float M = -INFINITY;
    for (int s = 0; s < nsplit; s++) M = fmaxf(M, ml[2 * s]);
    float L = 0.0f;
    if (M != -INFINITY)
        for (int s = 0; s < nsplit; s++)
            if (ml[2 * s] != -INFINITY) L += ml[2 * s + 1] * expf(ml[2 * s] - M);
    for (int d = threadIdx.x; d < D; d += blockDim.x) {
        float o = 0.0f;
        if (L > 0.0f) {
            for (int s = 0; s < nsplit; s++)
                if (ml[2 * s] != -INFINITY) o += po[(int64_t)s * D + d] * expf(ml[2 * s] - M);
            o /= L;
        }
        out[bh * D + d] = TQ::store(o);
    }
}

template <class TQ, int CT, int DMAX>
cudaError_t launch(const mkc_decode_args *a, cudaStream_t stream) {
    constexpr int BK = DMAX >= 256 ? 16 : 32;
    static_assert(MKC_DECODE_SPLIT_ALIGN % BK == 0, "a split is whole K tiles");
    typedef typename TQ::storage S;
    const int G = a->num_q_heads / a->pool.num_kv_heads;
    const int HG = (G + kGMax - 1) / kGMax;
    const dim3 grid((unsigned)(a->pool.num_kv_heads * HG), (unsigned)a->batch, (unsigned)a->splits);
    splitkv_decode_kernel<TQ, CT, DMAX, BK><<<grid, DMAX, 0, stream>>>(
        static_cast<const S *>(a->q), a->q_s0, a->q_s1, a->pool, a->block_table, a->max_blocks,
        a->context_lens, static_cast<S *>(a->out), a->partial, a->ml_offset, a->num_q_heads, G, HG,
        a->scale, a->window_left, a->softcap, a->splits, a->chunk);
    cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess || a->splits == 1) return err;
    const int nt = a->pool.head_dim < 64 ? 32 : 64;
    splitkv_merge_kernel<TQ><<<(unsigned)((int64_t)a->batch * a->num_q_heads), nt, 0, stream>>>(
        a->partial, a->ml_offset, static_cast<S *>(a->out), a->pool.head_dim, a->splits);
    return cudaGetLastError();
}

template <class TQ, int CT>
cudaError_t by_dim(const mkc_decode_args *a, cudaStream_t stream) {
    const int D = a->pool.head_dim;
    if (D <= 32) return launch<TQ, CT, 32>(a, stream);
    if (D <= 64) return launch<TQ, CT, 64>(a, stream);
    if (D <= 128) return launch<TQ, CT, 128>(a, stream);
    return launch<TQ, CT, 256>(a, stream);
}

template <class TQ>
cudaError_t by_cache(const mkc_decode_args *a, cudaStream_t stream) {
    switch (a->pool.dtype) {
    case MK_F32: return by_dim<TQ, MK_F32>(a, stream);
    case MK_F16: return by_dim<TQ, MK_F16>(a, stream);
    case MK_BF16: return by_dim<TQ, MK_BF16>(a, stream);
    case MK_I8: return by_dim<TQ, MK_I8>(a, stream);
    case MK_FP8_E4M3: return by_dim<TQ, MK_FP8_E4M3>(a, stream);
    default: return cudaErrorInvalidValue;
    }
}

} /* namespace */

extern "C" cudaError_t mkc_attention_decode(const mkc_decode_args *a, cudaStream_t stream) {
    if (a->batch <= 0 || a->num_q_heads <= 0) return cudaSuccess;
    if (a->pool.head_dim < 1 || a->pool.head_dim > 256 || a->splits < 1 ||
        (a->splits > 1 && !a->partial))
        return cudaErrorInvalidValue;
    MKC_DISPATCH_FLOAT(a->q_dtype, TQ, by_cache<TQ>(a, stream))
}
