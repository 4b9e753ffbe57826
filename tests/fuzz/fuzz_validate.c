/* Fuzzes the validation layer through the public ops on the ref device: the input picks
   an op, a few small buffers (and what they hold), tensor descriptors over them (ndim,
   shapes, strides, offsets, dtypes; mostly consistent with the op so that checks deep in
   validate.c are reached, now and then broken), a KV cache and the op's parameters.
   Every call must return a status without crashing or tripping a sanitizer, and a call
   that fails with MK_ERR_INVALID_ARGUMENT must not have changed any buffer or the cache
   (compared with a snapshot taken before the call). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_bytes.h"
#include "medkern/medkern.h"

#define NBUF 3
#define MAXBUF 4096

static mk_context *ctx;
static mk_qweight *qws[2];

static void fail(const char *op, const char *what) {
    fprintf(stderr, "fuzz_validate: %s: %s (last error: %s)\n", op, what, mk_last_error());
    abort();
}

static void setup(void) {
    if (mk_context_create("ref", &ctx) != MK_OK) abort();
    /* a QW4 (n 8, k 32, group 32) and a QW8 per-channel (n 8, k 64) weight */
    mk_qweight_desc d[2] = {{MK_QW4, 8, 32, 32, 0}, {MK_QW8, 8, 64, 0, 0}};
    for (int i = 0; i < 2; i++) {
        mk_qweight_data data;
        if (mk_qweight_data_alloc(&d[i], 0, 0, &data) != MK_OK) abort();
        /* QW4: n x k/2 bytes of codes, n x k/32 f16 scales; QW8: n x k codes, n scales */
        memset(data.q, 0x11, (size_t)(d[i].n * d[i].k) / (i ? 1 : 2));
        memset(data.scales, 0, (size_t)(d[i].n * d[i].k) / (i ? (size_t)d[i].k : 32) * 2);
        if (mk_qweight_create(ctx, &d[i], &data, &qws[i]) != MK_OK) abort();
        mk_qweight_data_free(&data);
    }
}

static const int64_t odd_dims[8] = {0, -1, 9, 16, 300, INT64_MAX, INT64_MIN, (int64_t)1 << 40};

/* A descriptor for a tensor that the op wants as dtype `dt` and shape `shape[ndim]`:
   mostly that, with a layout picked by the input, sometimes broken in one way or other. */
static void make_tensor(fz_bytes *b, mk_buffer **bufs, mk_dtype dt, int ndim,
                        const int64_t *shape, mk_tensor *t) {
    memset(t, 0, sizeof *t);
    uint8_t sel = fz_u8(b), mut = fz_u8(b);
    t->buf = (sel & 15) == 15 ? NULL : bufs[(sel & 15) % NBUF];
    t->dtype = dt;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    switch (mut & 7) { /* 5 of 8: as wanted */
    case 5: t->dtype = (mk_dtype)(fz_u8(b) % (MK_DTYPE_COUNT + 1)); break;
    case 6: {
        uint8_t r = fz_u8(b);
        if (r & 0x80) t->ndim = (int)(r % 7) - 1; /* -1..5 */
        else t->shape[r % MK_MAX_DIMS] = (r & 0x40) ? odd_dims[(r >> 2) & 7] : (int64_t)(r >> 2) % 9;
        break;
    }
    case 7: /* one dim more (or fewer) than wanted */
        if (ndim < MK_MAX_DIMS) t->ndim = ndim + 1, t->shape[ndim] = 1 + fz_u8(b) % 3;
        else t->ndim = ndim - 1;
        break;
    default: break;
    }
    /* strides: contiguous, padded rows, small random, or extreme */
    int nd = t->ndim < 0 ? 0 : t->ndim > MK_MAX_DIMS ? MK_MAX_DIMS : t->ndim;
    int64_t expect = 1;
    for (int i = nd - 1; i >= 0; i--) {
        t->stride[i] = expect;
        int64_t s = t->shape[i] > 0 && t->shape[i] < 1000 ? t->shape[i] : 1;
        expect *= s;
    }
    uint8_t lay = (sel >> 4) & 7;
    if (lay == 4 && nd >= 2) { /* padded rows: the second-to-last dim gets a bigger stride */
        int64_t pad = fz_u8(b) % 5;
        t->stride[nd - 2] += pad;
        for (int i = nd - 3; i >= 0; i--)
            t->stride[i] = t->stride[i + 1] * (t->shape[i + 1] > 0 && t->shape[i + 1] < 1000 ? t->shape[i + 1] : 1);
    } else if (lay == 5) {
        for (int i = 0; i < nd; i++) t->stride[i] = fz_u8(b) % 24;
    } else if (lay == 6 && nd) {
        static const int64_t wild[4] = {-1, INT64_MAX, INT64_MAX / 3, (int64_t)1 << 62};
        t->stride[fz_u8(b) % nd] = wild[fz_u8(b) & 3];
    }
    /* offset: mostly a small aligned one */
    uint8_t off = fz_u8(b);
    size_t es = mk_dtype_size(t->dtype) ? mk_dtype_size(t->dtype) : 1;
    if (off < 200) t->offset = (size_t)(off % 8) * es * 4;
    else if (off < 250) t->offset = (size_t)(off - 200);
    else t->offset = off == 255 ? SIZE_MAX : (size_t)1 << (off - 250 + 40);
}

/* The tensor, or NULL now and then for an optional one (and rarely for any). */
static const mk_tensor *maybe(fz_bytes *b, const mk_tensor *t, int optional) {
    uint8_t r = fz_u8(b);
    if (optional ? (r & 3) == 0 : r == 0xFF) return NULL;
    return t;
}

static float pick_float(fz_bytes *b, const float *table, int n) { return table[fz_u8(b) % n]; }

typedef struct {
    unsigned char *before[NBUF];
    size_t bytes[NBUF];
    unsigned char *cache_before;
    size_t cache_bytes;
} snapshot;

static size_t cache_block_bytes(const mk_kv_cache_desc *d, int with_scales) {
    size_t per = (size_t)d->block_size * (size_t)d->num_kv_heads;
    return 2 * per * (size_t)d->head_dim * mk_dtype_size(d->dtype) + (with_scales ? 2 * per * 4 : 0);
}

static unsigned char *read_cache(const mk_kv_cache *c, size_t *bytes) {
    mk_kv_cache_desc d;
    if (mk_kv_cache_get_desc(c, &d) != MK_OK) abort();
    int q = d.dtype == MK_I8 || d.dtype == MK_FP8_E4M3;
    size_t per = (size_t)d.block_size * (size_t)d.num_kv_heads, vb = per * (size_t)d.head_dim * mk_dtype_size(d.dtype);
    size_t bb = cache_block_bytes(&d, q);
    *bytes = bb * (size_t)d.num_blocks;
    unsigned char *m = malloc(*bytes);
    if (!m) abort();
    for (int64_t i = 0; i < d.num_blocks; i++) {
        unsigned char *p = m + bb * (size_t)i;
        if (mk_kv_cache_read_block(c, i, p, p + vb, q ? (float *)(p + 2 * vb) : NULL,
                                   q ? (float *)(p + 2 * vb + per * 4) : NULL) != MK_OK)
            abort();
    }
    return m;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!ctx) setup();
    fz_bytes b = {data, size};
    const mk_op op = (mk_op)(fz_u8(&b) % MK_OP_COUNT);
    static const mk_dtype floats[4] = {MK_F32, MK_F16, MK_BF16, MK_F32};
    const mk_dtype fdt = floats[fz_u8(&b) & 3];
    const mk_dtype hdt = fdt == MK_F32 ? MK_F16 : fdt; /* qgemm: halves only */
    /* a pool of small dims that the op's shapes are made of */
    int64_t P[6];
    for (int i = 0; i < 6; i++) P[i] = 1 + fz_u8(&b) % 6;

    /* buffers: sizes and contents from the input */
    mk_buffer *bufs[NBUF] = {0};
    snapshot snap = {0};
    size_t pos = 0;
    for (int i = 0; i < NBUF; i++) {
        uint8_t sz = fz_u8(&b), fill = fz_u8(&b);
        size_t bytes = (size_t)(sz % 64 + 1) * (MAXBUF / 64);
        if (mk_buffer_alloc(ctx, bytes, &bufs[i]) != MK_OK) abort();
        unsigned char *host = malloc(bytes);
        if (!host) abort();
        int32_t *v = (int32_t *)host;
        size_t nv = bytes / 4;
        switch (fill & 3) {
        case 0: fz_fill(&b, host, bytes, &pos); break;
        case 1: /* small indices, -1..8 */
            for (size_t j = 0; j < nv; j++) v[j] = (int32_t)(data[(pos++) % (size ? size : 1)] % 10) - 1;
            break;
        case 2: /* non-decreasing from 0 (cu_seqlens), steps 0..2 */
            for (size_t j = 0; j < nv; j++)
                v[j] = j ? v[j - 1] + (int32_t)(size ? data[(pos++) % size] % 3 : 1) : 0;
            break;
        default: memset(host, 0, bytes);
        }
        if (mk_buffer_write(bufs[i], 0, host, bytes) != MK_OK) abort();
        snap.before[i] = host;
        snap.bytes[i] = bytes;
    }

    /* a small KV cache whose num_kv_heads and head_dim come from the pool */
    static const mk_dtype cdts[6] = {MK_F32, MK_F16, MK_BF16, MK_I8, MK_FP8_E4M3, MK_F16};
    mk_kv_cache_desc cd = {1 + fz_u8(&b) % 4, 1 + fz_u8(&b) % 4, (int)P[1], (int)P[2],
                           cdts[fz_u8(&b) % 6]};
    mk_kv_cache *cache = NULL;
    if (mk_kv_cache_create(ctx, &cd, &cache) != MK_OK) abort();
    mk_kv_cache *cache_arg = fz_u8(&b) == 0xFF ? NULL : cache;
    const int writes_cache = op == MK_OP_KV_APPEND || op == MK_OP_KV_COPY_BLOCKS;
    if (writes_cache) snap.cache_before = read_cache(cache, &snap.cache_bytes);

    static const float scales[6] = {0.0f, 0.5f, 0.125f, -1.0f, NAN, INFINITY};
    static const float caps[5] = {0.0f, 0.0f, 30.0f, -2.0f, NAN};
    static const float epss[5] = {1e-5f, 0.0f, 1e-6f, -1e-5f, NAN};
    mk_tensor t[8];
    mk_status s;
    const char *name = mk_op_name(op);
    switch (op) {
    case MK_OP_ATTENTION_PREFILL: {
        /* T = P0, Hq = P1*P3, Hkv = P1, D = P2, Tk = P4, B+1 = 2..4 */
        int64_t B1 = 2 + P[5] % 3, Hq = P[1] * P[3];
        int64_t qs[3] = {P[0], Hq, P[2]}, ks[3] = {P[4], P[1], P[2]}, cs[1] = {B1}, ls[2] = {P[0], Hq};
        make_tensor(&b, bufs, fdt, 3, qs, &t[0]);
        make_tensor(&b, bufs, fdt, 3, ks, &t[1]);
        make_tensor(&b, bufs, fdt, 3, ks, &t[2]);
        make_tensor(&b, bufs, MK_I32, 1, cs, &t[3]);
        make_tensor(&b, bufs, MK_I32, 1, cs, &t[4]);
        make_tensor(&b, bufs, fdt, 3, qs, &t[5]);
        make_tensor(&b, bufs, MK_F32, 2, ls, &t[6]);
        mk_attn_params p = {pick_float(&b, scales, 6), fz_u8(&b) & 1, (int8_t)fz_u8(&b) % 6,
                            pick_float(&b, caps, 5)};
        s = mk_attention_prefill(ctx, maybe(&b, &t[0], 0), maybe(&b, &t[1], 0), maybe(&b, &t[2], 0),
                                 maybe(&b, &t[3], 0), maybe(&b, &t[4], 0),
                                 fz_u8(&b) == 0xFF ? NULL : &p, maybe(&b, &t[5], 0), maybe(&b, &t[6], 1));
        break;
    }
    case MK_OP_ATTENTION_DECODE: {
        int64_t Hq = P[1] * P[3];
        int64_t qs[3] = {P[0], Hq, P[2]}, bs[2] = {P[0], P[4]}, cs[1] = {P[0]};
        make_tensor(&b, bufs, fdt, 3, qs, &t[0]);
        make_tensor(&b, bufs, MK_I32, 2, bs, &t[1]);
        make_tensor(&b, bufs, MK_I32, 1, cs, &t[2]);
        make_tensor(&b, bufs, fdt, 3, qs, &t[3]);
        mk_attn_params p = {pick_float(&b, scales, 6), fz_u8(&b) & 1, (int8_t)fz_u8(&b) % 6,
                            pick_float(&b, caps, 5)};
        s = mk_attention_decode(ctx, maybe(&b, &t[0], 0), cache_arg, maybe(&b, &t[1], 0),
                                maybe(&b, &t[2], 0), fz_u8(&b) == 0xFF ? NULL : &p, maybe(&b, &t[3], 0));
        break;
    }
    case MK_OP_KV_APPEND: {
        int64_t ks[3] = {P[0], P[1], P[2]}, ss[1] = {P[0]};
        make_tensor(&b, bufs, fdt, 3, ks, &t[0]);
        make_tensor(&b, bufs, fdt, 3, ks, &t[1]);
        make_tensor(&b, bufs, MK_I32, 1, ss, &t[2]);
        s = mk_kv_cache_append(ctx, cache_arg, maybe(&b, &t[0], 0), maybe(&b, &t[1], 0), maybe(&b, &t[2], 0));
        break;
    }
    case MK_OP_KV_COPY_BLOCKS: {
        int64_t ps[2] = {P[0] % 3, 2};
        make_tensor(&b, bufs, MK_I32, 2, ps, &t[0]);
        s = mk_kv_cache_copy_blocks(ctx, cache_arg, maybe(&b, &t[0], 0));
        break;
    }
    case MK_OP_QGEMM: {
        const mk_qweight *w = qws[fz_u8(&b) & 1];
        mk_qweight_desc wd;
        if (mk_qweight_get_desc(w, &wd) != MK_OK) abort();
        int64_t xs[2] = {P[0], wd.k}, ys[2] = {P[0], wd.n}, bs[1] = {wd.n};
        make_tensor(&b, bufs, hdt, 2, xs, &t[0]);
        make_tensor(&b, bufs, hdt, 1, bs, &t[1]);
        make_tensor(&b, bufs, hdt, 2, ys, &t[2]);
        s = mk_qgemm(ctx, maybe(&b, &t[0], 0), fz_u8(&b) == 0xFF ? NULL : w, maybe(&b, &t[1], 1),
                     maybe(&b, &t[2], 0));
        break;
    }
    case MK_OP_GEMM: {
        int64_t xs[2] = {P[0], P[2]}, ws[2] = {P[1], P[2]}, ys[2] = {P[0], P[1]}, bs[1] = {P[1]};
        make_tensor(&b, bufs, fdt, 2, xs, &t[0]);
        make_tensor(&b, bufs, fdt, 2, ws, &t[1]);
        make_tensor(&b, bufs, fdt, 1, bs, &t[2]);
        make_tensor(&b, bufs, fdt, 2, ys, &t[3]);
        s = mk_gemm(ctx, maybe(&b, &t[0], 0), maybe(&b, &t[1], 0), maybe(&b, &t[2], 1), maybe(&b, &t[3], 0));
        break;
    }
    case MK_OP_RMSNORM:
    case MK_OP_LAYERNORM: {
        int nd = 1 + (int)(P[5] % 4);
        int64_t xs[4] = {P[0], P[1], P[3], P[2]}, *xl = xs + (4 - nd), ws[1] = {P[2]};
        make_tensor(&b, bufs, fdt, nd, xl, &t[0]);
        make_tensor(&b, bufs, fdt, 1, ws, &t[1]);
        make_tensor(&b, bufs, fdt, 1, ws, &t[2]);
        if (fz_u8(&b) & 1) t[3] = t[0]; /* in place */
        else make_tensor(&b, bufs, fdt, nd, xl, &t[3]);
        float eps = pick_float(&b, epss, 5);
        if (op == MK_OP_RMSNORM)
            s = mk_rmsnorm(ctx, maybe(&b, &t[0], 0), maybe(&b, &t[1], 0), eps, fz_u8(&b) & 1, maybe(&b, &t[3], 0));
        else
            s = mk_layernorm(ctx, maybe(&b, &t[0], 0), maybe(&b, &t[1], 0), maybe(&b, &t[2], 1), eps,
                             maybe(&b, &t[3], 0));
        break;
    }
    case MK_OP_ROPE: {
        int64_t xs[3] = {P[0], P[1], 2 * P[2]}, ps[1] = {P[0]};
        make_tensor(&b, bufs, fdt, 3, xs, &t[0]);
        make_tensor(&b, bufs, MK_I32, 1, ps, &t[1]);
        static const float thetas[4] = {10000.0f, 500000.0f, 1.0f, NAN};
        static const float factors[5] = {8.0f, 1.0f, 4.0f, 0.0f, -1.0f};
        uint8_t r = fz_u8(&b);
        mk_rope_params p = {(mk_rope_style)(r % 3 == 2 ? 7 : r % 3 == 1), pick_float(&b, thetas, 4),
                            (int)(fz_u8(&b) % 12) - 1, (mk_rope_scaling)(fz_u8(&b) % 4),
                            pick_float(&b, factors, 5), pick_float(&b, factors + 1, 4),
                            pick_float(&b, factors, 5), (int)(fz_u8(&b) % 4) * 4096 - 1};
        s = mk_rope(ctx, maybe(&b, &t[0], 0), maybe(&b, &t[1], 0), fz_u8(&b) == 0xFF ? NULL : &p);
        break;
    }
    default: { /* silu_mul, gelu_mul, add */
        int nd = 1 + (int)(P[5] % 4);
        int64_t xs[4] = {P[0], P[1], P[3], P[2]}, *xl = xs + (4 - nd);
        make_tensor(&b, bufs, fdt, nd, xl, &t[0]);
        make_tensor(&b, bufs, fdt, nd, xl, &t[1]);
        uint8_t r = fz_u8(&b);
        if (r % 4 == 0) t[2] = t[0];
        else if (r % 4 == 1) t[2] = t[1];
        else make_tensor(&b, bufs, fdt, nd, xl, &t[2]);
        if (op == MK_OP_SILU_MUL)
            s = mk_silu_mul(ctx, maybe(&b, &t[0], 0), maybe(&b, &t[1], 0), maybe(&b, &t[2], 0));
        else if (op == MK_OP_GELU_MUL)
            s = mk_gelu_mul(ctx, maybe(&b, &t[0], 0), maybe(&b, &t[1], 0), fz_u8(&b) & 1, maybe(&b, &t[2], 0));
        else
            s = mk_add(ctx, maybe(&b, &t[0], 0), maybe(&b, &t[1], 0), maybe(&b, &t[2], 0));
        break;
    }
    }

    if ((unsigned)s > MK_ERR_INTERNAL) fail(name, "returned a status outside mk_status");
    if (s == MK_ERR_INTERNAL) fail(name, "returned MK_ERR_INTERNAL");
    if (!mk_status_string(s)) fail(name, "status without a name");
    if (s == MK_ERR_INVALID_ARGUMENT) {
        if (!mk_last_error()[0]) fail(name, "MK_ERR_INVALID_ARGUMENT without a message");
        for (int i = 0; i < NBUF; i++) {
            unsigned char *after = malloc(snap.bytes[i]);
            if (!after || mk_buffer_read(bufs[i], 0, after, snap.bytes[i]) != MK_OK) abort();
            if (memcmp(after, snap.before[i], snap.bytes[i])) fail(name, "a call that failed validation wrote a buffer");
            free(after);
        }
    }
    /* the cache: only appends and block copies write it; compare with its state before */
    if (s == MK_ERR_INVALID_ARGUMENT && writes_cache) {
        size_t n = 0;
        unsigned char *after = read_cache(cache, &n);
        if (n != snap.cache_bytes || memcmp(after, snap.cache_before, n))
            fail(name, "a call that failed validation wrote the KV cache");
        free(after);
    }
    free(snap.cache_before);
    for (int i = 0; i < NBUF; i++) {
        mk_buffer_free(bufs[i]);
        free(snap.before[i]);
    }
    mk_kv_cache_destroy(cache);
    return 0;
}
