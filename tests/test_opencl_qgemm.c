/*
 * OpenCL quantized GEMM against the reference, on every OpenCL device, every variant
 * forced in turn:
 *  - formats W4 (symmetric / asymmetric, groups 32/64/128), W8 (per channel, grouped),
 *    W8A8 and FP8 (activations quantized per token, compared with the reference's own
 *    per-token quantization), with and without k_perm and bias, x F16 and BF16 (as a
 *    view with a padded row stride at an offset in some cases), N odd, K not a multiple
 *    of 128 (nor of 16 where the format allows);
 *  - M = 1, 7 (GEMV sizes) and 33, 100 (tiled); a GEMV variant forced on M > its limit
 *    must refuse with MK_ERR_UNSUPPORTED, and so must a variant forced on a format it
 *    does not take (opencl.qgemv_rows: W4 only; opencl.qgemv_dot8: W8A8 only);
 *  - opencl.qgemv_rows with each of its row blocks (gemv_rows 16, 32 and the default 64);
 *  - the unforced choice without a tuning file (mk_last_kernel, mk_explain): the W4 GEMV
 *    is opencl.qgemv_rows on CPU devices (their default choice) and opencl.qgemv elsewhere
 *    (the priority order), the W8 GEMV opencl.qgemv everywhere;
 *  - packing round trip: mk_qweight_read gives back every canonical bit;
 *  - activation codes exactly as the reference: identity weights make y the dequantized
 *    codes, and inputs x = S * (a rounding tie) with amax = S * 127 (I8) or S * 448 (FP8)
 *    give scale S, where x / S is the exact tie but often x * (1/S) is not;
 *  - determinism: a second run gives the same bits; outputs poisoned, guards checked.
 * Bound: 1e-3 relative (f16 out), the bf16 bound for bf16 out.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mktest.h"

typedef struct {
    mk_qformat fmt;
    int group, asym, perm;
    int64_t n, k;
    mk_dtype xt;
    int bias, x_view;
} qcase;

static const qcase kCases[] = {
    {MK_QW4, 32, 0, 0, 33, 256, MK_F16, 1, 0},
    {MK_QW4, 128, 1, 1, 101, 384, MK_BF16, 0, 1},
    {MK_QW4, 64, 0, 1, 257, 320, MK_F16, 0, 0},
    {MK_QW4, 32, 1, 0, 7, 96, MK_BF16, 1, 0},
    {MK_QW8, 0, 0, 0, 65, 999, MK_F16, 1, 1},
    {MK_QW8, 64, 0, 1, 33, 448, MK_BF16, 0, 0},
    {MK_QW8A8, 0, 0, 0, 129, 1000, MK_F16, 1, 0},
    {MK_QW8A8, 0, 0, 1, 31, 77, MK_BF16, 0, 1},
    {MK_QFP8, 0, 0, 1, 97, 777, MK_F16, 1, 0},
    {MK_QFP8, 0, 0, 0, 1, 33, MK_BF16, 0, 0},
    {MK_QW4, 32, 1, 0, 2049, 128, MK_BF16, 1, 0}, /* rows for 64-row items (opencl.qgemv_rows) */
};
static const int kM[] = {1, 3, 7, 33, 100};
/* MEDKERN_TEST_SMALL (mkt_small): every format, group size, zero points, k_perm, bias,
   view and x dtype of kCases on smaller N and K (N odd, K not a multiple of 16 where the
   format allows); the last case still has enough rows for 64-row opencl.qgemv_rows items on a
   one-compute-unit device; M = 1, 3, 7 (GEMV) and 33 (tiled; opencl.qgemm_tiled runs only
   there: its 64x64 output tiles make every M up to 64 cost the same) */
static const qcase kSmallCases[] = {
    {MK_QW4, 32, 0, 0, 33, 96, MK_F16, 1, 0},
    {MK_QW4, 128, 1, 1, 13, 128, MK_BF16, 0, 1},
    {MK_QW4, 64, 0, 1, 17, 192, MK_F16, 0, 0},
    {MK_QW4, 32, 1, 0, 7, 96, MK_BF16, 1, 0},
    {MK_QW8, 0, 0, 0, 33, 99, MK_F16, 1, 1},
    {MK_QW8, 64, 0, 1, 7, 128, MK_BF16, 0, 0},
    {MK_QW8A8, 0, 0, 0, 13, 100, MK_F16, 1, 0},
    {MK_QW8A8, 0, 0, 1, 31, 77, MK_BF16, 0, 1},
    {MK_QFP8, 0, 0, 1, 17, 77, MK_F16, 1, 0},
    {MK_QFP8, 0, 0, 0, 1, 33, MK_BF16, 0, 0},
    {MK_QW4, 32, 1, 0, 257, 64, MK_BF16, 1, 0},
};
static const int kSmallM[] = {1, 3, 7, 33};
/* M = 3 only on the last case (W4: opencl.qgemv_rows' 4-token build), in both lists */
static const int kM3Case = (int)(sizeof kCases / sizeof kCases[0]) - 1;
_Static_assert(sizeof kCases / sizeof kCases[0] == sizeof kSmallCases / sizeof kSmallCases[0],
               "kSmallCases mirrors kCases");

static const char *fmt_name(mk_qformat f) {
    return f == MK_QW4 ? "w4" : f == MK_QW8 ? "w8" : f == MK_QW8A8 ? "w8a8" : "fp8";
}

/* Every canonical array of b equals a's. */
static int same_data(const mk_qweight_desc *d, const mk_qweight_data *a, const mk_qweight_data *b) {
    if (memcmp(a->q, b->q, mkref_qweight_q_bytes(d)) || memcmp(a->scales, b->scales, mkref_qweight_scale_bytes(d)))
        return 0;
    if (a->zeros && memcmp(a->zeros, b->zeros, mkref_qweight_zero_bytes(d))) return 0;
    if (a->k_perm && memcmp(a->k_perm, b->k_perm, (size_t)d->k * 4)) return 0;
    return 1;
}

static void run_case(mk_context *ctx, const char *dev, const char **variants, int nvar,
                     const qcase *c, int ci) {
    mkref_rng r;
    mkt_rng(&r, 700 + (uint64_t)ci);
    mk_qweight_desc desc = {c->fmt, c->n, c->k, c->group, c->asym};
    mk_qweight_data data, back;
    MKT_OK(mk_qweight_data_alloc(&desc, c->asym, c->perm, &data));
    MKT_OK(mk_qweight_data_alloc(&desc, c->asym, c->perm, &back));
    float *w = mkt_alloc((size_t)(c->n * c->k) * 4);
    mkt_fill_normal(&r, w, (size_t)(c->n * c->k), 1.0f / sqrtf((float)c->k), 4.0f);
    if (c->asym) /* shifted rows so zero points spread over 0..15 */
        for (int64_t i = 0; i < c->n * c->k; i++) w[i] += 0.5f / sqrtf((float)c->k) * (float)(i % 5 - 2);
    mkref_qweight_quantize(&desc, w, &data);
    if (c->perm) {
        for (int64_t j = 0; j < c->k; j++) data.k_perm[j] = (int32_t)j;
        for (int64_t j = c->k - 1; j > 0; j--) {
            int64_t i = mkref_rng_range(&r, 0, j);
            int32_t t = data.k_perm[j];
            data.k_perm[j] = data.k_perm[i], data.k_perm[i] = t;
        }
    }
    char what[400];
    snprintf(what, sizeof what, "%s %s g%d%s%s N=%lld K=%lld x=%s%s%s", dev, fmt_name(c->fmt),
             c->group, c->asym ? " asym" : "", c->perm ? " perm" : "", (long long)c->n,
             (long long)c->k, mk_dtype_name(c->xt), c->bias ? " bias" : "", c->x_view ? " view" : "");
    mk_qweight *qw = NULL;
    MKT_OK(mk_qweight_create(ctx, &desc, &data, &qw));
    if (!qw) goto done;
    MKT_OK(mk_qweight_read(qw, &back));
    MKT_CHECK(same_data(&desc, &data, &back), "%s: mk_qweight_read differs from the packed data", what);

    float *bias = mkt_alloc((size_t)c->n * 4);
    mkt_fill_normal(&r, bias, (size_t)c->n, 0.5f, 1.0f);
    mkt_round(c->xt, bias, (size_t)c->n);
    int64_t bs[1] = {c->n};
    mk_tensor tb = mkt_upload(ctx, c->xt, 1, bs, bias);

    const int *Ms = mkt_small() ? kSmallM : kM;
    const int nM = mkt_small() ? (int)(sizeof kSmallM / sizeof kSmallM[0]) : (int)(sizeof kM / sizeof kM[0]);
    for (int mi = 0; mi < nM; mi++) {
        int64_t M = Ms[mi], K = c->k, N = c->n;
        if (M == 3 && ci != kM3Case) continue;
        float *x = mkt_alloc((size_t)(M * K) * 4), *ref = mkt_alloc((size_t)(M * N) * 4);
        float *y = mkt_alloc((size_t)(M * N) * 4), *y2 = mkt_alloc((size_t)(M * N) * 4);
        mkt_fill_normal(&r, x, (size_t)(M * K), 1.0f, 8.0f);
        mkt_round(c->xt, x, (size_t)(M * K));
        mkref_qgemm(&desc, &data, x, M, c->bias ? bias : NULL, ref);
        /* x: contiguous, or rows of K + 5 elements starting 3 elements into the buffer */
        mk_tensor tx;
        if (c->x_view) {
            int64_t rs = K + 5, fs[1] = {3 + M * rs};
            float *f = mkt_alloc((size_t)fs[0] * 4);
            for (int64_t i = 0; i < fs[0]; i++) f[i] = 1e30f;
            for (int64_t m = 0; m < M; m++) memcpy(f + 3 + m * rs, x + m * K, (size_t)K * 4);
            tx = mkt_upload(ctx, c->xt, 1, fs, f);
            free(f);
            int64_t xs[2] = {M, K};
            mk_buffer *buf = tx.buf;
            tx = mk_tensor_make(buf, 3 * mk_dtype_size(c->xt), c->xt, 2, xs);
            tx.stride[0] = rs;
        } else {
            int64_t xs[2] = {M, K};
            tx = mkt_upload(ctx, c->xt, 2, xs, x);
        }
        int64_t ys[2] = {M, N};
        for (int vi = 0; vi < nvar; vi++) {
            /* MEDKERN_TEST_SMALL: the tiled variant at M = 33 only, and not in the GEMV reruns */
            if (mkt_small() && (M < 33 || strstr(dev, "gemv_rows")) && strstr(variants[vi], "tiled")) continue;
            MKT_OK(mk_set_kernel(ctx, MK_OP_QGEMM, variants[vi]));
            char w2[520];
            snprintf(w2, sizeof w2, "%s M=%lld %s", what, (long long)M, variants[vi]);
            mk_tensor ty = mkt_output(ctx, c->xt, 2, ys);
            mk_status s = mk_qgemm(ctx, &tx, qw, c->bias ? &tb : NULL, &ty);
            if (strstr(variants[vi], "dot8") && c->fmt != MK_QW8A8) { /* int8 activations only */
                MKT_CHECK(s == MK_ERR_UNSUPPORTED && strstr(mk_last_error(), "W8A8"),
                          "%s: the int8-dot variant on another format gives %s (%s)", w2, mk_status_string(s),
                          mk_last_error());
                mkt_free(&ty);
                continue;
            }
            if (strstr(variants[vi], "qgemv_rows") && c->fmt != MK_QW4) { /* 4-bit codes only */
                MKT_CHECK(s == MK_ERR_UNSUPPORTED && strstr(mk_last_error(), "W4 weights only"),
                          "%s: the row-block GEMV on another format gives %s (%s)", w2, mk_status_string(s),
                          mk_last_error());
                mkt_free(&ty);
                continue;
            }
            if (strstr(variants[vi], "qgemv") && M > 8) {
                MKT_CHECK(s == MK_ERR_UNSUPPORTED && strstr(mk_last_error(), "GEMV"),
                          "%s: a GEMV variant on M > 8 gives %s (%s)", w2, mk_status_string(s),
                          mk_last_error());
                mkt_free(&ty);
                continue;
            }
            MKT_CHECK(s == MK_OK, "%s: %s: %s", w2, mk_status_string(s), mk_last_error());
            const char *last = mk_last_kernel(ctx, MK_OP_QGEMM);
            MKT_CHECK(last && strcmp(last, variants[vi]) == 0, "%s: ran %s", w2, last ? last : "nothing");
            mkt_download(&ty, y);
            mkt_compare(w2, y, ref, (size_t)(M * N), c->xt == MK_F16 ? 1e-3 : mkt_tol(c->xt), 0);
            mkt_poison(ty.buf, (size_t)(M * N) * 2);
            MKT_OK(mk_qgemm(ctx, &tx, qw, c->bias ? &tb : NULL, &ty));
            mkt_download(&ty, y2);
            MKT_CHECK(memcmp(y, y2, (size_t)(M * N) * 4) == 0, "%s: two runs differ", w2);
            mkt_free(&ty);
        }
        mkt_free(&tx);
        free(x), free(ref), free(y), free(y2);
    }
    mkt_free(&tb);
    free(bias);
    mk_qweight_destroy(qw);
done:
    free(w);
    mk_qweight_data_free(&data);
    mk_qweight_data_free(&back);
}

/* W8A8 / FP8 with identity weights: y[m][j] = s_a * code(x[m][j] / s_a) * (s_w * w) must
   match the reference to well within one code. */
static void run_exact_codes(mk_context *ctx, const char *dev, const char **variants, int nvar,
                            mk_qformat fmt) {
    mkref_rng r;
    mkt_rng(&r, 900 + (uint64_t)fmt);
    const int64_t K = mkt_small() ? 64 : 200, M = 9; /* MEDKERN_TEST_SMALL: one 64-row tile */
    mk_qweight_desc desc = {fmt, K, K, 0, 0};
    mk_qweight_data data;
    MKT_OK(mk_qweight_data_alloc(&desc, 0, 0, &data));
    float *w = mkt_alloc((size_t)(K * K) * 4), *x = mkt_alloc((size_t)(M * K) * 4);
    for (int64_t i = 0; i < K * K; i++) w[i] = i / K == i % K ? 1.0f : 0.0f;
    mkref_qweight_quantize(&desc, w, &data);
    /* Scale S (amax = S * 127 or S * 448): ties x = S * t, f16-exact, half of them where
       x * (1/S) misses the tie (so only a true division rounds like the reference). */
    const float S = fmt == MK_QW8A8 ? 15.0f : 3.0f, rcp = 1.0f / S;
    for (int64_t m = 0; m < M; m++)
        for (int64_t j = 0; j < K; j++) {
            float xv;
            for (int tries = 0;; tries++) {
                double tie;
                if (fmt == MK_QW8A8) {
                    tie = (double)mkref_rng_range(&r, -67, 66) + 0.5;
                } else { /* midpoint of two neighbouring fp8 codes in [2^-6, 448) */
                    int c = (int)mkref_rng_range(&r, 0x08, 0x7D);
                    tie = 0.5 * ((double)mkref_fp8_to_f32((uint8_t)c) + mkref_fp8_to_f32((uint8_t)(c + 1)));
                    if (mkref_rng_u64(&r) & 1) tie = -tie;
                }
                xv = (float)(S * tie);
                volatile float by_div = xv / S, by_rcp = xv * rcp;
                if (mkref_round_to(MK_F16, xv) == xv && (by_div != by_rcp || (j & 1) || tries > 100)) break;
            }
            x[m * K + j] = xv;
        }
    for (int64_t m = 0; m < M; m++) x[m * K + (m * 7) % K] = S * (fmt == MK_QW8A8 ? 127.0f : 448.0f);
    float *ref = mkt_alloc((size_t)(M * K) * 4), *y = mkt_alloc((size_t)(M * K) * 4);
    mkref_qgemm(&desc, &data, x, M, NULL, ref);
    mk_qweight *qw = NULL;
    MKT_OK(mk_qweight_create(ctx, &desc, &data, &qw));
    int64_t xs[2] = {M, K};
    mk_tensor tx = mkt_upload(ctx, MK_F16, 2, xs, x);
    for (int vi = 0; qw && vi < nvar; vi++) {
        MKT_OK(mk_set_kernel(ctx, MK_OP_QGEMM, variants[vi]));
        for (int64_t rows = 1; rows <= M; rows += M - 1) { /* GEMV and tiled sizes */
            if (strstr(variants[vi], "qgemv") && rows > 8) continue;
            if (strstr(variants[vi], "dot8") && fmt != MK_QW8A8) continue;
            if (strstr(variants[vi], "qgemv_rows")) continue; /* W4 only */
            int64_t ys[2] = {rows, K};
            mk_tensor tsub = tx, ty = mkt_output(ctx, MK_F16, 2, ys);
            tsub.shape[0] = rows;
            MKT_OK(mk_qgemm(ctx, &tsub, qw, NULL, &ty));
            mkt_download(&ty, y);
            int bad = 0;
            for (int64_t i = 0; i < rows * K; i++) {
                double bound = fmt == MK_QW8A8 ? 0.25 * S : fabs(ref[i]) / 32 + 0x1p-8;
                bad += !(fabs((double)y[i] - ref[i]) <= bound);
            }
            MKT_CHECK(bad == 0, "%s %s %s M=%lld: %d outputs show activation codes that differ from "
                      "the reference's per-token quantization", dev, variants[vi],
                      fmt == MK_QW8A8 ? "w8a8" : "fp8", (long long)rows, bad);
            mkt_free(&ty);
        }
    }
    mkt_free(&tx);
    mk_qweight_destroy(qw);
    mk_qweight_data_free(&data);
    free(w), free(x), free(ref), free(y);
}

/* The variant the dispatcher picks, unforced, for x [M][K] times a `fmt` weight. */
static void expect_choice(mk_context *ctx, const char *dev, mk_qformat fmt, int64_t M, const char *want) {
    mkref_rng r;
    mkt_rng(&r, 950 + (uint64_t)fmt);
    const int64_t N = 257, K = 128;
    mk_qweight_desc desc = {fmt, N, K, fmt == MK_QW4 ? 32 : 0, 0};
    mk_qweight_data data;
    MKT_OK(mk_qweight_data_alloc(&desc, 0, 0, &data));
    float *w = mkt_alloc((size_t)(N * K) * 4), *x = mkt_alloc((size_t)(M * K) * 4);
    float *ref = mkt_alloc((size_t)(M * N) * 4), *y = mkt_alloc((size_t)(M * N) * 4);
    mkt_fill_normal(&r, w, (size_t)(N * K), 1.0f / sqrtf((float)K), 4.0f);
    mkt_fill_normal(&r, x, (size_t)(M * K), 1.0f, 8.0f);
    mkt_round(MK_F16, x, (size_t)(M * K));
    mkref_qweight_quantize(&desc, w, &data);
    mkref_qgemm(&desc, &data, x, M, NULL, ref);
    mk_qweight *qw = NULL;
    MKT_OK(mk_qweight_create(ctx, &desc, &data, &qw));
    const int64_t xs[2] = {M, K}, ys[2] = {M, N};
    mk_tensor tx = mkt_upload(ctx, MK_F16, 2, xs, x), ty = mkt_output(ctx, MK_F16, 2, ys);
    char what[160], text[8192];
    snprintf(what, sizeof what, "%s %s M=%lld unforced", dev, fmt_name(fmt), (long long)M);
    MKT_OK(mk_set_kernel(ctx, MK_OP_QGEMM, NULL));
    if (qw) {
        MKT_OK(mk_qgemm(ctx, &tx, qw, NULL, &ty));
        const char *last = mk_last_kernel(ctx, MK_OP_QGEMM);
        MKT_CHECK(last && strcmp(last, want) == 0, "%s: ran %s, want %s", what, last ? last : "nothing", want);
        mkt_download(&ty, y);
        mkt_compare(what, y, ref, (size_t)(M * N), 1e-3, 0);
        mk_op_args args = {.op = MK_OP_QGEMM, .u.qgemm = {&tx, qw, NULL, &ty}};
        char chosen[96];
        snprintf(chosen, sizeof chosen, "chosen: %s", want);
        MKT_OK(mk_explain(ctx, MK_OP_QGEMM, &args, text, sizeof text));
        const char *at = strstr(text, chosen), *after = at ? at + strlen(chosen) : NULL;
        MKT_CHECK(after && (*after == '\n' || *after == ' '), "%s: mk_explain does not choose %s: %s", what, want,
                  text);
        if (fmt != MK_QW4)
            MKT_CHECK(strstr(text, "opencl.qgemv_rows") && strstr(text, "W4 weights only"),
                      "%s: mk_explain gives no W4 reason for opencl.qgemv_rows: %s", what, text);
    }
    mkt_free(&tx), mkt_free(&ty);
    mk_qweight_destroy(qw);
    mk_qweight_data_free(&data);
    free(w), free(x), free(ref), free(y);
}

int main(int argc, char **argv) {
    mkt_init(argc, argv, "test_opencl_qgemm");
    /* the defaults of each device type, whatever tuning file the cache holds */
    setenv("MEDKERN_TUNING_FILE", "/nonexistent/medkern-test-no-tuning.json", 1);
    char ids[8][32];
    int ndev = mkt_devices("opencl", ids, 8);
    if (ndev == 0) mkt_skip("no OpenCL device");
    mk_kernel_info info[64];
    const char *variants[16];
    int count = 0;
    mk_kernel_list(MK_OP_QGEMM, info, 64, &count);
    for (int di = 0; di < ndev; di++) {
        mk_context *ctx = NULL;
        MKT_OK(mk_context_create(ids[di], &ctx));
        if (!ctx) continue;
        int nvar = 0; /* the variants that can run on this device (extensions) */
        for (int i = 0; i < count && i < 64; i++)
            if (strcmp(info[i].backend, "opencl") == 0 && nvar < 16 &&
                mkt_variant_on_device(ctx, MK_OP_QGEMM, info[i].name))
                variants[nvar++] = info[i].name;
        MKT_CHECK(nvar > 0, "no OpenCL qgemm variant runs on %s", ids[di]);
        const qcase *cases = mkt_small() ? kSmallCases : kCases;
        for (int ci = 0; ci < (int)(sizeof kCases / sizeof kCases[0]); ci++)
            run_case(ctx, ids[di], variants, nvar, &cases[ci], ci);
        /* The last W4 case (rows enough for 64-row items) again on opencl.qgemv_rows with its
           smaller row blocks (the default, 64, ran above). */
        const char *rows_variant[1] = {"opencl.qgemv_rows"};
        int has_rows = 0;
        for (int i = 0; i < nvar; i++) has_rows |= !strcmp(variants[i], rows_variant[0]);
        char dev2[320];
        for (int rows = 16; has_rows && rows <= 32; rows *= 2) {
            snprintf(dev2, sizeof dev2, "%s gemv_rows=%d", ids[di], rows);
            MKT_OK(mk_param_set(ctx, "qgemm", "gemv_rows", rows));
            run_case(ctx, dev2, rows_variant, 1, &cases[kM3Case], kM3Case);
        }
        MKT_OK(mk_param_set(ctx, "qgemm", "gemv_rows", 0));
        mk_device_info dinfo;
        MKT_OK(mk_context_get_device(ctx, &dinfo));
        MKT_CHECK(has_rows, "%s: opencl.qgemv_rows does not run", ids[di]);
        expect_choice(ctx, ids[di], MK_QW4, 1, dinfo.type == MK_DEVICE_CPU ? "opencl.qgemv_rows" : "opencl.qgemv");
        expect_choice(ctx, ids[di], MK_QW8, 1, "opencl.qgemv");
        run_exact_codes(ctx, ids[di], variants, nvar, MK_QW8A8);
        run_exact_codes(ctx, ids[di], variants, nvar, MK_QFP8);
        mk_context_destroy(ctx);
    }
    return mkt_finish();
}
