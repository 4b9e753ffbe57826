/*
 * Paged KV cache append: k, v [T][Hkv][D] -> the pool at slot_mapping[t] (one warp per
 * (token, head) row, K then V). Slots that are -1 (padding) or out of range are skipped.
 *
 * F32/F16/BF16 caches store each value with the cache dtype's rounding. I8 and FP8 E4M3
 * caches quantize each (slot, head) vector exactly as reference/kv_cache.c does, bit for
 * bit: amax = max |x| (a warp max: exact in any order), scale = amax / 127 or amax / 448
 * as one IEEE division (__fdiv_rn), code = encode(x / scale) with a true division per
 * element (never x * (1/scale)); scale 0 stores codes 0; a NaN element encodes as a NaN
 * of its own sign (FP8 0x7F | sign, I8 0). Infinite inputs make scale infinite and
 * Inf / Inf a NaN whose sign the host's reference takes from its FPU (x86 gives the
 * negative default NaN): outside the bit-exact contract. D <= 256: each lane holds at
 * most 8 values in registers (constant indices only, so they stay in registers).
 */
#include <type_traits>

#include "block_reduce.cuh"
#include "dtype_io.cuh"
#include "mk_cuda_kernels.h"

namespace {

constexpr int kWarpsPerBlock = 4;
constexpr int kMaxPerLane = 8; /* 256 / 32 */

template <class TIn, int CT>
__device__ __forceinline__ void append_row(const typename TIn::storage *src, void *pool_base,
                                           float *scales, int64_t crow, int D, int lane) {
    if constexpr (CT == MK_I8 || CT == MK_FP8_E4M3) {
        float vals[kMaxPerLane];
        float amax = 0.0f;
#pragma unroll
        for (int j = 0; j < kMaxPerLane; j++) {
            const int d = lane + 32 * j;
            vals[j] = d < D ? TIn::load(src[d]) : 0.0f;
            amax = fmaxf(amax, fabsf(vals[j])); /* NaN is ignored, as in the reference */
        }
        amax = mkc::warp_max(amax);
        const float scale = __fdiv_rn(amax, CT == MK_I8 ? 127.0f : 448.0f);
        if (lane == 0) scales[crow] = scale;
        uint8_t *dst = static_cast<uint8_t *>(pool_base) + crow * D;
#pragma unroll
        for (int j = 0; j < kMaxPerLane; j++) {
            const int d = lane + 32 * j;
            if (d < D) {
                uint8_t code = 0;
                if (scale != 0.0f) {
                    /* NaN / scale is a NaN; keep the input's sign as the host's division
                       does (the GPU's would be the canonical, positive NaN) */
                    const float q = vals[j] != vals[j] ? vals[j] : __fdiv_rn(vals[j], scale);
                    code = CT == MK_I8 ? (uint8_t)mkc::f32_to_i8_sat(q) : mkc::f32_to_fp8_e4m3(q);
                }
                dst[d] = code;
            }
        }
    } else {
        typedef typename std::conditional<CT == MK_F32, mkc::f32,
                typename std::conditional<CT == MK_F16, mkc::f16, mkc::bf16>::type>::type TC;
        typename TC::storage *dst = static_cast<typename TC::storage *>(pool_base) + crow * D;
        for (int d = lane; d < D; d += 32) dst[d] = TC::store(TIn::load(src[d]));
    }
}

template <class TIn, int CT>
__global__ void __launch_bounds__(kWarpsPerBlock * 32)
    kv_append_kernel(const typename TIn::storage *k, int64_t k_st, int64_t k_sh,
                     const typename TIn::storage *v, int64_t v_st, int64_t v_sh,
                     const int32_t *slots, int64_t ntok, mkc_kv_pool pool) {
    const int lane = threadIdx.x & 31;
    const int H = pool.num_kv_heads, D = pool.head_dim;
    const int64_t nrows = ntok * H;
    const int64_t nslots = pool.num_blocks * pool.block_size;
    const int64_t step = (int64_t)gridDim.x * kWarpsPerBlock;
    for (int64_t row = (int64_t)blockIdx.x * kWarpsPerBlock + (threadIdx.x >> 5); row < nrows;
         row += step) {
        const int64_t t = row / H;
        const int h = (int)(row - t * H);
        const int32_t slot = slots[t]; /* the same for the whole warp */
        if (slot < 0 || slot >= nslots) continue;
        const int64_t crow = (int64_t)slot * H + h;
        append_row<TIn, CT>(k + t * k_st + h * k_sh, pool.k, pool.k_scale, crow, D, lane);
        append_row<TIn, CT>(v + t * v_st + h * v_sh, pool.v, pool.v_scale, crow, D, lane);
    }
}

template <class TIn, int CT>
cudaError_t launch(const void *k, int64_t k_st, int64_t k_sh, const void *v, int64_t v_st,
                   int64_t v_sh, const int32_t *slots, int64_t ntok, const mkc_kv_pool *pool,
                   cudaStream_t stream) {
    typedef typename TIn::storage S;
    const int64_t nrows = ntok * pool->num_kv_heads;
    int64_t blocks = (nrows + kWarpsPerBlock - 1) / kWarpsPerBlock;
    if (blocks > 65535 * 16) blocks = 65535 * 16; /* grid-stride beyond */
    kv_append_kernel<TIn, CT><<<(unsigned)blocks, kWarpsPerBlock * 32, 0, stream>>>(
        static_cast<const S *>(k), k_st, k_sh, static_cast<const S *>(v), v_st, v_sh, slots, ntok,
        *pool);
    return cudaGetLastError();
}

template <class TIn>
cudaError_t dispatch_cache(const void *k, int64_t k_st, int64_t k_sh, const void *v, int64_t v_st,
                           int64_t v_sh, const int32_t *slots, int64_t ntok,
                           const mkc_kv_pool *pool, cudaStream_t stream) {
    switch (pool->dtype) {
    case MK_F32: return launch<TIn, MK_F32>(k, k_st, k_sh, v, v_st, v_sh, slots, ntok, pool, stream);
    case MK_F16: return launch<TIn, MK_F16>(k, k_st, k_sh, v, v_st, v_sh, slots, ntok, pool, stream);
    case MK_BF16: return launch<TIn, MK_BF16>(k, k_st, k_sh, v, v_st, v_sh, slots, ntok, pool, stream);
    case MK_I8: return launch<TIn, MK_I8>(k, k_st, k_sh, v, v_st, v_sh, slots, ntok, pool, stream);
    case MK_FP8_E4M3: return launch<TIn, MK_FP8_E4M3>(k, k_st, k_sh, v, v_st, v_sh, slots, ntok, pool, stream);
    default: return cudaErrorInvalidValue;
    }
}

} /* namespace */

extern "C" cudaError_t mkc_kv_append(mk_dtype in_t, const void *k, int64_t k_st, int64_t k_sh,
                                     const void *v, int64_t v_st, int64_t v_sh,
                                     const int32_t *slots, int64_t T, const mkc_kv_pool *pool,
                                     cudaStream_t stream) {
    if (T <= 0) return cudaSuccess;
    if (pool->head_dim < 1 || pool->head_dim > 32 * kMaxPerLane) return cudaErrorInvalidValue;
    MKC_DISPATCH_FLOAT(in_t, TIn, dispatch_cache<TIn>(k, k_st, k_sh, v, v_st, v_sh, slots, T, pool, stream))
}
