/* Test helpers that use the public API: buffers with guard bytes, uploads, devices. */
#include "mktest.h"

#include "conform.h"

#include <stdlib.h>
#include <string.h>

void mkt_expect_failure(const char *file, int line, const char *expr, mk_status got,
                        mk_status want, const char *needle) {
    mkt_checks++;
    const char *msg = mk_last_error();
    if (got != want) {
        mkt_fail_at(file, line, "%s -> %s, want %s (%s)", expr, mk_status_string(got),
                    mk_status_string(want), msg);
    } else if (needle && !strstr(msg, needle)) {
        mkt_fail_at(file, line, "%s: message \"%s\" does not name \"%s\"", expr, msg, needle);
    }
}

/* the conformance engine's guard pattern (tools/conform/conform.h) */
static uint8_t mkt_guard_byte(size_t i) { return mkcf_guard_byte(i); }

mk_buffer *mkt_buffer(mk_context *ctx, size_t bytes) {
    mk_buffer *b = NULL;
    mk_status s = mk_buffer_alloc(ctx, bytes + MKT_GUARD, &b);
    if (s != MK_OK) {
        fprintf(stderr, "mkt_buffer(%zu): %s\n", bytes, mk_last_error());
        exit(2);
    }
    uint8_t g[MKT_GUARD];
    for (size_t i = 0; i < MKT_GUARD; i++) g[i] = mkt_guard_byte(i);
    mk_buffer_write(b, bytes, g, MKT_GUARD);
    return b;
}

int mkt_guard_ok(const mk_buffer *buf, size_t bytes, const char *what) {
    uint8_t g[MKT_GUARD];
    mkt_checks++;
    if (mk_buffer_read(buf, bytes, g, MKT_GUARD) != MK_OK) {
        mkt_fail_at(__FILE__, __LINE__, "%s: guard read failed: %s", what, mk_last_error());
        return 0;
    }
    for (size_t i = 0; i < MKT_GUARD; i++)
        if (g[i] != mkt_guard_byte(i)) {
            mkt_fail_at(__FILE__, __LINE__, "%s: guard byte %zu after the buffer was overwritten",
                        what, i);
            return 0;
        }
    return 1;
}

void mkt_poison(mk_buffer *buf, size_t bytes) { mk_buffer_fill(buf, 0, 0xFF, bytes); }

static size_t shape_numel(int ndim, const int64_t *shape) {
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    return n;
}

size_t mkt_numel(const mk_tensor *t) { return shape_numel(t->ndim, t->shape); }

mk_tensor mkt_upload(mk_context *ctx, mk_dtype t, int ndim, const int64_t *shape, const float *x) {
    size_t n = shape_numel(ndim, shape), es = mk_dtype_size(t);
    uint8_t *host = malloc(n * es + 1);
    for (size_t i = 0; i < n; i++) mkref_store(t, host, (int64_t)i, x[i]);
    mk_buffer *b = mkt_buffer(ctx, n * es);
    mk_buffer_write(b, 0, host, n * es);
    free(host);
    return mk_tensor_make(b, 0, t, ndim, shape);
}

mk_tensor mkt_upload_i32(mk_context *ctx, int ndim, const int64_t *shape, const int32_t *x) {
    size_t n = shape_numel(ndim, shape);
    mk_buffer *b = mkt_buffer(ctx, n * 4);
    mk_buffer_write(b, 0, x, n * 4);
    return mk_tensor_make(b, 0, MK_I32, ndim, shape);
}

mk_tensor mkt_output(mk_context *ctx, mk_dtype t, int ndim, const int64_t *shape) {
    size_t bytes = shape_numel(ndim, shape) * mk_dtype_size(t);
    mk_buffer *b = mkt_buffer(ctx, bytes);
    mkt_poison(b, bytes);
    return mk_tensor_make(b, 0, t, ndim, shape);
}

void mkt_download(const mk_tensor *t, float *x) {
    size_t n = mkt_numel(t), es = mk_dtype_size(t->dtype);
    uint8_t *host = malloc(n * es + 1);
    if (mk_buffer_read(t->buf, t->offset, host, n * es) != MK_OK) {
        mkt_fail_at(__FILE__, __LINE__, "download failed: %s", mk_last_error());
        memset(host, 0xFF, n * es);
    }
    for (size_t i = 0; i < n; i++) x[i] = mkref_load(t->dtype, host, (int64_t)i);
    free(host);
    mkt_guard_ok(t->buf, t->offset + n * es, "output");
}

void mkt_free(mk_tensor *t) {
    mk_buffer_free(t->buf);
    t->buf = NULL;
}

int mkt_variant_on_device(mk_context *ctx, mk_op op, const char *name) {
    char text[8192], key[96];
    if (mk_explain(ctx, op, NULL, text, sizeof text) != MK_OK) return 0;
    snprintf(key, sizeof key, "\n  %s ", name); /* "  <name padded> yes|no  (prio N)..." */
    const char *line = strstr(text, key);
    if (!line) return 0;
    const char *p = line + strlen(key);
    while (*p == ' ') p++;
    if (strncmp(p, "yes", 3) == 0) return 1;
    const char *end = strchr(p, '\n');
    mk_device_info info;
    mk_context_get_device(ctx, &info);
    printf("  [skip] %s on %s: %.*s\n", name, info.id, end ? (int)(end - p) : (int)strlen(p), p);
    return 0;
}

int mkt_devices(const char *backend, char ids[][32], int cap) {
    int n = 0, count = 0;
    if (mk_device_count(&count) != MK_OK) return 0;
    for (int i = 0; i < count && n < cap; i++) {
        mk_device_info info;
        if (mk_device_get_info(i, &info) == MK_OK && strcmp(info.backend, backend) == 0)
            snprintf(ids[n++], 32, "%s", info.id);
    }
    return n;
}

mk_sync_counters mkt_sync_counts(const mk_context *ctx) {
    mk_sync_counters c = {0, 0, 0};
    MKT_OK(mk_context_sync_counters(ctx, &c));
    return c;
}

void mkt_check_no_sync(const mk_context *ctx, const mk_sync_counters *before, const char *what) {
    const mk_sync_counters now = mkt_sync_counts(ctx);
    MKT_CHECK(now.readbacks == before->readbacks && now.uploads == before->uploads && now.syncs == before->syncs,
              "%s: %llu readbacks, %llu blocking uploads, %llu waits inside a run call (must be 0)", what,
              (unsigned long long)(now.readbacks - before->readbacks),
              (unsigned long long)(now.uploads - before->uploads), (unsigned long long)(now.syncs - before->syncs));
}

void mkt_prefill_via_plan(mk_context *ctx, const mk_prefill_plan_desc *d, const mk_tensor *q, const mk_tensor *k,
                          const mk_tensor *v, const mk_tensor *out, const mk_tensor *lse, const char *what) {
    mk_plan *plan = NULL;
    MKT_OK(mk_prefill_plan_create(ctx, d, &plan));
    if (!plan) return;
    const mk_sync_counters before = mkt_sync_counts(ctx);
    MKT_OK(mk_attention_prefill_run(ctx, plan, q, k, v, out, lse));
    mkt_check_no_sync(ctx, &before, what);
    mk_plan_destroy(plan);
}

void mkt_decode_via_plan(mk_context *ctx, const mk_decode_plan_desc *d, const mk_tensor *q, const mk_kv_cache *cache,
                         const mk_tensor *out, const char *what) {
    mk_plan *plan = NULL;
    MKT_OK(mk_decode_plan_create(ctx, d, &plan));
    if (!plan) return;
    const mk_sync_counters before = mkt_sync_counts(ctx);
    MKT_OK(mk_attention_decode_run(ctx, plan, q, cache, out));
    mkt_check_no_sync(ctx, &before, what);
    mk_plan_destroy(plan);
}
