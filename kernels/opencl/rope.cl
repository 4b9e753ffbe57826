/*
 * Rotary position embedding, in place, both pair styles.
 * Build options: -DT_IN=<dtype code>.
 * Arithmetic in f32; inputs and outputs through LOADF/STOREF (common.clh).
 */

/* In place on x [T][H][D] (strides s0, s1; last dim stride 1). inv_freq[i] = (hi, lo):
   the host's double inverse frequency of pair i as the sum of two floats, so the angle
   pos * inv_freq keeps ~40 bits; it is reduced modulo 2 pi exactly (Cody-Waite with fma)
   before the float sin/cos. style 0: pairs (i, i + R/2); 1: pairs (2i, 2i + 1).
   Global (R/2, H, T). */
__kernel void rope(__global in_t *x, ulong x_off, long s0, long s1,
                   const __global int *pos, ulong pos_off,
                   const __global float2 *inv_freq, int half_r, int style, long T, int H) {
    int i = (int)get_global_id(0), h = (int)get_global_id(1);
    long t = (long)get_global_id(2);
    if (i >= half_r || h >= H || t >= T) return;
    float p = (float)pos[pos_off + (ulong)t];
    float2 f = inv_freq[i];
    float a_hi = p * f.x;
    float a_lo = fma(p, f.x, -a_hi) + p * f.y;             /* a_hi + a_lo = p * (hi + lo) */
    float k = rint(a_hi * 0.15915494309189535f);            /* turns */
    float red = fma(-k, 6.28318548202514648f, a_hi);         /* exact: see Cody-Waite */
    red = fma(-k, -1.7484555314695172e-07f, red) + a_lo;    /* 2 pi = hi + lo */
    float c, sn = sincos(red, &c);
    ulong base = x_off + (ulong)(t * s0 + (long)h * s1);
    ulong ia = base + (ulong)(style ? 2 * i : i), ib = base + (ulong)(style ? 2 * i + 1 : i + half_r);
    float x0 = LOADF(x, ia), x1 = LOADF(x, ib);
    STOREF(x, ia, x0 * c - x1 * sn);
    STOREF(x, ib, x1 * c + x0 * sn);
}
