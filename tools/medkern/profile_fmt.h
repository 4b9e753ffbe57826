/*
 * Reading a `medkern profile` report ("medkern-profile/1") and formatting its values:
 * the helpers the renderers (profile_render.c, profile_html.c) share.
 *
 * Values are read leniently: a missing field, a null or a value of the wrong type reads as
 * "unknown" and is shown as "-" (MKPF_NONE). Only the "schema" field is checked
 * (mkpf_check). Every function here is deterministic: the same report gives the same text.
 */
#ifndef MEDKERN_TOOLS_PROFILE_FMT_H
#define MEDKERN_TOOLS_PROFILE_FMT_H

#include <stddef.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#define MKPF_SCHEMA "medkern-profile/1"
#define MKPF_NONE "-"

/* 0 when f is a stream and report a JSON object whose "schema" is MKPF_SCHEMA; -1
   otherwise, after a message on stderr naming `who` (the renderer). */
int mkpf_check(const cJSON *report, FILE *f, const char *who);

/* The string at obj[key], or NULL when missing or not a string. */
const char *mkpf_str(const cJSON *obj, const char *key);
/* 1 and *out = obj[key] when it is a finite number; 0 otherwise (*out untouched). */
int mkpf_num(const cJSON *obj, const char *key, double *out);
/* The object at obj[key], or NULL. */
const cJSON *mkpf_obj(const cJSON *obj, const char *key);

/* Number formatting into buf[n] (always terminated):
   - mkpf_fmt_sig: `sig` significant digits in fixed notation (no exponent) for
     1e-3 <= |v| < 1e15, exponent notation outside; integers of up to 15 digits in full.
   - mkpf_fmt_fixed: `decimals` digits after the point.
   - mkpf_fmt_exact: the shortest of %.15g/%.16g/%.17g that reads back as v (CSV).
   - mkpf_fmt_bytes: B, KiB, MiB, GiB or TiB with 3 significant digits.
   Negative zero prints as 0. */
void mkpf_fmt_sig(char *buf, size_t n, double v, int sig);
void mkpf_fmt_fixed(char *buf, size_t n, double v, int decimals);
void mkpf_fmt_exact(char *buf, size_t n, double v);
void mkpf_fmt_bytes(char *buf, size_t n, double bytes);

/* malloc'd printf (NULL when out of memory). */
char *mkpf_printf(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* Number of UTF-8 code points in s (continuation bytes are not counted). */
size_t mkpf_utf8_len(const char *s);

/* ---- the per-kernel table: the same columns in the terminal, markdown and HTML */
enum {
    MKPF_COL_STEP, MKPF_COL_OP, MKPF_COL_VARIANT, MKPF_COL_CALLS, MKPF_COL_TIME,
    MKPF_COL_SHARE, MKPF_COL_GBS, MKPF_COL_TFLOPS, MKPF_COL_CEILING, MKPF_COL_PREDICTED,
    MKPF_COL_BOUND, MKPF_NCOLS
};
extern const char *const mkpf_col_head[MKPF_NCOLS];
extern const int mkpf_col_numeric[MKPF_NCOLS]; /* 1: a number column (right-aligned) */

typedef struct {
    const char *cell[MKPF_NCOLS]; /* the row's text (into the JSON or buf), never NULL */
    char buf[MKPF_NCOLS][48];
} mkpf_cells;
/* The cells of one kernel row: strings as they are in the report (callers escape), times
   with 4 significant digits, shares and ceiling fractions in percent with one decimal,
   GB/s and TFLOP/s with 3 significant digits, "-" for anything unknown. */
void mkpf_kernel_cells(const cJSON *row, mkpf_cells *c);

/* ---- kernel rows grouped by phase: "prefill", then "decode", then any other phase in
   the order of its first row ("-" for rows without a phase). Within a phase, rows are
   sorted by time_ms, largest first (unknown times last), ties in report order. */
typedef struct {
    const char *phase;
    const cJSON **rows;
    int n;
    double total_ms; /* sum of the known times */
} mkpf_phase;
typedef struct {
    mkpf_phase *phases;
    int nphases;
    int nrows; /* kernel rows in all phases */
} mkpf_groups;
/* 0, or -1 when out of memory (message on stderr). Free with mkpf_groups_free. */
int mkpf_group(const cJSON *report, mkpf_groups *g);
void mkpf_groups_free(mkpf_groups *g);

/* ---- the summary: label/value lines shared by the table, markdown and HTML */
enum { MKPF_MAX_SUMMARY = 20 };
typedef struct {
    const char *label;
    char *value; /* malloc'd, unescaped */
} mkpf_item;
typedef struct {
    char *title; /* "NAME on DEVICE" */
    mkpf_item item[MKPF_MAX_SUMMARY];
    int n;
} mkpf_summary;
/* 0, or -1 when out of memory (message on stderr; partial contents freed). */
int mkpf_summarize(const cJSON *report, mkpf_summary *s);
void mkpf_summary_free(mkpf_summary *s);

/* What every renderer does first: mkpf_check, then mkpf_summarize and mkpf_group. 0, or
   -1 with nothing left to free. */
int mkpf_prepare(const cJSON *report, FILE *f, const char *who, mkpf_summary *s, mkpf_groups *g);

/* Flushes f: 0 when everything was written, -1 after a message naming `who` when not. */
int mkpf_finish(FILE *f, const char *who);

#endif
