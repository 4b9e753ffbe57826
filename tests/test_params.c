/* Tunable kernel parameters: listing, overrides, the tuning file path, bad input. */
#include <string.h>

#include "mktest.h"

static const mk_param_info *find(const mk_param_info *p, int n, const char *op, const char *name) {
    for (int i = 0; i < n; i++)
        if (!strcmp(p[i].op, op) && !strcmp(p[i].name, name)) return &p[i];
    return NULL;
}

int main(int argc, char **argv) {
    mkt_init(argc, argv, "test_params");
    mk_context *ref = NULL;
    MKT_OK(mk_context_create("ref", &ref));
    mk_param_info p[128];
    int n = -1;
    char path[512];
    MKT_OK(mk_param_list(ref, p, 128, &n));
    MKT_CHECK(n == 0, "ref lists %d parameters", n);
    MKT_FAILS(MK_ERR_UNSUPPORTED, "no tunable parameters", mk_param_set(ref, "gemm", "tile_m", 8));
    MKT_FAILS(MK_ERR_UNSUPPORTED, "no tuning file", mk_tuning_file(ref, path, sizeof path));
    MKT_FAILS(MK_ERR_INVALID_ARGUMENT, "ctx", mk_param_list(NULL, p, 128, &n));
    MKT_FAILS(MK_ERR_INVALID_ARGUMENT, "count", mk_param_list(ref, p, 128, NULL));
    MKT_FAILS(MK_ERR_INVALID_ARGUMENT, "out", mk_param_list(ref, NULL, 4, &n));
    MKT_FAILS(MK_ERR_INVALID_ARGUMENT, "op", mk_param_set(ref, NULL, "x", 1));
    MKT_FAILS(MK_ERR_INVALID_ARGUMENT, "op", mk_param_set(ref, "", "x", 1));
    MKT_FAILS(MK_ERR_INVALID_ARGUMENT, "name", mk_param_set(ref, "gemm", NULL, 1));
    MKT_FAILS(MK_ERR_INVALID_ARGUMENT, "name", mk_param_set(ref, "gemm", "a-name-much-longer-than-thirty-two-characters", 1));
    MKT_FAILS(MK_ERR_INVALID_ARGUMENT, "value", mk_param_set(ref, "gemm", "tile_m", 1 << 20));
    MKT_FAILS(MK_ERR_INVALID_ARGUMENT, "path", mk_tuning_file(ref, NULL, 10));
    mk_context_destroy(ref);

    char ids[8][32];
    int nd = mkt_devices("opencl", ids, 8);
    for (int d = 0; d < nd; d++) {
        mk_context *ctx = NULL;
        MKT_OK(mk_context_create(ids[d], &ctx));
        if (!ctx) continue;
        MKT_OK(mk_param_list(ctx, p, 128, &n));
        MKT_CHECK(n > 0 && n <= 128, "%s lists %d parameters", ids[d], n);
        const mk_param_info *norm = find(p, n, "norm", "local");
        MKT_CHECK(norm && norm->value > 0, "%s has no norm.local", ids[d]);
        int before = norm ? norm->value : 0;
        MKT_OK(mk_param_set(ctx, "norm", "local", 16));
        MKT_OK(mk_param_list(ctx, p, 128, &n));
        norm = find(p, n, "norm", "local");
        MKT_CHECK(norm && norm->value == 16 && !strcmp(norm->source, "override"),
                  "override not visible: %d (%s)", norm ? norm->value : -1, norm ? norm->source : "-");
        MKT_OK(mk_param_set(ctx, "norm", "local", 0)); /* removes the override */
        MKT_OK(mk_param_list(ctx, p, 128, &n));
        norm = find(p, n, "norm", "local");
        MKT_CHECK(norm && norm->value == before && strcmp(norm->source, "override"),
                  "override not removed: %d (%s)", norm ? norm->value : -1, norm ? norm->source : "-");
        int total = n;
        MKT_OK(mk_param_list(ctx, p, 2, &n));
        MKT_CHECK(n == total, "count with a small cap is %d, want %d", n, total);
        MKT_OK(mk_tuning_file(ctx, path, sizeof path));
        MKT_CHECK(strstr(path, ".json") != NULL, "tuning file path \"%s\"", path);
        MKT_FAILS(MK_ERR_INVALID_ARGUMENT, "n", mk_tuning_file(ctx, path, 4));
        mk_context_destroy(ctx);
    }
    return mkt_finish();
}
