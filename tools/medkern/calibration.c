/* The calibration cache: location, slug, read and write (see calibration.h). */
#include "calibration.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void set_why(char *why, size_t n, const char *path, const char *reason) {
    if (why && n) snprintf(why, n, "%s: %s", path, reason);
}

int mkcal_cache_dir(char *out, size_t n) {
    const char *dir = getenv("MEDKERN_CACHE_DIR");
    int len;
    if (dir && *dir) len = snprintf(out, n, "%s", dir);
    else if ((dir = getenv("XDG_CACHE_HOME")) && *dir) len = snprintf(out, n, "%s/medkern", dir);
    else if ((dir = getenv("HOME")) && *dir) len = snprintf(out, n, "%s/.cache/medkern", dir);
    else return -1;
    return len < 0 || (size_t)len >= n ? -1 : 0;
}

void mkcal_slug(const char *device_id, const char *device_name, char *out, size_t n) {
    if (!n) return;
    size_t k = 0;
    const char *parts[2] = {device_id ? device_id : "", device_name ? device_name : ""};
    for (int p = 0; p < 2; p++) {
        if (p && k) { /* the separator between id and name */
            if (out[k - 1] != '-' && k + 1 < n) out[k++] = '-';
        }
        for (const char *c = parts[p]; *c && k + 1 < n; c++) {
            if (isalnum((unsigned char)*c) && (unsigned char)*c < 128)
                out[k++] = (char)tolower((unsigned char)*c);
            else if (k && out[k - 1] != '-')
                out[k++] = '-';
        }
    }
    while (k && out[k - 1] == '-') k--;
    out[k] = 0;
}

int mkcal_path(const char *device_id, const char *device_name, char *out, size_t n) {
    char dir[1024], slug[192];
    if (mkcal_cache_dir(dir, sizeof dir) != 0) return -1;
    mkcal_slug(device_id, device_name, slug, sizeof slug);
    int len = snprintf(out, n, "%s/calibration/%s.json", dir, slug);
    return len < 0 || (size_t)len >= n ? -1 : 0;
}

static void get_str(const cJSON *o, const char *key, char *dst, size_t n) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    snprintf(dst, n, "%s", cJSON_IsString(v) ? v->valuestring : "");
}

static double get_num(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : -1.0;
}

mkcal_status mkcal_read(const char *path, mkcal_result *out, char *why, size_t why_len) {
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        set_why(why, why_len, path, strerror(e));
        return e == ENOENT ? MKCAL_MISSING : MKCAL_IO;
    }
    char buf[1 << 14]; /* a calibration file is a few hundred bytes */
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    int err = ferror(f), whole = feof(f) != 0;
    fclose(f);
    if (err) {
        set_why(why, why_len, path, "read error");
        return MKCAL_IO;
    }
    buf[len] = 0;
    cJSON *root = whole ? cJSON_ParseWithLength(buf, len) : NULL;
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        set_why(why, why_len, path, "not a JSON object");
        return MKCAL_INVALID;
    }
    out->schema = (int)get_num(root, "schema");
    get_str(root, "device", out->device, sizeof out->device);
    get_str(root, "slug", out->slug, sizeof out->slug);
    get_str(root, "device_name", out->device_name, sizeof out->device_name);
    get_str(root, "backend", out->backend, sizeof out->backend);
    get_str(root, "driver", out->driver, sizeof out->driver);
    get_str(root, "medkern_version", out->medkern_version, sizeof out->medkern_version);
    get_str(root, "date", out->date, sizeof out->date);
    out->copy_gbs = get_num(root, "copy_bandwidth_gbs");
    out->copy_bytes = get_num(root, "copy_bytes");
    out->host_read_gbs = get_num(root, "host_read_bandwidth_gbs");
    out->host_read_bytes = get_num(root, "host_read_bytes");
    out->host_threads = (int)get_num(root, "host_threads");
    out->gemm_f16_gflops = get_num(root, "gemm_f16_gflops");
    out->gemm_size = (int)get_num(root, "gemm_size");
    cJSON_Delete(root);
    const char *bad = out->schema != MKCAL_SCHEMA ? "schema"
                      : !out->device[0]           ? "device"
                      : out->copy_gbs <= 0        ? "copy_bandwidth_gbs"
                      : out->host_read_gbs <= 0   ? "host_read_bandwidth_gbs"
                      : out->gemm_f16_gflops <= 0 ? "gemm_f16_gflops"
                                                  : NULL;
    if (bad) {
        char reason[64];
        snprintf(reason, sizeof reason, "missing or invalid \"%s\"", bad);
        set_why(why, why_len, path, reason);
        return MKCAL_INVALID;
    }
    return MKCAL_OK;
}

cJSON *mkcal_to_json(const mkcal_result *r) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddNumberToObject(o, "schema", r->schema);
    cJSON_AddStringToObject(o, "device", r->device);
    cJSON_AddStringToObject(o, "slug", r->slug);
    cJSON_AddStringToObject(o, "device_name", r->device_name);
    cJSON_AddStringToObject(o, "backend", r->backend);
    cJSON_AddStringToObject(o, "driver", r->driver);
    cJSON_AddStringToObject(o, "medkern_version", r->medkern_version);
    cJSON_AddStringToObject(o, "date", r->date);
    cJSON_AddNumberToObject(o, "copy_bandwidth_gbs", r->copy_gbs);
    cJSON_AddNumberToObject(o, "copy_bytes", r->copy_bytes);
    cJSON_AddNumberToObject(o, "host_read_bandwidth_gbs", r->host_read_gbs);
    cJSON_AddNumberToObject(o, "host_read_bytes", r->host_read_bytes);
    cJSON_AddNumberToObject(o, "host_threads", r->host_threads);
    cJSON_AddNumberToObject(o, "gemm_f16_gflops", r->gemm_f16_gflops);
    cJSON_AddNumberToObject(o, "gemm_size", r->gemm_size);
    return o;
}

/* mkdir -p of the directory part of path. */
static int make_parents(const char *path) {
    char dir[1200];
    if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir) return -1;
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(dir, 0755) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return 0;
}

mkcal_status mkcal_write(const char *path, const mkcal_result *r, char *why, size_t why_len) {
    cJSON *o = mkcal_to_json(r);
    char *text = o ? cJSON_Print(o) : NULL;
    cJSON_Delete(o);
    if (!text) {
        set_why(why, why_len, path, "out of memory");
        return MKCAL_IO;
    }
    char tmp[1300];
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid());
    mkcal_status st = MKCAL_OK;
    FILE *f = NULL;
    if (make_parents(path) != 0 || !(f = fopen(tmp, "w"))) {
        set_why(why, why_len, path, strerror(errno));
        st = MKCAL_IO;
    } else {
        int ok = fputs(text, f) >= 0 && fputc('\n', f) != EOF;
        if (fclose(f) != 0) ok = 0;
        if (!ok || rename(tmp, path) != 0) {
            set_why(why, why_len, path, strerror(errno));
            remove(tmp);
            st = MKCAL_IO;
        }
    }
    cJSON_free(text);
    return st;
}
