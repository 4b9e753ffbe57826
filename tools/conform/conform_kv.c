/*
 * Conformance cases of the paged KV cache, judged bit for bit against the reference
 * cache (docs/numerics.md: conversions and the I8/FP8 quantization are exact):
 *
 * kv_append: a fresh cache (zero-filled by contract) in each of the five dtypes; a first
 * append writes every slot once in shuffled order with padding tokens (-1) between, a
 * second overwrites some slots, one with an all-zero K vector (scale 0 for I8/FP8); k and
 * v are views into one fused [T][Hq + 2 Hkv][D] buffer; inputs F32/F16/BF16; block sizes
 * 1/3/16/32. NaN/Inf cases: F32 inputs of random bit patterns (NaN payloads of both
 * signs, +-Inf, values at the F16 overflow threshold, subnormals, rounding ties) into
 * F16, BF16 (and F32) caches must convert exactly as the reference does.
 *
 * kv_copy_blocks: the cache filled by kv_append (the device's own choice of variant) and
 * read back; pairs (one source copied to two destinations, no destination a source)
 * must turn it into what the reference copy makes of that same state.
 */
#include <math.h>
#include <string.h>

#include "conform_internal.h"

static const mk_dtype kCaches[5] = {MK_F32, MK_F16, MK_BF16, MK_I8, MK_FP8_E4M3};
static const mk_dtype kTypes[3] = {MK_F32, MK_F16, MK_BF16};

/* ------------------------------------------------------------ host caches */

static int quantized(mk_dtype t) { return t == MK_I8 || t == MK_FP8_E4M3; }

/* Bytes of K (= of V) and floats of one scale array. */
static size_t kv_values(const mk_kv_cache_desc *d) {
    return (size_t)d->num_blocks * (size_t)d->block_size * (size_t)d->num_kv_heads * (size_t)d->head_dim *
           mk_dtype_size(d->dtype);
}
static size_t kv_scales(const mk_kv_cache_desc *d) {
    return quantized(d->dtype) ? (size_t)d->num_blocks * (size_t)d->block_size * (size_t)d->num_kv_heads : 0;
}

size_t mkcf_kv_bytes(const mk_kv_cache_desc *d) { return 2 * kv_values(d) + 2 * kv_scales(d) * sizeof(float); }

void mkcf_kv_alloc(mkcf_case *c, const mk_kv_cache_desc *d, mkref_kv_cache *h) {
    uint8_t *all = mkcf_host(c, mkcf_kv_bytes(d));
    size_t kv = kv_values(d), sc = kv_scales(d);
    h->desc = *d;
    h->k = all;
    h->v = all + kv;
    h->k_scale = sc ? (float *)(all + 2 * kv) : NULL;
    h->v_scale = sc ? (float *)(all + 2 * kv) + sc : NULL;
}

int mkcf_kv_read(mkcf_case *c, const mk_kv_cache *cache, mkref_kv_cache *h) {
    mk_kv_cache_desc d;
    mk_status s = mk_kv_cache_get_desc(cache, &d);
    if (s != MK_OK) {
        mkcf_fail(c, "mk_kv_cache_get_desc: %s", mk_last_error());
        return 0;
    }
    mkcf_kv_alloc(c, &d, h);
    size_t per_block = kv_values(&d) / (size_t)d.num_blocks, sc = kv_scales(&d) / (size_t)d.num_blocks;
    for (int64_t b = 0; b < d.num_blocks && s == MK_OK; b++)
        s = mk_kv_cache_read_block(cache, b, (uint8_t *)h->k + (size_t)b * per_block,
                                   (uint8_t *)h->v + (size_t)b * per_block, sc ? h->k_scale + (size_t)b * sc : NULL,
                                   sc ? h->v_scale + (size_t)b * sc : NULL);
    if (s != MK_OK) {
        mkcf_fail(c, "mk_kv_cache_read_block: %s: %s", mk_status_string(s), mk_last_error());
        return 0;
    }
    return 1;
}

int mkcf_kv_same(const mkref_kv_cache *a, const mkref_kv_cache *b) {
    return memcmp(a->k, b->k, mkcf_kv_bytes(&a->desc)) == 0;
}

/* got must equal want bit for bit; a failure names the first differing element. */
static void kv_compare(mkcf_case *c, const char *when, const mkref_kv_cache *got, const mkref_kv_cache *want) {
    c->exact = 1;
    const mk_kv_cache_desc *d = &want->desc;
    size_t kv = kv_values(d), sc = kv_scales(d) * sizeof(float);
    const uint8_t *g = got->k, *w = want->k;
    for (size_t i = 0; i < mkcf_kv_bytes(d); i++) {
        if (g[i] == w[i]) continue;
        static const char *const parts[4] = {"K", "V", "K scale", "V scale"};
        int part = i < kv ? 0 : i < 2 * kv ? 1 : i < 2 * kv + sc ? 2 : 3;
        size_t off = part == 0 ? i : part == 1 ? i - kv : part == 2 ? i - 2 * kv : i - 2 * kv - sc;
        size_t width = part < 2 ? mk_dtype_size(d->dtype) : sizeof(float), elem = off / width;
        size_t D = part < 2 ? (size_t)d->head_dim : 1, row = elem / D, base = i - off % width;
        size_t slot = row / (size_t)d->num_kv_heads, head = row % (size_t)d->num_kv_heads;
        uint32_t gv = 0, wv = 0;
        memcpy(&gv, g + base, width), memcpy(&wv, w + base, width);
        mkcf_fail(c, "%s: %s of slot %zu (block %zu offset %zu) head %zu element %zu is 0x%0*x, the reference "
                 "has 0x%0*x", when, parts[part], slot, slot / (size_t)d->block_size, slot % (size_t)d->block_size,
                 head, elem % D, (int)(2 * width), gv, (int)(2 * width), wv);
        return;
    }
}

/* ------------------------------------------------------------ kv_append */

/* Random f32 bit patterns rich in special values (for the NaN/Inf cases). */
static void special_bits(mkcf_case *c, float *x, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t r = (uint32_t)mkref_rng_u64(&c->rng), sign = r & 0x80000000u, bits;
        switch (mkref_rng_range(&c->rng, 0, 7)) {
        case 0: bits = r; break;                                             /* anything */
        case 1: bits = sign | 0x7F800000u | ((r >> 7) & 0x7FFFFFu) | 1u; break; /* NaN, payload */
        case 2: bits = sign | 0x7F800000u; break;                            /* +-Inf */
        case 3: bits = sign | (0x477FE000u + ((r >> 8) & 0x3FFFu)); break;   /* 65504 .. past 65520 */
        case 4: bits = sign | (0x33000000u + ((r >> 4) & 0x00FFFFFFu)); break; /* f16 subnormal range */
        case 5: bits = sign | (r & 0x7F7F0000u) | 0x8000u; break;            /* bf16 ties */
        case 6: bits = sign | (0x7F7F8000u + ((r >> 20) & 0xFFu)); break;    /* bf16 overflow tie */
        default: bits = sign | (0x3F800000u + ((r >> 9) & 0x7FFFFFu)); break; /* [1, 2) */
        }
        memcpy(&x[i], &bits, 4);
    }
}

typedef struct {
    mk_kv_cache_desc desc;
    mk_tensor k1, v1, s1, k2, v2, s2;
    int64_t t1, t2;
} append_call;

/* Creates a fresh cache, appends twice, records the cache, destroys it. */
static mk_status launch_append(mkcf_case *c, void *arg) {
    append_call *a = arg;
    mk_kv_cache *cache = NULL;
    mk_status s = mk_kv_cache_create(c->ctx, &a->desc, &cache);
    if (s == MK_OK) s = mk_kv_cache_append(c->ctx, cache, &a->k1, &a->v1, &a->s1);
    if (s == MK_OK) s = mk_kv_cache_append(c->ctx, cache, &a->k2, &a->v2, &a->s2);
    if (s == MK_OK) {
        mkref_kv_cache h;
        if (mkcf_kv_read(c, cache, &h)) mkcf_record(c, "the cache", h.k, mkcf_kv_bytes(&a->desc));
    }
    mk_kv_cache_destroy(cache);
    return s;
}

/* quick: the five cache dtypes, then NaN/Inf into F16 and BF16; full: 15 + 3 (F32 too) */
static int append_count(mkcf_mode mode) { return mode == MKCF_FULL ? 18 : 7; }

/* k, v [T][Hkv][D] as views of one fused buffer of (Hq + 2 Hkv) heads per token. */
static void upload_fused(mkcf_case *c, const char *name, mk_dtype t, int64_t T, int Hkv, int D, const float *k,
                         const float *v, mk_tensor *tk, mk_tensor *tv) {
    int Hq = 2 * Hkv, H3 = Hq + 2 * Hkv;
    int64_t shape[3] = {T, Hkv, D}, stride[3] = {(int64_t)H3 * D, D, 1};
    mkcf_buf *b = mkcf_buffer(c, name, (size_t)T * (size_t)H3 * (size_t)D * mk_dtype_size(t));
    *tk = mkcf_view(b, t, (size_t)Hq * (size_t)D, 3, shape, stride);
    *tv = mkcf_view(b, t, (size_t)(Hq + Hkv) * (size_t)D, 3, shape, stride);
    mkcf_fill_view(b, tk, k), mkcf_fill_view(b, tv, v);
}

static void run_append(mkcf_case *c) {
    static const int bsizes[] = {1, 3, 16, 32}, heads[] = {1, 2, 4, 8}, dims[] = {64, 80, 96, 128, 256, 7};
    const int full = c->mode == MKCF_FULL, i = c->index, n_cases = append_count(c->mode);
    const int nspecial = full ? 3 : 2, special = i >= n_cases - nspecial;
    const int j = special ? i - (n_cases - nspecial) : i;
    const mk_dtype ct = special ? (full ? kTypes[j] : kTypes[1 + j]) : kCaches[j % 5];
    const mk_dtype in = special ? MK_F32 : kTypes[(j / 5 + j + (ct == MK_F16 || ct == MK_BF16 ? 0 : 1)) % 3];
    append_call a;
    memset(&a, 0, sizeof a);
    a.desc = (mk_kv_cache_desc){mkref_rng_range(&c->rng, 4, full ? 9 : 6), MKCF_PICK(c, bsizes), MKCF_PICK(c, heads),
                                MKCF_PICK(c, dims), ct};
    const mk_kv_cache_desc *d = &a.desc;
    int64_t nslots = d->num_blocks * d->block_size;
    a.t1 = nslots + nslots / 4 + 1, a.t2 = 9;
    int32_t *s1 = mkcf_host(c, (size_t)a.t1 * 4), *s2 = mkcf_host(c, (size_t)a.t2 * 4);
    for (int64_t t = 0; t < a.t1; t++) s1[t] = -1;
    for (int64_t s = 0; s < nslots; s++) { /* every slot once, shuffled, -1 between */
        int64_t at;
        do at = mkref_rng_range(&c->rng, 0, a.t1 - 1);
        while (s1[at] != -1);
        s1[at] = (int32_t)s;
    }
    for (int64_t t = 0; t < a.t2; t++) { /* overwrites, unique, with padding */
        s2[t] = t % 4 == 3 ? -1 : (int32_t)mkref_rng_range(&c->rng, 0, nslots - 1);
        for (int64_t u = 0; u < t; u++)
            if (s2[t] >= 0 && s2[t] == s2[u]) s2[t] = -1;
    }
    size_t row = (size_t)d->num_kv_heads * (size_t)d->head_dim, n1 = (size_t)a.t1 * row, n2 = (size_t)a.t2 * row;
    float *k1 = mkcf_random(c, in, n1, 1.0f, 8.0f), *v1 = mkcf_random(c, in, n1, 0.5f, 8.0f);
    float *k2 = mkcf_random(c, in, n2, 1.0f, 8.0f), *v2 = mkcf_random(c, in, n2, 0.5f, 8.0f);
    if (special) {
        special_bits(c, k1, n1), special_bits(c, v1, n1), special_bits(c, k2, n2), special_bits(c, v2, n2);
    } else {
        memset(k2 + row, 0, row * sizeof(float)); /* an all-zero K vector (token 1) */
    }
    mkref_kv_cache want;
    mkcf_kv_alloc(c, d, &want); /* zero-filled, as a new cache */
    mkref_kv_append(&want, k1, v1, s1, a.t1);
    mkref_kv_append(&want, k2, v2, s2, a.t2);
    mkcf_describe(c, "kv_append cache %s input %s blocks=%lld block_size=%d Hkv=%d D=%d tokens %lld + %lld%s",
                 mk_dtype_name(ct), mk_dtype_name(in), (long long)d->num_blocks, d->block_size, d->num_kv_heads,
                 d->head_dim, (long long)a.t1, (long long)a.t2,
                 special ? " with NaN/Inf/overflow/subnormal/tie bit patterns" : " (one all-zero K vector)");
    int64_t ss1[1] = {a.t1}, ss2[1] = {a.t2};
    if (special) { /* raw bits, so NaN payloads arrive exactly as generated */
        int64_t sh1[3] = {a.t1, d->num_kv_heads, d->head_dim}, sh2[3] = {a.t2, d->num_kv_heads, d->head_dim};
        a.k1 = mkcf_upload_bits(c, "k (append 1)", MK_F32, 3, sh1, k1);
        a.v1 = mkcf_upload_bits(c, "v (append 1)", MK_F32, 3, sh1, v1);
        a.k2 = mkcf_upload_bits(c, "k (append 2)", MK_F32, 3, sh2, k2);
        a.v2 = mkcf_upload_bits(c, "v (append 2)", MK_F32, 3, sh2, v2);
    } else {
        upload_fused(c, "qkv (append 1)", in, a.t1, d->num_kv_heads, d->head_dim, k1, v1, &a.k1, &a.v1);
        upload_fused(c, "qkv (append 2)", in, a.t2, d->num_kv_heads, d->head_dim, k2, v2, &a.k2, &a.v2);
    }
    a.s1 = mkcf_upload_i32(c, "slot_mapping 1", 1, ss1, s1);
    a.s2 = mkcf_upload_i32(c, "slot_mapping 2", 1, ss2, s2);
    if (!mkcf_exec(c, launch_append, &a)) return;
    mkref_kv_cache got = want;
    got.k = (void *)mkcf_recorded(c, "the cache", NULL);
    if (!got.k) return;
    size_t kv = kv_values(d), sc = kv_scales(d);
    got.v = (uint8_t *)got.k + kv;
    got.k_scale = sc ? (float *)((uint8_t *)got.k + 2 * kv) : NULL;
    got.v_scale = sc ? got.k_scale + sc : NULL;
    kv_compare(c, "after two appends", &got, &want);
}

const mkcf_suite mkcf_suite_kv_append = {MK_OP_KV_APPEND, 1, append_count, run_append};

/* ------------------------------------------------------------ kv_copy_blocks */

typedef struct {
    mk_kv_cache_desc desc;
    mk_tensor k, v, slots, pairs;
} copy_call;

static mk_status launch_copy(mkcf_case *c, void *arg) {
    copy_call *a = arg;
    mk_kv_cache *cache = NULL;
    mk_status s = mk_kv_cache_create(c->ctx, &a->desc, &cache);
    if (s == MK_OK) s = mk_kv_cache_append(c->ctx, cache, &a->k, &a->v, &a->slots);
    mkref_kv_cache h;
    if (s == MK_OK && mkcf_kv_read(c, cache, &h))
        mkcf_record(c, "the cache before the copy", h.k, mkcf_kv_bytes(&a->desc));
    if (s == MK_OK) s = mk_kv_cache_copy_blocks(c->ctx, cache, &a->pairs);
    if (s == MK_OK && mkcf_kv_read(c, cache, &h))
        mkcf_record(c, "the cache after the copy", h.k, mkcf_kv_bytes(&a->desc));
    mk_kv_cache_destroy(cache);
    return s;
}

static int copy_count(mkcf_mode mode) { return mode == MKCF_FULL ? 10 : 5; }

static void run_copy(mkcf_case *c) {
    static const int bsizes[] = {1, 3, 16, 32}, heads[] = {1, 2, 4, 8}, dims[] = {64, 80, 96, 128, 256, 7};
    const int i = c->index;
    const mk_dtype ct = kCaches[i % 5], in = ct == MK_F16 || ct == MK_BF16 ? ct : kTypes[(i / 5 + i) % 3];
    copy_call a;
    memset(&a, 0, sizeof a);
    a.desc = (mk_kv_cache_desc){mkref_rng_range(&c->rng, 5, 12), MKCF_PICK(c, bsizes), MKCF_PICK(c, heads),
                                MKCF_PICK(c, dims), ct};
    const mk_kv_cache_desc *d = &a.desc;
    int64_t T = d->num_blocks * d->block_size;
    int32_t *slots = mkcf_host(c, (size_t)T * 4);
    for (int64_t t = 0; t < T; t++) slots[t] = (int32_t)t;
    /* pairs: blocks shuffled; the first half are sources, the rest destinations; the
       first source also goes to a second destination */
    int nb = (int)d->num_blocks, *perm = mkcf_host(c, (size_t)nb * sizeof(int));
    for (int j = 0; j < nb; j++) perm[j] = j;
    for (int j = nb - 1; j > 0; j--) {
        int r = (int)mkref_rng_range(&c->rng, 0, j), tmp = perm[j];
        perm[j] = perm[r], perm[r] = tmp;
    }
    int nsrc = nb / 2 - 1, npairs = nsrc + 1;
    int32_t *pairs = mkcf_host(c, (size_t)npairs * 8);
    for (int p = 0; p < nsrc; p++) pairs[2 * p] = perm[p], pairs[2 * p + 1] = perm[nsrc + p];
    pairs[2 * nsrc] = perm[0], pairs[2 * nsrc + 1] = perm[2 * nsrc];
    size_t n = (size_t)T * (size_t)d->num_kv_heads * (size_t)d->head_dim;
    float *k = mkcf_random(c, in, n, 1.0f, 8.0f), *v = mkcf_random(c, in, n, 0.5f, 8.0f);
    mkcf_describe(c, "kv_copy_blocks cache %s blocks=%lld block_size=%d Hkv=%d D=%d pairs=%d", mk_dtype_name(ct),
                 (long long)d->num_blocks, d->block_size, d->num_kv_heads, d->head_dim, npairs);
    int64_t ks[3] = {T, d->num_kv_heads, d->head_dim}, ss[1] = {T}, ps[2] = {npairs, 2};
    a.k = mkcf_upload(c, "k", in, 3, ks, k);
    a.v = mkcf_upload(c, "v", in, 3, ks, v);
    a.slots = mkcf_upload_i32(c, "slot_mapping", 1, ss, slots);
    a.pairs = mkcf_upload_i32(c, "pairs", 2, ps, pairs);
    if (!mkcf_exec(c, launch_copy, &a)) return;
    const void *before = mkcf_recorded(c, "the cache before the copy", NULL);
    const void *after = mkcf_recorded(c, "the cache after the copy", NULL);
    if (!before || !after) return;
    size_t kv = kv_values(d), sc = kv_scales(d);
    mkref_kv_cache want, got = {*d, (void *)after, (uint8_t *)after + kv, NULL, NULL};
    mkcf_kv_alloc(c, d, &want);
    memcpy(want.k, before, mkcf_kv_bytes(d));
    if (sc) {
        got.k_scale = (float *)((uint8_t *)after + 2 * kv);
        got.v_scale = got.k_scale + sc;
    }
    mkref_kv_copy_blocks(&want, pairs, npairs);
    kv_compare(c, "after copy_blocks", &got, &want);
}

const mkcf_suite mkcf_suite_kv_copy = {MK_OP_KV_COPY_BLOCKS, 1, copy_count, run_copy};
