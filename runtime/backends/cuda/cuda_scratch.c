/*
 * Per-context device scratch of the CUDA op families (cuda_internal.h: cuda_scratch),
 * one grow-only allocation per slot, held in the context and freed with it. Ops queue
 * their work on the context's one stream, so a later call never overlaps the previous
 * user of a slot; when a slot must grow, the stream is drained before the old
 * allocation is freed.
 */
#include "cuda_internal.h"

mk_status cuda_scratch(cuda_ctx *c, cuda_scratch_slot slot, size_t bytes, void **out) {
    if (bytes == 0) bytes = 1;
    if (c->scratch_bytes[slot] < bytes) {
        cudaError_t e;
        if (c->scratch[slot]) {
            mk__note_sync(c->ctx);
            if ((e = cudaStreamSynchronize(c->stream)) != cudaSuccess)
                return cuda_fail(e, "draining the stream before growing the scratch memory");
            cuda_free(c->scratch[slot]);
            c->scratch[slot] = NULL, c->scratch_bytes[slot] = 0;
        }
        void *p = NULL;
        if ((e = cuda_malloc(&p, bytes)) != cudaSuccess) return cuda_fail(e, "allocating scratch memory");
        c->scratch[slot] = p, c->scratch_bytes[slot] = bytes;
    }
    *out = c->scratch[slot];
    return MK_OK;
}

void cuda_scratch_free(cuda_ctx *c) {
    for (int i = 0; i < CUDA_SCRATCH_SLOTS; i++) {
        cuda_free(c->scratch[i]);
        c->scratch[i] = NULL, c->scratch_bytes[i] = 0;
    }
}
