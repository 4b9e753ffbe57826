/*
 * Per-context state of the OpenCL op families that need more than their arguments:
 * device scratch buffers (quantized activations) and constant tables, held in the
 * context (ocl_ctx.scratch) and released with it
 * (ocl_scratch_release from the backend's context_fini).
 */
#ifndef MEDKERN_BACKENDS_OPENCL_SCRATCH_H
#define MEDKERN_BACKENDS_OPENCL_SCRATCH_H

#include "ocl_internal.h"

typedef enum {
    OCL_SCRATCH_QGEMM_X = 0, /* permuted or quantized activations       */
    OCL_SCRATCH_QGEMM_SCALE, /* per-token activation scales             */
    OCL_SCRATCH_SLOTS
} ocl_scratch_slot;

/* A device buffer of at least `bytes` for `slot` of ctx. It grows on demand and is
   reused by later calls: ops run in order on the context's queue, so a call never
   overlaps the previous user of the slot (a replaced buffer is released, and OpenCL
   frees it once the commands that use it are done). */
mk_status ocl_scratch(mk_context *ctx, ocl_scratch_slot slot, size_t bytes, cl_mem *out);

/* A read-only device copy of a small constant table (e.g. rope's frequencies), kept per
   context: a call with the same bytes as one of the last OCL_TABLES tables gets that
   buffer back without an allocation or a transfer; a new table is uploaded into a new
   buffer (the one it replaces is released; queued commands keep it alive). */
mk_status ocl_const_table(mk_context *ctx, const void *data, size_t bytes, cl_mem *out);

/* Frees everything held for ctx (idempotent). */
void ocl_scratch_release(mk_context *ctx);

#endif
