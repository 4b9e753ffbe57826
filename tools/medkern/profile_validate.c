/* medkern profile --validate: the executor against the reference model (see the header). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mkref.h"
#include "profile_validate.h"

enum { V_LAYERS = 2, V_HIDDEN = 256, V_HEADS = 8, V_KV_HEADS = 4, V_VOCAB = 512, V_BLOCK = 16 };
#define V_INTERMEDIATE (V_HIDDEN * 8 / 3 / 8 * 8) /* 680, as medkern run-model */

void mkp_validate_model(int max_positions, mkm_config *c) {
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "validate-llama-tiny");
    snprintf(c->source, sizeof c->source, "preset");
    snprintf(c->model_type, sizeof c->model_type, "llama");
    snprintf(c->verification, sizeof c->verification, "the reference decoder model of reference/model.c");
    c->family = MKM_LLAMA;
    c->hidden = V_HIDDEN;
    c->layers = V_LAYERS;
    c->heads = V_HEADS;
    c->kv_heads = V_KV_HEADS;
    c->head_dim = V_HIDDEN / V_HEADS;
    c->intermediate = V_INTERMEDIATE;
    c->vocab = V_VOCAB;
    c->max_positions = max_positions;
    c->rope_theta = c->rope_local_theta = 10000.0;
    c->rope_factor = 1.0;
    c->norm_eps = 1e-5;
    c->query_pre_attn_scalar = c->head_dim;
    c->activation = MKM_ACT_SILU;
    c->gated_mlp = 1;
}

static const float *weight_of(void *arg, const char *name, int layer) {
    return mkref_model_weight((const mkref_model *)arg, name, layer);
}

mk_status mkp_validate(mk_context *ctx, int batch, int prompt, int gen, uint64_t seed, int warmup,
                          mkp_plan *plan, mkp_run_result *run, int *layer_index, mkp_validation *val,
                          char *err, size_t n) {
    const int L = prompt + gen;
    mkm_config model;
    mkp_validate_model(L, &model);
    mkp_settings set = {MKP_W_F32, MKP_KV_F32, batch, prompt, gen, V_BLOCK};
    if (mkp_build(&model, &set, plan, err, n) != 0) return MK_ERR_INVALID_ARGUMENT;
    mkref_model_config rc = {V_VOCAB, V_HIDDEN, V_LAYERS, V_HEADS, V_KV_HEADS, V_HIDDEN / V_HEADS,
                             V_INTERMEDIATE, L, V_BLOCK, 10000.0f, 1e-5f};
    mkref_model *ref = mkref_model_create(&rc, seed);
    const size_t V = V_VOCAB, per = (size_t)batch * V;
    int32_t *tokens = malloc((size_t)batch * (size_t)L * sizeof *tokens);
    float *dev = malloc((size_t)(1 + gen) * per * sizeof *dev);
    float *want = malloc((size_t)(1 + gen) * per * sizeof *want);
    float *all = malloc((size_t)prompt * V * sizeof *all);
    mk_status s = MK_OK;
    if (!ref || !tokens || !dev || !want || !all) {
        snprintf(err, n, "out of host memory for the validation");
        s = MK_ERR_OUT_OF_MEMORY;
    }
    for (int b = 0; s == MK_OK && b < batch; b++)
        for (int i = 0; i < L; i++) tokens[b * L + i] = (int32_t)(((uint64_t)b * 131u + (uint64_t)i * 7919u + seed) % V);
    if (s == MK_OK) {
        for (int i = 0; i < V_LAYERS; i++) layer_index[i] = i;
        mkp_run_args ra = {plan, V_LAYERS, layer_index, seed, warmup, weight_of, ref, tokens, dev, NULL, NULL};
        s = mkp_run(ctx, &ra, run, err, n);
    }
    /* the reference: each sequence alone, its prefill's last logits then each decode step */
    for (int b = 0; s == MK_OK && b < batch; b++) {
        mkref_model_reset(ref);
        if (mkref_model_prefill(ref, tokens + (size_t)b * L, prompt, all) != 0) s = MK_ERR_INTERNAL;
        else memcpy(want + (size_t)b * V, all + (size_t)(prompt - 1) * V, V * sizeof(float));
        for (int g = 0; s == MK_OK && g < gen; g++)
            if (mkref_model_decode(ref, tokens[(size_t)b * L + prompt + g], want + (size_t)(1 + g) * per + (size_t)b * V) != 0)
                s = MK_ERR_INTERNAL;
        if (s != MK_OK) snprintf(err, n, "the reference model failed on sequence %d", b);
    }
    if (s == MK_OK) {
        double diff2 = 0, ref2 = 0, max_abs = 0;
        int nonfinite = 0;
        for (size_t i = 0; i < (size_t)(1 + gen) * per; i++) {
            if (!isfinite(dev[i])) nonfinite++;
            double d = (double)dev[i] - (double)want[i];
            diff2 += d * d;
            ref2 += (double)want[i] * want[i];
            if (fabs(d) > max_abs || !isfinite(d)) max_abs = isfinite(d) ? fabs(d) : INFINITY;
        }
        val->max_abs_error = max_abs;
        val->rel_error = ref2 > 0 ? sqrt(diff2 / ref2) : sqrt(diff2);
        val->tolerance = MKP_VALIDATE_TOLERANCE;
        val->passed = nonfinite == 0 && val->rel_error <= val->tolerance;
    }
    free(tokens), free(dev), free(want), free(all);
    mkref_model_destroy(ref);
    return s;
}
