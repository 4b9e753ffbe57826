/*
 * medkern's conformance engine: every op and every kernel variant that applies on a
 * device, on random shapes and dtypes, against the scalar reference, with the rules of
 * DESIGN.md §4 (docs/conformance.md is the long form):
 *
 *  - values: rel_l2 = ||out - ref||_2 / ||ref||_2 against the bound of the output dtype
 *    (docs/numerics.md), max |out - ref| against MKCF_ABS_FACTOR * that bound * max |ref|,
 *    NaN/Inf where the reference has none fails; bit for bit where numerics.md says so
 *    (the KV cache after append and copy_blocks, quantized weights' packing round trip);
 *  - memory: guard bytes before and after every device buffer, inputs unchanged, outputs
 *    poisoned (0xFF bytes: NaN in f32/f16/bf16/fp8) so an unwritten element fails;
 *  - determinism: every case runs twice and the written bytes must be identical;
 *  - NaN/Inf inputs where the reference defines the result (add, silu_mul, gelu_mul, KV
 *    append into F32/F16/BF16 caches), rows that see no key (attention: 0 and -inf).
 *
 * One implementation serves `medkern conform` and the test suite (tests/test_conform.c,
 * and tests/support/mktest.c's tolerance table and comparison are the ones below).
 */
#ifndef MEDKERN_TOOLS_CONFORM_H
#define MEDKERN_TOOLS_CONFORM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "medkern/medkern.h"
#include "mkref.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------ checks (shared with tests) */

/* Bound on rel_l2 for outputs stored in dtype t (docs/numerics.md): 2e-5 f32, 1e-3 f16,
   1e-2 bf16, 1e-3 otherwise. */
double mkcf_tol(mk_dtype t);

/* The max-abs bound conform applies is MKCF_ABS_FACTOR * rel bound * max |ref|: a single
   wrong element of a large tensor, which rel_l2 dilutes, still fails. */
#define MKCF_ABS_FACTOR 4.0

/* The outcome of comparing out with ref (n floats). */
typedef struct {
    int ok;            /* 1 when every rule held                                   */
    double rel_l2;     /* over the elements where ref is finite                    */
    double max_abs;    /* max |out - ref| over the same elements                   */
    double ref_max;    /* max |ref| over the same elements                         */
    size_t bad_index;  /* element of a NaN/Inf mismatch (when nonfinite_bad)       */
    int nonfinite_bad; /* 1 when rule 1 or 2 failed at bad_index                   */
    char reason[200];  /* why it failed ("" when ok)                               */
} mkcf_compare_result;

/* docs/numerics.md "Tolerances": (1) where ref is finite, out must be finite; (2) where
   ref is NaN, out must be NaN, where ref is +-Inf, out must equal it; (3) over finite ref:
   rel_l2 <= rel_bound and, when abs_bound > 0, max |out - ref| <= abs_bound. */
mkcf_compare_result mkcf_compare(const float *out, const float *ref, size_t n, double rel_bound,
                               double abs_bound);

/* Normal values with std `std`, never exactly zero (0 becomes std/2); about 1 in 64 is
   multiplied by `outlier` (1: none). */
void mkcf_fill_normal(mkref_rng *r, float *x, size_t n, float std, float outlier);

/* Guard pattern byte i (0xA5 ^ (i * 31)), used after (and before) device buffers. */
static inline uint8_t mkcf_guard_byte(size_t i) { return (uint8_t)(0xA5 ^ (i * 31)); }

/* ------------------------------------------------------------ the engine */

typedef enum { MKCF_QUICK = 0, MKCF_FULL = 1 } mkcf_mode;

typedef struct {
    const char *device; /* "ref", "opencl:0", "threads:0", "auto"...                   */
    mkcf_mode mode;
    uint64_t seed;      /* every case's data derives from (seed, op, case index)        */
    int op;             /* one mk_op, or -1 for every op                                */
    int max_failures;   /* failures kept per (op, variant) in the report; <= 0: 16      */
    FILE *log;          /* a line per failure and per finished (op, variant), or NULL   */
} mkcf_options;

#define MKCF_MAX_KEPT 64

typedef struct {
    char text[320];    /* the case: op, dtypes, shapes, parameters, seed, case index   */
    char reason[400];
} mkcf_failure;

/* One (op, variant) row. Bounds are those of the case with the worst ratio. */
typedef struct {
    mk_op op;
    char variant[64];
    int exact;         /* 1: checked bit for bit (errors are 0 or the case failed)     */
    int cases, passed, failed, skipped;
    double worst_rel, bound_rel; /* rel_l2 of the worst case and its bound          */
    double worst_abs, bound_abs; /* max |err| of the worst case and its bound       */
    double seconds;
    int kept;                    /* failures[0..kept)                                */
    mkcf_failure failures[MKCF_MAX_KEPT];
    char skip_reason[400];       /* first reason a case was not supported           */
} mkcf_result;

typedef struct {
    mk_op op;
    char reasons[1024];          /* the dispatcher's reasons, "; " separated         */
} mkcf_unsupported;

typedef struct {
    char medkern_version[16];
    char git_commit[48];
    char date[32];               /* ISO 8601 UTC                                     */
    mk_device_info device;
    uint64_t seed;
    mkcf_mode mode;
    int nresults, nunsupported;
    mkcf_result results[64];
    mkcf_unsupported unsupported[MK_OP_COUNT];
    int cases, failed, skipped;
    double seconds;
    int passed;                  /* 1 when no case failed                            */
} mkcf_report;

/* Runs the conformance suite on opts->device. MK_ERR_NOT_FOUND for an unknown device,
   MK_ERR_INVALID_ARGUMENT for a bad op, MK_OK otherwise (report->passed says whether
   every case passed). The report is written into *out (a large struct: allocate it). */
mk_status mkcf_run(const mkcf_options *opts, mkcf_report *out);

/* The summary table (op, variant, cases, passed, skipped, worst errors against their
   bounds) and the unsupported ops with their reasons. */
void mkcf_report_print(const mkcf_report *r, FILE *f);
/* The report as JSON (schema docs/conform.schema.json, "medkern-conform/1"). Returns a
   NUL-terminated string to free(), or NULL when out of memory. */
char *mkcf_report_json(const mkcf_report *r);
/* Writes mkcf_report_json to path. MK_ERR_IO (with a message in *why) on failure. */
mk_status mkcf_report_write(const mkcf_report *r, const char *path, char *why, size_t n);

/* Number of cases of op in a mode (0 for an invalid op). */
int mkcf_case_count(mk_op op, mkcf_mode mode);

#ifdef __cplusplus
}
#endif
#endif
