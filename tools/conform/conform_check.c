/*
 * Judging a result against the reference: the tolerance table of docs/numerics.md and
 * the comparison rules, plus the random inputs every check uses. tests/support/mktest.c
 * calls these, so the test suite and `medkern conform` validate the same way.
 */
#include <math.h>
#include <stdio.h>

#include "conform.h"

double mkcf_tol(mk_dtype t) {
    switch (t) {
    case MK_F32: return 2e-5;
    case MK_F16: return 1e-3;
    case MK_BF16: return 1e-2;
    default: return 1e-3;
    }
}

mkcf_compare_result mkcf_compare(const float *out, const float *ref, size_t n, double rel_bound,
                               double abs_bound) {
    mkcf_compare_result r = {1, 0.0, 0.0, 0.0, 0, 0, ""};
    for (size_t i = 0; i < n; i++) {
        int ref_finite = isfinite(ref[i]), out_finite = isfinite(out[i]);
        int bad = ref_finite ? !out_finite : !(isnan(ref[i]) ? isnan(out[i]) : out[i] == ref[i]);
        if (bad) {
            r.ok = 0;
            r.nonfinite_bad = 1;
            r.bad_index = i;
            snprintf(r.reason, sizeof r.reason, "element %zu is %g where the reference has %g", i,
                     (double)out[i], (double)ref[i]);
            break;
        }
    }
    /* Norms over the elements where the reference is finite (the others matched above,
       or the check has failed already). */
    double num = 0, den = 0, mx = 0, rmax = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(ref[i])) continue;
        double d = (double)out[i] - (double)ref[i];
        if (!isfinite(d)) continue; /* reported above */
        num += d * d;
        den += (double)ref[i] * ref[i];
        if (fabs(d) > mx) mx = fabs(d);
        if (fabs((double)ref[i]) > rmax) rmax = fabs((double)ref[i]);
    }
    r.rel_l2 = den > 0 ? sqrt(num / den) : sqrt(num);
    r.max_abs = mx;
    r.ref_max = rmax;
    if (r.ok && (r.rel_l2 > rel_bound || (abs_bound > 0 && mx > abs_bound))) {
        r.ok = 0;
        snprintf(r.reason, sizeof r.reason, "rel_l2 %.3e (bound %.1e), max_abs %.3e (bound %.3e)",
                 r.rel_l2, rel_bound, mx, abs_bound);
    }
    return r;
}

void mkcf_fill_normal(mkref_rng *r, float *x, size_t n, float std, float outlier) {
    for (size_t i = 0; i < n; i++) {
        double v = mkref_rng_normal(r) * std;
        if (outlier != 1.0f && (mkref_rng_u64(r) & 63) == 0) v *= outlier;
        if (v == 0.0) v = std * 0.5;
        x[i] = (float)v;
    }
}
