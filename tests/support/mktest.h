/*
 * Shared test helpers: seeds, random inputs at realistic scales, error norms against the
 * reference, guard bytes after device buffers, poisoned outputs.
 *
 * A test program calls mkt_init(argc, argv) first (reads --seed N or MEDKERN_SEED,
 * prints the seed), uses MKT_CHECK / mkt_compare, and returns mkt_finish(). Shape lists
 * shrink to a few small odd shapes under MEDKERN_TEST_SMALL (mkt_small). Every failure
 * prints the seed so it can be replayed. mkt_skip() exits with 77 (ctest SKIP).
 */
#ifndef MEDKERN_TESTS_MKTEST_H
#define MEDKERN_TESTS_MKTEST_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "medkern/medkern.h"
#include "mkref.h"

#ifdef __cplusplus
extern "C" {
#endif

extern uint64_t mkt_seed;     /* the run's seed                 */
extern int mkt_failures;      /* failed checks so far           */
extern int mkt_checks;        /* checks so far                  */

void mkt_init(int argc, char **argv, const char *name);
/* 1 when the environment sets MEDKERN_TEST_SMALL (to anything but "" or "0"): the device
   tests then run a few small odd shapes instead of their full shape lists (odd token
   counts such as 1, 7, 33; D 64 and 96; a GQA ratio > 1; block sizes 1 and 16), still
   every op, variant, dtype and cache dtype, with the same checks and tolerances. For
   slow devices: the Oclgrind stage (tools/run-oclgrind.sh, tests/oclgrind/README.md).
   mkt_init prints it when it is on. */
int mkt_small(void);
int  mkt_finish(void);        /* prints a summary; 0 when no failure, 1 otherwise */
void mkt_skip(const char *why); /* exits 77 */

void mkt_fail_at(const char *file, int line, const char *fmt, ...);
#define MKT_CHECK(cond, ...)                                                  \
    do {                                                                      \
        mkt_checks++;                                                         \
        if (!(cond)) mkt_fail_at(__FILE__, __LINE__, __VA_ARGS__);            \
    } while (0)
/* A call that must return MK_OK (prints mk_last_error otherwise). */
#define MKT_OK(call)                                                          \
    do {                                                                      \
        mk_status mkt_s_ = (call);                                            \
        mkt_checks++;                                                         \
        if (mkt_s_ != MK_OK)                                                  \
            mkt_fail_at(__FILE__, __LINE__, "%s -> %s: %s", #call,            \
                        mk_status_string(mkt_s_), mk_last_error());           \
    } while (0)
/* A call that must fail with status `want` and a message that contains `needle`. */
#define MKT_FAILS(want, needle, call)                                         \
    mkt_expect_failure(__FILE__, __LINE__, #call, (call), (want), (needle))
void mkt_expect_failure(const char *file, int line, const char *expr, mk_status got,
                        mk_status want, const char *needle);

/* malloc that never returns NULL (exits 2 when out of memory; n = 0 gives a valid
   pointer). */
void *mkt_alloc(size_t n);
/* n random values rounded to dtype t (reference and device see the same numbers),
   normal with std `std` and outliers as mkt_fill_normal, from a fresh per-call salt. */
float *mkt_random(mk_dtype t, size_t n, float std, float outlier);

/* A generator seeded from mkt_seed and a per-case salt. */
void mkt_rng(mkref_rng *r, uint64_t salt);
/* Normal values with std `std`, never exactly zero; a few (about 1 in 64) multiplied by
   `outlier` (pass 1 for none). */
void mkt_fill_normal(mkref_rng *r, float *x, size_t n, float std, float outlier);
/* Rounds every value through dtype t (so reference and device see the same input). */
void mkt_round(mk_dtype t, float *x, size_t n);

/* ||out-ref||_2 / ||ref||_2 (||out-ref||_2 when ||ref|| is 0) and max |out-ref|. */
double mkt_rel_l2(const float *out, const float *ref, size_t n);
double mkt_max_abs(const float *out, const float *ref, size_t n);
/* Checks out against ref: finite where ref is finite, rel_l2 <= rel_tol and, when
   abs_tol > 0, max |out-ref| <= abs_tol. Prints both errors and the case on failure.
   Returns 1 when it passed. */
int mkt_compare(const char *what, const float *out, const float *ref, size_t n, double rel_tol,
                double abs_tol);
/* Tolerance on rel_l2 for outputs stored in dtype t (docs/numerics.md). */
double mkt_tol(mk_dtype t);

/* Device buffer of `bytes` followed by MKT_GUARD guard bytes of a known pattern;
   mkt_guard_ok checks them (and fails the test if one changed). */
#define MKT_GUARD 256
mk_buffer *mkt_buffer(mk_context *ctx, size_t bytes);
int mkt_guard_ok(const mk_buffer *buf, size_t bytes, const char *what);
/* Fills [0, bytes) with a poison pattern (0xFF bytes: NaN in f32/f16/bf16/fp8). */
void mkt_poison(mk_buffer *buf, size_t bytes);

/* Host float array -> a new guarded device tensor of dtype t and the given shape. */
mk_tensor mkt_upload(mk_context *ctx, mk_dtype t, int ndim, const int64_t *shape, const float *x);
mk_tensor mkt_upload_i32(mk_context *ctx, int ndim, const int64_t *shape, const int32_t *x);
/* A new guarded, poisoned device tensor. */
mk_tensor mkt_output(mk_context *ctx, mk_dtype t, int ndim, const int64_t *shape);
/* Reads a contiguous tensor back as floats (n = number of elements) and checks its
   guard bytes. */
void mkt_download(const mk_tensor *t, float *x);
/* Number of elements / bytes of a tensor's shape. */
size_t mkt_numel(const mk_tensor *t);
/* Frees the tensor's buffer. */
void mkt_free(mk_tensor *t);

/* Devices to test: every device of `backend` ("ref", "opencl", "cuda"). */
int mkt_devices(const char *backend, char ids[][32], int cap);
/* 1 when variant `name` of op can run on ctx's device at all (its supports() says yes to
   the device-level question, as mk_explain without arguments reports it); else 0, and
   a line "  [skip] <name> on <device>: <reason>" is printed (e.g. an extension variant
   on a device without the extension). */
int mkt_variant_on_device(mk_context *ctx, mk_op op, const char *name);

/* ctx's mk_context_sync_counters now. */
mk_sync_counters mkt_sync_counts(const mk_context *ctx);
/* Fails unless ctx's counters still equal before: `what` (a run call) read nothing back,
   uploaded nothing blocking and waited for nothing. */
void mkt_check_no_sync(const mk_context *ctx, const mk_sync_counters *before, const char *what);
/* Prefill / decode as plan + run: the plan made from d (host arrays), the run checked
   with mkt_check_no_sync, the plan destroyed. */
void mkt_prefill_via_plan(mk_context *ctx, const mk_prefill_plan_desc *d, const mk_tensor *q, const mk_tensor *k,
                          const mk_tensor *v, const mk_tensor *out, const mk_tensor *lse, const char *what);
void mkt_decode_via_plan(mk_context *ctx, const mk_decode_plan_desc *d, const mk_tensor *q, const mk_kv_cache *cache,
                         const mk_tensor *out, const char *what);

#ifdef __cplusplus
}
#endif
/* Outside-format weights with random contents (mktest_import.c). GPTQ: scales in
   0.002..0.012, stored zeros 0..14; act_order gives the non-monotonic g_idx
   (37 i mod k) / group (k a power of two). Free with the matching *_free. */
typedef struct {
    int32_t *qweight, *qzeros, *g_idx;
    uint16_t *scales;
    mk_gptq_tensors t; /* views of the arrays above, ready for mk_import_gptq */
} mkt_gptq;
void mkt_gptq_make(mkt_gptq *g, int64_t n, int64_t k, int group, int symmetric, int act_order, mkref_rng *r);
void mkt_gptq_free(mkt_gptq *g);
typedef struct {
    int32_t *qweight, *qzeros;
    uint16_t *scales;
    mk_awq_tensors t;
} mkt_awq;
void mkt_awq_make(mkt_awq *a, int64_t n, int64_t k, int group, mkref_rng *r);
void mkt_awq_free(mkt_awq *a);
/* GGUF Q4_0 / Q8_0 blocks of n rows by k (a multiple of 32); *bytes their size. free(). */
uint8_t *mkt_gguf_make(mk_gguf_type type, int64_t n, int64_t k, mkref_rng *r, size_t *bytes);

#endif
