/*
 * mkbench — the C face of the benchmark suite. Benchmarks are written in C against the
 * public API; this header lets them register with Google Benchmark through one C++ file
 * (mkbench.cc), the only C++ in bench/.
 *
 * A benchmark program defines a registration callback and hands it to mkb_main:
 *
 *     static void bench_add(mkb_state *st, const void *arg) {
 *         ... allocate inputs (a failing call: mkb_check(st, s, "what") skips the run) ...
 *         if (!mkb_check(st, mk_add(ctx, &a, &b, &c), "mk_add")) goto done; // warm-up
 *         mkb_set_op(st, MK_OP_ADD);
 *         mkb_set_bytes(st, 3.0 * n * 4);
 *         while (mkb_next(st))                           // the body is the timed region
 *             if (!mkb_check(st, mk_add(ctx, &a, &b, &c), "mk_add")) break;
 *     done:
 *         ... free ...
 *     }
 *     static void reg(void) { mkb_register("add/f32", bench_add, NULL, 0, 0); }
 *     int main(int argc, char **argv) { return mkb_main(argc, argv, reg); }
 *
 * Timing: every iteration of `while (mkb_next(st))` is timed on the device — an mk_event
 * is recorded before and after the body and mk_event_elapsed_ms gives the iteration time
 * (Google Benchmark's manual time). On the ref device events are host timestamps.
 * MKB_HOST_TIMER times the body with the host's monotonic clock instead (host-only work).
 *
 * Options (parsed and removed before Google Benchmark sees argv):
 *   --device D       device string for mk_context_create ("auto" by default)
 *   --shapes S       small | full | all; "auto" (default): small on ref, full elsewhere
 *   --cold           cold-cache mode: rotate through input sets whose total exceeds the
 *                    last-level cache (mkb_sets)
 *   --no-pin         do not bind the main thread (see mkb_host_pin)
 * A device that does not exist exits with status 77 (what ctest counts as skipped).
 *
 * Measured ceilings: when `medkern calibrate --device D` has cached the device's copy
 * bandwidth and dense GEMM rate (tools/medkern/calibration.h; $MEDKERN_CACHE_DIR, else
 * $XDG_CACHE_HOME/medkern, else ~/.cache/medkern), the programs read that cache (never
 * write it) and add the bw_frac_copy / flop_frac_gemm counters and the ceiling_* context.
 */
#ifndef MEDKERN_BENCH_MKBENCH_H
#define MEDKERN_BENCH_MKBENCH_H

#include <stddef.h>
#include <stdint.h>

#include "medkern/medkern.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mkb_state mkb_state;
/* A benchmark body. arg points to the copy of the bytes given at registration. */
typedef void (*mkb_fn)(mkb_state *st, const void *arg);

enum {
    MKB_HOST_TIMER = 1u << 0 /* time with the host clock instead of device events */
};

/* Registers fn under name; arg_size bytes at arg are copied (arg may be NULL). Only
   valid inside the registration callback of mkb_main. */
void mkb_register(const char *name, mkb_fn fn, const void *arg, size_t arg_size, unsigned flags);

/* Parses the mkbench options, opens the device, pins the main thread, calls reg, hands
   the rest of argv to Google Benchmark, runs the benchmarks. Returns the exit status. */
int mkb_main(int argc, char **argv, void (*reg)(void));

/* ---- the run's environment */
mk_context *mkb_context(void);
const mk_device_info *mkb_device(void);
int mkb_small(void);          /* 1 when the small shape set is selected        */
int mkb_full(void);           /* 1 when the full (model-size) set is selected  */
int mkb_cold(void);           /* 1 in cold-cache mode                          */

/* ---- inside a benchmark body */
/* Advances the timed loop: closes the previous iteration's timing, returns 1 when
   another iteration should run (its timing has started), 0 at the end. */
int mkb_next(mkb_state *st);
/* Zero-based index of the current iteration (for rotating input sets). */
int64_t mkb_iter(const mkb_state *st);
/* Work per iteration: reported as bytes_per_second and flop_per_second (rates over the
   manual time), as the fraction of the device's peak when it is known (bw_util,
   flop_util), and as the fraction of the calibrated ceilings when the device has a
   calibration cache (bw_frac_copy: over the copy bandwidth; flop_frac_gemm: over the
   dense f16 GEMM rate). */
void mkb_set_bytes(mkb_state *st, double bytes_per_iter);
void mkb_set_flops(mkb_state *st, double flops_per_iter);
/* The op whose variant (mk_last_kernel) goes into the label at the end of the run. */
void mkb_set_op(mkb_state *st, mk_op op);
/* Any other counter (plain value, averaged over nothing). */
void mkb_counter(mkb_state *st, const char *name, double value);
/* Extra label text (the variant is prepended). */
void mkb_label(mkb_state *st, const char *text);
/* Ends the benchmark without timing: "skipped: <why>". Reported as an error entry in
   Google Benchmark 1.7 (it has no skip state); the message says it was deliberate. */
void mkb_skip(mkb_state *st, const char *why);
/* Ends the benchmark as failed: "error: <why>". */
void mkb_fail(mkb_state *st, const char *why);
/* 1 if s is MK_OK. Otherwise skips (MK_ERR_UNSUPPORTED: "skipped: unsupported: ...")
   or fails (any other status), naming `what` and mk_last_error(), and returns 0. */
int mkb_check(mkb_state *st, mk_status s, const char *what);
/* 1 if a problem of this size is fine on the device. On the ref device (about 0.3
   GFLOP/s) a problem of more than 5e8 FLOP or 1 GiB is skipped with the reason. */
int mkb_fits(mkb_state *st, double flops, double bytes);
/* Cold-cache mode: how many input sets of set_bytes each to rotate through so that
   together they exceed twice the last-level cache (1 when not cold; at most 64, and
   no more than a quarter of the device memory). */
int mkb_sets(mkb_state *st, double set_bytes);

/* Manual seconds per iteration of the finished iterations so far (their mean; 0 before
   the first). After the loop: the run's time per iteration, e.g. to relate it to
   another benchmark of the same process (bench_roofline's ratios). */
double mkb_seconds_per_iter(const mkb_state *st);
/* The median of the finished iterations' manual seconds (0 before the first). */
double mkb_median_seconds(const mkb_state *st);
/* The median seconds of fn(obj) timed on the context's queue (an mk_event pair a run): one
   warm-up, then at least min_reps and at most max_reps (<= 32) timed runs, stopping early
   past max_seconds. fn returns 0 or -1 with a reason in why. 0 on failure (st failed). */
typedef int (*mkb_run_fn)(void *obj, char *why, size_t n);
double mkb_median_run_seconds(mkb_state *st, mkb_run_fn fn, void *obj, int min_reps, int max_reps,
                              double max_seconds);

/* ---- the STREAM-like host read (mkb_host_read.c) */
/* The body of a host read benchmark: a sum of 64-bit integers over an array of `bytes`
   (allocated and written once per process, kept for later runs), in equal slices over
   `threads` threads, thread i bound to core i; sets bytes and the label. Register it
   with MKB_HOST_TIMER. */
void mkb_host_read(mkb_state *st, int threads, size_t bytes);
/* The array size: full = 1: at least 4x the last-level cache (STREAM's rule) and 256 MiB,
   at most 1/8 of host memory, whole MiB; full = 0: 64 MiB. */
size_t mkb_host_read_bytes(int full);
/* Frees the array (at exit). */
void mkb_host_read_release(void);

/* ---- host topology (mkb_host.c; hwloc when built with it) */
/* Size of the host's last-level cache in bytes (sysconf or 32 MiB when unknown). */
size_t mkb_host_llc_bytes(void);
/* Number of host cores (hwloc cores, else online processors). */
int mkb_host_cores(void);
/* Binds the calling thread to the cpuset of core `core` (modulo the core count).
   Returns 1 on success; why gets a reason on failure (may be NULL). */
int mkb_host_bind_core(int core, char *why, size_t why_len);
/* Binds the main thread near the device: CPU, ref and unified-memory devices run on the
   host, so the first core's cpuset. For discrete devices the API names no PCI locality,
   so they stay unbound. Writes a line for the benchmark context into desc. */
int mkb_host_pin(const mk_device_info *dev, char *desc, size_t desc_len);

/* ---- data (mkb_data.c) */
/* A device buffer of n elements of dtype t filled with normal(0, std) values (I8/U8:
   uniform bytes; I32: zeros). NULL on failure (mkb_check already called). */
mk_buffer *mkb_random_buffer(mkb_state *st, mk_dtype t, size_t n, float std, uint64_t seed);
/* A device buffer with the given I32 values. */
mk_buffer *mkb_i32_buffer(mkb_state *st, const int32_t *v, size_t n);
/* The same two on another context than the run's (e.g. a ref context beside it). */
mk_buffer *mkb_random_buffer_on(mkb_state *st, mk_context *ctx, mk_dtype t, size_t n, float std,
                                uint64_t seed);
mk_buffer *mkb_i32_buffer_on(mkb_state *st, mk_context *ctx, const int32_t *v, size_t n);
/* Fills host memory with normal(0, std) values stored as dtype t. */
void mkb_fill_host(mk_dtype t, void *dst, size_t n, float std, uint64_t seed);

#ifdef __cplusplus
}
#endif
#endif /* MEDKERN_BENCH_MKBENCH_H */
