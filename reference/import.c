/*
 * Importers of outside weight formats into the canonical layout (medkern.h): GPTQ
 * (AutoGPTQ, 4-bit, with act-order g_idx), AWQ (AutoAWQ GEMM layout) and GGUF Q4_0/Q8_0
 * blocks. The bit layouts are described in docs (FORMATS.md). Every check runs before
 * anything is written, so a rejected import leaves the output arrays untouched.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "mkref.h"

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static mk_status fail(char *msg, size_t msg_n, const char *fmt, ...) {
    if (msg && msg_n > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, msg_n, fmt, ap);
        va_end(ap);
    }
    return MK_ERR_INVALID_ARGUMENT;
}

static int valid_group(int g) { return g == 32 || g == 64 || g == 128; }

/* Nibble i (0..7) of a packed int32 word, lowest first. */
static int nibble(int32_t word, int i) { return (int)(((uint32_t)word >> (4 * i)) & 0xFu); }

static void write_identity_perm(const mk_qweight_desc *d, mk_qweight_data *out) {
    if (out->k_perm)
        for (int64_t j = 0; j < d->k; j++) out->k_perm[j] = (int32_t)j;
}

static mk_status check_output(const mk_qweight_desc *d, const mk_qweight_data *out, char *msg,
                              size_t msg_n) {
    if (!out || !out->q || !out->scales) return fail(msg, msg_n, "out: q and scales must be allocated");
    if (d->format == MK_QW4 && d->asymmetric && !out->zeros)
        return fail(msg, msg_n, "out: zeros must be allocated for an asymmetric weight");
    return MK_OK;
}

static mk_status check_desc(const mk_qweight_desc *d, mk_qformat f, int64_t n, int64_t k, int gs,
                            int asym, char *msg, size_t msg_n) {
    if (!d) return fail(msg, msg_n, "desc is NULL");
    if (d->format != f || d->n != n || d->k != k || d->group_size != gs ||
        (f == MK_QW4 && !d->asymmetric != !asym))
        return fail(msg, msg_n,
                    "desc (format %d, n %lld, k %lld, group_size %d, asymmetric %d) does not match "
                    "the input (format %d, n %lld, k %lld, group_size %d, asymmetric %d)",
                    (int)d->format, (long long)d->n, (long long)d->k, d->group_size, d->asymmetric,
                    (int)f, (long long)n, (long long)k, gs, asym);
    return MK_OK;
}

/* ------------------------------------------------------------------ GPTQ */

/* Checks the GPTQ tensors; *needs_perm = g_idx is present and not i/group_size. */
static mk_status check_gptq(const mk_gptq_tensors *in, int *needs_perm, char *msg, size_t msg_n) {
    *needs_perm = 0;
    if (!in) return fail(msg, msg_n, "gptq tensors: NULL");
    if (!in->qweight || !in->scales) return fail(msg, msg_n, "gptq: qweight and scales are required");
    if (!in->symmetric && !in->qzeros)
        return fail(msg, msg_n, "gptq: qzeros is required for an asymmetric (symmetric = 0) weight");
    if (in->n <= 0 || in->n % 8 != 0)
        return fail(msg, msg_n, "gptq: n = %lld must be a positive multiple of 8 (qzeros packs 8 "
                    "outputs per int32)", (long long)in->n);
    if (!valid_group(in->group_size))
        return fail(msg, msg_n, "gptq: group_size %d is not supported (32, 64 or 128)", in->group_size);
    if (in->k <= 0 || in->k % in->group_size != 0)
        return fail(msg, msg_n, "gptq: k = %lld must be a positive multiple of group_size %d",
                    (long long)in->k, in->group_size);
    if (!in->g_idx) return MK_OK;

    int64_t groups = in->k / in->group_size;
    int64_t *count = calloc((size_t)groups, sizeof *count);
    if (!count) return MK_ERR_OUT_OF_MEMORY;
    mk_status st = MK_OK;
    for (int64_t i = 0; i < in->k && st == MK_OK; i++) {
        int32_t g = in->g_idx[i];
        if (g < 0 || g >= groups)
            st = fail(msg, msg_n, "g_idx[%lld] = %d is outside [0, %lld)", (long long)i, (int)g,
                      (long long)groups);
        else
            count[g]++;
        if (g != i / in->group_size) *needs_perm = 1;
    }
    for (int64_t g = 0; g < groups && st == MK_OK; g++)
        if (count[g] != in->group_size)
            st = fail(msg, msg_n, "g_idx: group %lld has %lld rows, every group must have "
                      "group_size = %d", (long long)g, (long long)count[g], in->group_size);
    free(count);
    if (st != MK_OK) *needs_perm = 0;
    return st;
}

mk_status mkref_gptq_desc(const mk_gptq_tensors *in, mk_qweight_desc *desc, int *needs_perm) {
    int perm = 0;
    mk_status st = check_gptq(in, &perm, NULL, 0);
    if (st != MK_OK) return st;
    desc->format = MK_QW4;
    desc->n = in->n;
    desc->k = in->k;
    desc->group_size = in->group_size;
    desc->asymmetric = !in->symmetric;
    if (needs_perm) *needs_perm = perm;
    return MK_OK;
}

mk_status mkref_import_gptq(const mk_gptq_tensors *in, const mk_qweight_desc *desc,
                            mk_qweight_data *out, char *msg, size_t msg_n) {
    int needs_perm = 0;
    mk_status st = check_gptq(in, &needs_perm, msg, msg_n);
    if (st != MK_OK) return st;
    st = check_desc(desc, MK_QW4, in->n, in->k, in->group_size, !in->symmetric, msg, msg_n);
    if (st == MK_OK) st = check_output(desc, out, msg, msg_n);
    if (st != MK_OK) return st;
    if (needs_perm && !out->k_perm)
        return fail(msg, msg_n, "out: k_perm must be allocated (g_idx is not i / group_size)");

    const int64_t N = in->n, K = in->k, G = K / in->group_size;
    if (!in->symmetric) {
        /* the canonical zero is u4; a stored 15 would mean zero 16, which no GPTQ
           quantizer produces */
        for (int64_t i = 0; i < G * (N / 8); i++)
            for (int b = 0; b < 8; b++)
                if (nibble(in->qzeros[i], b) == 15)
                    return fail(msg, msg_n, "qzeros[%lld][%lld]: stored zero 15 (zero 16) does not "
                                "fit a u4 zero point", (long long)(i / (N / 8)),
                                (long long)((i % (N / 8)) * 8 + b));
    }

    /* act-order: canonical column j = original row k_perm[j], rows sorted stably by group */
    if (needs_perm) {
        int64_t *next = calloc((size_t)G, sizeof *next);
        if (!next) return MK_ERR_OUT_OF_MEMORY;
        for (int64_t g = 0; g < G; g++) next[g] = g * in->group_size;
        for (int64_t r = 0; r < K; r++) out->k_perm[next[in->g_idx[r]]++] = (int32_t)r;
        free(next);
    } else {
        write_identity_perm(desc, out);
    }

    for (int64_t n = 0; n < N; n++) {
        for (int64_t j = 0; j < K; j++) {
            int64_t r = needs_perm ? out->k_perm[j] : j;
            mkref_qweight_set_code(desc, out, n, j, nibble(in->qweight[(r / 8) * N + n], (int)(r % 8)));
        }
        for (int64_t g = 0; g < G; g++) {
            ((uint16_t *)out->scales)[n * G + g] = in->scales[g * N + n];
            if (!in->symmetric)
                ((uint8_t *)out->zeros)[n * G + g] =
                    (uint8_t)(nibble(in->qzeros[g * (N / 8) + n / 8], (int)(n % 8)) + 1);
        }
    }
    return MK_OK;
}

/* ------------------------------------------------------------------ AWQ */

/* Nibble holding output column 8c + i of a packed word (inverse of [0,2,4,6,1,3,5,7]). */
static const int awq_nibble_of[8] = {0, 4, 1, 5, 2, 6, 3, 7};

mk_status mkref_import_awq(const mk_awq_tensors *in, const mk_qweight_desc *desc,
                           mk_qweight_data *out, char *msg, size_t msg_n) {
    if (!in) return fail(msg, msg_n, "awq tensors: NULL");
    if (!in->qweight || !in->qzeros || !in->scales)
        return fail(msg, msg_n, "awq: qweight, qzeros and scales are required");
    if (in->n <= 0 || in->n % 8 != 0)
        return fail(msg, msg_n, "awq: n = %lld must be a positive multiple of 8", (long long)in->n);
    if (!valid_group(in->group_size))
        return fail(msg, msg_n, "awq: group_size %d is not supported (32, 64 or 128)", in->group_size);
    if (in->k <= 0 || in->k % in->group_size != 0)
        return fail(msg, msg_n, "awq: k = %lld must be a positive multiple of group_size %d",
                    (long long)in->k, in->group_size);
    mk_status st = check_desc(desc, MK_QW4, in->n, in->k, in->group_size, 1, msg, msg_n);
    if (st == MK_OK) st = check_output(desc, out, msg, msg_n);
    if (st != MK_OK) return st;

    const int64_t N = in->n, K = in->k, G = K / in->group_size, W = N / 8;
    write_identity_perm(desc, out);
    for (int64_t n = 0; n < N; n++) {
        int slot = awq_nibble_of[n % 8];
        for (int64_t j = 0; j < K; j++)
            mkref_qweight_set_code(desc, out, n, j, nibble(in->qweight[j * W + n / 8], slot));
        for (int64_t g = 0; g < G; g++) {
            ((uint16_t *)out->scales)[n * G + g] = in->scales[g * N + n];
            ((uint8_t *)out->zeros)[n * G + g] = (uint8_t)nibble(in->qzeros[g * W + n / 8], slot);
        }
    }
    return MK_OK;
}

/* ------------------------------------------------------------------ GGUF */

mk_status mkref_import_gguf(mk_gguf_type type, const void *blocks, const mk_qweight_desc *desc,
                            mk_qweight_data *out, char *msg, size_t msg_n) {
    if (type != MK_GGUF_Q4_0 && type != MK_GGUF_Q8_0)
        return fail(msg, msg_n, "type %d is not a supported GGUF block type (Q4_0 = 2, Q8_0 = 8)",
                    (int)type);
    if (!blocks) return fail(msg, msg_n, "blocks is NULL");
    if (!desc) return fail(msg, msg_n, "desc is NULL");
    if (desc->n <= 0 || desc->k <= 0 || desc->k % 32 != 0)
        return fail(msg, msg_n, "gguf: k = %lld must be a positive multiple of 32 (n = %lld)",
                    (long long)desc->k, (long long)desc->n);
    int q4 = type == MK_GGUF_Q4_0;
    mk_status st = check_desc(desc, q4 ? MK_QW4 : MK_QW8, desc->n, desc->k, 32, 0, msg, msg_n);
    if (st == MK_OK) st = check_output(desc, out, msg, msg_n);
    if (st != MK_OK) return st;

    const int64_t N = desc->n, nb = desc->k / 32;
    const size_t block_bytes = q4 ? 18 : 34;
    const uint8_t *p = blocks;
    write_identity_perm(desc, out);
    for (int64_t n = 0; n < N; n++) {
        for (int64_t b = 0; b < nb; b++, p += block_bytes) {
            ((uint16_t *)out->scales)[n * nb + b] = (uint16_t)(p[0] | (p[1] << 8));
            for (int i = 0; i < 32; i++) {
                int code = q4 ? (p[2 + (i % 16)] >> (i < 16 ? 0 : 4)) & 0xF : (int)(int8_t)p[2 + i];
                mkref_qweight_set_code(desc, out, n, b * 32 + i, code);
            }
        }
    }
    return MK_OK;
}
