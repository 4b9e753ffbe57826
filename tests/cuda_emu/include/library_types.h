/* medkern's CUDA emulator: the data type tags of cuBLAS calls (values as the real header). */
#ifndef MEDKERN_CUDA_EMU_LIBRARY_TYPES_H
#define MEDKERN_CUDA_EMU_LIBRARY_TYPES_H
typedef enum cudaDataType_t {
    CUDA_R_32F = 0,
    CUDA_R_16F = 2,
    CUDA_R_8I = 3,
    CUDA_R_32I = 10,
    CUDA_R_16BF = 14,
    CUDA_R_8F_E4M3 = 28
} cudaDataType_t;
typedef cudaDataType_t cudaDataType;
#endif
