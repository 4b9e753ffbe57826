/*
 * bench_cuda_attention: medkern's attention and KV-cache kernels on one CUDA GPU beside what
 * cuBLAS and the copy engine reach on the same GPU, measured in the same run (the anchors:
 * mkb_cuda.cu). CUDA only: without a CUDA device, or with --device naming another backend,
 * it runs nothing and exits 77 (ctest's skip).
 *
 * Entries (in this order: the anchors first, so the others relate to them):
 *   anchor/cublas_gemm/bf16/M:8192/N:8192/K:8192   cublasGemmEx, bf16 in and out, f32
 *                                                  accumulation, random inputs
 *   anchor/d2d_copy/MiB:1024                       cudaMemcpyAsync device to device
 *   prefill/<bf16|f16>/D:<64|128|256>/<causal|full>/S:<512..16384>
 *       mk_prefill_plan_create (untimed) + mk_attention_prefill_run; FlashAttention's
 *       benchmark shapes: 16384 tokens (B = 16384 / S sequences of S), Hq = Hkv = 2048 / D,
 *       packed [T, H, D], lse NULL
 *   decode/kv:<bf16|i8>/Hq:32/Hkv:<8|32>/B:<1..256>/ctx:<512..32768>
 *       mk_decode_plan_create (untimed) + mk_attention_decode_run; D = 128, q and out bf16,
 *       pages of 16 tokens scattered over the pool, every sequence `ctx` long; B * ctx is at
 *       most 2^20 tokens
 *   kv_append/kv:<bf16|i8>/Hkv:<8|32>/T:<256|4096|65536>
 *       mk_kv_append_plan_create (untimed) + mk_kv_cache_append_run; k, v bf16 [T, Hkv, 128]
 *       into T consecutive slots
 * --shapes small: two prefill lengths at D 128, a few decode and append cases.
 *
 * Timing: every iteration of the Google Benchmark loop is timed with an mk_event pair on the
 * context's stream (the anchors enqueue on that same stream, mk_context_native_queue), after
 * one untimed warm-up run; the counters come from the median iteration (the shim's
 * mkb_median_seconds). The cuBLAS attention of each prefill entry is measured in the same
 * entry after medkern's loop (its buffers freed first), once per entry: one warm-up, then at
 * least 3 and at most 10 timed runs (no more once past 1 s), median; the GEMM and copy
 * anchors are their own entries (their median), or measured at first use. A small call's
 * time includes its launch (the GPU is idle between iterations: each one waits for its end
 * event), as a step that is not captured in a CUDA graph sees it.
 *
 * Counters (besides Google Benchmark's own and the shim's bytes/flop_per_second):
 *   ms                        the median iteration, milliseconds
 *   tflops                    prefill and the GEMM anchor: FLOP / median time / 1e12, FLOP
 *                             by FlashAttention's formula 4 B S^2 H D, halved when causal
 *                             (the GEMM: 2 M N K)
 *   cublas_gemm_tflops        the GEMM anchor's tflops (measured once a run, first use)
 *   vs_cublas_gemm            tflops / cublas_gemm_tflops
 *   cublas_attention_tflops   the attention built from cuBLAS at the same shape and dtype
 *                             (batched GEMM Q K^T, softmax kernel, batched GEMM P V; it
 *                             computes every score even when causal), same FLOP formula
 *   cublas_attention_ms       its median run
 *   vs_cublas_attention       tflops / cublas_attention_tflops (> 1: medkern is faster)
 *   gbs                       decode, append and the copy anchor: bytes / median time / 1e9;
 *                             decode: the K and V it must read (B ctx Hkv D per cache
 *                             element, plus the f32 scale per token and head of an i8 cache)
 *                             + q + out; append: k and v read, K and V (and scales) written,
 *                             the slots read; copy: read + write (2 x 1 GiB)
 *   copy_gbs                  the copy anchor's gbs (measured once a run, first use)
 *   vs_copy                   gbs / copy_gbs
 * Run time of the full set on an H100: an estimate (not yet measured on one) of 3-4 minutes:
 * 126 entries of 0.5 s of timed iterations each (Google Benchmark's default min time; the
 * waits between small iterations add to it), the cuBLAS attentions (up to ~0.4 s an entry
 * at S = 16384) and the cache fills of the decode entries (up to 16 GiB, Hkv 32, B 256).
 * Peak device memory: about 17 GiB (that decode entry); an entry that would need more than
 * 60 % of the device's memory is skipped with the reason.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mkb_cuda.h"
#include "mkbench.h"

enum { K_GEMM, K_COPY, K_PREFILL, K_DECODE, K_APPEND };
enum { BLOCK = 16, GEMM_N = 8192, DECODE_D = 128, DECODE_HQ = 32, PREFILL_TOKENS = 16384,
       PREFILL_WIDTH = 2048, FILL_CHUNK = 32768 };
#define COPY_BYTES ((size_t)1 << 30)

typedef struct {
    int kind;
    mk_dtype dt;     /* prefill: q/k/v/out; decode, append: the cache */
    int causal;      /* prefill */
    int seq, dim;    /* prefill S, D */
    int batch, hkv, ctx; /* decode B, Hkv, context; append: hkv and ctx = T */
    int id;          /* registration index (g_attn_s) */
} bcase;

static mkbc *g_cuda;          /* cuBLAS handle on the context's stream */
static int g_not_cuda;        /* the device is no CUDA device: nothing registered */
static double g_gemm_tflops;  /* the anchors, once measured */
static double g_copy_gbs;
/* Each prefill entry's cuBLAS attention, measured in its first run only: Google Benchmark
   calls an entry several times while it finds the iteration count. */
enum { MAX_CASES = 256 };
static double g_attn_s[MAX_CASES];
static int g_ncases;

/* ------------------------------------------------------------ timing */

static int anchor_gemm(void *o, char *why, size_t n) { return mkbc_gemm_run(o, why, n); }
static int anchor_copy(void *o, char *why, size_t n) { return mkbc_copy_run(o, why, n); }
static int anchor_attn(void *o, char *why, size_t n) { return mkbc_attn_run(o, why, n); }

/* The GEMM anchor (gemm = 1) or the copy anchor, made on the context's stream; NULL on
   failure (the benchmark has been failed). */
static void *anchor_create(mkb_state *st, int gemm, mkb_run_fn *fn) {
    char why[256] = "";
    void *obj = NULL;
    int err = gemm ? mkbc_gemm_create(g_cuda, GEMM_N, (mkbc_gemm **)&obj, why, sizeof why)
                   : mkbc_copy_create(g_cuda, COPY_BYTES, (mkbc_copy **)&obj, why, sizeof why);
    *fn = gemm ? anchor_gemm : anchor_copy;
    if (err) mkb_fail(st, why);
    return err ? NULL : obj;
}

static void anchor_destroy(int gemm, void *obj) {
    if (gemm) mkbc_gemm_destroy(obj);
    else mkbc_copy_destroy(obj);
}

/* An anchor's rate from the seconds of one run: TFLOP/s (GEMM), GB/s read + write (copy). */
static double anchor_rate(int gemm, double s) {
    return gemm ? 2.0 * GEMM_N * (double)GEMM_N * GEMM_N / s / 1e12 : 2.0 * (double)COPY_BYTES / s / 1e9;
}

/* The anchors for the ratios: measured by their own entries, or here at first use (when a
   --benchmark_filter left those out). 0 on failure. */
static double anchor(mkb_state *st, int gemm) {
    double *v = gemm ? &g_gemm_tflops : &g_copy_gbs;
    if (*v > 0) return *v;
    mkb_run_fn fn;
    void *obj = anchor_create(st, gemm, &fn);
    if (!obj) return 0;
    const double s = mkb_median_run_seconds(st, fn, obj, 5, 20, 0.5);
    anchor_destroy(gemm, obj);
    if (s > 0) *v = anchor_rate(gemm, s);
    return *v;
}

/* Skips (and returns 0) when the entry would hold more than 60 % of the device memory. */
static int fits(mkb_state *st, double bytes) {
    double mem = (double)mkb_device()->memory_bytes;
    if (mem <= 0 || bytes <= 0.6 * mem) return 1;
    char why[160];
    snprintf(why, sizeof why, "needs %.1f GiB of the device's %.1f GiB", bytes / 1073741824.0,
             mem / 1073741824.0);
    mkb_skip(st, why);
    return 0;
}

/* ------------------------------------------------------------ anchors */

static void bench_anchor(mkb_state *st, const void *arg) {
    const bcase *c = arg;
    const int gemm = c->kind == K_GEMM;
    char why[256] = "";
    mkb_run_fn fn;
    void *obj = anchor_create(st, gemm, &fn);
    if (!obj) return;
    if (fn(obj, why, sizeof why) == 0) { /* warm-up */
        if (gemm) mkb_set_flops(st, 2.0 * GEMM_N * (double)GEMM_N * GEMM_N);
        else mkb_set_bytes(st, 2.0 * (double)COPY_BYTES);
        while (mkb_next(st))
            if (fn(obj, why, sizeof why)) {
                mkb_fail(st, why);
                break;
            }
        const double s = mkb_median_seconds(st);
        if (s > 0) {
            double *v = gemm ? &g_gemm_tflops : &g_copy_gbs;
            *v = anchor_rate(gemm, s);
            mkb_counter(st, "ms", s * 1e3);
            mkb_counter(st, gemm ? "tflops" : "gbs", *v);
        }
    } else {
        mkb_fail(st, why);
    }
    anchor_destroy(gemm, obj);
}

/* ------------------------------------------------------------ medkern entries */

typedef struct {
    mk_buffer *buf[8];
    int nbuf;
    mk_plan *plan;
    mk_kv_cache *cache;
} held;

static void held_free(held *h) {
    mk_synchronize(mkb_context());
    mk_plan_destroy(h->plan);
    mk_kv_cache_destroy(h->cache);
    for (int i = 0; i < h->nbuf; i++) mk_buffer_free(h->buf[i]);
}

/* A random tensor [d0, d1, d2] of dtype t; 0 on failure. */
static int rnd3(mkb_state *st, held *h, mk_tensor *t, mk_dtype dt, int64_t d0, int64_t d1, int64_t d2) {
    const int64_t shape[3] = {d0, d1, d2};
    mk_buffer *b = mkb_random_buffer(st, dt, (size_t)(d0 * d1 * d2), 1.0f, (uint64_t)h->nbuf + 7);
    if (!b) return 0;
    h->buf[h->nbuf++] = b;
    *t = mk_tensor_make(b, 0, dt, 3, shape);
    return 1;
}

static void bench_prefill(mkb_state *st, const void *arg) {
    const bcase *c = arg;
    const int S = c->seq, D = c->dim, H = PREFILL_WIDTH / D, B = PREFILL_TOKENS / S;
    const int64_t T = (int64_t)B * S;
    const double flops = 4.0 * B * (double)S * S * H * D / (c->causal ? 2 : 1);
    const double io = 4.0 * (double)T * H * D * 2;
    held h;
    memset(&h, 0, sizeof h);
    mk_tensor q, k, v, o;
    int32_t *cu = malloc((size_t)(B + 1) * sizeof *cu);
    if (!cu) {
        mkb_fail(st, "out of host memory");
        return;
    }
    for (int b = 0; b <= B; b++) cu[b] = b * S;
    const mk_prefill_plan_desc pd = {B, cu, cu, H, H, D, c->dt, {0, c->causal, 0, 0}};
    int ok = fits(st, io + (double)((size_t)1 << 30)) && rnd3(st, &h, &q, c->dt, T, H, D) &&
             rnd3(st, &h, &k, c->dt, T, H, D) && rnd3(st, &h, &v, c->dt, T, H, D) &&
             rnd3(st, &h, &o, c->dt, T, H, D) &&
             mkb_check(st, mk_prefill_plan_create(mkb_context(), &pd, &h.plan), "mk_prefill_plan_create") &&
             mkb_check(st, mk_attention_prefill_run(mkb_context(), h.plan, &q, &k, &v, &o, NULL),
                       "mk_attention_prefill_run"); /* warm-up, and whether it is supported */
    free(cu);
    if (ok) {
        char label[96];
        snprintf(label, sizeof label, "B=%d S=%d H=%d D=%d%s", B, S, H, D, c->causal ? " causal" : "");
        mkb_label(st, label);
        mkb_set_op(st, MK_OP_ATTENTION_PREFILL);
        mkb_set_flops(st, flops);
        mkb_set_bytes(st, io);
        while (mkb_next(st))
            if (!mkb_check(st, mk_attention_prefill_run(mkb_context(), h.plan, &q, &k, &v, &o, NULL),
                           "mk_attention_prefill_run"))
                break;
    }
    const double s = ok ? mkb_median_seconds(st) : 0;
    held_free(&h); /* before the anchor's buffers are made */
    if (s <= 0) return;
    const double tflops = flops / s / 1e12;
    mkb_counter(st, "ms", s * 1e3);
    mkb_counter(st, "tflops", tflops);
    if (g_attn_s[c->id] <= 0) {
        char why[256] = "";
        mkbc_attn *a = NULL;
        if (mkbc_attn_create(g_cuda, c->dt == MK_BF16, B, S, H, D, c->causal, &a, why, sizeof why)) {
            mkb_fail(st, why);
            return;
        }
        g_attn_s[c->id] = mkb_median_run_seconds(st, anchor_attn, a, 3, 10, 1.0);
        mkbc_attn_destroy(a);
    }
    const double sa = g_attn_s[c->id], gemm = anchor(st, 1);
    if (sa > 0) {
        mkb_counter(st, "cublas_attention_ms", sa * 1e3);
        mkb_counter(st, "cublas_attention_tflops", flops / sa / 1e12);
        mkb_counter(st, "vs_cublas_attention", tflops / (flops / sa / 1e12));
    }
    if (gemm > 0) {
        mkb_counter(st, "cublas_gemm_tflops", gemm);
        mkb_counter(st, "vs_cublas_gemm", tflops / gemm);
    }
}

static double entry_bytes(mk_dtype kv, int D) {
    return (double)D * (double)mk_dtype_size(kv) + (kv == MK_I8 || kv == MK_FP8_E4M3 ? 4 : 0);
}

/* Writes every slot of `cache` (slots in [0, nslots)) from random bf16 k, v, FILL_CHUNK tokens
   at a time. */
static int fill_cache(mkb_state *st, held *h, mk_kv_cache *cache, int hkv, int D, int64_t nslots) {
    mk_context *ctx = mkb_context();
    const int64_t chunk = nslots < FILL_CHUNK ? nslots : FILL_CHUNK;
    mk_tensor k, v;
    int32_t *ids = malloc((size_t)chunk * sizeof *ids);
    mk_buffer *mb = NULL;
    if (!ids) {
        mkb_fail(st, "out of host memory");
        return 0;
    }
    int ok = rnd3(st, h, &k, MK_BF16, chunk, hkv, D) && rnd3(st, h, &v, MK_BF16, chunk, hkv, D) &&
             mkb_check(st, mk_buffer_alloc(ctx, (size_t)chunk * sizeof *ids, &mb), "mk_buffer_alloc");
    if (mb) h->buf[h->nbuf++] = mb;
    for (int64_t first = 0; ok && first < nslots; first += chunk) {
        const int64_t m = nslots - first < chunk ? nslots - first : chunk, sshape[1] = {m};
        for (int64_t i = 0; i < m; i++) ids[i] = (int32_t)(first + i);
        mk_tensor map = mk_tensor_make(mb, 0, MK_I32, 1, sshape);
        k.shape[0] = v.shape[0] = m;
        ok = mkb_check(st, mk_synchronize(ctx), "mk_synchronize") &&
             mkb_check(st, mk_buffer_write(mb, 0, ids, (size_t)m * sizeof *ids), "mk_buffer_write") &&
             mkb_check(st, mk_kv_cache_append(ctx, cache, &k, &v, &map), "kv cache fill");
    }
    free(ids);
    return ok;
}

/* After a bandwidth entry's loop: frees what it held, then ms, gbs, copy_gbs and vs_copy
   from its median iteration (nothing when the loop did not run). */
static void bandwidth_counters(mkb_state *st, held *h, int ran, double bytes) {
    const double s = ran ? mkb_median_seconds(st) : 0;
    held_free(h);
    if (s <= 0) return;
    const double gbs = bytes / s / 1e9, copy = anchor(st, 0);
    mkb_counter(st, "ms", s * 1e3);
    mkb_counter(st, "gbs", gbs);
    if (copy > 0) {
        mkb_counter(st, "copy_gbs", copy);
        mkb_counter(st, "vs_copy", gbs / copy);
    }
}

static void bench_decode(mkb_state *st, const void *arg) {
    const bcase *c = arg;
    const int B = c->batch, hkv = c->hkv, D = DECODE_D, Hq = DECODE_HQ;
    const int64_t mb = (c->ctx + BLOCK - 1) / BLOCK, nblocks = (int64_t)B * mb;
    const double kv_bytes = 2.0 * B * (double)c->ctx * hkv * entry_bytes(c->dt, D);
    const double bytes = kv_bytes + 2.0 * B * Hq * D * 2;
    const double cache_bytes = 2.0 * (double)nblocks * BLOCK * hkv * entry_bytes(c->dt, D);
    held h;
    memset(&h, 0, sizeof h);
    if (!fits(st, cache_bytes + 4.0 * FILL_CHUNK * hkv * D)) return;
    int32_t *table = malloc((size_t)nblocks * sizeof *table), *lens = malloc((size_t)B * sizeof *lens);
    if (!table || !lens) {
        free(table), free(lens);
        mkb_fail(st, "out of host memory");
        return;
    }
    for (int64_t i = 0; i < nblocks; i++) table[i] = (int32_t)i;
    uint64_t x = 0x9E3779B97F4A7C15ull; /* shuffled: pages scattered like a real pool */
    for (int64_t i = nblocks - 1; i > 0; i--) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int64_t j = (int64_t)(x % (uint64_t)(i + 1));
        int32_t t = table[i];
        table[i] = table[j], table[j] = t;
    }
    for (int b = 0; b < B; b++) lens[b] = c->ctx;
    mk_kv_cache_desc kd = {nblocks, BLOCK, hkv, D, c->dt};
    mk_tensor q, o;
    int ok = mkb_check(st, mk_kv_cache_create(mkb_context(), &kd, &h.cache), "mk_kv_cache_create") &&
             fill_cache(st, &h, h.cache, hkv, D, nblocks * BLOCK) && rnd3(st, &h, &q, MK_BF16, B, Hq, D) &&
             rnd3(st, &h, &o, MK_BF16, B, Hq, D);
    if (ok) {
        const mk_decode_plan_desc pd = {B, mb, table, lens, h.cache, Hq, MK_BF16, {0, 0, 0, 0}};
        ok = mkb_check(st, mk_decode_plan_create(mkb_context(), &pd, &h.plan), "mk_decode_plan_create") &&
             mkb_check(st, mk_attention_decode_run(mkb_context(), h.plan, &q, h.cache, &o),
                       "mk_attention_decode_run");
    }
    free(table), free(lens);
    if (ok) {
        char label[96];
        snprintf(label, sizeof label, "B=%d ctx=%d Hq=%d Hkv=%d D=%d", B, c->ctx, Hq, hkv, D);
        mkb_label(st, label);
        mkb_set_op(st, MK_OP_ATTENTION_DECODE);
        mkb_set_bytes(st, bytes);
        mkb_set_flops(st, 4.0 * B * (double)c->ctx * Hq * D);
        while (mkb_next(st))
            if (!mkb_check(st, mk_attention_decode_run(mkb_context(), h.plan, &q, h.cache, &o),
                           "mk_attention_decode_run"))
                break;
    }
    bandwidth_counters(st, &h, ok, bytes);
}

static void bench_append(mkb_state *st, const void *arg) {
    const bcase *c = arg;
    const int hkv = c->hkv, D = DECODE_D;
    const int64_t T = c->ctx;
    const double bytes = 2.0 * (double)T * hkv * D * 2 + 2.0 * (double)T * hkv * entry_bytes(c->dt, D) + 4.0 * (double)T;
    held h;
    memset(&h, 0, sizeof h);
    int32_t *slots = malloc((size_t)T * sizeof *slots);
    if (!slots) {
        mkb_fail(st, "out of host memory");
        return;
    }
    for (int64_t t = 0; t < T; t++) slots[t] = (int32_t)t;
    mk_kv_cache_desc kd = {(T + BLOCK - 1) / BLOCK, BLOCK, hkv, D, c->dt};
    mk_tensor k, v;
    int ok = fits(st, 2 * bytes) &&
             mkb_check(st, mk_kv_cache_create(mkb_context(), &kd, &h.cache), "mk_kv_cache_create") &&
             rnd3(st, &h, &k, MK_BF16, T, hkv, D) && rnd3(st, &h, &v, MK_BF16, T, hkv, D) &&
             mkb_check(st, mk_kv_append_plan_create(mkb_context(), h.cache, slots, T, &h.plan),
                       "mk_kv_append_plan_create") &&
             mkb_check(st, mk_kv_cache_append_run(mkb_context(), h.plan, h.cache, &k, &v), "mk_kv_cache_append_run");
    free(slots);
    if (ok) {
        char label[64];
        snprintf(label, sizeof label, "T=%lld Hkv=%d D=%d", (long long)T, hkv, D);
        mkb_label(st, label);
        mkb_set_op(st, MK_OP_KV_APPEND);
        mkb_set_bytes(st, bytes);
        while (mkb_next(st))
            if (!mkb_check(st, mk_kv_cache_append_run(mkb_context(), h.plan, h.cache, &k, &v),
                           "mk_kv_cache_append_run"))
                break;
    }
    bandwidth_counters(st, &h, ok, bytes);
}

/* ------------------------------------------------------------ registration */

static void add(const char *name, mkb_fn fn, bcase c) {
    if (g_ncases == MAX_CASES) {
        fprintf(stderr, "bench_cuda_attention: more than %d entries\n", MAX_CASES);
        abort();
    }
    c.id = g_ncases++;
    mkb_register(name, fn, &c, sizeof c, 0);
}

static void reg(void) {
    if (mkbc_attach("bench_cuda_attention", &g_cuda)) {
        g_not_cuda = 1;
        return;
    }
    const int small = mkb_small(), full = mkb_full();
    char n[128];
    add("anchor/cublas_gemm/bf16/M:8192/N:8192/K:8192", bench_anchor, (bcase){.kind = K_GEMM});
    add("anchor/d2d_copy/MiB:1024", bench_anchor, (bcase){.kind = K_COPY});

    static const int seqs[] = {512, 1024, 2048, 4096, 8192, 16384}, dims[] = {64, 128, 256};
    const mk_dtype pdt[] = {MK_BF16, MK_F16};
    for (int t = 0; t < 2; t++)
        for (int di = 0; di < 3; di++)
            for (int causal = 0; causal < 2; causal++)
                for (int si = 0; si < 6; si++) {
                    int in_small = dims[di] == 128 && (seqs[si] == 512 || seqs[si] == 2048);
                    if (!(full || (small && in_small))) continue;
                    snprintf(n, sizeof n, "prefill/%s/D:%d/%s/S:%d", mk_dtype_name(pdt[t]), dims[di],
                             causal ? "causal" : "full", seqs[si]);
                    add(n, bench_prefill, (bcase){.kind = K_PREFILL, .dt = pdt[t], .causal = causal,
                                                  .seq = seqs[si], .dim = dims[di]});
                }

    static const int batches[] = {1, 16, 64, 256}, ctxs[] = {512, 4096, 32768}, hkvs[] = {8, 32};
    const mk_dtype kvs[] = {MK_BF16, MK_I8};
    for (int ki = 0; ki < 2; ki++)
        for (int hi = 0; hi < 2; hi++)
            for (int bi = 0; bi < 4; bi++)
                for (int ci = 0; ci < 3; ci++) {
                    const int B = batches[bi], ctx = ctxs[ci];
                    if ((int64_t)B * ctx > (1 << 20)) continue;
                    int in_small = hkvs[hi] == 8 && B <= 16 && ctx <= 4096;
                    if (!(full || (small && in_small))) continue;
                    snprintf(n, sizeof n, "decode/kv:%s/Hq:%d/Hkv:%d/B:%d/ctx:%d", mk_dtype_name(kvs[ki]),
                             DECODE_HQ, hkvs[hi], B, ctx);
                    add(n, bench_decode, (bcase){.kind = K_DECODE, .dt = kvs[ki], .batch = B,
                                                 .hkv = hkvs[hi], .ctx = ctx});
                }

    static const int toks[] = {256, 4096, 65536};
    for (int ki = 0; ki < 2; ki++)
        for (int hi = 0; hi < 2; hi++)
            for (int ti = 0; ti < 3; ti++) {
                int in_small = hkvs[hi] == 8 && toks[ti] <= 4096;
                if (!(full || (small && in_small))) continue;
                snprintf(n, sizeof n, "kv_append/kv:%s/Hkv:%d/T:%d", mk_dtype_name(kvs[ki]), hkvs[hi], toks[ti]);
                add(n, bench_append, (bcase){.kind = K_APPEND, .dt = kvs[ki], .hkv = hkvs[hi], .ctx = toks[ti]});
            }
}

int main(int argc, char **argv) {
    if (mkbc_device_count() == 0) {
        fprintf(stderr, "bench_cuda_attention: no CUDA device (cudaGetDeviceCount): skipped\n");
        return 77;
    }
    int rc = mkb_main(argc, argv, reg);
    mkbc_close(g_cuda);
    return rc == 0 && g_not_cuda ? 77 : rc;
}
