/*
 * Elementwise binary ops on rows: the gated activations (silu_mul, gelu_mul) and add.
 * Build options: -DT_IN=<dtype code> (the one dtype of the op's tensors) and
 * -DBIN_OP=0 silu_mul, 1 gelu_mul (erf), 2 gelu_mul (tanh), 3 add; -DMK_HALF=1 with
 * BIN_OP 3 and T_IN 1 adds binary_rows_half.
 * Arithmetic in f32; inputs and outputs through LOADF/STOREF (common.clh).
 */

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
