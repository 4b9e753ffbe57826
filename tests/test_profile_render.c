/*
 * The renderers of `medkern profile` reports (tools/medkern/profile_render.c,
 * profile_html.c, profile_fmt.c) on the sample reports in tests/data/profile/:
 *   full.json   prefill and decode rows, calibrated ceilings, validation passed
 *   empty.json  no kernel rows, null ceilings and summary values, <&"' in names
 *   names.json  <&"', commas, a '|' and a newline in step names, null fields in a
 *               row, only a bandwidth ceiling, huge and tiny numbers
 * Each format is rendered into a memory stream and checked against the report itself:
 * the CSV is parsed back by an RFC 4180 reader written here, the markdown and terminal
 * tables are checked row by row and column by column, the HTML for escaping, for
 * self-containment and for one roofline point per plottable row and one bar per row.
 * Documents that are not "medkern-profile/1" reports give -1 and write nothing.
 *
 * Tool mode for tests/cli/profile_html.sh: `test_profile_render --render FORMAT IN OUT`
 * renders report IN (FORMAT: table, csv, markdown, html) into OUT.
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mktest.h"
#include "profile_render.h"

#ifndef MEDKERN_PROFILE_SAMPLES
#define MEDKERN_PROFILE_SAMPLES "tests/data/profile"
#endif

typedef int (*render_fn)(const cJSON *, FILE *);
static const struct {
    const char *name;
    render_fn fn;
} formats[] = {{"table", mkp_render_table},
               {"csv", mkp_render_csv},
               {"markdown", mkp_render_markdown},
               {"html", mkp_render_html}};
enum { NFORMATS = sizeof formats / sizeof formats[0] };

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0, n;
    char chunk[4096];
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (len + n + 1 > cap) {
            cap = 2 * (len + n + 1);
            char *t = realloc(buf, cap);
            if (!t) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = t;
        }
        memcpy(buf + len, chunk, n);
        len += n;
    }
    fclose(f);
    if (!buf) buf = calloc(1, 1);
    else buf[len] = '\0';
    return buf;
}

static cJSON *load(const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", MEDKERN_PROFILE_SAMPLES, name);
    char *text = read_file(path);
    if (!text) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(2);
    }
    cJSON *doc = cJSON_Parse(text);
    free(text);
    if (!doc) {
        fprintf(stderr, "%s is not JSON\n", path);
        exit(2);
    }
    return doc;
}

/* Renders into a memory stream: the text (malloc'd, NUL-terminated), its length, rc. */
static char *render(render_fn fn, const cJSON *report, int *rc, size_t *len) {
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    if (!f) {
        fprintf(stderr, "open_memstream failed\n");
        exit(2);
    }
    *rc = fn(report, f);
    fclose(f);
    if (len) *len = n;
    return buf;
}

static int count(const char *hay, const char *needle) {
    int n = 0;
    size_t l = strlen(needle);
    for (const char *p = strstr(hay, needle); p; p = strstr(p + l, needle)) n++;
    return n;
}

static const cJSON *get(const cJSON *o, const char *key) {
    return cJSON_GetObjectItemCaseSensitive(o, key);
}

static double num(const cJSON *o, const char *key) {
    const cJSON *v = get(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* ---------------------------------------------------------------- CSV */

/* RFC 4180 reader: an array of records, each an array of field strings; NULL on a syntax
   error (a bare quote, LF without CR, a record not ended by CRLF...). */
static cJSON *csv_parse(const char *s) {
    cJSON *doc = cJSON_CreateArray();
    size_t cap = strlen(s) + 1, pos = 0, len = strlen(s);
    char *field = malloc(cap);
    cJSON *rec = NULL;
    while (pos < len) {
        if (!rec) {
            rec = cJSON_CreateArray();
            cJSON_AddItemToArray(doc, rec);
        }
        size_t fl = 0;
        if (s[pos] == '"') {
            pos++;
            for (;;) {
                if (pos >= len) goto bad;
                if (s[pos] == '"') {
                    if (s[pos + 1] == '"') {
                        field[fl++] = '"';
                        pos += 2;
                        continue;
                    }
                    pos++;
                    break;
                }
                field[fl++] = s[pos++];
            }
        } else {
            while (pos < len && s[pos] != ',' && s[pos] != '\r') {
                if (s[pos] == '"' || s[pos] == '\n') goto bad;
                field[fl++] = s[pos++];
            }
        }
        field[fl] = '\0';
        cJSON_AddItemToArray(rec, cJSON_CreateString(field));
        if (s[pos] == ',') {
            pos++;
            if (pos >= len) goto bad;
        } else if (s[pos] == '\r' && s[pos + 1] == '\n') {
            pos += 2;
            rec = NULL;
        } else {
            goto bad;
        }
    }
    if (rec) goto bad; /* the last record did not end with CRLF */
    free(field);
    return doc;
bad:
    free(field);
    cJSON_Delete(doc);
    return NULL;
}

static const char *const csv_cols[] = {
    "phase", "step", "op", "variant", "calls", "time_ms", "share", "flops", "bytes",
    "gbs", "gflops", "intensity", "predicted_ms", "bound", "ceiling_fraction"};
enum { CSV_NCOLS = sizeof csv_cols / sizeof csv_cols[0] };

static void check_csv(const char *what, const cJSON *report, const char *text) {
    cJSON *doc = csv_parse(text);
    MKT_CHECK(doc != NULL, "%s csv: not RFC 4180:\n%s", what, text);
    if (!doc) return;
    const cJSON *kernels = get(report, "kernels");
    int nk = cJSON_GetArraySize(kernels);
    MKT_CHECK(cJSON_GetArraySize(doc) == nk + 1, "%s csv: %d records, want header + %d", what,
              cJSON_GetArraySize(doc), nk);
    int r = 0;
    const cJSON *rec;
    cJSON_ArrayForEach(rec, doc) {
        MKT_CHECK(cJSON_GetArraySize(rec) == CSV_NCOLS, "%s csv record %d: %d fields, want %d",
                  what, r, cJSON_GetArraySize(rec), CSV_NCOLS);
        if (cJSON_GetArraySize(rec) != CSV_NCOLS) {
            r++;
            continue;
        }
        const cJSON *row = r ? cJSON_GetArrayItem(kernels, r - 1) : NULL;
        for (int c = 0; c < CSV_NCOLS; c++) {
            const char *field = cJSON_GetArrayItem(rec, c)->valuestring;
            if (r == 0) {
                MKT_CHECK(strcmp(field, csv_cols[c]) == 0, "%s csv header %d: \"%s\", want %s",
                          what, c, field, csv_cols[c]);
                continue;
            }
            const cJSON *v = get(row, csv_cols[c]);
            if (cJSON_IsString(v)) {
                MKT_CHECK(strcmp(field, v->valuestring) == 0,
                          "%s csv row %d %s: \"%s\", want \"%s\"", what, r, csv_cols[c], field,
                          v->valuestring);
            } else if (cJSON_IsNumber(v)) {
                char *end;
                double d = strtod(field, &end);
                MKT_CHECK(*field && !*end && d == v->valuedouble,
                          "%s csv row %d %s: \"%s\", want %.17g", what, r, csv_cols[c], field,
                          v->valuedouble);
            } else {
                MKT_CHECK(field[0] == '\0', "%s csv row %d %s: \"%s\", want empty (null)", what,
                          r, csv_cols[c], field);
            }
        }
        r++;
    }
    cJSON_Delete(doc);
}

/* ---------------------------------------------------------------- markdown */

/* Number of '|' not escaped by a backslash. */
static int md_pipes(const char *line, size_t n) {
    int pipes = 0;
    for (size_t i = 0; i < n; i++) {
        if (line[i] == '\\') {
            i++;
            continue;
        }
        pipes += line[i] == '|';
    }
    return pipes;
}

/* Every table line of the markdown has 3 separators (summary: 2 columns) or 12 (kernel
   tables: 11 columns); a '|' from a name would add one. Returns the kernel-row count. */
static int md_check_lines(const char *what, const char *md) {
    int rows = 0;
    for (const char *line = md; *line;) {
        const char *end = strchr(line, '\n');
        size_t n = end ? (size_t)(end - line) : strlen(line);
        if (n > 0 && line[0] == '|') {
            int p = md_pipes(line, n);
            MKT_CHECK(p == 3 || p == 12, "%s markdown: %d separators in: %.*s", what, p, (int)n,
                      line);
            if (p == 12 && strncmp(line, "| step |", 8) != 0 && strncmp(line, "| :-- |", 7) != 0)
                rows++;
        }
        line = end ? end + 1 : line + n;
    }
    return rows;
}

/* ---------------------------------------------------------------- terminal */

/* In each kernel table of the terminal output (a header line, a line of dashes, rows),
   every cell lies in its column: the dashes give the column spans, text starts at the
   span's start and numbers end at the span's end. Returns the number of rows seen. */
static int table_check_columns(const char *what, const char *text) {
    static const int numeric[11] = {0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 0};
    int rows = 0;
    const char *line = text;
    while (*line) {
        const char *end = strchr(line, '\n');
        if (!end) break;
        if (strncmp(line, "  --", 4) != 0 || strspn(line, "- ") != (size_t)(end - line)) {
            line = end + 1;
            continue;
        }
        /* dashes: column spans */
        int start[11], stop[11], nc = 0;
        for (int i = 0; line + i < end && nc < 11;) {
            while (line + i < end && line[i] == ' ') i++;
            if (line + i >= end) break;
            start[nc] = i;
            while (line + i < end && line[i] == '-') i++;
            stop[nc++] = i;
        }
        MKT_CHECK(nc == 11, "%s table: %d columns of dashes", what, nc);
        if (nc != 11) return rows;
        for (line = end + 1; *line && *line != '\n'; line = end + 1) {
            end = strchr(line, '\n');
            if (!end) break;
            int n = (int)(end - line);
            for (int c = 0; c < 11; c++) {
                int ok;
                if (numeric[c])
                    ok = stop[c] <= n && line[stop[c] - 1] != ' ' &&
                         (stop[c] == n || line[stop[c]] == ' ');
                else
                    ok = start[c] < n && line[start[c]] != ' ' && line[start[c] - 1] == ' ';
                MKT_CHECK(ok, "%s table: column %d misaligned in: %.*s", what, c, n, line);
            }
            rows++;
        }
        if (!*line) break;
    }
    return rows;
}

/* ---------------------------------------------------------------- HTML */

static int plottable_rows(const cJSON *report) {
    int n = 0;
    const cJSON *row;
    cJSON_ArrayForEach(row, get(report, "kernels")) {
        double x = num(row, "intensity"), y = num(row, "gflops");
        n += x > 0 && y > 0;
    }
    return n;
}

static int lower_contains(const char *hay, const char *needle) {
    size_t n = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] && tolower((unsigned char)hay[i]) == needle[i]) i++;
        if (i == n) return 1;
    }
    return 0;
}

static double attr(const char *tag, const char *name) {
    char key[32];
    snprintf(key, sizeof key, " %s=\"", name);
    const char *p = strstr(tag, key);
    return p ? strtod(p + strlen(key), NULL) : NAN;
}

static void check_html(const char *what, const cJSON *report, const char *html) {
    MKT_CHECK(strncmp(html, "<!DOCTYPE html>\n", 16) == 0, "%s html: no doctype", what);
    size_t n = strlen(html);
    MKT_CHECK(n > 8 && strcmp(html + n - 8, "</html>\n") == 0, "%s html: does not end", what);
    /* self-contained, no scripts */
    static const char *const banned[] = {"<script", "src=", "href=", "url(", "@import",
                                         "http:", "https:", "<link", "<img", "<iframe",
                                         "<object", "<embed", "javascript:", " on"};
    for (size_t i = 0; i < sizeof banned / sizeof banned[0]; i++) {
        if (strcmp(banned[i], " on") == 0) {
            /* no event-handler attribute (onload=, onclick=...) */
            int found = 0;
            for (const char *p = strstr(html, " on"); p; p = strstr(p + 3, " on")) {
                const char *q = p + 3;
                while (isalpha((unsigned char)*q)) q++;
                if (*q == '=' && q > p + 3) found = 1;
            }
            MKT_CHECK(!found, "%s html: an on...= attribute", what);
            continue;
        }
        MKT_CHECK(!lower_contains(html, banned[i]), "%s html: contains \"%s\"", what, banned[i]);
    }
    MKT_CHECK(count(html, "<circle class=\"pt\"") == plottable_rows(report),
              "%s html: %d roofline points, want %d", what, count(html, "<circle class=\"pt\""),
              plottable_rows(report));
    MKT_CHECK(count(html, "<circle") == plottable_rows(report), "%s html: stray circles", what);
    MKT_CHECK(count(html, "<rect class=\"bar\"") == cJSON_GetArraySize(get(report, "kernels")),
              "%s html: %d bars, want %d", what, count(html, "<rect class=\"bar\""),
              cJSON_GetArraySize(get(report, "kernels")));
    MKT_CHECK(count(html, "<svg id=\"roofline-plot\"") == 1, "%s html: roofline svg", what);
    /* points inside the plot box */
    const char *plot = strstr(html, "class=\"plot\"");
    const char *rect = plot;
    while (rect && rect > html && *rect != '<') rect--;
    MKT_CHECK(rect != NULL, "%s html: no plot box", what);
    if (!rect) return;
    double x0 = attr(rect, "x"), y0 = attr(rect, "y"), w = attr(rect, "width"),
           hgt = attr(rect, "height");
    MKT_CHECK(w > 100 && hgt > 100, "%s html: plot box %g x %g", what, w, hgt);
    for (const char *p = strstr(html, "<circle"); p; p = strstr(p + 1, "<circle")) {
        double cx = attr(p, "cx"), cy = attr(p, "cy");
        MKT_CHECK(cx >= x0 && cx <= x0 + w && cy >= y0 && cy <= y0 + hgt,
                  "%s html: point (%g, %g) outside the plot box", what, cx, cy);
    }
    /* bar lengths follow the shares: the widest bar belongs to the largest share */
    double share_max = 0, wmax = 0;
    const cJSON *row;
    cJSON_ArrayForEach(row, get(report, "kernels")) {
        double s = num(row, "share");
        if (s > share_max) share_max = s;
    }
    for (const char *p = strstr(html, "<rect class=\"bar\""); p;
         p = strstr(p + 1, "<rect class=\"bar\"")) {
        double bw = attr(p, "width");
        MKT_CHECK(bw >= 0, "%s html: bar width %g", what, bw);
        if (bw > wmax) wmax = bw;
    }
    if (share_max > 0) MKT_CHECK(wmax > 0, "%s html: all bars empty", what);
    /* the title and every name, escaped */
    const cJSON *model = get(report, "model");
    const cJSON *name_item = get(model, "name");
    const char *name = cJSON_IsString(name_item) ? name_item->valuestring : "-";
    MKT_CHECK(strstr(html, "<title>medkern profile: ") != NULL, "%s html: <title>", what);
    if (strpbrk(name, "<>&\"'"))
        MKT_CHECK(!strstr(html, name), "%s html: raw model name %s", what, name);
}

/* ---------------------------------------------------------------- per sample */

static void check_common(const char *what, const cJSON *report) {
    for (int i = 0; i < NFORMATS; i++) {
        int rc1, rc2;
        size_t n1, n2;
        char *a = render(formats[i].fn, report, &rc1, &n1);
        char *b = render(formats[i].fn, report, &rc2, &n2);
        MKT_CHECK(rc1 == 0 && rc2 == 0, "%s %s: rc %d %d", what, formats[i].name, rc1, rc2);
        MKT_CHECK(n1 > 100 && n1 == strlen(a), "%s %s: %zu bytes", what, formats[i].name, n1);
        MKT_CHECK(n1 == n2 && memcmp(a, b, n1) == 0, "%s %s: two renderings differ", what,
                  formats[i].name);
        free(a);
        free(b);
        /* a stream that cannot be written */
        FILE *full = fopen("/dev/full", "w");
        if (full) {
            MKT_CHECK(formats[i].fn(report, full) == -1, "%s %s: writing to /dev/full succeeded",
                      what, formats[i].name);
            fclose(full);
        }
    }
}

/* A copy of s with every run of spaces shortened to one space. */
static char *squeeze(const char *s) {
    char *out = mkt_alloc(strlen(s) + 1), *o = out;
    for (; *s; s++)
        if (!(*s == ' ' && o > out && o[-1] == ' ')) *o++ = *s;
    *o = '\0';
    return out;
}

static char *render_ok(render_fn fn, const cJSON *report) {
    int rc;
    char *s = render(fn, report, &rc, NULL);
    MKT_CHECK(rc == 0, "render failed");
    return s;
}

/* needle must occur in hay */
static void has(const char *what, const char *hay, const char *needle) {
    MKT_CHECK(strstr(hay, needle) != NULL, "%s: no \"%s\" in:\n%s", what, needle, hay);
}
static void in_order(const char *what, const char *hay, const char *const *needles, int n) {
    const char *at = hay;
    for (int i = 0; i < n; i++) {
        const char *p = strstr(at, needles[i]);
        MKT_CHECK(p != NULL, "%s: \"%s\" missing or out of order", what, needles[i]);
        if (!p) return;
        at = p + strlen(needles[i]);
    }
}

static void check_full(const cJSON *r) {
    char *t = render_ok(mkp_render_table, r);
    /* summary, values as in the report (rounded to 4 significant digits) */
    static const char *const summary[] = {
        "medkern profile: meditron-7b on opencl:0\n",
        "  model                 meditron-7b (llama, 6.74 B parameters, preset, epfl-llm/meditron-7b)\n",
        "  device                opencl:0 (pthread-skylake-avx512, backend opencl)\n",
        "  weights / KV cache    w4g128 / f16\n",
        "  batch / prompt / gen  1 / 128 / 32\n",
        "  layers                2 of 32 run; times scaled x16 to all layers\n",
        "  TTFT                  12630 ms\n",
        "  prefill               10.14 tok/s\n",
        "  TPOT                  325.4 ms\n",
        "  decode                3.073 tok/s\n",
        "  MBU (decode)          55.2 %\n",
        "  MFU (prefill)         87.8 %\n",
        "  ceilings              bandwidth 20.5 GB/s, compute 150 GFLOP/s (source: calibration)\n",
        "  calibration file      /root/.cache/medkern/calibration/opencl-0-pthread-skylake-avx512.json\n",
        "  memory                weights 3.60 GiB, KV cache 80.0 MiB, activations 3.19 MiB, total 3.68 GiB\n",
        "  validation            passed (max abs error 0.000122, rel error 2.1e-05, tolerance 0.001)\n",
        "  report                medkern 0.1.0, commit 3f2c9a1, 2026-11-24T12:00:00Z\n",
        "\nprefill: 11 kernels, 12627 ms kernel time\n"};
    in_order("full table summary", t, summary, sizeof summary / sizeof summary[0]);
    /* rows sorted by time within each phase; prefill before decode */
    static const char *const order[] = {
        "prefill:", "  mlp.gate_up ", "  attn.qkv_proj ", "  mlp.down ", "  attn.o_proj ",
        "  attn.attention ", "  lm_head ", "  mlp.act ", "  attn.norm ", "  mlp.norm ",
        "  attn.rope ", "  attn.kv_append ", "decode:", "  mlp.gate_up ", "  attn.qkv_proj ",
        "  mlp.down ", "  attn.o_proj ", "  lm_head ", "  attn.attention ", "  mlp.act ",
        "  attn.norm ", "  mlp.norm ", "  attn.rope ", "  attn.kv_append ", "warnings:\n",
        "  - times scaled from 2 of 32 layers\n"};
    in_order("full table order", t, order, sizeof order / sizeof order[0]);
    /* two rows by hand, runs of spaces squeezed (table_check_columns checks alignment):
       prefill mlp.gate_up: 5420 ms, share 0.4293 -> 42.9 %, 0.314 GB/s, 136.3 GFLOP/s ->
       0.136 TFLOP/s, fraction 0.909 -> 90.9 %, predicted 4925 ms, compute bound;
       decode lm_head: 430 ms with 4 digits, 4.129 % -> 4.1, 19.52 GB/s -> 19.5,
       0.01952 TFLOP/s -> 0.0195, 95.2 %, 409.4 ms */
    char *sq = squeeze(t);
    has("full table row", sq,
        "\n mlp.gate_up qgemm opencl.qgemm_w4_tiled 32 5420 42.9 0.314 0.136 90.9 4925 compute\n");
    has("full table row", sq,
        "\n lm_head gemm opencl.gemv_f16 32 430.0 4.1 19.5 0.0195 95.2 409.4 memory\n");
    /* no FLOPs: 0 TFLOP/s, not "-" */
    has("full table row", sq, "\n attn.kv_append kv_append opencl.kv_append_paged 1024 2.000 "
                              "0.0 16.8 0 81.8 1.637 memory\n");
    free(sq);
    MKT_CHECK(table_check_columns("full", t) == 22, "full table: not 22 aligned rows");
    free(t);

    char *md = render_ok(mkp_render_markdown, r);
    has("full markdown", md, "# medkern profile: meditron-7b on opencl:0\n");
    has("full markdown", md, "| TTFT | 12630 ms |\n");
    has("full markdown", md, "\n## prefill (11 kernels, 12627 ms kernel time)\n\n| step | op |");
    has("full markdown", md,
        "| mlp.gate_up | qgemm | opencl.qgemm_w4_tiled | 32 | 5420 | 42.9 | 0.314 | 0.136 | "
        "90.9 | 4925 | compute |\n");
    has("full markdown", md,
        "| lm_head | gemm | opencl.gemv_f16 | 32 | 430.0 | 4.1 | 19.5 | 0.0195 | 95.2 | "
        "409.4 | memory |\n");
    has("full markdown", md, "## warnings\n\n- times scaled from 2 of 32 layers\n");
    MKT_CHECK(md_check_lines("full", md) == 22, "full markdown: not 22 kernel rows");
    free(md);

    char *html = render_ok(mkp_render_html, r);
    has("full html", html, "id=\"roof-bandwidth\"");
    has("full html", html, "id=\"roof-compute\"");
    has("full html", html, ">20.5 GB/s</text>");
    has("full html", html, ">150 GFLOP/s</text>");
    has("full html", html, "<td>mlp.gate_up</td><td>qgemm</td><td>opencl.qgemm_w4_tiled</td>"
                           "<td class=\"n\">32</td><td class=\"n\">5420</td>");
    has("full html", html, "<p class=\"note\">20 of 22 kernel rows plotted;");
    free(html);
}

static void check_empty(const cJSON *r) {
    char *t = render_ok(mkp_render_table, r);
    has("empty table", t, "medkern profile: tiny <b>&\"quoted\"'s, model on ref\n");
    has("empty table", t, "  TTFT                  -\n");
    has("empty table", t, "  MBU (decode)          -\n");
    has("empty table", t, "  layers                2 of 2 run\n");
    has("empty table", t,
        "  ceilings              bandwidth -, compute - (source: none)\n");
    has("empty table", t, "  validation            not run\n");
    has("empty table", t, "\nno kernel rows in this report\n");
    has("empty table", t, "  - <script>alert('x')</script>, no kernels were timed\n");
    MKT_CHECK(!strstr(t, "calibration file"), "empty table: a calibration file line");
    free(t);

    char *md = render_ok(mkp_render_markdown, r);
    has("empty markdown", md, "# medkern profile: tiny \\<b\\>\\&\"quoted\"'s, model on ref\n");
    has("empty markdown", md, "No kernel rows in this report.");
    has("empty markdown", md, "- \\<script\\>alert('x')\\</script\\>, no kernels were timed\n");
    MKT_CHECK(md_check_lines("empty", md) == 0, "empty markdown: kernel rows");
    free(md);

    char *html = render_ok(mkp_render_html, r);
    has("empty html", html,
        "<title>medkern profile: tiny &lt;b&gt;&amp;&quot;quoted&quot;&#39;s, model on ref</title>");
    has("empty html", html, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;, no kernels");
    has("empty html", html, ">no ceilings in this report</text>");
    has("empty html", html, "<p class=\"note\">0 of 0 kernel rows plotted.</p>");
    MKT_CHECK(!strstr(html, "class=\"roof\""), "empty html: a roof without ceilings");
    free(html);
}

static void check_names(const cJSON *r) {
    char *t = render_ok(mkp_render_table, r);
    has("names table", t, "  device                cuda:0 (Café GPU <rev A>, backend cuda)\n");
    has("names table", t, "  layers                3 of 32 run; times scaled x10.67 to all layers\n");
    has("names table", t, "  validation            FAILED (max abs error 0.5, rel error 0.02, "
                          "tolerance 0.001)\n");
    has("names table", t, "  MBU (decode)          170.0 %\n");
    has("names table", t, "  ceilings              bandwidth 50 GB/s, compute - (source: "
                          "device-info)\n");
    /* the newline in a step name cannot break the table */
    has("names table", t, "  line?break ");
    /* 1.23e-4 ms: exponent form; 120000 ms in full; a row of nulls */
    has("names table", t, "1.230e-04");
    has("names table", t, "  120000 ");
    char *sq = squeeze(t);
    has("names table", sq, "\n mlp|down, \"big\" gemm - 10.7 1.000 40.0 - - - - -\n");
    has("names table", sq, "\n line?break add cuda.add 6144 1.230e-04 0.0 293 0.0244 585.4 "
                           "7.200e-04 memory\n");
    free(sq);
    MKT_CHECK(table_check_columns("names", t) == 4, "names table: not 4 aligned rows");
    free(t);

    char *md = render_ok(mkp_render_markdown, r);
    has("names markdown", md,
        "| attn.\\<qkv\\>\\&\"proj\",x | qgemm | cuda.qgemm\\<'w8'\\> | 32 | 1.500 | 60.0 |");
    has("names markdown", md,
        "| mlp\\|down, \"big\" | gemm | - | 10.7 | 1.000 | 40.0 | - | - | - | - | - |\n");
    has("names markdown", md, "| line break | add | cuda.add | 6144 | 1.230e-04 | 0.0 |");
    MKT_CHECK(md_check_lines("names", md) == 4, "names markdown: not 4 kernel rows");
    free(md);

    char *html = render_ok(mkp_render_html, r);
    has("names html", html, "<td>attn.&lt;qkv&gt;&amp;&quot;proj&quot;,x</td>");
    has("names html", html, "<td>cuda.qgemm&lt;&#39;w8&#39;&gt;</td>");
    has("names html", html, "<td>mlp|down, &quot;big&quot;</td><td>gemm</td><td>-</td>");
    has("names html", html, "Café GPU &lt;rev A&gt;");
    has("names html", html, "id=\"roof-bandwidth\"");
    has("names html", html, ">no compute ceiling in this report</text>");
    MKT_CHECK(!strstr(html, "id=\"roof-compute\""), "names html: a compute roof without ceiling");
    MKT_CHECK(!strstr(html, "<qkv>") && !strstr(html, "'w8'") && !strstr(html, "line\nbreak"),
              "names html: unescaped text");
    has("names html", html, "<p class=\"note\">3 of 4 kernel rows plotted;");
    free(html);
}

/* Documents that are not reports: -1 from every renderer and nothing written. */
static void check_rejects(void) {
    static const char *const docs[] = {"[]", "{}", "{\"schema\":\"medkern-profile/2\"}",
                                       "{\"schema\":1}", "\"medkern-profile/1\"",
                                       "{\"Schema\":\"medkern-profile/1\"}"};
    for (size_t d = 0; d < sizeof docs / sizeof docs[0]; d++) {
        cJSON *doc = cJSON_Parse(docs[d]);
        for (int i = 0; i < NFORMATS; i++) {
            int rc;
            size_t n;
            char *out = render(formats[i].fn, doc, &rc, &n);
            MKT_CHECK(rc == -1 && n == 0, "%s of %s: rc %d, %zu bytes", formats[i].name, docs[d],
                      rc, n);
            free(out);
        }
        cJSON_Delete(doc);
    }
    cJSON *ok = cJSON_Parse("{\"schema\":\"medkern-profile/1\"}");
    for (int i = 0; i < NFORMATS; i++) {
        int rc;
        char *out = render(formats[i].fn, NULL, &rc, NULL);
        MKT_CHECK(rc == -1, "%s of NULL: rc %d", formats[i].name, rc);
        free(out);
        MKT_CHECK(formats[i].fn(ok, NULL) == -1, "%s to a NULL stream", formats[i].name);
    }
    cJSON_Delete(ok);
}

/* A report with the right schema but little else, or fields of the wrong types: rendered
   with "-" in place of what is missing, never a crash. */
static void check_lenient(void) {
    static const char *const docs[] = {
        "{\"schema\":\"medkern-profile/1\"}",
        "{\"schema\":\"medkern-profile/1\",\"model\":[],\"settings\":1,\"summary\":\"x\","
        "\"kernels\":{\"a\":1},\"warnings\":[1,null,\"w\"],\"validation\":3}",
        "{\"schema\":\"medkern-profile/1\",\"kernels\":[1,{},{\"phase\":7,\"time_ms\":\"3\","
        "\"share\":null},{\"phase\":\"warmup\",\"step\":\"s\",\"time_ms\":2,\"intensity\":"
        "1e-300,\"gflops\":1e300}],\"ceilings\":{\"bandwidth_gbs\":-1,\"compute_gflops\":0}}"};
    for (size_t d = 0; d < sizeof docs / sizeof docs[0]; d++) {
        cJSON *doc = cJSON_Parse(docs[d]);
        MKT_CHECK(doc != NULL, "lenient doc %zu parses", d);
        for (int i = 0; i < NFORMATS; i++) {
            int rc;
            char *out = render(formats[i].fn, doc, &rc, NULL);
            MKT_CHECK(rc == 0, "%s of lenient doc %zu: rc %d", formats[i].name, d, rc);
            if (d == 0 && i == 0) has("lenient table", out, "medkern profile: - on -\n");
            if (d == 2 && i == 1) check_csv("lenient", doc, out);
            if (d == 2 && i == 3) check_html("lenient", doc, out);
            free(out);
        }
        cJSON_Delete(doc);
    }
}

static int tool_mode(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: test_profile_render --render table|csv|markdown|html IN OUT\n");
        return 2;
    }
    int fi = -1;
    for (int i = 0; i < NFORMATS; i++)
        if (strcmp(argv[2], formats[i].name) == 0) fi = i;
    if (fi < 0) {
        fprintf(stderr, "unknown format \"%s\"\n", argv[2]);
        return 2;
    }
    char *text = read_file(argv[3]);
    cJSON *doc = text ? cJSON_Parse(text) : NULL;
    free(text);
    if (!doc) {
        fprintf(stderr, "cannot read a JSON document from %s\n", argv[3]);
        return 2;
    }
    FILE *f = fopen(argv[4], "wb");
    if (!f) {
        cJSON_Delete(doc);
        fprintf(stderr, "cannot write %s\n", argv[4]);
        return 1;
    }
    int rc = formats[fi].fn(doc, f);
    rc |= fclose(f);
    cJSON_Delete(doc);
    return rc ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--render") == 0) return tool_mode(argc, argv);
    mkt_init(argc, argv, "profile_render");

    static const char *const samples[] = {"full.json", "empty.json", "names.json"};
    for (int s = 0; s < 3; s++) {
        cJSON *r = load(samples[s]);
        check_common(samples[s], r);
        int rc;
        char *csv = render(mkp_render_csv, r, &rc, NULL);
        check_csv(samples[s], r, csv);
        free(csv);
        char *html = render(mkp_render_html, r, &rc, NULL);
        check_html(samples[s], r, html);
        free(html);
        if (s == 0) check_full(r);
        if (s == 1) check_empty(r);
        if (s == 2) check_names(r);
        cJSON_Delete(r);
    }
    check_rejects();
    check_lenient();
    return mkt_finish();
}
