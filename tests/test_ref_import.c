/*
 * Importers of the reference (reference/import.c) on blocks built bit by bit:
 *  - GPTQ symmetric and asymmetric with a few chosen nibbles, zeros and scales whose
 *    dequantized values are written out by hand;
 *  - GPTQ act-order (a non-monotonic g_idx): the k_perm, the canonical values, and a GEMM
 *    through the imported weight against the GEMM on the original row order;
 *  - AWQ's interleaved nibble order, by hand and on random codes packed with the forward
 *    order table;
 *  - GGUF Q4_0 and Q8_0 blocks (nibble halves, f16 d, int8 -128..127);
 *  - rejections: g_idx groups of the wrong size or out of range, zero 16, a missing
 *    k_perm, a desc that does not match, unknown GGUF type; nothing written on failure.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mktest.h"

typedef struct {
    mk_qweight_desc d;
    mk_qweight_data w;
} canon;

static void qw_alloc(canon *q, const mk_qweight_desc *d, int with_perm) {
    memset(q, 0, sizeof *q);
    q->d = *d;
    q->w.q = malloc(mkref_qweight_q_bytes(d));
    q->w.scales = malloc(mkref_qweight_scale_bytes(d));
    if (mkref_qweight_zero_bytes(d)) q->w.zeros = malloc(mkref_qweight_zero_bytes(d));
    if (with_perm) q->w.k_perm = malloc((size_t)d->k * sizeof(int32_t));
    /* poison: an element the importer forgets to write shows up */
    memset(q->w.q, 0xAB, mkref_qweight_q_bytes(d));
    memset(q->w.scales, 0xAB, mkref_qweight_scale_bytes(d));
    if (q->w.zeros) memset(q->w.zeros, 0xAB, mkref_qweight_zero_bytes(d));
    if (q->w.k_perm) memset(q->w.k_perm, 0xAB, (size_t)d->k * sizeof(int32_t));
}

static void qw_free(canon *q) {
    free(q->w.q);
    free(q->w.scales);
    free(q->w.zeros);
    free(q->w.k_perm);
}

/* 1 when no byte of the output arrays changed from the 0xAB poison. */
static int untouched(const canon *q) {
    const uint8_t *p = q->w.q;
    for (size_t i = 0; i < mkref_qweight_q_bytes(&q->d); i++)
        if (p[i] != 0xAB) return 0;
    p = q->w.scales;
    for (size_t i = 0; i < mkref_qweight_scale_bytes(&q->d); i++)
        if (p[i] != 0xAB) return 0;
    return 1;
}

static void expect_rejection(const char *what, mk_status st, const char *msg, const char *needle) {
    MKT_CHECK(st == MK_ERR_INVALID_ARGUMENT, "%s: status %d, want MK_ERR_INVALID_ARGUMENT", what, (int)st);
    MKT_CHECK(strstr(msg, needle) != NULL, "%s: message '%s' does not name '%s'", what, msg, needle);
}

static uint16_t f16(float x) { return mkref_f32_to_f16(x); }

/* ------------------------------------------------------------ GPTQ by hand */

/* N = 8 outputs, K = 64 inputs, groups of 32.
   qweight[0][0] = 0x76543210: inputs 0..7 of output 0 have codes 0..7
   qweight[0][1] = 0xFEDCBA98: inputs 0..7 of output 1 have codes 8..15
   qweight[5][0] = 0x0000000F: input 40 of output 0 has code 15, inputs 41..47 code 0
   every other word 0x88888888 (code 8).
   scales: group 0: output 0 -> 0.5, output 1 -> 2, others 1; group 1: 0.25. */
enum { GN = 8, GK = 64, GG = 32 };

static void gptq_hand_blocks(uint32_t *qweight, uint16_t *scales) {
    for (int i = 0; i < GK / 8 * GN; i++) qweight[i] = 0x88888888u;
    qweight[0 * GN + 0] = 0x76543210u;
    qweight[0 * GN + 1] = 0xFEDCBA98u;
    qweight[5 * GN + 0] = 0x0000000Fu;
    for (int n = 0; n < GN; n++) {
        scales[0 * GN + n] = f16(n == 0 ? 0.5f : n == 1 ? 2.0f : 1.0f);
        scales[1 * GN + n] = f16(0.25f);
    }
}

static void check_gptq_by_hand(int symmetric) {
    uint32_t qweight[GK / 8 * GN], qzeros[GK / GG * GN / 8];
    uint16_t scales[GK / GG * GN];
    gptq_hand_blocks(qweight, scales);
    if (symmetric) {
        /* garbage zeros (stored 15 = zero 16) must be ignored by a symmetric import */
        qzeros[0] = qzeros[1] = 0xFFFFFFFFu;
    } else {
        qzeros[0] = 0x00000003u | (0x6u << 4); /* group 0: output 0 stored 3 (zero 4), output 1 stored 6 (7), others 0 (1) */
        qzeros[1] = 0x77777777u;               /* group 1: zero 8 everywhere */
    }
    int32_t g_idx[GK];
    for (int i = 0; i < GK; i++) g_idx[i] = i / GG;
    mk_gptq_tensors in = {(const int32_t *)qweight, (const int32_t *)qzeros, scales, NULL, GN, GK, GG, symmetric};
    for (int with_gidx = 0; with_gidx < 2; with_gidx++) {
        in.g_idx = with_gidx ? g_idx : NULL; /* the default g_idx = i/group needs no permutation */
        mk_qweight_desc d;
        int needs_perm = -1;
        MKT_CHECK(mkref_gptq_desc(&in, &d, &needs_perm) == MK_OK, "gptq_desc");
        MKT_CHECK(d.format == MK_QW4 && d.n == GN && d.k == GK && d.group_size == GG &&
                      d.asymmetric == !symmetric && needs_perm == 0,
                  "gptq_desc fields (sym %d, g_idx %d)", symmetric, with_gidx);
        canon q;
        qw_alloc(&q, &d, 0);
        char msg[256] = "";
        mk_status st = mkref_import_gptq(&in, &d, &q.w, msg, sizeof msg);
        MKT_CHECK(st == MK_OK, "import_gptq: %s", msg);

        /* output 0, inputs 0..7: scale 0.5, codes 0..7, zero 8 (sym) or 4 (asym) */
        const float w0_sym[8] = {-4.0f, -3.5f, -3.0f, -2.5f, -2.0f, -1.5f, -1.0f, -0.5f};
        const float w0_asym[8] = {-2.0f, -1.5f, -1.0f, -0.5f, 0.0f, 0.5f, 1.0f, 1.5f};
        /* output 1, inputs 0..7: scale 2, codes 8..15, zero 8 (sym) or 7 (asym) */
        const float w1_sym[8] = {0, 2, 4, 6, 8, 10, 12, 14};
        const float w1_asym[8] = {2, 4, 6, 8, 10, 12, 14, 16};
        for (int r = 0; r < 8; r++) {
            float a = mkref_qweight_value(&d, &q.w, 0, r), b = mkref_qweight_value(&d, &q.w, 1, r);
            MKT_CHECK(a == (symmetric ? w0_sym : w0_asym)[r], "gptq sym %d W[0][%d] = %g", symmetric, r, (double)a);
            MKT_CHECK(b == (symmetric ? w1_sym : w1_asym)[r], "gptq sym %d W[1][%d] = %g", symmetric, r, (double)b);
            MKT_CHECK(mkref_qweight_code(&d, &q.w, 0, r) == r && mkref_qweight_code(&d, &q.w, 1, r) == 8 + r,
                      "gptq codes of inputs %d", r);
        }
        /* group 1 (scale 0.25, zero 8 both ways): input 40 code 15 -> 1.75, input 41 code 0 -> -2 */
        MKT_CHECK(mkref_qweight_value(&d, &q.w, 0, 40) == 1.75f && mkref_qweight_value(&d, &q.w, 0, 41) == -2.0f &&
                      mkref_qweight_value(&d, &q.w, 3, 40) == 0.0f,
                  "gptq group 1 values");
        /* output 2, input 8 (code 8): scale 1, zero 8 (sym) or 1 (asym) */
        MKT_CHECK(mkref_qweight_value(&d, &q.w, 2, 8) == (symmetric ? 0.0f : 7.0f), "gptq W[2][8] = %g",
                  (double)mkref_qweight_value(&d, &q.w, 2, 8));
        if (!symmetric) {
            const uint8_t *z = q.w.zeros; /* [n][groups] */
            MKT_CHECK(z[0 * 2 + 0] == 4 && z[1 * 2 + 0] == 7 && z[2 * 2 + 0] == 1 && z[7 * 2 + 0] == 1 &&
                          z[0 * 2 + 1] == 8 && z[5 * 2 + 1] == 8,
                      "gptq canonical zeros");
        }
        const uint16_t *s = q.w.scales; /* [n][groups] */
        MKT_CHECK(s[0] == 0x3800 && s[1] == 0x3400 && s[2] == 0x4000 && s[3] == 0x3400 && s[4] == 0x3C00,
                  "gptq canonical scales transposed to [n][group]");
        qw_free(&q);
    }
}

/* ------------------------------------------------------------ GPTQ act-order */

static void check_gptq_act_order(void) {
    mkref_rng r;
    mkt_rng(&r, 11);
    enum { N = 16, K = 128, G = 32, NG = K / G };
    int codes[K][N], zeros[NG][N];
    uint16_t scales[NG * N];
    uint32_t qweight[K / 8 * N], qzeros[NG * N / 8];
    int32_t g_idx[K];
    /* act-order: rows 4g'..4g'+3 cycle through the groups 0,1,2,3,0,1,... (non-monotonic) */
    for (int i = 0; i < K; i++) g_idx[i] = (i / 4) % NG;
    memset(qweight, 0, sizeof qweight);
    memset(qzeros, 0, sizeof qzeros);
    for (int k = 0; k < K; k++)
        for (int n = 0; n < N; n++) {
            codes[k][n] = (int)mkref_rng_range(&r, 0, 15);
            qweight[(k / 8) * N + n] |= (uint32_t)codes[k][n] << (4 * (k % 8));
        }
    for (int g = 0; g < NG; g++)
        for (int n = 0; n < N; n++) {
            zeros[g][n] = (int)mkref_rng_range(&r, 1, 15);
            qzeros[g * (N / 8) + n / 8] |= (uint32_t)(zeros[g][n] - 1) << (4 * (n % 8));
            scales[g * N + n] = f16((float)(0.01 * (1 + mkref_rng_uniform(&r))));
        }
    mk_gptq_tensors in = {(const int32_t *)qweight, (const int32_t *)qzeros, scales, g_idx, N, K, G, 0};
    mk_qweight_desc d;
    int needs_perm = 0;
    MKT_CHECK(mkref_gptq_desc(&in, &d, &needs_perm) == MK_OK && needs_perm == 1, "act-order needs a k_perm");
    canon q;
    qw_alloc(&q, &d, 1);
    char msg[256] = "";
    MKT_CHECK(mkref_import_gptq(&in, &d, &q.w, msg, sizeof msg) == MK_OK, "import act-order: %s", msg);

    /* group 0 = rows 0-3, 16-19, 32-35, ...; group 1 = rows 4-7, 20-23, ...: stable order */
    int bad_perm = 0;
    for (int j = 0; j < K; j++) {
        int g = j / G, t = j % G;
        int want = (t / 4) * 16 + g * 4 + t % 4;
        if (q.w.k_perm[j] != want) bad_perm++;
    }
    MKT_CHECK(bad_perm == 0 && q.w.k_perm[0] == 0 && q.w.k_perm[4] == 16 && q.w.k_perm[32] == 4 &&
                  q.w.k_perm[127] == 127,
              "act-order k_perm (%d wrong)", bad_perm);

    /* canonical column j = original row k_perm[j], with the scale and zero of its group */
    int bad = 0;
    for (int n = 0; n < N; n++)
        for (int j = 0; j < K; j++) {
            int row = q.w.k_perm[j], g = g_idx[row];
            float want = mkref_f16_to_f32(scales[g * N + n]) * (float)(codes[row][n] - zeros[g][n]);
            if (mkref_qweight_value(&d, &q.w, n, j) != want || mkref_qweight_code(&d, &q.w, n, j) != codes[row][n])
                bad++;
        }
    MKT_CHECK(bad == 0, "act-order canonical values: %d wrong", bad);
    MKT_CHECK(mkref_qweight_code(&d, &q.w, 5, 32) == codes[4][5], "canonical column 32 is original row 4");

    /* the GEMM through the imported weight equals the GEMM on the original row order */
    enum { M = 3 };
    float x[M * K], bias[N], y[M * N];
    mkt_fill_normal(&r, x, M * K, 1.0f, 1.0f);
    mkt_fill_normal(&r, bias, N, 0.1f, 1.0f);
    mkref_qgemm(&d, &q.w, x, M, bias, y);
    int bad_y = 0;
    for (int i = 0; i < M; i++)
        for (int n = 0; n < N; n++) {
            long double acc = bias[n], mag = fabsf(bias[n]);
            for (int k = 0; k < K; k++) {
                long double t = (long double)x[i * K + k] * mkref_f16_to_f32(scales[g_idx[k] * N + n]) *
                                (codes[k][n] - zeros[g_idx[k]][n]);
                acc += t;
                mag += fabsl(t);
            }
            if (fabsl(y[i * N + n] - acc) > fabsl(acc) * 0x1p-23L + mag * 0x1p-40L && bad_y++ < 3)
                MKT_CHECK(0, "act-order GEMM y[%d][%d] = %g, original order %Lg", i, n, (double)y[i * N + n], acc);
        }
    MKT_CHECK(bad_y == 0, "act-order GEMM: %d outputs off", bad_y);
    qw_free(&q);
}

/* ------------------------------------------------------------ GPTQ rejections */

static void check_gptq_rejections(void) {
    uint32_t qweight[GK / 8 * GN], qzeros[GK / GG * GN / 8] = {0, 0};
    uint16_t scales[GK / GG * GN];
    gptq_hand_blocks(qweight, scales);
    int32_t g_idx[GK];
    mk_gptq_tensors in = {(const int32_t *)qweight, (const int32_t *)qzeros, scales, g_idx, GN, GK, GG, 0};
    mk_qweight_desc d = {MK_QW4, GN, GK, GG, 1};
    canon q;
    qw_alloc(&q, &d, 1);
    char msg[256];
    int np;

    /* group 0 gets 33 rows, group 1 gets 31 */
    for (int i = 0; i < GK; i++) g_idx[i] = i < 33 ? 0 : 1;
    msg[0] = 0;
    expect_rejection("g_idx 33/31", mkref_import_gptq(&in, &d, &q.w, msg, sizeof msg), msg, "g_idx");
    MKT_CHECK(untouched(&q), "a rejected import wrote its output");
    MKT_CHECK(mkref_gptq_desc(&in, &d, &np) == MK_ERR_INVALID_ARGUMENT, "gptq_desc rejects g_idx 33/31");
    MKT_CHECK(mkref_import_gptq(&in, &d, &q.w, NULL, 0) == MK_ERR_INVALID_ARGUMENT, "msg may be NULL");

    /* a group id outside [0, groups) */
    for (int i = 0; i < GK; i++) g_idx[i] = i / GG;
    g_idx[10] = 2;
    msg[0] = 0;
    expect_rejection("g_idx out of range", mkref_import_gptq(&in, &d, &q.w, msg, sizeof msg), msg, "g_idx");
    g_idx[10] = -1;
    msg[0] = 0;
    expect_rejection("g_idx negative", mkref_import_gptq(&in, &d, &q.w, msg, sizeof msg), msg, "g_idx");

    /* a valid act-order g_idx, but no k_perm to write it to */
    for (int i = 0; i < GK; i++) g_idx[i] = (i / 8) % 2;
    int32_t *perm = q.w.k_perm;
    q.w.k_perm = NULL;
    msg[0] = 0;
    expect_rejection("no k_perm", mkref_import_gptq(&in, &d, &q.w, msg, sizeof msg), msg, "k_perm");
    q.w.k_perm = perm;

    /* a stored zero of 15 means zero 16: not a u4 zero */
    in.g_idx = NULL;
    qzeros[1] = 0x000F0000u;
    msg[0] = 0;
    expect_rejection("zero 16", mkref_import_gptq(&in, &d, &q.w, msg, sizeof msg), msg, "qzeros");
    qzeros[1] = 0;

    /* a desc that does not match the tensors */
    mk_qweight_desc wrong = d;
    wrong.asymmetric = 0;
    msg[0] = 0;
    expect_rejection("desc mismatch", mkref_import_gptq(&in, &wrong, &q.w, msg, sizeof msg), msg, "desc");
    in.group_size = 48;
    msg[0] = 0;
    expect_rejection("group 48", mkref_import_gptq(&in, &d, &q.w, msg, sizeof msg), msg, "group_size");
    in.group_size = GG;
    MKT_CHECK(untouched(&q), "rejected imports wrote their output");

    /* and the same tensors, made consistent, import */
    msg[0] = 0;
    MKT_CHECK(mkref_import_gptq(&in, &d, &q.w, msg, sizeof msg) == MK_OK, "consistent import: %s", msg);
    qw_free(&q);
}

/* ------------------------------------------------------------ AWQ */

static const int awq_order[8] = {0, 2, 4, 6, 1, 3, 5, 7};

static void check_awq(void) {
    /* by hand: N = 16, K = 64, groups of 32 */
    enum { N = 16, K = 64, G = 32 };
    uint32_t qweight[K * N / 8], qzeros[K / G * N / 8];
    uint16_t scales[K / G * N];
    for (int i = 0; i < K * N / 8; i++) qweight[i] = 0x33333333u;
    qweight[0] = 0x76543210u; /* row 0, outputs 0..7: nibble i -> output order[i] */
    qweight[1] = 0xFEDCBA98u; /* row 0, outputs 8..15 */
    qzeros[0] = 0x01234567u;  /* group 0, outputs 0..7: nibble i holds 7 - i */
    qzeros[1] = 0x00000000u;  /* group 0, outputs 8..15: zero 0 */
    qzeros[2] = qzeros[3] = 0x88888888u;
    for (int n = 0; n < N; n++) {
        scales[n] = f16(0.5f);
        scales[N + n] = f16(1.0f);
    }
    mk_awq_tensors in = {(const int32_t *)qweight, (const int32_t *)qzeros, scales, N, K, G};
    mk_qweight_desc d = {MK_QW4, N, K, G, 1};
    canon q;
    qw_alloc(&q, &d, 0);
    char msg[256] = "";
    MKT_CHECK(mkref_import_awq(&in, &d, &q.w, msg, sizeof msg) == MK_OK, "import_awq: %s", msg);
    /* output c < 8 has code inv[c] = {0,4,1,5,2,6,3,7}[c] and zero 7 - inv[c] */
    const int want_code[8] = {0, 4, 1, 5, 2, 6, 3, 7};
    const float want_w[8] = {-3.5f, 0.5f, -2.5f, 1.5f, -1.5f, 2.5f, -0.5f, 3.5f};
    for (int c = 0; c < 8; c++) {
        MKT_CHECK(mkref_qweight_code(&d, &q.w, c, 0) == want_code[c], "awq code of output %d", c);
        MKT_CHECK(mkref_qweight_value(&d, &q.w, c, 0) == want_w[c], "awq W[%d][0] = %g, want %g", c,
                  (double)mkref_qweight_value(&d, &q.w, c, 0), (double)want_w[c]);
        MKT_CHECK(mkref_qweight_value(&d, &q.w, 8 + c, 0) == 0.5f * (float)(8 + want_code[c]), "awq W[%d][0]", 8 + c);
        /* rows 1..31 code 3 with the same zero; rows 32.. code 3, zero 8, scale 1 */
        MKT_CHECK(mkref_qweight_value(&d, &q.w, c, 1) == 0.5f * (float)(3 - (7 - want_code[c])) &&
                      mkref_qweight_value(&d, &q.w, c, 40) == -5.0f,
                  "awq rows 1 and 40 of output %d", c);
    }
    qw_free(&q);

    /* random codes packed with the forward order table */
    mkref_rng r;
    mkt_rng(&r, 21);
    enum { N2 = 24, K2 = 256, G2 = 128, NG2 = K2 / G2 };
    static int codes[K2][N2];
    int zeros[NG2][N2];
    uint32_t qw2[K2 * N2 / 8], qz2[NG2 * N2 / 8];
    uint16_t sc2[NG2 * N2];
    memset(qw2, 0, sizeof qw2);
    memset(qz2, 0, sizeof qz2);
    for (int k = 0; k < K2; k++)
        for (int c = 0; c < N2 / 8; c++)
            for (int i = 0; i < 8; i++) {
                int code = (int)mkref_rng_range(&r, 0, 15);
                codes[k][8 * c + awq_order[i]] = code;
                qw2[k * (N2 / 8) + c] |= (uint32_t)code << (4 * i);
            }
    for (int g = 0; g < NG2; g++)
        for (int c = 0; c < N2 / 8; c++)
            for (int i = 0; i < 8; i++) {
                int z = (int)mkref_rng_range(&r, 0, 15);
                zeros[g][8 * c + awq_order[i]] = z;
                qz2[g * (N2 / 8) + c] |= (uint32_t)z << (4 * i);
            }
    for (int i = 0; i < NG2 * N2; i++) sc2[i] = f16((float)(0.001 * (1 + i)));
    mk_awq_tensors in2 = {(const int32_t *)qw2, (const int32_t *)qz2, sc2, N2, K2, G2};
    mk_qweight_desc d2 = {MK_QW4, N2, K2, G2, 1};
    qw_alloc(&q, &d2, 0);
    MKT_CHECK(mkref_import_awq(&in2, &d2, &q.w, msg, sizeof msg) == MK_OK, "import_awq random: %s", msg);
    int bad = 0;
    for (int n = 0; n < N2; n++)
        for (int k = 0; k < K2; k++) {
            int g = k / G2;
            float want = mkref_f16_to_f32(sc2[g * N2 + n]) * (float)(codes[k][n] - zeros[g][n]);
            if (mkref_qweight_value(&d2, &q.w, n, k) != want) bad++;
        }
    MKT_CHECK(bad == 0, "awq random: %d values wrong", bad);
    qw_free(&q);

    /* rejections */
    qw_alloc(&q, &d, 0);
    mk_awq_tensors bad_in = in;
    bad_in.n = 12;
    msg[0] = 0;
    expect_rejection("awq n 12", mkref_import_awq(&bad_in, &d, &q.w, msg, sizeof msg), msg, "n = 12");
    mk_qweight_desc sym = d;
    sym.asymmetric = 0;
    msg[0] = 0;
    expect_rejection("awq symmetric desc", mkref_import_awq(&in, &sym, &q.w, msg, sizeof msg), msg, "desc");
    MKT_CHECK(untouched(&q), "rejected awq import wrote its output");
    qw_free(&q);
}

/* ------------------------------------------------------------ GGUF */

static void put_f16(uint8_t *p, float x) {
    uint16_t h = f16(x);
    p[0] = (uint8_t)(h & 0xFF); /* little-endian */
    p[1] = (uint8_t)(h >> 8);
}

static void check_gguf(void) {
    /* Q4_0: 2 rows x 64 = 2 blocks of 18 bytes per row */
    uint8_t q4[2 * 2 * 18];
    uint8_t *b = q4;
    put_f16(b, 0.25f); /* row 0 block 0: byte j = j | (15 - j) << 4 */
    for (int j = 0; j < 16; j++) b[2 + j] = (uint8_t)(j | ((15 - j) << 4));
    b += 18;
    put_f16(b, -1.0f); /* row 0 block 1: low 15 -> -7, high 9 -> -1 */
    memset(b + 2, 0x9F, 16);
    b += 18;
    put_f16(b, 2.0f); /* row 1 block 0: low 0 -> -16, high 8 -> 0 */
    memset(b + 2, 0x80, 16);
    b += 18;
    put_f16(b, 0.5f); /* row 1 block 1: low 10 -> 1, high 5 -> -1.5 */
    memset(b + 2, 0x5A, 16);
    mk_qweight_desc d = {MK_QW4, 2, 64, 32, 0};
    canon q;
    qw_alloc(&q, &d, 0);
    char msg[256] = "";
    MKT_CHECK(mkref_import_gguf(MK_GGUF_Q4_0, q4, &d, &q.w, msg, sizeof msg) == MK_OK, "import Q4_0: %s", msg);
    float want[2][64];
    for (int j = 0; j < 16; j++) {
        want[0][j] = 0.25f * (float)(j - 8);
        want[0][16 + j] = 0.25f * (float)(7 - j);
        want[0][32 + j] = -7.0f;
        want[0][48 + j] = -1.0f;
        want[1][j] = -16.0f;
        want[1][16 + j] = 0.0f;
        want[1][32 + j] = 1.0f;
        want[1][48 + j] = -1.5f;
    }
    int bad = 0;
    for (int n = 0; n < 2; n++)
        for (int j = 0; j < 64; j++)
            if (mkref_qweight_value(&d, &q.w, n, j) != want[n][j] && bad++ < 3)
                MKT_CHECK(0, "Q4_0 W[%d][%d] = %g, want %g", n, j, (double)mkref_qweight_value(&d, &q.w, n, j),
                          (double)want[n][j]);
    MKT_CHECK(bad == 0, "Q4_0: %d values wrong", bad);
    MKT_CHECK(mkref_qweight_code(&d, &q.w, 0, 5) == 5 && mkref_qweight_code(&d, &q.w, 0, 21) == 10 &&
                  ((uint16_t *)q.w.scales)[1] == 0xBC00 && ((uint16_t *)q.w.scales)[2] == 0x4000,
              "Q4_0 codes and scales [n][block]");
    /* a GEMM through it: x = 1 everywhere gives the row sums */
    float x[64], y[2];
    for (int j = 0; j < 64; j++) x[j] = 1.0f;
    mkref_qgemm(&d, &q.w, x, 1, NULL, y);
    MKT_CHECK(y[0] == -4.0f - 128.0f && y[1] == -256.0f + 16.0f - 24.0f, "Q4_0 GEMM row sums %g %g",
              (double)y[0], (double)y[1]);
    qw_free(&q);

    /* Q8_0: 2 rows x 64, 34-byte blocks */
    uint8_t q8[2 * 2 * 34];
    b = q8;
    put_f16(b, 0.5f); /* q = i - 16 */
    for (int i = 0; i < 32; i++) b[2 + i] = (uint8_t)(int8_t)(i - 16);
    b += 34;
    put_f16(b, 1.0f); /* 127, -128 alternating */
    for (int i = 0; i < 32; i++) b[2 + i] = (uint8_t)(i % 2 ? 0x80 : 0x7F);
    b += 34;
    put_f16(b, -0.25f);
    memset(b + 2, 3, 32);
    b += 34;
    put_f16(b, 2.0f);
    memset(b + 2, 0xFF, 32); /* -1 */
    mk_qweight_desc d8 = {MK_QW8, 2, 64, 32, 0};
    qw_alloc(&q, &d8, 0);
    MKT_CHECK(mkref_import_gguf(MK_GGUF_Q8_0, q8, &d8, &q.w, msg, sizeof msg) == MK_OK, "import Q8_0: %s", msg);
    bad = 0;
    for (int i = 0; i < 32; i++) {
        bad += mkref_qweight_value(&d8, &q.w, 0, i) != 0.5f * (float)(i - 16);
        bad += mkref_qweight_value(&d8, &q.w, 0, 32 + i) != (i % 2 ? -128.0f : 127.0f);
        bad += mkref_qweight_value(&d8, &q.w, 1, i) != -0.75f;
        bad += mkref_qweight_value(&d8, &q.w, 1, 32 + i) != -2.0f;
    }
    MKT_CHECK(bad == 0, "Q8_0: %d values wrong", bad);
    MKT_CHECK(mkref_qweight_code(&d8, &q.w, 0, 33) == -128 && ((uint16_t *)q.w.scales)[3] == 0x4000,
              "Q8_0 code -128 and scales");
    qw_free(&q);

    /* rejections */
    qw_alloc(&q, &d, 0);
    msg[0] = 0;
    expect_rejection("gguf type 3", mkref_import_gguf((mk_gguf_type)3, q4, &d, &q.w, msg, sizeof msg), msg, "type");
    msg[0] = 0;
    expect_rejection("Q4_0 with a QW8 desc", mkref_import_gguf(MK_GGUF_Q4_0, q4, &d8, &q.w, msg, sizeof msg), msg,
                     "desc");
    mk_qweight_desc odd = {MK_QW4, 2, 48, 32, 0};
    msg[0] = 0;
    expect_rejection("gguf k 48", mkref_import_gguf(MK_GGUF_Q4_0, q4, &odd, &q.w, msg, sizeof msg), msg, "k = 48");
    MKT_CHECK(untouched(&q), "rejected gguf import wrote its output");
    qw_free(&q);
}

int main(int argc, char **argv) {
    mkt_init(argc, argv, "test_ref_import");
    check_gptq_by_hand(1);
    check_gptq_by_hand(0);
    check_gptq_act_order();
    check_gptq_rejections();
    check_awq();
    check_gguf();
    return mkt_finish();
}
