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
 *     rounding of the reference (RNE; f16 via vload_half/vstore_half_rte; bf16 by
 *     integer RNE with NaN kept);
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

#include "internal.h"

/* One OpenCL device as enumerated at startup. */
typedef struct {
    cl_platform_id platform;
    cl_device_id device;
    mk_device_info info;
    char extensions[4096];
    int has_fp16, has_subgroups, has_int_dot;
    size_t max_wg;          /* CL_DEVICE_MAX_WORK_GROUP_SIZE */
    size_t local_mem;       /* CL_DEVICE_LOCAL_MEM_SIZE      */
} ocl_device;

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
    ocl_tuning *tuning;       /* the device's tuning file, loaded on first ocl_param */
    struct ocl_state *scratch; /* op-family scratch buffers and plans (ocl_scratch.c) */
} ocl_ctx;

/* Release a context's cached programs (ocl_program.c) and tuning (ocl_tuning.c). */
void ocl_programs_release(ocl_ctx *oc);
void ocl_tuning_release(ocl_ctx *oc);

static inline ocl_ctx *ocl_of(const mk_context *ctx) { return (ocl_ctx *)ctx->impl; }
static inline cl_mem ocl_mem(const mk_buffer *b) { return (cl_mem)b->mem; }

/* An OpenCL error as MK_ERR_DEVICE (or MK_ERR_OUT_OF_MEMORY for allocation failures),
   with what was being done and the CL error name in mk_last_error(). */
mk_status ocl_fail(cl_int err, const char *what);
const char *ocl_error_name(cl_int err);

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

/* Kernel tables of the op-family files (each returns its static list). */
const mk_kernel *const *ocl_elementwise_kernels(int *count); /* silu_mul, gelu_mul, add, rmsnorm, layernorm, rope */
const mk_kernel *const *ocl_gemm_kernels(int *count);        /* gemm                       */
const mk_kernel *const *ocl_kv_kernels(int *count);          /* kv_append, kv_copy_blocks  */
const mk_kernel *const *ocl_attention_kernels(int *count);   /* attention_prefill, attention_decode */
const mk_kernel *const *ocl_qgemm_kernels(int *count);       /* qgemm                      */

/* Weight packing for qgemm (ocl_qgemm.c): the vtable's qweight hooks. */
mk_status ocl_qweight_create(mk_context *ctx, mk_qweight *qw, const mk_qweight_data *data);
void ocl_qweight_destroy(mk_qweight *qw);
mk_status ocl_qweight_read(const mk_qweight *qw, mk_qweight_data *out);

#endif
