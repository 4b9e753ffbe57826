/* Reading a `medkern profile` report and formatting its values (see profile_fmt.h). */
#include "profile_fmt.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int mkp_check(const cJSON *report, FILE *f, const char *who) {
    if (!f) {
        fprintf(stderr, "medkern profile: %s: no output stream\n", who);
        return -1;
    }
    if (!cJSON_IsObject(report)) {
        fprintf(stderr, "medkern profile: %s: the report is not a JSON object\n", who);
        return -1;
    }
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(report, "schema");
    if (!cJSON_IsString(v) || !v->valuestring || strcmp(v->valuestring, MKP_SCHEMA) != 0) {
        fprintf(stderr, "medkern profile: %s: not a \"%s\" report (\"schema\" is %s%s%s)\n",
                who, MKP_SCHEMA, cJSON_IsString(v) ? "\"" : "",
                !v ? "missing" : cJSON_IsString(v) ? v->valuestring : "not a string",
                cJSON_IsString(v) ? "\"" : "");
        return -1;
    }
    return 0;
}

const char *mkp_str(const cJSON *obj, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) && v->valuestring ? v->valuestring : NULL;
}

int mkp_num(const cJSON *obj, const char *key, double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) return 0;
    *out = v->valuedouble;
    return 1;
}

const cJSON *mkp_obj(const cJSON *obj, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsObject(v) ? v : NULL;
}

void mkp_fmt_sig(char *buf, size_t n, double v, int sig) {
    if (!isfinite(v)) {
        snprintf(buf, n, "%s", MKP_NONE);
        return;
    }
    if (v == 0) {
        snprintf(buf, n, "0");
        return;
    }
    double a = fabs(v);
    if (a >= 1e15 || a < 1e-3) {
        snprintf(buf, n, "%.*e", sig - 1, v);
        return;
    }
    int d = sig - 1 - (int)floor(log10(a));
    snprintf(buf, n, "%.*f", d < 0 ? 0 : d, v);
}

void mkp_fmt_fixed(char *buf, size_t n, double v, int decimals) {
    if (!isfinite(v)) {
        snprintf(buf, n, "%s", MKP_NONE);
        return;
    }
    snprintf(buf, n, "%.*f", decimals, v);
    /* "-0.0": a negative value that rounds to zero */
    if (buf[0] == '-' && strspn(buf + 1, "0.") == strlen(buf + 1))
        memmove(buf, buf + 1, strlen(buf));
}

void mkp_fmt_exact(char *buf, size_t n, double v) {
    if (!isfinite(v)) {
        snprintf(buf, n, "%s", "");
        return;
    }
    if (v == 0) v = 0; /* -0 */
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) return;
    }
}

void mkp_fmt_bytes(char *buf, size_t n, double bytes) {
    static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    if (!isfinite(bytes)) {
        snprintf(buf, n, "%s", MKP_NONE);
        return;
    }
    double v = bytes;
    int u = 0;
    while (fabs(v) >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    char num[48];
    if (u == 0)
        snprintf(num, sizeof num, "%.0f", v);
    else
        mkp_fmt_sig(num, sizeof num, v, 3);
    snprintf(buf, n, "%s %s", num, unit[u]);
}

/* mkp_fmt_sig without trailing zeros after the point (150.0 -> 150, 20.50 -> 20.5). */
static void fmt_short(char *buf, size_t n, double v, int sig) {
    mkp_fmt_sig(buf, n, v, sig);
    if (strchr(buf, 'e') || !strchr(buf, '.')) return;
    size_t len = strlen(buf);
    while (len > 0 && buf[len - 1] == '0') buf[--len] = '\0';
    if (len > 0 && buf[len - 1] == '.') buf[--len] = '\0';
}

char *mkp_printf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (len < 0) return NULL;
    char *s = malloc((size_t)len + 1);
    if (!s) return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)len + 1, fmt, ap);
    va_end(ap);
    return s;
}

size_t mkp_utf8_len(const char *s) {
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80) n++;
    return n;
}

int mkp_finish(FILE *f, const char *who) {
    if (fflush(f) != 0 || ferror(f)) {
        fprintf(stderr, "medkern profile: %s: writing the output failed\n", who);
        return -1;
    }
    return 0;
}

/* ---- kernel cells */
const char *const mkp_col_head[MKP_NCOLS] = {
    "step", "op", "variant", "calls", "time ms", "share %", "GB/s", "TFLOP/s",
    "% of ceiling", "predicted ms", "bound"};
const int mkp_col_numeric[MKP_NCOLS] = {0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 0};

void mkp_kernel_cells(const cJSON *row, mkp_cells *c) {
    static const char *const strkey[] = {"step", "op", "variant"};
    static const int strcol[] = {MKP_COL_STEP, MKP_COL_OP, MKP_COL_VARIANT};
    for (int i = 0; i < MKP_NCOLS; i++) {
        c->buf[i][0] = '\0';
        c->cell[i] = MKP_NONE;
    }
    for (int i = 0; i < 3; i++) {
        const char *s = mkp_str(row, strkey[i]);
        if (s) c->cell[strcol[i]] = s;
    }
    const char *bound = mkp_str(row, "bound");
    if (bound) c->cell[MKP_COL_BOUND] = bound;

    double v;
#define MKP_CELL(col, key, expr)                                   \
    if (mkp_num(row, key, &v)) {                                   \
        expr;                                                       \
        c->cell[col] = c->buf[col];                                 \
    }
    MKP_CELL(MKP_COL_CALLS, "calls",
              (v == floor(v) && fabs(v) < 1e15)
                  ? mkp_fmt_fixed(c->buf[MKP_COL_CALLS], sizeof c->buf[0], v, 0)
                  : mkp_fmt_sig(c->buf[MKP_COL_CALLS], sizeof c->buf[0], v, 3))
    MKP_CELL(MKP_COL_TIME, "time_ms", mkp_fmt_sig(c->buf[MKP_COL_TIME], sizeof c->buf[0], v, 4))
    MKP_CELL(MKP_COL_SHARE, "share",
              mkp_fmt_fixed(c->buf[MKP_COL_SHARE], sizeof c->buf[0], v * 100, 1))
    MKP_CELL(MKP_COL_GBS, "gbs", mkp_fmt_sig(c->buf[MKP_COL_GBS], sizeof c->buf[0], v, 3))
    MKP_CELL(MKP_COL_TFLOPS, "gflops",
              mkp_fmt_sig(c->buf[MKP_COL_TFLOPS], sizeof c->buf[0], v / 1000, 3))
    MKP_CELL(MKP_COL_CEILING, "ceiling_fraction",
              mkp_fmt_fixed(c->buf[MKP_COL_CEILING], sizeof c->buf[0], v * 100, 1))
    MKP_CELL(MKP_COL_PREDICTED, "predicted_ms",
              mkp_fmt_sig(c->buf[MKP_COL_PREDICTED], sizeof c->buf[0], v, 4))
#undef MKP_CELL
}

/* ---- grouping and sorting */
typedef struct {
    const cJSON *row;
    int index;
    int known;
    double t;
} sort_row;

static int by_time(const void *pa, const void *pb) {
    const sort_row *a = pa, *b = pb;
    if (a->known != b->known) return a->known ? -1 : 1;
    if (a->known && a->t != b->t) return a->t > b->t ? -1 : 1;
    return (a->index > b->index) - (a->index < b->index);
}

static const char *row_phase(const cJSON *row) {
    const char *p = mkp_str(row, "phase");
    return p ? p : MKP_NONE;
}

int mkp_group(const cJSON *report, mkp_groups *g) {
    memset(g, 0, sizeof *g);
    const cJSON *kernels = cJSON_GetObjectItemCaseSensitive(report, "kernels");
    int n = cJSON_IsArray(kernels) ? cJSON_GetArraySize(kernels) : 0;
    if (n == 0) return 0;
    sort_row *all = calloc((size_t)n, sizeof *all);
    const char **names = calloc((size_t)n + 2, sizeof *names);
    g->phases = calloc((size_t)n + 2, sizeof *g->phases);
    if (!all || !names || !g->phases) goto oom;

    /* phase names in display order */
    int np = 0;
    names[np++] = "prefill";
    names[np++] = "decode";
    int i = 0;
    const cJSON *row;
    cJSON_ArrayForEach(row, kernels) {
        const char *p = row_phase(row);
        int k = 0;
        while (k < np && strcmp(names[k], p) != 0) k++;
        if (k == np) names[np++] = p;
        all[i].row = row;
        all[i].index = i;
        all[i].known = mkp_num(row, "time_ms", &all[i].t);
        i++;
    }
    qsort(all, (size_t)n, sizeof *all, by_time);

    for (int k = 0; k < np; k++) {
        int count = 0;
        for (int j = 0; j < n; j++) count += strcmp(row_phase(all[j].row), names[k]) == 0;
        if (count == 0) continue;
        mkp_report_phase *ph = &g->phases[g->nphases];
        ph->phase = names[k];
        ph->rows = calloc((size_t)count, sizeof *ph->rows);
        if (!ph->rows) goto oom;
        g->nphases++;
        for (int j = 0; j < n; j++) {
            if (strcmp(row_phase(all[j].row), names[k]) != 0) continue;
            ph->rows[ph->n++] = all[j].row;
            if (all[j].known) ph->total_ms += all[j].t;
        }
        g->nrows += count;
    }
    free(all);
    free(names);
    return 0;
oom:
    free(all);
    free(names);
    mkp_groups_free(g);
    fprintf(stderr, "medkern profile: out of memory\n");
    return -1;
}

void mkp_groups_free(mkp_groups *g) {
    if (g->phases)
        for (int k = 0; k < g->nphases; k++) free(g->phases[k].rows);
    free(g->phases);
    memset(g, 0, sizeof *g);
}

/* ---- summary */

/* Appends "sep text" to a malloc'd list string (*s may be NULL); 0 or -1 (out of memory). */
static int join(char **s, const char *sep, const char *text) {
    char *t = *s ? mkp_printf("%s%s%s", *s, sep, text) : mkp_printf("%s", text);
    if (!t) return -1;
    free(*s);
    *s = t;
    return 0;
}

/* A number of obj[key] with `sig` significant digits (trailing zeros dropped), or "-". */
static const char *num_text(char *buf, size_t n, const cJSON *obj, const char *key, int sig) {
    double v;
    if (!mkp_num(obj, key, &v)) return MKP_NONE;
    fmt_short(buf, n, v, sig);
    return buf;
}

static const char *str_text(const cJSON *obj, const char *key) {
    const char *s = mkp_str(obj, key);
    return s ? s : MKP_NONE;
}

static int add_item(mkp_summary *s, const char *label, char *value) {
    if (!value) return -1;
    if (s->n == MKP_MAX_SUMMARY) {
        free(value);
        return -1;
    }
    s->item[s->n].label = label;
    s->item[s->n].value = value;
    s->n++;
    return 0;
}

static char *model_text(const cJSON *model) {
    char *s = mkp_printf("%s", str_text(model, "name"));
    char *parts = NULL;
    char buf[64];
    int bad = !s;
    const char *family = mkp_str(model, "family");
    if (family) bad |= join(&parts, ", ", family);
    double params;
    if (mkp_num(model, "parameters", &params)) {
        char num[48];
        if (params >= 1e9)
            snprintf(buf, sizeof buf, "%.3g B parameters", params / 1e9);
        else if (params >= 1e6)
            snprintf(buf, sizeof buf, "%.3g M parameters", params / 1e6);
        else {
            mkp_fmt_fixed(num, sizeof num, params, 0);
            snprintf(buf, sizeof buf, "%s parameters", num);
        }
        bad |= join(&parts, ", ", buf);
    }
    const char *source = mkp_str(model, "source");
    const char *path = mkp_str(model, "config_path");
    if (source && path) {
        char *t = mkp_printf("%s %s", source, path);
        bad |= !t || join(&parts, ", ", t);
        free(t);
    } else if (source || path) {
        bad |= join(&parts, ", ", source ? source : path);
    }
    const char *hf = mkp_str(model, "hf_id");
    if (hf) bad |= join(&parts, ", ", hf);
    if (!bad && parts) {
        char *t = mkp_printf("%s (%s)", s, parts);
        bad |= !t;
        free(s);
        s = t;
    }
    free(parts);
    if (bad) {
        free(s);
        return NULL;
    }
    return s;
}

static char *device_text(const cJSON *settings) {
    const char *name = mkp_str(settings, "device_name"), *backend = mkp_str(settings, "backend");
    const char *dev = str_text(settings, "device");
    if (name && backend) return mkp_printf("%s (%s, backend %s)", dev, name, backend);
    if (name) return mkp_printf("%s (%s)", dev, name);
    if (backend) return mkp_printf("%s (backend %s)", dev, backend);
    return mkp_printf("%s", dev);
}

static char *layers_text(const cJSON *settings) {
    double run, total;
    const cJSON *scaled = cJSON_GetObjectItemCaseSensitive(settings, "scaled");
    char a[48], b[48], f[48];
    int known_run = mkp_num(settings, "layers_run", &run);
    int known_total = mkp_num(settings, "layers_total", &total);
    if (known_run) fmt_short(a, sizeof a, run, 6);
    if (known_total) fmt_short(b, sizeof b, total, 6);
    const char *ra = known_run ? a : MKP_NONE, *tb = known_total ? b : MKP_NONE;
    if (cJSON_IsTrue(scaled)) {
        if (known_run && known_total && run > 0) {
            fmt_short(f, sizeof f, total / run, 4);
            return mkp_printf("%s of %s run; times scaled x%s to all layers", ra, tb, f);
        }
        return mkp_printf("%s of %s run; times scaled to all layers", ra, tb);
    }
    return mkp_printf("%s of %s run", ra, tb);
}

static char *percent_text(const cJSON *obj, const char *key) {
    double v;
    char buf[48];
    if (!mkp_num(obj, key, &v)) return mkp_printf("%s", MKP_NONE);
    mkp_fmt_fixed(buf, sizeof buf, v * 100, 1);
    return mkp_printf("%s %%", buf);
}

static char *unit_text(const cJSON *obj, const char *key, int sig, const char *unit) {
    char buf[48];
    const char *t = num_text(buf, sizeof buf, obj, key, sig);
    if (t == buf) return mkp_printf("%s %s", t, unit);
    return mkp_printf("%s", t);
}

static char *memory_text(const cJSON *mem) {
    static const char *const key[] = {"weights_bytes", "kv_cache_bytes", "activations_bytes",
                                      "total_bytes"};
    static const char *const name[] = {"weights", "KV cache", "activations", "total"};
    char *s = NULL;
    for (int i = 0; i < 4; i++) {
        double v;
        char buf[48];
        if (mkp_num(mem, key[i], &v))
            mkp_fmt_bytes(buf, sizeof buf, v);
        else
            snprintf(buf, sizeof buf, "%s", MKP_NONE);
        char *t = mkp_printf("%s %s", name[i], buf);
        int bad = !t || join(&s, ", ", t);
        free(t);
        if (bad) {
            free(s);
            return NULL;
        }
    }
    return s;
}

static char *ceilings_text(const cJSON *ceil) {
    char a[48], b[48];
    const char *bw = num_text(a, sizeof a, ceil, "bandwidth_gbs", 4);
    const char *cp = num_text(b, sizeof b, ceil, "compute_gflops", 4);
    return mkp_printf("bandwidth %s%s, compute %s%s (source: %s)", bw, bw == a ? " GB/s" : "",
                       cp, cp == b ? " GFLOP/s" : "", str_text(ceil, "source"));
}

static char *validation_text(const cJSON *report) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(report, "validation");
    if (!cJSON_IsObject(v)) return mkp_printf("not run");
    const cJSON *passed = cJSON_GetObjectItemCaseSensitive(v, "passed");
    char a[48], b[48], c[48];
    double x;
    snprintf(a, sizeof a, "%s", MKP_NONE);
    snprintf(b, sizeof b, "%s", MKP_NONE);
    snprintf(c, sizeof c, "%s", MKP_NONE);
    if (mkp_num(v, "max_abs_error", &x)) snprintf(a, sizeof a, "%.3g", x);
    if (mkp_num(v, "rel_error", &x)) snprintf(b, sizeof b, "%.3g", x);
    if (mkp_num(v, "tolerance", &x)) snprintf(c, sizeof c, "%.3g", x);
    return mkp_printf("%s (max abs error %s, rel error %s, tolerance %s)",
                       cJSON_IsTrue(passed) ? "passed" : cJSON_IsFalse(passed) ? "FAILED" : "-",
                       a, b, c);
}

int mkp_summarize(const cJSON *report, mkp_summary *s) {
    memset(s, 0, sizeof *s);
    const cJSON *model = mkp_obj(report, "model"), *settings = mkp_obj(report, "settings");
    const cJSON *ceil = mkp_obj(report, "ceilings"), *sum = mkp_obj(report, "summary");
    const cJSON *mem = mkp_obj(sum, "memory");
    char a[48], b[48], c[48];
    int bad = 0;

    s->title = mkp_printf("%s on %s", str_text(model, "name"), str_text(settings, "device"));
    bad |= !s->title;
    bad |= add_item(s, "model", model_text(model));
    bad |= add_item(s, "device", device_text(settings));
    bad |= add_item(s, "weights / KV cache",
                    mkp_printf("%s / %s", str_text(settings, "weights"),
                                str_text(settings, "kv")));
    bad |= add_item(s, "batch / prompt / gen",
                    mkp_printf("%s / %s / %s", num_text(a, sizeof a, settings, "batch", 15),
                                num_text(b, sizeof b, settings, "prompt", 15),
                                num_text(c, sizeof c, settings, "gen", 15)));
    bad |= add_item(s, "layers", layers_text(settings));
    bad |= add_item(s, "TTFT", unit_text(sum, "ttft_ms", 4, "ms"));
    bad |= add_item(s, "prefill", unit_text(sum, "prefill_tokens_per_s", 4, "tok/s"));
    bad |= add_item(s, "TPOT", unit_text(sum, "tpot_ms", 4, "ms"));
    bad |= add_item(s, "decode", unit_text(sum, "decode_tokens_per_s", 4, "tok/s"));
    bad |= add_item(s, "MBU (decode)", percent_text(sum, "mbu"));
    bad |= add_item(s, "MFU (prefill)", percent_text(sum, "mfu"));
    bad |= add_item(s, "ceilings", ceilings_text(ceil));
    const char *file = mkp_str(ceil, "calibration_file");
    if (file) bad |= add_item(s, "calibration file", mkp_printf("%s", file));
    bad |= add_item(s, "memory", memory_text(mem));
    bad |= add_item(s, "validation", validation_text(report));
    bad |= add_item(s, "report",
                    mkp_printf("medkern %s, commit %s, %s", str_text(report, "medkern_version"),
                                str_text(report, "git_commit"), str_text(report, "date")));
    if (bad) {
        mkp_summary_free(s);
        fprintf(stderr, "medkern profile: out of memory\n");
        return -1;
    }
    return 0;
}

void mkp_summary_free(mkp_summary *s) {
    free(s->title);
    for (int i = 0; i < s->n; i++) free(s->item[i].value);
    memset(s, 0, sizeof *s);
}

int mkp_prepare(const cJSON *report, FILE *f, const char *who, mkp_summary *s, mkp_groups *g) {
    if (mkp_check(report, f, who) != 0) return -1;
    if (mkp_summarize(report, s) != 0) return -1;
    if (mkp_group(report, g) != 0) {
        mkp_summary_free(s);
        return -1;
    }
    return 0;
}
