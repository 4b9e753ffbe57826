/*
 * medkern — kernels for the transformer core, behind one C API.
 *
 * This header is the whole public contract (see docs/api.md for the long form).
 *
 * Conventions
 *  - Every fallible call returns mk_status. On failure, mk_last_error() returns a
 *    thread-local message that names the argument that was wrong. Nothing aborts the
 *    process on bad input, and a call that fails validation writes nothing.
 *  - A failed allocation is MK_ERR_OUT_OF_MEMORY: the call releases what it acquired,
 *    writes nothing, and the context stays usable. A driver error that means the device
 *    is gone is MK_ERR_DEVICE ("the device is lost") and marks the context lost: later
 *    calls on it that would touch the device fail with MK_ERR_DEVICE ("context lost");
 *    destroying its handles still works (docs/guarantees.md).
 *  - Opaque handles come in _create/_destroy (or _alloc/_free) pairs. Destroying NULL
 *    is a no-op. The caller owns every handle it creates and must destroy it before
 *    the context it was created on.
 *  - Tensors are plain descriptors (mk_tensor): a view on a buffer, row-major, up to 4
 *    dims, strides in elements. The descriptor is read during the call only.
 *  - Index arrays (cu_seqlens, block tables, context lengths, slot mappings, positions,
 *    block pairs) are seen by the host once, in a plan (mk_*_plan_create: host arrays,
 *    validated there, copied into plan-owned device memory). The *_run calls take the
 *    plan, check descriptors only, never read anything back and never synchronize, so
 *    a decode step can be captured in a CUDA graph (mk_context_sync_counters proves
 *    it). The one-shot calls (mk_attention_decode, mk_rope, ...) take I32 tensors on
 *    the device: they read them back to the host to validate them (a synchronizing
 *    copy on GPUs), then run as a plan would.
 *  - Parameter structs: a zero-initialised struct ({0}) means the defaults.
 *  - Threads: a context, and everything created on it, is used by one thread at a time;
 *    different contexts may be used from different threads at once. Device enumeration
 *    and the kernel registry are initialised once, thread-safely.
 *  - Ops run on the context's stream in order; results are visible to mk_buffer_read
 *    (which synchronizes) or after mk_synchronize().
 */
#ifndef MEDKERN_MEDKERN_H
#define MEDKERN_MEDKERN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define MK_API __declspec(dllimport)
#elif defined(__GNUC__)
#define MK_API __attribute__((visibility("default")))
#else
#define MK_API
#endif

#define MK_VERSION_MAJOR 0
#define MK_VERSION_MINOR 1
#define MK_VERSION_PATCH 0

/* "0.1.0" */
MK_API const char *mk_version(void);

/* ------------------------------------------------------------------ status */

typedef enum {
    MK_OK = 0,
    MK_ERR_INVALID_ARGUMENT, /* an argument is wrong; the message names it        */
    MK_ERR_UNSUPPORTED,      /* valid, but no kernel variant on this device can run it */
    MK_ERR_OUT_OF_MEMORY,    /* host or device allocation failed                  */
    MK_ERR_DEVICE,           /* the device or its driver failed (build log, launch) */
    MK_ERR_NOT_FOUND,        /* a named device, kernel or model does not exist    */
    MK_ERR_IO,               /* a file could not be read or written               */
    MK_ERR_INTERNAL          /* a bug in medkern: please report it                */
} mk_status;

/* Static name of a status, e.g. "MK_ERR_INVALID_ARGUMENT". */
MK_API const char *mk_status_string(mk_status s);
/* Thread-local message of the last failing call on this thread ("" if none). The
   pointer stays valid until the next medkern call on the same thread. */
MK_API const char *mk_last_error(void);

/* ------------------------------------------------------------------ dtypes */

typedef enum {
    MK_F32 = 0,
    MK_F16,       /* IEEE binary16, stored as raw bits (uint16_t)          */
    MK_BF16,      /* bfloat16, stored as raw bits (uint16_t)               */
    MK_FP8_E4M3,  /* OCP E4M3FN: no Inf, NaN = 0x7F/0xFF, max 448 (uint8_t) */
    MK_I8,
    MK_U8,
    MK_I32,
    MK_DTYPE_COUNT
} mk_dtype;

/* Bytes per element (0 for an invalid dtype). */
MK_API size_t mk_dtype_size(mk_dtype t);
/* "f32", "f16", "bf16", "fp8_e4m3", "i8", "u8", "i32"; NULL if invalid. */
MK_API const char *mk_dtype_name(mk_dtype t);

/* Bit-exact conversions used by every backend (round to nearest even; NaN stays
   NaN; fp8 saturates to +-448). Provided so users can prepare data on the host. */
MK_API uint16_t mk_f32_to_f16(float x);
MK_API float    mk_f16_to_f32(uint16_t h);
MK_API uint16_t mk_f32_to_bf16(float x);
MK_API float    mk_bf16_to_f32(uint16_t h);
MK_API uint8_t  mk_f32_to_fp8_e4m3(float x);
MK_API float    mk_fp8_e4m3_to_f32(uint8_t b);

/* ------------------------------------------------------------------ devices */

typedef struct mk_context mk_context;
typedef struct mk_buffer mk_buffer;
typedef struct mk_event mk_event;
typedef struct mk_kv_cache mk_kv_cache;
typedef struct mk_qweight mk_qweight;

typedef enum { MK_DEVICE_REF = 0, MK_DEVICE_CPU, MK_DEVICE_GPU, MK_DEVICE_ACCELERATOR } mk_device_type;

enum {
    MK_FEATURE_FP16       = 1u << 0, /* fp16 arithmetic (not only storage)       */
    MK_FEATURE_BF16       = 1u << 1, /* bf16 arithmetic / tensor cores            */
    MK_FEATURE_INT8_DOT   = 1u << 2, /* int8 dot products (dp4a, integer dot ext) */
    MK_FEATURE_SUBGROUPS  = 1u << 3, /* subgroup / warp operations                */
    MK_FEATURE_FP8        = 1u << 4, /* fp8 tensor cores (sm_89+)                 */
    MK_FEATURE_TENSOR_CORES = 1u << 5,
    MK_FEATURE_UNIFIED_MEMORY = 1u << 6 /* device memory is host memory           */
};

typedef struct {
    char id[32];          /* "ref", "cuda:0", "opencl:1": what mk_context_create takes */
    char backend[16];     /* "ref", "cuda", "opencl", ...                              */
    char name[128];       /* device name as the driver reports it                      */
    char vendor[64];
    char driver[64];      /* driver / runtime version string                           */
    mk_device_type type;
    uint64_t memory_bytes;       /* global memory (0 if unknown)                       */
    int compute_units;           /* SMs, OpenCL compute units, host cores              */
    int capability_major;        /* CUDA compute capability, OpenCL C version          */
    int capability_minor;
    uint32_t features;           /* MK_FEATURE_* bits                                  */
    double peak_bandwidth_gbs;   /* theoretical, 0 if unknown                          */
    double peak_tflops_f16;      /* theoretical dense f16/bf16, 0 if unknown           */
} mk_device_info;

/* Number of devices over all backends loaded; the ref device is always index 0, then
   the devices of cuda, opencl, threads and any other module, in that order. */
MK_API mk_status mk_device_count(int *n);
MK_API mk_status mk_device_get_info(int index, mk_device_info *out);
/* Resolve a device string ("auto" = CUDA GPU > OpenCL GPU > OpenCL CPU > ref, the
   highest mk_device_auto_rank) to an index. MK_ERR_NOT_FOUND if no such device. */
MK_API mk_status mk_device_find(const char *device, int *index);
/* The rank of device index for "auto" (its backend's rule): the highest wins, the first
   among equals; below 0 is never chosen (example backends). */
MK_API mk_status mk_device_auto_rank(int index, int *rank);

/* ------------------------------------------------------------------ backends */

/* The backends: ref (built into the library) and one slot per backend module, loaded at
   the first device enumeration: libmedkern-<name>.so for cuda, opencl and threads, then
   every other libmedkern-*.so found, by name. The folders searched, in order: those of
   MEDKERN_BACKEND_PATH (colon-separated), then libmedkern's own. A module that cannot
   load contributes no device and says why (docs/porting.md). */
typedef struct {
    char name[32];        /* "ref", "cuda", "opencl", ...                               */
    char path[512];       /* the module file ("" when built in or not found)            */
    int loaded;           /* 1: its table is in use (it may still have 0 devices)       */
    int devices;          /* devices it contributes                                     */
    char reason[512];     /* one line: why it did not load, or "" when loaded           */
} mk_backend_info;

MK_API mk_status mk_backend_count(int *n);
MK_API mk_status mk_backend_get_info(int index, mk_backend_info *out);

/* ------------------------------------------------------------------ context */

MK_API mk_status mk_context_create(const char *device, mk_context **out);
MK_API void      mk_context_destroy(mk_context *ctx);
MK_API mk_status mk_context_get_device(const mk_context *ctx, mk_device_info *out);
MK_API mk_status mk_synchronize(mk_context *ctx);

/* ------------------------------------------------------------------ buffers */

/* Device memory of the context's device. Contents are undefined until written. */
MK_API mk_status mk_buffer_alloc(mk_context *ctx, size_t bytes, mk_buffer **out);
MK_API void      mk_buffer_free(mk_buffer *buf);
MK_API size_t    mk_buffer_size(const mk_buffer *buf);
/* Blocking copies between host memory and a buffer ([offset, offset+bytes) must lie in
   the buffer). mk_buffer_read waits for all work queued on the context. */
MK_API mk_status mk_buffer_write(mk_buffer *buf, size_t offset, const void *src, size_t bytes);
MK_API mk_status mk_buffer_read(const mk_buffer *buf, size_t offset, void *dst, size_t bytes);
MK_API mk_status mk_buffer_fill(mk_buffer *buf, size_t offset, uint8_t byte, size_t bytes);
/* Device-side copy between two buffers of the same context, queued on its stream (not
   blocking). The ranges must lie in their buffers; overlapping ranges of one buffer are
   rejected. */
MK_API mk_status mk_buffer_copy(mk_buffer *dst, size_t dst_offset, const mk_buffer *src,
                                size_t src_offset, size_t bytes);

/* ------------------------------------------------------------------ tensors */

#define MK_MAX_DIMS 4

typedef struct {
    mk_buffer *buf;
    size_t offset;          /* bytes from the start of buf */
    mk_dtype dtype;
    int ndim;               /* 1..4 */
    int64_t shape[MK_MAX_DIMS];
    int64_t stride[MK_MAX_DIMS]; /* in elements */
} mk_tensor;

/* A row-major contiguous tensor descriptor (no allocation, no validation). */
MK_API mk_tensor mk_tensor_make(mk_buffer *buf, size_t offset, mk_dtype dtype, int ndim,
                                const int64_t *shape);

/* ------------------------------------------------------------------ events */

MK_API mk_status mk_event_create(mk_context *ctx, mk_event **out);
MK_API void      mk_event_destroy(mk_event *ev);
/* Records the point in the context's stream after all work queued so far. */
MK_API mk_status mk_event_record(mk_event *ev);
/* Milliseconds between two recorded events of the same context (waits for end). */
MK_API mk_status mk_event_elapsed_ms(const mk_event *start, const mk_event *end, float *ms);

/* ------------------------------------------------------------------ attention */

/* {0} = scale 1/sqrt(D), not causal, no window, no softcap. Query i of a sequence with
   Sq queries and Sk keys sits at position i' = i + Sk - Sq (bottom-right aligned). */
typedef struct {
    float scale;        /* softmax scale; 0 = 1/sqrt(D)                                 */
    int causal;         /* query i sees keys j <= i'                                     */
    int window;         /* sliding window: query i sees keys j > i' - window (itself and
                           window - 1 keys before it: Mistral's sliding_window, FA2's
                           window_left + 1); 0 = no window                               */
    float softcap;      /* logits -> softcap*tanh(logits/softcap); 0 = none              */
} mk_attn_params;

/* ------------------------------------------------------------------ plans */

/* A plan: the host's one look at a batch's index arrays (validated, copied into device
   memory the plan owns) and the work partition computed from them (split-KV for decode;
   the workspace it needs is allocated with the plan). Runs read nothing back.
   A plan belongs to its context; destroy it before the context. Runs on the context's
   stream may still be using it: mk_plan_destroy waits for them (it synchronizes).
   If the plan's device copy is overwritten behind its back, kernels stay inside their
   buffers (block indices and slots are clamped or skipped, sequence bounds clamped to
   the tensors), but the results are undefined. */
typedef struct mk_plan mk_plan;
MK_API void mk_plan_destroy(mk_plan *plan);
/* Bytes of device memory the plan holds (index copies and workspace). */
MK_API size_t mk_plan_device_bytes(const mk_plan *plan);

/* Device-to-host copies, host-blocking uploads and host waits of a context since it
   was created. mk_buffer_read, mk_synchronize, mk_event_elapsed_ms, plan creation and
   the one-shot index-array ops count; a *_run call adds nothing. */
typedef struct {
    uint64_t readbacks;  /* device-to-host copies                       */
    uint64_t uploads;    /* host-to-device copies that block the host   */
    uint64_t syncs;      /* waits for the device (finish, stream sync)  */
} mk_sync_counters;
MK_API mk_status mk_context_sync_counters(const mk_context *ctx, mk_sync_counters *out);

/* The device queue the context's ops are queued on, for interop and CUDA graph capture:
   the cudaStream_t (CUDA) or cl_command_queue (OpenCL). MK_ERR_UNSUPPORTED on backends
   without one (ref). To capture a decode step in a CUDA graph: make its plans, run it
   once (first uses of a rope parameter set or a qgemm shape set up per-context tables
   and scratch, which capture does not allow), then capture the *_run calls and the
   other ops between cudaStreamBeginCapture and cudaStreamEndCapture on this stream. */
MK_API mk_status mk_context_native_queue(const mk_context *ctx, void **queue);

/*
 * Prefill over a packed variable-length batch.
 *   q [T, Hq, D], k [Tk, Hkv, D], v [Tk, Hkv, D]: F16, BF16 or F32 (all the same);
 *      the last dim must have stride 1, the other strides are free (views into a fused
 *      QKV buffer are fine).
 *   cu_seqlens_q, cu_seqlens_k [B+1] I32, contiguous: non-decreasing, first 0, last T
 *      (resp. Tk).
 *   out [T, Hq, D] same dtype as q, contiguous. lse [T, Hq] F32 contiguous, or NULL.
 *   Hq % Hkv == 0. D in 1..256. LSE is natural-log; a query row that sees no key gets
 *   output 0 and LSE -inf.
 */
MK_API mk_status mk_attention_prefill(mk_context *ctx, const mk_tensor *q, const mk_tensor *k,
                                      const mk_tensor *v, const mk_tensor *cu_seqlens_q,
                                      const mk_tensor *cu_seqlens_k, const mk_attn_params *params,
                                      const mk_tensor *out, const mk_tensor *lse);

/* Prefill as plan + run. The plan takes host copies of cu_seqlens_q/k (batch + 1 each,
   the rules above; total_q = cu_seqlens_q[batch], total_k = cu_seqlens_k[batch]), the
   head shape and dtype, and the params; it picks the prefill variant for that shape and
   lays out its query tiles (the block-to-sequence map, longest work first). A run takes
   q [total_q, num_q_heads, head_dim] of that dtype, k, v [total_k, num_kv_heads,
   head_dim], out and lse as above. */
typedef struct {
    int64_t batch;                /* B >= 1                                  */
    const int32_t *cu_seqlens_q;  /* host [B+1]                               */
    const int32_t *cu_seqlens_k;  /* host [B+1]                               */
    int num_q_heads, num_kv_heads, head_dim; /* Hq % Hkv == 0, D in 1..256    */
    mk_dtype dtype;               /* of q, k, v and out: F32, F16 or BF16     */
    mk_attn_params params;
} mk_prefill_plan_desc;
MK_API mk_status mk_prefill_plan_create(mk_context *ctx, const mk_prefill_plan_desc *desc, mk_plan **out);
MK_API mk_status mk_attention_prefill_run(mk_context *ctx, const mk_plan *plan, const mk_tensor *q,
                                          const mk_tensor *k, const mk_tensor *v, const mk_tensor *out,
                                          const mk_tensor *lse);

/* ------------------------------------------------------------------ paged KV cache */

/*
 * One layer's paged pool. K and V each [num_blocks][block_size][num_kv_heads][head_dim]
 * (NHD). dtype F32, F16, BF16 store values; I8 and FP8_E4M3 store quantized values
 * with one f32 scale per (slot, kv head): x = scale * q, scale = amax/127 (I8) or
 * amax/448 (FP8), q = round_to_nearest_even(x/scale) (I8, clamped to +-127) or
 * fp8(x/scale); an all-zero vector stores scale 0 and q 0. A new cache is zero-filled
 * (values and scales), so a slot never written reads as 0.
 */
typedef struct {
    int64_t num_blocks;
    int block_size;
    int num_kv_heads;
    int head_dim;
    mk_dtype dtype;
} mk_kv_cache_desc;

MK_API mk_status mk_kv_cache_create(mk_context *ctx, const mk_kv_cache_desc *desc, mk_kv_cache **out);
MK_API void      mk_kv_cache_destroy(mk_kv_cache *cache);
MK_API mk_status mk_kv_cache_get_desc(const mk_kv_cache *cache, mk_kv_cache_desc *out);
/* k, v [T, Hkv, D] F32/F16/BF16 (last dim stride 1); slot_mapping [T] I32:
   slot = block*block_size + offset, -1 = skip. Slots must be unique. */
MK_API mk_status mk_kv_cache_append(mk_context *ctx, mk_kv_cache *cache, const mk_tensor *k,
                                    const mk_tensor *v, const mk_tensor *slot_mapping);
/* pairs [n, 2] I32 (src block, dst block); every dst distinct and no dst is a src. */
MK_API mk_status mk_kv_cache_copy_blocks(mk_context *ctx, mk_kv_cache *cache, const mk_tensor *pairs);
/* Read one block back to the host: k_out/v_out get block_size*Hkv*D elements of the
   cache dtype (raw bits); k_scale/v_scale get block_size*Hkv floats for I8/FP8 caches
   and must be NULL for other caches. Any output pointer may be NULL to skip it. */
MK_API mk_status mk_kv_cache_read_block(const mk_kv_cache *cache, int64_t block, void *k_out,
                                        void *v_out, float *k_scale, float *v_scale);

/*
 * Decode: one query token per sequence over the paged cache.
 *   q [B, Hq, D] F16/BF16/F32 (last dim stride 1); block_table [B, max_blocks] I32
 *   contiguous; context_lens [B] I32 (0 <= len <= max_blocks*block_size; every used
 *   block index in [0, num_blocks)); out [B, Hq, D] dtype of q, contiguous.
 *   params->causal is ignored (the query is the last token); window_left applies.
 */
MK_API mk_status mk_attention_decode(mk_context *ctx, const mk_tensor *q, const mk_kv_cache *cache,
                                     const mk_tensor *block_table, const mk_tensor *context_lens,
                                     const mk_attn_params *params, const mk_tensor *out);

/* Decode as plan + run (one plan per step serves every layer). The plan takes host
   copies of block_table [batch][max_blocks] and context_lens [batch] (the rules above,
   against cache's desc), the query shape and the params; it picks the decode variant for
   that shape and computes its split-KV partition. A run takes q [batch, num_q_heads,
   head_dim] of dtype q_dtype, any cache whose desc equals the plan's cache's desc, and
   out; it fails with MK_ERR_INVALID_ARGUMENT when the variant the dispatcher would pick
   now differs from the plan's (mk_set_kernel after the plan: make the plan again). */
typedef struct {
    int64_t batch;                /* B >= 1                                         */
    int64_t max_blocks;           /* columns of block_table, >= 1                    */
    const int32_t *block_table;   /* host [B][max_blocks]                            */
    const int32_t *context_lens;  /* host [B]                                        */
    const mk_kv_cache *cache;     /* the pool shape (any layer's cache of that shape) */
    int num_q_heads;              /* Hq, a multiple of the cache's num_kv_heads       */
    mk_dtype q_dtype;             /* F32, F16 or BF16                                */
    mk_attn_params params;
} mk_decode_plan_desc;
MK_API mk_status mk_decode_plan_create(mk_context *ctx, const mk_decode_plan_desc *desc, mk_plan **out);
MK_API mk_status mk_attention_decode_run(mk_context *ctx, const mk_plan *plan, const mk_tensor *q,
                                         const mk_kv_cache *cache, const mk_tensor *out);

/* KV-cache writes as plan + run: slot_mapping [n] (host) validated against cache's desc
   (the rules of mk_kv_cache_append); a run takes k, v [n, Hkv, D] and any cache whose
   desc equals it. pairs [n][2] (host) likewise for mk_kv_cache_copy_blocks. */
MK_API mk_status mk_kv_append_plan_create(mk_context *ctx, const mk_kv_cache *cache,
                                          const int32_t *slot_mapping, int64_t n, mk_plan **out);
MK_API mk_status mk_kv_cache_append_run(mk_context *ctx, const mk_plan *plan, mk_kv_cache *cache,
                                        const mk_tensor *k, const mk_tensor *v);
MK_API mk_status mk_kv_copy_plan_create(mk_context *ctx, const mk_kv_cache *cache, const int32_t *pairs,
                                        int64_t n, mk_plan **out);
MK_API mk_status mk_kv_cache_copy_blocks_run(mk_context *ctx, const mk_plan *plan, mk_kv_cache *cache);

/* ------------------------------------------------------------------ quantized GEMM */

typedef enum {
    MK_QW4 = 1, /* 4-bit, groups of 32/64/128 along K, f16 scale per group, zero 8 or u4 */
    MK_QW8,     /* int8 symmetric, f16 scale per output channel (group 0) or per group   */
    MK_QW8A8,   /* int8 per-channel f32 scale; activations int8 per token at run time    */
    MK_QFP8     /* e4m3 per-channel f32 scale; activations e4m3 per token at run time    */
} mk_qformat;

typedef struct {
    mk_qformat format;
    int64_t n;          /* output features (rows of W) */
    int64_t k;          /* input features              */
    int group_size;     /* QW4: 32/64/128 (k % group_size == 0); QW8: 0, 32, 64, 128; else 0 */
    int asymmetric;     /* QW4 only: per-group u4 zero points                              */
} mk_qweight_desc;

/*
 * Canonical host layout (the reference defines each bit; docs/numerics.md):
 *   QW4:  q      u8  [n][ceil(k/2)]  element k in the low nibble when k is even
 *         scales f16 [n][k/group]
 *         zeros  u8  [n][k/group]    0..15 (asymmetric) — NULL when symmetric (zero 8)
 *         w = scale * (q - zero)
 *   QW8:  q i8 [n][k], scales f16 [n][groups] (groups = 1 when group_size is 0)
 *   QW8A8: q i8 [n][k], scales f32 [n]
 *   QFP8: q e4m3 [n][k], scales f32 [n]
 *   k_perm i32 [k] or NULL: the GEMM reads x[:, k_perm[j]] as its input j (GPTQ
 *   act-order imported by reordering K). Must be a permutation.
 */
typedef struct {
    void *q;
    void *scales;
    void *zeros;
    int32_t *k_perm;
} mk_qweight_data;

/* Host arrays sized for desc (zeros/k_perm left NULL unless asked); free with
   mk_qweight_data_free. */
MK_API mk_status mk_qweight_data_alloc(const mk_qweight_desc *desc, int with_zeros, int with_perm,
                                       mk_qweight_data *out);
MK_API void      mk_qweight_data_free(mk_qweight_data *data);

/* Packs the canonical layout into the backend's preferred one (a copy: host data may be
   freed afterwards). */
MK_API mk_status mk_qweight_create(mk_context *ctx, const mk_qweight_desc *desc,
                                   const mk_qweight_data *data, mk_qweight **out);
MK_API void      mk_qweight_destroy(mk_qweight *qw);
MK_API mk_status mk_qweight_get_desc(const mk_qweight *qw, mk_qweight_desc *out);
/* Unpacks back into canonical host arrays (allocated by mk_qweight_data_alloc for the
   same desc, with zeros/perm when the weight has them). */
MK_API mk_status mk_qweight_read(const mk_qweight *qw, mk_qweight_data *out);

/* y [M, N] = x [M, K] . W^T (+ bias [N]). x F16 or BF16 (last dim stride 1), y the same
   dtype contiguous, bias the same dtype or NULL. */
MK_API mk_status mk_qgemm(mk_context *ctx, const mk_tensor *x, const mk_qweight *qw,
                          const mk_tensor *bias, const mk_tensor *y);

/* Importers: outside formats -> canonical layout (host only; allocate *data_out). */
typedef struct {
    const int32_t *qweight;  /* [k/8, n]      packed along K          */
    const int32_t *qzeros;   /* [k/group, n/8] packed along N, stored zero + 1 = zero */
    const uint16_t *scales;  /* f16 [k/group, n]                       */
    const int32_t *g_idx;    /* [k] or NULL (= i/group)                */
    int64_t n, k;
    int group_size;
    int symmetric;           /* 1: ignore qzeros, zero 8               */
} mk_gptq_tensors;

typedef struct {
    const int32_t *qweight;  /* [k, n/8] packed along N, interleaved order */
    const int32_t *qzeros;   /* [k/group, n/8] same packing            */
    const uint16_t *scales;  /* f16 [k/group, n]                       */
    int64_t n, k;
    int group_size;
} mk_awq_tensors;

typedef enum { MK_GGUF_Q4_0 = 2, MK_GGUF_Q8_0 = 8 } mk_gguf_type;

MK_API mk_status mk_import_gptq(const mk_gptq_tensors *in, mk_qweight_desc *desc_out,
                                mk_qweight_data *data_out);
MK_API mk_status mk_import_awq(const mk_awq_tensors *in, mk_qweight_desc *desc_out,
                               mk_qweight_data *data_out);
/* blocks: n rows, each k/32 blocks (18 bytes for Q4_0, 34 for Q8_0), little-endian. */
MK_API mk_status mk_import_gguf(mk_gguf_type type, const void *blocks, size_t bytes, int64_t n,
                                int64_t k, mk_qweight_desc *desc_out, mk_qweight_data *data_out);

/* ------------------------------------------------------------------ dense helpers */

/* y [M, N] = x [M, K] . w [N, K]^T (+ bias [N]); F32/F16/BF16, all the same dtype;
   x and w last dim stride 1; y contiguous. */
MK_API mk_status mk_gemm(mk_context *ctx, const mk_tensor *x, const mk_tensor *w,
                         const mk_tensor *bias, const mk_tensor *y);

/* y = x / rms(x) * w (or * (1 + w) when plus_one, Gemma) over the last dim.
   x, y [.., N] (last dim stride 1, y contiguous; y may alias x), w [N]. */
MK_API mk_status mk_rmsnorm(mk_context *ctx, const mk_tensor *x, const mk_tensor *w, float eps,
                            int plus_one, const mk_tensor *y);
/* y = (x - mean) / sqrt(var + eps) * w + b over the last dim; b may be NULL. */
MK_API mk_status mk_layernorm(mk_context *ctx, const mk_tensor *x, const mk_tensor *w,
                              const mk_tensor *b, float eps, const mk_tensor *y);

typedef enum { MK_ROPE_HALF = 0, /* rotate-half: pairs (i, i+R/2) (Llama, NeoX) */
               MK_ROPE_INTERLEAVED /* pairs (2i, 2i+1) (GPT-J)                 */ } mk_rope_style;
typedef enum { MK_ROPE_SCALING_NONE = 0, MK_ROPE_SCALING_LINEAR, MK_ROPE_SCALING_LLAMA3 } mk_rope_scaling;

/* {0} = rotate-half over all of D, theta 10000, no scaling. Every 0 field is its
   default: LLAMA3's factor 8, low_freq_factor 1, high_freq_factor 4 and
   original_max_position 8192 are Llama 3.1's. */
typedef struct {
    mk_rope_style style;
    float theta;                 /* base; 0 = 10000                                   */
    int rotary_dim;              /* dims rotated (even, <= D); 0 = D                  */
    mk_rope_scaling scaling;
    float factor;                /* LINEAR: positions / factor (0 = 1); LLAMA3: 0 = 8 */
    float low_freq_factor;       /* LLAMA3; 0 = 1                                     */
    float high_freq_factor;      /* LLAMA3; 0 = 4                                     */
    int original_max_position;   /* LLAMA3; 0 = 8192                                  */
} mk_rope_params;

/* In place: x [T, H, D] (last dim stride 1) rotated by positions [T] I32 (>= 0). */
MK_API mk_status mk_rope(mk_context *ctx, const mk_tensor *x, const mk_tensor *positions,
                         const mk_rope_params *params);
/* RoPE as plan + run: positions [n] (host, >= 0); a run rotates x [n, H, D] in place.
   One plan serves q and k of every layer. */
MK_API mk_status mk_rope_plan_create(mk_context *ctx, const int32_t *positions, int64_t n, mk_plan **out);
MK_API mk_status mk_rope_run(mk_context *ctx, const mk_plan *plan, const mk_tensor *x,
                             const mk_rope_params *params);

/* out = silu(gate) * up;  out = gelu(gate) * up (tanh approximation when approximate).
   gate, up, out [.., N] same shape and dtype (last dim stride 1, out contiguous). */
MK_API mk_status mk_silu_mul(mk_context *ctx, const mk_tensor *gate, const mk_tensor *up,
                             const mk_tensor *out);
MK_API mk_status mk_gelu_mul(mk_context *ctx, const mk_tensor *gate, const mk_tensor *up,
                             int approximate, const mk_tensor *out);
/* out = a + b, same shape and dtype; out may alias a or b. */
MK_API mk_status mk_add(mk_context *ctx, const mk_tensor *a, const mk_tensor *b, const mk_tensor *out);

/* ------------------------------------------------------------------ kernel parameters */

/* A tunable kernel parameter (tile or work-group size) on a context's device, and where
   its value comes from: "tuning file <path>", "default (<type>, <vendor>)",
   "default (<type>)" or "override". */
typedef struct {
    char op[32];       /* parameter group, usually an op name ("gemm", "norm", ...) */
    char name[32];
    int value;
    char source[160];
} mk_param_info;

/* The device's tunable parameters (none on the ref device). Writes up to cap entries;
   *count gets the total. */
MK_API mk_status mk_param_list(mk_context *ctx, mk_param_info *out, int cap, int *count);
/* Overrides one parameter on this context only (what `medkern tune` searches with); a
   value <= 0 removes the override. MK_ERR_UNSUPPORTED on a device without parameters. */
MK_API mk_status mk_param_set(mk_context *ctx, const char *op, const char *name, int value);
/* The tuning file this context's device reads (written by `medkern tune`). */
MK_API mk_status mk_tuning_file(const mk_context *ctx, char *path, size_t n);

/* ------------------------------------------------------------------ dispatcher */

typedef enum {
    MK_OP_ATTENTION_PREFILL = 0,
    MK_OP_ATTENTION_DECODE,
    MK_OP_KV_APPEND,
    MK_OP_KV_COPY_BLOCKS,
    MK_OP_QGEMM,
    MK_OP_GEMM,
    MK_OP_RMSNORM,
    MK_OP_LAYERNORM,
    MK_OP_ROPE,
    MK_OP_SILU_MUL,
    MK_OP_GELU_MUL,
    MK_OP_ADD,
    MK_OP_COUNT
} mk_op;

/* "attention_prefill", "attention_decode", "kv_append", "kv_copy_blocks", "qgemm",
   "gemm", "rmsnorm", "layernorm", "rope", "silu_mul", "gelu_mul", "add". */
MK_API const char *mk_op_name(mk_op op);
MK_API mk_status   mk_op_from_name(const char *name, mk_op *out);

/* The arguments of one op call, as the dispatcher and every variant see them. For the
   index-array ops, plan is the call's plan (NULL only in args given to mk_explain) and
   the index tensors are the plan's device copies (a one-shot call's are its own). */
typedef struct {
    mk_op op;
    union {
        struct { const mk_tensor *q, *k, *v, *cu_seqlens_q, *cu_seqlens_k, *out, *lse;
                 mk_attn_params params; const mk_plan *plan; } prefill;
        struct { const mk_tensor *q; const mk_kv_cache *cache; const mk_tensor *block_table,
                 *context_lens, *out; mk_attn_params params; const mk_plan *plan; } decode;
        struct { mk_kv_cache *cache; const mk_tensor *k, *v, *slot_mapping; const mk_plan *plan; } kv_append;
        struct { mk_kv_cache *cache; const mk_tensor *pairs; const mk_plan *plan; } kv_copy;
        struct { const mk_tensor *x; const mk_qweight *w; const mk_tensor *bias, *y; } qgemm;
        struct { const mk_tensor *x, *w, *bias, *y; } gemm;
        struct { const mk_tensor *x, *w, *b, *y; float eps; int plus_one; } norm;
        struct { const mk_tensor *x, *positions; mk_rope_params params; const mk_plan *plan; } rope;
        struct { const mk_tensor *a, *b, *out; int approximate; } binary; /* silu/gelu_mul, add */
    } u;
} mk_op_args;

typedef struct {
    mk_op op;
    const char *name;     /* "ref.scalar", "opencl.tiled", "cuda.fa2_mma" (static)   */
    const char *backend;  /* "ref", "opencl", "cuda"                                  */
    int priority;         /* higher wins among variants that support a call          */
    const char *summary;  /* one line                                                 */
} mk_kernel_info;

/* Registered variants of op (or of every op when op == MK_OP_COUNT). Writes up to cap
   entries; *count gets the total. */
MK_API mk_status mk_kernel_list(mk_op op, mk_kernel_info *out, int cap, int *count);
/* Explains the choice for op on ctx: the variant chosen and why every other variant was
   rejected. args may be NULL (device-level reasons only). Writes a NUL-terminated
   text (truncated to n). */
MK_API mk_status mk_explain(mk_context *ctx, mk_op op, const mk_op_args *args, char *buf, size_t n);
/* Forces a variant for op on ctx (NULL = automatic). MK_ERR_NOT_FOUND for an unknown
   name. The environment variable MEDKERN_KERNELS="op=name,op=name" sets the same at
   context creation. A forced variant that does not support a call fails it with
   MK_ERR_UNSUPPORTED (no silent fallback). */
MK_API mk_status mk_set_kernel(mk_context *ctx, mk_op op, const char *name);
/* Name of the variant that ran the last successful call of op on ctx, or NULL. */
MK_API const char *mk_last_kernel(const mk_context *ctx, mk_op op);

#ifdef __cplusplus
}
#endif
#endif /* MEDKERN_MEDKERN_H */
