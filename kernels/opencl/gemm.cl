/*
 * Dense GEMM y[M][N] = x[M][K] . w[N][K]^T (+ bias[N]), f32 accumulation.
 * x and w rows have free row strides (K contiguous); y is contiguous.
 * Build options: -DT_IN=<dtype code>, and for gemm_tiled the tile shape
 *   -DTM -DTN -DTK (output tile and K slab held in local memory)
 *   -DWM -DWN      (outputs per work-item: work-group (TN/WN, TM/WM))
 * for gemv -DGEMV_MAX_M (the most rows of x one launch handles).
 */

#ifdef TM
#define LX (TN / WN)
#define LY (TM / WM)

/* One work-group per TM x TN output tile. The K slab of x and w is staged in local memory
   transposed ([TK][TM], [TK][TN]) so the inner product reads consecutive words across the
   work-group; each work-item accumulates WM x WN outputs strided by (LY, LX). */
__kernel __attribute__((reqd_work_group_size(LX, LY, 1)))
void gemm_tiled(const __global in_t *x, ulong x_off, long x_rs,
                const __global in_t *w, ulong w_off, long w_rs,
                const __global in_t *bias, ulong b_off, int has_bias,
                __global in_t *y, ulong y_off, int M, int N, int K) {
    __local float xs[TK][TM];
    __local float ws[TK][TN];
    const int tx = (int)get_local_id(0), ty = (int)get_local_id(1);
    const int tid = ty * LX + tx;
    const int m0 = (int)get_group_id(1) * TM, n0 = (int)get_group_id(0) * TN;
    float acc[WM][WN];
    for (int i = 0; i < WM; i++)
        for (int j = 0; j < WN; j++) acc[i][j] = 0.0f;

    for (int k0 = 0; k0 < K; k0 += TK) {
        for (int e = tid; e < TM * TK; e += LX * LY) {
            int r = e / TK, kk = e % TK, m = m0 + r, k = k0 + kk;
            xs[kk][r] = (m < M && k < K) ? LOADF(x, x_off + (ulong)((long)m * x_rs + k)) : 0.0f;
        }
        for (int e = tid; e < TN * TK; e += LX * LY) {
            int r = e / TK, kk = e % TK, n = n0 + r, k = k0 + kk;
            ws[kk][r] = (n < N && k < K) ? LOADF(w, w_off + (ulong)((long)n * w_rs + k)) : 0.0f;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int kk = 0; kk < TK; kk++) {
            float a[WM], b[WN];
            for (int i = 0; i < WM; i++) a[i] = xs[kk][ty + i * LY];
            for (int j = 0; j < WN; j++) b[j] = ws[kk][tx + j * LX];
            for (int i = 0; i < WM; i++)
                for (int j = 0; j < WN; j++) acc[i][j] = fma(a[i], b[j], acc[i][j]);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    for (int i = 0; i < WM; i++) {
        int m = m0 + ty + i * LY;
        if (m >= M) continue;
        for (int j = 0; j < WN; j++) {
            int n = n0 + tx + j * LX;
            if (n >= N) continue;
            float v = acc[i][j];
            if (has_bias) v += LOADF(bias, b_off + (ulong)n);
            STOREF(y, y_off + (ulong)((long)m * N + n), v);
        }
    }
}
#endif

#ifdef GEMV_MAX_M
/* Small M: one work-group (power-of-two size) per output column n streams w[n][:] once
   and applies it to every row of x. Work-items take interleaved runs of 4 consecutive k
   (coalesced on GPUs) into float4 accumulators (independent FMA chains on CPUs); the
   partial sums meet in a local-memory tree, in a fixed order, or with -DMK_SUBGROUPS=1
   in sub-group reductions and one pass over the sub-groups' sums (MK_WG_SUM). */
__kernel void gemv(const __global in_t *x, ulong x_off, long x_rs,
                   const __global in_t *w, ulong w_off, long w_rs,
                   const __global in_t *bias, ulong b_off, int has_bias,
                   __global in_t *y, ulong y_off, int M, int N, int K,
                   __local float *scratch) {
    const int n = (int)get_group_id(0), lid = (int)get_local_id(0), L = (int)get_local_size(0);
    float4 acc[GEMV_MAX_M];
    for (int m = 0; m < GEMV_MAX_M; m++) acc[m] = (float4)(0.0f);
    const ulong wb = w_off + (ulong)((long)n * w_rs);
    const int K4 = K & ~3;
    for (int k = 4 * lid; k < K4; k += 4 * L) {
        float4 wv = LOADF4(w, wb + (ulong)k);
        for (int m = 0; m < GEMV_MAX_M; m++)
            if (m < M) acc[m] = fma(LOADF4(x, x_off + (ulong)((long)m * x_rs + k)), wv, acc[m]);
    }
    for (int k = K4 + lid; k < K; k += L) { /* the last K % 4 */
        float wv = LOADF(w, wb + (ulong)k);
        for (int m = 0; m < GEMV_MAX_M; m++)
            if (m < M) acc[m].x = fma(LOADF(x, x_off + (ulong)((long)m * x_rs + k)), wv, acc[m].x);
    }
    float bv = has_bias ? LOADF(bias, b_off + (ulong)n) : 0.0f;
    for (int m = 0; m < GEMV_MAX_M; m++) {
        if (m >= M) break; /* uniform across the work-group */
        float v = MK_WG_SUM((acc[m].x + acc[m].y) + (acc[m].z + acc[m].w), scratch);
        if (lid == 0) STOREF(y, y_off + (ulong)((long)m * N + n), v + bv);
    }
}
#endif
