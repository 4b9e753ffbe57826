/*
 * Split-KV flash decoding over the paged KV cache (one query token per sequence).
 *
 * splitkv_decode: a work-group owns (sequence b, kv head hk, group of up to DEC_GMAX of
 * the query heads that share hk, split s). The split is a chunk of the visible key range
 * planned on the host; the query heads of the group share one read of every K and V
 * row. Per tile of DEC_BK keys: K rows are dequantized into local memory, the scores of
 * all heads x keys are computed there, the online-softmax statistics (m, l) are updated
 * by one work-item per head, and the output accumulates with V read straight from the
 * cache (work-item d owns dim d of every head, so each V element is read once).
 * With one split the final output is written directly; otherwise the unnormalised
 * partial output and (m, l) go to scratch and splitkv_merge combines the splits in a
 * fixed order (deterministic, no atomics).
 *
 * Cache rows: K/V [num_blocks][block_size][Hkv][D]; the row of (slot, hk) is
 * slot * Hkv + hk; I8/FP8 caches hold codes and one f32 scale per row: x = scale * code.
 *
 * Build options: T_IN (dtype code of q and out), T_CACHE (of the cache: f32, f16, bf16,
 * fp8, i8; common.clh), DEC_DMAX (power of two >= D; also the work-group size), DEC_GMAX
 * (heads per work-group), DEC_BK (keys per tile). OpenCL C 1.2.
 */

#if T_CACHE >= 3 /* fp8 / i8 codes times the row's scale */
#define DEC_VAL(p, sc, row, d) ((sc)[row] * LOADF_T(T_CACHE, p, (row) * D + (d)))
#else
#define DEC_VAL(p, sc, row, d) LOADF_T(T_CACHE, p, (row) * D + (d))
#endif

#define DEC_NT DEC_DMAX
#define DEC_KS (DEC_DMAX + 1) /* padded local row stride: no bank conflicts */

__kernel __attribute__((reqd_work_group_size(DEC_NT, 1, 1))) void splitkv_decode(
    __global const in_t *q, ulong q_off, long q_s0, long q_s1,
    __global const cache_t *kc, __global const cache_t *vc, __global const float *ksc,
    __global const float *vsc,
    __global const int *bt, ulong bt_off, int max_blocks, __global const int *ctx_lens,
    ulong cl_off, __global in_t *out, ulong out_off, __global float *part_o, ulong ml_off,
    int Hq, int Hkv, int D, int block_size, int num_blocks,
    float scale, int window, float softcap, int nsplit, int chunk, int G, int HG) {
    __local float qs[DEC_GMAX * DEC_DMAX];
    __local float ks[DEC_BK * DEC_KS];
    __local float ss[DEC_GMAX * DEC_BK];
    __local float m_sh[DEC_GMAX], a_sh[DEC_GMAX], l_sh[DEC_GMAX];
    __local long rows[DEC_BK];

    const int lid = (int)get_local_id(0);
    const int hk = (int)get_group_id(0) / HG, hg = (int)get_group_id(0) % HG;
    const int b = (int)get_group_id(1), s = (int)get_group_id(2);
    const int h0 = hk * G + hg * DEC_GMAX, ng = min(DEC_GMAX, G - hg * DEC_GMAX);
    q += q_off, bt += bt_off + (long)b * max_blocks, out += out_off;

    /* Visible keys [lo, len): the query is the last token; then this split's chunk. */
    const int len = clamp(ctx_lens[cl_off + b], 0, max_blocks * block_size);
    const int lo = window >= 0 ? max(0, len - 1 - window) : 0;
    const int k_begin = lo + s * chunk, k_end = min(len, k_begin + chunk);

    for (int e = lid; e < DEC_GMAX * DEC_DMAX; e += DEC_NT) {
        int g = e / DEC_DMAX, d = e % DEC_DMAX;
        qs[e] = g < ng && d < D ? LOADF(q, (long)b * q_s0 + (long)(h0 + g) * q_s1 + d) : 0.0f;
    }

    float acc[DEC_GMAX];
    for (int g = 0; g < DEC_GMAX; g++) acc[g] = 0.0f;
    float m = -INFINITY, l = 0.0f; /* statistics of head lid (work-items < ng) */

    for (int j0 = k_begin; j0 < k_end; j0 += DEC_BK) {
        const int nk = min(DEC_BK, k_end - j0);
        barrier(CLK_LOCAL_MEM_FENCE); /* the previous tile is consumed */
        /* K rows -> local (work-item d loads dim d of every row: coalesced). */
        for (int c = 0; c < DEC_BK; c++) {
            float x = 0.0f;
            if (c < nk) {
                int j = j0 + c;
                int blk = clamp(bt[j / block_size], 0, num_blocks - 1);
                long row = ((long)blk * block_size + j % block_size) * Hkv + hk;
                if (lid == 0) rows[c] = row;
                if (lid < D) x = DEC_VAL(kc, ksc, row, lid);
            }
            ks[c * DEC_KS + lid] = x;
        }
        barrier(CLK_LOCAL_MEM_FENCE);

        /* Scores of (head g, key c). */
        for (int p = lid; p < DEC_GMAX * DEC_BK; p += DEC_NT) {
            int g = p / DEC_BK, c = p % DEC_BK;
            float x = -INFINITY;
            if (g < ng && c < nk) {
                float dot = 0.0f;
                for (int d = 0; d < D; d++) dot = fma(qs[g * DEC_DMAX + d], ks[c * DEC_KS + d], dot);
                x = dot * scale;
                if (softcap > 0.0f) x = softcap * tanh(x / softcap);
            }
            ss[p] = x;
        }
        barrier(CLK_LOCAL_MEM_FENCE);

        /* New running max and rescale factor per head. */
        if (lid < DEC_GMAX) {
            float m_new = 0.0f, alpha = 1.0f;
            if (lid < ng) {
                float tmax = -INFINITY;
                for (int c = 0; c < nk; c++) tmax = fmax(tmax, ss[lid * DEC_BK + c]);
                m_new = fmax(m, tmax);
                alpha = m_new == -INFINITY ? 1.0f : exp(m - m_new);
                m = m_new;
            }
            m_sh[lid] = m_new, a_sh[lid] = alpha;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int p = lid; p < DEC_GMAX * DEC_BK; p += DEC_NT) {
            float x = ss[p];
            ss[p] = x == -INFINITY ? 0.0f : exp(x - m_sh[p / DEC_BK]);
        }
        barrier(CLK_LOCAL_MEM_FENCE);

        if (lid < ng) {
            float sum = 0.0f;
            for (int c = 0; c < nk; c++) sum += ss[lid * DEC_BK + c];
            l = l * a_sh[lid] + sum;
        }
        for (int g = 0; g < DEC_GMAX; g++) acc[g] *= a_sh[g];
        if (lid < D)
            for (int c = 0; c < nk; c++) {
                float x = DEC_VAL(vc, vsc, rows[c], lid);
                for (int g = 0; g < DEC_GMAX; g++) acc[g] = fma(ss[g * DEC_BK + c], x, acc[g]);
            }
    }

    barrier(CLK_LOCAL_MEM_FENCE);
    if (lid < DEC_GMAX) m_sh[lid] = m, l_sh[lid] = l;
    barrier(CLK_LOCAL_MEM_FENCE);
    if (lid >= D) return;
    for (int g = 0; g < ng; g++) {
        long bh = (long)b * Hq + h0 + g;
        if (nsplit == 1) {
            float lg = l_sh[g];
            STOREF(out, bh * D + lid, lg > 0.0f ? acc[g] / lg : 0.0f);
        } else {
            long ps = bh * nsplit + s;
            part_o[ps * D + lid] = acc[g];
            if (lid == 0) part_o[ml_off + 2 * ps] = m_sh[g], part_o[ml_off + 2 * ps + 1] = l_sh[g];
        }
    }
}

/* Combines the splits of one (sequence, head) row: out = sum_s e^(m_s-M) o_s / sum_s
   e^(m_s-M) l_s, summed over s in order. Work-item d owns dims d, d + NT, ... */
__kernel void splitkv_merge(__global const float *part_o, ulong ml_off, __global in_t *out,
                            ulong out_off, int D, int nsplit) {
    const long bh = get_group_id(0);
    const int lid = (int)get_local_id(0), nt = (int)get_local_size(0);
    __global const float *ml = part_o + ml_off + bh * nsplit * 2;
    __global const float *po = part_o + bh * nsplit * D;
    out += out_off;
    float M = -INFINITY;
    for (int s = 0; s < nsplit; s++) M = fmax(M, ml[2 * s]);
    float L = 0.0f;
    if (M != -INFINITY)
        for (int s = 0; s < nsplit; s++)
            if (ml[2 * s] != -INFINITY) L += ml[2 * s + 1] * exp(ml[2 * s] - M);
    for (int d = lid; d < D; d += nt) {
        float o = 0.0f;
        if (L > 0.0f) {
            for (int s = 0; s < nsplit; s++)
                if (ml[2 * s] != -INFINITY) o += po[(long)s * D + d] * exp(ml[2 * s] - M);
            o /= L;
        }
        STOREF(out, bh * D + d, o);
    }
}
