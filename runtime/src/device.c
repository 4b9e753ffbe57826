/* Device enumeration over the table of backends (backend_loader.c): global index 0 is
   always "ref", then each loaded backend's devices in the table's order. Counts are
   taken once, when the table is built. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int mk_total_devices(void) {
    int n = 0;
    for (int b = 0, nb = mk__backend_count(); b < nb; b++) {
        int d = 0;
        if (mk__backend_at(b, &d)) n += d;
    }
    return n;
}

mk_status mk__device_backend(int index, const mk_backend **backend, int *local) {
    for (int b = 0, nb = mk__backend_count(); b < nb; b++) {
        int d = 0;
        const mk_backend *be = mk__backend_at(b, &d);
        if (!be) continue;
        if (index < d) {
            *backend = be;
            *local = index;
            return MK_OK;
        }
        index -= d;
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

mk_status mk_device_auto_rank(int index, int *rank) {
    if (!rank) return mk__fail(MK_ERR_INVALID_ARGUMENT, "rank is NULL");
    mk_device_info info;
    mk_status s = mk_device_get_info(index, &info);
    if (s != MK_OK) return s;
    const mk_backend *be = NULL;
    int local = 0;
    if ((s = mk__device_backend(index, &be, &local)) != MK_OK) return s;
    *rank = be->auto_rank ? be->auto_rank(&info) : -1;
    return MK_OK;
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
            int r = -1;
            if (mk_device_auto_rank(i, &r) == MK_OK && r >= 0 && r > best_rank) best_rank = r, best = i;
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
