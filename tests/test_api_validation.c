/*
 * The validation layer through the public API, on the ref device: bad input for every
 * public function that takes input must fail with MK_ERR_INVALID_ARGUMENT, with a
 * message naming the argument, and must write nothing.
 *
 * "Writes nothing" is checked on every failing op call: every device buffer of this test
 * (filled with a known pattern when created; outputs re-poisoned after each baseline
 * call) and every KV cache is read back before and after the call and compared byte for
 * byte. Host outputs (read-backs, importers, descriptors) are poisoned and compared.
 *
 * Each op first runs a valid baseline call (it must succeed), then one argument at a
 * time is broken: generic descriptor faults applied to every tensor argument (NULL,
 * NULL buffer, buffer of another context, bad dtype, ndim, shape, stride, offset,
 * extent past the buffer, byte-size overflow, wrong layout), then the op's own rules
 * (dtypes, shapes, aliasing, parameters, index values).
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "mktest.h"

#define INVALID MK_ERR_INVALID_ARGUMENT

static mk_context *ctx, *ctx2;

/* ------------------------------------------------------------ tracked state */

#define MAX_BUFS 512
static mk_buffer *bufs[MAX_BUFS];
static int nbufs;
static mk_kv_cache *caches[8];
static int ncaches;

static void die(const char *what) {
    fprintf(stderr, "test setup failed: %s: %s\n", what, mk_last_error());
    exit(2);
}

static uint8_t pattern_byte(size_t i, int id) {
    return (uint8_t)(0x3Cu ^ (uint32_t)(i * 29u) ^ (uint32_t)(id * 101u));
}

/* Fills the whole buffer with its known pattern. */
static void poison_buf(mk_buffer *b, int id) {
    size_t n = mk_buffer_size(b);
    uint8_t *p = malloc(n);
    if (!p) die("malloc");
    for (size_t i = 0; i < n; i++) p[i] = pattern_byte(i, id);
    if (mk_buffer_write(b, 0, p, n) != MK_OK) die("poison write");
    free(p);
}

static void track(mk_buffer *b) {
    if (nbufs == MAX_BUFS) die("too many buffers");
    bufs[nbufs] = b;
    poison_buf(b, nbufs);
    nbufs++;
}

static mk_buffer *tbuf_on(mk_context *c, size_t bytes) {
    mk_buffer *b = NULL;
    if (mk_buffer_alloc(c, bytes, &b) != MK_OK) die("mk_buffer_alloc");
    track(b);
    return b;
}

/* Re-poisons a tracked buffer (outputs, after a baseline call wrote them). */
static void repoison(mk_buffer *b) {
    for (int i = 0; i < nbufs; i++)
        if (bufs[i] == b) poison_buf(b, i);
}

static size_t cache_block_bytes(const mk_kv_cache *c, size_t *scale_bytes) {
    mk_kv_cache_desc d;
    mk_kv_cache_get_desc(c, &d);
    size_t slots = (size_t)d.block_size * (size_t)d.num_kv_heads;
    int quant = d.dtype == MK_I8 || d.dtype == MK_FP8_E4M3;
    *scale_bytes = quant ? slots * sizeof(float) : 0;
    return slots * (size_t)d.head_dim * mk_dtype_size(d.dtype);
}

/* Every tracked buffer and cache, concatenated. */
static uint8_t *dump_all(size_t *n) {
    size_t total = 0;
    for (int i = 0; i < nbufs; i++) total += mk_buffer_size(bufs[i]);
    for (int i = 0; i < ncaches; i++) {
        mk_kv_cache_desc d;
        size_t sb, kb = cache_block_bytes(caches[i], &sb);
        mk_kv_cache_get_desc(caches[i], &d);
        total += (size_t)d.num_blocks * (2 * kb + 2 * sb);
    }
    uint8_t *p = malloc(total + 1), *q = p;
    if (!p) die("malloc dump");
    for (int i = 0; i < nbufs; i++) {
        size_t s = mk_buffer_size(bufs[i]);
        if (mk_buffer_read(bufs[i], 0, q, s) != MK_OK) die("dump read");
        q += s;
    }
    for (int i = 0; i < ncaches; i++) {
        mk_kv_cache_desc d;
        size_t sb, kb = cache_block_bytes(caches[i], &sb);
        mk_kv_cache_get_desc(caches[i], &d);
        for (int64_t blk = 0; blk < d.num_blocks; blk++) {
            if (mk_kv_cache_read_block(caches[i], blk, q, q + kb, sb ? (float *)(void *)(q + 2 * kb) : NULL,
                                       sb ? (float *)(void *)(q + 2 * kb + sb) : NULL) != MK_OK)
                die("dump cache");
            q += 2 * kb + 2 * sb;
        }
    }
    *n = total;
    return p;
}

static void expect_unchanged(uint8_t *before, size_t n, const char *expr, int line) {
    size_t m;
    uint8_t *after = dump_all(&m);
    mkt_checks++;
    if (m != n) {
        mkt_fail_at(__FILE__, line, "%s: tracked memory changed size (%zu -> %zu)", expr, n, m);
    } else {
        for (size_t i = 0; i < n; i++)
            if (before[i] != after[i]) {
                mkt_fail_at(__FILE__, line, "%s failed but wrote memory (first changed byte %zu of %zu)",
                            expr, i, n);
                break;
            }
    }
    free(before);
    free(after);
}

/* A call that must fail validation, name `needle` and leave all tracked memory as is. */
#define FAILS(needle, call)                                                   \
    do {                                                                      \
        size_t n_before_;                                                     \
        uint8_t *before_ = dump_all(&n_before_);                              \
        mkt_expect_failure(__FILE__, __LINE__, #call, (call), INVALID, (needle)); \
        expect_unchanged(before_, n_before_, #call, __LINE__);                \
    } while (0)

/* Host memory that must be unchanged by a failing call. */
#define HOST_UNCHANGED(ptr, copy, bytes, what) \
    MKT_CHECK(memcmp((ptr), (copy), (bytes)) == 0, "%s: a failing call wrote host memory", what)

/* ------------------------------------------------------------ tensors */

#define SLACK 4096

/* A tensor on its own tracked buffer (pattern content), with room for stride faults. */
static mk_tensor tens(mk_dtype t, int nd, int64_t s0, int64_t s1, int64_t s2) {
    int64_t shape[4] = {s0, s1, s2, 1};
    size_t n = 1;
    for (int i = 0; i < nd; i++) n *= (size_t)shape[i];
    mk_buffer *b = tbuf_on(ctx, 2 * n * mk_dtype_size(t) + SLACK);
    return mk_tensor_make(b, 0, t, nd, shape);
}

/* A 1-D (or [rows, cols]) I32 tensor with these values. */
static mk_tensor itens(int nd, int64_t s0, int64_t s1, const int32_t *v) {
    int64_t shape[2] = {s0, s1};
    size_t n = (size_t)s0 * (size_t)(nd == 2 ? s1 : 1);
    mk_buffer *b = tbuf_on(ctx, 2 * n * 4 + SLACK);
    if (mk_buffer_write(b, 0, v, n * 4) != MK_OK) die("index write");
    return mk_tensor_make(b, 0, MK_I32, nd, shape);
}
#define IVEC(...) itens(1, (int64_t)(sizeof((int32_t[]){__VA_ARGS__}) / 4), 0, (int32_t[]){__VA_ARGS__})

/* A view of shape s on the buffer of `on` (for aliasing faults). */
static mk_tensor view(const mk_tensor *on, size_t offset, mk_dtype t, int nd, int64_t s0, int64_t s1,
                      int64_t s2) {
    int64_t shape[4] = {s0, s1, s2, 1};
    return mk_tensor_make(on->buf, offset, t, nd, shape);
}

static mk_tensor with_dtype(mk_tensor t, mk_dtype d) {
    t.dtype = d;
    return t;
}

/* ------------------------------------------------------------ op cases */

typedef struct op_case op_case;
struct op_case {
    const char *op;
    int n;
    const char *name[8];
    char layout[8];   /* 'I' last dim stride 1, 'R' dense rows, 'C' contiguous */
    int fixed_ndim[8];
    int optional[8];
    int output[8];
    mk_tensor t[8];
    mk_status (*call)(const mk_tensor *const *a);
};

static mk_context *g_ctx;
static mk_attn_params g_attn;
static mk_kv_cache *g_cache;
static mk_qweight *g_qw;
static float g_eps;
static int g_plus_one;
static mk_rope_params g_rope;
static mk_buffer *g_other; /* a buffer of ctx2 */

static mk_status call_prefill(const mk_tensor *const *a) {
    return mk_attention_prefill(g_ctx, a[0], a[1], a[2], a[3], a[4], &g_attn, a[5], a[6]);
}
static mk_status call_decode(const mk_tensor *const *a) {
    return mk_attention_decode(g_ctx, a[0], g_cache, a[1], a[2], &g_attn, a[3]);
}
static mk_status call_append(const mk_tensor *const *a) {
    return mk_kv_cache_append(g_ctx, g_cache, a[0], a[1], a[2]);
}
static mk_status call_copy(const mk_tensor *const *a) { return mk_kv_cache_copy_blocks(g_ctx, g_cache, a[0]); }
static mk_status call_qgemm(const mk_tensor *const *a) { return mk_qgemm(g_ctx, a[0], g_qw, a[1], a[2]); }
static mk_status call_gemm(const mk_tensor *const *a) { return mk_gemm(g_ctx, a[0], a[1], a[2], a[3]); }
static mk_status call_rmsnorm(const mk_tensor *const *a) {
    return mk_rmsnorm(g_ctx, a[0], a[1], g_eps, g_plus_one, a[2]);
}
static mk_status call_layernorm(const mk_tensor *const *a) {
    return mk_layernorm(g_ctx, a[0], a[1], a[2], g_eps, a[3]);
}
static mk_status call_rope(const mk_tensor *const *a) { return mk_rope(g_ctx, a[0], a[1], &g_rope); }
static mk_status call_silu(const mk_tensor *const *a) { return mk_silu_mul(g_ctx, a[0], a[1], a[2]); }
static mk_status call_gelu(const mk_tensor *const *a) { return mk_gelu_mul(g_ctx, a[0], a[1], 1, a[2]); }
static mk_status call_add(const mk_tensor *const *a) { return mk_add(g_ctx, a[0], a[1], a[2]); }

/* The op with slots i and j (-1 = none) replaced by mi and mj (which may be NULL). */
static mk_status call2(const op_case *c, int i, const mk_tensor *mi, int j, const mk_tensor *mj) {
    const mk_tensor *a[8];
    for (int k = 0; k < c->n; k++) a[k] = &c->t[k];
    if (i >= 0) a[i] = mi;
    if (j >= 0) a[j] = mj;
    return c->call(a);
}
static mk_status call1(const op_case *c, int i, const mk_tensor *m) { return call2(c, i, m, -1, NULL); }
static mk_status call0(const op_case *c) { return call2(c, -1, NULL, -1, NULL); }
static mk_status call3(const op_case *c, int i, const mk_tensor *mi, int j, const mk_tensor *mj, int k,
                       const mk_tensor *mk) {
    const mk_tensor *a[8];
    for (int l = 0; l < c->n; l++) a[l] = &c->t[l];
    a[i] = mi;
    a[j] = mj;
    a[k] = mk;
    return c->call(a);
}

static int slot(const op_case *c, const char *name) {
    for (int i = 0; i < c->n; i++)
        if (!strcmp(c->name[i], name)) return i;
    fprintf(stderr, "no slot %s in %s\n", name, c->op);
    exit(2);
}

/* A valid call succeeds; then its outputs are poisoned again. */
static void baseline(op_case *c) {
    mk_status s = call0(c);
    mkt_checks++;
    if (s != MK_OK) mkt_fail_at(__FILE__, __LINE__, "%s: the valid baseline call failed: %s", c->op, mk_last_error());
    for (int i = 0; i < c->n; i++)
        if (c->output[i]) repoison(c->t[i].buf);
}

static void generic_checks(op_case *c) {
    char nd[160];
    for (int i = 0; i < c->n; i++) {
        const char *nm = c->name[i];
        const mk_tensor *base = &c->t[i];
        mk_tensor m;
        size_t es = mk_dtype_size(base->dtype);
        int last = base->ndim - 1;

        if (!c->optional[i]) {
            snprintf(nd, sizeof nd, "%s is NULL", nm);
            FAILS(nd, call1(c, i, NULL));
        }
        m = *base, m.buf = NULL;
        snprintf(nd, sizeof nd, "%s.buf is NULL", nm);
        FAILS(nd, call1(c, i, &m));
        m = *base, m.buf = g_other;
        snprintf(nd, sizeof nd, "%s.buf belongs to another context", nm);
        FAILS(nd, call1(c, i, &m));
        m = *base, m.dtype = (mk_dtype)99;
        snprintf(nd, sizeof nd, "%s.dtype (99)", nm);
        FAILS(nd, call1(c, i, &m));
        m = *base, m.dtype = (mk_dtype)-1;
        snprintf(nd, sizeof nd, "%s.dtype (-1)", nm);
        FAILS(nd, call1(c, i, &m));
        m = *base, m.dtype = MK_DTYPE_COUNT;
        snprintf(nd, sizeof nd, "%s.dtype", nm);
        FAILS(nd, call1(c, i, &m));
        int bad_ndims[] = {0, -1, 5, 1000};
        for (int k = 0; k < 4; k++) {
            m = *base, m.ndim = bad_ndims[k];
            snprintf(nd, sizeof nd, "%s.ndim is %d", nm, bad_ndims[k]);
            FAILS(nd, call1(c, i, &m));
        }
        if (c->fixed_ndim[i]) {
            m = *base, m.ndim = base->ndim > 1 ? base->ndim - 1 : 2;
            if (m.ndim == 2 && base->ndim == 1) m.shape[1] = 1, m.stride[1] = 1;
            snprintf(nd, sizeof nd, "%s must have %d dims", nm, base->ndim);
            FAILS(nd, call1(c, i, &m));
        }
        m = *base, m.shape[0] = 0;
        snprintf(nd, sizeof nd, "%s.shape[0] is 0", nm);
        FAILS(nd, call1(c, i, &m));
        m = *base, m.shape[last] = -7;
        snprintf(nd, sizeof nd, "%s.shape[%d] is -7", nm, last);
        FAILS(nd, call1(c, i, &m));
        m = *base, m.shape[0] = INT64_MIN;
        snprintf(nd, sizeof nd, "%s.shape[0] is", nm);
        FAILS(nd, call1(c, i, &m));
        m = *base, m.stride[0] = -1;
        snprintf(nd, sizeof nd, "%s.stride[0] is -1", nm);
        FAILS(nd, call1(c, i, &m));
        if (es > 1) {
            m = *base, m.offset += 1;
            snprintf(nd, sizeof nd, "%s.offset (1) is not a multiple", nm);
            FAILS(nd, call1(c, i, &m));
        }
        snprintf(nd, sizeof nd, "%s extends past the end of its buffer", nm);
        m = *base, m.offset = mk_buffer_size(base->buf);
        FAILS(nd, call1(c, i, &m));
        m = *base, m.offset = SIZE_MAX - 7;
        FAILS(nd, call1(c, i, &m));
        m = *base, m.shape[0] += (int64_t)1 << 20;
        FAILS(nd, call1(c, i, &m));
        m = *base, m.stride[0] += (int64_t)1 << 20;
        if (base->shape[0] == 1) m.shape[0] = 2;
        FAILS(nd, call1(c, i, &m));
        snprintf(nd, sizeof nd, "%s: the byte size of its shape overflows", nm);
        m = *base, m.shape[0] = (int64_t)1 << 40, m.stride[0] = (int64_t)1 << 40;
        FAILS(nd, call1(c, i, &m));
        m = *base, m.shape[0] = INT64_MAX, m.stride[0] = 1;
        FAILS(nd, call1(c, i, &m));
        m = *base, m.shape[0] = INT64_MAX / 2, m.stride[0] = 2;
        FAILS(nd, call1(c, i, &m));
        if (base->ndim >= 2) {
            int64_t huge[4] = {(int64_t)1 << 40, (int64_t)1 << 40, (int64_t)1 << 40, (int64_t)1 << 40};
            m = mk_tensor_make(base->buf, base->offset, base->dtype, base->ndim, huge);
            FAILS(nd, call1(c, i, &m));
        }
        /* layout */
        m = *base;
        switch (c->layout[i]) {
        case 'C':
            if (base->ndim >= 2) m.stride[0] += 1;
            else m.stride[0] = 2;
            snprintf(nd, sizeof nd, "%s must be contiguous", nm);
            break;
        case 'I':
            m.stride[last] = 2;
            snprintf(nd, sizeof nd, "%s: the last dim must have stride 1", nm);
            break;
        default:
            m.stride[last] = 2;
            snprintf(nd, sizeof nd, "%s: all dims but the last must be dense", nm);
        }
        FAILS(nd, call1(c, i, &m));
        if (c->layout[i] == 'C' && base->ndim >= 2) { /* a transposed view of a square */
            m = *base;
            m.stride[last] = base->stride[0];
            m.stride[0] = 1;
            FAILS(nd, call1(c, i, &m));
        }
    }
    /* ctx */
    mk_context *saved = g_ctx;
    g_ctx = NULL;
    FAILS("ctx is NULL", call0(c));
    g_ctx = ctx2; /* every tensor then belongs to another context */
    FAILS("belongs to another context", call0(c));
    g_ctx = saved;
}

/* ------------------------------------------------------------ prefill */

static void test_prefill(void) {
    const int64_t T = 5, Tk = 6, Hq = 4, Hkv = 2, D = 8;
    op_case c = {.op = "attention_prefill", .n = 7,
                 .name = {"q", "k", "v", "cu_seqlens_q", "cu_seqlens_k", "out", "lse"},
                 .layout = {'I', 'I', 'I', 'C', 'C', 'C', 'C'},
                 .fixed_ndim = {1, 1, 1, 1, 1, 1, 1},
                 .optional = {0, 0, 0, 0, 0, 0, 1},
                 .output = {0, 0, 0, 0, 0, 1, 1},
                 .call = call_prefill};
    c.t[0] = tens(MK_F32, 3, T, Hq, D);
    c.t[1] = tens(MK_F32, 3, Tk, Hkv, D);
    c.t[2] = tens(MK_F32, 3, Tk, Hkv, D);
    c.t[3] = IVEC(0, 2, 5);
    c.t[4] = IVEC(0, 3, 6);
    c.t[5] = tens(MK_F32, 3, T, Hq, D);
    c.t[6] = tens(MK_F32, 2, T, Hq, 1);
    g_attn = (mk_attn_params){0.0f, 1, 0, 0.0f};
    baseline(&c);
    /* lse is optional */
    MKT_OK(call1(&c, 6, NULL));
    repoison(c.t[5].buf);
    generic_checks(&c);

    mk_tensor m, m2, m3;
    /* dtypes */
    FAILS("q.dtype is i8", call3(&c, 0, (m = with_dtype(c.t[0], MK_I8), &m), 1,
                                 (m2 = with_dtype(c.t[1], MK_I8), &m2), 2, (m3 = with_dtype(c.t[2], MK_I8), &m3)));
    FAILS("q.dtype is i32", call1(&c, 0, (m = with_dtype(c.t[0], MK_I32), &m)));
    FAILS("k.dtype (f16) differs from q.dtype (f32)", call1(&c, 1, (m = with_dtype(c.t[1], MK_F16), &m)));
    FAILS("v.dtype (bf16) differs", call1(&c, 2, (m = with_dtype(c.t[2], MK_BF16), &m)));
    FAILS("out.dtype (f16) differs", call1(&c, 5, (m = with_dtype(c.t[5], MK_F16), &m)));
    FAILS("cu_seqlens_q.dtype is f32", call1(&c, 3, (m = with_dtype(c.t[3], MK_F32), &m)));
    FAILS("cu_seqlens_k.dtype is u8", call1(&c, 4, (m = with_dtype(c.t[4], MK_U8), &m)));
    FAILS("lse.dtype is f16", call1(&c, 6, (m = with_dtype(c.t[6], MK_F16), &m)));
    /* shapes */
    m = view(&c.t[2], 0, MK_F32, 3, Tk - 1, Hkv, D);
    FAILS("v.shape[0] is 5 but k.shape[0] is 6", call1(&c, 2, &m));
    m = view(&c.t[5], 0, MK_F32, 3, T, 2, D);
    FAILS("out.shape[1] is 2 but q.shape[1] is 4", call1(&c, 5, &m));
    m = view(&c.t[5], 0, MK_F32, 3, T, Hq, D / 2);
    FAILS("out.shape[2]", call1(&c, 5, &m));
    m = view(&c.t[1], 0, MK_F32, 3, Tk, Hkv, D / 2);
    m2 = view(&c.t[2], 0, MK_F32, 3, Tk, Hkv, D / 2);
    FAILS("k.shape[2] is 4 but must be 8", call2(&c, 1, &m, 2, &m2));
    m = view(&c.t[1], 0, MK_F32, 3, Tk, 3, D);
    m2 = view(&c.t[2], 0, MK_F32, 3, Tk, 3, D);
    FAILS("is not a multiple of k.shape[1] (Hkv = 3)", call2(&c, 1, &m, 2, &m2));
    m = view(&c.t[6], 0, MK_F32, 2, T, Hq / 2, 1);
    FAILS("lse.shape[1] is 2 but must be 4", call1(&c, 6, &m));
    m = view(&c.t[6], 0, MK_F32, 2, T - 1, Hq, 1);
    FAILS("lse.shape[0] is 4 but must be 5", call1(&c, 6, &m));
    m = view(&c.t[6], 0, MK_F32, 3, T, Hq, 1);
    FAILS("lse must have 2 dims", call1(&c, 6, &m));
    /* D > 256 */
    {
        mk_tensor q = tens(MK_F32, 3, 1, 1, 257), k = tens(MK_F32, 3, 1, 1, 257), v = tens(MK_F32, 3, 1, 1, 257);
        mk_tensor o = tens(MK_F32, 3, 1, 1, 257), cq = IVEC(0, 1), ck = IVEC(0, 1);
        FAILS("q.shape[2] (head dim) is 257", mk_attention_prefill(ctx, &q, &k, &v, &cq, &ck, &g_attn, &o, NULL));
        mk_tensor q2 = view(&q, 0, MK_F32, 3, 1, 1, 256), k2 = view(&k, 0, MK_F32, 3, 1, 1, 256);
        mk_tensor v2 = view(&v, 0, MK_F32, 3, 1, 1, 256), o2 = view(&o, 0, MK_F32, 3, 1, 1, 256);
        MKT_OK(mk_attention_prefill(ctx, &q2, &k2, &v2, &cq, &ck, &g_attn, &o2, NULL)); /* 256 is fine */
        repoison(o.buf);
    }
    /* cu_seqlens lengths and values */
    m = view(&c.t[4], 0, MK_I32, 1, 2, 1, 1);
    FAILS("cu_seqlens_k.shape[0] is 2 but must be 3", call1(&c, 4, &m));
    m = view(&c.t[3], 0, MK_I32, 1, 1, 1, 1);
    m2 = view(&c.t[4], 0, MK_I32, 1, 1, 1, 1);
    FAILS("cu_seqlens_q.shape[0] is 1 (must be B+1 >= 2)", call2(&c, 3, &m, 4, &m2));
    m = IVEC(1, 2, 5);
    FAILS("cu_seqlens_q[0] is 1", call1(&c, 3, &m));
    m = IVEC(-1, 2, 5);
    FAILS("cu_seqlens_q[0] is -1", call1(&c, 3, &m));
    m = IVEC(0, 3, 2, 5);
    m2 = IVEC(0, 2, 4, 6);
    FAILS("cu_seqlens_q[2] = 2 is less than cu_seqlens_q[1] = 3", call2(&c, 3, &m, 4, &m2));
    m = IVEC(0, 2, 4);
    FAILS("cu_seqlens_q[2] is 4 but q has 5 tokens", call1(&c, 3, &m));
    m = IVEC(0, 2, 6);
    FAILS("cu_seqlens_q[2] is 6 but q has 5 tokens", call1(&c, 3, &m));
    m = IVEC(0, 3, 5);
    FAILS("cu_seqlens_k[2] is 5 but k has 6 tokens", call1(&c, 4, &m));
    m = IVEC(2, 3, 6);
    FAILS("cu_seqlens_k[0] is 2", call1(&c, 4, &m));
    m = IVEC(0, 7, 6);
    FAILS("cu_seqlens_k[2] = 6 is less than cu_seqlens_k[1] = 7", call1(&c, 4, &m));
    m = IVEC(0, INT32_MIN, 6);
    FAILS("cu_seqlens_k[1] = -2147483648 is less than", call1(&c, 4, &m));
    /* equal entries (an empty sequence) are fine */
    m = IVEC(0, 0, 5);
    MKT_OK(call1(&c, 3, &m));
    repoison(c.t[5].buf), repoison(c.t[6].buf);
    /* params */
    mk_attn_params good = g_attn;
    FAILS("params is NULL", mk_attention_prefill(ctx, &c.t[0], &c.t[1], &c.t[2], &c.t[3], &c.t[4], NULL, &c.t[5], &c.t[6]));
    g_attn.scale = NAN;
    FAILS("params->scale", call0(&c));
    g_attn.scale = INFINITY;
    FAILS("params->scale", call0(&c));
    g_attn.scale = -0.5f;
    FAILS("params->scale", call0(&c));
    g_attn = good, g_attn.softcap = -1.0f;
    FAILS("params->softcap", call0(&c));
    g_attn.softcap = NAN;
    FAILS("params->softcap", call0(&c));
    g_attn.softcap = INFINITY;
    FAILS("params->softcap", call0(&c));
    g_attn = good, g_attn.window = -1;
    FAILS("params->window is -1", call0(&c));
    g_attn.window = INT32_MIN;
    FAILS("params->window", call0(&c));
    g_attn = good, g_attn.window = 1, g_attn.softcap = 30.0f, g_attn.scale = 0.1f;
    MKT_OK(call0(&c)); /* valid non-defaults */
    repoison(c.t[5].buf), repoison(c.t[6].buf);
    g_attn = good;
    /* aliasing */
    m = view(&c.t[0], 0, MK_F32, 3, T, Hq, D);
    FAILS("out overlaps q", call1(&c, 5, &m));
    m = view(&c.t[1], 0, MK_F32, 3, T, Hq, D);
    FAILS("out overlaps k", call1(&c, 5, &m));
    m = view(&c.t[2], 4 * 40, MK_F32, 3, T, Hq, D);
    FAILS("out overlaps v", call1(&c, 5, &m));
    m = view(&c.t[3], 0, MK_F32, 3, T, Hq, D);
    FAILS("out overlaps cu_seqlens_q", call1(&c, 5, &m));
    m = view(&c.t[4], 0, MK_F32, 3, T, Hq, D);
    FAILS("out overlaps cu_seqlens_k", call1(&c, 5, &m));
    m = view(&c.t[5], 4 * (size_t)(T * Hq * D - 1), MK_F32, 2, T, Hq, 1);
    FAILS("lse overlaps out", call1(&c, 6, &m));
    m = view(&c.t[0], 0, MK_F32, 2, T, Hq, 1);
    FAILS("lse overlaps q", call1(&c, 6, &m));
    m = view(&c.t[1], 0, MK_F32, 2, T, Hq, 1);
    FAILS("lse overlaps k", call1(&c, 6, &m));
    m = view(&c.t[2], 0, MK_F32, 2, T, Hq, 1);
    FAILS("lse overlaps v", call1(&c, 6, &m));
    m = view(&c.t[3], 0, MK_F32, 2, T, Hq, 1);
    FAILS("lse overlaps cu_seqlens_q", call1(&c, 6, &m));
    m = view(&c.t[4], 0, MK_F32, 2, T, Hq, 1);
    FAILS("lse overlaps cu_seqlens_k", call1(&c, 6, &m));
    /* out and lse next to each other in one buffer is fine */
    m = view(&c.t[5], 0, MK_F32, 3, T, Hq, D);
    m2 = view(&c.t[5], 4 * (size_t)(T * Hq * D), MK_F32, 2, T, Hq, 1);
    MKT_OK(call2(&c, 5, &m, 6, &m2));
    repoison(c.t[5].buf);
}

/* ------------------------------------------------------------ KV cache ops */

static mk_kv_cache *new_cache(mk_context *c, mk_kv_cache_desc d) {
    mk_kv_cache *kc = NULL;
    if (mk_kv_cache_create(c, &d, &kc) != MK_OK) die("mk_kv_cache_create");
    caches[ncaches++] = kc;
    return kc;
}

static void test_decode(mk_kv_cache *cache, mk_kv_cache *cache_other) {
    const int64_t B = 2, Hq = 4, D = 8;
    op_case c = {.op = "attention_decode", .n = 4,
                 .name = {"q", "block_table", "context_lens", "out"},
                 .layout = {'I', 'C', 'C', 'C'},
                 .fixed_ndim = {1, 1, 1, 1},
                 .output = {0, 0, 0, 1},
                 .call = call_decode};
    c.t[0] = tens(MK_F32, 3, B, Hq, D);
    c.t[1] = itens(2, 2, 3, (int32_t[]){0, 1, -1, 2, -1, -1}); /* unused entries are -1 */
    c.t[2] = IVEC(6, 3);
    c.t[3] = tens(MK_F32, 3, B, Hq, D);
    g_cache = cache;
    g_attn = (mk_attn_params){0.0f, 0, 0, 0.0f};
    baseline(&c);
    generic_checks(&c);

    mk_tensor m, m2;
    FAILS("cache is NULL", mk_attention_decode(ctx, &c.t[0], NULL, &c.t[1], &c.t[2], &g_attn, &c.t[3]));
    FAILS("cache belongs to another context",
          mk_attention_decode(ctx, &c.t[0], cache_other, &c.t[1], &c.t[2], &g_attn, &c.t[3]));
    FAILS("params is NULL", mk_attention_decode(ctx, &c.t[0], cache, &c.t[1], &c.t[2], NULL, &c.t[3]));
    FAILS("q.dtype is i32", call2(&c, 0, (m = with_dtype(c.t[0], MK_I32), &m), 3, (m2 = with_dtype(c.t[3], MK_I32), &m2)));
    FAILS("out.dtype (f16) differs from q.dtype (f32)", call1(&c, 3, (m = with_dtype(c.t[3], MK_F16), &m)));
    FAILS("block_table.dtype is f32", call1(&c, 1, (m = with_dtype(c.t[1], MK_F32), &m)));
    FAILS("context_lens.dtype is i8", call1(&c, 2, (m = with_dtype(c.t[2], MK_I8), &m)));
    m = view(&c.t[0], 0, MK_F32, 3, B, Hq, 4);
    m2 = view(&c.t[3], 0, MK_F32, 3, B, Hq, 4);
    FAILS("q.shape[2] is 4 but must be 8 (the cache's head_dim)", call2(&c, 0, &m, 3, &m2));
    m = view(&c.t[0], 0, MK_F32, 3, B, 3, D);
    m2 = view(&c.t[3], 0, MK_F32, 3, B, 3, D);
    FAILS("q.shape[1] (Hq = 3) is not a multiple of the cache's num_kv_heads (2)", call2(&c, 0, &m, 3, &m2));
    m = view(&c.t[3], 0, MK_F32, 3, 1, Hq, D);
    FAILS("out.shape[0] is 1 but q.shape[0] is 2", call1(&c, 3, &m));
    m = view(&c.t[1], 0, MK_I32, 2, 1, 3, 1);
    FAILS("block_table.shape[0] is 1 but must be 2", call1(&c, 1, &m));
    m = view(&c.t[2], 0, MK_I32, 1, 3, 1, 1);
    FAILS("context_lens.shape[0] is 3 but must be 2", call1(&c, 2, &m));
    /* index values */
    m = IVEC(13, 3);
    FAILS("context_lens[0] is 13 (must be in [0, 12]", call1(&c, 2, &m));
    m = IVEC(6, -1);
    FAILS("context_lens[1] is -1", call1(&c, 2, &m));
    m = IVEC(9, 3); /* needs block_table[0][2], which is -1 */
    FAILS("block_table[0][2] is -1", call1(&c, 2, &m));
    m = itens(2, 2, 3, (int32_t[]){0, 4, -1, 2, -1, -1});
    FAILS("block_table[0][1] is 4 (must be in [0, 4)", call1(&c, 1, &m));
    m = itens(2, 2, 3, (int32_t[]){0, 1, -1, -5, -1, -1});
    FAILS("block_table[1][0] is -5", call1(&c, 1, &m));
    /* out-of-range entries past the used blocks are ignored */
    m = itens(2, 2, 3, (int32_t[]){3, 1, 99, 0, -7, INT32_MAX});
    MKT_OK(call1(&c, 1, &m));
    m = IVEC(0, 0);
    MKT_OK(call1(&c, 2, &m));
    m = IVEC(12, 4);
    m2 = itens(2, 2, 3, (int32_t[]){0, 1, 2, 3, -1, -1});
    MKT_OK(call2(&c, 1, &m2, 2, &m)); /* the maximum length */
    repoison(c.t[3].buf);
    /* params */
    g_attn.scale = NAN;
    FAILS("params->scale", call0(&c));
    g_attn.scale = 0, g_attn.softcap = -2;
    FAILS("params->softcap", call0(&c));
    g_attn.softcap = 0, g_attn.window = -3;
    FAILS("params->window", call0(&c));
    g_attn.window = 0;
    /* aliasing */
    m = view(&c.t[0], 0, MK_F32, 3, B, Hq, D);
    FAILS("out overlaps q", call1(&c, 3, &m));
    m = view(&c.t[1], 0, MK_F32, 3, B, Hq, D);
    FAILS("out overlaps block_table", call1(&c, 3, &m));
    m = view(&c.t[2], 0, MK_F32, 3, B, Hq, D);
    FAILS("out overlaps context_lens", call1(&c, 3, &m));
}

static void test_append(mk_kv_cache *cache, mk_kv_cache *cache_other) {
    const int64_t T = 3, Hkv = 2, D = 8;
    op_case c = {.op = "kv_append", .n = 3,
                 .name = {"k", "v", "slot_mapping"},
                 .layout = {'I', 'I', 'C'},
                 .fixed_ndim = {1, 1, 1},
                 .call = call_append};
    c.t[0] = tens(MK_F32, 3, T, Hkv, D);
    c.t[1] = tens(MK_F32, 3, T, Hkv, D);
    c.t[2] = IVEC(5, -1, 0);
    g_cache = cache;
    baseline(&c);
    generic_checks(&c);

    mk_tensor m, m2;
    FAILS("cache is NULL", mk_kv_cache_append(ctx, NULL, &c.t[0], &c.t[1], &c.t[2]));
    FAILS("cache belongs to another context", mk_kv_cache_append(ctx, cache_other, &c.t[0], &c.t[1], &c.t[2]));
    FAILS("k.dtype is i8", call2(&c, 0, (m = with_dtype(c.t[0], MK_I8), &m), 1, (m2 = with_dtype(c.t[1], MK_I8), &m2)));
    FAILS("v.dtype (f16) differs from k.dtype (f32)", call1(&c, 1, (m = with_dtype(c.t[1], MK_F16), &m)));
    FAILS("slot_mapping.dtype is f32", call1(&c, 2, (m = with_dtype(c.t[2], MK_F32), &m)));
    m = view(&c.t[1], 0, MK_F32, 3, T - 1, Hkv, D);
    FAILS("v.shape[0] is 2 but k.shape[0] is 3", call1(&c, 1, &m));
    m = view(&c.t[0], 0, MK_F32, 3, T, 1, D);
    m2 = view(&c.t[1], 0, MK_F32, 3, T, 1, D);
    FAILS("k.shape[1] is 1 but must be 2 (the cache's num_kv_heads)", call2(&c, 0, &m, 1, &m2));
    m = view(&c.t[0], 0, MK_F32, 3, T, Hkv, 4);
    m2 = view(&c.t[1], 0, MK_F32, 3, T, Hkv, 4);
    FAILS("k.shape[2] is 4 but must be 8 (the cache's head_dim)", call2(&c, 0, &m, 1, &m2));
    m = view(&c.t[2], 0, MK_I32, 1, 2, 1, 1);
    FAILS("slot_mapping.shape[0] is 2 but must be 3", call1(&c, 2, &m));
    m = IVEC(16, -1, 0);
    FAILS("slot_mapping[0] is 16 (must be -1 or in [0, 16)", call1(&c, 2, &m));
    m = IVEC(5, -2, 0);
    FAILS("slot_mapping[1] is -2", call1(&c, 2, &m));
    m = IVEC(5, 1, INT32_MAX);
    FAILS("slot_mapping[2] is 2147483647", call1(&c, 2, &m));
    m = IVEC(5, 5, -1);
    FAILS("slot_mapping names slot 5 more than once", call1(&c, 2, &m));
    m = IVEC(3, 15, 3);
    FAILS("slot_mapping names slot 3 more than once", call1(&c, 2, &m));
    /* -1 (padding) any number of times is fine */
    m = IVEC(-1, -1, -1);
    MKT_OK(call1(&c, 2, &m));
    m = IVEC(-1, 15, -1);
    MKT_OK(call1(&c, 2, &m));
}

static void test_copy_blocks(mk_kv_cache *cache, mk_kv_cache *cache_other) {
    op_case c = {.op = "kv_copy_blocks", .n = 1, .name = {"pairs"}, .layout = {'C'}, .fixed_ndim = {1},
                 .call = call_copy};
    c.t[0] = itens(2, 2, 2, (int32_t[]){0, 2, 1, 3});
    g_cache = cache;
    baseline(&c);
    generic_checks(&c);

    mk_tensor m;
    FAILS("cache is NULL", mk_kv_cache_copy_blocks(ctx, NULL, &c.t[0]));
    FAILS("cache belongs to another context", mk_kv_cache_copy_blocks(ctx, cache_other, &c.t[0]));
    FAILS("pairs.dtype is f32", call1(&c, 0, (m = with_dtype(c.t[0], MK_F32), &m)));
    m = itens(2, 2, 3, (int32_t[]){0, 2, 1, 3, 0, 1});
    FAILS("pairs.shape[1] is 3 but must be 2", call1(&c, 0, &m));
    m = itens(2, 2, 2, (int32_t[]){0, 4, 1, 3});
    FAILS("pairs[0][1] is 4 (must be in [0, 4)", call1(&c, 0, &m));
    m = itens(2, 2, 2, (int32_t[]){0, 2, -1, 3});
    FAILS("pairs[1][0] is -1", call1(&c, 0, &m));
    m = itens(2, 2, 2, (int32_t[]){0, 2, 1, 2});
    FAILS("pairs names destination block 2 more than once", call1(&c, 0, &m));
    m = itens(2, 2, 2, (int32_t[]){0, 2, 2, 3});
    FAILS("pairs[1][0] = 2 is also a destination block", call1(&c, 0, &m));
    m = itens(2, 1, 2, (int32_t[]){1, 1});
    FAILS("pairs[0][0] = 1 is also a destination block", call1(&c, 0, &m));
    /* one source copied to several destinations is fine */
    m = itens(2, 3, 2, (int32_t[]){0, 1, 0, 2, 0, 3});
    MKT_OK(call1(&c, 0, &m));
}

/* ------------------------------------------------------------ GEMMs */

static mk_qweight *make_qw4(mk_context *c, int64_t n, int64_t k) {
    mk_qweight_desc d = {MK_QW4, n, k, 32, 0};
    mk_qweight_data data;
    if (mk_qweight_data_alloc(&d, 0, 0, &data) != MK_OK) die("qweight data");
    memset(data.q, 0x5A, mkref_qweight_q_bytes(&d));
    for (size_t i = 0; i < mkref_qweight_scale_bytes(&d) / 2; i++) ((uint16_t *)data.scales)[i] = 0x2E66; /* 0.1 */
    mk_qweight *qw = NULL;
    if (mk_qweight_create(c, &d, &data, &qw) != MK_OK) die("mk_qweight_create");
    mk_qweight_data_free(&data);
    return qw;
}

static void test_qgemm(void) {
    const int64_t M = 3, N = 8, K = 64;
    op_case c = {.op = "qgemm", .n = 3, .name = {"x", "bias", "y"}, .layout = {'I', 'C', 'C'},
                 .fixed_ndim = {1, 1, 1}, .optional = {0, 1, 0}, .output = {0, 0, 1}, .call = call_qgemm};
    c.t[0] = tens(MK_F16, 2, M, K, 1);
    c.t[1] = tens(MK_F16, 1, N, 1, 1);
    c.t[2] = tens(MK_F16, 2, M, N, 1);
    mk_qweight *qw = make_qw4(ctx, N, K), *qw_other = make_qw4(ctx2, N, K);
    g_qw = qw;
    baseline(&c);
    MKT_OK(call1(&c, 1, NULL));
    repoison(c.t[2].buf);
    generic_checks(&c);

    mk_tensor m, m2;
    g_qw = NULL;
    FAILS("qw is NULL", call0(&c));
    g_qw = qw_other;
    FAILS("qw belongs to another context", call0(&c));
    g_qw = qw;
    FAILS("x.dtype is f32 (must be f16/bf16)",
          call3(&c, 0, (m = with_dtype(c.t[0], MK_F32), &m), 1, NULL, 2, (m2 = with_dtype(c.t[2], MK_F32), &m2)));
    FAILS("y.dtype (bf16) differs from x.dtype (f16)", call1(&c, 2, (m = with_dtype(c.t[2], MK_BF16), &m)));
    FAILS("bias.dtype (f32) differs", call1(&c, 1, (m = with_dtype(c.t[1], MK_F32), &m)));
    m = view(&c.t[0], 0, MK_F16, 2, M, 32, 1);
    FAILS("x.shape[1] is 32 but must be 64 (qw's k)", call1(&c, 0, &m));
    m = view(&c.t[2], 0, MK_F16, 2, M - 1, N, 1);
    FAILS("y.shape[0] is 2 but must be 3", call1(&c, 2, &m));
    m = view(&c.t[2], 0, MK_F16, 2, M, 4, 1);
    FAILS("y.shape[1] is 4 but must be 8 (qw's n)", call1(&c, 2, &m));
    m = view(&c.t[1], 0, MK_F16, 1, 4, 1, 1);
    FAILS("bias.shape[0] is 4 but must be 8", call1(&c, 1, &m));
    m = view(&c.t[0], 2, MK_F16, 2, M, N, 1);
    FAILS("y overlaps x", call1(&c, 2, &m));
    m = view(&c.t[1], 0, MK_F16, 2, M, N, 1);
    FAILS("y overlaps bias", call1(&c, 2, &m));
    mk_qweight_destroy(qw);
    mk_qweight_destroy(qw_other);
    g_qw = NULL;
}

static void test_gemm(void) {
    const int64_t M = 3, N = 5, K = 16;
    op_case c = {.op = "gemm", .n = 4, .name = {"x", "w", "bias", "y"}, .layout = {'I', 'I', 'C', 'C'},
                 .fixed_ndim = {1, 1, 1, 1}, .optional = {0, 0, 1, 0}, .output = {0, 0, 0, 1},
                 .call = call_gemm};
    c.t[0] = tens(MK_F32, 2, M, K, 1);
    c.t[1] = tens(MK_F32, 2, N, K, 1);
    c.t[2] = tens(MK_F32, 1, N, 1, 1);
    c.t[3] = tens(MK_F32, 2, M, N, 1);
    baseline(&c);
    generic_checks(&c);

    mk_tensor m;
    FAILS("x.dtype is i32", call1(&c, 0, (m = with_dtype(c.t[0], MK_I32), &m)));
    FAILS("x.dtype is fp8_e4m3", call1(&c, 0, (m = with_dtype(c.t[0], MK_FP8_E4M3), &m)));
    FAILS("w.dtype (f16) differs from x.dtype (f32)", call1(&c, 1, (m = with_dtype(c.t[1], MK_F16), &m)));
    FAILS("y.dtype (bf16) differs", call1(&c, 3, (m = with_dtype(c.t[3], MK_BF16), &m)));
    FAILS("bias.dtype (f16) differs", call1(&c, 2, (m = with_dtype(c.t[2], MK_F16), &m)));
    m = view(&c.t[1], 0, MK_F32, 2, N, K - 1, 1);
    FAILS("w.shape[1] is 15 but must be 16", call1(&c, 1, &m));
    m = view(&c.t[3], 0, MK_F32, 2, M + 1, N, 1);
    FAILS("y.shape[0] is 4 but must be 3", call1(&c, 3, &m));
    m = view(&c.t[3], 0, MK_F32, 2, M, N + 1, 1);
    FAILS("y.shape[1] is 6 but must be 5", call1(&c, 3, &m));
    m = view(&c.t[2], 0, MK_F32, 1, N - 1, 1, 1);
    FAILS("bias.shape[0] is 4 but must be 5", call1(&c, 2, &m));
    m = view(&c.t[3], 0, MK_F32, 1, M * N, 1, 1);
    FAILS("y must have 2 dims", call1(&c, 3, &m));
    m = view(&c.t[0], 4 * (size_t)(M * K - 1), MK_F32, 2, M, N, 1);
    FAILS("y overlaps x", call1(&c, 3, &m));
    m = view(&c.t[1], 4, MK_F32, 2, M, N, 1);
    FAILS("y overlaps w", call1(&c, 3, &m));
    m = view(&c.t[2], 0, MK_F32, 2, M, N, 1);
    FAILS("y overlaps bias", call1(&c, 3, &m));
}

/* ------------------------------------------------------------ norms */

static void norm_case(int layer) {
    const int64_t R = 4, N = 16;
    op_case c = {.op = layer ? "layernorm" : "rmsnorm",
                 .name = {"x", "w", "b", "y"},
                 .layout = {'R', 'C', 'C', 'C'},
                 .fixed_ndim = {0, 1, 1, 0},
                 .optional = {0, 0, 1, 0},
                 .output = {0, 0, 0, 1},
                 .call = layer ? call_layernorm : call_rmsnorm};
    c.t[0] = tens(MK_F32, 2, R, N, 1);
    c.t[1] = tens(MK_F32, 1, N, 1, 1);
    c.t[2] = tens(MK_F32, 1, N, 1, 1);
    c.t[3] = tens(MK_F32, 2, R, N, 1);
    if (layer) {
        c.n = 4;
    } else { /* rmsnorm has no b: shift y into slot 2 */
        c.n = 3;
        c.name[2] = "y", c.layout[2] = 'C', c.optional[2] = 0, c.output[2] = 1, c.fixed_ndim[2] = 0;
        c.t[2] = c.t[3];
    }
    int iy = slot(&c, "y");
    g_eps = 1e-5f, g_plus_one = 0;
    baseline(&c);
    g_plus_one = 1;
    MKT_OK(call0(&c));
    repoison(c.t[iy].buf);
    if (layer) {
        MKT_OK(call1(&c, 2, NULL));
        repoison(c.t[iy].buf);
    }
    generic_checks(&c);

    mk_tensor m, m2;
    float bad_eps[] = {-1e-6f, -1.0f, NAN, INFINITY, -INFINITY};
    for (int i = 0; i < 5; i++) {
        g_eps = bad_eps[i];
        FAILS("eps is", call0(&c));
    }
    g_eps = 0.0f;
    MKT_OK(call0(&c)); /* eps 0 is allowed */
    repoison(c.t[iy].buf);
    g_eps = 1e-5f;
    FAILS("x.dtype is i32", call1(&c, 0, (m = with_dtype(c.t[0], MK_I32), &m)));
    FAILS("y.dtype (f16) differs", call1(&c, iy, (m = with_dtype(c.t[iy], MK_F16), &m)));
    FAILS("w.dtype (bf16) differs", call1(&c, 1, (m = with_dtype(c.t[1], MK_BF16), &m)));
    if (layer) FAILS("b.dtype (f16) differs", call1(&c, 2, (m = with_dtype(c.t[2], MK_F16), &m)));
    m = view(&c.t[iy], 0, MK_F32, 2, R, N / 2, 1);
    FAILS("y.shape[1] is 8 but x.shape[1] is 16", call1(&c, iy, &m));
    m = view(&c.t[iy], 0, MK_F32, 1, R * N, 1, 1);
    FAILS("y has 1 dims but x has 2", call1(&c, iy, &m));
    m = view(&c.t[1], 0, MK_F32, 1, N / 2, 1, 1);
    FAILS("w.shape[0] is 8 but must be 16", call1(&c, 1, &m));
    if (layer) {
        m = view(&c.t[2], 0, MK_F32, 1, N + 1, 1, 1);
        FAILS("b.shape[0] is 17 but must be 16", call1(&c, 2, &m));
    }
    /* x with a gap between its outer dims (only the innermost row dim may be strided) */
    m = c.t[0];
    m.ndim = 3, m.shape[0] = 2, m.shape[1] = 2, m.shape[2] = N / 2;
    m.stride[0] = 20, m.stride[1] = N / 2, m.stride[2] = 1;
    m2 = view(&c.t[iy], 0, MK_F32, 3, 2, 2, N / 2);
    FAILS("x: all dims but the last must be dense", call2(&c, 0, &m, iy, &m2));
    /* aliasing: y may be x itself, never a shifted view of it */
    m = view(&c.t[0], 4 * (size_t)N, MK_F32, 2, R, N, 1);
    FAILS("y partially overlaps x", call1(&c, iy, &m));
    MKT_OK(call1(&c, iy, &c.t[0])); /* the very same view is fine (in place) */
    m = view(&c.t[1], 0, MK_F32, 2, R, N, 1);
    FAILS("y overlaps w", call1(&c, iy, &m));
    if (layer) {
        m = view(&c.t[2], 0, MK_F32, 2, R, N, 1);
        FAILS("y overlaps b", call1(&c, iy, &m));
    }
}

/* ------------------------------------------------------------ rope */

static void test_rope(void) {
    const int64_t T = 3, H = 2, D = 8;
    op_case c = {.op = "rope", .n = 2, .name = {"x", "positions"}, .layout = {'I', 'C'},
                 .fixed_ndim = {1, 1}, .output = {1, 0}, .call = call_rope};
    c.t[0] = tens(MK_F32, 3, T, H, D);
    c.t[1] = IVEC(0, 7, 2);
    g_rope = (mk_rope_params){MK_ROPE_HALF, 10000.0f, 0, MK_ROPE_SCALING_NONE, 0, 0, 0, 0};
    baseline(&c);
    generic_checks(&c);

    mk_tensor m;
    mk_rope_params good = g_rope;
    FAILS("params is NULL", mk_rope(ctx, &c.t[0], &c.t[1], NULL));
    float bad_theta[] = {1.0f, 0.5f, -10000.0f, NAN, INFINITY}; /* 0 is the default, 10000 */
    for (int i = 0; i < 5; i++) {
        g_rope = good, g_rope.theta = bad_theta[i];
        FAILS("params->theta", call0(&c));
    }
    int bad_rd[] = {3, 7, 10, -2, INT32_MIN};
    for (int i = 0; i < 5; i++) {
        g_rope = good, g_rope.rotary_dim = bad_rd[i];
        FAILS("params->rotary_dim", call0(&c));
    }
    g_rope = good, g_rope.rotary_dim = 4;
    MKT_OK(call0(&c)); /* partial rotary */
    g_rope = good; /* rotary_dim 0 = D, which is odd here */
    m = view(&c.t[0], 0, MK_F32, 3, T, H, 7);
    FAILS("params->rotary_dim is 0", call1(&c, 0, &m));
    g_rope = good, g_rope.style = (mk_rope_style)2;
    FAILS("params->style (2)", call0(&c));
    g_rope = good, g_rope.style = (mk_rope_style)-1;
    FAILS("params->style (-1)", call0(&c));
    g_rope = good, g_rope.scaling = (mk_rope_scaling)3;
    FAILS("params->scaling (3)", call0(&c));
    g_rope = good, g_rope.scaling = MK_ROPE_SCALING_LINEAR, g_rope.factor = -0.5f;
    FAILS("params->factor", call0(&c));
    g_rope.factor = NAN;
    FAILS("params->factor", call0(&c));
    g_rope.factor = -2.0f;
    FAILS("params->factor", call0(&c));
    g_rope.factor = 2.0f;
    MKT_OK(call0(&c));
    mk_rope_params l3 = {MK_ROPE_HALF, 500000.0f, 0, MK_ROPE_SCALING_LLAMA3, 8.0f, 1.0f, 4.0f, 8192};
    g_rope = l3;
    MKT_OK(call0(&c));
    g_rope = l3, g_rope.factor = -8.0f;
    FAILS("params->factor", call0(&c));
    g_rope = l3, g_rope.low_freq_factor = -1.0f;
    FAILS("params->low_freq_factor", call0(&c));
    g_rope = l3, g_rope.low_freq_factor = NAN;
    FAILS("params->low_freq_factor", call0(&c));
    g_rope = l3, g_rope.high_freq_factor = 1.0f;
    FAILS("params->high_freq_factor", call0(&c));
    g_rope = l3, g_rope.high_freq_factor = INFINITY;
    FAILS("params->high_freq_factor", call0(&c));
    g_rope = l3, g_rope.original_max_position = -1;
    FAILS("params->original_max_position", call0(&c));
    g_rope = l3, g_rope.original_max_position = -8192;
    FAILS("params->original_max_position", call0(&c));
    g_rope = good;
    repoison(c.t[0].buf);
    FAILS("x.dtype is i8", call1(&c, 0, (m = with_dtype(c.t[0], MK_I8), &m)));
    FAILS("positions.dtype is f32", call1(&c, 1, (m = with_dtype(c.t[1], MK_F32), &m)));
    m = view(&c.t[1], 0, MK_I32, 1, 2, 1, 1);
    FAILS("positions.shape[0] is 2 but must be 3", call1(&c, 1, &m));
    m = IVEC(0, -1, 2);
    FAILS("positions[1] is -1", call1(&c, 1, &m));
    m = IVEC(INT32_MIN, 1, 2);
    FAILS("positions[0] is -2147483648", call1(&c, 1, &m));
    m = view(&c.t[0], 4 * (size_t)(T * H * D - 1), MK_I32, 1, T, 1, 1);
    FAILS("x overlaps positions", call1(&c, 1, &m));
    /* x is rotated in place: its elements must not alias each other */
    m = c.t[0], m.stride[0] = 0;
    FAILS("x: its elements overlap", call1(&c, 0, &m));
    m = c.t[0], m.stride[1] = D / 2;
    FAILS("x: its elements overlap", call1(&c, 0, &m));
    m = c.t[0], m.stride[0] = D, m.stride[1] = D;
    FAILS("x: its elements overlap", call1(&c, 0, &m));
    /* a permuted, non-overlapping view ([H][T][D] memory seen as [T][H][D]) is fine */
    m = c.t[0], m.stride[0] = D, m.stride[1] = T * D;
    MKT_OK(call1(&c, 0, &m));
}

/* ------------------------------------------------------------ elementwise */

static void binary_case(const char *op, mk_status (*call)(const mk_tensor *const *), const char *an,
                        const char *bn) {
    const int64_t R = 4, N = 16;
    op_case c = {.op = op, .n = 3, .name = {an, bn, "out"}, .layout = {'R', 'R', 'C'},
                 .output = {0, 0, 1}, .call = call};
    c.t[0] = tens(MK_F32, 2, R, N, 1);
    c.t[1] = tens(MK_F32, 2, R, N, 1);
    c.t[2] = tens(MK_F32, 2, R, N, 1);
    baseline(&c);
    generic_checks(&c);

    char nd[128];
    mk_tensor m;
    snprintf(nd, sizeof nd, "%s.dtype is i32", an);
    FAILS(nd, call1(&c, 0, (m = with_dtype(c.t[0], MK_I32), &m)));
    snprintf(nd, sizeof nd, "%s.dtype (f16) differs from %s.dtype (f32)", bn, an);
    FAILS(nd, call1(&c, 1, (m = with_dtype(c.t[1], MK_F16), &m)));
    snprintf(nd, sizeof nd, "out.dtype (bf16) differs from %s.dtype", an);
    FAILS(nd, call1(&c, 2, (m = with_dtype(c.t[2], MK_BF16), &m)));
    m = view(&c.t[1], 0, MK_F32, 2, R, N / 2, 1);
    snprintf(nd, sizeof nd, "%s.shape[1] is 8 but %s.shape[1] is 16", bn, an);
    FAILS(nd, call1(&c, 1, &m));
    m = view(&c.t[2], 0, MK_F32, 2, R - 1, N, 1);
    snprintf(nd, sizeof nd, "out.shape[0] is 3 but %s.shape[0] is 4", an);
    FAILS(nd, call1(&c, 2, &m));
    m = view(&c.t[1], 0, MK_F32, 3, R, N, 1);
    snprintf(nd, sizeof nd, "%s has 3 dims but %s has 2", bn, an);
    FAILS(nd, call1(&c, 1, &m));
    m = view(&c.t[0], 4, MK_F32, 2, R, N, 1);
    snprintf(nd, sizeof nd, "out partially overlaps %s", an);
    FAILS(nd, call1(&c, 2, &m));
    m = view(&c.t[1], 4 * (size_t)(N * R - 1), MK_F32, 2, R, N, 1);
    snprintf(nd, sizeof nd, "out partially overlaps %s", bn);
    FAILS(nd, call1(&c, 2, &m));
    /* the very same view as an input is fine (in place) */
    MKT_OK(call1(&c, 2, &c.t[0]));
    MKT_OK(call1(&c, 2, &c.t[1]));
}

/* ------------------------------------------------------------ non-op functions */

static void test_devices_contexts(void) {
    int n = -5;
    FAILS("n is NULL", mk_device_count(NULL));
    mk_device_info info, copy;
    memset(&info, 0xAB, sizeof info);
    memcpy(&copy, &info, sizeof info);
    MKT_OK(mk_device_count(&n));
    FAILS("out is NULL", mk_device_get_info(0, NULL));
    FAILS("index -1 out of range", mk_device_get_info(-1, &info));
    HOST_UNCHANGED(&info, &copy, sizeof info, "mk_device_get_info(-1)");
    FAILS("out of range", mk_device_get_info(n, &info));
    FAILS("out of range", mk_device_get_info(INT32_MIN, &info));
    HOST_UNCHANGED(&info, &copy, sizeof info, "mk_device_get_info(n)");
    int idx = -42;
    FAILS("device is NULL", mk_device_find(NULL, &idx));
    FAILS("index is NULL", mk_device_find("ref", NULL));
    MKT_CHECK(idx == -42, "mk_device_find wrote index on failure");

    mk_context *c = (mk_context *)(uintptr_t)1;
    FAILS("device is NULL", mk_context_create(NULL, &c));
    MKT_CHECK(c == NULL, "mk_context_create: *out is not NULL after a failure");
    FAILS("out is NULL", mk_context_create("ref", NULL));
    FAILS("ctx is NULL", mk_context_get_device(NULL, &info));
    HOST_UNCHANGED(&info, &copy, sizeof info, "mk_context_get_device(NULL)");
    FAILS("out is NULL", mk_context_get_device(ctx, NULL));
    FAILS("ctx is NULL", mk_synchronize(NULL));
    mk_context_destroy(NULL); /* a no-op */
}

static void test_buffers(void) {
    mk_buffer *b = (mk_buffer *)(uintptr_t)1;
    FAILS("out is NULL", mk_buffer_alloc(ctx, 16, NULL));
    FAILS("ctx is NULL", mk_buffer_alloc(NULL, 16, &b));
    MKT_CHECK(b == NULL, "mk_buffer_alloc: *out is not NULL after a failure");
    FAILS("bytes is 0", mk_buffer_alloc(ctx, 0, &b));
    FAILS("bytes (", mk_buffer_alloc(ctx, SIZE_MAX, &b));
    FAILS("bytes (", mk_buffer_alloc(ctx, SIZE_MAX / 2, &b));
    MKT_CHECK(b == NULL, "mk_buffer_alloc: *out is not NULL after a failure");

    mk_buffer *t = tbuf_on(ctx, 64);
    uint8_t src[128], dst[128], copy[128];
    memset(src, 0x11, sizeof src);
    memset(dst, 0xEE, sizeof dst);
    memcpy(copy, dst, sizeof dst);
    FAILS("buf is NULL", mk_buffer_write(NULL, 0, src, 4));
    FAILS("src is NULL", mk_buffer_write(t, 0, NULL, 4));
    FAILS("exceeds the buffer size 64", mk_buffer_write(t, 62, src, 4));
    FAILS("exceeds the buffer size 64", mk_buffer_write(t, 0, src, 65));
    FAILS("exceeds the buffer size 64", mk_buffer_write(t, 65, src, 0));
    FAILS("exceeds the buffer size 64", mk_buffer_write(t, 8, src, SIZE_MAX));
    FAILS("exceeds the buffer size 64", mk_buffer_write(t, SIZE_MAX, src, 2));
    FAILS("buf is NULL", mk_buffer_read(NULL, 0, dst, 4));
    FAILS("dst is NULL", mk_buffer_read(t, 0, NULL, 4));
    FAILS("exceeds the buffer size 64", mk_buffer_read(t, 61, dst, 4));
    FAILS("exceeds the buffer size 64", mk_buffer_read(t, 0, dst, 65));
    FAILS("exceeds the buffer size 64", mk_buffer_read(t, 1, dst, SIZE_MAX));
    HOST_UNCHANGED(dst, copy, sizeof dst, "mk_buffer_read");
    FAILS("buf is NULL", mk_buffer_fill(NULL, 0, 0x00, 4));
    FAILS("exceeds the buffer size 64", mk_buffer_fill(t, 60, 0x00, 5));
    FAILS("exceeds the buffer size 64", mk_buffer_fill(t, 4, 0x00, SIZE_MAX - 2));
    MKT_CHECK(mk_buffer_size(NULL) == 0, "mk_buffer_size(NULL) is not 0");
    mk_buffer_free(NULL);
}

static void test_events(void) {
    mk_event *e = (mk_event *)(uintptr_t)1, *a = NULL, *b = NULL, *o = NULL, *fresh = NULL;
    FAILS("out is NULL", mk_event_create(ctx, NULL));
    FAILS("ctx is NULL", mk_event_create(NULL, &e));
    MKT_CHECK(e == NULL, "mk_event_create: *out is not NULL after a failure");
    FAILS("ev is NULL", mk_event_record(NULL));
    MKT_OK(mk_event_create(ctx, &a));
    MKT_OK(mk_event_create(ctx, &b));
    MKT_OK(mk_event_create(ctx, &fresh));
    MKT_OK(mk_event_create(ctx2, &o));
    MKT_OK(mk_event_record(a));
    MKT_OK(mk_event_record(b));
    MKT_OK(mk_event_record(o));
    float ms = -12345.0f;
    FAILS("start is NULL", mk_event_elapsed_ms(NULL, b, &ms));
    FAILS("end is NULL", mk_event_elapsed_ms(a, NULL, &ms));
    FAILS("ms is NULL", mk_event_elapsed_ms(a, b, NULL));
    FAILS("start and end belong to different contexts", mk_event_elapsed_ms(a, o, &ms));
    FAILS("start was never recorded", mk_event_elapsed_ms(fresh, b, &ms));
    FAILS("end was never recorded", mk_event_elapsed_ms(a, fresh, &ms));
    MKT_CHECK(ms == -12345.0f, "mk_event_elapsed_ms wrote ms on failure");
    MKT_OK(mk_event_elapsed_ms(a, b, &ms));
    MKT_CHECK(ms >= 0.0f, "elapsed %g ms < 0", ms);
    mk_event_destroy(a), mk_event_destroy(b), mk_event_destroy(fresh), mk_event_destroy(o);
    mk_event_destroy(NULL);
}

static void test_kv_desc(void) {
    const mk_kv_cache_desc good = {4, 16, 2, 64, MK_F16};
    mk_kv_cache *kc = (mk_kv_cache *)(uintptr_t)1;
    mk_kv_cache_desc d;
    FAILS("out is NULL", mk_kv_cache_create(ctx, &good, NULL));
    FAILS("ctx is NULL", mk_kv_cache_create(NULL, &good, &kc));
    MKT_CHECK(kc == NULL, "mk_kv_cache_create: *out is not NULL after a failure");
    FAILS("desc is NULL", mk_kv_cache_create(ctx, NULL, &kc));
    d = good, d.num_blocks = 0;
    FAILS("desc->num_blocks is 0", mk_kv_cache_create(ctx, &d, &kc));
    d = good, d.num_blocks = -3;
    FAILS("desc->num_blocks is -3", mk_kv_cache_create(ctx, &d, &kc));
    d = good, d.block_size = 0;
    FAILS("desc->block_size is 0", mk_kv_cache_create(ctx, &d, &kc));
    d = good, d.block_size = 4097;
    FAILS("desc->block_size is 4097", mk_kv_cache_create(ctx, &d, &kc));
    d = good, d.num_kv_heads = 0;
    FAILS("desc->num_kv_heads is 0", mk_kv_cache_create(ctx, &d, &kc));
    d = good, d.num_kv_heads = -1;
    FAILS("desc->num_kv_heads is -1", mk_kv_cache_create(ctx, &d, &kc));
    d = good, d.head_dim = 0;
    FAILS("desc->head_dim is 0", mk_kv_cache_create(ctx, &d, &kc));
    d = good, d.head_dim = 257;
    FAILS("desc->head_dim is 257", mk_kv_cache_create(ctx, &d, &kc));
    mk_dtype bad[] = {MK_U8, MK_I32, (mk_dtype)-1, MK_DTYPE_COUNT, (mk_dtype)77};
    for (int i = 0; i < 5; i++) {
        d = good, d.dtype = bad[i];
        FAILS("desc->dtype", mk_kv_cache_create(ctx, &d, &kc));
    }
    d = good, d.num_blocks = (int64_t)1 << 40, d.block_size = 4096;
    FAILS("desc: num_blocks * block_size * num_kv_heads exceeds 2^31-1", mk_kv_cache_create(ctx, &d, &kc));
    d = good, d.num_blocks = INT64_MAX, d.block_size = 4096, d.num_kv_heads = INT32_MAX;
    FAILS("desc: num_blocks * block_size", mk_kv_cache_create(ctx, &d, &kc));
    d = good, d.num_blocks = (int64_t)1 << 20, d.block_size = 2048; /* 2^31 slots: not int32 */
    FAILS("desc: num_blocks * block_size", mk_kv_cache_create(ctx, &d, &kc));
    MKT_CHECK(kc == NULL, "mk_kv_cache_create: *out is not NULL after a failure");
    mk_kv_cache_destroy(NULL);

    /* get_desc / read_block */
    mk_kv_cache *f16 = new_cache(ctx, good);
    mk_kv_cache_desc got, gcopy;
    memset(&got, 0x5C, sizeof got);
    memcpy(&gcopy, &got, sizeof got);
    FAILS("cache is NULL", mk_kv_cache_get_desc(NULL, &got));
    HOST_UNCHANGED(&got, &gcopy, sizeof got, "mk_kv_cache_get_desc");
    FAILS("out is NULL", mk_kv_cache_get_desc(f16, NULL));
    size_t sb, kb = cache_block_bytes(f16, &sb);
    uint8_t *k = malloc(kb), *v = malloc(kb), *kcopy = malloc(kb);
    float ks[64], vs[64], scopy[64];
    memset(k, 0x77, kb), memset(v, 0x77, kb), memcpy(kcopy, k, kb);
    for (int i = 0; i < 64; i++) ks[i] = vs[i] = scopy[i] = -3.25f;
    FAILS("cache is NULL", mk_kv_cache_read_block(NULL, 0, k, v, NULL, NULL));
    FAILS("block is -1", mk_kv_cache_read_block(f16, -1, k, v, NULL, NULL));
    FAILS("block is 4 (must be in [0, 4))", mk_kv_cache_read_block(f16, 4, k, v, NULL, NULL));
    FAILS("block is", mk_kv_cache_read_block(f16, INT64_MIN, k, v, NULL, NULL));
    FAILS("k_scale/v_scale given but the cache is not quantized", mk_kv_cache_read_block(f16, 0, k, v, ks, NULL));
    FAILS("k_scale/v_scale given", mk_kv_cache_read_block(f16, 0, k, v, NULL, vs));
    HOST_UNCHANGED(k, kcopy, kb, "mk_kv_cache_read_block k_out");
    HOST_UNCHANGED(v, kcopy, kb, "mk_kv_cache_read_block v_out");
    HOST_UNCHANGED(ks, scopy, sizeof ks, "mk_kv_cache_read_block k_scale");
    HOST_UNCHANGED(vs, scopy, sizeof vs, "mk_kv_cache_read_block v_scale");
    MKT_OK(mk_kv_cache_read_block(f16, 3, NULL, NULL, NULL, NULL)); /* every output may be NULL */
    free(k), free(v), free(kcopy);
}

static void test_qweights(void) {
    const mk_qweight_desc good = {MK_QW4, 16, 64, 32, 1};
    mk_qweight_data data;
    if (mk_qweight_data_alloc(&good, 1, 1, &data) != MK_OK) die("data alloc");
    memset(data.q, 0x21, mkref_qweight_q_bytes(&good));
    memset(data.scales, 0x2C, mkref_qweight_scale_bytes(&good));
    memset(data.zeros, 7, mkref_qweight_zero_bytes(&good));
    for (int j = 0; j < 64; j++) data.k_perm[j] = 63 - j;
    mk_qweight *qw = (mk_qweight *)(uintptr_t)1;
    mk_qweight_desc d;
    mk_qweight_data x;

    FAILS("out is NULL", mk_qweight_create(ctx, &good, &data, NULL));
    FAILS("ctx is NULL", mk_qweight_create(NULL, &good, &data, &qw));
    MKT_CHECK(qw == NULL, "mk_qweight_create: *out is not NULL after a failure");
    FAILS("desc is NULL", mk_qweight_create(ctx, NULL, &data, &qw));
    FAILS("data is NULL", mk_qweight_create(ctx, &good, NULL, &qw));
    x = data, x.q = NULL;
    FAILS("data->q is NULL", mk_qweight_create(ctx, &good, &x, &qw));
    x = data, x.scales = NULL;
    FAILS("data->scales is NULL", mk_qweight_create(ctx, &good, &x, &qw));
    x = data, x.zeros = NULL;
    FAILS("data->zeros is NULL but desc->asymmetric is set", mk_qweight_create(ctx, &good, &x, &qw));
    d = good, d.asymmetric = 0;
    FAILS("data->zeros is set but desc->asymmetric is 0", mk_qweight_create(ctx, &d, &data, &qw));
    ((uint8_t *)data.zeros)[5] = 16;
    FAILS("data->zeros[5] is 16", mk_qweight_create(ctx, &good, &data, &qw));
    ((uint8_t *)data.zeros)[5] = 255;
    FAILS("data->zeros[5] is 255", mk_qweight_create(ctx, &good, &data, &qw));
    ((uint8_t *)data.zeros)[5] = 15; /* the largest zero is fine */
    data.k_perm[10] = data.k_perm[11];
    FAILS("data->k_perm is not a permutation", mk_qweight_create(ctx, &good, &data, &qw));
    data.k_perm[10] = 64;
    FAILS("data->k_perm is not a permutation of 0..k-1 (k_perm[10] = 64)", mk_qweight_create(ctx, &good, &data, &qw));
    data.k_perm[10] = -1;
    FAILS("data->k_perm", mk_qweight_create(ctx, &good, &data, &qw));
    data.k_perm[10] = 63 - 10;
    /* descriptors */
    struct { mk_qweight_desc d; const char *needle; } bad[] = {
        {{(mk_qformat)0, 16, 64, 32, 0}, "desc->format (0)"},
        {{(mk_qformat)5, 16, 64, 32, 0}, "desc->format (5)"},
        {{(mk_qformat)-1, 16, 64, 32, 0}, "desc->format (-1)"},
        {{MK_QW4, 0, 64, 32, 0}, "desc->n is 0"},
        {{MK_QW4, -16, 64, 32, 0}, "desc->n is -16"},
        {{MK_QW4, 16, 0, 32, 0}, "desc->k is 0"},
        {{MK_QW4, 16, -64, 32, 0}, "desc->k is -64"},
        {{MK_QW4, (int64_t)1 << 31, 64, 32, 0}, "desc->n or desc->k exceeds"},
        {{MK_QW8, 16, (int64_t)1 << 40, 0, 0}, "desc->n or desc->k exceeds"},
        {{MK_QW4, 16, 64, 16, 0}, "desc->group_size is 16 (QW4 needs 32, 64 or 128)"},
        {{MK_QW4, 16, 64, 0, 0}, "desc->group_size is 0"},
        {{MK_QW4, 16, 64, 256, 0}, "desc->group_size is 256"},
        {{MK_QW4, 16, 48, 32, 0}, "desc->k (48) is not a multiple of desc->group_size (32)"},
        {{MK_QW4, 16, 64, 128, 0}, "desc->k (64) is not a multiple of desc->group_size (128)"},
        {{MK_QW8, 16, 64, 48, 0}, "desc->group_size is 48 (QW8 needs 0, 32, 64 or 128)"},
        {{MK_QW8, 16, 80, 64, 0}, "desc->k (80) is not a multiple"},
        {{MK_QW8A8, 16, 64, 32, 0}, "desc->group_size is 32 (must be 0"},
        {{MK_QFP8, 16, 64, 64, 0}, "desc->group_size is 64 (must be 0"},
        {{MK_QW8, 16, 64, 0, 1}, "desc->asymmetric is set but only QW4"},
        {{MK_QFP8, 16, 64, 0, 1}, "desc->asymmetric"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mk_qweight_data z;
        memset(&z, 0x5A, sizeof z);
        FAILS(bad[i].needle, mk_qweight_create(ctx, &bad[i].d, &data, &qw));
        FAILS(bad[i].needle, mk_qweight_data_alloc(&bad[i].d, 0, 0, &z));
        MKT_CHECK(!z.q && !z.scales && !z.zeros && !z.k_perm, "mk_qweight_data_alloc left pointers after a failure");
    }
    MKT_CHECK(qw == NULL, "mk_qweight_create: *out is not NULL after a failure");
    /* data_alloc */
    FAILS("desc is NULL", mk_qweight_data_alloc(NULL, 0, 0, &x));
    FAILS("out is NULL", mk_qweight_data_alloc(&good, 0, 0, NULL));
    d = (mk_qweight_desc){MK_QW8, 16, 64, 0, 0};
    FAILS("with_zeros is set but only QW4 has zero points", mk_qweight_data_alloc(&d, 1, 0, &x));
    mk_qweight_data_free(NULL);

    /* get_desc / read */
    MKT_OK(mk_qweight_create(ctx, &good, &data, &qw));
    mk_qweight_desc gd, gcopy;
    memset(&gd, 0x33, sizeof gd), memcpy(&gcopy, &gd, sizeof gd);
    FAILS("qw is NULL", mk_qweight_get_desc(NULL, &gd));
    HOST_UNCHANGED(&gd, &gcopy, sizeof gd, "mk_qweight_get_desc");
    FAILS("out is NULL", mk_qweight_get_desc(qw, NULL));
    mk_qweight_data out;
    if (mk_qweight_data_alloc(&good, 1, 1, &out) != MK_OK) die("data alloc");
    size_t qb = mkref_qweight_q_bytes(&good), sb = mkref_qweight_scale_bytes(&good), zb = mkref_qweight_zero_bytes(&good);
    memset(out.q, 0x99, qb), memset(out.scales, 0x99, sb), memset(out.zeros, 0x99, zb);
    memset(out.k_perm, 0x99, 64 * 4);
    uint8_t pat[1024];
    memset(pat, 0x99, sizeof pat);
    FAILS("qw is NULL", mk_qweight_read(NULL, &out));
    FAILS("out arrays are NULL", mk_qweight_read(qw, NULL));
    x = out, x.q = NULL;
    FAILS("out arrays are NULL", mk_qweight_read(qw, &x));
    x = out, x.scales = NULL;
    FAILS("out arrays are NULL", mk_qweight_read(qw, &x));
    x = out, x.zeros = NULL;
    FAILS("out->zeros is NULL but the weight has zero points", mk_qweight_read(qw, &x));
    x = out, x.k_perm = NULL;
    FAILS("out->k_perm is NULL but the weight has a K permutation", mk_qweight_read(qw, &x));
    HOST_UNCHANGED(out.q, pat, qb, "mk_qweight_read q");
    HOST_UNCHANGED(out.scales, pat, sb, "mk_qweight_read scales");
    HOST_UNCHANGED(out.zeros, pat, zb, "mk_qweight_read zeros");
    HOST_UNCHANGED(out.k_perm, pat, 64 * 4, "mk_qweight_read k_perm");
    mk_qweight_destroy(qw);
    mk_qweight_destroy(NULL);
    mk_qweight_data_free(&out);
    mk_qweight_data_free(&data);
}

/* ------------------------------------------------------------ importers */

/* desc_out and data_out poisoned; after a failing import they must be exactly as they were. */
typedef struct {
    mk_qweight_desc d, dcopy;
    mk_qweight_data x, xcopy;
} import_outs;

static void outs_poison(import_outs *o) {
    memset(o, 0xC5, sizeof *o);
}

#define IMPORT_FAILS(needle, call, outs)                                             \
    do {                                                                             \
        outs_poison(&(outs));                                                        \
        FAILS(needle, call);                                                         \
        HOST_UNCHANGED(&(outs).d, &(outs).dcopy, sizeof(outs).d, "import desc_out"); \
        HOST_UNCHANGED(&(outs).x, &(outs).xcopy, sizeof(outs).x, "import data_out"); \
    } while (0)

static void test_import_gptq(void) {
    enum { N = 16, K = 64, G = 32 };
    int32_t qweight[K / 8 * N], qzeros[K / G * N / 8], g_idx[K];
    uint16_t scales[K / G * N];
    mkref_rng r;
    mkt_rng(&r, 301);
    for (int i = 0; i < K / 8 * N; i++) qweight[i] = (int32_t)mkref_rng_u64(&r);
    for (int i = 0; i < K / G * N / 8; i++) qzeros[i] = 0x76543210; /* no nibble 15 */
    for (int i = 0; i < K / G * N; i++) scales[i] = mk_f32_to_f16(0.01f * (float)(i + 1));
    for (int i = 0; i < K; i++) g_idx[i] = (i * 7 % K) / G; /* act order, balanced groups */
    const mk_gptq_tensors good = {qweight, qzeros, scales, g_idx, N, K, G, 0};
    import_outs o;
    mk_gptq_tensors in;

    MKT_OK(mk_import_gptq(&good, &o.d, &o.x)); /* the valid baseline */
    mk_qweight_data_free(&o.x);
    IMPORT_FAILS("in is NULL", mk_import_gptq(NULL, &o.d, &o.x), o);
    IMPORT_FAILS("desc_out is NULL", mk_import_gptq(&good, NULL, &o.x), o);
    IMPORT_FAILS("data_out is NULL", mk_import_gptq(&good, &o.d, NULL), o);
    in = good, in.qweight = NULL;
    IMPORT_FAILS("in->qweight is NULL", mk_import_gptq(&in, &o.d, &o.x), o);
    in = good, in.scales = NULL;
    IMPORT_FAILS("in->scales is NULL", mk_import_gptq(&in, &o.d, &o.x), o);
    in = good, in.qzeros = NULL;
    IMPORT_FAILS("in->qzeros is NULL", mk_import_gptq(&in, &o.d, &o.x), o);
    in = good, in.k = 60;
    IMPORT_FAILS("in->k (60)", mk_import_gptq(&in, &o.d, &o.x), o);
    in = good, in.k = 0;
    IMPORT_FAILS("in->k (0)", mk_import_gptq(&in, &o.d, &o.x), o);
    in = good, in.n = 12;
    IMPORT_FAILS("in->n (12)", mk_import_gptq(&in, &o.d, &o.x), o);
    in = good, in.n = 4, in.symmetric = 1;
    IMPORT_FAILS("in->n (4)", mk_import_gptq(&in, &o.d, &o.x), o);
    in = good, in.n = -8;
    IMPORT_FAILS("in->n (-8)", mk_import_gptq(&in, &o.d, &o.x), o);
    in = good, in.group_size = 16;
    IMPORT_FAILS("group_size (16)", mk_import_gptq(&in, &o.d, &o.x), o);
    in = good, in.group_size = 128; /* k = 64 is not a multiple of it */
    IMPORT_FAILS("group_size (128)", mk_import_gptq(&in, &o.d, &o.x), o);
    int32_t bad_idx[K];
    memcpy(bad_idx, g_idx, sizeof bad_idx);
    bad_idx[3] = 2; /* outside [0, 2) */
    in = good, in.g_idx = bad_idx;
    IMPORT_FAILS("g_idx", mk_import_gptq(&in, &o.d, &o.x), o);
    bad_idx[3] = -1;
    IMPORT_FAILS("g_idx", mk_import_gptq(&in, &o.d, &o.x), o);
    for (int i = 0; i < K; i++) bad_idx[i] = i < 40 ? 0 : 1; /* groups of 40 and 24 rows */
    IMPORT_FAILS("g_idx", mk_import_gptq(&in, &o.d, &o.x), o);
    /* a stored zero nibble of 15 (zero 16) does not fit a u4 zero: rejected after the
       arrays were allocated, which must not leak into data_out */
    int32_t bad_zeros[K / G * N / 8];
    memcpy(bad_zeros, qzeros, sizeof bad_zeros);
    bad_zeros[1] = 0x7F543210;
    in = good, in.qzeros = bad_zeros;
    IMPORT_FAILS("qzeros[0][14]", mk_import_gptq(&in, &o.d, &o.x), o);
    /* symmetric ignores qzeros */
    in = good, in.qzeros = NULL, in.symmetric = 1;
    MKT_OK(mk_import_gptq(&in, &o.d, &o.x));
    MKT_CHECK(o.d.asymmetric == 0 && o.x.zeros == NULL, "symmetric GPTQ import has zero points");
    mk_qweight_data_free(&o.x);
}

static void test_import_awq(void) {
    enum { N = 16, K = 64, G = 32 };
    int32_t qweight[K * N / 8], qzeros[K / G * N / 8];
    uint16_t scales[K / G * N];
    for (int i = 0; i < K * N / 8; i++) qweight[i] = (int32_t)(0x9E3779B9u * (uint32_t)(i + 1));
    for (int i = 0; i < K / G * N / 8; i++) qzeros[i] = (int32_t)0x89ABCDEFu;
    for (int i = 0; i < K / G * N; i++) scales[i] = mk_f32_to_f16(0.02f);
    const mk_awq_tensors good = {qweight, qzeros, scales, N, K, G};
    import_outs o;
    mk_awq_tensors in;
    MKT_OK(mk_import_awq(&good, &o.d, &o.x));
    mk_qweight_data_free(&o.x);
    IMPORT_FAILS("in is NULL", mk_import_awq(NULL, &o.d, &o.x), o);
    IMPORT_FAILS("desc_out is NULL", mk_import_awq(&good, NULL, &o.x), o);
    IMPORT_FAILS("data_out is NULL", mk_import_awq(&good, &o.d, NULL), o);
    in = good, in.qweight = NULL;
    IMPORT_FAILS("in->qweight", mk_import_awq(&in, &o.d, &o.x), o);
    in = good, in.qzeros = NULL;
    IMPORT_FAILS("in->qzeros", mk_import_awq(&in, &o.d, &o.x), o);
    in = good, in.scales = NULL;
    IMPORT_FAILS("in->scales", mk_import_awq(&in, &o.d, &o.x), o);
    in = good, in.n = 12;
    IMPORT_FAILS("in->n (12)", mk_import_awq(&in, &o.d, &o.x), o);
    in = good, in.n = 0;
    IMPORT_FAILS("in->n (0)", mk_import_awq(&in, &o.d, &o.x), o);
    in = good, in.group_size = 0;
    IMPORT_FAILS("group_size is 0", mk_import_awq(&in, &o.d, &o.x), o);
    in = good, in.group_size = 100;
    IMPORT_FAILS("group_size is 100", mk_import_awq(&in, &o.d, &o.x), o);
    in = good, in.k = 48;
    IMPORT_FAILS("k (48) is not a multiple", mk_import_awq(&in, &o.d, &o.x), o);
    in = good, in.k = -64;
    IMPORT_FAILS("k is -64", mk_import_awq(&in, &o.d, &o.x), o);
}

static void test_import_gguf(void) {
    enum { N = 4, K = 64 };
    uint8_t q4[N * (K / 32) * 18], q8[N * (K / 32) * 34];
    for (size_t i = 0; i < sizeof q4; i++) q4[i] = (uint8_t)(i * 37 + 5);
    for (size_t i = 0; i < sizeof q8; i++) q8[i] = (uint8_t)(i * 11 + 3);
    for (int b = 0; b < N * (K / 32); b++) { /* finite f16 scales */
        q4[b * 18] = 0x66, q4[b * 18 + 1] = 0x2E;
        q8[b * 34] = 0x66, q8[b * 34 + 1] = 0x2E;
    }
    import_outs o;
    MKT_OK(mk_import_gguf(MK_GGUF_Q4_0, q4, sizeof q4, N, K, &o.d, &o.x));
    mk_qweight_data_free(&o.x);
    MKT_OK(mk_import_gguf(MK_GGUF_Q8_0, q8, sizeof q8, N, K, &o.d, &o.x));
    mk_qweight_data_free(&o.x);
    IMPORT_FAILS("type (3)", mk_import_gguf((mk_gguf_type)3, q4, sizeof q4, N, K, &o.d, &o.x), o);
    IMPORT_FAILS("type (0)", mk_import_gguf((mk_gguf_type)0, q4, sizeof q4, N, K, &o.d, &o.x), o);
    IMPORT_FAILS("blocks is NULL", mk_import_gguf(MK_GGUF_Q4_0, NULL, sizeof q4, N, K, &o.d, &o.x), o);
    IMPORT_FAILS("desc_out is NULL", mk_import_gguf(MK_GGUF_Q4_0, q4, sizeof q4, N, K, NULL, &o.x), o);
    IMPORT_FAILS("data_out is NULL", mk_import_gguf(MK_GGUF_Q4_0, q4, sizeof q4, N, K, &o.d, NULL), o);
    IMPORT_FAILS("bytes is 143", mk_import_gguf(MK_GGUF_Q4_0, q4, sizeof q4 - 1, N, K, &o.d, &o.x), o);
    IMPORT_FAILS("bytes is 144", mk_import_gguf(MK_GGUF_Q8_0, q4, sizeof q4, N, K, &o.d, &o.x), o);
    IMPORT_FAILS("bytes is 0", mk_import_gguf(MK_GGUF_Q8_0, q8, 0, N, K, &o.d, &o.x), o);
    IMPORT_FAILS("k (48)", mk_import_gguf(MK_GGUF_Q4_0, q4, sizeof q4, N, 48, &o.d, &o.x), o);
    IMPORT_FAILS("k (0)", mk_import_gguf(MK_GGUF_Q4_0, q4, sizeof q4, N, 0, &o.d, &o.x), o);
    IMPORT_FAILS("n (0)", mk_import_gguf(MK_GGUF_Q8_0, q8, sizeof q8, 0, K, &o.d, &o.x), o);
    IMPORT_FAILS("n (-4)", mk_import_gguf(MK_GGUF_Q8_0, q8, sizeof q8, -4, K, &o.d, &o.x), o);
    IMPORT_FAILS("desc->n or desc->k exceeds", mk_import_gguf(MK_GGUF_Q8_0, q8, sizeof q8, (int64_t)1 << 40, K, &o.d, &o.x), o);
}

/* ------------------------------------------------------------ dispatcher entry points */

static void test_dispatch_args(void) {
    mk_kernel_info list[4], lcopy[4];
    memset(list, 0x6B, sizeof list), memcpy(lcopy, list, sizeof list);
    int count = -9;
    FAILS("count is NULL", mk_kernel_list(MK_OP_ADD, list, 4, NULL));
    FAILS("op (13) is not a valid mk_op", mk_kernel_list((mk_op)(MK_OP_COUNT + 1), list, 4, &count));
    FAILS("op (-1) is not a valid mk_op", mk_kernel_list((mk_op)-1, list, 4, &count));
    FAILS("out is NULL or cap is negative", mk_kernel_list(MK_OP_ADD, list, -1, &count));
    FAILS("out is NULL or cap is negative", mk_kernel_list(MK_OP_ADD, NULL, 2, &count));
    MKT_CHECK(count == -9, "mk_kernel_list wrote count on failure");
    HOST_UNCHANGED(list, lcopy, sizeof list, "mk_kernel_list");
    MKT_OK(mk_kernel_list(MK_OP_ADD, NULL, 0, &count)); /* counting only */
    MKT_CHECK(count >= 1, "mk_kernel_list counted %d add variants", count);

    mk_op op = (mk_op)77;
    FAILS("name is NULL", mk_op_from_name(NULL, &op));
    FAILS("out is NULL", mk_op_from_name("add", NULL));
    MKT_CHECK(op == (mk_op)77, "mk_op_from_name wrote out on failure");

    FAILS("ctx is NULL", mk_set_kernel(NULL, MK_OP_ADD, "ref.scalar"));
    FAILS("op (12) is not a valid mk_op", mk_set_kernel(ctx, MK_OP_COUNT, "ref.scalar"));
    FAILS("op (-3) is not a valid mk_op", mk_set_kernel(ctx, (mk_op)-3, NULL));
    MKT_CHECK(mk_last_kernel(NULL, MK_OP_ADD) == NULL, "mk_last_kernel(NULL) is not NULL");
    MKT_CHECK(mk_last_kernel(ctx, MK_OP_COUNT) == NULL, "mk_last_kernel(MK_OP_COUNT) is not NULL");
    MKT_CHECK(mk_op_name(MK_OP_COUNT) == NULL && mk_op_name((mk_op)-1) == NULL, "mk_op_name of an invalid op");

    char buf[256], bcopy[256];
    memset(buf, 'Z', sizeof buf), memcpy(bcopy, buf, sizeof buf);
    FAILS("ctx is NULL", mk_explain(NULL, MK_OP_ADD, NULL, buf, sizeof buf));
    FAILS("op (12) is not a valid mk_op", mk_explain(ctx, MK_OP_COUNT, NULL, buf, sizeof buf));
    FAILS("buf is NULL", mk_explain(ctx, MK_OP_ADD, NULL, NULL, 16));
    FAILS("n is 0", mk_explain(ctx, MK_OP_ADD, NULL, buf, 0));
    /* explain validates the arguments it is given like the op itself */
    mk_tensor x = tens(MK_F32, 2, 3, 16, 1), w = tens(MK_F32, 2, 5, 15, 1), y = tens(MK_F32, 2, 3, 5, 1);
    mk_op_args args = {.op = MK_OP_GEMM};
    args.u.gemm.x = &x, args.u.gemm.w = &w, args.u.gemm.y = &y;
    FAILS("w.shape[1] is 15 but must be 16", mk_explain(ctx, MK_OP_GEMM, &args, buf, sizeof buf));
    FAILS("args->op differs from op", mk_explain(ctx, MK_OP_ADD, &args, buf, sizeof buf));
    args.u.gemm.x = NULL;
    FAILS("x is NULL", mk_explain(ctx, MK_OP_GEMM, &args, buf, sizeof buf));
    mk_op_args bad_op = {.op = (mk_op)42};
    FAILS("args->op differs from op", mk_explain(ctx, MK_OP_GEMM, &bad_op, buf, sizeof buf));
    HOST_UNCHANGED(buf, bcopy, sizeof buf, "mk_explain");
}

/* ------------------------------------------------------------ thread-local errors */

typedef struct {
    int empty_at_start;
    int own_message;
    char msg[256];
} tl_result;

static void *tl_thread(void *arg) {
    tl_result *r = arg;
    r->empty_at_start = mk_last_error()[0] == 0;
    mk_device_info info;
    mk_status s = mk_device_get_info(-77, &info);
    snprintf(r->msg, sizeof r->msg, "%s", mk_last_error());
    r->own_message = s == INVALID && strstr(r->msg, "index -77") != NULL;
    return NULL;
}

static void test_thread_local_error(void) {
    mk_buffer *b = NULL;
    MKT_FAILS(INVALID, "bytes is 0", mk_buffer_alloc(ctx, 0, &b));
    char mine[1024];
    snprintf(mine, sizeof mine, "%s", mk_last_error());
    tl_result r[4];
    pthread_t th[4];
    memset(r, 0, sizeof r);
    for (int i = 0; i < 4; i++) MKT_CHECK(pthread_create(&th[i], NULL, tl_thread, &r[i]) == 0, "pthread_create");
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 4; i++) {
        MKT_CHECK(r[i].empty_at_start, "thread %d: mk_last_error() was not empty on a new thread", i);
        MKT_CHECK(r[i].own_message, "thread %d: its own failure gave \"%s\"", i, r[i].msg);
    }
    MKT_CHECK(strcmp(mine, mk_last_error()) == 0,
              "another thread's failure changed this thread's message: \"%s\" -> \"%s\"", mine, mk_last_error());
    MKT_CHECK(strstr(mk_last_error(), "bytes is 0") != NULL, "message lost: \"%s\"", mk_last_error());
    /* a success does not clear the message of the last failure */
    int n;
    MKT_OK(mk_device_count(&n));
    MKT_CHECK(strcmp(mine, mk_last_error()) == 0, "a successful call changed the message");
}

int main(int argc, char **argv) {
    mkt_init(argc, argv, "api_validation");
    if (mk_context_create("ref", &ctx) != MK_OK || mk_context_create("ref", &ctx2) != MK_OK) die("context");
    g_ctx = ctx;
    g_other = tbuf_on(ctx2, 1 << 20);

    mk_kv_cache_desc cd = {4, 4, 2, 8, MK_F32};
    mk_kv_cache *cache = new_cache(ctx, cd), *cache_other = new_cache(ctx2, cd);

    test_thread_local_error();
    test_prefill();
    test_decode(cache, cache_other);
    test_append(cache, cache_other);
    test_copy_blocks(cache, cache_other);
    /* a quantized cache: every op on it validates the same way */
    mk_kv_cache_desc qd = {4, 4, 2, 8, MK_I8};
    mk_kv_cache *qcache = new_cache(ctx, qd);
    test_append(qcache, cache_other);
    test_decode(qcache, cache_other);
    test_copy_blocks(qcache, cache_other);
    test_qgemm();
    test_gemm();
    norm_case(0);
    norm_case(1);
    test_rope();
    binary_case("silu_mul", call_silu, "gate", "up");
    binary_case("gelu_mul", call_gelu, "gate", "up");
    binary_case("add", call_add, "a", "b");
    test_devices_contexts();
    test_buffers();
    test_events();
    test_kv_desc();
    test_qweights();
    test_import_gptq();
    test_import_awq();
    test_import_gguf();
    test_dispatch_args();

    for (int i = 0; i < ncaches; i++) mk_kv_cache_destroy(caches[i]);
    for (int i = 0; i < nbufs; i++) mk_buffer_free(bufs[i]);
    mk_context_destroy(ctx);
    mk_context_destroy(ctx2);
    return mkt_finish();
}
