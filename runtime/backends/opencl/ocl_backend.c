/*
 * The OpenCL backend's vtable: devices of every platform (opencl:N in platform-major
 * order, enumerated once), contexts with one in-order profiling queue, buffers, events
 * (markers with profiling timestamps), the qgemm weight hooks, and the kernel table of
 * every ocl_*.c file. No platform, no ICD or no device is zero devices, never an error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opencl/ocl_internal.h"
#include "opencl/ocl_scratch.h"

#define OCL_MAX_DEVICES 32

static ocl_device ocl_devices[OCL_MAX_DEVICES];
static int ocl_device_n;
static pthread_once_t ocl_enum_once = PTHREAD_ONCE_INIT;

static void dev_string(cl_device_id d, cl_device_info what, char *out, size_t n) {
    out[0] = 0;
    if (clGetDeviceInfo(d, what, n, out, NULL) != CL_SUCCESS) out[0] = 0;
    out[n - 1] = 0;
}

static void fill_device(ocl_device *od, cl_platform_id plat, cl_device_id dev) {
    mk_device_info *info = &od->info;
    memset(od, 0, sizeof *od);
    od->platform = plat;
    od->device = dev;
    dev_string(dev, CL_DEVICE_NAME, info->name, sizeof info->name);
    dev_string(dev, CL_DEVICE_VENDOR, info->vendor, sizeof info->vendor);
    dev_string(dev, CL_DRIVER_VERSION, info->driver, sizeof info->driver);
    dev_string(dev, CL_DEVICE_EXTENSIONS, od->extensions, sizeof od->extensions);

    cl_device_type type = 0;
    clGetDeviceInfo(dev, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    info->type = (type & CL_DEVICE_TYPE_GPU)           ? MK_DEVICE_GPU
                 : (type & CL_DEVICE_TYPE_ACCELERATOR) ? MK_DEVICE_ACCELERATOR
                                                       : MK_DEVICE_CPU;
    cl_ulong mem = 0;
    clGetDeviceInfo(dev, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof mem, &mem, NULL);
    info->memory_bytes = mem;
    cl_uint cu = 0;
    clGetDeviceInfo(dev, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cu, &cu, NULL);
    info->compute_units = (int)cu;

    /* "OpenCL C 1.2 <vendor text>" -> 1.2 */
    char cver[128];
    dev_string(dev, CL_DEVICE_OPENCL_C_VERSION, cver, sizeof cver);
    int major = 1, minor = 0;
    if (sscanf(cver, "OpenCL C %d.%d", &major, &minor) != 2) major = 1, minor = 0;
    info->capability_major = major;
    info->capability_minor = minor;

    ocl_ext_probe(od); /* has_fp16, has_subgroups, has_int_dot and the facts their variants need */
    cl_bool unified = CL_FALSE;
    clGetDeviceInfo(dev, CL_DEVICE_HOST_UNIFIED_MEMORY, sizeof unified, &unified, NULL);
    info->features = (od->has_fp16 ? MK_FEATURE_FP16 : 0u) |
                     (od->has_subgroups ? MK_FEATURE_SUBGROUPS : 0u) |
                     (od->has_int_dot ? MK_FEATURE_INT8_DOT : 0u) |
                     (unified ? MK_FEATURE_UNIFIED_MEMORY : 0u);

    size_t wg = 0;
    clGetDeviceInfo(dev, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof wg, &wg, NULL);
    od->max_wg = wg ? wg : 1;
    cl_ulong lmem = 0;
    clGetDeviceInfo(dev, CL_DEVICE_LOCAL_MEM_SIZE, sizeof lmem, &lmem, NULL);
    od->local_mem = (size_t)lmem;
}

/* Fixed arrays, no allocation: enumeration runs once per process and cannot fail for
   want of memory (a failure here would hide the devices for good). */
#define OCL_MAX_PLATFORMS 16
#define OCL_MAX_PLATFORM_DEVICES 64

static void enumerate(void) {
    cl_uint np = 0;
    cl_platform_id plats[OCL_MAX_PLATFORMS];
    if (clGetPlatformIDs(OCL_MAX_PLATFORMS, plats, &np) != CL_SUCCESS || np == 0) return;
    if (np > OCL_MAX_PLATFORMS) np = OCL_MAX_PLATFORMS;
    for (cl_uint p = 0; p < np && ocl_device_n < OCL_MAX_DEVICES; p++) {
        cl_uint nd = 0;
        cl_device_id devs[OCL_MAX_PLATFORM_DEVICES];
        if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, OCL_MAX_PLATFORM_DEVICES, devs, &nd) == CL_SUCCESS &&
            nd > 0) {
            if (nd > OCL_MAX_PLATFORM_DEVICES) nd = OCL_MAX_PLATFORM_DEVICES;
            for (cl_uint d = 0; d < nd && ocl_device_n < OCL_MAX_DEVICES; d++) {
                cl_bool avail = CL_TRUE, compiler = CL_TRUE;
                clGetDeviceInfo(devs[d], CL_DEVICE_AVAILABLE, sizeof avail, &avail, NULL);
                clGetDeviceInfo(devs[d], CL_DEVICE_COMPILER_AVAILABLE, sizeof compiler, &compiler, NULL);
                if (!avail || !compiler) continue; /* kernels are built at run time */
                fill_device(&ocl_devices[ocl_device_n++], plats[p], devs[d]);
            }
        }
    }
}

int ocl_device_total(void) {
    pthread_once(&ocl_enum_once, enumerate);
    return ocl_device_n;
}

const ocl_device *ocl_device_get(int local) {
    return local >= 0 && local < ocl_device_total() ? &ocl_devices[local] : NULL;
}

static int ocl_device_count(void) { return ocl_device_total(); }

static mk_status ocl_device_info(int local, mk_device_info *out) {
    const ocl_device *od = ocl_device_get(local);
    if (!od) return mk__fail(MK_ERR_NOT_FOUND, "no OpenCL device %d", local);
    *out = od->info;
    return MK_OK;
}

/* ---- contexts */


static void ocl_context_fini(mk_context *ctx);

static mk_status ocl_context_init(mk_context *ctx) {
    const ocl_device *od = ocl_device_get(ctx->local_device);
    if (!od) return mk__fail(MK_ERR_NOT_FOUND, "no OpenCL device %d", ctx->local_device);
    ocl_ctx *oc = mk__calloc(1, sizeof *oc);
    if (!oc) return mk__fail(MK_ERR_OUT_OF_MEMORY, "out of host memory for the OpenCL context");
    oc->dev = od;
    cl_int err;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)od->platform, 0};
    oc->cl = clCreateContext(props, 1, &od->device, NULL, NULL, &err);
    if (!oc->cl) {
        mk__free(oc);
        return ocl_fail(err, "clCreateContext");
    }
    oc->queue = clCreateCommandQueue(oc->cl, od->device, CL_QUEUE_PROFILING_ENABLE, &err);
    if (!oc->queue) {
        clReleaseContext(oc->cl);
        mk__free(oc);
        return ocl_fail(err, "clCreateCommandQueue");
    }
    pthread_mutex_init(&oc->lock, NULL);
    ctx->impl = oc;
    mk_status s = ocl_tuning_init(oc);
    if (s != MK_OK) {
        ocl_context_fini(ctx);
        return s;
    }
    return MK_OK;
}

static void ocl_context_fini(mk_context *ctx) {
    ocl_ctx *oc = ocl_of(ctx);
    if (!oc) return;
    if (!ctx->lost) clFinish(oc->queue); /* a lost device: release host state only */
    ocl_scratch_release(ctx);
    ocl_programs_release(oc);
    ocl_tuning_release(oc);
    clReleaseCommandQueue(oc->queue);
    clReleaseContext(oc->cl);
    pthread_mutex_destroy(&oc->lock);
    mk__free(oc);
    ctx->impl = NULL;
}

/* ---- memory */

cl_mem ocl_buffer_create_at(cl_context cl, cl_mem_flags flags, size_t bytes, void *host, cl_int *err,
                            mk_site at) {
    if (mk__fault_device_alloc_at(at)) {
        *err = CL_MEM_OBJECT_ALLOCATION_FAILURE;
        return NULL;
    }
    cl_mem m = clCreateBuffer(cl, flags, bytes, host, err);
    if (m && *err != CL_SUCCESS) { /* a driver that returns both: trust the error */
        clReleaseMemObject(m);
        m = NULL;
    }
    if (m) mk__device_live(1);
    else if (*err == CL_SUCCESS) *err = CL_MEM_OBJECT_ALLOCATION_FAILURE;
    return m;
}

void ocl_buffer_release(cl_mem m) {
    if (!m) return;
    mk__device_live(-1);
    clReleaseMemObject(m);
}

static mk_status ocl_buffer_alloc(mk_context *ctx, size_t bytes, void **mem) {
    cl_int err;
    cl_mem m = ocl_buffer_create(ocl_of(ctx)->cl, CL_MEM_READ_WRITE, bytes, NULL, &err);
    if (!m) return ocl_fail(err, "clCreateBuffer");
    *mem = m;
    return MK_OK;
}

static void ocl_buffer_free(mk_context *ctx, void *mem) {
    (void)ctx;
    ocl_buffer_release((cl_mem)mem);
}

static mk_status ocl_buffer_write(mk_context *ctx, void *mem, size_t off, const void *src, size_t n) {
    cl_int err = OCL_QUEUE(clEnqueueWriteBuffer(ocl_of(ctx)->queue, (cl_mem)mem, CL_TRUE, off, n, src, 0, NULL, NULL));
    return err == CL_SUCCESS ? MK_OK : ocl_queue_fail(err, "clEnqueueWriteBuffer");
}

static mk_status ocl_buffer_read(mk_context *ctx, void *mem, size_t off, void *dst, size_t n) {
    cl_int err = OCL_QUEUE(clEnqueueReadBuffer(ocl_of(ctx)->queue, (cl_mem)mem, CL_TRUE, off, n, dst, 0, NULL, NULL));
    return err == CL_SUCCESS ? MK_OK : ocl_queue_fail(err, "clEnqueueReadBuffer");
}

static mk_status ocl_buffer_fill(mk_context *ctx, void *mem, size_t off, uint8_t byte, size_t n) {
    cl_uchar pattern = byte;
    cl_int err = OCL_QUEUE(clEnqueueFillBuffer(ocl_of(ctx)->queue, (cl_mem)mem, &pattern, 1, off, n, 0, NULL, NULL));
    return err == CL_SUCCESS ? MK_OK : ocl_queue_fail(err, "clEnqueueFillBuffer");
}

static mk_status ocl_buffer_copy(mk_context *ctx, void *dst, size_t doff, void *src, size_t soff, size_t n) {
    cl_int err = OCL_QUEUE(clEnqueueCopyBuffer(ocl_of(ctx)->queue, (cl_mem)src, (cl_mem)dst, soff, doff, n, 0, NULL, NULL));
    return err == CL_SUCCESS ? MK_OK : ocl_queue_fail(err, "clEnqueueCopyBuffer");
}

static mk_status ocl_synchronize(mk_context *ctx) {
    cl_int err = OCL_QUEUE(clFinish(ocl_of(ctx)->queue));
    return err == CL_SUCCESS ? MK_OK : ocl_queue_fail(err, "clFinish");
}

/* ---- events: a marker per record; its profiling timestamp is the point in the queue */

static mk_status ocl_event_create(mk_context *ctx, void **ev) {
    (void)ctx;
    *ev = mk__calloc(1, sizeof(cl_event));
    return *ev ? MK_OK : mk__fail(MK_ERR_OUT_OF_MEMORY, "out of host memory for an event");
}

static void ocl_event_destroy(mk_context *ctx, void *ev) {
    (void)ctx;
    cl_event *e = ev;
    if (*e) clReleaseEvent(*e);
    mk__free(e);
}

static mk_status ocl_event_record(mk_context *ctx, void *ev) {
    cl_event *e = ev, fresh = NULL;
    cl_int err = OCL_QUEUE(clEnqueueMarkerWithWaitList(ocl_of(ctx)->queue, 0, NULL, &fresh));
    if (err != CL_SUCCESS) return ocl_queue_fail(err, "clEnqueueMarkerWithWaitList");
    if (*e) clReleaseEvent(*e);
    *e = fresh;
    clFlush(ocl_of(ctx)->queue);
    return MK_OK;
}

static mk_status event_time(cl_event e, cl_ulong *ns) {
    cl_int err = clGetEventProfilingInfo(e, CL_PROFILING_COMMAND_END, sizeof *ns, ns, NULL);
    if (err != CL_SUCCESS) err = clGetEventProfilingInfo(e, CL_PROFILING_COMMAND_START, sizeof *ns, ns, NULL);
    return err == CL_SUCCESS ? MK_OK : ocl_fail(err, "clGetEventProfilingInfo");
}

static mk_status ocl_event_elapsed_ms(mk_context *ctx, void *start, void *end, float *ms) {
    (void)ctx;
    cl_event a = *(cl_event *)start, b = *(cl_event *)end;
    cl_int err = OCL_QUEUE(clWaitForEvents(1, &b));
    if (err == CL_SUCCESS) err = clWaitForEvents(1, &a);
    if (err != CL_SUCCESS) return ocl_queue_fail(err, "clWaitForEvents");
    cl_ulong ta, tb;
    mk_status s = event_time(a, &ta);
    if (s == MK_OK) s = event_time(b, &tb);
    if (s != MK_OK) return s;
    *ms = (float)(((double)tb - (double)ta) * 1e-6);
    return MK_OK;
}

/* ---- kernels of every op family */

static const mk_kernel *ocl_all_kernels[128];
static int ocl_all_count;
static pthread_once_t ocl_kernels_once = PTHREAD_ONCE_INIT;

int ocl_always(const mk_context *ctx, const mk_op_args *args, char *why, size_t n) {
    (void)ctx, (void)args, (void)why, (void)n;
    return 1;
}

static void gather_kernels(void) {
    const mk_kernel *const *(*const families[])(int *) = {
        ocl_elementwise_kernels, ocl_norm_kernels, ocl_rope_kernels, ocl_gemm_kernels,
        ocl_kv_kernels, ocl_attention_kernels, ocl_qgemm_kernels};
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++) {
        int n = 0;
        const mk_kernel *const *list = families[f](&n);
        for (int i = 0; i < n && ocl_all_count < (int)(sizeof ocl_all_kernels / sizeof ocl_all_kernels[0]); i++)
            ocl_all_kernels[ocl_all_count++] = list[i];
    }
}

static const mk_kernel *const *ocl_kernels(int *count) {
    pthread_once(&ocl_kernels_once, gather_kernels);
    *count = ocl_all_count;
    return ocl_all_kernels;
}

static void *ocl_native_queue(const mk_context *ctx) { return (void *)ocl_of(ctx)->queue; }

/* "auto": a GPU over an accelerator over a CPU, all below CUDA (50) and above ref (0). */
static int ocl_auto_rank(const mk_device_info *d) {
    return d->type == MK_DEVICE_GPU ? 40 : d->type == MK_DEVICE_ACCELERATOR ? 35 : 30;
}

static const mk_backend ocl_backend = {
    .abi_version = MK_BACKEND_ABI_VERSION,
    .name = "opencl",
    .auto_rank = ocl_auto_rank,
    .device_count = ocl_device_count,
    .device_info = ocl_device_info,
    .context_init = ocl_context_init,
    .context_fini = ocl_context_fini,
    .buffer_alloc = ocl_buffer_alloc,
    .buffer_free = ocl_buffer_free,
    .buffer_write = ocl_buffer_write,
    .buffer_read = ocl_buffer_read,
    .buffer_fill = ocl_buffer_fill,
    .buffer_copy = ocl_buffer_copy,
    .synchronize = ocl_synchronize,
    .param_list = ocl_param_list,
    .param_set = ocl_param_set,
    .tuning_file = ocl_tuning_file,
    .tuned_variant = ocl_tuned_variant,
    .event_create = ocl_event_create,
    .event_destroy = ocl_event_destroy,
    .event_record = ocl_event_record,
    .event_elapsed_ms = ocl_event_elapsed_ms,
    .qweight_create = ocl_qweight_create,
    .qweight_destroy = ocl_qweight_destroy,
    .qweight_read = ocl_qweight_read,
    .kernels = ocl_kernels,
    .native_queue = ocl_native_queue,
};

/* The module's entry point (medkern/backend.h). */
const mk_backend *mk_backend_module_init(int abi_version, char *why, size_t n) {
    if (abi_version != MK_BACKEND_ABI_VERSION) {
        snprintf(why, n, "libmedkern-opencl.so was built for backend ABI %d, the core has %d",
                 MK_BACKEND_ABI_VERSION, abi_version);
        return NULL;
    }
    return &ocl_backend;
}
