/*
 * The packed weight of the CUDA quantized GEMM: the one contract between the host packer
 * (runtime/backends/cuda/cuda_qpack.c), the backend's qgemm variants (cuda_qgemm.c) and the
 * kernels (qgemm_w4a16.cu, qgemm_dequant.cu). Plain C, included by C11 and by CUDA C++:
 * the tile constants, the index functions every side computes positions with, and
 * mkc_qgemm_weight, the description a kernel receives.
 *
 * The kernels compute y = x . W^T with W [N][K] as the B operand of mma.sync m16n8k16
 * (f16/bf16 operands, f32 accumulation; K x N, "col" layout). In one B fragment, lane l
 * (group g = l / 4, thread-in-group t = l % 4) holds four elements of column n = g, as two
 * 32-bit registers of two halves:
 *     reg r (0, 1), half i (0 low, 1 high):  k = 2t + 8r + i
 * The accumulator fragment puts columns n = 2t + j (j = 0, 1) of rows g and g + 8 in lane
 * l. The packed layout hands each lane exactly the codes of its B fragments, 16 bytes per
 * lane per tile, so a warp streams a tile as 32 consecutive 16-byte loads (512 bytes,
 * fully coalesced) and needs no shared-memory shuffle.
 *
 * Tiles: MKC_QG_TN = 16 output rows (two n8 sub-tiles, nsub = 0, 1) by TK values of K,
 * stored [N/16][K/TK][lane 0..31][16 bytes], tiles of one row block consecutive along K.
 * N is padded to 16 and K to TK with "zero" codes (QW4: code 8 and zero point 8; byte
 * codes: 0) and zero scales, so padding contributes nothing even before the kernels guard
 * it. Row n, column k of the canonical weight lands in tile (n / 16, k / TK) at nn = n % 16
 * (nsub = nn / 8, g = nn % 8) and kk = k % TK, lane l = 4g + t.
 *
 * QW4 (TK = 64: four k16 steps). Word w (0..3, little-endian u32 at byte 4w of the lane's
 * 16 bytes) holds k16 step w = kk / 16; with k16 = kk % 16 = 2t + 8r + i, its eight
 * nibbles are the pairs p = 2 nsub + r at bits 4p (half i = 0) and 4p + 16 (i = 1):
 *     bits  0| 16 : nsub 0, reg 0      bits  4| 20 : nsub 0, reg 1
 *     bits  8| 24 : nsub 1, reg 0      bits 12| 28 : nsub 1, reg 1
 * so one f16x2 register (both halves of one B register) is one AND with 0x000F000F (or
 * 0x00F000F0, then a shift by 8 for the next two) OR 0x64006400 — a single lop3 — giving
 * 1024 + q in each half; subtracting 1024 + z (a register per group) leaves q - z exactly.
 * For bf16 the same nibbles are shifted to bit 0 | 16 and OR'ed with 0x43004300
 * (128 + q). (The idea of ordering nibbles so that the int4 -> f16x2 conversion is one
 * lop3 is Marlin's; this particular order and the code are this project's.)
 *
 * Byte codes (QW8; QW8A8 and QFP8 use the same storage, TK = 32: two k16 steps). Word
 * w = 2 kstep + nsub, byte j = 2r + i of the word: code at k = 16 kstep + 2t + 8r + i,
 * i.e. each word is one nsub's two B registers (a prmt per register pair builds the
 * halves 1024 + (q ^ 0x80) that become q after subtracting 1152).
 *
 * QW8A8 and QFP8 run mma.sync m16n8k32 (s8 or e4m3 operands, 4 per register) on the same
 * words: its B register 0 is the word of k16 step 0, register 1 that of step 1, so the
 * byte 4t + j of each 16 K positions of the k32 fragment carries K position
 * 2t + 8 (j / 2) + j % 2 (mkc_qg_a8_k). The quantized activations are stored in that
 * order (the A register a lane gets from ldmatrix, bytes 4t .. 4t + 3 of a 16-byte row,
 * then holds the K positions of its B register): one permutation inside every 16 K
 * positions of both operands leaves each dot product unchanged.
 *
 * Scales: [N/16][groups_p][16] in the scale's storage type (f16 bits, or f32 bits for
 * QW8A8/QFP8), element e = 4t + 2 nsub + j for row nn = 8 nsub + 2t + j: the lane of the
 * accumulator columns (t = l % 4) reads its four scales with one 8-byte (16-byte for f32)
 * load. The kernels scale each group's f32 partial sums by them, so the codes enter the
 * mma as exact small integers and no f16 product of scale and code is ever rounded.
 * Zero points (QW4 asymmetric): [N/16][groups_p][16] bytes in row order nn; lane l needs
 * bytes g and 8 + g (its B-fragment rows).
 *
 * Scale groups: group_len = group_size, or K for per-channel scales (then groups_p = 1).
 * The kernels change group only between k16 steps, so a group is a whole number of them
 * (group_len % MKC_QG_K16 == 0 whenever groups_p > 1). groups_p is the group count of the
 * padded K: ceil(k_tiles * TK / group_len). k_perm is not part of the packing: the kernels
 * read x[m][k_perm[k]] as input k, like the reference.
 */
#ifndef MEDKERN_KERNELS_CUDA_QGEMM_LAYOUT_H
#define MEDKERN_KERNELS_CUDA_QGEMM_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __CUDACC__
#define MKC_QG_FN static __host__ __device__ __forceinline__
#else
#define MKC_QG_FN static inline
#endif

enum {
    MKC_QG_TN = 16,         /* output rows (N) per tile: two n8 sub-tiles                 */
    MKC_QG_N8 = 8,          /* rows per sub-tile (the mma's N)                            */
    MKC_QG_K16 = 16,        /* K per mma step                                             */
    MKC_QG_TK_W4 = 64,      /* K per tile for 4-bit codes: four k16 steps                 */
    MKC_QG_TK_W8 = 32,      /* K per tile for byte codes (QW8, QW8A8, QFP8): two k16 steps */
    MKC_QG_LANES = 32,      /* lanes of the warp that streams a tile                      */
    MKC_QG_LANE_BYTES = 16, /* bytes per lane per tile: one 16-byte load                  */
    MKC_QG_TILE_BYTES = MKC_QG_LANES * MKC_QG_LANE_BYTES,
    MKC_QG_W4_ZERO = 8      /* QW4: the symmetric zero point, and every padding code      */
};

/* Sizes of a packed weight (filled by cuda_qpack_plan). */
typedef struct {
    int w4;              /* 1: QW4 nibbles, 0: byte codes                                 */
    int tk;              /* K per tile (MKC_QG_TK_W4 or MKC_QG_TK_W8)                     */
    int64_t n, k;        /* the canonical shape                                           */
    int64_t n_tiles;     /* ceil(n / MKC_QG_TN)                                           */
    int64_t k_tiles;     /* ceil(k / tk)                                                  */
    int64_t group_len;   /* K per scale group (k itself for per-channel scales)           */
    int64_t groups;      /* canonical groups per row (mkref_qweight_groups)               */
    int64_t groups_p;    /* groups per row of the padded K (k_tiles * tk)                 */
    size_t scale_size;   /* 2 (f16 scales: QW4, QW8) or 4 (f32: QW8A8, QFP8)              */
    int has_zeros;       /* QW4 asymmetric                                                */
    size_t q_bytes;      /* n_tiles * k_tiles * MKC_QG_TILE_BYTES                         */
    size_t scale_bytes;  /* n_tiles * groups_p * MKC_QG_TN * scale_size                   */
    size_t zero_bytes;   /* n_tiles * groups_p * MKC_QG_TN, 0 without zero points         */
} mkc_qgemm_layout;

/* A packed weight on the device, as the kernels receive it (by value). */
typedef struct {
    mkc_qgemm_layout layout;
    const void *q;         /* [n_tiles][k_tiles][32 lanes][16 bytes]                 */
    const void *scales;    /* [n_tiles][groups_p][16], f16 bits (the kernels' formats) */
    const uint8_t *zeros;  /* [n_tiles][groups_p][16] or NULL (zero point 8)         */
    const int32_t *k_perm; /* [k] or NULL                                            */
} mkc_qgemm_weight;

/* K per tile. */
MKC_QG_FN int mkc_qg_tk(int w4) { return w4 ? MKC_QG_TK_W4 : MKC_QG_TK_W8; }

/* Byte offset of tile (nt, kt) in the packed codes. */
MKC_QG_FN size_t mkc_qg_tile_at(int64_t k_tiles, int64_t nt, int64_t kt) {
    return ((size_t)nt * (size_t)k_tiles + (size_t)kt) * MKC_QG_TILE_BYTES;
}

/* The lane whose B fragments hold row nn (0..15) of a tile at kk (0..tk-1). */
MKC_QG_FN int mkc_qg_lane(int nn, int kk) { return 4 * (nn % MKC_QG_N8) + (kk % 8) / 2; }

/* QW4: bit of the low half's nibble of (sub-tile nsub, register r) in the lane's word of a
   k16 step; the high half's nibble is 16 bits above it. */
MKC_QG_FN int mkc_qg_w4_shift(int nsub, int r) { return 4 * (2 * nsub + r); }

/* Byte codes: the lane's word of (k16 step ks, sub-tile nsub); register r is its bytes
   2r (low half) and 2r + 1. */
MKC_QG_FN int mkc_qg_w8_word(int ks, int nsub) { return 2 * ks + nsub; }

/* Byte offset of code (n, k) in the packed codes; *shift: the bit of its nibble in that
   byte (QW4), 0 for byte codes. */
MKC_QG_FN size_t mkc_qg_code_at(int w4, int64_t k_tiles, int64_t n, int64_t k, int *shift) {
    const int tk = mkc_qg_tk(w4), nn = (int)(n % MKC_QG_TN), kk = (int)(k % tk);
    const int nsub = nn / MKC_QG_N8, ks = kk / MKC_QG_K16, k16 = kk % MKC_QG_K16, r = k16 / 8, i = k16 % 2;
    int byte;
    if (w4) {
        const int bit = mkc_qg_w4_shift(nsub, r) + 16 * i;
        byte = 4 * ks + bit / 8;
        *shift = bit % 8;
    } else {
        byte = 4 * mkc_qg_w8_word(ks, nsub) + 2 * r + i;
        *shift = 0;
    }
    return mkc_qg_tile_at(k_tiles, n / MKC_QG_TN, k / tk) + (size_t)mkc_qg_lane(nn, kk) * MKC_QG_LANE_BYTES +
           (size_t)byte;
}

/* QW8A8/QFP8 activations: the K position (0..15, within its 16) of stored byte b (0..15). */
MKC_QG_FN int mkc_qg_a8_k(int b) { return 2 * (b / 4) + 8 * ((b % 4) / 2) + b % 2; }

/* Scale group of K position k. */
MKC_QG_FN int64_t mkc_qg_group(int64_t groups_p, int64_t group_len, int64_t k) {
    return groups_p == 1 ? 0 : k / group_len;
}

/* Element offset of row tile nt's group gi in the packed scales and zero points. */
MKC_QG_FN size_t mkc_qg_group_at(int64_t groups_p, int64_t nt, int64_t gi) {
    return ((size_t)nt * (size_t)groups_p + (size_t)gi) * MKC_QG_TN;
}

/* Row nn's element within its group's 16 scales: accumulator lane t = (nn % 8) / 2 owns
   elements 4t .. 4t + 3, in the order (nsub 0, j 0), (0, 1), (1, 0), (1, 1). */
MKC_QG_FN int mkc_qg_scale_elem(int nn) { return 4 * ((nn % MKC_QG_N8) / 2) + 2 * (nn / MKC_QG_N8) + nn % 2; }

/* Row nn's element within its group's 16 zero points (row order). */
MKC_QG_FN int mkc_qg_zero_elem(int nn) { return nn; }

#endif
