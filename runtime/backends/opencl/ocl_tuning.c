/*
 * Per-device kernel parameters (tile sizes, work-group sizes) for the OpenCL variants.
 *
 * Lookup order for (op, param), in the manner of CLBlast's database:
 *   1. the device's tuning file written by `medkern tune`:
 *        $MEDKERN_TUNING_FILE, else <cache dir>/tuning/<device-slug>.json
 *        {"device": "<name>", "driver": "<version>", "params": {"<op>": {"<param>": int}}}
 *      A file that is not valid JSON, has no "params" object, or names another device is
 *      ignored (the source string of every answer says so); a wrong driver version is
 *      accepted (tiles stay valid across driver updates).
 *   2. the default for the device type and vendor, then for the device type;
 *   3. the caller's fallback.
 * The file is read once per context, on the first ocl_param (under the context lock).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "opencl/ocl_internal.h"

struct ocl_tuning {
    cJSON *root;            /* the parsed file, NULL when none is used */
    const cJSON *params;    /* root["params"]                          */
    char src_file[320];     /* "tuning file <path>"                    */
    char src_vendor[320];   /* "default (gpu, nvidia)" + note          */
    char src_type[320];     /* "default (gpu)" + note                  */
    char src_fallback[320]; /* "fallback" + note                       */
};

typedef struct {
    mk_device_type type;
    const char *vendor; /* lower-case substring of the device vendor, NULL = any */
    const char *op, *param;
    int value;
} tuning_default;

/* Defaults. GPUs: 64x64 output tiles, 4x4 per work-item (256 work-items). CPUs (PoCL):
   few work-items per group, each with many outputs (PoCL runs a group's work-items as
   loops between barriers: 32x32 tiles of 8x8 per item measured ~10x faster than 4x4). */
static const tuning_default tuning_defaults[] = {
    {MK_DEVICE_GPU, NULL, "gemm", "tile_m", 64},
    {MK_DEVICE_GPU, NULL, "gemm", "tile_n", 64},
    {MK_DEVICE_GPU, NULL, "gemm", "tile_k", 16},
    {MK_DEVICE_GPU, NULL, "gemm", "wpt_m", 4},
    {MK_DEVICE_GPU, NULL, "gemm", "wpt_n", 4},
    {MK_DEVICE_GPU, NULL, "gemm", "gemv_local", 128},
    {MK_DEVICE_GPU, NULL, "gemm", "gemv_max_m", 8},
    {MK_DEVICE_GPU, NULL, "elementwise", "local", 256},
    {MK_DEVICE_GPU, NULL, "norm", "local", 256},
    {MK_DEVICE_GPU, "advanced micro devices", "elementwise", "local", 256},
    {MK_DEVICE_GPU, "advanced micro devices", "norm", "local", 256},
    {MK_DEVICE_GPU, "intel", "gemm", "tile_m", 32},
    {MK_DEVICE_GPU, "intel", "gemm", "tile_n", 64},
    {MK_DEVICE_GPU, "intel", "norm", "local", 128},
    {MK_DEVICE_CPU, NULL, "gemm", "tile_m", 32},
    {MK_DEVICE_CPU, NULL, "gemm", "tile_n", 32},
    {MK_DEVICE_CPU, NULL, "gemm", "tile_k", 64},
    {MK_DEVICE_CPU, NULL, "gemm", "wpt_m", 8},
    {MK_DEVICE_CPU, NULL, "gemm", "wpt_n", 8},
    {MK_DEVICE_CPU, NULL, "gemm", "gemv_local", 64},
    {MK_DEVICE_CPU, NULL, "gemm", "gemv_max_m", 4},
    {MK_DEVICE_CPU, NULL, "elementwise", "local", 64},
    {MK_DEVICE_CPU, NULL, "norm", "local", 64},
    {MK_DEVICE_ACCELERATOR, NULL, "gemm", "tile_m", 32},
    {MK_DEVICE_ACCELERATOR, NULL, "gemm", "tile_n", 32},
    {MK_DEVICE_ACCELERATOR, NULL, "gemm", "tile_k", 16},
    {MK_DEVICE_ACCELERATOR, NULL, "gemm", "wpt_m", 2},
    {MK_DEVICE_ACCELERATOR, NULL, "gemm", "wpt_n", 2},
    {MK_DEVICE_ACCELERATOR, NULL, "gemm", "gemv_local", 64},
    {MK_DEVICE_ACCELERATOR, NULL, "gemm", "gemv_max_m", 4},
    {MK_DEVICE_ACCELERATOR, NULL, "elementwise", "local", 64},
    {MK_DEVICE_ACCELERATOR, NULL, "norm", "local", 64},
};

static const char *type_name(mk_device_type t) {
    return t == MK_DEVICE_GPU ? "gpu" : t == MK_DEVICE_ACCELERATOR ? "accelerator" : "cpu";
}

/* "pthread-skylake-avx512-Intel(R) Xeon(R)" -> "pthread-skylake-avx512-intel-r-xeon-r" */
static void device_slug(const char *name, char *out, size_t n) {
    size_t j = 0;
    int dash = 0;
    for (const char *p = name; *p && j + 1 < n; p++) {
        if (isalnum((unsigned char)*p)) {
            if (dash && j > 0 && j + 2 < n) out[j++] = '-';
            out[j++] = (char)tolower((unsigned char)*p);
            dash = 0;
        } else {
            dash = 1;
        }
    }
    out[j] = 0;
    if (j == 0) snprintf(out, n, "device");
}

static char *read_file(const char *path, size_t max) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = malloc(max + 1);
    size_t n = buf ? fread(buf, 1, max + 1, f) : 0;
    fclose(f);
    if (!buf || n > max) { /* absurdly large: not a tuning file */
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    return buf;
}

static ocl_tuning *tuning_load(const ocl_device *dev) {
    ocl_tuning *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    char path[1024] = "", note[400] = "";
    const char *env = getenv("MEDKERN_TUNING_FILE");
    int explicit_file = env && *env;
    if (explicit_file) {
        snprintf(path, sizeof path, "%s", env);
    } else {
        char dir[900], slug[160];
        device_slug(dev->info.name, slug, sizeof slug);
        if (ocl_cache_dir("tuning", 0, dir, sizeof dir)) snprintf(path, sizeof path, "%s/%s.json", dir, slug);
    }
    char *text = path[0] ? read_file(path, (size_t)4 << 20) : NULL;
    if (!text) {
        if (explicit_file) snprintf(note, sizeof note, "; tuning file %s not readable", path);
    } else {
        cJSON *root = cJSON_Parse(text);
        const cJSON *params = root ? cJSON_GetObjectItemCaseSensitive(root, "params") : NULL;
        const cJSON *device = root ? cJSON_GetObjectItemCaseSensitive(root, "device") : NULL;
        if (!root || !cJSON_IsObject(root)) {
            snprintf(note, sizeof note, "; tuning file %s ignored: malformed JSON", path);
        } else if (!cJSON_IsObject(params)) {
            snprintf(note, sizeof note, "; tuning file %s ignored: no \"params\" object", path);
        } else if (cJSON_IsString(device) && strcmp(device->valuestring, dev->info.name) != 0) {
            snprintf(note, sizeof note, "; tuning file %s ignored: it is for device \"%.80s\"", path,
                     device->valuestring);
        } else {
            t->root = root;
            t->params = params;
            root = NULL;
        }
        cJSON_Delete(root);
        free(text);
    }
    char vendor[64];
    size_t i = 0;
    for (; dev->info.vendor[i] && i + 1 < sizeof vendor; i++)
        vendor[i] = (char)tolower((unsigned char)dev->info.vendor[i]);
    vendor[i] = 0;
    snprintf(t->src_file, sizeof t->src_file, "tuning file %s", path);
    snprintf(t->src_vendor, sizeof t->src_vendor, "default (%s, %.40s%s)", type_name(dev->info.type), vendor, note);
    snprintf(t->src_type, sizeof t->src_type, "default (%s%s)", type_name(dev->info.type), note);
    snprintf(t->src_fallback, sizeof t->src_fallback, "fallback%s", note);
    return t;
}

void ocl_tuning_release(ocl_ctx *oc) {
    if (!oc->tuning) return;
    cJSON_Delete(oc->tuning->root);
    free(oc->tuning);
    oc->tuning = NULL;
}

static int vendor_matches(const char *vendor, const char *want) {
    char low[64];
    size_t i = 0;
    for (; vendor[i] && i + 1 < sizeof low; i++) low[i] = (char)tolower((unsigned char)vendor[i]);
    low[i] = 0;
    return strstr(low, want) != NULL;
}

int ocl_param(const mk_context *ctx, const char *op, const char *param, int fallback,
              const char **source) {
    ocl_ctx *oc = ocl_of(ctx);
    pthread_mutex_lock(&oc->lock);
    if (!oc->tuning) oc->tuning = tuning_load(oc->dev);
    const ocl_tuning *t = oc->tuning;
    pthread_mutex_unlock(&oc->lock);
    if (!t) { /* out of memory: defaults still work */
        if (source) *source = "fallback";
        return fallback;
    }
    if (t->params) {
        const cJSON *o = cJSON_GetObjectItemCaseSensitive(t->params, op);
        const cJSON *v = cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, param) : NULL;
        if (cJSON_IsNumber(v) && v->valuedouble == (double)(int)v->valuedouble) {
            if (source) *source = t->src_file;
            return (int)v->valuedouble;
        }
    }
    const mk_device_info *info = &oc->dev->info;
    const tuning_default *type_hit = NULL;
    for (size_t i = 0; i < sizeof tuning_defaults / sizeof tuning_defaults[0]; i++) {
        const tuning_default *d = &tuning_defaults[i];
        if (d->type != info->type || strcmp(d->op, op) != 0 || strcmp(d->param, param) != 0) continue;
        if (d->vendor && vendor_matches(info->vendor, d->vendor)) {
            if (source) *source = t->src_vendor;
            return d->value;
        }
        if (!d->vendor) type_hit = d;
    }
    if (type_hit) {
        if (source) *source = t->src_type;
        return type_hit->value;
    }
    if (source) *source = t->src_fallback;
    return fallback;
}
