/*
 * Host-side packing of quantized GEMM weights for the CUDA backend (cuda_qpack.c): the
 * canonical layout of medkern.h (mk_qweight_data) to the pre-shuffled layout that the
 * tensor-core kernels stream, and the exact inverse. Plain C, no CUDA headers, so the
 * layout is tested on the CPU (tests/test_cuda_qpack.c). The layout itself is described
 * in cuda_qpack.c's header comment.
 */
#ifndef MEDKERN_BACKENDS_CUDA_QPACK_H
#define MEDKERN_BACKENDS_CUDA_QPACK_H

#include <stddef.h>
#include <stdint.h>

#include "medkern/medkern.h"

#define CUDA_QPACK_TN 16        /* output rows (N) per tile                            */
#define CUDA_QPACK_TK_W4 64     /* K per tile for 4-bit codes: 32 lanes x 16 bytes      */
#define CUDA_QPACK_TK_W8 32     /* K per tile for byte codes (QW8, QW8A8, QFP8)         */
#define CUDA_QPACK_TILE_BYTES 512

/* Sizes of a packed weight. */
typedef struct {
    int w4;              /* 1: QW4 nibbles, 0: byte codes                                 */
    int tk;              /* K per tile (CUDA_QPACK_TK_W4 or _W8)                           */
    int64_t n, k;        /* the canonical shape                                           */
    int64_t n_tiles;     /* ceil(n / 16)                                                  */
    int64_t k_tiles;     /* ceil(k / tk)                                                  */
    int64_t group_len;   /* K per scale group (k itself for per-channel scales)           */
    int64_t groups;      /* canonical groups per row (mkref_qweight_groups)               */
    int64_t groups_p;    /* groups per row of the padded K (k_tiles * tk)                 */
    size_t scale_size;   /* 2 (f16 scales: QW4, QW8) or 4 (f32: QW8A8, QFP8)              */
    int has_zeros;       /* QW4 asymmetric                                                */
    size_t q_bytes;      /* n_tiles * k_tiles * 512                                       */
    size_t scale_bytes;  /* n_tiles * groups_p * 16 * scale_size                          */
    size_t zero_bytes;   /* n_tiles * groups_p * 16, 0 without zero points                */
} cuda_qpack_layout;

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
