/* Presets (tools/models/, embedded) and Hugging Face config.json files, read into
   one mkm_config. See model_config.h. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_config.h"

/* The table cmake/EmbedSources.cmake writes for the JSON files of tools/models/. */
typedef struct { const char *name; const char *text; size_t len; } mk_embedded_source;
extern const mk_embedded_source mk_model_presets[];
extern const int mk_model_preset_count;

/* Sanity bounds: far above any real model, low enough that every product the planner
   forms fits in double and int64 exactly. */
#define MAX_HIDDEN (1 << 17)
#define MAX_HEADS 4096
#define MAX_INTERMEDIATE (1 << 20)
#define MAX_VOCAB (1 << 23)
#define MAX_POSITIONS (1 << 24)
#define MAX_HEAD_DIM 256 /* mk_attention_prefill/decode: D in 1..256 */

static mkm_status fail(char *err, size_t n, mkm_status s, const char *fmt, ...) {
    if (err && n) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, n, fmt, ap);
        va_end(ap);
    }
    return s;
}

const char *mkm_family_name(mkm_family f) {
    switch (f) {
    case MKM_LLAMA: return "llama";
    case MKM_MISTRAL: return "mistral";
    case MKM_GEMMA: return "gemma";
    case MKM_GEMMA3: return "gemma3";
    case MKM_GPT2: return "gpt2";
    }
    return "unknown";
}

/* ---- reading keys */

typedef struct {
    const cJSON *obj;   /* where the keys are read           */
    const char *prefix; /* "" or "text_config." for messages */
    mkm_config *cfg;
    char *err;
    size_t n;
} reader;

static void note_default(reader *r, const char *key) {
    size_t used = strlen(r->cfg->defaulted);
    snprintf(r->cfg->defaulted + used, sizeof r->cfg->defaulted - used, "%s%s%s", used ? ", " : "",
             r->prefix, key);
}

/* The key's item, or NULL when absent or null. */
static const cJSON *item(const reader *r, const char *key) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(r->obj, key);
    return it && !cJSON_IsNull(it) ? it : NULL;
}

static const char *type_of(const cJSON *it) {
    if (cJSON_IsString(it)) return "a string";
    if (cJSON_IsBool(it)) return "a boolean";
    if (cJSON_IsArray(it)) return "an array";
    if (cJSON_IsObject(it)) return "an object";
    return "not a number";
}

/* An integer key in [lo, hi]. Absent: *out = def when has_def (noted), else an error. */
static mkm_status get_int(reader *r, const char *key, int has_def, int def, int lo, int hi, int *out) {
    const cJSON *it = item(r, key);
    if (!it) {
        if (!has_def) return fail(r->err, r->n, MKM_ERR_INVALID, "%s%s is missing", r->prefix, key);
        note_default(r, key);
        *out = def;
        return MKM_OK;
    }
    if (!cJSON_IsNumber(it))
        return fail(r->err, r->n, MKM_ERR_INVALID, "%s%s must be an integer (it is %s)", r->prefix, key, type_of(it));
    double v = it->valuedouble;
    if (!isfinite(v) || v != floor(v))
        return fail(r->err, r->n, MKM_ERR_INVALID, "%s%s is %g (must be an integer)", r->prefix, key, v);
    if (v < lo || v > hi)
        return fail(r->err, r->n, MKM_ERR_INVALID, "%s%s is %.17g (must be in [%d, %d])", r->prefix, key, v, lo, hi);
    *out = (int)v;
    return MKM_OK;
}

/* A number key in (lo, hi] (lo exclusive when lo_open). */
static mkm_status get_num(reader *r, const char *key, int has_def, double def, double lo, int lo_open,
                          double hi, double *out) {
    const cJSON *it = item(r, key);
    if (!it) {
        if (!has_def) return fail(r->err, r->n, MKM_ERR_INVALID, "%s%s is missing", r->prefix, key);
        note_default(r, key);
        *out = def;
        return MKM_OK;
    }
    if (!cJSON_IsNumber(it))
        return fail(r->err, r->n, MKM_ERR_INVALID, "%s%s must be a number (it is %s)", r->prefix, key, type_of(it));
    double v = it->valuedouble;
    if (!isfinite(v) || (lo_open ? v <= lo : v < lo) || v > hi)
        return fail(r->err, r->n, MKM_ERR_INVALID, "%s%s is %g (must be in %c%g, %g])", r->prefix, key, v,
                    lo_open ? '(' : '[', lo, hi);
    *out = v;
    return MKM_OK;
}

static mkm_status get_bool(reader *r, const char *key, int def, int *out) {
    const cJSON *it = item(r, key);
    if (!it) {
        note_default(r, key);
        *out = def;
        return MKM_OK;
    }
    if (!cJSON_IsBool(it))
        return fail(r->err, r->n, MKM_ERR_INVALID, "%s%s must be true or false (it is %s)", r->prefix, key,
                    cJSON_IsNumber(it) ? "a number" : type_of(it));
    *out = cJSON_IsTrue(it);
    return MKM_OK;
}

/* A string key; NULL when absent (or null). Not a string: an error. */
static mkm_status get_str(reader *r, const char *key, const char **out) {
    const cJSON *it = item(r, key);
    *out = NULL;
    if (!it) return MKM_OK;
    if (!cJSON_IsString(it) || !it->valuestring)
        return fail(r->err, r->n, MKM_ERR_INVALID, "%s%s must be a string (it is %s)", r->prefix, key,
                    cJSON_IsNumber(it) ? "a number" : type_of(it));
    *out = it->valuestring;
    return MKM_OK;
}

#define TRY(x)                               \
    do {                                     \
        mkm_status s_ = (x);                 \
        if (s_ != MKM_OK) return s_;         \
    } while (0)

static void add_note(mkm_config *c, const char *fmt, const char *arg) {
    size_t used = strlen(c->notes);
    if (used) snprintf(c->notes + used, sizeof c->notes - used, "; ");
    used = strlen(c->notes);
    snprintf(c->notes + used, sizeof c->notes - used, fmt, arg);
}

/* rope_scaling: null, or {"rope_type" | "type": "linear" | "llama3" | ..., "factor", ...}.
   Types medkern's mk_rope has no mode for are noted and profiled unscaled (the same work). */
static mkm_status read_rope_scaling(reader *r) {
    const cJSON *rs = item(r, "rope_scaling");
    mkm_config *c = r->cfg;
    c->rope_scaling = MKM_ROPE_NONE;
    c->rope_factor = 1.0;
    if (!rs) return MKM_OK;
    if (!cJSON_IsObject(rs))
        return fail(r->err, r->n, MKM_ERR_INVALID, "%srope_scaling must be an object or null (it is %s)",
                    r->prefix, cJSON_IsNumber(rs) ? "a number" : type_of(rs));
    char prefix[48];
    snprintf(prefix, sizeof prefix, "%srope_scaling.", r->prefix);
    reader sub = {rs, prefix, c, r->err, r->n};
    const char *type = NULL;
    TRY(get_str(&sub, "rope_type", &type));
    if (!type) TRY(get_str(&sub, "type", &type));
    if (!type) return fail(r->err, r->n, MKM_ERR_INVALID, "%srope_type is missing", prefix);
    if (!strcmp(type, "linear")) {
        c->rope_scaling = MKM_ROPE_LINEAR;
        TRY(get_num(&sub, "factor", 0, 0, 0, 1, 1e6, &c->rope_factor));
    } else if (!strcmp(type, "llama3")) {
        c->rope_scaling = MKM_ROPE_LLAMA3;
        TRY(get_num(&sub, "factor", 0, 0, 0, 1, 1e6, &c->rope_factor));
        TRY(get_num(&sub, "low_freq_factor", 0, 0, 0, 1, 1e6, &c->rope_low_freq));
        TRY(get_num(&sub, "high_freq_factor", 0, 0, 0, 1, 1e6, &c->rope_high_freq));
        if (c->rope_high_freq <= c->rope_low_freq)
            return fail(r->err, r->n, MKM_ERR_INVALID, "%shigh_freq_factor (%g) must exceed low_freq_factor (%g)",
                        prefix, c->rope_high_freq, c->rope_low_freq);
        TRY(get_int(&sub, "original_max_position_embeddings", 0, 0, 1, MAX_POSITIONS, &c->rope_original_max));
    } else if (!strcmp(type, "default")) {
        /* no scaling */
    } else {
        add_note(c, "rope_scaling type \"%s\" has no mk_rope mode: profiled without scaling (the same work)", type);
    }
    return MKM_OK;
}

/* ---- the families */

static mkm_status read_llama_like(reader *r, mkm_family fam) {
    mkm_config *c = r->cfg;
    const int gemma = fam == MKM_GEMMA;
    TRY(get_int(r, "hidden_size", 0, 0, 1, MAX_HIDDEN, &c->hidden));
    TRY(get_int(r, "num_hidden_layers", 0, 0, 1, MKM_MAX_LAYERS, &c->layers));
    TRY(get_int(r, "num_attention_heads", 0, 0, 1, MAX_HEADS, &c->heads));
    TRY(get_int(r, "num_key_value_heads", 1, c->heads, 1, MAX_HEADS, &c->kv_heads));
    TRY(get_int(r, "intermediate_size", 0, 0, 1, MAX_INTERMEDIATE, &c->intermediate));
    TRY(get_int(r, "vocab_size", 0, 0, 1, MAX_VOCAB, &c->vocab));
    /* LlamaConfig 2048, MistralConfig 4096*32, GemmaConfig 8192 */
    TRY(get_int(r, "max_position_embeddings", 1, fam == MKM_LLAMA ? 2048 : fam == MKM_MISTRAL ? 131072 : 8192, 1,
                MAX_POSITIONS, &c->max_positions));
    if (gemma) {
        TRY(get_int(r, "head_dim", 1, 256, 1, 1 << 20, &c->head_dim));
    } else if (item(r, "head_dim")) {
        TRY(get_int(r, "head_dim", 0, 0, 1, 1 << 20, &c->head_dim));
    } else {
        if (c->hidden % c->heads)
            return fail(r->err, r->n, MKM_ERR_INVALID,
                        "%shidden_size (%d) is not a multiple of num_attention_heads (%d) and head_dim is absent",
                        r->prefix, c->hidden, c->heads);
        c->head_dim = c->hidden / c->heads;
    }
    TRY(get_num(r, "rope_theta", 1, 10000.0, 1.0, 1, 1e12, &c->rope_theta));
    c->rope_local_theta = c->rope_theta;
    TRY(read_rope_scaling(r));
    TRY(get_num(r, "rms_norm_eps", 1, 1e-6, 0.0, 0, 1.0, &c->norm_eps));
    TRY(get_bool(r, "tie_word_embeddings", gemma, &c->tie_embeddings));
    c->sliding_window = 0;
    if (fam == MKM_MISTRAL && item(r, "sliding_window")) {
        TRY(get_int(r, "sliding_window", 0, 0, 1, MAX_POSITIONS, &c->sliding_window));
        memset(c->layer_local, 1, (size_t)c->layers);
    }
    const char *act = NULL;
    if (gemma) {
        TRY(get_str(r, "hidden_activation", &act));
        if (!act) TRY(get_str(r, "hidden_act", &act));
        /* GemmaConfig: hidden_activation null -> gelu_pytorch_tanh; "gelu" runs as tanh too */
        c->activation = act && !strcmp(act, "gelu_exact") ? MKM_ACT_GELU : MKM_ACT_GELU_TANH;
        c->norm_plus_one = 1;
        c->embed_scale = 1;
    } else {
        TRY(get_str(r, "hidden_act", &act));
        if (act && strcmp(act, "silu") && strcmp(act, "swish"))
            return fail(r->err, r->n, MKM_ERR_INVALID, "%shidden_act \"%s\" is not supported for %s (silu)",
                        r->prefix, act, mkm_family_name(fam));
        c->activation = MKM_ACT_SILU;
    }
    c->gated_mlp = 1;
    c->query_pre_attn_scalar = c->head_dim;
    return MKM_OK;
}

static mkm_status read_gemma3(reader *r) {
    mkm_config *c = r->cfg;
    /* Gemma3TextConfig defaults (transformers): real configs list only what differs */
    TRY(get_int(r, "hidden_size", 1, 2304, 1, MAX_HIDDEN, &c->hidden));
    TRY(get_int(r, "num_hidden_layers", 1, 26, 1, MKM_MAX_LAYERS, &c->layers));
    TRY(get_int(r, "num_attention_heads", 1, 8, 1, MAX_HEADS, &c->heads));
    TRY(get_int(r, "num_key_value_heads", 1, 4, 1, MAX_HEADS, &c->kv_heads));
    TRY(get_int(r, "head_dim", 1, 256, 1, 1 << 20, &c->head_dim));
    TRY(get_int(r, "intermediate_size", 1, 9216, 1, MAX_INTERMEDIATE, &c->intermediate));
    TRY(get_int(r, "vocab_size", 1, 262208, 1, MAX_VOCAB, &c->vocab));
    TRY(get_int(r, "max_position_embeddings", 1, 131072, 1, MAX_POSITIONS, &c->max_positions));
    TRY(get_num(r, "rope_theta", 1, 1000000.0, 1.0, 1, 1e12, &c->rope_theta));
    TRY(get_num(r, "rope_local_base_freq", 1, 10000.0, 1.0, 1, 1e12, &c->rope_local_theta));
    TRY(read_rope_scaling(r));
    TRY(get_num(r, "rms_norm_eps", 1, 1e-6, 0.0, 0, 1.0, &c->norm_eps));
    TRY(get_num(r, "query_pre_attn_scalar", 1, 256.0, 0.0, 1, 1e9, &c->query_pre_attn_scalar));
    TRY(get_int(r, "sliding_window", 1, 4096, 1, MAX_POSITIONS, &c->sliding_window));
    TRY(get_bool(r, "tie_word_embeddings", 1, &c->tie_embeddings));
    const cJSON *softcap = item(r, "attn_logit_softcapping");
    if (softcap) add_note(c, "%s", "attn_logit_softcapping is set: medkern profiles without it (Gemma 3 has none)");
    const char *act = NULL;
    TRY(get_str(r, "hidden_activation", &act));
    if (act && strcmp(act, "gelu_pytorch_tanh") && strcmp(act, "gelu"))
        return fail(r->err, r->n, MKM_ERR_INVALID, "%shidden_activation \"%s\" is not supported (gelu_pytorch_tanh)",
                    r->prefix, act);
    /* Which layers are local: layer_types when present, else every sliding_window_pattern-th
       layer is global (transformers: is_sliding = (i + 1) % pattern != 0). */
    const cJSON *types = item(r, "layer_types");
    if (types) {
        if (!cJSON_IsArray(types))
            return fail(r->err, r->n, MKM_ERR_INVALID, "%slayer_types must be an array", r->prefix);
        if (cJSON_GetArraySize(types) != c->layers)
            return fail(r->err, r->n, MKM_ERR_INVALID, "%slayer_types has %d entries but num_hidden_layers is %d",
                        r->prefix, cJSON_GetArraySize(types), c->layers);
        int i = 0;
        const cJSON *t;
        cJSON_ArrayForEach(t, types) {
            if (cJSON_IsString(t) && !strcmp(t->valuestring, "sliding_attention")) c->layer_local[i] = 1;
            else if (cJSON_IsString(t) && !strcmp(t->valuestring, "full_attention")) c->layer_local[i] = 0;
            else
                return fail(r->err, r->n, MKM_ERR_INVALID,
                            "%slayer_types[%d] must be \"sliding_attention\" or \"full_attention\"", r->prefix, i);
            i++;
        }
    } else {
        int pattern;
        TRY(get_int(r, "sliding_window_pattern", 1, 6, 1, MKM_MAX_LAYERS, &pattern));
        for (int i = 0; i < c->layers; i++) c->layer_local[i] = (i + 1) % pattern != 0;
    }
    c->activation = MKM_ACT_GELU_TANH;
    c->gated_mlp = 1;
    c->norm_plus_one = 1;
    c->qk_norm = 1;
    c->sandwich_norms = 1;
    c->embed_scale = 1;
    return MKM_OK;
}

static mkm_status read_gpt2(reader *r) {
    mkm_config *c = r->cfg;
    TRY(get_int(r, "n_embd", 0, 0, 1, MAX_HIDDEN, &c->hidden));
    TRY(get_int(r, "n_layer", 0, 0, 1, MKM_MAX_LAYERS, &c->layers));
    TRY(get_int(r, "n_head", 0, 0, 1, MAX_HEADS, &c->heads));
    TRY(get_int(r, "vocab_size", 0, 0, 1, MAX_VOCAB, &c->vocab));
    if (item(r, "n_positions") || !item(r, "n_ctx"))
        TRY(get_int(r, "n_positions", 1, 1024, 1, MAX_POSITIONS, &c->max_positions));
    else
        TRY(get_int(r, "n_ctx", 0, 0, 1, MAX_POSITIONS, &c->max_positions));
    if (item(r, "n_inner")) {
        TRY(get_int(r, "n_inner", 0, 0, 1, MAX_INTERMEDIATE, &c->intermediate));
    } else {
        if (c->hidden > MAX_INTERMEDIATE / 4)
            return fail(r->err, r->n, MKM_ERR_INVALID, "%sn_embd (%d): 4 * n_embd exceeds %d", r->prefix,
                        c->hidden, MAX_INTERMEDIATE);
        c->intermediate = 4 * c->hidden; /* n_inner null: 4 * n_embd */
    }
    if (c->hidden % c->heads)
        return fail(r->err, r->n, MKM_ERR_INVALID, "%sn_embd (%d) is not a multiple of n_head (%d)", r->prefix,
                    c->hidden, c->heads);
    c->kv_heads = c->heads;
    c->head_dim = c->hidden / c->heads;
    TRY(get_num(r, "layer_norm_epsilon", 1, 1e-5, 0.0, 0, 1.0, &c->norm_eps));
    TRY(get_bool(r, "scale_attn_by_inverse_layer_idx", 0, &c->inverse_layer_scale));
    TRY(get_bool(r, "tie_word_embeddings", 1, &c->tie_embeddings));
    const char *act = NULL;
    TRY(get_str(r, "activation_function", &act));
    if (!act || !strcmp(act, "gelu_new") || !strcmp(act, "gelu_pytorch_tanh") || !strcmp(act, "gelu_fast"))
        c->activation = MKM_ACT_GELU_TANH;
    else if (!strcmp(act, "gelu"))
        c->activation = MKM_ACT_GELU;
    else
        return fail(r->err, r->n, MKM_ERR_INVALID,
                    "%sactivation_function \"%s\" is not supported (gelu_new, gelu)", r->prefix, act);
    c->rope_theta = c->rope_local_theta = 0;
    c->query_pre_attn_scalar = c->head_dim;
    c->layernorm = 1;
    c->linear_bias = 1;
    c->learned_positions = 1;
    return MKM_OK;
}

/* Shapes the kernels cannot run or that contradict each other. */
static mkm_status check_shapes(const mkm_config *c, char *err, size_t n) {
    if (c->heads % c->kv_heads)
        return fail(err, n, MKM_ERR_INVALID,
                    "num_attention_heads (%d) is not a multiple of num_key_value_heads (%d)", c->heads,
                    c->kv_heads);
    if (c->head_dim > MAX_HEAD_DIM)
        return fail(err, n, MKM_ERR_INVALID, "head_dim %d exceeds medkern's attention limit of %d", c->head_dim,
                    MAX_HEAD_DIM);
    if (c->rope_theta > 0 && c->head_dim % 2)
        return fail(err, n, MKM_ERR_INVALID, "head_dim %d is odd (RoPE rotates pairs)", c->head_dim);
    if ((long long)c->heads * c->head_dim > MAX_HIDDEN * 4LL)
        return fail(err, n, MKM_ERR_INVALID, "num_attention_heads * head_dim (%lld) is too large",
                    (long long)c->heads * c->head_dim);
    return MKM_OK;
}

mkm_status mkm_config_from_json(const cJSON *root, mkm_config *out, char *err, size_t n) {
    if (!out) return fail(err, n, MKM_ERR_INVALID, "no output");
    memset(out, 0, sizeof *out);
    snprintf(out->source, sizeof out->source, "config");
    if (!cJSON_IsObject(root)) return fail(err, n, MKM_ERR_INVALID, "the config is not a JSON object");
    reader r = {root, "", out, err, n};
    const char *type = NULL;
    TRY(get_str(&r, "model_type", &type));
    if (!type) return fail(err, n, MKM_ERR_INVALID, "model_type is missing");
    snprintf(out->model_type, sizeof out->model_type, "%s", type);
    mkm_status s;
    if (!strcmp(type, "llama") || !strcmp(type, "mistral") || !strcmp(type, "gemma")) {
        out->family = !strcmp(type, "llama") ? MKM_LLAMA : !strcmp(type, "mistral") ? MKM_MISTRAL : MKM_GEMMA;
        s = read_llama_like(&r, out->family);
    } else if (!strcmp(type, "gemma3") || !strcmp(type, "gemma3_text")) {
        out->family = MKM_GEMMA3;
        if (!strcmp(type, "gemma3")) {
            const cJSON *tc = cJSON_GetObjectItemCaseSensitive(root, "text_config");
            if (!tc || cJSON_IsNull(tc))
                return fail(err, n, MKM_ERR_INVALID, "text_config is missing (model_type gemma3)");
            if (!cJSON_IsObject(tc)) return fail(err, n, MKM_ERR_INVALID, "text_config must be an object");
            r.obj = tc;
            r.prefix = "text_config.";
        }
        s = read_gemma3(&r);
    } else if (!strcmp(type, "gpt2")) {
        out->family = MKM_GPT2;
        s = read_gpt2(&r);
    } else {
        return fail(err, n, MKM_ERR_INVALID,
                    "model_type \"%s\" is not supported (llama, mistral, gemma, gemma3, gemma3_text, gpt2)", type);
    }
    if (s != MKM_OK) return s;
    return check_shapes(out, err, n);
}

mkm_status mkm_parse_config(const char *text, size_t len, mkm_config *out, char *err, size_t n) {
    if (!text) return fail(err, n, MKM_ERR_INVALID, "no text");
    cJSON *root = cJSON_ParseWithLength(text, len);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        long off = at && at >= text && at <= text + len ? (long)(at - text) : -1;
        if (off >= 0)
            return fail(err, n, MKM_ERR_INVALID, "not valid JSON (parse error at byte %ld of %zu%s)", off, len,
                        (size_t)off >= len ? ": truncated?" : "");
        return fail(err, n, MKM_ERR_INVALID, "not valid JSON");
    }
    mkm_status s = mkm_config_from_json(root, out, err, n);
    cJSON_Delete(root);
    return s;
}

mkm_status mkm_load_file(const char *path, mkm_config *out, char *err, size_t n) {
    FILE *f = fopen(path, "rb");
    if (!f) return fail(err, n, MKM_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    const size_t cap = 16u << 20;
    char *buf = malloc(cap + 1);
    if (!buf) {
        fclose(f);
        return fail(err, n, MKM_ERR_IO, "out of memory reading %s", path);
    }
    size_t len = fread(buf, 1, cap + 1, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || len > cap) {
        free(buf);
        return fail(err, n, MKM_ERR_IO, bad ? "cannot read %s" : "%s is larger than 16 MiB", path);
    }
    char why[320];
    mkm_status s = mkm_parse_config(buf, len, out, why, sizeof why);
    free(buf);
    if (s != MKM_OK) return fail(err, n, s, "%s: %s", path, why);
    snprintf(out->source, sizeof out->source, "config");
    snprintf(out->config_path, sizeof out->config_path, "%s", path);
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(out->name, sizeof out->name, "%s", base);
    size_t bl = strlen(out->name);
    if (bl > 5 && !strcmp(out->name + bl - 5, ".json")) out->name[bl - 5] = 0;
    return MKM_OK;
}

int mkm_local_layers(const mkm_config *c) {
    int k = 0;
    for (int i = 0; i < c->layers && i < MKM_MAX_LAYERS; i++) k += c->layer_local[i] != 0;
    return k;
}

/* ---- presets */

int mkm_preset_count(void) { return mk_model_preset_count; }

/* Preset i's name: its file name without ".json" (the file's "name" must match). */
int mkm_preset_name(int i, char *out, size_t n) {
    if (i < 0 || i >= mk_model_preset_count || !out || !n) return -1;
    snprintf(out, n, "%s", mk_model_presets[i].name);
    size_t l = strlen(out);
    if (l > 5 && !strcmp(out + l - 5, ".json")) out[l - 5] = 0;
    return 0;
}

static void copy_str(const cJSON *obj, const char *key, char *dst, size_t n) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    dst[0] = 0;
    if (cJSON_IsString(it) && it->valuestring) snprintf(dst, n, "%s", it->valuestring);
}

mkm_status mkm_load_preset(const char *name, mkm_config *out, char *err, size_t n) {
    int found = -1;
    char pn[128];
    for (int i = 0; i < mk_model_preset_count && name; i++)
        if (mkm_preset_name(i, pn, sizeof pn) == 0 && !strcmp(pn, name)) found = i;
    if (found < 0) {
        char near[256] = "";
        for (int i = 0; i < mk_model_preset_count && name && name[0]; i++) {
            mkm_preset_name(i, pn, sizeof pn);
            size_t k = 0;
            while (pn[k] && name[k] && tolower((unsigned char)pn[k]) == tolower((unsigned char)name[k])) k++;
            if (k >= 4 || strstr(pn, name)) {
                size_t used = strlen(near);
                snprintf(near + used, sizeof near - used, "%s%s", used ? ", " : "", pn);
            }
        }
        return fail(err, n, MKM_ERR_NOT_FOUND, "unknown model \"%s\"%s%s%s (medkern profile --list shows the presets)",
                    name ? name : "", near[0] ? "; did you mean " : "", near, near[0] ? "?" : "");
    }
    mkm_preset_name(found, pn, sizeof pn);
    const mk_embedded_source *p = &mk_model_presets[found];
    cJSON *root = cJSON_ParseWithLength(p->text, p->len);
    if (!root) return fail(err, n, MKM_ERR_INVALID, "preset %s: not valid JSON", p->name);
    char why[320];
    mkm_status s = mkm_config_from_json(cJSON_GetObjectItemCaseSensitive(root, "config"), out, why, sizeof why);
    if (s == MKM_OK) {
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(root, "name");
        if (!cJSON_IsString(nm) || strcmp(nm->valuestring, pn))
            s = fail(why, sizeof why, MKM_ERR_INVALID, "its \"name\" differs from its file name");
    }
    if (s != MKM_OK) {
        cJSON_Delete(root);
        return fail(err, n, MKM_ERR_INVALID, "preset %s: %s", p->name, why);
    }
    snprintf(out->name, sizeof out->name, "%s", pn);
    snprintf(out->source, sizeof out->source, "preset");
    copy_str(root, "hf_id", out->hf_id, sizeof out->hf_id);
    copy_str(root, "verification", out->verification, sizeof out->verification);
    copy_str(root, "source", out->provenance, sizeof out->provenance);
    cJSON_Delete(root);
    return MKM_OK;
}
