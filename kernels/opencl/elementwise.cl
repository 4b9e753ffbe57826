/*
 * Row-wise transformer helpers: gated activations and add, RMSNorm, LayerNorm, RoPE.
 * Build options: -DT_IN=<dtype code> (the one dtype of the op's tensors);
 * binary_rows also takes -DBIN_OP=0 silu_mul, 1 gelu_mul (erf), 2 gelu_mul (tanh), 3 add.
 * Arithmetic in f32; inputs and outputs through LOADF/STOREF (common.clh).
 */

/* ---------------------------------------------------------------- gated activations, add */

#ifdef BIN_OP
/* op(g, u) on float or float4 operands */
#if BIN_OP == 0
#define BINARY(g, u) ((g) / (1.0f + exp(-(g))) * (u))                        /* silu(g) * u */
#elif BIN_OP == 1
#define BINARY(g, u) (0.5f * (g) * erfc((g) * -0.70710678118654752f) * (u))  /* g Phi(g) u */
#elif BIN_OP == 2
/* 0.5 (1 + tanh(z)) = 1 / (1 + exp(-2z)), z = sqrt(2/pi) (g + 0.044715 g^3): no cancellation */
#define BINARY(g, u) ((g) / (1.0f + exp(-1.5957691216057307f * ((g) + 0.044715f * (g) * (g) * (g)))) * (u))
#else
#define BINARY(g, u) ((g) + (u))
#endif

/* out[r][c] = op(a[r][c], b[r][c]); a, b rows with free row strides, out contiguous (it may
   be a or b itself: each work-item reads its elements before writing them).
   Global (ceil(n / 4), rows): work-item c owns elements 4c..4c+3 of its row. */
__kernel void binary_rows(const __global in_t *a, ulong a_off, long a_rs,
                          const __global in_t *b, ulong b_off, long b_rs,
                          __global in_t *out, ulong out_off, long n, long rows) {
    long c = 4 * (long)get_global_id(0), r = (long)get_global_id(1);
    if (c >= n || r >= rows) return;
    ulong ia = a_off + (ulong)(r * a_rs + c), ib = b_off + (ulong)(r * b_rs + c), io = out_off + (ulong)(r * n + c);
    if (c + 4 <= n) {
        float4 x = LOADF4(a, ia), y = LOADF4(b, ib);
        STOREF4(out, io, BINARY(x, y));
    } else {
        for (ulong j = 0; j < (ulong)(n - c); j++) {
            float x = LOADF(a, ia + j), y = LOADF(b, ib + j);
            STOREF(out, io + j, BINARY(x, y));
        }
    }
}

#if defined(MK_HALF) && BIN_OP == 3 && T_IN == 1
/* f16 add in half arithmetic (cl_khr_fp16, -DMK_HALF=1): as binary_rows, but each sum is
   one half addition, the correctly rounded (RNE) sum of two f16 values -- the reference's
   double sum of the same values is exact, so it rounds to the same f16 bits, on devices
   that keep half subnormals (CL_FP_DENORM in CL_DEVICE_HALF_FP_CONFIG; otherwise tiny
   sums flush to zero). No conversion to f32 and back. */
__kernel void binary_rows_half(const __global in_t *a, ulong a_off, long a_rs,
                               const __global in_t *b, ulong b_off, long b_rs,
                               __global in_t *out, ulong out_off, long n, long rows) {
    long c = 4 * (long)get_global_id(0), r = (long)get_global_id(1);
    if (c >= n || r >= rows) return;
    const __global half *ha = (const __global half *)a + a_off + (ulong)(r * a_rs + c);
    const __global half *hb = (const __global half *)b + b_off + (ulong)(r * b_rs + c);
    __global half *ho = (__global half *)out + out_off + (ulong)(r * n + c);
    if (c + 4 <= n) {
        vstore4(vload4(0, ha) + vload4(0, hb), 0, ho);
    } else {
        for (long j = 0; j < n - c; j++) ho[j] = ha[j] + hb[j];
    }
}
#endif
#endif

/* ---------------------------------------------------------------- norms */

/* One work-group (power-of-two size L) per row; f32 accumulation, tree reduction in local
   memory, or with -DMK_SUBGROUPS=1 sub-group reductions (MK_WG_SUM; deterministic). Work-item i owns the runs of 4 elements 4i, 4(i + L), ... and
   the tail elements n4 + i, n4 + i + L, ... (n4 = n rounded down to 4). y may be x itself:
   every item writes only the elements it reads, after the whole row is reduced. */
#define ROW_LOOP4(j) for (long j = 4 * lid; j < n4; j += 4 * L)
#define ROW_TAIL(j) for (long j = n4 + lid; j < n; j += L)

__kernel void rmsnorm(const __global in_t *x, ulong x_off, long x_rs,
                      const __global in_t *w, ulong w_off,
                      __global in_t *y, ulong y_off, long n, float eps, int plus_one,
                      __local float *scratch) {
    const long r = (long)get_group_id(0), lid = (long)get_local_id(0), L = (long)get_local_size(0);
    const long n4 = n & ~3L;
    const ulong xb = x_off + (ulong)(r * x_rs), yb = y_off + (ulong)(r * n);
    float4 acc = (float4)(0.0f);
    ROW_LOOP4(j) {
        float4 v = LOADF4(x, xb + (ulong)j);
        acc = fma(v, v, acc);
    }
    float ss = (acc.s0 + acc.s1) + (acc.s2 + acc.s3);
    ROW_TAIL(j) {
        float v = LOADF(x, xb + (ulong)j);
        ss = fma(v, v, ss);
    }
    ss = MK_WG_SUM(ss, scratch);
    const float inv = 1.0f / sqrt(ss / (float)n + eps), one = plus_one ? 1.0f : 0.0f;
    ROW_LOOP4(j) STOREF4(y, yb + (ulong)j, LOADF4(x, xb + (ulong)j) * inv * (LOADF4(w, w_off + (ulong)j) + one));
    ROW_TAIL(j) STOREF(y, yb + (ulong)j, LOADF(x, xb + (ulong)j) * inv * (LOADF(w, w_off + (ulong)j) + one));
}

/* Two passes (mean, then the biased variance of x - mean); b may be absent (has_b 0). */
__kernel void layernorm(const __global in_t *x, ulong x_off, long x_rs,
                        const __global in_t *w, ulong w_off,
                        const __global in_t *b, ulong b_off, int has_b,
                        __global in_t *y, ulong y_off, long n, float eps,
                        __local float *scratch) {
    const long r = (long)get_group_id(0), lid = (long)get_local_id(0), L = (long)get_local_size(0);
    const long n4 = n & ~3L;
    const ulong xb = x_off + (ulong)(r * x_rs), yb = y_off + (ulong)(r * n);
    float4 acc = (float4)(0.0f);
    ROW_LOOP4(j) acc += LOADF4(x, xb + (ulong)j);
    float s = (acc.s0 + acc.s1) + (acc.s2 + acc.s3);
    ROW_TAIL(j) s += LOADF(x, xb + (ulong)j);
    const float mean = MK_WG_SUM(s, scratch) / (float)n;
    acc = (float4)(0.0f);
    ROW_LOOP4(j) {
        float4 d = LOADF4(x, xb + (ulong)j) - mean;
        acc = fma(d, d, acc);
    }
    float s2 = (acc.s0 + acc.s1) + (acc.s2 + acc.s3);
    ROW_TAIL(j) {
        float d = LOADF(x, xb + (ulong)j) - mean;
        s2 = fma(d, d, s2);
    }
    const float inv = 1.0f / sqrt(MK_WG_SUM(s2, scratch) / (float)n + eps);
    ROW_LOOP4(j) {
        float4 v = (LOADF4(x, xb + (ulong)j) - mean) * inv * LOADF4(w, w_off + (ulong)j);
        if (has_b) v += LOADF4(b, b_off + (ulong)j);
        STOREF4(y, yb + (ulong)j, v);
    }
    ROW_TAIL(j) {
        float v = (LOADF(x, xb + (ulong)j) - mean) * inv * LOADF(w, w_off + (ulong)j);
        if (has_b) v += LOADF(b, b_off + (ulong)j);
        STOREF(y, yb + (ulong)j, v);
    }
}

/* ---------------------------------------------------------------- rope */

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
