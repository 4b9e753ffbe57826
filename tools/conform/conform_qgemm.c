/*
 * Conformance cases of the quantized GEMM: W4 (symmetric / asymmetric, groups
 * 32/64/128), W8 (per channel, grouped), W8A8 and FP8 (activations quantized per token
 * at run time), with and without k_perm (act-order) and bias, x F16/BF16 (contiguous or a
 * view with padded rows), GEMV sizes (M <= 8) and batches. Weights are random, quantized
 * by the reference quantizer; the reference GEMM runs on the same canonical weights
 * (bound 1e-3 for f16 out, the bf16 bound for bf16 out). The packed weight must read back
 * (mk_qweight_read) as the canonical bits it was made from, after the runs too.
 */
#include <math.h>
#include <string.h>

#include "conform_internal.h"

typedef struct {
    mk_qformat fmt;
    int group, asym, perm, gemv; /* gemv: M <= 8 (1 when gemv is 2), else a batch */
    mk_dtype xt;
} qtemplate;

/* quick: every format once as a single row (M = 1; W8A8: another GEMV size) and once as
   a batch in bf16, W4 symmetric and asymmetric, perm/bias/view mixed (few distinct
   kernel builds: a cold OpenCL compiler cache makes each one cost seconds) */
static const qtemplate kQuick[] = {
    {MK_QW4, 32, 0, 0, 2, MK_F16},   {MK_QW4, 128, 1, 1, 0, MK_BF16}, {MK_QW8, 0, 0, 0, 2, MK_F16},
    {MK_QW8, 64, 0, 1, 0, MK_BF16},  {MK_QW8A8, 0, 0, 0, 1, MK_F16},  {MK_QW8A8, 0, 0, 1, 0, MK_BF16},
    {MK_QFP8, 0, 0, 1, 2, MK_F16},   {MK_QFP8, 0, 0, 0, 0, MK_BF16},
};
static const qtemplate kFormats[] = {
    {MK_QW4, 32, 0, 0, 0, MK_F16}, {MK_QW4, 64, 0, 0, 0, MK_F16}, {MK_QW4, 128, 0, 0, 0, MK_F16},
    {MK_QW4, 32, 1, 0, 0, MK_F16}, {MK_QW4, 64, 1, 0, 0, MK_F16}, {MK_QW4, 128, 1, 0, 0, MK_F16},
    {MK_QW8, 0, 0, 0, 0, MK_F16},  {MK_QW8, 32, 0, 0, 0, MK_F16}, {MK_QW8, 128, 0, 0, 0, MK_F16},
    {MK_QW8A8, 0, 0, 0, 0, MK_F16}, {MK_QFP8, 0, 0, 0, 0, MK_F16},
};
#define N_QUICK ((int)(sizeof kQuick / sizeof kQuick[0]))
#define N_FORMATS ((int)(sizeof kFormats / sizeof kFormats[0]))

static int count(mkcf_mode mode) { return mode == MKCF_FULL ? 3 * N_FORMATS : N_QUICK; }

static const char *fmt_name(mk_qformat f) {
    return f == MK_QW4 ? "w4" : f == MK_QW8 ? "w8" : f == MK_QW8A8 ? "w8a8" : "fp8";
}

typedef struct {
    mk_tensor x, bias, y;
    const mk_qweight *qw;
    int with_bias;
} qgemm_call;

static mk_status launch(mkcf_case *c, void *arg) {
    qgemm_call *a = arg;
    return mk_qgemm(c->ctx, &a->x, a->qw, a->with_bias ? &a->bias : NULL, &a->y);
}

static int same_data(const mk_qweight_desc *d, const mk_qweight_data *a, const mk_qweight_data *b) {
    if (memcmp(a->q, b->q, mkref_qweight_q_bytes(d)) || memcmp(a->scales, b->scales, mkref_qweight_scale_bytes(d)))
        return 0;
    if (a->zeros && memcmp(a->zeros, b->zeros, mkref_qweight_zero_bytes(d))) return 0;
    if (a->k_perm && memcmp(a->k_perm, b->k_perm, (size_t)d->k * 4)) return 0;
    return 1;
}

static void run(mkcf_case *c) {
    static const int ns[] = {1, 7, 33, 65, 101, 257}, ks[] = {33, 77, 200, 448, 999}, groups_k[] = {1, 2, 3, 5, 8};
    static const int m_gemv[] = {2, 3, 5, 7, 8}, m_batch[] = {9, 17, 33, 100};
    const int full = c->mode == MKCF_FULL, i = c->index;
    qtemplate q = full ? kFormats[i % N_FORMATS] : kQuick[i];
    if (full) { /* each format three times: mixed perm, dtype, GEMV / batch */
        q.perm = (i / N_FORMATS) == 1 || (i & 1);
        q.xt = (i / N_FORMATS) == 2 ? MK_BF16 : (i & 1) ? MK_BF16 : MK_F16;
        q.gemv = (i / N_FORMATS + i) % 2 ? (i / N_FORMATS == 0 ? 2 : 1) : 0;
    }
    mk_qweight_desc d = {q.fmt, MKCF_PICK(c, ns), 0, q.group, q.asym};
    d.k = q.group ? (int64_t)q.group * MKCF_PICK(c, groups_k) : MKCF_PICK(c, ks);
    int64_t M = q.gemv == 2 ? 1 : q.gemv ? MKCF_PICK(c, m_gemv) : MKCF_PICK(c, m_batch), K = d.k, N = d.n;
    qgemm_call a = {.with_bias = (int)mkref_rng_range(&c->rng, 0, 1)};
    int x_view = (int)mkref_rng_range(&c->rng, 0, 1);
    mkcf_describe(c, "qgemm %s g%d%s%s x %s M=%lld N=%lld K=%lld%s%s", fmt_name(q.fmt), q.group, q.asym ? " asym" : "",
                 q.perm ? " k_perm" : "", mk_dtype_name(q.xt), (long long)M, (long long)N, (long long)K,
                 a.with_bias ? " bias" : "", x_view ? " x view" : "");

    mk_qweight_data data = {0}, back = {0};
    mk_status s = mk_qweight_data_alloc(&d, q.asym, q.perm, &data);
    if (s == MK_OK) s = mk_qweight_data_alloc(&d, q.asym, q.perm, &back);
    if (s != MK_OK) {
        mkcf_fail(c, "mk_qweight_data_alloc: %s", mk_last_error());
        mk_qweight_data_free(&data);
        return;
    }
    float *w = mkcf_host(c, (size_t)(N * K) * sizeof(float));
    mkcf_fill_normal(&c->rng, w, (size_t)(N * K), (float)(1.0 / sqrt((double)K)), 4.0f);
    if (q.asym) /* shifted rows so the zero points spread over 0..15 */
        for (int64_t j = 0; j < N * K; j++) w[j] += (float)(0.5 / sqrt((double)K)) * (float)(j % 5 - 2);
    mkref_qweight_quantize(&d, w, &data);
    if (q.perm) {
        for (int64_t j = 0; j < K; j++) data.k_perm[j] = (int32_t)j;
        for (int64_t j = K - 1; j > 0; j--) {
            int64_t r = mkref_rng_range(&c->rng, 0, j);
            int32_t t = data.k_perm[j];
            data.k_perm[j] = data.k_perm[r], data.k_perm[r] = t;
        }
    }
    mk_qweight *qw = NULL;
    s = mk_qweight_create(c->ctx, &d, &data, &qw);
    if (s != MK_OK) {
        if (s == MK_ERR_UNSUPPORTED) c->skipped = 1, snprintf(c->reason, sizeof c->reason, "%s", mk_last_error());
        else mkcf_fail(c, "mk_qweight_create: %s: %s", mk_status_string(s), mk_last_error());
        goto done;
    }
    a.qw = qw;
    float *x = mkcf_random(c, q.xt, (size_t)(M * K), 1.0f, 8.0f), *bias = mkcf_random(c, q.xt, (size_t)N, 0.5f, 1.0f);
    float *ref = mkcf_host(c, (size_t)(M * N) * sizeof(float)), *out = mkcf_host(c, (size_t)(M * N) * sizeof(float));
    mkref_qgemm(&d, &data, x, M, a.with_bias ? bias : NULL, ref);
    mkcf_round(q.xt, ref, (size_t)(M * N));
    int64_t xs[2] = {M, K}, xst[2] = {K + 5, 1}, bs[1] = {N}, ys[2] = {M, N};
    a.x = x_view ? mkcf_upload_view(c, "x", q.xt, 2, xs, xst, x) : mkcf_upload(c, "x", q.xt, 2, xs, x);
    a.bias = mkcf_upload(c, "bias", q.xt, 1, bs, bias);
    a.y = mkcf_output(c, "y", q.xt, 2, ys);
    if (!mkcf_exec(c, launch, &a)) goto done;
    mkcf_read(c, &a.y, out);
    mkcf_check(c, "y", out, ref, (size_t)(M * N), mkcf_tol(q.xt));
    s = mk_qweight_read(qw, &back);
    if (s != MK_OK) mkcf_fail(c, "mk_qweight_read: %s: %s", mk_status_string(s), mk_last_error());
    else if (!same_data(&d, &data, &back))
        mkcf_fail(c, "the packed weight does not read back as the canonical bits it was made from");
done:
    mk_qweight_destroy(qw);
    mk_qweight_data_free(&data);
    mk_qweight_data_free(&back);
}

const mkcf_suite mkcf_suite_qgemm = {MK_OP_QGEMM, 0, count, run};
