/* Events: timestamps on the context's stream, for timing on any backend. */
#include <stdlib.h>

#include "internal.h"

mk_status mk_event_create(mk_context *ctx, mk_event **out) {
    if (!out) return mk__fail(MK_ERR_INVALID_ARGUMENT, "out is NULL");
    *out = NULL;
    if (!ctx) return mk__fail(MK_ERR_INVALID_ARGUMENT, "ctx is NULL");
    mk_status s = mk__alive(ctx);
    if (s != MK_OK) return s;
    mk_event *ev = mk__calloc(1, sizeof *ev);
    if (!ev) return mk__fail(MK_ERR_OUT_OF_MEMORY, "out of host memory for an event");
    s = mk__device_result(ctx, ctx->backend->event_create(ctx, &ev->impl));
    if (s != MK_OK) {
        mk__free(ev);
        return s;
    }
    ev->ctx = ctx;
    *out = ev;
    return MK_OK;
}

void mk_event_destroy(mk_event *ev) {
    if (!ev) return;
    ev->ctx->backend->event_destroy(ev->ctx, ev->impl);
    mk__free(ev);
}

mk_status mk_event_record(mk_event *ev) {
    if (!ev) return mk__fail(MK_ERR_INVALID_ARGUMENT, "ev is NULL");
    mk_status s = mk__alive(ev->ctx);
    if (s == MK_OK) s = mk__device_result(ev->ctx, ev->ctx->backend->event_record(ev->ctx, ev->impl));
    if (s == MK_OK) ev->recorded = 1;
    return s;
}

mk_status mk_event_elapsed_ms(const mk_event *start, const mk_event *end, float *ms) {
    if (!start) return mk__fail(MK_ERR_INVALID_ARGUMENT, "start is NULL");
    if (!end) return mk__fail(MK_ERR_INVALID_ARGUMENT, "end is NULL");
    if (!ms) return mk__fail(MK_ERR_INVALID_ARGUMENT, "ms is NULL");
    if (start->ctx != end->ctx)
        return mk__fail(MK_ERR_INVALID_ARGUMENT, "start and end belong to different contexts");
    if (!start->recorded) return mk__fail(MK_ERR_INVALID_ARGUMENT, "start was never recorded");
    if (!end->recorded) return mk__fail(MK_ERR_INVALID_ARGUMENT, "end was never recorded");
    mk_status s = mk__alive(start->ctx);
    if (s != MK_OK) return s;
    start->ctx->core->sync_counts.syncs++;
    return mk__device_result(start->ctx, start->ctx->backend->event_elapsed_ms(start->ctx, start->impl, end->impl, ms));
}
