/* The reference backend's kernel table (ref_kernels.c). */
#ifndef MEDKERN_BACKENDS_REF_H
#define MEDKERN_BACKENDS_REF_H
#include "backend.h"
const mk_kernel *const *mk_ref_kernels(int *count);
#endif
