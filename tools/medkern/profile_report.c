/* The profile report as cJSON (schema in docs/profiling.md). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profile_report.h"

/* A number, or null when it is not finite (the report never holds NaN). */
static void num(cJSON *o, const char *key, double v) {
    if (isfinite(v)) cJSON_AddNumberToObject(o, key, v);
    else cJSON_AddNullToObject(o, key);
}

static void str_or_null(cJSON *o, const char *key, const char *s) {
    if (s && s[0]) cJSON_AddStringToObject(o, key, s);
    else cJSON_AddNullToObject(o, key);
}

double mkp_step_time_ms(const mkp_plan *p, const mkp_run_result *run, mkp_phase ph, int step) {
    const mkp_step *st = &p->steps[ph][step];
    if (!st->per_layer) return run->time_ms[ph][step][0];
    double t = 0;
    for (int k = 0; k < MKP_KINDS; k++)
        if ((st->kinds & (1u << k)) && run->runs[k] > 0)
            t += run->time_ms[ph][step][k] * (double)p->kind_layers[k] / run->runs[k];
    return t;
}

static double phase_time(const mkp_plan *p, const mkp_run_result *run, mkp_phase ph) {
    double t = 0;
    for (int i = 0; i < p->nsteps[ph]; i++) t += mkp_step_time_ms(p, run, ph, i);
    return t;
}

static void add_kernels(cJSON *arr, const mkp_report_in *in, mkp_phase ph) {
    const mkp_plan *p = in->plan;
    const mkp_ceilings *c = in->ceilings;
    const double total = phase_time(p, in->run, ph);
    const int roofline = c->bandwidth_gbs > 0 && c->compute_gflops > 0;
    for (int i = 0; i < p->nsteps[ph]; i++) {
        const mkp_step *st = &p->steps[ph][i];
        const double t = mkp_step_time_ms(p, in->run, ph, i);
        cJSON *k = cJSON_CreateObject();
        if (!k) return;
        cJSON_AddItemToArray(arr, k);
        cJSON_AddStringToObject(k, "phase", ph == MKP_PREFILL ? "prefill" : "decode");
        cJSON_AddStringToObject(k, "step", st->name);
        cJSON_AddStringToObject(k, "op", st->op);
        str_or_null(k, "variant", in->run->variant[ph][i]);
        num(k, "calls", st->calls);
        num(k, "time_ms", t);
        num(k, "share", total > 0 ? t / total : NAN);
        num(k, "flops", st->flops);
        num(k, "bytes", st->bytes);
        num(k, "gbs", t > 0 ? st->bytes / t * 1e-6 : NAN);
        num(k, "gflops", t > 0 ? st->flops / t * 1e-6 : NAN);
        num(k, "intensity", st->bytes > 0 ? st->flops / st->bytes : NAN);
        double mem_ms = roofline ? st->bytes / (c->bandwidth_gbs * 1e6) : NAN;
        double cmp_ms = roofline ? st->flops / (c->compute_gflops * 1e6) : NAN;
        double pred = roofline ? fmax(mem_ms, cmp_ms) : NAN;
        num(k, "predicted_ms", pred);
        if (roofline) cJSON_AddStringToObject(k, "bound", cmp_ms > mem_ms ? "compute" : "memory");
        else cJSON_AddNullToObject(k, "bound");
        num(k, "ceiling_fraction", roofline && t > 0 ? pred / t : NAN);
    }
}

cJSON *mkp_report_build(const mkp_report_in *in) {
    const mkp_plan *p = in->plan;
    const mkm_config *m = &p->model;
    const mkp_settings *s = &p->set;
    cJSON *r = cJSON_CreateObject();
    if (!r) return NULL;
    cJSON_AddStringToObject(r, "schema", MKP_SCHEMA);
    cJSON_AddStringToObject(r, "medkern_version", in->version ? in->version : "");
    str_or_null(r, "git_commit", in->git_commit);
    str_or_null(r, "date", in->date);

    cJSON *mo = cJSON_AddObjectToObject(r, "model");
    cJSON_AddStringToObject(mo, "name", m->name);
    cJSON_AddStringToObject(mo, "source", m->source);
    str_or_null(mo, "config_path", m->config_path);
    cJSON_AddStringToObject(mo, "family", mkm_family_name(m->family));
    str_or_null(mo, "hf_id", m->hf_id);
    cJSON_AddNumberToObject(mo, "hidden_size", m->hidden);
    cJSON_AddNumberToObject(mo, "num_layers", m->layers);
    cJSON_AddNumberToObject(mo, "num_heads", m->heads);
    cJSON_AddNumberToObject(mo, "num_kv_heads", m->kv_heads);
    cJSON_AddNumberToObject(mo, "head_dim", m->head_dim);
    cJSON_AddNumberToObject(mo, "intermediate_size", m->intermediate);
    cJSON_AddNumberToObject(mo, "vocab_size", m->vocab);
    cJSON_AddNumberToObject(mo, "max_positions", m->max_positions);
    if (m->sliding_window > 0) cJSON_AddNumberToObject(mo, "sliding_window", m->sliding_window);
    else cJSON_AddNullToObject(mo, "sliding_window");
    num(mo, "parameters", p->parameters);

    const mk_device_info *d = in->device;
    cJSON *se = cJSON_AddObjectToObject(r, "settings");
    cJSON_AddStringToObject(se, "device", d->id);
    cJSON_AddStringToObject(se, "device_name", d->name);
    cJSON_AddStringToObject(se, "backend", d->backend);
    cJSON_AddStringToObject(se, "weights", mkp_weights_name(s->weights));
    cJSON_AddStringToObject(se, "kv", mkp_kv_name(s->kv));
    cJSON_AddNumberToObject(se, "batch", s->batch);
    cJSON_AddNumberToObject(se, "prompt", s->prompt);
    cJSON_AddNumberToObject(se, "gen", s->gen);
    cJSON_AddNumberToObject(se, "seed", (double)in->seed);
    cJSON_AddNumberToObject(se, "layers_run", in->layers_run);
    cJSON_AddNumberToObject(se, "layers_total", m->layers);
    cJSON_AddBoolToObject(se, "scaled", in->layers_run < m->layers);

    const mkp_ceilings *c = in->ceilings;
    cJSON *ce = cJSON_AddObjectToObject(r, "ceilings");
    num(ce, "bandwidth_gbs", c->bandwidth_gbs > 0 ? c->bandwidth_gbs : NAN);
    num(ce, "compute_gflops", c->compute_gflops > 0 ? c->compute_gflops : NAN);
    cJSON_AddStringToObject(ce, "source", c->source[0] ? c->source : "none");
    str_or_null(ce, "calibration_file", c->calibration_file);

    const double ttft = phase_time(p, in->run, MKP_PREFILL);
    const double dec = s->gen > 0 ? phase_time(p, in->run, MKP_DECODE) : NAN;
    const double tpot = s->gen > 0 ? dec / s->gen : NAN;
    cJSON *su = cJSON_AddObjectToObject(r, "summary");
    num(su, "ttft_ms", ttft);
    num(su, "prefill_tokens_per_s", ttft > 0 ? (double)s->batch * s->prompt / (ttft * 1e-3) : NAN);
    num(su, "tpot_ms", tpot);
    num(su, "decode_tokens_per_s", tpot > 0 ? (double)s->batch / (tpot * 1e-3) : NAN);
    const double dec_bytes = s->gen > 0 ? mkp_phase_bytes(p, MKP_DECODE) : NAN;
    num(su, "mbu", c->bandwidth_gbs > 0 && dec > 0 ? dec_bytes / (dec * 1e-3) / (c->bandwidth_gbs * 1e9) : NAN);
    num(su, "mfu", c->compute_gflops > 0 && ttft > 0
                       ? mkp_phase_flops(p, MKP_PREFILL) / (ttft * 1e-3) / (c->compute_gflops * 1e9)
                       : NAN);
    cJSON *me = cJSON_AddObjectToObject(su, "memory");
    num(me, "weights_bytes", p->weight_bytes);
    num(me, "kv_cache_bytes", p->kv_bytes);
    num(me, "activations_bytes", p->activation_bytes);
    num(me, "total_bytes", p->weight_bytes + p->kv_bytes + p->activation_bytes);

    cJSON *ks = cJSON_AddArrayToObject(r, "kernels");
    add_kernels(ks, in, MKP_PREFILL);
    if (s->gen > 0) add_kernels(ks, in, MKP_DECODE);

    if (in->validation) {
        cJSON *v = cJSON_AddObjectToObject(r, "validation");
        num(v, "max_abs_error", in->validation->max_abs_error);
        num(v, "rel_error", in->validation->rel_error);
        num(v, "tolerance", in->validation->tolerance);
        cJSON_AddBoolToObject(v, "passed", in->validation->passed);
    } else {
        cJSON_AddNullToObject(r, "validation");
    }
    cJSON *w = cJSON_AddArrayToObject(r, "warnings");
    for (int i = 0; w && i < in->nwarnings; i++) cJSON_AddItemToArray(w, cJSON_CreateString(in->warnings[i]));
    return r;
}

cJSON *mkp_report_load(const char *path, char *err, size_t n) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, n, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    const size_t cap = 64u << 20;
    size_t len = 0, size = 1 << 16;
    char *buf = malloc(size);
    while (buf) {
        len += fread(buf + len, 1, size - len, f);
        if (len < size || size > cap) break;
        char *bigger = realloc(buf, size * 2);
        if (!bigger) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = bigger, size *= 2;
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf || bad || len > cap) {
        free(buf);
        snprintf(err, n, "cannot read %s%s", path, len > cap ? " (larger than 64 MiB)" : "");
        return NULL;
    }
    cJSON *r = cJSON_ParseWithLength(buf, len);
    free(buf);
    if (!r) {
        snprintf(err, n, "%s is not valid JSON", path);
        return NULL;
    }
    const cJSON *schema = cJSON_GetObjectItemCaseSensitive(r, "schema");
    if (!cJSON_IsObject(r) || !cJSON_IsString(schema) || strcmp(schema->valuestring, MKP_SCHEMA)) {
        snprintf(err, n, "%s is not a medkern profile report (\"schema\" must be \"%s\")", path, MKP_SCHEMA);
        cJSON_Delete(r);
        return NULL;
    }
    return r;
}
