/*
 * The CUDA backend's quantized-weight packing (runtime/backends/cuda/cuda_qpack.c), on the
 * CPU: no GPU and no CUDA headers needed, so it runs everywhere (never a skip).
 *
 * For random canonical weights (QW4 symmetric and asymmetric with groups 32/64/128, QW8
 * per channel and per group, QW8A8, QFP8; N = 1, 17, 33, 40, 4097; K not a multiple of
 * 128 and, for per-channel QW8, not a multiple of the tile; with and without k_perm):
 *  - pack -> unpack gives back every canonical byte (codes, scale bits, zero points);
 *  - for QW4 and QW8 (the W4A16/W8A16 kernels), a warp emulated lane by lane on the
 *    PACKED arrays — each lane's 16-byte load decoded by the bit positions documented in
 *    cuda_qpack.c, its B fragments assembled into the m16n8k16 B matrix by the PTX
 *    fragment map, the mma product taken, and each accumulator column scaled by the
 *    scale its lane loads — equals mkref_qgemm on the dequantized weights. The activations
 *    beyond K are garbage (1000) to prove that padding contributes nothing, padded
 *    positions must decode to code - zero = 0 and padded rows must come out exactly 0.
 *  - the f16/bf16 identities the kernels' register decode relies on (nibble | 0x6400 or
 *    0x4300 minus the same for the zero point is q - z exactly; byte codes through 0x64XX
 *    minus 1152), for every nibble, zero point and byte.
 * The packer is compiled into this test from its source (tests/CMakeLists.txt).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_qpack.h"
#include "mktest.h"

/* ---- the lane's view, written from the layout description, not from the packer */

static uint32_t load_word(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static double scale_value(const cuda_qpack_layout *L, const void *scales, size_t e) {
    if (L->scale_size == 2) {
        uint16_t h;
        memcpy(&h, (const uint8_t *)scales + e * 2, 2);
        return mkref_f16_to_f32(h);
    }
    float f;
    memcpy(&f, (const uint8_t *)scales + e * 4, 4);
    return f;
}

/* B fragment of lane l for k16 step ks of the tile at `tile` (512 bytes): the integer
   code - zero of (nsub, reg r, half i). */
static void lane_fragments(const cuda_qpack_layout *L, const uint8_t *tile, int l, const uint8_t *zeros_g,
                           int frag[4][2][2][2]) {
    const uint8_t *mine = tile + 16 * l;
    const int g = l / 4;
    for (int ks = 0; ks < L->tk / 16; ks++)
        for (int nsub = 0; nsub < 2; nsub++) {
            int z = L->w4 ? (zeros_g ? zeros_g[8 * nsub + g] : 8) : 0;
            for (int r = 0; r < 2; r++)
                for (int i = 0; i < 2; i++) {
                    int code;
                    if (L->w4) {
                        uint32_t w = load_word(mine + 4 * ks);
                        int p = 2 * nsub + r;
                        code = (int)((w >> (4 * p + 16 * i)) & 0xF);
                    } else {
                        uint32_t w = load_word(mine + 4 * (2 * ks + nsub));
                        code = (int)(int8_t)(uint8_t)(w >> (8 * (2 * r + i)));
                    }
                    frag[ks][nsub][r][i] = code - z;
                }
        }
}

/* y [M][N] from the packed arrays; x [M][K] read through k_perm; M <= 16 (one m16 tile). */
static void emulate_warps(const cuda_qpack_layout *L, const uint8_t *q, const void *scales,
                          const uint8_t *zeros, const int32_t *perm, const float *x, int M, double *y,
                          long *pad_nonzero) {
    const int64_t KP = L->k_tiles * L->tk;
    double *a = mkt_alloc((size_t)16 * (size_t)KP * sizeof *a); /* the A operand, padded */
    for (int m = 0; m < 16; m++)
        for (int64_t k = 0; k < KP; k++)
            a[(size_t)m * (size_t)KP + (size_t)k] =
                m >= M ? 0.0 : k >= L->k ? 1000.0 : x[(size_t)m * (size_t)L->k + (size_t)(perm ? perm[k] : k)];
    for (int64_t nt = 0; nt < L->n_tiles; nt++) {
        double acc[16][16] = {{0}}; /* [m][n within the tile] */
        for (int64_t kt = 0; kt < L->k_tiles; kt++) {
            const uint8_t *tile = q + ((size_t)nt * (size_t)L->k_tiles + (size_t)kt) * CUDA_QPACK_TILE_BYTES;
            for (int ks = 0; ks < L->tk / 16; ks++) {
                const int64_t k0 = kt * L->tk + 16 * ks;
                const int64_t gi = L->groups_p == 1 ? 0 : k0 / L->group_len;
                const size_t gbase = ((size_t)nt * (size_t)L->groups_p + (size_t)gi) * 16;
                int bm[2][16][8]; /* [nsub][k][n]: the mma's B matrices */
                for (int l = 0; l < 32; l++) {
                    int frag[4][2][2][2];
                    lane_fragments(L, tile, l, zeros ? zeros + gbase : NULL, frag);
                    for (int nsub = 0; nsub < 2; nsub++)
                        for (int r = 0; r < 2; r++)
                            for (int i = 0; i < 2; i++)
                                bm[nsub][2 * (l % 4) + 8 * r + i][l / 4] = frag[ks][nsub][r][i];
                }
                /* padding decodes to code - zero = 0, whatever the scale */
                for (int nsub = 0; nsub < 2; nsub++)
                    for (int kk = 0; kk < 16; kk++)
                        for (int col = 0; col < 8; col++)
                            if ((k0 + kk >= L->k || nt * 16 + 8 * nsub + col >= L->n) && bm[nsub][kk][col] != 0)
                                (*pad_nonzero)++;
                for (int nsub = 0; nsub < 2; nsub++)
                    for (int l = 0; l < 32; l++) /* accumulator lanes: rows g, g + 8; cols 2t + j */
                        for (int half = 0; half < 2; half++)
                            for (int j = 0; j < 2; j++) {
                                const int row = l / 4 + 8 * half, col = 2 * (l % 4) + j;
                                double part = 0.0;
                                for (int kk = 0; kk < 16; kk++)
                                    part += a[(size_t)row * (size_t)KP + (size_t)(k0 + kk)] * bm[nsub][kk][col];
                                const double s = scale_value(L, scales, gbase + (size_t)(4 * (l % 4) + 2 * nsub + j));
                                acc[row][8 * nsub + col] += s * part;
                            }
            }
        }
        for (int m = 0; m < M; m++)
            for (int nn = 0; nn < 16; nn++) {
                int64_t n = nt * 16 + nn;
                if (n < L->n) y[(size_t)m * (size_t)L->n + (size_t)n] = acc[m][nn];
                else MKT_CHECK(acc[m][nn] == 0.0, "padded row %lld gives %g", (long long)n, acc[m][nn]);
            }
    }
    free(a);
}

/* ---- cases */

static void random_weight(const mk_qweight_desc *d, mk_qweight_data *w, int with_perm, uint64_t salt) {
    mkref_rng r;
    mkt_rng(&r, salt);
    for (int64_t n = 0; n < d->n; n++)
        for (int64_t k = 0; k < d->k; k++) {
            int code;
            switch (d->format) {
            case MK_QW4: code = (int)mkref_rng_range(&r, 0, 15); break;
            case MK_QFP8: code = (int)mkref_rng_range(&r, 0, 255); break;
            default: code = (int)mkref_rng_range(&r, -127, 127); break;
            }
            mkref_qweight_set_code(d, w, n, k, code);
        }
    size_t ns = (size_t)(d->n * mkref_qweight_groups(d));
    for (size_t i = 0; i < ns; i++) {
        float s = (float)(0.01 * (0.25 + mkref_rng_uniform(&r)) * (mkref_rng_uniform(&r) < 0.5 ? -1 : 1));
        if (d->format == MK_QW4 || d->format == MK_QW8) ((uint16_t *)w->scales)[i] = mkref_f32_to_f16(s);
        else ((float *)w->scales)[i] = s;
    }
    if (w->zeros)
        for (size_t i = 0; i < ns; i++) ((uint8_t *)w->zeros)[i] = (uint8_t)mkref_rng_range(&r, 0, 15);
    if (with_perm) {
        for (int64_t k = 0; k < d->k; k++) w->k_perm[k] = (int32_t)k;
        for (int64_t k = d->k - 1; k > 0; k--) {
            int64_t j = mkref_rng_range(&r, 0, k);
            int32_t t = w->k_perm[k];
            w->k_perm[k] = w->k_perm[j];
            w->k_perm[j] = t;
        }
    }
}

static void run_case(mk_qformat fmt, int64_t n, int64_t k, int group, int asym, int perm, uint64_t salt) {
    mk_qweight_desc d = {fmt, n, k, group, asym};
    char what[96];
    snprintf(what, sizeof what, "format %d n %lld k %lld group %d%s%s", (int)fmt, (long long)n, (long long)k,
             group, asym ? " asym" : "", perm ? " k_perm" : "");
    mk_qweight_data w, back;
    MKT_OK(mk_qweight_data_alloc(&d, asym, perm, &w));
    MKT_OK(mk_qweight_data_alloc(&d, asym, perm, &back));
    random_weight(&d, &w, perm, salt);
    cuda_qpack_layout L;
    MKT_CHECK(cuda_qpack_plan(&d, &L), "%s: plan refused", what);
    MKT_CHECK(L.q_bytes % CUDA_QPACK_TILE_BYTES == 0 && L.n_tiles * 16 >= n && L.k_tiles * L.tk >= k &&
                  (L.n_tiles - 1) * 16 < n && (L.k_tiles - 1) * L.tk < k,
              "%s: tile counts", what);
    uint8_t *q = mkt_alloc(L.q_bytes), *z = L.zero_bytes ? mkt_alloc(L.zero_bytes) : NULL;
    void *s = mkt_alloc(L.scale_bytes);
    cuda_qpack_pack(&d, &L, &w, q, s, z);

    memset(back.q, 0xA5, mkref_qweight_q_bytes(&d));
    memset(back.scales, 0xA5, mkref_qweight_scale_bytes(&d));
    if (back.zeros) memset(back.zeros, 0xA5, mkref_qweight_zero_bytes(&d));
    cuda_qpack_unpack(&d, &L, q, s, z, &back);
    MKT_CHECK(!memcmp(back.q, w.q, mkref_qweight_q_bytes(&d)), "%s: codes differ after unpack", what);
    MKT_CHECK(!memcmp(back.scales, w.scales, mkref_qweight_scale_bytes(&d)), "%s: scales differ after unpack", what);
    if (asym) MKT_CHECK(!memcmp(back.zeros, w.zeros, mkref_qweight_zero_bytes(&d)), "%s: zeros differ", what);

    if (fmt == MK_QW4 || fmt == MK_QW8) {
        const int M = 3;
        float *x = mkt_random(MK_F16, (size_t)M * (size_t)k, 1.0f, 0.0f);
        float *yr = mkt_alloc((size_t)M * (size_t)n * sizeof *yr);
        double *ye = mkt_alloc((size_t)M * (size_t)n * sizeof *ye);
        mkref_qgemm(&d, &w, x, M, NULL, yr);
        long pad_nonzero = 0;
        emulate_warps(&L, q, s, z, perm ? w.k_perm : NULL, x, M, ye, &pad_nonzero);
        MKT_CHECK(pad_nonzero == 0, "%s: %ld padded codes decode to a nonzero code - zero", what, pad_nonzero);
        int bad = 0;
        for (int m = 0; m < M && bad < 5; m++)
            for (int64_t j = 0; j < n && bad < 5; j++) {
                double sum_abs = 0.0;
                for (int64_t kk = 0; kk < k; kk++)
                    sum_abs += fabs((double)x[m * k + (perm ? w.k_perm[kk] : kk)] * mkref_qweight_value(&d, &w, j, kk));
                double ref = yr[m * n + j], got = ye[m * n + j];
                double tol = fabs(ref) * 0x1p-23 + sum_abs * 1e-12;
                if (!(fabs(got - ref) <= tol)) bad++;
                MKT_CHECK(fabs(got - ref) <= tol, "%s: y[%d][%lld] = %.9g from the packed layout, reference %.9g",
                          what, m, (long long)j, got, ref);
            }
        free(x);
        free(yr);
        free(ye);
    }
    free(q);
    free(s);
    free(z);
    mk_qweight_data_free(&w);
    mk_qweight_data_free(&back);
}

/* The kernels' register decode (kernels/cuda/qgemm_w4a16.cu) rests on these identities
   of the 16-bit formats: a nibble OR'ed under an exponent gives an exact integer offset,
   and the difference of two such halves is q - z exactly; likewise for bytes. */
static void check_decode_constants(void) {
    int bad = 0;
    for (int q = 0; q < 16; q++)
        for (int z = 0; z < 16; z++) {
            float f = mkref_f16_to_f32((uint16_t)(0x6400 | q)) - mkref_f16_to_f32((uint16_t)(0x6400 | z));
            float b = mkref_bf16_to_f32((uint16_t)(0x4300 | q)) - mkref_bf16_to_f32((uint16_t)(0x4300 | z));
            /* the difference rounded back to the 16-bit type (what sub.f16x2 stores) */
            if (mkref_f16_to_f32(mkref_f32_to_f16(f)) != (float)(q - z) ||
                mkref_bf16_to_f32(mkref_f32_to_bf16(b)) != (float)(q - z))
                bad++;
        }
    for (int c = -128; c < 128; c++) {
        uint16_t h = (uint16_t)(0x6400 | (uint8_t)((uint8_t)c ^ 0x80));
        float f = mkref_f16_to_f32(h) - mkref_f16_to_f32(0x6480);
        if (mkref_f16_to_f32(mkref_f32_to_f16(f)) != (float)c) bad++;
    }
    MKT_CHECK(bad == 0, "%d decode identities of the kernels fail", bad);
}

int main(int argc, char **argv) {
    mkt_init(argc, argv, "cuda_qpack");
    check_decode_constants();
    /* QW4: every group size, symmetric and asymmetric, odd N, K not a multiple of 128 */
    run_case(MK_QW4, 33, 96, 32, 0, 1, 1);
    run_case(MK_QW4, 33, 96, 32, 1, 0, 2);
    run_case(MK_QW4, 4097, 192, 64, 1, 1, 3);
    run_case(MK_QW4, 17, 192, 64, 0, 0, 4);
    run_case(MK_QW4, 1, 256, 128, 0, 1, 5);
    run_case(MK_QW4, 40, 384, 128, 1, 1, 6);
    run_case(MK_QW4, 16, 64, 32, 1, 0, 7);
    /* QW8: per channel (K = 100, 8: not a multiple of the 32-wide tile) and per group */
    run_case(MK_QW8, 33, 100, 0, 0, 1, 8);
    run_case(MK_QW8, 4097, 8, 0, 0, 0, 9);
    run_case(MK_QW8, 1, 96, 32, 0, 1, 10);
    run_case(MK_QW8, 40, 192, 64, 0, 0, 11);
    run_case(MK_QW8, 17, 256, 128, 0, 1, 12);
    /* W8A8 and FP8: storage only (their kernels are not written yet) */
    run_case(MK_QW8A8, 5, 40, 0, 0, 1, 13);
    run_case(MK_QFP8, 33, 70, 0, 0, 0, 14);

    /* formats the packer cannot describe are refused, not guessed */
    mk_qweight_desc bad = {(mk_qformat)99, 4, 32, 0, 0};
    cuda_qpack_layout L;
    MKT_CHECK(!cuda_qpack_plan(&bad, &L), "an unknown format was accepted");
    bad = (mk_qweight_desc){MK_QW4, 4, 0, 32, 0};
    MKT_CHECK(!cuda_qpack_plan(&bad, &L), "k = 0 was accepted");
    /* a scale group that ends inside a k16 mma step (the API allows only 32/64/128) */
    bad = (mk_qweight_desc){MK_QW4, 4, 72, 24, 0};
    MKT_CHECK(!cuda_qpack_plan(&bad, &L), "a group of 24 (not a multiple of 16) was accepted");
    bad = (mk_qweight_desc){MK_QW8, 4, 72, 0, 0};
    MKT_CHECK(cuda_qpack_plan(&bad, &L) && L.groups_p == 1, "per-channel K = 72 was refused");
    return mkt_finish();
}
