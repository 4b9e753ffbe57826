/*
 * The report of `medkern profile` (tools/medkern/profile_report.c) from a plan and
 * synthetic measured times: the scaling of a layer subset to the whole model (kind by
 * kind for Gemma 3), shares, achieved rates, the roofline columns, the summary
 * (TTFT, TPOT, tokens/s, MBU, MFU), nulls where a value does not apply, and the loader
 * of saved reports (--from-json).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mktest.h"
#include "model_config.h"
#include "profile_plan.h"
#include "profile_report.h"

static mkp_plan plan;
static mkp_run_result run;

static const mk_device_info dev = {.id = "opencl:0", .backend = "opencl", .name = "test device"};

static void build(const char *preset, int B, int P, int G) {
    mkm_config c;
    char err[512];
    MKT_CHECK(mkm_load_preset(preset, &c, err, sizeof err) == MKM_OK, "%s: %s", preset, err);
    mkp_settings s = {MKP_W_F16, MKP_KV_F16, B, P, G, 16};
    MKT_CHECK(mkp_build(&c, &s, &plan, err, sizeof err) == 0, "%s: %s", preset, err);
}

static double num(const cJSON *o, const char *key) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(it) ? it->valuedouble : NAN;
}

static int is_null(const cJSON *o, const char *key) {
    return cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, key));
}

static const cJSON *kernel(const cJSON *r, const char *phase, const char *step) {
    const cJSON *k;
    cJSON_ArrayForEach(k, cJSON_GetObjectItemCaseSensitive(r, "kernels")) {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(k, "phase"), *s = cJSON_GetObjectItemCaseSensitive(k, "step");
        if (!strcmp(p->valuestring, phase) && !strcmp(s->valuestring, step)) return k;
    }
    return NULL;
}

static int close_to(double a, double b) { return fabs(a - b) <= 1e-12 * fabs(b); }

static void llama_subset(void) {
    /* meditron-7b, 2 of 32 layers measured: step i took (i + 1) ms in each phase over the
       two run layers (every decode step included) */
    build("meditron-7b", 1, 4, 2);
    memset(&run, 0, sizeof run);
    run.runs[MKP_KIND_GLOBAL] = 2;
    for (int ph = 0; ph < MKP_PHASES; ph++)
        for (int i = 0; i < plan.nsteps[ph]; i++) {
            run.time_ms[ph][i][MKP_KIND_GLOBAL] = i + 1;
            snprintf(run.variant[ph][i], sizeof run.variant[ph][i], "test.v%d", i);
        }
    const int layers[2] = {0, 1};
    mkp_ceilings ceil = {100.0, 1000.0, "calibration", "/tmp/cal.json"};
    mkp_validation val = {1e-7, 2e-8, 2e-5, 1};
    const char *warn[1] = {"a warning"};
    mkp_report_in in = {&plan, &run, 2, layers, &dev, &ceil, &val, warn, 1, "0.1.0", "abc123",
                           "2026-11-24T12:00:00Z", 7};
    cJSON *r = mkp_report_build(&in);
    MKT_CHECK(r != NULL, "report");
    if (!r) return;
    MKT_CHECK(!strcmp(cJSON_GetObjectItemCaseSensitive(r, "schema")->valuestring, MKP_SCHEMA), "schema");
    const cJSON *se = cJSON_GetObjectItemCaseSensitive(r, "settings");
    MKT_CHECK(num(se, "layers_run") == 2 && num(se, "layers_total") == 32 &&
                  cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(se, "scaled")) && num(se, "seed") == 7,
              "settings: layers and scaled");
    MKT_CHECK(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r, "kernels")) ==
                  plan.nsteps[MKP_PREFILL] + plan.nsteps[MKP_DECODE],
              "one row per (phase, step)");
    double ttft = 0, dec = 0, share = 0;
    for (int ph = 0; ph < MKP_PHASES; ph++)
        for (int i = 0; i < plan.nsteps[ph]; i++) {
            const mkp_step *st = &plan.steps[ph][i];
            const cJSON *k = kernel(r, ph ? "decode" : "prefill", st->name);
            MKT_CHECK(k != NULL, "no row for %s", st->name);
            if (!k) continue;
            /* per-layer steps: measured over 2 layers, scaled to 32; once-a-pass steps as is */
            const double t = st->per_layer ? (i + 1) * 32.0 / 2 : i + 1;
            MKT_CHECK(num(k, "time_ms") == t, "%s: time %g, want %g", st->name, num(k, "time_ms"), t);
            MKT_CHECK(num(k, "calls") == st->calls && num(k, "flops") == st->flops && num(k, "bytes") == st->bytes,
                      "%s: counts from the plan", st->name);
            MKT_CHECK(close_to(num(k, "gbs"), st->bytes / (t * 1e-3) / 1e9), "%s: GB/s", st->name);
            MKT_CHECK(close_to(num(k, "gflops"), st->flops / (t * 1e-3) / 1e9) || (st->flops == 0 && num(k, "gflops") == 0),
                      "%s: GFLOP/s", st->name);
            const double mem = st->bytes / 100e9 * 1e3, cmp = st->flops / 1000e9 * 1e3;
            MKT_CHECK(close_to(num(k, "predicted_ms"), fmax(mem, cmp)), "%s: predicted %g", st->name,
                      num(k, "predicted_ms"));
            MKT_CHECK(!strcmp(cJSON_GetObjectItemCaseSensitive(k, "bound")->valuestring, cmp > mem ? "compute" : "memory"),
                      "%s: bound", st->name);
            MKT_CHECK(close_to(num(k, "ceiling_fraction"), fmax(mem, cmp) / t), "%s: ceiling fraction", st->name);
            char want[32];
            snprintf(want, sizeof want, "test.v%d", i);
            MKT_CHECK(!strcmp(cJSON_GetObjectItemCaseSensitive(k, "variant")->valuestring, want), "%s: variant", st->name);
            if (ph == MKP_PREFILL) ttft += t, share += num(k, "share");
            else dec += t;
        }
    MKT_CHECK(fabs(share - 1) < 1e-12, "prefill shares sum to %g", share);
    const cJSON *su = cJSON_GetObjectItemCaseSensitive(r, "summary");
    MKT_CHECK(close_to(num(su, "ttft_ms"), ttft), "ttft %g, want %g", num(su, "ttft_ms"), ttft);
    MKT_CHECK(close_to(num(su, "prefill_tokens_per_s"), 4 / (ttft * 1e-3)), "prefill tokens/s");
    MKT_CHECK(close_to(num(su, "tpot_ms"), dec / 2), "tpot %g, want %g", num(su, "tpot_ms"), dec / 2);
    MKT_CHECK(close_to(num(su, "decode_tokens_per_s"), 1 / (dec / 2 * 1e-3)), "decode tokens/s");
    MKT_CHECK(close_to(num(su, "mbu"), mkp_phase_bytes(&plan, MKP_DECODE) / (dec * 1e-3) / 100e9), "mbu");
    MKT_CHECK(close_to(num(su, "mfu"), mkp_phase_flops(&plan, MKP_PREFILL) / (ttft * 1e-3) / 1000e9), "mfu");
    const cJSON *me = cJSON_GetObjectItemCaseSensitive(su, "memory");
    MKT_CHECK(num(me, "weights_bytes") == plan.weight_bytes && num(me, "kv_cache_bytes") == plan.kv_bytes &&
                  num(me, "total_bytes") == plan.weight_bytes + plan.kv_bytes + plan.activation_bytes,
              "memory");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r, "validation");
    MKT_CHECK(num(v, "rel_error") == 2e-8 && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(v, "passed")), "validation");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(r, "model");
    MKT_CHECK(num(m, "parameters") == plan.parameters && is_null(m, "config_path") && is_null(m, "sliding_window") &&
                  !strcmp(cJSON_GetObjectItemCaseSensitive(m, "hf_id")->valuestring, "epfl-llm/meditron-7b"),
              "model block");

    /* the loader: the report round-trips; another schema, bad JSON and no file fail */
    char path[] = "/tmp/mkprofXXXXXX";
    int fd = mkstemp(path);
    char *text = cJSON_Print(r);
    MKT_CHECK(fd >= 0 && text && write(fd, text, strlen(text)) == (ssize_t)strlen(text), "writing %s", path);
    if (fd >= 0) close(fd);
    char err[700];
    cJSON *back = mkp_report_load(path, err, sizeof err);
    MKT_CHECK(back && cJSON_Compare(back, r, 1), "the saved report does not load back equal: %s", err);
    cJSON_Delete(back);
    FILE *f = fopen(path, "w");
    if (f) fputs("{\"schema\": \"medkern-profile/2\"}", f), fclose(f);
    MKT_CHECK(!mkp_report_load(path, err, sizeof err) && strstr(err, "not a medkern profile report"), "other schema: %s", err);
    f = fopen(path, "w");
    if (f) fputs("{\"schema\": \"medkern-profile/1\", ", f), fclose(f);
    MKT_CHECK(!mkp_report_load(path, err, sizeof err) && strstr(err, "not valid JSON"), "bad JSON: %s", err);
    unlink(path);
    MKT_CHECK(!mkp_report_load(path, err, sizeof err) && strstr(err, "cannot open"), "no file: %s", err);
    cJSON_free(text);
    cJSON_Delete(r);

    /* no ceilings, no decode: the roofline and decode columns are null, never NaN */
    build("meditron-7b", 1, 4, 0);
    mkp_ceilings none = {0, 0, "none", ""};
    in.ceilings = &none;
    in.validation = NULL;
    in.layers_run = 2;
    r = mkp_report_build(&in);
    su = cJSON_GetObjectItemCaseSensitive(r, "summary");
    MKT_CHECK(is_null(su, "tpot_ms") && is_null(su, "decode_tokens_per_s") && is_null(su, "mbu") && is_null(su, "mfu"),
              "no decode, no ceilings: nulls in the summary");
    const cJSON *k = kernel(r, "prefill", "attn.qkv_proj");
    MKT_CHECK(k && is_null(k, "predicted_ms") && is_null(k, "bound") && is_null(k, "ceiling_fraction") &&
                  num(k, "time_ms") > 0,
              "no ceilings: null roofline columns");
    MKT_CHECK(!kernel(r, "decode", "attn.qkv_proj"), "gen 0: no decode rows");
    const cJSON *ce = cJSON_GetObjectItemCaseSensitive(r, "ceilings");
    MKT_CHECK(is_null(ce, "bandwidth_gbs") && is_null(ce, "calibration_file") && is_null(r, "validation"), "null ceilings");
    char *s = cJSON_PrintUnformatted(r);
    MKT_CHECK(s && !strstr(s, "nan") && !strstr(s, "inf"), "the report holds no NaN or Inf");
    cJSON_free(s);
    cJSON_Delete(r);
}

static void gemma3_kinds(void) {
    /* medgemma-4b-it with one local (layer 0) and one global (layer 5) layer run: a step
       of both kinds scales each kind on its own: 2 ms x 29 local + 1 ms x 5 global = 63 ms;
       local attention only 2 x 29 = 58 ms, global attention 1 x 5 = 5 ms */
    build("medgemma-4b-it", 1, 4, 1);
    memset(&run, 0, sizeof run);
    run.runs[MKP_KIND_GLOBAL] = 1;
    run.runs[MKP_KIND_LOCAL] = 1;
    for (int i = 0; i < plan.nsteps[MKP_PREFILL]; i++) {
        run.time_ms[MKP_PREFILL][i][MKP_KIND_GLOBAL] = 1;
        run.time_ms[MKP_PREFILL][i][MKP_KIND_LOCAL] = 2;
    }
    for (int i = 0; i < plan.nsteps[MKP_PREFILL]; i++) {
        const mkp_step *st = &plan.steps[MKP_PREFILL][i];
        double want = !st->per_layer ? 1 : st->kinds == 3 ? 63 : st->kinds == (1u << MKP_KIND_LOCAL) ? 58 : 5;
        MKT_CHECK(mkp_step_time_ms(&plan, &run, MKP_PREFILL, i) == want, "%s: %g, want %g", st->name,
                  mkp_step_time_ms(&plan, &run, MKP_PREFILL, i), want);
    }
    MKT_CHECK(mkp_find(&plan, MKP_PREFILL, "attn.attention_local")->kinds == (1u << MKP_KIND_LOCAL),
              "local attention runs in local layers only");
}

int main(int argc, char **argv) {
    mkt_init(argc, argv, "profile_report");
    llama_subset();
    gemma3_kinds();
    return mkt_finish();
}
