/*
 * The threads backend's worker pool: one per context, created at context_init and
 * joined at context_fini (no global state). A job is a function split in static parts:
 * part 0 runs on the calling thread, part i on worker i. Workers sleep on a condition
 * variable between jobs; a job is announced by bumping `generation` under the lock, and
 * the caller waits until every worker has reported back, so a job's writes are visible
 * to the caller when threads_pool_run returns (the mutex orders them).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "threads_internal.h"

typedef struct {
    threads_pool *pool;
    int id; /* 1..nthreads-1: the part it runs */
} threads_worker;

struct threads_pool {
    int nthreads;
    int nworkers;              /* started workers (nthreads-1 once created) */
    pthread_t *threads;
    threads_worker *workers;
    pthread_mutex_t lock;
    pthread_cond_t wake;       /* a new job or stop                          */
    pthread_cond_t done;       /* pending reached 0                          */
    unsigned long generation;  /* bumped per job                             */
    int pending;               /* workers that have not finished this job    */
    int stop;
    threads_fn fn;             /* the current job                            */
    void *arg;
    int nparts;
};

static void *worker_main(void *p_) {
    threads_worker *w = p_;
    threads_pool *p = w->pool;
    unsigned long seen = 0;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->stop && p->generation == seen) pthread_cond_wait(&p->wake, &p->lock);
        if (p->stop) break;
        seen = p->generation;
        threads_fn fn = p->fn;
        void *arg = p->arg;
        int nparts = p->nparts;
        pthread_mutex_unlock(&p->lock);
        if (w->id < nparts) fn(arg, w->id, nparts);
        pthread_mutex_lock(&p->lock);
        if (--p->pending == 0) pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

static void stop_workers(threads_pool *p) {
    pthread_mutex_lock(&p->lock);
    p->stop = 1;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < p->nworkers; i++) pthread_join(p->threads[i], NULL);
    p->nworkers = 0;
}

mk_status threads_pool_create(int nthreads, threads_pool **out) {
    *out = NULL;
    if (nthreads < 1 || nthreads > THREADS_MAX)
        return mk__fail(MK_ERR_INTERNAL, "threads backend: pool of %d threads", nthreads);
    threads_pool *p = mk__calloc(1, sizeof *p);
    if (!p) return mk__fail(MK_ERR_OUT_OF_MEMORY, "out of host memory for the thread pool");
    p->nthreads = nthreads;
    p->threads = mk__calloc((size_t)nthreads, sizeof *p->threads);
    p->workers = mk__calloc((size_t)nthreads, sizeof *p->workers);
    if (!p->threads || !p->workers) {
        mk__free(p->threads);
        mk__free(p->workers);
        mk__free(p);
        return mk__fail(MK_ERR_OUT_OF_MEMORY, "out of host memory for the thread pool");
    }
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    for (int i = 1; i < nthreads; i++) {
        p->workers[i - 1] = (threads_worker){p, i};
        int err = pthread_create(&p->threads[i - 1], NULL, worker_main, &p->workers[i - 1]);
        if (err != 0) {
            threads_pool_destroy(p); /* joins the workers started so far */
            return mk__fail(MK_ERR_DEVICE, "threads backend: pthread_create failed for worker %d of %d: %s",
                            i, nthreads - 1, strerror(err));
        }
        p->nworkers = i;
    }
    *out = p;
    return MK_OK;
}

void threads_pool_destroy(threads_pool *p) {
    if (!p) return;
    stop_workers(p);
    pthread_cond_destroy(&p->done);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->lock);
    mk__free(p->threads);
    mk__free(p->workers);
    mk__free(p);
}

void threads_pool_run(threads_pool *p, threads_fn fn, void *arg, int nparts) {
    if (nparts > p->nthreads) nparts = p->nthreads;
    if (nparts < 1) nparts = 1;
    if (nparts == 1 || p->nworkers == 0) { /* nothing to hand out */
        fn(arg, 0, 1);
        return;
    }
    pthread_mutex_lock(&p->lock);
    p->fn = fn;
    p->arg = arg;
    p->nparts = nparts;
    p->pending = p->nworkers;
    p->generation++;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    fn(arg, 0, nparts);
    pthread_mutex_lock(&p->lock);
    while (p->pending > 0) pthread_cond_wait(&p->done, &p->lock);
    pthread_mutex_unlock(&p->lock);
}

void threads_range(int64_t total, int part, int nparts, int64_t *begin, int64_t *end) {
    int64_t q = total / nparts, r = total % nparts;
    *begin = q * part + (part < r ? part : r);
    *end = *begin + q + (part < r ? 1 : 0);
}
