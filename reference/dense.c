/* Reference dense ops: GEMM, RMSNorm, LayerNorm. Every reduction in double. */
#include <math.h>

#include "mkref.h"

void mkref_gemm(const float *x, const float *w, const float *bias, int64_t m, int64_t n, int64_t k,
                float *y) {
    for (int64_t i = 0; i < m; i++) {
        const float *xr = x + i * k;
        for (int64_t j = 0; j < n; j++) {
            const float *wr = w + j * k;
            double acc = bias ? (double)bias[j] : 0.0;
            for (int64_t l = 0; l < k; l++) acc += (double)xr[l] * (double)wr[l];
            y[i * n + j] = (float)acc;
        }
    }
}

/* y may alias x: each row is reduced completely before it is written. */
void mkref_rmsnorm(const float *x, const float *w, int64_t rows, int64_t n, float eps, int plus_one,
                   float *y) {
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * n;
        float *yr = y + r * n;
        double ss = 0.0;
        for (int64_t i = 0; i < n; i++) ss += (double)xr[i] * (double)xr[i];
        double inv = 1.0 / sqrt(ss / (double)n + (double)eps);
        for (int64_t i = 0; i < n; i++) {
            double g = plus_one ? 1.0 + (double)w[i] : (double)w[i];
            yr[i] = (float)((double)xr[i] * inv * g);
        }
    }
}

/* Biased variance, two passes; b may be NULL; y may alias x. */
void mkref_layernorm(const float *x, const float *w, const float *b, int64_t rows, int64_t n,
                     float eps, float *y) {
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * n;
        float *yr = y + r * n;
        double sum = 0.0;
        for (int64_t i = 0; i < n; i++) sum += (double)xr[i];
        double mean = sum / (double)n;
        double var = 0.0;
        for (int64_t i = 0; i < n; i++) {
            double d = (double)xr[i] - mean;
            var += d * d;
        }
        var /= (double)n;
        double inv = 1.0 / sqrt(var + (double)eps);
        for (int64_t i = 0; i < n; i++) {
            double v = ((double)xr[i] - mean) * inv * (double)w[i];
            if (b) v += (double)b[i];
            yr[i] = (float)v;
        }
    }
}
