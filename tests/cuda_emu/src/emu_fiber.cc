/* medkern's CUDA emulator: fiber stacks and the context switch (emu_fiber.h). */
#include "emu_fiber.h"

#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MKEMU_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define MKEMU_ASAN 1
#endif
#ifdef MKEMU_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

#if !defined(__x86_64__)
#include <ucontext.h>
#endif

namespace mkemu {

bool stack_alloc(fiber_stack *s, size_t bytes) {
    bytes = (bytes + 4095) & ~(size_t)4095;
    void *p = mmap(nullptr, bytes + 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return false;
    mprotect(p, 4096, PROT_NONE); /* an overflow faults instead of corrupting a neighbour */
    s->base = p;
    s->bytes = bytes;
    return true;
}

void stack_free(fiber_stack *s) {
    if (s->base) munmap(s->base, s->bytes + 4096);
    s->base = nullptr;
}

void stack_reset(fiber_stack *s) {
#ifdef MKEMU_ASAN
    if (s->base) __asan_unpoison_memory_region(s->lo(), s->bytes);
#else
    (void)s;
#endif
}

#if defined(__x86_64__)
/* mkemu_ctx_switch(void **save_sp, void *load_sp): pushes the callee-saved registers and the
   FP control state, stores rsp, loads the other context's rsp, pops its state, returns into
   it. A new context's stack is laid out as if it had been switched out (fiber_init). */
extern "C" void mkemu_ctx_switch(void **save_sp, void *load_sp);
__asm__(".text\n"
        ".globl mkemu_ctx_switch\n"
        ".hidden mkemu_ctx_switch\n"
        ".type mkemu_ctx_switch,@function\n"
        "mkemu_ctx_switch:\n"
        "  pushq %rbp\n"
        "  pushq %rbx\n"
        "  pushq %r12\n"
        "  pushq %r13\n"
        "  pushq %r14\n"
        "  pushq %r15\n"
        "  subq $8, %rsp\n"
        "  stmxcsr (%rsp)\n"
        "  fnstcw 4(%rsp)\n"
        "  movq %rsp, (%rdi)\n"
        "  movq %rsi, %rsp\n"
        "  ldmxcsr (%rsp)\n"
        "  fldcw 4(%rsp)\n"
        "  addq $8, %rsp\n"
        "  popq %r15\n"
        "  popq %r14\n"
        "  popq %r13\n"
        "  popq %r12\n"
        "  popq %rbx\n"
        "  popq %rbp\n"
        "  ret\n"
        ".size mkemu_ctx_switch,.-mkemu_ctx_switch\n");

void fiber_init(fiber_ctx *f, const fiber_stack *s, void (*entry)()) {
    uintptr_t top = ((uintptr_t)(s->lo() + s->bytes)) & ~(uintptr_t)15;
    uint64_t *sp = reinterpret_cast<uint64_t *>(top);
    *--sp = 0;                          /* entry's return address: never used */
    *--sp = (uint64_t)(uintptr_t)entry; /* popped by `ret`: rsp = top - 8 at entry, as after a call */
    for (int i = 0; i < 6; i++) *--sp = 0; /* rbp rbx r12 r13 r14 r15 */
    uint32_t mxcsr;
    uint16_t fcw;
    __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
    __asm__ volatile("fnstcw %0" : "=m"(fcw));
    --sp;
    memcpy(sp, &mxcsr, 4);
    memcpy(reinterpret_cast<char *>(sp) + 4, &fcw, 2);
    f->sp = sp;
    f->stack_lo = s->lo();
    f->stack_bytes = s->bytes;
}

static inline void raw_switch(fiber_ctx *from, fiber_ctx *to) { mkemu_ctx_switch(&from->sp, to->sp); }
#else
/* portable fallback: one ucontext per fiber (a system call per switch) */
struct uctx_box {
    ucontext_t uc;
};
void fiber_init(fiber_ctx *f, const fiber_stack *s, void (*entry)()) {
    uctx_box *b = new uctx_box;
    getcontext(&b->uc);
    b->uc.uc_stack.ss_sp = s->lo();
    b->uc.uc_stack.ss_size = s->bytes;
    b->uc.uc_link = nullptr;
    makecontext(&b->uc, entry, 0);
    f->sp = b;
    f->stack_lo = s->lo();
    f->stack_bytes = s->bytes;
}
static inline void raw_switch(fiber_ctx *from, fiber_ctx *to) {
    if (!from->sp) from->sp = new uctx_box;
    swapcontext(&static_cast<uctx_box *>(from->sp)->uc, &static_cast<uctx_box *>(to->sp)->uc);
}
#endif

void fiber_switch(fiber_ctx *from, fiber_ctx *to) {
#ifdef MKEMU_ASAN
    __sanitizer_start_switch_fiber(&from->fake_stack, to->stack_lo, to->stack_bytes);
    raw_switch(from, to);
    const void *lo = nullptr;
    size_t n = 0;
    __sanitizer_finish_switch_fiber(from->fake_stack, &lo, &n);
#else
    raw_switch(from, to);
#endif
}

void fiber_started(fiber_ctx *self, fiber_ctx *from) {
    (void)self;
#ifdef MKEMU_ASAN
    const void *lo = nullptr;
    size_t n = 0;
    __sanitizer_finish_switch_fiber(nullptr, &lo, &n);
    if (!from->stack_lo) { /* the scheduler runs on the host thread's own stack */
        from->stack_lo = lo;
        from->stack_bytes = n;
    }
#else
    (void)from;
#endif
}

void fiber_exit(fiber_ctx *self, fiber_ctx *to) {
#ifdef MKEMU_ASAN
    __sanitizer_start_switch_fiber(nullptr, to->stack_lo, to->stack_bytes); /* frees the fake stack */
#endif
#if defined(__x86_64__)
    void *dummy;
    mkemu_ctx_switch(&dummy, to->sp);
#else
    setcontext(&static_cast<uctx_box *>(to->sp)->uc);
#endif
    (void)self;
    __builtin_unreachable();
}

} /* namespace mkemu */
