/*
 * The report of `medkern profile` (schema "medkern-profile/1", docs/profiling.md): one
 * cJSON document built from the plan's counts and the executor's times; every output
 * format is rendered from it.
 */
#ifndef MEDKERN_TOOLS_PROFILE_REPORT_H
#define MEDKERN_TOOLS_PROFILE_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "medkern/medkern.h"
#include "profile_fmt.h" /* MKP_SCHEMA */
#include "profile_plan.h"
#include "profile_run.h"


typedef struct {
    double bandwidth_gbs;      /* 0 = unknown */
    double compute_gflops;     /* 0 = unknown */
    char source[16];           /* "calibration", "device-info" or "none" */
    char calibration_file[512];
} mkp_ceilings;

typedef struct {
    double max_abs_error, rel_error, tolerance;
    int passed;
} mkp_validation;

typedef struct {
    const mkp_plan *plan;
    const mkp_run_result *run;
    int layers_run;
    const int *layer_index;
    const mk_device_info *device;
    const mkp_ceilings *ceilings;
    const mkp_validation *validation; /* NULL: "validation": null */
    const char *const *warnings;
    int nwarnings;
    const char *version, *git_commit, *date;
    uint64_t seed;
} mkp_report_in;

/* The measured time of a plan step over the whole model, in ms: per-layer steps scale the
   time of each kind's run layers by (layers of the kind) / (run layers of the kind). */
double mkp_step_time_ms(const mkp_plan *p, const mkp_run_result *run, mkp_phase ph, int step);

/* The report; NULL when out of memory. */
cJSON *mkp_report_build(const mkp_report_in *in);

/* Reads a saved report (--from-json): valid JSON, an object, "schema" = MKP_SCHEMA.
   NULL with a message otherwise. */
cJSON *mkp_report_load(const char *path, char *err, size_t n);

#endif
