/*
 * A decode step captured into a CUDA graph: rope on q and k, KV append, decode and a KV
 * block copy as *_run calls over their plans, between cudaStreamBeginCapture and
 * cudaStreamEndCapture (cudaStreamCaptureModeGlobal: any call that synchronizes or reads
 * back, anywhere in the process, fails the capture). The graph, launched, must give the
 * bits of the same step run directly.
 *
 * Built with the CUDA runtime where the CUDA backend is (MEDKERN_TEST_CUDART); runs on
 * a GPU. Without one, or built without the CUDA toolkit (also the CUDA emulator build,
 * which has no graphs), it reports SKIP.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mktest.h"

#ifdef MEDKERN_TEST_CUDART
#include <cuda_runtime_api.h>

enum { B = 2, HQ = 8, HKV = 2, D = 128, BS = 16, NB = 8, MAXB = 4 };

typedef struct {
    mk_tensor q, k, out;
    mk_kv_cache *cache;
    mk_plan *rope, *append, *decode, *copy;
} step;

static const mk_rope_params kRope = {MK_ROPE_HALF, 500000.0f, 0, MK_ROPE_SCALING_NONE, 0, 0, 0, 0};

static mk_status run_step(mk_context *ctx, step *s) {
    mk_status st = mk_rope_run(ctx, s->rope, &s->q, &kRope);
    if (st == MK_OK) st = mk_rope_run(ctx, s->rope, &s->k, &kRope);
    if (st == MK_OK) st = mk_kv_cache_append_run(ctx, s->append, s->cache, &s->k, &s->k);
    if (st == MK_OK) st = mk_attention_decode_run(ctx, s->decode, &s->q, s->cache, &s->out);
    if (st == MK_OK) st = mk_kv_cache_copy_blocks_run(ctx, s->copy, s->cache);
    return st;
}

int main(int argc, char **argv) {
    mkt_init(argc, argv, "test_cuda_graph");
    char ids[4][32];
    if (mkt_devices("cuda", ids, 4) == 0) mkt_skip("no CUDA device");
    mk_context *ctx = NULL;
    MKT_OK(mk_context_create(ids[0], &ctx));
    if (!ctx) return mkt_finish();
    const int32_t table[B * MAXB] = {0, 1, 2, -1, 4, 5, -1, -1}, lens[B] = {40, 30}, pos[B] = {39, 29};
    const int32_t slots[B] = {2 * BS + 39 % BS, 5 * BS + 29 % BS}, pairs[2] = {0, 7};
    const int64_t qs[3] = {B, HQ, D}, ks[3] = {B, HKV, D};
    float *q = mkt_random(MK_BF16, (size_t)B * HQ * D, 1.0f, 4.0f), *k = mkt_random(MK_BF16, (size_t)B * HKV * D, 1.0f, 4.0f);
    step s;
    memset(&s, 0, sizeof s);
    s.q = mkt_upload(ctx, MK_BF16, 3, qs, q), s.k = mkt_upload(ctx, MK_BF16, 3, ks, k);
    s.out = mkt_output(ctx, MK_BF16, 3, qs);
    const mk_kv_cache_desc cd = {NB, BS, HKV, D, MK_BF16};
    MKT_OK(mk_kv_cache_create(ctx, &cd, &s.cache));
    const mk_attn_params ap = {0};
    const mk_decode_plan_desc dd = {B, MAXB, table, lens, s.cache, HQ, MK_BF16, ap};
    MKT_OK(mk_rope_plan_create(ctx, pos, B, &s.rope));
    MKT_OK(mk_kv_append_plan_create(ctx, s.cache, slots, B, &s.append));
    MKT_OK(mk_decode_plan_create(ctx, &dd, &s.decode));
    MKT_OK(mk_kv_copy_plan_create(ctx, s.cache, pairs, 1, &s.copy));

    /* the step directly (its first run also makes the rope table) */
    MKT_OK(run_step(ctx, &s));
    const size_t n = (size_t)B * HQ * D;
    float *direct = mkt_alloc(n * 4), *graphed = mkt_alloc(n * 4);
    mkt_download(&s.out, direct);

    /* the same inputs again, then the captured step */
    mkt_free(&s.q), mkt_free(&s.k), mkt_free(&s.out);
    s.q = mkt_upload(ctx, MK_BF16, 3, qs, q), s.k = mkt_upload(ctx, MK_BF16, 3, ks, k);
    s.out = mkt_output(ctx, MK_BF16, 3, qs);
    MKT_OK(mk_synchronize(ctx));
    cudaStream_t stream = NULL;
    MKT_OK(mk_context_native_queue(ctx, (void **)&stream));
    cudaGraph_t graph = NULL;
    cudaGraphExec_t exec = NULL;
    MKT_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal) == cudaSuccess, "cudaStreamBeginCapture");
    const mk_sync_counters before = mkt_sync_counts(ctx);
    MKT_OK(run_step(ctx, &s));
    mkt_check_no_sync(ctx, &before, "the captured decode step");
    cudaError_t e = cudaStreamEndCapture(stream, &graph);
    MKT_CHECK(e == cudaSuccess, "cudaStreamEndCapture: %s", cudaGetErrorString(e));
    if (e == cudaSuccess) {
        e = cudaGraphInstantiate(&exec, graph, 0);
        MKT_CHECK(e == cudaSuccess, "cudaGraphInstantiate: %s", cudaGetErrorString(e));
        size_t nodes = 0;
        cudaGraphGetNodes(graph, NULL, &nodes);
        MKT_CHECK(nodes >= 5, "the graph has %zu nodes (want the 5 ops' kernels at least)", nodes);
        e = cudaGraphLaunch(exec, stream);
        MKT_CHECK(e == cudaSuccess, "cudaGraphLaunch: %s", cudaGetErrorString(e));
        MKT_OK(mk_synchronize(ctx));
        mkt_download(&s.out, graphed);
        MKT_CHECK(memcmp(direct, graphed, n * 4) == 0, "the graph's decode output differs from the direct run");
        cudaGraphExecDestroy(exec);
        cudaGraphDestroy(graph);
    }
    mk_plan_destroy(s.rope), mk_plan_destroy(s.append), mk_plan_destroy(s.decode), mk_plan_destroy(s.copy);
    mkt_free(&s.q), mkt_free(&s.k), mkt_free(&s.out);
    mk_kv_cache_destroy(s.cache);
    mk_context_destroy(ctx);
    free(q), free(k), free(direct), free(graphed);
    return mkt_finish();
}
#else
int main(int argc, char **argv) {
    mkt_init(argc, argv, "test_cuda_graph");
    mkt_skip("built without the CUDA runtime (the CUDA backend is off or emulated)");
}
#endif
