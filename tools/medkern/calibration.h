/*
 * The per-device calibration cache: what `medkern calibrate` measured (copy bandwidth,
 * host read bandwidth, dense GEMM rate), kept as one JSON file per device for the tools
 * that need a device's real ceilings (the profiler's roofline shares, the benchmarks).
 *
 * Plain C on cJSON and libc, with no medkern API call: any tool can compile this file
 * and find, read or write the cache from a device id and name.
 *
 * Where:  <cache dir>/calibration/<slug>.json, the cache dir being $MEDKERN_CACHE_DIR,
 *         else $XDG_CACHE_HOME/medkern, else $HOME/.cache/medkern.
 * Slug:   "<device id>-<device name>" lower-cased, every run of characters other than
 *         a-z and 0-9 replaced by one '-', none at either end
 *         ("opencl:0" + "pthread-skylake" -> "opencl-0-pthread-skylake").
 * File:   {"schema": 1, "device", "slug", "device_name", "backend", "driver",
 *          "medkern_version", "date" (UTC, ISO 8601),
 *          "copy_bandwidth_gbs", "copy_bytes", "host_read_bandwidth_gbs",
 *          "host_read_bytes", "host_threads", "gemm_f16_gflops", "gemm_size"}
 *         Bandwidths in 1e9 bytes/s; the copy counts the bytes read and written.
 */
#ifndef MEDKERN_TOOLS_CALIBRATION_H
#define MEDKERN_TOOLS_CALIBRATION_H

#include <stddef.h>

#include <cjson/cJSON.h>

#define MKCAL_SCHEMA 1

typedef struct {
    int schema;
    char device[32];          /* device id: "ref", "opencl:0", "cuda:0"          */
    char slug[192];
    char device_name[128];
    char backend[16];
    char driver[64];
    char medkern_version[32]; /* library version that measured                  */
    char date[32];            /* "2025-01-31T12:00:00Z"                          */
    double copy_gbs;          /* mk_buffer_copy, (read + write) bytes / s / 1e9 */
    double copy_bytes;        /* size of the buffer copied                       */
    double host_read_gbs;     /* host memory read by host_threads threads        */
    double host_read_bytes;   /* size of the array read (well past the LLC)      */
    int host_threads;
    double gemm_f16_gflops;   /* mk_gemm F16, gemm_size cubed, 2*n^3 FLOP         */
    int gemm_size;
} mkcal_result;

typedef enum {
    MKCAL_OK = 0,
    MKCAL_MISSING, /* no such file                          */
    MKCAL_INVALID, /* not a calibration file of this schema */
    MKCAL_IO       /* could not be read or written          */
} mkcal_status;

/* The cache directory (without "/calibration"). -1 when no variable says where (no
   MEDKERN_CACHE_DIR, XDG_CACHE_HOME or HOME) or it does not fit in n. */
int mkcal_cache_dir(char *out, size_t n);
/* The slug of a device (see above); always NUL-terminated, truncated to n. */
void mkcal_slug(const char *device_id, const char *device_name, char *out, size_t n);
/* <cache dir>/calibration/<slug>.json; -1 as mkcal_cache_dir. */
int mkcal_path(const char *device_id, const char *device_name, char *out, size_t n);

/* Reads a cache file. On failure, why (may be NULL) gets the reason. */
mkcal_status mkcal_read(const char *path, mkcal_result *out, char *why, size_t why_len);
/* The result as a JSON object (the file's content); NULL when out of memory. */
cJSON *mkcal_to_json(const mkcal_result *r);
/* Writes the file, creating its directories; written to a temporary file and renamed, so
   a reader never sees half a file. */
mkcal_status mkcal_write(const char *path, const mkcal_result *r, char *why, size_t why_len);

#endif
