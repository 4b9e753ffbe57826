/*
 * Every cache code as the OpenCL decode attention reads it, bit for bit, on every OpenCL
 * device (none: SKIP). With a single visible key the softmax weight is exactly 1, so
 * out = v: each sequence b has context length 1 and its own block, V holds the codes,
 * K finite values, q and out F32. Checked against the reference decode on the same
 * cache (mkref_attention_decode):
 *  - F16 cache: all 65,536 codes (256 sequences x D = 256), i.e. the decode kernel's
 *    f16 loads (vload_half) are exact for every non-NaN code and give NaN for NaN;
 *  - BF16 cache: all 65,536 codes;
 *  - FP8 e4m3 cache: all 256 codes (each row pinned by +-448, so the row scale is
 *    exactly 1 and kv_append stores the code itself), subnormals included;
 *  - I8 cache: all 255 codes -127..127 (pinned by 127).
 * Both decode variants run, forced with mk_set_kernel where the device takes them:
 * opencl.splitkv_decode (work-groups; loads through common.clh's LOADF_T) and
 * opencl.splitkv_decode_item (a work-item per split, CPU drivers; its own 16-wide loads).
 * NaN must come out NaN (payloads are not compared: NaN arithmetic is not part of the
 * contract), a zero a zero of either sign, an f32 subnormal (bf16 subnormals) itself or
 * 0 (flushed by a device without f32 denormals); every other value must have the
 * reference's exact bits.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mktest.h"

enum { D = 256 };

/* a is b: NaN for NaN, either zero for a zero (the weighted sum starts from +0), 0 or b
   for an f32 subnormal b (bf16 subnormals; a device without f32 denormals flushes the
   product), else the same bits. */
static int same_value(float a, float b) {
    if (isnan(b)) return isnan(a);
    if (b == 0.0f) return a == 0.0f;
    if (fpclassify(b) == FP_SUBNORMAL && a == 0.0f) return 1;
    return memcmp(&a, &b, sizeof a) == 0;
}

/* V rows are v[b * D + d] (B rows), appended at slot b (block b, block size 1). */
static void check_codes(mk_context *ctx, const char *dev, const char *variant, mk_dtype ct, const float *v, int B) {
    char what[160];
    snprintf(what, sizeof what, "%s %s over every %s cache code", dev, variant, mk_dtype_name(ct));
    const size_t n = (size_t)B * D;
    mk_kv_cache_desc desc = {B, 1, 1, D, ct};
    mk_kv_cache *cache = NULL;
    MKT_OK(mk_kv_cache_create(ctx, &desc, &cache));
    if (!cache) return;
    float *k = mkt_alloc(n * 4), *q = mkt_alloc(n * 4), *out = mkt_alloc(n * 4), *ref = mkt_alloc(n * 4);
    int32_t *slots = mkt_alloc((size_t)B * 4), *lens = mkt_alloc((size_t)B * 4);
    for (size_t i = 0; i < n; i++) {
        k[i] = (float)((int)(i % 7) - 3) * 0.25f; /* finite scores */
        q[i] = (float)((int)(i % 5) - 2) * 0.5f;
    }
    for (size_t d = 0; d < n; d += D) k[d] = 1.0f; /* never an all-zero row */
    for (int b = 0; b < B; b++) slots[b] = b, lens[b] = 1;

    const int64_t kv_shape[3] = {B, 1, D}, s_shape[1] = {B}, bt_shape[2] = {B, 1};
    mk_tensor tk = mkt_upload(ctx, MK_F32, 3, kv_shape, k), tv = mkt_upload(ctx, MK_F32, 3, kv_shape, v);
    mk_tensor ts = mkt_upload_i32(ctx, 1, s_shape, slots), tbt = mkt_upload_i32(ctx, 2, bt_shape, slots);
    mk_tensor tl = mkt_upload_i32(ctx, 1, s_shape, lens), tq = mkt_upload(ctx, MK_F32, 3, kv_shape, q);
    mk_tensor to = mkt_output(ctx, MK_F32, 3, kv_shape);
    MKT_OK(mk_kv_cache_append(ctx, cache, &tk, &tv, &ts));
    mk_attn_params p = {0, 0, 0, 0};
    MKT_OK(mk_attention_decode(ctx, &tq, cache, &tbt, &tl, &p, &to));
    const char *ran = mk_last_kernel(ctx, MK_OP_ATTENTION_DECODE);
    MKT_CHECK(ran && strcmp(ran, variant) == 0, "%s: ran %s", what, ran ? ran : "nothing");
    mkt_download(&to, out);

    mkref_kv_cache host = {desc, NULL, NULL, NULL, NULL};
    size_t es = mk_dtype_size(ct);
    host.k = mkt_alloc(n * es), host.v = mkt_alloc(n * es);
    if (ct == MK_I8 || ct == MK_FP8_E4M3) {
        host.k_scale = mkt_alloc((size_t)B * 4);
        host.v_scale = mkt_alloc((size_t)B * 4);
    }
    mkref_kv_append(&host, k, v, slots, B);
    mkref_attention_decode(q, &host, slots, 1, lens, B, 1, &p, ref);

    size_t bad = 0, nan = 0, first = 0;
    for (size_t i = 0; i < n; i++) {
        nan += isnan(ref[i]) != 0;
        /* the property the test rests on: one key, out = the cache value exactly */
        if (!same_value(ref[i], mkref_kv_value(&host, 1, (int64_t)(i / D), 0, (int)(i % D))))
            mkt_fail_at(__FILE__, __LINE__, "%s: the reference itself is not v at %zu", what, i);
        if (!same_value(out[i], ref[i]) && bad++ == 0) first = i;
    }
    MKT_CHECK(bad == 0, "%s: %zu of %zu values differ; first at %zu: %a, reference %a", what, bad, n, first,
              (double)out[first], (double)ref[first]);
    printf("  %s: %zu values (%zu NaN) exact\n", what, n - bad, nan);
    mk_kv_cache_destroy(cache);
    mkt_free(&tk), mkt_free(&tv), mkt_free(&ts), mkt_free(&tbt), mkt_free(&tl), mkt_free(&tq), mkt_free(&to);
    free(host.k), free(host.v), free(host.k_scale), free(host.v_scale);
    free(k), free(q), free(out), free(ref), free(slots), free(lens);
}

int main(int argc, char **argv) {
    mkt_init(argc, argv, "test_opencl_cache_codes");
    char ids[8][32];
    int nd = mkt_devices("opencl", ids, 8);
    if (nd == 0) mkt_skip("no OpenCL device");
    float *v = mkt_alloc(65536 * 4);
    for (int d = 0; d < nd; d++) {
        mk_context *ctx = NULL;
        MKT_OK(mk_context_create(ids[d], &ctx));
        if (!ctx) continue;
        static const char *const variants[2] = {"opencl.splitkv_decode", "opencl.splitkv_decode_item"};
        for (int vi = 0; vi < 2; vi++) {
            if (!mkt_variant_on_device(ctx, MK_OP_ATTENTION_DECODE, variants[vi])) continue;
            MKT_OK(mk_set_kernel(ctx, MK_OP_ATTENTION_DECODE, variants[vi]));
            const char *style = variants[vi];
            /* f16, bf16: every code as an f32 value (the conversion into the cache is exact) */
            for (uint32_t c = 0; c < 65536; c++) v[c] = mkref_f16_to_f32((uint16_t)c);
            check_codes(ctx, ids[d], style, MK_F16, v, 256);
            for (uint32_t c = 0; c < 65536; c++) v[c] = mkref_bf16_to_f32((uint16_t)c);
            check_codes(ctx, ids[d], style, MK_BF16, v, 256);
            /* fp8: every code in each row (0x7E and 0xFE, +-448, pin the scale to 1); i8:
               -127..127 and 127 again; the second row shifted */
            for (int r = 0; r < 2; r++)
                for (int i = 0; i < D; i++) v[r * D + i] = mkref_fp8_to_f32((uint8_t)(i + 17 * r));
            check_codes(ctx, ids[d], style, MK_FP8_E4M3, v, 2);
            for (int r = 0; r < 2; r++)
                for (int i = 0; i < D; i++) v[r * D + i] = i < 255 ? (float)((i + 31 * r) % 255 - 127) : 127.0f;
            check_codes(ctx, ids[d], style, MK_I8, v, 2);
        }
        mk_context_destroy(ctx);
    }
    free(v);
    return mkt_finish();
}
