/*
 * The reference backend: device memory is host memory, every op runs the scalar
 * reference (reference/), synchronously. It is always present and is the model of every
 * other backend: the same vtable, the same kernel registration.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mkref.h"
#include "ref/ref_backend.h"

static int ref_device_count(void) { return 1; }

static mk_status ref_device_info(int local, mk_device_info *out) {
    (void)local;
    snprintf(out->name, sizeof out->name, "medkern scalar reference (host, double accumulation)");
    snprintf(out->vendor, sizeof out->vendor, "medkern");
    snprintf(out->driver, sizeof out->driver, "medkern %s", mk_version());
    out->type = MK_DEVICE_REF;
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    out->memory_bytes = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : 0;
    out->compute_units = 1;
    out->features = MK_FEATURE_FP16 | MK_FEATURE_BF16 | MK_FEATURE_INT8_DOT | MK_FEATURE_FP8 |
                    MK_FEATURE_UNIFIED_MEMORY;
    return MK_OK;
}

static mk_status ref_context_init(mk_context *ctx) {
    ctx->impl = NULL;
    return MK_OK;
}

static void ref_context_fini(mk_context *ctx) { (void)ctx; }

static mk_status ref_buffer_alloc(mk_context *ctx, size_t bytes, void **mem) {
    (void)ctx;
    /* 64-byte aligned so every dtype and vector view is aligned */
    size_t rounded = (bytes + 63) & ~(size_t)63;
    /* device memory is host memory: a device allocation point and a host one */
    *mem = mk__fault_device_alloc() ? NULL : mk__aligned_alloc(64, rounded);
    if (!*mem) return mk__fail(MK_ERR_OUT_OF_MEMORY, "out of host memory allocating %zu bytes", bytes);
    mk__device_live(1);
    return MK_OK;
}

static void ref_buffer_free(mk_context *ctx, void *mem) {
    (void)ctx;
    if (mem) mk__device_live(-1);
    mk__free(mem);
}

static mk_status ref_buffer_write(mk_context *ctx, void *mem, size_t off, const void *src, size_t n) {
    (void)ctx;
    memcpy((char *)mem + off, src, n);
    return MK_OK;
}

static mk_status ref_buffer_read(mk_context *ctx, void *mem, size_t off, void *dst, size_t n) {
    (void)ctx;
    memcpy(dst, (const char *)mem + off, n);
    return MK_OK;
}

static mk_status ref_buffer_fill(mk_context *ctx, void *mem, size_t off, uint8_t byte, size_t n) {
    (void)ctx;
    memset((char *)mem + off, byte, n);
    return MK_OK;
}

static mk_status ref_buffer_copy(mk_context *ctx, void *dst, size_t doff, void *src, size_t soff, size_t n) {
    (void)ctx;
    memmove((char *)dst + doff, (const char *)src + soff, n);
    return MK_OK;
}

static mk_status ref_synchronize(mk_context *ctx) {
    (void)ctx;
    return MK_OK;
}

/* Events: ops are synchronous, so a host timestamp at record time is exact. */
static mk_status ref_event_create(mk_context *ctx, void **ev) {
    (void)ctx;
    *ev = mk__calloc(1, sizeof(double));
    return *ev ? MK_OK : mk__fail(MK_ERR_OUT_OF_MEMORY, "out of host memory for an event");
}

static void ref_event_destroy(mk_context *ctx, void *ev) {
    (void)ctx;
    mk__free(ev);
}

static mk_status ref_event_record(mk_context *ctx, void *ev) {
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    *(double *)ev = (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
    return MK_OK;
}

static mk_status ref_event_elapsed_ms(mk_context *ctx, void *start, void *end, float *ms) {
    (void)ctx;
    *ms = (float)(*(double *)end - *(double *)start);
    return MK_OK;
}

/* Quantized weights: the reference keeps the canonical arrays as they are. */
static mk_status copy_canonical(const mk_qweight_desc *d, const mk_qweight_data *src,
                                mk_qweight_data *dst) {
    memcpy(dst->q, src->q, mkref_qweight_q_bytes(d));
    memcpy(dst->scales, src->scales, mkref_qweight_scale_bytes(d));
    if (src->zeros && dst->zeros) memcpy(dst->zeros, src->zeros, mkref_qweight_zero_bytes(d));
    if (src->k_perm && dst->k_perm) memcpy(dst->k_perm, src->k_perm, (size_t)d->k * sizeof(int32_t));
    return MK_OK;
}

static mk_status ref_qweight_create(mk_context *ctx, mk_qweight *qw, const mk_qweight_data *data) {
    (void)ctx;
    mk_qweight_data *own = mk__calloc(1, sizeof *own);
    if (!own) return mk__fail(MK_ERR_OUT_OF_MEMORY, "out of host memory for the weight");
    mk_status s = mk_qweight_data_alloc(&qw->desc, qw->has_zeros, qw->has_perm, own);
    if (s != MK_OK) {
        mk__free(own);
        return s;
    }
    copy_canonical(&qw->desc, data, own);
    qw->impl = own;
    return MK_OK;
}

static void ref_qweight_destroy(mk_qweight *qw) {
    mk_qweight_data_free(qw->impl);
    mk__free(qw->impl);
}

static mk_status ref_qweight_read(const mk_qweight *qw, mk_qweight_data *out) {
    return copy_canonical(&qw->desc, qw->impl, out);
}

/* The ref device is "auto"'s last resort: any other ranked device wins. */
static int ref_auto_rank(const mk_device_info *d) {
    (void)d;
    return 0;
}

const mk_backend mk_backend_ref = {
    .abi_version = MK_BACKEND_ABI_VERSION,
    .name = "ref",
    .auto_rank = ref_auto_rank,
    .device_count = ref_device_count,
    .device_info = ref_device_info,
    .context_init = ref_context_init,
    .context_fini = ref_context_fini,
    .buffer_alloc = ref_buffer_alloc,
    .buffer_free = ref_buffer_free,
    .buffer_write = ref_buffer_write,
    .buffer_read = ref_buffer_read,
    .buffer_fill = ref_buffer_fill,
    .buffer_copy = ref_buffer_copy,
    .synchronize = ref_synchronize,
    .event_create = ref_event_create,
    .event_destroy = ref_event_destroy,
    .event_record = ref_event_record,
    .event_elapsed_ms = ref_event_elapsed_ms,
    .qweight_create = ref_qweight_create,
    .qweight_destroy = ref_qweight_destroy,
    .qweight_read = ref_qweight_read,
    .kernels = mk_ref_kernels,
};
