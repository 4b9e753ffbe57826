/*
 * Statistics for `medkern compare`: medians and the two-sided Mann-Whitney U test.
 * Plain C, no medkern API: tests/test_stats.c compiles this file on its own.
 *
 * The U test (Wilcoxon rank-sum) asks whether one sample tends to be larger than the
 * other without assuming a distribution, which suits benchmark times (skewed, with
 * outliers). U_x counts the pairs (x_i, y_j) with x_i > y_j, a tie counting one half.
 *
 * p-value, two-sided:
 *  - exact: when no value is shared between or within the samples and both samples
 *    have at most STATS_EXACT_MAX values, p = 2 * P(U <= min(U_x, nx*ny - U_x)) under
 *    the null hypothesis (every ordering of the nx+ny values equally likely), capped
 *    at 1. The distribution comes from a recurrence on probabilities (no large
 *    binomial coefficients, no cancellation).
 *  - normal approximation otherwise: mean nx*ny/2, variance
 *    nx*ny/12 * ((n+1) - sum(t^3 - t) / (n(n-1))) over the tie groups t (tie
 *    correction), and a continuity correction of 1/2: z = max(0, |U - mean| - 1/2) / sd,
 *    p = erfc(z / sqrt 2). All values equal (variance 0): p = 1.
 */
#ifndef MEDKERN_TOOLS_STATS_H
#define MEDKERN_TOOLS_STATS_H

#define STATS_EXACT_MAX 50

typedef struct {
    double u;   /* U of the first sample                   */
    double p;   /* two-sided p-value in (0, 1]             */
    int exact;  /* 1: exact distribution, 0: normal approx */
} stats_u_test;

/* Median of n >= 1 values (the mean of the two middle ones for an even n); x is not
   modified. NaN when n < 1 or out of memory. */
double stats_median(const double *x, int n);

/* Two-sided Mann-Whitney U test of x[nx] against y[ny] (nx, ny >= 1). Returns 0 on
   success, -1 for bad sizes or out of memory. */
int stats_mann_whitney(const double *x, int nx, const double *y, int ny, stats_u_test *out);

/* The smallest two-sided p-value the exact test can give for these sizes (all of one
   sample below all of the other): 2 / C(nx+ny, nx), capped at 1. When it is not below
   alpha, no data can make the test significant. */
double stats_u_min_p(int nx, int ny);

#endif
