/*
 * The tuned variant choice: a tuning file's "variants" entries steer the dispatcher
 * between a forced variant and the priority order (DESIGN.md §2), on every OpenCL device
 * (none: SKIP). With gemm (opencl.gemv, priority 20, small M; opencl.tiled, priority 10):
 *  - no entry: the priority order (gemv at M = 1, tiled at M = 64);
 *  - "gemm": "opencl.tiled" makes the lower-priority variant run at M = 1 (mk_last_kernel),
 *    with correct results, and mk_explain says "chosen: opencl.tiled (tuned: from <file>";
 *  - the shape class "gemm:m<=8" comes before "gemm" for M <= 8 only;
 *  - an unknown name, another backend's variant, a variant whose supports() rejects the
 *    call, a value that is not a string, and a file for another device are ignored, and
 *    mk_explain says why;
 *  - a forced variant (mk_set_kernel, MEDKERN_KERNELS) still wins, and explain says the
 *    tuned one was not used;
 *  - the W4 GEMV of qgemm (M = 1): without an entry, opencl.qgemv_rows on CPU devices (the
 *    CPU default choice, explain says "tuned: from default (cpu)") and opencl.qgemv
 *    elsewhere (priority 20 over 15); a "qgemm:m<=8" entry naming either runs it on any
 *    device, before the default.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "mktest.h"

static char dir[64], path[128];

/* Writes the tuning file: device name (NULL: none), and the variants object given as
   key/value pairs (value NULL: the number 3 instead of a string). */
static void write_tuning(const char *device, int n, const char *const *kv) {
    cJSON *root = cJSON_CreateObject(), *v = cJSON_CreateObject();
    if (device) cJSON_AddStringToObject(root, "device", device);
    for (int i = 0; i < n; i++) {
        if (kv[2 * i + 1]) cJSON_AddStringToObject(v, kv[2 * i], kv[2 * i + 1]);
        else cJSON_AddNumberToObject(v, kv[2 * i], 3);
    }
    cJSON_AddItemToObject(root, "variants", v);
    char *text = cJSON_Print(root);
    FILE *f = fopen(path, "w");
    MKT_CHECK(f && text && fputs(text, f) >= 0, "cannot write %s", path);
    if (f) fclose(f);
    cJSON_free(text);
    cJSON_Delete(root);
}

typedef struct {
    mk_tensor x, w, y;
    float *hx, *hw;
    int64_t m;
} gemm_case;

enum { N = 96, K = 160 };

static gemm_case gemm_new(mk_context *ctx, int64_t m) {
    gemm_case g;
    const int64_t xs[2] = {m, K}, ws[2] = {N, K}, ys[2] = {m, N};
    g.m = m;
    g.hx = mkt_random(MK_F32, (size_t)(m * K), 1.0f, 1.0f);
    g.hw = mkt_random(MK_F32, (size_t)(N * K), 0.1f, 1.0f);
    g.x = mkt_upload(ctx, MK_F32, 2, xs, g.hx);
    g.w = mkt_upload(ctx, MK_F32, 2, ws, g.hw);
    g.y = mkt_output(ctx, MK_F32, 2, ys);
    return g;
}

static void gemm_free(gemm_case *g) {
    mkt_free(&g->x), mkt_free(&g->w), mkt_free(&g->y);
    free(g->hx), free(g->hw);
}

/* Runs the gemm, checks its result against the reference, returns the variant's name. */
static const char *gemm_run(mk_context *ctx, gemm_case *g, const char *what) {
    MKT_OK(mk_gemm(ctx, &g->x, &g->w, NULL, &g->y));
    float *out = mkt_alloc((size_t)(g->m * N) * sizeof(float)), *ref = mkt_alloc((size_t)(g->m * N) * sizeof(float));
    mkt_download(&g->y, out);
    mkref_gemm(g->hx, g->hw, NULL, g->m, N, K, ref);
    mkt_compare(what, out, ref, (size_t)(g->m * N), mkt_tol(MK_F32), 0);
    free(out), free(ref);
    const char *k = mk_last_kernel(ctx, MK_OP_GEMM);
    return k ? k : "(none)";
}

static void gemm_explain(mk_context *ctx, gemm_case *g, char *buf, size_t n) {
    mk_op_args a = {.op = MK_OP_GEMM};
    a.u.gemm.x = &g->x, a.u.gemm.w = &g->w, a.u.gemm.bias = NULL, a.u.gemm.y = &g->y;
    buf[0] = 0;
    MKT_OK(mk_explain(ctx, MK_OP_GEMM, &a, buf, n));
}

/* A fresh context reading the current file; the gemm variants at M = 1 and M = 64 must
   be want1 / want64 (NULL: M = 64 is not run); each explain text must contain its needle
   (NULL: no check). */
static void expect(const char *id, const char *what, const char *want1, const char *need1,
                   const char *want64, const char *need64) {
    mk_context *ctx = NULL;
    MKT_OK(mk_context_create(id, &ctx));
    if (!ctx) return;
    char buf[8192];
    const int64_t ms[2] = {1, 64};
    const char *want[2] = {want1, want64}, *need[2] = {need1, need64};
    for (int i = 0; i < 2 && want[i]; i++) {
        gemm_case g = gemm_new(ctx, ms[i]);
        char label[160];
        snprintf(label, sizeof label, "%s: gemm M=%lld", what, (long long)ms[i]);
        const char *ran = gemm_run(ctx, &g, label);
        MKT_CHECK(strcmp(ran, want[i]) == 0, "%s ran %s, expected %s", label, ran, want[i]);
        gemm_explain(ctx, &g, buf, sizeof buf);
        MKT_CHECK(!need[i] || strstr(buf, need[i]), "%s: explain lacks \"%s\":\n%s", label, need[i], buf);
        gemm_free(&g);
    }
    mk_context_destroy(ctx);
}

/* A fresh context reading the current file; an unforced W4 g32 qgemm at M = 1 must run
   `want` with the reference's result, and its explain text must contain `need` (NULL: no
   check). */
static void expect_qgemv(const char *id, const char *what, const char *want, const char *need) {
    mk_context *ctx = NULL;
    MKT_OK(mk_context_create(id, &ctx));
    if (!ctx) return;
    enum { QN = 130, QK = 96 };
    mk_qweight_desc d = {MK_QW4, QN, QK, 32, 0};
    mk_qweight_data data;
    MKT_OK(mk_qweight_data_alloc(&d, 0, 0, &data));
    float *hw = mkt_random(MK_F32, (size_t)QN * QK, 0.2f, 1.0f), *hx = mkt_random(MK_F16, QK, 1.0f, 1.0f);
    float *ref = mkt_alloc(QN * sizeof(float)), *out = mkt_alloc(QN * sizeof(float));
    mkref_qweight_quantize(&d, hw, &data);
    mkref_qgemm(&d, &data, hx, 1, NULL, ref);
    mk_qweight *qw = NULL;
    MKT_OK(mk_qweight_create(ctx, &d, &data, &qw));
    const int64_t xs[2] = {1, QK}, ys[2] = {1, QN};
    mk_tensor x = mkt_upload(ctx, MK_F16, 2, xs, hx), y = mkt_output(ctx, MK_F16, 2, ys);
    char label[160], buf[8192];
    snprintf(label, sizeof label, "%s: qgemm W4 M=1", what);
    if (qw && mk_qgemm(ctx, &x, qw, NULL, &y) == MK_OK) {
        mkt_download(&y, out);
        mkt_compare(label, out, ref, QN, 1e-3, 0);
        const char *ran = mk_last_kernel(ctx, MK_OP_QGEMM);
        MKT_CHECK(ran && strcmp(ran, want) == 0, "%s ran %s, expected %s", label, ran ? ran : "(none)", want);
        mk_op_args a = {.op = MK_OP_QGEMM, .u.qgemm = {&x, qw, NULL, &y}};
        MKT_OK(mk_explain(ctx, MK_OP_QGEMM, &a, buf, sizeof buf));
        MKT_CHECK(!need || strstr(buf, need), "%s: explain lacks \"%s\":\n%s", label, need, buf);
    } else {
        MKT_CHECK(0, "%s: %s", label, mk_last_error());
    }
    mkt_free(&x), mkt_free(&y);
    mk_qweight_destroy(qw);
    mk_qweight_data_free(&data);
    free(hw), free(hx), free(ref), free(out);
    mk_context_destroy(ctx);
}

int main(int argc, char **argv) {
    mkt_init(argc, argv, "test_tuned_variant");
    char ids[8][32];
    int nd = mkt_devices("opencl", ids, 8);
    if (nd == 0) mkt_skip("no OpenCL device");
    snprintf(dir, sizeof dir, "/tmp/mk_tuned_XXXXXX");
    if (!mkdtemp(dir)) mkt_skip("no temporary directory");
    snprintf(path, sizeof path, "%s/tuning.json", dir);
    setenv("MEDKERN_TUNING_FILE", path, 1);
    unsetenv("MEDKERN_KERNELS");
    char chosen_tiled[300], chosen_gemv[300];
    snprintf(chosen_tiled, sizeof chosen_tiled, "chosen: opencl.tiled (tuned: from %s, entry \"gemm\")", path);
    snprintf(chosen_gemv, sizeof chosen_gemv, "chosen: opencl.gemv (tuned: from %s, entry \"gemm:m<=8\")", path);

    for (int d = 0; d < nd; d++) {
        mk_device_info info;
        mk_context *probe = NULL;
        MKT_OK(mk_context_create(ids[d], &probe));
        if (!probe) continue;
        MKT_OK(mk_context_get_device(probe, &info));
        mk_context_destroy(probe);
        printf("[test_tuned_variant] device %s (%s)\n", ids[d], info.name);

        /* no variants entry: the priority order */
        write_tuning(info.name, 0, NULL);
        expect(ids[d], "no entry", "opencl.gemv", "chosen: opencl.gemv\n", "opencl.tiled", "chosen: opencl.tiled\n");

        /* the op-wide entry names the lower-priority variant */
        const char *tiled[] = {"gemm", "opencl.tiled"};
        write_tuning(info.name, 1, tiled);
        expect(ids[d], "gemm=tiled", "opencl.tiled", chosen_tiled, "opencl.tiled", chosen_tiled);
        /* a file without "device" applies too */
        write_tuning(NULL, 1, tiled);
        expect(ids[d], "gemm=tiled, no device", "opencl.tiled", chosen_tiled, "opencl.tiled", NULL);

        /* the shape class first; the op-wide gemv does not support M = 64: ignored */
        const char *cls[] = {"gemm", "opencl.gemv", "gemm:m<=8", "opencl.tiled"};
        write_tuning(info.name, 2, cls);
        expect(ids[d], "class tiled, op gemv", "opencl.tiled", "entry \"gemm:m<=8\"", "opencl.tiled",
               "tuned variant opencl.gemv (from");
        expect(ids[d], "class tiled, op gemv (reason)", "opencl.tiled", NULL, "opencl.tiled",
               "ignored: M = 64 >");
        const char *cls2[] = {"gemm", "opencl.tiled", "gemm:m<=8", "opencl.gemv"};
        write_tuning(info.name, 2, cls2);
        expect(ids[d], "class gemv, op tiled", "opencl.gemv", chosen_gemv, "opencl.tiled", chosen_tiled);

        /* names that cannot be used are ignored, and explain says why */
        const char *unknown[] = {"gemm", "opencl.nosuch"};
        write_tuning(info.name, 1, unknown);
        expect(ids[d], "unknown name", "opencl.gemv", "ignored: no gemm variant has that name", "opencl.tiled",
               "chosen: opencl.tiled\n");
        const char *other[] = {"gemm", "ref.scalar"};
        write_tuning(info.name, 1, other);
        expect(ids[d], "other backend", "opencl.gemv", "ignored: it is for backend ref", "opencl.tiled", NULL);
        const char *number[] = {"gemm", NULL};
        write_tuning(info.name, 1, number);
        expect(ids[d], "not a string", "opencl.gemv", "chosen: opencl.gemv\n", "opencl.tiled", NULL);
        write_tuning("some other device", 1, tiled);
        expect(ids[d], "file of another device", "opencl.gemv", "chosen: opencl.gemv\n", "opencl.tiled", NULL);

        /* the override wins over the tuned choice */
        write_tuning(info.name, 1, tiled);
        mk_context *ctx = NULL;
        MKT_OK(mk_context_create(ids[d], &ctx));
        if (ctx) {
            char buf[8192];
            gemm_case g = gemm_new(ctx, 1);
            MKT_OK(mk_set_kernel(ctx, MK_OP_GEMM, "opencl.gemv"));
            const char *ran = gemm_run(ctx, &g, "forced gemv over tuned tiled");
            MKT_CHECK(!strcmp(ran, "opencl.gemv"), "forced gemv: ran %s", ran);
            gemm_explain(ctx, &g, buf, sizeof buf);
            MKT_CHECK(strstr(buf, "chosen: opencl.gemv (forced)") &&
                          strstr(buf, "tuned variant opencl.tiled (from") && strstr(buf, "not used: opencl.gemv is forced"),
                      "forced explain:\n%s", buf);
            MKT_OK(mk_set_kernel(ctx, MK_OP_GEMM, NULL));
            ran = gemm_run(ctx, &g, "override removed");
            MKT_CHECK(!strcmp(ran, "opencl.tiled"), "override removed: ran %s", ran);
            gemm_free(&g);
            mk_context_destroy(ctx);
        }
        setenv("MEDKERN_KERNELS", "gemm=opencl.gemv", 1);
        expect(ids[d], "MEDKERN_KERNELS over the tuned choice", "opencl.gemv", "chosen: opencl.gemv (forced)",
               NULL, NULL);
        unsetenv("MEDKERN_KERNELS");

        /* the W4 GEMV: the device type's default, then the file's choice either way */
        const int cpu = info.type == MK_DEVICE_CPU;
        write_tuning(info.name, 0, NULL);
        expect_qgemv(ids[d], "no qgemm entry", cpu ? "opencl.qgemv_rows" : "opencl.qgemv",
                     cpu ? "chosen: opencl.qgemv_rows (tuned: from default (cpu), entry \"qgemm:m<=8\")"
                         : "chosen: opencl.qgemv\n");
        const char *per_row[] = {"qgemm:m<=8", "opencl.qgemv"};
        write_tuning(info.name, 1, per_row);
        expect_qgemv(ids[d], "qgemm:m<=8=qgemv", "opencl.qgemv", "chosen: opencl.qgemv (tuned: from");
        const char *by_rows[] = {"qgemm:m<=8", "opencl.qgemv_rows"};
        write_tuning(info.name, 1, by_rows);
        expect_qgemv(ids[d], "qgemm:m<=8=qgemv_rows", "opencl.qgemv_rows", "chosen: opencl.qgemv_rows (tuned: from");
    }
    unlink(path);
    rmdir(dir);
    return mkt_finish();
}
