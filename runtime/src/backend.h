/*
 * The backend interface: one vtable per backend, plus the kernel variants it registers.
 *
 * Adding an accelerator = one mk_backend (device enumeration, memory, copies,
 * synchronisation, events, weight packing) + its kernels, each an mk_kernel with a
 * supports() that gives a reason when it says no. docs/porting.md walks through it with
 * the OpenCL backend as the worked example; the ref backend (backends/ref) is the
 * smallest one and the threads backend (backends/threads) the smallest with real kernels.
 *
 * The runtime has validated every argument before a backend sees it: shapes, dtypes,
 * strides, extents within their buffers and index values. Backends check only what is
 * theirs to know (device limits, extensions).
 */
#ifndef MEDKERN_RUNTIME_BACKEND_H
#define MEDKERN_RUNTIME_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "medkern/medkern.h"

typedef struct mk_work mk_work; /* a plan's work partition (below) */

typedef struct mk_kernel {
    mk_op op;
    const char *name;      /* "<backend>.<variant>", unique */
    const char *backend;
    int priority;          /* higher wins among the variants that support a call */
    const char *summary;
    /* 1 when the variant can run args on ctx; 0 with a reason in why[0..n). args is NULL
       for device-level questions (mk_explain without arguments, `medkern kernels`). */
    int (*supports)(const mk_context *ctx, const mk_op_args *args, char *why, size_t n);
    mk_status (*run)(mk_context *ctx, const mk_op_args *args);
    /* Work partition for a plan (optional; decode variants): fills work from args (the
       plan's facts in args->u.<op>.plan, shapes of the plan's query). Pure host
       arithmetic: no device call. The dispatcher calls it once per plan; run then reads
       args->u.<op>.plan->work and ->workspace. */
    mk_status (*plan)(const mk_context *ctx, const mk_op_args *args, mk_work *work);
} mk_kernel;

typedef struct mk_backend {
    const char *name;
    /* Devices: count is 0 (not an error) when the runtime or driver is absent. */
    int (*device_count)(void);
    mk_status (*device_info)(int local, mk_device_info *out);
    /* Context: sets ctx->impl for device ctx->local_device. */
    mk_status (*context_init)(mk_context *ctx);
    void (*context_fini)(mk_context *ctx);
    /* Memory: *mem is an opaque handle; offsets and sizes are validated by the caller. */
    mk_status (*buffer_alloc)(mk_context *ctx, size_t bytes, void **mem);
    void (*buffer_free)(mk_context *ctx, void *mem);
    mk_status (*buffer_write)(mk_context *ctx, void *mem, size_t off, const void *src, size_t n);
    mk_status (*buffer_read)(mk_context *ctx, void *mem, size_t off, void *dst, size_t n);
    mk_status (*buffer_fill)(mk_context *ctx, void *mem, size_t off, uint8_t byte, size_t n);
    mk_status (*buffer_copy)(mk_context *ctx, void *dst, size_t dst_off, void *src, size_t src_off,
                             size_t n);
    mk_status (*synchronize)(mk_context *ctx);
    /* Events for timing on the context's stream. */
    mk_status (*event_create)(mk_context *ctx, void **ev);
    void (*event_destroy)(mk_context *ctx, void *ev);
    mk_status (*event_record)(mk_context *ctx, void *ev);
    mk_status (*event_elapsed_ms)(mk_context *ctx, void *start, void *end, float *ms);
    /* Quantized weights: pack the canonical layout (validated) into qw->impl; read unpacks
       back into canonical arrays. */
    mk_status (*qweight_create)(mk_context *ctx, mk_qweight *qw, const mk_qweight_data *data);
    void (*qweight_destroy)(mk_qweight *qw);
    mk_status (*qweight_read)(const mk_qweight *qw, mk_qweight_data *out);
    /* Tunable parameters (optional: NULL when the backend has none). list returns the
       total and writes up to cap entries; set overrides one on the context (value <= 0
       removes it); tuning_file gives the path the device's tuning file is read from. */
    int (*param_list)(mk_context *ctx, mk_param_info *out, int cap);
    mk_status (*param_set)(mk_context *ctx, const char *op, const char *name, int value);
    mk_status (*tuning_file)(const mk_context *ctx, char *path, size_t n);
    /* Tuned variant choice (optional): the name of the variant the device's tuning file
       prefers for op (args may be NULL: the op-wide entry), or NULL when it names none;
       source[0..n) gets where the name comes from (the file, and the entry's key). The
       string lives as long as the context. The dispatcher checks the name (a variant of
       this backend for op whose supports() says yes) and otherwise ignores it. */
    const char *(*tuned_variant)(const mk_context *ctx, mk_op op, const mk_op_args *args, char *source,
                                 size_t n);
    /* Kernel variants of this backend. */
    const mk_kernel *const *(*kernels)(int *count);
    /* The native queue ops go to (cudaStream_t, cl_command_queue; optional). */
    void *(*native_queue)(const mk_context *ctx);
} mk_backend;

/* The backends compiled in (device.c lists them). */
extern const mk_backend mk_backend_ref;
#ifdef MEDKERN_HAVE_CUDA
extern const mk_backend mk_backend_cuda;
#endif
#ifdef MEDKERN_HAVE_OPENCL
extern const mk_backend mk_backend_opencl;
#endif
#ifdef MEDKERN_HAVE_THREADS
extern const mk_backend mk_backend_threads; /* the example backend (docs/porting.md) */
#endif

/* ---- plans (runtime/src/plan.c): what a run's variant sees of its plan */

/* The work partition of a plan, filled by the variant's plan hook. */
struct mk_work {
    int splits;              /* decode: KV splits per sequence; 1 = no split               */
    int chunk;               /* decode: keys per split, a multiple of the variant's tile   */
    size_t workspace_bytes;  /* device workspace the runs need (0 = none)                  */
};

/* Every field is set by plan creation and read-only afterwards. index[i] are device
   tensors holding host[i] (the plan's copies, or a one-shot call's own tensors), in the
   order of the op's index arguments: prefill (cu_seqlens_q, cu_seqlens_k), decode
   (block_table, context_lens), rope (positions), kv_append (slot_mapping), kv_copy
   (pairs). host[i] were validated and stay valid for the plan's life. */
struct mk_plan {
    mk_context *ctx;
    mk_op op;
    int64_t n;                 /* B (prefill, decode), tokens (rope, kv_append), pairs   */
    int64_t total_q, total_k;  /* prefill: cu_seqlens_q[B], cu_seqlens_k[B]              */
    int64_t max_q, max_k;      /* prefill: longest query / key sequence; decode: max_k =
                                  most keys any query sees (context, window applied)      */
    int64_t max_blocks;        /* decode: block_table columns                             */
    int num_q_heads;           /* decode                                                  */
    mk_dtype q_dtype;          /* decode                                                  */
    mk_kv_cache_desc cache;    /* decode, kv_append, kv_copy: the pool shape              */
    mk_attn_params params;     /* prefill, decode                                         */
    const int32_t *host[2];
    mk_tensor index[2];
    const mk_kernel *variant;  /* decode: the variant work was made for                   */
    mk_work work;
    mk_buffer *workspace;      /* work.workspace_bytes of device memory, NULL when 0      */
    /* owned by the core */
    mk_buffer *device_copy;    /* holds index[]; NULL when they are a one-shot call's     */
    void *host_copy;
};

/* The one split-KV partition rule (runtime/src/splitkv.c), each backend's numbers as
   parameters: enough work-groups to give every compute unit per_unit of them, no split
   shorter than min_chunk keys, at most max_splits, chunks whole tiles. Made for the
   power-of-two bucket of max_keys, so consecutive decode steps keep their partition. */
typedef struct {
    int compute_units;       /* SMs, OpenCL compute units (>= 1)                   */
    int per_unit;            /* work-groups per compute unit the partition aims for */
    int min_chunk;           /* keys                                              */
    int max_splits;
    int tile;                /* keys per tile; chunks are multiples of it           */
} mk_splitkv_params;
void mk__splitkv_partition(const mk_splitkv_params *p, int64_t groups, int64_t max_keys, mk_work *w);
/* Bytes of the decode workspace for a partition: partial outputs [B][Hq][splits][D]
   then (m, l) [B][Hq][splits][2], f32; 0 when splits is 1. */
size_t mk__splitkv_workspace_bytes(int64_t B, int64_t Hq, int64_t D, int splits);

/* Host waits and copies inside a backend (anything other than its buffer_read,
   buffer_write, synchronize and event_elapsed_ms, which the core counts): call once
   per wait so mk_context_sync_counters stays true. */
void mk__note_sync(mk_context *ctx);

/* The window as FlashAttention-2's window_left: a query sees keys j >= i' - window_left;
   -1 = no window. */
static inline int mk__window_left(const mk_attn_params *p) { return p->window > 0 ? p->window - 1 : -1; }

/* Helpers for backends (runtime/src/error.c). */
/* Formats a supports() reason; returns 0 so `return mk__why(why, n, "...")` reads well. */
int mk__why(char *why, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
