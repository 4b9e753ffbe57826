/*
 * medkern's CUDA emulator: the implementation of kernels/cuda/ptx.cuh's functions (the
 * kernels' only inline PTX), included by ptx.cuh when MEDKERN_CUDA_EMU is defined. Each is a
 * warp collective of src/emu_ptx.cc, whose semantics are written from the PTX ISA (the
 * section is cited there). The caller's source line travels as a defaulted argument.
 */
#ifndef MEDKERN_CUDA_EMU_PTX_H
#define MEDKERN_CUDA_EMU_PTX_H

#include <stdint.h>
#include <string.h>

#include "cuda_emu_device.h"

namespace mkemu {
/* num 1, 2 or 4 matrices; r receives num registers */
void ldmatrix(int num, bool trans, uint32_t *r, const void *p, site s);
enum mma_kind { MMA_F16 = 0, MMA_BF16, MMA_S8, MMA_E4M3 };
/* c: 4 f32 (or s32 for MMA_S8) accumulators, in and out */
void mma(mma_kind k, void *c, const uint32_t a[4], uint32_t b0, uint32_t b1, site s);
} /* namespace mkemu */

namespace mkc {
namespace ptx {

static inline void ldmatrix_x1(uint32_t r[1], const void *p, mkemu::site s = MKEMU_HERE) { mkemu::ldmatrix(1, false, r, p, s); }
static inline void ldmatrix_x2(uint32_t r[2], const void *p, mkemu::site s = MKEMU_HERE) { mkemu::ldmatrix(2, false, r, p, s); }
static inline void ldmatrix_x4(uint32_t r[4], const void *p, mkemu::site s = MKEMU_HERE) { mkemu::ldmatrix(4, false, r, p, s); }
static inline void ldmatrix_x1_trans(uint32_t r[1], const void *p, mkemu::site s = MKEMU_HERE) { mkemu::ldmatrix(1, true, r, p, s); }
static inline void ldmatrix_x2_trans(uint32_t r[2], const void *p, mkemu::site s = MKEMU_HERE) { mkemu::ldmatrix(2, true, r, p, s); }
static inline void ldmatrix_x4_trans(uint32_t r[4], const void *p, mkemu::site s = MKEMU_HERE) { mkemu::ldmatrix(4, true, r, p, s); }

template <bool BF16>
static inline void mma_m16n8k16(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1, mkemu::site s = MKEMU_HERE) {
    mkemu::mma(BF16 ? mkemu::MMA_BF16 : mkemu::MMA_F16, c, a, b0, b1, s);
}
static inline void mma_m16n8k32_s8(int32_t c[4], const uint32_t a[4], uint32_t b0, uint32_t b1, mkemu::site s = MKEMU_HERE) {
    mkemu::mma(mkemu::MMA_S8, c, a, b0, b1, s);
}
static inline void mma_m16n8k32_e4m3(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1, mkemu::site s = MKEMU_HERE) {
    mkemu::mma(mkemu::MMA_E4M3, c, a, b0, b1, s);
}

template <int SIZE>
static inline void cp_async(void *smem_dst, const void *gmem_src, int src_bytes = SIZE, mkemu::site s = MKEMU_HERE) {
    static_assert(SIZE == 4 || SIZE == 8 || SIZE == 16, "cp.async copies 4, 8 or 16 bytes");
    mkemu::cp_async_issue(smem_dst, gmem_src, SIZE, src_bytes, s);
}
static inline void cp_async_commit(mkemu::site s = MKEMU_HERE) { mkemu::cp_async_commit(s); }
template <int N>
static inline void cp_async_wait(mkemu::site s = MKEMU_HERE) { mkemu::cp_async_wait(N, s); }

/* ld.global.v4.u32 (PTX ISA, "Data Movement and Conversion Instructions: ld"; a vector
   access must be aligned to its size): a misaligned address is a fault, as on the GPU */
static inline uint4 ld_global_v4(const void *p, mkemu::site s = MKEMU_HERE) {
    if ((uintptr_t)p & 15u) mkemu::fault(s, "ld.global.v4.u32 at %p: not 16-byte aligned", p);
    uint4 r;
    memcpy(&r, p, sizeof r);
    return r;
}

} /* namespace ptx */
} /* namespace mkc */
#endif
