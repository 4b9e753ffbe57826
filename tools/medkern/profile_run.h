/*
 * The executor of `medkern profile`: allocates a model's weights (random, or given as f32
 * arrays for --validate) and activations on a device, runs the plan's prefill pass and
 * decode steps through the public API, and times every op call between two device
 * events. Only the chosen layers run (a subset when the model does not fit); the report
 * scales their times to the whole model.
 */
#ifndef MEDKERN_TOOLS_PROFILE_RUN_H
#define MEDKERN_TOOLS_PROFILE_RUN_H

#include <stddef.h>
#include <stdint.h>

#include "medkern/medkern.h"
#include "profile_plan.h"

/* f32 weights supplied from outside (the reference model's, for --validate; Llama-style
   models only). Names: "embed" [V][H], "final_norm" [H], "lm_head" [V][H] (layer -1) and
   per layer "attn_norm" [H], "wq" [Hq*D][H], "wk", "wv" [Hkv*D][H], "wo" [H][Hq*D],
   "mlp_norm" [H], "w_gate", "w_up" [I][H], "w_down" [H][I]. NULL when unknown. */
typedef const float *(*mkp_weight_fn)(void *arg, const char *name, int layer);

typedef struct {
    const mkp_plan *plan;
    int layers_run;               /* how many layers run                                 */
    const int *layer_index;       /* their indices in the model, increasing             */
    uint64_t seed;                /* random weights and token ids                        */
    int warmup;                   /* an untimed pass per phase first (program builds)    */
    mkp_weight_fn weights;     /* NULL: random weights in plan->set.weights           */
    void *weights_arg;
    const int32_t *tokens;        /* [batch][prompt + gen] ids, or NULL: consecutive ids */
    float *logits;                /* NULL, or [(1 + gen)][batch][vocab]: the logits of the
                                     prefill's last tokens, then of every decode step     */
    void (*progress)(void *arg, const char *what, int done, int total);
    void *progress_arg;
} mkp_run_args;

typedef struct {
    /* measured device time in ms, summed over the run layers of each kind (and, in decode,
       over every step); once-a-pass steps record under kind 0 */
    double time_ms[MKP_PHASES][MKP_MAX_STEPS][MKP_KINDS];
    int runs[MKP_KINDS];          /* run layers of each kind                              */
    char variant[MKP_PHASES][MKP_MAX_STEPS][96]; /* mk_last_kernel after the step's calls  */
    double wall_ms[MKP_PHASES];   /* host time of the timed passes (run layers only)      */
    double setup_s;               /* allocation and random weights                        */
    int nonfinite_logits;         /* non-finite values in the last logits read back       */
} mkp_run_result;

/* Runs the plan on ctx. On failure, err names the step, the layer and the library's
   message; the status is the failing call's (MK_ERR_UNSUPPORTED when the device has no
   variant for a step's op and format). */
mk_status mkp_run(mk_context *ctx, const mkp_run_args *args, mkp_run_result *out, char *err,
                     size_t n);

#endif
