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
 * fixed order (deterministic, no atomics). splitkv_decode_item (DEC_ITEM, for CPU
 * drivers) does the same work with one work-item per split: see its section.
 *
 * Cache rows: K/V [num_blocks][block_size][Hkv][D]; the row of (slot, hk) is
 * slot * Hkv + hk; I8/FP8 caches hold codes and one f32 scale per row: x = scale * code.
 *
 * Build options: T_IN (dtype code of q and out), T_CACHE (of the cache: f32, f16, bf16,
 * fp8, i8; common.clh), DEC_DMAX (power of two >= D; also the work-group size), DEC_GMAX
 * (heads per work-group), DEC_BK (keys per tile); with DEC_ITEM: DEC_D (the head dim, a
 * multiple of 16), DEC_G (query heads per kv head), DEC_HPW (kv heads per work-item),
 * DEC_BT (tokens per tile), DEC_PREFETCH (tiles to prefetch ahead, clang-based drivers).
 * OpenCL C 1.2.
 */

#if T_CACHE >= 3 /* fp8 / i8 codes times the row's scale */
#define DEC_VAL(p, sc, row, d) ((sc)[row] * LOADF_T(T_CACHE, p, (row) * D + (d)))
#else
#define DEC_VAL(p, sc, row, d) LOADF_T(T_CACHE, p, (row) * D + (d))
#endif

#ifndef DEC_ITEM /* the work-group kernel */
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

#endif

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

/* ------------------------------------------------------------ one work-item per split (CPU) */

/* splitkv_decode_item (for CPU drivers, host option DEC_ITEM): one work-item owns
   (sequence b, DEC_HPW consecutive kv heads with their DEC_G query heads each, split s)
   and walks the split's keys in tiles of DEC_BT tokens with explicit 16-wide vectors over
   the head dim (DEC_D, a multiple of 16, compile-time), so nothing depends on the driver
   vectorizing across work-items. A token's kv heads are adjacent in the cache, so the
   rows of one token are read as one contiguous run. Per tile: the scores of every
   (head, token) (q . k with 16-wide fmas, then one horizontal sum), the online-softmax
   update on 16-wide vectors of a head's scores (exp vectorized), then o += p * v. The
   split's unnormalised output and (m, l) go to the same scratch as splitkv_decode's, or
   the final output with one split; splitkv_merge combines them. */
#ifdef DEC_ITEM
#define DEC_C (DEC_D / 16)         /* 16-wide chunks per row      */
#define DEC_NH (DEC_HPW * DEC_G)   /* query heads per work-item   */
#if DEC_BT != 16
#error "DEC_BT must be 16 (a head's scores of a tile are one 16-wide vector)"
#endif

#if T_CACHE == 0
#define DEC_LOAD16(p, e) vload16(0, (p) + (e))
#elif T_CACHE == 1
#define DEC_LOAD16(p, e) vload_half16(0, (__global const half *)((p) + (e)))
#elif T_CACHE == 2
#define DEC_LOAD16(p, e) as_float16(convert_uint16(vload16(0, (p) + (e))) << 16)
#elif T_CACHE == 4
#define DEC_LOAD16(p, e) convert_float16(vload16(0, (p) + (e)))
#else
/* fp8 e4m3fn codes, 16 at a time, exactly as mk_fp8_bits_to_f32 */
inline float16 dec_fp8x16(uchar16 b) {
    const uint16 u = convert_uint16(b), e = (u >> 3) & 15u, m = u & 7u, sign = (u & 0x80u) << 24;
    const float16 normal = as_float16(sign | ((e + 120u) << 23) | (m << 20));
    const float16 sub = as_float16(sign | as_uint16(convert_float16(m) * 0x1p-9f));
    const float16 v = select(normal, sub, as_int16(e) == 0);
    return select(v, as_float16(sign | 0x7FC00000u), as_int16(e) == 15 && as_int16(m) == 7);
}
#define DEC_LOAD16(p, e) dec_fp8x16(vload16(0, (p) + (e)))
#endif

inline float dec_hsum16(float16 v) {
    const float8 a = v.lo + v.hi;
    const float4 b = a.lo + a.hi;
    const float2 c = b.lo + b.hi;
    return c.x + c.y;
}

/* Lane t of the result = the sum of the 16 lanes of p[t] (16 horizontal sums at once:
   4 levels of pairwise shuffles and adds instead of 4 steps per vector). */
inline float16 dec_hsum16x16(const float16 *p) {
    float16 c[8], d[4], e[2];
    for (int i = 0; i < 8; i++) /* lanes 0-7: 8 partials of p[2i], 8-15: of p[2i+1] */
        c[i] = (float16)(p[2 * i].lo, p[2 * i + 1].lo) + (float16)(p[2 * i].hi, p[2 * i + 1].hi);
    for (int i = 0; i < 4; i++) /* 4 partials each of p[4i .. 4i+3] */
        d[i] = (float16)(c[2 * i].s0123, c[2 * i].s89ab, c[2 * i + 1].s0123, c[2 * i + 1].s89ab) +
               (float16)(c[2 * i].s4567, c[2 * i].scdef, c[2 * i + 1].s4567, c[2 * i + 1].scdef);
    for (int i = 0; i < 2; i++) /* 2 partials each of p[8i .. 8i+7] */
        e[i] = (float16)(d[2 * i].s01, d[2 * i].s45, d[2 * i].s89, d[2 * i].scd, d[2 * i + 1].s01,
                         d[2 * i + 1].s45, d[2 * i + 1].s89, d[2 * i + 1].scd) +
               (float16)(d[2 * i].s23, d[2 * i].s67, d[2 * i].sab, d[2 * i].sef, d[2 * i + 1].s23,
                         d[2 * i + 1].s67, d[2 * i + 1].sab, d[2 * i + 1].sef);
    return (float16)(e[0].even, e[1].even) + (float16)(e[0].odd, e[1].odd);
}

inline float dec_hmax16(float16 v) {
    const float8 a = fmax(v.lo, v.hi);
    const float4 b = fmax(a.lo, a.hi);
    const float2 c = fmax(b.lo, b.hi);
    return fmax(c.x, c.y);
}

__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void splitkv_decode_item(
    __global const in_t *q, ulong q_off, long q_s0, long q_s1,
    __global const cache_t *kc, __global const cache_t *vc, __global const float *ksc,
    __global const float *vsc,
    __global const int *bt, ulong bt_off, int max_blocks, __global const int *ctx_lens,
    ulong cl_off, __global in_t *out, ulong out_off, __global float *part_o, ulong ml_off,
    int Hq, int Hkv, int D, int block_size, int num_blocks,
    float scale, int window, float softcap, int nsplit, int chunk, int G, int HG) {
    const int hk0 = (int)get_global_id(0) * DEC_HPW, b = (int)get_global_id(1), s = (int)get_global_id(2);
    const int h0 = hk0 * DEC_G;
    q += q_off, bt += bt_off + (long)b * max_blocks, out += out_off;

    const int len = clamp(ctx_lens[cl_off + b], 0, max_blocks * block_size);
    const int lo = window >= 0 ? max(0, len - 1 - window) : 0;
    const int k_begin = lo + s * chunk, k_end = min(len, k_begin + chunk);

    float16 qv[DEC_NH][DEC_C], acc[DEC_NH][DEC_C];
    float m[DEC_NH], l[DEC_NH];
    for (int h = 0; h < DEC_NH; h++) {
        for (int c = 0; c < DEC_C; c++) {
            float t[16];
            for (int i = 0; i < 16; i++) t[i] = LOADF(q, (long)b * q_s0 + (long)(h0 + h) * q_s1 + 16 * c + i);
            qv[h][c] = vload16(0, t);
            acc[h][c] = 0.0f;
        }
        m[h] = -INFINITY, l[h] = 0.0f;
    }

    const int16 lane = (int16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    for (int j0 = k_begin; j0 < k_end; j0 += DEC_BT) {
        const int nk = min(DEC_BT, k_end - j0);
        long rows[DEC_BT];
        float sc[DEC_NH][DEC_BT];
        float16 pv[DEC_NH][DEC_BT]; /* per (head, token): 16 partial sums of q . k */
#if T_CACHE >= 3
        float ksv[DEC_HPW][DEC_BT];
#endif
        for (int t = 0, bi = j0 / block_size, off = j0 - bi * block_size; t < nk; t++) {
            rows[t] = ((long)clamp(bt[bi], 0, num_blocks - 1) * block_size + off) * Hkv + hk0;
            if (++off == block_size) off = 0, bi++;
        }
#if defined(DEC_PREFETCH) && defined(__clang__)
        /* Software prefetch of the K and V rows DEC_PREFETCH tiles ahead, every 64-byte
           line: a tile's rows are a run of blocks scattered over the pool, which the
           hardware prefetchers only pick up after a few misses per page. */
        for (int t = 0, jn = j0 + DEC_PREFETCH * DEC_BT, bi = jn / block_size, off = jn - bi * block_size;
             t < DEC_BT && jn + t < k_end; t++) {
            const long r = ((long)clamp(bt[bi], 0, num_blocks - 1) * block_size + off) * Hkv + hk0;
            for (int e = 0; e < DEC_HPW * DEC_D; e += 64 / (int)sizeof(cache_t)) {
                __builtin_prefetch(kc + r * DEC_D + e);
                __builtin_prefetch(vc + r * DEC_D + e);
            }
            if (++off == block_size) off = 0, bi++;
        }
#endif
        /* scores */
        for (int t = 0; t < nk; t++)
            for (int hh = 0; hh < DEC_HPW; hh++) {
                const long row = rows[t] + hh;
                float16 k[DEC_C];
#pragma unroll
                for (int c = 0; c < DEC_C; c++) k[c] = DEC_LOAD16(kc, row * DEC_D + 16 * c);
#if T_CACHE >= 3
                ksv[hh][t] = ksc[row];
#endif
#pragma unroll
                for (int g = 0; g < DEC_G; g++) {
                    const int h = hh * DEC_G + g;
                    float16 p0 = qv[h][0] * k[0], p1 = 0.0f;
#pragma unroll
                    for (int c = 1; c < DEC_C; c++) {
                        if (c & 1) p1 = fma(qv[h][c], k[c], p1);
                        else p0 = fma(qv[h][c], k[c], p0);
                    }
                    pv[h][t] = p0 + p1;
                }
            }
        for (int t = nk; t < DEC_BT; t++) /* the lanes past the tile's end (masked below) */
            for (int h = 0; h < DEC_NH; h++) pv[h][t] = 0.0f;
#if T_CACHE >= 3
        for (int t = nk; t < DEC_BT; t++)
            for (int hh = 0; hh < DEC_HPW; hh++) ksv[hh][t] = 0.0f;
#endif
        /* online softmax, a head's 16 scores at a time; sc gets p */
        for (int h = 0; h < DEC_NH; h++) {
#if T_CACHE >= 3
            float16 x = dec_hsum16x16(pv[h]) * vload16(0, ksv[h / DEC_G]) * scale;
#else
            float16 x = dec_hsum16x16(pv[h]) * scale;
#endif
            if (softcap > 0.0f) x = softcap * tanh(x / softcap);
            x = select(x, (float16)(-INFINITY), lane >= nk);
            const float m_new = fmax(m[h], dec_hmax16(x));
            const float alpha = m_new == -INFINITY ? 1.0f : exp(m[h] - m_new);
            const float16 p = select(exp(x - m_new), (float16)0.0f, isinf(x) && x < 0.0f);
            l[h] = l[h] * alpha + dec_hsum16(p);
            m[h] = m_new;
            vstore16(p, 0, sc[h]);
#pragma unroll
            for (int c = 0; c < DEC_C; c++) acc[h][c] *= alpha;
        }
        /* o += p v */
        for (int t = 0; t < nk; t++)
            for (int hh = 0; hh < DEC_HPW; hh++) {
                const long row = rows[t] + hh;
                float16 v[DEC_C];
#pragma unroll
                for (int c = 0; c < DEC_C; c++) v[c] = DEC_LOAD16(vc, row * DEC_D + 16 * c);
#if T_CACHE >= 3
                const float vs = vsc[row];
#endif
#pragma unroll
                for (int g = 0; g < DEC_G; g++) {
                    const int h = hh * DEC_G + g;
#if T_CACHE >= 3
                    const float p = sc[h][t] * vs;
#else
                    const float p = sc[h][t];
#endif
#pragma unroll
                    for (int c = 0; c < DEC_C; c++) acc[h][c] = fma(p, v[c], acc[h][c]);
                }
            }
    }

    for (int h = 0; h < DEC_NH; h++) {
        const long bh = (long)b * Hq + h0 + h;
        if (nsplit == 1) {
            for (int c = 0; c < DEC_C; c++) {
                float t[16];
                vstore16(acc[h][c], 0, t);
                for (int i = 0; i < 16; i++) STOREF(out, bh * DEC_D + 16 * c + i, l[h] > 0.0f ? t[i] / l[h] : 0.0f);
            }
        } else {
            const long ps = bh * nsplit + s;
            for (int c = 0; c < DEC_C; c++) vstore16(acc[h][c], 0, part_o + ps * DEC_D + 16 * c);
            part_o[ml_off + 2 * ps] = m[h], part_o[ml_off + 2 * ps + 1] = l[h];
        }
    }
}
#endif
