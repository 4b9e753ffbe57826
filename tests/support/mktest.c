#include "mktest.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

uint64_t mkt_seed = 0;
int mkt_failures = 0;
int mkt_checks = 0;
static const char *mkt_name = "test";

void mkt_init(int argc, char **argv, const char *name) {
    mkt_name = name;
    const char *env = getenv("MEDKERN_SEED");
    mkt_seed = env ? strtoull(env, NULL, 0) : 20261124ull;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) mkt_seed = strtoull(argv[++i], NULL, 0);
    printf("[%s] seed %llu (replay with --seed %llu or MEDKERN_SEED)\n", name,
           (unsigned long long)mkt_seed, (unsigned long long)mkt_seed);
    fflush(stdout);
}

int mkt_finish(void) {
    printf("[%s] %d checks, %d failed (seed %llu)\n", mkt_name, mkt_checks, mkt_failures,
           (unsigned long long)mkt_seed);
    return mkt_failures ? 1 : 0;
}

void mkt_skip(const char *why) {
    printf("[%s] SKIP: %s\n", mkt_name, why);
    fflush(stdout);
    exit(77);
}

void mkt_fail_at(const char *file, int line, const char *fmt, ...) {
    mkt_failures++;
    fprintf(stderr, "FAIL %s:%d (seed %llu): ", file, line, (unsigned long long)mkt_seed);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void *mkt_alloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "out of host memory (%zu bytes)\n", n);
        exit(2);
    }
    return p;
}

float *mkt_random(mk_dtype t, size_t n, float std, float outlier) {
    static uint64_t salt = 0x5EED;
    mkref_rng r;
    mkt_rng(&r, ++salt);
    float *x = mkt_alloc(n * sizeof *x);
    mkt_fill_normal(&r, x, n, std, outlier);
    mkt_round(t, x, n);
    return x;
}

void mkt_rng(mkref_rng *r, uint64_t salt) {
    mkref_rng_seed(r, mkt_seed * 0x9E3779B97F4A7C15ull + salt);
}

void mkt_fill_normal(mkref_rng *r, float *x, size_t n, float std, float outlier) {
    for (size_t i = 0; i < n; i++) {
        double v = mkref_rng_normal(r) * std;
        if (outlier != 1.0f && (mkref_rng_u64(r) & 63) == 0) v *= outlier;
        if (v == 0.0) v = std * 0.5;
        x[i] = (float)v;
    }
}

void mkt_round(mk_dtype t, float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = mkref_round_to(t, x[i]);
}

double mkt_rel_l2(const float *out, const float *ref, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)out[i] - (double)ref[i];
        num += d * d;
        den += (double)ref[i] * ref[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

double mkt_max_abs(const float *out, const float *ref, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)out[i] - (double)ref[i]);
        if (d > m || d != d) m = d;
    }
    return m;
}

int mkt_compare(const char *what, const float *out, const float *ref, size_t n, double rel_tol,
                double abs_tol) {
    mkt_checks++;
    for (size_t i = 0; i < n; i++) {
        int ref_finite = isfinite(ref[i]), out_finite = isfinite(out[i]);
        if (ref_finite && !out_finite) {
            mkt_fail_at(__FILE__, __LINE__, "%s: element %zu is %g where the reference has %g", what,
                        i, out[i], ref[i]);
            return 0;
        }
        if (!ref_finite && !(isnan(ref[i]) ? isnan(out[i]) : out[i] == ref[i])) {
            mkt_fail_at(__FILE__, __LINE__, "%s: element %zu is %g, reference %g", what, i, out[i],
                        ref[i]);
            return 0;
        }
    }
    /* Norms over the finite elements (non-finite ones matched exactly above). */
    double num = 0, den = 0, mx = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(ref[i])) continue;
        double d = (double)out[i] - (double)ref[i];
        num += d * d;
        den += (double)ref[i] * ref[i];
        if (fabs(d) > mx) mx = fabs(d);
    }
    double rel = den > 0 ? sqrt(num / den) : sqrt(num);
    if (rel > rel_tol || (abs_tol > 0 && mx > abs_tol)) {
        mkt_fail_at(__FILE__, __LINE__, "%s: rel_l2 %.3e (bound %.1e), max_abs %.3e (bound %.1e)",
                    what, rel, rel_tol, mx, abs_tol);
        return 0;
    }
    return 1;
}

double mkt_tol(mk_dtype t) {
    switch (t) {
    case MK_F32: return 2e-5;
    case MK_F16: return 1e-3;
    case MK_BF16: return 1e-2;
    default: return 1e-3;
    }
}

