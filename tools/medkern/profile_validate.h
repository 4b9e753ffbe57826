/*
 * `medkern profile --validate`: the profiler's executor run end to end on a device with
 * the reference decoder model's own f32 weights (reference/model.c), its logits compared
 * with the reference model's. The configuration is the reference model's small Llama:
 * 2 layers, hidden 256, 8 query heads over 4 KV heads (GQA), head dim 32.
 */
#ifndef MEDKERN_TOOLS_PROFILE_VALIDATE_H
#define MEDKERN_TOOLS_PROFILE_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

#include "profile_plan.h"
#include "profile_report.h"
#include "profile_run.h"

/* The bound on the relative L2 error of the logits (docs/profiling.md explains it). */
#define MKP_VALIDATE_TOLERANCE 2e-5

/* The validation model as an mkm_config (name "validate-llama-tiny"). */
void mkp_validate_model(int max_positions, mkm_config *out);

/* Runs the validation on ctx: batch sequences of `prompt` tokens then `gen` decode steps,
   device against the reference model. Fills the plan (f32 weights, f32 KV cache), the run
   (times, as a profile) and the comparison. MK_OK when everything ran (the comparison may
   still fail: val->passed). */
mk_status mkp_validate(mk_context *ctx, int batch, int prompt, int gen, uint64_t seed, int warmup,
                          mkp_plan *plan, mkp_run_result *run, int *layer_index, mkp_validation *val,
                          char *err, size_t n);

#endif
