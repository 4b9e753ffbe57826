/*
 * The reference dense ops (gemm, rmsnorm, layernorm, rope, silu_mul, gelu_mul, add)
 * against independent formulations in long double, plus RoPE properties and Llama 3
 * frequency scaling against hand-computed values.
 */
#include <complex.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mktest.h"

#define REL_TOL 2e-7 /* one float rounding of the exact value (rms ~3e-8), with room */

static float *new_floats(size_t n) {
    float *p = malloc((n ? n : 1) * sizeof(float));
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

static void poison(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = NAN;
}

/* ------------------------------------------------------------ gemm */

static void check_gemm(int64_t m, int64_t n, int64_t k, int with_bias, uint64_t salt) {
    mkref_rng r;
    mkt_rng(&r, salt);
    float *x = new_floats((size_t)(m * k)), *w = new_floats((size_t)(n * k));
    float *b = new_floats((size_t)n), *y = new_floats((size_t)(m * n)), *ref = new_floats((size_t)(m * n));
    mkt_fill_normal(&r, x, (size_t)(m * k), 1.0f, 8.0f);
    mkt_fill_normal(&r, w, (size_t)(n * k), (float)(1.0 / sqrt((double)k)), 1.0f);
    mkt_fill_normal(&r, b, (size_t)n, 1.0f, 1.0f);
    /* independent: column-major walk over y, K summed backwards in long double */
    for (int64_t j = 0; j < n; j++)
        for (int64_t i = 0; i < m; i++) {
            long double acc = 0.0L;
            for (int64_t l = k - 1; l >= 0; l--) acc += (long double)x[i * k + l] * w[j * k + l];
            ref[i * n + j] = (float)(with_bias ? acc + b[j] : acc);
        }
    poison(y, (size_t)(m * n));
    mkref_gemm(x, w, with_bias ? b : NULL, m, n, k, y);
    char what[96];
    snprintf(what, sizeof what, "gemm m=%lld n=%lld k=%lld bias=%d", (long long)m, (long long)n,
             (long long)k, with_bias);
    mkt_compare(what, y, ref, (size_t)(m * n), REL_TOL, 0);
    free(x); free(w); free(b); free(y); free(ref);
}

/* ------------------------------------------------------------ norms */

static void check_rmsnorm(int64_t rows, int64_t n, float eps, int plus_one, int in_place, uint64_t salt) {
    mkref_rng r;
    mkt_rng(&r, salt);
    size_t total = (size_t)(rows * n);
    float *x = new_floats(total), *w = new_floats((size_t)n), *y = new_floats(total), *ref = new_floats(total);
    mkt_fill_normal(&r, x, total, 2.0f, 10.0f);
    mkt_fill_normal(&r, w, (size_t)n, plus_one ? 0.2f : 1.0f, 1.0f);
    for (int64_t i = 0; i < rows; i++) {
        long double ss = 0.0L;
        for (int64_t j = 0; j < n; j++) ss += (long double)x[i * n + j] * x[i * n + j];
        long double rms = sqrtl(ss / n + eps);
        for (int64_t j = 0; j < n; j++) {
            long double g = plus_one ? 1.0L + w[j] : (long double)w[j];
            ref[i * n + j] = (float)(g * x[i * n + j] / rms);
        }
    }
    if (in_place) {
        memcpy(y, x, total * sizeof(float));
        mkref_rmsnorm(y, w, rows, n, eps, plus_one, y);
    } else {
        poison(y, total);
        mkref_rmsnorm(x, w, rows, n, eps, plus_one, y);
    }
    char what[96];
    snprintf(what, sizeof what, "rmsnorm rows=%lld n=%lld eps=%g plus_one=%d in_place=%d",
             (long long)rows, (long long)n, eps, plus_one, in_place);
    mkt_compare(what, y, ref, total, REL_TOL, 0);
    free(x); free(w); free(y); free(ref);
}

static void check_layernorm(int64_t rows, int64_t n, float eps, int with_bias, uint64_t salt) {
    mkref_rng r;
    mkt_rng(&r, salt);
    size_t total = (size_t)(rows * n);
    float *x = new_floats(total), *w = new_floats((size_t)n), *b = new_floats((size_t)n);
    float *y = new_floats(total), *ref = new_floats(total);
    mkt_fill_normal(&r, x, total, 1.5f, 6.0f);
    for (size_t i = 0; i < total; i++) x[i] += 3.0f; /* a non-zero mean */
    mkt_fill_normal(&r, w, (size_t)n, 1.0f, 1.0f);
    mkt_fill_normal(&r, b, (size_t)n, 0.5f, 1.0f);
    for (int64_t i = 0; i < rows; i++) {
        /* one pass, E[x^2] - E[x]^2, biased */
        long double s = 0.0L, s2 = 0.0L;
        for (int64_t j = 0; j < n; j++) {
            s += x[i * n + j];
            s2 += (long double)x[i * n + j] * x[i * n + j];
        }
        long double mean = s / n, var = s2 / n - mean * mean;
        for (int64_t j = 0; j < n; j++) {
            long double v = (x[i * n + j] - mean) * w[j] / sqrtl(var + eps);
            ref[i * n + j] = (float)(with_bias ? v + b[j] : v);
        }
    }
    poison(y, total);
    mkref_layernorm(x, w, with_bias ? b : NULL, rows, n, eps, y);
    char what[96];
    snprintf(what, sizeof what, "layernorm rows=%lld n=%lld eps=%g bias=%d", (long long)rows,
             (long long)n, eps, with_bias);
    mkt_compare(what, y, ref, total, REL_TOL, 0);
    free(x); free(w); free(b); free(y); free(ref);
}

/* ------------------------------------------------------------ elementwise */

static long double sigmoidl(long double z) { return 1.0L / (1.0L + expl(-z)); }

static void check_elementwise(int64_t n, uint64_t salt) {
    mkref_rng r;
    mkt_rng(&r, salt);
    float *a = new_floats((size_t)n), *b = new_floats((size_t)n);
    float *y = new_floats((size_t)n), *ref = new_floats((size_t)n);
    mkt_fill_normal(&r, a, (size_t)n, 2.0f, 6.0f);
    mkt_fill_normal(&r, b, (size_t)n, 1.0f, 4.0f);
    const long double sqrt_2_over_pi = sqrtl(2.0L / 3.141592653589793238462643383279503L);
    char what[64];

    for (int64_t i = 0; i < n; i++) ref[i] = (float)(a[i] * sigmoidl(a[i]) * b[i]);
    poison(y, (size_t)n);
    mkref_silu_mul(a, b, n, y);
    snprintf(what, sizeof what, "silu_mul n=%lld", (long long)n);
    mkt_compare(what, y, ref, (size_t)n, REL_TOL, 0);

    /* exact gelu as g * Phi(g), Phi written with erfc */
    for (int64_t i = 0; i < n; i++)
        ref[i] = (float)(a[i] * 0.5L * erfcl(-a[i] / sqrtl(2.0L)) * b[i]);
    poison(y, (size_t)n);
    mkref_gelu_mul(a, b, n, 0, y);
    snprintf(what, sizeof what, "gelu_mul exact n=%lld", (long long)n);
    mkt_compare(what, y, ref, (size_t)n, REL_TOL, 0);

    /* tanh gelu: 0.5 (1 + tanh(z)) = sigmoid(2z) */
    for (int64_t i = 0; i < n; i++) {
        long double g = a[i];
        ref[i] = (float)(g * sigmoidl(2.0L * sqrt_2_over_pi * (g + 0.044715L * g * g * g)) * b[i]);
    }
    poison(y, (size_t)n);
    mkref_gelu_mul(a, b, n, 1, y);
    snprintf(what, sizeof what, "gelu_mul tanh n=%lld", (long long)n);
    mkt_compare(what, y, ref, (size_t)n, REL_TOL, 0);

    for (int64_t i = 0; i < n; i++) ref[i] = (float)((long double)a[i] + b[i]);
    poison(y, (size_t)n);
    mkref_add(a, b, n, y);
    snprintf(what, sizeof what, "add n=%lld", (long long)n);
    mkt_compare(what, y, ref, (size_t)n, REL_TOL, 0);
    /* out aliasing an input */
    memcpy(y, a, (size_t)n * sizeof(float));
    mkref_add(y, b, n, y);
    mkt_compare("add in place", y, ref, (size_t)n, REL_TOL, 0);

    free(a); free(b); free(y); free(ref);
}

/* ------------------------------------------------------------ rope */

static const long double PI_L = 3.141592653589793238462643383279503L;

/* Independent angle of pair i at position pos: unscaled frequency from exp/log; linear
   scaling divides the position; Llama 3 written on the frequency ratio orig/wavelen. */
static long double ref_angle(const mk_rope_params *p, int R, int i, int32_t pos) {
    long double f = expl(-(2.0L * i / R) * logl((long double)p->theta));
    long double t = pos;
    if (p->scaling == MK_ROPE_SCALING_LINEAR) {
        t /= p->factor;
    } else if (p->scaling == MK_ROPE_SCALING_LLAMA3) {
        long double ratio = p->original_max_position * f / (2.0L * PI_L); /* orig / wavelen */
        long double lo = p->low_freq_factor, hi = p->high_freq_factor;
        if (ratio < lo) {
            f /= p->factor;
        } else if (ratio <= hi) {
            long double smooth = (ratio - lo) / (hi - lo);
            f = f * (smooth + (1.0L - smooth) / p->factor);
        }
    }
    return t * f;
}

/* Rotates each pair as a complex number times exp(i * angle). */
static void ref_rope(float *x, const int32_t *pos, int T, int H, int D, const mk_rope_params *p) {
    int R = p->rotary_dim ? p->rotary_dim : D;
    for (int t = 0; t < T; t++)
        for (int h = 0; h < H; h++) {
            float *v = x + ((size_t)t * H + h) * D;
            for (int i = 0; i < R / 2; i++) {
                int a = p->style == MK_ROPE_HALF ? i : 2 * i;
                int b = p->style == MK_ROPE_HALF ? i + R / 2 : 2 * i + 1;
                long double complex z = v[a] + I * (long double)v[b];
                z *= cexpl(I * ref_angle(p, R, i, pos[t]));
                v[a] = (float)creall(z);
                v[b] = (float)cimagl(z);
            }
        }
}

static const char *style_name(mk_rope_style s) { return s == MK_ROPE_HALF ? "half" : "interleaved"; }
static const char *scaling_name(mk_rope_scaling s) {
    return s == MK_ROPE_SCALING_NONE ? "none" : s == MK_ROPE_SCALING_LINEAR ? "linear" : "llama3";
}

static void check_rope(int T, int H, int D, const mk_rope_params *p, uint64_t salt) {
    mkref_rng r;
    mkt_rng(&r, salt);
    size_t n = (size_t)T * H * D;
    int R = p->rotary_dim ? p->rotary_dim : D;
    float *x0 = new_floats(n), *x = new_floats(n), *ref = new_floats(n);
    int32_t *pos = malloc((size_t)T * sizeof(int32_t));
    mkt_fill_normal(&r, x0, n, 1.0f, 5.0f);
    for (int t = 0; t < T; t++) pos[t] = (int32_t)mkref_rng_range(&r, 1, 100000);
    pos[T / 2] = 0;
    pos[T - 1] = 3; /* small positions too */
    memcpy(x, x0, n * sizeof(float));
    memcpy(ref, x0, n * sizeof(float));
    ref_rope(ref, pos, T, H, D, p);
    mkref_rope(x, pos, T, H, D, p);
    char what[128];
    snprintf(what, sizeof what, "rope %s D=%d R=%d scaling=%s", style_name(p->style), D, R,
             scaling_name(p->scaling));
    mkt_compare(what, x, ref, n, REL_TOL, 0);

    /* properties: each rotated pair keeps its norm, dims >= R unchanged, position 0 and
       the untouched dims bit-identical */
    double worst = 0.0;
    int untouched_ok = 1, pos0_ok = 1;
    for (int t = 0; t < T; t++)
        for (int h = 0; h < H; h++) {
            size_t base = ((size_t)t * H + h) * D;
            for (int i = 0; i < R / 2; i++) {
                int a = p->style == MK_ROPE_HALF ? i : 2 * i;
                int b = p->style == MK_ROPE_HALF ? i + R / 2 : 2 * i + 1;
                double before = hypot(x0[base + a], x0[base + b]);
                double after = hypot(x[base + a], x[base + b]);
                double e = fabs(after - before) / before;
                if (!(e <= worst)) worst = e;
            }
            for (int d = R; d < D; d++)
                if (memcmp(&x[base + d], &x0[base + d], sizeof(float)) != 0) untouched_ok = 0;
            if (pos[t] == 0 && memcmp(&x[base], &x0[base], (size_t)D * sizeof(float)) != 0) pos0_ok = 0;
        }
    MKT_CHECK(worst <= 5e-7, "%s: pair norm changed by %.3e relative", what, worst);
    MKT_CHECK(untouched_ok, "%s: a dim >= rotary_dim changed", what);
    MKT_CHECK(pos0_ok, "%s: position 0 is not the identity", what);
    free(x0); free(x); free(ref); free(pos);
}

static void check_inv_freq(void) {
    /* Llama 3.1: theta 500000, factor 8, low 1, high 4, original 8192, R 128. Values
       computed by hand (wavelen = 2 pi / f; keep below 2048, divide by 8 above 8192,
       blend between). i 0..28 keep, 29..34 blend, 35.. divide. */
    const mk_rope_params p = {.style = MK_ROPE_HALF, .theta = 500000.0f, .rotary_dim = 128,
                              .scaling = MK_ROPE_SCALING_LLAMA3, .factor = 8.0f,
                              .low_freq_factor = 1.0f, .high_freq_factor = 4.0f,
                              .original_max_position = 8192};
    static const struct { int i; double want; } cases[] = {
        {0, 1.0},
        {10, 0.12868737343265052},
        {28, 0.003211445994752591},
        {29, 0.002166570763503359},
        {31, 0.0008567514129196321},
        {34, 0.0001785078127679964},
        {35, 9.556212353964683e-05},
        {50, 4.411534674558404e-06},
        {63, 3.068925988914511e-07},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        double got = mkref_rope_inv_freq(&p, 128, cases[c].i);
        double rel = fabs(got - cases[c].want) / cases[c].want;
        MKT_CHECK(rel <= 1e-12, "llama3 inv_freq[%d] = %.17g, want %.17g", cases[c].i, got,
                  cases[c].want);
    }
    /* no scaling and linear scaling against theta^(-2i/R) directly */
    mk_rope_params q = {.style = MK_ROPE_HALF, .theta = 10000.0f, .rotary_dim = 0,
                        .scaling = MK_ROPE_SCALING_NONE, .factor = 1.0f};
    for (int i = 0; i < 40; i += 7) {
        long double want = powl(10000.0L, -2.0L * i / 80);
        double got = mkref_rope_inv_freq(&q, 80, i);
        MKT_CHECK(fabsl(got - want) <= 1e-14L * want, "inv_freq[%d] = %.17g, want %.17Lg", i, got, want);
    }
    q.scaling = MK_ROPE_SCALING_LINEAR;
    q.factor = 4.0f;
    for (int i = 0; i < 40; i += 7) {
        long double want = powl(10000.0L, -2.0L * i / 80) / 4.0L;
        double got = mkref_rope_inv_freq(&q, 80, i);
        MKT_CHECK(fabsl(got - want) <= 1e-14L * want, "linear inv_freq[%d] = %.17g, want %.17Lg", i,
                  got, want);
    }
}

int main(int argc, char **argv) {
    mkt_init(argc, argv, "ref_dense");
    uint64_t salt = 1;

    static const int64_t gemm_shapes[][3] = {{1, 1, 1}, {7, 13, 33}, {1, 97, 80}, {33, 7, 1000}, {5, 64, 3}};
    for (size_t s = 0; s < sizeof gemm_shapes / sizeof gemm_shapes[0]; s++)
        for (int bias = 0; bias < 2; bias++)
            check_gemm(gemm_shapes[s][0], gemm_shapes[s][1], gemm_shapes[s][2], bias, salt++);

    for (int plus_one = 0; plus_one < 2; plus_one++) {
        check_rmsnorm(7, 37, 1e-6f, plus_one, 0, salt++);
        check_rmsnorm(1, 1, 1e-5f, plus_one, 0, salt++);
        check_rmsnorm(3, 1000, 0.5f, plus_one, 0, salt++); /* eps large enough to matter */
        check_rmsnorm(5, 33, 1e-5f, plus_one, 1, salt++);
    }
    for (int bias = 0; bias < 2; bias++) {
        check_layernorm(7, 37, 1e-5f, bias, salt++);
        check_layernorm(2, 2, 1e-3f, bias, salt++);
        check_layernorm(3, 1000, 0.5f, bias, salt++);
    }
    check_elementwise(1, salt++);
    check_elementwise(1001, salt++);

    check_inv_freq();
    static const int dims[][2] = {{64, 0}, {80, 48}, {6, 2}, {128, 128}};
    for (int st = 0; st < 2; st++)
        for (int sc = 0; sc < 3; sc++)
            for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++) {
                mk_rope_params p = {.style = st ? MK_ROPE_INTERLEAVED : MK_ROPE_HALF,
                                    .theta = sc == 2 ? 500000.0f : 10000.0f,
                                    .rotary_dim = dims[d][1],
                                    .scaling = (mk_rope_scaling)sc,
                                    .factor = sc == 1 ? 4.0f : 8.0f,
                                    .low_freq_factor = 1.0f,
                                    .high_freq_factor = 4.0f,
                                    .original_max_position = 8192};
                check_rope(7, 3, dims[d][0], &p, salt++);
            }
    return mkt_finish();
}
