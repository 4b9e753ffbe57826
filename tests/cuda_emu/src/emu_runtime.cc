/*
 * medkern's CUDA emulator: the runtime API subset of cuda_runtime_api.h on the host.
 * Everything is synchronous; events read CLOCK_MONOTONIC when recorded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <atomic>
#include <map>
#include <mutex>
#include <string>

#include "emu_internal.h"

namespace mkemu {

static std::mutex g_mu;
static std::map<const void *, int> g_func_optin;     /* kernel -> max dynamic smem opt-in */
static std::map<uintptr_t, size_t> g_allocs;         /* live cudaMalloc blocks          */
static std::atomic<int> g_sticky{cudaSuccess};
static std::string g_fault;
static thread_local cudaError_t t_last = cudaSuccess;

void record_fault(const std::string &msg) {
    {
        std::lock_guard<std::mutex> lk(g_mu);
        if (g_sticky.load() == cudaSuccess) g_fault = msg;
    }
    g_sticky.store(cudaErrorLaunchFailure);
    fprintf(stderr, "cuda-emu: error: %s\n", msg.c_str());
    const char *a = getenv("MEDKERN_EMU_ABORT");
    if (a && *a && strcmp(a, "0") != 0) abort();
}

cudaError_t sticky_error() { return (cudaError_t)g_sticky.load(); }

void set_last_error(cudaError_t e) {
    if (e != cudaSuccess) t_last = e;
}

int func_dynamic_smem_optin(const void *func) {
    std::lock_guard<std::mutex> lk(g_mu);
    auto it = g_func_optin.find(func);
    return it == g_func_optin.end() ? -1 : it->second;
}

bool in_device_alloc(const void *p, size_t n) {
    std::lock_guard<std::mutex> lk(g_mu);
    uintptr_t q = (uintptr_t)p;
    auto it = g_allocs.upper_bound(q);
    if (it == g_allocs.begin()) return false;
    --it;
    return q >= it->first && q + n <= it->first + it->second;
}

static double now_ms() {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

} /* namespace mkemu */

using namespace mkemu;

struct CUstream_st {
    unsigned flags;
};
struct CUevent_st {
    double ms;
    bool recorded;
};

/* A call that fails returns its error and leaves it as the thread's last error; after an
   execution fault every call returns the sticky error. */
static cudaError_t ret(cudaError_t e) {
    mkemu::set_last_error(e);
    return e;
}
#define STICKY_CHECK()                                                                                 \
    do {                                                                                               \
        if (sticky_error() != cudaSuccess) return ret(sticky_error());                                 \
    } while (0)

extern "C" {

cudaError_t cudaGetDeviceCount(int *count) {
    if (!count) return ret(cudaErrorInvalidValue);
    *count = 1;
    return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) {
    STICKY_CHECK();
    return device == 0 ? cudaSuccess : ret(cudaErrorInvalidDevice);
}

cudaError_t cudaGetDevice(int *device) {
    if (!device) return ret(cudaErrorInvalidValue);
    *device = 0;
    return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(struct cudaDeviceProp *p, int device) {
    if (!p) return ret(cudaErrorInvalidValue);
    if (device != 0) return ret(cudaErrorInvalidDevice);
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "CUDA emulator on the CPU (H100-like sm_90)");
    p->totalGlobalMem = (size_t)80 << 30;
    p->sharedMemPerBlock = kSmemDefault;
    p->regsPerBlock = 65536;
    p->warpSize = 32;
    p->maxThreadsPerBlock = 1024;
    p->maxThreadsDim[0] = 1024, p->maxThreadsDim[1] = 1024, p->maxThreadsDim[2] = 64;
    p->maxGridSize[0] = 0x7FFFFFFF, p->maxGridSize[1] = 65535, p->maxGridSize[2] = 65535;
    p->major = 9, p->minor = 0;
    p->multiProcessorCount = 132;
    p->integrated = 0;
    p->l2CacheSize = 50 << 20;
    p->sharedMemPerBlockOptin = kSmemOptinMax;
    p->sharedMemPerMultiprocessor = 233472;
    p->maxThreadsPerMultiProcessor = 2048;
    return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int *value, enum cudaDeviceAttr attr, int device) {
    if (!value) return ret(cudaErrorInvalidValue);
    if (device != 0) return ret(cudaErrorInvalidDevice);
    switch (attr) { /* H100 SXM figures */
    case cudaDevAttrMaxThreadsPerBlock: *value = 1024; break;
    case cudaDevAttrClockRate: *value = 1980000; break;          /* kHz */
    case cudaDevAttrMultiProcessorCount: *value = 132; break;
    case cudaDevAttrMemoryClockRate: *value = 2619000; break;    /* kHz */
    case cudaDevAttrGlobalMemoryBusWidth: *value = 5120; break;  /* bits */
    case cudaDevAttrL2CacheSize: *value = 50 << 20; break;
    case cudaDevAttrComputeCapabilityMajor: *value = 9; break;
    case cudaDevAttrComputeCapabilityMinor: *value = 0; break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = (int)kSmemOptinMax; break;
    default: return ret(cudaErrorInvalidValue);
    }
    return cudaSuccess;
}

cudaError_t cudaDriverGetVersion(int *v) {
    if (!v) return ret(cudaErrorInvalidValue);
    *v = CUDART_VERSION;
    return cudaSuccess;
}

cudaError_t cudaRuntimeGetVersion(int *v) {
    if (!v) return ret(cudaErrorInvalidValue);
    *v = CUDART_VERSION;
    return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize(void) {
    STICKY_CHECK();
    return cudaSuccess;
}

cudaError_t cudaMalloc(void **ptr, size_t bytes) {
    if (!ptr) return ret(cudaErrorInvalidValue);
    *ptr = nullptr;
    STICKY_CHECK();
    if (bytes == 0) return cudaSuccess;
    void *p = nullptr;
    if (bytes > ((size_t)80 << 30) || posix_memalign(&p, 256, bytes) != 0) return ret(cudaErrorMemoryAllocation);
    memset(p, 0xFF, bytes); /* new device memory reads as NaN / -1 until written */
    {
        std::lock_guard<std::mutex> lk(g_mu);
        g_allocs[(uintptr_t)p] = bytes;
    }
    *ptr = p;
    return cudaSuccess;
}

cudaError_t cudaFree(void *ptr) {
    if (!ptr) return cudaSuccess;
    {
        std::lock_guard<std::mutex> lk(g_mu);
        auto it = g_allocs.find((uintptr_t)ptr);
        if (it == g_allocs.end()) return ret(cudaErrorInvalidValue);
        g_allocs.erase(it);
    }
    free(ptr);
    return cudaSuccess;
}

static cudaError_t copy(void *dst, const void *src, size_t bytes, enum cudaMemcpyKind kind) {
    STICKY_CHECK();
    if (bytes == 0) return cudaSuccess;
    if (!dst || !src) return ret(cudaErrorInvalidValue);
    if ((int)kind < 0 || kind > cudaMemcpyDefault) return ret(cudaErrorInvalidMemcpyDirection);
    if ((kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice) && !in_device_alloc(src, bytes))
        return ret(cudaErrorInvalidValue);
    if ((kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice) && !in_device_alloc(dst, bytes))
        return ret(cudaErrorInvalidValue);
    memmove(dst, src, bytes);
    return cudaSuccess;
}

cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, enum cudaMemcpyKind kind) {
    return copy(dst, src, bytes, kind);
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, enum cudaMemcpyKind kind, cudaStream_t s) {
    (void)s;
    return copy(dst, src, bytes, kind);
}

cudaError_t cudaMemset(void *dst, int value, size_t bytes) {
    STICKY_CHECK();
    if (bytes == 0) return cudaSuccess;
    if (!in_device_alloc(dst, bytes)) return ret(cudaErrorInvalidValue);
    memset(dst, value, bytes);
    return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void *dst, int value, size_t bytes, cudaStream_t s) {
    (void)s;
    return cudaMemset(dst, value, bytes);
}

cudaError_t cudaStreamCreate(cudaStream_t *s) { return cudaStreamCreateWithFlags(s, cudaStreamDefault); }

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned int flags) {
    if (!s) return ret(cudaErrorInvalidValue);
    STICKY_CHECK();
    *s = new CUstream_st{flags};
    return cudaSuccess;
}

cudaError_t cudaStreamDestroy(cudaStream_t s) {
    if (!s) return ret(cudaErrorInvalidResourceHandle);
    delete s;
    return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t s) {
    (void)s;
    STICKY_CHECK();
    return cudaSuccess;
}

cudaError_t cudaEventCreate(cudaEvent_t *e) { return cudaEventCreateWithFlags(e, cudaEventDefault); }

cudaError_t cudaEventCreateWithFlags(cudaEvent_t *e, unsigned int flags) {
    (void)flags;
    if (!e) return ret(cudaErrorInvalidValue);
    STICKY_CHECK();
    *e = new CUevent_st{0.0, false};
    return cudaSuccess;
}

cudaError_t cudaEventDestroy(cudaEvent_t e) {
    if (!e) return ret(cudaErrorInvalidResourceHandle);
    delete e;
    return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) {
    (void)s;
    if (!e) return ret(cudaErrorInvalidResourceHandle);
    STICKY_CHECK();
    e->ms = now_ms();
    e->recorded = true;
    return cudaSuccess;
}

cudaError_t cudaEventSynchronize(cudaEvent_t e) {
    if (!e) return ret(cudaErrorInvalidResourceHandle);
    STICKY_CHECK();
    return cudaSuccess;
}

cudaError_t cudaEventQuery(cudaEvent_t e) {
    if (!e) return ret(cudaErrorInvalidResourceHandle);
    STICKY_CHECK();
    return cudaSuccess;
}

cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t a, cudaEvent_t b) {
    if (!ms || !a || !b) return ret(cudaErrorInvalidValue);
    STICKY_CHECK();
    if (!a->recorded || !b->recorded) return ret(cudaErrorInvalidResourceHandle);
    *ms = (float)(b->ms - a->ms);
    return cudaSuccess;
}

cudaError_t cudaGetLastError(void) {
    cudaError_t e = sticky_error() != cudaSuccess ? sticky_error() : t_last;
    t_last = cudaSuccess;
    return e;
}

cudaError_t cudaPeekAtLastError(void) { return sticky_error() != cudaSuccess ? sticky_error() : t_last; }

const char *cudaGetErrorName(cudaError_t e) {
    switch (e) {
#define N(x) case x: return #x;
    N(cudaSuccess) N(cudaErrorInvalidValue) N(cudaErrorMemoryAllocation) N(cudaErrorInitializationError)
    N(cudaErrorInvalidConfiguration) N(cudaErrorInvalidSymbol) N(cudaErrorInvalidMemcpyDirection)
    N(cudaErrorInsufficientDriver) N(cudaErrorDevicesUnavailable) N(cudaErrorNoKernelImageForDevice)
    N(cudaErrorInvalidDeviceFunction) N(cudaErrorNoDevice) N(cudaErrorInvalidDevice) N(cudaErrorECCUncorrectable)
    N(cudaErrorInvalidResourceHandle) N(cudaErrorNotReady) N(cudaErrorIllegalAddress)
    N(cudaErrorLaunchOutOfResources) N(cudaErrorLaunchTimeout) N(cudaErrorContextIsDestroyed) N(cudaErrorAssert)
    N(cudaErrorHardwareStackError) N(cudaErrorIllegalInstruction) N(cudaErrorMisalignedAddress)
    N(cudaErrorInvalidAddressSpace) N(cudaErrorInvalidPc) N(cudaErrorLaunchFailure) N(cudaErrorUnknown)
#undef N
    }
    return "cudaErrorUnknown";
}

const char *cudaGetErrorString(cudaError_t e) {
    switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorLaunchOutOfResources: return "too many resources requested for launch";
    case cudaErrorLaunchFailure: return "unspecified launch failure (the CUDA emulator reported a fault on stderr)";
    default: return cudaGetErrorName(e);
    }
}

cudaError_t cudaFuncSetAttribute(const void *func, enum cudaFuncAttribute attr, int value) {
    if (!func) return ret(cudaErrorInvalidDeviceFunction);
    STICKY_CHECK();
    if (attr == cudaFuncAttributeMaxDynamicSharedMemorySize) {
        if (value < 0 || (size_t)value > kSmemOptinMax) return ret(cudaErrorInvalidValue);
        std::lock_guard<std::mutex> lk(g_mu);
        g_func_optin[func] = value;
        return cudaSuccess;
    }
    if (attr == cudaFuncAttributePreferredSharedMemoryCarveout) return cudaSuccess;
    return ret(cudaErrorInvalidValue);
}

cudaError_t cudaFuncGetAttributes(struct cudaFuncAttributes *a, const void *func) {
    if (!a || !func) return ret(cudaErrorInvalidValue);
    memset(a, 0, sizeof *a);
    a->maxThreadsPerBlock = 1024;
    a->ptxVersion = a->binaryVersion = 90;
    const int optin = func_dynamic_smem_optin(func);
    a->maxDynamicSharedSizeBytes = optin >= 0 ? optin : (int)kSmemDefault;
    return cudaSuccess;
}

const char *mkemu_last_fault(void) {
    std::lock_guard<std::mutex> lk(g_mu);
    static thread_local std::string copy_;
    copy_ = g_sticky.load() == cudaSuccess ? std::string() : g_fault;
    return copy_.c_str();
}

void mkemu_clear_fault(void) {
    std::lock_guard<std::mutex> lk(g_mu);
    g_sticky.store(cudaSuccess);
    g_fault.clear();
    t_last = cudaSuccess;
}

} /* extern "C" */
