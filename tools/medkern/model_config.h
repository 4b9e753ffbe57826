/*
 * Model shapes for `medkern profile`: the presets of tools/models/ (one JSON file per
 * model, embedded at build time) and Hugging Face config.json files, read into one
 * normalized struct.
 *
 * Families: Llama (model_type "llama"), Mistral ("mistral"), Gemma ("gemma"), Gemma 3
 * ("gemma3" with its "text_config", or "gemma3_text") and GPT-2 ("gpt2"). Absent keys
 * take the defaults of the transformers config class of the family where real
 * checkpoints rely on them (Gemma 3's text_config lists only what differs from
 * Gemma3TextConfig); the core shapes of Llama, Mistral, Gemma and GPT-2 are required.
 * Every default taken is listed in mkm_config.defaulted, so a report can say so.
 *
 * Plain C on cJSON and libc (no medkern call): the fuzzer and the tests compile it.
 */
#ifndef MEDKERN_TOOLS_MODEL_CONFIG_H
#define MEDKERN_TOOLS_MODEL_CONFIG_H

#include <stddef.h>

#include <cjson/cJSON.h>

#define MKM_MAX_LAYERS 1024

typedef enum { MKM_LLAMA = 0, MKM_MISTRAL, MKM_GEMMA, MKM_GEMMA3, MKM_GPT2 } mkm_family;
typedef enum { MKM_ACT_SILU = 0, MKM_ACT_GELU_TANH, MKM_ACT_GELU } mkm_activation;
typedef enum { MKM_ROPE_NONE = 0, MKM_ROPE_LINEAR, MKM_ROPE_LLAMA3 } mkm_rope_scaling;

typedef enum {
    MKM_OK = 0,
    MKM_ERR_INVALID = -1,   /* malformed JSON or impossible shapes: the message names the key */
    MKM_ERR_NOT_FOUND = -2, /* no preset of that name                                       */
    MKM_ERR_IO = -3         /* the file could not be read                                   */
} mkm_status;

typedef struct {
    char name[128];          /* preset name, or the config file's base name             */
    char source[8];          /* "preset" or "config"                                    */
    char config_path[512];   /* the file read ("" for a preset)                         */
    char hf_id[128];         /* "" when unknown                                         */
    char verification[256];  /* presets: how the facts were checked                     */
    char provenance[640];    /* presets: where the facts come from                      */
    char model_type[32];     /* as the config names it ("gemma3", "gemma3_text", ...)   */
    mkm_family family;

    int hidden;              /* hidden_size / n_embd                                    */
    int layers;              /* num_hidden_layers / n_layer                              */
    int heads;               /* num_attention_heads (Hq)                                 */
    int kv_heads;            /* num_key_value_heads (Hkv)                                */
    int head_dim;            /* D                                                        */
    int intermediate;        /* MLP width                                                */
    int vocab;
    int max_positions;
    int sliding_window;      /* keys a windowed layer sees, itself included; 0 = none   */
    unsigned char layer_local[MKM_MAX_LAYERS]; /* 1: the layer uses the sliding window */

    double rope_theta;       /* RoPE base of global (non-windowed) layers; 0 = no RoPE   */
    double rope_local_theta; /* RoPE base of windowed layers (Gemma 3's rope_local_base_freq) */
    mkm_rope_scaling rope_scaling; /* applies to the layers with rope_theta              */
    double rope_factor, rope_low_freq, rope_high_freq;
    int rope_original_max;
    double norm_eps;
    double query_pre_attn_scalar; /* attention scale = 1/sqrt(this)                      */

    mkm_activation activation;
    int gated_mlp;           /* act(x.Wg) * (x.Wu); else act(x.W1)                       */
    int layernorm;           /* LayerNorm with bias (GPT-2); else RMSNorm               */
    int norm_plus_one;       /* Gemma's RMSNorm: x * (1 + w)                             */
    int qk_norm;             /* Gemma 3: RMSNorm of q and k over the head dim           */
    int sandwich_norms;      /* Gemma 3: norms after attention and after the MLP too    */
    int embed_scale;         /* Gemma: embeddings times sqrt(hidden)                     */
    int linear_bias;         /* GPT-2: a bias on every linear layer                     */
    int learned_positions;   /* GPT-2: position embeddings instead of RoPE              */
    int inverse_layer_scale; /* GPT-2 scale_attn_by_inverse_layer_idx                   */
    int tie_embeddings;      /* the LM head is the embedding table                      */

    char defaulted[384];     /* keys absent from the file whose defaults were taken     */
    char notes[384];         /* things read but not modelled (e.g. an unknown rope_scaling) */
} mkm_config;

const char *mkm_family_name(mkm_family f);

/* The embedded presets, in name order. */
int mkm_preset_count(void);
/* Preset i's name into out (its file name without ".json"); -1 when i is out of range. */
int mkm_preset_name(int i, char *out, size_t n);
/* Loads a preset by name (MKM_ERR_NOT_FOUND with a message listing close names). */
mkm_status mkm_load_preset(const char *name, mkm_config *out, char *err, size_t n);

/* Reads a config.json text of len bytes (need not be NUL-terminated). */
mkm_status mkm_parse_config(const char *text, size_t len, mkm_config *out, char *err, size_t n);
/* The same from a parsed JSON object. */
mkm_status mkm_config_from_json(const cJSON *root, mkm_config *out, char *err, size_t n);
/* Reads the file (at most 16 MiB); name = its base name without ".json". */
mkm_status mkm_load_file(const char *path, mkm_config *out, char *err, size_t n);

/* Layers using the sliding window / not. */
int mkm_local_layers(const mkm_config *c);

#endif
