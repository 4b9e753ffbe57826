/*
 * Flash attention prefill (FlashAttention-2 style) over a packed variable-length batch.
 *
 * A work-group owns one tile of FA_BQ query rows of one sequence and one query head. It
 * walks the visible key range in tiles of FA_BK keys staged in local memory (K, then V
 * in the same buffer), keeps a running max m and sum l per row (online softmax in f32)
 * and scales the output by 1/l once at the end. LSE = m + log(l) (natural log); a row
 * that sees no key gets out 0 and lse -inf.
 *
 * Work-items: FA_BQ rows x FA_TPR work-items per row. For scores, work-item c of a row
 * takes keys c, c+TPR, ...; for the output it owns dims c, c+TPR, ... (FA_DMAX/FA_TPR
 * of them). The head dim D is a runtime value <= FA_DMAX (a power of two).
 *
 * Sequences: with a plan's tile map (ntiles > 0: tiles [ntiles][2] of (sequence, first
 * row), the tiles with most work first) work-group x takes entry x. Without one the grid
 * has ceil(T/BQ) + B tile slots per head (an upper bound of the tiles of any batch) and
 * work-item 0 finds the slot's (sequence, tile) by scanning cu_seqlens_q, a sequence's
 * tiles last first. Slots past the last tile exit. Map entries and lengths are clamped
 * so bad indices never read or write out of bounds.
 *
 * Build options: T_IN (dtype code of q, k, v, out; common.clh), FA_DMAX, FA_BQ, FA_BK,
 * FA_TPR (FA_BK % FA_TPR == 0, FA_DMAX % FA_TPR == 0). OpenCL C 1.2.
 */

#define FA_NT (FA_BQ * FA_TPR)
#define FA_KPT (FA_BK / FA_TPR)   /* scores per work-item   */
#define FA_DPT (FA_DMAX / FA_TPR) /* output dims per work-item */
#define FA_QS (FA_DMAX + 1)       /* padded local row strides: no bank conflicts */
#define FA_SS (FA_BK + 1)

__kernel __attribute__((reqd_work_group_size(FA_NT, 1, 1))) void flash_prefill(
    __global const in_t *q, ulong q_off, long q_s0, long q_s1,
    __global const in_t *k, ulong k_off, long k_s0, long k_s1,
    __global const in_t *v, ulong v_off, long v_s0, long v_s1,
    __global const int *cu_q, ulong cu_q_off, __global const int *cu_k, ulong cu_k_off, int B,
    __global const int *tiles, int ntiles, __global in_t *out, ulong out_off, __global float *lse, ulong lse_off, int has_lse,
    int T, int Tk, int Hq, int Hkv, int D, float scale, int causal, int window, float softcap) {
    __local float qs[FA_BQ * FA_QS];
    __local float kvs[FA_BK * FA_QS];
    __local float ss[FA_BQ * FA_SS];
    __local int seq[4]; /* b, first query row in the sequence, rows of this tile */

    const int lid = (int)get_local_id(0);
    const int r = lid / FA_TPR, c0 = lid % FA_TPR;
    const int h = (int)get_group_id(1), hk = h / (Hq / Hkv);
    q += q_off, k += k_off, v += v_off, cu_q += cu_q_off, cu_k += cu_k_off, out += out_off;

    if (lid == 0 && ntiles > 0) {
        const int slot = (int)get_group_id(0), b = tiles[2 * slot], i0 = tiles[2 * slot + 1];
        int found = -1, n = 0;
        if (b >= 0 && b < B) {
            int lo = clamp(cu_q[b], 0, T), hi = clamp(cu_q[b + 1], lo, T);
            if (i0 >= 0 && i0 < hi - lo) found = b, n = min(FA_BQ, hi - lo - i0);
        }
        seq[0] = found, seq[1] = i0, seq[2] = n;
    } else if (lid == 0) {
        int slot = (int)get_group_id(0), found = -1, i0 = 0, n = 0;
        for (int b = 0; b < B && found < 0; b++) {
            int lo = clamp(cu_q[b], 0, T), hi = clamp(cu_q[b + 1], lo, T);
            int tiles = (hi - lo + FA_BQ - 1) / FA_BQ;
            /* last tile first: with a causal mask it has the most keys, so it starts early */
            if (slot < tiles) found = b, i0 = (tiles - 1 - slot) * FA_BQ, n = min(FA_BQ, hi - lo - i0);
            slot -= tiles;
        }
        seq[0] = found, seq[1] = i0, seq[2] = n;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    const int b = seq[0], i0 = seq[1], nrows = seq[2];
    if (b < 0) return; /* uniform: the whole work-group leaves */

    /* This sequence's rows (clamped as in the scan) and its keys. */
    int q_lo = clamp(cu_q[b], 0, T), q_hi = clamp(cu_q[b + 1], q_lo, T);
    int k_lo = clamp(cu_k[b], 0, Tk), k_hi = clamp(cu_k[b + 1], k_lo, Tk);
    const int sq = q_hi - q_lo, sk = k_hi - k_lo;

    /* Visible keys of the tile: row i sees [i + sk - sq - window, i + sk - sq]. */
    const int shift = sk - sq;
    int j_lo = 0, j_hi = sk;
    if (window >= 0) j_lo = max(0, i0 + shift - window);
    if (causal) j_hi = min(sk, i0 + nrows - 1 + shift + 1);

    /* Q tile -> local, f32. */
    for (int e = lid; e < FA_BQ * FA_DMAX; e += FA_NT) {
        int rr = e / FA_DMAX, d = e % FA_DMAX;
        float x = 0.0f;
        if (rr < nrows && d < D)
            x = LOADF(q, (long)(q_lo + i0 + rr) * q_s0 + (long)h * q_s1 + d);
        qs[rr * FA_QS + d] = x;
    }

    const int i = i0 + r; /* this work-item's query row within the sequence */
    const int row_ok = r < nrows;
    const int my_lo = window >= 0 ? i + shift - window : INT_MIN;
    const int my_hi = causal ? i + shift : INT_MAX; /* inclusive */
    float m = -INFINITY, l = 0.0f, acc[FA_DPT];
    for (int t = 0; t < FA_DPT; t++) acc[t] = 0.0f;

    for (int j0 = j_lo; j0 < j_hi; j0 += FA_BK) {
        const int nk = min(FA_BK, j_hi - j0);
        barrier(CLK_LOCAL_MEM_FENCE); /* previous tile's V and scores are consumed */
        for (int e = lid; e < FA_BK * FA_DMAX; e += FA_NT) {
            int j = e / FA_DMAX, d = e % FA_DMAX;
            float x = 0.0f;
            if (j < nk && d < D) x = LOADF(k, (long)(k_lo + j0 + j) * k_s0 + (long)hk * k_s1 + d);
            kvs[j * FA_QS + d] = x;
        }
        barrier(CLK_LOCAL_MEM_FENCE);

        /* Scores of row r against keys c0, c0 + TPR, ... */
        float s[FA_KPT];
        for (int t = 0; t < FA_KPT; t++) s[t] = 0.0f;
        for (int d = 0; d < D; d++) {
            float qd = qs[r * FA_QS + d];
            for (int t = 0; t < FA_KPT; t++) s[t] = fma(qd, kvs[(c0 + t * FA_TPR) * FA_QS + d], s[t]);
        }
        for (int t = 0; t < FA_KPT; t++) {
            int c = c0 + t * FA_TPR, j = j0 + c;
            float x = s[t] * scale;
            if (softcap > 0.0f) x = softcap * tanh(x / softcap);
            if (!row_ok || c >= nk || j < my_lo || j > my_hi) x = -INFINITY;
            ss[r * FA_SS + c] = x;
        }
        barrier(CLK_LOCAL_MEM_FENCE);

        /* V tile over K. */
        for (int e = lid; e < FA_BK * FA_DMAX; e += FA_NT) {
            int j = e / FA_DMAX, d = e % FA_DMAX;
            float x = 0.0f;
            if (j < nk && d < D) x = LOADF(v, (long)(k_lo + j0 + j) * v_s0 + (long)hk * v_s1 + d);
            kvs[j * FA_QS + d] = x;
        }
        barrier(CLK_LOCAL_MEM_FENCE);

        /* Online softmax: every work-item of a row computes the same m and l (same order,
           same bits), so no reduction between them is needed. */
        float tmax = -INFINITY;
        for (int c = 0; c < nk; c++) tmax = fmax(tmax, ss[r * FA_SS + c]);
        float m_new = fmax(m, tmax);
        if (m_new == -INFINITY) continue; /* nothing visible to this row yet */
        float alpha = exp(m - m_new);     /* m = -inf gives 0 */
        l *= alpha;
        for (int t = 0; t < FA_DPT; t++) acc[t] *= alpha;
        for (int c = 0; c < nk; c++) {
            float p = exp(ss[r * FA_SS + c] - m_new); /* masked: exp(-inf) = 0 */
            l += p;
            for (int t = 0; t < FA_DPT; t++) acc[t] = fma(p, kvs[c * FA_QS + c0 + t * FA_TPR], acc[t]);
        }
        m = m_new;
    }

    if (!row_ok) return;
    const long row = (long)(q_lo + i) * Hq + h;
    const float inv = l > 0.0f ? 1.0f / l : 0.0f;
    for (int t = 0; t < FA_DPT; t++) {
        int d = c0 + t * FA_TPR;
        if (d < D) STOREF(out, row * D + d, acc[t] * inv);
    }
    if (has_lse && c0 == 0) lse[lse_off + row] = l > 0.0f ? m + log(l) : -INFINITY;
}
