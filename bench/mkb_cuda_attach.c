/* mkbc_attach (mkb_cuda.h): the anchors' cuBLAS handle on the benchmark context's own CUDA
   stream, for the bench_cuda_* programs. */
#include <stdio.h>
#include <string.h>

#include "mkb_cuda.h"
#include "mkbench.h"

int mkbc_attach(const char *prog, mkbc **out) {
    const mk_device_info *dev = mkb_device();
    int ordinal = -1;
    char why[256] = "", name[256] = "";
    *out = NULL;
    if (strcmp(dev->backend, "cuda") != 0 || sscanf(dev->id, "cuda:%d", &ordinal) != 1) {
        fprintf(stderr, "%s: %s is no CUDA device: nothing to run (use --device cuda:N)\n", prog, dev->id);
        return -1;
    }
    void *stream = NULL;
    if (mk_context_native_queue(mkb_context(), &stream) != MK_OK ||
        mkbc_open(ordinal, stream, out, name, sizeof name, why, sizeof why)) {
        fprintf(stderr, "%s: %s: %s\n", prog, dev->id, why[0] ? why : mk_last_error());
        return -1;
    }
    if (strcmp(name, dev->name) != 0)
        fprintf(stderr, "%s: note: cudart's device %d is \"%s\", medkern's %s is \"%s\"\n", prog, ordinal, name,
                dev->id, dev->name);
    return 0;
}
