/*
 * One conformance case: its host memory, its guarded and poisoned device buffers, the
 * two runs (conform_internal.h explains the life of a case) and the checks that judge
 * what came back.
 */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "conform_internal.h"

void mkcf_case_init(mkcf_case *c, mk_context *ctx, mkcf_mode mode, uint64_t seed, mk_op op, int index,
                   const char *variant) {
    memset(c, 0, sizeof *c);
    c->ctx = ctx;
    c->mode = mode;
    c->seed = seed;
    c->op = op;
    c->index = index;
    c->variant = variant;
    /* the same data for every variant and device: a function of (seed, op, index) only */
    mkref_rng_seed(&c->rng, seed * 0x9E3779B97F4A7C15ull + ((uint64_t)(op + 1) << 32) + (uint64_t)index);
}

void mkcf_case_end(mkcf_case *c) {
    for (int i = 0; i < c->nbufs; i++) {
        mkcf_buf *b = &c->bufs[i];
        mk_buffer_free(b->buf);
        free(b->init), free(b->writable), free(b->got[0]), free(b->got[1]);
    }
    for (int i = 0; i < c->nrecords; i++) free(c->records[i].data[0]), free(c->records[i].data[1]);
    for (int i = 0; i < c->nallocs; i++) free(c->allocs[i]);
    c->nbufs = c->nrecords = c->nallocs = 0;
}

void mkcf_describe(mkcf_case *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(c->desc, sizeof c->desc, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof c->desc)
        snprintf(c->desc + n, sizeof c->desc - (size_t)n, " [seed %llu case %d]",
                 (unsigned long long)c->seed, c->index);
}

void mkcf_fail(mkcf_case *c, const char *fmt, ...) {
    if (!c->failed) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->reason, sizeof c->reason, fmt, ap);
        va_end(ap);
    }
    c->failed = 1;
}

static void *xcalloc(size_t n) {
    void *p = calloc(1, n ? n : 1);
    if (!p) {
        fprintf(stderr, "medkern conform: out of host memory (%zu bytes)\n", n);
        exit(1);
    }
    return p;
}

void *mkcf_host(mkcf_case *c, size_t bytes) {
    void *p = xcalloc(bytes);
    if (c->nallocs == MKCF_MAX_ALLOCS) {
        fprintf(stderr, "medkern conform: more than %d host arrays in one case (a bug)\n", MKCF_MAX_ALLOCS);
        exit(1);
    }
    c->allocs[c->nallocs++] = p;
    return p;
}

void mkcf_round(mk_dtype t, float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = mkref_round_to(t, x[i]);
}

float *mkcf_random(mkcf_case *c, mk_dtype t, size_t n, float std, float outlier) {
    float *x = mkcf_host(c, n * sizeof *x);
    mkcf_fill_normal(&c->rng, x, n, std, outlier);
    mkcf_round(t, x, n);
    return x;
}

int mkcf_pick(mkcf_case *c, const int *list, int n) { return list[mkref_rng_range(&c->rng, 0, n - 1)]; }

size_t mkcf_numel(int ndim, const int64_t *shape) {
    size_t n = 1;
    for (int d = 0; d < ndim; d++) n *= (size_t)shape[d];
    return n;
}

/* ------------------------------------------------------------ buffers */

mkcf_buf *mkcf_buffer(mkcf_case *c, const char *name, size_t bytes) {
    if (c->nbufs == MKCF_MAX_BUFS) {
        fprintf(stderr, "medkern conform: more than %d buffers in one case (a bug)\n", MKCF_MAX_BUFS);
        exit(1);
    }
    mkcf_buf *b = &c->bufs[c->nbufs];
    memset(b, 0, sizeof *b);
    snprintf(b->name, sizeof b->name, "%s", name);
    b->bytes = bytes;
    b->total = bytes + 2 * MKCF_GUARD;
    mk_status s = mk_buffer_alloc(c->ctx, b->total, &b->buf);
    if (s != MK_OK) {
        mkcf_fail(c, "allocating %s (%zu bytes): %s: %s", name, b->total, mk_status_string(s), mk_last_error());
        return NULL;
    }
    b->init = xcalloc(b->total);
    b->writable = xcalloc(b->total);
    for (size_t i = 0; i < MKCF_GUARD; i++) {
        b->init[i] = mkcf_guard_byte(i + 7); /* a different phase before than after */
        b->init[MKCF_GUARD + bytes + i] = mkcf_guard_byte(i);
    }
    memset(b->init + MKCF_GUARD, 0xFF, bytes);
    c->nbufs++;
    return b;
}

mkcf_buf *mkcf_buf_of(mkcf_case *c, const mk_tensor *t) {
    for (int i = 0; i < c->nbufs; i++)
        if (t->buf && c->bufs[i].buf == t->buf) return &c->bufs[i];
    return NULL;
}

mk_tensor mkcf_view(const mkcf_buf *b, mk_dtype t, size_t elem_off, int ndim, const int64_t *shape,
                   const int64_t *stride) {
    mk_tensor v = mk_tensor_make(b ? b->buf : NULL, MKCF_GUARD + elem_off * mk_dtype_size(t), t, ndim, shape);
    if (stride)
        for (int d = 0; d < ndim; d++) v.stride[d] = stride[d];
    return v;
}

/* Byte offset (from the buffer's start) of element i, row-major over the view's shape. */
static size_t view_byte(const mk_tensor *v, size_t i) {
    size_t off = 0;
    for (int d = v->ndim - 1; d >= 0; d--) {
        off += (i % (size_t)v->shape[d]) * (size_t)v->stride[d];
        i /= (size_t)v->shape[d];
    }
    return v->offset + off * mk_dtype_size(v->dtype);
}

void mkcf_fill_view(mkcf_buf *b, const mk_tensor *v, const float *x) {
    if (!b) return;
    size_t n = mkcf_numel(v->ndim, v->shape);
    for (size_t i = 0; i < n; i++) mkref_store(v->dtype, b->init + view_byte(v, i), 0, x[i]);
}

void mkcf_mark_output(mkcf_buf *b, const mk_tensor *v, int poison) {
    if (!b) return;
    size_t n = mkcf_numel(v->ndim, v->shape), es = mk_dtype_size(v->dtype);
    for (size_t i = 0; i < n; i++) {
        size_t at = view_byte(v, i);
        memset(b->writable + at, 1, es);
        if (poison) memset(b->init + at, 0xFF, es);
    }
}

mk_tensor mkcf_upload(mkcf_case *c, const char *name, mk_dtype t, int ndim, const int64_t *shape,
                     const float *x) {
    mkcf_buf *b = mkcf_buffer(c, name, mkcf_numel(ndim, shape) * mk_dtype_size(t));
    mk_tensor v = mkcf_view(b, t, 0, ndim, shape, NULL);
    mkcf_fill_view(b, &v, x);
    return v;
}

mk_tensor mkcf_upload_bits(mkcf_case *c, const char *name, mk_dtype t, int ndim, const int64_t *shape,
                          const void *raw) {
    size_t bytes = mkcf_numel(ndim, shape) * mk_dtype_size(t);
    mkcf_buf *b = mkcf_buffer(c, name, bytes);
    if (b) memcpy(b->init + MKCF_GUARD, raw, bytes);
    return mkcf_view(b, t, 0, ndim, shape, NULL);
}

mk_tensor mkcf_upload_i32(mkcf_case *c, const char *name, int ndim, const int64_t *shape, const int32_t *x) {
    return mkcf_upload_bits(c, name, MK_I32, ndim, shape, x);
}

mk_tensor mkcf_output(mkcf_case *c, const char *name, mk_dtype t, int ndim, const int64_t *shape) {
    mkcf_buf *b = mkcf_buffer(c, name, mkcf_numel(ndim, shape) * mk_dtype_size(t));
    mk_tensor v = mkcf_view(b, t, 0, ndim, shape, NULL);
    mkcf_mark_output(b, &v, 1);
    return v;
}

mk_tensor mkcf_upload_view(mkcf_case *c, const char *name, mk_dtype t, int ndim, const int64_t *shape,
                          const int64_t *stride, const float *x) {
    size_t last = 0;
    for (int d = 0; d < ndim; d++) last += (size_t)(shape[d] - 1) * (size_t)stride[d];
    mkcf_buf *b = mkcf_buffer(c, name, (last + 1) * mk_dtype_size(t));
    mk_tensor v = mkcf_view(b, t, 0, ndim, shape, stride);
    mkcf_fill_view(b, &v, x);
    return v;
}

/* ------------------------------------------------------------ running */

void mkcf_record(mkcf_case *c, const char *what, const void *bytes, size_t n) {
    int i = 0;
    while (i < c->nrecords && strcmp(c->records[i].what, what) != 0) i++;
    if (i == c->nrecords) {
        if (c->nrecords == MKCF_MAX_RECORDS) return;
        snprintf(c->records[i].what, sizeof c->records[i].what, "%s", what);
        c->nrecords++;
    }
    free(c->records[i].data[c->run]);
    c->records[i].data[c->run] = xcalloc(n);
    memcpy(c->records[i].data[c->run], bytes, n);
    c->records[i].bytes[c->run] = n;
}

const void *mkcf_recorded(const mkcf_case *c, const char *what, size_t *n) {
    for (int i = 0; i < c->nrecords; i++)
        if (strcmp(c->records[i].what, what) == 0) {
            if (n) *n = c->records[i].bytes[0];
            return c->records[i].data[0];
        }
    return NULL;
}

/* Bytes that must come back as written: guards, inputs, gaps. */
static void check_unchanged(mkcf_case *c, const mkcf_buf *b, int run) {
    const uint8_t *got = b->got[run];
    for (size_t i = 0; i < b->total; i++) {
        if (b->writable[i] || got[i] == b->init[i]) continue;
        if (i < MKCF_GUARD)
            mkcf_fail(c, "guard byte %zu before %s was overwritten (run %d)", MKCF_GUARD - i, b->name, run + 1);
        else if (i >= MKCF_GUARD + b->bytes)
            mkcf_fail(c, "guard byte %zu after %s was overwritten (run %d)", i - MKCF_GUARD - b->bytes, b->name,
                     run + 1);
        else
            mkcf_fail(c, "%s byte %zu changed (0x%02x -> 0x%02x), which the op must not write (run %d)", b->name,
                     i - MKCF_GUARD, b->init[i], got[i], run + 1);
        return;
    }
}

int mkcf_exec(mkcf_case *c, mkcf_launch_fn launch, void *arg) {
    if (c->failed) return 0; /* setup failed (allocation) */
    for (c->run = 0; c->run < 2; c->run++) {
        for (int i = 0; i < c->nbufs; i++) {
            mkcf_buf *b = &c->bufs[i];
            mk_status s = mk_buffer_write(b->buf, 0, b->init, b->total);
            if (s != MK_OK) {
                mkcf_fail(c, "writing %s: %s: %s", b->name, mk_status_string(s), mk_last_error());
                return 0;
            }
        }
        mk_status s = launch(c, arg);
        if (s == MK_ERR_UNSUPPORTED && c->run == 0) {
            c->skipped = 1;
            snprintf(c->reason, sizeof c->reason, "%s", mk_last_error());
            return 0;
        }
        if (s != MK_OK) {
            mkcf_fail(c, "run %d: %s: %s", c->run + 1, mk_status_string(s), mk_last_error());
            return 0;
        }
        c->ran = 1;
        const char *last = mk_last_kernel(c->ctx, c->op);
        if (c->variant && (!last || strcmp(last, c->variant) != 0))
            mkcf_fail(c, "variant %s was forced but %s ran", c->variant, last ? last : "nothing");
        for (int i = 0; i < c->nbufs; i++) {
            mkcf_buf *b = &c->bufs[i];
            free(b->got[c->run]);
            b->got[c->run] = xcalloc(b->total);
            s = mk_buffer_read(b->buf, 0, b->got[c->run], b->total);
            if (s != MK_OK) {
                mkcf_fail(c, "reading %s back: %s: %s", b->name, mk_status_string(s), mk_last_error());
                return 0;
            }
            check_unchanged(c, b, c->run);
        }
    }
    c->run = 0;
    /* determinism: the written bytes and the recorded state of both runs are equal */
    for (int i = 0; i < c->nbufs; i++) {
        const mkcf_buf *b = &c->bufs[i];
        for (size_t j = 0; j < b->total; j++)
            if (b->writable[j] && b->got[0][j] != b->got[1][j]) {
                mkcf_fail(c, "not deterministic: %s byte %zu is 0x%02x in run 1 and 0x%02x in run 2", b->name,
                         j - MKCF_GUARD, b->got[0][j], b->got[1][j]);
                break;
            }
    }
    for (int i = 0; i < c->nrecords; i++) {
        size_t n0 = c->records[i].bytes[0], n1 = c->records[i].bytes[1];
        if (n0 != n1 || memcmp(c->records[i].data[0], c->records[i].data[1], n0) != 0)
            mkcf_fail(c, "not deterministic: %s differs between two runs", c->records[i].what);
    }
    return 1;
}

void mkcf_read(mkcf_case *c, const mk_tensor *v, float *out) {
    mkcf_buf *b = mkcf_buf_of(c, v);
    size_t n = mkcf_numel(v->ndim, v->shape);
    if (!b || !b->got[0]) {
        for (size_t i = 0; i < n; i++) out[i] = NAN;
        return;
    }
    for (size_t i = 0; i < n; i++) out[i] = mkref_load(v->dtype, b->got[0] + view_byte(v, i), 0);
}

static void keep_worst(mkcf_case *c, double rel, double rel_bound, double abs, double abs_bound) {
    double ratio = rel_bound > 0 ? rel / rel_bound : 0;
    if (abs_bound > 0 && abs / abs_bound > ratio) ratio = abs / abs_bound;
    if (ratio != ratio) ratio = INFINITY;
    if (ratio > c->ratio || (c->rel_bound == 0 && c->abs_bound == 0)) {
        c->ratio = ratio;
        c->rel = rel, c->rel_bound = rel_bound, c->abs = abs, c->abs_bound = abs_bound;
    }
}

int mkcf_check(mkcf_case *c, const char *what, const float *out, const float *ref, size_t n, double bound) {
    /* the max-abs bound scales with the largest finite reference value (1 when all are 0) */
    double ref_max = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(ref[i]) && fabs((double)ref[i]) > ref_max) ref_max = fabs((double)ref[i]);
    double abs_bound = MKCF_ABS_FACTOR * bound * (ref_max > 0 ? ref_max : 1.0);
    mkcf_compare_result r = mkcf_compare(out, ref, n, bound, abs_bound);
    keep_worst(c, r.nonfinite_bad ? INFINITY : r.rel_l2, bound, r.nonfinite_bad ? INFINITY : r.max_abs, abs_bound);
    if (!r.ok) mkcf_fail(c, "%s: %s", what, r.reason);
    return r.ok;
}

int mkcf_check_bits(mkcf_case *c, const char *what, const void *got, const void *want, size_t bytes) {
    c->exact = 1;
    const uint8_t *g = got, *w = want;
    for (size_t i = 0; i < bytes; i++)
        if (g[i] != w[i]) {
            mkcf_fail(c, "%s: byte %zu of %zu is 0x%02x, the reference has 0x%02x", what, i, bytes, g[i], w[i]);
            return 0;
        }
    return 1;
}
