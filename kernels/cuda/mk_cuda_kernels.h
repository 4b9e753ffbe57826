/*
 * The CUDA kernels' host-callable launchers (extern "C"), one group per .cu file.
 * The runtime's CUDA backend (runtime/backends/cuda) is their only caller.
 *
 * Conventions
 *  - Pointers are device pointers to a tensor's first element (buffer base + byte offset);
 *    strides and row strides are in elements.
 *  - dtype arguments are mk_dtype values. The runtime has validated every argument
 *    (shapes, dtypes, strides, extents, index values) before a launcher is called;
 *    launchers check nothing on the host. The KV kernels still skip a slot or block
 *    index that is out of range (one compare per row: a guard, never a behaviour).
 *  - Every launcher enqueues its work on `stream` and returns the launch status
 *    (cudaGetLastError() after the launch); errors during execution surface at the next
 *    synchronisation.
 *  - Arithmetic is f32; loads and stores of F16/BF16/FP8/I8 round exactly as the
 *    reference (reference/convert.c) does, bit for bit (kernels/cuda/dtype_io.cuh).
 */
#ifndef MEDKERN_KERNELS_CUDA_H
#define MEDKERN_KERNELS_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#include "medkern/medkern.h"
#include "qgemm_layout.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- kernel_image.cu: is there machine code (or PTX the driver can JIT) for the current
   device in this build? cudaSuccess, or cudaErrorNoKernelImageForDevice /
   cudaErrorInvalidDeviceFunction when MEDKERN_CUDA_ARCHS left the device out. */
cudaError_t mkc_kernel_image_check(void);

/* ---- elementwise.cu: out = f(a, b) row by row.
   a, b, out [rows][n] with row strides a_rs, b_rs, out_rs (last dim stride 1); out may
   be the very same view as a or b. F32/F16/BF16. */
typedef enum {
    MKC_SILU_MUL = 0,   /* silu(a) * b                      */
    MKC_GELU_ERF_MUL,   /* gelu(a) * b, exact (erf) form    */
    MKC_GELU_TANH_MUL,  /* gelu(a) * b, tanh approximation  */
    MKC_ADD             /* a + b                            */
} mkc_binary_op;

cudaError_t mkc_binary(mkc_binary_op op, mk_dtype t, const void *a, int64_t a_rs, const void *b,
                       int64_t b_rs, void *out, int64_t out_rs, int64_t rows, int64_t n,
                       cudaStream_t stream);

/* ---- rmsnorm.cu / layernorm.cu: one thread block per row, f32 accumulation.
   x [rows][n] with row stride x_rs; w, b [n] (b may be NULL); y [rows][n] contiguous,
   may be the very same view as x. */
cudaError_t mkc_rmsnorm(mk_dtype t, const void *x, int64_t x_rs, const void *w, void *y,
                        int64_t rows, int n, float eps, int plus_one, cudaStream_t stream);
cudaError_t mkc_layernorm(mk_dtype t, const void *x, int64_t x_rs, const void *w, const void *b,
                          void *y, int64_t rows, int n, float eps, cudaStream_t stream);

/* ---- rope.cu: in place on x [T][H][D] (strides stride_t, stride_h; last dim 1),
   positions [T]; inv_freq [rotary_dim/2] doubles on the device (mkref_rope_inv_freq,
   scaling already applied). Angles in double, reduced to [-pi, pi], then f32 sin/cos. */
#define MKC_ROPE_MAX_ROTARY_DIM 8192
cudaError_t mkc_rope(mk_dtype t, void *x, int64_t T, int H, int D, int64_t stride_t,
                     int64_t stride_h, const int32_t *positions, const double *inv_freq,
                     int rotary_dim, int interleaved, cudaStream_t stream);

/* ---- kv_append.cu / kv_copy_blocks.cu: one layer's paged pool, K and V each
   [num_blocks][block_size][Hkv][D] in `dtype`; k_scale, v_scale [slots][Hkv] f32 for I8
   and FP8 caches (NULL otherwise). Rows: num_blocks * block_size * num_kv_heads < 2^31
   (mk__validate_kv_desc), so a row index is an int. */
typedef struct {
    mk_dtype dtype;        /* F32, F16, BF16, I8, FP8_E4M3 */
    void *k, *v;
    float *k_scale, *v_scale;
    int64_t num_blocks;
    int block_size;
    int num_kv_heads;
    int head_dim;          /* <= 256 */
} mkc_kv_pool;

/* k, v [T][Hkv][D] of in_t (F32/F16/BF16) with strides (k_st, k_sh), (v_st, v_sh);
   slots [T]: -1 or out of range = skip. I8/FP8 quantize per (slot, head) exactly as
   reference/kv_cache.c. */
cudaError_t mkc_kv_append(mk_dtype in_t, const void *k, int64_t k_st, int64_t k_sh, const void *v,
                          int64_t v_st, int64_t v_sh, const int32_t *slots, int64_t T,
                          const mkc_kv_pool *pool, cudaStream_t stream);
/* pairs [n][2] (src block, dst block); pairs naming a block out of range are skipped. */
cudaError_t mkc_kv_copy_blocks(const int32_t *pairs, int64_t n, const mkc_kv_pool *pool,
                               cudaStream_t stream);

/* ---- gemm_bias.cu: y [M][N] (contiguous) = bias [N] broadcast over rows, raw element
   copies of elem_bytes (2 or 4) — the GEMM then accumulates onto it with beta = 1, so
   the output is rounded once. */
cudaError_t mkc_gemm_bias_fill(size_t elem_bytes, const void *bias, void *y, int64_t M, int64_t N,
                               cudaStream_t stream);

/* ---- attention_decode.cu: split-KV decode over the paged pool + merge.
   q [batch][num_q_heads][D] (strides q_s0, q_s1) and out [batch][num_q_heads][D]
   (contiguous) of q_dtype (F32/F16/BF16); block_table [batch][max_blocks]; context_lens
   [batch]. Split s of a sequence covers visible keys [lo + s*chunk, lo + (s+1)*chunk).
   With splits > 1, partial holds [batch][num_q_heads][splits][D] f32 outputs and, from
   element ml_offset on, [batch][num_q_heads][splits][2] (m in log2 units, l); a merge
   kernel writes out. batch <= 65535, splits <= 65535. Needs sm_80+ (cp.async).
   tensor_cores: the device has mma.sync m16n8k16 (sm_80+); groups of >= 4 query heads
   over an F16/BF16 cache with q of the same dtype then run on tensor cores.
   mkc_decode_heads_per_block: query heads of one KV group a thread block computes (the
   plan's head groups: ceil(group / it) blocks per kv head). mkc_decode_smem: the dynamic
   shared memory a launch may ask for (bytes; above 48 KB needs the opt-in limit). */
enum {
    MKC_DECODE_SPLIT_ALIGN = 64 /* chunk must be a multiple (whole K tiles of <= 64 keys) */
};
typedef struct {
    mk_dtype q_dtype;
    const void *q;
    int64_t q_s0, q_s1;
    mkc_kv_pool pool;
    const int32_t *block_table;
    int max_blocks;
    const int32_t *context_lens;
    void *out;
    int batch, num_q_heads;
    float scale, softcap; /* softcap <= 0: none */
    int window_left;      /* < 0: none */
    int splits, chunk;
    float *partial;
    int64_t ml_offset;
    int tensor_cores;
} mkc_decode_args;

int mkc_decode_heads_per_block(mk_dtype q_dtype, mk_dtype cache_dtype, int group, int head_dim, int tensor_cores);
size_t mkc_decode_smem(mk_dtype q_dtype, mk_dtype cache_dtype, int group, int head_dim, int tensor_cores);
cudaError_t mkc_attention_decode(const mkc_decode_args *a, cudaStream_t stream);

/* ---- attention_prefill.cu: flash attention on tensor cores (mma.sync m16n8k16, sm_80+).
   q [total_q][num_q_heads][D], k, v [total_k][num_kv_heads][D] (strides s0, s1; last dim
   1) of dtype F16 or BF16; out [total_q][num_q_heads][D] contiguous, same dtype; lse
   [total_q][num_q_heads] f32 or NULL; cu_q, cu_k [batch + 1]. *_vec: the tensor's base
   is 16-byte aligned and s0, s1 are multiples of 8 (16-byte tile loads). D in {64, 80,
   96, 128, 256}; num_q_heads <= 65535. mkc_fa2_mma_smem(D): the dynamic shared memory
   per block (bytes; 0 for other D), above 48 KB needs the device's opt-in limit.
   mkc_fa2_tile_rows(D): query rows per block (128; 64 for D = 256; 0 for other D), the
   rows of the plan's tile map. */
typedef struct {
    mk_dtype dtype;
    const void *q, *k, *v;
    int64_t q_s0, q_s1, k_s0, k_s1, v_s0, v_s1;
    int q_vec, k_vec, v_vec;
    const int32_t *cu_q, *cu_k;
    const int32_t *tile_map; /* the plan's tiles [num_tiles][2] (sequence, first row), or */
    int num_tiles;           /* NULL, 0: blocks scan cu_q (prefill_tiles.cuh)            */
    int batch, total_q, total_k;
    int num_q_heads, num_kv_heads, head_dim;
    void *out;
    float *lse;
    float scale, softcap; /* softcap <= 0: none */
    int causal;           /* bottom-right aligned */
    int window_left;      /* < 0: none */
} mkc_prefill_args;

size_t mkc_fa2_mma_smem(int head_dim);
int mkc_fa2_tile_rows(int head_dim);
cudaError_t mkc_attention_prefill_fa2(const mkc_prefill_args *a, cudaStream_t stream);

/* ---- attention_prefill_tiled.cu: the same op without tensor cores (f32 SIMT, static
   shared memory <= 34 KB): dtype F32/F16/BF16, any D in 1..256, any strides; the *_vec
   flags are not used. mkc_prefill_tiled_rows(D): query rows per block for head dim D. */
cudaError_t mkc_attention_prefill_tiled(const mkc_prefill_args *a, cudaStream_t stream);
int mkc_prefill_tiled_rows(int head_dim);

/* ---- qgemm_w4a16.cu: y [M][N] (contiguous) = x [M][K] . W^T (+ bias [N]) on tensor cores
   (sm_80+), x/y/bias F16 or BF16 (t), x with row stride x_rs. The weight in the packed
   layout of qgemm_layout.h: QW4 (layout.w4 = 1) or QW8 (0) codes, f16 scales, QW4 zero
   points or NULL (zero 8), k_perm or NULL. f32 accumulation. The work partition comes
   from mkc_qgemm_w16_plan_of (M rows, sms SMs; 0 when M > 65535 or K > 2^30):
   K split into `splits` slices summed in order by a second kernel through `scratch`
   (scratch_bytes of f32, device memory; none with one split). */
typedef struct {
    int splits, kt_per_split, n_blocks, gs; /* gs: scale groups staged per row tile    */
    int xs_ld;            /* row stride of the staged x, elements                        */
    size_t smem_bytes;    /* dynamic shared memory per block                             */
    size_t scratch_bytes; /* w16: splits * M * N * 4, 0 for one split                    */
} mkc_qgemm_mma_plan;
int mkc_qgemm_w16_plan_of(const mkc_qgemm_weight *w, int64_t M, int sms, mkc_qgemm_mma_plan *plan);
cudaError_t mkc_qgemm_w16(mk_dtype t, const mkc_qgemm_weight *w, const void *x, int64_t x_rs,
                          const void *bias, void *y, int64_t M, const mkc_qgemm_mma_plan *plan,
                          float *scratch, cudaStream_t stream);
/* ---- qgemm_w8a8.cu: the same GEMM for QW8A8 (fp8 = 0; int8 mma, sm_80+) and QFP8 (fp8 =
   1; e4m3 mma, sm_89+) weights: x (F16/BF16 t, row stride x_rs) quantized per token by a
   first kernel (reference/quant.c's mkref_quantize_act_*: scale amax/127 or amax/448,
   codes by true division) into the start of `scratch`, then y = s_a[m] * s_w[n] *
   (codes . codes) (+ bias) by mma.sync m16n8k32 on the block of qgemm_w4a16.cu (s32 or f32
   accumulation). Any M up to 65535. mkc_qgemm_a8_plan_of fills the plan; scratch_bytes
   (device memory, 16-byte aligned) is never 0: the codes and scales of x, then the
   split-K partials. */
int mkc_qgemm_a8_plan_of(const mkc_qgemm_weight *w, int64_t M, int sms, mkc_qgemm_mma_plan *plan);
cudaError_t mkc_qgemm_a8(mk_dtype t, int fp8, const mkc_qgemm_weight *w, const void *x, int64_t x_rs,
                         const void *bias, void *y, int64_t M, const mkc_qgemm_mma_plan *plan, void *scratch,
                         cudaStream_t stream);

/* ---- qgemm_dequant.cu: out [n][k] (contiguous, F16/BF16 t) = the weight dequantized,
   out[n][k_perm[k]] = round_t(scale * (q - zero)), so that y = x . out^T. */
cudaError_t mkc_qgemm_dequant(mk_dtype t, const mkc_qgemm_weight *w, void *out, cudaStream_t stream);

#ifdef __cplusplus
}
#endif
#endif
