/*
 * The conformance engine (tools/conform), in process:
 *  1. its checker catches what it must: a case whose "kernel" (a launch that writes the
 *     output buffer itself, on the ref device) leaves one element wrong, leaves a
 *     poisoned element unwritten, touches a guard byte before or after the tensor, writes
 *     an input, gives different bits in its second run, or runs no kernel at all, fails
 *     with the matching reason; MK_ERR_UNSUPPORTED is a skip, another error a failure;
 *     the correct launch passes. The comparison rules (NaN/Inf, rel_l2, the max-abs bound
 *     that a single bad element of a large tensor trips) and the bit-for-bit check too;
 *  2. `--quick` on every device present (ref, opencl:N, threads:N, cuda:N): every case
 *     passes; every op is either run (with rows only for that backend's variants) or
 *     reported unsupported with a reason; on ref every op runs all its cases;
 *  3. the op filter, reproducibility (the same seed gives the same report), an unknown
 *     device (MK_ERR_NOT_FOUND), and the JSON report parses with the fields the schema
 *     (docs/conform.schema.json) requires.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "conform_internal.h"
#include "mktest.h"

static mk_context *ref_ctx;

/* ------------------------------------------------------------ 1. the checker */

typedef enum {
    FAKE_CORRECT, FAKE_ONE_WRONG, FAKE_UNWRITTEN, FAKE_GUARD_AFTER, FAKE_GUARD_BEFORE, FAKE_WRITES_INPUT,
    FAKE_NONDETERMINISTIC, FAKE_NO_KERNEL, FAKE_UNSUPPORTED, FAKE_DEVICE_ERROR, FAKE_RECORD_DIFFERS
} fake_kind;

typedef struct {
    fake_kind kind;
    mk_tensor a, b, out;
    const float *want; /* the correct output */
    size_t n;
} fake_call;

/* A "kernel": runs the real add (so a kernel ran), then overwrites out with `want`
   spoiled the way `kind` says. */
static mk_status fake_launch(mkcf_case *c, void *arg) {
    fake_call *f = arg;
    if (f->kind == FAKE_UNSUPPORTED) return MK_ERR_UNSUPPORTED;
    if (f->kind == FAKE_DEVICE_ERROR) return MK_ERR_DEVICE;
    if (f->kind != FAKE_NO_KERNEL) {
        mk_status s = mk_add(c->ctx, &f->a, &f->b, &f->out);
        if (s != MK_OK) return s;
    }
    float *v = mkt_alloc(f->n * sizeof(float));
    memcpy(v, f->want, f->n * sizeof(float));
    if (f->kind == FAKE_ONE_WRONG) v[f->n / 2] += 0.5f;
    size_t es = mk_dtype_size(f->out.dtype), write_n = f->kind == FAKE_UNWRITTEN ? f->n - 1 : f->n;
    uint8_t *raw = mkt_alloc(f->n * es);
    for (size_t i = 0; i < f->n; i++) mkref_store(f->out.dtype, raw, (int64_t)i, v[i]);
    if (f->kind == FAKE_NONDETERMINISTIC && c->run == 1) raw[3 * es] ^= 1; /* one ulp of element 3 */
    mk_buffer_fill(f->out.buf, f->out.offset, 0xFF, f->n * es); /* the poison back */
    mk_buffer_write(f->out.buf, f->out.offset, raw, write_n * es);
    uint8_t junk = 0x5A;
    if (f->kind == FAKE_GUARD_AFTER) mk_buffer_write(f->out.buf, f->out.offset + f->n * es + 17, &junk, 1);
    if (f->kind == FAKE_GUARD_BEFORE) mk_buffer_write(f->out.buf, f->out.offset - 1, &junk, 1);
    if (f->kind == FAKE_WRITES_INPUT) mk_buffer_write(f->a.buf, f->a.offset + 2, &junk, 1);
    if (f->kind == FAKE_RECORD_DIFFERS) mkcf_record(c, "state", &c->run, sizeof c->run);
    free(v), free(raw);
    return MK_OK;
}

/* Runs one fake case; checks the outcome (failed / skipped) and that the reason names
   `needle`. */
static void expect_fake(fake_kind kind, int want_failed, int want_skipped, const char *needle) {
    /* a fresh context: no kernel has run on it (mk_last_kernel is NULL) */
    mk_context *ctx = NULL;
    MKT_OK(mk_context_create("ref", &ctx));
    if (!ctx) return;
    mkcf_case c;
    mkcf_case_init(&c, ctx, MKCF_QUICK, mkt_seed, MK_OP_ADD, (int)kind, "ref.scalar");
    MKT_OK(mk_set_kernel(ctx, MK_OP_ADD, "ref.scalar"));
    mkcf_describe(&c, "fake %d", (int)kind);
    const size_t rows = 7, cols = 300, n = rows * cols;
    float *a = mkcf_random(&c, MK_F16, n, 1.0f, 4.0f), *b = mkcf_random(&c, MK_F16, n, 1.0f, 4.0f);
    float *want = mkcf_host(&c, n * sizeof(float)), *out = mkcf_host(&c, n * sizeof(float));
    mkref_add(a, b, (int64_t)n, want);
    mkcf_round(MK_F16, want, n);
    int64_t shape[2] = {(int64_t)rows, (int64_t)cols}, stride[2] = {(int64_t)cols + 3, 1};
    fake_call f = {kind, mkcf_upload_view(&c, "a", MK_F16, 2, shape, stride, a),
                   mkcf_upload(&c, "b", MK_F16, 2, shape, b), mkcf_output(&c, "out", MK_F16, 2, shape), want, n};
    if (mkcf_exec(&c, fake_launch, &f)) {
        mkcf_read(&c, &f.out, out);
        mkcf_check(&c, "out", out, want, n, mkcf_tol(MK_F16));
    }
    MKT_CHECK(c.failed == want_failed && c.skipped == want_skipped,
              "fake kind %d: failed=%d skipped=%d (want %d %d), reason: %s", (int)kind, c.failed, c.skipped,
              want_failed, want_skipped, c.reason);
    MKT_CHECK(!needle || strstr(c.reason, needle), "fake kind %d: reason \"%s\" does not name \"%s\"", (int)kind,
              c.reason, needle);
    mkcf_case_end(&c);
    mk_context_destroy(ctx);
}

static void test_checker(void) {
    expect_fake(FAKE_CORRECT, 0, 0, NULL);
    expect_fake(FAKE_ONE_WRONG, 1, 0, "max_abs");
    expect_fake(FAKE_UNWRITTEN, 1, 0, "where the reference has");
    expect_fake(FAKE_GUARD_AFTER, 1, 0, "guard byte 17 after out");
    expect_fake(FAKE_GUARD_BEFORE, 1, 0, "guard byte 1 before out");
    expect_fake(FAKE_WRITES_INPUT, 1, 0, "a byte 2 changed");
    expect_fake(FAKE_NONDETERMINISTIC, 1, 0, "not deterministic: out byte 6");
    expect_fake(FAKE_NO_KERNEL, 1, 0, "variant ref.scalar was forced but nothing ran");
    expect_fake(FAKE_UNSUPPORTED, 0, 1, NULL);
    expect_fake(FAKE_DEVICE_ERROR, 1, 0, "MK_ERR_DEVICE");
    expect_fake(FAKE_RECORD_DIFFERS, 1, 0, "not deterministic: state differs");

    /* the comparison rules */
    float ref[4] = {1.0f, -2.0f, NAN, INFINITY}, out[4] = {1.0f, -2.0f, NAN, INFINITY};
    MKT_CHECK(mkcf_compare(out, ref, 4, 0, 0).ok, "identical values with NaN and Inf must pass");
    out[2] = 3.0f;
    MKT_CHECK(!mkcf_compare(out, ref, 4, 1, 0).ok, "a number where the reference has NaN must fail");
    out[2] = NAN, out[3] = -INFINITY;
    MKT_CHECK(!mkcf_compare(out, ref, 4, 1, 0).ok, "-Inf where the reference has +Inf must fail");
    out[3] = INFINITY, out[0] = NAN;
    mkcf_compare_result r = mkcf_compare(out, ref, 4, 1, 0);
    MKT_CHECK(!r.ok && r.nonfinite_bad && r.bad_index == 0, "NaN where the reference is finite must fail at 0");
    /* one element off by 2% of the largest value in 10^5: rel_l2 ~6e-5 passes 1e-3, the
       max-abs bound (MKCF_ABS_FACTOR * 1e-3 * max) does not */
    size_t n = 100000;
    float *big = mkt_alloc(n * sizeof(float)), *bad = mkt_alloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) big[i] = bad[i] = (float)sin((double)i);
    bad[n / 3] += 0.02f;
    r = mkcf_compare(bad, big, n, 1e-3, 0);
    MKT_CHECK(r.ok && r.rel_l2 < 1e-3, "rel_l2 alone must not see the single error (rel_l2 %g)", r.rel_l2);
    mkcf_case c;
    mkcf_case_init(&c, ref_ctx, MKCF_QUICK, 1, MK_OP_ADD, 0, NULL);
    MKT_CHECK(!mkcf_check(&c, "bad", bad, big, n, 1e-3) && strstr(c.reason, "max_abs"),
              "mkcf_check must fail a single bad element by max_abs: %s", c.reason);
    mkcf_case_end(&c);
    mkcf_case_init(&c, ref_ctx, MKCF_QUICK, 1, MK_OP_ADD, 0, NULL);
    MKT_CHECK(mkcf_check(&c, "good", big, big, n, 1e-3) && !c.failed, "mkcf_check of equal arrays fails: %s", c.reason);
    uint8_t x[5] = {1, 2, 3, 4, 5}, y[5] = {1, 2, 3, 9, 5};
    MKT_CHECK(!mkcf_check_bits(&c, "bits", x, y, 5) && strstr(c.reason, "byte 3 of 5") && c.exact,
              "mkcf_check_bits must name byte 3: %s", c.reason);
    mkcf_case_end(&c);
    free(big), free(bad);
}

/* ------------------------------------------------------------ 2. every device */

static int op_in_report(const mkcf_report *r, mk_op op, int *rows, int *unsupported) {
    *rows = *unsupported = 0;
    for (int i = 0; i < r->nresults; i++) *rows += r->results[i].op == op;
    for (int i = 0; i < r->nunsupported; i++) *unsupported += r->unsupported[i].op == op;
    return *rows + *unsupported;
}

static void check_json(const mkcf_report *r) {
    char *text = mkcf_report_json(r);
    MKT_CHECK(text != NULL, "mkcf_report_json returned NULL");
    if (!text) return;
    cJSON *root = cJSON_Parse(text);
    MKT_CHECK(root != NULL, "the JSON report does not parse");
    if (root) {
        static const char *const keys[] = {"schema", "medkern_version", "git_commit", "date", "device", "seed",
                                           "mode", "results", "unsupported", "passed"};
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
            MKT_CHECK(cJSON_GetObjectItemCaseSensitive(root, keys[i]) != NULL, "JSON report lacks \"%s\"", keys[i]);
        cJSON *schema = cJSON_GetObjectItemCaseSensitive(root, "schema");
        MKT_CHECK(cJSON_IsString(schema) && !strcmp(schema->valuestring, "medkern-conform/1"), "schema name");
        cJSON *results = cJSON_GetObjectItemCaseSensitive(root, "results");
        MKT_CHECK(cJSON_GetArraySize(results) == r->nresults, "JSON has %d results, the report %d",
                  cJSON_GetArraySize(results), r->nresults);
        MKT_CHECK(cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(root, "passed")), "passed is not a bool");
        cJSON_Delete(root);
    }
    free(text);
}

/* The device sweeps use `medkern conform`'s default seed (1), so they and
   tests/cli/conform.sh build the same OpenCL programs (one compiler cache serves both);
   MEDKERN_SEED or --seed picks other cases. */
static uint64_t sweep_seed;

static void test_device(const mk_device_info *info, mkcf_report *r) {
    mkcf_options o = {info->id, MKCF_QUICK, sweep_seed, -1, 8, stderr};
    MKT_OK(mkcf_run(&o, r));
    printf("[test_conform] %s (%s), seed %llu: %d cases, %d failed, %d skipped, %d unsupported ops, %.1f s\n",
           info->id, info->name, (unsigned long long)sweep_seed, r->cases, r->failed, r->skipped, r->nunsupported,
           r->seconds);
    fflush(stdout);
    if (!r->passed) mkcf_report_print(r, stderr);
    MKT_CHECK(r->passed && r->failed == 0, "conform --quick on %s: %d of %d cases failed", info->id, r->failed,
              r->cases);
    MKT_CHECK(!strcmp(r->device.id, info->id), "report device %s, asked %s", r->device.id, info->id);
    for (int op = 0; op < MK_OP_COUNT; op++) {
        int rows, uns;
        MKT_CHECK(op_in_report(r, (mk_op)op, &rows, &uns) && !(rows && uns),
                  "%s on %s: %d result rows and %d unsupported entries", mk_op_name((mk_op)op), info->id, rows, uns);
    }
    for (int i = 0; i < r->nresults; i++) {
        const mkcf_result *row = &r->results[i];
        MKT_CHECK(!strncmp(row->variant, info->backend, strlen(info->backend)) &&
                      row->variant[strlen(info->backend)] == '.',
                  "%s: variant %s is not of backend %s", info->id, row->variant, info->backend);
        MKT_CHECK(row->cases + row->skipped == mkcf_case_count(row->op, MKCF_QUICK),
                  "%s %s: %d cases + %d skipped != %d", mk_op_name(row->op), row->variant, row->cases, row->skipped,
                  mkcf_case_count(row->op, MKCF_QUICK));
        MKT_CHECK(!row->skipped || row->skip_reason[0], "%s %s: skipped without a reason", mk_op_name(row->op),
                  row->variant);
    }
    for (int i = 0; i < r->nunsupported; i++)
        MKT_CHECK(r->unsupported[i].reasons[0], "%s unsupported on %s without a reason",
                  mk_op_name(r->unsupported[i].op), info->id);
    if (!strcmp(info->backend, "ref")) {
        MKT_CHECK(r->nunsupported == 0 && r->nresults == MK_OP_COUNT && r->skipped == 0,
                  "ref: every op runs every case (%d rows, %d unsupported, %d skipped)", r->nresults, r->nunsupported,
                  r->skipped);
    }
    check_json(r);
}

/* ------------------------------------------------------------ 3. options */

static void test_options(mkcf_report *r, mkcf_report *r2) {
    mkcf_options o = {"ref", MKCF_QUICK, 7, MK_OP_GEMM, 8, NULL};
    MKT_OK(mkcf_run(&o, r));
    MKT_CHECK(r->nresults == 1 && r->results[0].op == MK_OP_GEMM && r->nunsupported == 0,
              "--op gemm gives %d rows", r->nresults);
    /* reproducible: the same seed and op on another device family give the same cases;
       here, the same report twice (the case descriptions carry the shapes) */
    o.op = MK_OP_ATTENTION_DECODE;
    o.max_failures = 1;
    MKT_OK(mkcf_run(&o, r));
    MKT_OK(mkcf_run(&o, r2));
    MKT_CHECK(r->cases == r2->cases && r->results[0].worst_rel == r2->results[0].worst_rel,
              "two runs with seed 7 differ");
    mkcf_case a, b;
    mkcf_case_init(&a, ref_ctx, MKCF_QUICK, 7, MK_OP_GEMM, 2, NULL);
    mkcf_case_init(&b, ref_ctx, MKCF_QUICK, 7, MK_OP_GEMM, 2, NULL);
    mkcf_suite_of(MK_OP_GEMM)->run(&a);
    mkcf_suite_of(MK_OP_GEMM)->run(&b);
    MKT_CHECK(!strcmp(a.desc, b.desc) && a.desc[0], "the same seed gives different cases: %s / %s", a.desc, b.desc);
    mkcf_case_end(&a), mkcf_case_end(&b);
    mkcf_case_init(&b, ref_ctx, MKCF_QUICK, 8, MK_OP_GEMM, 2, NULL);
    mkcf_case_init(&a, ref_ctx, MKCF_QUICK, 7, MK_OP_GEMM, 2, NULL);
    mkcf_suite_of(MK_OP_GEMM)->run(&a);
    mkcf_suite_of(MK_OP_GEMM)->run(&b);
    MKT_CHECK(strcmp(a.desc, b.desc) != 0, "seeds 7 and 8 give the same case: %s", a.desc);
    mkcf_case_end(&a), mkcf_case_end(&b);
    o.device = "no-such-device:3";
    MKT_CHECK(mkcf_run(&o, r) == MK_ERR_NOT_FOUND, "an unknown device must give MK_ERR_NOT_FOUND");
    o.device = "ref", o.op = MK_OP_COUNT;
    MKT_CHECK(mkcf_run(&o, r) == MK_ERR_INVALID_ARGUMENT, "an invalid op must give MK_ERR_INVALID_ARGUMENT");
    for (int op = 0; op < MK_OP_COUNT; op++)
        MKT_CHECK(mkcf_case_count((mk_op)op, MKCF_QUICK) > 0 &&
                      mkcf_case_count((mk_op)op, MKCF_FULL) > mkcf_case_count((mk_op)op, MKCF_QUICK),
                  "%s: quick %d, full %d cases", mk_op_name((mk_op)op), mkcf_case_count((mk_op)op, MKCF_QUICK),
                  mkcf_case_count((mk_op)op, MKCF_FULL));
}

int main(int argc, char **argv) {
    mkt_init(argc, argv, "test_conform");
    sweep_seed = 1;
    for (int i = 1; i < argc; i++) sweep_seed = strcmp(argv[i], "--seed") ? sweep_seed : mkt_seed;
    if (getenv("MEDKERN_SEED")) sweep_seed = mkt_seed;
    unsetenv("MEDKERN_KERNELS");
    if (mk_context_create("ref", &ref_ctx) != MK_OK) {
        fprintf(stderr, "mk_context_create(ref): %s\n", mk_last_error());
        return 2;
    }
    mkcf_report *r = mkt_alloc(sizeof *r), *r2 = mkt_alloc(sizeof *r2);
    test_checker();
    test_options(r, r2);
    int n = 0;
    MKT_OK(mk_device_count(&n));
    for (int i = 0; i < n; i++) {
        mk_device_info info;
        MKT_OK(mk_device_get_info(i, &info));
        test_device(&info, r);
    }
    free(r), free(r2);
    mk_context_destroy(ref_ctx);
    return mkt_finish();
}
