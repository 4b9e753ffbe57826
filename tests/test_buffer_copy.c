/*
 * mk_buffer_copy on every device (ref, threads:0 when built, and each OpenCL or CUDA device
 * present): copies of odd sizes at odd offsets checked byte for byte, bytes outside the
 * destination range and the guard bytes after each buffer untouched, copies inside one
 * buffer that do not overlap, copies queued one after the other, and bad input (NULL
 * buffers, ranges past the end, offset + bytes overflowing, overlap inside one buffer,
 * buffers of two contexts) failing with MK_ERR_INVALID_ARGUMENT, a message naming the
 * argument, and nothing written.
 */
#include <stdlib.h>
#include <string.h>

#include "mktest.h"

/* A device buffer of `bytes` (plus guard bytes) holding `host`, a known pattern. */
typedef struct {
    mk_buffer *buf;
    uint8_t *host; /* what the buffer must hold */
    size_t bytes;
} tracked;

static void fill_random(mkref_rng *r, uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(mkref_rng_u64(r) >> 56);
}

static tracked make(mk_context *ctx, mkref_rng *r, size_t bytes) {
    tracked t = {mkt_buffer(ctx, bytes), malloc(bytes ? bytes : 1), bytes};
    if (!t.host) {
        fprintf(stderr, "out of host memory\n");
        exit(2);
    }
    fill_random(r, t.host, bytes);
    MKT_OK(mk_buffer_write(t.buf, 0, t.host, bytes));
    return t;
}

/* The buffer holds exactly what it must, and its guard bytes are intact. */
static void verify(const tracked *t, const char *dev, const char *what) {
    uint8_t *got = malloc(t->bytes ? t->bytes : 1);
    if (!got) exit(2);
    MKT_OK(mk_buffer_read(t->buf, 0, got, t->bytes));
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < t->bytes; i++)
        if (got[i] != t->host[i] && bad++ == 0) first = i;
    MKT_CHECK(bad == 0, "%s: %s: %zu of %zu bytes differ, the first at %zu (%02x, want %02x)", dev,
              what, bad, t->bytes, first, bad ? got[first] : 0, bad ? t->host[first] : 0);
    free(got);
    char label[160];
    snprintf(label, sizeof label, "%s: %s", dev, what);
    mkt_guard_ok(t->buf, t->bytes, label);
}

static void release(tracked *t) {
    mk_buffer_free(t->buf);
    free(t->host);
}

/* Copies src[so, so+n) to dst[do_, do_+n), on the device and in the expected image. */
static void copy(tracked *dst, size_t do_, const tracked *src, size_t so, size_t n) {
    MKT_OK(mk_buffer_copy(dst->buf, do_, src->buf, so, n));
    memmove(dst->host + do_, src->host + so, n);
}

static void valid_copies(mk_context *ctx, const char *dev, mkref_rng *r) {
    static const size_t sizes[] = {1, 3, 64, 4097, (1u << 20) + 13};
    char what[128];
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t n = sizes[k];
        tracked src = make(ctx, r, n + 37), dst = make(ctx, r, n + 101);
        copy(&dst, 0, &src, 0, n);
        snprintf(what, sizeof what, "copy of %zu bytes at offset 0", n);
        verify(&dst, dev, what);
        copy(&dst, 101, &src, 37, n); /* odd offsets, to the very end of both */
        snprintf(what, sizeof what, "copy of %zu bytes, offsets 37 -> 101", n);
        verify(&dst, dev, what);
        copy(&dst, 5, &src, 11, n / 2);
        snprintf(what, sizeof what, "copy of %zu bytes, offsets 11 -> 5", n / 2);
        verify(&dst, dev, what);
        verify(&src, dev, "the source is unchanged");
        release(&src);
        release(&dst);
    }

    /* Inside one buffer: disjoint ranges, then ranges that touch without overlapping. */
    tracked one = make(ctx, r, 3000);
    copy(&one, 1700, &one, 3, 1000);
    verify(&one, dev, "disjoint ranges of one buffer, forwards");
    copy(&one, 10, &one, 1990, 1000);
    verify(&one, dev, "disjoint ranges of one buffer, backwards");
    copy(&one, 500, &one, 0, 500);
    verify(&one, dev, "adjacent ranges of one buffer (dst right after src)");
    copy(&one, 2000, &one, 2500, 500);
    verify(&one, dev, "adjacent ranges of one buffer (src right after dst)");

    /* Zero bytes: nothing to do, even at the very end. */
    MKT_OK(mk_buffer_copy(one.buf, mk_buffer_size(one.buf), one.buf, 0, 0));
    MKT_OK(mk_buffer_copy(one.buf, 17, one.buf, 17, 0));
    verify(&one, dev, "zero-byte copies");
    release(&one);

    /* Copies queued back to back run in order: a -> b -> c, then c read. */
    tracked a = make(ctx, r, 65536), b = make(ctx, r, 65536), c = make(ctx, r, 65536);
    copy(&b, 0, &a, 0, 65536);
    copy(&c, 0, &b, 0, 65536);
    copy(&b, 0, &c, 100, 1000); /* overwrites b after c was taken from it */
    verify(&c, dev, "a -> b -> c in order");
    verify(&b, dev, "c -> b after b -> c");
    release(&a);
    release(&b);
    release(&c);
}

static void bad_input(mk_context *ctx, const char *dev, mkref_rng *r) {
    tracked a = make(ctx, r, 1000), b = make(ctx, r, 500);
    const mk_status INVALID = MK_ERR_INVALID_ARGUMENT;
    MKT_FAILS(INVALID, "dst", mk_buffer_copy(NULL, 0, a.buf, 0, 10));
    MKT_FAILS(INVALID, "src", mk_buffer_copy(b.buf, 0, NULL, 0, 10));
    MKT_FAILS(INVALID, "dst", mk_buffer_copy(NULL, 0, NULL, 0, 0));
    /* ranges past the end (the guard bytes lie past the size the test gave, but the
       buffer is bigger by MKT_GUARD: go past that too) */
    size_t bsz = mk_buffer_size(b.buf), asz = mk_buffer_size(a.buf);
    MKT_FAILS(INVALID, "dst_offset", mk_buffer_copy(b.buf, bsz - 10, a.buf, 0, 11));
    MKT_FAILS(INVALID, "dst_offset", mk_buffer_copy(b.buf, bsz + 1, a.buf, 0, 0));
    MKT_FAILS(INVALID, "dst_offset", mk_buffer_copy(b.buf, 0, a.buf, 0, bsz + 1));
    MKT_FAILS(INVALID, "src_offset", mk_buffer_copy(a.buf, 0, b.buf, bsz - 3, 4));
    MKT_FAILS(INVALID, "src_offset", mk_buffer_copy(a.buf, 0, b.buf, bsz + 1, 0));
    MKT_FAILS(INVALID, "src_offset", mk_buffer_copy(a.buf, asz - bsz - 1, b.buf, 0, bsz + 1));
    /* offset + bytes wrapping around size_t */
    MKT_FAILS(INVALID, "dst_offset", mk_buffer_copy(b.buf, 16, a.buf, 0, SIZE_MAX - 8));
    MKT_FAILS(INVALID, "src_offset", mk_buffer_copy(a.buf, 0, b.buf, SIZE_MAX, 2));
    /* overlap inside one buffer */
    MKT_FAILS(INVALID, "overlap", mk_buffer_copy(a.buf, 50, a.buf, 0, 100));
    MKT_FAILS(INVALID, "overlap", mk_buffer_copy(a.buf, 0, a.buf, 50, 100));
    MKT_FAILS(INVALID, "overlap", mk_buffer_copy(a.buf, 200, a.buf, 200, 1));
    MKT_FAILS(INVALID, "overlap", mk_buffer_copy(a.buf, 100, a.buf, 199, 100));
    /* buffers of two contexts (on the same device) */
    mk_context *other = NULL;
    MKT_OK(mk_context_create(dev, &other));
    if (other) {
        tracked c = make(other, r, 500);
        MKT_FAILS(INVALID, "context", mk_buffer_copy(b.buf, 0, c.buf, 0, 10));
        MKT_FAILS(INVALID, "context", mk_buffer_copy(c.buf, 0, b.buf, 0, 10));
        MKT_OK(mk_synchronize(other));
        verify(&c, dev, "the other context's buffer after the rejected copies");
        release(&c);
        mk_context_destroy(other);
    }
    MKT_OK(mk_synchronize(ctx));
    verify(&a, dev, "a after the rejected copies");
    verify(&b, dev, "b after the rejected copies");
    release(&a);
    release(&b);
}

int main(int argc, char **argv) {
    mkt_init(argc, argv, "buffer_copy");
    char ids[32][32];
    int n = 0;
    static const char *const backends[] = {"ref", "opencl", "cuda", "threads"};
    for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++)
        n += mkt_devices(backends[i], ids + n, 32 - n);
    for (int d = 0; d < n; d++) {
        mk_context *ctx = NULL;
        mk_status s = mk_context_create(ids[d], &ctx);
        MKT_CHECK(s == MK_OK, "%s: mk_context_create: %s", ids[d], mk_last_error());
        if (s != MK_OK) continue;
        mkref_rng r;
        mkt_rng(&r, (uint64_t)d);
        int before = mkt_failures;
        valid_copies(ctx, ids[d], &r);
        bad_input(ctx, ids[d], &r);
        mk_context_destroy(ctx);
        printf("[buffer_copy] %-10s %s\n", ids[d], mkt_failures == before ? "ok" : "FAILED");
    }
    return mkt_finish();
}
