/*
 * medkern/backend.h: the interface between libmedkern and a backend module.
 *
 * A backend is a shared object named libmedkern-<name>.so that exports one function,
 * mk_backend_module_init (MK_BACKEND_ENTRY_POINT), returning its mk_backend table. The
 * core finds modules beside libmedkern and in MEDKERN_BACKEND_PATH, loads them at the
 * first device enumeration and checks the table (runtime/src/backend_loader.c;
 * docs/porting.md walks through building one out of tree). This header, medkern.h and
 * the services declared below are everything a backend sees of the core.
 *
 * The core has validated every argument before a backend sees it: shapes, dtypes,
 * strides, extents within their buffers and index values. Backends check only what is
 * theirs to know (device limits, extensions).
 *
 * Compatibility: a module works with the core whose MK_BACKEND_ABI_VERSION it was built
 * against and no other; any change to a struct or signature of this header increments it.
 */
#ifndef MEDKERN_BACKEND_H
#define MEDKERN_BACKEND_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "medkern/medkern.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MK_BACKEND_ABI_VERSION 1

/* Core services for backends: exported by libmedkern (which modules link). */
#define MK_BACKEND_API MK_API
/* What a module marks its entry point with (the module is built -fvisibility=hidden). */
#if defined(__GNUC__)
#define MK_BACKEND_EXPORT __attribute__((visibility("default")))
#else
#define MK_BACKEND_EXPORT
#endif

typedef struct mk_backend mk_backend;

/* ------------------------------------------------------------------ objects */

/* A context as a backend sees it. The core creates and destroys it; a backend sets impl
   in context_init and reads the rest. */
struct mk_context {
    const mk_backend *backend;
    int local_device;                 /* index within the backend            */
    mk_device_info info;
    void *impl;                       /* backend state (queue, stream, ...)  */
    int lost;                         /* the device is gone (a loss was reported): release
                                         host state only, issue no device call */
    struct mk_context_core *core;     /* the core's own state (not for backends) */
};

struct mk_buffer {
    mk_context *ctx;
    size_t bytes;
    void *mem;                        /* backend handle (host pointer for ref) */
};

struct mk_kv_cache {
    mk_context *ctx;
    mk_kv_cache_desc desc;
    mk_buffer *k, *v;                 /* [num_blocks][block_size][Hkv][D]        */
    mk_buffer *k_scale, *v_scale;     /* [num_blocks][block_size][Hkv] f32 or NULL */
};

struct mk_qweight {
    mk_context *ctx;
    mk_qweight_desc desc;
    int has_zeros;
    int has_perm;
    void *impl;                       /* backend's packed form */
};

/* ------------------------------------------------------------------ the kernel table */

typedef struct mk_work mk_work; /* a plan's work partition (below) */

typedef struct mk_kernel {
    mk_op op;
    const char *name;      /* "<backend>.<variant>", unique */
    const char *backend;   /* the mk_backend's name */
    int priority;          /* higher wins among the variants that support a call */
    const char *summary;
    /* 1 when the variant can run args on ctx; 0 with a reason in why[0..n) (mk__why).
       args is NULL for device-level questions (mk_explain without arguments, `medkern
       kernels`). */
    int (*supports)(const mk_context *ctx, const mk_op_args *args, char *why, size_t n);
    mk_status (*run)(mk_context *ctx, const mk_op_args *args);
    /* Work partition for a plan (optional; attention variants): fills work from args (the
       plan's facts in args->u.<op>.plan, the shapes of the plan's query). Pure host
       arithmetic: no device call. The dispatcher calls it once per plan; run then reads
       args->u.<op>.plan->work and ->workspace. */
    mk_status (*plan)(const mk_context *ctx, const mk_op_args *args, mk_work *work);
} mk_kernel;

/* ------------------------------------------------------------------ plans */

/* The work partition of a plan, filled by the variant's plan hook. */
struct mk_work {
    int splits;              /* decode: KV splits per sequence; 1 = no split               */
    int chunk;               /* decode: keys per split, a multiple of the variant's tile   */
    int tile_rows;           /* prefill: query rows per tile (0 = no tile map); the plan's
                                workspace then holds the tile map [num_tiles][2] i32 of
                                (sequence, first row), the tiles with most work first     */
    int64_t num_tiles;       /* prefill: entries of the tile map (set by the core)         */
    size_t workspace_bytes;  /* device workspace the runs need (0 = none; the core sizes
                                it for a tile map)                                        */
};

/* Every field is set by plan creation and read-only afterwards. index[i] are device
   tensors holding host[i] (the plan's copies, or a one-shot call's own tensors), in the
   order of the op's index arguments: prefill (cu_seqlens_q, cu_seqlens_k), decode
   (block_table, context_lens), rope (positions), kv_append (slot_mapping), kv_copy
   (pairs). host[i] were validated and stay valid for the plan's life; kernels must not
   trust index[i] (clamp block indices, slots and sequence bounds to the buffers). */
struct mk_plan {
    mk_context *ctx;
    mk_op op;
    int64_t n;                 /* B (prefill, decode), tokens (rope, kv_append), pairs   */
    int64_t total_q, total_k;  /* prefill: cu_seqlens_q[B], cu_seqlens_k[B]              */
    int64_t max_q, max_k;      /* prefill: longest query / key sequence; decode: max_k =
                                  most keys any query sees (context, window applied)      */
    int64_t max_blocks;        /* decode: block_table columns                             */
    int num_q_heads;           /* decode, prefill                                         */
    int num_kv_heads, head_dim; /* prefill (decode: the cache's)                          */
    mk_dtype q_dtype;          /* decode, prefill                                         */
    mk_kv_cache_desc cache;    /* decode, kv_append, kv_copy: the pool shape              */
    mk_attn_params params;     /* prefill, decode                                         */
    const int32_t *host[2];
    mk_tensor index[2];
    const mk_kernel *variant;  /* the variant work was made for (prefill, decode)          */
    mk_work work;
    mk_buffer *workspace;      /* work.workspace_bytes of device memory, NULL when 0      */
    /* owned by the core */
    mk_buffer *device_copy;    /* holds index[]; NULL when they are a one-shot call's     */
    void *host_copy;
};

/* The window as FlashAttention-2's window_left: a query sees keys j >= i' - window_left;
   -1 = no window. */
static inline int mk__window_left(const mk_attn_params *p) { return p->window > 0 ? p->window - 1 : -1; }

/* ------------------------------------------------------------------ the backend table */

struct mk_backend {
    int abi_version;       /* MK_BACKEND_ABI_VERSION */
    const char *name;      /* device ids are "<name>:<i>"; the module is libmedkern-<name>.so */
    /* Rank of a device of this backend for mk_device_find("auto"): the highest wins, the
       first device among equals; below 0, or a NULL hook, is never chosen. The in-tree
       ranks: cuda 50; opencl GPU 40, accelerator 35, CPU 30; ref 0. */
    int (*auto_rank)(const mk_device_info *d);
    /* Devices: count is 0 (not an error) when the runtime or driver is absent. Called
       once, at the first device enumeration. */
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
       back into canonical arrays. A backend without them returns MK_ERR_UNSUPPORTED. */
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
    /* Kernel variants of this backend; the table lives as long as the process. */
    const mk_kernel *const *(*kernels)(int *count);
    /* The native queue ops go to (cudaStream_t, cl_command_queue; optional). */
    void *(*native_queue)(const mk_context *ctx);
};

/* ------------------------------------------------------------------ the entry point */

/* Returns the module's table, or NULL with the reason in why[0..n) (no driver is not a
   reason: return the table and let device_count say 0). abi_version is the core's
   MK_BACKEND_ABI_VERSION; a module built against another one returns NULL. */
typedef const mk_backend *(*mk_backend_module_init_fn)(int abi_version, char *why, size_t n);
#define MK_BACKEND_ENTRY_POINT "mk_backend_module_init"
MK_BACKEND_EXPORT const mk_backend *mk_backend_module_init(int abi_version, char *why, size_t n);

/* ------------------------------------------------------------------ core services */

/* Errors: set the thread-local message (mk_last_error) and return s. */
MK_BACKEND_API mk_status mk__fail(mk_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
MK_BACKEND_API mk_status mk__vfail(mk_status s, const char *fmt, va_list ap);
/* MK_ERR_DEVICE for a failure that means the device is gone (device lost, a sticky
   driver error): backends call it instead of mk__fail, and the core then marks the
   context lost. */
MK_BACKEND_API mk_status mk__fail_lost(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Formats a supports() reason; returns 0 so `return mk__why(why, n, "...")` reads well. */
MK_BACKEND_API int mk__why(char *why, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Host allocations and fault injection. Backends allocate host memory only through
   these (same contracts as the C library's), so MEDKERN_FAULT_HOST_ALLOC=N can fail the
   Nth allocation and the accounting can count what is still live. Backends consult
   mk__fault_device_alloc() before every device allocation, call mk__device_live(+1/-1)
   after one succeeds or is released, and consult mk__fault_device_lost() before every
   queue call (enqueue, copy, finish, launch), failing it as their driver would when it
   says 1. */
typedef enum { MK_FAULT_HOST_ALLOC, MK_FAULT_DEVICE_ALLOC, MK_FAULT_DEVICE_LOST, MK_FAULT_KINDS } mk_fault_kind;
/* The call site (file, line, function) is what the report names. */
typedef struct { const char *file; int line; const char *func; } mk_site;
#define MK_SITE ((mk_site){__FILE__, __LINE__, __func__})
MK_BACKEND_API extern int mk__fault_mode;  /* -1 not read yet, 0 off, 1 on */
MK_BACKEND_API int mk__fault_init(void);
MK_BACKEND_API int mk__fault_point(mk_fault_kind kind, mk_site at);
MK_BACKEND_API void mk__fault_live(mk_fault_kind kind, int delta);
static inline int mk__fault_on(void) {
    int m = __atomic_load_n(&mk__fault_mode, __ATOMIC_ACQUIRE);
    return __builtin_expect(m == 0, 1) ? 0 : m > 0 ? 1 : mk__fault_init();
}
MK_BACKEND_API void *mk__malloc_at(size_t n, mk_site at);
MK_BACKEND_API void *mk__calloc_at(size_t n, size_t size, mk_site at);
MK_BACKEND_API void *mk__realloc_at(void *p, size_t n, mk_site at);
MK_BACKEND_API void *mk__aligned_alloc_at(size_t align, size_t n, mk_site at);
MK_BACKEND_API char *mk__strdup_at(const char *s, mk_site at);
MK_BACKEND_API void mk__free(void *p);
#define mk__malloc(n) mk__malloc_at((n), MK_SITE)
#define mk__calloc(n, size) mk__calloc_at((n), (size), MK_SITE)
#define mk__realloc(p, n) mk__realloc_at((p), (n), MK_SITE)
#define mk__aligned_alloc(align, n) mk__aligned_alloc_at((align), (n), MK_SITE)
#define mk__strdup(s) mk__strdup_at((s), MK_SITE)
#define mk__fault_device_alloc() mk__fault_device_alloc_at(MK_SITE)
#define mk__fault_device_alloc_at(at) (mk__fault_on() && mk__fault_point(MK_FAULT_DEVICE_ALLOC, (at)))
#define mk__fault_device_lost() (mk__fault_on() && mk__fault_point(MK_FAULT_DEVICE_LOST, MK_SITE))
#define mk__device_live(delta) (mk__fault_on() ? mk__fault_live(MK_FAULT_DEVICE_ALLOC, (delta)) : (void)0)

/* Host scratch of a context: at least `bytes`, reused between calls, freed with the
   context; NULL when out of memory. */
MK_BACKEND_API void *mk__scratch(mk_context *ctx, size_t bytes);

/* Tensor helpers. Rows of a row-collapsible tensor (all dims but the last laid out
   densely): *rows and the stride between rows in elements; 0 when not collapsible. */
MK_BACKEND_API int mk__tensor_rows(const mk_tensor *t, int64_t *rows, int64_t *row_stride);
MK_BACKEND_API int mk__tensor_is_contiguous(const mk_tensor *t);
MK_BACKEND_API size_t mk__tensor_numel(const mk_tensor *t);

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
MK_BACKEND_API void mk__splitkv_partition(const mk_splitkv_params *p, int64_t groups, int64_t max_keys, mk_work *w);
/* Bytes of the decode workspace for a partition: partial outputs [B][Hq][splits][D]
   then (m, l) [B][Hq][splits][2], f32; 0 when splits is 1. */
MK_BACKEND_API size_t mk__splitkv_workspace_bytes(int64_t B, int64_t Hq, int64_t D, int splits);

/* Host waits and copies inside a backend (anything other than its buffer_read,
   buffer_write, synchronize and event_elapsed_ms, which the core counts): call once
   per wait so mk_context_sync_counters stays true. */
MK_BACKEND_API void mk__note_sync(mk_context *ctx);

#ifdef __cplusplus
}
#endif

#endif
