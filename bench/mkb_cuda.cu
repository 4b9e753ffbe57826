// mkb_cuda.cu — the CUDA anchors of the bench_cuda_* programs (interface and meaning:
// mkb_cuda.h): cuBLAS GEMM, a device-to-device copy and an attention built from two cuBLAS batched GEMMs
// around a row softmax kernel. Host code plus two small kernels (random fill, softmax); the
// only CUDA source of bench/, built only with MEDKERN_CUDA.
#include "mkb_cuda.h"

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <math.h>
#include <type_traits>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

struct mkbc {
    int ordinal;
    cudaStream_t stream;
    cublasHandle_t blas;
};

namespace {

int fail(char *why, size_t n, const char *fmt, ...) {
    if (why && n) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int cuda_ok(cudaError_t e, const char *what, char *why, size_t n) {
    if (e == cudaSuccess) return 1;
    fail(why, n, "%s: %s", what, cudaGetErrorString(e));
    return 0;
}

int blas_ok(cublasStatus_t s, const char *what, char *why, size_t n) {
    if (s == CUBLAS_STATUS_SUCCESS) return 1;
    fail(why, n, "%s: %s", what, cublasGetStatusString(s));
    return 0;
}

/* bf16 / f16 <-> f32 */
__device__ __forceinline__ float to_f(__nv_bfloat16 x) { return __bfloat162float(x); }
__device__ __forceinline__ float to_f(__half x) { return __half2float(x); }
template <class T>
__device__ __forceinline__ T from_f(float x) {
    if constexpr (std::is_same<T, __half>::value) return __float2half_rn(x);
    else return __float2bfloat16_rn(x);
}

/* Uniform values in [-1, 1) from a hash of the index. */
template <class T>
__global__ void fill_kernel(T *p, size_t n, uint32_t seed) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        uint32_t h = (uint32_t)i * 0x9E3779B1u ^ seed;
        h ^= h >> 16, h *= 0x85EBCA6Bu, h ^= h >> 13, h *= 0xC2B2AE35u, h ^= h >> 16;
        p[i] = from_f<T>((float)(h >> 8) * (2.0f / 16777216.0f) - 1.0f);
    }
}

template <class T>
int fill(mkbc *c, T *p, size_t n, uint32_t seed, char *why, size_t len) {
    fill_kernel<T><<<1024, 256, 0, c->stream>>>(p, n, seed);
    return cuda_ok(cudaGetLastError(), "fill kernel", why, len) ? 0 : -1;
}

/* (max, sum of exp(x - max)) of two parts. */
__device__ __forceinline__ void combine(float &m, float &l, float m2, float l2) {
    const float M = fmaxf(m, m2);
    if (M == -INFINITY) return; /* both empty */
    l = (m == -INFINITY ? 0.0f : l * __expf(m - M)) + (m2 == -INFINITY ? 0.0f : l2 * __expf(m2 - M));
    m = M;
}

constexpr int kSoftmaxThreads = 256;

/* Softmax of each row of s [rows][sk] in place (8 elements per thread and step, 16-byte
   accesses; sk % 8 == 0). Row r is query r % sq of its matrix; causal: it sees keys
   j <= r % sq + sk - sq, the others get 0. */
template <class T>
__global__ void __launch_bounds__(kSoftmaxThreads)
    softmax_kernel(T *s, int64_t rows, int sq, int sk, int causal) {
    __shared__ float red_m[kSoftmaxThreads / 32], red_l[kSoftmaxThreads / 32];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        T *row = s + r * sk;
        const int qi = (int)(r % sq);
        const int n = causal ? min(sk, qi + 1 + (sk - sq)) : sk;
        float m = -INFINITY, l = 0.0f;
        for (int c = threadIdx.x * 8; c < n; c += kSoftmaxThreads * 8) {
            const uint4 w = *reinterpret_cast<const uint4 *>(row + c);
            const T *e = reinterpret_cast<const T *>(&w);
            float x[8], cm = m;
#pragma unroll
            for (int j = 0; j < 8; j++) {
                x[j] = c + j < n ? to_f(e[j]) : -INFINITY;
                cm = fmaxf(cm, x[j]);
            }
            float acc = 0.0f;
#pragma unroll
            for (int j = 0; j < 8; j++) acc += __expf(x[j] - cm);
            l = (m == -INFINITY ? 0.0f : l * __expf(m - cm)) + acc;
            m = cm;
        }
#pragma unroll
        for (int off = 16; off > 0; off >>= 1)
            combine(m, l, __shfl_xor_sync(0xFFFFFFFFu, m, off), __shfl_xor_sync(0xFFFFFFFFu, l, off));
        if (lane == 0) red_m[warp] = m, red_l[warp] = l;
        __syncthreads();
        m = red_m[0], l = red_l[0];
        for (int w2 = 1; w2 < kSoftmaxThreads / 32; w2++) combine(m, l, red_m[w2], red_l[w2]);
        const float inv = l > 0.0f ? 1.0f / l : 0.0f;
        for (int c = threadIdx.x * 8; c < sk; c += kSoftmaxThreads * 8) {
            uint4 w = make_uint4(0, 0, 0, 0);
            if (c < n) w = *reinterpret_cast<const uint4 *>(row + c);
            const T *e = reinterpret_cast<const T *>(&w);
            uint4 o;
            T *oe = reinterpret_cast<T *>(&o);
#pragma unroll
            for (int j = 0; j < 8; j++) oe[j] = from_f<T>(c + j < n ? __expf(to_f(e[j]) - m) * inv : 0.0f);
            *reinterpret_cast<uint4 *>(row + c) = o;
        }
        __syncthreads(); /* red_* are reused by the next row */
    }
}

} // namespace

extern "C" {

int mkbc_device_count(void) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        (void)cudaGetLastError(); /* no driver / no device: not sticky */
        return 0;
    }
    return n;
}

int mkbc_open(int ordinal, void *stream, mkbc **out, char *name, size_t name_len, char *why, size_t n) {
    *out = nullptr;
    if (!cuda_ok(cudaSetDevice(ordinal), "cudaSetDevice", why, n)) return -1;
    cudaDeviceProp prop;
    if (!cuda_ok(cudaGetDeviceProperties(&prop, ordinal), "cudaGetDeviceProperties", why, n)) return -1;
    if (name && name_len) snprintf(name, name_len, "%s", prop.name);
    mkbc *c = (mkbc *)calloc(1, sizeof *c);
    if (!c) return fail(why, n, "out of host memory");
    c->ordinal = ordinal;
    c->stream = (cudaStream_t)stream;
    if (!blas_ok(cublasCreate(&c->blas), "cublasCreate", why, n) ||
        !blas_ok(cublasSetStream(c->blas, c->stream), "cublasSetStream", why, n)) {
        if (c->blas) cublasDestroy(c->blas);
        free(c);
        return -1;
    }
    *out = c;
    return 0;
}

void mkbc_close(mkbc *c) {
    if (!c) return;
    /* the stream may be gone already (it is the medkern context's) */
    cudaDeviceSynchronize();
    cublasSetStream(c->blas, 0);
    cublasDestroy(c->blas);
    free(c);
}

/* ------------------------------------------------------------ GEMM */

struct mkbc_gemm {
    mkbc *c;
    int m, n, k, bf16, weight; /* weight: y = x W^T, W [n][k] row-major (OP_T) */
    void *a, *b, *d;
};

void mkbc_gemm_destroy(mkbc_gemm *g) {
    if (!g) return;
    cudaStreamSynchronize(g->c->stream);
    cudaFree(g->a), cudaFree(g->b), cudaFree(g->d);
    free(g);
}

static int gemm_create(mkbc *c, int m, int n, int k, int bf16, int weight, mkbc_gemm **out, char *why,
                       size_t len) {
    *out = nullptr;
    mkbc_gemm *g = (mkbc_gemm *)calloc(1, sizeof *g);
    if (!g) return fail(why, len, "out of host memory");
    g->c = c, g->m = m, g->n = n, g->k = k, g->bf16 = bf16, g->weight = weight;
    const size_t ea = (size_t)n * (size_t)k, eb = (size_t)k * (size_t)m, ed = (size_t)m * (size_t)n;
    int ok = cuda_ok(cudaMalloc(&g->a, ea * 2), "cudaMalloc", why, len) &&
             cuda_ok(cudaMalloc(&g->b, eb * 2), "cudaMalloc", why, len) &&
             cuda_ok(cudaMalloc(&g->d, ed * 2), "cudaMalloc", why, len);
    if (ok && bf16)
        ok = !fill(c, (__nv_bfloat16 *)g->a, ea, 1u, why, len) && !fill(c, (__nv_bfloat16 *)g->b, eb, 2u, why, len);
    else if (ok)
        ok = !fill(c, (__half *)g->a, ea, 1u, why, len) && !fill(c, (__half *)g->b, eb, 2u, why, len);
    if (!ok) {
        mkbc_gemm_destroy(g);
        return -1;
    }
    *out = g;
    return 0;
}

int mkbc_gemm_create(mkbc *c, int n, mkbc_gemm **out, char *why, size_t len) {
    return gemm_create(c, n, n, n, 1, 0, out, why, len);
}

int mkbc_weight_gemm_create(mkbc *c, int bf16, int m, int n, int k, mkbc_gemm **out, char *why, size_t len) {
    return gemm_create(c, m, n, k, bf16, 1, out, why, len);
}

int mkbc_gemm_run(mkbc_gemm *g, char *why, size_t len) {
    const float one = 1.0f, zero = 0.0f;
    const cudaDataType_t t = g->bf16 ? CUDA_R_16BF : CUDA_R_16F;
    /* column-major: D (n x m) = op(A) B, A [n][k] row-major read transposed (weight) or A n x k */
    return blas_ok(cublasGemmEx(g->c->blas, g->weight ? CUBLAS_OP_T : CUBLAS_OP_N, CUBLAS_OP_N, g->n, g->m, g->k,
                                &one, g->a, t, g->weight ? g->k : g->n, g->b, t, g->k, &zero, g->d, t, g->n,
                                CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                   "cublasGemmEx", why, len)
               ? 0
               : -1;
}

/* ------------------------------------------------------------ copy */

struct mkbc_copy {
    mkbc *c;
    size_t bytes;
    void *src, *dst;
};

void mkbc_copy_destroy(mkbc_copy *p) {
    if (!p) return;
    cudaStreamSynchronize(p->c->stream);
    cudaFree(p->src), cudaFree(p->dst);
    free(p);
}

int mkbc_copy_create(mkbc *c, size_t bytes, mkbc_copy **out, char *why, size_t len) {
    *out = nullptr;
    mkbc_copy *p = (mkbc_copy *)calloc(1, sizeof *p);
    if (!p) return fail(why, len, "out of host memory");
    p->c = c, p->bytes = bytes;
    if (!cuda_ok(cudaMalloc(&p->src, bytes), "cudaMalloc", why, len) ||
        !cuda_ok(cudaMalloc(&p->dst, bytes), "cudaMalloc", why, len) ||
        !cuda_ok(cudaMemsetAsync(p->src, 0x3C, bytes, c->stream), "cudaMemsetAsync", why, len)) {
        mkbc_copy_destroy(p);
        return -1;
    }
    *out = p;
    return 0;
}

int mkbc_copy_run(mkbc_copy *p, char *why, size_t len) {
    return cuda_ok(cudaMemcpyAsync(p->dst, p->src, p->bytes, cudaMemcpyDeviceToDevice, p->c->stream),
                   "cudaMemcpyAsync", why, len)
               ? 0
               : -1;
}

/* ------------------------------------------------------------ attention from cuBLAS */

struct mkbc_attn {
    mkbc *c;
    int bf16, mats, seq, head_dim, causal, group; /* mats = batch * heads; group per pass */
    void *q, *k, *v, *o, *s;
    size_t bytes;
};

void mkbc_attn_destroy(mkbc_attn *a) {
    if (!a) return;
    cudaStreamSynchronize(a->c->stream);
    cudaFree(a->q), cudaFree(a->k), cudaFree(a->v), cudaFree(a->o), cudaFree(a->s);
    free(a);
}

size_t mkbc_attn_bytes(const mkbc_attn *a) { return a->bytes; }

int mkbc_attn_create(mkbc *c, int bf16, int batch, int seq, int heads, int head_dim, int causal,
                     mkbc_attn **out, char *why, size_t len) {
    *out = nullptr;
    if (seq < 8 || seq % 8) return fail(why, len, "S = %d: the softmax kernel needs S %% 8 == 0", seq);
    mkbc_attn *a = (mkbc_attn *)calloc(1, sizeof *a);
    if (!a) return fail(why, len, "out of host memory");
    a->c = c, a->bf16 = bf16, a->mats = batch * heads, a->seq = seq, a->head_dim = head_dim;
    a->causal = causal;
    const size_t per_mat = (size_t)seq * (size_t)seq * 2, io = (size_t)a->mats * seq * head_dim * 2;
    size_t g = ((size_t)1 << 30) / per_mat;
    a->group = (int)(g < 1 ? 1 : g > (size_t)a->mats ? (size_t)a->mats : g);
    a->bytes = 4 * io + (size_t)a->group * per_mat;
    int ok = cuda_ok(cudaMalloc(&a->q, io), "cudaMalloc", why, len) &&
             cuda_ok(cudaMalloc(&a->k, io), "cudaMalloc", why, len) &&
             cuda_ok(cudaMalloc(&a->v, io), "cudaMalloc", why, len) &&
             cuda_ok(cudaMalloc(&a->o, io), "cudaMalloc", why, len) &&
             cuda_ok(cudaMalloc(&a->s, (size_t)a->group * per_mat), "cudaMalloc", why, len);
    const size_t ne = io / 2;
    if (ok && bf16)
        ok = !fill(c, (__nv_bfloat16 *)a->q, ne, 11u, why, len) && !fill(c, (__nv_bfloat16 *)a->k, ne, 12u, why, len) &&
             !fill(c, (__nv_bfloat16 *)a->v, ne, 13u, why, len);
    else if (ok)
        ok = !fill(c, (__half *)a->q, ne, 11u, why, len) && !fill(c, (__half *)a->k, ne, 12u, why, len) &&
             !fill(c, (__half *)a->v, ne, 13u, why, len);
    if (!ok) {
        mkbc_attn_destroy(a);
        return -1;
    }
    *out = a;
    return 0;
}

int mkbc_attn_run(mkbc_attn *a, char *why, size_t len) {
    const cudaDataType_t t = a->bf16 ? CUDA_R_16BF : CUDA_R_16F;
    const int S = a->seq, D = a->head_dim;
    const long long sd = (long long)S * D, ss = (long long)S * S;
    const float scale = 1.0f / sqrtf((float)D), one = 1.0f, zero = 0.0f;
    for (int m0 = 0; m0 < a->mats; m0 += a->group) {
        const int g = a->mats - m0 < a->group ? a->mats - m0 : a->group;
        const char *q = (const char *)a->q + (size_t)m0 * sd * 2, *k = (const char *)a->k + (size_t)m0 * sd * 2;
        const char *v = (const char *)a->v + (size_t)m0 * sd * 2;
        char *o = (char *)a->o + (size_t)m0 * sd * 2;
        /* row-major S [Sq][Sk] = scale Q K^T is column-major S^T = K Q^T: (K as D x Sk)^T (Q as D x Sq) */
        if (!blas_ok(cublasGemmStridedBatchedEx(a->c->blas, CUBLAS_OP_T, CUBLAS_OP_N, S, S, D, &scale, k, t, D, sd,
                                                q, t, D, sd, &zero, a->s, t, S, ss, g, CUBLAS_COMPUTE_32F,
                                                CUBLAS_GEMM_DEFAULT),
                     "cublasGemmStridedBatchedEx (Q K^T)", why, len))
            return -1;
        const int64_t rows = (int64_t)g * S;
        const unsigned grid = (unsigned)(rows < (1 << 20) ? rows : (1 << 20));
        if (a->bf16)
            softmax_kernel<__nv_bfloat16><<<grid, kSoftmaxThreads, 0, a->c->stream>>>(
                (__nv_bfloat16 *)a->s, rows, S, S, a->causal);
        else
            softmax_kernel<__half><<<grid, kSoftmaxThreads, 0, a->c->stream>>>((__half *)a->s, rows, S, S, a->causal);
        if (!cuda_ok(cudaGetLastError(), "softmax kernel", why, len)) return -1;
        /* row-major O [Sq][D] = P V is column-major O^T = (V as D x Sk) (P^T as Sk x Sq) */
        if (!blas_ok(cublasGemmStridedBatchedEx(a->c->blas, CUBLAS_OP_N, CUBLAS_OP_N, D, S, S, &one, v, t, D, sd,
                                                a->s, t, S, ss, &zero, o, t, D, sd, g, CUBLAS_COMPUTE_32F,
                                                CUBLAS_GEMM_DEFAULT),
                     "cublasGemmStridedBatchedEx (P V)", why, len))
            return -1;
    }
    return 0;
}

} // extern "C"
