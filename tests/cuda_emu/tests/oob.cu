/*
 * An out-of-bounds device access on the emulator under AddressSanitizer: the kernel reads
 * one element past a cudaMalloc'd buffer (line marked OOB). tests/cuda_emu/check_asan_oob.sh
 * runs this program and expects ASan's report to name this file and that line.
 */
#include <stdio.h>

#include <cuda_runtime.h>

__global__ void read_past_end(const float *in, float *out, int n) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i <= n) out[i % n] = in[i] * 2.0f; /* OOB: i == n reads in[n] */
}

int main() {
    const int n = 37;
    float *in, *out;
    cudaMalloc(&in, n * sizeof(float));
    cudaMalloc(&out, n * sizeof(float));
    cudaMemset(in, 0, n * sizeof(float));
    read_past_end<<<2, 32>>>(in, out, n);
    printf("%s\n", cudaGetErrorString(cudaDeviceSynchronize()));
    return 0;
}
