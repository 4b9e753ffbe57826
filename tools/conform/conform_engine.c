/*
 * The driver of the conformance suite: on one device, for every op (or the one asked
 * for), every kernel variant of the device's backend is forced in turn (mk_set_kernel)
 * and runs the op's cases; the cases a variant does not support (MK_ERR_UNSUPPORTED from
 * its supports()) are counted as skipped, not failed. An op that no variant could run is
 * reported as unsupported, with the dispatcher's reasons. Results are aggregated per
 * (op, variant): cases, passed, failed, the worst error against its bound, the first
 * failures.
 */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conform_internal.h"

#ifndef MEDKERN_GIT_COMMIT
#define MEDKERN_GIT_COMMIT "unknown"
#endif

const mkcf_suite *mkcf_suite_of(mk_op op) {
    static const mkcf_suite *const suites[MK_OP_COUNT] = {
        &mkcf_suite_prefill, &mkcf_suite_decode, &mkcf_suite_kv_append, &mkcf_suite_kv_copy,
        &mkcf_suite_qgemm, &mkcf_suite_gemm, &mkcf_suite_rmsnorm, &mkcf_suite_layernorm,
        &mkcf_suite_rope, &mkcf_suite_silu_mul, &mkcf_suite_gelu_mul, &mkcf_suite_add};
    return (unsigned)op < MK_OP_COUNT ? suites[op] : NULL;
}

int mkcf_case_count(mk_op op, mkcf_mode mode) {
    const mkcf_suite *s = mkcf_suite_of(op);
    return s ? s->count(mode) : 0;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Appends text to a "; "-separated list unless it is there already. */
static void add_reason(char *list, size_t n, const char *text) {
    if (!text[0] || strstr(list, text)) return;
    size_t used = strlen(list);
    if (used + 3 >= n) return;
    snprintf(list + used, n - used, "%s%s", used ? "; " : "", text);
}

static void log_line(const mkcf_options *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void log_line(const mkcf_options *o, const char *fmt, ...) {
    if (!o->log) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(o->log, fmt, ap);
    va_end(ap);
    fflush(o->log);
}

/* Every case of one op on one forced variant into row. */
static void run_variant(mk_context *ctx, const mkcf_options *o, const mkcf_suite *s, const char *variant,
                        mkcf_result *row, mkcf_case *c) {
    int n = s->count(o->mode), keep = o->max_failures > 0 ? o->max_failures : 16;
    if (keep > MKCF_MAX_KEPT) keep = MKCF_MAX_KEPT;
    double t0 = now_s(), worst = -1;
    row->op = s->op;
    snprintf(row->variant, sizeof row->variant, "%s", variant);
    row->exact = s->exact;
    for (int i = 0; i < n; i++) {
        mkcf_case_init(c, ctx, o->mode, o->seed, s->op, i, variant);
        s->run(c);
        if (c->skipped && !c->failed) {
            row->skipped++;
            if (!row->skip_reason[0]) snprintf(row->skip_reason, sizeof row->skip_reason, "%s", c->reason);
        } else {
            row->cases++;
            if (c->failed || !c->ran) {
                if (!c->failed) snprintf(c->reason, sizeof c->reason, "the op did not run");
                row->failed++;
                log_line(o, "FAIL %s %s: %s: %s\n", mk_op_name(s->op), variant, c->desc, c->reason);
                if (row->kept < keep) {
                    mkcf_failure *f = &row->failures[row->kept++];
                    snprintf(f->text, sizeof f->text, "%s", c->desc);
                    snprintf(f->reason, sizeof f->reason, "%s", c->reason);
                }
            } else {
                row->passed++;
            }
            if (c->ratio > worst || worst < 0) {
                worst = c->ratio;
                row->worst_rel = c->rel, row->bound_rel = c->rel_bound;
                row->worst_abs = c->abs, row->bound_abs = c->abs_bound;
            }
        }
        mkcf_case_end(c);
    }
    row->seconds = now_s() - t0;
}

/* The dispatcher's reasons why op cannot run on ctx: mk_explain's lines about this
   backend's variants that say no (or that it has none), then the reasons the declined
   calls gave. */
static void unsupported_reasons(mk_context *ctx, mk_op op, const char *backend, int nvariants, char *out,
                                size_t n, const char *call_reasons) {
    out[0] = 0;
    char explain[4096];
    size_t bl = strlen(backend);
    if (mk_explain(ctx, op, NULL, explain, sizeof explain) == MK_OK) {
        char *save = NULL;
        for (char *line = strtok_r(explain, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            while (*line == ' ') line++;
            int own_no = !strncmp(line, backend, bl) && line[bl] == '.' && strstr(line, " no ");
            int none = line[0] == '(' && strstr(line, backend);
            if (own_no || none) add_reason(out, n, line);
        }
    }
    if (!out[0] && nvariants == 0) {
        char text[160];
        snprintf(text, sizeof text, "no %s variant of %s is registered", backend, mk_op_name(op));
        add_reason(out, n, text);
    }
    add_reason(out, n, call_reasons);
}

mk_status mkcf_run(const mkcf_options *o, mkcf_report *r) {
    memset(r, 0, sizeof *r);
    if (!o || !o->device || o->op < -1 || o->op >= MK_OP_COUNT) return MK_ERR_INVALID_ARGUMENT;
    int index = -1;
    mk_status s = mk_device_find(o->device, &index);
    if (s == MK_OK) s = mk_device_get_info(index, &r->device);
    if (s != MK_OK) return s;
    mk_context *ctx = NULL;
    s = mk_context_create(r->device.id, &ctx);
    if (s != MK_OK) return s;

    snprintf(r->medkern_version, sizeof r->medkern_version, "%s", mk_version());
    snprintf(r->git_commit, sizeof r->git_commit, "%s", MEDKERN_GIT_COMMIT);
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(r->date, sizeof r->date, "%Y-%m-%dT%H:%M:%SZ", &tm);
    r->seed = o->seed;
    r->mode = o->mode;
    double t0 = now_s();
    mkcf_case *c = malloc(sizeof *c);
    if (!c) {
        mk_context_destroy(ctx);
        return MK_ERR_OUT_OF_MEMORY;
    }
    log_line(o, "medkern conform on %s (%s), seed %llu, %s\n", r->device.id, r->device.name,
             (unsigned long long)o->seed, o->mode == MKCF_FULL ? "full" : "quick");

    for (int op = 0; op < MK_OP_COUNT; op++) {
        if (o->op >= 0 && op != o->op) continue;
        const mkcf_suite *suite = mkcf_suite_of((mk_op)op);
        mk_kernel_info list[64];
        int count = 0, nvar = 0, first_row = r->nresults, ran = 0;
        mk_kernel_list((mk_op)op, list, 64, &count);
        char call_reasons[1024] = "";
        for (int v = 0; v < count && v < 64; v++) {
            if (strcmp(list[v].backend, r->device.backend) != 0) continue;
            nvar++;
            if (r->nresults == (int)(sizeof r->results / sizeof r->results[0])) break;
            mkcf_result *row = &r->results[r->nresults];
            memset(row, 0, sizeof *row);
            s = mk_set_kernel(ctx, (mk_op)op, list[v].name);
            if (s != MK_OK) { /* the registry listed it: forcing it must work */
                row->op = (mk_op)op;
                snprintf(row->variant, sizeof row->variant, "%s", list[v].name);
                row->cases = row->failed = row->kept = 1;
                snprintf(row->failures[0].text, sizeof row->failures[0].text, "mk_set_kernel");
                snprintf(row->failures[0].reason, sizeof row->failures[0].reason, "%s: %s",
                         mk_status_string(s), mk_last_error());
                r->nresults++;
                ran = 1;
                continue;
            }
            run_variant(ctx, o, suite, list[v].name, row, c);
            mk_set_kernel(ctx, (mk_op)op, NULL);
            if (row->skip_reason[0]) add_reason(call_reasons, sizeof call_reasons, row->skip_reason);
            ran |= row->cases > 0;
            r->nresults++;
            log_line(o, "  %-18s %-24s %4d cases %4d passed %4d failed %4d skipped  %.1f s\n",
                     mk_op_name((mk_op)op), row->variant, row->cases, row->passed, row->failed, row->skipped,
                     row->seconds);
        }
        if (!ran) { /* no variant ran a case: unsupported, not failed */
            r->nresults = first_row;
            mkcf_unsupported *u = &r->unsupported[r->nunsupported++];
            u->op = (mk_op)op;
            unsupported_reasons(ctx, (mk_op)op, r->device.backend, nvar, u->reasons, sizeof u->reasons,
                                call_reasons);
            log_line(o, "  %-18s unsupported: %s\n", mk_op_name((mk_op)op), u->reasons);
        }
    }
    for (int i = 0; i < r->nresults; i++) {
        r->cases += r->results[i].cases;
        r->failed += r->results[i].failed;
        r->skipped += r->results[i].skipped;
    }
    r->passed = r->failed == 0;
    r->seconds = now_s() - t0;
    free(c);
    mk_context_destroy(ctx);
    return MK_OK;
}
