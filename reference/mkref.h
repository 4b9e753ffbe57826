/*
 * The scalar C reference of medkern: the oracle every kernel is validated against.
 *
 * Written for clarity, not speed. Values are float arrays in plain row-major layout;
 * every reduction accumulates in double. Storage formats (f16, bf16, fp8, int8) are
 * converted at the edges by the conversions below, which define medkern's numerics bit
 * for bit (docs/numerics.md).
 *
 * Functions here trust their arguments (the runtime's validation layer checks them
 * before any backend, the reference backend included, sees a call); the few that
 * parse outside data (importers) return a status and set a message.
 */
#ifndef MEDKERN_REFERENCE_MKREF_H
#define MEDKERN_REFERENCE_MKREF_H

#include <stddef.h>
#include <stdint.h>

#include "medkern/medkern.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------ number formats */

uint16_t mkref_f32_to_f16(float x);      /* round to nearest even, NaN stays NaN (quiet) */
float    mkref_f16_to_f32(uint16_t h);   /* exact                                        */
uint16_t mkref_f32_to_bf16(float x);     /* round to nearest even, NaN stays NaN (quiet) */
float    mkref_bf16_to_f32(uint16_t h);  /* exact                                        */
uint8_t  mkref_f32_to_fp8(float x);      /* e4m3fn, RNE, saturates to +-448, NaN -> 0x7F|sign */
float    mkref_fp8_to_f32(uint8_t b);    /* exact                                        */
int8_t   mkref_f32_to_i8_sat(float x);   /* round to nearest even, clamp to [-127, 127]  */

/* Element idx of an array of dtype t, as float (I32 values converted). */
float mkref_load(mk_dtype t, const void *base, int64_t idx);
/* Stores v into element idx with the dtype's rounding (I8/U8/I32: RNE and clamp). */
void  mkref_store(mk_dtype t, void *base, int64_t idx, float v);
/* Rounds v through dtype t and back (F32: identity). */
float mkref_round_to(mk_dtype t, float v);

/* ------------------------------------------------------------ random numbers */

/* Deterministic generator (splitmix64 seeding, xoshiro256**). Same seed, same
   stream, on every machine. */
typedef struct { uint64_t s[4]; } mkref_rng;
void     mkref_rng_seed(mkref_rng *r, uint64_t seed);
uint64_t mkref_rng_u64(mkref_rng *r);
double   mkref_rng_uniform(mkref_rng *r);          /* [0, 1)            */
double   mkref_rng_normal(mkref_rng *r);           /* mean 0, std 1     */
int64_t  mkref_rng_range(mkref_rng *r, int64_t lo, int64_t hi); /* [lo, hi] */

/* ------------------------------------------------------------ attention */

/*
 * Prefill, packed varlen batch of B sequences.
 *   q [T][Hq][D], k, v [Tk][Hkv][D], cu_q, cu_k [B+1]; out [T][Hq][D]; lse [T][Hq] or NULL.
 * Semantics as mk_attention_prefill (medkern.h). Scores are computed in double:
 * s = scale * q.k, softcap, mask, softmax in double, output rounded to float.
 */
void mkref_attention_prefill(const float *q, const float *k, const float *v, const int32_t *cu_q,
                             const int32_t *cu_k, int B, int Hq, int Hkv, int D,
                             const mk_attn_params *p, float *out, float *lse);

/* Host-side paged KV pool of one layer (the reference cache). Values in the cache's
   dtype: k, v have num_blocks*block_size*Hkv*D elements; k_scale, v_scale have
   num_blocks*block_size*Hkv floats for I8/FP8 caches (NULL otherwise). */
typedef struct {
    mk_kv_cache_desc desc;
    void *k;
    void *v;
    float *k_scale;
    float *v_scale;
} mkref_kv_cache;

/* Quantizes one vector of n values for an I8 or FP8 cache (scale rule in medkern.h). */
void  mkref_kv_quantize(mk_dtype t, const float *x, int n, void *q, float *scale);
/* Appends k, v [T][Hkv][D] at slots (-1 = skip). */
void  mkref_kv_append(mkref_kv_cache *c, const float *k, const float *v, const int32_t *slots,
                      int64_t T);
void  mkref_kv_copy_blocks(mkref_kv_cache *c, const int32_t *pairs, int64_t n);
/* Dequantized value of K (which = 0) or V (which = 1) at (slot, head, d). */
float mkref_kv_value(const mkref_kv_cache *c, int which, int64_t slot, int head, int d);

/*
 * Decode: q [B][Hq][D], block_table [B][max_blocks], context_lens [B], out [B][Hq][D].
 * The query is the last of context_lens[b] tokens (the window applies, causal is moot).
 */
void mkref_attention_decode(const float *q, const mkref_kv_cache *c, const int32_t *block_table,
                            int max_blocks, const int32_t *context_lens, int B, int Hq,
                            const mk_attn_params *p, float *out);

/* ------------------------------------------------------------ quantized weights */

/* Number of scale groups per row (QW4: k/group; QW8: 1 or k/group; else 1). */
int64_t mkref_qweight_groups(const mk_qweight_desc *d);
/* Byte sizes of the canonical arrays (zeros: QW4 asymmetric only; perm: k int32). */
size_t  mkref_qweight_q_bytes(const mk_qweight_desc *d);
size_t  mkref_qweight_scale_bytes(const mk_qweight_desc *d);
size_t  mkref_qweight_zero_bytes(const mk_qweight_desc *d);

/* Dequantized weight W[n][j] (j in the canonical, possibly permuted, K order). */
float mkref_qweight_value(const mk_qweight_desc *d, const mk_qweight_data *w, int64_t n, int64_t j);
/* Quantized code of W[n][j] as an integer (QW4: 0..15, QW8/QW8A8: -127..127, QFP8: the byte). */
int   mkref_qweight_code(const mk_qweight_desc *d, const mk_qweight_data *w, int64_t n, int64_t j);
void  mkref_qweight_set_code(const mk_qweight_desc *d, mk_qweight_data *w, int64_t n, int64_t j, int code);

/* Quantizes float W [n][k] into the canonical layout (allocated by the caller):
   QW4 symmetric: scale = amax/7 per group, q = clamp(rne(w/scale)+8, 0, 15);
   QW4 asymmetric: scale = (max-min)/15, zero = clamp(rne(-min/scale), 0, 15);
   QW8: scale = amax/127 per group (f16), QW8A8: amax/127 (f32), QFP8: amax/448 (f32).
   Scales are rounded to their storage type before the codes are computed. */
void mkref_qweight_quantize(const mk_qweight_desc *d, const float *w, mk_qweight_data *out);

/* Per-token activation quantization used by QW8A8 (int8, scale amax/127, RNE) and QFP8
   (e4m3, scale amax/448). q gets k codes; returns the scale (0 for an all-zero row). */
float mkref_quantize_act_i8(const float *x, int64_t k, int8_t *q);
float mkref_quantize_act_fp8(const float *x, int64_t k, uint8_t *q);

/* y [m][n] = x [m][k] . W^T (+ bias [n]), x read through k_perm when present.
   QW4/QW8: on the dequantized weights. QW8A8/QFP8: activations quantized per token,
   products of codes summed exactly (double), y = s_a * s_w * acc (+ bias). */
void mkref_qgemm(const mk_qweight_desc *d, const mk_qweight_data *w, const float *x, int64_t m,
                 const float *bias, float *y);
/* The same with the caller's workspace (xp: k floats, qa: k bytes), allocating nothing:
   mkref_qgemm allocates them itself and, if it cannot, writes NaN to y. */
void mkref_qgemm_ws(const mk_qweight_desc *d, const mk_qweight_data *w, const float *x, int64_t m,
                    const float *bias, float *y, float *xp, uint8_t *qa);

/* Importers into preallocated canonical arrays (mk_qweight_data_alloc for *desc_out,
   computed first by the *_desc functions). They return MK_ERR_INVALID_ARGUMENT with a
   message in msg (may be NULL) when the data is inconsistent (e.g. a g_idx whose
   groups are not all group_size long). */
mk_status mkref_gptq_desc(const mk_gptq_tensors *in, mk_qweight_desc *desc, int *needs_perm);
mk_status mkref_import_gptq(const mk_gptq_tensors *in, const mk_qweight_desc *desc,
                            mk_qweight_data *out, char *msg, size_t msg_n);
mk_status mkref_import_awq(const mk_awq_tensors *in, const mk_qweight_desc *desc,
                           mk_qweight_data *out, char *msg, size_t msg_n);
mk_status mkref_import_gguf(mk_gguf_type type, const void *blocks, const mk_qweight_desc *desc,
                            mk_qweight_data *out, char *msg, size_t msg_n);

/* ------------------------------------------------------------ dense ops */

void mkref_gemm(const float *x, const float *w, const float *bias, int64_t m, int64_t n, int64_t k,
                float *y);
void mkref_rmsnorm(const float *x, const float *w, int64_t rows, int64_t n, float eps, int plus_one,
                   float *y);
void mkref_layernorm(const float *x, const float *w, const float *b, int64_t rows, int64_t n,
                     float eps, float *y);
/* Inverse frequency of rotary pair i (0 <= i < rotary_dim/2) after scaling. */
double mkref_rope_inv_freq(const mk_rope_params *p, int rotary_dim, int i);
/* In place on x [T][H][D]. */
void mkref_rope(float *x, const int32_t *pos, int64_t T, int H, int D, const mk_rope_params *p);
void mkref_silu_mul(const float *gate, const float *up, int64_t n, float *out);
void mkref_gelu_mul(const float *gate, const float *up, int64_t n, int approximate, float *out);
void mkref_add(const float *a, const float *b, int64_t n, float *out);

/* ------------------------------------------------------------ reference decoder model */

typedef struct {
    int vocab_size;
    int hidden_size;
    int num_layers;
    int num_heads;
    int num_kv_heads;
    int head_dim;
    int intermediate_size;
    int max_positions;
    int block_size;       /* paged KV cache block size */
    float rope_theta;
    float rms_eps;
} mkref_model_config;

typedef struct mkref_model mkref_model;

/* Random weights from seed (std 1/sqrt(fan_in)); NULL on bad config or no memory. */
mkref_model *mkref_model_create(const mkref_model_config *cfg, uint64_t seed);
void         mkref_model_destroy(mkref_model *m);
/* Forgets the sequence (positions restart at 0). */
void         mkref_model_reset(mkref_model *m);
/* Number of tokens in the sequence so far. */
int          mkref_model_length(const mkref_model *m);
/* Appends n tokens (prefill); logits [n][vocab] of every new token, or NULL. Returns 0,
   or -1 when the sequence would exceed max_positions. */
int          mkref_model_prefill(mkref_model *m, const int32_t *tokens, int n, float *logits);
/* Appends one token (decode through the paged cache); logits [vocab]. */
int          mkref_model_decode(mkref_model *m, int32_t token, float *logits);
/* The model's f32 weights, for runners that must use the same ones (medkern profile
   --validate): "embed" [V][H], "final_norm" [H], "lm_head" [V][H] (layer ignored), and
   per layer "attn_norm", "mlp_norm" [H], "wq" [Hq*Dh][H], "wk", "wv" [Hkv*Dh][H],
   "wo" [H][Hq*Dh], "w_gate", "w_up" [I][H], "w_down" [H][I]. NULL for an unknown name
   or a layer out of range. */
const float *mkref_model_weight(const mkref_model *m, const char *name, int layer);

#ifdef __cplusplus
}
#endif
#endif /* MEDKERN_REFERENCE_MKREF_H */
