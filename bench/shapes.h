/* Named problem shapes for the benchmarks: one step (decode or prefill) of one layer of a
   real model, plus a "small" set sized for the ref device. See shapes.c for the sources. */
#ifndef MEDKERN_BENCH_SHAPES_H
#define MEDKERN_BENCH_SHAPES_H

typedef struct {
    const char *name;   /* "llama3-8b/decode/bs1": model / phase / batch or prompt length */
    const char *model;  /* entry of /work/shared/models/medical-llms.json ("" = synthetic) */
    int small;          /* 1: member of the small set (runs in milliseconds on ref)       */
    int hidden;         /* hidden_size                                                    */
    int heads;          /* num_attention_heads (Hq)                                       */
    int kv_heads;       /* num_key_value_heads (Hkv)                                      */
    int head_dim;       /* D                                                              */
    int intermediate;   /* intermediate_size of the gated MLP                             */
    float rope_theta;
    int window;         /* sliding window in tokens (mk_attn_params.window), 0 = none     */
    int batch;          /* sequences (B)                                                  */
    int q_len;          /* new tokens per sequence: 1 for decode, the prompt for prefill  */
    int context;        /* keys per sequence seen by attention (includes the new tokens)  */
} mkb_shape;

extern const mkb_shape mkb_shapes[];
extern const int mkb_shape_count;

/* The shape of that name, or NULL. */
const mkb_shape *mkb_shape_find(const char *name);

#endif /* MEDKERN_BENCH_SHAPES_H */
