/* Benchmark inputs: device buffers of random values. Timing does not depend on the
   values, only on their being ordinary numbers (no NaN, no subnormals), so a 4096-element
   random block is generated once per call and tiled: filling a 1 GiB cache stays cheap. */
#include <stdlib.h>
#include <string.h>

#include "mkbench.h"

#define BLOCK 4096

static uint64_t next(uint64_t *s) { /* splitmix64 */
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* uniform in [-sqrt(3), sqrt(3)) * std: mean 0, standard deviation std, never 0 */
static float value(uint64_t *s, float std) {
    float u = (float)((next(s) >> 40) + 0.5) / 16777216.0f;
    return (2.0f * u - 1.0f) * 1.7320508f * std;
}

static void store(mk_dtype t, void *dst, size_t i, float x, uint64_t bits) {
    switch (t) {
    case MK_F32: ((float *)dst)[i] = x; break;
    case MK_F16: ((uint16_t *)dst)[i] = mk_f32_to_f16(x); break;
    case MK_BF16: ((uint16_t *)dst)[i] = mk_f32_to_bf16(x); break;
    case MK_FP8_E4M3: ((uint8_t *)dst)[i] = mk_f32_to_fp8_e4m3(x); break;
    case MK_I8: ((int8_t *)dst)[i] = (int8_t)((int)(bits % 255) - 127); break;
    case MK_U8: ((uint8_t *)dst)[i] = (uint8_t)bits; break;
    default: ((int32_t *)dst)[i] = 0; break;
    }
}

void mkb_fill_host(mk_dtype t, void *dst, size_t n, float std, uint64_t seed) {
    size_t es = mk_dtype_size(t), first = n < BLOCK ? n : BLOCK;
    uint64_t s = seed * 0x2545F4914F6CDD1Dull + 1;
    for (size_t i = 0; i < first; i++) store(t, dst, i, value(&s, std), next(&s));
    for (size_t i = first; i < n; i += first) {
        size_t m = n - i < first ? n - i : first;
        memcpy((char *)dst + i * es, dst, m * es);
    }
}

static mk_buffer *upload(mkb_state *st, mk_context *ctx, const void *host, size_t bytes) {
    mk_buffer *b = NULL;
    if (!mkb_check(st, mk_buffer_alloc(ctx, bytes ? bytes : 1, &b), "mk_buffer_alloc"))
        return NULL;
    if (bytes && !mkb_check(st, mk_buffer_write(b, 0, host, bytes), "mk_buffer_write")) {
        mk_buffer_free(b);
        return NULL;
    }
    return b;
}

mk_buffer *mkb_random_buffer(mkb_state *st, mk_dtype t, size_t n, float std, uint64_t seed) {
    return mkb_random_buffer_on(st, mkb_context(), t, n, std, seed);
}

mk_buffer *mkb_random_buffer_on(mkb_state *st, mk_context *ctx, mk_dtype t, size_t n, float std,
                                uint64_t seed) {
    size_t bytes = n * mk_dtype_size(t);
    void *host = malloc(bytes ? bytes : 1);
    if (!host) {
        mkb_fail(st, "out of host memory for an input");
        return NULL;
    }
    mkb_fill_host(t, host, n, std, seed);
    mk_buffer *b = upload(st, ctx, host, bytes);
    free(host);
    return b;
}

mk_buffer *mkb_i32_buffer(mkb_state *st, const int32_t *v, size_t n) {
    return upload(st, mkb_context(), v, n * sizeof *v);
}

mk_buffer *mkb_i32_buffer_on(mkb_state *st, mk_context *ctx, const int32_t *v, size_t n) {
    return upload(st, ctx, v, n * sizeof *v);
}
