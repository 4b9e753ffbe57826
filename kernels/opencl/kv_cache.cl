/*
 * Paged KV cache writes. Pools are [num_blocks][block_size][Hkv][D] (row = slot*Hkv + head);
 * quantized pools carry one f32 scale per row.
 * kv_append build options: -DT_IN=<k/v dtype> -DT_CACHE=<cache dtype> -DKV_QUANT=0 (store
 * values), 1 (i8 codes) or 2 (fp8 e4m3 codes), -DKV_PER=<elements per work-item>.
 */

#ifdef KV_QUANT
/* One work-group (power-of-two size L) per (vector, token): group g of dimension 0 is kv
   head g/2, K when g is even and V when odd; global (2 * Hkv * L, T), local (L, 1). Each
   work-item loads its KV_PER = ceil(D/L) elements once. Tokens whose slot is -1
   (padding) or out of range are skipped (the whole work-group returns).
   Value pools (KV_QUANT 0) receive the reference's conversion of the input's bits
   (LOADBITS_T / STOREBITS_T: integer operations, NaN payloads and subnormals exact).
   Quantized pools (KV_QUANT 1: i8, 2: fp8) follow the reference's rule bit for bit
   (reference/kv_cache.c): amax over the row, scale = amax / 127 (or / 448) and
   code = round(x / scale), both correctly rounded divisions; scale 0 stores codes 0. */
__kernel void kv_append(const __global in_t *k, ulong k_off, long ks0, long ks1,
                        const __global in_t *v, ulong v_off, long vs0, long vs1,
                        const __global int *slots, ulong s_off,
                        __global cache_t *kpool, __global cache_t *vpool,
                        __global float *kscale, __global float *vscale,
                        int H, int D, long nslots, __local float *scratch) {
    const int g = (int)get_group_id(0), h = g >> 1, is_v = g & 1;
    const int lid = (int)get_local_id(0), L = (int)get_local_size(0);
    const long t = (long)get_global_id(1);
    const int slot = slots[s_off + (ulong)t];
    if (slot < 0 || (long)slot >= nslots) return;
    const long row = (long)slot * H + h;
    const __global in_t *x = is_v ? v : k;
    const ulong src = is_v ? v_off + (ulong)(t * vs0 + (long)h * vs1) : k_off + (ulong)(t * ks0 + (long)h * ks1);
    __global cache_t *pool = is_v ? vpool : kpool;
    const ulong dst = (ulong)(row * D);
    /* the f32 bits the reference loads (LOADBITS_T: NaN payloads and subnormals kept) */
    uint xb[KV_PER];
    for (int e = 0; e < KV_PER; e++) {
        int j = lid + e * L;
        xb[e] = j < D ? LOADBITS_T(T_IN, x, src + (ulong)j) : 0u;
    }
#if KV_QUANT
    float xs[KV_PER];
    for (int e = 0; e < KV_PER; e++) xs[e] = as_float(xb[e]);
    float amax = 0.0f;
    for (int e = 0; e < KV_PER; e++) amax = fmax(amax, fabs(xs[e]));
    amax = mk_wg_max(amax, scratch);
    const float s = mk_div_rn(amax, KV_QUANT == 1 ? 127.0f : 448.0f);
    if (lid == 0) (is_v ? vscale : kscale)[row] = s;
    for (int e = 0; e < KV_PER; e++) {
        int j = lid + e * L;
        if (j >= D) break;
        float q = s == 0.0f ? 0.0f : mk_div_rn(xs[e], s);
#if KV_QUANT == 1
        pool[dst + (ulong)j] = (cache_t)(int)mk_rne_clamp(q, -127.0f, 127.0f);
#else
        /* q is 0 when s is. A NaN x gives the NaN code with x's own sign (the reference's
           x / s keeps the sign of a NaN x; a device's division may not) */
        pool[dst + (ulong)j] = s != 0.0f && isnan(xs[e]) ? mk_f32_bits_to_fp8(xb[e]) : mk_f32_to_fp8(q);
#endif
    }
#else
    for (int e = 0; e < KV_PER; e++) {
        int j = lid + e * L;
        if (j < D) STOREBITS_T(T_CACHE, pool, dst + (ulong)j, xb[e]);
    }
#endif
}
#endif

/* copy_blocks: pool[dst block] = pool[src block] for every (src, dst) pair, in units of
   uint (when the block's bytes allow) or uchar. Global (units per block, pairs). Pairs
   naming a block out of range are skipped. Destinations are distinct and never sources,
   so the copies are independent. */
#define COPY_BLOCKS(name, unit_t)                                                            \
    __kernel void name(__global unit_t *pool, ulong units, const __global int *pairs,         \
                       ulong p_off, long nblocks) {                                           \
        ulong u = get_global_id(0);                                                           \
        long p = (long)get_global_id(1);                                                      \
        if (u >= units) return;                                                               \
        int src = pairs[p_off + (ulong)(2 * p)], dst = pairs[p_off + (ulong)(2 * p + 1)];     \
        if (src < 0 || dst < 0 || (long)src >= nblocks || (long)dst >= nblocks) return;       \
        pool[(ulong)dst * units + u] = pool[(ulong)src * units + u];                          \
    }
COPY_BLOCKS(copy_blocks_u32, uint)
COPY_BLOCKS(copy_blocks_u8, uchar)
