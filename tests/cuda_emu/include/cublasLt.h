/* medkern's CUDA emulator: cuBLASLt handles only (the backend creates one; no Lt matmul is
   emulated yet). Test-only. */
#ifndef MEDKERN_CUDA_EMU_CUBLASLT_H
#define MEDKERN_CUDA_EMU_CUBLASLT_H
#include "cublas_v2.h"
#ifdef __cplusplus
extern "C" {
#endif
typedef struct cublasLtContext *cublasLtHandle_t;
cublasStatus_t cublasLtCreate(cublasLtHandle_t *handle);
cublasStatus_t cublasLtDestroy(cublasLtHandle_t handle);
#ifdef __cplusplus
}
#endif
#endif
