/* medkern calibrate: a device's measured ceilings (device copy bandwidth, host memory
   read bandwidth, dense f16 GEMM rate), cached per device (calibration.h). */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "calibration.h"
#include "cli.h"
#include "timing.h"

#define TAG "medkern calibrate"
#define MIB (1024.0 * 1024.0)
#define HOST_THREADS 2

/* 0 when s is MK_OK; else prints what failed and returns -1. */
static int check_mk(mk_status s, const char *what) {
    if (s == MK_OK) return 0;
    fprintf(stderr, TAG ": %s: %s: %s\n", what, mk_status_string(s), mk_last_error());
    return -1;
}

/* Best time in ms of `runs` calls of fn between two events (after one warm-up call). */
typedef mk_status (*timed_fn)(void *arg);
static int time_best(mk_context *ctx, int runs, timed_fn fn, void *arg, const char *what,
                     double *best_ms) {
    mk_status s = cli_time_best(ctx, runs, 1, fn, arg, best_ms);
    if (s == MK_ERR_DEVICE && !isfinite(*best_ms)) {
        fprintf(stderr, TAG ": %s: the device timer gave no positive time\n", what);
        return -1;
    }
    return check_mk(s, what);
}

/* ------------------------------------------------------------ device copy */

typedef struct {
    mk_buffer *dst, *src;
    size_t bytes;
} copy_arg;

static mk_status run_copy(void *p) {
    copy_arg *a = p;
    return mk_buffer_copy(a->dst, 0, a->src, 0, a->bytes);
}

static int measure_copy(mk_context *ctx, const mk_device_info *d, mkcal_result *r) {
    /* Far past any cache: 256 MiB (1 GiB on a GPU), at most an eighth of the memory. */
    double bytes = (d->type == MK_DEVICE_GPU || d->type == MK_DEVICE_ACCELERATOR ? 1024 : 256) * MIB;
    if (d->memory_bytes && bytes > (double)d->memory_bytes / 8) bytes = (double)d->memory_bytes / 8;
    copy_arg a = {NULL, NULL, (size_t)bytes & ~(size_t)4095};
    double ms = 0;
    int rc = -1;
    if (check_mk(mk_buffer_alloc(ctx, a.bytes, &a.src), "mk_buffer_alloc") ||
        check_mk(mk_buffer_alloc(ctx, a.bytes, &a.dst), "mk_buffer_alloc") ||
        check_mk(mk_buffer_fill(a.src, 0, 0x5A, a.bytes), "mk_buffer_fill") ||
        check_mk(mk_buffer_fill(a.dst, 0, 0x00, a.bytes), "mk_buffer_fill") ||
        time_best(ctx, 5, run_copy, &a, "mk_buffer_copy", &ms))
        goto out;
    r->copy_bytes = (double)a.bytes;
    r->copy_gbs = 2.0 * (double)a.bytes / (ms * 1e-3) / 1e9;
    rc = 0;
out:
    mk_buffer_free(a.src);
    mk_buffer_free(a.dst);
    return rc;
}

/* ------------------------------------------------------------ host read */

typedef struct {
    uint64_t *data;
    size_t n;
    uint64_t sum;
} read_arg;

static void *host_fill(void *p) { /* first touch by the thread that will read the part */
    read_arg *a = p;
    for (size_t i = 0; i < a->n; i++) a->data[i] = i;
    return NULL;
}

static void *host_sum(void *p) {
    read_arg *a = p;
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = 0;
    for (; i + 4 <= a->n; i += 4) {
        s0 += a->data[i];
        s1 += a->data[i + 1];
        s2 += a->data[i + 2];
        s3 += a->data[i + 3];
    }
    for (; i < a->n; i++) s0 += a->data[i];
    a->sum = s0 + s1 + s2 + s3;
    return NULL;
}

/* Runs fn on HOST_THREADS threads, each on its part; returns the wall time or -1. */
static double run_threads(void *(*fn)(void *), read_arg *parts) {
    pthread_t t[HOST_THREADS];
    double t0 = cli_now_s();
    int started = 0;
    for (; started < HOST_THREADS; started++)
        if (pthread_create(&t[started], NULL, fn, &parts[started]) != 0) break;
    for (int i = 0; i < started; i++) pthread_join(t[i], NULL);
    return started == HOST_THREADS ? cli_now_s() - t0 : -1.0;
}

static double host_llc_bytes(void) {
    long llc = -1;
#ifdef _SC_LEVEL3_CACHE_SIZE
    llc = sysconf(_SC_LEVEL3_CACHE_SIZE);
#endif
#ifdef _SC_LEVEL2_CACHE_SIZE
    if (llc <= 0) llc = sysconf(_SC_LEVEL2_CACHE_SIZE);
#endif
    return llc > 0 ? (double)llc : 32 * MIB;
}

static int measure_host_read(mkcal_result *r) {
    /* 8x the last-level cache, at least 256 MiB, at most 1 GiB. */
    double bytes = fmin(fmax(8 * host_llc_bytes(), 256 * MIB), 1024 * MIB);
    size_t n = (size_t)(bytes / sizeof(uint64_t)) / HOST_THREADS * HOST_THREADS;
    uint64_t *data = malloc(n * sizeof *data);
    if (!data) {
        fprintf(stderr, TAG ": host read: out of memory for %.0f MiB\n", bytes / MIB);
        return -1;
    }
    read_arg parts[HOST_THREADS];
    for (int i = 0; i < HOST_THREADS; i++)
        parts[i] = (read_arg){data + (size_t)i * (n / HOST_THREADS), n / HOST_THREADS, 0};
    double best = INFINITY;
    uint64_t check = 0;
    if (run_threads(host_fill, parts) < 0) best = -1;
    for (int run = 0; run < 5 && best > 0; run++) {
        double s = run_threads(host_sum, parts);
        if (s < 0) best = -1;
        else if (s > 0 && s < best) best = s;
        for (int i = 0; i < HOST_THREADS; i++) check += parts[i].sum;
    }
    free(data);
    if (!(best > 0) || !isfinite(best) || check == 0) {
        fprintf(stderr, TAG ": host read: could not start %d threads\n", HOST_THREADS);
        return -1;
    }
    r->host_threads = HOST_THREADS;
    r->host_read_bytes = (double)(n * sizeof *data);
    r->host_read_gbs = r->host_read_bytes / best / 1e9;
    return 0;
}

/* ------------------------------------------------------------ GEMM */

typedef struct {
    mk_context *ctx;
    mk_tensor x, w, y;
} gemm_arg;

static mk_status run_gemm(void *p) {
    gemm_arg *a = p;
    return mk_gemm(a->ctx, &a->x, &a->w, NULL, &a->y);
}

static int measure_gemm(mk_context *ctx, const mk_device_info *d, mkcal_result *r) {
    /* Square, sized so one product takes a fraction of a second: the ref device does
       about 0.3 GFLOP/s, CPUs through OpenCL tens, GPUs far more. */
    int n = d->type == MK_DEVICE_REF ? 256 : d->type == MK_DEVICE_CPU ? 768 : 4096;
    size_t count = (size_t)n * n, bytes = count * sizeof(uint16_t);
    uint16_t *host = malloc(bytes);
    mk_buffer *bx = NULL, *bw = NULL, *by = NULL;
    int rc = -1;
    if (!host) {
        fprintf(stderr, TAG ": GEMM: out of host memory\n");
        return -1;
    }
    uint32_t state = 12345;
    for (size_t i = 0; i < count; i++) { /* uniform in [-1, 1), never 0 */
        state = state * 1664525u + 1013904223u;
        host[i] = mk_f32_to_f16(((float)(state >> 9) + 0.5f) / 4194304.0f - 1.0f);
    }
    if (check_mk(mk_buffer_alloc(ctx, bytes, &bx), "mk_buffer_alloc") ||
        check_mk(mk_buffer_alloc(ctx, bytes, &bw), "mk_buffer_alloc") ||
        check_mk(mk_buffer_alloc(ctx, bytes, &by), "mk_buffer_alloc") ||
        check_mk(mk_buffer_write(bx, 0, host, bytes), "mk_buffer_write") ||
        check_mk(mk_buffer_write(bw, 0, host, bytes), "mk_buffer_write"))
        goto out;
    const int64_t shape[2] = {n, n};
    gemm_arg a = {ctx, mk_tensor_make(bx, 0, MK_F16, 2, shape),
                  mk_tensor_make(bw, 0, MK_F16, 2, shape), mk_tensor_make(by, 0, MK_F16, 2, shape)};
    double ms = 0;
    if (time_best(ctx, 3, run_gemm, &a, "mk_gemm (f16)", &ms)) goto out;
    r->gemm_size = n;
    r->gemm_f16_gflops = 2.0 * n * (double)n * n / (ms * 1e-3) / 1e9;
    rc = 0;
out:
    free(host);
    mk_buffer_free(bx);
    mk_buffer_free(bw);
    mk_buffer_free(by);
    return rc;
}

/* ------------------------------------------------------------ command */

static int measure(const mk_device_info *d, mkcal_result *r) {
    mk_context *ctx = NULL;
    if (check_mk(mk_context_create(d->id, &ctx), "mk_context_create")) return -1;
    int rc = measure_copy(ctx, d, r) || measure_host_read(r) || measure_gemm(ctx, d, r) ? -1 : 0;
    mk_context_destroy(ctx);
    if (rc) return -1;
    r->schema = MKCAL_SCHEMA;
    snprintf(r->device, sizeof r->device, "%s", d->id);
    mkcal_slug(d->id, d->name, r->slug, sizeof r->slug);
    snprintf(r->device_name, sizeof r->device_name, "%s", d->name);
    snprintf(r->backend, sizeof r->backend, "%s", d->backend);
    snprintf(r->driver, sizeof r->driver, "%s", d->driver);
    snprintf(r->medkern_version, sizeof r->medkern_version, "%s", mk_version());
    time_t t = time(NULL);
    struct tm tm;
    if (gmtime_r(&t, &tm)) strftime(r->date, sizeof r->date, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return 0;
}

/* A cached result still describes this device and library. */
static int cache_matches(const mkcal_result *c, const mk_device_info *d) {
    return !strcmp(c->device, d->id) && !strcmp(c->device_name, d->name) &&
           !strcmp(c->driver, d->driver) && !strcmp(c->medkern_version, mk_version());
}

static void share(double got, double peak) {
    if (peak > 0) printf("  (%.0f%% of the %.0f peak)", 100.0 * got / peak, peak);
}

int cmd_calibrate(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        printf("usage: medkern calibrate [--device D] [--json] [--no-cache]\n\n"
               "Measures a device's ceilings (D: \"ref\", \"opencl:0\", \"cuda:0\", \"auto\" =\n"
               "the default):\n"
               "  copy bandwidth    mk_buffer_copy of a 256 MiB buffer (1 GiB on a GPU), best\n"
               "                    of 5, timed with device events; GB/s counts the bytes\n"
               "                    read and written\n"
               "  host read         a sum over an array of 8x the last-level cache (256 MiB\n"
               "                    to 1 GiB) by %d threads, best of 5\n"
               "  dense GEMM        mk_gemm f16, square: 256 on ref, 768 on CPUs, 4096 on\n"
               "                    GPUs; best of 3 after a warm-up, GFLOP/s = 2n^3/time\n"
               "The results are cached as JSON in <cache>/calibration/<device-slug>.json,\n"
               "<cache> being $MEDKERN_CACHE_DIR, else $XDG_CACHE_HOME/medkern, else\n"
               "~/.cache/medkern; a later run reads the cache while the device name, driver\n"
               "and medkern version match. --no-cache measures again (and rewrites it).\n"
               "--json prints the result as JSON (with \"source\": measured or cache).\n"
               "Exit codes: 0 ok, 1 a measurement failed, 2 bad usage or unknown device.\n",
               HOST_THREADS);
        return MK_EXIT_OK;
    }
    const char *device = "auto";
    int as_json = 0, no_cache = 0, bad = 0;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if ((v = cli_opt(argc, argv, &i, "--device", &bad))) device = v;
        else if (!bad && !strcmp(argv[i], "--json")) as_json = 1;
        else if (!bad && !strcmp(argv[i], "--no-cache")) no_cache = 1;
        else if (!bad) {
            fprintf(stderr, TAG ": unknown option \"%s\"\n", argv[i]);
            return MK_EXIT_USAGE;
        }
        if (bad) return MK_EXIT_USAGE;
    }
    int index = -1;
    mk_device_info d;
    mk_status s = mk_device_find(device, &index);
    if (s == MK_OK) s = mk_device_get_info(index, &d);
    if (s != MK_OK) {
        fprintf(stderr, TAG ": %s\n", mk_last_error());
        return s == MK_ERR_NOT_FOUND || s == MK_ERR_INVALID_ARGUMENT ? MK_EXIT_USAGE : MK_EXIT_FAIL;
    }
    char path[1400], why[1600];
    int have_path = mkcal_path(d.id, d.name, path, sizeof path) == 0;
    if (!have_path)
        fprintf(stderr, TAG ": warning: no cache directory (set MEDKERN_CACHE_DIR or HOME); "
                "results are not cached\n");

    mkcal_result r;
    int from_cache = 0;
    if (have_path && !no_cache) {
        mkcal_status cs = mkcal_read(path, &r, why, sizeof why);
        if (cs == MKCAL_OK && cache_matches(&r, &d)) from_cache = 1;
        else if (cs == MKCAL_INVALID || cs == MKCAL_IO)
            fprintf(stderr, TAG ": ignoring the cache (%s)\n", why);
    }
    if (!from_cache) {
        memset(&r, 0, sizeof r);
        if (!as_json) fprintf(stderr, TAG ": measuring %s (%s) ...\n", d.id, d.name);
        if (measure(&d, &r) != 0) return MK_EXIT_FAIL;
        if (have_path && mkcal_write(path, &r, why, sizeof why) != MKCAL_OK) {
            fprintf(stderr, TAG ": warning: cannot write the cache (%s)\n", why);
            have_path = 0;
        }
    }

    if (as_json) {
        cJSON *o = mkcal_to_json(&r);
        if (!o) return MK_EXIT_FAIL;
        cJSON_AddStringToObject(o, "source", from_cache ? "cache" : "measured");
        if (have_path) cJSON_AddStringToObject(o, "cache_file", path);
        else cJSON_AddNullToObject(o, "cache_file");
        char *text = cJSON_Print(o);
        cJSON_Delete(o);
        if (!text) return MK_EXIT_FAIL;
        printf("%s\n", text);
        cJSON_free(text);
        return MK_EXIT_OK;
    }
    printf("device %s: %s (driver %s)\n", r.device, r.device_name, r.driver);
    printf("measured %s with medkern %s%s\n\n", r.date, r.medkern_version,
           from_cache ? ", read from the cache" : "");
    char what[64];
    printf("%-40s %9s\n", "ceiling", "value");
    snprintf(what, sizeof what, "copy bandwidth (mk_buffer_copy, %.0f MiB)", r.copy_bytes / MIB);
    printf("%-40s %9.2f GB/s", what, r.copy_gbs);
    share(r.copy_gbs, d.peak_bandwidth_gbs);
    snprintf(what, sizeof what, "host read (%d threads, %.0f MiB)", r.host_threads,
             r.host_read_bytes / MIB);
    printf("\n%-40s %9.2f GB/s\n", what, r.host_read_gbs);
    snprintf(what, sizeof what, "dense GEMM f16 (mk_gemm, n = %d)", r.gemm_size);
    printf("%-40s %9.2f GFLOP/s", what, r.gemm_f16_gflops);
    share(r.gemm_f16_gflops, d.peak_tflops_f16 * 1e3);
    printf("\n\n");
    if (have_path) printf("cache: %s%s\n", path, from_cache ? " (--no-cache measures again)" : "");
    return MK_EXIT_OK;
}
