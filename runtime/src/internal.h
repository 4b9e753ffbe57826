/*
 * The core's own structures and functions (runtime/src only; backends see
 * medkern/backend.h and nothing of this file). Not installed.
 */
#ifndef MEDKERN_RUNTIME_INTERNAL_H
#define MEDKERN_RUNTIME_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "medkern/medkern.h"
#include "medkern/backend.h"

/* The core's part of a context (context.c allocates it with the context). */
struct mk_context_core {
    const mk_kernel *forced[MK_OP_COUNT]; /* mk_set_kernel / MEDKERN_KERNELS */
    const mk_kernel *last[MK_OP_COUNT];   /* variant of the last call        */
    void *scratch;                    /* host scratch for index checks (grows) */
    size_t scratch_bytes;
    char lost_why[256];               /* the failure that lost the context (ctx->lost) */
};

struct mk_event {
    mk_context *ctx;
    void *impl;
    int recorded;
};

/* ---- errors (error.c); mk__fail, mk__fail_lost and mk__why are in medkern/backend.h */
/* 1 when the last message on this thread came from mk__fail_lost. */
int mk__last_error_is_loss(void);

/* ---- a lost device (context.c) */
/* MK_OK, or MK_ERR_DEVICE "context lost: ..." when ctx's device is gone. Every call that
   would touch the device checks it first. */
mk_status mk__alive(const mk_context *ctx);
/* Passes s through; a device-loss failure (mk__fail_lost) marks ctx lost on the way. */
mk_status mk__device_result(mk_context *ctx, mk_status s);

/* ---- validation layer (validate.c): the one place arguments are checked */
mk_status mk__validate(mk_context *ctx, const mk_op_args *args);
mk_status mk__validate_qweight(const mk_qweight_desc *desc, const mk_qweight_data *data);
mk_status mk__validate_kv_desc(const mk_kv_cache_desc *desc);

/* ---- dispatcher (dispatch.c) */
/* Validates args, picks the variant, runs it and records it. */
mk_status mk__run(mk_context *ctx, const mk_op_args *args);
/* Applies MEDKERN_KERNELS to a new context. */
mk_status mk__apply_env_overrides(mk_context *ctx);

/* ---- backends (backend_loader.c): the one table, ref first, then the modules in the
   order cuda, opencl, threads, then any other module of MEDKERN_BACKEND_PATH by name.
   Built once (pthread_once) at the first call of either function; read-only after. */
int mk__backend_count(void);
/* The backend of slot i (NULL when that module did not load) and its device count. */
const mk_backend *mk__backend_at(int i, int *devices);

/* ---- devices (device.c) */
/* Backend and local index of a global device index. */
mk_status mk__device_backend(int index, const mk_backend **backend, int *local);

#endif
