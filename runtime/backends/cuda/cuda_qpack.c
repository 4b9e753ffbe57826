/*
 * Packing of quantized GEMM weights for the CUDA tensor-core kernels (mma.sync
 * m16n8k16, f16/bf16 operands, f32 accumulation), and its exact inverse.
 *
 * The kernels compute y = x . W^T with W [N][K] as the mma's B operand (K x N, "col"
 * layout). In one m16n8k16 B fragment, lane l (group g = l / 4, thread-in-group
 * t = l % 4) holds four elements of column n = g, as two 32-bit registers of two halves:
 *     reg r (0, 1), half i (0 low, 1 high):  k = 2t + 8r + i
 * The accumulator fragment puts columns n = 2t + j (j = 0, 1) of rows g and g + 8 in lane
 * l. The packed layout hands each lane exactly the codes of its B fragments, 16 bytes per
 * lane per tile, so a warp streams a tile as 32 consecutive 16-byte loads (512 bytes,
 * fully coalesced) and needs no shared-memory shuffle.
 *
 * Tiles: 16 output rows (two n8 sub-tiles, nsub = 0, 1) by TK values of K, stored
 * [N/16][K/TK][lane 0..31][16 bytes], tiles of one row block consecutive along K.
 * N is padded to 16 and K to TK with "zero" codes (QW4: code 8 and zero point 8; byte
 * codes: 0) and zero scales, so padding contributes nothing even before the kernels
 * guard it. Row n, column k of the canonical weight lands in tile (n / 16, k / TK) at
 * nn = n % 16 (nsub = nn / 8, g = nn % 8) and kk = k % TK, lane l = 4g + t.
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
 * Scales: [N/16][groups_p][16] in the scale's storage type (f16 bits, or f32 bits for
 * QW8A8/QFP8), element e = 4t + 2 nsub + j for row nn = 8 nsub + 2t + j: the lane of the
 * accumulator columns (t = l % 4) reads its four scales with one 8-byte (16-byte for f32)
 * load. The kernels scale each group's f32 partial sums by them, so the codes enter the
 * mma as exact small integers and no f16 product of scale and code is ever rounded.
 * Zero points (QW4 asymmetric): [N/16][groups_p][16] bytes in row order nn; lane l needs
 * bytes g and 8 + g (its B-fragment rows).
 *
 * groups_p is the group count of the padded K: ceil(K_padded / group_len) where
 * group_len = group_size, or K for per-channel scales (then groups_p = 1). k_perm is
 * not part of the packing: the kernels read x[m][k_perm[k]] as input k, like the
 * reference.
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
    L->tk = L->w4 ? CUDA_QPACK_TK_W4 : CUDA_QPACK_TK_W8;
    L->n = d->n;
    L->k = d->k;
    L->n_tiles = (d->n + CUDA_QPACK_TN - 1) / CUDA_QPACK_TN;
    L->k_tiles = (d->k + L->tk - 1) / L->tk;
    L->groups = mkref_qweight_groups(d);
    if (L->groups < 1 || d->k % L->groups) return 0;
    L->group_len = d->k / L->groups;
    /* qgemm_w4a16.cu changes scale group only between k16 mma steps: a group must be a
       whole number of them (per-channel scales, one group, have no boundary). */
    if (L->groups > 1 && L->group_len % 16 != 0) return 0;
    L->groups_p = L->groups == 1 ? 1 : (L->k_tiles * L->tk + L->group_len - 1) / L->group_len;
    L->has_zeros = d->format == MK_QW4 && d->asymmetric;
    L->q_bytes = (size_t)L->n_tiles * (size_t)L->k_tiles * CUDA_QPACK_TILE_BYTES;
    L->scale_bytes = (size_t)L->n_tiles * (size_t)L->groups_p * CUDA_QPACK_TN * L->scale_size;
    L->zero_bytes = L->has_zeros ? (size_t)L->n_tiles * (size_t)L->groups_p * CUDA_QPACK_TN : 0;
    return 1;
}

/* Byte offset of code (n, k) in the packed codes, and for QW4 the nibble's shift. */
static size_t code_at(const cuda_qpack_layout *L, int64_t n, int64_t k, int *shift) {
    const int64_t nt = n / CUDA_QPACK_TN, kt = k / L->tk;
    const int nn = (int)(n % CUDA_QPACK_TN), kk = (int)(k % L->tk);
    const int nsub = nn / 8, g = nn % 8, k16 = kk % 16, r = k16 / 8, t = (k16 % 8) / 2, i = k16 % 2;
    const int lane = 4 * g + t;
    size_t at = ((size_t)nt * (size_t)L->k_tiles + (size_t)kt) * CUDA_QPACK_TILE_BYTES + (size_t)lane * 16;
    if (L->w4) {
        const int w = kk / 16, p = 2 * nsub + r, bit = 4 * p + 16 * i;
        *shift = bit % 8;
        return at + (size_t)(4 * w + bit / 8);
    }
    *shift = 0;
    return at + (size_t)(4 * (2 * (kk / 16) + nsub) + 2 * r + i);
}

/* Element index of (n, group gi) in the packed scales; zeros use row order instead. */
static size_t scale_at(const cuda_qpack_layout *L, int64_t n, int64_t gi) {
    const int nn = (int)(n % CUDA_QPACK_TN), nsub = nn / 8, t = (nn % 8) / 2, j = nn % 2;
    return ((size_t)(n / CUDA_QPACK_TN) * (size_t)L->groups_p + (size_t)gi) * CUDA_QPACK_TN +
           (size_t)(4 * t + 2 * nsub + j);
}
static size_t zero_at(const cuda_qpack_layout *L, int64_t n, int64_t gi) {
    return ((size_t)(n / CUDA_QPACK_TN) * (size_t)L->groups_p + (size_t)gi) * CUDA_QPACK_TN +
           (size_t)(n % CUDA_QPACK_TN);
}

void cuda_qpack_pack(const mk_qweight_desc *d, const cuda_qpack_layout *L, const mk_qweight_data *data,
                     uint8_t *q, void *scales, uint8_t *zeros) {
    /* padding first: code 8 / zero point 8 (QW4) or byte 0, scale 0 */
    memset(q, L->w4 ? 0x88 : 0x00, L->q_bytes);
    memset(scales, 0, L->scale_bytes);
    if (L->has_zeros && zeros) memset(zeros, 8, L->zero_bytes);
    for (int64_t n = 0; n < L->n; n++) {
        for (int64_t k = 0; k < L->k; k++) {
            int shift;
            size_t at = code_at(L, n, k, &shift);
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
            size_t at = code_at(L, n, k, &shift);
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
