/*
 * mkb_cuda — the anchors of the bench_cuda_* programs (mkb_cuda.cu): what cudart and cuBLAS reach
 * on the same GPU, measured in the same process as medkern's kernels. Built only with
 * MEDKERN_CUDA (it links cudart and cuBLAS directly; the medkern library itself links no GPU
 * library).
 *
 * Every anchor enqueues its work on the stream given to mkbc_open — the medkern context's
 * own queue (mk_context_native_queue) — so the benchmarks time anchors and medkern ops with
 * the same mk_event pairs. Fallible calls return 0 on success, else -1 with a message in
 * why (n bytes).
 */
#ifndef MEDKERN_BENCH_MKB_CUDA_H
#define MEDKERN_BENCH_MKB_CUDA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mkbc mkbc;

/* Number of CUDA devices cudart sees (0 when there is no GPU or no driver). */
int mkbc_device_count(void);
/* Opens CUDA device `ordinal` with a cuBLAS handle on `stream` (a cudaStream_t). name gets
   the device's name (name_len bytes; may be NULL). */
int mkbc_open(int ordinal, void *stream, mkbc **out, char *name, size_t name_len, char *why,
              size_t n);
/* Also fine after the stream's context is destroyed. */
void mkbc_close(mkbc *c);
/* mkbc_open on the benchmark context's device and stream (mkbench.h; mkb_cuda_attach.c):
   -1 with a line on stderr, naming prog, when that device is no CUDA device or cudart
   cannot open it. */
int mkbc_attach(const char *prog, mkbc **out);

/* 1. Dense GEMM: C = A B, all n x n, bf16 in and out, f32 accumulation (cublasGemmEx,
   CUBLAS_COMPUTE_32F, the default algorithm); 2 n^3 FLOP a run. Inputs random. */
typedef struct mkbc_gemm mkbc_gemm;
int mkbc_gemm_create(mkbc *c, int n, mkbc_gemm **out, char *why, size_t len);
/* 1b. The GEMM of a linear layer: y [m][n] = x [m][k] . W^T, W [n][k] row-major (cublasGemmEx
   with W transposed, as cuda.dequant_cublas calls it), bf16 or f16 (bf16 != 0) in and out,
   f32 accumulation; 2 m n k FLOP a run. Inputs random. Run and destroy as above. */
int mkbc_weight_gemm_create(mkbc *c, int bf16, int m, int n, int k, mkbc_gemm **out, char *why, size_t len);
int mkbc_gemm_run(mkbc_gemm *g, char *why, size_t len);
void mkbc_gemm_destroy(mkbc_gemm *g);

/* 2. Device-to-device copy of `bytes` (cudaMemcpyAsync); a run reads and writes `bytes`. */
typedef struct mkbc_copy mkbc_copy;
int mkbc_copy_create(mkbc *c, size_t bytes, mkbc_copy **out, char *why, size_t len);
int mkbc_copy_run(mkbc_copy *p, char *why, size_t len);
void mkbc_copy_destroy(mkbc_copy *p);

/* 3. Attention built from cuBLAS, as an eager framework computes it: q, k, v, out
   [B*H][S][D] (bf16 or f16: bf16 != 0), for each (sequence, head) S = scale * Q K^T
   (cublasGemmStridedBatchedEx, f32 accumulation, scores stored in the input type), a
   row softmax kernel (f32 math, causal mask when asked, P written over S), O = P V
   (cublasGemmStridedBatchedEx). The (sequence, head) matrices go through in groups whose
   scores take at most 1 GiB (one matrix at least). Sq = Sk = S, S % 8 == 0. Inputs random. */
typedef struct mkbc_attn mkbc_attn;
int mkbc_attn_create(mkbc *c, int bf16, int batch, int seq, int heads, int head_dim, int causal,
                     mkbc_attn **out, char *why, size_t len);
int mkbc_attn_run(mkbc_attn *a, char *why, size_t len);
/* Device bytes the anchor holds (inputs, output, scores). */
size_t mkbc_attn_bytes(const mkbc_attn *a);
void mkbc_attn_destroy(mkbc_attn *a);

#ifdef __cplusplus
}
#endif
#endif /* MEDKERN_BENCH_MKB_CUDA_H */
