/* Renderers of a `medkern profile` report (schema "medkern-profile/1", see
 * docs/profile-formats.md and docs/profile-report.schema.json). Each takes the report
 * document and writes one output format to f. They return 0, or -1 with a message on stderr when
 * the document is not a "medkern-profile/1" report (or f is NULL, or writing fails).
 * Null or missing values are shown as "-" (table, markdown, HTML) or an empty field (CSV).
 * Output is deterministic: the same report gives the same bytes. */
#ifndef MEDKERN_PROFILE_RENDER_H
#define MEDKERN_PROFILE_RENDER_H

#include <stdio.h>

#include <cjson/cJSON.h>

/* Terminal table (the default output): summary block, per-phase kernel tables, warnings. */
int mkp_render_table(const cJSON *report, FILE *f);
/* RFC 4180 CSV: one header row, then one row per kernel (columns: docs/profile-formats.md). */
int mkp_render_csv(const cJSON *report, FILE *f);
/* GitHub-flavoured markdown: summary table, per-phase kernel tables, warnings. */
int mkp_render_markdown(const cJSON *report, FILE *f);
/* One self-contained HTML page (inline CSS and SVG, no scripts): summary, roofline plot,
 * time breakdown, kernel tables, warnings and settings. */
int mkp_render_html(const cJSON *report, FILE *f);

#endif
