/*
 * Flash attention prefill without tensor cores: the SIMT fallback for what
 * attention_prefill.cu's mma kernel does not take (F32 I/O, head dims outside
 * {64, 80, 96, 128, 256}, GPUs before sm_80). The algorithm is
 * kernels/opencl/attention_prefill.cl's, f32 throughout: a block owns BQ query rows of
 * one sequence and one query head, TPR threads per row; per tile of BK keys, K is staged
 * in shared memory as f32 (row stride DMAX + 1: no bank conflicts), thread c of a row
 * scores keys c, c + TPR, ... (fmaf over d in order), the row's max and sum are reduced
 * over its TPR threads (adjacent lanes of one warp, xor shuffles: every lane gets the
 * same bits), then V replaces K in shared memory and thread c accumulates dims
 * c, c + TPR, ... (DMAX / TPR = 16 per thread). Out = acc / l once at the end; LSE =
 * m + log(l); rows that see no key: 0 and -inf. Tiles come from the plan's tile map, or
 * the slot scan, as in the mma kernel (prefill_tiles.cuh).
 */
#include <math.h>
#include <stdint.h>

#include "dtype_io.cuh"
#include "mk_cuda_kernels.h"
#include "prefill_tiles.cuh"

namespace {

template <int DMAX>
struct tiled_shape {
    static constexpr int TPR = DMAX / 16;         /* threads per row      */
    static constexpr int BQ = DMAX >= 128 ? 16 : 32;
    static constexpr int BK = DMAX >= 256 ? 16 : DMAX >= 128 ? 32 : 64;
    static constexpr int NT = BQ * TPR;           /* threads per block    */
    static constexpr int KPT = BK / TPR;          /* scores per thread    */
    static constexpr int DPT = DMAX / TPR;        /* output dims / thread */
    static constexpr int LD = DMAX + 1, SS = BK + 1;
};

template <class T, int DMAX>
__global__ void __launch_bounds__(tiled_shape<DMAX>::NT, 1)
    prefill_tiled_kernel(mkc_prefill_args a) {
    typedef tiled_shape<DMAX> S;
    typedef typename T::storage St;
    __shared__ float qs[S::BQ * S::LD];
    __shared__ float kvs[S::BK * S::LD];
    __shared__ float ss[S::BQ * S::SS];

    const int tid = threadIdx.x, r = tid / S::TPR, c = tid % S::TPR;
    const int D = a.head_dim;
    const int h = blockIdx.y, hk = h / (a.num_q_heads / a.num_kv_heads);

    const mkc::prefill_tile tl = mkc::find_prefill_tile<S::BQ>(a, blockIdx.x);
    if (tl.b < 0) return; /* uniform over the block */
    const int q0 = tl.q0, sq = tl.sq, sk = tl.sk, qbase = tl.qbase, kbase = tl.kbase;

    const int64_t shift = (int64_t)sk - sq;
    auto lo_of = [&](int i) -> int64_t {
        return a.window_left >= 0 ? max((int64_t)0, (int64_t)i + shift - a.window_left) : 0;
    };
    auto hi_of = [&](int i) -> int64_t {
        return a.causal ? min((int64_t)sk, (int64_t)i + shift + 1) : (int64_t)sk;
    };
    const int qlast = min(q0 + S::BQ, sq) - 1;
    const int64_t t_lo = lo_of(q0), t_hi = hi_of(qlast);
    const int i_row = q0 + r;
    const bool row_ok = i_row < sq;
    const int64_t lo = lo_of(i_row), hi = row_ok ? hi_of(i_row) : 0;

    const St *q = static_cast<const St *>(a.q) + (int64_t)h * a.q_s1;
    const St *k = static_cast<const St *>(a.k) + (int64_t)hk * a.k_s1;
    const St *v = static_cast<const St *>(a.v) + (int64_t)hk * a.v_s1;
    for (int e = tid; e < S::BQ * DMAX; e += S::NT) {
        const int rr = e / DMAX, d = e % DMAX;
        qs[rr * S::LD + d] = q0 + rr < sq && d < D ? T::load(q[((int64_t)qbase + q0 + rr) * a.q_s0 + d]) : 0.0f;
    }

    float acc[S::DPT];
#pragma unroll
    for (int i = 0; i < S::DPT; i++) acc[i] = 0.0f;
    float m = -INFINITY, l = 0.0f;

    for (int64_t j0 = t_lo; j0 < t_hi; j0 += S::BK) {
        const int nk = (int)min((int64_t)S::BK, t_hi - j0);
        __syncthreads(); /* V of the previous tile is consumed (and qs written) */
        for (int e = tid; e < S::BK * DMAX; e += S::NT) {
            const int kr = e / DMAX, d = e % DMAX;
            kvs[kr * S::LD + d] = kr < nk && d < D ? T::load(k[(kbase + j0 + kr) * a.k_s0 + d]) : 0.0f;
        }
        __syncthreads();

        float x[S::KPT], mx = -INFINITY;
#pragma unroll
        for (int kk = 0; kk < S::KPT; kk++) {
            const int key = c + kk * S::TPR;
            const int64_t j = j0 + key;
            float dot = 0.0f;
            for (int d = 0; d < D; d++) dot = fmaf(qs[r * S::LD + d], kvs[key * S::LD + d], dot);
            float s = dot * a.scale;
            if (a.softcap > 0.0f) s = a.softcap * tanhf(s / a.softcap);
            x[kk] = key < nk && j >= lo && j < hi ? s : -INFINITY;
            mx = fmaxf(mx, x[kk]);
        }
#pragma unroll
        for (int off = 1; off < S::TPR; off <<= 1) mx = fmaxf(mx, __shfl_xor_sync(0xFFFFFFFFu, mx, off));
        const float m_new = fmaxf(m, mx);
        const float alpha = m_new == -INFINITY ? 1.0f : expf(m - m_new);
        float sum = 0.0f;
#pragma unroll
        for (int kk = 0; kk < S::KPT; kk++) {
            const float p = x[kk] == -INFINITY ? 0.0f : expf(x[kk] - m_new);
            ss[r * S::SS + c + kk * S::TPR] = p;
            sum += p;
        }
#pragma unroll
        for (int off = 1; off < S::TPR; off <<= 1) sum += __shfl_xor_sync(0xFFFFFFFFu, sum, off);
        l = l * alpha + sum;
        m = m_new;

        __syncthreads(); /* K and the scores' writes are done: V replaces K */
        for (int e = tid; e < S::BK * DMAX; e += S::NT) {
            const int kr = e / DMAX, d = e % DMAX;
            kvs[kr * S::LD + d] = kr < nk && d < D ? T::load(v[(kbase + j0 + kr) * a.v_s0 + d]) : 0.0f;
        }
        __syncthreads();
#pragma unroll
        for (int i = 0; i < S::DPT; i++) acc[i] *= alpha;
        for (int key = 0; key < nk; key++) {
            const float p = ss[r * S::SS + key];
#pragma unroll
            for (int i = 0; i < S::DPT; i++) acc[i] = fmaf(p, kvs[key * S::LD + c + i * S::TPR], acc[i]);
        }
    }

    if (!row_ok) return;
    const int64_t row = ((int64_t)qbase + i_row) * a.num_q_heads + h;
    St *out = static_cast<St *>(a.out) + row * D;
    const float inv = l > 0.0f ? 1.0f / l : 0.0f;
#pragma unroll
    for (int i = 0; i < S::DPT; i++) {
        const int d = c + i * S::TPR;
        if (d < D) out[d] = T::store(acc[i] * inv);
    }
    if (a.lse && c == 0) a.lse[row] = l > 0.0f ? m + logf(l) : -INFINITY;
}

template <class T, int DMAX>
cudaError_t launch(const mkc_prefill_args *a, cudaStream_t stream) {
    typedef tiled_shape<DMAX> S;
    const int64_t blocks = mkc::prefill_blocks<S::BQ>(a);
    if (blocks > 0x7FFFFFFF) return cudaErrorInvalidValue; /* grid.x limit */
    const dim3 grid((unsigned)blocks, (unsigned)a->num_q_heads);
    prefill_tiled_kernel<T, DMAX><<<grid, S::NT, 0, stream>>>(*a);
    return cudaGetLastError();
}

template <class T>
cudaError_t by_dim(const mkc_prefill_args *a, cudaStream_t stream) {
    const int D = a->head_dim;
    if (D <= 32) return launch<T, 32>(a, stream);
    if (D <= 64) return launch<T, 64>(a, stream);
    if (D <= 128) return launch<T, 128>(a, stream);
    return launch<T, 256>(a, stream);
}

} /* namespace */

extern "C" int mkc_prefill_tiled_rows(int head_dim) {
    return head_dim <= 32 ? tiled_shape<32>::BQ : head_dim <= 64 ? tiled_shape<64>::BQ
         : head_dim <= 128 ? tiled_shape<128>::BQ : tiled_shape<256>::BQ;
}

extern "C" cudaError_t mkc_attention_prefill_tiled(const mkc_prefill_args *a, cudaStream_t stream) {
    if (a->total_q <= 0 || a->batch <= 0) return cudaSuccess;
    if (a->head_dim < 1 || a->head_dim > 256) return cudaErrorInvalidValue;
    MKC_DISPATCH_FLOAT(a->dtype, T, by_dim<T>(a, stream))
}
