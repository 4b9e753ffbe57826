/*
 * Quantized GEMM y[M,N] = x[M,K] . W[N,K]^T (+ bias) for the packed weights of
 * ocl_qgemm.c, and the activation pre-passes.
 *
 * Packed weight layout (built on the host, see ocl_qgemm.c): rows padded to a multiple of
 * QG_R = 64 and K to a whole number of 16-byte chunks (32 codes for W4, 16 for the 8-bit
 * formats; padding codes are 0). A chunk is 4 32-bit words; codes are stored as words
 * [N/64][K chunks][4 words][64 rows], so the work-items of a GEMV work-group (one per
 * row) load consecutive words at the same time (W4: within a word, element k in the low
 * nibble when k is even, as in the canonical layout). Scales (and W4 zero points) are
 * [N/64][groups][64 rows]: f16 bits for W4/W8, f32 for W8A8/FP8. A chunk never crosses
 * a scale group (groups are 32, 64 or 128 long).
 *
 * x is either the caller's tensor (row stride x_s0), or, with a K permutation, the
 * permuted copy qg_permute_x writes to scratch (row stride Kp, zero padded). W8A8/FP8
 * read codes and per-token scales written by qg_quant_act with the reference's exact
 * rule (amax / 127 or / 448, codes of x / scale by round to nearest even).
 *
 * Kernels: qgemv (M <= QG_MB: one work-item per output row over the whole K, no
 * reduction; a barrier per chunk keeps every work-item in step, which lets PoCL
 * vectorize across work-items inside the K loop), qgemv_rows with its pre-pass qg_prep_x
 * (W4, M <= QG_MB, for CPU drivers: one work-item per 16/32/64 rows, 16-wide vectors,
 * see its section) and qgemm_tiled (64x64 output tiles, K steps of 32 staged in local
 * memory, 4x4 outputs per work-item).
 *
 * Build options: QG_FMT (1 W4, 2 W8, 3 W8A8, 4 FP8), T_IN (dtype code of x, y, bias:
 * f16 or bf16; common.clh), QG_ASYM, QG_GS (group size; 0 = one scale per row), QG_MB
 * and QG_NT (GEMV rows and work-group size), QG_ROWS (qgemv_rows: rows per work-item),
 * QG_DIV_MODE (below). OpenCL C 1.2.
 * With MK_INT_DOT (opencl.qgemv_dot8, cl_khr_integer_dot_product) the W8A8 GEMV takes
 * each word's four int8 products with one MK_DOT4X8 (common.clh): the same i32 sums.
 */
#if QG_DIV_MODE == 2
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#endif

#define QG_R 64 /* rows per packed tile (ocl_qgemm.c: QG_R) */
#define QG_W4 (QG_FMT == 1)
#define QG_A8 (QG_FMT == 3)
#define QG_F8 (QG_FMT == 4)
#define QG_KCB (QG_W4 ? 32 : 16) /* codes per 16-byte chunk */

#if QG_A8 || QG_F8
typedef float qs_t; /* per-channel f32 scales */
#define QG_LDS(p, i) ((p)[i])
#else
typedef half qs_t;  /* f16 scale bits */
#define QG_LDS(p, i) vload_half((i), (p))
#endif

/* The correctly rounded f32 quotient, as the reference divides: QG_DIV_MODE 1: plain
   division (the device rounds it correctly: built with -cl-fp32-correctly-rounded-
   divide-sqrt); 2: in double (double rounding of a quotient of floats is exact, since
   53 >= 2 * 24 + 2); 0: corrected with fma remainders (mk_div_rn, common.clh). */
#if QG_DIV_MODE == 1
#define QG_DIV(a, b) ((a) / (b))
#elif QG_DIV_MODE == 2
#define QG_DIV(a, b) ((float)((double)(a) / (double)(b)))
#else
#define QG_DIV(a, b) mk_div_rn((a), (b))
#endif

/* ------------------------------------------------------------ pre-passes */

/* xp[m][j] = x[m][perm[j]] for j < K, 0 up to Kp (the raw element bits are copied). */
__kernel void qg_permute_x(__global const in_t *x, ulong x_off, long x_s0,
                           __global const int *perm, __global ushort *xp, int K, int Kp) {
    const int j = (int)get_global_id(0), m = (int)get_global_id(1);
    if (j >= Kp) return;
    __global const ushort *xr = x + x_off + (long)m * x_s0;
    xp[(long)m * Kp + j] = j < K ? xr[clamp(perm[j], 0, K - 1)] : (ushort)0;
}

#if QG_A8 || QG_F8
/* One work-group per token: amax over the (permuted) row, scale = amax / 127 (I8) or
   / 448 (FP8), codes of x / scale; zero scale gives zero codes. Padding codes are 0. */
__kernel void qg_quant_act(__global const in_t *x, ulong x_off, long x_s0,
                           __global const int *perm, int has_perm, __global uchar *xq,
                           __global float *xs, int K, int Kp) {
    __local float red[256];
    const int m = (int)get_group_id(0), lid = (int)get_local_id(0), nt = (int)get_local_size(0);
    __global const in_t *xr = x + x_off + (long)m * x_s0;
    float amax = 0.0f;
    for (int j = lid; j < K; j += nt) amax = fmax(amax, fabs(LOADF(xr, has_perm ? perm[j] : j)));
    red[lid] = amax;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = nt / 2; s > 0; s >>= 1) {
        if (lid < s) red[lid] = fmax(red[lid], red[lid + s]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float sc = QG_DIV(red[0], QG_A8 ? 127.0f : 448.0f);
    for (int j = lid; j < Kp; j += nt) {
        uchar c = 0;
        if (j < K && sc != 0.0f) {
            float r = QG_DIV(LOADF(xr, has_perm ? perm[j] : j), sc);
#if QG_A8
            c = (uchar)(char)(int)mk_rne_clamp(r, -127.0f, 127.0f);
#else
            c = mk_f32_to_fp8(r);
#endif
        }
        xq[(long)m * Kp + j] = c;
    }
    if (lid == 0) xs[m] = sc;
}
#endif

/* ------------------------------------------------------------ GEMV (small M) */

#ifdef QG_MB
#define QG_SUB (QG_R / QG_NT) /* work-groups per row tile */
__kernel __attribute__((reqd_work_group_size(QG_NT, 1, 1))) void qgemv(
    __global const uint *wq, __global const qs_t *wsc, __global const uchar *wz,
    __global const in_t *x, ulong x_off, long x_s0, __global const uchar *xq,
    __global const float *xs, int M, int N, int K, int KC, int G,
    __global in_t *y, ulong y_off, __global const in_t *bias, ulong bias_off, int has_bias) {
    /* one work-item per output row, the whole K; the loop over chunks has a uniform trip
       count, so a CPU driver can vectorize across the work-items (consecutive rows read
       consecutive words) */
    const int lid = (int)get_local_id(0), grp = (int)get_group_id(0);
    const int tile = grp / QG_SUB, r = (grp % QG_SUB) * QG_NT + lid, n = tile * QG_R + r;
    __global const uint *wt = wq + (long)tile * KC * 4 * QG_R + r;
#if QG_A8
    int acc[QG_MB];
#else
    float acc[QG_MB];
#endif
    for (int m = 0; m < QG_MB; m++) acc[m] = 0;

    for (int c = 0; c < KC; c++) {
        __global const uint *wc = wt + (long)c * 4 * QG_R;
        const uint wa[4] = {wc[0], wc[QG_R], wc[2 * QG_R], wc[3 * QG_R]};
        const int k0 = c * QG_KCB;
#if !(QG_A8 || QG_F8)
        const int g = QG_GS ? k0 / QG_GS : 0;
        const float s = QG_LDS(wsc, ((long)tile * G + g) * QG_R + r);
#if QG_W4
        const int z = QG_ASYM ? (int)wz[((long)tile * G + g) * QG_R + r] : 8;
#endif
#endif
        for (int m = 0; m < QG_MB; m++) {
            if (m >= M) break;
#if QG_A8 || QG_F8
            uint4 a = vload4(0, (__global const uint *)(xq + (long)m * KC * 16 + k0));
            uint aa[4] = {a.s0, a.s1, a.s2, a.s3};
#if QG_A8 && defined(MK_INT_DOT)
            for (int i = 0; i < 4; i++) acc[m] += MK_DOT4X8(aa[i], wa[i]); /* 4 products each */
#else
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 4; j++) {
#if QG_A8
                    acc[m] += (int)(char)(aa[i] >> (8 * j)) * (int)(char)(wa[i] >> (8 * j));
#else
                    acc[m] = fma(mk_fp8_to_f32((uchar)(aa[i] >> (8 * j))),
                                 mk_fp8_to_f32((uchar)(wa[i] >> (8 * j))), acc[m]);
#endif
                }
#endif
#else
            float xv[QG_KCB];
            __global const in_t *xr = x + x_off + (long)m * x_s0 + k0;
            if (k0 + QG_KCB <= K) {
#if T_IN == 1
                float16 v0 = vload_half16(0, (__global const half *)xr);
#if QG_W4
                float16 v1 = vload_half16(1, (__global const half *)xr);
#endif
#else
                float16 v0 = as_float16(convert_uint16(vload16(0, xr)) << 16);
#if QG_W4
                float16 v1 = as_float16(convert_uint16(vload16(1, xr)) << 16);
#endif
#endif
                vstore16(v0, 0, xv);
#if QG_W4
                vstore16(v1, 1, xv);
#endif
            } else {
                for (int i = 0; i < QG_KCB; i++) xv[i] = k0 + i < K ? LOADF(xr, i) : 0.0f;
            }
            float dot = 0.0f;
#if QG_W4
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 8; j++)
                    dot = fma(xv[8 * i + j], (float)((int)((wa[i] >> (4 * j)) & 15u) - z), dot);
#else
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 4; j++)
                    dot = fma(xv[4 * i + j], (float)(char)(wa[i] >> (8 * j)), dot);
#endif
            acc[m] = fma(s, dot, acc[m]);
#endif
        }
        /* a uniform barrier per chunk: the driver's work-item loop then runs inside the
           chunk loop, where it vectorizes across the rows */
        barrier(CLK_LOCAL_MEM_FENCE);
    }

    if (n < N)
        for (int m = 0; m < QG_MB; m++) {
            if (m >= M) break;
#if QG_A8 || QG_F8
            float v = xs[m] * wsc[n] * (float)acc[m];
#else
            float v = acc[m];
#endif
            if (has_bias) v += LOADF(bias + bias_off, n);
            STOREF(y + y_off, (long)m * N + n, v);
        }
}
#endif

/* ------------------------------------------------------------ W4 GEMV by row blocks (CPU) */

/* For CPU drivers (host option QG_ROWS = 16, 32 or 64): each work-item owns QG_ROWS
   consecutive rows of a packed tile and runs over the whole K with explicit 16-wide
   vectors (one lane per row, QG_ROWS / 16 blocks), so the vector code does not depend on
   the driver vectorizing across work-items; one work-item per work-group. A weight word
   holds 8 codes (nibble j = element 8w + j); for 16 rows it is one 64-byte load. A code
   is taken in place with a mask, no shift: for j < 4, (word & (15 << 4j)) converts to
   the float c * 16^j exactly; codes 4..7 come the same way from the word shifted down by
   16 (one shift per word). The pre-pass stores x'[k] = x[k] * 16^-(k % 4) (k % 4 = j % 4;
   a factor of at most 2^-12 is exact for every f16 and bf16 value, bf16 subnormals
   included, with denormals kept), so each product x' * (c * 16^(j % 4)) is exactly the
   x * c of the reference. The zero point leaves the inner loop: per scale group,
   sum(x * (c - z)) = sum(x * c) - z * sum(x), with the group sums of x from the
   pre-pass. Per 16 weights the loop is one and, one int-to-float conversion and one fma
   whose x' operand is a broadcast load. Accumulation in f32 as every device kernel;
   only the order of the sums differs from the reference. */
#if defined(QG_MB) && defined(QG_ROWS) && QG_W4

/* xf[m][k] = x'[k] of token m (after the K permutation); xf[QG_MB * K + m * G + g] = the
   sum of x over group g. Tokens M..QG_MB-1 are zeros (the GEMV computes QG_MB tokens
   without branches and stores M). One work-item per (group, token). */
__kernel void qg_prep_x(__global const in_t *x, ulong x_off, long x_s0, __global const int *perm,
                        int has_perm, __global float *xf, int M, int K, int G) {
    const int g = (int)get_global_id(0), m = (int)get_global_id(1);
    if (g >= G || m >= QG_MB) return;
    __global const in_t *xr = x + x_off + (long)m * x_s0;
    __global float *xo = xf + (long)m * K;
    float sum = 0.0f;
    for (int k = g * QG_GS; k < (g + 1) * QG_GS; k++) {
        const float v = m < M ? LOADF(xr, has_perm ? clamp(perm[k], 0, K - 1) : k) : 0.0f;
        sum += v;
        xo[k] = ldexp(v, -4 * (k & 3)); /* v * 16^-(k % 4), exact */
    }
    xf[(long)QG_MB * K + (long)m * G + g] = sum;
}

#define QG_WPG (QG_GS / 8) /* weight words per scale group */
#define QG_RB (QG_ROWS / 16) /* 16-row blocks per work-item */
/* independent accumulators per (block, token): enough chains to hide the fma latency */
#define QG_NA (QG_RB * QG_MB >= 4 ? 1 : 4 / (QG_RB * QG_MB))

__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void qgemv_rows(
    __global const uint *wq, __global const half *wsc, __global const uchar *wz,
    __global const float *xf, int M, int N, int K, int KC, int G, __global in_t *y, ulong y_off,
    __global const in_t *bias, ulong bias_off, int has_bias) {
    const int item = (int)get_global_id(0);
    const int tile = item / (QG_R / QG_ROWS), r0 = (item % (QG_R / QG_ROWS)) * QG_ROWS;
    __global const uint *wt = wq + (long)tile * KC * 4 * QG_R + r0;
    __global const half *st = wsc + (long)tile * G * QG_R + r0;
    __global const float *xs = xf + (long)QG_MB * K; /* group sums */
    float16 acc[QG_RB][QG_MB];
#pragma unroll
    for (int b = 0; b < QG_RB; b++)
#pragma unroll
        for (int m = 0; m < QG_MB; m++) acc[b][m] = 0.0f;

    for (int g = 0; g < G; g++) {
        __global const uint *wg = wt + (long)g * QG_WPG * QG_R;
        float16 a[QG_RB][QG_MB][QG_NA];
#pragma unroll
        for (int b = 0; b < QG_RB; b++)
#pragma unroll
            for (int m = 0; m < QG_MB; m++)
#pragma unroll
                for (int i = 0; i < QG_NA; i++) a[b][m][i] = 0.0f;
#pragma unroll
        for (int w = 0; w < QG_WPG; w++) {
            __global const float *xw = xf + g * QG_GS + 8 * w;
#pragma unroll
            for (int b = 0; b < QG_RB; b++) {
                const uint16 lo = vload16(0, wg + w * QG_R + 16 * b), hi = lo >> 16;
#pragma unroll
                for (int j = 0; j < 8; j++) {
                    const float16 c = convert_float16(as_int16((j < 4 ? lo : hi) & (15u << (4 * (j & 3)))));
#pragma unroll
                    for (int m = 0; m < QG_MB; m++)
                        a[b][m][j % QG_NA] = fma(c, xw[(long)m * K + j], a[b][m][j % QG_NA]);
                }
            }
        }
#pragma unroll
        for (int b = 0; b < QG_RB; b++) {
            const float16 s = vload_half16(0, st + (long)g * QG_R + 16 * b);
#if QG_ASYM
            const float16 z = convert_float16(vload16(0, wz + ((long)tile * G + g) * QG_R + r0 + 16 * b));
#else
            const float16 z = 8.0f;
#endif
#pragma unroll
            for (int m = 0; m < QG_MB; m++) {
                float16 d = a[b][m][0];
#pragma unroll
                for (int i = 1; i < QG_NA; i++) d += a[b][m][i];
                acc[b][m] = fma(s, fma(-z, xs[(long)m * G + g], d), acc[b][m]);
            }
        }
    }

    for (int m = 0; m < QG_MB; m++) {
        if (m >= M) break;
        for (int b = 0; b < QG_RB; b++) {
            float v[16];
            vstore16(acc[b][m], 0, v);
            for (int i = 0; i < 16; i++) {
                const int n = tile * QG_R + r0 + 16 * b + i;
                if (n >= N) break;
                float r = v[i];
                if (has_bias) r += LOADF(bias + bias_off, n);
                STOREF(y + y_off, (long)m * N + n, r);
            }
        }
    }
}
#endif

/* ------------------------------------------------------------ tiled GEMM (large M) */

#define QG_TM 64
#define QG_TN 64
#define QG_TK 32
#define QG_TS (QG_TM + 1) /* padded local strides: no bank conflicts */

#if QG_A8
typedef int qacc_t;
#else
typedef float qacc_t;
#endif

__kernel __attribute__((reqd_work_group_size(256, 1, 1))) void qgemm_tiled(
    __global const uint *wq, __global const qs_t *wsc, __global const uchar *wz,
    __global const in_t *x, ulong x_off, long x_s0, __global const uchar *xq,
    __global const float *xs, int M, int N, int K, int KC, int G,
    __global in_t *y, ulong y_off, __global const in_t *bias, ulong bias_off, int has_bias) {
    __local qacc_t xl[QG_TK * QG_TS];
    __local qacc_t wl[QG_TK * QG_TS];
    const int lid = (int)get_local_id(0), tx = lid % 16, ty = lid / 16;
    const int n0 = (int)get_group_id(0) * QG_TN, m0 = (int)get_group_id(1) * QG_TM;
    const int Kp = KC * QG_KCB;
    qacc_t acc[4][4];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) acc[i][j] = 0;

    for (int k0 = 0; k0 < Kp; k0 += QG_TK) {
        barrier(CLK_LOCAL_MEM_FENCE);
        /* x tile [64 tokens][32 k] -> xl[k][m] */
        for (int e = lid; e < QG_TM * QG_TK; e += 256) {
            int m = e / QG_TK, kk = e % QG_TK, gm = m0 + m, gk = k0 + kk;
            qacc_t v = 0;
#if QG_A8
            if (gm < M && gk < Kp) v = (int)(char)xq[(long)gm * Kp + gk];
#elif QG_F8
            if (gm < M && gk < Kp) v = mk_fp8_to_f32(xq[(long)gm * Kp + gk]);
#else
            if (gm < M && gk < K) v = LOADF(x + x_off, (long)gm * x_s0 + gk);
#endif
            xl[kk * QG_TS + m] = v;
        }
        /* W tile [64 rows][32 k] -> wl[k][n], dequantized (W4/W8) or codes */
#if QG_W4
        {
            int n = lid / 4, wi = lid % 4, gn = n0 + n, c = k0 / 32;
            int tile = gn / QG_R, r = gn % QG_R;
            uint u = 0;
            float s = 0.0f;
            int z = 8;
            if (gn < N) {
                u = wq[(((long)tile * KC + c) * 4 + wi) * QG_R + r];
                int g = k0 / QG_GS;
                s = QG_LDS(wsc, ((long)tile * G + g) * QG_R + r);
                z = QG_ASYM ? (int)wz[((long)tile * G + g) * QG_R + r] : 8;
            }
            for (int j = 0; j < 8; j++)
                wl[(wi * 8 + j) * QG_TS + n] = s * (float)((int)((u >> (4 * j)) & 15u) - z);
        }
#else
        for (int e = lid; e < QG_TN * 8; e += 256) {
            int n = e / 8, cw = e % 8, gn = n0 + n, c = k0 / 16 + cw / 4, wi = cw % 4;
            int tile = gn / QG_R, r = gn % QG_R;
            uint u = 0;
            if (gn < N && c < KC) u = wq[(((long)tile * KC + c) * 4 + wi) * QG_R + r];
#if QG_FMT == 2
            float s = 0.0f;
            if (gn < N) s = QG_LDS(wsc, ((long)tile * G + (QG_GS ? k0 / QG_GS : 0)) * QG_R + r);
#endif
            for (int j = 0; j < 4; j++) {
                int kk = (cw / 4) * 16 + wi * 4 + j;
#if QG_A8
                wl[kk * QG_TS + n] = (int)(char)(u >> (8 * j));
#elif QG_F8
                wl[kk * QG_TS + n] = mk_fp8_to_f32((uchar)(u >> (8 * j)));
#else
                wl[kk * QG_TS + n] = s * (float)(char)(u >> (8 * j));
#endif
            }
        }
#endif
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int kk = 0; kk < QG_TK; kk++) {
            qacc_t a[4], b[4];
            for (int i = 0; i < 4; i++) a[i] = xl[kk * QG_TS + ty + 16 * i];
            for (int j = 0; j < 4; j++) b[j] = wl[kk * QG_TS + tx + 16 * j];
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 4; j++) {
#if QG_A8
                    acc[i][j] += a[i] * b[j];
#else
                    acc[i][j] = fma(a[i], b[j], acc[i][j]);
#endif
                }
        }
    }

    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) {
            int m = m0 + ty + 16 * i, n = n0 + tx + 16 * j;
            if (m >= M || n >= N) continue;
#if QG_A8 || QG_F8
            float v = xs[m] * wsc[n] * (float)acc[i][j];
#else
            float v = acc[i][j];
#endif
            if (has_bias) v += LOADF(bias + bias_off, n);
            STOREF(y + y_off, (long)m * N + n, v);
        }
}
