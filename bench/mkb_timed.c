/* mkb_median_run_seconds (mkbench.h): a run function timed on the context's queue with an
   mk_event pair per run, for anchors measured inside another entry. */
#include <stdlib.h>

#include "mkbench.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double mkb_median_run_seconds(mkb_state *st, mkb_run_fn fn, void *obj, int min_reps, int max_reps,
                              double max_seconds) {
    char why[256] = "";
    mk_event *e0 = NULL, *e1 = NULL;
    double t[32], total = 0, med = 0;
    int n = 0;
    if (max_reps > 32) max_reps = 32;
    if (!mkb_check(st, mk_event_create(mkb_context(), &e0), "mk_event_create") ||
        !mkb_check(st, mk_event_create(mkb_context(), &e1), "mk_event_create"))
        goto done;
    if (fn(obj, why, sizeof why)) {
        mkb_fail(st, why);
        goto done;
    }
    while (n < max_reps && (n < min_reps || total < max_seconds)) {
        float ms = 0;
        if (!mkb_check(st, mk_event_record(e0), "mk_event_record")) goto done;
        if (fn(obj, why, sizeof why)) {
            mkb_fail(st, why);
            goto done;
        }
        if (!mkb_check(st, mk_event_record(e1), "mk_event_record") ||
            !mkb_check(st, mk_event_elapsed_ms(e0, e1, &ms), "mk_event_elapsed_ms"))
            goto done;
        t[n++] = ms * 1e-3;
        total += ms * 1e-3;
    }
    qsort(t, (size_t)n, sizeof t[0], cmp_double);
    med = n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
done:
    mk_event_destroy(e0);
    mk_event_destroy(e1);
    return med;
}

