/*
 * Host-side packing of quantized GEMM weights for the CUDA backend (cuda_qpack.c): the
 * canonical layout of medkern.h (mk_qweight_data) to the pre-shuffled layout that the
 * tensor-core kernels stream, and the exact inverse. Plain C, no CUDA headers, so the
 * layout is tested on the CPU (tests/test_cuda_qpack.c). The layout itself, its constants
 * and its index functions are kernels/cuda/qgemm_layout.h, shared with the kernels.
 */
#ifndef MEDKERN_BACKENDS_CUDA_QPACK_H
#define MEDKERN_BACKENDS_CUDA_QPACK_H

#include <stddef.h>
#include <stdint.h>

#include "medkern/medkern.h"
#include "qgemm_layout.h"

/* The packer's names for the kernels' layout (qgemm_layout.h). */
typedef mkc_qgemm_layout cuda_qpack_layout;
#define CUDA_QPACK_TILE_BYTES MKC_QG_TILE_BYTES

/* Fills *out for a validated desc and returns 1; 0 for a format or shape it cannot
   describe (the caller reports it). */
int cuda_qpack_plan(const mk_qweight_desc *desc, cuda_qpack_layout *out);

/* Packs data (canonical, for desc) into q [q_bytes], scales [scale_bytes] and zeros
   [zero_bytes] (NULL without zero points). Every byte of the outputs is written
   (padding included). k_perm is not part of the packed arrays: the kernels gather x
   through it, and it is kept as it is. */
void cuda_qpack_pack(const mk_qweight_desc *desc, const cuda_qpack_layout *L, const mk_qweight_data *data,
                     uint8_t *q, void *scales, uint8_t *zeros);

/* The exact inverse: canonical q, scales and (when out->zeros is not NULL and the weight
   has zero points) zeros from the packed arrays. out is allocated for desc
   (mk_qweight_data_alloc); k_perm is not touched. */
void cuda_qpack_unpack(const mk_qweight_desc *desc, const cuda_qpack_layout *L, const uint8_t *q,
                       const void *scales, const uint8_t *zeros, mk_qweight_data *out);

#endif
