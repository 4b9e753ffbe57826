/*
 * Per-device kernel parameters (tile sizes, work-group sizes) for the OpenCL variants.
 *
 * Lookup order for (op, param), in the manner of CLBlast's database:
 *   1. the device's tuning file written by `medkern tune`:
 *        $MEDKERN_TUNING_FILE, else <cache dir>/tuning/<device-slug>.json
 *        {"device": "<name>", "driver": "<version>", "params": {"<op>": {"<param>": int}},
 *         "variants": {"<op>": "<variant>", "<op>:m<=8": "<variant>"}}
 *      A file that is not valid JSON, has neither a "params" nor a "variants" object, or
 *      names another device is ignored (the source string of every answer says so); a
 *      wrong driver version is accepted (tiles stay valid across driver updates).
 *   2. the default for the device type and vendor, then for the device type;
 *   3. the caller's fallback.
 * The file is read once per context, on the first ocl_param or tuned-variant question
 * (under the context lock). A per-context override (mk_param_set, used by `medkern
 * tune`) comes before all three.
 *
 * "variants" is the tuned variant choice (ocl_tuned_variant, the backend's tuned_variant
 * hook): per op name (mk_op_name), the variant `medkern tune` measured fastest. One shape
 * class exists: "<op>:m<=8" applies to gemm and qgemm calls of at most 8 rows
 * (decode-sized batches; tune measures them at M = 1) and comes before the op-wide "<op>"
 * entry. A value that is not a string is ignored; the dispatcher ignores a name that is
 * not a variant of this backend for the op or whose supports() rejects the call, and a
 * variant forced on the context (mk_set_kernel, MEDKERN_KERNELS) comes first. Without a
 * file entry for the call, the device type's default choice applies (variant_defaults,
 * same keys), else the priority order.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "opencl/ocl_internal.h"
#include "opencl/ocl_scratch.h"

struct ocl_tuning {
    cJSON *root;            /* the parsed file, NULL when none is used */
    const cJSON *params;    /* root["params"], NULL when absent        */
    const cJSON *variants;  /* root["variants"], NULL when absent      */
    char src_file[320];     /* "tuning file <path>"                    */
    char src_vendor[320];   /* "default (gpu, nvidia)" + note          */
    char src_type[320];     /* "default (gpu)" + note                  */
    char src_fallback[320]; /* "fallback" + note                       */
    char path[1024];        /* where the file is read from             */
    struct { char op[32], name[32]; int value; } overrides[32];
    int noverrides;
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
    {MK_DEVICE_CPU, NULL, "qgemm", "gemv_wg", 64},
    {MK_DEVICE_CPU, NULL, "qgemm", "gemv_rows", 64}, /* rows per work-item of opencl.qgemv_rows */
    {MK_DEVICE_CPU, NULL, "attention_decode", "groups_per_cu", 4},
    {MK_DEVICE_CPU, NULL, "attention_decode", "min_chunk", 128},
    {MK_DEVICE_CPU, NULL, "attention_decode", "item_heads", 8}, /* kv heads per item  */
    {MK_DEVICE_CPU, NULL, "attention_decode", "prefetch", 1},   /* tiles ahead, > 8: none */
    {MK_DEVICE_GPU, NULL, "qgemm", "gemv_wg", 64},
    {MK_DEVICE_GPU, NULL, "attention_decode", "groups_per_cu", 8},
    {MK_DEVICE_GPU, NULL, "attention_decode", "min_chunk", 256},
    {MK_DEVICE_ACCELERATOR, NULL, "qgemm", "gemv_wg", 64},
    {MK_DEVICE_ACCELERATOR, NULL, "attention_decode", "groups_per_cu", 4},
    {MK_DEVICE_ACCELERATOR, NULL, "attention_decode", "min_chunk", 128},
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

/* Default variant choices by device type, where the best variant of a device type is not
   the highest-priority one of every device. */
static const struct {
    mk_device_type type;
    const char *key, *variant;
} variant_defaults[] = {
    /* the row-block W4 GEMV: ~20x the per-row kernel on PoCL (bench/results); on a GPU
       its one-work-item work-groups would leave all but one lane of each SIMD idle */
    {MK_DEVICE_CPU, "qgemm:m<=8", "opencl.qgemv_rows"},
    /* the work-item decode kernel: 16-wide vectors, no local memory (CPU drivers) */
    {MK_DEVICE_CPU, "attention_decode", "opencl.splitkv_decode_item"},
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

/* The file's text, or NULL (missing, unreadable, too large; *oom set when out of memory). */
static char *read_file(const char *path, size_t max, int *oom) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = mk__malloc(max + 1);
    *oom = !buf;
    size_t n = buf ? fread(buf, 1, max + 1, f) : 0;
    fclose(f);
    if (!buf || n > max) { /* absurdly large: not a tuning file */
        mk__free(buf);
        return NULL;
    }
    buf[n] = 0;
    return buf;
}

/* $MEDKERN_TUNING_FILE, else <cache dir>/tuning/<device-slug>.json; "" if no cache dir. */
static int tuning_path(const ocl_device *dev, char *path, size_t n) {
    const char *env = getenv("MEDKERN_TUNING_FILE");
    path[0] = 0;
    if (env && *env) {
        snprintf(path, n, "%s", env);
        return 1;
    }
    char dir[900], slug[160];
    device_slug(dev->info.name, slug, sizeof slug);
    if (ocl_cache_dir("tuning", 0, dir, sizeof dir)) snprintf(path, n, "%s/%s.json", dir, slug);
    return 0;
}

/* NULL only when out of host memory. */
static ocl_tuning *tuning_load(const ocl_device *dev) {
    ocl_tuning *t = mk__calloc(1, sizeof *t);
    if (!t) return NULL;
    char *path = t->path, note[256] = "";
    int explicit_file = tuning_path(dev, t->path, sizeof t->path), oom = 0;
    char *text = path[0] ? read_file(path, (size_t)4 << 20, &oom) : NULL;
    if (oom) { /* not "no tuning file": that would silently change tiles and variants */
        mk__free(t);
        return NULL;
    }
    if (!text) {
        if (explicit_file) snprintf(note, sizeof note, "; tuning file %.120s not readable", path);
    } else {
        cJSON *root = cJSON_Parse(text);
        const cJSON *params = root ? cJSON_GetObjectItemCaseSensitive(root, "params") : NULL;
        const cJSON *device = root ? cJSON_GetObjectItemCaseSensitive(root, "device") : NULL;
        const cJSON *variants = root ? cJSON_GetObjectItemCaseSensitive(root, "variants") : NULL;
        if (!root || !cJSON_IsObject(root)) {
            snprintf(note, sizeof note, "; tuning file %.120s ignored: malformed JSON", path);
        } else if (!cJSON_IsObject(params) && !cJSON_IsObject(variants)) {
            snprintf(note, sizeof note, "; tuning file %.120s ignored: no \"params\" or \"variants\" object",
                     path);
        } else if (cJSON_IsString(device) && strcmp(device->valuestring, dev->info.name) != 0) {
            snprintf(note, sizeof note, "; tuning file %.120s ignored: it is for device \"%.60s\"", path,
                     device->valuestring);
        } else {
            t->root = root;
            t->params = cJSON_IsObject(params) ? params : NULL;
            t->variants = cJSON_IsObject(variants) ? variants : NULL;
            root = NULL;
        }
        cJSON_Delete(root);
        mk__free(text);
    }
    char vendor[64];
    size_t i = 0;
    for (; dev->info.vendor[i] && i + 1 < sizeof vendor; i++)
        vendor[i] = (char)tolower((unsigned char)dev->info.vendor[i]);
    vendor[i] = 0;
    snprintf(t->src_file, sizeof t->src_file, "tuning file %.300s", path);
    snprintf(t->src_vendor, sizeof t->src_vendor, "default (%s, %.40s%s)", type_name(dev->info.type), vendor, note);
    snprintf(t->src_type, sizeof t->src_type, "default (%s%s)", type_name(dev->info.type), note);
    snprintf(t->src_fallback, sizeof t->src_fallback, "fallback%s", note);
    return t;
}

mk_status ocl_tuning_init(ocl_ctx *oc) {
    if (!oc->tuning) oc->tuning = tuning_load(oc->dev);
    return oc->tuning ? MK_OK : mk__fail(MK_ERR_OUT_OF_MEMORY, "out of host memory reading the OpenCL tuning file");
}

void ocl_tuning_release(ocl_ctx *oc) {
    if (!oc->tuning) return;
    cJSON_Delete(oc->tuning->root);
    mk__free(oc->tuning);
    oc->tuning = NULL;
}

static int vendor_matches(const char *vendor, const char *want) {
    char low[64];
    size_t i = 0;
    for (; vendor[i] && i + 1 < sizeof low; i++) low[i] = (char)tolower((unsigned char)vendor[i]);
    low[i] = 0;
    return strstr(low, want) != NULL;
}

static ocl_tuning *tuning_of(const mk_context *ctx) {
    ocl_ctx *oc = ocl_of(ctx);
    pthread_mutex_lock(&oc->lock);
    if (!oc->tuning) oc->tuning = tuning_load(oc->dev);
    ocl_tuning *t = oc->tuning;
    pthread_mutex_unlock(&oc->lock);
    return t;
}

int ocl_param(const mk_context *ctx, const char *op, const char *param, int fallback,
              const char **source) {
    ocl_ctx *oc = ocl_of(ctx);
    const ocl_tuning *t = tuning_of(ctx);
    if (!t) { /* out of memory: defaults still work */
        if (source) *source = "fallback";
        return fallback;
    }
    for (int i = 0; i < t->noverrides; i++)
        if (!strcmp(t->overrides[i].op, op) && !strcmp(t->overrides[i].name, param)) {
            if (source) *source = "override";
            return t->overrides[i].value;
        }
    if (t->params) {
        const cJSON *o = cJSON_GetObjectItemCaseSensitive(t->params, op);
        const cJSON *v = cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, param) : NULL;
        /* a positive int-valued number only (as mk_param_set accepts); the range check
           comes first, converting a double outside int's range (1e20) is undefined.
           Anything else falls through to the defaults. */
        if (cJSON_IsNumber(v) && v->valuedouble >= 1 && v->valuedouble <= 65536 &&
            v->valuedouble == (double)(int)v->valuedouble) {
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

/* ---- the backend's parameter hooks (mk_param_list / mk_param_set / mk_tuning_file) */

int ocl_param_list(mk_context *ctx, mk_param_info *out, int cap) {
    const mk_device_info *info = &ocl_of(ctx)->dev->info;
    int n = 0;
    for (size_t i = 0; i < sizeof tuning_defaults / sizeof tuning_defaults[0]; i++) {
        const tuning_default *d = &tuning_defaults[i];
        if (d->type != info->type) continue;
        int seen = 0; /* list each (op, param) once: a vendor row repeats a type row */
        for (size_t j = 0; j < i && !seen; j++)
            seen = tuning_defaults[j].type == d->type && !strcmp(tuning_defaults[j].op, d->op) &&
                   !strcmp(tuning_defaults[j].param, d->param);
        if (seen) continue;
        if (n < cap) {
            const char *src = "";
            mk_param_info *p = &out[n];
            snprintf(p->op, sizeof p->op, "%s", d->op);
            snprintf(p->name, sizeof p->name, "%s", d->param);
            p->value = ocl_param(ctx, d->op, d->param, d->value, &src);
            snprintf(p->source, sizeof p->source, "%s", src);
        }
        n++;
    }
    return n;
}

mk_status ocl_param_set(mk_context *ctx, const char *op, const char *name, int value) {
    ocl_tuning *t = tuning_of(ctx);
    if (!t) return mk__fail(MK_ERR_OUT_OF_MEMORY, "out of host memory for the tuning state");
    for (int i = 0; i < t->noverrides; i++)
        if (!strcmp(t->overrides[i].op, op) && !strcmp(t->overrides[i].name, name)) {
            if (value > 0) t->overrides[i].value = value;
            else t->overrides[i] = t->overrides[--t->noverrides];
            return MK_OK;
        }
    if (value <= 0) return MK_OK;
    if (t->noverrides == (int)(sizeof t->overrides / sizeof t->overrides[0]))
        return mk__fail(MK_ERR_INVALID_ARGUMENT, "op/name: too many parameter overrides on this context");
    snprintf(t->overrides[t->noverrides].op, sizeof t->overrides[0].op, "%s", op);
    snprintf(t->overrides[t->noverrides].name, sizeof t->overrides[0].name, "%s", name);
    t->overrides[t->noverrides++].value = value;
    return MK_OK;
}

mk_status ocl_tuning_file(const mk_context *ctx, char *path, size_t n) {
    char p[1024];
    tuning_path(ocl_of(ctx)->dev, p, sizeof p);
    if (!p[0]) return mk__fail(MK_ERR_IO, "no cache directory for the tuning file (set MEDKERN_TUNING_FILE)");
    if (strlen(p) >= n) return mk__fail(MK_ERR_INVALID_ARGUMENT, "n (%zu) is too small for the path", n);
    snprintf(path, n, "%s", p);
    return MK_OK;
}

/* ---- the tuned variant choice (the backend's tuned_variant hook) */

/* Rows of the activation of a gemm / qgemm call (every dimension but the last), else -1. */
static int64_t call_rows(const mk_op_args *a) {
    const mk_tensor *x = !a ? NULL : a->op == MK_OP_GEMM ? a->u.gemm.x : a->op == MK_OP_QGEMM ? a->u.qgemm.x : NULL;
    if (!x) return -1;
    int64_t m = 1;
    for (int d = 0; d + 1 < x->ndim; d++) m *= x->shape[d];
    return m;
}

/* The default choice of variant_defaults for key on a device of type t, else NULL. */
static const char *variant_default(mk_device_type t, const char *key) {
    for (size_t i = 0; i < sizeof variant_defaults / sizeof variant_defaults[0]; i++)
        if (variant_defaults[i].type == t && !strcmp(variant_defaults[i].key, key)) return variant_defaults[i].variant;
    return NULL;
}

const char *ocl_tuned_variant(const mk_context *ctx, mk_op op, const mk_op_args *args, char *source,
                              size_t n) {
    const ocl_tuning *t = tuning_of(ctx);
    const char *name = mk_op_name(op);
    if (!t || !name) return NULL;
    char keys[2][48];
    int nk = 0;
    int64_t rows = call_rows(args);
    if (rows >= 1 && rows <= 8) snprintf(keys[nk++], sizeof keys[0], "%s:m<=8", name);
    snprintf(keys[nk++], sizeof keys[0], "%s", name);
    for (int i = 0; i < nk && t->variants; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(t->variants, keys[i]);
        if (cJSON_IsString(v) && v->valuestring[0]) {
            snprintf(source, n, "%s, entry \"%s\"", t->path, keys[i]);
            return v->valuestring;
        }
    }
    const mk_device_type type = ocl_of(ctx)->dev->info.type;
    for (int i = 0; i < nk; i++) {
        const char *v = variant_default(type, keys[i]);
        if (v) {
            snprintf(source, n, "%s, entry \"%s\"", t->src_type, keys[i]);
            return v;
        }
    }
    return NULL;
}
