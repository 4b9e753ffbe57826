/* A probe for "does this build carry code for the current device?": asking for the
   attributes of a kernel loads the module and fails with cudaErrorNoKernelImageForDevice
   (or cudaErrorInvalidDeviceFunction) when MEDKERN_CUDA_ARCHS left the device out. */
#include "mk_cuda_kernels.h"

__global__ void mkc_probe_kernel(int *p) {
    if (p) *p = 1;
}

extern "C" cudaError_t mkc_kernel_image_check(void) {
    cudaFuncAttributes attr;
    cudaError_t e = cudaFuncGetAttributes(&attr, mkc_probe_kernel);
    if (e != cudaSuccess) (void)cudaGetLastError(); /* not sticky: clear it */
    return e;
}
