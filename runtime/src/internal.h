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

/* ---- host scratch of a context (context.c): at least `bytes`, reused between calls */
void *mk__scratch(mk_context *ctx, size_t bytes);

/* ---- validation layer (validate.c): the one place arguments are checked */
mk_status mk__validate(mk_context *ctx, const mk_op_args *args);
mk_status mk__validate_qweight(const mk_qweight_desc *desc, const mk_qweight_data *data);
mk_status mk__validate_kv_desc(const mk_kv_cache_desc *desc);
/* Rows of a row-collapsible tensor (all dims but the last laid out densely): *rows and
   the stride between rows in elements. 0 when not collapsible. */
int mk__tensor_rows(const mk_tensor *t, int64_t *rows, int64_t *row_stride);
int mk__tensor_is_contiguous(const mk_tensor *t);
size_t mk__tensor_numel(const mk_tensor *t);

/* ---- dispatcher (dispatch.c) */
/* Validates args, picks the variant, runs it and records it. */
mk_status mk__run(mk_context *ctx, const mk_op_args *args);
/* Applies MEDKERN_KERNELS to a new context. */
mk_status mk__apply_env_overrides(mk_context *ctx);

/* ---- devices (device.c) */
/* Backend and local index of a global device index. */
mk_status mk__device_backend(int index, const mk_backend **backend, int *local);

#endif
