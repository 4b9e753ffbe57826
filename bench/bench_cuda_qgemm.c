/*
 * bench_cuda_qgemm: medkern's quantized GEMM (mk_qgemm) on one CUDA GPU beside the cuBLAS
 * f16 GEMM on the dequantized weight and the device copy, measured in the same run and in
 * the same entry (anchors: mkb_cuda.cu). CUDA only: without a CUDA device, or with
 * --device naming another backend, it runs nothing and exits 77 (ctest's skip).
 *
 * Entries: qgemm/<w4g128|w8|w8a8|fp8>/f16/M:<1|16|64|256|4096>/N:<n>/K:<k> for the linear
 * layers of the 7-8B and 70B Llama-class models, (N, K) = 4096 x 4096, 4096 x 14336,
 * 14336 x 4096 and 28672 x 4096: W4 with groups of 128 (symmetric), W8 with per-channel
 * scales, W8A8 int8 and FP8 e4m3 (per-channel f32 scales, x quantized per token inside
 * mk_qgemm, which the time includes); random codes and scales (the time does not depend
 * on the values), x random F16, no bias.
 * --shapes small: M 1 and 16 at 4096 x 4096, W4.
 *
 * Timing: every iteration of the Google Benchmark loop is timed with an mk_event pair on the
 * context's stream after one untimed warm-up run; the counters come from the median
 * iteration (mkb_median_seconds). In the same entry, after medkern's loop, the cuBLAS GEMM
 * of the same M, N, K (f16 in and out, f32 accumulation, the weight [N][K] transposed, as
 * cuda.dequant_cublas calls it) is timed on the same stream: one warm-up, 3 to 10 runs,
 * median (mkb_median_run_seconds). The copy anchor (1 GiB device to device) is measured once,
 * at first use.
 *
 * Counters:
 *   ms               the median iteration, milliseconds
 *   gbs              the bytes mk_qgemm must move (codes, scales, zero points, x read, y
 *                    written) / median / 1e9
 *   tflops           2 M N K / median / 1e12
 *   cublas_f16_ms    the cuBLAS GEMM's median run
 *   vs_cublas_f16    cublas_f16_ms / ms (> 1: medkern is faster; the W4A16 targets are
 *                    >= 3.5 at M = 1, >= 3 at M = 16, >= 0.95 at M = 4096; W8A8 and
 *                    FP8 >= 1.5 at M >= 2048, against cuBLAS bf16, which runs as f16)
 *   copy_gbs         the copy anchor: read + write of 1 GiB / median / 1e9
 *   vs_copy          gbs / copy_gbs
 * The label names the variant that ran (kernel=...).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mkb_cuda.h"
#include "mkbench.h"

#define COPY_BYTES ((size_t)1 << 30)

typedef struct {
    mk_qformat fmt;
    int group;
    int m, n, k;
} qcase;

static mkbc *g_cuda;
static int g_not_cuda;
static double g_copy_gbs;

static int run_gemm(void *o, char *why, size_t n) { return mkbc_gemm_run(o, why, n); }
static int run_copy(void *o, char *why, size_t n) { return mkbc_copy_run(o, why, n); }

/* The copy anchor in GB/s, measured at first use; 0 on failure. */
static double copy_gbs(mkb_state *st) {
    if (g_copy_gbs > 0) return g_copy_gbs;
    char why[256] = "";
    mkbc_copy *c = NULL;
    if (mkbc_copy_create(g_cuda, COPY_BYTES, &c, why, sizeof why)) {
        mkb_fail(st, why);
        return 0;
    }
    const double s = mkb_median_run_seconds(st, run_copy, c, 5, 20, 0.5);
    mkbc_copy_destroy(c);
    if (s > 0) g_copy_gbs = 2.0 * (double)COPY_BYTES / s / 1e9;
    return g_copy_gbs;
}

/* A weight of random codes and scales; NULL on failure (st failed). */
static mk_qweight *random_weight(mkb_state *st, const qcase *c) {
    mk_qweight_desc d = {c->fmt, c->n, c->k, c->group, 0};
    mk_qweight_data data;
    if (!mkb_check(st, mk_qweight_data_alloc(&d, 0, 0, &data), "mk_qweight_data_alloc")) return NULL;
    const size_t n = (size_t)c->n, k = (size_t)c->k, groups = c->group ? k / (size_t)c->group : 1;
    if (c->fmt == MK_QW4) mkb_fill_host(MK_U8, data.q, n * ((k + 1) / 2), 1, 11);
    else mkb_fill_host(MK_I8, data.q, n * k, 1, 11);
    const int f32_scales = c->fmt == MK_QW8A8 || c->fmt == MK_QFP8;
    mkb_fill_host(f32_scales ? MK_F32 : MK_F16, data.scales, n * groups, 0.01f, 12);
    mk_qweight *qw = NULL;
    const mk_status s = mk_qweight_create(mkb_context(), &d, &data, &qw);
    mk_qweight_data_free(&data);
    return mkb_check(st, s, "mk_qweight_create") ? qw : NULL;
}

static void bench_qgemm(mkb_state *st, const void *arg) {
    const qcase *c = arg;
    const double M = c->m, N = c->n, K = c->k;
    const double groups = c->group ? K / c->group : 1;
    const double scale_bytes = c->fmt == MK_QW8A8 || c->fmt == MK_QFP8 ? 4 : 2;
    const double wbytes = N * (c->fmt == MK_QW4 ? K / 2 : K) + N * groups * scale_bytes;
    const double bytes = wbytes + M * K * 2 + M * N * 2;
    const double mem = (double)mkb_device()->memory_bytes;
    /* medkern's weight and tensors, then cuBLAS's f16 weight and tensors, one at a time */
    if (mem > 0 && N * K * 2 + M * (K + N) * 2 > 0.6 * mem) {
        mkb_skip(st, "the cuBLAS anchor's f16 weight does not fit 60 % of the device memory");
        return;
    }
    mk_qweight *qw = random_weight(st, c);
    mk_buffer *xb = qw ? mkb_random_buffer(st, MK_F16, (size_t)c->m * (size_t)c->k, 1.0f, 21) : NULL;
    mk_buffer *yb = NULL;
    double s = 0;
    int ok = xb && mkb_check(st, mk_buffer_alloc(mkb_context(), (size_t)c->m * (size_t)c->n * 2, &yb), "mk_buffer_alloc");
    if (ok) {
        const int64_t xs[2] = {c->m, c->k}, ys[2] = {c->m, c->n};
        mk_tensor x = mk_tensor_make(xb, 0, MK_F16, 2, xs), y = mk_tensor_make(yb, 0, MK_F16, 2, ys);
        ok = mkb_check(st, mk_qgemm(mkb_context(), &x, qw, NULL, &y), "mk_qgemm"); /* warm-up */
        if (ok) {
            char label[96];
            const char *kernel = mk_last_kernel(mkb_context(), MK_OP_QGEMM);
            snprintf(label, sizeof label, "kernel=%s M=%d N=%d K=%d", kernel ? kernel : "?", c->m, c->n, c->k);
            mkb_label(st, label);
            mkb_set_op(st, MK_OP_QGEMM);
            mkb_set_bytes(st, bytes);
            mkb_set_flops(st, 2 * M * N * K);
            while (mkb_next(st))
                if (!mkb_check(st, mk_qgemm(mkb_context(), &x, qw, NULL, &y), "mk_qgemm")) {
                    ok = 0;
                    break;
                }
            s = ok ? mkb_median_seconds(st) : 0;
        }
    }
    mk_synchronize(mkb_context());
    mk_buffer_free(xb);
    mk_buffer_free(yb);
    mk_qweight_destroy(qw);
    if (!ok || s <= 0) return;
    mkb_counter(st, "ms", s * 1e3);
    mkb_counter(st, "gbs", bytes / s / 1e9);
    mkb_counter(st, "tflops", 2 * M * N * K / s / 1e12);

    char why[256] = "";
    mkbc_gemm *g = NULL;
    if (mkbc_weight_gemm_create(g_cuda, 0, c->m, c->n, c->k, &g, why, sizeof why)) {
        mkb_fail(st, why);
        return;
    }
    const double sg = mkb_median_run_seconds(st, run_gemm, g, 3, 10, 1.0);
    mkbc_gemm_destroy(g);
    if (sg > 0) {
        mkb_counter(st, "cublas_f16_ms", sg * 1e3);
        mkb_counter(st, "vs_cublas_f16", sg / s);
    }
    const double cg = copy_gbs(st);
    if (cg > 0) {
        mkb_counter(st, "copy_gbs", cg);
        mkb_counter(st, "vs_copy", bytes / s / 1e9 / cg);
    }
}

static void reg(void) {
    if (mkbc_attach("bench_cuda_qgemm", &g_cuda)) {
        g_not_cuda = 1;
        return;
    }
    const int small = mkb_small(), full = mkb_full();
    static const int Ms[] = {1, 16, 64, 256, 4096};
    static const int NK[][2] = {{4096, 4096}, {4096, 14336}, {14336, 4096}, {28672, 4096}};
    static const struct {
        mk_qformat fmt;
        int group;
        const char *tag;
    } fmts[] = {{MK_QW4, 128, "w4g128"}, {MK_QW8, 0, "w8"}, {MK_QW8A8, 0, "w8a8"}, {MK_QFP8, 0, "fp8"}};
    char n[128];
    for (int f = 0; f < 4; f++)
        for (int s = 0; s < 4; s++)
            for (int m = 0; m < 5; m++) {
                const int in_small = f == 0 && s == 0 && Ms[m] <= 16;
                if (!(full || (small && in_small))) continue;
                snprintf(n, sizeof n, "qgemm/%s/f16/M:%d/N:%d/K:%d", fmts[f].tag, Ms[m], NK[s][0], NK[s][1]);
                const qcase c = {fmts[f].fmt, fmts[f].group, Ms[m], NK[s][0], NK[s][1]};
                mkb_register(n, bench_qgemm, &c, sizeof c, 0);
            }
}

int main(int argc, char **argv) {
    if (mkbc_device_count() == 0) {
        fprintf(stderr, "bench_cuda_qgemm: no CUDA device (cudaGetDeviceCount): skipped\n");
        return 77;
    }
    int rc = mkb_main(argc, argv, reg);
    mkbc_close(g_cuda);
    return rc == 0 && g_not_cuda ? 77 : rc;
}
