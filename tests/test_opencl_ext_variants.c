/*
 * The OpenCL variants that need a device extension, forced one by one on every OpenCL
 * device where their supports() says yes, against the reference (SKIP when no device
 * has any of the extensions, e.g. plain PoCL):
 *  - opencl.rows_half (add, cl_khr_fp16): F16 add in half arithmetic; where inputs and
 *    sum are normal f16 numbers (or zero) the bits equal the reference's (one RNE
 *    rounding of the exact sum), elsewhere the f16 tolerance; Inf and NaN where the
 *    reference has them; row strides;
 *  - opencl.wg_subgroup (rmsnorm, layernorm) and opencl.gemv_subgroup (gemm) with
 *    cl_khr_subgroups / cl_intel_subgroups: odd shapes in F32/F16/BF16, tolerances of
 *    docs/numerics.md, a second run gives the same bits;
 *  - opencl.qgemv_dot8 (qgemm W8A8, cl_khr_integer_dot_product): against the reference,
 *    and bit for bit against opencl.qgemv (the same i32 sums and epilogue).
 * Every run checks mk_last_kernel, poisoned outputs and guard bytes.
 *
 * ctest also runs it as test_opencl_ext_variants_assumed with
 * MEDKERN_OCL_ASSUME_EXTENSIONS=cl_khr_integer_dot_product (ocl_extensions.c): PoCL
 * compiles opencl.qgemv_dot8 (common.clh's fallback for the built-in) without advertising
 * the extension, so CI runs that variant. The sub-group and half variants cannot run on
 * PoCL (no sub-group functions in its CPU library, no half type): they are
 * compile-checked by test_opencl_kernels_compile and run here only on devices that have
 * the extensions.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mktest.h"

static mk_context *ctx;
static const char *dev_id;
static int ran_variants;

static const mk_dtype float_types[] = {MK_F32, MK_F16, MK_BF16};

/* Forces variant `name` of op when the device can run it; 0 (skipped) otherwise. */
static int use_variant(mk_op op, const char *name) {
    if (!mkt_variant_on_device(ctx, op, name)) return 0;
    MKT_OK(mk_set_kernel(ctx, op, name));
    ran_variants++;
    return 1;
}

static void ran(mk_op op, const char *name, const char *what) {
    const char *last = mk_last_kernel(ctx, op);
    MKT_CHECK(last && strcmp(last, name) == 0, "%s: ran %s, forced %s", what, last ? last : "(none)", name);
}

/* ------------------------------------------------------------ half add */

static int f16_normal_or_zero(uint16_t h) {
    uint16_t e = (uint16_t)((h >> 10) & 0x1F);
    return (e != 0 && e != 0x1F) || (h & 0x7FFF) == 0;
}

static void check_add_half(int64_t rows, int64_t n, int64_t pad) {
    char what[128];
    snprintf(what, sizeof what, "%s opencl.rows_half add f16 [%lld x %lld] pad %lld", dev_id, (long long)rows,
             (long long)n, (long long)pad);
    const size_t total = (size_t)(rows * n), ext = (size_t)(rows * (n + pad));
    mkref_rng r;
    mkt_rng(&r, (uint64_t)(rows * 1000 + n));
    /* a: padded rows; b: contiguous. Random f16 codes of every exponent (subnormals, Inf
       and NaN included), plus cancellations and ties. */
    uint16_t *a = mkt_alloc(ext * 2), *b = mkt_alloc(total * 2), *out = mkt_alloc(total * 2);
    for (size_t i = 0; i < ext; i++) a[i] = (uint16_t)mkref_rng_u64(&r);
    for (size_t i = 0; i < total; i++) {
        size_t ia = (i / (size_t)n) * (size_t)(n + pad) + i % (size_t)n;
        uint64_t kind = mkref_rng_u64(&r) % 8;
        b[i] = kind == 0   ? (uint16_t)(a[ia] ^ 0x8000u)                       /* exact cancellation */
               : kind == 1 ? (uint16_t)((a[ia] & 0xFC00u) | (mkref_rng_u64(&r) & 1)) /* near-ties */
                           : (uint16_t)mkref_rng_u64(&r);
    }
    int64_t sa[2] = {rows, n}, ss[2] = {n + pad, 1};
    mk_buffer *ba = mkt_buffer(ctx, ext * 2), *bb = mkt_buffer(ctx, total * 2);
    MKT_OK(mk_buffer_write(ba, 0, a, ext * 2));
    MKT_OK(mk_buffer_write(bb, 0, b, total * 2));
    mk_tensor ta = mk_tensor_make(ba, 0, MK_F16, 2, sa), tb = mk_tensor_make(bb, 0, MK_F16, 2, sa);
    ta.stride[0] = ss[0];
    mk_tensor to = mkt_output(ctx, MK_F16, 2, sa);
    MKT_OK(mk_add(ctx, &ta, &tb, &to));
    ran(MK_OP_ADD, "opencl.rows_half", what);
    MKT_OK(mk_buffer_read(to.buf, 0, out, total * 2));
    mkt_guard_ok(to.buf, total * 2, what);
    size_t exact = 0, bad_bits = 0, bad_tol = 0, bad_special = 0;
    uint16_t first[3] = {0, 0, 0}; /* a, b, out of the first wrong sum */
    for (size_t i = 0; i < total; i++) {
        size_t ia = (i / (size_t)n) * (size_t)(n + pad) + i % (size_t)n;
        float x = mkref_f16_to_f32(a[ia]), y = mkref_f16_to_f32(b[i]);
        double sum = (double)x + (double)y; /* exact */
        uint16_t want = mkref_f32_to_f16((float)sum);
        float got = mkref_f16_to_f32(out[i]), ref = mkref_f16_to_f32(want);
        int bad;
        if (isnan(ref) || isinf(ref)) {
            bad = isnan(ref) ? !isnan(got) : got != ref;
            bad_special += (size_t)bad;
        } else if (f16_normal_or_zero(a[ia]) && f16_normal_or_zero(b[i]) && f16_normal_or_zero(want)) {
            bad = out[i] != want && !(ref == 0.0f && got == 0.0f && (want & 0x8000u) == (out[i] & 0x8000u));
            bad_bits += (size_t)bad;
            exact++;
        } else { /* a subnormal in or out: devices without half denormals flush them */
            bad = !(fabs((double)got - (double)ref) <= 0x1p-13); /* a flushed subnormal, rounded */
            bad_tol += (size_t)bad;
        }
        if (bad && bad_bits + bad_tol + bad_special == 1) first[0] = a[ia], first[1] = b[i], first[2] = out[i];
    }
    MKT_CHECK(total < 64 || exact > total / 2, "%s: only %zu of %zu sums are in the bit-exact class", what, exact,
              total);
    MKT_CHECK(bad_bits + bad_tol + bad_special == 0,
              "%s: %zu sums differ from the reference's bits, %zu off by more than 2^-13, %zu Inf/NaN wrong; "
              "first: 0x%04x + 0x%04x gave 0x%04x", what, bad_bits, bad_tol, bad_special, first[0], first[1],
              first[2]);
    mk_buffer_free(ba), mk_buffer_free(bb), mkt_free(&to);
    free(a), free(b), free(out);
}

/* ------------------------------------------------------------ norms with sub-groups */

static void check_norm(mk_op op, mk_dtype t, int64_t rows, int64_t n) {
    char what[128];
    snprintf(what, sizeof what, "%s opencl.wg_subgroup %s %s [%lld x %lld]", dev_id, mk_op_name(op),
             mk_dtype_name(t), (long long)rows, (long long)n);
    const size_t total = (size_t)(rows * n);
    float *x = mkt_random(t, total, 1.0f, 8.0f), *w = mkt_random(t, (size_t)n, 1.0f, 1.0f);
    float *bias = mkt_random(t, (size_t)n, 0.5f, 1.0f);
    float *ref = mkt_alloc(total * 4), *out = mkt_alloc(total * 4), *again = mkt_alloc(total * 4);
    const float eps = 1e-5f;
    if (op == MK_OP_RMSNORM) mkref_rmsnorm(x, w, rows, n, eps, 0, ref);
    else mkref_layernorm(x, w, bias, rows, n, eps, ref);
    mkt_round(t, ref, total);
    int64_t xs[2] = {rows, n}, ws[1] = {n};
    mk_tensor tx = mkt_upload(ctx, t, 2, xs, x), tw = mkt_upload(ctx, t, 1, ws, w), tb = mkt_upload(ctx, t, 1, ws, bias);
    for (int run = 0; run < 2; run++) {
        mk_tensor ty = mkt_output(ctx, t, 2, xs);
        MKT_OK(op == MK_OP_RMSNORM ? mk_rmsnorm(ctx, &tx, &tw, eps, 0, &ty) : mk_layernorm(ctx, &tx, &tw, &tb, eps, &ty));
        ran(op, "opencl.wg_subgroup", what);
        mkt_download(&ty, run ? again : out);
        mkt_free(&ty);
    }
    mkt_compare(what, out, ref, total, mkt_tol(t), 0);
    MKT_CHECK(memcmp(out, again, total * 4) == 0, "%s: a second run gave other bits", what);
    mkt_free(&tx), mkt_free(&tw), mkt_free(&tb);
    free(x), free(w), free(bias), free(ref), free(out), free(again);
}

/* ------------------------------------------------------------ gemv with sub-groups */

static void check_gemv(mk_dtype t, int64_t m, int64_t n, int64_t k, int with_bias) {
    char what[128];
    snprintf(what, sizeof what, "%s opencl.gemv_subgroup %s M=%lld N=%lld K=%lld bias=%d", dev_id, mk_dtype_name(t),
             (long long)m, (long long)n, (long long)k, with_bias);
    float *x = mkt_random(t, (size_t)(m * k), 1.0f, 4.0f), *w = mkt_random(t, (size_t)(n * k), 0.05f, 1.0f);
    float *bias = mkt_random(t, (size_t)n, 1.0f, 1.0f);
    float *ref = mkt_alloc((size_t)(m * n) * 4), *out = mkt_alloc((size_t)(m * n) * 4), *again = mkt_alloc((size_t)(m * n) * 4);
    mkref_gemm(x, w, with_bias ? bias : NULL, m, n, k, ref);
    mkt_round(t, ref, (size_t)(m * n));
    int64_t xs[2] = {m, k}, wsh[2] = {n, k}, bs[1] = {n}, ys[2] = {m, n};
    mk_tensor tx = mkt_upload(ctx, t, 2, xs, x), tw = mkt_upload(ctx, t, 2, wsh, w), tb = mkt_upload(ctx, t, 1, bs, bias);
    for (int run = 0; run < 2; run++) {
        mk_tensor ty = mkt_output(ctx, t, 2, ys);
        MKT_OK(mk_gemm(ctx, &tx, &tw, with_bias ? &tb : NULL, &ty));
        ran(MK_OP_GEMM, "opencl.gemv_subgroup", what);
        mkt_download(&ty, run ? again : out);
        mkt_free(&ty);
    }
    mkt_compare(what, out, ref, (size_t)(m * n), mkt_tol(t), 0);
    MKT_CHECK(memcmp(out, again, (size_t)(m * n) * 4) == 0, "%s: a second run gave other bits", what);
    mkt_free(&tx), mkt_free(&tw), mkt_free(&tb);
    free(x), free(w), free(bias), free(ref), free(out), free(again);
}

/* ------------------------------------------------------------ W8A8 GEMV with integer dot products */

static void check_dot8(mk_dtype t, int64_t m, int64_t n, int64_t k) {
    char what[128];
    snprintf(what, sizeof what, "%s opencl.qgemv_dot8 %s M=%lld N=%lld K=%lld", dev_id, mk_dtype_name(t),
             (long long)m, (long long)n, (long long)k);
    mk_qweight_desc d = {MK_QW8A8, n, k, 0, 0};
    mk_qweight_data data;
    MKT_OK(mk_qweight_data_alloc(&d, 0, 0, &data));
    float *wf = mkt_random(MK_F32, (size_t)(n * k), 1.0f / sqrtf((float)k), 4.0f);
    mkref_qweight_quantize(&d, wf, &data);
    float *x = mkt_random(t, (size_t)(m * k), 1.0f, 8.0f), *bias = mkt_random(t, (size_t)n, 1.0f, 1.0f);
    float *ref = mkt_alloc((size_t)(m * n) * 4), *out = mkt_alloc((size_t)(m * n) * 4), *base = mkt_alloc((size_t)(m * n) * 4);
    mkref_qgemm(&d, &data, x, m, bias, ref);
    mkt_round(t, ref, (size_t)(m * n));
    mk_qweight *qw = NULL;
    MKT_OK(mk_qweight_create(ctx, &d, &data, &qw));
    int64_t xs[2] = {m, k}, bs[1] = {n}, ys[2] = {m, n};
    mk_tensor tx = mkt_upload(ctx, t, 2, xs, x), tb = mkt_upload(ctx, t, 1, bs, bias);
    const char *names[2] = {"opencl.qgemv_dot8", "opencl.qgemv"};
    for (int v = 0; qw && v < 2; v++) {
        mk_tensor ty = mkt_output(ctx, t, 2, ys);
        MKT_OK(mk_set_kernel(ctx, MK_OP_QGEMM, names[v]));
        MKT_OK(mk_qgemm(ctx, &tx, qw, &tb, &ty));
        ran(MK_OP_QGEMM, names[v], what);
        mkt_download(&ty, v ? base : out);
        mkt_free(&ty);
    }
    MKT_OK(mk_set_kernel(ctx, MK_OP_QGEMM, "opencl.qgemv_dot8"));
    mkt_compare(what, out, ref, (size_t)(m * n), t == MK_F16 ? 1e-3 : mkt_tol(t), 0);
    MKT_CHECK(memcmp(out, base, (size_t)(m * n) * 4) == 0, "%s: differs from opencl.qgemv's bits", what);
    mk_qweight_destroy(qw);
    mk_qweight_data_free(&data);
    mkt_free(&tx), mkt_free(&tb);
    free(wf), free(x), free(bias), free(ref), free(out), free(base);
}

int main(int argc, char **argv) {
    mkt_init(argc, argv, "test_opencl_ext_variants");
    char ids[8][32];
    int nd = mkt_devices("opencl", ids, 8);
    if (nd == 0) mkt_skip("no OpenCL device");
    for (int d = 0; d < nd; d++) {
        dev_id = ids[d];
        MKT_OK(mk_context_create(ids[d], &ctx));
        if (!ctx) continue;
        if (use_variant(MK_OP_ADD, "opencl.rows_half")) {
            check_add_half(1, 1, 0);
            check_add_half(7, 1000, 0);
            check_add_half(33, 7, 5);
            check_add_half(3, 4096, 16);
        }
        const mk_op norms[2] = {MK_OP_RMSNORM, MK_OP_LAYERNORM};
        for (int o = 0; o < 2; o++)
            if (use_variant(norms[o], "opencl.wg_subgroup"))
                for (int ti = 0; ti < 3; ti++) {
                    check_norm(norms[o], float_types[ti], 1, 1);
                    check_norm(norms[o], float_types[ti], 7, 33);
                    check_norm(norms[o], float_types[ti], 33, 1000);
                    check_norm(norms[o], float_types[ti], 3, 4096);
                }
        if (use_variant(MK_OP_GEMM, "opencl.gemv_subgroup"))
            for (int ti = 0; ti < 3; ti++) {
                check_gemv(float_types[ti], 1, 33, 1000, 1);
                check_gemv(float_types[ti], 3, 7, 4096, 0);
                check_gemv(float_types[ti], 4, 64, 7, 1);
            }
        if (use_variant(MK_OP_QGEMM, "opencl.qgemv_dot8")) {
            check_dot8(MK_F16, 1, 129, 1000);
            check_dot8(MK_BF16, 7, 64, 96);
            check_dot8(MK_F16, 8, 33, 4096);
        }
        mk_context_destroy(ctx);
        ctx = NULL;
    }
    if (ran_variants == 0) mkt_skip("no OpenCL device has cl_khr_fp16, sub-groups or cl_khr_integer_dot_product");
    return mkt_finish();
}
