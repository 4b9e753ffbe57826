/*
 * Paged KV cache append: k, v [T][Hkv][D] -> the pool at slot_mapping[t], K then V.
 * Slots that are -1 (padding) or out of range are skipped.
 *
 * F32/F16/BF16 caches store each value with the cache dtype's rounding. I8 and FP8 E4M3
 * caches quantize each (slot, head) vector exactly as reference/kv_cache.c does, bit for
 * bit: amax = max |x| (a warp max: exact in any order), scale = amax / 127 or amax / 448
 * as one IEEE division (__fdiv_rn), code = encode(x / scale) with a true division per
 * element (never x * (1/scale)); scale 0 stores codes 0; a NaN element encodes as a NaN
 * of its own sign (FP8 0x7F | sign, I8 0). Infinite inputs make scale infinite and
 * Inf / Inf a NaN whose sign the host's reference takes from its FPU (x86 gives the
 * negative default NaN): outside the bit-exact contract. D <= 256.
 *
 * Two kernels, chosen on the host at each launch (both give the same bits):
 *  - vector (the common case): E elements per lane and chunk, E = 16 / the narrower of
 *    the input and cache element sizes, so every access is a 16-byte word: f16/bf16 ->
 *    f16/bf16 8 per lane (one LDG.128 of the input, one STG.128 into the cache), f32 ->
 *    f16/bf16 8 (two loads, one store), f16/bf16 -> f32 8 (one load, two stores), f32 ->
 *    f32 4 (up to two chunks per lane at D > 128), I8/FP8 16 codes per lane (2 or 4
 *    loads, one store). A row of D elements is L = D / E chunks; a group of P lanes
 *    (L rounded up to a power of two, at most 32) takes a row and a warp 32 / P rows at a
 *    time. Each lane issues all its K and V loads beside its row's slot load, before any
 *    store (mkc::ptx::ld_global_v4: volatile, so the compiler does not sink them behind
 *    the slot test), so 2-8 independent 16-byte loads per lane are in flight. I8/FP8:
 *    L <= 16, one chunk per lane held in registers, amax a max over the P lanes of the
 *    group (shuffles that every lane of the warp executes; lanes past the row or past the
 *    last row add 0).
 *    Needs D % E == 0, 16-byte aligned k, v and pool bases, and token and head strides
 *    that are whole 16-byte words (a stride of a dim of extent 1 is never used).
 *  - scalar (the fallback for everything else: odd D, D = 1, padded rows whose stride is
 *    not a multiple of the word, misaligned offsets): one warp per (token, head) row, one
 *    element per lane per step, each lane holding at most 8 values (constant indices
 *    only, so they stay in registers).
 */
#include <type_traits>

#include "block_reduce.cuh"
#include "dtype_io.cuh"
#include "mk_cuda_kernels.h"
#include "ptx.cuh"

namespace {

constexpr int kWarpsPerBlock = 4;
constexpr int kMaxPerLane = 8; /* 256 / 32 */

/* The element tag of a cache dtype (quantized caches hold uint8_t codes). */
template <int CT>
struct cache_tag {
    typedef typename std::conditional<CT == MK_F32, mkc::f32,
            typename std::conditional<CT == MK_F16, mkc::f16, mkc::bf16>::type>::type type;
};

template <int CT>
constexpr bool kQuantized = CT == MK_I8 || CT == MK_FP8_E4M3;

template <int CT>
constexpr int kCacheBytes = CT == MK_F32 ? 4 : (CT == MK_F16 || CT == MK_BF16) ? 2 : 1;

__device__ __forceinline__ uint8_t quantize(int ct, float x, float scale) {
    return mkc::quantize_code(ct == MK_I8, x, scale);
}

/* ------------------------------------------------------------ scalar: a warp per row */

template <class TIn, int CT>
__device__ __forceinline__ void append_row(const typename TIn::storage *src, void *pool_base,
                                           float *scales, int64_t crow, int D, int lane) {
    if constexpr (kQuantized<CT>) {
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
            if (d < D) dst[d] = quantize(CT, vals[j], scale);
        }
    } else {
        typedef typename cache_tag<CT>::type TC;
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

/* ------------------------------------------------------------ vector: 16-byte words */

template <class TIn, int CT>
struct vec_shape {
    typedef typename TIn::storage S;
    static constexpr int kIn = (int)sizeof(S);
    static constexpr int kC = kCacheBytes<CT>;
    static constexpr int E = 16 / (kIn < kC ? kIn : kC); /* elements per lane and chunk  */
    static constexpr int kInWords = E * kIn / 16;        /* 16-byte loads per chunk      */
    static constexpr int kInPer = 16 / kIn;              /* input elements per word      */
    static constexpr int kChunks = (256 / E + 31) / 32;  /* chunks per lane at D = 256   */
};

/* The raw 16-byte words of one input chunk (N words). */
template <int N>
struct in_chunk {
    uint4 w[N];
};

template <int N>
__device__ __forceinline__ in_chunk<N> load_chunk(const void *src) {
    in_chunk<N> c;
#pragma unroll
    for (int i = 0; i < N; i++) c.w[i] = mkc::ptx::ld_global_v4(static_cast<const uint4 *>(src) + i);
    return c;
}

/* Element i of a 16-byte word of TIn values as float (i is a constant once the loops are
   unrolled). Callers index the chunk's words themselves: a helper taking the chunk would be
   the same code for every N, and GCC's identical-code folding then misleads -Warray-bounds. */
template <class TIn>
__device__ __forceinline__ float word_value(const uint4 &w, int i) {
    constexpr int size = (int)sizeof(typename TIn::storage);
    const int b = i * size; /* byte within the word */
    const uint32_t u = b < 4 ? w.x : b < 8 ? w.y : b < 12 ? w.z : w.w;
    if constexpr (size == 4) return TIn::load(__uint_as_float(u));
    else return TIn::load((uint16_t)(u >> (8 * (b & 3))));
}

/* Converts one chunk into the cache dtype and stores it as 16-byte words at dst. */
template <class TIn, int CT, int N>
__device__ __forceinline__ void store_chunk(typename cache_tag<CT>::type::storage *dst, const in_chunk<N> &c) {
    typedef typename cache_tag<CT>::type TC;
    typedef typename TC::storage CS;
    constexpr int in_per = 16 / (int)sizeof(typename TIn::storage);
    constexpr int per = 16 / (int)sizeof(CS), words = N * in_per / per;
    typedef mkc::pack<CS, per> W;
    W *d = reinterpret_cast<W *>(dst);
#pragma unroll
    for (int i = 0; i < words; i++) {
        W o;
#pragma unroll
        for (int j = 0; j < per; j++) {
            const int e = i * per + j;
            o.v[j] = TC::store(word_value<TIn>(c.w[e / in_per], e % in_per));
        }
        d[i] = o;
    }
}

/* Quantizes one chunk of 16 values with the row's scale: one 16-byte store. */
template <int CT>
__device__ __forceinline__ void store_codes(uint8_t *dst, const float (&x)[16], float scale) {
    mkc::pack<uint8_t, 16> out;
#pragma unroll
    for (int j = 0; j < 16; j++) out.v[j] = quantize(CT, x[j], scale);
    *reinterpret_cast<mkc::pack<uint8_t, 16> *>(dst) = out;
}

template <class TIn, int CT>
__global__ void __launch_bounds__(kWarpsPerBlock * 32)
    kv_append_vec_kernel(const typename TIn::storage *k, int64_t k_st, int64_t k_sh,
                         const typename TIn::storage *v, int64_t v_st, int64_t v_sh,
                         const int32_t *slots, int64_t ntok, mkc_kv_pool pool, int lg_lanes) {
    typedef vec_shape<TIn, CT> VS;
    constexpr int E = VS::E;
    const int lane = threadIdx.x & 31;
    const int P = 1 << lg_lanes, rows_per_warp = 32 >> lg_lanes;
    const int gl = lane & (P - 1); /* lane within its row's group */
    const int H = pool.num_kv_heads, D = pool.head_dim, L = D / E;
    const int64_t nrows = ntok * H;
    const int64_t nslots = pool.num_blocks * pool.block_size;
    const int64_t step = (int64_t)gridDim.x * kWarpsPerBlock * rows_per_warp;
    /* the loop bound is the same for every lane of the warp (the shuffles below) */
    for (int64_t r0 = ((int64_t)blockIdx.x * kWarpsPerBlock + (threadIdx.x >> 5)) * rows_per_warp;
         r0 < nrows; r0 += step) {
        const int64_t row = r0 + (lane >> lg_lanes);
        const bool in_range = row < nrows;
        int64_t t = 0;
        int h = 0;
        int32_t slot = -1;
        if (in_range) {
            t = row / H;
            h = (int)(row - t * H);
            slot = slots[t];
        }
        const typename VS::S *ks = k + t * k_st + h * k_sh, *vs = v + t * v_st + h * v_sh;
        /* every load of the row is issued here, beside the slot's, before any use */
        in_chunk<VS::kInWords> kc[VS::kChunks] = {}, vc[VS::kChunks] = {};
        if (in_range)
#pragma unroll
            for (int j = 0; j < VS::kChunks; j++) {
                const int c = gl + j * P;
                if (c < L) {
                    kc[j] = load_chunk<VS::kInWords>(ks + c * E);
                    vc[j] = load_chunk<VS::kInWords>(vs + c * E);
                }
            }
        const bool store = slot >= 0 && slot < nslots;
        if constexpr (kQuantized<CT>) {
            /* L = D / 16 <= 16 <= P: one chunk per lane (kChunks == 1); lanes past the row
               or past the last row hold zeros */
            float kx[16], vx[16];
            float ka = 0.0f, va = 0.0f;
#pragma unroll
            for (int e = 0; e < 16; e++) {
                kx[e] = word_value<TIn>(kc[0].w[e / VS::kInPer], e % VS::kInPer);
                vx[e] = word_value<TIn>(vc[0].w[e / VS::kInPer], e % VS::kInPer);
                ka = fmaxf(ka, fabsf(kx[e])); /* NaN is ignored, as in the reference */
                va = fmaxf(va, fabsf(vx[e]));
            }
#pragma unroll
            for (int off = 16; off > 0; off >>= 1)
                if (off < P) { /* P is the same for the whole warp */
                    ka = fmaxf(ka, __shfl_xor_sync(0xFFFFFFFFu, ka, off));
                    va = fmaxf(va, __shfl_xor_sync(0xFFFFFFFFu, va, off));
                }
            const float qmax = CT == MK_I8 ? 127.0f : 448.0f;
            const float kscale = __fdiv_rn(ka, qmax), vscale = __fdiv_rn(va, qmax);
            if (store) {
                const int64_t crow = (int64_t)slot * H + h;
                if (gl == 0) pool.k_scale[crow] = kscale, pool.v_scale[crow] = vscale;
                if (gl < L) {
                    store_codes<CT>(static_cast<uint8_t *>(pool.k) + crow * D + gl * E, kx, kscale);
                    store_codes<CT>(static_cast<uint8_t *>(pool.v) + crow * D + gl * E, vx, vscale);
                }
            }
        } else if (store) {
            typedef typename cache_tag<CT>::type::storage CS;
            const int64_t crow = (int64_t)slot * H + h;
#pragma unroll
            for (int j = 0; j < VS::kChunks; j++) { /* two only for f32 -> f32, D > 128 */
                const int c = gl + j * P;
                if (c < L) {
                    store_chunk<TIn, CT>(static_cast<CS *>(pool.k) + crow * D + c * E, kc[j]);
                    store_chunk<TIn, CT>(static_cast<CS *>(pool.v) + crow * D + c * E, vc[j]);
                }
            }
        }
    }
}

inline bool aligned16(const void *p) { return ((uintptr_t)p & 15u) == 0; }

/* Can the vector kernel take this launch (see the top of the file)? */
template <class TIn, int CT>
bool vector_ok(const void *k, int64_t k_st, int64_t k_sh, const void *v, int64_t v_st,
               int64_t v_sh, int64_t ntok, const mkc_kv_pool *pool) {
    typedef vec_shape<TIn, CT> VS;
    const int64_t w = VS::kInPer;
    const bool one_tok = ntok == 1, one_head = pool->num_kv_heads == 1;
    return pool->head_dim % VS::E == 0 && aligned16(k) && aligned16(v) && aligned16(pool->k) &&
           aligned16(pool->v) && (one_tok || (k_st % w == 0 && v_st % w == 0)) &&
           (one_head || (k_sh % w == 0 && v_sh % w == 0));
}

int64_t grid_for(int64_t rows_per_block, int64_t nrows) {
    int64_t blocks = (nrows + rows_per_block - 1) / rows_per_block;
    return blocks > 65535 * 16 ? 65535 * 16 : blocks; /* grid-stride beyond */
}

template <class TIn, int CT>
cudaError_t launch(const void *k, int64_t k_st, int64_t k_sh, const void *v, int64_t v_st,
                   int64_t v_sh, const int32_t *slots, int64_t ntok, const mkc_kv_pool *pool,
                   cudaStream_t stream) {
    typedef typename TIn::storage S;
    const int64_t nrows = ntok * pool->num_kv_heads;
    const S *ks = static_cast<const S *>(k), *vs = static_cast<const S *>(v);
    if (vector_ok<TIn, CT>(k, k_st, k_sh, v, v_st, v_sh, ntok, pool)) {
        const int L = pool->head_dim / vec_shape<TIn, CT>::E;
        int lg = 0;
        while ((1 << lg) < L && lg < 5) lg++;
        const int64_t rows_per_block = (int64_t)kWarpsPerBlock * (32 >> lg);
        kv_append_vec_kernel<TIn, CT><<<(unsigned)grid_for(rows_per_block, nrows), kWarpsPerBlock * 32, 0,
                                        stream>>>(ks, k_st, k_sh, vs, v_st, v_sh, slots, ntok, *pool, lg);
    } else {
        kv_append_kernel<TIn, CT><<<(unsigned)grid_for(kWarpsPerBlock, nrows), kWarpsPerBlock * 32, 0,
                                    stream>>>(ks, k_st, k_sh, vs, v_st, v_sh, slots, ntok, *pool);
    }
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
