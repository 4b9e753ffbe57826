/*
 * The reference decoder model: paged decode agrees with prefill, chunked prefill agrees
 * with one prefill, reset forgets, seeds matter, bad configs and overlong sequences are
 * refused.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mktest.h"

#define VOCAB 97
#define PROMPT 11
#define STEPS 5
#define MAXPOS 64
#define TOL 1e-5

static mkref_model_config small_config(void) {
    mkref_model_config c = {.vocab_size = VOCAB, .hidden_size = 64, .num_layers = 2,
                            .num_heads = 4, .num_kv_heads = 2, .head_dim = 16,
                            .intermediate_size = 96, .max_positions = MAXPOS, .block_size = 4,
                            .rope_theta = 10000.0f, .rms_eps = 1e-5f};
    return c;
}

static int all_finite(const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return 0;
    return 1;
}

static void check_bad_configs(void) {
    static const char *names[] = {"vocab 0", "hidden -1", "layers 0", "heads 0", "kv heads 0",
                                  "heads % kv heads", "head_dim odd", "head_dim 0",
                                  "intermediate 0", "max_positions 0", "block_size 0",
                                  "rope_theta 0", "rms_eps NaN"};
    for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++) {
        mkref_model_config c = small_config();
        switch (i) {
        case 0: c.vocab_size = 0; break;
        case 1: c.hidden_size = -1; break;
        case 2: c.num_layers = 0; break;
        case 3: c.num_heads = 0; break;
        case 4: c.num_kv_heads = 0; break;
        case 5: c.num_kv_heads = 3; break;
        case 6: c.head_dim = 15; break;
        case 7: c.head_dim = 0; break;
        case 8: c.intermediate_size = 0; break;
        case 9: c.max_positions = 0; break;
        case 10: c.block_size = 0; break;
        case 11: c.rope_theta = 0.0f; break;
        default: c.rms_eps = NAN; break;
        }
        mkref_model *m = mkref_model_create(&c, 1);
        MKT_CHECK(m == NULL, "bad config (%s) was accepted", names[i]);
        mkref_model_destroy(m);
    }
    MKT_CHECK(mkref_model_create(NULL, 1) == NULL, "NULL config was accepted");
}

int main(int argc, char **argv) {
    mkt_init(argc, argv, "ref_model");
    mkref_model_config cfg = small_config();
    mkref_rng r;
    mkt_rng(&r, 1);
    int32_t tokens[MAXPOS + 1];
    for (int i = 0; i <= MAXPOS; i++) tokens[i] = (int32_t)mkref_rng_range(&r, 0, VOCAB - 1);

    mkref_model *m = mkref_model_create(&cfg, mkt_seed);
    mkref_model *check = mkref_model_create(&cfg, mkt_seed); /* same weights */
    MKT_CHECK(m && check, "mkref_model_create failed on a valid config");
    if (!m || !check) return mkt_finish();

    static float full[MAXPOS * VOCAB], logits[MAXPOS * VOCAB], step[VOCAB];
    for (size_t i = 0; i < sizeof logits / sizeof logits[0]; i++) logits[i] = NAN;

    /* prefill, then paged decode steps against prefill of the extended prompt */
    MKT_CHECK(mkref_model_prefill(m, tokens, PROMPT, logits) == 0, "prefill failed");
    MKT_CHECK(mkref_model_length(m) == PROMPT, "length %d after prefill", mkref_model_length(m));
    MKT_CHECK(all_finite(logits, (size_t)PROMPT * VOCAB), "prefill logits not finite");
    memcpy(full, logits, sizeof(float) * PROMPT * VOCAB);
    for (int s = 0; s < STEPS; s++) {
        int n = PROMPT + s + 1;
        for (int i = 0; i < VOCAB; i++) step[i] = NAN;
        MKT_CHECK(mkref_model_decode(m, tokens[n - 1], step) == 0, "decode step %d failed", s);
        MKT_CHECK(mkref_model_length(m) == n, "length %d after decode step %d", mkref_model_length(m), s);
        mkref_model_reset(check);
        MKT_CHECK(mkref_model_length(check) == 0, "length %d after reset", mkref_model_length(check));
        MKT_CHECK(mkref_model_prefill(check, tokens, n, logits) == 0, "prefill of %d failed", n);
        char what[64];
        snprintf(what, sizeof what, "decode step %d vs prefill of %d tokens", s, n);
        mkt_compare(what, step, logits + (size_t)(n - 1) * VOCAB, VOCAB, TOL, 0);
        /* the earlier rows of a longer prefill are those of the shorter one (causal) */
        snprintf(what, sizeof what, "prefill of %d tokens, first %d rows", n, PROMPT);
        mkt_compare(what, logits, full, (size_t)PROMPT * VOCAB, TOL, 0);
    }

    /* chunked prefill (6 + 5) equals one prefill */
    {
        const int first = 6;
        mkref_model_reset(check);
        for (size_t i = 0; i < sizeof logits / sizeof logits[0]; i++) logits[i] = NAN;
        MKT_CHECK(mkref_model_prefill(check, tokens, first, logits) == 0, "chunk 1 failed");
        MKT_CHECK(mkref_model_prefill(check, tokens + first, PROMPT - first,
                                      logits + (size_t)first * VOCAB) == 0, "chunk 2 failed");
        MKT_CHECK(mkref_model_length(check) == PROMPT, "length %d after chunks",
                  mkref_model_length(check));
        mkt_compare("chunked prefill, first chunk", logits, full, (size_t)first * VOCAB, TOL, 0);
        mkt_compare("chunked prefill, second chunk", logits + (size_t)first * VOCAB,
                    full + (size_t)first * VOCAB, (size_t)(PROMPT - first) * VOCAB, TOL, 0);
    }

    /* reset forgets: the same prompt again gives the same bits */
    mkref_model_reset(m);
    MKT_CHECK(mkref_model_prefill(m, tokens, PROMPT, logits) == 0, "prefill after reset failed");
    MKT_CHECK(memcmp(logits, full, sizeof(float) * PROMPT * VOCAB) == 0,
              "prefill after reset differs from the first prefill");

    /* a different seed gives different logits */
    {
        mkref_model *other = mkref_model_create(&cfg, mkt_seed + 1);
        MKT_CHECK(other != NULL, "create with another seed failed");
        if (other) {
            MKT_CHECK(mkref_model_prefill(other, tokens, PROMPT, logits) == 0, "prefill failed");
            double d = mkt_rel_l2(logits, full, (size_t)PROMPT * VOCAB);
            MKT_CHECK(d > 0.1, "seeds %llu and %llu give logits only %.3e apart",
                      (unsigned long long)mkt_seed, (unsigned long long)(mkt_seed + 1), d);
            mkref_model_destroy(other);
        }
    }

    /* max_positions: a prefill or decode past it returns -1 and changes nothing */
    mkref_model_reset(m);
    MKT_CHECK(mkref_model_prefill(m, tokens, MAXPOS + 1, NULL) == -1,
              "prefill of max_positions + 1 tokens accepted");
    MKT_CHECK(mkref_model_length(m) == 0, "length %d after a refused prefill", mkref_model_length(m));
    MKT_CHECK(mkref_model_prefill(m, tokens, MAXPOS - 4, NULL) == 0, "prefill of %d failed", MAXPOS - 4);
    MKT_CHECK(mkref_model_prefill(m, tokens, 5, NULL) == -1, "prefill past max_positions accepted");
    MKT_CHECK(mkref_model_length(m) == MAXPOS - 4, "length %d after a refused prefill",
              mkref_model_length(m));
    int ok = 1;
    for (int i = MAXPOS - 4; i < MAXPOS; i++) ok &= mkref_model_decode(m, tokens[i], step) == 0;
    MKT_CHECK(ok && mkref_model_length(m) == MAXPOS, "decode up to max_positions failed");
    MKT_CHECK(all_finite(step, VOCAB), "logits at the last position not finite");
    MKT_CHECK(mkref_model_decode(m, tokens[MAXPOS], step) == -1, "decode past max_positions accepted");
    MKT_CHECK(mkref_model_length(m) == MAXPOS, "length %d after a refused decode", mkref_model_length(m));
    /* the full-length sequence decoded through the cache matches one prefill */
    mkref_model_reset(check);
    MKT_CHECK(mkref_model_prefill(check, tokens, MAXPOS, logits) == 0, "prefill of %d failed", MAXPOS);
    mkt_compare("decode at the last position vs prefill", step,
                logits + (size_t)(MAXPOS - 1) * VOCAB, VOCAB, TOL, 0);

    check_bad_configs();
    mkref_model_destroy(m);
    mkref_model_destroy(check);
    return mkt_finish();
}
