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
    mk_sync_counters sync_counts;     /* mk_context_sync_counters                  */
    mk_buffer *oneshot_workspace;     /* workspace of one-shot calls' plans (grows) */
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
/* Replaces the zero fields of args' params that mean a default by that default (the
   scale's 0 = 1/sqrt(D) and the window's 0 = none stay for the variants to read). */
void mk__apply_defaults(mk_op_args *args);
mk_status mk__check_attn_params(const mk_attn_params *p);
mk_status mk__validate_qweight(const mk_qweight_desc *desc, const mk_qweight_data *data);
mk_status mk__validate_kv_desc(const mk_kv_cache_desc *desc);

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
