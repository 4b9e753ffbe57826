/*
 * RoPE variant "cuda.block_per_token" (kernels/cuda/rope.cu): both styles, partial
 * rotary_dim, linear and Llama 3 scaling. The inverse frequencies come from the
 * reference itself (mkref_rope_inv_freq, in double) and are uploaded once per context
 * and parameter set, asynchronously: the host copy lives as long as the device table, so
 * nothing waits (only replacing all CUDA_ROPE_MAX_TABLES tables drains the stream); the
 * kernel forms each angle in double, so positions up to ~1e5 keep f32 accuracy.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/cuda_internal.h"
#include "mkref.h"

/* The parameters that decide the table (the style does not). Unused fields stay 0 so
   equal tables compare equal byte for byte. */
typedef struct {
    double theta, factor, low_freq_factor, high_freq_factor;
    int scaling, original_max_position, rotary_dim, pad;
} rope_key;

struct cuda_rope_table {
    cuda_rope_table *next;
    rope_key key;
    double *inv_freq; /* device, rotary_dim / 2 */
    double *host;     /* the values inv_freq was copied from (the copy is asynchronous) */
};

#define CUDA_ROPE_MAX_TABLES 32

static rope_key make_key(const mk_rope_params *p, int rotary_dim) {
    rope_key k;
    memset(&k, 0, sizeof k);
    k.theta = p->theta;
    k.scaling = (int)p->scaling;
    k.rotary_dim = rotary_dim;
    if (p->scaling == MK_ROPE_SCALING_LINEAR || p->scaling == MK_ROPE_SCALING_LLAMA3) k.factor = p->factor;
    if (p->scaling == MK_ROPE_SCALING_LLAMA3) {
        k.low_freq_factor = p->low_freq_factor;
        k.high_freq_factor = p->high_freq_factor;
        k.original_max_position = p->original_max_position;
    }
    return k;
}

void cuda_rope_tables_free(cuda_ctx *c) {
    cuda_rope_table *t = c->rope_tables;
    while (t) {
        cuda_rope_table *next = t->next;
        cuda_free(t->inv_freq);
        mk__free(t->host);
        mk__free(t);
        t = next;
    }
    c->rope_tables = NULL;
    c->rope_table_count = 0;
}

static mk_status upload_table(mk_context *ctx, const mk_rope_params *p, int rotary_dim,
                              const rope_key *key, cuda_rope_table **out) {
    cuda_ctx *c = cuda_of(ctx);
    const int half = rotary_dim / 2;
    double *host = mk__malloc((size_t)half * sizeof(double));
    cuda_rope_table *t = mk__calloc(1, sizeof *t);
    if (!host || !t) {
        mk__free(host);
        mk__free(t);
        return mk__fail(MK_ERR_OUT_OF_MEMORY, "out of host memory for a rope table");
    }
    for (int i = 0; i < half; i++) host[i] = mkref_rope_inv_freq(p, rotary_dim, i);
    t->key = *key;
    cudaError_t e = cuda_malloc((void **)&t->inv_freq, (size_t)half * sizeof(double));
    if (e == cudaSuccess)
        e = CUDA_QUEUE(cudaMemcpyAsync(t->inv_freq, host, (size_t)half * sizeof(double), cudaMemcpyHostToDevice, c->stream));
    if (e != cudaSuccess) {
        cuda_free(t->inv_freq);
        mk__free(host);
        mk__free(t);
        return cuda_fail(e, "uploading the rope frequency table");
    }
    t->host = host;
    *out = t;
    return MK_OK;
}

mk_status cuda_rope_inv_freq(mk_context *ctx, const mk_rope_params *p, int rotary_dim, const double **out) {
    cuda_ctx *c = cuda_of(ctx);
    const rope_key key = make_key(p, rotary_dim);
    mk_status s = MK_OK;
    pthread_mutex_lock(&c->lock);
    cuda_rope_table *t = c->rope_tables;
    while (t && memcmp(&t->key, &key, sizeof key) != 0) t = t->next;
    if (!t) {
        if (c->rope_table_count >= CUDA_ROPE_MAX_TABLES) {
            /* many parameter sets: start over (cudaFree waits for work still using them) */
            mk__note_sync(ctx);
            cudaStreamSynchronize(c->stream);
            cuda_rope_tables_free(c);
        }
        s = upload_table(ctx, p, rotary_dim, &key, &t);
        if (s == MK_OK) {
            t->next = c->rope_tables;
            c->rope_tables = t;
            c->rope_table_count++;
        }
    }
    pthread_mutex_unlock(&c->lock);
    if (s == MK_OK) *out = t->inv_freq;
    return s;
}

static int rotary_dim_of(const mk_op_args *a) {
    const mk_tensor *x = a->u.rope.x;
    return a->u.rope.params.rotary_dim ? a->u.rope.params.rotary_dim : (int)x->shape[2];
}

static int sup_rope(const mk_context *ctx, const mk_op_args *a, char *why, size_t n) {
    if (!cuda_kernels_available(ctx, why, n)) return 0;
    if (a) {
        const mk_tensor *x = a->u.rope.x;
        if (x->shape[1] > INT_MAX || x->shape[2] > INT_MAX)
            return mk__why(why, n, "heads or head dim exceed 2^31-1");
        if (rotary_dim_of(a) > MKC_ROPE_MAX_ROTARY_DIM)
            return mk__why(why, n, "rotary_dim %d exceeds %d (cos/sin table in shared memory)",
                           rotary_dim_of(a), MKC_ROPE_MAX_ROTARY_DIM);
    }
    return 1;
}

static mk_status run_rope(mk_context *ctx, const mk_op_args *a) {
    const mk_tensor *x = a->u.rope.x;
    const mk_rope_params *p = &a->u.rope.params;
    const int R = rotary_dim_of(a);
    mk_status s = cuda_enter(ctx);
    if (s != MK_OK) return s;
    if (R < 2) return MK_OK; /* nothing rotates */
    const double *inv_freq = NULL;
    if ((s = cuda_rope_inv_freq(ctx, p, R, &inv_freq)) != MK_OK) return s;
    return cuda_launched(mkc_rope(x->dtype, cuda_ptr(x), x->shape[0], (int)x->shape[1], (int)x->shape[2],
                                  x->stride[0], x->stride[1],
                                  (const int32_t *)cuda_ptr(a->u.rope.positions), inv_freq, R,
                                  p->style == MK_ROPE_INTERLEAVED, cuda_of(ctx)->stream),
                         "rope");
}

static const mk_kernel k_rope = {MK_OP_ROPE, "cuda.block_per_token", "cuda", 10,
                                 "cos/sin per token in shared memory, angles in double",
                                 sup_rope, run_rope, NULL};

static const mk_kernel *const kernels[] = {&k_rope};

const mk_kernel *const *cuda_rope_kernels(int *count) {
    *count = (int)(sizeof kernels / sizeof kernels[0]);
    return kernels;
}
