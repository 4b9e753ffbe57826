/*
 * medkern tune: searches a device's kernel parameters (tile and work-group sizes) on
 * representative workloads and writes the device's tuning file, which every later
 * context on that device reads (the dispatcher's variants ask for their parameters).
 *
 * Per workload, first the variant: every variant of the device's backend for the
 * workload's op is forced in turn (mk_set_kernel) and timed; those whose supports()
 * rejects the call are skipped. When two or more ran, the fastest (the dispatcher's own
 * choice unless another is more than 3% faster) is written to the file's "variants"
 * object under the workload's key: the op name, or "<op>:m<=8" for the M = 1 GEMV
 * workloads (the shape class the backend applies to calls of at most 8 rows; see
 * runtime/backends/opencl/ocl_tuning.c). The dispatcher then prefers it (after a forced
 * variant, before the priority order).
 *
 * Then the parameters, with that variant forced: coordinate descent, one parameter at a
 * time, over {v/4, v/2, v, 2v, 4v} around the current value; each candidate is timed with
 * device events (best of 3 after a warm-up that also compiles it). A candidate (variant
 * or parameter value) whose output differs from the output of the dispatcher's starting
 * choice (relative l2 > 1e-3 on f16 outputs) is rejected and reported: that is a kernel
 * bug, not a tuning choice.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "timing.h"
#include "mkref.h"

typedef struct {
    mk_context *ctx;
    mk_tensor in[4];
    int nin;
    mk_tensor out;
    mk_kv_cache *cache;
    mk_qweight *qw;
    mk_tensor bt, lens;
} workload;

typedef struct {
    const char *group; /* parameter group in the tuning file */
    const char *what;
    int gemv;          /* tunes the gemv_* parameters of the group, else the others */
    mk_op op;          /* the op the workload runs                          */
    const char *key;   /* its entry in the tuning file's "variants" object */
    mk_status (*setup)(workload *w, mkref_rng *r);
    mk_status (*run)(void *w);
} tune_case;

/* ---- inputs */

static mk_status upload(workload *w, mk_dtype t, int ndim, const int64_t *shape, mkref_rng *r,
                        mk_tensor *out) {
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    size_t bytes = n * mk_dtype_size(t);
    uint8_t *host = malloc(bytes);
    if (!host) return MK_ERR_OUT_OF_MEMORY;
    for (size_t i = 0; i < n; i++) mkref_store(t, host, (int64_t)i, (float)(mkref_rng_normal(r) * 0.5));
    mk_buffer *b = NULL;
    mk_status s = mk_buffer_alloc(w->ctx, bytes, &b);
    if (s == MK_OK) s = mk_buffer_write(b, 0, host, bytes);
    free(host);
    if (s != MK_OK) {
        mk_buffer_free(b);
        return s;
    }
    *out = mk_tensor_make(b, 0, t, ndim, shape);
    return MK_OK;
}

static mk_status output(workload *w, int ndim, const int64_t *shape) {
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    mk_buffer *b = NULL;
    mk_status s = mk_buffer_alloc(w->ctx, n * 2, &b);
    if (s == MK_OK) w->out = mk_tensor_make(b, 0, MK_F16, ndim, shape);
    return s;
}

#define TRY(x) do { mk_status s_ = (x); if (s_ != MK_OK) return s_; } while (0)

/* ---- workloads */

static mk_status setup_gemm(workload *w, mkref_rng *r) {
    TRY(upload(w, MK_F16, 2, (int64_t[]){256, 512}, r, &w->in[0]));
    TRY(upload(w, MK_F16, 2, (int64_t[]){384, 512}, r, &w->in[1]));
    w->nin = 2;
    return output(w, 2, (int64_t[]){256, 384});
}

static mk_status setup_gemv(workload *w, mkref_rng *r) {
    TRY(upload(w, MK_F16, 2, (int64_t[]){1, 4096}, r, &w->in[0]));
    TRY(upload(w, MK_F16, 2, (int64_t[]){2048, 4096}, r, &w->in[1]));
    w->nin = 2;
    return output(w, 2, (int64_t[]){1, 2048});
}

static mk_status run_gemm(void *arg) {
    workload *w = arg; return mk_gemm(w->ctx, &w->in[0], &w->in[1], NULL, &w->out); }

static mk_status setup_rows(workload *w, mkref_rng *r) {
    TRY(upload(w, MK_F16, 2, (int64_t[]){64, 4096}, r, &w->in[0]));
    TRY(upload(w, MK_F16, 1, (int64_t[]){4096}, r, &w->in[1]));
    TRY(upload(w, MK_F16, 2, (int64_t[]){64, 4096}, r, &w->in[2]));
    w->nin = 3;
    return output(w, 2, (int64_t[]){64, 4096});
}

static mk_status run_norm(void *arg) {
    workload *w = arg; return mk_rmsnorm(w->ctx, &w->in[0], &w->in[1], 1e-5f, 0, &w->out); }
static mk_status run_silu(void *arg) {
    workload *w = arg; return mk_silu_mul(w->ctx, &w->in[0], &w->in[2], &w->out); }

static mk_status setup_qgemv(workload *w, mkref_rng *r) {
    mk_qweight_desc d = {MK_QW4, 2048, 4096, 32, 0};
    float *wf = malloc((size_t)d.n * (size_t)d.k * sizeof *wf);
    mk_qweight_data data;
    if (!wf) return MK_ERR_OUT_OF_MEMORY;
    for (int64_t i = 0; i < d.n * d.k; i++) wf[i] = (float)mkref_rng_normal(r);
    mk_status s = mk_qweight_data_alloc(&d, 0, 0, &data);
    if (s == MK_OK) {
        mkref_qweight_quantize(&d, wf, &data);
        s = mk_qweight_create(w->ctx, &d, &data, &w->qw);
        mk_qweight_data_free(&data);
    }
    free(wf);
    TRY(s);
    TRY(upload(w, MK_F16, 2, (int64_t[]){1, 4096}, r, &w->in[0]));
    w->nin = 1;
    return output(w, 2, (int64_t[]){1, 2048});
}

static mk_status run_qgemm(void *arg) {
    workload *w = arg; return mk_qgemm(w->ctx, &w->in[0], w->qw, NULL, &w->out); }

enum { DEC_B = 2, DEC_H = 8, DEC_D = 128, DEC_CTX = 2048, DEC_BS = 16 };

static mk_status setup_decode(workload *w, mkref_rng *r) {
    int blocks = DEC_CTX / DEC_BS;
    mk_kv_cache_desc cd = {DEC_B * blocks, DEC_BS, DEC_H, DEC_D, MK_F16};
    TRY(mk_kv_cache_create(w->ctx, &cd, &w->cache));
    int64_t T = (int64_t)DEC_B * DEC_CTX;
    mk_tensor k, v, slots;
    int32_t *host = malloc((size_t)T * sizeof *host);
    if (!host) return MK_ERR_OUT_OF_MEMORY;
    for (int64_t i = 0; i < T; i++) host[i] = (int32_t)i;
    mk_status s = upload(w, MK_F16, 3, (int64_t[]){T, DEC_H, DEC_D}, r, &k);
    if (s == MK_OK) s = upload(w, MK_F16, 3, (int64_t[]){T, DEC_H, DEC_D}, r, &v);
    mk_buffer *sb = NULL;
    if (s == MK_OK) s = mk_buffer_alloc(w->ctx, (size_t)T * 4, &sb);
    if (s == MK_OK) s = mk_buffer_write(sb, 0, host, (size_t)T * 4);
    if (s == MK_OK) {
        slots = mk_tensor_make(sb, 0, MK_I32, 1, (int64_t[]){T});
        s = mk_kv_cache_append(w->ctx, w->cache, &k, &v, &slots);
    }
    mk_buffer_free(k.buf), mk_buffer_free(v.buf), mk_buffer_free(sb);
    /* block table: sequence b owns blocks b*blocks .. (b+1)*blocks-1; lens = DEC_CTX */
    for (int b = 0; b < DEC_B; b++)
        for (int j = 0; j < blocks; j++) host[b * blocks + j] = b * blocks + j;
    mk_buffer *bb = NULL, *lb = NULL;
    int32_t lens[DEC_B];
    for (int b = 0; b < DEC_B; b++) lens[b] = DEC_CTX;
    if (s == MK_OK) s = mk_buffer_alloc(w->ctx, (size_t)DEC_B * blocks * 4, &bb);
    if (s == MK_OK) s = mk_buffer_write(bb, 0, host, (size_t)DEC_B * blocks * 4);
    if (s == MK_OK) s = mk_buffer_alloc(w->ctx, sizeof lens, &lb);
    if (s == MK_OK) s = mk_buffer_write(lb, 0, lens, sizeof lens);
    free(host);
    if (s != MK_OK) {
        mk_buffer_free(bb), mk_buffer_free(lb);
        return s;
    }
    w->bt = mk_tensor_make(bb, 0, MK_I32, 2, (int64_t[]){DEC_B, blocks});
    w->lens = mk_tensor_make(lb, 0, MK_I32, 1, (int64_t[]){DEC_B});
    TRY(upload(w, MK_F16, 3, (int64_t[]){DEC_B, DEC_H, DEC_D}, r, &w->in[0]));
    w->nin = 1;
    return output(w, 3, (int64_t[]){DEC_B, DEC_H, DEC_D});
}

static mk_status run_decode(void *arg) {
    workload *w = arg;
    mk_attn_params p = {0, 0, 0, 0};
    return mk_attention_decode(w->ctx, &w->in[0], w->cache, &w->bt, &w->lens, &p, &w->out);
}

static const tune_case cases[] = {
    {"gemm", "gemm f16 256x384x512 (tiled)", 0, MK_OP_GEMM, "gemm", setup_gemm, run_gemm},
    {"gemm", "gemm f16 1x2048x4096 (gemv)", 1, MK_OP_GEMM, "gemm:m<=8", setup_gemv, run_gemm},
    {"norm", "rmsnorm f16 64x4096", 0, MK_OP_RMSNORM, "rmsnorm", setup_rows, run_norm},
    {"elementwise", "silu_mul f16 64x4096", 0, MK_OP_SILU_MUL, "silu_mul", setup_rows, run_silu},
    {"qgemm", "W4 g32 GEMV 1x2048x4096", 1, MK_OP_QGEMM, "qgemm:m<=8", setup_qgemv, run_qgemm},
    {"attention_decode", "decode f16 B=2 H=8 D=128 context 2048", 0, MK_OP_ATTENTION_DECODE,
     "attention_decode", setup_decode, run_decode},
};

static void teardown(workload *w) {
    for (int i = 0; i < w->nin; i++) mk_buffer_free(w->in[i].buf);
    mk_buffer_free(w->out.buf);
    mk_buffer_free(w->bt.buf);
    mk_buffer_free(w->lens.buf);
    mk_kv_cache_destroy(w->cache);
    mk_qweight_destroy(w->qw);
    memset(w, 0, sizeof *w);
}

/* ---- measurement */

static mk_status read_out(const workload *w, float *dst) {
    size_t n = 1;
    for (int i = 0; i < w->out.ndim; i++) n *= (size_t)w->out.shape[i];
    uint16_t *h = malloc(n * 2);
    if (!h) return MK_ERR_OUT_OF_MEMORY;
    mk_status s = mk_buffer_read(w->out.buf, 0, h, n * 2);
    for (size_t i = 0; s == MK_OK && i < n; i++) dst[i] = mk_f16_to_f32(h[i]);
    free(h);
    return s;
}

static size_t out_numel(const workload *w) {
    size_t n = 1;
    for (int i = 0; i < w->out.ndim; i++) n *= (size_t)w->out.shape[i];
    return n;
}

/* Best of 3 timed runs after a warm-up; *ms < 0 and a reason when the run fails or its
   output differs from ref. */
static mk_status measure(workload *w, mk_status (*run)(void *), const float *ref, float *scratch,
                         double *ms, char *why, size_t n) {
    mk_status s = run(w);
    if (s != MK_OK) {
        snprintf(why, n, "%s", mk_last_error());
        *ms = -1;
        return MK_OK;
    }
    if (ref) {
        TRY(read_out(w, scratch));
        double num = 0, den = 0;
        for (size_t i = 0; i < out_numel(w); i++) {
            double d = (double)scratch[i] - ref[i];
            num += d * d, den += (double)ref[i] * ref[i];
        }
        double rel = den > 0 ? sqrt(num / den) : sqrt(num);
        if (!(rel <= 1e-3)) {
            snprintf(why, n, "output differs from the starting parameters' (rel l2 %.2e): kernel bug", rel);
            *ms = -1;
            return MK_OK;
        }
    }
    /* the run above was the warm-up */
    return cli_time_best(w->ctx, 3, 0, run, w, ms);
}

static int mkdirs(const char *file) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", file);
    char *slash = strrchr(dir, '/');
    if (!slash) return 1;
    *slash = 0;
    for (char *p = dir + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(dir, 0755) != 0 && errno != EEXIST) return 0;
            *p = '/';
        }
    return mkdir(dir, 0755) == 0 || errno == EEXIST;
}

/* Times every variant of ctx's backend for c->op on the workload (each forced in turn);
   returns the fastest — the dispatcher's own choice `start` unless another is more than
   3% faster — with its time in *ms (start_ms for start), and in *ran how many ran. The
   variant stays unforced. */
static const char *tune_variant(mk_context *ctx, const tune_case *c, workload *w, const float *ref,
                                float *scratch, const char *start, double start_ms, double *best_out,
                                int *ran, int *bugs) {
    mk_device_info info;
    mk_kernel_info list[64];
    int n = 0;
    const char *best = start;
    double best_ms = start_ms;
    char why[512];
    *ran = 0;
    if (mk_context_get_device(ctx, &info) != MK_OK || mk_kernel_list(c->op, list, 64, &n) != MK_OK) return start;
    for (int i = 0; i < n && i < 64; i++) {
        if (strcmp(list[i].backend, info.backend) != 0) continue;
        double ms = -1;
        if (mk_set_kernel(ctx, c->op, list[i].name) != MK_OK ||
            measure(w, c->run, ref, scratch, &ms, why, sizeof why) != MK_OK) {
            ms = -1;
            snprintf(why, sizeof why, "%s", mk_last_error());
        }
        if (ms < 0) {
            printf("  variant %-24s not used: %s\n", list[i].name, why);
            if (strstr(why, "kernel bug")) (*bugs)++;
            continue;
        }
        (*ran)++;
        printf("  variant %-24s %.3f ms%s\n", list[i].name, ms, !strcmp(list[i].name, start) ? " (starting choice)" : "");
        if (strcmp(list[i].name, start) != 0 && ms < best_ms * 0.97) best = list[i].name, best_ms = ms;
    }
    mk_set_kernel(ctx, c->op, NULL);
    *best_out = best_ms;
    return best;
}

/* Tunes the variant (recorded into variants_json[c->key] when there was a choice) and
   every parameter of one group (recorded into params_json[group]). */
static int tune_group(mk_context *ctx, const tune_case *c, const mk_param_info *params, int np,
                      cJSON *params_json, cJSON *variants_json, int *bugs) {
    workload w = {.ctx = ctx};
    mkref_rng r;
    mkref_rng_seed(&r, 7);
    mk_status s = c->setup(&w, &r);
    if (s != MK_OK) {
        fprintf(stderr, "medkern tune: %s: setup failed: %s\n", c->group, mk_last_error());
        teardown(&w);
        return 0;
    }
    size_t n = out_numel(&w);
    float *ref = malloc(n * sizeof *ref), *scratch = malloc(n * sizeof *scratch);
    char why[512];
    double base_ms = -1;
    if (!ref || !scratch || (s = c->run(&w)) != MK_OK || read_out(&w, ref) != MK_OK ||
        measure(&w, c->run, NULL, scratch, &base_ms, why, sizeof why) != MK_OK || base_ms < 0) {
        fprintf(stderr, "medkern tune: %s: the workload does not run: %s\n", c->group, mk_last_error());
        free(ref), free(scratch), teardown(&w);
        return 0;
    }
    const char *start = mk_last_kernel(ctx, c->op);
    printf("%s: %s — %.3f ms with the starting choice %s\n", c->group, c->what, base_ms, start ? start : "?");
    int ran = 0;
    double variant_ms = base_ms;
    const char *variant =
        start ? tune_variant(ctx, c, &w, ref, scratch, start, base_ms, &variant_ms, &ran, bugs) : NULL;
    cJSON_DeleteItemFromObjectCaseSensitive(variants_json, c->key);
    if (variant && ran >= 2) {
        cJSON_AddStringToObject(variants_json, c->key, variant);
        printf("  %s -> %s\n", c->key, variant);
    } else {
        printf("  %s: one variant runs here, nothing to choose\n", c->key);
    }
    if (variant) mk_set_kernel(ctx, c->op, variant); /* the parameters of the variant that will run */
    cJSON *g = cJSON_GetObjectItemCaseSensitive(params_json, c->group);
    if (!g) g = cJSON_AddObjectToObject(params_json, c->group);
    double cur_ms = variant_ms; /* the parameters must beat the chosen variant's own time */
    for (int i = 0; i < np; i++) {
        const mk_param_info *p = &params[i];
        if (strcmp(p->op, c->group) != 0 || !strcmp(p->name, "gemv_max_m")) continue; /* a threshold, not a size */
        if (!strncmp(p->name, "gemv", 4) != !!c->gemv) continue;
        int best = p->value;
        for (int f = -2; f <= 2; f++) {
            int v = f < 0 ? p->value >> -f : p->value << f;
            if (f == 0 || v < 1 || v > 1024) continue;
            double ms;
            mk_param_set(ctx, p->op, p->name, v);
            if (measure(&w, c->run, ref, scratch, &ms, why, sizeof why) != MK_OK) {
                ms = -1;
                snprintf(why, sizeof why, "%s", mk_last_error());
            }
            if (ms < 0) {
                printf("  %-14s %5d  rejected: %s\n", p->name, v, why);
                if (strstr(why, "kernel bug")) (*bugs)++;
            } else {
                printf("  %-14s %5d  %.3f ms\n", p->name, v, ms);
                if (ms < cur_ms * 0.97) cur_ms = ms, best = v; /* 3%: not noise */
            }
        }
        mk_param_set(ctx, p->op, p->name, best);
        printf("  %-14s -> %d (was %d, %s)\n", p->name, best, p->value, p->source);
        cJSON_AddNumberToObject(g, p->name, best);
    }
    printf("  %.3f ms -> %.3f ms (%.2fx)\n", base_ms, cur_ms, base_ms / cur_ms);
    mk_set_kernel(ctx, c->op, NULL);
    free(ref), free(scratch), teardown(&w);
    return 1;
}

int cmd_tune(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        printf("usage: medkern tune --device D [--op GROUP] [--output FILE] [--dry-run]\n\n"
               "Searches the device's kernel parameters (see `medkern kernels --device D`)\n"
               "on representative workloads: first the fastest kernel variant of each\n"
               "workload's op (written under \"variants\" when two or more can run), then\n"
               "its parameters one at a time, timing each candidate with device events and\n"
               "rejecting any whose output differs from the starting one. Writes the choices\n"
               "to the device's tuning file (or FILE), keeping the groups it did not tune.\n"
               "GROUP: gemm, norm, elementwise, qgemm, attention_decode. Exit 1 when a\n"
               "candidate changed the results (a kernel bug).\n");
        return MK_EXIT_OK;
    }
    const char *device = NULL, *group = NULL, *output_file = NULL;
    int bad = 0, dry = 0;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if ((v = cli_opt(argc, argv, &i, "--device", &bad))) device = v;
        else if ((v = cli_opt(argc, argv, &i, "--op", &bad))) group = v;
        else if ((v = cli_opt(argc, argv, &i, "--output", &bad))) output_file = v;
        else if (!bad && !strcmp(argv[i], "--dry-run")) dry = 1;
        else if (!bad) {
            fprintf(stderr, "medkern tune: unknown option \"%s\"\n", argv[i]);
            return MK_EXIT_USAGE;
        }
        if (bad) return MK_EXIT_USAGE;
    }
    if (!device) {
        fprintf(stderr, "medkern tune: --device is required (e.g. opencl:0)\n");
        return MK_EXIT_USAGE;
    }
    int known = !group;
    for (size_t i = 0; group && i < sizeof cases / sizeof cases[0]; i++) known |= !strcmp(group, cases[i].group);
    if (!known) {
        fprintf(stderr, "medkern tune: unknown --op \"%s\"\n", group);
        return MK_EXIT_USAGE;
    }
    mk_context *ctx = NULL;
    mk_status s = mk_context_create(device, &ctx);
    if (s != MK_OK) {
        fprintf(stderr, "medkern tune: %s\n", mk_last_error());
        return s == MK_ERR_NOT_FOUND ? MK_EXIT_USAGE : MK_EXIT_FAIL;
    }
    mk_param_info params[128];
    int np = 0;
    char path[1024] = "";
    mk_param_list(ctx, params, 128, &np);
    if (np == 0) {
        fprintf(stderr, "medkern tune: device %s has no tunable parameters\n", device);
        mk_context_destroy(ctx);
        return MK_EXIT_USAGE;
    }
    if (output_file) snprintf(path, sizeof path, "%s", output_file);
    else if (mk_tuning_file(ctx, path, sizeof path) != MK_OK) {
        fprintf(stderr, "medkern tune: %s\n", mk_last_error());
        mk_context_destroy(ctx);
        return MK_EXIT_FAIL;
    }
    mk_device_info info;
    mk_context_get_device(ctx, &info);
    /* keep what the existing file says about groups not tuned now */
    cJSON *root = NULL;
    FILE *f = fopen(path, "rb");
    if (f) {
        char *text = malloc(1 << 20);
        size_t len = text ? fread(text, 1, (1 << 20) - 1, f) : 0;
        fclose(f);
        if (text) {
            text[len] = 0;
            root = cJSON_Parse(text);
            free(text);
        }
        if (root && !cJSON_IsObject(root)) cJSON_Delete(root), root = NULL;
    }
    if (!root) root = cJSON_CreateObject();
    cJSON_DeleteItemFromObject(root, "device");
    cJSON_DeleteItemFromObject(root, "driver");
    cJSON_AddStringToObject(root, "device", info.name);
    cJSON_AddStringToObject(root, "driver", info.driver);
    cJSON *pj = cJSON_GetObjectItemCaseSensitive(root, "params");
    if (!cJSON_IsObject(pj)) {
        cJSON_DeleteItemFromObject(root, "params");
        pj = cJSON_AddObjectToObject(root, "params");
    }
    cJSON *vj = cJSON_GetObjectItemCaseSensitive(root, "variants");
    if (!cJSON_IsObject(vj)) {
        cJSON_DeleteItemFromObject(root, "variants");
        vj = cJSON_AddObjectToObject(root, "variants");
    }
    int bugs = 0, ok = 1;
    printf("tuning %s (%s)\n", info.id, info.name);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (group && strcmp(group, cases[i].group)) continue;
        if (i == 0 || strcmp(cases[i - 1].group, cases[i].group)) cJSON_DeleteItemFromObject(pj, cases[i].group);
        ok &= tune_group(ctx, &cases[i], params, np, pj, vj, &bugs);
    }
    int rc = ok && !bugs ? MK_EXIT_OK : MK_EXIT_FAIL;
    if (!dry && ok) {
        char *text = cJSON_Print(root);
        FILE *out = mkdirs(path) ? fopen(path, "wb") : NULL;
        if (!text || !out || fputs(text, out) < 0 || fclose(out) != 0) {
            fprintf(stderr, "medkern tune: cannot write %s\n", path);
            rc = MK_EXIT_FAIL;
        } else {
            printf("wrote %s\n", path);
        }
        cJSON_free(text);
    }
    if (bugs) fprintf(stderr, "medkern tune: %d candidate(s) changed the results: kernel bug(s), see above\n", bugs);
    cJSON_Delete(root);
    mk_context_destroy(ctx);
    return rc;
}
