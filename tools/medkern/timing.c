/* Timing helpers shared by the commands that measure. */
#include <math.h>
#include <time.h>

#include "timing.h"

double cli_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

mk_status cli_time_best(mk_context *ctx, int runs, int warmup, mk_status (*fn)(void *arg), void *arg,
                        double *best_ms) {
    mk_event *e0 = NULL, *e1 = NULL;
    mk_status s = mk_event_create(ctx, &e0);
    if (s == MK_OK) s = mk_event_create(ctx, &e1);
    if (s == MK_OK && warmup && (s = fn(arg)) == MK_OK) s = mk_synchronize(ctx);
    double best = INFINITY;
    for (int r = 0; r < runs && s == MK_OK; r++) {
        float ms = 0;
        if ((s = mk_event_record(e0)) == MK_OK && (s = fn(arg)) == MK_OK &&
            (s = mk_event_record(e1)) == MK_OK && (s = mk_event_elapsed_ms(e0, e1, &ms)) == MK_OK &&
            ms > 0 && ms < best)
            best = ms;
    }
    mk_event_destroy(e0);
    mk_event_destroy(e1);
    if (s == MK_OK && !isfinite(best)) s = MK_ERR_DEVICE;
    *best_ms = best;
    return s;
}
