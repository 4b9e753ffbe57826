/*
 * medkern's CUDA emulator, device side: what a .cu file compiled as host C++ needs to run
 * on the CPU. Force-included (-include) ahead of every kernel source that
 * tests/cuda_emu/cu2cpp.py rewrote (launches `k<<<g, b, smem, s>>>(args)` become
 * mkemu::launch(...), `__shared__` declarations become per-block allocations); the sources
 * themselves stay plain CUDA C.
 *
 * Execution model (src/emu_sched.cc): blocks run one after another on the launching host
 * thread; each thread of a block is a fiber with its own stack; a fiber runs until it
 * reaches a block barrier or a warp collective, then the schedule (MEDKERN_EMU_SCHEDULE)
 * picks the next one. A warp collective completes when the last lane of its mask arrives:
 * that lane computes every lane's result. Every built-in below that synchronises takes the
 * caller's source position as a defaulted argument (__builtin_FILE/LINE), so faults name the
 * kernel's line.
 */
#ifndef MEDKERN_CUDA_EMU_DEVICE_H
#define MEDKERN_CUDA_EMU_DEVICE_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include <tuple>
#include <type_traits>
#include <utility>

#include "cuda_runtime_api.h"

/* ---- qualifiers: device code is ordinary host code here */
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
#define __align__(n) alignas(n)
#ifndef __CUDA_ARCH__
#define __CUDA_ARCH__ 900 /* the emulated device is sm_90 */
#endif
#define __CUDACC_EMU__ 1

/* ---- vector types */
struct uint3 { unsigned int x, y, z; };
struct alignas(8) uint2 { unsigned int x, y; };
struct alignas(16) uint4 { unsigned int x, y, z, w; };
struct alignas(8) int2 { int x, y; };
struct alignas(16) int4 { int x, y, z, w; };
struct alignas(8) float2 { float x, y; };
struct alignas(16) float4 { float x, y, z, w; };
static inline uint2 make_uint2(unsigned x, unsigned y) { return uint2{x, y}; }
static inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return uint4{x, y, z, w}; }
static inline int2 make_int2(int x, int y) { return int2{x, y}; }
static inline int4 make_int4(int x, int y, int z, int w) { return int4{x, y, z, w}; }
static inline float2 make_float2(float x, float y) { return float2{x, y}; }
static inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }

namespace mkemu {

/* A source position. As a defaulted argument, site() is the caller's position (the
   builtins in a constructor's default arguments are evaluated where the call is). */
struct site {
    const char *file;
    int line;
    site(const char *f = __builtin_FILE(), int l = __builtin_LINE()) : file(f), line(l) {}
};
#define MKEMU_HERE ::mkemu::site()

/* The running fiber's identity (the rest of its state is private to src/emu_sched.cc). */
struct thread_view {
    uint3 tid;
    int linear, lane, warp;
};
/* __thread, not thread_local: no TLS wrapper calls in every kernel access (and GCC 12 with
   UBSan miscompiles the wrapper's null check at -O2). */
extern __thread thread_view *t_cur;
extern __thread uint3 t_block_idx, t_block_dim, t_grid_dim;

[[noreturn]] void fault(site s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Block barrier (bar.sync 0): every live thread of the block at the same call site. */
void syncthreads(site s);

/* A warp collective: the calling lane offers `arg`; when every lane of `mask` has arrived
   at a collective of the same kind with the same mask, the last one calls
   fn(args, mask) with every lane's arg (args[l] null for lanes outside the mask). */
typedef void (*warp_fn)(void *const args[32], unsigned mask, site s);
void warp_collective(int kind, const char *name, unsigned mask, void *arg, warp_fn fn, site s);

/* Shared memory of the current block: static __shared__ variables (one per key per block,
   filled with 0xFF bytes when the block starts using it) and the dynamic buffer. */
void *shared_static(const char *key, size_t bytes, size_t align, site s);
void *shared_dynamic(size_t align);
/* Does [p, p + bytes) lie inside one shared allocation of the current block? */
bool in_shared(const void *p, size_t bytes);

/* cp.async bookkeeping of the calling thread (src/emu_ptx.cc). */
void cp_async_issue(void *dst, const void *src, int size, int src_bytes, site s);
void cp_async_commit(site s);
void cp_async_wait(int n, site s);

template <class T>
static inline T &shared_var(const char *key, site s, size_t align = alignof(T)) {
    return *static_cast<T *>(shared_static(key, sizeof(T), align < alignof(T) ? alignof(T) : align, s));
}
template <class T>
static inline T *dynamic_shared(size_t align = 16) {
    return static_cast<T *>(shared_dynamic(align < alignof(T) ? alignof(T) : align));
}

/* ---- launches */
struct launch_cfg {
    dim3 grid, block;
    size_t smem;
    cudaStream_t stream;
};
static inline launch_cfg cfg(dim3 grid, dim3 block, size_t smem = 0, cudaStream_t stream = 0) {
    return launch_cfg{grid, block, smem, stream};
}
void launch_raw(const void *func, const char *name, site at, const launch_cfg &c, void (*body)(void *),
                void *ctx);

template <class... P, class... A>
static inline void launch(void (*k)(P...), const char *name, const char *file, int line, const launch_cfg &c,
                          A &&...a) {
    static_assert(sizeof...(P) == sizeof...(A), "kernel launched with the wrong number of arguments");
    typedef std::tuple<typename std::decay<P>::type...> args_t;
    args_t args(static_cast<typename std::decay<P>::type>(std::forward<A>(a))...);
    struct pack {
        void (*k)(P...);
        args_t *args;
    } pk{k, &args};
    launch_raw(reinterpret_cast<const void *>(k), name, site{file, line}, c,
               [](void *p) {
                   pack *q = static_cast<pack *>(p);
                   std::apply(q->k, *q->args); /* by value: every thread gets its own copy */
               },
               &pk);
}

/* ---- warp collectives with a value (PTX ISA 9.7.8.x shfl.sync, vote.sync) */
enum { K_SHFL = 1, K_VOTE, K_SYNCWARP, K_LDMATRIX, K_MMA };

struct shfl_arg {
    uint64_t v;       /* the lane's value, as bits */
    uint64_t out;     /* its result */
    int mode;         /* 0 up, 1 down, 2 bfly, 3 idx */
    int b;            /* delta, lane mask or source lane */
    int c;            /* PTX's c operand: (32 - width) << 8, | 0x1F except for .up */
};
void shfl_complete(void *const args[32], unsigned mask, site s);

template <class T>
static inline T shfl_any(int mode, unsigned mask, T v, int b, int width, site s) {
    static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value, "shuffle of a type over 8 bytes");
    if (width < 1 || width > 32 || (width & (width - 1)))
        fault(s, "shuffle width %d is not a power of two in 1..32", width);
    shfl_arg a;
    a.v = 0;
    memcpy(&a.v, &v, sizeof(T));
    a.mode = mode, a.b = b, a.c = ((32 - width) << 8) | (mode == 0 ? 0 : 0x1F);
    warp_collective(K_SHFL, "__shfl_sync", mask, &a, shfl_complete, s);
    T r;
    memcpy(&r, &a.out, sizeof(T));
    return r;
}

struct vote_arg {
    int pred;
    unsigned out;
};
void vote_complete(void *const args[32], unsigned mask, site s);
void syncwarp_complete(void *const args[32], unsigned mask, site s);

} /* namespace mkemu */

/* ---- built-in variables */
#define threadIdx (::mkemu::t_cur->tid)
#define blockIdx (::mkemu::t_block_idx)
#define blockDim (::mkemu::t_block_dim)
#define gridDim (::mkemu::t_grid_dim)
static constexpr int warpSize = 32;

/* ---- synchronisation and warp built-ins */
static inline void __syncthreads(mkemu::site s = MKEMU_HERE) { mkemu::syncthreads(s); }
static inline void __syncwarp(unsigned mask = 0xFFFFFFFFu, mkemu::site s = MKEMU_HERE) {
    mkemu::warp_collective(mkemu::K_SYNCWARP, "__syncwarp", mask, nullptr, mkemu::syncwarp_complete, s);
}
template <class T>
static inline T __shfl_sync(unsigned mask, T v, int src, int width = 32, mkemu::site s = MKEMU_HERE) {
    return mkemu::shfl_any(3, mask, v, src, width, s);
}
template <class T>
static inline T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32, mkemu::site s = MKEMU_HERE) {
    return mkemu::shfl_any(0, mask, v, (int)delta, width, s);
}
template <class T>
static inline T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32, mkemu::site s = MKEMU_HERE) {
    return mkemu::shfl_any(1, mask, v, (int)delta, width, s);
}
template <class T>
static inline T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32, mkemu::site s = MKEMU_HERE) {
    return mkemu::shfl_any(2, mask, v, lane_mask, width, s);
}
static inline unsigned mkemu_vote(int mode, unsigned mask, int pred, mkemu::site s) {
    mkemu::vote_arg a{pred != 0, 0u};
    mkemu::warp_collective(mkemu::K_VOTE + 16 * mode, mode == 0 ? "__ballot_sync" : mode == 1 ? "__any_sync" : "__all_sync",
                           mask, &a, mkemu::vote_complete, s);
    return a.out;
}
static inline unsigned __ballot_sync(unsigned mask, int pred, mkemu::site s = MKEMU_HERE) { return mkemu_vote(0, mask, pred, s); }
static inline int __any_sync(unsigned mask, int pred, mkemu::site s = MKEMU_HERE) { return (int)mkemu_vote(1, mask, pred, s); }
static inline int __all_sync(unsigned mask, int pred, mkemu::site s = MKEMU_HERE) { return (int)mkemu_vote(2, mask, pred, s); }
static inline unsigned __lanemask_lt_emu() { return (1u << (threadIdx.x & 31)) - 1u; }
[[noreturn]] static inline void __trap(mkemu::site s = MKEMU_HERE) { mkemu::fault(s, "__trap()"); }

/* ---- memory and bit built-ins */
template <class T>
static inline T __ldg(const T *p) { return *p; }
static inline unsigned __float_as_uint(float x) { unsigned u; memcpy(&u, &x, 4); return u; }
static inline float __uint_as_float(unsigned u) { float x; memcpy(&x, &u, 4); return x; }
static inline int __float_as_int(float x) { int u; memcpy(&u, &x, 4); return u; }
static inline float __int_as_float(int u) { float x; memcpy(&x, &u, 4); return x; }
/* cvt.rni.s32.f32: round to nearest even, saturating, NaN -> 0 */
static inline int __float2int_rn(float x) {
    if (x != x) return 0;
    if (x >= 2147483648.0f) return 2147483647;
    if (x <= -2147483648.0f) return (-2147483647 - 1);
    return (int)nearbyintf(x); /* the host's default rounding mode is to nearest even */
}
static inline float __fdiv_rn(float a, float b) { return a / b; }
/* __fdividef: a * rcp.approx(b), within 2 ulp for |b| in [2^-126, 2^126]; 0 (x finite)
   for 2^126 < |b| < 2^128, as the CUDA math API documents. Modelled as a / b except there. */
static inline float __fdividef(float a, float b) {
    const float m = fabsf(b);
    if (m > 0x1p126f && isfinite(m) && isfinite(a)) return copysignf(0.0f, a) * copysignf(1.0f, b);
    return a / b;
}
static inline float __fmul_rn(float a, float b) { return a * b; }
static inline float __fadd_rn(float a, float b) { return a + b; }
/* prmt.b32 default mode as __byte_perm documents it: byte n of the result is byte
   (s >> 4n) & 7 of the 8-byte value {y, x} (x the low four bytes). */
static inline unsigned __byte_perm(unsigned x, unsigned y, unsigned s) {
    const uint64_t v = (uint64_t)y << 32 | x;
    unsigned r = 0;
    for (int n = 0; n < 4; n++) r |= (unsigned)((v >> (8 * ((s >> (4 * n)) & 7u))) & 0xFFu) << (8 * n);
    return r;
}
static inline unsigned __umulhi(unsigned x, unsigned y) { return (unsigned)(((uint64_t)x * y) >> 32); }
static inline int __popc(unsigned x) { return __builtin_popcount(x); }
static inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz((unsigned)x); }
static inline int __ffs(int x) { return __builtin_ffs(x); }
static inline size_t __cvta_generic_to_shared(const void *p) { return (size_t)(uintptr_t)p; }

/* sin(pi x), cos(pi x): computed in double, rounded once (CUDA's are within 1 ulp). */
static inline void sincospif(float x, float *s, float *c) {
    const double a = 3.14159265358979323846 * (double)x;
    *s = (float)sin(a);
    *c = (float)cos(a);
}

/* CUDA's overloaded min/max of device code, for any pair of arithmetic types */
template <class A, class B>
static inline typename std::common_type<A, B>::type min(A a, B b) {
    typedef typename std::common_type<A, B>::type C;
    return (C)b < (C)a ? (C)b : (C)a;
}
template <class A, class B>
static inline typename std::common_type<A, B>::type max(A a, B b) {
    typedef typename std::common_type<A, B>::type C;
    return (C)a < (C)b ? (C)b : (C)a;
}

#endif
