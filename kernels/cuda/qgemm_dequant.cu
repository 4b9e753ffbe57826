/*
 * Dequantization of a packed QW4/QW8 weight (the layout of qgemm_layout.h, positions from
 * its index functions) into a dense F16/BF16 matrix W' [N][K] for the large-M path
 * (dequantize + cuBLAS):
 *   W'[n][k_perm[k]] = round(scale * (q - zero)),  scale * (q - zero) exact in f32,
 * so y = x . W'^T reads x as it is (k_perm folded into the columns). One thread per
 * element, grid-stride; rounding by mkc::f16/bf16::store (as the reference rounds).
 */
#include "dtype_io.cuh"
#include "mk_cuda_kernels.h"

namespace {

template <class T>
__global__ void __launch_bounds__(256) dequant_kernel(mkc_qgemm_weight w, uint16_t *__restrict__ out) {
    const mkc_qgemm_layout &L = w.layout;
    const uint8_t *q = static_cast<const uint8_t *>(w.q);
    const uint16_t *scales = static_cast<const uint16_t *>(w.scales);
    const int64_t total = L.n * L.k;
    for (int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
         idx += (int64_t)gridDim.x * blockDim.x) {
        const int64_t n = idx / L.k, k = idx % L.k;
        const int nn = (int)(n % MKC_QG_TN);
        const size_t gb = mkc_qg_group_at(L.groups_p, n / MKC_QG_TN, mkc_qg_group(L.groups_p, L.group_len, k));
        int shift;
        const uint8_t byte = q[mkc_qg_code_at(L.w4, L.k_tiles, n, k, &shift)];
        int code, zero = 0;
        if (L.w4) {
            code = (byte >> shift) & 0xF;
            zero = w.zeros ? w.zeros[gb + mkc_qg_zero_elem(nn)] : MKC_QG_W4_ZERO;
        } else {
            code = (int)(int8_t)byte;
        }
        const float s = __half2float(__ushort_as_half(scales[gb + mkc_qg_scale_elem(nn)]));
        const int64_t col = w.k_perm ? (int64_t)w.k_perm[k] : k;
        out[n * L.k + col] = T::store(s * (float)(code - zero));
    }
}

template <class T>
cudaError_t launch(const mkc_qgemm_weight *w, void *out, cudaStream_t stream) {
    int64_t blocks = (w->layout.n * w->layout.k + 255) / 256;
    if (blocks > 65535) blocks = 65535;
    dequant_kernel<T><<<(unsigned)blocks, 256, 0, stream>>>(*w, static_cast<uint16_t *>(out));
    return cudaGetLastError();
}

} /* namespace */

extern "C" cudaError_t mkc_qgemm_dequant(mk_dtype t, const mkc_qgemm_weight *w, void *out, cudaStream_t stream) {
    if (w->layout.n <= 0 || w->layout.k <= 0) return cudaSuccess;
    if (t == MK_F16) return launch<mkc::f16>(w, out, stream);
    if (t == MK_BF16) return launch<mkc::bf16>(w, out, stream);
    return cudaErrorInvalidValue;
}
