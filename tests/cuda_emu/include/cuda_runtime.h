/* medkern's CUDA emulator: cuda_runtime.h = the runtime API plus, in C++, the device-side
   emulation (types, built-ins, launches). */
#ifndef MEDKERN_CUDA_EMU_RUNTIME_H
#define MEDKERN_CUDA_EMU_RUNTIME_H
#include "cuda_runtime_api.h"
#ifdef __cplusplus
#include "cuda_emu_device.h"
#endif
#endif
