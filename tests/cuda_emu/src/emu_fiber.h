/*
 * medkern's CUDA emulator: fibers — a stack and a saved stack pointer — and the one
 * context switch between them (x86-64: the System V callee-saved registers, MXCSR and the
 * x87 control word; elsewhere ucontext). No system call per switch (glibc's swapcontext
 * makes one for the signal mask). Under AddressSanitizer every switch is announced with
 * __sanitizer_{start,finish}_switch_fiber.
 */
#ifndef MEDKERN_CUDA_EMU_FIBER_H
#define MEDKERN_CUDA_EMU_FIBER_H

#include <stddef.h>

namespace mkemu {

struct fiber_stack {
    void *base = nullptr; /* mapping, guard page first */
    size_t bytes = 0;     /* usable bytes above the guard page */
    char *lo() const { return static_cast<char *>(base) + 4096; }
};

/* A stack of `bytes` (rounded to pages) with a PROT_NONE guard page below it. */
bool stack_alloc(fiber_stack *s, size_t bytes);
void stack_free(fiber_stack *s);
/* Before a stack is reused: clears what a fiber abandoned mid-call left (ASan poison). */
void stack_reset(fiber_stack *s);

/* An execution context. `sp` is where its registers were saved. */
struct fiber_ctx {
    void *sp = nullptr;
    void *fake_stack = nullptr; /* ASan's fake-stack handle while switched out */
    const void *stack_lo = nullptr;
    size_t stack_bytes = 0;
};

/* Prepares `f` to start entry() on stack `s` at its first switch. entry must never return:
   it ends with fiber_exit(). */
void fiber_init(fiber_ctx *f, const fiber_stack *s, void (*entry)());
/* Saves the current context into `from` and resumes `to`. */
void fiber_switch(fiber_ctx *from, fiber_ctx *to);
/* The first thing a new fiber's entry() does (ASan bookkeeping). */
void fiber_started(fiber_ctx *self, fiber_ctx *from);
/* Leaves a finished fiber for good, resuming `to`. */
[[noreturn]] void fiber_exit(fiber_ctx *self, fiber_ctx *to);

} /* namespace mkemu */
#endif
