/*
 * Division of non-negative 32-bit numbers below 2^31 by a divisor fixed per launch, without
 * a division in the kernel: the host prepares (mul, shift) with mkc_divisor_of, and
 *     n / d = (n + hi32(n * mul)) >> shift,   shift = ceil(log2 d),
 *     mul = floor(2^32 (2^shift - d) / d) + 1
 * (the round-up method; n + hi32(n * mul) stays below 2^32 since n < 2^31). Used for the
 * decode kernels' page of a key and the quantized GEMM's scale group of a k16 step.
 */
#ifndef MEDKERN_KERNELS_CUDA_FASTDIV_CUH
#define MEDKERN_KERNELS_CUDA_FASTDIV_CUH

#include <stdint.h>

struct mkc_divisor {
    uint32_t mul;
    int shift;
};

/* (mul, shift) for dividing by d >= 1 */
static inline mkc_divisor mkc_divisor_of(uint32_t d) {
    mkc_divisor v;
    v.shift = 0;
    while (((uint64_t)1 << v.shift) < d) v.shift++;
    v.mul = (uint32_t)((((uint64_t)1 << 32) * (((uint64_t)1 << v.shift) - d)) / d + 1);
    return v;
}

/* n / d for n < 2^31 */
static __device__ __forceinline__ uint32_t mkc_div(uint32_t n, mkc_divisor v) {
    return (n + __umulhi(n, v.mul)) >> v.shift;
}

#endif
