/*
 * The model reader of `medkern profile` (tools/medkern/model_config.c): Hugging Face
 * config.json files of every family (tests/data/configs/, written like the real files:
 * extra keys, Gemma 3's nested text_config that lists only what differs from the
 * defaults, GPT-2's n_* keys with n_inner null), the embedded presets, and malformed,
 * truncated and impossible files, whose message must name the key at fault.
 *
 * Expected values are the numbers in the files (or, for absent keys, transformers'
 * defaults of the family's config class: LlamaConfig, Gemma3TextConfig, GPT2Config).
 */
#include <stdlib.h>
#include <string.h>

#include "model_config.h"
#include "mktest.h"

static char dir[1024];

static const char *path_of(const char *name) {
    static char p[1200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return p;
}

static mkm_config load_ok(const char *name) {
    mkm_config c;
    char err[512] = "";
    mkm_status s = mkm_load_file(path_of(name), &c, err, sizeof err);
    MKT_CHECK(s == MKM_OK, "%s: status %d: %s", name, (int)s, err);
    return c;
}

static void load_bad(const char *name, const char *needle) {
    mkm_config c;
    char err[512] = "";
    mkm_status s = mkm_load_file(path_of(name), &c, err, sizeof err);
    MKT_CHECK(s == MKM_ERR_INVALID, "%s: status %d, want MKM_ERR_INVALID (%s)", name, (int)s, err);
    MKT_CHECK(strstr(err, needle) != NULL, "%s: message \"%s\" lacks \"%s\"", name, err, needle);
    MKT_CHECK(strstr(err, name) != NULL, "%s: message \"%s\" does not name the file", name, err);
}

static void parse_bad(const char *what, const char *text, const char *needle) {
    mkm_config c;
    char err[512] = "";
    mkm_status s = mkm_parse_config(text, strlen(text), &c, err, sizeof err);
    MKT_CHECK(s == MKM_ERR_INVALID, "%s: status %d, want MKM_ERR_INVALID (%s)", what, (int)s, err);
    MKT_CHECK(strstr(err, needle) != NULL, "%s: message \"%s\" lacks \"%s\"", what, err, needle);
}

#define EQ(what, got, want) MKT_CHECK((got) == (want), "%s: %s = %g, want %g", what, #got, (double)(got), (double)(want))

static void llama_family(void) {
    mkm_config c = load_ok("llama3-8b.json");
    EQ("llama3-8b", c.family, MKM_LLAMA);
    EQ("llama3-8b", c.hidden, 4096);
    EQ("llama3-8b", c.layers, 32);
    EQ("llama3-8b", c.heads, 32);
    EQ("llama3-8b", c.kv_heads, 8);
    EQ("llama3-8b", c.head_dim, 128); /* absent: hidden / heads */
    EQ("llama3-8b", c.intermediate, 14336);
    EQ("llama3-8b", c.vocab, 128256);
    EQ("llama3-8b", c.max_positions, 8192);
    EQ("llama3-8b", c.rope_theta, 500000.0);
    EQ("llama3-8b", c.rope_scaling, MKM_ROPE_NONE);
    EQ("llama3-8b", c.norm_eps, 1e-5);
    EQ("llama3-8b", c.tie_embeddings, 0);
    EQ("llama3-8b", c.sliding_window, 0);
    EQ("llama3-8b", mkm_local_layers(&c), 0);
    EQ("llama3-8b", c.activation, MKM_ACT_SILU);
    EQ("llama3-8b", c.gated_mlp, 1);
    EQ("llama3-8b", c.layernorm + c.qk_norm + c.norm_plus_one + c.linear_bias + c.learned_positions, 0);
    EQ("llama3-8b", c.query_pre_attn_scalar, 128);
    MKT_CHECK(!strcmp(c.name, "llama3-8b") && !strcmp(c.source, "config") && strstr(c.config_path, "llama3-8b.json"),
              "llama3-8b: name %s, source %s, path %s", c.name, c.source, c.config_path);
    MKT_CHECK(c.defaulted[0] == 0, "llama3-8b: nothing should be defaulted, got \"%s\"", c.defaulted);

    c = load_ok("llama31-8b.json");
    EQ("llama31-8b", c.rope_scaling, MKM_ROPE_LLAMA3);
    EQ("llama31-8b", c.rope_factor, 8.0);
    EQ("llama31-8b", c.rope_low_freq, 1.0);
    EQ("llama31-8b", c.rope_high_freq, 4.0);
    EQ("llama31-8b", c.rope_original_max, 8192);
    EQ("llama31-8b", c.max_positions, 131072);

    /* only the required keys: LlamaConfig's defaults fill the rest, and say so */
    c = load_ok("llama2-7b-minimal.json");
    EQ("llama2-7b-minimal", c.kv_heads, 32);
    EQ("llama2-7b-minimal", c.max_positions, 2048);
    EQ("llama2-7b-minimal", c.rope_theta, 10000.0);
    EQ("llama2-7b-minimal", c.norm_eps, 1e-6);
    EQ("llama2-7b-minimal", c.vocab, 32001);
    const char *keys[] = {"num_key_value_heads", "max_position_embeddings", "rope_theta", "rms_norm_eps",
                          "tie_word_embeddings"};
    for (int i = 0; i < 5; i++)
        MKT_CHECK(strstr(c.defaulted, keys[i]) != NULL, "llama2-7b-minimal: defaulted \"%s\" lacks %s", c.defaulted,
                  keys[i]);

    c = load_ok("mistral-7b.json");
    EQ("mistral-7b", c.family, MKM_MISTRAL);
    EQ("mistral-7b", c.sliding_window, 4096);
    EQ("mistral-7b", mkm_local_layers(&c), 32); /* every Mistral layer is windowed */
    EQ("mistral-7b", c.kv_heads, 8);
    EQ("mistral-7b", c.max_positions, 32768);
}

static void gemma3_family(void) {
    /* the real gemma-3-4b-it layout: text_config lists 6 keys, Gemma3TextConfig the rest */
    mkm_config c = load_ok("gemma3-4b.json");
    EQ("gemma3-4b", c.family, MKM_GEMMA3);
    EQ("gemma3-4b", c.hidden, 2560);
    EQ("gemma3-4b", c.layers, 34);
    EQ("gemma3-4b", c.heads, 8);
    EQ("gemma3-4b", c.kv_heads, 4);
    EQ("gemma3-4b", c.head_dim, 256);
    EQ("gemma3-4b", c.intermediate, 10240);
    EQ("gemma3-4b", c.vocab, 262208);
    EQ("gemma3-4b", c.max_positions, 131072);
    EQ("gemma3-4b", c.sliding_window, 1024);
    EQ("gemma3-4b", c.query_pre_attn_scalar, 256);
    EQ("gemma3-4b", c.rope_theta, 1e6);
    EQ("gemma3-4b", c.rope_local_theta, 1e4);
    EQ("gemma3-4b", c.rope_scaling, MKM_ROPE_LINEAR);
    EQ("gemma3-4b", c.rope_factor, 8.0);
    EQ("gemma3-4b", c.norm_eps, 1e-6);
    EQ("gemma3-4b", c.tie_embeddings, 1);
    EQ("gemma3-4b", c.activation, MKM_ACT_GELU_TANH);
    EQ("gemma3-4b", c.qk_norm + c.sandwich_norms + c.norm_plus_one + c.embed_scale, 4);
    /* sliding_window_pattern 6: layers 5, 11, 17, 23, 29 are global, the 29 others local */
    EQ("gemma3-4b", mkm_local_layers(&c), 29);
    for (int i = 0; i < 34; i++)
        MKT_CHECK(c.layer_local[i] == ((i + 1) % 6 != 0), "gemma3-4b: layer %d local = %d", i, c.layer_local[i]);
    MKT_CHECK(strstr(c.defaulted, "text_config.num_attention_heads") && strstr(c.defaulted, "text_config.head_dim") &&
                  strstr(c.defaulted, "text_config.query_pre_attn_scalar"),
              "gemma3-4b: defaulted \"%s\" lacks the Gemma3TextConfig defaults", c.defaulted);

    /* gemma3_text at the top level, layer_types instead of the pattern, head_dim != hidden/heads */
    c = load_ok("gemma3-text-layer-types.json");
    EQ("gemma3-text", c.family, MKM_GEMMA3);
    EQ("gemma3-text", c.kv_heads, 1);
    EQ("gemma3-text", c.head_dim, 256);
    EQ("gemma3-text", c.rope_scaling, MKM_ROPE_NONE);
    const unsigned char want[6] = {1, 0, 1, 1, 1, 0};
    for (int i = 0; i < 6; i++) EQ("gemma3-text layer_types", c.layer_local[i], want[i]);
}

static void gpt2_family(void) {
    mkm_config c = load_ok("gpt2-biomedlm.json");
    EQ("biomedlm", c.family, MKM_GPT2);
    EQ("biomedlm", c.hidden, 2560);
    EQ("biomedlm", c.layers, 32);
    EQ("biomedlm", c.heads, 20);
    EQ("biomedlm", c.kv_heads, 20);
    EQ("biomedlm", c.head_dim, 128);
    EQ("biomedlm", c.intermediate, 10240); /* n_inner null: 4 * n_embd */
    EQ("biomedlm", c.vocab, 28896);
    EQ("biomedlm", c.max_positions, 1024);
    EQ("biomedlm", c.norm_eps, 1e-5);
    EQ("biomedlm", c.layernorm + c.linear_bias + c.learned_positions + c.inverse_layer_scale, 4);
    EQ("biomedlm", c.gated_mlp, 0);
    EQ("biomedlm", c.rope_theta, 0); /* no RoPE */
    EQ("biomedlm", c.tie_embeddings, 1);
    EQ("biomedlm", c.activation, MKM_ACT_GELU_TANH);
    MKT_CHECK(strstr(c.defaulted, "tie_word_embeddings") != NULL, "biomedlm: defaulted \"%s\"", c.defaulted);
}

static void presets(void) {
    char name[128], err[512];
    int n = mkm_preset_count();
    MKT_CHECK(n >= 20, "only %d presets", n);
    for (int i = 0; i < n; i++) {
        mkm_config c;
        MKT_CHECK(mkm_preset_name(i, name, sizeof name) == 0, "preset %d has no name", i);
        mkm_status s = mkm_load_preset(name, &c, err, sizeof err);
        MKT_CHECK(s == MKM_OK, "preset %s: %s", name, err);
        if (s != MKM_OK) continue;
        MKT_CHECK(!strcmp(c.name, name) && !strcmp(c.source, "preset") && !c.config_path[0], "preset %s: name %s source %s",
                  name, c.name, c.source);
        MKT_CHECK(c.verification[0] && c.provenance[0], "preset %s: no verification or source text", name);
        /* a preset writes every value out: nothing may come from a default */
        MKT_CHECK(!c.defaulted[0], "preset %s relies on defaults: %s", name, c.defaulted);
        MKT_CHECK(c.heads % c.kv_heads == 0 && c.head_dim <= 256, "preset %s: impossible shape", name);
    }
    MKT_CHECK(mkm_preset_name(n, name, sizeof name) == -1 && mkm_preset_name(-1, name, sizeof name) == -1,
              "preset names out of range must fail");

    mkm_config c;
    MKT_CHECK(mkm_load_preset("meditron-7b", &c, err, sizeof err) == MKM_OK, "meditron-7b: %s", err);
    EQ("meditron-7b", c.vocab, 32017);
    EQ("meditron-7b", c.max_positions, 2048);
    EQ("meditron-7b", c.kv_heads, 32);
    MKT_CHECK(!strcmp(c.hf_id, "epfl-llm/meditron-7b"), "meditron-7b: hf_id %s", c.hf_id);
    /* medgemma-4b-it: the same shapes as the Gemma 3 4B config.json read above */
    mkm_config g = load_ok("gemma3-4b.json");
    MKT_CHECK(mkm_load_preset("medgemma-4b-it", &c, err, sizeof err) == MKM_OK, "medgemma-4b-it: %s", err);
    MKT_CHECK(c.hidden == g.hidden && c.layers == g.layers && c.heads == g.heads && c.kv_heads == g.kv_heads &&
                  c.head_dim == g.head_dim && c.intermediate == g.intermediate && c.vocab == g.vocab &&
                  c.sliding_window == g.sliding_window && !memcmp(c.layer_local, g.layer_local, sizeof c.layer_local) &&
                  c.rope_theta == g.rope_theta && c.rope_local_theta == g.rope_local_theta &&
                  c.query_pre_attn_scalar == g.query_pre_attn_scalar && c.rope_factor == g.rope_factor,
              "medgemma-4b-it differs from the Gemma 3 4B config");
    MKT_CHECK(mkm_load_preset("medgemma-27b-text-it", &c, err, sizeof err) == MKM_OK, "medgemma-27b: %s", err);
    EQ("medgemma-27b", c.query_pre_attn_scalar, 168); /* hidden / heads, not head_dim */
    EQ("medgemma-27b", mkm_local_layers(&c), 52);
    MKT_CHECK(mkm_load_preset("biomistral-7b", &c, err, sizeof err) == MKM_OK && c.sliding_window == 4096,
              "biomistral-7b: sliding window");
    MKT_CHECK(mkm_load_preset("biomedlm-2.7b", &c, err, sizeof err) == MKM_OK && c.inverse_layer_scale && c.layernorm,
              "biomedlm-2.7b: GPT-2 traits");

    mkm_status s = mkm_load_preset("meditron-8b", &c, err, sizeof err);
    MKT_CHECK(s == MKM_ERR_NOT_FOUND && strstr(err, "unknown model \"meditron-8b\"") && strstr(err, "meditron3-8b"),
              "unknown preset: status %d, \"%s\"", (int)s, err);
}

static void bad_files(void) {
    load_bad("bad-truncated.json", "not valid JSON");
    load_bad("bad-truncated.json", "truncated");
    load_bad("bad-zero-layers.json", "num_hidden_layers is 0");
    load_bad("bad-gqa.json", "num_attention_heads (32) is not a multiple of num_key_value_heads (5)");
    load_bad("bad-head-dim.json", "hidden_size (4000) is not a multiple of num_attention_heads (48)");
    load_bad("bad-missing-hidden.json", "hidden_size is missing");
    load_bad("bad-string-hidden.json", "hidden_size must be an integer (it is a string)");
    load_bad("bad-model-type.json", "model_type \"qwen2\" is not supported");
    load_bad("bad-gemma3-no-text-config.json", "text_config is missing");
    load_bad("bad-layer-types.json", "layer_types has 2 entries but num_hidden_layers is 4");
    load_bad("bad-not-object.json", "not a JSON object");
    mkm_config c;
    char err[512];
    mkm_status s = mkm_load_file(path_of("no-such-config.json"), &c, err, sizeof err);
    MKT_CHECK(s == MKM_ERR_IO && strstr(err, "no-such-config.json"), "missing file: status %d, %s", (int)s, err);

    parse_bad("fractional", "{\"model_type\": \"llama\", \"hidden_size\": 4096.5}", "hidden_size is 4096.5 (must be an integer)");
    parse_bad("negative", "{\"model_type\": \"llama\", \"hidden_size\": -4096}", "hidden_size is -4096");
    parse_bad("huge", "{\"model_type\": \"llama\", \"hidden_size\": 1e300}", "hidden_size is");
    parse_bad("head_dim 512",
              "{\"model_type\": \"gemma3_text\", \"head_dim\": 512}", "head_dim 512 exceeds medkern's attention limit of 256");
    parse_bad("odd head_dim",
              "{\"model_type\": \"llama\", \"hidden_size\": 99, \"intermediate_size\": 8, \"num_attention_heads\": 1, "
              "\"num_hidden_layers\": 1, \"vocab_size\": 8}",
              "head_dim 99 is odd");
    parse_bad("no model_type", "{\"hidden_size\": 4096}", "model_type is missing");
    parse_bad("rope type", "{\"model_type\": \"llama\", \"hidden_size\": 64, \"intermediate_size\": 8, "
              "\"num_attention_heads\": 1, \"num_hidden_layers\": 1, \"vocab_size\": 8, \"rope_scaling\": {\"factor\": 2}}",
              "rope_scaling.rope_type is missing");
    parse_bad("llama3 rope", "{\"model_type\": \"llama\", \"hidden_size\": 64, \"intermediate_size\": 8, "
              "\"num_attention_heads\": 1, \"num_hidden_layers\": 1, \"vocab_size\": 8, \"rope_scaling\": "
              "{\"rope_type\": \"llama3\", \"factor\": 8, \"low_freq_factor\": 4, \"high_freq_factor\": 1, "
              "\"original_max_position_embeddings\": 8192}}",
              "high_freq_factor (1) must exceed low_freq_factor (4)");
    parse_bad("bool as number", "{\"model_type\": \"gpt2\", \"n_embd\": 64, \"n_layer\": 1, \"n_head\": 2, "
              "\"vocab_size\": 10, \"tie_word_embeddings\": 1}", "tie_word_embeddings must be true or false");
    parse_bad("gpt2 act", "{\"model_type\": \"gpt2\", \"n_embd\": 64, \"n_layer\": 1, \"n_head\": 2, "
              "\"vocab_size\": 10, \"activation_function\": \"relu\"}", "activation_function \"relu\" is not supported");
    parse_bad("gemma3 text_config type", "{\"model_type\": \"gemma3\", \"text_config\": 3}", "text_config must be an object");

    /* every prefix of a good file is rejected (never read past the end, never accepted) */
    FILE *f = fopen(path_of("gemma3-4b.json"), "rb");
    char text[8192];
    size_t len = f ? fread(text, 1, sizeof text, f) : 0;
    if (f) fclose(f);
    MKT_CHECK(len > 100 && len < sizeof text, "gemma3-4b.json: read %zu bytes", len);
    int accepted = 0;
    for (size_t cut = 0; cut + 2 < len; cut++) {
        char *copy = mkt_alloc(cut); /* exactly cut bytes: a read past them is an error under ASan/valgrind */
        memcpy(copy, text, cut);
        accepted += mkm_parse_config(copy, cut, &c, err, sizeof err) == MKM_OK;
        free(copy);
    }
    MKT_CHECK(accepted == 0, "%d truncated prefixes of gemma3-4b.json were accepted", accepted);
}

int main(int argc, char **argv) {
    mkt_init(argc, argv, "model_config");
    const char *src = getenv("MEDKERN_SOURCE_DIR");
    if (!src) mkt_skip("MEDKERN_SOURCE_DIR is not set (ctest sets it)");
    snprintf(dir, sizeof dir, "%s/tests/data/configs", src);
    llama_family();
    gemma3_family();
    gpt2_family();
    presets();
    bad_files();
    return mkt_finish();
}
