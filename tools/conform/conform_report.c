/*
 * The conformance report: the summary table for a terminal and the JSON document for a
 * vendor's report (schema docs/conform.schema.json, "medkern-conform/1"), through cJSON.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "conform.h"

static const char *mode_name(mkcf_mode m) { return m == MKCF_FULL ? "full" : "quick"; }

/* "1.2e-04/1.0e-03", "exact", or "-" when nothing ran. */
static void error_cell(char *out, size_t n, const mkcf_result *row, double err, double bound) {
    if (row->cases == 0) snprintf(out, n, "-");
    else if (row->exact && row->failed == 0) snprintf(out, n, "exact");
    else if (!isfinite(err)) snprintf(out, n, "non-finite/%.1e", bound);
    else snprintf(out, n, "%.1e/%.1e", err, bound);
}

void mkcf_report_print(const mkcf_report *r, FILE *f) {
    fprintf(f, "medkern conform %s (%s) on %s: %s (backend %s, driver %s), seed %llu, %s\n",
            r->medkern_version, r->git_commit, r->device.id, r->device.name, r->device.backend,
            r->device.driver, (unsigned long long)r->seed, mode_name(r->mode));
    fprintf(f, "%-18s %-24s %6s %6s %6s %7s  %-19s %-19s %7s\n", "op", "variant", "cases", "passed", "failed",
            "skipped", "worst rel_l2/bound", "worst max|err|/bound", "time");
    for (int i = 0; i < r->nresults; i++) {
        const mkcf_result *row = &r->results[i];
        char rel[40], ab[40];
        error_cell(rel, sizeof rel, row, row->worst_rel, row->bound_rel);
        error_cell(ab, sizeof ab, row, row->worst_abs, row->bound_abs);
        fprintf(f, "%-18s %-24s %6d %6d %6d %7d  %-19s %-19s %6.1fs\n", mk_op_name(row->op), row->variant,
                row->cases, row->passed, row->failed, row->skipped, rel, ab, row->seconds);
    }
    int skipped_rows = 0;
    for (int i = 0; i < r->nresults; i++)
        if (r->results[i].skipped) {
            if (!skipped_rows++) fprintf(f, "skipped cases (the variant does not support the call):\n");
            fprintf(f, "  %s %s: %d, e.g. %s\n", mk_op_name(r->results[i].op), r->results[i].variant,
                    r->results[i].skipped, r->results[i].skip_reason);
        }
    if (r->nunsupported) fprintf(f, "unsupported ops on %s (not failures):\n", r->device.id);
    for (int i = 0; i < r->nunsupported; i++)
        fprintf(f, "  %s: %s\n", mk_op_name(r->unsupported[i].op), r->unsupported[i].reasons);
    for (int i = 0; i < r->nresults; i++)
        for (int j = 0; j < r->results[i].kept; j++)
            fprintf(f, "FAIL %s %s: %s: %s\n", mk_op_name(r->results[i].op), r->results[i].variant,
                    r->results[i].failures[j].text, r->results[i].failures[j].reason);
    fprintf(f, "%s: %d cases, %d failed, %d skipped, %d unsupported ops on %s in %.1f s\n",
            r->passed ? "PASS" : "FAIL", r->cases, r->failed, r->skipped, r->nunsupported, r->device.id,
            r->seconds);
}

/* JSON numbers must be finite: a non-finite error (a NaN where the reference had none)
   is written as null. */
static void add_number(cJSON *o, const char *key, double v) {
    if (isfinite(v)) cJSON_AddNumberToObject(o, key, v);
    else cJSON_AddNullToObject(o, key);
}

static cJSON *result_json(const mkcf_result *row) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "op", mk_op_name(row->op));
    cJSON_AddStringToObject(o, "variant", row->variant);
    cJSON_AddStringToObject(o, "check", row->exact ? "bits" : "norm");
    cJSON_AddNumberToObject(o, "cases", row->cases);
    cJSON_AddNumberToObject(o, "passed", row->passed);
    cJSON_AddNumberToObject(o, "failed", row->failed);
    cJSON_AddNumberToObject(o, "skipped", row->skipped);
    add_number(o, "worst_rel_error", row->worst_rel);
    add_number(o, "worst_abs_error", row->worst_abs);
    add_number(o, "bound_rel", row->bound_rel);
    add_number(o, "bound_abs", row->bound_abs);
    add_number(o, "seconds", row->seconds);
    if (row->skipped) cJSON_AddStringToObject(o, "skip_reason", row->skip_reason);
    cJSON *fails = cJSON_AddArrayToObject(o, "failures");
    for (int j = 0; j < row->kept; j++) {
        cJSON *fo = cJSON_CreateObject();
        cJSON_AddStringToObject(fo, "case", row->failures[j].text);
        cJSON_AddStringToObject(fo, "reason", row->failures[j].reason);
        cJSON_AddItemToArray(fails, fo);
    }
    return o;
}

char *mkcf_report_json(const mkcf_report *r) {
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    cJSON_AddStringToObject(root, "schema", "medkern-conform/1");
    cJSON_AddStringToObject(root, "medkern_version", r->medkern_version);
    cJSON_AddStringToObject(root, "git_commit", r->git_commit);
    cJSON_AddStringToObject(root, "date", r->date);
    cJSON *dev = cJSON_AddObjectToObject(root, "device");
    cJSON_AddStringToObject(dev, "id", r->device.id);
    cJSON_AddStringToObject(dev, "name", r->device.name);
    cJSON_AddStringToObject(dev, "backend", r->device.backend);
    cJSON_AddStringToObject(dev, "vendor", r->device.vendor);
    cJSON_AddStringToObject(dev, "driver", r->device.driver);
    /* a 64-bit seed does not fit a JSON number exactly: as a decimal string */
    char seed[24];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)r->seed);
    cJSON_AddStringToObject(root, "seed", seed);
    cJSON_AddStringToObject(root, "mode", mode_name(r->mode));
    cJSON *results = cJSON_AddArrayToObject(root, "results");
    for (int i = 0; i < r->nresults; i++) cJSON_AddItemToArray(results, result_json(&r->results[i]));
    cJSON *uns = cJSON_AddArrayToObject(root, "unsupported");
    for (int i = 0; i < r->nunsupported; i++) {
        cJSON *u = cJSON_CreateObject();
        cJSON_AddStringToObject(u, "op", mk_op_name(r->unsupported[i].op));
        cJSON_AddStringToObject(u, "reasons", r->unsupported[i].reasons);
        cJSON_AddItemToArray(uns, u);
    }
    cJSON_AddNumberToObject(root, "cases", r->cases);
    cJSON_AddNumberToObject(root, "failed", r->failed);
    cJSON_AddNumberToObject(root, "skipped", r->skipped);
    add_number(root, "seconds", r->seconds);
    cJSON_AddBoolToObject(root, "passed", r->passed);
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    return text;
}

mk_status mkcf_report_write(const mkcf_report *r, const char *path, char *why, size_t n) {
    char *text = mkcf_report_json(r);
    if (!text) {
        snprintf(why, n, "out of memory formatting the report");
        return MK_ERR_OUT_OF_MEMORY;
    }
    FILE *f = fopen(path, "w");
    int ok = f && fputs(text, f) >= 0 && fputc('\n', f) != EOF;
    if (f && fclose(f) != 0) ok = 0;
    free(text);
    if (!ok) {
        snprintf(why, n, "cannot write %s", path);
        return MK_ERR_IO;
    }
    return MK_OK;
}
