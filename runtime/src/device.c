/* Device enumeration over every backend compiled in. Global index 0 is always "ref";
   then each backend's devices in the order of mk_backends[]. Counts are taken once. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const mk_backend *const mk_backends[] = {
    &mk_backend_ref,
#ifdef MEDKERN_HAVE_CUDA
    &mk_backend_cuda,
#endif
#ifdef MEDKERN_HAVE_OPENCL
    &mk_backend_opencl,
#endif
#ifdef MEDKERN_HAVE_THREADS
    &mk_backend_threads, /* last: the other backends' indices do not move */
#endif
};
enum { MK_NUM_BACKENDS = sizeof mk_backends / sizeof mk_backends[0] };

static int mk_backend_devices[MK_NUM_BACKENDS];
static pthread_once_t mk_devices_once = PTHREAD_ONCE_INIT;

static void mk_count_devices(void) {
    for (int b = 0; b < MK_NUM_BACKENDS; b++) {
        int n = mk_backends[b]->device_count();
        mk_backend_devices[b] = n > 0 ? n : 0;
    }
}

static int mk_total_devices(void) {
    pthread_once(&mk_devices_once, mk_count_devices);
    int n = 0;
    for (int b = 0; b < MK_NUM_BACKENDS; b++) n += mk_backend_devices[b];
    return n;
}

mk_status mk__device_backend(int index, const mk_backend **backend, int *local) {
    mk_total_devices();
    for (int b = 0; b < MK_NUM_BACKENDS; b++) {
        if (index < mk_backend_devices[b]) {
            *backend = mk_backends[b];
            *local = index;
            return MK_OK;
        }
        index -= mk_backend_devices[b];
    }
    return mk__fail(MK_ERR_NOT_FOUND, "device index out of range");
}

mk_status mk_device_count(int *n) {
    if (!n) return mk__fail(MK_ERR_INVALID_ARGUMENT, "n is NULL");
    *n = mk_total_devices();
    return MK_OK;
}

mk_status mk_device_get_info(int index, mk_device_info *out) {
    if (!out) return mk__fail(MK_ERR_INVALID_ARGUMENT, "out is NULL");
    int total = mk_total_devices();
    if (index < 0 || index >= total)
        return mk__fail(MK_ERR_INVALID_ARGUMENT, "index %d out of range [0, %d)", index, total);
    const mk_backend *be = NULL;
    int local = 0;
    mk_status s = mk__device_backend(index, &be, &local);
    if (s != MK_OK) return s;
    memset(out, 0, sizeof *out);
    s = be->device_info(local, out);
    if (s != MK_OK) return s;
    snprintf(out->backend, sizeof out->backend, "%s", be->name);
    if (strcmp(be->name, "ref") == 0)
        snprintf(out->id, sizeof out->id, "ref");
    else
        snprintf(out->id, sizeof out->id, "%s:%d", be->name, local);
    return MK_OK;
}

/* Rank for "auto": CUDA GPU > OpenCL GPU > OpenCL accelerator/CPU > anything > ref; -1 is
   never chosen (the threads backend is an incomplete example, docs/porting.md). */
static int mk_auto_rank(const mk_device_info *d) {
    if (strcmp(d->backend, "threads") == 0) return -1;
    if (strcmp(d->backend, "cuda") == 0) return 50;
    if (strcmp(d->backend, "opencl") == 0)
        return d->type == MK_DEVICE_GPU ? 40 : d->type == MK_DEVICE_ACCELERATOR ? 35 : 30;
    if (strcmp(d->backend, "ref") == 0) return 0;
    return 10;
}

mk_status mk_device_find(const char *device, int *index) {
    if (!device) return mk__fail(MK_ERR_INVALID_ARGUMENT, "device is NULL");
    if (!index) return mk__fail(MK_ERR_INVALID_ARGUMENT, "index is NULL");
    int total = mk_total_devices();
    int best = -1, best_rank = -1;
    for (int i = 0; i < total; i++) {
        mk_device_info info;
        if (mk_device_get_info(i, &info) != MK_OK) continue;
        if (strcmp(device, "auto") == 0) {
            int r = mk_auto_rank(&info);
            if (r >= 0 && r > best_rank) best_rank = r, best = i;
        } else if (strcmp(device, info.id) == 0 ||
                   (strcmp(device, info.backend) == 0 && best < 0)) {
            /* "opencl" alone means the first OpenCL device */
            best = i;
            if (strcmp(device, info.id) == 0) break;
        }
    }
    if (best < 0)
        return mk__fail(MK_ERR_NOT_FOUND,
                        "device \"%s\" not found (run `medkern info` for the list)", device);
    *index = best;
    return MK_OK;
}
