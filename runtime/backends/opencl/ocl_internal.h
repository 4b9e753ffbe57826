/*
 * Internals of the OpenCL backend, shared by its files:
 *   ocl_backend.c   the mk_backend vtable: platforms/devices (opencl:N in platform-major
 *                   order), contexts (one in-order queue with profiling), buffers, events,
 *                   weight packing hooks, and the kernel table of all ocl_*.c files
 *   ocl_program.c   kernel sources embedded from kernels/opencl/, built once per
 *                   (device, source, options), cached in memory and on disk
 *   ocl_tuning.c    per-device parameters: defaults by device type/vendor, overridden by
 *                   the tuning file written by `medkern tune`
 *   ocl_<op>.c      the kernel variants of one op family (mk_kernel entries)
 *
 * Device code conventions (kernels/opencl/common.clh, prepended to every program):
 *   - buffers are passed as (__global T *base, ulong offset_in_elements) pairs;
 *   - element types are chosen by build options: -DT_IN=0/1/2 for f32/f16/bf16 etc.;
 *     LOADF(p, i) / STOREF(p, i, v) read and write one element as float with the
 *     rounding of the reference, bit for bit (stores by integer RNE on the f32 bits:
 *     f16 subnormals, Inf, NaN payloads; bf16; fp8 saturation; f16 loads through
 *     vload_half, exact for non-NaN codes); LOADBITS_T / STOREBITS_T move values as
 *     integer bits (KV append: NaN payloads kept);
 *   - only OpenCL C 1.2 in baseline variants; faster ones are built only where the
 *     device has the extension their supports() names.
 */
#ifndef MEDKERN_BACKENDS_OPENCL_INTERNAL_H
#define MEDKERN_BACKENDS_OPENCL_INTERNAL_H

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include <CL/cl.h>
#include <pthread.h>

#include "medkern/backend.h"

/* The device extensions of the faster variants (ocl_extensions.c). */
typedef enum { OCL_EXT_FP16, OCL_EXT_SUBGROUPS, OCL_EXT_INT_DOT } ocl_ext;

/* One OpenCL device as enumerated at startup. */
typedef struct {
    cl_platform_id platform;
    cl_device_id device;
    mk_device_info info;
    char extensions[4096];
    int has_fp16, has_subgroups, has_int_dot;
    size_t max_wg;          /* CL_DEVICE_MAX_WORK_GROUP_SIZE */
    size_t local_mem;       /* CL_DEVICE_LOCAL_MEM_SIZE      */
    /* filled by ocl_ext_probe (ocl_extensions.c) */
    int c_version;          /* highest OpenCL C version, 10 * major + minor */
    unsigned long long half_config; /* CL_DEVICE_HALF_FP_CONFIG (0 without cl_khr_fp16) */
    int int_dot_packed;     /* cl_khr_integer_dot_product with 4x8-bit packed inputs */
    char ext_options[3][320]; /* build options per ocl_ext (ocl_ext_options) */
} ocl_device;

/* Device extensions of the faster variants (ocl_extensions.c): whether the space-
   separated list has ext; the extension facts and has_* flags ocl_device keeps (called
   once per device at enumeration, after the extension list is read); whether the context's device can run variants that need e (0 with
   the reason, e.g. "device lacks cl_khr_fp16"); the build options of such a program
   ("-DMK_HALF=1", "-cl-std=CL2.0 -DMK_SUBGROUPS=1", ...; see common.clh). */
int ocl_has_ext(const char *list, const char *ext);
void ocl_ext_probe(ocl_device *od);
int ocl_ext_supports(const mk_context *ctx, ocl_ext e, char *why, size_t n);
const char *ocl_ext_options(const mk_context *ctx, ocl_ext e);

/* Number of devices and the i-th one (ocl_backend.c). */
int ocl_device_total(void);
const ocl_device *ocl_device_get(int local);

/* Per-context state (ctx->impl). */
typedef struct ocl_program_entry ocl_program_entry;
typedef struct ocl_tuning ocl_tuning;
typedef struct {
    const ocl_device *dev;
    cl_context cl;
    cl_command_queue queue;   /* in order, CL_QUEUE_PROFILING_ENABLE */
    pthread_mutex_t lock;     /* guards the program/kernel cache and the tuning load */
    ocl_program_entry *programs;
    ocl_tuning *tuning;       /* the device's tuning file, loaded with the context */
    struct ocl_state *scratch; /* op-family scratch buffers and plans (ocl_scratch.c) */
} ocl_ctx;

/* Release a context's cached programs (ocl_program.c) and tuning (ocl_tuning.c). */
void ocl_programs_release(ocl_ctx *oc);
void ocl_tuning_release(ocl_ctx *oc);
/* Loads the device's tuning (ocl_tuning.c) when the context is created, so that running
   out of memory is a failed context creation, never a silent switch to other tiles or
   variants later. */
mk_status ocl_tuning_init(ocl_ctx *oc);

static inline ocl_ctx *ocl_of(const mk_context *ctx) { return (ocl_ctx *)ctx->impl; }
static inline cl_mem ocl_mem(const mk_buffer *b) { return (cl_mem)b->mem; }

/* An OpenCL error as MK_ERR_DEVICE (or MK_ERR_OUT_OF_MEMORY for allocation failures),
   with what was being done and the CL error name in mk_last_error(). */
mk_status ocl_fail(cl_int err, const char *what);
const char *ocl_error_name(cl_int err);
/* The same for a failed queue call (enqueue, finish, wait): the errors that mean the
   device is gone (CL_DEVICE_NOT_AVAILABLE, CL_OUT_OF_RESOURCES, CL_INVALID_COMMAND_QUEUE,
   CL_INVALID_CONTEXT, CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST) are reported with
   mk__fail_lost, so the runtime marks the context lost. */
mk_status ocl_queue_fail(cl_int err, const char *what);
/* A queue call under fault injection: CL_DEVICE_NOT_AVAILABLE instead of the call when
   MEDKERN_FAULT_DEVICE_LOST picks this one (fault.c), else the call's result. */
#define OCL_QUEUE(call) (mk__fault_device_lost() ? CL_DEVICE_NOT_AVAILABLE : (call))
/* clCreateBuffer / clReleaseMemObject for every device allocation of the backend: fault
   injection (CL_MEM_OBJECT_ALLOCATION_FAILURE when MEDKERN_FAULT_DEVICE_ALLOC picks this
   one) and the live-allocation count (the caller is the site reported). Release accepts
   NULL. */
cl_mem ocl_buffer_create_at(cl_context cl, cl_mem_flags flags, size_t bytes, void *host, cl_int *err,
                            mk_site at);
#define ocl_buffer_create(cl, flags, bytes, host, err) \
    ocl_buffer_create_at((cl), (flags), (bytes), (host), (err), MK_SITE)
void ocl_buffer_release(cl_mem m);

/* The kernel `kernel` of embedded source file `file` ("attention_decode.cl") built with
   `options` on ctx's device. The program is built once per (device, file, options),
   cached in ctx and on disk ($MEDKERN_CACHE_DIR, else $XDG_CACHE_HOME/medkern, else
   ~/.cache/medkern; keyed by device name, driver version, source hash and options). A
   build failure returns MK_ERR_DEVICE with the build log in mk_last_error(). The
   returned cl_kernel belongs to the cache: do not release it; set its arguments and
   enqueue it while holding no other reference (ops run one at a time per context). */
mk_status ocl_kernel(mk_context *ctx, const char *file, const char *kernel, const char *options,
                     cl_kernel *out);

/* The medkern cache directory ($MEDKERN_CACHE_DIR, else $XDG_CACHE_HOME/medkern, else
   ~/.cache/medkern) joined with `sub` ("opencl", "tuning"), created when `create` is set.
   0 when there is none (no HOME) or it cannot be created. */
int ocl_cache_dir(const char *sub, int create, char *out, size_t n);

/* clSetKernelArg for a list of (size, pointer) pairs, then clEnqueueNDRangeKernel.
   global sizes are rounded up to multiples of local when local is given. */
typedef struct { size_t size; const void *ptr; } ocl_arg;
#define OCL_ARG(x) ((ocl_arg){sizeof(x), &(x)})
#define OCL_LOCAL(bytes) ((ocl_arg){(bytes), NULL})
mk_status ocl_launch(mk_context *ctx, cl_kernel k, const char *name, int nargs, const ocl_arg *args,
                     int dims, const size_t *global, const size_t *local);

/* The largest work-group k can run with on ctx's device (CL_KERNEL_WORK_GROUP_SIZE,
   bounded by the device limit), and the power of two <= n (n >= 1). */
size_t ocl_kernel_wg(const mk_context *ctx, cl_kernel k);
static inline size_t ocl_pow2_floor(size_t n) {
    size_t p = 1;
    while (p * 2 <= n) p *= 2;
    return p;
}

/* Build-option fragment for a tensor element type: "-DT_<tag>=<code>" with code 0 f32,
   1 f16, 2 bf16, 3 fp8 e4m3, 4 i8, 5 u8, 6 i32 (see common.clh). */
int ocl_dtype_code(mk_dtype t);

/* Offset of a tensor in elements (validation guarantees alignment). */
static inline cl_ulong ocl_elem_offset(const mk_tensor *t) {
    return (cl_ulong)(t->offset / mk_dtype_size(t->dtype));
}

/* Tuned parameters (ocl_tuning.c): the value of `param` for `op` on ctx's device, from
   the tuning file if it has one, else the default for the device type and vendor, else
   `fallback`. *source (may be NULL) gets "tuning file", "default (cpu)", ... */
int ocl_param(const mk_context *ctx, const char *op, const char *param, int fallback,
              const char **source);

/* The backend's parameter hooks (ocl_tuning.c). */
int ocl_param_list(mk_context *ctx, mk_param_info *out, int cap);
mk_status ocl_param_set(mk_context *ctx, const char *op, const char *name, int value);
mk_status ocl_tuning_file(const mk_context *ctx, char *path, size_t n);
/* The variant the tuning file prefers for op ("variants"; see ocl_tuning.c), or NULL. */
const char *ocl_tuned_variant(const mk_context *ctx, mk_op op, const mk_op_args *args, char *source,
                              size_t n);

/* For the op-family files: ocl_always is the supports() of a variant that takes every
   call its op accepts (ocl_backend.c); OCL_KERNEL defines such a variant; OCL_TRY
   returns from the calling function with x's status unless it is MK_OK. */
int ocl_always(const mk_context *ctx, const mk_op_args *args, char *why, size_t n);
#define OCL_KERNEL(var, OP, name, prio, fn, text) \
    static const mk_kernel var = {OP, name, "opencl", prio, text, ocl_always, fn, NULL}
#define OCL_TRY(x)                      \
    do {                                \
        mk_status s_ = (x);             \
        if (s_ != MK_OK) return s_;     \
    } while (0)

/* Kernel tables of the op-family files (each returns its static list). */
const mk_kernel *const *ocl_elementwise_kernels(int *count); /* silu_mul, gelu_mul, add      */
const mk_kernel *const *ocl_norm_kernels(int *count);        /* rmsnorm, layernorm         */
const mk_kernel *const *ocl_rope_kernels(int *count);        /* rope                       */
const mk_kernel *const *ocl_gemm_kernels(int *count);        /* gemm                       */
const mk_kernel *const *ocl_kv_kernels(int *count);          /* kv_append, kv_copy_blocks  */
const mk_kernel *const *ocl_attention_kernels(int *count);   /* attention_prefill, attention_decode */
const mk_kernel *const *ocl_qgemm_kernels(int *count);       /* qgemm                      */

/* Weight packing for qgemm (ocl_qgemm.c): the vtable's qweight hooks. */
mk_status ocl_qweight_create(mk_context *ctx, mk_qweight *qw, const mk_qweight_data *data);
void ocl_qweight_destroy(mk_qweight *qw);
mk_status ocl_qweight_read(const mk_qweight *qw, mk_qweight_data *out);

#endif
