/* The reference backend, built into libmedkern: its table (ref_backend.c, the loader's
   slot 0) and its kernel table (ref_kernels.c). */
#ifndef MEDKERN_BACKENDS_REF_H
#define MEDKERN_BACKENDS_REF_H
#include "medkern/backend.h"
extern const mk_backend mk_backend_ref;
const mk_kernel *const *mk_ref_kernels(int *count);
#endif
