/*
 * The HTML renderer of a `medkern profile` report: one self-contained page (inline CSS
 * and inline SVG; no scripts, fonts, images or links to anything outside the file).
 *
 * Sections: summary cards; a roofline plot; a time breakdown; the per-kernel tables (as
 * in the terminal); the warnings; the raw settings, model, ceilings and report fields.
 *
 * Roofline: log-log axes, arithmetic intensity (FLOP/byte) on x and GFLOP/s on y, ticks
 * at the powers of 10 that span the data (at most 12 decades per axis). The roof is
 * min(bandwidth_gbs * intensity, compute_gflops) from report.ceilings: the bandwidth
 * slope and the compute ceiling, either alone when the other is null, neither (with a
 * note) when both are. One circle (class "pt") per kernel row whose intensity and
 * gflops are known and positive, coloured by phase, with a <title> tooltip; rows without
 * FLOPs or without a time cannot be placed on log axes and are counted in a note.
 *
 * Time breakdown: per phase, one horizontal bar (rect, class "bar") per kernel row, its
 * length the row's share of the phase's kernel time (the report's "share", or time_ms over
 * the phase total when share is null), in the table's order.
 *
 * Every string from the report is escaped (& < > " '), control characters become spaces.
 * Output depends on the report only: the same report gives the same bytes.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "profile_fmt.h"
#include "profile_render.h"

/* ---- escaping */

/* Writes at most maxcp code points of s escaped (0: all), then "..." when it was cut. */
static void h_cut(FILE *f, const char *s, size_t maxcp) {
    size_t cp = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p & 0xC0) != 0x80 && maxcp && cp++ == maxcp) {
            fputs("...", f);
            return;
        }
        switch (*p) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fputc(*p < 0x20 || *p == 0x7f ? ' ' : *p, f);
        }
    }
}

static void h(FILE *f, const char *s) { h_cut(f, s, 0); }

/* ---- colours */

static const char *phase_colour(const char *phase, int k) {
    static const char *const other[] = {"#2ca02c", "#9467bd", "#8c564b", "#e377c2"};
    if (strcmp(phase, "prefill") == 0) return "#1f77b4";
    if (strcmp(phase, "decode") == 0) return "#d62728";
    if (strcmp(phase, MKP_NONE) == 0) return "#7f7f7f";
    return other[k % 4];
}

/* ---- roofline geometry */

enum { RF_W = 760, RF_H = 460, RF_L = 76, RF_R = 736, RF_T = 20, RF_B = 400 };

typedef struct {
    double xlo, xhi, ylo, yhi; /* log10 ranges (whole decades) */
} rf_axes;

static double rf_px(const rf_axes *a, double lx) {
    return RF_L + (lx - a->xlo) / (a->xhi - a->xlo) * (RF_R - RF_L);
}
static double rf_py(const rf_axes *a, double ly) {
    return RF_B - (ly - a->ylo) / (a->yhi - a->ylo) * (RF_B - RF_T);
}

/* Decade range [lo, hi] around the log10 values min..max: floor(min) .. floor(max) + 1,
   at most 12 decades (the top ones kept). */
static void decades(double min, double max, double *lo, double *hi) {
    *lo = floor(min);
    *hi = floor(max) + 1;
    if (*hi - *lo > 12) *lo = *hi - 12;
}

static void widen(double v, double *min, double *max, int *any) {
    if (!(v > 0) || !isfinite(v)) return;
    double l = log10(v);
    if (!*any || l < *min) *min = l;
    if (!*any || l > *max) *max = l;
    *any = 1;
}

static int plottable(const cJSON *row, double *x, double *y) {
    return mkp_num(row, "intensity", x) && mkp_num(row, "gflops", y) && *x > 0 && *y > 0;
}

/* Clips the segment (x0,y0)-(x1,y1) to the axes' box in log space (Liang-Barsky); 0 when
   nothing is left. */
static int rf_clip(const rf_axes *a, double *x0, double *y0, double *x1, double *y1) {
    double t0 = 0, t1 = 1, dx = *x1 - *x0, dy = *y1 - *y0;
    const double p[4] = {-dx, dx, -dy, dy};
    const double q[4] = {*x0 - a->xlo, a->xhi - *x0, *y0 - a->ylo, a->yhi - *y0};
    for (int i = 0; i < 4; i++) {
        if (p[i] == 0) {
            if (q[i] < 0) return 0;
            continue;
        }
        double t = q[i] / p[i];
        if (p[i] < 0) {
            if (t > t1) return 0;
            if (t > t0) t0 = t;
        } else {
            if (t < t0) return 0;
            if (t < t1) t1 = t;
        }
    }
    double ax = *x0 + t0 * dx, ay = *y0 + t0 * dy, bx = *x0 + t1 * dx, by = *y0 + t1 * dy;
    *x0 = ax;
    *y0 = ay;
    *x1 = bx;
    *y1 = by;
    return t1 > t0;
}

/* "0.01", "1", "1000" for exponents -3..5, "1e9" beyond. */
static void tick_label(char *buf, size_t n, int e) {
    if (e >= 0 && e <= 5) {
        snprintf(buf, n, "%.0f", pow(10, e));
    } else if (e < 0 && e >= -3) {
        snprintf(buf, n, "%.*f", -e, pow(10, e));
    } else {
        snprintf(buf, n, "1e%d", e);
    }
}

static void point_title(FILE *f, const char *phase, const cJSON *row) {
    mkp_cells c;
    mkp_kernel_cells(row, &c);
    double x = 0, y = 0, bytes;
    char xi[48], yg[48], by[48];
    mkp_num(row, "intensity", &x);
    mkp_num(row, "gflops", &y);
    mkp_fmt_sig(xi, sizeof xi, x, 3);
    mkp_fmt_sig(yg, sizeof yg, y, 3);
    if (mkp_num(row, "bytes", &bytes))
        mkp_fmt_bytes(by, sizeof by, bytes);
    else
        snprintf(by, sizeof by, "%s", MKP_NONE);
    fputs("<title>", f);
    h(f, phase);
    fputs(" ", f);
    h(f, c.cell[MKP_COL_STEP]);
    fputs(" (", f);
    h(f, c.cell[MKP_COL_OP]);
    fputs(", ", f);
    h(f, c.cell[MKP_COL_VARIANT]);
    fprintf(f, "): %s FLOP/byte, %s GFLOP/s, %s GB/s, %s moved, %s ms, %s %% of ceiling, ", xi,
            yg, c.cell[MKP_COL_GBS], by, c.cell[MKP_COL_TIME], c.cell[MKP_COL_CEILING]);
    h(f, c.cell[MKP_COL_BOUND]);
    fputs(" bound</title>", f);
}

static void roofline(FILE *f, const cJSON *report, const mkp_groups *g) {
    const cJSON *ceil = mkp_obj(report, "ceilings");
    double bw = 0, cp = 0;
    int has_bw = mkp_num(ceil, "bandwidth_gbs", &bw) && bw > 0;
    int has_cp = mkp_num(ceil, "compute_gflops", &cp) && cp > 0;

    /* ranges */
    double xmin = 0, xmax = 0, ymin = 0, ymax = 0;
    int xany = 0, yany = 0, npts = 0;
    for (int k = 0; k < g->nphases; k++)
        for (int r = 0; r < g->phases[k].n; r++) {
            double x, y;
            if (!plottable(g->phases[k].rows[r], &x, &y)) continue;
            widen(x, &xmin, &xmax, &xany);
            widen(y, &ymin, &ymax, &yany);
            npts++;
        }
    if (has_bw && has_cp) widen(cp / bw, &xmin, &xmax, &xany);
    rf_axes a;
    if (xany)
        decades(xmin, xmax, &a.xlo, &a.xhi);
    else
        a.xlo = -1, a.xhi = 3;
    if (has_cp) widen(cp, &ymin, &ymax, &yany);
    if (has_bw) widen(bw * pow(10, a.xlo), &ymin, &ymax, &yany);
    if (has_bw && !has_cp) widen(bw * pow(10, a.xhi), &ymin, &ymax, &yany);
    if (yany)
        decades(ymin, ymax, &a.ylo, &a.yhi);
    else
        a.ylo = -1, a.yhi = 3;

    fprintf(f, "<svg id=\"roofline-plot\" class=\"chart\" viewBox=\"0 0 %d %d\" width=\"%d\" "
               "height=\"%d\" role=\"img\" aria-label=\"roofline plot\">\n",
            RF_W, RF_H, RF_W, RF_H);
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" class=\"plot\"/>\n", RF_L, RF_T,
            RF_R - RF_L, RF_B - RF_T);
    char lab[32];
    for (int e = (int)a.xlo; e <= (int)a.xhi; e++) {
        double x = rf_px(&a, e);
        tick_label(lab, sizeof lab, e);
        fprintf(f, "<line class=\"grid\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>"
                   "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n",
                x, RF_T, x, RF_B, x, RF_B + 18, lab);
    }
    for (int e = (int)a.ylo; e <= (int)a.yhi; e++) {
        double y = rf_py(&a, e);
        tick_label(lab, sizeof lab, e);
        fprintf(f, "<line class=\"grid\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>"
                   "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
                RF_L, y, RF_R, y, RF_L - 6, y + 4, lab);
    }
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">arithmetic intensity "
               "(FLOP/byte)</text>\n",
            (RF_L + RF_R) / 2, RF_B + 44);
    fprintf(f, "<text x=\"18\" y=\"%d\" text-anchor=\"middle\" transform=\"rotate(-90 18 %d)\">"
               "GFLOP/s</text>\n",
            (RF_T + RF_B) / 2, (RF_T + RF_B) / 2);

    /* the roof */
    char num[48];
    if (has_bw) {
        double lbw = log10(bw), x0 = a.xlo, x1 = has_cp ? log10(cp / bw) : a.xhi;
        double y0 = lbw + x0, y1 = lbw + x1;
        if (rf_clip(&a, &x0, &y0, &x1, &y1)) {
            double px0 = rf_px(&a, x0), py0 = rf_py(&a, y0), px1 = rf_px(&a, x1),
                   py1 = rf_py(&a, y1);
            fprintf(f, "<line class=\"roof\" id=\"roof-bandwidth\" x1=\"%.1f\" y1=\"%.1f\" "
                       "x2=\"%.1f\" y2=\"%.1f\"/>\n",
                    px0, py0, px1, py1);
            double ang = atan2(py1 - py0, px1 - px0) * 180 / 3.14159265358979323846;
            double lx = px0 + 0.12 * (px1 - px0), ly = py0 + 0.12 * (py1 - py0);
            mkp_fmt_sig(num, sizeof num, bw, 3);
            fprintf(f, "<text class=\"rooflabel\" x=\"%.1f\" y=\"%.1f\" dy=\"-6\" "
                       "transform=\"rotate(%.1f %.1f %.1f)\">%s GB/s</text>\n",
                    lx, ly, ang, lx, ly, num);
        }
    }
    if (has_cp) {
        double lcp = log10(cp), x0 = has_bw ? log10(cp / bw) : a.xlo, x1 = a.xhi;
        double y0 = lcp, y1 = lcp;
        if (rf_clip(&a, &x0, &y0, &x1, &y1)) {
            fprintf(f, "<line class=\"roof\" id=\"roof-compute\" x1=\"%.1f\" y1=\"%.1f\" "
                       "x2=\"%.1f\" y2=\"%.1f\"/>\n",
                    rf_px(&a, x0), rf_py(&a, y0), rf_px(&a, x1), rf_py(&a, y1));
            mkp_fmt_sig(num, sizeof num, cp, 3);
            fprintf(f, "<text class=\"rooflabel\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\">"
                       "%s GFLOP/s</text>\n",
                    RF_R - 6, rf_py(&a, y0) - 6, num);
        }
    }
    if (!has_bw || !has_cp)
        fprintf(f, "<text class=\"note\" x=\"%d\" y=\"%d\" text-anchor=\"end\">%s</text>\n",
                RF_R - 6, RF_B - 8,
                !has_bw && !has_cp ? "no ceilings in this report"
                : !has_bw          ? "no bandwidth ceiling in this report"
                                   : "no compute ceiling in this report");

    /* points */
    for (int k = 0; k < g->nphases; k++) {
        const char *colour = phase_colour(g->phases[k].phase, k);
        for (int r = 0; r < g->phases[k].n; r++) {
            const cJSON *row = g->phases[k].rows[r];
            double x, y;
            if (!plottable(row, &x, &y)) continue;
            double lx = fmin(fmax(log10(x), a.xlo), a.xhi), ly = fmin(fmax(log10(y), a.ylo), a.yhi);
            fprintf(f, "<circle class=\"pt\" cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"%s\">",
                    rf_px(&a, lx), rf_py(&a, ly), colour);
            point_title(f, g->phases[k].phase, row);
            fputs("</circle>\n", f);
        }
    }
    /* legend: one swatch per phase with points */
    int ly = RF_T + 8;
    for (int k = 0; k < g->nphases; k++) {
        int any = 0;
        for (int r = 0; r < g->phases[k].n && !any; r++) {
            double x, y;
            any = plottable(g->phases[k].rows[r], &x, &y);
        }
        if (!any) continue;
        fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\" fill=\"%s\"/>"
                   "<text x=\"%d\" y=\"%d\">",
                RF_L + 10, ly, phase_colour(g->phases[k].phase, k), RF_L + 26, ly + 9);
        h(f, g->phases[k].phase);
        fputs("</text>\n", f);
        ly += 16;
    }
    fputs("</svg>\n", f);
    fprintf(f, "<p class=\"note\">%d of %d kernel rows plotted", npts, g->nrows);
    if (npts < g->nrows)
        fputs("; rows without FLOPs or without a time have no place on log axes", f);
    fputs(".</p>\n", f);
}

/* ---- time breakdown */

enum { BD_W = 760, BD_ROW = 18, BD_HEAD = 26, BD_MAXLABEL = 40 };

static void breakdown(FILE *f, const mkp_groups *g) {
    if (g->nrows == 0) {
        fputs("<p>No kernel rows in this report.</p>\n", f);
        return;
    }
    size_t maxlab = 0;
    for (int k = 0; k < g->nphases; k++)
        for (int r = 0; r < g->phases[k].n; r++) {
            const char *s = mkp_str(g->phases[k].rows[r], "step");
            size_t n = mkp_utf8_len(s ? s : MKP_NONE);
            if (n > maxlab) maxlab = n;
        }
    if (maxlab > BD_MAXLABEL) maxlab = BD_MAXLABEL + 1;
    int lx = 16 + 7 * (int)maxlab, barw = BD_W - lx - 80;
    int height = 8;
    for (int k = 0; k < g->nphases; k++) height += BD_HEAD + BD_ROW * g->phases[k].n;
    fprintf(f, "<svg id=\"breakdown-chart\" class=\"chart\" viewBox=\"0 0 %d %d\" width=\"%d\" "
               "height=\"%d\" role=\"img\" aria-label=\"time breakdown\">\n",
            BD_W, height, BD_W, height);
    int y = 0;
    for (int k = 0; k < g->nphases; k++) {
        const mkp_report_phase *ph = &g->phases[k];
        char tot[48];
        mkp_fmt_sig(tot, sizeof tot, ph->total_ms, 4);
        fprintf(f, "<text class=\"phase\" x=\"4\" y=\"%d\">", y + 18);
        h(f, ph->phase);
        fprintf(f, ": %s ms kernel time</text>\n", tot);
        y += BD_HEAD;
        for (int r = 0; r < ph->n; r++, y += BD_ROW) {
            const cJSON *row = ph->rows[r];
            double share = 0, t;
            if (!mkp_num(row, "share", &share) && mkp_num(row, "time_ms", &t) && ph->total_ms > 0)
                share = t / ph->total_ms;
            share = fmin(fmax(share, 0), 1);
            mkp_cells c;
            mkp_kernel_cells(row, &c);
            char pct[48];
            mkp_fmt_fixed(pct, sizeof pct, share * 100, 1);
            fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", lx - 6, y + 12);
            h_cut(f, c.cell[MKP_COL_STEP], BD_MAXLABEL);
            fprintf(f, "</text><rect class=\"bar\" x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"13\" "
                       "fill=\"%s\"><title>",
                    lx, y + 2, share * barw, phase_colour(ph->phase, k));
            h(f, ph->phase);
            fputs(" ", f);
            h(f, c.cell[MKP_COL_STEP]);
            fputs(" (", f);
            h(f, c.cell[MKP_COL_OP]);
            fprintf(f, "): %s ms, %s %% of the phase</title></rect>", c.cell[MKP_COL_TIME], pct);
            fprintf(f, "<text x=\"%.1f\" y=\"%d\">%s %%</text>\n", lx + share * barw + 4, y + 12,
                    pct);
        }
    }
    fputs("</svg>\n", f);
}

/* ---- tables */

static void kernel_table(FILE *f, const mkp_report_phase *ph, int k) {
    char tot[48];
    mkp_fmt_sig(tot, sizeof tot, ph->total_ms, 4);
    fputs("<h3><span class=\"swatch\" style=\"background:", f);
    fputs(phase_colour(ph->phase, k), f);
    fputs("\"></span>", f);
    h(f, ph->phase);
    fprintf(f, " (%d kernel%s, %s ms kernel time)</h3>\n<div class=\"scroll\">\n"
               "<table class=\"kernels\">\n<thead><tr>",
            ph->n, ph->n == 1 ? "" : "s", tot);
    for (int c = 0; c < MKP_NCOLS; c++)
        fprintf(f, "<th%s>%s</th>", mkp_col_numeric[c] ? " class=\"n\"" : "", mkp_col_head[c]);
    fputs("</tr></thead>\n<tbody>\n", f);
    for (int r = 0; r < ph->n; r++) {
        mkp_cells c;
        mkp_kernel_cells(ph->rows[r], &c);
        fputs("<tr>", f);
        for (int i = 0; i < MKP_NCOLS; i++) {
            fputs(mkp_col_numeric[i] ? "<td class=\"n\">" : "<td>", f);
            h(f, c.cell[i]);
            fputs("</td>", f);
        }
        fputs("</tr>\n", f);
    }
    fputs("</tbody>\n</table>\n</div>\n", f);
}

/* A key/value table of the object's fields in document order; nested values as JSON. */
static int raw_table(FILE *f, const char *caption, const cJSON *obj) {
    fputs("<table class=\"raw\">\n<caption>", f);
    h(f, caption);
    fputs("</caption>\n", f);
    if (!cJSON_IsObject(obj)) {
        fputs("<tr><td>-</td></tr>\n</table>\n", f);
        return 0;
    }
    const cJSON *v;
    cJSON_ArrayForEach(v, obj) {
        fputs("<tr><th>", f);
        h(f, v->string ? v->string : "");
        fputs("</th><td>", f);
        if (cJSON_IsString(v)) {
            h(f, v->valuestring);
        } else if (cJSON_IsNumber(v)) {
            char buf[48];
            mkp_fmt_exact(buf, sizeof buf, v->valuedouble);
            h(f, buf);
        } else if (cJSON_IsBool(v)) {
            fputs(cJSON_IsTrue(v) ? "true" : "false", f);
        } else if (cJSON_IsNull(v)) {
            fputs("null", f);
        } else {
            char *s = cJSON_PrintUnformatted(v);
            if (!s) return -1;
            h(f, s);
            cJSON_free(s);
        }
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n", f);
    return 0;
}

static const char style[] =
    "body{font-family:sans-serif;margin:24px;color:#222;background:#fff;max-width:1200px}\n"
    "h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ccc}\n"
    "h3{font-size:1em}\n"
    ".cards{display:flex;flex-wrap:wrap;gap:8px}\n"
    ".card{border:1px solid #ccc;border-radius:6px;padding:6px 10px;min-width:140px;"
    "max-width:100%;box-sizing:border-box}\n"
    ".card .k{font-size:.8em;color:#555}.card .v{overflow-wrap:anywhere}\n"
    "table{border-collapse:collapse;margin:8px 0;font-size:.9em}\n"
    "th,td{border:1px solid #ddd;padding:3px 6px;text-align:left}\n"
    ".scroll{overflow-x:auto}.kernels{font-size:.85em}\n"
    ".kernels th,.kernels td{white-space:nowrap;padding:3px 5px}\n"
    ".raw td{overflow-wrap:anywhere}\n"
    ".n{text-align:right;font-variant-numeric:tabular-nums}\n"
    "caption{text-align:left;font-weight:bold;padding:4px 0}\n"
    "svg.chart{display:block;max-width:100%;height:auto;margin:8px 0}\n"
    "svg text{font-family:sans-serif;font-size:12px;fill:#222}\n"
    ".plot{fill:#fff;stroke:#444}.grid{stroke:#e2e2e2}\n"
    ".roof{stroke:#333;stroke-width:2}.rooflabel{font-size:11px}\n"
    "circle.pt{stroke:#fff;stroke-width:1}\n"
    ".note{color:#555;font-size:.9em}svg .note{fill:#555}\n"
    ".swatch{display:inline-block;width:10px;height:10px;margin-right:6px}\n"
    ".warn li{color:#8a4b00}\n";

int mkp_render_html(const cJSON *report, FILE *f) {
    mkp_summary s;
    mkp_groups g;
    if (mkp_prepare(report, f, "html", &s, &g) != 0) return -1;
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
          "<title>medkern profile: ",
          f);
    h(f, s.title);
    fprintf(f, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<h1>medkern profile: ", style);
    h(f, s.title);
    fputs("</h1>\n\n<section id=\"summary\">\n<h2>Summary</h2>\n<div class=\"cards\">\n", f);
    for (int i = 0; i < s.n; i++) {
        fputs("<div class=\"card\"><div class=\"k\">", f);
        h(f, s.item[i].label);
        fputs("</div><div class=\"v\">", f);
        h(f, s.item[i].value);
        fputs("</div></div>\n", f);
    }
    fputs("</div>\n</section>\n\n<section id=\"roofline\">\n<h2>Roofline</h2>\n", f);
    roofline(f, report, &g);
    fputs("</section>\n\n<section id=\"breakdown\">\n<h2>Time breakdown</h2>\n", f);
    breakdown(f, &g);
    fputs("</section>\n\n<section id=\"kernels\">\n<h2>Kernels</h2>\n", f);
    if (g.nphases == 0) fputs("<p>No kernel rows in this report.</p>\n", f);
    for (int k = 0; k < g.nphases; k++) kernel_table(f, &g.phases[k], k);
    fputs("</section>\n\n<section id=\"warnings\">\n<h2>Warnings</h2>\n", f);
    const cJSON *warnings = cJSON_GetObjectItemCaseSensitive(report, "warnings"), *w;
    if (!cJSON_IsArray(warnings)) warnings = NULL;
    int nw = 0;
    cJSON_ArrayForEach(w, warnings) {
        if (!cJSON_IsString(w)) continue;
        fputs(nw++ ? "<li>" : "<ul class=\"warn\">\n<li>", f);
        h(f, w->valuestring);
        fputs("</li>\n", f);
    }
    fputs(nw ? "</ul>\n" : "<p>None.</p>\n", f);
    fputs("</section>\n\n<section id=\"settings\">\n<h2>Settings</h2>\n", f);
    int bad = raw_table(f, "settings", mkp_obj(report, "settings")) ||
              raw_table(f, "model", mkp_obj(report, "model")) ||
              raw_table(f, "ceilings", mkp_obj(report, "ceilings"));
    fputs("<table class=\"raw\">\n<caption>report</caption>\n", f);
    static const char *const meta[] = {"schema", "medkern_version", "git_commit", "date"};
    for (int i = 0; i < 4; i++) {
        const char *v = mkp_str(report, meta[i]);
        fprintf(f, "<tr><th>%s</th><td>", meta[i]);
        h(f, v ? v : MKP_NONE);
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n</section>\n</body>\n</html>\n", f);
    mkp_summary_free(&s);
    mkp_groups_free(&g);
    if (bad) {
        fprintf(stderr, "medkern profile: html: out of memory\n");
        return -1;
    }
    return mkp_finish(f, "html");
}
