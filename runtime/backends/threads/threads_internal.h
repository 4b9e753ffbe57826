/*
 * Internals of the host-threads backend ("threads", one device "threads:0"), the
 * in-tree example of docs/porting.md. Its files:
 *   threads_backend.c      the mk_backend vtable: one device, contexts (each with its own
 *                          worker pool), host-memory buffers, host-clock events, weight
 *                          hooks that answer MK_ERR_UNSUPPORTED, and the kernel table
 *   threads_pool.c         the worker pool: N-1 threads plus the caller, static parts
 *   threads_elementwise.c  add, silu_mul, gelu_mul ("threads.rows")
 *   threads_norm.c         rmsnorm, Gemma's 1+w included ("threads.rows")
 *   threads_gemm.c         gemm ("threads.rowblock", "threads.colblock")
 *
 * Every other op has no variant here: the dispatcher reports it as MK_ERR_UNSUPPORTED,
 * "the threads backend implements no <op> variant". The device is never chosen by
 * "auto" (no auto_rank hook): it is an example, not a fast or complete path.
 *
 * It is a backend module, libmedkern-threads.so, built from these files alone against
 * the installed medkern/medkern.h and medkern/backend.h (docs/porting.md): nothing here
 * includes a header of the core.
 *
 * Numerics: values are read as float with the reference's conversions, computed in f32
 * (f32 accumulation), and stored with the reference's rounding. Every output element is
 * computed by one thread in a fixed order that does not depend on the partition, so the
 * bits are the same for any thread count and for either gemm variant.
 */
#ifndef MEDKERN_BACKENDS_THREADS_INTERNAL_H
#define MEDKERN_BACKENDS_THREADS_INTERNAL_H

#include <stdint.h>

#include "medkern/backend.h"

/* Largest thread count (MEDKERN_THREADS is checked against it). */
#define THREADS_MAX 256

/* ---- the worker pool (threads_pool.c) */

/* One part of a job: part in [0, nparts). */
typedef void (*threads_fn)(void *arg, int part, int nparts);
typedef struct threads_pool threads_pool;

/* A pool whose jobs run on nthreads threads: the caller and nthreads-1 workers. */
mk_status threads_pool_create(int nthreads, threads_pool **out);
/* Stops and joins the workers; NULL is a no-op. */
void threads_pool_destroy(threads_pool *p);
/* Runs fn(arg, part, nparts) for every part in [0, nparts), part 0 on the calling thread
   and part i on worker i; returns when all parts are done. nparts is clamped to
   [1, nthreads]. Not reentrant: one job at a time per pool (one context, one thread). */
void threads_pool_run(threads_pool *p, threads_fn fn, void *arg, int nparts);
/* The static range [*begin, *end) of part `part` of `total` items split in nparts. */
void threads_range(int64_t total, int part, int nparts, int64_t *begin, int64_t *end);

/* ---- per-context state (ctx->impl) */

typedef struct {
    threads_pool *pool;
    int nthreads;
    float *scratch;           /* f32 staging for gemm, grows, freed at fini */
    size_t scratch_floats;
} threads_ctx;

static inline threads_ctx *threads_of(const mk_context *ctx) { return (threads_ctx *)ctx->impl; }

/* The thread count of a new context: MEDKERN_THREADS when set (1..THREADS_MAX, digits
   only), else the online processors (sysconf), clamped to THREADS_MAX. Returns 0 when
   MEDKERN_THREADS is malformed (*n then holds the default); sets no message. */
int threads_count(int *n);

/* At least `floats` floats of the context's scratch (NULL when out of memory). */
float *threads_scratch(mk_context *ctx, size_t floats);

/* ---- element access (medkern.h's conversions, the reference's: the bits match it) */

static inline const uint8_t *threads_base(const mk_tensor *t) {
    return (const uint8_t *)t->buf->mem + t->offset;
}

static inline float threads_load(mk_dtype t, const void *base, int64_t i) {
    switch (t) {
    case MK_F16: return mk_f16_to_f32(((const uint16_t *)base)[i]);
    case MK_BF16: return mk_bf16_to_f32(((const uint16_t *)base)[i]);
    default: return ((const float *)base)[i];
    }
}

static inline void threads_store(mk_dtype t, void *base, int64_t i, float v) {
    switch (t) {
    case MK_F16: ((uint16_t *)base)[i] = mk_f32_to_f16(v); break;
    case MK_BF16: ((uint16_t *)base)[i] = mk_f32_to_bf16(v); break;
    default: ((float *)base)[i] = v; break;
    }
}

/* supports() helper: 1 for f32/f16/bf16, else 0 with the reason. */
int threads_dtype_ok(const mk_tensor *t, const char *name, char *why, size_t n);

/* ---- kernel tables of the op-family files */
const mk_kernel *const *threads_elementwise_kernels(int *count); /* add, silu_mul, gelu_mul */
const mk_kernel *const *threads_norm_kernels(int *count);        /* rmsnorm                 */
const mk_kernel *const *threads_gemm_kernels(int *count);        /* gemm                    */

#endif
