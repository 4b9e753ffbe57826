/* Fuzzes the OpenCL backend's tuning-file reader (runtime/backends/opencl/ocl_tuning.c:
   parameters and tuned variants): the input is written to a file that MEDKERN_TUNING_FILE
   names, a context is created on the first OpenCL device (the file is read once per
   context), mk_param_list reads every parameter through it and mk_explain asks every
   op's tuned variant. Built only with the OpenCL backend; skips (runs nothing) when no
   OpenCL device is present. Every call must succeed: a bad file is ignored. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "medkern/medkern.h"

static char dir[64], path[96], device[32];
static int ready; /* 1: device found, -1: none */

static void cleanup(void) {
    unlink(path);
    rmdir(dir);
}

static void setup(void) {
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/mkfuzzXXXXXX", tmp && strlen(tmp) < 40 ? tmp : "/tmp");
    if (!mkdtemp(dir)) abort();
    snprintf(path, sizeof path, "%s/tuning.json", dir);
    atexit(cleanup);
    setenv("MEDKERN_TUNING_FILE", path, 1);
    ready = -1;
    int n = 0;
    if (mk_device_count(&n) != MK_OK) abort();
    for (int i = 0; i < n && ready < 0; i++) {
        mk_device_info info;
        if (mk_device_get_info(i, &info) == MK_OK && !strcmp(info.backend, "opencl")) {
            snprintf(device, sizeof device, "%s", info.id);
            ready = 1;
        }
    }
    if (ready < 0) fprintf(stderr, "fuzz_tuning: no OpenCL device: nothing to fuzz\n");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!ready) setup();
    if (ready < 0) return 0;
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) abort();
    mk_context *ctx = NULL;
    mk_status s = mk_context_create(device, &ctx);
    if (s != MK_OK) {
        fprintf(stderr, "fuzz_tuning: mk_context_create(%s): %s\n", device, mk_last_error());
        abort();
    }
    mk_param_info params[64];
    int count = 0;
    if ((s = mk_param_list(ctx, params, 64, &count)) != MK_OK || count < 0 || count > 64) {
        fprintf(stderr, "fuzz_tuning: mk_param_list: %s (%s)\n", mk_status_string(s), mk_last_error());
        abort();
    }
    for (int i = 0; i < count; i++)
        if (!memchr(params[i].source, 0, sizeof params[i].source) || !params[i].op[0]) abort();
    /* the tuned variant choice ("variants"): every op's device-level explain asks the
       backend's tuned_variant hook and checks whatever name it returns */
    char text[8192];
    for (int op = 0; op < MK_OP_COUNT; op++)
        if (mk_explain(ctx, (mk_op)op, NULL, text, sizeof text) != MK_OK || !memchr(text, 0, sizeof text) ||
            !strstr(text, "chosen: "))
            abort();
    char where[1024];
    if (mk_tuning_file(ctx, where, sizeof where) != MK_OK || strcmp(where, path)) abort();
    mk_context_destroy(ctx);
    return 0;
}
