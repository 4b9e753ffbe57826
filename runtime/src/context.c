/* Contexts: one device, one stream/queue, the per-context kernel choices. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* A context and the core's part of it, in one allocation. */
typedef struct {
    mk_context ctx;
    struct mk_context_core core;
} mk_context_alloc;

mk_status mk_context_create(const char *device, mk_context **out) {
    if (!out) return mk__fail(MK_ERR_INVALID_ARGUMENT, "out is NULL");
    *out = NULL;
    if (!device) return mk__fail(MK_ERR_INVALID_ARGUMENT, "device is NULL");
    int index;
    mk_status s = mk_device_find(device, &index);
    if (s != MK_OK) return s;
    mk_context_alloc *both = mk__calloc(1, sizeof *both);
    if (!both) return mk__fail(MK_ERR_OUT_OF_MEMORY, "out of host memory for the context");
    mk_context *ctx = &both->ctx;
    ctx->core = &both->core;
    if ((s = mk__device_backend(index, &ctx->backend, &ctx->local_device)) != MK_OK ||
        (s = mk_device_get_info(index, &ctx->info)) != MK_OK) {
        mk__free(ctx);
        return s;
    }
    if ((s = ctx->backend->context_init(ctx)) != MK_OK) {
        mk__free(ctx);
        return s;
    }
    if ((s = mk__apply_env_overrides(ctx)) != MK_OK) {
        mk_context_destroy(ctx);
        return s;
    }
    *out = ctx;
    return MK_OK;
}

void mk_context_destroy(mk_context *ctx) {
    if (!ctx) return;
    mk_buffer_free(ctx->core->oneshot_workspace);
    ctx->backend->context_fini(ctx);
    mk__free(ctx->core->scratch);
    mk__free(ctx);
}

mk_status mk_context_get_device(const mk_context *ctx, mk_device_info *out) {
    if (!ctx) return mk__fail(MK_ERR_INVALID_ARGUMENT, "ctx is NULL");
    if (!out) return mk__fail(MK_ERR_INVALID_ARGUMENT, "out is NULL");
    *out = ctx->info;
    return MK_OK;
}

mk_status mk_synchronize(mk_context *ctx) {
    if (!ctx) return mk__fail(MK_ERR_INVALID_ARGUMENT, "ctx is NULL");
    mk_status s = mk__alive(ctx);
    if (s != MK_OK) return s;
    ctx->core->sync_counts.syncs++;
    return mk__device_result(ctx, ctx->backend->synchronize(ctx));
}

mk_status mk_context_sync_counters(const mk_context *ctx, mk_sync_counters *out) {
    if (!ctx) return mk__fail(MK_ERR_INVALID_ARGUMENT, "ctx is NULL");
    if (!out) return mk__fail(MK_ERR_INVALID_ARGUMENT, "out is NULL");
    *out = ctx->core->sync_counts;
    return MK_OK;
}

void mk__note_sync(mk_context *ctx) { ctx->core->sync_counts.syncs++; }

mk_status mk_context_native_queue(const mk_context *ctx, void **queue) {
    if (!ctx) return mk__fail(MK_ERR_INVALID_ARGUMENT, "ctx is NULL");
    if (!queue) return mk__fail(MK_ERR_INVALID_ARGUMENT, "queue is NULL");
    *queue = ctx->backend->native_queue ? ctx->backend->native_queue(ctx) : NULL;
    if (!*queue) return mk__fail(MK_ERR_UNSUPPORTED, "the %s backend has no device queue", ctx->backend->name);
    return MK_OK;
}

mk_status mk__alive(const mk_context *ctx) {
    if (__builtin_expect(!ctx->lost, 1)) return MK_OK;
    return mk__fail(MK_ERR_DEVICE, "context lost (device %s): %s; destroy it and create a new one",
                    ctx->info.id, ctx->core->lost_why);
}

mk_status mk__device_result(mk_context *ctx, mk_status s) {
    if (s == MK_ERR_DEVICE && !ctx->lost && mk__last_error_is_loss()) {
        ctx->lost = 1;
        snprintf(ctx->core->lost_why, sizeof ctx->core->lost_why, "%s", mk_last_error());
    }
    return s;
}

void *mk__scratch(mk_context *ctx, size_t bytes) {
    struct mk_context_core *c = ctx->core;
    if (bytes > c->scratch_bytes) {
        void *p = mk__realloc(c->scratch, bytes);
        if (!p) return NULL;
        c->scratch = p;
        c->scratch_bytes = bytes;
    }
    return c->scratch;
}
