/* Medians and the Mann-Whitney U test for `medkern compare` (see stats.h). */
#include "stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double stats_median(const double *x, int n) {
    if (n < 1) return NAN;
    double *s = malloc((size_t)n * sizeof *s);
    if (!s) return NAN;
    memcpy(s, x, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    double m = n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
    free(s);
    return m;
}

double stats_u_min_p(int nx, int ny) {
    if (nx < 1 || ny < 1) return 1.0;
    double c = 1.0; /* C(nx+ny, nx), built as a product of ratios */
    for (int i = 1; i <= nx; i++) c = c * (double)(ny + i) / (double)i;
    double p = 2.0 / c;
    return p < 1.0 ? p : 1.0;
}

/* P(U <= k) for sizes (nx, ny) without ties. With p_{i,j}(u) the distribution for i
   values of x and j of y: the largest of the i+j values is an x with probability
   i/(i+j), and then it beats all j values of y, so
       p_{i,j}(u) = i/(i+j) p_{i-1,j}(u-j) + j/(i+j) p_{i,j-1}(u),
   with p_{0,j} = p_{i,0} = "U is 0". Rows i are kept two at a time. */
static double exact_cdf(int nx, int ny, int k) {
    int umax = nx * ny;
    size_t row = (size_t)(ny + 1) * (size_t)(umax + 1);
    double *prev = calloc(row, sizeof *prev), *cur = calloc(row, sizeof *cur);
    if (!prev || !cur) {
        free(prev), free(cur);
        return NAN;
    }
#define P(a, j, u) (a)[(size_t)(j) * (size_t)(umax + 1) + (size_t)(u)]
    for (int j = 0; j <= ny; j++) P(prev, j, 0) = 1.0; /* i = 0 */
    for (int i = 1; i <= nx; i++) {
        memset(cur, 0, row * sizeof *cur);
        P(cur, 0, 0) = 1.0;
        for (int j = 1; j <= ny; j++) {
            double a = (double)i / (i + j), b = (double)j / (i + j);
            for (int u = 0; u <= i * j; u++) {
                double v = b * P(cur, j - 1, u);
                if (u >= j) v += a * P(prev, j, u - j);
                P(cur, j, u) = v;
            }
        }
        double *t = prev;
        prev = cur, cur = t;
    }
    double cdf = 0;
    for (int u = 0; u <= k && u <= umax; u++) cdf += P(prev, ny, u);
#undef P
    free(prev), free(cur);
    return cdf;
}

typedef struct {
    double v;
    int from_x;
} tagged;

static int cmp_tagged(const void *a, const void *b) {
    return cmp_double(&((const tagged *)a)->v, &((const tagged *)b)->v);
}

int stats_mann_whitney(const double *x, int nx, const double *y, int ny, stats_u_test *out) {
    if (nx < 1 || ny < 1 || !x || !y || !out) return -1;
    int n = nx + ny;
    tagged *all = malloc((size_t)n * sizeof *all);
    if (!all) return -1;
    for (int i = 0; i < nx; i++) all[i] = (tagged){x[i], 1};
    for (int j = 0; j < ny; j++) all[nx + j] = (tagged){y[j], 0};
    qsort(all, (size_t)n, sizeof *all, cmp_tagged);

    /* Average ranks (1-based) over tie groups; rank sum of x; tie term sum(t^3 - t). */
    double rank_sum_x = 0, tie_term = 0;
    for (int i = 0; i < n;) {
        int j = i;
        while (j + 1 < n && all[j + 1].v == all[i].v) j++;
        double t = j - i + 1, rank = 0.5 * (i + 1 + j + 1);
        for (int k = i; k <= j; k++)
            if (all[k].from_x) rank_sum_x += rank;
        tie_term += t * t * t - t;
        i = j + 1;
    }
    free(all);

    double mn = (double)nx * ny;
    double u = rank_sum_x - 0.5 * nx * (nx + 1.0);
    out->u = u;
    if (tie_term == 0 && nx <= STATS_EXACT_MAX && ny <= STATS_EXACT_MAX) {
        double umin = u < mn - u ? u : mn - u;
        double cdf = exact_cdf(nx, ny, (int)llround(umin));
        if (isnan(cdf)) return -1;
        out->p = 2.0 * cdf < 1.0 ? 2.0 * cdf : 1.0;
        out->exact = 1;
        return 0;
    }
    double var = mn / 12.0 * ((n + 1.0) - tie_term / ((double)n * (n - 1.0)));
    out->exact = 0;
    if (!(var > 0)) {
        out->p = 1.0;
        return 0;
    }
    double z = (fabs(u - 0.5 * mn) - 0.5) / sqrt(var);
    if (z < 0) z = 0;
    out->p = erfc(z / sqrt(2.0));
    if (out->p > 1.0) out->p = 1.0;
    return 0;
}
