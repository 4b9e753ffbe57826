/*
 * bench_roofline: the decode-time memory-bound ops beside the host's memory ceiling and
 * the reference, in one process, so that their ratios come from one run:
 *   host_read/threads:N/MiB:S                                the STREAM-like host read
 *                                                            (mkb_host_read; N = host
 *                                                            cores, S as bench_memory)
 *   qgemm/w4g32/M:1/N:4096/K:14336/{ref,device}              W4 group-32 GEMV: one token
 *                                                            through Llama-3-8B's MLP down
 *                                                            projection
 *   attention_decode/kv:f16/B:1/Hq:8/Hkv:8/D:128/ctx:8192/{ref,device}
 *                                                            decode attention over an f16
 *                                                            paged cache (blocks of 16,
 *                                                            shuffled)
 * "/ref" runs on a reference context opened beside the run's device (host timer: the
 * reference is synchronous); "/device" on --device, timed with device events. Each
 * /device entry adds two counters:
 *   frac_host_read  its bytes per second over the best host_read of this run
 *   speedup_vs_ref  the best time per iteration of its /ref entry over its own time
 * (only when those entries ran earlier in the same process: they are registered first,
 * keep them in any --benchmark_filter). Bytes are the minimum the op moves, as in
 * bench_ops: GEMV codes, f16 scales, x and y; decode K and V of the context, q and out.
 * --shapes small: N = 512, K = 1024, ctx 512, a 64 MiB host array (smoke runs).
 * --cold rotates the /device inputs through as many sets as make up the host_read array
 * (at least 4x the LLC, as STREAM asks), so that they come from memory as host_read's
 * do; without it every iteration reads the same weight or cache (~33 MB each in the full
 * set), which a large last-level cache may hold.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mkbench.h"

enum { OP_GEMV, OP_DECODE, BLOCK = 16, HQ = 8, HKV = 8, HEAD_DIM = 128, GROUP = 32, MAX_SETS = 64 };

typedef struct {
    int op, on_ref;
    int n, k, ctx; /* GEMV N, K; decode context */
} rcase;

typedef struct {
    int threads;
    size_t bytes;
} read_case;

static double g_host_gbs;    /* best host_read of this run (GB/s)            */
static double g_ref_s[2];    /* best time per iteration of each /ref entry   */
static mk_context *g_ref;    /* the reference context beside the run's device */

/* One input set. */
typedef struct {
    mk_buffer *buf[6];
    int nbuf;
    mk_qweight *qw;
    mk_kv_cache *cache;
    mk_plan *plan;     /* decode: the step's plan (made once, untimed) */
    mk_tensor x, y, q, out;
} inputs;

static void inputs_free(mk_context *ctx, inputs *in) {
    mk_synchronize(ctx);
    for (int i = 0; i < in->nbuf; i++) mk_buffer_free(in->buf[i]);
    mk_qweight_destroy(in->qw);
    mk_plan_destroy(in->plan);
    mk_kv_cache_destroy(in->cache);
    memset(in, 0, sizeof *in);
}

static int random_tensor(mkb_state *st, mk_context *ctx, inputs *in, mk_tensor *t, int ndim,
                         const int64_t *shape, uint64_t seed) {
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    mk_buffer *b = mkb_random_buffer_on(st, ctx, MK_F16, n, 1.0f, seed);
    if (!b) return 0;
    in->buf[in->nbuf++] = b;
    *t = mk_tensor_make(b, 0, MK_F16, ndim, shape);
    return 1;
}

static int i32_tensor(mkb_state *st, mk_context *ctx, inputs *in, mk_tensor *t, int ndim,
                      const int64_t *shape, const int32_t *v) {
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    mk_buffer *b = mkb_i32_buffer_on(st, ctx, v, n);
    if (!b) return 0;
    in->buf[in->nbuf++] = b;
    *t = mk_tensor_make(b, 0, MK_I32, ndim, shape);
    return 1;
}

static int setup_gemv(mkb_state *st, mk_context *ctx, const rcase *c, inputs *in, uint64_t seed) {
    mk_qweight_desc d = {MK_QW4, c->n, c->k, GROUP, 0};
    mk_qweight_data data;
    if (!mkb_check(st, mk_qweight_data_alloc(&d, 0, 0, &data), "mk_qweight_data_alloc")) return 0;
    mkb_fill_host(MK_U8, data.q, (size_t)c->n * (size_t)c->k / 2, 1, seed);
    mkb_fill_host(MK_F16, data.scales, (size_t)c->n * (size_t)(c->k / GROUP), 0.01f, seed + 1);
    mk_status s = mk_qweight_create(ctx, &d, &data, &in->qw);
    mk_qweight_data_free(&data);
    int64_t xs[2] = {1, c->k}, ys[2] = {1, c->n};
    return mkb_check(st, s, "mk_qweight_create") && random_tensor(st, ctx, in, &in->x, 2, xs, seed + 2) &&
           random_tensor(st, ctx, in, &in->y, 2, ys, seed + 3);
}

/* A cache of ctx tokens (every slot appended) for one sequence, the decode plan of its
   block table in a shuffled order, q and out. */
static int setup_decode(mkb_state *st, mk_context *ctx, const rcase *c, inputs *in, uint64_t seed) {
    int64_t blocks = (c->ctx + BLOCK - 1) / BLOCK, slots = blocks * BLOCK;
    mk_kv_cache_desc d = {blocks, BLOCK, HKV, HEAD_DIM, MK_F16};
    if (!mkb_check(st, mk_kv_cache_create(ctx, &d, &in->cache), "mk_kv_cache_create")) return 0;
    int64_t chunk = slots < 4096 ? slots : 4096;
    int32_t *v = malloc((size_t)(chunk > blocks ? chunk : blocks) * sizeof *v);
    if (!v) {
        mkb_fail(st, "out of host memory");
        return 0;
    }
    inputs tmp = {0};
    int64_t ks[3] = {chunk, HKV, HEAD_DIM}, ms[1] = {chunk};
    mk_tensor k, val, map;
    for (int64_t i = 0; i < chunk; i++) v[i] = (int32_t)i;
    int ok = random_tensor(st, ctx, &tmp, &k, 3, ks, seed) && random_tensor(st, ctx, &tmp, &val, 3, ks, seed + 1) &&
             i32_tensor(st, ctx, &tmp, &map, 1, ms, v);
    for (int64_t first = 0; ok && first < slots; first += chunk) {
        for (int64_t i = 0; i < chunk; i++) v[i] = (int32_t)(first + i < slots ? first + i : -1);
        ok = mkb_check(st, mk_synchronize(ctx), "mk_synchronize") &&
             mkb_check(st, mk_buffer_write(map.buf, 0, v, (size_t)chunk * sizeof *v), "mk_buffer_write") &&
             mkb_check(st, mk_kv_cache_append(ctx, in->cache, &k, &val, &map), "kv cache fill");
    }
    inputs_free(ctx, &tmp);
    uint64_t h = seed * 0x9E3779B97F4A7C15ull + 1; /* shuffled pages, as a real pool */
    for (int64_t i = 0; i < blocks; i++) v[i] = (int32_t)i;
    for (int64_t i = blocks - 1; i > 0; i--) {
        h ^= h << 13, h ^= h >> 7, h ^= h << 17;
        int64_t j = (int64_t)(h % (uint64_t)(i + 1));
        int32_t t = v[i];
        v[i] = v[j], v[j] = t;
    }
    int32_t len = c->ctx;
    int64_t qs[3] = {1, HQ, HEAD_DIM};
    ok = ok && random_tensor(st, ctx, in, &in->q, 3, qs, seed + 2) && random_tensor(st, ctx, in, &in->out, 3, qs, seed + 3);
    if (ok) {
        const mk_attn_params p = {0, 1, 0, 0};
        const mk_decode_plan_desc pd = {1, blocks, v, &len, in->cache, HQ, MK_F16, p};
        ok = mkb_check(st, mk_decode_plan_create(ctx, &pd, &in->plan), "mk_decode_plan_create");
    }
    free(v);
    return ok;
}

static double bytes_of(const rcase *c) {
    if (c->op == OP_GEMV)
        return (double)c->n * c->k / 2 + (double)c->n * (c->k / GROUP) * 2 + 2.0 * c->k + 2.0 * c->n;
    return 2.0 * c->ctx * HKV * HEAD_DIM * 2 + 2.0 * HQ * HEAD_DIM * 2;
}

static double flops_of(const rcase *c) {
    return c->op == OP_GEMV ? 2.0 * c->n * c->k : 4.0 * c->ctx * HQ * HEAD_DIM;
}

static mk_status run(mk_context *ctx, const rcase *c, inputs *in) {
    if (c->op == OP_GEMV) return mk_qgemm(ctx, &in->x, in->qw, NULL, &in->y);
    return mk_attention_decode_run(ctx, in->plan, &in->q, in->cache, &in->out);
}

static void bench_op(mkb_state *st, const void *arg) {
    const rcase *c = arg;
    if (c->on_ref && !g_ref && !mkb_check(st, mk_context_create("ref", &g_ref), "mk_context_create(ref)"))
        return;
    mk_context *ctx = c->on_ref ? g_ref : mkb_context();
    double bytes = bytes_of(c);
    int nsets = 1;
    if (!c->on_ref && mkb_cold()) { /* the host_read array's size (and one more set) */
        double n = (double)mkb_host_read_bytes(mkb_full()) / bytes + 1;
        nsets = n > MAX_SETS ? MAX_SETS : (int)n;
    }
    inputs *in = calloc((size_t)nsets, sizeof *in);
    if (!in) {
        mkb_fail(st, "out of host memory");
        return;
    }
    int ok = 1;
    for (int i = 0; ok && i < nsets; i++)
        ok = c->op == OP_GEMV ? setup_gemv(st, ctx, c, &in[i], 100 + 10 * (uint64_t)i)
                              : setup_decode(st, ctx, c, &in[i], 100 + 10 * (uint64_t)i);
    if (ok && mkb_check(st, run(ctx, c, &in[0]), "warm-up") && mkb_check(st, mk_synchronize(ctx), "mk_synchronize")) {
        char label[128];
        if (c->op == OP_GEMV) snprintf(label, sizeof label, "M=1 N=%d K=%d group=%d", c->n, c->k, GROUP);
        else snprintf(label, sizeof label, "B=1 Hq=%d Hkv=%d D=%d ctx=%d f16 cache", HQ, HKV, HEAD_DIM, c->ctx);
        if (nsets > 1) snprintf(label + strlen(label), sizeof label - strlen(label), " sets=%d", nsets);
        mkb_label(st, label);
        if (!c->on_ref) mkb_set_op(st, c->op == OP_GEMV ? MK_OP_QGEMM : MK_OP_ATTENTION_DECODE);
        mkb_set_bytes(st, bytes);
        mkb_set_flops(st, flops_of(c));
        while (mkb_next(st)) {
            if (!mkb_check(st, run(ctx, c, &in[mkb_iter(st) % nsets]), c->op == OP_GEMV ? "mk_qgemm" : "mk_attention_decode"))
                continue;
            if (c->on_ref) mkb_check(st, mk_synchronize(ctx), "mk_synchronize");
        }
        double spi = mkb_seconds_per_iter(st);
        if (spi > 0 && c->on_ref && (g_ref_s[c->op] == 0 || spi < g_ref_s[c->op])) g_ref_s[c->op] = spi;
        if (spi > 0 && !c->on_ref) {
            if (g_host_gbs > 0) mkb_counter(st, "frac_host_read", bytes / spi / 1e9 / g_host_gbs);
            if (g_ref_s[c->op] > 0) mkb_counter(st, "speedup_vs_ref", g_ref_s[c->op] / spi);
        }
    }
    for (int i = 0; i < nsets; i++) inputs_free(ctx, &in[i]);
    free(in);
}

static void bench_read(mkb_state *st, const void *arg) {
    const read_case *c = arg;
    mkb_host_read(st, c->threads, c->bytes);
    double spi = mkb_seconds_per_iter(st);
    if (spi > 0 && (double)c->bytes / spi / 1e9 > g_host_gbs) g_host_gbs = (double)c->bytes / spi / 1e9;
}

static void reg(void) {
    char name[128];
    int full = mkb_full();
    read_case rc = {mkb_host_cores(), mkb_host_read_bytes(full)};
    if (rc.threads > 64) rc.threads = 64;
    snprintf(name, sizeof name, "host_read/threads:%d/MiB:%zu", rc.threads, rc.bytes >> 20);
    mkb_register(name, bench_read, &rc, sizeof rc, MKB_HOST_TIMER);
    int n = full ? 4096 : 512, k = full ? 14336 : 1024, ctx = full ? 8192 : 512;
    for (int op = OP_GEMV; op <= OP_DECODE; op++)
        for (int on_ref = 1; on_ref >= 0; on_ref--) {
            rcase c = {op, on_ref, n, k, ctx};
            if (op == OP_GEMV) snprintf(name, sizeof name, "qgemm/w4g32/M:1/N:%d/K:%d/%s", n, k, on_ref ? "ref" : "device");
            else
                snprintf(name, sizeof name, "attention_decode/kv:f16/B:1/Hq:%d/Hkv:%d/D:%d/ctx:%d/%s", HQ, HKV,
                         HEAD_DIM, ctx, on_ref ? "ref" : "device");
            mkb_register(name, bench_op, &c, sizeof c, on_ref ? MKB_HOST_TIMER : 0);
        }
}

int main(int argc, char **argv) {
    int rc = mkb_main(argc, argv, reg);
    mk_context_destroy(g_ref);
    mkb_host_read_release();
    return rc;
}
