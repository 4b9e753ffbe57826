/*
 * The layer plan of `medkern profile` (tools/medkern/profile_plan.c): which steps each
 * architecture runs, and their FLOP and byte counts against values computed by hand from
 * the rules of docs/profiling.md, for three presets:
 *   meditron-7b     Llama, MHA, f16            B = 2, P = 16, G = 4
 *   medgemma-4b-it  Gemma 3, 29 local + 5 global layers, head_dim 256 != 2560/8,
 *                   q_proj out 2048, QK-norm, 4 norms/layer    B = 1, P = 2048, G = 2
 *   biomedlm-2.7b   GPT-2: LayerNorm with bias, biases, learned positions, no RoPE
 *                                                               B = 1, P = 8, G = 1
 * Every count is an integer below 2^53, so the comparisons are exact.
 */
#include <string.h>

#include "mktest.h"
#include "model_config.h"
#include "profile_plan.h"

static mkp_plan plan; /* large: not on the stack */

static void build(const char *preset, mkp_weights w, mkp_kv kv, int B, int P, int G) {
    mkm_config c;
    char err[512];
    MKT_CHECK(mkm_load_preset(preset, &c, err, sizeof err) == MKM_OK, "%s: %s", preset, err);
    mkp_settings s = {w, kv, B, P, G, 16};
    MKT_CHECK(mkp_build(&c, &s, &plan, err, sizeof err) == 0, "%s: mkp_build: %s", preset, err);
}

/* The step of a phase by name: its calls, FLOPs and bytes over the phase. */
static void step(const char *what, mkp_phase ph, const char *name, const char *op, double calls, double flops,
                 double bytes) {
    const mkp_step *s = mkp_find(&plan, ph, name);
    MKT_CHECK(s != NULL, "%s: no step %s in %s", what, name, ph == MKP_PREFILL ? "prefill" : "decode");
    if (!s) return;
    MKT_CHECK(!strcmp(s->op, op), "%s %s: op %s, want %s", what, name, s->op, op);
    MKT_CHECK(s->calls == calls, "%s %s: calls %.0f, want %.0f", what, name, s->calls, calls);
    MKT_CHECK(s->flops == flops, "%s %s: flops %.0f, want %.0f", what, name, s->flops, flops);
    MKT_CHECK(s->bytes == bytes, "%s %s: bytes %.0f, want %.0f", what, name, s->bytes, bytes);
}

static void no_step(const char *what, mkp_phase ph, const char *name) {
    MKT_CHECK(mkp_find(&plan, ph, name) == NULL, "%s: unexpected step %s", what, name);
}

/* Step names are unique within a phase. */
static void unique_names(const char *what) {
    for (int ph = 0; ph < MKP_PHASES; ph++)
        for (int i = 0; i < plan.nsteps[ph]; i++)
            for (int j = i + 1; j < plan.nsteps[ph]; j++)
                MKT_CHECK(strcmp(plan.steps[ph][i].name, plan.steps[ph][j].name), "%s: step %s twice", what,
                          plan.steps[ph][i].name);
}

static void meditron(void) {
    /* h = 4096, Hq = Hkv = 32, D = 128, I = 11008, V = 32017, 32 layers; f16: 2 bytes.
       B = 2, P = 16: prefill T = 32 tokens; G = 4 decode steps of T = 2. */
    build("meditron-7b", MKP_W_F16, MKP_KV_F16, 2, 16, 4);
    unique_names("meditron-7b");
    MKT_CHECK(plan.kinds == 1 && plan.kind_layers[MKP_KIND_GLOBAL] == 32, "meditron-7b: one kind of 32 layers");
    /* fused QKV: N = (32 + 2*32) * 128 = 12288, K = 4096.
       FLOPs per layer 2*T*N*K = 2*32*12288*4096 = 3,221,225,472; x32 = 103,079,215,104.
       bytes per layer: W 2*12288*4096 = 100,663,296 + x (32*4096 + y 32*12288)*2 = 1,048,576
       = 101,711,872; x32 = 3,254,779,904. */
    step("meditron-7b", MKP_PREFILL, "attn.qkv_proj", "gemm", 32, 103079215104.0, 3254779904.0);
    /* causal attention: pairs per sequence P(P+1)/2 = 136; FLOPs 4*B*Hq*D*pairs =
       4*2*32*128*136 = 4,456,448 per layer, x32 = 142,606,336. Bytes: q and out 2*T*Hq*D,
       k and v 2*T*Hkv*D: (2*32*4096 + 2*32*4096)*2 = 1,048,576 per layer, x32 = 33,554,432. */
    step("meditron-7b", MKP_PREFILL, "attn.attention", "attention_prefill", 32, 142606336.0, 33554432.0);
    /* RMSNorm: 4 FLOPs per element: 4*32*4096*32 = 16,777,216; bytes (2*T*h + h)*2*32 =
       (262,144 + 4,096)*2*32 = 17,039,360 */
    step("meditron-7b", MKP_PREFILL, "attn.norm", "rmsnorm", 32, 16777216.0, 17039360.0);
    /* RoPE on q: 3 FLOPs per element: 3*T*Hq*D*32 = 3*32*4096*32 = 12,582,912; read and
       write 2*T*Hq*D*2*32 = 16,777,216 */
    step("meditron-7b", MKP_PREFILL, "attn.rope_q", "rope", 32, 12582912.0, 16777216.0);
    /* kv_append f16: read k, v (2*T*Hkv*D*2) and write them (2*T*Hkv*D*2):
       4 * 131,072 * 2 bytes = 1,048,576 per layer, x32 = 33,554,432; no FLOPs */
    step("meditron-7b", MKP_PREFILL, "attn.kv_append", "kv_append", 32, 0, 33554432.0);
    /* silu_mul: 5 FLOPs per element over T*I = 352,256: 1,761,280 per layer, x32 =
       56,360,960; gate, up, out: 3*352,256*2 = 2,113,536, x32 = 67,633,152 */
    step("meditron-7b", MKP_PREFILL, "mlp.act", "silu_mul", 32, 56360960.0, 67633152.0);
    /* the LM head on the last token of each sequence: M = B = 2, N = V, K = h:
       2*2*32017*4096 = 524,566,528 FLOPs; W 2*32017*4096 = 262,283,264 + x 2*4096*2 +
       y 2*32017*2 = 262,427,716 bytes; once */
    step("meditron-7b", MKP_PREFILL, "final.lm_head", "gemm", 1, 524566528.0, 262427716.0);
    step("meditron-7b", MKP_PREFILL, "final.norm", "rmsnorm", 1, 4.0 * 2 * 4096, (2.0 * 2 * 4096 + 4096) * 2);
    /* decode attention over the cache: step g sees 16 + g + 1 keys: 17+18+19+20 = 74.
       FLOPs 4*B*Hq*D*74 = 2,424,832 per layer, x32 = 77,594,624. Bytes: K and V read
       2*B*74*Hkv*D*2 = 2,424,832, q and out 4 steps x 2*B*Hq*D*2 = 131,072: 2,555,904 per
       layer, x32 = 81,788,928. Calls 32 layers x 4 steps = 128. */
    step("meditron-7b", MKP_DECODE, "attn.attention", "attention_decode", 128, 77594624.0, 81788928.0);
    /* decode gate+up: N = 2*11008 = 22016, M = 2: 2*2*22016*4096 = 360,710,144 per call;
       bytes 2*22016*4096 + (2*4096 + 2*22016)*2 = 180,459,520; x128 calls */
    step("meditron-7b", MKP_DECODE, "mlp.gate_up_proj", "gemm", 128, 46170898432.0, 23098818560.0);
    no_step("meditron-7b", MKP_PREFILL, "attn.q_norm");
    no_step("meditron-7b", MKP_PREFILL, "attn.post_norm");
    no_step("meditron-7b", MKP_PREFILL, "embed.add_positions");
    /* parameters: per layer qkv 12288*4096 + o 4096*4096 + gate/up 22016*4096 + down
       4096*11008 + 2 norms 4096 = 202,383,360; x32 = 6,476,267,520; embeddings and the
       untied LM head 2*32017*4096 = 262,283,264, final norm 4096: 6,738,554,880 */
    MKT_CHECK(plan.parameters == 6738554880.0, "meditron-7b: parameters %.0f", plan.parameters);
    MKT_CHECK(plan.weight_bytes == 2 * 6738554880.0, "meditron-7b: weight bytes %.0f", plan.weight_bytes);
    /* KV cache: ceil((16 + 4)/16) = 2 blocks per sequence, 4 blocks of 16 slots, 32 heads x
       128 x 2 bytes, K and V: 1,048,576 per layer, x32 = 33,554,432 */
    MKT_CHECK(plan.blocks_per_seq == 2 && plan.num_blocks == 4, "meditron-7b: blocks %d/%lld", plan.blocks_per_seq,
              (long long)plan.num_blocks);
    MKT_CHECK(plan.kv_bytes == 33554432.0, "meditron-7b: kv bytes %.0f", plan.kv_bytes);
    /* phase totals are the sums of the rows */
    double f = 0;
    for (int i = 0; i < plan.nsteps[MKP_DECODE]; i++) f += plan.steps[MKP_DECODE][i].flops;
    MKT_CHECK(mkp_phase_flops(&plan, MKP_DECODE) == f && f > 0, "meditron-7b: decode FLOP total");

    /* weights formats: a 12288 x 4096 matrix in w4g128 = nibbles 12288*2048 + f16 scales
       2*12288*32 = 25,952,256 bytes; int8 kv_append adds f32 scales per (token, head) */
    build("meditron-7b", MKP_W_W4G128, MKP_KV_INT8, 2, 16, 4);
    step("meditron-7b w4", MKP_PREFILL, "attn.qkv_proj", "qgemm", 32, 103079215104.0,
         32 * (25952256.0 + 1048576.0));
    /* read 2*T*Hkv*D*2 = 524,288, write codes 2*T*Hkv*D = 262,144 and scales 2*T*Hkv*4 =
       8,192: 794,624 per layer, x32 = 25,427,968 */
    step("meditron-7b int8 kv", MKP_PREFILL, "attn.kv_append", "kv_append", 32, 0, 25427968.0);
    MKT_CHECK(mkp_weight_matrix_bytes(MKP_W_W8, 4096, 4096) == 16777216.0 + 8192 &&
                  mkp_weight_matrix_bytes(MKP_W_W8A8, 4096, 4096) == 16777216.0 + 16384 &&
                  mkp_weight_matrix_bytes(MKP_W_FP8, 4096, 4096) == 16777216.0 + 16384 &&
                  mkp_weight_matrix_bytes(MKP_W_BF16, 4096, 4096) == 33554432.0,
              "weight matrix bytes by format");

    /* prefill only: no decode steps */
    build("meditron-7b", MKP_W_F16, MKP_KV_F16, 1, 8, 0);
    MKT_CHECK(plan.nsteps[MKP_DECODE] == 0 && plan.nsteps[MKP_PREFILL] > 0, "gen 0: decode steps %d",
              plan.nsteps[MKP_DECODE]);
}

static void medgemma(void) {
    /* h = 2560, Hq = 8, Hkv = 4, D = 256 (Hq*D = 2048 != h), I = 10240, V = 262208 (tied),
       34 layers: 29 local (window 1024 keys), 5 global. B = 1, P = 2048, G = 2. */
    build("medgemma-4b-it", MKP_W_F16, MKP_KV_F16, 1, 2048, 2);
    unique_names("medgemma-4b-it");
    MKT_CHECK(plan.kind_layers[MKP_KIND_LOCAL] == 29 && plan.kind_layers[MKP_KIND_GLOBAL] == 5 && plan.kinds == 3,
              "medgemma-4b-it: %d local, %d global", plan.kind_layers[MKP_KIND_LOCAL], plan.kind_layers[MKP_KIND_GLOBAL]);
    MKT_CHECK(plan.window[MKP_KIND_LOCAL] == 1024 && plan.window[MKP_KIND_GLOBAL] == 0, "medgemma-4b-it: windows");
    /* separate q/k/v (q and k are normed on their own): q_proj N = 2048, K = 2560, T = 2048:
       2*2048*2048*2560 = 21,474,836,480 per layer, x34 = 730,144,440,320 */
    const mkp_step *q = mkp_find(&plan, MKP_PREFILL, "attn.q_proj");
    MKT_CHECK(q && q->n == 2048 && q->k == 2560 && q->m == 2048, "medgemma-4b-it: q_proj shape");
    step("medgemma-4b-it", MKP_PREFILL, "attn.q_proj", "gemm", 34, 730144440320.0,
         34 * (2.0 * 2048 * 2560 + (2048.0 * 2560 + 2048.0 * 2048) * 2));
    /* k_proj N = 1024: 2*2048*1024*2560 = 10,737,418,240 per layer */
    step("medgemma-4b-it", MKP_PREFILL, "attn.k_proj", "gemm", 34, 34 * 10737418240.0,
         34 * (2.0 * 1024 * 2560 + (2048.0 * 2560 + 2048.0 * 1024) * 2));
    no_step("medgemma-4b-it", MKP_PREFILL, "attn.qkv_proj");
    /* local attention, window 1024: query i sees min(i+1, 1024) keys; over 2048 queries
       1024*1025/2 + (2048-1024)*1024 = 524,800 + 1,048,576 = 1,573,376 pairs.
       FLOPs 4*1*8*256*1,573,376 = 12,889,096,192 per layer, x29 = 373,783,789,568.
       Bytes (2*2048*2048 + 2*2048*1024)*2 = 25,165,824 per layer, x29 = 729,808,896. */
    step("medgemma-4b-it", MKP_PREFILL, "attn.attention_local", "attention_prefill", 29, 373783789568.0,
         729808896.0);
    /* global: 2048*2049/2 = 2,098,176 pairs: 17,188,257,792 per layer, x5 = 85,941,288,960 */
    step("medgemma-4b-it", MKP_PREFILL, "attn.attention_global", "attention_prefill", 5, 85941288960.0,
         125829120.0);
    no_step("medgemma-4b-it", MKP_PREFILL, "attn.attention");
    /* QK-norm over the head dim: rows T*Hq = 16384 of 256: 4*16384*256 = 16,777,216 FLOPs,
       (2*16384*256 + 256)*2 = 16,777,728 bytes per layer */
    step("medgemma-4b-it", MKP_PREFILL, "attn.q_norm", "rmsnorm", 34, 34 * 16777216.0, 34 * 16777728.0);
    /* four norms per layer: pre/post attention, pre/post MLP */
    step("medgemma-4b-it", MKP_PREFILL, "attn.post_norm", "rmsnorm", 34, 34 * 4.0 * 2048 * 2560,
         34 * (2.0 * 2048 * 2560 + 2560) * 2);
    step("medgemma-4b-it", MKP_PREFILL, "mlp.post_norm", "rmsnorm", 34, 34 * 4.0 * 2048 * 2560,
         34 * (2.0 * 2048 * 2560 + 2560) * 2);
    /* GELU-tanh gate: 10 FLOPs per element, T*I = 20,971,520: 209,715,200 per layer */
    step("medgemma-4b-it", MKP_PREFILL, "mlp.act", "gelu_mul", 34, 34 * 209715200.0, 34 * 125829120.0);
    /* tied LM head: M = 1, N = 262208, K = 2560: 2*262208*2560 = 1,342,504,960 FLOPs */
    step("medgemma-4b-it", MKP_PREFILL, "final.lm_head", "gemm", 1, 1342504960.0, 1343034496.0);
    /* decode, context 2049 and 2050: local layers see 1024 keys each step (2048 in all),
       global layers 2049 + 2050 = 4099. Local: 4*8*256*2048 = 16,777,216 FLOPs, bytes
       K,V 2*2048*4*256*2 = 8,388,608 + q/out 2 steps x 2*8*256*2 = 16,384 = 8,404,992 per
       layer. Global: 8192*4099 = 33,579,008 FLOPs, 2*4099*1024*2 + 16,384 = 16,805,888. */
    step("medgemma-4b-it", MKP_DECODE, "attn.attention_local", "attention_decode", 58, 29 * 16777216.0,
         29 * 8404992.0);
    step("medgemma-4b-it", MKP_DECODE, "attn.attention_global", "attention_decode", 10, 5 * 33579008.0,
         5 * 16805888.0);
    /* parameters: per layer q 2048*2560 + k, v 1024*2560 each + o 2560*2048 + gate/up
       20480*2560 + down 2560*10240 + 4 norms 2560 + q/k norms 256 = 94,382,592; x34 =
       3,209,008,128; tied embeddings 262208*2560 = 671,252,480 + final norm 2560 =
       3,880,263,168 */
    MKT_CHECK(plan.parameters == 3880263168.0, "medgemma-4b-it: parameters %.0f", plan.parameters);

    /* a subset of layers keeps one of each kind and runs the first layers of each */
    int idx[64];
    MKT_CHECK(mkp_choose_layers(&plan, 2, idx) == 0 && idx[0] == 0 && idx[1] == 5, "medgemma-4b-it: 2 layers -> %d, %d",
              idx[0], idx[1]);
    MKT_CHECK(mkp_choose_layers(&plan, 1, idx) == -1, "medgemma-4b-it: 1 layer cannot hold both kinds");
    /* 7 layers: local gets 29/k > 5/1 until k = 6 (29/6 < 5): 6 local (0-4, 6) + 1 global (5) */
    MKT_CHECK(mkp_choose_layers(&plan, 7, idx) == 0 && idx[0] == 0 && idx[4] == 4 && idx[5] == 5 && idx[6] == 6,
              "medgemma-4b-it: 7 layers -> %d %d %d %d", idx[0], idx[4], idx[5], idx[6]);
    MKT_CHECK(mkp_choose_layers(&plan, 34, idx) == 0 && idx[33] == 33, "medgemma-4b-it: all layers");
    MKT_CHECK(mkp_choose_layers(&plan, 35, idx) == -1, "medgemma-4b-it: 35 layers");
    MKT_CHECK(mkp_device_bytes(&plan, 3) > mkp_device_bytes(&plan, 2) &&
                  mkp_device_bytes(&plan, 2) - mkp_device_bytes(&plan, 1) == plan.layer_weight_bytes + plan.layer_kv_bytes,
              "medgemma-4b-it: device bytes per layer");
}

static void biomedlm(void) {
    /* GPT-2: h = 2560, 20 heads of 128, I = 10240, V = 28896, 1024 positions, biases.
       B = 1, P = 8, G = 1. */
    build("biomedlm-2.7b", MKP_W_F16, MKP_KV_F16, 1, 8, 1);
    unique_names("biomedlm-2.7b");
    /* fused c_attn N = 3*2560 = 7680 with bias: 2*8*7680*2560 + 8*7680 = 314,634,240 FLOPs;
       W 2*7680*2560 = 39,321,600 + x, y (8*2560 + 8*7680)*2 = 163,840 + bias 15,360 =
       39,500,800 bytes, per layer */
    step("biomedlm-2.7b", MKP_PREFILL, "attn.qkv_proj", "gemm", 32, 32 * 314634240.0, 32 * 39500800.0);
    /* LayerNorm: 7 FLOPs per element, 7*8*2560 = 143,360; bytes x, y and w, b:
       (2*8*2560 + 2*2560)*2 = 92,160 */
    step("biomedlm-2.7b", MKP_PREFILL, "attn.norm", "layernorm", 32, 32 * 143360.0, 32 * 92160.0);
    /* learned positions: token + position embeddings, once: 8*2560 FLOPs, 3*8*2560*2 bytes */
    step("biomedlm-2.7b", MKP_PREFILL, "embed.add_positions", "add", 1, 20480.0, 122880.0);
    step("biomedlm-2.7b", MKP_DECODE, "embed.add_positions", "add", 1, 2560.0, 15360.0);
    /* c_fc N = 10240 with bias: 2*8*10240*2560 + 8*10240 = 419,512,320 FLOPs */
    step("biomedlm-2.7b", MKP_PREFILL, "mlp.fc", "gemm", 32, 32 * 419512320.0, 32 * 52654080.0);
    /* plain GELU (tanh) through gelu_mul with a ones operand: 10*8*10240 = 819,200 */
    step("biomedlm-2.7b", MKP_PREFILL, "mlp.act", "gelu_mul", 32, 32 * 819200.0, 32 * 3.0 * 8 * 10240 * 2);
    no_step("biomedlm-2.7b", MKP_PREFILL, "attn.rope_q");
    no_step("biomedlm-2.7b", MKP_PREFILL, "attn.rope_k");
    no_step("biomedlm-2.7b", MKP_PREFILL, "mlp.gate_up_proj");
    /* decode attention at context 9: 4*1*20*128*9 = 92,160 FLOPs; K, V 2*9*20*128*2 =
       92,160 + q, out 2*20*128*2 = 10,240 bytes per layer */
    step("biomedlm-2.7b", MKP_DECODE, "attn.attention", "attention_decode", 32, 32 * 92160.0, 32 * 102400.0);
    /* parameters: per layer c_attn 7680*2560 + 7680, c_proj 2560*2560 + 2560, c_fc
       10240*2560 + 10240, mlp proj 2560*10240 + 2560, 2 LayerNorms 2*2*2560 = 78,676,480;
       x32 = 2,517,647,360; wte 28896*2560 = 73,973,760, wpe 1024*2560 = 2,621,440, ln_f
       5,120 (tied LM head): 2,594,247,680 */
    MKT_CHECK(plan.parameters == 2594247680.0, "biomedlm-2.7b: parameters %.0f", plan.parameters);
}

static void impossible(void) {
    mkm_config c;
    char err[512];
    mkp_settings s = {MKP_W_W4G128, MKP_KV_F16, 1, 8, 1, 16};
    MKT_CHECK(mkm_load_preset("meditron-7b", &c, err, sizeof err) == MKM_OK, "meditron-7b: %s", err);
    c.intermediate = 11000; /* not a multiple of 128 */
    MKT_CHECK(mkp_build(&c, &s, &plan, err, sizeof err) == -1 && strstr(err, "intermediate_size is 11000"),
              "w4g128 with K = 11000: %s", err);
    s.weights = MKP_W_F16;
    MKT_CHECK(mkp_build(&c, &s, &plan, err, sizeof err) == 0, "f16 with K = 11000: %s", err);
    /* a KV cache past 2^31 slots */
    s.batch = 4096, s.prompt = 1 << 20, s.gen = 0;
    MKT_CHECK(mkp_build(&c, &s, &plan, err, sizeof err) == -1 && strstr(err, "exceeds 2^31-1"), "huge cache: %s", err);
    mkp_weights w;
    mkp_kv kv;
    MKT_CHECK(mkp_weights_parse("w4g128", &w) == 0 && w == MKP_W_W4G128 && mkp_weights_parse("f32", &w) == -1 &&
                  mkp_kv_parse("int8", &kv) == 0 && kv == MKP_KV_INT8 && mkp_kv_parse("i8", &kv) == -1,
              "format names");
}

int main(int argc, char **argv) {
    mkt_init(argc, argv, "profile_plan");
    meditron();
    medgemma();
    biomedlm();
    impossible();
    return mkt_finish();
}
