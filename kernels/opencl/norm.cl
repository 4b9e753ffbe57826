/*
 * Row normalisation: rmsnorm (plain and 1 + w) and layernorm.
 * Build options: -DT_IN=<dtype code>; -DMK_SUBGROUPS=1 reduces with sub-groups.
 * Arithmetic in f32; inputs and outputs through LOADF/STOREF (common.clh).
 */

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
