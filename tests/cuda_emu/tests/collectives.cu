/*
 * Collective conformance test for the CUDA execution-model emulator (tests/cuda_emu) — and for
 * real GPUs. One plain CUDA program: it launches small kernels that exercise every warp/block
 * collective and every PTX wrapper in kernels/cuda/ptx.cuh, copies the results back and compares
 * them, register by register, with HOST scalar models written from the PTX ISA text (section
 * names are cited next to each model). The models deliberately do not look at ptx.cuh or at
 * medkern's kernels: the same binary run on an H100 cross-checks the emulator against hardware.
 *
 *   emulator:  tools/cuda-emu-run tests/cuda_emu/tests/collectives.cu [FILTER]
 *   GPU:       nvcc -std=c++17 -arch=sm_90a -I kernels/cuda -I runtime/include \
 *                   tests/cuda_emu/tests/collectives.cu -o collectives && ./collectives [FILTER]
 *
 * FILTER (optional) runs only the families whose name contains it: shfl, vote, syncwarp,
 * syncthreads, ldmatrix, mma, cp_async. Output: one PASS/FAIL line per check group, then
 * "N passed, M failed"; exit status 0 only when M == 0. Needs sm_89+ (the e4m3 mma).
 */
#include <cuda_runtime.h>

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vector>

#include "ptx.cuh"

/* =============================================================================================
 * Bookkeeping
 * ===========================================================================================*/

static int g_pass = 0, g_fail = 0;

/* One check group: counts compared values, remembers the first few mismatches. */
struct Check {
    char name[160];
    long total = 0, bad = 0;
    char first[400];
    char details[4][400];
    int ndetails = 0;
    bool done = false;

    Check() { name[0] = first[0] = 0; }
    explicit Check(const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(name, sizeof name, fmt, ap);
        va_end(ap);
        first[0] = 0;
    }
    Check(const Check &) = delete;
    Check &operator=(const Check &) = delete;
    void named(const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(name, sizeof name, fmt, ap);
        va_end(ap);
    }
    /* Compare one 32-bit value; `where` (printf format) says which lane/register/parameter. */
    void u32(uint32_t got, uint32_t want, const char *where, ...) {
        ++total;
        if (got == want) return;
        ++bad;
        if (bad > 5) return;
        char loc[300];
        va_list ap;
        va_start(ap, where);
        vsnprintf(loc, sizeof loc, where, ap);
        va_end(ap);
        char *dst = bad == 1 ? first : details[ndetails++];
        snprintf(dst, 400, "%s got 0x%08x want 0x%08x", loc, got, want);
    }
    /* An infrastructure failure (CUDA error, launch failure): the group fails. */
    void error(const char *fmt, ...) {
        ++bad;
        if (bad > 5) return;
        char *dst = bad == 1 ? first : details[ndetails++];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(dst, 400, fmt, ap);
        va_end(ap);
    }
    void finish() {
        if (done) return;
        done = true;
        if (total == 0 && bad == 0) error("nothing was checked");
        if (bad == 0) {
            printf("PASS %s\n", name);
            ++g_pass;
        } else {
            printf("FAIL %s: %s (%ld of %ld values mismatched)\n", name, first, bad, total);
            for (int i = 0; i < ndetails; ++i) printf("    also: %s\n", details[i]);
            ++g_fail;
        }
    }
    ~Check() { finish(); }
};

/* A test-design error (the model found an input whose result the ISA leaves undefined). */
static void test_bug(const char *what) {
    printf("FAIL internal test error: %s\n", what);
    printf("%d passed, %d failed\n", g_pass, g_fail + 1);
    exit(1);
}

#define CK(ck, call)                                                                              \
    do {                                                                                          \
        cudaError_t e_ = (call);                                                                  \
        if (e_ != cudaSuccess) {                                                                  \
            (ck).error("CUDA error %s from %s (line %d)", cudaGetErrorString(e_), #call, __LINE__); \
            return false;                                                                         \
        }                                                                                         \
    } while (0)

/* Device buffer, freed on scope exit. */
struct DevBuf {
    void *p = nullptr;
    ~DevBuf() {
        if (p) cudaFree(p);
    }
};

static bool upload(Check &ck, DevBuf &d, const void *h, size_t n) {
    CK(ck, cudaMalloc(&d.p, n));
    CK(ck, cudaMemcpy(d.p, h, n, cudaMemcpyHostToDevice));
    return true;
}
static bool alloc_out(Check &ck, DevBuf &d, size_t n) {
    CK(ck, cudaMalloc(&d.p, n));
    CK(ck, cudaMemset(d.p, 0, n));
    return true;
}
static bool finish_launch(Check &ck) {
    CK(ck, cudaGetLastError());
    CK(ck, cudaDeviceSynchronize());
    return true;
}
static bool download(Check &ck, void *h, const DevBuf &d, size_t n) {
    CK(ck, cudaMemcpy(h, d.p, n, cudaMemcpyDeviceToHost));
    return true;
}

/* Deterministic pseudo-random generator (splitmix64). */
struct Rng {
    uint64_t s;
    explicit Rng(uint64_t seed) : s(seed) {}
    uint64_t next() {
        uint64_t z = (s += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    uint32_t u32() { return (uint32_t)(next() >> 32); }
    int range(int lo, int hi) { return lo + (int)(next() % (uint64_t)(hi - lo + 1)); } /* [lo, hi] */
};

/* A bijective 32-bit mix: distinct inputs give distinct outputs. */
static uint32_t mix32(uint32_t x) {
    x ^= x >> 16;
    x *= 0x7FEB352Du;
    x ^= x >> 15;
    x *= 0x846CA68Bu;
    x ^= x >> 16;
    return x;
}

/* n distinct, non-zero 32-bit patterns that depend on lane and on `salt`. */
static std::vector<uint32_t> distinct_words(int n, uint32_t salt) {
    std::vector<uint32_t> v(n);
    for (int i = 0; i < n; ++i) {
        v[i] = mix32((uint32_t)i + salt * 0x10001u);
        if (v[i] == 0) v[i] = mix32(0xFFFFFFFFu - salt); /* cannot collide: mix32 is a bijection */
    }
    return v;
}

static const uint32_t kNotRun = 0xDEADBEEFu; /* what a lane outside every mask writes */

static const char *g_filter = nullptr;
static bool want_family(const char *fam) { return !g_filter || strstr(fam, g_filter) != nullptr; }

/* =============================================================================================
 * Warp shuffles: __shfl_xor_sync / __shfl_up_sync / __shfl_down_sync / __shfl_sync
 * ===========================================================================================*/

enum { SH_XOR = 0, SH_UP = 1, SH_DOWN = 2, SH_IDX = 3 };
static const char *const kShflName[] = {"shfl_xor", "shfl_up", "shfl_down", "shfl_idx"};

template <typename T>
__device__ __forceinline__ T dev_shfl(int op, unsigned m, T v, int param, int src, int width) {
    /* width 32 goes through the default argument on purpose */
    switch (op) {
    case SH_XOR: return width == 32 ? __shfl_xor_sync(m, v, param) : __shfl_xor_sync(m, v, param, width);
    case SH_UP:
        return width == 32 ? __shfl_up_sync(m, v, (unsigned)param) : __shfl_up_sync(m, v, (unsigned)param, width);
    case SH_DOWN:
        return width == 32 ? __shfl_down_sync(m, v, (unsigned)param) : __shfl_down_sync(m, v, (unsigned)param, width);
    default: return width == 32 ? __shfl_sync(m, v, src) : __shfl_sync(m, v, src, width);
    }
}

/* Lanes in m0 shuffle among m0, lanes in m1 (disjoint) among m1, in separate branches. */
template <typename T>
__global__ void k_shfl(const uint32_t *in, const int *src, uint32_t *out, int op, int width, int param,
                       unsigned m0, unsigned m1) {
    const int gid = blockIdx.x * blockDim.x + threadIdx.x;
    const int lane = threadIdx.x & 31;
    const uint32_t bits = in[gid];
    T v;
    memcpy(&v, &bits, 4);
    uint32_t r = kNotRun;
    if ((m0 >> lane) & 1u) {
        T x = dev_shfl<T>(op, m0, v, param, src[gid], width);
        memcpy(&r, &x, 4);
    } else if ((m1 >> lane) & 1u) {
        T x = dev_shfl<T>(op, m1, v, param, src[gid], width);
        memcpy(&r, &x, 4);
    }
    out[gid] = r;
}

/*
 * MODEL — PTX ISA "Data Movement and Conversion Instructions: shfl.sync", Semantics:
 *     lane[4:0] = laneid; bval[4:0] = b[4:0]; cval[4:0] = c[4:0]; mask[4:0] = c[12:8];
 *     maxLane = (lane & mask) | (cval & ~mask);  minLane = (lane & mask);
 *     .up:   j = lane - bval; pval = (j >= maxLane);
 *     .down: j = lane + bval; pval = (j <= maxLane);
 *     .bfly: j = lane ^ bval; pval = (j <= maxLane);
 *     .idx:  j = minLane | (bval[4:0] & ~mask[4:0]); pval = (j <= maxLane);
 *     if (!pval) j = lane;  d = SourceA[j];
 * and the C++ intrinsics' operand c (CUDA C++ Programming Guide "Warp Shuffle Functions";
 * sm_30_intrinsics.hpp): __shfl_up_sync passes c = (32 - width) << 8, the others
 * c = ((32 - width) << 8) | 0x1f. Reading a lane outside membermask is undefined, so the model
 * refuses such inputs (a test bug, not a result).
 */
static int model_shfl_src(int op, int lane, int b, int width) {
    const int c = op == SH_UP ? ((32 - width) << 8) : (((32 - width) << 8) | 0x1f);
    const int bval = b & 0x1f, cval = c & 0x1f, segmask = (c >> 8) & 0x1f;
    const int maxLane = (lane & segmask) | (cval & ~segmask & 0x1f);
    const int minLane = lane & segmask;
    int j;
    bool pval;
    switch (op) {
    case SH_UP: j = lane - bval, pval = j >= maxLane; break;
    case SH_DOWN: j = lane + bval, pval = j <= maxLane; break;
    case SH_XOR: j = lane ^ bval, pval = j <= maxLane; break;
    default: j = minLane | (bval & ~segmask & 0x1f), pval = j <= maxLane; break;
    }
    if (!pval) j = lane;
    return j;
}

/* Whether every participating lane of a configuration reads a lane of its own membermask. */
static bool shfl_defined(int op, int width, int param, const std::vector<int> &src32, unsigned m0, unsigned m1) {
    for (int lane = 0; lane < 32; ++lane) {
        const unsigned m = ((m0 >> lane) & 1u) ? m0 : ((m1 >> lane) & 1u) ? m1 : 0u;
        if (m && !((m >> model_shfl_src(op, lane, op == SH_IDX ? src32[lane] : param, width)) & 1u)) return false;
    }
    return true;
}

enum { TY_U32, TY_INT, TY_F32 };

/* Runs one shuffle configuration on 2 blocks x 2 warps and checks every lane. */
static bool run_shfl(Check &ck, int op, int width, int param, unsigned m0, unsigned m1,
                     const std::vector<int> &src32, int type, uint32_t salt) {
    const int nthr = 64, nblk = 2, n = nthr * nblk;
    std::vector<uint32_t> in = distinct_words(n, salt);
    if (type == TY_F32) /* finite normal floats with distinct bit patterns */
        for (int i = 0; i < n; ++i) in[i] = (in[i] & 0x807FFFFFu) | ((uint32_t)(100 + (in[i] >> 24) % 50) << 23);
    std::vector<int> src(n);
    for (int i = 0; i < n; ++i) src[i] = src32[i % 32] + ((op == SH_IDX && (i / 32) % 2) ? 32 * ((i / 32) % 3) : 0);
    DevBuf din, dsrc, dout;
    if (!upload(ck, din, in.data(), n * 4) || !upload(ck, dsrc, src.data(), n * 4) || !alloc_out(ck, dout, n * 4))
        return false;
    if (type == TY_F32)
        k_shfl<float><<<nblk, nthr>>>((const uint32_t *)din.p, (const int *)dsrc.p, (uint32_t *)dout.p, op, width, param, m0, m1);
    else if (type == TY_INT)
        k_shfl<int><<<nblk, nthr>>>((const uint32_t *)din.p, (const int *)dsrc.p, (uint32_t *)dout.p, op, width, param, m0, m1);
    else
        k_shfl<unsigned><<<nblk, nthr>>>((const uint32_t *)din.p, (const int *)dsrc.p, (uint32_t *)dout.p, op, width, param, m0, m1);
    if (!finish_launch(ck)) return false;
    std::vector<uint32_t> out(n);
    if (!download(ck, out.data(), dout, n * 4)) return false;
    for (int i = 0; i < n; ++i) {
        const int lane = i & 31, warp0 = i & ~31;
        const unsigned m = ((m0 >> lane) & 1u) ? m0 : ((m1 >> lane) & 1u) ? m1 : 0u;
        const int b = op == SH_IDX ? src[i] : param;
        uint32_t want = kNotRun;
        if (m) {
            const int j = model_shfl_src(op, lane, b, width);
            if (!((m >> j) & 1u)) test_bug("shuffle reads a lane outside its membermask");
            want = in[warp0 + j];
        }
        ck.u32(out[i], want, "block %d lane %d reg 0 (thread %d, %s width %d %s %d, mask 0x%08x)", i / nthr, lane,
               i % nthr, kShflName[op], width, op == SH_IDX ? "srcLane" : op == SH_XOR ? "laneMask" : "delta", b,
               m ? m : (m0 | m1));
    }
    return true;
}

static void test_shfl() {
    uint32_t salt = 1;
    const int widths[] = {32, 16, 8, 4, 2};
    for (int width : widths) {
        /* full warp, every lane participates */
        {
            Check ck("shfl_xor width %d", width);
            const int masks[] = {1, 2, 3, 5, 8, 16, 31}; /* >= width: reads earlier segments only */
            for (int lm : masks) run_shfl(ck, SH_XOR, width, lm, 0xFFFFFFFFu, 0, std::vector<int>(32, 0), TY_U32, salt++);
        }
        for (int op : {SH_UP, SH_DOWN}) {
            Check ck("%s width %d", kShflName[op], width);
            std::vector<int> deltas = {0, 1, 2, 3, 5, 17, 31};
            for (int d : {width - 1, width, width + 1})
                if (d >= 0 && d < 32) deltas.push_back(d);
            for (int d : deltas) run_shfl(ck, op, width, d, 0xFFFFFFFFu, 0, std::vector<int>(32, 0), TY_U32, salt++);
        }
        {
            Check ck("shfl_idx width %d", width);
            std::vector<std::vector<int>> pats;
            pats.push_back(std::vector<int>(32, 0));
            pats.push_back(std::vector<int>(32, width - 1));
            std::vector<int> p(32);
            for (int l = 0; l < 32; ++l) p[l] = (l * 7 + 3) % width;
            pats.push_back(p);
            for (int l = 0; l < 32; ++l) p[l] = width - 1 - l % width;
            pats.push_back(p);
            for (int l = 0; l < 32; ++l) p[l] = (l * 13 + 5) % 70 - 20; /* out of range and negative */
            pats.push_back(p);
            for (int l = 0; l < 32; ++l) p[l] = l + width; /* wraps within the segment */
            pats.push_back(p);
            for (auto &pt : pats) run_shfl(ck, SH_IDX, width, 0, 0xFFFFFFFFu, 0, pt, TY_U32, salt++);
        }
    }

    /* partial masks: each participating lane reads only from a participating lane */
    struct Cfg {
        unsigned m0, m1;
        int width;
        bool parity; /* the masks are even/odd lanes: parameters must be even */
    };
    const Cfg cfgs[] = {
        {0x55555555u, 0u, 32, true},          {0x55555555u, 0u, 8, true},
        {0x55555555u, 0xAAAAAAAAu, 32, true}, {0x55555555u, 0xAAAAAAAAu, 16, true},
        {0x0000FFFFu, 0u, 16, false},         {0xFF00FF00u, 0x000000FFu, 8, false},
    };
    for (int op : {SH_XOR, SH_UP, SH_DOWN, SH_IDX}) {
        Check ck("%s partial mask", kShflName[op]);
        for (const Cfg &c : cfgs) {
            if (op != SH_IDX) {
                const std::vector<int> params = c.parity ? std::vector<int>{2, 4, 6, 16, 30} : std::vector<int>{1, 2, 3, 7, 8, 16};
                for (int prm : params) /* skipped: xor across segments into another mask's lanes */
                    if (shfl_defined(op, c.width, prm, std::vector<int>(32, 0), c.m0, c.m1))
                        run_shfl(ck, op, c.width, prm, c.m0, c.m1, std::vector<int>(32, 0), TY_U32, salt++);
            } else {
                for (int k = 0; k < 3; ++k) {
                    std::vector<int> p(32);
                    for (int l = 0; l < 32; ++l)
                        p[l] = c.parity ? (l & 1) + 2 * ((l * 5 + 3 * k) % 20) - 8 : (l * 11 + 7 * k) % 45 - 6;
                    if (!shfl_defined(SH_IDX, c.width, 0, p, c.m0, c.m1)) test_bug("idx pattern leaves its mask");
                    run_shfl(ck, SH_IDX, c.width, 0, c.m0, c.m1, p, TY_U32, salt++);
                }
            }
        }
    }

    /* the int and float overloads move the same bits */
    {
        Check ck("shfl int/float overloads");
        std::vector<int> p(32);
        for (int l = 0; l < 32; ++l) p[l] = (l * 13 + 5) % 70 - 20;
        run_shfl(ck, SH_XOR, 32, 5, 0xFFFFFFFFu, 0, std::vector<int>(32, 0), TY_F32, salt++);
        run_shfl(ck, SH_DOWN, 16, 3, 0xFFFFFFFFu, 0, std::vector<int>(32, 0), TY_INT, salt++);
        run_shfl(ck, SH_UP, 32, 4, 0xFFFFFFFFu, 0, std::vector<int>(32, 0), TY_F32, salt++);
        run_shfl(ck, SH_IDX, 8, 0, 0xFFFFFFFFu, 0, p, TY_F32, salt++);
        for (int l = 0; l < 32; ++l) p[l] = (l & 1) + 2 * ((l * 3) % 16) - 10; /* keeps the lane's parity */
        run_shfl(ck, SH_IDX, 16, 0, 0x55555555u, 0xAAAAAAAAu, p, TY_INT, salt++);
    }
}

/* =============================================================================================
 * Votes: __ballot_sync / __any_sync / __all_sync
 * ===========================================================================================*/

__global__ void k_vote(const int *pred, uint32_t *out, unsigned m0, unsigned m1) {
    const int gid = blockIdx.x * blockDim.x + threadIdx.x;
    const int lane = threadIdx.x & 31;
    const int p = pred[gid];
    uint32_t b = kNotRun, any = kNotRun, all = kNotRun;
    if ((m0 >> lane) & 1u) {
        b = __ballot_sync(m0, p);
        any = __any_sync(m0, p) ? 1u : 0u;
        all = __all_sync(m0, p) ? 1u : 0u;
    } else if ((m1 >> lane) & 1u) {
        b = __ballot_sync(m1, p);
        any = __any_sync(m1, p) ? 1u : 0u;
        all = __all_sync(m1, p) ? 1u : 0u;
    }
    out[gid * 3 + 0] = b;
    out[gid * 3 + 1] = any;
    out[gid * 3 + 2] = all;
}

/*
 * MODEL — PTX ISA "Parallel Synchronization and Communication Instructions: vote.sync":
 * ".all: True if source predicate is True for all non-exited threads in membermask";
 * ".any: True if source predicate is True for some thread in membermask"; "vote.sync.ballot.b32
 * simply copies the predicate from each thread in membermask into the corresponding bit position
 * of destination register d ... A thread not specified in membermask will contribute a 0".
 * (CUDA C++ Programming Guide "Warp Vote Functions": the predicate is "non-zero".)
 */
static void model_vote(const int *pred32, unsigned m, uint32_t *ballot, uint32_t *any, uint32_t *all) {
    uint32_t b = 0;
    for (int j = 0; j < 32; ++j)
        if (((m >> j) & 1u) && pred32[j] != 0) b |= 1u << j;
    *ballot = b;
    *any = b != 0;
    *all = b == m;
}

static bool run_vote(Check &ckb, Check &cka, Check &ckl, unsigned m0, unsigned m1, int pattern, uint64_t seed) {
    const int nthr = 128, nblk = 2, n = nthr * nblk;
    Rng rng(seed);
    std::vector<int> pred(n);
    const int nonzero[] = {1, -1, 2, 0x100, 0x40000000, (int)0x80000000u, 7};
    for (int i = 0; i < n; ++i) {
        const int lane = i & 31;
        const int nz = nonzero[rng.range(0, 6)];
        bool on;
        switch (pattern) {
        case 0: on = rng.range(0, 1); break;          /* random */
        case 1: on = true; break;                      /* all true */
        case 2: on = false; break;                     /* all false */
        case 3: on = lane == (i / 32) * 7 % 32; break; /* one lane */
        case 4: on = lane != 31 && lane != 0; break;   /* all but the edges */
        default: on = !((m0 >> lane) & 1u); break;     /* true exactly outside m0 */
        }
        pred[i] = on ? nz : 0;
    }
    DevBuf dp, dout;
    if (!upload(ckb, dp, pred.data(), n * 4) || !alloc_out(ckb, dout, n * 12)) return false;
    k_vote<<<nblk, nthr>>>((const int *)dp.p, (uint32_t *)dout.p, m0, m1);
    if (!finish_launch(ckb)) return false;
    std::vector<uint32_t> out(n * 3);
    if (!download(ckb, out.data(), dout, n * 12)) return false;
    for (int i = 0; i < n; ++i) {
        const int lane = i & 31;
        const unsigned m = ((m0 >> lane) & 1u) ? m0 : ((m1 >> lane) & 1u) ? m1 : 0u;
        uint32_t b = kNotRun, a = kNotRun, l = kNotRun;
        if (m) model_vote(&pred[i & ~31], m, &b, &a, &l);
        const char *fmt = "block %d lane %d reg 0 (warp %d, mask 0x%08x, pattern %d)";
        ckb.u32(out[i * 3 + 0], b, fmt, i / nthr, lane, (i % nthr) / 32, m, pattern);
        cka.u32(out[i * 3 + 1], a, fmt, i / nthr, lane, (i % nthr) / 32, m, pattern);
        ckl.u32(out[i * 3 + 2], l, fmt, i / nthr, lane, (i % nthr) / 32, m, pattern);
    }
    return true;
}

static void test_vote() {
    uint64_t seed = 100;
    {
        Check b("ballot_sync full warp"), a("any_sync full warp"), l("all_sync full warp");
        for (int pat = 0; pat < 5; ++pat)
            for (int rep = 0; rep < (pat == 0 ? 4 : 1); ++rep) run_vote(b, a, l, 0xFFFFFFFFu, 0, pat, seed++);
        b.finish(), a.finish(), l.finish(); /* report in this order */
    }
    {
        Check b("ballot_sync partial mask"), a("any_sync partial mask"), l("all_sync partial mask");
        const unsigned masks[][2] = {{0x55555555u, 0xAAAAAAAAu}, {0x0000FFFFu, 0u},          {0x80000001u, 0x7FFFFFFEu},
                                     {0x00F00F00u, 0u},          {0x00000001u, 0u},          {0xFFFF0000u, 0x0000FFFFu},
                                     {0x13579BDFu, 0u}};
        for (auto &mm : masks)
            for (int pat = 0; pat < 6; ++pat)
                for (int rep = 0; rep < (pat == 0 ? 3 : 1); ++rep) run_vote(b, a, l, mm[0], mm[1], pat, seed++);
        b.finish(), a.finish(), l.finish();
    }
}

/* =============================================================================================
 * __syncwarp and __syncthreads: data written before the barrier is seen by the others after it
 * ===========================================================================================*/

/*
 * MODEL — PTX ISA "Parallel Synchronization and Communication Instructions: bar.warp.sync"
 * (what __syncwarp(mask) compiles to): it makes the executing thread wait until all threads in
 * membermask have executed it, and guarantees memory ordering among the participating threads
 * (CUDA C++ Programming Guide "Synchronization Functions": writes before __syncwarp are visible
 * to the participating threads after it). The model replays the exchanges sequentially.
 */
__global__ void k_syncwarp(const uint32_t *in, uint32_t *out) {
    __shared__ uint32_t buf[4][128];
    const int t = threadIdx.x, lane = t & 31, base = t & ~31;
    const int gid = blockIdx.x * blockDim.x + t;
    uint32_t v = in[gid];
    for (int round = 0; round < 4; ++round) {
        buf[round & 1][t] = v;
        __syncwarp();
        v = buf[round & 1][base + ((lane + 1 + 3 * round) & 31)] * 3u + (uint32_t)round;
    }
    out[gid * 2] = v;
    uint32_t w = in[gid] ^ 0x5A5A5A5Au;
    if (lane & 1) { /* odd lanes and even lanes synchronise separately, in different branches */
        for (int round = 0; round < 3; ++round) {
            buf[2 + (round & 1)][t] = w;
            __syncwarp(0xAAAAAAAAu);
            w = buf[2 + (round & 1)][base + ((lane + 2 * (round + 1)) & 31)] + 7u * (uint32_t)round;
        }
    } else {
        for (int round = 0; round < 3; ++round) {
            buf[2 + (round & 1)][t] = w;
            __syncwarp(0x55555555u);
            w = buf[2 + (round & 1)][base + ((lane + 2 * (round + 3)) & 31)] ^ (0x9E3779B9u * (uint32_t)round);
        }
    }
    out[gid * 2 + 1] = w;
}

static bool run_syncwarp(Check &full, Check &part) {
    const int nthr = 128, nblk = 2, n = nthr * nblk;
    std::vector<uint32_t> in = distinct_words(n, 777);
    DevBuf din, dout;
    if (!upload(full, din, in.data(), n * 4) || !alloc_out(full, dout, n * 8)) return false;
    k_syncwarp<<<nblk, nthr>>>((const uint32_t *)din.p, (uint32_t *)dout.p);
    if (!finish_launch(full)) return false;
    std::vector<uint32_t> out(n * 2);
    if (!download(full, out.data(), dout, n * 8)) return false;
    for (int w0 = 0; w0 < n; w0 += 32) {
        uint32_t v[32], nv[32], x[32], nx[32];
        for (int l = 0; l < 32; ++l) v[l] = in[w0 + l], x[l] = in[w0 + l] ^ 0x5A5A5A5Au;
        for (int round = 0; round < 4; ++round) {
            for (int l = 0; l < 32; ++l) nv[l] = v[(l + 1 + 3 * round) & 31] * 3u + (uint32_t)round;
            memcpy(v, nv, sizeof v);
        }
        for (int round = 0; round < 3; ++round) {
            for (int l = 0; l < 32; ++l)
                nx[l] = (l & 1) ? x[(l + 2 * (round + 1)) & 31] + 7u * (uint32_t)round
                                : x[(l + 2 * (round + 3)) & 31] ^ (0x9E3779B9u * (uint32_t)round);
            memcpy(x, nx, sizeof x);
        }
        for (int l = 0; l < 32; ++l) {
            const int i = w0 + l;
            full.u32(out[i * 2], v[l], "block %d lane %d reg 0 (warp %d)", i / nthr, l, (i % nthr) / 32);
            part.u32(out[i * 2 + 1], x[l], "block %d lane %d reg 0 (warp %d, mask 0x%08x)", i / nthr, l,
                     (i % nthr) / 32, (l & 1) ? 0xAAAAAAAAu : 0x55555555u);
        }
    }
    return true;
}

/* MODEL — PTX ISA "bar, barrier" (__syncthreads is bar.sync 0): all threads of the CTA wait, and
 * memory accesses requested before the barrier are performed relative to all of them. */
__global__ void k_syncthreads(const uint32_t *in, uint32_t *out) {
    __shared__ uint32_t s[2][128];
    const int t = threadIdx.x, gid = blockIdx.x * blockDim.x + t;
    uint32_t v = in[gid];
    for (int round = 0; round < 3; ++round) {
        s[round & 1][t] = v;
        __syncthreads();
        v = s[round & 1][(t + 37 * (round + 1)) & 127] + (uint32_t)round * 0x01000193u;
    }
    out[gid] = v;
}

static bool run_syncthreads(Check &ck) {
    const int nthr = 128, nblk = 2, n = nthr * nblk;
    std::vector<uint32_t> in = distinct_words(n, 4242);
    DevBuf din, dout;
    if (!upload(ck, din, in.data(), n * 4) || !alloc_out(ck, dout, n * 4)) return false;
    k_syncthreads<<<nblk, nthr>>>((const uint32_t *)din.p, (uint32_t *)dout.p);
    if (!finish_launch(ck)) return false;
    std::vector<uint32_t> out(n);
    if (!download(ck, out.data(), dout, n * 4)) return false;
    for (int b0 = 0; b0 < n; b0 += nthr) {
        std::vector<uint32_t> v(in.begin() + b0, in.begin() + b0 + nthr), nv(nthr);
        for (int round = 0; round < 3; ++round) {
            for (int t = 0; t < nthr; ++t) nv[t] = v[(t + 37 * (round + 1)) & 127] + (uint32_t)round * 0x01000193u;
            v = nv;
        }
        for (int t = 0; t < nthr; ++t)
            ck.u32(out[b0 + t], v[t], "block %d lane %d reg 0 (thread %d)", b0 / nthr, t & 31, t);
    }
    return true;
}

static void test_syncwarp() {
    Check full("syncwarp full warp"), part("syncwarp partial mask");
    run_syncwarp(full, part);
    full.finish(), part.finish();
}
static void test_syncthreads() {
    Check ck("syncthreads");
    run_syncthreads(ck);
}

/* =============================================================================================
 * ldmatrix .m8n8 .b16: x1 / x2 / x4 and .trans, from a padded shared tile
 * ===========================================================================================*/

constexpr int LDM_LD = 24;   /* tile row stride in 16-bit elements: 48 bytes, rows 16-byte aligned */
constexpr int LDM_ROWS = 48; /* rows 0-31 hold the matrices, rows 32-47 are decoys */
constexpr int LDM_VARIANTS = 6, LDM_REGS = 14;
static const char *const kLdmName[LDM_VARIANTS] = {"ldmatrix x1",       "ldmatrix x2",       "ldmatrix x4",
                                                   "ldmatrix x1.trans", "ldmatrix x2.trans", "ldmatrix x4.trans"};
static const int kLdmNum[LDM_VARIANTS] = {1, 2, 4, 1, 2, 4};
static const int kLdmReg0[LDM_VARIANTS] = {0, 1, 3, 7, 8, 10}; /* first output slot of each variant */

/* offs[gid * 6 + variant] is the element offset (into the shared tile) of this lane's address */
__global__ void k_ldmatrix(const uint16_t *tile, const int *offs, uint32_t *out) {
    extern __shared__ __align__(16) unsigned char dyn_smem[];
    uint16_t *s = reinterpret_cast<uint16_t *>(dyn_smem);
    const int gid = blockIdx.x * blockDim.x + threadIdx.x;
    const uint16_t *tb = tile + blockIdx.x * LDM_ROWS * LDM_LD;
    for (int i = threadIdx.x; i < LDM_ROWS * LDM_LD; i += blockDim.x) s[i] = tb[i];
    __syncthreads();
    const int *o = offs + gid * LDM_VARIANTS;
    uint32_t *d = out + gid * LDM_REGS;
    uint32_t r[4];
    mkc::ptx::ldmatrix_x1(r, s + o[0]);
    d[0] = r[0];
    mkc::ptx::ldmatrix_x2(r, s + o[1]);
    d[1] = r[0], d[2] = r[1];
    mkc::ptx::ldmatrix_x4(r, s + o[2]);
    d[3] = r[0], d[4] = r[1], d[5] = r[2], d[6] = r[3];
    mkc::ptx::ldmatrix_x1_trans(r, s + o[3]);
    d[7] = r[0];
    mkc::ptx::ldmatrix_x2_trans(r, s + o[4]);
    d[8] = r[0], d[9] = r[1];
    mkc::ptx::ldmatrix_x4_trans(r, s + o[5]);
    d[10] = r[0], d[11] = r[1], d[12] = r[2], d[13] = r[3];
}

/*
 * MODEL — PTX ISA "Warp-level matrix load instruction: ldmatrix":
 *  - addresses: ".x1: threads 0-7 give addr0-addr7; .x2: threads 0-15 give addr0-addr15; .x4:
 *    threads 0-31 give addr0-addr31 ... Each address corresponds to the start of a matrix row.
 *    Addresses addr0-addr7 correspond to the rows of the first matrix, addresses addr8-addr15 to
 *    the rows of the second matrix, and so on" — so lane 8i + r addresses row r of matrix i; the
 *    other lanes' addresses are not used (here they point at decoy rows).
 *  - Figure 104 "ldmatrix fragment layout for one 8x8 Matrix with 16-bit elements": "a group of
 *    four threads loads an entire row": lane l holds row l/4, elements 2(l%4) (low half) and
 *    2(l%4)+1 (high half); matrix i goes to destination register i.
 *  - ".trans indicates that the matrix is loaded in column-major format": lane l receives
 *    elements (row 2(l%4), column l/4) and (row 2(l%4)+1, column l/4) of the addressed rows.
 */
static uint32_t model_ldmatrix(const uint16_t *tile, const int *warp_offs /* [32] for this variant */, int lane,
                               int matrix, bool trans) {
    /* M(r, c) = element c of the row addressed by lane 8 * matrix + r */
    auto M = [&](int r, int c) -> uint32_t { return tile[warp_offs[8 * matrix + r] + c]; };
    const int q = lane / 4, p = 2 * (lane % 4);
    if (!trans) return M(q, p) | (M(q, p + 1) << 16);
    return M(p, q) | (M(p + 1, q) << 16);
}

static bool run_ldmatrix(Check *cks) {
    const int nthr = 64, nblk = 2, n = nthr * nblk;
    Rng rng(0x1D3A7);
    /* distinct, non-zero 16-bit patterns: an odd multiplier is a bijection mod 2^16 */
    std::vector<uint16_t> tile(nblk * LDM_ROWS * LDM_LD);
    const int per = LDM_ROWS * LDM_LD;
    for (int b = 0; b < nblk; ++b)
        for (int e = 0; e < per; ++e) {
            uint32_t val = ((uint32_t)(e + 1) * 40503u + 0x1357u * (uint32_t)b) & 0xFFFFu;
            if (val == 0) val = ((uint32_t)(per + 1) * 40503u + 0x1357u * (uint32_t)b) & 0xFFFFu; /* unused index */
            tile[b * per + e] = (uint16_t)val;
        }
    std::vector<int> offs(n * LDM_VARIANTS);
    for (int w = 0; w < n / 32; ++w)
        for (int v = 0; v < LDM_VARIANTS; ++v) {
            int perm[32];
            for (int i = 0; i < 32; ++i) perm[i] = i;
            for (int i = 31; i > 0; --i) { /* rows of consecutive matrix rows are scattered */
                const int j = rng.range(0, i), tmp = perm[i];
                perm[i] = perm[j], perm[j] = tmp;
            }
            for (int lane = 0; lane < 32; ++lane) {
                const bool used = lane < 8 * kLdmNum[v];
                const int row = used ? perm[lane] : 32 + rng.range(0, 15);
                const int colblk = rng.range(0, 2); /* 0, 8 or 16 elements: still 16-byte aligned */
                offs[(w * 32 + lane) * LDM_VARIANTS + v] = row * LDM_LD + colblk * 8;
            }
        }
    DevBuf dtile, doffs, dout;
    if (!upload(cks[0], dtile, tile.data(), tile.size() * 2) || !upload(cks[0], doffs, offs.data(), offs.size() * 4) ||
        !alloc_out(cks[0], dout, n * LDM_REGS * 4))
        return false;
    k_ldmatrix<<<nblk, nthr, LDM_ROWS * LDM_LD * 2>>>((const uint16_t *)dtile.p, (const int *)doffs.p,
                                                     (uint32_t *)dout.p);
    if (!finish_launch(cks[0])) return false;
    std::vector<uint32_t> out(n * LDM_REGS);
    if (!download(cks[0], out.data(), dout, out.size() * 4)) return false;
    for (int w = 0; w < n / 32; ++w) {
        const uint16_t *tb = tile.data() + (w * 32 / nthr) * LDM_ROWS * LDM_LD;
        for (int v = 0; v < LDM_VARIANTS; ++v) {
            int wo[32];
            for (int lane = 0; lane < 32; ++lane) wo[lane] = offs[(w * 32 + lane) * LDM_VARIANTS + v];
            for (int lane = 0; lane < 32; ++lane)
                for (int i = 0; i < kLdmNum[v]; ++i) {
                    const int gid = w * 32 + lane;
                    cks[v].u32(out[gid * LDM_REGS + kLdmReg0[v] + i], model_ldmatrix(tb, wo, lane, i, v >= 3),
                               "block %d lane %d reg %d (warp %d)", gid / nthr, lane, i, (gid % nthr) / 32);
                }
        }
    }
    return true;
}

static void test_ldmatrix() {
    Check cks[LDM_VARIANTS];
    for (int v = 0; v < LDM_VARIANTS; ++v) cks[v].named("%s", kLdmName[v]);
    if (!run_ldmatrix(cks))
        for (int v = 1; v < LDM_VARIANTS; ++v) cks[v].error("not run: see %s", kLdmName[0]);
    for (int v = 0; v < LDM_VARIANTS; ++v) cks[v].finish();
}

/* =============================================================================================
 * mma.sync: m16n8k16 f16/bf16 -> f32, m16n8k32 s8 -> s32 and e4m3 -> f32
 * ===========================================================================================*/

enum { MMA_F16, MMA_BF16, MMA_S8, MMA_E4M3 };
static const char *const kMmaName[] = {"mma m16n8k16 f16 -> f32", "mma m16n8k16 bf16 -> f32",
                                       "mma m16n8k32 s8 -> s32", "mma m16n8k32 e4m3 -> f32"};

/* Each lane loads its raw fragment registers (packed on the host), runs `reps` mma's
 * accumulating into c, and stores the 4 accumulator registers. */
template <int KIND>
__global__ void k_mma(const uint32_t *a, const uint32_t *b, const uint32_t *c, uint32_t *d, int reps) {
    const int gid = blockIdx.x * blockDim.x + threadIdx.x;
    const uint32_t ar[4] = {a[gid * 4 + 0], a[gid * 4 + 1], a[gid * 4 + 2], a[gid * 4 + 3]};
    const uint32_t b0 = b[gid * 2 + 0], b1 = b[gid * 2 + 1];
    uint32_t cr[4] = {c[gid * 4 + 0], c[gid * 4 + 1], c[gid * 4 + 2], c[gid * 4 + 3]};
    if (KIND == MMA_S8) {
        int32_t acc[4];
        memcpy(acc, cr, sizeof acc);
        for (int r = 0; r < reps; ++r) mkc::ptx::mma_m16n8k32_s8(acc, ar, b0, b1);
        memcpy(cr, acc, sizeof acc);
    } else {
        float acc[4];
        memcpy(acc, cr, sizeof acc);
        for (int r = 0; r < reps; ++r) {
            if (KIND == MMA_F16) mkc::ptx::mma_m16n8k16<false>(acc, ar, b0, b1);
            if (KIND == MMA_BF16) mkc::ptx::mma_m16n8k16<true>(acc, ar, b0, b1);
            if (KIND == MMA_E4M3) mkc::ptx::mma_m16n8k32_e4m3(acc, ar, b0, b1);
        }
        memcpy(cr, acc, sizeof acc);
    }
    for (int i = 0; i < 4; ++i) d[gid * 4 + i] = cr[i];
}

/* ---- element codes. Encoders accept only exactly representable normal values (asserted);
 * decoders (used by the model) are written separately from the format definitions:
 * f16 = 1.5.10 bias 15, bf16 = 1.8.7 bias 127, e4m3 = 1.4.3 bias 7 (S.1111.111 is NaN). */
static uint32_t encode_float(double v, int ebits, int mbits, int bias) {
    if (v == 0) test_bug("zero operand");
    const uint32_t sign = v < 0 ? 1u : 0u;
    int e;
    const double m = frexp(fabs(v), &e); /* |v| = m 2^e, m in [0.5, 1) */
    const int E = e - 1 + bias;
    const double mant = (2 * m - 1) * (double)(1 << mbits);
    if (E < 1 || E >= (1 << ebits) || mant != floor(mant)) test_bug("operand not exactly representable");
    if (ebits == 5 && E == 31) test_bug("f16 inf/nan");
    const uint32_t code = (sign << (ebits + mbits)) | ((uint32_t)E << mbits) | (uint32_t)mant;
    if (ebits == 4 && (code & 0x7F) == 0x7F) test_bug("e4m3 nan");
    return code;
}
static double decode_f16(uint32_t h) {
    const int e = (h >> 10) & 31, m = h & 1023;
    const double mag = e == 0 ? ldexp(m, -24) : ldexp(1024 + m, e - 25);
    return (h & 0x8000) ? -mag : mag;
}
static double decode_bf16(uint32_t h) {
    const uint32_t bits = h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}
static double decode_e4m3(uint32_t q) {
    const int e = (q >> 3) & 15, m = q & 7;
    const double mag = e == 0 ? ldexp(m, -9) : ldexp(8 + m, e - 10);
    return (q & 0x80) ? -mag : mag;
}

/*
 * MODEL (fragments) — PTX ISA 9.7.14.5.8 "Matrix Fragments for mma.m16n8k16 with floating point
 * type", groupID = %laneid >> 2, threadID_in_group = %laneid % 4:
 *   A (a0..a7, two per .f16x2 register, low to high):
 *     row = groupID for ai where 0 <= i < 2 || 4 <= i < 6, groupID + 8 otherwise
 *     col = (threadID_in_group * 2) + (i & 0x1) for ai where i < 4, ... + 8 for i >= 4
 *   B (b0..b3): row = (threadID_in_group * 2) + (i & 0x1) for bi where i < 2, ... + 8 for i >= 2;
 *     col = groupID
 *   C/D (c0..c3, .f32): row = groupID for ci where i < 2, groupID + 8 for i >= 2;
 *     col = (threadID_in_group * 2) + (i & 0x1)
 */
static void frag_a_k16(int lane, int i, int *row, int *col) {
    const int groupID = lane >> 2, threadID_in_group = lane % 4;
    *row = (i < 2 || (i >= 4 && i < 6)) ? groupID : groupID + 8;
    *col = i < 4 ? (threadID_in_group * 2) + (i & 0x1) : (threadID_in_group * 2) + (i & 0x1) + 8;
}
static void frag_b_k16(int lane, int i, int *row, int *col) {
    const int groupID = lane >> 2, threadID_in_group = lane % 4;
    *row = i < 2 ? (threadID_in_group * 2) + (i & 0x1) : (threadID_in_group * 2) + (i & 0x1) + 8;
    *col = groupID;
}
static void frag_c(int lane, int i, int *row, int *col) {
    const int groupID = lane >> 2, threadID_in_group = lane % 4;
    *row = i < 2 ? groupID : groupID + 8;
    *col = (threadID_in_group * 2) + (i & 0x1);
}
/*
 * MODEL (fragments) — PTX ISA 9.7.14.5.10 "Matrix Fragments for mma.m16n8k32", .s8/.u8/.e4m3/...:
 *   A (a0..a15, four per .b32 register, low to high):
 *     row = groupID for ai where 0 <= i < 4 || 8 <= i < 12, groupID + 8 otherwise
 *     col = (threadID_in_group * 4) + (i & 0x3) for ai where i < 8, ... + 16 for i >= 8
 *   B (b0..b7): row = (threadID_in_group * 4) + (i & 0x3) for bi where i < 4, ... + 16 for i >= 4;
 *     col = groupID
 *   C/D: as above (row groupID / groupID + 8, col (threadID_in_group * 2) + (i & 0x1)).
 */
static void frag_a_k32(int lane, int i, int *row, int *col) {
    const int groupID = lane >> 2, threadID_in_group = lane % 4;
    *row = (i < 4 || (i >= 8 && i < 12)) ? groupID : groupID + 8;
    *col = i < 8 ? (threadID_in_group * 4) + (i & 0x3) : (threadID_in_group * 4) + (i & 0x3) + 16;
}
static void frag_b_k32(int lane, int i, int *row, int *col) {
    const int groupID = lane >> 2, threadID_in_group = lane % 4;
    *row = i < 4 ? (threadID_in_group * 4) + (i & 0x3) : (threadID_in_group * 4) + (i & 0x3) + 16;
    *col = groupID;
}

/*
 * MODEL (arithmetic) — PTX ISA "Warp-level matrix multiply-accumulate instructions: mma":
 * D = A * B + C with A MxK (.row), B KxN (.col), C and D MxN; for .s8 the products and sums are
 * 32-bit integers. The operands are chosen so every product and every partial sum is exact in
 * f32 (small integers times powers of two; for e4m3 the whole sum spans < 12 bits, below the
 * tensor core's reduced fp8 accumulation width), so the result does not depend on the
 * accumulation order and is compared bit for bit (+0 and -0 are treated as equal).
 */
static bool run_mma(Check &ck, int kind, int reps, uint64_t seed) {
    const int nblk = 3, n = 32 * nblk;
    const int K = (kind == MMA_F16 || kind == MMA_BF16) ? 16 : 32;
    Rng rng(seed);
    std::vector<uint32_t> ha(n * 4, 0), hb(n * 2, 0), hc(n * 4), want(n * 4);
    for (int blk = 0; blk < nblk; ++blk) {
        uint32_t A[16][32], B[32][8]; /* element codes */
        double Av[16][32], Bv[32][8], Cv[16][8];
        for (int r = 0; r < 16; ++r)
            for (int k = 0; k < K; ++k) {
                if (kind == MMA_S8) {
                    int q = rng.range(-128, 127);
                    if (q == 0) q = 1;
                    if (r == 3 && k == 5) q = -128; /* the extreme codes */
                    if (r == 12 && k == 30) q = 127;
                    A[r][k] = (uint8_t)(int8_t)q, Av[r][k] = q;
                } else {
                    const int sgn = rng.range(0, 1) ? -1 : 1;
                    /* f16/bf16: k * 2^e, k in 1..7, e in -2..2 (bf16 -3..2); e4m3: k in 1..3, e in -1..0 (B: 0..1) */
                    const double v = kind == MMA_E4M3 ? sgn * ldexp(rng.range(1, 3), rng.range(-1, 0))
                                                      : sgn * ldexp(rng.range(1, 7), kind == MMA_BF16 ? rng.range(-3, 2) : rng.range(-2, 2));
                    A[r][k] = kind == MMA_F16 ? encode_float(v, 5, 10, 15) : kind == MMA_BF16 ? encode_float(v, 8, 7, 127) : encode_float(v, 4, 3, 7);
                    Av[r][k] = kind == MMA_F16 ? decode_f16(A[r][k]) : kind == MMA_BF16 ? decode_bf16(A[r][k]) : decode_e4m3(A[r][k]);
                    if (Av[r][k] != v) test_bug("operand encoding");
                }
            }
        for (int k = 0; k < K; ++k)
            for (int c = 0; c < 8; ++c) {
                if (kind == MMA_S8) {
                    int q = rng.range(-128, 127);
                    if (q == 0) q = -1;
                    if (k == 7 && c == 2) q = -128;
                    if (k == 31 && c == 7) q = 127;
                    B[k][c] = (uint8_t)(int8_t)q, Bv[k][c] = q;
                } else {
                    const int sgn = rng.range(0, 1) ? -1 : 1;
                    const double v = kind == MMA_E4M3 ? sgn * ldexp(rng.range(1, 3), rng.range(0, 1))
                                                      : sgn * ldexp(rng.range(1, 7), kind == MMA_BF16 ? rng.range(-3, 2) : rng.range(-2, 2));
                    B[k][c] = kind == MMA_F16 ? encode_float(v, 5, 10, 15) : kind == MMA_BF16 ? encode_float(v, 8, 7, 127) : encode_float(v, 4, 3, 7);
                    Bv[k][c] = kind == MMA_F16 ? decode_f16(B[k][c]) : kind == MMA_BF16 ? decode_bf16(B[k][c]) : decode_e4m3(B[k][c]);
                    if (Bv[k][c] != v) test_bug("operand encoding");
                }
            }
        for (int r = 0; r < 16; ++r) /* non-zero C, on the products' grid */
            for (int c = 0; c < 8; ++c) {
                const int sgn = rng.range(0, 1) ? -1 : 1;
                if (kind == MMA_S8) Cv[r][c] = sgn * rng.range(1, 1 << 24);
                else if (kind == MMA_E4M3) Cv[r][c] = sgn * ldexp(rng.range(1, 255), -1);
                else Cv[r][c] = sgn * ldexp(rng.range(1, 4095), kind == MMA_BF16 ? -6 : -4);
            }
        for (int lane = 0; lane < 32; ++lane) {
            const int gid = blk * 32 + lane;
            int row, col;
            if (K == 16) {
                for (int i = 0; i < 8; ++i) frag_a_k16(lane, i, &row, &col), ha[gid * 4 + i / 2] |= A[row][col] << (16 * (i % 2));
                for (int i = 0; i < 4; ++i) frag_b_k16(lane, i, &row, &col), hb[gid * 2 + i / 2] |= B[row][col] << (16 * (i % 2));
            } else {
                for (int i = 0; i < 16; ++i) frag_a_k32(lane, i, &row, &col), ha[gid * 4 + i / 4] |= A[row][col] << (8 * (i % 4));
                for (int i = 0; i < 8; ++i) frag_b_k32(lane, i, &row, &col), hb[gid * 2 + i / 4] |= B[row][col] << (8 * (i % 4));
            }
            for (int i = 0; i < 4; ++i) {
                frag_c(lane, i, &row, &col);
                double sum = 0; /* exact: every term and partial sum fits a double's 53 bits */
                for (int k = 0; k < K; ++k) sum += Av[row][k] * Bv[k][col];
                const double d = Cv[row][col] + reps * sum;
                if (kind == MMA_S8) {
                    if (fabs(d) >= 2147483648.0) test_bug("s32 overflow");
                    const int32_t ci = (int32_t)Cv[row][col], di = (int32_t)d;
                    memcpy(&hc[gid * 4 + i], &ci, 4);
                    memcpy(&want[gid * 4 + i], &di, 4);
                } else {
                    const float cf = (float)Cv[row][col], df = (float)d;
                    if ((double)cf != Cv[row][col] || (double)df != d) test_bug("f32 result not exact");
                    memcpy(&hc[gid * 4 + i], &cf, 4);
                    memcpy(&want[gid * 4 + i], &df, 4);
                }
            }
        }
    }
    DevBuf da, db, dc, dd;
    if (!upload(ck, da, ha.data(), ha.size() * 4) || !upload(ck, db, hb.data(), hb.size() * 4) ||
        !upload(ck, dc, hc.data(), hc.size() * 4) || !alloc_out(ck, dd, want.size() * 4))
        return false;
    const uint32_t *pa = (const uint32_t *)da.p, *pb = (const uint32_t *)db.p, *pc = (const uint32_t *)dc.p;
    uint32_t *pd = (uint32_t *)dd.p;
    switch (kind) {
    case MMA_F16: k_mma<MMA_F16><<<nblk, 32>>>(pa, pb, pc, pd, reps); break;
    case MMA_BF16: k_mma<MMA_BF16><<<nblk, 32>>>(pa, pb, pc, pd, reps); break;
    case MMA_S8: k_mma<MMA_S8><<<nblk, 32>>>(pa, pb, pc, pd, reps); break;
    default: k_mma<MMA_E4M3><<<nblk, 32>>>(pa, pb, pc, pd, reps); break;
    }
    if (!finish_launch(ck)) return false;
    std::vector<uint32_t> got(n * 4);
    if (!download(ck, got.data(), dd, got.size() * 4)) return false;
    for (int gid = 0; gid < n; ++gid)
        for (int i = 0; i < 4; ++i) {
            uint32_t g = got[gid * 4 + i], w = want[gid * 4 + i];
            if (kind != MMA_S8 && ((g | w) & 0x7FFFFFFFu) == 0) g = w; /* +0 == -0 */
            int row, col;
            frag_c(gid % 32, i, &row, &col);
            ck.u32(g, w, "block %d lane %d reg %d (D[%d][%d], %d mma%s)", gid / 32, gid % 32, i, row, col, reps,
                   reps > 1 ? "s chained" : "");
        }
    return true;
}

static void test_mma() {
    for (int kind = MMA_F16; kind <= MMA_E4M3; ++kind) {
        Check ck("%s", kMmaName[kind]);
        run_mma(ck, kind, 1, 0xABC0 + kind);
        run_mma(ck, kind, 2, 0xDEF0 + kind);
    }
}

/* =============================================================================================
 * cp.async 4/8/16 bytes, commit_group, wait_group<1>/<0>, zero-fill (src_bytes < size)
 * ===========================================================================================*/

constexpr int CPA_BYTES = 96; /* per-thread shared region and global source */
constexpr int CPA_THREADS = 64;
struct CpaCopy {
    int off, size, group; /* group: 1..3 (commit order); zf: index into the per-thread src_bytes, or -1 */
    int zf;
};
/* Must match k_cp_async below. Bytes 60-63 and 92-95 are never written by a copy. */
static const CpaCopy kCpa[] = {
    {0, 16, 1, -1}, {16, 8, 1, -1}, {24, 4, 1, -1}, {28, 4, 1, -1},  /* group 1: full copies */
    {32, 16, 2, 0}, {48, 8, 2, 1},  {56, 4, 2, 2},  {64, 16, 2, -1}, /* group 2: zero-fill forms + full */
    {80, 8, 3, -1}, {88, 4, 3, -1},                                  /* group 3, then an empty group 4 */
};

/* out per thread: 4 snapshots of CPA_BYTES: after the 1st wait_group<1> (only bytes 0-31 are
 * meaningful), after the 2nd wait_group<1>, after wait_group<0>, and the neighbour thread's
 * region after __syncthreads. */
__global__ void k_cp_async(const unsigned char *src, const unsigned char *init, const int *zf, unsigned char *out) {
    extern __shared__ __align__(16) unsigned char dyn_smem[];
    const int t = threadIdx.x, gid = blockIdx.x * blockDim.x + t;
    unsigned char *mine = dyn_smem + t * CPA_BYTES;
    const unsigned char *g = src + gid * CPA_BYTES;
    unsigned char *o = out + gid * 4 * CPA_BYTES;
    for (int i = 0; i < CPA_BYTES; ++i) mine[i] = init[gid * CPA_BYTES + i];
    __syncthreads();
    const int z16 = zf[gid * 3 + 0], z8 = zf[gid * 3 + 1], z4 = zf[gid * 3 + 2];
    mkc::ptx::cp_async<16>(mine + 0, g + 0);
    mkc::ptx::cp_async<8>(mine + 16, g + 16);
    mkc::ptx::cp_async<4>(mine + 24, g + 24);
    mkc::ptx::cp_async<4>(mine + 28, g + 28, 4);
    mkc::ptx::cp_async_commit();
    mkc::ptx::cp_async<16>(mine + 32, g + 32, z16);
    mkc::ptx::cp_async<8>(mine + 48, g + 48, z8);
    mkc::ptx::cp_async<4>(mine + 56, g + 56, z4);
    mkc::ptx::cp_async<16>(mine + 64, g + 64, 16);
    mkc::ptx::cp_async_commit();
    mkc::ptx::cp_async_wait<1>(); /* group 1 complete; group 2 may still be pending */
    for (int i = 0; i < 32; ++i) o[i] = mine[i];
    mkc::ptx::cp_async<8>(mine + 80, g + 80);
    mkc::ptx::cp_async<4>(mine + 88, g + 88);
    mkc::ptx::cp_async_commit();
    mkc::ptx::cp_async_commit(); /* empty group 4 */
    mkc::ptx::cp_async_wait<1>(); /* only the (empty) newest group may be pending: 1-3 complete */
    for (int i = 0; i < CPA_BYTES; ++i) o[CPA_BYTES + i] = mine[i];
    mkc::ptx::cp_async_wait<0>();
    for (int i = 0; i < CPA_BYTES; ++i) o[2 * CPA_BYTES + i] = mine[i];
    __syncthreads();
    const unsigned char *nb = dyn_smem + ((t + 1) % blockDim.x) * CPA_BYTES;
    for (int i = 0; i < CPA_BYTES; ++i) o[3 * CPA_BYTES + i] = nb[i];
}

/*
 * MODEL — PTX ISA "Data Movement and Conversion Instructions: cp.async": "Operand src-size
 * represents the size of the data in bytes to be copied from src to dst and must be less than
 * cp-size. In such case, remaining bytes in destination dst are filled with zeros."
 * "cp.async.commit_group": batches all prior uncommitted cp.async of the executing thread into a
 * new cp.async-group (an empty one if there are none). "cp.async.wait_group / wait_all":
 * "wait till only N or fewer of the most recent cp.async-groups are pending and all the prior
 * cp.async-groups committed by the executing threads are complete ... An empty cp.async-group is
 * considered to be trivially complete. Writes performed by cp.async operations are made visible
 * to the executing thread only after ... the completion of cp.async.wait_group on the
 * cp.async-group in which the cp.async belongs". Other threads see them after a later barrier.
 */
static void model_cp_async(const unsigned char *src, const unsigned char *init, const int *zf3, int max_group,
                           unsigned char *region) {
    memcpy(region, init, CPA_BYTES);
    for (const CpaCopy &c : kCpa) {
        if (c.group > max_group) continue;
        const int sb = c.zf < 0 ? c.size : zf3[c.zf];
        for (int i = 0; i < c.size; ++i) region[c.off + i] = i < sb ? src[c.off + i] : 0;
    }
}

/* which copy (index into kCpa) writes byte i, or -1 */
static int cpa_copy_of(int i) {
    for (int k = 0; k < (int)(sizeof kCpa / sizeof kCpa[0]); ++k)
        if (i >= kCpa[k].off && i < kCpa[k].off + kCpa[k].size) return k;
    return -1;
}

static void run_cp_async(Check &older, Check &newer, Check &zf4, Check &zfodd, Check &all0, Check &alone,
                         Check &cross);
static void test_cp_async() {
    Check older("cp.async 16/8/4 older group after wait_group<1>");
    Check newer("cp.async wait_group<1> with an empty newest group");
    Check zf4("cp.async zero-fill, src_bytes multiple of 4");
    Check zfodd("cp.async zero-fill, other src_bytes");
    Check all0("cp.async full copies after wait_group<0>");
    Check alone("cp.async leaves the bytes between copies alone");
    Check cross("cp.async data seen by another thread after __syncthreads");
    run_cp_async(older, newer, zf4, zfodd, all0, alone, cross);
    Check *all[] = {&older, &newer, &zf4, &zfodd, &all0, &alone, &cross};
    for (Check *c : all) {
        if (c != &older && older.total == 0 && older.bad) c->error("not run: see %s", older.name);
        c->finish();
    }
}

static void run_cp_async(Check &older, Check &newer, Check &zf4, Check &zfodd, Check &all0, Check &alone,
                         Check &cross) {
    const int nblk = 2, n = nblk * CPA_THREADS;
    Rng rng(0xC0FFEE);
    std::vector<unsigned char> src(n * CPA_BYTES), init(n * CPA_BYTES);
    std::vector<int> zf(n * 3);
    for (int gid = 0; gid < n; ++gid) {
        const int t = gid % CPA_THREADS, blk = gid / CPA_THREADS;
        for (int i = 0; i < CPA_BYTES; ++i) {
            unsigned char sv = (unsigned char)rng.range(1, 255), iv = (unsigned char)(0x80 | ((i * 7 + gid) & 0x7F));
            if (sv == iv) sv ^= 0x01; /* source bytes differ from the destination's old bytes; both non-zero */
            if (sv == 0) sv = 0x02;
            src[gid * CPA_BYTES + i] = sv, init[gid * CPA_BYTES + i] = iv;
        }
        zf[gid * 3 + 0] = (t * 5 + blk * 3) % 17; /* 0..16 */
        zf[gid * 3 + 1] = (t * 3 + blk) % 9;      /* 0..8 */
        zf[gid * 3 + 2] = (t + blk * 2) % 5;      /* 0..4 */
    }
    DevBuf dsrc, dinit, dzf, dout;
    Check &ck = older;
    if (!upload(ck, dsrc, src.data(), src.size()) || !upload(ck, dinit, init.data(), init.size()) ||
        !upload(ck, dzf, zf.data(), zf.size() * 4) || !alloc_out(ck, dout, n * 4 * CPA_BYTES))
        return;
    k_cp_async<<<nblk, CPA_THREADS, CPA_THREADS * CPA_BYTES>>>((const unsigned char *)dsrc.p, (const unsigned char *)dinit.p,
                                                              (const int *)dzf.p, (unsigned char *)dout.p);
    if (!finish_launch(ck)) return;
    std::vector<unsigned char> out(n * 4 * CPA_BYTES);
    if (!download(ck, out.data(), dout, out.size())) return;
    for (int gid = 0; gid < n; ++gid) {
        const int t = gid % CPA_THREADS, blk = gid / CPA_THREADS;
        const int nbr = blk * CPA_THREADS + (t + 1) % CPA_THREADS;
        unsigned char after1[CPA_BYTES], after3[CPA_BYTES], nbr_all[CPA_BYTES];
        model_cp_async(&src[gid * CPA_BYTES], &init[gid * CPA_BYTES], &zf[gid * 3], 1, after1);
        model_cp_async(&src[gid * CPA_BYTES], &init[gid * CPA_BYTES], &zf[gid * 3], 3, after3);
        model_cp_async(&src[nbr * CPA_BYTES], &init[nbr * CPA_BYTES], &zf[nbr * 3], 3, nbr_all);
        const unsigned char *o = &out[gid * 4 * CPA_BYTES];
        for (int i = 0; i < 32; ++i)
            older.u32(o[i], after1[i], "block %d lane %d reg 0 (thread %d byte %d)", blk, t & 31, t, i);
        for (int snap = 1; snap <= 2; ++snap)
            for (int i = 0; i < CPA_BYTES; ++i) {
                const int k = cpa_copy_of(i);
                const uint32_t got = o[snap * CPA_BYTES + i], want = after3[i];
                const char *fmt = "block %d lane %d reg 0 (thread %d byte %d, after wait_group<%d>, src_bytes %d)";
                const int sb = k < 0 ? -1 : kCpa[k].zf < 0 ? kCpa[k].size : zf[gid * 3 + kCpa[k].zf];
                const int waitn = snap == 1 ? 1 : 0;
                if (k < 0) alone.u32(got, want, fmt, blk, t & 31, t, i, waitn, sb);
                else if (kCpa[k].zf >= 0) (sb % 4 == 0 ? zf4 : zfodd).u32(got, want, fmt, blk, t & 31, t, i, waitn, sb);
                else if (snap == 1) { if (kCpa[k].group > 1) newer.u32(got, want, fmt, blk, t & 31, t, i, waitn, sb); }
                else all0.u32(got, want, fmt, blk, t & 31, t, i, waitn, sb);
            }
        for (int i = 0; i < CPA_BYTES; ++i)
            cross.u32(o[3 * CPA_BYTES + i], nbr_all[i], "block %d lane %d reg 0 (thread %d reading thread %d byte %d)",
                      blk, t & 31, t, nbr % CPA_THREADS, i);
    }
}

/* =============================================================================================
 * main
 * ===========================================================================================*/

int main(int argc, char **argv) {
    if (argc > 1) g_filter = argv[1];
    setvbuf(stdout, nullptr, _IOLBF, 0);
    cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) {
        printf("FAIL no CUDA device\n0 passed, 1 failed\n");
        return 1;
    }
    printf("device: %s, sm_%d%d\n", prop.name, prop.major, prop.minor);
    if (prop.major * 10 + prop.minor < 89) {
        printf("FAIL device below sm_89 (the e4m3 mma needs sm_89+)\n0 passed, 1 failed\n");
        return 1;
    }
    if (want_family("shfl")) test_shfl();
    if (want_family("vote")) test_vote();
    if (want_family("syncwarp")) test_syncwarp();
    if (want_family("syncthreads")) test_syncthreads();
    if (want_family("ldmatrix")) test_ldmatrix();
    if (want_family("mma")) test_mma();
    if (want_family("cp_async")) test_cp_async();
    printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail == 0 && g_pass > 0 ? 0 : 1;
}
