/*
 * Per-context scratch buffers and constant tables of the OpenCL op families (ocl_scratch.h),
 * held in the context's ocl_ctx and released with it. Ops run one at a time per context
 * (the thread model of medkern.h), so no lock is needed.
 */
#include <stdlib.h>
#include <string.h>

#include "ocl_scratch.h"

#define OCL_TABLES 4 /* Gemma 3 alternates two rope tables; room to spare */

typedef struct ocl_state {
    cl_mem mem[OCL_SCRATCH_SLOTS];
    size_t bytes[OCL_SCRATCH_SLOTS];
    cl_mem table_mem[OCL_TABLES];
    void *table_host[OCL_TABLES]; /* the bytes each table_mem holds */
    size_t table_bytes[OCL_TABLES];
    int next_table;
} ocl_state;

/* The state of ctx, created on first use when `create`. */
static ocl_state *state_of(mk_context *ctx, int create) {
    ocl_ctx *oc = ocl_of(ctx);
    if (!oc->scratch && create) oc->scratch = mk__calloc(1, sizeof *oc->scratch);
    return oc->scratch;
}

mk_status ocl_scratch(mk_context *ctx, ocl_scratch_slot slot, size_t bytes, cl_mem *out) {
    if (bytes == 0) bytes = 1;
    ocl_state *s = state_of(ctx, 1);
    if (!s) {
        return mk__fail(MK_ERR_OUT_OF_MEMORY, "out of host memory for the OpenCL scratch state");
    }
    if (s->bytes[slot] < bytes) {
        /* grow by at least half so a slowly growing shape does not reallocate each call */
        size_t want = bytes + bytes / 2;
        ocl_buffer_release(s->mem[slot]);
        s->mem[slot] = NULL;
        s->bytes[slot] = 0;
        cl_int err;
        cl_mem m = ocl_buffer_create(ocl_of(ctx)->cl, CL_MEM_READ_WRITE, want, NULL, &err);
        if (!m) {
                return ocl_fail(err, "allocating scratch memory");
        }
        s->mem[slot] = m;
        s->bytes[slot] = want;
    }
    *out = s->mem[slot];
    return MK_OK;
}

mk_status ocl_const_table(mk_context *ctx, const void *data, size_t bytes, cl_mem *out) {
    ocl_state *s = state_of(ctx, 1);
    if (!s) return mk__fail(MK_ERR_OUT_OF_MEMORY, "out of host memory for the OpenCL scratch state");
    for (int i = 0; i < OCL_TABLES; i++)
        if (s->table_mem[i] && s->table_bytes[i] == bytes && memcmp(s->table_host[i], data, bytes) == 0) {
            *out = s->table_mem[i];
            return MK_OK;
        }
    void *host = mk__malloc(bytes);
    if (!host) return mk__fail(MK_ERR_OUT_OF_MEMORY, "out of host memory for a constant table (%zu bytes)", bytes);
    cl_int err;
    cl_mem m = ocl_buffer_create(ocl_of(ctx)->cl, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, bytes, (void *)data, &err);
    if (!m) {
        mk__free(host);
        return ocl_fail(err, "clCreateBuffer (constant table)");
    }
    memcpy(host, data, bytes);
    const int i = s->next_table++ % OCL_TABLES;
    ocl_buffer_release(s->table_mem[i]);
    mk__free(s->table_host[i]);
    s->table_mem[i] = m, s->table_host[i] = host, s->table_bytes[i] = bytes;
    *out = m;
    return MK_OK;
}

void ocl_scratch_release(mk_context *ctx) {
    ocl_ctx *oc = ocl_of(ctx);
    ocl_state *s = oc->scratch;
    if (!s) return;
    for (int i = 0; i < OCL_SCRATCH_SLOTS; i++) ocl_buffer_release(s->mem[i]);
    for (int i = 0; i < OCL_TABLES; i++) {
        ocl_buffer_release(s->table_mem[i]);
        mk__free(s->table_host[i]);
    }
    mk__free(s);
    oc->scratch = NULL;
}
