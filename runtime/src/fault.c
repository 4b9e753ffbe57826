/*
 * Fault injection and allocation accounting, for the tests of the failure paths
 * (tests/test_fault_injection.c, tests/fault/fault_injection.sh; docs/guarantees.md).
 *
 * Knobs, read once from the environment on the library's first allocation or device
 * call (pthread_once). Unset, every hook costs one predictable branch on a static and
 * nothing is counted.
 *   MEDKERN_FAULT_HOST_ALLOC=N    the Nth host allocation made by the library (1-based,
 *                                 counted from process start) returns NULL
 *   MEDKERN_FAULT_DEVICE_ALLOC=N  the Nth device allocation fails the way its driver
 *                                 reports it (CL_MEM_OBJECT_ALLOCATION_FAILURE,
 *                                 cudaErrorMemoryAllocation; NULL on the ref backend)
 *   MEDKERN_FAULT_DEVICE_LOST=N   the Nth device queue call (enqueue, copy, finish,
 *                                 launch) fails as if the device were gone
 *                                 (CL_DEVICE_NOT_AVAILABLE, cudaErrorDevicesUnavailable)
 *   MEDKERN_FAULT_REPORT=1        count only
 * With any knob set, one line goes to stderr at exit:
 *   medkern-fault: host_allocs=H device_allocs=D device_calls=C live_host=L
 *                  live_device=M injected=<kind>#N@<file>:<line>(<function>)|none
 * where the counts are the points passed, live_* the allocations not yet freed, and
 * injected the point that was failed (each knob fires once). A malformed value is
 * reported on stderr and ignored.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int mk__fault_mode = -1;

static long long mk_fault_at[MK_FAULT_KINDS];       /* the point to fail, 0 = none */
static long long mk_fault_count[MK_FAULT_KINDS];    /* points passed               */
static long long mk_fault_live[MK_FAULT_KINDS];     /* live allocations            */
static mk_site mk_fault_hit;
static int mk_fault_hit_kind = -1;
static long long mk_fault_hit_point;
static pthread_once_t mk_fault_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t mk_fault_hit_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const mk_fault_env[MK_FAULT_KINDS] = {
    "MEDKERN_FAULT_HOST_ALLOC", "MEDKERN_FAULT_DEVICE_ALLOC", "MEDKERN_FAULT_DEVICE_LOST"};
static const char *const mk_fault_kind_name[MK_FAULT_KINDS] = {"host_alloc", "device_alloc",
                                                               "device_lost"};

/* The path from "runtime/" on (or the whole path): the report names the site. */
static const char *short_path(const char *file) {
    const char *p = strstr(file, "runtime/");
    return p ? p : file;
}

static void mk_fault_report(void) {
    char hit[300] = "none";
    pthread_mutex_lock(&mk_fault_hit_lock);
    if (mk_fault_hit_kind >= 0)
        snprintf(hit, sizeof hit, "%s#%lld@%s:%d(%s)", mk_fault_kind_name[mk_fault_hit_kind],
                 mk_fault_hit_point, short_path(mk_fault_hit.file), mk_fault_hit.line, mk_fault_hit.func);
    pthread_mutex_unlock(&mk_fault_hit_lock);
    fprintf(stderr,
            "medkern-fault: host_allocs=%lld device_allocs=%lld device_calls=%lld live_host=%lld "
            "live_device=%lld injected=%s\n",
            __atomic_load_n(&mk_fault_count[MK_FAULT_HOST_ALLOC], __ATOMIC_RELAXED),
            __atomic_load_n(&mk_fault_count[MK_FAULT_DEVICE_ALLOC], __ATOMIC_RELAXED),
            __atomic_load_n(&mk_fault_count[MK_FAULT_DEVICE_LOST], __ATOMIC_RELAXED),
            __atomic_load_n(&mk_fault_live[MK_FAULT_HOST_ALLOC], __ATOMIC_RELAXED),
            __atomic_load_n(&mk_fault_live[MK_FAULT_DEVICE_ALLOC], __ATOMIC_RELAXED), hit);
}

static void mk_fault_read_env(void) {
    int on = 0;
    for (int k = 0; k < MK_FAULT_KINDS; k++) {
        const char *v = getenv(mk_fault_env[k]);
        if (!v || !*v) continue;
        char *end = NULL;
        long long n = strtoll(v, &end, 10);
        if (*end || n < 1) {
            fprintf(stderr, "medkern-fault: %s=\"%s\" is not a positive integer; ignored\n",
                    mk_fault_env[k], v);
            continue;
        }
        mk_fault_at[k] = n;
        on = 1;
    }
    const char *r = getenv("MEDKERN_FAULT_REPORT");
    if (r && *r && strcmp(r, "0") != 0) on = 1;
    if (on) atexit(mk_fault_report);
    __atomic_store_n(&mk__fault_mode, on, __ATOMIC_RELEASE);
}

int mk__fault_init(void) {
    pthread_once(&mk_fault_once, mk_fault_read_env);
    return __atomic_load_n(&mk__fault_mode, __ATOMIC_ACQUIRE);
}

int mk__fault_point(mk_fault_kind kind, mk_site at) {
    long long n = __atomic_add_fetch(&mk_fault_count[kind], 1, __ATOMIC_RELAXED);
    if (n != mk_fault_at[kind]) return 0;
    pthread_mutex_lock(&mk_fault_hit_lock);
    mk_fault_hit_kind = (int)kind;
    mk_fault_hit_point = n;
    mk_fault_hit = at;
    pthread_mutex_unlock(&mk_fault_hit_lock);
    return 1;
}

void mk__fault_live(mk_fault_kind kind, int delta) {
    __atomic_add_fetch(&mk_fault_live[kind], (long long)delta, __ATOMIC_RELAXED);
}
