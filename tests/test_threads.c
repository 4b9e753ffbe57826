/*
 * Several threads using medkern at once, each with its own "ref" context: the first use
 * of the library (registry and device list) from all threads together, then mk_add,
 * mk_rmsnorm and mk_attention_prefill run ITERS times per thread. Every thread's results
 * must be bit for bit those of a single-threaded run (and close to the scalar reference).
 * Built with -fsanitize=thread (the `tsan` preset) this is the data-race test.
 *
 * The worker threads use only the public API and their own memory: the mkt_* check
 * counters are not thread-safe, so failures are recorded per thread and checked on the
 * main thread after the join.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "mktest.h"

#define NTHREADS 4
#define ITERS 50

/* shapes: add/rmsnorm x [R, N]; prefill q [T, HQ, D], k/v [T, HKV, D], 2 sequences */
enum { R = 8, N = 64, T = 12, HQ = 4, HKV = 2, D = 32, B = 2 };
static const int32_t cu_seqlens[B + 1] = {0, 5, 12};

typedef struct {
    float a[R * N], b[R * N], w[N];
    float q[T * HQ * D], k[T * HKV * D], v[T * HKV * D];
} inputs;

typedef struct {
    float add[R * N], norm[R * N], attn[T * HQ * D], lse[T * HQ];
} outputs;

static inputs in;
static pthread_barrier_t start_line;

typedef struct {
    int id;
    int ok;
    char why[256];
    outputs first; /* results of the first iteration */
} worker;

#define FAIL(...)                                     \
    do {                                              \
        snprintf(why, n, __VA_ARGS__);                \
        goto out;                                     \
    } while (0)

/* Runs the three ops once on ctx into *o. Returns 1 on success, else 0 and a reason. */
static int run_ops(mk_context *c, outputs *o, char *why, size_t n) {
    mk_buffer *ba = NULL, *bb = NULL, *bw = NULL, *bo = NULL, *bn = NULL;
    mk_buffer *bq = NULL, *bk = NULL, *bv = NULL, *bcu = NULL, *bat = NULL, *bl = NULL;
    int ok = 0;
#define ALLOC(buf, bytes)                                                      \
    if (mk_buffer_alloc(c, (bytes), &(buf)) != MK_OK) FAIL("alloc %s: %s", #buf, mk_last_error())
    ALLOC(ba, sizeof in.a);
    ALLOC(bb, sizeof in.b);
    ALLOC(bw, sizeof in.w);
    ALLOC(bo, sizeof o->add);
    ALLOC(bn, sizeof o->norm);
    ALLOC(bq, sizeof in.q);
    ALLOC(bk, sizeof in.k);
    ALLOC(bv, sizeof in.v);
    ALLOC(bcu, sizeof cu_seqlens);
    ALLOC(bat, sizeof o->attn);
    ALLOC(bl, sizeof o->lse);
#undef ALLOC
#define WRITE(buf, src)                                                        \
    if (mk_buffer_write((buf), 0, (src), sizeof(src)) != MK_OK) FAIL("write %s: %s", #buf, mk_last_error())
    WRITE(ba, in.a);
    WRITE(bb, in.b);
    WRITE(bw, in.w);
    WRITE(bq, in.q);
    WRITE(bk, in.k);
    WRITE(bv, in.v);
    WRITE(bcu, cu_seqlens);
#undef WRITE
    /* poison the outputs so a skipped write is seen */
    mk_buffer_fill(bo, 0, 0xFF, sizeof o->add);
    mk_buffer_fill(bn, 0, 0xFF, sizeof o->norm);
    mk_buffer_fill(bat, 0, 0xFF, sizeof o->attn);
    mk_buffer_fill(bl, 0, 0xFF, sizeof o->lse);

    const int64_t s2[2] = {R, N}, s1[1] = {N}, sq[3] = {T, HQ, D}, skv[3] = {T, HKV, D};
    const int64_t scu[1] = {B + 1}, sl[2] = {T, HQ};
    mk_tensor ta = mk_tensor_make(ba, 0, MK_F32, 2, s2), tb = mk_tensor_make(bb, 0, MK_F32, 2, s2);
    mk_tensor tw = mk_tensor_make(bw, 0, MK_F32, 1, s1), to = mk_tensor_make(bo, 0, MK_F32, 2, s2);
    mk_tensor tn = mk_tensor_make(bn, 0, MK_F32, 2, s2);
    mk_tensor tq = mk_tensor_make(bq, 0, MK_F32, 3, sq), tk = mk_tensor_make(bk, 0, MK_F32, 3, skv);
    mk_tensor tv = mk_tensor_make(bv, 0, MK_F32, 3, skv), tcu = mk_tensor_make(bcu, 0, MK_I32, 1, scu);
    mk_tensor tat = mk_tensor_make(bat, 0, MK_F32, 3, sq), tl = mk_tensor_make(bl, 0, MK_F32, 2, sl);
    mk_attn_params p = {0.0f, 1, 0, 0.0f};

    if (mk_add(c, &ta, &tb, &to) != MK_OK) FAIL("mk_add: %s", mk_last_error());
    if (mk_rmsnorm(c, &ta, &tw, 1e-5f, 0, &tn) != MK_OK) FAIL("mk_rmsnorm: %s", mk_last_error());
    if (mk_attention_prefill(c, &tq, &tk, &tv, &tcu, &tcu, &p, &tat, &tl) != MK_OK)
        FAIL("mk_attention_prefill: %s", mk_last_error());
    if (mk_buffer_read(bo, 0, o->add, sizeof o->add) != MK_OK ||
        mk_buffer_read(bn, 0, o->norm, sizeof o->norm) != MK_OK ||
        mk_buffer_read(bat, 0, o->attn, sizeof o->attn) != MK_OK ||
        mk_buffer_read(bl, 0, o->lse, sizeof o->lse) != MK_OK)
        FAIL("read: %s", mk_last_error());
    ok = 1;
out:
    mk_buffer_free(ba), mk_buffer_free(bb), mk_buffer_free(bw), mk_buffer_free(bo);
    mk_buffer_free(bn), mk_buffer_free(bq), mk_buffer_free(bk), mk_buffer_free(bv);
    mk_buffer_free(bcu), mk_buffer_free(bat), mk_buffer_free(bl);
    return ok;
}

static void *worker_main(void *arg) {
    worker *w = arg;
    char *why = w->why;
    size_t n = sizeof w->why;
    mk_context *c = NULL;
    outputs *o = malloc(sizeof *o);
    if (!o) {
        snprintf(why, n, "out of memory");
        return NULL;
    }
    pthread_barrier_wait(&start_line);
    /* first use of the library, from every thread at once: each thread starts at a
       different entry point (devices, registry, context) */
    int count = 0, devs = 0;
    mk_device_info info;
    switch (w->id % 3) {
    case 0:
        if (mk_device_count(&devs) != MK_OK || devs < 1) FAIL("mk_device_count: %d: %s", devs, mk_last_error());
        if (mk_device_get_info(0, &info) != MK_OK || strcmp(info.id, "ref") != 0)
            FAIL("mk_device_get_info(0): %s", mk_last_error());
        break;
    case 1:
        if (mk_kernel_list(MK_OP_COUNT, NULL, 0, &count) != MK_OK || count < MK_OP_COUNT)
            FAIL("mk_kernel_list: count %d: %s", count, mk_last_error());
        break;
    default:
        break; /* straight to mk_context_create */
    }
    if (mk_context_create("ref", &c) != MK_OK) FAIL("mk_context_create: %s", mk_last_error());
    for (int it = 0; it < ITERS; it++) {
        outputs *dst = it == 0 ? &w->first : o;
        if (!run_ops(c, dst, why, n)) goto out;
        if (it > 0 && memcmp(o, &w->first, sizeof *o) != 0)
            FAIL("iteration %d differs from iteration 0 in the same thread", it);
        const char *k = mk_last_kernel(c, MK_OP_ATTENTION_PREFILL);
        if (!k || strcmp(k, "ref.scalar") != 0) FAIL("mk_last_kernel(attention_prefill) is %s", k ? k : "NULL");
    }
    w->ok = 1;
out:
    if (c) mk_context_destroy(c);
    free(o);
    return NULL;
}
#undef FAIL

static void make_inputs(void) {
    mkref_rng r;
    mkt_rng(&r, 1);
    mkt_fill_normal(&r, in.a, R * N, 2.0f, 1.0f);
    mkt_fill_normal(&r, in.b, R * N, 2.0f, 1.0f);
    mkt_fill_normal(&r, in.w, N, 1.0f, 1.0f);
    mkt_fill_normal(&r, in.q, T * HQ * D, 1.0f, 1.0f);
    mkt_fill_normal(&r, in.k, T * HKV * D, 1.0f, 1.0f);
    mkt_fill_normal(&r, in.v, T * HKV * D, 1.0f, 1.0f);
}

int main(int argc, char **argv) {
    mkt_init(argc, argv, "threads");
    unsetenv("MEDKERN_KERNELS");
    make_inputs(); /* the reference helpers only: no medkern call before the barrier */

    static worker w[NTHREADS];
    pthread_t th[NTHREADS];
    pthread_barrier_init(&start_line, NULL, NTHREADS);
    int started = 0;
    for (int i = 0; i < NTHREADS; i++) {
        w[i].id = i;
        if (pthread_create(&th[i], NULL, worker_main, &w[i]) == 0) started++;
    }
    MKT_CHECK(started == NTHREADS, "only %d threads started", started);
    if (started != NTHREADS) return mkt_finish(); /* the barrier would never open */
    for (int i = 0; i < NTHREADS; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start_line);
    for (int i = 0; i < NTHREADS; i++) MKT_CHECK(w[i].ok, "thread %d: %s", i, w[i].why);

    /* the single-threaded run, after the threads are gone */
    static outputs single;
    mk_context *c = NULL;
    char why[256] = "";
    MKT_OK(mk_context_create("ref", &c));
    if (c) {
        int ok = run_ops(c, &single, why, sizeof why);
        MKT_CHECK(ok, "single-threaded run: %s", why);
        mk_context_destroy(c);
        if (ok)
            for (int i = 0; i < NTHREADS; i++)
                if (w[i].ok) {
                    MKT_CHECK(memcmp(w[i].first.add, single.add, sizeof single.add) == 0,
                              "thread %d: mk_add differs from the single-threaded run", i);
                    MKT_CHECK(memcmp(w[i].first.norm, single.norm, sizeof single.norm) == 0,
                              "thread %d: mk_rmsnorm differs from the single-threaded run", i);
                    MKT_CHECK(memcmp(w[i].first.attn, single.attn, sizeof single.attn) == 0,
                              "thread %d: mk_attention_prefill out differs from the single-threaded run", i);
                    MKT_CHECK(memcmp(w[i].first.lse, single.lse, sizeof single.lse) == 0,
                              "thread %d: mk_attention_prefill lse differs from the single-threaded run", i);
                }
        if (ok) { /* and the single-threaded run is right */
            static float want[T * HQ * D], wl[T * HQ], wa[R * N], wn[R * N];
            mkref_add(in.a, in.b, R * N, wa);
            mkref_rmsnorm(in.a, in.w, R, N, 1e-5f, 0, wn);
            mk_attn_params p = {0.0f, 1, 0, 0.0f};
            mkref_attention_prefill(in.q, in.k, in.v, cu_seqlens, cu_seqlens, B, HQ, HKV, D, &p, want, wl);
            mkt_compare("add", single.add, wa, R * N, mkt_tol(MK_F32), 0);
            mkt_compare("rmsnorm", single.norm, wn, R * N, mkt_tol(MK_F32), 0);
            mkt_compare("attention_prefill", single.attn, want, T * HQ * D, mkt_tol(MK_F32), 0);
            mkt_compare("attention_prefill lse", single.lse, wl, T * HQ, mkt_tol(MK_F32), 0);
        }
    }
    return mkt_finish();
}
