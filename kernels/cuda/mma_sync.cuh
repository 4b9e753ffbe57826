/* The warp-level tensor-core product the sm_80+ kernels share (attention_prefill.cu,
   qgemm_w4a16.cu): c += a (16x16, row-major fragment) * b (16x8, col-major fragment) with
   f32 accumulation, as PTX mma.sync.aligned.m16n8k16; BF16 picks bf16 operands, else f16.
   Compiled for an older target it traps (the kernels' supports() never run there). */
#ifndef MEDKERN_KERNELS_CUDA_MMA_SYNC_CUH
#define MEDKERN_KERNELS_CUDA_MMA_SYNC_CUH

#include <stdint.h>

template <bool BF16>
__device__ __forceinline__ void mma16816(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1) {
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ < 800
    (void)c, (void)a, (void)b0, (void)b1;
    __trap();
#else
    if constexpr (BF16) {
        asm volatile(
            "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, "
            "{%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
            : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
    } else {
        asm volatile(
            "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, "
            "{%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
            : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
    }
#endif
}

#endif
