/* Device buffers and tensor descriptors. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

mk_status mk_buffer_alloc(mk_context *ctx, size_t bytes, mk_buffer **out) {
    if (!out) return mk__fail(MK_ERR_INVALID_ARGUMENT, "out is NULL");
    *out = NULL;
    if (!ctx) return mk__fail(MK_ERR_INVALID_ARGUMENT, "ctx is NULL");
    if (bytes == 0) return mk__fail(MK_ERR_INVALID_ARGUMENT, "bytes is 0");
    if (bytes > (SIZE_MAX >> 2))
        return mk__fail(MK_ERR_INVALID_ARGUMENT, "bytes (%zu) is absurdly large", bytes);
    mk_status s = mk__alive(ctx);
    if (s != MK_OK) return s;
    mk_buffer *b = mk__calloc(1, sizeof *b);
    if (!b) return mk__fail(MK_ERR_OUT_OF_MEMORY, "out of host memory for a buffer");
    s = mk__device_result(ctx, ctx->backend->buffer_alloc(ctx, bytes, &b->mem));
    if (s != MK_OK) {
        mk__free(b);
        return s;
    }
    b->ctx = ctx;
    b->bytes = bytes;
    *out = b;
    return MK_OK;
}

void mk_buffer_free(mk_buffer *buf) {
    if (!buf) return;
    buf->ctx->backend->buffer_free(buf->ctx, buf->mem);
    mk__free(buf);
}

size_t mk_buffer_size(const mk_buffer *buf) { return buf ? buf->bytes : 0; }

static mk_status mk_check_range(const mk_buffer *buf, size_t offset, const void *host,
                                size_t bytes, const char *host_name) {
    if (!buf) return mk__fail(MK_ERR_INVALID_ARGUMENT, "buf is NULL");
    if (!host && bytes) return mk__fail(MK_ERR_INVALID_ARGUMENT, "%s is NULL", host_name);
    if (offset > buf->bytes || bytes > buf->bytes - offset)
        return mk__fail(MK_ERR_INVALID_ARGUMENT,
                        "offset + bytes (%zu + %zu) exceeds the buffer size %zu", offset, bytes,
                        buf->bytes);
    return mk__alive(buf->ctx);
}

mk_status mk_buffer_write(mk_buffer *buf, size_t offset, const void *src, size_t bytes) {
    mk_status s = mk_check_range(buf, offset, src, bytes, "src");
    if (s != MK_OK || bytes == 0) return s;
    buf->ctx->core->sync_counts.uploads++;
    return mk__device_result(buf->ctx, buf->ctx->backend->buffer_write(buf->ctx, buf->mem, offset, src, bytes));
}

mk_status mk_buffer_read(const mk_buffer *buf, size_t offset, void *dst, size_t bytes) {
    mk_status s = mk_check_range(buf, offset, dst, bytes, "dst");
    if (s != MK_OK || bytes == 0) return s;
    buf->ctx->core->sync_counts.readbacks++;
    return mk__device_result(buf->ctx, buf->ctx->backend->buffer_read(buf->ctx, buf->mem, offset, dst, bytes));
}

mk_status mk_buffer_fill(mk_buffer *buf, size_t offset, uint8_t byte, size_t bytes) {
    mk_status s = mk_check_range(buf, offset, &byte, bytes, "byte");
    if (s != MK_OK || bytes == 0) return s;
    return mk__device_result(buf->ctx, buf->ctx->backend->buffer_fill(buf->ctx, buf->mem, offset, byte, bytes));
}

mk_status mk_buffer_copy(mk_buffer *dst, size_t dst_offset, const mk_buffer *src,
                         size_t src_offset, size_t bytes) {
    if (!dst) return mk__fail(MK_ERR_INVALID_ARGUMENT, "dst is NULL");
    if (!src) return mk__fail(MK_ERR_INVALID_ARGUMENT, "src is NULL");
    if (dst->ctx != src->ctx) return mk__fail(MK_ERR_INVALID_ARGUMENT, "src belongs to another context than dst");
    if (dst_offset > dst->bytes || bytes > dst->bytes - dst_offset)
        return mk__fail(MK_ERR_INVALID_ARGUMENT, "dst_offset + bytes (%zu + %zu) exceeds the dst size %zu",
                        dst_offset, bytes, dst->bytes);
    if (src_offset > src->bytes || bytes > src->bytes - src_offset)
        return mk__fail(MK_ERR_INVALID_ARGUMENT, "src_offset + bytes (%zu + %zu) exceeds the src size %zu",
                        src_offset, bytes, src->bytes);
    if (dst == src && dst_offset < src_offset + bytes && src_offset < dst_offset + bytes)
        return mk__fail(MK_ERR_INVALID_ARGUMENT, "dst and src ranges overlap in the same buffer");
    if (bytes == 0) return MK_OK;
    mk_status s = mk__alive(dst->ctx);
    if (s != MK_OK) return s;
    return mk__device_result(dst->ctx, dst->ctx->backend->buffer_copy(dst->ctx, dst->mem, dst_offset,
                                                                      src->mem, src_offset, bytes));
}

mk_tensor mk_tensor_make(mk_buffer *buf, size_t offset, mk_dtype dtype, int ndim,
                         const int64_t *shape) {
    mk_tensor t;
    memset(&t, 0, sizeof t);
    t.buf = buf;
    t.offset = offset;
    t.dtype = dtype;
    t.ndim = ndim;
    if (ndim < 1 || ndim > MK_MAX_DIMS || !shape) return t; /* rejected by validation */
    int64_t stride = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        t.shape[i] = shape[i];
        t.stride[i] = stride;
        /* saturate instead of overflowing: validation rejects such a shape by its size */
        if (__builtin_mul_overflow(stride, shape[i] > 0 ? shape[i] : 1, &stride)) stride = INT64_MAX;
    }
    return t;
}
