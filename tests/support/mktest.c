#include "mktest.h"

#include "conform.h"

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
    if (mkt_small()) printf("[%s] small shapes only (MEDKERN_TEST_SMALL)\n", name);
    fflush(stdout);
}

int mkt_small(void) {
    const char *env = getenv("MEDKERN_TEST_SMALL");
    return env && env[0] && strcmp(env, "0") != 0;
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
    mkcf_fill_normal(r, x, n, std, outlier);
}

void mkt_round(mk_dtype t, float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = mkref_round_to(t, x[i]);
}

/* The comparison and the tolerance table are the conformance engine's
   (tools/conform/conform_check.c): the tests and `medkern conform` judge alike. */
double mkt_rel_l2(const float *out, const float *ref, size_t n) {
    mkcf_compare_result r = mkcf_compare(out, ref, n, INFINITY, 0);
    return r.nonfinite_bad ? NAN : r.rel_l2;
}

double mkt_max_abs(const float *out, const float *ref, size_t n) {
    mkcf_compare_result r = mkcf_compare(out, ref, n, INFINITY, 0);
    return r.nonfinite_bad ? NAN : r.max_abs;
}

int mkt_compare(const char *what, const float *out, const float *ref, size_t n, double rel_tol,
                double abs_tol) {
    mkt_checks++;
    mkcf_compare_result r = mkcf_compare(out, ref, n, rel_tol, abs_tol);
    if (!r.ok) mkt_fail_at(__FILE__, __LINE__, "%s: %s", what, r.reason);
    return r.ok;
}

double mkt_tol(mk_dtype t) { return mkcf_tol(t); }

