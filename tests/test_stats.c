/*
 * The statistics behind `medkern compare` (tools/medkern/stats.c): medians and the
 * two-sided Mann-Whitney U test, against values worked out by hand or independently.
 *
 * Expected values: the small exact cases by hand (the counts of U over all C(nx+ny, nx)
 * orderings) and by brute-force enumeration of those orderings in python3; the larger
 * exact cases and the normal approximations with scipy 1.10.1,
 * scipy.stats.mannwhitneyu(x, y, alternative="two-sided", method="exact" or
 * "asymptotic"), whose asymptotic method uses the same tie and continuity corrections.
 *
 * stats.c belongs to the command line, not to the library, so this test compiles the
 * same source file.
 */
#include <math.h>

#include "mktest.h"
#include "stats.h"

static void check_u(const char *what, const double *x, int nx, const double *y, int ny,
                    double want_u, double want_p, int want_exact, double rel_tol) {
    stats_u_test r;
    int rc = stats_mann_whitney(x, nx, y, ny, &r);
    MKT_CHECK(rc == 0, "%s: stats_mann_whitney failed", what);
    if (rc != 0) return;
    MKT_CHECK(r.u == want_u, "%s: U = %.1f, want %.1f", what, r.u, want_u);
    MKT_CHECK(r.exact == want_exact, "%s: exact = %d, want %d", what, r.exact, want_exact);
    MKT_CHECK(fabs(r.p - want_p) <= rel_tol * want_p, "%s: p = %.17g, want %.17g", what, r.p,
              want_p);
    /* Swapping the samples mirrors U and keeps the two-sided p. */
    stats_u_test s;
    stats_mann_whitney(y, ny, x, nx, &s);
    MKT_CHECK(s.u == (double)nx * ny - want_u, "%s swapped: U = %.1f, want %.1f", what, s.u,
              (double)nx * ny - want_u);
    MKT_CHECK(fabs(s.p - r.p) <= 1e-12 * r.p, "%s swapped: p = %.17g, want %.17g", what, s.p, r.p);
}

int main(int argc, char **argv) {
    mkt_init(argc, argv, "stats");

    /* medians */
    const double m3[] = {3, 1, 2}, m4[] = {4, 1, 3, 2}, m1[] = {7.5};
    MKT_CHECK(stats_median(m3, 3) == 2.0, "median of 3 values");
    MKT_CHECK(stats_median(m4, 4) == 2.5, "median of 4 values");
    MKT_CHECK(stats_median(m1, 1) == 7.5, "median of 1 value");
    MKT_CHECK(m4[0] == 4 && m4[3] == 2, "median leaves its input alone");
    MKT_CHECK(isnan(stats_median(m1, 0)), "median of nothing is NaN");

    /* 3 vs 3, separated: U = 0; only 1 of the C(6,3) = 20 orderings has U <= 0, so
       p = 2 * 1/20 = 0.1. */
    const double a3[] = {1, 2, 3}, b3[] = {4, 5, 6};
    check_u("3 vs 3 separated", a3, 3, b3, 3, 0, 0.1, 1, 1e-12);

    /* 3 vs 3, interleaved x = 1 3 5, y = 2 4 6: U_x = #(x > y) = (3>2) + (5>2) + (5>4)
       = 3. The counts of U = 0..9 over the 20 orderings are the coefficients of the
       Gaussian binomial [6 choose 3]_q: 1 1 2 3 3 3 3 2 1 1, so
       P(U <= 3) = (1+1+2+3)/20 = 7/20 and p = 0.7. */
    const double i3[] = {1, 3, 5}, j3[] = {2, 4, 6};
    check_u("3 vs 3 interleaved", i3, 3, j3, 3, 3, 0.7, 1, 1e-12);

    /* 5 vs 5 separated: p = 2 / C(10,5) = 2/252 = 0.0079365079365079365. */
    const double a5[] = {1, 2, 3, 4, 5}, b5[] = {6, 7, 8, 9, 10};
    check_u("5 vs 5 separated", a5, 5, b5, 5, 0, 2.0 / 252.0, 1, 1e-12);

    /* 10 vs 10 separated: p = 2 / C(20,10) = 2/184756 = 1.0825088224469030e-05. */
    double a10[10], b10[10];
    for (int i = 0; i < 10; i++) a10[i] = 100 + i, b10[i] = 200 + i;
    check_u("10 vs 10 separated", b10, 10, a10, 10, 100, 2.0 / 184756.0, 1, 1e-12);

    /* 4 vs 5 of unequal sizes: x = 0.5 1.7 2.2 3.9, y = 1.1 2.5 4.4 5.0 6.1.
       U_x = (1.7>1.1) + (2.2>1.1) + (3.9>1.1) + (3.9>2.5) = 4, mirror 16.
       Enumeration: 12 of the C(9,4) = 126 orderings have U <= 4, p = 24/126
       = 0.19047619047619047. */
    const double a45[] = {0.5, 1.7, 2.2, 3.9}, b45[] = {1.1, 2.5, 4.4, 5.0, 6.1};
    check_u("4 vs 5", a45, 4, b45, 5, 4, 24.0 / 126.0, 1, 1e-12);

    /* A timing-like regression, 6 vs 7 repetitions (ms): U_x = 40 of 42, so the mirror
       is 2. Orderings with U <= 2: one with U = 0, one with U = 1, two with U = 2
       (2 = 2 = 1+1 as a partition), 4 of C(13,6) = 1716: p = 8/1716
       = 0.004662004662004662 (enumeration and scipy agree). */
    const double slow[] = {10.2, 10.9, 11.4, 10.5, 11.1, 10.7};
    const double fast[] = {10.0, 10.3, 9.6, 9.9, 10.1, 9.8, 10.4};
    check_u("6 vs 7 regression", slow, 6, fast, 7, 40, 8.0 / 1716.0, 1, 1e-12);

    /* Exact on larger samples (scipy exact): x_i = 7i mod 71 (i = 1..30),
       y_j = (11j mod 71) + 20.5 (j = 1..40): U = 348, p = 0.0024697104128850794.
       x_i = 7i mod 101, y_j = (13j mod 101) + 0.5 (i, j = 1..50, the largest exact
       size): U = 1201, p = 0.7392147775493819. */
    double x30[30], y40[40], x50[50], y50[50];
    for (int i = 1; i <= 30; i++) x30[i - 1] = (i * 7) % 71;
    for (int j = 1; j <= 40; j++) y40[j - 1] = (j * 11) % 71 + 20.5;
    check_u("30 vs 40 exact", x30, 30, y40, 40, 348, 0.0024697104128850794, 1, 1e-9);
    for (int i = 1; i <= 50; i++) x50[i - 1] = (i * 7) % 101, y50[i - 1] = (i * 13) % 101 + 0.5;
    check_u("50 vs 50 exact", x50, 50, y50, 50, 1201, 0.7392147775493819, 1, 1e-9);

    /* Ties: normal approximation with tie correction. x = 1 2 2 3, y = 2 3 3 4.
       Sorted: 1x 2x 2x 2y 3x 3y 3y 4y; average ranks 1, 3 3 3, 6 6 6, 8.
       R_x = 1 + 3 + 3 + 6 = 13, U_x = 13 - 4*5/2 = 3, mean 8.
       Tie groups of 3 and 3: sum(t^3 - t) = 48. Variance = 16/12 * (9 - 48/56)
       = 10.857142857142858, z = (|3 - 8| - 0.5) / sqrt(10.857...) = 1.3657...,
       p = erfc(z / sqrt 2) = 0.17203370892182296 (scipy asymptotic: 0.1720337089218229). */
    const double t1[] = {1, 2, 2, 3}, t2[] = {2, 3, 3, 4};
    check_u("ties 4 vs 4", t1, 4, t2, 4, 3, 0.17203370892182296, 0, 1e-12);

    /* Above the exact limit (60 vs 60, separated): normal approximation without ties,
       variance 3600/12 * 121 = 36300, z = (1800 - 0.5) / sqrt(36300),
       p = 3.556570974984777e-21. */
    double x60[60], y60[60];
    for (int i = 0; i < 60; i++) x60[i] = i, y60[i] = i + 100;
    check_u("60 vs 60 normal", x60, 60, y60, 60, 0, 3.556570974984777e-21, 0, 1e-9);

    /* All equal: variance 0, p = 1 (U = 4.5 = the mean). */
    const double e3[] = {5, 5, 5};
    check_u("all equal", e3, 3, e3, 3, 4.5, 1.0, 0, 0);

    /* Single values: U is 0 or 1 of 1, p = 2 * 1/2 = 1 whatever the values. */
    const double one[] = {1}, two[] = {2};
    check_u("1 vs 1", one, 1, two, 1, 0, 1.0, 1, 0);

    /* The smallest attainable p: 2 / C(nx+ny, nx). */
    MKT_CHECK(stats_u_min_p(1, 1) == 1.0, "min p 1 vs 1");
    MKT_CHECK(fabs(stats_u_min_p(3, 3) - 0.1) < 1e-15, "min p 3 vs 3");
    MKT_CHECK(fabs(stats_u_min_p(4, 4) - 2.0 / 70.0) < 1e-15, "min p 4 vs 4");
    MKT_CHECK(fabs(stats_u_min_p(1, 30) - 2.0 / 31.0) < 1e-15, "min p 1 vs 30");
    MKT_CHECK(fabs(stats_u_min_p(10, 10) - 2.0 / 184756.0) < 1e-18, "min p 10 vs 10");

    /* Bad sizes are refused. */
    stats_u_test r;
    MKT_CHECK(stats_mann_whitney(a3, 0, b3, 3, &r) == -1, "nx = 0 refused");
    MKT_CHECK(stats_mann_whitney(a3, 3, b3, -1, &r) == -1, "ny < 0 refused");
    return mkt_finish();
}
