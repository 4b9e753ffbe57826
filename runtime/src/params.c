/* Tunable kernel parameters: listing, per-context overrides, the tuning file's path.
   The values themselves belong to the backends (e.g. ocl_tuning.c). */
#include <string.h>

#include "internal.h"

mk_status mk_param_list(mk_context *ctx, mk_param_info *out, int cap, int *count) {
    if (!ctx) return mk__fail(MK_ERR_INVALID_ARGUMENT, "ctx is NULL");
    if (!count) return mk__fail(MK_ERR_INVALID_ARGUMENT, "count is NULL");
    if (cap < 0 || (cap > 0 && !out)) return mk__fail(MK_ERR_INVALID_ARGUMENT, "out is NULL or cap is negative");
    *count = ctx->backend->param_list ? ctx->backend->param_list(ctx, out, cap) : 0;
    return MK_OK;
}

mk_status mk_param_set(mk_context *ctx, const char *op, const char *name, int value) {
    if (!ctx) return mk__fail(MK_ERR_INVALID_ARGUMENT, "ctx is NULL");
    if (!op || !*op || strlen(op) >= sizeof((mk_param_info *)0)->op)
        return mk__fail(MK_ERR_INVALID_ARGUMENT, "op is NULL, empty or too long");
    if (!name || !*name || strlen(name) >= sizeof((mk_param_info *)0)->name)
        return mk__fail(MK_ERR_INVALID_ARGUMENT, "name is NULL, empty or too long");
    if (value > 65536) return mk__fail(MK_ERR_INVALID_ARGUMENT, "value (%d) is absurdly large", value);
    if (!ctx->backend->param_set)
        return mk__fail(MK_ERR_UNSUPPORTED, "device %s has no tunable parameters", ctx->info.id);
    return ctx->backend->param_set(ctx, op, name, value);
}

mk_status mk_tuning_file(const mk_context *ctx, char *path, size_t n) {
    if (!ctx) return mk__fail(MK_ERR_INVALID_ARGUMENT, "ctx is NULL");
    if (!path || n == 0) return mk__fail(MK_ERR_INVALID_ARGUMENT, "path is NULL or n is 0");
    if (!ctx->backend->tuning_file)
        return mk__fail(MK_ERR_UNSUPPORTED, "device %s has no tuning file", ctx->info.id);
    return ctx->backend->tuning_file(ctx, path, n);
}
