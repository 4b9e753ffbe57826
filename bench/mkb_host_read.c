/* The STREAM-like host read benchmark body (mkb_host_read, mkbench.h): a sum of 64-bit
   integers over an array, split in equal slices over N threads, each bound to its own
   core; bytes = the array. Used by bench_memory (host_read/...) and bench_roofline. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mkbench.h"

/* The array is allocated and written once per process and kept: each Google Benchmark
   run of the same benchmark would otherwise refill gigabytes. */
static uint64_t *g_array;
static size_t g_array_n;

static uint64_t *host_array(size_t n) {
    if (g_array_n < n) {
        free(g_array);
        g_array = aligned_alloc(64, n * sizeof *g_array);
        g_array_n = g_array ? n : 0;
        for (size_t i = 0; i < g_array_n; i++) g_array[i] = i * 0x9E3779B97F4A7C15ull;
    }
    return g_array;
}

void mkb_host_read_release(void) {
    free(g_array);
    g_array = NULL;
    g_array_n = 0;
}

static uint64_t sum(const uint64_t *a, size_t n) {
    /* Eight independent chains of integer adds (exact in any order, so the compiler may
       also vectorize): one chain would cap a core at one 8-byte add per cycle, below what
       the memory system delivers; with eight, memory sets the speed. */
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        s0 += a[i], s1 += a[i + 1], s2 += a[i + 2], s3 += a[i + 3];
        s4 += a[i + 4], s5 += a[i + 5], s6 += a[i + 6], s7 += a[i + 7];
    }
    for (; i < n; i++) s0 += a[i];
    return s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7;
}

typedef struct {
    pthread_mutex_t init;   /* held while the workers are created */
    pthread_barrier_t start, done;
    const uint64_t *a;
    size_t n;
    int threads, quit;
    uint64_t part[64];
} pool;

typedef struct {
    pool *p;
    int index;
} worker_arg;

static void slice(pool *p, int i) {
    size_t per = p->n / (size_t)p->threads, first = per * (size_t)i;
    size_t len = i == p->threads - 1 ? p->n - first : per;
    p->part[i] = sum(p->a + first, len);
}

static void *worker(void *arg) {
    worker_arg *w = arg;
    mkb_host_bind_core(w->index, NULL, 0);
    pthread_mutex_lock(&w->p->init); /* the barriers exist once this is released */
    pthread_mutex_unlock(&w->p->init);
    for (;;) {
        pthread_barrier_wait(&w->p->start);
        if (w->p->quit) break;
        slice(w->p, w->index);
        pthread_barrier_wait(&w->p->done);
    }
    return NULL;
}

size_t mkb_host_read_bytes(int full) {
    const size_t mib = (size_t)1 << 20;
    if (!full) return 64 * mib;
    /* at least 4x the LLC (STREAM's rule) and 256 MiB, at most 1/8 of host memory */
    size_t big = 4 * mkb_host_llc_bytes();
    if (big < 256 * mib) big = 256 * mib;
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0 && big > (size_t)pages * (size_t)page / 8)
        big = (size_t)pages * (size_t)page / 8;
    return (big + mib - 1) / mib * mib;
}

static volatile uint64_t g_sink;

void mkb_host_read(mkb_state *st, int threads, size_t bytes) {
    pool p;
    memset(&p, 0, sizeof p);
    if (threads < 1 || threads > 64) {
        mkb_fail(st, "host read: threads must be 1..64");
        return;
    }
    p.n = bytes / sizeof(uint64_t);
    p.a = host_array(p.n);
    if (!p.a) {
        mkb_fail(st, "out of host memory for the array");
        return;
    }
    pthread_t tid[64];
    worker_arg args[64];
    pthread_mutex_init(&p.init, NULL);
    pthread_mutex_lock(&p.init);
    p.threads = 1; /* the main thread is worker 0 */
    for (; p.threads < threads; p.threads++) {
        args[p.threads] = (worker_arg){&p, p.threads};
        if (pthread_create(&tid[p.threads], NULL, worker, &args[p.threads]) != 0) break;
    }
    pthread_barrier_init(&p.start, NULL, (unsigned)p.threads);
    pthread_barrier_init(&p.done, NULL, (unsigned)p.threads);
    pthread_mutex_unlock(&p.init);
    if (p.threads < threads) mkb_fail(st, "pthread_create failed");

    mkb_set_bytes(st, (double)(p.n * sizeof(uint64_t)));
    char label[64];
    snprintf(label, sizeof label, "threads=%d array=%zu MiB", threads, bytes >> 20);
    mkb_label(st, label);
    while (p.threads == threads && mkb_next(st)) {
        pthread_barrier_wait(&p.start);
        slice(&p, 0);
        pthread_barrier_wait(&p.done);
        uint64_t s = 0;
        for (int i = 0; i < p.threads; i++) s += p.part[i];
        g_sink = s;
    }
    p.quit = 1;
    pthread_barrier_wait(&p.start);
    for (int i = 1; i < p.threads; i++) pthread_join(tid[i], NULL);
    pthread_barrier_destroy(&p.start);
    pthread_barrier_destroy(&p.done);
    pthread_mutex_destroy(&p.init);
}
