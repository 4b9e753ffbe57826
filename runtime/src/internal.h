/*
 * Internal structures shared by the runtime core and the backends. Not installed.
 */
#ifndef MEDKERN_RUNTIME_INTERNAL_H
#define MEDKERN_RUNTIME_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "medkern/medkern.h"
#include "backend.h"

struct mk_context {
    const mk_backend *backend;
    int local_device;                 /* index within the backend            */
    mk_device_info info;
    void *impl;                       /* backend state (queue, stream, ...)  */
    const mk_kernel *forced[MK_OP_COUNT]; /* mk_set_kernel / MEDKERN_KERNELS */
    const mk_kernel *last[MK_OP_COUNT];   /* variant of the last call        */
    void *scratch;                    /* host scratch for index checks (grows) */
    size_t scratch_bytes;
    int lost;                         /* the device is gone: calls fail (mk__alive) */
    char lost_why[256];               /* the failure that lost it                  */
    mk_sync_counters sync_counts;     /* mk_context_sync_counters                  */
    mk_buffer *oneshot_workspace;     /* workspace of one-shot calls' plans (grows) */
};

struct mk_buffer {
    mk_context *ctx;
    size_t bytes;
    void *mem;                        /* backend handle (host pointer for ref) */
};

struct mk_event {
    mk_context *ctx;
    void *impl;
    int recorded;
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

/* ---- errors (error.c) */
/* Sets the thread-local message and returns s. */
mk_status mk__fail(mk_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
mk_status mk__vfail(mk_status s, const char *fmt, va_list ap);
/* MK_ERR_DEVICE for a failure that means the device is gone (device lost, a sticky
   driver error): backends call it instead of mk__fail, and the runtime then marks the
   context lost (mk__device_result). */
mk_status mk__fail_lost(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* 1 when the last message on this thread came from mk__fail_lost. */
int mk__last_error_is_loss(void);

/* ---- a lost device (context.c) */
/* MK_OK, or MK_ERR_DEVICE "context lost: ..." when ctx's device is gone. Every call that
   would touch the device checks it first. */
mk_status mk__alive(const mk_context *ctx);
/* Passes s through; a device-loss failure (mk__fail_lost) marks ctx lost on the way. */
mk_status mk__device_result(mk_context *ctx, mk_status s);

/* ---- host allocations (alloc.c) and fault injection (fault.c)
   The library allocates host memory only through these (same contracts as the C
   library's), so MEDKERN_FAULT_HOST_ALLOC=N can fail the Nth allocation and the
   accounting can count what is still live. Backends consult mk__fault_device_alloc()
   before every device allocation, call mk__device_live(+1/-1) after one succeeds or is
   released, and consult mk__fault_device_lost() before every queue call (enqueue,
   copy, finish, launch), failing it as their driver would when it says 1. */
typedef enum { MK_FAULT_HOST_ALLOC, MK_FAULT_DEVICE_ALLOC, MK_FAULT_DEVICE_LOST, MK_FAULT_KINDS } mk_fault_kind;
/* The call site (file, line, function) is what the report names. */
typedef struct { const char *file; int line; const char *func; } mk_site;
#define MK_SITE ((mk_site){__FILE__, __LINE__, __func__})
extern int mk__fault_mode;            /* -1 not read yet, 0 off, 1 on */
int mk__fault_init(void);
int mk__fault_point(mk_fault_kind kind, mk_site at);
void mk__fault_live(mk_fault_kind kind, int delta);
static inline int mk__fault_on(void) {
    int m = __atomic_load_n(&mk__fault_mode, __ATOMIC_ACQUIRE);
    return __builtin_expect(m == 0, 1) ? 0 : m > 0 ? 1 : mk__fault_init();
}
void *mk__malloc_at(size_t n, mk_site at);
void *mk__calloc_at(size_t n, size_t size, mk_site at);
void *mk__realloc_at(void *p, size_t n, mk_site at);
void *mk__aligned_alloc_at(size_t align, size_t n, mk_site at);
char *mk__strdup_at(const char *s, mk_site at);
void mk__free(void *p);
#define mk__malloc(n) mk__malloc_at((n), MK_SITE)
#define mk__calloc(n, size) mk__calloc_at((n), (size), MK_SITE)
#define mk__realloc(p, n) mk__realloc_at((p), (n), MK_SITE)
#define mk__aligned_alloc(align, n) mk__aligned_alloc_at((align), (n), MK_SITE)
#define mk__strdup(s) mk__strdup_at((s), MK_SITE)
#define mk__fault_device_alloc() mk__fault_device_alloc_at(MK_SITE)
#define mk__fault_device_alloc_at(at) (mk__fault_on() && mk__fault_point(MK_FAULT_DEVICE_ALLOC, (at)))
#define mk__fault_device_lost() (mk__fault_on() && mk__fault_point(MK_FAULT_DEVICE_LOST, MK_SITE))
#define mk__device_live(delta) (mk__fault_on() ? mk__fault_live(MK_FAULT_DEVICE_ALLOC, (delta)) : (void)0)

/* ---- host scratch of a context (context.c): at least `bytes`, reused between calls */
void *mk__scratch(mk_context *ctx, size_t bytes);

/* ---- validation layer (validate.c): the one place arguments are checked */
mk_status mk__validate(mk_context *ctx, const mk_op_args *args);
/* Replaces the zero fields of args' params that mean a default by that default (the
   scale's 0 = 1/sqrt(D) and the window's 0 = none stay for the variants to read). */
void mk__apply_defaults(mk_op_args *args);
mk_status mk__check_attn_params(const mk_attn_params *p);
mk_status mk__validate_qweight(const mk_qweight_desc *desc, const mk_qweight_data *data);
mk_status mk__validate_kv_desc(const mk_kv_cache_desc *desc);
/* Rows of a row-collapsible tensor (all dims but the last laid out densely): *rows and
   the stride between rows in elements. 0 when not collapsible. */
int mk__tensor_rows(const mk_tensor *t, int64_t *rows, int64_t *row_stride);
int mk__tensor_is_contiguous(const mk_tensor *t);
size_t mk__tensor_numel(const mk_tensor *t);

/* ---- index arrays of a plan (validate.c): the host-side checks, messages naming the
   argument as the one-shot calls know it */
mk_status mk__check_cu_seqlens(const int32_t *cu, int64_t b1, int64_t total, const char *name,
                               const char *total_name);
mk_status mk__check_decode_indices(const int32_t *block_table, const int32_t *context_lens, int64_t B,
                                   int64_t max_blocks, const mk_kv_cache_desc *cache);
/* sorted: scratch of n entries */
mk_status mk__check_slots(const int32_t *slots, int64_t n, const mk_kv_cache_desc *cache, int32_t *sorted);
mk_status mk__check_pairs(const int32_t *pairs, int64_t n, const mk_kv_cache_desc *cache, int32_t *sorted);
mk_status mk__check_positions(const int32_t *pos, int64_t n);
/* The run's arguments against its plan (descriptor checks only). */
mk_status mk__validate_plan_args(const mk_context *ctx, const mk_op_args *args);

/* ---- plans (plan.c) */
/* The plan of a one-shot call: reads args' index tensors back to host scratch (counted
   readbacks), validates them and fills *plan, whose index[] are args' own tensors. */
mk_status mk__plan_oneshot(mk_context *ctx, const mk_op_args *args, mk_plan *plan);
/* Points args' index tensors and plan at plan (a run call). */
void mk__args_use_plan(mk_op_args *args, const mk_plan *plan);
/* The plan an index-array op's args carry (NULL for other ops). */
const mk_plan *mk__args_plan(const mk_op_args *args);
/* Asks variant k for plan's partition and gives it a workspace: the plan's own (a new
   buffer) when own, else the context's one-shot workspace (grown as needed). */
mk_status mk__plan_work(mk_context *ctx, const mk_kernel *k, const mk_op_args *args, mk_plan *plan, int own);

/* ---- dispatcher (dispatch.c) */
/* Validates args, picks the variant, runs it and records it. An index-array op with
   args->u.<op>.plan NULL is a one-shot call: its plan is made here. */
mk_status mk__run(mk_context *ctx, const mk_op_args *args);
/* The variant the dispatcher picks for args (validated) on ctx; NULL with every reason in
   why. */
const mk_kernel *mk__choose(const mk_context *ctx, const mk_op_args *args, char *why, size_t n);
/* Applies MEDKERN_KERNELS to a new context. */
mk_status mk__apply_env_overrides(mk_context *ctx);

/* ---- devices (device.c) */
/* Backend and local index of a global device index. */
mk_status mk__device_backend(int index, const mk_backend **backend, int *local);

#endif
