/*
 * Named shapes. Model dimensions (hidden_size, num_attention_heads, num_key_value_heads,
 * head_dim, intermediate_size, rope_theta, sliding_window) are carried from
 * /work/shared/models/medical-llms.json, whose entries cite their config.json sources:
 *   base:llama-2-7b       Llama-2-7b-hf config (via a fine-tune with that _name_or_path)
 *   meditron-7b           epfl-llm/meditron-7b config mirrors; context 2048
 *   meditron-70b          malhajar/meditron-70b-chat config + epfLLM/meditron README; ctx 4096
 *   base:llama-3-8b       Meta-Llama-3-8B config (via Llama3-OpenBioLLM-8B); ctx 8192
 *   llama3-med42-8b       m42-health/Llama3-Med42-8B config (same dims as Llama-3-8B)
 *   biomistral-7b         BioMistral/BioMistral-7B config; sliding window 4096
 *   medgemma-27b-text-it  Gemma 3 27B text config (head_dim 128 != hidden/heads)
 *   medgemma-4b-it        Gemma 3 4B text config: head_dim 256; 5 of 6 layers are local
 *                         (sliding window 1024, rope base 10000) — the shape here
 * Batch sizes, prompt lengths and contexts are chosen per row (within each model's
 * max_position_embeddings). The "small/..." rows are synthetic, for the ref device.
 */
#include <string.h>

#include "shapes.h"

/* name, model, small, hidden, Hq, Hkv, D, intermediate, theta, window, B, q_len, context */
const mkb_shape mkb_shapes[] = {
    {"small/decode/bs2", "", 1, 256, 4, 2, 64, 512, 10000.f, 0, 2, 1, 256},
    {"small/prefill/64", "", 1, 256, 4, 2, 64, 512, 10000.f, 0, 1, 64, 64},

    {"llama2-7b/decode/bs1", "base:llama-2-7b", 0, 4096, 32, 32, 128, 11008, 10000.f, 0, 1, 1, 4096},
    {"meditron-7b/decode/bs1", "meditron-7b", 0, 4096, 32, 32, 128, 11008, 10000.f, 0, 1, 1, 2048},
    {"meditron-7b/prefill/2048", "meditron-7b", 0, 4096, 32, 32, 128, 11008, 10000.f, 0, 1, 2048, 2048},
    {"meditron-70b/decode/bs8", "meditron-70b", 0, 8192, 64, 8, 128, 28672, 10000.f, 0, 8, 1, 4096},
    {"llama3-8b/decode/bs1", "base:llama-3-8b", 0, 4096, 32, 8, 128, 14336, 500000.f, 0, 1, 1, 8192},
    {"llama3-8b/prefill/2048", "base:llama-3-8b", 0, 4096, 32, 8, 128, 14336, 500000.f, 0, 1, 2048, 2048},
    {"llama3-med42-8b/decode/bs16", "llama3-med42-8b", 0, 4096, 32, 8, 128, 14336, 500000.f, 0, 16, 1, 2048},
    {"biomistral-7b/decode/bs1", "biomistral-7b", 0, 4096, 32, 8, 128, 14336, 10000.f, 4096, 1, 1, 8192},
    {"medgemma-27b/decode/bs1", "medgemma-27b-text-it", 0, 5376, 32, 16, 128, 21504, 1000000.f, 0, 1, 1, 8192},
    {"medgemma-4b/decode/bs1", "medgemma-4b-it", 0, 2560, 8, 4, 256, 10240, 10000.f, 1024, 1, 1, 8192},
};
const int mkb_shape_count = (int)(sizeof mkb_shapes / sizeof mkb_shapes[0]);

const mkb_shape *mkb_shape_find(const char *name) {
    for (int i = 0; i < mkb_shape_count; i++)
        if (strcmp(mkb_shapes[i].name, name) == 0) return &mkb_shapes[i];
    return 0;
}
