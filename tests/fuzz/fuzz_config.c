/* Fuzzes the model reader of `medkern profile` (tools/medkern/model_config.c): the input
   is a config.json text. A config the reader accepts must then pass the planner's
   arithmetic (mkp_build over a small workload and every weight and KV format, the layer
   subset choice) without overflow or out-of-bounds access; one it rejects must say why.
   Nothing may crash or trip a sanitizer. */
#include <stdlib.h>
#include <string.h>

#include "model_config.h"
#include "profile_plan.h"

static mkp_plan plan;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mkm_config c;
    char err[512];
    err[0] = 0;
    mkm_status s = mkm_parse_config((const char *)data, size, &c, err, sizeof err);
    if (s != MKM_OK) {
        if (s != MKM_ERR_INVALID || !err[0] || !memchr(err, 0, sizeof err)) abort();
        return 0;
    }
    /* what the reader accepted is a runnable shape */
    if (c.layers < 1 || c.layers > MKM_MAX_LAYERS || c.hidden < 1 || c.heads < 1 || c.kv_heads < 1 ||
        c.heads % c.kv_heads || c.head_dim < 1 || c.head_dim > 256 || c.intermediate < 1 || c.vocab < 1 ||
        c.max_positions < 1 || mkm_local_layers(&c) > c.layers)
        abort();
    const uint8_t pick = size ? data[size - 1] : 0;
    mkp_settings set = {(mkp_weights)(pick % 6), (mkp_kv)((pick / 6) % 4), 1 + pick % 3, 1 + pick % 17, pick % 5, 16};
    if (mkp_build(&c, &set, &plan, err, sizeof err) != 0) {
        if (!err[0]) abort(); /* e.g. w4g128 on a width not a multiple of 128: said so */
        return 0;
    }
    int idx[MKM_MAX_LAYERS];
    int kinds = (plan.kind_layers[0] > 0) + (plan.kind_layers[1] > 0);
    if (plan.kind_layers[0] + plan.kind_layers[1] != c.layers) abort();
    for (int n = kinds; n <= c.layers; n += 1 + c.layers / 4) {
        if (mkp_choose_layers(&plan, n, idx) != 0) abort();
        for (int i = 1; i < n; i++)
            if (idx[i] <= idx[i - 1] || idx[i] >= c.layers) abort();
    }
    for (int ph = 0; ph < MKP_PHASES; ph++)
        for (int i = 0; i < plan.nsteps[ph]; i++)
            if (!(plan.steps[ph][i].flops >= 0) || !(plan.steps[ph][i].bytes > 0)) abort();
    return 0;
}
