/*
 * The emulator's own fault detection (emulator only: a GPU would hang or misbehave here).
 * Each case provokes one mistake and checks that the emulator reports it the way it
 * promises: a fault message naming the problem (mkemu_last_fault), a sticky
 * cudaErrorLaunchFailure, or the launch error the hardware returns. Prints one line per
 * case and "N passed, M failed".
 */
#include <stdio.h>
#include <string.h>

#include <cuda_runtime.h>

#include "ptx.cuh"

static int passed, failed;

static void check(bool ok, const char *what, const char *detail) {
    printf("%s %s%s%s\n", ok ? "PASS" : "FAIL", what, detail && *detail ? ": " : "", detail ? detail : "");
    ok ? passed++ : failed++;
}

/* After a kernel that must fault: the sticky error and a message containing `phrase`. */
static void expect_fault(const char *what, const char *phrase) {
    cudaError_t e = cudaDeviceSynchronize();
    const char *msg = mkemu_last_fault();
    check(e == cudaErrorLaunchFailure && strstr(msg, phrase) != nullptr, what, msg);
    mkemu_clear_fault();
}

static void expect_clean(const char *what) {
    cudaError_t e = cudaDeviceSynchronize();
    check(e == cudaSuccess && cudaGetLastError() == cudaSuccess, what, mkemu_last_fault());
    mkemu_clear_fault();
}

__global__ void divergent_barrier(int *out) {
    if (threadIdx.x < 32) {
        __syncthreads();
    } else {
        __syncthreads();
    }
    out[threadIdx.x] = 1;
}

__global__ void deadlock_kernel(int *out) {
    if (threadIdx.x == 0) __syncwarp(); /* waits for lanes 1..31, which wait at the barrier */
    else __syncthreads();
    out[threadIdx.x] = 1;
}

__global__ void copy_async(const float *src, float *out, int wait) {
    __shared__ __align__(16) float tile[64];
    mkc::ptx::cp_async<16>(&tile[threadIdx.x * 4], src + threadIdx.x * 4);
    mkc::ptx::cp_async_commit();
    if (wait) mkc::ptx::cp_async_wait<0>();
    __syncthreads();
    for (int i = 0; i < 4; i++) out[threadIdx.x * 4 + i] = tile[((threadIdx.x + 1) % 16) * 4 + i];
}

__global__ void big_smem(int *out) {
    extern __shared__ int dyn[];
    dyn[threadIdx.x] = (int)threadIdx.x;
    __syncthreads();
    out[threadIdx.x] = dyn[31 - threadIdx.x];
}

__global__ void mask_without_self(int *out) {
    int v = __shfl_xor_sync(0xFFFFFFFEu, (int)threadIdx.x, 1); /* lane 0 is not in the mask */
    out[threadIdx.x] = v;
}

__global__ void exit_in_collective(int *out) {
    if (threadIdx.x == 5) return;
    out[threadIdx.x] = __shfl_sync(0xFFFFFFFFu, (int)threadIdx.x, 0);
}

__global__ void ldmatrix_misaligned(unsigned *out) {
    __shared__ __align__(16) unsigned short m[8 * 16];
    for (int i = threadIdx.x; i < 8 * 16; i += 32) m[i] = (unsigned short)i;
    __syncwarp();
    uint32_t r[1];
    mkc::ptx::ldmatrix_x1(r, m + (threadIdx.x % 8) * 16 + 1); /* 2 bytes off a 16-byte row */
    out[threadIdx.x] = r[0];
}

__global__ void ldmatrix_global(const unsigned short *g, unsigned *out) {
    uint32_t r[1];
    mkc::ptx::ldmatrix_x1(r, g + (threadIdx.x % 8) * 8); /* global memory, not shared */
    out[threadIdx.x] = r[0];
}

__global__ void trap_kernel(int *out) {
    if (blockIdx.x == 1 && threadIdx.x == 3) __trap();
    out[threadIdx.x] = 1;
}

__global__ void huge_static(int *out) {
    __shared__ int a[8192];
    __shared__ int b[8192]; /* 64 KB of static shared memory */
    a[threadIdx.x] = 1;
    b[threadIdx.x] = 2;
    out[threadIdx.x] = a[threadIdx.x] + b[threadIdx.x];
}

__global__ void shared_poison(unsigned *out) {
    __shared__ unsigned s[64];
    if (threadIdx.x < 32) s[threadIdx.x] = threadIdx.x;
    __syncthreads();
    out[threadIdx.x] = s[threadIdx.x]; /* 32..63 never written: 0xFFFFFFFF */
}

int main() {
    int *d;
    float *fsrc, *fout;
    unsigned *u;
    unsigned short *g16;
    cudaMalloc(&d, 4096 * sizeof(int));
    cudaMalloc(&fsrc, 64 * sizeof(float));
    cudaMalloc(&fout, 64 * sizeof(float));
    cudaMalloc(&u, 64 * sizeof(unsigned));
    cudaMalloc(&g16, 128 * sizeof(unsigned short));

    divergent_barrier<<<1, 64>>>(d);
    expect_fault("__syncthreads at two call sites", "barrier divergence");

    deadlock_kernel<<<1, 64>>>(d);
    expect_fault("__syncwarp waiting for lanes held at __syncthreads", "deadlock");

    float h[64], o[64];
    for (int i = 0; i < 64; i++) h[i] = (float)(i + 1);
    cudaMemcpy(fsrc, h, sizeof h, cudaMemcpyHostToDevice);
    copy_async<<<1, 16>>>(fsrc, fout, 1);
    cudaMemcpy(o, fout, sizeof o, cudaMemcpyDeviceToHost);
    bool ok = true;
    for (int t = 0; t < 16; t++)
        for (int i = 0; i < 4; i++) ok &= o[t * 4 + i] == h[((t + 1) % 16) * 4 + i];
    check(ok, "cp.async with wait_group 0 delivers the data", "");
    copy_async<<<1, 16>>>(fsrc, fout, 0);
    cudaMemcpy(o, fout, sizeof o, cudaMemcpyDeviceToHost);
    unsigned bits;
    memcpy(&bits, &o[0], 4);
    check(bits == 0xFFFFFFFFu, "cp.async without wait_group reads the stale (poisoned) shared memory", "");
    expect_clean("no fault for a missing wait (the data is wrong instead)");

    const size_t big = 64 * 1024;
    big_smem<<<1, 32, big>>>(d);
    check(cudaGetLastError() == cudaErrorInvalidValue, "64 KB dynamic shared memory without the opt-in is rejected", "");
    check(cudaFuncSetAttribute(big_smem, cudaFuncAttributeMaxDynamicSharedMemorySize, 300 * 1024) ==
              cudaErrorInvalidValue, "an opt-in above 227 KB is rejected", "");
    (void)cudaGetLastError();
    check(cudaFuncSetAttribute(big_smem, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)big) == cudaSuccess,
          "a 64 KB opt-in is accepted", "");
    big_smem<<<1, 32, big>>>(d);
    int hd[32];
    cudaMemcpy(hd, d, sizeof hd, cudaMemcpyDeviceToHost);
    check(cudaGetLastError() == cudaSuccess && hd[0] == 31 && hd[31] == 0, "64 KB after the opt-in runs", "");

    big_smem<<<1, 1025>>>(d);
    check(cudaGetLastError() == cudaErrorInvalidConfiguration, "1025 threads per block are rejected", "");
    big_smem<<<dim3(1, 65536), 32>>>(d);
    check(cudaGetLastError() == cudaErrorInvalidConfiguration, "grid.y = 65536 is rejected", "");

    mask_without_self<<<1, 32>>>(d);
    expect_fault("a shuffle whose mask leaves the caller out", "leaves the lane out");

    exit_in_collective<<<1, 32>>>(d);
    expect_fault("a lane exits while the warp waits for it in __shfl_sync", "exited");

    ldmatrix_misaligned<<<1, 32>>>(u);
    expect_fault("ldmatrix row address not 16-byte aligned", "not 16-byte aligned");

    ldmatrix_global<<<1, 32>>>(g16, u);
    expect_fault("ldmatrix from global memory", "not inside the block's shared memory");

    trap_kernel<<<2, 32>>>(d);
    expect_fault("__trap() names block and thread", "block (1,0,0) thread (3,0,0)");

    huge_static<<<1, 32>>>(d);
    expect_fault("64 KB of static shared memory", "exceeds 48 KB");

    shared_poison<<<1, 64>>>(u);
    unsigned hu[64];
    cudaMemcpy(hu, u, sizeof hu, cudaMemcpyDeviceToHost);
    check(hu[5] == 5 && hu[40] == 0xFFFFFFFFu, "unwritten static shared memory reads as 0xFF bytes", "");

    /* the sticky error: after a fault every call fails until the (test-only) reset */
    trap_kernel<<<2, 32>>>(d);
    float *none = nullptr;
    check(cudaMemcpy(hd, d, 4, cudaMemcpyDeviceToHost) == cudaErrorLaunchFailure &&
              cudaMalloc(&none, 4) == cudaErrorLaunchFailure && none == nullptr,
          "a fault is sticky", "");
    mkemu_clear_fault();

    cudaFree(d);
    cudaFree(fout);
    cudaFree(u);
    cudaFree(g16);
    cudaFree(fsrc);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
