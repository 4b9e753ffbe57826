/*
 * Internals of the CUDA backend, shared by its files:
 *   cuda_backend.c      the mk_backend vtable: devices (cudaGetDeviceCount; no driver or
 *                       no GPU is zero devices, never an error), contexts (one
 *                       non-blocking stream, cuBLAS and cuBLASLt handles, a cuBLAS
 *                       workspace), buffers, events, qweight hooks, the kernel table of
 *                       every cuda_*.c file
 *   cuda_<family>.c     the kernel variants of one op family (mk_kernel entries) and their
 *                       host-side preparation (cuda_rope.c: the inv_freq tables)
 *   cuda_qpack.c        the qgemm weight layout (plain C, tested on the CPU by
 *                       tests/test_cuda_qpack.c), used by the qweight hooks
 *   kernels/cuda        device code (.cu files), reached through the extern "C" launchers of
 *                       kernels/cuda/mk_cuda_kernels.h
 *
 * Every entry point that touches the device first makes the context's device current
 * (cuda_enter): the runtime API's current device is per host thread, and one thread may
 * drive contexts on several GPUs. Ops run on the context's stream in order; only the
 * blocking calls of the public API (buffer read/write, synchronize, event elapsed)
 * synchronize.
 */
#ifndef MEDKERN_BACKENDS_CUDA_INTERNAL_H
#define MEDKERN_BACKENDS_CUDA_INTERNAL_H

#include <pthread.h>

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "medkern/backend.h"
/* The launchers' header lives with the device code (kernels/cuda). */
#include "mk_cuda_kernels.h"
#include "cuda_qpack.h"

/* Per-device facts read once at enumeration (cudaGetDeviceProperties). */
typedef struct {
    int ordinal;
    mk_device_info info;     /* what mk_device_get_info reports (id/backend set by the core) */
    int cc_major, cc_minor;
    int sm_count;
    size_t smem_optin;       /* max dynamic shared memory per block after opting in */
    int l2_bytes;
} cuda_device;

/* Number of CUDA devices (0 without a driver or a GPU) and the i-th one (NULL if out of
   range or its properties could not be read). */
int cuda_device_total(void);
const cuda_device *cuda_device_get(int local);

typedef struct cuda_rope_table cuda_rope_table;

/* Per-context state (ctx->impl). */
/* Slots of the per-context device scratch (cuda_scratch.c). */
typedef enum {
    CUDA_SCRATCH_QGEMM_W = 0,     /* dequantized weight of cuda.dequant_cublas   */
    CUDA_SCRATCH_QGEMM_SPLIT = 1, /* the mma qgemm kernels: split-K partial sums;
                                     the x codes and scales of the 8-bit ones     */
    CUDA_SCRATCH_SLOTS
} cuda_scratch_slot;

typedef struct {
    mk_context *ctx;              /* the context this state belongs to                   */
    const cuda_device *dev;
    cudaStream_t stream;          /* non-blocking: no implicit sync with the legacy stream */
    cublasHandle_t blas;          /* bound to stream; f32 accumulation only             */
    cublasLtHandle_t lt;          /* stream passed per call                             */
    void *workspace;              /* cuBLAS(Lt) workspace, owned by the context          */
    size_t workspace_bytes;
    cudaError_t image;            /* mkc_kernel_image_check() on this device             */
    pthread_mutex_t lock;         /* guards rope_tables and scratch                      */
    cuda_rope_table *rope_tables; /* inv_freq tables uploaded per rope parameters         */
    int rope_table_count;
    void *scratch[CUDA_SCRATCH_SLOTS]; /* grow-only device scratch (cuda_scratch.c)  */
    size_t scratch_bytes[CUDA_SCRATCH_SLOTS];
} cuda_ctx;

static inline cuda_ctx *cuda_of(const mk_context *ctx) { return (cuda_ctx *)ctx->impl; }
/* Device address of a tensor's first element. */
static inline void *cuda_ptr(const mk_tensor *t) { return (char *)t->buf->mem + t->offset; }
static inline void *cuda_buf(const mk_buffer *b) { return b ? b->mem : NULL; }

/* A CUDA error as MK_ERR_DEVICE (MK_ERR_OUT_OF_MEMORY for allocation failures) with what
   was being done, the error's name and cudaGetErrorString in mk_last_error(). Clears a
   non-sticky error so the next call starts clean. */
mk_status cuda_fail(cudaError_t err, const char *what);
/* 1 for the errors after which the device cannot be used by this process (sticky
   errors: illegal address, launch failure, ...; no device): cuda_fail reports them with
   mk__fail_lost, so the runtime marks the context lost. */
int cuda_is_loss(cudaError_t err);
/* A stream call under fault injection: cudaErrorDevicesUnavailable instead of the call
   when MEDKERN_FAULT_DEVICE_LOST picks this one (runtime/src/fault.c). */
#define CUDA_QUEUE(call) (mk__fault_device_lost() ? cudaErrorDevicesUnavailable : (call))
/* cudaMalloc / cudaFree for every device allocation of the backend: fault injection
   (cudaErrorMemoryAllocation when MEDKERN_FAULT_DEVICE_ALLOC picks this one) and the
   live-allocation count (the caller is the site reported). cuda_free accepts NULL. */
cudaError_t cuda_malloc_at(void **p, size_t bytes, mk_site at);
#define cuda_malloc(p, bytes) cuda_malloc_at((p), (bytes), MK_SITE)
void cuda_free(void *p);
/* A cuBLAS status likewise (cublasGetStatusString). */
mk_status cuda_blas_fail(cublasStatus_t st, const char *what);
/* The status of a launcher's return value: MK_OK or cuda_fail(err, "launching <kernel>"). */
mk_status cuda_launched(cudaError_t err, const char *kernel);
/* Makes ctx's device current on this thread. */
mk_status cuda_enter(const mk_context *ctx);

/* A quantized weight on the device (mk_qweight.impl): the packed arrays of cuda_qpack.c
   (zeros NULL without zero points) and k_perm as it is (NULL without one). */
typedef struct {
    cuda_qpack_layout layout;
    void *q, *scales, *zeros, *k_perm;
} cuda_qweight;

/* For supports(): 1 when this build has device code for ctx's GPU, else 0 with the reason
   (MEDKERN_CUDA_ARCHS left the GPU's architecture out). */
int cuda_kernels_available(const mk_context *ctx, char *why, size_t n);

/* RoPE (cuda_rope.c): the device table of inv_freq[i] = mkref_rope_inv_freq(p, R, i),
   i < R/2, uploaded once per context and parameter set; *out stays valid until the
   context is destroyed. */
mk_status cuda_rope_inv_freq(mk_context *ctx, const mk_rope_params *p, int rotary_dim,
                             const double **out);
void cuda_rope_tables_free(cuda_ctx *c);

/* Kernel tables of the op-family files (each returns its static list). */
const mk_kernel *const *cuda_elementwise_kernels(int *count); /* silu_mul, gelu_mul, add   */
const mk_kernel *const *cuda_norm_kernels(int *count);        /* rmsnorm, layernorm        */
const mk_kernel *const *cuda_rope_kernels(int *count);        /* rope                      */
const mk_kernel *const *cuda_kv_kernels(int *count);          /* kv_append, kv_copy_blocks */
const mk_kernel *const *cuda_gemm_kernels(int *count);        /* gemm (cuBLAS)             */
const mk_kernel *const *cuda_qgemm_kernels(int *count);       /* qgemm (cuda_qgemm.c)      */
const mk_kernel *const *cuda_attention_kernels(int *count);   /* attention prefill, decode */
/* A device buffer of at least `bytes` in `slot` of c's scratch (caller holds c->lock),
   grown on demand and kept until cuda_scratch_free (context teardown, after the stream
   is drained). */
mk_status cuda_scratch(cuda_ctx *c, cuda_scratch_slot slot, size_t bytes, void **out);
void cuda_scratch_free(cuda_ctx *c);

#endif
