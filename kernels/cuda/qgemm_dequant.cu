/*
 * Dequantization of a packed QW4/QW8 weight (runtime/backends/cuda/cuda_qpack.c) into a
 * dense F16/BF16 matrix W' [N][K] for the large-M path (dequantize + cuBLAS):
 *   W'[n][k_perm[k]] = round(scale * (q - zero)),  scale * (q - zero) exact in f32,
 * so y = x . W'^T reads x as it is (k_perm folded into the columns). One thread per
 * element, grid-stride; rounding by mkc::f16/bf16::store (as the reference rounds).
 */
#include "dtype_io.cuh"
#include "mk_cuda_kernels.h"

namespace {

template <class T>
__global__ void __launch_bounds__(256) dequant_kernel(mkc_qgemm_weight w, uint16_t *__restrict__ out) {
    const uint8_t *q = static_cast<const uint8_t *>(w.q);
    const uint16_t *scales = static_cast<const uint16_t *>(w.scales);
    const int tk = w.w4 ? 64 : 32;
    const int64_t total = w.n * w.k;
    for (int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
         idx += (int64_t)gridDim.x * blockDim.x) {
        const int64_t n = idx / w.k, k = idx % w.k;
        const int64_t nt = n / 16, kt = k / tk;
        const int nn = (int)(n % 16), kk = (int)(k % tk);
        const int nsub = nn / 8, g = nn % 8, k16 = kk % 16, r = k16 / 8, t = (k16 % 8) / 2, i = k16 % 2;
        const uint8_t *lane = q + ((size_t)nt * (size_t)w.k_tiles + (size_t)kt) * 512 + (size_t)(4 * g + t) * 16;
        const int64_t gi = w.groups_p == 1 ? 0 : k / w.group_len;
        const size_t gb = ((size_t)nt * (size_t)w.groups_p + (size_t)gi) * 16;
        int code, zero = 0;
        if (w.w4) {
            const int p = 2 * nsub + r, bit = 4 * p + 16 * i;
            code = (lane[4 * (kk / 16) + bit / 8] >> (bit % 8)) & 0xF;
            zero = w.zeros ? w.zeros[gb + nn] : 8;
        } else {
            code = (int)(int8_t)lane[4 * (2 * (kk / 16) + nsub) + 2 * r + i];
        }
        const float s = __half2float(__ushort_as_half(scales[gb + 4 * ((nn % 8) / 2) + 2 * nsub + (nn % 2)]));
        const int64_t col = w.k_perm ? (int64_t)w.k_perm[k] : k;
        out[n * w.k + col] = T::store(s * (float)(code - zero));
    }
}

template <class T>
cudaError_t launch(const mkc_qgemm_weight *w, void *out, cudaStream_t stream) {
    int64_t blocks = (w->n * w->k + 255) / 256;
    if (blocks > 65535) blocks = 65535;
    dequant_kernel<T><<<(unsigned)blocks, 256, 0, stream>>>(*w, static_cast<uint16_t *>(out));
    return cudaGetLastError();
}

} /* namespace */

extern "C" cudaError_t mkc_qgemm_dequant(mk_dtype t, const mkc_qgemm_weight *w, void *out, cudaStream_t stream) {
    if (w->n <= 0 || w->k <= 0) return cudaSuccess;
    if (t == MK_F16) return launch<mkc::f16>(w, out, stream);
    if (t == MK_BF16) return launch<mkc::bf16>(w, out, stream);
    return cudaErrorInvalidValue;
}
