/*
 * Text renderers of a `medkern profile` report: the terminal table, CSV and markdown
 * (profile_html.c has the HTML page). docs/profile-formats.md describes the outputs.
 *
 * Terminal table: the summary block, then per phase (prefill, decode) the kernel rows
 * sorted by time, largest first, then the warnings. Column widths come from the content;
 * numbers are right-aligned; control characters in strings print as '?'.
 *
 * CSV (RFC 4180): CRLF line ends, a header row, then one row per kernel in report order:
 *   phase,step,op,variant,calls,time_ms,share,flops,bytes,gbs,gflops,intensity,
 *   predicted_ms,bound,ceiling_fraction
 * the report's values unchanged (numbers in the shortest form that reads back exactly,
 * shares and fractions as fractions, not percent); null is an empty field. A field that
 * contains a comma, a double quote, CR or LF is quoted, its quotes doubled.
 *
 * Markdown: a summary table, per-phase kernel tables as in the terminal, the warnings.
 * In text from the report, the characters \ ` * [ ] < > | & are backslash-escaped and
 * control characters become spaces, so a name cannot break a table or inject HTML.
 */
#include "profile_render.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "profile_fmt.h"

/* ---- terminal */

/* Writes s with control characters as '?', padded with spaces to `width` code points,
   on the left when right != 0. */
static void term_cell(FILE *f, const char *s, size_t width, int right) {
    size_t len = mkp_utf8_len(s);
    size_t pad = width > len ? width - len : 0;
    if (right)
        for (size_t i = 0; i < pad; i++) fputc(' ', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        fputc(*p < 0x20 || *p == 0x7f ? '?' : *p, f);
    if (!right)
        for (size_t i = 0; i < pad; i++) fputc(' ', f);
}

static void term_kernels(FILE *f, const mkp_report_phase *ph) {
    mkp_cells *cells = malloc((size_t)ph->n * sizeof *cells);
    if (!cells) {
        fprintf(f, "  (out of memory)\n");
        return;
    }
    size_t width[MKP_NCOLS];
    for (int c = 0; c < MKP_NCOLS; c++) width[c] = mkp_utf8_len(mkp_col_head[c]);
    for (int r = 0; r < ph->n; r++) {
        mkp_kernel_cells(ph->rows[r], &cells[r]);
        for (int c = 0; c < MKP_NCOLS; c++) {
            size_t w = mkp_utf8_len(cells[r].cell[c]);
            if (w > width[c]) width[c] = w;
        }
    }
    for (int c = 0; c < MKP_NCOLS; c++) {
        fputs("  ", f);
        term_cell(f, mkp_col_head[c], c == MKP_NCOLS - 1 ? 0 : width[c], mkp_col_numeric[c]);
    }
    fputc('\n', f);
    for (int c = 0; c < MKP_NCOLS; c++) {
        fputs("  ", f);
        for (size_t i = 0; i < width[c]; i++) fputc('-', f);
    }
    fputc('\n', f);
    for (int r = 0; r < ph->n; r++) {
        for (int c = 0; c < MKP_NCOLS; c++) {
            fputs("  ", f);
            term_cell(f, cells[r].cell[c], c == MKP_NCOLS - 1 ? 0 : width[c],
                      mkp_col_numeric[c]);
        }
        fputc('\n', f);
    }
    free(cells);
}

static void phase_heading(char *buf, size_t n, const mkp_report_phase *ph) {
    char t[48];
    mkp_fmt_sig(t, sizeof t, ph->total_ms, 4);
    snprintf(buf, n, "%d kernel%s, %s ms kernel time", ph->n, ph->n == 1 ? "" : "s", t);
}

int mkp_render_table(const cJSON *report, FILE *f) {
    mkp_summary s;
    mkp_groups g;
    if (mkp_prepare(report, f, "table", &s, &g) != 0) return -1;
    fputs("medkern profile: ", f);
    term_cell(f, s.title, 0, 0);
    fputc('\n', f);
    size_t lw = 0;
    for (int i = 0; i < s.n; i++)
        if (strlen(s.item[i].label) > lw) lw = strlen(s.item[i].label);
    for (int i = 0; i < s.n; i++) {
        fputs("  ", f);
        term_cell(f, s.item[i].label, lw, 0);
        fputs("  ", f);
        term_cell(f, s.item[i].value, 0, 0);
        fputc('\n', f);
    }
    if (g.nphases == 0) fputs("\nno kernel rows in this report\n", f);
    for (int k = 0; k < g.nphases; k++) {
        char head[160];
        phase_heading(head, sizeof head, &g.phases[k]);
        fputc('\n', f);
        term_cell(f, g.phases[k].phase, 0, 0);
        fprintf(f, ": %s\n", head);
        term_kernels(f, &g.phases[k]);
    }
    const cJSON *warnings = cJSON_GetObjectItemCaseSensitive(report, "warnings"), *w;
    if (!cJSON_IsArray(warnings)) warnings = NULL;
    int nw = 0;
    cJSON_ArrayForEach(w, warnings) {
        if (!cJSON_IsString(w)) continue;
        fputs(nw++ ? "  - " : "\nwarnings:\n  - ", f);
        term_cell(f, w->valuestring, 0, 0);
        fputc('\n', f);
    }
    mkp_summary_free(&s);
    mkp_groups_free(&g);
    return mkp_finish(f, "table");
}

/* ---- CSV */

static void csv_field(FILE *f, const char *s) {
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static const char *const csv_cols[] = {
    "phase", "step", "op", "variant", "calls", "time_ms", "share", "flops", "bytes",
    "gbs", "gflops", "intensity", "predicted_ms", "bound", "ceiling_fraction"};
enum { CSV_NCOLS = sizeof csv_cols / sizeof csv_cols[0] };

int mkp_render_csv(const cJSON *report, FILE *f) {
    if (mkp_check(report, f, "csv") != 0) return -1;
    for (int c = 0; c < CSV_NCOLS; c++) {
        if (c) fputc(',', f);
        csv_field(f, csv_cols[c]);
    }
    fputs("\r\n", f);
    const cJSON *kernels = cJSON_GetObjectItemCaseSensitive(report, "kernels"), *row;
    if (!cJSON_IsArray(kernels)) kernels = NULL;
    cJSON_ArrayForEach(row, kernels) {
        for (int c = 0; c < CSV_NCOLS; c++) {
            if (c) fputc(',', f);
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(row, csv_cols[c]);
            if (cJSON_IsString(v) && v->valuestring) {
                csv_field(f, v->valuestring);
            } else if (cJSON_IsNumber(v)) {
                char buf[48];
                mkp_fmt_exact(buf, sizeof buf, v->valuedouble);
                fputs(buf, f);
            }
        }
        fputs("\r\n", f);
    }
    return mkp_finish(f, "csv");
}

/* ---- markdown */

static void md_text(FILE *f, const char *s) {
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            fputc(' ', f);
            continue;
        }
        if (strchr("\\`*[]<>|&", *p)) fputc('\\', f);
        fputc(*p, f);
    }
}

static void md_kernels(FILE *f, const mkp_report_phase *ph) {
    fputs("|", f);
    for (int c = 0; c < MKP_NCOLS; c++) fprintf(f, " %s |", mkp_col_head[c]);
    fputs("\n|", f);
    for (int c = 0; c < MKP_NCOLS; c++) fputs(mkp_col_numeric[c] ? " --: |" : " :-- |", f);
    fputc('\n', f);
    for (int r = 0; r < ph->n; r++) {
        mkp_cells cells;
        mkp_kernel_cells(ph->rows[r], &cells);
        fputs("|", f);
        for (int c = 0; c < MKP_NCOLS; c++) {
            fputc(' ', f);
            md_text(f, cells.cell[c]);
            fputs(" |", f);
        }
        fputc('\n', f);
    }
}

int mkp_render_markdown(const cJSON *report, FILE *f) {
    mkp_summary s;
    mkp_groups g;
    if (mkp_prepare(report, f, "markdown", &s, &g) != 0) return -1;
    fputs("# medkern profile: ", f);
    md_text(f, s.title);
    fputs("\n\n| summary | value |\n| :-- | :-- |\n", f);
    for (int i = 0; i < s.n; i++) {
        fprintf(f, "| %s | ", s.item[i].label);
        md_text(f, s.item[i].value);
        fputs(" |\n", f);
    }
    if (g.nphases == 0) fputs("\nNo kernel rows in this report.\n", f);
    for (int k = 0; k < g.nphases; k++) {
        char head[160];
        phase_heading(head, sizeof head, &g.phases[k]);
        fputs("\n## ", f);
        md_text(f, g.phases[k].phase);
        fprintf(f, " (%s)\n\n", head);
        md_kernels(f, &g.phases[k]);
    }
    const cJSON *warnings = cJSON_GetObjectItemCaseSensitive(report, "warnings"), *w;
    if (!cJSON_IsArray(warnings)) warnings = NULL;
    int nw = 0;
    cJSON_ArrayForEach(w, warnings) {
        if (!cJSON_IsString(w)) continue;
        fputs(nw++ ? "- " : "\n## warnings\n\n- ", f);
        md_text(f, w->valuestring);
        fputc('\n', f);
    }
    mkp_summary_free(&s);
    mkp_groups_free(&g);
    return mkp_finish(f, "markdown");
}
