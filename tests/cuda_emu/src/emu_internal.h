/* medkern's CUDA emulator: state shared by the scheduler (emu_sched.cc), the PTX
   instructions (emu_ptx.cc) and the runtime API (emu_runtime.cc). */
#ifndef MEDKERN_CUDA_EMU_INTERNAL_H
#define MEDKERN_CUDA_EMU_INTERNAL_H

#include <stdint.h>

#include <string>
#include <vector>

#include "cuda_emu_device.h"
#include "emu_fiber.h"

namespace mkemu {

enum fiber_state { RUNNABLE, WAIT_BAR, WAIT_WARP, DONE };

struct cp_copy {
    void *dst;
    std::vector<unsigned char> data; /* read at issue (an out-of-bounds source reports there) */
    long group;                      /* -1: not committed yet */
};

struct fiber : thread_view {
    fiber_ctx ctx;
    fiber_stack *stack;
    fiber_state state;
    /* the collective this lane waits in */
    int c_kind;
    const char *c_name;
    unsigned c_mask;
    void *c_arg;
    warp_fn c_fn;
    site c_site;
    site bar_site;
    /* cp.async: pending copies and the count of committed groups */
    std::vector<cp_copy> cp;
    long cp_groups;
};

struct shared_alloc {
    const char *key;
    unsigned char *p;
    size_t bytes;
};

enum schedule_kind { SCHED_FORWARD, SCHED_REVERSE, SCHED_RANDOM, SCHED_WARP_SERIAL };

/* The block being run on this host thread. */
struct block_run {
    const char *kernel;
    site launch_site;
    int nthreads, nwarps;
    std::vector<fiber> fibers;
    int live, at_barrier;
    bool barrier_released;
    fiber_ctx sched;
    void (*body)(void *);
    void *body_ctx;
    unsigned char *dyn;
    size_t dyn_bytes, static_bytes, smem_limit;
    std::vector<shared_alloc> statics;
    bool faulted;
    schedule_kind sched_kind;
    uint64_t rng;
};

extern __thread block_run *t_blk;
static inline fiber *cur_fiber() { return static_cast<fiber *>(t_cur); }

/* Sticky execution faults (emu_runtime.cc): the first message is kept. */
void record_fault(const std::string &msg);
cudaError_t sticky_error();
void set_last_error(cudaError_t e);
/* cudaFuncSetAttribute(MaxDynamicSharedMemorySize) of a kernel, or -1. */
int func_dynamic_smem_optin(const void *func);
/* Does [p, p + n) lie inside one live cudaMalloc allocation? */
bool in_device_alloc(const void *p, size_t n);

constexpr size_t kSmemDefault = 48 * 1024;  /* per block without the opt-in     */
constexpr size_t kSmemOptinMax = 232448;    /* H100: 227 KB with cudaFuncSetAttribute */

} /* namespace mkemu */
#endif
