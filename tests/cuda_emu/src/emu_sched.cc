/*
 * medkern's CUDA emulator: kernel launches, the block scheduler, block barriers and the
 * generic warp collective.
 *
 * A launch runs every block to completion before it returns (so stream order and events
 * need no queue). A block's threads are fibers (emu_fiber.h) on this host thread's stack
 * pool. The schedule (MEDKERN_EMU_SCHEDULE) decides which runnable thread runs next each
 * time one blocks:
 *   forward      round robin in increasing thread order (after a barrier, from thread 0);
 *   reverse      the same in decreasing order, blocks in reverse order too;
 *   random       a random runnable thread each time, blocks shuffled (seed MEDKERN_SEED);
 *   warp-serial  one warp runs until all its threads wait at the block barrier (or exited)
 *                before the next warp starts: what exposes a missing __syncthreads.
 * Shared memory (static and dynamic) is allocated per block and filled with 0xFF bytes
 * (NaN in every float type, -1 in integers), so a read of an element nobody wrote shows.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <string>

#include "emu_internal.h"

namespace mkemu {

__thread thread_view *t_cur;
__thread uint3 t_block_idx, t_block_dim, t_grid_dim;
__thread block_run *t_blk;

/* ------------------------------------------------------------------ stacks */

static size_t stack_bytes() {
    static size_t n = [] {
        const char *e = getenv("MEDKERN_EMU_STACK_KB");
        long kb = e ? strtol(e, nullptr, 10) : 0;
        return (size_t)(kb >= 16 ? kb : 256) * 1024;
    }();
    return n;
}

/* This host thread's stacks, kept across launches. */
struct stack_pool {
    std::vector<fiber_stack> stacks;
    ~stack_pool() {
        for (auto &s : stacks) stack_free(&s);
    }
};
static thread_local stack_pool t_pool;

/* ------------------------------------------------------------------ faults */

/* A source position as text, in a trivially destructible value: fault() never returns, so
   its arguments must own no heap memory (an abandoned fiber's temporaries are never freed). */
struct where_text {
    char s[320];
    const char *c_str() const { return s; }
};
static where_text where(site s) {
    where_text w;
    snprintf(w.s, sizeof w.s, "%s:%d", s.file ? s.file : "?", s.line);
    return w;
}

static std::string who() {
    block_run *b = t_blk;
    char buf[1024];
    if (!b) return "host";
    fiber *f = cur_fiber();
    if (f)
        snprintf(buf, sizeof buf, "kernel %s (launched at %s) block (%u,%u,%u) thread (%u,%u,%u)", b->kernel,
                 where(b->launch_site).c_str(), t_block_idx.x, t_block_idx.y, t_block_idx.z, f->tid.x, f->tid.y,
                 f->tid.z);
    else
        snprintf(buf, sizeof buf, "kernel %s (launched at %s) block (%u,%u,%u)", b->kernel,
                 where(b->launch_site).c_str(), t_block_idx.x, t_block_idx.y, t_block_idx.z);
    return buf;
}

/* Ends the block: the message is recorded, the faulting fiber never resumes. */
static void fail_block(const std::string &msg) {
    block_run *b = t_blk;
    if (!b->faulted) {
        b->faulted = true;
        record_fault(who() + ": " + msg);
    }
}

static void to_scheduler();

void fault(site s, const char *fmt, ...) {
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    char msg[2600];
    snprintf(msg, sizeof msg, "%s at %s", buf, where(s).c_str());
    if (!t_blk || !cur_fiber()) { /* outside a kernel: a host-side misuse */
        record_fault(std::string("host: ") + msg);
        abort();
    }
    fail_block(msg); /* its temporaries are gone when it returns */
    for (;;) to_scheduler(); /* the scheduler stops the block; this fiber is abandoned */
}

/* ------------------------------------------------------------------ scheduling */

static void to_scheduler() {
    fiber *f = cur_fiber();
    fiber_switch(&f->ctx, &t_blk->sched);
}

static fiber *fib(int i) { return &t_blk->fibers[(size_t)i]; }

static void release_barrier_if_complete() {
    block_run *b = t_blk;
    if (b->at_barrier == 0 || b->at_barrier != b->live) return;
    /* every live thread waits: they must all be at the same __syncthreads */
    const fiber *first = nullptr;
    for (auto &g : b->fibers)
        if (g.state == WAIT_BAR) {
            if (!first) first = &g;
            else if (g.bar_site.line != first->bar_site.line || strcmp(g.bar_site.file, first->bar_site.file) != 0) {
                char m[2048];
                snprintf(m, sizeof m,
                         "barrier divergence: thread %d waits at __syncthreads %s, thread %d at __syncthreads %s",
                         first->linear, where(first->bar_site).c_str(), g.linear, where(g.bar_site).c_str());
                fail_block(m);
                return;
            }
        }
    for (auto &g : b->fibers)
        if (g.state == WAIT_BAR) g.state = RUNNABLE;
    b->at_barrier = 0;
    b->barrier_released = true;
}

void syncthreads(site s) {
    fiber *f = cur_fiber();
    f->state = WAIT_BAR;
    f->bar_site = s;
    t_blk->at_barrier++;
    release_barrier_if_complete();
    to_scheduler();
}

void warp_collective(int kind, const char *name, unsigned mask, void *arg, warp_fn fn, site s) {
    block_run *b = t_blk;
    fiber *f = cur_fiber();
    if (!(mask >> f->lane & 1u))
        fault(s, "%s: lane %d calls it with mask 0x%08x, which leaves the lane out", name, f->lane, mask);
    const int base = f->warp * 32;
    f->state = WAIT_WARP;
    f->c_kind = kind, f->c_name = name, f->c_mask = mask, f->c_arg = arg, f->c_fn = fn, f->c_site = s;
    bool all = true;
    for (int l = 0; l < 32; l++) {
        if (!(mask >> l & 1u)) continue;
        if (base + l >= b->nthreads)
            fault(s, "%s: mask 0x%08x names lane %d, which does not exist (the block has %d threads)", name, mask,
                  l, b->nthreads);
        fiber *g = fib(base + l);
        if (g->state == DONE)
            fault(s, "%s: mask 0x%08x names lane %d, which has exited", name, mask, l);
        if (g->state != WAIT_WARP) {
            all = false;
            continue;
        }
        if (g->c_kind != kind || g->c_mask != mask)
            fault(s, "%s with mask 0x%08x meets lane %d in %s with mask 0x%08x at %s", name, mask, l, g->c_name,
                  g->c_mask, where(g->c_site).c_str());
        if (g->c_site.line != s.line || strcmp(g->c_site.file, s.file) != 0)
            fault(s, "%s: lane %d waits at another call site, %s (warp divergence)", name, l,
                  where(g->c_site).c_str());
    }
    if (all) {
        void *args[32];
        for (int l = 0; l < 32; l++) args[l] = (mask >> l & 1u) ? fib(base + l)->c_arg : nullptr;
        fn(args, mask, s); /* the last lane to arrive completes the collective for all */
        for (int l = 0; l < 32; l++)
            if (mask >> l & 1u) fib(base + l)->state = RUNNABLE;
    }
    to_scheduler();
}

static void fiber_entry() {
    block_run *b = t_blk;
    fiber *f = cur_fiber();
    fiber_started(&f->ctx, &b->sched);
    b->body(b->body_ctx);
    if (!f->cp.empty()) f->cp.clear(); /* copies never waited for: they never land here */
    f->state = DONE;
    b->live--;
    /* a lane that exits while lanes of its warp wait for it in a collective */
    for (int l = 0; l < 32 && !b->faulted; l++) {
        const int i = f->warp * 32 + l;
        if (i >= b->nthreads) break;
        fiber *g = fib(i);
        if (g->state == WAIT_WARP && (g->c_mask >> f->lane & 1u)) {
            char m[1024];
            snprintf(m, sizeof m, "lane %d exited while lane %d waits for it in %s (mask 0x%08x) at %s", f->lane, l,
                     g->c_name, g->c_mask, where(g->c_site).c_str());
            fail_block(m);
        }
    }
    if (!b->faulted) release_barrier_if_complete(); /* exited threads count as arrived */
    fiber_exit(&f->ctx, &b->sched);
}

static uint64_t rng_next(uint64_t *s) { /* splitmix64 */
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static int pick(int last) {
    block_run *b = t_blk;
    const int n = b->nthreads;
    if (b->barrier_released) {
        b->barrier_released = false;
        last = b->sched_kind == SCHED_REVERSE ? n : -1;
    }
    switch (b->sched_kind) {
    case SCHED_FORWARD:
        for (int k = 1; k <= n; k++) {
            int i = ((last + k) % n + n) % n;
            if (fib(i)->state == RUNNABLE) return i;
        }
        return -1;
    case SCHED_REVERSE:
        for (int k = 1; k <= n; k++) {
            int i = ((last - k) % n + n) % n;
            if (fib(i)->state == RUNNABLE) return i;
        }
        return -1;
    case SCHED_RANDOM: {
        int start = (int)(rng_next(&b->rng) % (uint64_t)n);
        for (int k = 0; k < n; k++) {
            int i = (start + k) % n;
            if (fib(i)->state == RUNNABLE) return i;
        }
        return -1;
    }
    case SCHED_WARP_SERIAL: {
        /* stay in the last thread's warp while it has a runnable lane */
        int w = last < 0 ? 0 : last / 32;
        for (int k = 0; k < b->nwarps; k++) {
            int ww = (w + k) % b->nwarps;
            for (int l = 0; l < 32; l++) {
                int i = ww * 32 + (k == 0 && last >= 0 ? (last % 32 + 1 + l) % 32 : l);
                if (i < n && fib(i)->state == RUNNABLE) return i;
            }
        }
        return -1;
    }
    }
    return -1;
}

static void report_deadlock() {
    block_run *b = t_blk;
    std::map<std::string, int> waits;
    for (auto &g : b->fibers) {
        if (g.state == WAIT_BAR) waits[std::string("__syncthreads at ") + where(g.bar_site).c_str()]++;
        else if (g.state == WAIT_WARP) {
            char m[1024];
            snprintf(m, sizeof m, "%s (mask 0x%08x) at %s, warp %d", g.c_name, g.c_mask, where(g.c_site).c_str(),
                     g.warp);
            waits[m]++;
        }
    }
    std::string msg = "deadlock: no thread can run;";
    for (auto &w : waits) msg += " " + std::to_string(w.second) + " thread(s) wait in " + w.first + ";";
    t_cur = nullptr;
    fail_block(msg);
}

static schedule_kind schedule_from_env() {
    const char *e = getenv("MEDKERN_EMU_SCHEDULE");
    if (!e || !*e || !strcmp(e, "forward")) return SCHED_FORWARD;
    if (!strcmp(e, "reverse")) return SCHED_REVERSE;
    if (!strcmp(e, "random")) return SCHED_RANDOM;
    if (!strcmp(e, "warp-serial")) return SCHED_WARP_SERIAL;
    fprintf(stderr, "cuda-emu: MEDKERN_EMU_SCHEDULE=%s is not forward, reverse, random or warp-serial; using forward\n", e);
    return SCHED_FORWARD;
}

static uint64_t seed_from_env() {
    const char *e = getenv("MEDKERN_SEED");
    return e ? strtoull(e, nullptr, 0) : 1;
}

static void free_shared(block_run *b) {
    for (auto &s : b->statics) free(s.p);
    b->statics.clear();
    free(b->dyn);
    b->dyn = nullptr;
}

/* Runs one block; false if it faulted. */
static bool run_block(block_run *b, uint3 bid) {
    t_block_idx = bid;
    b->dyn = nullptr;
    if (b->dyn_bytes) {
        if (posix_memalign(reinterpret_cast<void **>(&b->dyn), 128, b->dyn_bytes) != 0) {
            record_fault(std::string("kernel ") + b->kernel + ": out of host memory for shared memory");
            return false;
        }
        memset(b->dyn, 0xFF, b->dyn_bytes);
    }
    b->static_bytes = 0;
    b->live = b->nthreads;
    b->at_barrier = 0;
    b->barrier_released = false;
    for (int i = 0; i < b->nthreads; i++) {
        fiber *f = fib(i);
        f->state = RUNNABLE;
        f->cp.clear();
        f->cp_groups = 0;
        f->ctx = fiber_ctx();
        stack_reset(f->stack);
        fiber_init(&f->ctx, f->stack, fiber_entry);
    }
    int last = b->sched_kind == SCHED_REVERSE ? b->nthreads : -1;
    while (b->live > 0 && !b->faulted) {
        int i = pick(last);
        if (i < 0) {
            report_deadlock();
            break;
        }
        last = i;
        t_cur = fib(i);
        fiber_switch(&b->sched, &fib(i)->ctx);
    }
    t_cur = nullptr;
    free_shared(b);
    return !b->faulted;
}

void launch_raw(const void *func, const char *name, site at, const launch_cfg &c, void (*body)(void *), void *ctx) {
    if (sticky_error() != cudaSuccess) return; /* a faulted context runs nothing */
    if (t_blk) {
        record_fault(std::string("kernel ") + name + " launched from device code at " + where(at).c_str() +
                     " (dynamic parallelism is not emulated)");
        return;
    }
    const uint64_t threads = (uint64_t)c.block.x * c.block.y * c.block.z;
    if (threads == 0 || threads > 1024 || c.block.x > 1024 || c.block.y > 1024 || c.block.z > 64 || c.grid.x == 0 ||
        c.grid.y == 0 || c.grid.z == 0 || c.grid.x > 0x7FFFFFFFu || c.grid.y > 65535 || c.grid.z > 65535) {
        set_last_error(cudaErrorInvalidConfiguration);
        return;
    }
    const int optin = func_dynamic_smem_optin(func);
    const size_t dyn_limit = optin >= 0 ? (size_t)optin : kSmemDefault;
    if (c.smem > dyn_limit) { /* as the hardware: more than 48 KB only after the opt-in */
        set_last_error(cudaErrorInvalidValue);
        return;
    }
    block_run b;
    b.kernel = name;
    b.launch_site = at;
    b.nthreads = (int)threads;
    b.nwarps = (int)((threads + 31) / 32);
    b.fibers.resize(threads);
    b.body = body;
    b.body_ctx = ctx;
    b.dyn = nullptr;
    b.dyn_bytes = c.smem;
    b.static_bytes = 0;
    b.smem_limit = optin >= 0 ? kSmemOptinMax : kSmemDefault;
    b.faulted = false;
    b.sched_kind = schedule_from_env();
    b.rng = seed_from_env() ^ 0x6D656D6B65726E31ull;
    t_block_dim = uint3{c.block.x, c.block.y, c.block.z};
    t_grid_dim = uint3{c.grid.x, c.grid.y, c.grid.z};

    while (t_pool.stacks.size() < threads) {
        fiber_stack s;
        if (!stack_alloc(&s, stack_bytes())) {
            set_last_error(cudaErrorLaunchOutOfResources);
            return;
        }
        t_pool.stacks.push_back(s);
    }
    for (uint64_t i = 0; i < threads; i++) {
        fiber &f = b.fibers[i];
        f.linear = (int)i;
        f.tid = uint3{(unsigned)(i % c.block.x), (unsigned)(i / c.block.x % c.block.y),
                      (unsigned)(i / ((uint64_t)c.block.x * c.block.y))};
        f.lane = (int)(i % 32);
        f.warp = (int)(i / 32);
        f.stack = &t_pool.stacks[i];
    }

    const uint64_t nblocks = (uint64_t)c.grid.x * c.grid.y * c.grid.z;
    std::vector<uint64_t> order;
    if (b.sched_kind == SCHED_RANDOM && nblocks <= (1u << 20)) {
        order.resize(nblocks);
        for (uint64_t i = 0; i < nblocks; i++) order[i] = i;
        for (uint64_t i = nblocks; i > 1; i--) std::swap(order[i - 1], order[rng_next(&b.rng) % i]);
    }
    t_blk = &b;
    for (uint64_t k = 0; k < nblocks; k++) {
        uint64_t lin = order.empty() ? (b.sched_kind == SCHED_REVERSE ? nblocks - 1 - k : k) : order[k];
        uint3 bid{(unsigned)(lin % c.grid.x), (unsigned)(lin / c.grid.x % c.grid.y),
                  (unsigned)(lin / ((uint64_t)c.grid.x * c.grid.y))};
        if (!run_block(&b, bid)) break;
    }
    t_blk = nullptr;
}

/* ------------------------------------------------------------------ shared memory */

void *shared_static(const char *key, size_t bytes, size_t align, site s) {
    block_run *b = t_blk;
    if (!b) fault(s, "__shared__ variable used outside a kernel");
    for (auto &a : b->statics)
        if (a.key == key || strcmp(a.key, key) == 0) return a.p;
    b->static_bytes += bytes;
    if (b->static_bytes > kSmemDefault)
        fault(s, "static shared memory of %zu bytes exceeds 48 KB (ptxas would reject the kernel)", b->static_bytes);
    if (b->static_bytes + b->dyn_bytes > b->smem_limit)
        fault(s, "shared memory: %zu static + %zu dynamic bytes exceed the block limit of %zu%s", b->static_bytes,
              b->dyn_bytes, b->smem_limit,
              b->smem_limit == kSmemDefault ? " (no cudaFuncSetAttribute MaxDynamicSharedMemorySize opt-in)" : "");
    void *p = nullptr;
    if (posix_memalign(&p, align < 16 ? 16 : align, bytes ? bytes : 1) != 0) fault(s, "out of host memory");
    memset(p, 0xFF, bytes);
    b->statics.push_back(shared_alloc{key, static_cast<unsigned char *>(p), bytes});
    return p;
}

void *shared_dynamic(size_t align) {
    block_run *b = t_blk;
    if (!b) fault(MKEMU_HERE, "extern __shared__ used outside a kernel");
    (void)align; /* the buffer is 128-byte aligned */
    return b->dyn;
}

bool in_shared(const void *p, size_t bytes) {
    block_run *b = t_blk;
    if (!b) return false;
    const unsigned char *q = static_cast<const unsigned char *>(p);
    if (b->dyn && q >= b->dyn && q + bytes <= b->dyn + b->dyn_bytes) return true;
    for (auto &a : b->statics)
        if (q >= a.p && q + bytes <= a.p + a.bytes) return true;
    return false;
}

/* ------------------------------------------------------------------ shuffles and votes */

/* PTX ISA, "Parallel Synchronization and Communication Instructions: shfl.sync":
     lane[4:0] = laneid; bval = b[4:0]; cval = c[4:0]; segmask = c[12:8];
     maxLane = (lane & segmask) | (cval & ~segmask); minLane = lane & segmask;
     up:   j = lane - bval; pval = (j >= maxLane)
     down: j = lane + bval; pval = (j <= maxLane)
     bfly: j = lane ^ bval; pval = (j <= maxLane)
     idx:  j = minLane | (bval & ~segmask); pval = (j <= maxLane)
     if (!pval) j = lane;  d = a of lane j
   A source lane outside membermask gives an undefined value: here all-ones bits. */
void shfl_complete(void *const args[32], unsigned mask, site s) {
    (void)s;
    for (int lane = 0; lane < 32; lane++) {
        if (!(mask >> lane & 1u)) continue;
        shfl_arg *a = static_cast<shfl_arg *>(args[lane]);
        const int bval = a->b & 31, cval = a->c & 31, segmask = (a->c >> 8) & 31;
        const int maxLane = (lane & segmask) | (cval & ~segmask), minLane = lane & segmask;
        int j = lane;
        bool pval = false;
        switch (a->mode) {
        case 0: j = lane - bval; pval = j >= maxLane; break;
        case 1: j = lane + bval; pval = j <= maxLane; break;
        case 2: j = lane ^ bval; pval = j <= maxLane; break;
        default: j = minLane | (bval & ~segmask); pval = j <= maxLane; break;
        }
        if (!pval) j = lane;
        a->out = (mask >> j & 1u) ? static_cast<shfl_arg *>(args[j])->v : ~(uint64_t)0;
    }
}

/* PTX ISA, "vote.sync": ballot sets bit i for every lane i of membermask whose predicate is
   true; any / all reduce the predicates of membermask's lanes. The kind carries the mode. */
void vote_complete(void *const args[32], unsigned mask, site s) {
    (void)s;
    unsigned ballot = 0;
    for (int l = 0; l < 32; l++)
        if ((mask >> l & 1u) && static_cast<vote_arg *>(args[l])->pred) ballot |= 1u << l;
    const int mode = cur_fiber()->c_kind / 16;
    for (int l = 0; l < 32; l++) {
        if (!(mask >> l & 1u)) continue;
        vote_arg *a = static_cast<vote_arg *>(args[l]);
        a->out = mode == 0 ? ballot : mode == 1 ? (ballot != 0) : (ballot == mask);
    }
}

void syncwarp_complete(void *const args[32], unsigned mask, site s) { (void)args, (void)mask, (void)s; }

} /* namespace mkemu */
