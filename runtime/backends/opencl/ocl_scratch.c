/*
 * Per-context scratch buffers and plan memo of the OpenCL op families (ocl_scratch.h),
 * held in the context's ocl_ctx and released with it. Ops run one at a time per context
 * (the thread model of medkern.h), so no lock is needed.
 */
#include <stdlib.h>
#include <string.h>

#include "ocl_scratch.h"

#define OCL_PLANS 16

typedef struct ocl_state {
    cl_mem mem[OCL_SCRATCH_SLOTS];
    size_t bytes[OCL_SCRATCH_SLOTS];
    int plan_key[OCL_PLANS][4], plan_val[OCL_PLANS][4];
    int nplans, next_plan;  /* next_plan: round-robin replacement */
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

int ocl_plan_get(mk_context *ctx, const int key[4], int val[4]) {
    int found = 0;
    ocl_state *s = state_of(ctx, 0);
    for (int i = 0; s && i < s->nplans && !found; i++)
        if (memcmp(s->plan_key[i], key, sizeof s->plan_key[i]) == 0) {
            memcpy(val, s->plan_val[i], sizeof s->plan_val[i]);
            found = 1;
        }
    return found;
}

void ocl_plan_put(mk_context *ctx, const int key[4], const int val[4]) {
    ocl_state *s = state_of(ctx, 0);
    if (!s) s = ocl_of(ctx)->scratch = mk__calloc(1, sizeof *s); /* a memo: out of memory, not kept */
    if (s) {
        int i = s->nplans < OCL_PLANS ? s->nplans++ : s->next_plan++ % OCL_PLANS;
        memcpy(s->plan_key[i], key, sizeof s->plan_key[i]);
        memcpy(s->plan_val[i], val, sizeof s->plan_val[i]);
    }
}

void ocl_plan_clear(mk_context *ctx) {
    ocl_state *s = state_of(ctx, 0);
    if (s) s->nplans = s->next_plan = 0;
}

void ocl_scratch_release(mk_context *ctx) {
    ocl_ctx *oc = ocl_of(ctx);
    ocl_state *s = oc->scratch;
    if (!s) return;
    for (int i = 0; i < OCL_SCRATCH_SLOTS; i++) ocl_buffer_release(s->mem[i]);
    mk__free(s);
    oc->scratch = NULL;
}
