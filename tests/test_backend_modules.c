/*
 * The table of backends (runtime/src/backend_loader.c) through the public API:
 * - slot 0 is ref, built in; then cuda, opencl, threads in that order, loaded or not;
 * - every module this build made (MKT_BUILT_MODULES, from CMake) is loaded from beside
 *   libmedkern (MEDKERN_BACKEND_PATH unset);
 * - a slot that is not loaded has no device and a one-line reason; a loaded one none;
 * - devices are numbered backend by backend in the table's order, ref first, and the sum
 *   of the slots' devices is mk_device_count;
 * - mk_device_auto_rank is each backend's rule (ref 0, cuda 50, opencl 30..40, threads
 *   never) and mk_device_find("auto") is the first device of the highest rank;
 * - bad arguments fail with MK_ERR_INVALID_ARGUMENT naming the argument.
 */
#include <stdlib.h>
#include <string.h>

#include "mktest.h"

#ifndef MKT_BUILT_MODULES
#define MKT_BUILT_MODULES ""
#endif

static int slot_of(const mk_backend_info *b, int nb, const char *name) {
    for (int i = 0; i < nb; i++)
        if (!strcmp(b[i].name, name)) return i;
    return -1;
}

int main(int argc, char **argv) {
    unsetenv("MEDKERN_BACKEND_PATH"); /* read at the first enumeration */
    mkt_init(argc, argv, "test_backend_modules");
    int nb = 0, nd = 0;
    MKT_OK(mk_backend_count(&nb));
    MKT_OK(mk_device_count(&nd));
    MKT_CHECK(nb >= 4 && nb <= 16, "%d backend slots (ref, cuda, opencl, threads at least)", nb);
    if (nb < 4 || nb > 16) return mkt_finish();
    mk_backend_info b[16];
    int devices = 0;
    for (int i = 0; i < nb; i++) {
        MKT_OK(mk_backend_get_info(i, &b[i]));
        devices += b[i].devices;
        if (b[i].loaded) {
            MKT_CHECK(b[i].reason[0] == 0, "%s is loaded but says \"%s\"", b[i].name, b[i].reason);
        } else {
            MKT_CHECK(b[i].devices == 0, "%s is not loaded but has %d devices", b[i].name, b[i].devices);
            MKT_CHECK(b[i].reason[0] && !strchr(b[i].reason, '\n'), "%s: the reason is not one line: \"%s\"",
                      b[i].name, b[i].reason);
        }
    }
    MKT_CHECK(!strcmp(b[0].name, "ref") && b[0].loaded && b[0].devices == 1 && !b[0].path[0],
              "slot 0 is %s (loaded %d, %d devices, path \"%s\"), want ref, built in, 1 device", b[0].name,
              b[0].loaded, b[0].devices, b[0].path);
    const char *fixed[] = {"cuda", "opencl", "threads"};
    for (int i = 0; i < 3; i++)
        MKT_CHECK(!strcmp(b[i + 1].name, fixed[i]), "slot %d is %s, want %s", i + 1, b[i + 1].name, fixed[i]);
    MKT_CHECK(devices == nd, "the slots have %d devices, mk_device_count %d", devices, nd);

    /* the modules this build made load from beside libmedkern */
    char built[128];
    snprintf(built, sizeof built, "%s", MKT_BUILT_MODULES);
    char *save = NULL;
    for (char *m = strtok_r(built, " ;", &save); m; m = strtok_r(NULL, " ;", &save)) {
        int s = slot_of(b, nb, m);
        MKT_CHECK(s > 0 && b[s].loaded, "module %s of this build is not loaded: %s", m, s > 0 ? b[s].reason : "no slot");
        if (s > 0 && b[s].loaded) {
            char want[64];
            snprintf(want, sizeof want, "/libmedkern-%s.so", m);
            size_t lp = strlen(b[s].path), lw = strlen(want);
            MKT_CHECK(lp > lw && !strcmp(b[s].path + lp - lw, want), "%s loaded from %s", m, b[s].path);
        }
    }

    /* device order: the backends' slots never go back; ranks per backend */
    int last_slot = 0, best = -1, best_rank = -1;
    for (int i = 0; i < nd; i++) {
        mk_device_info d;
        int r = -2;
        MKT_OK(mk_device_get_info(i, &d));
        MKT_OK(mk_device_auto_rank(i, &r));
        int s = slot_of(b, nb, d.backend);
        MKT_CHECK(s >= 0 && b[s].loaded, "device %s has backend %s, which has no loaded slot", d.id, d.backend);
        MKT_CHECK(s >= last_slot, "device %d (%s) of slot %d comes after a device of slot %d", i, d.id, s, last_slot);
        if (s > last_slot) last_slot = s;
        if (i == 0) MKT_CHECK(!strcmp(d.id, "ref") && r == 0, "device 0 is %s with rank %d, want ref, 0", d.id, r);
        if (!strcmp(d.backend, "threads")) MKT_CHECK(r < 0, "the example threads:0 has rank %d (never auto)", r);
        if (!strcmp(d.backend, "cuda")) MKT_CHECK(r == 50, "%s has rank %d, want 50", d.id, r);
        if (!strcmp(d.backend, "opencl"))
            MKT_CHECK(r == (d.type == MK_DEVICE_GPU ? 40 : d.type == MK_DEVICE_ACCELERATOR ? 35 : 30),
                      "%s (type %d) has rank %d", d.id, (int)d.type, r);
        if (r >= 0 && r > best_rank) best_rank = r, best = i;
    }
    int autoi = -1;
    MKT_OK(mk_device_find("auto", &autoi));
    MKT_CHECK(autoi == best, "auto is device %d, the first of the highest rank is %d", autoi, best);

    mk_backend_info info;
    int r;
    MKT_FAILS(MK_ERR_INVALID_ARGUMENT, "n is NULL", mk_backend_count(NULL));
    MKT_FAILS(MK_ERR_INVALID_ARGUMENT, "out is NULL", mk_backend_get_info(0, NULL));
    MKT_FAILS(MK_ERR_INVALID_ARGUMENT, "index -1", mk_backend_get_info(-1, &info));
    MKT_FAILS(MK_ERR_INVALID_ARGUMENT, "out of range", mk_backend_get_info(nb, &info));
    MKT_FAILS(MK_ERR_INVALID_ARGUMENT, "rank is NULL", mk_device_auto_rank(0, NULL));
    MKT_FAILS(MK_ERR_INVALID_ARGUMENT, "index", mk_device_auto_rank(nd, &r));
    MKT_FAILS(MK_ERR_INVALID_ARGUMENT, "index", mk_device_auto_rank(-1, &r));
    return mkt_finish();
}
