/*
 * Failure paths of the API under fault injection (docs/guarantees.md; the knobs are in
 * runtime/src/fault.c; tests/fault/fault_injection.sh drives this program over every
 * injection point).
 *
 * Usage: test_fault_injection [--seed N] [--list] [--verbose] [device ...]
 * (default devices: ref and every OpenCL and CUDA device; --list prints them and exits;
 * --verbose prints the hash of each output, to find the one a checksum mismatch is in).
 *
 * Per device, one context runs a representative sequence: buffers (alloc, write, fill,
 * copy, read), add, rmsnorm, gemm, rope (in place), a paged KV cache (create, append,
 * copy_blocks, read_block), decode, prefill with LSE (one-shot, then as plans and runs:
 * plan creation allocates and uploads), a QW4 weight (data_alloc, create,
 * qgemm, read back) and a QW8A8 one (activations quantized on the device), a GGUF import,
 * events and synchronize; then a fresh add on new buffers, and everything is destroyed.
 * Every output is read back and hashed: "fault-injection: <device>: checksum <hex>".
 *
 * Without a fault knob every call must succeed. Under the knobs:
 *  - MEDKERN_FAULT_HOST_ALLOC=N or MEDKERN_FAULT_DEVICE_ALLOC=N: one call may fail with
 *    MK_ERR_OUT_OF_MEMORY. The program prints
 *      fault-injection: <device>: <call> -> MK_ERR_OUT_OF_MEMORY: <message>
 *    checks that the message is the call's own and speaks of memory, that a failed op
 *    left its output (or in-place operand) untouched, and runs the call again, which must
 *    succeed: the context stays usable, and the checksum must equal a clean run's (the
 *    driver compares them). A failed call writes nothing, so retrying it is all a caller
 *    has to do.
 *  - MEDKERN_FAULT_DEVICE_LOST=N: one call may fail with MK_ERR_DEVICE ("the device is
 *    lost"). From then on every call that would touch the device on that context must
 *    fail with MK_ERR_DEVICE ("context lost"), the handles must still be destroyable,
 *    and a new context on the same device must work.
 * Any other failure, or a second one, fails the test. "fault-injection: <device>:
 * surfaced <n>" counts the failures seen (0 when the injected failure was absorbed by a
 * fallback, which the driver accepts only at the sites it knows).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mktest.h"

#define MAX_BUFS 64

static int verbose;

typedef struct {
    const char *dev;
    mk_context *ctx;
    int lost_mode;  /* MEDKERN_FAULT_DEVICE_LOST is set */
    int fault_mode; /* any allocation knob is set       */
    int surfaced;   /* failures seen                    */
    int lost;       /* the device was lost              */
    int stop;       /* the sequence ends here           */
    uint64_t hash;
    mk_buffer *bufs[MAX_BUFS];
    int nbufs;
    mk_kv_cache *cache;
    mk_plan *plans[2];        /* decode, prefill */
    mk_qweight *qw[2];
    mk_event *ev[2];
    mk_qweight_data data[3]; /* QW4 canonical, its read-back, QW8A8 */
    mk_qweight_data imported;
    /* what a failed op must have left as it was */
    const mk_buffer *watch;
    uint8_t *watch_copy;
    size_t watch_bytes;
    /* two f32 inputs kept for the lost-context checks */
    mk_tensor a, b;
} run;

static const char sentinel_op[] = "fault-injection-sentinel";

/* Leaves a known message in mk_last_error(): a failing call must replace it. */
static void sentinel(void) {
    mk_op op;
    (void)mk_op_from_name(sentinel_op, &op);
}

static int has(const char *s, const char *needle) { return strstr(s, needle) != NULL; }

static void stop(run *r, const char *what, mk_status s) {
    if (r->stop) return;
    r->stop = 1;
    if (r->lost) return;
    MKT_CHECK(0, "%s: %s -> %s: %s", r->dev, what, mk_status_string(s), mk_last_error());
}

static void expect_lost(run *r, const char *what, mk_status s) {
    MKT_CHECK(s == MK_ERR_DEVICE && has(mk_last_error(), "context lost"),
              "%s: after the device was lost, %s -> %s: %s (want MK_ERR_DEVICE, \"context lost\")",
              r->dev, what, mk_status_string(s), mk_last_error());
}

/* Every call that would touch the device now fails without touching it. */
static void lost_checks(run *r) {
    if (!r->ctx) return;
    expect_lost(r, "mk_synchronize", mk_synchronize(r->ctx));
    mk_buffer *nb = (mk_buffer *)1;
    expect_lost(r, "mk_buffer_alloc", mk_buffer_alloc(r->ctx, 64, &nb));
    MKT_CHECK(nb == NULL, "%s: a failed mk_buffer_alloc left *out set", r->dev);
    mk_event *ne = NULL;
    expect_lost(r, "mk_event_create", mk_event_create(r->ctx, &ne));
    mk_kv_cache_desc kd = {2, 4, 1, 16, MK_F32};
    mk_kv_cache *nc = NULL;
    expect_lost(r, "mk_kv_cache_create", mk_kv_cache_create(r->ctx, &kd, &nc));
    if (r->nbufs) {
        uint8_t x[8] = {0};
        expect_lost(r, "mk_buffer_read", mk_buffer_read(r->bufs[0], 0, x, sizeof x));
        expect_lost(r, "mk_buffer_write", mk_buffer_write(r->bufs[0], 0, x, sizeof x));
        expect_lost(r, "mk_buffer_fill", mk_buffer_fill(r->bufs[0], 0, 0, sizeof x));
    }
    if (r->a.buf && r->b.buf) expect_lost(r, "mk_add", mk_add(r->ctx, &r->a, &r->b, &r->a));
    if (r->ev[0]) expect_lost(r, "mk_event_record", mk_event_record(r->ev[0]));
    if (r->cache) {
        uint8_t blk[4 * 2 * 16 * 2];
        expect_lost(r, "mk_kv_cache_read_block", mk_kv_cache_read_block(r->cache, 0, blk, NULL, NULL, NULL));
    }
    if (r->qw[0] && r->data[1].q)
        expect_lost(r, "mk_qweight_read", mk_qweight_read(r->qw[0], &r->data[1]));
}

/* A failed call: 1 when it was the injected failure and may be retried. */
static int injected(run *r, const char *what, mk_status s) {
    const char *msg = mk_last_error();
    int own = msg[0] && !has(msg, sentinel_op);
    if (r->lost_mode && s == MK_ERR_DEVICE && !r->lost && r->surfaced == 0) {
        printf("fault-injection: %s: %s -> %s: %s\n", r->dev, what, mk_status_string(s), msg);
        r->surfaced++;
        MKT_CHECK(own && has(msg, "device is lost"), "%s: %s: the device-loss message is not the call's: %s",
                  r->dev, what, msg);
        r->lost = 1;
        lost_checks(r);
        return 0;
    }
    if (!r->fault_mode || s != MK_ERR_OUT_OF_MEMORY || r->surfaced) return 0;
    printf("fault-injection: %s: %s -> %s: %s\n", r->dev, what, mk_status_string(s), msg);
    r->surfaced++;
    MKT_CHECK(own && (has(msg, "memory") || has(msg, "ALLOCATION") || has(msg, "Allocation")),
              "%s: %s: the out-of-memory message is not the call's or does not say so: \"%s\"", r->dev,
              what, msg);
    if (r->watch) { /* a failed op writes nothing */
        uint8_t *now = mkt_alloc(r->watch_bytes);
        mk_status rs = mk_buffer_read(r->watch, 0, now, r->watch_bytes);
        MKT_CHECK(rs == MK_OK && memcmp(now, r->watch_copy, r->watch_bytes) == 0,
                  "%s: %s failed with MK_ERR_OUT_OF_MEMORY but changed its output", r->dev, what);
        free(now);
    }
    return 1;
}

/* One call of the sequence: an injected failure is checked and the call made once more;
   any other failure stops the run. Returns from the calling function when it stops. */
#define STEP(r, what, expr)                                                                   \
    do {                                                                                      \
        sentinel();                                                                           \
        mk_status s_ = (expr);                                                                \
        if (s_ != MK_OK && injected((r), (what), s_)) {                                       \
            sentinel();                                                                       \
            s_ = (expr);                                                                      \
        }                                                                                     \
        if (s_ != MK_OK) stop((r), (what), s_);                                               \
        if ((r)->stop) return;                                                                \
    } while (0)
#define GO(r, call)                                                                           \
    do {                                                                                      \
        call;                                                                                 \
        if ((r)->stop) return;                                                                \
    } while (0)

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001B3ull;
    return h;
}

static size_t numel(int ndim, const int64_t *shape) {
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    return n;
}

/* Host floats -> dtype bytes (rounded as the library stores them). */
static void *encode(mk_dtype t, const float *x, size_t n) {
    uint8_t *out = mkt_alloc(n * mk_dtype_size(t));
    for (size_t i = 0; i < n; i++) {
        if (t == MK_F32) memcpy(out + 4 * i, &x[i], 4);
        else if (t == MK_F16) ((uint16_t *)out)[i] = mk_f32_to_f16(x[i]);
        else ((uint16_t *)out)[i] = mk_f32_to_bf16(x[i]);
    }
    return out;
}

static void track(run *r, mk_buffer *b) {
    if (r->nbufs < MAX_BUFS) {
        r->bufs[r->nbufs++] = b;
        return;
    }
    mk_buffer_free(b);
    MKT_CHECK(0, "%s: the sequence uses more than %d buffers (raise MAX_BUFS)", r->dev, MAX_BUFS);
    r->stop = 1;
}

/* A new buffer holding `bytes` of host data, as a tensor. */
static void upload_bytes(run *r, const char *name, mk_dtype t, int ndim, const int64_t *shape,
                         const void *host, mk_tensor *out) {
    size_t bytes = numel(ndim, shape) * mk_dtype_size(t);
    mk_buffer *b = NULL;
    char what[96];
    snprintf(what, sizeof what, "mk_buffer_alloc(%s)", name);
    STEP(r, what, mk_buffer_alloc(r->ctx, bytes, &b));
    track(r, b);
    if (r->stop) return;
    snprintf(what, sizeof what, "mk_buffer_write(%s)", name);
    STEP(r, what, mk_buffer_write(b, 0, host, bytes));
    *out = mk_tensor_make(b, 0, t, ndim, shape);
}

static void upload(run *r, const char *name, mk_dtype t, int ndim, const int64_t *shape, mk_tensor *out) {
    size_t n = numel(ndim, shape);
    float *x = mkt_random(t, n, 1.0f, 4.0f);
    void *enc = encode(t, x, n);
    upload_bytes(r, name, t, ndim, shape, enc, out);
    free(enc);
    free(x);
}

/* A new output poisoned with 0xFF bytes. */
static void output(run *r, const char *name, mk_dtype t, int ndim, const int64_t *shape, mk_tensor *out) {
    size_t bytes = numel(ndim, shape) * mk_dtype_size(t);
    mk_buffer *b = NULL;
    char what[96];
    snprintf(what, sizeof what, "mk_buffer_alloc(%s)", name);
    STEP(r, what, mk_buffer_alloc(r->ctx, bytes, &b));
    track(r, b);
    if (r->stop) return;
    snprintf(what, sizeof what, "mk_buffer_fill(%s)", name);
    STEP(r, what, mk_buffer_fill(b, 0, 0xFF, bytes));
    *out = mk_tensor_make(b, 0, t, ndim, shape);
}

/* Before an op: remember its output's bytes (a failed op must leave them). */
static void watch(run *r, const mk_tensor *t) {
    free(r->watch_copy);
    r->watch = t->buf;
    r->watch_bytes = mk_buffer_size(t->buf);
    r->watch_copy = mkt_alloc(r->watch_bytes);
    STEP(r, "mk_buffer_read(snapshot)", mk_buffer_read(t->buf, 0, r->watch_copy, r->watch_bytes));
}

static void unwatch(run *r) {
    free(r->watch_copy);
    r->watch_copy = NULL;
    r->watch = NULL;
}

/* Reads an output back into the checksum; f32/f16/bf16 values must be finite (no poison). */
static void collect(run *r, const char *name, const mk_tensor *t) {
    size_t n = numel(t->ndim, t->shape), bytes = n * mk_dtype_size(t->dtype);
    uint8_t *host = mkt_alloc(bytes);
    char what[96];
    snprintf(what, sizeof what, "mk_buffer_read(%s)", name);
    sentinel();
    mk_status s = mk_buffer_read(t->buf, t->offset, host, bytes);
    if (s != MK_OK && injected(r, what, s)) s = mk_buffer_read(t->buf, t->offset, host, bytes);
    if (s != MK_OK) {
        stop(r, what, s);
        free(host);
        return;
    }
    r->hash = fnv(r->hash, host, bytes);
    if (verbose)
        printf("fault-injection: %s: %s hash %016llx\n", r->dev, name,
               (unsigned long long)fnv(0xCBF29CE484222325ull, host, bytes));
    int bad = 0;
    for (size_t i = 0; i < n && !bad; i++) {
        float v = t->dtype == MK_F32   ? ((float *)host)[i]
                  : t->dtype == MK_F16 ? mk_f16_to_f32(((uint16_t *)host)[i])
                  : t->dtype == MK_BF16 ? mk_bf16_to_f32(((uint16_t *)host)[i])
                                       : 0.0f;
        bad = !isfinite(v);
    }
    MKT_CHECK(!bad, "%s: %s has a non-finite value (unwritten output?)", r->dev, name);
    free(host);
}

/* ------------------------------------------------------------------ the sequence */

static void seq_buffers(run *r) {
    int64_t s[2] = {4, 64};
    GO(r, upload(r, "a", MK_F32, 2, s, &r->a));
    GO(r, upload(r, "b", MK_F32, 2, s, &r->b));
    mk_tensor c, w, y;
    GO(r, output(r, "c", MK_F32, 2, s, &c));
    STEP(r, "mk_buffer_copy", mk_buffer_copy(c.buf, 0, r->a.buf, 0, 64 * 4));
    STEP(r, "mk_buffer_fill", mk_buffer_fill(c.buf, 64 * 4, 0x3c, 3 * 64 * 4));
    GO(r, collect(r, "copy/fill", &c));
    int64_t sw[1] = {64};
    GO(r, upload(r, "rmsnorm w", MK_F32, 1, sw, &w));
    GO(r, watch(r, &c));
    STEP(r, "mk_add", mk_add(r->ctx, &r->a, &r->b, &c));
    unwatch(r);
    GO(r, collect(r, "add", &c));
    GO(r, output(r, "rmsnorm y", MK_F32, 2, s, &y));
    GO(r, watch(r, &y));
    STEP(r, "mk_rmsnorm", mk_rmsnorm(r->ctx, &r->a, &w, 1e-6f, 0, &y));
    unwatch(r);
    GO(r, collect(r, "rmsnorm", &y));
}

static void seq_gemm_rope(run *r) {
    int64_t sx[2] = {5, 32}, sw[2] = {24, 32}, sb[1] = {24}, sy[2] = {5, 24};
    mk_tensor x, w, bias, y;
    GO(r, upload(r, "gemm x", MK_F32, 2, sx, &x));
    GO(r, upload(r, "gemm w", MK_F32, 2, sw, &w));
    GO(r, upload(r, "gemm bias", MK_F32, 1, sb, &bias));
    GO(r, output(r, "gemm y", MK_F32, 2, sy, &y));
    GO(r, watch(r, &y));
    STEP(r, "mk_gemm", mk_gemm(r->ctx, &x, &w, &bias, &y));
    unwatch(r);
    GO(r, collect(r, "gemm", &y));

    int64_t sr[3] = {3, 2, 16}, sp[1] = {3};
    const int32_t pos[3] = {0, 7, 130};
    mk_tensor xr, tp;
    GO(r, upload(r, "rope x", MK_F32, 3, sr, &xr));
    GO(r, upload_bytes(r, "rope positions", MK_I32, 1, sp, pos, &tp));
    mk_rope_params rp = {MK_ROPE_HALF, 10000.0f, 0, MK_ROPE_SCALING_NONE, 1.0f, 1.0f, 1.0f, 0};
    GO(r, watch(r, &xr)); /* in place: a failed call must not have rotated it */
    STEP(r, "mk_rope", mk_rope(r->ctx, &xr, &tp, &rp));
    unwatch(r);
    GO(r, collect(r, "rope", &xr));
}

static void seq_attention(run *r) {
    mk_kv_cache_desc kd = {6, 4, 2, 16, MK_F16};
    STEP(r, "mk_kv_cache_create", mk_kv_cache_create(r->ctx, &kd, &r->cache));
    int64_t skv[3] = {7, 2, 16}, ss[1] = {7};
    const int32_t slots[7] = {12, 13, 14, 15, 4, 5, -1}; /* blocks 3 then 1, one padding token */
    mk_tensor k, v, sm;
    GO(r, upload(r, "append k", MK_F32, 3, skv, &k));
    GO(r, upload(r, "append v", MK_F32, 3, skv, &v));
    GO(r, upload_bytes(r, "slot_mapping", MK_I32, 1, ss, slots, &sm));
    STEP(r, "mk_kv_cache_append", mk_kv_cache_append(r->ctx, r->cache, &k, &v, &sm));
    int64_t spair[2] = {1, 2};
    const int32_t pairs[2] = {3, 5};
    mk_tensor tpair;
    GO(r, upload_bytes(r, "block pairs", MK_I32, 2, spair, pairs, &tpair));
    STEP(r, "mk_kv_cache_copy_blocks", mk_kv_cache_copy_blocks(r->ctx, r->cache, &tpair));
    uint16_t blk[2][4 * 2 * 16];
    STEP(r, "mk_kv_cache_read_block", mk_kv_cache_read_block(r->cache, 5, blk[0], blk[1], NULL, NULL));
    r->hash = fnv(r->hash, blk, sizeof blk);

    int64_t sq[3] = {2, 4, 16}, sbt[2] = {2, 2}, scl[1] = {2};
    const int32_t table[4] = {3, 1, 5, 0}, lens[2] = {6, 3};
    mk_tensor q, bt, cl, out;
    GO(r, upload(r, "decode q", MK_F32, 3, sq, &q));
    GO(r, upload_bytes(r, "block_table", MK_I32, 2, sbt, table, &bt));
    GO(r, upload_bytes(r, "context_lens", MK_I32, 1, scl, lens, &cl));
    GO(r, output(r, "decode out", MK_F32, 3, sq, &out));
    mk_attn_params ap = {0.0f, 1, 0, 0.0f};
    GO(r, watch(r, &out));
    STEP(r, "mk_attention_decode", mk_attention_decode(r->ctx, &q, r->cache, &bt, &cl, &ap, &out));
    unwatch(r);
    GO(r, collect(r, "decode", &out));

    int64_t spq[3] = {5, 4, 16}, spk[3] = {6, 2, 16}, scu[1] = {3}, slse[2] = {5, 4};
    const int32_t cuq[3] = {0, 2, 5}, cuk[3] = {0, 3, 6};
    mk_tensor pq, pk, pv, tcq, tck, pout, lse;
    GO(r, upload(r, "prefill q", MK_F32, 3, spq, &pq));
    GO(r, upload(r, "prefill k", MK_F32, 3, spk, &pk));
    GO(r, upload(r, "prefill v", MK_F32, 3, spk, &pv));
    GO(r, upload_bytes(r, "cu_seqlens_q", MK_I32, 1, scu, cuq, &tcq));
    GO(r, upload_bytes(r, "cu_seqlens_k", MK_I32, 1, scu, cuk, &tck));
    GO(r, output(r, "prefill out", MK_F32, 3, spq, &pout));
    GO(r, output(r, "prefill lse", MK_F32, 2, slse, &lse));
    GO(r, watch(r, &pout));
    STEP(r, "mk_attention_prefill", mk_attention_prefill(r->ctx, &pq, &pk, &pv, &tcq, &tck, &ap, &pout, &lse));
    unwatch(r);
    GO(r, collect(r, "prefill out", &pout));
    GO(r, collect(r, "prefill lse", &lse));

    /* the same two as plans and runs */
    const mk_decode_plan_desc dd = {2, 2, table, lens, r->cache, 4, MK_F32, ap};
    const mk_prefill_plan_desc pd = {2, cuq, cuk, 4, 2, 16, MK_F32, ap};
    mk_tensor out2, pout2;
    GO(r, output(r, "decode run out", MK_F32, 3, sq, &out2));
    GO(r, output(r, "prefill run out", MK_F32, 3, spq, &pout2));
    STEP(r, "mk_decode_plan_create", mk_decode_plan_create(r->ctx, &dd, &r->plans[0]));
    STEP(r, "mk_prefill_plan_create", mk_prefill_plan_create(r->ctx, &pd, &r->plans[1]));
    GO(r, watch(r, &out2));
    STEP(r, "mk_attention_decode_run", mk_attention_decode_run(r->ctx, r->plans[0], &q, r->cache, &out2));
    unwatch(r);
    GO(r, watch(r, &pout2));
    STEP(r, "mk_attention_prefill_run", mk_attention_prefill_run(r->ctx, r->plans[1], &pq, &pk, &pv, &pout2, NULL));
    unwatch(r);
    GO(r, collect(r, "decode run", &out2));
    GO(r, collect(r, "prefill run out", &pout2));
}

static void seq_qgemm(run *r) {
    mkref_rng rng;
    mkt_rng(&rng, 0x9e37);
    /* QW4, asymmetric, group 32 */
    mk_qweight_desc d4 = {MK_QW4, 64, 64, 32, 1};
    STEP(r, "mk_qweight_data_alloc(QW4)", mk_qweight_data_alloc(&d4, 1, 0, &r->data[0]));
    uint8_t *q = r->data[0].q, *z = r->data[0].zeros;
    uint16_t *sc = r->data[0].scales;
    for (int i = 0; i < 64 * 32; i++) q[i] = (uint8_t)(mkref_rng_u64(&rng) & 0xFF);
    for (int i = 0; i < 64 * 2; i++) {
        sc[i] = mk_f32_to_f16(0.01f + 0.001f * (float)(i % 17));
        z[i] = (uint8_t)(mkref_rng_u64(&rng) % 16);
    }
    STEP(r, "mk_qweight_create(QW4)", mk_qweight_create(r->ctx, &d4, &r->data[0], &r->qw[0]));
    int64_t sx[2] = {3, 64}, sy[2] = {3, 64};
    mk_tensor x, y;
    GO(r, upload(r, "qgemm x", MK_F16, 2, sx, &x));
    GO(r, output(r, "qgemm y", MK_F16, 2, sy, &y));
    GO(r, watch(r, &y));
    STEP(r, "mk_qgemm(QW4)", mk_qgemm(r->ctx, &x, r->qw[0], NULL, &y));
    unwatch(r);
    GO(r, collect(r, "qgemm QW4", &y));
    STEP(r, "mk_qweight_data_alloc(read-back)", mk_qweight_data_alloc(&d4, 1, 0, &r->data[1]));
    STEP(r, "mk_qweight_read", mk_qweight_read(r->qw[0], &r->data[1]));
    MKT_CHECK(memcmp(r->data[1].q, q, 64 * 32) == 0 && memcmp(r->data[1].scales, sc, 64 * 2 * 2) == 0 &&
                  memcmp(r->data[1].zeros, z, 64 * 2) == 0,
              "%s: mk_qweight_read does not give back the packed QW4 weight", r->dev);

    /* QW8A8: activations quantized per token on the device (scratch on OpenCL) */
    mk_qweight_desc d8 = {MK_QW8A8, 64, 64, 0, 0};
    STEP(r, "mk_qweight_data_alloc(QW8A8)", mk_qweight_data_alloc(&d8, 0, 0, &r->data[2]));
    int8_t *q8 = r->data[2].q;
    float *s8 = r->data[2].scales;
    for (int i = 0; i < 64 * 64; i++) q8[i] = (int8_t)((int)(mkref_rng_u64(&rng) % 255) - 127);
    for (int i = 0; i < 64; i++) s8[i] = 0.002f + 0.0001f * (float)i;
    STEP(r, "mk_qweight_create(QW8A8)", mk_qweight_create(r->ctx, &d8, &r->data[2], &r->qw[1]));
    int64_t sx8[2] = {2, 64};
    mk_tensor x8, y8;
    GO(r, upload(r, "qgemm8 x", MK_F16, 2, sx8, &x8));
    GO(r, output(r, "qgemm8 y", MK_F16, 2, sx8, &y8));
    GO(r, watch(r, &y8));
    STEP(r, "mk_qgemm(QW8A8)", mk_qgemm(r->ctx, &x8, r->qw[1], NULL, &y8));
    unwatch(r);
    GO(r, collect(r, "qgemm QW8A8", &y8));

    /* a GGUF Q8_0 import (host only) */
    uint8_t blocks[2 * 34];
    for (int b = 0; b < 2; b++) {
        uint16_t dh = mk_f32_to_f16(0.05f * (float)(b + 1));
        memcpy(blocks + 34 * b, &dh, 2);
        for (int i = 0; i < 32; i++) blocks[34 * b + 2 + i] = (uint8_t)(mkref_rng_u64(&rng) & 0xFF);
    }
    mk_qweight_desc dg;
    STEP(r, "mk_import_gguf", mk_import_gguf(MK_GGUF_Q8_0, blocks, sizeof blocks, 2, 32, &dg, &r->imported));
    r->hash = fnv(r->hash, r->imported.q, 2 * 32);
    r->hash = fnv(r->hash, r->imported.scales, 2 * 2);
}

static void seq_events(run *r) {
    STEP(r, "mk_event_create(start)", mk_event_create(r->ctx, &r->ev[0]));
    STEP(r, "mk_event_create(end)", mk_event_create(r->ctx, &r->ev[1]));
    STEP(r, "mk_event_record(start)", mk_event_record(r->ev[0]));
    STEP(r, "mk_add(timed)", mk_add(r->ctx, &r->a, &r->b, &r->b));
    STEP(r, "mk_event_record(end)", mk_event_record(r->ev[1]));
    float ms = -1.0f;
    STEP(r, "mk_event_elapsed_ms", mk_event_elapsed_ms(r->ev[0], r->ev[1], &ms));
    MKT_CHECK(ms >= 0.0f, "%s: elapsed %g ms", r->dev, ms);
    STEP(r, "mk_synchronize", mk_synchronize(r->ctx));
    GO(r, collect(r, "add in place", &r->b));
}

/* The context is still usable: a fresh add on new buffers, checked against the host. */
static void seq_usable(run *r, mk_context *ctx) {
    float x[37], y[37], z[37];
    for (int i = 0; i < 37; i++) x[i] = 0.25f * (float)i - 3.0f, y[i] = 1.5f + (float)i;
    int64_t s[1] = {37};
    mk_tensor tx, ty, tz;
    mk_context *saved = r->ctx;
    r->ctx = ctx;
    upload_bytes(r, "usable x", MK_F32, 1, s, x, &tx);
    if (!r->stop) upload_bytes(r, "usable y", MK_F32, 1, s, y, &ty);
    if (!r->stop) output(r, "usable z", MK_F32, 1, s, &tz);
    r->ctx = saved;
    if (r->stop) return;
    STEP(r, "mk_add(usable)", mk_add(ctx, &tx, &ty, &tz));
    STEP(r, "mk_buffer_read(usable)", mk_buffer_read(tz.buf, 0, z, sizeof z));
    int ok = 1;
    for (int i = 0; i < 37; i++) ok &= z[i] == x[i] + y[i];
    MKT_CHECK(ok, "%s: an add after the failures gives wrong results", r->dev);
}

static void release(run *r) {
    for (int i = 0; i < r->nbufs; i++) mk_buffer_free(r->bufs[i]);
    r->nbufs = 0;
    mk_plan_destroy(r->plans[0]);
    mk_plan_destroy(r->plans[1]);
    r->plans[0] = r->plans[1] = NULL;
    mk_kv_cache_destroy(r->cache);
    mk_qweight_destroy(r->qw[0]);
    mk_qweight_destroy(r->qw[1]);
    mk_event_destroy(r->ev[0]);
    mk_event_destroy(r->ev[1]);
    for (int i = 0; i < 3; i++) mk_qweight_data_free(&r->data[i]);
    mk_qweight_data_free(&r->imported);
    r->cache = NULL;
    r->qw[0] = r->qw[1] = NULL;
    r->ev[0] = r->ev[1] = NULL;
    unwatch(r);
}

static void open_context(run *r) { STEP(r, "mk_context_create", mk_context_create(r->dev, &r->ctx)); }

static void run_device(const char *dev, int lost_mode, int fault_mode) {
    run r;
    memset(&r, 0, sizeof r);
    r.dev = dev;
    r.lost_mode = lost_mode;
    r.fault_mode = fault_mode;
    r.hash = 0xCBF29CE484222325ull;
    open_context(&r);
    if (!r.stop) seq_buffers(&r);
    if (!r.stop) seq_gemm_rope(&r);
    if (!r.stop) seq_attention(&r);
    if (!r.stop) seq_qgemm(&r);
    if (!r.stop) seq_events(&r);
    if (!r.stop) seq_usable(&r, r.ctx);
    int completed = !r.stop;
    release(&r);
    mk_context_destroy(r.ctx);
    r.ctx = NULL;
    if (r.lost) {
        /* the process goes on: a new context on the same device works */
        mk_context *fresh = NULL;
        r.stop = 0;
        r.lost = 0;
        r.lost_mode = 0;
        mk_status s = mk_context_create(dev, &fresh);
        MKT_CHECK(s == MK_OK, "%s: a new context after the device was lost: %s: %s", dev,
                  mk_status_string(s), mk_last_error());
        if (s == MK_OK) {
            seq_usable(&r, fresh);
            release(&r);
            mk_context_destroy(fresh);
            if (!r.stop) printf("fault-injection: %s: recovered with a new context\n", dev);
        }
    }
    if (completed) printf("fault-injection: %s: checksum %016llx\n", dev, (unsigned long long)r.hash);
    printf("fault-injection: %s: surfaced %d\n", dev, r.surfaced);
}

static int knob(const char *name) {
    const char *v = getenv(name);
    return v && *v;
}

int main(int argc, char **argv) {
    mkt_init(argc, argv, "test_fault_injection");
    int lost_mode = knob("MEDKERN_FAULT_DEVICE_LOST");
    int fault_mode = knob("MEDKERN_FAULT_HOST_ALLOC") || knob("MEDKERN_FAULT_DEVICE_ALLOC");
    char devs[16][32];
    int n = 0, list = 0;
    for (int i = 1; i < argc && n < 16; i++) {
        if (strcmp(argv[i], "--seed") == 0) {
            i++;
            continue;
        }
        if (strcmp(argv[i], "--list") == 0 || strcmp(argv[i], "--verbose") == 0) {
            list |= argv[i][2] == 'l';
            verbose |= argv[i][2] == 'v';
            continue;
        }
        snprintf(devs[n++], 32, "%s", argv[i]);
    }
    if (n == 0) {
        n = mkt_devices("ref", devs, 16);
        n += mkt_devices("opencl", devs + n, 16 - n);
        n += mkt_devices("cuda", devs + n, 16 - n);
    }
    if (list) {
        for (int i = 0; i < n; i++) printf("%s\n", devs[i]);
        return 0;
    }
    for (int i = 0; i < n; i++) run_device(devs[i], lost_mode, fault_mode);
    fflush(stdout);
    return mkt_finish();
}
