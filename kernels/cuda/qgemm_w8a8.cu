/*
 * Quantized GEMM with 8-bit activations on tensor cores:
 *   y [M][N] = s_a[m] * s_w[n] * (x_q[m] . W_q[n]) (+ bias),
 * W QW8A8 (int8 codes, mma m16n8k32 s8 -> s32, sm_80+) or QFP8 (e4m3 codes, m16n8k32
 * e4m3 -> f32, sm_89+), per-channel f32 scales s_w, x F16 or BF16 quantized per token.
 *
 * Two kernels on the stream:
 *  1. qgemm_act_quant_kernel, a block per row of x: amax over the row, s_a = amax / 127
 *     (int8) or amax / 448 (e4m3) by true division, codes of x[m][k_perm[k]] / s_a by true
 *     division (mkc::quantize_code: the reference's rounding, bit for bit) written in the
 *     byte order of qgemm_layout.h's mkc_qg_a8_k, rows padded with code 0 to k_pad =
 *     k_tiles * 32. Codes and scales go to the start of the caller's scratch.
 *  2. qgemm_a8_kernel, the block of qgemm_mma_block.cuh (8 warps over 128 columns and 16
 *     rows of x, the weight through the 4-stage cp.async ring, K split over the SMs): the
 *     block's x codes over its K slice staged once (16-byte cp.async), an A fragment per
 *     tile by one ldmatrix.x4 (rows past M read a zero row), the B fragments are the
 *     tile's words as they are (no conversion), 8 mma per warp and tile. int8 sums are
 *     exact in s32 (|sum| <= 127^2 K < 2^31: supports() keeps K <= 133 143). e4m3 products
 *     are exact, but the tensor core's own fp8 accumulation keeps fewer bits than f32
 *     (about 14 on H800, says the DeepSeek-V3 report): each k32 mma therefore starts
 *     from zero and its result is added to the f32 accumulators by FADD, so the error stays
 *     that of one 32-term sum however long K is. The K-warps are summed in warp order; the
 *     scales are applied once, to each split's sum; splits are summed in split order by
 *     qgemm_splitk_reduce_kernel with the bias. Deterministic, no atomics.
 */
#include <type_traits>

#include "block_reduce.cuh"
#include "dtype_io.cuh"
#include "mk_cuda_kernels.h"
#include "ptx.cuh"
#include "qgemm_mma_block.cuh"

namespace {

using namespace mkc::qg;

constexpr int kQuantThreads = 256;

/* The scratch of a launch: x codes [M][k_pad], then s_a [M], then the partials. */
struct a8_scratch {
    size_t codes, scales, partial, bytes;
};
inline a8_scratch scratch_of(int64_t M, int64_t k_pad, int64_t N, int splits) {
    a8_scratch s;
    s.codes = 0;
    s.scales = ((size_t)M * (size_t)k_pad + 15) & ~(size_t)15;
    s.partial = s.scales + (((size_t)M * sizeof(float) + 15) & ~(size_t)15);
    s.bytes = s.partial + (splits > 1 ? (size_t)splits * (size_t)M * (size_t)N * sizeof(float) : 0);
    return s;
}

template <class T, bool I8>
__global__ void __launch_bounds__(kQuantThreads)
    qgemm_act_quant_kernel(const uint16_t *__restrict__ x, int64_t x_rs, const int32_t *__restrict__ k_perm, int K,
                           int k_pad, uint8_t *__restrict__ codes, float *__restrict__ scales) {
    __shared__ float red[32];
    const int64_t m = blockIdx.x;
    const uint16_t *xr = x + m * x_rs;
    float amax = 0.f; /* over the row as stored: k_perm does not change the set */
    for (int k = (int)threadIdx.x; k < K; k += kQuantThreads) amax = fmaxf(amax, fabsf(T::load(xr[k])));
    amax = mkc::block_max(amax, red);
    const float s = __fdiv_rn(amax, I8 ? 127.0f : 448.0f);
    if (threadIdx.x == 0) scales[m] = s;
    /* word wi of the row: bytes 4t .. 4t + 3 (t = wi % 4) of its 16-byte chunk wi / 4 */
    uint32_t *dst = reinterpret_cast<uint32_t *>(codes + m * k_pad);
    for (int wi = (int)threadIdx.x; wi < k_pad / 4; wi += kQuantThreads) {
        const int base = 16 * (wi >> 2);
        uint32_t word = 0;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const int k = base + mkc_qg_a8_k(4 * (wi & 3) + j);
            const float v = k < K ? T::load(xr[k_perm ? k_perm[k] : k]) : 0.f;
            word |= (uint32_t)mkc::quantize_code(I8, v, s) << (8 * j);
        }
        dst[wi] = word;
    }
}

struct a8_args {
    mkc_qgemm_weight w;
    const uint8_t *codes; /* [M][k_pad], qgemm_act_quant_kernel's */
    const float *sa;      /* [M]                                   */
    int64_t k_pad;
    const uint16_t *bias;
    uint16_t *y;
    float *partial; /* [splits][M][N] when splits > 1 */
    int M, splits, n_blocks, kt_per_split;
    int xs_ld; /* staged x row stride, bytes (a multiple of 16) */
};

/* Shared memory of a block: the ring, x codes [rows][xs_ld], a zero row of 16 bytes. */
__host__ __device__ inline size_t a8_smem_bytes(int rows, int xs_ld) {
    return (size_t)kRingBytes + (size_t)rows * xs_ld + 16;
}

template <class T, bool FP8>
__global__ void __launch_bounds__(kThreads) qgemm_a8_kernel(a8_args p) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    typedef typename std::conditional<FP8, float, int32_t>::type Acc;
    constexpr int TK = MKC_QG_TK_W8;
    extern __shared__ __align__(16) uint8_t smem[];
    const mkc_qgemm_layout &L = p.w.layout;
    const block_at B = block_here(L, p.n_blocks, p.kt_per_split, p.M);
    const int tid = B.tid, lane = B.lane, warp = B.warp, wn = B.wn, wk = B.wk, g = B.g, t = B.t;
    const int split = B.split, nt0 = B.nt0, m0 = B.m0, rows = B.rows;
    const int kt_begin = B.kt_begin, kt_end = B.kt_end, nst = B.nst;
    uint8_t *xs = smem + kRingBytes;
    uint8_t *zero = xs + min(16, p.M) * p.xs_ld;

    /* ---- stage the slice's x codes once (joined to stage 0's copy group) */
    {
        const int chunks = (kt_end - kt_begin) * TK / 16;
        const uint8_t *src = p.codes + (int64_t)m0 * p.k_pad + (int64_t)kt_begin * TK;
        for (int e = tid; e < rows * chunks; e += kThreads) {
            const int r = e / chunks, c = e % chunks;
            mkc::ptx::cp_async<16>(xs + r * p.xs_ld + c * 16, src + r * p.k_pad + c * 16);
        }
        if (tid < 4) reinterpret_cast<uint32_t *>(zero)[tid] = 0u;
    }

    const uint8_t *q = static_cast<const uint8_t *>(p.w.q);
    auto issue = [&](int i) { issue_stage(smem, q, L, nt0, kt_begin, kt_end, i, nst, tid); };
#pragma unroll
    for (int i = 0; i < kStages - 1; i++) issue(i);

    /* ldmatrix row addresses: lane l gives row l % 16 at byte 16 (l / 16) of a tile's 32;
       rows past the block's x read the zero row (step 0) */
    const int arow = lane & 15;
    const uint8_t *a_base = arow < rows ? xs + arow * p.xs_ld + (lane >> 4) * 16 : zero;
    const int a_step = arow < rows ? TK : 0; /* bytes per tile */

    Acc acc[4][2][4];
#pragma unroll
    for (int j = 0; j < 4; j++)
#pragma unroll
        for (int ns = 0; ns < 2; ns++)
#pragma unroll
            for (int c = 0; c < 4; c++) acc[j][ns][c] = 0;

    for (int i = 0; i < nst; i++) {
        mkc::ptx::cp_async_wait<kStages - 2>();
        __syncthreads(); /* stage i (and, at i = 0, x) visible; stage i-1 free */
        issue(i + kStages - 1);
        const int kt = kt_begin + i * kWK + wk;
        if (kt >= kt_end) continue; /* uniform over the warp */
        uint32_t words[4][4];
        stage_words(smem, i, wn, wk, lane, words);
        uint32_t a[4];
        mkc::ptx::ldmatrix_x4(a, a_base + (kt - kt_begin) * a_step);
#pragma unroll
        for (int j = 0; j < 4; j++)
#pragma unroll
            for (int ns = 0; ns < 2; ns++) {
                const uint32_t b0 = words[j][mkc_qg_w8_word(0, ns)], b1 = words[j][mkc_qg_w8_word(1, ns)];
                if constexpr (FP8) { /* one k32 product, then an f32 add (see the header) */
                    float d[4] = {0.f, 0.f, 0.f, 0.f};
                    mkc::ptx::mma_m16n8k32_e4m3(d, a, b0, b1);
#pragma unroll
                    for (int c = 0; c < 4; c++) acc[j][ns][c] += d[c];
                } else {
                    mkc::ptx::mma_m16n8k32_s8(acc[j][ns], a, b0, b1);
                }
            }
    }

    Acc v[2][4];
    sum_k_warps(smem, acc, warp, wn, wk, lane, v);

    /* accumulator lane: rows g, g + 8; columns 8 ns + 2t + jj of row tile nt, whose four
       per-channel scales are consecutive from mkc_qg_scale_elem(2t): one 16-byte load */
    const int64_t nt = nt0 + wn * 4 + wk;
    if (nt >= L.n_tiles) return;
    const float4 sw4 = *reinterpret_cast<const float4 *>(static_cast<const float *>(p.w.scales) +
                                                         mkc_qg_group_at(L.groups_p, nt, 0) + mkc_qg_scale_elem(2 * t));
    const float sw[4] = {sw4.x, sw4.y, sw4.z, sw4.w};
    const int64_t row0 = m0 + g, row1 = m0 + g + 8;
    const float sa0 = row0 < p.M ? p.sa[row0] : 0.f, sa1 = row1 < p.M ? p.sa[row1] : 0.f;
#pragma unroll
    for (int ns = 0; ns < 2; ns++)
#pragma unroll
        for (int jj = 0; jj < 2; jj++) {
            const int64_t n = nt * MKC_QG_TN + MKC_QG_N8 * ns + 2 * t + jj;
            if (n >= L.n) continue;
            const float s = sw[2 * ns + jj];
            const float o0 = sa0 * s * (float)v[ns][jj], o1 = sa1 * s * (float)v[ns][2 + jj];
            if (p.splits == 1) {
                const float b = p.bias ? T::load(p.bias[n]) : 0.f;
                if (row0 < p.M) p.y[row0 * L.n + n] = T::store(o0 + b);
                if (row1 < p.M) p.y[row1 * L.n + n] = T::store(o1 + b);
            } else {
                float *ps = p.partial + (int64_t)split * p.M * L.n;
                if (row0 < p.M) ps[row0 * L.n + n] = o0;
                if (row1 < p.M) ps[row1 * L.n + n] = o1;
            }
        }
#else
    (void)p;
#endif
}

template <class T, bool FP8>
cudaError_t launch(const a8_args &p, const uint16_t *x, int64_t x_rs, uint8_t *codes, float *sa,
                   const mkc_qgemm_mma_plan *plan, cudaStream_t stream) {
    qgemm_act_quant_kernel<T, !FP8><<<(unsigned)p.M, kQuantThreads, 0, stream>>>(
        x, x_rs, p.w.k_perm, (int)p.w.layout.k, (int)p.k_pad, codes, sa);
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return e;
    const size_t smem = plan->smem_bytes;
    if (smem > 48 * 1024) {
        e = cudaFuncSetAttribute(qgemm_a8_kernel<T, FP8>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
        if (e != cudaSuccess) return e;
    }
    const dim3 grid((unsigned)(p.n_blocks * p.splits), (unsigned)((p.M + 15) / 16));
    qgemm_a8_kernel<T, FP8><<<grid, kThreads, smem, stream>>>(p);
    e = cudaGetLastError();
    if (e != cudaSuccess || p.splits == 1) return e;
    const mk_dtype t = std::is_same<T, mkc::f16>::value ? MK_F16 : MK_BF16;
    return splitk_reduce(t, p.partial, p.splits, p.M, (int)p.w.layout.n, p.bias, p.y, stream);
}

} /* namespace */

extern "C" int mkc_qgemm_a8_plan_of(const mkc_qgemm_weight *w, int64_t M, int sms, mkc_qgemm_mma_plan *out) {
    const mkc_qgemm_layout *L = &w->layout;
    if (L->w4 || L->tk != MKC_QG_TK_W8 || L->groups_p != 1 || L->scale_size != 4) return 0;
    if (!qg_partition(L, M, sms, 1, out)) return 0;
    out->smem_bytes = a8_smem_bytes(M < 16 ? (int)M : 16, out->xs_ld);
    out->scratch_bytes = scratch_of(M, L->k_tiles * MKC_QG_TK_W8, L->n, out->splits).bytes;
    return 1;
}

extern "C" cudaError_t mkc_qgemm_a8(mk_dtype t, int fp8, const mkc_qgemm_weight *w, const void *x, int64_t x_rs,
                                    const void *bias, void *y, int64_t M, const mkc_qgemm_mma_plan *plan,
                                    void *scratch, cudaStream_t stream) {
    if (M <= 0 || w->layout.n <= 0) return cudaSuccess;
    if (M > 65535 || !scratch) return cudaErrorInvalidValue;
    const int64_t k_pad = w->layout.k_tiles * MKC_QG_TK_W8;
    const a8_scratch S = scratch_of(M, k_pad, w->layout.n, plan->splits);
    uint8_t *base = static_cast<uint8_t *>(scratch), *codes = base + S.codes;
    float *sa = reinterpret_cast<float *>(base + S.scales);
    a8_args p;
    p.w = *w;
    p.codes = codes;
    p.sa = sa;
    p.k_pad = k_pad;
    p.bias = static_cast<const uint16_t *>(bias);
    p.y = static_cast<uint16_t *>(y);
    p.partial = reinterpret_cast<float *>(base + S.partial);
    p.M = (int)M;
    p.splits = plan->splits;
    p.n_blocks = plan->n_blocks;
    p.kt_per_split = plan->kt_per_split;
    p.xs_ld = plan->xs_ld;
    const uint16_t *xh = static_cast<const uint16_t *>(x);
    if (t == MK_F16)
        return fp8 ? launch<mkc::f16, true>(p, xh, x_rs, codes, sa, plan, stream)
                   : launch<mkc::f16, false>(p, xh, x_rs, codes, sa, plan, stream);
    if (t == MK_BF16)
        return fp8 ? launch<mkc::bf16, true>(p, xh, x_rs, codes, sa, plan, stream)
                   : launch<mkc::bf16, false>(p, xh, x_rs, codes, sa, plan, stream);
    return cudaErrorInvalidValue;
}
