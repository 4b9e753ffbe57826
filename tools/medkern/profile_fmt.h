/*
 * Reading a `medkern profile` report ("medkern-profile/1") and formatting its values:
 * the helpers the renderers (profile_render.c, profile_html.c) share.
 *
 * Values are read leniently: a missing field, a null or a value of the wrong type reads as
 * "unknown" and is shown as "-" (MKP_NONE). Only the "schema" field is checked
 * (mkp_check). Every function here is deterministic: the same report gives the same text.
 */
#ifndef MEDKERN_TOOLS_PROFILE_FMT_H
#define MEDKERN_TOOLS_PROFILE_FMT_H

#include <stddef.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#define MKP_SCHEMA "medkern-profile/1"
#define MKP_NONE "-"

/* 0 when f is a stream and report a JSON object whose "schema" is MKP_SCHEMA; -1
   otherwise, after a message on stderr naming `who` (the renderer). */
int mkp_check(const cJSON *report, FILE *f, const char *who);

/* The string at obj[key], or NULL when missing or not a string. */
const char *mkp_str(const cJSON *obj, const char *key);
/* 1 and *out = obj[key] when it is a finite number; 0 otherwise (*out untouched). */
int mkp_num(const cJSON *obj, const char *key, double *out);
/* The object at obj[key], or NULL. */
const cJSON *mkp_obj(const cJSON *obj, const char *key);

/* Number formatting into buf[n] (always terminated):
   - mkp_fmt_sig: `sig` significant digits in fixed notation (no exponent) for
     1e-3 <= |v| < 1e15, exponent notation outside; integers of up to 15 digits in full.
   - mkp_fmt_fixed: `decimals` digits after the point.
   - mkp_fmt_exact: the shortest of %.15g/%.16g/%.17g that reads back as v (CSV).
   - mkp_fmt_bytes: B, KiB, MiB, GiB or TiB with 3 significant digits.
   Negative zero prints as 0. */
void mkp_fmt_sig(char *buf, size_t n, double v, int sig);
void mkp_fmt_fixed(char *buf, size_t n, double v, int decimals);
void mkp_fmt_exact(char *buf, size_t n, double v);
void mkp_fmt_bytes(char *buf, size_t n, double bytes);

/* malloc'd printf (NULL when out of memory). */
char *mkp_printf(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* Number of UTF-8 code points in s (continuation bytes are not counted). */
size_t mkp_utf8_len(const char *s);

/* ---- the per-kernel table: the same columns in the terminal, markdown and HTML */
enum {
    MKP_COL_STEP, MKP_COL_OP, MKP_COL_VARIANT, MKP_COL_CALLS, MKP_COL_TIME,
    MKP_COL_SHARE, MKP_COL_GBS, MKP_COL_TFLOPS, MKP_COL_CEILING, MKP_COL_PREDICTED,
    MKP_COL_BOUND, MKP_NCOLS
};
extern const char *const mkp_col_head[MKP_NCOLS];
extern const int mkp_col_numeric[MKP_NCOLS]; /* 1: a number column (right-aligned) */

typedef struct {
    const char *cell[MKP_NCOLS]; /* the row's text (into the JSON or buf), never NULL */
    char buf[MKP_NCOLS][48];
} mkp_cells;
/* The cells of one kernel row: strings as they are in the report (callers escape), times
   with 4 significant digits, shares and ceiling fractions in percent with one decimal,
   GB/s and TFLOP/s with 3 significant digits, "-" for anything unknown. */
void mkp_kernel_cells(const cJSON *row, mkp_cells *c);

/* ---- kernel rows grouped by phase: "prefill", then "decode", then any other phase in
   the order of its first row ("-" for rows without a phase). Within a phase, rows are
   sorted by time_ms, largest first (unknown times last), ties in report order. */
typedef struct {
    const char *phase;
    const cJSON **rows;
    int n;
    double total_ms; /* sum of the known times */
} mkp_report_phase;
typedef struct {
    mkp_report_phase *phases;
    int nphases;
    int nrows; /* kernel rows in all phases */
} mkp_groups;
/* 0, or -1 when out of memory (message on stderr). Free with mkp_groups_free. */
int mkp_group(const cJSON *report, mkp_groups *g);
void mkp_groups_free(mkp_groups *g);

/* ---- the summary: label/value lines shared by the table, markdown and HTML */
enum { MKP_MAX_SUMMARY = 20 };
typedef struct {
    const char *label;
    char *value; /* malloc'd, unescaped */
} mkp_item;
typedef struct {
    char *title; /* "NAME on DEVICE" */
    mkp_item item[MKP_MAX_SUMMARY];
    int n;
} mkp_summary;
/* 0, or -1 when out of memory (message on stderr; partial contents freed). */
int mkp_summarize(const cJSON *report, mkp_summary *s);
void mkp_summary_free(mkp_summary *s);

/* What every renderer does first: mkp_check, then mkp_summarize and mkp_group. 0, or
   -1 with nothing left to free. */
int mkp_prepare(const cJSON *report, FILE *f, const char *who, mkp_summary *s, mkp_groups *g);

/* Flushes f: 0 when everything was written, -1 after a message naming `who` when not. */
int mkp_finish(FILE *f, const char *who);

#endif
