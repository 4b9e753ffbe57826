/* Timing helpers shared by the commands that measure (calibrate, tune, run-model). */
#ifndef MEDKERN_TOOLS_TIMING_H
#define MEDKERN_TOOLS_TIMING_H

#include "medkern/medkern.h"

/* Host monotonic clock in seconds. */
double cli_now_s(void);

/* Best time in ms of `runs` calls of fn(arg), each timed between two events of ctx
   (device time); one untimed, synchronized warm-up call first when `warmup`. Returns the
   first failing status (fn's or the events'), or MK_ERR_DEVICE when no run gave a
   positive time. */
mk_status cli_time_best(mk_context *ctx, int runs, int warmup, mk_status (*fn)(void *arg), void *arg,
                        double *best_ms);

#endif
