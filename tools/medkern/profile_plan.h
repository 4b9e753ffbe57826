/*
 * The layer plan of `medkern profile`: for a model (mkm_config) and a workload (batch,
 * prompt, generated tokens, number formats), the ordered list of op calls a forward pass
 * makes in each phase (prefill, decode), each with its shape and with the FLOPs and bytes
 * it moves, counted by the rules of docs/profiling.md. The executor (profile_run.c) runs
 * the steps in this order; the report (profile_report.c) reads the counts from here.
 *
 * Counting is pure arithmetic on the shapes (no device, no allocation): the unit test
 * checks it against hand computations.
 */
#ifndef MEDKERN_TOOLS_PROFILE_PLAN_H
#define MEDKERN_TOOLS_PROFILE_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "medkern/medkern.h"
#include "model_config.h"

typedef enum { MKP_PREFILL = 0, MKP_DECODE = 1, MKP_PHASES = 2 } mkp_phase;
/* Layer kinds: global (full attention) and local (sliding window). A model has one or both. */
typedef enum { MKP_KIND_GLOBAL = 0, MKP_KIND_LOCAL = 1, MKP_KINDS = 2 } mkp_kind;

/* Weight formats (--weights). F32 is internal: --validate runs f32 weights and activations. */
typedef enum { MKP_W_F16 = 0, MKP_W_BF16, MKP_W_W4G128, MKP_W_W8, MKP_W_W8A8, MKP_W_FP8, MKP_W_F32 } mkp_weights;
/* KV cache formats (--kv); F32 internal as above. */
typedef enum { MKP_KV_F16 = 0, MKP_KV_BF16, MKP_KV_INT8, MKP_KV_FP8, MKP_KV_F32 } mkp_kv;

typedef enum {
    MKP_EMBED_ADD = 0,    /* GPT-2: token + position embeddings (both gathered by device
                             copies before the pass: input preparation, not a step)   */
    MKP_ATTN_NORM,
    MKP_QKV_PROJ,         /* fused q, k, v projection                                */
    MKP_Q_PROJ, MKP_K_PROJ, MKP_V_PROJ, /* Gemma 3: separate (q and k are normed alone) */
    MKP_Q_NORM, MKP_K_NORM, /* Gemma 3 QK-norm over the head dim                     */
    MKP_ROPE_Q, MKP_ROPE_K,
    MKP_KV_APPEND,
    MKP_ATTENTION,        /* prefill: mk_attention_prefill; decode: mk_attention_decode */
    MKP_O_PROJ,
    MKP_ATTN_POST_NORM,   /* Gemma 3 */
    MKP_ATTN_RESIDUAL,
    MKP_MLP_NORM,
    MKP_MLP_UP,           /* fused gate+up (gated MLPs) or GPT-2's c_fc              */
    MKP_MLP_ACT,          /* silu_mul / gelu_mul                                      */
    MKP_MLP_DOWN,
    MKP_MLP_POST_NORM,    /* Gemma 3 */
    MKP_MLP_RESIDUAL,
    MKP_FINAL_NORM,
    MKP_LM_HEAD,
    MKP_STEP_IDS
} mkp_step_id;

#define MKP_MAX_STEPS 32

typedef struct {
    mkp_step_id id;
    char name[32];     /* "attn.qkv_proj": unique within a phase                          */
    char op[24];       /* mk op name ("gemm", "qgemm", "rmsnorm", ...)                    */
    int per_layer;     /* 1: runs once in every layer of a kind in `kinds`; 0: once a pass */
    unsigned kinds;    /* bit k set: layers of kind k run it (per_layer steps)           */
    int64_t m, n, k;   /* the shape of one call (decode: the first step's):
                          GEMM: rows M, out N, in K; norm/activation/add: rows, width, 0;
                          rope/kv_append: tokens, heads, head dim; attention: tokens (q),
                          Hq, D                                                            */
    int window;        /* attention: keys a query sees (itself included); 0 = all          */
    double layers;     /* layers that run it (1 for once-a-pass steps)                     */
    double calls;      /* over the phase: layers x (1 in prefill, gen in decode)           */
    double flops;      /* over the phase, all those layers, every decode step              */
    double bytes;
} mkp_step;

typedef struct {
    mkp_weights weights;
    mkp_kv kv;
    int batch;         /* sequences                              */
    int prompt;        /* prompt tokens per sequence             */
    int gen;           /* decode steps (new tokens per sequence) */
    int block_size;    /* KV cache block size in tokens          */
} mkp_settings;

typedef struct {
    mkm_config model;
    mkp_settings set;
    mk_dtype act;               /* activations and dense weights: F16, BF16 (or F32)      */
    mk_dtype kv_dtype;
    int kind_of[MKM_MAX_LAYERS];/* mkp_kind of each layer                                  */
    int kind_layers[MKP_KINDS]; /* layers of each kind                                     */
    int kinds;                  /* bit k set: the model has layers of kind k               */
    int window[MKP_KINDS];      /* attention window of each kind (0 = none)                */
    int64_t qkv_width;          /* (Hq + 2 Hkv) D                                          */
    int64_t up_width;           /* 2 I (gated) or I                                        */
    int blocks_per_seq;         /* ceil((prompt + gen) / block_size)                       */
    int64_t num_blocks;         /* per layer's cache: batch x blocks_per_seq               */
    int nsteps[MKP_PHASES];
    mkp_step steps[MKP_PHASES][MKP_MAX_STEPS];
    /* memory, bytes */
    double layer_weight_bytes;  /* one layer's weights (same for every kind)               */
    double model_weight_bytes;  /* embeddings, position table, final norm, untied LM head  */
    double weight_bytes;        /* model + layers x layer                                  */
    double layer_kv_bytes;      /* one layer's KV cache (values and scales)                */
    double kv_bytes;
    double activation_bytes;    /* the scratch buffers of a pass (executor allocates these) */
    double parameters;          /* weight elements, embeddings included (tied: once)       */
} mkp_plan;

const char *mkp_weights_name(mkp_weights w);
const char *mkp_kv_name(mkp_kv k);
/* Parses a --weights / --kv value (f32 is not a user choice); -1 when unknown. */
int mkp_weights_parse(const char *s, mkp_weights *out);
int mkp_kv_parse(const char *s, mkp_kv *out);
const char *mkp_kind_name(mkp_kind k); /* "global", "local" */

/* Bytes of one N x K weight matrix in format w (scales included). */
double mkp_weight_matrix_bytes(mkp_weights w, int64_t n, int64_t k);

/* Builds the plan. -1 with a message naming the setting when the workload cannot run
   (e.g. w4g128 with an in-feature count not a multiple of 128, a KV cache past 2^31
   slots). */
int mkp_build(const mkm_config *model, const mkp_settings *set, mkp_plan *out, char *err, size_t n);

/* The step of a phase by name, or NULL. */
const mkp_step *mkp_find(const mkp_plan *p, mkp_phase phase, const char *name);
/* Sums of a phase's FLOPs and bytes. */
double mkp_phase_flops(const mkp_plan *p, mkp_phase phase);
double mkp_phase_bytes(const mkp_plan *p, mkp_phase phase);

/* The layers to run when a model is profiled on a subset: `count` layers (1 <= count <=
   layers) chosen so every kind present gets at least one, the rest given to the kind
   with the most layers per chosen layer, the first layers of each kind by index. Writes
   the indices in increasing order. -1 when count is below the number of kinds. */
int mkp_choose_layers(const mkp_plan *p, int count, int *indices);
/* Device bytes needed to run `count` layers: model weights, activations and count layers'
   weights and caches. */
double mkp_device_bytes(const mkp_plan *p, int count);

#endif
