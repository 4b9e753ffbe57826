/* medkern profile: a medical LLM's layer plan with random weights on a device (prefill,
   then decode), per-kernel device times against the roofline, rendered from one JSON
   report (docs/profiling.md). --validate runs the executor against the reference model;
   --from-json re-renders a saved report. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "calibration.h"
#include "cli.h"
#include "model_config.h"
#include "profile_plan.h"
#include "profile_render.h"
#include "profile_report.h"
#include "profile_run.h"
#include "profile_validate.h"

#define ME "medkern profile"

enum { OUT_TABLE = 0, OUT_JSON, OUT_CSV, OUT_MARKDOWN };

typedef struct {
    const char *model, *config, *device, *html, *from_json;
    int list, validate, out, quiet, warmup;
    mkp_settings set;
    int layers;          /* 0 = as many as fit */
    double max_memory;   /* bytes, 0 = default budget */
    uint64_t seed;
} options;

static void usage(void) {
    printf("usage: medkern profile MODEL|CONFIG.json [options]\n"
           "       medkern profile --list [--json]\n"
           "       medkern profile --validate [--device D] [--batch B --prompt P --gen G] [format]\n"
           "       medkern profile --from-json REPORT.json [format]\n\n"
           "Runs a model's layer plan with random weights on a device: a prefill of --batch\n"
           "sequences of --prompt tokens, then --gen decode steps. Reports TTFT, prefill\n"
           "tokens/s, TPOT, decode tokens/s, memory, and per kernel: calls, device time,\n"
           "share, GB/s, GFLOP/s and the roofline prediction from the device's calibrated\n"
           "ceilings (medkern calibrate). MODEL is a preset (--list) or a Hugging Face\n"
           "config.json (Llama, Mistral, Gemma, Gemma 3, GPT-2).\n\n"
           "options:\n"
           "  --config FILE      read the model from a config.json\n"
           "  --device D         device id (default: auto, the best available)\n"
           "  --weights F        f16 (default), bf16, w4g128, w8, w8a8, fp8\n"
           "  --kv F             KV cache: f16 (default), bf16, int8, fp8\n"
           "  --batch B          sequences (default 1)\n"
           "  --prompt P         prompt tokens per sequence (default 128)\n"
           "  --gen G            decode steps (default 32; 0 = prefill only)\n"
           "  --layers N         run N layers and scale to the model (default: all that fit)\n"
           "  --max-memory SIZE  device memory budget, e.g. 4G, 512M (default: 90%% of a GPU's\n"
           "                     memory; half the host memory for CPU and ref devices)\n"
           "  --seed S           random weights and token ids (default 1)\n"
           "  --no-warmup        no untimed pass first (the first pass then builds programs)\n"
           "  --quiet            no progress bar (it is drawn on stderr only on a terminal)\n"
           "formats (default: a table on stdout):\n"
           "  --json             the report (schema medkern-profile/1)\n"
           "  --csv              one row per kernel\n"
           "  --markdown         summary and kernel tables\n"
           "  --html FILE        a self-contained HTML report, besides the stdout format\n\n"
           "--validate runs a small Llama (2 layers, hidden 256, 8 query / 4 KV heads) with the\n"
           "reference model's f32 weights and compares the logits with the reference model;\n"
           "exit 1 past the tolerance. Exit codes: 0 ok, 1 failure, 2 bad usage or input.\n");
}

static int parse_int(const char *s, long lo, long hi, const char *name, int *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == 0 || *end != 0 || v < lo || v > hi) {
        fprintf(stderr, ME ": %s must be an integer in [%ld, %ld] (got \"%s\")\n", name, lo, hi, s);
        return 0;
    }
    *out = (int)v;
    return 1;
}

/* "4G", "512M", "1.5GiB", "1000000" -> bytes */
static int parse_size(const char *s, double *out) {
    char *end;
    double v = strtod(s, &end);
    double mul = 1;
    if (end == s || !(v > 0) || !isfinite(v)) return 0;
    if (*end) {
        switch (*end) {
        case 'k': case 'K': mul = 1024.0; break;
        case 'm': case 'M': mul = 1048576.0; break;
        case 'g': case 'G': mul = 1073741824.0; break;
        case 't': case 'T': mul = 1099511627776.0; break;
        default: return 0;
        }
        end++;
        if (!strcmp(end, "iB") || !strcmp(end, "B")) end += strlen(end);
        if (*end) return 0;
    }
    *out = v * mul;
    return *out >= 1048576.0;
}

static int parse_args(int argc, char **argv, options *o) {
    int bad = 0;
    for (int i = 1; i < argc; i++) {
        const char *v;
        int ok = 1;
        if ((v = cli_opt(argc, argv, &i, "--config", &bad))) o->config = v;
        else if ((v = cli_opt(argc, argv, &i, "--device", &bad))) o->device = v;
        else if ((v = cli_opt(argc, argv, &i, "--weights", &bad))) {
            if (mkp_weights_parse(v, &o->set.weights) != 0) {
                fprintf(stderr, ME ": --weights must be f16, bf16, w4g128, w8, w8a8 or fp8 (got \"%s\")\n", v);
                ok = 0;
            }
        } else if ((v = cli_opt(argc, argv, &i, "--kv", &bad))) {
            if (mkp_kv_parse(v, &o->set.kv) != 0) {
                fprintf(stderr, ME ": --kv must be f16, bf16, int8 or fp8 (got \"%s\")\n", v);
                ok = 0;
            }
        } else if ((v = cli_opt(argc, argv, &i, "--batch", &bad))) ok = parse_int(v, 1, 4096, "--batch", &o->set.batch);
        else if ((v = cli_opt(argc, argv, &i, "--prompt", &bad))) ok = parse_int(v, 1, 1 << 20, "--prompt", &o->set.prompt);
        else if ((v = cli_opt(argc, argv, &i, "--gen", &bad))) ok = parse_int(v, 0, 1 << 20, "--gen", &o->set.gen);
        else if ((v = cli_opt(argc, argv, &i, "--layers", &bad))) ok = parse_int(v, 1, MKM_MAX_LAYERS, "--layers", &o->layers);
        else if ((v = cli_opt(argc, argv, &i, "--seed", &bad))) {
            int seed;
            ok = parse_int(v, 0, 1 << 30, "--seed", &seed);
            o->seed = (uint64_t)seed;
        } else if ((v = cli_opt(argc, argv, &i, "--max-memory", &bad))) {
            if (!(ok = parse_size(v, &o->max_memory)))
                fprintf(stderr, ME ": --max-memory must be a size of at least 1M, e.g. 512M or 4G (got \"%s\")\n", v);
        } else if ((v = cli_opt(argc, argv, &i, "--html", &bad))) o->html = v;
        else if ((v = cli_opt(argc, argv, &i, "--from-json", &bad))) o->from_json = v;
        else if (bad) return 0;
        else if (!strcmp(argv[i], "--list")) o->list = 1;
        else if (!strcmp(argv[i], "--validate")) o->validate = 1;
        else if (!strcmp(argv[i], "--no-warmup")) o->warmup = 0;
        else if (!strcmp(argv[i], "--quiet")) o->quiet = 1;
        else if (!strcmp(argv[i], "--json") || !strcmp(argv[i], "--csv") || !strcmp(argv[i], "--markdown")) {
            int f = argv[i][2] == 'j' ? OUT_JSON : argv[i][2] == 'c' ? OUT_CSV : OUT_MARKDOWN;
            if (o->out && o->out != f) {
                fprintf(stderr, ME ": choose one of --json, --csv and --markdown\n");
                return 0;
            }
            o->out = f;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, ME ": unknown option \"%s\" (medkern profile --help)\n", argv[i]);
            return 0;
        } else if (!o->model) {
            o->model = argv[i];
        } else {
            fprintf(stderr, ME ": one model at a time (got \"%s\" and \"%s\")\n", o->model, argv[i]);
            return 0;
        }
        if (bad || !ok) return 0;
    }
    return 1;
}

/* ---- output */

static int render(const cJSON *report, const options *o) {
    int rc = 0;
    switch (o->out) {
    case OUT_JSON: {
        char *text = cJSON_Print(report);
        if (!text) return -1;
        rc = fputs(text, stdout) < 0 || fputc('\n', stdout) == EOF ? -1 : 0;
        cJSON_free(text);
        break;
    }
    case OUT_CSV: rc = mkp_render_csv(report, stdout); break;
    case OUT_MARKDOWN: rc = mkp_render_markdown(report, stdout); break;
    default: rc = mkp_render_table(report, stdout);
    }
    if (rc == 0 && fflush(stdout) != 0) rc = -1;
    if (rc == 0 && o->html) {
        FILE *f = fopen(o->html, "w");
        if (!f) {
            fprintf(stderr, ME ": cannot write %s\n", o->html);
            return -1;
        }
        rc = mkp_render_html(report, f);
        if (fclose(f) != 0) rc = -1;
        if (rc != 0) fprintf(stderr, ME ": writing %s failed\n", o->html);
    }
    return rc;
}

/* ---- progress bar (stderr, only on a terminal) */

static void progress(void *arg, const char *what, int done, int total) {
    (void)arg;
    const int width = 30, fill = total > 0 ? done * width / total : width;
    fprintf(stderr, "\r%-8s [", what);
    for (int i = 0; i < width; i++) fputc(i < fill ? '#' : '.', stderr);
    fprintf(stderr, "] %d/%d\033[K", done, total);
    if (done >= total) fputc('\r', stderr);
    fflush(stderr);
}

/* ---- --list */

static int list_presets(int as_json) {
    cJSON *arr = as_json ? cJSON_CreateArray() : NULL;
    if (!as_json)
        printf("%-22s %-7s %6s %6s %7s %4s %6s %7s %8s %7s %7s  %s\n", "model", "family", "layers", "hidden",
               "heads", "D", "inter", "vocab", "max pos", "window", "params", "hf_id");
    char name[128], err[512];
    for (int i = 0; i < mkm_preset_count(); i++) {
        mkm_config c;
        mkp_plan *p = malloc(sizeof *p);
        mkp_settings set = {MKP_W_F16, MKP_KV_F16, 1, 1, 0, 16};
        mkm_preset_name(i, name, sizeof name);
        if (!p || mkm_load_preset(name, &c, err, sizeof err) != MKM_OK || mkp_build(&c, &set, p, err, sizeof err) != 0) {
            fprintf(stderr, ME ": preset %s: %s\n", name, p ? err : "out of memory");
            free(p);
            cJSON_Delete(arr);
            return MK_EXIT_FAIL;
        }
        char heads[24], window[16] = "-";
        snprintf(heads, sizeof heads, "%d/%d", c.heads, c.kv_heads);
        if (c.sliding_window) {
            int local = mkm_local_layers(&c);
            if (local == c.layers) snprintf(window, sizeof window, "%d", c.sliding_window);
            else snprintf(window, sizeof window, "%d*%d", c.sliding_window, local);
        }
        if (as_json) {
            cJSON *m = cJSON_CreateObject();
            cJSON_AddItemToArray(arr, m);
            cJSON_AddStringToObject(m, "name", c.name);
            cJSON_AddStringToObject(m, "family", mkm_family_name(c.family));
            if (c.hf_id[0]) cJSON_AddStringToObject(m, "hf_id", c.hf_id);
            else cJSON_AddNullToObject(m, "hf_id");
            cJSON_AddNumberToObject(m, "num_layers", c.layers);
            cJSON_AddNumberToObject(m, "hidden_size", c.hidden);
            cJSON_AddNumberToObject(m, "num_heads", c.heads);
            cJSON_AddNumberToObject(m, "num_kv_heads", c.kv_heads);
            cJSON_AddNumberToObject(m, "head_dim", c.head_dim);
            cJSON_AddNumberToObject(m, "intermediate_size", c.intermediate);
            cJSON_AddNumberToObject(m, "vocab_size", c.vocab);
            cJSON_AddNumberToObject(m, "max_positions", c.max_positions);
            if (c.sliding_window) cJSON_AddNumberToObject(m, "sliding_window", c.sliding_window);
            else cJSON_AddNullToObject(m, "sliding_window");
            cJSON_AddNumberToObject(m, "local_layers", mkm_local_layers(&c));
            cJSON_AddNumberToObject(m, "parameters", p->parameters);
            cJSON_AddStringToObject(m, "verification", c.verification);
            cJSON_AddStringToObject(m, "source", c.provenance);
        } else {
            printf("%-22s %-7s %6d %6d %7s %4d %6d %7d %8d %7s %6.2fB  %s\n", c.name, mkm_family_name(c.family),
                   c.layers, c.hidden, heads, c.head_dim, c.intermediate, c.vocab, c.max_positions, window,
                   p->parameters / 1e9, c.hf_id[0] ? c.hf_id : "-");
        }
        free(p);
    }
    if (as_json) {
        char *text = cJSON_Print(arr);
        if (text) puts(text);
        cJSON_free(text);
        cJSON_Delete(arr);
    } else {
        printf("\nheads: query/KV; window: sliding window (tokens) [* layers using it]; params: weights incl. embeddings\n");
    }
    return MK_EXIT_OK;
}

/* ---- ceilings: the calibration cache, else the device's peaks, else none */

static void find_ceilings(const mk_device_info *d, mkp_ceilings *c, char *note, size_t n) {
    memset(c, 0, sizeof *c);
    note[0] = 0;
    char path[512];
    if (mkcal_path(d->id, d->name, path, sizeof path) == 0) {
        mkcal_result r;
        char why[160];
        mkcal_status st = mkcal_read(path, &r, why, sizeof why);
        if (st == MKCAL_OK && !strcmp(r.device_name, d->name) && !strcmp(r.backend, d->backend) &&
            !strcmp(r.driver, d->driver) && !strcmp(r.medkern_version, mk_version()) && r.copy_gbs > 0 &&
            r.gemm_f16_gflops > 0) {
            c->bandwidth_gbs = r.copy_gbs;
            c->compute_gflops = r.gemm_f16_gflops;
            snprintf(c->source, sizeof c->source, "calibration");
            snprintf(c->calibration_file, sizeof c->calibration_file, "%s", path);
            return;
        }
        if (st != MKCAL_MISSING) snprintf(note, n, "calibration cache %s not used (%s)", path,
                                          st == MKCAL_OK ? "another device, driver or medkern version" : why);
    }
    if (d->peak_bandwidth_gbs > 0 || d->peak_tflops_f16 > 0) {
        c->bandwidth_gbs = d->peak_bandwidth_gbs;
        c->compute_gflops = d->peak_tflops_f16 * 1e3;
        snprintf(c->source, sizeof c->source, "device-info");
        return;
    }
    snprintf(c->source, sizeof c->source, "none");
}

/* The default device memory budget: 90% of a GPU's memory; for devices that use host
   memory, half the host's memory (and at most what the device reports). */
static double default_budget(const mk_device_info *d) {
    if (d->type == MK_DEVICE_GPU || d->type == MK_DEVICE_ACCELERATOR)
        return d->memory_bytes ? 0.9 * (double)d->memory_bytes : 4.0 * 1073741824.0;
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    double host = pages > 0 && page > 0 ? (double)pages * (double)page / 2 : 4.0 * 1073741824.0;
    return d->memory_bytes && (double)d->memory_bytes < host ? 0.9 * (double)d->memory_bytes : host;
}

/* ---- warnings */

typedef struct {
    char text[16][512];
    const char *ptr[16];
    int n;
} warnings;

static void warn(warnings *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(warnings *w, const char *fmt, ...) {
    if (w->n >= 16) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->text[w->n], sizeof w->text[w->n], fmt, ap);
    va_end(ap);
    w->ptr[w->n] = w->text[w->n];
    w->n++;
}

static void iso_date(char *out, size_t n) {
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- the device: the one asked for, or the best available that has a kernel for every
   op of the plan */

/* 1 when the backend registers a variant of every op the plan calls; else 0 and the first
   op it lacks in missing */
static int backend_covers(const mkp_plan *p, const char *backend, char *missing, size_t n) {
    for (int ph = 0; ph < MKP_PHASES; ph++)
        for (int i = 0; i < p->nsteps[ph]; i++) {
            mk_op op;
            mk_kernel_info list[128];
            int count = 0, found = 0;
            if (mk_op_from_name(p->steps[ph][i].op, &op) != MK_OK ||
                mk_kernel_list(op, list, 128, &count) != MK_OK)
                continue;
            for (int k = 0; k < count && k < 128; k++) found |= !strcmp(list[k].backend, backend);
            if (!found) {
                snprintf(missing, n, "%s", p->steps[ph][i].op);
                return 0;
            }
        }
    return 1;
}

/* 0, or -1 (unknown device: a message printed). An explicit device is used as is (an op
   without a kernel then fails with the dispatcher's reason). */
static int pick_device(const char *asked, const mkp_plan *p, mk_device_info *d, warnings *w) {
    int idx;
    if (asked && strcmp(asked, "auto")) {
        if (mk_device_find(asked, &idx) != MK_OK || mk_device_get_info(idx, d) != MK_OK) {
            fprintf(stderr, ME ": unknown device \"%s\" (medkern info lists them)\n", asked);
            return -1;
        }
        return 0;
    }
    if (mk_device_find("auto", &idx) != MK_OK || mk_device_get_info(idx, d) != MK_OK) {
        fprintf(stderr, ME ": no device found\n");
        return -1;
    }
    char missing[32];
    if (backend_covers(p, d->backend, missing, sizeof missing)) return 0;
    mk_device_info best = *d, cand;
    int n = 0, found = -1, rank = -1;
    mk_device_count(&n);
    /* the runtime's "auto" order (mk_device_auto_rank), among the devices that cover the plan */
    for (int i = 0; i < n; i++) {
        char m[32];
        int r = -1;
        if (mk_device_auto_rank(i, &r) != MK_OK || r < 0 || r <= rank || mk_device_get_info(i, &cand) != MK_OK)
            continue;
        if (!backend_covers(p, cand.backend, m, sizeof m)) continue;
        rank = r, found = i;
    }
    if (found < 0) return 0; /* none covers it: the best one, and its error */
    mk_device_get_info(found, d);
    warn(w, "%s, the best device, has no %s kernel yet: profiled on %s, the best device that runs every op",
         best.id, missing, d->id);
    return 0;
}

/* ---- the run */

static int profile(const options *o) {
    char err[1024];
    mkm_config *model = calloc(1, sizeof *model);
    mkp_plan *plan = calloc(1, sizeof *plan);
    mkp_run_result *run = calloc(1, sizeof *run);
    int *layers = calloc(MKM_MAX_LAYERS, sizeof *layers);
    mk_context *ctx = NULL;
    cJSON *report = NULL;
    warnings w = {0};
    int rc = MK_EXIT_FAIL, nrun = 0;
    mkp_validation val;
    if (!model || !plan || !run || !layers) {
        fprintf(stderr, ME ": out of memory\n");
        goto done;
    }
    mk_device_info d;
    const int show = !o->quiet && isatty(2);
    if (o->validate) {
        /* the validation model's plan, to pick the device by the ops it calls */
        mkp_validate_model(o->set.prompt + o->set.gen, model);
        mkp_settings vs = {MKP_W_F32, MKP_KV_F32, o->set.batch, o->set.prompt, o->set.gen, 16};
        if (mkp_build(model, &vs, plan, err, sizeof err) != 0) {
            fprintf(stderr, ME ": --validate: %s\n", err);
            rc = MK_EXIT_USAGE;
            goto done;
        }
        if (pick_device(o->device, plan, &d, &w) != 0) {
            rc = MK_EXIT_USAGE;
            goto done;
        }
        if (mk_context_create(d.id, &ctx) != MK_OK) {
            fprintf(stderr, ME ": cannot open %s: %s\n", d.id, mk_last_error());
            goto done;
        }
        mk_status s = mkp_validate(ctx, o->set.batch, o->set.prompt, o->set.gen, o->seed, o->warmup && strcmp(d.backend, "ref"),
                                      plan, run, layers, &val, err, sizeof err);
        if (s != MK_OK) {
            fprintf(stderr, ME ": --validate on %s: %s\n", d.id, err);
            rc = s == MK_ERR_INVALID_ARGUMENT ? MK_EXIT_USAGE : MK_EXIT_FAIL;
            goto done;
        }
        nrun = plan->model.layers;
        *model = plan->model;
    } else {
        mkm_status ms;
        if (o->config) ms = mkm_load_file(o->config, model, err, sizeof err);
        else if (mkm_load_preset(o->model, model, err, sizeof err) == MKM_OK) ms = MKM_OK;
        else if (strstr(o->model, ".json") || access(o->model, F_OK) == 0) ms = mkm_load_file(o->model, model, err, sizeof err);
        else ms = MKM_ERR_NOT_FOUND;
        if (ms != MKM_OK) {
            fprintf(stderr, ME ": %s\n", err);
            rc = MK_EXIT_USAGE;
            goto done;
        }
        if (mkp_build(model, &o->set, plan, err, sizeof err) != 0) {
            fprintf(stderr, ME ": %s: %s\n", model->name, err);
            rc = MK_EXIT_USAGE;
            goto done;
        }
        if (pick_device(o->device, plan, &d, &w) != 0) {
            rc = MK_EXIT_USAGE;
            goto done;
        }
        /* how many layers: asked for, else as many as the budget holds */
        const double budget = o->max_memory > 0 ? o->max_memory : default_budget(&d);
        const int kinds = (plan->kind_layers[0] > 0) + (plan->kind_layers[1] > 0);
        if (o->layers > model->layers) {
            fprintf(stderr, ME ": --layers %d exceeds the %d layers of %s\n", o->layers, model->layers, model->name);
            rc = MK_EXIT_USAGE;
            goto done;
        }
        if (o->layers && o->layers < kinds) {
            fprintf(stderr, ME ": --layers %d: %s has local (sliding-window) and global layers; run at least one of each (--layers 2)\n",
                    o->layers, model->name);
            rc = MK_EXIT_USAGE;
            goto done;
        }
        nrun = o->layers;
        if (!nrun) {
            nrun = model->layers;
            while (nrun > kinds && mkp_device_bytes(plan, nrun) > budget) nrun--;
        }
        if (mkp_device_bytes(plan, nrun) > budget) {
            fprintf(stderr, ME ": %s does not fit %s: %d layer%s need %.2f GiB, the budget is %.2f GiB "
                            "(--max-memory; fewer --layers, a smaller --batch/--prompt or --weights w4g128)\n",
                    model->name, d.id, nrun, nrun == 1 ? "" : "s", mkp_device_bytes(plan, nrun) / 1073741824.0,
                    budget / 1073741824.0);
            goto done;
        }
        if (mkp_choose_layers(plan, nrun, layers) != 0) {
            fprintf(stderr, ME ": internal error choosing %d layers\n", nrun);
            goto done;
        }
        if (mk_context_create(d.id, &ctx) != MK_OK) {
            fprintf(stderr, ME ": cannot open %s: %s\n", d.id, mk_last_error());
            goto done;
        }
        mkp_run_args ra = {plan, nrun, layers, o->seed, o->warmup && strcmp(d.backend, "ref") != 0,
                              NULL, NULL, NULL, NULL, show ? progress : NULL, NULL};
        mk_status s = mkp_run(ctx, &ra, run, err, sizeof err);
        if (show) fprintf(stderr, "\r\033[K");
        if (s != MK_OK) {
            fprintf(stderr, ME ": %s on %s: %s\n", model->name, d.id, err);
            goto done;
        }
    }

    /* warnings */
    const long long ctx_len = (long long)o->set.prompt + o->set.gen;
    if (ctx_len > model->max_positions)
        warn(&w, "prompt %d + gen %d exceeds max positions %d of %s", o->set.prompt, o->set.gen, model->max_positions,
             model->name);
    if (nrun < model->layers) {
        char list[256] = "";
        for (int i = 0; i < nrun; i++) {
            size_t used = strlen(list);
            if (used + 8 >= sizeof list) {
                snprintf(list + used, sizeof list - used, " ...");
                break;
            }
            snprintf(list + used, sizeof list - used, "%s%d", i ? "," : "", layers[i]);
        }
        warn(&w, "profiled %d of %d layers (%s%s): per-layer times scaled to all %d layers%s", nrun, model->layers,
             o->layers ? "--layers; layers " : "device memory budget; layers ", list, model->layers,
             plan->kinds == 3 ? " kind by kind (local, global)" : "");
    }
    if (model->defaulted[0]) warn(&w, "%s: keys absent, transformers' defaults taken: %s", model->name, model->defaulted);
    if (model->notes[0]) warn(&w, "%s: %s", model->name, model->notes);
    mkp_ceilings ceil;
    char note[1024];
    find_ceilings(&d, &ceil, note, sizeof note);
    if (note[0]) warn(&w, "%s", note);
    if (!strcmp(ceil.source, "none"))
        warn(&w, "no ceilings for %s: run `medkern calibrate --device %s` for the roofline columns", d.id, d.id);
    if (run->nonfinite_logits) warn(&w, "%d logits are not finite (random weights overflowed?)", run->nonfinite_logits);
    if (!strcmp(d.backend, "ref")) warn(&w, "device ref is the scalar reference (double accumulation): its times are not a kernel's");

    char date[32];
    iso_date(date, sizeof date);
    mkp_report_in in = {plan, run, nrun, layers, &d, &ceil, o->validate ? &val : NULL, w.ptr, w.n,
                           mk_version(), MEDKERN_GIT_COMMIT, date, o->seed};
    report = mkp_report_build(&in);
    if (!report) {
        fprintf(stderr, ME ": out of memory building the report\n");
        goto done;
    }
    fprintf(stderr, ME ": wall time (host clock, %d of %d layers): setup %.2f s, prefill %.1f ms", nrun,
            model->layers, run->setup_s, run->wall_ms[MKP_PREFILL]);
    if (o->set.gen > 0)
        fprintf(stderr, ", %d decode step%s %.1f ms", o->set.gen, o->set.gen == 1 ? "" : "s", run->wall_ms[MKP_DECODE]);
    fprintf(stderr, "\n");
    if (render(report, o) != 0) goto done;
    rc = MK_EXIT_OK;
    if (o->validate && !val.passed) {
        fprintf(stderr, ME ": --validate on %s FAILED: logits rel L2 error %.3g (max abs %.3g) > tolerance %.1g\n", d.id,
                val.rel_error, val.max_abs_error, val.tolerance);
        rc = MK_EXIT_FAIL;
    } else if (o->validate) {
        fprintf(stderr, ME ": --validate on %s passed: logits rel L2 error %.3g (max abs %.3g) <= %.1g\n", d.id,
                val.rel_error, val.max_abs_error, val.tolerance);
    }
done:
    cJSON_Delete(report);
    mk_context_destroy(ctx);
    free(model), free(plan), free(run), free(layers);
    return rc;
}

int cmd_profile(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        usage();
        return MK_EXIT_OK;
    }
    options o;
    memset(&o, 0, sizeof o);
    o.warmup = 1;
    o.seed = 1;
    o.set = (mkp_settings){MKP_W_F16, MKP_KV_F16, 1, 128, 32, 16};
    if (!parse_args(argc, argv, &o)) return MK_EXIT_USAGE;
    const int modes = (o.list != 0) + (o.validate != 0) + (o.from_json != NULL) + (o.model || o.config);
    if (modes != 1 || (o.model && o.config)) {
        fprintf(stderr, ME ": %s (medkern profile --help)\n",
                modes == 0 ? "name a model (a preset or a config.json), or --list, --validate or --from-json"
                           : "--list, --validate, --from-json and a model exclude each other");
        return MK_EXIT_USAGE;
    }
    if (o.list) return list_presets(o.out == OUT_JSON);
    if (o.from_json) {
        char err[700];
        cJSON *r = mkp_report_load(o.from_json, err, sizeof err);
        if (!r) {
            fprintf(stderr, ME ": %s\n", err);
            return MK_EXIT_USAGE;
        }
        int rc = render(r, &o) == 0 ? MK_EXIT_OK : MK_EXIT_FAIL;
        cJSON_Delete(r);
        return rc;
    }
    if (o.validate) {
        /* --validate's own small configuration: a short prompt and a few decode steps */
        for (int i = 1; i < argc; i++) {
            static const char *const fixed[] = {"--weights", "--kv", "--layers", "--max-memory", "--config"};
            for (size_t j = 0; j < sizeof fixed / sizeof fixed[0]; j++)
                if (!strncmp(argv[i], fixed[j], strlen(fixed[j]))) {
                    fprintf(stderr, ME ": --validate runs its own model with f32 weights and cache; %s does not apply\n",
                            fixed[j]);
                    return MK_EXIT_USAGE;
                }
        }
        int given_prompt = 0, given_gen = 0, given_batch = 0;
        for (int i = 1; i < argc; i++) {
            given_prompt |= !strncmp(argv[i], "--prompt", 8);
            given_gen |= !strncmp(argv[i], "--gen", 5);
            given_batch |= !strncmp(argv[i], "--batch", 7);
        }
        if (!given_prompt) o.set.prompt = 7;
        if (!given_gen) o.set.gen = 4;
        if (!given_batch) o.set.batch = 2;
        if (o.set.prompt + o.set.gen > 4096) {
            fprintf(stderr, ME ": --validate runs the reference model: prompt + gen must be at most 4096\n");
            return MK_EXIT_USAGE;
        }
    }
    return profile(&o);
}
