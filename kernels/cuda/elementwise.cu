/*
 * Elementwise binary ops over rows: silu(a)*b, gelu(a)*b (erf or tanh form), a+b.
 *
 * A 2-D grid: x walks the columns of a row in packs of V elements (16-byte accesses
 * when every pointer, row stride and the row length allow it, else one element), y walks
 * the rows. Row-contiguous operands are flattened to one long row first, so the common
 * case is a plain 1-D stream. Arithmetic in f32 with forms that stay accurate in the
 * tails: gelu(x) = 0.5 x erfc(-x/sqrt2) and 0.5 x (1 + tanh z) = x / (1 + exp(-2z)).
 * out may be the very same view as a or b: each element is read and then written by
 * the same thread.
 */
#include "dtype_io.cuh"
#include "mk_cuda_kernels.h"

namespace {

template <int OP>
__device__ __forceinline__ float binary_apply(float a, float b);

template <>
__device__ __forceinline__ float binary_apply<MKC_SILU_MUL>(float g, float u) {
    return g / (1.0f + expf(-g)) * u;
}

template <>
__device__ __forceinline__ float binary_apply<MKC_GELU_ERF_MUL>(float g, float u) {
    return 0.5f * g * erfcf(-0.70710678118654752f * g) * u;
}

template <>
__device__ __forceinline__ float binary_apply<MKC_GELU_TANH_MUL>(float g, float u) {
    const float z = 0.79788456080286536f * (g + 0.044715f * g * g * g);
    return g / (1.0f + expf(-2.0f * z)) * u;
}

template <>
__device__ __forceinline__ float binary_apply<MKC_ADD>(float a, float b) {
    return a + b;
}

template <class T, int OP, int V>
__global__ void __launch_bounds__(256) binary_kernel(const typename T::storage *a, int64_t a_rs,
                                                     const typename T::storage *b, int64_t b_rs,
                                                     typename T::storage *out, int64_t out_rs,
                                                     int64_t rows, int64_t npacks) {
    typedef typename T::storage S;
    typedef mkc::pack<S, V> P;
    const int64_t step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
        /* the row strides are in packs */
        const P *ar = reinterpret_cast<const P *>(a) + r * a_rs;
        const P *br = reinterpret_cast<const P *>(b) + r * b_rs;
        P *orow = reinterpret_cast<P *>(out) + r * out_rs;
        for (int64_t c = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; c < npacks; c += step) {
            const P pa = ar[c], pb = br[c];
            P po;
#pragma unroll
            for (int j = 0; j < V; j++)
                po.v[j] = T::store(binary_apply<OP>(T::load(pa.v[j]), T::load(pb.v[j])));
            orow[c] = po;
        }
    }
}

template <class T, int OP, int V>
cudaError_t launch(const void *a, int64_t a_rs, const void *b, int64_t b_rs, void *out,
                   int64_t out_rs, int64_t rows, int64_t n, cudaStream_t stream) {
    typedef typename T::storage S;
    const int64_t npacks = n / V;
    const int threads = npacks >= 256 ? 256 : (int)((npacks + 31) / 32 * 32);
    int64_t bx = (npacks + threads - 1) / threads;
    if (bx > 65536) bx = 65536; /* grid-stride beyond */
    const int64_t by = rows < 65535 ? rows : 65535;
    dim3 grid((unsigned)bx, (unsigned)by);
    binary_kernel<T, OP, V><<<grid, threads, 0, stream>>>(
        static_cast<const S *>(a), a_rs / V, static_cast<const S *>(b), b_rs / V,
        static_cast<S *>(out), out_rs / V, rows, npacks);
    return cudaGetLastError();
}

int aligned16(const void *p) { return ((uintptr_t)p & 15u) == 0; }

template <class T, int OP>
cudaError_t launch_op(const void *a, int64_t a_rs, const void *b, int64_t b_rs, void *out,
                      int64_t out_rs, int64_t rows, int64_t n, cudaStream_t stream) {
    constexpr int V = 16 / (int)sizeof(typename T::storage);
    const int vec = n % V == 0 && aligned16(a) && aligned16(b) && aligned16(out) &&
                    (rows == 1 || (a_rs % V == 0 && b_rs % V == 0 && out_rs % V == 0));
    /* row strides are passed to the kernel in packs */
    if (vec) return launch<T, OP, V>(a, a_rs, b, b_rs, out, out_rs, rows, n, stream);
    return launch<T, OP, 1>(a, a_rs, b, b_rs, out, out_rs, rows, n, stream);
}

template <class T>
cudaError_t dispatch_op(mkc_binary_op op, const void *a, int64_t a_rs, const void *b, int64_t b_rs,
                        void *out, int64_t out_rs, int64_t rows, int64_t n, cudaStream_t stream) {
    switch (op) {
    case MKC_SILU_MUL: return launch_op<T, MKC_SILU_MUL>(a, a_rs, b, b_rs, out, out_rs, rows, n, stream);
    case MKC_GELU_ERF_MUL: return launch_op<T, MKC_GELU_ERF_MUL>(a, a_rs, b, b_rs, out, out_rs, rows, n, stream);
    case MKC_GELU_TANH_MUL: return launch_op<T, MKC_GELU_TANH_MUL>(a, a_rs, b, b_rs, out, out_rs, rows, n, stream);
    case MKC_ADD: return launch_op<T, MKC_ADD>(a, a_rs, b, b_rs, out, out_rs, rows, n, stream);
    }
    return cudaErrorInvalidValue;
}

} /* namespace */

extern "C" cudaError_t mkc_binary(mkc_binary_op op, mk_dtype t, const void *a, int64_t a_rs,
                                  const void *b, int64_t b_rs, void *out, int64_t out_rs,
                                  int64_t rows, int64_t n, cudaStream_t stream) {
    if (rows <= 0 || n <= 0) return cudaSuccess;
    if (rows > 1 && a_rs == n && b_rs == n && out_rs == n) { /* dense: one long row */
        n *= rows;
        rows = 1;
    }
    MKC_DISPATCH_FLOAT(t, T, dispatch_op<T>(op, a, a_rs, b, b_rs, out, out_rs, rows, n, stream))
}
