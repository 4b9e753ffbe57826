/*
 * The CUDA backend's vtable: devices (enumerated once; no driver, no GPU or a driver too
 * old for this runtime is zero devices, never an error), contexts (one non-blocking
 * stream, cuBLAS and cuBLASLt handles, a cuBLAS workspace), buffers (cudaMalloc, copies
 * ordered on the context's stream), events (CUDA events on the stream), the qgemm weight
 * hooks, and the kernel table of every cuda_*.c file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/cuda_internal.h"
#include "mkref.h"

/* ------------------------------------------------------------------ errors */

int cuda_is_loss(cudaError_t err) {
    switch (err) {
    case cudaErrorDevicesUnavailable: case cudaErrorNoDevice: case cudaErrorECCUncorrectable:
    case cudaErrorIllegalAddress: case cudaErrorLaunchTimeout: case cudaErrorContextIsDestroyed:
    case cudaErrorAssert: case cudaErrorHardwareStackError: case cudaErrorIllegalInstruction:
    case cudaErrorMisalignedAddress: case cudaErrorInvalidAddressSpace: case cudaErrorInvalidPc:
    case cudaErrorLaunchFailure:
        return 1;
    default:
        return 0;
    }
}

mk_status cuda_fail(cudaError_t err, const char *what) {
    (void)cudaGetLastError(); /* clear a non-sticky error; a sticky one stays regardless */
    if (cuda_is_loss(err))
        return mk__fail_lost("cuda: %s: %s (%s): the device is lost", what, cudaGetErrorName(err),
                             cudaGetErrorString(err));
    mk_status s = err == cudaErrorMemoryAllocation ? MK_ERR_OUT_OF_MEMORY : MK_ERR_DEVICE;
    return mk__fail(s, "cuda: %s: %s (%s)", what, cudaGetErrorName(err), cudaGetErrorString(err));
}

cudaError_t cuda_malloc_at(void **p, size_t bytes, mk_site at) {
    *p = NULL;
    if (mk__fault_device_alloc_at(at)) return cudaErrorMemoryAllocation;
    cudaError_t e = cudaMalloc(p, bytes);
    if (e == cudaSuccess) mk__device_live(1);
    else *p = NULL;
    return e;
}

void cuda_free(void *p) {
    if (!p) return;
    mk__device_live(-1);
    if (cudaFree(p) != cudaSuccess) (void)cudaGetLastError();
}

mk_status cuda_blas_fail(cublasStatus_t st, const char *what) {
    mk_status s = st == CUBLAS_STATUS_ALLOC_FAILED ? MK_ERR_OUT_OF_MEMORY : MK_ERR_DEVICE;
    return mk__fail(s, "cuda: %s: cuBLAS status %d (%s)", what, (int)st, cublasGetStatusString(st));
}

mk_status cuda_launched(cudaError_t err, const char *kernel) {
    if (err == cudaSuccess && mk__fault_device_lost()) err = cudaErrorLaunchFailure;
    if (err == cudaSuccess) return MK_OK;
    char what[96];
    snprintf(what, sizeof what, "launching %s", kernel);
    return cuda_fail(err, what);
}

mk_status cuda_enter(const mk_context *ctx) {
    cudaError_t e = cudaSetDevice(cuda_of(ctx)->dev->ordinal);
    return e == cudaSuccess ? MK_OK : cuda_fail(e, "cudaSetDevice");
}

int cuda_kernels_available(const mk_context *ctx, char *why, size_t n) {
    const cuda_ctx *c = cuda_of(ctx);
    if (c->image == cudaSuccess) return 1;
    return mk__why(why, n, "this build has no device code for sm_%d%d (MEDKERN_CUDA_ARCHS): %s",
                   c->dev->cc_major, c->dev->cc_minor, cudaGetErrorName(c->image));
}

/* ------------------------------------------------------------------ devices */

#define CUDA_MAX_DEVICES 64

static cuda_device cuda_devices[CUDA_MAX_DEVICES];
static int cuda_device_n;
static int cuda_device_ok[CUDA_MAX_DEVICES];
static pthread_once_t cuda_enum_once = PTHREAD_ONCE_INIT;

static int attr(enum cudaDeviceAttr a, int dev) {
    int v = 0;
    if (cudaDeviceGetAttribute(&v, a, dev) != cudaSuccess) {
        (void)cudaGetLastError();
        v = 0;
    }
    return v;
}

/* Dense f16/bf16 tensor-core operations per SM per clock (f16 accumulation; GeForce parts
   run f32 accumulation at half this rate). 0 for architectures not listed here. */
static double tensor_flops_per_clock(int major, int minor) {
    int cc = major * 10 + minor;
    switch (cc) {
    case 70: return 1024;  /* V100    */
    case 75: return 1024;  /* T4      */
    case 80: return 2048;  /* A100    */
    case 86: return 1024;  /* GA10x   */
    case 89: return 1024;  /* Ada     */
    case 90: return 4096;  /* H100/H200 */
    default: return 0;
    }
}

static void fill_device(int ordinal) {
    cuda_device *d = &cuda_devices[ordinal];
    mk_device_info *info = &d->info;
    memset(d, 0, sizeof *d);
    d->ordinal = ordinal;
    struct cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, ordinal) != cudaSuccess) {
        (void)cudaGetLastError();
        return;
    }
    cuda_device_ok[ordinal] = 1;
    d->cc_major = prop.major;
    d->cc_minor = prop.minor;
    d->sm_count = prop.multiProcessorCount;
    d->smem_optin = prop.sharedMemPerBlockOptin;
    d->l2_bytes = prop.l2CacheSize;

    snprintf(info->name, sizeof info->name, "%.127s", prop.name);
    snprintf(info->vendor, sizeof info->vendor, "NVIDIA");
    int drv = 0, rt = 0;
    if (cudaDriverGetVersion(&drv) != cudaSuccess) (void)cudaGetLastError();
    if (cudaRuntimeGetVersion(&rt) != cudaSuccess) (void)cudaGetLastError();
    snprintf(info->driver, sizeof info->driver, "CUDA driver %d.%d, runtime %d.%d", drv / 1000,
             (drv % 1000) / 10, rt / 1000, (rt % 1000) / 10);
    info->type = MK_DEVICE_GPU;
    info->memory_bytes = (uint64_t)prop.totalGlobalMem;
    info->compute_units = prop.multiProcessorCount;
    info->capability_major = prop.major;
    info->capability_minor = prop.minor;
    int cc = prop.major * 10 + prop.minor;
    uint32_t f = MK_FEATURE_SUBGROUPS; /* warps and their shuffles */
    if (cc >= 53) f |= MK_FEATURE_FP16;
    if (cc >= 61) f |= MK_FEATURE_INT8_DOT; /* dp4a */
    if (cc >= 70) f |= MK_FEATURE_TENSOR_CORES;
    if (cc >= 80) f |= MK_FEATURE_BF16;
    if (cc >= 89) f |= MK_FEATURE_FP8;
    if (prop.integrated) f |= MK_FEATURE_UNIFIED_MEMORY;
    info->features = f;
    /* cudaDeviceProp has no memory clock or bus width in CUDA 13: ask the attributes.
       Double data rate: two transfers per memory clock. */
    double mem_khz = attr(cudaDevAttrMemoryClockRate, ordinal);
    double bus_bits = attr(cudaDevAttrGlobalMemoryBusWidth, ordinal);
    info->peak_bandwidth_gbs = 2.0 * mem_khz * 1e3 * (bus_bits / 8.0) / 1e9;
    double clk_khz = attr(cudaDevAttrClockRate, ordinal);
    info->peak_tflops_f16 =
        (double)prop.multiProcessorCount * clk_khz * 1e3 * tensor_flops_per_clock(prop.major, prop.minor) / 1e12;
}

static void enumerate(void) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        /* cudaErrorNoDevice, cudaErrorInsufficientDriver, ...: no usable GPU here */
        (void)cudaGetLastError();
        n = 0;
    }
    if (n < 0) n = 0;
    if (n > CUDA_MAX_DEVICES) n = CUDA_MAX_DEVICES;
    for (int i = 0; i < n; i++) fill_device(i);
    cuda_device_n = n;
}

int cuda_device_total(void) {
    pthread_once(&cuda_enum_once, enumerate);
    return cuda_device_n;
}

const cuda_device *cuda_device_get(int local) {
    if (local < 0 || local >= cuda_device_total() || !cuda_device_ok[local]) return NULL;
    return &cuda_devices[local];
}

static int cu_device_count(void) { return cuda_device_total(); }

static mk_status cu_device_info(int local, mk_device_info *out) {
    const cuda_device *d = cuda_device_get(local);
    if (!d) return mk__fail(MK_ERR_DEVICE, "cuda: the properties of device %d could not be read", local);
    *out = d->info;
    return MK_OK;
}

/* ------------------------------------------------------------------ contexts */

static void destroy_ctx(cuda_ctx *c) {
    if (c->stream) (void)cudaStreamSynchronize(c->stream);
    if (c->lt) cublasLtDestroy(c->lt);
    if (c->blas) cublasDestroy(c->blas);
    cuda_free(c->workspace);
    cuda_rope_tables_free(c);
    cuda_scratch_free(c);
    if (c->stream) cudaStreamDestroy(c->stream);
    (void)cudaGetLastError();
    pthread_mutex_destroy(&c->lock);
    mk__free(c);
}

static mk_status cu_context_init(mk_context *ctx) {
    const cuda_device *d = cuda_device_get(ctx->local_device);
    if (!d) return mk__fail(MK_ERR_DEVICE, "cuda: device %d is not usable", ctx->local_device);
    cuda_ctx *c = mk__calloc(1, sizeof *c);
    if (!c) return mk__fail(MK_ERR_OUT_OF_MEMORY, "out of host memory for the CUDA context");
    c->dev = d;
    pthread_mutex_init(&c->lock, NULL);
    mk_status s = MK_OK;
    cudaError_t e;
    cublasStatus_t bs;
    if ((e = cudaSetDevice(d->ordinal)) != cudaSuccess) {
        s = cuda_fail(e, "cudaSetDevice");
        goto fail;
    }
    if ((e = cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking)) != cudaSuccess) {
        s = cuda_fail(e, "creating the context's stream");
        goto fail;
    }
    if ((bs = cublasCreate(&c->blas)) != CUBLAS_STATUS_SUCCESS) {
        s = cuda_blas_fail(bs, "cublasCreate");
        goto fail;
    }
    /* Hopper wants 32 MiB of cuBLAS workspace, older GPUs 4 MiB. Owned by the context so
       the handle never allocates behind our back and results stay reproducible. */
    c->workspace_bytes = (size_t)(d->cc_major >= 9 ? 32 : 4) << 20;
    if ((e = cuda_malloc(&c->workspace, c->workspace_bytes)) != cudaSuccess) {
        c->workspace = NULL;
        s = cuda_fail(e, "allocating the cuBLAS workspace");
        goto fail;
    }
    if ((bs = cublasSetStream(c->blas, c->stream)) != CUBLAS_STATUS_SUCCESS ||
        (bs = cublasSetWorkspace(c->blas, c->workspace, c->workspace_bytes)) != CUBLAS_STATUS_SUCCESS ||
        /* f32 GEMMs stay f32 (no TF32) and f16 reductions are never done in f16 */
        (bs = cublasSetMathMode(c->blas, CUBLAS_DEFAULT_MATH |
                                             CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION)) !=
            CUBLAS_STATUS_SUCCESS) {
        s = cuda_blas_fail(bs, "configuring the cuBLAS handle");
        goto fail;
    }
    if ((bs = cublasLtCreate(&c->lt)) != CUBLAS_STATUS_SUCCESS) {
        s = cuda_blas_fail(bs, "cublasLtCreate");
        goto fail;
    }
    c->image = mkc_kernel_image_check();
    c->ctx = ctx;
    ctx->impl = c;
    return MK_OK;
fail:
    destroy_ctx(c);
    return s;
}

static void cu_context_fini(mk_context *ctx) {
    cuda_ctx *c = cuda_of(ctx);
    if (!c) return;
    (void)cudaSetDevice(c->dev->ordinal);
    destroy_ctx(c);
    ctx->impl = NULL;
}

/* ------------------------------------------------------------------ memory */

static mk_status cu_buffer_alloc(mk_context *ctx, size_t bytes, void **mem) {
    mk_status s = cuda_enter(ctx);
    if (s != MK_OK) return s;
    cudaError_t e = cuda_malloc(mem, bytes); /* 256-byte aligned */
    if (e != cudaSuccess) {
        *mem = NULL;
        char what[96];
        snprintf(what, sizeof what, "cudaMalloc of %zu bytes", bytes);
        return cuda_fail(e, what);
    }
    return MK_OK;
}

static void cu_buffer_free(mk_context *ctx, void *mem) {
    if (!mem) return;
    (void)cuda_enter(ctx); /* even when that fails: the count must drop */
    cuda_free(mem);
}

static mk_status sync_stream(const mk_context *ctx, const char *what) {
    cudaError_t e = CUDA_QUEUE(cudaStreamSynchronize(cuda_of(ctx)->stream));
    return e == cudaSuccess ? MK_OK : cuda_fail(e, what);
}

static mk_status cu_buffer_write(mk_context *ctx, void *mem, size_t off, const void *src, size_t n) {
    mk_status s = cuda_enter(ctx);
    if (s != MK_OK) return s;
    cudaError_t e = CUDA_QUEUE(cudaMemcpyAsync((char *)mem + off, src, n, cudaMemcpyHostToDevice, cuda_of(ctx)->stream));
    if (e != cudaSuccess) return cuda_fail(e, "copying host to device (buffer write)");
    return sync_stream(ctx, "buffer write");
}

static mk_status cu_buffer_read(mk_context *ctx, void *mem, size_t off, void *dst, size_t n) {
    mk_status s = cuda_enter(ctx);
    if (s != MK_OK) return s;
    cudaError_t e = CUDA_QUEUE(cudaMemcpyAsync(dst, (const char *)mem + off, n, cudaMemcpyDeviceToHost, cuda_of(ctx)->stream));
    if (e != cudaSuccess) return cuda_fail(e, "copying device to host (buffer read)");
    return sync_stream(ctx, "buffer read");
}

static mk_status cu_buffer_fill(mk_context *ctx, void *mem, size_t off, uint8_t byte, size_t n) {
    mk_status s = cuda_enter(ctx);
    if (s != MK_OK) return s;
    cudaError_t e = CUDA_QUEUE(cudaMemsetAsync((char *)mem + off, byte, n, cuda_of(ctx)->stream));
    return e == cudaSuccess ? MK_OK : cuda_fail(e, "cudaMemsetAsync (buffer fill)");
}

static mk_status cu_buffer_copy(mk_context *ctx, void *dst, size_t doff, void *src, size_t soff, size_t n) {
    mk_status s = cuda_enter(ctx);
    if (s != MK_OK) return s;
    cudaStream_t st = cuda_of(ctx)->stream;
    char *d = (char *)dst + doff, *p = (char *)src + soff;
    cudaError_t e;
    if (d < p + n && p < d + n && d != p) {
        /* overlapping ranges of one allocation (memmove semantics): through a temporary */
        void *tmp = NULL;
        if ((e = cuda_malloc(&tmp, n)) != cudaSuccess) return cuda_fail(e, "allocating a copy temporary");
        if ((e = CUDA_QUEUE(cudaMemcpyAsync(tmp, p, n, cudaMemcpyDeviceToDevice, st))) == cudaSuccess &&
            (e = cudaMemcpyAsync(d, tmp, n, cudaMemcpyDeviceToDevice, st)) == cudaSuccess) {
            mk__note_sync(ctx);
            e = cudaStreamSynchronize(st);
        }
        cuda_free(tmp);
        return e == cudaSuccess ? MK_OK : cuda_fail(e, "copying between overlapping ranges");
    }
    if (d == p) return MK_OK;
    e = CUDA_QUEUE(cudaMemcpyAsync(d, p, n, cudaMemcpyDeviceToDevice, st));
    return e == cudaSuccess ? MK_OK : cuda_fail(e, "cudaMemcpyAsync (buffer copy)");
}

static mk_status cu_synchronize(mk_context *ctx) {
    mk_status s = cuda_enter(ctx);
    return s != MK_OK ? s : sync_stream(ctx, "synchronize");
}

/* ------------------------------------------------------------------ events */

static mk_status cu_event_create(mk_context *ctx, void **ev) {
    mk_status s = cuda_enter(ctx);
    if (s != MK_OK) return s;
    cudaEvent_t e = NULL;
    cudaError_t err = cudaEventCreate(&e); /* timing enabled */
    if (err != cudaSuccess) return cuda_fail(err, "cudaEventCreate");
    *ev = e;
    return MK_OK;
}

static void cu_event_destroy(mk_context *ctx, void *ev) {
    if (!ev || cuda_enter(ctx) != MK_OK) return;
    if (cudaEventDestroy((cudaEvent_t)ev) != cudaSuccess) (void)cudaGetLastError();
}

static mk_status cu_event_record(mk_context *ctx, void *ev) {
    mk_status s = cuda_enter(ctx);
    if (s != MK_OK) return s;
    cudaError_t e = CUDA_QUEUE(cudaEventRecord((cudaEvent_t)ev, cuda_of(ctx)->stream));
    return e == cudaSuccess ? MK_OK : cuda_fail(e, "cudaEventRecord");
}

static mk_status cu_event_elapsed_ms(mk_context *ctx, void *start, void *end, float *ms) {
    mk_status s = cuda_enter(ctx);
    if (s != MK_OK) return s;
    cudaError_t e = CUDA_QUEUE(cudaEventSynchronize((cudaEvent_t)end));
    if (e != cudaSuccess) return cuda_fail(e, "cudaEventSynchronize");
    e = cudaEventElapsedTime(ms, (cudaEvent_t)start, (cudaEvent_t)end);
    return e == cudaSuccess ? MK_OK : cuda_fail(e, "cudaEventElapsedTime");
}

/* ------------------------------------------------------------------ quantized weights */

/* The weight lives on the device in the pre-shuffled tensor-core layout of cuda_qpack.c
   (codes, scales and zero points per 16-row tile); k_perm is kept as it is (the kernels
   gather x through it). Packing and unpacking run on the host, so mk_qweight_read gives
   back exactly the canonical bits that were packed. */
static void qweight_free(const mk_qweight *qw, cuda_qweight *w) {
    if (!w) return;
    (void)cudaSetDevice(cuda_of(qw->ctx)->dev->ordinal); /* even when that fails: the count must drop */
    cuda_free(w->q);
    cuda_free(w->scales);
    cuda_free(w->zeros);
    cuda_free(w->k_perm);
    (void)cudaGetLastError();
    mk__free(w);
}

static mk_status upload(mk_context *ctx, void **dst, const void *src, size_t bytes, const char *what) {
    cudaError_t e = cuda_malloc(dst, bytes ? bytes : 1);
    if (e != cudaSuccess) return cuda_fail(e, what);
    if (!bytes) return MK_OK;
    e = CUDA_QUEUE(cudaMemcpyAsync(*dst, src, bytes, cudaMemcpyHostToDevice, cuda_of(ctx)->stream));
    return e == cudaSuccess ? MK_OK : cuda_fail(e, what);
}

static mk_status cu_qweight_create(mk_context *ctx, mk_qweight *qw, const mk_qweight_data *data) {
    mk_status s = cuda_enter(ctx);
    if (s != MK_OK) return s;
    const mk_qweight_desc *d = &qw->desc;
    cuda_qweight *w = mk__calloc(1, sizeof *w);
    if (!w) return mk__fail(MK_ERR_OUT_OF_MEMORY, "out of host memory for the weight");
    if (!cuda_qpack_plan(d, &w->layout)) {
        mk__free(w);
        return mk__fail(MK_ERR_UNSUPPORTED, "cuda: desc (format %d, n %lld, k %lld, group_size %d) has no packed layout",
                        (int)d->format, (long long)d->n, (long long)d->k, d->group_size);
    }
    const cuda_qpack_layout *L = &w->layout;
    uint8_t *hq = mk__malloc(L->q_bytes), *hz = L->zero_bytes ? mk__malloc(L->zero_bytes) : NULL;
    void *hs = mk__malloc(L->scale_bytes);
    if (!hq || !hs || (L->zero_bytes && !hz)) {
        s = mk__fail(MK_ERR_OUT_OF_MEMORY, "out of host memory packing the weight");
    } else {
        cuda_qpack_pack(d, L, data, hq, hs, hz);
        if ((s = upload(ctx, &w->q, hq, L->q_bytes, "uploading the packed weight codes")) == MK_OK &&
            (s = upload(ctx, &w->scales, hs, L->scale_bytes, "uploading the packed weight scales")) == MK_OK &&
            (!L->zero_bytes ||
             (s = upload(ctx, &w->zeros, hz, L->zero_bytes, "uploading the packed zero points")) == MK_OK) &&
            (!qw->has_perm ||
             (s = upload(ctx, &w->k_perm, data->k_perm, (size_t)d->k * sizeof(int32_t), "uploading k_perm")) == MK_OK))
            s = sync_stream(ctx, "uploading the weight"); /* the staging arrays are freed next */
    }
    mk__free(hq);
    mk__free(hs);
    mk__free(hz);
    if (s != MK_OK) {
        qweight_free(qw, w);
        return s;
    }
    qw->impl = w;
    return MK_OK;
}

static void cu_qweight_destroy(mk_qweight *qw) { qweight_free(qw, qw->impl); }

static mk_status download(mk_context *ctx, void *dst, const void *src, size_t bytes, const char *what) {
    if (!bytes) return MK_OK;
    cudaError_t e = CUDA_QUEUE(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, cuda_of(ctx)->stream));
    return e == cudaSuccess ? MK_OK : cuda_fail(e, what);
}

static mk_status cu_qweight_read(const mk_qweight *qw, mk_qweight_data *out) {
    mk_context *ctx = qw->ctx;
    const cuda_qweight *w = qw->impl;
    const cuda_qpack_layout *L = &w->layout;
    const mk_qweight_desc *d = &qw->desc;
    mk_status s = cuda_enter(ctx);
    if (s != MK_OK) return s;
    uint8_t *hq = mk__malloc(L->q_bytes), *hz = L->zero_bytes ? mk__malloc(L->zero_bytes) : NULL;
    void *hs = mk__malloc(L->scale_bytes);
    if (!hq || !hs || (L->zero_bytes && !hz)) {
        s = mk__fail(MK_ERR_OUT_OF_MEMORY, "out of host memory unpacking the weight");
    } else if ((s = download(ctx, hq, w->q, L->q_bytes, "reading the packed weight codes")) == MK_OK &&
               (s = download(ctx, hs, w->scales, L->scale_bytes, "reading the packed weight scales")) == MK_OK &&
               (!L->zero_bytes ||
                (s = download(ctx, hz, w->zeros, L->zero_bytes, "reading the packed zero points")) == MK_OK) &&
               (!qw->has_perm || !out->k_perm ||
                (s = download(ctx, out->k_perm, w->k_perm, (size_t)d->k * sizeof(int32_t), "reading k_perm")) == MK_OK) &&
               (s = sync_stream(ctx, "reading the weight")) == MK_OK) {
        cuda_qpack_unpack(d, L, hq, hs, qw->has_zeros ? hz : NULL, out);
    }
    mk__free(hq);
    mk__free(hs);
    mk__free(hz);
    return s;
}

/* ------------------------------------------------------------------ kernel table */

#define CUDA_MAX_KERNELS 64
static const mk_kernel *cuda_kernel_list[CUDA_MAX_KERNELS];
static int cuda_kernel_n;
static pthread_once_t cuda_kernels_once = PTHREAD_ONCE_INIT;

static void collect(const mk_kernel *const *(*family)(int *)) {
    int n = 0;
    const mk_kernel *const *list = family(&n);
    for (int i = 0; i < n && cuda_kernel_n < CUDA_MAX_KERNELS; i++) cuda_kernel_list[cuda_kernel_n++] = list[i];
}

static void build_kernel_list(void) {
    collect(cuda_elementwise_kernels);
    collect(cuda_norm_kernels);
    collect(cuda_rope_kernels);
    collect(cuda_kv_kernels);
    collect(cuda_gemm_kernels);
    collect(cuda_qgemm_kernels);
    collect(cuda_attention_kernels);
}

static const mk_kernel *const *cu_kernels(int *count) {
    pthread_once(&cuda_kernels_once, build_kernel_list);
    *count = cuda_kernel_n;
    return cuda_kernel_list;
}

static void *cu_native_queue(const mk_context *ctx) { return (void *)cuda_of(ctx)->stream; }

/* "auto": a CUDA device over every OpenCL device (40 at most) and ref (0). */
static int cu_auto_rank(const mk_device_info *d) {
    (void)d;
    return 50;
}

static const mk_backend cuda_backend = {
    .abi_version = MK_BACKEND_ABI_VERSION,
    .name = "cuda",
    .auto_rank = cu_auto_rank,
    .device_count = cu_device_count,
    .device_info = cu_device_info,
    .context_init = cu_context_init,
    .context_fini = cu_context_fini,
    .buffer_alloc = cu_buffer_alloc,
    .buffer_free = cu_buffer_free,
    .buffer_write = cu_buffer_write,
    .buffer_read = cu_buffer_read,
    .buffer_fill = cu_buffer_fill,
    .buffer_copy = cu_buffer_copy,
    .synchronize = cu_synchronize,
    .event_create = cu_event_create,
    .event_destroy = cu_event_destroy,
    .event_record = cu_event_record,
    .event_elapsed_ms = cu_event_elapsed_ms,
    .qweight_create = cu_qweight_create,
    .qweight_destroy = cu_qweight_destroy,
    .qweight_read = cu_qweight_read,
    .kernels = cu_kernels,
    .native_queue = cu_native_queue,
};

/* The module's entry point (medkern/backend.h). */
const mk_backend *mk_backend_module_init(int abi_version, char *why, size_t n) {
    if (abi_version != MK_BACKEND_ABI_VERSION) {
        snprintf(why, n, "libmedkern-cuda.so was built for backend ABI %d, the core has %d",
                 MK_BACKEND_ABI_VERSION, abi_version);
        return NULL;
    }
    return &cuda_backend;
}
