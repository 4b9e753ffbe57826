/*
 * Every inline PTX instruction of the CUDA kernels, one small function per instruction form.
 * Kernels call these and never write asm themselves, so this header is the one seam between
 * the kernels and the hardware: the CPU emulator (tests/cuda_emu, MEDKERN_CUDA_EMU) supplies
 * its own implementation of exactly these functions, written from the PTX ISA.
 *
 * Shared-memory operands are generic pointers into shared memory (converted with
 * __cvta_generic_to_shared here). Fragments follow the PTX ISA's tables:
 *  - ldmatrix .m8n8 .b16: lane 8i + r gives the 16-byte-aligned address of row r of matrix i
 *    (x1: lanes 0-7, x2: 0-15, x4: 0-31); register i of lane l receives row l/4, columns
 *    2(l%4), 2(l%4)+1 of matrix i (low half first); .trans delivers the transpose.
 *  - mma m16n8k16 .f16/.bf16 -> .f32: a[4] (rows g, g+8; columns 2t.., 2t+8..), b0/b1 (k 2t..,
 *    2t+8..; column g), c[4] (rows g, g+8; columns 2t, 2t+1), g = lane/4, t = lane%4.
 *  - mma m16n8k32 .s8 -> .s32 and .e4m3 -> .f32: the same with 4 elements per register
 *    (a: columns 4t.., 4t+16..; b: k 4t.., 4t+16..).
 *  - cp.async: 4/8-byte copies use .ca, 16-byte copies .cg; src_bytes < size zero-fills the
 *    rest (the "ignore-src" form). A copy is only guaranteed visible after the
 *    cp_async_wait<N>() that covers its committed group.
 *  - ld.global.v4.u32: a 16-byte load of global memory at a 16-byte aligned address.
 * Compiled for a target without an instruction (mma/ldmatrix below sm_80, e4m3 mma below
 * sm_89, cp.async below sm_80) the function traps: supports() never picks such a kernel there.
 */
#ifndef MEDKERN_KERNELS_CUDA_PTX_CUH
#define MEDKERN_KERNELS_CUDA_PTX_CUH

#include <stdint.h>

#ifdef MEDKERN_CUDA_EMU
#include "cuda_emu_ptx.h" /* tests/cuda_emu/include: the emulator's implementation */
#else

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
#define MKC_PTX_SM80 1
#endif
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
#define MKC_PTX_SM89 1
#endif

namespace mkc {
namespace ptx {

__device__ __forceinline__ uint32_t smem_u32(const void *p) { return (uint32_t)__cvta_generic_to_shared(p); }

/* ---- ldmatrix.sync.aligned.m8n8.{x1,x2,x4}{,.trans}.shared.b16 */
__device__ __forceinline__ void ldmatrix_x1(uint32_t r[1], const void *p) {
#ifdef MKC_PTX_SM80
    asm volatile("ldmatrix.sync.aligned.m8n8.x1.shared.b16 {%0}, [%1];\n" : "=r"(r[0]) : "r"(smem_u32(p)));
#else
    (void)p, r[0] = 0u;
    __trap();
#endif
}
__device__ __forceinline__ void ldmatrix_x2(uint32_t r[2], const void *p) {
#ifdef MKC_PTX_SM80
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0, %1}, [%2];\n"
                 : "=r"(r[0]), "=r"(r[1]) : "r"(smem_u32(p)));
#else
    (void)p, r[0] = r[1] = 0u;
    __trap();
#endif
}
__device__ __forceinline__ void ldmatrix_x4(uint32_t r[4], const void *p) {
#ifdef MKC_PTX_SM80
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(smem_u32(p)));
#else
    (void)p, r[0] = r[1] = r[2] = r[3] = 0u;
    __trap();
#endif
}
__device__ __forceinline__ void ldmatrix_x1_trans(uint32_t r[1], const void *p) {
#ifdef MKC_PTX_SM80
    asm volatile("ldmatrix.sync.aligned.m8n8.x1.trans.shared.b16 {%0}, [%1];\n" : "=r"(r[0]) : "r"(smem_u32(p)));
#else
    (void)p, r[0] = 0u;
    __trap();
#endif
}
__device__ __forceinline__ void ldmatrix_x2_trans(uint32_t r[2], const void *p) {
#ifdef MKC_PTX_SM80
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0, %1}, [%2];\n"
                 : "=r"(r[0]), "=r"(r[1]) : "r"(smem_u32(p)));
#else
    (void)p, r[0] = r[1] = 0u;
    __trap();
#endif
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t r[4], const void *p) {
#ifdef MKC_PTX_SM80
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(smem_u32(p)));
#else
    (void)p, r[0] = r[1] = r[2] = r[3] = 0u;
    __trap();
#endif
}

/* ---- mma.sync.aligned.m16n8k16.row.col.f32.{f16,bf16}.{f16,bf16}.f32: c += a * b */
template <bool BF16>
__device__ __forceinline__ void mma_m16n8k16(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1) {
#ifdef MKC_PTX_SM80
    if constexpr (BF16) {
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, "
                     "{%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
    } else {
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, "
                     "{%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
    }
#else
    (void)c, (void)a, (void)b0, (void)b1;
    __trap();
#endif
}

/* ---- mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32: c += a * b (wrapping) */
__device__ __forceinline__ void mma_m16n8k32_s8(int32_t c[4], const uint32_t a[4], uint32_t b0, uint32_t b1) {
#ifdef MKC_PTX_SM80
    asm volatile("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0, %1, %2, %3}, "
                 "{%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
                 : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#else
    (void)c, (void)a, (void)b0, (void)b1;
    __trap();
#endif
}

/* ---- mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32: c += a * b (sm_89+) */
__device__ __forceinline__ void mma_m16n8k32_e4m3(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1) {
#ifdef MKC_PTX_SM89
    asm volatile("mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32 {%0, %1, %2, %3}, "
                 "{%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#else
    (void)c, (void)a, (void)b0, (void)b1;
    __trap();
#endif
}

/* ---- cp.async.{ca,cg}.shared.global [dst], [src], size, src_bytes; commit_group; wait_group N */
template <int SIZE>
__device__ __forceinline__ void cp_async(void *smem_dst, const void *gmem_src, int src_bytes = SIZE) {
    static_assert(SIZE == 4 || SIZE == 8 || SIZE == 16, "cp.async copies 4, 8 or 16 bytes");
#ifdef MKC_PTX_SM80
    if constexpr (SIZE == 16)
        asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_u32(smem_dst)), "l"(gmem_src),
                     "r"(src_bytes));
    else
        asm volatile("cp.async.ca.shared.global [%0], [%1], %2, %3;\n" ::"r"(smem_u32(smem_dst)), "l"(gmem_src),
                     "n"(SIZE), "r"(src_bytes));
#else
    (void)smem_dst, (void)gmem_src, (void)src_bytes;
    __trap();
#endif
}
__device__ __forceinline__ void cp_async_commit() {
#ifdef MKC_PTX_SM80
    asm volatile("cp.async.commit_group;\n" ::);
#else
    __trap();
#endif
}
template <int N>
__device__ __forceinline__ void cp_async_wait() {
#ifdef MKC_PTX_SM80
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
#else
    __trap();
#endif
}

/* ---- ld.global.v4.u32: one 16-byte load from global memory (p 16-byte aligned). The asm is
   volatile so the compiler issues the load where the kernel wrote it: a plain load whose
   value is used only under a branch gets sunk into that branch, behind the load that
   decides it (kv_append's slot), and a later load behind the conversion of an earlier one. */
__device__ __forceinline__ uint4 ld_global_v4(const void *p) {
    uint4 r;
    asm volatile("ld.global.v4.u32 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w)
                 : "l"(__cvta_generic_to_global(p)));
    return r;
}

} /* namespace ptx */
} /* namespace mkc */

#undef MKC_PTX_SM80
#undef MKC_PTX_SM89
#endif /* MEDKERN_CUDA_EMU */
#endif
