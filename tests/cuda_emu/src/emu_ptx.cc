/*
 * medkern's CUDA emulator: the PTX instructions of kernels/cuda/ptx.cuh, each written from
 * the PTX ISA (sections cited below), never from the kernels' use of them.
 */
#include <string.h>

#include "cuda_emu_float.h"
#include "cuda_emu_ptx.h"
#include "emu_internal.h"

namespace mkemu {

/* ------------------------------------------------------------------ ldmatrix */

/* PTX ISA, "Warp-level matrix load instruction: ldmatrix" (.m8n8, .b16):
   - .x1/.x2/.x4 load 1/2/4 matrices of 8x8 16-bit elements; threads 0-7 give the row
     addresses of matrix 0, 8-15 of matrix 1, 16-23 of matrix 2, 24-31 of matrix 3 (for .x1
     only threads 0-7 are used, for .x2 threads 0-15); each row is 16 contiguous bytes,
     aligned to 16 bytes, in shared memory;
   - destination register i of thread t holds elements (row t/4, columns 2(t%4) and
     2(t%4)+1) of matrix i, the lower column in the lower half;
   - with .trans the matrix is delivered transposed: thread t receives the elements at
     (row 2(t%4), column t/4) and (row 2(t%4)+1, column t/4). */
struct ldm_arg {
    const void *p;
    uint32_t *r;
    int num;
    bool trans;
};

static void ldmatrix_complete(void *const args[32], unsigned mask, site s) {
    (void)mask;
    const ldm_arg *a0 = static_cast<ldm_arg *>(args[0]);
    for (int l = 1; l < 32; l++) {
        const ldm_arg *a = static_cast<ldm_arg *>(args[l]);
        if (a->num != a0->num || a->trans != a0->trans)
            fault(s, "ldmatrix: lane %d executes .x%d%s, lane 0 .x%d%s", l, a->num, a->trans ? ".trans" : "",
                  a0->num, a0->trans ? ".trans" : "");
    }
    uint16_t m[4][8][8];
    for (int i = 0; i < a0->num; i++)
        for (int r = 0; r < 8; r++) {
            const int lane = 8 * i + r;
            const void *p = static_cast<ldm_arg *>(args[lane])->p;
            if ((uintptr_t)p % 16 != 0)
                fault(s, "ldmatrix: lane %d's row address %p is not 16-byte aligned", lane, p);
            if (!in_shared(p, 16))
                fault(s, "ldmatrix: lane %d's row address %p (16 bytes) is not inside the block's shared memory",
                      lane, p);
            memcpy(m[i][r], p, 16);
        }
    for (int t = 0; t < 32; t++) {
        ldm_arg *a = static_cast<ldm_arg *>(args[t]);
        for (int i = 0; i < a0->num; i++) {
            uint16_t lo, hi;
            if (!a0->trans) {
                lo = m[i][t / 4][2 * (t % 4)];
                hi = m[i][t / 4][2 * (t % 4) + 1];
            } else {
                lo = m[i][2 * (t % 4)][t / 4];
                hi = m[i][2 * (t % 4) + 1][t / 4];
            }
            a->r[i] = (uint32_t)lo | (uint32_t)hi << 16;
        }
    }
}

void ldmatrix(int num, bool trans, uint32_t *r, const void *p, site s) {
    ldm_arg a{p, r, num, trans};
    warp_collective(K_LDMATRIX, "ldmatrix", 0xFFFFFFFFu, &a, ldmatrix_complete, s); /* .aligned: the whole warp */
}

/* ------------------------------------------------------------------ mma.sync */

/* PTX ISA, "Matrix Fragments for mma.m16n8k16 with floating point type" (.f16/.bf16):
     A (16x16, 4 .b32 registers of 2 elements a0..a7): groupID = lane / 4,
       threadID_in_group = lane % 4; row = groupID for a0, a1, a4, a5 and groupID + 8 for
       a2, a3, a6, a7; col = threadID_in_group * 2 + (i & 1) for i < 4, + 8 for i >= 4.
     B (16x8, 2 registers b0..b3): row (k) = threadID_in_group * 2 + (i & 1) for i < 2,
       + 8 for i >= 2; col = groupID.
     C/D (16x8 f32, c0..c3): row = groupID for c0, c1, groupID + 8 for c2, c3;
       col = threadID_in_group * 2 + (i & 1).
   "Matrix Fragments for mma.m16n8k32" (.s8/.u8 and .e4m3/.e5m2: 4 elements a register):
     A (16x32, a0..a15): row = groupID for a0..a3 and a8..a11, groupID + 8 for a4..a7 and
       a12..a15; col = threadID_in_group * 4 + (i & 3) for i < 8, + 16 for i >= 8.
     B (32x8, b0..b7): row = threadID_in_group * 4 + (i & 3) for i < 4, + 16 for i >= 4;
       col = groupID.
     C/D: as for m16n8k16.
   Element i of a fragment sits in register i / (elements per register), at bit position
   (i % elements per register) * element width. */
struct mma_arg {
    mma_kind k;
    void *c;
    const uint32_t *a;
    uint32_t b[2];
};

static double elem(mma_kind k, uint32_t reg, int j) {
    switch (k) {
    case MMA_F16: return f16_to_double((uint16_t)(reg >> (16 * j)));
    case MMA_BF16: return bf16_to_double((uint16_t)(reg >> (16 * j)));
    case MMA_S8: return (double)(int8_t)(uint8_t)(reg >> (8 * j));
    default: return e4m3_to_double((uint8_t)(reg >> (8 * j)));
    }
}

static void mma_complete(void *const args[32], unsigned mask, site s) {
    (void)mask;
    const mma_kind k = static_cast<mma_arg *>(args[0])->k;
    for (int l = 1; l < 32; l++)
        if (static_cast<mma_arg *>(args[l])->k != k) fault(s, "mma.sync: lane %d executes another shape or type", l);
    const bool k32 = k == MMA_S8 || k == MMA_E4M3;
    const int K = k32 ? 32 : 16, per = k32 ? 4 : 2;
    double A[16][32], B[32][8];
    for (int lane = 0; lane < 32; lane++) {
        const mma_arg *m = static_cast<mma_arg *>(args[lane]);
        const int g = lane / 4, t = lane % 4;
        for (int i = 0; i < 4 * per; i++) { /* A elements */
            const int half = i / (2 * per);      /* 0: i < 8 (k32) / i < 4 (k16) */
            const int within = i % (2 * per);
            const int row = g + (within >= per ? 8 : 0);
            const int col = t * per + (within % per) + half * (K / 2);
            A[row][col] = elem(k, m->a[i / per], i % per);
        }
        for (int i = 0; i < 2 * per; i++) { /* B elements */
            const int row = t * per + (i % per) + (i >= per ? K / 2 : 0);
            B[row][g] = elem(k, m->b[i / per], i % per);
        }
    }
    for (int lane = 0; lane < 32; lane++) {
        const mma_arg *m = static_cast<mma_arg *>(args[lane]);
        const int g = lane / 4, t = lane % 4;
        for (int i = 0; i < 4; i++) {
            const int row = g + (i >= 2 ? 8 : 0), col = t * 2 + (i & 1);
            if (k == MMA_S8) {
                int32_t *c = static_cast<int32_t *>(m->c);
                uint32_t acc = (uint32_t)c[i]; /* s32 accumulation wraps */
                for (int kk = 0; kk < K; kk++) acc += (uint32_t)(int32_t)(A[row][kk] * B[kk][col]);
                c[i] = (int32_t)acc;
            } else {
                /* products exact; their sum in double, one rounding to f32 (the hardware's
                   internal precision and order are not modelled) */
                float *c = static_cast<float *>(m->c);
                double acc = (double)c[i];
                for (int kk = 0; kk < K; kk++) acc += A[row][kk] * B[kk][col];
                c[i] = (float)acc;
            }
        }
    }
}

void mma(mma_kind k, void *c, const uint32_t a[4], uint32_t b0, uint32_t b1, site s) {
    mma_arg m{k, c, a, {b0, b1}};
    warp_collective(K_MMA, "mma.sync", 0xFFFFFFFFu, &m, mma_complete, s);
}

/* ------------------------------------------------------------------ cp.async */

/* PTX ISA, "cp.async", "cp.async.commit_group", "cp.async.wait_group":
   - cp.async copies cp-size (4, 8, 16) bytes from global to shared memory asynchronously;
     with src-size < cp-size the remaining destination bytes are zero-filled;
   - commit_group batches every prior uncommitted cp.async of the thread into a group;
   - wait_group N waits until at most N of the thread's most recent groups are pending
     and all prior groups are complete; copies not yet committed are not waited for.
   Here a copy's source is read when it is issued and its destination written only when a
   wait covers its group: a kernel that reads the destination without the wait reads the
   stale (poisoned) bytes. */
void cp_async_issue(void *dst, const void *src, int size, int src_bytes, site s) {
    fiber *f = cur_fiber();
    if (!f) fault(s, "cp.async outside a kernel");
    if ((uintptr_t)dst % (uintptr_t)size || (uintptr_t)src % (uintptr_t)size)
        fault(s, "cp.async of %d bytes: addresses %p <- %p are not %d-byte aligned", size, dst, src, size);
    if (!in_shared(dst, (size_t)size))
        fault(s, "cp.async destination %p (%d bytes) is not inside the block's shared memory", dst, size);
    if (src_bytes < 0 || src_bytes > size) fault(s, "cp.async src-size %d is not in 0..%d", src_bytes, size);
    cp_copy c;
    c.dst = dst;
    c.data.assign((size_t)size, 0);
    if (src_bytes > 0) memcpy(c.data.data(), src, (size_t)src_bytes);
    c.group = -1;
    f->cp.push_back(std::move(c));
}

void cp_async_commit(site s) {
    fiber *f = cur_fiber();
    if (!f) fault(s, "cp.async.commit_group outside a kernel");
    for (auto &c : f->cp)
        if (c.group < 0) c.group = f->cp_groups;
    f->cp_groups++;
}

void cp_async_wait(int n, site s) {
    fiber *f = cur_fiber();
    if (!f) fault(s, "cp.async.wait_group outside a kernel");
    const long complete_below = f->cp_groups - n; /* groups [0, complete_below) complete */
    std::vector<cp_copy> keep;
    for (auto &c : f->cp) {
        if (c.group >= 0 && c.group < complete_below) memcpy(c.dst, c.data.data(), c.data.size());
        else keep.push_back(std::move(c));
    }
    f->cp.swap(keep);
}

} /* namespace mkemu */
