/* medkern compare: two Google Benchmark JSON files in, a per-benchmark statistical
   comparison of real_time out (median delta, Mann-Whitney U, geometric mean), and a
   non-zero exit when a benchmark regressed significantly past a threshold. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "stats.h"

#define TAG "medkern compare"

/* The valid timings of one benchmark name in one file, in nanoseconds. */
typedef struct {
    char *name;
    double *ns;
    int n, cap;
    double aggregate_ns; /* "median" (else "mean") aggregate, used when no repetition is there */
    int aggregate_rank;  /* 2: median seen, 1: mean seen, 0: none */
    char *error;         /* error_message of a failed or skipped entry, NULL if none */
} series;

typedef struct {
    const char *path;
    series *s;
    int n, cap;
    char *slug; /* context.device_slug (medkern benchmarks), NULL if absent */
} bench_file;

typedef struct {
    const char *name;
    const series *old, *new; /* NULL when the file has no valid timing of it */
    const series *old_any, *new_any; /* the series even if it only has errors */
    double old_med, new_med, delta_pct;
    int have_p;
    stats_u_test u;
    const char *verdict; /* regression improvement noise added removed no-data */
    char note[200];
} row;

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* Whole file into a NUL-terminated buffer; NULL with errno set on failure. */
static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    int err = buf ? 0 : ENOMEM;
    while (!err) {
        errno = 0;
        n += fread(buf + n, 1, cap - n - 1, f);
        if (ferror(f)) err = errno ? errno : EIO;
        else if (feof(f)) break;
        else if (n + 1 == cap) {
            char *bigger = realloc(buf, cap * 2);
            if (bigger) buf = bigger, cap *= 2;
            else err = ENOMEM;
        }
    }
    fclose(f);
    if (err) {
        free(buf);
        errno = err;
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

static series *find_series(const bench_file *bf, const char *name) {
    for (int i = 0; i < bf->n; i++)
        if (!strcmp(bf->s[i].name, name)) return &bf->s[i];
    return NULL;
}

static series *get_series(bench_file *bf, const char *name) {
    series *s = find_series(bf, name);
    if (s) return s;
    if (bf->n == bf->cap) {
        int cap = bf->cap ? 2 * bf->cap : 32;
        series *more = realloc(bf->s, (size_t)cap * sizeof *more);
        if (!more) return NULL;
        bf->s = more, bf->cap = cap;
    }
    s = &bf->s[bf->n];
    memset(s, 0, sizeof *s);
    if (!(s->name = dup_str(name))) return NULL;
    bf->n++;
    return s;
}

static int add_time(series *s, double ns) {
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 8;
        double *more = realloc(s->ns, (size_t)cap * sizeof *more);
        if (!more) return -1;
        s->ns = more, s->cap = cap;
    }
    s->ns[s->n++] = ns;
    return 0;
}

static void free_file(bench_file *bf) {
    for (int i = 0; i < bf->n; i++) free(bf->s[i].name), free(bf->s[i].ns), free(bf->s[i].error);
    free(bf->s);
    free(bf->slug);
}

static double unit_ns(const char *unit) {
    static const struct { const char *name; double ns; } units[] = {
        {"ns", 1.0}, {"us", 1e3}, {"ms", 1e6}, {"s", 1e9}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (!strcmp(unit, units[i].name)) return units[i].ns;
    return 0;
}

static int line_of(const char *text, const char *at) {
    int line = 1;
    for (const char *p = text; p < at && *p; p++) line += *p == '\n';
    return line;
}

/* Reads one Google Benchmark JSON file. Prints the reason and returns -1 on bad input. */
static int load_file(const char *path, bench_file *bf) {
    memset(bf, 0, sizeof *bf);
    bf->path = path;
    size_t len = 0;
    char *text = read_file(path, &len);
    if (!text) {
        fprintf(stderr, TAG ": cannot read %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (len == 0) {
        fprintf(stderr, TAG ": %s: the file is empty\n", path);
        free(text);
        return -1;
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root) {
        fprintf(stderr, TAG ": %s: malformed JSON near line %d\n", path,
                end ? line_of(text, end) : 1);
        free(text);
        return -1;
    }
    int rc = -1;
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(root, "benchmarks");
    if (!cJSON_IsArray(list)) {
        fprintf(stderr, TAG ": %s: no \"benchmarks\" array (not Google Benchmark JSON? write it "
                "with --benchmark_out=FILE --benchmark_out_format=json)\n", path);
        goto done;
    }
    const cJSON *slug = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(root, "context"), "device_slug");
    if (cJSON_IsString(slug) && !(bf->slug = dup_str(slug->valuestring))) goto oom;
    int index = -1;
    const cJSON *e;
    cJSON_ArrayForEach(e, list) {
        index++;
        if (!cJSON_IsObject(e)) {
            fprintf(stderr, TAG ": %s: benchmarks[%d] is not an object\n", path, index);
            goto done;
        }
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(e, "name");
        const cJSON *run_name = cJSON_GetObjectItemCaseSensitive(e, "run_name");
        const cJSON *run_type = cJSON_GetObjectItemCaseSensitive(e, "run_type");
        const cJSON *agg = cJSON_GetObjectItemCaseSensitive(e, "aggregate_name");
        if (!cJSON_IsString(name) && !cJSON_IsString(run_name)) {
            fprintf(stderr, TAG ": %s: benchmarks[%d] has no \"name\"\n", path, index);
            goto done;
        }
        const char *key = cJSON_IsString(run_name) ? run_name->valuestring : name->valuestring;
        int aggregate = (cJSON_IsString(run_type) && !strcmp(run_type->valuestring, "aggregate")) ||
                        (!cJSON_IsString(run_type) && agg != NULL);
        /* Repetition aggregates (mean, median, stddev, cv) only stand in for the
           repetitions when a file has nothing else (--benchmark_report_aggregates_only),
           and only with run_name, which names the benchmark they summarize. */
        int rank = 0;
        if (aggregate && cJSON_IsString(run_name) && cJSON_IsString(agg))
            rank = !strcmp(agg->valuestring, "median") ? 2 : !strcmp(agg->valuestring, "mean");
        if (aggregate && !rank) continue;
        series *s = get_series(bf, key);
        if (!s) goto oom;
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "error_occurred"))) {
            const cJSON *msg = cJSON_GetObjectItemCaseSensitive(e, "error_message");
            if (!s->error && !(s->error = dup_str(cJSON_IsString(msg) ? msg->valuestring : "error")))
                goto oom;
            continue;
        }
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(e, "real_time");
        const cJSON *unit = cJSON_GetObjectItemCaseSensitive(e, "time_unit");
        if (!cJSON_IsNumber(t) || !isfinite(t->valuedouble) || t->valuedouble < 0) {
            fprintf(stderr, TAG ": %s: benchmarks[%d] (%s) has no valid \"real_time\"\n", path,
                    index, key);
            goto done;
        }
        double scale = cJSON_IsString(unit) ? unit_ns(unit->valuestring) : 1.0;
        if (scale == 0) {
            fprintf(stderr, TAG ": %s: benchmarks[%d] (%s) has an unknown time_unit \"%s\" "
                    "(ns, us, ms or s)\n", path, index, key, unit->valuestring);
            goto done;
        }
        if (aggregate) {
            if (rank > s->aggregate_rank) {
                s->aggregate_rank = rank;
                s->aggregate_ns = t->valuedouble * scale;
            }
        } else if (add_time(s, t->valuedouble * scale) != 0) {
            goto oom;
        }
    }
    for (int i = 0; i < bf->n; i++)
        if (bf->s[i].n == 0 && bf->s[i].aggregate_rank && add_time(&bf->s[i], bf->s[i].aggregate_ns))
            goto oom;
    rc = 0;
    goto done;
oom:
    fprintf(stderr, TAG ": %s: out of memory\n", path);
done:
    cJSON_Delete(root);
    free(text);
    return rc;
}

/* The decision for one benchmark with timings on both sides. */
static void judge(row *r, double threshold, double alpha) {
    r->old_med = stats_median(r->old->ns, r->old->n);
    r->new_med = stats_median(r->new->ns, r->new->n);
    if (r->old_med > 0) r->delta_pct = (r->new_med / r->old_med - 1.0) * 100.0;
    else r->delta_pct = r->new_med > 0 ? INFINITY : 0.0;
    int single = r->old->n == 1 || r->new->n == 1;
    if (!single)
        r->have_p = stats_mann_whitney(r->new->ns, r->new->n, r->old->ns, r->old->n, &r->u) == 0;
    int threshold_only = single || !r->have_p || stats_u_min_p(r->old->n, r->new->n) >= alpha;
    int significant = threshold_only || r->u.p < alpha;
    if (significant && r->delta_pct > threshold) r->verdict = "regression";
    else if (significant && r->delta_pct < -threshold) r->verdict = "improvement";
    else r->verdict = "noise";
    if (single) snprintf(r->note, sizeof r->note, "no repetitions: threshold only");
    else if (threshold_only)
        snprintf(r->note, sizeof r->note, "too few repetitions: threshold only");
}

/* The verdict of a row: judged when both sides have timings, else added, removed or
   without data (with the error message of a side that failed). */
static void classify(row *r, double threshold, double alpha) {
    if (r->old && r->new) {
        judge(r, threshold, alpha);
    } else if (r->old || r->new) {
        r->verdict = r->old ? "removed" : "added";
        const series *failed = r->old ? r->new_any : r->old_any;
        if (failed && failed->error)
            snprintf(r->note, sizeof r->note, "error in %s: %.150s", r->old ? "new" : "old",
                     failed->error);
    } else {
        r->verdict = "no-data";
        const series *failed = r->new_any && r->new_any->error ? r->new_any : r->old_any;
        snprintf(r->note, sizeof r->note, "%.180s",
                 failed && failed->error ? failed->error : "no timing");
    }
}

static void fmt_time(double ns, int n, char *buf, size_t len) {
    static const char *const units[] = {"ns", "us", "ms", "s"};
    int u = 0;
    while (u < 3 && ns >= 1000.0) ns /= 1000.0, u++;
    snprintf(buf, len, "%.*f %s", ns < 10 ? 3 : ns < 100 ? 2 : 1, ns, units[u]);
    if (n > 1) snprintf(buf + strlen(buf), len - strlen(buf), " (n=%d)", n);
}

static void fmt_p(const row *r, char *buf, size_t len) {
    if (!r->have_p) snprintf(buf, len, "-");
    else if (r->u.p < 1e-4) snprintf(buf, len, "%.1e", r->u.p);
    else snprintf(buf, len, "%.4f", r->u.p);
}

/* A table cell: '|' escaped, newlines dropped. */
static void put_cell(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '|') fputs("\\|", f);
        else if (*s != '\n' && *s != '\r') fputc(*s, f);
    }
}

typedef struct {
    const bench_file *old, *new;
    row *rows;
    int nrows, common, geo_n;
    double geomean, threshold, alpha;
    int count[6]; /* regression improvement noise added removed no-data */
} report;

static const char *plural(int n) { return n == 1 ? "" : "s"; }

static const char *const verdicts[6] = {"regression", "improvement", "noise", "added", "removed",
                                        "no-data"};

static void print_markdown(FILE *f, const report *rp) {
    fprintf(f, "## medkern compare\n\n");
    fprintf(f, "old: %s (%d benchmark%s), new: %s (%d benchmark%s); real_time, median of the "
            "repetitions\n", rp->old->path, rp->old->n, plural(rp->old->n), rp->new->path, rp->new->n,
            plural(rp->new->n));
    if (rp->old->slug && rp->new->slug && strcmp(rp->old->slug, rp->new->slug))
        fprintf(f, "\n**warning**: the files come from different devices (%s, %s)\n",
                rp->old->slug, rp->new->slug);
    fprintf(f, "\n| benchmark | old | new | delta %% | p-value | verdict |\n");
    fprintf(f, "| --- | ---: | ---: | ---: | ---: | --- |\n");
    for (int i = 0; i < rp->nrows; i++) {
        const row *r = &rp->rows[i];
        char o[48] = "-", n[48] = "-", d[32] = "-", p[32];
        if (r->old) fmt_time(stats_median(r->old->ns, r->old->n), r->old->n, o, sizeof o);
        if (r->new) fmt_time(stats_median(r->new->ns, r->new->n), r->new->n, n, sizeof n);
        if (r->old && r->new) snprintf(d, sizeof d, "%+.2f", r->delta_pct);
        fmt_p(r, p, sizeof p);
        fputs("| ", f);
        put_cell(f, r->name);
        fprintf(f, " | %s | %s | %s | %s | %s", o, n, d, p, r->verdict);
        if (r->note[0]) {
            fputs(" (", f);
            put_cell(f, r->note);
            fputc(')', f);
        }
        fputs(" |\n", f);
    }
    fprintf(f, "\n");
    if (rp->geo_n > 0)
        fprintf(f, "geometric mean of new/old over %d common benchmark%s: %.4f (%+.2f%%)\n",
                rp->geo_n, plural(rp->geo_n), rp->geomean, (rp->geomean - 1.0) * 100.0);
    fprintf(f, "summary: %d regression%s, %d improvement%s, %d noise, %d added, %d removed",
            rp->count[0], plural(rp->count[0]), rp->count[1], plural(rp->count[1]), rp->count[2],
            rp->count[3], rp->count[4]);
    if (rp->count[5]) fprintf(f, ", %d without data", rp->count[5]);
    fprintf(f, " (threshold %g%%, alpha %g; two-sided Mann-Whitney U on the repetitions)\n",
            rp->threshold, rp->alpha);
    if (rp->count[0])
        fprintf(f, "result: FAIL (%d benchmark%s regressed past %g%%)\n", rp->count[0],
                plural(rp->count[0]), rp->threshold);
    else
        fprintf(f, "result: ok\n");
}

static cJSON *json_side(const series *s) {
    if (!s) return cJSON_CreateNull();
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "repetitions", s->n);
    cJSON_AddNumberToObject(o, "median_ns", stats_median(s->ns, s->n));
    cJSON_AddItemToObject(o, "real_time_ns", cJSON_CreateDoubleArray(s->ns, s->n));
    return o;
}

static int write_json(const char *path, const report *rp) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "old", rp->old->path);
    cJSON_AddStringToObject(root, "new", rp->new->path);
    cJSON_AddNumberToObject(root, "threshold_pct", rp->threshold);
    cJSON_AddNumberToObject(root, "alpha", rp->alpha);
    cJSON_AddStringToObject(root, "test", "mann-whitney-u two-sided (exact without ties up to "
                            "50 repetitions a side, else normal with tie and continuity correction)");
    if (rp->geo_n > 0) cJSON_AddNumberToObject(root, "geomean_ratio", rp->geomean);
    else cJSON_AddNullToObject(root, "geomean_ratio");
    cJSON_AddNumberToObject(root, "geomean_count", rp->geo_n);
    cJSON *counts = cJSON_AddObjectToObject(root, "counts");
    for (int v = 0; v < 6; v++) cJSON_AddNumberToObject(counts, verdicts[v], rp->count[v]);
    cJSON_AddBoolToObject(root, "regressed", rp->count[0] > 0);
    cJSON *list = cJSON_AddArrayToObject(root, "benchmarks");
    for (int i = 0; i < rp->nrows; i++) {
        const row *r = &rp->rows[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", r->name);
        cJSON_AddStringToObject(o, "verdict", r->verdict);
        cJSON_AddStringToObject(o, "note", r->note);
        cJSON_AddItemToObject(o, "old", json_side(r->old));
        cJSON_AddItemToObject(o, "new", json_side(r->new));
        if (r->old && r->new && isfinite(r->delta_pct))
            cJSON_AddNumberToObject(o, "delta_pct", r->delta_pct);
        else cJSON_AddNullToObject(o, "delta_pct");
        if (r->have_p) {
            cJSON_AddNumberToObject(o, "u", r->u.u);
            cJSON_AddNumberToObject(o, "p_value", r->u.p);
            cJSON_AddStringToObject(o, "p_method", r->u.exact ? "exact" : "normal");
        } else {
            cJSON_AddNullToObject(o, "p_value");
        }
        cJSON_AddItemToArray(list, o);
    }
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    FILE *f = text ? fopen(path, "w") : NULL;
    int ok = f && fputs(text, f) >= 0 && fputc('\n', f) != EOF;
    if (f && fclose(f) != 0) ok = 0;
    if (!ok)
        fprintf(stderr, TAG ": cannot write %s: %s\n", path, text ? strerror(errno) : "out of memory");
    cJSON_free(text);
    return ok ? 0 : -1;
}

/* A number for option `name`: finite, >= lo (> lo when open), < hi; `range` says so. */
static int parse_number(const char *s, double lo, int open, double hi, const char *name,
                        const char *range, double *out) {
    char *end;
    double v = strtod(s, &end);
    if (*s == 0 || *end != 0 || !isfinite(v) || v < lo || (open && v == lo) || v >= hi) {
        fprintf(stderr, TAG ": %s must be a number %s (got \"%s\")\n", name, range, s);
        return 0;
    }
    *out = v;
    return 1;
}

static void usage(void) {
    printf("usage: medkern compare OLD.json NEW.json [--threshold PCT] [--alpha A]\n"
           "                      [--markdown FILE] [--json FILE]\n\n"
           "Compares two Google Benchmark JSON files (--benchmark_out=FILE\n"
           "--benchmark_out_format=json), benchmark by benchmark, on real_time (converted\n"
           "from each entry's time_unit). Repetitions (--benchmark_repetitions=N) are the\n"
           "samples: entries of run_type \"iteration\", grouped by run_name (else name);\n"
           "aggregates are ignored unless a file has only them (then its median counts as\n"
           "one sample). Entries with error_occurred (skipped or failed runs) hold no data.\n\n"
           "Per benchmark: the median of each side, delta %% = new/old - 1, and a two-sided\n"
           "Mann-Whitney U test: exact distribution when no time is repeated and both\n"
           "sides have at most 50 repetitions, else the normal approximation with tie and\n"
           "continuity corrections. Over all common benchmarks: the geometric mean of the\n"
           "median ratios new/old.\n\n"
           "Verdicts:\n"
           "  regression    p < alpha and delta > +threshold\n"
           "  improvement   p < alpha and delta < -threshold\n"
           "  noise         anything else\n"
           "  added/removed a benchmark with timings in only one file\n"
           "When the U test cannot reach p < alpha with the repetitions at hand (a single\n"
           "repetition on either side: \"no repetitions: threshold only\"; or too few, e.g.\n"
           "2 or 3 a side at alpha 0.05: \"too few repetitions: threshold only\"), the\n"
           "verdict is decided by the threshold alone and the verdict column says so.\n"
           "Use 5 or more repetitions a side for a real test (10 in CI).\n\n"
           "Options:\n"
           "  --threshold PCT  smallest median change that counts, in %% (default 5)\n"
           "  --alpha A        significance level of the U test, in (0, 1) (default 0.05)\n"
           "  --markdown FILE  also write the markdown report to FILE (e.g. a PR comment)\n"
           "  --json FILE      also write the comparison as JSON to FILE\n\n"
           "The markdown table goes to stdout. Exit codes: 0 no regression, 1 at least one\n"
           "regression (as above), 2 bad usage or input (a file missing or unreadable,\n"
           "malformed JSON, no \"benchmarks\" array, an entry without real_time or with an\n"
           "unknown time_unit, no benchmark in common).\n");
}

int cmd_compare(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        usage();
        return MK_EXIT_OK;
    }
    const char *paths[2] = {NULL, NULL}, *md_path = NULL, *json_path = NULL;
    double threshold = 5.0, alpha = 0.05;
    int npaths = 0, bad = 0;
    for (int i = 1; i < argc; i++) {
        const char *v;
        int ok = 1;
        if ((v = cli_opt(argc, argv, &i, "--threshold", &bad)))
            ok = parse_number(v, 0, 0, INFINITY, "--threshold", ">= 0", &threshold);
        else if ((v = cli_opt(argc, argv, &i, "--alpha", &bad)))
            ok = parse_number(v, 0, 1, 1, "--alpha", "in (0, 1)", &alpha);
        else if ((v = cli_opt(argc, argv, &i, "--markdown", &bad))) md_path = v;
        else if ((v = cli_opt(argc, argv, &i, "--json", &bad))) json_path = v;
        else if (bad) return MK_EXIT_USAGE;
        else if (argv[i][0] == '-' && argv[i][1] != 0) {
            fprintf(stderr, TAG ": unknown option \"%s\"\n", argv[i]);
            return MK_EXIT_USAGE;
        } else if (npaths < 2) {
            paths[npaths++] = argv[i];
        } else {
            fprintf(stderr, TAG ": too many files (\"%s\"): give OLD.json NEW.json\n", argv[i]);
            return MK_EXIT_USAGE;
        }
        if (bad || !ok) return MK_EXIT_USAGE;
    }
    if (npaths != 2) {
        fprintf(stderr, "usage: medkern compare OLD.json NEW.json [--threshold PCT] [--alpha A] "
                "[--markdown FILE] [--json FILE]\n");
        return MK_EXIT_USAGE;
    }

    bench_file old, new;
    int status = MK_EXIT_USAGE;
    row *rows = NULL;
    report rp = {.old = &old, .new = &new, .threshold = threshold, .alpha = alpha};
    double log_sum = 0;
    if (load_file(paths[0], &old) != 0) {
        free_file(&old);
        return MK_EXIT_USAGE;
    }
    if (load_file(paths[1], &new) != 0) goto out;
    rows = calloc((size_t)(old.n + new.n) + 1, sizeof *rows);
    if (!rows) {
        fprintf(stderr, TAG ": out of memory\n");
        goto out;
    }
    rp.rows = rows;
    for (int pass = 0; pass < 2; pass++) {
        const bench_file *from = pass ? &new : &old, *other = pass ? &old : &new;
        for (int i = 0; i < from->n; i++) {
            const series *mine = &from->s[i], *theirs = find_series(other, mine->name);
            if (pass && theirs) continue; /* already a row from the old file */
            row *r = &rows[rp.nrows++];
            r->name = mine->name;
            r->old_any = pass ? theirs : mine;
            r->new_any = pass ? mine : theirs;
            r->old = r->old_any && r->old_any->n ? r->old_any : NULL;
            r->new = r->new_any && r->new_any->n ? r->new_any : NULL;
            classify(r, threshold, alpha);
            if (r->old && r->new) rp.common++;
            if (r->old && r->new && r->old_med > 0 && r->new_med > 0) {
                log_sum += log(r->new_med / r->old_med);
                rp.geo_n++;
            }
            for (int v = 0; v < 6; v++)
                if (!strcmp(r->verdict, verdicts[v])) rp.count[v]++;
        }
    }
    if (rp.common == 0) {
        fprintf(stderr, TAG ": no benchmark with timings in both %s and %s\n", paths[0], paths[1]);
        goto out;
    }
    rp.geomean = rp.geo_n ? exp(log_sum / rp.geo_n) : 1.0;
    if (old.slug && new.slug && strcmp(old.slug, new.slug))
        fprintf(stderr, TAG ": warning: the files come from different devices (%s, %s)\n", old.slug,
                new.slug);

    print_markdown(stdout, &rp);
    fflush(stdout);
    if (md_path) {
        FILE *f = fopen(md_path, "w");
        int ok = f != NULL;
        if (f) {
            print_markdown(f, &rp);
            ok = !ferror(f);
            if (fclose(f) != 0) ok = 0;
        }
        if (!ok) {
            fprintf(stderr, TAG ": cannot write %s: %s\n", md_path, strerror(errno));
            goto out;
        }
    }
    if (json_path && write_json(json_path, &rp) != 0) goto out;
    status = rp.count[0] ? MK_EXIT_FAIL : MK_EXIT_OK;
out:
    free(rows);
    free_file(&old);
    free_file(&new);
    return status;
}
