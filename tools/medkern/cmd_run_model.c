/* medkern run-model: the scalar reference decoder model (reference/model.c) on a small
   Llama-style config, prefill then decode, with tokens/s. It is the end-to-end oracle the
   profiler's --validate compares against, and the smallest real workload. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "timing.h"
#include "mkref.h"

static int parse_int(const char *s, int lo, int hi, const char *name, int *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == 0 || *end != 0 || v < lo || v > hi) {
        fprintf(stderr, "medkern run-model: %s must be an integer in [%d, %d] (got \"%s\")\n", name, lo, hi, s);
        return 0;
    }
    *out = (int)v;
    return 1;
}

int cmd_run_model(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        printf("usage: medkern run-model [--layers N] [--hidden H] [--prompt P] [--gen G] [--seed S]\n\n"
               "Runs the scalar reference decoder model (random weights from the seed): a\n"
               "prefill of P tokens, then G decode steps through the paged KV cache, and\n"
               "prints prefill and decode tokens/s. Defaults: 2 layers, hidden 256, 8 heads\n"
               "(4 KV heads), prompt 64, gen 16.\n");
        return MK_EXIT_OK;
    }
    int layers = 2, hidden = 256, prompt = 64, gen = 16, seed = 1, bad = 0;
    for (int i = 1; i < argc; i++) {
        const char *v;
        int ok = 1;
        if ((v = cli_opt(argc, argv, &i, "--layers", &bad))) ok = parse_int(v, 1, 64, "--layers", &layers);
        else if ((v = cli_opt(argc, argv, &i, "--hidden", &bad))) ok = parse_int(v, 32, 4096, "--hidden", &hidden);
        else if ((v = cli_opt(argc, argv, &i, "--prompt", &bad))) ok = parse_int(v, 1, 4096, "--prompt", &prompt);
        else if ((v = cli_opt(argc, argv, &i, "--gen", &bad))) ok = parse_int(v, 0, 4096, "--gen", &gen);
        else if ((v = cli_opt(argc, argv, &i, "--seed", &bad))) ok = parse_int(v, 0, 1 << 30, "--seed", &seed);
        else if (!bad) {
            fprintf(stderr, "medkern run-model: unknown option \"%s\"\n", argv[i]);
            return MK_EXIT_USAGE;
        }
        if (bad || !ok) return MK_EXIT_USAGE;
    }
    if (hidden % 32) {
        fprintf(stderr, "medkern run-model: --hidden must be a multiple of 32 (8 heads of an even head dim)\n");
        return MK_EXIT_USAGE;
    }
    mkref_model_config cfg = {.vocab_size = 512, .hidden_size = hidden, .num_layers = layers,
                              .num_heads = 8, .num_kv_heads = 4, .head_dim = hidden / 8,
                              .intermediate_size = hidden * 8 / 3 / 8 * 8,
                              .max_positions = prompt + gen, .block_size = 16,
                              .rope_theta = 10000.0f, .rms_eps = 1e-5f};
    mkref_model *m = mkref_model_create(&cfg, (uint64_t)seed);
    if (!m) {
        fprintf(stderr, "medkern run-model: could not create the model (bad config or out of memory)\n");
        return MK_EXIT_FAIL;
    }
    int32_t *tokens = malloc((size_t)prompt * sizeof *tokens);
    float *logits = malloc((size_t)prompt * cfg.vocab_size * sizeof *logits);
    if (!tokens || !logits) {
        fprintf(stderr, "medkern run-model: out of memory\n");
        free(tokens), free(logits), mkref_model_destroy(m);
        return MK_EXIT_FAIL;
    }
    for (int i = 0; i < prompt; i++) tokens[i] = (int32_t)((i * 7919 + seed) % cfg.vocab_size);
    printf("reference model: %d layers, hidden %d, heads 8/4, head_dim %d, intermediate %d, vocab %d\n",
           layers, hidden, cfg.head_dim, cfg.intermediate_size, cfg.vocab_size);
    double t0 = cli_now_s();
    int rc = mkref_model_prefill(m, tokens, prompt, logits);
    double t1 = cli_now_s();
    int32_t next = 0;
    const float *last = logits + (size_t)(prompt - 1) * cfg.vocab_size;
    for (int v = 1; v < cfg.vocab_size; v++) if (last[v] > last[next]) next = v;
    for (int g = 0; g < gen && rc == 0; g++) {
        rc = mkref_model_decode(m, next, logits);
        next = 0;
        for (int v = 1; v < cfg.vocab_size; v++) if (logits[v] > logits[next]) next = v;
    }
    double t2 = cli_now_s();
    int status = MK_EXIT_OK;
    if (rc != 0) {
        fprintf(stderr, "medkern run-model: the model failed (sequence too long?)\n");
        status = MK_EXIT_FAIL;
    } else {
        printf("device ref (scalar reference, host)\n");
        printf("prefill: %d tokens in %.3f s = %.1f tokens/s\n", prompt, t1 - t0, prompt / (t1 - t0));
        if (gen > 0)
            printf("decode:  %d tokens in %.3f s = %.1f tokens/s (last token id %d)\n", gen, t2 - t1,
                   gen / (t2 - t1), next);
    }
    free(tokens);
    free(logits);
    mkref_model_destroy(m);
    return status;
}
