/*
 * The host-threads backend's vtable (docs/porting.md's in-tree example): one device,
 * "threads:0", whose memory is host memory and whose kernels run on a pool of host
 * threads created per context. Ops run synchronously: a kernel returns when every
 * thread has finished its part, so synchronize has nothing to wait for and events are
 * host timestamps. Quantized weights are not implemented (no qgemm variant): the weight
 * hooks say so with MK_ERR_UNSUPPORTED.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "threads_internal.h"

/* ---- the device */

static int default_threads(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > THREADS_MAX ? THREADS_MAX : (int)n;
}

int threads_count(int *n) {
    *n = default_threads();
    const char *env = getenv("MEDKERN_THREADS");
    if (!env || !*env) return 1;
    char *end = NULL;
    errno = 0;
    long v = strtol(env, &end, 10);
    if (errno || *env < '0' || *env > '9' || *end || v < 1 || v > THREADS_MAX) return 0; /* digits only */
    *n = (int)v;
    return 1;
}

static int threads_device_count(void) { return 1; }

static mk_status threads_device_info(int local, mk_device_info *out) {
    (void)local;
    int n;
    threads_count(&n); /* a malformed MEDKERN_THREADS shows the default; context creation fails */
    snprintf(out->name, sizeof out->name, "medkern host threads (example backend, %d threads)", n);
    snprintf(out->vendor, sizeof out->vendor, "medkern");
    snprintf(out->driver, sizeof out->driver, "medkern %s", mk_version());
    out->type = MK_DEVICE_CPU;
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    out->memory_bytes = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : 0;
    out->compute_units = n;
    /* f16/bf16 are storage formats here (converted to f32), so no FP16/BF16 bits */
    out->features = MK_FEATURE_UNIFIED_MEMORY;
    return MK_OK;
}

/* ---- contexts: each has its own pool and scratch */

static mk_status threads_context_init(mk_context *ctx) {
    int n;
    if (!threads_count(&n))
        return mk__fail(MK_ERR_INVALID_ARGUMENT, "MEDKERN_THREADS=\"%s\" is not a thread count in 1..%d",
                        getenv("MEDKERN_THREADS"), THREADS_MAX);
    threads_ctx *tc = mk__calloc(1, sizeof *tc);
    if (!tc) return mk__fail(MK_ERR_OUT_OF_MEMORY, "out of host memory for the threads context");
    mk_status s = threads_pool_create(n, &tc->pool);
    if (s != MK_OK) {
        mk__free(tc);
        return s;
    }
    tc->nthreads = n;
    ctx->impl = tc;
    return MK_OK;
}

static void threads_context_fini(mk_context *ctx) {
    threads_ctx *tc = threads_of(ctx);
    if (!tc) return;
    threads_pool_destroy(tc->pool);
    mk__free(tc->scratch);
    mk__free(tc);
    ctx->impl = NULL;
}

float *threads_scratch(mk_context *ctx, size_t floats) {
    threads_ctx *tc = threads_of(ctx);
    if (floats > tc->scratch_floats) {
        if (floats > SIZE_MAX / sizeof(float)) return NULL;
        float *p = mk__realloc(tc->scratch, floats * sizeof(float));
        if (!p) return NULL;
        tc->scratch = p;
        tc->scratch_floats = floats;
    }
    return tc->scratch;
}

/* ---- memory: host memory, 64-byte aligned */

static mk_status threads_buffer_alloc(mk_context *ctx, size_t bytes, void **mem) {
    (void)ctx;
    size_t rounded = (bytes + 63) & ~(size_t)63;
    /* device memory is host memory: a device allocation point (fault injection) and a
       host one, as in the ref backend */
    *mem = mk__fault_device_alloc() ? NULL : mk__aligned_alloc(64, rounded);
    if (!*mem) return mk__fail(MK_ERR_OUT_OF_MEMORY, "out of host memory allocating %zu bytes", bytes);
    mk__device_live(1);
    return MK_OK;
}

static void threads_buffer_free(mk_context *ctx, void *mem) {
    (void)ctx;
    if (mem) mk__device_live(-1);
    mk__free(mem);
}

static mk_status threads_buffer_write(mk_context *ctx, void *mem, size_t off, const void *src, size_t n) {
    (void)ctx;
    memcpy((char *)mem + off, src, n);
    return MK_OK;
}

static mk_status threads_buffer_read(mk_context *ctx, void *mem, size_t off, void *dst, size_t n) {
    (void)ctx;
    memcpy(dst, (const char *)mem + off, n);
    return MK_OK;
}

static mk_status threads_buffer_fill(mk_context *ctx, void *mem, size_t off, uint8_t byte, size_t n) {
    (void)ctx;
    memset((char *)mem + off, byte, n);
    return MK_OK;
}

static mk_status threads_buffer_copy(mk_context *ctx, void *dst, size_t doff, void *src, size_t soff,
                                     size_t n) {
    (void)ctx;
    memmove((char *)dst + doff, (const char *)src + soff, n);
    return MK_OK;
}

/* Every op has finished when its run returns. */
static mk_status threads_synchronize(mk_context *ctx) {
    (void)ctx;
    return MK_OK;
}

/* ---- events: host timestamps (exact, the work before a record is done) */

static mk_status threads_event_create(mk_context *ctx, void **ev) {
    (void)ctx;
    *ev = mk__calloc(1, sizeof(double));
    return *ev ? MK_OK : mk__fail(MK_ERR_OUT_OF_MEMORY, "out of host memory for an event");
}

static void threads_event_destroy(mk_context *ctx, void *ev) {
    (void)ctx;
    mk__free(ev);
}

static mk_status threads_event_record(mk_context *ctx, void *ev) {
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    *(double *)ev = (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
    return MK_OK;
}

static mk_status threads_event_elapsed_ms(mk_context *ctx, void *start, void *end, float *ms) {
    (void)ctx;
    *ms = (float)(*(double *)end - *(double *)start);
    return MK_OK;
}

/* ---- quantized weights: not implemented (the vtable's hooks are required) */

static mk_status threads_qweight_create(mk_context *ctx, mk_qweight *qw, const mk_qweight_data *data) {
    (void)qw, (void)data;
    return mk__fail(MK_ERR_UNSUPPORTED,
                    "%s: the threads backend implements no quantized weights (no qgemm variant); "
                    "use ref, opencl or cuda", ctx->info.id);
}

static void threads_qweight_destroy(mk_qweight *qw) { (void)qw; /* create never succeeds */ }

static mk_status threads_qweight_read(const mk_qweight *qw, mk_qweight_data *out) {
    (void)qw, (void)out;
    return mk__fail(MK_ERR_UNSUPPORTED, "the threads backend implements no quantized weights");
}

/* ---- kernels of every op family */

int threads_dtype_ok(const mk_tensor *t, const char *name, char *why, size_t n) {
    if (t->dtype == MK_F32 || t->dtype == MK_F16 || t->dtype == MK_BF16) return 1;
    const char *dt = mk_dtype_name(t->dtype);
    return mk__why(why, n, "%s dtype %s not handled (f32, f16, bf16)", name, dt ? dt : "invalid");
}

static const mk_kernel *threads_all[32];
static int threads_all_count;
static pthread_once_t threads_kernels_once = PTHREAD_ONCE_INIT;

static void gather_kernels(void) {
    const mk_kernel *const *(*const families[])(int *) = {threads_elementwise_kernels,
                                                          threads_norm_kernels, threads_gemm_kernels};
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++) {
        int n = 0;
        const mk_kernel *const *list = families[f](&n);
        for (int i = 0; i < n && threads_all_count < (int)(sizeof threads_all / sizeof threads_all[0]); i++)
            threads_all[threads_all_count++] = list[i];
    }
}

static const mk_kernel *const *threads_kernels(int *count) {
    pthread_once(&threads_kernels_once, gather_kernels);
    *count = threads_all_count;
    return threads_all;
}

/* No auto_rank: "auto" never picks the example device. */
static const mk_backend threads_backend = {
    .abi_version = MK_BACKEND_ABI_VERSION,
    .name = "threads",
    .device_count = threads_device_count,
    .device_info = threads_device_info,
    .context_init = threads_context_init,
    .context_fini = threads_context_fini,
    .buffer_alloc = threads_buffer_alloc,
    .buffer_free = threads_buffer_free,
    .buffer_write = threads_buffer_write,
    .buffer_read = threads_buffer_read,
    .buffer_fill = threads_buffer_fill,
    .buffer_copy = threads_buffer_copy,
    .synchronize = threads_synchronize,
    .event_create = threads_event_create,
    .event_destroy = threads_event_destroy,
    .event_record = threads_event_record,
    .event_elapsed_ms = threads_event_elapsed_ms,
    .qweight_create = threads_qweight_create,
    .qweight_destroy = threads_qweight_destroy,
    .qweight_read = threads_qweight_read,
    /* no tunable parameters: param_list, param_set and tuning_file stay NULL */
    .kernels = threads_kernels,
};

/* The module's entry point (medkern/backend.h). */
const mk_backend *mk_backend_module_init(int abi_version, char *why, size_t n) {
    if (abi_version != MK_BACKEND_ABI_VERSION) {
        snprintf(why, n, "libmedkern-threads.so was built for backend ABI %d, the core has %d",
                 MK_BACKEND_ABI_VERSION, abi_version);
        return NULL;
    }
    return &threads_backend;
}
