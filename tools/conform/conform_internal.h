/*
 * The conformance engine's inside: one case on one (device, variant), the guarded device
 * buffers it uses, the two runs, and the checks. The op families (conform_<family>.c)
 * build their cases with these; tests/test_conform.c drives them directly to check that
 * each rule catches what it must.
 *
 * A case's life: the engine seeds c->rng from (seed, op, index) and forces the variant;
 * the family's run() generates inputs, computes the reference on the host, declares
 * device buffers (mkcf_upload, mkcf_output, ...) and calls mkcf_exec(c, launch, arg), which
 * runs launch twice: each run rewrites every buffer (guards, inputs, poisoned outputs),
 * calls the op, and reads every buffer back. Bytes outside the outputs must come back as
 * written (guards, inputs, the gaps of strided views); output bytes must be the same in
 * both runs. Then run() reads the outputs of the first run (mkcf_read) and compares them
 * with the reference (mkcf_check, mkcf_check_bits). Host memory from mkcf_host is freed when
 * the case ends.
 */
#ifndef MEDKERN_TOOLS_CONFORM_INTERNAL_H
#define MEDKERN_TOOLS_CONFORM_INTERNAL_H

#include "conform.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MKCF_GUARD 256 /* guard bytes before and after every device buffer */
#define MKCF_MAX_BUFS 24
#define MKCF_MAX_RECORDS 8
#define MKCF_MAX_ALLOCS 96

typedef struct {
    char name[24];
    mk_buffer *buf;
    size_t bytes;       /* the data region (the tensor offsets start at MKCF_GUARD)  */
    size_t total;       /* MKCF_GUARD + bytes + MKCF_GUARD                             */
    uint8_t *init;      /* what each run writes: guards, inputs, poison               */
    uint8_t *writable;  /* 1 where the op may write (output elements)                */
    uint8_t *got[2];    /* the buffer after run 0 and run 1                          */
} mkcf_buf;

typedef struct mkcf_case {
    mk_context *ctx;
    mkcf_mode mode;
    uint64_t seed;
    mk_op op;
    int index;
    const char *variant;  /* forced variant, checked against mk_last_kernel; NULL: any */
    mkref_rng rng;
    char desc[320];

    /* outcome */
    int ran;              /* the op ran (not skipped)                                 */
    int skipped;          /* MK_ERR_UNSUPPORTED: the variant does not take this call  */
    int failed;
    int exact;            /* checked bit for bit                                      */
    char reason[400];     /* first failure, or the reason for a skip                  */
    double rel, rel_bound, abs, abs_bound, ratio; /* worst check of the case        */

    /* resources */
    mkcf_buf bufs[MKCF_MAX_BUFS];
    int nbufs;
    int run;              /* the run in progress (0, 1) during mkcf_exec               */
    struct { void *data[2]; size_t bytes[2]; char what[32]; } records[MKCF_MAX_RECORDS];
    int nrecords;
    void *allocs[MKCF_MAX_ALLOCS];
    int nallocs;
} mkcf_case;

/* Starts a case (zeroes it, seeds the generator from seed, op and index). */
void mkcf_case_init(mkcf_case *c, mk_context *ctx, mkcf_mode mode, uint64_t seed, mk_op op, int index,
                   const char *variant);
/* Frees the case's buffers and host memory. */
void mkcf_case_end(mkcf_case *c);

/* The case's description (appears in every failure), printf-style. */
void mkcf_describe(mkcf_case *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Records a failure (the first one is kept as the reason). */
void mkcf_fail(mkcf_case *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Zeroed host memory freed at mkcf_case_end (exits with a message when out of memory). */
void *mkcf_host(mkcf_case *c, size_t bytes);
/* n values normal(0, std) with outliers (mkcf_fill_normal), rounded through dtype t. */
float *mkcf_random(mkcf_case *c, mk_dtype t, size_t n, float std, float outlier);
/* A uniformly drawn element of a list. */
int mkcf_pick(mkcf_case *c, const int *list, int n);
#define MKCF_PICK(c, arr) mkcf_pick((c), (arr), (int)(sizeof(arr) / sizeof((arr)[0])))
/* Rounds every value through dtype t. */
void mkcf_round(mk_dtype t, float *x, size_t n);

/* ---- device buffers (all guarded; tensors start MKCF_GUARD bytes in) */

/* A buffer of `bytes` data bytes, initially 0xFF (the gaps of strided views). NULL (and
   the case failed) when the device cannot allocate it. */
mkcf_buf *mkcf_buffer(mkcf_case *c, const char *name, size_t bytes);
/* A view of b: dtype t, shape, strides in elements (NULL: contiguous), starting elem_off
   elements into the data region. */
mk_tensor mkcf_view(const mkcf_buf *b, mk_dtype t, size_t elem_off, int ndim, const int64_t *shape,
                   const int64_t *stride);
/* Writes x (row-major over the view's shape, rounded with mkref_store) into b's initial
   content through view v. */
void mkcf_fill_view(mkcf_buf *b, const mk_tensor *v, const float *x);
/* The case's buffer that tensor t views (NULL if none). */
mkcf_buf *mkcf_buf_of(mkcf_case *c, const mk_tensor *t);
/* Marks v's elements as output: poisoned (0xFF) when `poison`, and allowed to change. */
void mkcf_mark_output(mkcf_buf *b, const mk_tensor *v, int poison);

/* Contiguous conveniences: a new buffer holding x / raw int32 values, or a poisoned
   output. Their tensors' .buf is NULL when allocation failed (the case has failed). */
mk_tensor mkcf_upload(mkcf_case *c, const char *name, mk_dtype t, int ndim, const int64_t *shape,
                     const float *x);
mk_tensor mkcf_upload_i32(mkcf_case *c, const char *name, int ndim, const int64_t *shape,
                         const int32_t *x);
mk_tensor mkcf_upload_bits(mkcf_case *c, const char *name, mk_dtype t, int ndim, const int64_t *shape,
                          const void *raw);
mk_tensor mkcf_output(mkcf_case *c, const char *name, mk_dtype t, int ndim, const int64_t *shape);
/* A strided view holding x (gaps 0xFF, checked unchanged). */
mk_tensor mkcf_upload_view(mkcf_case *c, const char *name, mk_dtype t, int ndim, const int64_t *shape,
                          const int64_t *stride, const float *x);

/* ---- running */

typedef mk_status (*mkcf_launch_fn)(mkcf_case *c, void *arg);
/* Runs launch twice (see the top). Returns 1 when both runs returned MK_OK (the outputs
   can be read), 0 otherwise: MK_ERR_UNSUPPORTED on the first run marks the case skipped
   with the dispatcher's reason, any other status fails it. */
int mkcf_exec(mkcf_case *c, mkcf_launch_fn launch, void *arg);
/* Inside launch: keeps bytes of state that is not a buffer (a KV cache read back) for
   the determinism check (the two runs' records must be equal). */
void mkcf_record(mkcf_case *c, const char *what, const void *bytes, size_t n);
/* The bytes recorded under `what` in the first run (NULL if none). */
const void *mkcf_recorded(const mkcf_case *c, const char *what, size_t *n);

/* After mkcf_exec: the elements of view v (row-major) as floats, from the first run. */
void mkcf_read(mkcf_case *c, const mk_tensor *v, float *out);
/* Compares out with ref (mkcf_compare with rel bound `bound` and the max-abs bound
   MKCF_ABS_FACTOR * bound * max |ref|); keeps the worst ratio; fails the case with what. */
int mkcf_check(mkcf_case *c, const char *what, const float *out, const float *ref, size_t n,
              double bound);
/* got must equal want byte for byte (fails naming the first differing byte). */
int mkcf_check_bits(mkcf_case *c, const char *what, const void *got, const void *want, size_t bytes);

/* ---- the op families */

typedef struct {
    mk_op op;
    int exact;                                  /* checked bit for bit            */
    int (*count)(mkcf_mode mode);
    void (*run)(mkcf_case *c);                   /* c->index is the case           */
} mkcf_suite;

extern const mkcf_suite mkcf_suite_prefill, mkcf_suite_decode, mkcf_suite_kv_append,
    mkcf_suite_kv_copy, mkcf_suite_qgemm, mkcf_suite_gemm, mkcf_suite_rmsnorm, mkcf_suite_layernorm,
    mkcf_suite_rope, mkcf_suite_silu_mul, mkcf_suite_gelu_mul, mkcf_suite_add;

/* The suite of op (NULL for an invalid op). */
const mkcf_suite *mkcf_suite_of(mk_op op);

/* KV caches on the host (conform_kv.c): one contiguous, zeroed allocation holding K, V,
   then the K and V scales (I8/FP8), freed with the case; mkcf_kv_read fills one from a
   device cache (0 and the case failed when that fails); mkcf_kv_same compares two of the
   same desc bit for bit. */
size_t mkcf_kv_bytes(const mk_kv_cache_desc *d);
void mkcf_kv_alloc(mkcf_case *c, const mk_kv_cache_desc *d, mkref_kv_cache *h);
int mkcf_kv_read(mkcf_case *c, const mk_kv_cache *cache, mkref_kv_cache *h);
int mkcf_kv_same(const mkref_kv_cache *a, const mkref_kv_cache *b);

/* Element count of a shape. */
size_t mkcf_numel(int ndim, const int64_t *shape);

#ifdef __cplusplus
}
#endif
#endif
