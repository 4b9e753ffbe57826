/*
 * Packing of quantized GEMM weights for the CUDA tensor-core kernels into the layout of
 * kernels/cuda/qgemm_layout.h (read its header comment first), and its exact inverse.
 * Every position comes from that header's index functions, the ones the kernels use.
 */
#include "cuda_qpack.h"

#include <string.h>

#include "mkref.h"

int cuda_qpack_plan(const mk_qweight_desc *d, cuda_qpack_layout *L) {
    memset(L, 0, sizeof *L);
    if (d->n < 1 || d->k < 1) return 0;
    switch (d->format) {
    case MK_QW4: L->w4 = 1; L->scale_size = 2; break;
    case MK_QW8: L->scale_size = 2; break;
    case MK_QW8A8:
    case MK_QFP8: L->scale_size = 4; break;
    default: return 0;
    }
    L->tk = mkc_qg_tk(L->w4);
    L->n = d->n;
    L->k = d->k;
    L->n_tiles = (d->n + MKC_QG_TN - 1) / MKC_QG_TN;
    L->k_tiles = (d->k + L->tk - 1) / L->tk;
    L->groups = mkref_qweight_groups(d);
    if (L->groups < 1 || d->k % L->groups) return 0;
    L->group_len = d->k / L->groups;
    /* the kernels change scale group only between k16 mma steps: a group must be a whole
       number of them (per-channel scales, one group, have no boundary) */
    if (L->groups > 1 && L->group_len % MKC_QG_K16 != 0) return 0;
    L->groups_p = L->groups == 1 ? 1 : (L->k_tiles * L->tk + L->group_len - 1) / L->group_len;
    L->has_zeros = d->format == MK_QW4 && d->asymmetric;
    L->q_bytes = (size_t)L->n_tiles * (size_t)L->k_tiles * MKC_QG_TILE_BYTES;
    L->scale_bytes = (size_t)L->n_tiles * (size_t)L->groups_p * MKC_QG_TN * L->scale_size;
    L->zero_bytes = L->has_zeros ? (size_t)L->n_tiles * (size_t)L->groups_p * MKC_QG_TN : 0;
    return 1;
}

/* Element index of (n, group gi) in the packed scales and in the packed zero points. */
static size_t scale_at(const cuda_qpack_layout *L, int64_t n, int64_t gi) {
    return mkc_qg_group_at(L->groups_p, n / MKC_QG_TN, gi) + (size_t)mkc_qg_scale_elem((int)(n % MKC_QG_TN));
}
static size_t zero_at(const cuda_qpack_layout *L, int64_t n, int64_t gi) {
    return mkc_qg_group_at(L->groups_p, n / MKC_QG_TN, gi) + (size_t)mkc_qg_zero_elem((int)(n % MKC_QG_TN));
}

void cuda_qpack_pack(const mk_qweight_desc *d, const cuda_qpack_layout *L, const mk_qweight_data *data,
                     uint8_t *q, void *scales, uint8_t *zeros) {
    /* padding first: code and zero point MKC_QG_W4_ZERO (QW4) or byte 0, scale 0 */
    memset(q, L->w4 ? MKC_QG_W4_ZERO * 0x11 : 0x00, L->q_bytes);
    memset(scales, 0, L->scale_bytes);
    if (L->has_zeros && zeros) memset(zeros, MKC_QG_W4_ZERO, L->zero_bytes);
    for (int64_t n = 0; n < L->n; n++) {
        for (int64_t k = 0; k < L->k; k++) {
            int shift;
            size_t at = mkc_qg_code_at(L->w4, L->k_tiles, n, k, &shift);
            int code = mkref_qweight_code(d, data, n, k);
            if (L->w4) q[at] = (uint8_t)((q[at] & ~(0xF << shift)) | ((code & 0xF) << shift));
            else q[at] = (uint8_t)(code & 0xFF);
        }
        for (int64_t gi = 0; gi < L->groups; gi++) {
            memcpy((uint8_t *)scales + scale_at(L, n, gi) * L->scale_size,
                   (const uint8_t *)data->scales + ((size_t)n * (size_t)L->groups + (size_t)gi) * L->scale_size,
                   L->scale_size);
            if (L->has_zeros && zeros)
                zeros[zero_at(L, n, gi)] = ((const uint8_t *)data->zeros)[(size_t)n * (size_t)L->groups + (size_t)gi];
        }
    }
}

void cuda_qpack_unpack(const mk_qweight_desc *d, const cuda_qpack_layout *L, const uint8_t *q,
                       const void *scales, const uint8_t *zeros, mk_qweight_data *out) {
    for (int64_t n = 0; n < L->n; n++) {
        for (int64_t k = 0; k < L->k; k++) {
            int shift;
            size_t at = mkc_qg_code_at(L->w4, L->k_tiles, n, k, &shift);
            int code = L->w4 ? (q[at] >> shift) & 0xF : (int)q[at];
            if (!L->w4 && d->format != MK_QFP8) code = (int)(int8_t)(uint8_t)code;
            mkref_qweight_set_code(d, out, n, k, code);
        }
        for (int64_t gi = 0; gi < L->groups; gi++) {
            memcpy((uint8_t *)out->scales + ((size_t)n * (size_t)L->groups + (size_t)gi) * L->scale_size,
                   (const uint8_t *)scales + scale_at(L, n, gi) * L->scale_size, L->scale_size);
            if (L->has_zeros && zeros && out->zeros)
                ((uint8_t *)out->zeros)[(size_t)n * (size_t)L->groups + (size_t)gi] = zeros[zero_at(L, n, gi)];
        }
    }
}
